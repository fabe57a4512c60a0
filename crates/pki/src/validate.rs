//! Validation of a certificate and its chain at a given time: path building to a trust anchor, validity periods,
//! CA constraints, key usage for a purpose, name constraints, critical extensions, and revocation from the CRLs
//! and the revocation source the caller has. The result is typed; each face maps it to its own spelling.

mod crl;
mod names;
mod path;

use crate::cert::Cert;
use const_oid::db::rfc5280;
use const_oid::ObjectIdentifier as Oid;
use der::{Reader, SliceReader};
use path::{verify, Node, Search, Verdict};
use x509_cert::certificate::Version;
use x509_cert::ext::pkix::KeyUsages;

pub use x509_cert::ext::pkix::crl::CrlReason;

/// Longest path built, leaf and anchor included.
pub const MAX_PATH_LEN: usize = 10;
/// Largest certificate [`parse_for_validation`] reads.
pub const MAX_CERT_BYTES: usize = 1024 * 1024;

/// The outcome of a validation, in the vocabulary of certificate inventories.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Status {
    Valid,
    /// Valid, but some certificate of the path expires within the caller's threshold.
    Expiring,
    Expired,
    Revoked,
    /// Broken: chain, signature, constraints, purpose, or the certificate itself.
    Invalid,
    /// Not yet valid.
    Inactive,
    /// The validation could not be completed (unsupported algorithm, unusable revocation data).
    Failed,
    /// Never produced by [`Validator::validate`]; for records that have not been validated.
    NotChecked,
}

impl Status {
    /// The CZERTAINLY spelling.
    pub fn czertainly(self) -> &'static str {
        match self {
            Status::Valid => "valid",
            Status::Expiring => "expiring",
            Status::Expired => "expired",
            Status::Revoked => "revoked",
            Status::Invalid => "invalid",
            Status::Inactive => "inactive",
            Status::Failed => "failed",
            Status::NotChecked => "not_checked",
        }
    }
}

/// What the leaf is to be used for. With no extendedKeyUsage extension, or with anyExtendedKeyUsage, every
/// extended usage is allowed; with no keyUsage extension, every key usage is. Otherwise:
/// - `Server`: extendedKeyUsage has serverAuth, and keyUsage has digitalSignature, keyEncipherment or
///   keyAgreement (openssl's `sslserver`);
/// - `Client`: extendedKeyUsage has clientAuth, and keyUsage has digitalSignature or keyAgreement (`sslclient`);
/// - `ServerClient`: both;
/// - `SigningEncryption`: keyUsage has digitalSignature, nonRepudiation, keyEncipherment or dataEncipherment;
///   extendedKeyUsage is not consulted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Purpose {
    Server,
    Client,
    ServerClient,
    SigningEncryption,
}

impl Purpose {
    /// Reads `SERVER`, `CLIENT`, `SERVER_CLIENT`, `SIGNING_ENCRYPTION` in any case, with `_` or `-`.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "server" => Some(Purpose::Server),
            "client" => Some(Purpose::Client),
            "server_client" => Some(Purpose::ServerClient),
            "signing_encryption" => Some(Purpose::SigningEncryption),
            _ => None,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Purpose::Server => "TLS server authentication",
            Purpose::Client => "TLS client authentication",
            Purpose::ServerClient => "TLS server and client authentication",
            Purpose::SigningEncryption => "signing or encryption",
        }
    }
}

/// Why a chain does not hold together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChainFault {
    #[error("no certificate named {issuer} among those supplied signed it (tampered, or issued by another key)")]
    BadSignature { issuer: String },
    #[error("it issues certificates but is not a CA (basicConstraints cA is not true)")]
    NotCa,
    #[error("it issues certificates but its keyUsage lacks keyCertSign")]
    NoKeyCertSign,
    #[error("its pathLenConstraint of {limit} allows fewer CA certificates below it than the {below} found")]
    PathLenExceeded { limit: u8, below: usize },
    #[error("it has the critical extension {0}, which this validator does not understand")]
    UnknownCriticalExtension(String),
    #[error("its name constraints are violated: {0}")]
    NameConstraint(String),
    #[error("the path is longer than {MAX_PATH_LEN} certificates")]
    TooLong,
    #[error("too many candidate issuers to try; supply only the chain")]
    TooComplex,
}

/// One thing wrong with a certificate, its chain or the revocation data. Each has a stable QRadar code and a
/// message that says what was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Problem {
    #[error("not a certificate: {0}")]
    Parse(String),
    #[error("the certificate does not decode: {0}")]
    Decode(String),
    #[error("{subject} expired on {}", when(*not_after))]
    Expired { subject: String, not_after: i64 },
    #[error("{subject} is not valid before {}", when(*not_before))]
    NotYetValid { subject: String, not_before: i64 },
    #[error("{subject} (serial {serial}) is revoked{}{}", at.map(|t| format!(" since {}", when(t))).unwrap_or_default(),
        reason.map(|r| format!(" ({r:?})")).unwrap_or_default())]
    Revoked { subject: String, serial: String, at: Option<i64>, reason: Option<CrlReason> },
    #[error("{subject} could not be checked: {detail}")]
    Unsupported { subject: String, detail: String },
    #[error("the revocation status of {subject} could not be determined: {detail}")]
    RevocationUnavailable { subject: String, detail: String },
    #[error("the issuer {issuer} of {subject} was not found; supply the intermediate certificates")]
    IssuerNotFound { subject: String, issuer: String },
    #[error("{subject} is self-signed and not among the trust anchors")]
    Untrusted { subject: String },
    #[error("the certificate may not be used for {}: {detail}", purpose.describe())]
    Purpose { purpose: Purpose, detail: String },
    #[error("invalid chain at {subject}: {fault}")]
    Chain { subject: String, fault: ChainFault },
    #[error("{subject} is self-signed but its signature does not verify")]
    BadSelfSigned { subject: String },
    #[error("unusable CRL: {detail}")]
    CrlInvalid { detail: String },
    #[error("the CRL of {issuer} could not be used: {detail}")]
    CrlUnsupported { issuer: String, detail: String },
    #[error("the CRL issuer {issuer} is not a certificate of the chain")]
    CrlIssuerNotFound { issuer: String },
    #[error("the CRL issuer {issuer} may not sign CRLs (keyUsage lacks cRLSign)")]
    CrlIssuerNotAllowed { issuer: String },
    #[error("the signature on the CRL of {issuer} does not verify with the issuer's key")]
    CrlSignature { issuer: String },
    #[error("the CRL of {issuer} expired on {}; fetch a fresh one", when(*next_update))]
    CrlExpired { issuer: String, next_update: i64 },
}

impl Problem {
    /// The IBM QRadar certificate-upload error code.
    pub fn qradar_code(&self) -> u16 {
        match self {
            Problem::Parse(_) => 2001,
            Problem::Decode(_) => 2002,
            Problem::Expired { .. } => 2003,
            Problem::NotYetValid { .. } => 2004,
            Problem::Revoked { .. } => 2005,
            Problem::Unsupported { .. } | Problem::RevocationUnavailable { .. } => 2010,
            Problem::IssuerNotFound { .. } | Problem::Untrusted { .. } => 2011,
            Problem::Purpose { .. } => 2012,
            Problem::Chain { .. } => 2013,
            Problem::BadSelfSigned { .. } => 2014,
            Problem::CrlInvalid { .. } => 2020,
            Problem::CrlUnsupported { .. } => 2030,
            Problem::CrlIssuerNotFound { .. } => 2031,
            Problem::CrlIssuerNotAllowed { .. } => 2032,
            Problem::CrlSignature { .. } => 2033,
            Problem::CrlExpired { .. } => 2034,
        }
    }

    /// The status this problem gives a certificate when it is the most important one found.
    pub fn status(&self) -> Status {
        match self {
            Problem::Expired { .. } => Status::Expired,
            Problem::NotYetValid { .. } => Status::Inactive,
            Problem::Revoked { .. } => Status::Revoked,
            Problem::Unsupported { .. }
            | Problem::RevocationUnavailable { .. }
            | Problem::CrlInvalid { .. }
            | Problem::CrlUnsupported { .. }
            | Problem::CrlIssuerNotFound { .. }
            | Problem::CrlIssuerNotAllowed { .. }
            | Problem::CrlSignature { .. }
            | Problem::CrlExpired { .. } => Status::Failed,
            _ => Status::Invalid,
        }
    }

    /// Importance, most important first: the certificate itself, its dates, revocation, the chain, the purpose,
    /// then the revocation data.
    fn rank(&self) -> u8 {
        match self {
            Problem::Parse(_) | Problem::Decode(_) => 0,
            Problem::Expired { .. } | Problem::NotYetValid { .. } => 1,
            Problem::Revoked { .. } => 2,
            Problem::IssuerNotFound { .. }
            | Problem::Untrusted { .. }
            | Problem::Chain { .. }
            | Problem::BadSelfSigned { .. }
            | Problem::Unsupported { .. } => 3,
            Problem::Purpose { .. } => 4,
            _ => 5,
        }
    }
}

/// The result of validating a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validation {
    pub status: Status,
    /// Every problem found, most important first.
    pub problems: Vec<Problem>,
    /// The path built, leaf first; it ends at a trust anchor when the chain is complete.
    pub chain: Vec<Cert>,
}

impl Validation {
    /// The QRadar code of the most important problem, or 0 when there is none.
    pub fn qradar_code(&self) -> u16 {
        self.problems.first().map_or(0, Problem::qradar_code)
    }

    /// Whether nothing is wrong (the certificate may still be expiring).
    pub fn is_valid(&self) -> bool {
        self.problems.is_empty()
    }
}

impl From<Problem> for Validation {
    /// The validation of input that never became a certificate.
    fn from(problem: Problem) -> Self {
        Validation { status: problem.status(), problems: vec![problem], chain: Vec::new() }
    }
}

/// What a revocation source knows about one certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Revocation {
    Good,
    Revoked {
        at: Option<i64>,
        reason: Option<CrlReason>,
    },
    /// The source has nothing to say.
    Unknown,
}

/// Answers "is this certificate, issued by that one, revoked?" from somewhere other than the supplied CRLs (an
/// OCSP responder, the local inventory). Any `Fn(&Cert, &Cert) -> Result<Revocation, String>` is one.
pub trait RevocationSource {
    /// The status of `cert`, whose issuer is `issuer`. `Err` says why it could not be determined.
    fn status(&self, cert: &Cert, issuer: &Cert) -> Result<Revocation, String>;
}

impl<F: Fn(&Cert, &Cert) -> Result<Revocation, String>> RevocationSource for F {
    fn status(&self, cert: &Cert, issuer: &Cert) -> Result<Revocation, String> {
        self(cert, issuer)
    }
}

/// What a certificate is validated against. Build with [`Validator::new`] and set the other fields as needed.
#[derive(Clone, Copy)]
pub struct Validator<'a> {
    /// Trusted certificates; a path is complete when it reaches one (same subject and key).
    pub anchors: &'a [Cert],
    /// Candidate intermediates, in any order; certificates that do not belong are ignored.
    pub intermediates: &'a [Cert],
    /// The time of validation, in epoch seconds.
    pub at: i64,
    /// A valid certificate becomes [`Status::Expiring`] when a certificate of its path expires within this many
    /// seconds.
    pub expiring_within: i64,
    pub purpose: Option<Purpose>,
    /// DER (or PEM) CertificateLists; each is applied to the certificate of the path its issuer issued.
    pub crls: &'a [Vec<u8>],
    pub revocation: Option<&'a dyn RevocationSource>,
}

impl std::fmt::Debug for Validator<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Validator")
            .field("anchors", &self.anchors.len())
            .field("intermediates", &self.intermediates.len())
            .field("at", &self.at)
            .field("expiring_within", &self.expiring_within)
            .field("purpose", &self.purpose)
            .field("crls", &self.crls.len())
            .field("revocation", &self.revocation.is_some())
            .finish()
    }
}

impl<'a> Validator<'a> {
    /// Validation against `anchors` at `at`, with no intermediates, threshold, purpose or revocation data.
    pub fn new(anchors: &'a [Cert], at: i64) -> Self {
        Validator { anchors, intermediates: &[], at, expiring_within: 0, purpose: None, crls: &[], revocation: None }
    }

    /// Validates `leaf`, reporting every problem found.
    pub fn validate(&self, leaf: &Cert) -> Validation {
        let pool = self.pool(leaf);
        let mut search = Search::new(&pool, self.at);
        let mut path = vec![0];
        let failure = search.extend(&mut path).err();
        let (path, mut problems) = match failure {
            Some(dead) => (dead.path, vec![dead.problem]),
            None => (path, Vec::new()),
        };
        let nodes: Vec<&Node<'_>> = path.iter().filter_map(|i| pool.get(*i)).collect();
        if let Some(top) = nodes.last().filter(|top| top.anchor && top.self_signed()) {
            if verify(top.cert, top.cert) == Verdict::Bad {
                problems.push(Problem::BadSelfSigned { subject: top.cert.subject_string() });
            }
        }
        self.check_nodes(&nodes, &mut problems);
        self.check_revocation(&nodes, &mut problems);
        problems.sort_by_key(Problem::rank);

        let chain: Vec<Cert> = nodes.iter().map(|n| n.cert.clone()).collect();
        let status = match problems.first() {
            Some(p) => p.status(),
            None => {
                let first_expiry = chain.iter().map(Cert::not_after).min().unwrap_or(i64::MAX);
                if first_expiry.saturating_sub(self.at) <= self.expiring_within {
                    Status::Expiring
                } else {
                    Status::Valid
                }
            }
        };
        Validation { status, problems, chain }
    }

    /// The leaf, then intermediates, then anchors, each once; a certificate with an anchor's subject and key is an
    /// anchor wherever it was supplied.
    fn pool<'c>(&'c self, leaf: &'c Cert) -> Vec<Node<'c>> {
        let mut pool: Vec<Node<'c>> = Vec::new();
        for cert in std::iter::once(leaf).chain(self.intermediates).chain(self.anchors) {
            if pool.iter().any(|n| n.cert.der() == cert.der()) {
                continue;
            }
            let anchor = self.anchors.iter().any(|a| a.subject() == cert.subject() && same_key(a, cert));
            pool.push(Node::new(cert, anchor));
        }
        pool
    }

    /// Dates, extensions, CA constraints, name constraints and purpose along the path.
    fn check_nodes(&self, path: &[&Node<'_>], problems: &mut Vec<Problem>) {
        for (k, node) in path.iter().enumerate() {
            let subject = node.cert.subject_string();
            if let Some(detail) = &node.decode_error {
                problems.push(Problem::Decode(format!("{subject}: {detail}")));
            }
            if node.cert.not_before() > self.at {
                problems.push(Problem::NotYetValid { subject: subject.clone(), not_before: node.cert.not_before() });
            }
            if node.cert.not_after() < self.at {
                problems.push(Problem::Expired { subject: subject.clone(), not_after: node.cert.not_after() });
            }
            let chain = |fault| Problem::Chain { subject: subject.clone(), fault };
            for oid in &node.unknown_critical {
                problems.push(chain(ChainFault::UnknownCriticalExtension(oid.to_string())));
            }
            if k == 0 {
                if let Some(purpose) = self.purpose {
                    if let Some(detail) = purpose_mismatch(purpose, node) {
                        problems.push(Problem::Purpose { purpose, detail });
                    }
                }
                continue;
            }
            // From here on the certificate is an issuer.
            let v1_anchor = node.anchor && node.version != Version::V3;
            if !node.is_ca() && !v1_anchor {
                problems.push(chain(ChainFault::NotCa));
            }
            if node.key_usage.as_ref().is_some_and(|ku| !ku.key_cert_sign()) {
                problems.push(chain(ChainFault::NoKeyCertSign));
            }
            if let Some(limit) = node.basic.as_ref().and_then(|b| b.path_len_constraint) {
                let below = path.iter().take(k).skip(1).filter(|n| !n.self_issued()).count();
                if below > usize::from(limit) {
                    problems.push(chain(ChainFault::PathLenExceeded { limit, below }));
                }
            }
            if let Some(nc) = &node.name_constraints {
                let governed = path.iter().take(k).enumerate().filter(|(i, n)| *i == 0 || !n.self_issued());
                for (_, n) in governed {
                    if let Err(why) = names::check_constraints(nc, n.cert.subject(), &n.sans) {
                        problems.push(chain(ChainFault::NameConstraint(why)));
                    }
                }
            }
        }
    }

    /// Revocation of every certificate whose issuer is in the path: the supplied CRLs first, then the source.
    fn check_revocation(&self, path: &[&Node<'_>], problems: &mut Vec<Problem>) {
        let mut revoked = vec![false; path.len()];
        crl::check(self.crls, path, self.at, problems, &mut revoked);
        let Some(source) = self.revocation else { return };
        for (k, pair) in path.windows(2).enumerate() {
            let ([cert, issuer], Some(false)) = (pair, revoked.get(k).copied()) else { continue };
            let subject = cert.cert.subject_string();
            match source.status(cert.cert, issuer.cert) {
                Ok(Revocation::Revoked { at, reason }) => {
                    problems.push(Problem::Revoked { subject, serial: cert.cert.serial_hex(), at, reason })
                }
                Ok(Revocation::Good | Revocation::Unknown) => {}
                Err(detail) => problems.push(Problem::RevocationUnavailable { subject, detail }),
            }
        }
    }
}

fn same_key(a: &Cert, b: &Cert) -> bool {
    matches!((a.public_key(), b.public_key()), (Ok(x), Ok(y)) if x.der() == y.der())
}

/// Why the leaf does not fit `purpose`, if it does not.
fn purpose_mismatch(purpose: Purpose, leaf: &Node<'_>) -> Option<String> {
    let eku_allows = |want: Oid| {
        leaf.eku.as_ref().is_none_or(|list| list.contains(&want) || list.contains(&rfc5280::ANY_EXTENDED_KEY_USAGE))
    };
    let ku_allows =
        |any_of: &[KeyUsages]| leaf.key_usage.as_ref().is_none_or(|ku| any_of.iter().any(|u| ku.0.contains(*u)));
    let server = || {
        if !eku_allows(rfc5280::ID_KP_SERVER_AUTH) {
            Some("extendedKeyUsage lacks serverAuth".to_owned())
        } else if !ku_allows(&[KeyUsages::DigitalSignature, KeyUsages::KeyEncipherment, KeyUsages::KeyAgreement]) {
            Some("keyUsage has neither digitalSignature, keyEncipherment nor keyAgreement".to_owned())
        } else {
            None
        }
    };
    let client = || {
        if !eku_allows(rfc5280::ID_KP_CLIENT_AUTH) {
            Some("extendedKeyUsage lacks clientAuth".to_owned())
        } else if !ku_allows(&[KeyUsages::DigitalSignature, KeyUsages::KeyAgreement]) {
            Some("keyUsage has neither digitalSignature nor keyAgreement".to_owned())
        } else {
            None
        }
    };
    match purpose {
        Purpose::Server => server(),
        Purpose::Client => client(),
        Purpose::ServerClient => server().or_else(client),
        Purpose::SigningEncryption => {
            let usable = [
                KeyUsages::DigitalSignature,
                KeyUsages::NonRepudiation,
                KeyUsages::KeyEncipherment,
                KeyUsages::DataEncipherment,
            ];
            (!ku_allows(&usable)).then(|| "keyUsage allows neither signing nor encryption".to_owned())
        }
    }
}

/// Reads a certificate for validation, telling input that is not a certificate at all (not PEM, not DER: 2001)
/// from a well-framed PEM block or DER object that does not decode as a certificate (2002).
pub fn parse_for_validation(input: &[u8]) -> Result<Cert, Problem> {
    if input.len() > MAX_CERT_BYTES {
        return Err(Problem::Parse(format!("larger than {MAX_CERT_BYTES} bytes")));
    }
    let der = if input.first() == Some(&0x30) {
        if !der_framed(input) {
            return Err(Problem::Parse("binary input that is not one DER object".to_owned()));
        }
        input.to_vec()
    } else {
        let text = std::str::from_utf8(input).map_err(|_| Problem::Parse("neither DER nor text".to_owned()))?.trim();
        if text.starts_with("-----BEGIN") {
            let (label, der) = crate::pem::decode(text).map_err(|e| Problem::Parse(e.to_string()))?;
            if label != "CERTIFICATE" && label != "X509 CERTIFICATE" {
                return Err(Problem::Parse(format!("a PEM {label}, not a CERTIFICATE")));
            }
            der
        } else {
            use base64::Engine;
            let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
            let der = base64::engine::general_purpose::STANDARD
                .decode(compact)
                .map_err(|_| Problem::Parse("not PEM, DER or base64".to_owned()))?;
            if der.first() != Some(&0x30) || !der_framed(&der) {
                return Err(Problem::Parse("base64 that is not one DER object".to_owned()));
            }
            der
        }
    };
    Cert::from_der(&der).map_err(|e| Problem::Decode(e.to_string()))
}

/// Whether `bytes` is exactly one DER TLV.
fn der_framed(bytes: &[u8]) -> bool {
    let Ok(mut reader) = SliceReader::new(bytes) else { return false };
    reader.tlv_bytes().is_ok() && reader.is_finished()
}

/// Epoch seconds of an X.509 time.
fn unix(t: &x509_cert::time::Time) -> i64 {
    i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX)
}

/// A time for messages: RFC 3339 in UTC.
fn when(t: i64) -> String {
    u64::try_from(t)
        .ok()
        .and_then(|s| der::DateTime::from_unix_duration(std::time::Duration::from_secs(s)).ok())
        .map_or_else(|| format!("{t} (epoch seconds)"), |d| d.to_string())
}
