//! `method=STATUS`: the Scheduler widget status against the simulator over real HTTP, with the
//! rules every Mindful call follows (budget, one retry, secret, stable codes, nothing sent on a
//! bad input or configuration).

// Test code: a failed unwrap is a failed test (the deny is for the deployed code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use datastore_proxy::{Config, DatastoreProxy};
use mindful_core::function::Function;
use mindful_core::handler::test_event;
use mindful_core::http::{build_client, HttpSettings};
use mindful_core::scheduler::states;
use mindful_core::secret::SecretStore;
use mindful_core::Kvp;
use mindful_sim::{Fault, Route, Sim, SimConfig, DEFAULT_WIDGET_ID};
use serde_json::{json, Value};

fn proxy(sim: &Sim, extra: &[(&str, &str)]) -> Function<DatastoreProxy> {
    let env = process_tests::datastore_proxy_env(sim)
        .with(&[("SCHEDULER_URL", &sim.base_url())])
        .with(extra)
        .reader();
    let http = build_client(&HttpSettings::default()).unwrap();
    let secrets = SecretStore::from_env(http.clone(), &env);
    DatastoreProxy::new(http, Config::from_env(&env), secrets)
}

/// A status check needs no caller number: a chat contact without an endpoint is enough.
fn status_event(params: Value) -> Value {
    json!({"Name":"ContactFlowEvent","Details":{"Parameters":params,"ContactData":{
        "Attributes":{},"Channel":"CHAT","ContactId":"c-1","InitialContactId":"c-1",
        "InitiationMethod":"API","InstanceARN":"arn:aws:connect:us-east-1:111122223333:instance/i",
        "CustomerEndpoint":null}}})
}

async fn call(p: &Function<DatastoreProxy>, e: Value) -> Kvp {
    p.handle(test_event(e)).await.unwrap()
}

async fn sim() -> Sim {
    mindful_sim::start(SimConfig::default()).await.unwrap()
}

#[tokio::test]
async fn every_documented_state_reaches_the_flow() {
    let sim = sim().await;
    let p = proxy(&sim, &[]);
    for (state, ewt) in states::ALL
        .iter()
        .zip([Some(95), Some(0), None, Some(720), None])
    {
        sim.reset();
        sim.set_widget_status(state, ewt);
        let r = call(
            &p,
            status_event(json!({"method":"status","widget_id":DEFAULT_WIDGET_ID})),
        )
        .await;
        assert_eq!(r.status(), Some("ok"), "{state}: {r:?}");
        assert_eq!(r.get("widget_state"), Some(*state));
        let want_ewt = ewt.map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(r.get("ewt"), Some(want_ewt.as_str()), "{state}");
        // Nothing else of the Scheduler's answer (slots, message) reaches the flow.
        assert_eq!(r.get("scheduled_timeslots"), None);
        let reqs = sim.requests();
        assert_eq!(reqs.len(), 1, "{state}");
        assert_eq!(reqs[0].method, "GET");
        assert_eq!(reqs[0].path, format!("/api/widget/{DEFAULT_WIDGET_ID}"));
        // Open by default: no token configured, none sent.
        assert!(
            !reqs[0]
                .headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("authorization")),
            "{:?}",
            reqs[0].headers
        );
    }
}

#[tokio::test]
async fn a_configured_access_token_is_sent_as_bearer() {
    let sim = sim().await;
    let p = proxy(&sim, &[("SCHEDULER_TOKEN", "acp-token")]);
    let r = call(
        &p,
        status_event(json!({"method":"STATUS","widget_id":DEFAULT_WIDGET_ID})),
    )
    .await;
    assert_eq!(r.status(), Some("ok"));
    let reqs = sim.requests();
    assert!(reqs[0]
        .headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("authorization") && v == "Bearer ***"));
}

#[tokio::test]
async fn bad_input_and_configuration_send_nothing() {
    let sim = sim().await;
    let p = proxy(&sim, &[]);
    let cases = [
        (json!({"method":"STATUS"}), "missing_parameter"),
        (
            json!({"method":"STATUS","widget_id":""}),
            "missing_parameter",
        ),
        (
            json!({"method":"STATUS","widget_id":"../data_sets"}),
            "invalid_widget",
        ),
        (
            json!({"method":"STATUS","widget_id":"w 1"}),
            "invalid_widget",
        ),
        (json!({"method":"STATS","widget_id":"w"}), "invalid_method"),
    ];
    for (params, code) in cases {
        let r = call(&p, status_event(params.clone())).await;
        assert_eq!(
            (r.status(), r.get("error")),
            (Some("error"), Some(code)),
            "{params}"
        );
        assert!(!r.get("error_message").unwrap_or("").is_empty());
    }
    let unset = proxy(&sim, &[("SCHEDULER_URL", "")]);
    let r = call(
        &unset,
        status_event(json!({"method":"STATUS","widget_id":DEFAULT_WIDGET_ID})),
    )
    .await;
    assert_eq!(r.get("error"), Some("invalid_config"));
    assert!(r.get("error_message").unwrap().contains("SCHEDULER_URL"));
    let plain = proxy(
        &sim,
        &[
            ("SCHEDULER_URL", "http://scheduler.example"),
            ("MINDFUL_ALLOW_HTTP", ""),
        ],
    );
    let r = call(
        &plain,
        status_event(json!({"method":"STATUS","widget_id":DEFAULT_WIDGET_ID})),
    )
    .await;
    assert_eq!(r.get("error"), Some("invalid_config"));
    assert!(sim.requests().is_empty(), "{:?}", sim.requests());
}

#[tokio::test]
async fn upstream_faults_map_to_stable_codes_inside_the_budget() {
    let sim = sim().await;
    let p = proxy(&sim, &[("REQUEST_BUDGET_MS", "800")]);
    let cases = [
        (
            Fault::Status { code: 503 },
            "upstream_error",
            Some("503"),
            2,
        ),
        (
            Fault::Status { code: 429 },
            "upstream_error",
            Some("429"),
            2,
        ),
        (Fault::Status { code: 401 }, "unauthorized", Some("401"), 1),
        (
            Fault::Status { code: 404 },
            "invalid_widget",
            Some("404"),
            1,
        ),
        (Fault::MalformedJson, "bad_response", None, 1),
        (Fault::WrongContentType, "bad_response", None, 1),
        (Fault::Reset, "upstream_error", None, 2),
        (Fault::Hang, "timeout", None, 1),
    ];
    for (fault, code, http_status, requests) in cases {
        sim.reset();
        sim.set_fault(Route::WidgetStatus, fault.clone(), None);
        let started = Instant::now();
        let r = call(
            &p,
            status_event(json!({"method":"STATUS","widget_id":DEFAULT_WIDGET_ID})),
        )
        .await;
        let took = started.elapsed();
        assert_eq!(
            (r.status(), r.get("error"), r.get("http_status")),
            (Some("error"), Some(code), http_status),
            "{fault:?}: {r:?}"
        );
        assert!(
            took < Duration::from_millis(1000),
            "{fault:?} took {took:?}"
        );
        assert_eq!(sim.requests().len(), requests, "{fault:?}");
        assert_eq!(r.get("widget_state"), None, "{fault:?}");
    }
    // An unknown widget (the simulator knows one) is Mindful's 404.
    sim.reset();
    let r = call(
        &p,
        status_event(json!({"method":"STATUS","widget_id":"another-widget"})),
    )
    .await;
    assert_eq!(r.get("error"), Some("invalid_widget"));
}
