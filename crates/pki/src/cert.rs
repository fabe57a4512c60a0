//! X.509 v3 certificates: building and signing them with the extensions RFC 5280 asks of a CA, and reading
//! them back (serial, names, validity, SANs, key, signature check against an issuer).

use crate::alg::SignatureAlgorithm;
use crate::key::{PublicKey, Signer};
use crate::names::{dn_string, first_common_name, San};
use crate::PkiError;
use const_oid::db::rfc5280;
use const_oid::ObjectIdentifier as Oid;
use der::asn1::{BitString, GeneralizedTime, Ia5String, OctetString, UtcTime};
use der::{Decode, Encode};
use flagset::FlagSet;
use spki::SubjectPublicKeyInfoOwned;
use std::time::Duration;
use x509_cert::certificate::{Certificate, TbsCertificate, Version};
use x509_cert::ext::pkix::certpolicy::PolicyInformation;
use x509_cert::ext::pkix::constraints::name::{GeneralSubtree, NameConstraints};
use x509_cert::ext::pkix::crl::dp::DistributionPoint;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::pkix::{
    AccessDescription, AuthorityInfoAccessSyntax, AuthorityKeyIdentifier, BasicConstraints, CertificatePolicies,
    CrlDistributionPoints, ExtendedKeyUsage, KeyUsage, KeyUsages, SubjectAltName, SubjectKeyIdentifier,
};
use x509_cert::ext::Extension;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};

/// An extended key usage the engine knows by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Eku {
    ServerAuth,
    ClientAuth,
    CodeSigning,
    EmailProtection,
    TimeStamping,
    OcspSigning,
}

impl Eku {
    pub fn oid(self) -> Oid {
        match self {
            Eku::ServerAuth => rfc5280::ID_KP_SERVER_AUTH,
            Eku::ClientAuth => rfc5280::ID_KP_CLIENT_AUTH,
            Eku::CodeSigning => rfc5280::ID_KP_CODE_SIGNING,
            Eku::EmailProtection => rfc5280::ID_KP_EMAIL_PROTECTION,
            Eku::TimeStamping => rfc5280::ID_KP_TIME_STAMPING,
            Eku::OcspSigning => rfc5280::ID_KP_OCSP_SIGNING,
        }
    }
}

/// Key usage bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Usage {
    DigitalSignature,
    NonRepudiation,
    KeyEncipherment,
    DataEncipherment,
    KeyAgreement,
    KeyCertSign,
    CrlSign,
}

impl Usage {
    fn flag(self) -> KeyUsages {
        match self {
            Usage::DigitalSignature => KeyUsages::DigitalSignature,
            Usage::NonRepudiation => KeyUsages::NonRepudiation,
            Usage::KeyEncipherment => KeyUsages::KeyEncipherment,
            Usage::DataEncipherment => KeyUsages::DataEncipherment,
            Usage::KeyAgreement => KeyUsages::KeyAgreement,
            Usage::KeyCertSign => KeyUsages::KeyCertSign,
            Usage::CrlSign => KeyUsages::CRLSign,
        }
    }
}

/// What goes into a certificate besides its key and names.
#[derive(Debug, Clone, Default)]
pub struct Extensions {
    /// `Some(path_len)` makes a CA certificate (basicConstraints critical, cA true).
    pub ca: Option<Option<u8>>,
    pub key_usage: Vec<Usage>,
    pub extended_key_usage: Vec<Eku>,
    pub sans: Vec<San>,
    pub ocsp_urls: Vec<String>,
    pub ca_issuers_urls: Vec<String>,
    pub crl_urls: Vec<String>,
    pub policies: Vec<Oid>,
    /// Name constraints (CAs only): permitted and excluded DNS subtrees.
    pub permitted_dns: Vec<String>,
    pub excluded_dns: Vec<String>,
    /// id-pkix-ocsp-nocheck (RFC 6960 §4.2.2.2.1), for a delegated OCSP responder's certificate: clients need not
    /// check its own revocation status.
    pub ocsp_nocheck: bool,
}

/// The certificate to be signed.
#[derive(Debug, Clone)]
pub struct Template {
    /// Positive serial number, big-endian, at most 20 octets once encoded.
    pub serial: Vec<u8>,
    pub subject: Name,
    /// SubjectPublicKeyInfo DER of the certified key.
    pub public_key_der: Vec<u8>,
    /// Epoch seconds.
    pub not_before: i64,
    pub not_after: i64,
    pub extensions: Extensions,
}

/// The CA signing a certificate.
pub struct Issuer<'a> {
    pub name: &'a Name,
    /// The issuer's subject key identifier, placed in the authority key identifier.
    pub key_identifier: &'a [u8],
    pub signer: &'a dyn Signer,
}

impl std::fmt::Debug for Issuer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issuer").field("name", &dn_string(self.name)).finish_non_exhaustive()
    }
}

/// A serial number's octets (leading zero octets allowed) as the inventory spells it: lower-case hex without
/// leading zeros.
pub fn serial_hex(octets: &[u8]) -> String {
    let hex = crate::digest::hex(octets);
    let trimmed = hex.trim_start_matches('0');
    if trimmed.is_empty() {
        "0".to_owned()
    } else {
        trimmed.to_owned()
    }
}

/// A fresh random 128-bit serial number.
pub fn random_serial() -> Result<Vec<u8>, PkiError> {
    Ok(crate::random::bytes::<16>()?.to_vec())
}

fn time(epoch: i64) -> Result<Time, PkiError> {
    let secs = u64::try_from(epoch).map_err(|_| PkiError::InvalidCertificate("time before 1970".to_owned()))?;
    let dt = der::DateTime::from_unix_duration(Duration::from_secs(secs))
        .map_err(|e| PkiError::InvalidCertificate(format!("time out of range: {e}")))?;
    // RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050.
    Ok(if dt.year() < 2050 {
        Time::UtcTime(UtcTime::from_date_time(dt).map_err(|e| PkiError::InvalidCertificate(e.to_string()))?)
    } else {
        Time::GeneralTime(GeneralizedTime::from_date_time(dt))
    })
}

fn ext<T: Encode>(oid: Oid, critical: bool, value: &T) -> Result<Extension, PkiError> {
    let der = value.to_der().map_err(|e| PkiError::InvalidCertificate(format!("encoding extension {oid}: {e}")))?;
    Ok(Extension {
        extn_id: oid,
        critical,
        extn_value: OctetString::new(der).map_err(|e| PkiError::InvalidCertificate(e.to_string()))?,
    })
}

fn uri(u: &str) -> Result<GeneralName, PkiError> {
    Ia5String::new(u)
        .map(GeneralName::UniformResourceIdentifier)
        .map_err(|e| PkiError::InvalidName(format!("URL '{u}': {e}")))
}

fn dns_subtrees(names: &[String]) -> Result<Option<Vec<GeneralSubtree>>, PkiError> {
    if names.is_empty() {
        return Ok(None);
    }
    names
        .iter()
        .map(|n| {
            Ok(GeneralSubtree {
                base: GeneralName::DnsName(Ia5String::new(n).map_err(|e| PkiError::InvalidName(e.to_string()))?),
                minimum: 0,
                maximum: None,
            })
        })
        .collect::<Result<Vec<_>, PkiError>>()
        .map(Some)
}

fn build_extensions(t: &Template, subject_key_id: &[u8], issuer_key_id: &[u8]) -> Result<Vec<Extension>, PkiError> {
    let e = &t.extensions;
    let mut out = Vec::new();
    if let Some(path_len) = e.ca {
        out.push(ext(
            rfc5280::ID_CE_BASIC_CONSTRAINTS,
            true,
            &BasicConstraints { ca: true, path_len_constraint: path_len },
        )?);
    }
    if !e.key_usage.is_empty() {
        let flags = e.key_usage.iter().fold(FlagSet::<KeyUsages>::default(), |acc, u| acc | u.flag());
        out.push(ext(rfc5280::ID_CE_KEY_USAGE, true, &KeyUsage(flags))?);
    }
    if !e.extended_key_usage.is_empty() {
        let ekus = ExtendedKeyUsage(e.extended_key_usage.iter().map(|k| k.oid()).collect());
        out.push(ext(rfc5280::ID_CE_EXT_KEY_USAGE, false, &ekus)?);
    }
    if !e.sans.is_empty() {
        let names = e.sans.iter().map(San::to_general_name).collect::<Result<Vec<_>, _>>()?;
        // RFC 5280 §4.2.1.6: critical when the subject is empty.
        out.push(ext(rfc5280::ID_CE_SUBJECT_ALT_NAME, t.subject.0.is_empty(), &SubjectAltName(names))?);
    }
    let ski = OctetString::new(subject_key_id).map_err(|e| PkiError::InvalidCertificate(e.to_string()))?;
    out.push(ext(rfc5280::ID_CE_SUBJECT_KEY_IDENTIFIER, false, &SubjectKeyIdentifier(ski))?);
    let aki = AuthorityKeyIdentifier {
        key_identifier: Some(OctetString::new(issuer_key_id).map_err(|e| PkiError::InvalidCertificate(e.to_string()))?),
        ..Default::default()
    };
    out.push(ext(rfc5280::ID_CE_AUTHORITY_KEY_IDENTIFIER, false, &aki)?);
    let mut access = Vec::new();
    for u in &e.ocsp_urls {
        access.push(AccessDescription { access_method: rfc5280::ID_AD_OCSP, access_location: uri(u)? });
    }
    for u in &e.ca_issuers_urls {
        access.push(AccessDescription { access_method: rfc5280::ID_AD_CA_ISSUERS, access_location: uri(u)? });
    }
    if !access.is_empty() {
        out.push(ext(rfc5280::ID_PE_AUTHORITY_INFO_ACCESS, false, &AuthorityInfoAccessSyntax(access))?);
    }
    if !e.crl_urls.is_empty() {
        let points = e
            .crl_urls
            .iter()
            .map(|u| {
                Ok(DistributionPoint {
                    distribution_point: Some(DistributionPointName::FullName(vec![uri(u)?])),
                    reasons: None,
                    crl_issuer: None,
                })
            })
            .collect::<Result<Vec<_>, PkiError>>()?;
        out.push(ext(rfc5280::ID_CE_CRL_DISTRIBUTION_POINTS, false, &CrlDistributionPoints(points))?);
    }
    if !e.policies.is_empty() {
        let policies =
            e.policies.iter().map(|p| PolicyInformation { policy_identifier: *p, policy_qualifiers: None }).collect();
        out.push(ext(rfc5280::ID_CE_CERTIFICATE_POLICIES, false, &CertificatePolicies(policies))?);
    }
    if e.ca.is_some() && (!e.permitted_dns.is_empty() || !e.excluded_dns.is_empty()) {
        let nc = NameConstraints {
            permitted_subtrees: dns_subtrees(&e.permitted_dns)?,
            excluded_subtrees: dns_subtrees(&e.excluded_dns)?,
        };
        out.push(ext(rfc5280::ID_CE_NAME_CONSTRAINTS, true, &nc)?);
    }
    if e.ocsp_nocheck {
        out.push(ext(const_oid::db::rfc6960::ID_PKIX_OCSP_NOCHECK, false, &der::asn1::Null)?);
    }
    Ok(out)
}

/// Signs `template` as `issuer`. For a self-signed certificate pass the subject's own name, key identifier and
/// signer.
pub fn issue(template: &Template, issuer: &Issuer<'_>) -> Result<Cert, PkiError> {
    let algorithm = issuer.signer.signature_algorithm();
    if !algorithm.may_sign() {
        return Err(PkiError::Unsupported(format!("signing with {algorithm:?}")));
    }
    if template.not_after <= template.not_before {
        return Err(PkiError::InvalidCertificate("notAfter must be later than notBefore".to_owned()));
    }
    let public_key = PublicKey::from_der(&template.public_key_der)?;
    let spki = SubjectPublicKeyInfoOwned::from_der(&template.public_key_der)
        .map_err(|e| PkiError::InvalidKeyData(e.to_string()))?;
    let subject_key_id = public_key.key_identifier()?;
    let tbs = TbsCertificate {
        version: Version::V3,
        serial_number: SerialNumber::new(&template.serial)
            .map_err(|e| PkiError::InvalidCertificate(format!("serial number: {e}")))?,
        signature: algorithm.identifier(),
        issuer: issuer.name.clone(),
        validity: Validity { not_before: time(template.not_before)?, not_after: time(template.not_after)? },
        subject: template.subject.clone(),
        subject_public_key_info: spki,
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: Some(build_extensions(template, &subject_key_id, issuer.key_identifier)?),
    };
    let tbs_der = tbs.to_der().map_err(|e| PkiError::InvalidCertificate(e.to_string()))?;
    let signature = issuer.signer.sign(&tbs_der)?;
    let cert = Certificate {
        tbs_certificate: tbs,
        signature_algorithm: algorithm.identifier(),
        signature: BitString::from_bytes(&signature).map_err(|e| PkiError::InvalidCertificate(e.to_string()))?,
    };
    let der = cert.to_der().map_err(|e| PkiError::InvalidCertificate(e.to_string()))?;
    Cert::from_der(&der)
}

/// A parsed certificate with its DER.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cert {
    der: Vec<u8>,
    parsed: Certificate,
}

impl Cert {
    /// Parses DER.
    pub fn from_der(der: &[u8]) -> Result<Self, PkiError> {
        let parsed = Certificate::from_der(der).map_err(|e| PkiError::InvalidCertificate(e.to_string()))?;
        Ok(Self { der: der.to_vec(), parsed })
    }

    /// Parses the first certificate of PEM text.
    pub fn from_pem(pem: &str) -> Result<Self, PkiError> {
        let (label, der) = crate::pem::decode(pem)?;
        if label != "CERTIFICATE" {
            return Err(PkiError::InvalidPem(format!("expected a CERTIFICATE, found {label}")));
        }
        Self::from_der(&der)
    }

    pub fn der(&self) -> &[u8] {
        &self.der
    }

    pub fn to_pem(&self) -> String {
        crate::pem::encode("CERTIFICATE", &self.der)
    }

    /// The serial number as lower-case hex without leading zeros.
    pub fn serial_hex(&self) -> String {
        serial_hex(self.parsed.tbs_certificate.serial_number.as_bytes())
    }

    pub fn subject(&self) -> &Name {
        &self.parsed.tbs_certificate.subject
    }

    pub fn issuer(&self) -> &Name {
        &self.parsed.tbs_certificate.issuer
    }

    pub fn subject_string(&self) -> String {
        dn_string(self.subject())
    }

    pub fn issuer_string(&self) -> String {
        dn_string(self.issuer())
    }

    pub fn common_name(&self) -> Option<String> {
        first_common_name(self.subject())
    }

    /// notBefore in epoch seconds.
    pub fn not_before(&self) -> i64 {
        self.parsed.tbs_certificate.validity.not_before.to_unix_duration().as_secs() as i64
    }

    /// notAfter in epoch seconds.
    pub fn not_after(&self) -> i64 {
        self.parsed.tbs_certificate.validity.not_after.to_unix_duration().as_secs() as i64
    }

    /// The certified public key.
    pub fn public_key(&self) -> Result<PublicKey, PkiError> {
        PublicKey::from_spki(&self.parsed.tbs_certificate.subject_public_key_info)
    }

    /// SHA-256 fingerprint of the DER, lower-case hex.
    pub fn fingerprint_sha256(&self) -> String {
        crate::digest::hex(&crate::digest::sha256(&self.der))
    }

    fn extension<T: for<'a> Decode<'a>>(&self, oid: Oid) -> Result<Option<(bool, T)>, PkiError> {
        let Some(exts) = &self.parsed.tbs_certificate.extensions else { return Ok(None) };
        exts.iter()
            .find(|e| e.extn_id == oid)
            .map(|e| {
                T::from_der(e.extn_value.as_bytes())
                    .map(|v| (e.critical, v))
                    .map_err(|err| PkiError::InvalidCertificate(format!("extension {oid}: {err}")))
            })
            .transpose()
    }

    /// Subject alternative names the engine models (DNS, IP, email, URI).
    pub fn sans(&self) -> Result<Vec<San>, PkiError> {
        Ok(self
            .extension::<SubjectAltName>(rfc5280::ID_CE_SUBJECT_ALT_NAME)?
            .map(|(_, s)| s.0.iter().filter_map(San::from_general_name).collect())
            .unwrap_or_default())
    }

    /// `Some(path_len)` when this is a CA certificate.
    pub fn ca(&self) -> Result<Option<Option<u8>>, PkiError> {
        Ok(self
            .extension::<BasicConstraints>(rfc5280::ID_CE_BASIC_CONSTRAINTS)?
            .and_then(|(_, bc)| bc.ca.then_some(bc.path_len_constraint)))
    }

    /// The subject key identifier, or one computed from the key when the extension is absent.
    pub fn key_identifier(&self) -> Result<Vec<u8>, PkiError> {
        match self.extension::<SubjectKeyIdentifier>(rfc5280::ID_CE_SUBJECT_KEY_IDENTIFIER)? {
            Some((_, ski)) => Ok(ski.0.as_bytes().to_vec()),
            None => self.public_key()?.key_identifier(),
        }
    }

    /// The signature algorithm the certificate was signed with.
    pub fn signature_algorithm(&self) -> Result<SignatureAlgorithm, PkiError> {
        SignatureAlgorithm::from_identifier(&self.parsed.signature_algorithm)
    }

    /// Checks that `issuer` signed this certificate.
    pub fn verify_signed_by(&self, issuer: &PublicKey) -> Result<(), PkiError> {
        if self.parsed.signature_algorithm != self.parsed.tbs_certificate.signature {
            return Err(PkiError::BadSignature("outer and inner signature algorithms differ".to_owned()));
        }
        let tbs = self.parsed.tbs_certificate.to_der().map_err(|e| PkiError::InvalidCertificate(e.to_string()))?;
        let sig = self
            .parsed
            .signature
            .as_bytes()
            .ok_or_else(|| PkiError::BadSignature("signature has unused bits".to_owned()))?;
        issuer.verify(self.signature_algorithm()?, &tbs, sig)
    }
}
