//! Configuration from environment variables, and the URL rules of SPEC rule 7.
//!
//! Readers take an `env` function instead of reading `std::env` directly, so tests build any
//! configuration without touching the process environment.

use std::time::Duration;

use reqwest::Url;

use crate::secret::{Secret, SecretSource};

/// Reads the real process environment; blank values count as unset.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{name} is not a valid URL")]
    InvalidUrl { name: String },
    #[error("{name} must use https (set MINDFUL_ALLOW_HTTP=1 only for local tests)")]
    HttpNotAllowed { name: String },
    #[error("{name} points at host {host}, which is not in MINDFUL_ALLOWED_HOSTS")]
    HostNotAllowed { name: String, host: String },
    #[error("{name} has an invalid value: {reason}")]
    InvalidValue { name: String, reason: String },
}

/// Settings every function shares.
#[derive(Debug, Clone)]
pub struct CommonConfig {
    /// ISO 3166 alpha-2 country for national numbers (`DEFAULT_COUNTRY`, default `US`).
    pub default_country: String,
    /// `MINDFUL_ALLOW_HTTP=1`: plain http allowed (local simulator and tests only).
    pub allow_http: bool,
    /// `MINDFUL_ALLOWED_HOSTS`: hosts a flow-supplied URL may point at when the secret comes
    /// from configuration. Empty means "the configured URLs' hosts".
    pub allowed_hosts: Vec<String>,
    /// `REQUEST_BUDGET_MS`.
    pub request_budget: Duration,
}

impl CommonConfig {
    pub fn from_env(
        env: &dyn Fn(&str) -> Option<String>,
        default_budget_ms: u64,
    ) -> Result<Self, ConfigError> {
        let default_country = env("DEFAULT_COUNTRY")
            .map(|c| c.trim().to_ascii_uppercase())
            .unwrap_or_else(|| "US".into());
        if !crate::phone::is_supported_region(&default_country) {
            return Err(ConfigError::InvalidValue {
                name: "DEFAULT_COUNTRY".into(),
                reason: format!("{default_country} is not a supported ISO 3166 alpha-2 country"),
            });
        }
        let allow_http = env("MINDFUL_ALLOW_HTTP")
            .map(|v| is_truthy(&v))
            .unwrap_or(false);
        let allowed_hosts = env("MINDFUL_ALLOWED_HOSTS")
            .map(|v| {
                v.split(',')
                    .map(|h| h.trim().to_ascii_lowercase())
                    .filter(|h| !h.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let request_budget = Duration::from_millis(parse_u64(
            env,
            "REQUEST_BUDGET_MS",
            default_budget_ms,
            50,
            7_800,
        )?);
        Ok(Self {
            default_country,
            allow_http,
            allowed_hosts,
            request_budget,
        })
    }
}

pub fn is_truthy(v: &str) -> bool {
    matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "1" | "true" | "yes" | "on"
    )
}

/// Parses an integer variable within `min..=max`, with a default when unset.
pub fn parse_u64(
    env: &dyn Fn(&str) -> Option<String>,
    name: &str,
    default: u64,
    min: u64,
    max: u64,
) -> Result<u64, ConfigError> {
    match env(name) {
        None => Ok(default),
        Some(raw) => match raw.trim().parse::<u64>() {
            Ok(v) if (min..=max).contains(&v) => Ok(v),
            _ => Err(ConfigError::InvalidValue {
                name: name.into(),
                reason: format!("expected an integer from {min} to {max}"),
            }),
        },
    }
}

/// Checks a URL: parseable, http(s), https unless `allow_http`. `name` names its source in errors.
pub fn check_url(raw: &str, name: &str, allow_http: bool) -> Result<Url, ConfigError> {
    let url = Url::parse(raw.trim()).map_err(|_| ConfigError::InvalidUrl { name: name.into() })?;
    match url.scheme() {
        "https" => {}
        "http" if allow_http => {}
        "http" => return Err(ConfigError::HttpNotAllowed { name: name.into() }),
        _ => return Err(ConfigError::InvalidUrl { name: name.into() }),
    }
    if url.host_str().is_none() || !url.username().is_empty() || url.password().is_some() {
        return Err(ConfigError::InvalidUrl { name: name.into() });
    }
    Ok(url)
}

/// Rule 7: a URL from a flow parameter must point at an allowed host when the secret it will
/// receive comes from configuration. `allowed` empty → the hosts of `configured` URLs.
pub fn check_host_allowed(
    url: &Url,
    name: &str,
    allowed: &[String],
    configured: &[&Url],
) -> Result<(), ConfigError> {
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    let ok = if allowed.is_empty() {
        configured
            .iter()
            .any(|c| c.host_str().map(str::to_ascii_lowercase).as_deref() == Some(host.as_str()))
    } else {
        allowed.iter().any(|a| host_matches(&host, a))
    };
    if ok {
        Ok(())
    } else {
        Err(ConfigError::HostNotAllowed {
            name: name.into(),
            host,
        })
    }
}

/// `a.example.com` matches `a.example.com`; `.example.com` or `*.example.com` matches subdomains.
fn host_matches(host: &str, pattern: &str) -> bool {
    let pattern = pattern.trim_start_matches('*');
    if let Some(suffix) = pattern.strip_prefix('.') {
        host.ends_with(&format!(".{suffix}"))
    } else {
        host == pattern
    }
}

/// Reads a secret setting: the plain variable `name`, else `{name}_SECRET_ARN` (Secrets Manager,
/// with optional `{name}_SECRET_KEY` for JSON secrets), else `{name}_PARAMETER` (SSM).
pub fn secret_source(env: &dyn Fn(&str) -> Option<String>, name: &str) -> Option<SecretSource> {
    if let Some(v) = env(name) {
        return Some(SecretSource::Value(Secret::new(v.trim())));
    }
    if let Some(id) = env(&format!("{name}_SECRET_ARN")) {
        return Some(SecretSource::SecretsManager {
            id: id.trim().to_string(),
            key: env(&format!("{name}_SECRET_KEY")).map(|k| k.trim().to_string()),
        });
    }
    env(&format!("{name}_PARAMETER")).map(|n| SecretSource::Ssm {
        name: n.trim().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn common_defaults_and_overrides() {
        let c = CommonConfig::from_env(&env_of(&[]), 3000).unwrap();
        assert_eq!(c.default_country, "US");
        assert!(!c.allow_http);
        assert_eq!(c.request_budget, Duration::from_millis(3000));
        let c = CommonConfig::from_env(
            &env_of(&[
                ("DEFAULT_COUNTRY", "gb"),
                ("MINDFUL_ALLOW_HTTP", "1"),
                ("MINDFUL_ALLOWED_HOSTS", " a.com, .b.com ,"),
                ("REQUEST_BUDGET_MS", "1500"),
            ]),
            3000,
        )
        .unwrap();
        assert_eq!(c.default_country, "GB");
        assert!(c.allow_http);
        assert_eq!(c.allowed_hosts, vec!["a.com", ".b.com"]);
        assert_eq!(c.request_budget, Duration::from_millis(1500));
        assert!(CommonConfig::from_env(&env_of(&[("REQUEST_BUDGET_MS", "abc")]), 3000).is_err());
        assert!(CommonConfig::from_env(&env_of(&[("REQUEST_BUDGET_MS", "60000")]), 3000).is_err());
        assert!(CommonConfig::from_env(&env_of(&[("DEFAULT_COUNTRY", "XX")]), 3000).is_err());
    }

    #[test]
    fn url_rules() {
        assert!(check_url("https://api.getmindful.com", "X", false).is_ok());
        assert_eq!(
            check_url("http://127.0.0.1:8080", "X", false),
            Err(ConfigError::HttpNotAllowed { name: "X".into() })
        );
        assert!(check_url("http://127.0.0.1:8080", "X", true).is_ok());
        assert!(check_url("ftp://x.com", "X", true).is_err());
        assert!(check_url("not a url", "X", true).is_err());
        assert!(check_url("https://user:pw@x.com", "X", true).is_err());
    }

    #[test]
    fn host_allow_list() {
        let configured = Url::parse("https://auth.getmindful.com/oauth2/token").unwrap();
        let evil = Url::parse("https://evil.example/steal").unwrap();
        let same = Url::parse("https://AUTH.getmindful.com/other").unwrap();
        assert!(check_host_allowed(&same, "Token_URL", &[], &[&configured]).is_ok());
        assert!(check_host_allowed(&evil, "Token_URL", &[], &[&configured]).is_err());
        let allowed = vec![".getmindful.com".to_string()];
        assert!(check_host_allowed(
            &Url::parse("https://x.getmindful.com").unwrap(),
            "n",
            &allowed,
            &[]
        )
        .is_ok());
        assert!(check_host_allowed(
            &Url::parse("https://getmindful.com.evil.io").unwrap(),
            "n",
            &allowed,
            &[]
        )
        .is_err());
        assert!(check_host_allowed(&evil, "n", &allowed, &[]).is_err());
    }

    #[test]
    fn secret_sources() {
        assert_eq!(
            secret_source(&env_of(&[("T", "abc")]), "T"),
            Some(SecretSource::Value(Secret::new("abc")))
        );
        assert_eq!(
            secret_source(
                &env_of(&[("T_SECRET_ARN", "arn:x"), ("T_SECRET_KEY", "k")]),
                "T"
            ),
            Some(SecretSource::SecretsManager {
                id: "arn:x".into(),
                key: Some("k".into())
            })
        );
        assert_eq!(
            secret_source(&env_of(&[("T_PARAMETER", "/p")]), "T"),
            Some(SecretSource::Ssm { name: "/p".into() })
        );
        assert_eq!(secret_source(&env_of(&[]), "T"), None);
    }
}
