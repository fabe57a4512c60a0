//! Certificate authorities, RA profiles (the policy certificates are issued under), managed keys and the
//! certificate inventory record.

use crate::attributes::AttributeDefinition;
use crate::clock::EpochSeconds;
use crate::inventory::CertificateMetadata;
use crate::{CoreError, Result};
use certwright_pki::alg::{KeyAlgorithm, SignatureAlgorithm};
use certwright_pki::cert::Eku;
use certwright_pki::key::PublicKeyKind;
use certwright_pki::names::San;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Where an authority sits in the hierarchy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthorityKind {
    Root,
    Intermediate,
    /// A CA run elsewhere, reached through a [`Connector`]: issues and revokes asynchronously.
    External,
}

impl AuthorityKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthorityKind::Root => "root",
            AuthorityKind::Intermediate => "intermediate",
            AuthorityKind::External => "external",
        }
    }

    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "root" => Ok(AuthorityKind::Root),
            "intermediate" => Ok(AuthorityKind::Intermediate),
            "external" => Ok(AuthorityKind::External),
            other => Err(CoreError::Storage(format!("unknown authority kind '{other}'"))),
        }
    }
}

/// An internal certificate authority.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authority {
    pub id: i64,
    pub uuid: Uuid,
    pub name: String,
    pub kind: AuthorityKind,
    /// The issuing parent; `None` for a root.
    pub parent_id: Option<i64>,
    /// The CA's managed key.
    pub key_id: Option<i64>,
    pub certificate_der: Vec<u8>,
    pub subject: String,
    /// Hex subject key identifier.
    pub key_identifier: String,
    pub not_before: EpochSeconds,
    pub not_after: EpochSeconds,
    pub created_at: EpochSeconds,
    /// How many CRL partitions its certificates are spread over (fixed: it is written into their CDP URLs).
    pub crl_partitions: u32,
    /// How an external authority is reached; `None` for an internal CA.
    pub connector: Option<Connector>,
}

impl Authority {
    /// Whether certificates are signed here, synchronously.
    pub fn is_internal(&self) -> bool {
        self.connector.is_none()
    }
}

/// How certwright reaches an external authority.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Connector {
    /// The CA is operated by hand elsewhere: requests wait in `pending_issue` until an operator uploads the
    /// certificate it issued (finalize), and revocations wait in `pending_revoke` until confirmed.
    Manual,
    /// An ACME CA (RFC 8555) such as Let's Encrypt: requests wait in `pending_issue` while a job obtains the
    /// certificate, answering http-01 challenges on the plain-HTTP listener.
    Acme {
        /// The CA's directory URL.
        directory_url: String,
        /// Account contacts (`mailto:…`).
        #[serde(default)]
        contact: Vec<String>,
        /// Extra CA certificates (PEM) trusted for the directory's TLS, for private ACME CAs.
        #[serde(default)]
        tls_roots_pem: Option<String>,
    },
}

impl Connector {
    pub fn as_str(&self) -> &'static str {
        match self {
            Connector::Manual => "manual",
            Connector::Acme { .. } => "acme",
        }
    }

    /// Checks what an administrator wrote.
    pub fn validate(&self) -> Result<()> {
        if let Connector::Acme { directory_url, contact, .. } = self {
            if !directory_url.starts_with("https://") || directory_url.len() > 2000 {
                return Err(violation(
                    "authority.invalid_connector",
                    "directory_url must be an https:// URL".to_owned(),
                ));
            }
            if let Some(c) = contact.iter().find(|c| !c.starts_with("mailto:")) {
                return Err(violation("authority.invalid_connector", format!("contact '{c}' must be a mailto: URL")));
            }
        }
        Ok(())
    }
}

/// CRL partitions of a new authority.
pub const DEFAULT_CRL_PARTITIONS: u32 = 4;

/// A private key sealed under the master key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKey {
    pub id: i64,
    pub uuid: Uuid,
    pub algorithm: String,
    /// SubjectPublicKeyInfo DER.
    pub public_key: Vec<u8>,
    /// The PKCS#8 key, sealed with the key's uuid as context.
    pub sealed: Vec<u8>,
    pub exportable: bool,
    pub created_at: EpochSeconds,
}

/// A key row about to be inserted.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub uuid: Uuid,
    pub algorithm: String,
    pub public_key: Vec<u8>,
    pub sealed: Vec<u8>,
    pub exportable: bool,
    pub created_at: EpochSeconds,
}

/// The rules certificates issued through an RA profile must follow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// Key algorithms a request may use: `rsa` (any size from `min_rsa_bits`), `ecdsa-p256`, `ecdsa-p384`,
    /// `ecdsa-p521`, `ed25519`, `ml-dsa-44`, `ml-dsa-65`, `ml-dsa-87`.
    pub key_algorithms: Vec<String>,
    /// Smallest RSA modulus accepted.
    pub min_rsa_bits: u32,
    /// Longest validity a certificate may get, in days.
    pub max_validity_days: u32,
    /// Validity when the request does not ask for one.
    pub default_validity_days: u32,
    /// DNS names allowed in the subject CN and SANs: `example.com` admits it and its subdomains,
    /// `*.example.com` admits subdomains only. Empty admits any name.
    pub allowed_domains: Vec<String>,
    pub allow_wildcards: bool,
    pub allow_ip_sans: bool,
    pub allow_email_sans: bool,
    pub allow_uri_sans: bool,
    /// Extended key usages of issued certificates: `server`, `client`, `code_signing`, `email`.
    pub extended_key_usage: Vec<String>,
    /// Whether the server may generate the key pair for a request.
    pub server_side_keygen: bool,
    /// Whether a server-generated key may be returned to the requester.
    pub key_export: bool,
    /// Days before expiry from which a certificate counts as `expiring`.
    pub renewal_window_days: u32,
    /// Whether keys and CSR signatures no longer considered safe are accepted, for old devices: RSA keys below
    /// 2048 bits (down to `min_rsa_bits`), DSA keys, and CSRs signed with SHA-1 or MD5.
    pub allow_legacy_algorithms: bool,
    /// Digests a CSR's self-signature may use: `sha256`, `sha384`, `sha512` (and `sha1`, `md5` with
    /// `allow_legacy_algorithms`). Empty admits any. Ed25519 and ML-DSA signatures carry no separate digest and
    /// are not restricted by it.
    pub allowed_digests: Vec<String>,
    /// Who must agree before certificates are issued or revoked through the profile.
    pub approval: ApprovalPolicy,
    /// Whether certificates are renewed by the server once inside the renewal window.
    pub auto_renew: bool,
    /// The profile's ACME directory.
    pub acme: crate::acme::AcmePolicy,
    /// Attributes a request through the profile carries (see [`crate::attributes`]); faces that speak request
    /// attributes check them against these definitions.
    pub issue_attributes: Vec<AttributeDefinition>,
    /// Attributes a revocation through the profile carries; kept with a pending revocation until it completes.
    pub revoke_attributes: Vec<AttributeDefinition>,
}

/// Approval rules of an RA profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApprovalPolicy {
    /// Issuing needs approval.
    pub issue: bool,
    /// Revoking needs approval.
    pub revoke: bool,
    /// How many distinct approvers must agree (the requester never counts).
    pub approvers: u32,
    /// The lowest role that may approve: `operator` (operators and admins) or `admin`.
    pub approver_role: String,
    /// Hours after which an undecided approval expires (and its request is rejected).
    pub expires_after_hours: u32,
}

impl Default for ApprovalPolicy {
    fn default() -> Self {
        Self {
            issue: false,
            revoke: false,
            approvers: 1,
            approver_role: "operator".to_owned(),
            expires_after_hours: 72,
        }
    }
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            key_algorithms: [
                "rsa",
                "ecdsa-p256",
                "ecdsa-p384",
                "ecdsa-p521",
                "ed25519",
                "ml-dsa-44",
                "ml-dsa-65",
                "ml-dsa-87",
            ]
            .map(str::to_owned)
            .to_vec(),
            min_rsa_bits: 2048,
            max_validity_days: 397,
            default_validity_days: 90,
            allowed_domains: Vec::new(),
            allow_wildcards: true,
            allow_ip_sans: true,
            allow_email_sans: true,
            allow_uri_sans: true,
            extended_key_usage: vec!["server".to_owned(), "client".to_owned()],
            server_side_keygen: true,
            key_export: true,
            renewal_window_days: DEFAULT_RENEWAL_WINDOW_DAYS,
            allow_legacy_algorithms: false,
            allowed_digests: Vec::new(),
            approval: ApprovalPolicy::default(),
            auto_renew: false,
            acme: crate::acme::AcmePolicy::default(),
            issue_attributes: Vec::new(),
            revoke_attributes: Vec::new(),
        }
    }
}

/// The smallest RSA modulus not considered legacy.
const MODERN_RSA_BITS: u32 = 2048;
/// The smallest RSA or DSA key accepted even with `allow_legacy_algorithms`.
const LEGACY_MIN_BITS: u32 = 1024;
/// Digests `allowed_digests` may name, and those that need `allow_legacy_algorithms`.
const DIGESTS: [&str; 5] = ["sha256", "sha384", "sha512", "sha1", "md5"];
const LEGACY_DIGESTS: [&str; 2] = ["sha1", "md5"];

/// The digest inside a signature algorithm (`sha256` in `rsa-pkcs1-sha256`); `None` for algorithms without a
/// separate digest (Ed25519, ML-DSA).
fn signature_digest(algorithm: SignatureAlgorithm) -> Option<&'static str> {
    let name = algorithm.name();
    let last = name.rsplit('-').next()?;
    DIGESTS.into_iter().find(|d| *d == last)
}

fn violation(code: &'static str, message: String) -> CoreError {
    CoreError::Invalid { code, message }
}

impl Policy {
    /// Checks the policy itself.
    pub fn validate(&self) -> Result<()> {
        for a in &self.key_algorithms {
            match KeyAlgorithm::parse(a) {
                _ if a == "rsa" => {}
                Ok(KeyAlgorithm::Rsa(_)) => {
                    return Err(violation(
                        "ra_profile.invalid_policy",
                        format!("'{a}': allow RSA as 'rsa' and set its smallest size with min_rsa_bits"),
                    ))
                }
                Ok(_) => {}
                Err(_) => return Err(violation("ra_profile.invalid_policy", format!("unknown key algorithm '{a}'"))),
            }
        }
        for e in &self.extended_key_usage {
            eku(e)?;
        }
        if self.auto_renew && self.renewal_window_days >= self.default_validity_days {
            return Err(violation(
                "ra_profile.invalid_policy",
                "with auto_renew, renewal_window_days must be below default_validity_days, or every renewal would be due at once"
                    .to_owned(),
            ));
        }
        let approval = &self.approval;
        if approval.approvers == 0 || approval.approvers > 10 {
            return Err(violation(
                "ra_profile.invalid_policy",
                "approval.approvers must be between 1 and 10".to_owned(),
            ));
        }
        if !["operator", "admin"].contains(&approval.approver_role.as_str()) {
            return Err(violation(
                "ra_profile.invalid_policy",
                "approval.approver_role must be operator or admin".to_owned(),
            ));
        }
        if approval.expires_after_hours == 0 || approval.expires_after_hours > 24 * 90 {
            return Err(violation(
                "ra_profile.invalid_policy",
                "approval.expires_after_hours must be between 1 and 2160".to_owned(),
            ));
        }
        if self.default_validity_days == 0 || self.default_validity_days > self.max_validity_days {
            return Err(violation(
                "ra_profile.invalid_policy",
                "default_validity_days must be between 1 and max_validity_days".to_owned(),
            ));
        }
        if self.min_rsa_bits < LEGACY_MIN_BITS {
            return Err(violation("ra_profile.invalid_policy", "min_rsa_bits must be at least 1024".to_owned()));
        }
        crate::attributes::check_definitions("issue_attributes", &self.issue_attributes)?;
        crate::attributes::check_definitions("revoke_attributes", &self.revoke_attributes)?;
        for d in &self.allowed_digests {
            if !DIGESTS.contains(&d.as_str()) {
                return Err(violation(
                    "ra_profile.invalid_policy",
                    format!("unknown digest '{d}' in allowed_digests ({})", DIGESTS.join(", ")),
                ));
            }
            if LEGACY_DIGESTS.contains(&d.as_str()) && !self.allow_legacy_algorithms {
                return Err(violation(
                    "ra_profile.invalid_policy",
                    format!("allowed_digests lists the legacy digest '{d}': set allow_legacy_algorithms as well"),
                ));
            }
        }
        Ok(())
    }

    /// Checks the digest of a CSR's self-signature: SHA-1 and MD5 only with `allow_legacy_algorithms`, and only
    /// digests in `allowed_digests` when it is not empty.
    pub fn check_csr_signature(&self, algorithm: SignatureAlgorithm) -> Result<()> {
        let Some(digest) = signature_digest(algorithm) else { return Ok(()) };
        if LEGACY_DIGESTS.contains(&digest) && !self.allow_legacy_algorithms {
            return Err(violation(
                "policy.digest_not_allowed",
                format!(
                    "the CSR is signed with {} ({digest} is a legacy digest): sign it with SHA-256 or stronger, or \
                     use an RA profile with allow_legacy_algorithms",
                    algorithm.name()
                ),
            ));
        }
        if !self.allowed_digests.is_empty() && !self.allowed_digests.iter().any(|d| d == digest) {
            return Err(violation(
                "policy.digest_not_allowed",
                format!(
                    "the CSR is signed with {}: this RA profile accepts the digests {}",
                    algorithm.name(),
                    self.allowed_digests.join(", ")
                ),
            ));
        }
        Ok(())
    }

    /// Checks a requested public key.
    pub fn check_key(&self, kind: PublicKeyKind) -> Result<String> {
        let (family, name) = match kind {
            PublicKeyKind::Rsa { bits } => {
                if bits < MODERN_RSA_BITS && !self.allow_legacy_algorithms {
                    return Err(violation(
                        "policy.key_too_small",
                        format!(
                            "RSA-{bits} is a legacy key size: RSA keys need at least {MODERN_RSA_BITS} bits unless the \
                             RA profile sets allow_legacy_algorithms (and min_rsa_bits at most {bits})"
                        ),
                    ));
                }
                if bits < self.min_rsa_bits {
                    return Err(violation(
                        "policy.key_too_small",
                        format!("RSA keys must have at least {} bits, this one has {bits}", self.min_rsa_bits),
                    ));
                }
                ("rsa".to_owned(), format!("rsa-{bits}"))
            }
            PublicKeyKind::Ecdsa(c) => {
                let n = KeyAlgorithm::Ecdsa(c).name();
                (n.clone(), n)
            }
            PublicKeyKind::Ed25519 => ("ed25519".to_owned(), "ed25519".to_owned()),
            PublicKeyKind::MlDsa(l) => {
                let n = KeyAlgorithm::MlDsa(l).name();
                (n.clone(), n)
            }
            PublicKeyKind::Dsa { bits } => {
                if !self.allow_legacy_algorithms {
                    return Err(violation(
                        "policy.key_algorithm_not_allowed",
                        format!(
                            "DSA keys ({bits} bits) are legacy: this RA profile accepts them only with \
                             allow_legacy_algorithms"
                        ),
                    ));
                }
                if bits < LEGACY_MIN_BITS {
                    return Err(violation(
                        "policy.key_too_small",
                        format!("DSA keys must have at least {LEGACY_MIN_BITS} bits, this one has {bits}"),
                    ));
                }
                // DSA is governed by allow_legacy_algorithms alone; key_algorithms names current families.
                return Ok(format!("dsa-{bits}"));
            }
            _ => return Err(violation("policy.key_algorithm_not_allowed", "unsupported key type".to_owned())),
        };
        if self.key_algorithms.contains(&family) {
            Ok(name)
        } else {
            Err(violation(
                "policy.key_algorithm_not_allowed",
                format!("{name} keys are not allowed by this RA profile (allowed: {})", self.key_algorithms.join(", ")),
            ))
        }
    }

    /// Checks the requested names.
    pub fn check_names(&self, common_name: Option<&str>, sans: &[San]) -> Result<()> {
        if let Some(cn) = common_name {
            if !sans.iter().any(|s| matches!(s, San::Dns(d) if d.eq_ignore_ascii_case(cn))) && cn.contains('.') {
                self.check_dns(cn)?;
            }
        }
        for san in sans {
            match san {
                San::Dns(d) => self.check_dns(d)?,
                San::Ip(ip) if !self.allow_ip_sans => {
                    return Err(violation("policy.san_not_allowed", format!("IP address SAN {ip} is not allowed")))
                }
                San::Email(e) if !self.allow_email_sans => {
                    return Err(violation("policy.san_not_allowed", format!("email SAN {e} is not allowed")))
                }
                San::Uri(u) if !self.allow_uri_sans => {
                    return Err(violation("policy.san_not_allowed", format!("URI SAN {u} is not allowed")))
                }
                _ => {}
            }
        }
        if common_name.is_none() && sans.is_empty() {
            return Err(violation(
                "policy.no_names",
                "a certificate needs a common name or at least one SAN".to_owned(),
            ));
        }
        Ok(())
    }

    fn check_dns(&self, name: &str) -> Result<()> {
        let name = name.to_ascii_lowercase();
        if name.starts_with("*.") && !self.allow_wildcards {
            return Err(violation("policy.san_not_allowed", format!("wildcard name {name} is not allowed")));
        }
        if self.allowed_domains.is_empty() {
            return Ok(());
        }
        let bare = name.trim_start_matches("*.");
        let allowed = self.allowed_domains.iter().any(|d| {
            let d = d.to_ascii_lowercase();
            match d.strip_prefix("*.") {
                Some(parent) => bare.ends_with(&format!(".{parent}")) || (name.starts_with("*.") && bare == parent),
                None => bare == d || bare.ends_with(&format!(".{d}")),
            }
        });
        if allowed {
            Ok(())
        } else {
            Err(violation(
                "policy.san_not_allowed",
                format!("{name} is outside the allowed domains ({})", self.allowed_domains.join(", ")),
            ))
        }
    }

    /// The validity to issue with.
    pub fn validity_days(&self, requested: Option<u32>) -> Result<u32> {
        match requested {
            None => Ok(self.default_validity_days),
            Some(0) => Err(violation("policy.validity_too_long", "validity_days must be at least 1".to_owned())),
            Some(d) if d > self.max_validity_days => Err(violation(
                "policy.validity_too_long",
                format!("validity_days may be at most {}, {d} was requested", self.max_validity_days),
            )),
            Some(d) => Ok(d),
        }
    }

    /// The extended key usages to write.
    pub fn ekus(&self) -> Result<Vec<Eku>> {
        self.extended_key_usage.iter().map(|e| eku(e)).collect()
    }
}

fn eku(name: &str) -> Result<Eku> {
    match name {
        "server" => Ok(Eku::ServerAuth),
        "client" => Ok(Eku::ClientAuth),
        "code_signing" => Ok(Eku::CodeSigning),
        "email" => Ok(Eku::EmailProtection),
        other => Err(violation(
            "ra_profile.invalid_policy",
            format!("unknown extended key usage '{other}' (server, client, code_signing, email)"),
        )),
    }
}

/// An RA profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaProfile {
    pub id: i64,
    pub uuid: Uuid,
    pub name: String,
    pub authority_id: i64,
    pub policy: Policy,
    /// A disabled profile issues nothing; certificates issued through it stay linked to it.
    pub enabled: bool,
    pub created_at: EpochSeconds,
    pub updated_at: EpochSeconds,
}

/// What an administrator replaces in an RA profile.
#[derive(Debug, Clone)]
pub struct RaProfileChange {
    /// The new signing authority; `None` keeps the current one.
    pub authority: Option<Uuid>,
    /// The whole new policy.
    pub policy: Policy,
    /// `None` keeps the current flag.
    pub enabled: Option<bool>,
}

/// Where a certificate in the inventory came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Origin {
    /// Issued here from a request.
    Request,
    /// Issued here for the server itself or a CA.
    System,
    /// Brought in from elsewhere.
    Import,
    /// Issued here for an ACME order.
    Acme,
    /// Found by a discovery run (a TLS endpoint, a file or a key store).
    Discovery,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Request => "request",
            Origin::System => "system",
            Origin::Import => "import",
            Origin::Acme => "acme",
            Origin::Discovery => "discovery",
        }
    }

    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "request" => Ok(Origin::Request),
            "system" => Ok(Origin::System),
            "import" => Ok(Origin::Import),
            "acme" => Ok(Origin::Acme),
            "discovery" => Ok(Origin::Discovery),
            other => Err(CoreError::Storage(format!("unknown origin '{other}'"))),
        }
    }
}

/// One certificate of the inventory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateRecord {
    pub id: i64,
    pub uuid: Uuid,
    /// Lower-case hex.
    pub serial: String,
    pub issuer: String,
    pub subject: String,
    pub common_name: Option<String>,
    /// SANs in API spelling (`dns:…`).
    pub sans: Vec<String>,
    pub not_before: EpochSeconds,
    pub not_after: EpochSeconds,
    pub key_algorithm: String,
    pub signature_algorithm: String,
    /// SHA-256 of the DER, hex.
    pub fingerprint: String,
    /// `issued` until revocation arrives.
    pub state: String,
    pub origin: Origin,
    pub authority_id: Option<i64>,
    pub ra_profile_id: Option<i64>,
    pub key_id: Option<i64>,
    pub der: Vec<u8>,
    pub idempotency_key: Option<String>,
    pub created_by: String,
    pub created_at: EpochSeconds,
    /// Owner, labels and custom attributes.
    pub metadata: CertificateMetadata,
}

/// Filters of the inventory list.
#[derive(Debug, Clone, Default)]
pub struct CertificateFilter {
    /// Exactly this owner.
    pub owner: Option<String>,
    /// Carries this label with exactly this value.
    pub label: Option<(String, String)>,
    /// Key algorithm in API spelling (`rsa-2048`), or a family without size (`rsa`, `dsa`) for every size.
    pub key_algorithm: Option<String>,
    /// Lifecycle state (`issued`).
    pub state: Option<String>,
    /// Substring of the common name or of any SAN.
    pub name: Option<String>,
    pub authority_id: Option<i64>,
    pub ra_profile_id: Option<i64>,
    pub origin: Option<Origin>,
    pub expires_before: Option<EpochSeconds>,
    pub expires_after: Option<EpochSeconds>,
    /// notBefore later than this.
    pub starts_after: Option<EpochSeconds>,
    /// notBefore at or before this.
    pub starts_at_or_before: Option<EpochSeconds>,
}

/// Renewal window used where no RA profile says otherwise, in days.
pub const DEFAULT_RENEWAL_WINDOW_DAYS: u32 = 30;

/// Where a certificate stands at a given time (revocation statuses arrive with revocation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ValidationStatus {
    /// Not valid yet.
    Inactive,
    Valid,
    /// Valid, but inside the renewal window.
    Expiring,
    Expired,
    /// Revoked by its authority (a lifted hold counts as not revoked).
    Revoked,
}

impl ValidationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ValidationStatus::Inactive => "inactive",
            ValidationStatus::Valid => "valid",
            ValidationStatus::Expiring => "expiring",
            ValidationStatus::Expired => "expired",
            ValidationStatus::Revoked => "revoked",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Inactive, Self::Valid, Self::Expiring, Self::Expired, Self::Revoked]
            .into_iter()
            .find(|v| v.as_str() == s)
    }

    /// Narrows `filter` to certificates with this status at `now`, with the renewal window `window_days`.
    pub fn restrict(self, filter: &mut CertificateFilter, now: EpochSeconds, window_days: u32) {
        let horizon = now + i64::from(window_days) * 86_400;
        // A revoked certificate has that status whatever its dates.
        if self == ValidationStatus::Revoked {
            filter.state = Some("revoked".to_owned());
            return;
        }
        if filter.state.is_none() {
            filter.state = Some("issued".to_owned());
        }
        match self {
            ValidationStatus::Revoked => {}
            ValidationStatus::Inactive => filter.starts_after = Some(now),
            ValidationStatus::Valid => {
                filter.starts_at_or_before = Some(now);
                filter.expires_after = Some(horizon + 1);
            }
            ValidationStatus::Expiring => {
                filter.starts_at_or_before = Some(now);
                filter.expires_after = Some(now + 1);
                filter.expires_before = Some(horizon + 1);
            }
            ValidationStatus::Expired => filter.expires_before = Some(now + 1),
        }
    }
}

impl CertificateRecord {
    /// The certificate's status at `now`, with a renewal window of `window_days`.
    pub fn validation_status(&self, now: EpochSeconds, window_days: u32) -> ValidationStatus {
        if self.state == "revoked" {
            ValidationStatus::Revoked
        } else if now < self.not_before {
            ValidationStatus::Inactive
        } else if now >= self.not_after {
            ValidationStatus::Expired
        } else if self.not_after - now <= i64::from(window_days) * 86_400 {
            ValidationStatus::Expiring
        } else {
            ValidationStatus::Valid
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use certwright_pki::alg::Curve;

    fn dns(s: &str) -> San {
        San::Dns(s.to_owned())
    }

    #[test]
    fn domains_and_wildcards_follow_the_policy() {
        let p = Policy { allowed_domains: vec!["example.com".into(), "*.example.net".into()], ..Default::default() };
        assert!(p.check_names(Some("example.com"), &[dns("www.example.com"), dns("a.b.example.com")]).is_ok());
        assert!(p.check_names(None, &[dns("api.example.net")]).is_ok());
        assert!(p.check_names(None, &[dns("example.net")]).is_err(), "*.example.net admits subdomains only");
        let err = p.check_names(None, &[dns("evil.org")]).unwrap_err();
        assert_eq!(err.code(), "policy.san_not_allowed");
        assert!(p.check_names(None, &[dns("notexample.com")]).is_err());
        let strict = Policy { allow_wildcards: false, allow_ip_sans: false, ..Default::default() };
        assert!(strict.check_names(None, &[dns("*.example.com")]).is_err());
        assert!(strict.check_names(None, &[San::Ip("10.0.0.1".parse().unwrap())]).is_err());
        assert_eq!(strict.check_names(None, &[]).unwrap_err().code(), "policy.no_names");
    }

    #[test]
    fn status_follows_time_and_the_window_and_matches_its_filter() {
        let day = 86_400;
        let mut r = CertificateRecord {
            id: 1,
            uuid: Uuid::nil(),
            serial: "1".into(),
            issuer: String::new(),
            subject: String::new(),
            common_name: None,
            sans: vec![],
            not_before: 100 * day,
            not_after: 200 * day,
            key_algorithm: String::new(),
            signature_algorithm: String::new(),
            fingerprint: String::new(),
            state: "issued".into(),
            origin: Origin::Request,
            authority_id: None,
            ra_profile_id: None,
            key_id: None,
            der: vec![],
            idempotency_key: None,
            created_by: String::new(),
            created_at: 0,
            metadata: Default::default(),
        };
        let at = |t: i64, r: &CertificateRecord| r.validation_status(t, 30);
        assert_eq!(at(99 * day, &r), ValidationStatus::Inactive);
        assert_eq!(at(100 * day, &r), ValidationStatus::Valid);
        assert_eq!(at(170 * day, &r), ValidationStatus::Expiring);
        assert_eq!(at(200 * day, &r), ValidationStatus::Expired);
        // The SQL filter of each status admits exactly the records with that status.
        for now in [99 * day, 150 * day, 170 * day, 199 * day, 200 * day, 250 * day] {
            for status in [
                ValidationStatus::Inactive,
                ValidationStatus::Valid,
                ValidationStatus::Expiring,
                ValidationStatus::Expired,
            ] {
                let mut f = CertificateFilter::default();
                status.restrict(&mut f, now, 30);
                let admitted = f.starts_after.is_none_or(|t| r.not_before > t)
                    && f.starts_at_or_before.is_none_or(|t| r.not_before <= t)
                    && f.expires_before.is_none_or(|t| r.not_after < t)
                    && f.expires_after.is_none_or(|t| r.not_after >= t);
                assert_eq!(admitted, at(now, &r) == status, "{status:?} at day {}", now / day);
            }
        }
        r.not_after = r.not_before;
        assert_eq!(at(100 * day, &r), ValidationStatus::Expired);
    }

    #[test]
    fn keys_and_validity_follow_the_policy() {
        let p = Policy {
            key_algorithms: vec!["rsa".into(), "ecdsa-p256".into()],
            min_rsa_bits: 3072,
            ..Default::default()
        };
        assert_eq!(p.check_key(PublicKeyKind::Rsa { bits: 2048 }).unwrap_err().code(), "policy.key_too_small");
        assert_eq!(p.check_key(PublicKeyKind::Rsa { bits: 4096 }).unwrap(), "rsa-4096");
        assert!(p.check_key(PublicKeyKind::Ecdsa(Curve::P256)).is_ok());
        assert_eq!(p.check_key(PublicKeyKind::Ed25519).unwrap_err().code(), "policy.key_algorithm_not_allowed");
        assert_eq!(p.validity_days(None).unwrap(), 90);
        assert_eq!(p.validity_days(Some(398)).unwrap_err().code(), "policy.validity_too_long");
        assert!(Policy { extended_key_usage: vec!["teleport".into()], ..Default::default() }.validate().is_err());
        assert!(Policy { key_algorithms: vec!["rsa-2048".into()], ..Default::default() }.validate().is_err());
        assert!(Policy::default().validate().is_ok());
    }

    #[test]
    fn legacy_keys_and_digests_need_the_flag() {
        use certwright_pki::alg::Digest;
        let old = Policy { min_rsa_bits: 1024, ..Default::default() };
        let err = old.check_key(PublicKeyKind::Rsa { bits: 1024 }).unwrap_err();
        assert_eq!(err.code(), "policy.key_too_small");
        assert!(err.to_string().contains("allow_legacy_algorithms"), "{err}");
        let err = old.check_key(PublicKeyKind::Dsa { bits: 2048 }).unwrap_err();
        assert_eq!(err.code(), "policy.key_algorithm_not_allowed");
        assert!(err.to_string().contains("allow_legacy_algorithms"), "{err}");
        let legacy = Policy { allow_legacy_algorithms: true, ..old.clone() };
        assert_eq!(legacy.check_key(PublicKeyKind::Rsa { bits: 1024 }).unwrap(), "rsa-1024");
        assert_eq!(legacy.check_key(PublicKeyKind::Dsa { bits: 1024 }).unwrap(), "dsa-1024");
        assert_eq!(legacy.check_key(PublicKeyKind::Dsa { bits: 2048 }).unwrap(), "dsa-2048");
        assert_eq!(legacy.check_key(PublicKeyKind::Dsa { bits: 512 }).unwrap_err().code(), "policy.key_too_small");
        let floor = Policy { allow_legacy_algorithms: true, ..Default::default() };
        assert_eq!(floor.check_key(PublicKeyKind::Rsa { bits: 1024 }).unwrap_err().code(), "policy.key_too_small");

        let sha1 = SignatureAlgorithm::RsaPkcs1(Digest::Sha1);
        let sha256 = SignatureAlgorithm::Ecdsa(Digest::Sha256);
        assert_eq!(old.check_csr_signature(sha1).unwrap_err().code(), "policy.digest_not_allowed");
        assert!(legacy.check_csr_signature(sha1).is_ok());
        assert!(old.check_csr_signature(sha256).is_ok());
        let strict = Policy { allowed_digests: vec!["sha384".into(), "sha512".into()], ..Default::default() };
        assert!(strict.validate().is_ok());
        assert_eq!(strict.check_csr_signature(sha256).unwrap_err().code(), "policy.digest_not_allowed");
        assert!(strict.check_csr_signature(SignatureAlgorithm::RsaPkcs1(Digest::Sha512)).is_ok());
        assert!(strict.check_csr_signature(SignatureAlgorithm::Ed25519).is_ok(), "no separate digest");
        assert!(Policy { allowed_digests: vec!["sha1".into()], ..Default::default() }.validate().is_err());
        assert!(Policy { allowed_digests: vec!["sha3".into()], ..Default::default() }.validate().is_err());
        assert!(legacy.validate().is_ok());
        // Policies stored before these fields existed still load, with the safe defaults.
        let stored: Policy = serde_json::from_str(r#"{"min_rsa_bits": 3072}"#).unwrap();
        assert!(!stored.allow_legacy_algorithms && stored.allowed_digests.is_empty());
    }
}
