//! Mindful Scheduler API: the widget status of one Call Target, read before a callback is offered.
//!
//! `GET https://{organization_id}.scheduler-rt.getmindful.com/api/widget/{widget_id}` answers
//! `{"data":[{"widget_state": …, "ewt": …, "offer_asap": …, "offer_scheduled": …, …}]}`
//! (<https://docs.medallia.com/en/mindful/api/scheduler-api/check-widget-status>). The Scheduler
//! API is open unless the organisation applies an Access Control Policy, which admits listed IP
//! addresses or requires an API Access Token with each request
//! (<https://docs.medallia.com/en/mindful/mindful-platform/configuration/scheduler/access-control-policies>);
//! that page does not say how the token is carried: we send it as `Authorization: Bearer`, the
//! form every other Mindful API uses (an assumption, documented in docs/contract.md).

use serde_json::Value;

use crate::http::{self, limits, Budget, Client, RetryPolicy, StatusCode, TransportError, Url};
use crate::secret::Secret;

/// The widget states Mindful documents, and what each means for an offer.
pub mod states {
    /// ASAP and scheduled callbacks are offered.
    pub const OFFER_CALLBACK: &str = "offer_callback";
    pub const OFFER_ASAP_CALLBACK: &str = "offer_asap_callback";
    pub const OFFER_SCHEDULED_CALLBACK: &str = "offer_scheduled_callback";
    /// Mindful shows the wait but takes no callback.
    pub const DISPLAY_EWT_ONLY: &str = "display_ewt_only";
    pub const PLATFORM_UNAVAILABLE: &str = "platform_unavailable";
    pub const ALL: [&str; 5] = [
        OFFER_CALLBACK,
        OFFER_ASAP_CALLBACK,
        OFFER_SCHEDULED_CALLBACK,
        DISPLAY_EWT_ONLY,
        PLATFORM_UNAVAILABLE,
    ];
    /// The states in which Mindful takes a callback (of either kind): the only ones in which the
    /// flows make or hand over an offer. Any other value, documented or not, means no offer.
    pub const TAKES_CALLBACKS: [&str; 3] = [
        OFFER_CALLBACK,
        OFFER_ASAP_CALLBACK,
        OFFER_SCHEDULED_CALLBACK,
    ];

    /// Mindful takes callbacks in `state` (exact, lower-case spelling as documented).
    pub fn takes_callbacks(state: &str) -> bool {
        TAKES_CALLBACKS.contains(&state)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchedulerError {
    #[error("the Scheduler API refused the request (HTTP {0}): check the Access Control Policy and SCHEDULER_TOKEN")]
    Unauthorized(u16),
    #[error("the Scheduler API knows no widget with that id (HTTP 404)")]
    UnknownWidget,
    #[error("the Scheduler API did not answer within the time budget")]
    Timeout,
    #[error("the Scheduler API is rate limiting (HTTP 429)")]
    RateLimited,
    #[error("the Scheduler API failed (HTTP {0})")]
    Upstream(u16),
    #[error("the Scheduler API is unreachable: {0}")]
    Unreachable(String),
    #[error("the Scheduler API answered without a widget_state")]
    BadResponse,
    #[error("the Scheduler API answered with a body larger than {0} bytes")]
    TooLarge(usize),
}

impl SchedulerError {
    /// The HTTP status Mindful answered, when it answered.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Self::Unauthorized(s) | Self::Upstream(s) => Some(*s),
            Self::UnknownWidget => Some(404),
            Self::RateLimited => Some(429),
            _ => None,
        }
    }
}

/// What the flow needs from a widget status answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WidgetStatus {
    /// As Mindful spells it (an undocumented value is kept, and means no offer).
    pub widget_state: String,
    /// The Call Target's estimated callback time in whole seconds; `None` when Mindful gives
    /// none (`null`: "not relevant" in the widget's state) or something that is not a number.
    pub ewt_seconds: Option<u64>,
}

/// A widget id is one URL path segment: letters, digits, `-` and `_` only, so a flow value can
/// never reach another path of the Scheduler host.
pub fn valid_widget_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The Scheduler endpoint (`SCHEDULER_URL`), sharing the process's HTTP client.
pub struct SchedulerClient {
    http: Client,
    base: Url,
}

impl SchedulerClient {
    pub fn new(http: Client, base: Url) -> Self {
        Self { http, base }
    }

    /// `GET /api/widget/{widget_id}`: a read, so retried once per [`RetryPolicy::Idempotent`].
    /// `widget_id` must pass [`valid_widget_id`] (the caller checks it before any I/O).
    pub async fn widget_status(
        &self,
        widget_id: &str,
        token: Option<&Secret>,
        budget: &Budget,
    ) -> Result<WidgetStatus, SchedulerError> {
        let mut url = self.base.clone();
        let joined = format!(
            "{}/api/widget/{widget_id}",
            url.path().trim_end_matches('/')
        );
        url.set_path(&joined);
        let response = http::send(
            budget,
            RetryPolicy::Idempotent,
            limits::SCHEDULER_WIDGET,
            || {
                let request = self.http.get(url.clone());
                match token {
                    Some(t) => request.bearer_auth(t.expose()),
                    None => request,
                }
            },
        )
        .await
        .map_err(|e| match e {
            TransportError::Timeout => SchedulerError::Timeout,
            TransportError::Connect(m) | TransportError::Other(m) => SchedulerError::Unreachable(m),
            TransportError::TooLarge { limit } => SchedulerError::TooLarge(limit),
        })?;
        match response.status {
            s if s.is_success() => parse_widget_status(http::without_bom(&response.body)),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                Err(SchedulerError::Unauthorized(response.status.as_u16()))
            }
            StatusCode::NOT_FOUND => Err(SchedulerError::UnknownWidget),
            StatusCode::TOO_MANY_REQUESTS => Err(SchedulerError::RateLimited),
            s => Err(SchedulerError::Upstream(s.as_u16())),
        }
    }
}

/// The documented `{"data":[{…}]}`; also a bare object or `data` as one object, since the page
/// shows one example only. `widget_state` must be a non-empty string.
pub fn parse_widget_status(body: &[u8]) -> Result<WidgetStatus, SchedulerError> {
    let doc: Value = serde_json::from_slice(body).map_err(|_| SchedulerError::BadResponse)?;
    let entry = match doc.get("data") {
        Some(Value::Array(items)) => items.first(),
        Some(obj @ Value::Object(_)) => Some(obj),
        Some(_) => None,
        None => Some(&doc),
    };
    let entry = entry
        .and_then(Value::as_object)
        .ok_or(SchedulerError::BadResponse)?;
    let widget_state = entry
        .get("widget_state")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty() && s.len() <= 64)
        .ok_or(SchedulerError::BadResponse)?
        .to_string();
    let ewt_seconds = entry.get("ewt").and_then(|v| match v {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite() && *f >= 0.0)
                .map(|f| f.round() as u64)
        }),
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    });
    Ok(WidgetStatus {
        widget_state,
        ewt_seconds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widget_status_answers() {
        let ok = |state: &str, ewt: Option<u64>| {
            Ok(WidgetStatus {
                widget_state: state.into(),
                ewt_seconds: ewt,
            })
        };
        let table: [(&str, Result<WidgetStatus, SchedulerError>); 12] = [
            // The documented example.
            (
                r#"{"data":[{"widget_state":"offer_callback","message":"string","offer_asap":true,"offer_scheduled":true,"ewt":0,"scheduled_timeslots":"string"}]}"#,
                ok("offer_callback", Some(0)),
            ),
            (
                r#"{"data":[{"widget_state":"platform_unavailable","ewt":null}]}"#,
                ok("platform_unavailable", None),
            ),
            (
                r#"{"data":{"widget_state":"display_ewt_only","ewt":720}}"#,
                ok("display_ewt_only", Some(720)),
            ),
            (
                r#"{"widget_state":"offer_asap_callback","ewt":"95"}"#,
                ok("offer_asap_callback", Some(95)),
            ),
            (
                r#"{"data":[{"widget_state":"offer_callback","ewt":61.6}]}"#,
                ok("offer_callback", Some(62)),
            ),
            (
                r#"{"data":[{"widget_state":"offer_callback","ewt":-5}]}"#,
                ok("offer_callback", None),
            ),
            // An undocumented state is kept (and means no offer downstream).
            (
                r#"{"data":[{"widget_state":"maintenance"}]}"#,
                ok("maintenance", None),
            ),
            (r#"{"data":[]}"#, Err(SchedulerError::BadResponse)),
            (
                r#"{"data":[{"widget_state":""}]}"#,
                Err(SchedulerError::BadResponse),
            ),
            (
                r#"{"data":[{"widget_state":true}]}"#,
                Err(SchedulerError::BadResponse),
            ),
            (r#"[1,2]"#, Err(SchedulerError::BadResponse)),
            (r#"{"data":"#, Err(SchedulerError::BadResponse)),
        ];
        for (body, want) in table {
            assert_eq!(parse_widget_status(body.as_bytes()), want, "{body}");
        }
    }

    #[test]
    fn widget_ids_are_one_path_segment() {
        for ok in ["w-1", "AbC_09", "1"] {
            assert!(valid_widget_id(ok), "{ok}");
        }
        for bad in ["", "../token", "a/b", "a?b", "a b", "%2e", &"x".repeat(129)] {
            assert!(!valid_widget_id(bad), "{bad}");
        }
    }

    #[test]
    fn only_the_offer_states_take_callbacks() {
        for s in states::ALL {
            assert_eq!(states::takes_callbacks(s), s.starts_with("offer_"), "{s}");
        }
        assert!(!states::takes_callbacks("OFFER_CALLBACK"));
        assert!(!states::takes_callbacks(""));
    }
}
