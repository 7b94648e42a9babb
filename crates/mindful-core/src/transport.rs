//! The HTTP/1.1 client every upstream call goes through: hyper's connection, our own connector,
//! pool and request builder, so that one request is bounded in **bytes and time at the socket**.
//!
//! Why not reqwest (used until issue 22): its connector is sealed, so nothing could bound what a
//! connection reads. An upstream answering `100 Continue` over and over at full speed kept hyper's
//! connection task parsing interim responses (up to ~400 KB a read, 128 reads between yields), and
//! on a current-thread runtime the budget's timer fired late: answers came 70–300 ms after an
//! 800 ms budget, some after the Lambda deadline itself. Here every connection's socket sits
//! inside a [`ReadGuard`] that a request arms with its deadline and byte allowance: past either,
//! the next read fails, so the connection task stops and the request ends in time, whatever the
//! peer sends and however busy the CPU is. reqwest also honoured `HTTP_PROXY`, which sent the
//! secrets-extension request (with `AWS_SESSION_TOKEN`) to a proxy: this client has no proxy
//! support at all (docs/design.md, "No proxies").
//!
//! Error messages use our own words (which step failed), never a peer's strings: a certificate's
//! names, an alert text or a malformed header can carry anything, including a phone number.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use url::Url;

/// What went wrong talking to an upstream, before any HTTP status is interpreted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    #[error("no answer within the time budget")]
    Timeout,
    #[error("could not connect: {0}")]
    Connect(String),
    #[error("request failed: {0}")]
    Other(String),
    #[error("the answer is larger than {limit} bytes")]
    TooLarge { limit: usize },
}

/// What one request may read beyond its body limit: the status line, headers and any interim
/// (`1xx`) responses. A real Mindful answer's head is well under 2 KB.
pub const HEAD_ALLOWANCE: usize = 64 * 1024;
/// What a new connection's TLS handshake may read (a certificate chain is 3–20 KB).
pub const HANDSHAKE_ALLOWANCE: usize = 64 * 1024;
/// hyper's read buffer cap: also bounds how much one read, and so one parse pass, can take
/// (hyper's minimum is 8 KiB; a TLS record is at most 16 KiB).
const MAX_READ_BUFFER: usize = 16 * 1024;
/// Interim (`1xx`) responses one request may receive: RFC 9110 §15.2 allows several (`100
/// Continue`, `103 Early Hints`); a peer that sends more is flooding, and the connection ends at
/// its next read instead of parsing on.
pub const MAX_INTERIM_RESPONSES: usize = 8;
/// What an idle pooled connection may read: TLS 1.3 servers send session tickets (a few hundred
/// bytes each) after the handshake, often after the client's first request went out or while a
/// pre-opened connection waits; rustls consumes them. Any more, and the connection is closed.
const IDLE_ALLOWANCE: usize = 16 * 1024;
/// Idle connections kept per origin (a function talks to one or two origins, one call at a time).
const MAX_IDLE_PER_ORIGIN: usize = 4;

/// Settings the [`Client`] is built with.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub pool_idle_timeout: Duration,
    pub user_agent: HeaderValue,
}

/// A cheap-to-clone handle on the process's one connection pool.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    tls: tokio_rustls::TlsConnector,
    settings: ClientSettings,
    pool: Mutex<HashMap<Origin, Vec<Pooled>>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Origin {
    https: bool,
    host: String,
    port: u16,
}

impl Origin {
    fn of(url: &Url) -> Option<Self> {
        let https = match url.scheme() {
            "https" => true,
            "http" => false,
            _ => return None,
        };
        Some(Self {
            https,
            host: url.host_str()?.to_ascii_lowercase(),
            port: url.port_or_known_default()?,
        })
    }
}

struct Pooled {
    sender: http1::SendRequest<Full<Bytes>>,
    guard: Arc<ReadGuard>,
    idle_since: Instant,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").finish_non_exhaustive()
    }
}

impl Client {
    pub fn new(tls: rustls::ClientConfig, settings: ClientSettings) -> Self {
        Self {
            inner: Arc::new(Inner {
                tls: tokio_rustls::TlsConnector::from(Arc::new(tls)),
                settings,
                pool: Mutex::new(HashMap::new()),
            }),
        }
    }

    pub fn get(&self, url: impl IntoUrl) -> RequestBuilder {
        self.request(Method::GET, url)
    }

    pub fn post(&self, url: impl IntoUrl) -> RequestBuilder {
        self.request(Method::POST, url)
    }

    pub fn request(&self, method: Method, url: impl IntoUrl) -> RequestBuilder {
        let mut headers = HeaderMap::new();
        headers.insert(header::USER_AGENT, self.inner.settings.user_agent.clone());
        RequestBuilder {
            client: self.clone(),
            method,
            url: url.into_url().map_err(|_| "the request URL is not valid"),
            headers,
            body: Bytes::new(),
        }
    }

    /// Idle pooled connections (tests: a connection ended by a guard is never reused).
    pub fn idle_connections(&self) -> usize {
        self.inner
            .pool
            .lock()
            .map(|p| p.values().map(Vec::len).sum())
            .unwrap_or(0)
    }

    fn checkout(&self, origin: &Origin) -> Option<Pooled> {
        let mut pool = self.inner.pool.lock().ok()?;
        let idle = pool.get_mut(origin)?;
        while let Some(conn) = idle.pop() {
            let fresh = conn.idle_since.elapsed() < self.inner.settings.pool_idle_timeout;
            if fresh && conn.sender.is_ready() && !conn.sender.is_closed() {
                return Some(conn);
            }
        }
        None
    }

    /// Opens a connection to `url`'s origin (TCP and TLS) and leaves it in the pool, unless one
    /// is idle there already: a caller that will need the origin after another call (agent-answer:
    /// the API after the token) overlaps the set-up with that call. Failures are left for the
    /// request that follows to meet and report.
    pub async fn preconnect(&self, url: &Url, deadline: Instant) {
        let Some(origin) = Origin::of(url) else {
            return;
        };
        let idle = self.inner.pool.lock().ok().is_some_and(|pool| {
            pool.get(&origin).is_some_and(|conns| {
                conns.iter().any(|c| {
                    c.idle_since.elapsed() < self.inner.settings.pool_idle_timeout
                        && c.sender.is_ready()
                })
            })
        });
        if idle {
            return;
        }
        if let Ok(conn) = self.fresh(&origin, url, deadline, 0).await {
            self.checkin(origin, conn);
        }
    }

    fn checkin(&self, origin: Origin, conn: Pooled) {
        conn.guard.disarm();
        if let Ok(mut pool) = self.inner.pool.lock() {
            let idle = pool.entry(origin).or_default();
            idle.retain(|c| !c.sender.is_closed());
            if idle.len() < MAX_IDLE_PER_ORIGIN {
                idle.push(Pooled {
                    idle_since: Instant::now(),
                    ..conn
                });
            }
        }
    }

    async fn connect(
        &self,
        origin: &Origin,
        url: &Url,
        guard: Arc<ReadGuard>,
    ) -> Result<http1::SendRequest<Full<Bytes>>, TransportError> {
        let settings = &self.inner.settings;
        let tcp = tokio::time::timeout(settings.connect_timeout, tcp_connect(url, origin.port))
            .await
            .map_err(|_| TransportError::Timeout)??;
        let _ = tcp.set_nodelay(true);
        let guarded = Guarded { io: tcp, guard };
        // The connection's error reaches the request through hyper's response channel.
        if origin.https {
            let name = server_name(url)?;
            let tls = tokio::time::timeout(
                settings.connect_timeout,
                self.inner.tls.connect(name, guarded),
            )
            .await
            .map_err(|_| TransportError::Timeout)?
            .map_err(|e| connect_error(&e))?;
            let (sender, conn) = handshake(tls).await?;
            tokio::spawn(async move { conn.await.ok() });
            ready(sender).await
        } else {
            let (sender, conn) = handshake(guarded).await?;
            tokio::spawn(async move { conn.await.ok() });
            ready(sender).await
        }
    }
}

/// Waits until the connection's task has run once and takes requests: a pooled sender that is
/// not ready yet is passed over at checkout (measured: a connection opened beside the token
/// request and checked out at once was dropped, and the call paid a second set-up, 5.4 RTT
/// instead of 3 after an idle gap).
async fn ready(
    mut sender: http1::SendRequest<Full<Bytes>>,
) -> Result<http1::SendRequest<Full<Bytes>>, TransportError> {
    sender
        .ready()
        .await
        .map_err(|_| TransportError::Connect("the HTTP connection closed at once".into()))?;
    Ok(sender)
}

async fn handshake<T>(
    io: T,
) -> Result<
    (
        http1::SendRequest<Full<Bytes>>,
        http1::Connection<TokioIo<T>, Full<Bytes>>,
    ),
    TransportError,
>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = http1::Builder::new();
    builder.max_buf_size(MAX_READ_BUFFER);
    builder
        .handshake::<_, Full<Bytes>>(TokioIo::new(io))
        .await
        .map_err(|_| TransportError::Connect("the HTTP connection could not start".into()))
}

async fn tcp_connect(url: &Url, port: u16) -> Result<TcpStream, TransportError> {
    let addrs: Vec<SocketAddr> = match url.host() {
        Some(url::Host::Ipv4(ip)) => vec![SocketAddr::from((ip, port))],
        Some(url::Host::Ipv6(ip)) => vec![SocketAddr::from((ip, port))],
        Some(url::Host::Domain(name)) => tokio::net::lookup_host((name, port))
            .await
            .map_err(|_| TransportError::Connect("the host name could not be resolved".into()))?
            .collect(),
        None => return Err(TransportError::Connect("the URL has no host".into())),
    };
    let mut last = TransportError::Connect("the host name resolved to no address".into());
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(s) => return Ok(s),
            Err(e) => last = TransportError::Connect(io_words(&e).into()),
        }
    }
    Err(last)
}

fn server_name(url: &Url) -> Result<rustls::pki_types::ServerName<'static>, TransportError> {
    use rustls::pki_types::{IpAddr, ServerName};
    let invalid = || TransportError::Connect("the host is not a valid TLS server name".into());
    match url.host() {
        Some(url::Host::Ipv4(ip)) => Ok(ServerName::IpAddress(IpAddr::from(ip))),
        Some(url::Host::Ipv6(ip)) => Ok(ServerName::IpAddress(IpAddr::from(ip))),
        Some(url::Host::Domain(d)) => ServerName::try_from(d.to_string()).map_err(|_| invalid()),
        None => Err(invalid()),
    }
}

/// Anything that names a URL for a request.
pub trait IntoUrl {
    fn into_url(self) -> Result<Url, url::ParseError>;
}
impl IntoUrl for Url {
    fn into_url(self) -> Result<Url, url::ParseError> {
        Ok(self)
    }
}
impl IntoUrl for &Url {
    fn into_url(self) -> Result<Url, url::ParseError> {
        Ok(self.clone())
    }
}
impl IntoUrl for &str {
    fn into_url(self) -> Result<Url, url::ParseError> {
        Url::parse(self)
    }
}
impl IntoUrl for &String {
    fn into_url(self) -> Result<Url, url::ParseError> {
        Url::parse(self)
    }
}
impl IntoUrl for String {
    fn into_url(self) -> Result<Url, url::ParseError> {
        Url::parse(&self)
    }
}

/// One request being built (the subset of reqwest's builder the clients use).
#[derive(Debug)]
pub struct RequestBuilder {
    client: Client,
    method: Method,
    url: Result<Url, &'static str>,
    headers: HeaderMap,
    body: Bytes,
}

impl RequestBuilder {
    /// Adds a header; a name or value that is not valid HTTP fails the request when sent.
    pub fn header<K, V>(mut self, name: K, value: V) -> Self
    where
        K: TryInto<HeaderName>,
        V: TryInto<HeaderValue>,
    {
        match (name.try_into(), value.try_into()) {
            (Ok(n), Ok(v)) => {
                self.headers.append(n, v);
            }
            _ => self.url = Err("a request header is not valid HTTP"),
        }
        self
    }

    fn sensitive_header(mut self, name: HeaderName, value: String) -> Self {
        match HeaderValue::from_str(&value) {
            Ok(mut v) => {
                v.set_sensitive(true);
                self.headers.insert(name, v);
            }
            Err(_) => self.url = Err("a credential holds characters HTTP headers cannot carry"),
        }
        self
    }

    pub fn bearer_auth(self, token: &str) -> Self {
        self.sensitive_header(header::AUTHORIZATION, format!("Bearer {token}"))
    }

    pub fn basic_auth(self, user: &str, password: Option<&str>) -> Self {
        use base64::Engine as _;
        let pair = format!("{user}:{}", password.unwrap_or(""));
        let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
        self.sensitive_header(header::AUTHORIZATION, format!("Basic {encoded}"))
    }

    pub fn json<T: serde::Serialize + ?Sized>(mut self, value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => {
                self.body = Bytes::from(body);
                self.headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
            }
            Err(_) => self.url = Err("the request body could not be serialised"),
        }
        self
    }

    pub fn form<K: AsRef<str>, V: AsRef<str>>(mut self, pairs: &[(K, V)]) -> Self {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs.iter().map(|(k, v)| (k.as_ref(), v.as_ref())))
            .finish();
        self.body = Bytes::from(body);
        self.headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        self
    }

    pub fn query<K: AsRef<str>, V: AsRef<str>>(mut self, pairs: &[(K, V)]) -> Self {
        if let Ok(url) = &mut self.url {
            url.query_pairs_mut()
                .extend_pairs(pairs.iter().map(|(k, v)| (k.as_ref(), v.as_ref())));
        }
        self
    }

    /// Sends the request and reads the whole answer: its head (with any interim responses)
    /// within [`HEAD_ALLOWANCE`], its body within `max_body` bytes, all before `deadline`.
    pub async fn send_within(
        self,
        deadline: Instant,
        max_body: usize,
    ) -> Result<Answer, TransportError> {
        let url = self.url.map_err(|m| TransportError::Other(m.into()))?;
        let origin = Origin::of(&url)
            .ok_or_else(|| TransportError::Other("the URL is not http(s) with a host".into()))?;
        let deadline = deadline.min(Instant::now() + self.client.inner.settings.request_timeout);
        // Framing (chunk sizes, TLS records) costs a little more than the body itself.
        let allowance = HEAD_ALLOWANCE + max_body + max_body / 8;
        let target = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        };
        let mut request = Request::builder()
            .method(self.method)
            .uri(target)
            .body(Full::new(self.body))
            .map_err(|_| TransportError::Other("the request could not be built".into()))?;
        let host = match url.port() {
            Some(p) => format!("{}:{p}", origin.host),
            None => origin.host.clone(),
        };
        let mut headers = self.headers;
        headers.insert(
            header::HOST,
            HeaderValue::from_str(&host)
                .map_err(|_| TransportError::Other("the URL host is not valid".into()))?,
        );
        *request.headers_mut() = headers;

        let client = self.client;
        // A pooled connection that turns out closed before the request went out is no attempt:
        // the request (given back by hyper, so surely unsent) goes on a new connection.
        let (mut conn, mut pooled) = match client.checkout(&origin) {
            Some(conn) => (conn, true),
            None => (
                client.fresh(&origin, &url, deadline, allowance).await?,
                false,
            ),
        };
        let interim_guard = Arc::new(Mutex::new(None::<Arc<ReadGuard>>));
        let seen = interim_guard.clone();
        let interim = std::sync::atomic::AtomicUsize::new(0);
        hyper::ext::on_informational(&mut request, move |_| {
            let n = interim.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            if n > MAX_INTERIM_RESPONSES {
                if let Some(guard) = seen.lock().ok().and_then(|g| g.clone()) {
                    guard.trip_with(Tripped::TooManyInterim);
                }
            }
        });
        loop {
            conn.guard.arm(deadline, allowance);
            if let Ok(mut g) = interim_guard.lock() {
                *g = Some(conn.guard.clone());
            }
            match conn.sender.try_send_request(request).await {
                Ok(response) => {
                    let answer = read_answer(response, max_body).await;
                    match &answer {
                        Ok(_) => client.checkin(origin, conn),
                        Err(_) => conn.guard.trip(),
                    }
                    return answer;
                }
                Err(mut e) => {
                    conn.guard.trip();
                    match e.take_message() {
                        Some(unsent) if pooled => {
                            request = unsent;
                            conn = client.fresh(&origin, &url, deadline, allowance).await?;
                            pooled = false;
                        }
                        _ => return Err(request_error(&e.into_error())),
                    }
                }
            }
        }
    }
}

impl Client {
    async fn fresh(
        &self,
        origin: &Origin,
        url: &Url,
        deadline: Instant,
        allowance: usize,
    ) -> Result<Pooled, TransportError> {
        let guard = Arc::new(ReadGuard::default());
        guard.arm(deadline, allowance + HANDSHAKE_ALLOWANCE);
        let sender = self.connect(origin, url, guard.clone()).await?;
        Ok(Pooled {
            sender,
            guard,
            idle_since: Instant::now(),
        })
    }
}

/// A complete answer.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

async fn read_answer(
    response: http::Response<hyper::body::Incoming>,
    max_body: usize,
) -> Result<Answer, TransportError> {
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let too_large = TransportError::TooLarge { limit: max_body };
    let declared = response
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > max_body as u64) {
        return Err(too_large);
    }
    let mut body = response.into_body();
    let mut bytes = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| request_error(&e))?;
        if let Ok(data) = frame.into_data() {
            if bytes.len() + data.len() > max_body {
                return Err(too_large);
            }
            bytes.extend_from_slice(&data);
        }
    }
    Ok(Answer {
        status,
        content_type,
        body: bytes,
    })
}

/// Why a request failed after its connection was up, in our words. A guard's verdict (deadline,
/// allowance) wins over whatever hyper made of the failed read.
fn request_error(err: &hyper::Error) -> TransportError {
    if let Some(tripped) = find_tripped(err) {
        return tripped.into();
    }
    if err.is_parse() {
        return TransportError::Other("the answer is not valid HTTP/1.1".into());
    }
    if err.is_incomplete_message() || err.is_closed() || err.is_canceled() {
        return TransportError::Other(
            "the connection closed before the answer was complete".into(),
        );
    }
    if err.is_timeout() {
        return TransportError::Timeout;
    }
    TransportError::Other("the connection failed".into())
}

/// A TLS or socket failure while connecting, in our words (never the peer's certificate names
/// or alert text).
fn connect_error(err: &io::Error) -> TransportError {
    if let Some(tripped) = err.get_ref().and_then(|e| e.downcast_ref::<Tripped>()) {
        return (*tripped).into();
    }
    let words = match err
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>())
    {
        Some(rustls::Error::InvalidCertificate(cert)) => certificate_words(cert),
        Some(rustls::Error::AlertReceived(_)) => "TLS: the server refused the handshake",
        Some(rustls::Error::NoCertificatesPresented) => "TLS: the server sent no certificate",
        Some(_) => "TLS: the handshake failed",
        None => io_words(err),
    };
    TransportError::Connect(words.into())
}

fn certificate_words(err: &rustls::CertificateError) -> &'static str {
    use rustls::CertificateError as C;
    match err {
        C::NotValidForName | C::NotValidForNameContext { .. } => {
            "TLS: the certificate is not valid for the host name"
        }
        C::Expired | C::ExpiredContext { .. } => "TLS: the certificate has expired",
        C::NotValidYet | C::NotValidYetContext { .. } => "TLS: the certificate is not valid yet",
        C::UnknownIssuer => "TLS: the certificate is not from a trusted authority",
        C::Revoked => "TLS: the certificate is revoked",
        C::BadSignature => "TLS: the certificate's signature is invalid",
        _ => "TLS: the certificate was rejected",
    }
}

fn io_words(err: &io::Error) -> &'static str {
    match err.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused",
        io::ErrorKind::ConnectionReset => "connection reset",
        io::ErrorKind::ConnectionAborted => "connection aborted",
        io::ErrorKind::TimedOut => "connection timed out",
        io::ErrorKind::UnexpectedEof => "the connection closed during the handshake",
        io::ErrorKind::AddrNotAvailable | io::ErrorKind::HostUnreachable => "host unreachable",
        io::ErrorKind::NetworkUnreachable => "network unreachable",
        _ => "could not connect",
    }
}

fn find_tripped(err: &(dyn std::error::Error + 'static)) -> Option<Tripped> {
    let mut source = Some(err);
    while let Some(e) = source {
        if let Some(t) = e.downcast_ref::<Tripped>() {
            return Some(*t);
        }
        if let Some(io) = e.downcast_ref::<io::Error>() {
            if let Some(t) = io.get_ref().and_then(|i| i.downcast_ref::<Tripped>()) {
                return Some(*t);
            }
        }
        source = e.source();
    }
    None
}

/// Why a [`ReadGuard`] ended a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Tripped {
    #[error("the request's deadline passed")]
    Deadline,
    #[error("the answer exceeded {0} bytes")]
    TooMuch(usize),
    #[error("the connection was closed by its request")]
    Closed,
    #[error("more than {MAX_INTERIM_RESPONSES} interim responses")]
    TooManyInterim,
}

impl From<Tripped> for TransportError {
    fn from(t: Tripped) -> Self {
        match t {
            Tripped::Deadline => TransportError::Timeout,
            Tripped::TooMuch(limit) => TransportError::TooLarge { limit },
            Tripped::Closed => TransportError::Other("the connection was closed".into()),
            Tripped::TooManyInterim => TransportError::Other(format!(
                "the server sent more than {MAX_INTERIM_RESPONSES} interim (1xx) responses"
            )),
        }
    }
}

/// The bound on one connection's reads, armed by each request that uses it: a deadline and a
/// byte allowance. Idle (disarmed), a connection may read `IDLE_ALLOWANCE` bytes (TLS session
/// tickets); a new guard, before its connection is up, nothing. Checked on every read, in the connection's own task, so it holds even
/// when the socket never pends and the runtime's timers are late.
#[derive(Debug, Default)]
pub struct ReadGuard {
    state: Mutex<GuardState>,
}

#[derive(Debug, Default)]
struct GuardState {
    deadline: Option<Instant>,
    allowance: usize,
    read: usize,
    tripped: Option<Tripped>,
}

impl ReadGuard {
    fn arm(&self, deadline: Instant, allowance: usize) {
        if let Ok(mut s) = self.state.lock() {
            s.deadline = Some(deadline);
            s.allowance = allowance;
            s.read = 0;
        }
    }

    fn disarm(&self) {
        if let Ok(mut s) = self.state.lock() {
            s.deadline = None;
            s.allowance = IDLE_ALLOWANCE;
            s.read = 0;
        }
    }

    /// Ends the connection at its next read (a request that failed leaves nothing reusable).
    fn trip(&self) {
        self.trip_with(Tripped::Closed);
    }

    fn trip_with(&self, why: Tripped) {
        if let Ok(mut s) = self.state.lock() {
            s.tripped.get_or_insert(why);
        }
    }

    /// Before a read: may it proceed?
    fn check(&self) -> Result<(), Tripped> {
        let mut s = self.state.lock().map_err(|_| Tripped::Closed)?;
        if let Some(t) = s.tripped {
            return Err(t);
        }
        if s.deadline.is_some_and(|d| Instant::now() >= d) {
            s.tripped = Some(Tripped::Deadline);
            return Err(Tripped::Deadline);
        }
        Ok(())
    }

    /// After a read of `n` bytes.
    fn record(&self, n: usize) -> Result<(), Tripped> {
        let mut s = self.state.lock().map_err(|_| Tripped::Closed)?;
        s.read = s.read.saturating_add(n);
        if n > 0 && s.read > s.allowance {
            let t = Tripped::TooMuch(s.allowance);
            s.tripped = Some(t);
            return Err(t);
        }
        Ok(())
    }
}

/// A socket whose reads go through its connection's [`ReadGuard`].
struct Guarded<S> {
    io: S,
    guard: Arc<ReadGuard>,
}

fn tripped_io(t: Tripped) -> io::Error {
    let kind = match t {
        Tripped::Deadline => io::ErrorKind::TimedOut,
        Tripped::TooMuch(_) => io::ErrorKind::InvalidData,
        Tripped::Closed => io::ErrorKind::ConnectionAborted,
        Tripped::TooManyInterim => io::ErrorKind::InvalidData,
    };
    io::Error::new(kind, t)
}

impl<S: AsyncRead + Unpin> AsyncRead for Guarded<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Err(t) = self.guard.check() {
            return Poll::Ready(Err(tripped_io(t)));
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &polled {
            if let Err(t) = self.guard.record(buf.filled().len() - before) {
                return Poll::Ready(Err(tripped_io(t)));
            }
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Guarded<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_guard_counts_trips_and_resets() {
        let g = ReadGuard::default();
        // Unarmed: reading nothing (the end) is fine, reading bytes is not.
        assert_eq!(g.check(), Ok(()));
        assert_eq!(g.record(0), Ok(()));
        assert_eq!(g.record(1), Err(Tripped::TooMuch(0)));
        assert_eq!(g.check(), Err(Tripped::TooMuch(0)));
        // Idle in the pool: session tickets pass, a flood does not.
        let g = ReadGuard::default();
        g.disarm();
        assert_eq!(g.record(600), Ok(()));
        assert_eq!(
            g.record(IDLE_ALLOWANCE),
            Err(Tripped::TooMuch(IDLE_ALLOWANCE))
        );

        let g = ReadGuard::default();
        g.arm(Instant::now() + Duration::from_secs(5), 10);
        assert_eq!(g.record(10), Ok(()));
        assert_eq!(g.record(1), Err(Tripped::TooMuch(10)));

        let g = ReadGuard::default();
        g.arm(Instant::now() + Duration::from_secs(5), 10);
        assert_eq!(g.record(8), Ok(()));
        g.disarm();
        g.arm(Instant::now() + Duration::from_secs(5), 10);
        assert_eq!(g.record(8), Ok(()), "each request has its own allowance");

        let g = ReadGuard::default();
        g.arm(Instant::now(), 10);
        assert_eq!(g.check(), Err(Tripped::Deadline));
        g.arm(Instant::now() + Duration::from_secs(5), 10);
        assert_eq!(
            g.check(),
            Err(Tripped::Deadline),
            "a tripped connection stays closed"
        );
    }

    #[test]
    fn builder_shapes_requests() {
        let c = Client::new(
            crate::http::tls_config().unwrap(),
            crate::http::HttpSettings::default().client_settings(),
        );
        let r = c
            .post("https://api.example.test/oauth2/token")
            .basic_auth("id", Some("s3cr3t"))
            .form(&[("grant_type", "client_credentials")]);
        assert_eq!(
            r.headers.get(header::AUTHORIZATION).unwrap(),
            "Basic aWQ6czNjcjN0"
        );
        assert!(r.headers[header::AUTHORIZATION].is_sensitive());
        assert_eq!(&r.body[..], b"grant_type=client_credentials");
        let r = c
            .get("https://h.test/a")
            .query(&[("customer_contact_number", "+1 320")]);
        assert_eq!(
            r.url.as_ref().unwrap().as_str(),
            "https://h.test/a?customer_contact_number=%2B1+320"
        );
        let r = c.get("https://h.test/").bearer_auth("bad\ntoken");
        assert!(
            r.url.is_err(),
            "a token that cannot be a header fails the request"
        );
        let r = c.get("not a url");
        assert!(r.url.is_err());
    }
}
