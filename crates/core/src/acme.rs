//! The ACME server's domain (RFC 8555): accounts, external account binding keys, orders, authorizations and
//! their challenges, the problems they end with, and the port through which challenges are validated. The wire
//! format (JWS, URLs, JSON) belongs to the server's ACME face; the rules live in `services::acme`.

use crate::clock::EpochSeconds;
use crate::{CoreError, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use uuid::Uuid;

/// The ACME settings of an RA profile: whether it has a directory, and what that directory asks and offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AcmePolicy {
    /// Serve `/acme/{profile}/directory`.
    pub enabled: bool,
    /// New accounts must carry an external account binding made with a key from `/v1/acme/eab-keys`.
    pub external_account_required: bool,
    pub terms_of_service: Option<String>,
    pub website: Option<String>,
    /// Issuer domain names of this CA in CAA records (`issue "ca.example.com"`). Empty: CAA is not checked.
    pub caa_identities: Vec<String>,
    /// Challenge types offered: `http-01`, `dns-01`, `tls-alpn-01`.
    pub challenges: Vec<String>,
    /// Certificate profiles a newOrder may name (`profile`), with their templates.
    pub profiles: BTreeMap<String, AcmeProfile>,
    /// The profile of orders that name none; empty uses the RA profile's own defaults.
    pub default_profile: String,
    /// Hours a valid authorization is reused for new orders of the same account.
    pub authorization_reuse_hours: u32,
    /// Hours a pending order or authorization lives.
    pub order_lifetime_hours: u32,
    /// Whether newOrder may ask for notBefore/notAfter.
    pub allow_validity_request: bool,
}

impl Default for AcmePolicy {
    fn default() -> Self {
        Self {
            enabled: false,
            external_account_required: false,
            terms_of_service: None,
            website: None,
            caa_identities: Vec::new(),
            challenges: ChallengeType::ALL.iter().map(|c| c.as_str().to_owned()).collect(),
            profiles: BTreeMap::new(),
            default_profile: String::new(),
            authorization_reuse_hours: 24,
            order_lifetime_hours: 24,
            allow_validity_request: false,
        }
    }
}

/// A certificate template an order can name (the acme-profiles draft).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AcmeProfile {
    /// Shown in the directory's `meta.profiles`.
    pub description: String,
    /// Validity of the certificates, in days (bounded by the RA profile's maximum). 0: the RA profile's default.
    pub validity_days: u32,
    /// Extended key usages (`server`, `client`); empty keeps the RA profile's.
    pub extended_key_usage: Vec<String>,
}

macro_rules! status_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name { $(#[serde(rename = $text)] $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(s: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.as_str() == s)
            }

            pub fn from_stored(s: &str) -> Result<Self> {
                Self::parse(s).ok_or_else(|| CoreError::Storage(format!(concat!("unknown ", stringify!($name), " '{}'"), s)))
            }
        }
    };
}

status_enum!(
    /// RFC 8555 §7.1.6.
    AccountStatus { Valid = "valid", Deactivated = "deactivated", Revoked = "revoked" }
);
status_enum!(
    /// RFC 8555 §7.1.6.
    OrderStatus { Pending = "pending", Ready = "ready", Processing = "processing", Valid = "valid", Invalid = "invalid" }
);
status_enum!(
    /// RFC 8555 §7.1.6.
    AuthorizationStatus {
        Pending = "pending",
        Valid = "valid",
        Invalid = "invalid",
        Deactivated = "deactivated",
        Expired = "expired",
        Revoked = "revoked",
    }
);
status_enum!(
    /// RFC 8555 §7.1.6.
    ChallengeStatus { Pending = "pending", Processing = "processing", Valid = "valid", Invalid = "invalid" }
);
status_enum!(
    /// Challenge types (RFC 8555 §8.3, §8.4; RFC 8737).
    ChallengeType { Http01 = "http-01", Dns01 = "dns-01", TlsAlpn01 = "tls-alpn-01" }
);

/// An identifier of an order (RFC 8555 §9.7.7; IP addresses per RFC 8738).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "lowercase")]
pub enum Identifier {
    Dns(String),
    Ip(IpAddr),
}

impl Identifier {
    pub fn value(&self) -> String {
        match self {
            Identifier::Dns(name) => name.clone(),
            Identifier::Ip(ip) => ip.to_string(),
        }
    }

    /// The SAN in API spelling (`dns:…`, `ip:…`).
    pub fn san(&self) -> String {
        match self {
            Identifier::Dns(name) => format!("dns:{name}"),
            Identifier::Ip(ip) => format!("ip:{ip}"),
        }
    }

    /// For a wildcard `*.example.org`, the name an authorization is for (`example.org`) and `true`.
    pub fn authorization_name(&self) -> (Identifier, bool) {
        match self {
            Identifier::Dns(name) => match name.strip_prefix("*.") {
                Some(base) => (Identifier::Dns(base.to_owned()), true),
                None => (self.clone(), false),
            },
            Identifier::Ip(_) => (self.clone(), false),
        }
    }
}

/// An ACME problem document's content (RFC 8555 §6.7): `kind` is the part after `urn:ietf:params:acme:error:`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub detail: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subproblems: Vec<Subproblem>,
}

/// One identifier's part of a compound problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subproblem {
    #[serde(rename = "type")]
    pub kind: String,
    pub detail: String,
    pub identifier: Identifier,
}

impl Problem {
    pub fn new(kind: &str, detail: impl Into<String>) -> Self {
        Problem { kind: kind.to_owned(), detail: detail.into(), subproblems: Vec::new() }
    }
}

/// An ACME account: a key, bound to one RA profile's directory.
#[derive(Debug, Clone, PartialEq)]
pub struct Account {
    pub id: i64,
    pub uuid: Uuid,
    pub ra_profile_id: i64,
    /// RFC 7638 thumbprint of the current key.
    pub thumbprint: String,
    /// The key as canonical JWK JSON.
    pub jwk: String,
    pub contact: Vec<String>,
    pub status: AccountStatus,
    /// The external account binding key the account was created with.
    pub eab_kid: Option<String>,
    /// Who the account belongs to (the EAB key's owner), when known.
    pub owner: Option<String>,
    pub created_at: EpochSeconds,
    pub updated_at: EpochSeconds,
}

impl Account {
    /// The principal certificates of this account are recorded as created by.
    pub fn principal(&self) -> String {
        format!("acme-account:{}", self.uuid)
    }
}

/// An HS256 key that binds new ACME accounts to an owner (RFC 8555 §7.3.4).
#[derive(Debug, Clone, PartialEq)]
pub struct EabKey {
    pub id: i64,
    /// The key identifier clients send as `kid`.
    pub kid: String,
    pub ra_profile_id: i64,
    pub owner: Option<String>,
    pub comment: Option<String>,
    /// The MAC key, sealed.
    pub sealed_key: Vec<u8>,
    /// The account it is bound to, once used (each key binds one account).
    pub account_id: Option<i64>,
    pub created_by: String,
    pub created_at: EpochSeconds,
}

/// A challenge of an authorization; its URL names the authorization and the type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Challenge {
    #[serde(rename = "type")]
    pub kind: ChallengeType,
    pub token: String,
    pub status: ChallengeStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validated: Option<EpochSeconds>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Problem>,
}

/// An authorization of one account for one identifier.
#[derive(Debug, Clone, PartialEq)]
pub struct Authorization {
    pub id: i64,
    pub uuid: Uuid,
    pub account_id: i64,
    /// The identifier without any `*.` prefix.
    pub identifier: Identifier,
    pub wildcard: bool,
    pub status: AuthorizationStatus,
    pub expires: EpochSeconds,
    pub challenges: Vec<Challenge>,
    pub created_at: EpochSeconds,
    pub updated_at: EpochSeconds,
}

impl Authorization {
    /// The status as a reader sees it now: a pending or valid authorization past its expiry is expired.
    pub fn status_at(&self, now: EpochSeconds) -> AuthorizationStatus {
        match self.status {
            AuthorizationStatus::Pending | AuthorizationStatus::Valid if now >= self.expires => {
                AuthorizationStatus::Expired
            }
            s => s,
        }
    }
}

/// An order: identifiers, their authorizations, and in the end a certificate.
#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    pub id: i64,
    pub uuid: Uuid,
    pub account_id: i64,
    pub ra_profile_id: i64,
    pub status: OrderStatus,
    pub identifiers: Vec<Identifier>,
    /// Authorization uuids, in the order of `identifiers`.
    pub authorizations: Vec<Uuid>,
    pub not_before: Option<EpochSeconds>,
    pub not_after: Option<EpochSeconds>,
    /// The certificate profile named by the order.
    pub profile: Option<String>,
    /// The ARI certificate identifier of the certificate this order replaces.
    pub replaces: Option<String>,
    pub replaces_certificate_id: Option<i64>,
    pub certificate_id: Option<i64>,
    pub certificate_uuid: Option<Uuid>,
    pub error: Option<Problem>,
    pub expires: EpochSeconds,
    pub created_at: EpochSeconds,
    pub updated_at: EpochSeconds,
}

/// What a challenge validator is asked to check.
#[derive(Debug, Clone)]
pub struct ChallengeCheck {
    pub kind: ChallengeType,
    pub identifier: Identifier,
    pub wildcard: bool,
    pub token: String,
    pub key_authorization: String,
    /// The account URL, for CAA `accounturi`.
    pub account_uri: String,
    /// Issuer domains to look for in CAA records; empty skips CAA.
    pub caa_identities: Vec<String>,
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The port through which challenges are validated (and CAA checked): network access lives in an adapter.
pub trait ChallengeValidator: Send + Sync + std::fmt::Debug {
    /// `Ok` when the applicant proved control (and CAA permits issuance); the problem to record otherwise.
    /// `Err` with kind `connection` or `dns` may be retried.
    fn validate<'a>(&'a self, check: &'a ChallengeCheck) -> BoxFuture<'a, std::result::Result<(), Problem>>;
}

/// A certificate's ARI identifier (RFC 9773 §4.1): base64url of the authority key identifier, a dot, and
/// base64url of the serial number's DER content octets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertId {
    pub key_identifier: Vec<u8>,
    pub serial: Vec<u8>,
}

impl CertId {
    pub fn parse(text: &str) -> Option<Self> {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
        use base64::Engine;
        let (aki, serial) = text.split_once('.')?;
        let key_identifier = B64.decode(aki).ok()?;
        let serial = B64.decode(serial).ok()?;
        if key_identifier.is_empty() || serial.is_empty() || serial.len() > 21 {
            return None;
        }
        Some(CertId { key_identifier, serial })
    }

    /// The serial in the inventory's spelling.
    pub fn serial_hex(&self) -> String {
        certwright_pki::cert::serial_hex(&self.serial)
    }
}

/// A suggested renewal window (RFC 9773 §4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenewalWindow {
    pub start: EpochSeconds,
    pub end: EpochSeconds,
    /// Seconds the client should wait before asking again.
    pub retry_after: i64,
}
