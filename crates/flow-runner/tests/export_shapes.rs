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

/// CloudFormation templates (`AWS::Connect::ContactFlow` / `ContactFlowModule`), JSON and YAML,
/// with `Content` as a string, `Fn::Sub` (string or list), `!Sub |`, an object, a folded block or
/// a quoted one-liner: each resource is a flow named by its logical id, with its type.
#[test]
fn cloudformation_templates_load_in_json_and_yaml() {
    let c = content().to_string();
    let json_template = json!({"AWSTemplateFormatVersion": "2010-09-09", "Resources": {
        "Plain": {"Type": "AWS::Connect::ContactFlow", "Properties": {"Type": "CONTACT_FLOW", "Content": c}},
        "Subbed": {"Type": "AWS::Connect::ContactFlow", "Properties": {"Type": "CUSTOMER_QUEUE", "Content": {"Fn::Sub": c}}},
        "SubList": {"Type": "AWS::Connect::ContactFlow", "Properties": {"Type": "AGENT_WHISPER", "Content": {"Fn::Sub": [c, {"X": "y"}]}}},
        "AsObject": {"Type": "AWS::Connect::ContactFlow", "Properties": {"Type": "CONTACT_FLOW", "Content": content()}},
        "Module": {"Type": "AWS::Connect::ContactFlowModule", "Properties": {"Content": c}},
        "Queue": {"Type": "AWS::Connect::Queue", "Properties": {}}
    }});
    let flows = flows_from_json(&json_template.to_string(), "t.json").unwrap();
    let got: Vec<(String, Option<String>)> = flows
        .iter()
        .map(|f| (f.name.clone(), f.flow_type.clone()))
        .collect();
    assert_eq!(got.len(), 5, "{got:?}");
    for (name, typ) in [
        ("Plain", Some("CONTACT_FLOW")),
        ("Subbed", Some("CUSTOMER_QUEUE")),
        ("SubList", Some("AGENT_WHISPER")),
        ("AsObject", Some("CONTACT_FLOW")),
        ("Module", None),
    ] {
        assert!(
            got.contains(&(name.to_string(), typ.map(str::to_string))),
            "{name}: {got:?}"
        );
    }
    assert!(flows
        .iter()
        .all(|f| f.start == "bye" && f.actions.len() == 1));

    let pretty = serde_json::to_string_pretty(&content()).unwrap();
    let block = |indent: &str| {
        pretty
            .lines()
            .map(|l| format!("{indent}{l}"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let yaml = format!(
        "AWSTemplateFormatVersion: \"2010-09-09\"\nParameters:\n  Q:\n    Type: String\nResources:\n  \
         Inbound:\n    Type: AWS::Connect::ContactFlow\n    Properties:\n      Name: !Sub \"${{AWS::StackName}} inbound\"\n      Type: CONTACT_FLOW\n      Content: !Sub |\n{}\n  \
         Whisper:\n    Type: \"AWS::Connect::ContactFlow\"\n    Properties:\n      Type: AGENT_WHISPER\n      Content:\n        Fn::Sub: |\n{}\n  \
         Folded:\n    Type: AWS::Connect::ContactFlow\n    Properties:\n      Type: CUSTOMER_HOLD\n      Content: >-\n{}\n  \
         Quoted:\n    Type: AWS::Connect::ContactFlowModule\n    Properties:\n      Content: '{}'\n  \
         Bucket:\n    Type: AWS::S3::Bucket\nOutputs:\n  X:\n    Value: y\n",
        block("        "),
        block("          "),
        block("        "),
        c.replace('\'', "''"),
    );
    let flows = flows_from_json(&yaml, "t.yaml").unwrap();
    let got: Vec<(String, Option<String>)> = flows
        .iter()
        .map(|f| (f.name.clone(), f.flow_type.clone()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("Folded".to_string(), Some("CUSTOMER_HOLD".to_string())),
            ("Inbound".into(), Some("CONTACT_FLOW".into())),
            ("Quoted".into(), None),
            ("Whisper".into(), Some("AGENT_WHISPER".into())),
        ]
    );
    // Our own template reads the same way (placeholders kept): five flows.
    let ours = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../infra/template.yaml"
    ))
    .unwrap();
    assert_eq!(flows_from_json(&ours, "template.yaml").unwrap().len(), 5);
    // A template whose flow is not JSON says which resource.
    let bad = yaml.replace("\"StartAction\"", "StartAction");
    let e = flows_from_json(&bad, "t.yaml").unwrap_err();
    assert!(
        e.0.contains("Inbound") || e.0.contains("Folded") || e.0.contains("Whisper"),
        "{e}"
    );
}

/// A `list-contact-flows` answer has no flow content: the loader says what to do instead.
#[test]
fn a_list_answer_says_to_describe_each_flow() {
    let list = json!({"ContactFlowSummaryList": [{"Id": "f", "Arn": "arn:f", "Name": "Inbound", "ContactFlowType": "CONTACT_FLOW"}]});
    let e = flows_from_json(&list.to_string(), "list.json").unwrap_err();
    assert!(e.0.contains("describe-contact-flow"), "{e}");
}
