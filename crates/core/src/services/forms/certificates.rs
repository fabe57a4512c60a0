//! The inventory seen with the forms certificates came from, and the passwords a form or an upload set: a
//! revocation checked against its password, a download of the key (checked by the export itself), an upload
//! that records them.

use super::{hash_chosen, invalid, DAY};
use crate::auth::{Ctx, Permission};
use crate::ca::{CertificateRecord, DEFAULT_RENEWAL_WINDOW_DAYS};
use crate::forms::{FormCertificate, FormCertificateFilter};
use crate::page::{Listed, Page};
use crate::services::end_entity::password_matches;
use crate::services::import::ImportedCertificate;
use crate::services::{ImportRequest, RevokeOutcome, RevokeRequest, Services};
use crate::store::{Store, StoreTx};
use crate::{CoreError, Result};
use zeroize::Zeroizing;

/// A certificate and its key, for download.
#[allow(missing_debug_implementations)] // Holds a private key.
pub struct Download {
    pub certificate: CertificateRecord,
    pub chain: Vec<Vec<u8>>,
    /// PKCS#8 DER, when the key was asked for.
    pub key: Option<Zeroizing<Vec<u8>>>,
}

/// An upload: the import plus the passwords that guard the certificate.
#[allow(missing_debug_implementations)] // Holds passwords.
pub struct Upload {
    pub import: ImportRequest,
    pub key_password: Option<Zeroizing<String>>,
    pub revocation_password: Option<Zeroizing<String>>,
}

fn certificate_not_found(id: i64) -> CoreError {
    CoreError::not_found("certificate.not_found", "certificate", id)
}

async fn matches(password: &str, hash: &Option<String>) -> Result<bool> {
    match hash {
        None => Ok(true),
        Some(h) => password_matches(password.to_owned(), h.clone()).await,
    }
}

impl<S: Store> Services<S> {
    /// The inventory with the form each certificate came from.
    pub async fn list_form_certificates(
        &self,
        ctx: &Ctx,
        mut filter: FormCertificateFilter,
        page: Page,
    ) -> Result<Listed<FormCertificate>> {
        ctx.caller.require(Permission::ReadInventory)?;
        filter.now = self.clock.now();
        filter.renewal_window = i64::from(DEFAULT_RENEWAL_WINDOW_DAYS) * DAY;
        filter.profile_windows = self
            .snapshot()
            .await?
            .profiles
            .iter()
            .map(|p| (p.id, i64::from(p.policy.renewal_window_days) * DAY))
            .collect();
        let mut listed = self.store.list_form_certificates(&filter, page).await?;
        for c in &mut listed.items {
            if let Some(f) = &c.form {
                c.passwords.key_password_hash =
                    c.passwords.key_password_hash.take().or(f.form.key_password_hash.clone());
                c.passwords.revocation_password_hash =
                    c.passwords.revocation_password_hash.take().or(f.form.revocation_password_hash.clone());
            }
        }
        Ok(listed)
    }

    /// One certificate by its integer id, with its form and passwords.
    pub async fn form_certificate(&self, ctx: &Ctx, id: i64) -> Result<FormCertificate> {
        let filter = FormCertificateFilter { id: Some(id), ..Default::default() };
        self.list_form_certificates(ctx, filter, Page::default())
            .await?
            .items
            .pop()
            .ok_or_else(|| certificate_not_found(id))
    }

    /// Revokes a certificate by id; where a revocation password was set, it must be given.
    pub async fn revoke_with_password(
        &self,
        ctx: &Ctx,
        id: i64,
        req: &RevokeRequest,
        password: Option<&str>,
    ) -> Result<RevokeOutcome> {
        ctx.caller.require(Permission::RevokeCertificates)?;
        let c = self.form_certificate(ctx, id).await?;
        if c.passwords.revocation_password_hash.is_some()
            && !matches(password.unwrap_or_default(), &c.passwords.revocation_password_hash).await?
        {
            return Err(invalid("form.wrong_password", "the revocation password is wrong"));
        }
        self.request_revocation(ctx, c.certificate.uuid, req).await
    }

    /// A certificate with its chain and, when asked, its key (see [`Services::export_private_key`], which checks
    /// the key password where one was set).
    pub async fn download_certificate(
        &self,
        ctx: &Ctx,
        id: i64,
        with_key: bool,
        password: Option<&str>,
    ) -> Result<Download> {
        let c = self.form_certificate(ctx, id).await?;
        if !with_key {
            let (certificate, chain) = self.certificate(ctx, c.certificate.uuid).await?;
            return Ok(Download { certificate, chain, key: None });
        }
        let (certificate, chain, key) = self.export_private_key(ctx, c.certificate.uuid, password).await?;
        Ok(Download { certificate, chain, key: Some(key) })
    }

    /// Imports a certificate (and key) and records the passwords that guard them, in one transaction: the
    /// password (of a PKCS#12 file or an encrypted key) guards the key's export, `revocation_password` the
    /// certificate's revocation.
    pub async fn upload_certificate(&self, ctx: &Ctx, upload: Upload) -> Result<ImportedCertificate> {
        ctx.caller.require(Permission::IssueCertificates)?;
        let key_hash = match upload.key_password {
            Some(p) => hash_chosen("password", p).await?,
            None => None,
        };
        let revocation_hash = match upload.revocation_password {
            Some(p) => hash_chosen("revoke_password", p).await?,
            None => None,
        };
        let mut prepared = self.prepare_import(ctx, upload.import).await?;
        let (mut tx, head) = self.begin().await?;
        let draft = prepared.store(&mut tx).await?;
        if let (Some(hash), Some(key_id)) = (&key_hash, prepared.record.key_id) {
            tx.set_key_password(key_id, hash).await?;
        }
        if let Some(hash) = &revocation_hash {
            tx.set_revocation_password(prepared.record.id, hash).await?;
        }
        self.commit_with_event(tx, &head, ctx, draft).await?;
        Ok(ImportedCertificate { record: prepared.record, validation: prepared.validation })
    }
}
