//! `flow-runner`: check and run any exported Amazon Connect flow against our three functions and
//! the Mindful simulator. See README.md.

use std::collections::BTreeMap;
use std::process::ExitCode;

use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};
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

/// What PATH may be, and the exit statuses (shown after the options).
const PATHS: &str = "\
PATH is a flow exported from the Connect console, a describe-contact-flow(-module) answer or its
inner object, or a list of them, a CloudFormation template (JSON or YAML) with
AWS::Connect::ContactFlow(Module) resources (UTF-8 or UTF-16), or a folder of such files
(*.json, and YAML templates with flows; searched recursively; JSON files without a flow are
skipped). FUNCTION is ocw-phrase, datastore-proxy or agent-answer: the flow's Lambda ARN is
played by that function, run as a real Lambda process against the Mindful simulator.

Exit status: check: 0 no error, 1 errors (or warnings with --strict); run: 0 the call ran to its
end, 1 the run stopped (a RunError); test: 0 all passed, 1 a test failed or coverage under the
gate; 2 unreadable input or bad arguments.";

/// flow-runner: check and run Amazon Connect flow-language files locally
#[derive(Parser, Debug)]
#[command(name = "flow-runner", arg_required_else_help = true, after_help = PATHS)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check flows against the Flow language reference: every finding is an error (Connect
    /// would refuse the flow, or the contact would fail), a warning (unreachable blocks,
    /// unhandled error branches, suspicious values) or a note (a block the runner cannot
    /// execute, a Lambda ARN not mapped), with the reference page of its rule; then one line per
    /// flow with its verdict
    Check(CheckArgs),
    /// Run one call through the flows, block by block, the mapped Lambda ARNs played by the
    /// real functions
    Run(Box<RunArgs>),
    /// Print the reference table the checker applies (Markdown)
    Reference,
    /// Run Connect Testing-language test cases locally, then each flow's coverage
    ///
    /// TESTCASE is a Connect Testing-language test case (Version 2025-06-21). Without --flow it
    /// runs against the shipped flows of infra/template.yaml (Metadata."flow-runner".stack sets
    /// stack parameters); with --flow, against those flow files (the first flow answers the
    /// call). Prints each observation passed or failed, then each flow's action and transition
    /// coverage over all test cases.
    Test(test_command::TestArgs),
}

/// The flows to load and how to see them.
#[derive(clap::Args, Debug)]
struct Flows {
    /// Flow files or folders (see PATH below)
    #[arg(value_name = "PATH")]
    paths: Vec<String>,
    /// Play the flow's Lambda ARN with one of our functions (repeat)
    #[arg(long = "lambda", value_name = "ARN=FUNCTION", value_parser = lambda_mapping)]
    lambdas: Vec<(String, String)>,
    /// Give every file's flows this type (CONTACT_FLOW, CUSTOMER_QUEUE, CUSTOMER_WHISPER, ...),
    /// over what the file says
    #[arg(long = "type", value_name = "TYPE", value_parser = flow_type)]
    flow_type: Option<String>,
}

impl Flows {
    fn lambda_map(&self) -> BTreeMap<String, String> {
        self.lambdas.iter().cloned().collect()
    }
}

#[derive(clap::Args, Debug)]
struct CheckArgs {
    #[command(flatten)]
    flows: Flows,
    /// Check this bundle's flows (DIR/template.yaml, DIR/base.yaml) with its own rules on top,
    /// warnings counted as errors
    #[arg(long, value_name = "DIR", conflicts_with_all = ["paths", "lambdas", "flow_type"], required_unless_present = "paths")]
    bundle: Option<String>,
    /// Count warnings as errors
    #[arg(long)]
    strict: bool,
}

#[derive(clap::Args, Debug)]
struct RunArgs {
    #[command(flatten)]
    flows: Flows,
    /// The flow the call starts in [default: the first flow]
    #[arg(long, value_name = "NAME")]
    start: Option<String>,
    /// What the caller presses at the next Get customer input block (repeat; '-' = presses
    /// nothing) [default: nothing]
    #[arg(long = "input", value_name = "KEYS", value_parser = caller_input)]
    inputs: Vec<Input>,
    /// The caller's number
    #[arg(long, value_name = "NUMBER", default_value = "+13209071234")]
    customer: String,
    /// A queue of the instance (queue ARNs the flows name are added) (repeat)
    #[arg(long = "queue", value_name = "ARN[=NAME]", value_parser = queue)]
    queues: Vec<(String, String)>,
    /// The Mindful Call Target number
    #[arg(long, value_name = "NUMBER")]
    call_target: Option<String>,
    /// $.Metrics.Queue.OldestContactAge
    #[arg(long, value_name = "SECONDS", default_value = "185")]
    wait: String,
    /// $.Metrics.Agents.Available.Count
    #[arg(long = "agents-available", value_name = "N", default_value_t = 0)]
    agents: u32,
    /// An agent answers after this long in queue
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    agent_after: u64,
    /// A contact attribute the call arrives with (repeat)
    #[arg(long = "attribute", value_name = "KEY=VALUE", value_parser = key_value)]
    attributes: Vec<(String, String)>,
    /// Run the flow as a customer queue flow: the caller is already in the first --queue (or a
    /// scripted one) and waits there
    #[arg(long = "as", value_enum, value_name = "KIND")]
    run_as: Option<RunAs>,
    /// NumberOfContactsInQueue for Check queue status
    #[arg(long, value_name = "N", default_value_t = 0)]
    contacts_in_queue: u32,
    /// Check hours of operation finds the queue closed [default: open]
    #[arg(long)]
    out_of_hours: bool,
    /// The intent Lex recognises at the next Lex block (repeat) [default: the caller says
    /// nothing]
    #[arg(long = "lex-intent", value_name = "NAME")]
    lex_intents: Vec<String>,
    /// What the agent chooses at the next Show view block (repeat) [default: no answer before
    /// the time limit]
    #[arg(long = "view-result", value_name = "NAME")]
    view_results: Vec<String>,
    /// A field of the customer profile Customer profiles finds (repeat) [default: no profile
    /// found]
    #[arg(long = "profile", value_name = "KEY=VALUE", value_parser = key_value)]
    profile: Vec<(String, String)>,
    /// Where the built function binaries are [default: the folder of flow-runner itself, then
    /// CARGO_TARGET_DIR or ./target, debug then release]
    #[arg(long, value_name = "DIR")]
    bin_dir: Option<String>,
    /// Build the function binaries with cargo first (debug)
    #[arg(long)]
    build: bool,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum RunAs {
    /// A customer queue flow
    CustomerQueue,
}

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

/// `ARN=FUNCTION`, FUNCTION one of ours (shared with `test`).
pub(crate) fn lambda_mapping(v: &str) -> Result<(String, String), String> {
    let (arn, f) = v
        .rsplit_once('=')
        .ok_or_else(|| format!("{v:?}: expected ARN=FUNCTION"))?;
    if !host::FUNCTIONS.contains(&f) {
        return Err(format!(
            "{v:?}: FUNCTION is one of {}",
            host::FUNCTIONS.join(", ")
        ));
    }
    Ok((arn.to_string(), f.to_string()))
}

fn flow_type(v: &str) -> Result<String, String> {
    let t = v.to_ascii_uppercase();
    match FLOW_TYPES.contains(&t.as_str()) {
        true => Ok(t),
        false => Err(format!("{t:?} is not one of {}", FLOW_TYPES.join(", "))),
    }
}

fn caller_input(v: &str) -> Result<Input, String> {
    Ok(match v {
        "-" => Input::Timeout,
        keys => Input::Digits(keys.to_string()),
    })
}

fn queue(v: &str) -> Result<(String, String), String> {
    let (arn, name) = v.split_once('=').unwrap_or((v, ""));
    let name = match name {
        "" => arn.rsplit('/').next().unwrap_or(arn),
        name => name,
    };
    Ok((arn.to_string(), name.to_string()))
}

fn key_value(v: &str) -> Result<(String, String), String> {
    v.split_once('=')
        .map(|(k, val)| (k.to_string(), val.to_string()))
        .ok_or_else(|| format!("{v:?}: expected KEY=VALUE"))
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
fn function_dir(args: &RunArgs) -> Result<PathBuf, String> {
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
    // Bad arguments: clap prints the error and usage and exits 2.
    match Cli::parse().command {
        Command::Reference => {
            out!("{}", flow_runner::Reference::get().markdown());
            ExitCode::SUCCESS
        }
        Command::Test(args) => test_command::main(&args),
        Command::Check(args) => check(&args),
        Command::Run(args) => run(&args),
    }
}

/// A verdict from the totals: 1 on errors (or warnings with `strict`).
fn verdict(t: Tally, strict: bool) -> ExitCode {
    ExitCode::from(u8::from(t.errors > 0 || (strict && t.warnings > 0)))
}

fn check(args: &CheckArgs) -> ExitCode {
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
        return verdict(report(&per_flow, args.strict), args.strict);
    }
    let (flows, unreadable) = load_all(&args.flows);
    if unreadable && flows.is_empty() {
        return ExitCode::from(2);
    }
    let tally = report(&checked(&flows, &args.flows), args.strict);
    if unreadable {
        return ExitCode::from(2);
    }
    verdict(tally, args.strict)
}

/// Every flow of every path, and whether any path could not be read (said on stderr).
fn load_all(args: &Flows) -> (Vec<Flow>, bool) {
    let mut flows = Vec::new();
    let mut unreadable = false;
    for path in &args.paths {
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
    (flows, unreadable)
}

fn checked(flows: &[Flow], args: &Flows) -> Vec<(String, Vec<Finding>)> {
    let lambdas = args.lambda_map();
    flows
        .iter()
        .map(|f| {
            (
                f.name.clone(),
                check_flow(f, &|arn| lambdas.contains_key(arn)),
            )
        })
        .collect()
}

fn run(args: &RunArgs) -> ExitCode {
    if args.flows.paths.is_empty() {
        eprintln!("flow-runner: run: no flow file given");
        return ExitCode::from(2);
    }
    let (flows, unreadable) = load_all(&args.flows);
    if unreadable || flows.is_empty() {
        return ExitCode::from(2);
    }
    report(&checked(&flows, &args.flows), false);
    let lambdas = args.flows.lambda_map();
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
    let mut queues: BTreeMap<String, String> = args.queues.iter().cloned().collect();
    for q in queues_named(&flows) {
        let name = q.rsplit('/').next().unwrap_or(&q).to_string();
        queues.entry(q).or_insert(name);
    }
    let did = "+18005550100".to_string();
    let inst = Instance {
        numbers: [(did.clone(), start.arn.clone())].into(),
        flows,
        queues,
        lambdas: lambdas.clone(),
        mindful_call_target: args.call_target.clone(),
        mindful_return_number: None,
        mindful_makes_offer: false,
        instance_arn: host::INSTANCE_ARN.into(),
    };
    let dir = if lambdas.is_empty() {
        None
    } else {
        match function_dir(args) {
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
    let profile: BTreeMap<String, String> = args.profile.iter().cloned().collect();
    let mut sc = Scenario {
        inputs: args.inputs.iter().cloned().collect(),
        oldest_contact_age: args.wait.clone(),
        agents_available: args.agents,
        agent: Some(AgentAnswer {
            after_seconds: args.agent_after,
            user_name: "agent".into(),
        }),
        attributes: args.attributes.iter().cloned().collect(),
        in_hours: !args.out_of_hours,
        contacts_in_queue: args.contacts_in_queue,
        lex_intents: args.lex_intents.iter().cloned().collect(),
        view_results: args.view_results.iter().cloned().collect(),
        customer_profile: (!profile.is_empty()).then_some(profile),
        as_customer_queue: (args.run_as == Some(RunAs::CustomerQueue)).then(|| {
            args.queues
                .first()
                .cloned()
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
