//! End to end: the journey's core function with the real function binaries (built once here
//! with `cargo build -p ocw-phrase -p datastore-proxy -p agent-answer`; Cargo holds no build lock
//! while tests run, so this does not deadlock under `cargo test`).

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use journey::{Binaries, Ending, Expect, FaultSpec, Options, FUNCTIONS};
use mindful_sim::CallState;

fn binaries() -> Binaries {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let dir =
        DIR.get_or_init(|| lambda_harness::build_debug(&FUNCTIONS).map_err(|e| e.to_string()));
    match dir {
        Ok(d) => Binaries::Dir(d.clone()),
        Err(e) => panic!("building the functions failed: {e}"),
    }
}

fn run(opts: Options) -> (journey::JourneyReport, String) {
    let mut out = Vec::new();
    let report = journey::run(&opts, &mut out).expect("journey runs");
    let text = String::from_utf8_lossy(&out).into_owned();
    println!("{text}");
    (report, text)
}

#[test]
fn default_journey_reaches_an_answered_callback() {
    let (report, text) = run(Options {
        binaries: binaries(),
        ..Options::default()
    });
    assert!(report.passed(), "{:?}", report.problems);
    let functions: Vec<&str> = report.steps.iter().map(|s| s.function).collect();
    assert_eq!(
        functions,
        [
            "ocw-phrase",
            "datastore-proxy",
            "datastore-proxy",
            "agent-answer"
        ]
    );
    let phrase = &report.steps[0];
    assert_eq!(phrase.get("OCW"), Some("about 4 minutes"));
    assert_eq!(phrase.get("offer_callback"), Some("true"));
    assert_eq!(
        report.steps[1].get("customer_contact_number"),
        Some("+13209071234")
    );
    let get = &report.steps[2];
    assert_eq!(get.get("queue_name"), Some("Billing"));
    assert_eq!(get.get("customer_name"), Some("Ada Lovelace"));
    assert_eq!(get.get("account_number"), Some("AC-1042"));
    assert!(get
        .get("queue_arn")
        .is_some_and(|a| a.ends_with(journey::BILLING_QUEUE_ID)));
    let answer = &report.steps[3];
    assert_eq!(answer.status, "accepted");
    assert_eq!(answer.get("http_status"), Some("202"));
    assert_eq!(
        report.ending,
        Ending::CallbackAnswered {
            restored_context: true,
            answer_status: "accepted".into()
        }
    );
    // Mindful's side: one request per route, the call answered with the agent and queue.
    let s = report.stats;
    assert_eq!(
        (s.token, s.agent_answer, s.datastore_post, s.datastore_get),
        (1, 1, 1, 1)
    );
    let call = &report.calls[0];
    assert_eq!(call.state, CallState::Answered);
    let meta = call.metadata.as_ref().expect("metadata");
    assert_eq!(meta["agentId"], "jdoe");
    assert!(meta["queueId"]
        .as_str()
        .is_some_and(|q| q.ends_with(journey::BILLING_QUEUE_ID)));
    // The transcript masks the number and never shows a secret.
    assert!(text.contains("***1234"));
    assert!(!text.contains("3209071234"));
    assert!(!text.contains("sim-secret") && !text.contains("sim-datastore-token"));
    assert!(text.contains("✅ 4/4 steps as designed"));
}

#[test]
fn a_failing_datastore_post_keeps_the_caller_in_queue() {
    let (report, text) = run(Options {
        binaries: binaries(),
        fault: Some(FaultSpec::parse("datastore_post:status=503").expect("fault")),
        ..Options::default()
    });
    // The flow behaved as designed for this fault: status=error, error=upstream_error, in budget.
    assert!(report.passed(), "{:?}", report.steps);
    assert_eq!(report.steps.len(), 2);
    let post = &report.steps[1];
    assert_eq!(post.expected, Expect::Error("upstream_error"));
    assert_eq!(post.status, "error");
    assert_eq!(post.error.as_deref(), Some("upstream_error"));
    assert!(post.own_time < journey::DATASTORE_BUDGET);
    assert_eq!(report.ending, Ending::NoCallback);
    // One retry of the idempotent POST, then no callback and no further Mindful traffic.
    assert_eq!(report.stats.datastore_post, 2);
    assert_eq!(report.stats.total, 2);
    assert!(report.calls.is_empty());
    assert!(text.contains("caller stays in queue, no callback"));
}

#[test]
fn a_hanging_agent_answer_times_out_inside_its_budget() {
    let (report, _) = run(Options {
        binaries: binaries(),
        fault: Some(FaultSpec::parse("agent_answer:hang").expect("fault")),
        ..Options::default()
    });
    assert!(report.passed(), "{:?}", report.steps);
    let answer = report.step("agent-answer").expect("agent-answer step");
    assert_eq!(answer.error.as_deref(), Some("timeout"));
    assert!(answer.own_time >= Duration::from_millis(1900));
    assert!(answer.own_time < journey::AGENT_ANSWER_BUDGET + journey::BUDGET_SLACK);
    assert_eq!(report.calls[0].state, CallState::Connecting);
}
