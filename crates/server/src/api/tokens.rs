//! `/v1/tokens`: API tokens. Secrets are shown once, at creation; lists never contain them.

use super::{time, List};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Authorized, ManageAccess, ReadAccess};
use crate::problem::{ApiError, Problem};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use certwright_core::auth::{ApiToken, Role};
use certwright_core::page::Page;
use certwright_core::services::NewTokenRequest;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// A role: `admin`, `operator`, `requester` or `auditor`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RoleName {
    Admin,
    Operator,
    Requester,
    Auditor,
}

impl From<RoleName> for Role {
    fn from(r: RoleName) -> Self {
        match r {
            RoleName::Admin => Role::Admin,
            RoleName::Operator => Role::Operator,
            RoleName::Requester => Role::Requester,
            RoleName::Auditor => Role::Auditor,
        }
    }
}

impl From<Role> for RoleName {
    fn from(r: Role) -> Self {
        match r {
            Role::Operator => RoleName::Operator,
            Role::Requester => RoleName::Requester,
            Role::Auditor => RoleName::Auditor,
            _ => RoleName::Admin,
        }
    }
}

/// Body of `POST /v1/tokens`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// What the token is for, e.g. `ci-deploy`.
    pub name: String,
    pub role: RoleName,
    /// The principal that owns the token (created when new); defaults to `name`.
    pub principal: Option<String>,
    /// RA profiles the token is limited to; empty or absent means all.
    #[serde(default)]
    pub ra_profiles: Vec<String>,
    /// Lifetime in seconds; absent means the token does not expire.
    pub expires_in_seconds: Option<i64>,
}

/// An API token, without its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenView {
    pub id: Uuid,
    pub name: String,
    pub principal: String,
    pub role: RoleName,
    pub ra_profiles: Vec<String>,
    /// `static` (created by an administrator) or `oauth` (client-credentials grant).
    pub source: String,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
}

impl From<ApiToken> for TokenView {
    fn from(t: ApiToken) -> Self {
        Self {
            id: t.uuid,
            name: t.name,
            principal: t.principal,
            role: t.role.into(),
            ra_profiles: t.ra_profiles,
            source: t.source.as_str().to_owned(),
            created_at: time(t.created_at),
            expires_at: t.expires_at.map(time),
            revoked_at: t.revoked_at.map(time),
        }
    }
}

/// A new token and its secret, which is not shown again.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedToken {
    pub token: TokenView,
    /// The bearer secret: send it as `Authorization: Bearer <secret>`.
    pub secret: String,
}

/// Filters of `GET /v1/tokens`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TokenListParams {
    /// Page size, 1 to 1000 (default 50).
    pub limit: Option<u32>,
    /// Items to skip (default 0).
    pub offset: Option<u64>,
    /// Include revoked and expired tokens.
    #[serde(default)]
    pub include_inactive: bool,
}

/// Creates an API token.
#[utoipa::path(post, path = "/v1/tokens", tag = "access", request_body = CreateToken, security(("bearer" = [])),
    responses((status = 201, body = CreatedToken), (status = 400, body = Problem), (status = 401, body = Problem),
               (status = 403, body = Problem), (status = 415, body = Problem), (status = 422, body = Problem)))]
pub async fn create(
    auth: Authorized<ManageAccess>,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreateToken>,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    let (token, secret) = state
        .services
        .create_token(
            &auth.ctx,
            NewTokenRequest {
                name: body.name,
                role: body.role.into(),
                principal: body.principal,
                ra_profiles: body.ra_profiles,
                expires_in: body.expires_in_seconds,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(CreatedToken { token: token.into(), secret: secret.danger_expose().to_owned() })))
}

/// Lists API tokens.
#[utoipa::path(get, path = "/v1/tokens", tag = "access", params(TokenListParams), security(("bearer" = [])),
    responses((status = 200, body = List<TokenView>), (status = 400, body = Problem), (status = 401, body = Problem),
               (status = 403, body = Problem)))]
pub async fn list(
    auth: Authorized<ReadAccess>,
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<TokenListParams>,
) -> Result<Json<List<TokenView>>, ApiError> {
    let page = Page::new(q.limit, q.offset)?;
    let listed = state.services.list_tokens(&auth.ctx, page, q.include_inactive).await?;
    Ok(Json(List::new(listed, page, TokenView::from)))
}

/// Revokes an API token; it stops working immediately.
#[utoipa::path(delete, path = "/v1/tokens/{id}", tag = "access", params(("id" = Uuid, Path, description = "token id")),
    security(("bearer" = [])),
    responses((status = 200, body = TokenView), (status = 400, body = Problem), (status = 401, body = Problem),
               (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn revoke(
    auth: Authorized<ManageAccess>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<TokenView>, ApiError> {
    Ok(Json(state.services.revoke_token(&auth.ctx, id).await?.into()))
}

/// Who the presented token belongs to.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    pub principal: String,
    /// The principal's integer code (the senhasegura face's `responsible`).
    pub principal_code: Option<i64>,
    pub token: Option<Uuid>,
    pub role: RoleName,
    pub ra_profiles: Vec<String>,
}

/// Describes the caller: principal, token and role.
#[utoipa::path(get, path = "/v1/me", tag = "access", security(("bearer" = [])),
    responses((status = 200, body = Me), (status = 401, body = Problem)))]
pub async fn me(
    auth: Authorized<crate::extract::AnyRole>,
    axum::extract::State(state): axum::extract::State<AppState>,
) -> Result<Json<Me>, ApiError> {
    let principal_code = state.services.principal_code(&auth.ctx).await?;
    let c = auth.ctx.caller;
    Ok(Json(Me {
        principal: c.principal,
        principal_code,
        token: c.token,
        role: c.role.into(),
        ra_profiles: c.ra_profiles,
    }))
}
