//! What the function binaries really print for operations: each of ocw-phrase, datastore-proxy
//! and agent-answer runs as a process under the Lambda Runtime API emulator (so EMF is on, as on
//! AWS) against the Mindful simulator, through its ok paths and its error paths. The test checks
//! the Embedded Metric Format documents and the invocation log lines, and writes them, one JSON
//! per line, to `EMF_DUMP` (default `<target>/operations/emitted.jsonl`) for
//! `infra/check_operations.py --emitted`, which fails when an alarm in `infra/operations.yaml`
//! names a metric/dimension set nobody emits, or a saved query a field no log line has.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bundle_testkit::{event, response, spawn, CALLER, CLIENT_SECRET, DATASTORE_TOKEN};
use lambda_harness::FunctionProcess;
use mindful_sim::{ClientConfig, Fault, Route, Sim, SimConfig, TemplateConfig};
use serde_json::{json, Value};

/// A number the simulator's Datastore holds no record for (GET -> `not_found`).
const UNKNOWN_CALLER: &str = "+13205550123";

fn invoke(f: &mut FunctionProcess, params: Value, caller: &str, contact: &str) -> Value {
    let (r, _) = response(f, event(params, Some(caller), contact));
    r
}

/// `(function, status)` of every invocation, checked against the answers.
type Seen = Vec<(&'static str, String)>;

fn expect(seen: &mut Seen, function: &'static str, r: &Value, status: &str) {
    assert_eq!(r["status"], status, "{function}: {r}");
    seen.push((function, status.to_string()));
}

/// The JSON lines of a process's stdout: EMF documents (with `_aws`) and invocation log lines.
fn emitted(f: &FunctionProcess) -> (Vec<Value>, Vec<Value>) {
    let mut emf = Vec::new();
    let mut logs = Vec::new();
    for line in f.logs() {
        let Some(v) = line.json() else { continue };
        if v.get("_aws").is_some() {
            emf.push(v);
        } else if v.get("message").and_then(Value::as_str) == Some("invocation") {
            logs.push(v);
        }
    }
    (emf, logs)
}

/// Metric names and dimension sets an EMF document declares, after checking it is well formed
/// (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html):
/// every declared metric and every dimension key is a member of the root object.
fn declared(doc: &Value) -> Vec<(String, String, Vec<String>)> {
    let directives = doc["_aws"]["CloudWatchMetrics"]
        .as_array()
        .expect("CloudWatchMetrics array");
    assert!(doc["_aws"]["Timestamp"].as_u64().is_some(), "{doc}");
    let mut out = Vec::new();
    for d in directives {
        let ns = d["Namespace"].as_str().expect("Namespace");
        let sets = d["Dimensions"].as_array().expect("Dimensions");
        for m in d["Metrics"].as_array().expect("Metrics") {
            let name = m["Name"].as_str().expect("metric Name");
            assert!(doc[name].is_number(), "metric {name} has no value: {doc}");
            for set in sets {
                let keys: Vec<String> = set
                    .as_array()
                    .expect("dimension set")
                    .iter()
                    .map(|k| k.as_str().expect("dimension key").to_string())
                    .collect();
                for k in &keys {
                    assert!(doc[k].is_string(), "dimension {k} has no value: {doc}");
                }
                out.push((ns.to_string(), name.to_string(), keys));
            }
        }
    }
    out
}

fn dump_path() -> PathBuf {
    match std::env::var_os("EMF_DUMP") {
        Some(p) => PathBuf::from(p),
        None => lambda_harness::target_dir()
            .expect("target dir")
            .join("operations")
            .join("emitted.jsonl"),
    }
}

#[test]
fn binaries_emit_the_metrics_and_log_fields_operations_uses() {
    let dir = lambda_harness::build_debug(&journey::FUNCTIONS).expect("build the functions");
    let sim = Sim::start_blocking(SimConfig {
        clients: vec![ClientConfig {
            client_id: "client".into(),
            client_secret: CLIENT_SECRET.into(),
        }],
        templates: vec![TemplateConfig::new(DATASTORE_TOKEN)],
        ..SimConfig::default()
    })
    .expect("simulator");
    let base = sim.base_url();
    let mut seen: Seen = Vec::new();

    // ocw-phrase: a phrase (ok), a wait that is no number (error: the flow passed garbage).
    let mut ocw = spawn(dir.join("ocw-phrase"), &[]);
    let r = invoke(&mut ocw, json!({"OCW": "250"}), CALLER, "c-ocw-1");
    expect(&mut seen, "ocw-phrase", &r, "ok");
    let r = invoke(&mut ocw, json!({"OCW": "abc"}), CALLER, "c-ocw-2");
    expect(&mut seen, "ocw-phrase", &r, "error");

    // datastore-proxy: store, read back, read a number with no record (context lost),
    // Mindful failing (500 on GET).
    let mut ds = spawn(
        dir.join("datastore-proxy"),
        &[
            ("DATASTORE_URL", base.as_str()),
            ("MINDFUL_ALLOW_HTTP", "1"),
            ("DATASTORE_TOKEN", DATASTORE_TOKEN),
        ],
    );
    let post = json!({"method": "POST", "AccountNo": "12345"});
    let get = json!({"method": "GET"});
    let r = invoke(&mut ds, post, CALLER, "c-ds-1");
    expect(&mut seen, "datastore-proxy", &r, "ok");
    let r = invoke(&mut ds, get.clone(), CALLER, "c-ds-2");
    expect(&mut seen, "datastore-proxy", &r, "ok");
    let r = invoke(&mut ds, get.clone(), UNKNOWN_CALLER, "c-ds-3");
    expect(&mut seen, "datastore-proxy", &r, "not_found");
    sim.set_fault(Route::DatastoreGet, Fault::Status { code: 500 }, None);
    let r = invoke(&mut ds, get, CALLER, "c-ds-4");
    expect(&mut seen, "datastore-proxy", &r, "error");
    sim.clear_faults();

    // agent-answer: the callback answered (accepted), Mindful failing (500 on Agent Answer).
    let mut aa = spawn(
        dir.join("agent-answer"),
        &[
            ("MINDFUL_TOKEN_URL", sim.token_url().as_str()),
            ("MINDFUL_API_URL", base.as_str()),
            ("MINDFUL_ALLOW_HTTP", "1"),
            ("MINDFUL_CLIENT_ID", "client"),
            ("MINDFUL_CLIENT_SECRET", CLIENT_SECRET),
            ("AGENT_ANSWER_DEDUP_SECONDS", "0"),
        ],
    );
    let whisper = json!({"Agent_ID": "jdoe", "Queue_ID": "arn:q"});
    sim.register_call(CALLER);
    let r = invoke(&mut aa, whisper.clone(), CALLER, "c-aa-1");
    expect(&mut seen, "agent-answer", &r, "accepted");
    sim.register_call(CALLER);
    sim.set_fault(Route::AgentAnswer, Fault::Status { code: 500 }, None);
    let r = invoke(&mut aa, whisper, CALLER, "c-aa-2");
    expect(&mut seen, "agent-answer", &r, "error");
    sim.clear_faults();

    let mut emf = Vec::new();
    let mut logs = Vec::new();
    for f in [&ocw, &ds, &aa] {
        let n = seen.iter().filter(|(name, _)| *name == f.name()).count();
        // Output arrives a little after the response it belongs to.
        let until = Instant::now() + Duration::from_secs(5);
        let (e, l) = loop {
            let (e, l) = emitted(f);
            if (e.len() >= n && l.len() >= n) || Instant::now() >= until {
                break (e, l);
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(
            e.len(),
            n,
            "{}: one EMF line per invocation\n{}",
            f.name(),
            f.log_text()
        );
        assert_eq!(l.len(), n, "{}: one log line per invocation", f.name());
        emf.extend(e);
        logs.extend(l);
    }

    // Every invocation shows up with its function and status, in the EMF document and the log.
    let emf_pairs: Vec<(String, String)> = emf
        .iter()
        .map(|d| {
            (
                d["Function"].as_str().unwrap().into(),
                d["Status"].as_str().unwrap().into(),
            )
        })
        .collect();
    let log_pairs: Vec<(String, String)> = logs
        .iter()
        .map(|l| {
            (
                l["function"].as_str().unwrap().into(),
                l["status"].as_str().unwrap().into(),
            )
        })
        .collect();
    let want: Vec<(String, String)> = seen
        .iter()
        .map(|(f, s)| (f.to_string(), s.clone()))
        .collect();
    assert_eq!(emf_pairs, want);
    assert_eq!(log_pairs, want);

    // What the alarms may use: (namespace, metric, dimension set), per function.
    let mut metrics: BTreeMap<String, BTreeSet<(String, String, Vec<String>)>> = BTreeMap::new();
    for d in &emf {
        let function = d["Function"].as_str().unwrap().to_string();
        metrics.entry(function).or_default().extend(declared(d));
        assert_eq!(
            d["Errors"],
            if d["Status"] == "error" { 1 } else { 0 },
            "{d}"
        );
    }
    for (function, declared) in &metrics {
        for metric in ["Invocations", "Errors", "Duration", "UpstreamRequests"] {
            for dims in [vec!["Function"], vec!["Function", "Status"]] {
                let key = (
                    mindful_core::observe::METRICS_NAMESPACE.to_string(),
                    metric.to_string(),
                    dims.iter().map(|s| s.to_string()).collect(),
                );
                assert!(declared.contains(&key), "{function} never emits {key:?}");
            }
        }
    }
    // UpstreamLatency only where there was an upstream request.
    for d in &emf {
        let has_latency = d.get("UpstreamLatency").is_some();
        assert_eq!(
            has_latency,
            d["UpstreamRequests"].as_u64().unwrap() > 0,
            "{d}"
        );
    }
    assert!(emf
        .iter()
        .any(|d| d["Function"] == "agent-answer" && d.get("UpstreamLatency").is_some()));
    assert!(emf
        .iter()
        .any(|d| d["Function"] == "datastore-proxy" && d.get("UpstreamLatency").is_some()));
    // Error paths carry their code, ok paths none; numbers are masked.
    for l in &logs {
        let error = l["error"].as_str().unwrap_or("");
        assert_eq!(error.is_empty(), l["status"] != "error", "{l}");
        // The contact the invocation served, to follow one contact across the functions.
        let contact = l["contact_id"].as_str().unwrap_or("");
        assert!(contact.starts_with("c-"), "no contact_id: {l}");
        if let Some(n) = l.get("number").and_then(Value::as_str) {
            assert!(n.starts_with("***") && n.len() == 7, "unmasked number: {l}");
        }
        // One request record for every function (mindful_core::http::record_requests): time
        // waited only when a request was sent, and a status only when Mindful answered one.
        let sent = l["upstream_requests"].as_u64().unwrap_or(0);
        assert_eq!(l.get("upstream_ms").is_some(), sent > 0, "{l}");
        if l.get("upstream_status").is_some() {
            assert!(sent > 0, "{l}");
        }
    }
    // The faulted invocations logged Mindful's own 500, whatever the function.
    for function in ["datastore-proxy", "agent-answer"] {
        assert!(
            logs.iter()
                .any(|l| l["function"] == function && l["upstream_status"] == 500),
            "{function}: no invocation logged upstream_status 500"
        );
    }

    let path = dump_path();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut text = String::new();
    for v in emf.iter().chain(logs.iter()) {
        text.push_str(&v.to_string());
        text.push('\n');
    }
    std::fs::write(&path, text).unwrap();
    println!(
        "{} EMF documents and {} log lines from {} invocations -> {}",
        emf.len(),
        logs.len(),
        seen.len(),
        path.display()
    );
}
