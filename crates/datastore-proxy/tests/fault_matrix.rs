//! Fault matrix: the datastore-proxy binary (through the Lambda Runtime API) against every
//! `mindful-sim` fault, with the default budget (`REQUEST_BUDGET_MS` 3000). Asserts each
//! outcome and that every answer comes inside the budget (plus scheduling slack); with
//! `FAULT_MATRIX_OUT=docs/fault-matrix.md` it also writes the table.

// Test code: a failed unwrap is a failed test (the deny is for the deployed code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bundle_testkit::*;
use mindful_sim::{Fault, Route, Sim, SimConfig, TemplateConfig};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_datastore-proxy");
/// Slack over the budget for a loaded 2-core machine (the Lambda deadline is 8 s away).
const MATRIX: FaultMatrix = FaultMatrix {
    function: "datastore-proxy",
    budget_ms: 3000,
    slack_ms: 400,
};

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

/// The Scheduler widget status (`method=STATUS`) the offer flows ask before an offer.
fn status_check() -> Value {
    event(
        json!({"method": "STATUS", "widget_id": mindful_sim::DEFAULT_WIDGET_ID}),
        Some(CALLER),
        "c",
    )
}

#[test]
fn datastore_proxy_fault_matrix() {
    let config = SimConfig {
        templates: vec![TemplateConfig::new(DATASTORE_TOKEN)],
        ..SimConfig::default()
    };
    let sim = Sim::start_blocking(config).expect("simulator");
    let mut f = common::sim_env(&sim)
        .set("SCHEDULER_URL", sim.base_url())
        .spawn(BIN);
    // Warm: a record exists for GET, and the connection is pooled.
    MATRIX.cell(&mut f, post(), ("ok", ""), "warm-up");

    const OK: Want = ("ok", "");
    const TIMEOUT: Want = ("error", "timeout");
    const UNAUTHORIZED: Want = ("error", "unauthorized");
    const UPSTREAM: Want = ("error", "upstream_error");
    const BAD: Want = ("error", "bad_response");
    let status = |code| Fault::Status { code };
    let latency = |ms| Fault::Latency { ms };
    // Expected on POST, then on GET, then on STATUS.
    let mut cases = MATRIX.budget_cases(
        700,
        latency,
        Fault::Hang,
        [OK, OK, OK],
        [TIMEOUT, TIMEOUT, TIMEOUT],
    );
    cases.extend([
        FaultCase::new("401", status(401), [UNAUTHORIZED; 3]),
        FaultCase::new(
            "404",
            status(404),
            [
                ("error", "invalid_number"),
                ("not_found", ""),
                ("error", "invalid_widget"),
            ],
        ),
        FaultCase::new("429 (every attempt)", status(429), [UPSTREAM; 3]),
        FaultCase::new("500 (every attempt)", status(500), [UPSTREAM; 3]),
        FaultCase::new("503 (every attempt)", status(503), [UPSTREAM; 3]),
        FaultCase::new("503 once (retried)", status(503), [OK; 3]).once(),
        FaultCase::new("malformed JSON (200)", Fault::MalformedJson, [BAD; 3]),
        FaultCase::new(
            "wrong content type (200 text/html)",
            Fault::WrongContentType,
            [BAD; 3],
        ),
        FaultCase::new("connection reset", Fault::Reset, [UPSTREAM; 3]),
    ]);
    let mut rows = MATRIX.rows(&cases, |column, case| {
        let (route, e) = [
            (Route::DatastorePost, post()),
            (Route::DatastoreGet, get()),
            (Route::WidgetStatus, status_check()),
        ][column]
            .clone();
        if let Some(fault) = &case.fault {
            sim.set_fault(route, fault.clone(), case.count);
        }
        let cell = MATRIX.cell(&mut f, e, case.want[column], &case.name);
        sim.clear_faults();
        cell
    });
    // Datastore down: nothing listens on the configured port.
    let down_url = format!("http://127.0.0.1:{}", closed_port());
    let mut down = common::sim_env(&sim)
        .set("DATASTORE_URL", down_url.clone())
        .set("SCHEDULER_URL", down_url)
        .spawn(BIN);
    let cells = [
        MATRIX.cell(&mut down, post(), UPSTREAM, "down"),
        MATRIX.cell(&mut down, get(), UPSTREAM, "down"),
        MATRIX.cell(&mut down, status_check(), UPSTREAM, "down"),
    ];
    rows.push(format!(
        "| Mindful down (connection refused) | {} | {} | {} |",
        cells[0], cells[1], cells[2]
    ));
    rows.push("| token endpoint down | n/a (static template token) | n/a | n/a (no token, or a static one) |".into());
    MATRIX.publish(
        "Faults apply to every request on the route unless marked once; idempotent calls are \
         retried once on connect error, 5xx and 429. STATUS is the Scheduler widget status \
         (`GET /api/widget/{id}`) the offer flows ask with `CheckMindfulStatus=true`; every \
         error there means no offer (the caller queues).",
        &["POST", "GET", "STATUS"],
        &rows,
    );
    // Logs stay clean on every path (rule 5).
    assert_no_leaks(
        "fault matrix logs",
        &f.log_text(),
        &[DATASTORE_TOKEN],
        &[CALLER],
    );
}
