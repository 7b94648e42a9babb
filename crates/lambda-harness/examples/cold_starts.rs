//! Measure cold starts of a Lambda binary through the harness.
//!
//! ```text
//! cargo run -p lambda-harness --example cold_starts -- [--release] [--package P] [--bin B] [N]
//! ```
//! Defaults: package `lambda-harness`, binary `harness-echo`, debug profile, N = 20.
//! Builds the package first (`cargo build [--release] -p P`).

use std::time::Duration;

use lambda_harness::{build, FunctionProcess, HarnessError};
use serde_json::json;

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() -> Result<(), HarnessError> {
    let mut release = false;
    let mut package = "lambda-harness".to_string();
    let mut bin = "harness-echo".to_string();
    let mut n = 20usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--release" => release = true,
            "--package" => package = args.next().unwrap_or(package),
            "--bin" => bin = args.next().unwrap_or(bin),
            other => n = other.parse().unwrap_or(n),
        }
    }
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
