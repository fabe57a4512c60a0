//! `/v1/keystore/components`: the components that keystore certificates (the IBM QRadar face's staged end
//! certificates) are assigned to. QRadar only lists them; they are created here.

use super::{time, List};
use crate::extract::{ApiJson, Authorized, ManageAuthorities, ReadInventory};
use crate::problem::{ApiError, Problem};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use certwright_core::keystore::Component;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Body of `POST /v1/keystore/components`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateComponent {
    /// 1 to 128 printable characters, unique.
    pub name: String,
}

/// A component, as `GET /api/config/certificates/components` lists it (`id`, `name`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ComponentView {
    /// The QRadar `component_id`.
    pub id: i64,
    pub name: String,
    pub created_at: String,
}

impl From<Component> for ComponentView {
    fn from(c: Component) -> Self {
        Self { id: c.id, name: c.name, created_at: time(c.created_at) }
    }
}

/// Creates a component that keystore certificates may be assigned to (`component_id` of a QRadar upload).
#[utoipa::path(post, path = "/v1/keystore/components", tag = "pki", request_body = CreateComponent,
    security(("bearer" = [])),
    responses((status = 201, body = ComponentView), (status = 400, body = Problem), (status = 401, body = Problem),
               (status = 403, body = Problem), (status = 409, body = Problem, description = "the name is taken"),
               (status = 415, body = Problem), (status = 422, body = Problem)))]
pub async fn create_component(
    auth: Authorized<ManageAuthorities>,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreateComponent>,
) -> Result<(StatusCode, Json<ComponentView>), ApiError> {
    let component = state.services.create_component(&auth.ctx, &body.name).await?;
    Ok((StatusCode::CREATED, Json(component.into())))
}

/// Lists the components.
#[utoipa::path(get, path = "/v1/keystore/components", tag = "pki", security(("bearer" = [])),
    responses((status = 200, body = List<ComponentView>), (status = 401, body = Problem),
               (status = 403, body = Problem)))]
pub async fn list_components(
    auth: Authorized<ReadInventory>,
    State(state): State<AppState>,
) -> Result<Json<List<ComponentView>>, ApiError> {
    let components = state.services.components(&auth.ctx).await?;
    Ok(Json(List::all(components.into_iter().map(ComponentView::from).collect())))
}
