//! A minimal scripted HTTP/1.1 server on loopback for the core clients' tests: it records every
//! request and answers with whatever the test's responder returns (status, delay, hang, reset).

#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }
}

pub enum Reply {
    Json(u16, String),
    Raw(u16, &'static str, String),
    Delay(Duration, u16, String),
    Hang,
    Reset,
}

type Responder = dyn Fn(&Recorded, usize) -> Reply + Send + Sync;

pub struct MockServer {
    pub base: String,
    log: Arc<Mutex<Vec<Recorded>>>,
}

impl MockServer {
    /// `respond(request, index_of_request)` decides each answer.
    pub async fn start(
        respond: impl Fn(&Recorded, usize) -> Reply + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let log = Arc::new(Mutex::new(Vec::new()));
        let respond: Arc<Responder> = Arc::new(respond);
        let log2 = log.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let log = log2.clone();
                let respond = respond.clone();
                tokio::spawn(async move { serve(stream, log, respond).await });
            }
        });
        Self { base, log }
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.log.lock().unwrap().clone()
    }

    pub fn count(&self, path: &str) -> usize {
        self.requests().iter().filter(|r| r.path() == path).count()
    }
}

async fn serve(mut stream: TcpStream, log: Arc<Mutex<Vec<Recorded>>>, respond: Arc<Responder>) {
    let mut buf = Vec::new();
    loop {
        // Read one request (headers + content-length body); keep-alive loops for the next.
        let header_end = loop {
            if let Some(p) = find(&buf, b"\r\n\r\n") {
                break p;
            }
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..header_end]).to_string();
        let mut lines = head.split("\r\n");
        let mut first = lines.next().unwrap_or("").split(' ');
        let method = first.next().unwrap_or("").to_string();
        let target = first.next().unwrap_or("").to_string();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| {
                l.split_once(':')
                    .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            })
            .collect();
        let len: usize = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let body_start = header_end + 4;
        while buf.len() < body_start + len {
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body = String::from_utf8_lossy(&buf[body_start..body_start + len]).to_string();
        buf.drain(..body_start + len);
        let rec = Recorded {
            method,
            target,
            headers,
            body,
        };
        let index = {
            let mut l = log.lock().unwrap();
            l.push(rec.clone());
            l.len() - 1
        };
        let (status, ctype, body) = match respond(&rec, index) {
            Reply::Json(s, b) => (s, "application/json", b),
            Reply::Raw(s, c, b) => (s, c, b),
            Reply::Delay(d, s, b) => {
                tokio::time::sleep(d).await;
                (s, "application/json", b)
            }
            Reply::Hang => {
                tokio::time::sleep(Duration::from_secs(30)).await;
                return;
            }
            Reply::Reset => {
                // SO_LINGER 0 makes the close an RST, the "connection reset" fault.
                #[allow(deprecated)]
                let _ = stream.set_linger(Some(Duration::ZERO));
                return;
            }
        };
        let out = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: {ctype}\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        if stream.write_all(out.as_bytes()).await.is_err() {
            return;
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
