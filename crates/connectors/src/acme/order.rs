//! The order flow (RFC 8555 §7.4): newOrder, authorizations and their challenges, finalize with the CSR, polling
//! with `Retry-After` under a deadline, and the certificate download. An order can be started, its URL stored, and
//! resumed later from whatever state the CA reports.

use super::client::Reply;
use super::{Account, AcmeClient, AcmeError, ChallengeKind, ChallengeResponder, Identifier, Problem};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use serde::Deserialize;
use serde_json::json;
use std::time::Duration;
use tokio::time::Instant;

/// How to wait for the CA: the pause between polls when it sends no `Retry-After`, the longest pause honoured,
/// and the deadline for each wait (authorizations, then the order).
#[derive(Debug, Clone, Copy)]
pub struct PollPolicy {
    /// The pause between polls when the CA gives no `Retry-After`.
    pub interval: Duration,
    /// The longest pause taken, whatever `Retry-After` asks.
    pub max_interval: Duration,
    /// How long one wait (for the authorizations, or for the order) may take before `AcmeError::Timeout`.
    pub timeout: Duration,
}

impl Default for PollPolicy {
    /// 2 s between polls, at most 60 s, 5 minutes per wait.
    fn default() -> Self {
        PollPolicy {
            interval: Duration::from_secs(2),
            max_interval: Duration::from_secs(60),
            timeout: Duration::from_secs(300),
        }
    }
}

/// An order's status (RFC 8555 §7.1.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum OrderStatus {
    /// Authorizations remain to be completed.
    Pending,
    /// Every authorization is valid; the order awaits finalization.
    Ready,
    /// The CA is issuing.
    Processing,
    /// Issued: the certificate can be downloaded.
    Valid,
    /// Failed for good.
    Invalid,
}

/// An order as the CA reports it.
#[derive(Debug, Clone)]
pub struct Order {
    /// The order URL: store it to resume the order after a restart.
    pub url: String,
    /// Its status.
    pub status: OrderStatus,
    /// The identifiers ordered.
    pub identifiers: Vec<Identifier>,
    /// Authorization URLs.
    pub authorizations: Vec<String>,
    /// The finalize URL.
    pub finalize: String,
    /// The certificate URL, once valid.
    pub certificate: Option<String>,
    /// The error, when invalid.
    pub error: Option<Problem>,
}

#[derive(Debug, Deserialize)]
struct OrderBody {
    status: OrderStatus,
    #[serde(default)]
    identifiers: Vec<Identifier>,
    #[serde(default)]
    authorizations: Vec<String>,
    finalize: String,
    #[serde(default)]
    certificate: Option<String>,
    #[serde(default)]
    error: Option<Problem>,
}

impl Order {
    fn from_body(url: String, b: OrderBody) -> Self {
        Order {
            url,
            status: b.status,
            identifiers: b.identifiers,
            authorizations: b.authorizations,
            finalize: b.finalize,
            certificate: b.certificate,
            error: b.error,
        }
    }
}

#[derive(Debug, Deserialize)]
struct Authorization {
    status: String,
    identifier: Identifier,
    #[serde(default)]
    challenges: Vec<Challenge>,
    #[serde(default)]
    wildcard: bool,
}

#[derive(Debug, Clone, Deserialize)]
struct Challenge {
    #[serde(rename = "type")]
    kind: String,
    url: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    error: Option<Problem>,
}

/// What a finished order produced.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The end-entity certificate, DER.
    pub certificate_der: Vec<u8>,
    /// The rest of the chain the CA sent (issuer first), DER.
    pub chain_der: Vec<Vec<u8>>,
    /// The order URL.
    pub order_url: String,
}

/// A challenge the responder published, to be withdrawn once its authorization is settled.
struct Presented {
    kind: ChallengeKind,
    identifier: Identifier,
    token: String,
    key_authorization: String,
    authz_url: String,
}

impl AcmeClient {
    /// Obtains a certificate in one call: [`AcmeClient::start_order`] then [`AcmeClient::resume`].
    /// `csr_der` is the PKCS#10 request whose names must be exactly `identifiers`.
    pub async fn issue(
        &self,
        account: &Account,
        csr_der: &[u8],
        identifiers: &[Identifier],
        responder: &dyn ChallengeResponder,
        policy: PollPolicy,
    ) -> Result<Issued, AcmeError> {
        let order = self.start_order(account, identifiers).await?;
        self.resume(account, &order.url, csr_der, responder, policy).await
    }

    /// Places a new order for `identifiers` (newOrder). Store the returned `Order::url` to [`AcmeClient::resume`]
    /// it, now or after a restart.
    pub async fn start_order(&self, account: &Account, identifiers: &[Identifier]) -> Result<Order, AcmeError> {
        let url = self.directory().new_order.clone();
        let reply = self.post_signed(account, &url, &json!({ "identifiers": identifiers })).await?;
        let order_url = reply.location.clone().ok_or_else(|| AcmeError::Protocol {
            url: url.clone(),
            message: "newOrder answered without a Location header".into(),
        })?;
        Ok(Order::from_body(order_url, reply.json()?))
    }

    /// Reads an order's current state (POST-as-GET).
    pub async fn order(&self, account: &Account, order_url: &str) -> Result<Order, AcmeError> {
        Ok(self.fetch_order(account, order_url).await?.0)
    }

    /// Drives an order to its certificate from whatever state it is in: answers pending authorizations through
    /// `responder` (re-presenting challenges already in flight, so it is safe after a restart), finalizes with
    /// `csr_der` when ready, waits while processing, and downloads the certificate when valid.
    pub async fn resume(
        &self,
        account: &Account,
        order_url: &str,
        csr_der: &[u8],
        responder: &dyn ChallengeResponder,
        policy: PollPolicy,
    ) -> Result<Issued, AcmeError> {
        let mut order = self.order(account, order_url).await?;
        if order.status == OrderStatus::Pending {
            self.authorize(account, &order, responder, policy).await?;
            order = self.wait_order(account, order_url, policy, |s| s != OrderStatus::Pending).await?;
        }
        if order.status == OrderStatus::Ready {
            let payload = json!({ "csr": B64.encode(csr_der) });
            let reply = self.post_signed(account, &order.finalize, &payload).await?;
            order = Order::from_body(order_url.to_string(), reply.json()?);
        }
        if order.status == OrderStatus::Processing
            || (order.status == OrderStatus::Valid && order.certificate.is_none())
        {
            order = self
                .wait_order(account, order_url, policy, |s| s != OrderStatus::Processing && s != OrderStatus::Ready)
                .await?;
        }
        match (order.status, &order.certificate) {
            (OrderStatus::Valid, Some(cert_url)) => self.download(account, order_url, cert_url).await,
            (OrderStatus::Invalid, _) => {
                Err(AcmeError::OrderInvalid { order_url: order_url.into(), problem: order.error })
            }
            (status, _) => Err(AcmeError::Protocol {
                url: order_url.into(),
                message: format!("order is {status:?} after its authorizations were completed"),
            }),
        }
    }

    async fn fetch_order(&self, account: &Account, order_url: &str) -> Result<(Order, Reply), AcmeError> {
        let reply = self.post_as_get(account, order_url).await?;
        let order = Order::from_body(order_url.to_string(), reply.json()?);
        Ok((order, reply))
    }

    /// Presents and triggers every pending authorization's challenge, waits for all of them, then withdraws the
    /// responses whatever the outcome.
    async fn authorize(
        &self,
        account: &Account,
        order: &Order,
        responder: &dyn ChallengeResponder,
        policy: PollPolicy,
    ) -> Result<(), AcmeError> {
        let mut presented = Vec::new();
        let result = self.present_and_wait(account, order, responder, policy, &mut presented).await;
        for p in &presented {
            if let Err(message) = responder.cleanup(p.kind, &p.identifier, &p.token, &p.key_authorization).await {
                tracing::warn!(identifier = %p.identifier.value(), %message, "ACME challenge cleanup failed");
            }
        }
        result
    }

    async fn present_and_wait(
        &self,
        account: &Account,
        order: &Order,
        responder: &dyn ChallengeResponder,
        policy: PollPolicy,
        presented: &mut Vec<Presented>,
    ) -> Result<(), AcmeError> {
        let preferred = responder.kinds();
        for authz_url in &order.authorizations {
            let authz: Authorization = self.post_as_get(account, authz_url).await?.json()?;
            let shown = shown_name(&authz);
            match authz.status.as_str() {
                "valid" => continue,
                "pending" => {}
                other => {
                    return Err(AcmeError::ChallengeFailed {
                        problem: challenge_error(&authz),
                        identifier: format!("{shown} (authorization {other})"),
                    })
                }
            }
            let Some((kind, challenge)) = pick(&preferred, &authz.challenges) else {
                let offered = authz.challenges.iter().map(|c| c.kind.as_str()).collect::<Vec<_>>().join(", ");
                return Err(AcmeError::NoSupportedChallenge { identifier: shown, offered });
            };
            let key_authorization = account.key.key_authorization(&challenge.token);
            responder
                .present(kind, &authz.identifier, &challenge.token, &key_authorization)
                .await
                .map_err(|message| AcmeError::Responder { identifier: shown.clone(), message })?;
            presented.push(Presented {
                kind,
                identifier: authz.identifier.clone(),
                token: challenge.token.clone(),
                key_authorization,
                authz_url: authz_url.clone(),
            });
            // Only a pending challenge is triggered; one already processing (a resumed order) is just awaited.
            if challenge.status == "pending" {
                self.post_signed(account, &challenge.url, &json!({})).await?;
            }
        }
        let deadline = Instant::now() + policy.timeout;
        for p in presented.iter() {
            self.wait_authorization(account, &p.authz_url, policy, deadline).await?;
        }
        Ok(())
    }

    async fn wait_authorization(
        &self,
        account: &Account,
        authz_url: &str,
        policy: PollPolicy,
        deadline: Instant,
    ) -> Result<(), AcmeError> {
        loop {
            let reply = self.post_as_get(account, authz_url).await?;
            let authz: Authorization = reply.json()?;
            match authz.status.as_str() {
                "valid" => return Ok(()),
                "pending" => {}
                other => {
                    let shown = shown_name(&authz);
                    return Err(AcmeError::ChallengeFailed {
                        problem: challenge_error(&authz),
                        identifier: if other == "invalid" { shown } else { format!("{shown} (authorization {other})") },
                    });
                }
            }
            pause(policy, reply.retry_after, deadline, "authorization", authz_url, &authz.status).await?;
        }
    }

    async fn wait_order(
        &self,
        account: &Account,
        order_url: &str,
        policy: PollPolicy,
        done: impl Fn(OrderStatus) -> bool,
    ) -> Result<Order, AcmeError> {
        let deadline = Instant::now() + policy.timeout;
        loop {
            let (order, reply) = self.fetch_order(account, order_url).await?;
            // A valid order without its certificate URL yet is not done.
            let settled = done(order.status) && !(order.status == OrderStatus::Valid && order.certificate.is_none());
            if settled || order.status == OrderStatus::Invalid {
                return Ok(order);
            }
            let status = format!("{:?}", order.status).to_lowercase();
            pause(policy, reply.retry_after, deadline, "order", order_url, &status).await?;
        }
    }

    async fn download(&self, account: &Account, order_url: &str, cert_url: &str) -> Result<Issued, AcmeError> {
        let reply = self.post_as_get_pem(account, cert_url).await?;
        let text = std::str::from_utf8(&reply.body).map_err(|_| AcmeError::Protocol {
            url: cert_url.into(),
            message: "the certificate chain is not PEM text".into(),
        })?;
        let blocks = certwright_pki::pem::decode_all(text).map_err(|e| AcmeError::Protocol {
            url: cert_url.into(),
            message: format!("the certificate chain is not PEM: {e}"),
        })?;
        let mut certs = blocks.into_iter().filter(|(label, _)| label == "CERTIFICATE").map(|(_, der)| der);
        let certificate_der = certs.next().ok_or_else(|| AcmeError::Protocol {
            url: cert_url.into(),
            message: "the certificate chain holds no certificate".into(),
        })?;
        Ok(Issued { certificate_der, chain_der: certs.collect(), order_url: order_url.into() })
    }
}

/// Sleeps before the next poll: `Retry-After` when given (capped at `max_interval`), else `interval`; fails with
/// `Timeout` when the pause would end past the deadline.
async fn pause(
    policy: PollPolicy,
    retry_after: Option<Duration>,
    deadline: Instant,
    what: &'static str,
    url: &str,
    status: &str,
) -> Result<(), AcmeError> {
    let wait = retry_after.unwrap_or(policy.interval).min(policy.max_interval);
    if Instant::now() + wait > deadline {
        return Err(AcmeError::Timeout { what, url: url.into(), status: status.into() });
    }
    tokio::time::sleep(wait).await;
    Ok(())
}

/// The first challenge kind, in the responder's order of preference, that the CA offers.
fn pick<'a>(preferred: &[ChallengeKind], offered: &'a [Challenge]) -> Option<(ChallengeKind, &'a Challenge)> {
    preferred
        .iter()
        .find_map(|kind| offered.iter().find(|c| ChallengeKind::parse(&c.kind) == Some(*kind)).map(|c| (*kind, c)))
}

fn shown_name(authz: &Authorization) -> String {
    let value = authz.identifier.value();
    if authz.wildcard {
        format!("*.{value}")
    } else {
        value
    }
}

fn challenge_error(authz: &Authorization) -> Option<Problem> {
    authz.challenges.iter().find_map(|c| c.error.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ch(kind: &str) -> Challenge {
        Challenge {
            kind: kind.into(),
            url: format!("https://ca/{kind}"),
            status: "pending".into(),
            token: "t".into(),
            error: None,
        }
    }

    #[test]
    fn picks_the_responders_preferred_kind_among_those_offered() {
        let offered = vec![ch("tls-alpn-01"), ch("dns-01"), ch("http-01")];
        let (kind, c) = pick(&[ChallengeKind::Http01, ChallengeKind::Dns01], &offered).unwrap();
        assert_eq!((kind, c.url.as_str()), (ChallengeKind::Http01, "https://ca/http-01"));
        let (kind, _) = pick(&[ChallengeKind::Dns01, ChallengeKind::Http01], &offered).unwrap();
        assert_eq!(kind, ChallengeKind::Dns01);
        assert!(pick(&[ChallengeKind::Http01], &[ch("dns-01")]).is_none());
    }

    #[test]
    fn order_body_parses_rfc8555_example() {
        let body: OrderBody = serde_json::from_str(
            r#"{"status":"pending","expires":"2016-01-05T14:09:07.99Z","notBefore":"2016-01-01T00:00:00Z",
                "identifiers":[{"type":"dns","value":"www.example.org"},{"type":"dns","value":"example.org"}],
                "authorizations":["https://example.com/acme/authz/PAniVnsZcis"],
                "finalize":"https://example.com/acme/order/TOlocE8rfgo/finalize"}"#,
        )
        .unwrap();
        let order = Order::from_body("https://example.com/acme/order/TOlocE8rfgo".into(), body);
        assert_eq!(order.status, OrderStatus::Pending);
        assert_eq!(order.identifiers[1], Identifier::dns("example.org"));
        assert!(order.certificate.is_none());
    }

    #[test]
    fn identifiers_serialize_as_rfc8555_objects() {
        let v =
            serde_json::to_value([Identifier::dns("a.example"), Identifier::Ip("192.0.2.1".parse().unwrap())]).unwrap();
        assert_eq!(v, json!([{"type":"dns","value":"a.example"},{"type":"ip","value":"192.0.2.1"}]));
    }
}
