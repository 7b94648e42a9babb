//! The environment that points agent-answer at a simulator, shared by the tests that spawn the
//! binary and those that build the function in process.

#![allow(dead_code)]

use bundle_testkit::Env;
use mindful_sim::Sim;

/// agent-answer's variables for `sim`: its token and Agent Answer URLs, plain http allowed (the
/// simulator serves http), and the simulator's first client.
pub fn sim_env(sim: &Sim) -> Env {
    let client = &sim.config().clients[0];
    Env::new(&[
        ("MINDFUL_TOKEN_URL", &sim.token_url()),
        ("MINDFUL_API_URL", &sim.base_url()),
        ("MINDFUL_ALLOW_HTTP", "1"),
        ("MINDFUL_CLIENT_ID", &client.client_id),
        ("MINDFUL_CLIENT_SECRET", &client.client_secret),
    ])
}
