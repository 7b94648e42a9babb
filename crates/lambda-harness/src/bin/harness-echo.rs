//! Tiny echo Lambda for the harness's own tests (and as a benchmark baseline).
//!
//! Event keys (all optional):
//! * `sleep_ms`: sleep that long before answering;
//! * `log`: emit this string as an INFO tracing event;
//! * `fail`: return a function error (`errorType` `EchoFailure`, `errorMessage` = the value);
//! * `panic`: panic in the handler;
//! * `exit`: exit the process with this code without answering.
//!
//! Env: `ECHO_INIT_SLEEP_MS` delays init (before the first `/next`).
//!
//! Answers `{"echo": <event>, "request_id", "deadline_ms", "remaining_ms", "function_arn",
//! "xray_trace_id", "function_name", "memory_mb", "version"}`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde_json::{json, Value};

struct EchoFailure(String);

impl From<EchoFailure> for Diagnostic {
    fn from(e: EchoFailure) -> Self {
        Diagnostic {
            error_type: "EchoFailure".into(),
            error_message: e.0,
        }
    }
}

impl std::fmt::Debug for EchoFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EchoFailure({})", self.0)
    }
}

async fn handler(event: LambdaEvent<Value>) -> Result<Value, EchoFailure> {
    let (payload, ctx) = event.into_parts();
    if let Some(code) = payload.get("exit").and_then(Value::as_i64) {
        std::process::exit(code as i32);
    }
    if let Some(msg) = payload.get("log").and_then(Value::as_str) {
        lambda_runtime::tracing::info!(echo_log = msg, "echo log");
    }
    if let Some(ms) = payload.get("sleep_ms").and_then(Value::as_u64) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    if payload.get("panic").and_then(Value::as_bool) == Some(true) {
        panic!("echo asked to panic");
    }
    if let Some(msg) = payload.get("fail").and_then(Value::as_str) {
        return Err(EchoFailure(msg.to_owned()));
    }
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    Ok(json!({
        "echo": payload,
        "request_id": ctx.request_id,
        "deadline_ms": ctx.deadline,
        "remaining_ms": ctx.deadline as i64 - now_ms,
        "function_arn": ctx.invoked_function_arn,
        "xray_trace_id": ctx.xray_trace_id,
        "function_name": ctx.env_config.function_name,
        "memory_mb": ctx.env_config.memory,
        "version": ctx.env_config.version,
    }))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    if let Some(ms) = std::env::var("ECHO_INIT_SLEEP_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        std::thread::sleep(Duration::from_millis(ms));
    }
    lambda_runtime::run(service_fn(handler)).await
}
