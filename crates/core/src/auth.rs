//! Who may do what: roles, permissions, principals, API tokens and OAuth2 clients, and the bearer secrets they
//! present. Secrets are random 256-bit values; only their SHA-256 is stored, so a lookup is one indexed query.

use crate::clock::EpochSeconds;
use crate::{CoreError, Result};
use base64::Engine;
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use zeroize::Zeroizing;

/// A role granted to a token or OAuth2 client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Role {
    /// Everything, including access management.
    Admin,
    /// Day-to-day certificate operations.
    Operator,
    /// May request certificates through the RA profiles it is limited to.
    Requester,
    /// Read-only access to everything, including the audit log.
    Auditor,
}

impl Role {
    /// All roles, in order of decreasing power.
    pub const ALL: [Role; 4] = [Role::Admin, Role::Operator, Role::Requester, Role::Auditor];

    /// The stored and wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Requester => "requester",
            Role::Auditor => "auditor",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Result<Self> {
        Role::ALL.into_iter().find(|r| r.as_str() == s).ok_or_else(|| {
            CoreError::invalid(
                "auth.unknown_role",
                format!("unknown role '{s}'; expected one of admin, operator, requester, auditor"),
            )
        })
    }

    /// Whether this role grants `permission`.
    pub fn allows(self, permission: Permission) -> bool {
        match permission {
            Permission::ManageAccess => self == Role::Admin,
            Permission::ReadAccess | Permission::ReadAudit => matches!(self, Role::Admin | Role::Auditor),
            Permission::ManageAuthorities => self == Role::Admin,
            Permission::IssueCertificates => matches!(self, Role::Admin | Role::Operator | Role::Requester),
            Permission::ReadInventory => true,
            Permission::RevokeCertificates => matches!(self, Role::Admin | Role::Operator),
            Permission::ManageRequests => matches!(self, Role::Admin | Role::Operator),
            Permission::RunDiscovery => matches!(self, Role::Admin | Role::Operator),
        }
    }
}

/// An operation class that roles grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Permission {
    /// Create and revoke API tokens and OAuth2 clients.
    ManageAccess,
    /// List API tokens and OAuth2 clients (never their secrets).
    ReadAccess,
    /// Read the audit log.
    ReadAudit,
    /// Create certificate authorities and RA profiles.
    ManageAuthorities,
    /// Request certificates through RA profiles.
    IssueCertificates,
    /// Read authorities, RA profiles and the certificate inventory.
    ReadInventory,
    /// Revoke certificates and lift certificate holds.
    RevokeCertificates,
    /// Decide on approvals; finalize, cancel and confirm pending operations; see jobs and reports.
    ManageRequests,
    /// Start and cancel discovery runs (scans of TLS endpoints and of the server's files).
    RunDiscovery,
}

impl Permission {
    /// What the permission lets a caller do, for error messages.
    pub fn action(self) -> &'static str {
        match self {
            Permission::ManageAccess => "manage API tokens and OAuth clients",
            Permission::ReadAccess => "list API tokens and OAuth clients",
            Permission::ReadAudit => "read the audit log",
            Permission::ManageAuthorities => "manage certificate authorities and RA profiles",
            Permission::IssueCertificates => "request certificates",
            Permission::ReadInventory => "read the certificate inventory",
            Permission::RevokeCertificates => "revoke certificates",
            Permission::ManageRequests => "decide on approvals and complete pending certificate operations",
            Permission::RunDiscovery => "run discovery scans",
        }
    }
}

/// The authenticated identity behind a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Principal name, as written into audit events.
    pub principal: String,
    /// The token that authenticated the request; `None` for the server itself.
    pub token: Option<Uuid>,
    pub role: Role,
    /// RA profiles this caller is limited to; empty means all.
    pub ra_profiles: Vec<String>,
}

impl Caller {
    /// The server acting on its own behalf (bootstrap, jobs).
    pub fn system() -> Self {
        Self { principal: "system".to_owned(), token: None, role: Role::Admin, ra_profiles: Vec::new() }
    }

    /// Whether the caller may use the RA profile called `name`.
    pub fn may_use_profile(&self, name: &str) -> bool {
        self.ra_profiles.is_empty() || self.ra_profiles.iter().any(|p| p == name)
    }

    /// Fails with [`CoreError::Forbidden`] unless the caller's role grants `permission`.
    pub fn require(&self, permission: Permission) -> Result<()> {
        if self.role.allows(permission) {
            Ok(())
        } else {
            Err(CoreError::Forbidden { role: self.role.as_str().to_owned(), action: permission.action() })
        }
    }
}

/// Who is asking, and under which request id: passed into every service call.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub caller: Caller,
    pub request_id: Option<String>,
}

impl Ctx {
    /// A context for work the server does on its own behalf.
    pub fn system() -> Self {
        Self { caller: Caller::system(), request_id: None }
    }
}

/// A named identity that owns tokens and OAuth2 clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub id: i64,
    pub uuid: Uuid,
    pub name: String,
    pub created_at: EpochSeconds,
}

/// How a token came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenSource {
    /// Created by an administrator (or at bootstrap).
    Static,
    /// Issued by the OAuth2 client-credentials grant.
    Oauth,
}

impl TokenSource {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenSource::Static => "static",
            TokenSource::Oauth => "oauth",
        }
    }

    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "static" => Ok(TokenSource::Static),
            "oauth" => Ok(TokenSource::Oauth),
            other => Err(CoreError::Storage(format!("unknown token source '{other}'"))),
        }
    }
}

/// An API token as stored (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    pub id: i64,
    pub uuid: Uuid,
    pub name: String,
    pub principal: String,
    pub role: Role,
    pub ra_profiles: Vec<String>,
    pub source: TokenSource,
    pub created_at: EpochSeconds,
    pub expires_at: Option<EpochSeconds>,
    pub revoked_at: Option<EpochSeconds>,
}

impl ApiToken {
    /// Whether the token may authenticate a request at `now`.
    pub fn is_active(&self, now: EpochSeconds) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| now < e)
    }
}

/// A token row about to be inserted.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub uuid: Uuid,
    pub name: String,
    pub principal: String,
    pub role: Role,
    pub ra_profiles: Vec<String>,
    pub source: TokenSource,
    pub secret_hash: String,
    pub created_at: EpochSeconds,
    pub expires_at: Option<EpochSeconds>,
    /// The OAuth2 client this token was issued to, for `source == Oauth`.
    pub oauth_client: Option<Uuid>,
}

/// An OAuth2 client (client-credentials grant) as stored (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthClient {
    pub id: i64,
    pub uuid: Uuid,
    pub name: String,
    pub principal: String,
    pub role: Role,
    pub ra_profiles: Vec<String>,
    pub token_ttl_seconds: i64,
    pub created_at: EpochSeconds,
}

/// An OAuth2 client row about to be inserted.
#[derive(Debug, Clone)]
pub struct NewOAuthClient {
    pub uuid: Uuid,
    pub name: String,
    pub principal: String,
    pub role: Role,
    pub ra_profiles: Vec<String>,
    pub token_ttl_seconds: i64,
    pub secret_hash: String,
    pub created_at: EpochSeconds,
}

/// A bearer secret shown to its owner exactly once. `Debug` never prints it.
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// A fresh 256-bit secret, base64url-encoded behind a prefix that says what it is (`cwt_`, `cwc_`, `cwo_`).
    pub fn generate(prefix: &str) -> Result<Self> {
        let raw = Zeroizing::new(certwright_pki::random::bytes::<32>()?);
        let mut s = String::with_capacity(prefix.len() + 43);
        s.push_str(prefix);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode_string(raw.as_slice(), &mut s);
        Ok(Self(Zeroizing::new(s)))
    }

    /// Wraps a secret presented by a client.
    pub fn presented(s: &str) -> Self {
        Self(Zeroizing::new(s.to_owned()))
    }

    /// The secret itself: to be shown once, never logged.
    pub fn danger_expose(&self) -> &str {
        &self.0
    }

    /// The stored form: hex SHA-256 of the secret.
    pub fn hash(&self) -> String {
        hash_secret(&self.0)
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Hex SHA-256 of a presented secret, the form under which secrets are stored and looked up.
pub fn hash_secret(secret: &str) -> String {
    certwright_pki::digest::hex(&certwright_pki::digest::sha256(secret.as_bytes()))
}

/// Validates a human-chosen name (token, client, principal): 1..=128 characters, no control characters.
pub fn validate_name(field: &'static str, name: &str) -> Result<String> {
    let trimmed = name.trim();
    if trimmed.is_empty() || trimmed.chars().count() > 128 || trimmed.chars().any(char::is_control) {
        return Err(CoreError::invalid(
            "request.invalid_name",
            format!("{field} must be 1 to 128 characters without control characters"),
        ));
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_prefixed_unique_and_hashed() {
        let a = Secret::generate("cwt_").unwrap();
        let b = Secret::generate("cwt_").unwrap();
        assert!(a.danger_expose().starts_with("cwt_"));
        assert_eq!(a.danger_expose().len(), 4 + 43);
        assert_ne!(a.danger_expose(), b.danger_expose());
        assert_eq!(a.hash(), hash_secret(a.danger_expose()));
        assert!(!format!("{a:?}").contains(a.danger_expose()));
    }

    #[test]
    fn only_admin_manages_access_and_auditor_reads_audit() {
        assert!(Role::Admin.allows(Permission::ManageAccess));
        for r in [Role::Operator, Role::Requester, Role::Auditor] {
            assert!(!r.allows(Permission::ManageAccess), "{r:?}");
        }
        assert!(Role::Auditor.allows(Permission::ReadAudit));
        assert!(!Role::Requester.allows(Permission::ReadAudit));
    }

    #[test]
    fn token_activity_follows_expiry_and_revocation() {
        let mut t = ApiToken {
            id: 1,
            uuid: Uuid::nil(),
            name: "t".into(),
            principal: "p".into(),
            role: Role::Admin,
            ra_profiles: vec![],
            source: TokenSource::Static,
            created_at: 0,
            expires_at: Some(100),
            revoked_at: None,
        };
        assert!(t.is_active(99));
        assert!(!t.is_active(100));
        t.expires_at = None;
        assert!(t.is_active(i64::MAX));
        t.revoked_at = Some(5);
        assert!(!t.is_active(6));
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(validate_name("name", "  ci ").unwrap(), "ci");
        assert!(validate_name("name", "").is_err());
        assert!(validate_name("name", "a\u{0}b").is_err());
        assert!(validate_name("name", &"x".repeat(129)).is_err());
    }
}
