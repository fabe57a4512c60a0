//! The ACME server's challenge validator: the connectors' network validator (http-01, dns-01, tls-alpn-01 and
//! CAA) behind the core's `ChallengeValidator` port, or — for tests and benchmarks only — one that passes
//! everything.

use crate::config::Config;
use certwright_connectors::challenge::{ChallengeError, Ident, ResolverConfig, Validator};
use certwright_core::acme::{BoxFuture, ChallengeCheck, ChallengeType, ChallengeValidator, Identifier, Problem};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// The validator the configuration asks for. Test-only settings are logged loudly.
pub fn validator(config: &Config) -> Arc<dyn ChallengeValidator> {
    if config.acme_insecure_always_valid {
        tracing::warn!("acme_insecure_always_valid is on: ACME challenges pass WITHOUT being checked; tests only");
        return Arc::new(AlwaysValid);
    }
    let mut overrides: HashMap<String, Vec<IpAddr>> = HashMap::new();
    for entry in &config.acme_resolve {
        if let Some((name, ip)) = entry.split_once('=') {
            if let Ok(ip) = ip.trim().parse() {
                overrides.entry(name.trim().to_ascii_lowercase()).or_default().push(ip);
            }
        }
    }
    let resolver = ResolverConfig {
        dns_server: config.acme_dns_server,
        overrides,
        http01_port: config.acme_http01_port,
        tlsalpn01_port: config.acme_tlsalpn01_port,
        timeout: Duration::from_secs(config.acme_validation_timeout_seconds),
        ..ResolverConfig::default()
    };
    if resolver.is_non_standard() {
        tracing::warn!(
            dns_server = ?resolver.dns_server,
            overrides = resolver.overrides.len(),
            http01_port = resolver.http01_port,
            tlsalpn01_port = resolver.tlsalpn01_port,
            "ACME validation uses test settings (a chosen DNS server, fixed answers or moved ports)"
        );
    }
    match Validator::new(resolver) {
        Ok(v) => Arc::new(Network(v)),
        Err(e) => {
            tracing::error!(error = %e, "cannot set up ACME challenge validation; challenges will fail");
            Arc::new(Broken(e.detail().to_owned()))
        }
    }
}

fn problem(e: ChallengeError) -> Problem {
    Problem::new(e.acme_type(), e.detail())
}

/// Checks challenges over the network, then CAA.
#[derive(Debug)]
struct Network(Validator);

impl ChallengeValidator for Network {
    fn validate<'a>(&'a self, check: &'a ChallengeCheck) -> BoxFuture<'a, Result<(), Problem>> {
        Box::pin(async move {
            let ident = match &check.identifier {
                Identifier::Dns(name) => Ident::Dns(name.clone()),
                Identifier::Ip(ip) => Ident::Ip(*ip),
            };
            match check.kind {
                ChallengeType::Http01 => self.0.http01(&ident, &check.token, &check.key_authorization).await,
                ChallengeType::Dns01 => self.0.dns01(&check.identifier.value(), &check.key_authorization).await,
                ChallengeType::TlsAlpn01 => self.0.tls_alpn01(&ident, &check.key_authorization).await,
            }
            .map_err(problem)?;
            if let (Identifier::Dns(name), false) = (&check.identifier, check.caa_identities.is_empty()) {
                let name = if check.wildcard { format!("*.{name}") } else { name.clone() };
                self.0
                    .check_caa(&name, &check.caa_identities, &check.account_uri, check.kind.as_str())
                    .await
                    .map_err(problem)?;
            }
            Ok(())
        })
    }
}

/// Fails every challenge with the reason validation could not be set up.
#[derive(Debug)]
struct Broken(String);

impl ChallengeValidator for Broken {
    fn validate<'a>(&'a self, _check: &'a ChallengeCheck) -> BoxFuture<'a, Result<(), Problem>> {
        let detail = format!("challenge validation is not available: {}", self.0);
        Box::pin(async move { Err(Problem::new("serverInternal", detail)) })
    }
}

/// Passes every challenge (`acme_insecure_always_valid`).
#[derive(Debug)]
struct AlwaysValid;

impl ChallengeValidator for AlwaysValid {
    fn validate<'a>(&'a self, _check: &'a ChallengeCheck) -> BoxFuture<'a, Result<(), Problem>> {
        Box::pin(async { Ok(()) })
    }
}
