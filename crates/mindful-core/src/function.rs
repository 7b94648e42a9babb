//! One shape for every function: a [`ConnectFunction`] says what it is (name, configuration,
//! failure type, budget) and does its work in [`ConnectFunction::execute`]; [`Function`] owns
//! everything around it, once for all: configuration errors answered as `invalid_config`, the
//! start-up report, the event that is not JSON, the budget, the one log line and metric line per
//! invocation, the failure → answer mapping and Connect's 32 KB limit.
//!
//! A function crate is then its `contract` module, its pure `plan`, one `impl ConnectFunction`
//! and a `main.rs` of a few lines:
//!
//! ```ignore
//! #[tokio::main(flavor = "current_thread")]
//! async fn main() -> Result<(), lambda_runtime::Error> {
//!     mindful_core::observe::init_logging();
//!     let http = build_client(&HttpSettings::default())?;
//!     DatastoreProxy::from_env(http).serve().await
//! }
//! ```

use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use lambda_runtime::{service_fn, LambdaEvent};

use crate::answer::{error_answer, Failure};
use crate::config::ConfigError;
use crate::event::ContactFlowEvent;
use crate::handler::{report_config, respond, Invocation, Payload};
use crate::kvp::Kvp;

/// What a function is; [`Function`] serves it.
pub trait ConnectFunction: Send + Sync {
    /// The name in logs, metrics and `report_config`.
    const NAME: &'static str;
    /// Output keys kept when an answer must be cut to Connect's 32 KB.
    const KEEP_ON_OVERFLOW: &'static [&'static str] = &[];
    /// Read once per process; a bad one is answered, not fatal.
    type Config: std::fmt::Debug + Send + Sync;
    /// Every way an invocation can fail, mapped once to its `error` code.
    type Failure: Failure + From<ConfigError> + Send;

    /// The time the invocation may spend upstream (`None`: the configuration is invalid).
    fn budget(config: Option<&Self::Config>) -> Duration;

    /// The invocation's work: the answer, or the failure to answer with.
    fn execute<'a>(
        &'a self,
        config: &'a Self::Config,
        inv: &'a mut Invocation,
    ) -> impl Future<Output = Result<Kvp, Self::Failure>> + Send + 'a;

    /// The answer to a failure: `status=error`, `error`, `error_message` (and `http_status`)
    /// unless the function adds keys every answer carries.
    fn failure_answer(&self, _event: &ContactFlowEvent, failure: &Self::Failure) -> Kvp {
        error_answer(failure)
    }
}

/// A [`ConnectFunction`] with its configuration, ready to serve invocations.
pub struct Function<F: ConnectFunction> {
    inner: F,
    config: Result<F::Config, ConfigError>,
}

impl<F: ConnectFunction> Function<F> {
    /// Reports the configuration (or why it is invalid) once, at start.
    pub fn new(inner: F, config: Result<F::Config, ConfigError>) -> Self {
        report_config(F::NAME, &config);
        Self { inner, config }
    }

    pub fn inner(&self) -> &F {
        &self.inner
    }

    pub fn config(&self) -> Result<&F::Config, &ConfigError> {
        self.config.as_ref()
    }

    /// The Lambda handler: always an answer, never a Lambda error.
    pub async fn handle(&self, event: LambdaEvent<Payload>) -> Result<Kvp, Infallible> {
        let budget = F::budget(self.config.as_ref().ok());
        respond(
            F::NAME,
            event,
            budget,
            F::KEEP_ON_OVERFLOW,
            |mut inv| async move {
                let result = match &self.config {
                    Ok(config) => {
                        let (result, requests) =
                            crate::http::record_requests(self.inner.execute(config, &mut inv))
                                .await;
                        inv.record.upstream_requests = requests.sent;
                        inv.record.upstream_status = requests.last_status;
                        inv.record.upstream_latency =
                            (requests.sent > 0).then_some(requests.waited);
                        result
                    }
                    Err(e) => Err(F::Failure::from(e.clone())),
                };
                let response = match result {
                    Ok(kvp) => kvp,
                    Err(failure) => {
                        tracing::warn!(
                            function = F::NAME,
                            error = failure.code(),
                            message = %failure,
                            "failed"
                        );
                        self.inner.failure_answer(&inv.event, &failure)
                    }
                };
                (response, inv.record)
            },
        )
        .await
    }

    /// The Lambda runtime loop (what `main` runs).
    pub async fn serve(&self) -> Result<(), lambda_runtime::Error> {
        lambda_runtime::run(service_fn(|event: LambdaEvent<Payload>| self.handle(event))).await
    }
}
