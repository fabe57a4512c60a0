//! Notification rules (which certificates, how many days before expiry, on which events, to whom) and the
//! `Notifier` port that delivers them by e-mail or signed webhook.

use crate::clock::EpochSeconds;
use crate::{CoreError, Result};
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::pin::Pin;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Email,
    Webhook,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Webhook => "webhook",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "email" => Some(Channel::Email),
            "webhook" => Some(Channel::Webhook),
            _ => None,
        }
    }

    pub fn from_stored(s: &str) -> Result<Self> {
        Self::parse(s).ok_or_else(|| CoreError::Storage(format!("unknown notification channel '{s}'")))
    }
}

/// A notification rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationRule {
    pub id: i64,
    pub uuid: Uuid,
    pub name: String,
    pub channel: Channel,
    /// E-mail addresses, or the one webhook URL.
    pub targets: Vec<String>,
    /// The webhook signing secret, sealed under the master key with the rule's uuid as context.
    pub secret_sealed: Option<Vec<u8>>,
    /// Days before expiry at which to notify, e.g. `[30, 7, 1]`.
    pub days_before: Vec<u32>,
    /// Audit actions that notify when they happen, e.g. `certificate.revoke`.
    pub events: Vec<String>,
    /// Only certificates of this RA profile; `None` for all.
    pub ra_profile_id: Option<i64>,
    pub enabled: bool,
    pub created_by: String,
    pub created_at: EpochSeconds,
}

/// Event actions a rule may subscribe to: the audit actions of lifecycle changes (issuing at once is the hot
/// path and is not among them).
pub const EVENTS: &[&str] = &[
    "certificate.renew",
    "certificate.rekey",
    "certificate.finalize",
    "certificate.request_revoke",
    "certificate.revoke",
    "certificate.confirm_revoke",
    "certificate.renew_failed",
    "request.pending_approval",
    "request.reject",
    "request.fail",
    "request.cancel",
    "revocation.cancel",
    "approval.expire",
];
/// A message ready to deliver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Event type, e.g. `certificate.expiring`.
    pub event: String,
    pub subject: String,
    pub text: String,
    /// The webhook body.
    pub data: serde_json::Value,
}

/// Why a delivery did not happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryError {
    /// Worth trying again later (timeouts, 5xx, 429).
    pub retryable: bool,
    pub message: String,
}

pub type Delivery<'a> = Pin<Box<dyn Future<Output = std::result::Result<(), DeliveryError>> + Send + 'a>>;

/// Delivers notifications. Implemented by `certwright-connectors`.
pub trait Notifier: Send + Sync + std::fmt::Debug {
    fn email<'a>(&'a self, to: &'a [String], message: &'a Message) -> Delivery<'a>;
    fn webhook<'a>(
        &'a self,
        url: &'a str,
        secret: &'a [u8],
        delivery_id: &'a str,
        message: &'a Message,
    ) -> Delivery<'a>;
}
