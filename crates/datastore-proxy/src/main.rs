//! Lambda entry point: build the HTTP client and configuration once, then serve invocations.

use datastore_proxy::DatastoreProxy;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use mindful_core::handler::Payload;
use mindful_core::http::{build_client, HttpSettings};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    mindful_core::observe::init_logging();
    let http = build_client(&HttpSettings::default())?;
    let proxy = DatastoreProxy::from_env(http);
    lambda_runtime::run(service_fn(|event: LambdaEvent<Payload>| {
        proxy.handle(event)
    }))
    .await
}
