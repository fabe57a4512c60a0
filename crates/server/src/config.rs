//! Configuration, layered: built-in defaults < `<data-dir>/certwright.toml` (or `--config`) < `CERTWRIGHT_*`
//! environment < command-line flags. Unknown keys in the file are an error naming the key; secrets are redacted
//! whenever the configuration is shown.

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The data directory used when none is given.
pub const DEFAULT_DATA_DIR: &str = "./certwright-data";
/// The configuration file looked for inside the data directory.
pub const CONFIG_FILE: &str = "certwright.toml";

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Every setting of a running server (the data directory itself is chosen before the file is read).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// HTTPS listener for every API (served once the PKI engine provides the server certificate).
    pub listen: SocketAddr,
    /// Plain-HTTP listener for health checks (and every API with `insecure_http`).
    pub http_listen: SocketAddr,
    /// Serve every API on the plain-HTTP listener. For local use and tests only.
    pub insecure_http: bool,
    /// `postgres://…` to use PostgreSQL; empty means SQLite inside the data directory.
    pub database_url: Option<String>,
    /// Largest accepted request body, in bytes.
    pub body_limit_bytes: usize,
    /// Name of this node's audit chain; defaults to the host name.
    pub node_id: String,
    /// Default lifetime of OAuth2 access tokens, in seconds.
    pub oauth_token_ttl_seconds: i64,
    /// Seconds in-flight requests get to finish after SIGTERM/SIGINT.
    pub shutdown_grace_seconds: u64,
    /// `tracing` filter directive, e.g. `info` or `certwright_server=debug`.
    pub log_level: String,
    pub log_format: LogFormat,
    /// Key algorithm of the CAs created at first start: `ecdsa-p256`, `ecdsa-p384`, `rsa-2048`, `rsa-3072`,
    /// `rsa-4096`, `ed25519`, `ml-dsa-65`…
    pub ca_key_algorithm: String,
    /// Base URL clients reach the plain-HTTP listener at (CA certificates, later OCSP and CRLs); written into
    /// issued certificates. Defaults to `http://<http_listen>`.
    pub public_http_url: Option<String>,
    /// Extra names (`dns:…`, `ip:…`) the server's TLS certificate covers besides localhost and the loopback
    /// addresses.
    pub tls_names: Vec<String>,
    /// nextUpdate − thisUpdate of every CRL, in seconds.
    pub crl_validity_seconds: i64,
    /// How often every CRL is signed again, in seconds (delta and partition CRLs also follow revocations).
    pub crl_refresh_seconds: i64,
    /// nextUpdate − thisUpdate of OCSP answers, in seconds; cached answers are signed again at half of it.
    pub ocsp_validity_seconds: i64,
    /// Who signs OCSP answers: `delegated` (a responder certificate per CA, issued and renewed by the server)
    /// or `ca` (the CA key itself).
    pub ocsp_responder: String,
    /// How long a node holds a leased job before another node may take it over, in seconds.
    pub job_lease_seconds: i64,
    /// How often the expiry scan runs (approvals expire, auto-renewals and notifications are queued), in seconds.
    pub expiry_scan_seconds: i64,
    /// The SMTP relay e-mail notifications go through; unset, e-mail rules cannot deliver.
    pub smtp_host: Option<String>,
    pub smtp_port: u16,
    /// `none`, `starttls` (required) or `tls` (SMTPS).
    pub smtp_security: String,
    pub smtp_username: Option<String>,
    pub smtp_password: Option<String>,
    /// The sender of notifications.
    pub smtp_from: String,
    /// ACME challenge validation: the DNS server to ask (`host:port`) instead of the system resolver.
    pub acme_dns_server: Option<SocketAddr>,
    /// ACME challenge validation: fixed answers (`name=address`) checked before DNS, for tests on one machine.
    pub acme_resolve: Vec<String>,
    /// The port http-01 challenges are fetched from (80; tests move it).
    pub acme_http01_port: u16,
    /// The port tls-alpn-01 challenges connect to (443; tests move it).
    pub acme_tlsalpn01_port: u16,
    /// How long one validation attempt may take, in seconds.
    pub acme_validation_timeout_seconds: u64,
    /// How long a challenge response waits for the validation's first attempt to answer with its outcome, in
    /// milliseconds (0: answer `processing` at once).
    pub acme_validation_wait_ms: u64,
    /// Testing only: every ACME challenge passes without being checked (like pebble's
    /// `PEBBLE_VA_ALWAYS_VALID`). Never on a server that issues real certificates.
    pub acme_insecure_always_valid: bool,
    /// Client certificates: the HTTPS listener asks for one (without requiring it) verified against these CAs of
    /// this server, by uuid or name. With `client_ca_files` empty too, no client certificate is asked for.
    pub client_ca_authorities: Vec<String>,
    /// Client certificates: PEM files of further trusted CAs (relative paths are inside the data directory).
    pub client_ca_files: Vec<PathBuf>,
    /// The role of a caller identified by a client certificate (`mtls:<subject CN>`).
    pub client_cert_role: String,
    /// RA profiles a caller identified by a client certificate is limited to; empty means all.
    pub client_cert_ra_profiles: Vec<String>,
    /// Reverse proxies (IP addresses or CIDR blocks) whose `ssl-client-cert` header is believed.
    pub trusted_proxies: Vec<String>,
    /// Discovery: the address ranges TLS scans may reach (default: loopback and the private networks).
    pub discovery_allowed_ranges: Vec<String>,
    /// Discovery: the directories filesystem scans may read (default: none, so filesystem discovery is off).
    pub discovery_allowed_paths: Vec<PathBuf>,
    /// Discovery: most endpoints one TLS run may cover (addresses × ports × server names).
    pub discovery_max_endpoints: u64,
    /// Discovery: most files one filesystem run may examine.
    pub discovery_max_files: u64,
    /// Discovery: endpoints a TLS run works on at once unless the run says otherwise.
    pub discovery_concurrency: u32,
    /// Discovery: a PEM bundle of further roots that discovered chains are judged against (for example
    /// `/etc/ssl/certs/ca-certificates.crt`), besides this server's own root CAs.
    pub discovery_trust_roots_file: Option<PathBuf>,
    /// Deployment: the directories of this host that locations may write certificates and keys into (default:
    /// none, so only SSH locations can be created).
    pub deploy_allowed_paths: Vec<PathBuf>,
    /// Deployment: whether locations may name their own `test_command` and `reload_command` (programs run on the
    /// target host); off by default, so only the standard nginx and Apache commands run.
    pub deploy_allow_custom_commands: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            http_listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            insecure_http: false,
            database_url: None,
            body_limit_bytes: 1024 * 1024,
            node_id: default_node_id(),
            oauth_token_ttl_seconds: 3600,
            shutdown_grace_seconds: 30,
            log_level: "info".to_owned(),
            log_format: LogFormat::Text,
            ca_key_algorithm: "ecdsa-p256".to_owned(),
            public_http_url: None,
            tls_names: Vec::new(),
            crl_validity_seconds: 7 * 86_400,
            crl_refresh_seconds: 3_600,
            job_lease_seconds: 120,
            expiry_scan_seconds: 300,
            smtp_host: None,
            smtp_port: 587,
            smtp_security: "starttls".to_owned(),
            smtp_username: None,
            smtp_password: None,
            smtp_from: "certwright@localhost".to_owned(),
            acme_dns_server: None,
            acme_resolve: Vec::new(),
            acme_http01_port: 80,
            acme_tlsalpn01_port: 443,
            acme_validation_timeout_seconds: 10,
            acme_validation_wait_ms: 1000,
            acme_insecure_always_valid: false,
            client_ca_authorities: Vec::new(),
            client_ca_files: Vec::new(),
            client_cert_role: "requester".to_owned(),
            client_cert_ra_profiles: Vec::new(),
            trusted_proxies: Vec::new(),
            discovery_allowed_ranges: [
                "127.0.0.0/8",
                "10.0.0.0/8",
                "172.16.0.0/12",
                "192.168.0.0/16",
                "::1/128",
                "fc00::/7",
            ]
            .map(str::to_owned)
            .to_vec(),
            discovery_allowed_paths: Vec::new(),
            discovery_max_endpoints: 1 << 20,
            discovery_max_files: 100_000,
            discovery_concurrency: 256,
            discovery_trust_roots_file: None,
            deploy_allowed_paths: Vec::new(),
            deploy_allow_custom_commands: false,
            ocsp_validity_seconds: 4 * 3_600,
            ocsp_responder: "delegated".to_owned(),
        }
    }
}

fn default_node_id() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "node-1".to_owned())
}

/// Values from the environment and the command line, which win over the file. `None` leaves a setting alone.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub listen: Option<SocketAddr>,
    pub http_listen: Option<SocketAddr>,
    pub insecure_http: Option<bool>,
    pub database_url: Option<String>,
    pub body_limit_bytes: Option<usize>,
    pub node_id: Option<String>,
    pub oauth_token_ttl_seconds: Option<i64>,
    pub shutdown_grace_seconds: Option<u64>,
    pub ca_key_algorithm: Option<String>,
    pub public_http_url: Option<String>,
    pub log_level: Option<String>,
    pub log_format: Option<LogFormat>,
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("invalid configuration in {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid setting {key}: {message}")]
    Invalid { key: &'static str, message: String },
}

/// The data directory and the effective configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    /// The file that was read, if any.
    pub config_file: Option<PathBuf>,
    pub config: Config,
}

impl Settings {
    /// Loads the layers. An explicit `config_file` must exist; the default one inside the data dir may not.
    pub fn load(data_dir: PathBuf, config_file: Option<PathBuf>, overrides: Overrides) -> Result<Self, ConfigError> {
        let (path, required) = match config_file {
            Some(p) => (p, true),
            None => (data_dir.join(CONFIG_FILE), false),
        };
        let (mut config, config_file) = match std::fs::read_to_string(&path) {
            Ok(text) => (parse(&path, &text)?, Some(path)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => (Config::default(), None),
            Err(source) => return Err(ConfigError::Read { path, source }),
        };
        config.apply(overrides);
        config.validate()?;
        Ok(Self { data_dir, config_file, config })
    }

    /// The effective configuration as TOML, with the database password redacted.
    pub fn render_redacted(&self) -> String {
        let mut shown = self.config.clone();
        shown.database_url = shown.database_url.as_deref().map(redact_url);
        let body = toml::to_string(&shown).unwrap_or_else(|e| format!("# cannot render: {e}\n"));
        let file = self
            .config_file
            .as_deref()
            .map(Path::display)
            .map(|p| p.to_string())
            .unwrap_or_else(|| "none (defaults)".to_owned());
        format!("# data_dir = {}\n# config file: {file}\n{body}", self.data_dir.display())
    }
}

fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
    toml::from_str(text).map_err(|e| ConfigError::Parse { path: path.to_owned(), message: e.to_string() })
}

impl Config {
    /// The base URL written into certificates for the plain-HTTP listener.
    pub fn public_http_url(&self) -> String {
        self.public_http_url.clone().unwrap_or_else(|| format!("http://{}", self.http_listen))
    }

    fn apply(&mut self, o: Overrides) {
        fn set<T>(slot: &mut T, value: Option<T>) {
            if let Some(v) = value {
                *slot = v;
            }
        }
        set(&mut self.listen, o.listen);
        set(&mut self.http_listen, o.http_listen);
        set(&mut self.insecure_http, o.insecure_http);
        if o.database_url.is_some() {
            self.database_url = o.database_url;
        }
        set(&mut self.body_limit_bytes, o.body_limit_bytes);
        set(&mut self.node_id, o.node_id);
        set(&mut self.oauth_token_ttl_seconds, o.oauth_token_ttl_seconds);
        set(&mut self.shutdown_grace_seconds, o.shutdown_grace_seconds);
        set(&mut self.ca_key_algorithm, o.ca_key_algorithm);
        if o.public_http_url.is_some() {
            self.public_http_url = o.public_http_url;
        }
        set(&mut self.log_level, o.log_level);
        set(&mut self.log_format, o.log_format);
        if self.database_url.as_deref().is_some_and(|u| u.trim().is_empty()) {
            self.database_url = None;
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, message: &str| Err(ConfigError::Invalid { key, message: message.to_owned() });
        if let Some(url) = &self.database_url {
            if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                return invalid("database_url", "must be a postgres:// URL (leave it unset for SQLite)");
            }
        }
        let generated = certwright_pki::alg::KeyAlgorithm::GENERATED;
        if !certwright_pki::alg::KeyAlgorithm::parse(&self.ca_key_algorithm).is_ok_and(|a| generated.contains(&a)) {
            return invalid("ca_key_algorithm", "must be one of ecdsa-p256, ecdsa-p384, ecdsa-p521, rsa-2048, rsa-3072, rsa-4096, ed25519, ml-dsa-44, ml-dsa-65, ml-dsa-87");
        }
        if self.body_limit_bytes < 1024 {
            return invalid("body_limit_bytes", "must be at least 1024");
        }
        if self.node_id.trim().is_empty() || self.node_id.len() > 128 {
            return invalid("node_id", "must be 1 to 128 characters");
        }
        if !(60..=86_400).contains(&self.oauth_token_ttl_seconds) {
            return invalid("oauth_token_ttl_seconds", "must be between 60 and 86400");
        }
        if !(600..=366 * 86_400).contains(&self.crl_validity_seconds) {
            return invalid("crl_validity_seconds", "must be between 600 and 31622400");
        }
        if !(60..=self.crl_validity_seconds / 2).contains(&self.crl_refresh_seconds) {
            return invalid("crl_refresh_seconds", "must be at least 60 and at most half of crl_validity_seconds");
        }
        if !(2..=86_400).contains(&self.job_lease_seconds) {
            return invalid("job_lease_seconds", "must be between 2 and 86400");
        }
        if !(1..=86_400).contains(&self.expiry_scan_seconds) {
            return invalid("expiry_scan_seconds", "must be between 1 and 86400");
        }
        if !(60..=7 * 86_400).contains(&self.ocsp_validity_seconds) {
            return invalid("ocsp_validity_seconds", "must be between 60 and 604800");
        }
        if !(1..=120).contains(&self.acme_validation_timeout_seconds) {
            return invalid("acme_validation_timeout_seconds", "must be between 1 and 120");
        }
        if self.acme_validation_wait_ms > 10_000 {
            return invalid("acme_validation_wait_ms", "must be between 0 and 10000");
        }
        for entry in &self.acme_resolve {
            let parsed = entry.split_once('=').and_then(|(name, ip)| ip.parse::<std::net::IpAddr>().ok().map(|_| name));
            if parsed.is_none_or(|name| name.is_empty()) {
                return invalid("acme_resolve", "entries must be name=address, e.g. \"www.example.test=127.0.0.1\"");
            }
        }
        if !matches!(self.ocsp_responder.as_str(), "delegated" | "ca") {
            return invalid("ocsp_responder", "must be delegated or ca");
        }
        if certwright_core::auth::Role::parse(&self.client_cert_role).is_err() {
            return invalid("client_cert_role", "must be one of admin, operator, requester, auditor");
        }
        if self.client_cert_ra_profiles.iter().any(|p| certwright_core::auth::validate_name("", p).is_err()) {
            return invalid("client_cert_ra_profiles", "entries must be RA profile names");
        }
        if self.trusted_proxies.iter().any(|p| parse_network(p).is_none()) {
            return invalid("trusted_proxies", "entries must be IP addresses or CIDR blocks, e.g. \"10.0.0.0/8\"");
        }
        if self
            .discovery_allowed_ranges
            .iter()
            .any(|r| r.parse::<certwright_connectors::discovery::targets::Cidr>().is_err())
        {
            return invalid(
                "discovery_allowed_ranges",
                "entries must be IP addresses or CIDR blocks, e.g. \"10.0.0.0/8\"",
            );
        }
        if self.discovery_allowed_paths.iter().any(|p| !p.is_absolute()) {
            return invalid("discovery_allowed_paths", "entries must be absolute paths");
        }
        if !(1..=1 << 32).contains(&self.discovery_max_endpoints) {
            return invalid("discovery_max_endpoints", "must be between 1 and 4294967296");
        }
        if !(1..=10_000_000).contains(&self.discovery_max_files) {
            return invalid("discovery_max_files", "must be between 1 and 10000000");
        }
        if self.deploy_allowed_paths.iter().any(|p| !p.is_absolute()) {
            return invalid("deploy_allowed_paths", "entries must be absolute paths");
        }
        if !(1..=crate::discovery::MAX_CONCURRENCY).contains(&self.discovery_concurrency) {
            return invalid("discovery_concurrency", "must be between 1 and 4096");
        }
        Ok(())
    }
}

/// An IP address (a network of one) or a CIDR block.
pub fn parse_network(s: &str) -> Option<ipnet::IpNet> {
    let s = s.trim();
    s.parse::<ipnet::IpNet>().ok().or_else(|| s.parse::<std::net::IpAddr>().ok().map(ipnet::IpNet::from))
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`; also hides `password=` parameters.
pub fn redact_url(url: &str) -> String {
    let mut out = url.to_owned();
    if let Some(scheme_end) = out.find("://") {
        let rest_start = scheme_end + 3;
        let authority_end = out[rest_start..].find(['/', '?']).map_or(out.len(), |i| rest_start + i);
        if let Some(at) = out[rest_start..authority_end].rfind('@') {
            let userinfo = &out[rest_start..rest_start + at];
            if let Some(colon) = userinfo.find(':') {
                out.replace_range(rest_start + colon + 1..rest_start + at, "***");
            }
        }
    }
    if let Some(q) = out.find('?') {
        let (base, query) = out.split_at(q + 1);
        let redacted: Vec<String> = query
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                _ => kv.to_owned(),
            })
            .collect();
        out = format!("{base}{}", redacted.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_apply_in_order_file_then_overrides() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(CONFIG_FILE), "http_listen = \"127.0.0.1:9000\"\nnode_id = \"from-file\"\n")
            .unwrap();
        let s = Settings::load(
            dir.path().to_owned(),
            None,
            Overrides { node_id: Some("from-flag".into()), ..Default::default() },
        )
        .unwrap();
        assert_eq!(s.config.http_listen.port(), 9000);
        assert_eq!(s.config.node_id, "from-flag");
        assert_eq!(s.config.listen.port(), 8443);
    }

    #[test]
    fn unknown_key_is_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(CONFIG_FILE), "lisen = \"127.0.0.1:1\"\n").unwrap();
        let err = Settings::load(dir.path().to_owned(), None, Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("lisen"), "{err}");
    }

    #[test]
    fn ca_key_algorithm_must_be_one_the_engine_generates() {
        let dir = tempfile::tempdir().unwrap();
        for (alg, ok) in [("ecdsa-p384", true), ("ml-dsa-65", true), ("rsa-1024", false), ("rot13", false)] {
            std::fs::write(dir.path().join(CONFIG_FILE), format!("ca_key_algorithm = \"{alg}\"\n")).unwrap();
            assert_eq!(Settings::load(dir.path().to_owned(), None, Overrides::default()).is_ok(), ok, "{alg}");
        }
    }

    #[test]
    fn client_certificate_settings_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        for (line, ok) in [
            ("trusted_proxies = [\"127.0.0.1\", \"10.0.0.0/8\", \"::1\"]", true),
            ("trusted_proxies = [\"10.0.0.0/33\"]", false),
            ("trusted_proxies = [\"proxy.example\"]", false),
            ("client_cert_role = \"operator\"", true),
            ("client_cert_role = \"root\"", false),
        ] {
            std::fs::write(dir.path().join(CONFIG_FILE), format!("{line}\n")).unwrap();
            assert_eq!(Settings::load(dir.path().to_owned(), None, Overrides::default()).is_ok(), ok, "{line}");
        }
        assert_eq!(Config::default().client_cert_role, "requester");
        assert!(
            parse_network("192.0.2.7").is_some_and(|n| n.contains(&"192.0.2.7".parse::<std::net::IpAddr>().unwrap()))
        );
    }

    #[test]
    fn explicit_config_file_must_exist() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.toml");
        assert!(Settings::load(dir.path().to_owned(), Some(missing), Overrides::default()).is_err());
    }

    #[test]
    fn database_password_is_redacted() {
        assert_eq!(redact_url("postgres://u:hunter2@db:5432/cw"), "postgres://u:***@db:5432/cw");
        assert_eq!(redact_url("postgres://db/cw?user=u&password=x"), "postgres://db/cw?user=u&password=***");
        assert_eq!(redact_url("postgres://u@db/cw"), "postgres://u@db/cw");
        let s = Settings {
            data_dir: "d".into(),
            config_file: None,
            config: Config { database_url: Some("postgres://u:hunter2@db/cw".into()), ..Default::default() },
        };
        assert!(!s.render_redacted().contains("hunter2"));
    }
}
