//! Hand-rolled argument parsing for `cargo run -p journey -- …`.

use crate::{Binaries, FaultSpec, Options, INTERVAL_RANGE, MAX_OFFERS_RANGE};

pub const HELP: &str = "\
journey: the whole Connect ↔ Mindful callback journey, locally

The three functions are built and run as real Lambda processes (Runtime API emulator), Mindful is
the embedded simulator; the journey runs the shipped contact flows (flow-runner) and prints each
block, the branch it took and what each function got and answered. Everything runs on
127.0.0.1; nothing is deployed or installed.

USAGE:
    cargo run -p journey [-- OPTIONS]

OPTIONS:
    --number <NUMBER>        caller's number as given [default: \"+1 (320) 907-1234\"];
                             normalised with --country to the E.164 Connect presents
                             (\"anonymous\" shows the invalid-number branch)
    --country <CC>           DEFAULT_COUNTRY, ISO 3166 alpha-2 [default: US]
    --language <TAG>         the contact's language: en-US, es-MX, fr-FR… [default: en-US]
    --wait <SECONDS>         oldest contact in queue ($.Metrics.Queue.OldestContactAge)
                             [default: 185]; under 60 s no callback is offered
    --agents-available <N>   $.Metrics.Agents.Available.Count [default: 0]; > 0: no offer
    --decline                the caller does not press 1 (stays in queue); with
                             --second-chance: to any offer, until MaxCallbackOffers is reached;
                             with --offered-by mindful: declines Mindful's offer (held by Mindful)
    --offered-by <WHO>       CallbackOfferedBy: connect (Connect says the wait and asks \"press 1\")
                             or mindful (the flows transfer to the Call Target without a prompt;
                             Mindful's IVR offers) [default: connect]
    --ecbt <SECONDS>         Mindful's Datastore answers carry ecbt (estimated callback time):
                             the caller hears it after accepting [default: null]
    --mindful-status <STATE> stack with CheckMindfulStatus=true: before each offer the flows ask
                             Mindful's Scheduler widget status, which answers STATE:
                             offer_callback (offer as usual), display_ewt_only or
                             platform_unavailable (no offer: the caller queues)

OPTIONAL ENHANCEMENTS (README \"Optional enhancements\"):
    --second-chance          stack with SecondChanceOffers=true: the caller declines the first
                             offer and waits in queue; the customer queue flow re-reads the
                             metrics every --interval seconds, calls ocw-phrase with
                             offers_made/max_offers and offers again; the caller accepts
    --max-offers <N>         MaxCallbackOffers, offers per call, the first included
                             [default: 2] (1-20; 1 = no second chance)
    --interval <SECONDS>     SecondChanceIntervalSeconds [default: 120] (30-3600)
    --two-queues             two callers, from queues Billing and Sales, through one Call
                             Target and one return DID (ReturnRoutingAttribute=skill): each
                             is restored to their own queue and skill
    --fault <ROUTE:KIND>     inject a Mindful fault on every request of ROUTE and watch the
                             flow's error branch. ROUTE: token, agent_answer, datastore_post,
                             datastore_get, widget_status, any. KIND: status=CODE, latency=MS, hang,
                             malformed_json, wrong_content_type, reset. Examples:
                               datastore_post:status=503   POST fails → caller stays in queue
                               datastore_get:malformed_json  context lost → default queue
                               token:status=401            agent-answer: auth_failed
                               agent_answer:hang           agent-answer: timeout inside 2 s
    --tls                    Mindful over https: the simulator generates a test CA and serves
                             TLS (token endpoint on its own port); the functions trust the test
                             root through SSL_CERT_FILE = the system CA bundle + the test root
    --release                build and run release binaries (slower first build)
    --logs                   print the functions' own (JSON) log lines under each step
    -h, --help               print this help

EXIT STATUS:
    0  every function answered as designed: the happy path, or, with --fault, the documented
       status=error + error code inside the function's time budget, and the flow took its branch
    1  a step did not answer as designed (wrong status/code, Lambda error, over budget)
    2  bad arguments
    3  the journey could not run (build failed, a function or the simulator did not start)
";

/// What the command line asks for.
#[derive(Debug)]
pub enum Cli {
    Help,
    Run(Box<Options>),
}

/// Parses the arguments after the program name. `--flag value` and `--flag=value` both work.
pub fn parse_args<I: IntoIterator<Item = String>>(args: I) -> Result<Cli, String> {
    let mut o = Options::default();
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| -> Result<String, String> {
            inline
                .clone()
                .or_else(|| it.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(Cli::Help),
            "--number" => o.number = value(&flag)?,
            "--country" => {
                let c = value(&flag)?.trim().to_ascii_uppercase();
                if c.len() != 2 || !c.chars().all(|ch| ch.is_ascii_alphabetic()) {
                    return Err(format!(
                        "--country {c:?}: expected an ISO 3166 alpha-2 code like US"
                    ));
                }
                o.country = c;
            }
            "--language" => o.language = value(&flag)?,
            "--wait" => o.wait = value(&flag)?,
            "--agents-available" => {
                let v = value(&flag)?;
                o.agents_available = v
                    .trim()
                    .parse()
                    .map_err(|_| format!("--agents-available {v:?}: expected a count"))?;
            }
            "--decline" => o.decline = true,
            "--offered-by" => {
                let v = value(&flag)?;
                o.mindful_offers = match v.trim().to_ascii_lowercase().as_str() {
                    "connect" => false,
                    "mindful" => true,
                    _ => return Err(format!("--offered-by {v:?}: expected connect or mindful")),
                };
            }
            "--mindful-status" => {
                let v = value(&flag)?;
                let state = v.trim();
                if state.is_empty() || state.len() > 64 {
                    return Err(format!("--mindful-status {v:?}: expected a widget state such as offer_callback or platform_unavailable"));
                }
                o.mindful_status = Some(state.to_string());
            }
            "--ecbt" => {
                let v = value(&flag)?;
                o.ecbt = Some(
                    v.trim()
                        .parse()
                        .ok()
                        .filter(|n| *n <= 86_400)
                        .ok_or_else(|| format!("--ecbt {v:?}: expected seconds from 0 to 86400"))?,
                );
            }
            "--second-chance" => o.second_chance = true,
            "--two-queues" => o.two_queues = true,
            "--max-offers" => {
                let v = value(&flag)?;
                o.max_offers = v
                    .trim()
                    .parse()
                    .ok()
                    .filter(|n| MAX_OFFERS_RANGE.contains(n))
                    .ok_or_else(|| format!("--max-offers {v:?}: expected a count from 1 to 20"))?;
            }
            "--interval" => {
                let v = value(&flag)?;
                o.interval = v
                    .trim()
                    .parse()
                    .ok()
                    .filter(|n| INTERVAL_RANGE.contains(n))
                    .ok_or_else(|| format!("--interval {v:?}: expected seconds from 30 to 3600"))?;
            }
            "--fault" => o.fault = Some(FaultSpec::parse(&value(&flag)?)?),
            "--release" => o.binaries = Binaries::Build { release: true },
            "--tls" => o.tls = true,
            "--logs" => o.show_logs = true,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if o.two_queues && (o.second_chance || o.decline) {
        return Err("--two-queues plays two callers who accept the first offer: it does not combine with --second-chance or --decline".into());
    }
    Ok(Cli::Run(Box::new(o)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mindful_sim::{Fault, Route};

    fn p(args: &[&str]) -> Result<Cli, String> {
        parse_args(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn defaults_and_flags() {
        let Ok(Cli::Run(o)) = p(&[]) else {
            panic!("defaults")
        };
        assert_eq!(o.wait, "185");
        assert_eq!(o.binaries, Binaries::Build { release: false });
        assert!(!o.tls);
        let Ok(Cli::Run(o)) = p(&[
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
        assert!(matches!(p(&["--help"]), Ok(Cli::Help)));
        assert!(p(&["--nope"]).is_err());
        assert!(p(&["--wait"]).is_err());
        assert!(p(&["--agents-available", "x"]).is_err());
        assert!(p(&["--country", "USA"]).is_err());
        assert!(p(&["--fault", "x"]).is_err());
    }

    #[test]
    fn enhancement_flags() {
        let Ok(Cli::Run(o)) = p(&[]) else {
            panic!("defaults")
        };
        assert!(!o.second_chance && !o.two_queues);
        assert_eq!((o.max_offers, o.interval), (2, 120));
        let Ok(Cli::Run(o)) = p(&["--second-chance", "--max-offers=3", "--interval", "60"]) else {
            panic!("second chance")
        };
        assert!(o.second_chance);
        assert_eq!((o.max_offers, o.interval), (3, 60));
        let Ok(Cli::Run(o)) = p(&["--two-queues"]) else {
            panic!("two queues")
        };
        assert!(o.two_queues);
        assert!(p(&["--max-offers", "0"]).is_err());
        assert!(p(&["--max-offers", "21"]).is_err());
        assert!(p(&["--interval", "5"]).is_err());
        assert!(p(&["--two-queues", "--second-chance"]).is_err());
        assert!(p(&["--two-queues", "--decline"]).is_err());
        let Ok(Cli::Run(o)) = p(&["--mindful-status", "platform_unavailable"]) else {
            panic!("mindful status")
        };
        assert_eq!(o.mindful_status.as_deref(), Some("platform_unavailable"));
        assert!(p(&["--mindful-status="]).is_err());
        let Ok(Cli::Run(o)) = p(&["--fault", "widget_status:hang"]) else {
            panic!("widget status fault")
        };
        assert_eq!(
            o.fault.map(|f| f.route),
            Some(mindful_sim::Route::WidgetStatus)
        );
    }
}
