//! `datastore-proxy`: keeps the caller's context across a Mindful callback.
//!
//! Before the call is transferred to Mindful the inbound flow calls it with `method=POST` and the
//! context as parameters; when Mindful calls the customer back into Connect the return flow calls it
//! with `method=GET` and gets the context back as `$.External.<key>`. Both legs key the record by
//! the caller's number normalised the same way (`DATASTORE_NUMBER_FORMAT`), because Datastore only
//! finds a number spelled exactly as it was submitted.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use lambda_runtime::LambdaEvent;
use mindful_core::config::{self, CommonConfig, ConfigError};
use mindful_core::datastore::{
    DatastoreClient, DatastoreError, SearchOutcome, DEFAULT_DATASTORE_URL,
};
use mindful_core::handler::{respond, Invocation, Payload};
use mindful_core::observe::InvocationRecord;
use mindful_core::phone::{self, NumberFormat};
use mindful_core::secret::{SecretError, SecretSource, SecretStore};
use mindful_core::{Kvp, Secret};
use reqwest::Client;
use serde_json::Value;

pub const FUNCTION_NAME: &str = "datastore-proxy";
pub const DEFAULT_BUDGET_MS: u64 = 3000;

/// Parameters that steer the proxy and are never stored.
pub const CONTROL_PARAMETERS: [&str; 3] = ["method", "token", "customer_contact_number"];
/// Response keys the proxy owns; a stored Data Key of the same name is shadowed on GET.
const RESERVED_KEYS: [&str; 3] = ["status", "error", "error_message"];

/// Configuration read once per process.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    pub common: CommonConfig,
    pub datastore_url: reqwest::Url,
    pub number_format: NumberFormat,
    /// `DATASTORE_INCLUDE_ATTRIBUTES=true`: POST also stores the contact's attributes.
    pub include_attributes: bool,
    /// `DATASTORE_TOKEN` / `DATASTORE_TOKEN_SECRET_ARN` / `DATASTORE_TOKEN_PARAMETER`.
    pub token: Option<SecretSource>,
}

impl ProxyConfig {
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let common = CommonConfig::from_env(env, DEFAULT_BUDGET_MS)?;
        let url = env("DATASTORE_URL").unwrap_or_else(|| DEFAULT_DATASTORE_URL.to_string());
        let datastore_url = config::check_url(&url, "DATASTORE_URL", common.allow_http)?;
        let number_format = match env("DATASTORE_NUMBER_FORMAT") {
            None => NumberFormat::E164,
            Some(f) => f.parse().map_err(|reason| ConfigError::InvalidValue {
                name: "DATASTORE_NUMBER_FORMAT".into(),
                reason,
            })?,
        };
        let include_attributes = env("DATASTORE_INCLUDE_ATTRIBUTES")
            .map(|v| config::is_truthy(&v))
            .unwrap_or(false);
        let token = config::secret_source(env, &config::vars::DATASTORE_TOKEN);
        Ok(Self {
            common,
            datastore_url,
            number_format,
            include_attributes,
            token,
        })
    }
}

/// The function's state, built once in `main`.
pub struct DatastoreProxy {
    // A bad configuration does not stop the process: every invocation answers
    // `error=invalid_config`, so the flow takes its error branch instead of Connect retrying.
    setup: Result<(ProxyConfig, DatastoreClient), ConfigError>,
    secrets: SecretStore,
}

/// A failure, mapped once to the `status=error` response.
#[derive(Debug, thiserror::Error)]
enum ProxyError {
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    #[error("the {0} parameter is required")]
    MissingParameter(&'static str),
    #[error("no caller number: pass customer_contact_number or use a contact with a phone number")]
    MissingNumber,
    #[error("method must be POST or GET")]
    InvalidMethod,
    #[error("the caller number cannot be an E.164 number: {0}")]
    InvalidNumber(phone::PhoneError),
    #[error("no Datastore token: pass the token parameter or configure DATASTORE_TOKEN or DATASTORE_TOKEN_SECRET_ARN")]
    NoToken,
    #[error("the Datastore token could not be read: {0}")]
    Secret(SecretError),
    #[error("{0}")]
    Datastore(#[from] DatastoreError),
}

impl ProxyError {
    fn code(&self) -> &'static str {
        match self {
            Self::Config(_) => "invalid_config",
            Self::MissingParameter(_) | Self::MissingNumber => "missing_parameter",
            Self::InvalidMethod => "invalid_method",
            Self::InvalidNumber(_) => "invalid_number",
            Self::NoToken => "no_token",
            Self::Secret(SecretError::Timeout) => "timeout",
            Self::Secret(_) => "no_token",
            Self::Datastore(e) => match e {
                DatastoreError::Unauthorized => "unauthorized",
                DatastoreError::InvalidNumber => "invalid_number",
                DatastoreError::Timeout => "timeout",
                DatastoreError::BadResponse
                | DatastoreError::TooLarge(_)
                | DatastoreError::ForeignRecord => "bad_response",
                DatastoreError::RateLimited
                | DatastoreError::Upstream(_)
                | DatastoreError::Unreachable(_) => "upstream_error",
            },
        }
    }

    fn into_response(self, budget_ms: u128) -> Kvp {
        let message = match &self {
            Self::Datastore(DatastoreError::Timeout) => {
                format!("Datastore did not answer within {budget_ms} ms")
            }
            other => other.to_string(),
        };
        let mut kvp = Kvp::error(self.code(), message);
        if let Self::Datastore(e) = &self {
            if let Some(status) = e.http_status() {
                kvp.set("http_status", status.to_string());
            }
        }
        kvp
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Post,
    Get,
}

impl DatastoreProxy {
    pub fn new(
        http: Client,
        config: Result<ProxyConfig, ConfigError>,
        secrets: SecretStore,
    ) -> Self {
        if let Ok(c) = &config {
            if c.number_format == NumberFormat::National {
                tracing::warn!(
                    "DATASTORE_NUMBER_FORMAT=national: callers of two countries with the same \
                     national digits share one Datastore record; keep e164 unless every caller \
                     is in DEFAULT_COUNTRY"
                );
            }
        }
        let setup = config.map(|c| {
            let client = DatastoreClient::new(http, c.datastore_url.clone());
            (c, client)
        });
        Self { setup, secrets }
    }

    /// From the process environment (what `main` uses).
    pub fn from_env(http: Client) -> Self {
        let env = config::process_env;
        let secrets = SecretStore::from_env(http.clone(), &env);
        Self::new(http, ProxyConfig::from_env(&env), secrets)
    }

    fn budget(&self) -> Duration {
        self.setup
            .as_ref()
            .map(|(c, _)| c.common.request_budget)
            .unwrap_or(Duration::from_millis(DEFAULT_BUDGET_MS))
    }

    /// The Lambda handler.
    pub async fn handle(
        &self,
        event: LambdaEvent<Payload>,
    ) -> Result<Kvp, std::convert::Infallible> {
        respond(
            FUNCTION_NAME,
            event,
            self.budget(),
            &["customer_contact_number"],
            |inv| self.run(inv),
        )
        .await
    }

    async fn run(&self, mut inv: Invocation) -> (Kvp, InvocationRecord) {
        let budget_ms = inv.budget.total().as_millis();
        let response = match self.process(&mut inv).await {
            Ok(kvp) => kvp,
            Err(e) => {
                tracing::warn!(error = e.code(), message = %e, "datastore-proxy failed");
                e.into_response(budget_ms)
            }
        };
        (response, inv.record)
    }

    async fn process(&self, inv: &mut Invocation) -> Result<Kvp, ProxyError> {
        let (config, client) = self
            .setup
            .as_ref()
            .map_err(|e| ProxyError::Config(e.clone()))?;
        let event = &inv.event;

        let method = match event
            .param("method")
            .map(str::to_ascii_uppercase)
            .as_deref()
        {
            None => return Err(ProxyError::MissingParameter("method")),
            Some("POST") => Method::Post,
            Some("GET") => Method::Get,
            Some(_) => return Err(ProxyError::InvalidMethod),
        };

        let raw_number = event
            .param("customer_contact_number")
            .or_else(|| event.customer_address())
            .ok_or(ProxyError::MissingNumber)?;
        let number = phone::parse_number(raw_number, &config.common.default_country)
            .map_err(ProxyError::InvalidNumber)?;
        inv.record.masked_number = Some(number.masked());
        let key = number.format(config.number_format);

        let token = match event.param("token") {
            Some(t) => Secret::new(t),
            None => {
                let source = config.token.as_ref().ok_or(ProxyError::NoToken)?;
                self.secrets
                    .resolve(source, &inv.budget)
                    .await
                    .map_err(ProxyError::Secret)?
            }
        };

        let started = Instant::now();
        let sent_before = client.requests_sent();
        let result = match method {
            Method::Post => {
                let values = data_values(
                    event.parameters(),
                    event.attributes(),
                    config.include_attributes,
                );
                client
                    .submit(&token, &key, &values, &inv.budget)
                    .await
                    .map(|saved| {
                        let mut kvp = Kvp::with_status("ok");
                        kvp.set("customer_contact_number", key.clone());
                        let expires = saved
                            .get("time_to_expire")
                            .map(mindful_core::event::value_to_string)
                            .unwrap_or_default();
                        kvp.set("time_to_expire", expires);
                        kvp
                    })
            }
            Method::Get => client
                .search(&token, &key, &inv.budget)
                .await
                .map(|outcome| match outcome {
                    SearchOutcome::Found(record) => record_response(&record),
                    SearchOutcome::NotFound => {
                        let mut kvp = Kvp::with_status("not_found");
                        kvp.set("customer_contact_number", key.clone());
                        kvp
                    }
                }),
        };
        inv.record.upstream_latency = Some(started.elapsed());
        inv.record.upstream_requests =
            u32::try_from(client.requests_sent() - sent_before).unwrap_or(u32::MAX);
        inv.record.upstream_status = match &result {
            Ok(kvp) if kvp.status() == Some("not_found") => Some(404),
            Ok(_) => Some(200),
            Err(e) => e.http_status(),
        };
        Ok(result?)
    }
}

/// What a POST stores: every parameter except the control ones; with `include_attributes`, the
/// contact's attributes too (parameters win on conflict). Control keys are never stored, from
/// either source: an attribute named `token` (a Datastore token kept in the contact) would
/// otherwise be written to Mindful and come back on every GET.
pub fn data_values(
    parameters: &BTreeMap<String, String>,
    attributes: &BTreeMap<String, String>,
    include_attributes: bool,
) -> BTreeMap<String, String> {
    let mut values = BTreeMap::new();
    if include_attributes {
        values.extend(
            attributes
                .iter()
                .filter(|(k, _)| !CONTROL_PARAMETERS.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone())),
        );
    }
    for (k, v) in parameters {
        if !CONTROL_PARAMETERS.contains(&k.as_str()) {
            values.insert(k.clone(), v.clone());
        }
    }
    values
}

/// A found record as the flat response: every field flattened to strings, `status=ok` on top.
pub fn record_response(record: &serde_json::Map<String, Value>) -> Kvp {
    let mut kvp = Kvp::flatten_map(record);
    for key in RESERVED_KEYS {
        kvp.remove(key);
    }
    kvp.set("status", "ok");
    kvp
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn data_values_drop_control_parameters_and_merge_attributes() {
        let params: BTreeMap<String, String> = [
            ("method", "POST"),
            ("token", "t"),
            ("customer_contact_number", "+1"),
            ("queue_name", "Billing"),
            ("tier", "gold"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let attrs: BTreeMap<String, String> = [
            ("tier", "silver"),
            ("lang", "en"),
            // Regression: control keys from attributes were stored with include_attributes.
            ("token", "ds-token-in-an-attribute"),
            ("method", "GET"),
            ("customer_contact_number", "+15550001111"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let without = data_values(&params, &attrs, false);
        assert_eq!(
            without.keys().collect::<Vec<_>>(),
            vec!["queue_name", "tier"]
        );
        let with = data_values(&params, &attrs, true);
        assert_eq!(with.get("tier").map(String::as_str), Some("gold"));
        assert_eq!(with.get("lang").map(String::as_str), Some("en"));
        assert_eq!(
            with.keys().collect::<Vec<_>>(),
            vec!["lang", "queue_name", "tier"]
        );
    }

    #[test]
    fn record_flattening_never_returns_non_strings() {
        let record = json!({"customer_contact_number":"+13209071234","ani":13209071234u64,"ecbt":null,
            "organization":{"id":"org"},"status":"spoofed","queue_name":"Billing","vip":true});
        let kvp = record_response(record.as_object().unwrap());
        assert_eq!(kvp.status(), Some("ok"));
        assert_eq!(kvp.get("ani"), Some("13209071234"));
        assert_eq!(kvp.get("ecbt"), Some(""));
        assert_eq!(kvp.get("organization.id"), Some("org"));
        assert_eq!(kvp.get("vip"), Some("true"));
    }
}
