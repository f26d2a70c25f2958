//! TLS for `serve` (issue 15 point 8): the certificate chain and key
//! `PRIORAUTH_TLS_CERT` and `PRIORAUTH_TLS_KEY` name, read once at start
//! into a rustls server configuration (TLS 1.3 and 1.2 only, ring's
//! cipher suites), and whether a bind address stays on this machine.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Why the certificate or key cannot be served with.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The certificate file has no readable PEM certificate.
    #[error("PRIORAUTH_TLS_CERT {0}: no PEM certificate could be read from it ({1})")]
    Cert(PathBuf, String),
    /// The key file has no readable PEM private key.
    #[error("PRIORAUTH_TLS_KEY {0}: no PEM private key could be read from it ({1})")]
    Key(PathBuf, String),
    /// The two do not make a usable server configuration (say, a key
    /// that is not the certificate's).
    #[error("PRIORAUTH_TLS_CERT and PRIORAUTH_TLS_KEY cannot be served with: {0}")]
    Config(String),
}

/// The rustls server configuration of a PEM certificate chain (leaf first)
/// and its PEM private key (PKCS#8, PKCS#1 or SEC1).
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| TlsError::Cert(cert.to_path_buf(), e.to_string()))?;
    if chain.is_empty() {
        return Err(TlsError::Cert(
            cert.to_path_buf(),
            "the file holds no certificate".into(),
        ));
    }
    let private = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| TlsError::Key(key.to_path_buf(), e.to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// True when every address `bind` names is a loopback address (so plain
/// HTTP never leaves the machine). A name that cannot be resolved is
/// left to the bind itself to report.
pub fn loopback_only(bind: &str) -> bool {
    use std::net::ToSocketAddrs;
    match bind.to_socket_addrs() {
        Ok(addrs) => {
            let addrs: Vec<_> = addrs.collect();
            !addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback())
        }
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::loopback_only;

    #[test]
    fn loopback_addresses_are_told_apart() {
        assert!(loopback_only("127.0.0.1:8080"));
        assert!(loopback_only("[::1]:0"));
        assert!(loopback_only("localhost:8080"));
        assert!(!loopback_only("0.0.0.0:8080"));
        assert!(!loopback_only("[::]:8080"));
        assert!(!loopback_only("10.1.2.3:443"));
    }
}
