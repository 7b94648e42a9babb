//! `mindful-sim` binary: run the simulator until Ctrl-C.

use std::net::IpAddr;
use std::process::ExitCode;

use mindful_sim::{ClientConfig, SimConfig, TemplateConfig};

const DEFAULT_PORT: u16 = 8089;

const HELP: &str = "\
mindful-sim: local simulator of Mindful's OAuth, Agent Answer and Datastore APIs
(for tests, demos and benchmarks; never deploy it)

USAGE:
    mindful-sim [OPTIONS]

OPTIONS:
    -c, --config <FILE>        JSON configuration file (see README.md); flags given after it win
    -b, --bind <ADDR>          bind address [default: 127.0.0.1]; a non-loopback address is
                               refused unless --allow-non-loopback is given
    -p, --port <PORT>          port, 0 = any free port [default: 8089]
        --client <ID:SECRET>   accepted OAuth client (repeatable; replaces the default client)
        --template <TOKEN>     Data Set Template API token keeping every Data Key
                               (repeatable; replaces the default template)
        --data-keys <K1,K2>    Data Keys kept by the templates given with --template
        --retention-secs <N>   retention of the templates given with --template [default: 172800]
        --token-lifetime <N>   access-token lifetime in seconds [default: 3600]
        --rate-limit <N>       Agent Answer requests per rolling second before 429 [default: none]
        --allow-non-loopback   permit --bind to a non-loopback address
        --tls                  serve https (URLs https://localhost:<port>) with a test CA
                               generated at start; its root certificate is written to
                               --ca-file for clients to trust (e.g. via SSL_CERT_FILE)
        --ca-file <PATH>       where --tls writes the test root (PEM)
                               [default: <temp dir>/mindful-sim-ca.pem]
        --rtt <DURATION>       round-trip time to the clients (e.g. 40ms): one RTT per TCP
                               handshake, TLS flight and request [default: 0]
    -q, --quiet                do not log requests to stderr
    -h, --help                 print this help

DEFAULTS (zero configuration):
    client sim-client / sim-secret, template token sim-datastore-token keeping every key,
    tokens valid 3600 s, records kept 48 h, http://127.0.0.1:8089

ROUTES:
    POST /oauth2/token                      Basic auth, grant_type=client_credentials
    POST /v2/callback/agentAnswer           Bearer access token
    POST /api/v1/data_sets                  Bearer template token
    GET  /api/v1/data_sets/search?customer_contact_number=...
CONTROL (/_sim/, never logged, never faulted):
    GET  /_sim/health                       readiness
    POST /_sim/calls {\"ani\":\"+1...\"}         register a connecting call; GET lists, DELETE clears
    GET  /_sim/requests                     request log (secrets masked); DELETE clears log+stats
    GET  /_sim/stats                        counts per route
    POST /_sim/faults {\"route\":\"token\",\"fault\":{\"kind\":\"status\",\"code\":503},\"count\":1}
    GET  /_sim/faults, DELETE /_sim/faults  list / clear faults
    GET  /_sim/records                      stored datastore records
    POST /_sim/reset                        forget everything
";

fn main() -> ExitCode {
    match parse(std::env::args().skip(1).collect()) {
        Ok(Some((config, ca_file))) => run(config, ca_file),
        Ok(None) => {
            print!("{HELP}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("mindful-sim: {e}\nTry --help.");
            ExitCode::from(2)
        }
    }
}

fn run(config: SimConfig, ca_file: Option<String>) -> ExitCode {
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
            let path = ca_file.map(std::path::PathBuf::from).unwrap_or_else(|| {
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

/// `Ok(None)` = help requested; else the configuration and the `--ca-file` path.
fn parse(args: Vec<String>) -> Result<Option<(SimConfig, Option<String>)>, String> {
    let mut config = SimConfig {
        port: DEFAULT_PORT,
        log_requests: true,
        ..SimConfig::default()
    };
    let mut clients: Vec<ClientConfig> = Vec::new();
    let mut tokens: Vec<String> = Vec::new();
    let mut data_keys: Option<Vec<String>> = None;
    let mut retention: Option<u64> = None;
    let mut allow_non_loopback = false;
    let mut ca_file: Option<String> = None;
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
            "-h" | "--help" => return Ok(None),
            "-q" | "--quiet" => config.log_requests = false,
            "--allow-non-loopback" => allow_non_loopback = true,
            "--tls" => config.tls = true,
            "--rtt" => config.rtt = parse_rtt(&value(&flag)?)?,
            "--ca-file" => ca_file = Some(value(&flag)?),
            "-c" | "--config" => {
                let path = value(&flag)?;
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| format!("cannot read {path}: {e}"))?;
                config = config
                    .apply_json(&text)
                    .map_err(|e| format!("{path}: {e}"))?;
            }
            "-b" | "--bind" => {
                config.bind = value(&flag)?
                    .parse::<IpAddr>()
                    .map_err(|e| format!("--bind: {e}"))?
            }
            "-p" | "--port" => {
                config.port = value(&flag)?.parse().map_err(|e| format!("--port: {e}"))?
            }
            "--token-lifetime" => {
                config.token_lifetime_secs = value(&flag)?
                    .parse()
                    .map_err(|e| format!("--token-lifetime: {e}"))?
            }
            "--rate-limit" => {
                config.agent_answer_rate_limit = Some(
                    value(&flag)?
                        .parse()
                        .map_err(|e| format!("--rate-limit: {e}"))?,
                )
            }
            "--retention-secs" => {
                retention = Some(
                    value(&flag)?
                        .parse()
                        .map_err(|e| format!("--retention-secs: {e}"))?,
                )
            }
            "--client" => {
                let v = value(&flag)?;
                let (id, secret) = v.split_once(':').ok_or("--client expects ID:SECRET")?;
                clients.push(ClientConfig {
                    client_id: id.to_string(),
                    client_secret: secret.to_string(),
                });
            }
            "--template" => tokens.push(value(&flag)?),
            "--data-keys" => {
                data_keys = Some(
                    value(&flag)?
                        .split(',')
                        .map(str::trim)
                        .filter(|k| !k.is_empty())
                        .map(str::to_string)
                        .collect(),
                )
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if !clients.is_empty() {
        config.clients = clients;
    }
    if (data_keys.is_some() || retention.is_some()) && tokens.is_empty() {
        return Err("--data-keys / --retention-secs apply to --template tokens; give one".into());
    }
    if !tokens.is_empty() {
        config.templates = tokens
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
    if !config.bind.is_loopback() && !allow_non_loopback {
        return Err(format!(
            "refusing to bind non-loopback address {} without --allow-non-loopback",
            config.bind
        ));
    }
    if ca_file.is_some() && !config.tls {
        return Err("--ca-file applies to --tls".into());
    }
    config.validate()?;
    Ok(Some((config, ca_file)))
}

/// `40ms`, `0.04s` or a bare number of milliseconds.
fn parse_rtt(raw: &str) -> Result<std::time::Duration, String> {
    let raw = raw.trim();
    let (number, scale) = if let Some(ms) = raw.strip_suffix("ms") {
        (ms, 1.0)
    } else if let Some(s) = raw.strip_suffix('s') {
        (s, 1000.0)
    } else {
        (raw, 1.0)
    };
    match number.trim().parse::<f64>() {
        Ok(v) if v >= 0.0 && (v * scale) <= 10_000.0 => Ok(std::time::Duration::from_micros(
            (v * scale * 1000.0) as u64,
        )),
        _ => Err(format!(
            "--rtt: {raw} is not a duration from 0 to 10s (e.g. 40ms)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Option<SimConfig>, String> {
        parse(args.iter().map(|s| s.to_string()).collect()).map(|o| o.map(|(c, _)| c))
    }

    #[test]
    fn defaults_and_flags() {
        let c = p(&[]).unwrap().unwrap();
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
        .unwrap()
        .unwrap();
        assert_eq!(c.port, 0);
        assert_eq!(c.clients[0].client_id, "a");
        assert_eq!(c.templates[0].data_keys, vec!["A", "B"]);
        assert_eq!(c.templates[0].retention_secs, 2);
        assert_eq!(c.token_lifetime_secs, 1);
        assert!(p(&["--help"]).unwrap().is_none());
        assert!(p(&["--bind", "0.0.0.0"]).is_err());
        assert!(p(&["--bind", "0.0.0.0", "--allow-non-loopback"]).is_ok());
        assert!(p(&["--nope"]).is_err());
        assert!(p(&["--port"]).is_err());
        assert!(p(&["--data-keys", "A"]).is_err());
        assert!(!p(&[]).unwrap().unwrap().tls);
        assert!(p(&["--tls"]).unwrap().unwrap().tls);
        assert!(p(&["--ca-file", "x.pem"]).is_err());
        let with_file = parse(vec!["--tls".into(), "--ca-file=x.pem".into()]);
        assert_eq!(with_file.unwrap().unwrap().1.as_deref(), Some("x.pem"));
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
