//! The certificate inventory, revocation, upload and download.

use super::envelope::{Answer, SsError};
use super::params::{clip, Params};
use super::requests::{authority_names, code_of, domain_code, form_filter, masked, numbered, page_of};
use super::{date_time, parse_date, publish, Generation, SsCall};
use crate::state::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use base64::Engine;
use certwright_core::ca::Origin;
use certwright_core::forms::{CertificateStanding, FormCertificate, FormCertificateFilter};
use certwright_core::revocation::RevocationReason;
use certwright_core::services::{ImportRequest, RevokeOutcome, RevokeRequest, Upload};
use certwright_pki::pem;
use serde_json::{json, Value};
use zeroize::Zeroizing;

/// The inventory and revocation routes of every generation.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/iso/certificate/list", get(list_certificates))
        .route("/iso/certificate/list/{code}", get(list_certificates))
        .route("/iso/certificado/listar", get(list_certificates))
        .route("/iso/certificado/listar/{code}", get(list_certificates))
        .route("/api/certificate/list", get(list_certificates))
        .route("/api/certificate/list/{code}", get(list_certificates))
        .route("/api/v1/certificates", get(list_certificates))
        .route("/iso/certificate/revoke", post(revoke))
        .route("/iso/certificate/revoke/{code}", post(revoke))
        .route("/api/certificate/revoke", post(revoke))
        .route("/api/certificate/upload", put(upload))
        .route("/api/certificate/download", post(download))
}

// ---------------------------------------------------------------------------------------------------------
// Certificates

fn origin_code(o: Origin) -> &'static str {
    match o {
        Origin::Discovery => "SCAN",
        Origin::Import => "IMPO",
        _ => "REQU",
    }
}

fn origins_of(v: &str) -> Result<Vec<Origin>, SsError> {
    match v.to_ascii_uppercase().as_str() {
        "SCAN" => Ok(vec![Origin::Discovery]),
        "IMPO" => Ok(vec![Origin::Import]),
        "REQU" => Ok(vec![Origin::Request, Origin::Acme, Origin::System]),
        _ => Err(SsError::invalid(format!("origin_certificate must be SCAN, REQU or IMPO, got '{}'", clip(v)))),
    }
}

/// `rsa-2048` → (`RSA`, 2048).
fn key_parts(algorithm: &str) -> (String, Value) {
    match algorithm.split_once('-') {
        Some((family, size)) => match size.parse::<u32>() {
            Ok(bits) => (family.to_ascii_uppercase(), json!(bits)),
            Err(_) => (family.to_ascii_uppercase(), json!(size.trim_start_matches('p').parse::<u32>().ok())),
        },
        None => (algorithm.to_ascii_uppercase(), Value::Null),
    }
}

/// `ecdsa-sha256`, `rsa-pkcs1-sha384` → `sha256`, `sha384`.
fn signature_digest(sig: &str) -> String {
    sig.rsplit('-').next().filter(|d| d.starts_with("sha")).unwrap_or(sig).to_owned()
}

fn render_certificate(c: &FormCertificate, authorities: &[(i64, String)], published: (Value, Value)) -> Value {
    let r = &c.certificate;
    let (family, bits) = key_parts(&r.key_algorithm);
    let form = c.form.as_ref().map(|v| &v.form);
    let ca = r.authority_id.map(|id| {
        let name = authorities.iter().find(|(a, _)| *a == id).map_or("", |(_, n)| n.as_str());
        numbered(id, name)
    });
    let active = !matches!(c.standing, CertificateStanding::Revoked | CertificateStanding::Expired);
    let (publish_info, device) = published;
    json!({
        "code_certificate": r.id,
        "certificate_code": r.id,
        "uuid": r.uuid,
        "code_request": form.map(|f| f.id),
        "status_certificate": c.standing.code(),
        "status_certified": numbered(c.standing.code(), c.standing.name()),
        "active": i64::from(active),
        "start_validity": date_time(r.not_before),
        "end_validity": date_time(r.not_after),
        "origin_certificate": origin_code(r.origin),
        "type_certificate": form.map(|f| f.validation_level.code()),
        "type_domain": form.map(|f| domain_code(f.domain_kind)),
        "organization": form.map(|f| f.organization_id),
        "common_name": r.common_name,
        "subject": r.subject,
        "issuer": r.issuer,
        "serial": r.serial,
        "san": r.sans.iter().map(|s| s.split_once(':').map_or(s.as_str(), |(_, v)| v)).collect::<Vec<_>>(),
        "tags": form.map(|f| f.terms.tags.clone()),
        "encryption": family,
        "encryption_key_size": bits,
        "algorithm_certified": signature_digest(&r.signature_algorithm),
        "validity": (r.not_after - r.not_before + 43_200) / 86_400,
        "password_key": masked(&c.passwords.key_password_hash),
        "password_revocation": masked(&c.passwords.revocation_password_hash),
        "environments": form.map(|f| f.terms.environments.clone()),
        "systems": form.map(|f| f.terms.systems.clone()),
        "project": form.and_then(|f| f.project.clone()),
        "ip_external": form.and_then(|f| f.external_ip.clone()),
        "ip_hostname": form.and_then(|f| f.hostname.clone()),
        "self_signed": i64::from(c.self_signed),
        "ca": ca,
        "responsible": form.and_then(|f| f.responsible_id),
        "description": form.and_then(|f| f.description.clone()),
        "fingerprint": r.fingerprint,
        "publish_info": publish_info,
        "device": device,
    })
}

fn certificate_filter(p: &Params, code: Option<i64>) -> Result<FormCertificateFilter, SsError> {
    let mut form = form_filter(p, None)?;
    // The names are the certificate's own, whatever it came from.
    let common_name = form.common_name.take();
    let sans = std::mem::take(&mut form.sans);
    let key_family = form.key_family.take().map(|f| f.as_str().to_owned());
    let (key_size, digest, validity_days) = (form.key_size.take(), form.digest.take(), form.validity_days.take());
    Ok(FormCertificateFilter {
        id: code.or(p.int(&["code_certificate", "code_ certificate", "certificate_code", "codigo_certificado"])?),
        status: p
            .int(&["status_certificate", "status_certified"])?
            .map(|s| {
                CertificateStanding::from_code(s)
                    .ok_or_else(|| SsError::invalid(format!("status_certificate must be 1, 2, 3 or 4, got {s}")))
            })
            .transpose()?,
        active: p.flag(&["active"])?,
        expires_from: p.text(&["start_validity"]).map(|v| parse_date("start_validity", &v, false)).transpose()?,
        expires_to: p.text(&["end_validity"]).map(|v| parse_date("end_validity", &v, true)).transpose()?,
        origins: p.text(&["origin_certificate"]).map(|v| origins_of(&v)).transpose()?.unwrap_or_default(),
        self_signed: p.flag(&["self_signed"])?,
        authority_id: p.int(&["ca"])?,
        common_name,
        sans,
        key_family,
        key_size,
        digest,
        validity_days,
        now: 0,
        renewal_window: 0,
        profile_windows: Vec::new(),
        form,
    })
}

async fn list_certificates(State(state): State<AppState>, call: SsCall) -> Result<Response, SsError> {
    let (auth, p, generation) = (&call.auth, &call.params, call.generation);
    let code = code_of("code_certificate", call.code.as_deref(), p, &[])?;
    let filter = certificate_filter(p, code)?;
    let page = page_of(p)?;
    let listed = state.services.list_form_certificates(&auth.ctx, filter, page).await?;
    let authorities = authority_names(&state, auth).await;
    if let Some(code) = code.filter(|_| call.code.is_some()) {
        if listed.items.is_empty() {
            return Err(SsError::not_found(1049, format!("no certificate {code}")));
        }
    }
    let records: Vec<_> = listed.items.iter().map(|c| &c.certificate).collect();
    let mut published = publish::publish_infos(&state, auth, &records).await?;
    let items: Vec<Value> = listed
        .items
        .iter()
        .map(|c| render_certificate(c, &authorities, published.remove(&c.certificate.id).unwrap_or_default()))
        .collect();
    if call.code.is_some() {
        let one = items.into_iter().next().unwrap_or_default();
        return Ok(generation.one(Answer::ok(), "certificate", one));
    }
    Ok(generation.many("certificates", items, listed.total))
}

async fn revoke(State(state): State<AppState>, call: SsCall) -> Result<Response, SsError> {
    let (auth, p, generation) = (&call.auth, &call.params, call.generation);
    let code = code_of("code_certificate", call.code.as_deref(), p, &["code_certificate", "certificate_code", "id"])?
        .ok_or_else(|| SsError::missing("code_certificate"))?;
    let reason = match p.text(&["reason", "motivo"]) {
        None => RevocationReason::Unspecified,
        Some(r) => RevocationReason::parse(&r).map_err(|e| SsError::invalid(e.to_string()))?,
    };
    let password = p.secret(&["password_revogation", "password_revocation", "revoke_password", "senha_revogacao"]);
    let req = RevokeRequest { reason, invalidity_date: None, destroy_key: false };
    let outcome =
        state.services.revoke_with_password(&auth.ctx, code, &req, password.as_deref().map(String::as_str)).await?;
    let (state_name, pending) = match &outcome {
        RevokeOutcome::Revoked(r) => (r.certificate.state.clone(), false),
        RevokeOutcome::Pending { certificate, .. } => (certificate.state.clone(), true),
    };
    Ok(generation.one(
        Answer::ok(),
        "certificate",
        json!({ "code_certificate": code, "state": state_name, "reason": reason.name(), "pending": pending }),
    ))
}

// ---------------------------------------------------------------------------------------------------------
// Upload and download

fn base64_field(field: &str, value: &str) -> Result<Vec<u8>, SsError> {
    let compact: String = value.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD.decode(compact.as_bytes()).map_err(|_| {
        SsError::bad(if field == "certificate" { 1041 } else { 1042 }, format!("{field} is not valid base64"))
    })
}

/// `PUT /api/certificate/upload`: a base64 PEM, DER or PFX certificate with an optional key and passwords.
async fn upload(State(state): State<AppState>, call: SsCall) -> Result<Response, SsError> {
    let (auth, p) = (&call.auth, &call.params);
    let extension = p.text(&["extension"]).ok_or_else(|| SsError::missing("extension"))?;
    let extension = extension.trim_start_matches('.').to_ascii_lowercase();
    if !matches!(extension.as_str(), "pem" | "crt" | "cer" | "der" | "pfx" | "p12") {
        return Err(SsError::invalid(format!(
            "extension must be pem, crt, cer, der, pfx or p12, got '{}'",
            clip(&extension)
        )));
    }
    let certificate = p.text(&["certificate"]).ok_or_else(|| SsError::bad(1041, "certificate is empty"))?;
    let certificate = base64_field("certificate", &certificate)?;
    if certificate.is_empty() {
        return Err(SsError::bad(1041, "certificate is empty"));
    }
    let private_key = match p.raw(&["private_key"]) {
        None => None,
        Some(k) if k.is_empty() => return Err(SsError::bad(1043, "private_key was sent empty")),
        Some(k) => Some(Zeroizing::new(base64_field("private_key", &k)?)),
    };
    let password = p.secret(&["password"]).filter(|s| !s.is_empty());
    let upload = Upload {
        import: ImportRequest { certificate, password: password.clone(), private_key, private_key_password: None },
        key_password: password,
        revocation_password: p.secret(&["revoke_password", "password_revogation"]),
    };
    let imported = state.services.upload_certificate(&auth.ctx, upload).await?;
    let r = imported.record;
    Ok(Answer::ok()
        .with_response_field("status_certificate", json!(1))
        .with(
            "certificate",
            json!({
                "code_certificate": r.id, "uuid": r.uuid, "serial": r.serial, "common_name": r.common_name,
                "end_validity": date_time(r.not_after), "private_key": r.key_id.is_some(),
                "validation": imported.validation.status,
            }),
        )
        .into_response())
}

/// `POST /api/certificate/download`: `{id, format: pfx|pem|crt, download_key, password}`.
async fn download(State(state): State<AppState>, call: SsCall) -> Result<Response, SsError> {
    let (auth, p) = (&call.auth, &call.params);
    let id = p.int(&["id", "code_certificate", "certificate_code"])?.ok_or_else(|| SsError::missing("id"))?;
    let format = p.text(&["format"]).unwrap_or_else(|| "pem".to_owned()).to_ascii_lowercase();
    if !matches!(format.as_str(), "pem" | "crt" | "pfx") {
        return Err(SsError::invalid(format!("format must be pfx, pem or crt, got '{}'", clip(&format))));
    }
    // Decided before anything is exported: a PKCS#12 file always holds the key and needs a password to protect
    // it; a DER certificate never holds one.
    let with_key = match format.as_str() {
        "pfx" => true,
        "pem" => p.flag(&["download_key"])?.unwrap_or(false),
        _ => false,
    };
    let password = p.secret(&["password"]).filter(|s| !s.is_empty());
    if format == "pfx" && password.is_none() {
        return Err(SsError::missing("password"));
    }
    let d =
        state.services.download_certificate(&auth.ctx, id, with_key, password.as_deref().map(String::as_str)).await?;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let mut chain_pem = pem::encode("CERTIFICATE", &d.certificate.der);
    for c in &d.chain {
        chain_pem.push_str(&pem::encode("CERTIFICATE", c));
    }
    let out = match (format.as_str(), &d.key) {
        ("pfx", Some(key)) => {
            let password = password.as_ref().ok_or_else(|| SsError::missing("password"))?;
            let mut certs = vec![d.certificate.der.clone()];
            certs.extend(d.chain.iter().cloned());
            let file = certwright_pki::pkcs12::export(key, &certs, password, d.certificate.common_name.as_deref())
                .map_err(certwright_core::CoreError::from)?;
            json!({ "format": "pfx", "certificate": b64(&file) })
        }
        ("crt", _) => json!({ "format": "crt", "certificate": b64(&d.certificate.der) }),
        (_, key) => {
            let mut v = json!({ "format": "pem", "certificate": b64(chain_pem.as_bytes()) });
            if let (Some(key), Value::Object(o)) = (key, &mut v) {
                let (label, der) = match &password {
                    Some(pw) => (
                        "ENCRYPTED PRIVATE KEY",
                        certwright_pki::pkcs8::encrypt(key, pw).map_err(certwright_core::CoreError::from)?,
                    ),
                    None => ("PRIVATE KEY", key.to_vec()),
                };
                o.insert("key".into(), json!(b64(pem::encode(label, &der).as_bytes())));
                o.insert("key_format".into(), json!("pem"));
            }
            v
        }
    };
    Ok(Generation::Api.one(Answer::ok(), "download", out))
}
