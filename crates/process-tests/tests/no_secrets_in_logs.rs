//! Contract rule 5 (docs/contract.md) through the real binaries: each function calling Mindful
//! runs (as a process behind the Lambda Runtime API) through every success and error path against
//! `mindful-sim` (its faults included), and neither its captured stdout/stderr nor its responses
//! may contain a secret (configured or passed as a flow parameter), an issued bearer token
//! (`simtok_…`) or a full phone number. Logging runs at TRACE so dependencies' logs (hyper,
//! rustls, lambda_runtime) are covered too.
//!
//! Also contract rule 7: plain `http` is refused without `MINDFUL_ALLOW_HTTP` and nothing reaches
//! the server (one row per function, shared driver), and agent-answer's flow URLs cannot point
//! the configured secret at another host (127.0.0.2), which then sees no request.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bundle_testkit::{
    assert_clean, assert_no_leaks, closed_port, event, expect_answer, response, Env, Want, CALLER,
    CLIENT_SECRET, DATASTORE_TOKEN, OTHER_CALLER, PARAM_SECRET,
};
use lambda_harness::FunctionProcess;
use mindful_sim::{ClientConfig, Fault, Route, Sim, SimConfig, TemplateConfig};
use process_tests::{agent_answer_env, binary, datastore_proxy_env};
use serde_json::{json, Value};

/// A function whose output and answers are scanned.
struct Row {
    function: &'static str,
    /// A simulator whose first credential is the function's configured secret and whose second
    /// is [`PARAM_SECRET`] (passed by a flow), listening on `bind`.
    sim: fn(&str) -> Sim,
    env: fn(&Sim) -> Env,
    secrets: [&'static str; 2],
    numbers: &'static [&'static str],
    /// Calls that would reach Mindful: with the configured credentials, and with a flow's.
    needs_mindful: fn(&Sim) -> Vec<Value>,
    /// One call that succeeds against `sim` (plain http allowed).
    works: fn(&Sim, &mut FunctionProcess),
}

const AGENT_ANSWER: Row = Row {
    function: "agent-answer",
    sim: |bind| {
        sim_with(
            bind,
            SimConfig {
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
            },
        )
    },
    env: agent_answer_env,
    secrets: [CLIENT_SECRET, PARAM_SECRET],
    numbers: &[CALLER, OTHER_CALLER],
    needs_mindful: |sim| {
        sim.register_call(CALLER);
        let flow = json!({"API_URL": sim.agent_answer_url(), "Token_URL": sim.token_url(),
            "Client_ID": FLOW_CLIENT_ID, "Secret_Num": PARAM_SECRET});
        vec![whisper("c", json!({})), whisper("c", flow)]
    },
    works: |sim, f| {
        sim.register_call(CALLER);
        expect_answer(f, whisper("c-ok", json!({})), ("accepted", ""), "allowed");
    },
};

const DATASTORE_PROXY: Row = Row {
    function: "datastore-proxy",
    sim: |bind| {
        sim_with(
            bind,
            SimConfig {
                templates: vec![
                    TemplateConfig::new(DATASTORE_TOKEN),
                    TemplateConfig::new(PARAM_SECRET),
                ],
                ..SimConfig::default()
            },
        )
    },
    env: datastore_proxy_env,
    secrets: [DATASTORE_TOKEN, PARAM_SECRET],
    numbers: &[CALLER],
    needs_mindful: |_| {
        vec![
            post(None),
            get(json!({})),
            get(json!({"token": PARAM_SECRET})),
        ]
    },
    works: |sim, f| {
        let (r, _) = response(f, post(None));
        assert_eq!(r["status"], "ok", "{r}");
        assert_eq!(sim.count(Route::DatastorePost), 1);
    },
};

fn sim_with(bind: &str, config: SimConfig) -> Sim {
    let config = SimConfig {
        bind: bind.parse().expect("address"),
        ..config
    };
    Sim::start_blocking(config).expect("simulator")
}

impl Row {
    fn sim(&self) -> Sim {
        (self.sim)("127.0.0.1")
    }

    /// The function pointed at `sim` (its first credential configured), then `overrides`.
    fn spawn(&self, sim: &Sim, overrides: &[(&str, &str)]) -> FunctionProcess {
        (self.env)(sim).with(overrides).spawn(binary(self.function))
    }

    /// One log line per invocation, and neither the output nor `responses` shows a secret or
    /// a full number.
    fn check(&self, what: &str, f: &FunctionProcess, responses: &[Value], invocations: usize) {
        assert_clean(what, f, invocations, responses, &self.secrets, self.numbers);
    }

    /// Without `MINDFUL_ALLOW_HTTP` an http URL (configured or from the flow) is
    /// `invalid_config` saying https, nothing is sent; with it the same configuration works.
    fn plain_http_is_refused_without_mindful_allow_http(&self) {
        let sim = self.sim();
        // At TRACE, so dependencies' logs are scanned too.
        let refused = [
            ("AWS_LAMBDA_LOG_LEVEL", "trace"),
            ("MINDFUL_ALLOW_HTTP", ""),
        ];
        let mut f = self.spawn(&sim, &refused);
        let mut rs = Vec::new();
        for e in (self.needs_mindful)(&sim) {
            let (r, _) = response(&mut f, e);
            assert_eq!(r["status"], "error", "{r}");
            assert_eq!(r["error"], "invalid_config", "{r}");
            let msg = r["error_message"].as_str().unwrap_or_default();
            assert!(msg.contains("https"), "{msg}");
            rs.push(r);
        }
        assert_eq!(sim.count(Route::Any), 0, "{:?}", sim.requests());
        self.check("http refused", &f, &rs, rs.len());
        let mut allowed = self.spawn(&sim, &[]);
        (self.works)(&sim, &mut allowed);
    }
}

/// Each of `faults` in turn on each of `routes`: the call `event(route, i)` (fault `i`) must
/// answer the fault's outcome, as `want(route, fault, outcome)` adjusts it. Returns the answers.
fn under_faults(
    f: &mut FunctionProcess,
    sim: &Sim,
    faults: &[(Fault, Want)],
    routes: &[Route],
    event: impl Fn(Route, usize) -> Value,
    want: impl Fn(Route, &Fault, Want) -> Want,
) -> Vec<Value> {
    let mut answers = Vec::new();
    for (i, (fault, outcome)) in faults.iter().enumerate() {
        for &route in routes {
            sim.set_fault(route, fault.clone(), None);
            let want = want(route, fault, *outcome);
            answers.push(expect_answer(f, event(route, i), want, "answer").0);
            sim.clear_faults();
        }
    }
    answers
}

#[test]
fn agent_answer_plain_http_is_refused_without_mindful_allow_http() {
    AGENT_ANSWER.plain_http_is_refused_without_mindful_allow_http();
}

#[test]
fn datastore_proxy_plain_http_is_refused_without_mindful_allow_http() {
    DATASTORE_PROXY.plain_http_is_refused_without_mindful_allow_http();
}

// agent-answer's paths: its token endpoint, Agent Answer faults, flow credentials, allow-list.

const CLIENT_ID: &str = "bundle-client";
const FLOW_CLIENT_ID: &str = "flow-client";

/// agent-answer at TRACE with an 800 ms budget, then `overrides`.
fn configured(sim: &Sim, overrides: &[(&str, &str)]) -> FunctionProcess {
    let trace = [
        ("AWS_LAMBDA_LOG_LEVEL", "trace"),
        ("REQUEST_BUDGET_MS", "800"),
    ];
    let all: Vec<(&str, &str)> = trace.iter().chain(overrides).copied().collect();
    AGENT_ANSWER.spawn(sim, &all)
}

fn whisper(contact: &str, params: Value) -> Value {
    event(params, Some(CALLER), contact)
}

/// Invokes, checks the response shape and outcome, and returns it.
fn expect(f: &mut FunctionProcess, e: Value, want: Want) -> Value {
    expect_answer(f, e, want, "answer").0
}

fn check(what: &str, f: &FunctionProcess, responses: &[Value], invocations: usize) {
    AGENT_ANSWER.check(what, f, responses, invocations);
}

#[test]
fn agent_answer_no_secret_token_or_number_in_logs_or_responses_on_any_path() {
    let sim = AGENT_ANSWER.sim();
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
    let faults: [(Fault, Want); 9] = [
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
    rs.extend(under_faults(
        &mut f,
        &sim,
        &faults,
        &[Route::AgentAnswer],
        |_, i| whisper(&format!("f-{i}"), json!({})),
        |_, _, want| want,
    ));
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
fn agent_answer_flow_urls_cannot_send_the_configured_secret_to_another_host() {
    let sim = AGENT_ANSWER.sim();
    // A "foreign" server on 127.0.0.2 (loopback, but not the configured host).
    let foreign = (AGENT_ANSWER.sim)("127.0.0.2");
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
    let other_port = AGENT_ANSWER.sim();
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

// datastore-proxy's paths: POST and GET in every number spelling, the token parameter, input
// errors, Datastore faults on both routes, an invalid configuration.

fn post(number: Option<&str>) -> Value {
    let mut params = json!({"method": "POST", "AccountNo": "12345", "Reason": "billing"});
    if let Some(n) = number {
        params["customer_contact_number"] = json!(n);
    }
    event(params, Some(CALLER), "contact-post")
}

fn get(extra: Value) -> Value {
    let mut params = json!({"method": "get"});
    for (k, v) in extra.as_object().into_iter().flatten() {
        params[k] = v.clone();
    }
    event(params, Some(CALLER), "contact-get")
}

#[test]
fn datastore_proxy_no_secret_or_number_in_logs_or_responses_on_any_path() {
    let sim = DATASTORE_PROXY.sim();
    let mut f = DATASTORE_PROXY.spawn(
        &sim,
        &[
            ("AWS_LAMBDA_LOG_LEVEL", "trace"),
            ("REQUEST_BUDGET_MS", "800"),
        ],
    );
    let mut responses = Vec::new();
    let mut run = |f: &mut FunctionProcess, e: Value, want: (&str, &str)| {
        responses.push(expect_answer(f, e, want, "answer").0);
    };

    // Success paths: POST, GET found (configured token and token parameter), GET not found.
    run(&mut f, post(None), ("ok", ""));
    run(&mut f, get(json!({})), ("ok", ""));
    run(
        &mut f,
        post(Some("(44) 7946 095813")),
        ("error", "invalid_number"),
    );
    run(&mut f, post(Some("+44 7946 095813")), ("ok", ""));
    run(
        &mut f,
        get(json!({"token": PARAM_SECRET})),
        ("not_found", ""),
    );
    run(
        &mut f,
        get(json!({"customer_contact_number": OTHER_CALLER})),
        ("ok", ""),
    );

    // Input errors.
    run(
        &mut f,
        event(json!({"AccountNo": "1"}), Some(CALLER), "c"),
        ("error", "missing_parameter"),
    );
    run(
        &mut f,
        event(json!({"method": "PUT"}), Some(CALLER), "c"),
        ("error", "invalid_method"),
    );
    run(
        &mut f,
        event(json!({"method": "GET"}), None, "c"),
        ("error", "missing_parameter"),
    );
    run(
        &mut f,
        event(json!({"method": "GET"}), Some("anonymous"), "c"),
        ("error", "invalid_number"),
    );
    // A wrong token parameter: the Datastore answers 401.
    run(
        &mut f,
        get(json!({"token": format!("{PARAM_SECRET}-wrong")})),
        ("error", "unauthorized"),
    );

    // Upstream faults on both routes.
    let faults: [(Fault, Want); 9] = [
        (Fault::Status { code: 401 }, ("error", "unauthorized")),
        (Fault::Status { code: 404 }, ("error", "invalid_number")),
        (Fault::Status { code: 429 }, ("error", "upstream_error")),
        (Fault::Status { code: 500 }, ("error", "upstream_error")),
        (Fault::Hang, ("error", "timeout")),
        (Fault::Reset, ("error", "upstream_error")),
        (Fault::MalformedJson, ("error", "bad_response")),
        (Fault::WrongContentType, ("error", "bad_response")),
        (Fault::Latency { ms: 1500 }, ("error", "timeout")),
    ];
    responses.extend(under_faults(
        &mut f,
        &sim,
        &faults,
        &[Route::DatastorePost, Route::DatastoreGet],
        |route, _| {
            if route == Route::DatastorePost {
                post(None)
            } else {
                get(json!({}))
            }
        },
        // A 404 on GET is "no record", not an error.
        |route, fault, want| {
            if route == Route::DatastoreGet && *fault == (Fault::Status { code: 404 }) {
                ("not_found", "")
            } else {
                want
            }
        },
    ));

    // One log line per invocation (output arrives a little after the response), all clean.
    let secrets = [DATASTORE_TOKEN, PARAM_SECRET];
    let numbers = [CALLER, OTHER_CALLER];
    assert_clean("logs", &f, responses.len(), &[], &secrets, &numbers);
    // Masked numbers are logged instead.
    assert!(f.log_text().contains("***1234"), "{}", f.log_text());
    for r in &responses {
        assert_no_leaks("response", &r.to_string(), &secrets, &[]);
        if let Some(m) = r["error_message"].as_str() {
            assert_no_leaks("error_message", m, &secrets, &numbers);
        }
    }
    // The simulator's own log masks credentials too (it is printed by the demo).
    let sim_log = serde_json::to_string(
        &sim.requests()
            .iter()
            .map(|r| format!("{:?}", r.headers))
            .collect::<Vec<_>>(),
    )
    .unwrap_or_default();
    assert_no_leaks("sim request log", &sim_log, &secrets, &[]);
    f.shutdown().expect("shutdown");
}

#[test]
fn datastore_proxy_an_invalid_configuration_does_not_print_the_token() {
    let sim = DATASTORE_PROXY.sim();
    // An out-of-range budget: every invocation answers invalid_config.
    let mut f = DATASTORE_PROXY.spawn(
        &sim,
        &[
            ("REQUEST_BUDGET_MS", "999999"),
            ("AWS_LAMBDA_LOG_LEVEL", "trace"),
        ],
    );
    let mut all = Vec::new();
    for e in [
        post(None),
        get(json!({})),
        get(json!({"token": PARAM_SECRET})),
    ] {
        let (r, _) = response(&mut f, e);
        assert_eq!(r["error"], "invalid_config", "{r}");
        all.push(r);
    }
    let secrets = [DATASTORE_TOKEN, PARAM_SECRET];
    assert_clean("invalid configuration", &f, 3, &all, &secrets, &[CALLER]);
    assert_eq!(sim.count(Route::Any), 0);
}
