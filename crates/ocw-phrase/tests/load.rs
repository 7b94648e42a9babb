//! Load through the Lambda Runtime API: many sequential invocations of the built binary, checking
//! that memory stays flat. (No upstream: ocw-phrase makes no HTTP calls.)
//!
//! * `load_ci`: 1 000 invocations, in the normal test run.
//! * `load_ci_own_memory_is_flat`: 2 000 invocations with a constant trace id: the function's
//!   own memory must stay flat (with unique ids lambda_runtime's `setenv` grows ~130 B/call).
//! * `load_10k` (`#[ignore]`): 10 000 invocations; `cargo test -p ocw-phrase --test load --
//!   --ignored --nocapture` prints the numbers.

// Test code: a failed unwrap is a failed test (the deny is for the deployed code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bundle_testkit::{run_load, LoadPlan, LoadReport};
use lambda_harness::FunctionProcess;
use serde_json::json;

fn run(plan: LoadPlan) -> LoadReport {
    let f = FunctionProcess::builder(env!("CARGO_BIN_EXE_ocw-phrase"))
        .env("MINDFUL_METRICS", "false")
        .spawn()
        .expect("spawn ocw-phrase");
    let languages = ["en-US", "es-MX", "fr-CA", "de-DE"];
    run_load(f, plan, None, "ok", |i| {
        json!({"Name": "ContactFlowEvent", "Details": {
            "ContactData": {"ContactId": format!("contact-{i}"), "LanguageCode": languages[i % 4],
                "CustomerEndpoint": {"Address": "+13209071234", "Type": "TELEPHONE_NUMBER"}},
            "Parameters": {"OCW": (i % 900).to_string(), "agents_available": (i % 3).to_string(),
                "queue": "Billing"}}})
    })
}

bundle_testkit::load_tests!("ocw-phrase", run);
