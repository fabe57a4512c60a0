//! Vendor-compatible faces: each translates its product's wire format (paths, fields, status codes, error
//! envelope) to core service calls and back. Mounted next to the native API.

pub mod czertainly;
pub mod fetch;
pub mod qradar;
pub mod scm;
pub mod senhasegura;

use crate::state::AppState;
use axum::http::header;
use axum::http::request::Parts;
use base64::Engine;
use certwright_core::auth::Ctx;
use certwright_core::CoreError;

/// Every dialect's routes.
pub fn router(state: &AppState) -> axum::Router<AppState> {
    axum::Router::new()
        .merge(czertainly::router())
        .merge(senhasegura::router(state))
        .nest("/api", qradar::router())
        .nest(scm::BASE, scm::router())
}

/// Resolves a presented API token secret (static or OAuth2) to a service context.
pub(crate) async fn context(state: &AppState, parts: &Parts, secret: &str) -> Result<Ctx, CoreError> {
    let caller = state.services.authenticate(secret).await?;
    Ok(caller_context(parts, caller))
}

/// A service context for a caller authenticated otherwise (a client certificate).
pub(crate) fn caller_context(parts: &Parts, caller: certwright_core::auth::Caller) -> Ctx {
    let request_id = parts.extensions.get::<crate::extract::RequestId>().map(|r| r.0.clone());
    Ctx { caller, request_id }
}

/// The password of an `Authorization: Basic` header.
pub(crate) fn basic_password(parts: &Parts) -> Option<String> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    text.split_once(':').map(|(_, password)| password.to_owned())
}
