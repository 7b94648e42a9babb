//! HTTP/1 server: accept loop, simulated routes, faults and the `/_sim/` control API.

// Handlers return early with a ready response; boxing it buys nothing here.
#![allow(clippy::result_large_err)]

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use http_body_util::{BodyExt, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Map, Value};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::respond::{error, invalid_request, json_resp, raw_resp, Resp};
use crate::state::{unix_ms, Fault, LoggedRequest, Route, Shared, StoredRecord};
use crate::util;

const MAX_BODY: usize = 1 << 20;
/// Upper bound for a `hang` fault when the sim is never shut down.
const MAX_HANG: Duration = Duration::from_secs(600);

/// Returned by the service to make hyper drop the connection without a response.
#[derive(Debug)]
struct DropConnection;

impl std::fmt::Display for DropConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by fault injection")
    }
}

impl std::error::Error for DropConnection {}

/// TCP stream that closes with RST (SO_LINGER 0) when its `reset` flag is set.
struct SimStream {
    inner: TcpStream,
    reset: Arc<AtomicBool>,
}

impl SimStream {
    fn arm_reset(&self) {
        if self.reset.load(Ordering::Relaxed) {
            let _ = self.inner.set_zero_linger();
        }
    }
}

impl Drop for SimStream {
    fn drop(&mut self) {
        self.arm_reset();
    }
}

impl AsyncRead for SimStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for SimStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.reset.load(Ordering::Relaxed) {
            // No FIN: the drop that follows sends RST.
            this.arm_reset();
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

/// Bind `addr` and spawn the accept loop on the current runtime; with `tls`, every connection
/// is a TLS server connection first.
pub(crate) async fn spawn_server(
    shared: Arc<Shared>,
    shutdown: watch::Receiver<bool>,
    addr: SocketAddr,
    tls: Option<TlsAcceptor>,
) -> io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(accept_loop(listener, shared, shutdown, tls));
    Ok(addr)
}

/// A client that connects but never finishes the TLS handshake is dropped after this long.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    shutdown: watch::Receiver<bool>,
    tls: Option<TlsAcceptor>,
) {
    let mut stop = shutdown.clone();
    loop {
        let accepted = tokio::select! {
            _ = stop.wait_for(|v| *v) => return,
            a = listener.accept() => a,
        };
        let stream = match accepted {
            Ok((s, _)) => s,
            Err(_) => {
                // e.g. EMFILE: back off briefly instead of spinning.
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let reset = Arc::new(AtomicBool::new(false));
        let stream = crate::distance::Distant::accepted(
            SimStream {
                inner: stream,
                reset: reset.clone(),
            },
            shared.config.rtt,
        );
        let shared = shared.clone();
        let shutdown = shutdown.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                None => serve_connection(TokioIo::new(stream), shared, reset, shutdown).await,
                Some(acceptor) => {
                    let mut stop = shutdown.clone();
                    let handshake = tokio::select! {
                        h = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)) => h,
                        _ = stop.wait_for(|v| *v) => return,
                    };
                    // A failed handshake (e.g. a client that does not trust the test CA) just
                    // closes the connection, as a real server does.
                    if let Ok(Ok(stream)) = handshake {
                        serve_connection(TokioIo::new(stream), shared, reset, shutdown).await;
                    }
                }
            }
        });
    }
}

/// HTTP/1.1 with keep-alive on one accepted connection until it closes or the sim stops.
async fn serve_connection<I>(
    io: TokioIo<I>,
    shared: Arc<Shared>,
    reset: Arc<AtomicBool>,
    shutdown: watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut conn_stop = shutdown.clone();
    let hang_stop = shutdown;
    let svc = hyper::service::service_fn(move |req| {
        let shared = shared.clone();
        let reset = reset.clone();
        let hang_stop = hang_stop.clone();
        async move { handle(shared, reset, hang_stop, req).await }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(io, svc);
    tokio::select! {
        _ = conn => {}
        _ = conn_stop.wait_for(|v| *v) => {}
    }
}

fn classify(method: &Method, path: &str) -> Option<Route> {
    match (method, path) {
        (&Method::POST, "/oauth2/token") => Some(Route::Token),
        (&Method::POST, "/v2/callback/agentAnswer") => Some(Route::AgentAnswer),
        (&Method::POST, "/api/v1/data_sets") => Some(Route::DatastorePost),
        (&Method::GET, "/api/v1/data_sets/search") => Some(Route::DatastoreGet),
        (&Method::GET, p) if widget_id(p).is_some() => Some(Route::WidgetStatus),
        _ => None,
    }
}

fn known_path(path: &str) -> bool {
    matches!(
        path,
        "/oauth2/token"
            | "/v2/callback/agentAnswer"
            | "/api/v1/data_sets"
            | "/api/v1/data_sets/search"
    ) || widget_id(path).is_some()
}

/// The `{widget_id}` of `/api/widget/{widget_id}` (one non-empty segment).
fn widget_id(path: &str) -> Option<&str> {
    path.strip_prefix("/api/widget/")
        .filter(|id| !id.is_empty() && !id.contains('/'))
}

async fn read_body(body: Incoming) -> Result<Bytes, Resp> {
    match Limited::new(body, MAX_BODY).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "body over 1 MiB",
        )),
        Err(_) => Err(error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "could not read the request body",
        )),
    }
}

async fn handle(
    shared: Arc<Shared>,
    reset: Arc<AtomicBool>,
    mut stop: watch::Receiver<bool>,
    req: Request<Incoming>,
) -> Result<Resp, DropConnection> {
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    if path == "/_sim" || path.starts_with("/_sim/") {
        let resp = match read_body(body).await {
            Ok(bytes) => crate::control::handle(&shared, &parts.method, &path, &bytes),
            Err(r) => r,
        };
        return Ok(resp);
    }

    let route = classify(&parts.method, &path);
    let bytes = match read_body(body).await {
        Ok(b) => b,
        Err(r) => {
            let _ = log_line(&shared, &parts, route, "", Some(r.status()), None, started);
            return Ok(r);
        }
    };
    let body_text = String::from_utf8_lossy(&bytes).into_owned();
    let logged_body = if route == Some(Route::Token) {
        util::mask_form_body(&body_text)
    } else {
        body_text
    };
    let entry = LoggedRequest {
        id: 0,
        received_at_ms: unix_ms(SystemTime::now()),
        route,
        method: parts.method.to_string(),
        path: path.clone(),
        query: parts.uri.query().map(str::to_string),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| {
                let v = String::from_utf8_lossy(v.as_bytes());
                (k.as_str().to_string(), util::mask_header(k.as_str(), &v))
            })
            .collect(),
        body: logged_body,
        status: None,
        fault: None,
    };
    let (id, fault) = {
        let mut g = shared.lock();
        let fault = route.and_then(|r| g.take_fault(r));
        let entry = LoggedRequest {
            fault: fault.as_ref().map(|f| f.kind().to_string()),
            ..entry
        };
        let id = g.log_request(entry, shared.config.max_logged_requests);
        (id, fault)
    };

    let outcome: Result<Resp, DropConnection> = match (&fault, route) {
        (_, None) => Ok(if known_path(&path) {
            error(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "method not allowed on this path",
            )
        } else {
            error(StatusCode::NOT_FOUND, "not_found", "unknown path")
        }),
        (Some(Fault::Hang), Some(_)) => {
            tokio::select! {
                _ = stop.wait_for(|v| *v) => {}
                _ = tokio::time::sleep(MAX_HANG) => {}
            }
            Err(DropConnection)
        }
        (Some(Fault::Reset), Some(_)) => {
            reset.store(true, Ordering::Relaxed);
            Err(DropConnection)
        }
        (Some(Fault::Status { code }), Some(_)) => {
            let status = StatusCode::from_u16(*code).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            Ok(json_resp(
                status,
                &json!({"error": "sim_fault", "status": status.as_u16()}),
            ))
        }
        (Some(Fault::MalformedJson), Some(r)) => {
            let (status, body) = match r {
                Route::AgentAnswer => (StatusCode::ACCEPTED, r#"{"message":"accep"#),
                Route::Token => (StatusCode::OK, r#"{"access_token":"simtok_trunc"#),
                _ => (
                    StatusCode::OK,
                    r#"{"organization":{"id":"org-sim"},"customer_contact_number":"+1320"#,
                ),
            };
            Ok(raw_resp(status, "application/json", body.to_string()))
        }
        (Some(Fault::WrongContentType), Some(_)) => Ok(raw_resp(
            StatusCode::OK,
            "text/html; charset=utf-8",
            "<html><head><title>Maintenance</title></head><body><h1>We'll be right back</h1></body></html>"
                .to_string(),
        )),
        (Some(Fault::Latency { ms }), Some(r)) => {
            tokio::time::sleep(Duration::from_millis(*ms)).await;
            Ok(serve(&shared, r, &path, &parts.headers, parts.uri.query(), &bytes))
        }
        (None, Some(r)) => Ok(serve(&shared, r, &path, &parts.headers, parts.uri.query(), &bytes)),
    };

    let status = outcome.as_ref().ok().map(|r| r.status().as_u16());
    shared.lock().finish_request(id, status);
    let _ = log_line(
        &shared,
        &parts,
        route,
        &format!("#{id} "),
        outcome.as_ref().ok().map(|r| r.status()),
        fault.as_ref(),
        started,
    );
    outcome
}

fn log_line(
    shared: &Shared,
    parts: &hyper::http::request::Parts,
    route: Option<Route>,
    id: &str,
    status: Option<StatusCode>,
    fault: Option<&Fault>,
    started: Instant,
) -> Option<()> {
    if !shared.config.log_requests {
        return None;
    }
    let auth = parts
        .headers
        .get(AUTHORIZATION)
        .map(|v| {
            format!(
                " auth={}",
                util::mask_header("authorization", &String::from_utf8_lossy(v.as_bytes()))
            )
        })
        .unwrap_or_default();
    let query = parts
        .uri
        .query()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    let status = status.map_or("-".to_string(), |s| s.as_u16().to_string());
    let fault = fault.map_or(String::new(), |f| format!(" fault={}", f.kind()));
    let route = route.map_or("other".to_string(), |r| {
        serde_json::to_value(r)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    });
    eprintln!(
        "mindful-sim {id}{} {}{query} [{route}]{auth} -> {status}{fault} ({} ms)",
        parts.method,
        parts.uri.path(),
        started.elapsed().as_millis()
    );
    Some(())
}

/// Normal (fault-free) handling of a simulated route.
fn serve(
    shared: &Shared,
    route: Route,
    path: &str,
    headers: &HeaderMap,
    query: Option<&str>,
    body: &[u8],
) -> Resp {
    match route {
        Route::Token => token(shared, headers, body),
        Route::AgentAnswer => agent_answer(shared, headers, body),
        Route::DatastorePost => datastore_post(shared, headers, body),
        Route::DatastoreGet => datastore_get(shared, headers, query),
        Route::WidgetStatus => widget_status(shared, path),
        Route::Any => error(StatusCode::NOT_FOUND, "not_found", "unknown path"),
    }
}

fn media_type(headers: &HeaderMap) -> String {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default()
}

/// `Authorization: <scheme> <credentials>` with a case-insensitive scheme.
fn credentials<'a>(headers: &'a HeaderMap, scheme: &str) -> Option<&'a str> {
    let v = headers.get(AUTHORIZATION)?.to_str().ok()?.trim();
    let (s, rest) = v.split_once(' ')?;
    s.eq_ignore_ascii_case(scheme).then(|| rest.trim())
}

fn token(shared: &Shared, headers: &HeaderMap, body: &[u8]) -> Resp {
    let invalid_client = || {
        let mut r = json_resp(
            StatusCode::UNAUTHORIZED,
            &json!({"error": "invalid_client"}),
        );
        r.headers_mut().insert(
            hyper::header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"mindful-sim\""),
        );
        r
    };
    let Some(b64) = credentials(headers, "Basic") else {
        return invalid_client();
    };
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(b64) else {
        return invalid_client();
    };
    let Ok(decoded) = String::from_utf8(decoded) else {
        return invalid_client();
    };
    let Some((id, secret)) = decoded.split_once(':') else {
        return invalid_client();
    };
    if !shared
        .config
        .clients
        .iter()
        .any(|c| c.client_id == id && c.client_secret == secret)
    {
        return invalid_client();
    }
    if media_type(headers) != "application/x-www-form-urlencoded" {
        return json_resp(
            StatusCode::BAD_REQUEST,
            &json!({"error": "invalid_request", "error_description": "expected an application/x-www-form-urlencoded body"}),
        );
    }
    let grant = form_urlencoded::parse(body)
        .find(|(k, _)| k == "grant_type")
        .map(|(_, v)| v.into_owned());
    match grant.as_deref() {
        None | Some("") => json_resp(
            StatusCode::BAD_REQUEST,
            &json!({"error": "invalid_request", "error_description": "grant_type is required"}),
        ),
        Some("client_credentials") => {
            let token = util::new_token();
            let lifetime = shared.config.token_lifetime_secs;
            let expires = Instant::now() + Duration::from_secs(lifetime);
            shared.lock().issue_token(token.clone(), expires);
            json_resp(
                StatusCode::OK,
                &json!({"access_token": token, "token_type": "Bearer", "expires_in": lifetime}),
            )
        }
        Some(_) => json_resp(
            StatusCode::BAD_REQUEST,
            &json!({"error": "unsupported_grant_type"}),
        ),
    }
}

fn parse_json_body(headers: &HeaderMap, body: &[u8]) -> Result<Value, Resp> {
    if media_type(headers) != "application/json" {
        return Err(error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Content-Type must be application/json",
        ));
    }
    serde_json::from_slice(body).map_err(|_| {
        error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "body is not valid JSON",
        )
    })
}

fn agent_answer(shared: &Shared, headers: &HeaderMap, body: &[u8]) -> Resp {
    if let Some(limit) = shared.config.agent_answer_rate_limit {
        if !shared.lock().within_rate_limit(limit) {
            return json_resp(
                StatusCode::TOO_MANY_REQUESTS,
                &json!({"message": "Too Many Requests"}),
            );
        }
    }
    let live = credentials(headers, "Bearer").is_some_and(|t| shared.lock().token_live(t));
    if !live {
        return json_resp(
            StatusCode::UNAUTHORIZED,
            &json!({"message": "Unauthorized"}),
        );
    }
    let doc = match parse_json_body(headers, body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Some(data) = doc.get("data").and_then(Value::as_object) else {
        return invalid_request("data: required object");
    };
    let Some(ani) = data.get("ani").and_then(Value::as_str) else {
        return invalid_request("data.ani: required string");
    };
    if !util::valid_ani(ani) {
        return invalid_request("data.ani: must match ^\\+?[1-9]\\d{1,14}$");
    }
    let metadata = match data.get("metadata") {
        None => None,
        Some(Value::Object(m)) if m.is_empty() => {
            return invalid_request("data.metadata: at least one property is required")
        }
        Some(Value::Object(m)) if !m.values().all(Value::is_string) => {
            return invalid_request("data.metadata: values must be strings")
        }
        Some(m @ Value::Object(_)) => Some(m.clone()),
        Some(_) => return invalid_request("data.metadata: must be an object"),
    };
    match shared.lock().answer_call(ani, metadata) {
        Some(_) => json_resp(
            StatusCode::ACCEPTED,
            &json!({"message": "Agent answer event accepted for processing"}),
        ),
        None => json_resp(
            StatusCode::NOT_FOUND,
            &json!({"error": "not_found", "message": "no call in the connecting phase for this ANI"}),
        ),
    }
}

/// Index of the template whose token is presented, or the 401 response.
fn template_for(shared: &Shared, headers: &HeaderMap) -> Result<usize, Resp> {
    credentials(headers, "Bearer")
        .and_then(|t| {
            shared
                .config
                .templates
                .iter()
                .position(|tpl| tpl.token == t)
        })
        .ok_or_else(|| json_resp(StatusCode::UNAUTHORIZED, &json!({"error": "InvalidToken"})))
}

const RESERVED: [&str; 7] = [
    "organization",
    "customer_contact_number",
    "ani",
    "ecbt",
    "data_set_template_id",
    "data_set_template_name",
    "time_to_expire",
];

/// Flat record body in Mindful's field order (fixed fields first, then the Data Keys).
fn record_body(
    shared: &Shared,
    tpl: usize,
    key: &str,
    rec_tte: &str,
    data: &[(String, Value)],
    with_org: bool,
    ecbt: Option<u64>,
) -> String {
    let Some(t) = shared.config.templates.get(tpl) else {
        return "{}".to_string();
    };
    let mut fields: Vec<(&str, Value)> = Vec::new();
    if with_org {
        fields.push(("organization", json!({"id": "org-sim"})));
    }
    fields.push(("customer_contact_number", json!(key)));
    fields.push(("ani", json!(key)));
    fields.push(("ecbt", ecbt.map_or(Value::Null, Value::from)));
    fields.push(("data_set_template_id", json!(t.id)));
    fields.push(("data_set_template_name", json!(t.name)));
    fields.push(("time_to_expire", json!(rec_tte)));
    for (k, v) in data {
        fields.push((k.as_str(), v.clone()));
    }
    let parts: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{}:{}", Value::from(*k), v))
        .collect();
    format!("{{{}}}", parts.join(","))
}

fn datastore_post(shared: &Shared, headers: &HeaderMap, body: &[u8]) -> Resp {
    let tpl = match template_for(shared, headers) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let doc = match parse_json_body(headers, body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Some(number) = doc.get("customer_contact_number").and_then(Value::as_str) else {
        return invalid_request("customer_contact_number: required string");
    };
    let Some(values) = doc.get("data_values").and_then(Value::as_object) else {
        return invalid_request("data_values: required object");
    };
    match store_record(shared, tpl, number, values) {
        Some(resp) => raw_resp(StatusCode::OK, "application/json", resp),
        None => error(
            StatusCode::BAD_REQUEST,
            "InvalidPhoneNumber",
            "customer_contact_number is not a valid phone number",
        ),
    }
}

/// Stores (or replaces) the record of `number` in template `tpl` as a Datastore POST does, and
/// returns the POST's answer body; `None` when the number is not a phone number.
pub(crate) fn store_record(
    shared: &Shared,
    tpl: usize,
    number: &str,
    values: &Map<String, Value>,
) -> Option<String> {
    let key = util::datastore_key(number)?;
    let t = shared.config.templates.get(tpl)?;
    let data: Vec<(String, Value)> = ordered(values)
        .into_iter()
        .filter(|(k, _)| !RESERVED.contains(&k.as_str()))
        .filter(|(k, _)| t.data_keys.is_empty() || t.data_keys.iter().any(|dk| dk == k))
        .collect();
    let retention = Duration::from_secs(t.retention_secs);
    let tte = util::iso8601(SystemTime::now() + retention);
    let ecbt = shared.lock().ecbt;
    let resp = record_body(shared, tpl, &key, &tte, &data, true, ecbt);
    let mut g = shared.lock();
    g.prune_records();
    g.records.insert(
        (tpl, key),
        StoredRecord {
            expires: Instant::now() + retention,
            time_to_expire: tte,
            data,
        },
    );
    Some(resp)
}

/// Object entries (serde_json's default map is sorted by key; keep that deterministic order).
fn ordered(values: &Map<String, Value>) -> Vec<(String, Value)> {
    values.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

fn datastore_get(shared: &Shared, headers: &HeaderMap, query: Option<&str>) -> Resp {
    let tpl = match template_for(shared, headers) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let number = query.and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "customer_contact_number")
            .map(|(_, v)| v.into_owned())
    });
    let not_found = |msg: &str| error(StatusCode::NOT_FOUND, "NotFound", msg);
    let Some(key) = number.as_deref().and_then(util::datastore_key) else {
        return not_found("The request contains an invalid phone number in the query string");
    };
    let mut g = shared.lock();
    let now = Instant::now();
    let entry = (tpl, key.clone());
    match g.records.get(&entry) {
        Some(r) if r.expires > now => {
            let body = record_body(shared, tpl, &key, &r.time_to_expire, &r.data, false, g.ecbt);
            raw_resp(StatusCode::OK, "application/json", body)
        }
        Some(_) => {
            g.records.remove(&entry);
            not_found("no data set for this customer contact number")
        }
        None => not_found("no data set for this customer contact number"),
    }
}

/// `GET /api/widget/{id}`: the documented `{"data":[{…}]}` for [`crate::DEFAULT_WIDGET_ID`]
/// (open: the Scheduler API needs no token unless an Access Control Policy asks for one);
/// 404 for any other widget.
fn widget_status(shared: &Shared, path: &str) -> Resp {
    if widget_id(path) != Some(crate::DEFAULT_WIDGET_ID) {
        return error(StatusCode::NOT_FOUND, "not_found", "no such widget");
    }
    let g = shared.lock();
    let (state, ewt) = g
        .widget
        .clone()
        .unwrap_or_else(|| ("offer_callback".to_string(), g.ecbt));
    let offers = state.starts_with("offer_");
    json_resp(
        StatusCode::OK,
        &json!({"data": [{
            "widget_state": state,
            "message": "",
            "offer_asap": offers && state != "offer_scheduled_callback",
            "offer_scheduled": offers && state != "offer_asap_callback",
            "ewt": ewt,
            "scheduled_timeslots": "",
        }]}),
    )
}
