//! `/v1/events`: the audit log, newest first, filterable.

use super::{time, time_param, List};
use crate::extract::{ApiQuery, Authorized, ReadAudit};
use crate::problem::{ApiError, Problem};
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use certwright_core::audit::{Event, EventFilter, EventResult};
use certwright_core::page::Page;
use certwright_core::CoreError;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// One audit event.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventView {
    pub id: Uuid,
    /// The audit chain (one per node) and the position in it.
    pub chain: String,
    pub seq: i64,
    pub time: String,
    /// The principal that acted.
    pub actor: String,
    /// The token it used.
    pub actor_token: Option<Uuid>,
    /// What happened, e.g. `token.create`.
    pub action: String,
    pub object_type: String,
    pub object_id: Option<String>,
    /// `success` or `failure`.
    pub result: String,
    pub request_id: Option<String>,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    pub prev_hash: String,
    pub hash: String,
}

impl From<Event> for EventView {
    fn from(e: Event) -> Self {
        Self {
            id: e.uuid,
            chain: e.chain,
            seq: e.seq,
            time: time(e.time),
            actor: e.actor,
            actor_token: e.actor_token,
            action: e.action,
            object_type: e.object_type,
            object_id: e.object_id,
            result: e.result.as_str().to_owned(),
            request_id: e.request_id,
            details: serde_json::from_str(&e.details).unwrap_or(serde_json::Value::Null),
            prev_hash: e.prev_hash,
            hash: e.hash,
        }
    }
}

/// Filters of `GET /v1/events`; every one given narrows the result.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EventParams {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub object_type: Option<String>,
    pub object_id: Option<String>,
    /// `success` or `failure`.
    pub result: Option<String>,
    pub request_id: Option<String>,
    /// Events at or after this time (RFC 3339 or epoch seconds).
    pub since: Option<String>,
    /// Events before this time (RFC 3339 or epoch seconds).
    pub until: Option<String>,
    /// Page size, 1 to 1000 (default 50).
    pub limit: Option<u32>,
    /// Items to skip (default 0).
    pub offset: Option<u64>,
}

/// Lists audit events, newest first.
#[utoipa::path(get, path = "/v1/events", tag = "audit", params(EventParams), security(("bearer" = [])),
    responses((status = 200, body = List<EventView>), (status = 400, body = Problem), (status = 401, body = Problem),
               (status = 403, body = Problem)))]
pub async fn list(
    auth: Authorized<ReadAudit>,
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<EventParams>,
) -> Result<Json<List<EventView>>, ApiError> {
    let page = Page::new(q.limit, q.offset)?;
    let result = q
        .result
        .as_deref()
        .map(|r| {
            EventResult::parse(r).ok_or_else(|| {
                CoreError::invalid("request.invalid_result", format!("result must be success or failure, got '{r}'"))
            })
        })
        .transpose()?;
    let filter = EventFilter {
        since: time_param("since", q.since.as_deref())?,
        until: time_param("until", q.until.as_deref())?,
        actor: q.actor,
        action: q.action,
        object_type: q.object_type,
        object_id: q.object_id,
        result,
        request_id: q.request_id,
    };
    let listed = state.services.list_events(&auth.ctx, &filter, page).await?;
    Ok(Json(List::new(listed, page, EventView::from)))
}
