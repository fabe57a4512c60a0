//! Importing certificates issued elsewhere (or here, before) into the inventory, linked to a known authority
//! when one of them signed it: from PEM, DER, PKCS#7 bundles or PKCS#12 files, with the private key when the
//! file holds one or the caller sends it, sealed in the key vault like the keys generated here.

use super::issuance::record_of;
use super::Services;
use crate::audit::EventDraft;
use crate::auth::{Ctx, Permission};
use crate::ca::{CertificateRecord, NewKey, Origin};
use crate::store::{Store, StoreTx};
use crate::{CoreError, Result};
use certwright_pki::alg::KeyAlgorithm;
use certwright_pki::cert::Cert;
use certwright_pki::key::{PrivateKey, PublicKeyKind};
use certwright_pki::{pkcs12, pkcs7, pkcs8, PkiError};
use serde_json::json;
use zeroize::Zeroizing;

/// Largest bundle accepted for import, in bytes.
pub const MAX_IMPORT_BYTES: usize = 512 * 1024;

/// A certificate to import, as every face hands it to the core.
#[derive(Clone, Default)]
pub struct ImportRequest {
    /// PEM (`CERTIFICATE` blocks, the certificate first, or `PKCS7` blocks), a DER certificate, a DER PKCS#7
    /// certs-only bundle, or a PKCS#12 file.
    pub certificate: Vec<u8>,
    /// The PKCS#12 password (none means empty). Also opens `private_key` when `private_key_password` is absent.
    pub password: Option<Zeroizing<String>>,
    /// The certificate's private key, when it is not inside a PKCS#12 file: PEM or DER, PKCS#8 (plain or
    /// encrypted), PKCS#1 (`RSA PRIVATE KEY`) or SEC1 (`EC PRIVATE KEY`).
    pub private_key: Option<Zeroizing<Vec<u8>>>,
    /// The password of an encrypted `private_key`.
    pub private_key_password: Option<Zeroizing<String>>,
}

impl std::fmt::Debug for ImportRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportRequest")
            .field("certificate_bytes", &self.certificate.len())
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("private_key", &self.private_key.as_ref().map(|_| "<redacted>"))
            .field("private_key_password", &self.private_key_password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// What the certificate input held.
pub(crate) struct Bundle {
    /// The certificate to import first, then the rest of the bundle.
    pub certs: Vec<Cert>,
    /// PKCS#8 DER of the key a PKCS#12 file held.
    key: Option<Zeroizing<Vec<u8>>>,
    format: &'static str,
}

/// The known authority whose key signed `cert`, if any.
pub(crate) fn issuing_authority<'a>(
    authorities: &'a [crate::ca::Authority],
    cert: &Cert,
) -> Option<&'a crate::ca::Authority> {
    authorities.iter().find(|a| {
        a.subject == cert.issuer_string()
            && Cert::from_der(&a.certificate_der)
                .and_then(|ca| ca.public_key())
                .is_ok_and(|k| cert.verify_signed_by(&k).is_ok())
    })
}

fn invalid(message: impl Into<String>) -> CoreError {
    CoreError::invalid("import.invalid", message)
}

/// A refusal from the PKI engine as the import's own problem; `code` names malformed input.
fn refused(code: &'static str) -> impl Fn(PkiError) -> CoreError {
    move |e| match e {
        PkiError::WrongPassword => CoreError::invalid(
            "import.wrong_password",
            "the password does not open the file (or the file was altered); check the password",
        ),
        PkiError::PasswordRequired => {
            CoreError::invalid("import.password_required", "the private key is encrypted: send its password")
        }
        PkiError::Unsupported(what) => CoreError::invalid("import.unsupported", format!("not supported: {what}")),
        other => CoreError::invalid(code, other.to_string()),
    }
}

fn certs(ders: &[Vec<u8>]) -> Result<Vec<Cert>> {
    ders.iter().map(|der| Cert::from_der(der).map_err(|e| invalid(e.to_string()))).collect()
}

/// Moves to the front the certificate that issues no other one of the bundle (the end of the chain), for
/// bundles whose order says nothing (PKCS#7, PKCS#12 without a key).
fn leaf_first(mut certs: Vec<Cert>) -> Vec<Cert> {
    let issues_another = |c: &Cert| certs.iter().any(|o| o.der() != c.der() && o.issuer() == c.subject());
    if let Some(i) = certs.iter().position(|c| !issues_another(c)) {
        let leaf = certs.remove(i);
        certs.insert(0, leaf);
    }
    certs
}

/// Reads the certificate input in whichever format it came.
pub(crate) fn read_bundle(input: &[u8], password: &str) -> Result<Bundle> {
    if input.len() > MAX_IMPORT_BYTES {
        return Err(invalid(format!("larger than {MAX_IMPORT_BYTES} bytes")));
    }
    if pkcs12::is_pkcs12(input) {
        let contents = pkcs12::parse(input, password).map_err(refused("import.invalid"))?;
        let certs = certs(&contents.certificates)?;
        // With a key, the engine put its certificate first.
        let certs = if contents.private_key.is_some() { certs } else { leaf_first(certs) };
        return Ok(Bundle { certs, key: contents.private_key, format: "pkcs12" });
    }
    if input.first() == Some(&0x30) {
        if let Ok(cert) = Cert::from_der(input) {
            return Ok(Bundle { certs: vec![cert], key: None, format: "der" });
        }
        let ders = pkcs7::certificates(input)
            .map_err(|_| invalid("neither a DER certificate, a PKCS#7 bundle nor a PKCS#12 file"))?;
        return Ok(Bundle { certs: leaf_first(certs(&ders)?), key: None, format: "pkcs7" });
    }
    let text = std::str::from_utf8(input).map_err(|_| invalid("neither PEM nor DER"))?;
    let blocks = certwright_pki::pem::decode_all(text).map_err(|e| invalid(e.to_string()))?;
    let (mut ders, mut pkcs7_blocks) = (Vec::new(), false);
    for (label, der) in blocks {
        match label.as_str() {
            "CERTIFICATE" => ders.push(der),
            "PKCS7" => {
                ders.extend(pkcs7::certificates(&der).map_err(|e| invalid(e.to_string()))?);
                pkcs7_blocks = true;
            }
            _ => {}
        }
    }
    if ders.is_empty() {
        return Err(invalid("no CERTIFICATE or PKCS7 block found"));
    }
    if pkcs7_blocks {
        return Ok(Bundle { certs: leaf_first(certs(&ders)?), key: None, format: "pkcs7" });
    }
    Ok(Bundle { certs: certs(&ders)?, key: None, format: "pem" })
}

pub(crate) fn key_name(kind: PublicKeyKind) -> String {
    match kind {
        PublicKeyKind::Rsa { bits } => format!("rsa-{bits}"),
        PublicKeyKind::Ecdsa(c) => KeyAlgorithm::Ecdsa(c).name(),
        PublicKeyKind::Ed25519 => "ed25519".to_owned(),
        PublicKeyKind::MlDsa(l) => KeyAlgorithm::MlDsa(l).name(),
        PublicKeyKind::Dsa { bits } => format!("dsa-{bits}"),
        _ => "unknown".to_owned(),
    }
}

impl<S: Store> Services<S> {
    /// Imports a certificate: the first of a PEM bundle, the end of the chain of a PKCS#7 bundle, or the
    /// certificate of a PKCS#12 file's key. Further certificates of the bundle are checked, counted in the audit
    /// event, and not stored. A private key (from the PKCS#12 file, or sent separately) must belong to the
    /// certificate; it is sealed in the key vault, exportable, in the same transaction as the certificate. The
    /// certificate is linked to the known authority whose key signed it.
    pub async fn import_certificate(&self, ctx: &Ctx, req: ImportRequest) -> Result<ImportedCertificate> {
        let mut prepared = self.prepare_import(ctx, req).await?;
        let (mut tx, head) = self.begin().await?;
        let draft = prepared.store(&mut tx).await?;
        self.commit_with_event(tx, &head, ctx, draft).await?;
        Ok(ImportedCertificate { record: prepared.record, validation: prepared.validation })
    }

    /// Reads, checks and validates an import and seals its key, touching no data: what
    /// [`PreparedImport::store`] then writes in the caller's transaction.
    pub(crate) async fn prepare_import(&self, ctx: &Ctx, req: ImportRequest) -> Result<PreparedImport> {
        ctx.caller.require(Permission::IssueCertificates)?;
        let password = req.password.as_deref().map_or("", String::as_str);
        let bundle = read_bundle(&req.certificate, password)?;
        let leaf = bundle.certs.first().ok_or_else(|| invalid("no certificate"))?;
        let public_key = leaf.public_key().map_err(|e| invalid(e.to_string()))?;

        let key_pkcs8 = match (&req.private_key, bundle.key) {
            (Some(_), Some(_)) => {
                return Err(CoreError::invalid(
                    "import.two_keys",
                    "the PKCS#12 file holds a private key already: do not send private_key as well",
                ))
            }
            (Some(key), None) => {
                if key.len() > MAX_IMPORT_BYTES {
                    return Err(invalid(format!("private_key is larger than {MAX_IMPORT_BYTES} bytes")));
                }
                let key_password = req.private_key_password.as_ref().or(req.password.as_ref());
                Some(
                    pkcs8::private_key_from_pem_or_der(key, key_password.map(|p| p.as_str()))
                        .map_err(refused("import.invalid_key"))?,
                )
            }
            (None, from_file) => from_file,
        };
        let key = match key_pkcs8 {
            Some(der) => Some(PrivateKey::from_pkcs8_der(&der).map_err(refused("import.invalid_key"))?),
            None => None,
        };
        if let Some(key) = &key {
            if !pkcs8::matches_certificate(key, leaf).map_err(refused("import.invalid_key"))? {
                return Err(CoreError::invalid(
                    "import.key_mismatch",
                    "the private key does not belong to the certificate (their public keys differ)",
                ));
            }
        }
        let sealed = key.as_ref().map(|k| self.seal_key(k, true)).transpose()?;

        let snapshot = self.snapshot().await?;
        let authority = issuing_authority(&snapshot.authorities, leaf);
        let now = self.clock.now();
        let validation = validate_import(&bundle.certs, &snapshot.authorities, now);
        // A certificate this server cannot describe (an unsupported signature algorithm, a malformed extension)
        // is the uploader's problem, not the server's.
        let mut record = record_of(leaf, &key_name(public_key.kind), Origin::Import, &ctx.caller.principal, now)
            .map_err(|e| CoreError::invalid("import.unsupported", e.to_string()))?;
        record.authority_id = authority.map(|a| a.id);
        let details = json!({
            "serial": record.serial, "subject": record.subject, "issuer": record.issuer,
            "authority": authority.map(|a| a.uuid), "fingerprint": record.fingerprint, "format": bundle.format,
            "chain_certificates": bundle.certs.len().saturating_sub(1), "private_key": sealed.as_ref().map(|k| k.uuid),
            "validation": { "status": validation.status, "qradar_code": validation.qradar_code },
        });
        Ok(PreparedImport { record, sealed, validation, details })
    }
}

/// An import read, checked and validated, with its key sealed: nothing stored yet.
pub(crate) struct PreparedImport {
    /// The certificate to store; a caller may add labels before [`PreparedImport::store`].
    pub record: CertificateRecord,
    sealed: Option<NewKey>,
    pub validation: ChainValidation,
    details: serde_json::Value,
}

impl PreparedImport {
    /// Stores the sealed key and the certificate in `tx` (setting the record's ids) and returns the audit event
    /// to commit with them.
    pub(crate) async fn store<T: StoreTx>(&mut self, tx: &mut T) -> Result<EventDraft> {
        if let Some(sealed) = &self.sealed {
            self.record.key_id = Some(tx.insert_key(sealed).await?);
        }
        self.record.id = tx.insert_certificate(&self.record).await?;
        Ok(EventDraft::success("certificate.import", "certificate", self.record.uuid)
            .with_details(self.details.clone()))
    }
}

/// An imported certificate, with the result of validating its chain at import.
#[derive(Debug, Clone)]
pub struct ImportedCertificate {
    pub record: CertificateRecord,
    pub validation: ChainValidation,
}

/// How an imported certificate's chain validated: against this server's root authorities as trust anchors,
/// through the bundle's other certificates and the known authorities, at the time of import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainValidation {
    /// `valid`, `expiring`, `expired`, `inactive`, `revoked`, `invalid` or `failed`.
    pub status: &'static str,
    /// The IBM QRadar code of the most important problem (2003 expired, 2011 issuer not found, …), 0 when none.
    pub qradar_code: u16,
    /// Every problem, most important first.
    pub problems: Vec<String>,
}

fn validate_import(certs: &[Cert], authorities: &[crate::ca::Authority], at: i64) -> ChainValidation {
    use certwright_pki::validate::Validator;
    let known: Vec<(crate::ca::AuthorityKind, Cert)> =
        authorities.iter().filter_map(|a| Cert::from_der(&a.certificate_der).ok().map(|c| (a.kind, c))).collect();
    let anchors: Vec<Cert> =
        known.iter().filter(|(k, _)| *k == crate::ca::AuthorityKind::Root).map(|(_, c)| c.clone()).collect();
    let mut intermediates: Vec<Cert> = certs.iter().skip(1).cloned().collect();
    intermediates.extend(known.into_iter().map(|(_, c)| c));
    let Some(leaf) = certs.first() else {
        return ChainValidation { status: "failed", qradar_code: 2010, problems: vec!["no certificate".to_owned()] };
    };
    let mut validator = Validator::new(&anchors, at);
    validator.intermediates = &intermediates;
    validator.expiring_within = i64::from(crate::ca::DEFAULT_RENEWAL_WINDOW_DAYS) * 86_400;
    let v = validator.validate(leaf);
    ChainValidation {
        status: v.status.czertainly(),
        qradar_code: v.qradar_code(),
        problems: v.problems.iter().map(ToString::to_string).collect(),
    }
}

impl<S: Store> Services<S> {
    /// The private key of a certificate whose key is held here and exportable, with the certificate and its
    /// chain. Requesters may only export what they requested. A key guarded by a password (a request form's
    /// `key_password`, an upload's password) needs it, checked last, after every other check. Every export is
    /// audited.
    pub async fn export_private_key(
        &self,
        ctx: &Ctx,
        uuid: uuid::Uuid,
        password: Option<&str>,
    ) -> Result<(CertificateRecord, Vec<Vec<u8>>, zeroize::Zeroizing<Vec<u8>>)> {
        ctx.caller.require(Permission::IssueCertificates)?;
        let (record, chain) = self.certificate(ctx, uuid).await?;
        if ctx.caller.role == crate::auth::Role::Requester && record.created_by != ctx.caller.principal {
            return Err(CoreError::Forbidden {
                role: ctx.caller.role.as_str().to_owned(),
                action: "export the key of a certificate someone else requested",
            });
        }
        let key_id = record.key_id.ok_or_else(|| {
            CoreError::invalid("certificate.no_key", "this certificate's private key is not held by certwright")
        })?;
        let stored = self
            .store
            .key(key_id)
            .await?
            .ok_or_else(|| CoreError::Storage(format!("key {key_id} of certificate {uuid} is missing")))?;
        if stored.sealed.is_empty() {
            return Err(CoreError::Conflict {
                code: "key.destroyed",
                message: "this certificate's private key was destroyed when it was revoked".to_owned(),
            });
        }
        if !stored.exportable {
            return Err(CoreError::invalid(
                "policy.key_export_not_allowed",
                "this key was generated under an RA profile that does not allow exporting it",
            ));
        }
        if let Some(hash) = self.store.key_password(key_id).await? {
            let given = password.unwrap_or_default().to_owned();
            if given.is_empty() || !super::end_entity::password_matches(given, hash).await? {
                return Err(CoreError::invalid(
                    "key.wrong_password",
                    "this key is guarded by a password: the password given is missing or wrong",
                ));
            }
        }
        let pkcs8 = self.vault.open(&stored.sealed, stored.uuid.as_bytes())?;
        let (tx, head) = self.begin().await?;
        let draft = EventDraft::success("certificate.key_export", "certificate", record.uuid)
            .with_details(json!({ "serial": record.serial, "key": stored.uuid }));
        self.commit_with_event(tx, &head, ctx, draft).await?;
        Ok((record, chain, pkcs8))
    }
}
