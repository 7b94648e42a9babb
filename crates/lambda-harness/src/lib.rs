//! Run a built AWS Lambda binary as a real process speaking the Lambda Runtime API.
//!
//! * [`RuntimeApiEmulator`]: in-process emulator of the Runtime API (`/next`, `/response`,
//!   `/error`, `/init/error`) on `127.0.0.1:<random port>`.
//! * [`FunctionProcess`]: spawns the binary with the Lambda environment, captures its output,
//!   invokes it sequentially with timings (init time, own time), reads peak RSS, and kills it on
//!   shutdown/drop.
//! * [`binary_path`], [`build_release`], [`debug_binary`]: find or build function binaries.
//!
//! ```no_run
//! # async fn demo() -> Result<(), lambda_harness::HarnessError> {
//! use lambda_harness::FunctionProcess;
//! let bin = lambda_harness::binary_path("harness-echo")?;
//! let mut f = FunctionProcess::spawn(&bin, &[("MY_VAR".into(), "1".into())])?;
//! let out = f.invoke(serde_json::json!({"hello": "world"})).await?;
//! assert_eq!(out.response().unwrap()["echo"]["hello"], "world");
//! println!("init {:?}, own {:?}", f.init_time(), out.own_time);
//! let report = f.shutdown()?;
//! println!("peak RSS {:?} KiB", report.peak_rss_kib);
//! # Ok(()) }
//! ```

mod bins;
mod drivers;
mod emulator;
mod error;
pub mod hostile;
mod process;
pub mod secrets_extension;
pub mod stack;
pub mod testkit;

pub use bins::{
    binary_path, build, build_debug, build_release, debug_binary, release_binary, target_dir,
    workspace_root,
};
pub use emulator::{
    InvokeOptions, Invoked, Outcome, RuntimeApiEmulator, API_PREFIX, DEFAULT_GRACE,
    DEFAULT_HANDOUT_TIMEOUT, DEFAULT_TIMEOUT,
};
pub use error::{FunctionError, HarnessError};
pub use process::{
    read_proc_status_kib, FunctionBuilder, FunctionProcess, LogLine, LogStream, ProcessReport,
};
