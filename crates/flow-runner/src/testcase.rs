//! Amazon Connect test cases in the **Testing language** (version `2025-06-21`), parsed and run
//! locally on the flow runner: the same JSON file a Connect instance runs as a test case
//! (`CreateTestCase`, `StartTestCaseExecution`) runs here on every commit, with the bundle's
//! functions as real processes and Mindful simulated.
//!
//! The language (pages this module implements):
//! - concepts — observations, events, actions, actors:
//!   <https://docs.aws.amazon.com/connect/latest/devguide/testing-language-concepts.html>
//! - the example test case (`infra/tests/docs-example.json` is it, adapted to our flows):
//!   <https://docs.aws.amazon.com/connect/latest/APIReference/testing-language-example.html>
//! - events: <https://docs.aws.amazon.com/connect/latest/devguide/testing-language-events.html>
//!   — [test initiated](https://docs.aws.amazon.com/connect/latest/devguide/testing-language-events-test-initiated.html),
//!   [test completed](https://docs.aws.amazon.com/connect/latest/devguide/testing-language-events-test-completed.html),
//!   [message received](https://docs.aws.amazon.com/connect/latest/devguide/testing-language-events-message-received.html),
//!   [flow action started](https://docs.aws.amazon.com/connect/latest/devguide/testing-language-events-flow-action-started.html);
//! - actions — [send instruction](https://docs.aws.amazon.com/connect/latest/devguide/testing-language-actions-send-instruction.html),
//!   [assertion](https://docs.aws.amazon.com/connect/latest/APIReference/testing-language-actions-assertion.html),
//!   [override system behavior](https://docs.aws.amazon.com/connect/latest/APIReference/testing-language-actions-override-system-behavior.html),
//!   log data and end test;
//! - how an execution proceeds (interaction groups, each executed once; connected groups in
//!   sequence, unconnected ones whenever their event occurs; overrides used once, first in first
//!   out): <https://docs.aws.amazon.com/connect/latest/adminguide/testing-simulation-execute-test-cases.html>,
//!   <https://docs.aws.amazon.com/connect/latest/adminguide/testing-simulation-action-override.html>.
//!
//! How the local executor works: the DTMF keys and overrides a test case sends are derived from
//! its observations, the contact is run on the engine ([`run_contact`]), and the run's steps —
//! blocks started, prompts heard, Lambda calls, contact attributes after each block — are matched
//! against the observations in the order their transitions give. An observation whose actions
//! send keys or override a resource changes the contact only from the point its event occurred,
//! so the contact is run again with that input until every such action is applied. What the
//! local runner cannot honour (a Lex utterance, a mock shape it does not know, an event type the
//! language does not list) is a [`TestCaseError`] naming the observation: never ignored.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use mindful_sim::{Fault, Route, Sim};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::engine::{
    run_contact, AgentAnswer, Call, ContactRun, End, Host, Injection, Input, Instance, LambdaCall,
    LambdaReply, RunError, Scenario, Step,
};

/// The Testing language version this module reads.
pub const VERSION: &str = "2025-06-21";

/// A test case that cannot be run locally, or a run that could not finish.
#[derive(Debug, thiserror::Error)]
pub enum TestCaseError {
    #[error("{file}: not a Testing-language test case: {message}")]
    Parse { file: String, message: String },
    #[error("Version {0:?}: the local runner reads Testing language {VERSION}")]
    Version(String),
    /// Something the language has that the local runner does not do.
    #[error("observation {observation:?}: {what} is not supported by the local runner: {why}")]
    Unsupported {
        observation: String,
        what: String,
        why: String,
    },
    /// Something the language does not allow (missing field, unknown operator, …).
    #[error("observation {observation:?}: {message}")]
    Invalid {
        observation: String,
        message: String,
    },
    #[error("Metadata: {0}")]
    Metadata(String),
    #[error("the instance: {0}")]
    Instance(String),
    #[error("the contact stopped: {0}")]
    Run(#[from] RunError),
}

fn unsupported(obs: &str, what: impl Into<String>, why: impl Into<String>) -> TestCaseError {
    TestCaseError::Unsupported {
        observation: obs.to_string(),
        what: what.into(),
        why: why.into(),
    }
}

fn invalid(obs: &str, message: impl Into<String>) -> TestCaseError {
    TestCaseError::Invalid {
        observation: obs.to_string(),
        message: message.into(),
    }
}

// ---- The document ---------------------------------------------------------------------------

/// A test case's content (the example page's shape). Unknown top-level fields and `Metadata` are
/// kept but not executed; what is executed is read strictly ([`plan`]).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TestCase {
    pub version: String,
    #[serde(default)]
    pub metadata: Value,
    pub observations: Vec<Observation>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Observation {
    pub identifier: String,
    pub event: EventSpec,
    #[serde(default)]
    pub usage: Option<Value>,
    #[serde(default)]
    pub actions: Vec<ActionSpec>,
    #[serde(default)]
    pub transitions: Option<ObservationTransitions>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EventSpec {
    #[serde(default)]
    pub identifier: Option<String>,
    #[serde(rename = "Type")]
    pub typ: String,
    #[serde(default)]
    pub actor: Option<String>,
    #[serde(default)]
    pub properties: Value,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ActionSpec {
    #[serde(default)]
    pub identifier: Option<String>,
    #[serde(rename = "Type")]
    pub typ: String,
    #[serde(default)]
    pub parameters: Value,
    #[serde(default)]
    pub transitions: Option<Value>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ObservationTransitions {
    #[serde(default)]
    pub next_observations: Vec<String>,
}

/// Parse a test case (`file` names it in errors).
pub fn parse(text: &str, file: &str) -> Result<TestCase, TestCaseError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let tc: TestCase = serde_json::from_str(text).map_err(|e| TestCaseError::Parse {
        file: file.to_string(),
        message: e.to_string(),
    })?;
    if tc.version != VERSION {
        return Err(TestCaseError::Version(tc.version));
    }
    Ok(tc)
}

// ---- Local set-up (Metadata) ------------------------------------------------------------------

/// The contact and the stack a test case runs with locally: `Metadata."flow-runner"`. Connect
/// ignores it (metadata is free-form there); every field is optional.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub struct LocalSetup {
    /// Stack parameters over the defaults (shipped flows only), e.g. `SecondChanceOffers`.
    #[serde(default)]
    pub stack: BTreeMap<String, String>,
    /// The number the test contact calls (default: the instance's first claimed number).
    pub dialled: Option<String>,
    pub customer: Option<String>,
    /// `$.LanguageCode` of the contact (default `en-US`).
    pub language: Option<String>,
    pub channel: Option<String>,
    /// `$.Metrics.Queue.OldestContactAge` when the contact arrives (seconds).
    pub oldest_contact_age: Option<String>,
    pub agents_available: Option<u32>,
    /// Seconds in queue before an agent answers (default 300; `null` in JSON has no effect).
    pub agent_after_seconds: Option<u64>,
    /// Whether a transfer to a phone number connects (default true).
    pub third_party_answers: Option<bool>,
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// Failures that come from Connect itself (a queue at capacity, a service error), which a
    /// test case on an instance cannot cause: the named block takes the named error branch
    /// ([`Injection`]; only errors the reference allows for the block).
    #[serde(default)]
    pub inject: Vec<LocalInjection>,
    /// The same, in the callback contact (`Metadata."mindful-sim".calls_back`): Connect-side
    /// failures of the return call's flows.
    #[serde(default)]
    pub callback_inject: Vec<LocalInjection>,
}

/// One Connect-side failure forced on a block (`Metadata."flow-runner".inject`).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub struct LocalInjection {
    /// The flow's name (default: any flow with a block of that identifier).
    pub flow: Option<String>,
    pub block: String,
    pub error: String,
    /// How many times (default 1; 0 = every time).
    pub times: Option<u32>,
}

/// Mindful, which the Testing language has no notion of: `Metadata."mindful-sim"` sets the
/// simulator up before the contact (faults on its routes, its estimated callback time, its
/// widget status).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub struct MindfulSetup {
    #[serde(default)]
    pub faults: Vec<MindfulFault>,
    pub ecbt: Option<u64>,
    pub widget_status: Option<String>,
    /// After a transfer to the Call Target, Mindful calls the customer back (accepting its own
    /// offer when it makes the offers): the return contact runs on the return number. It is
    /// another contact, which a Connect test case does not observe; locally it counts towards
    /// coverage ([`TestCaseResult::callback`]).
    #[serde(default)]
    pub calls_back: bool,
    /// When Mindful makes the offer (`CallbackOfferedBy=Mindful`): whether the caller accepts it
    /// at Mindful's IVR (default true). Declined, Mindful holds the caller and does not call back.
    pub offer_accepted: Option<bool>,
    /// Faults on Mindful's routes during the callback contact only (the contact's own faults are
    /// cleared when it ends).
    #[serde(default)]
    pub callback_faults: Vec<MindfulFault>,
    /// Datastore records already stored when the contact starts (other callers waiting for
    /// their callback), each as the body of Mindful's Datastore POST.
    #[serde(default)]
    pub records: Vec<StoredRecordSpec>,
}

/// A Datastore record stored before the contact: the body a Datastore POST takes
/// (`customer_contact_number`, `data_values`).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StoredRecordSpec {
    pub customer_contact_number: String,
    pub data_values: serde_json::Map<String, Value>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MindfulFault {
    /// `token`, `agent_answer`, `datastore_post`, `datastore_get`, `widget_status`, `any`.
    pub route: Route,
    /// `{"kind": "status", "code": 503}`, `{"kind": "hang"}`, … (mindful-sim's `Fault`).
    pub fault: Fault,
    /// How many requests fail (default: all).
    pub count: Option<u32>,
}

/// The two local metadata keys (others are left alone).
pub fn local_setup(tc: &TestCase) -> Result<(LocalSetup, MindfulSetup), TestCaseError> {
    let get = |key: &str| tc.metadata.get(key).cloned().unwrap_or(Value::Null);
    let local = match get("flow-runner") {
        Value::Null => LocalSetup::default(),
        v => serde_json::from_value(v)
            .map_err(|e| TestCaseError::Metadata(format!("\"flow-runner\": {e}")))?,
    };
    let mindful = match get("mindful-sim") {
        Value::Null => MindfulSetup::default(),
        v => serde_json::from_value(v)
            .map_err(|e| TestCaseError::Metadata(format!("\"mindful-sim\": {e}")))?,
    };
    Ok((local, mindful))
}

// ---- The plan: what each observation expects and does -------------------------------------------

/// How a message's text is compared (message received page, `MatchingCriteria`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Criteria {
    /// "Checks if the observed message contains the specified text": a substring.
    Inclusion,
    /// "Uses semantic matching": approximated locally by word overlap ([`similar`]).
    Similarity,
}

#[derive(Clone, Debug)]
enum Expect {
    Initiated,
    Completed,
    Message {
        text: Option<String>,
        prompt_id: Option<String>,
        criteria: Criteria,
    },
    FlowAction {
        action_type: String,
        params: Vec<(String, String)>,
    },
}

#[derive(Clone, Debug)]
enum Override {
    /// Answer the call with this, without invoking the function.
    Mock { answer: Value, delay_seconds: u64 },
    /// Invoke the function this ARN is mapped to instead.
    Substitute(String),
}

#[derive(Clone, Debug)]
enum Do {
    Dtmf(String),
    Assert {
        namespace: String,
        operator: String,
        operand: Option<String>,
    },
    Log(Value),
    End,
    Lambda {
        arn: String,
        how: Override,
    },
    /// A substitute hours of operation: honoured only where no flow checks hours (then it is
    /// never consumed, as in Connect).
    Hours,
}

#[derive(Clone, Debug)]
struct Planned {
    id: String,
    expect: Expect,
    actions: Vec<(String, Do)>,
    /// The observation this one must follow.
    after: Option<usize>,
}

fn str_field(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Strict on what is executed: a key the page does not list (a typo such as `MatchCriteria`)
/// would otherwise change the test silently.
fn only(obs: &str, what: &str, v: &Value, keys: &[&str]) -> Result<(), TestCaseError> {
    match v {
        Value::Null => Ok(()),
        Value::Object(map) => match map.keys().find(|k| !keys.contains(&k.as_str())) {
            Some(k) => Err(invalid(
                obs,
                format!(
                    "{what} has {k:?}, which the local runner does not know (it reads {})",
                    if keys.is_empty() {
                        "nothing".to_string()
                    } else {
                        keys.join(", ")
                    }
                ),
            )),
            None => Ok(()),
        },
        _ => Err(invalid(obs, format!("{what} is not an object"))),
    }
}

fn plan(tc: &TestCase, inst: &Instance) -> Result<Vec<Planned>, TestCaseError> {
    let mut ids = BTreeMap::new();
    for (i, o) in tc.observations.iter().enumerate() {
        if ids.insert(o.identifier.clone(), i).is_some() {
            return Err(invalid(
                &o.identifier,
                "two observations have this Identifier",
            ));
        }
    }
    let mut after: Vec<Option<usize>> = vec![None; tc.observations.len()];
    for (i, o) in tc.observations.iter().enumerate() {
        for next in o.transitions.iter().flat_map(|t| &t.next_observations) {
            let Some(&j) = ids.get(next) else {
                return Err(invalid(
                    &o.identifier,
                    format!("NextObservations names {next:?}, which is no observation"),
                ));
            };
            if let Some(p) = after[j] {
                if p != i {
                    return Err(unsupported(
                        next,
                        "an observation reached from two observations",
                        format!(
                            "{:?} and {:?} both lead to it; the local runner needs one predecessor",
                            tc.observations[p].identifier, o.identifier
                        ),
                    ));
                }
            }
            after[j] = Some(i);
        }
    }
    // No cycles: following predecessors ends.
    for (i, o) in tc.observations.iter().enumerate() {
        let mut seen = BTreeSet::new();
        let mut at = Some(i);
        while let Some(k) = at {
            if !seen.insert(k) {
                return Err(invalid(&o.identifier, "its transitions form a cycle"));
            }
            at = after[k];
        }
    }
    let checks_hours = inst
        .flows
        .iter()
        .flat_map(|f| &f.actions)
        .any(|a| a.typ == "CheckHoursOfOperation");
    tc.observations
        .iter()
        .enumerate()
        .map(|(i, o)| {
            if let Some(u) = &o.usage {
                let t = u.get("Type").and_then(Value::as_str).unwrap_or("EXACTLY");
                if t != "EXACTLY" {
                    return Err(unsupported(
                        &o.identifier,
                        format!("Usage {t:?}"),
                        "the local runner executes each observation once (EXACTLY)",
                    ));
                }
            }
            if let Some(actor) = &o.event.actor {
                if actor != "System" {
                    return Err(unsupported(
                        &o.identifier,
                        format!("event Actor {actor:?}"),
                        "the events the language lists are observed from the System actor",
                    ));
                }
            }
            let expect = expect(o)?;
            let actions = o
                .actions
                .iter()
                .enumerate()
                .map(|(k, a)| {
                    let id = a
                        .identifier
                        .clone()
                        .unwrap_or_else(|| format!("action {}", k + 1));
                    action(o, a, checks_hours).map(|d| (id, d))
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Planned {
                id: o.identifier.clone(),
                expect,
                actions,
                after: after[i],
            })
        })
        .collect()
}

fn expect(o: &Observation) -> Result<Expect, TestCaseError> {
    let p = &o.event.properties;
    let id = &o.identifier;
    match o.event.typ.as_str() {
        "TestInitiated" => only(id, "TestInitiated Properties", p, &[]).map(|_| Expect::Initiated),
        "TestCompleted" => only(id, "TestCompleted Properties", p, &[]).map(|_| Expect::Completed),
        "MessageReceived" => {
            only(
                id,
                "MessageReceived Properties",
                p,
                &["PromptId", "Text", "SSML", "Media", "MatchingCriteria"],
            )?;
            if p.get("Media").is_some() {
                return Err(unsupported(
                    id,
                    "MessageReceived with Media",
                    "the local runner plays no external media",
                ));
            }
            let criteria = match p.get("MatchingCriteria") {
                None | Some(Value::Null) => Criteria::Inclusion,
                Some(v) => {
                    let name = v
                        .as_str()
                        .map(str::to_string)
                        .or_else(|| str_field(v, "Type"))
                        .unwrap_or_default();
                    match name.as_str() {
                        "Inclusion" => Criteria::Inclusion,
                        "Similarity" => Criteria::Similarity,
                        other => {
                            return Err(invalid(
                                id,
                                format!("MatchingCriteria {other:?}: the language has Similarity and Inclusion"),
                            ))
                        }
                    }
                }
            };
            let text = str_field(p, "Text").or_else(|| str_field(p, "SSML"));
            let prompt_id = str_field(p, "PromptId");
            if text.is_none() && prompt_id.is_none() {
                return Err(invalid(
                    id,
                    "MessageReceived needs Text, SSML or PromptId to match a message",
                ));
            }
            Ok(Expect::Message {
                text,
                prompt_id,
                criteria,
            })
        }
        "FlowActionStarted" => {
            only(
                id,
                "FlowActionStarted Properties",
                p,
                &["ActionType", "ActionParameters"],
            )?;
            let Some(action_type) = str_field(p, "ActionType") else {
                return Err(invalid(id, "FlowActionStarted needs Properties.ActionType"));
            };
            let mut params = Vec::new();
            if let Some(obj) = p.get("ActionParameters").and_then(Value::as_object) {
                for (k, v) in obj {
                    match v {
                        Value::String(s) => params.push((k.clone(), s.clone())),
                        other => params.push((k.clone(), other.to_string())),
                    }
                }
            }
            Ok(Expect::FlowAction {
                action_type: action_type.trim().to_string(),
                params,
            })
        }
        other => Err(unsupported(
            id,
            format!("event type {other:?}"),
            "the local runner observes TestInitiated, TestCompleted, MessageReceived and FlowActionStarted (testing-language-events page)",
        )),
    }
}

fn action(o: &Observation, a: &ActionSpec, checks_hours: bool) -> Result<Do, TestCaseError> {
    let id = &o.identifier;
    let p = &a.parameters;
    if let Some(t) = str_field(p, "ActionType") {
        let same = t == a.typ || (a.typ == "AssertData" && t == "Assert");
        if !same {
            return Err(invalid(
                id,
                format!(
                    "action {:?}: Parameters.ActionType {t:?} is not its Type {:?}",
                    a.identifier.as_deref().unwrap_or(""),
                    a.typ
                ),
            ));
        }
    }
    let known: &[&str] = match a.typ.as_str() {
        "SendInstruction" => &["ActionType", "Actor", "Instruction"],
        "Assert" | "AssertData" => &["ActionType", "Namespace", "Operator", "Operand"],
        "EndTest" => &["ActionType"],
        "OverrideSystemBehavior" => &["ActionType", "Behavior"],
        _ => &[],
    };
    if !known.is_empty() {
        only(id, &format!("{} Parameters", a.typ), p, known)?;
    }
    match a.typ.as_str() {
        "SendInstruction" => {
            let instr = p.get("Instruction").cloned().unwrap_or(Value::Null);
            let kind = str_field(&instr, "Type").unwrap_or_default();
            match kind.as_str() {
                "DtmfInput" => {
                    let props = instr.get("Properties").cloned().unwrap_or(Value::Null);
                    match str_field(&props, "Value") {
                        Some(v) if !v.is_empty() => Ok(Do::Dtmf(v)),
                        _ => Err(invalid(id, "SendInstruction DtmfInput needs Properties.Value")),
                    }
                }
                "TextUtterance" => Err(unsupported(
                    id,
                    "SendInstruction TextUtterance",
                    "there is no Lex bot or AI agent locally; the flows take keys",
                )),
                other => Err(invalid(
                    id,
                    format!("SendInstruction Instruction.Type {other:?}: the language has DtmfInput and TextUtterance"),
                )),
            }
        }
        // The assertion page names the type `Assert`; `AssertData` is read as the same.
        "Assert" | "AssertData" => {
            let namespace = str_field(p, "Namespace")
                .ok_or_else(|| invalid(id, "Assert needs Parameters.Namespace"))?;
            let operator = str_field(p, "Operator")
                .ok_or_else(|| invalid(id, "Assert needs Parameters.Operator"))?;
            if !OPERATORS.contains(&operator.as_str()) {
                return Err(invalid(
                    id,
                    format!("Assert operator {operator:?} is not one the assertion page lists"),
                ));
            }
            let operand = str_field(p, "Operand");
            if operand.is_none() && operator != "Exists" {
                return Err(invalid(id, format!("Assert {operator} needs an Operand")));
            }
            state_path(id, &namespace)?;
            Ok(Do::Assert {
                namespace,
                operator,
                operand,
            })
        }
        "LogData" => Ok(Do::Log(p.clone())),
        "EndTest" => Ok(Do::End),
        "OverrideSystemBehavior" => {
            let behavior = p.get("Behavior").cloned().unwrap_or(Value::Null);
            if str_field(&behavior, "Type").as_deref() != Some("FlowAction") {
                return Err(unsupported(
                    id,
                    "OverrideSystemBehavior of a Behavior other than FlowAction",
                    "the local runner overrides flow actions only",
                ));
            }
            let props = behavior.get("Properties").cloned().unwrap_or(Value::Null);
            let action_type = str_field(&props, "ActionType").unwrap_or_default();
            let params = props.get("ActionParameters").cloned().unwrap_or(Value::Null);
            let strategy = props.get("Strategy").cloned().unwrap_or(Value::Null);
            let strategy_type = str_field(&strategy, "Type").unwrap_or_default();
            match action_type.trim() {
                "InvokeLambdaFunction" => {
                    let arn = str_field(&params, "LambdaFunctionARN").ok_or_else(|| {
                        invalid(id, "an InvokeLambdaFunction override needs ActionParameters.LambdaFunctionARN")
                    })?;
                    let how = match strategy_type.as_str() {
                        "SubstituteResource" => Override::Substitute(
                            str_field(&strategy, "SubstituteArn").ok_or_else(|| {
                                invalid(id, "SubstituteResource needs SubstituteArn")
                            })?,
                        ),
                        "MockResponse" => {
                            let resp = strategy.get("Response").cloned().unwrap_or(Value::Null);
                            let rtype = str_field(&resp, "Type").unwrap_or_default();
                            if rtype != "ExecutionResult" {
                                return Err(unsupported(
                                    id,
                                    format!("MockResponse of Type {rtype:?}"),
                                    "the local runner mocks ExecutionResult answers; a function error is a Mindful fault (Metadata \"mindful-sim\") or a real failure",
                                ));
                            }
                            let result = resp.get("ExecutionResult").cloned().unwrap_or(Value::Null);
                            let answer = match result.get("LoadedData") {
                                Some(Value::String(s)) => serde_json::from_str(s).map_err(|e| {
                                    invalid(id, format!("LoadedData is not serialized JSON: {e}"))
                                })?,
                                Some(v @ Value::Object(_)) => v.clone(),
                                _ => Value::Object(Map::new()),
                            };
                            let delay_seconds = result
                                .get("DelaySeconds")
                                .and_then(Value::as_u64)
                                .unwrap_or(0);
                            Override::Mock {
                                answer,
                                delay_seconds,
                            }
                        }
                        other => {
                            return Err(unsupported(
                                id,
                                format!("Lambda override strategy {other:?}"),
                                "the local runner honours SubstituteResource and MockResponse",
                            ))
                        }
                    };
                    Ok(Do::Lambda { arn, how })
                }
                "CheckHoursOfOperation" if !checks_hours => Ok(Do::Hours),
                "CheckHoursOfOperation" => Err(unsupported(
                    id,
                    "OverrideSystemBehavior of CheckHoursOfOperation",
                    "a flow checks hours of operation and the local runner has no hours to substitute",
                )),
                other => Err(unsupported(
                    id,
                    format!("OverrideSystemBehavior of {other:?}"),
                    "the local runner overrides InvokeLambdaFunction (and CheckHoursOfOperation where no flow checks hours)",
                )),
            }
        }
        other => Err(unsupported(
            id,
            format!("action type {other:?}"),
            "the local runner does SendInstruction, Assert, LogData, EndTest and OverrideSystemBehavior",
        )),
    }
}

/// The assertion page's operators.
const OPERATORS: [&str; 9] = [
    "Equals",
    "TextStartsWith",
    "TextEndsWith",
    "TextContains",
    "NumberGreaterThan",
    "NumberGreaterOrEqualTo",
    "NumberLessThan",
    "NumberLessOrEqualTo",
    "Exists",
];

/// What an Assert's Namespace reads: `$.Attributes.<key>`, `$.External.<key>`, `$.Queue.Name`,
/// `$.Queue.ARN`, `$.LanguageCode`, `$.Channel`, `$.CustomerEndpoint.Address`,
/// `$.SystemEndpoint.Address` (the leading `$.` optional).
#[derive(Clone, Debug, PartialEq, Eq)]
enum StatePath {
    Attribute(String),
    External(String),
    QueueName,
    QueueArn,
    Language,
    Channel,
    Customer,
    System,
}

fn state_path(obs: &str, namespace: &str) -> Result<StatePath, TestCaseError> {
    let path = namespace.strip_prefix("$.").unwrap_or(namespace);
    let (ns, rest) = path.split_once('.').unwrap_or((path, ""));
    Ok(match (ns, rest) {
        ("Attributes", k) if !k.is_empty() => StatePath::Attribute(k.to_string()),
        ("External", k) if !k.is_empty() => StatePath::External(k.to_string()),
        ("Queue", "Name") => StatePath::QueueName,
        ("Queue", "ARN") => StatePath::QueueArn,
        ("LanguageCode", "") => StatePath::Language,
        ("Channel", "") => StatePath::Channel,
        ("CustomerEndpoint", "Address") => StatePath::Customer,
        ("SystemEndpoint", "Address") => StatePath::System,
        _ => {
            return Err(unsupported(
                obs,
                format!("Assert Namespace {namespace:?}"),
                "the local runner reads $.Attributes.*, $.External.*, $.Queue.Name/ARN, $.LanguageCode, $.Channel and the endpoints' Address",
            ))
        }
    })
}

// ---- What the run shows: the timeline ---------------------------------------------------------

/// The contact's state before a block ran (what an assertion at that point reads).
#[derive(Clone, Debug, Default)]
struct State {
    attributes: BTreeMap<String, String>,
    external: BTreeMap<String, String>,
    queue: Option<(String, String)>,
}

#[derive(Clone, Debug)]
enum Seen {
    Initiated,
    Block { step: usize },
    Prompt { step: usize, text: String },
    Completed,
}

struct Timeline {
    seen: Vec<Seen>,
    /// The contact's `$.LanguageCode` and `$.Channel`.
    language: String,
    channel: String,
    /// `before[i]`: the state before step `i`; `before[steps.len()]`: at the end.
    before: Vec<State>,
}

/// A prompt note of the engine (`prompt: "…"`, `prompt (Lupe): "…"`) as the words heard.
fn prompt_text(note: &str) -> Option<String> {
    let rest = note.strip_prefix("prompt")?;
    let rest = if let Some(r) = rest.strip_prefix(": ") {
        r
    } else {
        let r = rest.strip_prefix(" (")?;
        let (_, after) = r.split_once("): ")?;
        after
    };
    let quoted = rest.strip_prefix('"')?.strip_suffix('"')?;
    Some(unescape_debug(quoted))
}

/// Undo `{:?}` escaping of a string.
fn unescape_debug(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('0') => out.push('\0'),
            Some('u') => {
                let hex: String = chars
                    .by_ref()
                    .skip_while(|c| *c == '{')
                    .take_while(|c| *c != '}')
                    .collect();
                if let Some(ch) = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                    out.push(ch);
                }
            }
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

fn timeline(
    inst: &Instance,
    run: &ContactRun,
    initial: &BTreeMap<String, String>,
    (language, channel): (&str, &str),
) -> Timeline {
    let mut seen = vec![Seen::Initiated];
    let mut before = Vec::with_capacity(run.steps.len() + 1);
    let mut state = State {
        attributes: initial.clone(),
        ..State::default()
    };
    let queue_named = |name: &str| {
        inst.queues
            .iter()
            .find(|(_, n)| n.as_str() == name)
            .map(|(a, n)| (a.clone(), n.clone()))
            .unwrap_or_else(|| (name.to_string(), name.to_string()))
    };
    for (i, step) in run.steps.iter().enumerate() {
        before.push(state.clone());
        seen.push(Seen::Block { step: i });
        for note in &step.notes {
            if let Some(text) = prompt_text(note) {
                seen.push(Seen::Prompt { step: i, text });
            } else if let Some(kv) = note.strip_prefix("set attribute ") {
                if let Some((k, v)) = kv.split_once('=') {
                    let v = if v == "\"\"" { "" } else { v };
                    state.attributes.insert(k.to_string(), v.to_string());
                }
            } else if let Some(name) = note
                .strip_prefix("working queue: ")
                .or_else(|| note.strip_prefix("moved to queue "))
            {
                state.queue = Some(queue_named(name));
            }
        }
        if let Some(record) = step.lambda.and_then(|k| run.lambda.get(k)) {
            if let (false, None, LambdaReply::Answer(Value::Object(map))) =
                (record.call.asynchronous, &record.rejected, &record.reply)
            {
                state.external = map
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect();
            }
        }
    }
    before.push(state);
    seen.push(Seen::Completed);
    Timeline {
        seen,
        before,
        language: language.to_string(),
        channel: channel.to_string(),
    }
}

impl Timeline {
    fn step_of(&self, pos: usize, steps: usize) -> usize {
        match &self.seen[pos] {
            Seen::Initiated => 0,
            Seen::Block { step } | Seen::Prompt { step, .. } => *step,
            Seen::Completed => steps,
        }
    }
}

/// Words of a text, lower-cased, SSML tags and punctuation dropped.
fn words(text: &str) -> Vec<String> {
    let mut plain = String::new();
    let mut in_tag = false;
    for c in text.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                plain.push(' ');
            }
            c if !in_tag => plain.push(c),
            _ => {}
        }
    }
    plain
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// The local stand-in for Connect's semantic `Similarity`: the Sørensen–Dice coefficient of
/// the two texts' word sets is at least 0.8. It accepts rewordings that keep the words (order,
/// punctuation, case, SSML) and refuses another sentence; it does not know synonyms.
pub fn similar(expected: &str, heard: &str) -> bool {
    let a: BTreeSet<String> = words(expected).into_iter().collect();
    let b: BTreeSet<String> = words(heard).into_iter().collect();
    if a.is_empty() || b.is_empty() {
        return a == b;
    }
    let common = a.intersection(&b).count() as f64;
    2.0 * common / (a.len() + b.len()) as f64 >= 0.8
}

fn matches(expect: &Expect, seen: &Seen, inst: &Instance, run: &ContactRun, st: &State) -> bool {
    match (expect, seen) {
        (Expect::Initiated, Seen::Initiated) | (Expect::Completed, Seen::Completed) => true,
        (
            Expect::Message {
                text,
                prompt_id,
                criteria,
            },
            Seen::Prompt { text: heard, .. },
        ) => {
            if let Some(id) = prompt_id {
                let tail = id.rsplit('/').next().unwrap_or(id);
                if !heard.starts_with("(recorded prompt ")
                    || !(heard.contains(id.as_str()) || heard.contains(tail))
                {
                    return false;
                }
            }
            match (text, criteria) {
                (None, _) => true,
                (Some(t), Criteria::Inclusion) => {
                    heard.contains(t.as_str())
                        || words(heard).join(" ").contains(&words(t).join(" "))
                }
                (Some(t), Criteria::Similarity) => similar(t, heard),
            }
        }
        (
            Expect::FlowAction {
                action_type,
                params,
            },
            Seen::Block { step },
        ) => {
            let Some(s) = run.steps.get(*step) else {
                return false;
            };
            if s.typ != *action_type {
                return false;
            }
            let block = inst.flow(&s.flow).and_then(|f| f.action(&s.block)).cloned();
            params.iter().all(|(k, want)| {
                let same =
                    |have: &str| have == want || have.rsplit('/').next() == Some(want.as_str());
                if k == "LambdaFunctionARN" {
                    return s
                        .lambda
                        .and_then(|i| run.lambda.get(i))
                        .is_some_and(|r| same(&r.call.arn));
                }
                if k.ends_with("QueueId") || k.ends_with("QueueArn") {
                    // The queue the block transfers to: its own, or the working queue.
                    let own = block.as_ref().and_then(|b| b.param_str(k));
                    return match own {
                        Some(q) if !q.starts_with("$.") => same(&q),
                        _ => st
                            .queue
                            .as_ref()
                            .is_some_and(|(arn, name)| same(arn) || name == want),
                    };
                }
                block
                    .as_ref()
                    .and_then(|b| b.param_str(k))
                    .is_some_and(|have| same(&have))
            })
        }
        _ => false,
    }
}

// ---- Execution --------------------------------------------------------------------------------

/// An observation's outcome.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Passed,
    Failed,
    /// Not evaluated: an earlier observation ended the test (EndTest).
    Skipped,
}

#[derive(Clone, Debug, Serialize)]
pub struct ObservationResult {
    pub identifier: String,
    pub status: Status,
    /// Where the event was observed, or why the observation failed.
    pub detail: String,
    /// LogData output and applied actions, in order.
    pub log: Vec<String>,
}

/// The local execution of one test case.
#[derive(Clone, Debug)]
pub struct TestCaseResult {
    pub name: String,
    pub observations: Vec<ObservationResult>,
    /// The contact as it finally ran (with every key and override applied).
    pub run: ContactRun,
    /// How many times the contact was run to apply the test case's inputs.
    pub runs: usize,
    /// The callback contact (`Metadata."mindful-sim".calls_back`), when Mindful called back.
    pub callback: Option<ContactRun>,
}

impl TestCaseResult {
    pub fn passed(&self) -> bool {
        self.observations.iter().all(|o| o.status != Status::Failed)
    }

    /// The contact, then the callback contact if there was one (for coverage).
    pub fn contacts(&self) -> impl Iterator<Item = &ContactRun> {
        std::iter::once(&self.run).chain(self.callback.as_ref())
    }
}

/// Where a test case runs: the host playing the Lambda functions, and Mindful's simulator (when
/// running; its faults and state come from `Metadata."mindful-sim"`).
pub struct Environment<'a> {
    pub host: &'a mut dyn Host,
    pub sim: Option<&'a Sim>,
}

/// Runs the host's functions, except where an override of the test case says otherwise: each
/// override is used once, first in first out, from the block where its observation's event
/// occurred (override page).
struct Overriding<'a> {
    inner: &'a mut dyn Host,
    lambdas: BTreeMap<String, String>,
    steps_done: usize,
    /// (from step, ARN, how, observation).
    pending: Vec<(usize, String, Override, String)>,
    /// (observation, step) of each override used.
    used: Vec<(String, usize)>,
}

impl Host for Overriding<'_> {
    fn invoke(&mut self, call: &LambdaCall) -> LambdaReply {
        let now = self.steps_done;
        let pos = self
            .pending
            .iter()
            .position(|(from, arn, _, _)| *from <= now && *arn == call.arn);
        let Some(pos) = pos else {
            return self.inner.invoke(call);
        };
        let (_, _, how, obs) = self.pending.remove(pos);
        self.used.push((obs, now));
        match how {
            Override::Mock {
                answer,
                delay_seconds,
            } => {
                if delay_seconds > call.timeout.as_secs() {
                    LambdaReply::Timeout
                } else {
                    LambdaReply::Answer(answer)
                }
            }
            Override::Substitute(arn) => match self.lambdas.get(&arn) {
                Some(function) => {
                    let mut c = call.clone();
                    c.arn = arn;
                    c.function = Some(function.clone());
                    self.inner.invoke(&c)
                }
                None => LambdaReply::Failed(format!(
                    "substitute {arn:?} is not mapped to one of our functions"
                )),
            },
        }
    }

    fn on_step(&mut self, step: &Step) {
        self.steps_done += 1;
        self.inner.on_step(step);
    }

    fn keep_waiting(&mut self, queue_seconds: u64) -> bool {
        self.inner.keep_waiting(queue_seconds)
    }
}

const DEFAULT_CUSTOMER: &str = "+13209071234";

/// Run `tc` against `inst` (built by the caller for the test case's `Metadata."flow-runner".stack`).
pub fn run_test_case(
    name: &str,
    tc: &TestCase,
    inst: &Instance,
    env: &mut Environment<'_>,
) -> Result<TestCaseResult, TestCaseError> {
    let planned = plan(tc, inst)?;
    let (local, mindful) = local_setup(tc)?;
    // Set-up that would have no effect is refused, not ignored.
    if mindful.offer_accepted.is_some() && !inst.mindful_makes_offer {
        return Err(TestCaseError::Metadata(
            "\"mindful-sim\".offer_accepted answers Mindful's own offer, but Connect makes the offers here (CallbackOfferedBy=Mindful makes Mindful make them)".into(),
        ));
    }
    if !mindful.calls_back
        && (!local.callback_inject.is_empty() || !mindful.callback_faults.is_empty())
    {
        return Err(TestCaseError::Metadata(
            "callback_inject and callback_faults apply to the callback contact: set \"mindful-sim\".calls_back".into(),
        ));
    }
    let dialled = match &local.dialled {
        Some(d) => d.clone(),
        None => inst
            .numbers
            .keys()
            .next()
            .cloned()
            .ok_or_else(|| TestCaseError::Instance("no number starts a flow".into()))?,
    };
    // A mocked function needs no mapping of its own: the override answers it.
    let mut inst = inst.clone();
    for p in &planned {
        for (_, d) in &p.actions {
            if let Do::Lambda { arn, .. } = d {
                inst.lambdas
                    .entry(arn.clone())
                    .or_insert_with(|| "(overridden in the test case)".into());
            }
        }
    }
    let scenario = |inputs: &BTreeMap<usize, String>| {
        let last = inputs.keys().next_back().copied().map_or(0, |k| k + 1);
        Scenario {
            inputs: (0..last)
                .map(|k| match inputs.get(&k) {
                    Some(d) => Input::Digits(d.clone()),
                    None => Input::Timeout,
                })
                .collect::<VecDeque<_>>(),
            oldest_contact_age: local
                .oldest_contact_age
                .clone()
                .unwrap_or_else(|| "0".into()),
            agents_available: local.agents_available.unwrap_or(0),
            agent: Some(AgentAnswer {
                after_seconds: local.agent_after_seconds.unwrap_or(300),
                user_name: "agent".into(),
            }),
            third_party_answers: local.third_party_answers.unwrap_or(true),
            attributes: local.attributes.clone(),
            inject: injections(&local.inject),
            language: local.language.clone().unwrap_or_else(|| "en-US".into()),
            channel: local.channel.clone().unwrap_or_else(|| "VOICE".into()),
            ..Scenario::default()
        }
    };
    // Keys by input request (the k-th Get customer input block), overrides by step.
    let mut inputs: BTreeMap<usize, String> = BTreeMap::new();
    let mut overrides: Vec<(usize, String, Override, String)> = Vec::new();
    let mut applied: BTreeSet<(usize, usize)> = BTreeSet::new();
    let total_interventions: usize = planned
        .iter()
        .map(|p| {
            p.actions
                .iter()
                .filter(|(_, d)| matches!(d, Do::Dtmf(_) | Do::Lambda { .. }))
                .count()
        })
        .sum();
    let mut runs = 0;
    loop {
        runs += 1;
        if let Some(sim) = env.sim {
            sim.reset();
            sim.clear_faults();
            sim.set_ecbt(mindful.ecbt);
            if let Some(state) = &mindful.widget_status {
                sim.set_widget_status(state, None);
            }
            for f in &mindful.faults {
                sim.set_fault(f.route, f.fault.clone(), f.count);
            }
            for r in &mindful.records {
                if !sim.store_record(&r.customer_contact_number, &r.data_values) {
                    return Err(TestCaseError::Metadata(format!(
                        "\"mindful-sim\".records: {:?} is not a phone number",
                        r.customer_contact_number
                    )));
                }
            }
        } else if !mindful.faults.is_empty()
            || !mindful.records.is_empty()
            || !mindful.callback_faults.is_empty()
            || mindful.ecbt.is_some()
        {
            return Err(TestCaseError::Metadata(
                "\"mindful-sim\" is set but no Mindful simulator runs".into(),
            ));
        }
        let mut host = Overriding {
            inner: &mut *env.host,
            lambdas: inst.lambdas.clone(),
            steps_done: 0,
            pending: overrides.clone(),
            used: Vec::new(),
        };
        let mut sc = scenario(&inputs);
        let call = Call {
            customer: local
                .customer
                .clone()
                .unwrap_or_else(|| DEFAULT_CUSTOMER.into()),
            dialled: dialled.clone(),
            contact_id: format!("test-{name}-{runs}"),
        };
        let run = run_contact(&inst, &mut host, call, &mut sc)?;
        if let Some(sim) = env.sim {
            sim.clear_faults();
        }
        let tl = timeline(&inst, &run, &local.attributes, (&sc.language, &sc.channel));
        let found = match_all(&planned, &tl, &inst, &run);
        // The earliest matched observation with a key or override not yet applied.
        let next = found
            .iter()
            .enumerate()
            .filter_map(|(i, m)| m.map(|pos| (pos, i)))
            .flat_map(|(pos, i)| {
                planned[i]
                    .actions
                    .iter()
                    .enumerate()
                    .filter(|(_, (_, d))| matches!(d, Do::Dtmf(_) | Do::Lambda { .. }))
                    .map(move |(k, _)| (pos, i, k))
            })
            .filter(|(_, i, k)| !applied.contains(&(*i, *k)))
            .min();
        let Some((pos, i, k)) = next else {
            let observations = report(&planned, &found, &tl, &run, &host.used);
            let callback = match (mindful.calls_back, env.sim) {
                (false, _) => None,
                (true, None) => {
                    return Err(TestCaseError::Metadata(
                        "\"mindful-sim\".calls_back is set but no Mindful simulator runs".into(),
                    ))
                }
                (true, Some(sim)) => {
                    call_back(&inst, &mut *env.host, sim, &run, name, (&local, &mindful))?
                }
            };
            return Ok(TestCaseResult {
                name: name.to_string(),
                observations,
                run,
                runs,
                callback,
            });
        };
        if runs > total_interventions + 1 {
            return Err(invalid(
                &planned[i].id,
                "its actions do not settle (the contact changes each time they apply)",
            ));
        }
        applied.insert((i, k));
        let at_step = tl.step_of(pos, run.steps.len());
        match &planned[i].actions[k].1 {
            Do::Dtmf(keys) => {
                // The keys answer the first input request at or after the event.
                let mut ordinal = 0;
                let mut target = None;
                for (n, s) in run.steps.iter().enumerate() {
                    if s.typ == "GetParticipantInput" {
                        if n >= at_step {
                            target = Some(ordinal);
                            break;
                        }
                        ordinal += 1;
                    }
                }
                match target {
                    Some(t) if inputs.contains_key(&t) => {
                        return Err(invalid(
                            &planned[i].id,
                            format!("its DTMF {keys:?} and another observation's both answer input request {}", t + 1),
                        ))
                    }
                    Some(t) => {
                        inputs.insert(t, keys.clone());
                    }
                    // No input request follows: the keys go nowhere; the report says so.
                    None => {}
                }
            }
            Do::Lambda { arn, how } => {
                overrides.push((at_step, arn.clone(), how.clone(), planned[i].id.clone()));
            }
            _ => {}
        }
    }
}

/// Mindful's part after the contact reached the Call Target: its own offer accepted (when it
/// makes the offers), then the callback on the return number, answered by an agent.
fn call_back(
    inst: &Instance,
    host: &mut dyn Host,
    sim: &Sim,
    run: &ContactRun,
    name: &str,
    (local, mindful): (&LocalSetup, &MindfulSetup),
) -> Result<Option<ContactRun>, TestCaseError> {
    let accepts = mindful.offer_accepted.unwrap_or(true);
    let offer = crate::host::mindful_ivr_offer(inst, sim, run, accepts);
    if inst.mindful_makes_offer && !matches!(offer, Some(crate::host::MindfulIvr::Accepted(_))) {
        return Ok(None);
    }
    let mut sc = Scenario {
        agent: Some(AgentAnswer {
            after_seconds: 20,
            user_name: "agent".into(),
        }),
        inject: injections(&local.callback_inject),
        ..Scenario::default()
    };
    sim.clear_faults();
    for f in &mindful.callback_faults {
        sim.set_fault(f.route, f.fault.clone(), f.count);
    }
    let back = crate::host::mindful_calls_back(
        inst,
        host,
        sim,
        run,
        &mut sc,
        format!("test-{name}-callback"),
    );
    sim.clear_faults();
    match back {
        None => Ok(None),
        Some((_, result)) => Ok(Some(result?)),
    }
}

fn injections(list: &[LocalInjection]) -> Vec<Injection> {
    list.iter()
        .map(|i| Injection {
            flow: i.flow.clone(),
            block: i.block.clone(),
            error: i.error.clone(),
            times: i.times.unwrap_or(1),
        })
        .collect()
}

/// The position in the timeline each observation's event matched (`None`: not observed).
/// Connected observations follow their predecessor; unconnected ones may match anywhere. An
/// EndTest ends the timeline where its observation matched.
fn match_all(
    planned: &[Planned],
    tl: &Timeline,
    inst: &Instance,
    run: &ContactRun,
) -> Vec<Option<usize>> {
    let mut end = tl.seen.len();
    loop {
        let mut found: Vec<Option<usize>> = vec![None; planned.len()];
        let mut done = vec![false; planned.len()];
        // Predecessors first.
        while done.iter().any(|d| !d) {
            for (i, p) in planned.iter().enumerate() {
                if done[i] {
                    continue;
                }
                let from = match p.after {
                    None => Some(0),
                    Some(a) if done[a] => found[a].map(|x| x + 1),
                    Some(_) => continue,
                };
                found[i] = from.and_then(|from| {
                    (from..end).find(|&pos| {
                        let completed = matches!(p.expect, Expect::Completed);
                        // TestCompleted is observed when the test ends, EndTest or not.
                        if completed {
                            return pos + 1 == end || matches!(tl.seen[pos], Seen::Completed);
                        }
                        let st = &tl.before[tl.step_of(pos, run.steps.len())];
                        matches(&p.expect, &tl.seen[pos], inst, run, st)
                    })
                });
                done[i] = true;
            }
        }
        let ended = planned
            .iter()
            .zip(&found)
            .filter(|(p, _)| p.actions.iter().any(|(_, d)| matches!(d, Do::End)))
            .filter_map(|(_, f)| *f)
            .min();
        match ended {
            Some(e) if e + 1 < end => end = e + 1,
            _ => return found,
        }
    }
}

fn report(
    planned: &[Planned],
    found: &[Option<usize>],
    tl: &Timeline,
    run: &ContactRun,
    used: &[(String, usize)],
) -> Vec<ObservationResult> {
    let ended_at = planned
        .iter()
        .zip(found)
        .filter(|(p, _)| p.actions.iter().any(|(_, d)| matches!(d, Do::End)))
        .filter_map(|(p, f)| f.map(|x| (x, p.id.clone())))
        .min();
    let steps = run.steps.len();
    let describe = |pos: usize| -> String {
        match &tl.seen[pos] {
            Seen::Initiated => "when the test started".into(),
            Seen::Completed => "when the test completed".into(),
            Seen::Block { step } | Seen::Prompt { step, .. } => {
                let s = &run.steps[*step];
                match &tl.seen[pos] {
                    Seen::Prompt { text, .. } => {
                        format!(
                            "step {} {}: {} ({}) played {text:?}",
                            step + 1,
                            s.flow,
                            s.block,
                            s.typ
                        )
                    }
                    _ => format!("step {} {}: {} ({})", step + 1, s.flow, s.block, s.typ),
                }
            }
        }
    };
    let mut out: Vec<ObservationResult> = Vec::new();
    for (i, p) in planned.iter().enumerate() {
        let mut log = Vec::new();
        let mut failures = Vec::new();
        let status;
        let detail;
        match found[i] {
            None => {
                let blocked = p.after.and_then(|a| match out.get(a) {
                    Some(r) if r.status != Status::Passed => Some(planned[a].id.clone()),
                    _ => None,
                });
                match (blocked, &ended_at) {
                    (Some(a), _) => {
                        let skipped = out
                            .get(p.after.unwrap_or(0))
                            .is_some_and(|r| r.status == Status::Skipped);
                        status = if skipped {
                            Status::Skipped
                        } else {
                            Status::Failed
                        };
                        detail = format!("not reached: observation {a:?} did not pass");
                    }
                    (None, Some((_, by))) => {
                        status = Status::Skipped;
                        detail =
                            format!("not evaluated: observation {by:?} ended the test (EndTest)");
                    }
                    _ => {
                        status = Status::Failed;
                        detail = format!(
                            "{} was not observed{}",
                            describe_expect(&p.expect),
                            match p.after {
                                Some(a) => format!(" after observation {:?}", planned[a].id),
                                None => String::new(),
                            }
                        );
                    }
                }
            }
            Some(pos) => {
                let st = &tl.before[tl.step_of(pos, steps)];
                for (aid, d) in &p.actions {
                    match d {
                        Do::Dtmf(keys) => {
                            let step = tl.step_of(pos, steps);
                            let asked = run.steps[step.min(steps)..]
                                .iter()
                                .position(|s| s.typ == "GetParticipantInput")
                                .map(|n| step + n);
                            match asked {
                                Some(n) => log.push(format!(
                                    "{aid}: caller pressed {keys} at step {} ({})",
                                    n + 1,
                                    run.steps[n].block
                                )),
                                None => failures.push(format!(
                                    "{aid}: DTMF {keys} sent, but the flow asked for no input after the event"
                                )),
                            }
                        }
                        Do::Assert {
                            namespace,
                            operator,
                            operand,
                        } => {
                            let value = state_path(&p.id, namespace)
                                .ok()
                                .and_then(|path| read(&path, st, run, tl));
                            if !assert_holds(operator, value.as_deref(), operand.as_deref()) {
                                failures.push(format!(
                                    "{aid}: {namespace} {operator} {:?} does not hold: the value is {}",
                                    operand.as_deref().unwrap_or(""),
                                    value.map(|v| format!("{v:?}")).unwrap_or_else(|| "not set".into())
                                ));
                            } else {
                                log.push(format!("{aid}: {namespace} {operator} {:?} holds", operand.as_deref().unwrap_or("")));
                            }
                        }
                        Do::Log(v) => log.push(format!("{aid}: log {v}")),
                        Do::End => log.push(format!("{aid}: test ended")),
                        Do::Lambda { arn, .. } => {
                            match used.iter().find(|(o, _)| *o == p.id) {
                                Some((_, s)) => log.push(format!("{aid}: override of {arn} used at step {}", s + 1)),
                                None => log.push(format!("{aid}: override of {arn} not used (the function was not invoked after the event)")),
                            }
                        }
                        Do::Hours => log.push(format!(
                            "{aid}: hours of operation override not used (no flow checks hours of operation)"
                        )),
                    }
                }
                if failures.is_empty() {
                    status = Status::Passed;
                    detail = format!("{} at {}", describe_expect(&p.expect), describe(pos));
                } else {
                    status = Status::Failed;
                    detail = failures.join("; ");
                }
            }
        }
        out.push(ObservationResult {
            identifier: p.id.clone(),
            status,
            detail,
            log,
        });
    }
    out
}

fn describe_expect(e: &Expect) -> String {
    match e {
        Expect::Initiated => "TestInitiated".into(),
        Expect::Completed => "TestCompleted".into(),
        Expect::Message {
            text, prompt_id, ..
        } => match (text, prompt_id) {
            (Some(t), _) => format!("MessageReceived {t:?}"),
            (None, Some(id)) => format!("MessageReceived prompt {id}"),
            (None, None) => "MessageReceived".into(),
        },
        Expect::FlowAction {
            action_type,
            params,
        } => {
            let p: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
            if p.is_empty() {
                format!("FlowActionStarted {action_type}")
            } else {
                format!("FlowActionStarted {action_type} ({})", p.join(", "))
            }
        }
    }
}

fn read(path: &StatePath, st: &State, run: &ContactRun, tl: &Timeline) -> Option<String> {
    match path {
        StatePath::Attribute(k) => st.attributes.get(k).cloned(),
        StatePath::External(k) => st.external.get(k).cloned(),
        StatePath::QueueName => st.queue.as_ref().map(|q| q.1.clone()),
        StatePath::QueueArn => st.queue.as_ref().map(|q| q.0.clone()),
        StatePath::Language => Some(tl.language.clone()),
        StatePath::Channel => Some(tl.channel.clone()),
        StatePath::Customer => Some(run.customer.clone()),
        StatePath::System => Some(run.dialled.clone()),
    }
}

fn assert_holds(operator: &str, value: Option<&str>, operand: Option<&str>) -> bool {
    let num = |s: &str| s.trim().parse::<f64>().ok();
    let (v, o) = (value.unwrap_or(""), operand.unwrap_or(""));
    match operator {
        "Exists" => value.is_some(),
        _ if value.is_none() => false,
        "Equals" => v == o,
        "TextStartsWith" => v.starts_with(o),
        "TextEndsWith" => v.ends_with(o),
        "TextContains" => v.contains(o),
        "NumberGreaterThan" => matches!((num(v), num(o)), (Some(a), Some(b)) if a > b),
        "NumberGreaterOrEqualTo" => matches!((num(v), num(o)), (Some(a), Some(b)) if a >= b),
        "NumberLessThan" => matches!((num(v), num(o)), (Some(a), Some(b)) if a < b),
        "NumberLessOrEqualTo" => matches!((num(v), num(o)), (Some(a), Some(b)) if a <= b),
        _ => false,
    }
}

// ---- The shipped stack --------------------------------------------------------------------------

/// The shipped flows (`infra/template.yaml`) as test cases meet them: the numbers, queues and
/// stack parameters the coverage suite uses, with a test case's `Metadata."flow-runner".stack`
/// on top.
pub mod shipped {
    use std::collections::BTreeMap;

    use crate::engine::Instance;
    use crate::host::{self, Stack};

    pub const MAIN_NUMBER: &str = "+18005550100";
    pub const RETURN_NUMBER: &str = "+18005550199";
    pub const CALL_TARGET: &str = "+13205550100";
    pub const BILLING_QUEUE: &str = "arn:aws:connect:us-east-1:111122223333:instance/00000000-0000-4000-8000-000000000000/queue/7b3e1f2a-9c4d-4e8f-a1b2-c3d4e5f60718";
    pub const DEFAULT_QUEUE: &str = "arn:aws:connect:us-east-1:111122223333:instance/00000000-0000-4000-8000-000000000000/queue/1d6c9e0a-3b2f-4c1d-8e7f-5a4b3c2d1e0f";
    /// A second inbound queue (`"stack": {"InboundQueueArn": …}`): its callers share the one
    /// Call Target and return number with Billing's (infra/tests/two-queues-sales-caller.json).
    pub const SALES_QUEUE: &str = "arn:aws:connect:us-east-1:111122223333:instance/00000000-0000-4000-8000-000000000000/queue/4c2a8d1e-6f3b-4a9c-9d7e-2b1c0e5f4a83";

    /// The stack with `params` over the local defaults.
    pub fn stack(params: &BTreeMap<String, String>) -> Stack {
        let mut all: BTreeMap<String, String> = [
            ("InboundQueueArn", BILLING_QUEUE),
            ("CallbackDefaultQueueArn", DEFAULT_QUEUE),
            ("ReturnRoutingAttribute", "skill"),
            ("MaxCallbackOffers", "3"),
            ("MindfulStatusWidgetId", mindful_sim::DEFAULT_WIDGET_ID),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        all.extend(params.iter().map(|(k, v)| (k.clone(), v.clone())));
        Stack {
            main_number: MAIN_NUMBER.into(),
            return_number: RETURN_NUMBER.into(),
            call_target: CALL_TARGET.into(),
            queues: vec![
                (BILLING_QUEUE.into(), "Billing".into()),
                (DEFAULT_QUEUE.into(), "BasicQueue".into()),
                (SALES_QUEUE.into(), "Sales".into()),
            ],
            params: all,
        }
    }

    /// The shipped instance from the template's text.
    pub fn instance(
        template: &str,
        params: &BTreeMap<String, String>,
    ) -> Result<Instance, super::TestCaseError> {
        host::shipped_instance(template, &stack(params))
            .map_err(|e| super::TestCaseError::Instance(e.to_string()))
    }
}

// ---- Coverage -----------------------------------------------------------------------------------

/// Action and transition coverage of one flow over a set of runs.
#[derive(Clone, Debug, Serialize)]
pub struct FlowCoverage {
    pub flow: String,
    pub actions_run: usize,
    pub actions: usize,
    pub transitions_covered: usize,
    pub transitions: usize,
    /// `block label` of each transition no run took.
    pub uncovered: Vec<String>,
    /// `block label: why` of each transition no run took that Connect never takes ([`explain`]);
    /// a subset of `uncovered`.
    pub explained: Vec<String>,
}

/// Why a flow's transition cannot be taken, by a rule of Connect's (from the block pages), or
/// `None`: only `NextAction`s Connect never takes are explained.
pub fn explain(inst: &Instance, flow: &str, block: &str, label: &str) -> Option<&'static str> {
    let a = inst.flows.iter().find(|f| f.name == flow)?.action(block)?;
    if label != "next" {
        return None;
    }
    match a.typ.as_str() {
        "Compare" | "GetParticipantInput" if a.error_target("NoMatchingCondition").is_some() => Some(
            "no condition matched takes NoMatchingCondition; the NextAction the designer writes next to it is never taken",
        ),
        "TransferToFlow" => Some("a transfer that succeeds continues in the other flow (transfertoflow page); NextAction is not taken"),
        "TransferContactToQueue" => Some("Transfer to queue places the contact in queue and ends the current flow (transfer-to-queue page)"),
        "TransferParticipantToThirdParty" if a.param_str("ContinueFlowExecution").as_deref() == Some("False") => Some(
            "with ContinueFlowExecution False the flow is over once the call connects; NextAction follows only a resumed transfer",
        ),
        _ => None,
    }
}

/// Transitions covered and in all, over every flow, and the percentage covered (100 when there
/// are none).
pub fn coverage_totals(coverage: &[FlowCoverage]) -> (usize, usize, f64) {
    let (covered, total) = coverage.iter().fold((0, 0), |(c, t), f| {
        (c + f.transitions_covered, t + f.transitions)
    });
    let percent = if total == 0 {
        100.0
    } else {
        100.0 * covered as f64 / total as f64
    };
    (covered, total, percent)
}

/// The coverage table (`flow-runner test`, the journey's transcript): a line per flow, then the
/// totals, each transition covered, explained ([`explain`]) or not taken.
pub fn coverage_table(coverage: &[FlowCoverage]) -> Vec<String> {
    let mut lines: Vec<String> = coverage
        .iter()
        .map(|c| {
            let neither = c.uncovered.len() - c.explained.len();
            format!(
                "  {}: actions {}/{}, transitions {}/{} covered + {} explained{}",
                c.flow,
                c.actions_run,
                c.actions,
                c.transitions_covered,
                c.transitions,
                c.explained.len(),
                if neither == 0 {
                    String::new()
                } else {
                    format!(", {neither} not taken")
                }
            )
        })
        .collect();
    let (covered, total, percent) = coverage_totals(coverage);
    let explained: usize = coverage.iter().map(|c| c.explained.len()).sum();
    lines.push(format!(
        "transitions covered: {covered}/{total} ({percent:.1} %), explained {explained}, not taken {}",
        total - covered - explained
    ));
    lines
}

/// Coverage of every flow of `inst` by `runs` (a transition is `(flow, block, branch label)`,
/// as [`ContactRun::covered`] records it).
pub fn coverage<'a>(
    inst: &Instance,
    runs: impl IntoIterator<Item = &'a ContactRun>,
) -> Vec<FlowCoverage> {
    let mut covered = BTreeSet::new();
    let mut executed = BTreeSet::new();
    for r in runs {
        covered.extend(r.covered.iter().cloned());
        executed.extend(r.steps.iter().map(|s| (s.flow.clone(), s.block.clone())));
    }
    inst.flows
        .iter()
        .map(|f| {
            let mut total = 0;
            let (mut uncovered, mut explained) = (Vec::new(), Vec::new());
            for a in &f.actions {
                for (label, _) in a.transitions() {
                    total += 1;
                    if !covered.contains(&(f.name.clone(), a.id.clone(), label.clone())) {
                        uncovered.push(format!("{} {label}", a.id));
                        if let Some(why) = explain(inst, &f.name, &a.id, &label) {
                            explained.push(format!("{} {label}: {why}", a.id));
                        }
                    }
                }
            }
            FlowCoverage {
                flow: f.name.clone(),
                actions_run: f
                    .actions
                    .iter()
                    .filter(|a| executed.contains(&(f.name.clone(), a.id.clone())))
                    .count(),
                actions: f.actions.len(),
                transitions_covered: total - uncovered.len(),
                transitions: total,
                uncovered,
                explained,
            }
        })
        .collect()
}

/// How the contact ended, in a few words (for reports).
pub fn describe_end(end: &End) -> String {
    match end {
        End::Disconnected { flow, block } => format!("disconnected at {flow}: {block}"),
        End::Queued {
            queue_name,
            answered_by: Some(a),
            waited_seconds,
            ..
        } => format!("queued in {queue_name}, answered by {a} after {waited_seconds} s"),
        End::Queued { queue_name, .. } => format!("queued in {queue_name}, still waiting"),
        End::TransferredOut {
            number, to_mindful, ..
        } => format!(
            "transferred to {number}{}",
            if *to_mindful {
                " (the Mindful Call Target)"
            } else {
                ""
            }
        ),
        End::FlowEnded { flow, block } => format!("flow ended at {flow}: {block}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_notes_are_read_back() {
        assert_eq!(
            prompt_text(r#"prompt (Lupe): "El tiempo \"de\" espera""#).as_deref(),
            Some("El tiempo \"de\" espera")
        );
        assert_eq!(prompt_text(r#"prompt: "Hi""#).as_deref(), Some("Hi"));
        assert_eq!(
            prompt_text("prompt: (empty: the caller hears nothing)"),
            None
        );
    }

    #[test]
    fn similarity_accepts_rewording_and_refuses_another_sentence() {
        assert!(similar(
            "the current hold time is about 4 minutes to receive a callback press 1 or stay on the line",
            "<speak>The current hold time is about 4 minutes. To receive a callback, press 1, or stay on the line.</speak>"
        ));
        assert!(!similar(
            "Thank you for holding",
            "The current hold time is about 4 minutes. To receive a callback, press 1."
        ));
    }

    #[test]
    fn wrong_version_and_unknown_event_are_errors() {
        let e = parse(r#"{"Version":"2024-01-01","Observations":[]}"#, "x").unwrap_err();
        assert!(e.to_string().contains("2024-01-01"));
        let tc = parse(
            r#"{"Version":"2025-06-21","Observations":[{"Identifier":"o1","Event":{"Type":"AgentConnected","Actor":"System","Properties":{}}}]}"#,
            "x",
        )
        .unwrap();
        let e = plan(&tc, &Instance::default()).unwrap_err().to_string();
        assert!(e.contains("\"o1\"") && e.contains("AgentConnected"), "{e}");
    }

    #[test]
    fn assert_operators() {
        assert!(assert_holds("Equals", Some("a"), Some("a")));
        assert!(!assert_holds("Equals", None, Some("")));
        assert!(assert_holds("Exists", Some(""), None));
        assert!(assert_holds("NumberGreaterThan", Some("185"), Some("60")));
        assert!(!assert_holds("TextContains", Some("abc"), Some("x")));
    }

    struct NoFunctions;

    impl Host for NoFunctions {
        fn invoke(&mut self, _call: &LambdaCall) -> LambdaReply {
            LambdaReply::Failed("no functions in this test".into())
        }
    }

    /// Welcome, then a menu, then disconnect (no queue, no Lambda).
    fn little_instance() -> Instance {
        let flow = r#"{"Version": "2019-10-30", "StartAction": "welcome", "Actions": [
            {"Identifier": "welcome", "Type": "MessageParticipant", "Parameters": {"Text": "Welcome to Example Corp."}, "Transitions": {"NextAction": "menu", "Errors": [{"NextAction": "bye", "ErrorType": "NoMatchingError"}]}},
            {"Identifier": "menu", "Type": "GetParticipantInput", "Parameters": {"Text": "For sales, press 1.", "StoreInput": "False", "InputTimeLimitSeconds": "5"}, "Transitions": {"NextAction": "bye", "Conditions": [{"NextAction": "thanks", "Condition": {"Operator": "Equals", "Operands": ["1"]}}], "Errors": [{"NextAction": "bye", "ErrorType": "InputTimeLimitExceeded"}, {"NextAction": "bye", "ErrorType": "NoMatchingCondition"}, {"NextAction": "bye", "ErrorType": "NoMatchingError"}]}},
            {"Identifier": "thanks", "Type": "MessageParticipant", "Parameters": {"Text": "Thank you."}, "Transitions": {"NextAction": "bye", "Errors": [{"NextAction": "bye", "ErrorType": "NoMatchingError"}]}},
            {"Identifier": "bye", "Type": "DisconnectParticipant", "Parameters": {}, "Transitions": {}}]}"#;
        let flows = crate::flow::flows_from_json(flow, "little").unwrap();
        Instance {
            numbers: [("+18005550100".to_string(), flows[0].arn.clone())].into(),
            flows,
            ..Instance::default()
        }
    }

    fn run_little(observations: &str) -> Result<TestCaseResult, TestCaseError> {
        let text = format!(r#"{{"Version": "2025-06-21", "Observations": [{observations}]}}"#);
        run_little_text(&text)
    }

    /// Parses a whole test case and runs it on the little instance, with no functions.
    fn run_little_text(text: &str) -> Result<TestCaseResult, TestCaseError> {
        let tc = parse(text, "little")?;
        let mut host = NoFunctions;
        let mut env = Environment {
            host: &mut host,
            sim: None,
        };
        run_test_case("little", &tc, &little_instance(), &mut env)
    }

    #[test]
    fn end_test_skips_what_follows_and_completes_the_test() {
        let r = run_little(
            r#"{"Identifier": "welcome", "Event": {"Type": "MessageReceived", "Properties": {"Text": "Welcome"}},
                "Actions": [{"Identifier": "stop", "Type": "EndTest", "Parameters": {}}],
                "Transitions": {"NextObservations": ["menu"]}},
               {"Identifier": "menu", "Event": {"Type": "MessageReceived", "Properties": {"Text": "press 1"}}},
               {"Identifier": "done", "Event": {"Type": "TestCompleted", "Properties": {}}}"#,
        )
        .unwrap();
        let status: Vec<(&str, &Status)> = r
            .observations
            .iter()
            .map(|o| (o.identifier.as_str(), &o.status))
            .collect();
        assert_eq!(
            status,
            [
                ("welcome", &Status::Passed),
                ("menu", &Status::Skipped),
                ("done", &Status::Passed)
            ]
        );
        assert!(r.passed());
    }

    #[test]
    fn keys_that_no_input_request_follows_fail_the_observation() {
        let r = run_little(
            r#"{"Identifier": "thanks", "Event": {"Type": "MessageReceived", "Properties": {"Text": "Thank you."}},
                "Actions": [{"Identifier": "late", "Type": "SendInstruction", "Parameters": {"Instruction": {"Type": "DtmfInput", "Properties": {"Value": "9"}}}}]},
               {"Identifier": "menu", "Event": {"Type": "MessageReceived", "Properties": {"Text": "press 1"}},
                "Actions": [{"Identifier": "one", "Type": "SendInstruction", "Parameters": {"Instruction": {"Type": "DtmfInput", "Properties": {"Value": "1"}}}}]}"#,
        )
        .unwrap();
        // The menu's key reached "thanks"; the keys sent after it went nowhere.
        let thanks = &r.observations[0];
        assert_eq!(thanks.status, Status::Failed, "{:?}", r.observations);
        assert!(
            thanks.detail.contains("asked for no input"),
            "{}",
            thanks.detail
        );
        assert_eq!(r.observations[1].status, Status::Passed);
    }

    #[test]
    fn callback_set_up_without_a_callback_is_refused() {
        let run = |metadata: &str| {
            let text = format!(
                r#"{{"Version": "2025-06-21", "Metadata": {metadata}, "Observations": [{{"Identifier": "a", "Event": {{"Type": "TestInitiated", "Properties": {{}}}}}}]}}"#
            );
            run_little_text(&text)
        };
        let e = run(
            r#"{"flow-runner": {"callback_inject": [{"block": "b", "error": "NoMatchingError"}]}}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("calls_back"), "{e}");
        let e = run(r#"{"mindful-sim": {"offer_accepted": false}}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("offer_accepted"), "{e}");
        assert!(run(r#"{"flow-runner": {"callback_injection": []}}"#).is_err());
        // Records need the simulator, and have exactly the Datastore POST's fields.
        let e = run(r#"{"mindful-sim": {"records": [{"customer_contact_number": "+13209071234", "data_values": {}}]}}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no Mindful simulator"), "{e}");
        assert!(run(
            r#"{"mindful-sim": {"records": [{"number": "+13209071234", "data_values": {}}]}}"#
        )
        .is_err());
        assert!(run("{}").is_ok_and(|r| r.passed()));
    }

    #[test]
    fn transitions_are_checked() {
        let e = run_little(
            r#"{"Identifier": "a", "Event": {"Type": "TestInitiated", "Properties": {}}, "Transitions": {"NextObservations": ["nowhere"]}}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("\"a\"") && e.contains("nowhere"), "{e}");
        let e = run_little(
            r#"{"Identifier": "a", "Event": {"Type": "TestInitiated", "Properties": {}}, "Transitions": {"NextObservations": ["b"]}},
               {"Identifier": "b", "Event": {"Type": "TestCompleted", "Properties": {}}, "Transitions": {"NextObservations": ["a"]}}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("cycle"), "{e}");
        let e = run_little(
            r#"{"Identifier": "a", "Event": {"Type": "TestInitiated", "Properties": {"Extra": 1}}}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("Extra"), "{e}");
    }
}
