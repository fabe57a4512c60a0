//! The CZERTAINLY face under `/api`: the v2 client operations on certificates of an RA profile
//! (`/v2/operations/authorities/{authorityUuid}/raProfiles/{raProfileUuid}/…`: issue, issue a requested
//! certificate, renew, rekey, revoke, the issue and revoke attribute definitions and their validation, and
//! finalize, confirm-revoke and cancel for asynchronous authorities) and the legacy v1 operations with end
//! entities (`/v1/operations/{raProfileName}/…`). Authentication by `Authorization: Bearer <API token or
//! OAuth2 access token>` or a client certificate; errors in CZERTAINLY's bodies (see [`error`]).

pub mod attributes;
pub mod dto;
mod error;
mod legacy;
pub mod openapi;
mod operations;

use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::routing::{get, post, put};
use axum::Router;
use base64::Engine;
use certwright_core::auth::Ctx;
pub use error::CzError;
use uuid::Uuid;

/// Where the face's OpenAPI document is served (springdoc's place under CZERTAINLY's `/api` context path).
pub const OPENAPI_PATH: &str = "/api/v3/api-docs";

/// The CZERTAINLY routes: the v2 operations under `/api/v2/operations`, the legacy ones under
/// `/api/v1/operations` (each prefix falls back to CZERTAINLY's own 404) and the OpenAPI document.
pub fn router() -> Router<AppState> {
    let certs = "/authorities/{authorityUuid}/raProfiles/{raProfileUuid}";
    let v2 = Router::new()
        .route(&format!("{certs}/attributes/issue"), get(operations::issue_attributes))
        .route(&format!("{certs}/attributes/issue/validate"), post(operations::validate_issue_attributes))
        .route(&format!("{certs}/attributes/revoke"), get(operations::revoke_attributes))
        .route(&format!("{certs}/attributes/revoke/validate"), post(operations::validate_revoke_attributes))
        .route(&format!("{certs}/certificates"), post(operations::issue))
        .route(&format!("{certs}/certificates/{{certificateUuid}}/issue"), post(operations::issue_requested))
        .route(&format!("{certs}/certificates/{{certificateUuid}}/renew"), post(operations::renew))
        .route(&format!("{certs}/certificates/{{certificateUuid}}/rekey"), post(operations::rekey))
        .route(&format!("{certs}/certificates/{{certificateUuid}}/revoke"), post(operations::revoke))
        .route(&format!("{certs}/certificates/{{certificateUuid}}/finalize"), post(operations::finalize))
        .route(&format!("{certs}/certificates/{{certificateUuid}}/revoke/confirm"), post(operations::confirm_revoke))
        .route(&format!("{certs}/certificates/{{certificateUuid}}/cancel"), post(operations::cancel))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed);
    let v1 = Router::new()
        .route("/{raProfileName}/certificate/issue", post(legacy::issue))
        .route("/{raProfileName}/certificate/revoke", post(legacy::revoke))
        .route("/{raProfileName}/endentity", get(legacy::list).post(legacy::add))
        .route("/{raProfileName}/endentity/{username}", get(legacy::get_one).post(legacy::edit).delete(legacy::delete))
        .route("/{raProfileName}/endentity/{username}/resetPassword", put(legacy::reset_password))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed);
    Router::new()
        .nest("/api/v2/operations", v2)
        .nest("/api/v1/operations", v1)
        .route(OPENAPI_PATH, get(openapi::document))
}

async fn not_found() -> CzError {
    CzError::not_found("No such endpoint")
}

async fn method_not_allowed() -> CzError {
    CzError::Message(StatusCode::METHOD_NOT_ALLOWED, "Request method is not supported".to_owned())
}

/// An authenticated caller: `Authorization: Bearer <token>`, where the token is an API token or an access token
/// from `POST /v1/oauth/token` (client credentials), or else a client certificate (see
/// [`crate::client_cert`]). The token is the primary identity: when one is sent, it alone decides (an unknown
/// token is refused even with a good certificate). Anything else is a 401 without a body.
#[derive(Debug)]
pub struct CzAuth {
    pub ctx: Ctx,
}

impl FromRequestParts<AppState> for CzAuth {
    type Rejection = CzError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, CzError> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, token)| scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty())
            .map(|(_, token)| token.trim().to_owned());
        let ctx = match token {
            Some(token) => super::context(state, parts, &token).await?,
            None => {
                let caller =
                    crate::client_cert::certificate_caller(state, parts).await?.ok_or(CzError::Unauthorized)?;
                super::caller_context(parts, caller)
            }
        };
        Ok(CzAuth { ctx })
    }
}

/// The body as JSON: unreadable JSON is a 400 (Spring's HttpMessageNotReadable), a missing required field a 422
/// `{"message"}` (MethodArgumentNotValid).
pub(crate) fn json_body<T: serde::de::DeserializeOwned>(b: Result<Bytes, BytesRejection>) -> Result<T, CzError> {
    let bytes = b.map_err(|e| CzError::Message(e.status(), e.body_text()))?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(CzError::bad_request("Required request body is missing"));
    }
    serde_json::from_slice(&bytes).map_err(|e| {
        let text = e.to_string();
        if e.is_data() && text.starts_with("missing field") {
            CzError::invalid_argument(text)
        } else {
            CzError::bad_request(format!("JSON parse error: {text}"))
        }
    })
}

/// The body as JSON, or the default when there is none.
pub(crate) fn optional_json_body<T: serde::de::DeserializeOwned + Default>(
    b: Result<Bytes, BytesRejection>,
) -> Result<T, CzError> {
    match &b {
        Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Ok(T::default()),
        _ => json_body(b),
    }
}

/// A UUID from a path or a body; anything else is a 400, as CZERTAINLY's `UUID.fromString` answers.
pub(crate) fn uuid_of(what: &str, raw: &str) -> Result<Uuid, CzError> {
    Uuid::parse_str(raw).map_err(|_| {
        CzError::bad_request(format!("Invalid UUID string for {what}: {}", raw.chars().take(60).collect::<String>()))
    })
}

/// The bytes of a Base64 (or PEM) certificate or request field.
pub(crate) fn base64_or_pem(field: &str, value: &str) -> Result<Vec<u8>, CzError> {
    let text = value.trim();
    if text.starts_with("-----BEGIN") {
        return Ok(text.as_bytes().to_vec());
    }
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if compact.is_empty() {
        return Err(CzError::bad_request(format!("{field} is empty")));
    }
    base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(compact.trim_end_matches('=')))
        .map_err(|_| CzError::bad_request(format!("{field} is not Base64-encoded DER (nor PEM)")))
}
