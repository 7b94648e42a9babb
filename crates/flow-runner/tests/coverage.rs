//! Action and transition coverage of the five shipped flows (infra/template.yaml) under every
//! test case of `infra/tests` (Connect Testing language, its subfolders included:
//! `infra/tests/coverage/` holds the scenarios written for coverage), run with the real
//! functions and the Mindful simulator. Every case must pass; every transition is covered or
//! explained by a rule of Connect's (below); a flow change that adds a branch no test case takes
//! fails this test. The scenarios live in the files only: adding one needs no Rust. The rules
//! that explain a transition are the library's (`testcase::explain`), which the coverage tables
//! of `flow-runner test` and the journey print too.

mod common;

use std::collections::BTreeMap;

use common::{show, test_case_files, tests_dir, Bench};
use flow_runner::testcase::{self, shipped};
use flow_runner::{ContactRun, End, Instance};
use mindful_sim::CallState;

#[test]
fn shipped_flows_every_transition_covered_or_explained() {
    let mut bench = Bench::start();
    let files = test_case_files(&tests_dir(), true);
    assert!(
        files.len() >= 81,
        "infra/tests holds {} test cases; the coverage scenarios are missing",
        files.len()
    );
    let mut runs: Vec<ContactRun> = Vec::new();
    let mut failures = Vec::new();
    let (mut observations, mut answered_calls) = (0, 0);
    for f in &files {
        let (name, result) = bench.run_file(f);
        let r = match result {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        if !r.passed() {
            failures.push(show(&r));
        }
        observations += r.observations.len();
        // The callback reached an agent, and Mindful was told (agentAnswer from the whisper flow).
        if matches!(
            r.callback.as_ref().map(|c| &c.end),
            Some(End::Queued {
                answered_by: Some(_),
                ..
            })
        ) && bench
            .sim
            .calls()
            .iter()
            .any(|c| c.state == CallState::Answered)
        {
            answered_calls += 1;
        }
        runs.extend(r.contacts().cloned());
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        answered_calls > 0,
        "no callback was answered through the whisper flow"
    );

    let params = BTreeMap::from([("SecondChanceOffers".to_string(), "true".to_string())]);
    let inst = shipped::instance(&bench.template, &params).expect("the shipped instance");
    println!(
        "coverage of the shipped flows ({} test cases, {observations} observations):",
        files.len()
    );
    let missing = uncovered(&inst, &runs, true);
    // A branch no test case takes fails the test: add one to flow 2 and look.
    let mut grown = inst.clone();
    let flow = grown
        .flows
        .iter_mut()
        .find(|f| f.name == "InboundToMindfulFlow")
        .unwrap();
    let check = flow
        .actions
        .iter_mut()
        .find(|a| a.id == "check-offer-callback")
        .unwrap();
    check.conditions.push(flow_runner::flow::Condition {
        operator: "Equals".into(),
        operands: vec!["maybe".into()],
        next: "queue-caller".into(),
    });
    let grown_missing = uncovered(&grown, &runs, false);
    assert!(
        grown_missing
            .iter()
            .any(|m| m.contains("check-offer-callback condition:Equals maybe")),
        "an added branch went unnoticed: {grown_missing:?}"
    );
    assert!(
        missing.is_empty(),
        "transitions neither covered nor explained:\n  {}",
        missing.join("\n  ")
    );
}

/// What is neither covered nor explained (and what is covered although explained as
/// unreachable), from the library's coverage of `runs` ([`testcase::coverage`]).
fn uncovered(inst: &Instance, runs: &[ContactRun], print: bool) -> Vec<String> {
    let mut missing = Vec::new();
    for c in testcase::coverage(inst, runs) {
        let Some(flow) = inst.flow(&c.flow) else {
            continue;
        };
        let (mut t_cov, mut t_exp) = (0, 0);
        for a in &flow.actions {
            for (label, _) in a.transitions() {
                let covered = !c.uncovered.contains(&format!("{} {label}", a.id));
                match (covered, testcase::explain(inst, &flow.name, &a.id, &label)) {
                    (true, Some(w)) => missing.push(format!(
                        "{}: {} {label} is covered but explained as unreachable ({w})",
                        flow.name, a.id
                    )),
                    (true, None) => t_cov += 1,
                    (false, Some(w)) => {
                        t_exp += 1;
                        if print {
                            println!("  {}: {} {label}: not reachable: {w}", flow.name, a.id);
                        }
                    }
                    (false, None) => missing.push(format!("{}: {} {label}", flow.name, a.id)),
                }
            }
        }
        if print {
            println!(
                "  {}: actions {}/{}, transitions {t_cov}/{} covered + {t_exp} explained",
                flow.name, c.actions_run, c.actions, c.transitions
            );
        }
        if c.actions_run != c.actions {
            missing.push(format!(
                "{}: {} of {} actions never ran",
                flow.name,
                c.actions - c.actions_run,
                c.actions
            ));
        }
    }
    missing
}
