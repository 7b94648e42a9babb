//! The runner never panics on a flow file: malformed documents are load errors, unknown blocks
//! are named, and every mutation of the shipped flows either runs or stops with a named error.
//! Also Connect's rules on a Lambda answer, with a scripted host (no processes).

use std::collections::BTreeMap;

use flow_runner::check::check_flow;
use flow_runner::host::{self, Stack};
use flow_runner::{
    flows_from_json, run_contact, Call, Host, Instance, LambdaCall, LambdaReply, Scenario,
};
use serde_json::{json, Value};

struct Scripted(Vec<LambdaReply>);

impl Host for Scripted {
    fn invoke(&mut self, _call: &LambdaCall) -> LambdaReply {
        if self.0.is_empty() {
            LambdaReply::Answer(json!({"status": "ok"}))
        } else {
            self.0.remove(0)
        }
    }
}

fn one_flow(doc: Value) -> Instance {
    let flows = flows_from_json(&doc.to_string(), "t").unwrap();
    Instance {
        numbers: [("+18005550100".to_string(), flows[0].arn.clone())].into(),
        lambdas: [("arn:fn".to_string(), "ocw-phrase".to_string())].into(),
        flows,
        ..Instance::default()
    }
}

fn call() -> Call {
    Call {
        customer: "+13209071234".into(),
        dialled: "+18005550100".into(),
        contact_id: "c1".into(),
    }
}

fn lambda_flow() -> Value {
    json!({"Version": "2019-10-30", "StartAction": "call", "Actions": [
        {"Identifier": "call", "Type": "InvokeLambdaFunction",
         "Parameters": {"LambdaFunctionARN": "arn:fn", "InvocationTimeLimitSeconds": "3",
                        "LambdaInvocationAttributes": {"who": "$.CustomerEndpoint.Address"}},
         "Transitions": {"NextAction": "say", "Errors": [{"ErrorType": "NoMatchingError", "NextAction": "bye"}]}},
        {"Identifier": "say", "Type": "MessageParticipant", "Parameters": {"Text": "You said $.External.status."},
         "Transitions": {"NextAction": "bye"}},
        {"Identifier": "bye", "Type": "DisconnectParticipant", "Parameters": {}, "Transitions": {}}
    ]})
}

#[test]
fn lambda_answers_are_held_to_connects_rules() {
    let inst = one_flow(lambda_flow());
    let big = "x".repeat(33 * 1024);
    let cases = [
        (LambdaReply::Answer(json!({"status": "ok"})), "next"),
        (
            LambdaReply::Answer(json!({"status": {"nested": true}})),
            "NoMatchingError",
        ),
        (
            LambdaReply::Answer(json!(["not", "a", "map"])),
            "NoMatchingError",
        ),
        (
            LambdaReply::Answer(json!({"status": big})),
            "NoMatchingError",
        ),
        (LambdaReply::FunctionError("boom".into()), "NoMatchingError"),
        (LambdaReply::Timeout, "NoMatchingError"),
    ];
    for (reply, branch) in cases {
        let label = format!("{reply:?}").chars().take(60).collect::<String>();
        let run = run_contact(
            &inst,
            &mut Scripted(vec![reply]),
            call(),
            &mut Scenario::default(),
        )
        .unwrap();
        assert_eq!(run.steps[0].branch, branch, "{label}");
        let params = &run.lambda[0].call.event["Details"]["Parameters"];
        assert_eq!(params["who"], "+13209071234");
        if branch == "next" {
            assert!(
                run.steps[1]
                    .notes
                    .iter()
                    .any(|n| n.contains("You said ok.")),
                "{:?}",
                run.steps[1].notes
            );
        }
    }
}

#[test]
fn malformed_documents_are_load_errors() {
    for text in [
        "",
        "nul",
        "[]",
        "{}",
        "{\"Actions\": 3, \"StartAction\": 1}",
        "{\"ContactFlow\": {\"Content\": \"{\"}}",
        "{\"StartAction\": \"a\", \"Actions\": [1]}",
        "{\"StartAction\": \"a\", \"Actions\": [{\"Type\": \"X\"}]}",
    ] {
        assert!(flows_from_json(text, "bad").is_err(), "{text:?} loaded");
    }
}

#[test]
fn unknown_blocks_are_named() {
    let inst = one_flow(
        json!({"Version": "2019-10-30", "StartAction": "a", "Actions": [
        {"Identifier": "a", "Type": "Wait", "Parameters": {}, "Transitions": {"NextAction": "a"}}]}),
    );
    let e = run_contact(
        &inst,
        &mut Scripted(vec![]),
        call(),
        &mut Scenario::default(),
    )
    .unwrap_err();
    assert!(e.message.contains("Wait") && e.block == "a", "{e}");
    let findings = check_flow(&inst.flows[0], &|_| true);
    assert!(
        findings.iter().any(|f| f.message.contains("Wait")),
        "{findings:?}"
    );
}

/// Every shipped flow with each action's type, each transition target and each parameter value
/// replaced, run from the main number: a run or a named error, never a panic.
#[test]
fn mutated_shipped_flows_never_panic() {
    let text = std::fs::read_to_string(host::template_path()).unwrap();
    let stack = Stack {
        main_number: "+18005550100".into(),
        return_number: "+18005550199".into(),
        call_target: "+13205550100".into(),
        queues: vec![("arn:q".into(), "Q".into())],
        params: [
            ("InboundQueueArn", "arn:q"),
            ("CallbackDefaultQueueArn", "arn:q"),
            ("SecondChanceOffers", "true"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect::<BTreeMap<_, _>>(),
    };
    let base = host::shipped_instance(&text, &stack).unwrap();
    let types = [
        "DisconnectParticipant",
        "EndFlowExecution",
        "Compare",
        "TransferToFlow",
        "Loop",
        "",
        "GetParticipantInput",
    ];
    let mut runs = 0;
    for fi in 0..base.flows.len() {
        for ai in 0..base.flows[fi].actions.len() {
            for (k, t) in types.iter().enumerate() {
                let mut inst = base.clone();
                let a = &mut inst.flows[fi].actions[ai];
                a.typ = t.to_string();
                if k % 2 == 0 {
                    a.next = Some("nowhere".into());
                }
                if k == 3 {
                    a.params.clear();
                    a.errors.clear();
                }
                let _ = check_flow(&inst.flows[fi], &|_| true);
                let mut sc = Scenario {
                    inputs: ["1".to_string(), "".into()]
                        .into_iter()
                        .map(flow_runner::Input::Digits)
                        .collect(),
                    ..Scenario::default()
                };
                let _ = run_contact(&inst, &mut Scripted(vec![]), call_to(&stack), &mut sc);
                runs += 1;
            }
        }
    }
    assert!(runs > 300);
}

fn call_to(stack: &Stack) -> Call {
    Call {
        customer: "+13209071234".into(),
        dialled: stack.main_number.clone(),
        contact_id: "c".into(),
    }
}

/// The shipped flows (stack parameters resolved) pass the reference checks with no error and no
/// warning, as they pass `check --bundle infra`.
#[test]
fn shipped_flows_check_clean() {
    let text = std::fs::read_to_string(host::template_path()).unwrap();
    let stack = Stack {
        main_number: "+18005550100".into(),
        return_number: "+18005550199".into(),
        call_target: "+13205550100".into(),
        queues: vec![],
        params: [
            ("InboundQueueArn", "arn:q"),
            ("CallbackDefaultQueueArn", "arn:q"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
    };
    let inst = host::shipped_instance(&text, &stack).unwrap();
    assert_eq!(inst.flows.len(), 5);
    for f in &inst.flows {
        let findings = check_flow(f, &|arn| inst.lambdas.contains_key(arn));
        assert!(findings.is_empty(), "{}: {findings:?}", f.name);
    }
}
