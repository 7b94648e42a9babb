//! Drivers shared by the function crates' tests, re-exported by [`crate::testkit`]: the checked
//! invocation they all make, environments with overrides ([`Env`]), the fault-matrix rows and
//! table ([`FaultMatrix`]), the load run ([`run_load`], [`load_tests!`](crate::load_tests)) and
//! the `events/` samples with their documented answers ([`samples`]). What is specific to a
//! function (its events, its simulator set-up, its expected outcomes) stays in its test files.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use crate::testkit::{
    assert_flat, assert_no_leaks, client_ports_to, invoke_traced, response,
    wait_for_invocation_lines, write_matrix_section, LoadReport, TraceIds,
};
use lambda_harness::{FunctionProcess, Invoked};

/// An expected `(status, error)` pair; `error` is `""` when the answer has none.
pub type Want = (&'static str, &'static str);

/// The `(status, error)` of an answer (`""` for a missing key).
pub fn outcome(r: &Value) -> (&str, &str) {
    (
        r["status"].as_str().unwrap_or(""),
        r["error"].as_str().unwrap_or(""),
    )
}

/// Invokes `event`, checks the answer is flat and its `(status, error)` is `want`; returns it.
pub fn expect_answer(
    f: &mut FunctionProcess,
    event: Value,
    want: (&str, &str),
    what: &str,
) -> (Value, Invoked) {
    let (r, invoked) = response(f, event);
    assert_flat(&r);
    assert_eq!(outcome(&r), want, "{what}: {r}");
    (r, invoked)
}

/// A function's environment, built from a base with overrides: setting a variable replaces it,
/// and an empty value removes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Env(Vec<(String, String)>);

impl Env {
    pub fn new(pairs: &[(&str, &str)]) -> Self {
        Env::default().with(pairs)
    }

    /// Sets `key` to `value`, replacing it; an empty `value` removes it.
    pub fn set(mut self, key: &str, value: impl Into<String>) -> Self {
        let value = value.into();
        self.0.retain(|(k, _)| k != key);
        if !value.is_empty() {
            self.0.push((key.to_string(), value));
        }
        self
    }

    /// Every override in turn, as [`Env::set`].
    pub fn with(self, overrides: &[(&str, &str)]) -> Self {
        overrides.iter().fold(self, |env, (k, v)| env.set(k, *v))
    }

    pub fn pairs(&self) -> Vec<(&str, &str)> {
        self.0
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    /// Spawns `binary` with this environment (see [`crate::testkit::spawn`]).
    pub fn spawn(&self, binary: impl AsRef<std::path::Path>) -> FunctionProcess {
        crate::testkit::spawn(binary, &self.pairs())
    }

    /// A reader over it for `Config::from_env` (see [`crate::testkit::env_of`]).
    pub fn reader(&self) -> impl Fn(&str) -> Option<String> {
        crate::testkit::env_of(&self.pairs())
    }
}

/// A loopback port nobody listens on (bound, then released).
pub fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// Waits for one log line per invocation, then asserts that neither the captured output nor any
/// of `responses` shows `secrets` or the full `numbers`.
pub fn assert_clean(
    what: &str,
    f: &FunctionProcess,
    invocations: usize,
    responses: &[Value],
    secrets: &[&str],
    numbers: &[&str],
) {
    assert_eq!(
        wait_for_invocation_lines(f, invocations),
        invocations,
        "{}",
        f.log_text()
    );
    assert_no_leaks(what, &f.log_text(), secrets, numbers);
    for r in responses {
        assert_no_leaks(what, &r.to_string(), secrets, numbers);
    }
}

/// One row of a fault matrix: a fault (`None`: no fault), how many requests it hits (`None`:
/// every one) and the expected outcome in each of the `N` columns.
#[derive(Debug, Clone)]
pub struct FaultCase<F, const N: usize> {
    pub name: String,
    pub fault: Option<F>,
    pub count: Option<u32>,
    pub want: [Want; N],
}

impl<F, const N: usize> FaultCase<F, N> {
    /// A fault on every request of the route.
    pub fn new(name: impl Into<String>, fault: impl Into<Option<F>>, want: [Want; N]) -> Self {
        FaultCase {
            name: name.into(),
            fault: fault.into(),
            count: None,
            want,
        }
    }

    /// The fault hits the first request only.
    pub fn once(mut self) -> Self {
        self.count = Some(1);
        self
    }
}

/// A fault matrix of one function: every answer inside `budget` plus `slack`, and the table.
#[derive(Debug, Clone)]
pub struct FaultMatrix {
    pub function: &'static str,
    pub budget_ms: u64,
    /// Slack over the budget for a loaded 2-core machine.
    pub slack_ms: u64,
}

impl FaultMatrix {
    /// The rows every matrix starts with: no fault, a latency `under_by` ms under the budget
    /// (`ok`), one 500 ms over it and a hang (`timeout`). `latency(ms)` and `hang` are the
    /// simulator's faults.
    pub fn budget_cases<F, const N: usize>(
        &self,
        under_by: u64,
        latency: impl Fn(u64) -> F,
        hang: F,
        ok: [Want; N],
        timeout: [Want; N],
    ) -> Vec<FaultCase<F, N>> {
        let (under, over) = (self.budget_ms - under_by, self.budget_ms + 500);
        vec![
            FaultCase::new("none", None, ok),
            FaultCase::new(
                format!("latency {under} ms (under budget)"),
                latency(under),
                ok,
            ),
            FaultCase::new(
                format!("latency {over} ms (over budget)"),
                latency(over),
                timeout,
            ),
            FaultCase::new("hang", hang, timeout),
        ]
    }

    /// Invokes and checks `(status, error)` and the budget; returns the table cell.
    pub fn cell(&self, f: &mut FunctionProcess, event: Value, want: Want, what: &str) -> String {
        let (r, invoked) = expect_answer(f, event, want, what);
        assert!(
            invoked.own_time < Duration::from_millis(self.budget_ms + self.slack_ms),
            "{what}: {:?}",
            invoked.own_time
        );
        crate::testkit::cell(&r, invoked.own_time)
    }

    /// Runs every case, column by column: `column(i, case)` applies the case's fault to column
    /// `i`'s route, invokes, clears the fault and returns the cell. Returns the table rows.
    pub fn rows<F, const N: usize>(
        &self,
        cases: &[FaultCase<F, N>],
        mut column: impl FnMut(usize, &FaultCase<F, N>) -> String,
    ) -> Vec<String> {
        cases
            .iter()
            .map(|case| {
                let cells: Vec<String> = (0..N).map(|i| column(i, case)).collect();
                format!("| {} | {} |", case.name, cells.join(" | "))
            })
            .collect()
    }

    /// Prints the table (`## function (REQUEST_BUDGET_MS n)`, `prose`, a `Fault` column and
    /// `columns`) and, with `FAULT_MATRIX_OUT`, writes it (see [`write_matrix_section`]).
    pub fn publish(&self, prose: &str, columns: &[&str], rows: &[String]) {
        let table = self.table(prose, columns, rows);
        eprintln!("{table}");
        write_matrix_section(self.function, &table);
    }

    /// The markdown of [`FaultMatrix::publish`].
    pub fn table(&self, prose: &str, columns: &[&str], rows: &[String]) -> String {
        format!(
            "## {} (`REQUEST_BUDGET_MS` {})\n\n{prose}\n\n| Fault | {} |\n|{}\n{}\n",
            self.function,
            self.budget_ms,
            columns.join(" | "),
            "---|".repeat(columns.len() + 1),
            rows.join("\n")
        )
    }
}

/// A load run: `invocations` sequential invocations with `trace` ids, VmRSS read after each of
/// `checkpoints`.
#[derive(Debug, Clone, Copy)]
pub struct LoadPlan {
    pub invocations: usize,
    pub checkpoints: &'static [usize],
    pub trace: TraceIds,
}

/// In the normal test run (a few seconds in debug).
pub const LOAD_CI: LoadPlan = LoadPlan {
    invocations: 1_000,
    checkpoints: &[200, 1_000],
    trace: TraceIds::Unique,
};
/// `#[ignore]`d: `cargo test -p process-tests --test load -- --ignored --nocapture`.
pub const LOAD_10K: LoadPlan = LoadPlan {
    invocations: 10_000,
    checkpoints: &[1_000, 10_000],
    trace: TraceIds::Unique,
};
/// The function's own memory: a constant trace id.
pub const LOAD_OWN_MEMORY: LoadPlan = LoadPlan {
    invocations: 2_000,
    checkpoints: &[500, 2_000],
    trace: TraceIds::Constant,
};

/// Runs `plan` on `f` (spawned and ready): invocation `i` (from 1) sends `event(i)` and must be
/// answered `status` = `want_status`. With `upstream_port`, counts the TCP connections to it
/// made during the run (from `/proc/net/tcp`, TIME_WAIT included; sockets on that port from
/// before the run, such as the TIME_WAIT of an earlier server that had the same port within
/// the last minute, are not ours). Shuts `f` down.
pub fn run_load(
    mut f: FunctionProcess,
    plan: LoadPlan,
    upstream_port: Option<u16>,
    want_status: &str,
    mut event: impl FnMut(usize) -> Value,
) -> LoadReport {
    let stale: Option<BTreeSet<u16>> = upstream_port.map(client_ports_to);
    let started = Instant::now();
    let mut rss = Vec::new();
    for i in 1..=plan.invocations {
        let invoked = invoke_traced(&mut f, event(i), plan.trace);
        let r = invoked
            .response()
            .unwrap_or_else(|| panic!("#{i}: Lambda error {:?}", invoked.error()));
        assert_eq!(r["status"], want_status, "#{i}: {r}");
        if plan.checkpoints.contains(&i) {
            rss.push((i, f.rss_kib().expect("VmRSS")));
        }
    }
    let elapsed = started.elapsed();
    let connections = upstream_port
        .zip(stale)
        .map(|(port, stale)| client_ports_to(port).difference(&stale).count());
    f.shutdown().expect("shutdown");
    LoadReport {
        invocations: plan.invocations,
        trace: plan.trace,
        rss_kib: rss,
        connections,
        elapsed,
    }
}

/// The three load tests of a function crate: `load_ci` ([`LOAD_CI`]), `load_10k` ([`LOAD_10K`],
/// ignored) and `load_ci_own_memory_is_flat` ([`LOAD_OWN_MEMORY`]), each checked with
/// [`crate::testkit::check_load`]. `$run` is `fn(LoadPlan) -> LoadReport`.
#[macro_export]
macro_rules! load_tests {
    ($function:literal, $run:expr) => {
        #[test]
        fn load_ci() {
            $crate::check_load($function, &$run($crate::LOAD_CI));
        }

        #[test]
        #[ignore = "10 000 invocations; run with --ignored"]
        fn load_10k() {
            $crate::check_load($function, &$run($crate::LOAD_10K));
        }

        /// The function's own memory stays flat: the same load with a constant trace id.
        #[test]
        fn load_ci_own_memory_is_flat() {
            $crate::check_load($function, &$run($crate::LOAD_OWN_MEMORY));
        }
    };
}

/// One `events/*.json` sample and the answer `events/expected.json` documents for it.
#[derive(Debug, Clone)]
pub struct Sample {
    /// The file name, e.g. `agent-answer.json`.
    pub name: String,
    pub path: PathBuf,
    /// The file's text, as `cargo lambda invoke --data-file` sends it.
    pub text: String,
    /// The documented answer: the keys the response must have, with their values.
    pub answer: Map<String, Value>,
}

impl Sample {
    /// The event, parsed.
    pub fn event(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("events/{}: not JSON: {e}", self.name))
    }

    /// Panics unless `r` is flat and has every documented key with its documented value.
    pub fn assert_documented(&self, r: &Value) {
        assert_flat(r);
        for (key, value) in &self.answer {
            assert_eq!(&r[key], value, "{}: {key} in {r}", self.name);
        }
    }
}

/// The repository's `events/` directory.
pub fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events")
}

/// Every `events/<prefix>*.json` sample, sorted by name, with its answer; panics unless
/// `events/expected.json` documents exactly these files for `function`.
pub fn samples(function: &str, prefix: &str) -> Vec<Sample> {
    let dir = events_dir();
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("expected.json")).expect("events/expected.json"),
    )
    .expect("expected.json is JSON");
    let expected = expected["events"].as_object().expect("events object");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("events/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix) && n.ends_with(".json"))
        })
        .collect();
    files.sort();
    let documented = expected
        .iter()
        .filter(|(_, e)| e["function"] == function)
        .count();
    assert_eq!(files.len(), documented, "{files:?} vs expected.json");
    files
        .into_iter()
        .map(|path| {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            let want = expected
                .get(&name)
                .unwrap_or_else(|| panic!("events/{name} has no entry in events/expected.json"));
            assert_eq!(want["function"], function, "{name}");
            let text = std::fs::read_to_string(&path).expect("read");
            let answer = want["answer"].as_object().expect("answer object").clone();
            Sample {
                name,
                path,
                text,
                answer,
            }
        })
        .collect()
}

/// A fresh directory for one test's files, under the system temp directory.
pub fn scratch_dir(name: &str) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("{name}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a scratch directory");
    dir
}

/// Panics unless `extension` was asked once, authenticated, for the Secrets Manager secret
/// `arn` (read once, then cached).
pub fn assert_secret_read_once(extension: &lambda_harness::SecretsExtension, arn: &str) {
    let reads = extension.requests();
    assert_eq!(reads.len(), 1, "read once, then cached: {reads:?}");
    assert!(reads[0].authenticated);
    assert_eq!(reads[0].path, "/secretsmanager/get");
    assert_eq!(
        reads[0].query,
        vec![("secretId".to_string(), arn.to_string())]
    );
}

/// Panics unless `r` is `status=error` with `error=code` and an `error_message` containing
/// `needle`.
pub fn assert_error_mentions(r: &Value, code: &str, needle: &str) {
    assert_eq!(outcome(r), ("error", code), "{r}");
    assert!(
        r["error_message"]
            .as_str()
            .unwrap_or_default()
            .contains(needle),
        "{r}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_overrides_replace_and_an_empty_value_removes() {
        let env = Env::new(&[("A", "1"), ("B", "2"), ("A", "3")])
            .with(&[("B", ""), ("C", "4")])
            .set("D", String::from("5"));
        assert_eq!(env.pairs(), vec![("A", "3"), ("C", "4"), ("D", "5")]);
        let read = env.reader();
        assert_eq!(read("A").as_deref(), Some("3"));
        assert_eq!(read("B"), None);
    }

    #[test]
    fn fault_matrix_rows_and_table() {
        let m = FaultMatrix {
            function: "fn",
            budget_ms: 1000,
            slack_ms: 0,
        };
        let cases = m.budget_cases(100, |ms| ms, 0, [("ok", ""); 2], [("error", "timeout"); 2]);
        let names: Vec<&str> = cases.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "none",
                "latency 900 ms (under budget)",
                "latency 1500 ms (over budget)",
                "hang"
            ]
        );
        assert_eq!(cases[0].fault, None);
        assert_eq!(cases[2].fault, Some(1500));
        assert_eq!(FaultCase::new("x", 7, [("ok", "")]).once().count, Some(1));
        let rows = m.rows(&cases[..1], |i, c| format!("{}{i}", c.want[i].0));
        assert_eq!(rows, ["| none | ok0 | ok1 |"]);
        assert_eq!(
            m.table("Prose.", &["L", "R"], &rows),
            "## fn (`REQUEST_BUDGET_MS` 1000)\n\nProse.\n\n| Fault | L | R |\n|---|---|---|\n| none | ok0 | ok1 |\n"
        );
    }
}
