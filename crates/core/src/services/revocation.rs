//! Revocation: revoke a certificate (by id, or by issuer and serial) or a subordinate authority with an RFC 5280
//! reason, lift a certificate hold, and tell the CRL and OCSP machinery that something changed.

use super::Services;
use crate::audit::EventDraft;
use crate::auth::{Ctx, Permission};
use crate::ca::{Authority, CertificateRecord};
use crate::clock::EpochSeconds;
use crate::revocation::{decode_hex, partition_of, Revocation, RevocationReason};
use crate::store::{Store, StoreTx};
use crate::{CoreError, Result};
use serde_json::json;
use uuid::Uuid;

/// What a caller asks when revoking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokeRequest {
    pub reason: RevocationReason,
    /// When the key is known or suspected to have been compromised (epoch seconds, not in the future).
    pub invalidity_date: Option<EpochSeconds>,
    /// Destroy the managed private key (when the server holds one) in the same transaction.
    pub destroy_key: bool,
}

/// A certificate and its revocation, as revoke and release answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedCertificate {
    pub certificate: CertificateRecord,
    pub revocation: Revocation,
    /// Whether this call destroyed the managed key.
    pub key_destroyed: bool,
}

/// The URLs written into certificates so relying parties find revocation status.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RevocationUrls {
    pub ocsp: Vec<String>,
    pub crl: Vec<String>,
    pub ca_issuers: Vec<String>,
}

impl<S: Store> Services<S> {
    /// The OCSP, CRL distribution point and caIssuers URLs for a certificate `issuer` signs with `serial`: a
    /// leaf names its CRL partition, a CA certificate the issuer's full CRL. Empty without a public URL.
    pub(crate) fn revocation_urls(&self, issuer: &Authority, serial: &[u8], is_ca: bool) -> RevocationUrls {
        let Some(base) = self.settings.public_http_url.as_deref() else { return RevocationUrls::default() };
        let base = base.trim_end_matches('/');
        let crl = if is_ca {
            format!("{base}/crl/{}.crl", issuer.uuid)
        } else {
            format!("{base}/crl/{}/{}.crl", issuer.uuid, partition_of(serial, issuer.crl_partitions))
        };
        RevocationUrls {
            ocsp: vec![format!("{base}/ocsp")],
            crl: vec![crl],
            ca_issuers: vec![format!("{base}/ca/{}.crt", issuer.uuid)],
        }
    }

    /// Revokes a certificate of the inventory that one of this server's authorities issued.
    pub async fn revoke_certificate(&self, ctx: &Ctx, uuid: Uuid, req: &RevokeRequest) -> Result<RevokedCertificate> {
        ctx.caller.require(Permission::RevokeCertificates)?;
        self.revoke(ctx, uuid, req).await
    }

    /// Revokes the certificate an authority (by uuid or name) issued with `serial` (hex, any case, `:` allowed).
    pub async fn revoke_by_serial(
        &self,
        ctx: &Ctx,
        authority: &str,
        serial: &str,
        req: &RevokeRequest,
    ) -> Result<RevokedCertificate> {
        ctx.caller.require(Permission::RevokeCertificates)?;
        let authority = self.authority_by_reference(authority).await?;
        let serial = normalize_serial(serial)?;
        let record = self
            .store
            .certificate_by_serial(&authority, &serial)
            .await?
            .ok_or_else(|| CoreError::not_found("certificate.not_found", "certificate", &serial))?;
        self.revoke(ctx, record.uuid, req).await
    }

    /// Lifts a `certificateHold`: the certificate is valid again; the next delta CRL says `removeFromCRL`.
    pub async fn release_hold(&self, ctx: &Ctx, uuid: Uuid) -> Result<RevokedCertificate> {
        ctx.caller.require(Permission::RevokeCertificates)?;
        let (mut tx, head) = self.begin().await?;
        let mut record = tx
            .certificate_for_update(uuid)
            .await?
            .ok_or_else(|| CoreError::not_found("certificate.not_found", "certificate", uuid))?;
        let authority_id = record.authority_id.ok_or_else(not_revoked)?;
        let mut revocation = tx
            .revocation_for_update(authority_id, &record.serial)
            .await?
            .filter(Revocation::in_force)
            .ok_or_else(not_revoked)?;
        if revocation.reason != RevocationReason::CertificateHold {
            return Err(CoreError::Conflict {
                code: "revocation.not_on_hold",
                message: format!(
                    "the certificate was revoked for {}, which is permanent; only certificateHold can be lifted",
                    revocation.reason.name()
                ),
            });
        }
        let now = self.clock.now();
        revocation.released_at = Some(now);
        revocation.changed_at = now;
        tx.update_revocation(&revocation).await?;
        tx.set_certificate_state(record.id, "issued").await?;
        let draft = EventDraft::success("certificate.release_hold", "certificate", record.uuid)
            .with_details(json!({ "serial": record.serial }));
        self.commit_with_event(tx, &head, ctx, draft).await?;
        record.state = "issued".to_owned();
        self.revocation_changed(authority_id, &record.serial);
        Ok(RevokedCertificate { certificate: record, revocation, key_destroyed: false })
    }

    /// The revocation of an inventory certificate, when it has one (lifted holds included).
    pub async fn revocation_of(&self, record: &CertificateRecord) -> Result<Option<Revocation>> {
        match record.authority_id {
            Some(a) => self.store.revocation(a, &record.serial).await,
            None => Ok(None),
        }
    }

    /// Revokes a subordinate authority's certificate: its issuer's CRLs and OCSP answers list it. Admins only.
    pub async fn revoke_authority(&self, ctx: &Ctx, uuid: Uuid, req: &RevokeRequest) -> Result<Revocation> {
        ctx.caller.require(Permission::ManageAuthorities)?;
        check_request(req, self.clock.now())?;
        let snapshot = self.snapshot().await?;
        let subject = snapshot
            .authorities
            .iter()
            .find(|a| a.uuid == uuid)
            .cloned()
            .ok_or_else(|| CoreError::not_found("authority.not_found", "authority", uuid))?;
        let issuer_id = subject.parent_id.ok_or_else(|| {
            CoreError::invalid(
                "revocation.root",
                format!(
                    "'{}' is a root: nothing above it can list it as revoked; remove it from trust stores instead",
                    subject.name
                ),
            )
        })?;
        let cert = certwright_pki::cert::Cert::from_der(&subject.certificate_der)?;
        let serial = cert.serial_hex();
        let (mut tx, head) = self.begin().await?;
        if let Some(existing) = tx.revocation_for_update(issuer_id, &serial).await?.filter(Revocation::in_force) {
            return Err(already_revoked(&existing));
        }
        let now = self.clock.now();
        // A revoked authority issues nothing more: its RA profiles are switched off with it.
        let mut disabled = Vec::new();
        for profile in snapshot.profiles.iter().filter(|p| p.authority_id == subject.id && p.enabled) {
            let mut off = profile.clone();
            off.enabled = false;
            off.updated_at = now;
            tx.update_ra_profile(&off).await?;
            disabled.push(off.name);
        }
        // Partition CRLs list end-entity certificates only, so a CA's revocation counts as one partition's.
        let mut revocation =
            new_revocation(issuer_id, &serial, &subject_serial_bytes(&serial)?, 1, subject.not_after, now, req);
        revocation.subject_authority_id = Some(subject.id);
        revocation.id = upsert(&mut tx, revocation.clone()).await?;
        let draft = EventDraft::success("authority.revoke", "authority", subject.uuid).with_details(json!({
            "serial": serial, "reason": req.reason.name(), "invalidity_date": req.invalidity_date,
            "disabled_ra_profiles": disabled,
        }));
        self.commit_with_event(tx, &head, ctx, draft).await?;
        self.invalidate_snapshot();
        self.revocation_changed(issuer_id, &serial);
        Ok(revocation)
    }

    async fn revoke(&self, ctx: &Ctx, uuid: Uuid, req: &RevokeRequest) -> Result<RevokedCertificate> {
        self.revoke_noting(ctx, uuid, req, &[]).await
    }

    /// Revokes at once, writing the request attributes (already checked) into the event.
    pub(crate) async fn revoke_noting(
        &self,
        ctx: &Ctx,
        uuid: Uuid,
        req: &RevokeRequest,
        attributes: &[crate::attributes::AttributeValue],
    ) -> Result<RevokedCertificate> {
        check_request(req, self.clock.now())?;
        let (mut tx, head) = self.begin().await?;
        let record = tx
            .certificate_for_update(uuid)
            .await?
            .ok_or_else(|| CoreError::not_found("certificate.not_found", "certificate", uuid))?;
        let authority_id = record.authority_id.ok_or_else(|| {
            CoreError::invalid(
                "revocation.foreign_issuer",
                "this certificate was not issued by an authority of this server, so no CRL or OCSP answer of ours can revoke it; revoke it at its issuer",
            )
        })?;
        let snapshot = self.snapshot().await?;
        let authority = snapshot
            .authorities
            .iter()
            .find(|a| a.id == authority_id)
            .cloned()
            .ok_or_else(|| CoreError::not_found("authority.not_found", "authority", authority_id))?;
        if record.state == "pending_revoke" {
            return Err(CoreError::Conflict {
                code: crate::lifecycle::ILLEGAL_TRANSITION,
                message: "Certificate is in PENDING_REVOKE state: confirm or cancel the pending revocation".to_owned(),
            });
        }
        let profile_wants_approval = match record.ra_profile_id {
            Some(id) => snapshot.profiles.iter().any(|p| p.id == id && p.policy.approval.revoke),
            None => false,
        };
        if !authority.is_internal() || profile_wants_approval {
            return Err(CoreError::Conflict {
                code: "revocation.asynchronous",
                message:
                    "revoking this certificate needs approval or its external authority; request the revocation instead"
                        .to_owned(),
            });
        }
        // A CA certificate in the inventory is revoked as an authority: admins only.
        if certwright_pki::cert::Cert::from_der(&record.der)?.ca()?.is_some() {
            ctx.caller.require(Permission::ManageAuthorities)?;
        }
        let (revoked, mut draft) = self.revoke_in(&mut tx, record, &authority, req).await?;
        if let (false, Some(map)) = (attributes.is_empty(), draft.details.as_object_mut()) {
            map.insert("attributes".to_owned(), json!(attributes));
        }
        self.commit_with_event(tx, &head, ctx, draft).await?;
        self.revocation_changed(authority_id, &revoked.certificate.serial);
        Ok(revoked)
    }

    /// Revokes `record` (locked in `tx`) at `authority`: the revocation row, the state, the key destruction. The
    /// caller appends the returned event and commits.
    pub(crate) async fn revoke_in(
        &self,
        tx: &mut S::Tx,
        mut record: CertificateRecord,
        authority: &Authority,
        req: &RevokeRequest,
    ) -> Result<(RevokedCertificate, EventDraft)> {
        let authority_id = authority.id;
        if authority.key_id.is_none() && authority.is_internal() {
            return Err(CoreError::invalid(
                "revocation.no_key",
                format!(
                    "authority '{}' holds no key, so it can sign no CRL or OCSP answer to revoke with",
                    authority.name
                ),
            ));
        }
        let existing = tx.revocation_for_update(authority_id, &record.serial).await?;
        // The time of the change is taken once the rows are locked, so that it is no earlier than any CRL signed
        // before this transaction could commit.
        let now = self.clock.now();
        let serial_bytes = subject_serial_bytes(&record.serial)?;
        let mut revocation = match existing {
            // A hold may become a permanent revocation; anything else in force is final.
            Some(r)
                if r.in_force()
                    && !(r.reason == RevocationReason::CertificateHold
                        && req.reason != RevocationReason::CertificateHold) =>
            {
                return Err(already_revoked(&r));
            }
            Some(r) => Revocation {
                id: r.id,
                ..new_revocation(
                    authority_id,
                    &record.serial,
                    &serial_bytes,
                    authority.crl_partitions,
                    record.not_after,
                    now,
                    req,
                )
            },
            None => new_revocation(
                authority_id,
                &record.serial,
                &serial_bytes,
                authority.crl_partitions,
                record.not_after,
                now,
                req,
            ),
        };
        revocation.certificate_id = Some(record.id);
        revocation.id = upsert(tx, revocation.clone()).await?;
        tx.set_certificate_state(record.id, "revoked").await?;
        let key_destroyed = match (req.destroy_key, record.key_id) {
            (true, Some(key_id)) => tx.destroy_key(key_id, now).await?,
            _ => false,
        };
        let draft = EventDraft::success("certificate.revoke", "certificate", record.uuid).with_details(json!({
            "serial": record.serial, "authority": authority.uuid, "reason": req.reason.name(),
            "invalidity_date": req.invalidity_date, "destroy_key_requested": req.destroy_key,
            "key_destroyed": key_destroyed,
        }));
        record.state = "revoked".to_owned();
        Ok((RevokedCertificate { certificate: record, revocation, key_destroyed }, draft))
    }

    /// An authority by uuid or by name.
    pub(crate) async fn authority_by_reference(&self, reference: &str) -> Result<Authority> {
        let snapshot = self.snapshot().await?;
        let by_uuid = Uuid::parse_str(reference).ok();
        snapshot
            .authorities
            .iter()
            .find(|a| Some(a.uuid) == by_uuid || a.name == reference)
            .cloned()
            .ok_or_else(|| CoreError::not_found("authority.not_found", "authority", reference))
    }
}

async fn upsert<T: StoreTx>(tx: &mut T, revocation: Revocation) -> Result<i64> {
    if revocation.id == 0 {
        tx.insert_revocation(&revocation).await
    } else {
        tx.update_revocation(&revocation).await?;
        Ok(revocation.id)
    }
}

fn new_revocation(
    authority_id: i64,
    serial: &str,
    serial_bytes: &[u8],
    partitions: u32,
    not_after: EpochSeconds,
    now: EpochSeconds,
    req: &RevokeRequest,
) -> Revocation {
    Revocation {
        id: 0,
        authority_id,
        serial: serial.to_owned(),
        certificate_id: None,
        subject_authority_id: None,
        partition: partition_of(serial_bytes, partitions),
        not_after,
        revoked_at: now,
        reason: req.reason,
        invalidity_date: req.invalidity_date,
        released_at: None,
        changed_at: now,
    }
}

fn subject_serial_bytes(serial: &str) -> Result<Vec<u8>> {
    decode_hex(serial).ok_or_else(|| CoreError::Storage(format!("stored serial '{serial}' is not hex")))
}

pub(crate) fn check_request(req: &RevokeRequest, now: EpochSeconds) -> Result<()> {
    if req.reason == RevocationReason::RemoveFromCrl {
        return Err(CoreError::invalid(
            "revocation.invalid_reason",
            "removeFromCRL is not a reason to revoke; to lift a certificateHold, release the hold",
        ));
    }
    if req.invalidity_date.is_some_and(|d| d > now + 300) {
        return Err(CoreError::invalid("revocation.invalid_date", "invalidity_date lies in the future"));
    }
    if req.invalidity_date.is_some_and(|d| d < 0) {
        return Err(CoreError::invalid("revocation.invalid_date", "invalidity_date lies before 1970"));
    }
    Ok(())
}

fn already_revoked(r: &Revocation) -> CoreError {
    CoreError::Conflict {
        code: "certificate.already_revoked",
        message: format!(
            "serial {} was already revoked ({}) at {}",
            r.serial,
            r.reason.name(),
            crate::clock::to_rfc3339(r.revoked_at)
        ),
    }
}

fn not_revoked() -> CoreError {
    CoreError::Conflict { code: "revocation.not_on_hold", message: "the certificate is not on hold".to_owned() }
}

/// A serial as operators type it (`0A:1B…`, `0x0a1b`, upper case) in the stored spelling: lower-case hex
/// without leading zeros.
pub(crate) fn normalize_serial(s: &str) -> Result<String> {
    let bad = || CoreError::invalid("revocation.invalid_serial", format!("'{s}' is not a hexadecimal serial number"));
    let s = s.trim();
    let s = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")).unwrap_or(s);
    let hex: String = s.chars().filter(|c| *c != ':' && *c != ' ').collect::<String>().to_lowercase();
    if hex.is_empty() || hex.len() > 42 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(bad());
    }
    Ok(certwright_pki::cert::serial_hex(&decode_hex(&hex).ok_or_else(bad)?))
}
