//! Discovery runs: checked and queued as jobs, scanned by the `Scanner` port, and recorded as they go — each
//! certificate seen joins the inventory once (by fingerprint, origin `discovery`), each place it was seen becomes
//! a sighting, and when a complete run is over, sightings it covers but did not see are marked gone. Runs may
//! repeat: a repeated run queues its successor when it starts.

use super::issuance::record_of;
use super::Services;
use crate::audit::EventDraft;
use crate::auth::{Ctx, Permission};
use crate::ca::Origin;
use crate::discovery::{
    name_matches, DiscoveryRun, KeyPresence, Location, NewSighting, Observation, RunCounts, RunResult, RunSpec,
    RunState, ScanEnd, ScanEvent, Sighting, MAX_PASSWORDS, MAX_RUN_PROBLEMS, MIN_REPEAT_SECONDS,
};
use crate::jobs::{kind, Job, JobEnd, NewJob};
use crate::page::{Listed, Page};
use crate::store::{Store, StoreTx};
use crate::{CoreError, Result};
use certwright_pki::cert::Cert;
use certwright_pki::key::PrivateKey;
use certwright_pki::names::San;
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;
use zeroize::Zeroizing;

/// Observations written per transaction at most.
const BATCH: usize = 256;
/// Longest wait before what was observed is written.
const FLUSH_EVERY: Duration = Duration::from_millis(500);

/// A discovery run to start.
#[derive(Clone)]
pub struct StartDiscovery {
    pub spec: RunSpec,
    /// Tried on PKCS#12 files and encrypted keys (files runs); sealed with the run, never returned.
    pub passwords: Vec<Zeroizing<String>>,
    /// Queue the run again this long after each start.
    pub repeat_every_seconds: Option<i64>,
}

impl std::fmt::Debug for StartDiscovery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StartDiscovery")
            .field("spec", &self.spec)
            .field("passwords", &self.passwords.len())
            .field("repeat_every_seconds", &self.repeat_every_seconds)
            .finish()
    }
}

fn not_found(uuid: Uuid) -> CoreError {
    CoreError::not_found("discovery.not_found", "discovery run", uuid)
}

impl<S: Store> Services<S> {
    fn scanner(&self) -> Result<Arc<dyn crate::discovery::Scanner>> {
        self.settings.scanner.clone().ok_or_else(|| {
            CoreError::invalid("discovery.unavailable", "this server has no scanner configured for discovery")
        })
    }

    /// Checks a run and queues it.
    pub async fn start_discovery(&self, ctx: &Ctx, req: StartDiscovery) -> Result<DiscoveryRun> {
        ctx.caller.require(Permission::RunDiscovery)?;
        req.spec.check()?;
        if req.passwords.len() > MAX_PASSWORDS {
            return Err(CoreError::invalid("discovery.invalid_spec", format!("at most {MAX_PASSWORDS} passwords")));
        }
        if !req.passwords.is_empty() && matches!(req.spec, RunSpec::Tls(_)) {
            return Err(CoreError::invalid("discovery.invalid_spec", "passwords apply to files runs only"));
        }
        if let Some(every) = req.repeat_every_seconds {
            if !(MIN_REPEAT_SECONDS..=366 * 86_400).contains(&every) {
                return Err(CoreError::invalid(
                    "discovery.invalid_spec",
                    format!("repeat_every must be between {MIN_REPEAT_SECONDS} seconds and 366 days"),
                ));
            }
        }
        let planned = self.scanner()?.check(&req.spec).await?;
        let now = self.clock.now();
        let uuid = Uuid::new_v4();
        let sealed_passwords = if req.passwords.is_empty() {
            None
        } else {
            let list: Vec<&str> = req.passwords.iter().map(|p| p.as_str()).collect();
            let text = Zeroizing::new(serde_json::to_vec(&list).map_err(|e| CoreError::Storage(e.to_string()))?);
            Some(self.vault.seal(&text, uuid.as_bytes())?)
        };
        let run = DiscoveryRun {
            id: 0,
            uuid,
            spec: req.spec,
            state: RunState::Queued,
            counts: RunCounts { planned, ..RunCounts::default() },
            problems: Vec::new(),
            error: None,
            stopped_at_limit: false,
            repeat_every_seconds: req.repeat_every_seconds,
            series: uuid,
            sealed_passwords,
            created_by: ctx.caller.principal.clone(),
            created_at: now,
            run_at: now,
            started_at: None,
            finished_at: None,
        };
        self.queue_run(ctx, run, "discovery.start").await
    }

    /// Stores a run and its job in one transaction.
    async fn queue_run(&self, ctx: &Ctx, mut run: DiscoveryRun, action: &'static str) -> Result<DiscoveryRun> {
        let (mut tx, head) = self.begin().await?;
        run.id = tx.insert_discovery_run(&run).await?;
        let job = NewJob {
            max_attempts: 2,
            ..NewJob::new(kind::DISCOVERY_RUN, json!({ "run": run.uuid }), run.run_at)
                .dedupe(format!("discovery.run:{}", run.uuid))
        };
        tx.enqueue_job(&job, self.clock.now()).await?;
        let draft = EventDraft::success(action, "discovery_run", run.uuid).with_details(json!({
            "kind": run.spec.kind(), "spec": run.spec, "planned": run.counts.planned,
            "repeat_every_seconds": run.repeat_every_seconds, "series": run.series, "run_at": run.run_at,
        }));
        self.commit_with_event(tx, &head, ctx, draft).await?;
        self.jobs_wake.notify_one();
        Ok(run)
    }

    pub async fn discovery_run(&self, ctx: &Ctx, uuid: Uuid) -> Result<DiscoveryRun> {
        ctx.caller.require(Permission::ReadInventory)?;
        self.store.discovery_run(uuid).await?.ok_or_else(|| not_found(uuid))
    }

    pub async fn list_discovery_runs(&self, ctx: &Ctx, page: Page) -> Result<Listed<DiscoveryRun>> {
        ctx.caller.require(Permission::ReadInventory)?;
        self.store.list_discovery_runs(page).await
    }

    /// What a run saw, or (with `gone`) what it found gone.
    pub async fn discovery_results(&self, ctx: &Ctx, uuid: Uuid, gone: bool, page: Page) -> Result<Listed<RunResult>> {
        let run = self.discovery_run(ctx, uuid).await?;
        self.store.discovery_results(run.id, gone, page).await
    }

    /// Where a certificate was seen.
    pub async fn certificate_locations(&self, ctx: &Ctx, uuid: Uuid) -> Result<Vec<Sighting>> {
        ctx.caller.require(Permission::ReadInventory)?;
        let cert = self
            .store
            .certificate(uuid)
            .await?
            .ok_or_else(|| CoreError::not_found("certificate.not_found", "certificate", uuid))?;
        self.store.certificate_sightings(cert.id).await
    }

    /// Cancels a queued run (and so its repetition) or stops a running one at its next write.
    pub async fn cancel_discovery(&self, ctx: &Ctx, uuid: Uuid) -> Result<DiscoveryRun> {
        ctx.caller.require(Permission::RunDiscovery)?;
        let (mut tx, head) = self.begin().await?;
        let mut run = tx.discovery_run_for_update(uuid).await?.ok_or_else(|| not_found(uuid))?;
        if run.state.is_final() {
            return Err(CoreError::Conflict {
                code: "discovery.finished",
                message: format!("the run is {} already", run.state.as_str()),
            });
        }
        let was = run.state;
        run.state = RunState::Cancelled;
        run.finished_at = Some(self.clock.now());
        run.sealed_passwords = None;
        tx.update_discovery_run(&run).await?;
        let draft = EventDraft::success("discovery.cancel", "discovery_run", uuid)
            .with_details(json!({ "was": was.as_str(), "counts": run.counts }));
        self.commit_with_event(tx, &head, ctx, draft).await?;
        Ok(run)
    }

    /// The job of a run: scan, record, notice what is gone, finish.
    pub(crate) async fn run_discovery(&self, job: &Job, owner: &str) -> Result<Option<JobEnd>> {
        let uuid = job.payload["run"]
            .as_str()
            .and_then(|s| Uuid::parse_str(s).ok())
            .ok_or_else(|| CoreError::invalid("job.invalid_payload", "a discovery job names no run"))?;
        let ctx = Ctx::system();
        let now = self.clock.now();
        let run = {
            let (mut tx, head) = self.begin().await?;
            let Some(mut run) = tx.discovery_run_for_update(uuid).await? else {
                return Ok(Some(JobEnd::Failed(format!("discovery run {uuid} no longer exists"))));
            };
            if run.state.is_final() {
                return Ok(Some(JobEnd::Succeeded(json!({ "skipped": format!("the run is {}", run.state.as_str()) }))));
            }
            // A retried job finds its run running already: its successor was queued the first time.
            let first_start = run.state == RunState::Queued;
            run.state = RunState::Running;
            run.started_at = Some(now);
            tx.update_discovery_run(&run).await?;
            let mut drafts = Vec::new();
            // A repeated run queues its successor as it starts, so a failure does not end the series.
            if let Some(every) = run.repeat_every_seconds.filter(|_| first_start) {
                let next = DiscoveryRun {
                    id: 0,
                    uuid: Uuid::new_v4(),
                    state: RunState::Queued,
                    counts: RunCounts { planned: run.counts.planned, ..RunCounts::default() },
                    problems: Vec::new(),
                    error: None,
                    stopped_at_limit: false,
                    sealed_passwords: None,
                    created_at: now,
                    run_at: now + every,
                    started_at: None,
                    finished_at: None,
                    ..run.clone()
                };
                let next = DiscoveryRun { sealed_passwords: self.reseal(&run, next.uuid)?, ..next };
                let id = tx.insert_discovery_run(&next).await?;
                let job = NewJob {
                    max_attempts: 2,
                    ..NewJob::new(kind::DISCOVERY_RUN, json!({ "run": next.uuid }), next.run_at)
                        .dedupe(format!("discovery.run:{}", next.uuid))
                };
                tx.enqueue_job(&job, now).await?;
                drafts.push(EventDraft::success("discovery.schedule", "discovery_run", next.uuid).with_details(
                    json!({ "id": id, "series": next.series, "after": run.uuid, "run_at": next.run_at }),
                ));
            }
            drafts.insert(
                0,
                EventDraft::success("discovery.run", "discovery_run", uuid).with_details(json!({ "job": job.uuid })),
            );
            self.commit_with_events(tx, &head, &ctx, drafts).await?;
            run
        };
        match self.scan_and_record(run.clone(), job, owner).await {
            Ok(end) => Ok(Some(end)),
            Err(CoreError::Conflict { code: "job.lease_lost", .. }) => {
                Err(CoreError::Conflict { code: "job.lease_lost", message: "another node runs this scan".to_owned() })
            }
            Err(e) => {
                self.finish_run(&ctx, uuid, |r| {
                    r.state = RunState::Failed;
                    r.error = Some(e.to_string());
                })
                .await?;
                Ok(Some(JobEnd::Failed(e.to_string())))
            }
        }
    }

    /// The passwords of `run` sealed again for its successor.
    fn reseal(&self, run: &DiscoveryRun, next: Uuid) -> Result<Option<Vec<u8>>> {
        run.sealed_passwords
            .as_ref()
            .map(|sealed| {
                let plain = self.vault.open(sealed, run.uuid.as_bytes())?;
                self.vault.seal(&plain, next.as_bytes())
            })
            .transpose()
    }

    async fn scan_and_record(&self, mut run: DiscoveryRun, job: &Job, owner: &str) -> Result<JobEnd> {
        let scanner = self.scanner()?;
        let passwords: Vec<Zeroizing<String>> = match &run.sealed_passwords {
            Some(sealed) => {
                let plain = self.vault.open(sealed, run.uuid.as_bytes())?;
                let list: Vec<String> =
                    serde_json::from_slice(&plain).map_err(|e| CoreError::Storage(format!("sealed passwords: {e}")))?;
                list.into_iter().map(Zeroizing::new).collect()
            }
            None => Vec::new(),
        };
        let stop = AtomicBool::new(false);
        let spec = run.spec.clone();
        let (sender, mut events) = tokio::sync::mpsc::channel::<ScanEvent>(BATCH * 2);
        let scan = scanner.scan(&spec, &passwords, sender, &stop);
        tokio::pin!(scan);
        let mut pending: Vec<Observation> = Vec::new();
        let mut scan_end: Option<Result<ScanEnd>> = None;
        let mut last_flush = Instant::now();
        let mut cancelled = false;
        let mut closed = false;
        while !(closed && scan_end.is_some()) {
            let flush_due = tokio::time::sleep(FLUSH_EVERY.saturating_sub(last_flush.elapsed()));
            tokio::select! {
                end = &mut scan, if scan_end.is_none() => scan_end = Some(end),
                event = events.recv(), if !closed => match event {
                    Some(ScanEvent::Found(o)) if !cancelled => pending.push(*o),
                    Some(ScanEvent::Found(_)) => {}
                    Some(ScanEvent::Progress(n)) => run.counts.examined = run.counts.examined.max(n),
                    Some(ScanEvent::Problem(p)) => {
                        if run.problems.len() < MAX_RUN_PROBLEMS {
                            run.problems.push(p);
                        }
                    }
                    // The scan dropped its sender: everything was received.
                    None => closed = true,
                },
                _ = flush_due => {}
            }
            if !cancelled && (pending.len() >= BATCH || last_flush.elapsed() >= FLUSH_EVERY) {
                cancelled = !self.record_batch(&mut run, std::mem::take(&mut pending), job, owner).await?;
                last_flush = Instant::now();
                if cancelled {
                    stop.store(true, Ordering::Relaxed);
                    pending.clear();
                }
            }
        }
        let end = scan_end.unwrap_or(Ok(ScanEnd::default()))?;
        run.counts.examined = run.counts.examined.max(end.examined);
        if !cancelled {
            cancelled = !self.record_batch(&mut run, pending, job, owner).await?;
        }
        run.stopped_at_limit = end.stopped_at_limit;
        if cancelled {
            return Ok(JobEnd::Succeeded(json!({ "cancelled": true, "counts": run.counts })));
        }
        // Only a run that covered everything it was asked to can tell what is gone.
        if !run.stopped_at_limit {
            run.counts.gone = self.notice_gone(&run, scanner.as_ref()).await?;
        }
        let finished = run.clone();
        self.finish_run(&Ctx::system(), run.uuid, move |r| {
            r.state = RunState::Succeeded;
            r.counts = finished.counts;
            r.problems = finished.problems.clone();
            r.stopped_at_limit = finished.stopped_at_limit;
        })
        .await?;
        Ok(JobEnd::Succeeded(
            json!({ "run": run.uuid, "counts": run.counts, "stopped_at_limit": run.stopped_at_limit }),
        ))
    }

    /// Ends a run (unless it was cancelled meanwhile), forgetting its passwords.
    async fn finish_run(&self, ctx: &Ctx, uuid: Uuid, change: impl FnOnce(&mut DiscoveryRun)) -> Result<()> {
        let (mut tx, head) = self.begin().await?;
        let Some(mut run) = tx.discovery_run_for_update(uuid).await? else { return Ok(()) };
        if run.state == RunState::Cancelled {
            return Ok(());
        }
        change(&mut run);
        run.finished_at = Some(self.clock.now());
        run.sealed_passwords = None;
        tx.update_discovery_run(&run).await?;
        let draft = EventDraft::success("discovery.finish", "discovery_run", uuid).with_details(json!({
            "state": run.state.as_str(), "counts": run.counts, "error": run.error,
            "stopped_at_limit": run.stopped_at_limit, "problems": run.problems.len(),
        }));
        self.commit_with_event(tx, &head, ctx, draft).await
    }

    /// Writes a batch of observations with the run's progress in one transaction, and keeps the job's lease.
    /// `false` when the run was cancelled meanwhile (nothing written).
    async fn record_batch(
        &self,
        run: &mut DiscoveryRun,
        batch: Vec<Observation>,
        job: &Job,
        owner: &str,
    ) -> Result<bool> {
        let now = self.clock.now();
        let snapshot = self.snapshot().await?;
        let mut roots: Vec<Cert> =
            self.settings.discovery_trust_roots.iter().filter_map(|d| Cert::from_der(d).ok()).collect();
        roots.extend(
            snapshot
                .authorities
                .iter()
                .filter(|a| a.kind == crate::ca::AuthorityKind::Root)
                .filter_map(|a| Cert::from_der(&a.certificate_der).ok()),
        );
        let (mut tx, head) = self.begin().await?;
        if !tx.extend_lease(job.id, owner, now + self.settings.jobs.lease_seconds).await? {
            return Err(CoreError::Conflict {
                code: "job.lease_lost",
                message: "the scan's lease was lost".to_owned(),
            });
        }
        let stored = tx.discovery_run_for_update(run.uuid).await?.ok_or_else(|| not_found(run.uuid))?;
        if stored.state == RunState::Cancelled {
            return Ok(false);
        }
        let mut drafts = Vec::new();
        for o in batch {
            let Some(leaf) = o.chain.first().and_then(|der| Cert::from_der(der).ok()) else {
                if run.problems.len() < MAX_RUN_PROBLEMS {
                    run.problems.push(format!("{}: the certificate cannot be read", o.location.key()));
                }
                continue;
            };
            run.counts.found += 1;
            let fingerprint = leaf.fingerprint_sha256();
            let (certificate_id, new) = match tx.certificate_by_fingerprint(&fingerprint).await? {
                Some((id, _)) => (id, false),
                None => {
                    let key_name = leaf
                        .public_key()
                        .map(|k| super::import::key_name(k.kind))
                        .unwrap_or_else(|_| "unknown".to_owned());
                    let mut record =
                        record_of(&leaf, &key_name, Origin::Discovery, &format!("discovery-run:{}", run.uuid), now)?;
                    record.authority_id = super::import::issuing_authority(&snapshot.authorities, &leaf).map(|a| a.id);
                    if let Some(pkcs8) = &o.private_key {
                        let key = PrivateKey::from_pkcs8_der(pkcs8)
                            .ok()
                            .filter(|k| certwright_pki::pkcs8::matches_certificate(k, &leaf).unwrap_or(false));
                        if let Some(key) = key {
                            record.key_id = Some(tx.insert_key(&self.seal_key(&key, true)?).await?);
                        }
                    }
                    record.id = tx.insert_certificate(&record).await?;
                    drafts.push(EventDraft::success("certificate.discover", "certificate", record.uuid).with_details(
                        json!({
                            "serial": record.serial, "subject": record.subject, "issuer": record.issuer,
                            "fingerprint": record.fingerprint, "location": o.location.key(), "run": run.uuid,
                            "private_key": record.key_id.is_some(),
                        }),
                    ));
                    run.counts.new_certificates += 1;
                    (record.id, true)
                }
            };
            let details = self.judge(&o, &leaf, &roots, now);
            let sighting = NewSighting { certificate_id, location: o.location, details };
            tx.record_sighting(run.id, &sighting, new, now).await?;
        }
        let mut update = stored;
        update.counts = run.counts;
        update.problems = run.problems.clone();
        tx.update_discovery_run(&update).await?;
        if drafts.is_empty() {
            tx.commit().await?;
        } else {
            self.commit_with_events(tx, &head, &Ctx::system(), drafts).await?;
        }
        Ok(true)
    }

    /// What an observation says beyond its certificate: how it was served or stored, whether its chain leads
    /// to a trusted root, and whether it fits the name it was reached by.
    fn judge(&self, o: &Observation, leaf: &Cert, roots: &[Cert], now: i64) -> serde_json::Value {
        let chain: Vec<Cert> = o.chain.iter().filter_map(|d| Cert::from_der(d).ok()).collect();
        let mut validator = certwright_pki::validate::Validator::new(roots, now);
        let rest: Vec<Cert> = chain.iter().skip(1).cloned().collect();
        validator.intermediates = &rest;
        let v = validator.validate(leaf);
        let trust = json!({
            "status": v.status.czertainly(),
            "trusted": matches!(v.status.czertainly(), "valid" | "expiring"),
            "problems": v.problems.iter().map(ToString::to_string).collect::<Vec<_>>(),
        });
        let sans = leaf.sans().unwrap_or_default();
        let dns: Vec<String> =
            sans.iter().filter_map(|s| if let San::Dns(d) = s { Some(d.clone()) } else { None }).collect();
        let ips: Vec<std::net::IpAddr> =
            sans.iter().filter_map(|s| if let San::Ip(ip) = s { Some(*ip) } else { None }).collect();
        let hostname_match = match &o.location {
            Location::Tls { ip, server_name, .. } => {
                let host = server_name.clone().unwrap_or_else(|| ip.to_string());
                Some(name_matches(&dns, &ips, leaf.common_name().as_deref(), &host))
            }
            Location::File { .. } => None,
        };
        let fingerprints: Vec<String> = chain.iter().map(Cert::fingerprint_sha256).collect();
        json!({
            "protocol": o.protocol, "cipher": o.cipher, "legacy_handshake": o.legacy.then_some(true),
            "format": o.format, "private_key": (o.key != KeyPresence::Absent).then_some(o.key),
            "chain": fingerprints, "trust": trust, "hostname_match": hostname_match,
        })
    }

    /// Marks gone the sightings this run covers but did not see; how many.
    async fn notice_gone(&self, run: &DiscoveryRun, scanner: &dyn crate::discovery::Scanner) -> Result<u64> {
        let kind = match run.spec {
            RunSpec::Tls(_) => "tls",
            RunSpec::Files(_) => "file",
        };
        let mut gone = Vec::new();
        let mut after = 0;
        loop {
            let page = self.store.active_sightings(kind, after, 1000).await?;
            let Some(last) = page.last() else { break };
            after = last.id;
            for s in &page {
                if s.last_run < run.id && scanner.covers(&run.spec, &s.location).await {
                    gone.push(s.id);
                }
            }
        }
        if gone.is_empty() {
            return Ok(0);
        }
        let mut marked = 0;
        for ids in gone.chunks(500) {
            let mut tx = self.store.begin().await?;
            marked += tx.mark_sightings_gone(run.id, ids, self.clock.now()).await?;
            tx.commit().await?;
        }
        Ok(marked)
    }
}
