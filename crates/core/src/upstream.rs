//! The `UpstreamCa` port: obtaining and revoking certificates at an external CA reached by protocol (ACME),
//! for requests of RA profiles on an authority whose connector is [`crate::ca::Connector::Acme`].

use crate::ca::Authority;
use certwright_pki::names::San;
use std::future::Future;
use std::pin::Pin;

/// Why the upstream CA did not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamError {
    /// Worth trying again later (network, rate limits, the CA being busy).
    pub retryable: bool,
    pub message: String,
}

pub type Upstream<'a, T> = Pin<Box<dyn Future<Output = std::result::Result<T, UpstreamError>> + Send + 'a>>;

/// One certificate to obtain.
#[derive(Debug)]
pub struct UpstreamOrder<'a> {
    pub authority: &'a Authority,
    /// The account key (PKCS#8 DER) certwright holds for this authority.
    pub account_key: &'a [u8],
    /// The PKCS#10 request, signed by the subscriber's key.
    pub csr: &'a [u8],
    /// The names to validate.
    pub names: &'a [San],
}

/// Talks to upstream CAs. Implemented by the server with the connectors' ACME client.
pub trait UpstreamCa: Send + Sync + std::fmt::Debug {
    /// Obtains a certificate: the leaf first, then its chain (DER).
    fn issue<'a>(&'a self, order: UpstreamOrder<'a>) -> Upstream<'a, Vec<Vec<u8>>>;

    /// Revokes a certificate the authority issued (RFC 5280 reason code).
    fn revoke<'a>(
        &'a self,
        authority: &'a Authority,
        account_key: &'a [u8],
        certificate: &'a [u8],
        reason: u8,
    ) -> Upstream<'a, ()>;

    /// The key authorization to serve at `/.well-known/acme-challenge/{token}` while an order is validated.
    fn http01_answer(&self, token: &str) -> Option<String>;
}
