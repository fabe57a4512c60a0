//! The QRadar error body `{http_response: {code, message}, code, description, details, message}` and the mapping
//! of core errors to its HTTP statuses and unique codes.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use certwright_core::CoreError;
use serde_json::json;

/// A QRadar error answer.
#[derive(Debug)]
pub struct QError {
    pub status: StatusCode,
    pub code: u16,
    pub message: String,
}

impl QError {
    pub fn new(status: StatusCode, code: u16, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into() }
    }

    pub fn invalid(code: u16, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, 1002, message)
    }
}

/// The HTTP message QRadar pairs with each status.
fn http_message(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 => "You are unauthorized to access the requested resource.",
        403 => "Your account is not authorized to access the requested resource",
        404 => "We could not find the resource you requested.",
        405 => "The method you used is not supported for the requested resource.",
        409 => "The request could not be completed due to a conflict with the current state of the resource",
        413 => "The request is larger than the server is willing or able to process.",
        422 => "The request was well-formed but was unable to be followed due to semantic errors",
        500 => "Unexpected internal server error",
        503 => "The server is currently unable to handle the request",
        _ => "The request could not be completed",
    }
}

/// The description QRadar documents for a unique code.
fn description(code: u16) -> &'static str {
    match code {
        1002 => "The resource was not found or the request conflicts with the current state.",
        1005..=1008 => "A request parameter is not valid.",
        1101 => "The filter, sort or fields parameter is invalid.",
        1102 => "A resource with this name already exists.",
        2001 | 2002 => "Error parsing a certificate",
        2003 => "The certificate is expired",
        2004 => "The certificate is not yet valid",
        2005 => "The certificate is revoked",
        2010 => "Unexpected error occurred when processing a certificate",
        2011 => "Error finding issuer certificates",
        2012 => "The certificate's key usage or extended key usage does not match to its purpose",
        2013 => "Error validating the full chain of the certificate",
        2014 => "The certificate is an invalid self-signed certificate",
        2020 => "The CRL is invalid",
        2030 => "Unexpected error when processing CRL",
        2031 => "Error finding the issuer certificates for the CRL",
        2032 => "The issuer does not has CRL sign usage",
        2033 => "Error validating the CRL",
        2034 => "The CRL is expired",
        1020 => "An error occurred while processing the request.",
        _ => "",
    }
}

impl IntoResponse for QError {
    fn into_response(self) -> Response {
        let body = json!({
            "http_response": { "code": self.status.as_u16(), "message": http_message(self.status) },
            "code": self.code,
            "description": description(self.code),
            "details": {},
            "message": self.message,
        });
        let mut resp = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Basic realm=\"QRadar\""),
            );
        }
        resp
    }
}

/// The unique code of a validation failure.
fn validation_code(code: &str) -> Option<u16> {
    Some(match code {
        "validation.parse" => 2001,
        "validation.decode" => 2002,
        "validation.expired" => 2003,
        "validation.not_yet_valid" => 2004,
        "validation.revoked" => 2005,
        "validation.unexpected" => 2010,
        "validation.issuer_not_found" => 2011,
        "validation.purpose" => 2012,
        "validation.chain_invalid" => 2013,
        "validation.bad_self_signed" => 2014,
        "validation.crl_invalid" => 2020,
        "validation.crl_unexpected" => 2030,
        "validation.crl_issuer_not_found" => 2031,
        "validation.crl_issuer_not_allowed" => 2032,
        "validation.crl_signature" => 2033,
        "validation.crl_expired" => 2034,
        _ => return None,
    })
}

impl From<CoreError> for QError {
    fn from(e: CoreError) -> Self {
        let message = e.to_string();
        match &e {
            CoreError::Invalid { code, .. } => {
                let unique = validation_code(code).unwrap_or(match *code {
                    "keystore.key_and_csr" => 1006,
                    "keystore.invalid_key"
                    | "keystore.wrong_password"
                    | "keystore.password_required"
                    | "keystore.key_mismatch"
                    | "keystore.no_key"
                    | "keystore.unsupported_key"
                    | "keystore.unknown_csr" => 1007,
                    "keystore.unknown_component" => 1008,
                    "key_request.invalid_key_size" => 1032,
                    "key_request.missing_common_name" => 1033,
                    "key_request.invalid_subject" => 1034,
                    "key_request.invalid_san" => 1035,
                    "keystore.invalid_purpose" if message.contains("SERVER") => 1005,
                    "keystore.invalid_root" => 1101,
                    _ => 1005,
                });
                QError::invalid(unique, message)
            }
            CoreError::NotFound { code, .. } if *code == "keystore.root_not_found" => {
                QError::new(StatusCode::NOT_FOUND, 1105, message)
            }
            CoreError::NotFound { .. } => QError::not_found(message),
            CoreError::Conflict { code, .. } => {
                let unique = match *code {
                    "keystore.name_taken" | "keystore.root_exists" => 1102,
                    _ => 1002,
                };
                QError::new(StatusCode::CONFLICT, unique, message)
            }
            CoreError::Unauthenticated(_) => QError::new(StatusCode::UNAUTHORIZED, 0, message),
            CoreError::Forbidden { .. } => QError::new(StatusCode::FORBIDDEN, 0, message),
            _ => {
                tracing::error!(error = %e, "QRadar request failed");
                QError::new(StatusCode::INTERNAL_SERVER_ERROR, 1020, "An unexpected error occurred; see the server log")
            }
        }
    }
}
