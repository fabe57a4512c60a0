//! The one error type of the domain. Every variant has a stable machine code; faces map it to their own envelope.

use certwright_pki::PkiError;

/// Result with [`CoreError`].
pub type Result<T, E = CoreError> = std::result::Result<T, E>;

/// What went wrong, in terms a caller can act on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CoreError {
    /// The named object does not exist (or is not visible to the caller).
    #[error("{what} '{id}' was not found")]
    NotFound { code: &'static str, what: &'static str, id: String },
    /// The input is well-formed but not acceptable; the message says what to change.
    #[error("{message}")]
    Invalid { code: &'static str, message: String },
    /// The request conflicts with the current state of the object.
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// No valid credentials were presented.
    #[error("{0}")]
    Unauthenticated(&'static str),
    /// The credentials are valid but their role does not allow this operation.
    #[error("role '{role}' may not {action}")]
    Forbidden { role: String, action: &'static str },
    /// The database failed or is unreachable.
    #[error("storage failure: {0}")]
    Storage(String),
    /// A cryptographic primitive failed.
    #[error("cryptographic failure: {0}")]
    Crypto(#[from] PkiError),
}

impl CoreError {
    /// The stable machine code, e.g. `token.not_found`.
    pub fn code(&self) -> &'static str {
        match self {
            CoreError::NotFound { code, .. } | CoreError::Invalid { code, .. } | CoreError::Conflict { code, .. } => {
                code
            }
            CoreError::Unauthenticated(_) => "auth.unauthenticated",
            CoreError::Forbidden { .. } => "auth.forbidden",
            CoreError::Storage(_) => "storage.failure",
            CoreError::Crypto(_) => "crypto.failure",
        }
    }

    /// Shorthand for an [`CoreError::Invalid`] error.
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        CoreError::Invalid { code, message: message.into() }
    }

    /// Shorthand for a [`CoreError::NotFound`] error.
    pub fn not_found(code: &'static str, what: &'static str, id: impl std::fmt::Display) -> Self {
        CoreError::NotFound { code, what, id: id.to_string() }
    }
}
