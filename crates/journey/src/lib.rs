//! The whole callback journey, locally: the three functions run as real Lambda processes
//! (lambda-harness: Runtime API emulator + spawned binaries) and Mindful is the in-process
//! simulator (mindful-sim). [`run`] plays the contact flows' part, invokes each function with the
//! event Connect would send, follows the branch the flow would take, writes a transcript and
//! returns a structured [`JourneyReport`].
//!
//! ```text
//! inbound flow      → ocw-phrase        hold time phrase + callback offer; the caller presses 1
//! inbound flow      → datastore-proxy   POST the caller's context (queue, name, account)
//! Mindful           (simulator)         registers the callback, later calls the customer back
//! return flow       → datastore-proxy   GET the context back, set the working queue
//! customer whisper  → agent-answer      tell Mindful the agent answered
//! ```

use std::io::{self, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lambda_harness::{FunctionProcess, HarnessError, Outcome};
use mindful_sim::{CallRecord, CallState, Fault, Route, Sim, SimConfig, Stats};
use std::collections::{BTreeMap, VecDeque};

use flow_runner::host::{MindfulIvr, Stack};
use flow_runner::{
    run_contact, AgentAnswer, Call, ContactRun, End, Host, Input, Instance, LambdaCall,
    LambdaReply, RunError, Scenario, Step,
};
use serde_json::{json, Map, Value};

pub mod cli;

pub use cli::{parse_args, Args};

/// The three functions, in the order the journey meets them.
pub const FUNCTIONS: [&str; 3] = ["ocw-phrase", "datastore-proxy", "agent-answer"];

/// Default time budgets of the functions (`REQUEST_BUDGET_MS`, contract rule 3 in docs/contract.md).
pub const DATASTORE_BUDGET: Duration = Duration::from_millis(3000);
pub const AGENT_ANSWER_BUDGET: Duration = Duration::from_millis(2000);
/// Slack allowed on top of a budget for serialising the answer and process scheduling.
pub const BUDGET_SLACK: Duration = Duration::from_millis(300);

pub const INSTANCE_ARN: &str =
    "arn:aws:connect:us-east-1:111122223333:instance/0a1b2c3d-4e5f-6789-abcd-ef0123456789";
pub const BILLING_QUEUE_ID: &str = "7b3e1f2a-9c4d-4e8f-a1b2-c3d4e5f60718";
pub const DEFAULT_QUEUE_ID: &str = "1d6c9e0a-3b2f-4c1d-8e7f-5a4b3c2d1e0f";
/// The number the caller dials (inbound flow).
pub const INBOUND_DID: &str = "+18005550100";
/// The callback-return DID (the Mindful Call Target's Callback Number).
pub const RETURN_DID: &str = "+18005550199";
pub const AGENT_ID: &str = "jdoe";
pub const CUSTOMER_NAME: &str = "Ada Lovelace";
pub const ACCOUNT_NUMBER: &str = "AC-1042";
/// The Mindful Call Target number both queues share (`CallTargetPhoneNumber`).
pub const CALL_TARGET: &str = "+13205550100";
/// `--two-queues`: the second queue and its caller.
pub const SALES_QUEUE_ID: &str = "4c2a8d1e-6f3b-4a9c-9d7e-2b1c0e5f4a83";
pub const SALES_CALLER: &str = "+1 (320) 907-5678";
pub const SALES_CUSTOMER_NAME: &str = "Grace Hopper";
pub const SALES_ACCOUNT_NUMBER: &str = "AC-2077";
pub const SALES_AGENT_ID: &str = "asmith";
/// `--two-queues` plays the stack with `ReturnRoutingAttribute=skill`: the inbound flow stores
/// `$.Attributes.skill` as `routing_attribute`, the return flow restores it into `skill`.
pub const ROUTING_ATTRIBUTE: &str = "skill";
/// Defaults of the caller and the queue (`--number`, `--country`, `--language`, `--wait`).
pub const DEFAULT_NUMBER: &str = "+1 (320) 907-1234";
pub const DEFAULT_COUNTRY: &str = "US";
pub const DEFAULT_LANGUAGE: &str = "en-US";
pub const DEFAULT_WAIT: &str = "185";
/// Defaults of the second-chance stack parameters (`MaxCallbackOffers`,
/// `SecondChanceIntervalSeconds`) and their allowed ranges.
pub const DEFAULT_MAX_OFFERS: u32 = 2;
pub const DEFAULT_INTERVAL_SECONDS: u32 = 120;
pub const MAX_OFFERS_RANGE: std::ops::RangeInclusive<u32> = 1..=20;
/// `SecondChanceIntervalSeconds`' range in the template (MinValue 30: Loop prompts needs an
/// interruption period greater than 20 s).
pub const INTERVAL_RANGE: std::ops::RangeInclusive<u32> = 30..=3600;

/// Where the function binaries come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Binaries {
    /// `cargo build [--release] -p ocw-phrase -p datastore-proxy -p agent-answer` first.
    Build { release: bool },
    /// Already built, in this directory.
    Dir(PathBuf),
}

/// A Mindful fault injected for the whole journey (every request on `route`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultSpec {
    pub route: Route,
    pub fault: Fault,
}

impl FaultSpec {
    /// `ROUTE:KIND[=VALUE]`, e.g. `datastore_post:status=503`, `agent_answer:hang`,
    /// `token:status=401`, `datastore_get:malformed_json`, `any:latency=500`, `datastore_post:reset`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (route, kind) = s.split_once(':').ok_or_else(|| {
            format!("--fault {s:?}: expected ROUTE:KIND, e.g. datastore_post:status=503")
        })?;
        let route = match route.trim().replace('-', "_").as_str() {
            "token" => Route::Token,
            "agent_answer" => Route::AgentAnswer,
            "datastore_post" => Route::DatastorePost,
            "datastore_get" => Route::DatastoreGet,
            "widget_status" => Route::WidgetStatus,
            "any" => Route::Any,
            other => {
                return Err(format!(
                    "--fault: unknown route {other:?} (token, agent_answer, datastore_post, datastore_get, widget_status, any)"
                ))
            }
        };
        let (kind, value) = match kind.split_once('=') {
            Some((k, v)) => (k.trim(), Some(v.trim())),
            None => (kind.trim(), None),
        };
        let number = |what: &str| -> Result<u64, String> {
            value
                .ok_or_else(|| format!("--fault: {kind} needs ={what}"))?
                .parse::<u64>()
                .map_err(|_| format!("--fault: {kind}={} is not a number", value.unwrap_or("")))
        };
        let fault = match kind.replace('-', "_").as_str() {
            "status" => {
                let code = number("CODE")?;
                if !(200..=599).contains(&code) {
                    return Err(format!("--fault: status {code} is outside 200-599"));
                }
                Fault::Status { code: code as u16 }
            }
            "latency" => Fault::Latency { ms: number("MS")? },
            "hang" => Fault::Hang,
            "malformed_json" => Fault::MalformedJson,
            "wrong_content_type" => Fault::WrongContentType,
            "reset" => Fault::Reset,
            other => {
                return Err(format!(
                    "--fault: unknown kind {other:?} (status=CODE, latency=MS, hang, malformed_json, wrong_content_type, reset)"
                ))
            }
        };
        Ok(Self { route, fault })
    }

    /// `datastore_post:status=503`.
    pub fn label(&self) -> String {
        let kind = match &self.fault {
            Fault::Latency { ms } => format!("latency={ms}"),
            Fault::Hang => "hang".into(),
            Fault::Status { code } => format!("status={code}"),
            Fault::MalformedJson => "malformed_json".into(),
            Fault::WrongContentType => "wrong_content_type".into(),
            Fault::Reset => "reset".into(),
        };
        format!("{}:{kind}", route_name(Some(self.route)))
    }
}

/// What the journey is asked to play.
#[derive(Clone, Debug)]
pub struct Options {
    /// The caller's number as given (`"+1 (320) 907-1234"`); normalised with `country` to the
    /// E.164 form Connect presents in `CustomerEndpoint.Address`.
    pub number: String,
    /// `DEFAULT_COUNTRY` for the functions and for the normalisation above.
    pub country: String,
    /// The contact's `LanguageCode`.
    pub language: String,
    /// `$.Metrics.Queue.OldestContactAge` in seconds, as the flow passes it (a string).
    pub wait: String,
    /// `$.Metrics.Agents.Available.Count`.
    pub agents_available: u32,
    pub fault: Option<FaultSpec>,
    /// The caller does not press 1 (with `second_chance`: to any offer).
    pub decline: bool,
    /// Stack with `SecondChanceOffers=true`: the caller declines the first offer and waits in
    /// queue, where the customer queue flow offers again (accepted unless `decline`).
    pub second_chance: bool,
    /// `MaxCallbackOffers`: offers per call, the first included.
    pub max_offers: u32,
    /// `SecondChanceIntervalSeconds`: seconds between two checks of the customer queue flow.
    pub interval: u32,
    /// Two callers from queues Billing and Sales through one Call Target and one return DID,
    /// with `ReturnRoutingAttribute=skill`.
    pub two_queues: bool,
    pub binaries: Binaries,
    /// Print the functions' own log lines under each step.
    pub show_logs: bool,
    /// Mindful over https: the simulator serves TLS with a generated test CA, which the functions
    /// trust through a CA bundle (the system bundle + the test root, `SSL_CERT_FILE`); the token
    /// endpoint is on its own port (host). Without it, plain http on loopback.
    pub tls: bool,
    /// Stack with `CallbackOfferedBy=Mindful`: above the threshold the flows transfer the caller
    /// to the Call Target without a Connect prompt, and Mindful's IVR makes the offer (accepted
    /// unless `decline`; a declined caller is held by Mindful).
    pub mindful_offers: bool,
    /// `ecbt` (seconds) Mindful's Datastore answers carry; `None`: `null`, as before a callback
    /// is registered.
    pub ecbt: Option<u64>,
    /// Stack with `CheckMindfulStatus=true`: the Scheduler widget state the simulator answers
    /// before each offer (`offer_callback`, `display_ewt_only`, `platform_unavailable`, …).
    pub mindful_status: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            number: DEFAULT_NUMBER.into(),
            country: DEFAULT_COUNTRY.into(),
            language: DEFAULT_LANGUAGE.into(),
            wait: DEFAULT_WAIT.into(),
            agents_available: 0,
            fault: None,
            decline: false,
            second_chance: false,
            max_offers: DEFAULT_MAX_OFFERS,
            interval: DEFAULT_INTERVAL_SECONDS,
            two_queues: false,
            binaries: Binaries::Build { release: false },
            show_logs: false,
            tls: false,
            mindful_offers: false,
            ecbt: None,
            mindful_status: None,
        }
    }
}

/// A directory removed (with its contents) when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What a step's answer must be for the flow to behave as designed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expect {
    /// `status=<value>`.
    Status(&'static str),
    /// `status=error` and `error=<code>`.
    Error(&'static str),
    /// A fault whose effect the journey does not predict: any flat answer with a `status`.
    Any,
}

impl std::fmt::Display for Expect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Expect::Status(s) => write!(f, "status={s}"),
            Expect::Error(code) => write!(f, "status=error error={code}"),
            Expect::Any => write!(f, "any status"),
        }
    }
}

/// One Mindful request the simulator saw during a step.
#[derive(Clone, Debug)]
pub struct UpstreamCall {
    pub route: Option<Route>,
    pub method: String,
    pub path: String,
    /// `None` when no response was sent (hang, reset).
    pub status: Option<u16>,
    pub fault: Option<String>,
}

/// One function invocation.
#[derive(Clone, Debug)]
pub struct StepReport {
    pub index: usize,
    pub flow: &'static str,
    pub function: &'static str,
    /// The block's input parameters (`Details.Parameters`).
    pub inputs: Vec<(String, String)>,
    /// The function's answer (empty on a Lambda error or an invocation failure).
    pub response: Map<String, Value>,
    /// `status` of the answer (empty when there was none).
    pub status: String,
    /// `error` of the answer.
    pub error: Option<String>,
    /// Event handed out → answer received (the function's own time).
    pub own_time: Duration,
    pub expected: Expect,
    pub budget: Option<Duration>,
    pub passed: bool,
    pub problems: Vec<String>,
    pub upstream: Vec<UpstreamCall>,
}

impl StepReport {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.response.get(key).and_then(Value::as_str)
    }
}

/// How the contact ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ending {
    /// ocw-phrase failed: the flow plays a plain "please hold" and queues the caller.
    PhraseFailed,
    /// No callback offered (short wait or agents available): the caller stays in queue.
    NoOffer,
    /// Offered, but the caller did not press 1: stays in queue.
    Declined,
    /// The context could not be stored: the caller stays in queue, no callback.
    NoCallback,
    /// Mindful called back and an agent answered; `answer_status` is agent-answer's `status`.
    CallbackAnswered {
        restored_context: bool,
        answer_status: String,
    },
    /// Second-chance offers: `MaxCallbackOffers` reached, no more offers; the caller waits.
    OfferCapReached { offers: u32 },
    /// `CallbackOfferedBy=Mindful`: the caller declined Mindful's offer and is held by Mindful.
    HeldByMindful,
    /// `--two-queues`: how each caller's journey ended, by the queue they called.
    PerCaller(Vec<(String, Ending)>),
}

impl std::fmt::Display for Ending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ending::PhraseFailed => write!(f, "no announcement, caller stays in queue"),
            Ending::NoOffer => write!(f, "no callback offered, caller stays in queue"),
            Ending::Declined => write!(f, "caller declined the callback and stays in queue"),
            Ending::NoCallback => {
                write!(f, "context not stored, caller stays in queue, no callback")
            }
            Ending::CallbackAnswered {
                restored_context,
                answer_status,
            } => write!(
                f,
                "callback answered by an agent ({}, agent-answer {answer_status})",
                if *restored_context {
                    "context restored"
                } else {
                    "default queue"
                }
            ),
            Ending::HeldByMindful => write!(
                f,
                "caller declined Mindful's offer and holds with Mindful (the Call Target's hold treatment), no callback"
            ),
            Ending::OfferCapReached { offers } => write!(
                f,
                "{offers} offers made (MaxCallbackOffers), no more offers; caller stays in queue"
            ),
            Ending::PerCaller(endings) => {
                let parts: Vec<String> = endings.iter().map(|(q, e)| format!("{q}: {e}")).collect();
                write!(f, "{}", parts.join(" · "))
            }
        }
    }
}

/// The outcome of [`run`].
#[derive(Clone, Debug)]
pub struct JourneyReport {
    pub steps: Vec<StepReport>,
    pub ending: Ending,
    /// Checks beyond the steps' own answers (e.g. the simulator's call record), with problems.
    pub problems: Vec<String>,
    /// Requests the simulator saw, per route.
    pub stats: Stats,
    /// The simulator's call records at the end.
    pub calls: Vec<CallRecord>,
    /// Init time (spawn → first poll of the Runtime API) of each function.
    pub init_times: Vec<(&'static str, Duration)>,
}

impl JourneyReport {
    /// Every step answered as designed and every extra check held.
    pub fn passed(&self) -> bool {
        self.problems.is_empty() && self.steps.iter().all(|s| s.passed)
    }

    pub fn step(&self, function: &str) -> Option<&StepReport> {
        self.steps.iter().find(|s| s.function == function)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JourneyError {
    #[error("building the functions failed: {0}")]
    Build(#[source] Box<HarnessError>),
    #[error("the Mindful simulator did not start: {0}")]
    Sim(#[source] io::Error),
    #[error("{function} did not start: {source}")]
    Spawn {
        function: &'static str,
        #[source]
        source: Box<HarnessError>,
    },
    #[error("writing the transcript: {0}")]
    Output(#[from] io::Error),
}

/// The legs that call a function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Leg {
    Phrase,
    DatastorePost,
    DatastoreGet,
    /// datastore-proxy `method=STATUS`: the Scheduler widget status before an offer.
    Status,
    AgentAnswer,
}

impl Leg {
    fn routes(self) -> &'static [Route] {
        match self {
            Leg::Phrase => &[],
            Leg::DatastorePost => &[Route::DatastorePost],
            Leg::DatastoreGet => &[Route::DatastoreGet],
            Leg::Status => &[Route::WidgetStatus],
            Leg::AgentAnswer => &[Route::Token, Route::AgentAnswer],
        }
    }

    fn budget(self) -> Option<Duration> {
        match self {
            Leg::Phrase => None,
            Leg::DatastorePost | Leg::DatastoreGet | Leg::Status => Some(DATASTORE_BUDGET),
            Leg::AgentAnswer => Some(AGENT_ANSWER_BUDGET),
        }
    }

    fn function(self) -> &'static str {
        match self {
            Leg::Phrase => "ocw-phrase",
            Leg::DatastorePost | Leg::DatastoreGet | Leg::Status => "datastore-proxy",
            Leg::AgentAnswer => "agent-answer",
        }
    }

    fn happy(self) -> Expect {
        match self {
            Leg::AgentAnswer => Expect::Status("accepted"),
            _ => Expect::Status("ok"),
        }
    }
}

/// The fault hitting `leg`, if any, and which of the leg's routes it hits.
fn fault_on(leg: Leg, fault: Option<&FaultSpec>) -> Option<(Route, &Fault)> {
    let f = fault?;
    leg.routes()
        .iter()
        .find(|r| f.route == **r || f.route == Route::Any)
        .map(|r| (*r, &f.fault))
}

/// What the function must answer when `fault` hits `route` during `leg` (from docs/contract.md and the
/// README's error tables). The second value tells whether Mindful still processed the request.
fn expect_under_fault(leg: Leg, route: Route, fault: &Fault) -> (Expect, bool) {
    let budget = leg.budget().unwrap_or(DATASTORE_BUDGET).as_millis() as u64;
    let datastore = matches!(leg, Leg::DatastorePost | Leg::DatastoreGet | Leg::Status);
    match fault {
        Fault::Latency { ms } => {
            if *ms >= budget + 50 {
                (Expect::Error("timeout"), false)
            } else if *ms + 150 >= budget {
                (Expect::Any, false) // too close to the budget to call
            } else {
                (leg.happy(), true)
            }
        }
        Fault::Hang => (Expect::Error("timeout"), false),
        Fault::Reset => (Expect::Error("upstream_error"), false),
        Fault::MalformedJson | Fault::WrongContentType => match route {
            // A 2xx whose body is not a JSON object.
            Route::DatastorePost | Route::DatastoreGet | Route::WidgetStatus => {
                (Expect::Error("bad_response"), false)
            }
            // No usable access_token.
            Route::Token => (Expect::Error("auth_failed"), false),
            // Agent Answer's body is not read: a 2xx is an acceptance (the sim did not process it).
            _ => (Expect::Status("accepted"), false),
        },
        Fault::Status { code } => {
            let code = *code;
            let e = if datastore {
                match code {
                    200..=299 => Expect::Any,
                    401 | 403 => Expect::Error("unauthorized"),
                    404 if leg == Leg::DatastoreGet => Expect::Status("not_found"),
                    404 if leg == Leg::Status => Expect::Error("invalid_widget"),
                    404 => Expect::Error("invalid_number"),
                    _ => Expect::Error("upstream_error"),
                }
            } else if route == Route::Token {
                match code {
                    // The fault body carries no access_token.
                    200..=299 => Expect::Error("auth_failed"),
                    429 => Expect::Error("rate_limited"),
                    400..=499 => Expect::Error("auth_failed"),
                    _ => Expect::Error("upstream_error"),
                }
            } else {
                match code {
                    200..=299 => Expect::Status("accepted"),
                    401 => Expect::Error("auth_failed"),
                    404 => Expect::Status("no_call"),
                    429 => Expect::Error("rate_limited"),
                    _ => Expect::Error("upstream_error"),
                }
            };
            (e, false)
        }
    }
}

/// The expected answer of a leg and whether Mindful processes its request.
fn expect_for(leg: Leg, opts: &Options, number_ok: bool) -> (Expect, bool) {
    match leg {
        Leg::Phrase => {
            let ok = opts
                .wait
                .trim()
                .parse::<f64>()
                .is_ok_and(|s| s.is_finite() && s >= 0.0);
            if ok {
                (Expect::Status("ok"), true)
            } else {
                (Expect::Error("invalid_ocw"), true)
            }
        }
        _ if !number_ok => (Expect::Error("invalid_number"), false),
        _ => match fault_on(leg, opts.fault.as_ref()) {
            Some((route, fault)) => expect_under_fault(leg, route, fault),
            None => (leg.happy(), true),
        },
    }
}

/// Connect's `ContactFlowEvent` (the shape of `events/*.json`): `Parameters`, contact id,
/// customer and system numbers, working queue `(name, ARN)`, language, contact attributes.
pub fn contact_event(
    parameters: Value,
    contact_id: &str,
    customer: &str,
    system: &str,
    queue: Option<(&str, &str)>,
    language: &str,
    attributes: Value,
) -> Value {
    let queue = match queue {
        Some((name, arn)) => json!({
            "ARN": arn,
            "Name": name,
            "OutboundCallerId": {"Address": INBOUND_DID, "Type": "TELEPHONE_NUMBER"}
        }),
        None => Value::Null,
    };
    json!({
        "Name": "ContactFlowEvent",
        "Details": {
            "ContactData": {
                "Attributes": attributes,
                "Channel": "VOICE",
                "ContactId": contact_id,
                "InitialContactId": contact_id,
                "PreviousContactId": contact_id,
                "InitiationMethod": "INBOUND",
                "InstanceARN": INSTANCE_ARN,
                "LanguageCode": language,
                "AwsRegion": "us-east-1",
                "CustomerEndpoint": {"Address": customer, "Type": "TELEPHONE_NUMBER"},
                "SystemEndpoint": {"Address": system, "Type": "TELEPHONE_NUMBER"},
                "Queue": queue,
                "SegmentAttributes": {"connect:Subtype": {"ValueString": "connect:Telephony"}},
                "Tags": {},
                "MediaStreams": {"Customer": {"Audio": null}}
            },
            "Parameters": parameters
        }
    })
}

/// A random-looking UUID for contact ids (no extra dependency; uniqueness is what matters).
pub fn contact_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut x = nanos
        ^ (SEQ
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut next = || {
        // splitmix64
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let (a, b) = (next(), next());
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0x0fff,
        0x8000 | ((b >> 48) & 0x3fff),
        b & 0xffff_ffff_ffff
    )
}

pub fn queue_arn(id: &str) -> String {
    format!("{INSTANCE_ARN}/queue/{id}")
}

const PHONE_KEYS: [&str; 4] = [
    "customer_contact_number",
    "ani",
    "Temp_Tel",
    "callback_number",
];

/// `key=value` for the transcript: phone numbers masked like the product's logs (`***1234`),
/// ARNs shortened, values with spaces quoted.
fn show(key: &str, value: &str) -> String {
    let v = if PHONE_KEYS.contains(&key) {
        mindful_core::phone::mask_number(value)
    } else if value.starts_with("arn:") {
        short_arn(value)
    } else {
        value.to_string()
    };
    if v.is_empty() || v.contains(char::is_whitespace) || v.contains('"') {
        format!("{key}={v:?}")
    } else {
        format!("{key}={v}")
    }
}

/// `arn:…/queue/7b3e1f2a…`
pub fn short_arn(arn: &str) -> String {
    match arn.rsplit_once('/') {
        Some((head, id)) => {
            let kind = head.rsplit('/').next().unwrap_or("");
            let id: String = id.chars().take(8).collect();
            format!("arn:…/{kind}/{id}…")
        }
        None => arn.to_string(),
    }
}

fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.2} ms")
    } else {
        format!("{ms:.0} ms")
    }
}

pub fn route_name(route: Option<Route>) -> &'static str {
    match route {
        Some(Route::Token) => "token",
        Some(Route::AgentAnswer) => "agent_answer",
        Some(Route::DatastorePost) => "datastore_post",
        Some(Route::DatastoreGet) => "datastore_get",
        Some(Route::WidgetStatus) => "widget_status",
        Some(Route::Any) => "any",
        None => "other",
    }
}

struct Journey<'a> {
    out: &'a mut dyn Write,
    sim: Sim,
    functions: Vec<FunctionProcess>,
    steps: Vec<StepReport>,
    last_request_id: u64,
    opts: &'a Options,
    /// Whether the current caller's number is valid (the functions answer invalid_number otherwise).
    number_ok: bool,
    /// Checks beyond the steps' own answers that failed (already printed).
    problems: Vec<String>,
    /// Every contact the flows ran, and the instance they ran on (the coverage table).
    runs: Vec<ContactRun>,
    instance: Option<Instance>,
}

impl Journey<'_> {
    fn process(&mut self, name: &str) -> Option<&mut FunctionProcess> {
        self.functions.iter_mut().find(|f| f.name() == name)
    }

    fn new_upstream(&mut self) -> Vec<UpstreamCall> {
        let last = self.last_request_id;
        let fresh: Vec<_> = self
            .sim
            .requests()
            .into_iter()
            .filter(|r| r.id > last)
            .collect();
        if let Some(max) = fresh.iter().map(|r| r.id).max() {
            self.last_request_id = max;
        }
        let calls: Vec<UpstreamCall> = fresh
            .into_iter()
            .map(|r| UpstreamCall {
                route: r.route,
                method: r.method,
                path: r.path,
                status: r.status,
                fault: r.fault,
            })
            .collect();
        calls
    }

    /// Invoke `leg`'s function with `event`, check the answer against the expectation, print the
    /// step. Returns the step's index in `self.steps`.
    fn step(
        &mut self,
        leg: Leg,
        flow: &'static str,
        inputs: Vec<(String, String)>,
        event: Value,
        key_outputs: &[&str],
    ) -> Result<usize, JourneyError> {
        let function = leg.function();
        let (expected, _) = expect_for(leg, self.opts, self.number_ok);
        let budget = leg.budget();
        let mut problems = Vec::new();
        let mut response = Map::new();
        let mut own_time = Duration::ZERO;
        let mut log_lines = Vec::new();
        let show_logs = self.opts.show_logs;
        match self.process(function) {
            None => problems.push(format!("{function} is not running")),
            Some(f) => {
                let mark = f.log_mark();
                let started = Instant::now();
                match f.invoke_blocking(event) {
                    Ok(inv) => {
                        own_time = inv.own_time;
                        match inv.outcome {
                            Outcome::Response(Value::Object(map)) => response = map,
                            Outcome::Response(other) => {
                                problems.push(format!("answer is not a JSON object: {other}"))
                            }
                            Outcome::Error(e) => problems.push(format!(
                                "Lambda function error {}: {} (the flow takes the Error branch)",
                                e.error_type, e.error_message
                            )),
                        }
                    }
                    Err(e) => {
                        own_time = started.elapsed();
                        problems.push(format!("invocation failed: {e}"));
                    }
                }
                if show_logs {
                    // Let the last lines of output arrive.
                    std::thread::sleep(Duration::from_millis(20));
                    log_lines = f.logs_since(mark).into_iter().map(|l| l.text).collect();
                }
            }
        }
        let status = response
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let error = response
            .get("error")
            .and_then(Value::as_str)
            .map(str::to_string);
        if !response.is_empty() {
            if let Some((k, _)) = response.iter().find(|(_, v)| !v.is_string()) {
                problems.push(format!("answer is not a flat string map (key {k:?})"));
            }
            let matches = match &expected {
                Expect::Status(s) => status == *s,
                Expect::Error(code) => status == "error" && error.as_deref() == Some(code),
                Expect::Any => !status.is_empty(),
            };
            if !matches {
                let got = match &error {
                    Some(e) => format!("status={status} error={e}"),
                    None => format!("status={status}"),
                };
                problems.push(format!("expected {expected}, got {got}"));
            }
        }
        if let Some(b) = budget {
            if own_time > b + BUDGET_SLACK {
                problems.push(format!(
                    "took {} (budget {} ms)",
                    ms(own_time),
                    b.as_millis()
                ));
            }
        }
        let upstream = self.new_upstream();
        let index = self.steps.len() + 1;
        let report = StepReport {
            index,
            flow,
            function,
            inputs,
            response,
            status,
            error,
            own_time,
            expected,
            budget,
            passed: problems.is_empty(),
            problems,
            upstream,
        };
        self.print_step(&report, key_outputs, &log_lines)?;
        self.steps.push(report);
        Ok(self.steps.len() - 1)
    }

    fn print_step(
        &mut self,
        s: &StepReport,
        key_outputs: &[&str],
        logs: &[String],
    ) -> Result<(), JourneyError> {
        let inputs: Vec<String> = s.inputs.iter().map(|(k, v)| show(k, v)).collect();
        let mut outputs: Vec<String> = key_outputs
            .iter()
            .filter_map(|k| s.get(k).map(|v| show(k, v)))
            .collect();
        if let Some(e) = &s.error {
            outputs.push(show("error", e));
        }
        let mark = if s.passed { "" } else { "  ✗" };
        let head = format!(
            "[{}] {} → {}   {}",
            s.index,
            s.flow,
            s.function,
            inputs.join(" ")
        );
        let tail = format!(
            "⇒ {}  (status {}, {}){mark}",
            if outputs.is_empty() {
                "(no answer)".to_string()
            } else {
                outputs.join(" ")
            },
            if s.status.is_empty() { "-" } else { &s.status },
            ms(s.own_time)
        );
        if head.chars().count() + tail.chars().count() > 130 {
            writeln!(self.out, "{head}\n      {tail}")?;
        } else {
            writeln!(self.out, "{head}  {tail}")?;
        }
        if let Some(m) = s.get("error_message") {
            writeln!(self.out, "    error_message: {m:?}")?;
        }
        if !s.upstream.is_empty() {
            let calls: Vec<String> = s
                .upstream
                .iter()
                .map(|u| {
                    let status = match (u.status, &u.fault) {
                        (Some(st), Some(f)) => format!("{st} (fault {f})"),
                        (Some(st), None) => st.to_string(),
                        (None, Some(f)) => format!("no answer (fault {f})"),
                        (None, None) => "no answer".to_string(),
                    };
                    format!("{} {} → {status}", u.method, u.path)
                })
                .collect();
            writeln!(self.out, "    Mindful saw: {}", calls.join(", "))?;
        }
        for p in &s.problems {
            writeln!(self.out, "    ✗ {p}")?;
        }
        for l in logs {
            writeln!(self.out, "    log: {l}")?;
        }
        Ok(())
    }

    fn say(&mut self, line: impl AsRef<str>) -> Result<(), JourneyError> {
        writeln!(self.out, "    {}", line.as_ref())?;
        Ok(())
    }

    fn section(&mut self, title: &str) -> Result<(), JourneyError> {
        let pad = 72usize.saturating_sub(title.chars().count() + 4);
        writeln!(self.out, "\n── {title} {}", "─".repeat(pad))?;
        Ok(())
    }
}

pub use mindful_sim::{write_pem, SYSTEM_CA_BUNDLES};

/// See [`Sim::write_ca_bundle`].
pub fn write_ca_bundle(sim: &Sim, dir: &std::path::Path) -> io::Result<(PathBuf, usize)> {
    sim.write_ca_bundle(dir)
}

/// See [`Sim::function_env`].
pub fn function_env(sim: &Sim, country: &str) -> Vec<(String, String)> {
    sim.function_env(country)
}

/// Build (if asked), start the simulator and the three functions, play the journey, print the
/// transcript to `out`, and report. An `Err` means the journey could not run at all (build,
/// simulator or process start-up, or writing to `out`); a journey that ran but went wrong is an
/// `Ok` report whose [`JourneyReport::passed`] is false.
pub fn run(opts: &Options, out: &mut dyn Write) -> Result<JourneyReport, JourneyError> {
    let e164 = mindful_core::phone::normalize_e164(&opts.number, &opts.country);
    let number_ok = e164.is_ok();
    // Connect presents E.164; a withheld or odd number reaches the functions as it is.
    let customer = e164.clone().unwrap_or_else(|_| opts.number.clone());

    writeln!(
        out,
        "journey: caller {} ({}) · country {} · language {} · oldest contact waiting {} s · agents available {}",
        mindful_core::phone::mask_number(&opts.number),
        match &e164 {
            Ok(_) => "Connect presents it in E.164".to_string(),
            Err(e) => format!("not a valid number: {e}"),
        },
        opts.country,
        opts.language,
        opts.wait,
        opts.agents_available
    )?;
    if opts.second_chance {
        writeln!(
            out,
            "stack:   SecondChanceOffers=true · SecondChanceIntervalSeconds={} · MaxCallbackOffers={} · the caller {}",
            opts.interval,
            opts.max_offers,
            if opts.decline {
                "declines every offer"
            } else {
                "declines the first offer and accepts the second"
            }
        )?;
    }
    if opts.mindful_offers || opts.ecbt.is_some() || opts.mindful_status.is_some() {
        let mut parts = Vec::new();
        if opts.mindful_offers {
            parts.push(format!(
                "CallbackOfferedBy=Mindful · Mindful's IVR makes the offer; the caller {} it",
                if opts.decline { "declines" } else { "accepts" }
            ));
        }
        if let Some(e) = opts.ecbt {
            parts.push(format!("Mindful's Datastore answers carry ecbt={e}"));
        }
        if let Some(state) = &opts.mindful_status {
            parts.push(format!(
                "CheckMindfulStatus=true · Mindful's Scheduler widget answers widget_state={state}"
            ));
        }
        writeln!(out, "stack:   {}", parts.join(" · "))?;
    }
    if opts.two_queues {
        writeln!(
            out,
            "stack:   ReturnRoutingAttribute={ROUTING_ATTRIBUTE} · queues Billing and Sales share the Call Target {CALL_TARGET} and the return DID {RETURN_DID}; a second caller {} waits in Sales; both accept the offer",
            mindful_core::phone::mask_number(SALES_CALLER)
        )?;
    }
    if let Some(f) = &opts.fault {
        writeln!(
            out,
            "fault:   Mindful {} on every request (simulator); the flow should take its error branch",
            f.label()
        )?;
    }

    let dir = match &opts.binaries {
        Binaries::Build { release } => {
            writeln!(
                out,
                "building functions… (cargo build{} -p ocw-phrase -p datastore-proxy -p agent-answer; the first run compiles dependencies)",
                if *release { " --release" } else { "" }
            )?;
            out.flush()?;
            let started = Instant::now();
            let dir = lambda_harness::build(&FUNCTIONS, *release)
                .map_err(|e| JourneyError::Build(Box::new(e)))?;
            writeln!(out, "  built in {:.1} s", started.elapsed().as_secs_f64())?;
            dir
        }
        Binaries::Dir(d) => d.clone(),
    };

    let sim = Sim::start_blocking(SimConfig {
        tls: opts.tls,
        separate_token_host: opts.tls,
        ..SimConfig::default()
    })
    .map_err(JourneyError::Sim)?;
    if let Some(f) = &opts.fault {
        sim.set_fault(f.route, f.fault.clone(), None);
    }
    if opts.ecbt.is_some() {
        sim.set_ecbt(opts.ecbt);
    }
    if let Some(state) = &opts.mindful_status {
        sim.set_widget_status(state, opts.ecbt);
    }
    let mut env = function_env(&sim, &opts.country);
    // Kept until the functions have ended: they read the bundle on their first handshake.
    let tls_dir = TempDir(std::env::temp_dir().join(format!(
        "journey-tls-{}-{}",
        std::process::id(),
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    )));
    if opts.tls {
        let (bundle, certs) = write_ca_bundle(&sim, &tls_dir.0).map_err(JourneyError::Sim)?;
        writeln!(
            out,
            "https: test CA generated by the simulator; SSL_CERT_FILE={} ({certs} certificates: the system bundle + the test root); token host {}",
            bundle.display(),
            sim.token_url()
        )?;
        env.push(("SSL_CERT_FILE".into(), bundle.display().to_string()));
    }
    writeln!(
        out,
        "Mindful simulator on {} · functions run as Lambda processes ({})",
        sim.base_url(),
        std::env::current_dir()
            .ok()
            .and_then(|cwd| dir.strip_prefix(cwd).ok().map(|p| p.to_path_buf()))
            .unwrap_or_else(|| dir.clone())
            .display()
    )?;

    let mut functions = Vec::new();
    let mut init_times = Vec::new();
    for name in FUNCTIONS {
        let f = FunctionProcess::builder(dir.join(name))
            .envs(&env)
            .function_name(name)
            .spawn()
            .map_err(|e| JourneyError::Spawn {
                function: name,
                source: Box::new(e),
            })?;
        let init = f
            .wait_ready_blocking(Duration::from_secs(10))
            .map_err(|e| JourneyError::Spawn {
                function: name,
                source: Box::new(e),
            })?;
        init_times.push((name, init));
        functions.push(f);
    }
    let inits: Vec<String> = init_times
        .iter()
        .map(|(n, d)| format!("{n} {}", ms(*d)))
        .collect();
    writeln!(out, "  cold starts (init): {}", inits.join(", "))?;

    let mut j = Journey {
        out,
        sim,
        functions,
        steps: Vec::new(),
        last_request_id: 0,
        opts,
        number_ok,
        problems: Vec::new(),
        runs: Vec::new(),
        instance: None,
    };
    let ending = play(&mut j, &customer)?;

    let problems = std::mem::take(&mut j.problems);
    let calls = j.sim.calls();

    let stats = j.sim.stats();
    let passed_steps = j.steps.iter().filter(|s| s.passed).count();
    let total = j.steps.len();
    let ok = problems.is_empty() && passed_steps == total;
    writeln!(j.out)?;
    writeln!(
        j.out,
        "{} {passed_steps}/{total} steps as designed{} · ending: {ending} · Mindful saw {} request{} (token {}, agent_answer {}, datastore_post {}, datastore_get {}{})",
        if ok { "✅" } else { "❌" },
        if opts.fault.is_some() {
            format!(" under fault {}", opts.fault.as_ref().map(FaultSpec::label).unwrap_or_default())
        } else {
            String::new()
        },
        stats.total,
        if stats.total == 1 { "" } else { "s" },
        stats.token,
        stats.agent_answer,
        stats.datastore_post,
        stats.datastore_get,
        if stats.widget_status > 0 {
            format!(", widget_status {}", stats.widget_status)
        } else {
            String::new()
        }
    )?;
    // The flows' coverage by this run (flow_runner::testcase, as `flow-runner test` prints it).
    if let Some(inst) = &j.instance {
        let coverage = flow_runner::testcase::coverage(inst, &j.runs);
        writeln!(
            j.out,
            "coverage of the five flows by this run ({} contact{}):",
            j.runs.len(),
            if j.runs.len() == 1 { "" } else { "s" }
        )?;
        for line in flow_runner::testcase::coverage_table(&coverage) {
            writeln!(j.out, "{line}")?;
        }
    }
    j.out.flush()?;

    let Journey {
        steps,
        sim,
        functions,
        ..
    } = j;
    drop(functions);
    sim.shutdown();
    Ok(JourneyReport {
        steps,
        ending,
        problems,
        stats,
        calls,
        init_times,
    })
}

/// One caller of the journey: the number Connect presents, the queue they wait in, their
/// contact attributes, and the agent who answers their callback.
#[derive(Clone, Debug)]
struct Caller {
    /// `CustomerEndpoint.Address` (E.164 when the number is valid, else as given).
    number: String,
    number_ok: bool,
    queue_name: &'static str,
    queue_arn: String,
    customer_name: &'static str,
    account_number: &'static str,
    /// Value of the routing attribute ([`ROUTING_ATTRIBUTE`]) the inbound flow set, if any.
    routing: Option<&'static str>,
    agent: &'static str,
}

impl Caller {
    /// The contact attributes the call arrives with (set before the bundle's flows, e.g. by an
    /// IVR that identified the customer).
    fn attributes(&self) -> BTreeMap<String, String> {
        let mut a = BTreeMap::new();
        a.insert("customer_name".into(), self.customer_name.into());
        a.insert("account_number".into(), self.account_number.into());
        if let Some(r) = self.routing {
            a.insert(ROUTING_ATTRIBUTE.into(), r.into());
        }
        a
    }
}

/// The shipped flows, as `infra/template.yaml` holds them (compiled in: the journey runs the
/// flows it was built with).
const TEMPLATE: &str = include_str!("../../../infra/template.yaml");

/// The stack the journey plays: the template's flows with these parameters, the main number
/// and the return DID associated, and the queues Billing, Sales and the default queue.
fn instance(opts: &Options, inbound_queue: &str) -> Result<Instance, String> {
    let mut params: BTreeMap<String, String> = BTreeMap::new();
    let mut set = |k: &str, v: String| {
        params.insert(k.to_string(), v);
    };
    set("ConnectInstanceArn", INSTANCE_ARN.into());
    set("InboundQueueArn", inbound_queue.into());
    set("CallbackDefaultQueueArn", queue_arn(DEFAULT_QUEUE_ID));
    set("SecondChanceOffers", opts.second_chance.to_string());
    set("SecondChanceIntervalSeconds", opts.interval.to_string());
    set("MaxCallbackOffers", opts.max_offers.to_string());
    set(
        flow_runner::host::OFFERED_BY_PARAM,
        if opts.mindful_offers {
            "Mindful"
        } else {
            "Connect"
        }
        .into(),
    );
    if opts.two_queues {
        set("ReturnRoutingAttribute", ROUTING_ATTRIBUTE.into());
    }
    if opts.mindful_status.is_some() {
        set("CheckMindfulStatus", "true".into());
        set(
            "MindfulStatusWidgetId",
            mindful_sim::DEFAULT_WIDGET_ID.into(),
        );
    }
    let stack = Stack {
        main_number: INBOUND_DID.into(),
        return_number: RETURN_DID.into(),
        call_target: CALL_TARGET.into(),
        queues: vec![
            (queue_arn(BILLING_QUEUE_ID), "Billing".into()),
            (queue_arn(SALES_QUEUE_ID), "Sales".into()),
            (queue_arn(DEFAULT_QUEUE_ID), "BasicQueue".into()),
        ],
        params,
    };
    flow_runner::host::shipped_instance(TEMPLATE, &stack).map_err(|e| e.to_string())
}

/// The label a template flow has in the transcript and in [`StepReport::flow`].
fn flow_label(resource: &str) -> &'static str {
    match resource {
        "NormalInboundFlow" => "normal inbound flow",
        "InboundToMindfulFlow" => "inbound flow",
        "CallbackReturnFlow" => "return flow",
        "CustomerWhisperFlow" => "customer whisper",
        "SecondChanceQueueFlow" => "customer queue flow",
        _ => "flow",
    }
}

/// The journey as the runner's host: each Lambda call becomes a checked, printed step; each
/// block prints the branch it took and what the caller heard or did.
struct Player<'j, 'a> {
    j: &'j mut Journey<'a>,
    /// Flows already entered (a section heading marks the first block of some).
    entered: Vec<String>,
    queue_title: String,
    /// Failed writes to the transcript (reported after the run).
    io: Option<io::Error>,
}

impl Player<'_, '_> {
    fn write(&mut self, line: String) {
        if self.io.is_none() {
            if let Err(e) = writeln!(self.j.out, "{line}") {
                self.io = Some(e);
            }
        }
    }
}

impl Host for Player<'_, '_> {
    fn invoke(&mut self, call: &LambdaCall) -> LambdaReply {
        let function = call.function.clone().unwrap_or_default();
        let method = call
            .parameters
            .iter()
            .find(|(k, _)| k == "method")
            .map(|(_, v)| v.to_ascii_uppercase());
        let (leg, key_outputs): (Leg, &[&str]) = match (function.as_str(), method.as_deref()) {
            ("ocw-phrase", _) => (
                Leg::Phrase,
                &["OCW", "offer_callback", "offers_made", "voice"],
            ),
            ("datastore-proxy", Some("STATUS")) => (Leg::Status, &["widget_state", "ewt"]),
            ("datastore-proxy", Some("GET")) => (
                Leg::DatastoreGet,
                &[
                    "queue_name",
                    "queue_arn",
                    "routing_attribute",
                    "customer_name",
                    "account_number",
                ],
            ),
            ("datastore-proxy", _) => (
                Leg::DatastorePost,
                &["customer_contact_number", "time_to_expire", "ecbt"],
            ),
            ("agent-answer", _) => (Leg::AgentAnswer, &["http_status", "deduplicated"]),
            _ => {
                return LambdaReply::Failed(format!(
                    "{function:?} is not one of the bundle's functions"
                ))
            }
        };
        let flow = flow_label(&call.flow);
        match self.j.step(
            leg,
            flow,
            call.parameters.clone(),
            call.event.clone(),
            key_outputs,
        ) {
            Ok(i) => {
                let s = &self.j.steps[i];
                if s.response.is_empty() {
                    LambdaReply::FunctionError(s.problems.join("; "))
                } else {
                    LambdaReply::Answer(Value::Object(s.response.clone()))
                }
            }
            Err(JourneyError::Output(e)) => {
                self.io = Some(e);
                LambdaReply::Failed("transcript".into())
            }
            Err(e) => LambdaReply::Failed(e.to_string()),
        }
    }

    fn on_step(&mut self, s: &Step) {
        if !self.entered.contains(&s.flow) {
            self.entered.push(s.flow.clone());
            let title = match s.flow.as_str() {
                "SecondChanceQueueFlow" => Some(self.queue_title.clone()),
                "CustomerWhisperFlow" => {
                    Some("An agent answers: the customer whisper runs".to_string())
                }
                _ => None,
            };
            if let Some(t) = title {
                if let Err(JourneyError::Output(e)) = self.j.section(&t) {
                    self.io = Some(e);
                }
            }
        }
        let target = s
            .target
            .as_deref()
            .map(|t| format!(" → {t}"))
            .unwrap_or_default();
        self.write(format!(
            "    {} · {} ({}) ⇒ {}{target}",
            flow_label(&s.flow),
            s.block,
            s.typ,
            s.branch
        ));
        for n in &s.notes {
            let n = if let Some(d) = n.strip_prefix("caller presses ") {
                format!("caller: presses {d}")
            } else {
                n.clone()
            };
            self.write(format!("        {n}"));
        }
    }

    fn keep_waiting(&mut self, _queue_seconds: u64) -> bool {
        // The queue flow's offers end at MaxCallbackOffers: once ocw-phrase says no more, the
        // caller just waits for an agent, which the journey does not follow further.
        let last = self
            .j
            .steps
            .iter()
            .rev()
            .find(|s| s.flow == "customer queue flow" && s.function == "ocw-phrase");
        !last.is_some_and(|s| {
            s.get("offer_callback") == Some("false")
                && s.get("offers_made").and_then(|n| n.parse::<u32>().ok())
                    >= Some(self.j.opts.max_offers)
        })
    }
}

/// A masked number's mention in the transcript.
fn masked(number: &str) -> String {
    mindful_core::phone::mask_number(number)
}

/// Runs one contact through the runner with the journey as host.
fn run_flows(
    j: &mut Journey<'_>,
    inst: &Instance,
    call: Call,
    sc: &mut Scenario,
    queue_title: String,
) -> Result<Result<ContactRun, RunError>, JourneyError> {
    let mut player = Player {
        j,
        entered: Vec::new(),
        queue_title,
        io: None,
    };
    let run = run_contact(inst, &mut player, call, sc);
    if let Some(e) = player.io {
        return Err(JourneyError::Output(e));
    }
    if let Ok(r) = &run {
        j.runs.push(r.clone());
        j.instance.get_or_insert_with(|| inst.clone());
    }
    Ok(run)
}

/// How the first call (flows 1, 2 and, with second-chance offers, 5) left the caller.
enum Inbound {
    /// The contact ended its journey here (no callback).
    Ended(Ending),
    /// The context is stored and the caller is transferred to the Mindful Call Target.
    Accepted(Box<ContactRun>),
}

/// The contact flows' part: the shipped flows, executed.
fn play(j: &mut Journey<'_>, customer: &str) -> Result<Ending, JourneyError> {
    let caller = Caller {
        number: customer.to_string(),
        number_ok: j.number_ok,
        queue_name: "Billing",
        queue_arn: queue_arn(BILLING_QUEUE_ID),
        customer_name: CUSTOMER_NAME,
        account_number: ACCOUNT_NUMBER,
        routing: None,
        agent: AGENT_ID,
    };
    if j.opts.two_queues {
        return play_two_queues(j, caller);
    }
    match inbound(
        j,
        &caller,
        "Inbound call: the caller waits in queue Billing",
    )? {
        Inbound::Ended(e) => Ok(e),
        Inbound::Accepted(run) => {
            j.section(if j.opts.mindful_offers {
                "The caller is with Mindful: its IVR offers, then Mindful calls back"
            } else {
                "Mindful calls the customer back"
            })?;
            callback(j, &caller, &run)
        }
    }
}

/// A problem the journey found beyond a step's own answer: printed and kept.
fn problem(j: &mut Journey<'_>, p: String) -> Result<(), JourneyError> {
    writeln!(j.out, "    ✗ {p}")?;
    j.problems.push(p);
    Ok(())
}

/// The call into the main number: flow 1, flow 2, and with second-chance offers the customer
/// queue flow while the caller waits.
fn inbound(j: &mut Journey<'_>, c: &Caller, title: &str) -> Result<Inbound, JourneyError> {
    let opts = j.opts;
    j.number_ok = c.number_ok;
    j.section(title)?;
    let inst = match instance(opts, &c.queue_arn) {
        Ok(i) => i,
        Err(e) => {
            problem(j, format!("the shipped flows did not load: {e}"))?;
            return Ok(Inbound::Ended(Ending::NoCallback));
        }
    };
    // The caller's keys at each offer: decline (no key) or press 1; with second-chance offers
    // the first offer is declined and the next accepted, unless --decline.
    let mut inputs = VecDeque::new();
    if opts.second_chance {
        inputs.push_back(Input::Timeout);
    }
    for _ in 0..=opts.max_offers {
        inputs.push_back(if opts.decline {
            Input::Timeout
        } else {
            Input::Digits("1".into())
        });
    }
    let mut sc = Scenario {
        inputs,
        oldest_contact_age: opts.wait.clone(),
        agents_available: opts.agents_available,
        // Nobody answers the first call within the journey: it follows the caller while the
        // customer queue flow can still offer a callback.
        agent: None,
        queue_horizon_seconds: if opts.second_chance {
            u64::from(opts.interval) * u64::from(opts.max_offers + 2)
        } else {
            0
        },
        attributes: c.attributes(),
        language: opts.language.clone(),
        ..Scenario::default()
    };
    let first_step = j.steps.len();
    let call = Call {
        customer: c.number.clone(),
        dialled: INBOUND_DID.into(),
        contact_id: contact_id(),
    };
    let queue_title = format!("Customer queue flow: the caller waits in {}", c.queue_name);
    let run = match run_flows(j, &inst, call, &mut sc, queue_title)? {
        Ok(run) => run,
        Err(e) => {
            problem(j, format!("the flows stopped: {e}"))?;
            return Ok(Inbound::Ended(Ending::NoCallback));
        }
    };
    let steps = &j.steps[first_step..];
    let phrases: Vec<&StepReport> = steps
        .iter()
        .filter(|s| s.function == "ocw-phrase")
        .collect();
    let posts: Vec<&StepReport> = steps
        .iter()
        .filter(|s| {
            s.function == "datastore-proxy"
                && s.inputs
                    .iter()
                    .any(|(k, v)| k == "method" && v.eq_ignore_ascii_case("POST"))
        })
        .collect();
    let offered = run.steps.iter().any(|s| s.typ == "GetParticipantInput");
    let mut checks = Vec::new();
    if opts.second_chance {
        // The cap is what the queue flow relies on: check ocw-phrase's decision and count.
        for s in phrases
            .iter()
            .filter(|s| s.flow == "customer queue flow" && s.status == "ok")
        {
            let made: u32 = input_of(s, "offers_made")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let seconds: u64 = s
                .get("OCW_seconds")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            // Mindful's status as the flow passed it, judged by the rule's own home.
            let mindful_takes_callbacks = s
                .inputs
                .iter()
                .find(|(k, _)| k == "mindful_status")
                .is_none_or(|(_, v)| {
                    v.trim().is_empty()
                        || mindful_core::scheduler::states::takes_callbacks(v.trim())
                });
            let want_offer = ocw_phrase::offer_callback(&ocw_phrase::OfferFacts {
                wait_seconds: seconds,
                threshold_seconds: ocw_phrase::DEFAULT_OFFER_THRESHOLD_SECONDS,
                agents_available: opts.agents_available > 0,
                offers_left: made < opts.max_offers,
                mindful_takes_callbacks,
            });
            let want_count = made + u32::from(want_offer);
            let offer = s.get("offer_callback") == Some("true");
            let counted: Option<u32> = s.get("offers_made").and_then(|v| v.parse().ok());
            if offer != want_offer || counted != Some(want_count) {
                checks.push(format!(
                    "ocw-phrase with offers_made={made} max_offers={}: expected offer_callback={want_offer} offers_made={want_count}, got offer_callback={offer} offers_made={}",
                    opts.max_offers,
                    counted.map(|n| n.to_string()).unwrap_or_else(|| "-".into())
                ));
            }
        }
    }
    let phrase_failed = phrases.first().is_some_and(|s| s.status != "ok");
    let post_failed = posts.last().is_some_and(|s| s.status != "ok");
    let offers: u32 = run
        .attributes
        .get("callback_offers")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let capped = opts.second_chance
        && phrases.last().is_some_and(|s| {
            s.flow == "customer queue flow"
                && s.get("offer_callback") == Some("false")
                && offers >= opts.max_offers
        });
    if opts.mindful_offers && offered {
        checks.push(
            "Connect played a callback offer although the stack has Mindful make the offers".into(),
        );
    }
    for p in checks {
        problem(j, p)?;
    }
    let ending = match &run.end {
        End::TransferredOut {
            to_mindful: true, ..
        } => return Ok(Inbound::Accepted(Box::new(run))),
        End::TransferredOut { number, .. } => {
            problem(
                j,
                format!(
                    "the caller was transferred to {}, not to the Call Target",
                    masked(number)
                ),
            )?;
            Ending::NoCallback
        }
        End::Disconnected { flow, block } => {
            problem(
                j,
                format!("{} hung up on the caller at {block}", flow_label(flow)),
            )?;
            Ending::NoCallback
        }
        End::FlowEnded { flow, block } => {
            problem(
                j,
                format!(
                    "{} ended at {block} without queuing the caller",
                    flow_label(flow)
                ),
            )?;
            Ending::NoCallback
        }
        End::Queued { .. } if phrase_failed => Ending::PhraseFailed,
        End::Queued { .. } if post_failed => Ending::NoCallback,
        End::Queued { .. } if capped => Ending::OfferCapReached { offers },
        End::Queued { .. } if offered => Ending::Declined,
        End::Queued { .. } => Ending::NoOffer,
    };
    if let End::Queued { queue_name, .. } = &run.end {
        j.say(format!(
            "the caller waits in {queue_name}; the journey ends here ({ending})"
        ))?;
    }
    Ok(Inbound::Ended(ending))
}

fn input_of<'a>(s: &'a StepReport, key: &str) -> Option<&'a str> {
    s.inputs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// Mindful calls back into the return DID: flow 3 (datastore GET, working queue, routing
/// attribute, whisper hook), the agent answers, flow 4 (agent-answer, asynchronous), then
/// Mindful's call record.
fn callback(j: &mut Journey<'_>, c: &Caller, first: &ContactRun) -> Result<Ending, JourneyError> {
    let opts = j.opts;
    j.number_ok = c.number_ok;
    let inst = match instance(opts, &c.queue_arn) {
        Ok(i) => i,
        Err(e) => {
            problem(j, format!("the shipped flows did not load: {e}"))?;
            return Ok(Ending::NoCallback);
        }
    };
    let call_id = if opts.mindful_offers {
        // CallbackOfferedBy=Mindful: the flows sent the caller without a prompt; Mindful's IVR
        // says the wait and offers, in prompts Mindful configures (not the bundle's).
        match flow_runner::host::mindful_ivr_offer(&inst, &j.sim, first, !opts.decline) {
            Some(MindfulIvr::Accepted(id)) => {
                j.say(format!(
                    "Mindful's IVR (the Call Target) says the wait and offers a callback; the caller presses 1: Mindful registers the callback (sim call #{id}: connecting)"
                ))?;
                id
            }
            Some(MindfulIvr::Declined(id)) => {
                j.say(format!(
                    "Mindful's IVR (the Call Target) says the wait and offers a callback; the caller declines: Mindful holds the call with the Call Target's hold treatment (sim call #{id}: held), no callback"
                ))?;
                let held = j
                    .sim
                    .calls()
                    .iter()
                    .any(|r| r.id == id && r.state == CallState::Held);
                if !held {
                    problem(j, format!("Mindful's call #{id} is not held"))?;
                }
                return Ok(Ending::HeldByMindful);
            }
            None => {
                problem(
                    j,
                    "the stack has Mindful make the offer, but the caller did not reach the Call Target".into(),
                )?;
                return Ok(Ending::NoCallback);
            }
        }
    } else {
        j.sim.register_call(&first.customer)
    };
    j.say(format!(
        "Mindful: dials {}, the customer answers, Mindful bridges into the callback-return DID {RETURN_DID} (sim call #{call_id}: connecting)",
        masked(&first.customer)
    ))?;
    let mut sc = Scenario {
        oldest_contact_age: "0".into(),
        agent: Some(AgentAnswer {
            after_seconds: 20,
            user_name: c.agent.into(),
        }),
        queue_horizon_seconds: 60,
        language: opts.language.clone(),
        ..Scenario::default()
    };
    let call = Call {
        customer: first.customer.clone(),
        dialled: RETURN_DID.into(),
        contact_id: contact_id(),
    };
    let first_step = j.steps.len();
    let run = match run_flows(j, &inst, call, &mut sc, String::new())? {
        Ok(run) => run,
        Err(e) => {
            problem(j, format!("the flows stopped: {e}"))?;
            return Ok(Ending::NoCallback);
        }
    };
    let restored = run
        .steps
        .iter()
        .any(|s| s.block == "set-original-queue" && s.branch == "next");
    let (queue, answered_by) = match &run.end {
        End::Queued {
            queue_arn,
            answered_by,
            ..
        } => (queue_arn.clone(), answered_by.clone()),
        other => {
            problem(
                j,
                format!("the return call did not reach a queue: {other:?}"),
            )?;
            (String::new(), None)
        }
    };
    if restored {
        if queue != c.queue_arn {
            problem(
                j,
                format!(
                    "the return flow restored queue {} but the caller waited in {} ({})",
                    short_arn(&queue),
                    c.queue_name,
                    short_arn(&c.queue_arn)
                ),
            )?;
        }
        if let Some(want) = c.routing {
            let got = run.attributes.get(ROUTING_ATTRIBUTE).map(String::as_str);
            if got != Some(want) {
                problem(
                    j,
                    format!(
                        "the return flow restored {ROUTING_ATTRIBUTE}={got:?}, expected {want:?}"
                    ),
                )?;
            }
        }
    } else if queue != queue_arn(DEFAULT_QUEUE_ID) && !queue.is_empty() {
        problem(
            j,
            format!(
                "without the record the caller went to {}, not the default queue",
                short_arn(&queue)
            ),
        )?;
    }
    let answer = j.steps[first_step..]
        .iter()
        .find(|s| s.function == "agent-answer")
        .cloned();
    let answer_status = match &answer {
        Some(a) if !a.status.is_empty() => a.status.clone(),
        _ => "-".to_string(),
    };
    if answered_by.is_some() {
        j.say("the whisper invoked agent-answer asynchronously and ended: the agent talks to the customer")?;
    }

    // The simulator's view of the callback.
    let (expected, processed) = expect_for(Leg::AgentAnswer, opts, c.number_ok);
    let record = j
        .sim
        .calls()
        .into_iter()
        .find(|r| r.id == call_id && r.state == CallState::Answered);
    let mut problems = Vec::new();
    match record {
        Some(r) => {
            let meta: Vec<String> = r
                .metadata
                .as_ref()
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| show(k, v.as_str().unwrap_or_default()))
                        .collect()
                })
                .unwrap_or_default();
            j.say(format!(
                "Mindful: call #{} to {} is answered (metadata {})",
                r.id,
                masked(&r.ani),
                meta.join(" ")
            ))?;
            let meta = r.metadata.as_ref();
            if meta.and_then(|m| m.get("agentId")) != Some(&json!(c.agent)) {
                problems.push(format!("Mindful's call record lacks agentId={}", c.agent));
            }
            if meta.and_then(|m| m.get("queueId")) != Some(&json!(queue)) {
                problems.push(format!("Mindful's call record lacks queueId={}", short_arn(&queue)));
            }
        }
        None if processed && expected == Expect::Status("accepted") && answer.is_some() => {
            problems.push(format!(
                "agent-answer said {answer_status} but Mindful's call is still connecting"
            ));
        }
        None => j.say("Mindful: the call is still connecting (no answer event processed); Mindful falls back to its own connect detection")?,
    }
    if answer.is_none() {
        problems.push("no agent answered the callback (the customer whisper did not run)".into());
    }
    for p in problems {
        problem(j, p)?;
    }
    Ok(Ending::CallbackAnswered {
        restored_context: restored,
        answer_status,
    })
}

/// `--two-queues`: two callers from Billing and Sales, one Call Target, one return DID; each
/// must come back to their own queue with their own routing attribute.
fn play_two_queues(j: &mut Journey<'_>, billing: Caller) -> Result<Ending, JourneyError> {
    let sales_number = mindful_core::phone::normalize_e164(SALES_CALLER, "US")
        .unwrap_or_else(|_| SALES_CALLER.to_string());
    let callers = [
        Caller {
            routing: Some("billing"),
            ..billing
        },
        Caller {
            number: sales_number,
            number_ok: true,
            queue_name: "Sales",
            queue_arn: queue_arn(SALES_QUEUE_ID),
            customer_name: SALES_CUSTOMER_NAME,
            account_number: SALES_ACCOUNT_NUMBER,
            routing: Some("sales"),
            agent: SALES_AGENT_ID,
        },
    ];
    let mut endings: Vec<(String, Ending)> = Vec::new();
    let mut accepted = Vec::new();
    for (n, c) in callers.iter().enumerate() {
        let title = format!(
            "Inbound call {}/2: {} waits in queue {} ({ROUTING_ATTRIBUTE}={})",
            n + 1,
            masked(&c.number),
            c.queue_name,
            c.routing.unwrap_or("")
        );
        match inbound(j, c, &title)? {
            Inbound::Accepted(run) => accepted.push((c.clone(), run)),
            Inbound::Ended(e) => endings.push((c.queue_name.to_string(), e)),
        }
    }
    if !accepted.is_empty() {
        j.section(&format!(
            "Mindful calls {} back on the one return DID",
            if accepted.len() == 1 {
                "the customer"
            } else {
                "both customers"
            }
        ))?;
    }
    for (n, (c, run)) in accepted.iter().enumerate() {
        if n > 0 {
            j.section("Mindful calls the next customer back")?;
        }
        let e = callback(j, c, run)?;
        endings.push((c.queue_name.to_string(), e));
    }
    endings.sort_by_key(|(q, _)| if q == "Billing" { 0 } else { 1 });
    Ok(Ending::PerCaller(endings))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_specs_parse() {
        let f = FaultSpec::parse("datastore_post:status=503").unwrap();
        assert_eq!(f.route, Route::DatastorePost);
        assert_eq!(f.fault, Fault::Status { code: 503 });
        assert_eq!(f.label(), "datastore_post:status=503");
        assert_eq!(
            FaultSpec::parse("agent-answer:hang").unwrap().fault,
            Fault::Hang
        );
        assert_eq!(
            FaultSpec::parse("any:latency=500").unwrap().fault,
            Fault::Latency { ms: 500 }
        );
        assert!(FaultSpec::parse("nowhere:hang").is_err());
        assert!(FaultSpec::parse("token:status").is_err());
        assert!(FaultSpec::parse("token:status=700").is_err());
        assert!(FaultSpec::parse("token").is_err());
    }

    #[test]
    fn expectations_follow_the_error_tables() {
        let with = |s: &str| Options {
            fault: Some(FaultSpec::parse(s).unwrap()),
            ..Options::default()
        };
        let e = |leg, s: &str| expect_for(leg, &with(s), true).0;
        assert_eq!(
            e(Leg::DatastorePost, "datastore_post:status=503"),
            Expect::Error("upstream_error")
        );
        assert_eq!(
            e(Leg::DatastorePost, "datastore_post:status=401"),
            Expect::Error("unauthorized")
        );
        assert_eq!(
            e(Leg::DatastoreGet, "datastore_get:malformed_json"),
            Expect::Error("bad_response")
        );
        assert_eq!(
            e(Leg::DatastoreGet, "datastore_get:status=404"),
            Expect::Status("not_found")
        );
        assert_eq!(
            e(Leg::DatastoreGet, "datastore_post:status=503"),
            Expect::Status("ok")
        );
        assert_eq!(
            e(Leg::AgentAnswer, "token:status=401"),
            Expect::Error("auth_failed")
        );
        assert_eq!(
            e(Leg::AgentAnswer, "agent_answer:hang"),
            Expect::Error("timeout")
        );
        assert_eq!(
            e(Leg::AgentAnswer, "agent_answer:status=404"),
            Expect::Status("no_call")
        );
        assert_eq!(
            e(Leg::AgentAnswer, "any:latency=100"),
            Expect::Status("accepted")
        );
        assert_eq!(
            e(Leg::DatastorePost, "any:latency=5000"),
            Expect::Error("timeout")
        );
        assert_eq!(
            expect_for(Leg::DatastorePost, &Options::default(), false).0,
            Expect::Error("invalid_number")
        );
        let bad_wait = Options {
            wait: "abc".into(),
            ..Options::default()
        };
        assert_eq!(
            expect_for(Leg::Phrase, &bad_wait, true).0,
            Expect::Error("invalid_ocw")
        );
    }

    #[test]
    fn transcript_masks_numbers_and_shortens_arns() {
        assert_eq!(
            show("customer_contact_number", "+13209071234"),
            "customer_contact_number=***1234"
        );
        assert_eq!(
            show("customer_name", "Ada Lovelace"),
            "customer_name=\"Ada Lovelace\""
        );
        assert_eq!(
            show("queue_arn", &queue_arn(BILLING_QUEUE_ID)),
            "queue_arn=arn:…/queue/7b3e1f2a…"
        );
        assert_eq!(show("OCW", "about 4 minutes"), "OCW=\"about 4 minutes\"");
    }

    #[test]
    fn contact_ids_look_like_uuids_and_differ() {
        let (a, b) = (contact_id(), contact_id());
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(a.matches('-').count(), 4);
    }
}
