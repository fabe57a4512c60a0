//! Certificate authorities and RA profiles: creating them, the default hierarchy made at first start, and the
//! unsealed signing keys kept in memory.

use super::Services;
use crate::audit::EventDraft;
use crate::auth::{validate_name, Ctx, Permission};
use crate::ca::{Authority, AuthorityKind, NewKey, Policy, RaProfile, RaProfileChange, DEFAULT_CRL_PARTITIONS};
use crate::clock::EpochSeconds;
use crate::store::{Store, StoreTx};
use crate::{CoreError, Result};
use certwright_pki::alg::KeyAlgorithm;
use certwright_pki::cert::{self, Cert, Extensions, Issuer, Template, Usage};
use certwright_pki::digest::hex;
use certwright_pki::key::{PrivateKey, Signer};
use certwright_pki::names::parse_dn;
use serde_json::json;
use std::sync::Arc;
use uuid::Uuid;

const DAY: i64 = 86_400;
/// The RA profile made at first start, which the server's own certificate is issued from.
pub(crate) const DEFAULT_PROFILE: &str = "default";
/// How long a node reuses its snapshot of authorities and RA profiles before reading them again. Changes made
/// on this node replace it at once; changes made on another node are seen within this many seconds.
const SNAPSHOT_TTL: i64 = 2;

/// Authorities and RA profiles, read together and shared by the requests of a moment.
#[derive(Debug)]
pub(crate) struct PkiSnapshot {
    pub authorities: Vec<Authority>,
    pub profiles: Vec<RaProfile>,
}

/// What an administrator asks for when creating an authority.
#[derive(Debug, Clone)]
pub struct NewAuthorityRequest {
    pub name: String,
    /// Signing parent; `None` makes a self-signed root.
    pub parent: Option<Uuid>,
    pub key_algorithm: KeyAlgorithm,
    /// RFC 4514 subject; defaults to `CN=<name>`.
    pub subject: Option<String>,
    pub validity_days: u32,
    /// basicConstraints pathLenConstraint.
    pub path_len: Option<u8>,
    /// DNS name constraints (permitted subtrees).
    pub permitted_dns: Vec<String>,
}

fn invalid(code: &'static str, message: impl Into<String>) -> CoreError {
    CoreError::invalid(code, message)
}

impl<S: Store> Services<S> {
    /// The current snapshot of authorities and RA profiles.
    pub(crate) async fn snapshot(&self) -> Result<Arc<PkiSnapshot>> {
        let now = self.clock.now();
        let cached = self.pki.read().ok().and_then(|g| g.clone());
        if let Some((at, snap)) = &cached {
            if (0..SNAPSHOT_TTL).contains(&now.saturating_sub(*at)) {
                return Ok(snap.clone());
            }
        }
        let snap = Arc::new(PkiSnapshot {
            authorities: self.store.authorities().await?,
            profiles: self.store.ra_profiles().await?,
        });
        if let Ok(mut g) = self.pki.write() {
            // Keep a change made while this read ran: install only over what the read started from.
            let unchanged = match (&*g, &cached) {
                (None, None) => true,
                (Some((_, now_held)), Some((_, seen))) => Arc::ptr_eq(now_held, seen),
                _ => false,
            };
            if unchanged {
                *g = Some((now, snap.clone()));
            }
        }
        Ok(snap)
    }

    /// Forgets the snapshot after a change to authorities or RA profiles. A fresh empty marker (never current)
    /// takes its place, so that a read that started before the change cannot install what it read.
    pub(crate) fn invalidate_snapshot(&self) {
        if let Ok(mut g) = self.pki.write() {
            let marker = Arc::new(PkiSnapshot { authorities: Vec::new(), profiles: Vec::new() });
            *g = Some((EpochSeconds::MAX, marker));
        }
    }

    /// Every authority.
    pub async fn list_authorities(&self, ctx: &Ctx) -> Result<Vec<Authority>> {
        ctx.caller.require(Permission::ReadInventory)?;
        Ok(self.snapshot().await?.authorities.clone())
    }

    /// One authority by uuid.
    pub async fn authority(&self, ctx: &Ctx, uuid: Uuid) -> Result<Authority> {
        ctx.caller.require(Permission::ReadInventory)?;
        self.find_authority(uuid).await
    }

    async fn find_authority(&self, uuid: Uuid) -> Result<Authority> {
        self.snapshot()
            .await?
            .authorities
            .iter()
            .find(|a| a.uuid == uuid)
            .cloned()
            .ok_or_else(|| CoreError::not_found("authority.not_found", "authority", uuid))
    }

    /// The certificates from `authority` up to its root, DER, the authority's own first.
    pub async fn authority_chain(&self, authority: &Authority) -> Result<Vec<Vec<u8>>> {
        let snapshot = self.snapshot().await?;
        let all = &snapshot.authorities;
        if authority.certificate_der.is_empty() {
            // An external authority whose CA certificate is not known.
            return Ok(Vec::new());
        }
        let mut chain = vec![authority.certificate_der.clone()];
        let mut parent = authority.parent_id;
        while let Some(id) = parent {
            let p = all
                .iter()
                .find(|a| a.id == id)
                .ok_or_else(|| CoreError::Storage(format!("authority {id} is missing from its child's chain")))?;
            chain.push(p.certificate_der.clone());
            parent = p.parent_id;
            if chain.len() > 16 {
                return Err(CoreError::Storage("authority chain is longer than 16".to_owned()));
            }
        }
        Ok(chain)
    }

    /// The signing key of an authority, unsealed once and kept in memory.
    pub(crate) async fn signer(&self, authority: &Authority) -> Result<Arc<PrivateKey>> {
        if let Some(k) = self.signers.read().ok().and_then(|m| m.get(&authority.id).cloned()) {
            return Ok(k);
        }
        let key_id = authority.key_id.ok_or_else(|| {
            invalid("authority.no_key", format!("authority '{}' holds no private key", authority.name))
        })?;
        let key = Arc::new(self.unseal_key(key_id).await?);
        if let Ok(mut m) = self.signers.write() {
            m.insert(authority.id, key.clone());
        }
        Ok(key)
    }

    /// Opens a managed key sealed in the store.
    pub(crate) async fn unseal_key(&self, key_id: i64) -> Result<PrivateKey> {
        let stored = self
            .store
            .key(key_id)
            .await?
            .ok_or_else(|| CoreError::Storage(format!("managed key {key_id} is missing")))?;
        let pkcs8 = self.vault.open(&stored.sealed, stored.uuid.as_bytes())?;
        Ok(PrivateKey::from_pkcs8_der(&pkcs8)?)
    }

    /// Seals `key` for storage.
    pub(crate) fn seal_key(&self, key: &PrivateKey, exportable: bool) -> Result<NewKey> {
        let uuid = Uuid::new_v4();
        Ok(NewKey {
            uuid,
            algorithm: key.algorithm().name(),
            public_key: key.public_key_der(),
            sealed: self.vault.seal(&key.danger_pkcs8_der()?, uuid.as_bytes())?,
            exportable,
            created_at: self.clock.now(),
        })
    }

    /// Creates a root (no parent) or an intermediate authority signed by `parent`.
    pub async fn create_authority(&self, ctx: &Ctx, req: NewAuthorityRequest) -> Result<Authority> {
        ctx.caller.require(Permission::ManageAuthorities)?;
        let parent = match req.parent {
            Some(p) => {
                let a = self.find_authority(p).await?;
                let signer = self.signer(&a).await?;
                Some((a, signer))
            }
            None => None,
        };
        let (mut tx, head) = self.begin().await?;
        let (authority, _) = self.create_authority_in(&mut tx, req, parent).await?;
        let draft = EventDraft::success("authority.create", "authority", authority.uuid).with_details(json!({
            "name": authority.name, "kind": authority.kind.as_str(), "subject": authority.subject,
        }));
        self.commit_with_event(tx, &head, ctx, draft).await?;
        self.invalidate_snapshot();
        Ok(authority)
    }

    /// Makes the key and certificate of a new authority and stores both in `tx`. `parent` is the signing
    /// authority with its key (`None` for a self-signed root).
    async fn create_authority_in(
        &self,
        tx: &mut S::Tx,
        req: NewAuthorityRequest,
        parent: Option<(Authority, Arc<PrivateKey>)>,
    ) -> Result<(Authority, Arc<PrivateKey>)> {
        let name = validate_name("name", &req.name)?;
        if req.validity_days == 0 || req.validity_days > 36_500 {
            return Err(invalid("authority.invalid_validity", "validity_days must be between 1 and 36500"));
        }
        let subject = parse_dn(req.subject.as_deref().unwrap_or(&format!("CN={name}")))
            .map_err(|e| invalid("authority.invalid_subject", e.to_string()))?;
        let key =
            PrivateKey::generate(req.key_algorithm).map_err(|e| invalid("authority.invalid_key", e.to_string()))?;
        let own_ski = key.public_key()?.key_identifier()?;
        let now = self.clock.now();
        let mut not_after = now + i64::from(req.validity_days) * DAY;
        if let Some((p, _)) = &parent {
            // A CA certificate never outlives its issuer, and stays within the issuer's path length.
            not_after = not_after.min(p.not_after);
            if let Some(parent_len) = Cert::from_der(&p.certificate_der)?.ca()?.flatten() {
                if parent_len == 0 || req.path_len.is_none_or(|l| l >= parent_len) {
                    return Err(invalid(
                        "authority.path_len_exceeded",
                        format!(
                            "'{}' allows {parent_len} CA level(s) below it: give path_len below {parent_len}, or sign under a CA that allows more",
                            p.name
                        ),
                    ));
                }
            }
        }
        let serial = cert::random_serial()?;
        let urls = match &parent {
            Some((p, _)) => self.revocation_urls(p, &serial, true),
            None => Default::default(),
        };
        let template = Template {
            serial,
            subject: subject.clone(),
            public_key_der: key.public_key_der(),
            not_before: now - 60,
            not_after,
            extensions: Extensions {
                ca: Some(req.path_len),
                key_usage: vec![Usage::KeyCertSign, Usage::CrlSign, Usage::DigitalSignature],
                permitted_dns: req.permitted_dns.clone(),
                ocsp_urls: urls.ocsp,
                crl_urls: urls.crl,
                ca_issuers_urls: urls.ca_issuers,
                ..Default::default()
            },
        };
        let certificate = match &parent {
            None => cert::issue(&template, &Issuer { name: &subject, key_identifier: &own_ski, signer: &key })?,
            Some((p, signer)) => {
                let parent_cert = Cert::from_der(&p.certificate_der)?;
                let parent_ski = parent_cert.key_identifier()?;
                cert::issue(
                    &template,
                    &Issuer { name: parent_cert.subject(), key_identifier: &parent_ski, signer: signer.as_ref() },
                )?
            }
        };
        let key_id = tx.insert_key(&self.seal_key(&key, false)?).await?;
        let mut authority = Authority {
            id: 0,
            uuid: Uuid::new_v4(),
            name,
            kind: if parent.is_some() { AuthorityKind::Intermediate } else { AuthorityKind::Root },
            parent_id: parent.as_ref().map(|(p, _)| p.id),
            key_id: Some(key_id),
            certificate_der: certificate.der().to_vec(),
            subject: certificate.subject_string(),
            key_identifier: hex(&own_ski),
            not_before: certificate.not_before(),
            not_after: certificate.not_after(),
            created_at: now,
            crl_partitions: DEFAULT_CRL_PARTITIONS,
            connector: None,
        };
        authority.id = tx.insert_authority(&authority).await?;
        let key = Arc::new(key);
        if let Ok(mut m) = self.signers.write() {
            m.insert(authority.id, key.clone());
        }
        Ok((authority, key))
    }

    /// Every RA profile.
    pub async fn list_ra_profiles(&self, ctx: &Ctx) -> Result<Vec<RaProfile>> {
        ctx.caller.require(Permission::ReadInventory)?;
        Ok(self.snapshot().await?.profiles.clone())
    }

    /// The RA profile called `name_or_uuid`.
    pub async fn find_ra_profile(&self, name_or_uuid: &str) -> Result<RaProfile> {
        let uuid = Uuid::parse_str(name_or_uuid).ok();
        self.snapshot()
            .await?
            .profiles
            .iter()
            .find(|p| Some(p.uuid) == uuid || p.name == name_or_uuid)
            .cloned()
            .ok_or_else(|| CoreError::not_found("ra_profile.not_found", "RA profile", name_or_uuid))
    }

    /// Creates an RA profile issuing from `authority` under `policy`.
    pub async fn create_ra_profile(&self, ctx: &Ctx, name: &str, authority: Uuid, policy: Policy) -> Result<RaProfile> {
        ctx.caller.require(Permission::ManageAuthorities)?;
        let name = validate_name("name", name)?;
        policy.validate()?;
        let authority = self.find_authority(authority).await?;
        if authority.key_id.is_none() && authority.is_internal() {
            return Err(invalid("ra_profile.authority_cannot_issue", "the authority holds no private key"));
        }
        let now = self.clock.now();
        let mut profile = RaProfile {
            id: 0,
            uuid: Uuid::new_v4(),
            name,
            authority_id: authority.id,
            policy,
            enabled: true,
            created_at: now,
            updated_at: now,
        };
        let (mut tx, head) = self.begin().await?;
        profile.id = tx.insert_ra_profile(&profile).await?;
        let draft = EventDraft::success("ra_profile.create", "ra_profile", profile.uuid)
            .with_details(json!({ "name": profile.name, "authority": authority.uuid }));
        self.commit_with_event(tx, &head, ctx, draft).await?;
        self.invalidate_snapshot();
        Ok(profile)
    }

    /// One RA profile by uuid or name.
    pub async fn ra_profile(&self, ctx: &Ctx, name_or_uuid: &str) -> Result<RaProfile> {
        ctx.caller.require(Permission::ReadInventory)?;
        self.find_ra_profile(name_or_uuid).await
    }

    /// Replaces an RA profile's policy and, when given, its authority (one that holds a key) and enabled flag.
    /// The name stays: tokens limited to the profile name it.
    pub async fn update_ra_profile(&self, ctx: &Ctx, name_or_uuid: &str, change: RaProfileChange) -> Result<RaProfile> {
        ctx.caller.require(Permission::ManageAuthorities)?;
        change.policy.validate()?;
        let before = self.find_ra_profile(name_or_uuid).await?;
        let authority = match change.authority {
            Some(uuid) => {
                let a = self.find_authority(uuid).await?;
                if a.key_id.is_none() && a.is_internal() {
                    return Err(invalid("ra_profile.authority_cannot_issue", "the authority holds no private key"));
                }
                a
            }
            None => {
                self.snapshot().await?.authorities.iter().find(|a| a.id == before.authority_id).cloned().ok_or_else(
                    || CoreError::Storage(format!("RA profile '{}' names a missing authority", before.name)),
                )?
            }
        };
        let after = RaProfile {
            authority_id: authority.id,
            policy: change.policy,
            enabled: change.enabled.unwrap_or(before.enabled),
            updated_at: self.clock.now(),
            ..before.clone()
        };
        let (mut tx, head) = self.begin().await?;
        if !tx.update_ra_profile(&after).await? {
            return Err(CoreError::not_found("ra_profile.not_found", "RA profile", name_or_uuid));
        }
        let draft = EventDraft::success("ra_profile.update", "ra_profile", after.uuid).with_details(json!({
            "name": after.name, "authority": authority.uuid, "enabled": after.enabled,
            "authority_changed": after.authority_id != before.authority_id,
            "policy": after.policy, "previous_policy": before.policy,
        }));
        self.commit_with_event(tx, &head, ctx, draft).await?;
        self.invalidate_snapshot();
        Ok(after)
    }

    /// Deletes an RA profile no certificate was issued through. The `default` profile stays; a profile with
    /// certificates is disabled instead, so the inventory keeps saying where they came from.
    pub async fn delete_ra_profile(&self, ctx: &Ctx, name_or_uuid: &str) -> Result<()> {
        ctx.caller.require(Permission::ManageAuthorities)?;
        let profile = self.find_ra_profile(name_or_uuid).await?;
        if profile.name == DEFAULT_PROFILE {
            return Err(CoreError::Conflict {
                code: "ra_profile.protected",
                message: "the default RA profile cannot be deleted; change its policy or disable it instead".to_owned(),
            });
        }
        let (mut tx, head) = self.begin().await?;
        let used = tx.count_ra_profile_certificates(profile.id).await?;
        if used > 0 {
            return Err(CoreError::Conflict {
                code: "ra_profile.in_use",
                message: format!(
                    "{used} certificate(s) were issued through RA profile '{}': disable it instead \
                     (PUT with \"enabled\": false) to stop issuance and keep their link to it",
                    profile.name
                ),
            });
        }
        if !tx.delete_ra_profile(profile.id).await? {
            return Err(CoreError::not_found("ra_profile.not_found", "RA profile", name_or_uuid));
        }
        let draft = EventDraft::success("ra_profile.delete", "ra_profile", profile.uuid)
            .with_details(json!({ "name": profile.name, "policy": profile.policy }));
        self.commit_with_event(tx, &head, ctx, draft).await?;
        self.invalidate_snapshot();
        Ok(())
    }

    /// First start (and any start that finds no authority): a root CA, an issuing CA under it and the
    /// `default` RA profile, in one transaction. Returns the issuing CA, or `None` when authorities exist.
    pub async fn ensure_default_hierarchy(&self, key_algorithm: KeyAlgorithm) -> Result<Option<Authority>> {
        if !self.store.authorities().await?.is_empty() {
            return Ok(None);
        }
        let (mut tx, head) = self.begin().await?;
        let root_req = NewAuthorityRequest {
            name: "root".to_owned(),
            parent: None,
            key_algorithm,
            subject: Some("CN=certwright Root CA,O=certwright".to_owned()),
            validity_days: 3650,
            path_len: Some(1),
            permitted_dns: Vec::new(),
        };
        let (root, root_key) = self.create_authority_in(&mut tx, root_req, None).await?;
        let issuing_req = NewAuthorityRequest {
            name: "issuing".to_owned(),
            parent: Some(root.uuid),
            key_algorithm,
            subject: Some("CN=certwright Issuing CA,O=certwright".to_owned()),
            validity_days: 1825,
            path_len: Some(0),
            permitted_dns: Vec::new(),
        };
        let (issuing, _) = self.create_authority_in(&mut tx, issuing_req, Some((root.clone(), root_key))).await?;
        let now = self.clock.now();
        let profile = RaProfile {
            id: 0,
            uuid: Uuid::new_v4(),
            name: DEFAULT_PROFILE.to_owned(),
            authority_id: issuing.id,
            policy: Policy::default(),
            enabled: true,
            created_at: now,
            updated_at: now,
        };
        tx.insert_ra_profile(&profile).await?;
        let draft = EventDraft::success("system.pki_bootstrap", "authority", issuing.uuid).with_details(json!({
            "root": root.uuid, "issuing": issuing.uuid, "ra_profile": profile.uuid, "key_algorithm": key_algorithm.name(),
        }));
        self.commit_with_event(tx, &head, &Ctx::system(), draft).await?;
        self.invalidate_snapshot();
        Ok(Some(issuing))
    }
}
