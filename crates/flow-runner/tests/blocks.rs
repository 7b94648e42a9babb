//! The blocks real flows use beyond ours (issue 26 part 3): Loop, flow attributes, recording and
//! streaming (noted in the transcript), hours of operation (scripted), modules invoked and
//! returned from, and a customer queue flow run as one (`as_customer_queue`).

mod common;

use common::run_one_number;
use flow_runner::check::{check_flow, Severity};
use flow_runner::{
    flows_from_json, ContactRun, End, Host, LambdaCall, LambdaReply, RunError, Scenario, Step,
};
use serde_json::{json, Value};

struct Transcript(Vec<Step>);

impl Host for Transcript {
    fn invoke(&mut self, _call: &LambdaCall) -> LambdaReply {
        LambdaReply::Failed("no function".into())
    }

    fn on_step(&mut self, step: &Step) {
        self.0.push(step.clone());
    }
}

fn doc(start: &str, actions: Value) -> String {
    json!({"Version": "2019-10-30", "StartAction": start, "Actions": actions}).to_string()
}

fn run(docs: &[(&str, String)], sc: &mut Scenario) -> (Result<ContactRun, RunError>, Vec<Step>) {
    let mut flows = Vec::new();
    for (name, text) in docs {
        flows.extend(flows_from_json(text, name).unwrap());
    }
    let mut t = Transcript(Vec::new());
    let r = run_one_number(flows, &mut t, sc);
    (r, t.0)
}

fn notes(steps: &[Step]) -> String {
    steps
        .iter()
        .flat_map(|s| s.notes.iter().cloned())
        .collect::<Vec<_>>()
        .join("\n")
}

fn bye() -> Value {
    json!({"Identifier": "bye", "Type": "DisconnectParticipant", "Parameters": {}, "Transitions": {}})
}

#[test]
fn loop_flow_attributes_recording_and_hours() {
    let flow = doc(
        "attrs",
        json!([
            {"Identifier": "attrs", "Type": "UpdateFlowAttributes",
             "Parameters": {"FlowAttributes": {"greeting": {"Value": "Welcome back"}}},
             "Transitions": {"NextAction": "rec", "Errors": [{"ErrorType": "NoMatchingError", "NextAction": "bye"}]}},
            {"Identifier": "rec", "Type": "UpdateContactRecordingBehavior",
             "Parameters": {"RecordingBehavior": {"RecordedParticipants": ["Agent", "Customer"], "IVRRecordingBehavior": "Enabled"}},
             "Transitions": {"NextAction": "hours"}},
            {"Identifier": "hours", "Type": "CheckHoursOfOperation", "Parameters": {},
             "Transitions": {"NextAction": "bye", "Conditions": [
                {"NextAction": "loop", "Condition": {"Operator": "Equals", "Operands": ["True"]}},
                {"NextAction": "closed", "Condition": {"Operator": "Equals", "Operands": ["False"]}}],
              "Errors": [{"ErrorType": "NoMatchingError", "NextAction": "bye"}]}},
            {"Identifier": "loop", "Type": "Loop", "Parameters": {"LoopCount": "3"},
             "Transitions": {"Conditions": [
                {"NextAction": "say", "Condition": {"Operator": "Equals", "Operands": ["ContinueLooping"]}},
                {"NextAction": "bye", "Condition": {"Operator": "Equals", "Operands": ["DoneLooping"]}}]}},
            {"Identifier": "say", "Type": "MessageParticipant", "Parameters": {"Text": "$.FlowAttributes.greeting"},
             "Transitions": {"NextAction": "loop"}},
            {"Identifier": "closed", "Type": "MessageParticipant", "Parameters": {"Text": "We are closed"},
             "Transitions": {"NextAction": "bye"}},
            bye()
        ]),
    );
    let f = check_flow(&flows_from_json(&flow, "f").unwrap()[0], &|_| true);
    assert!(
        f.iter().all(|x| x.severity == Severity::Note) && f.is_empty(),
        "{f:#?}"
    );

    let (r, steps) = run(&[("f", flow.clone())], &mut Scenario::default());
    let r = r.unwrap();
    assert!(
        matches!(r.end, End::Disconnected { ref block, .. } if block == "bye"),
        "{:?}",
        r.end
    );
    let says = steps.iter().filter(|s| s.block == "say").count();
    assert_eq!(says, 3, "{}", notes(&steps));
    let n = notes(&steps);
    assert!(
        n.contains("set flow attribute greeting=Welcome back"),
        "{n}"
    );
    assert!(n.contains("Welcome back"), "{n}");
    assert!(
        n.contains("recording: Agent and Customer (IVR recording Enabled"),
        "{n}"
    );
    assert!(n.contains("looped 3 times: done"), "{n}");

    let (r, steps) = run(
        &[("f", flow)],
        &mut Scenario {
            in_hours: false,
            ..Scenario::default()
        },
    );
    assert!(r.is_ok());
    assert!(
        steps.iter().any(|s| s.block == "closed") && !steps.iter().any(|s| s.block == "loop"),
        "{}",
        notes(&steps)
    );
}

#[test]
fn a_module_is_invoked_and_returns() {
    let main = doc(
        "invoke",
        json!([
            {"Identifier": "invoke", "Type": "InvokeFlowModule", "Parameters": {"FlowModuleId": "arn:aws:connect:us-east-1:1:instance/i/flow-module/m1"},
             "Transitions": {"NextAction": "after", "Errors": [{"ErrorType": "NoMatchingError", "NextAction": "bye"}]}},
            {"Identifier": "after", "Type": "MessageParticipant", "Parameters": {"Text": "Back: $.Attributes.from_module"},
             "Transitions": {"NextAction": "bye"}},
            bye()
        ]),
    );
    let module = json!({"ContactFlowModule": {"Arn": "arn:aws:connect:us-east-1:1:instance/i/flow-module/m1", "Name": "m1",
        "Content": doc("set", json!([
            {"Identifier": "set", "Type": "UpdateContactAttributes", "Parameters": {"Attributes": {"from_module": "yes"}},
             "Transitions": {"NextAction": "ret", "Errors": [{"ErrorType": "NoMatchingError", "NextAction": "ret"}]}},
            {"Identifier": "ret", "Type": "EndFlowModuleExecution", "Parameters": {}, "Transitions": {}}
        ]))}}).to_string();
    let (r, steps) = run(
        &[("main", main.clone()), ("m1", module.clone())],
        &mut Scenario::default(),
    );
    let r = r.unwrap();
    assert!(matches!(r.end, End::Disconnected { .. }), "{:?}", r.end);
    let n = notes(&steps);
    assert!(
        n.contains("invokes module m1") && n.contains("Back: yes"),
        "{n}"
    );
    // Without the module, the block takes its error branch.
    let (r, steps) = run(&[("main", main)], &mut Scenario::default());
    assert!(r.is_ok());
    assert!(
        steps
            .iter()
            .any(|s| s.block == "invoke" && s.branch == "NoMatchingError"),
        "{}",
        notes(&steps)
    );
    // EndFlowModuleExecution belongs to modules only.
    let mut typed = flows_from_json(&module, "m1").unwrap().remove(0);
    typed.flow_type = Some("CONTACT_FLOW".into());
    let f = check_flow(&typed, &|_| true);
    assert!(
        f.iter().any(|x| x.severity == Severity::Error
            && x.message.contains("EndFlowModuleExecution is not allowed")),
        "{f:#?}"
    );
}

#[test]
fn loop_needs_both_conditions_and_a_count() {
    let flow = doc(
        "loop",
        json!([
            {"Identifier": "loop", "Type": "Loop", "Parameters": {"LoopCount": "101"},
             "Transitions": {"Conditions": [{"NextAction": "bye", "Condition": {"Operator": "Equals", "Operands": ["ContinueLooping"]}}]}},
            bye()
        ]),
    );
    let f = check_flow(&flows_from_json(&flow, "f").unwrap()[0], &|_| true);
    assert!(
        f.iter().any(|x| x.message.contains("Equals DoneLooping")),
        "{f:#?}"
    );
    assert!(
        f.iter().any(|x| x.message.contains("LoopCount is \"101\"")),
        "{f:#?}"
    );
    let (r, _) = run(&[("f", flow)], &mut Scenario::default());
    let e = r.unwrap_err();
    assert!(e.block == "loop" && e.message.contains("LoopCount"), "{e}");
}

#[test]
fn a_customer_queue_flow_runs_as_one() {
    let queue_flow = json!({"Version": "2019-10-30", "StartAction": "hold", "Metadata": {"type": "customerQueue"}, "Actions": [
        {"Identifier": "hold", "Type": "MessageParticipantIteratively",
         "Parameters": {"Messages": [{"Text": "Thank you for waiting"}], "InterruptFrequencySeconds": "60"},
         "Transitions": {"Conditions": [{"NextAction": "hold", "Condition": {"Operator": "Equals", "Operands": ["MessagesInterrupted"]}}]}}
    ]}).to_string();
    let mut sc = Scenario {
        as_customer_queue: Some(("arn:q/sales".into(), "Sales".into())),
        agent: Some(flow_runner::AgentAnswer {
            after_seconds: 150,
            user_name: "ana".into(),
        }),
        ..Scenario::default()
    };
    // Run as an inbound flow, Loop prompts has no queue to wait in: a RunError, not a
    // contradictory "queued in no queue, answered".
    let (r, _) = run(&[("q", queue_flow.clone())], &mut Scenario::default());
    let e = r.unwrap_err();
    assert!(
        e.block == "hold" && e.message.contains("--as customer-queue"),
        "{e}"
    );
    let (r, steps) = run(&[("q", queue_flow)], &mut sc);
    let r = r.unwrap();
    assert_eq!(
        r.end,
        End::Queued {
            queue_arn: "arn:q/sales".into(),
            queue_name: "Sales".into(),
            answered_by: Some("ana".into()),
            waited_seconds: 150
        }
    );
    let n = notes(&steps);
    assert!(
        n.contains("interrupted at 60 s")
            && n.contains("interrupted at 120 s")
            && n.contains("Thank you for waiting"),
        "{n}"
    );
}

/// Lex, views and customer profiles are scripted; Voice ID (ended on 2026-05-20) takes its error
/// branch. Without a script, each takes the branch Connect documents for "no answer".
#[test]
fn lex_views_profiles_and_voice_id_are_scripted() {
    let flow = doc(
        "lex",
        json!([
            {"Identifier": "lex", "Type": "ConnectParticipantWithLexBot",
             "Parameters": {"Text": "Sales or finance?", "LexV2Bot": {"AliasArn": "arn:aws:lex:us-east-1:1:bot-alias/B/A"}},
             "Transitions": {"NextAction": "bye", "Conditions": [
                {"NextAction": "profile", "Condition": {"Operator": "Equals", "Operands": ["Sales"]}}],
              "Errors": [{"ErrorType": "NoMatchingCondition", "NextAction": "bye"}, {"ErrorType": "InputTimeLimitExceeded", "NextAction": "nothing"},
                         {"ErrorType": "NoMatchingError", "NextAction": "bye"}]}},
            {"Identifier": "profile", "Type": "GetCustomerProfile", "Parameters": {"ProfileRequestData": {"IdentifierName": "_phone", "IdentifierValue": "$.CustomerEndpoint.Address"}, "ProfileResponseData": ["FirstName"]},
             "Transitions": {"NextAction": "view", "Errors": [{"ErrorType": "NoneFoundError", "NextAction": "view"}, {"ErrorType": "MultipleFoundError", "NextAction": "view"}, {"ErrorType": "NoMatchingError", "NextAction": "view"}]}},
            {"Identifier": "view", "Type": "ShowView", "Parameters": {"ViewResource": {"Id": "form", "Version": "Latest"}, "InvocationTimeLimitSeconds": "60"},
             "Transitions": {"NextAction": "voice", "Conditions": [{"NextAction": "greet", "Condition": {"Operator": "Equals", "Operands": ["Next"]}}],
              "Errors": [{"ErrorType": "NoMatchingCondition", "NextAction": "voice"}, {"ErrorType": "TimeLimitExceeded", "NextAction": "voice"}, {"ErrorType": "NoMatchingError", "NextAction": "voice"}]}},
            {"Identifier": "greet", "Type": "MessageParticipant", "Parameters": {"Text": "Hello $.Customer.FirstName, about $.Lex.IntentName"},
             "Transitions": {"NextAction": "voice"}},
            {"Identifier": "voice", "Type": "StartVoiceIdStream", "Parameters": {},
             "Transitions": {"NextAction": "bye", "Errors": [{"ErrorType": "NoMatchingError", "NextAction": "bye"}]}},
            {"Identifier": "nothing", "Type": "MessageParticipant", "Parameters": {"Text": "Sorry"}, "Transitions": {"NextAction": "bye"}},
            bye()
        ]),
    );
    let f = check_flow(&flows_from_json(&flow, "f").unwrap()[0], &|_| true);
    assert!(f.is_empty(), "{f:#?}");

    let mut sc = Scenario {
        lex_intents: ["Sales".to_string()].into(),
        view_results: ["Next".to_string()].into(),
        customer_profile: Some([("FirstName".to_string(), "Ana".to_string())].into()),
        ..Scenario::default()
    };
    let (r, steps) = run(&[("f", flow.clone())], &mut sc);
    assert!(r.is_ok());
    let n = notes(&steps);
    assert!(n.contains("Hello Ana, about Sales"), "{n}");
    assert!(
        n.contains("Voice ID ended")
            && steps
                .iter()
                .any(|s| s.block == "voice" && s.branch == "NoMatchingError"),
        "{n}"
    );

    let (r, steps) = run(&[("f", flow.clone())], &mut Scenario::default());
    assert!(r.is_ok());
    assert!(
        steps
            .iter()
            .any(|s| s.block == "lex" && s.branch == "InputTimeLimitExceeded"),
        "{}",
        notes(&steps)
    );

    let mut sc = Scenario {
        lex_intents: ["Sales".to_string()].into(),
        ..Scenario::default()
    };
    let (_, steps) = run(&[("f", flow)], &mut sc);
    let branch = |b: &str| {
        steps
            .iter()
            .find(|s| s.block == b)
            .map(|s| s.branch.clone())
            .unwrap_or_default()
    };
    assert_eq!(branch("profile"), "NoneFoundError", "{}", notes(&steps));
    assert_eq!(branch("view"), "TimeLimitExceeded", "{}", notes(&steps));
}

/// "A single Flow may have no more than 250 Actions defined."
#[test]
fn more_than_250_actions_is_an_error() {
    let mut actions: Vec<Value> = (0..250)
        .map(|i| json!({"Identifier": format!("m{i}"), "Type": "MessageParticipant", "Parameters": {"Text": "x"},
                        "Transitions": {"NextAction": if i < 249 { format!("m{}", i + 1) } else { "bye".into() }}}))
        .collect();
    actions.push(bye());
    let f = check_flow(
        &flows_from_json(&doc("m0", Value::Array(actions.clone())), "f").unwrap()[0],
        &|_| true,
    );
    assert!(
        f.iter().any(|x| x.severity == Severity::Error
            && x.message
                .contains("251 actions, over Connect's limit of 250")),
        "{f:#?}"
    );
    actions.remove(0);
    let f = check_flow(
        &flows_from_json(&doc("m1", Value::Array(actions)), "f").unwrap()[0],
        &|_| true,
    );
    assert!(f.is_empty(), "{f:#?}");
}

/// *Check queue status* (`CheckMetricData`) compares a scripted metric; for agent counts the
/// only condition Connect allows is NumberGreaterThan 0.
#[test]
fn check_metric_data_compares_scripted_metrics() {
    let flow = |metric: &str, op: &str, operand: &str| {
        doc(
            "m",
            json!([
                {"Identifier": "m", "Type": "CheckMetricData", "Parameters": {"MetricType": metric},
                 "Transitions": {"NextAction": "bye", "Conditions": [{"NextAction": "busy", "Condition": {"Operator": op, "Operands": [operand]}}],
                  "Errors": [{"ErrorType": "NoMatchingCondition", "NextAction": "bye"}, {"ErrorType": "NoMatchingError", "NextAction": "bye"}]}},
                {"Identifier": "busy", "Type": "MessageParticipant", "Parameters": {"Text": "Busy"}, "Transitions": {"NextAction": "bye"}},
                bye()
            ]),
        )
    };
    let old = flow("OldestContactInQueueAgeSeconds", "NumberGreaterThan", "120");
    assert!(check_flow(&flows_from_json(&old, "f").unwrap()[0], &|_| true).is_empty());
    let mut sc = Scenario {
        oldest_contact_age: "185".into(),
        ..Scenario::default()
    };
    let (_, steps) = run(&[("f", old.clone())], &mut sc);
    assert!(steps.iter().any(|s| s.block == "busy"), "{}", notes(&steps));
    let (_, steps) = run(&[("f", old)], &mut Scenario::default());
    assert!(
        !steps.iter().any(|s| s.block == "busy"),
        "{}",
        notes(&steps)
    );

    let agents = flow("NumberOfAgentsAvailable", "NumberGreaterThan", "2");
    let f = check_flow(&flows_from_json(&agents, "f").unwrap()[0], &|_| true);
    assert!(
        f.iter().any(|x| x.severity == Severity::Error
            && x.message.contains("only condition is NumberGreaterThan 0")),
        "{f:#?}"
    );
}
