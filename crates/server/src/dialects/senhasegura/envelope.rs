//! The senhasegura answer envelope: `{"code", "response": {status, message, error, error_code, detail, mensagem,
//! erro, cod_erro}, <result block>}`, with `"exception": {code, message, detail}` added to errors, and the table
//! of `NNNN` codes every message starts with.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use certwright_core::CoreError;
use serde_json::{json, Map, Value};

/// The `NNNN` codes of messages, stable and documented in the OpenAPI description.
pub const CODES: &[(u16, &str)] = &[
    (1001, "OK"),
    (1002, "Created"),
    (1003, "Updated"),
    (1010, "Authentication failed: the token is missing, unknown, revoked or expired"),
    (1011, "Device not found"),
    (1012, "The token's role does not allow this operation"),
    (1020, "A parameter is invalid"),
    (1021, "A required parameter is missing"),
    (1022, "A text is longer than allowed"),
    (1023, "Information not found"),
    (1024, "The request body could not be read"),
    (1025, "The method is not allowed on this path"),
    (1030, "There is no request with the given code"),
    (1031, "The request can no longer be changed or signed"),
    (1032, "The organization code you entered is invalid"),
    (1033, "The CA code you entered is invalid"),
    (1034, "Reason code entered is invalid"),
    (1035, "The responsible's code you entered is invalid"),
    (1036, "The credential code informed is invalid"),
    (1037, "The code of profile informed is invalid"),
    (1038, "There is no publication with the given code"),
    (1040, "The certificate already exists"),
    (1041, "Invalid or empty certificate"),
    (1042, "Invalid private key"),
    (1043, "Empty private key"),
    (1044, "The private key does not belong to the certificate"),
    (1045, "The password is wrong"),
    (1046, "The private key of this certificate is not available"),
    (1047, "This key type is not generated here"),
    (1048, "The RA profile's policy refuses the request"),
    (1049, "There is no certificate with the given code"),
    (1050, "The certificate cannot be revoked in its current state"),
    (1060, "The device is inactive"),
    (1061, "The device is not one of the publication profile's devices"),
    (1062, "The publication cannot be made to this device with this profile and credential"),
    (1063, "The certificate is not issued"),
    (1064, "The publication profile changed meanwhile"),
    (1099, "Internal error"),
];

/// The text of a code.
pub fn text(code: u16) -> &'static str {
    CODES.iter().find(|(c, _)| *c == code).map_or("Error", |(_, t)| t)
}

fn response_block(status: StatusCode, code: u16, message: &str, error: bool, detail: &str) -> Value {
    json!({
        "status": status.as_u16(), "message": message, "error": error, "error_code": if error { code } else { 0 },
        "detail": detail, "mensagem": message, "erro": error, "cod_erro": if error { code } else { 0 },
    })
}

/// A successful answer: the response block and the result blocks beside it.
#[derive(Debug)]
pub struct Answer {
    status: StatusCode,
    code: u16,
    blocks: Map<String, Value>,
    /// Fields added to the response block (`status_certificate`).
    extra: Map<String, Value>,
}

impl Answer {
    /// The HTTP status it answers with.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// 200 `1001: OK`.
    pub fn ok() -> Self {
        Self { status: StatusCode::OK, code: 1001, blocks: Map::new(), extra: Map::new() }
    }

    /// 201 `1002: Created`.
    pub fn created() -> Self {
        Self { status: StatusCode::CREATED, code: 1002, ..Self::ok() }
    }

    /// 200 `1003: Updated`.
    pub fn updated() -> Self {
        Self { code: 1003, ..Self::ok() }
    }

    /// Adds a result block (`certificate`, `requests`, …).
    pub fn with(mut self, name: &str, value: Value) -> Self {
        self.blocks.insert(name.to_owned(), value);
        self
    }

    /// Adds a field to the response block.
    pub fn with_response_field(mut self, name: &str, value: Value) -> Self {
        self.extra.insert(name.to_owned(), value);
        self
    }
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let message = format!("{}: {}", self.code, text(self.code));
        let mut response = response_block(self.status, self.code, &message, false, "");
        if let Value::Object(r) = &mut response {
            r.extend(self.extra);
        }
        let mut body = Map::new();
        body.insert("code".to_owned(), json!(self.status.as_u16()));
        body.insert("response".to_owned(), response);
        body.extend(self.blocks);
        (self.status, axum::Json(Value::Object(body))).into_response()
    }
}

/// An error answer.
#[derive(Debug)]
pub struct SsError {
    pub status: StatusCode,
    pub code: u16,
    /// What exactly went wrong, in `detail`.
    pub detail: String,
}

impl SsError {
    pub fn new(status: StatusCode, code: u16, detail: impl Into<String>) -> Self {
        Self { status, code, detail: detail.into() }
    }

    /// 400 with a code.
    pub fn bad(code: u16, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail)
    }

    /// 400 1020: a parameter is invalid.
    pub fn invalid(detail: impl Into<String>) -> Self {
        Self::bad(1020, detail)
    }

    /// 400 1021: a required parameter is missing.
    pub fn missing(field: &str) -> Self {
        Self::bad(1021, format!("{field} is required"))
    }

    /// 401 1010.
    pub fn unauthenticated(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, 1010, detail)
    }

    /// 404 with a code.
    pub fn not_found(code: u16, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, detail)
    }
}

impl IntoResponse for SsError {
    fn into_response(self) -> Response {
        let message = format!("{}: {}", self.code, text(self.code));
        let body = json!({
            "code": self.status.as_u16(),
            "response": response_block(self.status, self.code, &message, true, &self.detail),
            "exception": { "code": self.code, "message": message, "detail": self.detail },
        });
        let mut resp = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(axum::http::header::WWW_AUTHENTICATE, axum::http::HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

/// The code of a core error's machine code.
fn code_of(core: &str) -> u16 {
    match core {
        "form.not_found" => 1030,
        "form.signed" => 1031,
        "form.organization_not_found" => 1032,
        "form.ca_not_found" => 1033,
        "form.ca_missing" => 1021,
        "form.reason" => 1034,
        "form.responsible_not_found" => 1035,
        "form.missing" => 1021,
        "form.too_long" => 1022,
        "form.wrong_password" | "key.wrong_password" => 1045,
        "form.key_not_generated" => 1047,
        "certificate.not_found" => 1049,
        "certificate.exists" | "certificate.duplicate" => 1040,
        "import.invalid_key" | "import.two_keys" => 1042,
        "import.key_mismatch" => 1044,
        "certificate.no_key" | "key.destroyed" | "policy.key_export_not_allowed" => 1046,
        "device.not_found" => 1011,
        "device.inactive" => 1060,
        "credential.not_found" => 1036,
        "publication_profile.not_found" | "publication_profile.kind" => 1037,
        "publication.not_found" => 1038,
        "publication.device_not_in_profile" => 1061,
        "publication.unsupported" | "location.invalid" | "location.not_allowed" => 1062,
        "publication.no_key" => 1046,
        "publication.missing" | "publication_profile.missing" | "device.missing" | "credential.missing" => 1021,
        "deploy.not_issued" => 1063,
        "publication_profile.changed" => 1064,
        c if c.starts_with("import.") => 1041,
        c if c.starts_with("policy.") || c.starts_with("ra_profile.") => 1048,
        c if c.starts_with("revocation.") || c.starts_with("revoke.") => 1050,
        _ => 1020,
    }
}

impl From<CoreError> for SsError {
    fn from(e: CoreError) -> Self {
        let detail = e.to_string();
        match &e {
            CoreError::Invalid { code, .. } => SsError::bad(code_of(code), detail),
            CoreError::NotFound { code, .. } => {
                let c = code_of(code);
                SsError::not_found(if c == 1020 { 1023 } else { c }, detail)
            }
            CoreError::Conflict { code, .. } => {
                let c = code_of(code);
                SsError::new(StatusCode::CONFLICT, if c == 1020 { 1031 } else { c }, detail)
            }
            CoreError::Unauthenticated(_) => SsError::unauthenticated(detail),
            CoreError::Forbidden { .. } => SsError::new(StatusCode::FORBIDDEN, 1012, detail),
            CoreError::Storage(_) => {
                tracing::error!(error = %e, "senhasegura request failed");
                SsError::new(StatusCode::SERVICE_UNAVAILABLE, 1099, "the database is unavailable; retry shortly")
            }
            _ => {
                tracing::error!(error = %e, "senhasegura request failed");
                SsError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    1099,
                    "an unexpected error occurred; see the server log",
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_sorted() {
        for w in CODES.windows(2) {
            assert!(w[0].0 < w[1].0, "{} then {}", w[0].0, w[1].0);
        }
        assert_eq!(text(1049), "There is no certificate with the given code");
    }

    #[test]
    fn core_errors_map_to_documented_codes() {
        let e: SsError = CoreError::not_found("certificate.not_found", "certificate", 7).into();
        assert_eq!((e.status, e.code), (StatusCode::NOT_FOUND, 1049));
        let e: SsError = CoreError::invalid("form.too_long", "x").into();
        assert_eq!((e.status, e.code), (StatusCode::BAD_REQUEST, 1022));
        let e: SsError = CoreError::Conflict { code: "certificate.exists", message: "x".into() }.into();
        assert_eq!((e.status, e.code), (StatusCode::CONFLICT, 1040));
        for (code, _) in CODES {
            assert_ne!(text(*code), "Error");
        }
    }
}
