//! `/v1/locations` and `/v1/deployments`: where certificates are installed (nginx, Apache httpd or plain files,
//! on this host or over SSH) and the deployments that install or remove them, with their outcome.

use super::{time, List};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Authorized, ManageAuthorities, ManageRequests, ReadInventory};
use crate::problem::{ApiError, Problem};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use certwright_core::deploy::{Credentials, DeployAction, Deployment, Location, LocationSpec};
use certwright_core::page::Page;
use certwright_core::services::NewLocation;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// Secrets of a location: stored sealed, never returned.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct CredentialsBody {
    /// The private key (OpenSSH or PEM) that logs in over SSH.
    pub ssh_private_key: Option<String>,
    /// The F5 BIG-IP or WinRM password, or the IBM key database password.
    pub password: Option<String>,
}

impl std::fmt::Debug for CredentialsBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialsBody")
            .field("ssh_private_key", &self.ssh_private_key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Body of `POST /v1/locations`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateLocation {
    pub name: String,
    /// `kind` (`file`, `nginx`, `apache`), `ssh` (`host`, `port`, `user`, `host_key` — the pinned
    /// `ssh-ed25519 AAAA…` key; absent for this host), `certificate_path`, `chain_path`, `key_path`, `fullchain`,
    /// `owner`, `test_command` and `reload_command` (argv arrays; need `deploy_allow_custom_commands`),
    /// `verify_address` (`address:port` checked over TLS after the reload), `verify_server_name`.
    #[schema(value_type = Object)]
    pub spec: LocationSpec,
    #[serde(default)]
    pub credentials: Option<CredentialsBody>,
}

impl std::fmt::Debug for CreateLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateLocation").field("name", &self.name).field("spec", &self.spec).finish_non_exhaustive()
    }
}

/// A location, without its credentials.
#[derive(Debug, Serialize, ToSchema)]
pub struct LocationView {
    pub id: Uuid,
    pub name: String,
    #[schema(value_type = Object)]
    pub spec: LocationSpec,
    /// Whether credentials are stored (they are never shown).
    pub has_credentials: bool,
    pub created_by: String,
    pub created_at: String,
}

fn location_view(l: Location) -> LocationView {
    LocationView {
        id: l.uuid,
        name: l.name,
        spec: l.spec,
        has_credentials: l.sealed_credentials.is_some(),
        created_by: l.created_by,
        created_at: time(l.created_at),
    }
}

/// A deployment and its outcome.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeploymentView {
    pub id: Uuid,
    pub certificate: Uuid,
    pub location: Uuid,
    /// `deploy` or `undeploy`.
    pub action: &'static str,
    /// `queued`, `running`, `succeeded` or `failed`.
    pub state: &'static str,
    /// `steps` done, `failed_step`, `rolled_back` (the previous files were restored), `attempt`.
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    pub error: Option<String>,
    /// `api`, or `renewal` for a renewed certificate replacing the one it renews.
    pub reason: String,
    pub created_by: String,
    pub created_at: String,
    pub finished_at: Option<String>,
}

fn deployment_view(d: Deployment) -> DeploymentView {
    DeploymentView {
        id: d.uuid,
        certificate: d.certificate_uuid,
        location: d.location_uuid,
        action: d.action.as_str(),
        state: d.state.as_str(),
        details: d.details,
        error: d.error,
        reason: d.reason,
        created_by: d.created_by,
        created_at: time(d.created_at),
        finished_at: d.finished_at.map(time),
    }
}

/// Creates a location.
#[utoipa::path(post, path = "/v1/locations", tag = "deployment", request_body = CreateLocation,
    security(("bearer" = [])),
    responses((status = 201, body = LocationView),
               (status = 400, body = Problem, description = "a bad spec (`location.invalid`), a path outside \
                `deploy_allowed_paths` or custom commands not allowed (`location.not_allowed`)"),
               (status = 401, body = Problem), (status = 403, body = Problem),
               (status = 409, body = Problem, description = "the name is taken"), (status = 422, body = Problem)))]
pub async fn create_location(
    auth: Authorized<ManageAuthorities>,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreateLocation>,
) -> Result<(StatusCode, Json<LocationView>), ApiError> {
    let credentials = body.credentials.unwrap_or_default();
    let req = NewLocation {
        name: body.name,
        spec: body.spec,
        credentials: Credentials { ssh_private_key: credentials.ssh_private_key, password: credentials.password },
    };
    let location = state.services.create_location(&auth.ctx, req).await?;
    Ok((StatusCode::CREATED, Json(location_view(location))))
}

/// Every location, by name.
#[utoipa::path(get, path = "/v1/locations", tag = "deployment", security(("bearer" = [])),
    responses((status = 200, body = List<LocationView>), (status = 401, body = Problem)))]
pub async fn list_locations(
    auth: Authorized<ReadInventory>,
    State(state): State<AppState>,
) -> Result<Json<List<LocationView>>, ApiError> {
    let all = state.services.locations(&auth.ctx).await?;
    Ok(Json(List::all(all.into_iter().map(location_view).collect())))
}

/// One location (by id or name).
#[utoipa::path(get, path = "/v1/locations/{id}", tag = "deployment",
    params(("id" = String, Path, description = "location id or name")), security(("bearer" = [])),
    responses((status = 200, body = LocationView), (status = 404, body = Problem)))]
pub async fn get_location(
    auth: Authorized<ReadInventory>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<LocationView>, ApiError> {
    Ok(Json(location_view(state.services.location(&auth.ctx, &id).await?)))
}

/// Deletes a location and its deployment history (installed files stay).
#[utoipa::path(delete, path = "/v1/locations/{id}", tag = "deployment",
    params(("id" = String, Path, description = "location id or name")), security(("bearer" = [])),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn delete_location(
    auth: Authorized<ManageAuthorities>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    state.services.delete_location(&auth.ctx, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Body of `POST /v1/locations/{id}/deployments`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QueueDeployment {
    pub certificate: Uuid,
    /// `deploy` (default) or `undeploy`.
    #[serde(default)]
    pub action: Option<String>,
}

/// Queues the installation (or removal) of a certificate at a location; poll the deployment for its outcome.
#[utoipa::path(post, path = "/v1/locations/{id}/deployments", tag = "deployment", request_body = QueueDeployment,
    params(("id" = String, Path, description = "location id or name")), security(("bearer" = [])),
    responses((status = 202, body = DeploymentView), (status = 400, body = Problem), (status = 403, body = Problem),
               (status = 404, body = Problem), (status = 409, body = Problem, description = "the certificate is not issued")))]
pub async fn queue_deployment(
    auth: Authorized<ManageRequests>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<QueueDeployment>,
) -> Result<(StatusCode, Json<DeploymentView>), ApiError> {
    let action = match body.action.as_deref() {
        None | Some("deploy") => DeployAction::Deploy,
        Some("undeploy") => DeployAction::Undeploy,
        Some(other) => {
            return Err(certwright_core::CoreError::invalid(
                "deployment.invalid_action",
                format!("action must be deploy or undeploy, got '{other}'"),
            )
            .into())
        }
    };
    let d = state.services.queue_deployment(&auth.ctx, &id, body.certificate, action).await?;
    Ok((StatusCode::ACCEPTED, Json(deployment_view(d))))
}

/// Paging of deployment lists.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeploymentPage {
    pub limit: Option<u32>,
    pub offset: Option<u64>,
}

/// The deployments of a location, newest first.
#[utoipa::path(get, path = "/v1/locations/{id}/deployments", tag = "deployment",
    params(("id" = String, Path, description = "location id or name"), DeploymentPage), security(("bearer" = [])),
    responses((status = 200, body = List<DeploymentView>), (status = 404, body = Problem)))]
pub async fn location_deployments(
    auth: Authorized<ReadInventory>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<DeploymentPage>,
) -> Result<Json<List<DeploymentView>>, ApiError> {
    let page = Page::new(q.limit, q.offset)?;
    let listed = state.services.list_deployments(&auth.ctx, Some(&id), None, page).await?;
    Ok(Json(List::new(listed, page, deployment_view)))
}

/// The deployments of a certificate, newest first.
#[utoipa::path(get, path = "/v1/certificates/{id}/deployments", tag = "deployment",
    params(("id" = Uuid, Path, description = "certificate id"), DeploymentPage), security(("bearer" = [])),
    responses((status = 200, body = List<DeploymentView>), (status = 404, body = Problem)))]
pub async fn certificate_deployments(
    auth: Authorized<ReadInventory>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(q): ApiQuery<DeploymentPage>,
) -> Result<Json<List<DeploymentView>>, ApiError> {
    let page = Page::new(q.limit, q.offset)?;
    let listed = state.services.list_deployments(&auth.ctx, None, Some(id), page).await?;
    Ok(Json(List::new(listed, page, deployment_view)))
}

/// One deployment.
#[utoipa::path(get, path = "/v1/deployments/{id}", tag = "deployment",
    params(("id" = Uuid, Path, description = "deployment id")), security(("bearer" = [])),
    responses((status = 200, body = DeploymentView), (status = 404, body = Problem)))]
pub async fn get_deployment(
    auth: Authorized<ReadInventory>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<DeploymentView>, ApiError> {
    Ok(Json(deployment_view(state.services.deployment(&auth.ctx, id).await?)))
}
