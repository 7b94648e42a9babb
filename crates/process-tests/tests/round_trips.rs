//! agent-answer's round trips, as production's distance to Mindful makes them count (issue 28): the simulator
//! 250 ms away over https, with its own token host. A first call costs the token's set-up and
//! request (3 RTT) plus the Agent Answer request (1 RTT): the API host's TCP and TLS set-up runs
//! beside the token request. It cost 6 RTT when the two hosts were set up one after the other.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use bundle_testkit::{event, response, scratch_dir, spawn, CALLER};
use mindful_sim::{Route, Sim, SimConfig};
use process_tests::binary;
use serde_json::json;

/// Long enough that CPU noise on a loaded 2-core machine (a debug build's first TLS handshakes
/// and CA store read: 70–250 ms measured) cannot turn 6 RTT into less than 5, or 4 into 5.
const RTT: Duration = Duration::from_millis(250);

fn rtts(d: Duration) -> f64 {
    d.as_secs_f64() / RTT.as_secs_f64()
}

#[test]
fn a_first_call_overlaps_the_api_set_up_with_the_token_request() {
    let sim = Sim::start_blocking(SimConfig {
        tls: true,
        separate_token_host: true,
        rtt: RTT,
        ..SimConfig::default()
    })
    .expect("simulator");
    let (bundle, _) = sim.write_ca_bundle(&scratch_dir("round-trips-aa")).unwrap();
    let bundle = bundle.display().to_string();
    let mut env: Vec<(String, String)> = sim.function_env("US");
    env.push(("SSL_CERT_FILE".into(), bundle));
    env.push(("AGENT_ANSWER_DEDUP_SECONDS".into(), "0".into()));
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut f = spawn(binary("agent-answer"), &pairs);

    sim.register_call(CALLER);
    let (r, first) = response(&mut f, event(json!({}), Some(CALLER), "c1"));
    assert_eq!(r["status"], "accepted", "{r}");
    sim.register_call(CALLER);
    let (r, warm) = response(&mut f, event(json!({}), Some(CALLER), "c2"));
    assert_eq!(r["status"], "accepted", "{r}");
    eprintln!(
        "agent-answer over https at RTT {} ms: first {:.2} RTT, warm {:.2} RTT",
        RTT.as_millis(),
        rtts(first.own_time),
        rtts(warm.own_time)
    );
    assert_eq!(sim.count(Route::Token), 1);
    // Floor 4 RTT (token: TCP, TLS, request; API: request), 6 if the hosts were set up in turn.
    assert!(rtts(first.own_time) >= 4.0, "{:?}", first.own_time);
    assert!(rtts(first.own_time) < 5.0, "{:?}", first.own_time);
    // Warm: the cached token and the pooled connection: the request's round trip.
    assert!(rtts(warm.own_time) >= 1.0, "{:?}", warm.own_time);
    assert!(rtts(warm.own_time) < 1.8, "{:?}", warm.own_time);
}
