//! datastore-proxy against the Mindful simulator over real HTTP: round trips in every number
//! format, wrong token, unknown number, upstream faults, and every input error.

// Test code: a failed unwrap is a failed test (the deny is for the deployed code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use bundle_testkit::voice;
use datastore_proxy::{Config, DatastoreProxy};
use mindful_core::function::Function;
use mindful_core::handler::test_event;
use mindful_core::http::{build_client, HttpSettings};
use mindful_core::secret::SecretStore;
use mindful_core::Kvp;
use mindful_sim::{Fault, Route, Sim, SimConfig};
use serde_json::{json, Value};

const TOKEN: &str = "sim-datastore-token";

fn proxy(sim: &Sim, extra: &[(&str, &str)]) -> Function<DatastoreProxy> {
    // The extras come last and win; an empty value unsets.
    let env = process_tests::datastore_proxy_env(sim).with(extra).reader();
    // As `DatastoreProxy::from_env` builds it from the process environment (no secret is read
    // through the extension here).
    let http = build_client(&HttpSettings::default()).unwrap();
    let secrets = SecretStore::from_env(http.clone(), &env);
    DatastoreProxy::new(http, Config::from_env(&env), secrets)
}

fn event(params: Value, customer: Value) -> Value {
    json!({"Name":"ContactFlowEvent","Details":{"Parameters":params,"ContactData":{
        "Attributes":{"segment":"retail"},"Channel":"VOICE","ContactId":"c-1","InitialContactId":"c-1",
        "InitiationMethod":"INBOUND","InstanceARN":"arn:aws:connect:us-east-1:111122223333:instance/i",
        "LanguageCode":"en-US","CustomerEndpoint":customer,
        "SystemEndpoint":{"Address":"+18005550100","Type":"TELEPHONE_NUMBER"},
        "Queue":{"ARN":"arn:aws:connect:us-east-1:111122223333:instance/i/queue/q","Name":"Billing"}}}})
}

async fn call(p: &Function<DatastoreProxy>, e: Value) -> Kvp {
    p.handle(test_event(e)).await.unwrap()
}

async fn sim() -> Sim {
    mindful_sim::start(SimConfig::default()).await.unwrap()
}

#[tokio::test]
async fn store_then_find_in_every_number_format() {
    for (format, key) in [
        ("e164", "+13209071234"),
        ("digits", "13209071234"),
        ("national", "3209071234"),
    ] {
        let sim = sim().await;
        let p = proxy(&sim, &[("DATASTORE_NUMBER_FORMAT", format)]);
        let stored = call(
            &p,
            event(
                json!({"method":"POST","customer_contact_number":"+1 (320) 907-1234",
            "queue_name":"Billing","customer_name":"Ada","account_number":"AC-42"}),
                voice("+19999999999"),
            ),
        )
        .await;
        assert_eq!(stored.status(), Some("ok"), "{format}: {stored:?}");
        assert_eq!(stored.get("customer_contact_number"), Some(key));
        assert!(!stored.get("time_to_expire").unwrap_or("").is_empty());

        let found = call(&p, event(json!({"method":"get"}), voice("+13209071234"))).await;
        assert_eq!(found.status(), Some("ok"), "{format}: {found:?}");
        assert_eq!(found.get("queue_name"), Some("Billing"));
        assert_eq!(found.get("customer_name"), Some("Ada"));
        assert_eq!(found.get("account_number"), Some("AC-42"));
        assert_eq!(found.get("customer_contact_number"), Some(key));
        assert!(found.get("method").is_none() && found.get("token").is_none());
        let reqs = sim.requests();
        assert_eq!(reqs.len(), 2);
        assert!(
            reqs[1]
                .query
                .as_deref()
                .unwrap_or("")
                .contains(&key.replace('+', "%2B")),
            "{:?}",
            reqs[1].query
        );
    }
}

#[tokio::test]
async fn post_body_holds_only_data_parameters_and_optionally_attributes() {
    let sim = sim().await;
    let p = proxy(&sim, &[("DATASTORE_INCLUDE_ATTRIBUTES", "true")]);
    let r = call(
        &p,
        event(
            json!({"method":"POST","token":TOKEN,"queue_name":"Billing","segment":"vip","count":3}),
            voice("+13209071234"),
        ),
    )
    .await;
    assert_eq!(r.status(), Some("ok"));
    let body: Value = serde_json::from_str(&sim.requests()[0].body).unwrap();
    assert_eq!(body["customer_contact_number"], "+13209071234");
    assert_eq!(
        body["data_values"],
        json!({"queue_name":"Billing","segment":"vip","count":"3"})
    );
}

#[tokio::test]
async fn wrong_token_unknown_number_and_parameter_token() {
    let sim = sim().await;
    let p = proxy(&sim, &[]);
    let r = call(
        &p,
        event(
            json!({"method":"GET","token":"wrong-token"}),
            voice("+13209071234"),
        ),
    )
    .await;
    assert_eq!(
        (r.status(), r.get("error"), r.get("http_status")),
        (Some("error"), Some("unauthorized"), Some("401"))
    );
    assert!(!format!("{r:?}").contains("wrong-token"));
    let r = call(&p, event(json!({"method":"GET"}), voice("+13209071234"))).await;
    assert_eq!(r.status(), Some("not_found"));
    assert_eq!(r.get("customer_contact_number"), Some("+13209071234"));
}

#[tokio::test]
async fn input_errors_never_reach_mindful() {
    let sim = sim().await;
    let p = proxy(&sim, &[]);
    let cases = [
        (event(json!({}), voice("+13209071234")), "missing_parameter"),
        (
            event(json!({"method":"PUT"}), voice("+13209071234")),
            "invalid_method",
        ),
        (
            event(json!({"method":"GET"}), voice("anonymous")),
            "invalid_number",
        ),
        (
            event(
                json!({"method":"GET","customer_contact_number":"12"}),
                Value::Null,
            ),
            "invalid_number",
        ),
        (
            event(json!({"method":"GET"}), Value::Null),
            "missing_parameter",
        ),
        (
            json!({"Name":"ContactFlowEvent","Details":{"ContactData":{"Channel":"CHAT","CustomerEndpoint":null}}}),
            "missing_parameter",
        ),
        (json!(null), "missing_parameter"),
    ];
    for (e, code) in cases {
        let r = call(&p, e.clone()).await;
        assert_eq!(
            (r.status(), r.get("error")),
            (Some("error"), Some(code)),
            "{e}"
        );
        assert!(!r.get("error_message").unwrap_or("").is_empty());
    }
    let no_token = proxy(&sim, &[("DATASTORE_TOKEN", "")]);
    let r = call(
        &no_token,
        event(json!({"method":"GET"}), voice("+13209071234")),
    )
    .await;
    assert_eq!(r.get("error"), Some("no_token"));
    assert!(sim.requests().is_empty());
}

#[tokio::test]
async fn configuration_errors_answer_instead_of_failing() {
    let sim = sim().await;
    for (vars, what) in [
        (vec![("MINDFUL_ALLOW_HTTP", "")], "MINDFUL_ALLOW_HTTP"),
        (
            vec![("DATASTORE_NUMBER_FORMAT", "intl")],
            "DATASTORE_NUMBER_FORMAT",
        ),
        (vec![("DEFAULT_COUNTRY", "ZZ")], "DEFAULT_COUNTRY"),
    ] {
        let p = proxy(&sim, &vars);
        let r = call(&p, event(json!({"method":"GET"}), voice("+13209071234"))).await;
        assert_eq!(r.get("error"), Some("invalid_config"), "{what}");
        assert!(
            r.get("error_message").unwrap().contains(what) || what == "MINDFUL_ALLOW_HTTP",
            "{r:?}"
        );
    }
}

#[tokio::test]
async fn upstream_faults_map_to_stable_codes() {
    let sim = sim().await;
    let p = proxy(&sim, &[("REQUEST_BUDGET_MS", "800")]);
    let get = || event(json!({"method":"GET"}), voice("+13209071234"));
    let cases = [
        (Fault::Status { code: 500 }, "upstream_error", Some("500")),
        (Fault::Status { code: 503 }, "upstream_error", Some("503")),
        (Fault::Status { code: 429 }, "upstream_error", Some("429")),
        (Fault::Status { code: 401 }, "unauthorized", Some("401")),
        (Fault::MalformedJson, "bad_response", None),
        (Fault::WrongContentType, "bad_response", None),
        (Fault::Reset, "upstream_error", None),
        (Fault::Hang, "timeout", None),
    ];
    for (fault, code, http_status) in cases {
        sim.reset();
        sim.set_fault(Route::Any, fault.clone(), None);
        let started = Instant::now();
        let r = call(&p, get()).await;
        let took = started.elapsed();
        assert_eq!(
            (r.status(), r.get("error")),
            (Some("error"), Some(code)),
            "{fault:?}: {r:?}"
        );
        assert_eq!(r.get("http_status"), http_status, "{fault:?}");
        assert!(
            took < Duration::from_millis(1000),
            "{fault:?} took {took:?}"
        );
    }
    // 5xx is retried once (an idempotent search), 401 is not.
    sim.reset();
    sim.set_fault(Route::Any, Fault::Status { code: 503 }, Some(1));
    let r = call(&p, get()).await;
    assert_eq!(r.status(), Some("not_found"), "{r:?}");
    assert_eq!(sim.count(Route::DatastoreGet), 2);
}

#[tokio::test]
async fn latency_just_under_and_over_the_budget() {
    let sim = sim().await;
    let p = proxy(&sim, &[("REQUEST_BUDGET_MS", "600")]);
    sim.set_fault(Route::DatastoreGet, Fault::Latency { ms: 300 }, None);
    let r = call(&p, event(json!({"method":"GET"}), voice("+13209071234"))).await;
    assert_eq!(r.status(), Some("not_found"));
    sim.set_fault(Route::DatastoreGet, Fault::Latency { ms: 900 }, None);
    let started = Instant::now();
    let r = call(&p, event(json!({"method":"GET"}), voice("+13209071234"))).await;
    assert_eq!(r.get("error"), Some("timeout"));
    assert!(started.elapsed() < Duration::from_millis(800));
}

#[tokio::test]
async fn oversized_record_gives_a_clear_error_under_32_kb() {
    let sim = sim().await;
    let p = proxy(&sim, &[]);
    let mut params = serde_json::Map::new();
    params.insert("method".into(), json!("POST"));
    for i in 0..40 {
        params.insert(format!("note_{i}"), json!("x".repeat(1000)));
    }
    let r = call(&p, event(Value::Object(params), voice("+13209071234"))).await;
    assert_eq!(r.status(), Some("ok"));
    let r = call(&p, event(json!({"method":"GET"}), voice("+13209071234"))).await;
    assert_eq!(
        r.get("error"),
        Some("response_too_large"),
        "{}",
        r.encoded_len()
    );
    assert_eq!(r.get("customer_contact_number"), Some("+13209071234"));
    assert!(r.encoded_len() < 32 * 1024);
}

#[tokio::test]
async fn every_sample_event_gets_a_status() {
    let sim = sim().await;
    let p = proxy(&sim, &[]);
    let mut samples = bundle_testkit::samples("datastore-proxy", "datastore-");
    // POST samples first, so the GET samples find the record.
    samples.sort_by_key(|s| (!s.name.contains("post"), s.name.clone()));
    assert!(samples.len() >= 5);
    for sample in samples {
        let r = call(&p, sample.event()).await;
        let name = sample.name;
        let want = if name.contains("chat") { "error" } else { "ok" };
        assert_eq!(r.status(), Some(want), "{name}: {r:?}");
        assert!(r.iter().all(|(k, _)| k != "token"));
    }
}
