//! CZERTAINLY's error bodies and the mapping of core errors to them: `{"message"}` (ErrorMessageDto) for 400,
//! 404, 409, 500, 502 and 503; nothing for 401; `{"statusCode", "code", "message"}`
//! (AuthenticationServiceExceptionDto) for 403; a JSON array of messages for 422 (ValidationException).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use certwright_core::CoreError;
use serde_json::json;

/// A CZERTAINLY error answer.
#[derive(Debug)]
pub enum CzError {
    /// `{"message": …}` with the status.
    Message(StatusCode, String),
    /// 422 with the list of what is wrong.
    Validation(Vec<String>),
    /// 401 without a body.
    Unauthorized,
    /// 403 `{"statusCode": 403, "code": …, "message": …}`.
    Forbidden(String),
}

impl CzError {
    /// 400: the request cannot be read or is not acceptable as sent.
    pub fn bad_request(message: impl Into<String>) -> Self {
        CzError::Message(StatusCode::BAD_REQUEST, message.into())
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        CzError::Message(StatusCode::NOT_FOUND, message.into())
    }

    /// 422 with one message.
    pub fn validation(message: impl Into<String>) -> Self {
        CzError::Validation(vec![message.into()])
    }

    /// 422 `{"message"}`: a required field is missing (Spring's MethodArgumentNotValid answer).
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        CzError::Message(StatusCode::UNPROCESSABLE_ENTITY, message.into())
    }
}

impl IntoResponse for CzError {
    fn into_response(self) -> Response {
        match self {
            CzError::Message(status, message) => (status, axum::Json(json!({ "message": message }))).into_response(),
            CzError::Validation(messages) => (StatusCode::UNPROCESSABLE_ENTITY, axum::Json(messages)).into_response(),
            CzError::Unauthorized => {
                let mut resp = StatusCode::UNAUTHORIZED.into_response();
                resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                resp
            }
            CzError::Forbidden(message) => (
                StatusCode::FORBIDDEN,
                axum::Json(json!({ "statusCode": 403, "code": "ACCESS_DENIED", "message": message })),
            )
                .into_response(),
        }
    }
}

/// Conflicts that mean "already exists" (409); other conflicts are state problems (422).
fn already_exists(code: &str) -> bool {
    code.ends_with(".exists") || code.ends_with(".name_taken") || code.ends_with(".duplicate")
}

impl From<CoreError> for CzError {
    fn from(e: CoreError) -> Self {
        let message = e.to_string();
        match &e {
            // The request attributes, or a policy the RA profile sets, refuse what was asked: a validation
            // failure, reported as the list CZERTAINLY's ValidationException answers with.
            CoreError::Invalid { code, .. } if *code == "attributes.invalid" || code.starts_with("policy.") => {
                CzError::Validation(vec![message])
            }
            CoreError::Invalid { .. } => CzError::bad_request(message),
            CoreError::NotFound { .. } => CzError::not_found(message),
            CoreError::Conflict { code, .. } if already_exists(code) => CzError::Message(StatusCode::CONFLICT, message),
            CoreError::Conflict { .. } => CzError::Validation(vec![message]),
            CoreError::Unauthenticated(_) => CzError::Unauthorized,
            CoreError::Forbidden { .. } => CzError::Forbidden(message),
            _ => {
                tracing::error!(error = %e, "CZERTAINLY request failed");
                CzError::Message(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "An unexpected error occurred; see the server log".to_owned(),
                )
            }
        }
    }
}
