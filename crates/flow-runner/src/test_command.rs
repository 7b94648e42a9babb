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

/// `flow-runner test`'s arguments (their help: the `Test` command in main.rs).
#[derive(clap::Args, Debug)]
pub struct TestArgs {
    /// Test case files
    #[arg(value_name = "TESTCASE", required = true)]
    cases: Vec<String>,
    /// Run against this flow file instead of the shipped template (repeat)
    #[arg(long = "flow", value_name = "FILE")]
    flows: Vec<String>,
    /// Play the flow's Lambda ARN with one of our functions (repeat)
    #[arg(long = "lambda", value_name = "ARN=FUNCTION", value_parser = crate::lambda_mapping)]
    lambdas: Vec<(String, String)>,
    /// Fail (exit 1) when fewer than N % of the transitions are covered
    #[arg(long, value_name = "N", value_parser = percentage)]
    min_coverage: Option<f64>,
    /// Print one JSON document instead
    #[arg(long)]
    json: bool,
}

fn percentage(v: &str) -> Result<f64, String> {
    match v.trim_end_matches('%').parse::<f64>() {
        Ok(n) if (0.0..=100.0).contains(&n) => Ok(n),
        _ => Err(format!("{v:?}: a percentage, 0 to 100")),
    }
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
pub fn main(args: &TestArgs) -> ExitCode {
    let lambdas: BTreeMap<String, String> = args.lambdas.iter().cloned().collect();
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
        user_flows = Some(user_instance(flows, &lambdas));
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
    let want_functions = user_flows.is_none() || !lambdas.is_empty();
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
