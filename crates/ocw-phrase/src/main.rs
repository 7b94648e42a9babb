//! Lambda entry point: logging, configuration read once, then the runtime loop. No HTTP client
//! is built here (nothing to warm: the function makes no network calls).

use mindful_core::config::process_env;
use ocw_phrase::{Config, OcwPhrase};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    mindful_core::observe::init_logging();
    OcwPhrase::served(Config::from_env(&process_env))
        .serve()
        .await
}
