//! Publication: where certificates are installed. Today `publish_info` reports a certificate's deployments.

use super::{date_time, SsAuth};
use crate::state::AppState;
use axum::Router;
use certwright_core::ca::CertificateRecord;
use certwright_core::page::Page;
use serde_json::{json, Value};

/// The publication routes.
pub fn routes() -> Router<AppState> {
    Router::new()
}

/// `publish_info` and `device` of a certificate: its latest deployments, and the locations it is installed at.
pub async fn publish_info(state: &AppState, auth: &SsAuth, certificate: &CertificateRecord) -> (Value, Value) {
    let page = Page::new(Some(20), None).unwrap_or_default();
    let Ok(listed) = state.services.list_deployments(&auth.ctx, None, Some(certificate.uuid), page).await else {
        return (json!([]), json!([]));
    };
    let info: Vec<Value> = listed
        .items
        .iter()
        .map(|d| {
            json!({
                "deployment": d.uuid, "location": d.location_uuid, "action": d.action.as_str(),
                "state": d.state.as_str(), "error": d.error, "created_at": date_time(d.created_at),
                "finished_at": d.finished_at.map(date_time),
            })
        })
        .collect();
    let mut locations: Vec<String> = Vec::new();
    for d in &listed.items {
        let l = d.location_uuid.to_string();
        if !locations.contains(&l) {
            locations.push(l);
        }
    }
    (Value::Array(info), json!(locations))
}
