//! Issue 24 end to end: the journey in the caller's language (every prompt in it, in its
//! voice), with Mindful's estimated callback time, and with Mindful making the offer.

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
    let report = journey::run(
        &Options {
            binaries: binaries(),
            ..opts
        },
        &mut out,
    )
    .expect("journey runs");
    let text = String::from_utf8_lossy(&out).into_owned();
    println!("{text}");
    (report, text)
}

/// The prompts of a transcript (`prompt (Voice): "…"` lines), in order.
fn prompts(text: &str) -> Vec<&str> {
    text.lines()
        .map(str::trim)
        .filter(|l| l.starts_with("prompt"))
        .collect()
}

fn answered(report: &journey::JourneyReport) -> bool {
    matches!(report.ending, Ending::CallbackAnswered { .. })
        && report.calls.iter().any(|c| c.state == CallState::Answered)
}

#[test]
fn spanish_and_french_callers_hear_every_prompt_in_their_language() {
    #[rustfmt::skip]
    let cases = [
        ("es-US", "Lupe", [
            "El tiempo de espera actual es de aproximadamente 4 minutos. Para recibir una llamada de vuelta, oprima 1, o permanezca en la línea.",
            "Gracias. Le devolveremos la llamada en cuanto un agente esté disponible.",
        ]),
        ("fr-CA", "Chantal", [
            "Le temps d'attente actuel est d'environ 4 minutes. Pour recevoir un rappel, appuyez sur 1, ou restez en ligne.",
            "Merci. Nous vous rappellerons dès qu'un agent sera disponible.",
        ]),
    ];
    for (tag, voice, sentences) in cases {
        let (report, text) = run(Options {
            language: tag.into(),
            ..Options::default()
        });
        assert!(report.passed(), "{tag}: {:?}", report.problems);
        assert!(answered(&report), "{tag}");
        let want: Vec<String> = sentences
            .iter()
            .map(|s| format!("prompt ({voice}): {s:?}"))
            .collect();
        assert_eq!(prompts(&text), want, "{tag}");
        assert!(
            text.contains(&format!("text-to-speech voice: {voice}")),
            "{tag}"
        );
    }
}

#[test]
fn the_default_journey_still_speaks_english_and_asks_for_1() {
    let (report, text) = run(Options::default());
    assert!(report.passed(), "{:?}", report.problems);
    assert!(answered(&report));
    assert_eq!(
        prompts(&text),
        [
            "prompt (Joanna): \"The current hold time is about 4 minutes. To receive a callback, press 1, or stay on the line.\"",
            "prompt (Joanna): \"Thank you. We will call you back as soon as an agent is available.\"",
        ]
    );
    // Mindful gave no estimate: no second phrase invocation.
    assert_eq!(report.steps.len(), 4);
}

#[test]
fn the_estimated_callback_time_is_said_after_the_caller_accepts() {
    let (report, text) = run(Options {
        ecbt: Some(540),
        language: "es-US".into(),
        ..Options::default()
    });
    assert!(report.passed(), "{:?}", report.problems);
    assert_eq!(report.steps[1].get("ecbt"), Some("540"));
    let confirm = &report.steps[2];
    assert_eq!(confirm.function, "ocw-phrase");
    assert!(confirm
        .inputs
        .contains(&("phrase".into(), "accepted".into())));
    assert_eq!(
        prompts(&text).last().copied(),
        Some(
            "prompt (Lupe): \"Gracias. Le devolveremos la llamada en aproximadamente 9 minutos.\""
        )
    );
}

#[test]
fn mindful_makes_the_offer_accepted_declined_and_from_the_queue() {
    // Accepted at Mindful's IVR: no Connect prompt, the callback is answered.
    let (report, text) = run(Options {
        mindful_offers: true,
        ..Options::default()
    });
    assert!(report.passed(), "{:?}", report.problems);
    assert!(answered(&report));
    assert!(prompts(&text).is_empty(), "Connect said nothing: {text}");
    assert!(!text.contains("(GetParticipantInput)"));
    // Declined at Mindful: held by Mindful, no callback, no return call.
    let (report, _) = run(Options {
        mindful_offers: true,
        decline: true,
        ..Options::default()
    });
    assert!(report.passed(), "{:?}", report.problems);
    assert_eq!(report.ending, Ending::HeldByMindful);
    assert_eq!(report.calls.len(), 1);
    assert_eq!(report.calls[0].state, CallState::Held);
    assert_eq!(report.stats.datastore_get, 0);
    // Short wait: queued; the second-chance queue flow follows the parameter and transfers
    // the caller to Mindful when the wait grows, still without a Connect prompt.
    let (report, text) = run(Options {
        mindful_offers: true,
        second_chance: true,
        wait: "30".into(),
        ..Options::default()
    });
    assert!(report.passed(), "{:?}", report.problems);
    assert!(answered(&report), "{text}");
    assert!(text.contains("customer queue flow · transfer-to-mindful"));
    assert!(!text.contains("(GetParticipantInput)"));
}
