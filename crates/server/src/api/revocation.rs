//! Revocation: `/v1/certificates/{id}/revoke`, `/v1/certificates/{id}/release-hold`, `/v1/revocations` (by
//! issuer and serial), `/v1/authorities/{id}/revoke` and `/v1/authorities/{id}/crls`; and, without
//! authentication for relying parties, CRLs under `/crl/` and the OCSP responder at `/ocsp`.

use super::certificates::{links, view, CertificateView};
use super::{time, time_param};
use crate::extract::{ApiJson, ApiPath, Authorized, ManageAuthorities, ReadInventory, RevokeCertificates};
use crate::problem::{ApiError, Problem};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use certwright_core::revocation::{CrlKind, Revocation, RevocationReason, StoredCrl};
use certwright_core::services::{OcspAnswer, RevokeRequest, RevokedCertificate};
use certwright_core::CoreError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// Largest OCSP request accepted (a request for 64 serials is well under 8 KiB).
const OCSP_REQUEST_LIMIT: usize = 8 * 1024;

/// Body of a revocation.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Revoke {
    /// RFC 5280 reason: `unspecified` (default), `keyCompromise`, `cACompromise`, `affiliationChanged`,
    /// `superseded`, `cessationOfOperation`, `certificateHold`, `privilegeWithdrawn`, `aACompromise` (also
    /// `KEY_COMPROMISE`-style spellings or the numeric code).
    pub reason: Option<String>,
    /// When the key was (or may have been) compromised: RFC 3339 or epoch seconds, not in the future.
    pub invalidity_date: Option<String>,
    /// Destroy the server-held private key in the same transaction.
    #[serde(default)]
    pub destroy_key: bool,
}

/// Body of `POST /v1/revocations`: revoke what an authority issued, by serial.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeBySerial {
    /// The issuing authority: id or name.
    pub authority: String,
    /// Hexadecimal serial number (any case; `:` separators and a `0x` prefix allowed).
    pub serial: String,
    #[serde(flatten)]
    pub revoke: Revoke,
}

/// A revocation as stored.
#[derive(Debug, Serialize, ToSchema)]
pub struct RevocationView {
    pub serial: String,
    /// RFC 5280 name of the reason.
    pub reason: String,
    pub reason_code: u8,
    pub revoked_at: String,
    pub invalidity_date: Option<String>,
    /// Set when a certificateHold was lifted; the certificate is then valid again.
    pub released_at: Option<String>,
    /// The CRL partition that lists it (the one its certificate's distribution point names).
    pub crl_partition: u32,
}

impl From<&Revocation> for RevocationView {
    fn from(r: &Revocation) -> Self {
        Self {
            serial: r.serial.clone(),
            reason: r.reason.name().to_owned(),
            reason_code: r.reason.code(),
            revoked_at: time(r.revoked_at),
            invalidity_date: r.invalidity_date.map(time),
            released_at: r.released_at.map(time),
            crl_partition: r.partition,
        }
    }
}

/// A certificate with its revocation.
#[derive(Debug, Serialize, ToSchema)]
pub struct RevokedCertificateView {
    pub certificate: CertificateView,
    pub revocation: RevocationView,
    /// Whether this request destroyed the server-held key.
    pub key_destroyed: bool,
}

fn request(body: Revoke) -> Result<RevokeRequest, ApiError> {
    let reason = match body.reason.as_deref() {
        None => RevocationReason::Unspecified,
        Some(r) => {
            RevocationReason::parse(r).map_err(|e| CoreError::invalid("revocation.invalid_reason", e.to_string()))?
        }
    };
    Ok(RevokeRequest {
        reason,
        invalidity_date: time_param("invalidity_date", body.invalidity_date.as_deref())?,
        destroy_key: body.destroy_key,
    })
}

async fn answer(
    state: &AppState,
    auth: &certwright_core::auth::Ctx,
    r: RevokedCertificate,
) -> Result<Json<RevokedCertificateView>, ApiError> {
    let links = links(state, auth).await?;
    Ok(Json(RevokedCertificateView {
        revocation: RevocationView::from(&r.revocation),
        certificate: view(r.certificate, &links, None),
        key_destroyed: r.key_destroyed,
    }))
}

/// Revokes a certificate issued by one of this server's authorities. Revoking one already revoked is `409
/// certificate.already_revoked` (a `certificateHold` may still be made permanent with another reason). When the RA
/// profile wants approval for revocations, or the authority is external, the revocation is recorded as pending
/// (`202`, state `pending_revoke`) until approved or confirmed (`/confirm-revoke`).
#[utoipa::path(post, path = "/v1/certificates/{id}/revoke", tag = "revocation", request_body = Revoke,
    params(("id" = Uuid, Path, description = "certificate id")), security(("bearer" = [])),
    responses((status = 200, body = RevokedCertificateView), (status = 202, body = CertificateView),
               (status = 400, body = Problem), (status = 401, body = Problem),
               (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem),
               (status = 422, body = Problem)))]
pub async fn revoke(
    auth: Authorized<RevokeCertificates>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<Revoke>,
) -> Result<Response, ApiError> {
    match state.services.request_revocation(&auth.ctx, id, &request(body)?).await? {
        certwright_core::services::RevokeOutcome::Revoked(r) => {
            Ok(answer(&state, &auth.ctx, *r).await?.into_response())
        }
        certwright_core::services::RevokeOutcome::Pending { certificate, .. } => {
            let links = links(&state, &auth.ctx).await?;
            Ok((StatusCode::ACCEPTED, Json(view(*certificate, &links, None))).into_response())
        }
    }
}

/// Lifts a `certificateHold`: the certificate is valid again, and the next delta CRL lists it as
/// `removeFromCRL`. Any other reason is permanent (`409 revocation.not_on_hold`).
#[utoipa::path(post, path = "/v1/certificates/{id}/release-hold", tag = "revocation",
    params(("id" = Uuid, Path, description = "certificate id")), security(("bearer" = [])),
    responses((status = 200, body = RevokedCertificateView), (status = 401, body = Problem), (status = 403, body = Problem),
               (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn release_hold(
    auth: Authorized<RevokeCertificates>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<RevokedCertificateView>, ApiError> {
    let r = state.services.release_hold(&auth.ctx, id).await?;
    answer(&state, &auth.ctx, r).await
}

/// Revokes the certificate an authority issued with a serial number.
#[utoipa::path(post, path = "/v1/revocations", tag = "revocation", request_body = RevokeBySerial, security(("bearer" = [])),
    responses((status = 200, body = RevokedCertificateView), (status = 400, body = Problem), (status = 401, body = Problem),
               (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem),
               (status = 422, body = Problem)))]
pub async fn revoke_by_serial(
    auth: Authorized<RevokeCertificates>,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RevokeBySerial>,
) -> Result<Json<RevokedCertificateView>, ApiError> {
    let req = request(body.revoke)?;
    let r = state.services.revoke_by_serial(&auth.ctx, &body.authority, &body.serial, &req).await?;
    answer(&state, &auth.ctx, r).await
}

/// Revokes a subordinate authority's certificate (admins only): its issuer's CRLs and OCSP answers list it.
#[utoipa::path(post, path = "/v1/authorities/{id}/revoke", tag = "revocation", request_body = Revoke,
    params(("id" = Uuid, Path, description = "authority id")), security(("bearer" = [])),
    responses((status = 200, body = RevocationView), (status = 400, body = Problem), (status = 401, body = Problem),
               (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem),
               (status = 422, body = Problem)))]
pub async fn revoke_authority(
    auth: Authorized<ManageAuthorities>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<Revoke>,
) -> Result<Json<RevocationView>, ApiError> {
    let r = state.services.revoke_authority(&auth.ctx, id, &request(body)?).await?;
    Ok(Json(RevocationView::from(&r)))
}

/// A signed CRL, described.
#[derive(Debug, Serialize, ToSchema)]
pub struct CrlView {
    /// `full`, `delta` or `partition-N`.
    pub kind: String,
    pub number: u64,
    pub this_update: String,
    pub next_update: String,
    pub entries: u64,
    pub size_bytes: usize,
    /// Where relying parties fetch it (plain HTTP, no authentication).
    pub url: String,
}

fn crl_path(authority: Uuid, kind: CrlKind) -> String {
    match kind {
        CrlKind::Full => format!("/crl/{authority}.crl"),
        CrlKind::Delta => format!("/crl/{authority}-delta.crl"),
        CrlKind::Partition(n) => format!("/crl/{authority}/{n}.crl"),
    }
}

fn crl_view(authority: Uuid, c: &StoredCrl) -> CrlView {
    CrlView {
        kind: c.kind.as_str(),
        number: c.number,
        this_update: time(c.this_update),
        next_update: time(c.next_update),
        entries: c.entries,
        size_bytes: c.der.len(),
        url: crl_path(authority, c.kind),
    }
}

/// The authority's current CRLs: full, delta and one per partition (signed now when missing or past
/// nextUpdate).
#[utoipa::path(get, path = "/v1/authorities/{id}/crls", tag = "revocation",
    params(("id" = Uuid, Path, description = "authority id")), security(("bearer" = [])),
    responses((status = 200, body = Vec<CrlView>), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn list_crls(
    auth: Authorized<ReadInventory>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<Vec<CrlView>>, ApiError> {
    let a = state.services.authority(&auth.ctx, id).await?;
    let mut out = Vec::new();
    for kind in certwright_core::services::Services::<certwright_store::SqlStore>::crl_kinds(&a) {
        out.push(crl_view(a.uuid, &state.services.current_crl(&a.uuid.to_string(), kind).await?));
    }
    Ok(Json(out))
}

/// Signs every CRL of the authority now (full, delta, partitions) instead of waiting for the schedule.
#[utoipa::path(post, path = "/v1/authorities/{id}/crls", tag = "revocation",
    params(("id" = Uuid, Path, description = "authority id")), security(("bearer" = [])),
    responses((status = 200, body = Vec<CrlView>), (status = 401, body = Problem), (status = 403, body = Problem),
               (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn generate_crls(
    auth: Authorized<RevokeCertificates>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<Vec<CrlView>>, ApiError> {
    let a = state.services.authority(&auth.ctx, id).await?;
    if a.key_id.is_none() {
        return Err(CoreError::invalid("authority.no_key", "this authority holds no key to sign CRLs with").into());
    }
    let kinds = certwright_core::services::Services::<certwright_store::SqlStore>::crl_kinds(&a);
    let made = state.services.generate_crls(&a, &kinds).await?;
    Ok(Json(made.iter().map(|c| crl_view(a.uuid, c)).collect()))
}

fn crl_response(c: StoredCrl, now: i64) -> Response {
    // Caches may keep it until the next scheduled signing at most, and never past nextUpdate.
    let max_age = (c.next_update - now).clamp(0, 3_600);
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/pkix-crl"));
    if let Ok(v) = HeaderValue::from_str(&format!("public, max-age={max_age}")) {
        headers.insert(header::CACHE_CONTROL, v);
    }
    if let Ok(v) = HeaderValue::from_str(&http_date(c.this_update)) {
        headers.insert(header::LAST_MODIFIED, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("\"crl-{}\"", c.number)) {
        headers.insert(header::ETAG, v);
    }
    (headers, c.der).into_response()
}

/// A full (`<authority id>.crl`) or delta (`<authority id>-delta.crl`) CRL, DER. No authentication.
#[utoipa::path(get, path = "/crl/{file}", tag = "revocation", params(("file" = String, Path, description = "`<authority id>.crl` or `<authority id>-delta.crl`")),
    responses((status = 200, content_type = "application/pkix-crl", body = Vec<u8>), (status = 404, body = Problem)))]
pub async fn crl_file(State(state): State<AppState>, ApiPath(file): ApiPath<String>) -> Result<Response, ApiError> {
    let not_found = || ApiError::from(CoreError::not_found("crl.not_found", "CRL", &file));
    let stem = file.strip_suffix(".crl").ok_or_else(not_found)?;
    let (authority, kind) = match stem.strip_suffix("-delta") {
        Some(a) => (a, CrlKind::Delta),
        None => (stem, CrlKind::Full),
    };
    let authority = Uuid::parse_str(authority).map_err(|_| not_found())?;
    let crl = state.services.current_crl(&authority.to_string(), kind).await.map_err(|_| not_found())?;
    Ok(crl_response(crl, state.services.clock().now()))
}

/// One CRL partition (`/crl/<authority id>/<n>.crl`), the URL in the distribution point of the certificates it
/// covers. No authentication.
#[utoipa::path(get, path = "/crl/{authority}/{file}", tag = "revocation",
    params(("authority" = Uuid, Path, description = "authority id"), ("file" = String, Path, description = "`<partition>.crl`")),
    responses((status = 200, content_type = "application/pkix-crl", body = Vec<u8>), (status = 404, body = Problem)))]
pub async fn crl_partition(
    State(state): State<AppState>,
    ApiPath((authority, file)): ApiPath<(String, String)>,
) -> Result<Response, ApiError> {
    let not_found = || ApiError::from(CoreError::not_found("crl.not_found", "CRL", format!("{authority}/{file}")));
    let n: u32 = file.strip_suffix(".crl").and_then(|n| n.parse().ok()).ok_or_else(not_found)?;
    let authority = Uuid::parse_str(&authority).map_err(|_| not_found())?;
    let crl =
        state.services.current_crl(&authority.to_string(), CrlKind::Partition(n)).await.map_err(|_| not_found())?;
    Ok(crl_response(crl, state.services.clock().now()))
}

fn ocsp_response(answer: OcspAnswer, now: i64) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/ocsp-response"));
    match answer.cache {
        // RFC 5019 §6.2: let HTTP caches keep the answer until nextUpdate.
        Some((this_update, next_update)) => {
            let max_age = (next_update - now).max(0);
            if let Ok(v) = HeaderValue::from_str(&format!("max-age={max_age}, public, no-transform, must-revalidate")) {
                headers.insert(header::CACHE_CONTROL, v);
            }
            for (name, t) in [(header::LAST_MODIFIED, this_update), (header::EXPIRES, next_update)] {
                if let Ok(v) = HeaderValue::from_str(&http_date(t)) {
                    headers.insert(name, v);
                }
            }
        }
        None => {
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache, no-store"));
        }
    }
    (StatusCode::OK, headers, answer.der.as_ref().clone()).into_response()
}

/// The OCSP responder (RFC 6960), POST form: body `application/ocsp-request`. Answers are always `200` with an
/// OCSP response; malformed requests get `malformedRequest`, issuers this server does not serve
/// `unauthorized`. No authentication.
#[utoipa::path(post, path = "/ocsp", tag = "revocation", request_body(content = Vec<u8>, content_type = "application/ocsp-request"),
    responses((status = 200, content_type = "application/ocsp-response", body = Vec<u8>), (status = 413, body = Problem)))]
pub async fn ocsp_post(State(state): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    if body.len() > OCSP_REQUEST_LIMIT {
        return Err(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "ocsp.too_large", "an OCSP request is at most 8 KiB"));
    }
    let answer = state.services.ocsp(&body).await;
    Ok(ocsp_response(answer, state.services.clock().now()))
}

/// The OCSP responder, GET form (RFC 6960 appendix A, RFC 5019): `/ocsp/<base64 of the DER request>`, URL
/// encoded. Cached answers are served without signing.
#[utoipa::path(get, path = "/ocsp/{request}", tag = "revocation", params(("request" = String, Path, description = "URL-encoded base64 of the DER OCSPRequest")),
    responses((status = 200, content_type = "application/ocsp-response", body = Vec<u8>)))]
pub async fn ocsp_get(State(state): State<AppState>, ApiPath(request): ApiPath<String>) -> Response {
    let now = state.services.clock().now();
    let der = match certwright_pki::ocsp::decode_get(&request) {
        Ok(der) if der.len() <= OCSP_REQUEST_LIMIT => der,
        _ => {
            let status = certwright_pki::ocsp::ResponseStatus::MalformedRequest;
            let der = std::sync::Arc::new(certwright_pki::ocsp::error_response(status));
            return ocsp_response(OcspAnswer { der, cache: None }, now);
        }
    };
    ocsp_response(state.services.ocsp(&der).await, now)
}

/// An HTTP date (RFC 9110 IMF-fixdate) for epoch seconds.
fn http_date(t: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let rfc = certwright_core::clock::to_rfc3339(t); // YYYY-MM-DDTHH:MM:SSZ
    let weekday = DAYS[usize::try_from(t.div_euclid(86_400).rem_euclid(7)).unwrap_or(0)];
    let month = rfc
        .get(5..7)
        .and_then(|m| m.parse::<usize>().ok())
        .and_then(|m| MONTHS.get(m.wrapping_sub(1)))
        .unwrap_or(&"Jan");
    format!(
        "{weekday}, {} {month} {} {} GMT",
        rfc.get(8..10).unwrap_or("01"),
        rfc.get(0..4).unwrap_or("1970"),
        rfc.get(11..19).unwrap_or("00:00:00")
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn http_dates() {
        assert_eq!(super::http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(super::http_date(1_795_392_000), "Mon, 23 Nov 2026 00:00:00 GMT");
        assert_eq!(super::http_date(951_782_400 + 45_296), "Tue, 29 Feb 2000 12:34:56 GMT");
    }
}
