//! What keystore faces show of a certificate beyond its names and dates (key usages, extended key usages, CRL
//! distribution points, key identifiers, the attributes of its names), and PKCS#10 requests built for keys
//! generated here.

use crate::cert::Cert;
use crate::key::{PrivateKey, Signer};
use crate::names::San;
use crate::PkiError;
use const_oid::db::rfc5280;
use const_oid::ObjectIdentifier as Oid;
use der::asn1::{BitString, OctetString, SetOfVec};
use der::{Any, Decode, Encode};
use x509_cert::attr::Attribute;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, CrlDistributionPoints, ExtendedKeyUsage, KeyUsage, KeyUsages, SubjectAltName,
    SubjectKeyIdentifier,
};
use x509_cert::ext::Extension;
use x509_cert::name::Name;
use x509_cert::request::{CertReq, CertReqInfo, ExtensionReq};

fn extension(cert: &Cert, oid: Oid) -> Option<Vec<u8>> {
    let parsed = x509_cert::Certificate::from_der(cert.der()).ok()?;
    parsed.tbs_certificate.extensions?.into_iter().find(|e| e.extn_id == oid).map(|e| e.extn_value.into_bytes())
}

/// The keyUsage bits set, in X.509 spelling (`digitalSignature`, `keyEncipherment`, …); empty without the
/// extension.
pub fn key_usages(cert: &Cert) -> Vec<&'static str> {
    let Some(ku) = extension(cert, rfc5280::ID_CE_KEY_USAGE).and_then(|v| KeyUsage::from_der(&v).ok()) else {
        return Vec::new();
    };
    let all = [
        (KeyUsages::DigitalSignature, "digitalSignature"),
        (KeyUsages::NonRepudiation, "nonRepudiation"),
        (KeyUsages::KeyEncipherment, "keyEncipherment"),
        (KeyUsages::DataEncipherment, "dataEncipherment"),
        (KeyUsages::KeyAgreement, "keyAgreement"),
        (KeyUsages::KeyCertSign, "keyCertSign"),
        (KeyUsages::CRLSign, "cRLSign"),
        (KeyUsages::EncipherOnly, "encipherOnly"),
        (KeyUsages::DecipherOnly, "decipherOnly"),
    ];
    all.into_iter().filter(|(flag, _)| ku.0.contains(*flag)).map(|(_, name)| name).collect()
}

/// The extendedKeyUsage purposes; empty without the extension.
pub fn extended_key_usages(cert: &Cert) -> Vec<Oid> {
    extension(cert, rfc5280::ID_CE_EXT_KEY_USAGE)
        .and_then(|v| ExtendedKeyUsage::from_der(&v).ok())
        .map(|e| e.0)
        .unwrap_or_default()
}

/// The extendedKeyUsage purposes by their X.509 short names (`serverAuth`, `clientAuth`, `emailProtection`,
/// `codeSigning`, `OCSPSigning`, `timeStamping`), others as dotted OIDs.
pub fn extended_key_usage_names(cert: &Cert) -> Vec<String> {
    extended_key_usages(cert)
        .into_iter()
        .map(|oid| match oid {
            o if o == rfc5280::ID_KP_SERVER_AUTH => "serverAuth".to_owned(),
            o if o == rfc5280::ID_KP_CLIENT_AUTH => "clientAuth".to_owned(),
            o if o == rfc5280::ID_KP_EMAIL_PROTECTION => "emailProtection".to_owned(),
            o if o == rfc5280::ID_KP_CODE_SIGNING => "codeSigning".to_owned(),
            o if o == rfc5280::ID_KP_OCSP_SIGNING => "OCSPSigning".to_owned(),
            o if o == rfc5280::ID_KP_TIME_STAMPING => "timeStamping".to_owned(),
            o => o.to_string(),
        })
        .collect()
}

/// The URIs of the cRLDistributionPoints extension (full names only).
pub fn crl_urls(cert: &Cert) -> Vec<String> {
    let Some(points) =
        extension(cert, rfc5280::ID_CE_CRL_DISTRIBUTION_POINTS).and_then(|v| CrlDistributionPoints::from_der(&v).ok())
    else {
        return Vec::new();
    };
    points
        .0
        .iter()
        .filter_map(|p| match &p.distribution_point {
            Some(DistributionPointName::FullName(names)) => Some(names),
            _ => None,
        })
        .flatten()
        .filter_map(|n| match n {
            GeneralName::UniformResourceIdentifier(u) => Some(u.to_string()),
            _ => None,
        })
        .collect()
}

/// The subjectKeyIdentifier, when present.
pub fn subject_key_id(cert: &Cert) -> Option<Vec<u8>> {
    extension(cert, rfc5280::ID_CE_SUBJECT_KEY_IDENTIFIER)
        .and_then(|v| SubjectKeyIdentifier::from_der(&v).ok())
        .map(|s| s.0.as_bytes().to_vec())
}

/// The keyIdentifier of the authorityKeyIdentifier, when present.
pub fn authority_key_id(cert: &Cert) -> Option<Vec<u8>> {
    extension(cert, rfc5280::ID_CE_AUTHORITY_KEY_IDENTIFIER)
        .and_then(|v| AuthorityKeyIdentifier::from_der(&v).ok())
        .and_then(|a| a.key_identifier)
        .map(|k| k.as_bytes().to_vec())
}

/// Whether the certificate names itself as issuer.
pub fn is_self_issued(cert: &Cert) -> bool {
    cert.subject() == cert.issuer()
}

/// The attributes of a name in order, each as (short name or dotted OID, value).
pub fn name_fields(name: &Name) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for atv in name.0.iter().flat_map(|rdn| rdn.0.iter()) {
        let field = match atv.oid {
            o if o == const_oid::db::rfc4519::CN => "CN".to_owned(),
            o if o == const_oid::db::rfc4519::O => "O".to_owned(),
            o if o == const_oid::db::rfc4519::OU => "OU".to_owned(),
            o if o == const_oid::db::rfc4519::C => "C".to_owned(),
            o if o == const_oid::db::rfc4519::ST => "ST".to_owned(),
            o if o == const_oid::db::rfc4519::L => "L".to_owned(),
            o if o == const_oid::db::rfc4519::STREET => "STREET".to_owned(),
            o if o == const_oid::db::rfc4519::DC => "DC".to_owned(),
            o if o == const_oid::db::rfc4519::UID => "UID".to_owned(),
            o if o == const_oid::db::rfc3280::EMAIL_ADDRESS => "EMAILADDRESS".to_owned(),
            o => o.to_string(),
        };
        let value = atv
            .value
            .decode_as::<String>()
            .ok()
            .or_else(|| atv.value.decode_as::<der::asn1::PrintableStringRef<'_>>().ok().map(|s| s.to_string()))
            .or_else(|| atv.value.decode_as::<der::asn1::Ia5StringRef<'_>>().ok().map(|s| s.to_string()))
            .unwrap_or_else(|| crate::digest::hex(atv.value.value()));
        out.push((field, value));
    }
    out
}

/// The name hash OpenSSL files and looks certificates up by (`openssl x509 -subject_hash`, `-issuer_hash`): the
/// first four octets, read little-endian, of the SHA-1 of the name's canonical encoding. That encoding is the
/// name's RDN sets concatenated without the outer SEQUENCE, each text value re-encoded as a UTF8String with
/// surrounding whitespace removed, inner whitespace runs collapsed to one space and ASCII letters lower-cased.
pub fn openssl_name_hash(name: &Name) -> Option<String> {
    use der::{Tag, Tagged};
    let mut canon = Vec::new();
    for rdn in name.0.iter() {
        let mut atvs = Vec::new();
        for atv in rdn.0.iter() {
            let value = match atv.value.tag() {
                Tag::Utf8String | Tag::PrintableString | Tag::Ia5String | Tag::VisibleString | Tag::TeletexString => {
                    let text = String::from_utf8_lossy(atv.value.value());
                    let collapsed = text.split_ascii_whitespace().collect::<Vec<_>>().join(" ");
                    Any::new(Tag::Utf8String, collapsed.to_ascii_lowercase().into_bytes()).ok()?
                }
                _ => atv.value.clone(),
            };
            atvs.push(x509_cert::attr::AttributeTypeAndValue { oid: atv.oid, value });
        }
        canon.extend(SetOfVec::try_from(atvs).ok()?.to_der().ok()?);
    }
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, &canon);
    let d = digest.as_ref();
    Some(format!("{:08x}", u32::from_le_bytes([*d.first()?, *d.get(1)?, *d.get(2)?, *d.get(3)?])))
}

/// A PKCS#10 request for `key`, naming `subject` and asking for `sans` (none: no extension request), signed with
/// the key.
pub fn build_csr(key: &PrivateKey, subject: &Name, sans: &[San]) -> Result<Vec<u8>, PkiError> {
    let enc = |e: der::Error| PkiError::InvalidCsr(e.to_string());
    let mut attributes = SetOfVec::new();
    if !sans.is_empty() {
        let names = sans.iter().map(San::to_general_name).collect::<Result<Vec<_>, _>>()?;
        let san = Extension {
            extn_id: rfc5280::ID_CE_SUBJECT_ALT_NAME,
            critical: subject.0.is_empty(),
            extn_value: OctetString::new(SubjectAltName(names).to_der().map_err(enc)?).map_err(enc)?,
        };
        let request = ExtensionReq(vec![san]);
        let mut values = SetOfVec::new();
        values.insert(Any::from_der(&request.to_der().map_err(enc)?).map_err(enc)?).map_err(enc)?;
        attributes.insert(Attribute { oid: ExtensionReq::OID, values }).map_err(enc)?;
    }
    let public_key = spki::SubjectPublicKeyInfoOwned::from_der(&Signer::public_key_der(key))
        .map_err(|e| PkiError::InvalidKeyData(e.to_string()))?;
    let info =
        CertReqInfo { version: x509_cert::request::Version::V1, subject: subject.clone(), public_key, attributes };
    let tbs = info.to_der().map_err(enc)?;
    let signature = Signer::sign(key, &tbs)?;
    let req = CertReq {
        info,
        algorithm: Signer::signature_algorithm(key).identifier(),
        signature: BitString::from_bytes(&signature).map_err(enc)?,
    };
    req.to_der().map_err(enc)
}

use const_oid::AssociatedOid;
