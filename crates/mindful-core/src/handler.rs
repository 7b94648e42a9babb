//! Shared event handling: every function takes the raw JSON event (so nothing Connect sends can
//! fail deserialisation before our code runs), parses it tolerantly, answers a flat string map,
//! and logs one line per invocation.

use std::future::Future;
use std::time::Duration;

use lambda_runtime::{Context, LambdaEvent};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::config::ConfigError;
use crate::event::ContactFlowEvent;
use crate::http::Budget;
use crate::kvp::Kvp;
use crate::observe::InvocationRecord;

use crate::answer::codes::INVALID_EVENT;

/// The invocation payload as the runtime hands it over: any JSON value, or why it is not JSON.
///
/// `lambda_runtime` deserialises the payload before calling the handler and answers a Lambda
/// error when that fails (Connect then takes the block's error branch with nothing to branch
/// on). This type's deserialisation never fails, so an empty payload, a lone UTF-16 surrogate
/// (`"\ud800"`) or nesting deeper than serde_json's 128 levels reaches the handler, which
/// answers `status=error`, `error=invalid_event` like any other bad input. It relies on the
/// runtime not checking for trailing input after the value (lambda_runtime 1.5's
/// `deserializer::deserialize`); `every_unreadable_payload_is_an_answer` in the function
/// crates' end-to-end tests holds that through the real runtime.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    Json(Value),
    /// Not JSON: serde_json's reason (line and column, never the content).
    Unreadable(String),
}

impl<'de> Deserialize<'de> for Payload {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match Value::deserialize(deserializer) {
            Ok(value) => Payload::Json(value),
            Err(e) => Payload::Unreadable(e.to_string()),
        })
    }
}

impl From<Value> for Payload {
    fn from(value: Value) -> Self {
        Payload::Json(value)
    }
}

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
        let event = ContactFlowEvent::from_value(payload);
        let mut record = InvocationRecord::start(function);
        record.contact_id = event.contact_id().map(str::to_string);
        Self {
            event,
            budget: Budget::for_invocation(budget, context.deadline),
            record,
            request_id: context.request_id,
        }
    }
}

/// Runs `handle` and returns its response through the 32 KB guard, logging the invocation.
/// The error type is `Infallible` in practice: business and upstream failures are responses
/// (`status=error`), so Connect's flow can branch on them instead of retrying a Lambda error.
/// An event that is not JSON is answered `error=invalid_event` without calling `handle`.
pub async fn respond<F, Fut>(
    function: &'static str,
    event: LambdaEvent<Payload>,
    budget: Duration,
    keep_on_overflow: &[&str],
    handle: F,
) -> Result<Kvp, std::convert::Infallible>
where
    F: FnOnce(Invocation) -> Fut,
    Fut: Future<Output = (Kvp, InvocationRecord)>,
{
    let (payload, context) = event.into_parts();
    let (response, record) = match payload {
        Payload::Json(value) => {
            let invocation = Invocation::new(function, LambdaEvent::new(value, context), budget);
            handle(invocation).await
        }
        Payload::Unreadable(reason) => {
            tracing::warn!(error = INVALID_EVENT, reason = %reason, "the event is not JSON");
            let response = Kvp::error(
                INVALID_EVENT,
                format!("the event is not valid JSON: {reason}"),
            );
            (response, InvocationRecord::start(function))
        }
    };
    let response = crate::answer::within_connect_limit(response, keep_on_overflow);
    record.finish(&response);
    Ok(response)
}

/// Logs a function's configuration once at init, the same way for every function: the settings
/// at info, or why they are invalid at error. An invalid configuration does not stop the
/// process: every invocation answers `error=invalid_config`, so the flow takes its error branch
/// instead of Connect retrying a function that cannot start.
pub fn report_config<C: std::fmt::Debug>(function: &'static str, config: &Result<C, ConfigError>) {
    match config {
        Ok(c) => tracing::info!(function, config = ?c, "configured"),
        Err(e) => {
            tracing::error!(function, error = %e, "configuration is invalid; every invocation answers error=invalid_config")
        }
    }
}

/// A `LambdaEvent` for tests and local drivers (Context is `#[non_exhaustive]`).
pub fn test_event(payload: Value) -> LambdaEvent<Payload> {
    LambdaEvent::new(Payload::Json(payload), Context::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deserialised the way lambda_runtime 1.5 does it (`serde_path_to_error` over a slice
    /// deserializer, no trailing-input check).
    fn as_runtime_would(body: &[u8]) -> Payload {
        let de = &mut serde_json::Deserializer::from_slice(body);
        match Payload::deserialize(de) {
            Ok(p) => p,
            Err(e) => panic!("never fails: {e}"),
        }
    }

    #[test]
    fn every_payload_deserialises() {
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        let table: &[(&[u8], bool)] = &[
            (br#"{"Details":{}}"#, true),
            (b"null", true),
            (b"\"text\"", true),
            (b"", false),
            (b"   ", false),
            (br#"{"a":"\ud800"}"#, false),
            (br#"{"a":"\udc00x"}"#, false),
            (b"{", false),
            (b"\xff\xfe", false),
            (deep.as_bytes(), false),
        ];
        for (body, json) in table {
            let p = as_runtime_would(body);
            assert_eq!(matches!(p, Payload::Json(_)), *json, "{p:?}");
            if let Payload::Unreadable(reason) = p {
                assert!(!reason.is_empty());
            }
        }
    }

    #[tokio::test]
    async fn an_unreadable_event_is_answered() {
        let event = LambdaEvent::new(Payload::Unreadable("EOF".into()), Context::default());
        let r = respond("test", event, Duration::from_secs(1), &[], |_| async {
            panic!("the handler is not called for an unreadable event")
        })
        .await;
        let Ok(kvp) = r;
        assert_eq!(kvp.status(), Some("error"));
        assert_eq!(kvp.get("error"), Some(INVALID_EVENT));
    }
}
