//! Lambda entry point: build the HTTP client and configuration once, then serve invocations.

use agent_answer::AgentAnswer;
use mindful_core::http::{build_client, HttpSettings};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    mindful_core::observe::init_logging();
    let http = build_client(&HttpSettings::default())?;
    AgentAnswer::from_env(http).serve().await
}
