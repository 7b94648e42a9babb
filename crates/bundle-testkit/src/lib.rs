//! This bundle's process-level test kit, on top of `lambda-harness` (which runs any Lambda binary
//! behind a Runtime API emulator and knows nothing of these functions): Connect contact events,
//! the secrets and caller numbers the tests use and the scan that finds them in output, the
//! fault-matrix, load and sample drivers, the environment `infra/base.yaml` gives each function,
//! and a hostile upstream. Test support only: a failed step panics with the captured output,
//! which is what a test wants.

mod drivers;
mod hostile;
mod stack;
mod testkit;

pub use drivers::{
    assert_clean, assert_error_mentions, assert_secret_read_once, closed_port, events_dir,
    expect_answer, outcome, run_load, samples, scratch_dir, Env, FaultCase, FaultMatrix, LoadPlan,
    Sample, Want,
};
// Named only by the expansion of `load_tests!` (with `check_load`).
#[doc(hidden)]
pub use drivers::{LOAD_10K, LOAD_CI, LOAD_OWN_MEMORY};
pub use hostile::{Answer, CpuStarver, HostileUpstream, Received};
pub use stack::{base_template, environment_output, parameter_defaults, render_environment};
#[doc(hidden)]
pub use testkit::check_load;
pub use testkit::{
    assert_flat, assert_no_leaks, assert_unreadable_payloads_answered, cell, env_of, event,
    response, spawn, spawn_deployed, voice, write_matrix_section, LoadReport, CALLER,
    CALLER_NATIONAL, CLIENT_SECRET, DATASTORE_TOKEN, OTHER_CALLER, PARAM_SECRET,
};
