//! Load through the Lambda Runtime API: many sequential invocations of the built binary, checking
//! that memory stays flat. (No upstream: ocw-phrase makes no HTTP calls.)
//!
//! * `load_ci`: 1 000 invocations, in the normal test run.
//! * `load_10k` (`#[ignore]`): 10 000 invocations; `cargo test -p ocw-phrase --test load --
//!   --ignored --nocapture` prints the numbers.

use std::time::{Duration, Instant};

use lambda_harness::FunctionProcess;
use serde_json::json;

/// Bound on resident memory growth between the checkpoints.
const MAX_RSS_GROWTH_KIB: u64 = 2048;

fn run(n: usize, checkpoints: &[usize]) -> (Vec<(usize, u64)>, Duration) {
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
        let invoked = f.invoke_blocking(e).expect("invocation completes");
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
    (rss, elapsed)
}

fn check(n: usize, (rss, elapsed): (Vec<(usize, u64)>, Duration)) {
    eprintln!(
        "ocw-phrase: {n} invocations in {elapsed:.1?} ({:.0}/s), VmRSS {rss:?} KiB",
        n as f64 / elapsed.as_secs_f64()
    );
    let first = rss.first().expect("checkpoint").1;
    let last = rss.last().expect("checkpoint").1;
    assert!(
        last <= first + MAX_RSS_GROWTH_KIB,
        "RSS grew from {first} to {last} KiB"
    );
}

#[test]
fn load_ci() {
    check(1_000, run(1_000, &[200, 1_000]));
}

#[test]
#[ignore = "10 000 invocations; run with --ignored"]
fn load_10k() {
    check(10_000, run(10_000, &[1_000, 10_000]));
}
