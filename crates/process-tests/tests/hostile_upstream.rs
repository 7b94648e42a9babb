//! Each function against hostile upstreams, through the Lambda Runtime API: what a well-behaved
//! Mindful never sends (redirects, interim-response floods, endless or huge bodies, records for
//! another number, unusable tokens), odd secrets and settings (issue 22). Each was a defect; each
//! is a regression test at process level, over https where the item concerns the network.
//!
//! The interim-response flood is one table with a row per function (its flooded routes, its
//! calls, its section of `docs/fault-matrix.md` with `FAULT_MATRIX_OUT`); the other items are
//! each function's own, in its module.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bundle_testkit::{
    assert_error_mentions, assert_flat, assert_no_leaks, cell, event, outcome, response,
    scratch_dir, spawn, write_matrix_section, Answer, CpuStarver, HostileUpstream, Received,
    CALLER, CALLER_NATIONAL, OTHER_CALLER,
};
use lambda_harness::{FunctionProcess, InvokeOptions, SecretsExtension};
use mindful_sim::{Route, Sim, SimConfig};
use process_tests::binary;
use serde_json::{json, Value};

const SESSION: &str = "session-token-for-the-extension";
const BUDGET_MS: u64 = 1500;

/// The `(status, error)` of an answer, owned.
fn outcome_owned(r: &Value) -> (String, String) {
    let (status, error) = outcome(r);
    (status.to_string(), error.to_string())
}

/// A token endpoint's good answer.
fn good_token() -> Answer {
    Answer::Json(
        200,
        json!({"access_token": "tok.GOOD-1", "token_type": "Bearer", "expires_in": 3600})
            .to_string(),
    )
}

type Script = Box<dyn Fn(&Received, usize) -> Answer + Send + Sync>;
/// A row of a flood table: the flooded route, the CPU share, a cell per call.
type FloodCells = (&'static str, &'static str, Vec<String>);

/// A function's row of the interim-response flood table.
struct FloodRow {
    function: &'static str,
    /// One upstream per flooded route: the route's label and the upstream's script.
    floods: fn() -> Vec<(&'static str, Script)>,
    /// The function's variables for an upstream at `base` trusted through `ca_bundle`.
    env: fn(&str, &str) -> Vec<(&'static str, String)>,
    /// The calls made in each process: a label and the event.
    calls: fn() -> Vec<(&'static str, Value)>,
    /// The error codes a flooded call may answer (`None`: any error).
    codes: Option<&'static [&'static str]>,
    /// The `docs/fault-matrix.md` section from the rows `(route, CPU, cells)`.
    section: fn(&[FloodCells]) -> String,
}

const STARVED: &str = "pinned to one core beside 5 busy loops (~0.17 vCPU)";

impl FloodRow {
    /// Issue 22, defect 1: an upstream answering `100 Continue` over and over at full speed kept
    /// the task busy and answers came after the budget, some after the Lambda deadline. Now the
    /// connection's read guard ends it (the allowance, or the deadline) and the answer comes in
    /// time, also with the function pinned to one core beside five busy loops (~0.17 of a core,
    /// a 256 MB function's share).
    fn an_interim_response_flood_cannot_stretch_the_budget(&self) {
        let tls = mindful_sim::test_tls().expect("test CA");
        let scratch = scratch_dir(&format!("hostile-{}", self.function));
        let (bundle, _) = mindful_sim::write_ca_bundle_with(&tls.ca_pem, &scratch).unwrap();
        let bundle = bundle.display().to_string();
        let deadline = Duration::from_millis(1000);
        let mut rows = Vec::new();
        for (route, script) in (self.floods)() {
            let hostile = HostileUpstream::start_tls(tls.server_config.clone(), script);
            for starved in [false, true] {
                let env = (self.env)(&hostile.base, &bundle);
                let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
                let mut f = spawn(binary(self.function), &env);
                let _starver = starved.then(|| CpuStarver::pin(f.pid(), 5).expect("taskset"));
                let mut cells = Vec::new();
                for (call, e) in (self.calls)() {
                    let inv = f
                        .invoke_blocking_with(&e, InvokeOptions::with_timeout(deadline))
                        .expect("answered");
                    let r = inv
                        .response()
                        .expect("an answer, not a Lambda error")
                        .clone();
                    assert_flat(&r);
                    let (status, code) = outcome(&r);
                    assert_eq!(status, "error", "{r}");
                    if let Some(codes) = self.codes {
                        assert!(codes.contains(&code), "{call} starved={starved}: {r}");
                    }
                    eprintln!(
                        "{}: interim flood on {route}, {call}, starved={starved}: {code} in {} ms \
                         (deadline 1000 ms, budget 800 ms)",
                        self.function,
                        inv.own_time.as_millis()
                    );
                    assert!(
                        inv.own_time < Duration::from_millis(850),
                        "{route} {call} starved={starved}: answered after {:?}",
                        inv.own_time
                    );
                    cells.push(cell(&r, inv.own_time));
                }
                let cpu = if starved { STARVED } else { "full CPU" };
                rows.push((route, cpu, cells));
            }
        }
        let name = format!("hostile-{}", self.function);
        write_matrix_section(&name, &(self.section)(&rows));
    }
}

const AGENT_ANSWER_FLOOD: FloodRow = FloodRow {
    function: "agent-answer",
    // The token endpoint flooded (the API good), then the Agent Answer API (the token good).
    floods: || {
        [true, false]
            .map(|flood_on_token| {
                let route = if flood_on_token {
                    "`POST /oauth2/token`"
                } else {
                    "`POST /v2/callback/agentAnswer`"
                };
                let script: Script = Box::new(move |req, n| {
                    if agent_answer::is_token(req) == flood_on_token {
                        Answer::InterimFlood
                    } else {
                        agent_answer::mindful(req, n)
                    }
                });
                (route, script)
            })
            .into()
    },
    env: |base, bundle| {
        vec![
            ("MINDFUL_TOKEN_URL", format!("{base}/oauth2/token")),
            ("MINDFUL_API_URL", base.to_string()),
            ("MINDFUL_CLIENT_ID", "client".into()),
            ("MINDFUL_CLIENT_SECRET", "secret".into()),
            ("SSL_CERT_FILE", bundle.to_string()),
        ]
    },
    calls: || vec![("whisper", event(json!({}), Some(CALLER), "c"))],
    codes: None,
    section: |rows| {
        let rows: Vec<String> = rows
            .iter()
            .map(|(route, cpu, cells)| format!("| {route} | {cpu} | {} |", cells[0]))
            .collect();
        format!(
            "## agent-answer: interim-response flood (https, Lambda deadline 1000 ms, budget 800 ms)\n\n\
             | Flooded route | CPU | Answer |\n|---|---|---|\n{}\n",
            rows.join("\n")
        )
    },
};

const DATASTORE_PROXY_FLOOD: FloodRow = FloodRow {
    function: "datastore-proxy",
    floods: || {
        let script: Script = Box::new(|_, _| Answer::InterimFlood);
        vec![("the Datastore", script)]
    },
    env: |base, bundle| {
        vec![
            ("DATASTORE_URL", base.to_string()),
            ("DATASTORE_TOKEN", "ds-token".into()),
            ("SSL_CERT_FILE", bundle.to_string()),
        ]
    },
    calls: || {
        ["POST", "GET"]
            .map(|method| (method, event(json!({"method": method}), Some(CALLER), "c")))
            .into()
    },
    codes: Some(&["upstream_error", "bad_response", "timeout"]),
    section: |rows| {
        let rows: Vec<String> = rows
            .iter()
            .map(|(_, cpu, cells)| format!("| {cpu} | {} | {} |", cells[0], cells[1]))
            .collect();
        format!(
            "## datastore-proxy: interim-response flood (https, Lambda deadline 1000 ms, budget 800 ms)\n\n\
             `100 Continue` over and over at full speed, never a final answer \
             (`tests/hostile_upstream.rs`, debug build). The connection ends after \
             {} interim responses or the request's byte allowance, whichever comes first.\n\n\
             | CPU | POST | GET |\n|---|---|---|\n{}\n",
            mindful_core::transport::MAX_INTERIM_RESPONSES,
            rows.join("\n")
        )
    },
};

#[test]
fn agent_answer_an_interim_response_flood_cannot_stretch_the_budget() {
    AGENT_ANSWER_FLOOD.an_interim_response_flood_cannot_stretch_the_budget();
}

#[test]
fn datastore_proxy_an_interim_response_flood_cannot_stretch_the_budget() {
    DATASTORE_PROXY_FLOOD.an_interim_response_flood_cannot_stretch_the_budget();
}

/// agent-answer against a hostile token endpoint and Agent Answer API: redirects, unusable
/// tokens (which once poisoned the cache for up to a day), `expires_in` edge cases, bodies that
/// never end, a rotated secret, blank contact ids, odd token JSON, the allow-list.
mod agent_answer {
    use super::*;

    const AA_ARN: &str =
        "arn:aws:secretsmanager:us-east-1:111122223333:secret:mindful/client-Ab12Cd";

    fn answerer_at(token_url: &str, api_url: &str) -> FunctionProcess {
        let budget = BUDGET_MS.to_string();
        spawn(
            binary("agent-answer"),
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
            let mut f = answerer_at(&token_url, &api_url);
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
            let mut f = answerer_at(&token_url, &api_url);
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
            let mut f = answerer_at(&token_url, &api_url);
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
            let mut f = answerer_at(&token_url, &api_url);
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
        let mut f = answerer_at(&token_url, &api_url);
        let started = Instant::now();
        let (r, _) = response(&mut f, event(json!({}), Some(CALLER), "c"));
        assert_eq!(outcome(&r), ("error", "auth_failed"), "{r}");
        assert!(started.elapsed() < Duration::from_millis(BUDGET_MS));
        drop(server);

        let (_server, token_url, api_url) = upstream(|_| good_token(), || Answer::Endless);
        let mut f = answerer_at(&token_url, &api_url);
        let started = Instant::now();
        let (r, _) = response(&mut f, event(json!({}), Some(CALLER), "c"));
        assert_eq!(outcome(&r), ("error", "bad_response"), "{r}");
        assert!(started.elapsed() < Duration::from_millis(BUDGET_MS));
    }

    pub(super) fn is_token(r: &Received) -> bool {
        r.path() == "/oauth2/token"
    }

    /// A well-behaved Mindful on both routes.
    pub(super) fn mindful(req: &Received, _: usize) -> Answer {
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
        spawn(binary("agent-answer"), &env)
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
        ext.put_secret(AA_ARN, "cs-old");
        let ext_env = ext.env();
        let token_url = format!("{}/oauth2/token", hostile.base);
        let mut env: Vec<(&str, &str)> = ext_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        env.extend([
            ("MINDFUL_TOKEN_URL", token_url.as_str()),
            ("MINDFUL_API_URL", hostile.base.as_str()),
            ("MINDFUL_ALLOW_HTTP", "1"),
            ("MINDFUL_CLIENT_ID", "client"),
            ("MINDFUL_CLIENT_SECRET_ARN", AA_ARN),
            ("AGENT_ANSWER_DEDUP_SECONDS", "0"),
        ]);
        let mut f = spawn(binary("agent-answer"), &env);
        let reads = || ext.requests().len();
        let mut call =
            |c: &str| outcome_owned(&response(&mut f, event(json!({}), Some(CALLER), c)).0);
        assert_eq!(call("c1").0, "accepted");
        assert_eq!(reads(), 1);
        // Rotation: Mindful and Secrets Manager move on; the function's cache has not.
        *accepted.lock().unwrap() = NEW.into();
        ext.put_secret(AA_ARN, "cs-new");
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
            assert_eq!(outcome_owned(&r).0, "accepted", "{r}");
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
                assert_eq!(outcome_owned(&r).0, "accepted", "{body}: {r}");
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
            outcome_owned(&r),
            ("error".into(), "invalid_config".into()),
            "{r}"
        );
        assert_eq!(hostile.count(), 0);
    }
}

/// datastore-proxy against a hostile Datastore: redirects, bodies that never end or are far too
/// large, a record for another number, attributes named like control keys, odd secrets, proxy
/// variables, a certificate for another name, POST answers, numbers as written, bad settings.
mod datastore_proxy {
    use super::*;

    const DS_ARN: &str = "arn:aws:secretsmanager:us-east-1:111122223333:secret:mindful/ds-Ab12Cd";

    fn proxy(base: &str, extra: &[(&str, &str)]) -> FunctionProcess {
        let budget = BUDGET_MS.to_string();
        let mut env = vec![
            ("DATASTORE_URL", base),
            ("MINDFUL_ALLOW_HTTP", "1"),
            ("DATASTORE_TOKEN", "ds-token"),
            ("REQUEST_BUDGET_MS", budget.as_str()),
        ];
        env.extend_from_slice(extra);
        spawn(binary("datastore-proxy"), &env)
    }

    /// Regression: redirects were followed (up to 10, to any host, to plain http): a 307/308 re-sent
    /// the caller's number and context elsewhere, a 302/303 turned the POST into a GET that answered
    /// `ok` with nothing stored.
    #[test]
    fn redirects_are_answered_not_followed() {
        let sim = Sim::start_blocking(SimConfig::default()).expect("simulator");
        for status in [301u16, 302, 303, 307, 308] {
            let target = format!("{}/api/v1/data_sets", sim.base_url());
            let hostile =
                HostileUpstream::start(move |_, _| Answer::Redirect(status, target.clone()));
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
                json!({"customer_contact_number": OTHER_CALLER, "account_number": "AC-9"})
                    .to_string(),
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

    /// datastore-proxy with `extension`'s variables (port, session token), then `env`.
    fn with_extension(extension: &SecretsExtension, env: &[(&str, &str)]) -> FunctionProcess {
        let ext_env = extension.env();
        let mut all: Vec<(&str, &str)> = ext_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        all.extend_from_slice(env);
        spawn(binary("datastore-proxy"), &all)
    }

    /// datastore-proxy with `upstream` as Datastore over plain http and a configured token.
    fn plain(upstream: &HostileUpstream) -> FunctionProcess {
        spawn(
            binary("datastore-proxy"),
            &[
                ("DATASTORE_URL", upstream.base.as_str()),
                ("MINDFUL_ALLOW_HTTP", "1"),
                ("DATASTORE_TOKEN", "ds-token"),
            ],
        )
    }

    /// An https hostile upstream for `localhost` and the CA bundle trusting it.
    fn https_hostile(
        script: impl Fn(&bundle_testkit::Received, usize) -> Answer + Send + Sync + 'static,
    ) -> (HostileUpstream, String) {
        let tls = mindful_sim::test_tls().expect("test CA");
        let (bundle, _) =
            mindful_sim::write_ca_bundle_with(&tls.ca_pem, &scratch_dir("hostile-ds")).unwrap();
        (
            HostileUpstream::start_tls(tls.server_config, script),
            bundle.display().to_string(),
        )
    }

    /// Issue 22, risk 2: with `DATASTORE_TOKEN_SECRET_KEY` named, a SecretString that is not a JSON
    /// object holding the key (a trailing comma, plain text, another key) was sent whole as the
    /// token. Now `invalid_config` naming the variable, and nothing is sent.
    #[test]
    fn a_secret_without_the_named_key_is_invalid_config_and_never_sent() {
        let hostile = HostileUpstream::start(|_, _| Answer::Json(201, "{}".into()));
        for secret_string in [
            r#"{"api_token":"ds-ok","other_system_password":"hunter2",}"#,
            "other-system-password-hunter2",
            r#"{"something_else":"hunter2"}"#,
            r#"{"api_token":""}"#,
        ] {
            let ext = SecretsExtension::start(SESSION).expect("extension");
            ext.put_secret(DS_ARN, secret_string);
            let mut f = with_extension(
                &ext,
                &[
                    ("DATASTORE_URL", hostile.base.as_str()),
                    ("MINDFUL_ALLOW_HTTP", "1"),
                    ("DATASTORE_TOKEN_SECRET_ARN", DS_ARN),
                    ("DATASTORE_TOKEN_SECRET_KEY", "api_token"),
                ],
            );
            let (r, _) = response(&mut f, event(json!({"method": "POST"}), Some(CALLER), "c"));
            assert_error_mentions(&r, "invalid_config", "DATASTORE_TOKEN_SECRET_KEY");
            assert_no_leaks("answer", &r.to_string(), &["hunter2"], &[]);
            assert_no_leaks("logs", &f.log_text(), &["hunter2"], &[]);
        }
        assert_eq!(hostile.count(), 0, "nothing was sent");
    }

    /// Issue 22, risk 3: after a rotation, every call failed for the whole cache TTL. Now a 401 leads
    /// to one fresh read (past the cache) and one retry with the new token; a wrong secret cannot
    /// storm the extension (at most one re-read per TTL window).
    #[test]
    fn a_rotated_token_is_read_again_after_a_401_once_per_ttl() {
        let accepted = Arc::new(Mutex::new("Bearer ds-old".to_string()));
        let gate = accepted.clone();
        let hostile = HostileUpstream::start(move |req, _| {
            if req.header("authorization") == Some(gate.lock().unwrap().as_str()) {
                Answer::Json(201, "{}".into())
            } else {
                Answer::Json(401, r#"{"error":"InvalidToken"}"#.into())
            }
        });
        let ext = SecretsExtension::start(SESSION).expect("extension");
        ext.put_secret(DS_ARN, "ds-old");
        let mut f = with_extension(
            &ext,
            &[
                ("DATASTORE_URL", hostile.base.as_str()),
                ("MINDFUL_ALLOW_HTTP", "1"),
                ("DATASTORE_TOKEN_SECRET_ARN", DS_ARN),
            ],
        );
        let post = |f: &mut FunctionProcess, c: &str| {
            response(f, event(json!({"method": "POST"}), Some(CALLER), c)).0
        };
        let reads = || {
            ext.requests()
                .iter()
                .filter(|r| r.path == "/secretsmanager/get")
                .count()
        };
        assert_eq!(outcome_owned(&post(&mut f, "c1")).0, "ok");
        assert_eq!(reads(), 1);
        // Rotation: Mindful and Secrets Manager move to the new token; the function's cache has not.
        *accepted.lock().unwrap() = "Bearer ds-new".into();
        ext.put_secret(DS_ARN, "ds-new");
        let r = post(&mut f, "c2");
        assert_eq!(outcome_owned(&r).0, "ok", "{r}");
        assert_eq!(reads(), 2, "one fresh read");
        assert_eq!(
            hostile.count(),
            3,
            "c1, c2 refused, c2 with the rotated token"
        );
        assert_eq!(outcome_owned(&post(&mut f, "c3")).0, "ok");
        assert_eq!(reads(), 2, "the rotated token is cached");
        // A token nobody has: refused, and no re-read storm within the TTL window.
        *accepted.lock().unwrap() = "Bearer nobody-has-this".into();
        for c in ["c4", "c5", "c6"] {
            assert_eq!(
                outcome_owned(&post(&mut f, c)),
                ("error".into(), "unauthorized".into())
            );
        }
        assert_eq!(reads(), 2, "at most one re-read per TTL window");
    }

    /// Issue 22, risk 4: `HTTP_PROXY` captured the secrets-extension request with the
    /// `AWS_SESSION_TOKEN` header. No request of the function ever goes through a proxy (the client
    /// has no proxy support: docs/design.md), over https to Mindful and plain http to the extension.
    #[test]
    fn proxy_variables_capture_nothing() {
        let proxy = HostileUpstream::start(|_, _| Answer::Json(200, "{}".into()));
        let (mindful, bundle) = https_hostile(|_, _| Answer::Json(201, "{}".into()));
        let ext = SecretsExtension::start(SESSION).expect("extension");
        ext.put_secret(DS_ARN, "ds-token");
        let mut env: Vec<(&str, &str)> = [
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "ALL_PROXY",
            "http_proxy",
            "https_proxy",
            "all_proxy",
        ]
        .into_iter()
        .map(|var| (var, proxy.base.as_str()))
        .collect();
        env.extend([
            ("DATASTORE_URL", mindful.base.as_str()),
            ("DATASTORE_TOKEN_SECRET_ARN", DS_ARN),
            ("SSL_CERT_FILE", bundle.as_str()),
        ]);
        let mut f = with_extension(&ext, &env);
        let (r, _) = response(&mut f, event(json!({"method": "POST"}), Some(CALLER), "c"));
        assert_eq!(outcome_owned(&r).0, "ok", "{r}");
        assert_eq!(proxy.count(), 0, "{:?}", proxy.received());
        assert_eq!(ext.requests().len(), 1);
        assert_eq!(mindful.count(), 1);
    }

    /// Issue 22, risk 5: a wrong-name certificate's names (which can hold a phone number) reached
    /// `error_message` and the WARN log verbatim. Now our own words.
    #[test]
    fn a_certificate_for_another_name_is_described_in_our_words() {
        let tls =
            mindful_sim::test_tls_for(&[&format!("{CALLER_NATIONAL}.attacker.test")]).unwrap();
        let (bundle, _) =
            mindful_sim::write_ca_bundle_with(&tls.ca_pem, &scratch_dir("hostile-ds-name"))
                .unwrap();
        let hostile =
            HostileUpstream::start_tls(tls.server_config, |_, _| Answer::Json(201, "{}".into()));
        let bundle = bundle.display().to_string();
        let mut f = spawn(
            binary("datastore-proxy"),
            &[
                ("DATASTORE_URL", hostile.base.as_str()),
                ("DATASTORE_TOKEN", "ds-token"),
                ("SSL_CERT_FILE", bundle.as_str()),
            ],
        );
        let (r, _) = response(&mut f, event(json!({"method": "GET"}), Some(CALLER), "c"));
        assert_error_mentions(
            &r,
            "upstream_error",
            "certificate is not valid for the host name",
        );
        assert_no_leaks("answer", &r.to_string(), &["attacker"], &[CALLER_NATIONAL]);
        assert_no_leaks("logs", &f.log_text(), &["attacker"], &[CALLER_NATIONAL]);
    }

    /// Issue 22, risk 7: a POST answer for another number was `ok`, and `{}` was `bad_response`.
    /// One rule for both calls: a record for another number is refused, an empty answer is fine.
    #[test]
    fn post_answers_follow_the_get_rule() {
        for (answer, want) in [
            (
                json!({"customer_contact_number": OTHER_CALLER}).to_string(),
                ("error", "bad_response"),
            ),
            ("{}".to_string(), ("ok", "")),
            (String::new(), ("ok", "")),
            (
                json!({"customer_contact_number": CALLER, "time_to_expire": "2026-12-04T00:00:00Z"})
                    .to_string(),
                ("ok", ""),
            ),
        ] {
            let body = answer.clone();
            let hostile = HostileUpstream::start(move |_, _| Answer::Json(201, body.clone()));
            let mut f = plain(&hostile);
            let (r, _) = response(&mut f, event(json!({"method": "POST"}), Some(CALLER), "c"));
            assert_eq!(
                outcome_owned(&r),
                (want.0.to_string(), want.1.to_string()),
                "{answer}: {r}"
            );
        }
    }

    /// Issue 22, risks 8 and 9: numbers came back reformatted (`1E2` as "100.0"), and a record
    /// after a UTF-8 BOM was refused. Numbers keep their JSON text; a leading BOM is ignored.
    #[test]
    fn records_keep_numbers_as_written_and_may_start_with_a_bom() {
        let record = format!(
            "\u{feff}{{\"customer_contact_number\":\"{CALLER}\",\"a\":1E2,\"b\":-0,\"c\":1.50,\"d\":12345678901234567890}}"
        );
        let hostile = HostileUpstream::start(move |_, _| Answer::Json(200, record.clone()));
        let mut f = plain(&hostile);
        let (r, _) = response(&mut f, event(json!({"method": "GET"}), Some(CALLER), "c"));
        assert_eq!(outcome_owned(&r).0, "ok", "{r}");
        // The digits as written; an exponent comes back in serde_json's spelling (datastore-proxy README).
        assert_eq!(r["a"], "1e+2", "{r}");
        assert_eq!(r["b"], "-0", "{r}");
        assert_eq!(r["c"], "1.50", "{r}");
        assert_eq!(r["d"], "12345678901234567890", "{r}");
    }

    /// Issue 22, risk 10: invalid settings were silently defaulted or never matched. Each is now
    /// reported as `invalid_config` naming its variable, before anything is sent.
    #[test]
    fn invalid_settings_are_invalid_config_naming_the_variable() {
        let hostile = HostileUpstream::start(|_, _| Answer::Json(201, "{}".into()));
        let base = hostile.base.clone();
        let cases: Vec<(&str, String)> = vec![
            ("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", "abc".into()),
            ("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", "0".into()),
            ("SECRETS_CACHE_TTL_SECONDS", "-1".into()),
            ("SECRETS_CACHE_TTL_SECONDS", "5m".into()),
            (
                "MINDFUL_ALLOWED_HOSTS",
                "https://api-ds.getmindful.com".into(),
            ),
            ("MINDFUL_ALLOWED_HOSTS", "api-ds.getmindful.com:443/".into()),
            ("MINDFUL_ALLOWED_HOSTS", "api-ds.getmindful.com:0".into()),
            ("DATASTORE_URL", format!("{base}/?tenant=1")),
            ("DATASTORE_URL", format!("{base}/#frag")),
            ("DATASTORE_URL", "http://127.0.0.1:0".into()),
        ];
        for (var, value) in cases {
            let mut env = vec![
                ("DATASTORE_URL", base.as_str()),
                ("MINDFUL_ALLOW_HTTP", "1"),
                ("DATASTORE_TOKEN", "ds-token"),
            ];
            env.retain(|(k, _)| *k != var);
            env.push((var, value.as_str()));
            let mut f = spawn(binary("datastore-proxy"), &env);
            let (r, _) = response(&mut f, event(json!({"method": "POST"}), Some(CALLER), "c"));
            assert_error_mentions(&r, "invalid_config", var);
            // The log reader may lag the answer by a moment on a loaded machine.
            let name = var.to_string();
            let logged = f.log_text().contains(var)
                || f.wait_for_log_blocking(
                    move |l| l.text.contains(&name),
                    std::time::Duration::from_secs(5),
                )
                .unwrap_or(false);
            assert!(logged, "reported at start: {var}={value}");
        }
        assert_eq!(hostile.count(), 0);
    }
}
