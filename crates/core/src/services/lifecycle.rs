//! The lifecycle services: requests that wait for approval or for an external authority, approvals, finalize,
//! cancel, pending revocations and their confirmation, renew and rekey. Every move goes through
//! [`crate::lifecycle::transition`] inside one transaction with one event per transition.

use super::issuance::{record_of, SignJob, Vetted};
use super::revocation::RevokedCertificate;
use super::{IssueRequest, Issued, RevokeRequest, Services};
use crate::attributes::AttributeValue;
use crate::audit::{ChainHead, EventDraft};
use crate::auth::{Ctx, Permission, Role};
use crate::ca::{Authority, CertificateRecord, Origin, RaProfile};
use crate::jobs::{JobEnd, NewJob};
use crate::lifecycle::{
    transition, Action, Approval, ApprovalAction, ApprovalStatus, LinkKind, RequestKind, RequestRecord,
    RevocationRequest, State, Vote,
};
use crate::store::{Store, StoreTx};
use crate::{CoreError, Result};
use certwright_pki::cert::Cert;
use certwright_pki::key::{PrivateKey, PublicKey};
use certwright_pki::names::{self, San};
use serde_json::json;
use uuid::Uuid;

/// What a request led to: a certificate, or a request still waiting.
#[derive(Debug)]
pub enum Submitted {
    Issued(Box<Issued>),
    Pending(Box<PendingRequest>),
}

/// A request waiting for approval or for its authority.
#[derive(Debug, Clone)]
pub struct PendingRequest {
    pub request: RequestRecord,
    pub approval: Option<Approval>,
}

/// What a revocation led to: done, or waiting (approval or an external authority).
#[derive(Debug)]
pub enum RevokeOutcome {
    Revoked(Box<RevokedCertificate>),
    Pending { certificate: Box<CertificateRecord>, approval: Option<Approval> },
}

/// Renew: the same key and names, a new certificate.
#[derive(Debug, Clone, Default)]
pub struct RenewRequest {
    pub validity_days: Option<u32>,
    /// Redeploy the new certificate where the old one is deployed.
    pub replace_in_locations: bool,
    /// A PKCS#10 (or CRMF) request sent with the renewal: it must carry the certificate's key.
    pub csr: Option<Vec<u8>>,
}

/// Rekey: a new key (from a CSR, held here already, or generated here), the same names unless the CSR says
/// otherwise.
#[derive(Debug, Clone, Default)]
pub struct RekeyRequest {
    pub csr: Option<Vec<u8>>,
    pub key_algorithm: Option<String>,
    pub validity_days: Option<u32>,
    pub replace_in_locations: bool,
    /// A managed key held here to certify instead (not with `csr` or `key_algorithm`).
    pub key: Option<Uuid>,
    /// Refuse a CSR whose subject differs from the certificate's.
    pub keep_subject: bool,
}

/// How long an upstream job holds its lease (an ACME order polls for minutes).
const UPSTREAM_LEASE: i64 = 900;

/// Longest reason a cancel may carry.
const MAX_REASON: usize = 1000;

fn illegal(e: CoreError) -> CoreError {
    e
}

/// SANs as stored (API spelling) back to names.
fn stored_sans(sans: &[String]) -> Result<Vec<San>> {
    sans.iter().map(|s| San::parse(s).map_err(|e| CoreError::Storage(format!("stored SAN '{s}': {e}")))).collect()
}

/// A job's work that must not commit: another node holds its lease now.
fn lease_lost() -> CoreError {
    CoreError::Conflict {
        code: "job.lease_lost",
        message: "another node took over this job; its work was not committed here".to_owned(),
    }
}

fn is_acme(authority: &Authority) -> bool {
    matches!(authority.connector, Some(crate::ca::Connector::Acme { .. }))
}

fn too_late(message: &str) -> CoreError {
    CoreError::Conflict { code: "cancel.too_late", message: message.to_owned() }
}

/// A profile that may still issue: not disabled (revoking its authority disables it).
fn usable(profile: &RaProfile) -> Result<()> {
    if profile.enabled {
        return Ok(());
    }
    Err(CoreError::Conflict {
        code: "ra_profile.disabled",
        message: format!("RA profile '{}' is disabled: it issues no certificates", profile.name),
    })
}

fn request_not_found(uuid: Uuid) -> CoreError {
    CoreError::not_found("certificate.not_found", "certificate", uuid)
}

/// The change of one request's state, with its event.
fn moved(request: &mut RequestRecord, action: Action, now: i64) -> Result<EventDraft> {
    let from = request.state;
    let to = transition(from, action).map_err(illegal)?;
    request.state = to;
    request.updated_at = now;
    Ok(EventDraft::success(event_action(action, to), "certificate", request.uuid).with_details(json!({
        "from": from.as_str(), "to": to.as_str(), "kind": request.kind.as_str(), "reason": request.reason,
    })))
}

fn event_action(action: Action, to: State) -> &'static str {
    match (action, to) {
        (Action::AskApproval, _) => "request.pending_approval",
        (Action::Submit, _) => "request.submit",
        (Action::Approve, _) => "request.approve",
        (Action::Reject, State::Rejected) => "request.reject",
        (Action::Reject, _) => "revocation.reject",
        (Action::Fail, _) => "request.fail",
        (Action::Cancel, State::Failed) => "request.cancel",
        (Action::Cancel, _) => "revocation.cancel",
        (Action::Finalize, _) => "certificate.finalize",
        (Action::RequestRevoke, _) => "certificate.request_revoke",
        (Action::ConfirmRevoke, _) => "certificate.confirm_revoke",
        (Action::Issue, _) => "certificate.issue",
        (Action::Revoke, _) => "certificate.revoke",
        (Action::ReleaseHold, _) => "certificate.release_hold",
    }
}

impl<S: Store> Services<S> {
    /// Requests a certificate: issued at once by an internal authority, or left waiting — for approval when the
    /// RA profile asks for it, for the authority when it is external.
    pub async fn submit(&self, ctx: &Ctx, req: IssueRequest) -> Result<Submitted> {
        match self.vet(ctx, req, false).await? {
            Vetted::Replayed(issued) => Ok(Submitted::Issued(issued)),
            Vetted::Waiting(request) => {
                let approval = self.store.approval_of(request.uuid).await?;
                Ok(Submitted::Pending(Box::new(PendingRequest { request: *request, approval })))
            }
            Vetted::Job(job) => {
                let approval = job.profile.as_ref().is_some_and(|p| p.policy.approval.issue);
                if job.authority.is_internal() && !approval {
                    return Ok(Submitted::Issued(Box::new(self.sign_and_record(ctx, job).await?)));
                }
                self.open_request(ctx, *job, RequestKind::Issue, None, false, true).await
            }
        }
    }

    /// Records a request in state `requested` without acting on it (see [`Services::submit_request`]).
    pub async fn create_request(&self, ctx: &Ctx, mut req: IssueRequest) -> Result<RequestRecord> {
        req.idempotency_key = None;
        match self.vet(ctx, req, false).await? {
            Vetted::Job(job) => match self.open_request(ctx, *job, RequestKind::Issue, None, false, false).await? {
                Submitted::Pending(p) => Ok(p.request),
                Submitted::Issued(_) => Err(CoreError::Storage("a created request was issued".to_owned())),
            },
            Vetted::Replayed(_) | Vetted::Waiting(_) => {
                Err(CoreError::Storage("a request without idempotency key replayed".to_owned()))
            }
        }
    }

    /// Moves a `requested` request on: to approval, to its external authority, or issued.
    pub async fn submit_request(&self, ctx: &Ctx, uuid: Uuid) -> Result<Submitted> {
        ctx.caller.require(Permission::IssueCertificates)?;
        let (mut tx, head) = self.begin().await?;
        let mut request = tx.request_for_update(uuid).await?.ok_or_else(|| request_not_found(uuid))?;
        if request.created_by != ctx.caller.principal && !ctx.caller.role.allows(Permission::ManageRequests) {
            return Err(request_not_found(uuid));
        }
        transition(request.state, Action::Submit).map_err(illegal)?;
        let (profile, authority) = self.profile_and_authority(request.ra_profile_id).await?;
        usable(&profile)?;
        self.advance(tx, head, ctx, &mut request, &profile, &authority, Vec::new()).await
    }

    /// Creates the request row for a vetted job and, with `submit`, moves it on at once.
    async fn open_request(
        &self,
        ctx: &Ctx,
        job: SignJob,
        kind: RequestKind,
        replaces: Option<&CertificateRecord>,
        replace_in_locations: bool,
        submit: bool,
    ) -> Result<Submitted> {
        let profile = match &job.profile {
            Some(p) => p.clone(),
            None => return Err(CoreError::Storage("a request without RA profile".to_owned())),
        };
        let now = self.clock.now();
        let (mut tx, head) = self.begin().await?;
        let key_id = match (&job.generated, replaces) {
            (Some(k), _) => Some(tx.insert_key(&self.seal_key(k, job.export)?).await?),
            (None, Some(old)) if kind == RequestKind::Renew => old.key_id,
            _ => job.key_id,
        };
        let mut request = RequestRecord {
            id: 0,
            uuid: Uuid::new_v4(),
            kind,
            state: State::Requested,
            ra_profile_id: profile.id,
            authority_id: job.authority.id,
            csr: job.csr_der.clone(),
            public_key: job.public_key.der().to_vec(),
            subject_der: names::name_der(&job.subject)?,
            subject: names::dn_string(&job.subject),
            common_name: names::first_common_name(&job.subject),
            sans: job.sans.iter().map(San::to_api).collect(),
            key_algorithm: job.key_name.clone(),
            key_id,
            validity_days: job.days,
            replaces_id: replaces.map(|r| r.id),
            replace_in_locations,
            certificate_id: None,
            external_ref: None,
            reason: None,
            idempotency_key: job.idempotency_key.clone(),
            created_by: ctx.caller.principal.clone(),
            created_at: now,
            updated_at: now,
        };
        request.id = tx.insert_request(&request).await?;
        let mut details = json!({
            "kind": kind.as_str(), "subject": request.subject, "sans": request.sans, "ra_profile": profile.name,
            "replaces": replaces.map(|r| r.uuid),
        });
        if let (Some(a), Some(map)) = (&job.attributes, details.as_object_mut()) {
            map.insert("attributes".to_owned(), a.clone());
        }
        let created = EventDraft::success("request.create", "certificate", request.uuid).with_details(details);
        if !submit {
            self.commit_with_events(tx, &head, ctx, vec![created]).await?;
            return Ok(Submitted::Pending(Box::new(PendingRequest { request, approval: None })));
        }
        self.advance(tx, head, ctx, &mut request, &profile, &job.authority, vec![created]).await
    }

    /// Moves a `requested` request on in `tx` and commits: to approval when the profile needs it, else to the
    /// authority (signed at once by an internal one).
    #[allow(clippy::too_many_arguments)]
    async fn advance(
        &self,
        mut tx: S::Tx,
        head: ChainHead,
        ctx: &Ctx,
        request: &mut RequestRecord,
        profile: &RaProfile,
        authority: &Authority,
        mut events: Vec<EventDraft>,
    ) -> Result<Submitted> {
        let now = self.clock.now();
        if profile.policy.approval.issue {
            events.push(moved(request, Action::AskApproval, now)?);
            tx.update_request(request).await?;
            let approval =
                self.open_approval(&mut tx, &request.created_by, ApprovalAction::Issue, request.uuid, profile).await?;
            self.commit_with_events(tx, &head, ctx, events).await?;
            return Ok(Submitted::Pending(Box::new(PendingRequest {
                request: request.clone(),
                approval: Some(approval),
            })));
        }
        if authority.is_internal() {
            events.push(moved(request, Action::Submit, now)?);
            let issued = self.issue_request_in(&mut tx, request, authority, &mut events).await?;
            self.commit_with_events(tx, &head, ctx, events).await?;
            return Ok(Submitted::Issued(Box::new(issued)));
        }
        events.push(moved(request, Action::Submit, now)?);
        tx.update_request(request).await?;
        self.queue_upstream(&mut tx, request, authority).await?;
        self.commit_with_events(tx, &head, ctx, events).await?;
        Ok(Submitted::Pending(Box::new(PendingRequest { request: request.clone(), approval: None })))
    }

    /// For an authority reached by protocol, queues the job that obtains the request's certificate.
    async fn queue_upstream(&self, tx: &mut S::Tx, request: &RequestRecord, authority: &Authority) -> Result<()> {
        if matches!(authority.connector, Some(crate::ca::Connector::Acme { .. })) {
            let job =
                NewJob::new(crate::jobs::kind::UPSTREAM_ISSUE, json!({ "request": request.uuid }), self.clock.now())
                    .dedupe(format!("upstream.issue:{}", request.uuid));
            tx.enqueue_job(&NewJob { max_attempts: 8, ..job }, self.clock.now()).await?;
            self.jobs_wake.notify_one();
        }
        Ok(())
    }

    /// Holds a job's lease for `seconds` more; fails when another node has taken it over.
    async fn extend_lease(&self, job: &crate::jobs::Job, owner: &str, seconds: i64) -> Result<()> {
        let mut tx = self.store.begin().await?;
        let held = tx.extend_lease(job.id, owner, self.clock.now() + seconds).await?;
        tx.commit().await?;
        if held {
            Ok(())
        } else {
            Err(lease_lost())
        }
    }

    /// For an authority reached by protocol, queues the job that revokes the certificate there.
    async fn queue_upstream_revoke(
        &self,
        tx: &mut S::Tx,
        record: &CertificateRecord,
        authority: &Authority,
    ) -> Result<()> {
        if matches!(authority.connector, Some(crate::ca::Connector::Acme { .. })) {
            let now = self.clock.now();
            let job = NewJob::new(crate::jobs::kind::UPSTREAM_REVOKE, json!({ "certificate": record.uuid }), now);
            tx.enqueue_job(&NewJob { max_attempts: 8, ..job }, now).await?;
            self.jobs_wake.notify_one();
        }
        Ok(())
    }

    /// Revokes a certificate at its upstream CA, for its job, then completes the pending revocation; the
    /// revocation and the job's end commit together.
    pub(crate) async fn upstream_revoke(&self, job: &crate::jobs::Job, owner: &str) -> Result<Option<JobEnd>> {
        let uuid = job.payload["certificate"].as_str().and_then(|s| Uuid::parse_str(s).ok()).ok_or_else(|| {
            CoreError::invalid("job.invalid_payload", "an upstream revocation job names no certificate")
        })?;
        let record = self.store.certificate(uuid).await?.ok_or_else(|| request_not_found(uuid))?;
        let Some(pending) = self.store.revocation_request(record.id).await? else {
            return Ok(Some(JobEnd::Succeeded(json!({ "skipped": format!("certificate is {}", record.state) }))));
        };
        let authority = self.authority_of(&record).await?;
        let Some(upstream) = self.settings.upstream.clone() else {
            return Ok(Some(JobEnd::Failed("no upstream CA client is configured on this server".to_owned())));
        };
        let account_id =
            authority.key_id.ok_or_else(|| CoreError::Storage("an ACME authority without account key".to_owned()))?;
        let account_key = self.unseal_key(account_id).await?.danger_pkcs8_der()?;
        let reason = crate::revocation::RevocationReason::parse(&pending.reason)
            .map_err(|_| CoreError::Storage(format!("stored revocation reason '{}'", pending.reason)))?;
        self.extend_lease(job, owner, UPSTREAM_LEASE).await?;
        if let Err(e) = upstream.revoke(&authority, &account_key, &record.der, reason.code()).await {
            return Ok(Some(if e.retryable {
                JobEnd::Retry { error: e.message, run_at: self.clock.now() + crate::jobs::backoff(job.attempts) }
            } else {
                JobEnd::Failed(format!("the upstream CA refused the revocation (the certificate stays pending_revoke; cancel or confirm it): {}", e.message))
            }));
        }
        let (mut tx, head) = self.begin().await?;
        let record = tx.certificate_for_update(uuid).await?.ok_or_else(|| request_not_found(uuid))?;
        transition(State::from_stored(&record.state)?, Action::ConfirmRevoke)?;
        let mut events = Vec::new();
        let revoked = self.confirm_revoke_in(&mut tx, record, &authority, &mut events).await?;
        let end = JobEnd::Succeeded(json!({ "revoked": revoked.certificate.uuid }));
        if !tx.finish_job(job.id, owner, &end, self.clock.now()).await? {
            return Err(lease_lost());
        }
        self.commit_with_events(tx, &head, &Ctx::system(), events).await?;
        Ok(None)
    }

    /// Obtains a pending request's certificate from its upstream CA, for its job: the certificate and the job's
    /// end commit together.
    pub(crate) async fn upstream_issue(&self, job: &crate::jobs::Job, owner: &str) -> Result<Option<JobEnd>> {
        let uuid = job.payload["request"]
            .as_str()
            .and_then(|s| Uuid::parse_str(s).ok())
            .ok_or_else(|| CoreError::invalid("job.invalid_payload", "an upstream job names no request"))?;
        let request = self.store.request(uuid).await?.ok_or_else(|| request_not_found(uuid))?;
        if request.state != State::PendingIssue {
            return Ok(Some(JobEnd::Succeeded(json!({ "skipped": format!("request is {}", request.state) }))));
        }
        let (profile, authority) = self.profile_and_authority(request.ra_profile_id).await?;
        let give_up = |reason: String| async move {
            self.fail_request(&Ctx::system(), uuid, reason.clone()).await?;
            Ok::<_, CoreError>(Some(JobEnd::Failed(reason)))
        };
        if let Err(e) = usable(&profile) {
            return give_up(e.to_string()).await;
        }
        let Some(upstream) = self.settings.upstream.clone() else {
            return give_up("no upstream CA client is configured on this server".to_owned()).await;
        };
        self.extend_lease(job, owner, UPSTREAM_LEASE).await?;
        let account_id =
            authority.key_id.ok_or_else(|| CoreError::Storage("an ACME authority without account key".to_owned()))?;
        let account_key = self.unseal_key(account_id).await?.danger_pkcs8_der()?;
        let sans = stored_sans(&request.sans)?;
        let mut names = sans.clone();
        if let Some(cn) = &request.common_name {
            if !names.iter().any(|n| matches!(n, San::Dns(d) if d == cn)) {
                names.insert(0, San::Dns(cn.clone()));
            }
        }
        let csr = match (&request.csr, request.key_id) {
            (Some(csr), _) => csr.clone(),
            (None, Some(key_id)) => {
                let key = self.unseal_key(key_id).await?;
                certwright_pki::details::build_csr(&key, &names::name_from_der(&request.subject_der)?, &names)?
            }
            (None, None) => {
                return give_up("the request has neither a CSR nor a key here to build one".to_owned()).await
            }
        };
        let order = crate::upstream::UpstreamOrder {
            authority: &authority,
            account_key: &account_key,
            csr: &csr,
            names: &names,
        };
        let chain = match upstream.issue(order).await {
            Ok(chain) => chain,
            Err(e) if e.retryable && job.attempts < job.max_attempts => {
                return Ok(Some(JobEnd::Retry {
                    error: e.message,
                    run_at: self.clock.now() + crate::jobs::backoff(job.attempts),
                }))
            }
            Err(e) => return give_up(format!("the upstream CA refused: {}", e.message)).await,
        };
        let leaf =
            chain.first().ok_or_else(|| CoreError::invalid("upstream.empty", "the upstream CA sent no certificate"))?;
        let leaf = Cert::from_der(leaf)?;
        if leaf.public_key()?.der() != request.public_key {
            return give_up("the upstream certificate does not carry the request's key".to_owned()).await;
        }
        let (mut tx, head) = self.begin().await?;
        let mut request = tx.request_for_update(uuid).await?.ok_or_else(|| request_not_found(uuid))?;
        if request.state != State::PendingIssue {
            // Cancelled while the CA worked: the certificate it issued must not stay valid unknown to us.
            drop(tx);
            let revoked = upstream.revoke(&authority, &account_key, leaf.der(), 5).await;
            return Ok(Some(JobEnd::Succeeded(json!({
                "cancelled": request.state.as_str(), "issued_serial": leaf.serial_hex(),
                "revoked_at_ca": revoked.is_ok(), "revoke_error": revoked.err().map(|e| e.message),
            }))));
        }
        let mut events = Vec::new();
        let issued = self
            .record_request_certificate(&mut tx, &mut request, &authority, &leaf, Action::Issue, &mut events)
            .await?;
        let end = JobEnd::Succeeded(json!({ "certificate": issued.record.uuid, "serial": issued.record.serial }));
        if !tx.finish_job(job.id, owner, &end, self.clock.now()).await? {
            return Err(lease_lost());
        }
        self.commit_with_events(tx, &head, &Ctx::system(), events).await?;
        Ok(None)
    }

    async fn open_approval(
        &self,
        tx: &mut S::Tx,
        requested_by: &str,
        action: ApprovalAction,
        object: Uuid,
        profile: &RaProfile,
    ) -> Result<Approval> {
        let now = self.clock.now();
        let rules = &profile.policy.approval;
        let mut approval = Approval {
            id: 0,
            uuid: Uuid::new_v4(),
            action,
            object_uuid: object,
            ra_profile_id: profile.id,
            required: rules.approvers.max(1),
            approver_role: rules.approver_role.clone(),
            status: ApprovalStatus::Pending,
            requested_by: requested_by.to_owned(),
            created_at: now,
            expires_at: now + i64::from(rules.expires_after_hours) * 3600,
            decided_at: None,
            votes: Vec::new(),
        };
        approval.id = tx.insert_approval(&approval).await?;
        Ok(approval)
    }

    /// Signs a `pending_issue` request with its internal authority and records the certificate in `tx` under the
    /// request's uuid (linked to the certificate it renews or rekeys).
    async fn issue_request_in(
        &self,
        tx: &mut S::Tx,
        request: &mut RequestRecord,
        authority: &Authority,
        events: &mut Vec<EventDraft>,
    ) -> Result<Issued> {
        let (profile, _) = self.profile_and_authority(request.ra_profile_id).await?;
        usable(&profile)?;
        let subject = names::name_from_der(&request.subject_der)?;
        let public_key = PublicKey::from_der(&request.public_key)?;
        let sans = stored_sans(&request.sans)?;
        let cert = self
            .sign_certificate(authority, &subject, &public_key, &sans, &profile.policy.ekus()?, request.validity_days)
            .await?;
        self.record_request_certificate(tx, request, authority, &cert, Action::Issue, events).await
    }

    /// Stores the certificate issued for `request` (by us or uploaded) in `tx`, moves the request to `issued` and
    /// links it to what it replaces.
    #[allow(clippy::too_many_arguments)]
    async fn record_request_certificate(
        &self,
        tx: &mut S::Tx,
        request: &mut RequestRecord,
        authority: &Authority,
        cert: &Cert,
        action: Action,
        events: &mut Vec<EventDraft>,
    ) -> Result<Issued> {
        let now = self.clock.now();
        let from = request.state;
        request.state = transition(from, action).map_err(illegal)?;
        request.updated_at = now;
        let mut record = record_of(cert, &request.key_algorithm, Origin::Request, &request.created_by, now)?;
        record.uuid = request.uuid;
        record.authority_id = Some(authority.id);
        record.ra_profile_id = Some(request.ra_profile_id);
        record.key_id = request.key_id;
        record.id = tx.insert_certificate(&record).await?;
        request.certificate_id = Some(record.id);
        tx.update_request(request).await?;
        if let (Some(previous), Some(kind)) = (request.replaces_id, LinkKind::of(request.kind)) {
            tx.insert_certificate_link(record.id, previous, kind).await?;
        }
        let name = match (action, request.kind) {
            (Action::Finalize, _) => "certificate.finalize",
            (_, RequestKind::Renew) => "certificate.renew",
            (_, RequestKind::Rekey) => "certificate.rekey",
            _ => "certificate.issue",
        };
        events.push(EventDraft::success(name, "certificate", record.uuid).with_details(json!({
            "from": from.as_str(), "to": "issued", "serial": record.serial, "subject": record.subject,
            "sans": record.sans, "authority": authority.uuid, "kind": request.kind.as_str(),
        })));
        let chain =
            if authority.certificate_der.is_empty() { Vec::new() } else { self.authority_chain(authority).await? };
        Ok(Issued { record, chain, private_key_pkcs8: None, replayed: false })
    }

    /// Refuses callers whose token is limited to other RA profiles.
    async fn check_scope(&self, ctx: &Ctx, profile_id: Option<i64>) -> Result<()> {
        let Some(id) = profile_id else { return Ok(()) };
        let name = self.snapshot().await?.profiles.iter().find(|p| p.id == id).map(|p| p.name.clone());
        match name {
            Some(name) if !ctx.caller.may_use_profile(&name) => Err(CoreError::Forbidden {
                role: ctx.caller.role.as_str().to_owned(),
                action: "act on certificates of this RA profile (the token is limited to other profiles)",
            }),
            _ => Ok(()),
        }
    }

    async fn profile_and_authority(&self, profile_id: i64) -> Result<(RaProfile, Authority)> {
        let snapshot = self.snapshot().await?;
        let profile = snapshot
            .profiles
            .iter()
            .find(|p| p.id == profile_id)
            .cloned()
            .ok_or_else(|| CoreError::Storage(format!("RA profile {profile_id} is missing")))?;
        let authority =
            snapshot.authorities.iter().find(|a| a.id == profile.authority_id).cloned().ok_or_else(|| {
                CoreError::Storage(format!("RA profile '{}' names a missing authority", profile.name))
            })?;
        Ok((profile, authority))
    }

    /// Registers an external authority: certificates of RA profiles on it are issued and revoked elsewhere
    /// (asynchronously). Its CA certificate, when given, is checked against the certificates uploaded for it.
    pub async fn create_external_authority(
        &self,
        ctx: &Ctx,
        name: &str,
        connector: crate::ca::Connector,
        ca_certificate: Option<&[u8]>,
    ) -> Result<Authority> {
        ctx.caller.require(Permission::ManageAuthorities)?;
        let name = crate::auth::validate_name("name", name)?;
        connector.validate()?;
        let ca = match ca_certificate {
            Some(bytes) => {
                let certs = super::import::read_bundle(bytes, "")
                    .map_err(|e| CoreError::invalid("authority.invalid_certificate", e.to_string()))?
                    .certs;
                let ca = certs.into_iter().next().ok_or_else(|| {
                    CoreError::invalid("authority.invalid_certificate", "no certificate in ca_certificate")
                })?;
                if ca.ca()?.is_none() {
                    return Err(CoreError::invalid(
                        "authority.invalid_certificate",
                        "ca_certificate is not a CA certificate (no basicConstraints cA)",
                    ));
                }
                Some(ca)
            }
            None => None,
        };
        let now = self.clock.now();
        let mut authority = Authority {
            id: 0,
            uuid: Uuid::new_v4(),
            name: name.clone(),
            kind: crate::ca::AuthorityKind::External,
            parent_id: None,
            key_id: None,
            certificate_der: ca.as_ref().map(|c| c.der().to_vec()).unwrap_or_default(),
            subject: ca.as_ref().map_or_else(|| format!("external:{name}"), |c| c.subject_string()),
            key_identifier: match &ca {
                Some(c) => certwright_pki::digest::hex(&c.key_identifier()?),
                None => String::new(),
            },
            not_before: ca.as_ref().map_or(now, |c| c.not_before()),
            not_after: ca.as_ref().map_or(i64::from(i32::MAX), |c| c.not_after()),
            created_at: now,
            crl_partitions: crate::ca::DEFAULT_CRL_PARTITIONS,
            connector: Some(connector),
        };
        let (mut tx, head) = self.begin().await?;
        if matches!(authority.connector, Some(crate::ca::Connector::Acme { .. })) {
            // The ACME account key, kept like every managed key.
            let key = PrivateKey::generate(certwright_pki::alg::KeyAlgorithm::Ecdsa(certwright_pki::alg::Curve::P256))?;
            authority.key_id = Some(tx.insert_key(&self.seal_key(&key, false)?).await?);
        }
        authority.id = tx.insert_authority(&authority).await?;
        let draft = EventDraft::success("authority.create", "authority", authority.uuid).with_details(json!({
            "name": authority.name, "kind": "external", "connector": authority.connector.as_ref().map(|c| c.as_str()),
        }));
        self.commit_with_event(tx, &head, ctx, draft).await?;
        self.invalidate_snapshot();
        Ok(authority)
    }

    /// The PKCS#10 request of a request, for the external CA: as the requester sent it, or signed here with the
    /// key generated for it.
    pub async fn request_csr(&self, ctx: &Ctx, uuid: Uuid) -> Result<Vec<u8>> {
        ctx.caller.require(Permission::ReadInventory)?;
        let request = self.store.request(uuid).await?.ok_or_else(|| request_not_found(uuid))?;
        if let Some(csr) = request.csr {
            return Ok(csr);
        }
        let key_id = request.key_id.ok_or_else(|| CoreError::Conflict {
            code: "request.no_csr",
            message: "this request carries no CSR and its key is not held here (a renewal of a certificate requested with a CSR): rekey with a CSR instead".to_owned(),
        })?;
        let key = self.unseal_key(key_id).await?;
        let sans = stored_sans(&request.sans)?;
        Ok(certwright_pki::details::build_csr(&key, &names::name_from_der(&request.subject_der)?, &sans)?)
    }

    /// Requests, newest first.
    pub async fn list_requests(
        &self,
        ctx: &Ctx,
        state: Option<State>,
        page: crate::page::Page,
    ) -> Result<crate::page::Listed<RequestRecord>> {
        ctx.caller.require(Permission::ReadInventory)?;
        self.store.list_requests(state, page).await
    }

    /// The uuid of a certificate by database id.
    pub async fn store_certificate_uuid(&self, id: i64) -> Result<Option<Uuid>> {
        Ok(self.store.certificate_by_id(id).await?.map(|c| c.uuid))
    }

    /// An approval.
    pub async fn approval(&self, ctx: &Ctx, uuid: Uuid) -> Result<Approval> {
        ctx.caller.require(Permission::ReadInventory)?;
        self.store.approval(uuid).await?.ok_or_else(|| CoreError::not_found("approval.not_found", "approval", uuid))
    }

    /// The latest approval of a request or certificate, if any.
    pub async fn approval_of(&self, ctx: &Ctx, object: Uuid) -> Result<Option<Approval>> {
        ctx.caller.require(Permission::ReadInventory)?;
        self.store.approval_of(object).await
    }

    /// Approvals, newest first.
    pub async fn list_approvals(
        &self,
        ctx: &Ctx,
        status: Option<ApprovalStatus>,
        page: crate::page::Page,
    ) -> Result<crate::page::Listed<Approval>> {
        ctx.caller.require(Permission::ReadInventory)?;
        self.store.list_approvals(status, page).await
    }

    /// The renewal links of a certificate, both ways.
    pub async fn certificate_links(
        &self,
        ctx: &Ctx,
        record: &CertificateRecord,
    ) -> Result<Vec<crate::lifecycle::CertificateLink>> {
        ctx.caller.require(Permission::ReadInventory)?;
        self.store.certificate_links(record.id).await
    }

    /// A request by uuid (the certificate issued for it has the same uuid).
    pub async fn request(&self, ctx: &Ctx, uuid: Uuid) -> Result<RequestRecord> {
        ctx.caller.require(Permission::ReadInventory)?;
        self.store.request(uuid).await?.ok_or_else(|| request_not_found(uuid))
    }

    /// Approves (`approve = true`) or rejects a pending approval. The requester may not decide on their own
    /// request; each approver decides once; enough approvals move the request on.
    pub async fn decide(&self, ctx: &Ctx, uuid: Uuid, approve: bool, comment: Option<String>) -> Result<Approval> {
        ctx.caller.require(Permission::ManageRequests)?;
        if comment.as_ref().is_some_and(|c| c.len() > MAX_REASON) {
            return Err(CoreError::invalid("approval.invalid_comment", "comment must be at most 1000 characters"));
        }
        let (mut tx, head) = self.begin().await?;
        let mut approval = tx
            .approval_for_update(uuid)
            .await?
            .ok_or_else(|| CoreError::not_found("approval.not_found", "approval", uuid))?;
        let now = self.clock.now();
        self.check_scope(ctx, Some(approval.ra_profile_id)).await?;
        if approval.status != ApprovalStatus::Pending {
            return Err(CoreError::Conflict {
                code: "approval.decided",
                message: format!("the approval is already {}", approval.status.as_str()),
            });
        }
        if approval.expires_at <= now {
            return Err(CoreError::Conflict {
                code: "approval.expired",
                message: "the approval has expired".to_owned(),
            });
        }
        let role_ok = match approval.approver_role.as_str() {
            "admin" => ctx.caller.role == Role::Admin,
            _ => matches!(ctx.caller.role, Role::Admin | Role::Operator),
        };
        if !role_ok {
            return Err(CoreError::Forbidden {
                role: ctx.caller.role.as_str().to_owned(),
                action: "decide on this approval",
            });
        }
        if approval.requested_by == ctx.caller.principal {
            return Err(CoreError::Forbidden {
                role: ctx.caller.role.as_str().to_owned(),
                action: "decide on an approval of their own request",
            });
        }
        let vote = Vote {
            principal: ctx.caller.principal.clone(),
            decision: if approve { "approve" } else { "reject" }.to_owned(),
            comment: comment.clone(),
            at: now,
        };
        tx.insert_vote(approval.id, &vote).await?;
        approval.votes.push(vote);
        let mut events = vec![EventDraft::success(
            if approve { "approval.approve" } else { "approval.reject" },
            "approval",
            approval.uuid,
        )
        .with_details(
            json!({ "object": approval.object_uuid, "action": approval.action.as_str(), "comment": comment }),
        )];
        let approvals = approval.votes.iter().filter(|v| v.decision == "approve").count();
        let decided = if !approve {
            Some(ApprovalStatus::Rejected)
        } else if approvals >= approval.required as usize {
            Some(ApprovalStatus::Approved)
        } else {
            None
        };
        if let Some(status) = decided {
            approval.status = status;
            approval.decided_at = Some(now);
            tx.set_approval_status(approval.id, status, now).await?;
            self.apply_decision(&mut tx, &approval, comment, &mut events).await?;
        }
        self.commit_with_events(tx, &head, ctx, events).await?;
        if approval.action == ApprovalAction::Revoke && approval.status == ApprovalStatus::Approved {
            self.notify_revocation_of(approval.object_uuid).await;
        }
        Ok(approval)
    }

    /// Carries out a decided approval on its request or certificate, in `tx`.
    pub(crate) async fn apply_decision(
        &self,
        tx: &mut S::Tx,
        approval: &Approval,
        reason: Option<String>,
        events: &mut Vec<EventDraft>,
    ) -> Result<()> {
        let now = self.clock.now();
        let approved = approval.status == ApprovalStatus::Approved;
        match approval.action {
            ApprovalAction::Issue => {
                let uuid = approval.object_uuid;
                let mut request = tx.request_for_update(uuid).await?.ok_or_else(|| request_not_found(uuid))?;
                if !approved {
                    request.reason = reason.or_else(|| Some(format!("approval {}", approval.status.as_str())));
                    events.push(moved(&mut request, Action::Reject, now)?);
                    tx.update_request(&request).await?;
                    return Ok(());
                }
                events.push(moved(&mut request, Action::Approve, now)?);
                let (profile, authority) = self.profile_and_authority(request.ra_profile_id).await?;
                usable(&profile)?;
                if authority.is_internal() {
                    self.issue_request_in(tx, &mut request, &authority, events).await?;
                } else {
                    tx.update_request(&request).await?;
                    self.queue_upstream(tx, &request, &authority).await?;
                }
            }
            ApprovalAction::Revoke => {
                let uuid = approval.object_uuid;
                let record = tx.certificate_for_update(uuid).await?.ok_or_else(|| request_not_found(uuid))?;
                let state = State::from_stored(&record.state)?;
                if !approved {
                    transition(state, Action::Reject)?;
                    tx.take_revocation_request(record.id).await?;
                    tx.set_certificate_state(record.id, State::Issued.as_str()).await?;
                    events.push(
                        EventDraft::success("revocation.reject", "certificate", record.uuid)
                            .with_details(json!({ "from": state.as_str(), "to": "issued", "reason": reason })),
                    );
                    return Ok(());
                }
                let authority = self.authority_of(&record).await?;
                if authority.is_internal() {
                    self.confirm_revoke_in(tx, record, &authority, events).await?;
                } else {
                    self.queue_upstream_revoke(tx, &record, &authority).await?;
                }
            }
        }
        Ok(())
    }

    /// Uploads the certificate an external authority issued for a `pending_issue` request. It must carry the
    /// request's public key and subject; otherwise nothing changes.
    pub async fn finalize(&self, ctx: &Ctx, uuid: Uuid, certificate: &[u8]) -> Result<Issued> {
        ctx.caller.require(Permission::ManageRequests)?;
        let bundle = super::import::read_bundle(certificate, "")
            .map_err(|e| CoreError::invalid("finalize.invalid_certificate", e.to_string()))?
            .certs;
        let (mut tx, head) = self.begin().await?;
        let Some(mut request) = tx.request_for_update(uuid).await? else {
            // A certificate issued without a request (internal authority, no approval) has nothing to finalize.
            let record = tx.certificate_for_update(uuid).await?.ok_or_else(|| request_not_found(uuid))?;
            transition(State::from_stored(&record.state)?, Action::Finalize)?;
            return Err(request_not_found(uuid));
        };
        transition(request.state, Action::Finalize)?;
        self.check_scope(ctx, Some(request.ra_profile_id)).await?;
        let (_, authority) = self.profile_and_authority(request.ra_profile_id).await?;
        if authority.is_internal() {
            return Err(CoreError::Conflict {
                code: "finalize.internal_authority",
                message: format!("'{}' is an internal authority: it signs requests itself", authority.name),
            });
        }
        // The leaf is the certificate for the request's key; anything else sent along is its chain.
        let leaf = bundle.iter().find(|c| c.public_key().map(|k| k.der() == request.public_key).unwrap_or(false));
        let Some(leaf) = leaf else {
            return Err(CoreError::invalid(
                "finalize.key_mismatch",
                "the certificate does not carry the public key of the request",
            ));
        };
        if names::name_der(leaf.subject())? != request.subject_der {
            return Err(CoreError::invalid(
                "finalize.subject_mismatch",
                format!(
                    "the certificate's subject '{}' is not the requested '{}'",
                    leaf.subject_string(),
                    request.subject
                ),
            ));
        }
        if !authority.certificate_der.is_empty() {
            let ca = Cert::from_der(&authority.certificate_der)?;
            leaf.verify_signed_by(&ca.public_key()?).map_err(|_| {
                CoreError::invalid(
                    "finalize.wrong_issuer",
                    format!("the certificate is not signed by the CA certificate of '{}'", authority.name),
                )
            })?;
        }
        let mut events = Vec::new();
        let issued = self
            .record_request_certificate(&mut tx, &mut request, &authority, leaf, Action::Finalize, &mut events)
            .await?;
        self.commit_with_events(tx, &head, ctx, events).await?;
        Ok(issued)
    }

    /// Aborts a pending operation: a `pending_issue` request fails, a `pending_revoke` certificate stays issued.
    pub async fn cancel(&self, ctx: &Ctx, uuid: Uuid, reason: Option<String>) -> Result<State> {
        ctx.caller.require(Permission::ManageRequests)?;
        if reason.as_ref().is_some_and(|r| r.chars().count() > MAX_REASON) {
            return Err(CoreError::invalid("cancel.invalid_reason", "reason must be at most 1000 characters"));
        }
        let (mut tx, head) = self.begin().await?;
        let now = self.clock.now();
        if let Some(record) = tx.certificate_for_update(uuid).await? {
            self.check_scope(ctx, record.ra_profile_id).await?;
            let state = State::from_stored(&record.state)?;
            let to = transition(state, Action::Cancel)?;
            let authority = self.authority_of(&record).await?;
            if is_acme(&authority) && tx.pending_approval_of(record.uuid).await?.is_none() {
                return Err(too_late("the revocation was handed to the ACME CA: it can no longer be aborted"));
            }
            tx.take_revocation_request(record.id).await?;
            if let Some(approval) = tx.pending_approval_of(record.uuid).await? {
                tx.set_approval_status(approval.id, ApprovalStatus::Rejected, now).await?;
            }
            tx.set_certificate_state(record.id, to.as_str()).await?;
            let draft = EventDraft::success("revocation.cancel", "certificate", record.uuid)
                .with_details(json!({ "from": state.as_str(), "to": to.as_str(), "reason": reason }));
            self.commit_with_events(tx, &head, ctx, vec![draft]).await?;
            return Ok(to);
        }
        let mut request = tx.request_for_update(uuid).await?.ok_or_else(|| request_not_found(uuid))?;
        self.check_scope(ctx, Some(request.ra_profile_id)).await?;
        if request.state == State::PendingIssue {
            let (_, authority) = self.profile_and_authority(request.ra_profile_id).await?;
            let job = self.store.job_by_dedupe_key(&format!("upstream.issue:{uuid}")).await?;
            if is_acme(&authority) && job.is_some_and(|j| j.state == crate::jobs::JobState::Running) {
                return Err(too_late("the ACME CA is working on this order: it can no longer be aborted"));
            }
        }
        request.reason = reason;
        let draft = moved(&mut request, Action::Cancel, now)?;
        tx.update_request(&request).await?;
        self.commit_with_events(tx, &head, ctx, vec![draft]).await?;
        Ok(request.state)
    }

    /// Marks a `pending_issue` request failed (the authority refused it, or obtaining it gave up).
    pub async fn fail_request(&self, ctx: &Ctx, request_id: Uuid, reason: String) -> Result<()> {
        ctx.caller.require(Permission::ManageRequests)?;
        let (mut tx, head) = self.begin().await?;
        let mut request = tx.request_for_update(request_id).await?.ok_or_else(|| request_not_found(request_id))?;
        request.reason = Some(reason);
        let draft = moved(&mut request, Action::Fail, self.clock.now())?;
        tx.update_request(&request).await?;
        self.commit_with_events(tx, &head, ctx, vec![draft]).await
    }

    /// Revokes a certificate, or — when its RA profile wants approval or its authority is external — records
    /// the revocation as pending (`pending_revoke`) until approved or confirmed.
    pub async fn request_revocation(&self, ctx: &Ctx, uuid: Uuid, req: &RevokeRequest) -> Result<RevokeOutcome> {
        self.request_revocation_with(ctx, uuid, req, None).await
    }

    /// [`Services::request_revocation`] with request attributes: checked against the RA profile's
    /// `revoke_attributes`, kept with a pending revocation, and written into the event of the revocation.
    pub async fn request_revocation_with(
        &self,
        ctx: &Ctx,
        uuid: Uuid,
        req: &RevokeRequest,
        attributes: Option<Vec<AttributeValue>>,
    ) -> Result<RevokeOutcome> {
        ctx.caller.require(Permission::RevokeCertificates)?;
        let record = self.store.certificate(uuid).await?.ok_or_else(|| request_not_found(uuid))?;
        let authority = self.authority_of(&record).await?;
        let profile = match record.ra_profile_id {
            Some(id) => self.snapshot().await?.profiles.iter().find(|p| p.id == id).cloned(),
            None => None,
        };
        let attributes = match (attributes, &profile) {
            (Some(values), Some(p)) => {
                let problems = crate::attributes::validate(&p.policy.revoke_attributes, &values);
                if !problems.is_empty() {
                    return Err(CoreError::invalid("attributes.invalid", problems.join(" ")));
                }
                AttributeValue::redacted(&values, &p.policy.revoke_attributes)
            }
            (Some(values), None) => values,
            (None, _) => Vec::new(),
        };
        let approval = profile.as_ref().is_some_and(|p| p.policy.approval.revoke);
        if authority.is_internal() && !approval {
            let revoked = self.revoke_noting(ctx, uuid, req, &attributes).await?;
            return Ok(RevokeOutcome::Revoked(Box::new(revoked)));
        }
        super::revocation::check_request(req, self.clock.now())?;
        let (mut tx, head) = self.begin().await?;
        let mut record = tx.certificate_for_update(uuid).await?.ok_or_else(|| request_not_found(uuid))?;
        let state = State::from_stored(&record.state)?;
        let to = transition(state, Action::RequestRevoke)?;
        let now = self.clock.now();
        tx.insert_revocation_request(&RevocationRequest {
            certificate_id: record.id,
            reason: req.reason.name().to_owned(),
            invalidity_date: req.invalidity_date,
            destroy_key: req.destroy_key,
            requested_by: ctx.caller.principal.clone(),
            requested_at: now,
            attributes: attributes.clone(),
        })
        .await?;
        tx.set_certificate_state(record.id, to.as_str()).await?;
        record.state = to.as_str().to_owned();
        let approval = match (&profile, approval) {
            (Some(p), true) => {
                Some(self.open_approval(&mut tx, &ctx.caller.principal, ApprovalAction::Revoke, record.uuid, p).await?)
            }
            _ => None,
        };
        if approval.is_none() {
            self.queue_upstream_revoke(&mut tx, &record, &authority).await?;
        }
        let draft = EventDraft::success("certificate.request_revoke", "certificate", record.uuid).with_details(json!({
            "from": state.as_str(), "to": to.as_str(), "reason": req.reason.name(),
            "destroy_key": req.destroy_key, "approval": approval.as_ref().map(|a| a.uuid),
            "attributes": attributes,
        }));
        self.commit_with_events(tx, &head, ctx, vec![draft]).await?;
        Ok(RevokeOutcome::Pending { certificate: Box::new(record), approval })
    }

    /// Completes a pending revocation with what was asked for it (reason, invalidity date, key destruction).
    pub async fn confirm_revoke(&self, ctx: &Ctx, uuid: Uuid) -> Result<RevokedCertificate> {
        ctx.caller.require(Permission::ManageRequests)?;
        let (mut tx, head) = self.begin().await?;
        let record = tx.certificate_for_update(uuid).await?.ok_or_else(|| request_not_found(uuid))?;
        transition(State::from_stored(&record.state)?, Action::ConfirmRevoke)?;
        self.check_scope(ctx, record.ra_profile_id).await?;
        if let Some(approval) = tx.pending_approval_of(record.uuid).await? {
            return Err(CoreError::Conflict {
                code: "revocation.awaiting_approval",
                message: format!("the revocation waits for approval {}", approval.uuid),
            });
        }
        let authority = self.authority_of(&record).await?;
        let mut events = Vec::new();
        let revoked = self.confirm_revoke_in(&mut tx, record, &authority, &mut events).await?;
        self.commit_with_events(tx, &head, ctx, events).await?;
        self.revocation_changed(authority.id, &revoked.certificate.serial);
        Ok(revoked)
    }

    async fn confirm_revoke_in(
        &self,
        tx: &mut S::Tx,
        record: CertificateRecord,
        authority: &Authority,
        events: &mut Vec<EventDraft>,
    ) -> Result<RevokedCertificate> {
        let pending = tx.take_revocation_request(record.id).await?.ok_or_else(|| CoreError::Conflict {
            code: crate::lifecycle::ILLEGAL_TRANSITION,
            message: "Certificate is not in PENDING_REVOKE state".to_owned(),
        })?;
        let reason = crate::revocation::RevocationReason::parse(&pending.reason)
            .map_err(|_| CoreError::Storage(format!("stored revocation reason '{}'", pending.reason)))?;
        let req = RevokeRequest { reason, invalidity_date: pending.invalidity_date, destroy_key: pending.destroy_key };
        let (revoked, mut draft) = self.revoke_in(tx, record, authority, &req).await?;
        draft.action = "certificate.confirm_revoke";
        if let Some(map) = draft.details.as_object_mut() {
            map.insert("attributes".to_owned(), json!(pending.attributes));
        }
        events.push(draft);
        Ok(revoked)
    }

    async fn notify_revocation_of(&self, uuid: Uuid) {
        if let Ok(Some(record)) = self.store.certificate(uuid).await {
            if let Some(a) = record.authority_id {
                self.revocation_changed(a, &record.serial);
            }
        }
    }

    pub(crate) async fn authority_of(&self, record: &CertificateRecord) -> Result<Authority> {
        let id = record.authority_id.ok_or_else(|| {
            CoreError::invalid(
                "revocation.foreign_issuer",
                "this certificate was not issued by an authority of this server; manage it at its issuer",
            )
        })?;
        self.snapshot()
            .await?
            .authorities
            .iter()
            .find(|a| a.id == id)
            .cloned()
            .ok_or_else(|| CoreError::not_found("authority.not_found", "authority", id))
    }

    /// Renews an issued certificate: the same key and names, under its RA profile's current policy.
    pub async fn renew(&self, ctx: &Ctx, uuid: Uuid, req: &RenewRequest) -> Result<Submitted> {
        let old = self.replaceable(ctx, uuid).await?;
        let cert = Cert::from_der(&old.der)?;
        let public_key = cert.public_key()?;
        if let Some(bytes) = &req.csr {
            let csr = certwright_pki::csr::Csr::parse(bytes)
                .or_else(|e| certwright_pki::crmf::parse(bytes).map(certwright_pki::csr::Csr::from).map_err(|_| e))
                .map_err(|e| CoreError::invalid("csr.invalid", e.to_string()))?;
            if csr.public_key.der() != public_key.der() {
                return Err(CoreError::invalid(
                    "renew.key_changed",
                    "the CSR carries another key: renew keeps the certificate's key; rekey for a new one",
                ));
            }
        }
        let job = self
            .replacement_job(ctx, &old, cert.subject().clone(), public_key, cert.sans()?, None, req.validity_days)
            .await?;
        self.replace(ctx, job, RequestKind::Renew, &old, req.replace_in_locations, None).await
    }

    /// Rekeys an issued certificate: a new key from `csr` (whose names are used) or generated here (the old
    /// names kept).
    pub async fn rekey(&self, ctx: &Ctx, uuid: Uuid, req: &RekeyRequest) -> Result<Submitted> {
        let old = self.replaceable(ctx, uuid).await?;
        let cert = Cert::from_der(&old.der)?;
        let mut csr_der = None;
        let mut key_id = None;
        if req.key.is_some() && (req.csr.is_some() || req.key_algorithm.is_some()) {
            return Err(CoreError::invalid("request.csr_and_fields", "send one of csr, key or key_algorithm"));
        }
        let (subject, public_key, sans, generated) = match (&req.csr, req.key) {
            (Some(bytes), _) => {
                if req.key_algorithm.is_some() {
                    return Err(CoreError::invalid("request.csr_and_fields", "send either a csr or key_algorithm"));
                }
                let csr = certwright_pki::csr::Csr::parse(bytes)
                    .or_else(|e| certwright_pki::crmf::parse(bytes).map(certwright_pki::csr::Csr::from).map_err(|_| e))
                    .map_err(|e| CoreError::invalid("csr.invalid", e.to_string()))?;
                if csr.public_key.der() == cert.public_key()?.der() {
                    return Err(CoreError::invalid(
                        "rekey.same_key",
                        "the CSR carries the old key; renew keeps the key, rekey needs a new one",
                    ));
                }
                if req.keep_subject
                    && !csr.subject.0.is_empty()
                    && names::name_der(&csr.subject)? != names::name_der(cert.subject())?
                {
                    return Err(CoreError::invalid(
                        "rekey.subject_changed",
                        format!(
                            "the CSR's subject '{}' is not the certificate's '{}': rekey keeps the subject",
                            csr.subject_string(),
                            cert.subject_string()
                        ),
                    ));
                }
                csr_der = Some(csr.der().to_vec());
                let sans = if csr.sans.is_empty() { cert.sans()? } else { csr.sans.clone() };
                let subject = if csr.subject.0.is_empty() { cert.subject().clone() } else { csr.subject.clone() };
                (subject, csr.public_key.clone(), sans, None)
            }
            (None, Some(key)) => {
                let (id, public) = self.certifiable_key(ctx, key).await?;
                if public.der() == cert.public_key()?.der() {
                    return Err(CoreError::invalid(
                        "rekey.same_key",
                        "the key is the certificate's own; renew keeps the key, rekey needs a new one",
                    ));
                }
                key_id = Some(id);
                (cert.subject().clone(), public, cert.sans()?, None)
            }
            (None, None) => {
                let alg = match &req.key_algorithm {
                    Some(a) => certwright_pki::alg::KeyAlgorithm::parse(a)
                        .map_err(|e| CoreError::invalid("request.invalid_key_algorithm", e.to_string()))?,
                    None => certwright_pki::alg::KeyAlgorithm::parse(&old.key_algorithm)
                        .map_err(|e| CoreError::invalid("request.invalid_key_algorithm", e.to_string()))?,
                };
                let key = PrivateKey::generate(alg)
                    .map_err(|e| CoreError::invalid("request.invalid_key_algorithm", e.to_string()))?;
                let public = key.public_key()?;
                (cert.subject().clone(), public, cert.sans()?, Some(key))
            }
        };
        let mut job = self.replacement_job(ctx, &old, subject, public_key, sans, generated, req.validity_days).await?;
        job.csr_der = csr_der;
        job.key_id = key_id;
        self.replace(ctx, job, RequestKind::Rekey, &old, req.replace_in_locations, None).await
    }

    /// An issued certificate of ours that may be renewed or rekeyed by the caller.
    async fn replaceable(&self, ctx: &Ctx, uuid: Uuid) -> Result<CertificateRecord> {
        ctx.caller.require(Permission::IssueCertificates)?;
        let old = self.store.certificate(uuid).await?.ok_or_else(|| request_not_found(uuid))?;
        if old.state != State::Issued.as_str() {
            return Err(CoreError::Conflict {
                code: crate::lifecycle::ILLEGAL_TRANSITION,
                message: format!(
                    "Certificate is in {} state; only an ISSUED certificate is renewed or rekeyed",
                    old.state.to_uppercase()
                ),
            });
        }
        if old.ra_profile_id.is_none() {
            return Err(CoreError::invalid(
                "renew.no_ra_profile",
                "this certificate was not issued through an RA profile of this server; request a new one instead",
            ));
        }
        Ok(old)
    }

    /// The signing job of a renewal or rekey, checked against the RA profile's current policy.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn replacement_job(
        &self,
        ctx: &Ctx,
        old: &CertificateRecord,
        subject: names::Name,
        public_key: PublicKey,
        sans: Vec<San>,
        generated: Option<PrivateKey>,
        validity_days: Option<u32>,
    ) -> Result<SignJob> {
        let profile_id = old.ra_profile_id.ok_or_else(|| CoreError::Storage("no RA profile".to_owned()))?;
        let (profile, authority) = self.profile_and_authority(profile_id).await?;
        if !ctx.caller.may_use_profile(&profile.name) {
            return Err(CoreError::Forbidden {
                role: ctx.caller.role.as_str().to_owned(),
                action: "use this RA profile (the token is limited to other profiles)",
            });
        }
        if !profile.enabled {
            return Err(CoreError::Conflict {
                code: "ra_profile.disabled",
                message: format!("RA profile '{}' is disabled: it issues no certificates", profile.name),
            });
        }
        let policy = &profile.policy;
        let key_name = policy.check_key(public_key.kind)?;
        policy.check_names(names::first_common_name(&subject).as_deref(), &sans)?;
        let days = policy.validity_days(validity_days)?;
        let export = generated.is_some() && policy.key_export;
        Ok(SignJob {
            authority,
            subject,
            public_key,
            key_name,
            sans,
            ekus: policy.ekus()?,
            days,
            origin: Origin::Request,
            ra_profile: Some((profile.id, profile.name.clone())),
            generated,
            export,
            idempotency_key: None,
            profile: Some(profile),
            csr_der: None,
            key_id: None,
            attributes: None,
        })
    }

    /// Issues the replacement at once (internal authority, no approval) — with the link to `old` and, for a
    /// job, the job's completion in the same transaction — or opens a request for it.
    pub(crate) async fn replace(
        &self,
        ctx: &Ctx,
        job: SignJob,
        kind: RequestKind,
        old: &CertificateRecord,
        replace_in_locations: bool,
        lease: Option<(i64, &str)>,
    ) -> Result<Submitted> {
        let approval = job.profile.as_ref().is_some_and(|p| p.policy.approval.issue);
        if !job.authority.is_internal() || approval {
            return self.open_request(ctx, job, kind, Some(old), replace_in_locations, true).await;
        }
        let cert = self
            .sign_certificate(&job.authority, &job.subject, &job.public_key, &job.sans, &job.ekus, job.days)
            .await?;
        let now = self.clock.now();
        let (mut tx, head) = self.begin().await?;
        // Renewals of one certificate queue here; the state and, for automatic renewals, the absence of a
        // successor are checked under the lock.
        let locked = tx.certificate_for_update(old.uuid).await?.ok_or_else(|| request_not_found(old.uuid))?;
        if locked.state != State::Issued.as_str() {
            return Err(CoreError::Conflict {
                code: crate::lifecycle::ILLEGAL_TRANSITION,
                message: format!(
                    "Certificate is in {} state; only an ISSUED certificate is renewed or rekeyed",
                    locked.state.to_uppercase()
                ),
            });
        }
        if lease.is_some() && tx.is_replaced(old.id).await? {
            return Err(CoreError::Conflict {
                code: "renew.already_renewed",
                message: "a later certificate already replaces it".to_owned(),
            });
        }
        let mut record = record_of(&cert, &job.key_name, Origin::Request, &ctx.caller.principal, now)?;
        record.authority_id = Some(job.authority.id);
        record.ra_profile_id = job.ra_profile.as_ref().map(|(id, _)| *id);
        record.key_id = match &job.generated {
            Some(k) => Some(tx.insert_key(&self.seal_key(k, job.export)?).await?),
            None if kind == RequestKind::Renew => old.key_id,
            None => job.key_id,
        };
        record.id = tx.insert_certificate(&record).await?;
        let link = LinkKind::of(kind).ok_or_else(|| CoreError::Storage("a replacement without link".to_owned()))?;
        tx.insert_certificate_link(record.id, old.id, link).await?;
        if let Some((job_id, owner)) = lease {
            let end = JobEnd::Succeeded(json!({ "certificate": record.uuid }));
            if !tx.finish_job(job_id, owner, &end, now).await? {
                return Err(lease_lost());
            }
        }
        let draft = EventDraft::success(
            if kind == RequestKind::Renew { "certificate.renew" } else { "certificate.rekey" },
            "certificate",
            record.uuid,
        )
        .with_details(json!({
            "serial": record.serial, "replaces": old.uuid, "subject": record.subject, "sans": record.sans,
            "replace_in_locations": replace_in_locations,
            "key": if job.generated.is_some() { "generated" } else if kind == RequestKind::Renew { "kept" } else if job.key_id.is_some() { "held" } else { "csr" },
        }));
        self.commit_with_events(tx, &head, ctx, vec![draft]).await?;
        let private_key_pkcs8 = match (&job.generated, job.export) {
            (Some(k), true) => Some(k.danger_pkcs8_der()?),
            _ => None,
        };
        let chain = self.authority_chain(&job.authority).await?;
        Ok(Submitted::Issued(Box::new(Issued { record, chain, private_key_pkcs8, replayed: false })))
    }

    /// Queues a job in its own transaction (no event: the job's own effects write theirs).
    pub(crate) async fn enqueue(&self, job: NewJob) -> Result<Option<i64>> {
        let mut tx = self.store.begin().await?;
        let id = tx.enqueue_job(&job, self.clock.now()).await?;
        tx.commit().await?;
        Ok(id)
    }
}
