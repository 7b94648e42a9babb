//! The command line of `cargo run -p journey -- …` (clap derive: `--help` is generated from the
//! documentation of the fields below).

use clap::{CommandFactory, Parser, ValueEnum};

use crate::{
    Binaries, FaultSpec, Options, DEFAULT_COUNTRY, DEFAULT_INTERVAL_SECONDS, DEFAULT_LANGUAGE,
    DEFAULT_MAX_OFFERS, DEFAULT_NUMBER, DEFAULT_WAIT, INTERVAL_RANGE, MAX_OFFERS_RANGE,
};

const EXIT_STATUS: &str = "\
Exit status:
  0  every function answered as designed: the happy path, or, with --fault, the documented
     status=error + error code inside the function's time budget, and the flow took its branch
  1  a step did not answer as designed (wrong status/code, Lambda error, over budget)
  2  bad arguments
  3  the journey could not run (build failed, a function or the simulator did not start)";

/// Heading of the flags of the README's "Optional enhancements".
const ENHANCEMENTS: &str = "Optional enhancements (README \"Optional enhancements\")";

// `-h` prints the first paragraph of each documentation below, `--help` all of it, lines kept as
// written (`verbatim_doc_comment`: clap's `wrap_help`, which would reflow them, is not compiled in).

/// journey: the whole Connect ↔ Mindful callback journey, locally
///
/// The three functions are built and run as real Lambda processes (Runtime API emulator), Mindful is
/// the embedded simulator; the journey runs the shipped contact flows (flow-runner) and prints each
/// block, the branch it took and what each function got and answered. Everything runs on
/// 127.0.0.1; nothing is deployed or installed.
#[derive(Debug, Parser)]
#[command(
    name = "journey",
    override_usage = "cargo run -p journey [-- OPTIONS]",
    verbatim_doc_comment,
    after_help = "See --help for the details and the exit statuses.",
    after_long_help = EXIT_STATUS
)]
pub struct Args {
    /// Caller's number as given
    ///
    /// Normalised with --country to the E.164 Connect presents
    /// ("anonymous" shows the invalid-number branch)
    #[arg(long, value_name = "NUMBER", default_value = DEFAULT_NUMBER, verbatim_doc_comment)]
    number: String,
    /// DEFAULT_COUNTRY, ISO 3166 alpha-2
    #[arg(long, value_name = "CC", default_value = DEFAULT_COUNTRY, value_parser = country)]
    country: String,
    /// The contact's language: en-US, es-MX, fr-FR…
    #[arg(long, value_name = "TAG", default_value = DEFAULT_LANGUAGE)]
    language: String,
    /// Oldest contact in queue ($.Metrics.Queue.OldestContactAge)
    ///
    /// Under 60 s no callback is offered
    #[arg(long, value_name = "SECONDS", default_value = DEFAULT_WAIT, verbatim_doc_comment)]
    wait: String,
    /// $.Metrics.Agents.Available.Count; > 0: no offer
    #[arg(long, value_name = "N", default_value_t = 0, value_parser = count)]
    agents_available: u32,
    /// The caller does not press 1 (stays in queue)
    ///
    /// With --second-chance: to any offer, until MaxCallbackOffers is reached;
    /// with --offered-by mindful: declines Mindful's offer (held by Mindful)
    #[arg(long, verbatim_doc_comment)]
    decline: bool,
    /// CallbackOfferedBy: who offers the callback
    ///
    /// connect: Connect says the wait and asks "press 1";
    /// mindful: the flows transfer to the Call Target without a prompt, Mindful's IVR offers
    #[arg(
        long,
        value_name = "WHO",
        value_enum,
        ignore_case = true,
        default_value_t = OfferedBy::Connect,
        verbatim_doc_comment
    )]
    offered_by: OfferedBy,
    /// Mindful's Datastore answers carry ecbt (estimated callback time) [default: null]
    ///
    /// The caller hears it after accepting (0-86400)
    #[arg(long, value_name = "SECONDS", value_parser = ecbt, verbatim_doc_comment)]
    ecbt: Option<u64>,
    /// Stack with CheckMindfulStatus=true; Mindful's widget answers STATE
    ///
    /// Before each offer the flows ask Mindful's Scheduler widget status, which answers STATE:
    /// offer_callback (offer as usual), display_ewt_only or platform_unavailable
    /// (no offer: the caller queues)
    #[arg(long, value_name = "STATE", value_parser = widget_state, verbatim_doc_comment)]
    mindful_status: Option<String>,
    /// Stack with SecondChanceOffers=true: a second offer after a decline
    ///
    /// The caller declines the first offer and waits in queue; the customer queue flow
    /// re-reads the metrics every --interval seconds, calls ocw-phrase with
    /// offers_made/max_offers and offers again; the caller accepts
    #[arg(long, help_heading = ENHANCEMENTS, verbatim_doc_comment)]
    second_chance: bool,
    /// MaxCallbackOffers, offers per call, the first included (1-20)
    ///
    /// 1 = no second chance
    #[arg(
        long,
        value_name = "N",
        default_value_t = DEFAULT_MAX_OFFERS,
        value_parser = max_offers,
        help_heading = ENHANCEMENTS,
        verbatim_doc_comment
    )]
    max_offers: u32,
    /// SecondChanceIntervalSeconds (30-3600)
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = DEFAULT_INTERVAL_SECONDS,
        value_parser = interval,
        help_heading = ENHANCEMENTS
    )]
    interval: u32,
    /// Two callers, from queues Billing and Sales, through one Call Target
    ///
    /// One return DID (ReturnRoutingAttribute=skill): each caller is restored to their own
    /// queue and skill
    #[arg(long, help_heading = ENHANCEMENTS, verbatim_doc_comment)]
    two_queues: bool,
    /// Inject a Mindful fault on every request of ROUTE and watch the flow's error branch
    ///
    /// ROUTE: token, agent_answer, datastore_post, datastore_get, widget_status, any.
    /// KIND: status=CODE, latency=MS, hang, malformed_json, wrong_content_type, reset.
    /// Examples:
    ///   datastore_post:status=503     POST fails → caller stays in queue
    ///   datastore_get:malformed_json  context lost → default queue
    ///   token:status=401              agent-answer: auth_failed
    ///   agent_answer:hang             agent-answer: timeout inside 2 s
    #[arg(
        long,
        value_name = "ROUTE:KIND",
        value_parser = FaultSpec::parse,
        help_heading = ENHANCEMENTS,
        verbatim_doc_comment
    )]
    fault: Option<FaultSpec>,
    /// Mindful over https (test CA)
    ///
    /// The simulator generates a test CA and serves TLS (token endpoint on its own port);
    /// the functions trust the test root through SSL_CERT_FILE = the system CA bundle +
    /// the test root
    #[arg(long, help_heading = ENHANCEMENTS, verbatim_doc_comment)]
    tls: bool,
    /// Build and run release binaries (slower first build)
    #[arg(long, help_heading = ENHANCEMENTS)]
    release: bool,
    /// Print the functions' own (JSON) log lines under each step
    #[arg(long, help_heading = ENHANCEMENTS)]
    logs: bool,
}

/// Who makes the callback offer (`CallbackOfferedBy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum OfferedBy {
    Connect,
    Mindful,
}

/// Parses the whole command line (program name first); `--flag value` and `--flag=value` both
/// work. `--help` and bad arguments come back as the clap error to print (`Error::exit`: help on
/// stdout with status 0, an error on stderr with status 2).
pub fn parse_args<I, T>(args: I) -> Result<Options, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let a = Args::try_parse_from(args)?;
    if a.two_queues && (a.second_chance || a.decline) {
        return Err(Args::command().error(
            clap::error::ErrorKind::ArgumentConflict,
            "--two-queues plays two callers who accept the first offer: it does not combine with --second-chance or --decline",
        ));
    }
    Ok(Options {
        number: a.number,
        country: a.country,
        language: a.language,
        wait: a.wait,
        agents_available: a.agents_available,
        fault: a.fault,
        decline: a.decline,
        second_chance: a.second_chance,
        max_offers: a.max_offers,
        interval: a.interval,
        two_queues: a.two_queues,
        binaries: Binaries::Build { release: a.release },
        show_logs: a.logs,
        tls: a.tls,
        mindful_offers: a.offered_by == OfferedBy::Mindful,
        ecbt: a.ecbt,
        mindful_status: a.mindful_status,
    })
}

fn country(v: &str) -> Result<String, String> {
    let c = v.trim().to_ascii_uppercase();
    if c.len() == 2 && c.chars().all(|ch| ch.is_ascii_alphabetic()) {
        Ok(c)
    } else {
        Err("expected an ISO 3166 alpha-2 code like US".into())
    }
}

fn count(v: &str) -> Result<u32, String> {
    v.trim().parse().map_err(|_| "expected a count".into())
}

fn max_offers(v: &str) -> Result<u32, String> {
    in_range(v, &MAX_OFFERS_RANGE, "a count from 1 to 20")
}

fn interval(v: &str) -> Result<u32, String> {
    in_range(v, &INTERVAL_RANGE, "seconds from 30 to 3600")
}

fn ecbt(v: &str) -> Result<u64, String> {
    in_range(v, &(0..=86_400), "seconds from 0 to 86400")
}

/// A number in `range`, surrounding spaces allowed; `expected` says what was wanted (a clap
/// value parser's error: clap names the flag and the value).
pub fn in_range<T: std::str::FromStr + PartialOrd>(
    v: &str,
    range: &std::ops::RangeInclusive<T>,
    expected: &str,
) -> Result<T, String> {
    v.trim()
        .parse()
        .ok()
        .filter(|n| range.contains(n))
        .ok_or_else(|| format!("expected {expected}"))
}

fn widget_state(v: &str) -> Result<String, String> {
    let state = v.trim();
    if state.is_empty() || state.len() > 64 {
        return Err(
            "expected a widget state such as offer_callback or platform_unavailable".into(),
        );
    }
    Ok(state.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::error::ErrorKind;
    use mindful_sim::{Fault, Route};

    fn p(args: &[&str]) -> Result<Options, clap::Error> {
        parse_args(std::iter::once("journey").chain(args.iter().copied()))
    }

    #[test]
    fn the_command_is_well_formed() {
        Args::command().debug_assert();
    }

    #[test]
    fn defaults_and_flags() {
        let Ok(o) = p(&[]) else { panic!("defaults") };
        assert_eq!(o.wait, "185");
        assert_eq!(o.binaries, Binaries::Build { release: false });
        assert!(!o.tls);
        let d = Options::default();
        assert_eq!(
            (&o.number, &o.country, &o.language, o.agents_available),
            (&d.number, &d.country, &d.language, d.agents_available)
        );
        assert!(!o.mindful_offers && o.ecbt.is_none() && o.mindful_status.is_none());
        let Ok(o) = p(&[
            "--number",
            "(320) 907-1234",
            "--country=gb",
            "--language",
            "fr-FR",
            "--wait",
            "61.5",
            "--agents-available",
            "2",
            "--fault",
            "token:status=401",
            "--decline",
            "--release",
            "--logs",
            "--tls",
        ]) else {
            panic!("flags")
        };
        assert_eq!(o.number, "(320) 907-1234");
        assert_eq!(o.country, "GB");
        assert_eq!(o.language, "fr-FR");
        assert_eq!(o.wait, "61.5");
        assert_eq!(o.agents_available, 2);
        assert_eq!(o.fault.as_ref().map(|f| f.route), Some(Route::Token));
        assert_eq!(o.fault.map(|f| f.fault), Some(Fault::Status { code: 401 }));
        assert!(o.decline && o.show_logs && o.tls);
        assert_eq!(o.binaries, Binaries::Build { release: true });
        assert!(matches!(p(&["--help"]), Err(e) if e.kind() == ErrorKind::DisplayHelp));
        assert!(p(&["--nope"]).is_err());
        assert!(p(&["--wait"]).is_err());
        assert!(p(&["--agents-available", "x"]).is_err());
        assert!(p(&["--country", "USA"]).is_err());
        assert!(p(&["--fault", "x"]).is_err());
        // Bad arguments exit with status 2.
        assert!(p(&["--nope"]).is_err_and(|e| e.exit_code() == 2));
        let Ok(o) = p(&["--offered-by", "Mindful", "--ecbt=540"]) else {
            panic!("offered by")
        };
        assert!(o.mindful_offers);
        assert_eq!(o.ecbt, Some(540));
        assert!(p(&["--offered-by", "agent"]).is_err());
        assert!(p(&["--ecbt", "86401"]).is_err());
    }

    #[test]
    fn enhancement_flags() {
        let Ok(o) = p(&[]) else { panic!("defaults") };
        assert!(!o.second_chance && !o.two_queues);
        assert_eq!((o.max_offers, o.interval), (2, 120));
        let Ok(o) = p(&["--second-chance", "--max-offers=3", "--interval", "60"]) else {
            panic!("second chance")
        };
        assert!(o.second_chance);
        assert_eq!((o.max_offers, o.interval), (3, 60));
        let Ok(o) = p(&["--two-queues"]) else {
            panic!("two queues")
        };
        assert!(o.two_queues);
        assert!(p(&["--max-offers", "0"]).is_err());
        assert!(p(&["--max-offers", "21"]).is_err());
        assert!(p(&["--interval", "5"]).is_err());
        assert!(p(&["--two-queues", "--second-chance"]).is_err());
        assert!(p(&["--two-queues", "--decline"]).is_err());
        let Ok(o) = p(&["--mindful-status", "platform_unavailable"]) else {
            panic!("mindful status")
        };
        assert_eq!(o.mindful_status.as_deref(), Some("platform_unavailable"));
        assert!(p(&["--mindful-status="]).is_err());
        let Ok(o) = p(&["--fault", "widget_status:hang"]) else {
            panic!("widget status fault")
        };
        assert_eq!(
            o.fault.map(|f| f.route),
            Some(mindful_sim::Route::WidgetStatus)
        );
    }
}
