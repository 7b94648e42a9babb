//! `flow-runner`: check and run any exported Amazon Connect flow against our three functions and
//! the Mindful simulator. See README.md.

use std::collections::{BTreeMap, VecDeque};
use std::process::ExitCode;

use flow_runner::check::check_flow;
use flow_runner::host::{self, Processes};
use flow_runner::{
    run_contact, AgentAnswer, Call, Flow, Host, Input, Instance, LambdaCall, LambdaReply, Scenario,
    Step,
};

mod test_command;

/// Prints a line to stdout; a reader that went away (`| head`) ends the program quietly instead
/// of the panic `println!` gives on a closed pipe.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if writeln!(std::io::stdout(), $($arg)*).is_err() {
            std::process::exit(0);
        }
    }};
}

/// A file's text: UTF-8 (a BOM is dropped by the loader), or UTF-16 with its byte order mark
/// (what some Windows tools save).
fn decode_text(bytes: Vec<u8>) -> Option<String> {
    let utf16 = |le: bool| -> Option<String> {
        let units: Vec<u16> = bytes[2..]
            .chunks(2)
            .map(|c| match c {
                [a, b] if le => Some(u16::from_le_bytes([*a, *b])),
                [a, b] => Some(u16::from_be_bytes([*a, *b])),
                _ => None,
            })
            .collect::<Option<_>>()?;
        String::from_utf16(&units).ok()
    };
    match bytes.get(..2) {
        Some([0xff, 0xfe]) => utf16(true),
        Some([0xfe, 0xff]) => utf16(false),
        _ => String::from_utf8(bytes).ok(),
    }
}

const HELP: &str = "\
flow-runner: check and run Amazon Connect flow-language files locally

USAGE:
    flow-runner check FILE... [--lambda ARN=FUNCTION]... [--type TYPE]
    flow-runner run FILE... [--lambda ARN=FUNCTION]... [--type TYPE] [OPTIONS]
    flow-runner test TESTCASE... [OPTIONS]   (Connect test cases; flow-runner test --help)

FILE is a flow exported from the Connect console, a describe-contact-flow(-module) answer or its
inner object, or a list of them (UTF-8 or UTF-16). --type (CONTACT_FLOW, CUSTOMER_QUEUE,
CUSTOMER_WHISPER, ...) gives every file's flows that type, over what the file says. FUNCTION is ocw-phrase, datastore-proxy or agent-answer: the flow's Lambda ARN is played by
that function, run as a real Lambda process against the Mindful simulator.

RUN OPTIONS:
    --start NAME            the flow the call starts in [default: the first flow]
    --input KEYS            what the caller presses at the next Get customer input block
                            (repeat; '-' = presses nothing) [default: nothing]
    --customer NUMBER       the caller's number [default: +13209071234]
    --queue ARN[=NAME]      a queue of the instance (queue ARNs the flows name are added)
    --call-target NUMBER    the Mindful Call Target number
    --wait SECONDS          $.Metrics.Queue.OldestContactAge [default: 185]
    --agents-available N    $.Metrics.Agents.Available.Count [default: 0]
    --agent-after SECONDS   an agent answers after this long in queue [default: 300]
    --attribute KEY=VALUE   a contact attribute the call arrives with (repeat)

EXIT STATUS: 0 clean, 1 findings (a check failed or the run stopped), 2 unreadable input or bad
arguments.
";

/// The flow types of the Connect API
/// (<https://docs.aws.amazon.com/connect/latest/APIReference/API_ContactFlow.html>).
const FLOW_TYPES: [&str; 10] = [
    "CONTACT_FLOW",
    "CUSTOMER_QUEUE",
    "CUSTOMER_HOLD",
    "CUSTOMER_WHISPER",
    "AGENT_HOLD",
    "AGENT_WHISPER",
    "OUTBOUND_WHISPER",
    "AGENT_TRANSFER",
    "QUEUE_TRANSFER",
    "CAMPAIGN",
];

struct Args {
    command: String,
    files: Vec<String>,
    lambdas: BTreeMap<String, String>,
    start: Option<String>,
    inputs: VecDeque<Input>,
    customer: String,
    queues: BTreeMap<String, String>,
    call_target: Option<String>,
    wait: String,
    agents: u32,
    agent_after: u64,
    attributes: BTreeMap<String, String>,
    flow_type: Option<String>,
}

fn parse(args: Vec<String>) -> Result<Args, String> {
    let mut it = args.into_iter();
    let command = it.next().ok_or("expected `check` or `run` (see --help)")?;
    if command != "check" && command != "run" {
        return Err(format!(
            "unknown command {command:?}: expected `check` or `run`"
        ));
    }
    let mut a = Args {
        command,
        files: Vec::new(),
        lambdas: BTreeMap::new(),
        start: None,
        inputs: VecDeque::new(),
        customer: "+13209071234".into(),
        queues: BTreeMap::new(),
        call_target: None,
        wait: "185".into(),
        agents: 0,
        agent_after: 300,
        attributes: BTreeMap::new(),
        flow_type: None,
    };
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--lambda" => {
                let v = value("--lambda")?;
                let (arn, f) = v.rsplit_once('=').ok_or("--lambda ARN=FUNCTION")?;
                if !host::FUNCTIONS.contains(&f) {
                    return Err(format!(
                        "--lambda: {f:?} is not one of {:?}",
                        host::FUNCTIONS
                    ));
                }
                a.lambdas.insert(arn.to_string(), f.to_string());
            }
            "--start" => a.start = Some(value("--start")?),
            "--type" => {
                let t = value("--type")?.to_ascii_uppercase();
                if !FLOW_TYPES.contains(&t.as_str()) {
                    return Err(format!("--type: {t:?} is not one of {FLOW_TYPES:?}"));
                }
                a.flow_type = Some(t);
            }
            "--input" => {
                let v = value("--input")?;
                a.inputs.push_back(if v == "-" {
                    Input::Timeout
                } else {
                    Input::Digits(v)
                });
            }
            "--customer" => a.customer = value("--customer")?,
            "--queue" => {
                let v = value("--queue")?;
                let (arn, name) = v.split_once('=').unwrap_or((&v, ""));
                let name = if name.is_empty() {
                    arn.rsplit('/').next().unwrap_or(arn)
                } else {
                    name
                };
                a.queues.insert(arn.to_string(), name.to_string());
            }
            "--call-target" => a.call_target = Some(value("--call-target")?),
            "--wait" => a.wait = value("--wait")?,
            "--agents-available" => {
                a.agents = value("--agents-available")?
                    .parse()
                    .map_err(|_| "--agents-available: a count")?
            }
            "--agent-after" => {
                a.agent_after = value("--agent-after")?
                    .parse()
                    .map_err(|_| "--agent-after: seconds")?
            }
            "--attribute" => {
                let v = value("--attribute")?;
                let (k, val) = v.split_once('=').ok_or("--attribute KEY=VALUE")?;
                a.attributes.insert(k.into(), val.into());
            }
            s if s.starts_with("--") => return Err(format!("unknown option {s}")),
            _ => a.files.push(arg),
        }
    }
    if a.files.is_empty() {
        return Err("no flow file given".into());
    }
    Ok(a)
}

/// Every queue ARN a flow names statically.
fn queues_named(flows: &[Flow]) -> Vec<String> {
    let mut out = Vec::new();
    for f in flows {
        for a in &f.actions {
            if let Some(q) = a.param_str("QueueId") {
                if q.contains(":queue/") || q.contains("/queue/") {
                    out.push(q);
                }
            }
        }
    }
    out
}

struct Printer<'a> {
    inner: Option<&'a mut Processes>,
}

impl Host for Printer<'_> {
    fn invoke(&mut self, call: &LambdaCall) -> LambdaReply {
        let reply = match self.inner.as_deref_mut() {
            Some(p) => p.invoke(call),
            None => LambdaReply::Failed("no function is running".into()),
        };
        let params: Vec<String> = call
            .parameters
            .iter()
            .map(|(k, v)| format!("{k}={v:?}"))
            .collect();
        out!(
            "    → {} ({})  {}",
            call.function.as_deref().unwrap_or("?"),
            call.arn,
            params.join(" ")
        );
        match &reply {
            LambdaReply::Answer(v) => out!("    ⇐ {v}"),
            other => out!("    ⇐ {other:?}"),
        }
        reply
    }

    fn on_step(&mut self, s: &Step) {
        out!(
            "[{}] {} ({}) → {}{}",
            s.flow,
            s.block,
            s.typ,
            s.branch,
            s.target
                .as_deref()
                .map(|t| format!(" → {t}"))
                .unwrap_or_default()
        );
        for n in &s.notes {
            out!("    {n}");
        }
    }
}

fn main() -> ExitCode {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    if raw.first().map(String::as_str) == Some("test") {
        return test_command::main(&raw[1..]);
    }
    if raw.is_empty() || raw.iter().any(|a| a == "-h" || a == "--help") {
        out!("{}", HELP.trim_end());
        return ExitCode::from(if raw.is_empty() { 2 } else { 0 });
    }
    let args = match parse(raw) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("flow-runner: {e}");
            return ExitCode::from(2);
        }
    };
    let mut flows = Vec::new();
    for file in &args.files {
        let text = match std::fs::read(file).map(decode_text) {
            Ok(Some(t)) => t,
            Ok(None) => {
                eprintln!("flow-runner: {file}: not UTF-8 or UTF-16 text");
                return ExitCode::from(2);
            }
            Err(e) => {
                eprintln!("flow-runner: {file}: {e}");
                return ExitCode::from(2);
            }
        };
        match flow_runner::flows_from_json(&text, file) {
            Ok(mut f) => {
                if let Some(t) = &args.flow_type {
                    f.iter_mut()
                        .for_each(|flow| flow.flow_type = Some(t.clone()));
                }
                flows.extend(f)
            }
            Err(e) => {
                eprintln!("flow-runner: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let mut findings = 0;
    for f in &flows {
        let found = check_flow(f, &|arn| args.lambdas.contains_key(arn));
        for x in &found {
            out!("finding: {x}");
        }
        findings += found.len();
    }
    out!("checked {} flow(s): {findings} finding(s)", flows.len());
    if args.command == "check" {
        return ExitCode::from(u8::from(findings > 0));
    }

    let start = match &args.start {
        None => flows[0].clone(),
        Some(s) => match flows.iter().find(|f| f.name == *s || f.arn == *s) {
            Some(f) => f.clone(),
            None => {
                eprintln!("flow-runner: --start {s:?} names no loaded flow");
                return ExitCode::from(2);
            }
        },
    };
    let mut queues = args.queues.clone();
    for q in queues_named(&flows) {
        let name = q.rsplit('/').next().unwrap_or(&q).to_string();
        queues.entry(q).or_insert(name);
    }
    let did = "+18005550100".to_string();
    let inst = Instance {
        numbers: [(did.clone(), start.arn.clone())].into(),
        flows,
        queues,
        lambdas: args.lambdas.clone(),
        mindful_call_target: args.call_target.clone(),
        mindful_return_number: None,
        mindful_makes_offer: false,
        instance_arn: host::INSTANCE_ARN.into(),
    };
    let sim = match mindful_sim::Sim::start_blocking(mindful_sim::SimConfig::default()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("flow-runner: the Mindful simulator did not start: {e}");
            return ExitCode::from(2);
        }
    };
    let mut procs = None;
    if !args.lambdas.is_empty() {
        let started = lambda_harness::build_debug(&host::FUNCTIONS)
            .map_err(|e| e.to_string())
            .and_then(|dir| {
                Processes::start(&dir, &host::function_env(&sim, "US")).map_err(|e| e.to_string())
            });
        match started {
            Ok(p) => procs = Some(p),
            Err(e) => {
                eprintln!("flow-runner: the functions did not start: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let mut sc = Scenario {
        inputs: args.inputs.clone(),
        oldest_contact_age: args.wait.clone(),
        agents_available: args.agents,
        agent: Some(AgentAnswer {
            after_seconds: args.agent_after,
            user_name: "agent".into(),
        }),
        attributes: args.attributes.clone(),
        ..Scenario::default()
    };
    let mut printer = Printer {
        inner: procs.as_mut(),
    };
    let call = Call {
        customer: args.customer.clone(),
        dialled: did,
        contact_id: "local-contact-1".into(),
    };
    let result = run_contact(&inst, &mut printer, call, &mut sc);
    sim.shutdown();
    match result {
        Ok(run) => {
            out!("end: {:?}", run.end);
            ExitCode::from(u8::from(findings > 0))
        }
        Err(e) => {
            out!("stopped: {e}");
            ExitCode::from(1)
        }
    }
}
