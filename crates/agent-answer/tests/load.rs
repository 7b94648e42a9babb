//! Load through the Lambda Runtime API: many sequential invocations of the built binary (as
//! Lambda runs one execution environment) against `mindful-sim`, checking that memory stays flat
//! and that HTTP keep-alive pooling holds (a handful of TCP connections, not one per call).
//!
//! Steady state is one HTTP request per invocation: the OAuth token is fetched once and cached.
//!
//! * `load_ci`: 1 000 invocations, in the normal test run (a few seconds in debug);
//!   `load_ci_own_memory_is_flat`: 2 000 with a constant trace id.
//! * `load_10k` (`#[ignore]`): 10 000 invocations; `cargo test -p agent-answer --test load --
//!   --ignored --nocapture` prints the numbers.
//!
//! Connections are counted from `/proc/net/tcp` (the simulator does not count them): every
//! socket with the simulator's port at one end, TIME_WAIT included, so a connection closed
//! during the run is still seen.

// Test code: a failed unwrap is a failed test (the deny is for the deployed code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bundle_testkit::*;
use mindful_sim::{ClientConfig, Route, Sim, SimConfig};
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_agent-answer");

fn run(plan: LoadPlan) -> LoadReport {
    let config = SimConfig {
        clients: vec![ClientConfig {
            client_id: "load-client".into(),
            client_secret: CLIENT_SECRET.into(),
        }],
        max_logged_requests: 100,
        ..SimConfig::default()
    };
    let sim = Sim::start_blocking(config).expect("simulator");
    let f = common::sim_env(&sim)
        .with(&[
            ("MINDFUL_METRICS", "false"),
            // The per-contact dedup map holds every contact answered in the last 60 s by design
            // (10 000 here in ~20 s, about 1 MB); off, so growth would be a leak.
            ("AGENT_ANSWER_DEDUP_SECONDS", "0"),
        ])
        .spawn(BIN);
    let report = run_load(f, plan, Some(sim.addr().port()), "accepted", |i| {
        // Every contact is new (so each answer is sent; accepted ones are remembered for the
        // dedup window), and Mindful has a call connecting for it.
        sim.register_call(CALLER);
        event(
            json!({"Agent_ID": "agent-1", "Queue_ID": "queue-1"}),
            Some(CALLER),
            &format!("contact-{i}"),
        )
    });
    assert_eq!(sim.count(Route::Token), 1, "one token for the whole run");
    assert_eq!(
        sim.count(Route::AgentAnswer),
        plan.invocations,
        "one request per invocation"
    );
    report
}

bundle_testkit::load_tests!("agent-answer", run);
