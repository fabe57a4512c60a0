//! Publication: devices and their credentials (secrets sealed with the key vault, never returned), publication
//! profiles, and publishing — a certificate pushed to some of a profile's devices, each push queued as a
//! deployment to a location named `publication-<profile>-<device>`, brought up to date with the profile, the device
//! and the credential at every publication. Renewals redeploy to those locations like to any other, unless the
//! device or credential was made inactive since (the deployment job refuses them).

use super::Services;
use crate::audit::EventDraft;
use crate::auth::{Ctx, Permission};
use crate::deploy::{DeployAction, Location};
use crate::page::{Listed, Page};
use crate::publication::{
    targets, Credential, CredentialInput, CredentialKey, Device, DeviceInput, DeviceKey, Opened, ProfileInput,
    ProfileKind, ProfileSettings, Publication, PublicationFilter, PublicationProfile, PublicationTarget,
    PublicationView, PublishInput, SecretKind, MAX_ITEMS, MAX_SECRET, MAX_TEXT,
};
use crate::store::{Store, StoreTx};
use crate::{CoreError, Result};
use serde_json::json;
use std::net::IpAddr;
use uuid::Uuid;
use zeroize::Zeroizing;

/// Names of the locations publications deploy to start with this; other locations may not.
pub const LOCATION_PREFIX: &str = "publication-";

fn invalid(code: &'static str, message: impl Into<String>) -> CoreError {
    CoreError::invalid(code, message)
}

/// A free text: trimmed, at most [`MAX_TEXT`] characters, no control characters; empty is `Some("")`.
fn text(field: &str, v: Option<String>) -> Result<Option<String>> {
    match v {
        None => Ok(None),
        Some(v) => {
            let v = v.trim().to_owned();
            if v.chars().count() > MAX_TEXT || v.chars().any(char::is_control) {
                return Err(invalid(
                    "publication.invalid",
                    format!("{field} must be at most {MAX_TEXT} characters without control characters"),
                ));
            }
            Ok(Some(v))
        }
    }
}

/// An optional field after a change: absent keeps `old`, empty clears it.
fn merged(field: &str, new: Option<String>, old: Option<String>) -> Result<Option<String>> {
    Ok(match text(field, new)? {
        None => old,
        Some(v) if v.is_empty() => None,
        Some(v) => Some(v),
    })
}

fn tags(v: Option<Vec<String>>) -> Result<Option<Vec<String>>> {
    v.map(|items| {
        if items.len() > MAX_ITEMS {
            return Err(invalid("publication.invalid", format!("at most {MAX_ITEMS} tags")));
        }
        items.into_iter().map(|t| text("tags", Some(t)).map(Option::unwrap_or_default)).collect()
    })
    .transpose()
}

fn ip(v: &str) -> Result<IpAddr> {
    v.trim().parse().map_err(|_| invalid("device.invalid_ip", format!("ip must be an IPv4 or IPv6 address, got '{v}'")))
}

fn device_not_found(id: impl std::fmt::Display) -> CoreError {
    CoreError::not_found("device.not_found", "device", id)
}

fn port(field: &str, v: Option<u16>) -> Result<Option<u16>> {
    match v {
        Some(0) => Err(invalid("publication.invalid", format!("{field} must be 1 to 65535"))),
        other => Ok(other),
    }
}

fn host_key(v: Option<String>) -> Result<Option<String>> {
    let Some(v) = v.map(|v| v.trim().to_owned()) else { return Ok(None) };
    if v.is_empty() {
        return Ok(Some(v));
    }
    let parts: Vec<&str> = v.split_whitespace().collect();
    let ok =
        parts.len() >= 2 && (parts[0].starts_with("ssh-") || parts[0].starts_with("ecdsa-")) && parts[1].len() > 16;
    if !ok || v.len() > 16 * 1024 {
        return Err(invalid(
            "device.invalid_host_key",
            "ssh_host_key must be an OpenSSH public key: 'ssh-ed25519 AAAA…'",
        ));
    }
    Ok(Some(parts[..2].join(" ")))
}

fn ca_pem(v: Option<String>) -> Result<Option<String>> {
    let Some(v) = v else { return Ok(None) };
    if v.trim().is_empty() {
        return Ok(Some(String::new()));
    }
    let all = certwright_pki::pem::decode_all(&v).map_err(|_| invalid("device.invalid_ca", "ca_pem must be PEM"))?;
    if all.is_empty() || all.iter().any(|(label, _)| label != "CERTIFICATE") || v.len() > 256 * 1024 {
        return Err(invalid("device.invalid_ca", "ca_pem must hold PEM certificates only"));
    }
    Ok(Some(v))
}

fn identifier(v: &str) -> Result<String> {
    let v = v.trim();
    if v.is_empty() || v.len() > 128 || !v.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
        return Err(invalid("credential.invalid_identifier", "identifier must be 1 to 128 of A-Z a-z 0-9 - _ ."));
    }
    // Paths name a credential by its numeric code or its identifier: an identifier of digits alone would be read
    // as someone else's code.
    if v.chars().all(|c| c.is_ascii_digit()) {
        return Err(invalid("credential.invalid_identifier", "identifier must not be digits alone (codes are)"));
    }
    Ok(v.to_owned())
}

impl<S: Store> Services<S> {
    // ---- devices ---------------------------------------------------------------------------------------------

    /// Creates a device, or changes the one with this host name (and makes it active again); `true` when created.
    pub async fn save_device(&self, ctx: &Ctx, input: DeviceInput) -> Result<(Device, bool)> {
        ctx.caller.require(Permission::ManageAuthorities)?;
        let hostname = text("hostname", Some(input.hostname))?.unwrap_or_default();
        if hostname.is_empty() || hostname.contains(char::is_whitespace) {
            return Err(invalid("device.missing", "hostname is required (one word)"));
        }
        let new_ip = input.ip.as_deref().filter(|v| !v.trim().is_empty()).map(ip).transpose()?;
        let now = self.clock.now();
        let (mut tx, head) = self.begin().await?;
        let old = tx.device_for_update(&DeviceKey::Hostname(hostname.clone())).await?;
        let created = old.is_none();
        let base = match old {
            Some(d) => d,
            None => Device {
                id: 0,
                uuid: Uuid::new_v4(),
                hostname: hostname.clone(),
                ip: new_ip.ok_or_else(|| invalid("device.missing", "ip is required"))?,
                model: None,
                kind: None,
                vendor: None,
                site: None,
                domain: None,
                tags: Vec::new(),
                ssh_port: 22,
                ssh_host_key: None,
                ca_pem: None,
                winrm_port: 5986,
                active: true,
                created_by: ctx.caller.principal.clone(),
                created_at: now,
                updated_at: now,
            },
        };
        let mut d = Device {
            ip: new_ip.unwrap_or(base.ip),
            model: merged("model", input.model, base.model.clone())?,
            kind: merged("type", input.kind, base.kind.clone())?,
            vendor: merged("vendor", input.vendor, base.vendor.clone())?,
            site: merged("site", input.site, base.site.clone())?,
            domain: merged("device_domain", input.domain, base.domain.clone())?,
            tags: tags(input.tags)?.unwrap_or(base.tags.clone()),
            ssh_port: port("ssh_port", input.ssh_port)?.unwrap_or(base.ssh_port),
            ssh_host_key: match host_key(input.ssh_host_key)? {
                None => base.ssh_host_key.clone(),
                Some(k) if k.is_empty() => None,
                Some(k) => Some(k),
            },
            ca_pem: match ca_pem(input.ca_pem)? {
                None => base.ca_pem.clone(),
                Some(p) if p.is_empty() => None,
                Some(p) => Some(p),
            },
            winrm_port: port("winrm_port", input.winrm_port)?.unwrap_or(base.winrm_port),
            active: true,
            updated_at: now,
            ..base
        };
        if created {
            d.id = tx.insert_device(&d).await?;
        } else {
            tx.update_device(&d).await?;
        }
        let draft = EventDraft::success("device.save", "device", d.uuid).with_details(json!({
            "id": d.id, "hostname": d.hostname, "ip": d.ip.to_string(), "created": created,
            "ssh_host_key": d.ssh_host_key, "local": d.is_local(),
        }));
        self.commit_with_event(tx, &head, ctx, draft).await?;
        Ok((d, created))
    }

    pub async fn devices(&self, ctx: &Ctx) -> Result<Vec<Device>> {
        ctx.caller.require(Permission::ReadInventory)?;
        self.store.devices().await
    }

    pub async fn device(&self, ctx: &Ctx, id: i64) -> Result<Device> {
        ctx.caller.require(Permission::ReadInventory)?;
        self.store.device(&DeviceKey::Id(id)).await?.ok_or_else(|| device_not_found(id))
    }

    /// Makes a device inactive: kept for history, no longer published to.
    pub async fn deactivate_device(&self, ctx: &Ctx, id: i64) -> Result<Device> {
        ctx.caller.require(Permission::ManageAuthorities)?;
        let (mut tx, head) = self.begin().await?;
        let mut d = tx.device_for_update(&DeviceKey::Id(id)).await?.ok_or_else(|| device_not_found(id))?;
        d.active = false;
        d.updated_at = self.clock.now();
        tx.update_device(&d).await?;
        let draft = EventDraft::success("device.deactivate", "device", d.uuid)
            .with_details(json!({ "id": d.id, "hostname": d.hostname }));
        self.commit_with_event(tx, &head, ctx, draft).await?;
        Ok(d)
    }

    // ---- credentials -----------------------------------------------------------------------------------------

    /// Creates a credential, or changes the one with this identifier; `true` when created. The secret is sealed
    /// under the credential's uuid.
    pub async fn save_credential(&self, ctx: &Ctx, input: CredentialInput) -> Result<(Credential, Device, bool)> {
        ctx.caller.require(Permission::ManageAuthorities)?;
        let id = input.identifier.as_deref().filter(|v| !v.trim().is_empty()).map(identifier).transpose()?;
        let username = text("username", input.username)?.filter(|u| !u.is_empty());
        if let Some(c) = &input.content {
            if c.len() > MAX_SECRET {
                return Err(invalid("credential.invalid", format!("content must be at most {MAX_SECRET} bytes")));
            }
        }
        let now = self.clock.now();
        let (mut tx, head) = self.begin().await?;
        let old = match &id {
            Some(i) => tx.credential_for_update(&CredentialKey::Identifier(i.clone())).await?,
            None => None,
        };
        let device_key = match (text("hostname", input.hostname)?.filter(|h| !h.is_empty()), input.ip) {
            (Some(h), _) => Some(DeviceKey::Hostname(h)),
            (None, Some(i)) if !i.trim().is_empty() => Some(DeviceKey::Ip(ip(&i)?)),
            _ => None,
        };
        let device = match (&device_key, &old) {
            (Some(key), _) => tx.device_for_update(key).await?.ok_or_else(|| {
                invalid("device.not_found", "no device has this hostname or ip: create the device first")
            })?,
            (None, Some(c)) => tx
                .device_for_update(&DeviceKey::Id(c.device_id))
                .await?
                .ok_or_else(|| CoreError::Storage(format!("device {} is missing", c.device_id)))?,
            (None, None) => return Err(invalid("credential.missing", "hostname or ip of the device is required")),
        };
        let created = old.is_none();
        let uuid = old.as_ref().map_or_else(Uuid::new_v4, |c| c.uuid);
        let (secret_kind, sealed_secret) = match &input.content {
            Some(content) => {
                let kind = SecretKind::of(content);
                let sealed = if kind == SecretKind::None {
                    None
                } else {
                    Some(self.vault.seal(content.as_bytes(), uuid.as_bytes())?)
                };
                (kind, sealed)
            }
            None => old.as_ref().map_or((SecretKind::None, None), |c| (c.secret_kind, c.sealed_secret.clone())),
        };
        let mut c = Credential {
            id: old.as_ref().map_or(0, |c| c.id),
            uuid,
            identifier: id.clone().unwrap_or_else(|| Uuid::new_v4().to_string()),
            username: match (username, &old) {
                (Some(u), _) => u,
                (None, Some(c)) => c.username.clone(),
                (None, None) => return Err(invalid("credential.missing", "username is required")),
            },
            device_id: device.id,
            secret_kind,
            sealed_secret,
            additional: merged("additional", input.additional, old.as_ref().and_then(|c| c.additional.clone()))?,
            tags: tags(input.tags)?.unwrap_or_else(|| old.as_ref().map(|c| c.tags.clone()).unwrap_or_default()),
            credential_type: merged(
                "credential_type",
                input.credential_type,
                old.as_ref().and_then(|c| c.credential_type.clone()),
            )?,
            active: true,
            created_by: old.as_ref().map_or_else(|| ctx.caller.principal.clone(), |c| c.created_by.clone()),
            created_at: old.as_ref().map_or(now, |c| c.created_at),
            updated_at: now,
        };
        if created {
            c.id = tx.insert_credential(&c).await?;
        } else {
            tx.update_credential(&c).await?;
        }
        // The secret itself never enters an event: only whether one is held, and what it is.
        let draft = EventDraft::success("credential.save", "credential", c.uuid).with_details(json!({
            "id": c.id, "identifier": c.identifier, "username": c.username, "device": device.id,
            "secret": c.secret_kind.as_str(), "secret_changed": input.content.is_some(), "created": created,
        }));
        self.commit_with_event(tx, &head, ctx, draft).await?;
        Ok((c, device, created))
    }

    pub async fn credentials(&self, ctx: &Ctx) -> Result<Vec<Credential>> {
        ctx.caller.require(Permission::ReadInventory)?;
        self.store.credentials().await
    }

    pub async fn credential(&self, ctx: &Ctx, key: &CredentialKey) -> Result<Credential> {
        ctx.caller.require(Permission::ReadInventory)?;
        self.store.credential(key).await?.ok_or_else(|| credential_not_found(key))
    }

    /// Makes a credential inactive and forgets its secret.
    pub async fn deactivate_credential(&self, ctx: &Ctx, key: &CredentialKey) -> Result<Credential> {
        ctx.caller.require(Permission::ManageAuthorities)?;
        let (mut tx, head) = self.begin().await?;
        let mut c = tx.credential_for_update(key).await?.ok_or_else(|| credential_not_found(key))?;
        c.active = false;
        c.sealed_secret = None;
        c.secret_kind = SecretKind::None;
        c.updated_at = self.clock.now();
        tx.update_credential(&c).await?;
        let draft = EventDraft::success("credential.deactivate", "credential", c.uuid)
            .with_details(json!({ "id": c.id, "identifier": c.identifier }));
        self.commit_with_event(tx, &head, ctx, draft).await?;
        Ok(c)
    }

    // ---- profiles --------------------------------------------------------------------------------------------

    /// Creates (no id) or changes a publication profile of `kind`; `true` when created.
    pub async fn save_publication_profile(
        &self,
        ctx: &Ctx,
        kind: ProfileKind,
        id: Option<i64>,
        input: ProfileInput,
    ) -> Result<(PublicationProfile, bool)> {
        ctx.caller.require(Permission::ManageAuthorities)?;
        let now = self.clock.now();
        let (mut tx, head) = self.begin().await?;
        let old = match id {
            Some(id) => Some(tx.publication_profile_for_update(id).await?.ok_or_else(|| profile_not_found(id))?),
            None => None,
        };
        if let Some(o) = &old {
            if o.kind() != kind {
                return Err(invalid(
                    "publication_profile.kind",
                    format!("profile {} publishes to {}, not {}", o.id, o.kind().as_str(), kind.as_str()),
                ));
            }
        }
        let name = match (input.name.filter(|n| !n.trim().is_empty()), &old) {
            (Some(n), _) => crate::auth::validate_name("name_profile", &n)?,
            (None, Some(o)) => o.name.clone(),
            (None, None) => return Err(invalid("publication_profile.missing", "name_profile is required")),
        };
        let devices = match (input.devices, &old) {
            (Some(d), _) => crate::seq::unique_in_order(d),
            (None, Some(o)) => o.devices.clone(),
            (None, None) => Vec::new(),
        };
        if devices.is_empty() {
            return Err(invalid("publication_profile.missing", "devices is required: at least one device code"));
        }
        if devices.len() > MAX_ITEMS {
            return Err(invalid("publication.invalid", format!("at most {MAX_ITEMS} devices")));
        }
        for d in &devices {
            tx.device_for_update(&DeviceKey::Id(*d))
                .await?
                .ok_or_else(|| invalid("device.not_found", format!("device {d} does not exist")))?;
        }
        let username = text("username", input.username)?.filter(|u| !u.is_empty());
        let (credential_id, username) = match (input.credential_id, username, &old) {
            (Some(c), _, _) => {
                tx.credential_for_update(&CredentialKey::Id(c))
                    .await?
                    .ok_or_else(|| invalid("credential.not_found", format!("there is no credential {c}")))?;
                (Some(c), None)
            }
            (None, Some(u), _) => {
                self.store.credential_by_username(&u, None).await?.ok_or_else(|| {
                    invalid("credential.not_found", format!("no active credential has the username '{u}'"))
                })?;
                (None, Some(u))
            }
            (None, None, Some(o)) => (o.credential_id, o.username.clone()),
            (None, None, None) => {
                return Err(invalid("publication_profile.missing", "code_credential or username is required"))
            }
        };
        let uuid = old.as_ref().map_or_else(Uuid::new_v4, |o| o.uuid);
        let password = input.patch.key_db_password.clone().filter(|p| !p.is_empty());
        let sealed_secret = match (&password, &old) {
            (Some(p), _) => Some(self.vault.seal(p.as_bytes(), uuid.as_bytes())?),
            (None, Some(o)) => o.sealed_secret.clone(),
            (None, None) => None,
        };
        if kind == ProfileKind::Was && sealed_secret.is_none() {
            return Err(invalid("publication_profile.missing", "key_db_password is required"));
        }
        let settings = input.patch.apply(kind, old.as_ref().map(|o| o.settings.clone()))?;
        self.check_settings(&settings)?;
        let created = old.is_none();
        let mut p = PublicationProfile {
            id: old.as_ref().map_or(0, |o| o.id),
            uuid,
            name,
            settings,
            credential_id,
            username,
            devices,
            sealed_secret,
            created_by: old.as_ref().map_or_else(|| ctx.caller.principal.clone(), |o| o.created_by.clone()),
            created_at: old.as_ref().map_or(now, |o| o.created_at),
            updated_at: now,
        };
        if created {
            p.id = tx.insert_publication_profile(&p).await?;
        } else {
            tx.update_publication_profile(&p).await?;
        }
        let draft = EventDraft::success("publication_profile.save", "publication_profile", p.uuid).with_details(json!({
            "id": p.id, "name": p.name, "settings": p.settings, "credential": p.credential_id, "username": p.username,
            "devices": p.devices, "key_db_password": p.sealed_secret.is_some(), "created": created,
        }));
        self.commit_with_event(tx, &head, ctx, draft).await?;
        Ok((p, created))
    }

    /// What can be checked of a profile before any device is known.
    fn check_settings(&self, settings: &ProfileSettings) -> Result<()> {
        let bad = |m: String| invalid("publication_profile.invalid", m);
        let path_ok = |p: &str| p.starts_with('/') && !p.split('/').any(|s| s == "..") && !p.contains(char::is_control);
        match settings {
            ProfileSettings::Apache { config_path, site, port, test_command, reload_command } => {
                if !path_ok(config_path) {
                    return Err(bad(format!("config_path must be an absolute path without '..', got '{config_path}'")));
                }
                if *port == 0 {
                    return Err(bad("port must be 1 to 65535".to_owned()));
                }
                if test_command.is_some() || reload_command.is_some() {
                    // The deployer says whether custom commands are allowed here.
                    let spec = crate::deploy::LocationSpec {
                        kind: "apache".to_owned(),
                        test_command: test_command.clone(),
                        reload_command: reload_command.clone(),
                        apache_site: Some(crate::deploy::ApacheSite {
                            config_path: config_path.clone(),
                            site: site.clone(),
                            port: *port,
                        }),
                        ..Default::default()
                    };
                    self.deployer()?.check(&spec, &crate::deploy::Credentials::default())?;
                }
            }
            ProfileSettings::Iis { port, .. } if *port == 0 => return Err(bad("port must be 1 to 65535".to_owned())),
            ProfileSettings::Was { key_db_path, .. } if !path_ok(key_db_path) => {
                return Err(bad("key_db_path must be an absolute path without '..'".to_owned()))
            }
            _ => {}
        }
        Ok(())
    }

    pub async fn publication_profiles(&self, ctx: &Ctx) -> Result<Vec<PublicationProfile>> {
        ctx.caller.require(Permission::ReadInventory)?;
        self.store.publication_profiles().await
    }

    pub async fn publication_profile(&self, ctx: &Ctx, id: i64) -> Result<PublicationProfile> {
        ctx.caller.require(Permission::ReadInventory)?;
        self.store.publication_profile(id).await?.ok_or_else(|| profile_not_found(id))
    }

    // ---- publications ----------------------------------------------------------------------------------------

    pub async fn list_publications(
        &self,
        ctx: &Ctx,
        filter: &PublicationFilter,
        page: Page,
    ) -> Result<Listed<PublicationView>> {
        ctx.caller.require(Permission::ReadInventory)?;
        self.store.list_publications(filter, page).await
    }

    /// Publishes a certificate on some of a profile's devices: one deployment per push, queued with the
    /// publication in one transaction.
    pub async fn publish(&self, ctx: &Ctx, input: PublishInput) -> Result<PublicationView> {
        ctx.caller.require(Permission::ManageRequests)?;
        if crate::forms::reason_name(input.reason).is_none() {
            return Err(invalid(
                "form.reason",
                format!("reason {} is not a publication reason (1 to 6)", input.reason),
            ));
        }
        let limit = |field: &str, v: &Option<String>, max: usize| match v {
            Some(v) if v.chars().count() > max => {
                Err(invalid("form.too_long", format!("{field} must be at most {max} characters")))
            }
            _ => Ok(()),
        };
        limit("justification", &input.justification, crate::forms::MAX_JUSTIFICATION)?;
        limit("itms_code", &input.itms_code, crate::forms::MAX_ITSM_CODE)?;
        let devices = crate::seq::unique_in_order(input.devices.clone());
        if devices.is_empty() {
            return Err(invalid("publication.missing", "devices is required: at least one device code"));
        }
        let cert = self.store.certificate_by_id(input.certificate_id).await?.ok_or_else(|| {
            invalid("certificate.not_found", format!("there is no certificate {}", input.certificate_id))
        })?;
        if cert.state != "issued" {
            return Err(CoreError::Conflict {
                code: "deploy.not_issued",
                message: format!("the certificate is {}; only an issued certificate is published", cert.state),
            });
        }
        let key_id = cert
            .key_id
            .ok_or_else(|| invalid("publication.no_key", "this certificate's private key is not held here"))?;
        // Publishing sends the private key to the devices: the token's RA-profile limit and the key's export
        // policy apply as they do to a download.
        if let Some(profile_id) = cert.ra_profile_id {
            let snapshot = self.snapshot().await?;
            if let Some(ra) = snapshot.profiles.iter().find(|p| p.id == profile_id) {
                if !ctx.caller.may_use_profile(&ra.name) {
                    return Err(CoreError::Forbidden {
                        role: ctx.caller.role.as_str().to_owned(),
                        action: "publish a certificate of an RA profile the token is not limited to",
                    });
                }
            }
        } else if !ctx.caller.ra_profiles.is_empty() {
            return Err(CoreError::Forbidden {
                role: ctx.caller.role.as_str().to_owned(),
                action: "publish a certificate of no RA profile (the token is limited to RA profiles)",
            });
        }
        let stored = self
            .store
            .key(key_id)
            .await?
            .ok_or_else(|| CoreError::Storage(format!("key {key_id} of certificate {} is missing", cert.uuid)))?;
        if !stored.exportable || stored.sealed.is_empty() {
            return Err(invalid(
                "policy.key_export_not_allowed",
                "this certificate's private key may not leave the server (its RA profile does not allow key export, \
                 or the key was destroyed): it cannot be published",
            ));
        }
        let profile = self.store.publication_profile(input.profile_id).await?.ok_or_else(|| {
            invalid("publication_profile.not_found", format!("there is no publication profile {}", input.profile_id))
        })?;
        let key_db_password = match &profile.sealed_secret {
            Some(s) => Some(self.open_text(s, profile.uuid)?),
            None => None,
        };
        // Every push is worked out (and checked) before anything is stored.
        let deployer = self.deployer()?;
        let mut planned = Vec::new();
        let mut used = None;
        for device_id in &devices {
            if !profile.devices.contains(device_id) {
                return Err(invalid(
                    "publication.device_not_in_profile",
                    format!("device {device_id} is not one of the devices of profile {}", profile.id),
                ));
            }
            let device = self
                .store
                .device(&DeviceKey::Id(*device_id))
                .await?
                .ok_or_else(|| invalid("device.not_found", format!("device {device_id} does not exist")))?;
            if !device.active {
                return Err(invalid("device.inactive", format!("device {device_id} is inactive")));
            }
            let credential = self.publishing_credential(&profile, &device).await?;
            let (username, opened) = match &credential {
                Some(c) => (c.username.clone(), self.open_credential(c)?),
                None => (String::new(), Opened { kind: SecretKind::None, value: None }),
            };
            used = used.or(credential.as_ref().map(|c| (c.id, c.username.clone())));
            for t in
                targets(&profile.settings, &device, &username, &opened, key_db_password.as_deref().map(String::as_str))?
            {
                deployer.check(&t.spec, &t.credentials)?;
                planned.push((device.id, t));
            }
        }
        let now = self.clock.now();
        let mut publication = Publication {
            id: 0,
            uuid: Uuid::new_v4(),
            certificate_id: cert.id,
            profile_id: profile.id,
            reason: input.reason,
            justification: input.justification.filter(|j| !j.is_empty()),
            itms_code: input.itms_code.filter(|c| !c.is_empty()),
            credential_id: profile.credential_id.or(used.as_ref().map(|(id, _)| *id)),
            username: profile.username.clone().or(used.map(|(_, u)| u)),
            created_by: ctx.caller.principal.clone(),
            created_at: now,
        };
        let (mut tx, head) = self.begin().await?;
        // Publications of one profile take turns (two first pushes to one device would both create its location),
        // and the profile must still be the one the pushes were worked out from.
        let locked = tx.publication_profile_for_update(profile.id).await?.ok_or_else(|| {
            invalid("publication_profile.not_found", format!("there is no publication profile {}", profile.id))
        })?;
        if locked != profile {
            return Err(CoreError::Conflict {
                code: "publication_profile.changed",
                message: format!("publication profile {} changed meanwhile; publish again", profile.id),
            });
        }
        publication.id = tx.insert_publication(&publication).await?;
        let mut drafts = Vec::new();
        let mut pushes = Vec::new();
        for (device_id, t) in planned {
            // One location per device; on a BIG-IP, one per client-ssl profile.
            let name = match t.label.strip_prefix("bigip:/") {
                Some(profile_path) => {
                    format!("{LOCATION_PREFIX}{}-{device_id}-{}", profile.id, profile_path.replace('/', "-"))
                }
                None => format!("{LOCATION_PREFIX}{}-{device_id}", profile.id),
            };
            let location = self.put_location(&mut tx, ctx, &name, t.spec, &t.credentials).await?;
            let (deployment, draft) =
                self.new_deployment(&mut tx, ctx, &cert, &location, DeployAction::Deploy, "publication").await?;
            drafts.push(draft);
            let target = PublicationTarget {
                device_id,
                label: t.label,
                location_id: Some(location.id),
                deployment_id: Some(deployment.id),
                state: Some(deployment.state),
                error: None,
            };
            tx.insert_publication_target(publication.id, &target).await?;
            pushes.push(
                json!({ "device": device_id, "target": target.label, "location": name, "deployment": deployment.uuid }),
            );
        }
        drafts.insert(
            0,
            EventDraft::success("certificate.publish", "certificate", cert.uuid).with_details(json!({
                "publication": publication.id, "profile": profile.id, "profile_kind": profile.kind().as_str(),
                "reason": publication.reason, "itms_code": publication.itms_code, "pushes": pushes,
            })),
        );
        self.commit_with_events(tx, &head, ctx, drafts).await?;
        self.jobs_wake.notify_one();
        let filter = PublicationFilter { id: Some(publication.id), ..PublicationFilter::default() };
        let listed = self.store.list_publications(&filter, Page::default()).await?;
        listed
            .items
            .into_iter()
            .next()
            .ok_or_else(|| CoreError::Storage(format!("publication {} vanished", publication.id)))
    }

    /// The credential a profile uses on a device: its own, or the device's with the profile's user name. This
    /// server's own host needs none for Apache.
    async fn publishing_credential(&self, profile: &PublicationProfile, device: &Device) -> Result<Option<Credential>> {
        let found = match (profile.credential_id, &profile.username) {
            (Some(id), _) => self.store.credential(&CredentialKey::Id(id)).await?,
            (None, Some(u)) => self.store.credential_by_username(u, Some(device.id)).await?,
            (None, None) => None,
        };
        match found {
            Some(c) if c.active => Ok(Some(c)),
            _ if device.is_local() && profile.kind() == ProfileKind::Apache => Ok(None),
            Some(c) => Err(invalid("credential.not_found", format!("credential {} is inactive", c.id))),
            None => Err(invalid(
                "credential.not_found",
                format!("profile {} has no active credential for device {}", profile.id, device.id),
            )),
        }
    }

    fn open_text(&self, sealed: &[u8], uuid: Uuid) -> Result<Zeroizing<String>> {
        let plain = self.vault.open(sealed, uuid.as_bytes())?;
        String::from_utf8(plain.to_vec())
            .map(Zeroizing::new)
            .map_err(|_| CoreError::Storage("a sealed secret is not text".to_owned()))
    }

    fn open_credential(&self, c: &Credential) -> Result<Opened> {
        let value = c.sealed_secret.as_ref().map(|s| self.open_text(s, c.uuid)).transpose()?;
        Ok(Opened { kind: c.secret_kind, value })
    }

    /// The location a publication deploys to, created or brought up to date with the spec and credentials.
    async fn put_location(
        &self,
        tx: &mut S::Tx,
        ctx: &Ctx,
        name: &str,
        spec: crate::deploy::LocationSpec,
        credentials: &crate::deploy::Credentials,
    ) -> Result<Location> {
        let now = self.clock.now();
        let existing = tx.location_for_update(name).await?;
        let uuid = existing.as_ref().map_or_else(Uuid::new_v4, |l| l.uuid);
        let sealed_credentials = if credentials.is_empty() {
            None
        } else {
            let plain = Zeroizing::new(serde_json::to_vec(credentials).map_err(|e| CoreError::Storage(e.to_string()))?);
            Some(self.vault.seal(&plain, uuid.as_bytes())?)
        };
        match existing {
            Some(mut l) => {
                l.spec = spec;
                l.sealed_credentials = sealed_credentials;
                l.updated_at = now;
                tx.update_location(&l).await?;
                Ok(l)
            }
            None => {
                let mut l = Location {
                    id: 0,
                    uuid,
                    name: name.to_owned(),
                    spec,
                    sealed_credentials,
                    created_by: ctx.caller.principal.clone(),
                    created_at: now,
                    updated_at: now,
                };
                l.id = tx.insert_location(&l).await?;
                Ok(l)
            }
        }
    }
}

fn credential_not_found(key: &CredentialKey) -> CoreError {
    match key {
        CredentialKey::Id(id) => CoreError::not_found("credential.not_found", "credential", id),
        CredentialKey::Identifier(i) => CoreError::not_found("credential.not_found", "credential", i),
    }
}

fn profile_not_found(id: i64) -> CoreError {
    CoreError::not_found("publication_profile.not_found", "publication profile", id)
}
