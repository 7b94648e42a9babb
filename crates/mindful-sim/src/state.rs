//! Shared simulator state: tokens, connecting calls, datastore records, faults, request log.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::{Instant, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::SimConfig;

/// A simulated Mindful route. `Any` only selects faults (and totals in [`crate::Sim::count`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Route {
    /// `POST /oauth2/token`
    Token,
    /// `POST /v2/callback/agentAnswer`
    AgentAnswer,
    /// `POST /api/v1/data_sets`
    DatastorePost,
    /// `GET /api/v1/data_sets/search`
    DatastoreGet,
    /// `GET /api/widget/{widget_id}` (Scheduler API widget status)
    WidgetStatus,
    /// Every route above (faults) / every logged request (counts).
    Any,
}

/// An injected failure. Every kind but `Latency` short-circuits the request: it is not processed
/// (no token issued, no call answered, no record stored).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    /// Wait `ms` milliseconds, then serve normally.
    Latency { ms: u64 },
    /// Never answer (the connection stays open until the client gives up or the sim stops).
    Hang,
    /// Answer with this status code (200-599) and a small JSON body.
    Status { code: u16 },
    /// Answer 200 (202 on agentAnswer) with `application/json` and a truncated JSON body.
    MalformedJson,
    /// Answer 200 with a `text/html` body.
    WrongContentType,
    /// Drop the TCP connection (RST) without any HTTP response.
    Reset,
}

impl Fault {
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Fault::Latency { .. } => "latency",
            Fault::Hang => "hang",
            Fault::Status { .. } => "status",
            Fault::MalformedJson => "malformed_json",
            Fault::WrongContentType => "wrong_content_type",
            Fault::Reset => "reset",
        }
    }
}

/// An active fault rule as listed by `GET /_sim/faults`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FaultRule {
    pub route: Route,
    pub fault: Fault,
    /// Requests still affected; `None` = until cleared.
    pub remaining: Option<u32>,
}

/// One request to a simulated (non-control) route, secrets masked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LoggedRequest {
    /// Sequence number (1, 2, ...; not reset by clearing the log).
    pub id: u64,
    /// Milliseconds since the Unix epoch when the request head arrived.
    pub received_at_ms: u64,
    /// The route, `None` for unknown paths or methods.
    pub route: Option<Route>,
    pub method: String,
    pub path: String,
    /// Raw query string (still percent-encoded), if any.
    pub query: Option<String>,
    /// Headers in arrival order; `authorization` shows only its scheme plus `***`.
    pub headers: Vec<(String, String)>,
    /// Body as UTF-8 (lossy); a form `client_secret` value is masked.
    pub body: String,
    /// Status answered; `None` while pending or when no response was sent (hang, reset).
    pub status: Option<u16>,
    /// Kind of the fault applied, if any.
    pub fault: Option<String>,
}

/// Phase of a registered call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CallState {
    /// Waiting for an agent-answer event.
    Connecting,
    /// An agent-answer event was accepted for it.
    Answered,
    /// Mindful made the offer itself (`CallbackOfferedBy=Mindful`) and the caller declined it:
    /// no callback is registered; the caller stays on the line with the Call Target's hold
    /// treatment, as Mindful configures it.
    Held,
}

/// A call registered through [`crate::Sim::register_call`] or `POST /_sim/calls`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CallRecord {
    pub id: u64,
    /// ANI as registered.
    pub ani: String,
    pub state: CallState,
    /// `data.metadata` of the accepted agent-answer request, if any.
    pub metadata: Option<Value>,
}

/// Request counters as returned by `GET /_sim/stats`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    pub token: usize,
    pub agent_answer: usize,
    pub datastore_post: usize,
    pub datastore_get: usize,
    pub widget_status: usize,
    /// Unknown paths / wrong methods.
    pub other: usize,
    pub total: usize,
}

impl Stats {
    pub(crate) fn get(&self, route: Route) -> usize {
        match route {
            Route::Token => self.token,
            Route::AgentAnswer => self.agent_answer,
            Route::DatastorePost => self.datastore_post,
            Route::DatastoreGet => self.datastore_get,
            Route::WidgetStatus => self.widget_status,
            Route::Any => self.total,
        }
    }
}

pub(crate) struct StoredRecord {
    pub expires: Instant,
    pub time_to_expire: String,
    /// Filtered data keys in submit order.
    pub data: Vec<(String, Value)>,
}

#[derive(Default)]
pub(crate) struct Inner {
    /// access token -> expiry
    pub tokens: HashMap<String, Instant>,
    pub calls: Vec<CallRecord>,
    pub next_call_id: u64,
    /// (template index, stripped number) -> record
    pub records: HashMap<(usize, String), StoredRecord>,
    pub faults: Vec<FaultRule>,
    pub log: VecDeque<LoggedRequest>,
    pub next_request_id: u64,
    pub stats: Stats,
    /// Arrival times of recent Agent Answer requests (rate limit window).
    pub agent_answer_window: VecDeque<Instant>,
    /// `ecbt` (seconds) in Datastore answers, as Mindful sets it once a callback is registered;
    /// `None` (default) answers `null`.
    pub ecbt: Option<u64>,
    /// The Scheduler widget's state and `ewt` from now on; `None` (default) = `offer_callback`
    /// with the `ecbt` above as its `ewt`.
    pub widget: Option<(String, Option<u64>)>,
}

pub(crate) struct Shared {
    pub config: SimConfig,
    inner: Mutex<Inner>,
}

impl Shared {
    pub fn new(config: SimConfig) -> Self {
        Shared {
            config,
            inner: Mutex::new(Inner::default()),
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the maps half-updated in a way that matters
        // for a simulator: keep serving.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn reset(&self) {
        let mut g = self.lock();
        let next_request_id = g.next_request_id;
        let next_call_id = g.next_call_id;
        *g = Inner::default();
        g.next_request_id = next_request_id;
        g.next_call_id = next_call_id;
    }
}

impl Inner {
    pub fn register_call(&mut self, ani: &str) -> u64 {
        self.add_call(ani, CallState::Connecting)
    }

    pub fn add_call(&mut self, ani: &str, state: CallState) -> u64 {
        self.next_call_id += 1;
        let id = self.next_call_id;
        self.calls.push(CallRecord {
            id,
            ani: ani.to_string(),
            state,
            metadata: None,
        });
        id
    }

    /// Answer the most recent connecting call whose ANI has the same digits (leading `+` ignored).
    pub fn answer_call(&mut self, ani: &str, metadata: Option<Value>) -> Option<u64> {
        let want = ani.strip_prefix('+').unwrap_or(ani);
        let call = self.calls.iter_mut().rev().find(|c| {
            c.state == CallState::Connecting && c.ani.strip_prefix('+').unwrap_or(&c.ani) == want
        })?;
        call.state = CallState::Answered;
        call.metadata = metadata;
        Some(call.id)
    }

    pub fn set_fault(&mut self, route: Route, fault: Fault, count: Option<u32>) {
        self.faults.retain(|r| r.route != route);
        if count != Some(0) {
            self.faults.push(FaultRule {
                route,
                fault,
                remaining: count,
            });
        }
    }

    /// Take one use of the fault for `route` (a route-specific rule wins over `any`).
    pub fn take_fault(&mut self, route: Route) -> Option<Fault> {
        let idx = self
            .faults
            .iter()
            .position(|r| r.route == route)
            .or_else(|| self.faults.iter().position(|r| r.route == Route::Any))?;
        let rule = &mut self.faults[idx];
        let fault = rule.fault.clone();
        if let Some(n) = rule.remaining.as_mut() {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.faults.remove(idx);
            }
        }
        Some(fault)
    }

    pub fn log_request(&mut self, mut req: LoggedRequest, max: usize) -> u64 {
        self.next_request_id += 1;
        req.id = self.next_request_id;
        let s = &mut self.stats;
        match req.route {
            Some(Route::Token) => s.token += 1,
            Some(Route::AgentAnswer) => s.agent_answer += 1,
            Some(Route::DatastorePost) => s.datastore_post += 1,
            Some(Route::DatastoreGet) => s.datastore_get += 1,
            Some(Route::WidgetStatus) => s.widget_status += 1,
            Some(Route::Any) | None => s.other += 1,
        }
        s.total += 1;
        if max > 0 {
            while self.log.len() >= max {
                self.log.pop_front();
            }
            self.log.push_back(req);
        }
        self.next_request_id
    }

    pub fn finish_request(&mut self, id: u64, status: Option<u16>) {
        // Entries are in id order; recent ones are at the back.
        if let Some(r) = self.log.iter_mut().rev().find(|r| r.id == id) {
            r.status = status;
        }
    }

    pub fn issue_token(&mut self, token: String, expires: Instant) {
        let now = Instant::now();
        if self.tokens.len() > 1000 {
            self.tokens.retain(|_, exp| *exp > now);
        }
        self.tokens.insert(token, expires);
    }

    pub fn token_live(&self, token: &str) -> bool {
        self.tokens
            .get(token)
            .is_some_and(|exp| Instant::now() < *exp)
    }

    /// Record one Agent Answer arrival; `false` when it exceeds `limit` per rolling second.
    pub fn within_rate_limit(&mut self, limit: u32) -> bool {
        let now = Instant::now();
        while self
            .agent_answer_window
            .front()
            .is_some_and(|t| now.duration_since(*t) >= std::time::Duration::from_secs(1))
        {
            self.agent_answer_window.pop_front();
        }
        if self.agent_answer_window.len() >= limit as usize {
            return false;
        }
        self.agent_answer_window.push_back(now);
        true
    }

    pub fn prune_records(&mut self) {
        if self.records.len() > 10_000 {
            let now = Instant::now();
            self.records.retain(|_, r| r.expires > now);
        }
    }
}

pub(crate) fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn most_recent_connecting_call_wins_and_plus_is_ignored() {
        let mut i = Inner::default();
        let a = i.register_call("+13209071234");
        let b = i.register_call("13209071234");
        assert_eq!(i.answer_call("+13209071234", None), Some(b));
        assert_eq!(i.answer_call("13209071234", None), Some(a));
        assert_eq!(i.answer_call("13209071234", None), None);
    }

    #[test]
    fn fault_counts_and_precedence() {
        let mut i = Inner::default();
        i.set_fault(Route::Any, Fault::Hang, None);
        i.set_fault(Route::Token, Fault::Reset, Some(2));
        assert_eq!(i.take_fault(Route::Token), Some(Fault::Reset));
        assert_eq!(i.take_fault(Route::Token), Some(Fault::Reset));
        assert_eq!(i.take_fault(Route::Token), Some(Fault::Hang));
        assert_eq!(i.take_fault(Route::DatastoreGet), Some(Fault::Hang));
        i.faults.clear();
        assert_eq!(i.take_fault(Route::Token), None);
    }
}
