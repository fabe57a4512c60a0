//! The HTTPS listener: the server's own certificate, issued by its CA and kept in the data directory
//! (`server.pem` with its chain, `server.key`), the CA bundle `ca.pem` for clients, and a TLS listener that
//! completes handshakes concurrently so one slow client cannot hold up the others. With trusted client CAs
//! configured it asks for (without requiring) a client certificate; see [`crate::client_cert`].

use crate::bootstrap::{write_secret_file, BootstrapError};
use crate::client_cert::ClientAuth;
use crate::config::Settings;
use certwright_core::services::Services;
use certwright_pki::cert::Cert;
use certwright_pki::names::San;
use certwright_pki::pem;
use certwright_store::SqlStore;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::danger::ClientCertVerifier;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

pub const SERVER_CERT_FILE: &str = "server.pem";
pub const SERVER_KEY_FILE: &str = "server.key";
pub const CA_BUNDLE_FILE: &str = "ca.pem";
/// The server certificate is replaced when it has less than this left.
const RENEW_BEFORE: i64 = 30 * 86_400;
const VALIDITY_DAYS: u32 = 90;
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The names the server certificate covers: `localhost`, the loopback addresses, and the listener's own address
/// when it is a specific one, plus `tls_names` from the configuration.
fn server_names(settings: &Settings) -> Result<Vec<San>, BootstrapError> {
    let mut names = vec![
        San::Dns("localhost".to_owned()),
        San::Ip([127, 0, 0, 1].into()),
        San::Ip("::1".parse().map_err(|_| BootstrapError::State("::1".into()))?),
    ];
    let ip = settings.config.listen.ip();
    if !ip.is_unspecified() && !names.contains(&San::Ip(ip)) {
        names.push(San::Ip(ip));
    }
    for n in &settings.config.tls_names {
        let san = San::parse(n).map_err(|e| BootstrapError::State(format!("tls_names: {e}")))?;
        if !names.contains(&san) {
            names.push(san);
        }
    }
    Ok(names)
}

/// The HTTPS listener's TLS configuration and whom client certificates identify.
#[derive(Debug, Clone)]
pub struct TlsSetup {
    pub server: Arc<rustls::ServerConfig>,
    /// Present when trusted client CAs are configured: the listener then asks for a client certificate.
    pub client_auth: Option<Arc<ClientAuth>>,
}

/// Loads the server certificate from the data directory, issuing a new one when it is missing, expiring within
/// 30 days, or does not cover the configured names; writes `ca.pem`. Reads the trusted client CAs. Returns the
/// TLS configuration.
pub async fn server_config(settings: &Settings, services: &Services<SqlStore>) -> Result<TlsSetup, BootstrapError> {
    let client_auth = ClientAuth::from_settings(settings, services).await?.map(Arc::new);
    let dir = &settings.data_dir;
    let names = server_names(settings)?;
    let now = services.clock().now();
    let authorities = services.list_authorities(&certwright_core::auth::Ctx::system()).await?;
    let issued_here = |leaf: &Cert| {
        authorities.iter().any(|a| {
            Cert::from_der(&a.certificate_der)
                .and_then(|ca| ca.public_key())
                .is_ok_and(|k| leaf.verify_signed_by(&k).is_ok())
        })
    };
    let (chain_pem, key_pem) = match load(dir, &names, now, issued_here) {
        Some(existing) => existing,
        None => {
            let issued = services.issue_server_certificate(&names, VALIDITY_DAYS).await?;
            let key = issued
                .private_key_pkcs8
                .ok_or_else(|| BootstrapError::State("the server certificate came without its key".to_owned()))?;
            let mut chain_pem = pem::encode("CERTIFICATE", &issued.record.der);
            // The server sends its chain without the root, which clients hold in ca.pem.
            let without_root = issued.chain.len().saturating_sub(1);
            for c in issued.chain.iter().take(without_root) {
                chain_pem.push_str(&pem::encode("CERTIFICATE", c));
            }
            let key_pem = pem::encode("PRIVATE KEY", &key);
            write_secret_file(&dir.join(SERVER_KEY_FILE), key_pem.as_bytes())?;
            write_secret_file(&dir.join(SERVER_CERT_FILE), chain_pem.as_bytes())?;
            if let Some(root) = issued.chain.last() {
                write_public_file(&dir.join(CA_BUNDLE_FILE), pem::encode("CERTIFICATE", root).as_bytes())?;
            }
            tracing::info!(serial = %issued.record.serial, "issued the server's TLS certificate");
            (chain_pem, key_pem)
        }
    };
    let verifier = client_auth.as_deref().map(ClientAuth::verifier).transpose()?;
    let server = build_config(&chain_pem, &key_pem, verifier)?;
    Ok(TlsSetup { server, client_auth })
}

/// The stored certificate and key, if they are still good for `names` and were issued by one of this
/// installation's CAs (a database started afresh next to old files gets a new certificate).
fn load(dir: &Path, names: &[San], now: i64, issued_here: impl Fn(&Cert) -> bool) -> Option<(String, String)> {
    let chain = std::fs::read_to_string(dir.join(SERVER_CERT_FILE)).ok()?;
    let key = std::fs::read_to_string(dir.join(SERVER_KEY_FILE)).ok()?;
    if !dir.join(CA_BUNDLE_FILE).exists() {
        return None;
    }
    let leaf = Cert::from_pem(&chain).ok()?;
    let sans = leaf.sans().ok()?;
    let covers = names.iter().all(|n| sans.contains(n));
    (covers && leaf.not_after() - now > RENEW_BEFORE && issued_here(&leaf)).then_some((chain, key))
}

fn write_public_file(path: &Path, contents: &[u8]) -> Result<(), BootstrapError> {
    write_secret_file(path, contents)?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).map_err(|source| BootstrapError::Io {
        action: "cannot set permissions of",
        path: path.to_owned(),
        source,
    })
}

fn build_config(
    chain_pem: &str,
    key_pem: &str,
    client_verifier: Option<Arc<dyn ClientCertVerifier>>,
) -> Result<Arc<rustls::ServerConfig>, BootstrapError> {
    let bad = |e: String| BootstrapError::State(format!("server TLS certificate: {e}"));
    let certs: Vec<CertificateDer<'static>> = pem::decode_all(chain_pem)
        .map_err(|e| bad(e.to_string()))?
        .into_iter()
        .filter(|(label, _)| label == "CERTIFICATE")
        .map(|(_, der)| CertificateDer::from(der))
        .collect();
    let (_, key_der) = pem::decode(key_pem).map_err(|e| bad(e.to_string()))?;
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_der));
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(e.to_string()))?;
    let builder = match client_verifier {
        Some(verifier) => builder.with_client_cert_verifier(verifier),
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(certs, key).map_err(|e| bad(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A listener handing axum connections whose TLS handshake has completed.
#[derive(Debug)]
pub struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    /// Accepts on `tcp` and runs each handshake in its own task. The accept loop ends when the listener is
    /// dropped (at shutdown), closing the port.
    pub fn new(tcp: TcpListener, config: Arc<rustls::ServerConfig>) -> std::io::Result<Self> {
        let local = tcp.local_addr()?;
        let acceptor = TlsAcceptor::from(config);
        let (tx, ready) = mpsc::channel(128);
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    r = tcp.accept() => r,
                    _ = tx.closed() => break,
                };
                match accepted {
                    Ok((stream, addr)) => {
                        let (tx, acceptor) = (tx.clone(), acceptor.clone());
                        tokio::spawn(async move {
                            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                                Ok(Ok(tls)) => {
                                    let _ = tx.send((tls, addr)).await;
                                }
                                Ok(Err(e)) => tracing::debug!(%addr, error = %e, "TLS handshake failed"),
                                Err(_) => tracing::debug!(%addr, "TLS handshake timed out"),
                            }
                        });
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        });
        Ok(Self { ready, local })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(conn) => conn,
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.local)
    }
}
