//! Importing certificates issued elsewhere (or here, before) into the inventory, linked to a known authority
//! when one of them signed it.

use super::issuance::record_of;
use super::Services;
use crate::audit::EventDraft;
use crate::auth::{Ctx, Permission};
use crate::ca::{CertificateRecord, Origin};
use crate::store::{Store, StoreTx};
use crate::{CoreError, Result};
use certwright_pki::alg::KeyAlgorithm;
use certwright_pki::cert::Cert;
use certwright_pki::key::PublicKeyKind;
use serde_json::json;

/// Largest bundle accepted for import, in bytes.
pub const MAX_IMPORT_BYTES: usize = 512 * 1024;

fn invalid(message: impl Into<String>) -> CoreError {
    CoreError::invalid("import.invalid", message)
}

/// Reads a PEM bundle (one or more CERTIFICATE blocks) or a single DER certificate.
fn parse_bundle(input: &[u8]) -> Result<Vec<Cert>> {
    if input.len() > MAX_IMPORT_BYTES {
        return Err(invalid(format!("larger than {MAX_IMPORT_BYTES} bytes")));
    }
    if input.first() == Some(&0x30) {
        return Cert::from_der(input).map(|c| vec![c]).map_err(|e| invalid(e.to_string()));
    }
    let text = std::str::from_utf8(input).map_err(|_| invalid("neither PEM nor DER"))?;
    let blocks = certwright_pki::pem::decode_all(text).map_err(|e| invalid(e.to_string()))?;
    let certs = blocks
        .into_iter()
        .filter(|(label, _)| label == "CERTIFICATE")
        .map(|(_, der)| Cert::from_der(&der).map_err(|e| invalid(e.to_string())))
        .collect::<Result<Vec<_>>>()?;
    if certs.is_empty() {
        return Err(invalid("no CERTIFICATE block found"));
    }
    Ok(certs)
}

fn key_name(kind: PublicKeyKind) -> String {
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
    /// Imports the first certificate of a PEM bundle or DER file (further certificates of the bundle are
    /// checked to be certificates, then ignored). The certificate is linked to the known authority whose key
    /// signed it.
    pub async fn import_certificate(&self, ctx: &Ctx, input: &[u8]) -> Result<CertificateRecord> {
        ctx.caller.require(Permission::IssueCertificates)?;
        let certs = parse_bundle(input)?;
        let leaf = certs.first().ok_or_else(|| invalid("no certificate"))?;
        let public_key = leaf.public_key().map_err(|e| invalid(e.to_string()))?;
        let snapshot = self.snapshot().await?;
        let authority = snapshot.authorities.iter().find(|a| {
            a.subject == leaf.issuer_string()
                && Cert::from_der(&a.certificate_der)
                    .and_then(|ca| ca.public_key())
                    .is_ok_and(|k| leaf.verify_signed_by(&k).is_ok())
        });
        let now = self.clock.now();
        let mut record = record_of(leaf, &key_name(public_key.kind), Origin::Import, &ctx.caller.principal, now)?;
        record.authority_id = authority.map(|a| a.id);
        let (mut tx, head) = self.begin().await?;
        record.id = tx.insert_certificate(&record).await?;
        let draft = EventDraft::success("certificate.import", "certificate", record.uuid).with_details(json!({
            "serial": record.serial, "subject": record.subject, "issuer": record.issuer,
            "authority": authority.map(|a| a.uuid), "fingerprint": record.fingerprint,
        }));
        self.commit_with_event(tx, &head, ctx, draft).await?;
        Ok(record)
    }
}

impl<S: Store> Services<S> {
    /// The private key of a certificate whose key is held here and exportable, with the certificate and its
    /// chain. Requesters may only export what they requested. Every export is audited.
    pub async fn export_private_key(
        &self,
        ctx: &Ctx,
        uuid: uuid::Uuid,
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
        if !stored.exportable {
            return Err(CoreError::invalid(
                "policy.key_export_not_allowed",
                "this key was generated under an RA profile that does not allow exporting it",
            ));
        }
        let pkcs8 = self.vault.open(&stored.sealed, stored.uuid.as_bytes())?;
        let (tx, head) = self.begin().await?;
        let draft = EventDraft::success("certificate.key_export", "certificate", record.uuid)
            .with_details(json!({ "serial": record.serial, "key": stored.uuid }));
        self.commit_with_event(tx, &head, ctx, draft).await?;
        Ok((record, chain, pkcs8))
    }
}
