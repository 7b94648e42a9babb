//! The mutation suite (issue 26 part 5), and what was `infra/check_flows.py --self-test`: single
//! changes to our own flows (infra/template.yaml, rendered from infra/flows/) that Connect would
//! reject or that break the call, each caught by `check --bundle` with the expected message; and
//! harmless edits that must stay clean.

use std::path::PathBuf;

use flow_runner::bundle::{check_bundle, Bundle};
use flow_runner::check::Severity;
use serde_json::{json, Value};

fn infra() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../infra")
}

fn bundle() -> Bundle {
    Bundle::load(&infra()).unwrap()
}

/// The errors of the bundle's check, one line each.
fn errors(b: &Bundle) -> Vec<String> {
    check_bundle(b)
        .into_iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| f.to_string())
        .collect()
}

fn flow<'a>(b: &'a mut Bundle, name: &str) -> &'a mut Value {
    let f = b.flows.iter_mut().find(|f| f.resource == name).unwrap();
    f.content.as_mut().unwrap()
}

fn act<'a>(f: &'a mut Value, id: &str) -> &'a mut Value {
    f["Actions"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|a| a["Identifier"] == id)
        .unwrap()
}

/// Renames an action everywhere (Identifier, transitions, StartAction, Metadata).
fn rename(f: &mut Value, old: &str, new: &str) {
    let text = f
        .to_string()
        .replace(&format!("\"{old}\""), &serde_json::to_string(new).unwrap());
    *f = serde_json::from_str(&text).unwrap();
}

type Mutation = Box<dyn Fn(&mut Bundle)>;

fn m(name: &'static str, f: impl Fn(&mut Value) + 'static) -> Mutation {
    Box::new(move |b| f(flow(b, name)))
}

const NI: &str = "NormalInboundFlow";
const IM: &str = "InboundToMindfulFlow";
const CR: &str = "CallbackReturnFlow";
const CW: &str = "CustomerWhisperFlow";
const SQ: &str = "SecondChanceQueueFlow";

/// (label, expected fragment of an error, mutation, fragment that must NOT be reported)
fn cases() -> Vec<(&'static str, &'static str, Mutation, Option<&'static str>)> {
    let c = |l, e, m| (l, e, m, None);
    vec![
        // --- what check_flows.py --self-test caught
        c("unknown NextAction", "unknown action \"nowhere\"", m(IM, |f| act(f, "get-queue-metrics")["Transitions"]["NextAction"] = json!("nowhere"))),
        c("duplicate identifier", "duplicate Identifier", m(CR, |f| { let a = f["Actions"][0].clone(); f["Actions"].as_array_mut().unwrap().push(a) })),
        c("unreachable action", "unreachable", m(NI, |f| f["Actions"].as_array_mut().unwrap().push(json!({"Identifier": "orphan", "Type": "DisconnectParticipant", "Parameters": {}, "Transitions": {}})))),
        c("bad StartAction", "StartAction", m(NI, |f| f["StartAction"] = json!("missing"))),
        c("bad Version", "Version", m(NI, |f| f["Version"] = json!("2020-01-01"))),
        c("foreign Lambda ARN", "LambdaFunctionARN", m(IM, |f| act(f, "get-wait-phrase")["Parameters"]["LambdaFunctionARN"] = json!("arn:aws:lambda:us-east-1:111122223333:function:other"))),
        c("ocw-phrase without OCW", "needs the OCW", m(IM, |f| { act(f, "get-wait-phrase")["Parameters"]["LambdaInvocationAttributes"].as_object_mut().unwrap().remove("OCW"); })),
        c("unknown agent-answer parameter", "does not know parameters", m(CW, |f| act(f, "report-agent-answer")["Parameters"]["LambdaInvocationAttributes"]["AgentId"] = json!("$.Agent.UserName"))),
        c("literal secret", "literal secret", m(CW, |f| act(f, "report-agent-answer")["Parameters"]["LambdaInvocationAttributes"]["Secret_Num"] = json!("hunter2"))),
        c("status check without a widget", "STATUS needs widget_id", m(IM, |f| { act(f, "check-mindful-status")["Parameters"]["LambdaInvocationAttributes"].as_object_mut().unwrap().remove("widget_id"); })),
        c("status check storing data", "STATUS ignores parameters", m(SQ, |f| act(f, "check-mindful-status")["Parameters"]["LambdaInvocationAttributes"]["queue_name"] = json!("$.Queue.Name"))),
        c("status check with no room for its budget", "leaves no room for datastore-proxy", m(IM, |f| act(f, "check-mindful-status")["Parameters"]["InvocationTimeLimitSeconds"] = json!("3"))),
        c("bad datastore method", "method must be POST, GET or STATUS", m(CR, |f| act(f, "load-caller-context")["Parameters"]["LambdaInvocationAttributes"]["method"] = json!("DELETE"))),
        c("datastore GET with data keys", "GET ignores", m(CR, |f| act(f, "load-caller-context")["Parameters"]["LambdaInvocationAttributes"]["customer_name"] = json!("x"))),
        c("External key the function never returns", "does not return", m(IM, |f| act(f, "check-offer-callback")["Parameters"]["ComparisonValue"] = json!("$.External.offerCallback"))),
        c("External key not POSTed by any flow", "does not return", m(CR, |f| act(f, "set-original-queue")["Parameters"]["QueueId"] = json!("$.External.queueArn"))),
        c("External read on an error branch", "error branch of", m(CR, |f| act(f, "load-caller-context")["Transitions"]["Errors"][0]["NextAction"] = json!("check-context-found"))),
        c("External read before any call", "before any Lambda call", m(NI, |f| act(f, "check-voice")["Parameters"]["ComparisonValue"] = json!("$.External.status"))),
        c("Lambda error branch disconnects", "does not reach a queue", m(IM, |f| act(f, "save-caller-context")["Transitions"]["Errors"][0]["NextAction"] = json!("sorry-message"))),
        c("Lambda error not handled", "does not handle error NoMatchingError", m(IM, |f| act(f, "get-wait-phrase")["Transitions"]["Errors"] = json!([]))),
        c("timeout above 8 s", "from 1 to 8", m(IM, |f| act(f, "save-caller-context")["Parameters"]["InvocationTimeLimitSeconds"] = json!("9"))),
        c("timeout below the budget", "leaves no room", m(CR, |f| act(f, "load-caller-context")["Parameters"]["InvocationTimeLimitSeconds"] = json!("3"))),
        c("JSON response type", "STRING_MAP", m(CW, |f| act(f, "report-agent-answer")["Parameters"]["ResponseValidation"] = json!({"ResponseType": "JSON"}))),
        c("whisper disconnects", "must end with EndFlowExecution", m(CW, |f| act(f, "end-whisper")["Type"] = json!("DisconnectParticipant"))),
        c("queue without working queue", "without a working queue", m(NI, |f| act(f, "set-working-queue")["Transitions"]["Errors"][0]["NextAction"] = json!("transfer-to-queue"))),
        c("input timeout not handled", "InputTimeLimitExceeded", m(IM, |f| { let e = act(f, "offer-callback")["Transitions"]["Errors"].as_array_mut().unwrap(); e.retain(|x| x["ErrorType"] != "InputTimeLimitExceeded") })),
        c("dead end", "without transitions", m(NI, |f| act(f, "enable-flow-logs")["Transitions"] = json!({}))),
        c("unknown placeholder", "placeholder ${CallTarget}", m(IM, |f| act(f, "transfer-to-mindful")["Parameters"]["ThirdPartyPhoneNumber"] = json!("${CallTarget}"))),
        c("whisper hook to a contact flow", "expected [\"CUSTOMER_WHISPER\"]", m(CR, |f| act(f, "set-agent-answer-whisper")["Parameters"]["EventHooks"] = json!({"CustomerWhisper": "${NormalInboundFlow.ContactFlowArn}"}))),
        c("queue block in a whisper", "not allowed in a CUSTOMER_WHISPER", m(CW, |f| act(f, "end-whisper")["Type"] = json!("TransferContactToQueue"))),
        c("unknown action type", "unknown action Type", m(NI, |f| act(f, "enable-flow-logs")["Type"] = json!("SetLogging"))),
        c("queue flow does not count offers", "needs offers_made and max_offers", m(SQ, |f| { act(f, "get-wait-phrase")["Parameters"]["LambdaInvocationAttributes"].as_object_mut().unwrap().remove("max_offers"); })),
        c("queue flow offers before storing the count", "before storing $.External.offers_made", m(SQ, |f| act(f, "count-offer")["Parameters"]["Attributes"] = json!({"offers_seen": "$.External.offers_made"}))),
        c("queue flow counts into a literal", "must be a contact attribute", m(SQ, |f| act(f, "get-wait-phrase")["Parameters"]["LambdaInvocationAttributes"]["offers_made"] = json!("1"))),
        c("queue flow with a literal cap", "must be a whole number or a stack parameter", m(SQ, |f| act(f, "get-wait-phrase")["Parameters"]["LambdaInvocationAttributes"]["max_offers"] = json!("two"))),
        c("queue flow hangs up", "never hang up", m(SQ, |f| act(f, "end-queue-flow")["Type"] = json!("DisconnectParticipant"))),
        c("queue flow transfers to queue", "not allowed in a CUSTOMER_QUEUE", m(SQ, |f| { let a = act(f, "end-queue-flow"); a["Type"] = json!("TransferContactToQueue"); a["Transitions"] = json!({"NextAction": "hold-loop", "Errors": [{"NextAction": "hold-loop", "ErrorType": "QueueAtCapacity"}, {"NextAction": "hold-loop", "ErrorType": "NoMatchingError"}]}) })),
        c("queue flow transfers to a flow", "TransferToFlow is not allowed in a CUSTOMER_QUEUE", m(SQ, |f| { let a = act(f, "transfer-to-mindful"); a["Type"] = json!("TransferToFlow"); a["Parameters"] = json!({"ContactFlowId": "${InboundToMindfulFlow.ContactFlowArn}"}); a["Transitions"] = json!({"Errors": [{"NextAction": "hold-loop", "ErrorType": "NoMatchingError"}]}) })),
        c("loop prompts without interval", "InterruptFrequencySeconds", m(SQ, |f| { act(f, "hold-loop")["Parameters"].as_object_mut().unwrap().remove("InterruptFrequencySeconds"); })),
        c("loop prompts never interrupted", "no MessagesInterrupted", m(SQ, |f| act(f, "hold-loop")["Transitions"]["Conditions"][0]["Condition"]["Operands"] = json!(["Timeout"]))),
        c("offer not gated by offer_callback", "does not check $.External.offer_callback", m(SQ, |f| act(f, "check-offer-callback")["Transitions"]["Conditions"][0]["Condition"]["Operands"] = json!(["false"]))),
        c("Call Target before the context is stored", "was not stored", m(SQ, |f| act(f, "check-context-saved")["Transitions"]["Conditions"][0]["Condition"]["Operands"] = json!(["error"]))),
        c("queue hook to a contact flow", "expected [\"CUSTOMER_QUEUE\"]", m(IM, |f| act(f, "set-second-chance-queue-flow")["Parameters"]["EventHooks"] = json!({"CustomerQueue": "${NormalInboundFlow.ContactFlowArn}"}))),
        c("second chance cannot be switched off", "never reads ${SecondChanceOffers}", m(IM, |f| act(f, "mark-second-chance")["Parameters"]["Attributes"] = json!({"mindful_second_chance": "true"}))),
        c("first offer not counted", "never counts it in the callback_offers", m(IM, |f| act(f, "count-first-offer")["Parameters"]["Attributes"] = json!({"offers": "1"}))),
        c("a sentence written in the offer flow", "policy: the prompt says", m(IM, |f| act(f, "offer-callback")["Parameters"]["Text"] = json!("The current hold time is $.External.OCW. Press 1."))),
        c("an English hold message in the queue flow", "policy: the prompt says", m(SQ, |f| act(f, "hold-loop")["Parameters"]["Messages"][0]["SSML"] = json!("<speak>Thank you for holding.<break time=\"10s\"/></speak>"))),
        c("offers_made without max_offers", "together", m(IM, |f| act(f, "get-wait-phrase")["Parameters"]["LambdaInvocationAttributes"]["offers_made"] = json!("$.Attributes.callback_offers"))),
        c("offers_made read from a call that does not count", "does not return", m(IM, |f| act(f, "count-first-offer")["Parameters"]["Attributes"] = json!({"callback_offers": "$.External.offers_made"}))),
        c("POST without the routing attribute", "routing_attribute = $.Attributes.${ReturnRoutingAttribute}", m(IM, |f| { act(f, "save-caller-context")["Parameters"]["LambdaInvocationAttributes"].as_object_mut().unwrap().remove("routing_attribute"); })),
        c("POST without the queue ARN", "queue_arn = $.Queue.ARN", m(SQ, |f| act(f, "save-caller-context")["Parameters"]["LambdaInvocationAttributes"]["queue_arn"] = json!("${InboundQueueArn}"))),
        c("POSTs store different keys", "different Data Keys", m(SQ, |f| act(f, "save-caller-context")["Parameters"]["LambdaInvocationAttributes"]["offer_round"] = json!("$.Attributes.callback_offers"))),
        c("return flow does not restore the routing attribute", "does not restore $.External.routing_attribute", m(CR, |f| act(f, "restore-routing-attribute")["Parameters"]["Attributes"] = json!({"skill": "$.External.routing_attribute"}))),
        c("return flow routes by name", "from $.External.queue_arn", m(CR, |f| act(f, "set-original-queue")["Parameters"]["QueueId"] = json!("$.External.queue_name"))),
        c("transfer with ContinueFlowExecution False declares CallFailed", "declares error CallFailed, which the reference allows when ContinueFlowExecution is True", m(IM, |f| act(f, "transfer-to-mindful")["Transitions"]["Errors"].as_array_mut().unwrap().push(json!({"NextAction": "queue-caller", "ErrorType": "CallFailed"})))),
        c("transfer with ContinueFlowExecution False declares ConnectionTimeLimitExceeded", "declares error ConnectionTimeLimitExceeded", m(SQ, |f| act(f, "transfer-to-mindful")["Transitions"]["Errors"].as_array_mut().unwrap().push(json!({"NextAction": "end-queue-flow", "ErrorType": "ConnectionTimeLimitExceeded"})))),
        c("resuming transfer without its CallFailed branch", "does not handle error CallFailed", m(IM, |f| act(f, "transfer-to-mindful")["Parameters"]["ContinueFlowExecution"] = json!("True"))),
        c("transfer without NextAction", "TransferParticipantToThirdParty has no NextAction", m(IM, |f| { act(f, "transfer-to-mindful")["Transitions"].as_object_mut().unwrap().remove("NextAction"); })),
        c("Get customer input leads back to Loop prompts", "GetParticipantInput (Get customer input / Store customer input) leads back to the Loop prompts block hold-loop", m(SQ, |f| act(f, "offer-callback")["Transitions"]["NextAction"] = json!("hold-loop"))),
        c("transfer error leads back to Loop prompts", "TransferParticipantToThirdParty (Transfer to phone number) leads back to the Loop prompts", m(SQ, |f| act(f, "transfer-to-mindful")["Transitions"]["Errors"][0]["NextAction"] = json!("hold-loop"))),
        c("interval parameter allows 20 s", "MinValue greater than 20", Box::new(|b: &mut Bundle| b.params.get_mut("SecondChanceIntervalSeconds").unwrap().min_value = Some(20.0))),
        c("literal interruption period of 20 s", "InterruptFrequencySeconds is \"20\"", m(SQ, |f| act(f, "hold-loop")["Parameters"]["InterruptFrequencySeconds"] = json!("20"))),
        ("DisconnectParticipant is allowed in a customer queue flow (policy only)", "policy: the second-chance customer queue flow must never hang up", m(SQ, |f| act(f, "end-queue-flow")["Type"] = json!("DisconnectParticipant")), Some("DisconnectParticipant is not allowed in a CUSTOMER_QUEUE")),
        c("EndFlowExecution in a hold flow", "EndFlowExecution is not allowed in a CUSTOMER_HOLD flow", Box::new(|b: &mut Bundle| b.flows.iter_mut().find(|f| f.resource == SQ).unwrap().typ = "CUSTOMER_HOLD".into())),
        c("error the action never raises", "UpdateFlowLoggingBehavior declares error NoMatchingError, which the reference allows never", m(NI, |f| act(f, "enable-flow-logs")["Transitions"]["Errors"] = json!([{"NextAction": "set-working-queue", "ErrorType": "NoMatchingError"}]))),
        c("unknown parameter", "GetMetricData has no parameter \"Channel\"", m(IM, |f| act(f, "get-queue-metrics")["Parameters"]["Channel"] = json!("Voice"))),
        c("dynamic value where the reference wants a static one", "FlowLoggingBehavior must be static", m(CR, |f| act(f, "enable-flow-logs")["Parameters"]["FlowLoggingBehavior"] = json!("$.Attributes.logging"))),
        c("Set working queue in a customer queue flow", "UpdateContactTargetQueue is not allowed in a CUSTOMER_QUEUE flow", m(SQ, |f| { let a = act(f, "count-offer"); a["Type"] = json!("UpdateContactTargetQueue"); a["Parameters"] = json!({"QueueId": "${InboundQueueArn}"}) })),
        c("$.Agent in an inbound flow", "reads $.Agent, which holds no data in a CONTACT_FLOW flow", m(IM, |f| act(f, "save-caller-context")["Parameters"]["LambdaInvocationAttributes"]["agent"] = json!("$.Agent.UserName"))),
        c("$.Metrics without Get queue metrics", "reads $.Metrics on a path without the block that fills it", m(SQ, |f| act(f, "get-queue-metrics")["Transitions"]["Errors"][0]["NextAction"] = json!("get-wait-phrase"))),
        c("$.External after an asynchronous call", "an ASYNCHRONOUS call", m(IM, |f| act(f, "get-wait-phrase")["Parameters"]["InvocationType"] = json!("ASYNCHRONOUS"))),
        c("flow without flow logs", "must start with UpdateFlowLoggingBehavior Enabled", m(CW, |f| f["StartAction"] = json!("report-agent-answer"))),
        c("two blocks at one spot", "is also", m(CW, |f| { let p = f["Metadata"]["ActionMetadata"]["report-agent-answer"]["position"].clone(); f["Metadata"]["ActionMetadata"]["end-whisper"]["position"] = p })),
        c("flow without designer layout", "no Metadata.entryPointPosition", m(NI, |f| { f.as_object_mut().unwrap().remove("Metadata"); })),
        c("missing record skips the default queue", "does not reach the default queue", m(CR, |f| act(f, "check-context-found")["Transitions"] = json!({"NextAction": "set-agent-answer-whisper", "Errors": [{"NextAction": "set-agent-answer-whisper", "ErrorType": "NoMatchingCondition"}]}))),
        // --- what the issue names, and more of what Connect refuses
        c("Lambda time limit 0", "InvocationTimeLimitSeconds is \"0\"", m(IM, |f| act(f, "get-wait-phrase")["Parameters"]["InvocationTimeLimitSeconds"] = json!("0"))),
        c("Lambda time limit as a number", "wrong value type", m(IM, |f| act(f, "get-wait-phrase")["Parameters"]["InvocationTimeLimitSeconds"] = json!(3))),
        c("negative input timeout", "InputTimeLimitSeconds is \"-5\"", m(IM, |f| act(f, "offer-callback")["Parameters"]["InputTimeLimitSeconds"] = json!("-5"))),
        c("zero input timeout", "InputTimeLimitSeconds is \"0\"", m(SQ, |f| act(f, "offer-callback")["Parameters"]["InputTimeLimitSeconds"] = json!("0"))),
        c("negative transfer timeout", "ThirdPartyConnectionTimeLimitSeconds is \"-1\"", m(IM, |f| act(f, "transfer-to-mindful")["Parameters"]["ThirdPartyConnectionTimeLimitSeconds"] = json!("-1"))),
        c("transfer timeout over 600 s", "ThirdPartyConnectionTimeLimitSeconds is \"601\"", m(SQ, |f| act(f, "transfer-to-mindful")["Parameters"]["ThirdPartyConnectionTimeLimitSeconds"] = json!("601"))),
        c("Identifier with a colon", "Identifier \"set:queue\"", m(NI, |f| rename(f, "set-working-queue", "set:queue"))),
        c("Identifier with a dollar", "Identifier \"$disconnect\"", m(NI, |f| rename(f, "disconnect", "$disconnect"))),
        c("Identifier over 50 characters", "over 50 characters", m(CW, |f| rename(f, "end-whisper", &"e".repeat(51)))),
        c("reserved Identifier", "reserved name", m(CW, |f| rename(f, "end-whisper", "constructor"))),
        c("misspelled event hook", "\"CustomerQueu\" is not an event hook", m(IM, |f| act(f, "set-second-chance-queue-flow")["Parameters"]["EventHooks"] = json!({"CustomerQueu": "${SecondChanceQueueFlow.ContactFlowArn}"}))),
        c("two event hooks in one block", "exactly one entry", m(CR, |f| act(f, "set-agent-answer-whisper")["Parameters"]["EventHooks"]["CustomerHold"] = json!("${CustomerWhisperFlow.ContactFlowArn}"))),
        c("Play prompt without a prompt", "exactly one of Text, SSML, PromptId, Media", m(NI, |f| act(f, "sorry-message")["Parameters"] = json!({}))),
        c("Play prompt with two prompts", "exactly one of Text, SSML, PromptId, Media", m(NI, |f| act(f, "sorry-message")["Parameters"]["SSML"] = json!("<speak>Sorry</speak>"))),
        c("Get customer input without a prompt", "exactly one of Text, SSML, PromptId, Media", m(IM, |f| { act(f, "offer-callback")["Parameters"].as_object_mut().unwrap().remove("Text"); })),
        c("Set working queue without a queue", "exactly one of QueueId, AgentId", m(NI, |f| act(f, "set-working-queue")["Parameters"] = json!({}))),
        c("unknown Compare operator", "Compare operator \"Equal\"", m(NI, |f| act(f, "check-voice")["Transitions"]["Conditions"][0]["Condition"]["Operator"] = json!("Equal"))),
        c("Compare operator of another product", "Compare operator \"GreaterThan\"", m(IM, |f| act(f, "check-offer-callback")["Transitions"]["Conditions"][0]["Condition"]["Operator"] = json!("GreaterThan"))),
        c("Attributes as a list", "Attributes must be an object", m(NI, |f| act(f, "mark-callbacks-enabled")["Parameters"]["Attributes"] = json!([{"mindful_callbacks_enabled": "true"}]))),
        c("attribute value as a number", "not a string", m(IM, |f| act(f, "count-first-offer")["Parameters"]["Attributes"]["callback_offers"] = json!(1))),
        c("Lambda parameter as a number", "not a string", m(IM, |f| act(f, "get-wait-phrase")["Parameters"]["LambdaInvocationAttributes"]["OCW"] = json!(185))),
        c("Loop prompts messages as an object", "must be a list", m(SQ, |f| { let first = act(f, "hold-loop")["Parameters"]["Messages"][0].clone(); act(f, "hold-loop")["Parameters"]["Messages"] = first })),
        c("dangling error transition", "transition to unknown action \"sorry\"", m(CR, |f| act(f, "load-caller-context")["Transitions"]["Errors"][0]["NextAction"] = json!("sorry"))),
        c("dangling condition transition", "transition to unknown action \"to-agent\"", m(NI, |f| act(f, "check-voice")["Transitions"]["Conditions"][0]["NextAction"] = json!("to-agent"))),
        c("content over Connect's size limit", "over Connect's limit of 256000", m(NI, |f| act(f, "sorry-message")["Parameters"]["Text"] = json!("Sorry. ".repeat(40_000)))),
        c("Get customer input key of two digits", "one key 0-9", m(IM, |f| act(f, "offer-callback")["Transitions"]["Conditions"][0]["Condition"]["Operands"] = json!(["12"]))),
        c("StoreInput neither True nor False", "StoreInput is \"Maybe\"", m(IM, |f| act(f, "offer-callback")["Parameters"]["StoreInput"] = json!("Maybe"))),
        c("flow logging value misspelled", "FlowLoggingBehavior is \"On\"", m(CW, |f| act(f, "enable-flow-logs")["Parameters"]["FlowLoggingBehavior"] = json!("On"))),
        c("invocation type misspelled", "InvocationType is \"SYNC\"", m(CR, |f| act(f, "load-caller-context")["Parameters"]["InvocationType"] = json!("SYNC"))),
        c("ContinueFlowExecution misspelled", "ContinueFlowExecution is \"No\"", m(IM, |f| act(f, "transfer-to-mindful")["Parameters"]["ContinueFlowExecution"] = json!("No"))),
        c("queue priority 0", "QueuePriority is \"0\"", m(CR, |f| act(f, "raise-priority")["Parameters"]["QueuePriority"] = json!("0"))),
        c("disconnect with a transition", "must not have transitions", m(NI, |f| act(f, "disconnect")["Transitions"]["NextAction"] = json!("sorry-message"))),
        c("Conditions on a block without them", "does not support Conditions", m(NI, |f| act(f, "set-working-queue")["Transitions"]["Conditions"] = json!([{"NextAction": "disconnect", "Condition": {"Operator": "Equals", "Operands": ["x"]}}]))),
        c("required parameter missing", "needs parameter LambdaFunctionARN", m(CW, |f| { act(f, "report-agent-answer")["Parameters"].as_object_mut().unwrap().remove("LambdaFunctionARN"); })),
        c("an error type declared twice", "declares error NoMatchingError twice", m(CW, |f| act(f, "report-agent-answer")["Transitions"]["Errors"].as_array_mut().unwrap().push(json!({"NextAction": "end-whisper", "ErrorType": "NoMatchingError"})))),
        c("Compare on more than one JSONPath", "single JSONPath identifier", m(NI, |f| act(f, "check-voice")["Parameters"]["ComparisonValue"] = json!("$.Channel and $.Queue.Name"))),
    ]
}

#[test]
fn the_shipped_bundle_checks_clean() {
    let e = errors(&bundle());
    assert!(e.is_empty(), "{e:#?}");
}

#[test]
fn every_mutation_is_caught() {
    let cases = cases();
    assert!(cases.len() >= 40, "{}", cases.len());
    let mut missed = Vec::new();
    for (label, expected, mutate, absent) in &cases {
        let mut b = bundle();
        mutate(&mut b);
        let e = errors(&b);
        let hit = e.iter().any(|x| x.contains(expected));
        let wrong = absent.and_then(|a| e.iter().find(|x| x.contains(a)));
        if !hit || wrong.is_some() {
            missed.push(format!("{label}: expected {expected:?}, got {e:#?}"));
        }
    }
    assert!(
        missed.is_empty(),
        "{} of {} missed:\n{}",
        missed.len(),
        cases.len(),
        missed.join("\n")
    );
}

/// Edits that change nothing Connect or the caller would notice: each stays clean.
#[test]
fn harmless_edits_stay_clean() {
    let edits: Vec<(&str, Mutation)> = vec![
        (
            "actions in reverse order",
            m(IM, |f| f["Actions"].as_array_mut().unwrap().reverse()),
        ),
        (
            "keys in another order",
            m(SQ, |f| {
                let text = serde_json::to_string_pretty(f).unwrap();
                let mut v: Value = serde_json::from_str(&text).unwrap();
                for a in v["Actions"].as_array_mut().unwrap() {
                    let o = a.as_object().unwrap().clone();
                    let mut r = serde_json::Map::new();
                    for (k, x) in o.into_iter().rev() {
                        r.insert(k, x);
                    }
                    *a = Value::Object(r);
                }
                *f = v;
            }),
        ),
        (
            "an identifier renamed validly",
            m(NI, |f| {
                rename(f, "set-working-queue", "Set working queue ✓ inbound")
            }),
        ),
        (
            "a UUID identifier",
            m(CR, |f| {
                rename(f, "raise-priority", "0b6f3f0e-8a4e-4a36-9d4b-0f1f0e7c2a11")
            }),
        ),
        (
            "designer metadata added",
            m(CW, |f| {
                f["Metadata"]["name"] = json!("Customer whisper");
                f["Metadata"]["description"] = json!("agent answer");
                f["Metadata"]["type"] = json!("customerWhisper");
                f["Metadata"]["Annotations"] = json!([]);
                f["Metadata"]["ActionMetadata"]["end-whisper"]["isFriendlyName"] = json!(true);
            }),
        ),
        (
            "another wording of a flow without ocw-phrase",
            m(NI, |f| {
                act(f, "sorry-message")["Parameters"]["Text"] =
                    json!("Sorry, we are closed. Goodbye.")
            }),
        ),
        (
            "the longest Lambda time limit",
            m(CR, |f| {
                act(f, "load-caller-context")["Parameters"]["InvocationTimeLimitSeconds"] =
                    json!("8")
            }),
        ),
        (
            "a literal interruption period of 21 s",
            m(SQ, |f| {
                act(f, "hold-loop")["Parameters"]["InterruptFrequencySeconds"] = json!("21")
            }),
        ),
        (
            "a Compare operator Connect knows",
            m(NI, |f| {
                act(f, "check-voice")["Transitions"]["Conditions"][0]["Condition"]["Operator"] =
                    json!("TextStartsWith")
            }),
        ),
        (
            "flow logs disabled later",
            m(NI, |f| {
                f["Actions"].as_array_mut().unwrap().push(json!({"Identifier": "logs-off", "Type": "UpdateFlowLoggingBehavior", "Parameters": {"FlowLoggingBehavior": "Disabled"}, "Transitions": {"NextAction": "disconnect"}}));
                act(f, "sorry-message")["Transitions"]["NextAction"] = json!("logs-off");
                act(f, "sorry-message")["Transitions"]["Errors"][0]["NextAction"] =
                    json!("logs-off");
                f["Metadata"]["ActionMetadata"]["logs-off"] =
                    json!({"position": {"x": 99999, "y": 99999}});
            }),
        ),
    ];
    let mut dirty = Vec::new();
    for (label, edit) in &edits {
        let mut b = bundle();
        edit(&mut b);
        let e = errors(&b);
        if !e.is_empty() {
            dirty.push(format!("{label}: {e:#?}"));
        }
    }
    assert!(dirty.is_empty(), "{}", dirty.join("\n"));
}
