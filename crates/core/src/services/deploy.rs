//! Deployment: locations (checked by the `Deployer` port, credentials sealed) and deployments, each a job that
//! installs one certificate at one location (or removes it) and records what happened. A renewal or rekey with
//! `replace_in_locations` queues the new certificate for every location where the old one is installed, in the
//! transaction that stores it.

use super::Services;
use crate::audit::EventDraft;
use crate::auth::{Ctx, Permission};
use crate::ca::CertificateRecord;
use crate::deploy::{Credentials, DeployAction, DeployState, Deployment, Location, LocationSpec, Material};
use crate::jobs::{kind, Job, JobEnd, NewJob};
use crate::page::{Listed, Page};
use crate::store::{Store, StoreTx};
use crate::{CoreError, Result};
use certwright_pki::pem;
use serde_json::json;
use std::sync::Arc;
use uuid::Uuid;
use zeroize::Zeroizing;

/// Seconds a deployment's job lease is stretched to while it runs.
const DEPLOY_LEASE_SECONDS: i64 = 600;

/// A location to create.
#[derive(Debug, Clone)]
pub struct NewLocation {
    pub name: String,
    pub spec: LocationSpec,
    pub credentials: Credentials,
}

fn location_not_found(key: &str) -> CoreError {
    CoreError::not_found("location.not_found", "location", key)
}

impl<S: Store> Services<S> {
    pub(super) fn deployer(&self) -> Result<Arc<dyn crate::deploy::Deployer>> {
        self.settings
            .deployer
            .clone()
            .ok_or_else(|| CoreError::invalid("deploy.unavailable", "this server has no deployer configured"))
    }

    pub async fn create_location(&self, ctx: &Ctx, req: NewLocation) -> Result<Location> {
        ctx.caller.require(Permission::ManageAuthorities)?;
        crate::auth::validate_name("location.invalid_name", &req.name)?;
        if Uuid::parse_str(&req.name).is_ok() {
            return Err(CoreError::invalid("location.invalid_name", "a location name must not look like an id"));
        }
        if req.name.starts_with(super::LOCATION_PREFIX) {
            return Err(CoreError::invalid(
                "location.invalid_name",
                format!("names starting with '{}' are kept for publications", super::LOCATION_PREFIX),
            ));
        }
        self.deployer()?.check(&req.spec, &req.credentials)?;
        let now = self.clock.now();
        let uuid = Uuid::new_v4();
        let sealed_credentials = if !req.credentials.is_empty() {
            let plain =
                Zeroizing::new(serde_json::to_vec(&req.credentials).map_err(|e| CoreError::Storage(e.to_string()))?);
            Some(self.vault.seal(&plain, uuid.as_bytes())?)
        } else {
            None
        };
        let mut location = Location {
            id: 0,
            uuid,
            name: req.name,
            spec: req.spec,
            sealed_credentials,
            created_by: ctx.caller.principal.clone(),
            created_at: now,
            updated_at: now,
        };
        let (mut tx, head) = self.begin().await?;
        location.id = tx.insert_location(&location).await?;
        // The spec holds no secret; the credentials are only said to exist.
        let draft = EventDraft::success("location.create", "location", uuid).with_details(json!({
            "name": location.name, "spec": location.spec, "credentials": location.sealed_credentials.is_some(),
        }));
        self.commit_with_event(tx, &head, ctx, draft).await?;
        Ok(location)
    }

    pub async fn locations(&self, ctx: &Ctx) -> Result<Vec<Location>> {
        ctx.caller.require(Permission::ReadInventory)?;
        self.store.locations().await
    }

    pub async fn location(&self, ctx: &Ctx, key: &str) -> Result<Location> {
        ctx.caller.require(Permission::ReadInventory)?;
        self.store.location(key).await?.ok_or_else(|| location_not_found(key))
    }

    /// Deletes a location and its history; the certificates stay where they were installed.
    pub async fn delete_location(&self, ctx: &Ctx, key: &str) -> Result<()> {
        ctx.caller.require(Permission::ManageAuthorities)?;
        let location = self.store.location(key).await?.ok_or_else(|| location_not_found(key))?;
        let (mut tx, head) = self.begin().await?;
        if !tx.delete_location(location.id).await? {
            return Err(location_not_found(key));
        }
        let draft = EventDraft::success("location.delete", "location", location.uuid)
            .with_details(json!({ "name": location.name }));
        self.commit_with_event(tx, &head, ctx, draft).await
    }

    /// Queues the installation (or removal) of a certificate at a location.
    pub async fn queue_deployment(
        &self,
        ctx: &Ctx,
        location: &str,
        certificate: Uuid,
        action: DeployAction,
    ) -> Result<Deployment> {
        ctx.caller.require(Permission::ManageRequests)?;
        let location = self.store.location(location).await?.ok_or_else(|| location_not_found(location))?;
        let cert = self
            .store
            .certificate(certificate)
            .await?
            .ok_or_else(|| CoreError::not_found("certificate.not_found", "certificate", certificate))?;
        if action == DeployAction::Deploy && cert.state != "issued" {
            return Err(CoreError::Conflict {
                code: "deploy.not_issued",
                message: format!("the certificate is {}; only an issued certificate is deployed", cert.state),
            });
        }
        let (mut tx, head) = self.begin().await?;
        let (deployment, draft) = self.new_deployment(&mut tx, ctx, &cert, &location, action, "api").await?;
        self.commit_with_events(tx, &head, ctx, vec![draft]).await?;
        self.jobs_wake.notify_one();
        Ok(deployment)
    }

    /// Stores a queued deployment and its job in `tx`; the event to commit with them.
    pub(super) async fn new_deployment(
        &self,
        tx: &mut S::Tx,
        ctx: &Ctx,
        cert: &CertificateRecord,
        location: &Location,
        action: DeployAction,
        reason: &str,
    ) -> Result<(Deployment, EventDraft)> {
        let now = self.clock.now();
        let mut d = Deployment {
            id: 0,
            uuid: Uuid::new_v4(),
            certificate_id: cert.id,
            certificate_uuid: cert.uuid,
            location_id: location.id,
            location_uuid: location.uuid,
            action,
            state: DeployState::Queued,
            details: json!({}),
            error: None,
            reason: reason.to_owned(),
            created_by: ctx.caller.principal.clone(),
            created_at: now,
            finished_at: None,
        };
        d.id = tx.insert_deployment(&d).await?;
        let job = NewJob { max_attempts: 3, ..NewJob::new(kind::DEPLOY, json!({ "deployment": d.uuid }), now) }
            .dedupe(format!("deployment:{}", d.uuid));
        tx.enqueue_job(&job, now).await?;
        let draft = EventDraft::success("deployment.queue", "deployment", d.uuid).with_details(json!({
            "certificate": cert.uuid, "serial": cert.serial, "location": location.uuid, "location_name": location.name,
            "action": action.as_str(), "reason": reason,
        }));
        Ok((d, draft))
    }

    /// In a renewal's transaction: queues `new` for every location where `old` is installed.
    pub(crate) async fn queue_redeployments(
        &self,
        tx: &mut S::Tx,
        ctx: &Ctx,
        old: i64,
        new: &CertificateRecord,
    ) -> Result<Vec<EventDraft>> {
        let mut drafts = Vec::new();
        for location_id in tx.deployed_locations(old).await? {
            let Some(location) = tx.location_by_id(location_id).await? else { continue };
            let (_, draft) = self.new_deployment(tx, ctx, new, &location, DeployAction::Deploy, "renewal").await?;
            drafts.push(draft);
        }
        Ok(drafts)
    }

    pub async fn deployment(&self, ctx: &Ctx, uuid: Uuid) -> Result<Deployment> {
        ctx.caller.require(Permission::ReadInventory)?;
        self.store
            .deployment(uuid)
            .await?
            .ok_or_else(|| CoreError::not_found("deployment.not_found", "deployment", uuid))
    }

    pub async fn list_deployments(
        &self,
        ctx: &Ctx,
        location: Option<&str>,
        certificate: Option<Uuid>,
        page: Page,
    ) -> Result<Listed<Deployment>> {
        ctx.caller.require(Permission::ReadInventory)?;
        let location_id = match location {
            Some(key) => Some(self.store.location(key).await?.ok_or_else(|| location_not_found(key))?.id),
            None => None,
        };
        let certificate_id = match certificate {
            Some(u) => Some(
                self.store
                    .certificate(u)
                    .await?
                    .ok_or_else(|| CoreError::not_found("certificate.not_found", "certificate", u))?
                    .id,
            ),
            None => None,
        };
        self.store.list_deployments(location_id, certificate_id, page).await
    }

    /// What is installed for a certificate: PEM, chain and (when the location takes a key) the key.
    async fn material(&self, cert: &CertificateRecord, wants_key: bool) -> Result<Material> {
        let authority = match cert.authority_id {
            Some(id) => self.snapshot().await?.authorities.iter().find(|a| a.id == id).cloned(),
            None => None,
        };
        let chain = match authority {
            Some(a) if !a.certificate_der.is_empty() => self.authority_chain(&a).await?,
            _ => Vec::new(),
        };
        // The chain ends below the root: clients have the root.
        let issuers: Vec<&Vec<u8>> = chain
            .iter()
            .filter(|der| certwright_pki::cert::Cert::from_der(der).is_ok_and(|c| c.subject() != c.issuer()))
            .collect();
        let key_pem = if wants_key {
            let key_id = cert.key_id.ok_or_else(|| {
                CoreError::invalid(
                    "deploy.no_key",
                    "the location takes a key, and this certificate's key is not held here",
                )
            })?;
            let stored =
                self.store.key(key_id).await?.ok_or_else(|| CoreError::Storage(format!("key {key_id} is missing")))?;
            if stored.sealed.is_empty() {
                return Err(CoreError::invalid("deploy.no_key", "this certificate's key was destroyed"));
            }
            let der = self.vault.open(&stored.sealed, stored.uuid.as_bytes())?;
            Some(Zeroizing::new(pem::encode("PRIVATE KEY", &der)))
        } else {
            None
        };
        Ok(Material {
            certificate_pem: pem::encode("CERTIFICATE", &cert.der),
            chain_pem: issuers.iter().map(|d| pem::encode("CERTIFICATE", d)).collect(),
            key_pem,
            fingerprint: cert.fingerprint.clone(),
        })
    }

    /// The job of one deployment: marked running with the job's lease stretched over the longest installation,
    /// then the outcome — whatever went wrong before the deployer ran included — recorded on the deployment.
    pub(crate) async fn run_deployment(&self, job: &Job, owner: &str) -> Result<Option<JobEnd>> {
        let uuid = job.payload["deployment"]
            .as_str()
            .and_then(|s| Uuid::parse_str(s).ok())
            .ok_or_else(|| CoreError::invalid("job.invalid_payload", "a deployment job names no deployment"))?;
        let d = {
            let mut tx = self.store.begin().await?;
            let Some(mut d) = tx.deployment_for_update(uuid).await? else {
                return Ok(Some(JobEnd::Failed(format!("deployment {uuid} no longer exists"))));
            };
            if matches!(d.state, DeployState::Succeeded | DeployState::Failed) {
                return Ok(Some(JobEnd::Succeeded(json!({ "skipped": d.state.as_str() }))));
            }
            // A test, a reload, the check and a slow connection can outlast a normal lease.
            let until = self.clock.now() + self.settings.jobs.lease_seconds.max(DEPLOY_LEASE_SECONDS);
            if !tx.extend_lease(job.id, owner, until).await? {
                return Err(CoreError::Conflict {
                    code: "job.lease_lost",
                    message: "another node runs this deployment".to_owned(),
                });
            }
            d.state = DeployState::Running;
            tx.update_deployment(&d).await?;
            tx.commit().await?;
            d
        };
        // A deployment that publications made: not to a device or with a credential made inactive since.
        if d.action == DeployAction::Deploy {
            if let Some(refusal) = self.store.publication_location_refusal(d.location_id).await? {
                self.fail_deployment(uuid, &refusal).await?;
                return Ok(Some(JobEnd::Failed(refusal)));
            }
        }
        let (outcome, location, cert) = match self.attempt_deployment(&d).await {
            Ok(done) => done,
            Err(e) => {
                let failure = crate::deploy::DeployOutcome {
                    steps: Vec::new(),
                    failure: Some(("prepare".to_owned(), e.to_string())),
                    rolled_back: false,
                    retryable: matches!(e, CoreError::Storage(_)),
                };
                let location = self.store.location(&d.location_uuid.to_string()).await.ok().flatten();
                let cert = self.store.certificate(d.certificate_uuid).await.ok().flatten();
                match (location, cert) {
                    (Some(l), Some(c)) => (failure, l, c),
                    _ => {
                        self.fail_deployment(uuid, &e.to_string()).await?;
                        return Ok(Some(JobEnd::Failed(e.to_string())));
                    }
                }
            }
        };
        self.record_deployment(job, &d, outcome, &location, &cert).await
    }

    /// Marks failed a deployment whose location or certificate is gone.
    async fn fail_deployment(&self, uuid: Uuid, error: &str) -> Result<()> {
        let mut tx = self.store.begin().await?;
        if let Some(mut row) = tx.deployment_for_update(uuid).await? {
            row.state = DeployState::Failed;
            row.error = Some(error.to_owned());
            row.finished_at = Some(self.clock.now());
            tx.update_deployment(&row).await?;
        }
        tx.commit().await
    }

    /// Gathers what a deployment needs and asks the deployer.
    async fn attempt_deployment(
        &self,
        d: &Deployment,
    ) -> Result<(crate::deploy::DeployOutcome, Location, CertificateRecord)> {
        let location = self
            .store
            .location(&d.location_uuid.to_string())
            .await?
            .ok_or_else(|| CoreError::invalid("location.not_found", "the location no longer exists"))?;
        let cert = self
            .store
            .certificate(d.certificate_uuid)
            .await?
            .ok_or_else(|| CoreError::Storage(format!("certificate {} is missing", d.certificate_uuid)))?;
        let credentials: Credentials = match &location.sealed_credentials {
            Some(sealed) => {
                let plain = self.vault.open(sealed, location.uuid.as_bytes())?;
                serde_json::from_slice(&plain).map_err(|e| CoreError::Storage(format!("location credentials: {e}")))?
            }
            None => Credentials::default(),
        };
        let deployer = self.deployer()?;
        let outcome = match d.action {
            DeployAction::Deploy => {
                let material = self.material(&cert, location.spec.takes_key()).await?;
                deployer.deploy(&location.spec, &credentials, &material).await
            }
            DeployAction::Undeploy => deployer.undeploy(&location.spec, &credentials).await,
        };
        Ok((outcome, location, cert))
    }

    /// Records how an attempt ended, with its event.
    async fn record_deployment(
        &self,
        job: &Job,
        d: &Deployment,
        outcome: crate::deploy::DeployOutcome,
        location: &Location,
        cert: &CertificateRecord,
    ) -> Result<Option<JobEnd>> {
        let uuid = d.uuid;
        let last_attempt = job.attempts >= job.max_attempts;
        let retry = outcome.failure.is_some() && outcome.retryable && !last_attempt;
        let now = self.clock.now();
        let (mut tx, head) = self.begin().await?;
        let Some(mut row) = tx.deployment_for_update(uuid).await? else {
            return Ok(Some(JobEnd::Failed(format!("deployment {uuid} no longer exists"))));
        };
        row.details = json!({
            "steps": outcome.steps, "attempt": job.attempts,
            "failed_step": outcome.failure.as_ref().map(|(s, _)| s), "rolled_back": outcome.rolled_back,
        });
        row.error = outcome.failure.as_ref().map(|(step, m)| format!("{step}: {m}"));
        let (action, end) = match (&outcome.failure, retry) {
            (None, _) => {
                row.state = DeployState::Succeeded;
                row.finished_at = Some(now);
                (
                    if d.action == DeployAction::Deploy { "certificate.deploy" } else { "certificate.undeploy" },
                    JobEnd::Succeeded(json!({ "deployment": uuid })),
                )
            }
            (Some(_), true) => {
                row.state = DeployState::Queued;
                let error = row.error.clone().unwrap_or_default();
                ("deployment.retry", JobEnd::Retry { error, run_at: now + crate::jobs::backoff(job.attempts) })
            }
            (Some(_), false) => {
                row.state = DeployState::Failed;
                row.finished_at = Some(now);
                ("certificate.deploy_failed", JobEnd::Failed(row.error.clone().unwrap_or_default()))
            }
        };
        tx.update_deployment(&row).await?;
        let draft = EventDraft::success(action, "certificate", cert.uuid).with_details(json!({
            "deployment": uuid, "location": location.uuid, "location_name": location.name, "action": d.action.as_str(),
            "error": row.error, "rolled_back": outcome.rolled_back, "serial": cert.serial,
        }));
        self.commit_with_events(tx, &head, &Ctx::system(), vec![draft]).await?;
        Ok(Some(end))
    }
}
