//! TLS: the crypto provider, the server's certificate, and clients of other services over
//! `https://`.

use super::*;
use crate::config::ConfigError;

/// Makes aws-lc-rs the process's TLS crypto provider, once. Several libraries of the platform
/// bring rustls with both of its providers compiled in, and rustls then refuses to guess:
/// every TLS set-up (servers, service clients, key fetches) calls this first.
pub fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // An error only says a provider is already installed: that one is kept.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    });
}

/// The server's TLS settings, when a certificate and key are given.
pub(super) fn server_tls(
    args: &ServerArgs,
) -> Result<Option<tonic::transport::ServerTlsConfig>, tonic::transport::Error> {
    let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) else {
        return Ok(None);
    };
    install_crypto_provider();
    // Checked readable at start (`check_tls`). Should one fail to read now, the empty identity
    // makes `tls_config` fail: the server does not start, and the log names the file.
    let read = |path: &std::path::Path| {
        std::fs::read(path).unwrap_or_else(|e| {
            tracing::error!(path = %path.display(), error = %e, "cannot read a TLS file");
            Vec::new()
        })
    };
    Ok(Some(tonic::transport::ServerTlsConfig::new().identity(
        tonic::transport::Identity::from_pem(read(cert), read(key)),
    )))
}

/// Checks that the TLS files a server was given can be read, saying which cannot.
pub fn check_tls(args: &ServerArgs) -> Result<(), ConfigError> {
    for path in [&args.tls_cert, &args.tls_key, &args.tls_ca]
        .into_iter()
        .flatten()
    {
        std::fs::metadata(path).map_err(|e| ConfigError::TlsFile {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
    }
    Ok(())
}

/// A client endpoint for another service at `url`: over TLS for `https://` (trusting
/// `ca` — a PEM file — when given, the system's roots otherwise), plaintext for `http://`.
pub fn endpoint(
    url: &str,
    ca: Option<&std::path::Path>,
) -> Result<tonic::transport::Endpoint, ConfigError> {
    let endpoint = tonic::transport::Endpoint::from_shared(url.to_owned()).map_err(|e| {
        ConfigError::NotAnAddress {
            url: url.to_owned(),
            reason: e.to_string(),
        }
    })?;
    if !url.starts_with("https://") {
        return Ok(endpoint);
    }
    install_crypto_provider();
    let mut tls = tonic::transport::ClientTlsConfig::new();
    if let Some(ca) = ca {
        let pem = std::fs::read(ca).map_err(|e| ConfigError::TlsFile {
            path: ca.display().to_string(),
            reason: e.to_string(),
        })?;
        tls = tls.ca_certificate(tonic::transport::Certificate::from_pem(pem));
    }
    endpoint.tls_config(tls).map_err(|e| ConfigError::Tls {
        target: url.to_owned(),
        reason: e.to_string(),
    })
}
