//! The core clients against the Mindful simulator in-process (real HTTP on loopback): the same
//! documented behaviour the functions rely on, without the function layer.

// Test code: a failed unwrap is a failed test (the deny is for the deployed code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use mindful_core::agent_answer::{agent_answer_endpoint, AgentAnswerClient, AnswerOutcome};
use mindful_core::datastore::{DatastoreClient, DatastoreError, SearchOutcome};
use mindful_core::http::Url;
use mindful_core::http::{build_client, record_requests, Budget, HttpSettings};
use mindful_core::oauth::{AuthError, ClientCredentials, OAuthClient};
use mindful_core::phone::{normalize, NumberFormat};
use mindful_core::Secret;
use mindful_sim::{Route, SimConfig};

fn budget() -> Budget {
    Budget::new(Duration::from_millis(2000))
}

fn creds(token_url: &str, secret: &str) -> ClientCredentials {
    ClientCredentials {
        token_url: Url::parse(token_url).unwrap(),
        client_id: "sim-client".into(),
        client_secret: Secret::new(secret),
    }
}

#[tokio::test]
async fn oauth_tokens_are_cached_and_wrong_secrets_rejected() {
    let sim = mindful_sim::start(SimConfig::default()).await.unwrap();
    let oauth = OAuthClient::new(build_client(&HttpSettings::default()).unwrap());
    let good = creds(&sim.token_url(), "sim-secret");
    let first = oauth.token(&good, &budget()).await.unwrap();
    let second = oauth.token(&good, &budget()).await.unwrap();
    assert!(!first.from_cache && second.from_cache);
    assert_eq!(first.value, second.value);
    assert_eq!(sim.count(Route::Token), 1);
    let bad = creds(&sim.token_url(), "wrong");
    assert_eq!(
        oauth.token(&bad, &budget()).await.map(|_| ()),
        Err(AuthError::Rejected(401))
    );
}

#[tokio::test]
async fn datastore_round_trip_needs_the_same_spelling() {
    let sim = mindful_sim::start(SimConfig::default()).await.unwrap();
    let ds = DatastoreClient::new(
        build_client(&HttpSettings::default()).unwrap(),
        Url::parse(&sim.base_url()).unwrap(),
    );
    let token = Secret::new("sim-datastore-token");
    let mut values = BTreeMap::new();
    values.insert("queue_name".to_string(), "Billing".to_string());
    for format in [
        NumberFormat::E164,
        NumberFormat::Digits,
        NumberFormat::National,
    ] {
        let stored_as = normalize("+1 (320) 907-1234", "US", format).unwrap();
        let found_as = normalize("+13209071234", "US", format).unwrap();
        ds.submit(&token, &stored_as, &values, &budget())
            .await
            .unwrap();
        match ds.search(&token, &found_as, &budget()).await.unwrap() {
            SearchOutcome::Found(record) => {
                assert_eq!(record["queue_name"], "Billing");
                assert_eq!(record["customer_contact_number"], stored_as.as_str());
            }
            SearchOutcome::NotFound => panic!("{format}: not found"),
        }
    }
    // Mindful matches exactly: a record stored under "+1…" is not found under "1…" (another format).
    let fresh = "+14155550123";
    ds.submit(&token, fresh, &values, &budget()).await.unwrap();
    assert_eq!(
        ds.search(&token, "14155550123", &budget()).await,
        Ok(SearchOutcome::NotFound)
    );
    assert_eq!(
        ds.search(&Secret::new("nope"), fresh, &budget()).await,
        Err(DatastoreError::Unauthorized)
    );
    // Every attempt is counted (the per-invocation count in the functions' log line).
    sim.set_fault(
        Route::DatastoreGet,
        mindful_sim::Fault::Status { code: 503 },
        Some(1),
    );
    let (found, record) = record_requests(ds.search(&token, fresh, &budget())).await;
    let sent = record.sent;
    assert!(matches!(found, Ok(SearchOutcome::Found(_))));
    assert_eq!(sent, 2);
}

#[tokio::test]
async fn agent_answer_against_the_simulator() {
    let sim = mindful_sim::start(SimConfig::default()).await.unwrap();
    let client = AgentAnswerClient::new(build_client(&HttpSettings::default()).unwrap());
    let endpoint = agent_answer_endpoint(Url::parse(&sim.base_url()).unwrap());
    let c = creds(&sim.token_url(), "sim-secret");
    let none = client
        .answer(&endpoint, &c, "+13209071234", None, None, &budget())
        .await;
    assert_eq!(none.outcome, Ok(AnswerOutcome::NoCall));
    sim.register_call("+13209071234");
    let (yes, record) = record_requests(client.answer(
        &endpoint,
        &c,
        "+13209071234",
        Some("jdoe"),
        None,
        &budget(),
    ))
    .await;
    let sent = record.sent;
    // The record keeps the last answer's status and the time spent waiting for it.
    assert_eq!(record.last_status, Some(202));
    assert!(record.waited > std::time::Duration::ZERO);
    assert_eq!(
        yes.outcome,
        Ok(AnswerOutcome::Accepted { http_status: 202 })
    );
    // The token was cached by the first call: one request.
    assert_eq!(sent, 1);
    assert_eq!(
        (sim.count(Route::Token), sim.count(Route::AgentAnswer)),
        (1, 2)
    );
}
