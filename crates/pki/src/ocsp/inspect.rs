//! Reading OCSPResponses back, for tests and tooling: what they say, and whether a key signed them.

use super::request::cert_id;
use super::{CertId, CertStatus, MalformedRequest, ResponseStatus};
use crate::alg::SignatureAlgorithm;
use crate::asn1::{Malformed, Reader, Tlv, BIT_STRING, CONTEXT_0, ENUMERATED, GENERALIZED_TIME, INTEGER};
use crate::asn1::{OCTET_STRING, OID, SEQUENCE};
use crate::key::PublicKey;
use crate::revocation::RevocationReason;
use crate::PkiError;
use const_oid::db::rfc6960;
use der::asn1::GeneralizedTime;
use der::Decode;
use spki::AlgorithmIdentifierOwned;

const CONTEXT_1: u8 = 0xa1;
const CONTEXT_2: u8 = 0xa2;

/// What a response says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResponseInfo {
    /// `None` for `successful`; otherwise the error status, and the other fields are empty.
    pub error: Option<ResponseStatus>,
    /// producedAt, epoch seconds.
    pub produced_at: Option<i64>,
    /// The ResponderID's key hash, or `None` when the responder is named (byName).
    pub responder_key_hash: Option<Vec<u8>>,
    pub responses: Vec<SingleResponseInfo>,
    /// The nonce extension's extnValue, when present.
    pub nonce: Option<Vec<u8>>,
    /// BasicOCSPResponse.certs, DER.
    pub certificates: Vec<Vec<u8>>,
    pub signature_algorithm: Option<SignatureAlgorithm>,
}

impl ResponseInfo {
    pub fn is_successful(&self) -> bool {
        self.error.is_none()
    }
}

/// One SingleResponse: the CertID (with the serial), the status and the validity interval (epoch seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SingleResponseInfo {
    pub cert_id: CertId,
    pub status: CertStatus,
    pub this_update: i64,
    pub next_update: Option<i64>,
}

fn bad(m: Malformed) -> PkiError {
    PkiError::InvalidOcsp(m.0.to_owned())
}

fn bad_id(m: MalformedRequest) -> PkiError {
    PkiError::InvalidOcsp(m.0)
}

/// A successful response's BasicOCSPResponse, in parts.
struct Basic<'a> {
    tbs: Tlv<'a>,
    algorithm: Tlv<'a>,
    signature: &'a [u8],
    certs: Option<Tlv<'a>>,
}

/// The BasicOCSPResponse of a successful response, or the error status of an unsuccessful one.
fn open(der: &[u8]) -> Result<Result<Basic<'_>, ResponseStatus>, PkiError> {
    let response = Tlv::parse_der(der, SEQUENCE, "OCSPResponse expected").map_err(bad)?;
    let mut r = response.reader();
    let status = r.next(ENUMERATED, "responseStatus expected").map_err(bad)?;
    let bytes = r.optional(CONTEXT_0).map_err(bad)?;
    r.finish().map_err(bad)?;
    let bytes = match (status.content, bytes) {
        ([0], Some(bytes)) => bytes,
        ([0], None) => return Err(bad(Malformed("a successful response without responseBytes"))),
        ([code], None) => {
            return ResponseStatus::from_code(*code)
                .map(Err)
                .ok_or_else(|| PkiError::InvalidOcsp(format!("unknown responseStatus {code}")));
        }
        (_, Some(_)) => return Err(bad(Malformed("an unsuccessful response with responseBytes"))),
        _ => return Err(bad(Malformed("malformed responseStatus"))),
    };
    let bytes = only(&bytes, SEQUENCE, "ResponseBytes expected")?;
    let mut b = bytes.reader();
    let kind = b.next(OID, "responseType expected").map_err(bad)?;
    if !kind.is_oid(&rfc6960::ID_PKIX_OCSP_BASIC) {
        return Err(PkiError::InvalidOcsp(format!("response type {} (basic expected)", kind.oid_string())));
    }
    let octets = b.next(OCTET_STRING, "response expected").map_err(bad)?;
    b.finish().map_err(bad)?;
    let basic = Tlv::parse_der(octets.content, SEQUENCE, "BasicOCSPResponse expected").map_err(bad)?;
    let mut s = basic.reader();
    let tbs = s.next(SEQUENCE, "ResponseData expected").map_err(bad)?;
    let algorithm = s.next(SEQUENCE, "signatureAlgorithm expected").map_err(bad)?;
    let signature = match s.next(BIT_STRING, "signature expected").map_err(bad)?.content {
        [0, sig @ ..] => sig,
        _ => return Err(bad(Malformed("signature with unused bits"))),
    };
    let certs = s.optional(CONTEXT_0).map_err(bad)?;
    s.finish().map_err(bad)?;
    Ok(Ok(Basic { tbs, algorithm, signature, certs }))
}

/// The one element inside an EXPLICIT tag.
fn only<'a>(tagged: &Tlv<'a>, tag: u8, what: &'static str) -> Result<Tlv<'a>, PkiError> {
    let mut r = tagged.reader();
    let inner = r.next(tag, what).map_err(bad)?;
    r.finish().map_err(bad)?;
    Ok(inner)
}

fn time(r: &mut Reader<'_>, what: &'static str) -> Result<i64, PkiError> {
    let t = r.next(GENERALIZED_TIME, what).map_err(bad)?;
    time_of(&t)
}

fn time_of(t: &Tlv<'_>) -> Result<i64, PkiError> {
    let time = GeneralizedTime::from_der(t.raw).map_err(|e| PkiError::InvalidOcsp(format!("time: {e}")))?;
    i64::try_from(time.to_unix_duration().as_secs()).map_err(|_| bad(Malformed("time out of range")))
}

fn signature_algorithm(basic: &Basic<'_>) -> Result<SignatureAlgorithm, PkiError> {
    let id = AlgorithmIdentifierOwned::from_der(basic.algorithm.raw)
        .map_err(|e| PkiError::InvalidOcsp(format!("signatureAlgorithm: {e}")))?;
    SignatureAlgorithm::from_identifier(&id)
}

/// Reads a DER OCSPResponse: its status and, when successful, what the BasicOCSPResponse says. The signature is
/// not checked here: see [`verify_response`].
pub fn inspect_response(der: &[u8]) -> Result<ResponseInfo, PkiError> {
    let basic = match open(der)? {
        Ok(basic) => basic,
        Err(status) => return Ok(ResponseInfo { error: Some(status), ..ResponseInfo::default() }),
    };
    let mut r = basic.tbs.reader();
    if let Some(version) = r.optional(CONTEXT_0).map_err(bad)? {
        if only(&version, INTEGER, "version expected")?.content != [0] {
            return Err(bad(Malformed("unsupported response version (v1 expected)")));
        }
    }
    let responder = r.any().map_err(bad)?;
    let responder_key_hash = match responder.tag {
        CONTEXT_1 => None,
        CONTEXT_2 => Some(only(&responder, OCTET_STRING, "KeyHash expected")?.content.to_vec()),
        _ => return Err(bad(Malformed("ResponderID expected"))),
    };
    let produced_at = time(&mut r, "producedAt expected")?;
    let list = r.next(SEQUENCE, "responses expected").map_err(bad)?;
    let extensions = r.optional(CONTEXT_1).map_err(bad)?;
    r.finish().map_err(bad)?;

    let mut responses = Vec::new();
    let mut l = list.reader();
    while !l.is_empty() {
        responses.push(single(&l.next(SEQUENCE, "SingleResponse expected").map_err(bad)?)?);
    }
    let nonce = match extensions {
        Some(e) => nonce(&e)?,
        None => None,
    };
    let mut certificates = Vec::new();
    if let Some(certs) = &basic.certs {
        let mut c = only(certs, SEQUENCE, "certs expected")?.reader();
        while !c.is_empty() {
            certificates.push(c.next(SEQUENCE, "Certificate expected").map_err(bad)?.raw.to_vec());
        }
    }
    Ok(ResponseInfo {
        error: None,
        produced_at: Some(produced_at),
        responder_key_hash,
        responses,
        nonce,
        certificates,
        signature_algorithm: Some(signature_algorithm(&basic)?),
    })
}

fn single(tlv: &Tlv<'_>) -> Result<SingleResponseInfo, PkiError> {
    let mut r = tlv.reader();
    let cert_id = cert_id(&r.next(SEQUENCE, "CertID expected").map_err(bad)?).map_err(bad_id)?;
    let status = r.any().map_err(bad)?;
    let status = match (status.tag, status.content) {
        (0x80, []) => CertStatus::Good,
        (0x82, []) => CertStatus::Unknown,
        (CONTEXT_1, _) => {
            let mut info = status.reader();
            let at = time(&mut info, "revocationTime expected")?;
            let reason = match info.optional(CONTEXT_0).map_err(bad)? {
                Some(reason) => match only(&reason, ENUMERATED, "CRLReason expected")?.content {
                    [code] => Some(
                        RevocationReason::from_code(*code)
                            .ok_or_else(|| PkiError::InvalidOcsp(format!("unknown CRLReason {code}")))?,
                    ),
                    _ => return Err(bad(Malformed("malformed CRLReason"))),
                },
                None => None,
            };
            info.finish().map_err(bad)?;
            CertStatus::Revoked { at, reason }
        }
        _ => return Err(bad(Malformed("certStatus expected"))),
    };
    let this_update = time(&mut r, "thisUpdate expected")?;
    let next_update = match r.optional(CONTEXT_0).map_err(bad)? {
        Some(next) => Some(time_of(&only(&next, GENERALIZED_TIME, "nextUpdate expected")?)?),
        None => None,
    };
    r.optional(CONTEXT_1).map_err(bad)?;
    r.finish().map_err(bad)?;
    Ok(SingleResponseInfo { cert_id, status, this_update, next_update })
}

/// The nonce extension's extnValue among response extensions.
fn nonce(tagged: &Tlv<'_>) -> Result<Option<Vec<u8>>, PkiError> {
    let mut r = only(tagged, SEQUENCE, "Extensions expected")?.reader();
    let mut nonce = None;
    while !r.is_empty() {
        let ext = r.next(SEQUENCE, "Extension expected").map_err(bad)?;
        let mut e = ext.reader();
        let id = e.next(OID, "extnID expected").map_err(bad)?;
        e.optional(crate::asn1::BOOLEAN).map_err(bad)?;
        let value = e.next(OCTET_STRING, "extnValue expected").map_err(bad)?;
        e.finish().map_err(bad)?;
        if id.is_oid(&rfc6960::ID_PKIX_OCSP_NONCE) {
            if nonce.is_some() {
                return Err(bad(Malformed("two nonces")));
            }
            nonce = Some(value.content.to_vec());
        }
    }
    Ok(nonce)
}

/// Checks that `key` signed the response's ResponseData. Whether that key may speak for the certificates'
/// issuer (the CA's own, or a delegated responder it certified) is for the caller to decide.
pub fn verify_response(der: &[u8], key: &PublicKey) -> Result<(), PkiError> {
    let basic = open(der)?.map_err(|status| {
        PkiError::BadSignature(format!("an unsuccessful response ({}) is not signed", status.name()))
    })?;
    key.verify(signature_algorithm(&basic)?, basic.tbs.raw, basic.signature)
}
