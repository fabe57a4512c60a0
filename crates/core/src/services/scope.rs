//! Scoped certificates: certificates named within a folder, snippet or device, generated here (self-signed or
//! signed by a CA certificate of the same scope) or imported, and exported with their key unless the key was
//! blocked from export. Each is an inventory certificate labelled with its scope and name.

use super::Services;
use crate::audit::EventDraft;
use crate::auth::{Ctx, Permission};
use crate::ca::Origin;
use crate::keystore::{Scope, ScopeFilter, ScopedCertificate};
use crate::page::{Listed, Page};
use crate::store::{Store, StoreTx};
use crate::{CoreError, Result};
use certwright_pki::alg::{Curve, Digest, KeyAlgorithm};
use certwright_pki::cert::{self, Cert, Extensions, Issuer, Template, Usage};
use certwright_pki::key::{PrivateKey, Signer};
use certwright_pki::names::San;
use serde_json::json;
use std::collections::BTreeMap;
use uuid::Uuid;
use zeroize::Zeroizing;

const DAY: i64 = 86_400;

/// What a generate request asks for. Unsafe choices (RSA below 2048 bits, unknown curves, SHA-1 and MD5) are
/// refused with `scope.unsafe_parameter`.
#[derive(Debug, Clone, Default)]
pub struct GenerateRequest {
    pub scope: Option<Scope>,
    pub name: String,
    pub common_name: String,
    pub rsa_bits: Option<u32>,
    pub ecdsa_bits: Option<u32>,
    /// `sha256`, `sha384` or `sha512`.
    pub digest: Option<String>,
    pub days: Option<u32>,
    /// Name of a CA certificate of the same scope; none makes the certificate self-signed.
    pub signed_by: Option<String>,
    pub ca: bool,
    /// The private key never leaves (export gives the certificate only).
    pub block_private_key: bool,
    pub ocsp_url: Option<String>,
    /// Subject attributes in order (`C`, `ST`, `L`, `OU`, `emailAddress`) besides the CN.
    pub subject: Vec<(&'static str, String)>,
    /// SANs in API spelling.
    pub sans: Vec<String>,
}

/// A certificate (and maybe key) to import into a scope.
#[derive(Default)]
pub struct ScopedImport {
    pub scope: Option<Scope>,
    pub name: String,
    pub certificate: Vec<u8>,
    pub key: Option<Zeroizing<Vec<u8>>>,
    pub passphrase: Option<Zeroizing<String>>,
}

impl std::fmt::Debug for ScopedImport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScopedImport").field("scope", &self.scope).field("name", &self.name).finish_non_exhaustive()
    }
}

/// An exported scoped certificate: its chain (DER, itself first) and its key when it may leave.
#[derive(Debug)]
pub struct ScopedExport {
    pub chain: Vec<Vec<u8>>,
    pub key_pkcs8: Option<Zeroizing<Vec<u8>>>,
}

fn unsafe_parameter(message: impl Into<String>) -> CoreError {
    CoreError::invalid("scope.unsafe_parameter", message)
}

fn invalid(message: impl Into<String>) -> CoreError {
    CoreError::invalid("scope.invalid", message)
}

fn name_taken(scope: &Scope, name: &str) -> CoreError {
    CoreError::Conflict {
        code: "scope.name_taken",
        message: format!("{} '{}' already has a certificate called '{name}'", scope.kind(), scope.name()),
    }
}

/// `key` set to sign with `digest`; ECDSA keys sign with the digest of their curve only.
pub(super) fn signing_digest(key: PrivateKey, digest: Digest) -> Result<PrivateKey> {
    let algorithm = key.algorithm();
    key.with_digest(digest).map_err(|_| {
        unsafe_parameter(format!(
            "the signing key is {}: it cannot sign with {}; ECDSA P-256 keys sign with sha256 and P-384 keys with \
             sha384, RSA keys with sha256, sha384 or sha512",
            algorithm.name(),
            digest_name(digest)
        ))
    })
}

fn digest_name(d: Digest) -> &'static str {
    match d {
        Digest::Sha256 => "sha256",
        Digest::Sha384 => "sha384",
        Digest::Sha512 => "sha512",
        Digest::Sha1 => "sha1",
    }
}

fn labels(scope: &Scope, name: &str) -> BTreeMap<String, String> {
    let mut l = BTreeMap::new();
    l.insert(format!("scope.{}", scope.kind()), scope.name().to_owned());
    l.insert("scope.name".to_owned(), name.chars().take(200).collect());
    l
}

fn check_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 63 || name.chars().any(char::is_control) {
        return Err(invalid("the certificate name must be 1 to 63 printable characters"));
    }
    Ok(name.to_owned())
}

impl<S: Store> Services<S> {
    /// Scoped certificates matching `filter`.
    pub async fn scoped_certificates(
        &self,
        ctx: &Ctx,
        filter: &ScopeFilter,
        page: Page,
    ) -> Result<Listed<ScopedCertificate>> {
        ctx.caller.require(Permission::ReadInventory)?;
        self.store.scoped_certificates(filter, page).await
    }

    /// One scoped certificate by its uuid.
    pub async fn scoped_certificate(&self, ctx: &Ctx, uuid: Uuid) -> Result<ScopedCertificate> {
        ctx.caller.require(Permission::ReadInventory)?;
        self.store
            .scoped_certificate(uuid)
            .await?
            .ok_or_else(|| CoreError::not_found("scope.not_found", "certificate", uuid))
    }

    /// Generates a key and a certificate in a scope.
    pub async fn generate_scoped(&self, ctx: &Ctx, req: GenerateRequest) -> Result<ScopedCertificate> {
        ctx.caller.require(Permission::IssueCertificates)?;
        let scope = req.scope.clone().ok_or_else(|| invalid("exactly one of folder, snippet or device is required"))?;
        let name = check_name(&req.name)?;
        let cn = req.common_name.trim();
        if cn.is_empty() || cn.chars().count() > 64 {
            return Err(invalid("common_name must be 1 to 64 characters"));
        }
        let algorithm = match (req.rsa_bits, req.ecdsa_bits) {
            (Some(bits @ (2048 | 3072 | 4096)), None) => KeyAlgorithm::Rsa(bits),
            (Some(bits), None) => {
                return Err(unsafe_parameter(format!(
                    "rsa_number_of_bits {bits} is not allowed: use 2048, 3072 or 4096 (smaller RSA keys are breakable)"
                )))
            }
            (None, Some(256)) => KeyAlgorithm::Ecdsa(Curve::P256),
            (None, Some(384)) => KeyAlgorithm::Ecdsa(Curve::P384),
            (None, Some(bits)) => {
                return Err(unsafe_parameter(format!(
                    "ecdsa_number_of_bits {bits} is not a curve: use 256 (P-256) or 384 (P-384)"
                )))
            }
            _ => return Err(invalid("algorithm must hold exactly one of rsa_number_of_bits or ecdsa_number_of_bits")),
        };
        let digest = match req.digest.as_deref().unwrap_or("sha256") {
            "sha256" => Digest::Sha256,
            "sha384" => Digest::Sha384,
            "sha512" => Digest::Sha512,
            other => {
                return Err(unsafe_parameter(format!(
                "digest {other} is not allowed: use sha256, sha384 or sha512 (md5 and sha1 signatures are forgeable)"
            )))
            }
        };
        if self.store.scoped_certificate_by_name(&scope, &name).await?.is_some() {
            return Err(name_taken(&scope, &name));
        }
        let days = req.days.unwrap_or(365);
        if days == 0 || days > 36_500 {
            return Err(invalid("day_till_expiration must be between 1 and 36500"));
        }
        let sans =
            req.sans.iter().map(|s| San::parse(s).map_err(|e| invalid(e.to_string()))).collect::<Result<Vec<_>>>()?;
        if let Some(url) = &req.ocsp_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(invalid("ocsp_responder_url must be an http or https URL"));
            }
        }
        let escape = certwright_pki::names::escape_value;
        // In the certificate: C, ST, L, OU…, CN, then emailAddress; an RFC 4514 string lists them backwards.
        let mut rdns = Vec::new();
        for (k, v) in req.subject.iter().filter(|(_, v)| !v.trim().is_empty()) {
            if v.chars().count() > 64 || v.chars().any(char::is_control) {
                return Err(invalid(format!("{k} must be at most 64 printable characters")));
            }
            rdns.push((*k, escape(v.trim())));
        }
        let cn_at = rdns.iter().position(|(k, _)| *k == "emailAddress").unwrap_or(rdns.len());
        rdns.insert(cn_at, ("CN", escape(cn)));
        let dn = rdns.iter().rev().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",");
        let subject = certwright_pki::names::parse_dn(&dn).map_err(|e| invalid(e.to_string()))?;

        // The issuer: a CA certificate of the same scope with a key held here, or the certificate itself.
        let issuer = match req.signed_by.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => None,
            Some(issuer_name) => {
                let parent = self.store.scoped_certificate_by_name(&scope, issuer_name).await?.ok_or_else(|| {
                    CoreError::not_found(
                        "scope.signer_not_found",
                        "CA certificate",
                        format!("{issuer_name} in {} {}", scope.kind(), scope.name()),
                    )
                })?;
                let parent_cert = Cert::from_der(&parent.der)?;
                if parent_cert.ca().ok().flatten().is_none() {
                    return Err(invalid(format!("'{issuer_name}' is not a CA certificate: it cannot sign")));
                }
                let key_id = parent
                    .key_id
                    .ok_or_else(|| invalid(format!("the private key of '{issuer_name}' is not held here")))?;
                let key = self.unseal_key(key_id).await?;
                let key = signing_digest(key, digest)?;
                Some((parent, parent_cert, key))
            }
        };
        let key = PrivateKey::generate(algorithm).map_err(|e| invalid(e.to_string()))?;
        // The digest is that of the certificate's signature: it applies to the signing key only.
        let key = if issuer.is_none() { signing_digest(key, digest)? } else { key };
        let now = self.clock.now();
        let mut not_after = now + i64::from(days) * DAY;
        if let Some((_, parent_cert, _)) = &issuer {
            not_after = not_after.min(parent_cert.not_after());
        }
        let own_ski = key.public_key()?.key_identifier()?;
        let template = Template {
            serial: cert::random_serial()?,
            subject: subject.clone(),
            public_key_der: key.public_key_der(),
            not_before: now - 60,
            not_after,
            extensions: Extensions {
                ca: req.ca.then_some(None),
                key_usage: if req.ca {
                    vec![Usage::KeyCertSign, Usage::CrlSign, Usage::DigitalSignature]
                } else if matches!(algorithm, KeyAlgorithm::Rsa(_)) {
                    vec![Usage::DigitalSignature, Usage::KeyEncipherment]
                } else {
                    vec![Usage::DigitalSignature]
                },
                sans,
                ocsp_urls: req.ocsp_url.iter().cloned().collect(),
                ..Default::default()
            },
        };
        let issued = match &issuer {
            None => cert::issue(&template, &Issuer { name: &subject, key_identifier: &own_ski, signer: &key })?,
            Some((_, parent_cert, parent_key)) => {
                let parent_ski = parent_cert.key_identifier()?;
                cert::issue(
                    &template,
                    &Issuer { name: parent_cert.subject(), key_identifier: &parent_ski, signer: parent_key },
                )?
            }
        };
        let mut record =
            super::issuance::record_of(&issued, &algorithm.name(), Origin::Request, &ctx.caller.principal, now)?;
        record.metadata.labels = labels(&scope, &name);
        let sealed = self.seal_key(&key, !req.block_private_key)?;
        let mut scoped = ScopedCertificate {
            id: 0,
            scope: scope.clone(),
            name,
            certificate_id: 0,
            certificate_uuid: record.uuid,
            der: issued.der().to_vec(),
            key_id: None,
            signed_by: issuer.as_ref().map(|(p, _, _)| p.id),
            created_at: now,
        };
        let (mut tx, head) = self.begin().await?;
        let key_id = tx.insert_key(&sealed).await?;
        record.key_id = Some(key_id);
        record.id = tx.insert_certificate(&record).await?;
        scoped.certificate_id = record.id;
        scoped.key_id = Some(key_id);
        scoped.id = tx.insert_scoped_certificate(&scoped).await?;
        let draft = EventDraft::success("scope.generate", "certificate", record.uuid).with_details(json!({
            "scope": { scope.kind(): scope.name() }, "name": scoped.name, "subject": record.subject,
            "signed_by": req.signed_by, "ca": req.ca, "key_exportable": !req.block_private_key,
        }));
        self.commit_with_event(tx, &head, ctx, draft).await?;
        Ok(scoped)
    }

    /// Imports a certificate (PEM, DER or PKCS#12, with its key when given) into a scope.
    pub async fn import_scoped(&self, ctx: &Ctx, req: ScopedImport) -> Result<ScopedCertificate> {
        ctx.caller.require(Permission::IssueCertificates)?;
        let scope = req.scope.clone().ok_or_else(|| invalid("exactly one of folder, snippet or device is required"))?;
        let name = check_name(&req.name)?;
        if self.store.scoped_certificate_by_name(&scope, &name).await?.is_some() {
            return Err(name_taken(&scope, &name));
        }
        // A scoped certificate's id is its inventory certificate's: one inventory certificate lives in one scope.
        let password = req.passphrase.as_deref().map_or("", String::as_str);
        let bundle = super::import::read_bundle(&req.certificate, password)?;
        if let Some(leaf) = bundle.certs.first() {
            if let Some(existing) =
                self.store.certificate_by_issuer_serial(&leaf.issuer_string(), &leaf.serial_hex()).await?
            {
                return Err(CoreError::Conflict {
                    code: "scope.already_imported",
                    message: format!(
                        "this certificate (serial {}) is already in the inventory as {}: import it once",
                        existing.serial, existing.uuid
                    ),
                });
            }
        }
        let mut prepared = self
            .prepare_import(
                ctx,
                super::ImportRequest {
                    certificate: req.certificate,
                    password: req.passphrase.clone(),
                    private_key: req.key,
                    private_key_password: req.passphrase,
                },
            )
            .await?;
        prepared.record.metadata.labels.extend(labels(&scope, &name));
        // The inventory certificate and its scope row commit together: a name taken meanwhile (the unique index
        // answers scope.name_taken) leaves no certificate without a scope.
        let (mut tx, head) = self.begin().await?;
        let imported = prepared.store(&mut tx).await?;
        let record = &prepared.record;
        let mut scoped = ScopedCertificate {
            id: 0,
            scope: scope.clone(),
            name,
            certificate_id: record.id,
            certificate_uuid: record.uuid,
            der: record.der.clone(),
            key_id: record.key_id,
            signed_by: None,
            created_at: self.clock.now(),
        };
        scoped.id = tx.insert_scoped_certificate(&scoped).await?;
        let draft = EventDraft::success("scope.import", "certificate", record.uuid)
            .with_details(json!({ "scope": { scope.kind(): scope.name() }, "name": scoped.name }));
        self.commit_with_events(tx, &head, ctx, vec![imported, draft]).await?;
        Ok(scoped)
    }

    /// Removes a certificate from its scope (it stays in the inventory, without its scope labels). One that
    /// signed other certificates of the scope fails with `scope.in_use`.
    pub async fn delete_scoped(&self, ctx: &Ctx, uuid: Uuid) -> Result<()> {
        ctx.caller.require(Permission::IssueCertificates)?;
        let scoped = self.scoped_certificate(ctx, uuid).await?;
        let (mut tx, head) = self.begin().await?;
        let users = tx.count_scoped_signed_by(scoped.id).await?;
        if users > 0 {
            return Err(CoreError::Conflict {
                code: "scope.in_use",
                message: format!("'{}' signed {users} certificate(s) of its scope: delete them first", scoped.name),
            });
        }
        if !tx.delete_scoped_certificate(scoped.id).await? {
            return Err(CoreError::not_found("scope.not_found", "certificate", uuid));
        }
        if let Some(mut record) = tx.certificate_for_update(uuid).await? {
            record.metadata.labels.retain(|k, _| !k.starts_with("scope."));
            tx.update_certificate_metadata(record.id, &record.metadata).await?;
        }
        let draft = EventDraft::success("scope.delete", "certificate", uuid)
            .with_details(json!({ "scope": { scoped.scope.kind(): scoped.scope.name() }, "name": scoped.name }));
        self.commit_with_event(tx, &head, ctx, draft).await
    }

    /// A scoped certificate's chain up to the scope's self-signed root, and its key unless it was blocked from
    /// export (or `with_key` is false). Key exports are audited.
    pub async fn export_scoped(&self, ctx: &Ctx, uuid: Uuid, with_key: bool) -> Result<ScopedExport> {
        ctx.caller.require(Permission::IssueCertificates)?;
        let scoped = self.scoped_certificate(ctx, uuid).await?;
        let mut chain = vec![scoped.der.clone()];
        let mut parent = scoped.signed_by;
        let all = self
            .store
            .scoped_certificates(
                &ScopeFilter { name: None, scope: Some(scoped.scope.clone()) },
                Page::new(Some(1000), None)?,
            )
            .await?;
        while let Some(id) = parent {
            let Some(p) = all.items.iter().find(|c| c.id == id) else { break };
            if chain.len() > 16 {
                break;
            }
            chain.push(p.der.clone());
            parent = p.signed_by;
        }
        let key_pkcs8 = match (with_key, scoped.key_id) {
            (true, Some(key_id)) => {
                let stored = self
                    .store
                    .key(key_id)
                    .await?
                    .ok_or_else(|| CoreError::Storage(format!("key {key_id} of certificate {uuid} is missing")))?;
                if stored.exportable && !stored.sealed.is_empty() {
                    let pkcs8 = self.vault.open(&stored.sealed, stored.uuid.as_bytes())?;
                    let (tx, head) = self.begin().await?;
                    let draft = EventDraft::success("certificate.key_export", "certificate", uuid).with_details(
                        json!({ "key": stored.uuid, "scope": { scoped.scope.kind(): scoped.scope.name() } }),
                    );
                    self.commit_with_event(tx, &head, ctx, draft).await?;
                    Some(pkcs8)
                } else {
                    None
                }
            }
            _ => None,
        };
        Ok(ScopedExport { chain, key_pkcs8 })
    }
}
