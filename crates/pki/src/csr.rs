//! Certificate signing requests: PKCS#10 (RFC 2986) in PEM, DER or base64 DER, with the signature checked and
//! the subject, public key, SANs and requested extensions extracted.

use crate::alg::SignatureAlgorithm;
use crate::key::PublicKey;
use crate::names::{dn_string, first_common_name, San};
use crate::PkiError;
use base64::Engine;
use der::{Decode, Encode};
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::Extension;
use x509_cert::name::Name;
use x509_cert::request::CertReq;

/// Largest CSR accepted, in bytes of DER.
pub const MAX_CSR_BYTES: usize = 64 * 1024;

const EXTENSION_REQUEST: const_oid::ObjectIdentifier = const_oid::db::rfc5912::ID_EXTENSION_REQ;
const SUBJECT_ALT_NAME: const_oid::ObjectIdentifier = const_oid::db::rfc5280::ID_CE_SUBJECT_ALT_NAME;

/// A parsed CSR whose signature has been verified.
#[derive(Debug, Clone)]
pub struct Csr {
    pub subject: Name,
    pub public_key: PublicKey,
    pub signature_algorithm: SignatureAlgorithm,
    /// SANs from the extensionRequest attribute.
    pub sans: Vec<San>,
    /// Every requested extension, as requested.
    pub extensions: Vec<Extension>,
    pub(crate) der: Vec<u8>,
}

impl Csr {
    /// Parses a CSR given as PEM, DER or base64 DER, and checks its signature.
    pub fn parse(input: &[u8]) -> Result<Self, PkiError> {
        let der = to_der(input)?;
        let req = CertReq::from_der(&der).map_err(|e| PkiError::InvalidCsr(format!("not a PKCS#10 request: {e}")))?;
        let signature_algorithm = SignatureAlgorithm::from_identifier(&req.algorithm)?;
        let public_key = PublicKey::from_spki(&req.info.public_key)?;
        let info = req.info.to_der().map_err(|e| PkiError::InvalidCsr(e.to_string()))?;
        let signature =
            req.signature.as_bytes().ok_or_else(|| PkiError::InvalidCsr("signature has unused bits".to_owned()))?;
        public_key
            .verify(signature_algorithm, &info, signature)
            .map_err(|e| PkiError::InvalidCsr(format!("the request's self-signature does not verify ({e})")))?;

        let mut extensions = Vec::new();
        for attr in req.info.attributes.iter().filter(|a| a.oid == EXTENSION_REQUEST) {
            for value in attr.values.iter() {
                let exts: Vec<Extension> = value
                    .decode_as()
                    .map_err(|e| PkiError::InvalidCsr(format!("bad extensionRequest attribute: {e}")))?;
                extensions.extend(exts);
            }
        }
        let sans = sans_of(&extensions)?;
        Ok(Self { subject: req.info.subject, public_key, signature_algorithm, sans, extensions, der })
    }

    /// The subject as an RFC 4514 string.
    pub fn subject_string(&self) -> String {
        dn_string(&self.subject)
    }

    /// The subject's first common name.
    pub fn common_name(&self) -> Option<String> {
        first_common_name(&self.subject)
    }

    /// The request as DER: the PKCS#10 request, or the CRMF `CertReqMsg` it was converted from.
    pub fn der(&self) -> &[u8] {
        &self.der
    }
}

/// The SANs the engine models, from the subjectAltName extensions among requested `extensions`.
pub(crate) fn sans_of(extensions: &[Extension]) -> Result<Vec<San>, PkiError> {
    let mut sans = Vec::new();
    for ext in extensions.iter().filter(|e| e.extn_id == SUBJECT_ALT_NAME) {
        let names = SubjectAltName::from_der(ext.extn_value.as_bytes())
            .map_err(|e| PkiError::InvalidCsr(format!("bad subjectAltName: {e}")))?;
        sans.extend(names.0.iter().filter_map(San::from_general_name));
    }
    Ok(sans)
}

/// PEM (any label containing "REQUEST"), raw DER, or base64 of DER → DER.
fn to_der(input: &[u8]) -> Result<Vec<u8>, PkiError> {
    if input.len() > MAX_CSR_BYTES * 2 {
        return Err(PkiError::InvalidCsr(format!("larger than {MAX_CSR_BYTES} bytes")));
    }
    let der = if input.first() == Some(&0x30) {
        input.to_vec()
    } else {
        let text = std::str::from_utf8(input).map_err(|_| PkiError::InvalidCsr("neither DER nor text".to_owned()))?;
        let text = text.trim();
        if text.starts_with("-----BEGIN") {
            let (label, der) = crate::pem::decode(text)?;
            if !label.contains("REQUEST") {
                return Err(PkiError::InvalidCsr(format!("PEM block is a {label}, not a certificate request")));
            }
            der
        } else {
            let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
            base64::engine::general_purpose::STANDARD
                .decode(compact)
                .map_err(|_| PkiError::InvalidCsr("not PEM, DER or base64".to_owned()))?
        }
    };
    if der.len() > MAX_CSR_BYTES {
        return Err(PkiError::InvalidCsr(format!("larger than {MAX_CSR_BYTES} bytes")));
    }
    Ok(der)
}
