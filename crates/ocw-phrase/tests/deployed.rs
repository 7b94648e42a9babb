//! ocw-phrase under the environment `infra/base.yaml` renders (its defaults): the stack's
//! variable names are the ones the function reads.

// Test code: a failed unwrap is a failed test (the deny is for the deployed code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bundle_testkit::{event, response, spawn_deployed};
use serde_json::json;

#[test]
fn the_deployed_configuration_answers() {
    let mut f = spawn_deployed(
        env!("CARGO_BIN_EXE_ocw-phrase"),
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
