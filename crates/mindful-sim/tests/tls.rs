//! The simulator's https mode: a generated test CA, certificate and hostname checked by a real
//! rustls client, and the separate token port.

use std::time::Duration;

use mindful_sim::{Route, Sim, SimConfig, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, TLS_HOST};
use reqwest::{Certificate, Client, ClientBuilder};

fn builder() -> ClientBuilder {
    // reqwest is built without a default crypto provider (as in the functions).
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::builder()
        .timeout(Duration::from_secs(5))
        .pool_max_idle_per_host(0)
}

fn trusting(sim: &Sim) -> Client {
    let ca = Certificate::from_pem(sim.ca_pem().expect("https sim").as_bytes()).unwrap();
    builder().tls_certs_only([ca]).build().unwrap()
}

async fn token_status(client: &Client, url: &str) -> Result<u16, reqwest::Error> {
    client
        .post(url)
        .basic_auth(DEFAULT_CLIENT_ID, Some(DEFAULT_CLIENT_SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .map(|r| r.status().as_u16())
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e;
    while let Some(n) = s.source() {
        s = n;
    }
    s.to_string()
}

#[tokio::test]
async fn https_with_the_generated_ca_and_a_separate_token_port() {
    let sim = mindful_sim::start(SimConfig {
        tls: true,
        separate_token_host: true,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let pem = sim.ca_pem().unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
    assert!(sim
        .base_url()
        .starts_with(&format!("https://{TLS_HOST}:{}", sim.addr().port())));
    let token_url = sim.token_url();
    assert!(token_url.starts_with(&format!("https://{TLS_HOST}:")));
    assert!(
        !token_url.starts_with(&sim.base_url()),
        "{token_url} vs {}",
        sim.base_url()
    );

    let client = trusting(&sim);
    assert_eq!(token_status(&client, &token_url).await.unwrap(), 200);
    // The main port serves the same routes on the same state.
    let on_main = format!("{}/oauth2/token", sim.base_url());
    assert_eq!(token_status(&client, &on_main).await.unwrap(), 200);
    assert_eq!(sim.count(Route::Token), 2);
}

#[tokio::test]
async fn an_untrusted_root_or_a_wrong_name_fails_the_handshake() {
    let sim = mindful_sim::start(SimConfig {
        tls: true,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    // The platform roots do not include the test CA.
    let other = Sim::start_blocking(SimConfig {
        tls: true,
        ..SimConfig::default()
    })
    .unwrap();
    let untrusting = builder()
        .tls_certs_only([Certificate::from_pem(other.ca_pem().unwrap().as_bytes()).unwrap()])
        .build()
        .unwrap();
    let err = token_status(&untrusting, &sim.token_url())
        .await
        .unwrap_err();
    assert!(
        root_cause(&err).contains("UnknownIssuer"),
        "{}",
        root_cause(&err)
    );

    // The right root but a name the certificate is not issued for.
    let wrong_name = builder()
        .tls_certs_only([Certificate::from_pem(sim.ca_pem().unwrap().as_bytes()).unwrap()])
        .resolve("api.example.test", sim.addr())
        .build()
        .unwrap();
    let url = format!(
        "https://api.example.test:{}/oauth2/token",
        sim.addr().port()
    );
    let err = token_status(&wrong_name, &url).await.unwrap_err();
    assert!(
        root_cause(&err).contains("not valid for name"),
        "{}",
        root_cause(&err)
    );
    assert_eq!(sim.count(Route::Token), 0, "no request got through");
}

#[tokio::test]
async fn plain_http_is_unchanged_by_default() {
    let sim = mindful_sim::start(SimConfig::default()).await.unwrap();
    assert!(sim.ca_pem().is_none());
    assert!(sim.base_url().starts_with("http://127.0.0.1:"));
    assert_eq!(sim.token_url(), format!("{}/oauth2/token", sim.base_url()));
    let client = builder().build().unwrap();
    assert_eq!(token_status(&client, &sim.token_url()).await.unwrap(), 200);
}
