//! Background jobs: stored in the database, leased by one node at a time, retried with backoff. A job's
//! effect and its completion commit together where the effect is a database change, so a node that dies halfway
//! leaves the job to be leased again after its lease runs out, and the work is done once.

use crate::clock::EpochSeconds;
use crate::{CoreError, Result};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Queued,
    Running,
    Succeeded,
    Failed,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Queued, Self::Running, Self::Succeeded, Self::Failed].into_iter().find(|v| v.as_str() == s)
    }

    pub fn from_stored(s: &str) -> Result<Self> {
        Self::parse(s).ok_or_else(|| CoreError::Storage(format!("unknown job state '{s}'")))
    }
}

/// What a job does.
pub mod kind {
    /// Renew one certificate (payload `{"certificate_id"}`): auto-renewal.
    pub const RENEW: &str = "certificate.renew";
    /// Look for certificates entering renewal windows and notification thresholds, and expire approvals.
    pub const EXPIRY_SCAN: &str = "expiry.scan";
    /// Deliver one notification (payload: rule id and message).
    pub const NOTIFY: &str = "notification.deliver";
    /// Obtain a certificate from an upstream ACME CA for a pending request (payload `{"request"}`).
    pub const UPSTREAM_ISSUE: &str = "upstream.issue";
    /// Revoke a certificate at its upstream ACME CA, then complete the pending revocation (payload
    /// `{"certificate"}`).
    pub const UPSTREAM_REVOKE: &str = "upstream.revoke";
    /// Validate an ACME challenge (payload `{"authorization", "challenge", "account", "account_url",
    /// "ra_profile"}`).
    pub const ACME_VALIDATE: &str = "acme.validate";
    /// Run a discovery scan and record what it finds (payload `{"run"}`).
    pub const DISCOVERY_RUN: &str = "discovery.run";
    /// Install or remove a certificate at a location (payload `{"deployment"}`).
    pub const DEPLOY: &str = "deployment.run";
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: i64,
    pub uuid: Uuid,
    pub kind: String,
    pub payload: serde_json::Value,
    pub dedupe_key: Option<String>,
    pub state: JobState,
    pub attempts: u32,
    pub max_attempts: u32,
    pub run_at: EpochSeconds,
    pub leased_by: Option<String>,
    pub lease_until: Option<EpochSeconds>,
    pub last_error: Option<String>,
    pub result: Option<serde_json::Value>,
    pub created_at: EpochSeconds,
    pub updated_at: EpochSeconds,
    pub finished_at: Option<EpochSeconds>,
}

/// A job about to be queued.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub uuid: Uuid,
    pub kind: &'static str,
    pub payload: serde_json::Value,
    /// A second job with the same key is not queued.
    pub dedupe_key: Option<String>,
    pub max_attempts: u32,
    pub run_at: EpochSeconds,
    /// Queue it already leased to this owner until then, for a node that runs it at once (its first attempt);
    /// if that node dies, the lease runs out and any node takes it over.
    pub leased_to: Option<(String, EpochSeconds)>,
}

impl NewJob {
    pub fn new(kind: &'static str, payload: serde_json::Value, run_at: EpochSeconds) -> Self {
        Self { uuid: Uuid::new_v4(), kind, payload, dedupe_key: None, max_attempts: 5, run_at, leased_to: None }
    }

    pub fn dedupe(mut self, key: impl Into<String>) -> Self {
        self.dedupe_key = Some(key.into());
        self
    }
}

/// How a leased job ends: `Succeeded`/`Failed` are final, `Retry` queues it again at `run_at`.
#[derive(Debug, Clone, PartialEq)]
pub enum JobEnd {
    Succeeded(serde_json::Value),
    Retry { error: String, run_at: EpochSeconds },
    Failed(String),
}

/// Filters of the job list.
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    pub state: Option<JobState>,
    pub kind: Option<String>,
}

/// Seconds to wait before attempt `attempt + 1` (exponential from 10 s, at most an hour).
pub fn backoff(attempt: u32) -> i64 {
    (10_i64 << attempt.min(10)).min(3600)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_stops_at_an_hour() {
        assert_eq!(backoff(0), 10);
        assert_eq!(backoff(1), 20);
        assert_eq!(backoff(3), 80);
        assert_eq!(backoff(30), 3600);
    }
}
