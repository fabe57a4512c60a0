//! Liveness and readiness probes, served on every listener without authentication.

use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

/// Probe answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`, `ready` or `not_ready`.
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok", detail: None })
}

/// The database is reachable and its migrations are current.
#[utoipa::path(get, path = "/readyz", tag = "health", responses(
    (status = 200, body = Health), (status = 503, body = Health, description = "database unreachable or migrations pending")))]
pub async fn readyz(State(state): State<AppState>) -> Response {
    let (code, status, detail) = match state.services.readiness().await {
        Ok(r) if r.is_current() => (StatusCode::OK, "ready", None),
        Ok(r) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            Some(format!("{} of {} migrations applied", r.migrations_applied, r.migrations_expected)),
        ),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, "not_ready", Some(e.to_string())),
    };
    (code, Json(Health { status, detail })).into_response()
}
