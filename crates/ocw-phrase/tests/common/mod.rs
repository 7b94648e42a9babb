//! What each `events/ocw-phrase*.json` file must produce (documented in `events/expected.json`),
//! shared by the in-process test and the
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

fn leak(v: &serde_json::Value) -> Option<&'static str> {
    v.as_str()
        .map(|s| &*Box::leak(s.to_string().into_boxed_str()))
}

/// The documented answers of the `ocw-phrase*` events, from `events/expected.json` (the one
/// place where every sample event's answer is written down).
pub fn expected() -> &'static [Expect] {
    static EXPECTED: std::sync::OnceLock<Vec<Expect>> = std::sync::OnceLock::new();
    EXPECTED.get_or_init(|| {
        let path = events_dir().join("expected.json");
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("events/expected.json"))
                .expect("expected.json is JSON");
        doc["events"]
            .as_object()
            .expect("events object")
            .iter()
            .filter(|(_, e)| e["function"] == "ocw-phrase")
            .map(|(file, e)| {
                let a = &e["answer"];
                Expect {
                    file: leak(&serde_json::Value::from(file.as_str())).unwrap_or_default(),
                    status: leak(&a["status"]).expect("status"),
                    ocw: leak(&a["OCW"]).expect("OCW"),
                    seconds: leak(&a["OCW_seconds"]),
                    offer_callback: leak(&a["offer_callback"]).expect("offer_callback"),
                    language: leak(&a["OCW_language"]).expect("OCW_language"),
                    error: leak(&a["error"]),
                }
            })
            .collect()
    })
}

/// The repository's `events/` directory.
pub fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events")
}

/// Every `events/ocw-phrase*.json` file, sorted; each must have an entry in [`expected`].
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
    expected()
        .iter()
        .find(|e| e.file == name)
        .unwrap_or_else(|| {
            panic!("no expectation for events/{name}: add it to events/expected.json")
        })
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
