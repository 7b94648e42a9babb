//! Load through the Lambda Runtime API: many sequential invocations of the built binary (as
//! Lambda runs one execution environment) against `mindful-sim`, checking that memory stays flat
//! and that HTTP keep-alive pooling holds (a handful of TCP connections, not one per call).
//!
//! Steady state is one HTTP request per invocation: the OAuth token is fetched once and cached.
//!
//! * `load_ci`: 1 000 invocations, in the normal test run (a few seconds in debug).
//! * `load_10k` (`#[ignore]`): 10 000 invocations; `cargo test -p agent-answer --test load --
//!   --ignored --nocapture` prints the numbers.
//!
//! Connections are counted from `/proc/net/tcp` (the simulator does not count them): every
//! socket with the simulator's port at one end, TIME_WAIT included, so a connection closed
//! during the run is still seen.

// Test code: a failed unwrap is a failed test (the deny is for the deployed code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use lambda_harness::testkit::*;
use mindful_sim::{ClientConfig, Route, Sim, SimConfig};
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_agent-answer");

fn run(n: usize, checkpoints: &[usize], trace: TraceIds) -> LoadReport {
    let config = SimConfig {
        clients: vec![ClientConfig {
            client_id: "load-client".into(),
            client_secret: CLIENT_SECRET.into(),
        }],
        max_logged_requests: 100,
        ..SimConfig::default()
    };
    let sim = Sim::start_blocking(config).expect("simulator");
    let (token_url, api_url) = (sim.token_url(), sim.base_url());
    let mut f = spawn(
        BIN,
        &[
            ("MINDFUL_TOKEN_URL", &token_url),
            ("MINDFUL_API_URL", &api_url),
            ("MINDFUL_ALLOW_HTTP", "1"),
            ("MINDFUL_CLIENT_ID", "load-client"),
            ("MINDFUL_CLIENT_SECRET", CLIENT_SECRET),
            ("MINDFUL_METRICS", "false"),
            // The per-contact dedup map holds every contact answered in the last 60 s by design
            // (10 000 here in ~20 s, about 1 MB); off, so growth would be a leak.
            ("AGENT_ANSWER_DEDUP_SECONDS", "0"),
        ],
    );
    let stale = client_ports_to(sim.addr().port());
    let started = Instant::now();
    let mut rss = Vec::new();
    for i in 1..=n {
        // Every contact is new (so each answer is sent; accepted ones are remembered for the
        // dedup window), and Mindful has a call connecting for it.
        sim.register_call(CALLER);
        let e = event(
            json!({"Agent_ID": "agent-1", "Queue_ID": "queue-1"}),
            Some(CALLER),
            &format!("contact-{i}"),
        );
        let invoked = invoke_traced(&mut f, e, trace);
        let r = invoked
            .response()
            .unwrap_or_else(|| panic!("#{i}: Lambda error {:?}", invoked.error()));
        assert_eq!(r["status"], "accepted", "#{i}: {r}");
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
    assert_eq!(sim.count(Route::Token), 1, "one token for the whole run");
    assert_eq!(
        sim.count(Route::AgentAnswer),
        n,
        "one request per invocation"
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
    check_load("agent-answer", &run(1_000, &[200, 1_000], TraceIds::Unique));
}

#[test]
#[ignore = "10 000 invocations; run with --ignored"]
fn load_10k() {
    check_load(
        "agent-answer",
        &run(10_000, &[1_000, 10_000], TraceIds::Unique),
    );
}

/// The function's own memory stays flat: the same load with a constant trace id.
#[test]
fn load_ci_own_memory_is_flat() {
    check_load(
        "agent-answer",
        &run(2_000, &[500, 2_000], TraceIds::Constant),
    );
}
