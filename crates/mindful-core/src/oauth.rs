//! Mindful OAuth 2.0 client credentials, with a process-wide token cache.
//!
//! A hand-written form POST instead of the `oauth2` crate: that crate's HTTP integration targets
//! reqwest 0.12 and has no cache, and the cache is the point here: warm invocations reuse the token
//! so agent-answer makes exactly one request per call in steady state.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::http::{Client, StatusCode, Url};
use serde_json::Value;
use tokio::sync::Mutex;

use crate::http::{self, limits, Budget, RetryPolicy, TransportError};
use crate::secret::Secret;

/// Tokens are reused until this long before they expire.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(60);
/// Lifetime assumed when the token response has no (numeric) `expires_in`: RFC 6749 §5.1 makes
/// it optional ("RECOMMENDED"); an hour is the common default, and a 401 from the API drops a
/// token that dies sooner.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);
/// Longest lifetime believed: a token claiming more (a bogus or unit-confused `expires_in`) is
/// still reused for at most a day, so a rotated secret takes effect within a day at worst.
pub const MAX_LIFETIME: Duration = Duration::from_secs(86_400);
/// Longest access token accepted. Real ones are 1-8 KB; anything longer is not a header we want
/// to send on every call.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;
/// Most credentials cached at once. One deployment uses one or two (configuration, and a flow's
/// seed parameters); a flow passing a different `Token_URL`/`Secret_Num` per call must not grow
/// the process without bound. When full, expired entries go first, then the one expiring first.
pub const MAX_CACHED_TOKENS: usize = 16;

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
    #[error("the token endpoint answered without a usable bearer token: {0}")]
    BadResponse(&'static str),
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
        let issued = self.fetch(creds, budget).await?;
        let token = issued.token;
        // A token that is already expired (`expires_in` 0 or negative) serves this call only.
        if let Some(lifetime) = issued.lifetime {
            let margin = REFRESH_MARGIN.min(lifetime / 2);
            let now = Instant::now();
            if cache.len() >= MAX_CACHED_TOKENS && !cache.contains_key(&key) {
                cache.retain(|_, c| c.reuse_until > now);
                if cache.len() >= MAX_CACHED_TOKENS {
                    let first_to_expire = cache
                        .iter()
                        .min_by_key(|(_, c)| c.reuse_until)
                        .map(|(k, _)| k.clone());
                    if let Some(k) = first_to_expire {
                        cache.remove(&k);
                    }
                }
            }
            cache.insert(
                key,
                CachedToken {
                    token: token.clone(),
                    reuse_until: now + lifetime - margin,
                },
            );
        }
        Ok(Token {
            value: token,
            from_cache: false,
        })
    }

    /// How many tokens are cached now.
    pub async fn cached_tokens(&self) -> usize {
        self.cache.lock().await.len()
    }

    /// Drops the cached token (after a 401 from the API), so the next call fetches a new one.
    pub async fn invalidate(&self, creds: &ClientCredentials) {
        self.cache.lock().await.remove(&Self::key(creds));
    }

    async fn fetch(
        &self,
        creds: &ClientCredentials,
        budget: &Budget,
    ) -> Result<IssuedToken, AuthError> {
        let response = http::send(
            budget,
            RetryPolicy::Idempotent,
            limits::TOKEN_RESPONSE,
            || {
                self.http
                    .post(creds.token_url.clone())
                    .basic_auth(&creds.client_id, Some(creds.client_secret.expose()))
                    .header(::http::header::ACCEPT, "application/json")
                    .form(&[("grant_type", "client_credentials")])
            },
        )
        .await
        .map_err(|e| match e {
            TransportError::Timeout => AuthError::Timeout,
            TransportError::Connect(m) | TransportError::Other(m) => AuthError::Unreachable(m),
            TransportError::TooLarge { .. } => {
                AuthError::BadResponse("the response is larger than 64 KiB")
            }
        })?;
        match response.status {
            s if s.is_success() => parse_token_response(&response.body),
            StatusCode::TOO_MANY_REQUESTS => Err(AuthError::RateLimited),
            s if s.is_client_error() => Err(AuthError::Rejected(s.as_u16())),
            s => Err(AuthError::Upstream(s.as_u16())),
        }
    }
}

/// A validated token response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedToken {
    pub token: Secret,
    /// How long it may be reused; `None`: already expired (`expires_in` <= 0), use once.
    pub lifetime: Option<Duration>,
}

/// Parses and validates `{"access_token": "...", "expires_in": 3600, "token_type": "Bearer"}`
/// (RFC 6749 §5.1). Nothing that fails here is cached, so a bad answer costs one call, not a day
/// of failures:
/// - `access_token`: a non-empty RFC 6750 §2.1 `b64token` (letters, digits, `-._~+/`, then `=`
///   padding) of at most [`MAX_TOKEN_LEN`] bytes: it goes into an `Authorization` header, where
///   CR/LF, NUL, DEL or spaces would break or smuggle headers.
/// - `token_type`: `Bearer`, compared case-insensitively (RFC 6749 §5.1, §7.1); absent is taken
///   as Bearer (the only type this client can use); any other type is refused.
/// - `expires_in`: seconds, a number or a numeric string. Absent or not a number: an hour
///   ([`DEFAULT_LIFETIME`]). 0 or negative: valid for this call only, not cached. Above a day:
///   a day ([`MAX_LIFETIME`]).
pub fn parse_token_response(body: &[u8]) -> Result<IssuedToken, AuthError> {
    let value: Value = serde_json::from_slice(crate::http::without_bom(body))
        .map_err(|_| AuthError::BadResponse("the body is not JSON"))?;
    let token = value
        .get("access_token")
        .and_then(Value::as_str)
        .ok_or(AuthError::BadResponse("no access_token string"))?;
    if !is_b64token(token) {
        return Err(AuthError::BadResponse(
            "access_token is empty, too long or has characters a header cannot carry",
        ));
    }
    match value.get("token_type") {
        None | Some(Value::Null) => {}
        Some(Value::String(t)) if t.trim().eq_ignore_ascii_case("bearer") => {}
        Some(_) => return Err(AuthError::BadResponse("token_type is not Bearer")),
    }
    let expires_in = match value.get("expires_in") {
        // From the number's text: `as_f64` refuses what overflows a float.
        Some(Value::Number(n)) => n.to_string().parse::<f64>().ok(),
        Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
    // `1e999` is +inf: clamped below like any long lifetime; NaN cannot come from JSON.
    .filter(|s| !s.is_nan());
    let lifetime = match expires_in {
        None => Some(DEFAULT_LIFETIME),
        Some(s) if s < 1.0 => None,
        Some(s) => Some(Duration::from_secs(s.min(MAX_LIFETIME.as_secs_f64()) as u64)),
    };
    Ok(IssuedToken {
        token: Secret::new(token),
        lifetime,
    })
}

/// RFC 6750 §2.1: `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && token.len() <= MAX_TOKEN_LEN
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
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
    fn token_response_rules() {
        let parse = |body: &str| parse_token_response(body.as_bytes());
        let lifetime = |body: &str| parse(body).map(|t| t.lifetime);
        let t = parse(r#"{"access_token":"abc","expires_in":120,"token_type":"Bearer"}"#).unwrap();
        assert_eq!(t.token.expose(), "abc");
        assert_eq!(t.lifetime, Some(Duration::from_secs(120)));
        // (body, lifetime): the expires_in rules.
        let table: &[(&str, Option<Duration>)] = &[
            (r#"{"access_token":"abc"}"#, Some(DEFAULT_LIFETIME)),
            (
                r#"{"access_token":"abc","expires_in":null}"#,
                Some(DEFAULT_LIFETIME),
            ),
            (
                r#"{"access_token":"abc","expires_in":"soon"}"#,
                Some(DEFAULT_LIFETIME),
            ),
            (
                r#"{"access_token":"abc","expires_in":"90"}"#,
                Some(Duration::from_secs(90)),
            ),
            (r#"{"access_token":"abc","expires_in":0}"#, None),
            (r#"{"access_token":"abc","expires_in":0.5}"#, None),
            (r#"{"access_token":"abc","expires_in":-5}"#, None),
            (
                r#"{"access_token":"abc","expires_in":1e300}"#,
                Some(MAX_LIFETIME),
            ),
            (
                r#"{"access_token":"abc","expires_in":31536000}"#,
                Some(MAX_LIFETIME),
            ),
            (
                r#"{"access_token":"a.b-c_d~e+f/g==","token_type":"bearer"}"#,
                Some(DEFAULT_LIFETIME),
            ),
            (
                r#"{"access_token":"abc","token_type":"BEARER "}"#,
                Some(DEFAULT_LIFETIME),
            ),
        ];
        for (body, want) in table {
            assert_eq!(lifetime(body), Ok(*want), "{body}");
        }
        let long = format!(r#"{{"access_token":"{}"}}"#, "a".repeat(MAX_TOKEN_LEN + 1));
        for bad in [
            "",
            "{",
            "[]",
            r#"{"access_token":""}"#,
            r#"{"access_token":5}"#,
            r#"{"token":"x"}"#,
            // Regression: header-breaking tokens were cached and poisoned every later call.
            r#"{"access_token":"abc\r\nX-Injected: 1"}"#,
            r#"{"access_token":"abc\ndef"}"#,
            r#"{"access_token":"abc\u0000"}"#,
            r#"{"access_token":"abc\u007f"}"#,
            r#"{"access_token":"abc def"}"#,
            r#"{"access_token":"==="}"#,
            r#"{"access_token":"ab=c"}"#,
            r#"{"access_token":"tökén"}"#,
            r#"{"access_token":"abc","token_type":"mac"}"#,
            r#"{"access_token":"abc","token_type":5}"#,
            long.as_str(),
        ] {
            assert!(
                matches!(parse(bad), Err(AuthError::BadResponse(_))),
                "{bad:.60}"
            );
        }
    }
}
