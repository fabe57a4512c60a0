//! `/v1/authorities` and `/v1/ra-profiles`: the CA hierarchy and the policies certificates are issued under;
//! `/ca/{id}.crt`: CA certificates over plain HTTP for relying parties.

use super::{time, List};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Authorized, ManageAuthorities, ReadInventory};
use crate::problem::{ApiError, Problem};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use certwright_core::ca::{Authority, Policy, RaProfile, RaProfileChange};
use certwright_core::services::NewAuthorityRequest;
use certwright_core::CoreError;
use certwright_pki::alg::KeyAlgorithm;
use certwright_pki::pem;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// A certificate authority.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuthorityView {
    pub id: Uuid,
    /// The integer code the senhasegura face names authorities by (`ca`).
    pub code: i64,
    pub name: String,
    /// `root`, `intermediate` or `external`.
    pub kind: String,
    /// The signing parent's id (absent for a root).
    pub parent: Option<Uuid>,
    pub subject: String,
    /// Hex subject key identifier.
    pub key_identifier: String,
    pub not_before: String,
    pub not_after: String,
    pub created_at: String,
    /// The CA certificate.
    pub certificate_pem: String,
    /// The CA certificate followed by its issuers up to the root.
    pub chain_pem: String,
    /// Where relying parties fetch the certificate (DER).
    pub certificate_url: String,
    /// For an external authority, how it is reached (`manual`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connector: Option<String>,
}

async fn view(state: &AppState, a: Authority, all: &[Authority]) -> Result<AuthorityView, ApiError> {
    let chain = state.services.authority_chain(&a).await?;
    Ok(AuthorityView {
        id: a.uuid,
        code: a.id,
        name: a.name,
        kind: a.kind.as_str().to_owned(),
        parent: a.parent_id.and_then(|p| all.iter().find(|x| x.id == p).map(|x| x.uuid)),
        subject: a.subject,
        key_identifier: a.key_identifier,
        not_before: time(a.not_before),
        not_after: time(a.not_after),
        created_at: time(a.created_at),
        certificate_pem: if a.certificate_der.is_empty() {
            String::new()
        } else {
            pem::encode("CERTIFICATE", &a.certificate_der)
        },
        connector: a.connector.as_ref().map(|c| c.as_str().to_owned()),
        chain_pem: chain.iter().map(|c| pem::encode("CERTIFICATE", c)).collect(),
        certificate_url: format!("/ca/{}.crt", a.uuid),
    })
}

/// List endpoints without parameters still refuse unknown ones.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoParams {}

/// Lists certificate authorities.
#[utoipa::path(get, path = "/v1/authorities", tag = "pki", security(("bearer" = [])),
    responses((status = 200, body = List<AuthorityView>), (status = 401, body = Problem)))]
pub async fn list(
    auth: Authorized<ReadInventory>,
    State(state): State<AppState>,
    ApiQuery(NoParams {}): ApiQuery<NoParams>,
) -> Result<Json<List<AuthorityView>>, ApiError> {
    let all = state.services.list_authorities(&auth.ctx).await?;
    let mut items = Vec::with_capacity(all.len());
    for a in all.clone() {
        items.push(view(&state, a, &all).await?);
    }
    Ok(Json(List::all(items)))
}

/// One certificate authority with its chain.
#[utoipa::path(get, path = "/v1/authorities/{id}", tag = "pki", params(("id" = Uuid, Path, description = "authority id")),
    security(("bearer" = [])),
    responses((status = 200, body = AuthorityView), (status = 400, body = Problem), (status = 401, body = Problem),
               (status = 404, body = Problem)))]
pub async fn get(
    auth: Authorized<ReadInventory>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<AuthorityView>, ApiError> {
    let a = state.services.authority(&auth.ctx, id).await?;
    let all = state.services.list_authorities(&auth.ctx).await?;
    Ok(Json(view(&state, a, &all).await?))
}

/// Body of `POST /v1/authorities`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAuthority {
    pub name: String,
    /// The signing authority; absent creates a self-signed root.
    pub parent: Option<Uuid>,
    /// `ecdsa-p256` (default), `ecdsa-p384`, `ecdsa-p521`, `rsa-2048`, `rsa-3072`, `rsa-4096`, `ed25519`,
    /// `ml-dsa-44`, `ml-dsa-65`, `ml-dsa-87`.
    pub key_algorithm: Option<String>,
    /// RFC 4514 subject (default `CN=<name>`).
    pub subject: Option<String>,
    /// Default 3650 for a root, 1825 for an intermediate; never beyond the parent's expiry.
    pub validity_days: Option<u32>,
    /// basicConstraints pathLenConstraint.
    pub path_len: Option<u8>,
    /// Permitted DNS subtrees (name constraints).
    #[serde(default)]
    pub permitted_dns: Vec<String>,
    /// Registers an external authority instead of creating a CA here: `{"type": "manual"}` — requests wait in
    /// `pending_issue` until the issued certificate is uploaded (`/finalize`), revocations in `pending_revoke`
    /// until confirmed. Excludes every other field but `name` and `ca_certificate`.
    #[schema(value_type = Option<Object>)]
    pub external: Option<certwright_core::ca::Connector>,
    /// For an external authority: its CA certificate (PEM), against which uploaded certificates are checked.
    pub ca_certificate: Option<String>,
}

/// Creates a root or intermediate authority; its key is generated here and never leaves.
#[utoipa::path(post, path = "/v1/authorities", tag = "pki", request_body = CreateAuthority, security(("bearer" = [])),
    responses((status = 201, body = AuthorityView), (status = 400, body = Problem), (status = 401, body = Problem),
               (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem),
               (status = 422, body = Problem)))]
pub async fn create(
    auth: Authorized<ManageAuthorities>,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreateAuthority>,
) -> Result<(StatusCode, Json<AuthorityView>), ApiError> {
    if let Some(connector) = body.external {
        if body.parent.is_some()
            || body.key_algorithm.is_some()
            || body.subject.is_some()
            || body.path_len.is_some()
            || body.validity_days.is_some()
            || !body.permitted_dns.is_empty()
        {
            return Err(CoreError::invalid(
                "authority.external_fields",
                "an external authority takes only name, external and ca_certificate",
            )
            .into());
        }
        let ca = body.ca_certificate.as_deref().map(str::as_bytes);
        let a = state.services.create_external_authority(&auth.ctx, &body.name, connector, ca).await?;
        let all = state.services.list_authorities(&auth.ctx).await?;
        return Ok((StatusCode::CREATED, Json(view(&state, a, &all).await?)));
    }
    if body.ca_certificate.is_some() {
        return Err(
            CoreError::invalid("authority.external_fields", "ca_certificate belongs to external authorities").into()
        );
    }
    let key_algorithm = KeyAlgorithm::parse(body.key_algorithm.as_deref().unwrap_or("ecdsa-p256"))
        .map_err(|e| CoreError::invalid("authority.invalid_key", e.to_string()))?;
    let req = NewAuthorityRequest {
        name: body.name,
        validity_days: body.validity_days.unwrap_or(if body.parent.is_some() { 1825 } else { 3650 }),
        parent: body.parent,
        key_algorithm,
        subject: body.subject,
        path_len: body.path_len,
        permitted_dns: body.permitted_dns,
    };
    let a = state.services.create_authority(&auth.ctx, req).await?;
    let all = state.services.list_authorities(&auth.ctx).await?;
    Ok((StatusCode::CREATED, Json(view(&state, a, &all).await?)))
}

/// A CA certificate (DER), for relying parties and the caIssuers URL of issued certificates. No
/// authentication: CA certificates are public.
#[utoipa::path(get, path = "/ca/{file}", tag = "pki", params(("file" = String, Path, description = "`<authority id>.crt`")),
    responses((status = 200, content_type = "application/pkix-cert", body = Vec<u8>), (status = 404, body = Problem)))]
pub async fn ca_certificate(
    State(state): State<AppState>,
    ApiPath(file): ApiPath<String>,
) -> Result<Response, ApiError> {
    let not_found = || ApiError::from(CoreError::not_found("authority.not_found", "authority", &file));
    let id = file.strip_suffix(".crt").and_then(|s| Uuid::parse_str(s).ok()).ok_or_else(not_found)?;
    let a = state.services.authority(&certwright_core::auth::Ctx::system(), id).await.map_err(|_| not_found())?;
    Ok(([(header::CONTENT_TYPE, "application/pkix-cert")], a.certificate_der).into_response())
}

/// An RA profile.
#[derive(Debug, Serialize, ToSchema)]
pub struct RaProfileView {
    pub id: Uuid,
    pub name: String,
    /// The issuing authority.
    pub authority: Uuid,
    #[schema(value_type = Object)]
    pub policy: serde_json::Value,
    /// A disabled profile issues nothing (`409 ra_profile.disabled`).
    pub enabled: bool,
    pub created_at: String,
    pub updated_at: String,
}

fn profile_view(p: RaProfile, all: &[Authority]) -> RaProfileView {
    RaProfileView {
        id: p.uuid,
        name: p.name,
        authority: all.iter().find(|a| a.id == p.authority_id).map(|a| a.uuid).unwrap_or_default(),
        policy: serde_json::to_value(&p.policy).unwrap_or_default(),
        enabled: p.enabled,
        created_at: time(p.created_at),
        updated_at: time(p.updated_at),
    }
}

/// Lists RA profiles.
#[utoipa::path(get, path = "/v1/ra-profiles", tag = "pki", security(("bearer" = [])),
    responses((status = 200, body = List<RaProfileView>), (status = 401, body = Problem)))]
pub async fn list_profiles(
    auth: Authorized<ReadInventory>,
    State(state): State<AppState>,
    ApiQuery(NoParams {}): ApiQuery<NoParams>,
) -> Result<Json<List<RaProfileView>>, ApiError> {
    let all = state.services.list_authorities(&auth.ctx).await?;
    let items: Vec<_> =
        state.services.list_ra_profiles(&auth.ctx).await?.into_iter().map(|p| profile_view(p, &all)).collect();
    Ok(Json(List::all(items)))
}

/// Body of `POST /v1/ra-profiles`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRaProfile {
    pub name: String,
    /// The authority that signs certificates issued through this profile.
    pub authority: Uuid,
    /// Policy; omitted fields take their defaults (see the RA profile guide).
    #[schema(value_type = Object)]
    #[serde(default)]
    pub policy: Option<serde_json::Value>,
}

/// Creates an RA profile.
#[utoipa::path(post, path = "/v1/ra-profiles", tag = "pki", request_body = CreateRaProfile, security(("bearer" = [])),
    responses((status = 201, body = RaProfileView), (status = 400, body = Problem), (status = 401, body = Problem),
               (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem),
               (status = 422, body = Problem)))]
pub async fn create_profile(
    auth: Authorized<ManageAuthorities>,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreateRaProfile>,
) -> Result<(StatusCode, Json<RaProfileView>), ApiError> {
    let policy = match body.policy {
        Some(v) => parse_policy(v)?,
        None => Policy::default(),
    };
    let p = state.services.create_ra_profile(&auth.ctx, &body.name, body.authority, policy).await?;
    let all = state.services.list_authorities(&auth.ctx).await?;
    Ok((StatusCode::CREATED, Json(profile_view(p, &all))))
}

fn parse_policy(v: serde_json::Value) -> Result<Policy, CoreError> {
    serde_json::from_value(v).map_err(|e| CoreError::invalid("ra_profile.invalid_policy", format!("policy: {e}")))
}

/// One RA profile.
#[utoipa::path(get, path = "/v1/ra-profiles/{id}", tag = "pki",
    params(("id" = String, Path, description = "RA profile id or name")), security(("bearer" = [])),
    responses((status = 200, body = RaProfileView), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn get_profile(
    auth: Authorized<ReadInventory>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<RaProfileView>, ApiError> {
    let p = state.services.ra_profile(&auth.ctx, &id).await?;
    let all = state.services.list_authorities(&auth.ctx).await?;
    Ok(Json(profile_view(p, &all)))
}

/// Body of `PUT /v1/ra-profiles/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRaProfile {
    /// The whole new policy; omitted fields take their defaults, as on create.
    #[schema(value_type = Object)]
    pub policy: serde_json::Value,
    /// Another signing authority (one holding a key); absent keeps the current one.
    pub authority: Option<Uuid>,
    /// `false` stops issuance through the profile; absent keeps the current flag.
    pub enabled: Option<bool>,
}

/// Replaces an RA profile's policy (and, when given, its authority and enabled flag). The name cannot change.
/// Takes effect for the next request on this node, and within 2 seconds on other nodes.
#[utoipa::path(put, path = "/v1/ra-profiles/{id}", tag = "pki", request_body = UpdateRaProfile,
    params(("id" = String, Path, description = "RA profile id or name")), security(("bearer" = [])),
    responses((status = 200, body = RaProfileView), (status = 400, body = Problem), (status = 401, body = Problem),
               (status = 403, body = Problem), (status = 404, body = Problem), (status = 415, body = Problem),
               (status = 422, body = Problem)))]
pub async fn update_profile(
    auth: Authorized<ManageAuthorities>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<UpdateRaProfile>,
) -> Result<Json<RaProfileView>, ApiError> {
    let change =
        RaProfileChange { authority: body.authority, policy: parse_policy(body.policy)?, enabled: body.enabled };
    let p = state.services.update_ra_profile(&auth.ctx, &id, change).await?;
    let all = state.services.list_authorities(&auth.ctx).await?;
    Ok(Json(profile_view(p, &all)))
}

/// Deletes an RA profile that no certificate was issued through. A profile with certificates is refused
/// (`409 ra_profile.in_use`): disable it instead, so the inventory keeps its link. `default` cannot be deleted.
#[utoipa::path(delete, path = "/v1/ra-profiles/{id}", tag = "pki",
    params(("id" = String, Path, description = "RA profile id or name")), security(("bearer" = [])),
    responses((status = 204, description = "deleted"), (status = 401, body = Problem), (status = 403, body = Problem),
               (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn delete_profile(
    auth: Authorized<ManageAuthorities>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    state.services.delete_ra_profile(&auth.ctx, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
