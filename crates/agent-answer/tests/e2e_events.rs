//! Every `events/agent-answer*.json` sample, as `cargo lambda invoke --data-file` would send it, to
//! the built binary through the Lambda Runtime API, against the simulator.

// Test code: a failed unwrap is a failed test (the deny is for the deployed code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use lambda_harness::testkit::{assert_flat, assert_unreadable_payloads_answered, response, spawn};
use mindful_sim::{Sim, SimConfig};
use serde_json::Value;

#[test]
fn every_sample_event_through_the_runtime_api() {
    let sim = Sim::start_blocking(SimConfig::default()).expect("simulator");
    let (token_url, base) = (sim.token_url(), sim.base_url());
    let mut f = spawn(
        env!("CARGO_BIN_EXE_agent-answer"),
        &[
            ("MINDFUL_TOKEN_URL", token_url.as_str()),
            ("MINDFUL_API_URL", base.as_str()),
            ("MINDFUL_ALLOW_HTTP", "1"),
            ("MINDFUL_CLIENT_ID", "sim-client"),
            ("MINDFUL_CLIENT_SECRET", "sim-secret"),
        ],
    );
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../events");
    let files: Vec<_> = std::fs::read_dir(dir)
        .expect("events/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("agent-answer"))
        })
        .collect();
    assert!(files.len() >= 4, "{files:?}");
    for path in files {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        // The samples point at the simulator's default port; use this test's simulator.
        let text = std::fs::read_to_string(&path)
            .expect("read")
            .replace("http://127.0.0.1:8089", &base);
        let event: Value = serde_json::from_str(&text).expect("JSON");
        sim.register_call("+13209071234");
        let (r, _) = response(&mut f, event);
        assert_flat(&r);
        let want = if name.contains("anonymous") {
            "error"
        } else {
            "accepted"
        };
        assert_eq!(r["status"], want, "{name}: {r}");
    }
    // Regression: payloads that are not JSON were Lambda errors raised inside the runtime.
    assert_unreadable_payloads_answered(&mut f);
}
