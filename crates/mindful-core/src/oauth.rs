//! Mindful OAuth 2.0 client credentials, with a process-wide token cache.
//!
//! A hand-written form POST instead of the `oauth2` crate: that crate's HTTP integration targets
//! reqwest 0.12 and has no cache, and the cache is the point here: warm invocations reuse the token
//! so agent-answer makes exactly one request per call in steady state.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode, Url};
use serde_json::Value;
use tokio::sync::Mutex;

use crate::http::{self, Budget, RetryPolicy, TransportError};
use crate::secret::Secret;

/// Tokens are reused until this long before they expire.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(60);
/// Lifetime assumed when the token response has no `expires_in`.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);

/// What identifies a client at a token endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCredentials {
    pub token_url: Url,
    pub client_id: String,
    pub client_secret: Secret,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("the token endpoint rejected the client credentials (HTTP {0})")]
    Rejected(u16),
    #[error("the token endpoint is rate limiting (HTTP 429)")]
    RateLimited,
    #[error("the token endpoint failed (HTTP {0})")]
    Upstream(u16),
    #[error("the token endpoint did not answer within the time budget")]
    Timeout,
    #[error("the token endpoint is unreachable: {0}")]
    Unreachable(String),
    #[error("the token endpoint answered without a usable access_token")]
    BadResponse,
}

/// (token URL, client id, client secret): the secret too, so a wrong secret never gets the
/// token a right one obtained. Kept as a [`Secret`] so the key never prints it.
type CacheKey = (String, String, Secret);

#[derive(Clone)]
struct CachedToken {
    token: Secret,
    reuse_until: Instant,
}

/// Fetches and caches bearer tokens, keyed by (token URL, client id).
pub struct OAuthClient {
    http: Client,
    // A tokio Mutex held across the refresh: concurrent callers wait for the one refresh in flight
    // and then read its token, instead of each fetching their own.
    cache: Mutex<HashMap<CacheKey, CachedToken>>,
}

/// A bearer token plus whether it came from the cache (for logs and request counting).
#[derive(Debug, Clone)]
pub struct Token {
    pub value: Secret,
    pub from_cache: bool,
}

impl OAuthClient {
    pub fn new(http: Client) -> Self {
        Self {
            http,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The cache key: the whole credentials. Without the secret, a call with a wrong secret (a
    /// flow's `Secret_Num`) would be served the token another caller obtained with the right one.
    fn key(creds: &ClientCredentials) -> CacheKey {
        (
            creds.token_url.as_str().to_string(),
            creds.client_id.clone(),
            creds.client_secret.clone(),
        )
    }

    /// A valid token: the cached one while it has more than [`REFRESH_MARGIN`] left (or half its
    /// lifetime, for short-lived tokens), else a fresh one from the token endpoint.
    pub async fn token(
        &self,
        creds: &ClientCredentials,
        budget: &Budget,
    ) -> Result<Token, AuthError> {
        let key = Self::key(creds);
        let mut cache = self.cache.lock().await;
        if let Some(cached) = cache.get(&key) {
            if Instant::now() < cached.reuse_until {
                return Ok(Token {
                    value: cached.token.clone(),
                    from_cache: true,
                });
            }
        }
        let (token, lifetime) = self.fetch(creds, budget).await?;
        let margin = REFRESH_MARGIN.min(lifetime / 2);
        cache.insert(
            key,
            CachedToken {
                token: token.clone(),
                reuse_until: Instant::now() + lifetime - margin,
            },
        );
        Ok(Token {
            value: token,
            from_cache: false,
        })
    }

    /// Drops the cached token (after a 401 from the API), so the next call fetches a new one.
    pub async fn invalidate(&self, creds: &ClientCredentials) {
        self.cache.lock().await.remove(&Self::key(creds));
    }

    async fn fetch(
        &self,
        creds: &ClientCredentials,
        budget: &Budget,
    ) -> Result<(Secret, Duration), AuthError> {
        let response = http::send(budget, RetryPolicy::Idempotent, || {
            self.http
                .post(creds.token_url.clone())
                .basic_auth(&creds.client_id, Some(creds.client_secret.expose()))
                .header(reqwest::header::ACCEPT, "application/json")
                .form(&[("grant_type", "client_credentials")])
        })
        .await
        .map_err(|e| match e {
            TransportError::Timeout => AuthError::Timeout,
            TransportError::Connect(m) | TransportError::Other(m) => AuthError::Unreachable(m),
        })?;
        match response.status {
            s if s.is_success() => parse_token_response(&response.body),
            StatusCode::TOO_MANY_REQUESTS => Err(AuthError::RateLimited),
            s if s.is_client_error() => Err(AuthError::Rejected(s.as_u16())),
            s => Err(AuthError::Upstream(s.as_u16())),
        }
    }
}

/// Parses `{"access_token": "...", "expires_in": 3600, "token_type": "Bearer"}`; `expires_in` may
/// be a number or a numeric string, and defaults to an hour.
pub fn parse_token_response(body: &[u8]) -> Result<(Secret, Duration), AuthError> {
    let value: Value = serde_json::from_slice(body).map_err(|_| AuthError::BadResponse)?;
    let token = value
        .get("access_token")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(AuthError::BadResponse)?;
    let expires_in = match value.get("expires_in") {
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
    .filter(|s| s.is_finite() && *s > 0.0)
    .map(|s| Duration::from_secs_f64(s.min(86_400.0)))
    .unwrap_or(DEFAULT_LIFETIME);
    Ok((Secret::new(token), expires_in))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression (found by agent-answer's no-secrets tests): a cached token is only reused for
    /// the same secret, so a wrong `Secret_Num` is rejected even after a right one was used.
    #[test]
    fn cache_key_includes_the_secret() {
        let creds = |secret: &str| ClientCredentials {
            token_url: Url::parse("https://auth.example.com/oauth2/token").unwrap(),
            client_id: "client".into(),
            client_secret: Secret::new(secret),
        };
        assert_eq!(
            OAuthClient::key(&creds("right")),
            OAuthClient::key(&creds("right"))
        );
        assert_ne!(
            OAuthClient::key(&creds("right")),
            OAuthClient::key(&creds("wrong"))
        );
    }

    #[test]
    fn token_response_shapes() {
        let (t, d) = parse_token_response(
            br#"{"access_token":"abc","expires_in":120,"token_type":"Bearer"}"#,
        )
        .unwrap();
        assert_eq!(t.expose(), "abc");
        assert_eq!(d, Duration::from_secs(120));
        let (_, d) = parse_token_response(br#"{"access_token":"abc"}"#).unwrap();
        assert_eq!(d, DEFAULT_LIFETIME);
        let (_, d) = parse_token_response(br#"{"access_token":"abc","expires_in":"90"}"#).unwrap();
        assert_eq!(d, Duration::from_secs(90));
        let (_, d) = parse_token_response(br#"{"access_token":"abc","expires_in":-5}"#).unwrap();
        assert_eq!(d, DEFAULT_LIFETIME);
        for bad in [
            &b""[..],
            b"{",
            b"[]",
            br#"{"access_token":""}"#,
            br#"{"access_token":5}"#,
            br#"{"token":"x"}"#,
        ] {
            assert_eq!(
                parse_token_response(bad).map(|_| ()),
                Err(AuthError::BadResponse)
            );
        }
    }
}
