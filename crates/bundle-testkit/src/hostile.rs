//! A hostile upstream on loopback: answers each HTTP/1.1 request with whatever a test scripts,
//! including what a well-behaved simulator never sends (redirects, bodies that never end, huge
//! declared lengths, header-breaking tokens, records for another number). It records every
//! request so a test can assert what reached it. Plain threads and std sockets: no runtime.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Received {
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What to answer.
#[derive(Debug, Clone)]
pub enum Answer {
    /// `status` with a JSON body.
    Json(u16, String),
    /// A redirect to `location`.
    Redirect(u16, String),
    /// A `200` chunked body that never ends (until the client goes away).
    Endless,
    /// A `200` whose `Content-Length` announces `declared` bytes; sends that many (lazily).
    Declared(u64),
    /// `100 Continue` interim responses, over and over at full speed, never a final answer
    /// (until the client goes away).
    InterimFlood,
    /// These bytes exactly, then the connection closes (framing and header attacks).
    Raw(Vec<u8>),
}

type Script = dyn Fn(&Received, usize) -> Answer + Send + Sync;

/// The running server; stops accepting when dropped.
pub struct HostileUpstream {
    pub base: String,
    received: Arc<Mutex<Vec<Received>>>,
    stop: Arc<AtomicBool>,
    /// Bytes written to clients so far.
    sent: Arc<Mutex<u64>>,
}

impl HostileUpstream {
    /// `script(request, index)` decides each answer.
    pub fn start(script: impl Fn(&Received, usize) -> Answer + Send + Sync + 'static) -> Self {
        Self::start_with(None, script)
    }

    /// Over https, presenting `tls`'s certificate (for `localhost`: `mindful_sim::test_tls`);
    /// `base` is `https://localhost:PORT`.
    pub fn start_tls(
        tls: Arc<rustls::ServerConfig>,
        script: impl Fn(&Received, usize) -> Answer + Send + Sync + 'static,
    ) -> Self {
        Self::start_with(Some(tls), script)
    }

    fn start_with(
        tls: Option<Arc<rustls::ServerConfig>>,
        script: impl Fn(&Received, usize) -> Answer + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let port = listener.local_addr().expect("local address").port();
        let base = match tls {
            Some(_) => format!("https://localhost:{port}"),
            None => format!("http://127.0.0.1:{port}"),
        };
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(Mutex::new(0u64));
        let script: Arc<Script> = Arc::new(script);
        let (r, s, b) = (received.clone(), stop.clone(), sent.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if s.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let (r, s, b, script) = (r.clone(), s.clone(), b.clone(), script.clone());
                let tls = tls.clone();
                std::thread::spawn(move || {
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                    match tls {
                        None => serve(stream, &r, &s, &b, &*script),
                        Some(config) => {
                            let Ok(conn) = rustls::ServerConnection::new(config) else {
                                return;
                            };
                            serve(rustls::StreamOwned::new(conn, stream), &r, &s, &b, &*script)
                        }
                    }
                });
            }
        });
        Self {
            base,
            received,
            stop,
            sent,
        }
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().map(|g| g.clone()).unwrap_or_default()
    }

    pub fn count(&self) -> usize {
        self.received().len()
    }

    /// Bytes written to clients so far (how much of an endless body was taken).
    pub fn bytes_sent(&self) -> u64 {
        self.sent.lock().map(|g| *g).unwrap_or(0)
    }
}

impl Drop for HostileUpstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop.
        if let Some(port) = self.base.rsplit(':').next() {
            let _ = TcpStream::connect(format!("127.0.0.1:{port}"));
        }
    }
}

fn serve<S: Read + Write>(
    stream: S,
    received: &Mutex<Vec<Received>>,
    stop: &AtomicBool,
    sent: &Mutex<u64>,
    script: &Script,
) {
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (method, target) = (
            parts.next().unwrap_or("").to_string(),
            parts.next().unwrap_or("").to_string(),
        );
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
        let len = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse::<usize>().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let request = Received {
            method,
            target,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        };
        let index = {
            let Ok(mut g) = received.lock() else { return };
            g.push(request.clone());
            g.len() - 1
        };
        let count = |n: usize| {
            if let Ok(mut s) = sent.lock() {
                *s += n as u64;
            }
        };
        let writer = reader.get_mut();
        match script(&request, index) {
            Answer::Json(status, body) => {
                let head = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                    body.len()
                );
                if writer.write_all(head.as_bytes()).is_err()
                    || writer.write_all(body.as_bytes()).is_err()
                {
                    return;
                }
                count(head.len() + body.len());
            }
            Answer::Redirect(status, location) => {
                let head = format!(
                    "HTTP/1.1 {status} Moved\r\nlocation: {location}\r\ncontent-length: 0\r\n\r\n"
                );
                if writer.write_all(head.as_bytes()).is_err() {
                    return;
                }
            }
            Answer::Endless => {
                let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
                if writer.write_all(head.as_bytes()).is_err() {
                    return;
                }
                let chunk = format!(
                    "{:x}\r\n{}\r\n",
                    64 * 1024,
                    "{\"a\":1,"
                        .repeat(64 * 1024 / 7 + 1)
                        .get(..64 * 1024)
                        .unwrap_or("")
                );
                while !stop.load(Ordering::Relaxed) {
                    if writer.write_all(chunk.as_bytes()).is_err() {
                        return;
                    }
                    count(chunk.len());
                }
                return;
            }
            Answer::Declared(declared) => {
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {declared}\r\n\r\n"
                );
                if writer.write_all(head.as_bytes()).is_err() {
                    return;
                }
                let block = vec![b' '; 64 * 1024];
                let mut left = declared;
                while left > 0 && !stop.load(Ordering::Relaxed) {
                    let n = left.min(block.len() as u64) as usize;
                    if writer.write_all(&block[..n]).is_err() {
                        return;
                    }
                    count(n);
                    left -= n as u64;
                }
                return;
            }
            Answer::InterimFlood => {
                let block = "HTTP/1.1 100 Continue\r\n\r\n".repeat(2048);
                while !stop.load(Ordering::Relaxed) {
                    if writer.write_all(block.as_bytes()).is_err() {
                        return;
                    }
                    count(block.len());
                }
                return;
            }
            Answer::Raw(bytes) => {
                let _ = writer.write_all(&bytes);
                let _ = writer.flush();
                count(bytes.len());
                return;
            }
        }
        let _ = writer.flush();
    }
}

/// A CPU share like a small Lambda function's: the process (every thread) pinned to CPU 0 beside
/// `hogs` busy loops pinned there too, so it gets about `1 / (hogs + 1)` of a core (a 256 MB
/// function gets ~0.15 vCPU: 5 hogs). The loops end when this is dropped. Uses `taskset`
/// (util-linux, on every Debian and Amazon Linux).
pub struct CpuStarver {
    hogs: Vec<std::process::Child>,
}

impl CpuStarver {
    pub fn pin(pid: u32, hogs: usize) -> std::io::Result<Self> {
        let pinned = std::process::Command::new("taskset")
            .args(["-a", "-c", "-p", "0", &pid.to_string()])
            .stdout(std::process::Stdio::null())
            .status()?;
        if !pinned.success() {
            return Err(std::io::Error::other(format!(
                "taskset -p failed: {pinned}"
            )));
        }
        let mut starver = Self { hogs: Vec::new() };
        for _ in 0..hogs {
            starver.hogs.push(
                std::process::Command::new("taskset")
                    .args(["-c", "0", "sh", "-c", "while :; do :; done"])
                    .spawn()?,
            );
        }
        Ok(starver)
    }
}

impl Drop for CpuStarver {
    fn drop(&mut self) {
        for hog in &mut self.hogs {
            let _ = hog.kill();
            let _ = hog.wait();
        }
    }
}
