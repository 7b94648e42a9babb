//! agent-answer against the Mindful simulator over real HTTP: token reuse, expiry, 401 refresh,
//! statuses, faults inside the budget, seed-compatible parameters, the host allow-list, retries.

// Test code: a failed unwrap is a failed test (the deny is for the deployed code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use agent_answer::{AgentAnswer, Config};
use bundle_testkit::voice;
use mindful_core::function::Function;
use mindful_core::handler::test_event;
use mindful_core::http::{build_client, HttpSettings};
use mindful_core::secret::SecretStore;
use mindful_core::Kvp;
use mindful_sim::{Fault, Route, Sim, SimConfig};
use serde_json::{json, Value};

const ANI: &str = "+13209071234";

fn function(sim: &Sim, extra: &[(&str, &str)]) -> Function<AgentAnswer> {
    // The extras come last and win; an empty value unsets.
    let env = process_tests::agent_answer_env(sim).with(extra).reader();
    // As `AgentAnswer::from_env` builds it from the process environment (no secret is read
    // through the extension here).
    let http = build_client(&HttpSettings::default()).unwrap();
    let secrets = SecretStore::from_env(http.clone(), &env);
    AgentAnswer::new(http, Config::from_env(&env), secrets)
}

fn whisper(contact: &str, params: Value, customer: Value) -> Value {
    json!({"Name":"ContactFlowEvent","Details":{"Parameters":params,"ContactData":{
        "Attributes":{},"Channel":"VOICE","ContactId":contact,"InitialContactId":contact,
        "InitiationMethod":"INBOUND","InstanceARN":"arn:aws:connect:us-east-1:111122223333:instance/i",
        "CustomerEndpoint":customer,"SystemEndpoint":{"Address":"+18005550100","Type":"TELEPHONE_NUMBER"},
        "Queue":{"ARN":"arn:aws:connect:us-east-1:111122223333:instance/i/queue/q","Name":"Billing"}}}})
}

async fn call(f: &Function<AgentAnswer>, e: Value) -> Kvp {
    f.handle(test_event(e)).await.unwrap()
}

async fn sim_with(config: SimConfig) -> Sim {
    mindful_sim::start(config).await.unwrap()
}

async fn sim() -> Sim {
    sim_with(SimConfig::default()).await
}

#[tokio::test]
async fn three_answers_cost_one_token_request() {
    let sim = sim().await;
    let f = function(&sim, &[]);
    for i in 0..3 {
        sim.register_call(ANI);
        let r = call(
            &f,
            whisper(
                &format!("c-{i}"),
                json!({"Agent_ID":"jdoe","Queue_ID":"arn:q"}),
                voice(ANI),
            ),
        )
        .await;
        assert_eq!(
            (r.status(), r.get("http_status")),
            (Some("accepted"), Some("202")),
            "{r:?}"
        );
    }
    assert_eq!(sim.count(Route::Token), 1);
    assert_eq!(sim.count(Route::AgentAnswer), 3);
    let answer = sim
        .requests()
        .into_iter()
        .find(|r| r.path.ends_with("agentAnswer"))
        .unwrap();
    let body: Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(
        body,
        json!({"data":{"ani":ANI,"metadata":{"agentId":"jdoe","queueId":"arn:q"}}})
    );
}

#[tokio::test]
async fn expired_token_is_replaced() {
    let sim = sim_with(SimConfig {
        token_lifetime_secs: 2,
        ..SimConfig::default()
    })
    .await;
    let f = function(&sim, &[]);
    call(&f, whisper("c-1", json!({}), voice(ANI))).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = call(&f, whisper("c-2", json!({}), voice(ANI))).await;
    assert_eq!(r.status(), Some("no_call"));
    assert_eq!(sim.count(Route::Token), 2);
}

#[tokio::test]
async fn unauthorized_refreshes_once_and_retries_once() {
    let sim = sim().await;
    let f = function(&sim, &[]);
    call(&f, whisper("c-0", json!({}), voice(ANI))).await; // warm the token cache
    sim.register_call(ANI);
    sim.set_fault(Route::AgentAnswer, Fault::Status { code: 401 }, Some(1));
    let r = call(&f, whisper("c-1", json!({}), voice(ANI))).await;
    assert_eq!(r.status(), Some("accepted"), "{r:?}");
    assert_eq!(sim.count(Route::Token), 2);
    assert_eq!(sim.count(Route::AgentAnswer), 3);
    // Two 401s in a row: auth_failed, still only one refresh.
    sim.set_fault(Route::AgentAnswer, Fault::Status { code: 401 }, Some(2));
    let r = call(&f, whisper("c-2", json!({}), voice(ANI))).await;
    assert_eq!(
        (r.get("error"), r.get("http_status")),
        (Some("auth_failed"), Some("401"))
    );
    assert_eq!(sim.count(Route::Token), 3);
}

#[tokio::test]
async fn no_connecting_call_is_no_call_not_an_error() {
    let sim = sim().await;
    let f = function(&sim, &[]);
    let r = call(&f, whisper("c-1", json!({}), voice(ANI))).await;
    assert_eq!(
        (r.status(), r.get("http_status"), r.get("error")),
        (Some("no_call"), Some("404"), None)
    );
}

#[tokio::test]
async fn invalid_ani_sends_nothing() {
    let sim = sim().await;
    let f = function(&sim, &[]);
    for (params, customer) in [
        (json!({}), voice("anonymous")),
        (json!({}), Value::Null),
        (json!({"Temp_Tel":"12"}), voice(ANI)),
        (json!({"Temp_Tel":"+1 800 FLOWERS"}), voice(ANI)),
        (json!({}), voice("+0123")),
    ] {
        let r = call(&f, whisper("c", params.clone(), customer)).await;
        assert_eq!(
            (r.status(), r.get("error")),
            (Some("error"), Some("invalid_number")),
            "{params}"
        );
    }
    assert!(sim.requests().is_empty());
}

#[tokio::test]
async fn temp_tel_overrides_the_customer_endpoint() {
    let sim = sim().await;
    let f = function(&sim, &[]);
    sim.register_call("+442079460018");
    let r = call(
        &f,
        whisper("c-1", json!({"Temp_Tel":"+44 (0)20 7946 0018"}), voice(ANI)),
    )
    .await;
    assert_eq!(r.status(), Some("accepted"), "{r:?}");
}

#[tokio::test]
async fn faults_answer_inside_the_budget() {
    let sim = sim().await;
    let f = function(&sim, &[("REQUEST_BUDGET_MS", "700")]);
    call(&f, whisper("warm", json!({}), voice(ANI))).await;
    let cases = [
        (
            Route::AgentAnswer,
            Fault::Status { code: 429 },
            "rate_limited",
        ),
        (
            Route::AgentAnswer,
            Fault::Status { code: 500 },
            "upstream_error",
        ),
        (
            Route::AgentAnswer,
            Fault::Status { code: 503 },
            "upstream_error",
        ),
        (Route::AgentAnswer, Fault::Hang, "timeout"),
        (Route::AgentAnswer, Fault::Latency { ms: 1500 }, "timeout"),
        (Route::AgentAnswer, Fault::Reset, "upstream_error"),
    ];
    for (route, fault, code) in cases {
        sim.set_fault(route, fault.clone(), None);
        let started = Instant::now();
        let r = call(&f, whisper("c", json!({}), voice(ANI))).await;
        assert_eq!(
            (r.status(), r.get("error")),
            (Some("error"), Some(code)),
            "{fault:?}: {r:?}"
        );
        assert!(
            started.elapsed() < Duration::from_millis(900),
            "{fault:?}: {:?}",
            started.elapsed()
        );
        sim.clear_faults();
    }
}

#[tokio::test]
async fn token_endpoint_failures() {
    let sim = sim().await;
    let cases = [
        (Fault::Status { code: 503 }, "upstream_error"),
        (Fault::Status { code: 429 }, "rate_limited"),
        (Fault::Hang, "timeout"),
        (Fault::Reset, "upstream_error"),
        (Fault::MalformedJson, "auth_failed"),
    ];
    for (fault, code) in cases {
        let f = function(&sim, &[("REQUEST_BUDGET_MS", "600")]);
        sim.set_fault(Route::Token, fault.clone(), None);
        let started = Instant::now();
        let r = call(&f, whisper("c", json!({}), voice(ANI))).await;
        assert_eq!(r.get("error"), Some(code), "{fault:?}: {r:?}");
        assert!(started.elapsed() < Duration::from_millis(800));
        sim.clear_faults();
    }
    let wrong = function(&sim, &[("MINDFUL_CLIENT_SECRET", "nope")]);
    let r = call(&wrong, whisper("c", json!({}), voice(ANI))).await;
    assert_eq!(
        (r.get("error"), r.get("http_status")),
        (Some("auth_failed"), Some("401"))
    );
    assert!(!format!("{r:?}").contains("nope"));
    // Token endpoint down altogether.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let down = function(
        &sim,
        &[(
            "MINDFUL_TOKEN_URL",
            &format!("http://127.0.0.1:{port}/oauth2/token"),
        )],
    );
    let r = call(&down, whisper("c", json!({}), voice(ANI))).await;
    assert_eq!(r.get("error"), Some("upstream_error"));
}

#[tokio::test]
async fn seed_parameters_work_without_configuration() {
    let sim = sim().await;
    let f = function(
        &sim,
        &[
            ("MINDFUL_CLIENT_ID", ""),
            ("MINDFUL_CLIENT_SECRET", ""),
            ("MINDFUL_TOKEN_URL", ""),
            ("MINDFUL_API_URL", ""),
        ],
    );
    sim.register_call(ANI);
    let params = json!({"Token_URL": sim.token_url(), "Client_ID":"sim-client", "Secret_Num":"sim-secret",
        "API_URL": sim.agent_answer_url(), "Agent_ID":"jdoe"});
    let r = call(&f, whisper("c-1", params, voice(ANI))).await;
    assert_eq!(r.status(), Some("accepted"), "{r:?}");
    // API_URL as a base URL works too.
    sim.register_call(ANI);
    let params = json!({"Token_URL": sim.token_url(), "Client_ID":"sim-client", "Secret_Num":"sim-secret", "API_URL": sim.base_url()});
    let r = call(&f, whisper("c-2", params, voice(ANI))).await;
    assert_eq!(r.status(), Some("accepted"), "{r:?}");
    // Without credentials anywhere: invalid_config.
    let r = call(&f, whisper("c-3", json!({}), voice(ANI))).await;
    assert_eq!(r.get("error"), Some("invalid_config"));
}

#[tokio::test]
async fn flow_urls_cannot_take_the_configured_secret_elsewhere() {
    let sim = sim().await;
    let f = function(&sim, &[]);
    // 127.0.0.2 is loopback but another host than the configured 127.0.0.1.
    let foreign = format!("http://127.0.0.2:{}/oauth2/token", sim.addr().port());
    let r = call(&f, whisper("c", json!({"Token_URL": foreign}), voice(ANI))).await;
    assert_eq!(r.get("error"), Some("invalid_config"), "{r:?}");
    assert!(r
        .get("error_message")
        .unwrap()
        .contains("MINDFUL_ALLOWED_HOSTS"));
    let r = call(
        &f,
        whisper("c", json!({"API_URL": "http://127.0.0.2:1/x"}), voice(ANI)),
    )
    .await;
    assert_eq!(r.get("error"), Some("invalid_config"));
    assert!(sim.requests().is_empty());
    // The configured host is fine from the flow, and an explicit allow-list extends it.
    sim.register_call(ANI);
    let r = call(
        &f,
        whisper("c", json!({"API_URL": sim.agent_answer_url()}), voice(ANI)),
    )
    .await;
    assert_eq!(r.status(), Some("accepted"));
    // https only, unless MINDFUL_ALLOW_HTTP.
    let strict = function(&sim, &[("MINDFUL_ALLOW_HTTP", "")]);
    let r = call(&strict, whisper("c", json!({}), voice(ANI))).await;
    assert_eq!(r.get("error"), Some("invalid_config"));
    assert!(r.get("error_message").unwrap().contains("https"));
}

#[tokio::test]
async fn retried_invocation_for_the_same_contact_is_not_answered_twice() {
    let sim = sim().await;
    let f = function(&sim, &[]);
    sim.register_call(ANI);
    sim.register_call(ANI);
    let first = call(&f, whisper("same-contact", json!({}), voice(ANI))).await;
    let second = call(&f, whisper("same-contact", json!({}), voice(ANI))).await;
    assert_eq!(first.status(), Some("accepted"));
    assert_eq!(
        (second.status(), second.get("deduplicated")),
        (Some("accepted"), Some("true"))
    );
    assert_eq!(sim.count(Route::AgentAnswer), 1);
    let other = call(&f, whisper("other-contact", json!({}), voice(ANI))).await;
    assert_eq!(other.status(), Some("accepted"));
    assert_eq!(sim.count(Route::AgentAnswer), 2);
}

#[tokio::test]
async fn every_sample_event_gets_a_status() {
    let sim = sim().await;
    let f = function(&sim, &[]);
    let samples = bundle_testkit::samples("agent-answer", "agent-answer");
    assert!(samples.len() >= 4);
    for sample in samples {
        // The sample files point at the simulator's default port; use this test's simulator.
        let text = sample
            .text
            .replace("http://127.0.0.1:8089", &sim.base_url());
        let e: Value = serde_json::from_str(&text).unwrap();
        sim.register_call(ANI);
        let r = call(&f, e).await;
        let name = sample.name;
        let want = if name.contains("anonymous") {
            "error"
        } else {
            "accepted"
        };
        assert_eq!(r.status(), Some(want), "{name}: {r:?}");
    }
}
