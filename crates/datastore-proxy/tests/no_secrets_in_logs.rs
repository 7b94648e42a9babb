//! Contract rule 5 (docs/contract.md) through the real binary: run datastore-proxy (as a process behind the Lambda
//! Runtime API, `lambda-harness`) through every success and error path against `mindful-sim`,
//! and assert that neither its captured stdout/stderr nor its responses contain the Datastore
//! token (configured or passed as a parameter), an issued bearer token or a full phone number.
//! Logging runs at TRACE so dependencies' logs (hyper, rustls) are covered too.
//!
//! Also contract rule 7: a plain `http` Datastore URL is refused without `MINDFUL_ALLOW_HTTP`, and
//! nothing reaches the server.

// Test code: a failed unwrap is a failed test (the deny is for the deployed code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bundle_testkit::*;
use lambda_harness::FunctionProcess;
use mindful_sim::{Fault, Route, Sim, SimConfig, TemplateConfig};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_datastore-proxy");

fn sim() -> Sim {
    let config = SimConfig {
        templates: vec![
            TemplateConfig::new(DATASTORE_TOKEN),
            TemplateConfig::new(PARAM_SECRET),
        ],
        ..SimConfig::default()
    };
    Sim::start_blocking(config).expect("simulator")
}

fn proxy(sim: &Sim, overrides: &[(&str, &str)]) -> FunctionProcess {
    // The simulator's first template token is DATASTORE_TOKEN.
    common::sim_env(sim).with(overrides).spawn(BIN)
}

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
fn no_secret_or_number_in_logs_or_responses_on_any_path() {
    let sim = sim();
    let mut f = proxy(
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
    let faults: [(Fault, (&str, &str)); 9] = [
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
    for (fault, want) in faults {
        for route in [Route::DatastorePost, Route::DatastoreGet] {
            sim.set_fault(route, fault.clone(), None);
            let e = if route == Route::DatastorePost {
                post(None)
            } else {
                get(json!({}))
            };
            // A 404 on GET is "no record", not an error.
            let want = if route == Route::DatastoreGet && fault == (Fault::Status { code: 404 }) {
                ("not_found", "")
            } else {
                want
            };
            run(&mut f, e, want);
            sim.clear_faults();
        }
    }

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
fn an_invalid_configuration_does_not_print_the_token() {
    let sim = sim();
    // An out-of-range budget: every invocation answers invalid_config.
    let mut f = proxy(
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

#[test]
fn plain_http_is_refused_without_mindful_allow_http() {
    let sim = sim();
    let mut f = proxy(&sim, &[("MINDFUL_ALLOW_HTTP", "")]);
    for e in [
        post(None),
        get(json!({})),
        get(json!({"token": PARAM_SECRET})),
    ] {
        let (r, _) = response(&mut f, e);
        assert_eq!(r["status"], "error", "{r}");
        assert_eq!(r["error"], "invalid_config", "{r}");
        let msg = r["error_message"].as_str().unwrap_or_default();
        assert!(msg.contains("https"), "{msg}");
    }
    assert_eq!(sim.count(Route::Any), 0, "{:?}", sim.requests());
    // And with it the same process configuration works.
    let mut ok = proxy(&sim, &[]);
    let (r, _) = response(&mut ok, post(None));
    assert_eq!(r["status"], "ok", "{r}");
    assert_eq!(sim.count(Route::DatastorePost), 1);
}
