//! The job runner: every node leases due jobs from the database, runs them a few at a time, and ends them —
//! succeeded, failed for good, or queued again with backoff. A node that dies holding a lease leaves its jobs to be
//! leased again once the lease runs out; jobs whose effect is a database change commit that effect together with
//! their completion (fenced by the lease), so they take effect once.

use super::Services;
use crate::auth::{Ctx, Permission};
use crate::jobs::{backoff, kind, Job, JobEnd, JobFilter, NewJob};
use crate::lifecycle::RequestKind;
use crate::page::{Listed, Page};
use crate::store::{Store, StoreTx};
use crate::{CoreError, Result};
use serde_json::json;
use std::time::Duration;
use uuid::Uuid;

/// Tunables of the job runner.
#[derive(Debug, Clone)]
pub struct JobSettings {
    /// How often an idle runner looks for due jobs.
    pub poll_interval: Duration,
    /// How long a lease lasts; a job whose node died is retried after this.
    pub lease_seconds: i64,
    /// Jobs leased at once (and run concurrently) by one node.
    pub batch: u32,
    /// How often the expiry scan runs (across all nodes: one scan per interval).
    pub scan_interval_seconds: i64,
}

impl Default for JobSettings {
    fn default() -> Self {
        Self { poll_interval: Duration::from_secs(1), lease_seconds: 120, batch: 8, scan_interval_seconds: 300 }
    }
}

impl<S: Store> Services<S> {
    /// Jobs, newest first.
    pub async fn list_jobs(&self, ctx: &Ctx, filter: &JobFilter, page: Page) -> Result<Listed<Job>> {
        ctx.caller.require(Permission::ManageRequests)?;
        self.store.list_jobs(filter, page).await
    }

    pub async fn job(&self, ctx: &Ctx, uuid: Uuid) -> Result<Job> {
        ctx.caller.require(Permission::ManageRequests)?;
        self.store.job(uuid).await?.ok_or_else(|| CoreError::not_found("job.not_found", "job", uuid))
    }

    /// Queues an expiry scan now (besides the scheduled ones) and returns its job.
    pub async fn queue_expiry_scan(&self, ctx: &Ctx) -> Result<Job> {
        ctx.caller.require(Permission::ManageRequests)?;
        let now = self.clock.now();
        let job = NewJob {
            max_attempts: 1,
            ..NewJob::new(kind::EXPIRY_SCAN, json!({ "requested_by": ctx.caller.principal }), now)
        };
        let mut tx = self.store.begin().await?;
        let id = tx.enqueue_job(&job, now).await?;
        tx.commit().await?;
        self.jobs_wake.notify_one();
        let listed = self
            .store
            .list_jobs(&JobFilter { state: None, kind: Some(kind::EXPIRY_SCAN.to_owned()) }, Page::new(Some(20), None)?)
            .await?;
        listed
            .items
            .into_iter()
            .find(|j| Some(j.id) == id)
            .ok_or_else(|| CoreError::Storage("the queued scan was not found".to_owned()))
    }

    /// This node's lease owner name: the node id and this process.
    pub(crate) fn lease_owner(&self) -> &str {
        &self.job_owner
    }

    /// Leases up to `n` due jobs to this node.
    async fn lease(&self, n: u32) -> Result<Vec<Job>> {
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        let jobs = tx.lease_jobs(self.lease_owner(), now, now + self.settings.jobs.lease_seconds, n).await?;
        tx.commit().await?;
        Ok(jobs)
    }

    /// Leases and runs one batch of due jobs; how many were run.
    pub async fn run_due_jobs(&self) -> Result<usize> {
        let jobs = self.lease(self.settings.jobs.batch).await?;
        let n = jobs.len();
        futures_util::future::join_all(jobs.into_iter().map(|job| self.run_job(job))).await;
        Ok(n)
    }

    pub(crate) async fn run_job(&self, job: Job) {
        let started = std::time::Instant::now();
        let outcome = self.perform(&job).await;
        let now = self.clock.now();
        let end = match outcome {
            // The handler committed its completion together with its effect.
            Ok(None) => {
                tracing::info!(job = %job.uuid, kind = %job.kind, ms = started.elapsed().as_millis() as u64, "job done");
                return;
            }
            Ok(Some(end)) => end,
            Err(CoreError::Conflict { code: "job.lease_lost", .. }) => {
                tracing::warn!(job = %job.uuid, kind = %job.kind, "lease lost: another node runs this job");
                return;
            }
            Err(
                e @ (CoreError::Invalid { .. }
                | CoreError::NotFound { .. }
                | CoreError::Conflict { .. }
                | CoreError::Forbidden { .. }),
            ) => JobEnd::Failed(e.to_string()),
            Err(e) => JobEnd::Retry { error: e.to_string(), run_at: now + backoff(job.attempts) },
        };
        match &end {
            JobEnd::Succeeded(_) => tracing::info!(job = %job.uuid, kind = %job.kind, "job done"),
            JobEnd::Retry { error, .. } => {
                tracing::warn!(job = %job.uuid, kind = %job.kind, attempt = job.attempts, %error, "job failed; will retry")
            }
            JobEnd::Failed(error) => tracing::warn!(job = %job.uuid, kind = %job.kind, %error, "job failed for good"),
        }
        if let JobEnd::Failed(error) | JobEnd::Retry { error, .. } = &end {
            let last = matches!(end, JobEnd::Failed(_)) || job.attempts >= job.max_attempts;
            if last {
                self.job_gave_up(&job, error).await;
            }
        }
        let result = async {
            let mut tx = self.store.begin().await?;
            let finished = tx.finish_job(job.id, self.lease_owner(), &end, now).await?;
            tx.commit().await?;
            Ok::<_, CoreError>(finished)
        }
        .await;
        match result {
            Ok(true) => {}
            Ok(false) => tracing::warn!(job = %job.uuid, "lease lost before the job could be ended"),
            Err(e) => tracing::warn!(job = %job.uuid, error = %e, "cannot record the end of a job"),
        }
    }

    /// Runs a job's handler. `Ok(None)`: the handler ended the job itself, in its own transaction.
    async fn perform(&self, job: &Job) -> Result<Option<JobEnd>> {
        let ctx = Ctx::system();
        match job.kind.as_str() {
            kind::RENEW => {
                let id = job.payload["certificate"]
                    .as_str()
                    .and_then(|s| Uuid::parse_str(s).ok())
                    .ok_or_else(|| CoreError::invalid("job.invalid_payload", "a renewal job names no certificate"))?;
                self.auto_renew(&ctx, job, id).await
            }
            kind::EXPIRY_SCAN => {
                let report = self.expiry_scan().await?;
                Ok(Some(JobEnd::Succeeded(report)))
            }
            kind::NOTIFY => self.deliver_notification(job).await.map(Some),
            kind::UPSTREAM_ISSUE => self.upstream_issue(job, self.lease_owner()).await,
            kind::UPSTREAM_REVOKE => self.upstream_revoke(job, self.lease_owner()).await,
            kind::ACME_VALIDATE => self.acme_validate(job, self.lease_owner()).await,
            kind::DISCOVERY_RUN => self.run_discovery(job, self.lease_owner()).await,
            kind::DEPLOY => self.run_deployment(job, self.lease_owner()).await,
            other => Err(CoreError::invalid("job.unknown_kind", format!("no handler for jobs of kind '{other}'"))),
        }
    }

    /// Renews a certificate for its auto-renewal job: the new certificate, the link and the job's completion
    /// commit together.
    async fn auto_renew(&self, ctx: &Ctx, job: &Job, uuid: Uuid) -> Result<Option<JobEnd>> {
        let Some(old) = self.store.certificate(uuid).await? else {
            return Ok(Some(JobEnd::Failed(format!("certificate {uuid} no longer exists"))));
        };
        if old.state != "issued" {
            return Ok(Some(JobEnd::Succeeded(json!({ "skipped": format!("certificate is {}", old.state) }))));
        }
        if self.store.certificate_links(old.id).await?.iter().any(|l| l.previous == old.uuid) {
            return Ok(Some(JobEnd::Succeeded(json!({ "skipped": "already renewed" }))));
        }
        // A renewal capped at its CA's expiry would land inside the window again at every scan.
        let authority = self.authority_of(&old).await?;
        let window = self
            .snapshot()
            .await?
            .profiles
            .iter()
            .find(|p| Some(p.id) == old.ra_profile_id)
            .map_or(crate::ca::DEFAULT_RENEWAL_WINDOW_DAYS, |p| p.policy.renewal_window_days);
        if authority.is_internal() && authority.not_after - self.clock.now() <= i64::from(window) * 86_400 {
            return Ok(Some(JobEnd::Failed(format!(
                "the issuing CA '{}' expires within the renewal window ({window} days): renew or replace the CA first",
                authority.name
            ))));
        }
        let cert = certwright_pki::cert::Cert::from_der(&old.der)?;
        let job_spec = self
            .replacement_job(ctx, &old, cert.subject().clone(), cert.public_key()?, cert.sans()?, None, None)
            .await?;
        let replaced =
            self.replace(ctx, job_spec, RequestKind::Renew, &old, true, Some((job.id, self.lease_owner()))).await;
        match replaced {
            Err(CoreError::Conflict { code: "renew.already_renewed", .. }) => {
                Ok(Some(JobEnd::Succeeded(json!({ "skipped": "already renewed" }))))
            }
            Err(e) => Err(e),
            Ok(super::Submitted::Issued(_)) => Ok(None),
            Ok(super::Submitted::Pending(p)) => {
                Ok(Some(JobEnd::Succeeded(json!({ "request": p.request.uuid, "state": p.request.state.as_str() }))))
            }
        }
    }

    /// Called when a job gives up: a renewal that failed for good is reported; a request whose certificate could
    /// not be obtained fails.
    async fn job_gave_up(&self, job: &Job, error: &str) {
        if job.kind == kind::UPSTREAM_ISSUE {
            if let Some(uuid) = job.payload["request"].as_str().and_then(|s| Uuid::parse_str(s).ok()) {
                let still_pending = matches!(self.store.request(uuid).await, Ok(Some(r)) if r.state == crate::lifecycle::State::PendingIssue);
                if still_pending {
                    let reason = format!("obtaining the certificate gave up: {error}");
                    if let Err(e) = self.fail_request(&Ctx::system(), uuid, reason).await {
                        tracing::warn!(error = %e, "cannot mark a request failed");
                    }
                }
            }
        }
        if job.kind == kind::RENEW {
            let draft = crate::audit::EventDraft::success(
                "certificate.renew_failed",
                "certificate",
                job.payload["certificate"].as_str().unwrap_or_default(),
            )
            .with_details(json!({ "job": job.uuid, "error": error, "attempts": job.attempts }));
            // Recording it also notifies the rules subscribed to certificate.renew_failed.
            if let Err(e) = self.record_failure(&Ctx::system(), draft).await {
                tracing::warn!(error = %e, "cannot record a failed renewal");
            }
        }
    }

    /// Runs jobs until `stop` resolves, and queues the expiry scan once per interval (one node wins each
    /// interval's scan through its dedupe key).
    pub async fn run_jobs(self: std::sync::Arc<Self>, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        // Each job runs in its own task: one that waits (for the database's writer, for a CA) holds up nobody.
        let mut running = tokio::task::JoinSet::new();
        let interval = self.settings.jobs.scan_interval_seconds.max(1);
        let mut last_slot = i64::MIN;
        loop {
            let now = self.clock.now();
            let slot = now / interval;
            if slot != last_slot {
                let scan = NewJob::new(kind::EXPIRY_SCAN, json!({}), now).dedupe(format!("expiry.scan:{slot}"));
                match self.enqueue(NewJob { max_attempts: 1, ..scan }).await {
                    Ok(_) => last_slot = slot,
                    Err(e) => tracing::warn!(error = %e, "cannot queue the expiry scan"),
                }
            }
            // Keep up to `batch` jobs running; a slow one (an ACME order) does not hold up the others.
            let free = (self.settings.jobs.batch as usize).saturating_sub(running.len());
            let mut leased = 0;
            if free > 0 {
                match self.lease(free as u32).await {
                    Ok(jobs) => {
                        leased = jobs.len();
                        for job in jobs {
                            let services = self.clone();
                            running.spawn(async move { services.run_job(job).await });
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot lease jobs"),
                }
            }
            if leased > 0 && running.len() < self.settings.jobs.batch as usize {
                continue;
            }
            tokio::select! {
                                _ = &mut stop => return,
                Some(_) = running.join_next(), if !running.is_empty() => {}
                _ = self.jobs_wake.notified() => {}
                _ = tokio::time::sleep(self.settings.jobs.poll_interval) => {}
            }
        }
    }
}
