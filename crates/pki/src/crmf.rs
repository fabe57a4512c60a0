//! CRMF certificate requests (RFC 4211): a `CertReqMessages`, a single `CertReqMsg`, or the CMP `PKIMessage`
//! (RFC 4210, body `ir`, `cr` or `kur`) carrying them, in DER, base64 or PEM. The first request's template is read
//! and its signature proof of possession checked; the result converts into a [`Csr`] so issuance treats both alike.

use crate::alg::SignatureAlgorithm;
use crate::csr::{sans_of, Csr, MAX_CSR_BYTES};
use crate::key::PublicKey;
use crate::names::{dn_string, first_common_name, San};
use crate::PkiError;
use base64::Engine;
use der::asn1::{AnyRef, BitString, Int, Null};
use der::{Any, Decode, Encode, Tag, Tagged};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::ext::Extension;
use x509_cert::name::Name;
use x509_cert::time::Time;

/// Largest CRMF request accepted, in bytes of DER (the same bound as for PKCS#10).
pub const MAX_CRMF_BYTES: usize = MAX_CSR_BYTES;

/// `CertReqMsg ::= SEQUENCE { certReq CertRequest, popo ProofOfPossession OPTIONAL, regInfo ... OPTIONAL }`.
/// `certReq` is kept as received: a signature proof of possession covers its exact DER.
#[derive(der::Sequence)]
struct CertReqMsg {
    cert_req: Any,
    #[asn1(optional = "true")]
    popo: Option<ProofOfPossession>,
    #[asn1(optional = "true")]
    _reg_info: Option<Any>,
}

/// `CertRequest ::= SEQUENCE { certReqId INTEGER, certTemplate CertTemplate, controls Controls OPTIONAL }`.
#[derive(der::Sequence)]
struct CertRequest {
    cert_req_id: i64,
    cert_template: CertTemplate,
    #[asn1(optional = "true")]
    _controls: Option<Any>,
}

/// RFC 4211's module has IMPLICIT tags; `Name` and `Time` are CHOICEs, so their tags are explicit. Fields named
/// with a leading underscore are read for well-formedness only.
#[derive(der::Sequence)]
#[asn1(tag_mode = "IMPLICIT")]
struct CertTemplate {
    #[asn1(context_specific = "0", optional = "true")]
    _version: Option<Int>,
    #[asn1(context_specific = "1", optional = "true")]
    _serial_number: Option<Int>,
    #[asn1(context_specific = "2", optional = "true")]
    _signing_alg: Option<AlgorithmIdentifierOwned>,
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT", optional = "true")]
    _issuer: Option<Name>,
    #[asn1(context_specific = "4", optional = "true")]
    validity: Option<OptionalValidity>,
    #[asn1(context_specific = "5", tag_mode = "EXPLICIT", optional = "true")]
    subject: Option<Name>,
    #[asn1(context_specific = "6", optional = "true")]
    public_key: Option<SubjectPublicKeyInfoOwned>,
    #[asn1(context_specific = "7", optional = "true")]
    _issuer_uid: Option<BitString>,
    #[asn1(context_specific = "8", optional = "true")]
    _subject_uid: Option<BitString>,
    #[asn1(context_specific = "9", optional = "true")]
    extensions: Option<Vec<Extension>>,
}

#[derive(der::Sequence)]
struct OptionalValidity {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    not_before: Option<Time>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    not_after: Option<Time>,
}

/// `POPOPrivKey` is itself a CHOICE, hence the explicit tags of the last two alternatives.
#[derive(der::Choice)]
#[asn1(tag_mode = "IMPLICIT")]
#[allow(clippy::large_enum_variant)]
enum ProofOfPossession {
    #[asn1(context_specific = "0")]
    RaVerified(Null),
    #[asn1(context_specific = "1", constructed = "true")]
    Signature(PopoSigningKey),
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", constructed = "true")]
    KeyEncipherment(Any),
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT", constructed = "true")]
    KeyAgreement(Any),
}

#[derive(der::Sequence)]
#[asn1(tag_mode = "IMPLICIT")]
struct PopoSigningKey {
    #[asn1(context_specific = "0", optional = "true")]
    poposk_input: Option<PopoSigningKeyInput>,
    algorithm_identifier: AlgorithmIdentifierOwned,
    signature: BitString,
}

/// `POPOSigningKeyInput ::= SEQUENCE { authInfo CHOICE { sender [0] GeneralName, publicKeyMAC PKMACValue },
/// publicKey SubjectPublicKeyInfo }`; both fields are kept as received so that re-encoding gives the signed bytes.
#[derive(der::Sequence)]
struct PopoSigningKeyInput {
    auth_info: Any,
    public_key: Any,
}

/// A CRMF request whose signature proof of possession has been verified.
#[derive(Debug, Clone)]
pub struct CrmfRequest {
    /// `certReqId`, which the CA's response refers to.
    pub cert_req_id: i64,
    /// The requested subject; an empty name when the template has none.
    pub subject: Name,
    pub public_key: PublicKey,
    /// The algorithm of the proof-of-possession signature.
    pub signature_algorithm: SignatureAlgorithm,
    /// SANs from the template's subjectAltName extension.
    pub sans: Vec<San>,
    /// Every extension of the template, as requested.
    pub extensions: Vec<Extension>,
    /// Requested notBefore and notAfter, epoch seconds, when the template names them.
    pub not_before: Option<i64>,
    pub not_after: Option<i64>,
    der: Vec<u8>,
}

impl CrmfRequest {
    /// The subject as an RFC 4514 string.
    pub fn subject_string(&self) -> String {
        dn_string(&self.subject)
    }

    /// The subject's first common name.
    pub fn common_name(&self) -> Option<String> {
        first_common_name(&self.subject)
    }

    /// The `CertReqMsg` that was read, as DER.
    pub fn der(&self) -> &[u8] {
        &self.der
    }
}

/// Issuance takes a request's subject, key and names alike whichever format it came in; the requested validity
/// and `certReqId` are dropped.
impl From<CrmfRequest> for Csr {
    fn from(r: CrmfRequest) -> Self {
        Csr {
            subject: r.subject,
            public_key: r.public_key,
            signature_algorithm: r.signature_algorithm,
            sans: r.sans,
            extensions: r.extensions,
            der: r.der,
        }
    }
}

fn invalid(why: impl std::fmt::Display) -> PkiError {
    PkiError::InvalidCsr(format!("CRMF: {why}"))
}

/// Parses the first certificate request of a CRMF `CertReqMessages`, a `CertReqMsg` or a CMP `PKIMessage`
/// (`ir`, `cr` or `kur`), given as DER, base64 DER or PEM, and verifies its signature proof of possession.
///
/// The signature covers `poposkInput` when present (its public key must then equal the template's, or stands in
/// for a template without one), otherwise the DER of `certReq` (RFC 4211 §4.1). A request without a subject and
/// without `poposkInput` is accepted: its signature still covers the whole request, key included.
/// `raVerified` and a missing proof are refused; key encipherment and key agreement are not supported.
pub fn parse(input: &[u8]) -> Result<CrmfRequest, PkiError> {
    let der = to_der(input)?;
    let msg_der = first_cert_req_msg(&der)?;
    let msg = CertReqMsg::from_der(&msg_der).map_err(|e| invalid(format!("malformed CertReqMsg: {e}")))?;
    let cert_req_der = msg.cert_req.to_der().map_err(invalid)?;
    let req = CertRequest::from_der(&cert_req_der).map_err(|e| invalid(format!("malformed CertRequest: {e}")))?;
    let template = req.cert_template;

    let signing_key = match msg.popo {
        None => return Err(invalid("the request carries no proof of possession; sign it with the requested key")),
        Some(ProofOfPossession::RaVerified(_)) => {
            return Err(invalid(
                "raVerified proof of possession is not accepted; sign the request with the requested key",
            ))
        }
        Some(ProofOfPossession::KeyEncipherment(_)) => {
            return Err(PkiError::Unsupported("CRMF proof of possession by key encipherment".to_owned()))
        }
        Some(ProofOfPossession::KeyAgreement(_)) => {
            return Err(PkiError::Unsupported("CRMF proof of possession by key agreement".to_owned()))
        }
        Some(ProofOfPossession::Signature(s)) => s,
    };
    let template_key = template.public_key.as_ref().map(Encode::to_der).transpose().map_err(invalid)?;
    let (signed, key_der) = match &signing_key.poposk_input {
        Some(input) => {
            let input_key = input.public_key.to_der().map_err(invalid)?;
            if template_key.as_ref().is_some_and(|k| *k != input_key) {
                return Err(invalid("the public key in poposkInput differs from the template's"));
            }
            (input.to_der().map_err(invalid)?, input_key)
        }
        None => {
            let key = template_key.ok_or_else(|| invalid("the certificate template carries no public key"))?;
            (cert_req_der, key)
        }
    };
    let public_key = PublicKey::from_der(&key_der)?;
    let signature_algorithm = SignatureAlgorithm::from_identifier(&signing_key.algorithm_identifier)?;
    let signature =
        signing_key.signature.as_bytes().ok_or_else(|| invalid("the proof-of-possession signature has unused bits"))?;
    public_key
        .verify(signature_algorithm, &signed, signature)
        .map_err(|e| invalid(format!("the proof-of-possession signature does not verify ({e})")))?;

    let extensions = template.extensions.unwrap_or_default();
    let sans = sans_of(&extensions)?;
    let (not_before, not_after) = match &template.validity {
        Some(v) => (v.not_before.map(epoch).transpose()?, v.not_after.map(epoch).transpose()?),
        None => (None, None),
    };
    Ok(CrmfRequest {
        cert_req_id: req.cert_req_id,
        subject: template.subject.unwrap_or_default(),
        public_key,
        signature_algorithm,
        sans,
        extensions,
        not_before,
        not_after,
        der: msg_der,
    })
}

fn epoch(t: Time) -> Result<i64, PkiError> {
    i64::try_from(t.to_unix_duration().as_secs()).map_err(|_| invalid("requested validity out of range"))
}

/// The DER of the first `CertReqMsg`, found by the shape of the outer structure: a `CertReqMessages` starts with
/// a `CertReqMsg` (a SEQUENCE opening with the `certReq` SEQUENCE); a `CertReqMsg`'s `certReq` and a
/// `PKIMessage`'s header both open with an INTEGER, followed by the template (a SEQUENCE) in the first and by the
/// sender (a context-tagged GeneralName) in the second.
fn first_cert_req_msg(der: &[u8]) -> Result<Vec<u8>, PkiError> {
    let not_crmf = |e: der::Error| invalid(format!("not a CertReqMessages, CertReqMsg or PKIMessage: {e}"));
    let outer = Vec::<AnyRef<'_>>::from_der(der).map_err(not_crmf)?;
    let first = outer.first().ok_or_else(|| invalid("empty request"))?;
    let inner: Vec<AnyRef<'_>> = first.decode_as().map_err(not_crmf)?;
    let first_tag = inner.first().map(|a| a.tag());
    let second_tag = inner.get(1).map(|a| a.tag());
    match (first_tag, second_tag) {
        (Some(Tag::Sequence), _) => first.to_der().map_err(invalid),
        (Some(Tag::Integer), Some(Tag::Sequence)) => Ok(der.to_vec()),
        (Some(Tag::Integer), Some(Tag::ContextSpecific { .. })) => {
            let body = outer.get(1).ok_or_else(|| invalid("PKIMessage without a body"))?;
            let messages = match body.tag() {
                Tag::ContextSpecific { constructed: true, number } if [0, 2, 7].contains(&number.value()) => {
                    Vec::<AnyRef<'_>>::from_der(body.value())
                        .map_err(|e| invalid(format!("malformed CertReqMessages in the PKIMessage body: {e}")))?
                }
                Tag::ContextSpecific { number, .. } if number.value() == 4 => {
                    return Err(invalid(
                        "the PKIMessage is a p10cr, which carries a PKCS#10 request: send that instead",
                    ))
                }
                tag => {
                    return Err(invalid(format!(
                        "the PKIMessage body ({tag}) is not a certificate request (ir, cr, kur)"
                    )))
                }
            };
            messages.first().ok_or_else(|| invalid("the PKIMessage holds no request"))?.to_der().map_err(invalid)
        }
        _ => Err(invalid("not a CertReqMessages, CertReqMsg or PKIMessage")),
    }
}

/// Raw DER, PEM (any label: CRMF has no registered one) or base64 of DER → DER.
fn to_der(input: &[u8]) -> Result<Vec<u8>, PkiError> {
    if input.len() > MAX_CRMF_BYTES * 2 {
        return Err(invalid(format!("larger than {MAX_CRMF_BYTES} bytes")));
    }
    let der = if input.first() == Some(&0x30) {
        input.to_vec()
    } else {
        let text = std::str::from_utf8(input).map_err(|_| invalid("neither DER nor text"))?.trim();
        if text.starts_with("-----BEGIN") {
            crate::pem::decode(text)?.1
        } else {
            let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
            base64::engine::general_purpose::STANDARD.decode(compact).map_err(|_| invalid("not DER, PEM or base64"))?
        }
    };
    if der.len() > MAX_CRMF_BYTES {
        return Err(invalid(format!("larger than {MAX_CRMF_BYTES} bytes")));
    }
    Ok(der)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alg::{Curve, KeyAlgorithm};
    use crate::key::{PrivateKey, Signer};
    use crate::names::common_name;

    /// Builds a `CertReqMsg` for `key`, signed over `certReq` or, with `poposk_input`, over a
    /// `POPOSigningKeyInput` carrying the key (and then no key in the template, as RFC 4211 intends).
    fn request(key: &PrivateKey, subject: Option<Name>, with_poposk_input: bool) -> Vec<u8> {
        let spki = SubjectPublicKeyInfoOwned::from_der(&key.public_key_der()).unwrap();
        let template = CertTemplate {
            _version: None,
            _serial_number: None,
            _signing_alg: None,
            _issuer: None,
            validity: None,
            subject,
            public_key: (!with_poposk_input).then(|| spki.clone()),
            _issuer_uid: None,
            _subject_uid: None,
            extensions: None,
        };
        let cert_req = CertRequest { cert_req_id: 7, cert_template: template, _controls: None }.to_der().unwrap();
        let (poposk_input, signed) = if with_poposk_input {
            // authInfo: publicKeyMAC PKMACValue { algId, value } with a placeholder MAC.
            let mac = Any::from_der(&[0x30, 0x0a, 0x30, 0x03, 0x06, 0x01, 0x2a, 0x03, 0x03, 0x00, 0xab, 0xcd]).unwrap();
            let input = PopoSigningKeyInput { auth_info: mac, public_key: Any::encode_from(&spki).unwrap() };
            let der = input.to_der().unwrap();
            (Some(input), der)
        } else {
            (None, cert_req.clone())
        };
        let popo = PopoSigningKey {
            poposk_input,
            algorithm_identifier: key.signature_algorithm().identifier(),
            signature: BitString::from_bytes(&key.sign(&signed).unwrap()).unwrap(),
        };
        CertReqMsg {
            cert_req: Any::from_der(&cert_req).unwrap(),
            popo: Some(ProofOfPossession::Signature(popo)),
            _reg_info: None,
        }
        .to_der()
        .unwrap()
    }

    #[test]
    fn a_signature_over_poposk_input_proves_possession_of_its_key() {
        let key = PrivateKey::generate(KeyAlgorithm::Ecdsa(Curve::P256)).unwrap();
        let der = request(&key, None, true);
        let r = parse(&der).unwrap();
        assert_eq!(r.public_key.der(), key.public_key_der().as_slice());
        assert!(r.subject.0.is_empty());
        assert_eq!(r.cert_req_id, 7);

        // The same signature does not pass for another key.
        let other = PrivateKey::generate(KeyAlgorithm::Ecdsa(Curve::P256)).unwrap();
        let other_spki = other.public_key_der();
        let own_spki = key.public_key_der();
        let at = der.windows(own_spki.len()).position(|w| w == own_spki.as_slice()).unwrap();
        let mut swapped = der.clone();
        swapped[at..at + own_spki.len()].copy_from_slice(&other_spki);
        assert!(parse(&swapped).unwrap_err().to_string().contains("does not verify"));
    }

    #[test]
    fn a_signature_over_cert_req_is_checked_and_converts_into_a_csr() {
        let key = PrivateKey::generate(KeyAlgorithm::Ed25519).unwrap();
        let der = request(&key, Some(common_name("crmf.example.com").unwrap()), false);
        let csr: Csr = parse(&der).unwrap().into();
        assert_eq!(csr.common_name().as_deref(), Some("crmf.example.com"));
        assert_eq!(csr.signature_algorithm, SignatureAlgorithm::Ed25519);
        assert_eq!(csr.der(), der.as_slice());

        // A request signed by another key than the one it names is refused.
        let mut forged = request(&key, Some(common_name("crmf.example.com").unwrap()), false);
        let other = PrivateKey::generate(KeyAlgorithm::Ed25519).unwrap();
        // The template holds the key under an IMPLICIT tag: swap the raw 32-byte Ed25519 keys.
        let (own, theirs) = (key.public_key_der(), other.public_key_der());
        let (own, theirs) = (&own[own.len() - 32..], &theirs[theirs.len() - 32..]);
        let at = forged.windows(32).position(|w| w == own).unwrap();
        forged[at..at + 32].copy_from_slice(theirs);
        assert!(parse(&forged).is_err());
    }

    #[test]
    fn other_proofs_of_possession_are_refused_with_their_reason() {
        let key = PrivateKey::generate(KeyAlgorithm::Ed25519).unwrap();
        let der = request(&key, Some(common_name("x").unwrap()), false);
        let msg = CertReqMsg::from_der(&der).unwrap();
        let with = |popo: Option<ProofOfPossession>| {
            CertReqMsg { cert_req: msg.cert_req.clone(), popo, _reg_info: None }.to_der().unwrap()
        };
        let err = parse(&with(None)).unwrap_err().to_string();
        assert!(err.contains("no proof of possession"), "{err}");
        let err = parse(&with(Some(ProofOfPossession::RaVerified(Null)))).unwrap_err().to_string();
        assert!(err.contains("raVerified"), "{err}");
        let this_message = Any::from_der(&[0x80, 0x01, 0x00]).unwrap();
        let err = parse(&with(Some(ProofOfPossession::KeyEncipherment(this_message)))).unwrap_err();
        assert!(matches!(err, PkiError::Unsupported(_)), "{err}");
    }
}
