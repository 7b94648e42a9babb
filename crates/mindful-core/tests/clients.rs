//! The core clients over real HTTP against a scripted loopback server: token reuse and refresh,
//! Datastore and Agent Answer status mapping, retries, budgets, secrets through the extension.

// Test code: a failed unwrap is a failed test (the deny is for the deployed code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use mindful_core::agent_answer::{AgentAnswerClient, AnswerError, AnswerOutcome};
use mindful_core::datastore::{DatastoreClient, DatastoreError, SearchOutcome};
use mindful_core::http::Url;
use mindful_core::http::{build_client, record_requests, Budget, HttpSettings};
use mindful_core::oauth::{AuthError, ClientCredentials, OAuthClient};
use mindful_core::secret::{SecretError, SecretSource, SecretStore};
use mindful_core::Secret;
use support::{MockServer, Reply};

fn client() -> mindful_core::http::Client {
    build_client(&HttpSettings::default()).unwrap()
}

fn creds(base: &str) -> ClientCredentials {
    ClientCredentials {
        token_url: Url::parse(&format!("{base}/oauth2/token")).unwrap(),
        client_id: "id".into(),
        client_secret: Secret::new("s3cret"),
    }
}

fn budget_ms(ms: u64) -> Budget {
    Budget::new(Duration::from_millis(ms))
}

fn token_reply(lifetime: u64) -> Reply {
    Reply::Json(
        200,
        format!(
            r#"{{"access_token":"tok-{lifetime}","token_type":"Bearer","expires_in":{lifetime}}}"#
        ),
    )
}

/// One Agent Answer (no queue), counted: its outcome and the requests it sent.
async fn answer_counted(
    aa: &AgentAnswerClient,
    endpoint: &Url,
    c: &ClientCredentials,
    ani: &str,
    agent_id: Option<&str>,
    budget: &Budget,
) -> (Result<AnswerOutcome, AnswerError>, u32) {
    let (report, record) =
        record_requests(aa.answer(endpoint, c, ani, agent_id, None, budget)).await;
    let sent = record.sent;
    (report.outcome, sent)
}

/// A loopback port bound then dropped, so (almost certainly) closed.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn token_is_reused_then_refreshed_after_expiry() {
    let server = MockServer::start(|_, _| token_reply(2)).await;
    let oauth = OAuthClient::new(client());
    let c = creds(&server.base);
    for _ in 0..3 {
        let t = oauth.token(&c, &budget_ms(1000)).await.unwrap();
        assert_eq!(t.value.expose(), "tok-2");
    }
    assert_eq!(server.count("/oauth2/token"), 1);
    // A 2 s token is reused for half its lifetime (the 60 s margin is capped at half).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let t = oauth.token(&c, &budget_ms(1000)).await.unwrap();
    assert!(!t.from_cache);
    assert_eq!(server.count("/oauth2/token"), 2);
    oauth.invalidate(&c).await;
    oauth.token(&c, &budget_ms(1000)).await.unwrap();
    assert_eq!(server.count("/oauth2/token"), 3);

    let req = &server.requests()[0];
    assert_eq!(req.method, "POST");
    // Basic base64("id:s3cret")
    assert_eq!(req.header("authorization"), Some("Basic aWQ6czNjcmV0"));
    assert_eq!(req.body, "grant_type=client_credentials");
    assert_eq!(
        req.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
}

#[tokio::test]
async fn concurrent_callers_share_one_refresh() {
    let server = MockServer::start(|_, _| {
        Reply::Delay(
            Duration::from_millis(100),
            200,
            r#"{"access_token":"t","expires_in":3600}"#.into(),
        )
    })
    .await;
    let oauth = OAuthClient::new(client());
    let c = creds(&server.base);
    let b = budget_ms(2000);
    let (a, b2, c3) = tokio::join!(
        oauth.token(&c, &b),
        oauth.token(&c, &b),
        oauth.token(&c, &b)
    );
    assert!(a.is_ok() && b2.is_ok() && c3.is_ok());
    assert_eq!(server.count("/oauth2/token"), 1);
}

#[tokio::test]
async fn token_errors_are_typed() {
    let server = MockServer::start(|_, i| match i {
        0 => Reply::Json(401, r#"{"error":"invalid_client"}"#.into()),
        1 | 2 => Reply::Json(503, "{}".into()),
        _ => Reply::Json(200, r#"{"nope":1}"#.into()),
    })
    .await;
    let oauth = OAuthClient::new(client());
    let c = creds(&server.base);
    assert_eq!(
        oauth.token(&c, &budget_ms(2000)).await.map(|_| ()),
        Err(AuthError::Rejected(401))
    );
    // 503 is retried once, then reported.
    assert_eq!(
        oauth.token(&c, &budget_ms(2000)).await.map(|_| ()),
        Err(AuthError::Upstream(503))
    );
    assert_eq!(server.count("/oauth2/token"), 3);
    assert!(matches!(
        oauth.token(&c, &budget_ms(2000)).await,
        Err(AuthError::BadResponse(_))
    ));
}

/// Regression: the token cache never evicted, so a `Token_URL` that differs per call grew the
/// process without bound. It holds at most `MAX_CACHED_TOKENS`, and the newest token is kept.
#[tokio::test]
async fn the_token_cache_is_bounded() {
    let server = MockServer::start(|_, i| {
        Reply::Json(
            200,
            format!(r#"{{"access_token":"tok-{i}","expires_in":3600}}"#),
        )
    })
    .await;
    let oauth = OAuthClient::new(client());
    let distinct = mindful_core::oauth::MAX_CACHED_TOKENS * 3;
    for n in 0..distinct {
        let mut c = creds(&server.base);
        c.token_url = Url::parse(&format!("{}/oauth2/token?n={n}", server.base)).unwrap();
        oauth.token(&c, &budget_ms(2000)).await.unwrap();
        assert!(oauth.cached_tokens().await <= mindful_core::oauth::MAX_CACHED_TOKENS);
    }
    assert_eq!(
        oauth.cached_tokens().await,
        mindful_core::oauth::MAX_CACHED_TOKENS
    );
    // The last one is still cached: no new request for it.
    let mut last = creds(&server.base);
    last.token_url =
        Url::parse(&format!("{}/oauth2/token?n={}", server.base, distinct - 1)).unwrap();
    let t = oauth.token(&last, &budget_ms(2000)).await.unwrap();
    assert!(t.from_cache);
    assert_eq!(server.count("/oauth2/token"), distinct);
}

#[tokio::test]
async fn hanging_token_endpoint_is_cut_by_the_budget() {
    let server = MockServer::start(|_, _| Reply::Hang).await;
    let oauth = OAuthClient::new(client());
    let started = Instant::now();
    let r = oauth.token(&creds(&server.base), &budget_ms(300)).await;
    assert_eq!(r.map(|_| ()), Err(AuthError::Timeout));
    assert!(
        started.elapsed() < Duration::from_millis(600),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn agent_answer_steady_state_is_one_request_per_call() {
    let server = MockServer::start(|r, _| match r.path() {
        "/oauth2/token" => token_reply(3600),
        "/v2/callback/agentAnswer" => Reply::Json(202, "{}".into()),
        _ => Reply::Json(500, "{}".into()),
    })
    .await;
    let aa = AgentAnswerClient::new(client());
    let endpoint = Url::parse(&format!("{}/v2/callback/agentAnswer", server.base)).unwrap();
    let c = creds(&server.base);
    let mut requests = Vec::new();
    for _ in 0..3 {
        let (outcome, sent) = answer_counted(
            &aa,
            &endpoint,
            &c,
            "+13209071234",
            Some("jdoe"),
            &budget_ms(2000),
        )
        .await;
        assert_eq!(outcome, Ok(AnswerOutcome::Accepted { http_status: 202 }));
        requests.push(sent);
    }
    assert_eq!(requests, vec![2, 1, 1]);
    assert_eq!(server.count("/oauth2/token"), 1);
    assert_eq!(server.count("/v2/callback/agentAnswer"), 3);
    let answer = server
        .requests()
        .into_iter()
        .find(|r| r.path() == "/v2/callback/agentAnswer")
        .unwrap();
    assert_eq!(answer.header("authorization"), Some("Bearer tok-3600"));
    let body: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"data":{"ani":"+13209071234","metadata":{"agentId":"jdoe"}}})
    );
}

#[tokio::test]
async fn agent_answer_401_refreshes_once_and_retries_once() {
    let server = MockServer::start(|r, i| match r.path() {
        "/oauth2/token" => Reply::Json(
            200,
            format!(r#"{{"access_token":"tok{i}","expires_in":3600}}"#),
        ),
        _ if r.header("authorization") == Some("Bearer tok0") => Reply::Json(401, "{}".into()),
        _ => Reply::Json(202, "{}".into()),
    })
    .await;
    let aa = AgentAnswerClient::new(client());
    let endpoint = Url::parse(&server.base)
        .map(mindful_core::agent_answer::agent_answer_endpoint)
        .unwrap();
    let (outcome, sent) = answer_counted(
        &aa,
        &endpoint,
        &creds(&server.base),
        "13209071234",
        None,
        &budget_ms(2000),
    )
    .await;
    assert_eq!(outcome, Ok(AnswerOutcome::Accepted { http_status: 202 }));
    assert_eq!(server.count("/oauth2/token"), 2);
    assert_eq!(server.count("/v2/callback/agentAnswer"), 2);
    assert_eq!(sent, 4);
}

#[tokio::test]
async fn agent_answer_statuses() {
    let server = MockServer::start(|r, _| match r.path() {
        "/oauth2/token" => token_reply(3600),
        "/404" => Reply::Json(404, "{}".into()),
        "/401" => Reply::Json(401, "{}".into()),
        "/429" => Reply::Json(429, "{}".into()),
        "/500" => Reply::Json(500, "{}".into()),
        "/400" => Reply::Json(400, "{}".into()),
        _ => Reply::Hang,
    })
    .await;
    let aa = AgentAnswerClient::new(client());
    let c = creds(&server.base);
    let at = |p: &str| Url::parse(&format!("{}{p}", server.base)).unwrap();
    let b = || budget_ms(1500);
    // The outcome of an answer for +13209071234 (no agent, no queue) at `p` within `budget`.
    let answer = async |p: &str, budget: Budget| {
        aa.answer(&at(p), &c, "+13209071234", None, None, &budget)
            .await
            .outcome
    };
    assert_eq!(answer("/404", b()).await, Ok(AnswerOutcome::NoCall));
    assert_eq!(answer("/401", b()).await, Err(AnswerError::Unauthorized));
    assert_eq!(answer("/429", b()).await, Err(AnswerError::RateLimited));
    // 500 is not retried: Agent Answer is not idempotent and the event may have been processed.
    let before = server.count("/500");
    assert_eq!(answer("/500", b()).await, Err(AnswerError::Upstream(500)));
    assert_eq!(server.count("/500") - before, 1);
    assert_eq!(answer("/400", b()).await, Err(AnswerError::Rejected(400)));
    let started = Instant::now();
    assert_eq!(
        answer("/hang", budget_ms(400)).await,
        Err(AnswerError::Timeout)
    );
    assert!(started.elapsed() < Duration::from_millis(700));
    let n = server.requests().len();
    let (outcome, sent) = answer_counted(&aa, &at("/404"), &c, "anonymous", None, &b()).await;
    assert_eq!(outcome, Err(AnswerError::InvalidAni));
    assert_eq!(sent, 0);
    assert_eq!(server.requests().len(), n);
}

#[tokio::test]
async fn datastore_submit_and_search() {
    let server = MockServer::start(|r, _| match (r.method.as_str(), r.target.as_str()) {
        ("POST", "/api/v1/data_sets") => Reply::Json(200, r#"{"organization":{"id":"o"},"customer_contact_number":"+13209071234","ani":"+13209071234","ecbt":null,"time_to_expire":"2026-11-27T00:00:00Z","queue_name":"Billing"}"#.into()),
        ("GET", "/api/v1/data_sets/search?customer_contact_number=%2B13209071234") => Reply::Json(200, r#"{"customer_contact_number":"+13209071234","ecbt":120,"queue_name":"Billing"}"#.into()),
        ("GET", "/api/v1/data_sets/search?customer_contact_number=%2B15550000000") => Reply::Json(404, r#"{"error":"not found"}"#.into()),
        ("GET", _) => Reply::Json(200, "{}".into()),
        _ => Reply::Json(500, "{}".into()),
    })
    .await;
    let ds = DatastoreClient::new(client(), Url::parse(&server.base).unwrap());
    let token = Secret::new("tmpl/token+=");
    let mut values = BTreeMap::new();
    values.insert("queue_name".to_string(), "Billing".to_string());
    let saved = ds
        .submit(&token, "+13209071234", &values, &budget_ms(2000))
        .await
        .unwrap();
    assert_eq!(saved["time_to_expire"], "2026-11-27T00:00:00Z");
    let post = &server.requests()[0];
    assert_eq!(post.header("authorization"), Some("Bearer tmpl/token+="));
    let body: serde_json::Value = serde_json::from_str(&post.body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"customer_contact_number":"+13209071234","data_values":{"queue_name":"Billing"}})
    );

    match ds
        .search(&token, "+13209071234", &budget_ms(2000))
        .await
        .unwrap()
    {
        SearchOutcome::Found(obj) => assert_eq!(obj["ecbt"], 120),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        server.requests()[1].header("content-type"),
        Some("application/json")
    );
    assert_eq!(
        ds.search(&token, "+15550000000", &budget_ms(2000)).await,
        Ok(SearchOutcome::NotFound)
    );
    // A 2xx without the record's key is "not found" too.
    assert_eq!(
        ds.search(&token, "+15551111111", &budget_ms(2000)).await,
        Ok(SearchOutcome::NotFound)
    );
}

/// A request lost after it was sent (a pooled connection that died while Lambda froze the
/// process) is retried once when the call is idempotent (Datastore), never for Agent Answer.
#[tokio::test]
async fn a_lost_request_is_retried_only_when_idempotent() {
    let server = MockServer::start(|r, i| match (r.path(), i) {
        (_, 0) => Reply::Reset,
        ("/api/v1/data_sets/search", _) => Reply::Json(
            200,
            r#"{"customer_contact_number":"+13209071234","queue_name":"Billing"}"#.into(),
        ),
        _ => Reply::Reset,
    })
    .await;
    let ds = DatastoreClient::new(client(), Url::parse(&server.base).unwrap());
    let found = ds
        .search(&Secret::new("t"), "+13209071234", &budget_ms(2000))
        .await
        .unwrap();
    assert!(matches!(found, SearchOutcome::Found(_)), "{found:?}");
    assert_eq!(server.count("/api/v1/data_sets/search"), 2);

    let answers = MockServer::start(|r, _| match r.path() {
        "/oauth2/token" => Reply::Json(200, r#"{"access_token":"tok","expires_in":3600}"#.into()),
        _ => Reply::Reset,
    })
    .await;
    let creds = creds(&answers.base);
    let client = AgentAnswerClient::new(client());
    let endpoint = Url::parse(&format!("{}/v2/callback/agentAnswer", answers.base)).unwrap();
    let report = client
        .answer(
            &endpoint,
            &creds,
            "+13209071234",
            None,
            None,
            &budget_ms(2000),
        )
        .await;
    assert!(
        matches!(report.outcome, Err(AnswerError::Unreachable(_))),
        "{:?}",
        report.outcome
    );
    // Agent Answer is not idempotent: the lost request is not sent again.
    assert_eq!(answers.count("/v2/callback/agentAnswer"), 1);
}

#[tokio::test]
async fn datastore_errors_and_retries() {
    let server = MockServer::start(|r, _| match r.header("authorization") {
        Some("Bearer bad") => Reply::Json(401, r#"{"error":"InvalidToken"}"#.into()),
        Some("Bearer 503") => Reply::Json(503, "{}".into()),
        Some("Bearer 429") => Reply::Json(429, "{}".into()),
        Some("Bearer html") => Reply::Raw(200, "text/html", "<html>".into()),
        Some("Bearer trunc") => Reply::Json(200, r#"{"customer_contact_number":"+1"#.into()),
        Some("Bearer reset") => Reply::Reset,
        _ => Reply::Hang,
    })
    .await;
    let ds = DatastoreClient::new(client(), Url::parse(&server.base).unwrap());
    let search = |t: &'static str, ms| {
        let ds = &ds;
        async move {
            ds.search(&Secret::new(t), "+13209071234", &budget_ms(ms))
                .await
        }
    };
    assert_eq!(search("bad", 2000).await, Err(DatastoreError::Unauthorized));
    assert_eq!(
        search("503", 2000).await,
        Err(DatastoreError::Upstream(503))
    );
    assert_eq!(
        server
            .requests()
            .iter()
            .filter(|r| r.header("authorization") == Some("Bearer 503"))
            .count(),
        2
    );
    assert_eq!(search("429", 2000).await, Err(DatastoreError::RateLimited));
    assert_eq!(search("html", 2000).await, Err(DatastoreError::BadResponse));
    assert_eq!(
        search("trunc", 2000).await,
        Err(DatastoreError::BadResponse)
    );
    assert!(matches!(
        search("reset", 2000).await,
        Err(DatastoreError::Unreachable(_))
    ));
    let started = Instant::now();
    assert_eq!(search("hang", 300).await, Err(DatastoreError::Timeout));
    assert!(started.elapsed() < Duration::from_millis(600));
}

#[tokio::test]
async fn connection_refused_is_retried_once_then_unreachable() {
    let port = closed_port();
    let ds = DatastoreClient::new(
        client(),
        Url::parse(&format!("http://127.0.0.1:{port}")).unwrap(),
    );
    let started = Instant::now();
    let r = ds
        .search(&Secret::new("t"), "+13209071234", &budget_ms(2000))
        .await;
    assert!(matches!(r, Err(DatastoreError::Unreachable(_))), "{r:?}");
    assert!(started.elapsed() < Duration::from_millis(1000));
}

#[tokio::test]
async fn secrets_come_from_the_extension_with_its_token_and_are_cached() {
    let server = MockServer::start(|r, _| match r.path() {
        "/secretsmanager/get" if r.header("x-aws-parameters-secrets-token") == Some("session") => {
            Reply::Json(
                200,
                r#"{"Name":"n","SecretString":"{\"client_secret\":\"from-sm\"}"}"#.into(),
            )
        }
        "/systemsmanager/parameters/get" => Reply::Json(
            200,
            r#"{"Parameter":{"Name":"/p","Value":"from-ssm"}}"#.into(),
        ),
        _ => Reply::Json(400, "{}".into()),
    })
    .await;
    let store = SecretStore::new(
        client(),
        server.base.clone(),
        Some("session".into()),
        Duration::from_secs(300),
    );
    let sm = SecretSource::SecretsManager {
        id: "arn:aws:secretsmanager:us-east-1:1:secret:x".into(),
        key: None,
        key_var: "T_KEY",
    };
    for _ in 0..3 {
        assert_eq!(
            store.resolve(&sm, &budget_ms(1000)).await.unwrap().expose(),
            "from-sm"
        );
    }
    assert_eq!(server.count("/secretsmanager/get"), 1);
    assert!(server.requests()[0]
        .target
        .contains("secretId=arn%3Aaws%3Asecretsmanager"));
    let ssm = SecretSource::Ssm {
        name: "/mindful/token".into(),
    };
    assert_eq!(
        store
            .resolve(&ssm, &budget_ms(1000))
            .await
            .unwrap()
            .expose(),
        "from-ssm"
    );
    assert!(server.requests()[1]
        .target
        .contains("name=%2Fmindful%2Ftoken"));
    assert!(server.requests()[1].target.contains("withDecryption=true"));

    let no_token = SecretStore::new(
        client(),
        server.base.clone(),
        None,
        Duration::from_secs(300),
    );
    assert_eq!(
        no_token.resolve(&sm, &budget_ms(1000)).await,
        Err(SecretError::Status(400))
    );
    let port = closed_port();
    let missing = SecretStore::new(
        client(),
        format!("http://127.0.0.1:{port}"),
        None,
        Duration::from_secs(300),
    );
    assert!(matches!(
        missing.resolve(&sm, &budget_ms(1000)).await,
        Err(SecretError::Unreachable(_))
    ));
}
