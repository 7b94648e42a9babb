//! The optional enhancements end to end (README "Optional enhancements"): second-chance offers
//! from the customer queue flow, and two queues sharing one Call Target and one return DID.

use std::path::PathBuf;
use std::sync::OnceLock;

use journey::{Binaries, Ending, Options, FUNCTIONS};
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

fn input<'a>(step: &'a journey::StepReport, key: &str) -> Option<&'a str> {
    step.inputs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

#[test]
fn second_chance_offer_from_the_customer_queue_flow_is_accepted() {
    let (report, text) = run(Options {
        binaries: binaries(),
        second_chance: true,
        ..Options::default()
    });
    assert!(report.passed(), "{:?} {:?}", report.problems, report.steps);
    let path: Vec<(&str, &str)> = report.steps.iter().map(|s| (s.flow, s.function)).collect();
    assert_eq!(
        path,
        [
            ("inbound flow", "ocw-phrase"),
            ("customer queue flow", "ocw-phrase"),
            ("customer queue flow", "datastore-proxy"),
            ("return flow", "datastore-proxy"),
            ("customer whisper", "agent-answer"),
        ]
    );
    // The first offer (flow 2) does not count through ocw-phrase; it sets callback_offers=1.
    assert_eq!(input(&report.steps[0], "offers_made"), None);
    assert!(text.contains("set attribute callback_offers=1"));
    // The queue flow passes the count and the cap, and stores the answer's count back.
    let again = &report.steps[1];
    assert_eq!(input(again, "offers_made"), Some("1"));
    assert_eq!(input(again, "max_offers"), Some("2"));
    assert_eq!(input(again, "OCW"), Some("305")); // 185 s + one 120 s interval
    assert_eq!(again.get("offer_callback"), Some("true"));
    assert_eq!(again.get("offers_made"), Some("2"));
    assert!(text.contains("set attribute callback_offers=2"));
    assert_eq!(
        report.steps[2].get("customer_contact_number"),
        Some("+13209071234")
    );
    assert_eq!(
        report.ending,
        Ending::CallbackAnswered {
            restored_context: true,
            answer_status: "accepted".into()
        }
    );
    let s = report.stats;
    assert_eq!(
        (s.datastore_post, s.datastore_get, s.agent_answer),
        (1, 1, 1)
    );
    assert_eq!(report.calls[0].state, CallState::Answered);
    assert!(text.contains("✅ 5/5 steps as designed"));
}

#[test]
fn second_chance_offers_stop_at_the_cap() {
    let (report, _) = run(Options {
        binaries: binaries(),
        second_chance: true,
        decline: true,
        max_offers: 3,
        interval: 60,
        ..Options::default()
    });
    assert!(report.passed(), "{:?} {:?}", report.problems, report.steps);
    // offers: 1 (flow 2), 2 and 3 (queue flow, declined), then the cap: no fourth offer.
    let queue: Vec<(Option<&str>, Option<&str>, Option<&str>)> = report.steps[1..]
        .iter()
        .map(|s| {
            (
                input(s, "offers_made"),
                s.get("offer_callback"),
                s.get("offers_made"),
            )
        })
        .collect();
    assert_eq!(
        queue,
        [
            (Some("1"), Some("true"), Some("2")),
            (Some("2"), Some("true"), Some("3")),
            (Some("3"), Some("false"), Some("3")),
        ]
    );
    assert_eq!(report.ending, Ending::OfferCapReached { offers: 3 });
    assert_eq!(report.stats.total, 0); // declined: nothing stored, no callback
}

#[test]
fn two_queues_share_one_return_did_and_each_caller_returns_to_their_own_queue() {
    let (report, text) = run(Options {
        binaries: binaries(),
        two_queues: true,
        ..Options::default()
    });
    assert!(report.passed(), "{:?} {:?}", report.problems, report.steps);
    let posts: Vec<_> = report
        .steps
        .iter()
        .filter(|s| input(s, "method") == Some("POST"))
        .collect();
    let gets: Vec<_> = report
        .steps
        .iter()
        .filter(|s| input(s, "method") == Some("GET"))
        .collect();
    assert_eq!((posts.len(), gets.len()), (2, 2));
    for (queue_id, skill, name, get) in [
        (
            journey::BILLING_QUEUE_ID,
            "billing",
            "Ada Lovelace",
            gets[0],
        ),
        (journey::SALES_QUEUE_ID, "sales", "Grace Hopper", gets[1]),
    ] {
        assert!(get.get("queue_arn").is_some_and(|a| a.ends_with(queue_id)));
        assert_eq!(get.get("routing_attribute"), Some(skill));
        assert_eq!(get.get("customer_name"), Some(name));
    }
    // Both returns came in on the same DID; each agent answer names its caller's queue.
    assert_eq!(text.matches("callback-return DID +18005550199").count(), 2);
    assert!(
        text.contains("set attribute skill=billing") && text.contains("set attribute skill=sales")
    );
    assert_eq!(report.calls.len(), 2);
    for call in &report.calls {
        assert_eq!(call.state, CallState::Answered);
        let meta = call.metadata.as_ref().expect("metadata");
        let (agent, queue_id) = if call.ani.ends_with("1234") {
            ("jdoe", journey::BILLING_QUEUE_ID)
        } else {
            ("asmith", journey::SALES_QUEUE_ID)
        };
        assert_eq!(meta["agentId"], agent);
        assert!(meta["queueId"]
            .as_str()
            .is_some_and(|q| q.ends_with(queue_id)));
    }
    let answered = Ending::CallbackAnswered {
        restored_context: true,
        answer_status: "accepted".into(),
    };
    assert_eq!(
        report.ending,
        Ending::PerCaller(vec![
            ("Billing".into(), answered.clone()),
            ("Sales".into(), answered)
        ])
    );
    assert!(!text.contains("3209071234") && !text.contains("3209075678"));
}

#[test]
fn two_queues_without_a_record_fall_back_to_the_default_queue() {
    let (report, _) = run(Options {
        binaries: binaries(),
        two_queues: true,
        fault: Some(journey::FaultSpec::parse("datastore_get:status=404").expect("fault")),
        ..Options::default()
    });
    assert!(report.passed(), "{:?} {:?}", report.problems, report.steps);
    let Ending::PerCaller(endings) = &report.ending else {
        panic!("{:?}", report.ending)
    };
    assert_eq!(endings.len(), 2);
    for (_, e) in endings {
        assert!(matches!(
            e,
            Ending::CallbackAnswered {
                restored_context: false,
                ..
            }
        ));
    }
}
