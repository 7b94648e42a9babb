//! agent-answer against hostile upstreams and odd secrets (issue 22), each a regression test at
//! process level: the binary on the Runtime API emulator, over https where the item concerns
//! the network.

// Test code: a failed unwrap is a failed test (the deny is for the deployed code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bundle_testkit::{assert_flat, event, response, scratch_dir, spawn, CALLER};
use bundle_testkit::{Answer, CpuStarver, HostileUpstream, Received};
use lambda_harness::SecretsExtension;
use lambda_harness::{FunctionProcess, InvokeOptions};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_agent-answer");
const ARN: &str = "arn:aws:secretsmanager:us-east-1:111122223333:secret:mindful/client-Ab12Cd";
const SESSION: &str = "session-token-for-the-extension";

fn outcome(r: &Value) -> (String, String) {
    (
        r["status"].as_str().unwrap_or("").to_string(),
        r["error"].as_str().unwrap_or("").to_string(),
    )
}

fn good_token() -> Answer {
    Answer::Json(
        200,
        json!({"access_token": "tok.GOOD-1", "token_type": "Bearer", "expires_in": 3600})
            .to_string(),
    )
}

fn is_token(r: &Received) -> bool {
    r.path() == "/oauth2/token"
}

/// A well-behaved Mindful on both routes.
fn mindful(req: &Received, _: usize) -> Answer {
    if is_token(req) {
        good_token()
    } else {
        Answer::Json(202, "{}".into())
    }
}

/// agent-answer with `upstream` as both hosts (plain http), a configured secret, then `extra`.
fn answerer(upstream: &HostileUpstream, extra: &[(&str, &str)]) -> FunctionProcess {
    let token_url = format!("{}/oauth2/token", upstream.base);
    let mut env = vec![
        ("MINDFUL_TOKEN_URL", token_url.as_str()),
        ("MINDFUL_API_URL", upstream.base.as_str()),
        ("MINDFUL_ALLOW_HTTP", "1"),
        ("MINDFUL_CLIENT_ID", "client"),
        ("MINDFUL_CLIENT_SECRET", "secret"),
    ];
    env.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
    env.extend_from_slice(extra);
    spawn(BIN, &env)
}

/// Issue 22, defect 1, on both of agent-answer's hosts over https: an interim-response flood on
/// the token endpoint, then on the Agent Answer API. The answer comes before the deadline, also
/// on ~0.17 of a core.
#[test]
fn an_interim_response_flood_cannot_stretch_the_budget() {
    let tls = mindful_sim::test_tls().expect("test CA");
    let (bundle, _) =
        mindful_sim::write_ca_bundle_with(&tls.ca_pem, &scratch_dir("hostile-aa")).unwrap();
    let bundle = bundle.display().to_string();
    let mut rows = Vec::new();
    for flood_on_token in [true, false] {
        let hostile = HostileUpstream::start_tls(tls.server_config.clone(), move |req, _| {
            if is_token(req) != flood_on_token {
                if is_token(req) {
                    good_token()
                } else {
                    Answer::Json(202, "{}".into())
                }
            } else {
                Answer::InterimFlood
            }
        });
        let token_url = format!("{}/oauth2/token", hostile.base);
        for starved in [false, true] {
            let mut f = spawn(
                BIN,
                &[
                    ("MINDFUL_TOKEN_URL", token_url.as_str()),
                    ("MINDFUL_API_URL", hostile.base.as_str()),
                    ("MINDFUL_CLIENT_ID", "client"),
                    ("MINDFUL_CLIENT_SECRET", "secret"),
                    ("SSL_CERT_FILE", bundle.as_str()),
                ],
            );
            let _starver = starved.then(|| CpuStarver::pin(f.pid(), 5).expect("taskset"));
            let inv = f
                .invoke_blocking_with(
                    &event(json!({}), Some(CALLER), "c"),
                    InvokeOptions::with_timeout(Duration::from_millis(1000)),
                )
                .expect("answered");
            let r = inv.response().expect("an answer").clone();
            assert_flat(&r);
            assert_eq!(outcome(&r).0, "error", "{r}");
            eprintln!(
                "interim flood on {}, starved={starved}: {} in {} ms (deadline 1000 ms)",
                if flood_on_token {
                    "token"
                } else {
                    "agentAnswer"
                },
                outcome(&r).1,
                inv.own_time.as_millis()
            );
            assert!(
                inv.own_time < Duration::from_millis(850),
                "token={flood_on_token} starved={starved}: {:?}",
                inv.own_time
            );
            rows.push(format!(
                "| {} | {} | {} |",
                if flood_on_token {
                    "`POST /oauth2/token`"
                } else {
                    "`POST /v2/callback/agentAnswer`"
                },
                if starved {
                    "pinned to one core beside 5 busy loops (~0.17 vCPU)"
                } else {
                    "full CPU"
                },
                bundle_testkit::cell(&r, inv.own_time)
            ));
        }
    }
    bundle_testkit::write_matrix_section(
        "hostile-agent-answer",
        &format!(
            "## agent-answer: interim-response flood (https, Lambda deadline 1000 ms, budget 800 ms)\n\n\
             | Flooded route | CPU | Answer |\n|---|---|---|\n{}\n",
            rows.join("\n")
        ),
    );
}

/// Issue 22, risk 3: a rotated client secret failed every call for the cache TTL. Now the token
/// endpoint's refusal leads to one fresh read and one retry; a wrong secret is re-read at most
/// once per TTL window. Tokens here live for one call (`expires_in: 0`), so every call needs the
/// secret.
#[test]
fn a_rotated_client_secret_is_read_again_once_per_ttl() {
    const OLD: &str = "Basic Y2xpZW50OmNzLW9sZA=="; // client:cs-old
    const NEW: &str = "Basic Y2xpZW50OmNzLW5ldw=="; // client:cs-new
    let accepted = Arc::new(Mutex::new(OLD.to_string()));
    let gate = accepted.clone();
    let hostile = HostileUpstream::start(move |req, _| {
        if !is_token(req) {
            Answer::Json(202, "{}".into())
        } else if req.header("authorization") == Some(gate.lock().unwrap().as_str()) {
            Answer::Json(
                200,
                json!({"access_token": "tok-1", "expires_in": 0}).to_string(),
            )
        } else {
            Answer::Json(401, r#"{"error":"invalid_client"}"#.into())
        }
    });
    let ext = SecretsExtension::start(SESSION).expect("extension");
    ext.put_secret(ARN, "cs-old");
    let ext_env = ext.env();
    let token_url = format!("{}/oauth2/token", hostile.base);
    let mut env: Vec<(&str, &str)> = ext_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    env.extend([
        ("MINDFUL_TOKEN_URL", token_url.as_str()),
        ("MINDFUL_API_URL", hostile.base.as_str()),
        ("MINDFUL_ALLOW_HTTP", "1"),
        ("MINDFUL_CLIENT_ID", "client"),
        ("MINDFUL_CLIENT_SECRET_ARN", ARN),
        ("AGENT_ANSWER_DEDUP_SECONDS", "0"),
    ]);
    let mut f = spawn(BIN, &env);
    let reads = || ext.requests().len();
    let mut call = |c: &str| outcome(&response(&mut f, event(json!({}), Some(CALLER), c)).0);
    assert_eq!(call("c1").0, "accepted");
    assert_eq!(reads(), 1);
    // Rotation: Mindful and Secrets Manager move on; the function's cache has not.
    *accepted.lock().unwrap() = NEW.into();
    ext.put_secret(ARN, "cs-new");
    assert_eq!(call("c2").0, "accepted");
    assert_eq!(reads(), 2, "one fresh read");
    assert_eq!(call("c3").0, "accepted");
    assert_eq!(reads(), 2, "the rotated secret is cached");
    // A secret nobody has: refused, and no re-read storm within the TTL window.
    *accepted.lock().unwrap() = "nobody".into();
    for c in ["c4", "c5", "c6"] {
        assert_eq!(call(c), ("error".into(), "auth_failed".into()));
    }
    assert_eq!(reads(), 2, "at most one re-read per TTL window");
}

/// Issue 22, risk 6: a blank `ContactId` made one caller's Agent Answer a "duplicate" of
/// another's. Blank means absent: both are sent.
#[test]
fn a_blank_contact_id_is_absent_not_a_duplicate() {
    let hostile = HostileUpstream::start(mindful);
    let mut f = answerer(&hostile, &[]);
    for (contact, number) in [("", CALLER), (" ", "+13209071299"), ("", "+13209071288")] {
        let (r, _) = response(&mut f, event(json!({}), Some(number), contact));
        assert_eq!(outcome(&r).0, "accepted", "{r}");
        assert_ne!(r["deduplicated"], "true", "{r}");
    }
    let answers = hostile.received().iter().filter(|r| !is_token(r)).count();
    assert_eq!(answers, 3);
}

/// Issue 22, risk 9: a token answer after a UTF-8 BOM, or with `expires_in: 1e999`, was refused.
/// Both are valid JSON: accepted, and the lifetime clamped (cached: one token for two calls).
#[test]
fn odd_but_valid_token_json_is_accepted() {
    for body in [
        "\u{feff}{\"access_token\":\"tok-bom\",\"expires_in\":3600}".to_string(),
        r#"{"access_token":"tok-big","expires_in":1e999}"#.to_string(),
    ] {
        let answer = body.clone();
        let hostile = HostileUpstream::start(move |req, _| {
            if is_token(req) {
                Answer::Json(200, answer.clone())
            } else {
                Answer::Json(202, "{}".into())
            }
        });
        let mut f = answerer(&hostile, &[("AGENT_ANSWER_DEDUP_SECONDS", "0")]);
        for c in ["c1", "c2"] {
            let (r, _) = response(&mut f, event(json!({}), Some(CALLER), c));
            assert_eq!(outcome(&r).0, "accepted", "{body}: {r}");
        }
        let tokens = hostile.received().iter().filter(|r| is_token(r)).count();
        assert_eq!(tokens, 1, "{body}: cached");
    }
}

/// Issue 22, risk 10: a `.suffix` allow-list entry matched IP literals (`.0.1` admitted
/// `127.0.0.1`). A flow-supplied URL to an IP is refused unless the IP itself is listed.
#[test]
fn a_suffix_entry_never_admits_an_ip_literal() {
    let hostile = HostileUpstream::start(mindful);
    let port = hostile.base.rsplit(':').next().unwrap().to_string();
    let token_url = format!("{}/oauth2/token", hostile.base);
    let allowed = format!(".0.1:{port}");
    let mut f = answerer(
        &hostile,
        &[
            (
                "MINDFUL_TOKEN_URL",
                "https://auth.getmindful.com/oauth2/token",
            ),
            ("MINDFUL_API_URL", "https://api.getmindful.com"),
            ("MINDFUL_ALLOWED_HOSTS", allowed.as_str()),
        ],
    );
    let (r, _) = response(
        &mut f,
        event(
            json!({"Token_URL": token_url, "API_URL": hostile.base}),
            Some(CALLER),
            "c",
        ),
    );
    assert_eq!(
        outcome(&r),
        ("error".into(), "invalid_config".into()),
        "{r}"
    );
    assert_eq!(hostile.count(), 0);
}
