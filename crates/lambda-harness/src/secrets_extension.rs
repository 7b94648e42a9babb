//! A stand-in for the **AWS Parameters and Secrets Lambda Extension** on loopback, so tests run
//! the functions' secret path exactly as deployed: the function finds it through
//! `PARAMETERS_SECRETS_EXTENSION_HTTP_PORT` on `localhost`, authenticates with
//! `X-Aws-Parameters-Secrets-Token` = `AWS_SESSION_TOKEN`, and reads
//!
//! - `GET /secretsmanager/get?secretId=<name or ARN>` → the `GetSecretValue` JSON
//!   (`ARN`, `Name`, `SecretString`, `VersionId`, `VersionStages`, `CreatedDate`);
//! - `GET /systemsmanager/parameters/get?name=<name or ARN>&withDecryption=true` → the
//!   `GetParameter` JSON (`{"Parameter": {"Name", "Type", "Value", ...}}`).
//!
//! As documented in <https://docs.aws.amazon.com/secretsmanager/latest/userguide/retrieving-secrets_lambda.html>
//! and <https://docs.aws.amazon.com/systems-manager/latest/userguide/ps-integration-lambda-extensions.html>.
//! Error answers modelled on the extension's: a missing or wrong token is 401, an unknown secret
//! or parameter is 400 with the service's exception name (the extension passes the service's
//! 4xx through), an unknown path is 404. A SecureString is only decrypted with
//! `withDecryption=true`. Every request is recorded for assertions.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::sync::oneshot;

use crate::error::HarnessError;

/// One request the extension received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtensionRequest {
    pub path: String,
    /// Query parameters, decoded.
    pub query: Vec<(String, String)>,
    /// Whether `X-Aws-Parameters-Secrets-Token` carried the session token.
    pub authenticated: bool,
    pub status: u16,
}

#[derive(Default)]
struct State {
    secrets: HashMap<String, (String, String)>,
    /// name or ARN → (name, value, SecureString?)
    parameters: HashMap<String, (String, String, bool)>,
    requests: Vec<ExtensionRequest>,
}

struct Shared {
    session_token: String,
    state: Mutex<State>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The running stand-in; stops when dropped.
pub struct SecretsExtension {
    port: u16,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SecretsExtension {
    /// Starts on a free loopback port; requests must carry `session_token`.
    pub fn start(session_token: &str) -> Result<Self, HarnessError> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .map_err(|e| HarnessError::io("binding the secrets extension on 127.0.0.1", e))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| HarnessError::io("configuring the extension socket", e))?;
        let port = listener
            .local_addr()
            .map_err(|e| HarnessError::io("reading the extension address", e))?
            .port();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| HarnessError::io("building the extension's Tokio runtime", e))?;
        let listener = {
            let _guard = rt.enter();
            tokio::net::TcpListener::from_std(listener)
                .map_err(|e| HarnessError::io("registering the extension socket", e))?
        };
        let shared = Arc::new(Shared {
            session_token: session_token.to_string(),
            state: Mutex::new(State::default()),
        });
        let (shutdown_tx, mut shutdown_rx) = oneshot::channel::<()>();
        let server_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("secrets-extension".into())
            .spawn(move || {
                rt.block_on(async move {
                    loop {
                        tokio::select! {
                            _ = &mut shutdown_rx => break,
                            accepted = listener.accept() => match accepted {
                                Ok((stream, _)) => {
                                    let shared = server_shared.clone();
                                    tokio::spawn(async move {
                                        let svc = hyper::service::service_fn(move |req| {
                                            let shared = shared.clone();
                                            async move { Ok::<_, Infallible>(route(&shared, req)) }
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
                });
                rt.shutdown_timeout(Duration::from_millis(200));
            })
            .map_err(|e| HarnessError::io("spawning the extension thread", e))?;
        Ok(Self {
            port,
            shared,
            shutdown: Some(shutdown_tx),
            thread: Some(thread),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The variables Lambda sets that lead a function to this extension.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            (
                "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT",
                self.port.to_string(),
            ),
            ("AWS_SESSION_TOKEN", self.shared.session_token.clone()),
        ]
    }

    /// Stores a Secrets Manager secret under its ARN and its name (the ARN's resource part
    /// without the 6-character suffix, as Secrets Manager resolves both).
    pub fn put_secret(&self, arn: &str, secret_string: &str) {
        let name = secret_name(arn);
        let mut st = self.shared.lock();
        st.secrets.insert(
            arn.to_string(),
            (arn.to_string(), secret_string.to_string()),
        );
        st.secrets
            .insert(name, (arn.to_string(), secret_string.to_string()));
    }

    /// Stores an SSM parameter (a SecureString when `secure`).
    pub fn put_parameter(&self, name: &str, value: &str, secure: bool) {
        self.shared.lock().parameters.insert(
            name.to_string(),
            (name.to_string(), value.to_string(), secure),
        );
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<ExtensionRequest> {
        self.shared.lock().requests.clone()
    }
}

impl Drop for SecretsExtension {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `arn:aws:secretsmanager:us-east-1:111122223333:secret:mindful/client-AbCdEf` → `mindful/client`.
fn secret_name(arn: &str) -> String {
    match arn.split_once(":secret:") {
        Some((_, resource)) => match resource.rsplit_once('-') {
            Some((name, suffix)) if suffix.len() == 6 => name.to_string(),
            _ => resource.to_string(),
        },
        None => arn.to_string(),
    }
}

fn route(shared: &Shared, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_string();
    let query: Vec<(String, String)> = req
        .uri()
        .query()
        .map(|q| {
            form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default();
    let authenticated = req
        .headers()
        .get("X-Aws-Parameters-Secrets-Token")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| !shared.session_token.is_empty() && v == shared.session_token);
    let q = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let mut st = shared.lock();
    let (status, body) = if !authenticated {
        (
            StatusCode::UNAUTHORIZED,
            "missing or invalid X-Aws-Parameters-Secrets-Token".to_string(),
        )
    } else {
        match (req.method().as_str(), path.as_str()) {
            ("GET", "/secretsmanager/get") => match q("secretId")
                .and_then(|id| st.secrets.get(&id).cloned())
            {
                Some((arn, value)) => (
                    StatusCode::OK,
                    json!({
                        "ARN": arn,
                        "Name": secret_name(&arn),
                        "SecretString": value,
                        "VersionId": "00000000-0000-0000-0000-000000000001",
                        "VersionStages": ["AWSCURRENT"],
                        "CreatedDate": "2026-01-01T00:00:00Z"
                    })
                    .to_string(),
                ),
                None => (
                    StatusCode::BAD_REQUEST,
                    "ResourceNotFoundException: Secrets Manager can't find the specified secret."
                        .to_string(),
                ),
            },
            ("GET", "/systemsmanager/parameters/get") => {
                let decrypt = q("withDecryption").as_deref() == Some("true");
                match q("name").and_then(|n| st.parameters.get(&n).cloned()) {
                    Some((name, value, secure)) => {
                        let shown = if secure && !decrypt {
                            format!("AQICAH-encrypted-{}", value.len())
                        } else {
                            value
                        };
                        (
                            StatusCode::OK,
                            json!({
                                "Parameter": {
                                    "ARN": format!("arn:aws:ssm:us-east-1:111122223333:parameter/{}", name.trim_start_matches('/')),
                                    "DataType": "text",
                                    "LastModifiedDate": "2026-01-01T00:00:00Z",
                                    "Name": name,
                                    "Selector": null,
                                    "SourceResult": null,
                                    "Type": if secure { "SecureString" } else { "String" },
                                    "Value": shown,
                                    "Version": 1
                                },
                                "ResultMetadata": {}
                            })
                            .to_string(),
                        )
                    }
                    None => (
                        StatusCode::BAD_REQUEST,
                        "ParameterNotFound: parameter not found".to_string(),
                    ),
                }
            }
            _ => (StatusCode::NOT_FOUND, "not found".to_string()),
        }
    };
    st.requests.push(ExtensionRequest {
        path,
        query,
        authenticated,
        status: status.as_u16(),
    });
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names_from_arns() {
        assert_eq!(
            secret_name(
                "arn:aws:secretsmanager:us-east-1:111122223333:secret:mindful/client-AbCdEf"
            ),
            "mindful/client"
        );
        assert_eq!(secret_name("plain-name"), "plain-name");
    }
}
