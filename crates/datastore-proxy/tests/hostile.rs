//! datastore-proxy against a hostile Datastore, through the Lambda Runtime API: redirects,
//! bodies that never end or are far too large, a record for another number, and attributes
//! named like control keys. Each was a defect; each answer must come inside the budget.

// Test code: a failed unwrap is a failed test (the deny is for the deployed code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use bundle_testkit::{assert_flat, event, response, spawn, CALLER, OTHER_CALLER};
use bundle_testkit::{Answer, HostileUpstream};
use lambda_harness::FunctionProcess;
use mindful_sim::{Route, Sim, SimConfig};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_datastore-proxy");
const BUDGET_MS: u64 = 1500;

fn proxy(base: &str, extra: &[(&str, &str)]) -> FunctionProcess {
    let budget = BUDGET_MS.to_string();
    let mut env = vec![
        ("DATASTORE_URL", base),
        ("MINDFUL_ALLOW_HTTP", "1"),
        ("DATASTORE_TOKEN", "ds-token"),
        ("REQUEST_BUDGET_MS", budget.as_str()),
    ];
    env.extend_from_slice(extra);
    spawn(BIN, &env)
}

fn outcome(r: &Value) -> (&str, &str) {
    (
        r["status"].as_str().unwrap_or(""),
        r["error"].as_str().unwrap_or(""),
    )
}

/// Regression: redirects were followed (up to 10, to any host, to plain http): a 307/308 re-sent
/// the caller's number and context elsewhere, a 302/303 turned the POST into a GET that answered
/// `ok` with nothing stored.
#[test]
fn redirects_are_answered_not_followed() {
    let sim = Sim::start_blocking(SimConfig::default()).expect("simulator");
    for status in [301u16, 302, 303, 307, 308] {
        let target = format!("{}/api/v1/data_sets", sim.base_url());
        let hostile = HostileUpstream::start(move |_, _| Answer::Redirect(status, target.clone()));
        let mut f = proxy(&hostile.base, &[]);
        for method in ["POST", "GET"] {
            let (r, _) = response(
                &mut f,
                event(json!({"method": method, "a": "1"}), Some(CALLER), "c"),
            );
            assert_flat(&r);
            assert_eq!(
                outcome(&r),
                ("error", "upstream_error"),
                "{status} {method}: {r}"
            );
            assert_eq!(r["http_status"], status.to_string(), "{r}");
        }
        assert_eq!(hostile.count(), 2, "no retry of a redirect");
    }
    assert_eq!(sim.count(Route::Any), 0, "{:?}", sim.requests());
}

/// Regression: bodies were read without a limit (an endless body drove memory to ~2 GB; a 50 MB
/// record took seconds to parse after the budget). Now `bad_response` inside the budget, having
/// read at most the limit.
#[test]
fn oversized_answers_are_bad_response_in_time() {
    let many_keys: String = {
        let fields: Vec<String> = (0..40_000).map(|i| format!("\"k{i}\":{i}")).collect();
        format!(
            "{{\"customer_contact_number\":\"{CALLER}\",{}}}",
            fields.join(",")
        )
    };
    assert!(many_keys.len() > 256 * 1024);
    let cases: Vec<(&str, Answer)> = vec![
        ("endless chunked body", Answer::Endless),
        ("50 MB declared", Answer::Declared(50 * 1024 * 1024)),
        ("record over the limit", Answer::Json(200, many_keys)),
    ];
    for (what, answer) in cases {
        let hostile = HostileUpstream::start(move |_, _| answer.clone());
        let mut f = proxy(&hostile.base, &[]);
        let started = Instant::now();
        let (r, _) = response(&mut f, event(json!({"method": "GET"}), Some(CALLER), "c"));
        let took = started.elapsed();
        assert_eq!(outcome(&r), ("error", "bad_response"), "{what}: {r}");
        assert!(
            r["error_message"]
                .as_str()
                .unwrap_or("")
                .contains("larger than"),
            "{r}"
        );
        assert!(took < Duration::from_millis(BUDGET_MS), "{what}: {took:?}");
        // The process is still serving.
        let (r, _) = response(&mut f, event(json!({"method": "PUT"}), Some(CALLER), "c"));
        assert_eq!(outcome(&r), ("error", "invalid_method"), "{r}");
        eprintln!(
            "{what}: answered in {took:?}, {} bytes offered",
            hostile.bytes_sent()
        );
    }
}

/// A record just under the limit (many small keys) is parsed and flattened well inside the
/// budget; it cannot fit Connect's 32 KB answer, so it is `response_too_large`, in time.
#[test]
fn the_largest_accepted_record_is_handled_in_time() {
    let record: String = {
        let fields: Vec<String> = (0..15_000).map(|i| format!("\"k{i}\":{i}")).collect();
        format!(
            "{{\"customer_contact_number\":\"{CALLER}\",{}}}",
            fields.join(",")
        )
    };
    assert!(record.len() < 256 * 1024);
    let hostile = HostileUpstream::start(move |_, _| Answer::Json(200, record.clone()));
    let mut f = proxy(&hostile.base, &[]);
    let started = Instant::now();
    let (r, _) = response(&mut f, event(json!({"method": "GET"}), Some(CALLER), "c"));
    let took = started.elapsed();
    assert_eq!(outcome(&r), ("error", "response_too_large"), "{r}");
    assert!(took < Duration::from_millis(500), "{took:?}");
    eprintln!("15 000-key record: answered in {took:?}");
}

/// Regression: a record Mindful answered for a different number was returned as `ok`.
#[test]
fn a_record_for_another_number_is_refused() {
    let hostile = HostileUpstream::start(|_, _| {
        Answer::Json(
            200,
            json!({"customer_contact_number": OTHER_CALLER, "account_number": "AC-9"}).to_string(),
        )
    });
    let mut f = proxy(&hostile.base, &[]);
    let (r, _) = response(&mut f, event(json!({"method": "GET"}), Some(CALLER), "c"));
    assert_eq!(outcome(&r), ("error", "bad_response"), "{r}");
    assert!(r.get("account_number").is_none(), "{r}");
}

/// Regression: with `DATASTORE_INCLUDE_ATTRIBUTES=true`, attributes named like control keys
/// (a Datastore token kept in a `token` attribute) were stored and came back on every GET.
#[test]
fn control_keys_are_never_stored_from_attributes() {
    let hostile = HostileUpstream::start(|_, _| {
        Answer::Json(200, json!({"customer_contact_number": CALLER}).to_string())
    });
    let mut f = proxy(&hostile.base, &[("DATASTORE_INCLUDE_ATTRIBUTES", "true")]);
    let mut e = event(
        json!({"method": "POST", "queue_name": "Billing"}),
        Some(CALLER),
        "c",
    );
    e["Details"]["ContactData"]["Attributes"] = json!({
        "tier": "gold", "token": "ds-token-in-an-attribute", "method": "GET",
        "customer_contact_number": "+15550001111"
    });
    let (r, _) = response(&mut f, e);
    assert_eq!(outcome(&r), ("ok", ""), "{r}");
    let sent: Value = serde_json::from_str(&hostile.received()[0].body).expect("JSON body");
    assert_eq!(sent["customer_contact_number"], CALLER);
    assert_eq!(
        sent["data_values"],
        json!({"queue_name": "Billing", "tier": "gold"}),
        "{sent}"
    );
}
