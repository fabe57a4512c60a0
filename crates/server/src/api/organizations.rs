//! `/v1/organizations`: the organizations certificate request forms name (the senhasegura face's
//! `organization` codes). OV and EV certificates carry the organization's name in their subject.

use super::{time, List};
use crate::extract::{ApiJson, Authorized, ManageAuthorities, ReadInventory};
use crate::problem::{ApiError, Problem};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use certwright_core::forms::Organization;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// Body of `POST /v1/organizations`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrganization {
    /// 1 to 64 characters, unique.
    pub name: String,
}

/// An organization.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizationView {
    /// The integer code request forms use.
    pub code: i64,
    pub id: Uuid,
    pub name: String,
    pub created_by: String,
    pub created_at: String,
}

impl From<Organization> for OrganizationView {
    fn from(o: Organization) -> Self {
        Self { code: o.id, id: o.uuid, name: o.name, created_by: o.created_by, created_at: time(o.created_at) }
    }
}

/// Registers an organization.
#[utoipa::path(post, path = "/v1/organizations", tag = "pki", request_body = CreateOrganization,
    security(("bearer" = [])),
    responses((status = 201, body = OrganizationView), (status = 400, body = Problem), (status = 401, body = Problem),
               (status = 403, body = Problem), (status = 409, body = Problem), (status = 415, body = Problem),
               (status = 422, body = Problem)))]
pub async fn create(
    auth: Authorized<ManageAuthorities>,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreateOrganization>,
) -> Result<(StatusCode, Json<OrganizationView>), ApiError> {
    let org = state.services.create_organization(&auth.ctx, &body.name).await?;
    Ok((StatusCode::CREATED, Json(org.into())))
}

/// Lists organizations by name.
#[utoipa::path(get, path = "/v1/organizations", tag = "pki", security(("bearer" = [])),
    responses((status = 200, body = List<OrganizationView>), (status = 401, body = Problem),
               (status = 403, body = Problem)))]
pub async fn list(
    auth: Authorized<ReadInventory>,
    State(state): State<AppState>,
) -> Result<Json<List<OrganizationView>>, ApiError> {
    let orgs = state.services.organizations(&auth.ctx).await?;
    Ok(Json(List::all(orgs.into_iter().map(OrganizationView::from).collect())))
}
