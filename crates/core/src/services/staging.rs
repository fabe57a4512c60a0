//! The staged keystore: end certificates uploaded with their private keys and chains for a component, validated
//! on upload by the PKI engine (dates, chain to a trusted root, purpose, revocation at our authorities and at the
//! CRLs the certificates name); key requests whose keys the server generates and keeps; staged trust anchors;
//! and deploy runs that make staged changes take effect. Uploaded certificates join the inventory, labelled with
//! their keystore name and component.

use super::Services;
use crate::audit::EventDraft;
use crate::auth::{Ctx, Permission, Role};
use crate::ca::{CertificateRecord, Origin};
use crate::keystore::{Component, DeployKind, DeployRun, KeyRequest, StageStatus, StagedCertificate, StagedRoot};
use crate::store::{Store, StoreTx};
use crate::{CoreError, Result};
use certwright_pki::alg::KeyAlgorithm;
use certwright_pki::cert::Cert;
use certwright_pki::details;
use certwright_pki::key::{PrivateKey, Signer};
use certwright_pki::names::San;
use certwright_pki::validate::{parse_for_validation, Problem, Purpose, Revocation, Validator};
use certwright_pki::{pkcs8, PkiError};
use serde_json::json;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use zeroize::Zeroizing;

/// A deploy run still `running` after this many seconds was abandoned (its node stopped); the next deploy or
/// status read completes it.
const STALE_RUN_SECONDS: i64 = 30;
/// Largest certificate, chain or key text accepted.
const MAX_FILE_BYTES: usize = 256 * 1024;

/// Fetches the CRL a certificate's distribution point names. Implemented by the server (it does I/O).
pub trait CrlFetcher: Send + Sync {
    /// The CRL at `url` (DER or PEM), or why it could not be fetched.
    fn fetch<'a>(
        &'a self,
        url: &'a str,
    ) -> Pin<Box<dyn Future<Output = std::result::Result<Vec<u8>, String>> + Send + 'a>>;
}

/// An upload or a change of a staged certificate. `None` leaves a field as it is (on update) or absent.
#[derive(Default)]
pub struct StageRequest {
    pub name: Option<String>,
    /// `SERVER`, `CLIENT`, `SERVER_CLIENT`, `SIGNING_ENCRYPTION`.
    pub purpose: Option<String>,
    /// `Some(None)`: no component.
    pub component_id: Option<Option<i64>>,
    /// PEM.
    pub cert: Option<String>,
    /// PKCS#8 PEM, plain or encrypted with `key_password`.
    pub key: Option<Zeroizing<String>>,
    pub key_password: Option<Zeroizing<String>>,
    pub key_request_id: Option<i64>,
    /// Intermediates, PEM, child first.
    pub chain: Option<String>,
}

impl std::fmt::Debug for StageRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StageRequest")
            .field("name", &self.name)
            .field("purpose", &self.purpose)
            .field("component_id", &self.component_id)
            .field("key", &self.key.as_ref().map(|_| "<redacted>"))
            .field("key_request_id", &self.key_request_id)
            .finish_non_exhaustive()
    }
}

/// A CSR to generate, with the subject and names it asks for.
#[derive(Debug, Clone, Default)]
pub struct KeyRequestSpec {
    /// RSA modulus size: 2048 (default), 3072 or 4096.
    pub key_size: Option<u32>,
    pub description: Option<String>,
    pub purpose: String,
    /// RFC 4514 attributes in order (`CN`, `O`, …) with their values.
    pub subject: Vec<(&'static str, String)>,
    /// SANs in API spelling (`dns:…`, `ip:…`, `email:…`, `uri:…`).
    pub sans: Vec<String>,
}

fn invalid(code: &'static str, message: impl Into<String>) -> CoreError {
    CoreError::invalid(code, message)
}

/// The stable code of a validation problem: `validation.<what>`.
pub fn problem_code(p: &Problem) -> &'static str {
    match p.qradar_code() {
        2001 => "validation.parse",
        2002 => "validation.decode",
        2003 => "validation.expired",
        2004 => "validation.not_yet_valid",
        2005 => "validation.revoked",
        2011 => "validation.issuer_not_found",
        2012 => "validation.purpose",
        2013 => "validation.chain_invalid",
        2014 => "validation.bad_self_signed",
        2020 => "validation.crl_invalid",
        2030 => "validation.crl_unexpected",
        2031 => "validation.crl_issuer_not_found",
        2032 => "validation.crl_issuer_not_allowed",
        2033 => "validation.crl_signature",
        2034 => "validation.crl_expired",
        _ => "validation.unexpected",
    }
}

fn refused(p: Problem) -> CoreError {
    CoreError::invalid(problem_code(&p), p.to_string())
}

/// The purpose spelled `SERVER`, … as stored (`server`, …).
pub fn parse_purpose(s: &str) -> Result<(Purpose, String)> {
    let p = Purpose::parse(s).ok_or_else(|| {
        invalid("keystore.invalid_purpose", "purpose must be SERVER, CLIENT, SERVER_CLIENT or SIGNING_ENCRYPTION")
    })?;
    Ok((p, s.trim().to_ascii_lowercase().replace('-', "_")))
}

fn require_manager(ctx: &Ctx) -> Result<()> {
    ctx.caller.require(Permission::IssueCertificates)?;
    if !matches!(ctx.caller.role, Role::Admin | Role::Operator) {
        return Err(CoreError::Forbidden {
            role: ctx.caller.role.as_str().to_owned(),
            action: "change the staged keystore (admin or operator only)",
        });
    }
    Ok(())
}

fn pem_certs(text: &str) -> Result<Vec<Cert>> {
    if text.len() > MAX_FILE_BYTES {
        return Err(refused(Problem::Parse(format!("larger than {MAX_FILE_BYTES} bytes"))));
    }
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let blocks = certwright_pki::pem::decode_all(text).map_err(|e| refused(Problem::Parse(e.to_string())))?;
    if blocks.is_empty() {
        return Err(refused(Problem::Parse("no PEM block".to_owned())));
    }
    blocks
        .iter()
        .map(|(label, der)| {
            if label != "CERTIFICATE" {
                return Err(refused(Problem::Parse(format!("a PEM {label}, not a CERTIFICATE"))));
            }
            parse_for_validation(der).map_err(refused)
        })
        .collect()
}

fn key_hex(cert: &Cert) -> String {
    match details::subject_key_id(cert) {
        Some(id) => certwright_pki::digest::hex(&id),
        None => {
            let spki = cert.public_key().map(|k| k.der().to_vec()).unwrap_or_else(|_| cert.der().to_vec());
            certwright_pki::digest::hex(&certwright_pki::digest::sha256(&spki))
        }
    }
}

impl<S: Store> Services<S> {
    /// Every component.
    pub async fn components(&self, ctx: &Ctx) -> Result<Vec<Component>> {
        ctx.caller.require(Permission::ReadInventory)?;
        self.store.components().await
    }

    /// Registers a component that keystore certificates may be assigned to.
    pub async fn create_component(&self, ctx: &Ctx, name: &str) -> Result<Component> {
        ctx.caller.require(Permission::ManageAuthorities)?;
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 128 || name.chars().any(char::is_control) {
            return Err(invalid("component.invalid_name", "a component name is 1 to 128 printable characters"));
        }
        let (mut tx, head) = self.begin().await?;
        let component = tx.insert_component(name, self.clock.now()).await?;
        let draft = EventDraft::success("component.create", "component", component.id.to_string())
            .with_details(json!({ "name": component.name }));
        self.commit_with_event(tx, &head, ctx, draft).await?;
        Ok(component)
    }

    /// Every staged certificate.
    pub async fn staged_certificates(&self, ctx: &Ctx) -> Result<Vec<StagedCertificate>> {
        ctx.caller.require(Permission::ReadInventory)?;
        self.store.staged_certificates().await
    }

    /// One staged certificate.
    pub async fn staged_certificate(&self, ctx: &Ctx, id: i64) -> Result<StagedCertificate> {
        ctx.caller.require(Permission::ReadInventory)?;
        self.store
            .staged_certificate(id)
            .await?
            .ok_or_else(|| CoreError::not_found("keystore.not_found", "certificate", id))
    }

    /// Validates `leaf` with `chain` for `purpose` as an upload is validated: against our root authorities and
    /// the staged trust anchors (and itself when self-signed), through the chain and our authorities, with
    /// revocation from our own records and from the CRLs the certificates name. Returns the path, leaf first.
    pub async fn validate_for_keystore(
        &self,
        leaf: &Cert,
        chain: &[Cert],
        purpose: Option<Purpose>,
        fetcher: &dyn CrlFetcher,
    ) -> Result<std::result::Result<Vec<Cert>, Problem>> {
        let snapshot = self.snapshot().await?;
        let ours: Vec<(&crate::ca::Authority, Cert)> = snapshot
            .authorities
            .iter()
            .filter_map(|a| Cert::from_der(&a.certificate_der).ok().map(|c| (a, c)))
            .collect();
        let mut anchors: Vec<Cert> =
            ours.iter().filter(|(a, _)| a.kind == crate::ca::AuthorityKind::Root).map(|(_, c)| c.clone()).collect();
        for root in self.store.staged_roots().await? {
            if root.status != StageStatus::DeletePending {
                if let Ok(c) = Cert::from_der(&root.der) {
                    anchors.push(c);
                }
            }
        }
        if details::is_self_issued(leaf) {
            anchors.push(leaf.clone());
        }
        let mut intermediates: Vec<Cert> = chain.to_vec();
        intermediates.extend(ours.iter().map(|(_, c)| c.clone()));

        // Revocation: our own records for what our authorities issued, the named CRLs for the rest.
        let mut ours_revoked: HashMap<(String, String), Revocation> = HashMap::new();
        let mut crls = Vec::new();
        let mut fetch_problem = None;
        for cert in std::iter::once(leaf).chain(chain) {
            let issuer = ours.iter().find(|(a, c)| {
                a.subject == cert.issuer_string() && c.public_key().is_ok_and(|k| cert.verify_signed_by(&k).is_ok())
            });
            if let Some((authority, _)) = issuer {
                let status = match self.store.revocation(authority.id, &cert.serial_hex()).await? {
                    Some(r) if r.released_at.is_none() => Revocation::Revoked { at: Some(r.revoked_at), reason: None },
                    _ => Revocation::Good,
                };
                ours_revoked.insert((cert.issuer_string(), cert.serial_hex()), status);
                continue;
            }
            for url in details::crl_urls(cert).into_iter().filter(|u| u.starts_with("http://")).take(2) {
                match fetcher.fetch(&url).await {
                    Ok(bytes) => crls.push(bytes),
                    Err(why) => {
                        fetch_problem.get_or_insert(Problem::CrlUnsupported {
                            issuer: cert.issuer_string(),
                            detail: format!("the CRL at {url} could not be fetched: {why}"),
                        });
                    }
                }
            }
        }
        let source = |cert: &Cert, _issuer: &Cert| -> std::result::Result<Revocation, String> {
            Ok(ours_revoked.get(&(cert.issuer_string(), cert.serial_hex())).copied().unwrap_or(Revocation::Unknown))
        };
        let mut validator = Validator::new(&anchors, self.clock.now());
        validator.intermediates = &intermediates;
        validator.purpose = purpose;
        validator.crls = &crls;
        validator.revocation = Some(&source);
        let mut v = validator.validate(leaf);
        if let Some(p) = fetch_problem {
            v.problems.push(p);
        }
        Ok(match v.problems.into_iter().next() {
            Some(p) => Err(p),
            None => Ok(v.chain),
        })
    }

    /// Uploads an end certificate into the staged keystore (status deploy pending).
    pub async fn stage_certificate(
        &self,
        ctx: &Ctx,
        req: StageRequest,
        fetcher: &dyn CrlFetcher,
    ) -> Result<StagedCertificate> {
        require_manager(ctx)?;
        let name = req.name.as_deref().map(str::trim).unwrap_or_default().to_owned();
        if name.is_empty() || name.chars().count() > 255 {
            return Err(invalid("keystore.invalid_name", "name is required: 1 to 255 characters"));
        }
        let (purpose, purpose_name) = parse_purpose(
            req.purpose.as_deref().ok_or_else(|| invalid("keystore.invalid_purpose", "purpose is required"))?,
        )?;
        let component_id = self.check_component(req.component_id.flatten()).await?;
        let cert_pem = req.cert.as_deref().ok_or_else(|| invalid("keystore.missing_cert", "cert_file is required"))?;
        let now = self.clock.now();
        let mut staged = StagedCertificate {
            id: 0,
            name,
            purpose: purpose_name,
            component_id,
            status: StageStatus::DeployPending,
            certificate_id: 0,
            certificate_uuid: uuid::Uuid::nil(),
            der: Vec::new(),
            chain: Vec::new(),
            key_id: None,
            key_request_id: None,
            validation: 0,
            created_at: now,
            updated_at: now,
        };
        let material = self.stage_material(cert_pem, req.chain.as_deref(), &req, purpose, fetcher).await?;
        let (mut tx, head) = self.begin().await?;
        self.store_material(&mut tx, ctx, &mut staged, material).await?;
        staged.id = tx.insert_staged_certificate(&staged).await?;
        let draft = EventDraft::success("keystore.upload", "certificate", staged.certificate_uuid).with_details(json!({
            "keystore_id": staged.id, "name": staged.name, "purpose": staged.purpose, "component": staged.component_id,
            "key_request": staged.key_request_id,
        }));
        self.commit_with_event(tx, &head, ctx, draft).await?;
        Ok(staged)
    }

    /// Changes a staged certificate: fields sent replace the stored ones; a new certificate is validated like an
    /// upload. The entry becomes deploy pending again.
    pub async fn update_staged_certificate(
        &self,
        ctx: &Ctx,
        id: i64,
        req: StageRequest,
        fetcher: &dyn CrlFetcher,
    ) -> Result<StagedCertificate> {
        require_manager(ctx)?;
        let mut staged = self.staged_certificate(ctx, id).await?;
        if let Some(name) = req.name.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
            if name.chars().count() > 255 {
                return Err(invalid("keystore.invalid_name", "name is 1 to 255 characters"));
            }
            staged.name = name.to_owned();
        }
        if let Some(p) = req.purpose.as_deref().filter(|p| !p.trim().is_empty()) {
            staged.purpose = parse_purpose(p)?.1;
        }
        if let Some(component) = req.component_id {
            staged.component_id = self.check_component(component).await?;
        }
        let purpose = parse_purpose(&staged.purpose)?.0;
        let material = match req.cert.as_deref().filter(|c| !c.trim().is_empty()) {
            Some(cert) => Some(self.stage_material(cert, req.chain.as_deref(), &req, purpose, fetcher).await?),
            None => {
                if req.key.is_some()
                    || req.key_request_id.is_some()
                    || req.chain.as_deref().is_some_and(|c| !c.trim().is_empty())
                {
                    return Err(invalid(
                        "keystore.missing_cert",
                        "a new key or chain needs the certificate it belongs to: send cert_file too",
                    ));
                }
                // A new purpose is checked against the stored certificate.
                let leaf = Cert::from_der(&staged.der)?;
                let chain: Vec<Cert> = staged.chain.iter().filter_map(|d| Cert::from_der(d).ok()).collect();
                if let Err(p) = self.validate_for_keystore(&leaf, &chain, Some(purpose), fetcher).await? {
                    return Err(refused(p));
                }
                None
            }
        };
        staged.status = StageStatus::DeployPending;
        staged.updated_at = self.clock.now();
        let (mut tx, head) = self.begin().await?;
        if let Some(material) = material {
            self.store_material(&mut tx, ctx, &mut staged, material).await?;
        }
        if !tx.update_staged_certificate(&staged).await? {
            return Err(CoreError::not_found("keystore.not_found", "certificate", id));
        }
        let draft = EventDraft::success("keystore.update", "certificate", staged.certificate_uuid)
            .with_details(json!({ "keystore_id": staged.id, "name": staged.name, "purpose": staged.purpose }));
        self.commit_with_event(tx, &head, ctx, draft).await?;
        self.staged_certificate(ctx, id).await
    }

    /// Marks a staged certificate for deletion at the next deploy.
    pub async fn delete_staged_certificate(&self, ctx: &Ctx, id: i64) -> Result<()> {
        require_manager(ctx)?;
        let mut staged = self.staged_certificate(ctx, id).await?;
        staged.status = StageStatus::DeletePending;
        staged.updated_at = self.clock.now();
        let (mut tx, head) = self.begin().await?;
        if !tx.update_staged_certificate(&staged).await? {
            return Err(CoreError::not_found("keystore.not_found", "certificate", id));
        }
        let draft = EventDraft::success("keystore.delete", "certificate", staged.certificate_uuid)
            .with_details(json!({ "keystore_id": staged.id, "name": staged.name }));
        self.commit_with_event(tx, &head, ctx, draft).await
    }

    async fn check_component(&self, id: Option<i64>) -> Result<Option<i64>> {
        match id.filter(|id| *id != 0) {
            None => Ok(None),
            Some(id) => {
                if self.store.components().await?.iter().any(|c| c.id == id) {
                    Ok(Some(id))
                } else {
                    Err(invalid("keystore.unknown_component", format!("no component has id {id}")))
                }
            }
        }
    }

    /// Reads, validates and matches with its key the certificate of an upload.
    async fn stage_material(
        &self,
        cert_pem: &str,
        chain_pem: Option<&str>,
        req: &StageRequest,
        purpose: Purpose,
        fetcher: &dyn CrlFetcher,
    ) -> Result<Material> {
        let leaf = match pem_certs(cert_pem)?.into_iter().next() {
            Some(c) => c,
            None => return Err(refused(Problem::Parse("cert_file holds no certificate".to_owned()))),
        };
        let chain = pem_certs(chain_pem.unwrap_or_default())?;
        let path = match self.validate_for_keystore(&leaf, &chain, Some(purpose), fetcher).await? {
            Ok(path) => path,
            Err(p) => return Err(refused(p)),
        };
        let key = match (&req.key, req.key_request_id) {
            (Some(_), Some(_)) => {
                return Err(invalid("keystore.key_and_csr", "send key_file or csr_id, not both"));
            }
            (Some(pem), None) => {
                if pem.len() > MAX_FILE_BYTES {
                    return Err(invalid("keystore.invalid_key", "key_file is too large"));
                }
                let der =
                    pkcs8::private_key_from_pem_or_der(pem.as_bytes(), req.key_password.as_ref().map(|p| p.as_str()))
                        .map_err(key_error)?;
                let key = PrivateKey::from_pkcs8_der(&der).map_err(key_error)?;
                KeySource::Uploaded(key)
            }
            (None, Some(id)) => {
                let kr = self
                    .store
                    .key_requests()
                    .await?
                    .into_iter()
                    .find(|k| k.id == id)
                    .ok_or_else(|| invalid("keystore.unknown_csr", format!("no pending CSR has id {id}")))?;
                KeySource::Request(kr)
            }
            (None, None) => {
                let spki = leaf.public_key().map(|k| k.der().to_vec()).unwrap_or_default();
                match self.store.key_requests().await?.into_iter().find(|k| k.public_key == spki) {
                    Some(kr) => KeySource::Request(kr),
                    None => {
                        return Err(invalid(
                            "keystore.no_key",
                            "no private key: send key_file or csr_id (no pending CSR has this certificate's key)",
                        ))
                    }
                }
            }
        };
        let matches = match &key {
            KeySource::Uploaded(k) => pkcs8::matches_certificate(k, &leaf).map_err(key_error)?,
            KeySource::Request(kr) => leaf.public_key().is_ok_and(|k| k.der() == kr.public_key.as_slice()),
        };
        if !matches {
            return Err(invalid(
                "keystore.key_mismatch",
                "the private key does not belong to the certificate (their public keys differ)",
            ));
        }
        if let KeySource::Uploaded(k) = &key {
            if !matches!(k.algorithm(), KeyAlgorithm::Rsa(_) | KeyAlgorithm::Ecdsa(_)) {
                return Err(invalid(
                    "keystore.unsupported_key",
                    "only RSA and ECDSA keys can be stored in the keystore",
                ));
            }
        }
        Ok(Material { leaf, path, key })
    }

    /// Records the certificate of an upload in the inventory (or labels the inventory certificate it already
    /// is), seals its key, and points `staged` at both.
    async fn store_material(
        &self,
        tx: &mut S::Tx,
        ctx: &Ctx,
        staged: &mut StagedCertificate,
        material: Material,
    ) -> Result<()> {
        let Material { leaf, path, key } = material;
        let component = match staged.component_id {
            Some(id) => self.store.components().await?.into_iter().find(|c| c.id == id).map(|c| c.name),
            None => None,
        };
        let mut labels = std::collections::BTreeMap::new();
        labels.insert("keystore.name".to_owned(), staged.name.chars().take(200).collect());
        if let Some(c) = component {
            labels.insert("keystore.component".to_owned(), c.chars().take(200).collect());
        }
        let (key_id, key_request_id) = match key {
            KeySource::Uploaded(k) => (Some(tx.insert_key(&self.seal_key(&k, false)?).await?), None),
            KeySource::Request(kr) => {
                tx.delete_key_request(kr.id).await?;
                (Some(kr.key_id), Some(kr.id))
            }
        };
        let existing = self.store.certificate_by_issuer_serial(&leaf.issuer_string(), &leaf.serial_hex()).await?;
        let record = match existing {
            Some(mut record) => {
                record.metadata.labels.extend(labels);
                tx.update_certificate_metadata(record.id, &record.metadata).await?;
                record
            }
            None => {
                let key_name =
                    leaf.public_key().map(|k| key_algorithm_name(k.kind)).unwrap_or_else(|_| "unknown".to_owned());
                let mut record: CertificateRecord = super::issuance::record_of(
                    &leaf,
                    &key_name,
                    Origin::Import,
                    &ctx.caller.principal,
                    self.clock.now(),
                )?;
                record.key_id = key_id;
                record.metadata.labels = labels;
                let snapshot = self.snapshot().await?;
                record.authority_id = snapshot
                    .authorities
                    .iter()
                    .find(|a| {
                        a.subject == leaf.issuer_string()
                            && Cert::from_der(&a.certificate_der)
                                .and_then(|ca| ca.public_key())
                                .is_ok_and(|k| leaf.verify_signed_by(&k).is_ok())
                    })
                    .map(|a| a.id);
                record.id = tx.insert_certificate(&record).await?;
                record
            }
        };
        staged.certificate_id = record.id;
        staged.certificate_uuid = record.uuid;
        staged.der = leaf.der().to_vec();
        staged.chain = path.iter().skip(1).map(|c| c.der().to_vec()).collect();
        staged.key_id = key_id;
        staged.key_request_id = key_request_id;
        staged.validation = 0;
        Ok(())
    }

    /// Every pending key request.
    pub async fn key_requests(&self, ctx: &Ctx) -> Result<Vec<KeyRequest>> {
        ctx.caller.require(Permission::ReadInventory)?;
        self.store.key_requests().await
    }

    /// One pending key request.
    pub async fn key_request(&self, ctx: &Ctx, id: i64) -> Result<KeyRequest> {
        self.key_requests(ctx)
            .await?
            .into_iter()
            .find(|k| k.id == id)
            .ok_or_else(|| CoreError::not_found("key_request.not_found", "CSR", id))
    }

    /// Generates an RSA key and a CSR for it; the key stays here until a certificate for it is uploaded.
    pub async fn create_key_request(&self, ctx: &Ctx, spec: KeyRequestSpec) -> Result<KeyRequest> {
        require_manager(ctx)?;
        let bits = spec.key_size.unwrap_or(2048);
        if !matches!(bits, 2048 | 3072 | 4096) {
            return Err(invalid("key_request.invalid_key_size", "key_size must be 2048, 3072 or 4096"));
        }
        let (_, purpose) = parse_purpose(&spec.purpose)?;
        if !spec.subject.iter().any(|(k, v)| *k == "CN" && !v.trim().is_empty()) {
            return Err(invalid("key_request.missing_common_name", "common_name is required"));
        }
        let mut dn = String::new();
        for (k, v) in spec.subject.iter().rev().filter(|(_, v)| !v.is_empty()) {
            if v.chars().count() > 64 || v.chars().any(char::is_control) {
                return Err(invalid(
                    "key_request.invalid_subject",
                    format!("{k} must be 1 to 64 printable characters"),
                ));
            }
            let escaped: String = v
                .chars()
                .flat_map(|c| {
                    let escape = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=');
                    escape.then_some('\\').into_iter().chain(std::iter::once(c))
                })
                .collect();
            if !dn.is_empty() {
                dn.push(',');
            }
            dn.push_str(&format!("{k}={escaped}"));
        }
        let subject =
            certwright_pki::names::parse_dn(&dn).map_err(|e| invalid("key_request.invalid_subject", e.to_string()))?;
        let sans = spec
            .sans
            .iter()
            .map(|s| San::parse(s).map_err(|e| invalid("key_request.invalid_san", e.to_string())))
            .collect::<Result<Vec<_>>>()?;
        let key = PrivateKey::generate(KeyAlgorithm::Rsa(bits))?;
        let csr = details::build_csr(&key, &subject, &sans)?;
        let sealed = self.seal_key(&key, false)?;
        let mut request = KeyRequest {
            id: 0,
            description: spec.description.filter(|d| !d.is_empty()),
            purpose,
            key_id: 0,
            public_key: key.public_key_der(),
            csr,
            created_by: ctx.caller.principal.clone(),
            created_at: self.clock.now(),
        };
        let (mut tx, head) = self.begin().await?;
        request.key_id = tx.insert_key(&sealed).await?;
        request.id = tx.insert_key_request(&request).await?;
        let draft = EventDraft::success("key_request.create", "key_request", request.id.to_string())
            .with_details(json!({ "subject": dn, "key": sealed.uuid, "bits": bits }));
        self.commit_with_event(tx, &head, ctx, draft).await?;
        Ok(request)
    }

    /// Deletes a pending key request and destroys its key.
    pub async fn delete_key_request(&self, ctx: &Ctx, id: i64) -> Result<()> {
        require_manager(ctx)?;
        let request = self.key_request(ctx, id).await?;
        let (mut tx, head) = self.begin().await?;
        if !tx.delete_key_request(id).await? {
            return Err(CoreError::not_found("key_request.not_found", "CSR", id));
        }
        tx.destroy_key(request.key_id, self.clock.now()).await?;
        let draft = EventDraft::success("key_request.delete", "key_request", id.to_string());
        self.commit_with_event(tx, &head, ctx, draft).await
    }

    /// Every staged trust anchor.
    pub async fn staged_roots(&self, ctx: &Ctx) -> Result<Vec<StagedRoot>> {
        ctx.caller.require(Permission::ReadInventory)?;
        self.store.staged_roots().await
    }

    /// Stages a self-signed root certificate (PEM) as a trust anchor, after validating it.
    pub async fn stage_root(&self, ctx: &Ctx, pem: &str, fetcher: &dyn CrlFetcher) -> Result<StagedRoot> {
        require_manager(ctx)?;
        let cert = match pem_certs(pem)?.as_slice() {
            [one] => one.clone(),
            [] => return Err(refused(Problem::Parse("no certificate".to_owned()))),
            _ => return Err(invalid("keystore.invalid_root", "send one root certificate")),
        };
        if !details::is_self_issued(&cert) || cert.ca().ok().flatten().is_none() {
            return Err(invalid("keystore.invalid_root", "a root certificate is a self-signed CA certificate"));
        }
        if let Err(p) = self.validate_for_keystore(&cert, &[], None, fetcher).await? {
            return Err(refused(p));
        }
        let mut root = StagedRoot {
            id: 0,
            key_id_hex: key_hex(&cert),
            der: cert.der().to_vec(),
            status: StageStatus::DeployPending,
            created_at: self.clock.now(),
        };
        let (mut tx, head) = self.begin().await?;
        root.id = tx.insert_staged_root(&root).await?;
        let draft = EventDraft::success("keystore.root_upload", "root_certificate", root.key_id_hex.clone())
            .with_details(json!({ "subject": cert.subject_string() }));
        self.commit_with_event(tx, &head, ctx, draft).await?;
        Ok(root)
    }

    /// Marks a staged trust anchor for deletion at the next deploy (one never deployed goes at once).
    pub async fn delete_staged_root(&self, ctx: &Ctx, key_id_hex: &str) -> Result<()> {
        require_manager(ctx)?;
        let root = self
            .store
            .staged_roots()
            .await?
            .into_iter()
            .find(|r| r.key_id_hex == key_id_hex && r.status != StageStatus::DeletePending)
            .ok_or_else(|| CoreError::not_found("keystore.root_not_found", "root certificate", key_id_hex))?;
        let (mut tx, head) = self.begin().await?;
        tx.set_staged_root_status(root.id, StageStatus::DeletePending).await?;
        let draft = EventDraft::success("keystore.root_delete", "root_certificate", root.key_id_hex.clone());
        self.commit_with_event(tx, &head, ctx, draft).await
    }

    /// The latest deploy run (an abandoned one is completed first).
    pub async fn latest_deploy(&self, ctx: &Ctx) -> Result<Option<DeployRun>> {
        ctx.caller.require(Permission::ReadInventory)?;
        if let Some(run) = self.store.latest_deploy_run().await? {
            if run.status == "running" && self.clock.now() - run.started_at > STALE_RUN_SECONDS {
                self.complete_deploy(&run).await?;
            }
        }
        self.store.latest_deploy_run().await
    }

    /// Starts a deploy of the staged changes; [`Services::complete_deploy`] finishes it (in the background).
    /// Fails with `deploy.running` while another runs and `deploy.nothing_staged` when nothing waits.
    pub async fn start_deploy(&self, ctx: &Ctx, kind: DeployKind) -> Result<DeployRun> {
        require_manager(ctx)?;
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        if let Some(running) = tx.running_deploy_run().await? {
            drop(tx);
            if now - running.started_at <= STALE_RUN_SECONDS {
                return Err(CoreError::Conflict {
                    code: "deploy.running",
                    message: "a deploy is already running".to_owned(),
                });
            }
            self.complete_deploy(&running).await?;
            tx = self.store.begin().await?;
        }
        if tx.count_staged_changes().await? == 0 && kind == DeployKind::Incremental {
            return Err(CoreError::Conflict {
                code: "deploy.nothing_staged",
                message: "there are no staged changes to deploy".to_owned(),
            });
        }
        drop(tx);
        let mut run = DeployRun {
            id: 0,
            uuid: uuid::Uuid::new_v4(),
            kind,
            status: "running".to_owned(),
            initiated_by: ctx.caller.principal.clone(),
            node: self.settings.node_id.clone(),
            changes: 0,
            error_message: None,
            started_at: now,
            finished_at: None,
        };
        let (mut tx, head) = self.begin().await?;
        run.id = tx.insert_deploy_run(&run).await?;
        let draft = EventDraft::success("keystore.deploy_start", "deploy", run.uuid)
            .with_details(json!({ "type": kind.as_str() }));
        self.commit_with_event(tx, &head, ctx, draft).await?;
        Ok(run)
    }

    /// Applies the staged changes and ends `run`, in one transaction; a run already ended is left alone, so a
    /// retry does nothing twice.
    pub async fn complete_deploy(&self, run: &DeployRun) -> Result<DeployRun> {
        let (mut tx, head) = self.begin().await?;
        let Some(current) = tx.running_deploy_run().await?.filter(|r| r.id == run.id) else {
            return Ok(run.clone());
        };
        let changes = tx.apply_staged_changes().await?;
        let done = DeployRun { status: "complete".to_owned(), changes, finished_at: Some(self.clock.now()), ..current };
        tx.finish_deploy_run(&done).await?;
        let draft = EventDraft::success("keystore.deploy", "deploy", done.uuid)
            .with_details(json!({ "type": done.kind.as_str(), "changes": changes }));
        self.commit_with_event(tx, &head, &Ctx::system(), draft).await?;
        Ok(done)
    }
}

enum KeySource {
    Uploaded(PrivateKey),
    Request(KeyRequest),
}

struct Material {
    leaf: Cert,
    /// The validated path, leaf first.
    path: Vec<Cert>,
    key: KeySource,
}

fn key_error(e: PkiError) -> CoreError {
    match e {
        PkiError::WrongPassword => invalid("keystore.wrong_password", "key_password does not open key_file"),
        PkiError::PasswordRequired => invalid("keystore.password_required", "key_file is encrypted: send key_password"),
        other => invalid("keystore.invalid_key", format!("key_file: {other}")),
    }
}

fn key_algorithm_name(kind: certwright_pki::key::PublicKeyKind) -> String {
    use certwright_pki::key::PublicKeyKind;
    match kind {
        PublicKeyKind::Rsa { bits } => format!("rsa-{bits}"),
        PublicKeyKind::Ecdsa(c) => KeyAlgorithm::Ecdsa(c).name(),
        PublicKeyKind::Ed25519 => "ed25519".to_owned(),
        _ => "unknown".to_owned(),
    }
}
