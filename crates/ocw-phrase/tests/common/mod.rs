//! What each `events/ocw-phrase*.json` file must produce (documented in `events/expected.json`),
//! shared by the in-process test and the end-to-end test against the built binary.

#![allow(dead_code)]

pub use bundle_testkit::Sample;
use serde_json::Value;

/// Every `events/ocw-phrase*.json` sample with its documented answer (each file must have one).
pub fn samples() -> Vec<Sample> {
    bundle_testkit::samples("ocw-phrase", "ocw-phrase")
}

/// Checks one response (a JSON object) against its documented answer: the documented keys with
/// their values, `OCW_seconds` and `error` absent when not documented, `error_message` exactly
/// with an error; and that every input parameter other than `OCW` is echoed unchanged.
pub fn check(event: &Value, response: &Value, want: &Sample) {
    let file = &want.name;
    want.assert_documented(response);
    for key in ["status", "OCW", "offer_callback", "OCW_language"] {
        assert!(
            want.answer.contains_key(key),
            "events/expected.json: {file} documents no {key}"
        );
    }
    for key in ["OCW_seconds", "error"] {
        if !want.answer.contains_key(key) {
            assert!(response.get(key).is_none(), "{file}: {key} in {response}");
        }
    }
    assert_eq!(
        response.get("error_message").is_some(),
        want.answer.contains_key("error"),
        "{file}"
    );
    let params = event["Details"]["Parameters"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    for (k, v) in &params {
        if k != "OCW" || want.answer["status"] == "error" {
            assert_eq!(response.get(k), Some(v), "{file}: parameter {k} not echoed");
        }
    }
}
