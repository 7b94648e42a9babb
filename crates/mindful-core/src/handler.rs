//! Shared event handling: every function takes the raw JSON event (so nothing Connect sends can
//! fail deserialisation before our code runs), parses it tolerantly, answers a flat string map,
//! and logs one line per invocation.

use std::future::Future;
use std::time::Duration;

use lambda_runtime::{Context, LambdaEvent};
use serde_json::Value;

use crate::event::ContactFlowEvent;
use crate::http::Budget;
use crate::kvp::Kvp;
use crate::observe::InvocationRecord;

/// What a handler gets for one invocation.
pub struct Invocation {
    pub event: ContactFlowEvent,
    pub budget: Budget,
    pub record: InvocationRecord,
    pub request_id: String,
}

impl Invocation {
    /// Builds the invocation from the runtime's event: tolerant parse, and a budget of `budget`
    /// capped by the Lambda deadline.
    pub fn new(function: &'static str, event: LambdaEvent<Value>, budget: Duration) -> Self {
        let (payload, context): (Value, Context) = event.into_parts();
        Self {
            event: ContactFlowEvent::from_value(payload),
            budget: Budget::for_invocation(budget, context.deadline),
            record: InvocationRecord::start(function),
            request_id: context.request_id,
        }
    }
}

/// Runs `handle` and returns its response through the 32 KB guard, logging the invocation.
/// The error type is `Infallible` in practice: business and upstream failures are responses
/// (`status=error`), so Connect's flow can branch on them instead of retrying a Lambda error.
pub async fn respond<F, Fut>(
    function: &'static str,
    event: LambdaEvent<Value>,
    budget: Duration,
    keep_on_overflow: &[&str],
    handle: F,
) -> Result<Kvp, std::convert::Infallible>
where
    F: FnOnce(Invocation) -> Fut,
    Fut: Future<Output = (Kvp, InvocationRecord)>,
{
    let invocation = Invocation::new(function, event, budget);
    let (response, record) = handle(invocation).await;
    let response = response.enforce_size_limit(keep_on_overflow);
    record.finish(&response);
    Ok(response)
}

/// A `LambdaEvent` for tests and local drivers (Context is `#[non_exhaustive]`).
pub fn test_event(payload: Value) -> LambdaEvent<Value> {
    LambdaEvent::new(payload, Context::default())
}
