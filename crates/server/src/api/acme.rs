//! `/v1/acme/eab-keys`: the HS256 keys that bind new ACME accounts to an owner (RFC 8555 §7.3.4), for RA
//! profiles whose directory requires external account binding. The MAC key is shown once, when created.

use super::{time, List};
use crate::extract::{ApiJson, ApiPath, Authorized, ManageAuthorities};
use crate::problem::{ApiError, Problem};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use certwright_core::acme::EabKey;
use certwright_core::services::acme::NewEabKey;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Body of `POST /v1/acme/eab-keys`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEabKey {
    /// The RA profile (name or uuid) whose ACME directory accepts the key.
    pub ra_profile: String,
    /// Who accounts bound with this key belong to.
    pub owner: Option<String>,
    pub comment: Option<String>,
}

/// An EAB key without its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct EabKeyView {
    /// The key identifier ACME clients send (`--eab-kid`).
    pub kid: String,
    pub ra_profile_id: i64,
    pub owner: Option<String>,
    pub comment: Option<String>,
    /// Whether an account was created with it (each key binds one account).
    pub used: bool,
    pub created_by: String,
    pub created_at: String,
}

impl From<EabKey> for EabKeyView {
    fn from(k: EabKey) -> Self {
        Self {
            kid: k.kid,
            ra_profile_id: k.ra_profile_id,
            owner: k.owner,
            comment: k.comment,
            used: k.account_id.is_some(),
            created_by: k.created_by,
            created_at: time(k.created_at),
        }
    }
}

/// A new EAB key with its MAC key.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedEabKey {
    #[serde(flatten)]
    pub key: EabKeyView,
    /// The MAC key, base64url (`--eab-hmac-key`). Shown only now.
    pub hmac_key: String,
}

/// Creates an EAB key for an ACME directory.
#[utoipa::path(post, path = "/v1/acme/eab-keys", tag = "acme", request_body = CreateEabKey,
    security(("bearer" = [])),
    responses((status = 201, body = CreatedEabKey), (status = 400, body = Problem), (status = 401, body = Problem),
               (status = 403, body = Problem), (status = 404, body = Problem, description = "no such RA profile"),
               (status = 409, body = Problem, description = "the RA profile has no ACME directory"),
               (status = 415, body = Problem), (status = 422, body = Problem)))]
pub async fn create_eab_key(
    auth: Authorized<ManageAuthorities>,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreateEabKey>,
) -> Result<(StatusCode, Json<CreatedEabKey>), ApiError> {
    let req = NewEabKey { ra_profile: body.ra_profile, owner: body.owner, comment: body.comment };
    let (key, secret) = state.services.create_eab_key(&auth.ctx, req).await?;
    Ok((StatusCode::CREATED, Json(CreatedEabKey { key: key.into(), hmac_key: secret })))
}

/// Lists the EAB keys (never their MAC keys).
#[utoipa::path(get, path = "/v1/acme/eab-keys", tag = "acme", security(("bearer" = [])),
    responses((status = 200, body = List<EabKeyView>), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn list_eab_keys(
    auth: Authorized<ManageAuthorities>,
    State(state): State<AppState>,
) -> Result<Json<List<EabKeyView>>, ApiError> {
    let keys = state.services.list_eab_keys(&auth.ctx).await?;
    Ok(Json(List::all(keys.into_iter().map(EabKeyView::from).collect())))
}

/// Deletes an EAB key; an account already created with it keeps working.
#[utoipa::path(delete, path = "/v1/acme/eab-keys/{kid}", tag = "acme",
    params(("kid" = String, Path, description = "key identifier")), security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem),
               (status = 404, body = Problem)))]
pub async fn delete_eab_key(
    auth: Authorized<ManageAuthorities>,
    State(state): State<AppState>,
    ApiPath(kid): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    state.services.delete_eab_key(&auth.ctx, &kid).await?;
    Ok(StatusCode::NO_CONTENT)
}
