//! ACME challenge validation, the outbound half of an ACME server: given an identifier and a key authorization,
//! go out and check that the applicant controls it — http-01 and dns-01 (RFC 8555 §8.3–8.4), tls-alpn-01
//! (RFC 8737), IP identifiers (RFC 8738) — and read and evaluate CAA (RFC 8659, with RFC 8657's `accounturi` and
//! `validationmethods`). Plain async functions on a shareable [`Validator`]; no storage, no policy of its own.
//!
//! **DNS.** The validator carries its own small stub resolver (`wire` for the format, `resolver` for the
//! transport) rather than `hickory-resolver`. It needs five record types (A, AAAA, TXT, CAA, CNAME) asked of one
//! recursive server, which is about 600 lines with their tests; hickory would add a dozen crates to a 2-core
//! build for caching, DNSSEC plumbing and system-config parsing the validator must not use (a validation must
//! see the current answer, not a cached one). Owning the parser also keeps CAA values as the raw text RFC 8659
//! evaluates — a malformed `issue` value then authorizes no one instead of failing the whole lookup — and lets
//! the tests feed it hostile packets. The client sends one question with a random id from a fresh connected UDP
//! socket, retransmits within the attempt's timeout, ignores datagrams that do not echo its id and question,
//! retries over TCP when the answer is truncated, refuses compression pointers that do not point backwards, and
//! follows CNAME chains (at most 8). It does not validate DNSSEC; point it at a validating resolver for that.

mod caa;
mod error;
mod http01;
mod resolver;
pub(crate) mod tls_alpn;
mod wire;

pub use caa::{caa_permits, CaaRecord};
pub use error::ChallengeError;
pub use http01::{MAX_BODY as HTTP01_MAX_BODY, MAX_REDIRECTS as HTTP01_MAX_REDIRECTS};
pub use tls_alpn::ACME_TLS_ALPN;

use resolver::{AddressResolver, DnsClient, ReqwestResolver};
use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use wire::{RData, RecordType};

/// An identifier to validate (RFC 8555 §9.7.7, RFC 8738).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Ident {
    /// A DNS name; `*.example.org` only for dns-01.
    Dns(String),
    /// An IP address (http-01 and tls-alpn-01 only).
    Ip(IpAddr),
}

impl fmt::Display for Ident {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ident::Dns(name) => f.write_str(name),
            Ident::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

/// Where the validator looks names up and which ports it connects to. The default asks the system's resolver
/// (`/etc/resolv.conf` for TXT and CAA, getaddrinfo for addresses) and uses ports 80, 443 and 443, with 10 s per
/// attempt: what a public ACME CA does. The other settings exist for tests and closed networks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolverConfig {
    /// Ask this recursive DNS server for every lookup (A/AAAA, TXT, CAA), e.g. pebble-challtestsrv on `:8053`.
    pub dns_server: Option<SocketAddr>,
    /// Static name → addresses for connections, consulted before DNS (names lowercase, without trailing dot).
    pub overrides: HashMap<String, Vec<IpAddr>>,
    /// The port of http-01 requests, and the only port an http redirect may go to (80).
    pub http01_port: u16,
    /// The only port an https redirect of http-01 may go to (443).
    pub https_port: u16,
    /// The port of tls-alpn-01 connections (443).
    pub tlsalpn01_port: u16,
    /// Time allowed for one attempt: one DNS query, one connection and exchange, one HTTP hop.
    pub timeout: Duration,
}

impl Default for ResolverConfig {
    fn default() -> Self {
        ResolverConfig {
            dns_server: None,
            overrides: HashMap::new(),
            http01_port: 80,
            https_port: 443,
            tlsalpn01_port: 443,
            timeout: Duration::from_secs(10),
        }
    }
}

impl ResolverConfig {
    /// Whether any setting differs from what a public CA does (worth a loud line in the log).
    pub fn is_non_standard(&self) -> bool {
        let standard = ResolverConfig::default();
        self.dns_server.is_some()
            || !self.overrides.is_empty()
            || self.http01_port != standard.http01_port
            || self.https_port != standard.https_port
            || self.tlsalpn01_port != standard.tlsalpn01_port
    }
}

/// Validates challenges and reads CAA. Cheap to clone (an `Arc` inside) and safe to share between tasks; it
/// keeps no cache, so every call sees the current DNS and servers.
#[derive(Debug, Clone)]
pub struct Validator {
    inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    config: ResolverConfig,
    dns: Arc<DnsClient>,
    resolver: Arc<AddressResolver>,
    http: reqwest::Client,
    tls_alpn: Arc<rustls::ClientConfig>,
}

impl Validator {
    /// A validator with `config`. Without a DNS server, the `nameserver` lines of `/etc/resolv.conf` are read now.
    pub fn new(mut config: ResolverConfig) -> Result<Self, ChallengeError> {
        let setting = |what: String| ChallengeError::Malformed(format!("validator settings: {what}"));
        if config.timeout.is_zero() {
            return Err(setting("the timeout must be above zero".into()));
        }
        config.overrides = config
            .overrides
            .into_iter()
            .map(|(k, v)| (k.strip_suffix('.').unwrap_or(&k).to_ascii_lowercase(), v))
            .collect();
        let servers = match config.dns_server {
            Some(server) => vec![server],
            None => resolver::parse_resolv_conf(&std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default()),
        };
        let dns = Arc::new(DnsClient::new(servers, config.timeout));
        let resolver = Arc::new(AddressResolver {
            overrides: config.overrides.clone(),
            dns: config.dns_server.map(|_| dns.clone()),
            timeout: config.timeout,
        });
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls_alpn = tls_alpn::client_config(provider.clone()).map_err(|e| setting(format!("TLS: {e}")))?;
        // https redirects of http-01 are followed without checking the certificate, as public CAs do.
        let mut https = tls_alpn.clone();
        https.alpn_protocols = vec![b"http/1.1".to_vec()];
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(https)
            .dns_resolver(Arc::new(ReqwestResolver(resolver.clone())))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .pool_max_idle_per_host(0)
            .connect_timeout(config.timeout)
            .timeout(config.timeout)
            .user_agent(concat!("certwright-acme-validator/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| setting(format!("HTTP client: {e}")))?;
        Ok(Validator { inner: Arc::new(Inner { config, dns, resolver, http, tls_alpn: Arc::new(tls_alpn) }) })
    }

    /// The settings in force.
    pub fn config(&self) -> &ResolverConfig {
        &self.inner.config
    }

    /// http-01: `GET http://<identifier>:<http01_port>/.well-known/acme-challenge/<token>` with `Host: <identifier>`,
    /// following at most 10 redirects (http on the http-01 port, https on the https port, certificate unchecked);
    /// the body (at most 4096 bytes), without trailing whitespace, must be `key_authorization`.
    pub async fn http01(&self, identifier: &Ident, token: &str, key_authorization: &str) -> Result<(), ChallengeError> {
        http01::validate(&self.inner, identifier, token, key_authorization).await
    }

    /// dns-01: one of the TXT records at `_acme-challenge.<domain>` (a leading `*.` dropped) must be
    /// base64url(SHA-256(`key_authorization`)). CNAMEs are followed.
    pub async fn dns01(&self, domain: &str, key_authorization: &str) -> Result<(), ChallengeError> {
        let base = domain.strip_prefix("*.").unwrap_or(domain);
        let name = format!("_acme-challenge.{}", checked_name(base, "dns-01")?);
        let expected = crate::acme::dns01_txt_value(key_authorization);
        let found = self
            .inner
            .dns
            .lookup(&name, RecordType::Txt)
            .await
            .map_err(|e| ChallengeError::Dns(format!("dns-01: the TXT lookup for {name} failed: {e}")))?;
        let values: Vec<&str> = found
            .records
            .iter()
            .filter_map(|r| match r {
                RData::Txt(t) => Some(t.as_str()),
                _ => None,
            })
            .collect();
        if values.contains(&expected.as_str()) {
            return Ok(());
        }
        if values.is_empty() {
            return Err(ChallengeError::Unauthorized(format!("dns-01: there is no TXT record at {name}")));
        }
        let shown: Vec<String> =
            values.iter().take(5).map(|v| format!("{:?}", v.chars().take(100).collect::<String>())).collect();
        Err(ChallengeError::IncorrectResponse(format!(
            "dns-01: no TXT record at {name} is {expected:?} (found {}{})",
            shown.join(", "),
            if values.len() > 5 { ", …" } else { "" }
        )))
    }

    /// tls-alpn-01: a TLS connection to `<identifier>:<tlsalpn01_port>` offering only ALPN `acme-tls/1`, with SNI
    /// the name (for an IP address its reverse-DNS name), must negotiate `acme-tls/1` and present a certificate with
    /// exactly one subjectAltName, the identifier, and the critical acmeIdentifier extension holding
    /// SHA-256(`key_authorization`). Any certificate chain is accepted.
    pub async fn tls_alpn01(&self, identifier: &Ident, key_authorization: &str) -> Result<(), ChallengeError> {
        tls_alpn::validate(&self.inner, identifier, key_authorization).await
    }

    /// The relevant CAA record set for `domain` (RFC 8659 §3; a leading `*.` dropped): the records at the first
    /// name, climbing from `domain` towards the root, that has any; CNAMEs followed. Empty when no level has CAA
    /// (NXDOMAIN and empty answers included), and for an IP address, to which CAA does not apply (RFC 8738 §7); an
    /// error of type `caa` when a lookup fails.
    pub async fn caa(&self, domain: &str) -> Result<Vec<CaaRecord>, ChallengeError> {
        caa::relevant_rrset(&self.inner.dns, domain).await
    }

    /// [`Validator::caa`] then [`caa_permits`] for a DNS identifier (a wildcard when it starts with `*.`), with the
    /// identifier in the error. CAA does not apply to IP identifiers (RFC 8738 §7).
    pub async fn check_caa(
        &self,
        domain: &str,
        our_domains: &[String],
        account_uri: &str,
        method: &str,
    ) -> Result<(), ChallengeError> {
        let records = self.caa(domain).await?;
        caa_permits(&records, domain.starts_with("*."), our_domains, account_uri, method)
            .map_err(|e| ChallengeError::Caa(format!("{domain}: {}", e.detail())))
    }
}

/// `name` normalized (lowercase, no trailing dot), or a `malformed` error naming the `method`.
fn checked_name(name: &str, method: &str) -> Result<String, ChallengeError> {
    wire::normalize_name(name)
        .ok_or_else(|| ChallengeError::Malformed(format!("{method}: {name:?} is not a valid DNS name")))
}

/// An address as the host part of a URL or `Host` header: IPv6 in brackets.
fn url_host(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_what_a_public_ca_uses() {
        let c = ResolverConfig::default();
        assert_eq!((c.http01_port, c.https_port, c.tlsalpn01_port), (80, 443, 443));
        assert_eq!(c.timeout, Duration::from_secs(10));
        assert!(!c.is_non_standard());
        assert!(ResolverConfig { http01_port: 5002, ..c }.is_non_standard());
    }

    #[tokio::test]
    async fn bad_input_is_malformed_before_anything_is_sent() {
        let v = Validator::new(ResolverConfig { timeout: Duration::from_millis(100), ..Default::default() }).unwrap();
        let wild = Ident::Dns("*.example.test".into());
        assert_eq!(v.http01(&wild, "tok", "tok.x").await.unwrap_err().acme_type(), "malformed");
        assert_eq!(v.tls_alpn01(&wild, "ka").await.unwrap_err().acme_type(), "malformed");
        let name = Ident::Dns("example.test".into());
        assert_eq!(v.http01(&name, "../etc", "x").await.unwrap_err().acme_type(), "malformed");
        assert_eq!(v.http01(&Ident::Dns("bad name".into()), "tok", "x").await.unwrap_err().acme_type(), "malformed");
        assert_eq!(v.dns01("exa mple.test", "x").await.unwrap_err().acme_type(), "malformed");
        assert_eq!(v.caa("exa mple.test").await.unwrap_err().acme_type(), "malformed");
        assert_eq!(v.caa("192.0.2.1").await.unwrap(), vec![], "no CAA for addresses, and no query sent");
        assert!(Validator::new(ResolverConfig { timeout: Duration::ZERO, ..Default::default() }).is_err());
    }
}
