//! The journey end to end: test-case files of infra/tests played through the journey library
//! with the real function binaries (built once here; Cargo holds no build lock while tests run).
//! The files' observations are checked by the flow runner; what a test case cannot express is
//! checked here: the callback contact (which a Connect test case does not observe), Mindful's
//! side (its calls and request counters), the functions' own times, and the transcript.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use flow_runner::testcase::shipped;
use flow_runner::{ContactRun, End, LambdaRecord, LambdaReply};
use journey::{Binaries, CoverageOver, Options, Played, Report};
use mindful_sim::CallState;

fn binaries() -> Binaries {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        lambda_harness::build_debug(&journey::FUNCTIONS).map_err(|e| e.to_string())
    });
    match dir {
        Ok(d) => Binaries::Dir(d.clone()),
        Err(e) => panic!("building the functions failed: {e}"),
    }
}

/// Play `cases` (coverage over the cases played), printing the transcript for `--nocapture`.
fn play(cases: &[&str], https: bool) -> (Report, String) {
    run(Options {
        cases: cases.iter().map(|c| c.to_string()).collect(),
        coverage: CoverageOver::Played,
        https,
        binaries: binaries(),
        ..Options::default()
    })
}

fn run(opts: Options) -> (Report, String) {
    let mut out = Vec::new();
    let report = journey::run(&opts, &mut out).expect("the journey runs");
    let text = String::from_utf8_lossy(&out).into_owned();
    println!("{text}");
    assert!(report.passed(), "{text}");
    (report, text)
}

fn case<'a>(
    report: &'a Report,
    file: &str,
) -> (&'a Played, &'a flow_runner::testcase::TestCaseResult) {
    let p = report
        .case(file)
        .unwrap_or_else(|| panic!("{file} was not played"));
    match &p.result {
        Ok(r) => (p, r),
        Err(e) => panic!("{file}: {e}"),
    }
}

fn callback(r: &flow_runner::testcase::TestCaseResult) -> &ContactRun {
    r.callback.as_ref().expect("Mindful called back")
}

/// A function's answer: the value of `key`.
fn out<'a>(rec: &'a LambdaRecord, key: &str) -> Option<&'a str> {
    match &rec.reply {
        LambdaReply::Answer(v) => v.get(key).and_then(|v| v.as_str()),
        _ => None,
    }
}

/// A call's parameter `key`.
fn param<'a>(rec: &'a LambdaRecord, key: &str) -> Option<&'a str> {
    let p = rec.call.parameters.iter().find(|(k, _)| k == key);
    p.map(|(_, v)| v.as_str())
}

fn calls<'a>(run: &'a ContactRun, function: &str) -> Vec<&'a LambdaRecord> {
    let mine = |r: &&LambdaRecord| r.call.function.as_deref() == Some(function);
    run.lambda.iter().filter(mine).collect()
}

/// The function's own time for this call (the journey's recorder).
fn own_time(p: &Played, rec: &LambdaRecord) -> Duration {
    let inv = p.invocations.iter().find(|i| i.event == rec.call.event);
    inv.expect("the call was invoked").own_time
}

/// What the caller heard, in order (`prompt (Voice): "…"`).
fn prompts(run: &ContactRun) -> Vec<&str> {
    let notes = run.steps.iter().flat_map(|s| &s.notes);
    notes
        .filter(|n| n.starts_with("prompt"))
        .map(String::as_str)
        .collect()
}

/// Queued in `queue` and answered by an agent.
fn answered_in(run: &ContactRun, queue: &str) -> bool {
    matches!(&run.end, End::Queued { queue_name, answered_by: Some(_), .. } if queue_name == queue)
}

#[test]
fn the_default_story_is_answered_and_the_table_covers_or_explains_every_transition() {
    let (report, text) = run(Options {
        binaries: binaries(),
        ..Options::default()
    });
    let (p, r) = case(&report, "connect-offer-accepted.json");
    // Inbound: the phrase, then the POST; no second phrase call (Mindful gave no estimate).
    let functions = |run: &ContactRun| -> Vec<String> {
        run.lambda
            .iter()
            .filter_map(|l| l.call.function.clone())
            .collect()
    };
    assert_eq!(functions(&r.run), ["ocw-phrase", "datastore-proxy"]);
    assert_eq!(
        prompts(&r.run),
        [
            "prompt (Joanna): \"The current hold time is about 4 minutes. To receive a callback, press 1, or stay on the line.\"",
            "prompt (Joanna): \"Thank you. We will call you back as soon as an agent is available.\"",
        ]
    );
    // The callback: Mindful dials the return number, the record restores queue and skill, the
    // whisper tells Mindful the agent answered.
    let back = callback(r);
    assert_eq!(back.dialled, shipped::RETURN_NUMBER);
    assert_eq!(functions(back), ["datastore-proxy", "agent-answer"]);
    let get = calls(back, "datastore-proxy")[0];
    assert_eq!(param(get, "method"), Some("GET"));
    assert_eq!(out(get, "queue_arn"), Some(shipped::BILLING_QUEUE));
    assert_eq!(out(get, "queue_name"), Some("Billing"));
    assert_eq!(out(get, "customer_name"), Some("Ada Lovelace"));
    assert_eq!(out(get, "account_number"), Some("AC-1042"));
    assert!(answered_in(back, "Billing"), "{:?}", back.end);
    assert_eq!(
        back.attributes.get("skill").map(String::as_str),
        Some("billing")
    );
    let answer = calls(back, "agent-answer")[0];
    assert_eq!(
        out(answer, "status"),
        Some(agent_answer::contract::statuses::ACCEPTED)
    );
    assert_eq!(out(answer, "http_status"), Some("202"));
    // Mindful's side: one request per route, the call answered with the agent and the queue.
    let s = p.stats;
    assert_eq!(
        (
            s.token,
            s.agent_answer,
            s.datastore_post,
            s.datastore_get,
            s.total
        ),
        (1, 1, 1, 1, 4)
    );
    assert_eq!(p.calls.len(), 1);
    assert_eq!(p.calls[0].state, CallState::Answered);
    let meta = p.calls[0]
        .metadata
        .as_ref()
        .expect("the agent answer's metadata");
    assert_eq!(meta["queueId"], shipped::BILLING_QUEUE);
    assert_eq!(meta["agentId"].as_str(), param(answer, "Agent_ID"));
    // The transcript: blocks, calls with own times, Mindful's requests; the number masked and
    // no secret shown.
    for line in [
        "PASS infra/tests/connect-offer-accepted.json (transferred to +13205550100",
        "InboundToMindfulFlow · offer-callback (GetParticipantInput) ⇒ condition:Equals 1 → save-caller-context",
        "caller presses 1",
        "Mindful saw: POST /api/v1/data_sets → 200",
        "Mindful saw: POST /oauth2/token → 200, POST /v2/callback/agentAnswer → 202",
        "  ok   Datastore answered:",
    ] {
        assert!(text.contains(line), "{line:?} missing");
    }
    assert!(text.contains("(status accepted, ") && text.contains(" ms)"));
    assert!(text.contains("***1234") && !text.contains("3209071234"));
    for secret in [
        mindful_sim::DEFAULT_CLIENT_SECRET,
        mindful_sim::DEFAULT_DATASTORE_TOKEN,
    ] {
        assert!(!text.contains(secret));
    }
    // The coverage table is over every test case (the others run quietly) and accounts for every
    // transition of the five flows: covered, or explained by a rule of Connect's.
    assert!(report.quiet.len() >= 99, "{}", report.quiet.len());
    assert_eq!(report.coverage.len(), 5);
    for c in &report.coverage {
        assert_eq!(
            c.uncovered.len(),
            c.explained.len(),
            "{}: {:?}",
            c.flow,
            c.uncovered
        );
        for e in &c.explained {
            assert!(
                text.contains(&format!("    {} {e}", c.flow)),
                "{e:?} not in the table"
            );
        }
    }
    let table = text
        .split("coverage of the five flows by every test case of infra/tests (1 played above, ")
        .nth(1);
    let table = table.expect("the coverage table");
    assert!(table.contains(", not taken 0\n"), "{table}");
    assert!(!table.contains("NOT TAKEN"), "{table}");
}

#[test]
fn over_https_the_functions_trust_the_test_root_through_the_ca_bundle() {
    let (report, text) = play(&["connect-offer-accepted"], true);
    assert!(text.contains("https: test CA generated by the simulator; SSL_CERT_FILE="));
    assert!(text.contains("Mindful simulator on https://"));
    let (p, r) = case(&report, "connect-offer-accepted.json");
    assert!(answered_in(callback(r), "Billing"));
    let s = p.stats;
    assert_eq!(
        (s.token, s.agent_answer, s.datastore_post, s.datastore_get),
        (1, 1, 1, 1)
    );
    assert_eq!(p.calls[0].state, CallState::Answered);
}

#[test]
fn mindful_faults_keep_the_caller_in_queue_or_end_the_whisper_inside_the_budgets() {
    let (report, _) = play(
        &[
            "mindful-fault-datastore-post-503",
            "mindful-fault-agent-answer-hangs",
        ],
        false,
    );
    // A failing POST: one retry of the idempotent POST inside the budget, then no callback.
    let (p, r) = case(&report, "mindful-fault-datastore-post-503.json");
    let post = calls(&r.run, "datastore-proxy")[0];
    assert_eq!(
        out(post, "error"),
        Some(datastore_proxy::contract::codes::UPSTREAM_ERROR)
    );
    assert!(own_time(p, post) < Duration::from_millis(datastore_proxy::DEFAULT_BUDGET_MS));
    assert_eq!((p.stats.datastore_post, p.stats.total), (2, 2));
    assert!(p.calls.is_empty() && r.callback.is_none());
    assert!(answered_in(&r.run, "Billing"));
    // A hanging Agent Answer: agent-answer gives up at its budget; Mindful's call is not
    // answered, and the agent still has the caller.
    let (p, r) = case(&report, "mindful-fault-agent-answer-hangs.json");
    let back = callback(r);
    let answer = calls(back, "agent-answer")[0];
    assert_eq!(
        out(answer, "error"),
        Some(agent_answer::contract::codes::TIMEOUT)
    );
    let budget = Duration::from_millis(agent_answer::DEFAULT_BUDGET_MS);
    let took = own_time(p, answer);
    assert!(took >= budget - Duration::from_millis(100), "{took:?}");
    assert!(took < budget + Duration::from_millis(300), "{took:?}");
    assert_eq!(p.calls[0].state, CallState::Connecting);
    assert!(answered_in(back, "Billing"));
}

#[test]
fn second_chance_counts_offers_up_to_the_cap_and_the_accepted_one_is_called_back() {
    let (report, _) = play(
        &["second-chance-accepted", "second-chance-declined-to-cap"],
        false,
    );
    let (p, r) = case(&report, "second-chance-accepted.json");
    let phrase = calls(&r.run, "ocw-phrase");
    assert_eq!(phrase.len(), 2);
    // The first offer (inbound flow) does not count through ocw-phrase; the queue flow passes the
    // count and the stack's cap (MaxCallbackOffers), 185 s + one 120 s interval later.
    assert_eq!(param(phrase[0], "offers_made"), None);
    assert_eq!(phrase[1].call.flow, "SecondChanceQueueFlow");
    let stack = shipped::stack(&Default::default());
    let cap = stack.params.get("MaxCallbackOffers").map(String::as_str);
    let sent = ["offers_made", "max_offers", "OCW"].map(|k| param(phrase[1], k));
    assert_eq!(sent, [Some("1"), cap, Some("305")]);
    assert!(answered_in(callback(r), "Billing"));
    let s = p.stats;
    assert_eq!(
        (s.datastore_post, s.datastore_get, s.agent_answer),
        (1, 1, 1)
    );
    assert_eq!(p.calls[0].state, CallState::Answered);
    // Declining every offer: the queue flow offers again up to the cap (3), then no more; nothing
    // is stored at Mindful.
    let (p, r) = case(&report, "second-chance-declined-to-cap.json");
    let rounds: Vec<_> = calls(&r.run, "ocw-phrase")[1..]
        .iter()
        .map(|c| {
            (
                param(c, "offers_made"),
                out(c, "offer_callback"),
                out(c, "offers_made"),
            )
        })
        .collect();
    let (t, f) = (Some("true"), Some("false"));
    let capped = (Some("3"), f, Some("3"));
    assert_eq!(
        rounds[..3],
        [(Some("1"), t, Some("2")), (Some("2"), t, Some("3")), capped]
    );
    // Later rounds (until an agent answers) keep to the cap: the caller hears three offers.
    assert!(rounds[3..].iter().all(|r| *r == capped), "{rounds:?}");
    let offers = prompts(&r.run)
        .iter()
        .filter(|p| p.contains("press 1"))
        .count();
    assert_eq!(offers, 3);
    assert_eq!(p.stats.total, 0);
}

#[test]
fn two_queues_share_one_return_number_and_each_caller_comes_back_to_their_own_queue() {
    let (report, text) = play(
        &[
            "connect-offer-accepted",
            "two-queues-sales-caller",
            "record-missing-on-return",
        ],
        false,
    );
    let back: Vec<(&Played, &ContactRun)> = [
        "connect-offer-accepted.json",
        "two-queues-sales-caller.json",
    ]
    .map(|f| case(&report, f))
    .into_iter()
    .map(|(p, r)| (p, callback(r)))
    .collect();
    for ((p, run), (queue, arn, skill, name)) in back.iter().zip([
        ("Billing", shipped::BILLING_QUEUE, "billing", "Ada Lovelace"),
        ("Sales", shipped::SALES_QUEUE, "sales", "Grace Hopper"),
    ]) {
        assert_eq!(
            run.dialled,
            shipped::RETURN_NUMBER,
            "one return number for both queues"
        );
        let get = calls(run, "datastore-proxy")[0];
        assert_eq!(out(get, "queue_arn"), Some(arn));
        assert_eq!(out(get, "routing_attribute"), Some(skill));
        assert_eq!(out(get, "customer_name"), Some(name));
        assert!(answered_in(run, queue), "{:?}", run.end);
        assert_eq!(run.attributes.get("skill").map(String::as_str), Some(skill));
        let meta = p.calls[0].metadata.as_ref().expect("agent answer metadata");
        assert_eq!(meta["queueId"], arn);
    }
    assert!(!text.contains("3209071234") && !text.contains("3209075678"));
    // No record on return: the caller goes to the documented default queue.
    let (_, r) = case(&report, "record-missing-on-return.json");
    let back = callback(r);
    let get = calls(back, "datastore-proxy")[0];
    assert_eq!(
        out(get, "status"),
        Some(datastore_proxy::contract::statuses::NOT_FOUND)
    );
    assert!(answered_in(back, "BasicQueue"), "{:?}", back.end);
}

#[test]
fn spanish_and_french_callers_hear_every_prompt_in_their_language() {
    let (report, _) = play(
        &[
            "connect-offer-accepted-es-US",
            "connect-offer-accepted-fr-CA",
            "es-us-accept-confirmation-with-ecbt",
        ],
        false,
    );
    #[rustfmt::skip]
    let cases = [
        ("connect-offer-accepted-es-US.json", "Lupe", [
            "El tiempo de espera actual es de aproximadamente 4 minutos. Para recibir una llamada de vuelta, oprima 1, o permanezca en la línea.",
            "Gracias. Le devolveremos la llamada en cuanto un agente esté disponible.",
        ]),
        ("connect-offer-accepted-fr-CA.json", "Chantal", [
            "Le temps d'attente actuel est d'environ 4 minutes. Pour recevoir un rappel, appuyez sur 1, ou restez en ligne.",
            "Merci. Nous vous rappellerons dès qu'un agent sera disponible.",
        ]),
    ];
    for (file, voice, sentences) in cases {
        let (_, r) = case(&report, file);
        let want: Vec<String> = sentences
            .iter()
            .map(|s| format!("prompt ({voice}): {s:?}"))
            .collect();
        assert_eq!(prompts(&r.run), want, "{file}");
        let voice_set = format!("text-to-speech voice: {voice}");
        assert!(
            r.run.steps.iter().any(|s| s.notes.contains(&voice_set)),
            "{file}"
        );
        assert!(answered_in(callback(r), "Billing"), "{file}");
    }
    // Mindful's estimate is said after the caller accepts: a second phrase call for it.
    let (_, r) = case(&report, "es-us-accept-confirmation-with-ecbt.json");
    let post = calls(&r.run, "datastore-proxy")[0];
    assert_eq!(out(post, "ecbt"), Some("540"));
    let phrase = calls(&r.run, "ocw-phrase");
    assert_eq!(
        phrase.last().and_then(|c| param(c, "phrase")),
        Some("accepted")
    );
    let last = prompts(&r.run).last().copied();
    assert_eq!(
        last,
        Some(
            "prompt (Lupe): \"Gracias. Le devolveremos la llamada en aproximadamente 9 minutos.\""
        )
    );
}

#[test]
fn when_mindful_makes_the_offer_connect_says_nothing() {
    let (report, _) = play(
        &[
            "mindful-offers",
            "mindful-offers-declined-at-mindful-held",
            "mindful-offers-second-chance-the-queue-flow-transfers",
        ],
        false,
    );
    let asks = |run: &ContactRun| run.steps.iter().any(|s| s.typ == "GetParticipantInput");
    // Accepted at Mindful's IVR: no Connect prompt, the callback is answered.
    let (p, r) = case(&report, "mindful-offers.json");
    assert!(prompts(&r.run).is_empty() && !asks(&r.run));
    assert!(answered_in(callback(r), "Billing"));
    assert_eq!(p.calls[0].state, CallState::Answered);
    // Declined at Mindful: held by Mindful, no callback, no return call.
    let (p, r) = case(&report, "mindful-offers-declined-at-mindful-held.json");
    assert!(r.callback.is_none());
    assert_eq!(p.calls.len(), 1);
    assert_eq!(p.calls[0].state, CallState::Held);
    assert_eq!(p.stats.datastore_get, 0);
    // A short wait: queued; the queue flow transfers the caller to Mindful once the wait has
    // grown, still without a Connect prompt.
    let (_, r) = case(
        &report,
        "mindful-offers-second-chance-the-queue-flow-transfers.json",
    );
    assert!(!asks(&r.run));
    let transfer = r
        .run
        .steps
        .iter()
        .find(|s| s.block == "transfer-to-mindful");
    assert_eq!(
        transfer.map(|s| s.flow.as_str()),
        Some("SecondChanceQueueFlow")
    );
    assert!(answered_in(callback(r), "Billing"));
}
