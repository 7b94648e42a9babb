//! Measure cold starts of a Lambda binary through the harness.
//!
//! ```text
//! cargo run -p lambda-harness --example cold_starts -- [--release] [--package P] [--bin B] [N]
//! ```
//! Defaults: package `lambda-harness`, binary `harness-echo`, debug profile, N = 20 (`--help`).
//! Builds the package first (`cargo build [--release] -p P`).

use std::time::Duration;

use clap::Parser;
use lambda_harness::{build, FunctionProcess, HarnessError};
use serde_json::json;

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// cold_starts: init, first and warm invocation times and peak RSS of a Lambda binary
///
/// Builds the package first (`cargo build [--release] -p PACKAGE`), then starts the binary N
/// times on the harness's Runtime API emulator.
#[derive(Parser)]
#[command(
    name = "cold_starts",
    override_usage = "cargo run -p lambda-harness --example cold_starts -- [OPTIONS] [N]",
    verbatim_doc_comment
)]
struct Args {
    /// Build and run the release binary (default: debug)
    #[arg(long)]
    release: bool,
    /// The package to build
    #[arg(long, value_name = "P", default_value = "lambda-harness")]
    package: String,
    /// The binary to start
    #[arg(long, value_name = "B", default_value = "harness-echo")]
    bin: String,
    /// Cold starts
    #[arg(default_value_t = 20, value_parser = clap::value_parser!(u16).range(1..))]
    n: u16,
}

fn main() -> Result<(), HarnessError> {
    let Args {
        release,
        package,
        bin,
        n,
    } = Args::parse();
    let n = usize::from(n);
    let dir = build(&[&package], release)?;
    let path = dir.join(&bin);
    let (mut inits, mut firsts, mut warms, mut rss) = (vec![], vec![], vec![], vec![]);
    for _ in 0..n {
        let mut f = FunctionProcess::spawn(&path, &[])?;
        inits.push(f.wait_ready_blocking(Duration::from_secs(10))?);
        firsts.push(f.invoke_blocking(json!({}))?.own_time);
        for _ in 0..10 {
            warms.push(f.invoke_blocking(json!({}))?.own_time);
        }
        rss.push(f.shutdown()?.peak_rss_kib.unwrap_or(0));
    }
    inits.sort();
    firsts.sort();
    warms.sort();
    rss.sort();
    println!(
        "{bin} ({}) over {n} cold starts:",
        if release { "release" } else { "debug" }
    );
    println!(
        "  init      min {:?} p50 {:?} max {:?}",
        inits[0],
        pct(&inits, 0.5),
        inits[n - 1]
    );
    println!(
        "  1st own   p50 {:?}   warm own p50 {:?} p99 {:?}",
        pct(&firsts, 0.5),
        pct(&warms, 0.5),
        pct(&warms, 0.99)
    );
    println!("  peak RSS  p50 {} KiB max {} KiB", rss[n / 2], rss[n - 1]);
    Ok(())
}
