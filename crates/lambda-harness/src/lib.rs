//! Run a built AWS Lambda binary as a real process speaking the Lambda Runtime API.
//!
//! * [`RuntimeApiEmulator`]: in-process emulator of the Runtime API (`/next`, `/response`,
//!   `/error`, `/init/error`) on `127.0.0.1:<random port>`.
//! * [`FunctionProcess`]: spawns the binary with the Lambda environment, captures its output,
//!   invokes it sequentially with timings (init time, own time), reads peak RSS, and kills it on
//!   shutdown/drop.
//! * [`binary_path`], [`build_release`], [`debug_binary`]: find or build function binaries.
//! * [`SecretsExtension`]: the AWS Parameters and Secrets Lambda Extension's local HTTP interface,
//!   for a function that reads its secrets the way it does when deployed.
//!
//! Nothing here knows a particular function: what a bundle's tests share on top of this (events,
//! simulators, its stack's environment) belongs in the bundle's own test kit.
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
mod emulator;
mod error;
mod process;
mod secrets_extension;

pub use bins::{
    binary_path, build, build_debug, build_release, debug_binary, target_dir, workspace_root,
};
pub use emulator::{InvokeOptions, Invoked, Outcome, RuntimeApiEmulator};
pub use error::{FunctionError, HarnessError};
pub use process::{FunctionBuilder, FunctionProcess, LogLine, LogStream, ProcessReport};
pub use secrets_extension::{ExtensionRequest, SecretsExtension};
