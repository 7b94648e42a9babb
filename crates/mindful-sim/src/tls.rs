//! https mode: a throwaway test CA generated at start, and the rustls server configuration.
//!
//! The chain has the shape a public CA issues (as AWS Certificate Manager does for a host behind
//! an AWS load balancer): a self-signed root, an intermediate CA, and a leaf for [`TLS_HOST`]
//! (and `127.0.0.1`), all RSA-2048 with SHA-256 signatures. The server sends leaf +
//! intermediate; the client must trust the root (PEM from [`crate::Sim::ca_pem`]) the way it
//! trusts a public root: through its CA store. Nothing is read from or written to disk here.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, PKCS_RSA_SHA256,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// The DNS name the https simulator's certificate is issued for (and its URLs use).
pub const TLS_HOST: &str = "localhost";

/// A generated chain and the server configuration presenting it.
pub(crate) struct TlsSetup {
    pub(crate) ca_pem: String,
    pub(crate) acceptor: tokio_rustls::TlsAcceptor,
}

/// A generated test chain for other loopback servers (the test kit's hostile upstream): the
/// root's PEM, to trust, and a server configuration presenting the leaf for [`TLS_HOST`].
pub struct TestTls {
    pub ca_pem: String,
    pub server_config: Arc<rustls::ServerConfig>,
}

/// Generates a [`TestTls`] (the same chain shape as the https simulator's).
pub fn test_tls() -> Result<TestTls, String> {
    test_tls_for(&[TLS_HOST, "127.0.0.1"])
}

/// A [`TestTls`] whose leaf names `names` (a test of a certificate for the wrong host).
pub fn test_tls_for(names: &[&str]) -> Result<TestTls, String> {
    let (ca_pem, config) = generate_config_for(names)?;
    Ok(TestTls {
        ca_pem,
        server_config: Arc::new(config),
    })
}

fn rsa_key() -> Result<KeyPair, rcgen::Error> {
    KeyPair::generate_for(&PKCS_RSA_SHA256)
}

fn ca_params(common_name: &str, path_len: Option<u8>) -> Result<CertificateParams, rcgen::Error> {
    let mut p = CertificateParams::new(Vec::<String>::new())?;
    p.distinguished_name
        .push(DnType::OrganizationName, "mindful-sim (test only)");
    p.distinguished_name.push(DnType::CommonName, common_name);
    p.is_ca = IsCa::Ca(match path_len {
        Some(n) => BasicConstraints::Constrained(n),
        None => BasicConstraints::Unconstrained,
    });
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    Ok(p)
}

/// Generates root → intermediate → leaf and a TLS 1.2/1.3 server configuration (ring provider,
/// ALPN `http/1.1`).
pub(crate) fn generate() -> Result<TlsSetup, String> {
    let (ca_pem, config) = generate_config_for(&[TLS_HOST, "127.0.0.1"])?;
    Ok(TlsSetup {
        ca_pem,
        acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
    })
}

fn generate_config_for(names: &[&str]) -> Result<(String, rustls::ServerConfig), String> {
    let err = |e: rcgen::Error| format!("generating the test CA: {e}");
    // Every generated root has its own name, as distinct CAs do: a client that trusts another
    // simulator's root then fails with "unknown issuer", not a confusing bad signature.
    let nonce = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let root = CertifiedIssuer::self_signed(
        ca_params(
            &format!(
                "mindful-sim test root CA {:x}-{nonce:x}",
                std::process::id()
            ),
            None,
        )
        .map_err(err)?,
        rsa_key().map_err(err)?,
    )
    .map_err(err)?;
    let intermediate = CertifiedIssuer::signed_by(
        ca_params("mindful-sim test intermediate CA", Some(0)).map_err(err)?,
        rsa_key().map_err(err)?,
        &root,
    )
    .map_err(err)?;
    let mut leaf = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
        .map_err(err)?;
    leaf.distinguished_name.push(
        DnType::CommonName,
        names.first().copied().unwrap_or(TLS_HOST),
    );
    leaf.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.use_authority_key_identifier_extension = true;
    let leaf_key = rsa_key().map_err(err)?;
    let leaf_cert = leaf.signed_by(&leaf_key, &intermediate).map_err(err)?;

    let chain: Vec<CertificateDer<'static>> =
        vec![leaf_cert.der().clone(), intermediate.der().clone()];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(rustls::ALL_VERSIONS)
    .map_err(|e| format!("TLS server configuration: {e}"))?
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .map_err(|e| format!("TLS server configuration: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((root.pem(), config))
}
