//! ACME orders and authorizations (RFC 8555 §7.4, §7.5): newOrder with identifier policy, profiles and ARI
//! `replaces`, authorization reuse, challenge responses queued as validation jobs, and the validation job itself.

use super::{error, problem};
use crate::acme::{
    Account, Authorization, AuthorizationStatus, CertId, Challenge, ChallengeCheck, ChallengeStatus, ChallengeType,
    Identifier, Order, OrderStatus, Problem, Subproblem,
};
use crate::audit::EventDraft;
use crate::ca::RaProfile;
use crate::jobs::{kind, Job, JobEnd, NewJob};
use crate::services::writer::AfterCommit;
use crate::services::Services;
use crate::store::{Store, StoreTx};
use crate::{CoreError, Result};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use certwright_pki::names::San;
use serde_json::json;
use uuid::Uuid;

/// Identifiers one order may carry.
const MAX_IDENTIFIERS: usize = 100;
/// Validation attempts for errors that may pass (connection refused, DNS timeouts).
const VALIDATION_ATTEMPTS: u32 = 3;

/// A newOrder request.
#[derive(Debug, Clone, Default)]
pub struct NewOrder {
    pub identifiers: Vec<Identifier>,
    pub not_before: Option<String>,
    pub not_after: Option<String>,
    pub profile: Option<String>,
    /// An ARI certificate identifier (RFC 9773 §5).
    pub replaces: Option<String>,
}

/// What a challenge response's change gives back.
struct Responded {
    authorization: Authorization,
    /// The validation job queued, with its id.
    queued: Option<(i64, NewJob)>,
    /// Whether the authorization was stored anew.
    changed: bool,
}

/// The answer to a challenge response that changes nothing: the authorization is no longer pending (a status as
/// of `now` is shown) or the challenge was answered before. `None` when the challenge is to be validated; an error
/// for an authorization that can no longer be validated.
fn unchanged(
    authorization: &mut Authorization,
    index: usize,
    now: crate::clock::EpochSeconds,
) -> Result<Option<(Authorization, Challenge)>> {
    let status = authorization.status_at(now);
    let pending = authorization.challenges[index].status == ChallengeStatus::Pending;
    if status == AuthorizationStatus::Pending && pending {
        return Ok(None);
    }
    if status == AuthorizationStatus::Pending || status == AuthorizationStatus::Valid || !pending {
        authorization.status = status;
        return Ok(Some((authorization.clone(), authorization.challenges[index].clone())));
    }
    Err(problem(error::MALFORMED, format!("the authorization is {}", status.as_str())))
}

/// The account's authorization, locked for a change in `tx`; not found when it belongs to another account.
async fn account_authorization_for_update<T: StoreTx + ?Sized>(
    tx: &mut T,
    uuid: Uuid,
    account_id: i64,
) -> Result<Authorization> {
    tx.acme_authorization_for_update(uuid)
        .await?
        .filter(|a| a.account_id == account_id)
        .ok_or_else(|| CoreError::not_found("acme.authorization_not_found", "authorization", uuid))
}

/// Only a pending or valid authorization can be deactivated (RFC 8555 §7.5.2).
fn deactivatable(status: AuthorizationStatus) -> Result<()> {
    match status {
        AuthorizationStatus::Pending | AuthorizationStatus::Valid => Ok(()),
        other => {
            Err(problem(error::MALFORMED, format!("the authorization is {}: it cannot be deactivated", other.as_str())))
        }
    }
}

/// Lowercases DNS names and checks their shape; IP addresses pass as they are.
fn normalize(identifier: &Identifier) -> std::result::Result<Identifier, Problem> {
    match identifier {
        Identifier::Ip(ip) => Ok(Identifier::Ip(*ip)),
        Identifier::Dns(name) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            let base = name.strip_prefix("*.").unwrap_or(&name);
            let labels_ok = !base.is_empty()
                && base.len() <= 253
                && base.contains('.')
                && base.split('.').all(|l| {
                    !l.is_empty()
                        && l.len() <= 63
                        && !l.starts_with('-')
                        && !l.ends_with('-')
                        && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                });
            if !labels_ok {
                return Err(Problem::new("rejectedIdentifier", format!("'{name}' is not a valid DNS name")));
            }
            if base.parse::<std::net::IpAddr>().is_ok()
                || base.split('.').next_back().is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
            {
                return Err(Problem::new(
                    "rejectedIdentifier",
                    format!("'{name}' looks like an IP address: use an ip identifier"),
                ));
            }
            Ok(Identifier::Dns(name))
        }
    }
}

/// A random token of 32 bytes (RFC 8555 §8.1: at least 128 bits of entropy).
fn token() -> Result<String> {
    Ok(B64.encode(certwright_pki::random::bytes::<32>()?))
}

impl<S: Store> Services<S> {
    /// newOrder (RFC 8555 §7.4): every identifier checked against the RA profile's policy (one subproblem each),
    /// authorizations reused from this account where still valid, created otherwise.
    pub async fn acme_new_order(&self, profile: &RaProfile, account: &Account, req: NewOrder) -> Result<Order> {
        let policy = &profile.policy;
        if policy.approval.issue {
            return Err(problem(
                error::UNAUTHORIZED,
                format!("RA profile '{}' needs approval to issue, which an ACME order cannot wait for", profile.name),
            ));
        }
        if req.not_before.is_some() || req.not_after.is_some() {
            return Err(problem(error::MALFORMED, "this server does not accept notBefore or notAfter in orders"));
        }
        if req.identifiers.is_empty() || req.identifiers.len() > MAX_IDENTIFIERS {
            return Err(problem(error::MALFORMED, format!("an order needs 1 to {MAX_IDENTIFIERS} identifiers")));
        }
        let certificate_profile = match req.profile.as_deref().filter(|p| !p.is_empty()) {
            Some(name) if !policy.acme.profiles.contains_key(name) => {
                let known: Vec<&str> = policy.acme.profiles.keys().map(String::as_str).collect();
                return Err(problem(
                    error::INVALID_PROFILE,
                    format!("unknown profile '{name}'; this directory offers: {}", known.join(", ")),
                ));
            }
            Some(name) => Some(name.to_owned()),
            None => Some(policy.acme.default_profile.clone()).filter(|p| !p.is_empty()),
        };
        let mut identifiers = Vec::with_capacity(req.identifiers.len());
        let mut subproblems = Vec::new();
        for original in &req.identifiers {
            let checked = normalize(original).and_then(|id| {
                let san = San::parse(&id.san()).map_err(|e| Problem::new("rejectedIdentifier", e.to_string()))?;
                policy.check_names(None, &[san]).map_err(|e| Problem::new("rejectedIdentifier", e.to_string()))?;
                Ok(id)
            });
            match checked {
                Ok(id) if !identifiers.contains(&id) => identifiers.push(id),
                Ok(_) => {}
                Err(p) => subproblems.push(Subproblem { kind: p.kind, detail: p.detail, identifier: original.clone() }),
            }
        }
        if !subproblems.is_empty() {
            let detail = if subproblems.len() == 1 {
                subproblems[0].detail.clone()
            } else {
                format!("{} identifiers were refused (see subproblems)", subproblems.len())
            };
            return Err(CoreError::Invalid {
                code: error::REJECTED_IDENTIFIER,
                message: serde_json::to_string(&Problem { kind: "rejectedIdentifier".into(), detail, subproblems })
                    .unwrap_or_default(),
            });
        }
        identifiers.sort();
        let replaced = match &req.replaces {
            Some(cert_id) => Some(self.acme_replaceable(account, cert_id, &identifiers).await?),
            None => None,
        };

        let now = self.clock.now();
        let lifetime = i64::from(policy.acme.order_lifetime_hours.max(1)) * 3600;
        let offered: Vec<ChallengeType> =
            policy.acme.challenges.iter().filter_map(|c| ChallengeType::parse(c)).collect();
        // Valid authorizations to reuse (only those that outlive the new order), looked up before the write
        // transaction so that the database's writer is not held for reads.
        let mut reusable = Vec::with_capacity(identifiers.len());
        for identifier in &identifiers {
            let (name, wildcard) = identifier.authorization_name();
            reusable.push(self.store.acme_reusable_authorization(account.id, &name, wildcard, now + lifetime).await?);
        }
        let mut fresh = Vec::new();
        let mut authorizations = Vec::with_capacity(identifiers.len());
        let mut all_valid = true;
        for (identifier, reused) in identifiers.iter().zip(reusable) {
            if let Some(valid) = reused {
                authorizations.push(valid.uuid);
                continue;
            }
            let (name, wildcard) = identifier.authorization_name();
            all_valid = false;
            let kinds: Vec<ChallengeType> = offered
                .iter()
                .copied()
                .filter(|k| match k {
                    ChallengeType::Dns01 => matches!(name, Identifier::Dns(_)),
                    ChallengeType::Http01 | ChallengeType::TlsAlpn01 => !wildcard,
                })
                .collect();
            if kinds.is_empty() {
                return Err(problem(
                    error::REJECTED_IDENTIFIER,
                    format!("no challenge this directory offers can prove '{}'", identifier.value()),
                ));
            }
            let challenges = kinds
                .into_iter()
                .map(|kind| {
                    Ok(Challenge {
                        kind,
                        token: token()?,
                        status: ChallengeStatus::Pending,
                        validated: None,
                        error: None,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            let authorization = Authorization {
                id: 0,
                uuid: Uuid::new_v4(),
                account_id: account.id,
                identifier: name,
                wildcard,
                status: AuthorizationStatus::Pending,
                expires: now + lifetime,
                challenges,
                created_at: now,
                updated_at: now,
            };
            authorizations.push(authorization.uuid);
            fresh.push(authorization);
        }
        let order = Order {
            id: 0,
            uuid: Uuid::new_v4(),
            account_id: account.id,
            ra_profile_id: profile.id,
            status: if all_valid { OrderStatus::Ready } else { OrderStatus::Pending },
            identifiers,
            authorizations,
            not_before: None,
            not_after: None,
            profile: certificate_profile,
            replaces: replaced.as_ref().map(|_| req.replaces.clone().unwrap_or_default()),
            replaces_certificate_id: replaced,
            certificate_id: None,
            certificate_uuid: None,
            error: None,
            expires: now + lifetime,
            created_at: now,
            updated_at: now,
        };
        let draft = EventDraft::success("acme.order.create", "acme_order", order.uuid).with_details(json!({
            "account": account.uuid, "identifiers": order.identifiers, "profile": order.profile,
            "replaces": order.replaces,
        }));
        let ctx = super::account_ctx(account, profile);
        let recent = self.acme_recent();
        let after: Option<AfterCommit<(Order, Vec<Authorization>)>> = recent.map(|recent| {
            Box::new(move |(order, fresh): &(Order, Vec<Authorization>)| {
                fresh.iter().for_each(|a| recent.keep_authorization(a));
                recent.keep_order(order);
            }) as AfterCommit<_>
        });
        let ((order, _), events) = self
            .writes
            .write(
                ctx,
                move |tx| {
                    let (mut fresh, mut order, draft) = (fresh.clone(), order.clone(), draft.clone());
                    Box::pin(async move {
                        for authorization in &mut fresh {
                            authorization.id = tx.insert_acme_authorization(authorization).await?;
                        }
                        order.id = tx.insert_acme_order(&order).await?;
                        Ok(((order, fresh), vec![draft]))
                    })
                },
                after,
            )
            .await?;
        self.announce(&events).await;
        Ok(order)
    }

    /// The certificate an order's `replaces` names: issued to this account, sharing an identifier with the order
    /// (RFC 9773 §5) and not replaced by another order.
    async fn acme_replaceable(&self, account: &Account, cert_id: &str, identifiers: &[Identifier]) -> Result<i64> {
        let parsed = CertId::parse(cert_id)
            .ok_or_else(|| problem(error::MALFORMED, "replaces is not an ARI certificate identifier"))?;
        let record = self
            .certificate_by_cert_id(&parsed)
            .await?
            .ok_or_else(|| problem(error::MALFORMED, "replaces names no certificate this CA issued"))?;
        if record.created_by != account.principal() {
            return Err(problem(error::UNAUTHORIZED, "replaces names a certificate of another account"));
        }
        if !identifiers.iter().any(|i| record.sans.iter().any(|san| san.eq_ignore_ascii_case(&i.san()))) {
            return Err(problem(
                error::MALFORMED,
                "replaces names a certificate that shares no identifier with the order",
            ));
        }
        if let Some(other) = self.store.acme_order_replacing(record.id).await? {
            if other.status == OrderStatus::Valid {
                return Err(problem(error::ALREADY_REPLACED, "that certificate was replaced by another order already"));
            }
        }
        Ok(record.id)
    }

    /// The order's status now: pending orders become ready or invalid with their authorizations, and expire.
    async fn current_status(&self, order: &Order) -> Result<(OrderStatus, Option<Problem>)> {
        let now = self.clock.now();
        match order.status {
            OrderStatus::Pending | OrderStatus::Ready => {}
            other => return Ok((other, order.error.clone())),
        }
        if now >= order.expires {
            return Ok((OrderStatus::Invalid, Some(Problem::new("malformed", "the order expired"))));
        }
        let cached: Option<Vec<Authorization>> = self
            .acme_recent()
            .and_then(|recent| order.authorizations.iter().map(|uuid| recent.authorization(*uuid)).collect());
        let authorizations = match cached {
            Some(all) => all,
            None => self.store.acme_authorizations(&order.authorizations).await?,
        };
        if authorizations.len() != order.authorizations.len() {
            return Err(problem(error::SERVER_INTERNAL, "an authorization of this order is missing"));
        }
        let mut all_valid = true;
        for a in &authorizations {
            match a.status_at(now) {
                AuthorizationStatus::Valid => {}
                AuthorizationStatus::Pending => all_valid = false,
                other => {
                    let error = a.challenges.iter().find_map(|c| c.error.clone()).unwrap_or_else(|| {
                        Problem::new(
                            "unauthorized",
                            format!("the authorization for {} is {}", a.identifier.value(), other.as_str()),
                        )
                    });
                    return Ok((OrderStatus::Invalid, Some(error)));
                }
            }
        }
        Ok((if all_valid { OrderStatus::Ready } else { OrderStatus::Pending }, None))
    }

    /// An order of this account, with its status as of now.
    pub async fn acme_order(&self, account: &Account, uuid: Uuid) -> Result<Order> {
        let mut order = self
            .stored_order(uuid)
            .await?
            .filter(|o| o.account_id == account.id)
            .ok_or_else(|| CoreError::not_found("acme.order_not_found", "order", uuid))?;
        let (status, error) = self.current_status(&order).await?;
        order.status = status;
        order.error = error;
        Ok(order)
    }

    /// The account's orders, newest first: a page of uuids and the id to continue before.
    pub async fn acme_orders_of(&self, account: &Account, before: Option<i64>) -> Result<(Vec<Uuid>, Option<i64>)> {
        const PAGE: u32 = 100;
        let orders = self.store.acme_orders_of_account(account.id, before, PAGE + 1).await?;
        let more = orders.len() > PAGE as usize;
        let page: Vec<&Order> = orders.iter().take(PAGE as usize).collect();
        let next = if more { page.last().map(|o| o.id) } else { None };
        Ok((page.iter().map(|o| o.uuid).collect(), next))
    }

    /// An authorization of this account.
    pub async fn acme_authorization(&self, account: &Account, uuid: Uuid) -> Result<Authorization> {
        let mut authorization = self
            .stored_authorization(uuid)
            .await?
            .filter(|a| a.account_id == account.id)
            .ok_or_else(|| CoreError::not_found("acme.authorization_not_found", "authorization", uuid))?;
        authorization.status = authorization.status_at(self.clock.now());
        Ok(authorization)
    }

    /// Deactivates an authorization (RFC 8555 §7.5.2).
    pub async fn acme_deactivate_authorization(
        &self,
        profile: &RaProfile,
        account: &Account,
        uuid: Uuid,
    ) -> Result<Authorization> {
        // Refusals are answered before a change is queued (the change checks again).
        deactivatable(self.acme_authorization(account, uuid).await?.status)?;
        let (now, account_id) = (self.clock.now(), account.id);
        let after: Option<AfterCommit<Authorization>> = self
            .acme_recent()
            .map(|recent| Box::new(move |a: &Authorization| recent.keep_authorization(a)) as AfterCommit<_>);
        let (authorization, events) = self
            .writes
            .write(
                super::account_ctx(account, profile),
                move |tx| {
                    Box::pin(async move {
                        let mut authorization = account_authorization_for_update(tx, uuid, account_id).await?;
                        deactivatable(authorization.status_at(now))?;
                        authorization.status = AuthorizationStatus::Deactivated;
                        authorization.updated_at = now;
                        tx.update_acme_authorization(&authorization).await?;
                        let draft = EventDraft::success(
                            "acme.authorization.deactivate",
                            "acme_authorization",
                            authorization.uuid,
                        )
                        .with_details(json!({ "identifier": authorization.identifier }));
                        Ok((authorization, vec![draft]))
                    })
                },
                after,
            )
            .await?;
        self.announce(&events).await;
        Ok(authorization)
    }

    /// The client says a challenge is ready (RFC 8555 §7.5.1): it becomes `processing` and a validation job is
    /// queued with it. Answering again for a challenge already underway or done changes nothing. The answer waits
    /// a little for the validation (see [`Settings::acme_validation_wait`](crate::services::Settings)).
    pub async fn acme_respond_challenge(
        self: &std::sync::Arc<Self>,
        profile: &RaProfile,
        account: &Account,
        account_url: &str,
        uuid: Uuid,
        kind: ChallengeType,
    ) -> Result<(Authorization, Challenge)> {
        let now = self.clock.now();
        // Read first: a response for a challenge that is not pending (a retry, a stale client) is answered without
        // queueing a change.
        let mut current = self
            .stored_authorization(uuid)
            .await?
            .filter(|a| a.account_id == account.id)
            .ok_or_else(|| CoreError::not_found("acme.authorization_not_found", "authorization", uuid))?;
        let index = current.challenges.iter().position(|c| c.kind == kind).ok_or_else(|| {
            CoreError::not_found("acme.challenge_not_found", "challenge", format!("{uuid}/{}", kind.as_str()))
        })?;
        if let Some(answer) = unchanged(&mut current, index, now)? {
            return Ok(answer);
        }

        // Queued leased to this node, which runs it at once; should the node die, the lease runs out and any node
        // takes the job over.
        let until = now + self.settings.jobs.lease_seconds;
        let owner = self.lease_owner().to_owned();
        let account_id = account.id;
        let payload = json!({
            "authorization": uuid, "challenge": kind.as_str(), "account": account.uuid,
            "account_url": account_url, "ra_profile": profile.id,
        });
        // After the commit, from the writer: the validation starts even if this caller has gone away meanwhile.
        let (validated, validation_done) = tokio::sync::oneshot::channel::<()>();
        let (recent, services) = (self.acme_recent(), self.clone());
        let after: AfterCommit<Responded> = Box::new(move |responded: &Responded| {
            if let (Some(recent), true) = (&recent, responded.changed) {
                recent.keep_authorization(&responded.authorization);
            }
            if let Some((id, job)) = &responded.queued {
                let leased = Job {
                    id: *id,
                    uuid: job.uuid,
                    kind: job.kind.to_owned(),
                    payload: job.payload.clone(),
                    dedupe_key: None,
                    state: crate::jobs::JobState::Running,
                    attempts: 1,
                    max_attempts: job.max_attempts,
                    run_at: now,
                    leased_by: Some(services.lease_owner().to_owned()),
                    lease_until: Some(until),
                    last_error: None,
                    result: None,
                    created_at: now,
                    updated_at: now,
                    finished_at: None,
                };
                tokio::spawn(async move {
                    services.run_job(leased).await;
                    let _ = validated.send(());
                });
            }
        });
        // No audit event here (the validation's outcome has one).
        let ctx = super::account_ctx(account, profile);
        let (responded, _) = self
            .writes
            .write(
                ctx,
                move |tx| {
                    let (owner, payload) = (owner.clone(), payload.clone());
                    Box::pin(async move {
                        let mut authorization = account_authorization_for_update(tx, uuid, account_id).await?;
                        // Changed since it was read (another response won the race): answered as it stands.
                        if let Some((authorization, _)) = unchanged(&mut authorization, index, now)? {
                            return Ok((Responded { authorization, queued: None, changed: false }, Vec::new()));
                        }
                        authorization.challenges[index].status = ChallengeStatus::Processing;
                        authorization.updated_at = now;
                        tx.update_acme_authorization(&authorization).await?;
                        let job = NewJob {
                            max_attempts: VALIDATION_ATTEMPTS,
                            leased_to: Some((owner, until)),
                            ..NewJob::new(kind::ACME_VALIDATE, payload, now)
                        };
                        let queued = tx.enqueue_job(&job, now).await?.map(|id| (id, job));
                        Ok((Responded { authorization, queued, changed: true }, Vec::new()))
                    })
                },
                Some(after),
            )
            .await?;
        let Responded { authorization, queued, .. } = responded;
        // A validation that ends quickly (most do) is answered with its outcome: the client need not poll.
        let wait = self.settings.acme_validation_wait;
        if queued.is_some() && !wait.is_zero() && tokio::time::timeout(wait, validation_done).await.is_ok() {
            if let Ok(Some(mut settled)) = self.stored_authorization(uuid).await {
                settled.status = settled.status_at(self.clock.now());
                if let Some(challenge) = settled.challenges.get(index).filter(|c| c.kind == kind).cloned() {
                    return Ok((settled, challenge));
                }
            }
        }
        let challenge = authorization.challenges[index].clone();
        Ok((authorization, challenge))
    }

    /// The validation job: asks the validator, then records the outcome, its audit event and the job's end in one
    /// transaction. Errors that may pass are retried a few times before the challenge fails.
    pub(crate) async fn acme_validate(&self, job: &Job, owner: &str) -> Result<Option<JobEnd>> {
        let payload_uuid = |field: &str| {
            job.payload[field]
                .as_str()
                .and_then(|s| Uuid::parse_str(s).ok())
                .ok_or_else(|| CoreError::invalid("job.invalid_payload", format!("validation job without {field}")))
        };
        let (authz_uuid, account_uuid) = (payload_uuid("authorization")?, payload_uuid("account")?);
        let kind = job.payload["challenge"]
            .as_str()
            .and_then(ChallengeType::parse)
            .ok_or_else(|| CoreError::invalid("job.invalid_payload", "validation job without a challenge type"))?;
        let account_url = job.payload["account_url"].as_str().unwrap_or_default().to_owned();
        let Some(authorization) = self.stored_authorization(authz_uuid).await? else {
            return Ok(Some(JobEnd::Failed(format!("authorization {authz_uuid} no longer exists"))));
        };
        let Some(challenge) = authorization.challenges.iter().find(|c| c.kind == kind).cloned() else {
            return Ok(Some(JobEnd::Failed("the challenge no longer exists".to_owned())));
        };
        if challenge.status != ChallengeStatus::Processing {
            return Ok(Some(JobEnd::Succeeded(json!({ "skipped": challenge.status.as_str() }))));
        }
        let account = self.stored_account(account_uuid).await?;
        let profile =
            self.snapshot().await?.profiles.iter().find(|p| Some(p.id) == job.payload["ra_profile"].as_i64()).cloned();
        let (Some(account), Some(profile)) = (account, profile) else {
            return Ok(Some(JobEnd::Failed("the account or its RA profile no longer exists".to_owned())));
        };
        let check = ChallengeCheck {
            kind,
            identifier: authorization.identifier.clone(),
            wildcard: authorization.wildcard,
            token: challenge.token.clone(),
            key_authorization: format!("{}.{}", challenge.token, account.thumbprint),
            account_uri: account_url,
            caa_identities: profile.policy.acme.caa_identities.clone(),
        };
        let outcome = match &self.settings.acme_validator {
            Some(validator) => validator.validate(&check).await,
            None => Err(Problem::new("serverInternal", "this server has no challenge validator configured")),
        };
        let now = self.clock.now();
        if let Err(p) = &outcome {
            let transient = p.kind == "connection" || p.kind == "dns";
            if transient && job.attempts < job.max_attempts {
                tracing::info!(authorization = %authz_uuid, error = %p.detail, "validation failed; will retry");
                return Ok(Some(JobEnd::Retry { error: p.detail.clone(), run_at: now + 2 * i64::from(job.attempts) }));
            }
        }
        let lifetime = i64::from(profile.policy.acme.authorization_reuse_hours.max(1)) * 3600;
        let (job_id, owner) = (job.id, owner.to_owned());
        let ctx = super::account_ctx(&account, &profile);
        type Validated = (Option<JobEnd>, Option<Authorization>);
        let after: Option<AfterCommit<Validated>> = self.acme_recent().map(|recent| {
            Box::new(move |(_, changed): &Validated| {
                if let Some(authorization) = changed {
                    recent.keep_authorization(authorization);
                }
            }) as AfterCommit<_>
        });
        let ((end, _), events) = self
            .writes
            .write(
                ctx,
                move |tx| {
                    let (owner, outcome) = (owner.clone(), outcome.clone());
                    Box::pin(async move {
                        let Some(mut current) = tx.acme_authorization_for_update(authz_uuid).await? else {
                            return Ok((
                                (Some(JobEnd::Failed("the authorization vanished".to_owned())), None),
                                Vec::new(),
                            ));
                        };
                        // An authorization that expired meanwhile stays expired, whatever the outcome (RFC 8555 §7.1.6).
                        let pending = current.status_at(now) == AuthorizationStatus::Pending;
                        let Some(slot) = current.challenges.iter_mut().find(|c| c.kind == kind) else {
                            return Ok(((Some(JobEnd::Failed("the challenge vanished".to_owned())), None), Vec::new()));
                        };
                        if slot.status != ChallengeStatus::Processing {
                            let skipped = JobEnd::Succeeded(json!({ "skipped": slot.status.as_str() }));
                            return Ok(((Some(skipped), None), Vec::new()));
                        }
                        let (action, result) = match &outcome {
                            Ok(()) => {
                                slot.status = ChallengeStatus::Valid;
                                slot.validated = Some(now);
                                if pending {
                                    current.status = AuthorizationStatus::Valid;
                                    current.expires = now + lifetime;
                                }
                                ("acme.challenge.valid", json!({ "valid": true }))
                            }
                            Err(p) => {
                                slot.status = ChallengeStatus::Invalid;
                                slot.error = Some(p.clone());
                                if pending {
                                    current.status = AuthorizationStatus::Invalid;
                                }
                                ("acme.challenge.invalid", json!({ "valid": false, "error": p }))
                            }
                        };
                        current.updated_at = now;
                        tx.update_acme_authorization(&current).await?;
                        if !tx.finish_job(job_id, &owner, &JobEnd::Succeeded(result.clone()), now).await? {
                            return Err(CoreError::Conflict {
                                code: "job.lease_lost",
                                message: "another node runs this job".into(),
                            });
                        }
                        let mut draft = EventDraft::success(action, "acme_authorization", current.uuid).with_details(
                            json!({ "identifier": current.identifier, "challenge": kind.as_str(), "result": result }),
                        );
                        if outcome.is_err() {
                            draft.result = crate::audit::EventResult::Failure;
                        }
                        Ok(((None, Some(current)), vec![draft]))
                    })
                },
                after,
            )
            .await?;
        self.announce(&events).await;
        Ok(end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_identifiers_are_normalized_and_checked() {
        assert_eq!(
            normalize(&Identifier::Dns("WWW.Example.ORG.".into())).unwrap(),
            Identifier::Dns("www.example.org".into())
        );
        assert_eq!(
            normalize(&Identifier::Dns("*.example.org".into())).unwrap(),
            Identifier::Dns("*.example.org".into())
        );
        for bad in ["", "localhost", "a..b", "-a.example", "a_b.example", "*.*.example.org", "10.0.0.1", "x.123"] {
            assert!(normalize(&Identifier::Dns(bad.into())).is_err(), "{bad}");
        }
    }
}
