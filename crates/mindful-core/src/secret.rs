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

use crate::config::{vars, SecretSetting};
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
    /// A Secrets Manager secret id or ARN. Without `key`, `SecretString` is used as is, or, when
    /// it is a JSON object (the console's "key/value" secrets) of one value, that value. With
    /// `key` (named by the variable `key_var`), it must be a JSON object holding `key` as a
    /// non-empty string: anything else is [`SecretError::Shape`], and nothing is sent.
    SecretsManager {
        id: String,
        key: Option<String>,
        key_var: &'static str,
    },
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
    /// The secret is not what the configuration says: a key is named, but the SecretString is
    /// not a JSON object holding it as a non-empty string. A configuration error: the string is
    /// never sent whole (it may be another system's credentials).
    #[error("{key_var} names the key \"{key}\", but the secret is not a JSON object holding it as a non-empty string")]
    Shape { key_var: &'static str, key: String },
}

impl SecretError {
    /// Whether the configuration is at fault (the answer is `invalid_config`).
    pub fn is_config(&self) -> bool {
        matches!(self, Self::Shape { .. })
    }
}

/// Reads secrets through the Parameters and Secrets Lambda Extension, with a per-process cache.
pub struct SecretStore {
    http: Client,
    base_url: String,
    session_token: Option<String>,
    ttl: Duration,
    cache: Mutex<HashMap<String, (Secret, Instant)>>,
    /// When each secret was last re-read after an authentication failure ([`Self::refresh`]).
    refreshed: Mutex<HashMap<String, Instant>>,
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
            refreshed: Mutex::new(HashMap::new()),
        }
    }

    /// Configured from the Lambda environment the way the extension documents it: the port from
    /// `PARAMETERS_SECRETS_EXTENSION_HTTP_PORT` (default 2773) on `localhost`, the
    /// `X-Aws-Parameters-Secrets-Token` header from `AWS_SESSION_TOKEN`
    /// (<https://docs.aws.amazon.com/secretsmanager/latest/userguide/retrieving-secrets_lambda.html>),
    /// and our cache TTL from `SECRETS_CACHE_TTL_SECONDS` (default 300, the extension's own).
    /// Always plain http to loopback: the extension serves nothing else, and no setting can
    /// point the secret requests anywhere else.
    ///
    /// An invalid port or TTL is a configuration error the function reports at start and answers
    /// with ([`crate::config::CommonConfig::from_env`] checks the same variables with the same
    /// [`crate::config::extension_settings`]); the store itself then keeps the defaults, unused.
    pub fn from_env(http: Client, env: &dyn Fn(&str) -> Option<String>) -> Self {
        let settings = crate::config::extension_settings(env).unwrap_or_default();
        Self::new(
            http,
            format!("http://localhost:{}", settings.port),
            env(vars::AWS_SESSION_TOKEN),
            settings.ttl,
        )
    }

    /// After Mindful refused the secret (401/403): reads it again, past the cache, and returns
    /// the new value if it changed (a rotation), else `None`. At most once per TTL window per
    /// secret, so a wrong secret cannot turn every call into an extension read; a value given
    /// directly is never re-read.
    pub async fn refresh(
        &self,
        source: &SecretSource,
        budget: &Budget,
    ) -> Result<Option<Secret>, SecretError> {
        let Some(cache_key) = Self::cache_key(source) else {
            return Ok(None);
        };
        {
            let mut refreshed = self.refreshed.lock().await;
            if refreshed
                .get(&cache_key)
                .is_some_and(|at| at.elapsed() < self.ttl)
            {
                return Ok(None);
            }
            refreshed.insert(cache_key.clone(), Instant::now());
        }
        let before = self
            .cache
            .lock()
            .await
            .get(&cache_key)
            .map(|(v, _)| v.clone());
        let fresh = self.fetch(source, budget).await?;
        self.cache
            .lock()
            .await
            .insert(cache_key, (fresh.clone(), Instant::now()));
        Ok((before.as_ref() != Some(&fresh)).then_some(fresh))
    }

    fn cache_key(source: &SecretSource) -> Option<String> {
        match source {
            SecretSource::Value(_) => None,
            SecretSource::SecretsManager { id, key, .. } => {
                Some(format!("sm:{id}#{}", key.as_deref().unwrap_or("")))
            }
            SecretSource::Ssm { name } => Some(format!("ssm:{name}")),
        }
    }

    /// Resolves `source` to its value, from the cache when fresh.
    pub async fn resolve(
        &self,
        source: &SecretSource,
        budget: &Budget,
    ) -> Result<Secret, SecretError> {
        let Some(cache_key) = Self::cache_key(source) else {
            return match source {
                SecretSource::Value(v) if !v.is_empty() => Ok(v.clone()),
                _ => Err(SecretError::Empty),
            };
        };
        let mut cache = self.cache.lock().await;
        if let Some((value, at)) = cache.get(&cache_key) {
            if at.elapsed() < self.ttl {
                return Ok(value.clone());
            }
        }
        let secret = self.fetch(source, budget).await?;
        cache.insert(cache_key, (secret.clone(), Instant::now()));
        Ok(secret)
    }

    /// One read through the extension (no cache).
    async fn fetch(&self, source: &SecretSource, budget: &Budget) -> Result<Secret, SecretError> {
        let (path, query) = match source {
            SecretSource::Value(v) => {
                return if v.is_empty() {
                    Err(SecretError::Empty)
                } else {
                    Ok(v.clone())
                };
            }
            SecretSource::SecretsManager { id, .. } => {
                ("/secretsmanager/get", vec![("secretId", id.clone())])
            }
            SecretSource::Ssm { name } => (
                "/systemsmanager/parameters/get",
                vec![
                    ("name", name.clone()),
                    ("withDecryption", "true".to_string()),
                ],
            ),
        };
        let url = format!("{}{}", self.base_url, path);
        let response = http::send_to_extension(
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
        let body: Value = serde_json::from_slice(http::without_bom(&response.body))
            .map_err(|_| SecretError::BadResponse)?;
        let value = match source {
            SecretSource::SecretsManager { key, key_var, .. } => {
                let s = body
                    .get("SecretString")
                    .and_then(Value::as_str)
                    .ok_or(SecretError::BadResponse)?;
                match key {
                    Some(k) => pick_keyed(s, k).ok_or_else(|| SecretError::Shape {
                        key_var,
                        key: k.clone(),
                    })?,
                    None => pick_secret_string(s)?,
                }
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
        Ok(Secret::new(value))
    }
}

/// With a key named: the SecretString must be a JSON object holding it as a non-empty string.
fn pick_keyed(s: &str, key: &str) -> Option<String> {
    match serde_json::from_str::<Value>(s.trim().trim_start_matches('\u{feff}')) {
        Ok(Value::Object(map)) => map
            .get(key)
            .and_then(Value::as_str)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty()),
        _ => None,
    }
}

/// Without a key: a JSON object of one string value is that value; any other object has no
/// usable value; anything else (plain text) is the secret.
fn pick_secret_string(s: &str) -> Result<String, SecretError> {
    let trimmed = s.trim();
    if trimmed.starts_with('{') {
        if let Ok(Value::Object(map)) = serde_json::from_str::<Value>(trimmed) {
            let picked = match map.len() {
                1 => map.values().next().and_then(Value::as_str),
                _ => None,
            };
            return picked
                .map(|v| v.trim().to_string())
                .ok_or(SecretError::Empty);
        }
    }
    Ok(trimmed.to_string())
}

/// Reads a secret setting: the plain value, else the Secrets Manager ARN (with the optional JSON
/// key), else the SSM parameter. Names come from `setting` only, never built by string pasting
/// (a pasted `{name}_SECRET_ARN` once read `MINDFUL_CLIENT_SECRET_SECRET_ARN`).
pub fn secret_source(
    env: &dyn Fn(&str) -> Option<String>,
    setting: &SecretSetting,
) -> Option<SecretSource> {
    if let Some(v) = env(setting.value) {
        return Some(SecretSource::Value(Secret::new(v.trim())));
    }
    if let Some(id) = env(setting.secret_arn) {
        return Some(SecretSource::SecretsManager {
            id: id.trim().to_string(),
            key: env(setting.secret_key).map(|k| k.trim().to_string()),
            key_var: setting.secret_key,
        });
    }
    env(setting.parameter).map(|n| SecretSource::Ssm {
        name: n.trim().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bundle_testkit::env_of;

    #[test]
    fn secret_sources() {
        let t = SecretSetting {
            value: "T",
            secret_arn: "T_ARN",
            secret_key: "T_KEY",
            parameter: "T_PARAM",
        };
        assert_eq!(
            secret_source(&env_of(&[("T", "abc")]), &t),
            Some(SecretSource::Value(Secret::new("abc")))
        );
        assert_eq!(
            secret_source(&env_of(&[("T_ARN", "arn:x"), ("T_KEY", "k")]), &t),
            Some(SecretSource::SecretsManager {
                id: "arn:x".into(),
                key: Some("k".into()),
                key_var: "T_KEY",
            })
        );
        assert_eq!(
            secret_source(&env_of(&[("T_PARAM", "/p")]), &t),
            Some(SecretSource::Ssm { name: "/p".into() })
        );
        assert_eq!(secret_source(&env_of(&[]), &t), None);
    }

    /// Regression: the documented and deployed names are the ones read (the client secret's ARN
    /// was read as `MINDFUL_CLIENT_SECRET_SECRET_ARN`).
    #[test]
    fn documented_secret_names_are_read() {
        for (setting, arn, key, param) in [
            (
                vars::MINDFUL_CLIENT_SECRET,
                "MINDFUL_CLIENT_SECRET_ARN",
                "MINDFUL_CLIENT_SECRET_KEY",
                "MINDFUL_CLIENT_SECRET_PARAMETER",
            ),
            (
                vars::DATASTORE_TOKEN,
                "DATASTORE_TOKEN_SECRET_ARN",
                "DATASTORE_TOKEN_SECRET_KEY",
                "DATASTORE_TOKEN_PARAMETER",
            ),
        ] {
            assert_eq!(
                secret_source(&env_of(&[(arn, "arn:s"), (key, "k")]), &setting),
                Some(SecretSource::SecretsManager {
                    id: "arn:s".into(),
                    key: Some("k".into()),
                    key_var: key,
                }),
                "{arn}"
            );
            assert_eq!(
                secret_source(&env_of(&[(param, "/p")]), &setting),
                Some(SecretSource::Ssm { name: "/p".into() }),
                "{param}"
            );
        }
    }

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
        assert_eq!(pick_secret_string(" abc "), Ok("abc".into()));
        assert_eq!(
            pick_secret_string(r#"{"client_secret":"x"}"#),
            Ok("x".into())
        );
        assert_eq!(
            pick_secret_string(r#"{"a":"1","b":"2"}"#),
            Err(SecretError::Empty)
        );
        // A key named: a JSON object holding it as a non-empty string, nothing else.
        let table: [(&str, &str, Option<&str>); 9] = [
            (r#"{"a":"1","b":"2"}"#, "b", Some("2")),
            ("\u{feff}{\"b\":\" 2 \"}", "b", Some("2")),
            (r#"{"a":"1"}"#, "zz", None),
            (r#"{"b":""}"#, "b", None),
            (r#"{"b":7}"#, "b", None),
            // Regression: not JSON (a trailing comma) or plain text was sent whole.
            (r#"{"b":"2","other_system_password":"p",}"#, "b", None),
            ("plain-text-password", "b", None),
            (r#"["b"]"#, "b", None),
            ("", "b", None),
        ];
        for (secret_string, key, want) in table {
            assert_eq!(
                pick_keyed(secret_string, key).as_deref(),
                want,
                "{secret_string}"
            );
        }
    }
}
