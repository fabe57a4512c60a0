//! The lifecycle services: requests that wait for approval or for an external authority, approvals, finalize,
//! cancel, pending revocations and their confirmation, renew and rekey. Every move goes through
//! [`crate::lifecycle::transition`] inside one transaction with one event per transition.

mod decisions;
mod renewal;
mod upstream;

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
            if request.replace_in_locations {
                events.extend(self.queue_redeployments(tx, &Ctx::system(), previous, &record).await?);
            }
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

    /// Queues a job in its own transaction (no event: the job's own effects write theirs).
    pub(crate) async fn enqueue(&self, job: NewJob) -> Result<Option<i64>> {
        let mut tx = self.store.begin().await?;
        let id = tx.enqueue_job(&job, self.clock.now()).await?;
        tx.commit().await?;
        Ok(id)
    }
}
