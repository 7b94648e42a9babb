//! Test kit shared by the function crates' process-level tests (`no_secrets_in_logs`,
//! `fault_matrix`, `load`): spawn the built function binary behind the Lambda Runtime API
//! emulator against an in-process `mindful-sim`, scan captured output for secrets and numbers,
//! and write fault-matrix tables; the drivers built on these (fault matrix, load, samples,
//! environments, deployed spawn) are in `drivers.rs`, re-exported here. Test support only: it
//! panics with the captured output when a step fails, which is what a test wants.

use std::path::Path;
use std::time::Duration;

use crate::{FunctionProcess, Invoked};

pub use crate::drivers::*;
use serde_json::{json, Value};

/// Distinctive values that must never be printed. The `SECRET` marker makes a leak obvious.
pub const CLIENT_SECRET: &str = "cs-SECRET-q7Vd2LmX9pR4";
pub const DATASTORE_TOKEN: &str = "ds-SECRET-Kx81Zt0aWf3N";
/// A token passed as a flow parameter (datastore-proxy `token`, agent-answer `Secret_Num`).
pub const PARAM_SECRET: &str = "param-SECRET-Hh5Ue2Yc0";

/// The caller numbers used in these tests; none may appear in full in any log line.
pub const CALLER: &str = "+13209071234";
pub const CALLER_NATIONAL: &str = "3209071234";
pub const OTHER_CALLER: &str = "+447946095813";

/// An environment reader over `pairs` (later pairs win; a blank value counts as unset, as
/// `mindful_core::config::process_env` reads the real one), for `Config::from_env` in tests.
pub fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: std::collections::HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k| map.get(k).filter(|v| !v.trim().is_empty()).cloned()
}

/// Spawn `binary` with `env`, wait until it polls `/next`.
pub fn spawn(binary: impl AsRef<Path>, env: &[(&str, &str)]) -> FunctionProcess {
    let mut b = FunctionProcess::builder(binary).timeout(Duration::from_secs(8));
    for (k, v) in env {
        b = b.env(*k, *v);
    }
    let f = b.spawn().expect("spawn the function");
    f.wait_ready_blocking(Duration::from_secs(10))
        .expect("function init");
    f
}

/// A `CustomerEndpoint`/`SystemEndpoint` of type `TELEPHONE_NUMBER` at `address`.
pub fn voice(address: &str) -> Value {
    json!({"Address": address, "Type": "TELEPHONE_NUMBER"})
}

/// A voice contact event with `params`, the caller's address and a contact id.
pub fn event(params: Value, address: Option<&str>, contact_id: &str) -> Value {
    json!({
        "Name": "ContactFlowEvent",
        "Details": {
            "ContactData": {
                "Attributes": {"tier": "gold"},
                "Channel": "VOICE",
                "ContactId": contact_id,
                "CustomerEndpoint": address.map(voice),
                "SystemEndpoint": {"Address": "+18005550100", "Type": "TELEPHONE_NUMBER"},
                "LanguageCode": "en-US",
                "Queue": null
            },
            "Parameters": params
        }
    })
}

/// Spawns `binary` under the environment `infra/base.yaml` gives `function` (its defaults, with
/// `stack_parameters` as a deploy's params file would set them; see [`crate::stack`]), plus
/// what Lambda itself sets for a function with the Parameters and Secrets extension layer
/// (`extension`'s port and session token). `extra` is for what the stack cannot express
/// here, named at each call site.
pub fn spawn_deployed(
    binary: impl AsRef<Path>,
    function: &str,
    stack_parameters: &[(&str, &str)],
    extension: Option<&crate::secrets_extension::SecretsExtension>,
    extra: &[(&str, &str)],
) -> FunctionProcess {
    let template =
        std::fs::read_to_string(crate::stack::base_template()).expect("read infra/base.yaml");
    let env = crate::stack::render_environment(&template, function, stack_parameters)
        .unwrap_or_else(|e| panic!("rendering {function}'s environment: {e}"));
    let platform = extension.map(|x| x.env()).unwrap_or_default();
    let mut all: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    all.extend(platform.iter().map(|(k, v)| (*k, v.as_str())));
    all.extend_from_slice(extra);
    spawn(binary, &all)
}

/// Payloads that are not JSON, which `lambda_runtime` would turn into a Lambda error if the
/// functions took a plain `serde_json::Value`: not JSON, empty, a lone UTF-16 surrogate, nesting
/// past serde_json's 128-level limit, invalid UTF-8.
pub fn unreadable_payloads() -> Vec<Vec<u8>> {
    vec![
        b"{not json".to_vec(),
        Vec::new(),
        br#"{"Details":{"Parameters":{"OCW":"\ud800"}}}"#.to_vec(),
        format!(r#"{{"Details":{}1{}}}"#, "[".repeat(200), "]".repeat(200)).into_bytes(),
        b"{\"Details\":\"\xff\xfe\"}".to_vec(),
    ]
}

/// Every [`unreadable_payloads`] body is answered `status=error`, `error=invalid_event` (never a
/// Lambda error) and the process keeps serving.
pub fn assert_unreadable_payloads_answered(f: &mut FunctionProcess) {
    for body in unreadable_payloads() {
        let shown = String::from_utf8_lossy(&body)
            .chars()
            .take(40)
            .collect::<String>();
        let invoked = f
            .invoke_bytes_blocking(body, crate::InvokeOptions::default())
            .expect("invocation completes");
        let Some(r) = invoked.response() else {
            panic!(
                "{shown:?}: Lambda error {:?}\n{}",
                invoked.error(),
                f.log_text()
            );
        };
        assert_eq!(r["status"], "error", "{shown:?}: {r}");
        assert_eq!(r["error"], "invalid_event", "{shown:?}: {r}");
    }
}

/// The response map of a completed invocation (panics on a Lambda error, with the output).
pub fn response(f: &mut FunctionProcess, event: Value) -> (Value, Invoked) {
    let invoked = f.invoke_blocking(event).expect("invocation completes");
    match invoked.response() {
        Some(r) => (r.clone(), invoked),
        None => panic!(
            "Lambda error {:?} (rule 2: failures are responses)\n{}",
            invoked.error(),
            f.log_text()
        ),
    }
}

/// Every value of a response is a string, `status` is present.
pub fn assert_flat(r: &Value) {
    let obj = r.as_object().expect("response is an object");
    assert!(obj.values().all(Value::is_string), "{r}");
    assert!(obj.contains_key("status"), "{r}");
}

/// Findings of [`leaks`]: which forbidden strings appear in `text`.
pub fn leaks(text: &str, secrets: &[&str], numbers: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for s in secrets {
        if text.contains(s) {
            found.push(format!("secret {s:?}"));
        }
    }
    // Tokens the simulator issues: `simtok_` + 32 hex digits.
    for (i, _) in text.match_indices("simtok_") {
        let tail = &text[i + 7..];
        if tail.len() >= 32 && tail[..32].bytes().all(|b| b.is_ascii_hexdigit()) {
            found.push(format!("issued token {}", &text[i..i + 39]));
        }
    }
    // Any credential after an auth scheme that is not the masked form (a word of 8+ token
    // characters right after `Bearer `/`Basic `).
    for scheme in ["Bearer ", "Basic "] {
        for (i, _) in text.match_indices(scheme) {
            let word: String = text[i + scheme.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || "-._~+/=".contains(*c))
                .collect();
            if word.len() >= 8 {
                found.push(format!("credential after {scheme:?}: {:.12}...", word));
            }
        }
    }
    // Full phone numbers: the last seven digits of each number, in any spelling that keeps them
    // together (E.164, digits, national, URL-encoded); masks keep only four.
    for n in numbers {
        let digits: String = n.chars().filter(char::is_ascii_digit).collect();
        let tail = &digits[digits.len().saturating_sub(7)..];
        if text.contains(tail) {
            found.push(format!("phone number ending {tail}"));
        }
    }
    found
}

/// Panics with the offending lines when `text` leaks anything.
pub fn assert_no_leaks(what: &str, text: &str, secrets: &[&str], numbers: &[&str]) {
    let found = leaks(text, secrets, numbers);
    if !found.is_empty() {
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| !leaks(l, secrets, numbers).is_empty())
            .take(10)
            .collect();
        panic!("{what}: {found:?}\n{}", lines.join("\n"));
    }
}

/// Distinct TCP connections to `port` on this machine seen in `/proc/net/tcp{,6}` right now
/// (every state, TIME_WAIT included, so connections closed in the last minute still count):
/// the set of client-side ports talking to the server at `port`.
pub fn client_ports_to(port: u16) -> std::collections::BTreeSet<u16> {
    let mut ports = std::collections::BTreeSet::new();
    for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            if cols.len() < 4 {
                continue;
            }
            let port_of = |addr: &str| {
                addr.rsplit(':')
                    .next()
                    .and_then(|p| u16::from_str_radix(p, 16).ok())
            };
            let (Some(local), Some(remote)) = (port_of(cols[1]), port_of(cols[2])) else {
                continue;
            };
            // Either end of a connection to the server (TIME_WAIT stays on the side that closed
            // first); listening sockets have remote port 0.
            if remote == port && local != port {
                ports.insert(local);
            } else if local == port && remote != 0 && remote != port {
                ports.insert(remote);
            }
        }
    }
    ports
}

/// Wait (bounded) until `n` invocation log lines have been captured; returns how many there are.
/// Output arrives a little after the response it belongs to.
pub fn wait_for_invocation_lines(f: &FunctionProcess, n: usize) -> usize {
    let until = std::time::Instant::now() + Duration::from_secs(3);
    loop {
        let seen = f
            .json_logs()
            .iter()
            .filter(|l| l["message"] == "invocation")
            .count();
        if seen >= n || std::time::Instant::now() >= until {
            return seen;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A fault-matrix cell: `status` or `status/error`, with `http_status` when Mindful answered,
/// and the function's own time for the invocation.
pub fn cell(r: &Value, own: Duration) -> String {
    let mut s = r["status"].as_str().unwrap_or("?").to_string();
    if let Some(e) = r["error"].as_str() {
        s = format!("{s}/`{e}`");
    }
    if let Some(h) = r["http_status"].as_str() {
        s = format!("{s} (HTTP {h})");
    }
    format!("{s}, {} ms", own.as_millis())
}

/// With `FAULT_MATRIX_OUT=<file>` (e.g. `docs/fault-matrix.md`, relative to the workspace root),
/// replaces this function's section of that file (between `<!-- BEGIN name -->` and
/// `<!-- END name -->`, appended when missing) with `markdown`.
pub fn write_matrix_section(name: &str, markdown: &str) {
    let Some(out) = std::env::var_os("FAULT_MATRIX_OUT") else {
        return;
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let path = root.join(out);
    let begin = format!("<!-- BEGIN {name} -->");
    let end = format!("<!-- END {name} -->");
    let section = format!("{begin}\n{}\n{end}", markdown.trim_end());
    let old = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        "# Fault matrix\n\nGenerated by `FAULT_MATRIX_OUT=docs/fault-matrix.md cargo test -p <function> \
         --test fault_matrix`: each function's release-independent behaviour (debug build) against \
         `mindful-sim` faults, through the Lambda Runtime API. Times are the function's own time \
         per invocation.\n"
            .to_string()
    });
    let new = match (old.find(&begin), old.find(&end)) {
        (Some(b), Some(e)) if e > b => format!("{}{section}{}", &old[..b], &old[e + end.len()..]),
        _ => format!("{}\n{section}\n", old.trim_end()),
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("docs directory");
    }
    std::fs::write(&path, new).expect("write the fault matrix");
}

/// Allowed RSS growth between the first and last checkpoint of a load run with production-like
/// (unique) trace ids. lambda_runtime 1.5 calls `std::env::set_var("_X_AMZN_TRACE_ID", …)` on
/// every invocation and glibc's `setenv` keeps every distinct value it was given, so such a run
/// grows by ~130 bytes per invocation whatever the function does (measured: flat with a constant
/// trace id, +1.3 MB per 10 000 invocations with unique ones).
pub const MAX_RSS_GROWTH_KIB: u64 = 2048;
/// Allowed growth with a constant trace id: the function's own memory must stay flat.
pub const MAX_OWN_RSS_GROWTH_KIB: u64 = 256;

/// The trace ids a load run hands out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceIds {
    /// A new one per invocation, as Lambda does.
    Unique,
    /// One for every invocation, to measure the function's own growth.
    Constant,
}

/// Invokes `event` with the trace-id policy of a load run.
pub fn invoke_traced(f: &mut FunctionProcess, event: Value, trace: TraceIds) -> Invoked {
    let mut opts = crate::InvokeOptions::default();
    if trace == TraceIds::Constant {
        opts.extra_headers.push((
            "Lambda-Runtime-Trace-Id".into(),
            "Root=1-00000000-000000000000000000000000;Parent=0000000000000000;Sampled=0".into(),
        ));
    }
    f.invoke_blocking_with(&event, opts)
        .expect("invocation completes")
}
/// Allowed TCP connections to the simulator over a whole load run (keep-alive pooling).
pub const MAX_CONNECTIONS: usize = 4;

/// What a load run measured.
#[derive(Debug, Clone)]
pub struct LoadReport {
    pub invocations: usize,
    pub trace: TraceIds,
    /// `(after N invocations, VmRSS KiB)` at each checkpoint.
    pub rss_kib: Vec<(usize, u64)>,
    /// TCP connections to the simulator (`None` for a function without upstream calls).
    pub connections: Option<usize>,
    pub elapsed: Duration,
}

/// Prints a load run and asserts the bounds: RSS growth under [`MAX_RSS_GROWTH_KIB`] (unique
/// trace ids) or [`MAX_OWN_RSS_GROWTH_KIB`] (constant), and, when counted, 1 to
/// [`MAX_CONNECTIONS`] connections.
pub fn check_load(function: &str, report: &LoadReport) {
    eprintln!(
        "{function}: {} invocations ({:?} trace ids) in {:.1?} ({:.0}/s), VmRSS {:?} KiB, TCP connections to the simulator: {:?}",
        report.invocations,
        report.trace,
        report.elapsed,
        report.invocations as f64 / report.elapsed.as_secs_f64(),
        report.rss_kib,
        report.connections
    );
    let first = report.rss_kib.first().expect("checkpoint").1;
    let last = report.rss_kib.last().expect("checkpoint").1;
    let bound = match report.trace {
        TraceIds::Unique => MAX_RSS_GROWTH_KIB,
        TraceIds::Constant => MAX_OWN_RSS_GROWTH_KIB,
    };
    assert!(
        last <= first + bound,
        "{function}: RSS grew from {first} to {last} KiB ({:?} trace ids, bound {bound} KiB)",
        report.trace
    );
    if let Some(connections) = report.connections {
        assert!(
            (1..=MAX_CONNECTIONS).contains(&connections),
            "{function}: {connections} connections"
        );
    }
}

