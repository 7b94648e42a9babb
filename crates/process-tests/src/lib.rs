//! What the process-level suites in `tests/` share: the function binaries (built once per test
//! process, as the deployed functions are built) and the environment that points each function at
//! a Mindful simulator. Each `tests/<concern>.rs` is a table with one row per function.

use std::path::PathBuf;
use std::sync::OnceLock;

use bundle_testkit::Env;
use mindful_core::FUNCTIONS;
use mindful_sim::Sim;

/// The debug binary of `function` (one of `mindful_core::FUNCTIONS`). The first call builds all three with
/// `cargo build` (another package's binaries are not built for this package's tests); a failed
/// build fails every test that needs a binary, with Cargo's message.
pub fn binary(function: &str) -> PathBuf {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    assert!(FUNCTIONS.contains(&function), "not a function: {function}");
    match DIR.get_or_init(|| lambda_harness::build_debug(&FUNCTIONS).map_err(|e| e.to_string())) {
        Ok(dir) => dir.join(function),
        Err(e) => panic!("building the functions: {e}"),
    }
}

/// agent-answer's variables for `sim`: its token and Agent Answer URLs, plain http allowed (the
/// simulator serves http), and the simulator's first client.
pub fn agent_answer_env(sim: &Sim) -> Env {
    let client = &sim.config().clients[0];
    Env::new(&[
        ("MINDFUL_TOKEN_URL", &sim.token_url()),
        ("MINDFUL_API_URL", &sim.base_url()),
        ("MINDFUL_ALLOW_HTTP", "1"),
        ("MINDFUL_CLIENT_ID", &client.client_id),
        ("MINDFUL_CLIENT_SECRET", &client.client_secret),
    ])
}

/// datastore-proxy's variables for `sim`: its Datastore URL, plain http allowed, and the token of
/// the simulator's first template.
pub fn datastore_proxy_env(sim: &Sim) -> Env {
    Env::new(&[
        ("DATASTORE_URL", &sim.base_url()),
        ("MINDFUL_ALLOW_HTTP", "1"),
        ("DATASTORE_TOKEN", &sim.config().templates[0].token),
    ])
}
