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
/// its `contract::codes::TABLE` (code, when, an `error_message` example), from which
/// `cargo xtask contract` writes its README's error table; `ALL` is the codes alone.
pub mod codes {
    /// One row of a function's error table: the code, when it is answered (Markdown), and an
    /// `error_message` example (Markdown, `""` for none).
    pub type CodeDoc = (&'static str, &'static str, &'static str);

    /// The codes of `table`, in its order (a function's `codes::ALL`).
    pub const fn names<const N: usize>(table: &[CodeDoc; N]) -> [&'static str; N] {
        let mut out = [""; N];
        let mut i = 0;
        while i < N {
            out[i] = table[i].0;
            i += 1;
        }
        out
    }

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

/// Ensures the response fits Connect's 32 KB limit. When it does not, the data keys are dropped
/// and the response becomes `status=error`, `error=response_too_large`: a truncated record
/// would route the call with half its context, which is worse than a clear error branch.
/// Keys listed in `keep` (e.g. `customer_contact_number`) are preserved.
pub fn within_connect_limit(response: Kvp, keep: &[&str]) -> Kvp {
    let len = response.encoded_len();
    if len <= crate::kvp::MAX_RESPONSE_BYTES - crate::kvp::SIZE_MARGIN {
        return response;
    }
    let mut out = Kvp::error(
        codes::RESPONSE_TOO_LARGE,
        format!("response of {len} bytes exceeds Connect's 32 KB limit; reduce the stored keys"),
    );
    for key in keep {
        if let Some(v) = response.get(key) {
            if v.len() < 1024 {
                out.set(*key, v);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_guard_keeps_small_and_replaces_large() {
        let mut small = Kvp::with_status("ok");
        small.set("k", "v");
        assert_eq!(within_connect_limit(small.clone(), &[]), small);

        let mut big = Kvp::with_status("ok");
        big.set("customer_contact_number", "+13209071234");
        for i in 0..100 {
            big.set(format!("key{i}"), "x".repeat(400));
        }
        assert!(big.encoded_len() > crate::kvp::MAX_RESPONSE_BYTES);
        let out = within_connect_limit(big, &["customer_contact_number"]);
        assert_eq!(out.status(), Some("error"));
        assert_eq!(out.get("error"), Some("response_too_large"));
        assert_eq!(out.get("customer_contact_number"), Some("+13209071234"));
        assert!(out.encoded_len() < crate::kvp::MAX_RESPONSE_BYTES);
    }

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
