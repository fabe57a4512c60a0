//! Expiry monitoring: the scan that expires stale approvals, queues auto-renewals and notifications as
//! certificates cross their thresholds (each threshold once), the delivery of notifications, notification rules,
//! and the expiring and summary reports.

use super::Services;
use crate::audit::EventDraft;
use crate::auth::{Ctx, Permission};
use crate::ca::CertificateRecord;
use crate::jobs::{backoff, kind, Job, JobEnd, NewJob};
use crate::lifecycle::ApprovalStatus;
use crate::notify::{Channel, Message, NotificationRule, EVENTS};
use crate::store::{ExpiringQuery, InventorySummary, Store, StoreTx};
use crate::{CoreError, Result};
use serde_json::json;
use uuid::Uuid;

/// Certificates handled per scan step (the next scan picks up the rest).
const SCAN_LIMIT: u32 = 1000;
const DAY: i64 = 86_400;

/// The inventory summary with authority names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub counts: InventorySummary,
    /// `(authority name or "external", count)`.
    pub by_authority: Vec<(String, u64)>,
}

/// Certificates expiring within a horizon.
#[derive(Debug, Clone)]
pub struct ExpiringReport {
    pub within_days: u32,
    pub certificates: Vec<CertificateRecord>,
}

/// A notification rule as an administrator writes it.
#[derive(Debug, Clone, Default)]
pub struct NewRuleRequest {
    pub name: String,
    pub channel: String,
    pub targets: Vec<String>,
    /// The webhook signing secret; generated (and returned once) when absent.
    pub secret: Option<String>,
    pub days_before: Vec<u32>,
    pub events: Vec<String>,
    pub ra_profile: Option<String>,
}

impl<S: Store> Services<S> {
    /// One expiry scan: stale approvals expire (their requests are rejected, their revocations dropped),
    /// auto-renewals are queued for certificates inside their profile's renewal window, and notifications for
    /// certificates that crossed a rule's threshold since the last scan.
    pub async fn expiry_scan(&self) -> Result<serde_json::Value> {
        let expired = self.expire_approvals().await?;
        let renewals = self.queue_renewals().await?;
        let notifications = self.queue_expiry_notifications().await?;
        if renewals + notifications > 0 {
            self.jobs_wake.notify_one();
        }
        Ok(json!({ "approvals_expired": expired, "renewals_queued": renewals, "notifications_queued": notifications }))
    }

    async fn expire_approvals(&self) -> Result<usize> {
        let ctx = Ctx::system();
        let (mut tx, head) = self.begin().await?;
        let now = self.clock.now();
        let stale = tx.stale_approvals(now, SCAN_LIMIT).await?;
        if stale.is_empty() {
            return Ok(0);
        }
        let mut events = Vec::new();
        let mut expired = 0;
        for stale in &stale {
            // Decided meanwhile by someone else: nothing to expire.
            let Some(mut approval) = tx.approval_for_update(stale.uuid).await? else { continue };
            if approval.status != ApprovalStatus::Pending {
                continue;
            }
            expired += 1;
            approval.status = ApprovalStatus::Expired;
            approval.decided_at = Some(now);
            tx.set_approval_status(approval.id, ApprovalStatus::Expired, now).await?;
            events.push(
                EventDraft::success("approval.expire", "approval", approval.uuid)
                    .with_details(json!({ "object": approval.object_uuid, "action": approval.action.as_str() })),
            );
            self.apply_decision(&mut tx, &approval, Some("approval expired".to_owned()), &mut events).await?;
        }
        self.commit_with_events(tx, &head, &ctx, events).await?;
        Ok(expired)
    }

    async fn queue_renewals(&self) -> Result<usize> {
        let now = self.clock.now();
        let profiles = self.snapshot().await?.profiles.clone();
        let mut queued = 0;
        for profile in profiles.iter().filter(|p| p.enabled && p.policy.auto_renew) {
            let query = ExpiringQuery {
                from: now,
                to: now + i64::from(profile.policy.renewal_window_days) * DAY,
                ra_profile_id: Some(profile.id),
                unrenewed: true,
                unmarked: None,
                limit: SCAN_LIMIT,
            };
            let due = self.store.expiring_certificates(&query).await?;
            if due.is_empty() {
                continue;
            }
            let mut tx = self.store.begin().await?;
            for cert in &due {
                // One renewal job per certificate and day: a renewal that failed for good is tried again the next day.
                let job = NewJob::new(kind::RENEW, json!({ "certificate": cert.uuid }), now).dedupe(format!(
                    "renew:{}:{}",
                    cert.uuid,
                    now / DAY
                ));
                if tx.enqueue_job(&job, now).await?.is_some() {
                    queued += 1;
                }
            }
            tx.commit().await?;
        }
        Ok(queued)
    }

    async fn queue_expiry_notifications(&self) -> Result<usize> {
        let now = self.clock.now();
        let rules = self.store.notification_rules().await?;
        let mut queued = 0;
        for rule in rules.iter().filter(|r| r.enabled && !r.days_before.is_empty()) {
            let mut thresholds = rule.days_before.clone();
            thresholds.sort_unstable();
            thresholds.dedup();
            // Nearest threshold first: a certificate already past a nearer one is not told about a farther one.
            for days in thresholds {
                let query = ExpiringQuery {
                    from: now,
                    to: now + i64::from(days) * DAY,
                    ra_profile_id: rule.ra_profile_id,
                    // A certificate something already replaces is not worth a warning.
                    unrenewed: true,
                    unmarked: Some((rule.id, days)),
                    limit: SCAN_LIMIT,
                };
                let due = self.store.expiring_certificates(&query).await?;
                if due.is_empty() {
                    continue;
                }
                let mut tx = self.store.begin().await?;
                for cert in &due {
                    if !tx.mark_notified(rule.id, cert.id, days, now).await? {
                        continue;
                    }
                    let message = expiry_message(cert, days, now);
                    let job = NewJob::new(kind::NOTIFY, json!({ "rule": rule.uuid, "message": message }), now)
                        .dedupe(format!("notify:{}:{}:{days}", rule.uuid, cert.uuid));
                    if tx.enqueue_job(&job, now).await?.is_some() {
                        queued += 1;
                    }
                }
                tx.commit().await?;
            }
        }
        Ok(queued)
    }

    /// Queues notifications of an event for the rules that subscribe to it.
    pub(crate) async fn notify_event(&self, event: &str, object: Option<&str>, detail: &str) {
        let rules = match self.store.notification_rules().await {
            Ok(r) => r,
            Err(e) => return tracing::warn!(error = %e, "cannot read notification rules"),
        };
        let now = self.clock.now();
        let mut profile_of_object = None;
        for rule in rules.iter().filter(|r| r.enabled && r.events.iter().any(|e| e == event)) {
            if let Some(wanted) = rule.ra_profile_id {
                if profile_of_object.is_none() {
                    profile_of_object = Some(self.profile_of(object).await);
                }
                if profile_of_object != Some(Some(wanted)) {
                    continue;
                }
            }
            let message = Message {
                event: event.to_owned(),
                subject: format!("certwright: {event} {}", object.unwrap_or_default()),
                text: format!("{event}: {} — {detail}", object.unwrap_or_default()),
                data: json!({
                    "event": event, "object": object, "time": crate::clock::to_rfc3339(now),
                    "details": serde_json::from_str::<serde_json::Value>(detail).unwrap_or_else(|_| json!(detail)),
                }),
            };
            let job = NewJob::new(kind::NOTIFY, json!({ "rule": rule.uuid, "message": message }), now);
            if let Err(e) = self.enqueue(job).await {
                tracing::warn!(error = %e, "cannot queue a notification");
            }
        }
        self.jobs_wake.notify_one();
    }

    /// The RA profile of the certificate or request an event is about.
    async fn profile_of(&self, object: Option<&str>) -> Option<i64> {
        let uuid = object.and_then(|o| Uuid::parse_str(o).ok())?;
        if let Ok(Some(c)) = self.store.certificate(uuid).await {
            return c.ra_profile_id;
        }
        self.store.request(uuid).await.ok().flatten().map(|r| r.ra_profile_id)
    }

    /// Delivers one notification job through the configured notifier.
    pub(crate) async fn deliver_notification(&self, job: &Job) -> Result<JobEnd> {
        let rule_uuid = job.payload["rule"].as_str().and_then(|s| Uuid::parse_str(s).ok());
        let rules = self.store.notification_rules().await?;
        let Some(rule) = rules.iter().find(|r| Some(r.uuid) == rule_uuid) else {
            return Ok(JobEnd::Failed("the notification rule was deleted".to_owned()));
        };
        let message: Message = serde_json::from_value(job.payload["message"].clone())
            .map_err(|e| CoreError::invalid("job.invalid_payload", e.to_string()))?;
        let Some(notifier) = self.settings.notifier.clone() else {
            return Ok(JobEnd::Failed("no notifier is configured on this server".to_owned()));
        };
        let outcome = match rule.channel {
            Channel::Email => notifier.email(&rule.targets, &message).await,
            Channel::Webhook => {
                let sealed = rule.secret_sealed.as_deref().unwrap_or_default();
                let secret = self.vault.open(sealed, rule.uuid.as_bytes())?;
                let url = rule.targets.first().map(String::as_str).unwrap_or_default();
                notifier.webhook(url, &secret, &job.uuid.to_string(), &message).await
            }
        };
        Ok(match outcome {
            Ok(()) => JobEnd::Succeeded(json!({ "delivered": rule.channel.as_str(), "event": message.event })),
            Err(e) if e.retryable => {
                JobEnd::Retry { error: e.message, run_at: self.clock.now() + backoff(job.attempts) }
            }
            Err(e) => JobEnd::Failed(e.message),
        })
    }

    /// Creates a notification rule. Returns it with the webhook secret when one was generated.
    pub async fn create_notification_rule(
        &self,
        ctx: &Ctx,
        req: NewRuleRequest,
    ) -> Result<(NotificationRule, Option<String>)> {
        ctx.caller.require(Permission::ManageAuthorities)?;
        let invalid = |m: String| CoreError::invalid("notification_rule.invalid", m);
        let name = req.name.trim().to_owned();
        if name.is_empty() || name.len() > 100 {
            return Err(invalid("name must be 1 to 100 characters".to_owned()));
        }
        let channel = Channel::parse(&req.channel)
            .ok_or_else(|| invalid(format!("channel must be email or webhook, got '{}'", req.channel)))?;
        match channel {
            Channel::Email => {
                if req.targets.is_empty() || req.targets.len() > 50 {
                    return Err(invalid("an email rule needs 1 to 50 addresses in targets".to_owned()));
                }
                if let Some(bad) = req.targets.iter().find(|t| !valid_address(t)) {
                    return Err(invalid(format!("'{bad}' is not an e-mail address")));
                }
                if req.secret.is_some() {
                    return Err(invalid("secret belongs to webhook rules".to_owned()));
                }
            }
            Channel::Webhook => {
                let [url] = req.targets.as_slice() else {
                    return Err(invalid("a webhook rule needs exactly one URL in targets".to_owned()));
                };
                if !(url.starts_with("https://") || url.starts_with("http://")) || url.len() > 2000 || url.contains(',')
                {
                    return Err(invalid(format!("'{url}' is not an http(s) URL")));
                }
            }
        }
        if req.days_before.is_empty() && req.events.is_empty() {
            return Err(invalid("give days_before, events, or both: otherwise the rule never fires".to_owned()));
        }
        if let Some(d) = req.days_before.iter().find(|d| **d == 0 || **d > 3650) {
            return Err(invalid(format!("days_before values must be between 1 and 3650, got {d}")));
        }
        if let Some(e) = req.events.iter().find(|e| !EVENTS.contains(&e.as_str())) {
            return Err(invalid(format!("unknown event '{e}'; known: {}", EVENTS.join(", "))));
        }
        let ra_profile_id = match &req.ra_profile {
            Some(p) => Some(self.find_ra_profile(p).await?.id),
            None => None,
        };
        let uuid = Uuid::new_v4();
        let (secret_sealed, generated) = match channel {
            Channel::Email => (None, None),
            Channel::Webhook => {
                let (secret, generated) = match req.secret {
                    Some(s) if s.len() < 16 || s.len() > 256 => {
                        return Err(invalid("secret must be 16 to 256 characters".to_owned()))
                    }
                    Some(s) => (s, None),
                    None => {
                        let s = certwright_pki::digest::hex(&certwright_pki::random::bytes::<32>()?);
                        (s.clone(), Some(s))
                    }
                };
                (Some(self.vault.seal(secret.as_bytes(), uuid.as_bytes())?), generated)
            }
        };
        let mut rule = NotificationRule {
            id: 0,
            uuid,
            name,
            channel,
            targets: req.targets,
            secret_sealed,
            days_before: req.days_before,
            events: req.events,
            ra_profile_id,
            enabled: true,
            created_by: ctx.caller.principal.clone(),
            created_at: self.clock.now(),
        };
        let (mut tx, head) = self.begin().await?;
        rule.id = tx.insert_notification_rule(&rule).await?;
        let draft = EventDraft::success("notification_rule.create", "notification_rule", rule.uuid).with_details(json!({
            "name": rule.name, "channel": rule.channel.as_str(), "days_before": rule.days_before, "events": rule.events,
        }));
        self.commit_with_event(tx, &head, ctx, draft).await?;
        Ok((rule, generated))
    }

    pub async fn list_notification_rules(&self, ctx: &Ctx) -> Result<Vec<NotificationRule>> {
        ctx.caller.require(Permission::ManageRequests)?;
        self.store.notification_rules().await
    }

    pub async fn delete_notification_rule(&self, ctx: &Ctx, uuid: Uuid) -> Result<()> {
        ctx.caller.require(Permission::ManageAuthorities)?;
        let (mut tx, head) = self.begin().await?;
        if !tx.delete_notification_rule(uuid).await? {
            return Err(CoreError::not_found("notification_rule.not_found", "notification rule", uuid));
        }
        let draft = EventDraft::success("notification_rule.delete", "notification_rule", uuid);
        self.commit_with_event(tx, &head, ctx, draft).await
    }

    /// Issued certificates expiring within `within_days`, soonest first.
    pub async fn expiring_report(&self, ctx: &Ctx, within_days: u32, limit: u32) -> Result<ExpiringReport> {
        ctx.caller.require(Permission::ReadInventory)?;
        if within_days == 0 || within_days > 3650 {
            return Err(CoreError::invalid("report.invalid_within", "within must be between 1 and 3650 days"));
        }
        let now = self.clock.now();
        let query = ExpiringQuery {
            from: now,
            to: now + i64::from(within_days) * DAY,
            limit: limit.clamp(1, 10_000),
            ..Default::default()
        };
        Ok(ExpiringReport { within_days, certificates: self.store.expiring_certificates(&query).await? })
    }

    /// Counts by state, validation status, authority, key algorithm and expiry bucket.
    pub async fn summary(&self, ctx: &Ctx) -> Result<Summary> {
        ctx.caller.require(Permission::ReadInventory)?;
        let counts = self.store.inventory_summary(self.clock.now(), crate::ca::DEFAULT_RENEWAL_WINDOW_DAYS).await?;
        let snapshot = self.snapshot().await?;
        let by_authority = counts
            .by_authority
            .iter()
            .map(|(id, n)| {
                let name = id
                    .and_then(|id| snapshot.authorities.iter().find(|a| a.id == id))
                    .map_or_else(|| "none".to_owned(), |a| a.name.clone());
                (name, *n)
            })
            .collect();
        Ok(Summary { counts, by_authority })
    }
}

fn valid_address(a: &str) -> bool {
    let Some((local, domain)) = a.rsplit_once('@') else { return false };
    !local.is_empty()
        && domain.contains('.')
        && a.len() <= 254
        && !a.chars().any(|c| c.is_whitespace() || c == ',' || c == '<' || c == '>')
}

fn expiry_message(cert: &CertificateRecord, days: u32, now: i64) -> Message {
    let name = cert.common_name.clone().unwrap_or_else(|| cert.subject.clone());
    let left = (cert.not_after - now).max(0) / DAY;
    let expires = crate::clock::to_rfc3339(cert.not_after);
    Message {
        event: "certificate.expiring".to_owned(),
        subject: format!("Certificate {name} expires in {left} day(s)"),
        text: format!(
            "The certificate {name} (serial {}, id {}) expires on {expires}, in {left} day(s).\n\
             This is the {days}-day notice.\n",
            cert.serial, cert.uuid
        ),
        data: json!({
            "event": "certificate.expiring", "certificate": cert.uuid, "common_name": cert.common_name,
            "serial": cert.serial, "not_after": expires, "days_left": left, "threshold_days": days,
        }),
    }
}
