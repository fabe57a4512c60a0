//! An RFC 8555 ACME client: certwright obtaining certificates from an upstream ACME CA (Let's Encrypt, a
//! corporate ACME CA). It owns the account key and JWS signing, the nonce and problem-document handling, the order
//! flow with challenge responders, and revocation. It keeps no state of its own: the caller stores the account key,
//! the account URL and, for an order in flight, the order URL.

mod client;
mod error;
mod jws;
mod order;
mod responder;

pub use client::{AcmeClient, Directory};
pub use error::{AcmeError, Problem, Subproblem, ACME_ERROR_NS};
pub use jws::{AccountKey, ExternalAccountBinding};
pub use order::{Issued, Order, OrderStatus, PollPolicy};
pub use responder::{dns01_txt_value, BoxFuture, ChallengeKind, ChallengeResponder, Http01Tokens};

use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// An identifier a certificate is ordered for (RFC 8555 §9.7.7; IP addresses per RFC 8738).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "lowercase")]
#[non_exhaustive]
pub enum Identifier {
    /// A DNS name (`example.org`, or `*.example.org`, which only dns-01 can authorize).
    Dns(String),
    /// An IP address.
    Ip(IpAddr),
}

impl Identifier {
    /// A DNS identifier.
    pub fn dns(name: impl Into<String>) -> Self {
        Identifier::Dns(name.into())
    }

    /// The identifier's value as text.
    pub fn value(&self) -> String {
        match self {
            Identifier::Dns(name) => name.clone(),
            Identifier::Ip(ip) => ip.to_string(),
        }
    }
}

/// An ACME account at one CA: its URL (the JWS `kid`) and the key that controls it.
#[derive(Debug, Clone)]
pub struct Account {
    /// The account URL the CA assigned (returned in `Location` by newAccount).
    pub url: String,
    /// The account key.
    pub key: AccountKey,
}

impl Account {
    /// An account from a stored URL and key (after a restart, say).
    pub fn new(url: impl Into<String>, key: AccountKey) -> Self {
        Account { url: url.into(), key }
    }
}
