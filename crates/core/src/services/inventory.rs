//! Changing what operators attach to inventory entries: owner, labels and custom attributes. The certificate
//! itself never changes.

use super::Services;
use crate::audit::EventDraft;
use crate::auth::{Ctx, Permission, Role};
use crate::ca::CertificateRecord;
use crate::inventory::MetadataPatch;
use crate::store::{Store, StoreTx};
use crate::{CoreError, Result};
use serde_json::json;
use uuid::Uuid;

impl<S: Store> Services<S> {
    /// Applies a merge patch to a certificate's metadata and returns the certificate as it now is. Requesters
    /// may change only certificates they requested. A patch that changes nothing writes nothing.
    pub async fn update_certificate(&self, ctx: &Ctx, uuid: Uuid, patch: &MetadataPatch) -> Result<CertificateRecord> {
        ctx.caller.require(Permission::IssueCertificates)?;
        let (mut tx, head) = self.begin().await?;
        let mut record = tx
            .certificate_for_update(uuid)
            .await?
            .ok_or_else(|| CoreError::not_found("certificate.not_found", "certificate", uuid))?;
        if ctx.caller.role == Role::Requester && record.created_by != ctx.caller.principal {
            return Err(CoreError::Forbidden {
                role: ctx.caller.role.as_str().to_owned(),
                action: "change a certificate someone else requested",
            });
        }
        let next = record.metadata.patched(patch)?;
        if next == record.metadata {
            return Ok(record);
        }
        tx.update_certificate_metadata(record.id, &next).await?;
        let mut details = record.metadata.changes(&next);
        if let Some(map) = details.as_object_mut() {
            map.insert("serial".to_owned(), json!(record.serial));
        }
        let draft = EventDraft::success("certificate.update", "certificate", record.uuid).with_details(details);
        self.commit_with_event(tx, &head, ctx, draft).await?;
        record.metadata = next;
        Ok(record)
    }
}
