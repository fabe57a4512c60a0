//! Validation failures, one variant per ACME error type (RFC 8555 §6.7), each with a detail an ACME problem
//! document can show as it is.

/// Why a challenge did not validate, or CAA forbids issuance. The variant is the ACME error type
/// ([`ChallengeError::acme_type`]); the text says what was tried and what came back, e.g.
/// `http-01: 127.0.0.1:5002 answered 404 for /.well-known/acme-challenge/abc`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChallengeError {
    /// A DNS lookup failed: no answer, SERVFAIL, a malformed answer, or no address for the name.
    #[error("{0}")]
    Dns(String),
    /// The server could not be reached, timed out, or redirected somewhere that is not followed.
    #[error("{0}")]
    Connection(String),
    /// The server answered but offered no proof: an HTTP status other than 200, no TXT record, no `acme-tls/1`.
    #[error("{0}")]
    Unauthorized(String),
    /// The TLS handshake failed.
    #[error("{0}")]
    Tls(String),
    /// A proof was offered but is wrong: another key authorization, TXT value or certificate.
    #[error("{0}")]
    IncorrectResponse(String),
    /// CAA forbids issuance, or the CAA lookup failed (which must not be read as permission).
    #[error("{0}")]
    Caa(String),
    /// The request cannot be validated as asked: an invalid name or token, a wildcard for http-01, a bad setting.
    #[error("{0}")]
    Malformed(String),
}

impl ChallengeError {
    /// The ACME error type without its namespace: `dns`, `connection`, `unauthorized`, `tls`,
    /// `incorrectResponse`, `caa` or `malformed`.
    pub fn acme_type(&self) -> &'static str {
        match self {
            ChallengeError::Dns(_) => "dns",
            ChallengeError::Connection(_) => "connection",
            ChallengeError::Unauthorized(_) => "unauthorized",
            ChallengeError::Tls(_) => "tls",
            ChallengeError::IncorrectResponse(_) => "incorrectResponse",
            ChallengeError::Caa(_) => "caa",
            ChallengeError::Malformed(_) => "malformed",
        }
    }

    /// The full problem type URI, `urn:ietf:params:acme:error:<type>`.
    pub fn problem_type(&self) -> String {
        format!("{}{}", crate::acme::ACME_ERROR_NS, self.acme_type())
    }

    /// The human-readable detail for the problem document.
    pub fn detail(&self) -> &str {
        match self {
            ChallengeError::Dns(d)
            | ChallengeError::Connection(d)
            | ChallengeError::Unauthorized(d)
            | ChallengeError::Tls(d)
            | ChallengeError::IncorrectResponse(d)
            | ChallengeError::Caa(d)
            | ChallengeError::Malformed(d) => d,
        }
    }

    /// Whether the same validation may succeed if tried again shortly (a lookup or connection that failed on the
    /// way), as opposed to an answer that proves nothing or a refusal.
    pub fn is_retryable(&self) -> bool {
        matches!(self, ChallengeError::Dns(_) | ChallengeError::Connection(_) | ChallengeError::Tls(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_and_details() {
        let e = ChallengeError::IncorrectResponse("http-01: wrong".into());
        assert_eq!(e.acme_type(), "incorrectResponse");
        assert_eq!(e.problem_type(), "urn:ietf:params:acme:error:incorrectResponse");
        assert_eq!(e.detail(), "http-01: wrong");
        assert_eq!(e.to_string(), "http-01: wrong");
        assert!(!e.is_retryable());
        assert!(ChallengeError::Dns("x".into()).is_retryable());
        assert_eq!(ChallengeError::Caa("x".into()).acme_type(), "caa");
    }
}
