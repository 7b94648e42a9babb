//! The shapes users save flows in (issue 26, part 2): each loads as the same flow, with its type
//! where the shape says it. Shapes from the Connect API reference
//! (<https://docs.aws.amazon.com/connect/latest/APIReference/API_DescribeContactFlow.html>,
//! `API_DescribeContactFlowModule.html`) and the console's export (`Metadata.type`).

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use flow_runner::flow::flows_from_json;
use serde_json::json;

fn content() -> serde_json::Value {
    json!({
        "Version": "2019-10-30",
        "StartAction": "bye",
        "Actions": [{"Identifier": "bye", "Type": "DisconnectParticipant", "Parameters": {}, "Transitions": {}}]
    })
}

#[test]
fn every_saved_shape_loads_with_its_type() {
    let mut console = content();
    console["Metadata"] = json!({"type": "customerQueue", "name": "Queue music"});
    let inner = json!({
        "Arn": "arn:aws:connect:us-east-1:111122223333:instance/i/contact-flow/f",
        "Id": "f", "Name": "Inbound", "Type": "CONTACT_FLOW",
        "Content": content().to_string()
    });
    let cases: Vec<(&str, String, Option<&str>)> = vec![
        ("flow language document", content().to_string(), None),
        ("with a UTF-8 BOM", format!("\u{feff}{}", content()), None),
        (
            "console export",
            console.to_string(),
            Some("CUSTOMER_QUEUE"),
        ),
        (
            "describe-contact-flow answer",
            json!({"ContactFlow": inner}).to_string(),
            Some("CONTACT_FLOW"),
        ),
        ("its inner object", inner.to_string(), Some("CONTACT_FLOW")),
        (
            "inner object with Content as an object",
            json!({"Name": "Inbound", "Type": "CUSTOMER_WHISPER", "Content": content()})
                .to_string(),
            Some("CUSTOMER_WHISPER"),
        ),
        (
            "describe-contact-flow-module answer",
            json!({"ContactFlowModule": {"Name": "Module", "Content": content().to_string()}})
                .to_string(),
            None,
        ),
        (
            "a list of answers",
            json!({"ContactFlows": [inner, inner]}).to_string(),
            Some("CONTACT_FLOW"),
        ),
    ];
    for (shape, text, want_type) in cases {
        let flows = flows_from_json(&text, "file.json").unwrap_or_else(|e| panic!("{shape}: {e}"));
        assert!(!flows.is_empty(), "{shape}");
        for f in &flows {
            assert_eq!(f.start, "bye", "{shape}");
            assert_eq!(f.flow_type.as_deref(), want_type, "{shape}");
        }
    }
}

#[test]
fn a_file_without_a_flow_is_refused_clearly() {
    for text in ["{}", "[]", r#"{"ContactFlow": {"Name": "x"}}"#, "not json"] {
        let e = flows_from_json(text, "file.json").unwrap_err();
        assert!(e.to_string().contains("file.json"), "{text}: {e}");
    }
}
