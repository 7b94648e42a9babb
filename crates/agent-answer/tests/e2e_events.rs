//! Every `events/agent-answer*.json` sample, as `cargo lambda invoke --data-file` would send it, to
//! the built binary through the Lambda Runtime API, against the simulator; each answer must be
//! the one documented in `events/expected.json`, none of them from the dedup cache (each sample
//! has its own ContactId).

// Test code: a failed unwrap is a failed test (the deny is for the deployed code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bundle_testkit::{assert_unreadable_payloads_answered, response, samples};
use mindful_sim::{Sim, SimConfig};

#[test]
fn every_sample_event_through_the_runtime_api() {
    let sim = Sim::start_blocking(SimConfig::default()).expect("simulator");
    let base = sim.base_url();
    let mut f = common::sim_env(&sim).spawn(env!("CARGO_BIN_EXE_agent-answer"));
    for mut sample in samples("agent-answer", "agent-answer") {
        // The samples point at the simulator's default port; use this test's simulator.
        sample.text = sample.text.replace("http://127.0.0.1:8089", &base);
        sim.register_call("+13209071234");
        let (r, _) = response(&mut f, sample.event());
        sample.assert_documented(&r);
        assert!(
            r.get("deduplicated").is_none(),
            "{}: answered from the dedup cache: {r}",
            sample.name
        );
    }
    // Regression: payloads that are not JSON were Lambda errors raised inside the runtime.
    assert_unreadable_payloads_answered(&mut f);
}
