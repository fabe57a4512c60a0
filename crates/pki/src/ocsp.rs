//! OCSP (RFC 6960, RFC 5019 profile): requests read, responses built and signed.
//! Requests are read strictly (DER, bounded) into the CertIDs and nonce a responder needs; responses carry the
//! statuses the caller decided; a small reader checks responses back for tests and tooling.

mod inspect;
mod request;
mod response;

pub use inspect::{inspect_response, verify_response, ResponseInfo, SingleResponseInfo};
pub use request::{decode_get, parse_request};
pub use response::build_response;

use crate::asn1::{self, Malformed, Tlv, BIT_STRING, CONTEXT_0, INTEGER, SEQUENCE};
use crate::cert::Cert;
use crate::key::Signer;
use crate::revocation::RevocationReason;
use crate::PkiError;
use aws_lc_rs::digest;
use const_oid::db::rfc5912;
use const_oid::ObjectIdentifier as Oid;

/// Largest request read, in octets of DER (RFC 5019 requests are a few hundred octets).
pub const MAX_REQUEST_BYTES: usize = 8 * 1024;
/// Most CertIDs read from one request.
pub const MAX_CERT_IDS: usize = 64;
/// Longest nonce accepted, in octets (RFC 9654 §2.1: 1 to 128).
pub const MAX_NONCE_BYTES: usize = 128;

/// The hash a CertID was made with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CertIdHash {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl CertIdHash {
    /// Every hash, SHA-1 (what most clients send) first.
    pub const ALL: [Self; 4] = [Self::Sha1, Self::Sha256, Self::Sha384, Self::Sha512];

    /// The hash algorithm's object identifier.
    pub fn oid(self) -> Oid {
        match self {
            Self::Sha1 => rfc5912::ID_SHA_1,
            Self::Sha256 => rfc5912::ID_SHA_256,
            Self::Sha384 => rfc5912::ID_SHA_384,
            Self::Sha512 => rfc5912::ID_SHA_512,
        }
    }

    /// The length of a hash, in octets.
    pub fn output_len(self) -> usize {
        self.algorithm().output_len()
    }

    /// The hash of `data`.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        digest::digest(self.algorithm(), data).as_ref().to_vec()
    }

    fn algorithm(self) -> &'static digest::Algorithm {
        match self {
            Self::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
            Self::Sha256 => &digest::SHA256,
            Self::Sha384 => &digest::SHA384,
            Self::Sha512 => &digest::SHA512,
        }
    }
}

/// A CertID as the client sent it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CertId {
    pub hash: CertIdHash,
    pub issuer_name_hash: Vec<u8>,
    pub issuer_key_hash: Vec<u8>,
    /// Big-endian magnitude, leading zero bytes stripped (so it compares equal to the stored serial).
    pub serial: Vec<u8>,
    /// The CertID's DER exactly as received, echoed in the SingleResponse (clients match on it).
    pub der: Vec<u8>,
}

impl CertId {
    /// The CertID of the certificate `serial` (big-endian magnitude) issued by `issuer`, as a client would make
    /// it: for responses produced ahead of any request (RFC 5019 §6.2 pre-produced responses).
    pub fn new(issuer: &Cert, hash: CertIdHash, serial: &[u8]) -> Result<Self, PkiError> {
        let (issuer_name_hash, issuer_key_hash) = issuer_hashes(issuer, hash)?;
        let serial = strip_leading_zeros(serial).to_vec();
        let mut magnitude = serial.clone();
        if magnitude.first().is_none_or(|b| b & 0x80 != 0) {
            magnitude.insert(0, 0);
        }
        let algorithm = asn1::seq(&[&asn1::oid(&hash.oid()), &asn1::null()]);
        let der = asn1::seq(&[
            &algorithm,
            &asn1::octets(&issuer_name_hash),
            &asn1::octets(&issuer_key_hash),
            &asn1::tlv(INTEGER, &magnitude),
        ]);
        Ok(Self { hash, issuer_name_hash, issuer_key_hash, serial, der })
    }
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let zeros = bytes.iter().take_while(|b| **b == 0).count();
    bytes.get(zeros..).unwrap_or_default()
}

/// A request read by [`parse_request`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OcspRequest {
    pub cert_ids: Vec<CertId>,
    /// The nonce extension's extnValue content as received (to echo unchanged), if any.
    pub nonce: Option<Vec<u8>>,
}

/// Why a request could not be read: becomes `malformedRequest`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed OCSP request: {0}")]
pub struct MalformedRequest(pub String);

impl From<Malformed> for MalformedRequest {
    fn from(m: Malformed) -> Self {
        Self(m.0.to_owned())
    }
}

/// The name and key hashes an issuer is looked up by, for `hash`: hash of the issuer's subject Name DER and of
/// its SubjectPublicKeyInfo's subjectPublicKey BIT STRING value (without tag, length and unused-bits byte).
pub fn issuer_hashes(issuer: &Cert, hash: CertIdHash) -> Result<(Vec<u8>, Vec<u8>), PkiError> {
    let (name, key) = subject_and_key(issuer.der())
        .map_err(|m| PkiError::InvalidCertificate(format!("reading the issuer's name and key: {}", m.0)))?;
    Ok((hash.digest(name), hash.digest(key)))
}

/// The subject Name and the subjectPublicKey bits of a certificate, as encoded in it.
fn subject_and_key(cert_der: &[u8]) -> Result<(&[u8], &[u8]), Malformed> {
    let cert = Tlv::parse(cert_der, SEQUENCE, "Certificate expected")?;
    let tbs = cert.reader().next(SEQUENCE, "TBSCertificate expected")?;
    let mut r = tbs.reader();
    r.optional(CONTEXT_0)?;
    r.next(INTEGER, "serial number expected")?;
    r.next(SEQUENCE, "signature algorithm expected")?;
    r.next(SEQUENCE, "issuer expected")?;
    r.next(SEQUENCE, "validity expected")?;
    let subject = r.next(SEQUENCE, "subject expected")?;
    let spki = r.next(SEQUENCE, "SubjectPublicKeyInfo expected")?;
    Ok((subject.raw, key_bits(&spki)?))
}

/// The subjectPublicKey bits of a SubjectPublicKeyInfo.
fn key_bits<'a>(spki: &Tlv<'a>) -> Result<&'a [u8], Malformed> {
    let mut r = spki.reader();
    r.next(SEQUENCE, "key algorithm expected")?;
    match r.next(BIT_STRING, "subjectPublicKey expected")?.content {
        [0, key @ ..] => Ok(key),
        _ => Err(Malformed("subjectPublicKey has unused bits")),
    }
}

/// A certificate's status as the responder decided it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertStatus {
    Good,
    /// Revoked at `at` (epoch seconds); the reason is written unless unknown or `unspecified` (RFC 5280 §5.3.1).
    Revoked {
        at: i64,
        reason: Option<RevocationReason>,
    },
    Unknown,
}

/// One certificate's answer: the CertID as the client sent it, its status, and the validity interval (epoch
/// seconds) of the answer.
#[derive(Debug, Clone)]
pub struct SingleResponse<'a> {
    pub cert_id: &'a CertId,
    pub status: CertStatus,
    pub this_update: i64,
    pub next_update: Option<i64>,
}

/// Who signs: the CA itself, or a delegated responder whose certificate (id-kp-OCSPSigning, issued by the CA)
/// goes in the response's `certs`.
pub struct Responder<'a> {
    pub signer: &'a dyn Signer,
    /// The responder's own certificate (the CA's or the delegated one): ResponderID is byKey (SHA-1 of its
    /// subjectPublicKey BIT STRING value).
    pub certificate: &'a Cert,
    /// Whether to include `certificate` in BasicOCSPResponse.certs (true for a delegated responder).
    pub include_certificate: bool,
}

impl std::fmt::Debug for Responder<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Responder")
            .field("certificate", &self.certificate.subject_string())
            .field("include_certificate", &self.include_certificate)
            .finish_non_exhaustive()
    }
}

/// The unsuccessful answers (no responseBytes): malformedRequest(1), internalError(2), tryLater(3),
/// sigRequired(5), unauthorized(6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseStatus {
    MalformedRequest,
    InternalError,
    TryLater,
    SigRequired,
    Unauthorized,
}

impl ResponseStatus {
    /// Every unsuccessful status, in code order.
    pub const ALL: [Self; 5] =
        [Self::MalformedRequest, Self::InternalError, Self::TryLater, Self::SigRequired, Self::Unauthorized];

    /// The OCSPResponseStatus code.
    pub fn code(self) -> u8 {
        match self {
            Self::MalformedRequest => 1,
            Self::InternalError => 2,
            Self::TryLater => 3,
            Self::SigRequired => 5,
            Self::Unauthorized => 6,
        }
    }

    /// The unsuccessful status with this code (0, `successful`, is not one).
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.code() == code)
    }

    /// The RFC 6960 name, as in `malformedRequest`.
    pub fn name(self) -> &'static str {
        match self {
            Self::MalformedRequest => "malformedRequest",
            Self::InternalError => "internalError",
            Self::TryLater => "tryLater",
            Self::SigRequired => "sigRequired",
            Self::Unauthorized => "unauthorized",
        }
    }
}

/// An unsuccessful OCSPResponse: the status alone, e.g. `30 03 0A 01 06` for unauthorized.
pub fn error_response(status: ResponseStatus) -> Vec<u8> {
    vec![SEQUENCE, 0x03, asn1::ENUMERATED, 0x01, status.code()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_responses_are_the_status_alone() {
        assert_eq!(error_response(ResponseStatus::Unauthorized), [0x30, 0x03, 0x0a, 0x01, 0x06]);
        assert_eq!(error_response(ResponseStatus::MalformedRequest), [0x30, 0x03, 0x0a, 0x01, 0x01]);
        for s in ResponseStatus::ALL {
            assert_eq!(ResponseStatus::from_code(s.code()), Some(s));
        }
        assert_eq!(ResponseStatus::from_code(0), None);
        assert_eq!(ResponseStatus::from_code(4), None, "4 is unused");
    }

    #[test]
    fn hashes_have_their_sizes() {
        for (h, len) in CertIdHash::ALL.into_iter().zip([20, 32, 48, 64]) {
            assert_eq!(h.output_len(), len);
            assert_eq!(h.digest(b"abc").len(), len);
        }
        assert_eq!(crate::digest::hex(&CertIdHash::Sha1.digest(b"abc")), "a9993e364706816aba3e25717850c26c9cd0d89d");
    }

    #[test]
    fn leading_zeros_are_stripped() {
        assert_eq!(strip_leading_zeros(&[0, 0, 1, 0]), [1, 0]);
        assert_eq!(strip_leading_zeros(&[0, 0]), [0u8; 0]);
        assert_eq!(strip_leading_zeros(&[]), [0u8; 0]);
    }
}
