//! End entities under an RA profile: registered, listed, edited and deleted (revoking every certificate issued
//! for them), their password reset, and enrolment — a CSR signed for the entity's names once its username and
//! password check out, the certificate linked to the entity, its status moved to `generated`.

use super::issuance::{record_of, Issued};
use super::revocation::RevokeRequest;
use super::Services;
use crate::audit::EventDraft;
use crate::auth::{Ctx, Permission};
use crate::ca::{Origin, RaProfile};
use crate::end_entity::{
    check_details, check_password, check_subject, check_username, parse_alt_names, EndEntity, EndEntityChange,
    EndEntityStatus, NewEndEntity,
};
use crate::revocation::RevocationReason;
use crate::store::{Store, StoreTx};
use crate::{CoreError, Result};
use certwright_pki::csr::Csr;
use serde_json::json;
use uuid::Uuid;

fn not_found(username: &str) -> CoreError {
    CoreError::not_found("end_entity.not_found", "end entity", username)
}

/// Hashes a password off the async workers (PBKDF2 takes tens of milliseconds by design).
pub(super) async fn hash_password(password: String) -> Result<String> {
    let password = zeroize::Zeroizing::new(password);
    tokio::task::spawn_blocking(move || certwright_pki::digest::password_hash(&password))
        .await
        .map_err(|e| CoreError::Storage(format!("password hashing stopped: {e}")))?
        .map_err(CoreError::from)
}

pub(super) async fn password_matches(password: String, stored: String) -> Result<bool> {
    let password = zeroize::Zeroizing::new(password);
    tokio::task::spawn_blocking(move || certwright_pki::digest::password_matches(&password, &stored))
        .await
        .map_err(|e| CoreError::Storage(format!("password check stopped: {e}")))
}

impl<S: Store> Services<S> {
    /// The RA profile by uuid or name, when the caller may use it.
    async fn entity_profile(&self, ctx: &Ctx, profile: &str) -> Result<RaProfile> {
        let profile = self.find_ra_profile(profile).await?;
        if !ctx.caller.may_use_profile(&profile.name) {
            return Err(CoreError::Forbidden {
                role: ctx.caller.role.as_str().to_owned(),
                action: "use this RA profile (the token is limited to other profiles)",
            });
        }
        Ok(profile)
    }

    /// The end entities of an RA profile, by username.
    pub async fn end_entities(&self, ctx: &Ctx, profile: &str) -> Result<Vec<EndEntity>> {
        ctx.caller.require(Permission::ReadInventory)?;
        let profile = self.entity_profile(ctx, profile).await?;
        self.store.end_entities(profile.id).await
    }

    /// One end entity of an RA profile.
    pub async fn end_entity(&self, ctx: &Ctx, profile: &str, username: &str) -> Result<EndEntity> {
        ctx.caller.require(Permission::ReadInventory)?;
        let profile = self.entity_profile(ctx, profile).await?;
        self.store.end_entity(profile.id, username).await?.ok_or_else(|| not_found(username))
    }

    /// Registers an end entity under an RA profile, with status `new`.
    pub async fn create_end_entity(&self, ctx: &Ctx, profile: &str, new: NewEndEntity) -> Result<EndEntity> {
        ctx.caller.require(Permission::ManageRequests)?;
        let profile = self.entity_profile(ctx, profile).await?;
        check_username(&new.username)?;
        check_password(&new.password)?;
        check_subject(&new.subject_dn)?;
        check_details(new.subject_alt_name.as_deref(), new.email.as_deref(), &new.extension_data)?;
        let now = self.clock.now();
        let mut entity = EndEntity {
            id: 0,
            uuid: Uuid::new_v4(),
            ra_profile_id: profile.id,
            username: new.username.clone(),
            password_hash: hash_password(new.password.to_string()).await?,
            subject_dn: new.subject_dn.trim().to_owned(),
            subject_alt_name: new.subject_alt_name.filter(|a| !a.trim().is_empty()),
            email: new.email.filter(|e| !e.is_empty()),
            extension_data: new.extension_data,
            status: EndEntityStatus::New,
            created_by: ctx.caller.principal.clone(),
            created_at: now,
            updated_at: now,
        };
        let (mut tx, head) = self.begin().await?;
        entity.id = tx.insert_end_entity(&entity).await?;
        let draft = EventDraft::success("end_entity.create", "end_entity", entity.uuid).with_details(json!({
            "ra_profile": profile.name, "username": entity.username, "subject": entity.subject_dn,
        }));
        self.commit_with_event(tx, &head, ctx, draft).await?;
        Ok(entity)
    }

    /// Edits an end entity: what `change` sets is replaced, the rest kept.
    pub async fn update_end_entity(
        &self,
        ctx: &Ctx,
        profile: &str,
        username: &str,
        change: EndEntityChange,
    ) -> Result<EndEntity> {
        ctx.caller.require(Permission::ManageRequests)?;
        let profile = self.entity_profile(ctx, profile).await?;
        if let Some(p) = &change.password {
            check_password(p)?;
        }
        if let Some(s) = &change.subject_dn {
            check_subject(s)?;
        }
        check_details(
            change.subject_alt_name.as_deref(),
            change.email.as_deref(),
            change.extension_data.as_deref().unwrap_or_default(),
        )?;
        let password_hash = match &change.password {
            Some(p) => Some(hash_password(p.to_string()).await?),
            None => None,
        };
        let (mut tx, head) = self.begin().await?;
        let mut entity = tx.end_entity_for_update(profile.id, username).await?.ok_or_else(|| not_found(username))?;
        let before = entity.status;
        if let Some(h) = password_hash {
            entity.password_hash = h;
        }
        if let Some(s) = change.subject_dn {
            entity.subject_dn = s.trim().to_owned();
        }
        if let Some(a) = change.subject_alt_name {
            entity.subject_alt_name = Some(a).filter(|a| !a.trim().is_empty());
        }
        if let Some(e) = change.email {
            entity.email = Some(e).filter(|e| !e.is_empty());
        }
        if let Some(x) = change.extension_data {
            entity.extension_data = x;
        }
        if let Some(s) = change.status {
            entity.status = s;
        }
        entity.updated_at = self.clock.now();
        tx.update_end_entity(&entity).await?;
        let draft = EventDraft::success("end_entity.update", "end_entity", entity.uuid).with_details(json!({
            "ra_profile": profile.name, "username": entity.username, "subject": entity.subject_dn,
            "status": { "from": before.as_str(), "to": entity.status.as_str() },
            "password_changed": change.password.is_some(),
        }));
        self.commit_with_event(tx, &head, ctx, draft).await?;
        Ok(entity)
    }

    /// Lets an end entity enrol again with its password: its status goes back to `new`.
    pub async fn reset_end_entity_password(&self, ctx: &Ctx, profile: &str, username: &str) -> Result<EndEntity> {
        let change = EndEntityChange { status: Some(EndEntityStatus::New), ..Default::default() };
        self.update_end_entity(ctx, profile, username, change).await
    }

    /// Revokes every certificate issued for an end entity (reason `cessationOfOperation`) and deletes it, in one
    /// transaction. Returns the uuids of the certificates revoked now.
    pub async fn delete_end_entity(&self, ctx: &Ctx, profile: &str, username: &str) -> Result<Vec<Uuid>> {
        ctx.caller.require(Permission::ManageRequests)?;
        ctx.caller.require(Permission::RevokeCertificates)?;
        let profile = self.entity_profile(ctx, profile).await?;
        let (mut tx, head) = self.begin().await?;
        let entity = tx.end_entity_for_update(profile.id, username).await?.ok_or_else(|| not_found(username))?;
        let req =
            RevokeRequest { reason: RevocationReason::CessationOfOperation, invalidity_date: None, destroy_key: false };
        let mut events = Vec::new();
        let mut revoked = Vec::new();
        for uuid in tx.end_entity_certificates(entity.id).await? {
            let Some(record) = tx.certificate_for_update(uuid).await? else { continue };
            if record.state != "issued" {
                continue;
            }
            let authority = self.authority_of(&record).await?;
            let (r, draft) = self.revoke_in(&mut tx, record, &authority, &req).await?;
            revoked.push((authority.id, r.certificate.serial.clone(), r.certificate.uuid));
            events.push(draft);
        }
        tx.delete_end_entity(entity.id).await?;
        events.push(EventDraft::success("end_entity.delete", "end_entity", entity.uuid).with_details(json!({
            "ra_profile": profile.name, "username": entity.username,
            "revoked": revoked.iter().map(|(_, _, u)| u).collect::<Vec<_>>(),
        })));
        self.commit_with_events(tx, &head, ctx, events).await?;
        for (authority, serial, _) in &revoked {
            self.revocation_changed(*authority, serial);
        }
        Ok(revoked.into_iter().map(|(_, _, u)| u).collect())
    }

    /// Enrols an end entity: checks its password and status, signs the CSR's key for the entity's subject and
    /// alternative names under the RA profile's policy, and — in one transaction — stores the certificate, links
    /// it to the entity and sets the entity's status to `generated`. Only profiles that issue at once (internal
    /// authority, no approval) enrol.
    pub async fn enrol_end_entity(
        &self,
        ctx: &Ctx,
        profile: &str,
        username: &str,
        password: &str,
        csr: &[u8],
    ) -> Result<Issued> {
        ctx.caller.require(Permission::IssueCertificates)?;
        let profile = self.entity_profile(ctx, profile).await?;
        let entity = self.store.end_entity(profile.id, username).await?.ok_or_else(|| not_found(username))?;
        if !password_matches(password.to_owned(), entity.password_hash.clone()).await? {
            return Err(CoreError::invalid(
                "end_entity.wrong_password",
                format!("the password of end entity '{username}' is wrong"),
            ));
        }
        if !entity.status.may_enrol() {
            return Err(CoreError::invalid(
                "end_entity.not_enrollable",
                format!(
                    "end entity '{username}' has status {}: reset its password (or set its status to NEW) to enrol \
                     again",
                    entity.status.as_str().to_uppercase()
                ),
            ));
        }
        if !profile.enabled {
            return Err(CoreError::Conflict {
                code: "ra_profile.disabled",
                message: format!("RA profile '{}' is disabled: it issues no certificates", profile.name),
            });
        }
        let authority =
            self.snapshot().await?.authorities.iter().find(|a| a.id == profile.authority_id).cloned().ok_or_else(
                || CoreError::Storage(format!("RA profile '{}' names a missing authority", profile.name)),
            )?;
        let policy = &profile.policy;
        if !authority.is_internal() || policy.approval.issue {
            return Err(CoreError::Conflict {
                code: "request.asynchronous",
                message: format!(
                    "RA profile '{}' issues asynchronously (approval or an external authority); end entities enrol \
                     only through profiles that issue at once",
                    profile.name
                ),
            });
        }
        let csr = Csr::parse(csr).map_err(|e| CoreError::invalid("csr.invalid", e.to_string()))?;
        policy.check_csr_signature(csr.signature_algorithm)?;
        let subject = check_subject(&entity.subject_dn)?;
        let sans = parse_alt_names(entity.subject_alt_name.as_deref().unwrap_or_default())?;
        let key_name = policy.check_key(csr.public_key.kind)?;
        policy.check_names(certwright_pki::names::first_common_name(&subject).as_deref(), &sans)?;
        let days = policy.validity_days(None)?;
        let cert = self.sign_certificate(&authority, &subject, &csr.public_key, &sans, &policy.ekus()?, days).await?;

        let now = self.clock.now();
        let (mut tx, head) = self.begin().await?;
        let mut locked = tx.end_entity_for_update(profile.id, username).await?.ok_or_else(|| not_found(username))?;
        if locked.password_hash != entity.password_hash || !locked.status.may_enrol() {
            return Err(CoreError::Conflict {
                code: "end_entity.changed",
                message: format!("end entity '{username}' changed while enrolling; try again"),
            });
        }
        let mut record = record_of(&cert, &key_name, Origin::Request, &ctx.caller.principal, now)?;
        record.authority_id = Some(authority.id);
        record.ra_profile_id = Some(profile.id);
        record.id = tx.insert_certificate(&record).await?;
        tx.link_end_entity_certificate(locked.id, record.id).await?;
        let before = locked.status;
        locked.status = EndEntityStatus::Generated;
        locked.updated_at = now;
        tx.update_end_entity(&locked).await?;
        let events = vec![
            EventDraft::success("certificate.issue", "certificate", record.uuid).with_details(json!({
                "serial": record.serial, "subject": record.subject, "sans": record.sans,
                "ra_profile": profile.name, "authority": authority.uuid, "origin": record.origin.as_str(),
                "key": "csr", "end_entity": locked.username,
            })),
            EventDraft::success("end_entity.enrol", "end_entity", locked.uuid).with_details(json!({
                "ra_profile": profile.name, "username": locked.username, "certificate": record.uuid,
                "status": { "from": before.as_str(), "to": locked.status.as_str() },
            })),
        ];
        self.commit_with_events(tx, &head, ctx, events).await?;
        let chain = self.authority_chain(&authority).await?;
        Ok(Issued { record, chain, private_key_pkcs8: None, replayed: false })
    }

    /// The certificate an authority (by RFC 4514 subject) issued with `serial`, within an RA profile — for
    /// revocation by issuer and serial.
    pub async fn certificate_by_issuer_and_serial(
        &self,
        ctx: &Ctx,
        profile: &str,
        issuer_dn: &str,
        serial: &str,
    ) -> Result<crate::ca::CertificateRecord> {
        ctx.caller.require(Permission::ReadInventory)?;
        let profile = self.entity_profile(ctx, profile).await?;
        let wanted = certwright_pki::names::parse_dn(issuer_dn)
            .map_err(|e| CoreError::invalid("revocation.invalid_issuer", format!("issuerDN: {e}")))?;
        // The same name, whatever string types its attributes were written with.
        let wanted_der = certwright_pki::names::name_der(&wanted)?;
        let wanted_text = certwright_pki::names::dn_string(&wanted).to_lowercase();
        let same = |name: &certwright_pki::names::Name| {
            certwright_pki::names::name_der(name).ok().as_deref() == Some(wanted_der.as_slice())
                || certwright_pki::names::dn_string(name).to_lowercase() == wanted_text
        };
        let serial = super::revocation::normalize_serial(serial)?;
        let missing = || CoreError::not_found("certificate.not_found", "certificate", &serial);
        for authority in self.snapshot().await?.authorities.iter() {
            let Ok(cert) = certwright_pki::cert::Cert::from_der(&authority.certificate_der) else { continue };
            if !same(cert.subject()) {
                continue;
            }
            if let Some(record) = self.store.certificate_by_serial(authority, &serial).await? {
                return if record.ra_profile_id == Some(profile.id) { Ok(record) } else { Err(missing()) };
            }
        }
        Err(missing())
    }
}
