//! `agent-answer`: tells Mindful that an agent answered a callback.
//!
//! The customer whisper flow of the callback-return leg invokes it when the agent picks up, so
//! Mindful receives an Agent Answer event for the call it is connecting and can compute accurate
//! callback times. A whisper must never hold the agent: the default budget is 2 s and every
//! failure is a response, never a Lambda error.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use lambda_runtime::LambdaEvent;
use mindful_core::agent_answer::{
    agent_answer_endpoint, AgentAnswerClient, AnswerError, AnswerOutcome, DEFAULT_API_URL,
    DEFAULT_TOKEN_URL,
};
use mindful_core::config::{self, CommonConfig, ConfigError};
use mindful_core::handler::{respond, Invocation, Payload};
use mindful_core::oauth::{AuthError, ClientCredentials};
use mindful_core::observe::InvocationRecord;
use mindful_core::phone;
use mindful_core::secret::{SecretError, SecretSource, SecretStore};
use mindful_core::{Kvp, Secret};
use reqwest::{Client, Url};

pub const FUNCTION_NAME: &str = "agent-answer";
pub const DEFAULT_BUDGET_MS: u64 = 2000;
/// How long an accepted answer for a contact is remembered, so a retried invocation for the same
/// contact does not send a second answer event.
pub const DEFAULT_DEDUP_SECONDS: u64 = 60;

/// Configuration read once per process.
#[derive(Debug, Clone)]
pub struct AnswerConfig {
    pub common: CommonConfig,
    pub token_url: Url,
    /// The Agent Answer endpoint (`MINDFUL_API_URL` as a base or full URL).
    pub api_url: Url,
    pub client_id: Option<String>,
    pub client_secret: Option<SecretSource>,
    pub dedup_window: Duration,
}

impl AnswerConfig {
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let common = CommonConfig::from_env(env, DEFAULT_BUDGET_MS)?;
        let token_url = env("MINDFUL_TOKEN_URL").unwrap_or_else(|| DEFAULT_TOKEN_URL.to_string());
        let token_url = config::check_url(&token_url, "MINDFUL_TOKEN_URL", common.allow_http)?;
        let api_url = env("MINDFUL_API_URL").unwrap_or_else(|| DEFAULT_API_URL.to_string());
        let api_url = agent_answer_endpoint(config::check_url(
            &api_url,
            "MINDFUL_API_URL",
            common.allow_http,
        )?);
        let dedup = config::parse_u64(
            env,
            "AGENT_ANSWER_DEDUP_SECONDS",
            DEFAULT_DEDUP_SECONDS,
            0,
            3600,
        )?;
        Ok(Self {
            common,
            token_url,
            api_url,
            client_id: env("MINDFUL_CLIENT_ID").map(|v| v.trim().to_string()),
            client_secret: config::secret_source(env, &config::vars::MINDFUL_CLIENT_SECRET),
            dedup_window: Duration::from_secs(dedup),
        })
    }
}

#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("invalid configuration: {0}")]
    Config(ConfigError),
    #[error("{0}")]
    MissingConfig(&'static str),
    #[error("no ANI: pass Temp_Tel or use a contact with a phone number")]
    NoAni,
    #[error("the ANI cannot be an E.164 number: {0}")]
    InvalidAni(phone::PhoneError),
    #[error("the client secret could not be read: {0}")]
    Secret(SecretError),
    #[error("{0}")]
    Answer(AnswerError),
}

impl Failure {
    fn code(&self) -> &'static str {
        match self {
            Self::Config(_)
            | Self::MissingConfig(_)
            | Self::Secret(SecretError::Unreachable(_))
            | Self::Secret(SecretError::Status(_))
            | Self::Secret(SecretError::Empty)
            | Self::Secret(SecretError::BadResponse) => "missing_config",
            Self::Secret(SecretError::Timeout) => "timeout",
            Self::NoAni | Self::InvalidAni(_) => "invalid_number",
            Self::Answer(e) => match e {
                AnswerError::InvalidAni => "invalid_number",
                AnswerError::Auth(AuthError::Rejected(_))
                | AnswerError::Auth(AuthError::BadResponse(_))
                | AnswerError::Unauthorized => "auth_failed",
                AnswerError::Auth(AuthError::RateLimited) | AnswerError::RateLimited => {
                    "rate_limited"
                }
                AnswerError::Auth(AuthError::Timeout) | AnswerError::Timeout => "timeout",
                AnswerError::Auth(AuthError::Upstream(_))
                | AnswerError::Auth(AuthError::Unreachable(_)) => "upstream_error",
                AnswerError::Rejected(_)
                | AnswerError::Upstream(_)
                | AnswerError::Unreachable(_) => "upstream_error",
                AnswerError::TooLarge(_) => "bad_response",
            },
        }
    }
}

/// The function's state, built once in `main`.
pub struct AgentAnswer {
    config: Result<AnswerConfig, ConfigError>,
    client: AgentAnswerClient,
    secrets: SecretStore,
    /// ContactId → when its answer was accepted (Connect may invoke again for the same contact).
    answered: Mutex<HashMap<String, Instant>>,
}

impl AgentAnswer {
    pub fn new(
        http: Client,
        config: Result<AnswerConfig, ConfigError>,
        secrets: SecretStore,
    ) -> Self {
        Self {
            config,
            client: AgentAnswerClient::new(http),
            secrets,
            answered: Mutex::new(HashMap::new()),
        }
    }

    pub fn from_env(http: Client) -> Self {
        let env = config::process_env;
        let secrets = SecretStore::from_env(http.clone(), &env);
        Self::new(http, AnswerConfig::from_env(&env), secrets)
    }

    fn budget(&self) -> Duration {
        self.config
            .as_ref()
            .map(|c| c.common.request_budget)
            .unwrap_or(Duration::from_millis(DEFAULT_BUDGET_MS))
    }

    /// The Lambda handler.
    pub async fn handle(
        &self,
        event: LambdaEvent<Payload>,
    ) -> Result<Kvp, std::convert::Infallible> {
        respond(FUNCTION_NAME, event, self.budget(), &[], |inv| {
            self.run(inv)
        })
        .await
    }

    async fn run(&self, mut inv: Invocation) -> (Kvp, InvocationRecord) {
        let budget_ms = inv.budget.total().as_millis();
        let response = match self.process(&mut inv).await {
            Ok(kvp) => kvp,
            Err(failure) => {
                let code = failure.code();
                let message = match &failure {
                    Failure::Answer(AnswerError::Timeout)
                    | Failure::Answer(AnswerError::Auth(AuthError::Timeout)) => {
                        format!("Mindful did not answer within {budget_ms} ms")
                    }
                    other => other.to_string(),
                };
                tracing::warn!(error = code, message = %message, "agent-answer failed");
                let mut kvp = Kvp::error(code, message);
                if let Failure::Answer(e) = &failure {
                    if let Some(status) = e.http_status() {
                        kvp.set("http_status", status.to_string());
                    }
                }
                kvp
            }
        };
        (response, inv.record)
    }

    async fn process(&self, inv: &mut Invocation) -> Result<Kvp, Failure> {
        let config = self
            .config
            .as_ref()
            .map_err(|e| Failure::Config(e.clone()))?;
        let event = &inv.event;

        // The ANI first: an invalid one means no request at all, whatever else is wrong.
        let raw_ani = event
            .param("Temp_Tel")
            .or_else(|| event.customer_address())
            .ok_or(Failure::NoAni)?;
        let number = phone::parse_number(raw_ani, &config.common.default_country)
            .map_err(Failure::InvalidAni)?;
        inv.record.masked_number = Some(number.masked());
        let ani = number.e164();

        let (endpoint, creds) = self.resolve_target(config, inv).await?;

        let contact = event.contact_id().map(str::to_string);
        if let Some(id) = &contact {
            if self.recently_answered(id, config.dedup_window) {
                tracing::info!("answer already accepted for this contact; not sent again");
                let mut kvp = Kvp::with_status("accepted");
                kvp.set("deduplicated", "true");
                return Ok(kvp);
            }
        }

        let agent_id = event.param("Agent_ID");
        let queue_id = event.param("Queue_ID");
        let started = Instant::now();
        let report = self
            .client
            .answer(&endpoint, &creds, &ani, agent_id, queue_id, &inv.budget)
            .await;
        inv.record.upstream_latency = Some(started.elapsed());
        inv.record.upstream_requests = report.requests;
        match report.outcome {
            Ok(AnswerOutcome::Accepted { http_status }) => {
                inv.record.upstream_status = Some(http_status);
                if let Some(id) = contact {
                    self.remember(id, config.dedup_window);
                }
                let mut kvp = Kvp::with_status("accepted");
                kvp.set("http_status", http_status.to_string());
                Ok(kvp)
            }
            Ok(AnswerOutcome::NoCall) => {
                inv.record.upstream_status = Some(404);
                let mut kvp = Kvp::with_status("no_call");
                kvp.set("http_status", "404");
                Ok(kvp)
            }
            Err(e) => {
                inv.record.upstream_status = e.http_status();
                Err(Failure::Answer(e))
            }
        }
    }

    /// Endpoint and credentials: flow parameters (the guide's seed names) win over configuration,
    /// under SPEC rule 7: when the secret comes from configuration, a URL from the flow must point
    /// at an allowed host, so a flow editor cannot send the secret (or its token) elsewhere.
    async fn resolve_target(
        &self,
        config: &AnswerConfig,
        inv: &Invocation,
    ) -> Result<(Url, ClientCredentials), Failure> {
        let event = &inv.event;
        let allow_http = config.common.allow_http;
        let secret_from_flow = event.param("Secret_Num").map(Secret::new);
        let token_url = match event.param("Token_URL") {
            Some(raw) => {
                Some(config::check_url(raw, "Token_URL", allow_http).map_err(Failure::Config)?)
            }
            None => None,
        };
        let api_url = match event.param("API_URL") {
            Some(raw) => Some(agent_answer_endpoint(
                config::check_url(raw, "API_URL", allow_http).map_err(Failure::Config)?,
            )),
            None => None,
        };
        if secret_from_flow.is_none() {
            let configured = [&config.token_url, &config.api_url];
            for (url, name) in [(&token_url, "Token_URL"), (&api_url, "API_URL")] {
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
            .param("Client_ID")
            .map(str::to_string)
            .or_else(|| config.client_id.clone())
            .ok_or(Failure::MissingConfig(
                "no client id: set MINDFUL_CLIENT_ID or pass Client_ID",
            ))?;
        let client_secret = match secret_from_flow {
            Some(s) => s,
            None => {
                let source = config.client_secret.as_ref().ok_or(Failure::MissingConfig(
                    "no client secret: set MINDFUL_CLIENT_SECRET or MINDFUL_CLIENT_SECRET_ARN, or pass Secret_Num",
                ))?;
                self.secrets
                    .resolve(source, &inv.budget)
                    .await
                    .map_err(Failure::Secret)?
            }
        };
        let creds = ClientCredentials {
            token_url: token_url.unwrap_or_else(|| config.token_url.clone()),
            client_id,
            client_secret,
        };
        Ok((api_url.unwrap_or_else(|| config.api_url.clone()), creds))
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
