//! `cargo xtask artifact-check` end to end: bootstrap.zips made from the functions' debug
//! binaries pass; wrong zips fail, each with its reason.

// Test code: a failed unwrap is a failed test (the deny is for the deployed code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const XTASK: &str = env!("CARGO_BIN_EXE_xtask");

/// The workspace's one list of the functions, as `cargo xtask artifact-check` uses it.
const FUNCTIONS: [&str; 3] = mindful_core::FUNCTIONS;

fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "arm64",
        _ => "x86_64",
    }
}

fn the_other_arch() -> &'static str {
    if host_arch() == "arm64" {
        "x86_64"
    } else {
        "arm64"
    }
}

/// A fresh directory under Cargo's per-crate test scratch directory.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// DIR/<function>/bootstrap.zip with the given entries (name, bytes, Unix mode), deflated as
/// cargo-lambda's are (level 1: the debug binaries are large and the test should stay quick).
fn write_zip(dir: &Path, function: &str, entries: &[(&str, &[u8], u32)]) {
    let path = dir.join(function).join("bootstrap.zip");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    for (name, data, mode) in entries {
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .compression_level(Some(1))
            .unix_permissions(*mode);
        zip.start_file(*name, options).unwrap();
        zip.write_all(data).unwrap();
    }
    zip.finish().unwrap();
}

fn artifact_check(dir: &Path, arch: &str) -> Output {
    Command::new(XTASK)
        .args(["artifact-check"])
        .arg(dir)
        .args(["--architecture", arch])
        .output()
        .unwrap()
}

/// The first 64 bytes of an ELF executable for `arch` (enough for the machine check).
fn fake_elf(arch: &str) -> Vec<u8> {
    let mut b = b"\x7fELF\x02\x01\x01".to_vec();
    b.resize(18, 0);
    b.extend(
        match arch {
            "arm64" => 0xB7u16,
            _ => 0x3E,
        }
        .to_le_bytes(),
    );
    b.resize(64, 0);
    b
}

#[test]
fn zips_of_the_debug_binaries_answer_every_offline_event() {
    let bins = lambda_harness::build_debug(&FUNCTIONS).unwrap();
    let dir = scratch("artifact-check-pass");
    for f in FUNCTIONS {
        let data = std::fs::read(bins.join(f)).unwrap();
        write_zip(&dir, f, &[("bootstrap", &data, 0o755)]);
    }
    let out = artifact_check(&dir, host_arch());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("  ocw-phrase: ocw-phrase.json: ok as documented\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("  agent-answer: agent-answer-anonymous.json: error as documented\n"),
        "{stdout}"
    );
    for f in FUNCTIONS {
        assert!(stdout.contains(&format!("\n{f}: ")), "{f}: {stdout}");
    }
    let last = stdout.lines().last().unwrap_or_default();
    assert_eq!(
        last,
        format!(
            "artifact-check: the {} bootstraps in {} answered every offline sample event as documented",
            host_arch(),
            dir.display()
        )
    );

    // A bootstrap that runs but answers otherwise (datastore-proxy's binary in ocw-phrase's zip):
    // each event not answered as documented is a failure naming the keys.
    let proxy = std::fs::read(bins.join(FUNCTIONS[1])).unwrap();
    write_zip(&dir, FUNCTIONS[0], &[("bootstrap", &proxy, 0o755)]);
    let out = artifact_check(&dir, host_arch());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("artifact-check: FAIL ocw-phrase: ocw-phrase.json: OCW: got null, expected \"about 3 minutes\""),
        "{stderr}"
    );
    assert!(stderr.contains("ocw-phrase output:"), "{stderr}");
}

#[test]
fn wrong_zips_fail_with_their_reason() {
    let [phrase, proxy, answer] = FUNCTIONS;
    let dir = scratch("artifact-check-fail");
    write_zip(
        &dir,
        phrase,
        &[("bootstrap", &fake_elf(the_other_arch()), 0o755)],
    );
    write_zip(&dir, proxy, &[("README", b"no bootstrap here", 0o644)]);
    // agent-answer: no zip at all.
    let out = artifact_check(&dir, host_arch());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let zip_of = |f: &str| dir.join(f).join("bootstrap.zip").display().to_string();
    for want in [
        format!(
            "artifact-check: FAIL {}: bootstrap is {}, expected {}",
            zip_of(phrase),
            the_other_arch(),
            host_arch()
        ),
        format!(
            "artifact-check: FAIL {} has no `bootstrap` at its root (entries: [\"README\"])",
            zip_of(proxy)
        ),
        format!("artifact-check: FAIL {} is missing", zip_of(answer)),
    ] {
        assert!(stderr.contains(&want), "want {want}\n{stderr}");
    }
    assert!(!String::from_utf8_lossy(&out.stdout).contains("answered every"));

    // The right architecture, but not executable: Lambda could not start it.
    write_zip(
        &dir,
        phrase,
        &[("bootstrap", &fake_elf(host_arch()), 0o644)],
    );
    let out = artifact_check(&dir, host_arch());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{}:bootstrap is not executable (mode 0o644)",
            zip_of(phrase)
        )),
        "{stderr}"
    );
}

#[test]
fn usage_errors_exit_2() {
    // clap's errors: what is wrong, and the usage or the values allowed.
    for (args, says) in [
        (&["artifact-check"][..], "Usage: xtask artifact-check"),
        (
            &["artifact-check", "d", "--architecture", "amd64"],
            "[possible values: x86_64, arm64]",
        ),
    ] {
        let out = Command::new(XTASK).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{stderr}");
    }
}
