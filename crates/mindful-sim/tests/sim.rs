//! The simulator over real HTTP on loopback. It is a product part: a wrong simulator hides bugs.

use std::time::{Duration, Instant};

use base64::Engine as _;
use mindful_sim::{
    CallState, Fault, Route, Sim, SimConfig, TemplateConfig, DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET, DEFAULT_DATASTORE_TOKEN,
};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

const ANI: &str = "+13209071234";

/// reqwest is built without a default crypto provider (as in the functions): install ring's.
fn builder() -> reqwest::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::builder()
}

/// One client per test thread (building one costs ~20 ms of CPU in debug builds). No idle
/// connections are kept, so nothing outlives the test runtime or leaks into the next simulator.
fn client() -> Client {
    thread_local! {
        static CLIENT: Client = builder()
            .timeout(Duration::from_secs(5))
            .pool_max_idle_per_host(0)
            .build()
            .unwrap();
    }
    CLIENT.with(Client::clone)
}

async fn sim() -> Sim {
    sim_with(SimConfig::default()).await
}

async fn sim_with(config: SimConfig) -> Sim {
    mindful_sim::start(config).await.unwrap()
}

/// A simulator with the default configuration, changed by `change`.
async fn sim_where(change: impl FnOnce(&mut SimConfig)) -> Sim {
    let mut config = SimConfig::default();
    change(&mut config);
    sim_with(config).await
}

/// The URL of `path` (e.g. `/_sim/calls`) on the simulator.
fn at(sim: &Sim, path: &str) -> String {
    format!("{}{path}", sim.base_url())
}

/// Sends a request; a transport error fails the test.
async fn send(rb: reqwest::RequestBuilder) -> reqwest::Response {
    rb.send().await.unwrap()
}

/// GET `path` without credentials.
async fn get(sim: &Sim, path: &str) -> reqwest::Response {
    send(client().get(at(sim, path))).await
}

/// GET `path` without credentials and parse the JSON body.
async fn get_json(sim: &Sim, path: &str) -> Value {
    get(sim, path).await.json().await.unwrap()
}

/// POST a JSON `body` to `path` without credentials.
async fn post_json(sim: &Sim, path: &str, body: &Value) -> reqwest::Response {
    send(client().post(at(sim, path)).json(body)).await
}

/// POST to `path` without credentials or body; the status.
async fn post_status(sim: &Sim, path: &str) -> StatusCode {
    send(client().post(at(sim, path))).await.status()
}

/// DELETE `path` without credentials; the status.
async fn delete_status(sim: &Sim, path: &str) -> StatusCode {
    send(client().delete(at(sim, path))).await.status()
}

async fn token_req(sim: &Sim, id: &str, secret: &str) -> reqwest::Response {
    send(
        client()
            .post(sim.token_url())
            .basic_auth(id, Some(secret))
            .form(&[("grant_type", "client_credentials")]),
    )
    .await
}

async fn access_token(sim: &Sim) -> String {
    let r = token_req(sim, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET).await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    v["access_token"].as_str().unwrap().to_string()
}

async fn agent_answer(sim: &Sim, token: &str, body: Value) -> (StatusCode, Value) {
    let r = send(
        client()
            .post(sim.agent_answer_url())
            .bearer_auth(token)
            .json(&body),
    )
    .await;
    let s = r.status();
    (s, r.json().await.unwrap_or(Value::Null))
}

async fn ds_post(sim: &Sim, token: &str, number: &str, values: Value) -> (StatusCode, Value) {
    let r = send(
        client()
            .post(at(sim, "/api/v1/data_sets"))
            .bearer_auth(token)
            .json(&json!({"customer_contact_number": number, "data_values": values})),
    )
    .await;
    let s = r.status();
    (s, r.json().await.unwrap_or(Value::Null))
}

async fn ds_get(sim: &Sim, token: &str, number: &str) -> (StatusCode, Value) {
    let r = send(
        client()
            .get(at(sim, "/api/v1/data_sets/search"))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .query(&[("customer_contact_number", number)]),
    )
    .await;
    let s = r.status();
    (s, r.json().await.unwrap_or(Value::Null))
}

/// POST `body` as written to `url` with `token`, labelled `content_type` (or not labelled);
/// the status.
async fn post_body(
    url: &str,
    token: &str,
    content_type: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> StatusCode {
    let mut rb = client().post(url).bearer_auth(token);
    if let Some(ct) = content_type {
        rb = rb.header("content-type", ct);
    }
    send(rb.body(body)).await.status()
}

/// GET the datastore search with `query` as written (not encoded; `""` for none).
async fn ds_search_raw(sim: &Sim, token: &str, query: &str) -> reqwest::Response {
    let url = at(sim, &format!("/api/v1/data_sets/search{query}"));
    send(client().get(url).bearer_auth(token)).await
}

// ---------------------------------------------------------------- token

#[tokio::test]
async fn token_success_and_errors() {
    let sim = sim().await;
    let r = token_req(&sim, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["expires_in"], 3600);
    assert!(v["access_token"].as_str().unwrap().len() >= 32);

    // Wrong secret, unknown client, no Authorization, non-Basic scheme, garbage base64.
    for r in [
        token_req(&sim, DEFAULT_CLIENT_ID, "wrong").await,
        token_req(&sim, "someone", DEFAULT_CLIENT_SECRET).await,
    ] {
        assert_eq!(r.status(), 401);
        assert_eq!(
            r.json::<Value>().await.unwrap(),
            json!({"error": "invalid_client"})
        );
    }
    for auth in [
        None,
        Some("Bearer x"),
        Some("Basic !!!notbase64"),
        Some("Basic"),
    ] {
        let mut rb = client()
            .post(sim.token_url())
            .form(&[("grant_type", "client_credentials")]);
        if let Some(a) = auth {
            rb = rb.header("authorization", a);
        }
        let r = send(rb).await;
        assert_eq!(r.status(), 401, "{auth:?}");
    }

    // Right credentials, bad body.
    let basic =
        |rb: reqwest::RequestBuilder| rb.basic_auth(DEFAULT_CLIENT_ID, Some(DEFAULT_CLIENT_SECRET));
    let r = send(basic(client().post(sim.token_url())).form(&[("grant_type", "password")])).await;
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"],
        "unsupported_grant_type"
    );
    let r = send(basic(client().post(sim.token_url())).form(&[("scope", "x")])).await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_request");
    let r = send(
        basic(client().post(sim.token_url())).json(&json!({"grant_type": "client_credentials"})),
    )
    .await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_request");
    let r = send(basic(client().get(sim.token_url()))).await;
    assert_eq!(r.status(), 405);
    assert_eq!(sim.count(Route::Token), 10);
    assert_eq!(sim.count(Route::Any), 11);
}

#[tokio::test]
async fn token_expires_after_its_lifetime() {
    let sim = sim_where(|c| c.token_lifetime_secs = 1).await;
    let r = token_req(&sim, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET).await;
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["expires_in"], 1);
    let token = v["access_token"].as_str().unwrap().to_string();
    let body = json!({"data": {"ani": ANI}});
    // Live token: passes auth (no call connecting -> 404).
    assert_eq!(agent_answer(&sim, &token, body.clone()).await.0, 404);
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_eq!(agent_answer(&sim, &token, body.clone()).await.0, 401);
    // A fresh token works again.
    let fresh = access_token(&sim).await;
    assert_eq!(agent_answer(&sim, &fresh, body).await.0, 404);
}

// ---------------------------------------------------------------- agent answer

#[tokio::test]
async fn agent_answer_auth() {
    let sim = sim().await;
    sim.register_call(ANI);
    let body = json!({"data": {"ani": ANI}});
    assert_eq!(agent_answer(&sim, "not-issued", body.clone()).await.0, 401);
    // The datastore token is not an access token.
    assert_eq!(
        agent_answer(&sim, DEFAULT_DATASTORE_TOKEN, body.clone())
            .await
            .0,
        401
    );
    let r = send(client().post(sim.agent_answer_url()).json(&body)).await;
    assert_eq!(r.status(), 401);
    // The 401s did not consume the call.
    assert_eq!(sim.calls()[0].state, CallState::Connecting);
}

#[tokio::test]
async fn agent_answer_schema() {
    let sim = sim().await;
    let token = access_token(&sim).await;
    for ani in [
        "+0123",
        "0123",
        "1",
        "+",
        "",
        "+1 320 907 1234",
        "(320) 907-1234",
        "1234567890123456",
    ] {
        sim.register_call(ani);
        let (s, _) = agent_answer(&sim, &token, json!({"data": {"ani": ani}})).await;
        assert_eq!(s, 400, "ani {ani:?}");
    }
    for body in [
        json!({}),
        json!({"ani": ANI}),
        json!({"data": {}}),
        json!({"data": {"ani": 13209071234_u64}}),
        json!({"data": {"ani": ANI, "metadata": {}}}),
        json!({"data": {"ani": ANI, "metadata": null}}),
        json!({"data": {"ani": ANI, "metadata": "a1"}}),
        json!({"data": {"ani": ANI, "metadata": {"agentId": 7}}}),
        json!([]),
    ] {
        sim.register_call(ANI);
        let (s, v) = agent_answer(&sim, &token, body.clone()).await;
        assert_eq!(s, 400, "{body}");
        assert_eq!(v["error"], "invalid_request");
    }
    // Not JSON / wrong content type.
    let url = sim.agent_answer_url();
    let json_type = Some("application/json");
    assert_eq!(post_body(&url, &token, json_type, "{\"data\":").await, 400);
    let body = json!({"data": {"ani": ANI}}).to_string();
    assert_eq!(post_body(&url, &token, None, body).await, 415);
    // None of those answered a call.
    assert!(sim.calls().iter().all(|c| c.state == CallState::Connecting));
}

#[tokio::test]
async fn agent_answer_404_then_202_most_recent_wins() {
    let sim = sim().await;
    let token = access_token(&sim).await;
    let body = json!({"data": {"ani": ANI, "metadata": {"agentId": "a1", "queueId": "q1"}}});
    assert_eq!(agent_answer(&sim, &token, body.clone()).await.0, 404);

    let older = sim.register_call(ANI);
    // Registered over the control API, without the '+': the same digits.
    let r = post_json(&sim, "/_sim/calls", &json!({"ani": "13209071234"})).await;
    assert_eq!(r.status(), 201);
    let newer = r.json::<Value>().await.unwrap()["id"].as_u64().unwrap();
    sim.register_call("+14155550100"); // another caller

    let (s, v) = agent_answer(&sim, &token, body.clone()).await;
    assert_eq!(s, 202);
    assert!(v.is_object());
    let calls = sim.calls();
    let by_id = |id| calls.iter().find(|c| c.id == id).unwrap().clone();
    assert_eq!(by_id(newer).state, CallState::Answered);
    assert_eq!(
        by_id(newer).metadata,
        Some(json!({"agentId": "a1", "queueId": "q1"}))
    );
    assert_eq!(by_id(older).state, CallState::Connecting);

    // ANI without '+' reaches the remaining (older) call; then nothing is connecting.
    let (s, _) = agent_answer(&sim, &token, json!({"data": {"ani": "13209071234"}})).await;
    assert_eq!(s, 202);
    assert_eq!(
        sim.calls().iter().find(|c| c.id == older).unwrap().state,
        CallState::Answered
    );
    assert_eq!(agent_answer(&sim, &token, body).await.0, 404);

    // Control API: invalid ANI refused, list visible over HTTP.
    let r = post_json(&sim, "/_sim/calls", &json!({"ani": "call me"})).await;
    assert_eq!(r.status(), 400);
    let list = get_json(&sim, "/_sim/calls").await;
    assert_eq!(list.as_array().unwrap().len(), 3);
    assert_eq!(sim.count(Route::AgentAnswer), 4);
}

#[tokio::test]
async fn agent_answer_rate_limit() {
    let sim = sim_where(|c| c.agent_answer_rate_limit = Some(3)).await;
    let token = access_token(&sim).await;
    sim.register_call(ANI);
    let body = json!({"data": {"ani": ANI}});
    let t0 = Instant::now();
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(agent_answer(&sim, &token, body.clone()).await.0.as_u16());
    }
    // Five sequential loopback requests normally take a few ms; on a starved machine the premise
    // (all inside one window) may not hold, and then only the weaker property is checked.
    if t0.elapsed() < Duration::from_millis(900) {
        assert_eq!(statuses, vec![202, 404, 404, 429, 429]);
    } else {
        assert_eq!(&statuses[..3], &[202, 404, 404]);
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(agent_answer(&sim, &token, body).await.0, 404);
}

// ---------------------------------------------------------------- datastore

fn templates_config() -> SimConfig {
    SimConfig {
        templates: vec![
            TemplateConfig {
                data_keys: vec!["AccountNo".into(), "Reason".into()],
                id: "tmpl-a".into(),
                name: "Callback context".into(),
                ..TemplateConfig::new("token-a/+=")
            },
            TemplateConfig {
                id: "tmpl-b".into(),
                name: "All keys".into(),
                retention_secs: 1,
                ..TemplateConfig::new("token-b")
            },
        ],
        ..SimConfig::default()
    }
}

#[tokio::test]
async fn datastore_auth() {
    let sim = sim().await;
    for token in [None, Some("wrong"), Some("sim-client")] {
        let mut post = client()
            .post(at(&sim, "/api/v1/data_sets"))
            .json(&json!({"customer_contact_number": ANI, "data_values": {"a": "b"}}));
        let mut get = client()
            .get(at(&sim, "/api/v1/data_sets/search"))
            .query(&[("customer_contact_number", ANI)]);
        if let Some(t) = token {
            post = post.bearer_auth(t);
            get = get.bearer_auth(t);
        }
        for rb in [post, get] {
            let r = send(rb).await;
            assert_eq!(r.status(), 401);
            assert_eq!(
                r.json::<Value>().await.unwrap(),
                json!({"error": "InvalidToken"})
            );
        }
    }
    // An OAuth access token is not a template token.
    let at = access_token(&sim).await;
    assert_eq!(ds_get(&sim, &at, ANI).await.0, 401);
    assert!(sim
        .requests()
        .iter()
        .all(|r| r.status != Some(200) || r.route == Some(Route::Token)));
}

#[tokio::test]
async fn datastore_post_then_get() {
    let sim = sim().await;
    let t = DEFAULT_DATASTORE_TOKEN;
    assert_eq!(ds_get(&sim, t, ANI).await.0, 404);

    let before = std::time::SystemTime::now();
    let (s, v) = ds_post(
        &sim,
        t,
        ANI,
        json!({"AccountNo": "12345", "Reason": "billing"}),
    )
    .await;
    assert_eq!(s, 200);
    let obj = v.as_object().unwrap();
    assert_eq!(v["organization"], json!({"id": "org-sim"}));
    assert_eq!(v["customer_contact_number"], ANI);
    assert_eq!(v["ani"], ANI);
    assert_eq!(v["ecbt"], Value::Null);
    assert_eq!(v["data_set_template_id"], "tmpl-sim");
    assert_eq!(v["data_set_template_name"], "Sim Template");
    assert_eq!(v["AccountNo"], "12345");
    assert_eq!(v["Reason"], "billing");
    assert_eq!(obj.len(), 9, "{v}");
    // time_to_expire = now + 48 h, ISO-8601 UTC with millis.
    let tte = v["time_to_expire"].as_str().unwrap();
    assert_eq!(tte.len(), "2026-05-01T12:00:00.000Z".len(), "{tte}");
    assert!(tte.ends_with('Z') && tte.as_bytes()[10] == b'T');
    let want = before
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 48 * 3600;
    let got = parse_iso(tte);
    assert!(got >= want && got <= want + 5, "{tte}");

    let (s, g) = ds_get(&sim, t, ANI).await;
    assert_eq!(s, 200);
    let mut expected = v.clone();
    expected.as_object_mut().unwrap().remove("organization");
    assert_eq!(g, expected);

    // POST again replaces the record.
    let (s, _) = ds_post(&sim, t, ANI, json!({"Reason": "sales"})).await;
    assert_eq!(s, 200);
    let (_, g) = ds_get(&sim, t, ANI).await;
    assert_eq!(g["Reason"], "sales");
    assert!(g.get("AccountNo").is_none());
    assert_eq!(sim.count(Route::DatastorePost), 2);
    assert_eq!(sim.count(Route::DatastoreGet), 3);
}

#[tokio::test]
async fn a_stored_record_is_what_a_post_would_have_stored() {
    let sim = sim().await;
    let t = DEFAULT_DATASTORE_TOKEN;
    let values = json!({"AccountNo": "12345", "Reason": "billing", "ani": "spoofed"});
    assert!(sim.store_record(ANI, values.as_object().unwrap()));
    let (s, stored) = ds_get(&sim, t, ANI).await;
    assert_eq!(s, 200);
    // The same record through the API, for comparison (the reserved `ani` is dropped by both).
    let other = "+447946095813";
    assert_eq!(ds_post(&sim, t, other, values.clone()).await.0, 200);
    let (_, posted) = ds_get(&sim, t, other).await;
    for key in ["AccountNo", "Reason", "data_set_template_id", "ecbt"] {
        assert_eq!(stored[key], posted[key], "{key}");
    }
    assert_eq!(stored["ani"], ANI);
    // Nothing went through the API to store it; a non-number is refused.
    assert_eq!(sim.count(Route::DatastorePost), 1);
    assert!(!sim.store_record("call me", values.as_object().unwrap()));
}

/// Seconds since the epoch of `YYYY-MM-DDTHH:MM:SS.mmmZ`.
fn parse_iso(s: &str) -> u64 {
    let n = |a: usize, b: usize| s[a..b].parse::<i64>().unwrap();
    let (y, m, d) = (n(0, 4), n(5, 7), n(8, 10));
    assert_eq!(&s[19..20], ".");
    // days_from_civil (H. Hinnant)
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    (days * 86_400 + n(11, 13) * 3600 + n(14, 16) * 60 + n(17, 19)) as u64
}

#[tokio::test]
async fn datastore_number_stripping_and_exact_keys() {
    let sim = sim().await;
    let t = DEFAULT_DATASTORE_TOKEN;
    // Submitted with punctuation: stored without it, country code and '+' kept.
    let (s, v) = ds_post(&sim, t, "+1 (320) 907-1234", json!({"k": "plus"})).await;
    assert_eq!(s, 200);
    assert_eq!(v["customer_contact_number"], "+13209071234");
    let (_, v) = ds_post(&sim, t, "1.320.907.1234", json!({"k": "one"})).await;
    assert_eq!(v["customer_contact_number"], "13209071234");
    let (_, v) = ds_post(&sim, t, "555-555-5555", json!({"k": "national"})).await;
    assert_eq!(v["customer_contact_number"], "5555555555");

    // '+1…', '1…' and national are three different keys.
    assert_eq!(ds_get(&sim, t, "+13209071234").await.1["k"], "plus");
    assert_eq!(ds_get(&sim, t, "+1 320-907-1234").await.1["k"], "plus");
    assert_eq!(ds_get(&sim, t, "13209071234").await.1["k"], "one");
    assert_eq!(ds_get(&sim, t, "(555) 555-5555").await.1["k"], "national");
    assert_eq!(ds_get(&sim, t, "3209071234").await.0, 404);
    assert_eq!(ds_get(&sim, t, "+15555555555").await.0, 404);

    // A raw, unencoded '+' in the query decodes to a space: it finds the '1…' key, not '+1…'.
    let r = ds_search_raw(&sim, t, "?customer_contact_number=+13209071234").await;
    assert_eq!(r.json::<Value>().await.unwrap()["k"], "one");

    // Invalid numbers: GET 404, POST 400.
    for bad in ["12", "abc", "1234567890123456", "+1/320/907", ""] {
        assert_eq!(ds_get(&sim, t, bad).await.0, 404, "{bad:?}");
        assert_eq!(ds_post(&sim, t, bad, json!({})).await.0, 400, "{bad:?}");
    }
    let r = ds_search_raw(&sim, t, "").await;
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn datastore_bad_bodies() {
    let sim = sim().await;
    let url = at(&sim, "/api/v1/data_sets");
    let t = DEFAULT_DATASTORE_TOKEN;
    for body in [
        json!({}),
        json!({"customer_contact_number": ANI}),
        json!({"data_values": {}}),
        json!({"customer_contact_number": 13209071234_u64, "data_values": {}}),
        json!({"customer_contact_number": ANI, "data_values": "x"}),
        json!({"customer_contact_number": ANI, "data_values": ["x"]}),
    ] {
        let r = send(client().post(&url).bearer_auth(t).json(&body)).await;
        assert_eq!(r.status(), 400, "{body}");
    }
    let json_type = Some("application/json");
    assert_eq!(post_body(&url, t, json_type, "not json").await, 400);
    let body = json!({"customer_contact_number": ANI, "data_values": {}}).to_string();
    assert_eq!(post_body(&url, t, None, body).await, 415);
    assert_eq!(ds_get(&sim, t, ANI).await.0, 404);
}

#[tokio::test]
async fn datastore_key_filtering_and_template_scope() {
    let sim = sim_with(templates_config()).await;
    let values = json!({"AccountNo": "42", "Reason": "billing", "Secret": "x", "ani": "spoof"});
    let (s, v) = ds_post(&sim, "token-a/+=", ANI, values.clone()).await;
    assert_eq!(s, 200);
    assert_eq!(v["data_set_template_id"], "tmpl-a");
    assert_eq!(v["data_set_template_name"], "Callback context");
    assert_eq!(v["AccountNo"], "42");
    assert_eq!(v["Reason"], "billing");
    assert!(v.get("Secret").is_none(), "unknown key kept: {v}");
    assert_eq!(v["ani"], ANI, "a data key must not override a fixed field");
    let (_, g) = ds_get(&sim, "token-a/+=", ANI).await;
    assert!(g.get("Secret").is_none());
    assert_eq!(g["AccountNo"], "42");

    // Template b keeps all keys, and does not see template a's record.
    assert_eq!(ds_get(&sim, "token-b", ANI).await.0, 404);
    let (_, v) = ds_post(&sim, "token-b", ANI, values).await;
    assert_eq!(v["Secret"], "x");
    assert_eq!(v["data_set_template_id"], "tmpl-b");
    // The default template is not configured here.
    assert_eq!(ds_get(&sim, DEFAULT_DATASTORE_TOKEN, ANI).await.0, 401);
}

#[tokio::test]
async fn datastore_retention_expiry() {
    let sim = sim_with(templates_config()).await;
    ds_post(&sim, "token-b", ANI, json!({"k": "v"})).await;
    ds_post(&sim, "token-a/+=", ANI, json!({"Reason": "r"})).await;
    assert_eq!(ds_get(&sim, "token-b", ANI).await.0, 200);
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_eq!(ds_get(&sim, "token-b", ANI).await.0, 404);
    // 48 h template still has its record.
    assert_eq!(ds_get(&sim, "token-a/+=", ANI).await.0, 200);
}

// ---------------------------------------------------------------- faults

async fn set_fault_http(sim: &Sim, body: Value) -> StatusCode {
    post_json(sim, "/_sim/faults", &body).await.status()
}

#[tokio::test]
async fn fault_status_with_count_then_normal() {
    let sim = sim().await;
    let s = set_fault_http(
        &sim,
        json!({"route": "token", "fault": {"kind": "status", "code": 503}, "count": 2}),
    )
    .await;
    assert_eq!(s, 200);
    for _ in 0..2 {
        let r = token_req(&sim, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET).await;
        assert_eq!(r.status(), 503);
        assert_eq!(r.headers()["content-type"], "application/json");
        assert!(r.json::<Value>().await.is_ok());
    }
    assert_eq!(
        token_req(&sim, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)
            .await
            .status(),
        200
    );

    // 429 on agent answer until cleared; the call is not consumed meanwhile.
    let token = access_token(&sim).await;
    sim.register_call(ANI);
    sim.set_fault(Route::AgentAnswer, Fault::Status { code: 429 }, None);
    for _ in 0..3 {
        assert_eq!(
            agent_answer(&sim, &token, json!({"data": {"ani": ANI}}))
                .await
                .0,
            429
        );
    }
    assert_eq!(sim.calls()[0].state, CallState::Connecting);
    assert_eq!(delete_status(&sim, "/_sim/faults").await, 200);
    assert_eq!(
        agent_answer(&sim, &token, json!({"data": {"ani": ANI}}))
            .await
            .0,
        202
    );

    let log = sim.requests();
    assert_eq!(log[0].fault.as_deref(), Some("status"));
    assert_eq!(log[0].status, Some(503));
    assert_eq!(log[2].fault, None);

    // Invalid fault documents are refused.
    for bad in [
        json!({"route": "token", "fault": {"kind": "status", "code": 99}}),
        json!({"route": "nope", "fault": {"kind": "hang"}}),
        json!({"route": "token", "fault": {"kind": "explode"}}),
        json!({"route": "token"}),
    ] {
        assert_eq!(set_fault_http(&sim, bad.clone()).await, 400, "{bad}");
    }
}

#[tokio::test]
async fn fault_latency_delays_then_serves() {
    let sim = sim().await;
    assert_eq!(
        set_fault_http(
            &sim,
            json!({"route": "datastore_get", "fault": {"kind": "latency", "ms": 400}, "count": 1})
        )
        .await,
        200
    );
    ds_post(&sim, DEFAULT_DATASTORE_TOKEN, ANI, json!({"k": "v"})).await;
    let t0 = Instant::now();
    let (s, v) = ds_get(&sim, DEFAULT_DATASTORE_TOKEN, ANI).await;
    let took = t0.elapsed();
    assert_eq!(s, 200);
    assert_eq!(v["k"], "v");
    assert!(took >= Duration::from_millis(400), "{took:?}");
    // count = 1: the next request is not delayed.
    assert_eq!(ds_get(&sim, DEFAULT_DATASTORE_TOKEN, ANI).await.0, 200);
    let log = sim.requests();
    assert_eq!(log[1].fault.as_deref(), Some("latency"));
    assert_eq!(log[2].fault, None);
    assert!(sim.requests().iter().all(|r| r.status == Some(200)));
}

#[tokio::test]
async fn fault_hang_until_client_timeout() {
    let sim = sim().await;
    sim.set_fault(Route::Token, Fault::Hang, Some(1));
    let quick = builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let t0 = Instant::now();
    let err = quick
        .post(sim.token_url())
        .basic_auth(DEFAULT_CLIENT_ID, Some(DEFAULT_CLIENT_SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert!(t0.elapsed() < Duration::from_secs(2));
    // The log shows the request with no status; the next request is served.
    let log = sim.requests();
    assert_eq!(log[0].fault.as_deref(), Some("hang"));
    assert_eq!(log[0].status, None);
    assert_eq!(
        token_req(&sim, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)
            .await
            .status(),
        200
    );
    // Shutting down with a hung request pending does not block.
    sim.set_fault(Route::Any, Fault::Hang, None);
    let url = sim.token_url();
    let pending = tokio::spawn(async move { client().post(url).send().await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let t0 = Instant::now();
    sim.shutdown();
    let res = tokio::time::timeout(Duration::from_secs(3), pending)
        .await
        .expect("hung request released on shutdown")
        .unwrap();
    assert!(res.is_err());
    assert!(t0.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn fault_reset_drops_the_connection() {
    let sim = sim().await;
    assert_eq!(
        set_fault_http(
            &sim,
            json!({"route": "agent_answer", "fault": {"kind": "reset"}, "count": 1})
        )
        .await,
        200
    );
    let token = access_token(&sim).await;
    sim.register_call(ANI);
    let err = client()
        .post(sim.agent_answer_url())
        .bearer_auth(&token)
        .json(&json!({"data": {"ani": ANI}}))
        .send()
        .await
        .unwrap_err();
    assert!(!err.is_timeout(), "{err:?}");
    assert!(err.status().is_none());
    assert_eq!(sim.calls()[0].state, CallState::Connecting);
    assert_eq!(
        agent_answer(&sim, &token, json!({"data": {"ani": ANI}}))
            .await
            .0,
        202
    );

    // At the TCP level: no HTTP bytes at all before the connection ends.
    sim.set_fault(Route::Token, Fault::Reset, Some(1));
    let raw = raw_http(
        sim.addr(),
        "POST /oauth2/token HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
    )
    .await;
    assert!(raw.is_empty(), "got {raw:?}");
}

async fn raw_http(addr: std::net::SocketAddr, req: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(3), s.read_to_end(&mut buf))
        .await
        .expect("connection ended");
    String::from_utf8_lossy(&buf).into_owned()
}

#[tokio::test]
async fn fault_malformed_json_and_wrong_content_type() {
    let sim = sim().await;
    sim.set_fault(Route::Token, Fault::MalformedJson, Some(1));
    let r = token_req(&sim, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    assert!(r.json::<Value>().await.is_err());

    let token = access_token(&sim).await;
    sim.set_fault(Route::AgentAnswer, Fault::MalformedJson, Some(1));
    let r = send(
        client()
            .post(sim.agent_answer_url())
            .bearer_auth(&token)
            .json(&json!({"data": {"ani": ANI}})),
    )
    .await;
    assert_eq!(r.status(), 202);
    assert!(r.json::<Value>().await.is_err());

    for route in [Route::DatastorePost, Route::DatastoreGet] {
        sim.set_fault(route, Fault::MalformedJson, Some(1));
    }
    let r = send(
        client()
            .post(at(&sim, "/api/v1/data_sets"))
            .bearer_auth(DEFAULT_DATASTORE_TOKEN)
            .json(&json!({"customer_contact_number": ANI, "data_values": {}})),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert!(r.json::<Value>().await.is_err());
    let r = ds_search_raw(&sim, DEFAULT_DATASTORE_TOKEN, "?customer_contact_number=1").await;
    assert_eq!(r.status(), 200);
    assert!(r.json::<Value>().await.is_err());

    // wrong_content_type on every route via "any".
    assert_eq!(
        set_fault_http(
            &sim,
            json!({"route": "any", "fault": {"kind": "wrong_content_type"}})
        )
        .await,
        200
    );
    let (s, _) = agent_answer(&sim, &token, json!({"data": {"ani": ANI}})).await;
    assert_eq!(s, 200);
    let r = ds_search_raw(&sim, DEFAULT_DATASTORE_TOKEN, "?customer_contact_number=1").await;
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(r.text().await.unwrap().contains("<html>"));
    // Control routes are never faulted, nor logged.
    let n = sim.requests().len();
    let r = get(&sim, "/_sim/stats").await;
    assert_eq!(r.status(), 200);
    let stats: Value = r.json().await.unwrap();
    assert_eq!(stats["total"].as_u64().unwrap() as usize, n);
    assert_eq!(sim.requests().len(), n);
}

#[tokio::test]
async fn route_specific_fault_wins_over_any() {
    let sim = sim().await;
    sim.set_fault(Route::Any, Fault::Status { code: 500 }, None);
    sim.set_fault(Route::Token, Fault::Status { code: 502 }, Some(1));
    assert_eq!(
        token_req(&sim, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)
            .await
            .status(),
        502
    );
    assert_eq!(
        token_req(&sim, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)
            .await
            .status(),
        500
    );
    assert_eq!(ds_get(&sim, DEFAULT_DATASTORE_TOKEN, ANI).await.0, 500);
    // Unknown paths are not faulted.
    assert_eq!(get(&sim, "/v2/other").await.status(), 404);
    let faults = get_json(&sim, "/_sim/faults").await;
    assert_eq!(
        faults,
        json!([{"route": "any", "fault": {"kind": "status", "code": 500}, "remaining": null}])
    );
    sim.clear_faults();
    assert_eq!(
        token_req(&sim, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)
            .await
            .status(),
        200
    );
}

// ---------------------------------------------------------------- log, stats, reset

#[tokio::test]
async fn request_log_masks_secrets() {
    let sim = sim().await;
    let token = access_token(&sim).await;
    sim.register_call(ANI);
    agent_answer(&sim, &token, json!({"data": {"ani": ANI}})).await;
    ds_post(&sim, DEFAULT_DATASTORE_TOKEN, ANI, json!({"k": "v"})).await;
    ds_get(&sim, DEFAULT_DATASTORE_TOKEN, ANI).await;
    // A client sending its secret in the form body (client_secret_post) is masked too.
    send(client().post(sim.token_url()).form(&[
        ("grant_type", "client_credentials"),
        ("client_id", DEFAULT_CLIENT_ID),
        ("client_secret", DEFAULT_CLIENT_SECRET),
    ]))
    .await;

    let over_http = get(&sim, "/_sim/requests").await.text().await.unwrap();
    let in_process = format!("{:?}", sim.requests());
    let basic = base64::engine::general_purpose::STANDARD
        .encode(format!("{DEFAULT_CLIENT_ID}:{DEFAULT_CLIENT_SECRET}"));
    for text in [&over_http, &in_process] {
        for secret in [
            DEFAULT_CLIENT_SECRET,
            token.as_str(),
            DEFAULT_DATASTORE_TOKEN,
            basic.as_str(),
        ] {
            assert!(!text.contains(secret), "{secret} leaked into {text}");
        }
        assert!(text.contains("Bearer ***"));
        assert!(text.contains("Basic ***"));
        assert!(text.contains("client_secret=***"));
    }
    let log: Value = serde_json::from_str(&over_http).unwrap();
    let log = log.as_array().unwrap();
    assert_eq!(log.len(), 5);
    assert_eq!(log[1]["route"], "agent_answer");
    assert_eq!(log[1]["method"], "POST");
    assert_eq!(log[1]["path"], "/v2/callback/agentAnswer");
    assert_eq!(log[1]["status"], 202);
    assert_eq!(
        serde_json::from_str::<Value>(log[1]["body"].as_str().unwrap()).unwrap(),
        json!({"data": {"ani": ANI}})
    );
    assert_eq!(log[3]["query"], "customer_contact_number=%2B13209071234");
    assert!(log[1]["headers"]
        .as_array()
        .unwrap()
        .iter()
        .any(|h| h[0] == "authorization" && h[1] == "Bearer ***"));
}

#[tokio::test]
async fn stats_count_per_route() {
    let sim = sim().await;
    access_token(&sim).await;
    access_token(&sim).await;
    ds_get(&sim, DEFAULT_DATASTORE_TOKEN, ANI).await;
    get(&sim, "/nope").await;
    let widget = get_json(&sim, "/api/widget/sim-widget").await;
    assert_eq!(widget["data"][0]["widget_state"], "offer_callback");
    let stats = get_json(&sim, "/_sim/stats").await;
    assert_eq!(
        stats,
        json!({"token": 2, "agent_answer": 0, "datastore_post": 0, "datastore_get": 1, "widget_status": 1, "other": 1, "total": 5})
    );
    assert_eq!(sim.count(Route::Token), 2);
    assert_eq!(sim.count(Route::WidgetStatus), 1);
    assert_eq!(sim.count(Route::Any), 5);
    assert_eq!(delete_status(&sim, "/_sim/requests").await, 200);
    assert_eq!(sim.count(Route::Any), 0);
    assert!(sim.requests().is_empty());
}

#[tokio::test]
async fn request_log_is_capped() {
    let sim = sim_where(|c| c.max_logged_requests = 3).await;
    for _ in 0..5 {
        ds_get(&sim, DEFAULT_DATASTORE_TOKEN, ANI).await;
    }
    let log = sim.requests();
    assert_eq!(log.iter().map(|r| r.id).collect::<Vec<_>>(), vec![3, 4, 5]);
    assert_eq!(sim.count(Route::DatastoreGet), 5);
}

#[tokio::test]
async fn reset_forgets_everything() {
    let sim = sim().await;
    let token = access_token(&sim).await;
    sim.register_call(ANI);
    ds_post(&sim, DEFAULT_DATASTORE_TOKEN, ANI, json!({"k": "v"})).await;
    sim.set_fault(Route::DatastoreGet, Fault::Status { code: 500 }, None);

    assert_eq!(post_status(&sim, "/_sim/reset").await, 200);
    assert!(sim.requests().is_empty());
    assert!(sim.calls().is_empty());
    assert_eq!(sim.count(Route::Any), 0);
    // Faults gone, record gone.
    assert_eq!(ds_get(&sim, DEFAULT_DATASTORE_TOKEN, ANI).await.0, 404);
    // Issued token forgotten.
    assert_eq!(
        agent_answer(&sim, &token, json!({"data": {"ani": ANI}}))
            .await
            .0,
        401
    );
    // Rust-side reset too.
    sim.register_call(ANI);
    sim.reset();
    assert!(sim.calls().is_empty());
    assert_eq!(sim.count(Route::Any), 0);
}

#[tokio::test]
async fn control_api_misc() {
    let sim = sim().await;
    let r = get(&sim, "/_sim/health").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["ok"], true);
    assert_eq!(get(&sim, "/_sim/nope").await.status(), 404);
    let r = send(client().post(at(&sim, "/_sim/calls")).body("garbage")).await;
    assert_eq!(r.status(), 400);
    ds_post(
        &sim,
        DEFAULT_DATASTORE_TOKEN,
        "320-907-1234",
        json!({"k": "v"}),
    )
    .await;
    let recs = get_json(&sim, "/_sim/records").await;
    assert_eq!(recs[0]["customer_contact_number"], "3209071234");
    assert_eq!(recs[0]["data_values"], json!({"k": "v"}));
    assert_eq!(delete_status(&sim, "/_sim/calls").await, 200);
    assert_eq!(sim.count(Route::Any), 1);
}

// ---------------------------------------------------------------- blocking / threads

#[test]
fn start_blocking_serves_synchronous_callers() {
    use std::io::{Read, Write};
    let sim = Sim::start_blocking(SimConfig::default()).unwrap();
    assert!(sim.addr().ip().is_loopback());
    assert!(sim.base_url().starts_with("http://127.0.0.1:"));
    sim.register_call(ANI);

    let mut s = std::net::TcpStream::connect(sim.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET /_sim/calls HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(out.contains(r#""ani":"+13209071234""#), "{out}");

    // State written over HTTP is visible to the Rust handle.
    let mut s = std::net::TcpStream::connect(sim.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let body = r#"{"ani":"+14155550100"}"#;
    write!(
        s,
        "POST /_sim/calls HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 201"), "{out}");
    assert_eq!(sim.calls().len(), 2);
    let t0 = Instant::now();
    sim.shutdown();
    assert!(t0.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn shutdown_stops_listening() {
    let sim = sim().await;
    let addr = sim.addr();
    sim.shutdown();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_and_concurrent_requests() {
    let sim = sim().await;
    // A pooling client, as the Lambdas and benchmarks use: many requests per connection.
    let pooled = builder().timeout(Duration::from_secs(5)).build().unwrap();
    let token = access_token(&sim).await;
    for i in 0..20 {
        let r = pooled
            .post(sim.agent_answer_url())
            .bearer_auth(&token)
            .json(&json!({"data": {"ani": format!("+1320907{i:04}")}}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
    }
    let mut tasks = Vec::new();
    for i in 0..50 {
        let (c, url) = (pooled.clone(), at(&sim, "/api/v1/data_sets"));
        tasks.push(tokio::spawn(async move {
            c.post(url)
                .bearer_auth(DEFAULT_DATASTORE_TOKEN)
                .json(&json!({"customer_contact_number": format!("+1555000{i:04}"), "data_values": {"i": i.to_string()}}))
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    assert_eq!(sim.count(Route::AgentAnswer), 20);
    assert_eq!(sim.count(Route::DatastorePost), 50);
    let (_, v) = ds_get(&sim, DEFAULT_DATASTORE_TOKEN, "+15550000049").await;
    assert_eq!(v["i"], "49");
}

#[test]
fn sim_handle_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Sim>();
}

#[tokio::test]
async fn invalid_config_is_refused() {
    let cfg = SimConfig {
        templates: vec![TemplateConfig::new("")],
        ..SimConfig::default()
    };
    assert!(mindful_sim::start(cfg).await.is_err());
}
