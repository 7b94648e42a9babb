//! agent-answer as the stack deploys it: the environment `infra/base.yaml` renders, the client
//! secret read from Secrets Manager or SSM through the Parameters and Secrets extension
//! interface, against the simulator. A variable renamed on either side fails here.

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
    binary: env!("CARGO_BIN_EXE_agent-answer"),
    function: "agent-answer",
};
const SECRET_ARN: &str =
    "arn:aws:secretsmanager:us-east-1:111122223333:secret:mindful/client-AbCdEf";
const SESSION: &str = "session-token-for-the-extension";

fn stack_params<'a>(sim: &'a Sim, token_url: &'a str, api_url: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("MindfulTokenUrl", token_url),
        ("MindfulApiUrl", api_url),
        (
            "MindfulClientId",
            sim.config().clients[0].client_id.as_str(),
        ),
        ("MindfulClientSecretArn", SECRET_ARN),
    ]
}

/// Regression: `MINDFUL_CLIENT_SECRET_ARN` (what the stack sets) was read as
/// `MINDFUL_CLIENT_SECRET_SECRET_ARN`, so every deployed call answered `missing_config`.
#[test]
fn the_deployed_secret_arn_is_read_through_the_extension() {
    let (sim, bundle) = https_sim();
    let ext = SecretsExtension::start(SESSION).expect("extension");
    ext.put_secret(SECRET_ARN, &sim.config().clients[0].client_secret);
    let (token_url, api_url) = (sim.token_url(), sim.base_url());
    let mut f = FUNCTION.on_sim(
        &stack_params(&sim, &token_url, &api_url),
        &ext,
        &bundle,
        &[],
    );
    for contact in ["c-1", "c-2"] {
        sim.register_call(CALLER);
        let (r, _) = response(
            &mut f,
            event(json!({"Agent_ID": "jdoe"}), Some(CALLER), contact),
        );
        assert_flat(&r);
        assert_eq!(r["status"], "accepted", "{r}");
    }
    assert_secret_read_once(&ext, SECRET_ARN);
    assert_eq!(sim.count(Route::Token), 1);
}

#[test]
fn a_json_secret_and_an_ssm_parameter_are_read_too() {
    let (sim, bundle) = https_sim();
    let ext = SecretsExtension::start(SESSION).expect("extension");
    let secret = sim.config().clients[0].client_secret.clone();
    ext.put_secret(
        SECRET_ARN,
        &json!({"client_secret": secret, "other": "x"}).to_string(),
    );
    ext.put_parameter("/mindful/client-secret", &secret, true);
    let (token_url, api_url) = (sim.token_url(), sim.base_url());
    let mut params = stack_params(&sim, &token_url, &api_url);
    params.push(("MindfulClientSecretJsonKey", "client_secret"));
    let mut json_secret = FUNCTION.on_sim(&params, &ext, &bundle, &[]);
    sim.register_call(CALLER);
    let (r, _) = response(&mut json_secret, event(json!({}), Some(CALLER), "c-json"));
    assert_eq!(r["status"], "accepted", "{r}");

    let ssm_only: Vec<(&str, &str)> = params
        .iter()
        .copied()
        .filter(|(k, _)| !k.starts_with("MindfulClientSecret"))
        .collect();
    let mut ssm = FUNCTION.on_sim(
        &ssm_only,
        &ext,
        &bundle,
        &[("MINDFUL_CLIENT_SECRET_PARAMETER", "/mindful/client-secret")],
    );
    sim.register_call(CALLER);
    let (r, _) = response(&mut ssm, event(json!({}), Some(CALLER), "c-ssm"));
    assert_eq!(r["status"], "accepted", "{r}");
    let last = ext.requests().pop().expect("a parameter read");
    assert_eq!(last.path, "/systemsmanager/parameters/get");
    assert!(
        last.query
            .contains(&("withDecryption".into(), "true".into())),
        "{last:?}"
    );
}

#[test]
fn extension_failures_are_clear_answers() {
    let (sim, bundle) = https_sim();
    let ext = SecretsExtension::start(SESSION).expect("extension");
    // No such secret (the extension answers 400 ResourceNotFoundException).
    let (token_url, api_url) = (sim.token_url(), sim.base_url());
    let mut f = FUNCTION.on_sim(
        &stack_params(&sim, &token_url, &api_url),
        &ext,
        &bundle,
        &[],
    );
    let (r, _) = response(&mut f, event(json!({}), Some(CALLER), "c-missing"));
    assert_error_mentions(&r, "invalid_config", "400");
    // A wrong session token (401): the same answer, and nothing reached Mindful.
    ext.put_secret(SECRET_ARN, "whatever");
    let mut wrong = FUNCTION.on_sim(
        &stack_params(&sim, &token_url, &api_url),
        &ext,
        &bundle,
        &[("AWS_SESSION_TOKEN", "not-the-session")],
    );
    let (r, _) = response(&mut wrong, event(json!({}), Some(CALLER), "c-wrong"));
    assert_error_mentions(&r, "invalid_config", "401");
    assert_eq!(sim.count(Route::Any), 0);
}
