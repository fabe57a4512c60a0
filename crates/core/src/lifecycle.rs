//! The certificate lifecycle as one state machine. Every face moves certificates through [`transition`]: a
//! request before it is a certificate (`requested`, `pending_approval`, `pending_issue`, `rejected`, `failed`),
//! then the certificate itself (`issued`, `pending_revoke`, `revoked`).
//!
//! ```text
//!  requested ──► pending_approval ──► (approved) ──► pending_issue ──► issued ──► pending_revoke ──► revoked
//!      │               │ rejected                       │ failed / cancel ⇒ failed      ▲ cancel ⇒ issued
//!      └───────────────┴──────────────► rejected        └─► issued (finalize: upload the issued certificate)
//! ```

use crate::clock::EpochSeconds;
use crate::{CoreError, Result};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Where a certificate (or the request for one) stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Requested,
    PendingApproval,
    PendingIssue,
    Issued,
    Rejected,
    Failed,
    PendingRevoke,
    Revoked,
}

impl State {
    pub const ALL: [State; 8] = [
        State::Requested,
        State::PendingApproval,
        State::PendingIssue,
        State::Issued,
        State::Rejected,
        State::Failed,
        State::PendingRevoke,
        State::Revoked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Requested => "requested",
            State::PendingApproval => "pending_approval",
            State::PendingIssue => "pending_issue",
            State::Issued => "issued",
            State::Rejected => "rejected",
            State::Failed => "failed",
            State::PendingRevoke => "pending_revoke",
            State::Revoked => "revoked",
        }
    }

    pub fn parse(s: &str) -> Option<State> {
        State::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// Stored spelling back to a state; an unknown one is a storage fault.
    pub fn from_stored(s: &str) -> Result<State> {
        State::parse(s).ok_or_else(|| CoreError::Storage(format!("unknown lifecycle state '{s}'")))
    }

    /// Whether the object is a certificate (has been issued) rather than a request.
    pub fn is_certificate(self) -> bool {
        matches!(self, State::Issued | State::PendingRevoke | State::Revoked)
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a caller (or an authority, or a job) does to a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Hand a request over for approval.
    AskApproval,
    /// Hand a request to an asynchronous authority.
    Submit,
    /// Sign (internal authority) — from a request, or once an approved request is due.
    Issue,
    /// Enough approvers said yes.
    Approve,
    /// An approver said no (a revocation request goes back to `issued`).
    Reject,
    /// Upload the certificate an external authority issued.
    Finalize,
    /// The authority refused or the attempt gave up.
    Fail,
    /// Abort a pending operation.
    Cancel,
    /// Ask for a revocation that needs approval or an external authority.
    RequestRevoke,
    /// Revoke at once.
    Revoke,
    /// Complete a pending revocation.
    ConfirmRevoke,
    /// Lift a certificateHold.
    ReleaseHold,
}

impl Action {
    pub const ALL: [Action; 12] = [
        Action::AskApproval,
        Action::Submit,
        Action::Issue,
        Action::Approve,
        Action::Reject,
        Action::Finalize,
        Action::Fail,
        Action::Cancel,
        Action::RequestRevoke,
        Action::Revoke,
        Action::ConfirmRevoke,
        Action::ReleaseHold,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::AskApproval => "ask_approval",
            Action::Submit => "submit",
            Action::Issue => "issue",
            Action::Approve => "approve",
            Action::Reject => "reject",
            Action::Finalize => "finalize",
            Action::Fail => "fail",
            Action::Cancel => "cancel",
            Action::RequestRevoke => "request_revoke",
            Action::Revoke => "revoke",
            Action::ConfirmRevoke => "confirm_revoke",
            Action::ReleaseHold => "release_hold",
        }
    }
}

/// Every legal move: (from, action, to).
pub const TRANSITIONS: &[(State, Action, State)] = &[
    (State::Requested, Action::AskApproval, State::PendingApproval),
    (State::Requested, Action::Submit, State::PendingIssue),
    (State::Requested, Action::Issue, State::Issued),
    (State::Requested, Action::Reject, State::Rejected),
    (State::PendingApproval, Action::Approve, State::PendingIssue),
    (State::PendingApproval, Action::Reject, State::Rejected),
    (State::PendingIssue, Action::Issue, State::Issued),
    (State::PendingIssue, Action::Finalize, State::Issued),
    (State::PendingIssue, Action::Fail, State::Failed),
    (State::PendingIssue, Action::Cancel, State::Failed),
    (State::Issued, Action::RequestRevoke, State::PendingRevoke),
    (State::Issued, Action::Revoke, State::Revoked),
    (State::PendingRevoke, Action::ConfirmRevoke, State::Revoked),
    (State::PendingRevoke, Action::Cancel, State::Issued),
    (State::PendingRevoke, Action::Reject, State::Issued),
    (State::Revoked, Action::ReleaseHold, State::Issued),
];

/// The state `action` leads to from `from`, or the typed refusal every face maps to its own envelope
/// (`409 lifecycle.illegal_transition` natively; CZERTAINLY's `422 ["Certificate is not in PENDING_REVOKE state"]`).
pub fn transition(from: State, action: Action) -> Result<State> {
    if let Some((_, _, to)) = TRANSITIONS.iter().find(|(f, a, _)| *f == from && *a == action) {
        return Ok(*to);
    }
    let legal: Vec<State> = TRANSITIONS.iter().filter(|(_, a, _)| *a == action).map(|(f, _, _)| *f).collect();
    let message = match legal.as_slice() {
        [only] => format!("Certificate is not in {} state", only.as_str().to_uppercase()),
        many => format!(
            "Certificate is in {} state; {} needs one of {}",
            from.as_str().to_uppercase(),
            action.as_str(),
            many.iter().map(|s| s.as_str().to_uppercase()).collect::<Vec<_>>().join(", ")
        ),
    };
    Err(CoreError::Conflict { code: ILLEGAL_TRANSITION, message })
}

/// The code of a refused transition.
pub const ILLEGAL_TRANSITION: &str = "lifecycle.illegal_transition";

/// Why a request exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestKind {
    Issue,
    /// Same key, new certificate.
    Renew,
    /// New key, new certificate.
    Rekey,
}

impl RequestKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestKind::Issue => "issue",
            RequestKind::Renew => "renew",
            RequestKind::Rekey => "rekey",
        }
    }

    pub fn from_stored(s: &str) -> Result<Self> {
        match s {
            "issue" => Ok(RequestKind::Issue),
            "renew" => Ok(RequestKind::Renew),
            "rekey" => Ok(RequestKind::Rekey),
            other => Err(CoreError::Storage(format!("unknown request kind '{other}'"))),
        }
    }
}

/// A certificate request that is not (yet) a certificate. The certificate issued for it takes its uuid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    pub id: i64,
    pub uuid: Uuid,
    pub kind: RequestKind,
    pub state: State,
    pub ra_profile_id: i64,
    pub authority_id: i64,
    /// The PKCS#10 request as sent (DER), when there was one.
    pub csr: Option<Vec<u8>>,
    /// SubjectPublicKeyInfo DER the certificate must carry.
    pub public_key: Vec<u8>,
    /// Subject Name DER the certificate must carry.
    pub subject_der: Vec<u8>,
    pub subject: String,
    pub common_name: Option<String>,
    pub sans: Vec<String>,
    pub key_algorithm: String,
    /// A key generated here for the request.
    pub key_id: Option<i64>,
    pub validity_days: u32,
    /// The certificate this one renews or rekeys.
    pub replaces_id: Option<i64>,
    pub replace_in_locations: bool,
    pub certificate_id: Option<i64>,
    pub external_ref: Option<String>,
    pub reason: Option<String>,
    /// The caller's Idempotency-Key: a retry finds this request.
    pub idempotency_key: Option<String>,
    pub created_by: String,
    pub created_at: EpochSeconds,
    pub updated_at: EpochSeconds,
}

/// How one certificate relates to an earlier one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkKind {
    RenewedFrom,
    RekeyedFrom,
}

impl LinkKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkKind::RenewedFrom => "renewed_from",
            LinkKind::RekeyedFrom => "rekeyed_from",
        }
    }

    pub fn from_stored(s: &str) -> Result<Self> {
        match s {
            "renewed_from" => Ok(LinkKind::RenewedFrom),
            "rekeyed_from" => Ok(LinkKind::RekeyedFrom),
            other => Err(CoreError::Storage(format!("unknown certificate link '{other}'"))),
        }
    }

    pub fn of(kind: RequestKind) -> Option<LinkKind> {
        match kind {
            RequestKind::Issue => None,
            RequestKind::Renew => Some(LinkKind::RenewedFrom),
            RequestKind::Rekey => Some(LinkKind::RekeyedFrom),
        }
    }
}

/// A link between certificates (by uuid, for readers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertificateLink {
    pub kind: LinkKind,
    /// The newer certificate.
    pub certificate: Uuid,
    /// The certificate it renews or rekeys.
    pub previous: Uuid,
}

/// A revocation waiting for approval or for an external authority.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationRequest {
    pub certificate_id: i64,
    /// RFC 5280 reason name.
    pub reason: String,
    pub invalidity_date: Option<EpochSeconds>,
    pub destroy_key: bool,
    pub requested_by: String,
    pub requested_at: EpochSeconds,
    /// Request attributes sent with it (secrets redacted), recorded when it completes.
    pub attributes: Vec<crate::attributes::AttributeValue>,
}

/// What an approval decides on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalAction {
    Issue,
    Revoke,
}

impl ApprovalAction {
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalAction::Issue => "issue",
            ApprovalAction::Revoke => "revoke",
        }
    }

    pub fn from_stored(s: &str) -> Result<Self> {
        match s {
            "issue" => Ok(ApprovalAction::Issue),
            "revoke" => Ok(ApprovalAction::Revoke),
            other => Err(CoreError::Storage(format!("unknown approval action '{other}'"))),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalStatus {
    Pending,
    Approved,
    Rejected,
    Expired,
}

impl ApprovalStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalStatus::Pending => "pending",
            ApprovalStatus::Approved => "approved",
            ApprovalStatus::Rejected => "rejected",
            ApprovalStatus::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Approved, Self::Rejected, Self::Expired].into_iter().find(|v| v.as_str() == s)
    }

    pub fn from_stored(s: &str) -> Result<Self> {
        Self::parse(s).ok_or_else(|| CoreError::Storage(format!("unknown approval status '{s}'")))
    }
}

/// One approver's decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vote {
    pub principal: String,
    /// `approve` or `reject`.
    pub decision: String,
    pub comment: Option<String>,
    pub at: EpochSeconds,
}

/// A pending (or decided) decision on an issue or a revocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    pub id: i64,
    pub uuid: Uuid,
    pub action: ApprovalAction,
    /// The request (issue) or certificate (revoke) waiting for it.
    pub object_uuid: Uuid,
    pub ra_profile_id: i64,
    /// Approvals needed.
    pub required: u32,
    /// Lowest role that may approve (`operator` admits operators and admins).
    pub approver_role: String,
    pub status: ApprovalStatus,
    pub requested_by: String,
    pub created_at: EpochSeconds,
    pub expires_at: EpochSeconds,
    pub decided_at: Option<EpochSeconds>,
    pub votes: Vec<Vote>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pair_is_either_a_listed_move_or_the_typed_refusal() {
        for from in State::ALL {
            for action in Action::ALL {
                let listed = TRANSITIONS.iter().find(|(f, a, _)| *f == from && *a == action).map(|t| t.2);
                match (transition(from, action), listed) {
                    (Ok(to), Some(expected)) => assert_eq!(to, expected),
                    (Err(e), None) => {
                        assert_eq!(e.code(), ILLEGAL_TRANSITION, "{from:?} {action:?}");
                        assert!(e.to_string().starts_with("Certificate is"), "{e}");
                    }
                    (got, want) => panic!("{from:?} --{action:?}--> {got:?}, table says {want:?}"),
                }
            }
        }
    }

    #[test]
    fn refusals_name_the_state_needed() {
        let e = transition(State::Issued, Action::ConfirmRevoke).unwrap_err();
        assert_eq!(e.to_string(), "Certificate is not in PENDING_REVOKE state");
        let e = transition(State::Rejected, Action::Cancel).unwrap_err();
        assert!(e.to_string().contains("PENDING_ISSUE, PENDING_REVOKE"), "{e}");
    }

    #[test]
    fn terminal_states_have_no_way_out() {
        for from in [State::Rejected, State::Failed] {
            assert!(Action::ALL.iter().all(|a| transition(from, *a).is_err()));
        }
    }

    #[test]
    fn spellings_round_trip() {
        for s in State::ALL {
            assert_eq!(State::parse(s.as_str()), Some(s));
        }
        assert!(State::parse("PENDING").is_none());
    }
}
