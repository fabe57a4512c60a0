//! The append-only, hash-chained audit log. Each event stores the hash of the previous event of its chain (one
//! chain per node, so nodes of a cluster never serialize on each other); a chain head row records the last
//! sequence number and hash, so deleting the newest rows is detected as well as editing or deleting older ones.

use crate::auth::Ctx;
use crate::clock::EpochSeconds;
use certwright_pki::digest::{hex, Sha256};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// `prev_hash` of the first event of every chain.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// How an audited operation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventResult {
    Success,
    Failure,
}

impl EventResult {
    pub fn as_str(self) -> &'static str {
        match self {
            EventResult::Success => "success",
            EventResult::Failure => "failure",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "success" => Some(EventResult::Success),
            "failure" => Some(EventResult::Failure),
            _ => None,
        }
    }
}

/// What happened, before it is placed on a chain.
#[derive(Debug, Clone)]
pub struct EventDraft {
    /// Dotted verb, e.g. `token.create`.
    pub action: &'static str,
    /// Kind of object acted on, e.g. `token`.
    pub object_type: &'static str,
    /// The object's uuid or name.
    pub object_id: Option<String>,
    pub result: EventResult,
    /// Extra facts as a JSON object; never secrets.
    pub details: serde_json::Value,
}

impl EventDraft {
    /// A successful action on an object.
    pub fn success(action: &'static str, object_type: &'static str, object_id: impl ToString) -> Self {
        Self {
            action,
            object_type,
            object_id: Some(object_id.to_string()),
            result: EventResult::Success,
            details: serde_json::Value::Object(Default::default()),
        }
    }

    /// Adds facts to the event.
    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }
}

/// The last event of a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHead {
    pub chain: String,
    pub seq: i64,
    pub hash: String,
}

impl ChainHead {
    /// The head of a chain with no events yet.
    pub fn empty(chain: &str) -> Self {
        Self { chain: chain.to_owned(), seq: 0, hash: GENESIS_HASH.to_owned() }
    }
}

/// One stored audit event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Database id; 0 until stored.
    pub id: i64,
    pub uuid: Uuid,
    pub chain: String,
    pub seq: i64,
    pub time: EpochSeconds,
    pub actor: String,
    pub actor_token: Option<Uuid>,
    pub action: String,
    pub object_type: String,
    pub object_id: Option<String>,
    pub result: EventResult,
    pub request_id: Option<String>,
    /// JSON object text, hashed exactly as stored.
    pub details: String,
    pub prev_hash: String,
    pub hash: String,
}

impl Event {
    /// Places `draft` after `head`, stamping who, when and the chain hashes.
    pub fn chained(head: &ChainHead, ctx: &Ctx, time: EpochSeconds, draft: EventDraft) -> Self {
        let mut event = Event {
            id: 0,
            uuid: Uuid::new_v4(),
            chain: head.chain.clone(),
            seq: head.seq + 1,
            time,
            actor: ctx.caller.principal.clone(),
            actor_token: ctx.caller.token,
            action: draft.action.to_owned(),
            object_type: draft.object_type.to_owned(),
            object_id: draft.object_id,
            result: draft.result,
            request_id: ctx.request_id.clone(),
            details: draft.details.to_string(),
            prev_hash: head.hash.clone(),
            hash: String::new(),
        };
        event.hash = event.compute_hash();
        event
    }

    /// The hash this event must carry: SHA-256 over every field but `id` and `hash`, length-prefixed.
    pub fn compute_hash(&self) -> String {
        let mut h = Sha256::default();
        h.field(b"certwright-event-v1");
        h.field(self.chain.as_bytes());
        h.field(&self.seq.to_be_bytes());
        h.field(self.uuid.as_bytes());
        h.field(&self.time.to_be_bytes());
        h.field(self.actor.as_bytes());
        h.field(self.actor_token.map(|u| u.to_string()).unwrap_or_default().as_bytes());
        h.field(self.action.as_bytes());
        h.field(self.object_type.as_bytes());
        h.field(self.object_id.as_deref().unwrap_or_default().as_bytes());
        h.field(self.result.as_str().as_bytes());
        h.field(self.request_id.as_deref().unwrap_or_default().as_bytes());
        h.field(self.details.as_bytes());
        h.field(self.prev_hash.as_bytes());
        hex(&h.finish())
    }

    /// The head of the chain once this event is appended.
    pub fn as_head(&self) -> ChainHead {
        ChainHead { chain: self.chain.clone(), seq: self.seq, hash: self.hash.clone() }
    }
}

/// Filters for listing events; every field narrows the result.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub object_type: Option<String>,
    pub object_id: Option<String>,
    pub result: Option<EventResult>,
    pub request_id: Option<String>,
    pub since: Option<EpochSeconds>,
    pub until: Option<EpochSeconds>,
}

/// A break in a chain found by verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub chain: String,
    /// Sequence number where the break was found.
    pub seq: i64,
    /// Database id of the offending row, when there is one.
    pub event_id: Option<i64>,
    pub reason: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.event_id {
            Some(id) => write!(f, "chain '{}' seq {} (event id {}): {}", self.chain, self.seq, id, self.reason),
            None => write!(f, "chain '{}' seq {}: {}", self.chain, self.seq, self.reason),
        }
    }
}

/// Walks one chain in sequence order, checking links and hashes. Feed events with [`ChainVerifier::push`], then
/// call [`ChainVerifier::finish`] with the stored head.
#[derive(Debug)]
pub struct ChainVerifier {
    expected: ChainHead,
    pub violations: Vec<Violation>,
    pub checked: u64,
}

impl ChainVerifier {
    pub fn new(chain: &str) -> Self {
        Self { expected: ChainHead::empty(chain), violations: Vec::new(), checked: 0 }
    }

    /// Checks the next event of the chain.
    pub fn push(&mut self, event: &Event) {
        self.checked += 1;
        let mut fail = |reason: String| {
            self.violations.push(Violation {
                chain: event.chain.clone(),
                seq: event.seq,
                event_id: Some(event.id),
                reason,
            })
        };
        if event.seq != self.expected.seq + 1 {
            fail(format!(
                "sequence jumps from {} to {}: events {}..{} were deleted",
                self.expected.seq,
                event.seq,
                self.expected.seq + 1,
                event.seq - 1
            ));
        } else if event.prev_hash != self.expected.hash {
            fail("prev_hash does not match the hash of the previous event".to_owned());
        }
        if event.compute_hash() != event.hash {
            fail("stored hash does not match the event's contents: the row was modified".to_owned());
        }
        self.expected = event.as_head();
    }

    /// Compares the last event seen with the stored chain head and returns all violations.
    pub fn finish(mut self, head: &ChainHead) -> Vec<Violation> {
        if head.seq != self.expected.seq || head.hash != self.expected.hash {
            self.violations.push(Violation {
                chain: head.chain.clone(),
                seq: head.seq,
                event_id: None,
                reason: format!(
                    "chain head records seq {} but the last event is seq {}: events were deleted or the head was altered",
                    head.seq, self.expected.seq
                ),
            });
        }
        self.violations
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: usize) -> (Vec<Event>, ChainHead) {
        let ctx = Ctx::system();
        let mut head = ChainHead::empty("node-a");
        let mut events = Vec::new();
        for i in 0..n {
            let mut e = Event::chained(&head, &ctx, 1000 + i as i64, EventDraft::success("token.create", "token", i));
            e.id = i as i64 + 1;
            head = e.as_head();
            events.push(e);
        }
        (events, head)
    }

    fn verify(events: &[Event], head: &ChainHead) -> Vec<Violation> {
        let mut v = ChainVerifier::new("node-a");
        events.iter().for_each(|e| v.push(e));
        v.finish(head)
    }

    #[test]
    fn intact_chain_verifies() {
        let (events, head) = chain(5);
        assert!(verify(&events, &head).is_empty());
    }

    #[test]
    fn modified_row_is_named() {
        let (mut events, head) = chain(5);
        events[2].actor = "mallory".into();
        let v = verify(&events, &head);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].event_id, Some(3));
    }

    #[test]
    fn deleted_middle_row_is_named() {
        let (mut events, head) = chain(5);
        events.remove(1);
        let v = verify(&events, &head);
        assert_eq!(v[0].seq, 3);
        assert!(v[0].reason.contains("2..2"), "{}", v[0].reason);
    }

    #[test]
    fn deleted_last_row_is_caught_by_head() {
        let (mut events, head) = chain(3);
        events.pop();
        let v = verify(&events, &head);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].event_id, None);
    }
}
