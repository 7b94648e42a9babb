//! Configuration from environment variables (every name in [`vars`]), and the URL rules.
//!
//! Readers take an `env` function instead of reading `std::env` directly, so tests build any
//! configuration without touching the process environment.

use std::time::Duration;

use crate::http::Url;

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
    #[error("{name} points at {host}, which is not an allowed origin (MINDFUL_ALLOWED_HOSTS, default the configured URLs)")]
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
        let allow_http = env(vars::MINDFUL_ALLOW_HTTP)
            .map(|v| is_truthy(&v))
            .unwrap_or(false);
        let allowed_hosts: Vec<String> = env("MINDFUL_ALLOWED_HOSTS")
            .map(|v| {
                v.split(',')
                    .map(|h| h.trim().to_ascii_lowercase())
                    .filter(|h| !h.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        for entry in &allowed_hosts {
            check_allow_entry(entry).map_err(|reason| ConfigError::InvalidValue {
                name: vars::MINDFUL_ALLOWED_HOSTS.into(),
                reason: format!("entry \"{entry}\": {reason}"),
            })?;
        }
        // Checked here so a bad value is reported at start and answered as invalid_config; the
        // secret store reads the same variables with the same rule.
        extension_settings(env)?;
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

/// The Parameters and Secrets extension's port and our secret cache TTL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtensionSettings {
    pub port: u16,
    pub ttl: Duration,
}

impl Default for ExtensionSettings {
    /// The extension's documented default port, and its own default TTL.
    fn default() -> Self {
        Self {
            port: 2773,
            ttl: Duration::from_secs(300),
        }
    }
}

/// `PARAMETERS_SECRETS_EXTENSION_HTTP_PORT` (1–65535, default 2773) and
/// `SECRETS_CACHE_TTL_SECONDS` (0–86400, default 300): a value that is set but invalid is an
/// error naming the variable, never a silent default.
pub fn extension_settings(
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<ExtensionSettings, ConfigError> {
    let defaults = ExtensionSettings::default();
    let port = parse_u64(
        env,
        vars::PARAMETERS_SECRETS_EXTENSION_HTTP_PORT,
        u64::from(defaults.port),
        1,
        65_535,
    )?;
    let ttl = parse_u64(
        env,
        vars::SECRETS_CACHE_TTL_SECONDS,
        defaults.ttl.as_secs(),
        0,
        86_400,
    )?;
    Ok(ExtensionSettings {
        port: u16::try_from(port).unwrap_or(defaults.port),
        ttl: Duration::from_secs(ttl),
    })
}

/// An allow-list entry is `host`, `.suffix` or `*.suffix`, optionally `:port` (1–65535): no
/// scheme, path, query or credentials (`https://host` or `host:443/` once silently never
/// matched).
fn check_allow_entry(entry: &str) -> Result<(), &'static str> {
    if entry.contains("://") {
        return Err(
            "write the host without a scheme (host, .suffix or *.suffix, optionally :port)",
        );
    }
    if entry.contains(['/', '?', '#', '@', ' ']) {
        return Err("write only a host, optionally :port (no path, query or credentials)");
    }
    let host = match entry.rsplit_once(':') {
        Some((h, p)) => match p.parse::<u16>() {
            Ok(port) if port != 0 => h,
            _ => return Err("the port must be a number from 1 to 65535"),
        },
        None => entry,
    };
    let name = host.trim_start_matches('*').trim_start_matches('.');
    if name.is_empty() || name.contains(['*', ':']) {
        return Err("the host is empty or not a host name");
    }
    Ok(())
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
    // A query or fragment would be silently dropped or merged into every request; port 0 can
    // never connect.
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ConfigError::InvalidValue {
            name: name.into(),
            reason: "a URL here takes no query string or fragment".into(),
        });
    }
    if url.port() == Some(0) {
        return Err(ConfigError::InvalidValue {
            name: name.into(),
            reason: "port 0 is not a port".into(),
        });
    }
    Ok(url)
}

/// The allow-list rule (docs: agent-answer's README, "The URL allow-list"): a URL from a flow
/// parameter must point at an allowed origin when the secret it will receive comes from
/// configuration, so a flow editor cannot send the secret (or a token made from it) elsewhere.
///
/// The whole origin is checked, not only the host: another port of an allowed host is another
/// service. With `allowed` empty, the URL's scheme, host and port must equal one of the
/// `configured` URLs'. Otherwise its host must match an entry (`host`, `.suffix`, `*.suffix`,
/// each optionally `:port`), its scheme must be https (http only with `allow_http`), and its
/// port must be the entry's port, or 443 for an entry without one.
pub fn check_host_allowed(
    url: &Url,
    name: &str,
    allowed: &[String],
    configured: &[&Url],
    allow_http: bool,
) -> Result<(), ConfigError> {
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    let port = url.port_or_known_default().unwrap_or(0);
    let ok = if allowed.is_empty() {
        configured.iter().any(|c| {
            c.scheme() == url.scheme()
                && c.host_str().map(str::to_ascii_lowercase).as_deref() == Some(host.as_str())
                && c.port_or_known_default() == url.port_or_known_default()
        })
    } else {
        let scheme_ok = url.scheme() == "https" || (allow_http && url.scheme() == "http");
        scheme_ok && allowed.iter().any(|a| origin_matches(&host, port, a))
    };
    if ok {
        Ok(())
    } else {
        Err(ConfigError::HostNotAllowed {
            name: name.into(),
            host: format!("{}://{host}:{port}", url.scheme()),
        })
    }
}

/// `a.example.com` matches `a.example.com`; `.example.com` or `*.example.com` matches subdomains;
/// `host:8443` allows that port instead of 443.
fn origin_matches(host: &str, port: u16, entry: &str) -> bool {
    let (pattern, want_port) = match entry.rsplit_once(':') {
        Some((h, p)) => match p.parse::<u16>() {
            Ok(p) => (h, p),
            Err(_) => return false,
        },
        None => (entry, 443),
    };
    if port != want_port {
        return false;
    }
    let pattern = pattern.trim_start_matches('*');
    if let Some(suffix) = pattern.strip_prefix('.') {
        // An IP literal has no subdomains: `.0.1` must not admit `127.0.0.1`.
        let ip_literal = host.parse::<std::net::Ipv4Addr>().is_ok() || host.starts_with('[');
        !ip_literal && host.ends_with(&format!(".{suffix}"))
    } else {
        host == pattern
    }
}

/// The environment variables of one secret setting. Each secret has exactly these four names,
/// listed once here: the functions read them, and the README and `infra/base.yaml` are checked
/// against [`vars::ALL`] by `crates/mindful-core/tests/config_names.rs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecretSetting {
    /// The value itself (local runs; a flow parameter wins over it).
    pub value: &'static str,
    /// A Secrets Manager secret id or ARN, read through the Parameters and Secrets extension.
    pub secret_arn: &'static str,
    /// For a JSON (key/value) secret: the key holding the value.
    pub secret_key: &'static str,
    /// An SSM Parameter Store name or ARN (SecureString decrypted), read through the extension.
    pub parameter: &'static str,
}

impl SecretSetting {
    /// The names in the order they are tried.
    pub const fn names(&self) -> [&'static str; 4] {
        [self.value, self.secret_arn, self.secret_key, self.parameter]
    }
}

/// Every environment variable the functions read, by name: the one place a name is spelled.
pub mod vars {
    use super::SecretSetting;

    pub const DEFAULT_COUNTRY: &str = "DEFAULT_COUNTRY";
    pub const MINDFUL_ALLOW_HTTP: &str = "MINDFUL_ALLOW_HTTP";
    pub const MINDFUL_ALLOWED_HOSTS: &str = "MINDFUL_ALLOWED_HOSTS";
    pub const REQUEST_BUDGET_MS: &str = "REQUEST_BUDGET_MS";
    pub const SECRETS_CACHE_TTL_SECONDS: &str = "SECRETS_CACHE_TTL_SECONDS";
    /// Set by Lambda when the Parameters and Secrets extension runs on another port.
    pub const PARAMETERS_SECRETS_EXTENSION_HTTP_PORT: &str =
        "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT";
    /// Set by Lambda; the extension requires it in `X-Aws-Parameters-Secrets-Token`.
    pub const AWS_SESSION_TOKEN: &str = "AWS_SESSION_TOKEN";
    pub const MINDFUL_METRICS: &str = "MINDFUL_METRICS";
    pub const OCW_CAP_SECONDS: &str = "OCW_CAP_SECONDS";
    pub const OCW_OFFER_THRESHOLD_SECONDS: &str = "OCW_OFFER_THRESHOLD_SECONDS";
    pub const DATASTORE_URL: &str = "DATASTORE_URL";
    pub const DATASTORE_NUMBER_FORMAT: &str = "DATASTORE_NUMBER_FORMAT";
    pub const DATASTORE_INCLUDE_ATTRIBUTES: &str = "DATASTORE_INCLUDE_ATTRIBUTES";
    /// datastore-proxy's Scheduler API origin for `method=STATUS`
    /// (`https://{organization_id}.scheduler-rt.getmindful.com`); unset = no status checks.
    pub const SCHEDULER_URL: &str = "SCHEDULER_URL";
    pub const MINDFUL_TOKEN_URL: &str = "MINDFUL_TOKEN_URL";
    pub const MINDFUL_API_URL: &str = "MINDFUL_API_URL";
    pub const MINDFUL_CLIENT_ID: &str = "MINDFUL_CLIENT_ID";
    pub const AGENT_ANSWER_DEDUP_SECONDS: &str = "AGENT_ANSWER_DEDUP_SECONDS";

    /// datastore-proxy's Data Set Template API token.
    pub const DATASTORE_TOKEN: SecretSetting = SecretSetting {
        value: "DATASTORE_TOKEN",
        secret_arn: "DATASTORE_TOKEN_SECRET_ARN",
        secret_key: "DATASTORE_TOKEN_SECRET_KEY",
        parameter: "DATASTORE_TOKEN_PARAMETER",
    };
    /// datastore-proxy's Scheduler API Access Token, when the organisation's Access Control
    /// Policy requires one (optional: the Scheduler API is open by default).
    pub const SCHEDULER_TOKEN: SecretSetting = SecretSetting {
        value: "SCHEDULER_TOKEN",
        secret_arn: "SCHEDULER_TOKEN_SECRET_ARN",
        secret_key: "SCHEDULER_TOKEN_SECRET_KEY",
        parameter: "SCHEDULER_TOKEN_PARAMETER",
    };
    /// agent-answer's Application Client secret.
    pub const MINDFUL_CLIENT_SECRET: SecretSetting = SecretSetting {
        value: "MINDFUL_CLIENT_SECRET",
        secret_arn: "MINDFUL_CLIENT_SECRET_ARN",
        secret_key: "MINDFUL_CLIENT_SECRET_KEY",
        parameter: "MINDFUL_CLIENT_SECRET_PARAMETER",
    };

    /// Which functions read a variable.
    pub const OCW: &[&str] = &["ocw-phrase"];
    pub const DATASTORE: &[&str] = &["datastore-proxy"];
    pub const ANSWER: &[&str] = &["agent-answer"];
    pub const HTTP_FUNCTIONS: &[&str] = &["datastore-proxy", "agent-answer"];
    pub const EVERY_FUNCTION: &[&str] = &crate::FUNCTIONS;

    /// Variables set by the platform or for the platform (Lambda, the extension, the log
    /// runtime), which a stack may set but the functions' own tables do not document.
    pub const PLATFORM: &[&str] = &[
        "AWS_LAMBDA_LOG_FORMAT",
        "AWS_LAMBDA_LOG_LEVEL",
        "RUST_LOG",
        // The extension's own cache TTL (its documented variable), set with ours.
        "SECRETS_MANAGER_TTL",
        "SSM_PARAMETER_STORE_TTL",
        PARAMETERS_SECRETS_EXTENSION_HTTP_PORT,
        AWS_SESSION_TOKEN,
    ];

    /// (variable, functions that read it): every configuration variable of the bundle.
    pub const ALL: &[(&str, &[&str])] = &[
        (DEFAULT_COUNTRY, HTTP_FUNCTIONS),
        (MINDFUL_ALLOW_HTTP, HTTP_FUNCTIONS),
        (MINDFUL_ALLOWED_HOSTS, HTTP_FUNCTIONS),
        (REQUEST_BUDGET_MS, HTTP_FUNCTIONS),
        (SECRETS_CACHE_TTL_SECONDS, HTTP_FUNCTIONS),
        (MINDFUL_METRICS, EVERY_FUNCTION),
        (OCW_CAP_SECONDS, OCW),
        (OCW_OFFER_THRESHOLD_SECONDS, OCW),
        (DATASTORE_URL, DATASTORE),
        (DATASTORE_NUMBER_FORMAT, DATASTORE),
        (DATASTORE_INCLUDE_ATTRIBUTES, DATASTORE),
        (DATASTORE_TOKEN.value, DATASTORE),
        (DATASTORE_TOKEN.secret_arn, DATASTORE),
        (DATASTORE_TOKEN.secret_key, DATASTORE),
        (DATASTORE_TOKEN.parameter, DATASTORE),
        (SCHEDULER_URL, DATASTORE),
        (SCHEDULER_TOKEN.value, DATASTORE),
        (SCHEDULER_TOKEN.secret_arn, DATASTORE),
        (SCHEDULER_TOKEN.secret_key, DATASTORE),
        (SCHEDULER_TOKEN.parameter, DATASTORE),
        (MINDFUL_TOKEN_URL, ANSWER),
        (MINDFUL_API_URL, ANSWER),
        (MINDFUL_CLIENT_ID, ANSWER),
        (MINDFUL_CLIENT_SECRET.value, ANSWER),
        (MINDFUL_CLIENT_SECRET.secret_arn, ANSWER),
        (MINDFUL_CLIENT_SECRET.secret_key, ANSWER),
        (MINDFUL_CLIENT_SECRET.parameter, ANSWER),
        (AGENT_ANSWER_DEDUP_SECONDS, ANSWER),
    ];

    /// The variables `function` reads.
    pub fn read_by(function: &str) -> impl Iterator<Item = &'static str> + '_ {
        ALL.iter()
            .filter(move |(_, fns)| fns.contains(&function))
            .map(|(name, _)| *name)
    }
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
        let u = |s: &str| Url::parse(s).unwrap();
        let configured = u("https://auth.getmindful.com/oauth2/token");
        let check = |url: &str, allowed: &[&str], allow_http: bool| {
            let allowed: Vec<String> = allowed.iter().map(|s| s.to_string()).collect();
            check_host_allowed(&u(url), "Token_URL", &allowed, &[&configured], allow_http).is_ok()
        };
        // (url, MINDFUL_ALLOWED_HOSTS, MINDFUL_ALLOW_HTTP, allowed?)
        let table: &[(&str, &[&str], bool, bool)] = &[
            ("https://AUTH.getmindful.com/other", &[], false, true),
            ("https://auth.getmindful.com:443/x", &[], false, true),
            ("https://evil.example/steal", &[], false, false),
            // Regression: another port or scheme of an allowed host is another service.
            ("https://auth.getmindful.com:8443/x", &[], false, false),
            ("http://auth.getmindful.com/x", &[], true, false),
            (
                "https://x.getmindful.com",
                &[".getmindful.com"],
                false,
                true,
            ),
            (
                "https://x.getmindful.com",
                &["*.getmindful.com"],
                false,
                true,
            ),
            (
                "https://getmindful.com.evil.io",
                &[".getmindful.com"],
                false,
                false,
            ),
            (
                "https://evil.example/steal",
                &[".getmindful.com"],
                false,
                false,
            ),
            (
                "https://x.getmindful.com:8443",
                &[".getmindful.com"],
                false,
                false,
            ),
            (
                "https://x.getmindful.com:8443",
                &[".getmindful.com:8443"],
                false,
                true,
            ),
            (
                "http://x.getmindful.com:443",
                &[".getmindful.com"],
                false,
                false,
            ),
            ("http://127.0.0.1:8089", &["127.0.0.1:8089"], true, true),
            ("http://127.0.0.1:8089", &["127.0.0.1:8089"], false, false),
            ("http://127.0.0.1:8090", &["127.0.0.1:8089"], true, false),
            ("https://a.com", &["a.com:notaport"], false, false),
        ];
        for (url, allowed, allow_http, want) in table {
            assert_eq!(check(url, allowed, *allow_http), *want, "{url} {allowed:?}");
        }
    }

    #[test]
    fn every_variable_is_listed_once() {
        let mut names: Vec<&str> = vars::ALL.iter().map(|(n, _)| *n).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len());
        assert!(vars::read_by("agent-answer").any(|n| n == "MINDFUL_CLIENT_SECRET_ARN"));
        assert!(!vars::read_by("ocw-phrase").any(|n| n == "MINDFUL_CLIENT_SECRET_ARN"));
    }
}
