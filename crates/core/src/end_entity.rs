//! End entities: named identities registered under an RA profile, each with a subject, optional alternative
//! names and an enrolment password. A client that knows the username and password enrols a key for the entity;
//! the certificate carries the entity's names, whatever the CSR says, and is linked to the entity so that
//! deleting it revokes them all.

use crate::clock::EpochSeconds;
use crate::{CoreError, Result};
use certwright_pki::names::San;
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use zeroize::Zeroizing;

/// Longest username, in characters.
pub const MAX_USERNAME_CHARS: usize = 256;
/// Longest password, in characters.
pub const MAX_PASSWORD_CHARS: usize = 256;
/// Longest subject, alternative-name or e-mail text, in characters.
const MAX_TEXT_CHARS: usize = 1024;
/// Most extension data items.
const MAX_EXTENSION_DATA: usize = 50;

/// Where an end entity stands in its enrolment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndEntityStatus {
    /// May enrol with its password.
    New,
    Failed,
    Initialized,
    InProcess,
    /// Enrolled: the password is spent until the status is set back to `new` (password reset).
    Generated,
    Revoked,
    Historical,
    KeyRecovery,
    WaitingForAddApproval,
}

impl EndEntityStatus {
    pub const ALL: [EndEntityStatus; 9] = [
        EndEntityStatus::New,
        EndEntityStatus::Failed,
        EndEntityStatus::Initialized,
        EndEntityStatus::InProcess,
        EndEntityStatus::Generated,
        EndEntityStatus::Revoked,
        EndEntityStatus::Historical,
        EndEntityStatus::KeyRecovery,
        EndEntityStatus::WaitingForAddApproval,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EndEntityStatus::New => "new",
            EndEntityStatus::Failed => "failed",
            EndEntityStatus::Initialized => "initialized",
            EndEntityStatus::InProcess => "in_process",
            EndEntityStatus::Generated => "generated",
            EndEntityStatus::Revoked => "revoked",
            EndEntityStatus::Historical => "historical",
            EndEntityStatus::KeyRecovery => "key_recovery",
            EndEntityStatus::WaitingForAddApproval => "waiting_for_add_approval",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        EndEntityStatus::ALL.into_iter().find(|v| v.as_str() == s)
    }

    pub fn from_stored(s: &str) -> Result<Self> {
        Self::parse(s).ok_or_else(|| CoreError::Storage(format!("unknown end entity status '{s}'")))
    }

    /// Whether the password may be used to enrol now.
    pub fn may_enrol(self) -> bool {
        matches!(self, EndEntityStatus::New | EndEntityStatus::Initialized | EndEntityStatus::InProcess)
    }
}

/// A free-form `name = value` item kept with an end entity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtensionData {
    pub name: String,
    pub value: String,
}

/// An end entity as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndEntity {
    pub id: i64,
    pub uuid: Uuid,
    pub ra_profile_id: i64,
    /// Unique within the RA profile.
    pub username: String,
    /// See [`certwright_pki::digest::password_hash`].
    pub password_hash: String,
    /// RFC 4514 subject its certificates carry.
    pub subject_dn: String,
    /// Alternative names its certificates carry (see [`parse_alt_names`]).
    pub subject_alt_name: Option<String>,
    pub email: Option<String>,
    pub extension_data: Vec<ExtensionData>,
    pub status: EndEntityStatus,
    pub created_by: String,
    pub created_at: EpochSeconds,
    pub updated_at: EpochSeconds,
}

/// A new end entity.
#[derive(Debug, Clone)]
pub struct NewEndEntity {
    pub username: String,
    pub password: Zeroizing<String>,
    pub subject_dn: String,
    pub subject_alt_name: Option<String>,
    pub email: Option<String>,
    pub extension_data: Vec<ExtensionData>,
}

/// What an edit replaces; `None` keeps the current value.
#[derive(Debug, Clone, Default)]
pub struct EndEntityChange {
    pub password: Option<Zeroizing<String>>,
    pub subject_dn: Option<String>,
    pub subject_alt_name: Option<String>,
    pub email: Option<String>,
    pub extension_data: Option<Vec<ExtensionData>>,
    pub status: Option<EndEntityStatus>,
}

fn invalid(message: impl Into<String>) -> CoreError {
    CoreError::invalid("end_entity.invalid", message)
}

fn printable(field: &str, value: &str, max: usize) -> Result<()> {
    if value.trim().is_empty() || value.chars().count() > max || value.chars().any(char::is_control) {
        return Err(invalid(format!("{field} must be 1 to {max} printable characters")));
    }
    Ok(())
}

/// Checks a username.
pub fn check_username(username: &str) -> Result<()> {
    printable("username", username, MAX_USERNAME_CHARS)?;
    if username.contains('/') {
        return Err(invalid("username must not contain '/'"));
    }
    Ok(())
}

/// Checks a password someone chose.
pub fn check_password(password: &str) -> Result<()> {
    if password.is_empty() || password.chars().count() > MAX_PASSWORD_CHARS {
        return Err(invalid(format!("password must be 1 to {MAX_PASSWORD_CHARS} characters")));
    }
    Ok(())
}

/// Checks a subject DN (it must parse and must not be empty).
pub fn check_subject(subject_dn: &str) -> Result<certwright_pki::names::Name> {
    printable("subjectDN", subject_dn, MAX_TEXT_CHARS)?;
    let name = certwright_pki::names::parse_dn(subject_dn).map_err(|e| invalid(format!("subjectDN: {e}")))?;
    if name.0.is_empty() {
        return Err(invalid("subjectDN must name at least one attribute (CN=…)"));
    }
    Ok(name)
}

/// Checks the optional texts and extension data.
pub fn check_details(alt: Option<&str>, email: Option<&str>, extension_data: &[ExtensionData]) -> Result<()> {
    if let Some(a) = alt.filter(|a| !a.trim().is_empty()) {
        printable("subjectAltName", a, MAX_TEXT_CHARS)?;
        parse_alt_names(a)?;
    }
    if let Some(e) = email.filter(|e| !e.is_empty()) {
        printable("email", e, MAX_TEXT_CHARS)?;
        if !e.contains('@') {
            return Err(invalid("email needs an @"));
        }
    }
    if extension_data.len() > MAX_EXTENSION_DATA {
        return Err(invalid(format!("at most {MAX_EXTENSION_DATA} extensionData items")));
    }
    for item in extension_data {
        printable("extensionData name", &item.name, MAX_USERNAME_CHARS)?;
        if item.value.chars().count() > MAX_TEXT_CHARS {
            return Err(invalid(format!("extensionData value must be at most {MAX_TEXT_CHARS} characters")));
        }
    }
    Ok(())
}

/// Parses alternative names written as a comma-separated list: `dNSName=www.example.com, iPAddress=192.0.2.1,
/// rfc822Name=a@example.com, uniformResourceIdentifier=https://…` (also `DNS:`, `IP:`, `email:`, `URI:`).
pub fn parse_alt_names(text: &str) -> Result<Vec<San>> {
    let mut out = Vec::new();
    for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (kind, value) = item
            .split_once('=')
            .or_else(|| item.split_once(':'))
            .ok_or_else(|| invalid(format!("subjectAltName item '{item}' needs a kind, as in dNSName=host")))?;
        let kind = match kind.trim().to_ascii_lowercase().as_str() {
            "dnsname" | "dns" => "dns",
            "ipaddress" | "ip" => "ip",
            "rfc822name" | "email" => "email",
            "uniformresourceidentifier" | "uri" => "uri",
            other => {
                return Err(invalid(format!(
                    "subjectAltName kind '{other}' is not one of dNSName, iPAddress, rfc822Name, \
                     uniformResourceIdentifier"
                )))
            }
        };
        let san =
            San::parse(&format!("{kind}:{}", value.trim())).map_err(|e| invalid(format!("subjectAltName: {e}")))?;
        out.push(san);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alternative_names_in_both_spellings() {
        let sans = parse_alt_names("dNSName=www.example.com, iPAddress=192.0.2.1,rfc822Name=a@example.com").unwrap();
        assert_eq!(
            sans.iter().map(San::to_api).collect::<Vec<_>>(),
            ["dns:www.example.com", "ip:192.0.2.1", "email:a@example.com"]
        );
        assert_eq!(parse_alt_names("DNS:a.example, URI:https://x.example/").unwrap().len(), 2);
        assert!(parse_alt_names("x400Address=foo").is_err());
        assert!(parse_alt_names("just-a-name").is_err());
    }

    #[test]
    fn subjects_and_statuses() {
        assert!(check_subject("CN=alice,O=Example").is_ok());
        assert!(check_subject("").is_err());
        assert!(check_subject("not a dn").is_err());
        assert!(check_username("a/b").is_err());
        for s in EndEntityStatus::ALL {
            assert_eq!(EndEntityStatus::parse(s.as_str()), Some(s));
        }
        assert!(EndEntityStatus::New.may_enrol() && !EndEntityStatus::Generated.may_enrol());
    }
}
