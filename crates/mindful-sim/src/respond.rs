//! Response builders shared by the simulated APIs (`server`) and the `/_sim/` control API
//! (`control`): both import from here, neither from the other.

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use serde_json::{json, Value};

pub(crate) type Resp = Response<Full<Bytes>>;

/// `body` as `application/json`.
pub(crate) fn json_resp(status: StatusCode, body: &Value) -> Resp {
    raw_resp(status, "application/json", body.to_string())
}

/// `body` as is, with the content type given.
pub(crate) fn raw_resp(status: StatusCode, content_type: &'static str, body: String) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// `{"error": code, "message": message}`.
pub(crate) fn error(status: StatusCode, code: &str, message: &str) -> Resp {
    json_resp(status, &json!({"error": code, "message": message}))
}

/// 400 `invalid_request` with `message`.
pub(crate) fn invalid_request(message: &str) -> Resp {
    error(StatusCode::BAD_REQUEST, "invalid_request", message)
}
