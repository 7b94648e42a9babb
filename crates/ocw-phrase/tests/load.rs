//! Load through the Lambda Runtime API: many sequential invocations of the built binary, checking
//! that memory stays flat. (No upstream: ocw-phrase makes no HTTP calls.)
//!
//! * `load_ci`: 1 000 invocations, in the normal test run.
//! * `load_ci_own_memory_is_flat`: 2 000 invocations with a constant trace id: the function's
//!   own memory must stay flat (with unique ids lambda_runtime's `setenv` grows ~130 B/call).
//! * `load_10k` (`#[ignore]`): 10 000 invocations; `cargo test -p ocw-phrase --test load --
//!   --ignored --nocapture` prints the numbers.

// Test code: a failed unwrap is a failed test (the deny is for the deployed code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use lambda_harness::testkit::{check_load, invoke_traced, LoadReport, TraceIds};
use lambda_harness::FunctionProcess;
use serde_json::json;

fn run(n: usize, checkpoints: &[usize], trace: TraceIds) -> LoadReport {
    let mut f = FunctionProcess::builder(env!("CARGO_BIN_EXE_ocw-phrase"))
        .env("MINDFUL_METRICS", "false")
        .spawn()
        .expect("spawn ocw-phrase");
    let languages = ["en-US", "es-MX", "fr-CA", "de-DE"];
    let started = Instant::now();
    let mut rss = Vec::new();
    for i in 1..=n {
        let e = json!({"Name": "ContactFlowEvent", "Details": {
            "ContactData": {"ContactId": format!("contact-{i}"), "LanguageCode": languages[i % 4],
                "CustomerEndpoint": {"Address": "+13209071234", "Type": "TELEPHONE_NUMBER"}},
            "Parameters": {"OCW": (i % 900).to_string(), "agents_available": (i % 3).to_string(),
                "queue": "Billing"}}});
        let invoked = invoke_traced(&mut f, e, trace);
        let r = invoked
            .response()
            .unwrap_or_else(|| panic!("#{i}: Lambda error {:?}", invoked.error()));
        assert_eq!(r["status"], "ok", "#{i}: {r}");
        if checkpoints.contains(&i) {
            rss.push((i, f.rss_kib().expect("VmRSS")));
        }
    }
    let elapsed = started.elapsed();
    f.shutdown().expect("shutdown");
    LoadReport {
        invocations: n,
        trace,
        rss_kib: rss,
        connections: None,
        elapsed,
    }
}

#[test]
fn load_ci() {
    check_load("ocw-phrase", &run(1_000, &[200, 1_000], TraceIds::Unique));
}

#[test]
#[ignore = "10 000 invocations; run with --ignored"]
fn load_10k() {
    check_load(
        "ocw-phrase",
        &run(10_000, &[1_000, 10_000], TraceIds::Unique),
    );
}

/// The function's own memory stays flat: the same load with a constant trace id.
#[test]
fn load_ci_own_memory_is_flat() {
    check_load("ocw-phrase", &run(2_000, &[500, 2_000], TraceIds::Constant));
}
