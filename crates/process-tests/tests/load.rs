//! Load through the Lambda Runtime API: many sequential invocations of each function's binary
//! (as Lambda runs one execution environment), checking that memory stays flat and, for the
//! functions that call Mindful, that HTTP keep-alive pooling holds (a handful of TCP connections
//! to `mindful-sim`, not one per call).
//!
//! One row per function (its set-up and event; the run and the bounds are `bundle_testkit`'s),
//! each with the same three tests (`load_tests!`):
//!
//! * `<function>::load_ci`: 1 000 invocations, in the normal test run (a few seconds in debug);
//! * `<function>::load_ci_own_memory_is_flat`: 2 000 with a constant trace id (with unique ids
//!   lambda_runtime's `setenv` grows ~130 B/call whatever the function does);
//! * `<function>::load_10k` (`#[ignore]`): 10 000 invocations; `cargo test -p process-tests
//!   --test load -- --ignored --nocapture` prints the numbers.
//!
//! Connections are counted from `/proc/net/tcp` (the simulator does not count them): every
//! socket with the simulator's port at one end, TIME_WAIT included, so a connection closed
//! during the run is still seen.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bundle_testkit::{
    event, run_load, LoadPlan, LoadReport, CALLER, CLIENT_SECRET, DATASTORE_TOKEN,
};
use lambda_harness::FunctionProcess;
use mindful_sim::{ClientConfig, Route, Sim, SimConfig, TemplateConfig};
use process_tests::{agent_answer_env, binary, datastore_proxy_env};
use serde_json::json;

/// ocw-phrase makes no HTTP call: memory only, across languages and offer outcomes.
fn ocw_phrase(plan: LoadPlan) -> LoadReport {
    let f = FunctionProcess::builder(binary("ocw-phrase"))
        .env("MINDFUL_METRICS", "false")
        .spawn()
        .expect("spawn ocw-phrase");
    let languages = ["en-US", "es-MX", "fr-CA", "de-DE"];
    run_load(f, plan, None, "ok", |i| {
        json!({"Name": "ContactFlowEvent", "Details": {
            "ContactData": {"ContactId": format!("contact-{i}"), "LanguageCode": languages[i % 4],
                "CustomerEndpoint": {"Address": "+13209071234", "Type": "TELEPHONE_NUMBER"}},
            "Parameters": {"OCW": (i % 900).to_string(), "agents_available": (i % 3).to_string(),
                "queue": "Billing"}}})
    })
}

/// datastore-proxy: POST and GET of the same caller's context in turn, as the two flows do.
fn datastore_proxy(plan: LoadPlan) -> LoadReport {
    let config = SimConfig {
        templates: vec![TemplateConfig::new(DATASTORE_TOKEN)],
        max_logged_requests: 100,
        ..SimConfig::default()
    };
    let sim = Sim::start_blocking(config).expect("simulator");
    let f = datastore_proxy_env(&sim)
        .set("MINDFUL_METRICS", "false")
        .spawn(binary("datastore-proxy"));
    let report = run_load(f, plan, Some(sim.addr().port()), "ok", |i| {
        let method = if i % 2 == 1 { "POST" } else { "GET" };
        event(
            json!({"method": method, "AccountNo": i.to_string(), "Reason": "billing"}),
            Some(CALLER),
            &format!("contact-{i}"),
        )
    });
    assert_eq!(
        sim.count(Route::DatastorePost) + sim.count(Route::DatastoreGet),
        plan.invocations
    );
    report
}

/// agent-answer: steady state is one HTTP request per invocation (the OAuth token is fetched
/// once and cached).
fn agent_answer(plan: LoadPlan) -> LoadReport {
    let config = SimConfig {
        clients: vec![ClientConfig {
            client_id: "load-client".into(),
            client_secret: CLIENT_SECRET.into(),
        }],
        max_logged_requests: 100,
        ..SimConfig::default()
    };
    let sim = Sim::start_blocking(config).expect("simulator");
    let f = agent_answer_env(&sim)
        .with(&[
            ("MINDFUL_METRICS", "false"),
            // The per-contact dedup map holds every contact answered in the last 60 s by design
            // (10 000 here in ~20 s, about 1 MB); off, so growth would be a leak.
            ("AGENT_ANSWER_DEDUP_SECONDS", "0"),
        ])
        .spawn(binary("agent-answer"));
    let report = run_load(f, plan, Some(sim.addr().port()), "accepted", |i| {
        // Every contact is new (so each answer is sent), and Mindful has a call connecting for it.
        sim.register_call(CALLER);
        event(
            json!({"Agent_ID": "agent-1", "Queue_ID": "queue-1"}),
            Some(CALLER),
            &format!("contact-{i}"),
        )
    });
    assert_eq!(sim.count(Route::Token), 1, "one token for the whole run");
    assert_eq!(
        sim.count(Route::AgentAnswer),
        plan.invocations,
        "one request per invocation"
    );
    report
}

mod ocw_phrase {
    bundle_testkit::load_tests!("ocw-phrase", super::ocw_phrase);
}

mod datastore_proxy {
    bundle_testkit::load_tests!("datastore-proxy", super::datastore_proxy);
}

mod agent_answer {
    bundle_testkit::load_tests!("agent-answer", super::agent_answer);
}
