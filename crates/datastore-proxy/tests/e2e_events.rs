//! Every `events/datastore-*.json` sample, as `cargo lambda invoke --data-file` would send it, to
//! the built binary through the Lambda Runtime API, against the simulator; each answer must be
//! the one documented in `events/expected.json`.

// Test code: a failed unwrap is a failed test (the deny is for the deployed code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bundle_testkit::{assert_unreadable_payloads_answered, response, samples};
use mindful_sim::{Sim, SimConfig};

#[test]
fn every_sample_event_through_the_runtime_api() {
    let sim = Sim::start_blocking(SimConfig::default()).expect("simulator");
    let mut f = common::sim_env(&sim).spawn(env!("CARGO_BIN_EXE_datastore-proxy"));
    let mut samples = samples("datastore-proxy", "datastore-");
    // POST samples first, so the GET samples find the record; datastore-post.json last of them.
    samples.sort_by_key(|s| (!s.name.contains("post"), s.name.clone()));
    for sample in samples {
        let (r, _) = response(&mut f, sample.event());
        sample.assert_documented(&r);
    }
    // Regression: payloads that are not JSON were Lambda errors raised inside the runtime.
    assert_unreadable_payloads_answered(&mut f);
}
