//! The `/_sim/` control API. Never logged as a simulated request, never subject to faults.

use hyper::body::Bytes;
use hyper::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::respond::{error, invalid_request, json_resp, Resp};
use crate::state::{Fault, Route, Shared};
use crate::util;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CallReq {
    ani: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultReq {
    route: Route,
    fault: Fault,
    count: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WidgetReq {
    widget_state: String,
    ewt: Option<u64>,
}

fn ok() -> Resp {
    json_resp(StatusCode::OK, &json!({"ok": true}))
}

fn to_json<T: serde::Serialize>(v: &T) -> Resp {
    match serde_json::to_value(v) {
        Ok(v) => json_resp(StatusCode::OK, &v),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            &e.to_string(),
        ),
    }
}

pub(crate) fn handle(shared: &Shared, method: &Method, path: &str, body: &Bytes) -> Resp {
    let path = path.trim_end_matches('/');
    match (method, path) {
        (&Method::GET, "/_sim" | "/_sim/health") => json_resp(
            StatusCode::OK,
            &json!({"ok": true, "service": "mindful-sim", "version": env!("CARGO_PKG_VERSION")}),
        ),
        (&Method::POST, "/_sim/calls") => match serde_json::from_slice::<CallReq>(body) {
            Ok(c) if util::valid_ani(&c.ani) => {
                let id = shared.lock().register_call(&c.ani);
                json_resp(
                    StatusCode::CREATED,
                    &json!({"id": id, "ani": c.ani, "state": "connecting"}),
                )
            }
            Ok(_) => invalid_request("ani must match ^\\+?[1-9]\\d{1,14}$"),
            Err(e) => invalid_request(&format!("expected {{\"ani\":\"+1...\"}}: {e}")),
        },
        (&Method::GET, "/_sim/calls") => to_json(&shared.lock().calls),
        (&Method::DELETE, "/_sim/calls") => {
            shared.lock().calls.clear();
            ok()
        }
        (&Method::GET, "/_sim/requests") => to_json(&shared.lock().log),
        (&Method::DELETE, "/_sim/requests") => {
            let mut g = shared.lock();
            g.log.clear();
            g.stats = Default::default();
            ok()
        }
        (&Method::GET, "/_sim/stats") => to_json(&shared.lock().stats),
        (&Method::GET, "/_sim/faults") => to_json(&shared.lock().faults),
        (&Method::POST, "/_sim/faults") => match serde_json::from_slice::<FaultReq>(body) {
            Ok(FaultReq {
                fault: Fault::Status { code },
                ..
            }) if !(200..=599).contains(&code) => invalid_request("status code must be 200-599"),
            Ok(f) => {
                shared.lock().set_fault(f.route, f.fault, f.count);
                ok()
            }
            Err(e) => invalid_request(&format!("invalid fault: {e}")),
        },
        (&Method::DELETE, "/_sim/faults") => {
            shared.lock().faults.clear();
            ok()
        }
        (&Method::GET, "/_sim/records") => {
            let g = shared.lock();
            let now = std::time::Instant::now();
            let mut out: Vec<Value> = g
                .records
                .iter()
                .filter(|(_, r)| r.expires > now)
                .map(|((tpl, key), r)| {
                    let tpl_id = shared.config.templates.get(*tpl).map(|t| t.id.as_str());
                    json!({
                        "data_set_template_id": tpl_id,
                        "customer_contact_number": key,
                        "time_to_expire": r.time_to_expire,
                        "data_values": r.data.iter().cloned().collect::<serde_json::Map<_, _>>(),
                    })
                })
                .collect();
            out.sort_by_key(|v| v.to_string());
            json_resp(StatusCode::OK, &Value::Array(out))
        }
        (&Method::POST, "/_sim/widget") => match serde_json::from_slice::<WidgetReq>(body) {
            Ok(w) if !w.widget_state.trim().is_empty() => {
                shared.lock().widget = Some((w.widget_state, w.ewt));
                ok()
            }
            Ok(_) => invalid_request("widget_state must not be empty"),
            Err(e) => invalid_request(&format!(
                "expected {{\"widget_state\":\"…\",\"ewt\":seconds}}: {e}"
            )),
        },
        (&Method::POST, "/_sim/reset") => {
            shared.reset();
            ok()
        }
        _ => error(StatusCode::NOT_FOUND, "not_found", "unknown control route"),
    }
}
