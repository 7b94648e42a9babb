//! `cargo run -p journey [-- OPTIONS]`: the callback journey, played from the test cases of
//! infra/tests on the flow runner. See `--help` and crates/journey/README.md.

use std::io::Write;
use std::process::ExitCode;

use journey::{parse_args, run};

fn main() -> ExitCode {
    // `--help` prints to stdout and exits 0; bad arguments print to stderr and exit 2.
    let options = parse_args(std::env::args_os()).unwrap_or_else(|e| e.exit());
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match run(&options, &mut out) {
        Ok(report) if report.passed() => ExitCode::SUCCESS,
        Ok(_) => ExitCode::from(1),
        Err(e) => {
            let _ = out.flush();
            eprintln!("journey: {e}");
            ExitCode::from(3)
        }
    }
}
