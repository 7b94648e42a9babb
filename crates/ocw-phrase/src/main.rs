//! Lambda entry point: logging, configuration read once, then the runtime loop. No HTTP client
//! is built here (nothing to warm: the function makes no network calls).

use lambda_runtime::{service_fn, LambdaEvent};
use mindful_core::config::process_env;
use mindful_core::handler::Payload;
use ocw_phrase::{handle, Config, Settings};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    mindful_core::observe::init_logging();
    let settings: Settings = Config::from_env(&process_env);
    mindful_core::handler::report_config(ocw_phrase::FUNCTION_NAME, &settings);
    let settings = &settings;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Payload>| {
        handle(settings, event)
    }))
    .await
}
