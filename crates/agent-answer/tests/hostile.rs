//! agent-answer against a hostile token endpoint and Agent Answer API, through the Lambda
//! Runtime API: redirects, unusable tokens (which once poisoned the cache for up to a day),
//! `expires_in` edge cases, and bodies that never end. Each answer comes inside the budget.

// Test code: a failed unwrap is a failed test (the deny is for the deployed code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use bundle_testkit::{assert_flat, event, response, spawn, CALLER};
use bundle_testkit::{Answer, HostileUpstream};
use lambda_harness::FunctionProcess;
use mindful_sim::{Route, Sim, SimConfig};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_agent-answer");
const BUDGET_MS: u64 = 1500;

fn answerer(token_url: &str, api_url: &str) -> FunctionProcess {
    let budget = BUDGET_MS.to_string();
    spawn(
        BIN,
        &[
            ("MINDFUL_TOKEN_URL", token_url),
            ("MINDFUL_API_URL", api_url),
            ("MINDFUL_ALLOW_HTTP", "1"),
            ("MINDFUL_CLIENT_ID", "client"),
            ("MINDFUL_CLIENT_SECRET", "secret"),
            ("REQUEST_BUDGET_MS", budget.as_str()),
            ("AGENT_ANSWER_DEDUP_SECONDS", "0"),
        ],
    )
}

fn outcome(r: &Value) -> (&str, &str) {
    (
        r["status"].as_str().unwrap_or(""),
        r["error"].as_str().unwrap_or(""),
    )
}

fn good_token() -> Answer {
    Answer::Json(
        200,
        json!({"access_token": "tok.GOOD-1", "token_type": "Bearer", "expires_in": 3600})
            .to_string(),
    )
}

/// One server playing both hosts: `/oauth2/token` answers `token(n)` (n = token requests so
/// far), anything else `api`.
fn upstream(
    token: impl Fn(usize) -> Answer + Send + Sync + 'static,
    api: impl Fn() -> Answer + Send + Sync + 'static,
) -> (HostileUpstream, String, String) {
    let counter = std::sync::atomic::AtomicUsize::new(0);
    let server = HostileUpstream::start(move |req, _| {
        if req.path() == "/oauth2/token" {
            token(counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst))
        } else {
            api()
        }
    });
    let token_url = format!("{}/oauth2/token", server.base);
    let api_url = format!("{}/v2/callback/agentAnswer", server.base);
    (server, token_url, api_url)
}

fn tokens_requested(server: &HostileUpstream) -> usize {
    server
        .received()
        .iter()
        .filter(|r| r.path() == "/oauth2/token")
        .count()
}

/// Regression: redirects were followed, re-sending the answer (or the client credentials) to
/// the Location, or turning the POST into a GET that "succeeded".
#[test]
fn redirects_are_answered_not_followed() {
    let sim = Sim::start_blocking(SimConfig::default()).expect("simulator");
    for status in [302u16, 307, 308] {
        let elsewhere = sim.agent_answer_url();
        let (server, token_url, api_url) = upstream(
            |_| good_token(),
            move || Answer::Redirect(status, elsewhere.clone()),
        );
        let mut f = answerer(&token_url, &api_url);
        let (r, _) = response(&mut f, event(json!({}), Some(CALLER), "c"));
        assert_flat(&r);
        assert_eq!(outcome(&r), ("error", "upstream_error"), "{status}: {r}");
        assert_eq!(r["http_status"], status.to_string(), "{r}");
        drop(server);

        let elsewhere = sim.token_url();
        let (_server, token_url, api_url) = upstream(
            move |_| Answer::Redirect(status, elsewhere.clone()),
            good_token,
        );
        let mut f = answerer(&token_url, &api_url);
        let (r, _) = response(&mut f, event(json!({}), Some(CALLER), "c"));
        assert_eq!(outcome(&r), ("error", "upstream_error"), "{status}: {r}");
    }
    assert_eq!(sim.count(Route::Any), 0, "{:?}", sim.requests());
}

/// Regression: a token with CR/LF (or NUL, DEL) was cached, and every later call failed
/// without a request until `expires_in` ran out. Now the bad answer costs one call only.
#[test]
fn an_unusable_token_is_never_cached() {
    for bad in [
        json!({"access_token": "abc\r\nX-Injected: 1", "expires_in": 86400}),
        json!({"access_token": "abc\u{0}", "expires_in": 86400}),
        json!({"access_token": "abc\u{7f}", "expires_in": 86400}),
        json!({"access_token": "abc", "token_type": "mac", "expires_in": 86400}),
    ] {
        let first = bad.to_string();
        let (server, token_url, api_url) = upstream(
            move |n| {
                if n == 0 {
                    Answer::Json(200, first.clone())
                } else {
                    good_token()
                }
            },
            || Answer::Json(202, "{}".into()),
        );
        let mut f = answerer(&token_url, &api_url);
        let (r, _) = response(&mut f, event(json!({}), Some(CALLER), "c1"));
        assert_eq!(outcome(&r), ("error", "auth_failed"), "{bad}: {r}");
        let (r, _) = response(&mut f, event(json!({}), Some(CALLER), "c2"));
        assert_eq!(outcome(&r), ("accepted", ""), "{bad}: {r}");
        assert_eq!(tokens_requested(&server), 2, "{bad}");
        let api_calls: Vec<_> = server
            .received()
            .into_iter()
            .filter(|r| r.path() != "/oauth2/token")
            .collect();
        assert_eq!(api_calls.len(), 1);
        assert_eq!(
            api_calls[0].header("authorization"),
            Some("Bearer tok.GOOD-1")
        );
    }
}

/// `expires_in` rules: 0 or negative is used for its call only (never cached); absent is an
/// hour; a year is capped (cached, reused).
#[test]
fn expires_in_rules_hold_through_the_process() {
    for (expires_in, token_requests_for_three_calls) in [
        (json!(0), 3),
        (json!(-30), 3),
        (Value::Null, 1),
        (json!(31_536_000), 1),
    ] {
        let body = json!({"access_token": "tok-x", "expires_in": expires_in}).to_string();
        let (server, token_url, api_url) = upstream(
            move |_| Answer::Json(200, body.clone()),
            || Answer::Json(202, "{}".into()),
        );
        let mut f = answerer(&token_url, &api_url);
        for contact in ["c1", "c2", "c3"] {
            let (r, _) = response(&mut f, event(json!({}), Some(CALLER), contact));
            assert_eq!(outcome(&r), ("accepted", ""), "{expires_in}: {r}");
        }
        assert_eq!(
            tokens_requested(&server),
            token_requests_for_three_calls,
            "{expires_in}"
        );
    }
}

/// Regression: bodies were unbounded. An endless token or API body is refused at the limit,
/// inside the budget.
#[test]
fn endless_bodies_are_refused_in_time() {
    let (server, token_url, api_url) =
        upstream(|_| Answer::Endless, || Answer::Json(202, "{}".into()));
    let mut f = answerer(&token_url, &api_url);
    let started = Instant::now();
    let (r, _) = response(&mut f, event(json!({}), Some(CALLER), "c"));
    assert_eq!(outcome(&r), ("error", "auth_failed"), "{r}");
    assert!(started.elapsed() < Duration::from_millis(BUDGET_MS));
    drop(server);

    let (_server, token_url, api_url) = upstream(|_| good_token(), || Answer::Endless);
    let mut f = answerer(&token_url, &api_url);
    let started = Instant::now();
    let (r, _) = response(&mut f, event(json!({}), Some(CALLER), "c"));
    assert_eq!(outcome(&r), ("error", "bad_response"), "{r}");
    assert!(started.elapsed() < Duration::from_millis(BUDGET_MS));
}
