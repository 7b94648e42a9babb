#![doc = include_str!("../README.md")]
//!
//! # The code
//!
//! The shape of every function here: [`contract`] names the parameters, outputs, statuses and
//! codes; [`plan`] is the pure decision from event and configuration (table-tested); then
//! [`DatastoreProxy`] (a [`ConnectFunction`]) does the I/O; every failure is one [`Failure`],
//! answered by [`Function`], the one serving shape of every function.

use std::collections::BTreeMap;
use std::time::Duration;

use mindful_core::config::{self, vars, CommonConfig, ConfigError};
use mindful_core::datastore::{
    DatastoreClient, DatastoreError, SearchOutcome, DEFAULT_DATASTORE_URL,
};
use mindful_core::function::{ConnectFunction, Function};
use mindful_core::handler::Invocation;
use mindful_core::http::Client;
use mindful_core::phone::{self, NumberFormat};
use mindful_core::scheduler::{self, SchedulerClient, SchedulerError};
use mindful_core::secret::{SecretError, SecretSource, SecretStore};
use mindful_core::{ContactFlowEvent, Kvp, Secret};
use serde_json::Value;

pub const FUNCTION_NAME: &str = "datastore-proxy";
pub const DEFAULT_BUDGET_MS: u64 = 3000;

/// The function's public interface, each name defined once (docs: `crates/datastore-proxy/README.md`).
pub mod contract {
    /// Flow parameters that steer the proxy; never stored.
    pub mod params {
        pub const METHOD: &str = "method";
        pub const TOKEN: &str = "token";
        pub const CUSTOMER_CONTACT_NUMBER: &str = "customer_contact_number";
        /// `method=STATUS`: the Call Target's Scheduler widget (letters, digits, `-`, `_`).
        pub const WIDGET_ID: &str = "widget_id";
        pub const CONTROL: [&str; 4] = [METHOD, TOKEN, CUSTOMER_CONTACT_NUMBER, WIDGET_ID];
        /// Parameters that carry a secret (never logged).
        pub const SECRETS: [&str; 1] = [TOKEN];
    }
    /// Output keys the proxy owns (a stored Data Key of the same name is shadowed on GET).
    pub mod outputs {
        pub use mindful_core::answer::outputs::*;
        /// The key the record is stored under (POST, `not_found`).
        pub const CUSTOMER_CONTACT_NUMBER: &str = "customer_contact_number";
        /// When Mindful will drop the record (POST).
        pub const TIME_TO_EXPIRE: &str = "time_to_expire";
        pub const RESERVED: [&str; 3] = [STATUS, ERROR, ERROR_MESSAGE];
        /// Mindful's estimated callback time in seconds, as its POST answer gives it (empty when
        /// `null`: Mindful sets it once a callback is registered). The flow hands it to
        /// ocw-phrase (`phrase=accepted`), which validates it and says it.
        pub const ECBT: &str = "ecbt";
        /// What a POST answers besides `status` (and `http_status` on errors).
        pub const POSTED: [&str; 3] = [CUSTOMER_CONTACT_NUMBER, TIME_TO_EXPIRE, ECBT];
        /// `method=STATUS`: the widget's state as Mindful spells it (`offer_callback`, …,
        /// `platform_unavailable`). The flow hands it to ocw-phrase (`mindful_status`), which
        /// owns the offer rule.
        pub const WIDGET_STATE: &str = "widget_state";
        /// `method=STATUS`: the Call Target's estimated callback time in whole seconds (empty
        /// when Mindful gives none).
        pub const EWT: &str = "ewt";
        /// What a STATUS answers besides `status`.
        pub const WIDGET: [&str; 2] = [WIDGET_STATE, EWT];
    }
    pub mod statuses {
        pub const OK: &str = "ok";
        /// GET: Mindful has no (unexpired) record for that exact number.
        pub const NOT_FOUND: &str = "not_found";
        pub const ERROR: &str = mindful_core::answer::STATUS_ERROR;
        pub const ALL: [&str; 3] = [OK, NOT_FOUND, ERROR];
    }
    pub mod codes {
        pub use mindful_core::answer::codes::{
            BAD_RESPONSE, INVALID_CONFIG, INVALID_EVENT, INVALID_NUMBER, RESPONSE_TOO_LARGE,
            TIMEOUT, UPSTREAM_ERROR,
        };
        /// No `method`, or no number at all.
        pub const MISSING_PARAMETER: &str = "missing_parameter";
        /// `method` is not `POST`/`GET`/`STATUS`.
        pub const INVALID_METHOD: &str = "invalid_method";
        /// No token parameter and none configured, or the configured secret could not be read.
        pub const NO_TOKEN: &str = "no_token";
        /// Mindful answered 401/403.
        pub const UNAUTHORIZED: &str = "unauthorized";
        /// `method=STATUS`: `widget_id` is not a widget id, or the Scheduler API knows no such
        /// widget (HTTP 404).
        pub const INVALID_WIDGET: &str = "invalid_widget";
        /// Every code, when it is answered and an `error_message` example: the README's error table
        /// is written from this by `cargo xtask contract` (CI checks it is current).
        pub const TABLE: [mindful_core::answer::codes::CodeDoc; 12] = [
            (MISSING_PARAMETER, "no `method`, or no number at all (no `customer_contact_number` and a contact without a phone number, e.g. chat)", ""),
            (INVALID_METHOD, "`method` is not `POST`/`GET`/`STATUS`", ""),
            (INVALID_NUMBER, "withheld/anonymous caller or a number that cannot be E.164 (nothing is sent); or Mindful answered 404 to a POST", ""),
            (NO_TOKEN, "no token parameter and none configured, or the configured secret could not be read (a secret that is not what `DATASTORE_TOKEN_SECRET_KEY` says is `invalid_config`)", ""),
            (UNAUTHORIZED, "Mindful answered 401/403 (`InvalidToken`; STATUS: the Access Control Policy refused the request)", ""),
            (INVALID_WIDGET, "STATUS: `widget_id` is not a widget id (nothing is sent), or the Scheduler API answered 404", ""),
            (TIMEOUT, "Mindful (or the secrets extension) did not answer within the budget", ""),
            (UPSTREAM_ERROR, "Mindful answered 429 or 5xx (after one retry), a 3xx (redirects are never followed), or could not be reached", ""),
            (BAD_RESPONSE, "a 2xx whose body is not a JSON object (malformed, HTML…), a body larger than 256 KiB, or a record for another number than the one asked (the same rule for POST and GET answers; an empty POST answer, `{}` or no body, is `ok`)", ""),
            (RESPONSE_TOO_LARGE, "the record does not fit Connect's 32 KB response", ""),
            (INVALID_CONFIG, "the function's configuration is invalid (e.g. an `http://` URL without `MINDFUL_ALLOW_HTTP`), or STATUS without `SCHEDULER_URL`", ""),
            (INVALID_EVENT, "the event is not JSON at all", ""),
        ];
        pub const ALL: [&str; 12] = mindful_core::answer::codes::names(&TABLE);
    }
}

use contract::{codes, outputs, params, statuses};

/// Configuration read once per process.
#[derive(Debug, Clone)]
pub struct Config {
    pub common: CommonConfig,
    pub datastore_url: mindful_core::http::Url,
    pub number_format: NumberFormat,
    /// `DATASTORE_INCLUDE_ATTRIBUTES=true`: POST also stores the contact's attributes.
    pub include_attributes: bool,
    /// [`vars::DATASTORE_TOKEN`]: plain, Secrets Manager, or SSM.
    pub token: Option<SecretSource>,
    /// [`vars::SCHEDULER_URL`]: where `method=STATUS` reads widget status; `None` = not set up.
    pub scheduler_url: Option<mindful_core::http::Url>,
    /// [`vars::SCHEDULER_TOKEN`]: the Scheduler API Access Token, when the organisation's
    /// Access Control Policy requires one.
    pub scheduler_token: Option<SecretSource>,
}

impl Config {
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let common = CommonConfig::from_env(env, DEFAULT_BUDGET_MS)?;
        let url = env(vars::DATASTORE_URL).unwrap_or_else(|| DEFAULT_DATASTORE_URL.to_string());
        let datastore_url = config::check_url(&url, vars::DATASTORE_URL, common.allow_http)?;
        let number_format = match env(vars::DATASTORE_NUMBER_FORMAT) {
            None => NumberFormat::E164,
            Some(f) => f.parse().map_err(|reason| ConfigError::InvalidValue {
                name: vars::DATASTORE_NUMBER_FORMAT.into(),
                reason,
            })?,
        };
        let include_attributes = env(vars::DATASTORE_INCLUDE_ATTRIBUTES)
            .map(|v| config::is_truthy(&v))
            .unwrap_or(false);
        let token = mindful_core::secret::secret_source(env, &vars::DATASTORE_TOKEN);
        let scheduler_url = env(vars::SCHEDULER_URL)
            .map(|u| config::check_url(&u, vars::SCHEDULER_URL, common.allow_http))
            .transpose()?;
        let scheduler_token = mindful_core::secret::secret_source(env, &vars::SCHEDULER_TOKEN);
        Ok(Self {
            common,
            datastore_url,
            number_format,
            include_attributes,
            token,
            scheduler_url,
            scheduler_token,
        })
    }
}

/// A failure, mapped once to the `status=error` answer ([`error_answer`]).
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    #[error("the {0} parameter is required")]
    MissingParameter(&'static str),
    #[error("no caller number: pass customer_contact_number or use a contact with a phone number")]
    MissingNumber,
    #[error("method must be POST, GET or STATUS")]
    InvalidMethod,
    #[error(
        "method=STATUS needs SCHEDULER_URL (https://<organization id>.scheduler-rt.getmindful.com)"
    )]
    NoScheduler,
    #[error("widget_id must be a Scheduler widget id (letters, digits, - and _)")]
    InvalidWidget,
    #[error("the Scheduler API token could not be read: {0}")]
    SchedulerSecret(SecretError),
    #[error("{0}")]
    Scheduler(SchedulerError),
    #[error("the caller number cannot be an E.164 number: {0}")]
    InvalidNumber(phone::PhoneError),
    #[error("no Datastore token: pass the token parameter or configure DATASTORE_TOKEN, DATASTORE_TOKEN_SECRET_ARN or DATASTORE_TOKEN_PARAMETER")]
    NoToken,
    #[error("the Datastore token could not be read: {0}")]
    Secret(SecretError),
    #[error("{upstream} did not answer within {budget_ms} ms")]
    Timeout {
        upstream: &'static str,
        budget_ms: u128,
    },
    #[error("{0}")]
    Datastore(DatastoreError),
}

impl mindful_core::answer::Failure for Failure {
    fn code(&self) -> &'static str {
        match self {
            Self::Config(_) | Self::NoScheduler => codes::INVALID_CONFIG,
            Self::InvalidWidget | Self::Scheduler(SchedulerError::UnknownWidget) => {
                codes::INVALID_WIDGET
            }
            Self::SchedulerSecret(SecretError::Timeout) => codes::TIMEOUT,
            Self::SchedulerSecret(_) => codes::INVALID_CONFIG,
            Self::Scheduler(e) => match e {
                SchedulerError::Unauthorized(_) => codes::UNAUTHORIZED,
                SchedulerError::Timeout => codes::TIMEOUT,
                SchedulerError::BadResponse | SchedulerError::TooLarge(_) => codes::BAD_RESPONSE,
                _ => codes::UPSTREAM_ERROR,
            },
            Self::MissingParameter(_) | Self::MissingNumber => codes::MISSING_PARAMETER,
            Self::InvalidMethod => codes::INVALID_METHOD,
            Self::InvalidNumber(_) => codes::INVALID_NUMBER,
            Self::NoToken => codes::NO_TOKEN,
            Self::Secret(SecretError::Timeout) | Self::Timeout { .. } => codes::TIMEOUT,
            Self::Secret(e) if e.is_config() => codes::INVALID_CONFIG,
            Self::Secret(_) => codes::NO_TOKEN,
            Self::Datastore(e) => match e {
                DatastoreError::Unauthorized => codes::UNAUTHORIZED,
                DatastoreError::InvalidNumber => codes::INVALID_NUMBER,
                DatastoreError::Timeout => codes::TIMEOUT,
                DatastoreError::BadResponse
                | DatastoreError::TooLarge(_)
                | DatastoreError::ForeignRecord => codes::BAD_RESPONSE,
                DatastoreError::RateLimited
                | DatastoreError::Upstream(_)
                | DatastoreError::Unreachable(_) => codes::UPSTREAM_ERROR,
            },
        }
    }

    fn http_status(&self) -> Option<u16> {
        match self {
            Self::Datastore(e) => e.http_status(),
            Self::Scheduler(e) => e.http_status(),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Post,
    Get,
    /// The Call Target's Scheduler widget status (no caller number involved).
    Status,
}

/// The `method` parameter.
pub fn method(event: &ContactFlowEvent) -> Result<Method, Failure> {
    match event
        .param(params::METHOD)
        .map(str::to_ascii_uppercase)
        .as_deref()
    {
        None => Err(Failure::MissingParameter(params::METHOD)),
        Some("POST") => Ok(Method::Post),
        Some("GET") => Ok(Method::Get),
        Some("STATUS") => Ok(Method::Status),
        Some(_) => Err(Failure::InvalidMethod),
    }
}

/// `method=STATUS`: which widget, decided without I/O.
pub fn status_plan<'c>(
    config: &'c Config,
    event: &ContactFlowEvent,
) -> Result<(&'c mindful_core::http::Url, String), Failure> {
    let url = config.scheduler_url.as_ref().ok_or(Failure::NoScheduler)?;
    let widget = event
        .param(params::WIDGET_ID)
        .map(str::trim)
        .ok_or(Failure::MissingParameter(params::WIDGET_ID))?;
    if !scheduler::valid_widget_id(widget) {
        return Err(Failure::InvalidWidget);
    }
    Ok((url, widget.to_string()))
}

/// Where the Datastore token comes from: the flow's `token` parameter wins over configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenFrom {
    Parameter(Secret),
    Configured(SecretSource),
}

/// What one invocation will do, decided from the event and the configuration alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub method: Method,
    /// The record key: the caller's number in `DATASTORE_NUMBER_FORMAT`.
    pub key: String,
    /// The number as logs may show it.
    pub masked: String,
    pub token: TokenFrom,
    /// POST: the Data Keys to store (empty for GET).
    pub values: BTreeMap<String, String>,
}

/// The pure part of an invocation: method, number, token source and values, or the failure to
/// answer without any I/O.
pub fn plan(config: &Config, event: &ContactFlowEvent) -> Result<Plan, Failure> {
    let method = match method(event)? {
        Method::Status => return Err(Failure::InvalidMethod),
        m => m,
    };
    let raw_number = event
        .param(params::CUSTOMER_CONTACT_NUMBER)
        .or_else(|| event.customer_address())
        .ok_or(Failure::MissingNumber)?;
    let number = phone::parse_number(raw_number, &config.common.default_country)
        .map_err(Failure::InvalidNumber)?;
    let token = match event.param(params::TOKEN) {
        Some(t) => TokenFrom::Parameter(Secret::new(t)),
        None => TokenFrom::Configured(config.token.clone().ok_or(Failure::NoToken)?),
    };
    let values = match method {
        Method::Post => data_values(
            event.parameters(),
            event.attributes(),
            config.include_attributes,
        ),
        Method::Get | Method::Status => BTreeMap::new(),
    };
    Ok(Plan {
        method,
        key: number.format(config.number_format),
        masked: number.masked(),
        token,
        values,
    })
}

/// What a valid configuration builds once per process: the Datastore client and, with
/// `SCHEDULER_URL`, the Scheduler client, sharing the process's HTTP client.
pub struct Setup {
    pub config: Config,
    datastore: DatastoreClient,
    scheduler: Option<SchedulerClient>,
}

impl Setup {
    pub fn new(http: Client, config: Config) -> Self {
        let scheduler = config
            .scheduler_url
            .clone()
            .map(|url| SchedulerClient::new(http.clone(), url));
        let datastore = DatastoreClient::new(http, config.datastore_url.clone());
        Self {
            config,
            datastore,
            scheduler,
        }
    }
}

impl std::fmt::Debug for Setup {
    /// The configuration is what the start-up report shows.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.config.fmt(f)
    }
}

/// The function: the secrets it reads; everything else comes with [`Setup`].
pub struct DatastoreProxy {
    secrets: SecretStore,
}

impl DatastoreProxy {
    /// The served function. A bad configuration does not stop the process: every invocation
    /// answers `error=invalid_config`, so the flow takes its error branch instead of Connect
    /// retrying.
    pub fn new(
        http: Client,
        config: Result<Config, ConfigError>,
        secrets: SecretStore,
    ) -> Function<Self> {
        if let Ok(c) = &config {
            if c.number_format == NumberFormat::National {
                tracing::warn!(
                    "DATASTORE_NUMBER_FORMAT=national: callers of two countries with the same \
                     national digits share one Datastore record; keep e164 unless every caller \
                     is in DEFAULT_COUNTRY"
                );
            }
        }
        Function::new(Self { secrets }, config.map(|c| Setup::new(http, c)))
    }

    /// From the process environment (what `main` uses).
    pub fn from_env(http: Client) -> Function<Self> {
        let env = config::process_env;
        let secrets = SecretStore::from_env(http.clone(), &env);
        Self::new(http, Config::from_env(&env), secrets)
    }
}

impl ConnectFunction for DatastoreProxy {
    const NAME: &'static str = FUNCTION_NAME;
    const KEEP_ON_OVERFLOW: &'static [&'static str] = &[outputs::CUSTOMER_CONTACT_NUMBER];
    type Config = Setup;
    type Failure = Failure;

    fn budget(setup: Option<&Setup>) -> Duration {
        setup
            .map(|s| s.config.common.request_budget)
            .unwrap_or(Duration::from_millis(DEFAULT_BUDGET_MS))
    }

    fn execute<'a>(
        &'a self,
        setup: &'a Setup,
        inv: &'a mut Invocation,
    ) -> impl std::future::Future<Output = Result<Kvp, Failure>> + Send + 'a {
        self.process(setup, inv)
    }
}

impl DatastoreProxy {
    async fn process(&self, setup: &Setup, inv: &mut Invocation) -> Result<Kvp, Failure> {
        let (config, client) = (&setup.config, &setup.datastore);
        if method(&inv.event)? == Method::Status {
            return self
                .widget_status(config, setup.scheduler.as_ref(), inv)
                .await;
        }
        let plan = plan(config, &inv.event)?;
        inv.record.masked_number = Some(plan.masked.clone());
        let token = match &plan.token {
            TokenFrom::Parameter(t) => t.clone(),
            TokenFrom::Configured(source) => self
                .secrets
                .resolve(source, &inv.budget)
                .await
                .map_err(Failure::Secret)?,
        };

        let mut result = self.call(client, &plan, &token, &inv.budget).await;
        // A rotated token: Datastore refuses the cached one. Read it again (past the cache, at
        // most once per TTL window) and try once more if it changed.
        if let (Err(DatastoreError::Unauthorized), TokenFrom::Configured(source)) =
            (&result, &plan.token)
        {
            if let Ok(Some(rotated)) = self.secrets.refresh(source, &inv.budget).await {
                tracing::info!("Datastore refused the token; retrying once with the rotated one");
                result = self.call(client, &plan, &rotated, &inv.budget).await;
            }
        }
        result.map_err(|e| match e {
            DatastoreError::Timeout => Failure::Timeout {
                upstream: "Datastore",
                budget_ms: inv.budget.total().as_millis(),
            },
            other => Failure::Datastore(other),
        })
    }

    /// `method=STATUS`: the widget's state and estimated callback time, for the flow's offer
    /// decision (ocw-phrase's `mindful_status`).
    async fn widget_status(
        &self,
        config: &Config,
        scheduler: Option<&SchedulerClient>,
        inv: &mut Invocation,
    ) -> Result<Kvp, Failure> {
        let (_, widget) = status_plan(config, &inv.event)?;
        let scheduler = scheduler.ok_or(Failure::NoScheduler)?;
        let token = match &config.scheduler_token {
            Some(source) => Some(
                self.secrets
                    .resolve(source, &inv.budget)
                    .await
                    .map_err(Failure::SchedulerSecret)?,
            ),
            None => None,
        };
        let mut result = scheduler
            .widget_status(&widget, token.as_ref(), &inv.budget)
            .await;
        // A rotated access token, as for the Datastore token.
        if let (Err(SchedulerError::Unauthorized(_)), Some(source)) =
            (&result, &config.scheduler_token)
        {
            if let Ok(Some(rotated)) = self.secrets.refresh(source, &inv.budget).await {
                tracing::info!(
                    "the Scheduler API refused the token; retrying once with the rotated one"
                );
                result = scheduler
                    .widget_status(&widget, Some(&rotated), &inv.budget)
                    .await;
            }
        }
        match result {
            Ok(status) => {
                tracing::info!(widget_state = %status.widget_state, "Scheduler widget status");
                let mut kvp = Kvp::with_status(statuses::OK);
                kvp.set(outputs::WIDGET_STATE, status.widget_state);
                kvp.set(
                    outputs::EWT,
                    status
                        .ewt_seconds
                        .map(|s| s.to_string())
                        .unwrap_or_default(),
                );
                Ok(kvp)
            }
            Err(SchedulerError::Timeout) => Err(Failure::Timeout {
                upstream: "the Scheduler API",
                budget_ms: inv.budget.total().as_millis(),
            }),
            Err(e) => Err(Failure::Scheduler(e)),
        }
    }

    /// The plan's one Datastore call with `token`.
    async fn call(
        &self,
        client: &DatastoreClient,
        plan: &Plan,
        token: &Secret,
        budget: &mindful_core::http::Budget,
    ) -> Result<Kvp, DatastoreError> {
        let key = plan.key.clone();
        let (token, inv_budget) = (token.clone(), budget);
        match plan.method {
            Method::Post => client
                .submit(&token, &key, &plan.values, inv_budget)
                .await
                .map(|saved| {
                    let mut kvp = Kvp::with_status(statuses::OK);
                    kvp.set(outputs::CUSTOMER_CONTACT_NUMBER, key.clone());
                    let expires = saved
                        .get(outputs::TIME_TO_EXPIRE)
                        .map(mindful_core::event::value_to_string)
                        .unwrap_or_default();
                    kvp.set(outputs::TIME_TO_EXPIRE, expires);
                    let ecbt = saved
                        .get(outputs::ECBT)
                        .map(mindful_core::event::value_to_string)
                        .unwrap_or_default();
                    kvp.set(outputs::ECBT, ecbt);
                    kvp
                }),
            Method::Status => Err(DatastoreError::BadResponse),
            Method::Get => {
                client
                    .search(&token, &key, inv_budget)
                    .await
                    .map(|outcome| match outcome {
                        SearchOutcome::Found(record) => record_response(&record),
                        SearchOutcome::NotFound => {
                            let mut kvp = Kvp::with_status(statuses::NOT_FOUND);
                            kvp.set(outputs::CUSTOMER_CONTACT_NUMBER, key.clone());
                            kvp
                        }
                    })
            }
        }
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
                .filter(|(k, _)| !params::CONTROL.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone())),
        );
    }
    for (k, v) in parameters {
        if !params::CONTROL.contains(&k.as_str()) {
            values.insert(k.clone(), v.clone());
        }
    }
    values
}

/// A found record as the flat response: every field flattened to strings, `status=ok` on top.
pub fn record_response(record: &serde_json::Map<String, Value>) -> Kvp {
    let mut kvp = Kvp::flatten_map(record);
    for key in outputs::RESERVED {
        kvp.remove(key);
    }
    kvp.set(outputs::STATUS, statuses::OK);
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

    fn config(extra: &[(&str, &str)]) -> Config {
        let pairs: Vec<(&str, &str)> = [("DATASTORE_TOKEN", "configured")]
            .into_iter()
            .chain(extra.iter().copied())
            .collect();
        Config::from_env(&bundle_testkit::env_of(&pairs)).expect("valid configuration")
    }

    fn event(params: Value, address: Option<&str>) -> ContactFlowEvent {
        let mut e = bundle_testkit::event(params, address, "c-1");
        e["Details"]["ContactData"]["Attributes"]["token"] = "attr".into();
        ContactFlowEvent::from_value(e)
    }

    /// The plan from event and configuration, without I/O: (params, address, configuration,
    /// expected outcome).
    #[test]
    fn plans() {
        let configured = TokenFrom::Configured(SecretSource::Value(Secret::new("configured")));
        let ok =
            |method, key: &str, token: &TokenFrom| Ok((method, key.to_string(), token.clone()));
        type Row<'a> = (
            Value,
            Option<&'a str>,
            &'a [(&'a str, &'a str)],
            Result<(Method, String, TokenFrom), &'a str>,
        );
        let rows: Vec<Row> = vec![
            (
                json!({"method": "POST"}),
                Some("+13209071234"),
                &[],
                ok(Method::Post, "+13209071234", &configured),
            ),
            (
                json!({"method": "get"}),
                Some("+13209071234"),
                &[],
                ok(Method::Get, "+13209071234", &configured),
            ),
            (
                json!({"method": "GET", "customer_contact_number": "(320) 907-1234"}),
                None,
                &[],
                ok(Method::Get, "+13209071234", &configured),
            ),
            (
                json!({"method": "GET"}),
                Some("+13209071234"),
                &[("DATASTORE_NUMBER_FORMAT", "digits")],
                ok(Method::Get, "13209071234", &configured),
            ),
            (
                json!({"method": "GET"}),
                Some("+13209071234"),
                &[("DATASTORE_NUMBER_FORMAT", "national")],
                ok(Method::Get, "3209071234", &configured),
            ),
            (
                json!({"method": "GET", "token": "p"}),
                Some("+13209071234"),
                &[],
                ok(
                    Method::Get,
                    "+13209071234",
                    &TokenFrom::Parameter(Secret::new("p")),
                ),
            ),
            (
                json!({}),
                Some("+13209071234"),
                &[],
                Err(codes::MISSING_PARAMETER),
            ),
            (
                json!({"method": "PUT"}),
                Some("+13209071234"),
                &[],
                Err(codes::INVALID_METHOD),
            ),
            (
                json!({"method": "GET"}),
                None,
                &[],
                Err(codes::MISSING_PARAMETER),
            ),
            (
                json!({"method": "GET"}),
                Some("anonymous"),
                &[],
                Err(codes::INVALID_NUMBER),
            ),
            (
                json!({"method": "GET"}),
                Some("+13209071234"),
                &[("DATASTORE_TOKEN", "")],
                Err(codes::NO_TOKEN),
            ),
        ];
        for (params, address, extra, want) in rows {
            let got = plan(&config(extra), &event(params.clone(), address));
            let got = got
                .map(|p| (p.method, p.key, p.token))
                .map_err(|e| mindful_core::answer::Failure::code(&e));
            assert_eq!(got, want, "{params} {address:?} {extra:?}");
        }
        // POST values: parameters minus control keys, attributes only when configured.
        let p = plan(
            &config(&[]),
            &event(json!({"method": "POST", "a": "1"}), Some("+13209071234")),
        )
        .unwrap();
        assert_eq!(p.values.keys().collect::<Vec<_>>(), vec!["a"]);
        let p = plan(
            &config(&[("DATASTORE_INCLUDE_ATTRIBUTES", "true")]),
            &event(json!({"method": "POST", "a": "1"}), Some("+13209071234")),
        )
        .unwrap();
        assert_eq!(p.values.keys().collect::<Vec<_>>(), vec!["a", "tier"]);
        assert_eq!(p.masked, "***1234");
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
