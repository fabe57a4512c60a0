//! ACME failures: RFC 7807/8555 problem documents returned by the CA, and the client's own failures (transport,
//! protocol, timeouts, challenge responders), each with a stable machine code.

use serde::Deserialize;
use std::fmt;

/// The prefix of the ACME error namespace (RFC 8555 §6.7).
pub const ACME_ERROR_NS: &str = "urn:ietf:params:acme:error:";

/// A problem document (RFC 7807) sent by the CA, with ACME's subproblems (RFC 8555 §6.7.1).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Problem {
    /// The problem type URI, e.g. `urn:ietf:params:acme:error:badCSR`.
    #[serde(rename = "type", default)]
    pub type_uri: String,
    /// The CA's human-readable explanation.
    #[serde(default)]
    pub detail: Option<String>,
    /// The HTTP status the CA sent (from the response when the body omits it).
    #[serde(default)]
    pub status: Option<u16>,
    /// Per-identifier problems.
    #[serde(default)]
    pub subproblems: Vec<Subproblem>,
}

/// One per-identifier problem inside a [`Problem`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Subproblem {
    /// The problem type URI.
    #[serde(rename = "type", default)]
    pub type_uri: String,
    /// The CA's explanation.
    #[serde(default)]
    pub detail: Option<String>,
    /// The identifier this subproblem is about.
    #[serde(default)]
    pub identifier: Option<super::Identifier>,
}

impl Problem {
    /// The ACME error name without its namespace (`badCSR`, `badNonce`, …), or `None` for a type outside
    /// `urn:ietf:params:acme:error:`.
    pub fn acme_type(&self) -> Option<&str> {
        self.type_uri.strip_prefix(ACME_ERROR_NS)
    }

    /// Whether this is the ACME error `name` (e.g. `"badNonce"`).
    pub fn is(&self, name: &str) -> bool {
        self.acme_type() == Some(name)
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.acme_type().unwrap_or(&self.type_uri);
        write!(f, "{name}")?;
        if let Some(status) = self.status {
            write!(f, " ({status})")?;
        }
        if let Some(detail) = &self.detail {
            write!(f, ": {detail}")?;
        }
        for sub in &self.subproblems {
            let name = sub.type_uri.strip_prefix(ACME_ERROR_NS).unwrap_or(&sub.type_uri);
            write!(f, "; {name}")?;
            if let Some(id) = &sub.identifier {
                write!(f, " for {}", id.value())?;
            }
            if let Some(detail) = &sub.detail {
                write!(f, ": {detail}")?;
            }
        }
        Ok(())
    }
}

/// Everything that can go wrong talking to an ACME CA.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AcmeError {
    /// The CA refused a request with a problem document.
    #[error("the ACME CA refused the request: {0}")]
    Problem(Problem),
    /// The CA could not be reached, or the connection failed.
    #[error("cannot reach the ACME CA at {url}: {message}")]
    Transport {
        /// The URL requested.
        url: String,
        /// What failed.
        message: String,
    },
    /// The CA answered something RFC 8555 does not allow (missing header, malformed JSON, unexpected status).
    #[error("the ACME CA answered unexpectedly at {url}: {message}")]
    Protocol {
        /// The URL requested.
        url: String,
        /// What was wrong.
        message: String,
    },
    /// An authorization failed: the CA could not validate the challenge.
    #[error("validation of {identifier} failed{}", problem.as_ref().map(|p| format!(": {p}")).unwrap_or_default())]
    ChallengeFailed {
        /// The identifier whose authorization is invalid.
        identifier: String,
        /// The challenge's error, when the CA gave one.
        problem: Option<Problem>,
    },
    /// The order became invalid (after a failed authorization or finalization).
    #[error("the ACME order {order_url} is invalid{}", problem.as_ref().map(|p| format!(": {p}")).unwrap_or_default())]
    OrderInvalid {
        /// The order URL.
        order_url: String,
        /// The order's error, when the CA gave one.
        problem: Option<Problem>,
    },
    /// The CA offered no challenge the responder can answer for an identifier.
    #[error("no offered challenge for {identifier} is one the responder handles (offered: {offered})")]
    NoSupportedChallenge {
        /// The identifier.
        identifier: String,
        /// The challenge types offered, comma-separated.
        offered: String,
    },
    /// The challenge responder could not publish or remove a response.
    #[error("the challenge responder failed for {identifier}: {message}")]
    Responder {
        /// The identifier.
        identifier: String,
        /// The responder's message.
        message: String,
    },
    /// Polling did not reach a final state before the deadline; the order can be resumed later by its URL.
    #[error("{what} at {url} was still {status} when the polling deadline passed; resume later")]
    Timeout {
        /// What was being polled (`authorization`, `order`).
        what: &'static str,
        /// Its URL.
        url: String,
        /// Its last status.
        status: String,
    },
    /// Key material was unusable.
    #[error("ACME key: {0}")]
    Key(String),
}

impl AcmeError {
    /// A stable machine code for logs and the job runner (`acme.problem.badCSR`, `acme.timeout`, …).
    pub fn code(&self) -> String {
        match self {
            AcmeError::Problem(p) => format!("acme.problem.{}", p.acme_type().unwrap_or("other")),
            AcmeError::Transport { .. } => "acme.transport".into(),
            AcmeError::Protocol { .. } => "acme.protocol".into(),
            AcmeError::ChallengeFailed { .. } => "acme.challenge_failed".into(),
            AcmeError::OrderInvalid { .. } => "acme.order_invalid".into(),
            AcmeError::NoSupportedChallenge { .. } => "acme.no_supported_challenge".into(),
            AcmeError::Responder { .. } => "acme.responder".into(),
            AcmeError::Timeout { .. } => "acme.timeout".into(),
            AcmeError::Key(_) => "acme.key".into(),
        }
    }

    /// Whether trying the same operation again later may succeed (transport failures, timeouts, the CA's 5xx,
    /// `rateLimited`), as opposed to a refusal that will repeat.
    pub fn is_retryable(&self) -> bool {
        match self {
            AcmeError::Transport { .. } | AcmeError::Timeout { .. } | AcmeError::Responder { .. } => true,
            AcmeError::Problem(p) => {
                p.is("rateLimited") || p.is("badNonce") || p.is("serverInternal") || p.status.is_some_and(|s| s >= 500)
            }
            _ => false,
        }
    }

    /// The problem document, when the CA sent one.
    pub fn problem(&self) -> Option<&Problem> {
        match self {
            AcmeError::Problem(p) => Some(p),
            AcmeError::ChallengeFailed { problem, .. } | AcmeError::OrderInvalid { problem, .. } => problem.as_ref(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_with_subproblems_reads_and_prints() {
        let p: Problem = serde_json::from_str(
            r#"{"type":"urn:ietf:params:acme:error:malformed","detail":"Some of the identifiers requested were rejected",
                "subproblems":[{"type":"urn:ietf:params:acme:error:malformed","detail":"Invalid underscore in DNS name",
                "identifier":{"type":"dns","value":"_example.org"}}]}"#,
        )
        .unwrap();
        assert!(p.is("malformed"));
        assert_eq!(p.subproblems.len(), 1);
        let text = AcmeError::Problem(p).to_string();
        assert!(text.contains("malformed: Some of the identifiers"), "{text}");
        assert!(text.contains("for _example.org: Invalid underscore"), "{text}");
    }

    #[test]
    fn codes_and_retryability() {
        let p = |t: &str, s| Problem {
            type_uri: format!("{ACME_ERROR_NS}{t}"),
            detail: None,
            status: s,
            subproblems: vec![],
        };
        assert_eq!(AcmeError::Problem(p("badCSR", Some(400))).code(), "acme.problem.badCSR");
        assert!(!AcmeError::Problem(p("badCSR", Some(400))).is_retryable());
        assert!(AcmeError::Problem(p("rateLimited", Some(429))).is_retryable());
        assert!(AcmeError::Problem(p("serverInternal", Some(500))).is_retryable());
    }
}
