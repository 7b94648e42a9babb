//! The corpus of real exported flows (tests/corpus/, SOURCES.md): every flow loads, checks with
//! no error, and runs without a panic. Prints the corpus figures the README quotes
//! (`cargo test -p flow-runner --test corpus -- --nocapture`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use flow_runner::check::{check_flow, Severity, Tally};
use flow_runner::{
    flows_from_json, run_contact, Call, Host, Instance, LambdaCall, LambdaReply, Reference,
    Scenario,
};
use serde_json::json;

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|x| x == "json") {
            out.push(p);
        }
    }
}

/// Every Lambda answers `{"status": "ok"}`; every step's action type is recorded.
struct Answering(BTreeSet<String>);

impl Host for Answering {
    fn invoke(&mut self, _call: &LambdaCall) -> LambdaReply {
        LambdaReply::Answer(json!({"status": "ok"}))
    }

    fn on_step(&mut self, step: &flow_runner::Step) {
        self.0.insert(step.typ.clone());
    }
}

#[test]
fn every_corpus_flow_loads_checks_clean_and_runs() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut paths = Vec::new();
    files(&dir, &mut paths);
    paths.sort();
    let mut flows = Vec::new();
    for p in &paths {
        let text = std::fs::read_to_string(p).unwrap();
        let loaded = flows_from_json(&text, &p.display().to_string());
        assert!(loaded.is_ok(), "{}: {:?}", p.display(), loaded.err());
        flows.extend(loaded.unwrap());
    }
    assert!(flows.len() >= 20, "{} flows", flows.len());

    let mut tally = Tally::default();
    let mut errors = Vec::new();
    let mut types: BTreeMap<String, usize> = BTreeMap::new();
    for f in &flows {
        let found = check_flow(f, &|_| false);
        let t = Tally::of(&found);
        tally.errors += t.errors;
        tally.warnings += t.warnings;
        tally.notes += t.notes;
        errors.extend(
            found
                .into_iter()
                .filter(|x| x.severity == Severity::Error)
                .map(|x| x.to_string()),
        );
        for a in &f.actions {
            *types.entry(a.typ.clone()).or_default() += 1;
        }
    }
    assert!(errors.is_empty(), "{errors:#?}");

    let mut ran = Answering(BTreeSet::new());
    let (mut ended, mut stopped) = (0, 0);
    for f in &flows {
        let inst = Instance {
            numbers: [("+18005550100".to_string(), f.arn.clone())].into(),
            flows: vec![f.clone()],
            ..Instance::default()
        };
        let call = Call {
            customer: "+13209071234".into(),
            dialled: "+18005550100".into(),
            contact_id: "c".into(),
        };
        // A customer queue or hold flow runs as one: the caller is already in a queue.
        let mut sc = Scenario {
            as_customer_queue: matches!(
                f.flow_type.as_deref(),
                Some("CUSTOMER_QUEUE" | "CUSTOMER_HOLD" | "AGENT_HOLD")
            )
            .then(|| ("arn:local:queue/q".to_string(), "q".to_string())),
            ..Scenario::default()
        };
        match run_contact(&inst, &mut ran, call, &mut sc) {
            Ok(_) => ended += 1,
            Err(_) => stopped += 1,
        }
    }
    let r = Reference::get();
    let with_row = types.keys().filter(|t| r.row(t).is_some()).count();
    println!(
        "corpus: {} files, {} flows, {} actions, {} action types ({} with a row in the reference table, {} executed in the runs)",
        paths.len(),
        flows.len(),
        types.values().sum::<usize>(),
        types.len(),
        with_row,
        ran.0.len()
    );
    println!(
        "findings: {} errors, {} warnings, {} notes",
        tally.errors, tally.warnings, tally.notes
    );
    println!("runs: {ended} to their end, {stopped} stopped with a RunError (no panic)");
    let without: Vec<&String> = types.keys().filter(|t| r.row(t).is_none()).collect();
    println!("action types without a row: {without:?}");
}
