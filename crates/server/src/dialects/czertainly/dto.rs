//! CZERTAINLY's request DTOs (field names as the client operations API spells them) and the renderings of
//! certificates: `ClientCertificateDataResponseDto` and `CertificateDetailDto`.

use super::attributes::RequestAttributeDto;
use base64::Engine;
use certwright_core::ca::{Authority, CertificateRecord, RaProfile};
use certwright_core::clock::to_rfc3339;
use certwright_core::lifecycle::{CertificateLink, RequestRecord};
use certwright_core::services::Submitted;
use certwright_pki::cert::Cert;
use certwright_pki::details;
use certwright_pki::names::San;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use uuid::Uuid;

/// `ClientCertificateSignRequestDto`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignRequest {
    pub request: Option<String>,
    pub format: Option<String>,
    #[serde(default)]
    pub csr_attributes: Vec<RequestAttributeDto>,
    #[serde(default)]
    pub signature_attributes: Vec<RequestAttributeDto>,
    #[serde(default)]
    pub alt_signature_attributes: Vec<RequestAttributeDto>,
    pub token_profile_uuid: Option<String>,
    pub key_uuid: Option<String>,
    pub alt_token_profile_uuid: Option<String>,
    pub alt_key_uuid: Option<String>,
    pub attributes: Vec<RequestAttributeDto>,
    #[serde(default)]
    pub custom_attributes: Vec<RequestAttributeDto>,
}

/// `ClientCertificateRenewRequestDto`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RenewRequest {
    #[serde(default)]
    pub replace_in_locations: bool,
    pub request: Option<String>,
    pub format: Option<String>,
}

/// `ClientCertificateRekeyRequestDto`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RekeyRequest {
    #[serde(default)]
    pub replace_in_locations: bool,
    pub request: Option<String>,
    pub format: Option<String>,
    pub key_uuid: Option<String>,
    pub token_profile_uuid: Option<String>,
    pub alt_key_uuid: Option<String>,
    pub alt_token_profile_uuid: Option<String>,
    #[serde(default)]
    pub signature_attributes: Vec<RequestAttributeDto>,
    #[serde(default)]
    pub alt_signature_attributes: Vec<RequestAttributeDto>,
}

/// `ClientCertificateRevocationDto`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RevocationRequest {
    pub reason: Option<String>,
    pub attributes: Vec<RequestAttributeDto>,
    #[serde(default)]
    pub destroy_key: bool,
}

/// The finalize body: the issued certificate and certificate-level custom attributes.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FinalizeRequest {
    pub certificate: String,
    #[serde(default)]
    pub custom_attributes: Vec<RequestAttributeDto>,
}

/// The cancel body.
#[derive(Debug, Deserialize, Default)]
pub struct CancelRequest {
    pub reason: Option<String>,
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// `ClientCertificateDataResponseDto` of what a request led to: the certificate, or `""` while it waits.
pub fn data_response(submitted: &Submitted) -> Value {
    match submitted {
        Submitted::Issued(issued) => json!({ "certificateData": b64(&issued.record.der), "uuid": issued.record.uuid }),
        Submitted::Pending(p) => json!({ "certificateData": "", "uuid": p.request.uuid }),
    }
}

/// CZERTAINLY's name of a key algorithm (`rsa-2048` → `RSA`) and its size.
fn key_algorithm(name: &str) -> (&'static str, Option<u32>) {
    let family = name.split('-').next().unwrap_or_default();
    match family {
        "rsa" => ("RSA", name.strip_prefix("rsa-").and_then(|b| b.parse().ok())),
        "dsa" => ("DSA", name.strip_prefix("dsa-").and_then(|b| b.parse().ok())),
        "ecdsa" => (
            "ECDSA",
            match name {
                "ecdsa-p256" => Some(256),
                "ecdsa-p384" => Some(384),
                "ecdsa-p521" => Some(521),
                _ => None,
            },
        ),
        "ed25519" => ("Ed25519", Some(255)),
        "ml" => (
            "ML-DSA",
            match name {
                "ml-dsa-44" => Some(44),
                "ml-dsa-65" => Some(65),
                "ml-dsa-87" => Some(87),
                _ => None,
            },
        ),
        _ => ("Unknown", None),
    }
}

/// The JCA name of a signature algorithm (`ecdsa-sha256` → `SHA256withECDSA`).
fn signature_algorithm(name: &str) -> String {
    let upper = |d: &str| d.to_ascii_uppercase();
    if let Some(d) = name.strip_prefix("rsa-pkcs1-") {
        return format!("{}withRSA", upper(d));
    }
    if let Some(d) = name.strip_prefix("rsa-pss-") {
        return format!("{}withRSAandMGF1", upper(d));
    }
    if let Some(d) = name.strip_prefix("ecdsa-") {
        return format!("{}withECDSA", upper(d));
    }
    if let Some(d) = name.strip_prefix("dsa-") {
        return format!("{}withDSA", upper(d));
    }
    match name {
        "ed25519" => "Ed25519".to_owned(),
        other => other.to_ascii_uppercase(),
    }
}

/// SANs keyed by CZERTAINLY's names (`dNSName`, `iPAddress`, `rfc822Name`, `uniformResourceIdentifier`, …).
fn alt_names(sans: &[String]) -> Value {
    let mut m = Map::new();
    for key in [
        "otherName",
        "rfc822Name",
        "dNSName",
        "x400Address",
        "directoryName",
        "ediPartyName",
        "uniformResourceIdentifier",
        "iPAddress",
        "registeredID",
    ] {
        m.insert(key.to_owned(), json!([]));
    }
    for s in sans.iter().filter_map(|s| San::parse(s).ok()) {
        let (key, value) = match s {
            San::Dns(v) => ("dNSName", v),
            San::Ip(v) => ("iPAddress", v.to_string()),
            San::Email(v) => ("rfc822Name", v),
            San::Uri(v) => ("uniformResourceIdentifier", v),
        };
        if let Some(Value::Array(list)) = m.get_mut(key) {
            list.push(json!(value));
        }
    }
    Value::Object(m)
}

fn ra_profile(profile: Option<&RaProfile>, authority: Option<&Authority>) -> Value {
    match profile {
        Some(p) => json!({
            "uuid": p.uuid, "name": p.name, "enabled": p.enabled, "authorityInstanceUuid": authority.map(|a| a.uuid),
        }),
        None => Value::Null,
    }
}

/// What the detail of a certificate is rendered from.
#[derive(Debug)]
pub struct DetailContext<'a> {
    pub profile: Option<&'a RaProfile>,
    pub authority: Option<&'a Authority>,
    pub now: i64,
    /// Links of the certificate (both ways) with brief details of the linked certificates.
    pub links: Vec<(CertificateLink, Option<CertificateRecord>)>,
    /// The request the certificate was issued for, when it waited.
    pub request: Option<&'a RequestRecord>,
    /// Attributes of the revocation, when one completed here.
    pub revoke_attributes: Vec<Value>,
}

/// The fields both a certificate and a request fill, with nulls for the rest.
fn skeleton(uuid: Uuid, state: &str) -> Map<String, Value> {
    let mut m = Map::new();
    for (k, v) in [
        ("uuid", json!(uuid)),
        ("commonName", Value::Null),
        ("serialNumber", Value::Null),
        ("issuerCommonName", Value::Null),
        ("issuerDn", Value::Null),
        ("subjectDn", Value::Null),
        ("notBefore", Value::Null),
        ("notAfter", Value::Null),
        ("publicKeyAlgorithm", Value::Null),
        ("altPublicKeyAlgorithm", Value::Null),
        ("signatureAlgorithm", Value::Null),
        ("altSignatureAlgorithm", Value::Null),
        ("hybridCertificate", json!(false)),
        ("keySize", Value::Null),
        ("altKeySize", Value::Null),
        ("state", json!(state)),
        ("validationStatus", json!("not_checked")),
        ("raProfile", Value::Null),
        ("fingerprint", Value::Null),
        ("groups", json!([])),
        ("owner", Value::Null),
        ("ownerUuid", Value::Null),
        ("certificateType", json!("X.509")),
        ("issuerSerialNumber", Value::Null),
        ("complianceStatus", json!("not_checked")),
        ("issuerCertificateUuid", Value::Null),
        ("privateKeyAvailability", json!(false)),
        ("trustedCa", Value::Null),
        ("archived", json!(false)),
        ("extendedKeyUsage", json!([])),
        ("keyUsage", json!([])),
        ("subjectType", json!("endEntity")),
        ("metadata", json!([])),
        ("certificateContent", Value::Null),
        ("subjectAlternativeNames", alt_names(&[])),
        ("locations", json!([])),
        ("nonCompliantRules", json!([])),
        ("customAttributes", json!([])),
        ("key", Value::Null),
        ("altKey", Value::Null),
        ("certificateRequest", Value::Null),
        ("sourceCertificateUuid", Value::Null),
        ("issueAttributes", json!([])),
        ("revokeAttributes", json!([])),
        ("relatedCertificates", json!([])),
        ("protocolInfo", Value::Null),
        ("qcStatements", Value::Null),
    ] {
        m.insert(k.to_owned(), v);
    }
    m
}

/// The certificate fields of a certificate (the brief form related certificates are listed in).
fn certificate_fields(m: &mut Map<String, Value>, r: &CertificateRecord, cx: &DetailContext<'_>, window: u32) {
    let (family, bits) = key_algorithm(&r.key_algorithm);
    m.insert("commonName".into(), json!(r.common_name));
    m.insert("serialNumber".into(), json!(r.serial));
    m.insert("issuerDn".into(), json!(r.issuer));
    m.insert("subjectDn".into(), json!(r.subject));
    m.insert("notBefore".into(), json!(to_rfc3339(r.not_before)));
    m.insert("notAfter".into(), json!(to_rfc3339(r.not_after)));
    m.insert("publicKeyAlgorithm".into(), json!(family));
    m.insert("signatureAlgorithm".into(), json!(signature_algorithm(&r.signature_algorithm)));
    m.insert("keySize".into(), json!(bits));
    m.insert("state".into(), json!(r.state));
    m.insert("validationStatus".into(), json!(r.validation_status(cx.now, window).as_str()));
    m.insert("raProfile".into(), ra_profile(cx.profile.filter(|p| Some(p.id) == r.ra_profile_id), cx.authority));
    m.insert("fingerprint".into(), json!(r.fingerprint));
    m.insert("owner".into(), json!(r.metadata.owner));
    m.insert("privateKeyAvailability".into(), json!(r.key_id.is_some()));
    if let Some(a) = cx.authority.filter(|a| Some(a.id) == r.authority_id) {
        if let Ok(ca) = Cert::from_der(&a.certificate_der) {
            m.insert("issuerSerialNumber".into(), json!(ca.serial_hex()));
        }
    }
    if let Ok(cert) = Cert::from_der(&r.der) {
        m.insert("issuerCommonName".into(), json!(certwright_pki::names::first_common_name(cert.issuer())));
        let subject_type = match cert.ca() {
            Ok(Some(_)) if details::is_self_issued(&cert) => "rootCa",
            Ok(Some(_)) => "intermediateCa",
            _ if details::is_self_issued(&cert) => "selfSignedEndEntity",
            _ => "endEntity",
        };
        m.insert("subjectType".into(), json!(subject_type));
        if subject_type != "endEntity" && subject_type != "selfSignedEndEntity" {
            m.insert("trustedCa".into(), json!(false));
        }
    }
}

/// `CertificateDetailDto` of an inventory certificate.
pub fn certificate_detail(r: &CertificateRecord, cx: &DetailContext<'_>) -> Value {
    let window =
        cx.profile.map(|p| p.policy.renewal_window_days).unwrap_or(certwright_core::ca::DEFAULT_RENEWAL_WINDOW_DAYS);
    let mut m = skeleton(r.uuid, &r.state);
    certificate_fields(&mut m, r, cx, window);
    m.insert("certificateContent".into(), json!(b64(&r.der)));
    m.insert("subjectAlternativeNames".into(), alt_names(&r.sans));
    let custom: Vec<Value> = r
        .metadata
        .custom_attributes
        .iter()
        .map(|(k, v)| {
            json!({ "name": k, "label": k, "type": "custom", "contentType": "string", "version": "v2",
                              "content": [{ "data": v }] })
        })
        .collect();
    m.insert("customAttributes".into(), json!(custom));
    if let Ok(cert) = Cert::from_der(&r.der) {
        m.insert("keyUsage".into(), json!(details::key_usages(&cert)));
        let ekus: Vec<String> = details::extended_key_usages(&cert).iter().map(ToString::to_string).collect();
        m.insert("extendedKeyUsage".into(), json!(ekus));
    }
    if let Some(req) = cx.request {
        m.insert("certificateRequest".into(), request_object(req));
    }
    let mut related = Vec::new();
    for (link, other) in &cx.links {
        if link.certificate == r.uuid {
            m.insert("sourceCertificateUuid".into(), json!(link.previous));
        }
        if let Some(o) = other {
            let mut brief = skeleton(o.uuid, &o.state);
            certificate_fields(&mut brief, o, cx, window);
            for k in [
                "extendedKeyUsage",
                "keyUsage",
                "subjectType",
                "metadata",
                "certificateContent",
                "subjectAlternativeNames",
                "locations",
                "nonCompliantRules",
                "customAttributes",
                "key",
                "altKey",
                "certificateRequest",
                "sourceCertificateUuid",
                "issueAttributes",
                "revokeAttributes",
                "relatedCertificates",
                "protocolInfo",
                "qcStatements",
            ] {
                brief.remove(k);
            }
            related.push(Value::Object(brief));
        }
    }
    m.insert("relatedCertificates".into(), json!(related));
    m.insert("revokeAttributes".into(), json!(cx.revoke_attributes));
    Value::Object(m)
}

fn request_object(req: &RequestRecord) -> Value {
    let (family, _) = key_algorithm(&req.key_algorithm);
    json!({
        "uuid": req.uuid, "certificateType": "X.509", "certificateRequestFormat": "pkcs10",
        "publicKeyAlgorithm": family, "signatureAlgorithm": null, "altSignatureAlgorithm": null,
        "content": req.csr.as_deref().map(b64), "commonName": req.common_name, "subjectDn": req.subject,
        "subjectAlternativeNames": alt_names(&req.sans), "attributes": [], "signatureAttributes": [],
        "altSignatureAttributes": [], "keyUuid": null, "altKeyUuid": null, "complianceStatus": "not_checked",
    })
}

/// `CertificateDetailDto` of a request that has no certificate (yet): waiting, failed or rejected.
pub fn request_detail(req: &RequestRecord, profile: Option<&RaProfile>, authority: Option<&Authority>) -> Value {
    let (family, bits) = key_algorithm(&req.key_algorithm);
    let mut m = skeleton(req.uuid, req.state.as_str());
    m.insert("commonName".into(), json!(req.common_name));
    m.insert("subjectDn".into(), json!(req.subject));
    m.insert("publicKeyAlgorithm".into(), json!(family));
    m.insert("keySize".into(), json!(bits));
    m.insert("raProfile".into(), ra_profile(profile, authority));
    m.insert("privateKeyAvailability".into(), json!(req.key_id.is_some()));
    m.insert("issuerDn".into(), json!(authority.filter(|a| !a.certificate_der.is_empty()).map(|a| &a.subject)));
    m.insert("subjectAlternativeNames".into(), alt_names(&req.sans));
    m.insert("certificateRequest".into(), request_object(req));
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithm_names_follow_jca() {
        assert_eq!(key_algorithm("rsa-3072"), ("RSA", Some(3072)));
        assert_eq!(key_algorithm("ecdsa-p384"), ("ECDSA", Some(384)));
        assert_eq!(key_algorithm("ml-dsa-65"), ("ML-DSA", Some(65)));
        assert_eq!(signature_algorithm("ecdsa-sha256"), "SHA256withECDSA");
        assert_eq!(signature_algorithm("rsa-pkcs1-sha384"), "SHA384withRSA");
        assert_eq!(signature_algorithm("ml-dsa-65"), "ML-DSA-65");
        let names = alt_names(&["dns:a.example".into(), "ip:192.0.2.1".into(), "email:x@example.com".into()]);
        assert_eq!(names["dNSName"], json!(["a.example"]));
        assert_eq!(names["iPAddress"], json!(["192.0.2.1"]));
        assert_eq!(names["rfc822Name"], json!(["x@example.com"]));
        assert_eq!(names["registeredID"], json!([]));
    }
}
