//! `/v1/oauth1-credentials`: OAuth 1.0a credentials (consumer key and secret, token and secret) for clients that
//! sign their requests with HMAC-SHA1 or HMAC-SHA256 (RFC 5849), as senhasegura A2A clients can.

use super::time;
use super::tokens::RoleName;
use crate::extract::{ApiJson, ApiPath, Authorized, ManageAccess, ReadAccess};
use crate::problem::{ApiError, Problem};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use certwright_core::oauth1::Oauth1Credential;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// Body of `POST /v1/oauth1-credentials`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOauth1Credential {
    pub name: String,
    pub role: RoleName,
    /// RA profiles its requests are limited to; empty or absent means all.
    #[serde(default)]
    pub ra_profiles: Vec<String>,
}

/// A credential, without its secrets.
#[derive(Debug, Serialize, ToSchema)]
pub struct Oauth1CredentialView {
    pub id: Uuid,
    pub name: String,
    /// `oauth1:<name>`, as the audit log names it.
    pub principal: String,
    pub role: RoleName,
    pub ra_profiles: Vec<String>,
    pub consumer_key: String,
    pub token: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

impl From<Oauth1Credential> for Oauth1CredentialView {
    fn from(c: Oauth1Credential) -> Self {
        Self {
            id: c.uuid,
            name: c.name,
            principal: c.principal,
            role: c.role.into(),
            ra_profiles: c.ra_profiles,
            consumer_key: c.consumer_key,
            token: c.token,
            created_at: time(c.created_at),
            revoked_at: c.revoked_at.map(time),
        }
    }
}

/// A new credential and its secrets, which are not shown again.
#[derive(Serialize, ToSchema)]
pub struct CreatedOauth1Credential {
    pub credential: Oauth1CredentialView,
    pub consumer_key: String,
    pub consumer_secret: String,
    pub token: String,
    pub token_secret: String,
}

impl std::fmt::Debug for CreatedOauth1Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedOauth1Credential").field("credential", &self.credential).finish_non_exhaustive()
    }
}

/// Creates an OAuth 1.0a credential.
#[utoipa::path(post, path = "/v1/oauth1-credentials", tag = "access", request_body = CreateOauth1Credential,
    security(("bearer" = [])),
    responses((status = 201, body = CreatedOauth1Credential), (status = 400, body = Problem),
               (status = 401, body = Problem), (status = 403, body = Problem), (status = 415, body = Problem),
               (status = 422, body = Problem)))]
pub async fn create(
    auth: Authorized<ManageAccess>,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreateOauth1Credential>,
) -> Result<(StatusCode, Json<CreatedOauth1Credential>), ApiError> {
    let created =
        state.services.create_oauth1_credential(&auth.ctx, &body.name, body.role.into(), body.ra_profiles).await?;
    let c = created.credential;
    Ok((
        StatusCode::CREATED,
        Json(CreatedOauth1Credential {
            consumer_key: c.consumer_key.clone(),
            token: c.token.clone(),
            consumer_secret: created.consumer_secret.to_string(),
            token_secret: created.token_secret.to_string(),
            credential: c.into(),
        }),
    ))
}

/// Lists OAuth 1.0a credentials (never their secrets).
#[utoipa::path(get, path = "/v1/oauth1-credentials", tag = "access", security(("bearer" = [])),
    responses((status = 200, body = super::List<Oauth1CredentialView>), (status = 401, body = Problem),
               (status = 403, body = Problem)))]
pub async fn list(
    auth: Authorized<ReadAccess>,
    State(state): State<AppState>,
) -> Result<Json<super::List<Oauth1CredentialView>>, ApiError> {
    let all = state.services.oauth1_credentials(&auth.ctx).await?;
    Ok(Json(super::List::all(all.into_iter().map(Oauth1CredentialView::from).collect())))
}

/// Revokes an OAuth 1.0a credential.
#[utoipa::path(delete, path = "/v1/oauth1-credentials/{id}", tag = "access",
    params(("id" = Uuid, Path, description = "credential id")), security(("bearer" = [])),
    responses((status = 200, body = Oauth1CredentialView), (status = 400, body = Problem),
               (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
               (status = 409, body = Problem)))]
pub async fn revoke(
    auth: Authorized<ManageAccess>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<Oauth1CredentialView>, ApiError> {
    Ok(Json(state.services.revoke_oauth1_credential(&auth.ctx, id).await?.into()))
}
