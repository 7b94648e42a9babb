//! Every language of ocw-phrase's table reaches the caller through the shipped flows: the flows
//! hold no sentence of their own, so a language added to `ocw_phrase::phrase::LANGUAGES` (one
//! entry) is heard here, in every prompt of the callback path, in its own voice, with no other
//! change. The test iterates the table: a new entry is run end to end without editing it.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use flow_runner::host::{self, mindful_calls_back, Processes, Stack};
use flow_runner::{run_contact, Call, Injection, Input, Instance, Scenario};
use mindful_sim::{Sim, SimConfig};
use ocw_phrase::phrase::{Language, LANGUAGES};
use ocw_phrase::DEFAULT_CAP_SECONDS;

const MAIN: &str = "+18005550100";
const BILLING: &str = "arn:aws:connect:us-east-1:111122223333:instance/00000000-0000-4000-8000-000000000000/queue/7b3e1f2a-9c4d-4e8f-a1b2-c3d4e5f60718";
const DEFAULT_Q: &str = "arn:aws:connect:us-east-1:111122223333:instance/00000000-0000-4000-8000-000000000000/queue/1d6c9e0a-3b2f-4c1d-8e7f-5a4b3c2d1e0f";
const WAIT: u64 = 185;
const INTERVAL: u64 = 120;
const ECBT: u64 = 540;

fn instance() -> Instance {
    let params: BTreeMap<String, String> = [
        ("InboundQueueArn", BILLING),
        ("CallbackDefaultQueueArn", DEFAULT_Q),
        ("SecondChanceOffers", "true"),
        ("SecondChanceIntervalSeconds", "120"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let stack = Stack {
        main_number: MAIN.into(),
        return_number: "+18005550199".into(),
        call_target: "+13205550100".into(),
        queues: vec![
            (BILLING.into(), "Billing".into()),
            (DEFAULT_Q.into(), "BasicQueue".into()),
        ],
        params,
    };
    host::shipped_instance(
        &std::fs::read_to_string(host::template_path()).unwrap(),
        &stack,
    )
    .unwrap()
}

/// The prompt notes of a run (`prompt (Voice): "…"`), in order.
fn prompts(run: &flow_runner::ContactRun) -> Vec<String> {
    run.steps
        .iter()
        .flat_map(|s| s.notes.iter())
        .filter(|n| n.starts_with("prompt"))
        .cloned()
        .collect()
}

/// Every prompt note of a run, in order.
fn heard(
    inst: &Instance,
    procs: &mut Processes,
    lang: &Language,
    inputs: &[Input],
    inject: Vec<Injection>,
) -> Vec<String> {
    let mut sc = Scenario {
        inputs: inputs.iter().cloned().collect(),
        inject,
        oldest_contact_age: WAIT.to_string(),
        queue_horizon_seconds: 3 * INTERVAL,
        language: lang.tag.to_string(),
        ..Scenario::default()
    };
    let call = Call {
        customer: "+13209071234".into(),
        dialled: MAIN.into(),
        contact_id: format!("lang-{}", lang.tag),
    };
    prompts(&run_contact(inst, procs, call, &mut sc).unwrap())
}

#[test]
fn every_language_of_the_table_reaches_the_caller() {
    let dir = lambda_harness::build_debug(&host::FUNCTIONS).expect("build the functions");
    let sim = Sim::start_blocking(SimConfig::default()).expect("simulator");
    let mut procs = Processes::start(&dir, &host::function_env(&sim, "US")).expect("start");
    let inst = instance();
    sim.set_ecbt(Some(ECBT));
    for lang in LANGUAGES {
        let say = |text: &str| format!("prompt ({}): {text:?}", lang.voice);
        let wait = |s: u64| lang.phrase(s, DEFAULT_CAP_SECONDS);
        // Declines the first offer, holds in the second-chance queue flow, accepts the second
        // offer, hears the confirmation with Mindful's estimated callback time.
        let got = heard(
            &inst,
            &mut procs,
            lang,
            &[Input::Timeout, Input::Digits("1".into())],
            vec![],
        );
        let want = vec![
            say(&(lang.offer)(&wait(WAIT))),
            say(lang.hold),
            say(&(lang.offer)(&wait(WAIT + INTERVAL))),
            say(&(lang.accepted_in)(&wait(ECBT))),
        ];
        assert_eq!(got, want, "{}", lang.tag);
        // The queue refuses the caller: the sorry message.
        let got = heard(
            &inst,
            &mut procs,
            lang,
            &[Input::Timeout],
            vec![Injection {
                flow: Some("InboundToMindfulFlow".into()),
                block: "transfer-to-queue".into(),
                error: "QueueAtCapacity".into(),
                times: 1,
            }],
        );
        assert_eq!(
            got,
            vec![say(&(lang.offer)(&wait(WAIT))), say(lang.sorry)],
            "{}",
            lang.tag
        );
        // Two failures before ocw-phrase ever answered (the working queue cannot be set, so the
        // caller is refused at once): the sorry message is still in their language and voice.
        let got = heard(
            &inst,
            &mut procs,
            lang,
            &[],
            vec![Injection {
                flow: Some("InboundToMindfulFlow".into()),
                block: "set-working-queue".into(),
                error: "NoMatchingError".into(),
                times: 1,
            }],
        );
        assert_eq!(got, vec![say(lang.sorry)], "{}", lang.tag);
    }
    // The callback return: Mindful dials back into Connect, whose contact has no language of
    // its own (en-US); the caller's language comes back with the Datastore record, and the
    // return flow's sorry message is in it.
    for lang in LANGUAGES {
        let mut sc = Scenario {
            inputs: [Input::Digits("1".into())].into(),
            oldest_contact_age: WAIT.to_string(),
            language: lang.tag.to_string(),
            ..Scenario::default()
        };
        let call = Call {
            customer: "+13209071234".into(),
            dialled: MAIN.into(),
            contact_id: format!("lang-return-{}", lang.tag),
        };
        let run = run_contact(&inst, &mut procs, call, &mut sc).unwrap();
        let mut back = Scenario {
            inject: vec![Injection {
                flow: Some("CallbackReturnFlow".into()),
                block: "transfer-to-queue".into(),
                error: "QueueAtCapacity".into(),
                times: 1,
            }],
            ..Scenario::default()
        };
        let (_, ret) = mindful_calls_back(&inst, &mut procs, &sim, &run, &mut back, "r".into())
            .expect("transferred to the Call Target");
        assert_eq!(
            prompts(&ret.unwrap()),
            vec![format!(
                "prompt ({}): {:?}",
                lang.voice, lang.sorry_callback
            )],
            "{}",
            lang.tag
        );
    }
    // Accepted without an estimate from Mindful: the sentence without a time.
    sim.set_ecbt(None);
    for lang in LANGUAGES {
        let got = heard(
            &inst,
            &mut procs,
            lang,
            &[Input::Digits("1".into())],
            vec![],
        );
        assert_eq!(
            got.last(),
            Some(&format!("prompt ({}): {:?}", lang.voice, lang.accepted)),
            "{}",
            lang.tag
        );
    }
}
