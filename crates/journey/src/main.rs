//! `cargo run -p journey [-- OPTIONS]`: the whole callback journey on the embedded simulator.
//! See `--help` and crates/journey/README.md.

use std::io::Write;
use std::process::ExitCode;

use journey::{parse_args, run, Cli, HELP};

fn main() -> ExitCode {
    let options = match parse_args(std::env::args().skip(1)) {
        Ok(Cli::Help) => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Ok(Cli::Run(o)) => o,
        Err(e) => {
            eprintln!("journey: {e}\nTry --help.");
            return ExitCode::from(2);
        }
    };
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
