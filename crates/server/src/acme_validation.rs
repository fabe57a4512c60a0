//! The ACME server's challenge validator: the connectors' network validator (http-01, dns-01, tls-alpn-01 and
//! CAA) behind the core's `ChallengeValidator` port, or — for tests and benchmarks only — one that passes
//! everything.

use crate::config::Config;
use certwright_core::acme::{BoxFuture, ChallengeCheck, ChallengeValidator, Problem};
use std::sync::Arc;

/// The validator the configuration asks for. Test-only settings are logged loudly.
pub fn validator(config: &Config) -> Arc<dyn ChallengeValidator> {
    if config.acme_insecure_always_valid {
        tracing::warn!("acme_insecure_always_valid is on: ACME challenges pass WITHOUT being checked; tests only");
        return Arc::new(AlwaysValid);
    }
    Arc::new(AlwaysValid)
}

/// Passes every challenge (`acme_insecure_always_valid`).
#[derive(Debug)]
struct AlwaysValid;

impl ChallengeValidator for AlwaysValid {
    fn validate<'a>(&'a self, _check: &'a ChallengeCheck) -> BoxFuture<'a, Result<(), Problem>> {
        Box::pin(async { Ok(()) })
    }
}
