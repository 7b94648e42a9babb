//! Driving a built Lambda binary as a child process against the emulator.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::emulator::{Dead, InvokeOptions, Invoked, RuntimeApiEmulator, Shared};
use crate::error::HarnessError;

/// Which stream a captured line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogStream {
    Stdout,
    Stderr,
}

/// One line of the function's output.
#[derive(Debug, Clone)]
pub struct LogLine {
    pub stream: LogStream,
    /// The line without its trailing newline (lossy UTF-8).
    pub text: String,
    /// Time since the process was spawned.
    pub at: Duration,
}

impl LogLine {
    /// The line parsed as JSON (`AWS_LAMBDA_LOG_FORMAT=JSON` tracing output), if it is JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_str(&self.text).ok()
    }
}

#[derive(Default)]
struct LogStore {
    lines: Mutex<Vec<LogLine>>,
    eof: AtomicUsize,
}

impl LogStore {
    fn lock(&self) -> MutexGuard<'_, Vec<LogLine>> {
        self.lines.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn tail(&self, n: usize) -> String {
        let lines = self.lock();
        let start = lines.len().saturating_sub(n);
        lines[start..]
            .iter()
            .map(|l| format!("  [{:?}] {}", l.stream, l.text))
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn all_eof(&self) -> bool {
        self.eof.load(Ordering::Acquire) >= 2
    }
}

/// What [`FunctionProcess::shutdown`] observed.
#[derive(Debug, Clone)]
pub struct ProcessReport {
    /// `VmHWM` read just before the process was killed (None if it had already exited).
    pub peak_rss_kib: Option<u64>,
    /// Exit status (`signal: 9 (SIGKILL)` when the harness killed it).
    pub exit_status: String,
    /// Whether the process had exited on its own before shutdown.
    pub exited_on_its_own: bool,
}

/// Options for [`FunctionProcess`]; start with [`FunctionProcess::builder`].
#[derive(Debug, Clone)]
pub struct FunctionBuilder {
    binary: PathBuf,
    function_name: Option<String>,
    memory_mb: u32,
    env: Vec<(String, String)>,
    env_remove: Vec<String>,
    inherit_env: bool,
    invoke: InvokeOptions,
    echo_output: bool,
    /// `program args…` to run the binary through (`program args… <binary>`); none by default.
    wrapper: Option<(PathBuf, Vec<OsString>)>,
}

/// Variables passed through from the parent environment when `inherit_env` is off.
const PASSTHROUGH: &[&str] = &[
    "PATH",
    "RUST_BACKTRACE",
    "LLVM_PROFILE_FILE",
    "CARGO_LLVM_COV",
    "CARGO_LLVM_COV_TARGET_DIR",
];

impl FunctionBuilder {
    /// Function name (`AWS_LAMBDA_FUNCTION_NAME`, ARN); defaults to the binary's file name.
    pub fn function_name(mut self, name: impl Into<String>) -> Self {
        self.function_name = Some(name.into());
        self
    }

    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE` (default 128). Informational only: nothing is limited.
    pub fn memory_mb(mut self, mb: u32) -> Self {
        self.memory_mb = mb;
        self
    }

    /// Add one environment variable (applied after the Lambda defaults, so it can override them).
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Add several environment variables.
    pub fn envs(mut self, vars: &[(String, String)]) -> Self {
        self.env.extend(vars.iter().cloned());
        self
    }

    /// Remove a variable (e.g. one of the Lambda defaults such as `AWS_LAMBDA_LOG_FORMAT`).
    pub fn env_remove(mut self, key: impl Into<String>) -> Self {
        self.env_remove.push(key.into());
        self
    }

    /// Inherit the whole parent environment (default: off; only `PATH`, `RUST_BACKTRACE` and
    /// coverage variables pass through, so a developer's shell cannot change test outcomes).
    pub fn inherit_env(mut self, yes: bool) -> Self {
        self.inherit_env = yes;
        self
    }

    /// Default function timeout for [`FunctionProcess::invoke`] (deadline header), default 8 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.invoke.timeout = timeout;
        self
    }

    /// Extra wait past the deadline before an invoke fails with a timeout (default 2 s).
    pub fn grace(mut self, grace: Duration) -> Self {
        self.invoke.grace = grace;
        self
    }

    /// How long an event may wait for the function to poll `/next`, init included (default 10 s,
    /// Lambda's init limit).
    pub fn handout_timeout(mut self, d: Duration) -> Self {
        self.invoke.handout_timeout = d;
        self
    }

    /// Copy the function's output lines to the test's stderr as they arrive (also enabled by
    /// `LAMBDA_HARNESS_ECHO=1`).
    pub fn echo_output(mut self, yes: bool) -> Self {
        self.echo_output = yes;
        self
    }

    /// Run the binary through another program: `program args… <binary>`, e.g. `qemu-aarch64 -L
    /// /usr/aarch64-linux-gnu` for an arm64 binary on an x86_64 host (the artifact check runs the
    /// zips a deploy uploads that way). The wrapper gets the same environment and must exec or
    /// emulate the binary in its own process: the pid, peak RSS and exit status are the wrapper's.
    /// `program` is looked up in `PATH` like any command. Default: none (the binary itself).
    pub fn wrapper<I, S>(mut self, program: impl Into<PathBuf>, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.wrapper = Some((program.into(), args.into_iter().map(Into::into).collect()));
        self
    }

    /// Start the emulator and the process. Does not wait for init; see
    /// [`FunctionProcess::wait_ready`].
    pub fn spawn(self) -> Result<FunctionProcess, HarnessError> {
        FunctionProcess::spawn_with(self)
    }
}

/// A Lambda binary running as a child process, speaking the Runtime API to an in-process
/// emulator. Killed (SIGKILL) and reaped on [`FunctionProcess::shutdown`] or drop.
///
/// Invocations are sequential (`&mut self`), like `lambda_runtime::run`.
pub struct FunctionProcess {
    name: String,
    binary: PathBuf,
    pid: u32,
    child: Arc<Mutex<Option<Child>>>,
    exit_status: Arc<Mutex<Option<String>>>,
    logs: Arc<LogStore>,
    emulator: RuntimeApiEmulator,
    spawned_at: Instant,
    invoke_defaults: InvokeOptions,
    report: Option<ProcessReport>,
}

impl std::fmt::Debug for FunctionProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FunctionProcess")
            .field("name", &self.name)
            .field("binary", &self.binary)
            .field("pid", &self.pid)
            .field("runtime_api", &self.emulator.runtime_api())
            .finish()
    }
}

impl FunctionProcess {
    /// Builder with the defaults (128 MB, 8 s timeout, 2 s grace, JSON logs, clean environment).
    pub fn builder(binary: impl AsRef<Path>) -> FunctionBuilder {
        FunctionBuilder {
            binary: binary.as_ref().to_path_buf(),
            function_name: None,
            memory_mb: 128,
            env: Vec::new(),
            env_remove: Vec::new(),
            inherit_env: false,
            invoke: InvokeOptions::default(),
            echo_output: std::env::var_os("LAMBDA_HARNESS_ECHO").is_some_and(|v| v == "1"),
            wrapper: None,
        }
    }

    /// Spawn `binary` with the Lambda environment plus `env` (caller's variables win).
    pub fn spawn(
        binary: impl AsRef<Path>,
        env: &[(String, String)],
    ) -> Result<FunctionProcess, HarnessError> {
        Self::builder(binary).envs(env).spawn()
    }

    fn spawn_with(b: FunctionBuilder) -> Result<FunctionProcess, HarnessError> {
        if !b.binary.is_file() {
            return Err(HarnessError::BinaryNotFound {
                name: b.binary.display().to_string(),
                searched: vec![b.binary.clone()],
                hint: "build it first (see lambda_harness::build_release / binary_path)".into(),
            });
        }
        let name = b.function_name.clone().unwrap_or_else(|| {
            b.binary
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "function".into())
        });
        let emulator = RuntimeApiEmulator::start(&name)?;

        let mut cmd = match &b.wrapper {
            Some((program, args)) => {
                let mut cmd = Command::new(program);
                cmd.args(args).arg(&b.binary);
                cmd
            }
            None => Command::new(&b.binary),
        };
        if !b.inherit_env {
            cmd.env_clear();
            for k in PASSTHROUGH {
                if let Some(v) = std::env::var_os(k) {
                    cmd.env(k, v);
                }
            }
        }
        let defaults: [(&str, String); 10] = [
            ("AWS_LAMBDA_RUNTIME_API", emulator.runtime_api()),
            ("AWS_LAMBDA_FUNCTION_NAME", name.clone()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", b.memory_mb.to_string()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
            ("AWS_LAMBDA_LOG_FORMAT", "JSON".into()),
            ("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}")),
            (
                "AWS_LAMBDA_LOG_STREAM_NAME",
                "harness/[$LATEST]local".into(),
            ),
            ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_EXECUTION_ENV", "AWS_Lambda_provided.al2023".into()),
        ];
        for (k, v) in defaults {
            cmd.env(k, v);
        }
        for (k, v) in &b.env {
            cmd.env(k, v);
        }
        for k in &b.env_remove {
            cmd.env_remove(k);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());

        let spawned_at = Instant::now();
        let mut child = cmd.spawn().map_err(|source| HarnessError::Spawn {
            // A missing wrapper (qemu not installed) names the wrapper, not the binary.
            path: b
                .wrapper
                .as_ref()
                .map_or_else(|| b.binary.clone(), |(program, _)| program.clone()),
            source,
        })?;
        let pid = child.id();
        let logs = Arc::new(LogStore::default());
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let child = Arc::new(Mutex::new(Some(child)));

        // From here on, any early return drops `proc`, which kills the child.
        let mut proc = FunctionProcess {
            name: name.clone(),
            binary: b.binary.clone(),
            pid,
            child,
            exit_status: Arc::new(Mutex::new(None)),
            logs: logs.clone(),
            emulator,
            spawned_at,
            invoke_defaults: b.invoke.clone(),
            report: None,
        };
        let prefix = if b.echo_output {
            Some(format!("[{name}]"))
        } else {
            None
        };
        for (pipe, stream) in [
            (
                stdout.map(|p| Box::new(p) as Box<dyn Read + Send>),
                LogStream::Stdout,
            ),
            (
                stderr.map(|p| Box::new(p) as Box<dyn Read + Send>),
                LogStream::Stderr,
            ),
        ] {
            match pipe {
                Some(pipe) => {
                    let logs = logs.clone();
                    let prefix = prefix.clone();
                    std::thread::Builder::new()
                        .name(format!("lambda-harness-{stream:?}").to_lowercase())
                        .spawn(move || read_lines(pipe, stream, logs, spawned_at, prefix))
                        .map_err(|e| HarnessError::io("spawning an output reader thread", e))?;
                }
                None => {
                    logs.eof.fetch_add(1, Ordering::AcqRel);
                }
            }
        }
        proc.start_exit_monitor();
        Ok(proc)
    }

    /// Poll the child every 10 ms; when it exits, wait briefly for its output to drain, then
    /// fail pending invocations with [`HarnessError::ProcessExited`].
    fn start_exit_monitor(&mut self) {
        let child = self.child.clone();
        let exit_status = self.exit_status.clone();
        let logs = self.logs.clone();
        let shared: Arc<Shared> = self.emulator.shared().clone();
        self.emulator.handle().spawn(async move {
            loop {
                let status = {
                    let mut guard = child.lock().unwrap_or_else(|p| p.into_inner());
                    match guard.as_mut() {
                        None => return, // shut down by the harness
                        Some(c) => match c.try_wait() {
                            Ok(Some(st)) => Some(st.to_string()),
                            Ok(None) => None,
                            Err(e) => Some(format!("unknown status ({e})")),
                        },
                    }
                };
                if let Some(status) = status {
                    let until = Instant::now() + Duration::from_millis(300);
                    while !logs.all_eof() && Instant::now() < until {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    *exit_status.lock().unwrap_or_else(|p| p.into_inner()) = Some(status.clone());
                    shared.mark_dead(Dead::Exited(status));
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
    }

    /// Function name used for `AWS_LAMBDA_FUNCTION_NAME` and the ARN.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// OS process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// `AWS_LAMBDA_RUNTIME_API` value given to the process.
    pub fn runtime_api(&self) -> String {
        self.emulator.runtime_api()
    }

    /// The emulator (poll counts, late responses).
    pub fn emulator(&self) -> &RuntimeApiEmulator {
        &self.emulator
    }

    /// Default options used by [`invoke`](Self::invoke).
    pub fn invoke_defaults(&self) -> &InvokeOptions {
        &self.invoke_defaults
    }

    /// Init time: process spawn → first `/next` poll received. `None` until the first poll.
    pub fn init_time(&self) -> Option<Duration> {
        self.emulator
            .ready_at()
            .map(|t| t.saturating_duration_since(self.spawned_at))
    }

    fn ready_rx(&self, timeout: Duration) -> oneshot::Receiver<Result<Duration, HarnessError>> {
        let mut life = self.emulator.shared().life();
        let spawned_at = self.spawned_at;
        self.emulator.run_bg(async move {
            let waited = tokio::time::timeout(
                timeout,
                life.wait_for(|l| l.ready_at.is_some() || l.dead.is_some()),
            )
            .await;
            match waited {
                Err(_) => Err(HarnessError::NotReady {
                    waited: timeout,
                    output: String::new(),
                }),
                Ok(Err(_)) => Err(HarnessError::ShutDown),
                Ok(Ok(l)) => match (l.ready_at, &l.dead) {
                    (Some(t), _) => Ok(t.saturating_duration_since(spawned_at)),
                    (None, Some(Dead::Exited(status))) => Err(HarnessError::ProcessExited {
                        status: status.clone(),
                        output: String::new(),
                    }),
                    (None, Some(Dead::InitError(e))) => Err(HarnessError::InitError {
                        error: e.clone(),
                        output: String::new(),
                    }),
                    _ => Err(HarnessError::ShutDown),
                },
            }
        })
    }

    /// Wait until the function polls `/next` for the first time; returns the init time.
    pub async fn wait_ready(&self, timeout: Duration) -> Result<Duration, HarnessError> {
        let r = self.ready_rx(timeout).await;
        self.finish(r)
    }

    /// Blocking [`wait_ready`](Self::wait_ready) for synchronous tests.
    pub fn wait_ready_blocking(&self, timeout: Duration) -> Result<Duration, HarnessError> {
        ensure_not_async()?;
        let r = self.ready_rx(timeout).blocking_recv();
        self.finish(r)
    }

    fn finish<T>(
        &self,
        r: Result<Result<T, HarnessError>, oneshot::error::RecvError>,
    ) -> Result<T, HarnessError> {
        match r {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(e.with_output(self.logs.tail(30))),
            Err(_) => Err(HarnessError::ShutDown),
        }
    }

    fn check_running(&self) -> Result<(), HarnessError> {
        if self.report.is_some() {
            Err(HarnessError::ShutDown)
        } else {
            Ok(())
        }
    }

    /// Invoke with a JSON event using the default options (8 s deadline unless configured).
    pub async fn invoke(&mut self, event: serde_json::Value) -> Result<Invoked, HarnessError> {
        let opts = self.invoke_defaults.clone();
        self.invoke_with(&event, opts).await
    }

    /// Invoke with explicit options (e.g. a different deadline).
    pub async fn invoke_with(
        &mut self,
        event: &serde_json::Value,
        opts: InvokeOptions,
    ) -> Result<Invoked, HarnessError> {
        let body = to_body(event)?;
        self.invoke_bytes(body, opts).await
    }

    /// Invoke with a raw event body (e.g. malformed JSON).
    pub async fn invoke_bytes(
        &mut self,
        body: Vec<u8>,
        opts: InvokeOptions,
    ) -> Result<Invoked, HarnessError> {
        self.check_running()?;
        let r = self.emulator.start_invoke(body, opts).await;
        self.finish(r)
    }

    /// Invoke and return the response JSON; a function error becomes [`HarnessError::Function`].
    pub async fn invoke_ok(
        &mut self,
        event: serde_json::Value,
    ) -> Result<serde_json::Value, HarnessError> {
        self.invoke(event).await?.into_response()
    }

    /// Blocking [`invoke`](Self::invoke) for synchronous tests (errors if called inside a
    /// Tokio runtime: use the async variant there).
    pub fn invoke_blocking(&mut self, event: serde_json::Value) -> Result<Invoked, HarnessError> {
        let opts = self.invoke_defaults.clone();
        self.invoke_blocking_with(&event, opts)
    }

    /// Blocking [`invoke_with`](Self::invoke_with).
    pub fn invoke_blocking_with(
        &mut self,
        event: &serde_json::Value,
        opts: InvokeOptions,
    ) -> Result<Invoked, HarnessError> {
        ensure_not_async()?;
        self.check_running()?;
        let body = to_body(event)?;
        let r = self.emulator.start_invoke(body, opts).blocking_recv();
        self.finish(r)
    }

    /// Blocking [`invoke_bytes`](Self::invoke_bytes).
    pub fn invoke_bytes_blocking(
        &mut self,
        body: Vec<u8>,
        opts: InvokeOptions,
    ) -> Result<Invoked, HarnessError> {
        ensure_not_async()?;
        self.check_running()?;
        let r = self.emulator.start_invoke(body, opts).blocking_recv();
        self.finish(r)
    }

    /// All output lines captured so far (stdout and stderr, in arrival order).
    pub fn logs(&self) -> Vec<LogLine> {
        self.logs.lock().clone()
    }

    /// Number of lines captured so far; pass to [`logs_since`](Self::logs_since).
    pub fn log_mark(&self) -> usize {
        self.logs.lock().len()
    }

    /// Lines captured after `mark`.
    pub fn logs_since(&self, mark: usize) -> Vec<LogLine> {
        let lines = self.logs.lock();
        lines.get(mark..).map(<[_]>::to_vec).unwrap_or_default()
    }

    /// All captured output as one string (lines joined with `\n`).
    pub fn log_text(&self) -> String {
        self.logs
            .lock()
            .iter()
            .map(|l| l.text.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Captured lines that parse as JSON objects (tracing's JSON format).
    pub fn json_logs(&self) -> Vec<serde_json::Value> {
        self.logs
            .lock()
            .iter()
            .filter_map(LogLine::json)
            .filter(serde_json::Value::is_object)
            .collect()
    }

    /// Wait (up to `timeout`) for a line matching `pred` (output arrives asynchronously, a
    /// little after the response). Returns whether one was seen.
    pub async fn wait_for_log<F>(&self, pred: F, timeout: Duration) -> bool
    where
        F: Fn(&LogLine) -> bool + Send + 'static,
    {
        let rx = self.wait_for_log_rx(pred, timeout);
        rx.await.unwrap_or(false)
    }

    /// Blocking [`wait_for_log`](Self::wait_for_log).
    pub fn wait_for_log_blocking<F>(&self, pred: F, timeout: Duration) -> Result<bool, HarnessError>
    where
        F: Fn(&LogLine) -> bool + Send + 'static,
    {
        ensure_not_async()?;
        Ok(self
            .wait_for_log_rx(pred, timeout)
            .blocking_recv()
            .unwrap_or(false))
    }

    fn wait_for_log_rx<F>(&self, pred: F, timeout: Duration) -> oneshot::Receiver<bool>
    where
        F: Fn(&LogLine) -> bool + Send + 'static,
    {
        let logs = self.logs.clone();
        self.emulator.run_bg(async move {
            let until = Instant::now() + timeout;
            let mut seen = 0;
            loop {
                {
                    let lines = logs.lock();
                    if lines[seen..].iter().any(&pred) {
                        return true;
                    }
                    seen = lines.len();
                }
                if Instant::now() >= until || logs.all_eof() {
                    return logs.lock()[seen..].iter().any(&pred);
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    }

    /// Peak resident set size so far (`VmHWM` from `/proc/<pid>/status`, KiB). Linux only.
    pub fn peak_rss_kib(&self) -> Result<u64, HarnessError> {
        self.proc_status_kib("VmHWM")
    }

    /// Current resident set size (`VmRSS`, KiB). Linux only.
    pub fn rss_kib(&self) -> Result<u64, HarnessError> {
        self.proc_status_kib("VmRSS")
    }

    fn proc_status_kib(&self, key: &str) -> Result<u64, HarnessError> {
        if self.report.is_some() || self.exit_status_now().is_some() {
            return Err(HarnessError::Proc {
                pid: self.pid,
                reason: "the process is no longer running".into(),
            });
        }
        read_proc_status_kib(self.pid, key)
    }

    fn exit_status_now(&self) -> Option<String> {
        self.exit_status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Whether the process is still running (not exited, not shut down).
    pub fn is_running(&self) -> bool {
        if self.report.is_some() {
            return false;
        }
        let mut guard = self.child.lock().unwrap_or_else(|p| p.into_inner());
        match guard.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Read peak RSS, kill the process (SIGKILL), reap it, wait for its output to drain and stop
    /// the emulator. Idempotent: later calls return the same report.
    pub fn shutdown(&mut self) -> Result<ProcessReport, HarnessError> {
        if let Some(r) = &self.report {
            return Ok(r.clone());
        }
        let child = self.child.lock().unwrap_or_else(|p| p.into_inner()).take();
        let mut report = ProcessReport {
            peak_rss_kib: None,
            exit_status: String::new(),
            exited_on_its_own: false,
        };
        let mut kill_err = None;
        if let Some(mut child) = child {
            match child.try_wait() {
                Ok(Some(st)) => {
                    report.exited_on_its_own = true;
                    report.exit_status = st.to_string();
                }
                _ => {
                    report.peak_rss_kib = read_proc_status_kib(self.pid, "VmHWM").ok();
                    if let Err(e) = child.kill() {
                        kill_err = Some(HarnessError::io(format!("killing pid {}", self.pid), e));
                    }
                    match child.wait() {
                        Ok(st) => report.exit_status = st.to_string(),
                        Err(e) => {
                            kill_err.get_or_insert(HarnessError::io(
                                format!("waiting for pid {}", self.pid),
                                e,
                            ));
                        }
                    }
                }
            }
        } else if let Some(st) = self.exit_status_now() {
            // Already reaped by the exit monitor.
            report.exited_on_its_own = true;
            report.exit_status = st;
        }
        let until = Instant::now() + Duration::from_millis(500);
        while !self.logs.all_eof() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(2));
        }
        self.emulator.shutdown();
        self.report = Some(report.clone());
        match kill_err {
            Some(e) => Err(e),
            None => Ok(report),
        }
    }
}

impl Drop for FunctionProcess {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

fn to_body(event: &serde_json::Value) -> Result<Vec<u8>, HarnessError> {
    serde_json::to_vec(event).map_err(|e| HarnessError::Emulator(format!("serialising event: {e}")))
}

fn ensure_not_async() -> Result<(), HarnessError> {
    if tokio::runtime::Handle::try_current().is_ok() {
        Err(HarnessError::BlockingInAsync)
    } else {
        Ok(())
    }
}

fn read_lines(
    pipe: Box<dyn Read + Send>,
    stream: LogStream,
    logs: Arc<LogStore>,
    spawned_at: Instant,
    echo_prefix: Option<String>,
) {
    let mut reader = BufReader::new(pipe);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                while matches!(buf.last(), Some(b'\n' | b'\r')) {
                    buf.pop();
                }
                let text = String::from_utf8_lossy(&buf).into_owned();
                if let Some(p) = &echo_prefix {
                    eprintln!("{p} {text}");
                }
                logs.lock().push(LogLine {
                    stream,
                    text,
                    at: spawned_at.elapsed(),
                });
            }
        }
    }
    logs.eof.fetch_add(1, Ordering::AcqRel);
}

/// Read a `kB` field (`VmHWM`, `VmRSS`, ...) from `/proc/<pid>/status`.
fn read_proc_status_kib(pid: u32, key: &str) -> Result<u64, HarnessError> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).map_err(|e| HarnessError::Proc {
        pid,
        reason: e.to_string(),
    })?;
    text.lines()
        .find_map(|l| {
            let rest = l.strip_prefix(key)?.strip_prefix(':')?;
            rest.split_whitespace().next()?.parse::<u64>().ok()
        })
        .ok_or_else(|| HarnessError::Proc {
            pid,
            reason: format!("no {key} line (zombie or not Linux?)"),
        })
}
