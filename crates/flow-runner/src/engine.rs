//! Executes flows for one contact, block by block, the way Amazon Connect runs them.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::flow::{condition_label, Action, Flow};
use crate::reference::Reference;

/// Largest answer Connect accepts from a function called by a flow (Invoke AWS Lambda function
/// block page, `lambda_block` in the reference: "The response size limit is 32 KB").
pub const MAX_LAMBDA_RESPONSE_BYTES: usize = 32 * 1024;
/// Blocks a flow may run before the runner calls it a loop without progress.
pub const MAX_STEPS: usize = 2_000;

/// What the contact centre around the flows looks like.
#[derive(Clone, Debug, Default)]
pub struct Instance {
    pub flows: Vec<Flow>,
    /// Claimed phone number (E.164) → the ARN of the flow it starts.
    pub numbers: BTreeMap<String, String>,
    /// Queue ARN → name.
    pub queues: BTreeMap<String, String>,
    /// Lambda ARN → one of our functions (`ocw-phrase`, `datastore-proxy`, `agent-answer`).
    pub lambdas: BTreeMap<String, String>,
    /// The Mindful Call Target: a transfer to it hands the caller to Mindful.
    pub mindful_call_target: Option<String>,
    /// The claimed number Mindful's callback dials (the Call Target's "Callback Number").
    pub mindful_return_number: Option<String>,
    /// Mindful makes the callback offer itself (stack `CallbackOfferedBy=Mindful`): a caller
    /// transferred to the Call Target hears Mindful's IVR, which may register a callback or hold
    /// the caller.
    pub mindful_makes_offer: bool,
    pub instance_arn: String,
}

impl Instance {
    /// A flow by ARN, by its id (the ARN's last segment) or by name.
    pub fn flow(&self, reference: &str) -> Option<&Flow> {
        self.flows.iter().find(|f| f.arn == reference).or_else(|| {
            let tail = reference.rsplit('/').next().unwrap_or(reference);
            self.flows
                .iter()
                .find(|f| f.arn.rsplit('/').next() == Some(tail) || f.name == reference)
        })
    }

    fn queue(&self, reference: &str) -> Option<(String, String)> {
        if reference.is_empty() {
            return None;
        }
        self.queues
            .iter()
            .find(|(arn, name)| {
                *arn == reference || arn.rsplit('/').next() == Some(reference) || *name == reference
            })
            .map(|(a, n)| (a.clone(), n.clone()))
    }
}

/// What the caller does when a block asks for input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// Presses these keys.
    Digits(String),
    /// Presses nothing before the block's time limit.
    Timeout,
}

/// An error branch forced on a block, for the failures that come from Connect itself (a queue at
/// capacity, a service error): the block takes `error` as Connect would. Only error types the
/// reference allows for the block's parameters can be injected.
#[derive(Clone, Debug)]
pub struct Injection {
    /// Flow name (or `None`: any flow).
    pub flow: Option<String>,
    pub block: String,
    pub error: String,
    /// How many times (0 = every time).
    pub times: u32,
}

/// The agent who answers the queued contact.
#[derive(Clone, Debug)]
pub struct AgentAnswer {
    /// Seconds in queue before the agent answers.
    pub after_seconds: u64,
    pub user_name: String,
}

/// One contact's script.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Input for each Get customer input block, in order (missing: timeout).
    pub inputs: VecDeque<Input>,
    pub inject: Vec<Injection>,
    /// `$.Metrics.Queue.OldestContactAge` when the contact arrives (seconds; grows while it
    /// waits). Kept as text: a flow passes it on as a string.
    pub oldest_contact_age: String,
    /// `$.Metrics.Agents.Available.Count`.
    pub agents_available: u32,
    pub agent: Option<AgentAnswer>,
    /// How long the runner follows a queued contact that no agent answers.
    pub queue_horizon_seconds: u64,
    /// Whether a transfer to a phone number connects.
    pub third_party_answers: bool,
    /// Contact attributes the contact arrives with.
    pub attributes: BTreeMap<String, String>,
    pub language: String,
    pub channel: String,
    /// `NumberOfContactsInQueue` for *Check queue status* (`CheckMetricData`).
    pub contacts_in_queue: u32,
    /// What *Check hours of operation* finds: in hours (`true`) or out of hours.
    pub in_hours: bool,
    /// What the caller says at each Lex block, in order: the intent Lex recognises (missing:
    /// the caller says nothing before the time limit).
    pub lex_intents: VecDeque<String>,
    /// What the agent chooses at each *Show view* block, in order (missing: no answer before
    /// the time limit).
    pub view_results: VecDeque<String>,
    /// The customer profile *Customer profiles* finds (`None`: none found); `$.Customer.*`.
    pub customer_profile: Option<BTreeMap<String, String>>,
    /// Run the called flow as a customer queue flow: the contact is already in `queue` (the
    /// flow is its `CustomerQueue` hook) instead of arriving on a number.
    pub as_customer_queue: Option<(String, String)>,
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario {
            inputs: VecDeque::new(),
            inject: Vec::new(),
            oldest_contact_age: "0".into(),
            agents_available: 0,
            agent: None,
            queue_horizon_seconds: 3600,
            third_party_answers: true,
            attributes: BTreeMap::new(),
            language: "en-US".into(),
            channel: "VOICE".into(),
            in_hours: true,
            contacts_in_queue: 0,
            lex_intents: VecDeque::new(),
            view_results: VecDeque::new(),
            customer_profile: None,
            as_customer_queue: None,
        }
    }
}

/// A Lambda call as the flow makes it.
#[derive(Clone, Debug)]
pub struct LambdaCall {
    pub flow: String,
    pub block: String,
    pub arn: String,
    /// Our function the ARN is mapped to (`None`: not mapped).
    pub function: Option<String>,
    /// `Details.Parameters`, in the block's order.
    pub parameters: Vec<(String, String)>,
    /// The whole `ContactFlowEvent`.
    pub event: Value,
    /// `InvocationTimeLimitSeconds`.
    pub timeout: Duration,
    pub asynchronous: bool,
}

/// How the call went.
#[derive(Clone, Debug)]
pub enum LambdaReply {
    Answer(Value),
    /// The function reported an error (Runtime API `/error`).
    FunctionError(String),
    /// No answer inside `InvocationTimeLimitSeconds`.
    Timeout,
    /// Not invoked (unmapped ARN, process gone, …).
    Failed(String),
}

/// Where the runner gets its functions and its transcript goes.
pub trait Host {
    fn invoke(&mut self, call: &LambdaCall) -> LambdaReply;
    /// Called after every block (for a live transcript).
    fn on_step(&mut self, _step: &Step) {}
    /// Asked at each Loop prompts interruption while the contact waits in queue: `false` stops
    /// following the contact (it keeps waiting; the run ends there).
    fn keep_waiting(&mut self, _queue_seconds: u64) -> bool {
        true
    }
}

/// One block executed.
#[derive(Clone, Debug)]
pub struct Step {
    pub flow: String,
    pub block: String,
    pub typ: String,
    /// `next`, `condition:Equals 1`, an error type, or `end`.
    pub branch: String,
    pub target: Option<String>,
    /// What happened: prompts, input, values set, why an error branch was taken.
    pub notes: Vec<String>,
    pub injected: bool,
    /// Seconds the contact has been in queue.
    pub queue_seconds: u64,
    /// Index into [`ContactRun::lambda`] for an InvokeLambdaFunction block.
    pub lambda: Option<usize>,
}

/// How the contact left the flows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum End {
    Disconnected {
        flow: String,
        block: String,
    },
    /// In queue; answered by `answered_by` after `waited_seconds`, or still waiting then.
    Queued {
        queue_arn: String,
        queue_name: String,
        answered_by: Option<String>,
        waited_seconds: u64,
    },
    /// Transferred to a phone number (the flow is over).
    TransferredOut {
        number: String,
        to_mindful: bool,
        flow: String,
        block: String,
    },
    /// The flow ended with no queue and no transfer (EndFlowExecution in a contact flow).
    FlowEnded {
        flow: String,
        block: String,
    },
}

/// A Lambda call and its reply.
#[derive(Clone, Debug)]
pub struct LambdaRecord {
    pub call: LambdaCall,
    pub reply: LambdaReply,
    /// Why Connect took the error branch, if it did.
    pub rejected: Option<String>,
}

/// The whole run of one contact.
#[derive(Clone, Debug)]
pub struct ContactRun {
    pub contact_id: String,
    pub customer: String,
    pub dialled: String,
    pub end: End,
    pub steps: Vec<Step>,
    pub lambda: Vec<LambdaRecord>,
    pub attributes: BTreeMap<String, String>,
    /// (flow, block, branch) taken.
    pub covered: BTreeSet<(String, String, String)>,
}

/// The runner could not go on: an unsupported block, a missing flow, a loop without progress.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunError {
    pub flow: String,
    pub block: String,
    pub message: String,
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}: {}", self.flow, self.block, self.message)
    }
}

impl std::error::Error for RunError {}

/// A call into a claimed number.
#[derive(Clone, Debug)]
pub struct Call {
    pub customer: String,
    pub dialled: String,
    pub contact_id: String,
}

enum Exit {
    Disconnected(String, String),
    Queued,
    TransferredOut(String, bool, String, String),
    Ended(String, String),
    AgentAnswered,
    StillWaiting,
    /// EndFlowModuleExecution: back to the flow that invoked the module.
    ModuleEnded(String, String),
}

struct Wait {
    elapsed: u64,
}

struct Ctx<'a> {
    inst: &'a Instance,
    host: &'a mut dyn Host,
    sc: &'a mut Scenario,
    call: Call,
    attributes: BTreeMap<String, String>,
    external: BTreeMap<String, String>,
    metrics: Option<BTreeMap<String, String>>,
    queue: Option<(String, String)>,
    hooks: BTreeMap<String, String>,
    stored_input: Option<String>,
    agent: Option<String>,
    flow_attributes: BTreeMap<String, String>,
    invocation_id: Option<String>,
    /// The Polly voice set by *Set voice* (`None`: Connect's default, Joanna).
    voice: Option<String>,
    wait: Option<Wait>,
    steps: Vec<Step>,
    lambda: Vec<LambdaRecord>,
    covered: BTreeSet<(String, String, String)>,
    count: usize,
    /// Times each Loop block (flow, block) said ContinueLooping since it last said DoneLooping.
    loops: BTreeMap<(String, String), u64>,
    /// Modules being run (invoked from a flow), innermost last.
    modules: Vec<String>,
    /// `$.Lex.IntentName` after a Lex block.
    lex_intent: Option<String>,
    /// `$.Customer.*` after *Customer profiles* found one.
    customer: BTreeMap<String, String>,
}

fn rerr(flow: &Flow, block: &str, message: impl Into<String>) -> RunError {
    RunError {
        flow: flow.name.clone(),
        block: block.to_string(),
        message: message.into(),
    }
}

/// Run the flow claimed by `call.dialled` for one contact, through its queue (customer queue
/// flow, agent answer, customer whisper) when it gets there.
pub fn run_contact(
    inst: &Instance,
    host: &mut dyn Host,
    call: Call,
    sc: &mut Scenario,
) -> Result<ContactRun, RunError> {
    let start = inst
        .numbers
        .get(&call.dialled)
        .cloned()
        .ok_or_else(|| RunError {
            flow: "-".into(),
            block: "-".into(),
            message: format!("{} is not claimed by a flow of the instance", call.dialled),
        })?;
    let mut ctx = Ctx {
        inst,
        host,
        attributes: sc.attributes.clone(),
        sc,
        call,
        external: BTreeMap::new(),
        metrics: None,
        queue: None,
        hooks: BTreeMap::new(),
        stored_input: None,
        agent: None,
        flow_attributes: BTreeMap::new(),
        invocation_id: None,
        voice: None,
        wait: None,
        steps: Vec::new(),
        lambda: Vec::new(),
        covered: BTreeSet::new(),
        count: 0,
        loops: BTreeMap::new(),
        modules: Vec::new(),
        lex_intent: None,
        customer: BTreeMap::new(),
    };
    let end = match ctx.sc.as_customer_queue.clone() {
        Some(queue) => {
            ctx.queue = Some(queue);
            ctx.hooks.insert("CustomerQueue".into(), start);
            ctx.in_queue()?
        }
        None => ctx.contact(&start)?,
    };
    Ok(ContactRun {
        contact_id: ctx.call.contact_id.clone(),
        customer: ctx.call.customer.clone(),
        dialled: ctx.call.dialled.clone(),
        end,
        steps: ctx.steps,
        lambda: ctx.lambda,
        attributes: ctx.attributes,
        covered: ctx.covered,
    })
}

impl Ctx<'_> {
    fn contact(&mut self, start: &str) -> Result<End, RunError> {
        match self.run_flow(start)? {
            Exit::Disconnected(flow, block) => Ok(End::Disconnected { flow, block }),
            Exit::TransferredOut(number, to_mindful, flow, block) => Ok(End::TransferredOut {
                number,
                to_mindful,
                flow,
                block,
            }),
            Exit::Ended(flow, block) | Exit::ModuleEnded(flow, block) => {
                Ok(End::FlowEnded { flow, block })
            }
            Exit::Queued => self.in_queue(),
            Exit::AgentAnswered | Exit::StillWaiting => self.in_queue(),
        }
    }

    /// The contact waits in queue: the customer queue flow (if one is set) runs, restarting
    /// whenever it ends, until an agent answers, the contact leaves, or the horizon.
    fn in_queue(&mut self) -> Result<End, RunError> {
        self.wait = Some(Wait { elapsed: 0 });
        let agent_at = self.sc.agent.as_ref().map(|a| a.after_seconds);
        let horizon = self.sc.queue_horizon_seconds;
        let mut answered = false;
        if let Some(qf) = self.hooks.get("CustomerQueue").cloned() {
            let mut idle_restarts = 0;
            loop {
                let before = self.elapsed();
                match self.run_flow(&qf)? {
                    Exit::AgentAnswered => {
                        answered = true;
                        break;
                    }
                    Exit::StillWaiting => break,
                    Exit::Disconnected(flow, block) => {
                        return Ok(End::Disconnected { flow, block })
                    }
                    Exit::TransferredOut(number, to_mindful, flow, block) => {
                        return Ok(End::TransferredOut {
                            number,
                            to_mindful,
                            flow,
                            block,
                        })
                    }
                    Exit::Ended(flow, block) if self.elapsed() == before => {
                        idle_restarts += 1;
                        if idle_restarts > 3 {
                            return Err(RunError {
                                flow,
                                block,
                                message: "the customer queue flow ends and restarts without ever waiting (no Loop prompts interruption)".into(),
                            });
                        }
                    }
                    Exit::Ended(..) | Exit::ModuleEnded(..) | Exit::Queued => idle_restarts = 0,
                }
            }
        } else {
            answered = agent_at.is_some_and(|t| t <= horizon);
        }
        let (queue_arn, queue_name) = self.queue.clone().unwrap_or_default();
        // An answer needs a scripted agent; without one the contact is still waiting.
        let agent = match (answered, self.sc.agent.clone()) {
            (true, Some(agent)) => agent,
            _ => {
                return Ok(End::Queued {
                    queue_arn,
                    queue_name,
                    answered_by: None,
                    waited_seconds: horizon,
                })
            }
        };
        self.set_elapsed(agent.after_seconds);
        self.agent = Some(agent.user_name.clone());
        if let Some(wf) = self.hooks.get("CustomerWhisper").cloned() {
            // The whisper runs when the agent answers; any exit joins the agent and the caller.
            let _ = self.run_flow(&wf)?;
        }
        Ok(End::Queued {
            queue_arn,
            queue_name,
            answered_by: Some(agent.user_name),
            waited_seconds: agent.after_seconds,
        })
    }

    fn elapsed(&self) -> u64 {
        self.wait.as_ref().map(|w| w.elapsed).unwrap_or(0)
    }

    fn set_elapsed(&mut self, s: u64) {
        if let Some(w) = self.wait.as_mut() {
            w.elapsed = s;
        }
    }

    fn run_flow(&mut self, reference: &str) -> Result<Exit, RunError> {
        let inst = self.inst;
        let flow = inst.flow(reference).ok_or_else(|| RunError {
            flow: reference.to_string(),
            block: "-".into(),
            message: "no such flow in the instance".into(),
        })?;
        let mut current = flow.start.clone();
        loop {
            self.count += 1;
            if self.count > MAX_STEPS {
                return Err(rerr(
                    flow,
                    &current,
                    format!(
                        "more than {MAX_STEPS} blocks for one contact: a loop without progress"
                    ),
                ));
            }
            let action = flow.action(&current).ok_or_else(|| {
                rerr(
                    flow,
                    &current,
                    "transition to an action that does not exist",
                )
            })?;
            let mut step = Step {
                flow: flow.name.clone(),
                block: action.id.clone(),
                typ: action.typ.clone(),
                branch: String::new(),
                target: None,
                notes: Vec::new(),
                injected: false,
                queue_seconds: self.elapsed(),
                lambda: None,
            };
            let outcome = self.execute(flow, action, &mut step)?;
            match outcome {
                Go::Branch(branch) => {
                    let (label, target) = resolve_branch(flow, action, &branch)?;
                    step.branch = label.clone();
                    step.target = Some(target.clone());
                    self.covered
                        .insert((flow.name.clone(), action.id.clone(), label));
                    self.finish(step);
                    current = target;
                }
                Go::Exit(exit) => {
                    step.branch = "end".into();
                    self.finish(step);
                    return Ok(exit);
                }
                Go::Flow(target) => {
                    step.branch = "transfer".into();
                    self.finish(step);
                    return self.run_flow(&target);
                }
            }
        }
    }

    fn finish(&mut self, step: Step) {
        self.host.on_step(&step);
        self.steps.push(step);
    }

    fn injected(&mut self, flow: &Flow, action: &Action) -> Option<String> {
        let i = self.sc.inject.iter().position(|inj| {
            inj.block == action.id && inj.flow.as_ref().is_none_or(|f| *f == flow.name)
        })?;
        let error = self.sc.inject[i].error.clone();
        match self.sc.inject[i].times {
            0 => {}
            1 => {
                self.sc.inject.remove(i);
            }
            n => self.sc.inject[i].times = n - 1,
        }
        Some(error)
    }

    fn execute(&mut self, flow: &Flow, a: &Action, step: &mut Step) -> Result<Go, RunError> {
        let reference = Reference::get();
        let Some(row) = reference.row(&a.typ) else {
            return Err(rerr(
                flow,
                &a.id,
                format!(
                    "action type {:?} is not supported (no row in infra/flow-reference.json)",
                    a.typ
                ),
            ));
        };
        if let Some(error) = self.injected(flow, a) {
            if !row.allowed_errors(&a.params).contains(&error) {
                return Err(rerr(flow, &a.id, format!("cannot inject {error}: the reference does not allow it for {} with these parameters ({})", a.typ, row.page)));
            }
            step.injected = true;
            step.notes.push(format!("{error} (injected failure)"));
            return Ok(Go::Branch(Branch::Error(error)));
        }
        let p = |name: &str| a.param_str(name);
        Ok(match a.typ.as_str() {
            "UpdateFlowLoggingBehavior" => Go::Branch(Branch::Next),
            "UpdateContactAttributes" => {
                let attrs = match a.params.get("Attributes") {
                    Some(Value::Object(o)) => o.clone(),
                    other => return Err(rerr(flow, &a.id, format!("Attributes must be an object of key/value pairs, not {} ({})", other.map_or("missing".to_string(), |v| v.to_string()), row.page))),
                };
                for (k, v) in attrs {
                    let v = self.value(&v, &mut step.notes);
                    step.notes.push(if v.is_empty() { format!("set attribute {k}=\"\"") } else { format!("set attribute {k}={v}") });
                    self.attributes.insert(k, v);
                }
                Go::Branch(Branch::Next)
            }
            "UpdateContactTargetQueue" => {
                let q = p("QueueId").or_else(|| p("AgentId").map(|a| format!("agent:{a}"))).unwrap_or_default();
                let q = self.text(&q, &mut step.notes);
                if let Some(agent) = q.strip_prefix("agent:") {
                    self.queue = Some((format!("agent/{agent}"), format!("agent {agent}")));
                    step.notes.push(format!("working queue: agent {agent}"));
                    Go::Branch(Branch::Next)
                } else if let Some((arn, name)) = self.inst.queue(&q) {
                    step.notes.push(format!("working queue: {name}"));
                    self.queue = Some((arn, name));
                    Go::Branch(Branch::Next)
                } else {
                    step.notes.push(format!("{q:?} is not a queue of the instance"));
                    Go::Branch(Branch::Error("NoMatchingError".into()))
                }
            }
            "UpdateContactRoutingBehavior" => {
                if let Some(prio) = p("QueuePriority") {
                    step.notes.push(format!("queue priority {prio}"));
                }
                Go::Branch(Branch::Next)
            }
            "UpdateContactEventHooks" => {
                let hooks = match a.params.get("EventHooks") {
                    Some(Value::Object(o)) => o.clone(),
                    other => return Err(rerr(flow, &a.id, format!("EventHooks must be an object, not {} ({})", other.map_or("missing".to_string(), |v| v.to_string()), row.page))),
                };
                if let Some(k) = hooks.keys().find(|k| !reference.event_hooks.contains(*k)) {
                    return Err(rerr(flow, &a.id, format!("{k:?} is not an event hook ({})", row.page)));
                }
                let mut ok = true;
                for (hook, target) in hooks {
                    let target = self.value(&target, &mut step.notes);
                    match self.inst.flow(&target) {
                        Some(f) => {
                            step.notes.push(format!("{hook} flow = {}", f.name));
                            self.hooks.insert(hook, f.arn.clone());
                        }
                        None => {
                            step.notes.push(format!("{hook}: {target:?} is not a flow of the instance"));
                            ok = false;
                        }
                    }
                }
                if ok { Go::Branch(Branch::Next) } else { Go::Branch(Branch::Error("NoMatchingError".into())) }
            }
            "Compare" => {
                let value = self.text(&p("ComparisonValue").unwrap_or_default(), &mut step.notes);
                step.notes.push(format!("{} = {value:?}", p("ComparisonValue").unwrap_or_default()));
                if let Some(c) = a.conditions.iter().find(|c| !reference.compare_operators.contains(&c.operator)) {
                    return Err(rerr(flow, &a.id, format!("Compare operator {:?} is not one the reference knows ({})", c.operator, reference.page("compare"))));
                }
                match a.conditions.iter().position(|c| compare(&c.operator, &value, &c.operands)) {
                    Some(i) => Go::Branch(Branch::Condition(i)),
                    None => Go::Branch(Branch::NoMatch),
                }
            }
            "GetMetricData" => {
                let queue = match p("QueueId") {
                    Some(q) => self.inst.queue(&self.text(&q, &mut step.notes)),
                    None => self.queue.clone(),
                };
                match queue {
                    None => {
                        step.notes.push("no queue to read metrics of".into());
                        Go::Branch(Branch::Error("NoMatchingError".into()))
                    }
                    Some((arn, name)) => {
                        let age = later(&self.sc.oldest_contact_age, self.elapsed());
                        let mut m = BTreeMap::new();
                        m.insert("Queue.OldestContactAge".to_string(), age.clone());
                        m.insert("Agents.Available.Count".to_string(), self.sc.agents_available.to_string());
                        m.insert("Queue.Name".to_string(), name.clone());
                        m.insert("Queue.ARN".to_string(), arn);
                        step.notes.push(format!("metrics of {name}: OldestContactAge {age} s, agents available {}", self.sc.agents_available));
                        self.metrics = Some(m);
                        Go::Branch(Branch::Next)
                    }
                }
            }
            "InvokeLambdaFunction" => self.invoke(flow, a, step)?,
            "UpdateContactTextToSpeechVoice" => {
                let voice = self.text(&p("TextToSpeechVoice").unwrap_or_default(), &mut step.notes);
                // "Results in error if voice or engine are invalid" (the action's page); a Polly
                // voice name is one word of letters.
                if (2..=20).contains(&voice.chars().count()) && voice.chars().all(char::is_alphabetic) {
                    step.notes.push(format!("text-to-speech voice: {voice}"));
                    self.voice = Some(voice);
                    Go::Branch(Branch::Next)
                } else {
                    step.notes.push(format!("{voice:?} is not an Amazon Polly voice: the voice stays {}", self.voice.as_deref().unwrap_or("Joanna")));
                    Go::Branch(Branch::Error("NoMatchingError".into()))
                }
            }
            "MessageParticipant" => {
                let text = self.prompt(a, &mut step.notes);
                self.heard(&text, &mut step.notes);
                Go::Branch(Branch::Next)
            }
            "MessageParticipantIteratively" => {
                let messages: Vec<String> = a.params.get("Messages").and_then(Value::as_array).into_iter().flatten()
                    .filter_map(|m| m.get("SSML").or_else(|| m.get("Text")).and_then(Value::as_str).map(str::to_string))
                    .collect();
                for m in messages {
                    let t = self.text(&m, &mut step.notes);
                    self.heard(&without_markup(&t), &mut step.notes);
                }
                let freq = p("InterruptFrequencySeconds").and_then(|s| s.trim().parse::<u64>().ok());
                let Some(wait) = self.wait.as_ref() else {
                    return Err(rerr(flow, &a.id, "Loop prompts outside a queue: the caller is in no queue to wait in (a queue or hold flow runs as one with --as customer-queue, Scenario::as_customer_queue)"));
                };
                let now = wait.elapsed;
                let agent_at = self.sc.agent.as_ref().map(|x| x.after_seconds);
                let horizon = self.sc.queue_horizon_seconds;
                let next = freq.map(|f| now + f.max(1));
                match (next, agent_at) {
                    (_, Some(t)) if next.is_none_or(|n| t < n) && t <= horizon => {
                        step.notes.push(format!("Loop prompts; an agent answers at {t} s in queue"));
                        Go::Exit(Exit::AgentAnswered)
                    }
                    (Some(n), _) if n <= horizon && !self.host.keep_waiting(n) => {
                        step.notes.push(format!("at {n} s in queue the run stops following the contact"));
                        Go::Exit(Exit::StillWaiting)
                    }
                    (Some(n), _) if n <= horizon => {
                        self.set_elapsed(n);
                        step.notes.push(format!("Loop prompts interrupted at {n} s in queue"));
                        match a.conditions.iter().position(|c| c.operands.iter().any(|o| o == "MessagesInterrupted")) {
                            Some(i) => Go::Branch(Branch::Condition(i)),
                            None => Go::Exit(Exit::StillWaiting),
                        }
                    }
                    _ => {
                        step.notes.push(format!("Loop prompts until the horizon ({horizon} s): no agent answers"));
                        Go::Exit(Exit::StillWaiting)
                    }
                }
            }
            "GetParticipantInput" => {
                let text = self.prompt(a, &mut step.notes);
                self.heard(&text, &mut step.notes);
                let input = self.sc.inputs.pop_front().unwrap_or(Input::Timeout);
                let store = p("StoreInput").as_deref() == Some("True");
                match input {
                    Input::Digits(d) if store => {
                        step.notes.push(format!("caller enters {d}"));
                        self.stored_input = Some(d);
                        Go::Branch(Branch::Next)
                    }
                    Input::Digits(d) => {
                        step.notes.push(format!("caller presses {d}"));
                        match a.conditions.iter().position(|c| compare(&c.operator, &d, &c.operands)) {
                            Some(i) => Go::Branch(Branch::Condition(i)),
                            None => Go::Branch(Branch::NoMatch),
                        }
                    }
                    Input::Timeout => {
                        step.notes.push(format!("caller presses nothing for {} s", p("InputTimeLimitSeconds").unwrap_or_default()));
                        if store {
                            self.stored_input = Some(String::new());
                            Go::Branch(Branch::Next)
                        } else {
                            Go::Branch(Branch::Error("InputTimeLimitExceeded".into()))
                        }
                    }
                }
            }
            "TransferParticipantToThirdParty" => {
                let number = self.text(&p("ThirdPartyPhoneNumber").unwrap_or_default(), &mut step.notes);
                let to_mindful = self.inst.mindful_call_target.as_deref() == Some(number.as_str());
                let resume = p("ContinueFlowExecution").as_deref() != Some("False");
                let who = if to_mindful { "the Mindful Call Target" } else { "a third party" };
                if !self.sc.third_party_answers {
                    step.notes.push(format!("the call to {number} ({who}) is not connected"));
                    let allowed = row.allowed_errors(&a.params);
                    return Ok(Go::Branch(Branch::Error(if allowed.contains("CallFailed") { "CallFailed" } else { "NoMatchingError" }.into())));
                }
                if resume {
                    step.notes.push(format!("{number} ({who}) answers, talks, hangs up; the flow resumes"));
                    Go::Branch(Branch::Next)
                } else {
                    step.notes.push(format!("{number} ({who}) answers; the caller belongs to them, the flow is over"));
                    Go::Exit(Exit::TransferredOut(number, to_mindful, flow.name.clone(), a.id.clone()))
                }
            }
            "TransferToFlow" => {
                let target = self.text(&p("ContactFlowId").unwrap_or_default(), &mut step.notes);
                match self.inst.flow(&target) {
                    Some(f) => {
                        step.notes.push(format!("to flow {}", f.name));
                        Go::Flow(f.arn.clone())
                    }
                    None => {
                        step.notes.push(format!("{target:?} is not a flow of the instance"));
                        Go::Branch(Branch::Error("NoMatchingError".into()))
                    }
                }
            }
            "TransferContactToQueue" => match &self.queue {
                Some((_, name)) => {
                    step.notes.push(format!("the caller waits in {name}; the flow ends"));
                    Go::Exit(Exit::Queued)
                }
                None => {
                    step.notes.push("no working queue set".into());
                    Go::Branch(Branch::Error("NoMatchingError".into()))
                }
            },
            "DequeueContactAndTransferToQueue" => {
                let q = p("QueueId").unwrap_or_default();
                match self.inst.queue(&self.text(&q, &mut step.notes)) {
                    Some((arn, name)) => {
                        step.notes.push(format!("moved to queue {name}"));
                        self.queue = Some((arn, name));
                        Go::Exit(Exit::Queued)
                    }
                    None => Go::Branch(Branch::Error("NoMatchingError".into())),
                }
            }
            "UpdateFlowAttributes" => {
                let attrs = match a.params.get("FlowAttributes") {
                    Some(Value::Object(o)) => o.clone(),
                    other => return Err(rerr(flow, &a.id, format!("FlowAttributes must be an object, not {} ({})", other.map_or("missing".to_string(), |v| v.to_string()), row.page))),
                };
                for (k, v) in attrs {
                    // {"key": {"Value": "..."}} as the designer writes it, or {"key": "..."}.
                    let raw = match &v {
                        Value::Object(o) => o.get("Value").cloned().unwrap_or(Value::Null),
                        other => other.clone(),
                    };
                    let Some(text) = raw.as_str() else {
                        return Err(rerr(flow, &a.id, format!("flow attribute {k}: {v} has no string Value ({})", row.page)));
                    };
                    let value = self.text(text, &mut step.notes);
                    step.notes.push(format!("set flow attribute {k}={value}"));
                    self.flow_attributes.insert(k, value);
                }
                Go::Branch(Branch::Next)
            }
            "UpdateContactRecordingBehavior" => {
                let rb = a.params.get("RecordingBehavior");
                let who: Vec<String> = rb.and_then(|r| r.get("RecordedParticipants")).and_then(Value::as_array).into_iter().flatten().filter_map(|x| x.as_str().map(str::to_string)).collect();
                let ivr = rb.and_then(|r| r.get("IVRRecordingBehavior")).and_then(Value::as_str).unwrap_or("not set");
                let analytics = a.params.get("AnalyticsBehavior").and_then(|x| x.get("Enabled")).and_then(Value::as_str).unwrap_or("False");
                step.notes.push(format!(
                    "recording: {} (IVR recording {ivr}; analytics {analytics})",
                    if who.is_empty() { "off".to_string() } else { who.join(" and ") }
                ));
                Go::Branch(Branch::Next)
            }
            "UpdateContactMediaStreamingBehavior" => {
                step.notes.push(format!("media streaming {}", p("MediaStreamingState").unwrap_or_default()));
                Go::Branch(Branch::Next)
            }
            "Loop" => {
                let raw = p("LoopCount").unwrap_or_default();
                let text = self.text(&raw, &mut step.notes);
                let Some(count) = text.trim().parse::<u64>().ok().filter(|n| *n <= 100) else {
                    return Err(rerr(flow, &a.id, format!("LoopCount {text:?} is not a whole number from 0 to 100 ({})", row.page)));
                };
                let key = (flow.name.clone(), a.id.clone());
                let done = self.loops.get(&key).copied().unwrap_or(0);
                let result = if done < count {
                    self.loops.insert(key, done + 1);
                    step.notes.push(format!("loop {} of {count}", done + 1));
                    "ContinueLooping"
                } else {
                    self.loops.remove(&key);
                    step.notes.push(format!("looped {count} times: done"));
                    "DoneLooping"
                };
                match a.conditions.iter().position(|c| c.operands.iter().any(|o| o == result)) {
                    Some(i) => Go::Branch(Branch::Condition(i)),
                    None => return Err(rerr(flow, &a.id, format!("Loop has no condition for {result} ({})", row.page))),
                }
            }
            "CheckMetricData" => {
                let metric = p("MetricType").unwrap_or_default();
                let value = match metric.as_str() {
                    "NumberOfAgentsAvailable" | "NumberOfAgentsOnline" | "NumberOfAgentsStaffed" => self.sc.agents_available.to_string(),
                    "OldestContactInQueueAgeSeconds" => later(&self.sc.oldest_contact_age, self.elapsed()),
                    "NumberOfContactsInQueue" => self.sc.contacts_in_queue.to_string(),
                    other => return Err(rerr(flow, &a.id, format!("CheckMetricData MetricType {other:?} is not one the reference knows ({})", row.page))),
                };
                step.notes.push(format!("{metric} = {value} (scripted)"));
                if let Some(c) = a.conditions.iter().find(|c| !reference.compare_operators.contains(&c.operator)) {
                    return Err(rerr(flow, &a.id, format!("operator {:?} is not one the reference knows ({})", c.operator, row.page)));
                }
                match a.conditions.iter().position(|c| compare(&c.operator, &value, &c.operands)) {
                    Some(i) => Go::Branch(Branch::Condition(i)),
                    None => Go::Branch(Branch::NoMatch),
                }
            }
            "CheckHoursOfOperation" => {
                let which = p("HoursOfOperationId").map(|h| self.text(&h, &mut step.notes)).unwrap_or_else(|| "the working queue's hours".into());
                let result = if self.sc.in_hours { "True" } else { "False" };
                step.notes.push(format!("{which}: {} (scripted)", if self.sc.in_hours { "in hours" } else { "out of hours" }));
                match a.conditions.iter().position(|c| c.operands.iter().any(|o| o == result)) {
                    Some(i) => Go::Branch(Branch::Condition(i)),
                    None => return Err(rerr(flow, &a.id, format!("CheckHoursOfOperation has no condition for {result} ({})", row.page))),
                }
            }
            "InvokeFlowModule" => {
                let target = self.text(&p("FlowModuleId").unwrap_or_default(), &mut step.notes);
                match self.inst.flow(&target) {
                    None => {
                        step.notes.push(format!("{target:?} is not a module of the instance"));
                        Go::Branch(Branch::Error("NoMatchingError".into()))
                    }
                    Some(m) if self.modules.contains(&m.arn) || self.modules.len() >= 10 => {
                        return Err(rerr(flow, &a.id, format!("module {} invokes itself (or modules nest deeper than 10)", m.name)));
                    }
                    Some(m) => {
                        step.notes.push(format!("invokes module {}", m.name));
                        let arn = m.arn.clone();
                        self.modules.push(arn.clone());
                        let exit = self.run_flow(&arn);
                        self.modules.pop();
                        match exit? {
                            Exit::ModuleEnded(..) => Go::Branch(Branch::Next),
                            other => Go::Exit(other),
                        }
                    }
                }
            }
            "EndFlowModuleExecution" => Go::Exit(Exit::ModuleEnded(flow.name.clone(), a.id.clone())),
            "ConnectParticipantWithLexBot" => {
                let text = self.prompt(a, &mut step.notes);
                self.heard(&text, &mut step.notes);
                match self.sc.lex_intents.pop_front() {
                    None => {
                        step.notes.push("the caller says nothing Lex recognises before the time limit (no intent scripted)".into());
                        Go::Branch(Branch::Error("InputTimeLimitExceeded".into()))
                    }
                    Some(intent) => {
                        step.notes.push(format!("Lex intent {intent}"));
                        self.lex_intent = Some(intent.clone());
                        match a.conditions.iter().position(|c| compare(&c.operator, &intent, &c.operands)) {
                            Some(i) => Go::Branch(Branch::Condition(i)),
                            None => Go::Branch(Branch::NoMatch),
                        }
                    }
                }
            }
            "ShowView" => {
                let view = a.params.get("ViewResource").and_then(|v| v.get("Id")).and_then(Value::as_str).unwrap_or("?").to_string();
                match self.sc.view_results.pop_front() {
                    None => {
                        step.notes.push(format!("view {view}: no answer before the time limit (no result scripted)"));
                        Go::Branch(Branch::Error("TimeLimitExceeded".into()))
                    }
                    Some(result) => {
                        step.notes.push(format!("view {view}: the agent chooses {result}"));
                        match a.conditions.iter().position(|c| compare(&c.operator, &result, &c.operands)) {
                            Some(i) => Go::Branch(Branch::Condition(i)),
                            None => Go::Branch(Branch::NoMatch),
                        }
                    }
                }
            }
            "GetCustomerProfile" => match self.sc.customer_profile.clone() {
                None => {
                    step.notes.push("no customer profile found (none scripted)".into());
                    Go::Branch(Branch::Error("NoneFoundError".into()))
                }
                Some(profile) => {
                    step.notes.push(format!("customer profile found: {}", profile.keys().cloned().collect::<Vec<_>>().join(", ")));
                    self.customer = profile;
                    Go::Branch(Branch::Next)
                }
            },
            "CreateCustomerProfile" => {
                step.notes.push("customer profile created".into());
                Go::Branch(Branch::Next)
            }
            "UpdateContactData" => {
                let fields: Vec<String> = a.params.iter().map(|(k, v)| format!("{k}={}", self.value(v, &mut Vec::new()))).collect();
                step.notes.push(format!("contact data: {}", fields.join(", ")));
                Go::Branch(Branch::Next)
            }
            "CreateTask" => {
                let name = self.text(&p("Name").unwrap_or_default(), &mut step.notes);
                step.notes.push(format!("task created: {name}"));
                Go::Branch(Branch::Next)
            }
            "GetCase" => {
                step.notes.push("no case found (cases are not simulated)".into());
                Go::Branch(Branch::Error("NoneFound".into()))
            }
            "CreateCase" => {
                step.notes.push("case created".into());
                Go::Branch(Branch::Next)
            }
            "CheckVoiceId" | "StartVoiceIdStream" => {
                // https://docs.aws.amazon.com/connect/latest/adminguide/amazonconnect-voiceid-end-of-support.html
                step.notes.push("Amazon Connect Voice ID ended on 2026-05-20: the block takes its error branch".into());
                Go::Branch(Branch::Error("NoMatchingError".into()))
            }
            "EndFlowExecution" => Go::Exit(Exit::Ended(flow.name.clone(), a.id.clone())),
            "DisconnectParticipant" => Go::Exit(Exit::Disconnected(flow.name.clone(), a.id.clone())),
            other => return Err(rerr(flow, &a.id, format!("action type {other:?} is in the reference table but the runner does not run it yet"))),
        })
    }

    fn invoke(&mut self, flow: &Flow, a: &Action, step: &mut Step) -> Result<Go, RunError> {
        let arn = a.param_str("LambdaFunctionARN").unwrap_or_default();
        let function = self.inst.lambdas.get(&arn).cloned();
        let asynchronous = a.param_str("InvocationType").as_deref() == Some("ASYNCHRONOUS");
        let limit = a
            .param_str("InvocationTimeLimitSeconds")
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or(8);
        let mut parameters = Vec::new();
        if let Some(attrs) = a
            .params
            .get("LambdaInvocationAttributes")
            .and_then(Value::as_object)
        {
            for (k, v) in attrs {
                let v = self.value(v, &mut step.notes);
                parameters.push((k.clone(), v));
            }
        }
        let event = self.event(&parameters);
        let call = LambdaCall {
            flow: flow.name.clone(),
            block: a.id.clone(),
            arn: arn.clone(),
            function: function.clone(),
            parameters,
            event,
            timeout: Duration::from_secs(limit),
            asynchronous,
        };
        let reply = match &function {
            None => LambdaReply::Failed(format!("{arn:?} is not mapped to one of our functions")),
            Some(_) => self.host.invoke(&call),
        };
        // Connect's rules on the answer (Invoke AWS Lambda function block page).
        let rejected = match &reply {
            LambdaReply::Answer(v) => flat_string_map(v).err(),
            LambdaReply::FunctionError(e) => Some(format!("Lambda function error: {e}")),
            LambdaReply::Timeout => Some(format!(
                "no answer within InvocationTimeLimitSeconds {limit}"
            )),
            LambdaReply::Failed(e) => Some(e.clone()),
        };
        step.lambda = Some(self.lambda.len());
        self.lambda.push(LambdaRecord {
            call,
            reply: reply.clone(),
            rejected: rejected.clone(),
        });
        if asynchronous {
            // Connect does not wait: the flow goes on at once, $.External stays as it was, and
            // $.LambdaInvocation.InvocationId names the call.
            self.invocation_id = Some(format!("{}-{}", self.call.contact_id, self.lambda.len()));
            step.notes
                .push("asynchronous: the flow does not wait for the answer".into());
            if let LambdaReply::Failed(e) = &reply {
                step.notes.push(e.clone());
                return Ok(Go::Branch(Branch::Error("NoMatchingError".into())));
            }
            return Ok(Go::Branch(Branch::Next));
        }
        match (rejected, reply) {
            (None, LambdaReply::Answer(Value::Object(map))) => {
                self.external = map
                    .into_iter()
                    .map(|(k, v)| (k, v.as_str().unwrap_or_default().to_string()))
                    .collect();
                Ok(Go::Branch(Branch::Next))
            }
            (why, _) => {
                step.notes.push(why.unwrap_or_else(|| "no answer".into()));
                Ok(Go::Branch(Branch::Error("NoMatchingError".into())))
            }
        }
    }

    /// Connect's `ContactFlowEvent` for a Lambda call.
    fn event(&self, parameters: &[(String, String)]) -> Value {
        let params: Map<String, Value> = parameters
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        contact_flow_event(
            &EventContact {
                contact_id: &self.call.contact_id,
                customer: &self.call.customer,
                dialled: &self.call.dialled,
                instance_arn: &self.inst.instance_arn,
                channel: &self.sc.channel,
                language: &self.sc.language,
                queue: self
                    .queue
                    .as_ref()
                    .map(|(arn, name)| (arn.as_str(), name.as_str())),
                attributes: json!(self.attributes),
            },
            Value::Object(params),
        )
    }

    /// What the caller hears: the prompt, with the voice when a *Set voice* block chose one. An
    /// empty text (its `$.` references unset) says nothing.
    fn heard(&self, text: &str, notes: &mut Vec<String>) {
        let spoken = text.trim();
        if spoken.is_empty() || spoken == "<speak></speak>" {
            notes.push("prompt: (empty: the caller hears nothing)".into());
        } else if let Some(voice) = &self.voice {
            notes.push(format!("prompt ({voice}): {text:?}"));
        } else {
            notes.push(format!("prompt: {text:?}"));
        }
    }

    fn prompt(&mut self, a: &Action, notes: &mut Vec<String>) -> String {
        for key in ["Text", "SSML"] {
            if let Some(t) = a.param_str(key) {
                return self.text(&t, notes);
            }
        }
        if let Some(id) = a.param_str("PromptId") {
            return format!("(recorded prompt {id})");
        }
        "(media)".into()
    }

    /// A parameter value: strings are resolved ([`Ctx::text`]), others passed on as JSON text.
    fn value(&mut self, v: &Value, notes: &mut Vec<String>) -> String {
        match v {
            Value::String(s) => self.text(s, notes),
            other => other.to_string(),
        }
    }

    /// `$.` references in a text replaced by their values (a missing one is empty).
    fn text(&mut self, s: &str, notes: &mut Vec<String>) -> String {
        let mut out = String::new();
        let mut rest = s;
        while let Some(pos) = rest.find("$.") {
            out.push_str(&rest[..pos]);
            let tail = &rest[pos + 2..];
            let mut len = tail
                .char_indices()
                .take_while(|(_, c)| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
                .map(|(i, c)| i + c.len_utf8())
                .last()
                .unwrap_or(0);
            while len > 0 && tail[..len].ends_with('.') {
                len -= 1;
            }
            let path = &tail[..len];
            match self.lookup(path) {
                Some(v) => out.push_str(&v),
                None if path.is_empty() => out.push_str("$."),
                None => notes.push(format!("$.{path} is not set: empty")),
            }
            rest = &tail[len..];
        }
        out.push_str(rest);
        out
    }

    /// One `$.` path, the way Connect resolves it (connect-attrib-list page).
    fn lookup(&self, path: &str) -> Option<String> {
        let (ns, rest) = path.split_once('.').unwrap_or((path, ""));
        let map = |m: &BTreeMap<String, String>| m.get(rest).cloned();
        match ns {
            "Attributes" => map(&self.attributes),
            "External" => map(&self.external),
            "Metrics" => self.metrics.as_ref().and_then(map),
            "FlowAttributes" => map(&self.flow_attributes),
            "StoredCustomerInput" => self.stored_input.clone(),
            "Channel" => Some(self.sc.channel.clone()),
            "LanguageCode" => Some(self.sc.language.clone()),
            "ContactId" | "InitialContactId" | "PreviousContactId" => {
                Some(self.call.contact_id.clone())
            }
            "InitiationMethod" => Some("INBOUND".into()),
            "InstanceARN" => Some(self.inst.instance_arn.clone()),
            "CustomerEndpoint" | "SystemEndpoint" => {
                let number = if ns == "CustomerEndpoint" {
                    &self.call.customer
                } else {
                    &self.call.dialled
                };
                match rest {
                    "Address" => Some(number.clone()),
                    "Type" => Some("TELEPHONE_NUMBER".into()),
                    _ => None,
                }
            }
            "Queue" => {
                let (arn, name) = self.queue.clone()?;
                match rest {
                    "ARN" => Some(arn),
                    "Name" => Some(name),
                    "OutboundCallerId.Address" => Some(self.call.dialled.clone()),
                    _ => None,
                }
            }
            "Agent" => {
                let user = self.agent.clone()?;
                match rest {
                    "UserName" => Some(user),
                    "ARN" => Some(format!("{}/agent/{user}", self.inst.instance_arn)),
                    _ => None,
                }
            }
            "LambdaInvocation" if rest == "InvocationId" => self.invocation_id.clone(),
            "Lex" if rest == "IntentName" => self.lex_intent.clone(),
            "Customer" => map(&self.customer),
            "AwsRegion" => self.inst.instance_arn.split(':').nth(3).map(str::to_string),
            _ => None,
        }
    }
}

enum Branch {
    Next,
    Condition(usize),
    /// No condition matched: NoMatchingCondition if declared, else NextAction.
    NoMatch,
    Error(String),
}

enum Go {
    Branch(Branch),
    Exit(Exit),
    Flow(String),
}

/// The transition a branch takes: (coverage label, target).
/// An SSML prompt's words, for the transcript: the tags dropped.
fn without_markup(ssml: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in ssml.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

fn resolve_branch(flow: &Flow, a: &Action, b: &Branch) -> Result<(String, String), RunError> {
    match b {
        Branch::Next => a
            .next
            .clone()
            .map(|t| ("next".to_string(), t))
            .ok_or_else(|| rerr(flow, &a.id, "no NextAction: the flow stops here")),
        Branch::Condition(i) => {
            let c = &a.conditions[*i];
            Ok((condition_label(c), c.next.clone()))
        }
        Branch::NoMatch => match a.error_target("NoMatchingCondition") {
            Some(t) => Ok(("NoMatchingCondition".into(), t.to_string())),
            None => resolve_branch(flow, a, &Branch::Next),
        },
        Branch::Error(e) => match a.error_target(e) {
            Some(t) => Ok((e.clone(), t.to_string())),
            None => match a.error_target("NoMatchingError") {
                Some(t) => Ok(("NoMatchingError".into(), t.to_string())),
                None => Err(rerr(flow, &a.id, format!("error {e} is not handled (no {e} and no NoMatchingError branch): Connect stops the flow here"))),
            },
        },
    }
}

/// A Compare / Get customer input condition (flow-control-actions-compare page operators).
fn compare(operator: &str, value: &str, operands: &[String]) -> bool {
    let num = |s: &str| s.trim().parse::<f64>().ok();
    operands.iter().any(|o| match operator {
        "Equals" => value == o,
        "TextContains" => value.contains(o.as_str()),
        "TextStartsWith" => value.starts_with(o.as_str()),
        "TextEndsWith" => value.ends_with(o.as_str()),
        "NumberGreaterThan" => matches!((num(value), num(o)), (Some(a), Some(b)) if a > b),
        "NumberLessThan" => matches!((num(value), num(o)), (Some(a), Some(b)) if a < b),
        "NumberGreaterOrEqualTo" => matches!((num(value), num(o)), (Some(a), Some(b)) if a >= b),
        "NumberLessOrEqualTo" => matches!((num(value), num(o)), (Some(a), Some(b)) if a <= b),
        _ => false,
    })
}

/// Connect's STRING_MAP validation: a flat object of string values, at most 32 KB.
pub fn flat_string_map(v: &Value) -> Result<(), String> {
    let Some(map) = v.as_object() else {
        return Err("the answer is not a JSON object (ResponseType STRING_MAP)".into());
    };
    if let Some((k, _)) = map.iter().find(|(_, v)| !v.is_string()) {
        return Err(format!(
            "the answer is not a flat string map (key {k:?}; ResponseType STRING_MAP)"
        ));
    }
    let size = v.to_string().len();
    if size > MAX_LAMBDA_RESPONSE_BYTES {
        return Err(format!(
            "the answer is {size} bytes, over Connect's 32 KB limit"
        ));
    }
    Ok(())
}

/// `base + seconds` as `$.Metrics.Queue.OldestContactAge` reads later (a non-number stays as it is).
pub fn later(base: &str, seconds: u64) -> String {
    match base.trim().parse::<f64>() {
        Ok(w) if w.is_finite() && w >= 0.0 => {
            let v = w + seconds as f64;
            if v.fract() == 0.0 {
                format!("{}", v as u64)
            } else {
                format!("{v}")
            }
        }
        _ => base.to_string(),
    }
}

/// The contact a `ContactFlowEvent` describes (an inbound telephone contact).
pub struct EventContact<'a> {
    pub contact_id: &'a str,
    pub customer: &'a str,
    /// The number the customer dialled (`SystemEndpoint`, the queue's outbound caller id).
    pub dialled: &'a str,
    pub instance_arn: &'a str,
    pub channel: &'a str,
    pub language: &'a str,
    /// The working queue `(ARN, name)`, when one is set.
    pub queue: Option<(&'a str, &'a str)>,
    /// The contact attributes (a JSON object of strings).
    pub attributes: Value,
}

/// Connect's `ContactFlowEvent` for a Lambda call with `parameters`: the one builder of the
/// event the runner's functions receive and the benchmark sends.
pub fn contact_flow_event(c: &EventContact<'_>, parameters: Value) -> Value {
    let queue = match c.queue {
        Some((arn, name)) => {
            json!({"ARN": arn, "Name": name, "OutboundCallerId": {"Address": c.dialled, "Type": "TELEPHONE_NUMBER"}})
        }
        None => Value::Null,
    };
    json!({
        "Name": "ContactFlowEvent",
        "Details": {
            "ContactData": {
                "Attributes": c.attributes,
                "Channel": c.channel,
                "ContactId": c.contact_id,
                "InitialContactId": c.contact_id,
                "PreviousContactId": c.contact_id,
                "InitiationMethod": "INBOUND",
                "InstanceARN": c.instance_arn,
                "LanguageCode": c.language,
                "AwsRegion": "us-east-1",
                "CustomerEndpoint": {"Address": c.customer, "Type": "TELEPHONE_NUMBER"},
                "SystemEndpoint": {"Address": c.dialled, "Type": "TELEPHONE_NUMBER"},
                "Queue": queue,
                "SegmentAttributes": {"connect:Subtype": {"ValueString": "connect:Telephony"}},
                "Tags": {},
                "MediaStreams": {"Customer": {"Audio": null}}
            },
            "Parameters": parameters
        }
    })
}
