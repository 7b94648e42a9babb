//! What each `events/ocw-phrase*.json` file must produce, shared by the in-process test and the
//! end-to-end test against the built binary.

#![allow(dead_code)]

use std::path::PathBuf;

/// Expected `(status, OCW, OCW_seconds, offer_callback, OCW_language, error)` per event file.
pub struct Expect {
    pub file: &'static str,
    pub status: &'static str,
    pub ocw: &'static str,
    pub seconds: Option<&'static str>,
    pub offer_callback: &'static str,
    pub language: &'static str,
    pub error: Option<&'static str>,
}

const fn ok(
    file: &'static str,
    ocw: &'static str,
    seconds: &'static str,
    offer_callback: &'static str,
    language: &'static str,
) -> Expect {
    Expect {
        file,
        status: "ok",
        ocw,
        seconds: Some(seconds),
        offer_callback,
        language,
        error: None,
    }
}

#[rustfmt::skip]
pub const EXPECTED: &[Expect] = &[
    ok("ocw-phrase.json", "about 3 minutes", "125", "true", "en"),
    ok("ocw-phrase-under-minute.json", "less than one minute", "45", "false", "en"),
    ok("ocw-phrase-over-cap.json", "more than 10 minutes", "3600", "true", "en"),
    ok("ocw-phrase-agents-available.json", "about 4 minutes", "240", "false", "en"),
    ok("ocw-phrase-es.json", "aproximadamente 2 minutos", "65", "true", "es"),
    ok("ocw-phrase-fr.json", "plus d'une heure et 30 minutes", "5401", "true", "fr"),
    ok("ocw-phrase-chat.json", "less than one minute", "24", "false", "en"),
    Expect {
        file: "ocw-phrase-invalid.json", status: "error", ocw: "abc", seconds: None,
        offer_callback: "false", language: "en", error: Some("invalid_ocw"),
    },
];

/// The repository's `events/` directory.
pub fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events")
}

/// Every `events/ocw-phrase*.json` file, sorted; each must have an entry in [`EXPECTED`].
pub fn event_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(events_dir())
        .expect("events/ directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("ocw-phrase") && n.ends_with(".json"))
        })
        .collect();
    files.sort();
    files
}

pub fn expected_for(path: &std::path::Path) -> &'static Expect {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    EXPECTED
        .iter()
        .find(|e| e.file == name)
        .unwrap_or_else(|| panic!("no expectation for events/{name}: add it to tests/common"))
}

/// Checks one response (a JSON object) against its expectation, and that every input parameter
/// other than `OCW` is echoed unchanged.
pub fn check(event: &serde_json::Value, response: &serde_json::Value, want: &Expect) {
    let file = want.file;
    let obj = response
        .as_object()
        .unwrap_or_else(|| panic!("{file}: response is not an object: {response}"));
    assert!(
        obj.values().all(serde_json::Value::is_string),
        "{file}: non-string value in {response}"
    );
    let get = |k: &str| obj.get(k).and_then(|v| v.as_str());
    assert_eq!(get("status"), Some(want.status), "{file}: {response}");
    assert_eq!(get("OCW"), Some(want.ocw), "{file}: {response}");
    assert_eq!(get("OCW_seconds"), want.seconds, "{file}: {response}");
    assert_eq!(
        get("offer_callback"),
        Some(want.offer_callback),
        "{file}: {response}"
    );
    assert_eq!(
        get("OCW_language"),
        Some(want.language),
        "{file}: {response}"
    );
    assert_eq!(get("error"), want.error, "{file}: {response}");
    assert_eq!(
        get("error_message").is_some(),
        want.error.is_some(),
        "{file}"
    );
    let params = event["Details"]["Parameters"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    for (k, v) in &params {
        if k != "OCW" || want.status == "error" {
            assert_eq!(obj.get(k), Some(v), "{file}: parameter {k} not echoed");
        }
    }
}
