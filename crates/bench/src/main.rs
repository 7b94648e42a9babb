//! The benchmark: `cargo run --release -p bench [-- --cold N --warm N --no-variants]`.
//!
//! Builds release binaries of the three functions (`cargo build --release -p ocw-phrase -p
//! datastore-proxy -p agent-answer`) and of the floor (`hello`: bare lambda_runtime +
//! serde_json, `cargo build --release -p bench --bin hello`), and, unless `--no-variants`, the
//! two HTTP functions with the other rustls crypto provider (`--features mindful-core/aws-lc-rs`,
//! same target directory; binaries copied to `<target>/bench/`). Then, as real Lambda processes
//! on the Runtime API emulator, against two in-process Mindful simulators (one plain http, one
//! https with a generated test CA; both with the token endpoint on its own port, as Mindful's
//! token host is separate):
//! * cold starts (interleaved across every row, one discarded warm-up round): init time
//!   (spawn → first `/next` poll), first-invocation own time, upstream requests, peak RSS;
//! * one warm process per row, all invoked round-robin: own time over N invocations, upstream
//!   requests, peak RSS;
//! * binary size (the release profile strips) and `bootstrap.zip` size (deflate).
//!
//! Every HTTP function runs over http and over https. Over https the functions trust the test
//! root the way a deployment trusts a public CA: `SSL_CERT_FILE` names a CA bundle laid out as on
//! Lambda `provided.al2023` (`etc/pki/tls/certs/ca-bundle.crt`) holding this machine's whole
//! system bundle plus the test root. One more row per function gives `SSL_CERT_FILE` the test
//! root alone, which shows what loading fewer roots would save.
//!
//! Progress goes to stderr; the markdown report to stdout.

mod fixtures;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use fixtures::{contact_event, contact_id, queue_arn, BILLING_QUEUE_ID};
use lambda_harness::{FunctionProcess, HarnessError, Outcome};
use mindful_core::FUNCTIONS;
use mindful_sim::{Route, Sim, SimConfig};
use serde_json::{json, Value};

const NUMBER: &str = "+13209071234";

/// Targets (issues 8 and 14).
const INIT_VS_FLOOR: f64 = 1.5;
const WARM_P50_MAX: Duration = Duration::from_micros(500);
const RSS_MAX_BYTES: u64 = 12_000_000;
/// `bootstrap.zip` of the two HTTP functions (issue 14; `ocw-phrase` and the floor: 3 MB).
const ZIP_MAX_BYTES_HTTP: u64 = 2_100_000;
const ZIP_MAX_BYTES: u64 = 3_000_000;
/// init + first invocation over https ÷ the same over http (same build).
const HTTPS_COLD_RATIO_MAX: f64 = 2.0;
/// warm p50 over https ÷ over http (same build).
const HTTPS_WARM_RATIO_MAX: f64 = 1.10;

/// The two HTTP functions.
const HTTP_FUNCTIONS: [&str; 2] = ["datastore-proxy", "agent-answer"];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Hello,
    Phrase,
    Datastore,
    AgentAnswer,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Transport {
    /// Calls no upstream.
    None,
    Http,
    /// https; the CA store is the whole system bundle + the test root.
    Https,
    /// https; the CA store is the test root alone.
    HttpsRootOnly,
}

impl Transport {
    fn label(self) -> &'static str {
        match self {
            Transport::None => "—",
            Transport::Http => "http",
            Transport::Https => "https, whole CA bundle",
            Transport::HttpsRootOnly => "https, test root only",
        }
    }
}

struct Subject {
    name: &'static str,
    /// The crypto provider the binary was built with.
    build: &'static str,
    transport: Transport,
    path: PathBuf,
    kind: Kind,
    env: Vec<(String, String)>,
    inits: Vec<Duration>,
    firsts: Vec<Duration>,
    first_requests: Vec<usize>,
    cold_rss_kib: Vec<u64>,
    /// CPU (user + system) of init and of the first invocation, per cold start.
    init_cpu: Vec<Duration>,
    first_cpu: Vec<Duration>,
    warm: Vec<Duration>,
    warm_requests: usize,
    warm_rss_kib: u64,
    binary_bytes: u64,
    zip_bytes: Option<u64>,
    failures: Vec<String>,
}

impl Subject {
    /// A row with nothing measured yet.
    fn new(
        name: &'static str,
        build: &'static str,
        transport: Transport,
        path: PathBuf,
        kind: Kind,
        env: Vec<(String, String)>,
    ) -> Self {
        Self {
            name,
            build,
            transport,
            path,
            kind,
            env,
            inits: vec![],
            firsts: vec![],
            first_requests: vec![],
            cold_rss_kib: vec![],
            init_cpu: vec![],
            first_cpu: vec![],
            warm: vec![],
            warm_requests: 0,
            warm_rss_kib: 0,
            binary_bytes: 0,
            zip_bytes: None,
            failures: vec![],
        }
    }

    fn init_plus_first(&self) -> Vec<Duration> {
        self.inits
            .iter()
            .zip(&self.firsts)
            .map(|(a, b)| *a + *b)
            .collect()
    }
}

struct Sims {
    http: Sim,
    https: Sim,
}

impl Sims {
    fn for_transport(&self, t: Transport) -> &Sim {
        match t {
            Transport::Https | Transport::HttpsRootOnly => &self.https,
            Transport::None | Transport::Http => &self.http,
        }
    }
}

fn event(kind: Kind, i: usize, sim: &Sim) -> Value {
    let billing = queue_arn(BILLING_QUEUE_ID);
    let ev = |params: Value, queue: Option<(&str, &str)>| {
        contact_event(
            params,
            &contact_id(),
            NUMBER,
            fixtures::INBOUND_DID,
            queue,
            "en-US",
            json!({"customer_name": fixtures::CUSTOMER_NAME}),
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
                "customer_name": fixtures::CUSTOMER_NAME,
                "account_number": fixtures::ACCOUNT_NUMBER
            }),
            Some(("Billing", &billing)),
        ),
        Kind::Datastore => ev(json!({"method": "GET"}), None),
        Kind::AgentAnswer => {
            // A connecting call for every answer (so Mindful accepts it) and a fresh ContactId
            // (so the per-contact deduplication does not skip the request).
            sim.register_call(NUMBER);
            ev(
                json!({"Agent_ID": fixtures::AGENT_ID, "Queue_ID": billing}),
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
            let detail = match &inv.outcome {
                Outcome::Response(v) => v
                    .get("error_message")
                    .or_else(|| v.get("error"))
                    .map(Value::to_string)
                    .unwrap_or_default(),
                Outcome::Error(e) => e.error_message.clone(),
            };
            s.failures.push(format!(
                "invocation {i}: status {status:?}, expected {want} {detail}"
            ));
        }
    }
    Ok((inv.own_time, requests))
}

fn spawn(s: &Subject) -> Result<FunctionProcess, HarnessError> {
    FunctionProcess::builder(&s.path)
        .envs(&s.env)
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

/// `cargo build --release <args>` at the workspace root, output shown only on failure.
fn cargo_release(args: &[&str]) -> Result<(), String> {
    let root = lambda_harness::workspace_root().map_err(|e| e.to_string())?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let line = format!("cargo build --release {}", args.join(" "));
    eprintln!("building… ({line})");
    let out = Command::new(cargo)
        .current_dir(&root)
        .args(["build", "--release"])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("{line}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{line} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

/// Copies `names` from the release directory to `<target>/bench/<label>/` (the next build with
/// other features overwrites the release directory's binaries).
fn keep(release: &Path, label: &str, names: &[&str]) -> Result<PathBuf, String> {
    let dir = release
        .parent()
        .unwrap_or(release)
        .join("bench")
        .join(label);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for n in names {
        std::fs::copy(release.join(n), dir.join(n))
            .map_err(|e| format!("copying {n} to {}: {e}", dir.display()))?;
    }
    Ok(dir)
}

struct Binaries {
    /// The release build (ring): the three functions and `hello`.
    release: PathBuf,
    /// The HTTP functions built with aws-lc-rs, if measured.
    aws_lc: Option<PathBuf>,
}

fn build_all(variants: bool) -> Result<Binaries, String> {
    let started = Instant::now();
    let release = lambda_harness::target_dir()
        .map_err(|e| e.to_string())?
        .join("release");
    let mut pkgs = vec![];
    for f in FUNCTIONS {
        pkgs.extend(["-p", f]);
    }
    let aws_lc = if variants {
        let mut args = vec![];
        for f in HTTP_FUNCTIONS {
            args.extend(["-p", f]);
        }
        args.extend(["--features", "mindful-core/aws-lc-rs"]);
        cargo_release(&args)?;
        Some(keep(&release, "aws-lc-rs", &HTTP_FUNCTIONS)?)
    } else {
        None
    };
    // Last, so the release directory ends with the release binaries.
    cargo_release(&pkgs)?;
    cargo_release(&["-p", "bench", "--bin", "hello"])?;
    let mut names: Vec<&str> = FUNCTIONS.to_vec();
    names.push("hello");
    let release = keep(&release, "ring", &names)?;
    eprintln!("  built in {:.1} s", started.elapsed().as_secs_f64());
    Ok(Binaries { release, aws_lc })
}

/// bench: cold starts, warm times, RSS and sizes of the three functions and the floor
///
/// Builds the release binaries, runs them as real Lambda processes against two in-process Mindful
/// simulators (http, https) and prints a markdown report on stdout (progress on stderr).
#[derive(Parser)]
#[command(
    name = "bench",
    override_usage = "cargo run --release -p bench [-- OPTIONS]",
    verbatim_doc_comment
)]
struct Args {
    /// Cold starts per row (after one discarded warm-up round)
    #[arg(long, value_name = "N", default_value_t = 30, value_parser = at_least_one)]
    cold: usize,
    /// Warm invocations per row
    #[arg(long, value_name = "N", default_value_t = 1000, value_parser = at_least_one)]
    warm: usize,
    /// Skip the aws-lc-rs build of the HTTP functions (saves a release build)
    #[arg(long)]
    no_variants: bool,
}

fn at_least_one(v: &str) -> Result<usize, String> {
    fixtures::in_range(v, &(1..=usize::MAX), "a number from 1")
}

fn main() -> ExitCode {
    // `--help` prints to stdout and exits 0; bad arguments print to stderr and exit 2.
    let Args {
        cold: cold_n,
        warm: warm_n,
        no_variants,
    } = Args::parse();
    let variants = !no_variants;
    match run(cold_n, warm_n, variants) {
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

fn run(cold_n: usize, warm_n: usize, variants: bool) -> Result<(), String> {
    let bins = build_all(variants)?;
    let load_before = loadavg();
    let sims = Sims {
        http: Sim::start_blocking(SimConfig {
            separate_token_host: true,
            ..SimConfig::default()
        })
        .map_err(|e| e.to_string())?,
        https: Sim::start_blocking(SimConfig {
            tls: true,
            separate_token_host: true,
            ..SimConfig::default()
        })
        .map_err(|e| e.to_string())?,
    };
    let work = std::env::temp_dir().join(format!("journey-bench-{}", std::process::id()));
    let (bundle, bundle_certs) = sims
        .https
        .write_ca_bundle(&work)
        .map_err(|e| e.to_string())?;
    let root_only = work.join("test-root.pem");
    mindful_sim::write_pem(&root_only, sims.https.ca_pem().unwrap_or_default())
        .map_err(|e| e.to_string())?;
    let env_for = |t: Transport| {
        let mut env = sims.for_transport(t).function_env("US");
        // Both transports name the host `localhost` (a name resolution, as for Mindful's hosts),
        // so the https ÷ http ratios compare TLS, not a DNS lookup.
        for (_, v) in env.iter_mut() {
            *v = v.replace("http://127.0.0.1:", "http://localhost:");
        }
        // The same CA store for http and https rows (a deployment has one store whatever the
        // scheme; over http it is never read).
        let store = match t {
            Transport::HttpsRootOnly => &root_only,
            Transport::None | Transport::Http | Transport::Https => &bundle,
        };
        env.push(("SSL_CERT_FILE".into(), store.display().to_string()));
        env
    };

    let mut rows: Vec<(&'static str, &'static str, PathBuf, Kind, Transport)> = vec![
        (
            "hello (floor)",
            "—",
            bins.release.join("hello"),
            Kind::Hello,
            Transport::None,
        ),
        (
            "ocw-phrase",
            "ring",
            bins.release.join("ocw-phrase"),
            Kind::Phrase,
            Transport::None,
        ),
    ];
    for (name, kind) in [
        ("datastore-proxy", Kind::Datastore),
        ("agent-answer", Kind::AgentAnswer),
    ] {
        for t in [Transport::Http, Transport::Https] {
            rows.push((name, "ring", bins.release.join(name), kind, t));
        }
        if let Some(dir) = &bins.aws_lc {
            for t in [Transport::Http, Transport::Https] {
                rows.push((name, "aws-lc-rs", dir.join(name), kind, t));
            }
        }
        rows.push((
            name,
            "ring",
            bins.release.join(name),
            kind,
            Transport::HttpsRootOnly,
        ));
    }
    let mut subjects: Vec<Subject> = rows
        .into_iter()
        .map(|(name, build, path, kind, transport)| {
            let mut s = Subject::new(name, build, transport, path, kind, env_for(transport));
            s.binary_bytes = std::fs::metadata(&s.path).map(|m| m.len()).unwrap_or(0);
            s.zip_bytes = zip_size(
                &s.path,
                &work.join("zip").join(build),
                name.split(' ').next().unwrap_or(name),
            );
            s
        })
        .collect();
    let _ = std::fs::remove_dir_all(work.join("zip"));

    // Cold starts, interleaved so background load on a shared machine hits every row alike.
    eprintln!(
        "cold starts: 1 warm-up round + {cold_n} measured rounds of {} rows…",
        subjects.len()
    );
    for round in 0..=cold_n {
        for s in subjects.iter_mut() {
            let sim = sims.for_transport(s.transport);
            let mut f = spawn(s).map_err(|e| format!("{}: {e}", s.name))?;
            let init = f
                .wait_ready_blocking(Duration::from_secs(10))
                .map_err(|e| format!("{}: {e}", s.name))?;
            let cpu_init = process_cpu(f.pid());
            let (first, requests) =
                invoke(&mut f, s, 0, sim).map_err(|e| format!("{}: {e}", s.name))?;
            let cpu_first = process_cpu(f.pid());
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
                if let (Some(a), Some(b)) = (cpu_init, cpu_first) {
                    s.init_cpu.push(a);
                    s.first_cpu.push(b.saturating_sub(a));
                }
            }
        }
    }

    // Warm: one process per row, all alive at once, invoked round-robin (so background load
    // hits every row alike, as for the cold starts).
    eprintln!("warm: {warm_n} invocations per row, one process per row, round-robin…");
    let mut procs = Vec::new();
    for s in subjects.iter_mut() {
        let sim = sims.for_transport(s.transport);
        let mut f = spawn(s).map_err(|e| format!("{}: {e}", s.name))?;
        invoke(&mut f, s, 0, sim).map_err(|e| format!("{}: {e}", s.name))?;
        procs.push(f);
    }
    for i in 1..=warm_n {
        for (s, f) in subjects.iter_mut().zip(procs.iter_mut()) {
            let sim = sims.for_transport(s.transport);
            let (own, requests) = invoke(f, s, i, sim).map_err(|e| format!("{}: {e}", s.name))?;
            s.warm_requests += requests;
            s.warm.push(own);
        }
    }
    for (s, mut f) in subjects.iter_mut().zip(procs) {
        s.warm_rss_kib = f
            .shutdown()
            .map_err(|e| format!("{}: {e}", s.name))?
            .peak_rss_kib
            .unwrap_or(0);
    }
    drop(sims);

    report(&subjects, cold_n, warm_n, bundle_certs, &load_before)?;
    report_cpu(&subjects, cold_n);
    let distance = round_trips(&bins, &work, cold_n.min(10));
    let _ = std::fs::remove_dir_all(&work);
    distance
}

/// User + system CPU the process has used so far, every thread (exited ones included), in
/// nanoseconds: its CPU-time clock (`clock_getcpuclockid`, the kernel's scheduler accounting).
/// `/proc/<pid>/stat` rounds to 10 ms ticks, and a cold start here takes less than one.
fn process_cpu(pid: u32) -> Option<Duration> {
    let pid = libc::pid_t::try_from(pid).ok()?;
    let mut clock: libc::clockid_t = 0;
    // SAFETY: plain libc calls with valid pointers to locals.
    let ok = unsafe { libc::clock_getcpuclockid(pid, &mut clock) } == 0;
    if !ok {
        return None;
    }
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: as above.
    if unsafe { libc::clock_gettime(clock, &mut ts) } != 0 {
        return None;
    }
    Some(Duration::new(
        u64::try_from(ts.tv_sec).ok()?,
        u32::try_from(ts.tv_nsec).ok()?,
    ))
}

fn mean(v: &[Duration]) -> Duration {
    if v.is_empty() {
        return Duration::ZERO;
    }
    v.iter().sum::<Duration>() / v.len() as u32
}

/// Lambda's CPU share: 1 vCPU at 1,769 MB, proportional below
/// (<https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html>).
fn vcpu_at(memory_mb: u32) -> f64 {
    f64::from(memory_mb) / 1769.0
}

const CPU_RATIO_MAX: f64 = 2.0;

/// CPU time of init and the first invocation per row, beside the floor (`hello`), and what it
/// becomes in wall time at Lambda's CPU share for 128, 256 and 512 MB.
fn report_cpu(subjects: &[Subject], cold_n: usize) {
    println!();
    println!("### CPU time of a cold start (user + system, mean of {cold_n})");
    println!();
    println!("| Function | crypto provider | transport | init CPU | 1st invocation CPU | **init + 1st CPU** | ÷ http (≤ {CPU_RATIO_MAX}×) | as wall time at 128 MB · 256 MB · 512 MB |");
    println!("|---|---|---|---|---|---|---|---|");
    for s in subjects {
        let init = mean(&s.init_cpu);
        let first = mean(&s.first_cpu);
        let total = init + first;
        let http = subjects
            .iter()
            .find(|o| o.name == s.name && o.build == s.build && o.transport == Transport::Http);
        let ratio = match (s.transport, http) {
            (Transport::Https | Transport::HttpsRootOnly, Some(h)) => {
                let base = mean(&h.init_cpu) + mean(&h.first_cpu);
                if base.is_zero() {
                    "—".to_string()
                } else {
                    let r = total.as_secs_f64() / base.as_secs_f64();
                    format!("{r:.2}× {}", mark(r <= CPU_RATIO_MAX))
                }
            }
            _ => "—".to_string(),
        };
        let at = |mb: u32| ms(Duration::from_secs_f64(total.as_secs_f64() / vcpu_at(mb)));
        println!(
            "| {} | {} | {} | {} | {} | **{}** | {} | {} · {} · {} |",
            s.name,
            s.build,
            s.transport.label(),
            ms(init),
            ms(first),
            ms(total),
            ratio,
            at(128),
            at(256),
            at(512)
        );
    }
    println!();
    println!(
        "CPU from the process's CPU-time clock (`clock_getcpuclockid`: user + system, every thread, exited ones included, in ns), \
         read when the process first polls `/next` (init) and after its first answer; wall time at a memory size = CPU ÷ its vCPU \
         share (1,769 MB = 1 vCPU), the least a cold start costs there."
    );
}

/// The simulator's round-trip time in the distance rows.
const RTT: Duration = Duration::from_millis(40);
/// The pool's idle timeout (`HttpSettings::default`): a warm call after a longer gap pays the
/// connection set-up again.
const IDLE_GAP: Duration = Duration::from_secs(31);

/// First, warm, and after-idle calls of each HTTP function over https with the simulator RTT
/// away, in RTTs beside the floor (the round trips no client can avoid).
fn round_trips(bins: &Binaries, work: &Path, rounds: usize) -> Result<(), String> {
    let sim = Sim::start_blocking(SimConfig {
        tls: true,
        separate_token_host: true,
        rtt: RTT,
        ..SimConfig::default()
    })
    .map_err(|e| e.to_string())?;
    let dir = work.join("distance");
    let (bundle, _) = sim.write_ca_bundle(&dir).map_err(|e| e.to_string())?;
    let env = {
        let mut env = sim.function_env("US");
        env.push(("SSL_CERT_FILE".into(), bundle.display().to_string()));
        env
    };
    // (function, kind, floor cold, floor warm, floor after idle): a new https connection is
    // TCP + TLS 1.3 + the request = 3 RTT; agent-answer's first call adds the Agent Answer
    // request (its host's set-up overlaps the token request); after the idle gap the token is
    // still cached, the connection is not.
    let rows = [
        ("datastore-proxy", Kind::Datastore, 3.0, 1.0, 3.0),
        ("agent-answer", Kind::AgentAnswer, 4.0, 1.0, 3.0),
    ];
    let mut subjects: Vec<Subject> = rows
        .iter()
        .map(|(name, kind, ..)| {
            Subject::new(
                name,
                "ring",
                Transport::Https,
                bins.release.join(name),
                *kind,
                env.clone(),
            )
        })
        .collect();
    eprintln!(
        "distance: {rounds} cold starts per function at RTT {} ms, then warm calls and one idle gap of {} s…",
        RTT.as_millis(),
        IDLE_GAP.as_secs()
    );
    let mut warm_after_idle = vec![Duration::ZERO; subjects.len()];
    for _ in 0..rounds {
        for s in subjects.iter_mut() {
            let mut f = spawn(s).map_err(|e| format!("{}: {e}", s.name))?;
            f.wait_ready_blocking(Duration::from_secs(10))
                .map_err(|e| format!("{}: {e}", s.name))?;
            let (first, _) = invoke(&mut f, s, 0, &sim).map_err(|e| format!("{}: {e}", s.name))?;
            s.firsts.push(first);
            for i in 1..=5 {
                let (own, _) =
                    invoke(&mut f, s, i, &sim).map_err(|e| format!("{}: {e}", s.name))?;
                s.warm.push(own);
            }
        }
    }
    // IDLE_PROCS processes per function, warmed, then left idle past the pool's timeout together
    // (one wait for all); the median of their next calls.
    const IDLE_PROCS: usize = 5;
    let mut procs = Vec::new();
    for (k, s) in subjects.iter_mut().enumerate() {
        for _ in 0..IDLE_PROCS {
            let mut f = spawn(s).map_err(|e| format!("{}: {e}", s.name))?;
            invoke(&mut f, s, 0, &sim).map_err(|e| format!("{}: {e}", s.name))?;
            procs.push((k, f));
        }
    }
    std::thread::sleep(IDLE_GAP);
    let mut after_idle: Vec<Vec<Duration>> = vec![Vec::new(); subjects.len()];
    for (i, (k, f)) in procs.iter_mut().enumerate() {
        let s = &mut subjects[*k];
        let (own, _) = invoke(f, s, 100 + i, &sim).map_err(|e| format!("{}: {e}", s.name))?;
        after_idle[*k].push(own);
    }
    drop(procs);
    for (slot, samples) in warm_after_idle.iter_mut().zip(&after_idle) {
        *slot = pct(samples, 0.5);
    }

    println!();
    println!(
        "### Round trips: https with the simulator {} ms away (RTT), release build",
        RTT.as_millis()
    );
    println!();
    println!("| Function | call | wall time p50 | in RTTs | floor (RTTs) | ratio (goal ≤ floor + 0.5 RTT) |");
    println!("|---|---|---|---|---|---|");
    let mut all_ok = true;
    for ((s, row), idle) in subjects.iter().zip(rows.iter()).zip(&warm_after_idle) {
        let (_, _, cold_floor, warm_floor, idle_floor) = *row;
        for (call, wall, floor) in [
            ("cold (1st invocation)", pct(&s.firsts, 0.5), cold_floor),
            ("warm", pct(&s.warm, 0.5), warm_floor),
            (
                "warm after an idle gap > pool timeout (30 s)",
                *idle,
                idle_floor,
            ),
        ] {
            let rtts = wall.as_secs_f64() / RTT.as_secs_f64();
            let ok = rtts <= floor + 0.5;
            all_ok &= ok;
            println!(
                "| {} | {call} | {} | {rtts:.2} | {floor} | {:.2} {} |",
                s.name,
                ms(wall),
                rtts / floor,
                mark(ok)
            );
        }
    }
    println!();
    println!(
        "Own time (event handed out → answer posted), p50: {rounds} cold starts per function, 5 warm calls after each, and one call \
         in each of 5 processes after {} s idle. The simulator (`SimConfig::rtt`) delays the TCP handshake and every delivery by one \
         RTT, so the floors are: a new https connection's request 3 RTT (TCP, TLS 1.3, the request), a pooled connection's 1 RTT.",
        IDLE_GAP.as_secs()
    );
    if !all_ok {
        eprintln!("some round-trip rows are above floor + 0.5 RTT (❌)");
    }
    Ok(())
}

fn report(
    subjects: &[Subject],
    cold_n: usize,
    warm_n: usize,
    bundle_certs: usize,
    load_before: &str,
) -> Result<(), String> {
    let floor = pct(&subjects[0].inits, 0.5);
    let http_row = |s: &Subject| {
        subjects
            .iter()
            .find(|o| o.name == s.name && o.build == s.build && o.transport == Transport::Http)
    };
    println!("| Function | crypto provider | transport (CA store) | init p50 (vs floor, ≤ {INIT_VS_FLOOR}× over http) | 1st invocation p50 | **init + 1st** p50 (min–max) | init + 1st ÷ http (≤ {HTTPS_COLD_RATIO_MAX}×) | warm p50 (≤ 0.5 ms) | warm p99 | warm p50 ÷ http (≤ {HTTPS_WARM_RATIO_MAX}×) | peak RSS (≤ 12 MB) | binary | bootstrap.zip (≤ 2.1 MB HTTP functions, 3 MB others) | upstream requests (1st · warm) |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    let mut all_ok = true;
    for (i, s) in subjects.iter().enumerate() {
        let floor_row = i == 0;
        let release = s.build != "aws-lc-rs";
        let init = pct(&s.inits, 0.5);
        let init_ratio = init.as_secs_f64() / floor.as_secs_f64().max(1e-9);
        // The init target applies to the http rows and to functions without upstream calls.
        let init_ok = floor_row
            || matches!(s.transport, Transport::Https | Transport::HttpsRootOnly)
            || init_ratio <= INIT_VS_FLOOR;
        let first = pct(&s.firsts, 0.5);
        let cold = s.init_plus_first();
        let cold_p50 = pct(&cold, 0.5);
        let p50 = pct(&s.warm, 0.5);
        let p99 = pct(&s.warm, 0.99);
        let p50_ok = p50 <= WARM_P50_MAX;
        let rss = s
            .cold_rss_kib
            .iter()
            .copied()
            .max()
            .unwrap_or(0)
            .max(s.warm_rss_kib)
            * 1024;
        let rss_ok = rss <= RSS_MAX_BYTES;
        let zip_max = if matches!(s.kind, Kind::Datastore | Kind::AgentAnswer) {
            ZIP_MAX_BYTES_HTTP
        } else {
            ZIP_MAX_BYTES
        };
        let zip_ok = s.zip_bytes.is_some_and(|z| z <= zip_max);
        let (cold_cell, warm_cell, ratios_ok) = match (s.transport, http_row(s)) {
            (Transport::Https | Transport::HttpsRootOnly, Some(h)) => {
                let c = cold_p50.as_secs_f64() / pct(&h.init_plus_first(), 0.5).as_secs_f64();
                let w = p50.as_secs_f64() / pct(&h.warm, 0.5).as_secs_f64();
                let ok = c <= HTTPS_COLD_RATIO_MAX && w <= HTTPS_WARM_RATIO_MAX;
                (
                    format!("{c:.2}× {}", mark(c <= HTTPS_COLD_RATIO_MAX)),
                    format!("{w:.2}× {}", mark(w <= HTTPS_WARM_RATIO_MAX)),
                    ok,
                )
            }
            _ => ("—".to_string(), "—".to_string(), true),
        };
        let first_req = {
            let mut v = s.first_requests.clone();
            v.sort();
            v.get(v.len() / 2).copied().unwrap_or(0)
        };
        let warm_req = s.warm_requests as f64 / s.warm.len().max(1) as f64;
        let req_ok = s.kind != Kind::AgentAnswer || (warm_req - 1.0).abs() < 1e-9;
        // The targets apply to the release build; the aws-lc-rs rows are the comparison.
        if !floor_row && release {
            all_ok &= init_ok && p50_ok && rss_ok && zip_ok && req_ok && ratios_ok;
        }
        let req_cell = match s.kind {
            Kind::Hello | Kind::Phrase => "0 · 0".to_string(),
            _ => format!("{first_req} · {warm_req:.2}"),
        };
        println!(
            "| {} | {} | {} | {} ({}) | {} | **{}** ({}–{}) | {} | {} {} | {} | {} | {:.1} MB {} | {} | {} | {}{} |",
            s.name,
            s.build,
            s.transport.label(),
            ms(init),
            if floor_row {
                "floor".to_string()
            } else if s.transport == Transport::Http || s.transport == Transport::None {
                format!("{init_ratio:.2}× {}", mark(init_ok))
            } else {
                format!("{init_ratio:.2}×")
            },
            ms(first),
            ms(cold_p50),
            ms(pct(&cold, 0.0)),
            ms(pct(&cold, 1.0)),
            cold_cell,
            ms(p50),
            mark(p50_ok),
            ms(p99),
            warm_cell,
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
        "Median of {cold_n} cold starts per row (interleaved across all rows, after one discarded warm-up round), {warm_n} warm invocations in one process per row; \
         own time = event handed out on `/next` → answer posted; init = process spawn → first `/next` poll; init + 1st = their sum per cold start; \
         ratios against the http row of the same function and build; peak RSS = max VmHWM over all processes of the row; sizes in decimal MB. \
         both transports address the simulator as `localhost` (a name lookup, as for Mindful's hosts), the token endpoint on its own port; \
         https: the simulator's RSA-2048 chain (root → intermediate → leaf for `localhost`), TLS 1.3; \
         whole CA bundle = this machine's system bundle + the test root ({bundle_certs} certificates) in the `provided.al2023` layout, via `SSL_CERT_FILE`."
    );
    println!(
        "Machine: {}; 1-minute load average {load_before} before the measurements, {} after (a shared machine: the interleaving spreads background load over every row).",
        machine(),
        loadavg()
    );
    if let Some(date) = command_line("date", &["-u", "+%Y-%m-%d %H:%M UTC"]) {
        println!("Date: {date}.");
    }
    for s in subjects {
        for f in &s.failures {
            println!("⚠ {} ({}, {}): {f}", s.name, s.build, s.transport.label());
        }
    }
    eprintln!(
        "{}",
        if all_ok {
            "all targets met (release build)"
        } else {
            "some targets missed (❌)"
        }
    );
    Ok(())
}
