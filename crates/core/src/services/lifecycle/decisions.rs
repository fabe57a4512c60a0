//! Decisions on waiting work: approvals, completing or cancelling requests for manual external CAs, failing
//! them, and revocations that wait for approval or for an external CA.

use super::*;

impl<S: Store> Services<S> {
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
        let bundle = super::super::import::read_bundle(certificate, "")
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
        super::super::revocation::check_request(req, self.clock.now())?;
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

    pub(super) async fn confirm_revoke_in(
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
}
