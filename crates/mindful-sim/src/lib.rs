//! Local simulator of Mindful's APIs: OAuth client-credentials token endpoint, Agent Answer and
//! the Datastore, plus a `/_sim/` control API (connecting calls, request log, fault injection).
//!
//! Used by tests, the demo and the benchmarks; never deployed. See `README.md` for the HTTP
//! control API and the configuration file format.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let sim = mindful_sim::start(mindful_sim::SimConfig::default()).await?;
//! sim.register_call("+13209071234");
//! let token_url = sim.token_url(); // http://127.0.0.1:<port>/oauth2/token
//! // ... point the code under test at sim.base_url() ...
//! assert_eq!(sim.count(mindful_sim::Route::AgentAnswer), 0);
//! sim.shutdown();
//! # Ok(()) }
//! ```
//!
//! Synchronous code (benchmark drivers, `#[test]` without a runtime) uses
//! [`Sim::start_blocking`], which runs the server on its own thread and tokio runtime.
//!
//! With [`SimConfig::tls`] it serves https with a test CA generated at start ([`Sim::ca_pem`]);
//! with [`SimConfig::separate_token_host`] the token endpoint gets its own port.

mod config;
mod control;
mod distance;
mod respond;
mod server;
mod state;
mod tls;
mod util;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use tokio::sync::watch;

pub use config::{
    ClientConfig, SimConfig, TemplateConfig, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET,
    DEFAULT_DATASTORE_TOKEN, DEFAULT_MAX_LOGGED_REQUESTS, DEFAULT_RETENTION_SECS,
    DEFAULT_TOKEN_LIFETIME_SECS, DEFAULT_WIDGET_ID,
};
pub use state::{CallRecord, CallState, Fault, FaultRule, LoggedRequest, Route, Stats};
pub use tls::{test_tls, test_tls_for, TestTls, TLS_HOST};

use state::Shared;

/// A running simulator. Dropping it (or calling [`Sim::shutdown`]) stops the server.
///
/// All methods act on the same state as the HTTP control API.
pub struct Sim {
    addr: SocketAddr,
    token_addr: Option<SocketAddr>,
    ca_pem: Option<String>,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
}

/// Start the simulator on the current tokio runtime (bind `config.bind:config.port`, by default
/// `127.0.0.1` on a free port). Returns once the socket is listening.
pub async fn start(config: SimConfig) -> io::Result<Sim> {
    config
        .validate()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let tls = if config.tls {
        Some(tls::generate().map_err(io::Error::other)?)
    } else {
        None
    };
    let acceptor = tls.as_ref().map(|t| t.acceptor.clone());
    let bind = config.bind;
    let port = config.port;
    let separate_token_host = config.separate_token_host;
    let shared = Arc::new(Shared::new(config));
    let (stop, stop_rx) = watch::channel(false);
    let addr = server::spawn_server(
        shared.clone(),
        stop_rx.clone(),
        SocketAddr::new(bind, port),
        acceptor.clone(),
    )
    .await?;
    let token_addr = if separate_token_host {
        Some(
            server::spawn_server(shared.clone(), stop_rx, SocketAddr::new(bind, 0), acceptor)
                .await?,
        )
    } else {
        None
    };
    Ok(Sim {
        addr,
        token_addr,
        ca_pem: tls.map(|t| t.ca_pem),
        shared,
        stop,
        thread: None,
    })
}

/// Where a system CA bundle (PEM) is found: the Lambda `provided.al2023` path (Amazon Linux,
/// Fedora), then Debian/Ubuntu, Alpine/macOS.
pub const SYSTEM_CA_BUNDLES: [&str; 3] = [
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/ssl/cert.pem",
];

/// Writes `pem` to `path`, creating its directory.
pub fn write_pem(path: &std::path::Path, pem: &str) -> io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, pem)
}

/// A CA bundle trusting `root_pem` the way a deployment trusts a public CA: this machine's
/// whole system bundle (the first of [`SYSTEM_CA_BUNDLES`]) followed by `root_pem`, written as on
/// Lambda `provided.al2023` (`<dir>/etc/pki/tls/certs/ca-bundle.crt`, given as `SSL_CERT_FILE`).
/// Returns the path and the number of certificates in it.
pub fn write_ca_bundle_with(
    root_pem: &str,
    dir: &std::path::Path,
) -> io::Result<(std::path::PathBuf, usize)> {
    let system = SYSTEM_CA_BUNDLES
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .ok_or_else(|| {
            io::Error::other(format!(
                "no system CA bundle found (looked for {})",
                SYSTEM_CA_BUNDLES.join(", ")
            ))
        })?;
    let mut bundle = system;
    if !bundle.ends_with('\n') {
        bundle.push('\n');
    }
    bundle.push_str(root_pem);
    let path = dir.join("etc/pki/tls/certs/ca-bundle.crt");
    write_pem(&path, &bundle)?;
    Ok((path, bundle.matches("-----BEGIN CERTIFICATE-----").count()))
}

impl Sim {
    /// A CA bundle for functions talking to this (https) simulator, laid out as on Lambda
    /// `provided.al2023` (`<dir>/etc/pki/tls/certs/ca-bundle.crt`): this machine's whole system
    /// bundle (the first of [`SYSTEM_CA_BUNDLES`]) followed by the test root, so the functions
    /// trust the test root the way a deployment trusts a public CA (given as `SSL_CERT_FILE`).
    /// Returns the path and the number of certificates in it.
    pub fn write_ca_bundle(
        &self,
        dir: &std::path::Path,
    ) -> io::Result<(std::path::PathBuf, usize)> {
        let root = self
            .ca_pem()
            .ok_or_else(|| io::Error::other("the simulator does not serve https"))?;
        write_ca_bundle_with(root, dir)
    }

    /// A simulator with the default configuration over https, and the CA bundle that trusts it
    /// ([`Sim::write_ca_bundle`]) written under `dir`: what a test needs to run a function the way
    /// a deployment does (https only, the test root trusted through `SSL_CERT_FILE`).
    pub fn start_https_with_ca_bundle(
        dir: &std::path::Path,
    ) -> io::Result<(Sim, std::path::PathBuf)> {
        let sim = Sim::start_blocking(SimConfig {
            tls: true,
            ..SimConfig::default()
        })?;
        let (bundle, _) = sim.write_ca_bundle(dir)?;
        Ok((sim, bundle))
    }

    /// The functions' configuration against this simulator: its URLs and default credentials,
    /// plus `MINDFUL_ALLOW_HTTP=1` when it is plain http. Over https the functions must also be
    /// given the CA bundle ([`Sim::write_ca_bundle`]) as `SSL_CERT_FILE`.
    pub fn function_env(&self, country: &str) -> Vec<(String, String)> {
        let allow_http = self.ca_pem().is_none();
        [
            (
                "MINDFUL_ALLOW_HTTP",
                if allow_http { "1" } else { "0" }.to_string(),
            ),
            ("DATASTORE_URL", self.base_url()),
            ("DATASTORE_TOKEN", DEFAULT_DATASTORE_TOKEN.to_string()),
            ("SCHEDULER_URL", self.base_url()),
            ("MINDFUL_TOKEN_URL", self.token_url()),
            ("MINDFUL_API_URL", self.base_url()),
            ("MINDFUL_CLIENT_ID", DEFAULT_CLIENT_ID.to_string()),
            ("MINDFUL_CLIENT_SECRET", DEFAULT_CLIENT_SECRET.to_string()),
            ("DEFAULT_COUNTRY", country.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// Start the simulator on a dedicated background thread with its own (2-worker) tokio
    /// runtime; usable from synchronous code. Returns once the socket is listening.
    pub fn start_blocking(config: SimConfig) -> io::Result<Sim> {
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("mindful-sim".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("mindful-sim-worker")
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                };
                rt.block_on(async move {
                    match start(config).await {
                        Ok(sim) => {
                            let mut stop = sim.stop.subscribe();
                            // Keep `sim` alive in this thread; the caller gets a twin handle.
                            let twin = Sim {
                                addr: sim.addr,
                                token_addr: sim.token_addr,
                                ca_pem: sim.ca_pem.clone(),
                                shared: sim.shared.clone(),
                                stop: sim.stop.clone(),
                                thread: None,
                            };
                            if tx.send(Ok(twin)).is_err() {
                                return;
                            }
                            let _ = stop.wait_for(|v| *v).await;
                            drop(sim);
                        }
                        Err(e) => {
                            let _ = tx.send(Err(e));
                        }
                    }
                });
            })?;
        match rx.recv() {
            Ok(Ok(mut sim)) => {
                sim.thread = Some(thread);
                Ok(sim)
            }
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => {
                let _ = thread.join();
                Err(io::Error::other("simulator thread exited during start-up"))
            }
        }
    }

    /// The bound socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>` (an unspecified bind address is reported as loopback), or with
    /// [`SimConfig::tls`] `https://localhost:<port>` (the name the certificate is issued for).
    pub fn base_url(&self) -> String {
        self.url_for(self.addr)
    }

    fn url_for(&self, mut addr: SocketAddr) -> String {
        if addr.ip().is_unspecified() {
            addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        if self.ca_pem.is_some() {
            format!("https://{TLS_HOST}:{}", addr.port())
        } else {
            format!("http://{addr}")
        }
    }

    /// `{base}/oauth2/token`; with [`SimConfig::separate_token_host`], on the second port.
    pub fn token_url(&self) -> String {
        format!(
            "{}/oauth2/token",
            self.url_for(self.token_addr.unwrap_or(self.addr))
        )
    }

    /// The test root CA certificate (PEM) when serving https: what a client must add to its
    /// CA store, like a public root. `None` over plain http.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// `{base}/v2/callback/agentAnswer`
    pub fn agent_answer_url(&self) -> String {
        format!("{}/v2/callback/agentAnswer", self.base_url())
    }

    /// The configuration the simulator runs with.
    pub fn config(&self) -> &SimConfig {
        &self.shared.config
    }

    /// Register a call in the connecting phase; returns its id. The ANI is matched with its
    /// leading `+` ignored; the most recent connecting call for an ANI gets the agent answer.
    pub fn register_call(&self, ani: &str) -> u64 {
        self.shared.lock().register_call(ani)
    }

    /// Mindful makes the offer itself (`CallbackOfferedBy=Mindful`): the caller transferred to
    /// the Call Target hears Mindful's IVR say the wait and offer a callback. Accepted, the
    /// callback is registered (a connecting call, as [`Sim::register_call`]); declined, the
    /// caller is held by Mindful ([`CallState::Held`], no callback). Returns the call's id.
    pub fn offer_at_call_target(&self, ani: &str, accepts: bool) -> u64 {
        let state = if accepts {
            CallState::Connecting
        } else {
            CallState::Held
        };
        self.shared.lock().add_call(ani, state)
    }

    /// The `ecbt` (estimated callback time, seconds) the Datastore answers carry from now on;
    /// `None` (the default, and after [`Sim::reset`]) answers `null`.
    pub fn set_ecbt(&self, seconds: Option<u64>) {
        self.shared.lock().ecbt = seconds;
    }

    /// The Scheduler widget status [`DEFAULT_WIDGET_ID`] answers from now on (`widget_state`,
    /// `ewt` seconds); the default (and after [`Sim::reset`]) is `offer_callback` with the
    /// [`Sim::set_ecbt`] value.
    pub fn set_widget_status(&self, state: &str, ewt: Option<u64>) {
        self.shared.lock().widget = Some((state.to_string(), ewt));
    }

    /// Stores a Datastore record for `number` in the first template, exactly as a Datastore POST
    /// with these `data_values` would (another caller's record already waiting, for a test).
    /// `false` when `number` is not a phone number or no template is configured.
    pub fn store_record(
        &self,
        number: &str,
        data_values: &serde_json::Map<String, serde_json::Value>,
    ) -> bool {
        server::store_record(&self.shared, 0, number, data_values).is_some()
    }

    /// Registered calls, oldest first.
    pub fn calls(&self) -> Vec<CallRecord> {
        self.shared.lock().calls.clone()
    }

    /// Inject `fault` on `route` (`Route::Any` = every simulated route) for the next `count`
    /// requests, or until cleared when `None`. Replaces an earlier fault on the same route; a
    /// route-specific fault wins over `Any`.
    pub fn set_fault(&self, route: Route, fault: Fault, count: Option<u32>) {
        self.shared.lock().set_fault(route, fault, count);
    }

    /// Remove every fault.
    pub fn clear_faults(&self) {
        self.shared.lock().faults.clear();
    }

    /// The request log (simulated routes only, oldest first, secrets masked).
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.shared.lock().log.iter().cloned().collect()
    }

    /// Clear the request log and counters.
    pub fn clear_requests(&self) {
        let mut g = self.shared.lock();
        g.log.clear();
        g.stats = Stats::default();
    }

    /// Requests received on `route` (`Route::Any` = all simulated-route requests, unknown paths
    /// included) since start or the last reset.
    pub fn count(&self, route: Route) -> usize {
        self.shared.lock().stats.get(route)
    }

    /// All counters.
    pub fn stats(&self) -> Stats {
        self.shared.lock().stats
    }

    /// Forget everything: request log, counters, calls, datastore records, issued tokens, faults.
    pub fn reset(&self) {
        self.shared.reset();
    }

    /// Stop the server (pending requests, including hung ones, are dropped). For a simulator
    /// started with [`Sim::start_blocking`] this also joins its thread.
    pub fn shutdown(self) {
        // Drop does the work.
    }
}

impl std::fmt::Debug for Sim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sim")
            .field("addr", &self.addr)
            .field("token_addr", &self.token_addr)
            .field("tls", &self.ca_pem.is_some())
            .field("own_thread", &self.thread.is_some())
            .finish_non_exhaustive()
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
