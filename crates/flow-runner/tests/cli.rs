//! The `flow-runner` command's exit status: 0 clean, 1 findings, 2 unreadable input.

use std::process::Command;

fn run(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_flow-runner"))
        .args(args)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

fn file(name: &str, text: &str) -> String {
    let dir = std::env::temp_dir().join(format!("flow-runner-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().to_string()
}

const CLEAN: &str = r#"{"Version": "2019-10-30", "StartAction": "hello", "Actions": [
  {"Identifier": "hello", "Type": "MessageParticipant", "Parameters": {"Text": "Hello $.CustomerEndpoint.Address"},
   "Transitions": {"NextAction": "bye", "Errors": [{"ErrorType": "NoMatchingError", "NextAction": "bye"}]}},
  {"Identifier": "bye", "Type": "DisconnectParticipant", "Parameters": {}, "Transitions": {}}]}"#;

#[test]
fn exit_status_follows_the_findings() {
    let clean = file("clean.json", CLEAN);
    let (code, text) = run(&["check", &clean]);
    assert_eq!(code, 0, "{text}");
    let (code, text) = run(&["run", &clean, "--customer", "+15550100"]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("Hello +15550100") && text.contains("Disconnected"),
        "{text}"
    );

    let unknown = file(
        "unknown.json",
        &CLEAN.replace("DisconnectParticipant", "Wait"),
    );
    // A block the runner cannot execute is a note: the exit status follows errors only.
    let (code, text) = run(&["check", &unknown, "--strict"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("note: ") && text.contains("Wait"), "{text}");
    let (code, text) = run(&["run", &unknown]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("stopped") && text.contains("bye"), "{text}");

    let lambda = file(
        "lambda.json",
        &CLEAN.replace(r#""Type": "MessageParticipant", "Parameters": {"Text": "Hello $.CustomerEndpoint.Address"}"#,
            r#""Type": "InvokeLambdaFunction", "Parameters": {"LambdaFunctionARN": "arn:aws:lambda:us-east-1:1:function:x", "InvocationTimeLimitSeconds": "3"}"#),
    );
    let (code, text) = run(&["check", &lambda]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("note: ") && text.contains("not mapped"),
        "{text}"
    );

    // An unreachable block is a warning: it fails only with --strict.
    let orphan = file(
        "orphan.json",
        &CLEAN.replace(
            r#"{"Identifier": "bye""#,
            r#"{"Identifier": "orphan", "Type": "DisconnectParticipant", "Parameters": {}, "Transitions": {}},
  {"Identifier": "bye""#,
        ),
    );
    let (code, text) = run(&["check", &orphan]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("warning: ") && text.contains("unreachable"),
        "{text}"
    );
    assert_eq!(run(&["check", &orphan, "--strict"]).0, 1);

    // An error fails.
    let bad = file("bad.json", &CLEAN.replace("2019-10-30", "2020-01-01"));
    let (code, text) = run(&["check", &bad]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("error: ") && text.contains("FAIL"), "{text}");

    assert_eq!(run(&["check", &file("garbage.json", "{not json")]).0, 2);
    assert_eq!(run(&["check", "/nonexistent/flow.json"]).0, 2);
    assert_eq!(run(&["check"]).0, 2);
    assert_eq!(run(&["frobnicate", &clean]).0, 2);
    assert_eq!(run(&["check", &clean, "--lambda", "arn=not-ours"]).0, 2);
}

/// Issue 26: a closed stdout (`flow-runner run … | head -0`) panicked; a UTF-16 file (with its
/// byte order mark, as some Windows tools save) was not read.
#[test]
fn a_closed_pipe_ends_quietly_and_utf16_is_read() {
    use std::process::Stdio;
    let clean = file("pipe.json", CLEAN);
    let mut child = Command::new(env!("CARGO_BIN_EXE_flow-runner"))
        .args(["run", &clean, "--customer", "+15550100"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_ne!(out.status.code(), Some(101), "{stderr}");

    let mut utf16 = vec![0xff, 0xfe];
    for unit in CLEAN.encode_utf16() {
        utf16.extend_from_slice(&unit.to_le_bytes());
    }
    let path = file("utf16.json", "");
    std::fs::write(&path, utf16).unwrap();
    let (code, text) = run(&["check", &path]);
    assert_eq!(code, 0, "{text}");
}

/// Issue 26: flow-type rules were skipped for files that do not say their type; `--type` says it.
/// Disconnect is not a whisper flow's block.
#[test]
fn type_flag_applies_the_flow_type_rules() {
    let clean = file("typed.json", CLEAN);
    let (code, text) = run(&["check", &clean]);
    assert_eq!(code, 0, "{text}");
    let (code, text) = run(&["check", &clean, "--type", "CUSTOMER_WHISPER"]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("DisconnectParticipant"), "{text}");
    let (code, text) = run(&["check", &clean, "--type", "NOT_A_TYPE"]);
    assert_eq!(code, 2, "{text}");
}

/// A folder of exports: one verdict line per flow. Our own bundle checks clean.
#[test]
fn a_folder_gives_one_verdict_per_flow_and_the_bundle_checks_clean() {
    let dir = std::env::temp_dir().join(format!("flow-runner-cli-dir-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("one.json"), CLEAN).unwrap();
    std::fs::write(
        dir.join("sub/two.json"),
        CLEAN.replace("2019-10-30", "2020-01-01"),
    )
    .unwrap();
    std::fs::write(dir.join("notes.txt"), "not a flow").unwrap();
    std::fs::write(dir.join("package.json"), r#"{"name": "not-a-flow"}"#).unwrap();
    let (code, text) = run(&["check", &dir.to_string_lossy()]);
    assert_eq!(code, 1, "{text}");
    let verdicts: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("ok ") || l.starts_with("FAIL "))
        .collect();
    assert_eq!(verdicts.len(), 2, "{text}");
    assert!(
        verdicts[0].starts_with("ok") && verdicts[0].contains("one.json"),
        "{text}"
    );
    assert!(
        verdicts[1].starts_with("FAIL") && verdicts[1].contains("two.json"),
        "{text}"
    );
    assert!(
        text.contains("skipped") && text.contains("package.json"),
        "{text}"
    );

    let infra = concat!(env!("CARGO_MANIFEST_DIR"), "/../../infra");
    let (code, text) = run(&["check", "--bundle", infra]);
    assert_eq!(code, 0, "{text}");
    assert_eq!(
        text.lines().filter(|l| l.starts_with("ok ")).count(),
        5,
        "{text}"
    );
}

/// `run --lambda` does not build anything: without the function binaries it says where it
/// looked and how to build them.
#[test]
fn run_without_built_functions_says_what_to_do() {
    let lambda = file(
        "lambda-run.json",
        &CLEAN.replace(r#""Type": "MessageParticipant", "Parameters": {"Text": "Hello $.CustomerEndpoint.Address"}"#,
            r#""Type": "InvokeLambdaFunction", "Parameters": {"LambdaFunctionARN": "arn:fn", "InvocationTimeLimitSeconds": "3"}"#),
    );
    let empty = std::env::temp_dir().join(format!("flow-runner-no-bins-{}", std::process::id()));
    std::fs::create_dir_all(&empty).unwrap();
    let (code, text) = run(&[
        "run",
        &lambda,
        "--lambda",
        "arn:fn=ocw-phrase",
        "--bin-dir",
        &empty.to_string_lossy(),
    ]);
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("not built")
            && text.contains("cargo build -p ocw-phrase")
            && text.contains("--bin-dir"),
        "{text}"
    );
}

/// `flow-runner reference` prints the table the checker applies, one row per action type, each
/// with its page (what `check_flows.py --reference` printed).
#[test]
fn reference_prints_the_table() {
    let (code, text) = run(&["reference"]);
    assert_eq!(code, 0, "{text}");
    let rows: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| Action"))
        .collect();
    assert!(rows.len() >= 30, "{text}");
    assert!(
        rows.iter()
            .all(|r| r.contains("https://docs.aws.amazon.com/connect/")),
        "{text}"
    );
    assert!(
        text.contains("| InvokeLambdaFunction |") && text.contains("whole number 1–8"),
        "{text}"
    );
}
