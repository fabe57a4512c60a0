//! `/v1/certificates`: issuing certificates through RA profiles, and the inventory.

use super::{time, time_param, List};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Authorized, IssueCertificates, ReadInventory};
use crate::problem::{ApiError, Problem};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use certwright_core::auth::Ctx;
use certwright_core::ca::{
    CertificateFilter, CertificateRecord, Origin, ValidationStatus, DEFAULT_RENEWAL_WINDOW_DAYS,
};
use certwright_core::page::Page;
use certwright_core::services::IssueRequest;
use certwright_core::CoreError;
use certwright_pki::pem;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// A certificate of the inventory.
#[derive(Debug, Serialize, ToSchema)]
pub struct CertificateView {
    pub id: Uuid,
    /// Lower-case hex.
    pub serial: String,
    /// `issued`.
    pub state: String,
    /// `valid`, `expiring` (inside the RA profile's renewal window), `expired` or `inactive` (not yet valid),
    /// computed when the answer is made.
    pub validation_status: String,
    /// `request` or `system`.
    pub origin: String,
    pub subject: String,
    pub issuer: String,
    pub common_name: Option<String>,
    /// SANs as `dns:…`, `ip:…`, `email:…`, `uri:…`.
    pub sans: Vec<String>,
    pub not_before: String,
    pub not_after: String,
    pub key_algorithm: String,
    pub signature_algorithm: String,
    /// SHA-256 of the DER, hex.
    pub fingerprint_sha256: String,
    pub authority: Option<Uuid>,
    pub ra_profile: Option<Uuid>,
    pub created_by: String,
    pub created_at: String,
    pub certificate_pem: String,
    /// Issuer chain (issuing CA first, root last); only on single-certificate answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chain_pem: Option<String>,
}

/// An issued certificate; `private_key_pem` only for a server-generated key the profile lets you export.
#[derive(Debug, Serialize, ToSchema)]
pub struct IssuedView {
    #[serde(flatten)]
    pub certificate: CertificateView,
    /// PKCS#8 PEM, shown once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_key_pem: Option<String>,
}

/// Database ids of authorities and RA profiles with the uuids the API shows, the profiles' renewal windows,
/// and the time statuses are computed at.
struct Links {
    authorities: Vec<(i64, Uuid)>,
    profiles: Vec<(i64, Uuid)>,
    windows: Vec<(i64, u32)>,
    now: i64,
}

async fn links(state: &AppState, ctx: &Ctx) -> Result<Links, ApiError> {
    let authorities = state.services.list_authorities(ctx).await?.into_iter().map(|a| (a.id, a.uuid)).collect();
    let all = state.services.list_ra_profiles(ctx).await?;
    let profiles = all.iter().map(|p| (p.id, p.uuid)).collect();
    let windows = all.iter().map(|p| (p.id, p.policy.renewal_window_days)).collect();
    Ok(Links { authorities, profiles, windows, now: state.services.clock().now() })
}

impl Links {
    fn window(&self, profile: Option<i64>) -> u32 {
        profile
            .and_then(|id| self.windows.iter().find(|(i, _)| *i == id).map(|(_, w)| *w))
            .unwrap_or(DEFAULT_RENEWAL_WINDOW_DAYS)
    }
}

fn lookup(ids: &[(i64, Uuid)], id: Option<i64>) -> Option<Uuid> {
    id.and_then(|id| ids.iter().find(|(i, _)| *i == id).map(|(_, u)| *u))
}

fn view(r: CertificateRecord, links: &Links, chain: Option<&[Vec<u8>]>) -> CertificateView {
    CertificateView {
        validation_status: r.validation_status(links.now, links.window(r.ra_profile_id)).as_str().to_owned(),
        id: r.uuid,
        serial: r.serial,
        state: r.state,
        origin: r.origin.as_str().to_owned(),
        subject: r.subject,
        issuer: r.issuer,
        common_name: r.common_name,
        sans: r.sans,
        not_before: time(r.not_before),
        not_after: time(r.not_after),
        key_algorithm: r.key_algorithm,
        signature_algorithm: r.signature_algorithm,
        fingerprint_sha256: r.fingerprint,
        authority: lookup(&links.authorities, r.authority_id),
        ra_profile: lookup(&links.profiles, r.ra_profile_id),
        created_by: r.created_by,
        created_at: time(r.created_at),
        certificate_pem: pem::encode("CERTIFICATE", &r.der),
        chain_pem: chain.map(|c| c.iter().map(|d| pem::encode("CERTIFICATE", d)).collect()),
    }
}

/// Body of `POST /v1/certificates`: either `csr`, or the fields of a key the server generates.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueCertificate {
    /// RA profile id or name (`default` exists from the first start).
    pub ra_profile: String,
    /// PKCS#10 request: PEM, or base64 DER.
    pub csr: Option<String>,
    /// For a server-generated key: the subject common name.
    pub common_name: Option<String>,
    /// For a server-generated key: SANs such as `dns:www.example.com`, `ip:192.0.2.1`.
    #[serde(default)]
    pub sans: Vec<String>,
    /// For a server-generated key: `ecdsa-p256` (default), `rsa-2048`, `ed25519`, `ml-dsa-65`…
    pub key_algorithm: Option<String>,
    /// Validity in days (the profile's default and maximum apply).
    pub validity_days: Option<u32>,
}

/// Issues a certificate. With an `Idempotency-Key` header a retry returns the certificate already issued
/// (with `Idempotent-Replayed: true`, and without the private key).
#[utoipa::path(post, path = "/v1/certificates", tag = "pki", request_body = IssueCertificate, security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "makes retries safe")),
    responses((status = 201, body = IssuedView), (status = 400, body = Problem), (status = 401, body = Problem),
               (status = 403, body = Problem), (status = 404, body = Problem), (status = 413, body = Problem),
               (status = 415, body = Problem), (status = 422, body = Problem)))]
pub async fn issue(
    auth: Authorized<IssueCertificates>,
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<IssueCertificate>,
) -> Result<Response, ApiError> {
    let idempotency_key = match headers.get("idempotency-key") {
        Some(v) => Some(
            v.to_str()
                .map_err(|_| CoreError::invalid("request.invalid_idempotency_key", "Idempotency-Key must be ASCII"))?
                .to_owned(),
        ),
        None => None,
    };
    let req = IssueRequest {
        ra_profile: body.ra_profile,
        csr: body.csr.map(String::into_bytes),
        common_name: body.common_name,
        sans: body.sans,
        key_algorithm: body.key_algorithm,
        validity_days: body.validity_days,
        idempotency_key,
    };
    let issued = state.services.issue(&auth.ctx, req).await?;
    let links = links(&state, &auth.ctx).await?;
    let body = IssuedView {
        certificate: view(issued.record, &links, Some(&issued.chain)),
        private_key_pem: issued.private_key_pkcs8.map(|k| pem::encode("PRIVATE KEY", &k)),
    };
    let mut resp = (StatusCode::CREATED, Json(body)).into_response();
    if issued.replayed {
        resp.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(resp)
}

/// Filters of `GET /v1/certificates`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CertificateParams {
    /// Substring of the common name or of any SAN (case-insensitive).
    pub name: Option<String>,
    /// Authority id.
    pub authority: Option<Uuid>,
    /// RA profile id.
    pub ra_profile: Option<Uuid>,
    /// `request`, `system` or `import`.
    pub origin: Option<String>,
    /// `valid`, `expiring`, `expired` or `inactive`, with the default 30-day renewal window.
    pub status: Option<String>,
    /// Expiring before this time (RFC 3339 or epoch seconds).
    pub expires_before: Option<String>,
    /// Expiring at or after this time (RFC 3339 or epoch seconds).
    pub expires_after: Option<String>,
    /// Page size, 1 to 1000 (default 50).
    pub limit: Option<u32>,
    /// Items to skip (default 0).
    pub offset: Option<u64>,
}

/// Lists the inventory, newest first.
#[utoipa::path(get, path = "/v1/certificates", tag = "pki", params(CertificateParams), security(("bearer" = [])),
    responses((status = 200, body = List<CertificateView>), (status = 400, body = Problem), (status = 401, body = Problem)))]
pub async fn list(
    auth: Authorized<ReadInventory>,
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<CertificateParams>,
) -> Result<Json<List<CertificateView>>, ApiError> {
    let page = Page::new(q.limit, q.offset)?;
    let links = links(&state, &auth.ctx).await?;
    let id_of = |ids: &[(i64, Uuid)], u: Option<Uuid>, what: &'static str| -> Result<Option<i64>, CoreError> {
        match u {
            None => Ok(None),
            Some(u) => ids
                .iter()
                .find(|(_, x)| *x == u)
                .map(|(i, _)| Some(*i))
                .ok_or_else(|| CoreError::invalid("request.unknown_reference", format!("no {what} {u}"))),
        }
    };
    let origin = match q.origin.as_deref() {
        None => None,
        Some("request") => Some(Origin::Request),
        Some("system") => Some(Origin::System),
        Some("import") => Some(Origin::Import),
        Some(o) => return Err(CoreError::invalid("request.invalid_origin", format!("unknown origin '{o}'")).into()),
    };
    let mut filter = CertificateFilter {
        name: q.name,
        authority_id: id_of(&links.authorities, q.authority, "authority")?,
        ra_profile_id: id_of(&links.profiles, q.ra_profile, "RA profile")?,
        origin,
        expires_before: time_param("expires_before", q.expires_before.as_deref())?,
        expires_after: time_param("expires_after", q.expires_after.as_deref())?,
        ..Default::default()
    };
    if let Some(status) = q.status.as_deref() {
        if filter.expires_before.is_some() || filter.expires_after.is_some() {
            return Err(CoreError::invalid(
                "request.conflicting_filters",
                "status cannot be combined with expires_before or expires_after",
            )
            .into());
        }
        let status = ValidationStatus::parse(status).ok_or_else(|| {
            CoreError::invalid(
                "request.invalid_status",
                format!("status must be valid, expiring, expired or inactive, got '{status}'"),
            )
        })?;
        status.restrict(&mut filter, links.now, DEFAULT_RENEWAL_WINDOW_DAYS);
    }
    let listed = state.services.list_certificates(&auth.ctx, &filter, page).await?;
    Ok(Json(List::new(listed, page, |r| view(r, &links, None))))
}

/// One certificate with its chain.
#[utoipa::path(get, path = "/v1/certificates/{id}", tag = "pki", params(("id" = Uuid, Path, description = "certificate id")),
    security(("bearer" = [])),
    responses((status = 200, body = CertificateView), (status = 400, body = Problem), (status = 401, body = Problem),
               (status = 404, body = Problem)))]
pub async fn get(
    auth: Authorized<ReadInventory>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<CertificateView>, ApiError> {
    let (record, chain) = state.services.certificate(&auth.ctx, id).await?;
    let links = links(&state, &auth.ctx).await?;
    Ok(Json(view(record, &links, Some(&chain))))
}

/// Body of `POST /v1/certificates/import`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportCertificate {
    /// PEM (the certificate first, optionally followed by its chain) or base64 DER.
    pub certificate: String,
}

/// Imports a certificate issued elsewhere into the inventory (origin `import`); it is linked to a known
/// authority when one of them signed it.
#[utoipa::path(post, path = "/v1/certificates/import", tag = "pki", request_body = ImportCertificate,
    security(("bearer" = [])),
    responses((status = 201, body = CertificateView), (status = 400, body = Problem), (status = 401, body = Problem),
               (status = 403, body = Problem), (status = 409, body = Problem), (status = 413, body = Problem),
               (status = 415, body = Problem), (status = 422, body = Problem)))]
pub async fn import(
    auth: Authorized<IssueCertificates>,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<ImportCertificate>,
) -> Result<(StatusCode, Json<CertificateView>), ApiError> {
    let text = body.certificate.trim();
    let bytes = if text.contains("-----BEGIN") {
        text.as_bytes().to_vec()
    } else {
        use base64::Engine;
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        base64::engine::general_purpose::STANDARD
            .decode(compact)
            .map_err(|_| CoreError::invalid("import.invalid", "certificate must be PEM or base64 DER"))?
    };
    let record = state.services.import_certificate(&auth.ctx, &bytes).await?;
    let (record, chain) = state.services.certificate(&auth.ctx, record.uuid).await?;
    let links = links(&state, &auth.ctx).await?;
    Ok((StatusCode::CREATED, Json(view(record, &links, Some(&chain)))))
}

/// Parameters of the export endpoint.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ExportParams {
    /// `pem` (default), `der` (the certificate alone) or `pkcs7` (DER certs-only bundle).
    pub format: Option<String>,
    /// Include the issuer chain (default true; not possible with `der`).
    pub chain: Option<bool>,
}

/// Downloads a certificate as PEM, DER or PKCS#7, with or without its chain. Private keys are not exported
/// here.
#[utoipa::path(get, path = "/v1/certificates/{id}/export", tag = "pki",
    params(("id" = Uuid, Path, description = "certificate id"), ExportParams), security(("bearer" = [])),
    responses((status = 200, description = "the certificate in the chosen format",
               content((String = "application/x-pem-file"), (Vec<u8> = "application/pkix-cert"), (Vec<u8> = "application/pkcs7-mime"))),
               (status = 400, body = Problem), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn export(
    auth: Authorized<ReadInventory>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(q): ApiQuery<ExportParams>,
) -> Result<Response, ApiError> {
    let (record, chain) = state.services.certificate(&auth.ctx, id).await?;
    let with_chain = q.chain.unwrap_or(true);
    let format = q.format.as_deref().unwrap_or("pem");
    let mut certs = vec![record.der];
    if with_chain && format != "der" {
        certs.extend(chain);
    }
    let (content_type, extension, body): (&str, &str, Vec<u8>) = match format {
        "pem" => {
            let text: String = certs.iter().map(|c| pem::encode("CERTIFICATE", c)).collect();
            ("application/x-pem-file", "pem", text.into_bytes())
        }
        "der" if q.chain == Some(true) => {
            return Err(CoreError::invalid(
                "request.invalid_format",
                "der holds one certificate: use pkcs7 or pem for a chain",
            )
            .into())
        }
        "der" => ("application/pkix-cert", "cer", certs.swap_remove(0)),
        "pkcs7" => {
            ("application/pkcs7-mime", "p7b", certwright_pki::pkcs7::certs_only(&certs).map_err(CoreError::from)?)
        }
        other => {
            return Err(CoreError::invalid(
                "request.invalid_format",
                format!("format must be pem, der or pkcs7, got '{other}'"),
            )
            .into())
        }
    };
    let disposition = format!("attachment; filename=\"{}.{extension}\"", record.serial);
    let mut resp = (StatusCode::OK, body).into_response();
    let h = resp.headers_mut();
    h.insert(axum::http::header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(axum::http::header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}

/// Body of `POST /v1/certificates/{id}/pkcs12`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Pkcs12Request {
    /// Protects the file; 8 to 1024 characters.
    pub password: String,
    /// Include the issuer chain (default true).
    pub chain: Option<bool>,
    /// The friendly name (alias) stored with the key; defaults to the common name.
    pub friendly_name: Option<String>,
}

/// Exports a certificate with its private key as PKCS#12 (PBES2 AES-256-CBC, HMAC-SHA256 MAC). Only for keys
/// certwright generated under a profile that allows export; requesters only for their own certificates;
/// every export is audited.
#[utoipa::path(post, path = "/v1/certificates/{id}/pkcs12", tag = "pki", request_body = Pkcs12Request,
    params(("id" = Uuid, Path, description = "certificate id")), security(("bearer" = [])),
    responses((status = 200, content_type = "application/x-pkcs12", body = Vec<u8>), (status = 400, body = Problem),
               (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
               (status = 415, body = Problem), (status = 422, body = Problem)))]
pub async fn pkcs12(
    auth: Authorized<IssueCertificates>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<Pkcs12Request>,
) -> Result<Response, ApiError> {
    let chars = body.password.chars().count();
    if !(8..=1024).contains(&chars) {
        return Err(CoreError::invalid("request.invalid_password", "password must be 8 to 1024 characters").into());
    }
    let (record, chain, key) = state.services.export_private_key(&auth.ctx, id).await?;
    let mut certs = vec![record.der.clone()];
    if body.chain.unwrap_or(true) {
        certs.extend(chain);
    }
    let name = body.friendly_name.or(record.common_name.clone());
    let file =
        certwright_pki::pkcs12::export(&key, &certs, &body.password, name.as_deref()).map_err(CoreError::from)?;
    let mut resp = (StatusCode::OK, file).into_response();
    let h = resp.headers_mut();
    h.insert(axum::http::header::CONTENT_TYPE, HeaderValue::from_static("application/x-pkcs12"));
    h.insert(axum::http::header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{}.p12\"", record.serial)) {
        h.insert(axum::http::header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}
