//! End to end: the built `ocw-phrase` binary as a real process behind the Lambda Runtime API
//! (`lambda-harness`), fed every `events/ocw-phrase*.json` file.

// Test code: a failed unwrap is a failed test (the deny is for the deployed code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use bundle_testkit::{assert_unreadable_payloads_answered, response};
use lambda_harness::FunctionProcess;
use serde_json::{json, Value};

fn spawn(env: &[(&str, &str)]) -> FunctionProcess {
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    FunctionProcess::spawn(env!("CARGO_BIN_EXE_ocw-phrase"), &env).expect("spawn ocw-phrase")
}

fn read_event(name: &str) -> Value {
    let text =
        std::fs::read_to_string(bundle_testkit::events_dir().join(name)).expect("event file");
    serde_json::from_str(&text).expect("event JSON")
}

#[test]
fn every_event_file_through_the_runtime_api() {
    let mut f = spawn(&[]);
    let samples = common::samples();
    for sample in &samples {
        let event = sample.event();
        let invoked = f
            .invoke_blocking(event.clone())
            .expect("invocation completes");
        let Some(r) = invoked.response() else {
            panic!("{}: function error {:?}", sample.name, invoked.error());
        };
        common::check(&event, r, sample);
        // Pure computation: generous bound for a loaded debug build, far below Connect's 3 s.
        assert!(
            invoked.own_time < Duration::from_millis(500),
            "{:?}",
            invoked.own_time
        );
    }

    assert!(f.is_running(), "the process must keep serving");
    let init = f.init_time();
    // Shut down first so the captured output is complete before asserting on it.
    let report = f.shutdown().expect("shutdown");
    assert!(!report.exited_on_its_own, "{report:?}");
    eprintln!(
        "ocw-phrase (debug build): init {init:?}, peak RSS {:?} KiB",
        report.peak_rss_kib
    );

    // One structured log line per invocation, and no caller number anywhere in the output.
    let logs = f.json_logs();
    let lines: Vec<&Value> = logs
        .iter()
        .filter(|l| l["message"] == "invocation" && l["function"] == "ocw-phrase")
        .collect();
    assert_eq!(lines.len(), samples.len(), "{}", f.log_text());
    assert!(lines.iter().any(|l| l["error"] == "invalid_ocw"));
    assert!(!f.log_text().contains("3209071234"), "{}", f.log_text());
}

#[test]
fn configuration_from_the_environment() {
    let mut f = spawn(&[
        ("OCW_CAP_SECONDS", "1800"),
        ("OCW_OFFER_THRESHOLD_SECONDS", "3601"),
    ]);
    let (r, _) = response(&mut f, read_event("ocw-phrase-over-cap.json"));
    assert_eq!(r["status"], "ok");
    assert_eq!(r["OCW"], "more than 30 minutes");
    assert_eq!(r["offer_callback"], "false");
    // The per-call override wins over the environment.
    let mut event = read_event("ocw-phrase-over-cap.json");
    event["Details"]["Parameters"]["cap_seconds"] = json!("3600");
    event["Details"]["Parameters"]["offer_threshold_seconds"] = json!("60");
    let (r, _) = response(&mut f, event);
    assert_eq!(r["OCW"], "about 1 hour");
    assert_eq!(r["offer_callback"], "true");
    assert_eq!(r["cap_seconds"], "3600");
}

#[test]
fn invalid_configuration_answers_errors_instead_of_failing_init() {
    let mut f = spawn(&[("OCW_CAP_SECONDS", "ten minutes")]);
    for _ in 0..2 {
        let (r, _) = response(&mut f, read_event("ocw-phrase.json"));
        assert_eq!(r["status"], "error");
        assert_eq!(r["error"], "invalid_config");
        assert_eq!(r["offer_callback"], "false");
        assert_eq!(r["OCW"], "125");
        let msg = r["error_message"].as_str().unwrap_or_default();
        assert!(msg.contains("OCW_CAP_SECONDS"), "{msg}");
    }
    assert!(f.is_running());
    f.shutdown().expect("shutdown");
    assert!(
        f.log_text().contains("configuration is invalid"),
        "{}",
        f.log_text()
    );
}

#[test]
fn every_unreadable_payload_is_an_answer() {
    let mut f = spawn(&[]);
    for payload in [
        json!(null),
        json!("OCW"),
        json!([1, 2]),
        json!({}),
        json!({"Details": {"Parameters": {"OCW": 125.9}, "ContactData": null}}),
    ] {
        let (r, _) = response(&mut f, payload.clone());
        assert!(
            r["status"] == "ok" || r["error"] == "invalid_ocw",
            "{payload}: {r}"
        );
    }
    // Not JSON at all (Connect never sends this): answered `invalid_event` like any other bad
    // input, never a Lambda error, and the process keeps serving.
    assert_unreadable_payloads_answered(&mut f);
    let (r, _) = response(&mut f, read_event("ocw-phrase.json"));
    assert_eq!(r["OCW"], "about 3 minutes");
}
