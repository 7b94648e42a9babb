//! `mindful-sim` binary: run the simulator until Ctrl-C. `--help` is generated (clap derive) from
//! the documentation of the fields of [`Args`].

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::error::ErrorKind;
use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser};
use mindful_sim::{ClientConfig, SimConfig, TemplateConfig};

const DEFAULT_PORT: u16 = 8089;

const DEFAULTS_AND_ROUTES: &str = "\
Defaults (zero configuration):
  client sim-client / sim-secret, template token sim-datastore-token keeping every key,
  tokens valid 3600 s, records kept 48 h, http://127.0.0.1:8089

Routes:
  POST /oauth2/token                      Basic auth, grant_type=client_credentials
  POST /v2/callback/agentAnswer           Bearer access token
  POST /api/v1/data_sets                  Bearer template token
  GET  /api/v1/data_sets/search?customer_contact_number=...
Control (/_sim/, never logged, never faulted):
  GET  /_sim/health                       readiness
  POST /_sim/calls {\"ani\":\"+1...\"}         register a connecting call; GET lists, DELETE clears
  GET  /_sim/requests                     request log (secrets masked); DELETE clears log+stats
  GET  /_sim/stats                        counts per route
  POST /_sim/faults {\"route\":\"token\",\"fault\":{\"kind\":\"status\",\"code\":503},\"count\":1}
  GET  /_sim/faults, DELETE /_sim/faults  list / clear faults
  GET  /_sim/records                      stored datastore records
  POST /_sim/reset                        forget everything";

// `-h` prints the first paragraph of each documentation below, `--help` all of it, lines kept as
// written (`verbatim_doc_comment`: clap's `wrap_help`, which would reflow them, is not compiled in).

/// mindful-sim: local simulator of Mindful's OAuth, Agent Answer and Datastore APIs
/// (for tests, demos and benchmarks; never deploy it)
#[derive(Debug, Parser)]
#[command(
    name = "mindful-sim",
    verbatim_doc_comment,
    after_help = DEFAULTS_AND_ROUTES
)]
struct Args {
    /// JSON configuration file (see README.md)
    ///
    /// Repeatable, applied in order; the flags given on the command line win over it
    #[arg(short, long, value_name = "FILE", verbatim_doc_comment)]
    config: Vec<PathBuf>,
    /// Bind address
    ///
    /// A non-loopback address is refused unless --allow-non-loopback is given
    #[arg(
        short,
        long,
        value_name = "ADDR",
        default_value_t = SimConfig::default().bind,
        verbatim_doc_comment
    )]
    bind: IpAddr,
    /// Port, 0 = any free port
    #[arg(short, long, default_value_t = DEFAULT_PORT)]
    port: u16,
    /// Accepted OAuth client (repeatable; replaces the default client)
    #[arg(long, value_name = "ID:SECRET", value_parser = client)]
    client: Vec<ClientConfig>,
    /// Data Set Template API token keeping every Data Key
    ///
    /// Repeatable; replaces the default template
    #[arg(long, value_name = "TOKEN", verbatim_doc_comment)]
    template: Vec<String>,
    /// Data Keys kept by the templates given with --template
    #[arg(long, value_name = "K1,K2")]
    data_keys: Option<String>,
    /// Retention of the templates given with --template
    #[arg(long, value_name = "N", default_value_t = TemplateConfig::new("").retention_secs)]
    retention_secs: u64,
    /// Access-token lifetime in seconds
    #[arg(long, value_name = "N", default_value_t = SimConfig::default().token_lifetime_secs)]
    token_lifetime: u64,
    /// Agent Answer requests per rolling second before 429 [default: none]
    #[arg(long, value_name = "N")]
    rate_limit: Option<u32>,
    /// Permit --bind to a non-loopback address
    #[arg(long)]
    allow_non_loopback: bool,
    /// Serve https (URLs https://localhost:<port>) with a test CA generated at start
    ///
    /// Its root certificate is written to --ca-file for clients to trust
    /// (e.g. via SSL_CERT_FILE)
    #[arg(long, verbatim_doc_comment)]
    tls: bool,
    /// Where --tls writes the test root (PEM) [default: <temp dir>/mindful-sim-ca.pem]
    #[arg(long, value_name = "PATH")]
    ca_file: Option<PathBuf>,
    /// Round-trip time to the clients (e.g. 40ms)
    ///
    /// One RTT per TCP handshake, TLS flight and request
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "0",
        value_parser = parse_rtt,
        verbatim_doc_comment
    )]
    rtt: Duration,
    /// Do not log requests to stderr
    #[arg(short, long)]
    quiet: bool,
}

fn main() -> ExitCode {
    // `--help` prints to stdout and exits 0; bad arguments print to stderr and exit 2.
    match parse(std::env::args_os()) {
        Ok((config, ca_file)) => run(config, ca_file),
        Err(e) => e.exit(),
    }
}

fn run(config: SimConfig, ca_file: Option<PathBuf>) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mindful-sim: cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async move {
        let sim = match mindful_sim::start(config).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("mindful-sim: cannot listen: {e}");
                return ExitCode::FAILURE;
            }
        };
        let c = sim.config();
        eprintln!("mindful-sim listening on {}", sim.base_url());
        if let Some(pem) = sim.ca_pem() {
            let path = ca_file.unwrap_or_else(|| {
                std::env::temp_dir().join("mindful-sim-ca.pem")
            });
            if let Err(e) = std::fs::write(&path, pem) {
                eprintln!("mindful-sim: cannot write {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
            eprintln!(
                "  test root CA: {} (trust it, e.g. SSL_CERT_FILE = a bundle of it and the system roots)",
                path.display()
            );
        }
        eprintln!(
            "  clients: {}",
            c.clients
                .iter()
                .map(|c| c.client_id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        for t in &c.templates {
            let keys = if t.data_keys.is_empty() {
                "all keys".to_string()
            } else {
                t.data_keys.join(",")
            };
            eprintln!(
                "  template {} ({}): {keys}, retention {} s",
                t.id, t.name, t.retention_secs
            );
        }
        eprintln!("  token lifetime {} s", c.token_lifetime_secs);
        if let Some(n) = c.agent_answer_rate_limit {
            eprintln!("  agentAnswer rate limit {n}/s");
        }
        let _ = tokio::signal::ctrl_c().await;
        eprintln!("mindful-sim: shutting down");
        sim.shutdown();
        ExitCode::SUCCESS
    })
}

/// The configuration and the `--ca-file` path, or the clap error to print (`--help` included).
fn parse<I, T>(args: I) -> Result<(SimConfig, Option<PathBuf>), clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let matches = Args::command().try_get_matches_from(args)?;
    let a = Args::from_arg_matches(&matches)?;
    let refuse = |kind, message: String| Args::command().error(kind, message);
    let invalid = |message| refuse(ErrorKind::ValueValidation, message);
    let mut config = SimConfig {
        port: DEFAULT_PORT,
        log_requests: true,
        ..SimConfig::default()
    };
    for path in &a.config {
        let text = std::fs::read_to_string(path)
            .map_err(|e| invalid(format!("cannot read {}: {e}", path.display())))?;
        config = config
            .apply_json(&text)
            .map_err(|e| invalid(format!("{}: {e}", path.display())))?;
    }
    // A flag's default does not undo the configuration file: only flags given apply over it.
    let given = |id: &str| matches.value_source(id) == Some(ValueSource::CommandLine);
    if given("bind") {
        config.bind = a.bind;
    }
    if given("port") {
        config.port = a.port;
    }
    if given("token_lifetime") {
        config.token_lifetime_secs = a.token_lifetime;
    }
    if a.rate_limit.is_some() {
        config.agent_answer_rate_limit = a.rate_limit;
    }
    if a.quiet {
        config.log_requests = false;
    }
    if a.tls {
        config.tls = true;
    }
    config.rtt = a.rtt;
    if !a.client.is_empty() {
        config.clients = a.client;
    }
    let retention = given("retention_secs").then_some(a.retention_secs);
    if (a.data_keys.is_some() || retention.is_some()) && a.template.is_empty() {
        return Err(refuse(
            ErrorKind::MissingRequiredArgument,
            "--data-keys / --retention-secs apply to --template tokens; give one".into(),
        ));
    }
    let data_keys: Option<Vec<String>> = a.data_keys.map(|keys| {
        keys.split(',')
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(str::to_string)
            .collect()
    });
    if !a.template.is_empty() {
        config.templates = a
            .template
            .into_iter()
            .enumerate()
            .map(|(i, token)| {
                let mut t = TemplateConfig::new(token);
                if i > 0 {
                    t.id = format!("tmpl-sim-{}", i + 1);
                    t.name = format!("Sim Template {}", i + 1);
                }
                if let Some(k) = &data_keys {
                    t.data_keys = k.clone();
                }
                if let Some(r) = retention {
                    t.retention_secs = r;
                }
                t
            })
            .collect();
    }
    if !config.bind.is_loopback() && !a.allow_non_loopback {
        return Err(invalid(format!(
            "refusing to bind non-loopback address {} without --allow-non-loopback",
            config.bind
        )));
    }
    if a.ca_file.is_some() && !config.tls {
        return Err(refuse(
            ErrorKind::MissingRequiredArgument,
            "--ca-file applies to --tls".into(),
        ));
    }
    config.validate().map_err(invalid)?;
    Ok((config, a.ca_file))
}

/// `--client ID:SECRET`.
fn client(v: &str) -> Result<ClientConfig, String> {
    let (id, secret) = v.split_once(':').ok_or("expected ID:SECRET")?;
    Ok(ClientConfig {
        client_id: id.to_string(),
        client_secret: secret.to_string(),
    })
}

/// `40ms`, `0.04s` or a bare number of milliseconds.
fn parse_rtt(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let (number, scale) = if let Some(ms) = raw.strip_suffix("ms") {
        (ms, 1.0)
    } else if let Some(s) = raw.strip_suffix('s') {
        (s, 1000.0)
    } else {
        (raw, 1.0)
    };
    match number.trim().parse::<f64>() {
        Ok(v) if v >= 0.0 && (v * scale) <= 10_000.0 => {
            Ok(Duration::from_micros((v * scale * 1000.0) as u64))
        }
        _ => Err(format!("{raw} is not a duration from 0 to 10s (e.g. 40ms)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<SimConfig, clap::Error> {
        parse(std::iter::once("mindful-sim").chain(args.iter().copied())).map(|(c, _)| c)
    }

    #[test]
    fn the_command_is_well_formed() {
        Args::command().debug_assert();
    }

    #[test]
    fn defaults_and_flags() {
        let c = p(&[]).unwrap();
        assert_eq!(c.port, DEFAULT_PORT);
        assert!(c.bind.is_loopback());
        assert_eq!(c.templates[0].token, "sim-datastore-token");
        let c = p(&[
            "--port=0",
            "--client",
            "a:b",
            "--template",
            "t1",
            "--data-keys",
            "A, B",
            "--retention-secs",
            "2",
            "--token-lifetime",
            "1",
        ])
        .unwrap();
        assert_eq!(c.port, 0);
        assert_eq!(c.clients[0].client_id, "a");
        assert_eq!(c.templates[0].data_keys, vec!["A", "B"]);
        assert_eq!(c.templates[0].retention_secs, 2);
        assert_eq!(c.token_lifetime_secs, 1);
        assert!(p(&["--help"]).is_err_and(|e| e.kind() == ErrorKind::DisplayHelp));
        assert!(p(&["--bind", "0.0.0.0"]).is_err());
        assert!(p(&["--bind", "0.0.0.0", "--allow-non-loopback"]).is_ok());
        assert!(p(&["--nope"]).is_err_and(|e| e.exit_code() == 2));
        assert!(p(&["--port"]).is_err());
        assert!(p(&["--data-keys", "A"]).is_err());
        assert!(!p(&[]).unwrap().tls);
        assert!(p(&["--tls"]).unwrap().tls);
        assert!(p(&["--ca-file", "x.pem"]).is_err());
        let with_file = parse(["mindful-sim", "--tls", "--ca-file=x.pem"]);
        assert_eq!(
            with_file.unwrap().1.as_deref(),
            Some(std::path::Path::new("x.pem"))
        );
        assert!(p(&["--client", "nocolon"]).is_err());
        assert!(p(&["--retention-secs", "2"]).is_err());
        assert!(p(&["-q"]).is_ok_and(|c| !c.log_requests));
        assert_eq!(p(&["--rtt", "40ms"]).unwrap().rtt.as_millis(), 40);
    }

    #[test]
    fn config_file_then_the_flags_given() {
        let path =
            std::env::temp_dir().join(format!("mindful-sim-cli-{}.json", std::process::id()));
        std::fs::write(&path, r#"{"port":9000,"token_lifetime_secs":5}"#).unwrap();
        let file = path.to_str().unwrap();
        // The defaults of the flags not given leave the file's values alone.
        let c = p(&["-c", file]).unwrap();
        assert_eq!((c.port, c.token_lifetime_secs), (9000, 5));
        let c = p(&["--port", "1", "--config", file]).unwrap();
        assert_eq!((c.port, c.token_lifetime_secs), (1, 5));
        std::fs::remove_file(&path).unwrap();
        assert!(p(&["-c", "/nonexistent/mindful-sim.json"]).is_err());
    }

    #[test]
    fn rtt_spellings() {
        use std::time::Duration;
        assert_eq!(super::parse_rtt("40ms"), Ok(Duration::from_millis(40)));
        assert_eq!(super::parse_rtt("0.04s"), Ok(Duration::from_millis(40)));
        assert_eq!(super::parse_rtt("40"), Ok(Duration::from_millis(40)));
        assert_eq!(super::parse_rtt("0"), Ok(Duration::ZERO));
        assert!(super::parse_rtt("-1ms").is_err());
        assert!(super::parse_rtt("forty").is_err());
        assert!(super::parse_rtt("11s").is_err());
    }
}
