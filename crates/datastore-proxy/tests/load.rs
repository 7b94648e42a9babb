//! Load through the Lambda Runtime API: many sequential invocations of the built binary (as
//! Lambda runs one execution environment) against `mindful-sim`, checking that memory stays flat
//! and that HTTP keep-alive pooling holds (a handful of TCP connections, not one per call).
//!
//! * `load_ci`: 1 000 invocations, in the normal test run (a few seconds in debug);
//!   `load_ci_own_memory_is_flat`: 2 000 with a constant trace id.
//! * `load_10k` (`#[ignore]`): 10 000 invocations; `cargo test -p datastore-proxy --test load --
//!   --ignored --nocapture` prints the numbers.
//!
//! Connections are counted from `/proc/net/tcp` (the simulator does not count them): every
//! socket with the simulator's port at one end, TIME_WAIT included, so a connection closed
//! during the run is still seen.

// Test code: a failed unwrap is a failed test (the deny is for the deployed code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bundle_testkit::*;
use mindful_sim::{Route, Sim, SimConfig, TemplateConfig};
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_datastore-proxy");

fn run(plan: LoadPlan) -> LoadReport {
    let config = SimConfig {
        templates: vec![TemplateConfig::new(DATASTORE_TOKEN)],
        max_logged_requests: 100,
        ..SimConfig::default()
    };
    let sim = Sim::start_blocking(config).expect("simulator");
    let f = common::sim_env(&sim)
        .set("MINDFUL_METRICS", "false")
        .spawn(BIN);
    let report = run_load(f, plan, Some(sim.addr().port()), "ok", |i| {
        // Alternate POST and GET of the same caller's context, as the two flows do.
        let method = if i % 2 == 1 { "POST" } else { "GET" };
        event(
            json!({"method": method, "AccountNo": i.to_string(), "Reason": "billing"}),
            Some(CALLER),
            &format!("contact-{i}"),
        )
    });
    assert_eq!(
        sim.count(Route::DatastorePost) + sim.count(Route::DatastoreGet),
        plan.invocations
    );
    report
}

bundle_testkit::load_tests!("datastore-proxy", run);
