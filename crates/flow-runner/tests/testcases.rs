//! Every test case of `infra/tests` (Connect Testing language) run locally against the shipped
//! flows, with the real functions and the Mindful simulator; each must pass. Plus what a wrong
//! test case gives: a failed observation named, an unsupported event named.

mod common;

use common::{show, test_case_files, tests_dir, Bench};
use flow_runner::testcase::{self, shipped, Status};

#[test]
fn every_test_case_in_infra_tests_passes() {
    let mut bench = Bench::start();
    // The published cases (the coverage suite, tests/coverage.rs, runs the subfolders too).
    let files = test_case_files(&tests_dir(), false);
    assert!(files.len() >= 7, "test cases: {files:?}");
    let mut failures = Vec::new();
    let mut runs = Vec::new();
    let mut observations = 0;
    for f in &files {
        match bench.run_file(f) {
            (_, Ok(r)) => {
                println!("{}", show(&r));
                observations += r.observations.len();
                assert!(
                    r.observations.iter().all(|o| o.status == Status::Passed),
                    "{}",
                    show(&r)
                );
                runs.push(r);
            }
            (name, Err(e)) => failures.push(format!("{name}: {e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Mindful called back (Metadata "mindful-sim" calls_back) and an agent took the callback.
    let answered = runs
        .iter()
        .filter(|r| {
            matches!(
                r.callback.as_ref().map(|c| &c.end),
                Some(flow_runner::End::Queued {
                    answered_by: Some(_),
                    ..
                })
            )
        })
        .count();
    assert!(answered >= 4, "callbacks answered: {answered}");
    let inst = shipped::instance(&bench.template, &Default::default()).unwrap();
    for c in testcase::coverage(&inst, runs.iter().flat_map(|r| r.contacts())) {
        println!(
            "{}: actions {}/{}, transitions {}/{}",
            c.flow, c.actions_run, c.actions, c.transitions_covered, c.transitions
        );
    }
    println!("{} test cases, {observations} observations", files.len());
    let (covered, total) = testcase::coverage(&inst, runs.iter().flat_map(|r| r.contacts()))
        .iter()
        .fold((0, 0), |(c, t), f| {
            (c + f.transitions_covered, t + f.transitions)
        });
    assert!(
        covered * 100 >= total * 40,
        "the test cases cover {covered} of {total} transitions, under the README's 40 %"
    );
}

/// The happy path's test case with its offer prompt text changed.
#[test]
fn a_wrong_prompt_text_fails_its_observation_by_name() {
    let mut bench = Bench::start();
    let text = std::fs::read_to_string(tests_dir().join("connect-offer-accepted.json")).unwrap();
    let wrong = text.replace(
        "The current hold time is about 4 minutes. To receive a callback, press 1, or stay on the line.",
        "Your call is important to us. Please hold for the next available representative.",
    );
    assert_ne!(text, wrong);
    let r = bench.run_text("wrong-prompt", &wrong).expect("runs");
    assert!(!r.passed());
    let offer = r
        .observations
        .iter()
        .find(|o| o.identifier == "Callback offer")
        .unwrap();
    assert_eq!(offer.status, Status::Failed, "{}", show(&r));
    assert!(
        offer.detail.contains("Your call is important") && offer.detail.contains("not observed"),
        "{}",
        offer.detail
    );
    // What depended on it is not reached (and fails with it); the keys were never sent, so the
    // caller was not transferred.
    let next = r
        .observations
        .iter()
        .find(|o| o.identifier == "Context stored")
        .unwrap();
    assert_eq!(next.status, Status::Failed);
    assert!(
        next.detail.contains("\"Callback offer\""),
        "{}",
        next.detail
    );
    assert!(!matches!(
        r.run.end,
        flow_runner::End::TransferredOut { .. }
    ));

    // A false assertion fails the observation it belongs to, naming the action.
    let wrong = text.replace("\"Operand\": \"AC-1042\"", "\"Operand\": \"AC-9999\"");
    let r = bench.run_text("wrong-assert", &wrong).expect("runs");
    let o = r
        .observations
        .iter()
        .find(|o| o.identifier == "Context stored")
        .unwrap();
    assert_eq!(o.status, Status::Failed);
    assert!(
        o.detail.contains("caller context") && o.detail.contains("\"AC-1042\""),
        "{}",
        o.detail
    );
}

#[test]
fn what_the_local_runner_cannot_honour_is_an_error_naming_the_observation() {
    let mut bench = Bench::start();
    let case = |event: &str, actions: &str| {
        format!(
            r#"{{"Version": "2025-06-21", "Metadata": {{"anything": {{"kept": true}}}}, "Observations": [
                {{"Identifier": "first", "Event": {{"Type": "TestInitiated", "Actor": "System", "Properties": {{}}}}, "Transitions": {{"NextObservations": ["the odd one"]}}}},
                {{"Identifier": "the odd one", "Event": {event}, "Actions": [{actions}]}}]}}"#
        )
    };
    let bot = case(
        r#"{"Type": "BotIntentRecognized", "Actor": "System", "Properties": {}}"#,
        "",
    );
    let e = bench.run_text("bot", &bot).unwrap_err().to_string();
    assert!(
        e.contains("\"the odd one\"") && e.contains("BotIntentRecognized"),
        "{e}"
    );
    let utterance = case(
        r#"{"Type": "TestCompleted", "Actor": "System", "Properties": {}}"#,
        r#"{"Identifier": "say", "Type": "SendInstruction", "Parameters": {"ActionType": "SendInstruction", "Actor": "Customer", "Instruction": {"Type": "TextUtterance", "Properties": {"Text": "agent"}}}}"#,
    );
    let e = bench
        .run_text("utterance", &utterance)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("\"the odd one\"") && e.contains("TextUtterance"),
        "{e}"
    );
    let unknown_action = case(
        r#"{"Type": "TestCompleted", "Actor": "System", "Properties": {}}"#,
        r#"{"Identifier": "x", "Type": "TransferToAgent", "Parameters": {}}"#,
    );
    let e = bench
        .run_text("action", &unknown_action)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("\"the odd one\"") && e.contains("TransferToAgent"),
        "{e}"
    );
    let namespace = case(
        r#"{"Type": "TestCompleted", "Actor": "System", "Properties": {}}"#,
        r#"{"Identifier": "x", "Type": "Assert", "Parameters": {"Namespace": "$.Customer.FirstName", "Operator": "Equals", "Operand": "Ada"}}"#,
    );
    let e = bench
        .run_text("namespace", &namespace)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("\"the odd one\"") && e.contains("$.Customer.FirstName"),
        "{e}"
    );
    // A misspelt key of something executed is refused, not ignored.
    let typo = case(
        r#"{"Type": "MessageReceived", "Actor": "System", "Properties": {"Text": "press 1", "MatchCriteria": "Similarity"}}"#,
        "",
    );
    let e = bench.run_text("typo", &typo).unwrap_err().to_string();
    assert!(
        e.contains("\"the odd one\"") && e.contains("MatchCriteria"),
        "{e}"
    );
    // A Datastore record set up for another caller must be a phone number (said, not skipped).
    let record = r#"{"Version": "2025-06-21", "Metadata": {"mindful-sim": {"records": [{"customer_contact_number": "anonymous", "data_values": {"queue_name": "Billing"}}]}}, "Observations": [
        {"Identifier": "first", "Event": {"Type": "TestInitiated", "Actor": "System", "Properties": {}}}]}"#;
    let e = bench.run_text("record", record).unwrap_err().to_string();
    assert!(e.contains("records") && e.contains("anonymous"), "{e}");
    // The same shape with events and actions the runner does honour runs (and passes).
    let fine = case(
        r#"{"Type": "TestCompleted", "Actor": "System", "Properties": {}}"#,
        r#"{"Identifier": "x", "Type": "Assert", "Parameters": {"Namespace": "$.SystemEndpoint.Address", "Operator": "Equals", "Operand": "+18005550100"}}"#,
    );
    let r = bench.run_text("fine", &fine).expect("runs");
    assert!(r.passed(), "{}", show(&r));
}

#[test]
fn keys_go_to_the_input_request_after_their_event() {
    // Second chance: the first offer times out (no key), the second is answered with 1. The
    // keys of the second observation must not answer the first request.
    let mut bench = Bench::start();
    let text = r#"{"Version": "2025-06-21",
      "Metadata": {"flow-runner": {"oldest_contact_age": "185", "stack": {"SecondChanceOffers": "true"}}},
      "Observations": [
        {"Identifier": "first offer", "Event": {"Type": "MessageReceived", "Actor": "System", "Properties": {"Text": "To receive a callback, press 1"}},
         "Transitions": {"NextObservations": ["second offer"]}},
        {"Identifier": "second offer", "Event": {"Type": "MessageReceived", "Actor": "System", "Properties": {"Text": "To receive a callback, press 1"}},
         "Actions": [
           {"Identifier": "counted", "Type": "Assert", "Parameters": {"Namespace": "$.Attributes.callback_offers", "Operator": "NumberGreaterOrEqualTo", "Operand": "2"}},
           {"Identifier": "press 1", "Type": "SendInstruction", "Parameters": {"ActionType": "SendInstruction", "Actor": "Customer", "Instruction": {"Type": "DtmfInput", "Properties": {"Value": 1}}}}],
         "Transitions": {"NextObservations": ["to Mindful"]}},
        {"Identifier": "to Mindful", "Event": {"Type": "FlowActionStarted", "Actor": "System", "Properties": {"ActionType": "TransferParticipantToThirdParty"}},
         "Actions": [{"Identifier": "end", "Type": "EndTest", "Parameters": {}}]}]}"#;
    let r = bench.run_text("second-chance", text).expect("runs");
    assert!(r.passed(), "{}", show(&r));
    let offers: Vec<&flow_runner::Step> = r
        .run
        .steps
        .iter()
        .filter(|s| s.typ == "GetParticipantInput")
        .collect();
    assert_eq!(offers.len(), 2, "{}", show(&r));
    assert_eq!(offers[0].branch, "InputTimeLimitExceeded");
    assert_eq!(offers[1].branch, "condition:Equals 1");
    assert!(matches!(
        r.run.end,
        flow_runner::End::TransferredOut {
            to_mindful: true,
            ..
        }
    ));
}

fn flow_runner_test(args: &[&str]) -> (i32, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_flow-runner"))
        .arg("test")
        .args(args)
        .output()
        .expect("flow-runner runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn the_test_command_reports_observations_coverage_and_gates() {
    let dir = tests_dir();
    let accepted = dir.join("connect-offer-accepted.json");
    let declined = dir.join("connect-offer-declined.json");
    let (a, d) = (
        accepted.to_string_lossy().to_string(),
        declined.to_string_lossy().to_string(),
    );
    let (code, out) = flow_runner_test(&[&a, &d, "--min-coverage", "5"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("PASS") && out.contains("ok   Callback offer"),
        "{out}"
    );
    assert!(
        out.contains("InboundToMindfulFlow: actions ") && out.contains("coverage gate 5 %: met"),
        "{out}"
    );
    // The same runs under a gate they do not meet: exit 1, and JSON for CI.
    let (code, out) = flow_runner_test(&[&a, &d, "--min-coverage", "90", "--json"]);
    assert_eq!(code, 1, "{out}");
    let doc: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(doc["passed"], false);
    assert_eq!(doc["test_cases"].as_array().map(Vec::len), Some(2));
    assert!(doc["test_cases"][0]["observations"][1]["status"] == "passed");
    let pct = doc["transition_coverage_percent"].as_f64().unwrap();
    assert!(pct > 5.0 && pct < 90.0, "{pct}");
    let flows = doc["coverage"].as_array().unwrap();
    assert_eq!(flows.len(), 5);
    // The accepted case's callback contact (calls_back) counts: the return flow is covered.
    assert!(
        flows
            .iter()
            .any(|f| f["flow"] == "CallbackReturnFlow"
                && f["transitions_covered"].as_u64() > Some(0)),
        "{doc:#}"
    );
    // A failing test case: exit 1 without a gate.
    let tmp = std::env::temp_dir().join(format!("flow-runner-tc-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let wrong = tmp.join("wrong.json");
    std::fs::write(
        &wrong,
        std::fs::read_to_string(&accepted)
            .unwrap()
            .replace("We will call you back", "Goodbye forever"),
    )
    .unwrap();
    let (code, out) = flow_runner_test(&[&wrong.to_string_lossy()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("FAIL Confirmation"), "{out}");
    // Bad arguments: exit 2.
    let (code, _) = flow_runner_test(&["--min-coverage", "x", &a]);
    assert_eq!(code, 2);
    std::fs::remove_dir_all(&tmp).ok();
}

#[test]
fn the_test_command_runs_a_users_test_case_against_the_users_flow() {
    let queue = "arn:aws:connect:us-east-1:111122223333:instance/abc/queue/sales";
    let flow = format!(
        r#"{{"Version": "2019-10-30", "StartAction": "set-queue", "Metadata": {{"type": "contactFlow"}}, "Actions": [
        {{"Identifier": "set-queue", "Type": "UpdateContactTargetQueue", "Parameters": {{"QueueId": "{queue}"}}, "Transitions": {{"NextAction": "welcome", "Errors": [{{"NextAction": "bye", "ErrorType": "NoMatchingError"}}]}}}},
        {{"Identifier": "welcome", "Type": "MessageParticipant", "Parameters": {{"Text": "Welcome to Example Corp."}}, "Transitions": {{"NextAction": "menu", "Errors": [{{"NextAction": "bye", "ErrorType": "NoMatchingError"}}]}}}},
        {{"Identifier": "menu", "Type": "GetParticipantInput", "Parameters": {{"Text": "For sales, press 1.", "StoreInput": "False", "InputTimeLimitSeconds": "5"}}, "Transitions": {{"NextAction": "bye", "Conditions": [{{"NextAction": "to-sales", "Condition": {{"Operator": "Equals", "Operands": ["1"]}}}}], "Errors": [{{"NextAction": "bye", "ErrorType": "InputTimeLimitExceeded"}}, {{"NextAction": "bye", "ErrorType": "NoMatchingCondition"}}, {{"NextAction": "bye", "ErrorType": "NoMatchingError"}}]}}}},
        {{"Identifier": "to-sales", "Type": "TransferContactToQueue", "Parameters": {{}}, "Transitions": {{"NextAction": "bye", "Errors": [{{"NextAction": "bye", "ErrorType": "QueueAtCapacity"}}, {{"NextAction": "bye", "ErrorType": "NoMatchingError"}}]}}}},
        {{"Identifier": "bye", "Type": "DisconnectParticipant", "Parameters": {{}}, "Transitions": {{}}}}]}}"#
    );
    let case = format!(
        r#"{{"Version": "2025-06-21", "Metadata": {{}}, "Observations": [
        {{"Identifier": "Welcome Message", "Event": {{"Type": "MessageReceived", "Actor": "System", "Properties": {{"Text": "Welcome to Example Corp.", "MatchingCriteria": "Similarity"}}}}, "Transitions": {{"NextObservations": ["Menu"]}}}},
        {{"Identifier": "Menu", "Event": {{"Type": "MessageReceived", "Actor": "System", "Properties": {{"Text": "press 1", "MatchingCriteria": "Inclusion"}}}},
          "Actions": [{{"Identifier": "one", "Type": "SendInstruction", "Parameters": {{"ActionType": "SendInstruction", "Actor": "Customer", "Instruction": {{"Type": "DtmfInput", "Properties": {{"Value": "1"}}}}}}}}],
          "Transitions": {{"NextObservations": ["Queue Placement"]}}}},
        {{"Identifier": "Queue Placement", "Event": {{"Type": "FlowActionStarted", "Actor": "System", "Properties": {{"ActionType": "TransferContactToQueue", "ActionParameters": {{"QueueId": "{queue}"}}}}}},
          "Actions": [{{"Identifier": "queue", "Type": "Assert", "Parameters": {{"Namespace": "$.Queue.ARN", "Operator": "TextEndsWith", "Operand": "/queue/sales"}}}},
                      {{"Identifier": "end", "Type": "EndTest", "Parameters": {{"ActionType": "EndTest"}}}}]}}]}}"#
    );
    let tmp = std::env::temp_dir().join(format!("flow-runner-user-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let (f, c) = (tmp.join("flow.json"), tmp.join("case.json"));
    std::fs::write(&f, flow).unwrap();
    std::fs::write(&c, case).unwrap();
    let (code, out) = flow_runner_test(&[&c.to_string_lossy(), "--flow", &f.to_string_lossy()]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("ok   Queue Placement"), "{out}");
    assert!(
        out.contains("queue: $.Queue.ARN TextEndsWith \"/queue/sales\" holds"),
        "{out}"
    );
    // welcome next, menu 1, set-queue next, to-sales end (not a transition): 3 of 12.
    assert!(out.contains("actions 4/5, transitions 3/12"), "{out}");
    std::fs::remove_dir_all(&tmp).ok();
}
