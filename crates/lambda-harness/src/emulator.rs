//! In-process emulator of the AWS Lambda Runtime API (the subset `lambda_runtime` 1.5 uses).
//!
//! Runs on its own thread with its own current-thread Tokio runtime, so it works the same from
//! `#[test]`, `#[tokio::test]` (any flavour) and plain `main`, and dropping it never panics
//! inside another runtime.

use std::collections::{HashMap, HashSet, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::sync::{oneshot, watch, Notify};

use crate::error::{FunctionError, HarnessError};

/// Runtime API version prefix used by every route.
const API_PREFIX: &str = "/2018-06-01/runtime";

/// Default per-invocation timeout (the deadline handed to the function): Amazon Connect's
/// maximum for a synchronous Lambda invocation.
const DEFAULT_TIMEOUT: Duration = Duration::from_millis(8000);
/// Extra time the harness waits past the deadline before giving up on a response.
const DEFAULT_GRACE: Duration = Duration::from_secs(2);
/// How long an event may wait in the queue for the function to poll `/next` (covers init).
const DEFAULT_HANDOUT_TIMEOUT: Duration = Duration::from_secs(10);

/// Per-invocation settings.
#[derive(Debug, Clone)]
pub struct InvokeOptions {
    /// Function timeout: the deadline header is `now + timeout` when the event is handed out.
    pub timeout: Duration,
    /// How long the harness waits past the deadline before returning [`HarnessError::Timeout`].
    pub grace: Duration,
    /// How long the event may wait for the function to poll `/next` (init time included).
    pub handout_timeout: Duration,
    /// Extra response headers for `/next` (e.g. `Lambda-Runtime-Client-Context`).
    pub extra_headers: Vec<(String, String)>,
}

impl Default for InvokeOptions {
    fn default() -> Self {
        InvokeOptions {
            timeout: DEFAULT_TIMEOUT,
            grace: DEFAULT_GRACE,
            handout_timeout: DEFAULT_HANDOUT_TIMEOUT,
            extra_headers: Vec::new(),
        }
    }
}

impl InvokeOptions {
    /// Options with the given function timeout and default grace/handout timeouts.
    pub fn with_timeout(timeout: Duration) -> Self {
        InvokeOptions {
            timeout,
            ..Default::default()
        }
    }
}

/// What the function answered.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// `POST /invocation/{id}/response` with a JSON body.
    Response(serde_json::Value),
    /// `POST /invocation/{id}/error`.
    Error(FunctionError),
}

/// A completed invocation with its timings.
#[derive(Debug, Clone)]
pub struct Invoked {
    /// The `Lambda-Runtime-Aws-Request-Id` handed out.
    pub request_id: String,
    /// Response JSON or function error.
    pub outcome: Outcome,
    /// Raw body posted by the function (response JSON text or error diagnostic).
    pub raw_body: String,
    /// Event handed out on `/next` → `/response` (or `/error`) received: the function's own time.
    pub own_time: Duration,
    /// `invoke` called → event handed out (includes the remaining init time on a cold start).
    pub queued_time: Duration,
    /// `invoke` called → completion observed by the harness.
    pub round_trip: Duration,
    /// `Lambda-Runtime-Deadline-Ms` sent with the event (epoch milliseconds).
    pub deadline_ms: u64,
    /// Whether this was the first event handed out by this emulator (cold start).
    pub cold: bool,
}

impl Invoked {
    /// The response JSON, if the function did not report an error.
    pub fn response(&self) -> Option<&serde_json::Value> {
        match &self.outcome {
            Outcome::Response(v) => Some(v),
            Outcome::Error(_) => None,
        }
    }

    /// The function error, if the function reported one.
    pub fn error(&self) -> Option<&FunctionError> {
        match &self.outcome {
            Outcome::Error(e) => Some(e),
            Outcome::Response(_) => None,
        }
    }

    /// `true` when the function reported an error.
    pub fn is_error(&self) -> bool {
        matches!(self.outcome, Outcome::Error(_))
    }

    /// The response JSON, or [`HarnessError::Function`] if the function reported an error.
    pub fn into_response(self) -> Result<serde_json::Value, HarnessError> {
        match self.outcome {
            Outcome::Response(v) => Ok(v),
            Outcome::Error(e) => Err(HarnessError::Function(e)),
        }
    }
}

/// Why the function can no longer answer.
#[derive(Debug, Clone)]
pub(crate) enum Dead {
    Exited(String),
    InitError(FunctionError),
    ShutDown,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Life {
    pub(crate) ready_at: Option<Instant>,
    pub(crate) dead: Option<Dead>,
}

struct HandedOut {
    at: Instant,
    deadline_ms: u64,
    cold: bool,
}

enum Completion {
    Response { body: Bytes, at: Instant },
    Error { err: FunctionError, at: Instant },
}

struct Queued {
    id: String,
    body: Bytes,
    timeout: Duration,
    extra_headers: Vec<(String, String)>,
    handed: oneshot::Sender<HandedOut>,
    done: oneshot::Sender<Completion>,
}

struct InFlight {
    done: oneshot::Sender<Completion>,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Queued>,
    in_flight: HashMap<String, InFlight>,
    expired: HashSet<String>,
    handed_out: u64,
    next_polls: u64,
    late_responses: u64,
}

pub(crate) struct Shared {
    state: Mutex<State>,
    queue_changed: Notify,
    life: watch::Sender<Life>,
    function_name: String,
    counter: AtomicU64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave State inconsistent in a way that matters
        // to a test harness; keep going rather than cascading panics.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn mark_dead(&self, dead: Dead) {
        self.life.send_modify(|l| {
            if l.dead.is_none() {
                l.dead = Some(dead);
            }
        });
    }

    pub(crate) fn life(&self) -> watch::Receiver<Life> {
        self.life.subscribe()
    }

    fn new_request_id(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let a = mix(nanos ^ (u64::from(std::process::id()) << 32) ^ n);
        let b = mix(a ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            (a >> 32) as u32,
            (a >> 16) as u16,
            (a & 0xfff) as u16,
            0x8000 | ((b >> 48) as u16 & 0x3fff),
            b & 0xffff_ffff_ffff
        )
    }
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn epoch_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The Runtime API emulator: an HTTP/1.1 server on `127.0.0.1:<random port>`.
///
/// Usually used through [`crate::FunctionProcess`]; usable alone to drive a runtime you start
/// yourself (point `AWS_LAMBDA_RUNTIME_API` at [`RuntimeApiEmulator::runtime_api`]).
pub struct RuntimeApiEmulator {
    addr: SocketAddr,
    shared: Arc<Shared>,
    handle: tokio::runtime::Handle,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RuntimeApiEmulator {
    /// Start the emulator. `function_name` is used in the invoked-function ARN.
    pub fn start(function_name: &str) -> Result<Self, HarnessError> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .map_err(|e| HarnessError::io("binding the Runtime API emulator on 127.0.0.1", e))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| HarnessError::io("configuring the emulator socket", e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| HarnessError::io("reading the emulator address", e))?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| HarnessError::io("building the emulator's Tokio runtime", e))?;
        let listener = {
            let _guard = rt.enter();
            tokio::net::TcpListener::from_std(listener)
                .map_err(|e| HarnessError::io("registering the emulator socket", e))?
        };
        let (life, _) = watch::channel(Life::default());
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            queue_changed: Notify::new(),
            life,
            function_name: function_name.to_owned(),
            counter: AtomicU64::new(0),
        });
        let handle = rt.handle().clone();
        let (shutdown_tx, shutdown_rx) = oneshot::channel();
        let server_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("lambda-harness-{function_name}"))
            .spawn(move || {
                rt.block_on(serve(listener, server_shared, shutdown_rx));
                rt.shutdown_timeout(Duration::from_millis(200));
            })
            .map_err(|e| HarnessError::io("spawning the emulator thread", e))?;
        Ok(RuntimeApiEmulator {
            addr,
            shared,
            handle,
            shutdown: Some(shutdown_tx),
            thread: Some(thread),
        })
    }

    /// Socket address of the emulator.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Value for `AWS_LAMBDA_RUNTIME_API` (`127.0.0.1:PORT`, no scheme, as on AWS).
    pub fn runtime_api(&self) -> String {
        self.addr.to_string()
    }

    /// When the first `/next` poll arrived.
    pub fn ready_at(&self) -> Option<Instant> {
        self.shared.life.borrow().ready_at
    }

    /// Number of `/next` polls received so far.
    pub fn next_polls(&self) -> u64 {
        self.shared.lock().next_polls
    }

    /// Responses/errors received for invocations the harness had already timed out.
    pub fn late_responses(&self) -> u64 {
        self.shared.lock().late_responses
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    pub(crate) fn handle(&self) -> &tokio::runtime::Handle {
        &self.handle
    }

    /// Run a future on the emulator's runtime and get its output through a oneshot channel,
    /// which can be awaited from any executor or received blocking from sync code.
    pub(crate) fn run_bg<F>(&self, fut: F) -> oneshot::Receiver<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        self.handle.spawn(async move {
            let _ = tx.send(fut.await);
        });
        rx
    }

    /// Queue an event and wait for its completion (the returned receiver resolves to the result).
    pub(crate) fn start_invoke(
        &self,
        body: Vec<u8>,
        opts: InvokeOptions,
    ) -> oneshot::Receiver<Result<Invoked, HarnessError>> {
        self.run_bg(run_invoke(self.shared.clone(), Bytes::from(body), opts))
    }

    /// Invoke with a JSON event (async; usable from any executor).
    pub async fn invoke(
        &self,
        event: &serde_json::Value,
        opts: InvokeOptions,
    ) -> Result<Invoked, HarnessError> {
        let body = serde_json::to_vec(event)
            .map_err(|e| HarnessError::Emulator(format!("serialising the event: {e}")))?;
        self.start_invoke(body, opts)
            .await
            .map_err(|_| HarnessError::ShutDown)?
    }

    /// Invoke with a raw event body (e.g. deliberately malformed JSON).
    pub async fn invoke_bytes(
        &self,
        body: Vec<u8>,
        opts: InvokeOptions,
    ) -> Result<Invoked, HarnessError> {
        self.start_invoke(body, opts)
            .await
            .map_err(|_| HarnessError::ShutDown)?
    }

    /// Stop the server. Queued and in-flight invocations fail with [`HarnessError::ShutDown`].
    pub fn shutdown(&mut self) {
        self.shared.mark_dead(Dead::ShutDown);
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for RuntimeApiEmulator {
    fn drop(&mut self) {
        self.shutdown();
    }
}

async fn serve(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    mut shutdown: oneshot::Receiver<()>,
) {
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    let shared = shared.clone();
                    tokio::spawn(async move {
                        let svc = hyper::service::service_fn(move |req| {
                            let shared = shared.clone();
                            async move { Ok::<_, Infallible>(route(shared, req).await) }
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), svc)
                            .await;
                    });
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        }
    }
    // Fail everything still waiting: dropping the senders resolves the receivers.
    let mut st = shared.lock();
    st.queue.clear();
    st.in_flight.clear();
}

fn json_response(status: StatusCode, body: serde_json::Value) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body.to_string())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    resp
}

fn error_body(error_type: &str, message: &str) -> serde_json::Value {
    serde_json::json!({ "errorType": error_type, "errorMessage": message })
}

async fn route(shared: Arc<Shared>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    let Some(rest) = path.strip_prefix(API_PREFIX) else {
        return json_response(
            StatusCode::NOT_FOUND,
            error_body("NotFound", &format!("unknown path {path}")),
        );
    };
    let parts: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
    match (req.method().clone(), parts.as_slice()) {
        (Method::GET, ["invocation", "next"]) => next(&shared).await,
        (Method::POST, ["invocation", id, kind @ ("response" | "error")]) => {
            let id = (*id).to_owned();
            let is_error = *kind == "error";
            let header_type = header(&req, "lambda-runtime-function-error-type");
            let body = match req.into_body().collect().await {
                Ok(b) => b.to_bytes(),
                Err(e) => {
                    return json_response(
                        StatusCode::BAD_REQUEST,
                        error_body("InvalidRequest", &format!("reading body: {e}")),
                    )
                }
            };
            let at = Instant::now();
            let completion = if is_error {
                Completion::Error {
                    err: FunctionError::from_post(&body, header_type),
                    at,
                }
            } else {
                Completion::Response { body, at }
            };
            complete(&shared, &id, completion)
        }
        (Method::POST, ["init", "error"]) => {
            let header_type = header(&req, "lambda-runtime-function-error-type");
            let body = req
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            shared.mark_dead(Dead::InitError(FunctionError::from_post(
                &body,
                header_type,
            )));
            json_response(StatusCode::ACCEPTED, serde_json::json!({"status": "OK"}))
        }
        _ => json_response(
            StatusCode::NOT_FOUND,
            error_body("NotFound", &format!("unsupported {} {path}", req.method())),
        ),
    }
}

fn header(req: &Request<Incoming>, name: &str) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn complete(shared: &Shared, id: &str, completion: Completion) -> Response<Full<Bytes>> {
    let mut st = shared.lock();
    if let Some(inflight) = st.in_flight.remove(id) {
        drop(st);
        let _ = inflight.done.send(completion);
        json_response(StatusCode::ACCEPTED, serde_json::json!({"status": "OK"}))
    } else if st.expired.contains(id) {
        st.late_responses += 1;
        json_response(StatusCode::ACCEPTED, serde_json::json!({"status": "OK"}))
    } else {
        json_response(
            StatusCode::BAD_REQUEST,
            error_body("InvalidRequestID", &format!("unknown request id {id}")),
        )
    }
}

async fn next(shared: &Shared) -> Response<Full<Bytes>> {
    {
        let mut st = shared.lock();
        st.next_polls += 1;
    }
    shared.life.send_if_modified(|l| {
        if l.ready_at.is_none() {
            l.ready_at = Some(Instant::now());
            true
        } else {
            false
        }
    });
    let queued = loop {
        let notified = shared.queue_changed.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if let Some(q) = shared.lock().queue.pop_front() {
            break q;
        }
        notified.await;
    };

    let deadline_ms = epoch_ms() + queued.timeout.as_millis() as u64;
    let arn = format!(
        "arn:aws:lambda:us-east-1:123456789012:function:{}",
        shared.function_name
    );
    let trace = format!(
        "Root=1-{:08x}-{:024x};Parent={:016x};Sampled=0",
        epoch_ms() / 1000,
        u128::from(mix(deadline_ms)) << 32 | u128::from(mix(deadline_ms ^ 7) as u32),
        mix(deadline_ms ^ 13)
    );
    let mut builder = Response::builder()
        .status(StatusCode::OK)
        .header("Content-Type", "application/json")
        .header("Lambda-Runtime-Aws-Request-Id", &queued.id)
        .header("Lambda-Runtime-Deadline-Ms", deadline_ms.to_string())
        .header("Lambda-Runtime-Invoked-Function-Arn", arn);
    // A trace id given in `extra_headers` replaces the generated (unique) one: load tests use a
    // constant one to tell their own memory growth from lambda_runtime's (it `setenv`s every
    // invocation's trace id, and glibc keeps every distinct value).
    if !queued
        .extra_headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("Lambda-Runtime-Trace-Id"))
    {
        builder = builder.header("Lambda-Runtime-Trace-Id", trace);
    }
    for (k, v) in &queued.extra_headers {
        builder = builder.header(k.as_str(), v.as_str());
    }
    let resp = match builder.body(Full::new(queued.body.clone())) {
        Ok(r) => r,
        Err(e) => {
            // Bad extra header: fail this invocation, keep the function polling.
            let _ = queued.done.send(Completion::Error {
                err: FunctionError {
                    error_type: "Harness.InvalidHeader".into(),
                    error_message: e.to_string(),
                    header_error_type: None,
                    raw_body: String::new(),
                },
                at: Instant::now(),
            });
            return json_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                error_body("ServiceException", "invalid extra header"),
            );
        }
    };
    let cold = {
        let mut st = shared.lock();
        st.handed_out += 1;
        st.in_flight
            .insert(queued.id.clone(), InFlight { done: queued.done });
        st.handed_out == 1
    };
    let _ = queued.handed.send(HandedOut {
        at: Instant::now(),
        deadline_ms,
        cold,
    });
    resp
}

/// Resolves when the function is dead (exited, init error, shut down).
async fn dead(life: &mut watch::Receiver<Life>) -> Dead {
    match life.wait_for(|l| l.dead.is_some()).await {
        Ok(l) => l.dead.clone().unwrap_or(Dead::ShutDown),
        Err(_) => Dead::ShutDown,
    }
}

fn dead_error(d: Dead) -> HarnessError {
    match d {
        Dead::Exited(status) => HarnessError::ProcessExited {
            status,
            output: String::new(),
        },
        Dead::InitError(error) => HarnessError::InitError {
            error,
            output: String::new(),
        },
        Dead::ShutDown => HarnessError::ShutDown,
    }
}

async fn run_invoke(
    shared: Arc<Shared>,
    body: Bytes,
    opts: InvokeOptions,
) -> Result<Invoked, HarnessError> {
    let started = Instant::now();
    let id = shared.new_request_id();
    let (handed_tx, handed_rx) = oneshot::channel();
    let (done_tx, done_rx) = oneshot::channel();
    let mut life = shared.life();
    if let Some(d) = life.borrow().dead.clone() {
        return Err(dead_error(d));
    }
    shared.lock().queue.push_back(Queued {
        id: id.clone(),
        body,
        timeout: opts.timeout,
        extra_headers: opts.extra_headers.clone(),
        handed: handed_tx,
        done: done_tx,
    });
    shared.queue_changed.notify_waiters();

    // Phase 1: wait for the function to take the event from /next.
    let handed = tokio::select! {
        biased;
        h = handed_rx => match h {
            Ok(h) => h,
            Err(_) => return Err(HarnessError::ShutDown),
        },
        d = dead(&mut life) => {
            shared.lock().queue.retain(|q| q.id != id);
            return Err(dead_error(d));
        }
        _ = tokio::time::sleep(opts.handout_timeout) => {
            shared.lock().queue.retain(|q| q.id != id);
            return Err(HarnessError::NotPolled {
                waited: opts.handout_timeout,
                ready: life.borrow().ready_at.is_some(),
                output: String::new(),
            });
        }
    };

    // Phase 2: wait for /response or /error, bounded by deadline + grace.
    let limit = handed.at + opts.timeout + opts.grace;
    let completion = tokio::select! {
        biased;
        c = done_rx => match c {
            Ok(c) => c,
            Err(_) => return Err(HarnessError::ShutDown),
        },
        d = dead(&mut life) => {
            shared.lock().in_flight.remove(&id);
            return Err(dead_error(d));
        }
        _ = tokio::time::sleep_until(limit.into()) => {
            let mut st = shared.lock();
            st.in_flight.remove(&id);
            st.expired.insert(id.clone());
            return Err(HarnessError::Timeout {
                request_id: id,
                timeout: opts.timeout,
                grace: opts.grace,
                output: String::new(),
            });
        }
    };
    let round_trip = started.elapsed();
    let queued_time = handed.at.saturating_duration_since(started);
    let (outcome, raw_body, at) = match completion {
        Completion::Response { body, at } => {
            let raw = String::from_utf8_lossy(&body).into_owned();
            let value =
                serde_json::from_slice(&body).map_err(|source| HarnessError::InvalidResponse {
                    body: raw.clone(),
                    source,
                })?;
            (Outcome::Response(value), raw, at)
        }
        Completion::Error { err, at } => {
            let raw = err.raw_body.clone();
            (Outcome::Error(err), raw, at)
        }
    };
    Ok(Invoked {
        request_id: id,
        outcome,
        raw_body,
        own_time: at.saturating_duration_since(handed.at),
        queued_time,
        round_trip,
        deadline_ms: handed.deadline_ms,
        cold: handed.cold,
    })
}
