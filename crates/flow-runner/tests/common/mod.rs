//! What the test-case suites share: the functions and Mindful's simulator started once, the
//! shipped template, and the files of `infra/tests`; and, for the block and checker suites, a
//! contact on a one-number instance.

// Each suite that includes this module uses a part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use flow_runner::host::{self, Processes};
use flow_runner::testcase::{self, shipped, Environment, TestCaseError, TestCaseResult};
use flow_runner::{run_contact, Call, ContactRun, Flow, Host, Instance, RunError, Scenario};
use mindful_sim::{Sim, SimConfig};

/// Runs a call from +13209071234 (contact `c`) to the one number of an instance of `flows`,
/// which starts the first of them.
pub fn run_one_number(
    flows: Vec<Flow>,
    host: &mut dyn Host,
    sc: &mut Scenario,
) -> Result<ContactRun, RunError> {
    let inst = Instance {
        numbers: [("+18005550100".to_string(), flows[0].arn.clone())].into(),
        flows,
        ..Instance::default()
    };
    let call = Call {
        customer: "+13209071234".into(),
        dialled: "+18005550100".into(),
        contact_id: "c".into(),
    };
    run_contact(&inst, host, call, sc)
}

pub fn tests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra/tests")
}

/// The `.json` files of `dir` (and of its subfolders when `recursive`), sorted.
pub fn test_case_files(dir: &Path, recursive: bool) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("a folder of test cases") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            if recursive {
                files.extend(test_case_files(&path, true));
            }
        } else if path.extension().is_some_and(|x| x == "json") {
            files.push(path);
        }
    }
    files.sort();
    files
}

pub struct Bench {
    pub template: String,
    pub sim: Sim,
    procs: Processes,
}

impl Bench {
    pub fn start() -> Bench {
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

    pub fn run_text(&mut self, name: &str, text: &str) -> Result<TestCaseResult, TestCaseError> {
        let tc = testcase::parse(text, name)?;
        let (local, _) = testcase::local_setup(&tc)?;
        let inst = shipped::instance(&self.template, &local.stack)?;
        let mut env = Environment {
            host: &mut self.procs,
            sim: Some(&self.sim),
        };
        testcase::run_test_case(name, &tc, &inst, &mut env)
    }

    /// Run a file of `infra/tests` (named by its path under that folder).
    pub fn run_file(&mut self, file: &Path) -> (String, Result<TestCaseResult, TestCaseError>) {
        let name = file
            .strip_prefix(tests_dir())
            .unwrap_or(file)
            .to_string_lossy()
            .to_string();
        let text = std::fs::read_to_string(file).expect("a test case file");
        let result = self.run_text(&name, &text);
        (name, result)
    }
}

pub fn show(r: &TestCaseResult) -> String {
    let mut s = format!("{} ({} run(s)):\n", r.name, r.runs);
    for o in &r.observations {
        s.push_str(&format!(
            "  {:?} {}: {}\n",
            o.status, o.identifier, o.detail
        ));
        for l in &o.log {
            s.push_str(&format!("      {l}\n"));
        }
    }
    s.push_str(&format!("  end: {}\n", testcase::describe_end(&r.run.end)));
    for st in &r.run.steps {
        s.push_str(&format!(
            "    [{}] {} ({}) -> {} {:?}\n",
            st.flow, st.block, st.typ, st.branch, st.notes
        ));
    }
    s
}
