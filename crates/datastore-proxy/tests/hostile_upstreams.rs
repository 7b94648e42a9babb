//! datastore-proxy against hostile upstreams and odd secrets (issue 22), each a regression test
//! at process level: the release-shaped binary on the Runtime API emulator, over https where
//! the item concerns the network.

// Test code: a failed unwrap is a failed test (the deny is for the deployed code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bundle_testkit::{
    assert_error_mentions, assert_flat, assert_no_leaks, event, response, scratch_dir, spawn,
    CALLER, CALLER_NATIONAL, OTHER_CALLER,
};
use bundle_testkit::{Answer, CpuStarver, HostileUpstream};
use lambda_harness::SecretsExtension;
use lambda_harness::{FunctionProcess, InvokeOptions};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_datastore-proxy");
const ARN: &str = "arn:aws:secretsmanager:us-east-1:111122223333:secret:mindful/ds-Ab12Cd";
const SESSION: &str = "session-token-for-the-extension";

fn outcome(r: &Value) -> (String, String) {
    (
        r["status"].as_str().unwrap_or("").to_string(),
        r["error"].as_str().unwrap_or("").to_string(),
    )
}

/// datastore-proxy with `extension`'s variables (port, session token), then `env`.
fn with_extension(extension: &SecretsExtension, env: &[(&str, &str)]) -> FunctionProcess {
    let ext_env = extension.env();
    let mut all: Vec<(&str, &str)> = ext_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    all.extend_from_slice(env);
    spawn(BIN, &all)
}

/// datastore-proxy with `upstream` as Datastore over plain http and a configured token.
fn plain(upstream: &HostileUpstream) -> FunctionProcess {
    spawn(
        BIN,
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

/// Issue 22, defect 1: an upstream answering `100 Continue` over and over at full speed kept the
/// task busy and answers came after the budget, some after the Lambda deadline. Now the
/// connection's read guard ends it (the allowance, or the deadline) and the answer comes in
/// time, also with the function pinned to one core beside five busy loops (~0.17 of a core, a
/// 256 MB function's share).
#[test]
fn an_interim_response_flood_cannot_stretch_the_budget() {
    let (hostile, bundle) = https_hostile(|_, _| Answer::InterimFlood);
    let deadline = Duration::from_millis(1000);
    let mut rows = Vec::new();
    for starved in [false, true] {
        let mut cells = Vec::new();
        let mut f = spawn(
            BIN,
            &[
                ("DATASTORE_URL", hostile.base.as_str()),
                ("DATASTORE_TOKEN", "ds-token"),
                ("SSL_CERT_FILE", bundle.as_str()),
            ],
        );
        let _starver = starved.then(|| CpuStarver::pin(f.pid(), 5).expect("taskset"));
        for method in ["POST", "GET"] {
            let inv = f
                .invoke_blocking_with(
                    &event(json!({"method": method}), Some(CALLER), "c"),
                    InvokeOptions::with_timeout(deadline),
                )
                .expect("answered");
            let r = inv
                .response()
                .expect("an answer, not a Lambda error")
                .clone();
            assert_flat(&r);
            let (status, code) = outcome(&r);
            assert_eq!(status, "error", "{r}");
            assert!(
                code == "upstream_error" || code == "bad_response" || code == "timeout",
                "{method} starved={starved}: {r}"
            );
            eprintln!(
                "interim flood, {method}, starved={starved}: {} in {} ms (deadline 1000 ms, budget 800 ms)",
                code,
                inv.own_time.as_millis()
            );
            assert!(
                inv.own_time < Duration::from_millis(850),
                "{method} starved={starved}: answered after {:?}",
                inv.own_time
            );
            cells.push(bundle_testkit::cell(&r, inv.own_time));
        }
        rows.push(format!(
            "| {} | {} | {} |",
            if starved {
                "pinned to one core beside 5 busy loops (~0.17 vCPU)"
            } else {
                "full CPU"
            },
            cells[0],
            cells[1]
        ));
    }
    bundle_testkit::write_matrix_section(
        "hostile-datastore-proxy",
        &format!(
            "## datastore-proxy: interim-response flood (https, Lambda deadline 1000 ms, budget 800 ms)\n\n\
             `100 Continue` over and over at full speed, never a final answer \
             (`tests/hostile_upstreams.rs`, debug build). The connection ends after \
             {} interim responses or the request's byte allowance, whichever comes first.\n\n\
             | CPU | POST | GET |\n|---|---|---|\n{}\n",
            mindful_core::transport::MAX_INTERIM_RESPONSES,
            rows.join("\n")
        ),
    );
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
        ext.put_secret(ARN, secret_string);
        let mut f = with_extension(
            &ext,
            &[
                ("DATASTORE_URL", hostile.base.as_str()),
                ("MINDFUL_ALLOW_HTTP", "1"),
                ("DATASTORE_TOKEN_SECRET_ARN", ARN),
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
    ext.put_secret(ARN, "ds-old");
    let mut f = with_extension(
        &ext,
        &[
            ("DATASTORE_URL", hostile.base.as_str()),
            ("MINDFUL_ALLOW_HTTP", "1"),
            ("DATASTORE_TOKEN_SECRET_ARN", ARN),
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
    assert_eq!(outcome(&post(&mut f, "c1")).0, "ok");
    assert_eq!(reads(), 1);
    // Rotation: Mindful and Secrets Manager move to the new token; the function's cache has not.
    *accepted.lock().unwrap() = "Bearer ds-new".into();
    ext.put_secret(ARN, "ds-new");
    let r = post(&mut f, "c2");
    assert_eq!(outcome(&r).0, "ok", "{r}");
    assert_eq!(reads(), 2, "one fresh read");
    assert_eq!(
        hostile.count(),
        3,
        "c1, c2 refused, c2 with the rotated token"
    );
    assert_eq!(outcome(&post(&mut f, "c3")).0, "ok");
    assert_eq!(reads(), 2, "the rotated token is cached");
    // A token nobody has: refused, and no re-read storm within the TTL window.
    *accepted.lock().unwrap() = "Bearer nobody-has-this".into();
    for c in ["c4", "c5", "c6"] {
        assert_eq!(
            outcome(&post(&mut f, c)),
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
    ext.put_secret(ARN, "ds-token");
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
        ("DATASTORE_TOKEN_SECRET_ARN", ARN),
        ("SSL_CERT_FILE", bundle.as_str()),
    ]);
    let mut f = with_extension(&ext, &env);
    let (r, _) = response(&mut f, event(json!({"method": "POST"}), Some(CALLER), "c"));
    assert_eq!(outcome(&r).0, "ok", "{r}");
    assert_eq!(proxy.count(), 0, "{:?}", proxy.received());
    assert_eq!(ext.requests().len(), 1);
    assert_eq!(mindful.count(), 1);
}

/// Issue 22, risk 5: a wrong-name certificate's names (which can hold a phone number) reached
/// `error_message` and the WARN log verbatim. Now our own words.
#[test]
fn a_certificate_for_another_name_is_described_in_our_words() {
    let tls = mindful_sim::test_tls_for(&[&format!("{CALLER_NATIONAL}.attacker.test")]).unwrap();
    let (bundle, _) =
        mindful_sim::write_ca_bundle_with(&tls.ca_pem, &scratch_dir("hostile-ds-name")).unwrap();
    let hostile =
        HostileUpstream::start_tls(tls.server_config, |_, _| Answer::Json(201, "{}".into()));
    let bundle = bundle.display().to_string();
    let mut f = spawn(
        BIN,
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
            outcome(&r),
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
    assert_eq!(outcome(&r).0, "ok", "{r}");
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
        let mut f = spawn(BIN, &env);
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
