//! `flow-runner`: check and run any exported Amazon Connect flow against our three functions and
//! the Mindful simulator. See README.md.

use std::collections::{BTreeMap, VecDeque};
use std::process::ExitCode;

use std::path::{Path, PathBuf};

use flow_runner::bundle::{check_bundle, Bundle};
use flow_runner::check::{check_flow, Finding, Tally};
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
    flow-runner check PATH... [--lambda ARN=FUNCTION]... [--type TYPE] [--strict]
    flow-runner check --bundle DIR [--strict]
    flow-runner run FILE... [--lambda ARN=FUNCTION]... [--type TYPE] [OPTIONS]
    flow-runner reference        the reference table the checker applies (Markdown)
    flow-runner test TESTCASE... [OPTIONS]   (Connect test cases; flow-runner test --help)

PATH is a flow exported from the Connect console, a describe-contact-flow(-module) answer or its
inner object, or a list of them, a CloudFormation template (JSON or YAML) with
AWS::Connect::ContactFlow(Module) resources (UTF-8 or UTF-16), or a folder of such files
(*.json, and YAML templates with flows; searched recursively; JSON files without a flow are
skipped). --type (CONTACT_FLOW, CUSTOMER_QUEUE, CUSTOMER_WHISPER, ...) gives every file's
flows that type, over what the file says. FUNCTION is ocw-phrase, datastore-proxy or
agent-answer: the flow's Lambda ARN is played by that function, run as a real Lambda process
against the Mindful simulator.

CHECK: every finding is an error (Connect would refuse the flow, or the contact would fail), a
warning (unreachable blocks, unhandled error branches, suspicious values) or a note (the runner
cannot execute a block; a Lambda ARN not mapped), with the reference page of its rule; then one
line per flow with its verdict. --strict counts warnings as errors. --bundle DIR checks this
bundle's flows (DIR/template.yaml, DIR/base.yaml) with its own rules on top, warnings counted as
errors.

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
    --as customer-queue     run the flow as a customer queue flow: the caller is already in
                            the first --queue (or a scripted one) and waits there
    --contacts-in-queue N   NumberOfContactsInQueue for Check queue status [default: 0]
    --out-of-hours          Check hours of operation finds the queue closed [default: open]
    --lex-intent NAME       the intent Lex recognises at the next Lex block (repeat)
                            [default: the caller says nothing]
    --view-result NAME      what the agent chooses at the next Show view block (repeat)
                            [default: no answer before the time limit]
    --profile KEY=VALUE     a field of the customer profile Customer profiles finds (repeat)
                            [default: no profile found]
    --bin-dir DIR           where the built function binaries are [default: the folder of
                            flow-runner itself, then CARGO_TARGET_DIR or ./target, debug then
                            release]
    --build                 build the function binaries with cargo first (debug)

EXIT STATUS: check: 0 no error, 1 errors (or warnings with --strict); run: 0 the call ran to
its end, 1 the run stopped (a RunError); 2 unreadable input or bad arguments.
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
    strict: bool,
    bundle: Option<String>,
    bin_dir: Option<String>,
    build: bool,
    as_queue: bool,
    out_of_hours: bool,
    contacts_in_queue: u32,
    lex_intents: VecDeque<String>,
    view_results: VecDeque<String>,
    profile: BTreeMap<String, String>,
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
        strict: false,
        bundle: None,
        bin_dir: None,
        build: false,
        as_queue: false,
        out_of_hours: false,
        contacts_in_queue: 0,
        lex_intents: VecDeque::new(),
        view_results: VecDeque::new(),
        profile: BTreeMap::new(),
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
            "--strict" => a.strict = true,
            "--bundle" => a.bundle = Some(value("--bundle")?),
            "--bin-dir" => a.bin_dir = Some(value("--bin-dir")?),
            "--build" => a.build = true,
            "--out-of-hours" => a.out_of_hours = true,
            "--contacts-in-queue" => {
                a.contacts_in_queue = value("--contacts-in-queue")?
                    .parse()
                    .map_err(|_| "--contacts-in-queue: a count")?
            }
            "--lex-intent" => a.lex_intents.push_back(value("--lex-intent")?),
            "--view-result" => a.view_results.push_back(value("--view-result")?),
            "--profile" => {
                let v = value("--profile")?;
                let (k, val) = v.split_once('=').ok_or("--profile KEY=VALUE")?;
                a.profile.insert(k.into(), val.into());
            }
            "--as" => match value("--as")?.as_str() {
                "customer-queue" => a.as_queue = true,
                other => return Err(format!("--as: {other:?} is not customer-queue")),
            },
            s if s.starts_with("--") => return Err(format!("unknown option {s}")),
            _ => a.files.push(arg),
        }
    }
    if a.files.is_empty() && a.bundle.is_none() {
        return Err("no flow file given".into());
    }
    if a.bundle.is_some() && a.command != "check" {
        return Err("--bundle goes with `check`".into());
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

/// Every `*.json` file under a folder, and every YAML file with an `AWS::Connect::ContactFlow`
/// (sorted), or the path itself.
fn expand(path: &str) -> Vec<PathBuf> {
    let p = Path::new(path);
    if !p.is_dir() {
        return vec![p.to_path_buf()];
    }
    let mut out = Vec::new();
    let mut dirs = vec![p.to_path_buf()];
    while let Some(d) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path
                .extension()
                .is_some_and(|x| x.eq_ignore_ascii_case("json"))
            {
                out.push(path);
            } else if path
                .extension()
                .is_some_and(|x| x.eq_ignore_ascii_case("yaml") || x.eq_ignore_ascii_case("yml"))
                && std::fs::read_to_string(&path)
                    .is_ok_and(|t| t.contains("AWS::Connect::ContactFlow"))
            {
                // A CloudFormation template with flows (other YAML files are not flows).
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// Read one file's flows.
fn load(file: &Path, flow_type: Option<&String>) -> Result<Vec<Flow>, String> {
    let name = file.display().to_string();
    let text = match std::fs::read(file).map(decode_text) {
        Ok(Some(t)) => t,
        Ok(None) => return Err(format!("{name}: not UTF-8 or UTF-16 text")),
        Err(e) => return Err(format!("{name}: {e}")),
    };
    let mut flows = flow_runner::flows_from_json(&text, &name).map_err(|e| e.to_string())?;
    if let Some(t) = flow_type {
        flows.iter_mut().for_each(|f| f.flow_type = Some(t.clone()));
    }
    Ok(flows)
}

/// Prints the findings and one verdict line per flow; the totals.
fn report(per_flow: &[(String, Vec<Finding>)], strict: bool) -> Tally {
    let mut total = Tally::default();
    for (_, found) in per_flow {
        for f in found {
            out!("{f}");
        }
    }
    for (flow, found) in per_flow {
        let t = Tally::of(found);
        let bad = t.errors > 0 || (strict && t.warnings > 0);
        out!(
            "{} {flow}: {} error(s), {} warning(s), {} note(s)",
            if bad { "FAIL" } else { "ok  " },
            t.errors,
            t.warnings,
            t.notes
        );
        total.errors += t.errors;
        total.warnings += t.warnings;
        total.notes += t.notes;
    }
    out!(
        "checked {} flow(s): {} error(s), {} warning(s), {} note(s)",
        per_flow.len(),
        total.errors,
        total.warnings,
        total.notes
    );
    total
}

/// The folder holding every function binary: `--bin-dir`, else the folder of this program, else
/// the workspace target folder (debug, then release); `--build` builds them with cargo first.
fn function_dir(args: &Args) -> Result<PathBuf, String> {
    if args.build {
        return lambda_harness::build_debug(&host::FUNCTIONS).map_err(|e| e.to_string());
    }
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(d) = &args.bin_dir {
        candidates.push(PathBuf::from(d));
    } else {
        if let Some(dir) = std::env::current_exe()
            .ok()
            .and_then(|e| e.parent().map(Path::to_path_buf))
        {
            candidates.push(dir);
        }
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("target"));
        candidates.push(target.join("debug"));
        candidates.push(target.join("release"));
    }
    let exe = |d: &Path, n: &str| d.join(format!("{n}{}", std::env::consts::EXE_SUFFIX));
    if let Some(d) = candidates
        .iter()
        .find(|d| host::FUNCTIONS.iter().all(|n| exe(d, n).is_file()))
    {
        return Ok(d.clone());
    }
    let searched: Vec<String> = candidates.iter().map(|d| d.display().to_string()).collect();
    Err(format!(
        "the function binaries ({}) are not built: searched {}. Build them with `cargo build -p ocw-phrase -p datastore-proxy -p agent-answer`, pass --bin-dir DIR, or --build",
        host::FUNCTIONS.join(", "),
        searched.join(", ")
    ))
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
    if raw.len() == 1 && raw[0] == "reference" {
        out!("{}", flow_runner::Reference::get().markdown());
        return ExitCode::SUCCESS;
    }
    let args = match parse(raw) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("flow-runner: {e}");
            return ExitCode::from(2);
        }
    };
    let verdict =
        |t: Tally| ExitCode::from(u8::from(t.errors > 0 || (args.strict && t.warnings > 0)));
    if let Some(dir) = &args.bundle {
        let bundle = match Bundle::load(Path::new(dir)) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("flow-runner: {e}");
                return ExitCode::from(2);
            }
        };
        let found = check_bundle(&bundle);
        let mut per_flow: Vec<(String, Vec<Finding>)> = bundle
            .flows
            .iter()
            .map(|f| (f.resource.clone(), Vec::new()))
            .collect();
        for f in found {
            match per_flow.iter_mut().find(|(n, _)| *n == f.flow) {
                Some((_, v)) => v.push(f),
                None => per_flow.push((f.flow.clone(), vec![f])),
            }
        }
        return verdict(report(&per_flow, args.strict));
    }
    let mut flows = Vec::new();
    let mut unreadable = false;
    for path in &args.files {
        let files = expand(path);
        if files.is_empty() {
            eprintln!("flow-runner: {path}: no *.json file in this folder");
            unreadable = true;
        }
        let in_folder = Path::new(path).is_dir();
        for file in files {
            match load(&file, args.flow_type.as_ref()) {
                Ok(f) => flows.extend(f),
                // In a folder, a JSON file without any flow (package.json, parameters) is not
                // one of the flows: said, and skipped.
                Err(e) if in_folder && e.contains("no flow found") => {
                    eprintln!("flow-runner: skipped {}: no flow in it", file.display());
                }
                Err(e) => {
                    eprintln!("flow-runner: {e}");
                    unreadable = true;
                }
            }
        }
    }
    if unreadable && (args.command == "run" || flows.is_empty()) {
        return ExitCode::from(2);
    }
    let per_flow: Vec<(String, Vec<Finding>)> = flows
        .iter()
        .map(|f| {
            (
                f.name.clone(),
                check_flow(f, &|arn| args.lambdas.contains_key(arn)),
            )
        })
        .collect();
    let tally = report(&per_flow, args.strict);
    if args.command == "check" {
        if unreadable {
            return ExitCode::from(2);
        }
        return verdict(tally);
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
    let dir = if args.lambdas.is_empty() {
        None
    } else {
        match function_dir(&args) {
            Ok(d) => Some(d),
            Err(e) => {
                eprintln!("flow-runner: {e}");
                return ExitCode::from(2);
            }
        }
    };
    let sim = match mindful_sim::Sim::start_blocking(mindful_sim::SimConfig::default()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("flow-runner: the Mindful simulator did not start: {e}");
            return ExitCode::from(2);
        }
    };
    let mut procs = None;
    if let Some(dir) = dir {
        match Processes::start(&dir, &host::function_env(&sim, "US")) {
            Ok(p) => procs = Some(p),
            Err(e) => {
                eprintln!(
                    "flow-runner: the functions did not start from {}: {e}",
                    dir.display()
                );
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
        in_hours: !args.out_of_hours,
        contacts_in_queue: args.contacts_in_queue,
        lex_intents: args.lex_intents.clone(),
        view_results: args.view_results.clone(),
        customer_profile: (!args.profile.is_empty()).then(|| args.profile.clone()),
        as_customer_queue: args.as_queue.then(|| {
            args.queues
                .iter()
                .next()
                .map(|(arn, name)| (arn.clone(), name.clone()))
                .unwrap_or_else(|| ("arn:local:queue/scripted".into(), "scripted queue".into()))
        }),
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
            ExitCode::SUCCESS
        }
        Err(e) => {
            out!("stopped: {e}");
            ExitCode::from(1)
        }
    }
}
