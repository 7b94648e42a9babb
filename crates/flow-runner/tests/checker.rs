//! The checker on flows that are not ours: severities, what the reference does not require, the
//! documented namespaces, linear time on a very large flow; and the runner's refusals (a
//! `RunError` naming the block, never a silent default).

mod common;

use std::time::Instant;

use common::run_one_number;
use flow_runner::check::{check_flow, Finding, Severity, Tally};
use flow_runner::{flows_from_json, Host, LambdaCall, LambdaReply, Scenario};
use serde_json::{json, Value};

fn flow(doc: Value) -> flow_runner::Flow {
    flows_from_json(&doc.to_string(), "t").unwrap().remove(0)
}

fn findings(doc: Value) -> Vec<Finding> {
    check_flow(&flow(doc), &|_| false)
}

fn doc(actions: Value) -> Value {
    json!({"Version": "2019-10-30", "StartAction": "a", "Actions": actions})
}

const BYE: &str = r#"{"Identifier": "bye", "Type": "DisconnectParticipant", "Parameters": {}, "Transitions": {}}"#;

fn bye() -> Value {
    serde_json::from_str(BYE).unwrap()
}

#[test]
fn play_prompt_without_an_error_branch_is_clean() {
    let f = findings(doc(json!([
        {"Identifier": "a", "Type": "MessageParticipant", "Parameters": {"Text": "Hello"}, "Transitions": {"NextAction": "bye"}},
        bye()
    ])));
    assert!(f.is_empty(), "{f:#?}");
}

#[test]
fn loop_prompts_without_interrupt_or_error_branch_is_clean_in_a_queue_flow() {
    let mut fl = flow(doc(json!([
        {"Identifier": "a", "Type": "MessageParticipantIteratively",
         "Parameters": {"Messages": [{"Text": "Please hold"}], "ContinueMessagingDuringInterrupt": "True"}, "Transitions": {}}
    ])));
    fl.flow_type = Some("CUSTOMER_QUEUE".into());
    let f = check_flow(&fl, &|_| false);
    assert!(f.iter().all(|x| x.severity < Severity::Error), "{f:#?}");
    assert!(
        !f.iter()
            .any(|x| x.message.contains("NoMatchingError") || x.message.contains("Interrupt")),
        "{f:#?}"
    );
}

#[test]
fn documented_namespaces_are_known() {
    let f = findings(doc(json!([
        {"Identifier": "a", "Type": "UpdateContactAttributes", "Parameters": {"Attributes": {
            "f": "$.FlowAttributes.x", "m": "$.MediaStreams.Customer.Audio.StreamARN", "v": "$.Views.Action",
            "l": "$.Lex.IntentName", "c": "$.Customer.FirstName"}},
         "Transitions": {"NextAction": "b", "Errors": [{"ErrorType": "NoMatchingError", "NextAction": "bye"}]}},
        {"Identifier": "b", "Type": "UpdateContactEventHooks",
         "Parameters": {"EventHooks": {"CustomerQueue": "arn:q"}, "EventHooksConfiguration": {}},
         "Transitions": {"NextAction": "bye", "Errors": [{"ErrorType": "NoMatchingError", "NextAction": "bye"}]}},
        bye()
    ])));
    assert!(f.is_empty(), "{f:#?}");
    let f = findings(doc(json!([
        {"Identifier": "a", "Type": "MessageParticipant", "Parameters": {"Text": "$.Nonsense.x"}, "Transitions": {"NextAction": "bye"}},
        bye()
    ])));
    assert_eq!(
        Tally::of(&f),
        Tally {
            errors: 0,
            warnings: 1,
            notes: 0
        },
        "{f:#?}"
    );
}

#[test]
fn each_finding_has_a_severity_and_a_page() {
    let f = findings(
        json!({"Version": "2019-10-30", "StartAction": "a", "Actions": [
            {"Identifier": "a", "Type": "InvokeLambdaFunction",
             "Parameters": {"LambdaFunctionARN": "arn:aws:lambda:us-east-1:1:function:x", "InvocationTimeLimitSeconds": "3"},
             "Transitions": {"NextAction": "b", "Errors": [{"ErrorType": "NoMatchingError", "NextAction": "bye"}]}},
            {"Identifier": "b", "Type": "Wait", "Parameters": {}, "Transitions": {"NextAction": "bye"}},
            {"Identifier": "orphan", "Type": "MessageParticipant", "Parameters": {"Text": "x"}, "Transitions": {"NextAction": "bye"}},
            {"Identifier": "c", "Type": "Compare", "Parameters": {"ComparisonValue": "$.Channel"},
             "Transitions": {"NextAction": "bye", "Conditions": [{"NextAction": "bye", "Condition": {"Operator": "Like", "Operands": ["VOICE"]}}],
                             "Errors": [{"ErrorType": "NoMatchingCondition", "NextAction": "bye"}]}},
            bye()
        ]}),
    );
    let by = |sev: Severity, text: &str| {
        f.iter()
            .find(|x| x.severity == sev && x.message.contains(text))
    };
    assert!(by(Severity::Note, "not mapped").is_some(), "{f:#?}");
    assert!(by(Severity::Note, "Wait").is_some(), "{f:#?}");
    assert!(by(Severity::Warning, "unreachable").is_some(), "{f:#?}");
    assert!(
        by(Severity::Error, "Compare operator \"Like\"").is_some(),
        "{f:#?}"
    );
    assert!(
        f.iter()
            .all(|x| x.page.starts_with("https://docs.aws.amazon.com/connect/")),
        "{f:#?}"
    );
    let shown = by(Severity::Error, "Like").unwrap().to_string();
    assert!(
        shown.starts_with("error: t: c: ") && shown.ends_with("flow-control-actions-compare.html]"),
        "{shown}"
    );
}

/// 100,000 actions, each leading to the next, load and check in seconds (the check is linear).
#[test]
fn a_very_large_flow_checks_in_linear_time() {
    let time = |n: usize| {
        let mut actions: Vec<Value> = (0..n)
            .map(|i| json!({"Identifier": format!("s{i}"), "Type": "UpdateContactAttributes",
                "Parameters": {"Attributes": {"k": format!("$.Attributes.k{i}")}},
                "Transitions": {"NextAction": if i + 1 < n { format!("s{}", i + 1) } else { "bye".into() },
                                "Errors": [{"ErrorType": "NoMatchingError", "NextAction": "bye"}]}}))
            .collect();
        actions.push(bye());
        let text =
            json!({"Version": "2019-10-30", "StartAction": "s0", "Actions": actions}).to_string();
        let t = Instant::now();
        let fl = flows_from_json(&text, "big").unwrap().remove(0);
        let loaded = t.elapsed();
        let f = check_flow(&fl, &|_| true);
        println!(
            "{n} actions ({} bytes): loaded in {loaded:?}, checked in {:?}",
            text.len(),
            t.elapsed() - loaded
        );
        (t.elapsed(), f)
    };
    let (small, _) = time(10_000);
    let (big, f) = time(100_000);
    // Over Connect's content size limit and its 250 actions, and nothing else.
    assert_eq!(f.len(), 2, "{:#?}", &f[..f.len().min(5)]);
    assert!(
        f.iter()
            .any(|x| x.message.contains("characters, over Connect's limit")),
        "{f:?}"
    );
    assert!(
        f.iter().any(|x| x
            .message
            .contains("100001 actions, over Connect's limit of 250")),
        "{f:?}"
    );
    // A debug build on a shared 2-core machine: seconds, not minutes (the quadratic check took
    // over a minute).
    assert!(big.as_secs_f64() < 30.0, "100,000 actions took {big:?}");
    // Linear: ten times the actions, not a hundred times the time.
    assert!(
        big.as_secs_f64() < small.as_secs_f64() * 30.0 + 0.5,
        "10,000: {small:?}; 100,000: {big:?}"
    );
}

struct NoLambda;

impl Host for NoLambda {
    fn invoke(&mut self, _call: &LambdaCall) -> LambdaReply {
        LambdaReply::Failed("no function".into())
    }
}

fn run_err(actions: Value) -> flow_runner::RunError {
    let flows = flows_from_json(&doc(actions).to_string(), "t").unwrap();
    run_one_number(flows, &mut NoLambda, &mut Scenario::default()).unwrap_err()
}

#[test]
fn run_refuses_what_the_reference_does_not_allow() {
    let e = run_err(json!([
        {"Identifier": "a", "Type": "Compare", "Parameters": {"ComparisonValue": "$.Channel"},
         "Transitions": {"NextAction": "bye", "Conditions": [{"NextAction": "bye", "Condition": {"Operator": "Equal", "Operands": ["VOICE"]}}],
                         "Errors": [{"ErrorType": "NoMatchingCondition", "NextAction": "bye"}]}},
        bye()
    ]));
    assert!(e.block == "a" && e.message.contains("\"Equal\""), "{e}");
    let e = run_err(json!([
        {"Identifier": "a", "Type": "UpdateContactEventHooks", "Parameters": {"EventHooks": {"CustomerQueu": "arn:q"}},
         "Transitions": {"NextAction": "bye", "Errors": [{"ErrorType": "NoMatchingError", "NextAction": "bye"}]}},
        bye()
    ]));
    assert!(
        e.block == "a" && e.message.contains("\"CustomerQueu\" is not an event hook"),
        "{e}"
    );
    let e = run_err(json!([
        {"Identifier": "a", "Type": "UpdateContactAttributes", "Parameters": {"Attributes": [{"k": "v"}]},
         "Transitions": {"NextAction": "bye", "Errors": [{"ErrorType": "NoMatchingError", "NextAction": "bye"}]}},
        bye()
    ]));
    assert!(
        e.block == "a" && e.message.contains("Attributes must be an object"),
        "{e}"
    );
}
