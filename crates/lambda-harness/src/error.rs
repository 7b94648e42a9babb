use std::path::PathBuf;
use std::time::Duration;

/// An error reported by the function through the Runtime API
/// (`/invocation/{id}/error` or `/init/error`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionError {
    /// `errorType` from the diagnostic body (e.g. `&lambda_runtime::deserializer::DeserializeError`).
    pub error_type: String,
    /// `errorMessage` from the diagnostic body.
    pub error_message: String,
    /// The `Lambda-Runtime-Function-Error-Type` request header (`unhandled`, `Runtime.InitError`).
    pub header_error_type: Option<String>,
    /// The raw request body as posted by the runtime.
    pub raw_body: String,
}

impl FunctionError {
    pub(crate) fn from_post(body: &[u8], header_error_type: Option<String>) -> Self {
        let raw_body = String::from_utf8_lossy(body).into_owned();
        let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
        let field = |k: &str| {
            parsed
                .as_ref()
                .and_then(|v| v.get(k))
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        };
        FunctionError {
            error_type: field("errorType").unwrap_or_default(),
            error_message: field("errorMessage").unwrap_or_else(|| raw_body.clone()),
            header_error_type,
            raw_body,
        }
    }
}

impl std::fmt::Display for FunctionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error_type, self.error_message)
    }
}

/// Everything that can go wrong while driving a function. Messages are meant to be read in a
/// failing test's output: they say what was expected and include the tail of the function's
/// stdout/stderr where that helps.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error("I/O error while {context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },

    #[error("failed to spawn function binary {}: {source}", path.display())]
    Spawn {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "binary `{name}` not found (looked in: {}); {hint}",
        fmt_paths(searched)
    )]
    BinaryNotFound {
        name: String,
        searched: Vec<PathBuf>,
        hint: String,
    },

    #[error("cargo build failed: {0}")]
    Build(String),

    #[error(
        "function process exited ({status}) before the invocation completed{}",
        fmt_output(output)
    )]
    ProcessExited { status: String, output: String },

    #[error("function reported an init error ({error}){}", fmt_output(output))]
    InitError {
        error: FunctionError,
        output: String,
    },

    #[error(
        "the function did not take the event from /next within {waited:?} (ready: {ready}); \
         still initialising, stuck, or not a Lambda runtime?{}",
        fmt_output(output)
    )]
    NotPolled {
        waited: Duration,
        ready: bool,
        output: String,
    },

    #[error(
        "no response for request {request_id} within its {timeout:?} deadline + {grace:?} grace{}",
        fmt_output(output)
    )]
    Timeout {
        request_id: String,
        timeout: Duration,
        grace: Duration,
        output: String,
    },

    #[error(
        "the function did not poll /next within {waited:?} of being spawned{}",
        fmt_output(output)
    )]
    NotReady { waited: Duration, output: String },

    #[error("function returned an error: {0}")]
    Function(FunctionError),

    #[error("function response is not valid JSON ({source}): {body}")]
    InvalidResponse {
        body: String,
        #[source]
        source: serde_json::Error,
    },

    #[error("could not read /proc/{pid}/status: {reason}")]
    Proc { pid: u32, reason: String },

    #[error("invoke_blocking/wait_*_blocking called from inside an async runtime; use the async variant")]
    BlockingInAsync,

    #[error("the harness has been shut down")]
    ShutDown,

    #[error("runtime API emulator: {0}")]
    Emulator(String),
}

impl HarnessError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        HarnessError::Io {
            context: context.into(),
            source,
        }
    }

    /// Attach the tail of the function's output to errors that carry one.
    pub(crate) fn with_output(mut self, tail: String) -> Self {
        match &mut self {
            HarnessError::ProcessExited { output, .. }
            | HarnessError::InitError { output, .. }
            | HarnessError::NotPolled { output, .. }
            | HarnessError::Timeout { output, .. }
            | HarnessError::NotReady { output, .. }
                if output.is_empty() =>
            {
                *output = tail;
            }
            _ => {}
        }
        self
    }
}

fn fmt_paths(p: &[PathBuf]) -> String {
    p.iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn fmt_output(output: &str) -> String {
    if output.is_empty() {
        String::new()
    } else {
        format!("; last function output:\n{output}")
    }
}
