//! Client certificates as credentials, for the faces that accept them: the trusted CAs and the mapping policy
//! from the configuration ([`ClientAuth`]), what the connection knows of its peer ([`PeerInfo`]: the address and
//! the chain the TLS handshake verified), and [`certificate_caller`], which finds the certificate a request
//! presents — on the connection, or in the `ssl-client-cert` header of a trusted proxy — and maps it to a caller.

use crate::bootstrap::BootstrapError;
use crate::config::Settings;
use crate::state::AppState;
use axum::extract::connect_info::{ConnectInfo, Connected};
use axum::http::request::Parts;
use axum::serve::IncomingStream;
use base64::Engine;
use certwright_core::auth::{Caller, Ctx, Role};
use certwright_core::services::{ClientCertificatePolicy, Services};
use certwright_core::CoreError;
use certwright_pki::cert::Cert;
use certwright_pki::pem;
use certwright_pki::validate::{Purpose, Validator};
use certwright_store::SqlStore;
use rustls::pki_types::CertificateDer;
use rustls::server::danger::ClientCertVerifier;
use rustls::server::WebPkiClientVerifier;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

/// The header a TLS-terminating proxy forwards the client's certificate in: URL-encoded PEM, as nginx's
/// `$ssl_client_escaped_cert` writes it.
pub const SSL_CLIENT_CERT: &str = "ssl-client-cert";

/// Whom client certificates identify: the trusted CAs, the proxies whose header is believed, and the role and
/// RA profiles such callers get. Present only when trusted CAs are configured.
#[derive(Debug)]
pub struct ClientAuth {
    anchors: Vec<Cert>,
    trusted_proxies: Vec<ipnet::IpNet>,
    policy: ClientCertificatePolicy,
}

impl ClientAuth {
    /// Reads the configured trusted CAs (`client_ca_authorities` by uuid or name, `client_ca_files`); `None`
    /// when there are none. An unknown authority or an unreadable file stops the start.
    pub async fn from_settings(
        settings: &Settings,
        services: &Services<SqlStore>,
    ) -> Result<Option<Self>, BootstrapError> {
        let config = &settings.config;
        if config.client_ca_authorities.is_empty() && config.client_ca_files.is_empty() {
            return Ok(None);
        }
        let bad = |e: String| BootstrapError::State(e);
        let mut anchors = Vec::new();
        if !config.client_ca_authorities.is_empty() {
            let authorities = services.list_authorities(&Ctx::system()).await?;
            for wanted in &config.client_ca_authorities {
                let wanted = wanted.trim();
                let found = authorities
                    .iter()
                    .find(|a| a.name == wanted || a.uuid.to_string().eq_ignore_ascii_case(wanted))
                    .ok_or_else(|| bad(format!("client_ca_authorities: no authority '{wanted}'")))?;
                let cert = Cert::from_der(&found.certificate_der)
                    .map_err(|e| bad(format!("client_ca_authorities: {wanted}: {e}")))?;
                anchors.push(cert);
            }
        }
        for file in &config.client_ca_files {
            let path = if file.is_absolute() { file.clone() } else { settings.data_dir.join(file) };
            let text = std::fs::read_to_string(&path)
                .map_err(|e| bad(format!("client_ca_files: cannot read {}: {e}", path.display())))?;
            let blocks =
                pem::decode_all(&text).map_err(|e| bad(format!("client_ca_files: {}: {e}", path.display())))?;
            let before = anchors.len();
            for (label, der) in blocks.into_iter().filter(|(label, _)| label == "CERTIFICATE") {
                let cert = Cert::from_der(&der)
                    .map_err(|e| bad(format!("client_ca_files: {}: {label}: {e}", path.display())))?;
                anchors.push(cert);
            }
            if anchors.len() == before {
                return Err(bad(format!("client_ca_files: {} holds no certificate", path.display())));
            }
        }
        let role = Role::parse(&config.client_cert_role).map_err(|e| bad(format!("client_cert_role: {e}")))?;
        let trusted_proxies = config.trusted_proxies.iter().filter_map(|p| crate::config::parse_network(p)).collect();
        let policy = ClientCertificatePolicy { role, ra_profiles: config.client_cert_ra_profiles.clone() };
        Ok(Some(Self { anchors, trusted_proxies, policy }))
    }

    /// The TLS verifier: a client certificate is asked for, not required; one that is presented must chain to a
    /// trusted CA, be within its validity and allow client authentication, or the handshake fails.
    pub fn verifier(&self) -> Result<Arc<dyn ClientCertVerifier>, BootstrapError> {
        let mut roots = rustls::RootCertStore::empty();
        for anchor in &self.anchors {
            roots
                .add(CertificateDer::from(anchor.der().to_vec()))
                .map_err(|e| BootstrapError::State(format!("trusted client CA {}: {e}", anchor.subject_string())))?;
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .allow_unauthenticated()
            .build()
            .map_err(|e| BootstrapError::State(format!("client certificate verifier: {e}")))
    }

    fn trusts_proxy(&self, peer: SocketAddr) -> bool {
        let ip = peer.ip().to_canonical();
        self.trusted_proxies.iter().any(|net| net.contains(&ip))
    }

    /// Checks a certificate forwarded by a proxy as the TLS handshake would have: a chain to a trusted CA (the
    /// header carries only the leaf, so the CA itself must be trusted), the dates, and client authentication.
    fn verify_forwarded(&self, cert: &Cert, now: i64) -> Result<(), CoreError> {
        let validator = Validator { purpose: Some(Purpose::Client), ..Validator::new(&self.anchors, now) };
        let validation = validator.validate(cert);
        match validation.problems.first() {
            None => Ok(()),
            Some(problem) => {
                tracing::info!(subject = %cert.subject_string(), %problem, "forwarded client certificate refused");
                Err(CoreError::Unauthenticated("the forwarded client certificate does not verify"))
            }
        }
    }
}

/// What a connection knows of its peer, available to handlers as `ConnectInfo<PeerInfo>`.
#[derive(Debug, Clone)]
pub struct PeerInfo {
    /// The TCP peer (a proxy, when there is one).
    pub remote: SocketAddr,
    /// The client certificate chain the TLS handshake verified, leaf first; `None` on plain HTTP or without one.
    pub verified_chain: Option<Arc<[CertificateDer<'static>]>>,
}

impl Connected<IncomingStream<'_, crate::tls::TlsListener>> for PeerInfo {
    fn connect_info(stream: IncomingStream<'_, crate::tls::TlsListener>) -> Self {
        let verified_chain = stream.io().get_ref().1.peer_certificates().filter(|c| !c.is_empty()).map(Arc::from);
        PeerInfo { remote: *stream.remote_addr(), verified_chain }
    }
}

impl Connected<IncomingStream<'_, TcpListener>> for PeerInfo {
    fn connect_info(stream: IncomingStream<'_, TcpListener>) -> Self {
        PeerInfo { remote: *stream.remote_addr(), verified_chain: None }
    }
}

/// The caller a request's client certificate identifies: `Ok(None)` when it presents none (or client
/// certificates are not configured), an error when it presents one that is refused. A certificate forwarded in
/// [`SSL_CLIENT_CERT`] by a trusted proxy comes first (the proxy's own certificate identifies the proxy); from
/// any other peer the header is ignored, and an empty one is none.
pub async fn certificate_caller(state: &AppState, parts: &Parts) -> Result<Option<Caller>, CoreError> {
    let Some(auth) = parts.extensions.get::<Arc<ClientAuth>>() else { return Ok(None) };
    let Some(ConnectInfo(peer)) = parts.extensions.get::<ConnectInfo<PeerInfo>>() else { return Ok(None) };
    let forwarded = parts
        .headers
        .get(SSL_CLIENT_CERT)
        .filter(|v| !v.as_bytes().iter().all(u8::is_ascii_whitespace))
        .filter(|_| auth.trusts_proxy(peer.remote));
    let der = if let Some(value) = forwarded {
        let cert = forwarded_certificate(value.as_bytes())
            .ok_or(CoreError::Unauthenticated("the forwarded client certificate is unreadable"))?;
        auth.verify_forwarded(&cert, state.services.clock().now())?;
        cert.der().to_vec()
    } else if let Some(leaf) = peer.verified_chain.as_deref().and_then(<[_]>::first) {
        leaf.as_ref().to_vec()
    } else {
        return Ok(None);
    };
    state.services.authenticate_client_certificate(&der, &auth.policy).await.map(Some)
}

/// The certificate of an `ssl-client-cert` value: URL-encoded PEM (nginx `$ssl_client_escaped_cert`), plain
/// PEM, or Base64 DER.
fn forwarded_certificate(value: &[u8]) -> Option<Cert> {
    let decoded = percent_encoding::percent_decode(value).decode_utf8().ok()?;
    let text = decoded.trim();
    if text.starts_with("-----BEGIN") {
        return Cert::from_pem(text).ok();
    }
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let der = base64::engine::general_purpose::STANDARD.decode(compact).ok()?;
    Cert::from_der(&der).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreadable_forwarded_certificates_are_none() {
        assert!(forwarded_certificate(b"not a certificate").is_none());
        assert!(
            forwarded_certificate(b"-----BEGIN%20CERTIFICATE-----%0Agarbage%0A-----END%20CERTIFICATE-----").is_none()
        );
    }
}
