//! Fault matrix: the agent-answer binary (through the Lambda Runtime API) against every
//! `mindful-sim` fault on the Agent Answer route and on the token endpoint, with the default
//! budget (`REQUEST_BUDGET_MS` 2000). Asserts each outcome and that every answer comes inside the
//! budget (plus scheduling slack); with `FAULT_MATRIX_OUT=docs/fault-matrix.md` it also writes
//! the table.

// Test code: a failed unwrap is a failed test (the deny is for the deployed code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use lambda_harness::testkit::*;
use lambda_harness::FunctionProcess;
use mindful_sim::{Fault, Route, Sim, SimConfig};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_agent-answer");
const BUDGET_MS: u64 = 2000;
const SLACK_MS: u64 = 400;

fn whisper(contact: &str) -> Value {
    event(
        json!({"Agent_ID": "jdoe", "Queue_ID": "arn:q"}),
        Some(CALLER),
        contact,
    )
}

fn run(f: &mut FunctionProcess, sim: &Sim, n: &mut u32, want: (&str, &str), what: &str) -> String {
    *n += 1;
    // A connecting call for every attempt, so 2xx/404 reflect the fault, not the sim's state.
    sim.register_call(CALLER);
    let (r, invoked) = response(f, whisper(&format!("contact-{n}")));
    assert_flat(&r);
    let got = (
        r["status"].as_str().unwrap_or(""),
        r["error"].as_str().unwrap_or(""),
    );
    assert_eq!(got, want, "{what}: {r}");
    assert!(
        invoked.own_time < Duration::from_millis(BUDGET_MS + SLACK_MS),
        "{what}: {:?}",
        invoked.own_time
    );
    cell(&r, invoked.own_time)
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
    let env = |token_url: String| {
        vec![
            ("MINDFUL_TOKEN_URL".to_string(), token_url),
            ("MINDFUL_API_URL".to_string(), sim.base_url()),
            ("MINDFUL_ALLOW_HTTP".to_string(), "1".to_string()),
            ("MINDFUL_CLIENT_ID".to_string(), "client".to_string()),
            (
                "MINDFUL_CLIENT_SECRET".to_string(),
                CLIENT_SECRET.to_string(),
            ),
            // Every row is a new contact; dedup would not apply anyway.
            ("AGENT_ANSWER_DEDUP_SECONDS".to_string(), "0".to_string()),
        ]
    };
    let spawn_with = |vars: Vec<(String, String)>| {
        let borrowed: Vec<(&str, &str)> =
            vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        spawn(BIN, &borrowed)
    };
    let mut n = 0;
    const ACCEPTED: (&str, &str) = ("accepted", "");
    let under = BUDGET_MS - 600;
    let over = BUDGET_MS + 500;
    // (fault, count, expected with a cached token (Agent Answer route), expected on a cold token (token route))
    type Want = (&'static str, &'static str);
    type Case = (String, Option<Fault>, Option<u32>, Want, Want);
    let cases: Vec<Case> = vec![
        ("none".into(), None, None, ACCEPTED, ACCEPTED),
        (
            format!("latency {under} ms (under budget)"),
            Some(Fault::Latency { ms: under }),
            None,
            ACCEPTED,
            ACCEPTED,
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
            ("error", "auth_failed"),
            ("error", "auth_failed"),
        ),
        (
            "401 once (refresh + retry)".into(),
            Some(Fault::Status { code: 401 }),
            Some(1),
            ACCEPTED,
            ("error", "auth_failed"),
        ),
        (
            "404".into(),
            Some(Fault::Status { code: 404 }),
            None,
            ("no_call", ""),
            ("error", "auth_failed"),
        ),
        (
            "429 (every attempt)".into(),
            Some(Fault::Status { code: 429 }),
            None,
            ("error", "rate_limited"),
            ("error", "rate_limited"),
        ),
        (
            "429 once (retried)".into(),
            Some(Fault::Status { code: 429 }),
            Some(1),
            ACCEPTED,
            ACCEPTED,
        ),
        (
            "500".into(),
            Some(Fault::Status { code: 500 }),
            None,
            ("error", "upstream_error"),
            ("error", "upstream_error"),
        ),
        (
            "503".into(),
            Some(Fault::Status { code: 503 }),
            None,
            ("error", "upstream_error"),
            ("error", "upstream_error"),
        ),
        (
            "malformed JSON (2xx)".into(),
            Some(Fault::MalformedJson),
            None,
            ACCEPTED,
            ("error", "auth_failed"),
        ),
        (
            "wrong content type (200 text/html)".into(),
            Some(Fault::WrongContentType),
            None,
            ACCEPTED,
            ("error", "auth_failed"),
        ),
        (
            "connection reset".into(),
            Some(Fault::Reset),
            None,
            ("error", "upstream_error"),
            ("error", "upstream_error"),
        ),
    ];
    let mut warm = spawn_with(env(sim.token_url()));
    run(&mut warm, &sim, &mut n, ACCEPTED, "warm-up");
    let mut rows = Vec::new();
    for (name, fault, count, want_answer, want_token) in cases {
        // Agent Answer route, token cached in the warm process.
        if let Some(fault) = &fault {
            sim.set_fault(Route::AgentAnswer, fault.clone(), count);
        }
        let answer_cell = run(
            &mut warm,
            &sim,
            &mut n,
            want_answer,
            &format!("agentAnswer {name}"),
        );
        sim.clear_faults();
        // Token route: a fresh process has no token yet.
        let mut cold = spawn_with(env(sim.token_url()));
        if let Some(fault) = &fault {
            sim.set_fault(Route::Token, fault.clone(), count);
        }
        let token_cell = run(
            &mut cold,
            &sim,
            &mut n,
            want_token,
            &format!("token {name}"),
        );
        sim.clear_faults();
        assert_no_leaks(&name, &cold.log_text(), &[CLIENT_SECRET], &[CALLER]);
        rows.push(format!("| {name} | {answer_cell} | {token_cell} |"));
    }
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let mut down = spawn_with(env(format!("http://127.0.0.1:{closed}/oauth2/token")));
    let down_cell = run(
        &mut down,
        &sim,
        &mut n,
        ("error", "upstream_error"),
        "token endpoint down",
    );
    rows.push(format!(
        "| endpoint down (connection refused) | — | {down_cell} |"
    ));

    let table = format!(
        "## agent-answer (`REQUEST_BUDGET_MS` {BUDGET_MS})\n\n\
         Left: the fault on `POST /v2/callback/agentAnswer` with a cached token (steady state). \
         Right: the same fault on `POST /oauth2/token` in a fresh process (no token yet). A 401 \
         from Agent Answer refreshes the token and retries once; 429 and connection failures are \
         retried once; 5xx is not retried (Agent Answer is not idempotent). A 2xx body is not \
         read, so a malformed 2xx answer is still `accepted`.\n\n\
         | Fault | Agent Answer route | Token route |\n|---|---|---|\n{}\n",
        rows.join("\n")
    );
    eprintln!("{table}");
    write_matrix_section("agent-answer", &table);
    assert_no_leaks(
        "fault matrix logs",
        &warm.log_text(),
        &[CLIENT_SECRET],
        &[CALLER],
    );
}
