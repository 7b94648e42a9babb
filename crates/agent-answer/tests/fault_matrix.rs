//! Fault matrix: the agent-answer binary (through the Lambda Runtime API) against every
//! `mindful-sim` fault on the Agent Answer route and on the token endpoint, with the default
//! budget (`REQUEST_BUDGET_MS` 2000). Asserts each outcome and that every answer comes inside the
//! budget (plus scheduling slack); with `FAULT_MATRIX_OUT=docs/fault-matrix.md` it also writes
//! the table.

// Test code: a failed unwrap is a failed test (the deny is for the deployed code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bundle_testkit::*;
use lambda_harness::FunctionProcess;
use mindful_sim::{Fault, Route, Sim, SimConfig};
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_agent-answer");
const MATRIX: FaultMatrix = FaultMatrix {
    function: "agent-answer",
    budget_ms: 2000,
    slack_ms: 400,
};

/// A whisper for a new contact, with a connecting call registered for it so 2xx/404 reflect
/// the fault, not the sim's state; returns the table cell.
fn run(f: &mut FunctionProcess, sim: &Sim, n: &mut u32, want: Want, what: &str) -> String {
    *n += 1;
    sim.register_call(CALLER);
    let e = event(
        json!({"Agent_ID": "jdoe", "Queue_ID": "arn:q"}),
        Some(CALLER),
        &format!("contact-{n}"),
    );
    MATRIX.cell(f, e, want, what)
}

#[test]
fn agent_answer_fault_matrix() {
    let sim = Sim::start_blocking(SimConfig {
        clients: vec![mindful_sim::ClientConfig {
            client_id: "client".into(),
            client_secret: CLIENT_SECRET.into(),
        }],
        ..SimConfig::default()
    })
    .expect("simulator");
    // Every row is a new contact; dedup would not apply anyway.
    let env = common::sim_env(&sim).set("AGENT_ANSWER_DEDUP_SECONDS", "0");
    let spawn_with = |token_url: &str| env.clone().set("MINDFUL_TOKEN_URL", token_url).spawn(BIN);
    let mut n = 0;
    const OK: Want = ("accepted", "");
    const TIMEOUT: Want = ("error", "timeout");
    const AUTH: Want = ("error", "auth_failed");
    const UPSTREAM: Want = ("error", "upstream_error");
    const RATE: Want = ("error", "rate_limited");
    let status = |code| Fault::Status { code };
    let latency = |ms| Fault::Latency { ms };
    // Expected with a cached token (Agent Answer route), then on a cold token (token route).
    let mut cases = MATRIX.budget_cases(600, latency, Fault::Hang, [OK, OK], [TIMEOUT, TIMEOUT]);
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
    run(&mut warm, &sim, &mut n, OK, "warm-up");
    let mut rows = MATRIX.rows(&cases, |column, case| {
        // Agent Answer route with the token cached in the warm process; token route in a
        // fresh process (no token yet).
        let (route, label) = [(Route::AgentAnswer, "agentAnswer"), (Route::Token, "token")][column];
        let mut cold = (column == 1).then(|| spawn_with(&sim.token_url()));
        if let Some(fault) = &case.fault {
            sim.set_fault(route, fault.clone(), case.count);
        }
        let f = cold.as_mut().unwrap_or(&mut warm);
        let cell = run(
            f,
            &sim,
            &mut n,
            case.want[column],
            &format!("{label} {}", case.name),
        );
        sim.clear_faults();
        if let Some(cold) = cold {
            assert_no_leaks(&case.name, &cold.log_text(), &[CLIENT_SECRET], &[CALLER]);
        }
        cell
    });
    let mut down = spawn_with(&format!("http://127.0.0.1:{}/oauth2/token", closed_port()));
    let down_cell = run(&mut down, &sim, &mut n, UPSTREAM, "token endpoint down");
    rows.push(format!(
        "| endpoint down (connection refused) | — | {down_cell} |"
    ));
    MATRIX.publish(
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
