//! The shared HTTP client, the per-invocation time budget, and the one-retry policy.
//!
//! Connect waits at most 8 s on a function (3 s in most exported flows) and the caller hears
//! silence meanwhile, so every upstream call runs inside a [`Budget`]: the smaller of
//! `REQUEST_BUDGET_MS` and the Lambda deadline minus a safety margin. When the budget runs out the
//! call is abandoned and the handler answers `error=timeout` while Connect is still listening.

use std::future::Future;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use ::http::StatusCode;
pub use url::Url;

use crate::transport::ClientSettings;
pub use crate::transport::{Client, RequestBuilder, TransportError};

/// Time kept back from the Lambda deadline to serialise the answer and return it.
pub const DEADLINE_SAFETY_MARGIN: Duration = Duration::from_millis(200);
/// A retry is only worth starting with at least this much budget left.
pub const MIN_RETRY_BUDGET: Duration = Duration::from_millis(250);
/// Pause before retrying a 5xx/429, so a struggling Mindful is not hit twice at once.
pub const RETRY_BACKOFF: Duration = Duration::from_millis(50);

/// Settings of the shared client. Defaults suit a function that waits at most a few seconds.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub connect_timeout: Duration,
    /// Upper bound for any single request; the invocation budget usually cuts in first.
    pub request_timeout: Duration,
    /// Keep-alive of idle pooled connections. Shorter than Mindful's/NAT idle timeouts so a
    /// connection frozen with the execution environment is rarely reused after it died.
    pub pool_idle_timeout: Duration,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_millis(1500),
            request_timeout: Duration::from_secs(6),
            pool_idle_timeout: Duration::from_secs(30),
        }
    }
}

impl HttpSettings {
    pub(crate) fn client_settings(&self) -> ClientSettings {
        ClientSettings {
            connect_timeout: self.connect_timeout,
            request_timeout: self.request_timeout,
            pool_idle_timeout: self.pool_idle_timeout,
            user_agent: ::http::HeaderValue::from_static(concat!(
                "mindful-connect-bundle/",
                env!("CARGO_PKG_VERSION")
            )),
        }
    }
}

/// Builds the one [`Client`] a process uses (rustls, explicit timeouts, pooling; no redirects,
/// no proxies: [`crate::transport`]).
///
/// TLS: rustls with the platform verifier on the system CA store, TLS 1.2/1.3, ALPN
/// `http/1.1`, with two choices of ours: the crypto provider is *ring* ([`tls_provider`]),
/// and the system CA store is read when the first TLS handshake starts (on a background
/// thread, overlapping the round trip to the server) instead of here: reading and parsing it
/// costs 0.6 ms (one bundle file) to 7 ms (a Debian `/etc/ssl/certs` of 292 files) that would
/// otherwise sit in every cold start's init, also for invocations that never reach Mindful. A
/// store that cannot be loaded then fails that handshake (an `upstream_error` answer) instead of
/// the process start.
///
/// Redirects are never followed (the client has no code for them): Mindful's APIs and the
/// secrets extension never redirect, and following one would re-send a POST body (the caller's
/// number and context) or credentials to wherever the Location points; a 3xx is answered as
/// `upstream_error` with its status.
pub fn build_client(settings: &HttpSettings) -> Result<Client, ClientBuildError> {
    let tls = tls_config().map_err(ClientBuildError::Tls)?;
    Ok(Client::new(tls, settings.client_settings()))
}

/// The TLS configuration of [`build_client`].
pub(crate) fn tls_config() -> Result<rustls::ClientConfig, rustls::Error> {
    lazy_tls::client_config()
}

/// Why the shared client could not be built (a platform problem: `main` fails the init).
#[derive(Debug, thiserror::Error)]
pub enum ClientBuildError {
    #[error("TLS configuration: {0}")]
    Tls(rustls::Error),
}

/// The rustls crypto provider: *ring*, whose random numbers come straight from the OS
/// (`getrandom`), where aws-lc-rs first seeds its DRBG from CPU jitter entropy (~35 ms of CPU on
/// the first handshake of every cold start), and whose code is 2 MB smaller. The `aws-lc-rs`
/// feature switches to aws-lc-rs (the route to a FIPS build). Measurements and reasoning:
/// docs/performance.md, "TLS: crypto provider and root store".
pub fn tls_provider() -> rustls::crypto::CryptoProvider {
    #[cfg(feature = "aws-lc-rs")]
    return rustls::crypto::aws_lc_rs::default_provider();
    #[cfg(not(feature = "aws-lc-rs"))]
    rustls::crypto::ring::default_provider()
}

mod lazy_tls {
    use std::sync::{Arc, Once, OnceLock};

    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::crypto::CryptoProvider;
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use rustls::{ClientConfig, DigitallySignedStruct, Error, SignatureScheme};
    use rustls_platform_verifier::Verifier;

    /// rustls's client configuration with [`super::tls_provider`] and a [`LazyPlatformVerifier`]
    /// (what reqwest 0.13 set up before [`crate::transport`] replaced it).
    pub(super) fn client_config() -> Result<ClientConfig, Error> {
        let provider = Arc::new(super::tls_provider());
        let mut config = ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(rustls::ALL_VERSIONS)?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(LazyPlatformVerifier::new(provider)))
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }

    /// `rustls_platform_verifier::Verifier`, created (system CA store read) when the first
    /// ClientHello goes out, on a background thread, so that the read overlaps the round trip to
    /// the server; the certificate check waits for it (or, if no thread could start, reads it).
    pub(super) struct LazyPlatformVerifier {
        provider: Arc<CryptoProvider>,
        inner: Arc<OnceLock<Result<Verifier, Error>>>,
        loading: Once,
    }

    impl LazyPlatformVerifier {
        pub(super) fn new(provider: Arc<CryptoProvider>) -> Self {
            Self {
                provider,
                inner: Arc::new(OnceLock::new()),
                loading: Once::new(),
            }
        }

        /// Starts reading the store on a background thread (once; not if already read).
        fn start_loading(&self) {
            if self.inner.get().is_some() {
                return;
            }
            self.loading.call_once(|| {
                let inner = self.inner.clone();
                let provider = self.provider.clone();
                // No thread: the certificate check reads the store itself.
                let _ = std::thread::Builder::new()
                    .name("ca-store".into())
                    .spawn(move || {
                        inner.get_or_init(|| Verifier::new(provider));
                    });
            });
        }

        fn verifier(&self) -> Result<&Verifier, Error> {
            self.inner
                .get_or_init(|| Verifier::new(self.provider.clone()))
                .as_ref()
                .map_err(Clone::clone)
        }

        #[cfg(test)]
        pub(super) fn is_loaded(&self) -> bool {
            self.inner.get().is_some()
        }
    }

    impl std::fmt::Debug for LazyPlatformVerifier {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("LazyPlatformVerifier")
                .field("loaded", &self.inner.get().is_some())
                .finish()
        }
    }

    impl ServerCertVerifier for LazyPlatformVerifier {
        fn verify_server_cert(
            &self,
            end_entity: &CertificateDer<'_>,
            intermediates: &[CertificateDer<'_>],
            server_name: &ServerName<'_>,
            ocsp_response: &[u8],
            now: UnixTime,
        ) -> Result<ServerCertVerified, Error> {
            self.verifier()?.verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp_response,
                now,
            )
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, Error> {
            self.verifier()?.verify_tls12_signature(message, cert, dss)
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, Error> {
            self.verifier()?.verify_tls13_signature(message, cert, dss)
        }

        /// Asked for the ClientHello, before any certificate: what the platform verifier
        /// answers too (its WebPKI verifier's schemes are the provider's), without waiting for
        /// the store, whose read starts here in the background.
        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.start_loading();
            self.provider
                .signature_verification_algorithms
                .supported_schemes()
        }
    }
}

/// The time an invocation may spend on upstream calls.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    deadline: Instant,
    total: Duration,
}

impl Budget {
    /// A budget of `budget` from now.
    pub fn new(budget: Duration) -> Self {
        Self {
            deadline: Instant::now() + budget,
            total: budget,
        }
    }

    /// The smaller of `budget` and the Lambda deadline (epoch milliseconds, as in
    /// `Context::deadline`) minus [`DEADLINE_SAFETY_MARGIN`]. A deadline that cannot be an epoch
    /// time (0, or before 2001: `cargo lambda watch` 1.9 sends the bare timeout, `600000`) or
    /// that lies more than an hour in the past (a skewed or bogus clock) is ignored: the budget
    /// alone applies, rather than every call timing out at once.
    pub fn for_invocation(budget: Duration, lambda_deadline_ms: u64) -> Self {
        /// 2001-09-09 in epoch milliseconds: anything smaller is not an epoch deadline.
        const PLAUSIBLE_EPOCH_MS: u64 = 1_000_000_000_000;
        const STALE_MS: u64 = 3_600_000;
        let mut effective = budget;
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let plausible = lambda_deadline_ms >= PLAUSIBLE_EPOCH_MS
            && lambda_deadline_ms.saturating_add(STALE_MS) >= now_ms;
        if plausible {
            let until_deadline = Duration::from_millis(lambda_deadline_ms.saturating_sub(now_ms));
            effective = effective.min(until_deadline.saturating_sub(DEADLINE_SAFETY_MARGIN));
        } else if lambda_deadline_ms != 0 {
            tracing::debug!(lambda_deadline_ms, "implausible Lambda deadline ignored");
        }
        Self::new(effective)
    }

    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// The budget the invocation started with, for messages ("within 3000 ms").
    pub fn total(&self) -> Duration {
        self.total
    }

    /// The instant the budget runs out.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Runs `fut` until it completes or the budget runs out. The runtime's timer ends it, and so
    /// does the clock, read at every poll: a timer the runtime processes late (a starved CPU, a
    /// busy task) cannot stretch the budget past the next wake-up.
    pub async fn run<F: Future>(&self, fut: F) -> Result<F::Output, BudgetExceeded> {
        let remaining = self.remaining();
        if remaining.is_zero() {
            return Err(BudgetExceeded);
        }
        ClockChecked {
            deadline: self.deadline,
            inner: Box::pin(tokio::time::timeout(remaining, fut)),
        }
        .await
    }
}

/// A future ended by the clock as well as by its timer.
struct ClockChecked<F> {
    deadline: Instant,
    inner: std::pin::Pin<Box<tokio::time::Timeout<F>>>,
}

impl<F: Future> Future for ClockChecked<F> {
    type Output = Result<F::Output, BudgetExceeded>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        use std::task::Poll;
        if Instant::now() >= self.deadline {
            return Poll::Ready(Err(BudgetExceeded));
        }
        match self.inner.as_mut().poll(cx) {
            Poll::Ready(out) => Poll::Ready(out.map_err(|_| BudgetExceeded)),
            Poll::Pending if Instant::now() >= self.deadline => Poll::Ready(Err(BudgetExceeded)),
            Poll::Pending => Poll::Pending,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the time budget ran out")]
pub struct BudgetExceeded;

/// Body size limits: each well above any real answer, and small enough that reading, parsing
/// and flattening the largest allowed body takes milliseconds inside the budget and a few
/// hundred KiB of memory (an unbounded body once drove a function to ~2 GB).
pub mod limits {
    /// A token response: a bearer token (a JWT is 1-2 KB; large identity-provider tokens stay
    /// under 8 KB) plus a few fields.
    pub const TOKEN_RESPONSE: usize = 64 * 1024;
    /// A Datastore record: Connect accepts at most 32 KB of response (32 768 bytes), so a record
    /// 8 times that cannot become a usable answer anyway.
    pub const DATASTORE_RECORD: usize = 256 * 1024;
    /// Agent Answer's reply: only its status is used.
    pub const AGENT_ANSWER_REPLY: usize = 64 * 1024;
    /// A Scheduler widget status: a state, an estimate and a list of appointment slots (a day
    /// of 15-minute slots is a few KiB).
    pub const SCHEDULER_WIDGET: usize = 64 * 1024;
    /// The Parameters and Secrets extension's JSON: a SecretString is at most 65 536 bytes
    /// (Secrets Manager quota), JSON-escaped at most ~6x, plus metadata.
    pub const SECRETS_EXTENSION: usize = 512 * 1024;
}

/// A body without its leading UTF-8 byte order mark, which RFC 8259 (section 8.1) lets a parser
/// ignore: some servers put one before a JSON document.
pub fn without_bom(body: &[u8]) -> &[u8] {
    body.strip_prefix(b"\xef\xbb\xbf").unwrap_or(body)
}

/// A response read completely (status and body) inside the budget.
#[derive(Debug, Clone)]
pub struct UpstreamResponse {
    pub status: StatusCode,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
    /// How many HTTP requests were sent to get it (1, or 2 after a retry).
    pub attempts: u32,
    pub elapsed: Duration,
}

/// Which failures may be retried once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryPolicy {
    /// Idempotent call (a search, an upsert, a token request): retry on connect error, 5xx, 429.
    Idempotent,
    /// Not idempotent (Agent Answer): retry only when the request surely was not processed:
    /// a connect error (never sent) or 429 (rejected before processing).
    NotProcessedOnly,
    Never,
}

impl RetryPolicy {
    fn retry_status(self, status: StatusCode) -> bool {
        match self {
            Self::Idempotent => status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS,
            Self::NotProcessedOnly => status == StatusCode::TOO_MANY_REQUESTS,
            Self::Never => false,
        }
    }
    fn retry_connect(self) -> bool {
        !matches!(self, Self::Never)
    }
    /// A request lost after it was sent (reset, closed: typically a pooled connection that died
    /// while the execution environment was frozen) may have been processed, so only an
    /// idempotent call tries again.
    fn retry_lost(self) -> bool {
        matches!(self, Self::Idempotent)
    }
}

/// What the current invocation's requests to Mindful were: one record for every function, kept
/// here where the requests are sent, so `upstream_requests`, `upstream_status` and
/// `upstream_ms` (and the `UpstreamRequests` / `UpstreamLatency` metrics) mean the same thing
/// for all three.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RequestRecord {
    /// Each attempt sent: retries and token requests included; the secrets extension is not
    /// Mindful and not counted.
    pub sent: u32,
    /// The HTTP status of the last answer Mindful gave, when one came.
    pub last_status: Option<u16>,
    /// Time spent in the attempts (waiting for Mindful; the pause before a retry excluded).
    pub waited: Duration,
}

tokio::task_local! {
    static REQUESTS: std::cell::Cell<RequestRecord>;
}

/// Runs `fut` and records every request [`send`] makes to Mindful inside it
/// ([`crate::function::Function`] wraps each invocation in it).
pub async fn record_requests<F: Future>(fut: F) -> (F::Output, RequestRecord) {
    REQUESTS
        .scope(std::cell::Cell::new(RequestRecord::default()), async move {
            let out = fut.await;
            (
                out,
                REQUESTS.try_with(std::cell::Cell::get).unwrap_or_default(),
            )
        })
        .await
}

/// Updates the current record, when there is one (outside a recording scope, e.g. a test
/// calling a client directly, there is nothing to do).
fn note(update: impl FnOnce(&mut RequestRecord)) {
    let _ = REQUESTS.try_with(|cell| {
        let mut record = cell.get();
        update(&mut record);
        cell.set(record);
    });
}

/// Sends the request `make` builds to Mindful, reading the whole body (at most `max_body`
/// bytes, else [`TransportError::TooLarge`]) inside `budget`; retries once per `policy` when at
/// least [`MIN_RETRY_BUDGET`] is left. `make` is called per attempt; each attempt is recorded
/// ([`record_requests`]).
pub async fn send(
    budget: &Budget,
    policy: RetryPolicy,
    max_body: usize,
    make: impl Fn() -> RequestBuilder,
) -> Result<UpstreamResponse, TransportError> {
    send_counted(budget, policy, max_body, make, true).await
}

/// [`send`] to the Parameters and Secrets extension: the same rules, not counted as a request
/// to Mindful.
pub(crate) async fn send_to_extension(
    budget: &Budget,
    policy: RetryPolicy,
    max_body: usize,
    make: impl Fn() -> RequestBuilder,
) -> Result<UpstreamResponse, TransportError> {
    send_counted(budget, policy, max_body, make, false).await
}

async fn send_counted(
    budget: &Budget,
    policy: RetryPolicy,
    max_body: usize,
    make: impl Fn() -> RequestBuilder,
    counted: bool,
) -> Result<UpstreamResponse, TransportError> {
    let started = Instant::now();
    let mut attempts = 0;
    loop {
        attempts += 1;
        let sent_at = Instant::now();
        let result = attempt(budget, make(), max_body).await;
        if counted {
            let status = result.as_ref().ok().map(|(status, _, _)| status.as_u16());
            note(|r| {
                r.sent = r.sent.saturating_add(1);
                r.waited += sent_at.elapsed();
                if status.is_some() {
                    r.last_status = status;
                }
            });
        }
        let may_retry = attempts == 1 && budget.remaining() >= MIN_RETRY_BUDGET + RETRY_BACKOFF;
        match result {
            Ok((status, content_type, body)) => {
                if may_retry && policy.retry_status(status) {
                    tracing::debug!(status = status.as_u16(), "retrying once");
                    tokio::time::sleep(RETRY_BACKOFF).await;
                    continue;
                }
                return Ok(UpstreamResponse {
                    status,
                    content_type,
                    body,
                    attempts,
                    elapsed: started.elapsed(),
                });
            }
            Err(TransportError::Connect(msg)) => {
                if may_retry && policy.retry_connect() {
                    tracing::debug!(error = %msg, "connect failed, retrying once");
                    continue;
                }
                return Err(TransportError::Connect(msg));
            }
            Err(TransportError::Other(msg)) if may_retry && policy.retry_lost() => {
                tracing::debug!(error = %msg, "request lost, retrying once (idempotent)");
                continue;
            }
            Err(e) => return Err(e),
        }
    }
}

async fn attempt(
    budget: &Budget,
    request: RequestBuilder,
    max_body: usize,
) -> Result<(StatusCode, Option<String>, Vec<u8>), TransportError> {
    if budget.remaining().is_zero() {
        return Err(TransportError::Timeout);
    }
    // The deadline also goes to the socket (transport's ReadGuard): the connection stops reading
    // at the deadline even if this task is not polled in time.
    let answer = budget
        .run(request.send_within(budget.deadline(), max_body))
        .await
        .map_err(|_| TransportError::Timeout)??;
    Ok((answer.status, answer.content_type, answer.body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_takes_the_smaller_of_setting_and_deadline() {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let b = Budget::for_invocation(Duration::from_millis(3000), now_ms + 1000);
        assert!(b.remaining() <= Duration::from_millis(800));
        assert!(b.remaining() > Duration::from_millis(500));
        let b = Budget::for_invocation(Duration::from_millis(300), now_ms + 10_000);
        assert!(b.remaining() <= Duration::from_millis(300));
        let b = Budget::for_invocation(Duration::from_millis(300), 0);
        assert!(b.remaining() > Duration::from_millis(200));
        let b = Budget::for_invocation(Duration::from_millis(300), now_ms.saturating_sub(5000));
        assert!(b.remaining().is_zero());
        // cargo lambda watch sends the bare timeout (600000) as the deadline: not an epoch time.
        let b = Budget::for_invocation(Duration::from_millis(300), 600_000);
        assert!(b.remaining() > Duration::from_millis(200));
        // Hours in the past: a bogus clock, ignored.
        let b = Budget::for_invocation(Duration::from_millis(300), now_ms - 2 * 3_600_000);
        assert!(b.remaining() > Duration::from_millis(200));
    }

    #[tokio::test]
    async fn budget_cuts_a_slow_future() {
        let b = Budget::new(Duration::from_millis(50));
        let started = Instant::now();
        let r = b.run(tokio::time::sleep(Duration::from_secs(5))).await;
        assert_eq!(r, Err(BudgetExceeded));
        assert!(started.elapsed() < Duration::from_millis(500));
    }

    #[test]
    fn the_system_ca_store_is_read_from_the_first_client_hello_not_at_build() {
        use rustls::client::danger::ServerCertVerifier;
        use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
        use std::sync::Arc;

        build_client(&HttpSettings::default()).unwrap();
        let provider = Arc::new(tls_provider());
        let v = lazy_tls::LazyPlatformVerifier::new(provider.clone());
        std::thread::sleep(Duration::from_millis(20));
        assert!(
            !v.is_loaded(),
            "nothing reads the store before a ClientHello"
        );
        assert_eq!(
            v.supported_verify_schemes(),
            provider
                .signature_verification_algorithms
                .supported_schemes()
        );
        // The ClientHello does not wait for the store; it starts reading it in the background.
        let started = Instant::now();
        while !v.is_loaded() && started.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(2));
        }
        assert!(v.is_loaded(), "the ClientHello starts reading the store");
        // A certificate that is not one is rejected by the real verifier, loaded on demand.
        let name = ServerName::try_from("api.getmindful.com").unwrap();
        let r = v.verify_server_cert(
            &CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01, 0x00]),
            &[],
            &name,
            &[],
            UnixTime::now(),
        );
        assert!(r.is_err());
        assert!(v.is_loaded());
    }

    #[test]
    fn retry_policies() {
        use RetryPolicy::*;
        assert!(Idempotent.retry_status(StatusCode::SERVICE_UNAVAILABLE));
        assert!(Idempotent.retry_status(StatusCode::TOO_MANY_REQUESTS));
        assert!(!Idempotent.retry_status(StatusCode::NOT_FOUND));
        assert!(!NotProcessedOnly.retry_status(StatusCode::INTERNAL_SERVER_ERROR));
        assert!(NotProcessedOnly.retry_status(StatusCode::TOO_MANY_REQUESTS));
        assert!(!Never.retry_status(StatusCode::TOO_MANY_REQUESTS));
        assert!(!Never.retry_connect());
        assert!(Idempotent.retry_lost());
        assert!(!NotProcessedOnly.retry_lost());
        assert!(!Never.retry_lost());
    }
}
