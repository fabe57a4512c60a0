//! Keystores and scopes: certificates kept for a consumer rather than just inventoried.
//!
//! - *Staged keystore entries* are end certificates with their private keys and intermediate chains, uploaded
//!   for a component of an appliance and validated on upload; changes are staged and take effect when an
//!   administrator deploys them (a deploy run). Trust anchors (root certificates) are staged the same way, and
//!   key requests are CSRs whose private key the server generated and keeps until the signed certificate comes
//!   back.
//! - *Scoped certificates* carry a name that is unique within a scope (a folder, a snippet or a device of a
//!   configuration tree); the same name may exist in two scopes.
//!
//! Every certificate of both is also a certificate of the inventory, linked by id and labelled with where it
//! lives.

use crate::clock::EpochSeconds;
use crate::{CoreError, Result};
use uuid::Uuid;

/// Where a staged change stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StageStatus {
    /// Uploaded or changed; takes effect at the next deploy.
    DeployPending,
    Deployed,
    /// Deleted; disappears at the next deploy.
    DeletePending,
}

impl StageStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            StageStatus::DeployPending => "deploy_pending",
            StageStatus::Deployed => "deployed",
            StageStatus::DeletePending => "delete_pending",
        }
    }

    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "deploy_pending" => Ok(StageStatus::DeployPending),
            "deployed" => Ok(StageStatus::Deployed),
            "delete_pending" => Ok(StageStatus::DeletePending),
            other => Err(CoreError::Storage(format!("unknown stage status '{other}'"))),
        }
    }
}

/// A consumer of keystore entries (an appliance's service that presents or checks certificates).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Component {
    pub id: i64,
    pub name: String,
    pub created_at: EpochSeconds,
}

/// An end certificate staged in the keystore, with its inventory certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedCertificate {
    pub id: i64,
    /// Unique among staged certificates.
    pub name: String,
    /// `server`, `client`, `server_client` or `signing_encryption`.
    pub purpose: String,
    pub component_id: Option<i64>,
    pub status: StageStatus,
    /// The inventory certificate (id and uuid) and its DER.
    pub certificate_id: i64,
    pub certificate_uuid: Uuid,
    pub der: Vec<u8>,
    /// The intermediates uploaded with it, DER, child first.
    pub chain: Vec<Vec<u8>>,
    /// The managed key held for it.
    pub key_id: Option<i64>,
    /// The key request its key came from.
    pub key_request_id: Option<i64>,
    /// The validation code at the last upload: 0 valid, else the code of the most important problem.
    pub validation: i64,
    pub created_at: EpochSeconds,
    pub updated_at: EpochSeconds,
}

/// A certificate signing request whose private key this server generated and holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRequest {
    pub id: i64,
    pub description: Option<String>,
    pub purpose: String,
    pub key_id: i64,
    /// SubjectPublicKeyInfo DER of the key, to match returning certificates.
    pub public_key: Vec<u8>,
    /// The PKCS#10 request, DER.
    pub csr: Vec<u8>,
    pub created_by: String,
    pub created_at: EpochSeconds,
}

/// A trust anchor staged for deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedRoot {
    pub id: i64,
    /// Lower-case hex of the subject key identifier (or of the SHA-256 of the key when the extension is absent).
    pub key_id_hex: String,
    pub der: Vec<u8>,
    pub status: StageStatus,
    pub created_at: EpochSeconds,
}

/// How much a deploy run pushes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeployKind {
    Incremental,
    Full,
}

impl DeployKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DeployKind::Incremental => "incremental",
            DeployKind::Full => "full",
        }
    }

    pub fn parse(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "incremental" => Ok(DeployKind::Incremental),
            "full" => Ok(DeployKind::Full),
            other => Err(CoreError::invalid(
                "deploy.invalid_type",
                format!("unknown deploy type '{other}': use INCREMENTAL or FULL"),
            )),
        }
    }
}

/// One deploy of the staged changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployRun {
    pub id: i64,
    pub uuid: Uuid,
    pub kind: DeployKind,
    /// `running`, `complete` or `failed`.
    pub status: String,
    pub initiated_by: String,
    /// The node that runs it.
    pub node: String,
    /// Staged changes it applied (known when complete).
    pub changes: i64,
    pub error_message: Option<String>,
    pub started_at: EpochSeconds,
    pub finished_at: Option<EpochSeconds>,
}

/// A scope of a configuration tree.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Scope {
    Folder(String),
    Snippet(String),
    Device(String),
}

impl Scope {
    /// `folder`, `snippet` or `device`.
    pub fn kind(&self) -> &'static str {
        match self {
            Scope::Folder(_) => "folder",
            Scope::Snippet(_) => "snippet",
            Scope::Device(_) => "device",
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Scope::Folder(n) | Scope::Snippet(n) | Scope::Device(n) => n,
        }
    }

    /// A scope from its kind and name; names are 1 to 64 characters of letters, digits, `-`, `_`, `.` and space.
    pub fn new(kind: &str, name: &str) -> Result<Self> {
        let ok = !name.is_empty()
            && name.chars().count() <= 64
            && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ' '));
        if !ok {
            return Err(CoreError::invalid(
                "scope.invalid_name",
                format!("{kind} must be 1 to 64 characters of letters, digits, '-', '_', '.' and space"),
            ));
        }
        match kind {
            "folder" => Ok(Scope::Folder(name.to_owned())),
            "snippet" => Ok(Scope::Snippet(name.to_owned())),
            "device" => Ok(Scope::Device(name.to_owned())),
            other => Err(CoreError::Storage(format!("unknown scope kind '{other}'"))),
        }
    }
}

/// A named certificate of a scope, with its inventory certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopedCertificate {
    pub id: i64,
    pub scope: Scope,
    pub name: String,
    pub certificate_id: i64,
    /// Also the scoped certificate's public id.
    pub certificate_uuid: Uuid,
    pub der: Vec<u8>,
    pub key_id: Option<i64>,
    /// The scoped certificate that signed it (none when self-signed or imported).
    pub signed_by: Option<i64>,
    pub created_at: EpochSeconds,
}

/// Which scoped certificates to list.
#[derive(Debug, Clone, Default)]
pub struct ScopeFilter {
    pub name: Option<String>,
    pub scope: Option<Scope>,
}
