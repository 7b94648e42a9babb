//! Logging and metrics: one structured line per invocation, and CloudWatch Embedded Metric Format
//! (EMF) so operators can alarm on Mindful failures without code.
//!
//! Nothing here takes a secret, and phone numbers only arrive already masked.

use std::io::Write;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::kvp::Kvp;

/// Installs the JSON `tracing` subscriber (level from `AWS_LAMBDA_LOG_LEVEL`, then `RUST_LOG`,
/// default INFO). Safe to call twice (the second call does nothing), unlike
/// `lambda_runtime::tracing::init_default_subscriber`, which panics.
pub fn init_logging() {
    use lambda_runtime::tracing::subscriber::{self, filter::LevelFilter};
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok()
        .and_then(|l| l.parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO);
    let _ = subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false)
        .without_time()
        .with_env_filter(log_filter(level))
        .with_writer(std::io::stdout)
        .try_init();
}

/// The filter for `level`, with `lambda_runtime` capped at DEBUG: at TRACE it logs every raw
/// event ("raw JSON event received from Lambda"), i.e. the caller's full number and flow
/// parameters such as a Datastore `token` or `Secret_Num` (contract rule 5, docs/contract.md).
fn log_filter(
    level: lambda_runtime::tracing::subscriber::filter::LevelFilter,
) -> lambda_runtime::tracing::subscriber::filter::EnvFilter {
    use lambda_runtime::tracing::subscriber::filter::{EnvFilter, LevelFilter};
    let filter = EnvFilter::builder()
        .with_default_directive(level.into())
        .parse_lossy("");
    match format!("lambda_runtime={}", level.min(LevelFilter::DEBUG)).parse() {
        Ok(cap) => filter.add_directive(cap),
        Err(_) => filter,
    }
}

/// Namespace of the EMF metrics.
pub const METRICS_NAMESPACE: &str = "MindfulConnect";

/// What one invocation did, logged once at its end.
#[derive(Debug)]
pub struct InvocationRecord {
    function: &'static str,
    started: Instant,
    /// Amazon Connect `ContactId` of the invocation (not personal data), so one contact's
    /// invocations can be followed across the three functions (docs/operations.md).
    pub contact_id: Option<String>,
    /// Masked number (`***1234`), when the function handled one.
    pub masked_number: Option<String>,
    /// HTTP status of the last upstream answer, when there was one.
    pub upstream_status: Option<u16>,
    /// Time spent waiting on upstream requests.
    pub upstream_latency: Option<Duration>,
    /// Upstream HTTP requests sent.
    pub upstream_requests: u32,
    pub emit_metrics: bool,
}

impl InvocationRecord {
    pub fn start(function: &'static str) -> Self {
        Self {
            function,
            started: Instant::now(),
            contact_id: None,
            masked_number: None,
            upstream_status: None,
            upstream_latency: None,
            upstream_requests: 0,
            emit_metrics: metrics_enabled(),
        }
    }

    /// Writes the invocation's log line (and EMF metrics) for the response about to be returned.
    pub fn finish(&self, response: &Kvp) {
        let status = response.status().unwrap_or("");
        let error = response.get("error").unwrap_or("");
        let duration_ms = self.started.elapsed().as_secs_f64() * 1000.0;
        let upstream_ms = self.upstream_latency.map(|d| d.as_secs_f64() * 1000.0);
        tracing::info!(
            function = self.function,
            status,
            error,
            duration_ms = (duration_ms * 1000.0).round() / 1000.0,
            upstream_status = self.upstream_status,
            upstream_ms,
            upstream_requests = self.upstream_requests,
            number = self.masked_number.as_deref(),
            contact_id = self.contact_id.as_deref(),
            "invocation"
        );
        if self.emit_metrics {
            let line = emf_line(
                self.function,
                status,
                error,
                duration_ms,
                upstream_ms,
                self.upstream_requests,
            );
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
        }
    }
}

/// EMF lines are written when running under a Lambda Runtime API (real or emulated), unless
/// `MINDFUL_METRICS=0`; `MINDFUL_METRICS=1` forces them on. Read once per process, not per
/// invocation.
fn metrics_enabled() -> bool {
    static ENABLED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ENABLED.get_or_init(|| match std::env::var("MINDFUL_METRICS") {
        Ok(v) => crate::config::is_truthy(&v),
        Err(_) => std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some(),
    })
}

/// One EMF document: dimensions `Function` and `Function,Status`; metrics `Invocations`,
/// `Errors` (1 when `status=error`), `Duration`, `UpstreamLatency`, `UpstreamRequests`.
pub fn emf_line(
    function: &str,
    status: &str,
    error: &str,
    duration_ms: f64,
    upstream_ms: Option<f64>,
    upstream_requests: u32,
) -> String {
    let timestamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let mut metrics = vec![
        serde_json::json!({"Name": "Invocations", "Unit": "Count"}),
        serde_json::json!({"Name": "Errors", "Unit": "Count"}),
        serde_json::json!({"Name": "Duration", "Unit": "Milliseconds"}),
        serde_json::json!({"Name": "UpstreamRequests", "Unit": "Count"}),
    ];
    let mut doc = serde_json::json!({
        "Function": function,
        "Status": status,
        "ErrorCode": error,
        "Invocations": 1,
        "Errors": if status == "error" { 1 } else { 0 },
        "Duration": (duration_ms * 1000.0).round() / 1000.0,
        "UpstreamRequests": upstream_requests,
    });
    if let Some(ms) = upstream_ms {
        metrics.push(serde_json::json!({"Name": "UpstreamLatency", "Unit": "Milliseconds"}));
        doc["UpstreamLatency"] = serde_json::json!((ms * 1000.0).round() / 1000.0);
    }
    doc["_aws"] = serde_json::json!({
        "Timestamp": timestamp,
        "CloudWatchMetrics": [{
            "Namespace": METRICS_NAMESPACE,
            "Dimensions": [["Function"], ["Function", "Status"]],
            "Metrics": metrics,
        }],
    });
    doc.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression (found by the no-secrets-in-logs tests): at TRACE, lambda_runtime's dump of
    /// the raw event must not be printed; our own TRACE lines still are, and capping never makes
    /// lambda_runtime more verbose than the chosen level.
    #[test]
    fn lambda_runtime_never_logs_the_raw_event() {
        use lambda_runtime::tracing::subscriber::{self, filter::LevelFilter};
        use std::sync::{Arc, Mutex};

        #[derive(Clone, Default)]
        struct Buf(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Buf {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let capture = |level: LevelFilter| {
            let buf = Buf::default();
            let out = buf.clone();
            let sub = subscriber::fmt()
                .json()
                .with_env_filter(log_filter(level))
                .with_writer(move || out.clone())
                .finish();
            tracing::subscriber::with_default(sub, || {
                tracing::trace!(target: "lambda_runtime::layers::api_response",
                    body = "+13209071234", "raw JSON event received from Lambda");
                tracing::debug!(target: "lambda_runtime::runtime", "runtime debug");
                tracing::trace!(target: "mindful_core::http", "own trace");
            });
            let bytes = buf.0.lock().unwrap().clone();
            String::from_utf8(bytes).unwrap()
        };
        let trace = capture(LevelFilter::TRACE);
        assert!(!trace.contains("raw JSON event"), "{trace}");
        assert!(!trace.contains("3209071234"), "{trace}");
        assert!(
            trace.contains("runtime debug") && trace.contains("own trace"),
            "{trace}"
        );
        let info = capture(LevelFilter::INFO);
        assert!(
            !info.contains("runtime debug") && !info.contains("own trace"),
            "{info}"
        );
    }

    #[test]
    fn emf_document_shape() {
        let line = emf_line("agent-answer", "error", "timeout", 12.5, Some(10.0), 2);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["Function"], "agent-answer");
        assert_eq!(v["Errors"], 1);
        assert_eq!(v["UpstreamLatency"], 10.0);
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            METRICS_NAMESPACE
        );
        let names: Vec<&str> = v["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        assert!(names.contains(&"UpstreamLatency"));
        let ok = emf_line("ocw-phrase", "ok", "", 0.1, None, 0);
        let v: serde_json::Value = serde_json::from_str(&ok).unwrap();
        assert_eq!(v["Errors"], 0);
        assert!(v.get("UpstreamLatency").is_none());
    }
}
