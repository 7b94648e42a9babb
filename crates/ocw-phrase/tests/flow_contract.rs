//! The flow checker's and the flow runner's view of this function (`infra/flow-reference.json`,
//! `functions_contract`) is the function's own contract: a parameter or output renamed on either
//! side fails here.

// Test code: a failed unwrap is a failed test (the deny is for the deployed code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use lambda_harness::testkit::{flow_reference_entry, names, sorted};
use mindful_core::answer::outputs as common;
use ocw_phrase::{keys, params};

#[test]
fn the_flow_reference_matches_the_contract() {
    let me = &flow_reference_entry(
        "ocw-phrase",
        &[common::STATUS, common::ERROR, common::ERROR_MESSAGE],
    );
    assert_eq!(names(&me["inputs"]), sorted(&params::ALL), "inputs");
    assert_eq!(names(&me["outputs"]), sorted(&keys::ANSWERED), "outputs");
    assert_eq!(
        names(&me["outputs_when_counting"]),
        sorted(&[keys::OFFERS_MADE]),
        "counting output"
    );
    assert_eq!(
        names(&me["counting_inputs"]),
        sorted(&[params::OFFERS_MADE, params::MAX_OFFERS]),
        "counting inputs"
    );
}
