//! Simulator configuration: built-in defaults, JSON file format, validation.

use std::net::{IpAddr, Ipv4Addr};

use serde::Deserialize;

/// Client id of the built-in OAuth client.
pub const DEFAULT_CLIENT_ID: &str = "sim-client";
/// Client secret of the built-in OAuth client.
pub const DEFAULT_CLIENT_SECRET: &str = "sim-secret";
/// API token of the built-in Data Set Template (keeps every Data Key).
pub const DEFAULT_DATASTORE_TOKEN: &str = "sim-datastore-token";
/// The one Scheduler widget the simulator knows (`GET /api/widget/sim-widget`).
pub const DEFAULT_WIDGET_ID: &str = "sim-widget";
/// Default access-token lifetime (Mindful: one hour).
pub const DEFAULT_TOKEN_LIFETIME_SECS: u64 = 3600;
/// Default Data Set Template retention (Mindful's maximum: 48 hours).
pub const DEFAULT_RETENTION_SECS: u64 = 48 * 3600;
/// Default cap on the in-memory request log (oldest entries are dropped; counters keep counting).
pub const DEFAULT_MAX_LOGGED_REQUESTS: usize = 10_000;

/// One OAuth Application Client (HTTP Basic `client_id:client_secret` on `/oauth2/token`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    pub client_id: String,
    pub client_secret: String,
}

/// One Data Set Template: its static API token, identity, Data Keys and retention.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplateConfig {
    /// Static `Authorization: Bearer` token of the template.
    pub token: String,
    /// `data_set_template_id` in responses.
    pub id: String,
    /// `data_set_template_name` in responses.
    pub name: String,
    /// Data Keys kept on submit; every other key is dropped. Empty = keep all keys.
    pub data_keys: Vec<String>,
    /// Seconds a record lives after its last submit (Mindful allows 1-48 h; any value > 0 here).
    pub retention_secs: u64,
}

impl TemplateConfig {
    /// A template keeping every key, with default id/name and 48 h retention.
    pub fn new(token: impl Into<String>) -> Self {
        TemplateConfig {
            token: token.into(),
            id: "tmpl-sim".to_string(),
            name: "Sim Template".to_string(),
            data_keys: Vec::new(),
            retention_secs: DEFAULT_RETENTION_SECS,
        }
    }
}

/// Simulator configuration. `Default` gives the built-in defaults: bind `127.0.0.1:0` (random
/// port), client `sim-client`/`sim-secret`, template token `sim-datastore-token` keeping all keys,
/// 1 h tokens, 48 h retention, no stderr logging.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimConfig {
    /// Bind address (default `127.0.0.1`; loopback only unless changed explicitly).
    pub bind: IpAddr,
    /// Port (0 = pick a free port).
    pub port: u16,
    /// Accepted OAuth clients.
    pub clients: Vec<ClientConfig>,
    /// Data Set Templates (tokens must be unique).
    pub templates: Vec<TemplateConfig>,
    /// `expires_in` of issued access tokens; tokens are rejected after this many seconds.
    pub token_lifetime_secs: u64,
    /// Print one line per request to stderr (secrets masked).
    pub log_requests: bool,
    /// Maximum entries kept in the request log.
    pub max_logged_requests: usize,
    /// Agent Answer rate limit per rolling second (Mindful: 100 per source IP); above it the
    /// request gets 429. `None` (default) = unlimited, so benchmarks measure the client.
    pub agent_answer_rate_limit: Option<u32>,
    /// Serve https instead of http: a test CA (root, intermediate, leaf for `localhost`, RSA-2048)
    /// is generated at start; URLs become `https://localhost:<port>`; clients must trust
    /// [`crate::Sim::ca_pem`] through their CA store. Default off.
    pub tls: bool,
    /// Also listen on a second port and point [`crate::Sim::token_url`] there, so a client makes
    /// a separate connection (and TLS handshake) for the token, as with Mindful's separate token
    /// host. Both ports serve every route on the same state. Default off.
    pub separate_token_host: bool,
    /// Round-trip time between the functions and this simulator, applied to every connection's
    /// set-up (TCP, each TLS flight) and every request (`crate::distance`). Default zero.
    pub rtt: std::time::Duration,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            clients: vec![ClientConfig {
                client_id: DEFAULT_CLIENT_ID.to_string(),
                client_secret: DEFAULT_CLIENT_SECRET.to_string(),
            }],
            templates: vec![TemplateConfig::new(DEFAULT_DATASTORE_TOKEN)],
            token_lifetime_secs: DEFAULT_TOKEN_LIFETIME_SECS,
            log_requests: false,
            max_logged_requests: DEFAULT_MAX_LOGGED_REQUESTS,
            agent_answer_rate_limit: None,
            tls: false,
            separate_token_host: false,
            rtt: std::time::Duration::ZERO,
        }
    }
}

/// JSON file format; every field optional (absent = keep the current value).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    bind: Option<IpAddr>,
    port: Option<u16>,
    token_lifetime_secs: Option<u64>,
    log_requests: Option<bool>,
    max_logged_requests: Option<usize>,
    agent_answer_rate_limit: Option<u32>,
    clients: Option<Vec<ClientConfig>>,
    templates: Option<Vec<FileTemplate>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTemplate {
    token: String,
    id: Option<String>,
    name: Option<String>,
    #[serde(default)]
    data_keys: Vec<String>,
    retention_secs: Option<u64>,
}

impl SimConfig {
    /// Apply a JSON configuration document on top of `self` (fields absent in the document keep
    /// their value; `clients` / `templates`, when present, replace the lists). Validates the result.
    ///
    /// ```json
    /// {"bind":"127.0.0.1","port":8089,"token_lifetime_secs":3600,
    ///  "agent_answer_rate_limit":100,
    ///  "clients":[{"client_id":"sim-client","client_secret":"sim-secret"}],
    ///  "templates":[{"token":"sim-datastore-token","id":"tmpl-1","name":"Callback context",
    ///                "data_keys":["AccountNo","Reason"],"retention_secs":172800}]}
    /// ```
    pub fn apply_json(mut self, json: &str) -> Result<SimConfig, String> {
        let file: FileConfig =
            serde_json::from_str(json).map_err(|e| format!("invalid configuration JSON: {e}"))?;
        if let Some(v) = file.bind {
            self.bind = v;
        }
        if let Some(v) = file.port {
            self.port = v;
        }
        if let Some(v) = file.token_lifetime_secs {
            self.token_lifetime_secs = v;
        }
        if let Some(v) = file.log_requests {
            self.log_requests = v;
        }
        if let Some(v) = file.max_logged_requests {
            self.max_logged_requests = v;
        }
        if let Some(v) = file.agent_answer_rate_limit {
            self.agent_answer_rate_limit = Some(v);
        }
        if let Some(v) = file.clients {
            self.clients = v;
        }
        if let Some(v) = file.templates {
            self.templates = v
                .into_iter()
                .enumerate()
                .map(|(i, t)| TemplateConfig {
                    token: t.token,
                    id: t.id.unwrap_or_else(|| format!("tmpl-{}", i + 1)),
                    name: t.name.unwrap_or_else(|| format!("Sim Template {}", i + 1)),
                    data_keys: t.data_keys,
                    retention_secs: t.retention_secs.unwrap_or(DEFAULT_RETENTION_SECS),
                })
                .collect();
        }
        self.validate()?;
        Ok(self)
    }

    /// Check the configuration: non-empty credentials and tokens, unique template tokens,
    /// retention > 0.
    pub fn validate(&self) -> Result<(), String> {
        for c in &self.clients {
            if c.client_id.is_empty() || c.client_id.contains(':') {
                return Err("client_id must be non-empty and contain no ':'".into());
            }
            if c.client_secret.is_empty() {
                return Err(format!("client {:?}: empty client_secret", c.client_id));
            }
        }
        for (i, t) in self.templates.iter().enumerate() {
            if t.token.is_empty() {
                return Err(format!("template {}: empty token", i + 1));
            }
            if t.retention_secs == 0 {
                return Err(format!("template {:?}: retention_secs must be > 0", t.id));
            }
            if self.templates[..i].iter().any(|o| o.token == t.token) {
                return Err(format!("template {:?}: duplicate token", t.id));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_overrides_defaults() {
        let c = SimConfig::default()
            .apply_json(
                r#"{"port":9000,"templates":[{"token":"t1","data_keys":["A"],"retention_secs":5}]}"#,
            )
            .unwrap();
        assert_eq!(c.port, 9000);
        assert_eq!(c.clients, SimConfig::default().clients);
        assert_eq!(c.templates[0].id, "tmpl-1");
        assert_eq!(c.templates[0].data_keys, vec!["A".to_string()]);
        assert_eq!(c.templates[0].retention_secs, 5);
    }

    #[test]
    fn json_rejects_bad_documents() {
        let d = SimConfig::default;
        assert!(d().apply_json("{").is_err());
        assert!(d().apply_json(r#"{"prot":1}"#).is_err());
        assert!(d()
            .apply_json(r#"{"templates":[{"token":"a"},{"token":"a"}]}"#)
            .is_err());
        assert!(d()
            .apply_json(r#"{"templates":[{"token":"a","retention_secs":0}]}"#)
            .is_err());
        assert!(d()
            .apply_json(r#"{"clients":[{"client_id":"a:b","client_secret":"x"}]}"#)
            .is_err());
    }
}
