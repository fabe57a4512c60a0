//! The TLS scanner: connects to many endpoints at once, completes a TLS 1.2/1.3 handshake with rustls and a
//! verifier that records the chain instead of judging it, and reads what was negotiated. Servers rustls refuses
//! (older protocol versions, ciphers it lacks) are asked again with a hand-made handshake (`legacy`), which reads
//! the chain from the server's first flight. Concurrency, a rate limit and connect and handshake timeouts keep a
//! scan bounded; core decides what a chain means (trust, hostname match, inventory).

use super::legacy::{self, LegacyVersion};
use super::targets::Endpoint;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio_rustls::TlsConnector;

/// How a scan behaves.
#[derive(Debug, Clone)]
pub struct TlsScan {
    /// Endpoints worked on at once.
    pub concurrency: usize,
    /// Connections started per second at most; `None` for no limit.
    pub rate_per_second: Option<u32>,
    pub connect_timeout: Duration,
    pub handshake_timeout: Duration,
    /// Ask servers that rustls cannot talk to again with the legacy handshake.
    pub legacy_fallback: bool,
}

impl Default for TlsScan {
    fn default() -> Self {
        Self {
            concurrency: 256,
            rate_per_second: None,
            connect_timeout: Duration::from_secs(3),
            handshake_timeout: Duration::from_secs(5),
            legacy_fallback: true,
        }
    }
}

/// What one endpoint served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFinding {
    /// `TLSv1.3`, `TLSv1.2`, `TLSv1.1`, `TLSv1` or `SSLv3`.
    pub protocol: String,
    /// IANA name of the cipher suite (`TLS_AES_128_GCM_SHA256`).
    pub cipher: String,
    /// DER certificates as the server sent them, its own first.
    pub chain: Vec<Vec<u8>>,
    /// Whether the legacy handshake read it.
    pub legacy: bool,
}

/// What became of one endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Found(TlsFinding),
    /// Nothing listens (refused or unreachable).
    Closed,
    /// No connection within the connect timeout.
    ConnectTimeout,
    /// Something listens but no certificate came: not TLS, a handshake refused, or too slow.
    Failed(String),
}

/// Counts of a scan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TlsReport {
    pub examined: u64,
    pub found: u64,
    pub closed: u64,
    pub timeouts: u64,
    pub failed: u64,
}

/// Accepts any chain and records it: discovery wants to see what is served, trusted or not.
#[derive(Debug)]
struct Recorder {
    schemes: Vec<SignatureScheme>,
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.schemes.clone()
    }
}

/// The client configuration of scans: every protocol version and cipher suite rustls has, key exchange with
/// X25519 first (the cheapest), no resumption, no ALPN.
fn client_config() -> Result<Arc<ClientConfig>, rustls::Error> {
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    // The cheapest group first: its key share is the one sent; the others are offered for a retry.
    provider.kx_groups.sort_by_key(|g| match g.name() {
        rustls::NamedGroup::X25519 => 0,
        rustls::NamedGroup::secp256r1 => 1,
        rustls::NamedGroup::secp384r1 => 2,
        _ => 3,
    });
    let schemes = provider.signature_verification_algorithms.supported_schemes();
    let mut config = ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(rustls::ALL_VERSIONS)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Recorder { schemes }))
        .with_no_client_auth();
    config.resumption = rustls::client::Resumption::disabled();
    config.enable_sni = true;
    Ok(Arc::new(config))
}

/// The IANA spelling of a rustls cipher suite name (`TLS13_AES_128_GCM_SHA256` → `TLS_AES_128_GCM_SHA256`).
fn iana_name(suite: rustls::CipherSuite) -> String {
    let name = suite.as_str().map_or_else(|| format!("0x{:04X}", u16::from(suite)), str::to_owned);
    match name.strip_prefix("TLS13_") {
        Some(rest) => format!("TLS_{rest}"),
        None => name,
    }
}

fn protocol_name(v: rustls::ProtocolVersion) -> String {
    match v {
        rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3".to_owned(),
        rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2".to_owned(),
        other => format!("{other:?}"),
    }
}

/// A scanner, reusable across scans.
#[derive(Clone)]
pub struct TlsScanner {
    connector: TlsConnector,
    settings: TlsScan,
}

impl std::fmt::Debug for TlsScanner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsScanner").field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl TlsScanner {
    pub fn new(settings: TlsScan) -> Result<Self, rustls::Error> {
        Ok(Self { connector: TlsConnector::from(client_config()?), settings })
    }

    /// Scans every endpoint, `concurrency` at a time, sending each outcome to `results` as it ends (in
    /// completion order; the scan waits when the receiver lags, and stops when it is dropped). `stop` is polled
    /// between endpoints: once it says so, no further endpoint is started.
    pub async fn scan<I, S>(
        &self,
        endpoints: I,
        results: tokio::sync::mpsc::Sender<(Endpoint, Outcome)>,
        stop: S,
    ) -> TlsReport
    where
        I: IntoIterator<Item = Endpoint>,
        S: Fn() -> bool,
    {
        let limit = Arc::new(Semaphore::new(self.settings.concurrency.max(1)));
        let mut running = tokio::task::JoinSet::new();
        let mut report = TlsReport::default();
        let mut pacer = self.settings.rate_per_second.filter(|r| *r > 0).map(|r| {
            let mut interval = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(r)));
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            interval
        });
        let mut endpoints = endpoints.into_iter();
        let mut receiver_gone = false;
        loop {
            // Start endpoints while slots are free.
            while !receiver_gone && !stop() {
                let Ok(permit) = limit.clone().try_acquire_owned() else { break };
                let Some(endpoint) = endpoints.next() else { break };
                if let Some(pacer) = pacer.as_mut() {
                    pacer.tick().await;
                }
                let scanner = self.clone();
                running.spawn(async move {
                    let outcome = scanner.probe(&endpoint).await;
                    drop(permit);
                    (endpoint, outcome)
                });
            }
            let Some(done) = running.join_next().await else { break };
            let (endpoint, outcome) = match done {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::warn!(error = %e, "a scan task ended abnormally");
                    continue;
                }
            };
            report.examined += 1;
            match &outcome {
                Outcome::Found(_) => report.found += 1,
                Outcome::Closed => report.closed += 1,
                Outcome::ConnectTimeout => report.timeouts += 1,
                Outcome::Failed(_) => report.failed += 1,
            }
            if !receiver_gone && results.send((endpoint, outcome)).await.is_err() {
                receiver_gone = true;
            }
        }
        report
    }

    /// Connects to one endpoint and reads its chain.
    pub async fn probe(&self, endpoint: &Endpoint) -> Outcome {
        let stream = match self.connect(endpoint).await {
            Ok(s) => s,
            Err(outcome) => return outcome,
        };
        let name = match &endpoint.sni {
            Some(n) => ServerName::try_from(n.clone()),
            None => Ok(ServerName::IpAddress(endpoint.ip.into())),
        };
        let Ok(name) = name else {
            return Outcome::Failed(format!(
                "'{}' cannot be sent as a server name",
                endpoint.sni.as_deref().unwrap_or("")
            ));
        };
        let handshake =
            tokio::time::timeout(self.settings.handshake_timeout, self.connector.connect(name, stream)).await;
        let error = match handshake {
            Ok(Ok(mut tls)) => {
                let (_, conn) = tls.get_ref();
                let chain: Vec<Vec<u8>> =
                    conn.peer_certificates().unwrap_or_default().iter().map(|c| c.as_ref().to_vec()).collect();
                let protocol = conn.protocol_version().map_or_else(|| "unknown".to_owned(), protocol_name);
                let cipher = conn.negotiated_cipher_suite().map_or_else(String::new, |s| iana_name(s.suite()));
                // Say goodbye properly, but do not wait for the server.
                let _ = tokio::time::timeout(Duration::from_millis(50), tls.shutdown()).await;
                if chain.is_empty() {
                    return Outcome::Failed("the server sent no certificate".to_owned());
                }
                return Outcome::Found(TlsFinding { protocol, cipher, chain, legacy: false });
            }
            Ok(Err(e)) => e.to_string(),
            Err(_) => return Outcome::Failed("no TLS handshake within the handshake timeout".to_owned()),
        };
        if !self.settings.legacy_fallback {
            return Outcome::Failed(error);
        }
        match self.legacy(endpoint).await {
            Ok(found) => Outcome::Found(found),
            Err(legacy_error) => Outcome::Failed(format!("{error}; older protocols: {legacy_error}")),
        }
    }

    async fn connect(&self, endpoint: &Endpoint) -> Result<TcpStream, Outcome> {
        let addr = std::net::SocketAddr::new(endpoint.ip, endpoint.port);
        match tokio::time::timeout(self.settings.connect_timeout, TcpStream::connect(addr)).await {
            Ok(Ok(s)) => {
                let _ = s.set_nodelay(true);
                Ok(s)
            }
            Ok(Err(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionRefused
                        | std::io::ErrorKind::HostUnreachable
                        | std::io::ErrorKind::NetworkUnreachable
                        | std::io::ErrorKind::ConnectionReset
                ) =>
            {
                Err(Outcome::Closed)
            }
            Ok(Err(e)) => Err(Outcome::Failed(format!("cannot connect: {e}"))),
            Err(_) => Err(Outcome::ConnectTimeout),
        }
    }

    /// Asks with the legacy handshake: TLS 1.2 first, then TLS 1.0 for servers that refuse a newer hello.
    async fn legacy(&self, endpoint: &Endpoint) -> Result<TlsFinding, String> {
        let mut last = String::new();
        for version in [LegacyVersion::Tls12, LegacyVersion::Tls10] {
            let mut stream = self.connect(endpoint).await.map_err(|o| format!("{o:?}"))?;
            let attempt = tokio::time::timeout(
                self.settings.handshake_timeout,
                legacy::fetch_chain(&mut stream, endpoint.sni.as_deref(), version, legacy::DEFAULT_LIMIT_BYTES),
            )
            .await;
            match attempt {
                Ok(Ok(h)) => {
                    return Ok(TlsFinding {
                        protocol: h.version.to_owned(),
                        cipher: h.cipher,
                        chain: h.chain,
                        legacy: true,
                    })
                }
                Ok(Err(e)) if e.may_succeed_with_lower_version() => last = e.to_string(),
                Ok(Err(e)) => return Err(e.to_string()),
                Err(_) => return Err("no handshake within the handshake timeout".to_owned()),
            }
        }
        Err(last)
    }
}
