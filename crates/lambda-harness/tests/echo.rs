//! Drives the `harness-echo` Lambda (real `lambda_runtime` 1.5) through the harness.

use std::collections::HashSet;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lambda_harness::{FunctionProcess, HarnessError, InvokeOptions, LogStream, Outcome};
use serde_json::json;

const ECHO: &str = env!("CARGO_BIN_EXE_harness-echo");

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[tokio::test]
async fn init_time_is_measured() {
    let mut f = FunctionProcess::spawn(ECHO, &[]).unwrap();
    let init = f.wait_ready(Duration::from_secs(10)).await.unwrap();
    assert!(init > Duration::ZERO);
    assert_eq!(f.init_time(), Some(init));
    assert!(init < Duration::from_secs(5), "init took {init:?}");
    let out = f.invoke(json!({"a": 1})).await.unwrap();
    assert!(out.cold);
    eprintln!("harness-echo (debug) init time: {init:?}");
}

#[tokio::test]
async fn slow_init_is_included_in_init_time() {
    let mut f = FunctionProcess::builder(ECHO)
        .env("ECHO_INIT_SLEEP_MS", "300")
        .spawn()
        .unwrap();
    // Invoking before the function is ready queues the event until its first /next.
    let out = f.invoke(json!({"x": true})).await.unwrap();
    let init = f.init_time().unwrap();
    assert!(init >= Duration::from_millis(300), "init {init:?}");
    assert!(out.queued_time >= Duration::from_millis(250), "{out:?}");
    assert!(out.own_time < out.round_trip);
}

#[tokio::test]
async fn hundred_sequential_invocations() {
    let mut f = FunctionProcess::spawn(ECHO, &[]).unwrap();
    let mut ids = HashSet::new();
    let mut own = Vec::new();
    for i in 0..100 {
        let ev = json!({"i": i, "nested": {"s": format!("v{i}")}});
        let out = f.invoke(ev.clone()).await.unwrap();
        assert_eq!(out.cold, i == 0);
        let resp = out.response().expect("response").clone();
        assert_eq!(resp["echo"], ev);
        assert_eq!(resp["request_id"], out.request_id.as_str());
        assert!(ids.insert(out.request_id.clone()), "duplicate request id");
        assert!(out.own_time <= out.round_trip);
        own.push(out.own_time);
    }
    assert_eq!(ids.len(), 100);
    // 100 handed out, plus the poll currently waiting for the 101st.
    assert!(f.emulator().next_polls() >= 100);
    own.sort();
    eprintln!("own time p50 {:?} p99 {:?}", own[49], own[98]);
}

#[tokio::test]
async fn function_error_is_reported_as_such() {
    let mut f = FunctionProcess::spawn(ECHO, &[]).unwrap();
    let out = f.invoke(json!({"fail": "boom"})).await.unwrap();
    assert!(out.is_error());
    let err = out.error().unwrap();
    assert_eq!(err.error_type, "EchoFailure");
    assert_eq!(err.error_message, "boom");
    assert_eq!(err.header_error_type.as_deref(), Some("unhandled"));
    match out.into_response() {
        Err(HarnessError::Function(e)) => assert_eq!(e.error_message, "boom"),
        other => panic!("expected a function error, got {other:?}"),
    }
    match f.invoke_ok(json!({"fail": "again"})).await {
        Err(HarnessError::Function(e)) => assert_eq!(e.error_type, "EchoFailure"),
        other => panic!("expected a function error, got {other:?}"),
    }
    // The function keeps serving after an error.
    let ok = f.invoke_ok(json!({"after": "error"})).await.unwrap();
    assert_eq!(ok["echo"]["after"], "error");
}

#[tokio::test]
async fn malformed_event_is_a_deserialize_error() {
    let mut f = FunctionProcess::spawn(ECHO, &[]).unwrap();
    let out = f
        .invoke_bytes(b"{not json".to_vec(), InvokeOptions::default())
        .await
        .unwrap();
    let err = out.error().expect("function error");
    assert!(err.error_type.contains("DeserializeError"), "{err:?}");
}

#[tokio::test]
async fn handler_panic_is_a_function_error() {
    // Debug builds unwind; lambda_runtime catches the panic and reports it on /error.
    let mut f = FunctionProcess::spawn(ECHO, &[]).unwrap();
    let out = f.invoke(json!({"panic": true})).await.unwrap();
    assert!(out.is_error(), "{out:?}");
    assert!(f.invoke(json!({})).await.unwrap().response().is_some());
}

#[tokio::test]
async fn deadline_header_is_honoured() {
    let mut f = FunctionProcess::spawn(ECHO, &[]).unwrap();
    // Default: 8000 ms, Connect's maximum.
    let before = now_ms();
    let out = f.invoke(json!({})).await.unwrap();
    let r = out.response().unwrap();
    assert_eq!(r["deadline_ms"].as_u64(), Some(out.deadline_ms));
    assert!(out.deadline_ms >= before + 8000 && out.deadline_ms <= now_ms() + 8000);

    let out = f
        .invoke_with(
            &json!({}),
            InvokeOptions::with_timeout(Duration::from_millis(1500)),
        )
        .await
        .unwrap();
    let r = out.response().unwrap();
    let remaining = r["remaining_ms"].as_i64().unwrap();
    assert!((1000..=1500).contains(&remaining), "remaining {remaining}");
    assert!(r["function_arn"]
        .as_str()
        .unwrap()
        .ends_with(":function:harness-echo"));
    assert!(r["xray_trace_id"].as_str().unwrap().starts_with("Root=1-"));
    assert_eq!(r["function_name"], "harness-echo");
    assert_eq!(r["memory_mb"], 128);
    assert_eq!(r["version"], "$LATEST");
}

#[tokio::test]
async fn no_response_within_deadline_is_a_bounded_error() {
    let mut f = FunctionProcess::builder(ECHO)
        .grace(Duration::from_millis(200))
        .spawn()
        .unwrap();
    f.wait_ready(Duration::from_secs(10)).await.unwrap();
    let started = Instant::now();
    let opts = InvokeOptions {
        timeout: Duration::from_millis(300),
        grace: Duration::from_millis(200),
        ..Default::default()
    };
    let err = f
        .invoke_with(&json!({"sleep_ms": 1500}), opts)
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert!(matches!(err, HarnessError::Timeout { .. }), "{err}");
    assert!(
        took >= Duration::from_millis(450) && took < Duration::from_millis(1400),
        "took {took:?}"
    );
    // The late answer is accepted and dropped; the next event is served after it.
    let ok = f.invoke_ok(json!({"n": 2})).await.unwrap();
    assert_eq!(ok["echo"]["n"], 2);
    assert_eq!(f.emulator().late_responses(), 1);
}

#[tokio::test]
async fn process_exit_fails_fast_with_output() {
    let mut f = FunctionProcess::spawn(ECHO, &[]).unwrap();
    f.invoke(json!({"log": "about to exit"})).await.unwrap();
    let started = Instant::now();
    let err = f.invoke(json!({"exit": 3})).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    match &err {
        HarnessError::ProcessExited { status, output } => {
            assert!(status.contains('3'), "{status}");
            assert!(output.contains("about to exit"), "{output}");
        }
        other => panic!("expected ProcessExited, got {other}"),
    }
    // Later invocations fail immediately too.
    assert!(matches!(
        f.invoke(json!({})).await,
        Err(HarnessError::ProcessExited { .. })
    ));
    let report = f.shutdown().unwrap();
    assert!(report.exited_on_its_own);
    assert_eq!(report.peak_rss_kib, None);
}

#[tokio::test]
async fn peak_rss_is_readable() {
    let mut f = FunctionProcess::spawn(ECHO, &[]).unwrap();
    f.invoke(json!({})).await.unwrap();
    let rss = f.rss_kib().unwrap();
    let peak = f.peak_rss_kib().unwrap();
    assert!(peak > 100 && peak < 200_000, "peak {peak} KiB");
    assert!(rss <= peak);
    let report = f.shutdown().unwrap();
    let at_shutdown = report.peak_rss_kib.unwrap();
    assert!(at_shutdown >= peak);
    assert!(!report.exited_on_its_own);
    assert!(f.peak_rss_kib().is_err(), "no RSS after shutdown");
    eprintln!("harness-echo (debug) peak RSS {at_shutdown} KiB");
}

#[tokio::test]
async fn logs_are_captured_and_secret_absent() {
    let secret = "s3cr3t-value-never-logged";
    let mut f = FunctionProcess::spawn(ECHO, &[("ECHO_SECRET".into(), secret.into())]).unwrap();
    let mark = f.log_mark();
    f.invoke(json!({"log": "hello-from-echo"})).await.unwrap();
    assert!(
        f.wait_for_log(
            |l| l.text.contains("hello-from-echo"),
            Duration::from_secs(2)
        )
        .await
    );
    let lines = f.logs_since(mark);
    let line = lines
        .iter()
        .find(|l| l.text.contains("hello-from-echo"))
        .unwrap();
    assert_eq!(line.stream, LogStream::Stdout);
    // AWS_LAMBDA_LOG_FORMAT=JSON → one JSON object per line.
    let v = line.json().expect("JSON log line");
    assert_eq!(v["level"], "INFO");
    assert!(!f.json_logs().is_empty());

    f.shutdown().unwrap();
    assert!(!f.log_text().contains(secret));
    assert!(!f.logs().is_empty(), "logs survive shutdown");
}

#[tokio::test]
async fn killed_on_drop() {
    let f = FunctionProcess::spawn(ECHO, &[]).unwrap();
    f.wait_ready(Duration::from_secs(10)).await.unwrap();
    let pid = f.pid();
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    drop(f);
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "process {pid} still exists after drop"
    );
}

#[tokio::test]
async fn shutdown_is_idempotent_and_stops_invokes() {
    let mut f = FunctionProcess::spawn(ECHO, &[]).unwrap();
    f.invoke(json!({})).await.unwrap();
    let a = f.shutdown().unwrap();
    let b = f.shutdown().unwrap();
    assert_eq!(a.exit_status, b.exit_status);
    assert!(a.exit_status.contains("signal"), "{}", a.exit_status);
    assert!(!f.is_running());
    assert!(matches!(
        f.invoke(json!({})).await,
        Err(HarnessError::ShutDown)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn works_on_multi_thread_runtime_and_rejects_blocking_calls() {
    let mut f = FunctionProcess::spawn(ECHO, &[]).unwrap();
    assert_eq!(f.invoke_ok(json!({"m": 1})).await.unwrap()["echo"]["m"], 1);
    assert!(matches!(
        f.invoke_blocking(json!({})),
        Err(HarnessError::BlockingInAsync)
    ));
}

#[test]
fn blocking_api_from_sync_test() {
    let mut f = FunctionProcess::spawn(ECHO, &[]).unwrap();
    let init = f.wait_ready_blocking(Duration::from_secs(10)).unwrap();
    assert!(init > Duration::ZERO);
    let out = f.invoke_blocking(json!({"sync": true})).unwrap();
    match &out.outcome {
        Outcome::Response(v) => assert_eq!(v["echo"]["sync"], true),
        Outcome::Error(e) => panic!("{e}"),
    }
    assert!(f
        .wait_for_log_blocking(|_| true, Duration::from_millis(10))
        .is_ok());
}

#[test]
fn missing_binary_is_a_clear_error() {
    let err = FunctionProcess::spawn("/nonexistent/bootstrap", &[]).unwrap_err();
    assert!(matches!(err, HarnessError::BinaryNotFound { .. }), "{err}");
    assert!(err.to_string().contains("/nonexistent/bootstrap"));
}

#[test]
fn binary_lookup_helpers() {
    let p = lambda_harness::binary_path("harness-echo").unwrap();
    assert!(p.is_file());
    assert!(lambda_harness::binary_path("no-such-binary-xyz").is_err());
    let root = lambda_harness::workspace_root().unwrap();
    assert!(root.join("Cargo.toml").is_file());
    let target = lambda_harness::target_dir().unwrap();
    assert!(lambda_harness::debug_binary("harness-echo")
        .map(|p| p.starts_with(&target))
        .unwrap_or(true));
}

#[test]
fn runs_through_a_wrapper_program() {
    // `env` as the wrapper: `env <binary>` execs the binary with the environment it was given,
    // the way `qemu-aarch64 -L <sysroot> <binary>` runs an arm64 one.
    let mut f = FunctionProcess::builder(ECHO)
        .wrapper("env", Vec::<String>::new())
        .spawn()
        .unwrap();
    let out = f.invoke_blocking(json!({"via": "env"})).unwrap();
    assert_eq!(out.response().unwrap()["echo"]["via"], "env");

    let missing = FunctionProcess::builder(ECHO)
        .wrapper("lambda-harness-no-such-wrapper", ["-L", "/nowhere"])
        .spawn()
        .unwrap_err();
    assert!(
        matches!(&missing, HarnessError::Spawn { path, .. } if path.ends_with("lambda-harness-no-such-wrapper")),
        "{missing}"
    );
}
