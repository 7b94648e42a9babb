//! The ocw-phrase engine: `classify`/`phrase` on arbitrary seconds and caps in every language,
//! `parse_seconds` and `language_for` on arbitrary strings, and the handler's mapping of the
//! parameters a flow may pass.
//!
//! Invariants: never panics; a phrase is never empty and never says "0 minutes" or "1 minutes"
//! (in any language); `About` is `ceil(s/60)` minutes; `OCW_seconds` is the floor of a valid `OCW`;
//! an invalid `OCW` is `error=invalid_ocw` with `offer_callback=false`.
#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};

use libfuzzer_sys::fuzz_target;
use mindful_core::ContactFlowEvent;
use ocw_phrase::phrase::{classify, language_for, parse_seconds, Wait, LANGUAGES};
use serde_json::json;

#[derive(Debug, Arbitrary)]
struct Input<'a> {
    seconds: u64,
    cap: u64,
    tag: &'a str,
    ocw: &'a str,
    cap_param: Option<&'a str>,
    threshold_param: Option<&'a str>,
    agents: Option<&'a str>,
}

/// Checked against the phrase padded with spaces, so `" 1 minutes "` does not match "21 minutes".
const FORBIDDEN: [&str; 8] = [
    " 0 ",
    " 1 minutes ",
    " 1 minutos ",
    " 1 hours ",
    " 1 horas ",
    " 1 heures ",
    " 1 minutes",
    " 1 hours",
];

fuzz_target!(|input: Input<'_>| {
    let wait = classify(input.seconds, input.cap);
    match wait {
        Wait::UnderAMinute => assert!(input.seconds < 60),
        Wait::About(span) => {
            assert_eq!(span.hours * 60 + span.minutes, input.seconds.div_ceil(60));
            assert!(span.minutes < 60);
        }
        Wait::MoreThan(span) => {
            assert!(input.seconds > input.cap.max(60));
            assert_eq!(span.hours * 60 + span.minutes, input.cap.max(60) / 60);
        }
    }
    for lang in LANGUAGES {
        let phrase = lang.phrase(input.seconds, input.cap);
        assert!(!phrase.trim().is_empty());
        let padded = format!(" {phrase} ");
        for bad in FORBIDDEN {
            assert!(!padded.contains(bad), "{}: {phrase:?}", lang.code);
        }
        assert!(!phrase.starts_with("0 "), "{phrase:?}");
    }
    let _ = language_for(input.tag);

    let parsed = parse_seconds(Some(input.ocw));
    if let Ok(v) = parsed {
        if let Ok(f) = input.ocw.trim().parse::<f64>() {
            if f < 1e15 {
                assert_eq!(v, f.floor() as u64, "{:?}", input.ocw);
            }
        }
    }

    // The handler's mapping with these parameters.
    let mut params = serde_json::Map::new();
    params.insert("OCW".into(), json!(input.ocw));
    params.insert("language".into(), json!(input.tag));
    if let Some(v) = input.cap_param {
        params.insert("cap_seconds".into(), json!(v));
    }
    if let Some(v) = input.threshold_param {
        params.insert("offer_threshold_seconds".into(), json!(v));
    }
    if let Some(v) = input.agents {
        params.insert("agents_available".into(), json!(v));
    }
    let event = ContactFlowEvent::from_value(json!({"Details": {"Parameters": params}}));
    let out = ocw_phrase::answer(&Ok(ocw_phrase::Config::default()), &event);
    match out.status() {
        Some("ok") => {
            let secs: u64 = out
                .get("OCW_seconds")
                .expect("OCW_seconds")
                .parse()
                .expect("u64");
            assert_eq!(Ok(secs), parsed);
            assert!(matches!(out.get("offer_callback"), Some("true" | "false")));
            assert!(!out.get("OCW").unwrap_or_default().is_empty());
        }
        Some("error") => {
            assert_eq!(out.get("offer_callback"), Some("false"));
            let code = out.get("error").expect("error code");
            assert!(
                code == "invalid_ocw" || code == "invalid_parameter",
                "{code}"
            );
            assert_eq!(code == "invalid_ocw", parsed.is_err());
        }
        other => panic!("status {other:?}"),
    }
});
