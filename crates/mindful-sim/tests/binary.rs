//! The `mindful-sim` binary: flags, configuration file, stderr request log.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_mindful-sim");

/// Kills the child on drop so a failing assertion never leaks the process.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn help_documents_flags_and_control_api() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "--config",
        "--port",
        "--client",
        "--template",
        "--data-keys",
        "--token-lifetime",
        "/_sim/faults",
        "127.0.0.1",
    ] {
        assert!(text.contains(needle), "--help lacks {needle}");
    }
    let out = Command::new(BIN).arg("--bogus").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn runs_from_a_config_file_and_logs_masked_requests() {
    let dir = std::env::temp_dir().join(format!("mindful-sim-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("sim.json");
    std::fs::write(
        &cfg,
        r#"{"port": 0, "token_lifetime_secs": 60,
            "clients": [{"client_id": "cfg-client", "client_secret": "cfg-s3cret"}],
            "templates": [{"token": "cfg-ds-token", "id": "t-cfg", "data_keys": ["Keep"]}]}"#,
    )
    .unwrap();
    let child = Command::new(BIN)
        .arg("--config")
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut sim = Running(child);
    let stderr = sim.0.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let next = || rx.recv_timeout(Duration::from_secs(10)).unwrap();
    let first = next();
    let base = first
        .strip_prefix("mindful-sim listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .to_string();
    assert!(base.starts_with("http://127.0.0.1:"));

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // reqwest is built without a default crypto provider (as in the functions).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let c = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        let r = c
            .post(format!("{base}/oauth2/token"))
            .basic_auth("cfg-client", Some("cfg-s3cret"))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["expires_in"], 60);
        let r = c
            .post(format!("{base}/api/v1/data_sets"))
            .bearer_auth("cfg-ds-token")
            .json(
                &serde_json::json!({"customer_contact_number": "+13209071234",
                                      "data_values": {"Keep": "1", "Drop": "2"}}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["data_set_template_id"], "t-cfg");
        assert_eq!(v["Keep"], "1");
        assert!(v.get("Drop").is_none());
    });

    // Skip the start-up banner; then one line per request, credentials masked.
    let mut lines = Vec::new();
    while lines.len() < 2 {
        let l = next();
        if l.starts_with("mindful-sim #") {
            lines.push(l);
        }
    }
    assert!(lines[0].contains("POST /oauth2/token"), "{}", lines[0]);
    assert!(lines[0].contains("auth=Basic ***"), "{}", lines[0]);
    assert!(lines[0].ends_with(" ms)") && lines[0].contains("-> 200"));
    assert!(lines[1].contains("auth=Bearer ***"), "{}", lines[1]);
    for l in &lines {
        assert!(
            !l.contains("cfg-s3cret") && !l.contains("cfg-ds-token"),
            "{l}"
        );
    }
    drop(sim);
    let _ = std::fs::remove_dir_all(&dir);
}
