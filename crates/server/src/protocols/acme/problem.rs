//! ACME errors on the wire: `application/problem+json` documents with `urn:ietf:params:acme:error:*` types
//! (RFC 8555 §6.7), subproblems, and the status code each type is answered with.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use certwright_core::acme::Problem;
use certwright_core::services::acme::error;
use certwright_core::CoreError;
use serde_json::{json, Map, Value};

pub(crate) const NS: &str = "urn:ietf:params:acme:error:";

/// An ACME error about to be answered.
#[derive(Debug)]
pub(crate) struct AcmeError {
    problem: Problem,
    status: Option<u16>,
    extra: Map<String, Value>,
}

impl AcmeError {
    /// An error of the type `code` names (`acme:malformed`, or a bare `malformed`).
    pub fn new(code: &str, detail: impl Into<String>) -> Self {
        let kind = code.strip_prefix("acme:").unwrap_or(code);
        AcmeError { problem: Problem::new(kind, detail), status: None, extra: Map::new() }
    }

    /// Answers with `status` instead of the type's usual one.
    pub fn status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    /// Adds a member to the problem document.
    pub fn with(mut self, name: &str, value: Value) -> Self {
        self.extra.insert(name.to_owned(), value);
        self
    }
}

/// The status an error type is answered with.
fn status_of(kind: &str) -> u16 {
    match kind {
        "unauthorized" | "userActionRequired" | "orderNotReady" | "externalAccountRequired" => 403,
        "alreadyReplaced" => 409,
        "rateLimited" => 429,
        "serverInternal" => 500,
        _ => 400,
    }
}

impl From<CoreError> for AcmeError {
    fn from(e: CoreError) -> Self {
        match &e {
            CoreError::Invalid { code, message } if code.starts_with("acme:") => {
                // Compound problems travel as their JSON document.
                if *code == error::REJECTED_IDENTIFIER {
                    if let Ok(problem) = serde_json::from_str::<Problem>(message) {
                        return AcmeError { problem, status: None, extra: Map::new() };
                    }
                }
                AcmeError::new(code, message.clone())
            }
            CoreError::Invalid { message, .. } => AcmeError::new(error::MALFORMED, message.clone()),
            CoreError::NotFound { .. } => AcmeError::new(error::MALFORMED, e.to_string()).status(404),
            CoreError::Conflict { message, .. } => AcmeError::new(error::MALFORMED, message.clone()).status(409),
            CoreError::Unauthenticated(m) => AcmeError::new(error::UNAUTHORIZED, *m),
            CoreError::Forbidden { .. } => AcmeError::new(error::UNAUTHORIZED, e.to_string()),
            _ => {
                tracing::error!(error = %e, "ACME request failed");
                AcmeError::new(error::SERVER_INTERNAL, "the server failed; retry later")
            }
        }
    }
}

/// The problem document of a stored problem (an order's or a challenge's `error`).
pub(crate) fn document(problem: &Problem) -> Value {
    let mut doc = json!({ "type": format!("{NS}{}", problem.kind), "detail": problem.detail });
    if !problem.subproblems.is_empty() {
        doc["subproblems"] = problem
            .subproblems
            .iter()
            .map(|s| json!({ "type": format!("{NS}{}", s.kind), "detail": s.detail, "identifier": s.identifier }))
            .collect();
    }
    doc
}

impl IntoResponse for AcmeError {
    fn into_response(self) -> Response {
        let status = self.status.unwrap_or_else(|| status_of(&self.problem.kind));
        let mut doc = document(&self.problem);
        doc["status"] = status.into();
        if let Value::Object(members) = &mut doc {
            members.extend(self.extra);
        }
        let mut response =
            (StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST), doc.to_string()).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        response
    }
}
