//! Arbitrary bytes as a Connect event: the tolerant parse and every function's pure mapping.
//!
//! Invariants: nothing panics; the parse keeps `Details.Parameters` whatever else is malformed;
//! every response is a flat map with a `status` and fits Connect's 32 KB limit after the guard;
//! datastore-proxy never stores its control parameters; agent-answer's body has an ANI and never
//! an empty `metadata`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mindful_core::agent_answer::answer_body;
use mindful_core::kvp::MAX_RESPONSE_BYTES;
use mindful_core::{ContactFlowEvent, Kvp};
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    // Either the bytes are a JSON document, or (most mutations) they are not: then they still
    // become a string event, which must parse to an empty event.
    let value: Value = serde_json::from_slice(data)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(data).into_owned()));
    let event = ContactFlowEvent::from_value(value.clone());

    // Parameters survive any other malformation of the event (rule 1).
    if let Some(Value::Object(params)) = value.pointer("/Details/Parameters") {
        if value.get("Details").is_some_and(Value::is_object) {
            for key in params.keys() {
                assert!(
                    event.parameters().contains_key(key),
                    "parameter {key:?} lost while parsing {value}"
                );
            }
        }
    }
    let _ = (
        event.customer_address(),
        event.contact_id(),
        event.language_code(),
    );

    // ocw-phrase: the whole pure handler.
    for settings in [
        Ok(ocw_phrase::Config::default()),
        Err(mindful_core::config::ConfigError::InvalidValue {
            name: "OCW_CAP_SECONDS".into(),
            reason: "fuzz".into(),
        }),
    ] {
        let out = ocw_phrase::answer(&settings, &event);
        check_response(out, &["ok", "error"]);
    }

    // datastore-proxy: what a POST stores, and a GET answer built from the event as a record.
    for include in [false, true] {
        let values = datastore_proxy::data_values(event.parameters(), event.attributes(), include);
        for control in datastore_proxy::contract::params::CONTROL {
            assert!(!values.contains_key(control), "{control} stored");
        }
    }
    if let Value::Object(record) = &value {
        let out = datastore_proxy::record_response(record);
        assert_eq!(out.status(), Some("ok"));
        check_response(out, &["ok", "error"]);
    }

    // agent-answer: the request body from the flow's ids.
    let ani = event
        .param("Temp_Tel")
        .or_else(|| event.customer_address())
        .unwrap_or("+13209071234");
    let body = answer_body(ani, event.param("Agent_ID"), event.param("Queue_ID"));
    assert_eq!(body["data"]["ani"], ani);
    match body["data"].get("metadata") {
        None => {}
        Some(Value::Object(m)) => {
            assert!(!m.is_empty(), "empty metadata");
            assert!(m
                .values()
                .all(|v| v.as_str().is_some_and(|s| !s.trim().is_empty())));
        }
        Some(other) => panic!("metadata {other}"),
    }
});

fn check_response(out: Kvp, statuses: &[&str]) {
    let out = mindful_core::answer::within_connect_limit(out, &["customer_contact_number"]);
    assert!(out.encoded_len() < MAX_RESPONSE_BYTES);
    let status = out.status().expect("status key");
    assert!(statuses.contains(&status), "status {status}");
    if status == "error" {
        assert!(out.get("error").is_some_and(|e| !e.is_empty()));
    }
    // Serialises as a flat object of strings.
    let json = serde_json::to_value(&out).expect("serialise");
    assert!(json
        .as_object()
        .expect("object")
        .values()
        .all(Value::is_string));
}
