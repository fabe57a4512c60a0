//! The `UpstreamCa` port with the connectors' ACME client: accounts per authority (registered on first use, the
//! key held sealed like every managed key), orders validated by http-01 answered on the plain-HTTP listener at
//! `/.well-known/acme-challenge/{token}`.

use certwright_connectors::acme::{Account, AccountKey, AcmeClient, AcmeError, Http01Tokens, Identifier, PollPolicy};
use certwright_core::ca::{Authority, Connector};
use certwright_core::upstream::{Upstream, UpstreamCa, UpstreamError, UpstreamOrder};
use certwright_pki::names::San;
use std::collections::HashMap;
use std::sync::Mutex;
use uuid::Uuid;

/// ACME towards upstream CAs.
#[derive(Debug, Default)]
pub struct AcmeUpstream {
    tokens: Http01Tokens,
    /// Account URLs by authority, learnt at the first registration of this process.
    accounts: Mutex<HashMap<Uuid, String>>,
}

fn failed(e: AcmeError) -> UpstreamError {
    UpstreamError { retryable: e.is_retryable(), message: e.to_string() }
}

fn permanent(message: impl Into<String>) -> UpstreamError {
    UpstreamError { retryable: false, message: message.into() }
}

/// An HTTP client trusting the system's roots and the authority's extra ones.
fn http_client(extra_pem: Option<&str>) -> Result<reqwest::Client, UpstreamError> {
    let mut builder = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none());
    for der in rustls_native_certs::load_native_certs().certs {
        if let Ok(c) = reqwest::Certificate::from_der(&der) {
            builder = builder.add_root_certificate(c);
        }
    }
    if let Some(pem) = extra_pem {
        let blocks = certwright_pki::pem::decode_all(pem).map_err(|e| permanent(format!("tls_roots_pem: {e}")))?;
        for (_, der) in blocks.iter().filter(|(label, _)| label == "CERTIFICATE") {
            let c = reqwest::Certificate::from_der(der).map_err(|e| permanent(format!("tls_roots_pem: {e}")))?;
            builder = builder.add_root_certificate(c);
        }
    }
    builder.build().map_err(|e| permanent(format!("HTTP client: {e}")))
}

impl AcmeUpstream {
    async fn session(&self, authority: &Authority, account_key: &[u8]) -> Result<(AcmeClient, Account), UpstreamError> {
        let Some(Connector::Acme { directory_url, contact, tls_roots_pem }) = &authority.connector else {
            return Err(permanent(format!("'{}' is not an ACME authority", authority.name)));
        };
        let client = AcmeClient::new(directory_url, http_client(tls_roots_pem.as_deref())?).await.map_err(failed)?;
        let key = AccountKey::from_pkcs8(account_key).map_err(failed)?;
        let known = self.accounts.lock().ok().and_then(|m| m.get(&authority.uuid).cloned());
        let account = match known {
            Some(url) => Account::new(url, key),
            // newAccount with a known key answers the existing account.
            None => {
                let account = client.register(&key, contact, None).await.map_err(failed)?;
                if let Ok(mut m) = self.accounts.lock() {
                    m.insert(authority.uuid, account.url.clone());
                }
                account
            }
        };
        Ok((client, account))
    }
}

impl UpstreamCa for AcmeUpstream {
    fn issue<'a>(&'a self, order: UpstreamOrder<'a>) -> Upstream<'a, Vec<Vec<u8>>> {
        Box::pin(async move {
            let (client, account) = self.session(order.authority, order.account_key).await?;
            let identifiers = order
                .names
                .iter()
                .map(|n| match n {
                    San::Dns(d) => Ok(Identifier::Dns(d.clone())),
                    San::Ip(ip) => Ok(Identifier::Ip(*ip)),
                    other => Err(permanent(format!(
                        "an ACME CA validates DNS names and IP addresses, not {}",
                        other.to_api()
                    ))),
                })
                .collect::<Result<Vec<_>, _>>()?;
            if identifiers.is_empty() {
                return Err(permanent("the request names no DNS name or IP address for the ACME CA to validate"));
            }
            let issued = client
                // Each wait well inside the job's lease (core holds it for 15 minutes during an order).
                .issue(
                    &account,
                    order.csr,
                    &identifiers,
                    &self.tokens,
                    PollPolicy { timeout: std::time::Duration::from_secs(240), ..PollPolicy::default() },
                )
                .await
                .map_err(failed)?;
            let mut chain = vec![issued.certificate_der];
            chain.extend(issued.chain_der);
            Ok(chain)
        })
    }

    fn revoke<'a>(
        &'a self,
        authority: &'a Authority,
        account_key: &'a [u8],
        certificate: &'a [u8],
        reason: u8,
    ) -> Upstream<'a, ()> {
        Box::pin(async move {
            let (client, account) = self.session(authority, account_key).await?;
            client.revoke(&account, certificate, Some(reason)).await.map_err(failed)
        })
    }

    fn http01_answer(&self, token: &str) -> Option<String> {
        self.tokens.key_authorization(token)
    }
}

/// `GET /.well-known/acme-challenge/{token}`: the key authorization of a pending upstream order, as text.
pub async fn http01(
    axum::extract::State(state): axum::extract::State<crate::state::AppState>,
    axum::extract::Path(token): axum::extract::Path<String>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    match state.services.upstream().and_then(|u| u.http01_answer(&token)) {
        Some(answer) => ([(axum::http::header::CONTENT_TYPE, "text/plain")], answer).into_response(),
        None => axum::http::StatusCode::NOT_FOUND.into_response(),
    }
}
