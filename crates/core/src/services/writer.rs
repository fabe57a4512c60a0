//! Group commit for small, frequent audited changes (the ACME order flow). A change is a *unit*: a function that
//! makes its writes in the transaction it is handed and returns the events describing them. Units queued while the
//! writer is busy share one transaction: one write lock, one audit-chain lock, one multi-row event insert and one
//! commit for all of them, instead of one of each per change.
//!
//! The writer runs as its own task, so a caller that goes away cannot abort a transaction holding other callers'
//! changes. A caller hears back only after the commit that holds its change. When a unit of a batch fails, the
//! batch is rolled back and each unit runs again in a transaction of its own: the failing one fails alone, with
//! its own error, and the others are stored. A unit may therefore run twice and must touch nothing but the
//! transaction.

use crate::audit::{ChainHead, Event, EventDraft};
use crate::auth::Ctx;
use crate::clock::Clock;
use crate::store::{Store, StoreTx};
use crate::{CoreError, Result};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio::sync::oneshot;

/// Most units committed in one transaction.
const MAX_BATCH: usize = 64;

/// What a unit's run gives back: its value and the events to chain for it.
pub(crate) type UnitFuture<'a, T> = Pin<Box<dyn Future<Output = Result<(T, Vec<EventDraft>)>> + Send + 'a>>;

/// A unit as the queue holds it, its value type erased.
trait Queued<S: Store>: Send {
    fn ctx(&self) -> &Ctx;
    fn run<'a>(&'a mut self, tx: &'a mut S::Tx) -> Pin<Box<dyn Future<Output = Result<Vec<EventDraft>>> + Send + 'a>>;
    /// Answers the caller: the committed events on success.
    fn answer(self: Box<Self>, outcome: Result<Vec<Event>>);
}

/// Runs in the writer task right after the commit holding the unit's value, before the next batch starts: what
/// it records (a cache, say) is therefore recorded in commit order.
pub(crate) type AfterCommit<T> = Box<dyn FnOnce(&T) + Send>;

struct Pending<T, F> {
    ctx: Ctx,
    unit: F,
    value: Option<T>,
    after: Option<AfterCommit<T>>,
    done: oneshot::Sender<Result<(T, Vec<Event>)>>,
}

impl<S, T, F> Queued<S> for Pending<T, F>
where
    S: Store,
    T: Send + 'static,
    F: for<'a> FnMut(&'a mut S::Tx) -> UnitFuture<'a, T> + Send + 'static,
{
    fn ctx(&self) -> &Ctx {
        &self.ctx
    }

    fn run<'a>(&'a mut self, tx: &'a mut S::Tx) -> Pin<Box<dyn Future<Output = Result<Vec<EventDraft>>> + Send + 'a>> {
        Box::pin(async move {
            let (value, drafts) = (self.unit)(tx).await?;
            self.value = Some(value);
            Ok(drafts)
        })
    }

    fn answer(self: Box<Self>, outcome: Result<Vec<Event>>) {
        let Pending { value, after, done, .. } = *self;
        if let (Ok(_), Some(value), Some(after)) = (&outcome, &value, after) {
            after(value);
        }
        let answer = outcome.and_then(|events| {
            value.map(|v| (v, events)).ok_or_else(|| CoreError::Storage("a batched change has no result".into()))
        });
        let _ = done.send(answer);
    }
}

type Queue<S> = Vec<Box<dyn Queued<S>>>;

struct State<S: Store> {
    pending: Queue<S>,
    /// Whether a writer task is running; it keeps draining until the queue is empty.
    writing: bool,
}

/// The queue of changes of this node, and the writer that drains it.
pub(crate) struct Writer<S: Store> {
    store: S,
    clock: Arc<dyn Clock>,
    chain: String,
    state: Arc<Mutex<State<S>>>,
}

impl<S: Store> std::fmt::Debug for Writer<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer").field("chain", &self.chain).finish_non_exhaustive()
    }
}

impl<S: Store> Writer<S> {
    pub fn new(store: S, clock: Arc<dyn Clock>, chain: String) -> Self {
        let state = State { pending: Vec::new(), writing: false };
        Self { store, clock, chain, state: Arc::new(Mutex::new(state)) }
    }

    /// Queues `unit`, its events attributed to `ctx`, and waits until it is committed or has failed. Gives back
    /// the unit's value and the events stored with it. `after`, if any, runs on the value right after the commit,
    /// in commit order.
    pub async fn write<T, F>(&self, ctx: Ctx, unit: F, after: Option<AfterCommit<T>>) -> Result<(T, Vec<Event>)>
    where
        T: Send + 'static,
        F: for<'a> FnMut(&'a mut S::Tx) -> UnitFuture<'a, T> + Send + 'static,
    {
        let (done, answer) = oneshot::channel();
        let start = {
            let mut state = lock(&self.state);
            state.pending.push(Box::new(Pending { ctx, unit, value: None, after, done }));
            !std::mem::replace(&mut state.writing, true)
        };
        if start {
            let drain = Drain {
                store: self.store.clone(),
                clock: self.clock.clone(),
                chain: self.chain.clone(),
                state: self.state.clone(),
            };
            tokio::spawn(drain.run());
        }
        answer.await.map_err(|_| CoreError::Storage("the writer stopped before answering".to_owned()))?
    }
}

/// The queue's lock. Nothing that can panic runs while it is held, so a poisoned lock still guards a whole state.
fn lock<S: Store>(state: &Mutex<State<S>>) -> MutexGuard<'_, State<S>> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Why a batch was not stored.
enum Failure {
    /// A unit, or storing the events, failed: nothing was committed, and each unit can run again alone.
    Unit(CoreError),
    /// The commit itself failed, and may have happened all the same: running the units again could store them
    /// twice or answer wrongly, so every caller is told.
    Commit(CoreError),
}

/// The writer task: drains the queue batch by batch, then ends.
struct Drain<S: Store> {
    store: S,
    clock: Arc<dyn Clock>,
    chain: String,
    state: Arc<Mutex<State<S>>>,
}

impl<S: Store> Drain<S> {
    async fn run(self) {
        loop {
            // Let the requests already running queue their changes, so that more of them share the commit.
            tokio::task::yield_now().await;
            let batch: Queue<S> = {
                let mut state = lock(&self.state);
                if state.pending.is_empty() {
                    state.writing = false;
                    return;
                }
                let n = state.pending.len().min(MAX_BATCH);
                state.pending.drain(..n).collect()
            };
            // Each batch in a task of its own: should a unit or an `after` panic, its callers hear that the writer
            // stopped (their answer channels drop) and the writer goes on with the queue.
            let twin = Drain {
                store: self.store.clone(),
                clock: self.clock.clone(),
                chain: self.chain.clone(),
                state: self.state.clone(),
            };
            if let Err(e) = tokio::spawn(async move { twin.commit(batch).await }).await {
                tracing::error!(error = %e, "a batch of changes ended abnormally; its callers were told");
            }
        }
    }

    async fn commit(&self, mut batch: Queue<S>) {
        if batch.len() > 1 {
            match self.attempt(&mut batch).await {
                Ok(events) => {
                    for (unit, events) in batch.into_iter().zip(events) {
                        unit.answer(Ok(events));
                    }
                    return;
                }
                Err(Failure::Commit(e)) => {
                    let message = e.to_string();
                    for unit in batch {
                        unit.answer(Err(CoreError::Storage(message.clone())));
                    }
                    return;
                }
                Err(Failure::Unit(_)) => {}
            }
        }
        for unit in batch {
            let mut alone = vec![unit];
            let outcome = match self.attempt(&mut alone).await {
                Ok(mut events) => Ok(events.pop().unwrap_or_default()),
                Err(Failure::Unit(e) | Failure::Commit(e)) => Err(e),
            };
            if let Some(unit) = alone.pop() {
                unit.answer(outcome);
            }
        }
    }

    /// Runs `units` in one transaction and chains their events in order; gives back each unit's events.
    async fn attempt(&self, units: &mut Queue<S>) -> std::result::Result<Vec<Vec<Event>>, Failure> {
        let started = std::time::Instant::now();
        let mut tx = self.store.begin().await.map_err(Failure::Unit)?;
        let mut head: ChainHead = tx.lock_chain(&self.chain).await.map_err(Failure::Unit)?;
        let now = self.clock.now();
        let mut per_unit = Vec::with_capacity(units.len());
        let mut all = Vec::new();
        for unit in units.iter_mut() {
            let drafts = unit.run(&mut tx).await.map_err(Failure::Unit)?;
            let mut events = Vec::with_capacity(drafts.len());
            for draft in drafts {
                let event = Event::chained(&head, unit.ctx(), now, draft);
                head = event.as_head();
                events.push(event);
            }
            all.extend(events.iter().cloned());
            per_unit.push(events);
        }
        tx.append_events(&all).await.map_err(Failure::Unit)?;
        tx.commit().await.map_err(Failure::Commit)?;
        tracing::debug!(units = units.len(), committed_us = started.elapsed().as_micros() as u64, "changes committed");
        Ok(per_unit)
    }
}
