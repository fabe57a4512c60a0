//! CRLs signed ahead of time: each authority's full CRL, its delta against the full one, and one CRL per
//! partition (the one a certificate's distribution point names). Generated on a schedule and, debounced, after
//! revocations; stored, so every node serves the same bytes.

use super::Services;
use crate::ca::Authority;
use crate::clock::EpochSeconds;
use crate::revocation::{CrlKind, EntrySelection, StoredCrl};
use crate::store::{Store, StoreTx};
use crate::{CoreError, Result};
use certwright_pki::cert::Cert;
use certwright_pki::crl::{self, CrlParams, CrlScope};
use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::Notify;

/// Seconds before the full CRL's thisUpdate from which a delta lists changes.
const DELTA_OVERLAP: i64 = 300;

/// Seconds of overlap when looking for revocations made through other nodes.
const OCSP_POLL_OVERLAP: i64 = 60;

/// Most kept OCSP answers signed again per round of the loop (a round lasts one to two seconds).
const OCSP_REFRESH_PER_ROUND: usize = 2_000;

/// How CRLs are kept fresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrlSettings {
    /// nextUpdate − thisUpdate, seconds.
    pub validity: i64,
    /// How often every CRL is signed again, seconds (well inside `validity`).
    pub refresh_interval: i64,
    /// How long after a revocation the delta and partition CRLs are signed again, gathering what follows.
    pub debounce: Duration,
}

impl Default for CrlSettings {
    fn default() -> Self {
        Self { validity: 7 * 86_400, refresh_interval: 3_600, debounce: Duration::from_millis(500) }
    }
}

/// Authorities whose revocations changed since their CRLs were last signed.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    authorities: Mutex<HashSet<i64>>,
    wake: Notify,
    /// Held while a CRL is signed because a request found none to serve.
    on_demand: tokio::sync::Mutex<()>,
}

impl Pending {
    fn mark(&self, authority_id: i64) {
        if let Ok(mut set) = self.authorities.lock() {
            set.insert(authority_id);
        }
        self.wake.notify_one();
    }

    fn take(&self) -> Vec<i64> {
        self.authorities.lock().map(|mut set| set.drain().collect()).unwrap_or_default()
    }
}

impl<S: Store> Services<S> {
    /// Called after a revocation by `authority_id` commits: its delta and partition CRLs are due, and a cached
    /// OCSP answer for the serial is stale.
    pub(crate) fn revocation_changed(&self, authority_id: i64, serial: &str) {
        self.forget_ocsp_answer(authority_id, serial);
        self.crl_pending.mark(authority_id);
    }

    /// Signs and stores CRLs of an authority: the kinds given, in order (a delta needs a full CRL first; one is
    /// made when missing).
    pub async fn generate_crls(&self, authority: &Authority, kinds: &[CrlKind]) -> Result<Vec<StoredCrl>> {
        let mut made = Vec::with_capacity(kinds.len());
        for kind in kinds {
            made.push(self.generate_crl(authority, *kind).await?);
        }
        Ok(made)
    }

    /// Every kind of CRL an authority has: full, delta, then each partition.
    pub fn crl_kinds(authority: &Authority) -> Vec<CrlKind> {
        let mut kinds = vec![CrlKind::Full, CrlKind::Delta];
        kinds.extend((0..authority.crl_partitions).map(CrlKind::Partition));
        kinds
    }

    /// The current CRL of a kind for an authority (by uuid or name), signed now when none exists yet or the
    /// stored one has passed its nextUpdate.
    pub async fn current_crl(&self, authority: &str, kind: CrlKind) -> Result<StoredCrl> {
        let authority = self.authority_by_reference(authority).await?;
        if let CrlKind::Partition(n) = kind {
            if n >= authority.crl_partitions {
                return Err(CoreError::not_found("crl.not_found", "CRL partition", n));
            }
        }
        if authority.key_id.is_none() {
            return Err(CoreError::not_found("crl.not_found", "CRL of an authority without a key", &authority.name));
        }
        if let Some(crl) = self.store.crl(authority.id, kind).await?.filter(|c| c.next_update > self.clock.now()) {
            return Ok(crl);
        }
        // Anyone may fetch a CRL: requests arriving together for one that must be signed first wait for a
        // single signing instead of each starting one.
        let _signing = self.crl_pending.on_demand.lock().await;
        match self.store.crl(authority.id, kind).await? {
            Some(crl) if crl.next_update > self.clock.now() => Ok(crl),
            _ => self.generate_crl(&authority, kind).await,
        }
    }

    async fn generate_crl(&self, authority: &Authority, kind: CrlKind) -> Result<StoredCrl> {
        let started = std::time::Instant::now();
        // The number and thisUpdate come first, in a short transaction of their own: any revocation committed
        // after them carries a later change time (it takes its time once its rows are locked), and the entries are
        // read after them, so a CRL never misses what an older-numbered one lists. Reading, encoding and signing
        // then run outside any transaction (on SQLite they would hold up every writer), and the CRL is stored by a
        // second one that keeps whichever CRL has the higher number.
        let mut tx = self.store.begin().await?;
        let number = tx.next_crl_number(authority.id).await?;
        let now = self.clock.now();
        tx.commit().await?;
        let (selection, scope) = match kind {
            CrlKind::Full => (
                EntrySelection::InForce { now, partition: None },
                CrlScope::Full { delta_urls: self.crl_url(authority, "-delta.crl").into_iter().collect() },
            ),
            CrlKind::Delta => {
                let base = match self.store.crl_summary(authority.id, CrlKind::Full).await? {
                    Some(base) => base,
                    None => Box::pin(self.generate_crl(authority, CrlKind::Full)).await?,
                };
                // Listing a serial the base already lists is harmless; the overlap covers revocations whose
                // transaction took its time before the base's thisUpdate but committed after the base was read.
                (
                    EntrySelection::ChangedSince { since: base.this_update - DELTA_OVERLAP, now },
                    CrlScope::Delta { base_number: base.number },
                )
            }
            CrlKind::Partition(n) => (
                EntrySelection::InForce { now, partition: Some(n) },
                CrlScope::Partition {
                    url: self
                        .crl_url(authority, &format!("/{n}.crl"))
                        .unwrap_or_else(|| format!("/crl/{}/{n}.crl", authority.uuid)),
                },
            ),
        };
        let entries = self.store.revoked_entries(authority.id, selection).await?;
        let read = started.elapsed();
        let signer = self.signer(authority).await?;
        let cert = Cert::from_der(&authority.certificate_der)?;
        let key_identifier = cert.key_identifier()?;
        let params = CrlParams {
            issuer: cert.subject(),
            issuer_key_identifier: &key_identifier,
            number,
            this_update: now,
            next_update: now + self.crl_settings.validity,
            scope,
        };
        // Entries are decoded while the CRL is written; a damaged one stops the CRL. Their number lets the encoder
        // size its buffer once.
        let mut damaged = None;
        let count = entries.len();
        let decoded = entries.iter().map_while(|e| e.map_err(|err| damaged = Some(err)).ok());
        let der = crl::build(&params, Counted { inner: decoded, left: count }, signer.as_ref())?;
        if let Some(err) = damaged {
            return Err(err);
        }
        drop(entries);
        let stored = StoredCrl {
            authority_id: authority.id,
            kind,
            number,
            this_update: now,
            next_update: params.next_update,
            entries: count,
            der,
        };
        let mut tx = self.store.begin().await?;
        tx.put_crl(&stored).await?;
        tx.commit().await?;
        tracing::debug!(
            authority = %authority.name,
            kind = %kind.as_str(),
            number,
            entries = stored.entries,
            bytes = stored.der.len(),
            read_ms = read.as_millis() as u64,
            total_ms = started.elapsed().as_millis() as u64,
            "CRL signed"
        );
        Ok(stored)
    }

    /// `<public URL>/crl/<authority uuid><suffix>`.
    fn crl_url(&self, authority: &Authority, suffix: &str) -> Option<String> {
        let base = self.settings.public_http_url.as_deref()?;
        Some(format!("{}/crl/{}{suffix}", base.trim_end_matches('/'), authority.uuid))
    }

    /// Keeps CRLs fresh until `stop` resolves: every authority's CRLs are signed at start when stale and every
    /// `refresh_interval`; an authority's delta and partitions shortly after its revocations change. Errors are
    /// logged and retried on the next round; they never end the loop.
    pub async fn keep_crls_fresh(&self, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        let mut next_full: EpochSeconds = 0;
        let mut ocsp_watermark = self.clock.now();
        // Authorities whose CRLs failed after a revocation: retried on the next tick, not at once.
        let mut failed: Vec<i64> = Vec::new();
        loop {
            let now = self.clock.now();
            if now >= next_full {
                self.refresh_all_crls(now).await;
                next_full = now + self.crl_settings.refresh_interval;
            }
            let wait = Duration::from_secs(u64::try_from((next_full - now).clamp(1, 2)).unwrap_or(1));
            tokio::select! {
                _ = &mut stop => return,
                _ = self.crl_pending.wake.notified() => {
                    tokio::time::sleep(self.crl_settings.debounce).await;
                    for id in self.crl_pending.take() {
                        if !self.refresh_changed(id).await {
                            failed.push(id);
                        }
                    }
                }
                _ = tokio::time::sleep(wait) => {
                    for id in std::mem::take(&mut failed) {
                        if !self.refresh_changed(id).await {
                            failed.push(id);
                        }
                    }
                }
            }
            // Kept OCSP answers close to their half-life are signed again before anyone has to wait for one.
            self.refresh_ocsp_answers(OCSP_REFRESH_PER_ROUND).await;
            // Revocations made through other nodes: drop this node's cached OCSP answers for them.
            let now = self.clock.now();
            match self.store.revocations_changed_since(ocsp_watermark - OCSP_POLL_OVERLAP).await {
                Ok(changed) => {
                    for (authority_id, serial) in changed {
                        self.forget_ocsp_answer(authority_id, &serial);
                    }
                    ocsp_watermark = now;
                }
                Err(e) => tracing::warn!(error = %e, "cannot read recent revocations"),
            }
        }
    }

    async fn refresh_all_crls(&self, now: EpochSeconds) {
        let authorities = match self.snapshot().await {
            Ok(s) => s.authorities.clone(),
            Err(e) => return tracing::warn!(error = %e, "cannot list authorities for CRL generation"),
        };
        for authority in authorities.iter().filter(|a| a.is_internal() && a.key_id.is_some() && a.not_after > now) {
            let stale = match self.store.crl_summary(authority.id, CrlKind::Full).await {
                Ok(Some(full)) => now - full.this_update >= self.crl_settings.refresh_interval,
                Ok(None) => true,
                Err(e) => {
                    tracing::warn!(error = %e, authority = %authority.name, "cannot read the current CRL");
                    continue;
                }
            };
            if stale {
                if let Err(e) = self.generate_crls(authority, &Self::crl_kinds(authority)).await {
                    tracing::warn!(error = %e, authority = %authority.name, "CRL generation failed");
                }
            }
        }
    }

    /// Signs an authority's delta and partition CRLs; `false` when that should be tried again.
    async fn refresh_changed(&self, authority_id: i64) -> bool {
        let authority = match self.snapshot().await {
            Ok(s) => s.authorities.iter().find(|a| a.id == authority_id).cloned(),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read authorities for CRL generation");
                return false;
            }
        };
        // Gone, or without a key to sign with: nothing to retry.
        let Some(authority) = authority.filter(|a| a.is_internal() && a.key_id.is_some()) else { return true };
        let kinds: Vec<CrlKind> = Self::crl_kinds(&authority).into_iter().filter(|k| *k != CrlKind::Full).collect();
        match self.generate_crls(&authority, &kinds).await {
            Ok(_) => true,
            Err(e) => {
                tracing::warn!(error = %e, authority = %authority.name, "CRL generation after a revocation failed");
                false
            }
        }
    }
}

/// An iterator that knows how many items it will yield.
struct Counted<I> {
    inner: I,
    left: u64,
}

impl<I: Iterator> Iterator for Counted<I> {
    type Item = I::Item;

    fn next(&mut self) -> Option<I::Item> {
        let item = self.inner.next()?;
        self.left = self.left.saturating_sub(1);
        Some(item)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = usize::try_from(self.left).unwrap_or(usize::MAX);
        (left, Some(left))
    }
}
