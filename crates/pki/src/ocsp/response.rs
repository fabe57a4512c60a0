//! Building and signing successful OCSPResponses (RFC 6960 §4.2, RFC 5019 §2.2).

use super::{key_bits, CertIdHash, CertStatus, Responder, SingleResponse};
use crate::asn1::{self, Tlv, BIT_STRING, ENUMERATED, SEQUENCE};
use crate::revocation::RevocationReason;
use crate::PkiError;
use const_oid::db::rfc6960;
use der::asn1::GeneralizedTime;
use der::Encode;
use std::time::Duration;

/// `[1]` and `[2]` constructed: responseExtensions, ResponderID byKey, RevokedInfo.
const CONTEXT_1: u8 = 0xa1;
const CONTEXT_2: u8 = 0xa2;
/// `[0]` and `[2]` primitive, IMPLICIT NULL: the `good` and `unknown` statuses.
const GOOD: [u8; 2] = [0x80, 0x00];
const UNKNOWN: [u8; 2] = [0x82, 0x00];

fn invalid(why: impl Into<String>) -> PkiError {
    PkiError::InvalidOcsp(why.into())
}

/// A successful OCSPResponse (id-pkix-ocsp-basic) with one SingleResponse per entry, producedAt, and the nonce
/// echoed as a response extension when given. GeneralizedTime everywhere (RFC 6960). Revoked entries carry
/// revocationTime and, when known and not unspecified, revocationReason [0] EXPLICIT CRLReason.
///
/// Refused: no entries, a nextUpdate before thisUpdate, a CertID that is not one DER SEQUENCE, `removeFromCRL`
/// as a revocation reason (such a certificate is good again), and a signer whose key is not the certificate's.
pub fn build_response(
    responder: &Responder<'_>,
    produced_at: i64,
    responses: &[SingleResponse<'_>],
    nonce: Option<&[u8]>,
) -> Result<Vec<u8>, PkiError> {
    if responses.is_empty() {
        return Err(invalid("a response answers for at least one certificate"));
    }
    let algorithm = responder.signer.signature_algorithm();
    if !algorithm.may_sign() {
        return Err(PkiError::Unsupported(format!("signing with {algorithm:?}")));
    }
    let key_of = |what: &str, spki: &[u8]| -> Result<Vec<u8>, PkiError> {
        Tlv::parse(spki, SEQUENCE, "SubjectPublicKeyInfo expected")
            .and_then(|t| key_bits(&t).map(<[u8]>::to_vec))
            .map_err(|m| PkiError::InvalidKeyData(format!("{what}: {}", m.0)))
    };
    let certified = super::subject_and_key(responder.certificate.der())
        .map(|(_, key)| key.to_vec())
        .map_err(|m| PkiError::InvalidCertificate(format!("the responder certificate: {}", m.0)))?;
    if key_of("the responder's signer", &responder.signer.public_key_der())? != certified {
        return Err(invalid("the signer's key is not the key of the responder certificate"));
    }
    let responder_id = asn1::tlv(CONTEXT_2, &asn1::octets(&CertIdHash::Sha1.digest(&certified)));

    let singles = responses.iter().map(single).collect::<Result<Vec<_>, _>>()?;
    let mut data = vec![responder_id, generalized_time(produced_at)?, asn1::tlv(SEQUENCE, &singles.concat())];
    if let Some(nonce) = nonce {
        let extension = asn1::seq(&[&asn1::oid(&rfc6960::ID_PKIX_OCSP_NONCE), &asn1::octets(nonce)]);
        data.push(asn1::tlv(CONTEXT_1, &asn1::seq(&[&extension])));
    }
    let tbs = asn1::tlv(SEQUENCE, &data.concat());

    let signature = responder.signer.sign(&tbs)?;
    let algorithm = algorithm.identifier().to_der().map_err(|e| invalid(format!("signature algorithm: {e}")))?;
    let mut basic = vec![tbs, algorithm, asn1::tlv(BIT_STRING, &[&[0u8][..], &signature].concat())];
    if responder.include_certificate {
        basic.push(asn1::explicit0(&asn1::seq(&[responder.certificate.der()])));
    }
    let basic = asn1::tlv(SEQUENCE, &basic.concat());
    let bytes = asn1::seq(&[&asn1::oid(&rfc6960::ID_PKIX_OCSP_BASIC), &asn1::octets(&basic)]);
    Ok(asn1::seq(&[&[ENUMERATED, 0x01, 0x00], &asn1::explicit0(&bytes)]))
}

fn single(s: &SingleResponse<'_>) -> Result<Vec<u8>, PkiError> {
    if Tlv::parse_der(&s.cert_id.der, SEQUENCE, "CertID").is_err() {
        return Err(invalid("the CertID to echo is not one DER SEQUENCE"));
    }
    let status = match s.status {
        CertStatus::Good => GOOD.to_vec(),
        CertStatus::Revoked { reason: Some(RevocationReason::RemoveFromCrl), .. } => {
            return Err(invalid("removeFromCRL is not a revocation: report the certificate good"));
        }
        CertStatus::Revoked { at, reason } => {
            let mut info = generalized_time(at)?;
            if let Some(r) = reason.filter(|r| *r != RevocationReason::Unspecified) {
                info.extend(asn1::explicit0(&asn1::tlv(ENUMERATED, &[r.code()])));
            }
            asn1::tlv(CONTEXT_1, &info)
        }
        CertStatus::Unknown => UNKNOWN.to_vec(),
    };
    let mut body = [s.cert_id.der.as_slice(), &status, &generalized_time(s.this_update)?].concat();
    if let Some(next) = s.next_update {
        if next < s.this_update {
            return Err(invalid("nextUpdate is before thisUpdate"));
        }
        body.extend(asn1::explicit0(&generalized_time(next)?));
    }
    Ok(asn1::tlv(SEQUENCE, &body))
}

/// `YYYYMMDDHHMMSSZ`, the only form RFC 5019 §2.2.4 allows.
pub(super) fn generalized_time(epoch: i64) -> Result<Vec<u8>, PkiError> {
    let secs = u64::try_from(epoch).map_err(|_| invalid(format!("time {epoch} is before 1970")))?;
    let time = der::DateTime::from_unix_duration(Duration::from_secs(secs))
        .map_err(|e| invalid(format!("time {epoch} out of range: {e}")))?;
    GeneralizedTime::from_date_time(time).to_der().map_err(|e| invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_generalized_time_in_seconds() {
        assert_eq!(generalized_time(0).unwrap(), b"\x18\x0f19700101000000Z");
        assert_eq!(generalized_time(2_556_143_999).unwrap(), b"\x18\x0f20501231235959Z");
        assert!(generalized_time(-1).is_err());
        assert!(generalized_time(i64::MAX).is_err());
    }
}
