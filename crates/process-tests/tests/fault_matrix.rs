//! Fault matrix: each function's binary (through the Lambda Runtime API) against every
//! `mindful-sim` fault on each of its routes, with its default budget. One row per function
//! below (its budget, its columns, its expected outcomes); the driver (`FaultMatrix`: budget
//! rows, the per-cell budget check, the table) is shared. With
//! `FAULT_MATRIX_OUT=docs/fault-matrix.md` each row also writes its section of that file.
//! ocw-phrase has no row: it makes no upstream call.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bundle_testkit::{
    assert_no_leaks, closed_port, event, FaultCase, FaultMatrix, Want, CALLER, CLIENT_SECRET,
    DATASTORE_TOKEN,
};
use lambda_harness::FunctionProcess;
use mindful_sim::{ClientConfig, Fault, Route, Sim, SimConfig, TemplateConfig};
use process_tests::{agent_answer_env, binary, datastore_proxy_env};
use serde_json::{json, Value};

/// Slack over each budget for a loaded 2-core machine (the Lambda deadline is 8 s away).
const AGENT_ANSWER: FaultMatrix = FaultMatrix {
    function: "agent-answer",
    budget_ms: 2000,
    slack_ms: 400,
};
const DATASTORE_PROXY: FaultMatrix = FaultMatrix {
    function: "datastore-proxy",
    budget_ms: 3000,
    slack_ms: 400,
};

const TIMEOUT: Want = ("error", "timeout");
const UPSTREAM: Want = ("error", "upstream_error");

fn status(code: u16) -> Fault {
    Fault::Status { code }
}

fn latency(ms: u64) -> Fault {
    Fault::Latency { ms }
}

/// A whisper for a new contact, with a connecting call registered for it so 2xx/404 reflect
/// the fault, not the sim's state; returns the table cell.
fn whisper(f: &mut FunctionProcess, sim: &Sim, n: &mut u32, want: Want, what: &str) -> String {
    *n += 1;
    sim.register_call(CALLER);
    let e = event(
        json!({"Agent_ID": "jdoe", "Queue_ID": "arn:q"}),
        Some(CALLER),
        &format!("contact-{n}"),
    );
    AGENT_ANSWER.cell(f, e, want, what)
}

/// agent-answer: the Agent Answer route with a cached token, and the token route in a fresh
/// process.
#[test]
fn agent_answer_fault_matrix() {
    let sim = Sim::start_blocking(SimConfig {
        clients: vec![ClientConfig {
            client_id: "client".into(),
            client_secret: CLIENT_SECRET.into(),
        }],
        ..SimConfig::default()
    })
    .expect("simulator");
    let bin = binary("agent-answer");
    // Every row is a new contact; dedup would not apply anyway.
    let env = agent_answer_env(&sim).set("AGENT_ANSWER_DEDUP_SECONDS", "0");
    let spawn_with = |token_url: &str| env.clone().set("MINDFUL_TOKEN_URL", token_url).spawn(&bin);
    let mut n = 0;
    const OK: Want = ("accepted", "");
    const AUTH: Want = ("error", "auth_failed");
    const RATE: Want = ("error", "rate_limited");
    // Expected with a cached token (Agent Answer route), then on a cold token (token route).
    let mut cases =
        AGENT_ANSWER.budget_cases(600, latency, Fault::Hang, [OK, OK], [TIMEOUT, TIMEOUT]);
    cases.extend([
        FaultCase::new("401", status(401), [AUTH, AUTH]),
        FaultCase::new("401 once (refresh + retry)", status(401), [OK, AUTH]).once(),
        FaultCase::new("404", status(404), [("no_call", ""), AUTH]),
        FaultCase::new("429 (every attempt)", status(429), [RATE, RATE]),
        FaultCase::new("429 once (retried)", status(429), [OK, OK]).once(),
        FaultCase::new("500", status(500), [UPSTREAM, UPSTREAM]),
        FaultCase::new("503", status(503), [UPSTREAM, UPSTREAM]),
        FaultCase::new("malformed JSON (2xx)", Fault::MalformedJson, [OK, AUTH]),
        FaultCase::new(
            "wrong content type (200 text/html)",
            Fault::WrongContentType,
            [OK, AUTH],
        ),
        FaultCase::new("connection reset", Fault::Reset, [UPSTREAM, UPSTREAM]),
    ]);
    let mut warm = spawn_with(&sim.token_url());
    whisper(&mut warm, &sim, &mut n, OK, "warm-up");
    let mut rows = AGENT_ANSWER.rows(&cases, |column, case| {
        // Agent Answer route with the token cached in the warm process; token route in a
        // fresh process (no token yet).
        let (route, label) = [(Route::AgentAnswer, "agentAnswer"), (Route::Token, "token")][column];
        let mut cold = (column == 1).then(|| spawn_with(&sim.token_url()));
        if let Some(fault) = &case.fault {
            sim.set_fault(route, fault.clone(), case.count);
        }
        let f = cold.as_mut().unwrap_or(&mut warm);
        let what = format!("{label} {}", case.name);
        let cell = whisper(f, &sim, &mut n, case.want[column], &what);
        sim.clear_faults();
        if let Some(cold) = cold {
            assert_no_leaks(&case.name, &cold.log_text(), &[CLIENT_SECRET], &[CALLER]);
        }
        cell
    });
    let mut down = spawn_with(&format!("http://127.0.0.1:{}/oauth2/token", closed_port()));
    let down_cell = whisper(&mut down, &sim, &mut n, UPSTREAM, "token endpoint down");
    rows.push(format!(
        "| endpoint down (connection refused) | — | {down_cell} |"
    ));
    AGENT_ANSWER.publish(
        "Left: the fault on `POST /v2/callback/agentAnswer` with a cached token (steady state). \
         Right: the same fault on `POST /oauth2/token` in a fresh process (no token yet). A 401 \
         from Agent Answer refreshes the token and retries once; 429 and connection failures are \
         retried once; 5xx is not retried (Agent Answer is not idempotent). A 2xx body is not \
         read, so a malformed 2xx answer is still `accepted`.",
        &["Agent Answer route", "Token route"],
        &rows,
    );
    assert_no_leaks(
        "fault matrix logs",
        &warm.log_text(),
        &[CLIENT_SECRET],
        &[CALLER],
    );
}

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

/// datastore-proxy: POST and GET on the Datastore, and the widget status, all in one warm
/// process.
#[test]
fn datastore_proxy_fault_matrix() {
    let config = SimConfig {
        templates: vec![TemplateConfig::new(DATASTORE_TOKEN)],
        ..SimConfig::default()
    };
    let sim = Sim::start_blocking(config).expect("simulator");
    let bin = binary("datastore-proxy");
    let mut f = datastore_proxy_env(&sim)
        .set("SCHEDULER_URL", sim.base_url())
        .spawn(&bin);
    let m = &DATASTORE_PROXY;
    // Warm: a record exists for GET, and the connection is pooled.
    m.cell(&mut f, post(), ("ok", ""), "warm-up");

    const OK: Want = ("ok", "");
    const UNAUTHORIZED: Want = ("error", "unauthorized");
    const BAD: Want = ("error", "bad_response");
    // Expected on POST, then on GET, then on STATUS.
    let mut cases = m.budget_cases(
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
    let mut rows = m.rows(&cases, |column, case| {
        let (route, e) = [
            (Route::DatastorePost, post()),
            (Route::DatastoreGet, get()),
            (Route::WidgetStatus, status_check()),
        ][column]
            .clone();
        if let Some(fault) = &case.fault {
            sim.set_fault(route, fault.clone(), case.count);
        }
        let cell = m.cell(&mut f, e, case.want[column], &case.name);
        sim.clear_faults();
        cell
    });
    // Datastore down: nothing listens on the configured port.
    let down_url = format!("http://127.0.0.1:{}", closed_port());
    let mut down = datastore_proxy_env(&sim)
        .set("DATASTORE_URL", down_url.clone())
        .set("SCHEDULER_URL", down_url)
        .spawn(&bin);
    let cells = [post(), get(), status_check()].map(|e| m.cell(&mut down, e, UPSTREAM, "down"));
    rows.push(format!(
        "| Mindful down (connection refused) | {} | {} | {} |",
        cells[0], cells[1], cells[2]
    ));
    rows.push("| token endpoint down | n/a (static template token) | n/a | n/a (no token, or a static one) |".into());
    m.publish(
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
