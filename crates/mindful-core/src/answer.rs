//! The one mapping from a failure to the answer Connect's flow branches on, and the error codes
//! the three functions share. Each function has one failure enum implementing [`Failure`]; the
//! handler turns it into `status=error`, `error`, `error_message` (and `http_status` when
//! Mindful answered) with [`error_answer`], the way the runtime's `From<E> for Diagnostic` is
//! the one place a Lambda error is shaped. The whole contract: `docs/contract.md`.

use crate::kvp::Kvp;

/// Output keys every function may answer.
pub mod outputs {
    pub const STATUS: &str = "status";
    pub const ERROR: &str = "error";
    pub const ERROR_MESSAGE: &str = "error_message";
    /// The HTTP status Mindful answered, when it answered (datastore-proxy, agent-answer).
    pub const HTTP_STATUS: &str = "http_status";
}

/// The `status` of a failure; each function's other statuses are in its `contract` module.
pub const STATUS_ERROR: &str = "error";

/// Error codes shared by more than one function, each defined once. A function's full list is
/// its `contract::codes::ALL`; the README's table is checked against those lists.
pub mod codes {
    /// The event is not JSON at all (empty, a lone surrogate, nesting past 128 levels).
    pub const INVALID_EVENT: &str = "invalid_event";
    /// The function's configuration is invalid or incomplete (a bad or `http://` URL, a flow
    /// URL outside the allow-list, a missing client id or secret, a secret the extension
    /// could not give).
    pub const INVALID_CONFIG: &str = "invalid_config";
    /// No usable caller number: withheld, anonymous, or not an E.164 number (nothing is sent),
    /// or Mindful refused the number.
    pub const INVALID_NUMBER: &str = "invalid_number";
    /// Mindful (or the secrets extension) did not answer within the budget.
    pub const TIMEOUT: &str = "timeout";
    /// Mindful failed: 5xx, an unexpected 4xx or 3xx, a refused or reset connection.
    pub const UPSTREAM_ERROR: &str = "upstream_error";
    /// Mindful answered 429.
    pub const RATE_LIMITED: &str = "rate_limited";
    /// Mindful's answer cannot be used: not the expected JSON, larger than the limit, or a
    /// record for another number.
    pub const BAD_RESPONSE: &str = "bad_response";
    /// The answer would not fit Connect's 32 KB limit.
    pub const RESPONSE_TOO_LARGE: &str = "response_too_large";
}

/// A failure a function answers with instead of a Lambda error.
pub trait Failure: std::fmt::Display {
    /// The stable `error` code (one of the function's `contract::codes::ALL`).
    fn code(&self) -> &'static str;
    /// The HTTP status Mindful answered, when it answered.
    fn http_status(&self) -> Option<u16> {
        None
    }
}

/// The answer for `failure`: `status=error`, its code, its one-line message (`Display`: never
/// a secret or a full number), and `http_status` when Mindful answered.
pub fn error_answer(failure: &dyn Failure) -> Kvp {
    let mut kvp = Kvp::error(failure.code(), failure.to_string());
    if let Some(status) = failure.http_status() {
        kvp.set(outputs::HTTP_STATUS, status.to_string());
    }
    kvp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    enum Sample {
        #[error("Mindful failed (HTTP {0})")]
        Upstream(u16),
        #[error("no number")]
        NoNumber,
    }

    impl Failure for Sample {
        fn code(&self) -> &'static str {
            match self {
                Self::Upstream(_) => codes::UPSTREAM_ERROR,
                Self::NoNumber => codes::INVALID_NUMBER,
            }
        }
        fn http_status(&self) -> Option<u16> {
            match self {
                Self::Upstream(s) => Some(*s),
                Self::NoNumber => None,
            }
        }
    }

    #[test]
    fn failures_become_one_answer_shape() {
        let a = error_answer(&Sample::Upstream(503));
        assert_eq!(a.status(), Some(STATUS_ERROR));
        assert_eq!(a.get(outputs::ERROR), Some("upstream_error"));
        assert_eq!(
            a.get(outputs::ERROR_MESSAGE),
            Some("Mindful failed (HTTP 503)")
        );
        assert_eq!(a.get(outputs::HTTP_STATUS), Some("503"));
        let b = error_answer(&Sample::NoNumber);
        assert_eq!(b.get(outputs::HTTP_STATUS), None);
        assert_eq!(b.len(), 3);
    }
}
