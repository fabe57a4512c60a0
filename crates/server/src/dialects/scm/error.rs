//! The Strata Cloud Manager error body `{"_errors": [{"code", "message", "details"}], "_request_id"}` and the
//! mapping of core errors to its HTTP statuses and codes.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use certwright_core::CoreError;
use serde_json::{json, Value};

/// An SCM error answer.
#[derive(Debug)]
pub struct ScmError {
    pub status: StatusCode,
    /// `E003`, `E005`, …
    pub code: &'static str,
    /// The documented message, followed by `: <what exactly>` when there is more to say.
    pub message: String,
    pub details: Value,
}

impl ScmError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), details: json!({}) }
    }

    /// 400 E003 "Invalid Object: <why>".
    pub fn invalid(why: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "E003", format!("Invalid Object: {why}"))
    }

    /// 404 E005 "Object Not Present".
    pub fn not_found(why: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::NOT_FOUND, "E005", format!("Object Not Present: {why}"))
    }

    /// 401 E016 with one of the documented messages.
    pub fn unauthenticated(message: &'static str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "E016", message)
    }

    /// Adds a human explanation in `details.message`.
    pub fn detail(self, why: impl Into<String>) -> Self {
        self.with_details(json!({ "message": why.into() }))
    }

    fn with_details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }
}

impl IntoResponse for ScmError {
    fn into_response(self) -> Response {
        let request_id = crate::problem::current_request_id().unwrap_or_default();
        let body = json!({
            "_errors": [{ "code": self.code, "message": self.message, "details": self.details }],
            "_request_id": request_id,
        });
        let mut resp = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

impl From<CoreError> for ScmError {
    fn from(e: CoreError) -> Self {
        let message = e.to_string();
        let code = e.code();
        let err = match &e {
            CoreError::Invalid { .. } => ScmError::invalid(&message),
            CoreError::NotFound { .. } => ScmError::not_found(&message),
            CoreError::Conflict { code, .. } => match *code {
                "scope.name_taken" => {
                    ScmError::new(StatusCode::CONFLICT, "E006", format!("Name Not Unique: {message}"))
                }
                "scope.in_use" => ScmError::new(StatusCode::CONFLICT, "E009", format!("Reference Not Zero: {message}")),
                _ => ScmError::new(StatusCode::CONFLICT, "E016", format!("Object Not Unique: {message}")),
            },
            CoreError::Unauthenticated(why) if why.contains("expired") => ScmError::unauthenticated("Key Expired"),
            CoreError::Unauthenticated(_) => ScmError::unauthenticated("Invalid Credential"),
            CoreError::Forbidden { .. } => {
                ScmError::new(StatusCode::FORBIDDEN, "E007", format!("Unauthorized: {message}"))
            }
            _ => {
                tracing::error!(error = %e, "SCM request failed");
                return ScmError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "E000",
                    "Internal Error: an unexpected error occurred; see the server log",
                );
            }
        };
        err.with_details(json!({ "errorType": code }))
    }
}
