//! `flow-runner test FILE... [--flow FLOW]... [--lambda ARN=FUNCTION]... [--min-coverage N] [--json]`:
//! Connect Testing-language test cases run locally (`flow_runner::testcase`), each observation
//! passed or failed, then each flow's action and transition coverage.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::process::ExitCode;

use flow_runner::host::{self, Processes};
use flow_runner::testcase::{self, shipped, Environment, TestCaseResult};
use flow_runner::{Flow, Host, Instance, LambdaCall, LambdaReply};
use serde_json::json;

pub const HELP: &str = "\
    flow-runner test TESTCASE... [--flow FILE]... [--lambda ARN=FUNCTION]... [--min-coverage N] [--json]

TESTCASE is a Connect Testing-language test case (Version 2025-06-21). Without --flow it runs
against the shipped flows of infra/template.yaml (Metadata.\"flow-runner\".stack sets stack
parameters); with --flow, against those flow files (the first flow answers the call). Prints each
observation passed or failed, then each flow's action and transition coverage over all test
cases. --min-coverage N fails (exit 1) when fewer than N % of the transitions are covered; --json
prints one JSON document instead. Exit 0 all passed, 1 a test failed or coverage under the gate,
2 unreadable input or bad arguments.";

struct Args {
    cases: Vec<String>,
    flows: Vec<String>,
    lambdas: BTreeMap<String, String>,
    min_coverage: Option<f64>,
    json: bool,
}

fn parse(args: &[String]) -> Result<Args, String> {
    let mut a = Args {
        cases: Vec::new(),
        flows: Vec::new(),
        lambdas: BTreeMap::new(),
        min_coverage: None,
        json: false,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match arg.as_str() {
            "--flow" => a.flows.push(value("--flow")?),
            "--lambda" => {
                let v = value("--lambda")?;
                let (arn, function) = v
                    .split_once('=')
                    .ok_or_else(|| format!("--lambda {v:?}: expected ARN=FUNCTION"))?;
                if !host::FUNCTIONS.contains(&function) {
                    return Err(format!(
                        "--lambda {v:?}: FUNCTION is one of {}",
                        host::FUNCTIONS.join(", ")
                    ));
                }
                a.lambdas.insert(arn.to_string(), function.to_string());
            }
            "--min-coverage" => {
                let v = value("--min-coverage")?;
                match v.trim_end_matches('%').parse::<f64>() {
                    Ok(n) if (0.0..=100.0).contains(&n) => a.min_coverage = Some(n),
                    _ => return Err(format!("--min-coverage {v:?}: a percentage, 0 to 100")),
                }
            }
            "--json" => a.json = true,
            s if s.starts_with("--") => return Err(format!("unknown option {s}")),
            s => a.cases.push(s.to_string()),
        }
    }
    if a.cases.is_empty() {
        return Err("no test case file".into());
    }
    Ok(a)
}

fn read(file: &str) -> Result<String, String> {
    let bytes = std::fs::read(file).map_err(|e| format!("{file}: {e}"))?;
    super::decode_text(bytes).ok_or_else(|| format!("{file}: not UTF-8 or UTF-16 text"))
}

/// Plays the functions when some are running; otherwise every call fails (the flow's error
/// branch), as an unmapped ARN does.
struct Functions(Option<Processes>);

impl Host for Functions {
    fn invoke(&mut self, call: &LambdaCall) -> LambdaReply {
        match self.0.as_mut() {
            Some(p) => p.invoke(call),
            None => LambdaReply::Failed("no function is running (map one with --lambda)".into()),
        }
    }
}

fn user_instance(flows: Vec<Flow>, lambdas: &BTreeMap<String, String>) -> Instance {
    let mut queues = BTreeMap::new();
    for a in flows.iter().flat_map(|f| &f.actions) {
        if let Some(q) = a.param_str("QueueId") {
            if q.contains(":queue/") || q.contains("/queue/") {
                let name = q.rsplit('/').next().unwrap_or(&q).to_string();
                queues.entry(q).or_insert(name);
            }
        }
    }
    let numbers = flows
        .first()
        .map(|f| (shipped::MAIN_NUMBER.to_string(), f.arn.clone()))
        .into_iter()
        .collect();
    Instance {
        flows,
        numbers,
        queues,
        lambdas: lambdas.clone(),
        mindful_call_target: None,
        mindful_return_number: None,
        mindful_makes_offer: false,
        instance_arn: host::INSTANCE_ARN.into(),
    }
}

macro_rules! say {
    ($($arg:tt)*) => {{
        if writeln!(std::io::stdout(), $($arg)*).is_err() {
            return ExitCode::SUCCESS;
        }
    }};
}

/// The `test` subcommand; `args` follow the word `test`.
pub fn main(args: &[String]) -> ExitCode {
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("USAGE:\n{HELP}");
        return ExitCode::SUCCESS;
    }
    let args = match parse(args) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("flow-runner test: {e}");
            return ExitCode::from(2);
        }
    };
    // The flows: the user's files, or the shipped template.
    let mut user_flows = None;
    if !args.flows.is_empty() {
        let mut flows = Vec::new();
        for f in &args.flows {
            match read(f)
                .and_then(|t| flow_runner::flows_from_json(&t, f).map_err(|e| e.to_string()))
            {
                Ok(fs) => flows.extend(fs),
                Err(e) => {
                    eprintln!("flow-runner test: {e}");
                    return ExitCode::from(2);
                }
            }
        }
        user_flows = Some(user_instance(flows, &args.lambdas));
    }
    let template = match &user_flows {
        Some(_) => String::new(),
        None => match read(&host::template_path().to_string_lossy()) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("flow-runner test: {e}");
                return ExitCode::from(2);
            }
        },
    };
    let mut cases = Vec::new();
    for file in &args.cases {
        match read(file).and_then(|t| testcase::parse(&t, file).map_err(|e| e.to_string())) {
            Ok(tc) => cases.push((file.clone(), tc)),
            Err(e) => {
                eprintln!("flow-runner test: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let sim = match mindful_sim::Sim::start_blocking(mindful_sim::SimConfig::default()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("flow-runner test: the Mindful simulator did not start: {e}");
            return ExitCode::from(2);
        }
    };
    let want_functions = user_flows.is_none() || !args.lambdas.is_empty();
    let mut functions = Functions(None);
    if want_functions {
        let started = lambda_harness::build_debug(&host::FUNCTIONS)
            .map_err(|e| e.to_string())
            .and_then(|dir| {
                Processes::start(&dir, &host::function_env(&sim, "US")).map_err(|e| e.to_string())
            });
        match started {
            Ok(p) => functions.0 = Some(p),
            Err(e) => {
                eprintln!("flow-runner test: the functions did not start: {e}");
                return ExitCode::from(2);
            }
        }
    }

    let mut results: Vec<(String, Result<TestCaseResult, String>)> = Vec::new();
    for (file, tc) in &cases {
        let inst = match &user_flows {
            Some(inst) => testcase::local_setup(tc).map_err(|e| e.to_string()).and_then(|(l, _)| {
                if l.stack.is_empty() {
                    Ok(inst.clone())
                } else {
                    Err("Metadata.\"flow-runner\".stack sets parameters of the shipped stack; with --flow there is none".into())
                }
            }),
            None => testcase::local_setup(tc)
                .and_then(|(l, _)| shipped::instance(&template, &l.stack))
                .map_err(|e| e.to_string()),
        };
        let result = inst.and_then(|inst| {
            let mut env = Environment {
                host: &mut functions,
                sim: Some(&sim),
            };
            testcase::run_test_case(file, tc, &inst, &mut env).map_err(|e| e.to_string())
        });
        results.push((file.clone(), result));
    }
    sim.shutdown();

    let cover_inst = match &user_flows {
        Some(i) => i.clone(),
        None => match shipped::instance(&template, &BTreeMap::new()) {
            Ok(i) => i,
            Err(e) => {
                eprintln!("flow-runner test: {e}");
                return ExitCode::from(2);
            }
        },
    };
    let coverage = testcase::coverage(
        &cover_inst,
        results
            .iter()
            .filter_map(|(_, r)| r.as_ref().ok())
            .flat_map(|r| r.contacts()),
    );
    let (covered, total, percent) = testcase::coverage_totals(&coverage);
    let failed = results
        .iter()
        .filter(|(_, r)| !matches!(r, Ok(r) if r.passed()))
        .count();
    let under_gate = args.min_coverage.is_some_and(|n| percent < n);
    let ok = failed == 0 && !under_gate;

    if args.json {
        let cases: Vec<_> = results
            .iter()
            .map(|(file, r)| match r {
                Ok(r) => json!({
                    "file": file,
                    "passed": r.passed(),
                    "end": testcase::describe_end(&r.run.end),
                    "runs": r.runs,
                    "callback": r.callback.as_ref().map(|c| testcase::describe_end(&c.end)),
                    "observations": r.observations,
                }),
                Err(e) => json!({"file": file, "passed": false, "error": e}),
            })
            .collect();
        let doc = json!({
            "passed": ok,
            "test_cases": cases,
            "coverage": coverage,
            "transitions_covered": covered,
            "transitions": total,
            "transition_coverage_percent": (percent * 10.0).round() / 10.0,
            "min_coverage": args.min_coverage,
        });
        say!("{doc:#}");
    } else {
        for (file, r) in &results {
            match r {
                Err(e) => say!("ERROR {file}: {e}"),
                Ok(r) => {
                    // The journey's transcript, without the blocks (flow_runner::transcript).
                    let mut stdout = std::io::stdout();
                    if flow_runner::transcript::write_result(&mut stdout, file, r, None).is_err() {
                        return ExitCode::SUCCESS;
                    }
                }
            }
        }
        say!("coverage ({} test case(s)):", results.len());
        for line in testcase::coverage_table(&coverage) {
            say!("{line}");
        }
        if let Some(n) = args.min_coverage {
            say!(
                "coverage gate {n} %: {}",
                if under_gate { "FAILED" } else { "met" }
            );
        }
        say!("{} passed, {failed} failed", results.len() - failed);
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
