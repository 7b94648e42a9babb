#![doc = include_str!("../README.md")]
//!
//! # The code
//!
//! Shape: [`contract`] names the interface; [`plan`] is the pure decision from event and
//! configuration (table-tested); [`AgentAnswer`] (a [`ConnectFunction`]) does the I/O; every
//! failure is one [`Failure`], answered by [`Function`], the one serving shape of every function.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use mindful_core::agent_answer::{
    agent_answer_endpoint, AgentAnswerClient, AnswerError, AnswerOutcome, DEFAULT_API_URL,
    DEFAULT_TOKEN_URL,
};
use mindful_core::config::{self, vars, CommonConfig, ConfigError};
use mindful_core::function::{ConnectFunction, Function};
use mindful_core::handler::Invocation;
use mindful_core::http::{Client, Url};
use mindful_core::oauth::{AuthError, ClientCredentials};
use mindful_core::phone;
use mindful_core::secret::{SecretError, SecretSource, SecretStore};
use mindful_core::{ContactFlowEvent, Kvp, Secret};

pub const FUNCTION_NAME: &str = "agent-answer";
pub const DEFAULT_BUDGET_MS: u64 = 2000;
/// How long an accepted answer for a contact is remembered, so a retried invocation for the same
/// contact does not send a second answer event.
pub const DEFAULT_DEDUP_SECONDS: u64 = 60;

/// The function's public interface, each name defined once (docs: `crates/agent-answer/README.md`).
pub mod contract {
    pub mod params {
        /// `$.Agent.UserName`: sent as `metadata.agentId`.
        pub const AGENT_ID: &str = "Agent_ID";
        /// `$.Queue.ARN`: sent as `metadata.queueId`.
        pub const QUEUE_ID: &str = "Queue_ID";
        /// A test number that overrides the contact's ANI.
        pub const TEMP_TEL: &str = "Temp_Tel";
        /// Mindful's guide's seed names, for drop-in compatibility (configuration is better).
        pub const TOKEN_URL: &str = "Token_URL";
        pub const CLIENT_ID: &str = "Client_ID";
        pub const SECRET_NUM: &str = "Secret_Num";
        pub const API_URL: &str = "API_URL";
        pub const ALL: [&str; 7] = [
            AGENT_ID, QUEUE_ID, TEMP_TEL, TOKEN_URL, CLIENT_ID, SECRET_NUM, API_URL,
        ];
        /// Parameters that carry a secret (never logged).
        pub const SECRETS: [&str; 1] = [SECRET_NUM];
    }
    pub mod outputs {
        pub use mindful_core::answer::outputs::*;
        /// `true` when this contact's answer was already accepted (no second request).
        pub const DEDUPLICATED: &str = "deduplicated";
        /// What a non-error answer may carry besides `status`.
        pub const ANSWERED: [&str; 2] = [HTTP_STATUS, DEDUPLICATED];
    }
    pub mod statuses {
        /// Mindful answered 2xx.
        pub const ACCEPTED: &str = "accepted";
        /// Mindful answered 404: no call connecting for that ANI (expected, not an error).
        pub const NO_CALL: &str = "no_call";
        pub const ERROR: &str = mindful_core::answer::STATUS_ERROR;
        pub const ALL: [&str; 3] = [ACCEPTED, NO_CALL, ERROR];
    }
    pub mod codes {
        pub use mindful_core::answer::codes::{
            BAD_RESPONSE, INVALID_CONFIG, INVALID_EVENT, INVALID_NUMBER, RATE_LIMITED, TIMEOUT,
            UPSTREAM_ERROR,
        };
        /// The token endpoint rejected the credentials (4xx) or answered no usable token, or
        /// Agent Answer answered 401 twice.
        pub const AUTH_FAILED: &str = "auth_failed";
        /// Every code, when it is answered and an `error_message` example: the README's error table
        /// is written from this by `cargo xtask contract` (CI checks it is current).
        pub const TABLE: [mindful_core::answer::codes::CodeDoc; 8] = [
            (INVALID_NUMBER, "no ANI, withheld, or not E.164 (checked against Mindful's `^\\+?[1-9]\\d{1,14}$` too): nothing is sent", ""),
            (INVALID_CONFIG, "no client id or secret, the secret could not be read, an invalid or `http://` URL, or a flow URL outside the allow-list (called `missing_config` before 0.2: one code for configuration faults in all three functions)", ""),
            (AUTH_FAILED, "the token endpoint rejected the credentials (4xx), answered without a token, or Agent Answer answered 401 twice (after one refresh)", ""),
            (RATE_LIMITED, "429 (Mindful allows 100 req/s per source IP)", ""),
            (TIMEOUT, "no answer within `REQUEST_BUDGET_MS` (default 2000)", ""),
            (UPSTREAM_ERROR, "5xx, 400, a 3xx (redirects are never followed), connection refused/reset", ""),
            (BAD_RESPONSE, "Agent Answer's reply is larger than 64 KiB", ""),
            (INVALID_EVENT, "the event is not JSON at all", ""),
        ];
        pub const ALL: [&str; 8] = mindful_core::answer::codes::names(&TABLE);
    }
}

use contract::{codes, outputs, params, statuses};

/// Configuration read once per process.
#[derive(Debug, Clone)]
pub struct Config {
    pub common: CommonConfig,
    pub token_url: Url,
    /// The Agent Answer endpoint (`MINDFUL_API_URL` as a base or full URL).
    pub api_url: Url,
    pub client_id: Option<String>,
    pub client_secret: Option<SecretSource>,
    pub dedup_window: Duration,
}

impl Config {
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let common = CommonConfig::from_env(env, DEFAULT_BUDGET_MS)?;
        let token_url =
            env(vars::MINDFUL_TOKEN_URL).unwrap_or_else(|| DEFAULT_TOKEN_URL.to_string());
        let token_url = config::check_url(&token_url, vars::MINDFUL_TOKEN_URL, common.allow_http)?;
        let api_url = env(vars::MINDFUL_API_URL).unwrap_or_else(|| DEFAULT_API_URL.to_string());
        let api_url = agent_answer_endpoint(config::check_url(
            &api_url,
            vars::MINDFUL_API_URL,
            common.allow_http,
        )?);
        let dedup = config::parse_u64(
            env,
            vars::AGENT_ANSWER_DEDUP_SECONDS,
            DEFAULT_DEDUP_SECONDS,
            0,
            3600,
        )?;
        Ok(Self {
            common,
            token_url,
            api_url,
            client_id: env(vars::MINDFUL_CLIENT_ID).map(|v| v.trim().to_string()),
            client_secret: mindful_core::secret::secret_source(env, &vars::MINDFUL_CLIENT_SECRET),
            dedup_window: Duration::from_secs(dedup),
        })
    }
}

/// A failure, mapped once to the `status=error` answer (`mindful_core::answer::error_answer`).
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    #[error("{0}")]
    MissingConfig(&'static str),
    #[error("no ANI: pass Temp_Tel or use a contact with a phone number")]
    NoAni,
    #[error("the ANI cannot be an E.164 number: {0}")]
    InvalidAni(phone::PhoneError),
    #[error("the client secret could not be read: {0}")]
    Secret(SecretError),
    #[error("Mindful did not answer within {budget_ms} ms")]
    Timeout { budget_ms: u128 },
    #[error("{0}")]
    Answer(AnswerError),
}

impl mindful_core::answer::Failure for Failure {
    fn code(&self) -> &'static str {
        match self {
            Self::Config(_) | Self::MissingConfig(_) => codes::INVALID_CONFIG,
            Self::Secret(SecretError::Timeout) | Self::Timeout { .. } => codes::TIMEOUT,
            Self::Secret(_) => codes::INVALID_CONFIG,
            Self::NoAni | Self::InvalidAni(_) => codes::INVALID_NUMBER,
            Self::Answer(e) => match e {
                AnswerError::InvalidAni => codes::INVALID_NUMBER,
                AnswerError::Auth(AuthError::Rejected(_))
                | AnswerError::Auth(AuthError::BadResponse(_))
                | AnswerError::Unauthorized => codes::AUTH_FAILED,
                AnswerError::Auth(AuthError::RateLimited) | AnswerError::RateLimited => {
                    codes::RATE_LIMITED
                }
                AnswerError::Auth(AuthError::Timeout) | AnswerError::Timeout => codes::TIMEOUT,
                AnswerError::Auth(AuthError::Upstream(_))
                | AnswerError::Auth(AuthError::Unreachable(_))
                | AnswerError::Rejected(_)
                | AnswerError::Upstream(_)
                | AnswerError::Unreachable(_) => codes::UPSTREAM_ERROR,
                AnswerError::TooLarge(_) => codes::BAD_RESPONSE,
            },
        }
    }

    fn http_status(&self) -> Option<u16> {
        match self {
            Self::Answer(e) => e.http_status(),
            _ => None,
        }
    }
}

/// Where the client secret comes from: the flow's `Secret_Num` wins over configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretFrom {
    Parameter(Secret),
    Configured(SecretSource),
}

/// What one invocation will do, decided from the event and the configuration alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The ANI in E.164, as Mindful matches it.
    pub ani: String,
    pub masked: String,
    pub endpoint: Url,
    pub token_url: Url,
    pub client_id: String,
    pub secret: SecretFrom,
    pub agent_id: Option<String>,
    pub queue_id: Option<String>,
    pub contact_id: Option<String>,
}

/// The pure part of an invocation. The ANI is checked first: an invalid one means no request
/// at all, whatever else is wrong. Flow parameters (the guide's seed names) win over
/// configuration, under the allow-list rule ([`config::check_host_allowed`]): when the secret
/// comes from configuration, a URL from the flow must be an allowed origin, so a flow editor
/// cannot send the secret (or its token) elsewhere.
pub fn plan(config: &Config, event: &ContactFlowEvent) -> Result<Plan, Failure> {
    let raw_ani = event
        .param(params::TEMP_TEL)
        .or_else(|| event.customer_address())
        .ok_or(Failure::NoAni)?;
    let number = phone::parse_number(raw_ani, &config.common.default_country)
        .map_err(Failure::InvalidAni)?;

    let allow_http = config.common.allow_http;
    let secret_from_flow = event.param(params::SECRET_NUM).map(Secret::new);
    let flow_url = |name: &'static str| -> Result<Option<Url>, Failure> {
        event
            .param(name)
            .map(|raw| config::check_url(raw, name, allow_http).map_err(Failure::Config))
            .transpose()
    };
    let token_url = flow_url(params::TOKEN_URL)?;
    let api_url = flow_url(params::API_URL)?.map(agent_answer_endpoint);
    if secret_from_flow.is_none() {
        let configured = [&config.token_url, &config.api_url];
        for (url, name) in [(&token_url, params::TOKEN_URL), (&api_url, params::API_URL)] {
            if let Some(url) = url {
                config::check_host_allowed(
                    url,
                    name,
                    &config.common.allowed_hosts,
                    &configured,
                    allow_http,
                )
                .map_err(Failure::Config)?;
            }
        }
    }
    let client_id = event
        .param(params::CLIENT_ID)
        .map(str::to_string)
        .or_else(|| config.client_id.clone())
        .ok_or(Failure::MissingConfig(
            "no client id: set MINDFUL_CLIENT_ID or pass Client_ID",
        ))?;
    let secret = match secret_from_flow {
        Some(s) => SecretFrom::Parameter(s),
        None => SecretFrom::Configured(config.client_secret.clone().ok_or(
            Failure::MissingConfig(
                "no client secret: set MINDFUL_CLIENT_SECRET, MINDFUL_CLIENT_SECRET_ARN or MINDFUL_CLIENT_SECRET_PARAMETER, or pass Secret_Num",
            ),
        )?),
    };
    Ok(Plan {
        ani: number.e164(),
        masked: number.masked(),
        endpoint: api_url.unwrap_or_else(|| config.api_url.clone()),
        token_url: token_url.unwrap_or_else(|| config.token_url.clone()),
        client_id,
        secret,
        agent_id: event.param(params::AGENT_ID).map(str::to_string),
        queue_id: event.param(params::QUEUE_ID).map(str::to_string),
        contact_id: event.contact_id().map(str::to_string),
    })
}

/// The function's state, built once in `main`.
pub struct AgentAnswer {
    client: AgentAnswerClient,
    secrets: SecretStore,
    /// ContactId → when its answer was accepted (Connect may invoke again for the same contact).
    answered: Mutex<HashMap<String, Instant>>,
}

impl AgentAnswer {
    /// The served function; a bad configuration is answered `error=invalid_config`.
    pub fn new(
        http: Client,
        config: Result<Config, ConfigError>,
        secrets: SecretStore,
    ) -> Function<Self> {
        Function::new(
            Self {
                client: AgentAnswerClient::new(http),
                secrets,
                answered: Mutex::new(HashMap::new()),
            },
            config,
        )
    }

    pub fn from_env(http: Client) -> Function<Self> {
        let env = config::process_env;
        let secrets = SecretStore::from_env(http.clone(), &env);
        Self::new(http, Config::from_env(&env), secrets)
    }
}

impl ConnectFunction for AgentAnswer {
    const NAME: &'static str = FUNCTION_NAME;
    type Config = Config;
    type Failure = Failure;

    fn budget(config: Option<&Config>) -> Duration {
        config
            .map(|c| c.common.request_budget)
            .unwrap_or(Duration::from_millis(DEFAULT_BUDGET_MS))
    }

    fn execute<'a>(
        &'a self,
        config: &'a Config,
        inv: &'a mut Invocation,
    ) -> impl std::future::Future<Output = Result<Kvp, Failure>> + Send + 'a {
        self.process(config, inv)
    }
}

impl AgentAnswer {
    async fn process(&self, config: &Config, inv: &mut Invocation) -> Result<Kvp, Failure> {
        let plan = plan(config, &inv.event)?;
        inv.record.masked_number = Some(plan.masked.clone());

        if let Some(id) = &plan.contact_id {
            if self.recently_answered(id, config.dedup_window) {
                tracing::info!("answer already accepted for this contact; not sent again");
                let mut kvp = Kvp::with_status(statuses::ACCEPTED);
                kvp.set(outputs::DEDUPLICATED, "true");
                return Ok(kvp);
            }
        }
        let client_secret = match &plan.secret {
            SecretFrom::Parameter(s) => s.clone(),
            SecretFrom::Configured(source) => self
                .secrets
                .resolve(source, &inv.budget)
                .await
                .map_err(Failure::Secret)?,
        };
        let mut creds = ClientCredentials {
            token_url: plan.token_url.clone(),
            client_id: plan.client_id.clone(),
            client_secret,
        };

        let mut report = self.send(&plan, &creds, &inv.budget).await;
        // A rotated client secret: the token endpoint refuses the cached one. Read it again
        // (past the cache, at most once per TTL window) and try once more if it changed.
        if let (Err(AnswerError::Auth(AuthError::Rejected(_))), SecretFrom::Configured(source)) =
            (&report.outcome, &plan.secret)
        {
            if let Ok(Some(rotated)) = self.secrets.refresh(source, &inv.budget).await {
                tracing::info!("the token endpoint refused the client secret; retrying once with the rotated one");
                creds.client_secret = rotated;
                report = self.send(&plan, &creds, &inv.budget).await;
            }
        }
        match report.outcome {
            Ok(AnswerOutcome::Accepted { http_status }) => {
                if let Some(id) = plan.contact_id {
                    self.remember(id, config.dedup_window);
                }
                let mut kvp = Kvp::with_status(statuses::ACCEPTED);
                kvp.set(outputs::HTTP_STATUS, http_status.to_string());
                Ok(kvp)
            }
            Ok(AnswerOutcome::NoCall) => {
                let mut kvp = Kvp::with_status(statuses::NO_CALL);
                kvp.set(outputs::HTTP_STATUS, "404");
                Ok(kvp)
            }
            Err(e) => Err(match e {
                AnswerError::Timeout | AnswerError::Auth(AuthError::Timeout) => Failure::Timeout {
                    budget_ms: inv.budget.total().as_millis(),
                },
                other => Failure::Answer(other),
            }),
        }
    }

    async fn send(
        &self,
        plan: &Plan,
        creds: &ClientCredentials,
        budget: &mindful_core::http::Budget,
    ) -> mindful_core::agent_answer::AnswerReport {
        self.client
            .answer(
                &plan.endpoint,
                creds,
                &plan.ani,
                plan.agent_id.as_deref(),
                plan.queue_id.as_deref(),
                budget,
            )
            .await
    }

    fn recently_answered(&self, contact_id: &str, window: Duration) -> bool {
        let Ok(answered) = self.answered.lock() else {
            return false;
        };
        answered
            .get(contact_id)
            .is_some_and(|at| at.elapsed() < window)
    }

    fn remember(&self, contact_id: String, window: Duration) {
        if window.is_zero() {
            return;
        }
        if let Ok(mut answered) = self.answered.lock() {
            // Bounded: entries older than the window are dropped on every insert.
            answered.retain(|_, at| at.elapsed() < window);
            answered.insert(contact_id, Instant::now());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mindful_core::answer::Failure as _;
    use serde_json::{json, Value};

    fn config(extra: &[(&str, &str)]) -> Config {
        let pairs: Vec<(&str, &str)> = [
            ("MINDFUL_CLIENT_ID", "cid"),
            ("MINDFUL_CLIENT_SECRET", "configured"),
        ]
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

    /// (params, address, configuration, outcome): `Ok((ani, token URL host:port, secret from
    /// the flow?))` or the error code, without any I/O.
    #[test]
    fn plans() {
        type Row<'a> = (
            Value,
            Option<&'a str>,
            &'a [(&'a str, &'a str)],
            Result<(&'a str, &'a str, bool), &'a str>,
        );
        let rows: Vec<Row> = vec![
            (
                json!({}),
                Some("+13209071234"),
                &[],
                Ok(("+13209071234", "auth.getmindful.com:443", false)),
            ),
            (
                json!({"Temp_Tel": "+447946095813"}),
                Some("+13209071234"),
                &[],
                Ok(("+447946095813", "auth.getmindful.com:443", false)),
            ),
            (
                json!({}),
                Some("(320) 907-1234"),
                &[],
                Ok(("+13209071234", "auth.getmindful.com:443", false)),
            ),
            (json!({}), None, &[], Err(codes::INVALID_NUMBER)),
            (
                json!({}),
                Some("anonymous"),
                &[],
                Err(codes::INVALID_NUMBER),
            ),
            // An invalid ANI wins over a bad URL: nothing is sent either way.
            (
                json!({"Token_URL": "https://evil.example/t"}),
                Some("anonymous"),
                &[],
                Err(codes::INVALID_NUMBER),
            ),
            // The allow-list: the configured secret never goes to another origin...
            (
                json!({"Token_URL": "https://evil.example/t"}),
                Some("+13209071234"),
                &[],
                Err(codes::INVALID_CONFIG),
            ),
            (
                json!({"Token_URL": "https://auth.getmindful.com:8443/t"}),
                Some("+13209071234"),
                &[],
                Err(codes::INVALID_CONFIG),
            ),
            (
                json!({"Token_URL": "https://auth.getmindful.com/other"}),
                Some("+13209071234"),
                &[],
                Ok(("+13209071234", "auth.getmindful.com:443", false)),
            ),
            (
                json!({"Token_URL": "https://x.getmindful.com/t"}),
                Some("+13209071234"),
                &[("MINDFUL_ALLOWED_HOSTS", ".getmindful.com")],
                Ok(("+13209071234", "x.getmindful.com:443", false)),
            ),
            // ...but the flow's own secret may go where the flow says.
            (
                json!({"Token_URL": "https://evil.example/t", "Secret_Num": "s"}),
                Some("+13209071234"),
                &[],
                Ok(("+13209071234", "evil.example:443", true)),
            ),
            (
                json!({"Token_URL": "http://auth.getmindful.com/t", "Secret_Num": "s"}),
                Some("+13209071234"),
                &[],
                Err(codes::INVALID_CONFIG),
            ),
            (
                json!({}),
                Some("+13209071234"),
                &[("MINDFUL_CLIENT_ID", "")],
                Err(codes::INVALID_CONFIG),
            ),
            (
                json!({"Client_ID": "flow"}),
                Some("+13209071234"),
                &[("MINDFUL_CLIENT_ID", "")],
                Ok(("+13209071234", "auth.getmindful.com:443", false)),
            ),
            (
                json!({}),
                Some("+13209071234"),
                &[("MINDFUL_CLIENT_SECRET", "")],
                Err(codes::INVALID_CONFIG),
            ),
        ];
        for (params, address, extra, want) in rows {
            let got = plan(&config(extra), &event(params.clone(), address));
            let got = got.as_ref().map(|p| {
                (
                    p.ani.as_str(),
                    format!(
                        "{}:{}",
                        p.token_url.host_str().unwrap_or(""),
                        p.token_url.port_or_known_default().unwrap_or(0)
                    ),
                    matches!(p.secret, SecretFrom::Parameter(_)),
                )
            });
            let got = got
                .as_ref()
                .map(|(a, h, s)| (*a, h.as_str(), *s))
                .map_err(|e| e.code());
            assert_eq!(got, want, "{params} {address:?} {extra:?}");
        }
        let p = plan(
            &config(&[]),
            &event(
                json!({"Agent_ID": "jdoe", "Queue_ID": " "}),
                Some("+13209071234"),
            ),
        )
        .unwrap();
        assert_eq!(p.agent_id.as_deref(), Some("jdoe"));
        assert_eq!(p.queue_id, None);
        assert_eq!(p.contact_id.as_deref(), Some("c-1"));
        assert_eq!(
            p.endpoint.as_str(),
            "https://api.getmindful.com/v2/callback/agentAnswer"
        );
    }
}
