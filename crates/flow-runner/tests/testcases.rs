//! Every test case of `infra/tests` (Connect Testing language) run locally against the shipped
//! flows, with the real functions and the Mindful simulator; each must pass. Plus what a wrong
//! test case gives: a failed observation named, an unsupported event named.

use std::path::{Path, PathBuf};

use flow_runner::host::{self, Processes};
use flow_runner::testcase::{self, shipped, Environment, Status, TestCaseError, TestCaseResult};
use mindful_sim::{Sim, SimConfig};

fn tests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra/tests")
}

struct Bench {
    template: String,
    sim: Sim,
    procs: Processes,
}

impl Bench {
    fn start() -> Bench {
        let dir = lambda_harness::build_debug(&host::FUNCTIONS).expect("build the functions");
        let sim = Sim::start_blocking(SimConfig::default()).expect("simulator");
        let procs =
            Processes::start(&dir, &host::function_env(&sim, "US")).expect("start the functions");
        let template = std::fs::read_to_string(host::template_path()).expect("template");
        Bench {
            template,
            sim,
            procs,
        }
    }

    fn run_text(&mut self, name: &str, text: &str) -> Result<TestCaseResult, TestCaseError> {
        let tc = testcase::parse(text, name)?;
        let (local, _) = testcase::local_setup(&tc)?;
        let inst = shipped::instance(&self.template, &local.stack)?;
        let mut env = Environment {
            host: &mut self.procs,
            sim: Some(&self.sim),
        };
        testcase::run_test_case(name, &tc, &inst, &mut env)
    }
}

fn show(r: &TestCaseResult) -> String {
    let mut s = format!("{} ({} run(s)):\n", r.name, r.runs);
    for o in &r.observations {
        s.push_str(&format!("  {:?} {}: {}\n", o.status, o.identifier, o.detail));
        for l in &o.log {
            s.push_str(&format!("      {l}\n"));
        }
    }
    s.push_str(&format!("  end: {}\n", testcase::describe_end(&r.run.end)));
    for st in &r.run.steps {
        s.push_str(&format!("    [{}] {} ({}) -> {} {:?}\n", st.flow, st.block, st.typ, st.branch, st.notes));
    }
    s
}

#[test]
fn every_test_case_in_infra_tests_passes() {
    let mut bench = Bench::start();
    let mut files: Vec<PathBuf> = std::fs::read_dir(tests_dir())
        .expect("infra/tests")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "test cases: {files:?}");
    let mut failures = Vec::new();
    let mut runs = Vec::new();
    let mut observations = 0;
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(f).unwrap();
        match bench.run_text(&name, &text) {
            Ok(r) => {
                println!("{}", show(&r));
                observations += r.observations.len();
                assert!(
                    r.observations.iter().all(|o| o.status == Status::Passed),
                    "{}",
                    show(&r)
                );
                runs.push(r);
            }
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let inst = shipped::instance(&bench.template, &Default::default()).unwrap();
    for c in testcase::coverage(&inst, runs.iter().map(|r| &r.run)) {
        println!(
            "{}: actions {}/{}, transitions {}/{}",
            c.flow, c.actions_run, c.actions, c.transitions_covered, c.transitions
        );
    }
    println!("{} test cases, {observations} observations", files.len());
}
