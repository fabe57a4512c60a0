//! The legacy v1 client operations of an RA profile (by name): issue for an end entity with its username and
//! password, revoke by serial number and issuer DN, and end-entity management. `EndEntityStatus` travels as the
//! enum name (`NEW`, `GENERATED`, …).

use super::{base64_or_pem, json_body, CzAuth, CzError};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use base64::Engine;
use certwright_core::end_entity::{EndEntity, EndEntityChange, EndEntityStatus, ExtensionData, NewEndEntity};
use certwright_core::revocation::RevocationReason;
use certwright_core::services::RevokeRequest;
use certwright_core::CoreError;
use serde::Deserialize;
use serde_json::{json, Value};

/// `{pkcs10, username, password}`.
#[derive(Debug, Deserialize)]
pub struct IssueBody {
    pub pkcs10: String,
    pub username: String,
    pub password: String,
}

/// `{certificateSN, issuerDN, reason}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RevokeBody {
    #[serde(rename = "certificateSN")]
    pub certificate_sn: String,
    #[serde(rename = "issuerDN")]
    pub issuer_dn: String,
    pub reason: String,
}

/// `EndEntityExtendedInfoDto`.
#[derive(Debug, Deserialize)]
pub struct ExtensionDto {
    pub name: String,
    #[serde(default)]
    pub value: String,
}

/// `ClientAddEndEntityRequestDto`. `raProfile` is required by the contract but the path names the profile; its
/// content is not used.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AddBody {
    pub username: String,
    pub password: String,
    #[serde(rename = "subjectDN")]
    pub subject_dn: String,
    /// Read but not used: the path names the profile.
    #[allow(dead_code)]
    pub ra_profile: Option<Value>,
    pub email: Option<String>,
    pub subject_alt_name: Option<String>,
    #[serde(default)]
    pub extension_data: Vec<ExtensionDto>,
}

/// `ClientEditEndEntityRequestDto`: what is present is replaced.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EditBody {
    /// Read but not used: an end entity stays in its profile.
    #[allow(dead_code)]
    pub ra_profile: Option<Value>,
    pub email: Option<String>,
    pub extension_data: Option<Vec<ExtensionDto>>,
    pub password: Option<String>,
    pub subject_alt_name: Option<String>,
    #[serde(rename = "subjectDN")]
    pub subject_dn: Option<String>,
    pub status: Option<String>,
}

fn status_name(s: EndEntityStatus) -> String {
    s.as_str().to_ascii_uppercase()
}

fn status_of(raw: &str) -> Result<EndEntityStatus, CzError> {
    EndEntityStatus::parse(&raw.to_ascii_lowercase()).ok_or_else(|| {
        CzError::bad_request(format!(
            "Unknown end entity status '{}': expected one of {}",
            raw.chars().take(40).collect::<String>(),
            EndEntityStatus::ALL.map(status_name).join(", ")
        ))
    })
}

/// `ClientEndEntityDto`.
fn end_entity(e: &EndEntity) -> Value {
    json!({
        "username": e.username, "subjectDN": e.subject_dn, "email": e.email,
        "extensionData": e.extension_data.iter().map(|x| json!({ "name": x.name, "value": x.value })).collect::<Vec<_>>(),
        "subjectAltName": e.subject_alt_name, "status": status_name(e.status),
    })
}

fn extension_data(items: Vec<ExtensionDto>) -> Vec<ExtensionData> {
    items.into_iter().map(|x| ExtensionData { name: x.name, value: x.value }).collect()
}

/// A missing profile or end entity answered as CZERTAINLY's NotFound.
fn not_found(e: CoreError) -> CzError {
    match e {
        CoreError::NotFound { what, id, .. } => CzError::not_found(format!("{what} {id} not found")),
        other => other.into(),
    }
}

/// `POST /{raProfileName}/certificate/issue`: the end entity must exist, its password match and its status allow
/// enrolment; the certificate carries the end entity's subject and alternative names.
pub async fn issue(
    auth: CzAuth,
    State(state): State<AppState>,
    Path(profile): Path<String>,
    b: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, CzError> {
    let body: IssueBody = json_body(b)?;
    let csr = base64_or_pem("pkcs10", &body.pkcs10)?;
    let issued = state
        .services
        .enrol_end_entity(&auth.ctx, &profile, &body.username, &body.password, &csr)
        .await
        .map_err(not_found)?;
    Ok(Json(json!({ "certificateData": base64::engine::general_purpose::STANDARD.encode(&issued.record.der) })))
}

/// `POST /{raProfileName}/certificate/revoke`: by serial number (hex) and issuer DN.
pub async fn revoke(
    auth: CzAuth,
    State(state): State<AppState>,
    Path(profile): Path<String>,
    b: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, CzError> {
    let body: RevokeBody = json_body(b)?;
    let reason = RevocationReason::parse(&body.reason)
        .ok()
        .filter(|r| *r != RevocationReason::RemoveFromCrl)
        .ok_or_else(|| {
            CzError::bad_request(format!(
                "Unknown revocation reason '{}'",
                body.reason.chars().take(40).collect::<String>()
            ))
        })?;
    let record = state
        .services
        .certificate_by_issuer_and_serial(&auth.ctx, &profile, &body.issuer_dn, &body.certificate_sn)
        .await
        .map_err(not_found)?;
    let req = RevokeRequest { reason, invalidity_date: None, destroy_key: false };
    state.services.request_revocation(&auth.ctx, record.uuid, &req).await?;
    Ok(StatusCode::OK)
}

/// `GET /{raProfileName}/endentity`.
pub async fn list(
    auth: CzAuth,
    State(state): State<AppState>,
    Path(profile): Path<String>,
) -> Result<Json<Vec<Value>>, CzError> {
    let entities = state.services.end_entities(&auth.ctx, &profile).await.map_err(not_found)?;
    Ok(Json(entities.iter().map(end_entity).collect()))
}

/// `POST /{raProfileName}/endentity`: 200 without a body; 409 when the username is taken.
pub async fn add(
    auth: CzAuth,
    State(state): State<AppState>,
    Path(profile): Path<String>,
    b: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, CzError> {
    let body: AddBody = json_body(b)?;
    let new = NewEndEntity {
        username: body.username,
        password: body.password.into(),
        subject_dn: body.subject_dn,
        subject_alt_name: body.subject_alt_name,
        email: body.email,
        extension_data: extension_data(body.extension_data),
    };
    state.services.create_end_entity(&auth.ctx, &profile, new).await.map_err(not_found)?;
    Ok(StatusCode::OK)
}

/// `GET /{raProfileName}/endentity/{username}`.
pub async fn get_one(
    auth: CzAuth,
    State(state): State<AppState>,
    Path((profile, username)): Path<(String, String)>,
) -> Result<Json<Value>, CzError> {
    let e = state.services.end_entity(&auth.ctx, &profile, &username).await.map_err(not_found)?;
    Ok(Json(end_entity(&e)))
}

/// `POST /{raProfileName}/endentity/{username}`: edits what the body carries.
pub async fn edit(
    auth: CzAuth,
    State(state): State<AppState>,
    Path((profile, username)): Path<(String, String)>,
    b: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, CzError> {
    let body: EditBody = json_body(b)?;
    let change = EndEntityChange {
        password: body.password.filter(|p| !p.is_empty()).map(Into::into),
        subject_dn: body.subject_dn,
        subject_alt_name: body.subject_alt_name,
        email: body.email,
        extension_data: body.extension_data.map(extension_data),
        status: body.status.as_deref().map(status_of).transpose()?,
    };
    state.services.update_end_entity(&auth.ctx, &profile, &username, change).await.map_err(not_found)?;
    Ok(StatusCode::OK)
}

/// `DELETE /{raProfileName}/endentity/{username}`: revokes every certificate issued for it, then deletes it.
pub async fn delete(
    auth: CzAuth,
    State(state): State<AppState>,
    Path((profile, username)): Path<(String, String)>,
) -> Result<StatusCode, CzError> {
    state.services.delete_end_entity(&auth.ctx, &profile, &username).await.map_err(not_found)?;
    Ok(StatusCode::OK)
}

/// `PUT /{raProfileName}/endentity/{username}/resetPassword`: the end entity may enrol again with its password
/// (status back to `NEW`).
pub async fn reset_password(
    auth: CzAuth,
    State(state): State<AppState>,
    Path((profile, username)): Path<(String, String)>,
) -> Result<StatusCode, CzError> {
    state.services.reset_end_entity_password(&auth.ctx, &profile, &username).await.map_err(not_found)?;
    Ok(StatusCode::OK)
}
