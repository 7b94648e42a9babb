//! datastore-proxy as the stack deploys it: the environment `infra/base.yaml` renders, the
//! Datastore token read from Secrets Manager or SSM through the Parameters and Secrets extension
//! interface, a POST and a GET against the simulator. A variable renamed on either side fails.

// Test code: a failed unwrap is a failed test (the deny is for the deployed code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bundle_testkit::scratch_dir;
use bundle_testkit::{
    assert_error_mentions, assert_flat, assert_secret_read_once, event, response, Deployed, CALLER,
};
use lambda_harness::SecretsExtension;
use mindful_sim::{Route, Sim};

/// The simulator over https, and a CA bundle (the system roots plus its test root) laid out as
/// on Lambda `provided.al2023`: the stack's https URLs work unchanged.
fn https_sim() -> (Sim, std::path::PathBuf) {
    Sim::start_https_with_ca_bundle(&scratch_dir("deployed")).expect("https simulator")
}
use serde_json::json;

const FUNCTION: Deployed = Deployed {
    binary: env!("CARGO_BIN_EXE_datastore-proxy"),
    function: "datastore-proxy",
};
const TOKEN_ARN: &str =
    "arn:aws:secretsmanager:us-east-1:111122223333:secret:mindful/datastore-Zz9Yy8";
const SESSION: &str = "session-token-for-the-extension";

/// The stack parameters: the simulator as the Datastore, the token in Secrets Manager.
fn stack(base: &str) -> [(&str, &str); 2] {
    [
        ("DatastoreUrl", base),
        ("DatastoreTokenSecretArn", TOKEN_ARN),
    ]
}

#[test]
fn the_deployed_configuration_stores_and_restores_the_context() {
    let (sim, bundle) = https_sim();
    let ext = SecretsExtension::start(SESSION).expect("extension");
    ext.put_secret(TOKEN_ARN, &sim.config().templates[0].token);
    let base = sim.base_url();
    let mut f = FUNCTION.on_sim(&stack(&base), &ext, &bundle, &[]);
    let (r, _) = response(
        &mut f,
        event(
            json!({"method": "POST", "queue_name": "Billing"}),
            Some(CALLER),
            "c-post",
        ),
    );
    assert_flat(&r);
    assert_eq!(r["status"], "ok", "{r}");
    let (r, _) = response(
        &mut f,
        event(json!({"method": "GET"}), Some(CALLER), "c-get"),
    );
    assert_eq!(r["status"], "ok", "{r}");
    assert_eq!(r["queue_name"], "Billing", "{r}");
    assert_secret_read_once(&ext, TOKEN_ARN);
    assert_eq!(sim.count(Route::DatastorePost), 1);
    assert_eq!(sim.count(Route::DatastoreGet), 1);
}

#[test]
fn a_json_secret_and_an_ssm_parameter_are_read_too() {
    let (sim, bundle) = https_sim();
    let ext = SecretsExtension::start(SESSION).expect("extension");
    let token = sim.config().templates[0].token.clone();
    ext.put_secret(TOKEN_ARN, &json!({"api_token": token}).to_string());
    ext.put_parameter("/mindful/datastore-token", &token, true);
    let base = sim.base_url();
    let mut json_secret = FUNCTION.on_sim(
        &[
            ("DatastoreUrl", base.as_str()),
            ("DatastoreTokenSecretArn", TOKEN_ARN),
            ("DatastoreTokenSecretJsonKey", "api_token"),
        ],
        &ext,
        &bundle,
        &[],
    );
    let (r, _) = response(
        &mut json_secret,
        event(json!({"method": "POST", "a": "1"}), Some(CALLER), "c1"),
    );
    assert_eq!(r["status"], "ok", "{r}");
    let mut ssm = FUNCTION.on_sim(
        &[("DatastoreUrl", base.as_str())],
        &ext,
        &bundle,
        &[("DATASTORE_TOKEN_PARAMETER", "/mindful/datastore-token")],
    );
    let (r, _) = response(
        &mut ssm,
        event(json!({"method": "GET"}), Some(CALLER), "c2"),
    );
    assert_eq!(r["status"], "ok", "{r}");
    assert_eq!(r["a"], "1", "{r}");
}

#[test]
fn an_unreadable_secret_is_a_clear_answer() {
    let (sim, bundle) = https_sim();
    let ext = SecretsExtension::start(SESSION).expect("extension");
    let base = sim.base_url();
    let mut f = FUNCTION.on_sim(&stack(&base), &ext, &bundle, &[]);
    let (r, _) = response(&mut f, event(json!({"method": "GET"}), Some(CALLER), "c"));
    assert_error_mentions(&r, "no_token", "400");
    assert_eq!(sim.count(Route::Any), 0);
}
