//! Request forms: a certificate request described with the business facts an organisation tracks — validation
//! level, domain kind, organization, tags, environments, systems, project, who is responsible — recorded first
//! and signed later (by one of this server's authorities, through the lifecycle engine, or self-signed). The key
//! pair is generated here when the form is signed; its export and the certificate's revocation may be guarded by
//! passwords, stored only as salted hashes.

use crate::clock::EpochSeconds;
use crate::{CoreError, Result};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Longest justification, in characters.
pub const MAX_JUSTIFICATION: usize = 1024;
/// Longest description, in characters.
pub const MAX_DESCRIPTION: usize = 512;
/// Longest ITSM code, in characters.
pub const MAX_ITSM_CODE: usize = 30;
/// Longest free text field (project, addresses, names of terms), in characters.
pub const MAX_TEXT: usize = 255;
/// Most SANs, and most terms of one kind, on a form.
pub const MAX_ITEMS: usize = 100;

/// How thoroughly the requester's identity is validated: 1 domain (DV), 2 organization (OV), 3 extended (EV).
/// OV and EV certificates carry the organization's name in their subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValidationLevel {
    Domain,
    Organization,
    Extended,
}

impl ValidationLevel {
    pub fn code(self) -> i64 {
        match self {
            ValidationLevel::Domain => 1,
            ValidationLevel::Organization => 2,
            ValidationLevel::Extended => 3,
        }
    }

    pub fn from_code(code: i64) -> Option<Self> {
        match code {
            1 => Some(ValidationLevel::Domain),
            2 => Some(ValidationLevel::Organization),
            3 => Some(ValidationLevel::Extended),
            _ => None,
        }
    }
}

/// Whether the certificate names one domain, several, or a wildcard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DomainKind {
    Single,
    Multiple,
    Wildcard,
}

impl DomainKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DomainKind::Single => "single",
            DomainKind::Multiple => "multiple",
            DomainKind::Wildcard => "wildcard",
        }
    }

    pub fn from_stored(s: &str) -> Result<Self> {
        match s {
            "single" => Ok(DomainKind::Single),
            "multiple" => Ok(DomainKind::Multiple),
            "wildcard" => Ok(DomainKind::Wildcard),
            other => Err(CoreError::Storage(format!("unknown domain kind '{other}'"))),
        }
    }
}

/// The key family a form asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyFamily {
    Rsa,
    Dsa,
}

impl KeyFamily {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyFamily::Rsa => "rsa",
            KeyFamily::Dsa => "dsa",
        }
    }

    pub fn from_stored(s: &str) -> Result<Self> {
        match s {
            "rsa" => Ok(KeyFamily::Rsa),
            "dsa" => Ok(KeyFamily::Dsa),
            other => Err(CoreError::Storage(format!("unknown key family '{other}'"))),
        }
    }
}

/// Where a form stands, derived from what it led to. The numbers are those the forms' API shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FormStatus {
    /// Recorded, not signed yet; may still be changed.
    Created,
    PendingApproval,
    PendingIssue,
    Rejected,
    Failed,
    /// Signed: the certificate exists.
    Signed,
}

impl FormStatus {
    pub const ALL: [FormStatus; 6] = [
        FormStatus::Created,
        FormStatus::PendingApproval,
        FormStatus::PendingIssue,
        FormStatus::Rejected,
        FormStatus::Failed,
        FormStatus::Signed,
    ];

    pub fn code(self) -> i64 {
        match self {
            FormStatus::Created => 1,
            FormStatus::PendingApproval => 2,
            FormStatus::PendingIssue => 3,
            FormStatus::Rejected => 4,
            FormStatus::Failed => 5,
            FormStatus::Signed => 7,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            FormStatus::Created => "Created",
            FormStatus::PendingApproval => "Pending approval",
            FormStatus::PendingIssue => "Pending issue",
            FormStatus::Rejected => "Rejected",
            FormStatus::Failed => "Failed",
            FormStatus::Signed => "Signed",
        }
    }

    pub fn from_code(code: i64) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.code() == code)
    }
}

/// Why a form is signed or a certificate published: a fixed, documented list.
pub const REASONS: [(i64, &str); 6] = [
    (1, "New certificate"),
    (2, "Renewal"),
    (3, "Scheduled Renewal"),
    (4, "Replacement"),
    (5, "Key compromise"),
    (6, "Other"),
];

/// The name of a reason code.
pub fn reason_name(code: i64) -> Option<&'static str> {
    REASONS.iter().find(|(c, _)| *c == code).map(|(_, n)| *n)
}

/// An organization that forms name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    pub id: i64,
    pub uuid: Uuid,
    pub name: String,
    pub created_by: String,
    pub created_at: EpochSeconds,
}

/// The tags, environments and systems of a form, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Terms {
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub environments: Vec<String>,
    #[serde(default)]
    pub systems: Vec<String>,
}

impl Terms {
    /// `(kind, name)` of every term.
    pub fn all(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.tags
            .iter()
            .map(|t| ("tag", t.as_str()))
            .chain(self.environments.iter().map(|t| ("environment", t.as_str())))
            .chain(self.systems.iter().map(|t| ("system", t.as_str())))
    }
}

/// How a form was signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signing {
    pub self_signed: bool,
    pub authority_id: Option<i64>,
    pub reason: i64,
    pub justification: Option<String>,
    pub itsm_code: Option<String>,
    pub signed_by: String,
    pub signed_at: EpochSeconds,
}

/// A request form as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct RequestForm {
    pub id: i64,
    pub uuid: Uuid,
    pub validation_level: ValidationLevel,
    pub domain_kind: DomainKind,
    pub organization_id: i64,
    pub common_name: String,
    /// DNS names or IP addresses, as given; the common name when none were.
    pub sans: Vec<String>,
    pub key_family: KeyFamily,
    pub key_size: u32,
    /// `sha256`, `sha384` or `sha512`.
    pub digest: String,
    pub validity_days: u32,
    pub key_password_hash: Option<String>,
    pub revocation_password_hash: Option<String>,
    pub project: Option<String>,
    pub external_ip: Option<String>,
    pub hostname: Option<String>,
    pub justification: Option<String>,
    pub responsible_id: Option<i64>,
    pub description: Option<String>,
    pub terms: Terms,
    /// Once signed: the certificate's uuid — or, while it waits for approval or its authority, the lifecycle
    /// request's, which the certificate takes when issued.
    pub certificate_uuid: Option<Uuid>,
    /// The signing attempt under way (its idempotency key), and when it was claimed.
    pub sign_attempt: Option<String>,
    pub sign_claimed_at: Option<EpochSeconds>,
    pub signing: Option<Signing>,
    pub created_by: String,
    pub created_at: EpochSeconds,
    pub updated_at: EpochSeconds,
}

impl std::fmt::Debug for RequestForm {
    /// Without the password hashes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestForm")
            .field("id", &self.id)
            .field("uuid", &self.uuid)
            .field("common_name", &self.common_name)
            .field("sans", &self.sans)
            .field("key", &format_args!("{}-{}", self.key_family.as_str(), self.key_size))
            .field("certificate_uuid", &self.certificate_uuid)
            .field("sign_attempt", &self.sign_attempt)
            .finish_non_exhaustive()
    }
}

/// A form with what the API shows beside it.
#[derive(Debug, Clone)]
pub struct FormView {
    pub form: RequestForm,
    pub status: FormStatus,
    pub organization: String,
    /// The responsible principal's name.
    pub responsible: Option<String>,
    /// The certificate's id once it exists.
    pub certificate_id: Option<i64>,
}

/// Filters of the form list (every one optional; all must match).
#[derive(Debug, Clone, Default)]
pub struct FormFilter {
    pub id: Option<i64>,
    /// Forms in this status.
    pub status: Option<FormStatus>,
    pub validation_level: Option<ValidationLevel>,
    pub domain_kind: Option<DomainKind>,
    pub organization_id: Option<i64>,
    /// Substring of the common name.
    pub common_name: Option<String>,
    /// Every one of these names among the SANs.
    pub sans: Vec<String>,
    /// Carries at least one of these terms `(kind, name)` of each kind named.
    pub terms: Vec<(&'static str, String)>,
    pub key_family: Option<KeyFamily>,
    pub key_size: Option<u32>,
    pub digest: Option<String>,
    pub validity_days: Option<u32>,
    pub project: Option<String>,
    pub external_ip: Option<String>,
    pub hostname: Option<String>,
    pub responsible_id: Option<i64>,
}

/// Filters of the certificate list that also look at the form a certificate came from.
#[derive(Debug, Clone, Default)]
pub struct FormCertificateFilter {
    pub id: Option<i64>,
    /// `valid`, `revoked`, `renewal_pending` (inside the renewal window) or `expired`.
    pub status: Option<CertificateStanding>,
    /// Active: not revoked and not expired.
    pub active: Option<bool>,
    /// notAfter at or after / at or before (epoch seconds).
    pub expires_from: Option<EpochSeconds>,
    pub expires_to: Option<EpochSeconds>,
    /// Origins (`discovery`, `import`, the issuing origins…).
    pub origins: Vec<crate::ca::Origin>,
    pub self_signed: Option<bool>,
    pub authority_id: Option<i64>,
    /// Substring of the certificate's common name.
    pub common_name: Option<String>,
    /// Every one of these names (DNS names or IP addresses) among the certificate's SANs.
    pub sans: Vec<String>,
    /// Key family (`rsa`, `dsa`, `ecdsa`) and size in bits of the certificate's key.
    pub key_family: Option<String>,
    pub key_size: Option<u32>,
    /// Digest of the certificate's signature (`sha256`, …).
    pub digest: Option<String>,
    /// Validity in whole days (notBefore to notAfter, rounded).
    pub validity_days: Option<u32>,
    /// Now, and the renewal window in seconds, for `status` and `active`: the RA profile's where a certificate
    /// has one (`(profile id, seconds)`), `renewal_window` otherwise.
    pub now: EpochSeconds,
    pub renewal_window: i64,
    pub profile_windows: Vec<(i64, i64)>,
    /// Filters on the form (none of them match a certificate without one).
    pub form: FormFilter,
}

/// Where a certificate stands, as the forms' API counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificateStanding {
    Valid,
    Revoked,
    RenewalPending,
    Expired,
}

impl CertificateStanding {
    pub fn code(self) -> i64 {
        match self {
            CertificateStanding::Valid => 1,
            CertificateStanding::Revoked => 2,
            CertificateStanding::RenewalPending => 3,
            CertificateStanding::Expired => 4,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            CertificateStanding::Valid => "Valid",
            CertificateStanding::Revoked => "Revoked",
            CertificateStanding::RenewalPending => "Renewal pending",
            CertificateStanding::Expired => "Expired",
        }
    }

    pub fn from_code(code: i64) -> Option<Self> {
        [
            CertificateStanding::Valid,
            CertificateStanding::Revoked,
            CertificateStanding::RenewalPending,
            CertificateStanding::Expired,
        ]
        .into_iter()
        .find(|s| s.code() == code)
    }
}

/// A certificate of the inventory with the form it came from, if any.
#[derive(Debug, Clone)]
pub struct FormCertificate {
    pub certificate: crate::ca::CertificateRecord,
    pub standing: CertificateStanding,
    pub form: Option<FormView>,
    /// Whether the certificate's issuer is its own subject.
    pub self_signed: bool,
    pub passwords: CertificatePasswords,
}

/// The passwords guarding a certificate (their hashes).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct CertificatePasswords {
    pub key_password_hash: Option<String>,
    pub revocation_password_hash: Option<String>,
}

impl std::fmt::Debug for CertificatePasswords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificatePasswords")
            .field("key_password", &self.key_password_hash.is_some())
            .field("revocation_password", &self.revocation_password_hash.is_some())
            .finish()
    }
}

/// Checks a free-text field's length and characters.
pub fn check_text(field: &str, value: &str, max: usize) -> Result<()> {
    if value.chars().count() > max {
        return Err(CoreError::invalid("form.too_long", format!("{field} must be at most {max} characters")));
    }
    if value.chars().any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t') {
        return Err(CoreError::invalid("form.invalid", format!("{field} must not contain control characters")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for s in FormStatus::ALL {
            assert_eq!(FormStatus::from_code(s.code()), Some(s));
        }
        assert_eq!(FormStatus::Signed.code(), 7);
        assert_eq!(FormStatus::from_code(6), None);
        for l in [ValidationLevel::Domain, ValidationLevel::Organization, ValidationLevel::Extended] {
            assert_eq!(ValidationLevel::from_code(l.code()), Some(l));
        }
        assert_eq!(ValidationLevel::from_code(4), None);
        assert_eq!(CertificateStanding::from_code(3), Some(CertificateStanding::RenewalPending));
        assert_eq!(reason_name(3), Some("Scheduled Renewal"));
        assert_eq!(reason_name(0), None);
    }

    #[test]
    fn text_limits() {
        assert!(check_text("justification", &"x".repeat(MAX_JUSTIFICATION), MAX_JUSTIFICATION).is_ok());
        let e = check_text("justification", &"x".repeat(MAX_JUSTIFICATION + 1), MAX_JUSTIFICATION).unwrap_err();
        assert_eq!(e.code(), "form.too_long");
        assert_eq!(check_text("project", "a\u{0}b", MAX_TEXT).unwrap_err().code(), "form.invalid");
    }
}
