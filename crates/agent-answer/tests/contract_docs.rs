//! The docs state exactly the statuses and error codes the code can answer (the `contract`
//! constants): in docs/contract.md's summary table and in the crate README's error table.

// Test code: a failed unwrap is a failed test (the deny is for the deployed code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[test]
fn the_readme_documents_the_contract() {
    lambda_harness::testkit::assert_contract_documented(
        include_str!("../../../docs/contract.md"),
        include_str!("../README.md"),
        "agent-answer",
        &agent_answer::contract::statuses::ALL,
        &agent_answer::contract::codes::ALL,
    );
}
