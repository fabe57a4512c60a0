//! Reading and verifying the audit log.

use super::Services;
use crate::audit::{ChainVerifier, Event, EventFilter, Violation};
use crate::auth::{Ctx, Permission};
use crate::page::{Listed, Page};
use crate::store::Store;
use crate::Result;

/// Events read per round trip while verifying.
const VERIFY_BATCH: u32 = 1000;

/// The outcome of verifying every chain.
#[derive(Debug, Clone, Default)]
pub struct AuditReport {
    pub chains: u64,
    pub events: u64,
    pub violations: Vec<Violation>,
}

impl AuditReport {
    pub fn is_intact(&self) -> bool {
        self.violations.is_empty()
    }
}

impl<S: Store> Services<S> {
    /// Lists audit events, newest first.
    pub async fn list_events(&self, ctx: &Ctx, filter: &EventFilter, page: Page) -> Result<Listed<Event>> {
        ctx.caller.require(Permission::ReadAudit)?;
        self.store.list_events(filter, page).await
    }

    /// Re-computes every chain from the stored rows and reports each break: a modified row, a deleted row, or a
    /// chain head that no longer matches its last event.
    pub async fn verify_audit(&self) -> Result<AuditReport> {
        let mut report = AuditReport::default();
        for head in self.store.chain_heads().await? {
            report.chains += 1;
            let mut verifier = ChainVerifier::new(&head.chain);
            let mut after = 0;
            loop {
                let batch = self.store.chain_events(&head.chain, after, VERIFY_BATCH).await?;
                let Some(last) = batch.last() else { break };
                after = last.seq;
                batch.iter().for_each(|e| verifier.push(e));
            }
            report.events += verifier.checked;
            report.violations.extend(verifier.finish(&head));
        }
        Ok(report)
    }
}
