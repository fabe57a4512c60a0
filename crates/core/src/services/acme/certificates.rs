//! What ACME orders end in: finalization (CSR checks, issuance into the inventory with origin `acme`), the
//! certificate download, revocation by the account or by the certificate's key (RFC 8555 §7.6), and renewal
//! information (RFC 9773).

use super::{error, problem};
use crate::acme::{Account, CertId, Identifier, Order, OrderStatus, RenewalWindow};
use crate::audit::EventDraft;
use crate::ca::{CertificateRecord, Origin, RaProfile};
use crate::lifecycle::LinkKind;
use crate::services::issuance::record_of;
use crate::services::{RevokeOutcome, RevokeRequest, Services};
use crate::store::{Store, StoreTx};
use crate::{CoreError, Result};
use certwright_pki::cert::Cert;
use certwright_pki::csr::Csr;
use certwright_pki::jose::Jwk;
use certwright_pki::names::San;
use certwright_pki::revocation::RevocationReason;
use serde_json::json;
use std::collections::BTreeSet;
use uuid::Uuid;

/// Who asks to revoke: an account (by its `kid`) or whoever holds the certificate's key (`jwk`).
#[derive(Debug, Clone)]
pub enum Revoker<'a> {
    Account(&'a Account),
    CertificateKey(&'a Jwk),
}

/// The names a CSR asks for, as order identifiers.
fn csr_identifiers(csr: &Csr) -> Result<BTreeSet<Identifier>> {
    let mut names = BTreeSet::new();
    for san in &csr.sans {
        match san {
            San::Dns(d) => names.insert(Identifier::Dns(d.to_ascii_lowercase())),
            San::Ip(ip) => names.insert(Identifier::Ip(*ip)),
            other => {
                return Err(problem(
                    error::BAD_CSR,
                    format!("the CSR asks for {}, which an order cannot authorize", other.to_api()),
                ))
            }
        };
    }
    if let Some(cn) = certwright_pki::names::first_common_name(&csr.subject) {
        let id = match cn.parse() {
            Ok(ip) => Identifier::Ip(ip),
            Err(_) => Identifier::Dns(cn.to_ascii_lowercase()),
        };
        if !names.contains(&id) {
            return Err(problem(error::BAD_CSR, format!("the CSR's common name '{cn}' is not among its SANs")));
        }
    }
    Ok(names)
}

impl<S: Store> Services<S> {
    /// finalize (RFC 8555 §7.4): the CSR must name exactly the order's identifiers with a key the profile admits
    /// (not the account key); the certificate is issued at once and the order becomes valid.
    pub async fn acme_finalize(&self, profile: &RaProfile, account: &Account, uuid: Uuid, csr: &[u8]) -> Result<Order> {
        let order = self.acme_order(account, uuid).await?;
        if order.status != OrderStatus::Ready {
            return Err(problem(error::ORDER_NOT_READY, format!("the order is {}, not ready", order.status.as_str())));
        }
        let csr = Csr::parse(csr).map_err(|e| problem(error::BAD_CSR, e.to_string()))?;
        let policy = &profile.policy;
        policy.check_csr_signature(csr.signature_algorithm).map_err(|e| problem(error::BAD_CSR, e.to_string()))?;
        let key_name = policy.check_key(csr.public_key.kind).map_err(|e| problem(error::BAD_CSR, e.to_string()))?;
        if Jwk::from_spki(csr.public_key.der()).is_ok_and(|k| k.thumbprint() == account.thumbprint) {
            return Err(problem(error::BAD_CSR, "the certificate key must not be the account key"));
        }
        let asked = csr_identifiers(&csr)?;
        let ordered: BTreeSet<Identifier> = order.identifiers.iter().cloned().collect();
        if asked != ordered {
            let extra: Vec<String> = asked.difference(&ordered).map(Identifier::value).collect();
            let missing: Vec<String> = ordered.difference(&asked).map(Identifier::value).collect();
            return Err(problem(
                error::BAD_CSR,
                format!(
                    "the CSR's names must be the order's identifiers (not ordered: [{}]; missing: [{}])",
                    extra.join(", "),
                    missing.join(", ")
                ),
            ));
        }
        // The policy in force now, not the one the order was placed under, decides (the common name is a SAN).
        policy.check_names(None, &csr.sans).map_err(|e| problem(error::REJECTED_IDENTIFIER, e.to_string()))?;
        let template = order.profile.as_ref().and_then(|p| policy.acme.profiles.get(p));
        let days = match template.map(|t| t.validity_days).filter(|d| *d > 0) {
            Some(d) => d.min(policy.max_validity_days),
            None => policy.default_validity_days,
        };
        let ekus = match template.filter(|t| !t.extended_key_usage.is_empty()) {
            Some(t) => {
                crate::ca::Policy { extended_key_usage: t.extended_key_usage.clone(), ..Default::default() }.ekus()?
            }
            None => policy.ekus()?,
        };
        let authority = self
            .snapshot()
            .await?
            .authorities
            .iter()
            .find(|a| a.id == profile.authority_id)
            .cloned()
            .ok_or_else(|| problem(error::SERVER_INTERNAL, "the RA profile names a missing authority"))?;
        if !authority.is_internal() {
            return Err(problem(error::SERVER_INTERNAL, "ACME directories issue from internal authorities only"));
        }

        // Sign first; then, in one transaction, claim the order (a second finalize finds it taken and its
        // certificate is never stored), store the certificate and the order with their events.
        let ctx = super::account_ctx(account, profile);
        // The subject is the validated common name only: other attributes of the CSR's subject (an organization,
        // a second common name) were never validated and are not certified.
        let subject = match certwright_pki::names::first_common_name(&csr.subject) {
            Some(cn) => certwright_pki::names::common_name(&cn).map_err(|e| problem(error::BAD_CSR, e.to_string()))?,
            None => certwright_pki::names::Name::default(),
        };
        let cert = self.sign_certificate(&authority, &subject, &csr.public_key, &csr.sans, &ekus, days).await?;
        let now = self.clock.now();
        let mut record = record_of(&cert, &key_name, Origin::Acme, &ctx.caller.principal, now)?;
        record.authority_id = Some(authority.id);
        record.ra_profile_id = Some(profile.id);
        let (account_uuid, profile_name, authority_uuid) = (account.uuid, profile.name.clone(), authority.uuid);
        let after: Option<crate::services::writer::AfterCommit<Order>> =
            self.acme_recent().map(|recent| Box::new(move |order: &Order| recent.keep_order(order)) as _);
        let (claimed, events) = self
            .writes
            .write(
                ctx,
                move |tx| {
                    let (mut record, profile_name) = (record.clone(), profile_name.clone());
                    Box::pin(async move {
                        let mut claimed = tx
                            .acme_order_for_update(uuid)
                            .await?
                            .filter(|o| o.status == OrderStatus::Pending || o.status == OrderStatus::Ready)
                            .ok_or_else(|| problem(error::ORDER_NOT_READY, "the order is being finalized already"))?;
                        record.id = tx.insert_certificate(&record).await?;
                        claimed.status = OrderStatus::Valid;
                        claimed.certificate_id = Some(record.id);
                        claimed.certificate_uuid = Some(record.uuid);
                        claimed.updated_at = now;
                        tx.update_acme_order(&claimed).await?;
                        if let Some(previous) = claimed.replaces_certificate_id {
                            tx.insert_certificate_link(record.id, previous, LinkKind::RenewedFrom).await?;
                        }
                        let issue =
                            EventDraft::success("certificate.issue", "certificate", record.uuid).with_details(json!({
                                "serial": record.serial, "subject": record.subject, "sans": record.sans,
                                "ra_profile": profile_name, "authority": authority_uuid,
                                "origin": record.origin.as_str(), "key": "csr",
                            }));
                        let finalize = EventDraft::success("acme.order.finalize", "acme_order", claimed.uuid)
                            .with_details(
                                json!({ "account": account_uuid, "certificate": record.uuid, "serial": record.serial }),
                            );
                        Ok((claimed, vec![issue, finalize]))
                    })
                },
                after,
            )
            .await?;
        self.announce(&events).await;
        Ok(claimed)
    }

    /// A certificate this account obtained, with its issuer chain (issuing CA first, root last).
    pub async fn acme_certificate(&self, account: &Account, uuid: Uuid) -> Result<(CertificateRecord, Vec<Vec<u8>>)> {
        let record = self
            .store
            .certificate(uuid)
            .await?
            .filter(|r| r.created_by == account.principal())
            .ok_or_else(|| CoreError::not_found("acme.certificate_not_found", "certificate", uuid))?;
        let chain = self.chain_of(&record).await?;
        Ok((record, chain))
    }

    /// The inventory record of an ARI certificate identifier: the serial, from the authority whose key
    /// identifier it names.
    pub(crate) async fn certificate_by_cert_id(&self, id: &CertId) -> Result<Option<CertificateRecord>> {
        let serial = id.serial_hex();
        for authority in self.snapshot().await?.authorities.iter() {
            let Ok(cert) = Cert::from_der(&authority.certificate_der) else { continue };
            if cert.key_identifier().ok().as_deref() == Some(id.key_identifier.as_slice()) {
                if let Some(record) = self.store.certificate_by_serial(authority, &serial).await? {
                    return Ok(Some(record));
                }
            }
        }
        Ok(None)
    }

    /// revokeCert (RFC 8555 §7.6): by the account that obtained it, an account holding valid authorizations for
    /// all its names, or anyone signing with the certificate's key.
    pub async fn acme_revoke(
        &self,
        profile: &RaProfile,
        revoker: Revoker<'_>,
        certificate_der: &[u8],
        reason: Option<u8>,
    ) -> Result<()> {
        let reason = match reason {
            None => RevocationReason::Unspecified,
            Some(code) => RevocationReason::from_code(code)
                .filter(|r| !matches!(r, RevocationReason::RemoveFromCrl | RevocationReason::CertificateHold))
                .ok_or_else(|| problem(error::BAD_REVOCATION_REASON, format!("reason {code} is not accepted")))?,
        };
        let cert = Cert::from_der(certificate_der).map_err(|e| problem(error::MALFORMED, e.to_string()))?;
        let snapshot = self.snapshot().await?;
        let authority = snapshot.authorities.iter().find(|a| a.id == profile.authority_id);
        let record = match authority {
            Some(a) => self.store.certificate_by_serial(a, &cert.serial_hex()).await?,
            None => None,
        }
        .filter(|r| r.der == certificate_der && r.ra_profile_id == Some(profile.id))
        .ok_or_else(|| problem(error::MALFORMED, "this directory did not issue that certificate"))?;
        let allowed = match &revoker {
            Revoker::CertificateKey(jwk) => {
                let key = cert.public_key().map_err(|e| problem(error::MALFORMED, e.to_string()))?;
                Jwk::from_spki(key.der()).is_ok_and(|k| &k == *jwk)
            }
            Revoker::Account(account) => {
                record.created_by == account.principal() || self.holds_authorizations(account, &record).await?
            }
        };
        if !allowed {
            return Err(problem(error::UNAUTHORIZED, "the requester may not revoke this certificate"));
        }
        if record.state == "revoked" {
            return Err(problem(error::ALREADY_REVOKED, "the certificate is revoked already"));
        }
        let ctx = match &revoker {
            Revoker::Account(account) => super::account_ctx(account, profile),
            Revoker::CertificateKey(_) => super::acme_ctx(format!("acme-certificate-key:{}", record.uuid), profile),
        };
        let req = RevokeRequest { reason, invalidity_date: None, destroy_key: false };
        match self.request_revocation(&ctx, record.uuid, &req).await {
            Ok(RevokeOutcome::Revoked(_) | RevokeOutcome::Pending { .. }) => Ok(()),
            Err(CoreError::Conflict { code, .. }) if code.contains("revoked") => {
                Err(problem(error::ALREADY_REVOKED, "the certificate is revoked already"))
            }
            Err(e) => Err(e),
        }
    }

    /// Whether the account holds valid authorizations for every name of the certificate.
    async fn holds_authorizations(&self, account: &Account, record: &CertificateRecord) -> Result<bool> {
        let now = self.clock.now();
        for san in &record.sans {
            let identifier = match San::parse(san) {
                Ok(San::Dns(d)) => Identifier::Dns(d),
                Ok(San::Ip(ip)) => Identifier::Ip(ip),
                _ => return Ok(false),
            };
            let (name, wildcard) = identifier.authorization_name();
            if self.store.acme_reusable_authorization(account.id, &name, wildcard, now).await?.is_none() {
                return Ok(false);
            }
        }
        Ok(!record.sans.is_empty())
    }

    /// renewalInfo (RFC 9773 §4.2): the last third of the lifetime's first days for a healthy certificate; now
    /// for one that is revoked or about to be.
    pub async fn acme_renewal_info(&self, cert_id: &str) -> Result<(RenewalWindow, CertificateRecord)> {
        let id =
            CertId::parse(cert_id).ok_or_else(|| problem(error::MALFORMED, "not an ARI certificate identifier"))?;
        let record = self
            .certificate_by_cert_id(&id)
            .await?
            .ok_or_else(|| CoreError::not_found("acme.certificate_not_found", "certificate", cert_id))?;
        let now = self.clock.now();
        let window = renewal_window(&record, now);
        Ok((window, record))
    }
}

/// The suggested window: from two thirds of the lifetime for a tenth of it; at once (in the past) for a
/// certificate revoked or waiting to be.
pub(crate) fn renewal_window(record: &CertificateRecord, now: i64) -> RenewalWindow {
    if record.state == "revoked" || record.state == "pending_revoke" {
        return RenewalWindow { start: now - 3600, end: now - 60, retry_after: 3600 };
    }
    let lifetime = (record.not_after - record.not_before).max(1);
    let start = record.not_before + lifetime * 2 / 3;
    let end = (start + (lifetime / 10).max(60)).min(record.not_after);
    RenewalWindow { start, end, retry_after: 6 * 3600 }
}
