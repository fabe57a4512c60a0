//! Group commit for issued certificates. Signing runs in parallel on every request, but each certificate must be
//! stored with its audit event before its caller hears of it, and every event of a node extends one hash chain,
//! so writes to a chain are serial. Instead of one transaction per certificate, requests queue their record
//! here and one writer commits everything queued in a single transaction, chaining the events in order.
//!
//! The writer runs as its own task: a caller that goes away (a closed connection drops its future) cannot
//! abort a transaction that carries other callers' certificates. A caller is answered only after the commit
//! that holds its certificate; when a batch fails before its commit, its certificates are retried one per
//! transaction so that one bad record (a reused idempotency key, say) fails alone. When the commit itself fails
//! (it may have happened), every caller of the batch gets the error and nothing is tried again. Each batch runs
//! on a task of its own, so a panicking batch fails only its own callers.

use crate::audit::{ChainHead, Event, EventDraft};
use crate::auth::Ctx;
use crate::ca::{CertificateRecord, NewKey};
use crate::clock::Clock;
use crate::store::{Store, StoreTx};
use crate::{CoreError, Result};
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// Most certificates committed in one transaction.
const MAX_BATCH: usize = 256;

/// One certificate waiting to be stored: its sealed key (when generated here), its record and its event.
#[derive(Debug)]
pub(crate) struct CertificateWrite {
    pub ctx: Ctx,
    pub key: Option<NewKey>,
    pub record: CertificateRecord,
    pub draft: EventDraft,
}

#[derive(Debug)]
struct Queued {
    write: CertificateWrite,
    done: oneshot::Sender<Result<CertificateRecord>>,
}

#[derive(Debug, Default)]
struct Queue {
    pending: Vec<Queued>,
    /// Whether a writer task is running; it keeps draining until the queue is empty.
    writing: bool,
}

/// The queue of certificates to store, and the writer that drains it.
#[derive(Debug)]
pub(crate) struct CertificateWriter<S: Store> {
    store: S,
    clock: Arc<dyn Clock>,
    chain: String,
    queue: Arc<Mutex<Queue>>,
}

impl<S: Store + Clone> CertificateWriter<S> {
    pub fn new(store: S, clock: Arc<dyn Clock>, chain: String) -> Self {
        Self { store, clock, chain, queue: Arc::default() }
    }

    /// Queues `write` and waits until it is committed (or has failed). The record comes back with its ids.
    pub async fn store(&self, write: CertificateWrite) -> Result<CertificateRecord> {
        let (done, answer) = oneshot::channel();
        let start = {
            let mut queue = self.queue.lock().map_err(|_| poisoned())?;
            queue.pending.push(Queued { write, done });
            !std::mem::replace(&mut queue.writing, true)
        };
        if start {
            let job = Drain {
                store: self.store.clone(),
                clock: self.clock.clone(),
                chain: self.chain.clone(),
                queue: self.queue.clone(),
            };
            tokio::spawn(job.run());
        }
        answer.await.map_err(|_| CoreError::Storage("the certificate writer stopped before answering".to_owned()))?
    }
}

fn poisoned() -> CoreError {
    CoreError::Storage("the certificate write queue is poisoned".to_owned())
}

/// The writer task: drains the queue batch by batch, then ends.
struct Drain<S: Store> {
    store: S,
    clock: Arc<dyn Clock>,
    chain: String,
    queue: Arc<Mutex<Queue>>,
}

impl<S: Store> Drain<S> {
    async fn run(self) {
        loop {
            let batch: Vec<Queued> = {
                let Ok(mut queue) = self.queue.lock() else { return };
                if queue.pending.is_empty() {
                    queue.writing = false;
                    return;
                }
                let n = queue.pending.len().min(MAX_BATCH);
                queue.pending.drain(..n).collect()
            };
            // Each batch runs as a task of its own: should it panic, its callers' answers are dropped (they hear
            // that the writer stopped) and the writer carries on with the queue instead of stalling issuance.
            let job = Batch { store: self.store.clone(), clock: self.clock.clone(), chain: self.chain.clone() };
            if tokio::spawn(async move { job.commit(batch).await }).await.is_err() {
                tracing::error!("a certificate batch failed unexpectedly; its requests were refused");
            }
        }
    }
}

/// What the callers of a batch whose commit failed are told: it may have happened.
fn commit_failed(e: &CoreError) -> String {
    format!("storing the certificate failed at the commit (it may have been stored): {e}")
}

/// One batch's write, on a task of its own.
struct Batch<S: Store> {
    store: S,
    clock: Arc<dyn Clock>,
    chain: String,
}

/// Why a batch's transaction did not commit.
enum Failed {
    /// Before the commit: nothing was stored, and each write may be tried again alone.
    Before(CoreError),
    /// At the commit itself, which may have happened: trying again could store a certificate twice.
    Commit(CoreError),
}

impl From<CoreError> for Failed {
    fn from(e: CoreError) -> Self {
        Self::Before(e)
    }
}

impl<S: Store> Batch<S> {
    async fn commit(&self, batch: Vec<Queued>) {
        if batch.len() > 1 {
            let writes: Vec<&CertificateWrite> = batch.iter().map(|q| &q.write).collect();
            match self.write(&writes).await {
                Ok(records) => {
                    for (queued, record) in batch.into_iter().zip(records) {
                        let _ = queued.done.send(Ok(record));
                    }
                    return;
                }
                Err(Failed::Commit(e)) => {
                    let message = commit_failed(&e);
                    for queued in batch {
                        let _ = queued.done.send(Err(CoreError::Storage(message.clone())));
                    }
                    return;
                }
                Err(Failed::Before(_)) => {}
            }
        }
        for queued in batch {
            let result = match self.write(&[&queued.write]).await {
                Ok(mut records) => records.pop().ok_or_else(poisoned),
                Err(Failed::Before(e)) => Err(e),
                Err(Failed::Commit(e)) => Err(CoreError::Storage(commit_failed(&e))),
            };
            let _ = queued.done.send(result);
        }
    }

    /// Stores every write and its event in one transaction, the events chained in order.
    async fn write(&self, writes: &[&CertificateWrite]) -> std::result::Result<Vec<CertificateRecord>, Failed> {
        let started = std::time::Instant::now();
        let mut tx = self.store.begin().await?;
        let mut head: ChainHead = tx.lock_chain(&self.chain).await?;
        let mut records = Vec::with_capacity(writes.len());
        for w in writes {
            let mut record = w.record.clone();
            if let Some(key) = &w.key {
                record.key_id = Some(tx.insert_key(key).await?);
            }
            records.push(record);
        }
        let ids = tx.insert_certificates(&records.iter().collect::<Vec<_>>()).await?;
        let now = self.clock.now();
        let mut events = Vec::with_capacity(writes.len());
        for ((w, record), id) in writes.iter().zip(&mut records).zip(ids) {
            record.id = id;
            let event = Event::chained(&head, &w.ctx, now, w.draft.clone());
            head = ChainHead { chain: event.chain.clone(), seq: event.seq, hash: event.hash.clone() };
            events.push(event);
        }
        let stored = started.elapsed();
        tx.append_events(&events).await?;
        let chained = started.elapsed();
        tx.commit().await.map_err(Failed::Commit)?;
        tracing::debug!(
            certificates = writes.len(),
            stored_us = stored.as_micros() as u64,
            chained_us = chained.as_micros() as u64,
            committed_us = started.elapsed().as_micros() as u64,
            "certificate batch committed"
        );
        Ok(records)
    }
}
