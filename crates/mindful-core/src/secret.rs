//! Secrets: a redacting wrapper, and lazy reads through the AWS Parameters and Secrets Lambda
//! Extension.
//!
//! The extension serves `localhost:2773` only during the INVOKE phase, so secrets are fetched on
//! first use inside a handler, never in `main`, and cached for the process with a TTL (the
//! extension caches too; ours saves the local round trip on every warm invocation).

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant};

use crate::http::Client;
use serde_json::Value;
use tokio::sync::Mutex;

use crate::config::vars;
use crate::http::{self, limits, Budget, RetryPolicy, TransportError};

/// A secret string. `Debug` and `Display` never show it; only [`Secret::expose`] does, at the
/// one place it goes on the wire.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Where a secret comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// Given directly (environment variable or flow parameter).
    Value(Secret),
    /// A Secrets Manager secret id or ARN. `SecretString` is used as is, or, when it is a JSON
    /// object (the console's "key/value" secrets), the value under `key`, or its only value.
    SecretsManager { id: String, key: Option<String> },
    /// An SSM Parameter Store name or ARN (SecureString decrypted).
    Ssm { name: String },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("the secrets extension did not answer in time")]
    Timeout,
    #[error("the secrets extension is not reachable (is the layer attached?): {0}")]
    Unreachable(String),
    #[error("the secrets extension answered HTTP {0}")]
    Status(u16),
    #[error("the secret has no usable value")]
    Empty,
    #[error("the secrets extension answered with an unexpected body")]
    BadResponse,
}

/// Reads secrets through the Parameters and Secrets Lambda Extension, with a per-process cache.
pub struct SecretStore {
    http: Client,
    base_url: String,
    session_token: Option<String>,
    ttl: Duration,
    cache: Mutex<HashMap<String, (Secret, Instant)>>,
}

impl SecretStore {
    /// `base_url` is `http://localhost:2773` in Lambda (port from
    /// `PARAMETERS_SECRETS_EXTENSION_HTTP_PORT`).
    pub fn new(
        http: Client,
        base_url: impl Into<String>,
        session_token: Option<String>,
        ttl: Duration,
    ) -> Self {
        Self {
            http,
            base_url: base_url.into().trim_end_matches('/').to_string(),
            session_token,
            ttl,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Configured from the Lambda environment the way the extension documents it: the port from
    /// `PARAMETERS_SECRETS_EXTENSION_HTTP_PORT` (default 2773) on `localhost`, the
    /// `X-Aws-Parameters-Secrets-Token` header from `AWS_SESSION_TOKEN`
    /// (<https://docs.aws.amazon.com/secretsmanager/latest/userguide/retrieving-secrets_lambda.html>),
    /// and our cache TTL from `SECRETS_CACHE_TTL_SECONDS` (default 300, the extension's own).
    /// Always plain http to loopback: the extension serves nothing else, and no setting can
    /// point the secret requests anywhere else.
    pub fn from_env(http: Client, env: &dyn Fn(&str) -> Option<String>) -> Self {
        let port = env(vars::PARAMETERS_SECRETS_EXTENSION_HTTP_PORT)
            .and_then(|p| p.trim().parse::<u16>().ok())
            .filter(|p| *p != 0)
            .unwrap_or(2773);
        let ttl = env(vars::SECRETS_CACHE_TTL_SECONDS)
            .and_then(|t| t.trim().parse::<u64>().ok())
            .unwrap_or(300);
        Self::new(
            http,
            format!("http://localhost:{port}"),
            env(vars::AWS_SESSION_TOKEN),
            Duration::from_secs(ttl),
        )
    }

    /// Resolves `source` to its value, from the cache when fresh.
    pub async fn resolve(
        &self,
        source: &SecretSource,
        budget: &Budget,
    ) -> Result<Secret, SecretError> {
        let (cache_key, path, query) = match source {
            SecretSource::Value(v) => {
                return if v.is_empty() {
                    Err(SecretError::Empty)
                } else {
                    Ok(v.clone())
                };
            }
            SecretSource::SecretsManager { id, key } => (
                format!("sm:{id}#{}", key.as_deref().unwrap_or("")),
                "/secretsmanager/get",
                vec![("secretId", id.clone())],
            ),
            SecretSource::Ssm { name } => (
                format!("ssm:{name}"),
                "/systemsmanager/parameters/get",
                vec![
                    ("name", name.clone()),
                    ("withDecryption", "true".to_string()),
                ],
            ),
        };
        let mut cache = self.cache.lock().await;
        if let Some((value, at)) = cache.get(&cache_key) {
            if at.elapsed() < self.ttl {
                return Ok(value.clone());
            }
        }
        let url = format!("{}{}", self.base_url, path);
        let response = http::send(
            budget,
            RetryPolicy::Idempotent,
            limits::SECRETS_EXTENSION,
            || {
                let mut req = self.http.get(&url).query(&query);
                if let Some(token) = &self.session_token {
                    req = req.header("X-Aws-Parameters-Secrets-Token", token);
                }
                req
            },
        )
        .await
        .map_err(|e| match e {
            TransportError::Timeout => SecretError::Timeout,
            TransportError::Connect(m) | TransportError::Other(m) => SecretError::Unreachable(m),
            TransportError::TooLarge { .. } => SecretError::BadResponse,
        })?;
        if !response.status.is_success() {
            return Err(SecretError::Status(response.status.as_u16()));
        }
        let body: Value =
            serde_json::from_slice(&response.body).map_err(|_| SecretError::BadResponse)?;
        let value = match source {
            SecretSource::SecretsManager { key, .. } => {
                let s = body
                    .get("SecretString")
                    .and_then(Value::as_str)
                    .ok_or(SecretError::BadResponse)?;
                pick_secret_string(s, key.as_deref())?
            }
            _ => body
                .pointer("/Parameter/Value")
                .and_then(Value::as_str)
                .ok_or(SecretError::BadResponse)?
                .trim()
                .to_string(),
        };
        if value.is_empty() {
            return Err(SecretError::Empty);
        }
        let secret = Secret::new(value);
        cache.insert(cache_key, (secret.clone(), Instant::now()));
        Ok(secret)
    }
}

fn pick_secret_string(s: &str, key: Option<&str>) -> Result<String, SecretError> {
    let trimmed = s.trim();
    if trimmed.starts_with('{') {
        if let Ok(Value::Object(map)) = serde_json::from_str::<Value>(trimmed) {
            let picked = match key {
                Some(k) => map.get(k).and_then(Value::as_str),
                None if map.len() == 1 => map.values().next().and_then(Value::as_str),
                None => None,
            };
            return picked
                .map(|v| v.trim().to_string())
                .ok_or(SecretError::Empty);
        }
    }
    Ok(trimmed.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_formats_its_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(format!("{s}"), "***");
        assert_eq!(
            format!("{:?}", SecretSource::Value(s.clone())),
            "Value(Secret(***))"
        );
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn secret_string_shapes() {
        assert_eq!(pick_secret_string(" abc ", None), Ok("abc".into()));
        assert_eq!(
            pick_secret_string(r#"{"client_secret":"x"}"#, None),
            Ok("x".into())
        );
        assert_eq!(
            pick_secret_string(r#"{"a":"1","b":"2"}"#, Some("b")),
            Ok("2".into())
        );
        assert_eq!(
            pick_secret_string(r#"{"a":"1","b":"2"}"#, None),
            Err(SecretError::Empty)
        );
        assert_eq!(
            pick_secret_string(r#"{"a":"1"}"#, Some("zz")),
            Err(SecretError::Empty)
        );
    }
}
