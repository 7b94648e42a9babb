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
    expect_answer, outcome, run_load, samples, scratch_dir, Deployed, Env, FaultCase, FaultMatrix,
    LoadPlan, Sample, Want, LOAD_10K, LOAD_CI, LOAD_OWN_MEMORY,
};
pub use hostile::{Answer, CpuStarver, HostileUpstream, Received};
pub use stack::{base_template, environment_output, parameter_defaults, render_environment};
pub use testkit::{
    assert_contract_documented, assert_flat, assert_no_leaks, assert_unreadable_payloads_answered,
    cell, check_load, client_ports_to, documented_error_codes, env_of, event, invoke_traced, leaks,
    response, spawn, spawn_deployed, unreadable_payloads, voice, wait_for_invocation_lines,
    write_matrix_section, LoadReport, TraceIds, CALLER, CALLER_NATIONAL, CLIENT_SECRET,
    DATASTORE_TOKEN, MAX_CONNECTIONS, MAX_OWN_RSS_GROWTH_KIB, MAX_RSS_GROWTH_KIB, OTHER_CALLER,
    PARAM_SECRET,
};
