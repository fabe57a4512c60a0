//! The Palo Alto Networks Strata Cloud Manager face under `/config/identity/v1`: certificates named within a
//! folder, snippet or device, generated here (self-signed or signed by a CA certificate of the same scope),
//! imported (PEM, DER, PKCS#12), exported (PEM, DER, PKCS#12) and deleted. Authentication by
//! `Authorization: Bearer <API token or OAuth2 access token>`; errors in SCM's `_errors` body.

mod error;
pub mod openapi;

use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine;
use certwright_core::auth::Ctx;
use certwright_core::keystore::{Scope, ScopeFilter, ScopedCertificate};
use certwright_core::page::Page;
use certwright_core::services::{GenerateRequest, ScopedImport};
use certwright_pki::cert::Cert;
use certwright_pki::key::PublicKeyKind;
use certwright_pki::{details, pem};
pub use error::ScmError;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use uuid::Uuid;
use zeroize::Zeroizing;

/// The path prefix the face is mounted under.
pub const BASE: &str = "/config/identity/v1";

/// The SCM routes, relative to [`BASE`]. `POST /certificates/{id}:export` is routed through
/// `/certificates/{id}`, whose POST accepts only the `:export` action.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/certificates", get(list).post(generate))
        .route("/certificates:import", post(import))
        .route("/certificates/{id}", get(get_one).delete(delete).post(action))
        .route("/openapi.json", get(openapi::document))
        .fallback(|| async { ScmError::not_found("no such resource") })
        .method_not_allowed_fallback(|| async {
            ScmError::new(StatusCode::METHOD_NOT_ALLOWED, "E012", "Method Not Supported")
        })
}

/// An authenticated caller: `Authorization: Bearer <token>`, where the token is an API token or an access token
/// from `POST /v1/oauth/token` (client credentials).
#[derive(Debug)]
pub struct ScmAuth {
    ctx: Ctx,
}

impl FromRequestParts<AppState> for ScmAuth {
    type Rejection = ScmError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ScmError> {
        let value = parts.headers.get(header::AUTHORIZATION).ok_or_else(|| {
            ScmError::unauthenticated("Not Authenticated")
                .detail("send 'Authorization: Bearer <API token or OAuth2 access token>'")
        })?;
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, token)| scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty())
            .map(|(_, token)| token.trim().to_owned())
            .ok_or_else(|| {
                ScmError::unauthenticated("Not Authenticated")
                    .detail("the Authorization header must be 'Bearer <token>'")
            })?;
        let ctx = super::context(state, parts, &token).await?;
        Ok(ScmAuth { ctx })
    }
}

// ---------------------------------------------------------------------------------------------------------
// Input helpers

fn body_of(headers: &HeaderMap, b: Result<Bytes, BytesRejection>) -> Result<Bytes, ScmError> {
    let bytes = b.map_err(|e| ScmError::new(e.status(), "E003", format!("Invalid Object: {}", e.body_text())))?;
    if let Some(ct) = headers.get(header::CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or_default().to_ascii_lowercase();
        if !ct.starts_with("application/json") && !bytes.is_empty() {
            return Err(ScmError::new(StatusCode::BAD_REQUEST, "E003", "Input Format Mismatch: input-format=json"));
        }
    }
    Ok(bytes)
}

fn json_body<T: serde::de::DeserializeOwned>(
    headers: &HeaderMap,
    b: Result<Bytes, BytesRejection>,
) -> Result<T, ScmError> {
    let bytes = body_of(headers, b)?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ScmError::new(StatusCode::BAD_REQUEST, "E003", "Missing Body"));
    }
    serde_json::from_slice(&bytes).map_err(|e| {
        if e.is_syntax() || e.is_eof() {
            ScmError::new(StatusCode::BAD_REQUEST, "E003", format!("Malformed Command: the body is not JSON: {e}"))
        } else {
            ScmError::invalid(e)
        }
    })
}

/// The one scope of `folder`, `snippet` and `device`, when one is given; two or more are refused.
fn scope_of(folder: Option<&str>, snippet: Option<&str>, device: Option<&str>) -> Result<Option<Scope>, ScmError> {
    let given: Vec<(&str, &str)> = [("folder", folder), ("snippet", snippet), ("device", device)]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect();
    match given.as_slice() {
        [] => Ok(None),
        [(kind, name)] => Ok(Some(Scope::new(kind, name)?)),
        _ => Err(ScmError::invalid("give exactly one of folder, snippet or device")),
    }
}

fn id_of(raw: &str) -> Result<Uuid, ScmError> {
    Uuid::parse_str(raw).map_err(|_| {
        ScmError::invalid(format!("'{}' is not a certificate id (a UUID)", raw.chars().take(40).collect::<String>()))
    })
}

fn base64_field(field: &str, value: &str) -> Result<Vec<u8>, ScmError> {
    let compact: String = value.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map_err(|_| ScmError::invalid(format!("{field} is not valid base64")))
}

fn check_len(field: &str, value: &str, max: usize) -> Result<(), ScmError> {
    if value.chars().count() > max {
        return Err(ScmError::invalid(format!("{field} must be at most {max} characters")));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------
// The certificate object

/// `/CN=…/O=…`, the one-line form PAN-OS shows.
fn oneline(name: &certwright_pki::names::Name) -> String {
    details::name_fields(name)
        .into_iter()
        .map(|(k, v)| format!("/{}={v}", if k == "EMAILADDRESS" { "emailAddress" } else { k.as_str() }))
        .collect()
}

fn date(t: i64) -> String {
    certwright_core::clock::to_rfc3339(t).chars().take(10).collect()
}

/// The certificates-get object of a scoped certificate.
fn cert_object(s: &ScopedCertificate) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(s.certificate_uuid));
    m.insert("name".into(), json!(s.name));
    m.insert(s.scope.kind().into(), json!(s.scope.name()));
    if let Ok(cert) = Cert::from_der(&s.der) {
        let key = cert.public_key().ok();
        let algorithm = match key.as_ref().map(|k| &k.kind) {
            Some(PublicKeyKind::Rsa { .. }) => "RSA",
            Some(PublicKeyKind::Ecdsa(_)) => "EC",
            Some(PublicKeyKind::Ed25519) => "Ed25519",
            _ => "unknown",
        };
        let cn = cert.common_name().unwrap_or_default();
        m.insert("algorithm".into(), json!(algorithm));
        m.insert("ca".into(), json!(matches!(cert.ca(), Ok(Some(_)))));
        m.insert("common_name".into(), json!(cn));
        m.insert("common_name_int".into(), json!(cn));
        m.insert("expiry_epoch".into(), json!(cert.not_after().to_string()));
        m.insert("issuer".into(), json!(oneline(cert.issuer())));
        m.insert("issuer_hash".into(), json!(details::openssl_name_hash(cert.issuer())));
        m.insert("not_valid_after".into(), json!(date(cert.not_after())));
        m.insert("not_valid_before".into(), json!(date(cert.not_before())));
        m.insert("public_key".into(), json!(key.map(|k| pem::encode("PUBLIC KEY", k.der()))));
        m.insert("subject".into(), json!(oneline(cert.subject())));
        m.insert("subject_hash".into(), json!(details::openssl_name_hash(cert.subject())));
        m.insert("subject_int".into(), json!(cert.subject_string()));
    }
    Value::Object(m)
}

// ---------------------------------------------------------------------------------------------------------
// Handlers

/// `GET /certificates`: `name`, `folder` | `snippet` | `device`, `limit` (default 200), `offset`.
async fn list(
    auth: ScmAuth,
    State(state): State<AppState>,
    q: Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::Json<Value>, ScmError> {
    let Query(q) = q.map_err(|e| {
        ScmError::new(StatusCode::BAD_REQUEST, "E003", format!("Invalid Query Parameter: {}", e.body_text()))
    })?;
    if let Some((k, v)) =
        q.iter().find(|(k, _)| !["name", "folder", "snippet", "device", "limit", "offset"].contains(&k.as_str()))
    {
        let shown: String = format!("{k}={v}").chars().take(80).collect();
        return Err(ScmError::new(StatusCode::BAD_REQUEST, "E003", format!("Invalid Query Parameter: {shown}")));
    }
    let number = |k: &str, default: u64, max: u64| -> Result<u64, ScmError> {
        match q.get(k) {
            None => Ok(default),
            Some(v) => v.parse::<u64>().ok().filter(|n| *n <= max).ok_or_else(|| {
                let shown: String = v.chars().take(40).collect();
                ScmError::new(
                    StatusCode::BAD_REQUEST,
                    "E003",
                    format!("Invalid Query Parameter: {k}={shown} (an integer from 0 to {max})"),
                )
            }),
        }
    };
    let limit = number("limit", 200, u64::from(certwright_core::page::MAX_LIMIT))?;
    let offset = number("offset", 0, i64::MAX as u64)?;
    let scope = scope_of(
        q.get("folder").map(String::as_str),
        q.get("snippet").map(String::as_str),
        q.get("device").map(String::as_str),
    )?;
    let filter = ScopeFilter { name: q.get("name").cloned(), scope };
    // limit=0 asks only for the total.
    let page = Page::new(Some(u32::try_from(limit.max(1)).unwrap_or(1)), Some(offset))?;
    let listed = state.services.scoped_certificates(&auth.ctx, &filter, page).await?;
    let data: Vec<Value> = if limit == 0 { Vec::new() } else { listed.items.iter().map(cert_object).collect() };
    Ok(axum::Json(json!({ "data": data, "limit": limit, "offset": offset, "total": listed.total })))
}

async fn find(state: &AppState, auth: &ScmAuth, raw: &str) -> Result<ScopedCertificate, ScmError> {
    let id = id_of(raw)?;
    state.services.scoped_certificate(&auth.ctx, id).await.map_err(|e| match e {
        certwright_core::CoreError::NotFound { .. } => ScmError::not_found(format!("no certificate has id {id}")),
        other => other.into(),
    })
}

/// `GET /certificates/{id}`.
async fn get_one(
    auth: ScmAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<axum::Json<Value>, ScmError> {
    if let Some((_, action)) = id.split_once(':') {
        return Err(action_not_supported(action));
    }
    Ok(axum::Json(cert_object(&find(&state, &auth, &id).await?)))
}

/// `DELETE /certificates/{id}`: 200 with the deleted object; 409 E009 while it signed certificates of its scope.
async fn delete(
    auth: ScmAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<axum::Json<Value>, ScmError> {
    if let Some((_, action)) = id.split_once(':') {
        return Err(action_not_supported(action));
    }
    let s = find(&state, &auth, &id).await?;
    state.services.delete_scoped(&auth.ctx, s.certificate_uuid).await?;
    Ok(axum::Json(cert_object(&s)))
}

fn action_not_supported(action: &str) -> ScmError {
    let shown: String = action.chars().take(40).collect();
    ScmError::new(StatusCode::METHOD_NOT_ALLOWED, "E012", format!("Action Not Supported: {shown}"))
}

/// The `algorithm` object of a generate request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AlgorithmDto {
    rsa_number_of_bits: Option<u32>,
    ecdsa_number_of_bits: Option<u32>,
}

/// The certificates-post body (generate). Unknown fields are ignored; wrong types are refused.
#[derive(Debug, Deserialize)]
struct GenerateDto {
    certificate_name: String,
    common_name: String,
    algorithm: AlgorithmDto,
    digest: Option<String>,
    day_till_expiration: Option<u32>,
    signed_by: Option<String>,
    is_certificate_authority: Option<bool>,
    #[serde(rename = "is_block_privateKey")]
    is_block_private_key: Option<bool>,
    ocsp_responder_url: Option<String>,
    #[serde(default)]
    alternate_email: Vec<String>,
    #[serde(default)]
    hostname: Vec<String>,
    #[serde(default)]
    ip: Vec<String>,
    email: Option<String>,
    country_code: Option<String>,
    state: Option<String>,
    locality: Option<String>,
    #[serde(default)]
    department: Vec<String>,
    folder: Option<String>,
    snippet: Option<String>,
    device: Option<String>,
}

fn generate_request(d: GenerateDto) -> Result<GenerateRequest, ScmError> {
    let scope = scope_of(d.folder.as_deref(), d.snippet.as_deref(), d.device.as_deref())?
        .ok_or_else(|| ScmError::invalid("give exactly one of folder, snippet or device"))?;
    for (field, value, max) in [
        ("signed_by", d.signed_by.as_deref(), 64),
        ("ocsp_responder_url", d.ocsp_responder_url.as_deref(), 64),
        ("email", d.email.as_deref(), 255),
        ("state", d.state.as_deref(), 32),
        ("locality", d.locality.as_deref(), 64),
    ] {
        if let Some(v) = value {
            check_len(field, v, max)?;
        }
    }
    for (field, items) in [("hostname", &d.hostname), ("ip", &d.ip)] {
        if items.iter().any(|v| v.is_empty() || v.chars().count() > 64) {
            return Err(ScmError::invalid(format!("each {field} must be 1 to 64 characters")));
        }
    }
    let country = d.country_code.filter(|c| !c.is_empty());
    if let Some(c) = &country {
        if c.len() != 2 || !c.chars().all(|ch| ch.is_ascii_alphabetic()) {
            return Err(ScmError::invalid("country_code must be a two-letter ISO 3166 code"));
        }
    }
    let mut subject: Vec<(&'static str, String)> = Vec::new();
    subject.extend(country.map(|c| ("C", c.to_ascii_uppercase())));
    subject.extend(d.state.map(|v| ("ST", v)));
    subject.extend(d.locality.map(|v| ("L", v)));
    subject.extend(d.department.into_iter().map(|v| ("OU", v)));
    subject.extend(d.email.filter(|e| !e.is_empty()).map(|v| ("emailAddress", v)));
    let sans = d
        .hostname
        .iter()
        .map(|h| format!("dns:{h}"))
        .chain(d.ip.iter().map(|i| format!("ip:{i}")))
        .chain(d.alternate_email.iter().map(|e| format!("email:{e}")))
        .collect();
    Ok(GenerateRequest {
        scope: Some(scope),
        name: d.certificate_name,
        common_name: d.common_name,
        rsa_bits: d.algorithm.rsa_number_of_bits,
        ecdsa_bits: d.algorithm.ecdsa_number_of_bits,
        digest: d.digest,
        days: d.day_till_expiration,
        signed_by: d.signed_by,
        ca: d.is_certificate_authority.unwrap_or(false),
        block_private_key: d.is_block_private_key.unwrap_or(false),
        ocsp_url: d.ocsp_responder_url.filter(|u| !u.is_empty()),
        subject,
        sans,
    })
}

/// `POST /certificates`: generate → 201 with the certificate object.
async fn generate(
    auth: ScmAuth,
    State(state): State<AppState>,
    headers: HeaderMap,
    b: Result<Bytes, BytesRejection>,
) -> Result<Response, ScmError> {
    let dto: GenerateDto = json_body(&headers, b)?;
    let req = generate_request(dto)?;
    let s = state.services.generate_scoped(&auth.ctx, req).await.map_err(|e| match e {
        // A signer named in the body is a reference to fix in the body.
        certwright_core::CoreError::NotFound { code: "scope.signer_not_found", .. } => {
            ScmError::invalid(format!("signed_by: {e}"))
        }
        other => other.into(),
    })?;
    Ok((StatusCode::CREATED, axum::Json(cert_object(&s))).into_response())
}

/// The certificates-import body.
#[derive(Debug, Deserialize)]
struct ImportDto {
    name: String,
    certificate_file: String,
    format: Option<String>,
    key_file: Option<String>,
    passphrase: Option<String>,
    folder: Option<String>,
    snippet: Option<String>,
    device: Option<String>,
}

/// `POST /certificates:import` → 201 with the certificate object and the format read.
async fn import(
    auth: ScmAuth,
    State(state): State<AppState>,
    headers: HeaderMap,
    b: Result<Bytes, BytesRejection>,
) -> Result<Response, ScmError> {
    let dto: ImportDto = json_body(&headers, b)?;
    let scope = scope_of(dto.folder.as_deref(), dto.snippet.as_deref(), dto.device.as_deref())?
        .ok_or_else(|| ScmError::invalid("give exactly one of folder, snippet or device"))?;
    let format = dto.format.as_deref().unwrap_or("pem");
    let certificate = base64_field("certificate_file", &dto.certificate_file)?;
    let is_pem = std::str::from_utf8(&certificate).is_ok_and(|t| t.contains("-----BEGIN"));
    let matches = match format {
        "pem" => is_pem,
        "der" => certificate.first() == Some(&0x30) && !certwright_pki::pkcs12::is_pkcs12(&certificate),
        "pkcs12" => certwright_pki::pkcs12::is_pkcs12(&certificate),
        other => {
            let shown: String = other.chars().take(20).collect();
            return Err(ScmError::invalid(format!("format '{shown}' is not one of pem, pkcs12, der")));
        }
    };
    if !matches {
        return Err(ScmError::invalid(format!("certificate_file does not hold {format} data")));
    }
    if format == "pkcs12" && dto.key_file.is_some() {
        return Err(ScmError::invalid("a pkcs12 file carries its own key: do not send key_file"));
    }
    let key = dto.key_file.as_deref().map(|k| base64_field("key_file", k)).transpose()?.map(Zeroizing::new);
    let req = ScopedImport {
        scope: Some(scope),
        name: dto.name,
        certificate,
        key,
        passphrase: dto.passphrase.filter(|p| !p.is_empty()).map(Zeroizing::new),
    };
    let s = state.services.import_scoped(&auth.ctx, req).await?;
    let mut object = cert_object(&s);
    if let Some(o) = object.as_object_mut() {
        o.insert("format".into(), json!(format));
    }
    Ok((StatusCode::CREATED, axum::Json(object)).into_response())
}

/// The export-certificate-payload body.
#[derive(Debug, Deserialize)]
struct ExportDto {
    format: String,
    passphrase: Option<String>,
}

/// `POST /certificates/{id}:export` (the only action of `POST /certificates/{id}`).
async fn action(
    auth: ScmAuth,
    State(state): State<AppState>,
    Path(raw): Path<String>,
    headers: HeaderMap,
    b: Result<Bytes, BytesRejection>,
) -> Result<Response, ScmError> {
    let Some((id, action)) = raw.split_once(':') else {
        return Err(ScmError::new(StatusCode::METHOD_NOT_ALLOWED, "E012", "Method Not Supported"));
    };
    if action != "export" {
        return Err(action_not_supported(action));
    }
    let s = find(&state, &auth, id).await?;
    let dto: ExportDto = json_body(&headers, b)?;
    let passphrase = dto.passphrase.filter(|p| !p.is_empty()).map(Zeroizing::new);
    if let Some(p) = &passphrase {
        if !(8..=1024).contains(&p.chars().count()) {
            return Err(ScmError::invalid("passphrase must be 8 to 1024 characters"));
        }
    }
    let with_key = match dto.format.as_str() {
        "pem" => passphrase.is_some(),
        "pkcs12" => true,
        "der" => false,
        "pkcs10" => {
            return Err(ScmError::invalid(
                "format pkcs10 is not offered: certificates here are generated or imported, not requested",
            ))
        }
        other => {
            let shown: String = other.chars().take(20).collect();
            return Err(ScmError::invalid(format!("format '{shown}' is not one of pem, pkcs12, der")));
        }
    };
    if dto.format == "pkcs12" && passphrase.is_none() {
        return Err(ScmError::invalid("a pkcs12 export needs a passphrase (8 to 1024 characters)"));
    }
    let export = state.services.export_scoped(&auth.ctx, s.certificate_uuid, with_key).await?;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let certificate = match dto.format.as_str() {
        "der" => b64(&s.der),
        "pem" => {
            let mut out: String = export.chain.iter().map(|der| pem::encode("CERTIFICATE", der)).collect();
            if let (Some(key), Some(p)) = (&export.key_pkcs8, &passphrase) {
                let encrypted = certwright_pki::pkcs8::encrypt(key, p).map_err(certwright_core::CoreError::from)?;
                out.push_str(&pem::encode("ENCRYPTED PRIVATE KEY", &encrypted));
            }
            out
        }
        _ => {
            let p = passphrase.ok_or_else(|| ScmError::invalid("a pkcs12 export needs a passphrase"))?;
            let key = export.key_pkcs8.ok_or_else(|| {
                ScmError::invalid(if s.key_id.is_some() {
                    format!(
                        "the private key of '{}' is blocked from export (is_block_privateKey): export format pem or \
                         der for the certificate alone",
                        s.name
                    )
                } else {
                    format!(
                        "no private key is held for '{}': export format pem or der for the certificate alone",
                        s.name
                    )
                })
            })?;
            let cn = Cert::from_der(&s.der).ok().and_then(|c| c.common_name());
            let file = certwright_pki::pkcs12::export(&key, &export.chain, &p, Some(cn.as_deref().unwrap_or(&s.name)))
                .map_err(certwright_core::CoreError::from)?;
            b64(&file)
        }
    };
    Ok((StatusCode::CREATED, axum::Json(json!({ "certificate": certificate }))).into_response())
}
