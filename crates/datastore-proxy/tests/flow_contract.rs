//! The flow checker's and the flow runner's view of this function (`infra/flow-reference.json`,
//! `functions_contract`) is the function's own contract: a parameter or output renamed on either
//! side fails here.

// Test code: a failed unwrap is a failed test (the deny is for the deployed code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use datastore_proxy::contract::{outputs, params};
use lambda_harness::testkit::{flow_reference_entry, names, sorted};
use mindful_core::answer::outputs as common;

#[test]
fn the_flow_reference_matches_the_contract() {
    let me = &flow_reference_entry(
        "datastore-proxy",
        &[common::STATUS, common::ERROR, common::ERROR_MESSAGE],
    );
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
    let mut status = outputs::WIDGET.to_vec();
    status.push(outputs::HTTP_STATUS);
    assert_eq!(
        names(&me["outputs_status"]),
        sorted(&status),
        "STATUS outputs"
    );
    // A found record carries the key it was stored under.
    assert!(names(&me["outputs_get"]).contains(&outputs::CUSTOMER_CONTACT_NUMBER.to_string()));
}
