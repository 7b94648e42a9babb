//! Fault matrix: the datastore-proxy binary (through the Lambda Runtime API) against every
//! `mindful-sim` fault, with the default budget (`REQUEST_BUDGET_MS` 3000). Asserts each
//! outcome and that every answer comes inside the budget (plus scheduling slack); with
//! `FAULT_MATRIX_OUT=docs/fault-matrix.md` it also writes the table.

// Test code: a failed unwrap is a failed test (the deny is for the deployed code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use lambda_harness::testkit::*;
use lambda_harness::FunctionProcess;
use mindful_sim::{Fault, Route, Sim, SimConfig, TemplateConfig};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_datastore-proxy");
const BUDGET_MS: u64 = 3000;
/// Slack over the budget for a loaded 2-core machine (the Lambda deadline is 8 s away).
const SLACK_MS: u64 = 400;

fn post() -> Value {
    event(
        json!({"method": "POST", "AccountNo": "12345"}),
        Some(CALLER),
        "c",
    )
}

fn get() -> Value {
    event(json!({"method": "GET"}), Some(CALLER), "c")
}

/// Invokes and checks `(status, error)`; returns the table cell.
fn run(f: &mut FunctionProcess, e: Value, want: (&str, &str), what: &str) -> String {
    let (r, invoked) = response(f, e);
    assert_flat(&r);
    assert_eq!(
        (
            r["status"].as_str().unwrap_or(""),
            r["error"].as_str().unwrap_or("")
        ),
        want,
        "{what}: {r}"
    );
    assert!(
        invoked.own_time < Duration::from_millis(BUDGET_MS + SLACK_MS),
        "{what}: {:?}",
        invoked.own_time
    );
    cell(&r, invoked.own_time)
}

#[test]
fn datastore_proxy_fault_matrix() {
    let config = SimConfig {
        templates: vec![TemplateConfig::new(DATASTORE_TOKEN)],
        ..SimConfig::default()
    };
    let sim = Sim::start_blocking(config).expect("simulator");
    let base = sim.base_url();
    let env = [
        ("DATASTORE_URL", base.as_str()),
        ("MINDFUL_ALLOW_HTTP", "1"),
        ("DATASTORE_TOKEN", DATASTORE_TOKEN),
    ];
    let mut f = spawn(BIN, &env);
    // Warm: a record exists for GET, and the connection is pooled.
    run(&mut f, post(), ("ok", ""), "warm-up");

    type Want = (&'static str, &'static str);
    const OK: Want = ("ok", "");
    let under = BUDGET_MS - 700;
    let over = BUDGET_MS + 500;
    type Case = (String, Option<Fault>, Option<u32>, Want, Want);
    let cases: Vec<Case> = vec![
        ("none".into(), None, None, OK, OK),
        (
            format!("latency {under} ms (under budget)"),
            Some(Fault::Latency { ms: under }),
            None,
            OK,
            OK,
        ),
        (
            format!("latency {over} ms (over budget)"),
            Some(Fault::Latency { ms: over }),
            None,
            ("error", "timeout"),
            ("error", "timeout"),
        ),
        (
            "hang".into(),
            Some(Fault::Hang),
            None,
            ("error", "timeout"),
            ("error", "timeout"),
        ),
        (
            "401".into(),
            Some(Fault::Status { code: 401 }),
            None,
            ("error", "unauthorized"),
            ("error", "unauthorized"),
        ),
        (
            "404".into(),
            Some(Fault::Status { code: 404 }),
            None,
            ("error", "invalid_number"),
            ("not_found", ""),
        ),
        (
            "429 (every attempt)".into(),
            Some(Fault::Status { code: 429 }),
            None,
            ("error", "upstream_error"),
            ("error", "upstream_error"),
        ),
        (
            "500 (every attempt)".into(),
            Some(Fault::Status { code: 500 }),
            None,
            ("error", "upstream_error"),
            ("error", "upstream_error"),
        ),
        (
            "503 (every attempt)".into(),
            Some(Fault::Status { code: 503 }),
            None,
            ("error", "upstream_error"),
            ("error", "upstream_error"),
        ),
        (
            "503 once (retried)".into(),
            Some(Fault::Status { code: 503 }),
            Some(1),
            OK,
            OK,
        ),
        (
            "malformed JSON (200)".into(),
            Some(Fault::MalformedJson),
            None,
            ("error", "bad_response"),
            ("error", "bad_response"),
        ),
        (
            "wrong content type (200 text/html)".into(),
            Some(Fault::WrongContentType),
            None,
            ("error", "bad_response"),
            ("error", "bad_response"),
        ),
        (
            "connection reset".into(),
            Some(Fault::Reset),
            None,
            ("error", "upstream_error"),
            ("error", "upstream_error"),
        ),
    ];
    let mut rows = Vec::new();
    for (name, fault, count, want_post, want_get) in cases {
        let mut cells = Vec::new();
        for (route, e, want) in [
            (Route::DatastorePost, post(), want_post),
            (Route::DatastoreGet, get(), want_get),
        ] {
            if let Some(fault) = &fault {
                sim.set_fault(route, fault.clone(), count);
            }
            cells.push(run(&mut f, e, want, &name));
            sim.clear_faults();
        }
        rows.push(format!("| {name} | {} | {} |", cells[0], cells[1]));
    }
    // Datastore down: nothing listens on the configured port.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let down_url = format!("http://127.0.0.1:{closed}");
    let mut down = spawn(
        BIN,
        &[
            ("DATASTORE_URL", down_url.as_str()),
            ("MINDFUL_ALLOW_HTTP", "1"),
            ("DATASTORE_TOKEN", DATASTORE_TOKEN),
        ],
    );
    let want = ("error", "upstream_error");
    let cells = [
        run(&mut down, post(), want, "down"),
        run(&mut down, get(), want, "down"),
    ];
    rows.push(format!(
        "| Datastore down (connection refused) | {} | {} |",
        cells[0], cells[1]
    ));
    rows.push("| token endpoint down | n/a (static template token) | n/a |".into());

    let table = format!(
        "## datastore-proxy (`REQUEST_BUDGET_MS` {BUDGET_MS})\n\n\
         Faults apply to every request on the route unless marked once; idempotent calls are \
         retried once on connect error, 5xx and 429.\n\n\
         | Fault | POST | GET |\n|---|---|---|\n{}\n",
        rows.join("\n")
    );
    eprintln!("{table}");
    write_matrix_section("datastore-proxy", &table);
    // Logs stay clean on every path (rule 5).
    assert_no_leaks(
        "fault matrix logs",
        &f.log_text(),
        &[DATASTORE_TOKEN],
        &[CALLER],
    );
}
