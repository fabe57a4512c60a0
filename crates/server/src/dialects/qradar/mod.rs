//! The IBM QRadar face under `/api`: staged end certificates validated on upload (codes 2001–2034), their
//! deployed view and full chain, components, CSRs with server-held keys, staged root certificates, and deploys.
//! Authentication by `SEC: <API token>` or HTTP Basic (the password is an API token); errors in QRadar's body.

mod error;
pub mod openapi;
pub mod query;

use crate::dialects::fetch::HttpCrlFetcher;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use base64::Engine;
use certwright_core::auth::{Ctx, Role};
use certwright_core::keystore::{Component, DeployKind, DeployRun, StageStatus, StagedCertificate, StagedRoot};
use certwright_core::services::{KeyRequestSpec, StageRequest};
use certwright_pki::cert::Cert;
use certwright_pki::details;
pub use error::QError;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use zeroize::Zeroizing;

/// The QRadar routes, relative to `/api`.
pub fn router() -> Router<AppState> {
    let end = "/staged_config/certificates/end_certificates";
    let csr = "/staged_config/certificates/certificate_signing_request";
    let roots = "/staged_config/certificates/root_certificates";
    Router::new()
        .route(end, get(list_staged).post(create_staged))
        .route(&format!("{end}/{{id}}"), get(get_staged).post(update_staged).delete(delete_staged))
        .route("/config/certificates/end_certificates", get(list_deployed))
        .route("/config/certificates/end_certificates/{id}", get(get_deployed))
        .route("/config/certificates/end_certificates/{id}/full_chain", get(full_chain))
        .route("/config/certificates/components", get(components))
        .route(csr, get(list_csrs).post(create_csr))
        .route(&format!("{csr}/{{id}}"), get(get_csr).delete(delete_csr))
        .route(roots, get(list_roots).post(create_root))
        .route(&format!("{roots}/{{id}}"), get(get_root).delete(delete_root))
        .route("/staged_config/deploy_status", get(deploy_status).post(deploy))
        .route("/openapi.json", get(openapi::document))
        .fallback(|| async { QError::not_found("No such endpoint.") })
        .method_not_allowed_fallback(|| async {
            QError::new(StatusCode::METHOD_NOT_ALLOWED, 0, "This endpoint does not support that method.")
        })
}

/// An authenticated QRadar caller; `admin` callers (admin and operator roles) see every field.
#[derive(Debug)]
pub struct QAuth {
    ctx: Ctx,
    admin: bool,
}

impl FromRequestParts<AppState> for QAuth {
    type Rejection = QError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, QError> {
        let sec = parts.headers.get("sec").and_then(|v| v.to_str().ok()).map(|s| s.trim().to_owned());
        let secret = sec.filter(|s| !s.is_empty()).or_else(|| super::basic_password(parts)).ok_or_else(|| {
            QError::new(
                StatusCode::UNAUTHORIZED,
                0,
                "Send 'SEC: <authorized service token>' or HTTP Basic credentials.",
            )
        })?;
        let ctx = super::context(state, parts, &secret).await?;
        let admin = matches!(ctx.caller.role, Role::Admin | Role::Operator);
        Ok(QAuth { ctx, admin })
    }
}

/// `fields`, `filter` and `sort` of list and object requests.
#[derive(Debug, Deserialize, Default)]
struct ListParams {
    fields: Option<String>,
    filter: Option<String>,
    sort: Option<String>,
}

type Params = Result<Query<ListParams>, axum::extract::rejection::QueryRejection>;

fn params(p: Params) -> Result<ListParams, QError> {
    p.map(|Query(p)| p).map_err(|e| QError::invalid(1101, e.body_text()))
}

fn body(b: Result<Bytes, BytesRejection>) -> Result<Bytes, QError> {
    b.map_err(|e| QError::new(e.status(), 1005, e.body_text()))
}

fn json_body<T: serde::de::DeserializeOwned>(b: Result<Bytes, BytesRejection>) -> Result<T, QError> {
    let bytes = body(b)?;
    if bytes.is_empty() {
        return Err(QError::invalid(1005, "The request body is missing."));
    }
    serde_json::from_slice(&bytes).map_err(|e| QError::invalid(1005, format!("The request body is not valid: {e}")))
}

fn id_of(raw: &str) -> Result<i64, QError> {
    raw.parse::<i64>().map_err(|_| {
        QError::invalid(1005, format!("'{}' is not an integer id", raw.chars().take(40).collect::<String>()))
    })
}

fn ms(secs: i64) -> i64 {
    secs.saturating_mul(1000)
}

fn name_list(name: &certwright_pki::names::Name) -> Value {
    Value::Array(details::name_fields(name).into_iter().map(|(f, v)| json!({ "field_name": f, "value": v })).collect())
}

fn key_usage(cert: &Cert) -> Vec<&'static str> {
    details::key_usages(cert)
        .into_iter()
        .map(|u| match u {
            "digitalSignature" => "DIGITAL_SIGNATURE",
            "nonRepudiation" => "NON_REPUDIATION",
            "keyEncipherment" => "KEY_ENCIPHERMENT",
            "dataEncipherment" => "DATA_ENCIPHERMENT",
            "keyAgreement" => "KEY_AGREEMENT",
            "keyCertSign" => "KEY_CERT_SIGN",
            "cRLSign" => "CRL_SIGN",
            "encipherOnly" => "ENCIPHER_ONLY",
            _ => "DECIPHER_ONLY",
        })
        .collect()
}

fn extended_key_usage(cert: &Cert) -> Vec<String> {
    details::extended_key_usage_names(cert)
        .into_iter()
        .map(|name| match name.as_str() {
            "serverAuth" => "TLS_Web_server_authentication".to_owned(),
            "clientAuth" => "TLS_Web_client_authentication".to_owned(),
            "emailProtection" => "Email_protection".to_owned(),
            "codeSigning" => "CODE_SIGNING".to_owned(),
            "OCSPSigning" => "OCSP_SIGNING".to_owned(),
            "timeStamping" => "TIME_STAMPING".to_owned(),
            _ => name,
        })
        .collect()
}

fn status_name(s: StageStatus) -> &'static str {
    match s {
        StageStatus::DeployPending => "DEPLOY_PENDING",
        StageStatus::Deployed => "DEPLOYED",
        _ => "DELETE_PENDING",
    }
}

const END_FIELDS: [&str; 21] = [
    "id",
    "name",
    "purpose",
    "component_id",
    "component_name",
    "status",
    "subject",
    "issuer",
    "not_before",
    "expiry",
    "serial_number",
    "key_usage",
    "extended_key_usage",
    "certificate_revocation_list_distribution_point",
    "validation",
    "csr_id",
    "key_file",
    "key_password",
    "ca_chain_file",
    "cert_file",
    "csrId",
];

/// The end-certificate object; callers who are not administrators see only `id` and `name`.
fn end_object(s: &StagedCertificate, components: &[Component], admin: bool) -> Map<String, Value> {
    let mut m = Map::new();
    for f in END_FIELDS.iter().take(20) {
        m.insert((*f).to_owned(), Value::Null);
    }
    m.insert("id".into(), json!(s.id));
    m.insert("name".into(), json!(s.name));
    if !admin {
        return m;
    }
    m.insert("purpose".into(), json!(s.purpose.to_ascii_uppercase()));
    m.insert("component_id".into(), json!(s.component_id.unwrap_or(0)));
    m.insert(
        "component_name".into(),
        json!(s.component_id.and_then(|id| components.iter().find(|c| c.id == id)).map(|c| c.name.clone())),
    );
    m.insert("status".into(), json!(status_name(s.status)));
    m.insert("validation".into(), json!(s.validation));
    if let Ok(cert) = Cert::from_der(&s.der) {
        m.insert("subject".into(), name_list(cert.subject()));
        m.insert("issuer".into(), name_list(cert.issuer()));
        m.insert("not_before".into(), json!(ms(cert.not_before())));
        m.insert("expiry".into(), json!(ms(cert.not_after())));
        m.insert("serial_number".into(), json!(cert.serial_hex()));
        m.insert("key_usage".into(), json!(key_usage(&cert)));
        m.insert("extended_key_usage".into(), json!(extended_key_usage(&cert)));
        let cdp = details::crl_urls(&cert);
        m.insert(
            "certificate_revocation_list_distribution_point".into(),
            if cdp.is_empty() { Value::Null } else { json!(cdp.join(",")) },
        );
    }
    m
}

fn root_object(r: &StagedRoot) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("id".into(), json!(r.key_id_hex));
    m.insert("status".into(), json!(status_name(r.status)));
    m.insert("validation".into(), json!(0));
    if let Ok(cert) = Cert::from_der(&r.der) {
        let hex = |v: Option<Vec<u8>>| v.map(|b| certwright_pki::digest::hex(&b));
        m.insert("subject_key_id".into(), json!(hex(details::subject_key_id(&cert))));
        m.insert("authority_key_id".into(), json!(hex(details::authority_key_id(&cert))));
        m.insert("subject".into(), name_list(cert.subject()));
        m.insert("issuer".into(), name_list(cert.issuer()));
        m.insert("not_before".into(), json!(ms(cert.not_before())));
        m.insert("expiry".into(), json!(ms(cert.not_after())));
        m.insert("serial_number".into(), json!(cert.serial_hex()));
        m.insert("key_usage".into(), json!(key_usage(&cert)));
    }
    m
}

/// Applies filter, sort, Range and fields to a list and renders it.
fn list(
    mut items: Vec<Map<String, Value>>,
    p: &ListParams,
    headers: &HeaderMap,
    known: &[&str],
) -> Result<Response, QError> {
    if let Some(f) = p.filter.as_deref().filter(|f| !f.trim().is_empty()) {
        let filter = query::parse_filter(f)
            .map_err(|e| QError::invalid(1101, format!("filter criteria defined is invalid: {e}")))?;
        if let Some(unknown) = filter.fields().into_iter().find(|f| !known.contains(f)) {
            return Err(QError::invalid(
                1101,
                format!("filter criteria defined is invalid: unknown field '{unknown}'"),
            ));
        }
        items.retain(|i| filter.matches(i));
    }
    if let Some(s) = p.sort.as_deref() {
        query::sort(&mut items, s, known).map_err(|e| QError::invalid(1101, e))?;
    }
    let total = items.len();
    let mut content_range = None;
    if let Some(range) = headers.get("range").and_then(|v| v.to_str().ok()) {
        let (x, y) = query::parse_range(range)
            .ok_or_else(|| QError::invalid(36, "The Range header must be 'items=x-y' with x <= y."))?;
        items = items.into_iter().skip(x).take(y - x + 1).collect();
        let end = if items.is_empty() { x } else { x + items.len() - 1 };
        content_range = Some(format!("items {x}-{end}/{total}"));
    }
    let items: Vec<Value> = items
        .into_iter()
        .map(|i| {
            Value::Object(match p.fields.as_deref() {
                Some(f) => query::select(i, f),
                None => i,
            })
        })
        .collect();
    let mut resp = axum::Json(items).into_response();
    if let Some(cr) = content_range.and_then(|c| HeaderValue::from_str(&c).ok()) {
        resp.headers_mut().insert(header::CONTENT_RANGE, cr);
    }
    Ok(resp)
}

fn one(item: Map<String, Value>, fields: Option<&str>) -> axum::Json<Value> {
    axum::Json(Value::Object(match fields {
        Some(f) => query::select(item, f),
        None => item,
    }))
}

async fn staged_list(state: &AppState, auth: &QAuth, deployed_only: bool) -> Result<Vec<Map<String, Value>>, QError> {
    let components = state.services.components(&auth.ctx).await?;
    Ok(state
        .services
        .staged_certificates(&auth.ctx)
        .await?
        .iter()
        .filter(|s| !deployed_only || s.status != StageStatus::DeployPending)
        .map(|s| end_object(s, &components, auth.admin))
        .collect())
}

async fn list_staged(
    auth: QAuth,
    axum::extract::State(state): axum::extract::State<AppState>,
    headers: HeaderMap,
    p: Params,
) -> Result<Response, QError> {
    let p = params(p)?;
    list(staged_list(&state, &auth, false).await?, &p, &headers, &END_FIELDS)
}

async fn list_deployed(
    auth: QAuth,
    axum::extract::State(state): axum::extract::State<AppState>,
    headers: HeaderMap,
    p: Params,
) -> Result<Response, QError> {
    let p = params(p)?;
    list(staged_list(&state, &auth, true).await?, &p, &headers, &END_FIELDS)
}

async fn find_staged(
    state: &AppState,
    auth: &QAuth,
    raw: &str,
    deployed_only: bool,
) -> Result<StagedCertificate, QError> {
    let id = id_of(raw)?;
    let missing = || QError::not_found("No certificate exists with this ID.");
    let s = state.services.staged_certificate(&auth.ctx, id).await.map_err(|e| match e {
        certwright_core::CoreError::NotFound { .. } => missing(),
        other => other.into(),
    })?;
    if deployed_only && s.status == StageStatus::DeployPending {
        return Err(missing());
    }
    Ok(s)
}

async fn get_staged(
    auth: QAuth,
    axum::extract::State(state): axum::extract::State<AppState>,
    Path(id): Path<String>,
    p: Params,
) -> Result<axum::Json<Value>, QError> {
    let p = params(p)?;
    let s = find_staged(&state, &auth, &id, false).await?;
    let components = state.services.components(&auth.ctx).await?;
    Ok(one(end_object(&s, &components, auth.admin), p.fields.as_deref()))
}

async fn get_deployed(
    auth: QAuth,
    axum::extract::State(state): axum::extract::State<AppState>,
    Path(id): Path<String>,
    p: Params,
) -> Result<axum::Json<Value>, QError> {
    let p = params(p)?;
    let s = find_staged(&state, &auth, &id, true).await?;
    let components = state.services.components(&auth.ctx).await?;
    Ok(one(end_object(&s, &components, auth.admin), p.fields.as_deref()))
}

fn chain_object(cert: &Cert) -> Value {
    json!({
        "subject": name_list(cert.subject()), "issuer": name_list(cert.issuer()),
        "serial_number": cert.serial_hex(), "not_before": ms(cert.not_before()), "expiry": ms(cert.not_after()),
        "key_usage": key_usage(cert), "cert_file": cert.to_pem(),
    })
}

async fn full_chain(
    auth: QAuth,
    axum::extract::State(state): axum::extract::State<AppState>,
    Path(id): Path<String>,
) -> Result<axum::Json<Value>, QError> {
    let s = find_staged(&state, &auth, &id, true).await?;
    if !auth.admin {
        return Err(QError::new(StatusCode::FORBIDDEN, 0, "Only administrators may read certificate contents."));
    }
    let components = state.services.components(&auth.ctx).await?;
    let mut end = end_object(&s, &components, true);
    let leaf = Cert::from_der(&s.der).map_err(|e| QError::invalid(1103, e.to_string()))?;
    end.insert("cert_file".into(), json!(leaf.to_pem()));
    let chain: Vec<Cert> = s.chain.iter().filter_map(|d| Cert::from_der(d).ok()).collect();
    let (root, intermediates) = match chain.split_last() {
        Some((last, rest)) if details::is_self_issued(last) => (Some(last), rest),
        _ => (None, chain.as_slice()),
    };
    let root = root.map(|r| {
        let mut v = chain_object(r);
        if let Some(o) = v.as_object_mut() {
            o.insert("id".into(), json!(details::subject_key_id(r).map(|k| certwright_pki::digest::hex(&k))));
        }
        v
    });
    Ok(axum::Json(json!({
        "end_certificate": end,
        "intermediate_chain": intermediates.iter().map(chain_object).collect::<Vec<_>>(),
        "root_certificate": root,
    })))
}

/// The upload body; wrong types are refused, unknown fields ignored (clients send the whole response object).
#[derive(Debug, Deserialize, Default)]
struct EndCertificateDto {
    name: Option<String>,
    purpose: Option<String>,
    component_id: Option<i64>,
    key_file: Option<String>,
    key_password: Option<String>,
    csr_id: Option<i64>,
    ca_chain_file: Option<String>,
    cert_file: Option<String>,
}

fn stage_request(dto: EndCertificateDto, update: bool) -> StageRequest {
    let nonempty = |s: Option<String>| s.filter(|v| !v.trim().is_empty());
    StageRequest {
        name: nonempty(dto.name),
        purpose: nonempty(dto.purpose),
        component_id: match (dto.component_id, update) {
            (None, true) => None,
            (c, _) => Some(c.filter(|c| *c != 0)),
        },
        cert: nonempty(dto.cert_file),
        key: nonempty(dto.key_file).map(Zeroizing::new),
        key_password: nonempty(dto.key_password).map(Zeroizing::new),
        key_request_id: dto.csr_id.filter(|c| *c != 0),
        chain: nonempty(dto.ca_chain_file),
    }
}

fn fields_header(headers: &HeaderMap) -> Option<String> {
    headers.get("fields").and_then(|v| v.to_str().ok()).map(str::to_owned)
}

async fn create_staged(
    auth: QAuth,
    axum::extract::State(state): axum::extract::State<AppState>,
    headers: HeaderMap,
    b: Result<Bytes, BytesRejection>,
) -> Result<Response, QError> {
    let dto: EndCertificateDto = json_body(b)?;
    let s = state.services.stage_certificate(&auth.ctx, stage_request(dto, false), &HttpCrlFetcher).await?;
    let components = state.services.components(&auth.ctx).await?;
    let mut resp =
        (StatusCode::CREATED, one(end_object(&s, &components, auth.admin), fields_header(&headers).as_deref()))
            .into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("/api/staged_config/certificates/end_certificates/{}", s.id)) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

async fn update_staged(
    auth: QAuth,
    axum::extract::State(state): axum::extract::State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    b: Result<Bytes, BytesRejection>,
) -> Result<axum::Json<Value>, QError> {
    let s = find_staged(&state, &auth, &id, false).await?;
    let dto: EndCertificateDto = json_body(b)?;
    let s =
        state.services.update_staged_certificate(&auth.ctx, s.id, stage_request(dto, true), &HttpCrlFetcher).await?;
    let components = state.services.components(&auth.ctx).await?;
    Ok(one(end_object(&s, &components, auth.admin), fields_header(&headers).as_deref()))
}

async fn delete_staged(
    auth: QAuth,
    axum::extract::State(state): axum::extract::State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, QError> {
    let s = find_staged(&state, &auth, &id, false).await?;
    state.services.delete_staged_certificate(&auth.ctx, s.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn components(
    auth: QAuth,
    axum::extract::State(state): axum::extract::State<AppState>,
    headers: HeaderMap,
    p: Params,
) -> Result<Response, QError> {
    let p = params(p)?;
    let items = state
        .services
        .components(&auth.ctx)
        .await?
        .into_iter()
        .map(|c| json!({ "id": c.id, "name": c.name }).as_object().cloned().unwrap_or_default())
        .collect();
    list(items, &p, &headers, &["id", "name"])
}

async fn list_csrs(
    auth: QAuth,
    axum::extract::State(state): axum::extract::State<AppState>,
    headers: HeaderMap,
    p: Params,
) -> Result<Response, QError> {
    let p = params(p)?;
    let items = state
        .services
        .key_requests(&auth.ctx)
        .await?
        .into_iter()
        .map(|k| {
            json!({ "id": k.id, "create_time": ms(k.created_at), "description": k.description })
                .as_object()
                .cloned()
                .unwrap_or_default()
        })
        .collect();
    list(items, &p, &headers, &["id", "create_time", "description"])
}

/// The CSR model. Strings are limited to 64 characters by the subject rules.
#[derive(Debug, Deserialize)]
struct CsrModel {
    key_size: Option<u32>,
    description: Option<String>,
    purpose: Option<String>,
    country_name: Option<String>,
    state_province: Option<String>,
    locality: Option<String>,
    organization_name: Option<String>,
    organizational_unit: Option<String>,
    common_name: Option<String>,
    street_address: Option<String>,
    domain_component: Option<String>,
    user_id: Option<String>,
    #[serde(default)]
    dns: Vec<String>,
    #[serde(default)]
    ip_addresses: Vec<String>,
    #[serde(default)]
    emails: Vec<String>,
    #[serde(default)]
    uri_list: Vec<String>,
}

async fn create_csr(
    auth: QAuth,
    axum::extract::State(state): axum::extract::State<AppState>,
    b: Result<Bytes, BytesRejection>,
) -> Result<Response, QError> {
    let m: CsrModel = json_body(b)?;
    let purpose = m.purpose.ok_or_else(|| QError::invalid(1036, "purpose is required"))?;
    let subject: Vec<(&'static str, String)> = [
        ("CN", m.common_name),
        ("O", m.organization_name),
        ("OU", m.organizational_unit),
        ("L", m.locality),
        ("ST", m.state_province),
        ("C", m.country_name),
        ("STREET", m.street_address),
        ("DC", m.domain_component),
        ("UID", m.user_id),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.filter(|v| !v.is_empty()).map(|v| (k, v)))
    .collect();
    let sans = m
        .dns
        .iter()
        .map(|d| format!("dns:{d}"))
        .chain(m.ip_addresses.iter().map(|i| format!("ip:{i}")))
        .chain(m.emails.iter().map(|e| format!("email:{e}")))
        .chain(m.uri_list.iter().map(|u| format!("uri:{u}")))
        .collect();
    let spec = KeyRequestSpec { key_size: m.key_size, description: m.description, purpose, subject, sans };
    let request = state.services.create_key_request(&auth.ctx, spec).await.map_err(|e| match e {
        certwright_core::CoreError::Invalid { code: "keystore.invalid_purpose", message } => {
            QError::invalid(1036, message)
        }
        other => other.into(),
    })?;
    let mut resp = (StatusCode::CREATED, axum::Json(json!(request.id))).into_response();
    if let Ok(v) =
        HeaderValue::from_str(&format!("/api/staged_config/certificates/certificate_signing_request/{}", request.id))
    {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

async fn find_csr(state: &AppState, auth: &QAuth, raw: &str) -> Result<certwright_core::keystore::KeyRequest, QError> {
    let id = id_of(raw)?;
    state.services.key_request(&auth.ctx, id).await.map_err(|e| match e {
        certwright_core::CoreError::NotFound { .. } => QError::not_found("No CSR exists with this ID."),
        other => other.into(),
    })
}

async fn get_csr(
    auth: QAuth,
    axum::extract::State(state): axum::extract::State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, QError> {
    let request = find_csr(&state, &auth, &id).await?;
    let pem = certwright_pki::pem::encode("CERTIFICATE REQUEST", &request.csr);
    let encoded = base64::engine::general_purpose::STANDARD.encode(pem.as_bytes());
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], encoded).into_response())
}

async fn delete_csr(
    auth: QAuth,
    axum::extract::State(state): axum::extract::State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, QError> {
    let request = find_csr(&state, &auth, &id).await?;
    state.services.delete_key_request(&auth.ctx, request.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

const ROOT_FIELDS: [&str; 11] = [
    "id",
    "subject_key_id",
    "authority_key_id",
    "subject",
    "issuer",
    "not_before",
    "expiry",
    "serial_number",
    "key_usage",
    "status",
    "validation",
];

async fn list_roots(
    auth: QAuth,
    axum::extract::State(state): axum::extract::State<AppState>,
    headers: HeaderMap,
    p: Params,
) -> Result<Response, QError> {
    let p = params(p)?;
    let items = state.services.staged_roots(&auth.ctx).await?.iter().map(root_object).collect();
    list(items, &p, &headers, &ROOT_FIELDS)
}

async fn find_root(state: &AppState, auth: &QAuth, id: &str) -> Result<StagedRoot, QError> {
    state
        .services
        .staged_roots(&auth.ctx)
        .await?
        .into_iter()
        .find(|r| r.key_id_hex.eq_ignore_ascii_case(id))
        .ok_or_else(|| QError::new(StatusCode::NOT_FOUND, 1105, "No root certificate exists with this ID."))
}

async fn get_root(
    auth: QAuth,
    axum::extract::State(state): axum::extract::State<AppState>,
    Path(id): Path<String>,
) -> Result<axum::Json<Value>, QError> {
    Ok(axum::Json(Value::Object(root_object(&find_root(&state, &auth, &id).await?))))
}

async fn create_root(
    auth: QAuth,
    axum::extract::State(state): axum::extract::State<AppState>,
    b: Result<Bytes, BytesRejection>,
) -> Result<axum::Json<Value>, QError> {
    let bytes = body(b)?;
    let text = std::str::from_utf8(&bytes).map_err(|_| QError::invalid(2001, "certificate_content is not text"))?;
    // Accept the PEM as the raw body, or as a JSON string.
    let pem = serde_json::from_str::<String>(text).unwrap_or_else(|_| text.to_owned());
    let root = state.services.stage_root(&auth.ctx, &pem, &HttpCrlFetcher).await?;
    Ok(axum::Json(Value::Object(root_object(&root))))
}

async fn delete_root(
    auth: QAuth,
    axum::extract::State(state): axum::extract::State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, QError> {
    let root = find_root(&state, &auth, &id).await?;
    state.services.delete_staged_root(&auth.ctx, &root.key_id_hex).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn deploy_object(run: Option<&DeployRun>) -> Value {
    let Some(run) = run else {
        return json!({ "status": "UNKNOWN", "type": null, "initiated_by": null, "initiated_from": null,
            "hosts": [], "percent_complete": 0, "error_message": null, "has_errors": false });
    };
    let (status, host, percent) = match run.status.as_str() {
        "running" => ("IN_PROGRESS", "IN_PROGRESS", 0),
        "failed" => ("COMPLETE", "ERROR", 100),
        _ => ("COMPLETE", "SUCCESS", 100),
    };
    json!({
        "status": status, "type": run.kind.as_str().to_ascii_uppercase(), "initiated_by": run.initiated_by,
        "initiated_from": run.node, "hosts": [{ "host_status": host, "ip": run.node, "status": host }],
        "percent_complete": percent, "error_message": run.error_message, "has_errors": run.status == "failed",
    })
}

async fn deploy_status(
    auth: QAuth,
    axum::extract::State(state): axum::extract::State<AppState>,
) -> Result<axum::Json<Value>, QError> {
    let run = state.services.latest_deploy(&auth.ctx).await?;
    Ok(axum::Json(deploy_object(run.as_ref())))
}

async fn deploy(
    auth: QAuth,
    axum::extract::State(state): axum::extract::State<AppState>,
    b: Result<Bytes, BytesRejection>,
) -> Result<axum::Json<Value>, QError> {
    let bytes = body(b)?;
    let fields: HashMap<String, Value> = if bytes.is_empty() {
        HashMap::new()
    } else {
        serde_json::from_slice(&bytes)
            .map_err(|e| QError::invalid(1005, format!("The request body is not valid: {e}")))?
    };
    let kind = match fields.get("type") {
        None | Some(Value::Null) => DeployKind::Incremental,
        Some(Value::String(s)) => DeployKind::parse(s)?,
        Some(_) => return Err(QError::invalid(1005, "type must be INCREMENTAL or FULL")),
    };
    let run = state.services.start_deploy(&auth.ctx, kind).await.map_err(|e| match e {
        certwright_core::CoreError::Conflict { message, .. } => QError::new(StatusCode::CONFLICT, 1002, message),
        other => other.into(),
    })?;
    let services = state.services.clone();
    let started = run.clone();
    tokio::spawn(async move {
        if let Err(e) = services.complete_deploy(&started).await {
            tracing::error!(error = %e, run = %started.uuid, "deploy failed; the next deploy or status read retries it");
        }
    });
    Ok(axum::Json(deploy_object(Some(&run))))
}
