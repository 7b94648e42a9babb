//! Every `events/<function>*.json` sample, as `cargo lambda invoke --data-file` would send it, to
//! the function's binary through the Lambda Runtime API, against the simulator: each answer must
//! be the one `events/expected.json` documents, and payloads that are not JSON are answers too.
//! One row per function calling Mindful; ocw-phrase's samples are checked more closely by its
//! own `tests/e2e.rs` (parameters echoed, one log line each), shared with its in-process test.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bundle_testkit::{assert_unreadable_payloads_answered, response, samples, Env, Sample};
use mindful_sim::{Sim, SimConfig};
use process_tests::{agent_answer_env, binary, datastore_proxy_env};
use serde_json::Value;

struct Row {
    function: &'static str,
    /// The samples' file-name prefix in `events/`.
    prefix: &'static str,
    env: fn(&Sim) -> Env,
    /// The order to send them in, when one sample needs another's effect.
    order: fn(&mut Vec<Sample>),
    /// Before each sample: what Mindful must hold; the sample's text may be adapted to the test.
    prepare: fn(&Sim, &mut Sample),
    /// Checked on each answer besides the documented keys.
    check: fn(&Sample, &Value),
}

const AGENT_ANSWER: Row = Row {
    function: "agent-answer",
    prefix: "agent-answer",
    env: agent_answer_env,
    order: |_| {},
    prepare: |sim, sample| {
        // The samples point at the simulator's default port; use this test's simulator.
        sample.text = sample
            .text
            .replace("http://127.0.0.1:8089", &sim.base_url());
        sim.register_call("+13209071234");
    },
    // Each sample has its own ContactId: none may be answered from the dedup cache.
    check: |sample, r| {
        assert!(
            r.get("deduplicated").is_none(),
            "{}: answered from the dedup cache: {r}",
            sample.name
        );
    },
};

const DATASTORE_PROXY: Row = Row {
    function: "datastore-proxy",
    prefix: "datastore-",
    env: datastore_proxy_env,
    // POST samples first, so the GET samples find the record; datastore-post.json last of them.
    order: |samples| samples.sort_by_key(|s| (!s.name.contains("post"), s.name.clone())),
    prepare: |_, _| {},
    check: |_, _| {},
};

impl Row {
    fn every_sample_through_the_runtime_api(&self) {
        let sim = Sim::start_blocking(SimConfig::default()).expect("simulator");
        let mut f = (self.env)(&sim).spawn(binary(self.function));
        let mut samples = samples(self.function, self.prefix);
        (self.order)(&mut samples);
        for mut sample in samples {
            (self.prepare)(&sim, &mut sample);
            let (r, _) = response(&mut f, sample.event());
            sample.assert_documented(&r);
            (self.check)(&sample, &r);
        }
        // Regression: payloads that are not JSON were Lambda errors raised inside the runtime.
        assert_unreadable_payloads_answered(&mut f);
    }
}

#[test]
fn agent_answer_every_sample_event_through_the_runtime_api() {
    AGENT_ANSWER.every_sample_through_the_runtime_api();
}

#[test]
fn datastore_proxy_every_sample_event_through_the_runtime_api() {
    DATASTORE_PROXY.every_sample_through_the_runtime_api();
}
