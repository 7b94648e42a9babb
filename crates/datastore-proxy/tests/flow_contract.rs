//! The flow checker's and the flow runner's view of this function (`infra/flow-reference.json`,
//! `functions_contract`) is the function's own contract: a parameter or output renamed on either
//! side fails here.

// Test code: a failed unwrap is a failed test (the deny is for the deployed code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use datastore_proxy::contract::{outputs, params};
use mindful_core::answer::outputs as common;
use serde_json::Value;

fn names(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|s| s.as_str().expect("a name").to_string())
        .collect();
    out.sort();
    out
}

fn sorted(list: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = list.iter().map(|s| s.to_string()).collect();
    out.sort();
    out
}

#[test]
fn the_flow_reference_matches_the_contract() {
    let reference: Value =
        serde_json::from_str(include_str!("../../../infra/flow-reference.json")).expect("JSON");
    let contract = &reference["functions_contract"];
    assert_eq!(
        names(&contract["common_outputs"]),
        sorted(&[common::STATUS, common::ERROR, common::ERROR_MESSAGE])
    );
    let functions = &contract["functions"];
    let me = &functions["datastore-proxy"];
    assert_eq!(
        names(&me["reserved_inputs"]),
        sorted(&params::CONTROL),
        "control parameters"
    );
    assert_eq!(
        names(&me["secret_inputs"]),
        sorted(&params::SECRETS),
        "secret parameters"
    );
    let mut posted = outputs::POSTED.to_vec();
    posted.push(outputs::HTTP_STATUS);
    assert_eq!(names(&me["outputs_post"]), sorted(&posted), "POST outputs");
    // A found record carries the key it was stored under.
    assert!(names(&me["outputs_get"]).contains(&outputs::CUSTOMER_CONTACT_NUMBER.to_string()));
}
