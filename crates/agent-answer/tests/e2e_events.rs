//! Every `events/agent-answer*.json` sample, as `cargo lambda invoke --data-file` would send it, to
//! the built binary through the Lambda Runtime API, against the simulator; each answer must be
//! the one documented in `events/expected.json`, none of them from the dedup cache (each sample
//! has its own ContactId).

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
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{dir}/expected.json")).expect("events/expected.json"),
    )
    .expect("expected.json is JSON");
    let expected = expected["events"].as_object().expect("events object");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("events/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("agent-answer"))
        })
        .collect();
    files.sort();
    let documented = expected
        .iter()
        .filter(|(_, e)| e["function"] == "agent-answer")
        .count();
    assert_eq!(files.len(), documented, "{files:?} vs expected.json");
    for path in files {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let want = expected
            .get(&name)
            .unwrap_or_else(|| panic!("events/{name} has no entry in events/expected.json"));
        assert_eq!(want["function"], "agent-answer", "{name}");
        // The samples point at the simulator's default port; use this test's simulator.
        let text = std::fs::read_to_string(&path)
            .expect("read")
            .replace("http://127.0.0.1:8089", &base);
        let event: Value = serde_json::from_str(&text).expect("JSON");
        sim.register_call("+13209071234");
        let (r, _) = response(&mut f, event);
        assert_flat(&r);
        for (key, value) in want["answer"].as_object().expect("answer object") {
            assert_eq!(&r[key], value, "{name}: {key} in {r}");
        }
        assert!(
            r.get("deduplicated").is_none(),
            "{name}: answered from the dedup cache: {r}"
        );
    }
    // Regression: payloads that are not JSON were Lambda errors raised inside the runtime.
    assert_unreadable_payloads_answered(&mut f);
}
