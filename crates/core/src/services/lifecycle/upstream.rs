//! External authorities reached by protocol: creating them, and the jobs that obtain and revoke their
//! certificates.

use super::*;

impl<S: Store> Services<S> {
    /// For an authority reached by protocol, queues the job that obtains the request's certificate.
    pub(super) async fn queue_upstream(
        &self,
        tx: &mut S::Tx,
        request: &RequestRecord,
        authority: &Authority,
    ) -> Result<()> {
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
    pub(super) async fn queue_upstream_revoke(
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
                let certs = super::super::import::read_bundle(bytes, "")
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
}
