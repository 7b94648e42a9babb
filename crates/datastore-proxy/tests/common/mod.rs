//! The environment that points datastore-proxy at a simulator, shared by the tests that spawn
//! the binary and those that build the function in process.

#![allow(dead_code)]

use bundle_testkit::Env;
use mindful_sim::Sim;

/// datastore-proxy's variables for `sim`: its Datastore URL, plain http allowed (the simulator
/// serves http), and the token of the simulator's first template.
pub fn sim_env(sim: &Sim) -> Env {
    Env::new(&[
        ("DATASTORE_URL", &sim.base_url()),
        ("MINDFUL_ALLOW_HTTP", "1"),
        ("DATASTORE_TOKEN", &sim.config().templates[0].token),
    ])
}
