//! The benchmark: `cargo run --release -p journey --bin bench [-- --cold N --warm N]`.
//!
//! Builds release binaries of the three functions (`cargo build --release -p ocw-phrase -p
//! datastore-proxy -p agent-answer`) and of the floor (`hello`: bare lambda_runtime +
//! serde_json, `cargo build --release -p journey --bin hello`), then for each, as real Lambda
//! processes on the Runtime API emulator against the in-process Mindful simulator:
//! * cold starts (interleaved across functions, one discarded warm-up round): init time
//!   (spawn → first `/next` poll), first-invocation own time, upstream requests, peak RSS;
//! * one warm process: own time over N invocations, upstream requests per invocation, peak RSS;
//! * binary size (the release profile strips) and `bootstrap.zip` size (deflate).
//!
//! Progress goes to stderr; the markdown report to stdout.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use journey::{contact_event, contact_id, function_env, queue_arn, BILLING_QUEUE_ID, FUNCTIONS};
use lambda_harness::{FunctionProcess, HarnessError, Outcome};
use mindful_sim::{Route, Sim, SimConfig};
use serde_json::{json, Value};

const NUMBER: &str = "+13209071234";

/// Targets (issue 8).
const INIT_VS_FLOOR: f64 = 1.5;
const FIRST_MAX: Duration = Duration::from_millis(5);
const WARM_P50_MAX: Duration = Duration::from_micros(500);
const RSS_MAX_BYTES: u64 = 12_000_000;
const ZIP_MAX_BYTES: u64 = 3_000_000;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Hello,
    Phrase,
    Datastore,
    AgentAnswer,
}

struct Subject {
    name: &'static str,
    path: PathBuf,
    kind: Kind,
    inits: Vec<Duration>,
    firsts: Vec<Duration>,
    first_requests: Vec<usize>,
    cold_rss_kib: Vec<u64>,
    warm: Vec<Duration>,
    warm_requests: usize,
    warm_rss_kib: u64,
    binary_bytes: u64,
    zip_bytes: Option<u64>,
    failures: Vec<String>,
}

fn event(kind: Kind, i: usize, sim: &Sim) -> Value {
    let billing = queue_arn(BILLING_QUEUE_ID);
    let ev = |params: Value, queue: Option<(&str, &str)>| {
        contact_event(
            params,
            &contact_id(),
            NUMBER,
            journey::INBOUND_DID,
            queue,
            "en-US",
            json!({"customer_name": journey::CUSTOMER_NAME}),
        )
    };
    match kind {
        Kind::Hello => json!({}),
        Kind::Phrase => ev(
            json!({"OCW": "185", "agents_available": "0"}),
            Some(("Billing", &billing)),
        ),
        // POST first, then alternate GET / POST of the same record.
        Kind::Datastore if i.is_multiple_of(2) => ev(
            json!({
                "method": "POST",
                "queue_name": "Billing",
                "queue_arn": billing,
                "customer_name": journey::CUSTOMER_NAME,
                "account_number": journey::ACCOUNT_NUMBER
            }),
            Some(("Billing", &billing)),
        ),
        Kind::Datastore => ev(json!({"method": "GET"}), None),
        Kind::AgentAnswer => {
            // A connecting call for every answer (so Mindful accepts it) and a fresh ContactId
            // (so the per-contact deduplication does not skip the request).
            sim.register_call(NUMBER);
            ev(
                json!({"Agent_ID": journey::AGENT_ID, "Queue_ID": billing}),
                Some(("Billing", &billing)),
            )
        }
    }
}

fn expected_status(kind: Kind) -> Option<&'static str> {
    match kind {
        Kind::Hello => None,
        Kind::Phrase | Kind::Datastore => Some("ok"),
        Kind::AgentAnswer => Some("accepted"),
    }
}

/// Invoke once; returns own time and upstream requests, records unexpected answers.
fn invoke(
    f: &mut FunctionProcess,
    s: &mut Subject,
    i: usize,
    sim: &Sim,
) -> Result<(Duration, usize), HarnessError> {
    let ev = event(s.kind, i, sim);
    let before = sim.count(Route::Any);
    let inv = f.invoke_blocking(ev)?;
    let requests = sim.count(Route::Any) - before;
    let status = match &inv.outcome {
        Outcome::Response(v) => v.get("status").and_then(Value::as_str).map(str::to_string),
        Outcome::Error(e) => Some(format!("Lambda error {}", e.error_type)),
    };
    if let Some(want) = expected_status(s.kind) {
        if status.as_deref() != Some(want) && s.failures.len() < 5 {
            s.failures.push(format!(
                "invocation {i}: status {status:?}, expected {want}"
            ));
        }
    }
    Ok((inv.own_time, requests))
}

fn spawn(s: &Subject, env: &[(String, String)]) -> Result<FunctionProcess, HarnessError> {
    FunctionProcess::builder(&s.path)
        .envs(env)
        .function_name(s.name)
        .spawn()
}

fn pct(v: &[Duration], p: f64) -> Duration {
    let mut v = v.to_vec();
    v.sort();
    if v.is_empty() {
        return Duration::ZERO;
    }
    let i = ((v.len() as f64) * p).ceil() as usize;
    v[i.clamp(1, v.len()) - 1]
}

fn ms(d: Duration) -> String {
    let m = d.as_secs_f64() * 1000.0;
    if m < 1.0 {
        format!("{m:.3} ms")
    } else if m < 10.0 {
        format!("{m:.2} ms")
    } else {
        format!("{m:.1} ms")
    }
}

fn mb(bytes: u64) -> String {
    format!("{:.2} MB", bytes as f64 / 1e6)
}

fn mark(ok: bool) -> &'static str {
    if ok {
        "✅"
    } else {
        "❌"
    }
}

/// `bootstrap.zip` as `cargo lambda build --output-format zip` makes it: the binary renamed to
/// `bootstrap`, deflated. Uses the `zip` CLI, else Python's `zipfile`.
fn zip_size(binary: &Path, work: &Path, name: &str) -> Option<u64> {
    let dir = work.join(name);
    std::fs::create_dir_all(&dir).ok()?;
    let bootstrap = dir.join("bootstrap");
    std::fs::copy(binary, &bootstrap).ok()?;
    let zip = dir.join("bootstrap.zip");
    let _ = std::fs::remove_file(&zip);
    let ok = Command::new("zip")
        .current_dir(&dir)
        .args(["-q", "-X", "bootstrap.zip", "bootstrap"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        let script = "import sys, zipfile\n\
                      with zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED) as z:\n    z.write(sys.argv[2], 'bootstrap')";
        let ok = Command::new("python3")
            .args(["-c", script])
            .arg(&zip)
            .arg(&bootstrap)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return None;
        }
    }
    std::fs::metadata(&zip).ok().map(|m| m.len())
}

fn command_line(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|k| k.parse::<u64>().ok())
        })
        .map(|kib| format!("{:.0} GiB RAM", kib as f64 / 1024.0 / 1024.0))
        .unwrap_or_default();
    let kernel = command_line("uname", &["-sr"]).unwrap_or_default();
    let rustc = command_line("rustc", &["-V"]).unwrap_or_default();
    format!(
        "{model}, {cpus} CPUs available, {mem}, {kernel}, {}, {rustc}",
        std::env::consts::ARCH
    )
}

fn build_all() -> Result<(PathBuf, PathBuf), String> {
    let started = Instant::now();
    eprintln!("building release binaries… (cargo build --release -p ocw-phrase -p datastore-proxy -p agent-answer)");
    let dir = lambda_harness::build_release(&FUNCTIONS).map_err(|e| e.to_string())?;
    eprintln!("building the floor… (cargo build --release -p journey --bin hello)");
    let root = lambda_harness::workspace_root().map_err(|e| e.to_string())?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(&root)
        .args(["build", "--release", "-p", "journey", "--bin", "hello"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("cargo build --bin hello: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo build --release -p journey --bin hello failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    eprintln!("  built in {:.1} s", started.elapsed().as_secs_f64());
    Ok((dir.clone(), dir.join("hello")))
}

fn main() -> ExitCode {
    let mut cold_n = 30usize;
    let mut warm_n = 1000usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut num = |flag: &str| -> Option<usize> {
            let v = args.next().and_then(|v| v.parse().ok());
            if v.is_none() {
                eprintln!("bench: {flag} needs a number");
            }
            v
        };
        match a.as_str() {
            "--cold" => match num("--cold") {
                Some(n) if n >= 1 => cold_n = n,
                _ => return ExitCode::from(2),
            },
            "--warm" => match num("--warm") {
                Some(n) if n >= 1 => warm_n = n,
                _ => return ExitCode::from(2),
            },
            "-h" | "--help" => {
                println!(
                    "cargo run --release -p journey --bin bench [-- --cold N (30) --warm N (1000)]"
                );
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("bench: unknown argument {other:?}");
                return ExitCode::from(2);
            }
        }
    }
    match run(cold_n, warm_n) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

fn run(cold_n: usize, warm_n: usize) -> Result<(), String> {
    let (dir, hello) = build_all()?;
    let load_before = loadavg();
    let sim = Sim::start_blocking(SimConfig::default()).map_err(|e| e.to_string())?;
    let env = function_env(&sim, "US");
    let work = std::env::temp_dir().join(format!("journey-bench-{}", std::process::id()));

    let mut subjects: Vec<Subject> = [
        ("hello (floor)", hello, Kind::Hello),
        ("ocw-phrase", dir.join("ocw-phrase"), Kind::Phrase),
        (
            "datastore-proxy",
            dir.join("datastore-proxy"),
            Kind::Datastore,
        ),
        ("agent-answer", dir.join("agent-answer"), Kind::AgentAnswer),
    ]
    .into_iter()
    .map(|(name, path, kind)| Subject {
        name,
        binary_bytes: std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0),
        zip_bytes: zip_size(&path, &work, name.split(' ').next().unwrap_or(name)),
        path,
        kind,
        inits: vec![],
        firsts: vec![],
        first_requests: vec![],
        cold_rss_kib: vec![],
        warm: vec![],
        warm_requests: 0,
        warm_rss_kib: 0,
        failures: vec![],
    })
    .collect();
    let _ = std::fs::remove_dir_all(&work);

    // Cold starts, interleaved so background load on a shared machine hits every subject alike.
    eprintln!("cold starts: 1 warm-up round + {cold_n} measured rounds…");
    for round in 0..=cold_n {
        for s in subjects.iter_mut() {
            let mut f = spawn(s, &env).map_err(|e| format!("{}: {e}", s.name))?;
            let init = f
                .wait_ready_blocking(Duration::from_secs(10))
                .map_err(|e| format!("{}: {e}", s.name))?;
            let (first, requests) =
                invoke(&mut f, s, 0, &sim).map_err(|e| format!("{}: {e}", s.name))?;
            let rss = f
                .shutdown()
                .map_err(|e| format!("{}: {e}", s.name))?
                .peak_rss_kib
                .unwrap_or(0);
            if round > 0 {
                s.inits.push(init);
                s.firsts.push(first);
                s.first_requests.push(requests);
                s.cold_rss_kib.push(rss);
            }
        }
    }

    eprintln!("warm: {warm_n} invocations per function in one process each…");
    for s in subjects.iter_mut() {
        let mut f = spawn(s, &env).map_err(|e| format!("{}: {e}", s.name))?;
        invoke(&mut f, s, 0, &sim).map_err(|e| format!("{}: {e}", s.name))?;
        let before = sim.count(Route::Any);
        for i in 1..=warm_n {
            let (own, _) = invoke(&mut f, s, i, &sim).map_err(|e| format!("{}: {e}", s.name))?;
            s.warm.push(own);
        }
        s.warm_requests = sim.count(Route::Any) - before;
        s.warm_rss_kib = f
            .shutdown()
            .map_err(|e| format!("{}: {e}", s.name))?
            .peak_rss_kib
            .unwrap_or(0);
    }
    sim.shutdown();

    // Report.
    let floor = pct(&subjects[0].inits, 0.5);
    println!("| Function | init p50 (min–max) | init vs floor (≤ {INIT_VS_FLOOR}×) | 1st invocation own time (≤ 5 ms) | warm own p50 (≤ 0.5 ms) | warm own p99 | peak RSS (≤ 12 MB) | binary (stripped) | bootstrap.zip (≤ 3 MB) | upstream requests / invocation (1st · warm) |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let mut all_ok = true;
    for (i, s) in subjects.iter().enumerate() {
        let init = pct(&s.inits, 0.5);
        let min = pct(&s.inits, 0.0);
        let max = pct(&s.inits, 1.0);
        let ratio = init.as_secs_f64() / floor.as_secs_f64().max(1e-9);
        let first = pct(&s.firsts, 0.5);
        let p50 = pct(&s.warm, 0.5);
        let p99 = pct(&s.warm, 0.99);
        let rss_kib = s
            .cold_rss_kib
            .iter()
            .copied()
            .max()
            .unwrap_or(0)
            .max(s.warm_rss_kib);
        let rss = rss_kib * 1024;
        let first_req = {
            let mut v = s.first_requests.clone();
            v.sort();
            v.get(v.len() / 2).copied().unwrap_or(0)
        };
        let warm_req = s.warm_requests as f64 / s.warm.len().max(1) as f64;
        let floor_row = i == 0;
        let init_ok = floor_row || ratio <= INIT_VS_FLOOR;
        let first_ok = first <= FIRST_MAX;
        let p50_ok = p50 <= WARM_P50_MAX;
        let rss_ok = rss <= RSS_MAX_BYTES;
        let zip_ok = s.zip_bytes.is_some_and(|z| z <= ZIP_MAX_BYTES);
        let req_ok = s.kind != Kind::AgentAnswer || (warm_req - 1.0).abs() < 1e-9;
        if !floor_row {
            all_ok &= init_ok && first_ok && p50_ok && rss_ok && zip_ok && req_ok;
        }
        let req_cell = match s.kind {
            Kind::Hello | Kind::Phrase => "0 · 0".to_string(),
            _ => format!("{first_req} · {warm_req:.2}"),
        };
        println!(
            "| {} | {} ({}–{}) | {} | {} {} | {} {} | {} | {:.1} MB {} | {} | {} | {}{} |",
            s.name,
            ms(init),
            ms(min),
            ms(max),
            if floor_row {
                "1.0× (floor)".to_string()
            } else {
                format!("{ratio:.2}× {}", mark(init_ok))
            },
            ms(first),
            mark(first_ok),
            ms(p50),
            mark(p50_ok),
            ms(p99),
            rss as f64 / 1e6,
            mark(rss_ok),
            mb(s.binary_bytes),
            s.zip_bytes
                .map(|z| format!("{} {}", mb(z), mark(zip_ok)))
                .unwrap_or_else(|| "n/a".into()),
            req_cell,
            if s.kind == Kind::AgentAnswer {
                format!(" {}", mark(req_ok))
            } else {
                String::new()
            },
        );
    }
    println!();
    println!(
        "Median of {cold_n} cold starts per function (interleaved, after one discarded warm-up round), {warm_n} warm invocations in one process per function; \
         own time = event handed out on `/next` → answer posted; init = process spawn → first `/next` poll; \
         peak RSS = max VmHWM over all processes; sizes in decimal MB."
    );
    println!(
        "Machine: {}; 1-minute load average {load_before} before the measurements, {} after (a shared machine: the interleaving spreads background load over every row).",
        machine(),
        loadavg()
    );
    if let Some(date) = command_line("date", &["-u", "+%Y-%m-%d %H:%M UTC"]) {
        println!("Date: {date}.");
    }
    for s in &subjects {
        for f in &s.failures {
            println!("⚠ {}: {f}", s.name);
        }
    }
    eprintln!(
        "{}",
        if all_ok {
            "all targets met"
        } else {
            "some targets missed (❌)"
        }
    );
    Ok(())
}
