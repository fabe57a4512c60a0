//! Renew (same key) and rekey (new key): a new certificate replacing an old one, linked to it.

use super::*;

impl<S: Store> Services<S> {
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
        let redeploy = if replace_in_locations {
            self.queue_redeployments(&mut tx, ctx, old.id, &record).await?
        } else {
            Vec::new()
        };
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
        let queued = !redeploy.is_empty();
        let mut drafts = vec![draft];
        drafts.extend(redeploy);
        self.commit_with_events(tx, &head, ctx, drafts).await?;
        if queued {
            self.jobs_wake.notify_one();
        }
        let private_key_pkcs8 = match (&job.generated, job.export) {
            (Some(k), true) => Some(k.danger_pkcs8_der()?),
            _ => None,
        };
        let chain = self.authority_chain(&job.authority).await?;
        Ok(Submitted::Issued(Box::new(Issued { record, chain, private_key_pkcs8, replayed: false })))
    }
}
