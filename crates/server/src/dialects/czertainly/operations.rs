//! The v2 client operations of one RA profile: attribute definitions and their validation, issue (from a CSR or
//! with a key generated or held here), issue of a requested certificate, renew, rekey, revoke, and — for
//! asynchronous authorities — finalize, confirm-revoke and cancel. Each handler maps to one lifecycle service.

use super::attributes::{self, RequestAttributeDto};
use super::dto::{self, DetailContext};
use super::{base64_or_pem, json_body, optional_json_body, uuid_of, CzAuth, CzError};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use certwright_core::auth::Ctx;
use certwright_core::ca::{Authority, CertificateRecord, RaProfile};
use certwright_core::lifecycle::RequestRecord;
use certwright_core::revocation::RevocationReason;
use certwright_core::services::{IssueRequest, RekeyRequest, RenewRequest, RevokeRequest};
use certwright_core::CoreError;
use serde_json::Value;
use uuid::Uuid;

/// The longest cancel reason.
const MAX_CANCEL_REASON: usize = 1000;

type ProfilePath = Path<(String, String)>;
type CertificatePath = Path<(String, String, String)>;

/// The authority and RA profile a path names; the profile must belong to the authority.
async fn profile_of(
    state: &AppState,
    ctx: &Ctx,
    authority: &str,
    profile: &str,
) -> Result<(Authority, RaProfile), CzError> {
    let a = uuid_of("authorityUuid", authority)?;
    let p = uuid_of("raProfileUuid", profile)?;
    let authority = state.services.authority(ctx, a).await.map_err(|e| match e {
        CoreError::NotFound { .. } => CzError::not_found(format!("Authority instance {a} not found")),
        other => other.into(),
    })?;
    let profile = state.services.ra_profile(ctx, &p.to_string()).await.map_err(|e| match e {
        CoreError::NotFound { .. } => CzError::not_found(format!("RA profile {p} not found")),
        other => other.into(),
    })?;
    if profile.authority_id != authority.id {
        return Err(CzError::not_found(format!("RA profile {p} not found in authority instance {a}")));
    }
    Ok((authority, profile))
}

/// A certificate of the RA profile, or a request that has no certificate yet.
#[derive(Debug)]
enum Object {
    Certificate(Box<CertificateRecord>),
    Request(Box<RequestRecord>),
}

async fn object_of(state: &AppState, ctx: &Ctx, profile: &RaProfile, raw: &str) -> Result<Object, CzError> {
    let uuid = uuid_of("certificateUuid", raw)?;
    let missing = || CzError::not_found(format!("Certificate {uuid} not found"));
    match state.services.certificate(ctx, uuid).await {
        Ok((record, _)) if record.ra_profile_id == Some(profile.id) => {
            return Ok(Object::Certificate(Box::new(record)))
        }
        Ok(_) => return Err(missing()),
        Err(CoreError::NotFound { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    match state.services.request(ctx, uuid).await {
        Ok(request) if request.ra_profile_id == profile.id => Ok(Object::Request(Box::new(request))),
        Ok(_) | Err(CoreError::NotFound { .. }) => Err(missing()),
        Err(e) => Err(e.into()),
    }
}

async fn certificate_of(state: &AppState, ctx: &Ctx, profile: &RaProfile, raw: &str) -> Result<Uuid, CzError> {
    match object_of(state, ctx, profile, raw).await? {
        Object::Certificate(r) => Ok(r.uuid),
        Object::Request(r) => Err(CzError::validation(format!(
            "Certificate is in {} state; the operation needs an ISSUED certificate",
            r.state.as_str().to_uppercase()
        ))),
    }
}

/// `CertificateDetailDto` of what `uuid` names now.
async fn detail(
    state: &AppState,
    ctx: &Ctx,
    authority: &Authority,
    profile: &RaProfile,
    uuid: Uuid,
) -> Result<Value, CzError> {
    match object_of(state, ctx, profile, &uuid.to_string()).await? {
        Object::Certificate(record) => {
            let mut links = Vec::new();
            for link in state.services.certificate_links(ctx, &record).await? {
                let other = if link.certificate == record.uuid { link.previous } else { link.certificate };
                let found = state.services.certificate(ctx, other).await.ok().map(|(r, _)| r);
                links.push((link, found));
            }
            let request = state.services.request(ctx, record.uuid).await.ok();
            let cx = DetailContext {
                profile: Some(profile),
                authority: Some(authority),
                now: state.services.clock().now(),
                links,
                request: request.as_ref(),
                revoke_attributes: Vec::new(),
            };
            Ok(dto::certificate_detail(&record, &cx))
        }
        Object::Request(request) => Ok(dto::request_detail(&request, Some(profile), Some(authority))),
    }
}

fn checked(
    definitions: &[certwright_core::attributes::AttributeDefinition],
    dtos: Vec<RequestAttributeDto>,
) -> Result<Vec<certwright_core::attributes::AttributeValue>, CzError> {
    let values = attributes::values(dtos)?;
    let problems = certwright_core::attributes::validate(definitions, &values);
    if problems.is_empty() {
        Ok(values)
    } else {
        Err(CzError::Validation(problems))
    }
}

/// The CSR of a request field in the given format (`pkcs10` by default, or `crmf`).
fn request_bytes(request: &str, format: Option<&str>) -> Result<Vec<u8>, CzError> {
    match format.unwrap_or("pkcs10") {
        "pkcs10" | "crmf" => base64_or_pem("request", request),
        other => Err(CzError::bad_request(format!(
            "format '{}' is not one of pkcs10, crmf",
            other.chars().take(20).collect::<String>()
        ))),
    }
}

fn reason_of(reason: Option<&str>) -> Result<RevocationReason, CzError> {
    let Some(raw) = reason else { return Ok(RevocationReason::Unspecified) };
    RevocationReason::parse(raw).ok().filter(|r| *r != RevocationReason::RemoveFromCrl).ok_or_else(|| {
        CzError::bad_request(format!(
            "Unknown revocation reason '{}': expected one of unspecified, keyCompromise, cACompromise, \
                 affiliationChanged, superseded, cessationOfOperation, certificateHold, privilegeWithdrawn, \
                 aACompromise",
            raw.chars().take(40).collect::<String>()
        ))
    })
}

fn key_uuid(raw: Option<&str>) -> Result<Option<Uuid>, CzError> {
    raw.filter(|k| !k.is_empty()).map(|k| uuid_of("keyUuid", k)).transpose()
}

/// `GET …/attributes/issue`: the RA profile's issue attribute definitions.
pub async fn issue_attributes(
    auth: CzAuth,
    State(state): State<AppState>,
    Path((a, p)): ProfilePath,
) -> Result<Json<Vec<Value>>, CzError> {
    let (_, profile) = profile_of(&state, &auth.ctx, &a, &p).await?;
    Ok(Json(profile.policy.issue_attributes.iter().map(attributes::base_attribute).collect()))
}

/// `GET …/attributes/revoke`: the RA profile's revoke attribute definitions.
pub async fn revoke_attributes(
    auth: CzAuth,
    State(state): State<AppState>,
    Path((a, p)): ProfilePath,
) -> Result<Json<Vec<Value>>, CzError> {
    let (_, profile) = profile_of(&state, &auth.ctx, &a, &p).await?;
    Ok(Json(profile.policy.revoke_attributes.iter().map(attributes::base_attribute).collect()))
}

/// `POST …/attributes/issue/validate`: 200 without a body, or 422 with every problem.
pub async fn validate_issue_attributes(
    auth: CzAuth,
    State(state): State<AppState>,
    Path((a, p)): ProfilePath,
    b: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, CzError> {
    let (_, profile) = profile_of(&state, &auth.ctx, &a, &p).await?;
    checked(&profile.policy.issue_attributes, json_body(b)?)?;
    Ok(StatusCode::OK)
}

/// `POST …/attributes/revoke/validate`.
pub async fn validate_revoke_attributes(
    auth: CzAuth,
    State(state): State<AppState>,
    Path((a, p)): ProfilePath,
    b: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, CzError> {
    let (_, profile) = profile_of(&state, &auth.ctx, &a, &p).await?;
    checked(&profile.policy.revoke_attributes, json_body(b)?)?;
    Ok(StatusCode::OK)
}

/// `POST …/certificates`: issue from the CSR in `request`, or — without one — for a key held here (`keyUuid`) or
/// generated here, named by `csrAttributes`. An asynchronous issue answers `certificateData: ""`.
pub async fn issue(
    auth: CzAuth,
    State(state): State<AppState>,
    Path((a, p)): ProfilePath,
    b: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, CzError> {
    let body: dto::SignRequest = json_body(b)?;
    let (_, profile) = profile_of(&state, &auth.ctx, &a, &p).await?;
    let values = checked(&profile.policy.issue_attributes, body.attributes)?;
    // Read for well-formedness only: signatures are made by this server's CA keys, and custom attributes of
    // CZERTAINLY's inventory have no counterpart here.
    for extra in [body.signature_attributes, body.alt_signature_attributes, body.custom_attributes] {
        attributes::values(extra)?;
    }
    for (field, raw) in [
        ("tokenProfileUuid", &body.token_profile_uuid),
        ("altTokenProfileUuid", &body.alt_token_profile_uuid),
        ("altKeyUuid", &body.alt_key_uuid),
    ] {
        if let Some(raw) = raw.as_deref().filter(|r| !r.is_empty()) {
            uuid_of(field, raw)?;
        }
    }
    let mut req = IssueRequest { ra_profile: profile.uuid.to_string(), attributes: Some(values), ..Default::default() };
    match body.request.as_deref().filter(|r| !r.trim().is_empty()) {
        Some(request) => req.csr = Some(request_bytes(request, body.format.as_deref())?),
        None => {
            let csr = checked(&attributes::csr_definitions(), body.csr_attributes)?;
            let (cn, rdns) = attributes::csr_subject(&csr);
            req.common_name = cn;
            req.subject_attributes = rdns;
            req.key = key_uuid(body.key_uuid.as_deref())?;
        }
    }
    let submitted = state.services.submit(&auth.ctx, req).await.map_err(key_not_found)?;
    Ok(Json(dto::data_response(&submitted)))
}

/// A key named in the body that is not here is a reference to fix in the body.
fn key_not_found(e: CoreError) -> CzError {
    match e {
        CoreError::NotFound { code: "key.not_found", id, .. } => {
            CzError::bad_request(format!("keyUuid {id} names no key held here"))
        }
        other => other.into(),
    }
}

/// `POST …/certificates/{certificateUuid}/issue`: hands a `requested` certificate to its authority.
pub async fn issue_requested(
    auth: CzAuth,
    State(state): State<AppState>,
    Path((a, p, c)): CertificatePath,
) -> Result<Json<Value>, CzError> {
    let (_, profile) = profile_of(&state, &auth.ctx, &a, &p).await?;
    let uuid = match object_of(&state, &auth.ctx, &profile, &c).await? {
        Object::Request(r) => r.uuid,
        Object::Certificate(r) => {
            return Err(CzError::validation(format!(
                "Certificate is in {} state; only a REQUESTED certificate is issued",
                r.state.to_uppercase()
            )))
        }
    };
    let submitted = state.services.submit_request(&auth.ctx, uuid).await?;
    Ok(Json(dto::data_response(&submitted)))
}

/// `POST …/certificates/{certificateUuid}/renew`: the same key; a CSR sent along must carry it.
pub async fn renew(
    auth: CzAuth,
    State(state): State<AppState>,
    Path((a, p, c)): CertificatePath,
    b: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, CzError> {
    let body: dto::RenewRequest = json_body(b)?;
    let (_, profile) = profile_of(&state, &auth.ctx, &a, &p).await?;
    let uuid = certificate_of(&state, &auth.ctx, &profile, &c).await?;
    let csr = match body.request.as_deref().filter(|r| !r.trim().is_empty()) {
        Some(r) => Some(request_bytes(r, body.format.as_deref())?),
        None => None,
    };
    let req = RenewRequest { replace_in_locations: body.replace_in_locations, csr, ..Default::default() };
    let submitted = state.services.renew(&auth.ctx, uuid, &req).await?;
    Ok(Json(dto::data_response(&submitted)))
}

/// `POST …/certificates/{certificateUuid}/rekey`: a new key (from the CSR, `keyUuid`, or generated here) with the
/// same subject.
pub async fn rekey(
    auth: CzAuth,
    State(state): State<AppState>,
    Path((a, p, c)): CertificatePath,
    b: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, CzError> {
    let body: dto::RekeyRequest = json_body(b)?;
    let (_, profile) = profile_of(&state, &auth.ctx, &a, &p).await?;
    let uuid = certificate_of(&state, &auth.ctx, &profile, &c).await?;
    for extra in [body.signature_attributes, body.alt_signature_attributes] {
        attributes::values(extra)?;
    }
    for (field, raw) in [
        ("tokenProfileUuid", &body.token_profile_uuid),
        ("altTokenProfileUuid", &body.alt_token_profile_uuid),
        ("altKeyUuid", &body.alt_key_uuid),
    ] {
        if let Some(raw) = raw.as_deref().filter(|r| !r.is_empty()) {
            uuid_of(field, raw)?;
        }
    }
    let mut req =
        RekeyRequest { replace_in_locations: body.replace_in_locations, keep_subject: true, ..Default::default() };
    match body.request.as_deref().filter(|r| !r.trim().is_empty()) {
        Some(r) => req.csr = Some(request_bytes(r, body.format.as_deref())?),
        None => req.key = key_uuid(body.key_uuid.as_deref())?,
    }
    let submitted = state.services.rekey(&auth.ctx, uuid, &req).await.map_err(key_not_found)?;
    Ok(Json(dto::data_response(&submitted)))
}

/// `POST …/certificates/{certificateUuid}/revoke`: 204, whether revoked at once or left `pending_revoke`.
pub async fn revoke(
    auth: CzAuth,
    State(state): State<AppState>,
    Path((a, p, c)): CertificatePath,
    b: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, CzError> {
    let body: dto::RevocationRequest = json_body(b)?;
    let (_, profile) = profile_of(&state, &auth.ctx, &a, &p).await?;
    let reason = reason_of(body.reason.as_deref())?;
    let values = checked(&profile.policy.revoke_attributes, body.attributes)?;
    let uuid = certificate_of(&state, &auth.ctx, &profile, &c).await?;
    let req = RevokeRequest { reason, invalidity_date: None, destroy_key: body.destroy_key };
    state.services.request_revocation_with(&auth.ctx, uuid, &req, Some(values)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST …/certificates/{certificateUuid}/finalize`: uploads the certificate the authority issued for a
/// `pending_issue` certificate (Base64 DER, or PEM); answers its `CertificateDetailDto`.
pub async fn finalize(
    auth: CzAuth,
    State(state): State<AppState>,
    Path((a, p, c)): CertificatePath,
    b: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, CzError> {
    let body: dto::FinalizeRequest = json_body(b)?;
    let (authority, profile) = profile_of(&state, &auth.ctx, &a, &p).await?;
    let uuid = match object_of(&state, &auth.ctx, &profile, &c).await? {
        Object::Request(r) => r.uuid,
        Object::Certificate(r) => {
            return Err(CzError::validation(format!(
                "Certificate is in {} state; only a PENDING_ISSUE certificate is finalized",
                r.state.to_uppercase()
            )))
        }
    };
    attributes::values(body.custom_attributes)?;
    let certificate = base64_or_pem("certificate", &body.certificate)?;
    let issued = state.services.finalize(&auth.ctx, uuid, &certificate).await?;
    Ok(Json(detail(&state, &auth.ctx, &authority, &profile, issued.record.uuid).await?))
}

/// `POST …/certificates/{certificateUuid}/revoke/confirm`: completes a `pending_revoke` certificate's revocation
/// with the reason, key destruction and attributes of the original request.
pub async fn confirm_revoke(
    auth: CzAuth,
    State(state): State<AppState>,
    Path((a, p, c)): CertificatePath,
) -> Result<Json<Value>, CzError> {
    let (authority, profile) = profile_of(&state, &auth.ctx, &a, &p).await?;
    let uuid = certificate_of(&state, &auth.ctx, &profile, &c).await?;
    let revoked = state.services.confirm_revoke(&auth.ctx, uuid).await?;
    Ok(Json(detail(&state, &auth.ctx, &authority, &profile, revoked.certificate.uuid).await?))
}

/// `POST …/certificates/{certificateUuid}/cancel`: `pending_issue` → `failed`, `pending_revoke` → `issued`; 422
/// when the operation can no longer be aborted.
pub async fn cancel(
    auth: CzAuth,
    State(state): State<AppState>,
    Path((a, p, c)): CertificatePath,
    b: Result<Bytes, BytesRejection>,
) -> Result<Response, CzError> {
    let body: dto::CancelRequest = optional_json_body(b)?;
    if body.reason.as_ref().is_some_and(|r| r.chars().count() > MAX_CANCEL_REASON) {
        return Err(CzError::invalid_argument(format!("reason: size must be between 0 and {MAX_CANCEL_REASON}")));
    }
    let (authority, profile) = profile_of(&state, &auth.ctx, &a, &p).await?;
    let uuid = match object_of(&state, &auth.ctx, &profile, &c).await? {
        Object::Certificate(r) => r.uuid,
        Object::Request(r) => r.uuid,
    };
    state.services.cancel(&auth.ctx, uuid, body.reason).await?;
    Ok(Json(detail(&state, &auth.ctx, &authority, &profile, uuid).await?).into_response())
}
