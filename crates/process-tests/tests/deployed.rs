//! Each function as the stack deploys it: the environment `infra/base.yaml` renders (its
//! defaults with a deploy's parameters), the secret read from Secrets Manager or SSM through the
//! Parameters and Secrets extension interface, against the simulator over https (the stack
//! only takes https URLs). A variable renamed on either side (stack or code) fails here.
//!
//! One row per function that reads a secret; the three scenarios (the stack's secret ARN, a
//! JSON secret and an SSM parameter, an unreadable secret) are shared drivers. ocw-phrase reads
//! no secret: its own test at the end.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bundle_testkit::{
    assert_error_mentions, assert_flat, assert_secret_read_once, event, response, scratch_dir,
    spawn_deployed, CALLER,
};
use lambda_harness::{FunctionProcess, SecretsExtension};
use mindful_sim::{Route, Sim};
use process_tests::binary;
use serde_json::{json, Value};

const SESSION: &str = "session-token-for-the-extension";

/// A function that reads a secret, as the stack configures it.
struct Row {
    function: &'static str,
    secret_arn: &'static str,
    /// The stack parameters pointing the function at the simulator (`(token URL, base URL)`),
    /// without the secret.
    urls: fn(&Sim) -> Vec<(&'static str, String)>,
    /// The stack parameter holding the secret's ARN, and the one naming a key in a JSON secret.
    arn_parameter: &'static str,
    json_key_parameter: &'static str,
    json_key: &'static str,
    /// The variable naming an SSM parameter instead (not a stack parameter).
    ssm_variable: &'static str,
    ssm_name: &'static str,
    /// The secret the simulator expects.
    secret: fn(&Sim) -> String,
    /// Call `i` (0, 1, ...) that needs the secret; asserts the function's success answer.
    call: fn(&Sim, &mut FunctionProcess, usize),
    /// After two calls with one process: what reached the simulator.
    after_two_calls: fn(&Sim),
    /// An event that needs the secret, and the code of the answer when it cannot be read.
    probe: fn() -> Value,
    unreadable: &'static str,
}

/// The answer to call `i` (contact `c-{i}`, from the caller) with `params`, asserted flat and
/// with `status`.
fn answer_with_status(f: &mut FunctionProcess, params: Value, i: usize, status: &str) -> Value {
    let (r, _) = response(f, event(params, Some(CALLER), &format!("c-{i}")));
    assert_flat(&r);
    assert_eq!(r["status"], status, "{r}");
    r
}

const AGENT_ANSWER: Row = Row {
    function: "agent-answer",
    secret_arn: "arn:aws:secretsmanager:us-east-1:111122223333:secret:mindful/client-AbCdEf",
    urls: |sim| {
        vec![
            ("MindfulTokenUrl", sim.token_url()),
            ("MindfulApiUrl", sim.base_url()),
            ("MindfulClientId", sim.config().clients[0].client_id.clone()),
        ]
    },
    arn_parameter: "MindfulClientSecretArn",
    json_key_parameter: "MindfulClientSecretJsonKey",
    json_key: "client_secret",
    ssm_variable: "MINDFUL_CLIENT_SECRET_PARAMETER",
    ssm_name: "/mindful/client-secret",
    secret: |sim| sim.config().clients[0].client_secret.clone(),
    call: |sim, f, i| {
        sim.register_call(CALLER);
        answer_with_status(f, json!({"Agent_ID": "jdoe"}), i, "accepted");
    },
    after_two_calls: |sim| assert_eq!(sim.count(Route::Token), 1),
    probe: || event(json!({}), Some(CALLER), "c-probe"),
    unreadable: "invalid_config",
};

const DATASTORE_PROXY: Row = Row {
    function: "datastore-proxy",
    secret_arn: "arn:aws:secretsmanager:us-east-1:111122223333:secret:mindful/datastore-Zz9Yy8",
    urls: |sim| vec![("DatastoreUrl", sim.base_url())],
    arn_parameter: "DatastoreTokenSecretArn",
    json_key_parameter: "DatastoreTokenSecretJsonKey",
    json_key: "api_token",
    ssm_variable: "DATASTORE_TOKEN_PARAMETER",
    ssm_name: "/mindful/datastore-token",
    secret: |sim| sim.config().templates[0].token.clone(),
    // Stores the context, then restores it.
    call: |_, f, i| {
        let params = match i {
            0 => json!({"method": "POST", "queue_name": "Billing", "a": "1"}),
            _ => json!({"method": "GET"}),
        };
        let r = answer_with_status(f, params, i, "ok");
        if i > 0 {
            assert_eq!(r["queue_name"], "Billing", "{r}");
            assert_eq!(r["a"], "1", "{r}");
        }
    },
    after_two_calls: |sim| {
        assert_eq!(sim.count(Route::DatastorePost), 1);
        assert_eq!(sim.count(Route::DatastoreGet), 1);
    },
    probe: || event(json!({"method": "GET"}), Some(CALLER), "c-probe"),
    unreadable: "no_token",
};

/// The simulator over https, and a CA bundle (the system roots plus its test root) laid out as
/// on Lambda `provided.al2023`: the stack's https URLs work unchanged.
fn https_sim() -> (Sim, std::path::PathBuf) {
    Sim::start_https_with_ca_bundle(&scratch_dir("deployed")).expect("https simulator")
}

impl Row {
    /// Spawns the function under the stack's environment for `params` with `extension`, the
    /// simulator's CA bundle as `SSL_CERT_FILE` (how a deployment trusts a public CA), then
    /// `extra` (what Lambda, not the stack, sets).
    fn spawn(
        &self,
        params: &[(&str, String)],
        extension: &SecretsExtension,
        ca_bundle: &std::path::Path,
        extra: &[(&str, &str)],
    ) -> FunctionProcess {
        let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let bundle = ca_bundle.display().to_string();
        let mut all = vec![("SSL_CERT_FILE", bundle.as_str())];
        all.extend_from_slice(extra);
        let bin = binary(self.function);
        spawn_deployed(bin, self.function, &params, Some(extension), &all)
    }

    /// The stack's parameters with the secret's ARN.
    fn stack(&self, sim: &Sim) -> Vec<(&'static str, String)> {
        let mut params = (self.urls)(sim);
        params.push((self.arn_parameter, self.secret_arn.to_string()));
        params
    }

    /// Regression: `MINDFUL_CLIENT_SECRET_ARN` (what the stack sets) was read as
    /// `MINDFUL_CLIENT_SECRET_SECRET_ARN`, so every deployed call answered `missing_config`.
    /// The secret is read once, then cached.
    fn the_stack_secret_arn_is_read_through_the_extension(&self) {
        let (sim, bundle) = https_sim();
        let ext = SecretsExtension::start(SESSION).expect("extension");
        ext.put_secret(self.secret_arn, &(self.secret)(&sim));
        let mut f = self.spawn(&self.stack(&sim), &ext, &bundle, &[]);
        for i in 0..2 {
            (self.call)(&sim, &mut f, i);
        }
        assert_secret_read_once(&ext, self.secret_arn);
        (self.after_two_calls)(&sim);
    }

    /// A JSON secret with the key the stack names, then an SSM SecureString (decrypted).
    fn a_json_secret_and_an_ssm_parameter_are_read_too(&self) {
        let (sim, bundle) = https_sim();
        let ext = SecretsExtension::start(SESSION).expect("extension");
        let secret = (self.secret)(&sim);
        let json_secret = json!({self.json_key: secret, "other": "x"}).to_string();
        ext.put_secret(self.secret_arn, &json_secret);
        ext.put_parameter(self.ssm_name, &secret, true);
        let mut params = self.stack(&sim);
        params.push((self.json_key_parameter, self.json_key.to_string()));
        let mut from_json = self.spawn(&params, &ext, &bundle, &[]);
        (self.call)(&sim, &mut from_json, 0);

        let ssm_only = (self.urls)(&sim);
        let ssm = [(self.ssm_variable, self.ssm_name)];
        let mut from_ssm = self.spawn(&ssm_only, &ext, &bundle, &ssm);
        (self.call)(&sim, &mut from_ssm, 1);
        let last = ext.requests().pop().expect("a parameter read");
        assert_eq!(last.path, "/systemsmanager/parameters/get");
        assert!(
            last.query
                .contains(&("withDecryption".into(), "true".into())),
            "{last:?}"
        );
    }

    /// No such secret (the extension answers 400 ResourceNotFoundException), then a wrong
    /// session token (401): clear answers naming the status, and nothing reaches Mindful.
    fn an_unreadable_secret_is_a_clear_answer(&self) {
        let (sim, bundle) = https_sim();
        let ext = SecretsExtension::start(SESSION).expect("extension");
        let mut f = self.spawn(&self.stack(&sim), &ext, &bundle, &[]);
        let (r, _) = response(&mut f, (self.probe)());
        assert_error_mentions(&r, self.unreadable, "400");
        ext.put_secret(self.secret_arn, "whatever");
        let wrong_session = [("AWS_SESSION_TOKEN", "not-the-session")];
        let mut wrong = self.spawn(&self.stack(&sim), &ext, &bundle, &wrong_session);
        let (r, _) = response(&mut wrong, (self.probe)());
        assert_error_mentions(&r, self.unreadable, "401");
        assert_eq!(sim.count(Route::Any), 0);
    }
}

#[test]
fn agent_answer_the_stack_secret_arn_is_read_through_the_extension() {
    AGENT_ANSWER.the_stack_secret_arn_is_read_through_the_extension();
}

#[test]
fn agent_answer_a_json_secret_and_an_ssm_parameter_are_read_too() {
    AGENT_ANSWER.a_json_secret_and_an_ssm_parameter_are_read_too();
}

#[test]
fn agent_answer_an_unreadable_secret_is_a_clear_answer() {
    AGENT_ANSWER.an_unreadable_secret_is_a_clear_answer();
}

#[test]
fn datastore_proxy_the_stack_secret_arn_is_read_through_the_extension() {
    DATASTORE_PROXY.the_stack_secret_arn_is_read_through_the_extension();
}

#[test]
fn datastore_proxy_a_json_secret_and_an_ssm_parameter_are_read_too() {
    DATASTORE_PROXY.a_json_secret_and_an_ssm_parameter_are_read_too();
}

#[test]
fn datastore_proxy_an_unreadable_secret_is_a_clear_answer() {
    DATASTORE_PROXY.an_unreadable_secret_is_a_clear_answer();
}

/// ocw-phrase under the stack's environment: the stack's variable names are the ones it reads.
#[test]
fn ocw_phrase_the_deployed_configuration_answers() {
    let mut f = spawn_deployed(
        binary("ocw-phrase"),
        "ocw-phrase",
        &[
            ("OcwCapSeconds", "900"),
            ("OcwOfferThresholdSeconds", "120"),
        ],
        None,
        &[],
    );
    // 100 s is under the stack's threshold of 120 s: no offer; the cap of 900 s holds (15 minutes).
    let (r, _) = response(&mut f, event(json!({"OCW": "100"}), None, "c1"));
    assert_eq!(
        (r["status"].as_str(), r["offer_callback"].as_str()),
        (Some("ok"), Some("false")),
        "{r}"
    );
    let (r, _) = response(&mut f, event(json!({"OCW": "5000"}), None, "c2"));
    assert_eq!(r["OCW"], "more than 15 minutes", "{r}");
}
