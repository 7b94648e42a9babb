//! Load through the Lambda Runtime API: many sequential invocations of the built binary (as
//! Lambda runs one execution environment) against `mindful-sim`, checking that memory stays flat
//! and that HTTP keep-alive pooling holds (a handful of TCP connections, not one per call).
//!
//! * `load_ci`: 1 000 invocations, in the normal test run (a few seconds in debug).
//! * `load_10k` (`#[ignore]`): 10 000 invocations; `cargo test -p datastore-proxy --test load --
//!   --ignored --nocapture` prints the numbers.
//!
//! Connections are counted from `/proc/net/tcp` (the simulator does not count them): every
//! socket with the simulator's port at one end, TIME_WAIT included, so a connection closed
//! during the run is still seen.

// Test code: a failed unwrap is a failed test (the deny is for the deployed code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use lambda_harness::testkit::*;
use mindful_sim::{Route, Sim, SimConfig, TemplateConfig};
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_datastore-proxy");

fn run(n: usize, checkpoints: &[usize], trace: TraceIds) -> LoadReport {
    let config = SimConfig {
        templates: vec![TemplateConfig::new(DATASTORE_TOKEN)],
        max_logged_requests: 100,
        ..SimConfig::default()
    };
    let sim = Sim::start_blocking(config).expect("simulator");
    let base = sim.base_url();
    let mut f = spawn(
        BIN,
        &[
            ("DATASTORE_URL", &base),
            ("MINDFUL_ALLOW_HTTP", "1"),
            ("DATASTORE_TOKEN", DATASTORE_TOKEN),
            ("MINDFUL_METRICS", "false"),
        ],
    );
    let stale = client_ports_to(sim.addr().port());
    let started = Instant::now();
    let mut rss = Vec::new();
    for i in 1..=n {
        // Alternate POST and GET of the same caller's context, as the two flows do.
        let method = if i % 2 == 1 { "POST" } else { "GET" };
        let e = event(
            json!({"method": method, "AccountNo": i.to_string(), "Reason": "billing"}),
            Some(CALLER),
            &format!("contact-{i}"),
        );
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
    // Sockets on this port from before the run (TIME_WAIT of an earlier server that had the
    // same port, within the last minute) are not ours.
    let connections = client_ports_to(sim.addr().port())
        .difference(&stale)
        .count();
    assert_eq!(
        sim.count(Route::DatastorePost) + sim.count(Route::DatastoreGet),
        n
    );
    f.shutdown().expect("shutdown");
    LoadReport {
        invocations: n,
        trace,
        rss_kib: rss,
        connections: Some(connections),
        elapsed,
    }
}

#[test]
fn load_ci() {
    check_load(
        "datastore-proxy",
        &run(1_000, &[200, 1_000], TraceIds::Unique),
    );
}

#[test]
#[ignore = "10 000 invocations; run with --ignored"]
fn load_10k() {
    check_load(
        "datastore-proxy",
        &run(10_000, &[1_000, 10_000], TraceIds::Unique),
    );
}

/// The function's own memory stays flat: the same load with a constant trace id.
#[test]
fn load_ci_own_memory_is_flat() {
    check_load(
        "datastore-proxy",
        &run(2_000, &[500, 2_000], TraceIds::Constant),
    );
}
