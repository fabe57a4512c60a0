//! tls-alpn-01 (RFC 8737; IP identifiers per RFC 8738 §6): a TLS handshake offering only the `acme-tls/1`
//! protocol, with the identifier (or its reverse-DNS name) as SNI, accepting whatever certificate comes, and then
//! checking that certificate: one subjectAltName equal to the identifier and the critical acmeIdentifier extension
//! holding SHA-256 of the key authorization.

use super::{ChallengeError, Ident, Inner};
use aws_lc_rs::digest;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use x509_cert::der::asn1::AnyRef;
use x509_cert::der::asn1::OctetString;
use x509_cert::der::{oid::ObjectIdentifier, Decode, Encode, Reader, SliceReader, Tag, TagNumber, Tagged};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::Extension;
use x509_cert::spki::SubjectPublicKeyInfoOwned;

/// The ALPN protocol of the challenge (RFC 8737 §6.2).
pub const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";
/// id-pe-acmeIdentifier (RFC 8737 §6.1).
const ID_PE_ACME_IDENTIFIER: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.1.31");
const ID_CE_SUBJECT_ALT_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.17");

/// The rustls client configuration for challenges: TLS 1.2 and 1.3, ALPN `acme-tls/1` only, no session
/// resumption (each validation sees a fresh certificate), any certificate accepted.
pub(crate) fn client_config(provider: Arc<CryptoProvider>) -> Result<rustls::ClientConfig, rustls::Error> {
    let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(DangerAcceptAnyServerCertificate(provider)))
        .with_no_client_auth();
    config.alpn_protocols = vec![ACME_TLS_ALPN.to_vec()];
    config.resumption = rustls::client::Resumption::disabled();
    Ok(config)
}

pub(super) async fn validate(inner: &Inner, identifier: &Ident, key_authorization: &str) -> Result<(), ChallengeError> {
    let (sni, addresses) = match identifier {
        Ident::Dns(name) if name.starts_with("*.") => {
            return Err(ChallengeError::Malformed(format!("tls-alpn-01 cannot validate the wildcard {name}")));
        }
        Ident::Dns(name) => {
            let name = super::checked_name(name, "tls-alpn-01")?;
            let addresses = inner.resolver.addresses(&name).await?;
            (name, addresses)
        }
        Ident::Ip(ip) => (reverse_dns_name(*ip), vec![*ip]),
    };
    let server_name = ServerName::try_from(sni.clone())
        .map_err(|e| ChallengeError::Malformed(format!("tls-alpn-01: {sni:?} cannot be sent as SNI: {e}")))?;
    let connector = tokio_rustls::TlsConnector::from(inner.tls_alpn.clone());
    let timeout = inner.config.timeout;
    let mut last = None;
    for ip in addresses {
        let addr = SocketAddr::new(ip, inner.config.tlsalpn01_port);
        let tcp = match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(addr)).await {
            Ok(Ok(tcp)) => tcp,
            Ok(Err(e)) => {
                last = Some(ChallengeError::Connection(format!("tls-alpn-01: cannot connect to {addr}: {e}")));
                continue;
            }
            Err(_) => {
                last =
                    Some(ChallengeError::Connection(format!("tls-alpn-01: {addr} did not accept within {timeout:?}")));
                continue;
            }
        };
        // The server was reached: its handshake and certificate decide, no other address is tried.
        let tls = match tokio::time::timeout(timeout, connector.connect(server_name.clone(), tcp)).await {
            Ok(Ok(tls)) => tls,
            Ok(Err(e)) => {
                let alert = e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>());
                if matches!(alert, Some(rustls::Error::AlertReceived(rustls::AlertDescription::NoApplicationProtocol)))
                {
                    return Err(ChallengeError::Unauthorized(format!(
                        "tls-alpn-01: {addr} did not negotiate the acme-tls/1 protocol for {sni} (no_application_protocol)"
                    )));
                }
                return Err(ChallengeError::Tls(format!(
                    "tls-alpn-01: the TLS handshake with {addr} (SNI {sni}) failed: {e}"
                )));
            }
            Err(_) => {
                return Err(ChallengeError::Connection(format!(
                    "tls-alpn-01: {addr} did not complete a TLS handshake within {timeout:?}"
                )))
            }
        };
        let (_, session) = tls.get_ref();
        if session.alpn_protocol() != Some(ACME_TLS_ALPN) {
            return Err(ChallengeError::Unauthorized(format!(
                "tls-alpn-01: {addr} did not negotiate the acme-tls/1 protocol for {sni}"
            )));
        }
        let leaf = session
            .peer_certificates()
            .and_then(|chain| chain.first())
            .ok_or_else(|| ChallengeError::Tls(format!("tls-alpn-01: {addr} sent no certificate")))?;
        return check_certificate(leaf.as_ref(), identifier, key_authorization).map_err(|why| {
            ChallengeError::IncorrectResponse(format!("tls-alpn-01: the certificate from {addr} {why}"))
        });
    }
    Err(last.unwrap_or_else(|| ChallengeError::Dns(format!("tls-alpn-01: no address for {sni}"))))
}

/// Checks a tls-alpn-01 certificate (DER) for `identifier` and `key_authorization`; the error completes
/// "the certificate from <addr> …".
pub(crate) fn check_certificate(der: &[u8], identifier: &Ident, key_authorization: &str) -> Result<(), String> {
    let extensions = LeafParts::parse(der).map_err(|e| format!("cannot be parsed: {e}"))?.extensions;
    let with_oid = |oid| extensions.iter().filter(move |e| e.extn_id == oid);

    let mut sans = with_oid(ID_CE_SUBJECT_ALT_NAME);
    let san = match (sans.next(), sans.next()) {
        (Some(san), None) => san,
        (None, _) => return Err("has no subjectAltName extension".into()),
        (Some(_), Some(_)) => return Err("has two subjectAltName extensions".into()),
    };
    let names = SubjectAltName::from_der(san.extn_value.as_bytes())
        .map_err(|e| format!("has an unreadable subjectAltName: {e}"))?
        .0;
    let [name] = names.as_slice() else {
        return Err(format!("has {} subjectAltName entries, not exactly one", names.len()));
    };
    let matches = match (identifier, name) {
        (Ident::Dns(want), GeneralName::DnsName(got)) => {
            got.as_str().eq_ignore_ascii_case(want.strip_suffix('.').unwrap_or(want))
        }
        (Ident::Ip(IpAddr::V4(want)), GeneralName::IpAddress(got)) => got.as_bytes() == want.octets(),
        (Ident::Ip(IpAddr::V6(want)), GeneralName::IpAddress(got)) => got.as_bytes() == want.octets(),
        _ => false,
    };
    if !matches {
        return Err(format!("names {} in its subjectAltName, not {identifier}", describe_name(name)));
    }

    let mut acme = with_oid(ID_PE_ACME_IDENTIFIER);
    let ext = match (acme.next(), acme.next()) {
        (Some(ext), None) => ext,
        (None, _) => return Err("has no acmeIdentifier extension (1.3.6.1.5.5.7.1.31)".into()),
        (Some(_), Some(_)) => return Err("has two acmeIdentifier extensions".into()),
    };
    if !ext.critical {
        return Err("has an acmeIdentifier extension that is not marked critical".into());
    }
    let digest_value = OctetString::from_der(ext.extn_value.as_bytes())
        .map_err(|_| "has an acmeIdentifier extension that is not an OCTET STRING".to_string())?;
    let expected = digest::digest(&digest::SHA256, key_authorization.as_bytes());
    if digest_value.as_bytes() != expected.as_ref() {
        return Err("has an acmeIdentifier that is not SHA-256 of the key authorization".into());
    }
    Ok(())
}

/// The parts of a certificate the challenge needs — public key and extensions — read without decoding the rest.
/// Responders' throwaway certificates are not always well-formed elsewhere (pebble-challtestsrv's carry no
/// validity dates, which encode as the year 1), and nothing else in them matters here.
struct LeafParts {
    spki: SubjectPublicKeyInfoOwned,
    extensions: Vec<Extension>,
}

impl LeafParts {
    fn parse(der: &[u8]) -> Result<Self, x509_cert::der::Error> {
        let certificate = AnyRef::from_der(der)?;
        let mut outer = SliceReader::new(certificate.value())?;
        let tbs = AnyRef::decode(&mut outer)?;
        let mut reader = SliceReader::new(tbs.value())?;
        let mut fields = Vec::new();
        while !reader.is_finished() {
            fields.push(AnyRef::decode(&mut reader)?);
        }
        // version [0] (optional), serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo, …
        let version = Tag::ContextSpecific { constructed: true, number: TagNumber::N0 };
        let skip = if fields.first().is_some_and(|f| f.tag() == version) { 1 } else { 0 };
        let spki_field = fields.get(skip + 5).ok_or_else(|| Tag::Sequence.value_error())?;
        let spki = SubjectPublicKeyInfoOwned::from_der(&spki_field.to_der()?)?;
        let extensions_tag = Tag::ContextSpecific { constructed: true, number: TagNumber::N3 };
        let extensions = match fields.iter().skip(skip + 6).find(|f| f.tag() == extensions_tag) {
            Some(field) => Vec::<Extension>::from_der(field.value())?,
            None => Vec::new(),
        };
        Ok(LeafParts { spki, extensions })
    }
}

fn describe_name(name: &GeneralName) -> String {
    match name {
        GeneralName::DnsName(n) => format!("DNS:{}", n.as_str()),
        GeneralName::IpAddress(ip) => match ip.as_bytes().len() {
            4 => <[u8; 4]>::try_from(ip.as_bytes()).map(|o| format!("IP:{}", IpAddr::from(o))).unwrap_or_default(),
            16 => <[u8; 16]>::try_from(ip.as_bytes()).map(|o| format!("IP:{}", IpAddr::from(o))).unwrap_or_default(),
            n => format!("an IP address of {n} bytes"),
        },
        _ => "a name that is neither a DNS name nor an IP address".into(),
    }
}

/// The reverse-DNS name of an address (RFC 8738 §6): `4.3.2.1.in-addr.arpa`, or 32 nibbles then `ip6.arpa`.
pub(crate) fn reverse_dns_name(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            format!("{d}.{c}.{b}.{a}.in-addr.arpa")
        }
        IpAddr::V6(v6) => {
            let mut name = String::with_capacity(72);
            for byte in v6.octets().iter().rev() {
                name.push_str(&format!("{:x}.{:x}.", byte & 0xF, byte >> 4));
            }
            name.push_str("ip6.arpa");
            name
        }
    }
}

/// Accepts any server certificate: tls-alpn-01 certificates are self-signed on purpose, and what matters is checked
/// after the handshake. Handshake signatures are still verified against the certificate's public key, so the
/// server holds that key. The key is read with x509-cert rather than webpki, which refuses certificates with
/// critical extensions it does not know — and the acmeIdentifier extension is critical by design.
#[derive(Debug)]
pub(crate) struct DangerAcceptAnyServerCertificate(pub Arc<CryptoProvider>);

impl DangerAcceptAnyServerCertificate {
    fn verify(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
        tls13: bool,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let bad = |e: CertificateError| rustls::Error::InvalidCertificate(e);
        let parsed = LeafParts::parse(cert.as_ref()).map_err(|_| bad(CertificateError::BadEncoding))?;
        let spki = &parsed.spki;
        let mut alg_id = spki.algorithm.oid.to_der().map_err(|_| bad(CertificateError::BadEncoding))?;
        if let Some(params) = &spki.algorithm.parameters {
            alg_id.extend(params.to_der().map_err(|_| bad(CertificateError::BadEncoding))?);
        }
        let key = spki.subject_public_key.as_bytes().ok_or_else(|| bad(CertificateError::BadEncoding))?;
        let candidates = self
            .0
            .signature_verification_algorithms
            .mapping
            .iter()
            .find(|(scheme, _)| *scheme == dss.scheme)
            .map(|(_, algs)| *algs)
            .ok_or(rustls::PeerMisbehaved::SignedHandshakeWithUnadvertisedSigScheme)?;
        // TLS 1.3 names the algorithm exactly (the first candidate); TLS 1.2 may need any of them.
        let candidates = if tls13 { &candidates[..candidates.len().min(1)] } else { candidates };
        for alg in candidates {
            if alg.public_key_alg_id().as_ref() == alg_id.as_slice() {
                return alg
                    .verify_signature(key, message, dss.signature())
                    .map(|()| HandshakeSignatureValid::assertion())
                    .map_err(|_| bad(CertificateError::BadSignature));
            }
        }
        Err(bad(CertificateError::BadSignature)) // no algorithm of this scheme fits the key
    }
}

impl ServerCertVerifier for DangerAcceptAnyServerCertificate {
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
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.verify(message, cert, dss, false)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.verify(message, cert, dss, true)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reverse_names_follow_rfc8738() {
        assert_eq!(reverse_dns_name("192.0.2.10".parse().unwrap()), "10.2.0.192.in-addr.arpa");
        assert_eq!(
            reverse_dns_name("2001:db8::1".parse().unwrap()),
            "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa"
        );
    }

    #[test]
    fn garbage_is_not_a_certificate() {
        let err = check_certificate(b"\x30\x03\x02\x01\x01", &Ident::Dns("a.test".into()), "ka").unwrap_err();
        assert!(err.contains("cannot be parsed"), "{err}");
    }
}
