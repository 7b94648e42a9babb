//! The command line of `cargo run -p journey -- …` (clap derive: `--help` is generated from the
//! documentation of the fields below; `-h` shows their first lines).

use clap::Parser;

use crate::{Binaries, CoverageOver, Options};

const EXIT_STATUS: &str = "\
Exit status:
  0  every test case played passed, and every transition of the five flows is covered or
     explained by a rule of Connect's (the table's cases)
  1  a test case failed or could not be read, or a transition is neither covered nor explained
  2  bad arguments
  3  the journey could not run (build failed, a function or the simulator did not start)";

/// journey: the Connect ↔ Mindful callback journey, played from the test cases of infra/tests
///
/// Each test case (Connect Testing language) runs on the flow runner: the shipped contact flows
/// block by block, the three functions built and run as real Lambda processes, Mindful
/// simulated. The transcript shows every block, what the caller heard and pressed, each Lambda
/// call, the requests Mindful saw and each observation; it ends with the coverage table.
#[derive(Debug, Parser)]
#[command(
    name = "journey",
    override_usage = "cargo run -p journey [-- OPTIONS]",
    verbatim_doc_comment,
    after_help = "See --help for the details and the exit statuses.",
    after_long_help = EXIT_STATUS
)]
pub struct Args {
    /// A test case to play: a file, or a name in infra/tests [default: connect-offer-accepted]
    ///
    /// NAME is looked up as infra/tests/NAME.json, then infra/tests/coverage/NAME.json.
    /// Repeatable: the cases play in the order given.
    #[arg(long = "case", value_name = "NAME|FILE", verbatim_doc_comment)]
    cases: Vec<String>,
    /// Play every test case of infra/tests (not its coverage/ folder)
    #[arg(long, conflicts_with = "cases")]
    all: bool,
    /// The coverage table over the cases played only (faster; transitions may stay NOT TAKEN)
    ///
    /// By default the table is over every test case of infra/tests and infra/tests/coverage:
    /// those not played are run as well, quietly (a line for any that fails).
    #[arg(long, verbatim_doc_comment)]
    played_coverage: bool,
    /// Mindful over https: the simulator's test CA, trusted through SSL_CERT_FILE
    ///
    /// SSL_CERT_FILE = the system CA bundle + the simulator's test root, as a deployment
    /// trusts a public CA.
    #[arg(long, verbatim_doc_comment)]
    https: bool,
    /// Print each function's own (JSON) log lines under its call
    #[arg(long)]
    logs: bool,
    /// Build and run release binaries (slower first build)
    #[arg(long)]
    release: bool,
}

/// Parses the whole command line (program name first). `--help` and bad arguments come back as
/// the clap error to print (`Error::exit`: help on stdout with status 0, an error on stderr with
/// status 2).
pub fn parse_args<I, T>(args: I) -> Result<Options, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let a = Args::try_parse_from(args)?;
    Ok(Options {
        cases: if a.cases.is_empty() && !a.all {
            vec![crate::DEFAULT_CASE.into()]
        } else {
            a.cases
        },
        all: a.all,
        coverage: if a.played_coverage {
            CoverageOver::Played
        } else {
            CoverageOver::AllCases
        },
        https: a.https,
        logs: a.logs,
        binaries: Binaries::Build { release: a.release },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn p(args: &[&str]) -> Result<Options, clap::Error> {
        parse_args(std::iter::once("journey").chain(args.iter().copied()))
    }

    #[test]
    fn the_command_line() {
        Args::command().debug_assert();
        let Ok(o) = p(&[]) else { panic!("defaults") };
        assert_eq!(o.cases, [crate::DEFAULT_CASE]);
        assert!(!o.all);
        assert_eq!(o.coverage, CoverageOver::AllCases);
        assert!(!o.https && !o.logs);
        assert_eq!(o.binaries, Binaries::Build { release: false });
        let Ok(o) = p(&[
            "--case",
            "a",
            "--case=b.json",
            "--played-coverage",
            "--https",
        ]) else {
            panic!("flags")
        };
        assert_eq!(o.cases, ["a", "b.json"]);
        assert_eq!(o.coverage, CoverageOver::Played);
        assert!(o.https);
        let Ok(o) = p(&["--all", "--release", "--logs"]) else {
            panic!("all")
        };
        assert!(o.all && o.cases.is_empty());
        assert!(o.logs && o.binaries == Binaries::Build { release: true });
        assert!(p(&["--all", "--case", "a"]).is_err_and(|e| e.exit_code() == 2));
        assert!(p(&["--fault", "x"]).is_err_and(|e| e.exit_code() == 2));
        // Names: infra/tests first, then its coverage folder; anything else is a path.
        let r = crate::resolve;
        assert!(r("connect-offer-accepted").ends_with("infra/tests/connect-offer-accepted.json"));
        assert!(r("record-missing-on-return.json")
            .ends_with("tests/coverage/record-missing-on-return.json"));
        assert_eq!(r("nope"), std::path::PathBuf::from("nope"));
    }
}
