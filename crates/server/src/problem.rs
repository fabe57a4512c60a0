//! The native API's error envelope: RFC 9457 `application/problem+json` with a stable `code` and the request id.
//! Every error of the native face — domain errors, malformed input, unknown routes — is rendered here.

use axum::extract::rejection::{FormRejection, JsonRejection, PathRejection, QueryRejection};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use certwright_core::CoreError;
use serde::Serialize;
use utoipa::ToSchema;

tokio::task_local! {
    /// The id of the request being served, for error bodies rendered far from the request.
    pub static REQUEST_ID: String;
}

/// The current request id, when called while serving a request.
pub fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the problem type: `urn:certwright:problem:<code>`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary of the problem type.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong with this request, and what to do about it.
    pub detail: String,
    /// Stable machine-readable code, e.g. `token.not_found`.
    pub code: String,
    /// The request id, also sent in the `x-request-id` header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// An error of the native API, rendered as a problem document.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub detail: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: impl Into<String>, detail: impl Into<String>) -> Self {
        Self { status, code: code.into(), detail: detail.into() }
    }
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        let status = match &e {
            CoreError::NotFound { .. } => StatusCode::NOT_FOUND,
            CoreError::Invalid { .. } => StatusCode::BAD_REQUEST,
            CoreError::Conflict { .. } => StatusCode::CONFLICT,
            CoreError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            CoreError::Forbidden { .. } => StatusCode::FORBIDDEN,
            CoreError::Storage(_) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let detail = if status.is_server_error() {
            tracing::error!(error = %e, "request failed");
            match &e {
                CoreError::Storage(_) => "the database is unavailable; retry shortly".to_owned(),
                _ => "an internal error occurred; the server log has details under this request id".to_owned(),
            }
        } else {
            e.to_string()
        };
        ApiError::new(status, e.code(), detail)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Problem {
            kind: format!("urn:certwright:problem:{}", self.code),
            title: self.status.canonical_reason().unwrap_or("Error").to_owned(),
            status: self.status.as_u16(),
            detail: self.detail,
            code: self.code,
            request_id: current_request_id(),
        };
        let mut resp = (self.status, axum::Json(body)).into_response();
        let headers = resp.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"certwright\""));
        }
        resp
    }
}

macro_rules! from_rejection {
    ($rejection:ty, $code:literal) => {
        impl From<$rejection> for ApiError {
            fn from(r: $rejection) -> Self {
                let status = r.status();
                let code = match status {
                    StatusCode::PAYLOAD_TOO_LARGE => "request.body_too_large",
                    StatusCode::UNSUPPORTED_MEDIA_TYPE => "request.unsupported_media_type",
                    _ => $code,
                };
                ApiError::new(status, code, r.body_text())
            }
        }
    };
}

from_rejection!(JsonRejection, "request.invalid_json");
from_rejection!(QueryRejection, "request.invalid_query");
from_rejection!(PathRejection, "request.invalid_path");
from_rejection!(FormRejection, "request.invalid_form");

/// Answers unknown routes.
pub async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "route.not_found", "no such endpoint; see /v1/openapi.json")
}

/// Answers a known route called with the wrong method.
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "route.method_not_allowed",
        "this endpoint does not accept that method; see /v1/openapi.json",
    )
}
