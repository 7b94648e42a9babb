//! Mindful Agent Answer API: tell Mindful an agent answered a callback.

use crate::http::{Client, StatusCode, Url};
use serde::Serialize;

use crate::http::{self, limits, Budget, RetryPolicy, TransportError};
use crate::oauth::{AuthError, ClientCredentials, OAuthClient};
use crate::phone::matches_mindful_ani;

pub const DEFAULT_TOKEN_URL: &str = "https://auth.getmindful.com/oauth2/token";
pub const DEFAULT_API_URL: &str = "https://api.getmindful.com";
pub const AGENT_ANSWER_PATH: &str = "/v2/callback/agentAnswer";

/// `API_URL` may be the full endpoint (as Mindful's guide uses it) or a bare base URL: a URL
/// without a path gets [`AGENT_ANSWER_PATH`] appended.
pub fn agent_answer_endpoint(mut url: Url) -> Url {
    if url.path().trim_matches('/').is_empty() {
        url.set_path(AGENT_ANSWER_PATH);
    }
    url
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnswerOutcome {
    /// 2xx: Mindful accepted the event.
    Accepted { http_status: u16 },
    /// 404: Mindful has no call connecting for that ANI (expected, not an error).
    NoCall,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnswerError {
    #[error("the ANI does not match Mindful's pattern")]
    InvalidAni,
    #[error("{0}")]
    Auth(#[from] AuthError),
    #[error("Mindful rejected the bearer token twice (HTTP 401)")]
    Unauthorized,
    #[error("Mindful is rate limiting (HTTP 429)")]
    RateLimited,
    #[error("Mindful did not answer within the time budget")]
    Timeout,
    #[error("Mindful rejected the request (HTTP {0})")]
    Rejected(u16),
    #[error("Mindful failed (HTTP {0})")]
    Upstream(u16),
    #[error("Mindful is unreachable: {0}")]
    Unreachable(String),
    #[error("Mindful answered with a body larger than {0} bytes")]
    TooLarge(usize),
}

impl AnswerError {
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Self::Unauthorized => Some(401),
            Self::RateLimited => Some(429),
            Self::Rejected(s) | Self::Upstream(s) => Some(*s),
            Self::Auth(AuthError::Rejected(s)) | Self::Auth(AuthError::Upstream(s)) => Some(*s),
            Self::Auth(AuthError::RateLimited) => Some(429),
            _ => None,
        }
    }
}

#[derive(Serialize)]
struct Body<'a> {
    data: Data<'a>,
}

#[derive(Serialize)]
struct Data<'a> {
    ani: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<Metadata<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Metadata<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    agent_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    queue_id: Option<&'a str>,
}

/// Builds the request body; `metadata` only with the ids given, and left out when both are absent
/// (Mindful rejects an empty `metadata`).
pub fn answer_body(ani: &str, agent_id: Option<&str>, queue_id: Option<&str>) -> serde_json::Value {
    let agent_id = agent_id.map(str::trim).filter(|s| !s.is_empty());
    let queue_id = queue_id.map(str::trim).filter(|s| !s.is_empty());
    let metadata =
        (agent_id.is_some() || queue_id.is_some()).then_some(Metadata { agent_id, queue_id });
    serde_json::to_value(Body {
        data: Data { ani, metadata },
    })
    .unwrap_or_default()
}

/// The result of one `answer` call, with the request count for metrics and tests.
#[derive(Debug, Clone)]
pub struct AnswerReport {
    pub outcome: Result<AnswerOutcome, AnswerError>,
    pub token_from_cache: bool,
}

/// Agent Answer with its OAuth client: token from the cache, one POST, and on 401 one refresh
/// and one retry.
pub struct AgentAnswerClient {
    http: Client,
    oauth: OAuthClient,
}

impl AgentAnswerClient {
    pub fn new(http: Client) -> Self {
        Self {
            oauth: OAuthClient::new(http.clone()),
            http,
        }
    }

    pub fn oauth(&self) -> &OAuthClient {
        &self.oauth
    }

    /// The token, while the Agent Answer API's connection (TCP and TLS) is set up beside it: a
    /// first call then costs the token's round trips plus one, not twice the set-up
    /// (docs/performance.md, "Round trips"). When the token fails, the answer does not wait for
    /// the set-up.
    async fn token_while_connecting(
        &self,
        creds: &ClientCredentials,
        endpoint: &Url,
        budget: &Budget,
    ) -> Result<crate::oauth::Token, AuthError> {
        let connecting = self.http.preconnect(endpoint, budget.deadline());
        let token = self.oauth.token(creds, budget);
        tokio::pin!(connecting, token);
        let mut connected = false;
        let token = loop {
            tokio::select! {
                t = &mut token => break t,
                () = &mut connecting, if !connected => connected = true,
            }
        };
        if token.is_ok() && !connected {
            let _ = budget.run(connecting).await;
        }
        token
    }

    pub async fn answer(
        &self,
        endpoint: &Url,
        creds: &ClientCredentials,
        ani: &str,
        agent_id: Option<&str>,
        queue_id: Option<&str>,
        budget: &Budget,
    ) -> AnswerReport {
        let mut report = AnswerReport {
            outcome: Err(AnswerError::InvalidAni),
            token_from_cache: false,
        };
        if !matches_mindful_ani(ani) {
            return report;
        }
        let body = answer_body(ani, agent_id, queue_id);
        for round in 0..2 {
            let token = if round == 0 {
                self.token_while_connecting(creds, endpoint, budget).await
            } else {
                self.oauth.token(creds, budget).await
            };
            let token = match token {
                Ok(t) => t,
                Err(e) => {
                    if matches!(e, AuthError::Timeout) {
                        report.outcome = Err(AnswerError::Timeout);
                    } else {
                        report.outcome = Err(AnswerError::Auth(e));
                    }
                    return report;
                }
            };
            if round == 0 {
                report.token_from_cache = token.from_cache;
            }
            let sent = http::send(
                budget,
                RetryPolicy::NotProcessedOnly,
                limits::AGENT_ANSWER_REPLY,
                || {
                    self.http
                        .post(endpoint.clone())
                        .bearer_auth(token.value.expose())
                        .json(&body)
                },
            )
            .await;
            let response = match sent {
                Ok(r) => r,
                Err(e) => {
                    report.outcome = Err(match e {
                        TransportError::Timeout => AnswerError::Timeout,
                        TransportError::Connect(m) | TransportError::Other(m) => {
                            AnswerError::Unreachable(m)
                        }
                        TransportError::TooLarge { limit } => AnswerError::TooLarge(limit),
                    });
                    return report;
                }
            };
            report.outcome = match response.status {
                s if s.is_success() => Ok(AnswerOutcome::Accepted {
                    http_status: s.as_u16(),
                }),
                StatusCode::NOT_FOUND => Ok(AnswerOutcome::NoCall),
                StatusCode::UNAUTHORIZED if round == 0 => {
                    // The cached token was revoked or expired early: refresh once and retry once.
                    self.oauth.invalidate(creds).await;
                    continue;
                }
                StatusCode::UNAUTHORIZED => Err(AnswerError::Unauthorized),
                StatusCode::TOO_MANY_REQUESTS => Err(AnswerError::RateLimited),
                s if s.is_client_error() => Err(AnswerError::Rejected(s.as_u16())),
                s => Err(AnswerError::Upstream(s.as_u16())),
            };
            return report;
        }
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn body_metadata_only_with_given_ids() {
        assert_eq!(
            answer_body("+13209071234", None, None),
            json!({"data":{"ani":"+13209071234"}})
        );
        assert_eq!(
            answer_body("+13209071234", Some(" "), Some("")),
            json!({"data":{"ani":"+13209071234"}})
        );
        assert_eq!(
            answer_body("+13209071234", Some("jdoe"), None),
            json!({"data":{"ani":"+13209071234","metadata":{"agentId":"jdoe"}}})
        );
        assert_eq!(
            answer_body("+13209071234", Some("jdoe"), Some("arn:q")),
            json!({"data":{"ani":"+13209071234","metadata":{"agentId":"jdoe","queueId":"arn:q"}}})
        );
    }

    #[test]
    fn endpoint_from_base_or_full_url() {
        let full = Url::parse("https://api.getmindful.com/v2/callback/agentAnswer").unwrap();
        assert_eq!(agent_answer_endpoint(full.clone()), full);
        assert_eq!(
            agent_answer_endpoint(Url::parse("https://api.getmindful.com").unwrap()),
            full
        );
        assert_eq!(
            agent_answer_endpoint(Url::parse("https://api.getmindful.com/").unwrap()),
            full
        );
        let custom = Url::parse("http://127.0.0.1:9/custom/path").unwrap();
        assert_eq!(agent_answer_endpoint(custom.clone()), custom);
    }
}
