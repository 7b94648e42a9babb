//! Contract rule 5 (docs/contract.md) through the real binary: run agent-answer (as a process behind the Lambda Runtime
//! API, `lambda-harness`) through every success and error path against `mindful-sim` (token
//! endpoint and Agent Answer faults included), and assert that neither its captured
//! stdout/stderr nor its responses contain the client secret (configured or passed as
//! `Secret_Num`), an issued bearer token (`simtok_…`) or a full phone number. Logging runs at
//! TRACE so dependencies' logs (hyper, rustls, lambda_runtime) are covered too.
//!
//! Also contract rule 7: a flow URL pointing the configured secret at another host (127.0.0.2) is
//! refused and that host sees no request; plain `http` is refused without `MINDFUL_ALLOW_HTTP`.

// Test code: a failed unwrap is a failed test (the deny is for the deployed code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bundle_testkit::*;
use lambda_harness::FunctionProcess;
use mindful_sim::{ClientConfig, Fault, Route, Sim, SimConfig};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_agent-answer");
const CLIENT_ID: &str = "bundle-client";
const FLOW_CLIENT_ID: &str = "flow-client";

fn sim_on(bind: &str) -> Sim {
    let config = SimConfig {
        bind: bind.parse().expect("address"),
        clients: vec![
            ClientConfig {
                client_id: CLIENT_ID.into(),
                client_secret: CLIENT_SECRET.into(),
            },
            ClientConfig {
                client_id: FLOW_CLIENT_ID.into(),
                client_secret: PARAM_SECRET.into(),
            },
        ],
        ..SimConfig::default()
    };
    Sim::start_blocking(config).expect("simulator")
}

fn configured(sim: &Sim, overrides: &[(&str, &str)]) -> FunctionProcess {
    // The simulator's first client is CLIENT_ID / CLIENT_SECRET.
    common::sim_env(sim)
        .with(&[
            ("AWS_LAMBDA_LOG_LEVEL", "trace"),
            ("REQUEST_BUDGET_MS", "800"),
        ])
        .with(overrides)
        .spawn(BIN)
}

fn whisper(contact: &str, params: Value) -> Value {
    event(params, Some(CALLER), contact)
}

/// Invokes, checks the response shape and outcome, and returns it.
fn expect(f: &mut FunctionProcess, e: Value, want: (&str, &str)) -> Value {
    expect_answer(f, e, want, "answer").0
}

fn check(what: &str, f: &FunctionProcess, responses: &[Value], invocations: usize) {
    let secrets = [CLIENT_SECRET, PARAM_SECRET];
    assert_clean(
        what,
        f,
        invocations,
        responses,
        &secrets,
        &[CALLER, OTHER_CALLER],
    );
}

#[test]
fn no_secret_token_or_number_in_logs_or_responses_on_any_path() {
    let sim = sim_on("127.0.0.1");
    let mut f = configured(&sim, &[]);
    let mut rs = Vec::new();

    // Success paths: accepted, deduplicated retry, no_call, Temp_Tel, flow credentials.
    sim.register_call(CALLER);
    rs.push(expect(
        &mut f,
        whisper("c-1", json!({"Agent_ID": "a1", "Queue_ID": "q1"})),
        ("accepted", ""),
    ));
    rs.push(expect(&mut f, whisper("c-1", json!({})), ("accepted", "")));
    rs.push(expect(&mut f, whisper("c-2", json!({})), ("no_call", "")));
    sim.register_call(OTHER_CALLER);
    rs.push(expect(
        &mut f,
        whisper("c-3", json!({"Temp_Tel": OTHER_CALLER})),
        ("accepted", ""),
    ));
    let flow_creds = json!({"Client_ID": FLOW_CLIENT_ID, "Secret_Num": PARAM_SECRET,
        "Token_URL": sim.token_url(), "API_URL": sim.agent_answer_url()});
    rs.push(expect(
        &mut f,
        whisper("c-4", flow_creds.clone()),
        ("no_call", ""),
    ));
    let mut wrong = flow_creds.clone();
    wrong["Secret_Num"] = json!(format!("{PARAM_SECRET}-wrong"));
    rs.push(expect(
        &mut f,
        whisper("c-5", wrong),
        ("error", "auth_failed"),
    ));

    // Input errors: anonymous, no number at all, a number that cannot be E.164.
    rs.push(expect(
        &mut f,
        event(json!({}), Some("anonymous"), "c-6"),
        ("error", "invalid_number"),
    ));
    rs.push(expect(
        &mut f,
        event(json!({}), None, "c-7"),
        ("error", "invalid_number"),
    ));
    rs.push(expect(
        &mut f,
        whisper("c-8", json!({"Temp_Tel": "+1 320 907 12345 6789"})),
        ("error", "invalid_number"),
    ));

    // Agent Answer faults (the token is cached by now).
    let faults: [(Fault, (&str, &str)); 9] = [
        (Fault::Status { code: 401 }, ("error", "auth_failed")),
        (Fault::Status { code: 404 }, ("no_call", "")),
        (Fault::Status { code: 429 }, ("error", "rate_limited")),
        (Fault::Status { code: 500 }, ("error", "upstream_error")),
        (Fault::Status { code: 503 }, ("error", "upstream_error")),
        (Fault::Hang, ("error", "timeout")),
        (Fault::Reset, ("error", "upstream_error")),
        (Fault::MalformedJson, ("accepted", "")),
        (Fault::Latency { ms: 1500 }, ("error", "timeout")),
    ];
    for (i, (fault, want)) in faults.into_iter().enumerate() {
        sim.set_fault(Route::AgentAnswer, fault, None);
        rs.push(expect(&mut f, whisper(&format!("f-{i}"), json!({})), want));
        sim.clear_faults();
    }
    // A 401 once: the token is refreshed (a new one is issued) and the answer retried.
    sim.set_fault(Route::AgentAnswer, Fault::Status { code: 401 }, Some(1));
    rs.push(expect(
        &mut f,
        whisper("f-401-once", json!({})),
        ("no_call", ""),
    ));
    let n = rs.len();
    check("agent answer paths", &f, &rs, n);
    assert!(f.log_text().contains("***1234"), "{}", f.log_text());

    // Token endpoint faults: a fresh process each, so the token is not cached.
    let token_faults: [(Fault, &str); 7] = [
        (Fault::Status { code: 401 }, "auth_failed"),
        (Fault::Status { code: 429 }, "rate_limited"),
        (Fault::Status { code: 500 }, "upstream_error"),
        (Fault::Hang, "timeout"),
        (Fault::Reset, "upstream_error"),
        (Fault::MalformedJson, "auth_failed"),
        (Fault::WrongContentType, "auth_failed"),
    ];
    for (fault, code) in token_faults {
        let mut g = configured(&sim, &[]);
        sim.set_fault(Route::Token, fault, None);
        let r = expect(&mut g, whisper("t", json!({})), ("error", code));
        sim.clear_faults();
        check("token fault", &g, &[r], 1);
    }
    // Wrong configured secret, and a token endpoint that is down.
    let mut g = configured(
        &sim,
        &[("MINDFUL_CLIENT_SECRET", &format!("{CLIENT_SECRET}-old"))],
    );
    let r = expect(&mut g, whisper("t", json!({})), ("error", "auth_failed"));
    check("wrong secret", &g, &[r], 1);
    assert!(!g.log_text().contains("-old"));
    let closed = format!("http://127.0.0.1:{}/oauth2/token", closed_port());
    let mut g = configured(&sim, &[("MINDFUL_TOKEN_URL", &closed)]);
    let r = expect(&mut g, whisper("t", json!({})), ("error", "upstream_error"));
    check("token endpoint down", &g, &[r], 1);
}

#[test]
fn flow_urls_cannot_send_the_configured_secret_to_another_host() {
    let sim = sim_on("127.0.0.1");
    // A "foreign" server on 127.0.0.2 (loopback, but not the configured host).
    let foreign = sim_on("127.0.0.2");
    let port = foreign.addr().port();
    let foreign_token = format!("http://127.0.0.2:{port}/oauth2/token");
    let foreign_api = format!("http://127.0.0.2:{port}/v2/callback/agentAnswer");
    let mut f = configured(&sim, &[]);
    let mut rs = Vec::new();
    for params in [
        json!({"Token_URL": foreign_token}),
        json!({"API_URL": foreign_api}),
        json!({"Token_URL": foreign_token, "API_URL": foreign_api}),
        json!({"Token_URL": foreign_token, "Client_ID": CLIENT_ID}),
    ] {
        let r = expect(&mut f, whisper("c", params), ("error", "invalid_config"));
        let msg = r["error_message"].as_str().unwrap_or_default();
        assert!(msg.contains("MINDFUL_ALLOWED_HOSTS"), "{msg}");
        assert!(msg.contains("127.0.0.2"), "{msg}");
        rs.push(r);
    }
    // Regression: another port of the configured host is another service; it received the
    // secret when only the host was compared.
    let other_port = sim_on("127.0.0.1");
    let other_token = format!("http://127.0.0.1:{}/oauth2/token", other_port.addr().port());
    let r = expect(
        &mut f,
        whisper("c-port", json!({"Token_URL": other_token})),
        ("error", "invalid_config"),
    );
    rs.push(r);
    assert_eq!(
        other_port.count(Route::Any),
        0,
        "{:?}",
        other_port.requests()
    );
    assert_eq!(foreign.count(Route::Any), 0, "{:?}", foreign.requests());
    assert_eq!(sim.count(Route::Any), 0, "{:?}", sim.requests());

    // The foreign host is reachable: with the flow's own secret it is used (no configured
    // secret is at stake), which shows the refusal above is the allow-list, not the network.
    let own = json!({"Token_URL": foreign_token, "API_URL": foreign_api,
        "Client_ID": FLOW_CLIENT_ID, "Secret_Num": PARAM_SECRET});
    rs.push(expect(&mut f, whisper("c-own", own), ("no_call", "")));
    assert_eq!(foreign.count(Route::Token), 1);
    assert_eq!(foreign.count(Route::AgentAnswer), 1);
    // MINDFUL_ALLOWED_HOSTS can name it explicitly.
    // A host without a port allows 443 only (regression: the port was not checked).
    let mut host_only = configured(&sim, &[("MINDFUL_ALLOWED_HOSTS", "127.0.0.1, 127.0.0.2")]);
    let r = expect(
        &mut host_only,
        whisper("c-host-only", json!({"Token_URL": foreign_token})),
        ("error", "invalid_config"),
    );
    assert!(
        r["error_message"]
            .as_str()
            .unwrap_or_default()
            .contains(&format!("127.0.0.2:{port}")),
        "{r}"
    );
    assert_eq!(foreign.count(Route::Token), 1);
    let hosts = format!("127.0.0.1, 127.0.0.2:{port}");
    let mut allowed = configured(&sim, &[("MINDFUL_ALLOWED_HOSTS", hosts.as_str())]);
    rs.push(expect(
        &mut allowed,
        whisper(
            "c-allowed",
            json!({"Token_URL": foreign_token, "API_URL": foreign_api}),
        ),
        ("no_call", ""),
    ));
    assert_eq!(foreign.count(Route::AgentAnswer), 2);
    check("allow-list", &f, &rs, 6);
}

#[test]
fn plain_http_is_refused_without_mindful_allow_http() {
    let sim = sim_on("127.0.0.1");
    let mut f = configured(&sim, &[("MINDFUL_ALLOW_HTTP", "")]);
    let mut rs = Vec::new();
    for params in [
        json!({}),
        json!({"API_URL": sim.agent_answer_url(), "Token_URL": sim.token_url(),
        "Client_ID": FLOW_CLIENT_ID, "Secret_Num": PARAM_SECRET}),
    ] {
        sim.register_call(CALLER);
        let r = expect(&mut f, whisper("c", params), ("error", "invalid_config"));
        let msg = r["error_message"].as_str().unwrap_or_default();
        assert!(msg.contains("https"), "{msg}");
        rs.push(r);
    }
    assert_eq!(sim.count(Route::Any), 0, "{:?}", sim.requests());
    check("http refused", &f, &rs, 2);
}
