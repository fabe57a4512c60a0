//! Discovery: runs that look for certificates where they are used (TLS endpoints, files and key stores), the
//! locations where each certificate was seen, and the `Scanner` port that does the looking. A run is a job;
//! what it finds joins the inventory (origin `discovery`) deduplicated by fingerprint, and a location seen before
//! but not on a later run covering it is marked gone.

use crate::clock::EpochSeconds;
use crate::{CoreError, Result};
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use uuid::Uuid;
use zeroize::Zeroizing;

/// Most problems kept on a run.
pub const MAX_RUN_PROBLEMS: usize = 50;
/// Most targets, server names, paths or globs in one run.
pub const MAX_SPEC_ITEMS: usize = 256;
/// Most passwords tried on PKCS#12 files and encrypted keys.
pub const MAX_PASSWORDS: usize = 32;
/// Shortest interval of a repeated run, in seconds.
pub const MIN_REPEAT_SECONDS: i64 = 60;

/// A TLS scan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TlsSpec {
    /// `host[:ports]`, `address[:ports]`, `cidr[:ports]`, `[v6][/prefix][:ports]`; ports `443`, `443,8443`,
    /// `8000-8100`; 443 when none.
    pub targets: Vec<String>,
    /// Server names (SNI) sent to every address target, each endpoint once per name. Name targets send their
    /// own name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub server_names: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_per_second: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_timeout_ms: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handshake_timeout_ms: Option<u32>,
}

/// A filesystem scan of the server's host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct FileSpec {
    /// Directories (walked recursively) or files.
    pub paths: Vec<String>,
    /// Globs a file must match (`*.pem`, `**/ssl/**`); every file when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<String>,
    /// Globs of files and directories to leave out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_depth: Option<u32>,
    #[serde(default)]
    pub follow_symlinks: bool,
    /// Import the private keys found with certificates (sealed like every key held here, exportable).
    #[serde(default)]
    pub import_private_keys: bool,
}

/// What a run scans.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RunSpec {
    Tls(TlsSpec),
    Files(FileSpec),
}

impl RunSpec {
    pub fn kind(&self) -> &'static str {
        match self {
            RunSpec::Tls(_) => "tls",
            RunSpec::Files(_) => "files",
        }
    }

    /// Checks the sizes of the lists (the scanner checks their contents).
    pub fn check(&self) -> Result<()> {
        let too_many = |what: &str, n: usize| {
            if n > MAX_SPEC_ITEMS {
                Err(CoreError::invalid("discovery.invalid_spec", format!("at most {MAX_SPEC_ITEMS} {what}")))
            } else {
                Ok(())
            }
        };
        match self {
            RunSpec::Tls(t) => {
                if t.targets.is_empty() {
                    return Err(CoreError::invalid("discovery.invalid_spec", "targets must name at least one target"));
                }
                too_many("targets", t.targets.len())?;
                too_many("server names", t.server_names.len())?;
            }
            RunSpec::Files(f) => {
                if f.paths.is_empty() {
                    return Err(CoreError::invalid("discovery.invalid_spec", "paths must name at least one path"));
                }
                too_many("paths", f.paths.len())?;
                too_many("include globs", f.include.len())?;
                too_many("exclude globs", f.exclude.len())?;
            }
        }
        Ok(())
    }
}

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl RunState {
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Queued => "queued",
            RunState::Running => "running",
            RunState::Succeeded => "succeeded",
            RunState::Failed => "failed",
            RunState::Cancelled => "cancelled",
        }
    }

    pub fn from_stored(s: &str) -> Result<Self> {
        [Self::Queued, Self::Running, Self::Succeeded, Self::Failed, Self::Cancelled]
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| CoreError::Storage(format!("unknown discovery run state '{s}'")))
    }

    pub fn is_final(self) -> bool {
        matches!(self, RunState::Succeeded | RunState::Failed | RunState::Cancelled)
    }
}

/// How far a run got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RunCounts {
    /// Endpoints or files the run will look at (files: unknown until the walk ends, so 0).
    pub planned: u64,
    /// Endpoints or files looked at.
    pub examined: u64,
    /// Certificates (chains) seen.
    pub found: u64,
    /// Of those, certificates the inventory did not hold yet.
    pub new_certificates: u64,
    /// Locations seen before, covered by this run, and not seen now.
    pub gone: u64,
}

/// One discovery run.
#[derive(Debug, Clone, PartialEq)]
pub struct DiscoveryRun {
    pub id: i64,
    pub uuid: Uuid,
    pub spec: RunSpec,
    pub state: RunState,
    pub counts: RunCounts,
    /// Why endpoints or files gave nothing, the first few.
    pub problems: Vec<String>,
    /// Why the run failed.
    pub error: Option<String>,
    /// Whether the run stopped at a limit before covering everything (then nothing is marked gone).
    pub stopped_at_limit: bool,
    /// The run is queued again this long after it starts.
    pub repeat_every_seconds: Option<i64>,
    /// The first run of a repeated series (itself for the first).
    pub series: Uuid,
    /// Passwords for PKCS#12 files and encrypted keys, sealed under the run's uuid.
    pub sealed_passwords: Option<Vec<u8>>,
    pub created_by: String,
    pub created_at: EpochSeconds,
    pub run_at: EpochSeconds,
    pub started_at: Option<EpochSeconds>,
    pub finished_at: Option<EpochSeconds>,
}

/// Where a certificate was seen.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Location {
    Tls {
        ip: IpAddr,
        port: u16,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        server_name: Option<String>,
    },
    File {
        path: String,
        /// Keystore alias, or the position of a chain in a file holding several.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        entry: Option<String>,
    },
}

impl Location {
    /// The stable text of the location: `tls://127.0.0.1:443`, `tls://www.example@10.0.0.1:443`,
    /// `file:///etc/ssl/site.pem`, `file:///srv/keystore.jks#alias`.
    pub fn key(&self) -> String {
        match self {
            Location::Tls { ip, port, server_name } => {
                let addr = match ip {
                    IpAddr::V4(v4) => format!("{v4}:{port}"),
                    IpAddr::V6(v6) => format!("[{v6}]:{port}"),
                };
                match server_name {
                    Some(n) => format!("tls://{n}@{addr}"),
                    None => format!("tls://{addr}"),
                }
            }
            Location::File { path, entry } => match entry {
                Some(e) => format!("file://{path}#{e}"),
                None => format!("file://{path}"),
            },
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Location::Tls { .. } => "tls",
            Location::File { .. } => "file",
        }
    }
}

/// Whether a private key was found with a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyPresence {
    Absent,
    Present,
    /// Present, and no password given opened it.
    Encrypted,
}

/// What a scanner saw at one location.
pub struct Observation {
    pub location: Location,
    /// DER certificates, the end entity first.
    pub chain: Vec<Vec<u8>>,
    /// `TLSv1.3`, … for TLS locations.
    pub protocol: Option<String>,
    pub cipher: Option<String>,
    /// Read by the handshake for servers rustls refuses.
    pub legacy: bool,
    /// `pem`, `der`, `pkcs7`, `pkcs12`, `jks` for files.
    pub format: Option<String>,
    pub key: KeyPresence,
    /// PKCS#8 DER of the key, only when the run imports private keys.
    pub private_key: Option<Zeroizing<Vec<u8>>>,
}

impl std::fmt::Debug for Observation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Observation")
            .field("location", &self.location.key())
            .field("chain", &self.chain.len())
            .field("protocol", &self.protocol)
            .field("format", &self.format)
            .field("key", &self.key)
            .field("private_key", &self.private_key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// What a scanner reports while it runs.
#[derive(Debug)]
pub enum ScanEvent {
    Found(Box<Observation>),
    /// So many endpoints or files looked at so far.
    Progress(u64),
    /// An endpoint or file that gave nothing, and why.
    Problem(String),
}

/// How a scan ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanEnd {
    pub examined: u64,
    /// It stopped at a limit (files examined at most) before covering everything.
    pub stopped_at_limit: bool,
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The port through which core scans: TLS endpoints and the host's files, inside the limits the adapter was
/// configured with (allowed address ranges and paths, most endpoints per run).
pub trait Scanner: Send + Sync + std::fmt::Debug {
    /// Checks a spec before a run is queued: syntax, allowed ranges and paths, limits. Returns the number of
    /// endpoints a TLS scan covers (names resolved), 0 for files.
    fn check<'a>(&'a self, spec: &'a RunSpec) -> BoxFuture<'a, Result<u64>>;

    /// Runs the scan, sending what it finds to `events` (bounded: the scan waits for core to keep up), and
    /// stops starting new work once `stop` is set.
    fn scan<'a>(
        &'a self,
        spec: &'a RunSpec,
        passwords: &'a [Zeroizing<String>],
        events: tokio::sync::mpsc::Sender<ScanEvent>,
        stop: &'a std::sync::atomic::AtomicBool,
    ) -> BoxFuture<'a, Result<ScanEnd>>;

    /// Whether a run with this spec looks at `location` (names resolved as when it ran): a location it covers
    /// and did not see is gone.
    fn covers<'a>(&'a self, spec: &'a RunSpec, location: &'a Location) -> BoxFuture<'a, bool>;
}

/// One location where one certificate was seen.
#[derive(Debug, Clone, PartialEq)]
pub struct Sighting {
    pub id: i64,
    pub certificate_id: i64,
    pub certificate_uuid: Uuid,
    pub location: Location,
    /// Protocol, cipher, format, key presence, trust and hostname match, as last seen.
    pub details: serde_json::Value,
    pub first_seen: EpochSeconds,
    pub last_seen: EpochSeconds,
    /// The run that saw it last.
    pub last_run: i64,
    /// When a run covering the location no longer saw it there.
    pub gone_at: Option<EpochSeconds>,
}

/// A sighting to record: the certificate at a location, by the run.
#[derive(Debug, Clone)]
pub struct NewSighting {
    pub certificate_id: i64,
    pub location: Location,
    pub details: serde_json::Value,
}

/// One result of a run: a sighting it made, and whether the certificate was new to the inventory.
#[derive(Debug, Clone, PartialEq)]
pub struct RunResult {
    pub sighting: Sighting,
    pub new_certificate: bool,
}

/// Whether a certificate with these DNS/IP names and common name is valid for `host` (RFC 6125: a wildcard only
/// as the whole left-most label; the common name only when there are no DNS names).
pub fn name_matches(dns_names: &[String], ips: &[IpAddr], common_name: Option<&str>, host: &str) -> bool {
    if let Ok(ip) = host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
        return ips.contains(&ip);
    }
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let one = |pattern: &str| {
        let pattern = pattern.trim_end_matches('.').to_ascii_lowercase();
        match pattern.strip_prefix("*.") {
            Some(rest) => host.split_once('.').is_some_and(|(label, tail)| !label.is_empty() && tail == rest),
            None => pattern == host,
        }
    };
    if dns_names.is_empty() {
        return common_name.is_some_and(one);
    }
    dns_names.iter().any(|n| one(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_have_stable_keys() {
        let tls = Location::Tls { ip: "::1".parse().unwrap(), port: 8443, server_name: Some("a.test".into()) };
        assert_eq!(tls.key(), "tls://a.test@[::1]:8443");
        let file = Location::File { path: "/srv/ks.jks".into(), entry: Some("web".into()) };
        assert_eq!(file.key(), "file:///srv/ks.jks#web");
        let json = serde_json::to_value(&tls).unwrap();
        assert_eq!(serde_json::from_value::<Location>(json).unwrap(), tls);
    }

    #[test]
    fn names_match_as_rfc_6125_says() {
        let dns = vec!["*.example.com".to_owned(), "example.com".to_owned()];
        assert!(name_matches(&dns, &[], None, "www.example.com"));
        assert!(name_matches(&dns, &[], None, "EXAMPLE.com."));
        assert!(!name_matches(&dns, &[], None, "a.b.example.com"));
        assert!(!name_matches(&dns, &[], Some("other.test"), "other.test"));
        assert!(name_matches(&[], &[], Some("other.test"), "other.test"));
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(name_matches(&[], &[ip], None, "127.0.0.1"));
        assert!(!name_matches(&dns, &[], None, "127.0.0.1"));
    }

    #[test]
    fn specs_read_and_check() {
        let spec: RunSpec =
            serde_json::from_value(serde_json::json!({"kind": "tls", "targets": ["127.0.0.1:443"]})).unwrap();
        assert_eq!(spec.kind(), "tls");
        spec.check().unwrap();
        let empty: RunSpec = serde_json::from_value(serde_json::json!({"kind": "files", "paths": []})).unwrap();
        assert!(empty.check().is_err());
        assert!(serde_json::from_value::<RunSpec>(serde_json::json!({"kind": "tls", "targets": [], "x": 1})).is_err());
    }
}
