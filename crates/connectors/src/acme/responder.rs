//! Challenge responders: how the client publishes the proof a CA checks (RFC 8555 §8). The client computes the key
//! authorization; a responder puts it where the CA looks and removes it afterwards. `Http01Tokens` is the
//! in-memory responder a web server serves at `/.well-known/acme-challenge/{token}`.

use super::Identifier;
use aws_lc_rs::digest;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};

/// A boxed, sendable future (responders are called through `&dyn ChallengeResponder`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A challenge type this client can answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ChallengeKind {
    /// `http-01`: the key authorization served at `http://<name>/.well-known/acme-challenge/<token>`.
    Http01,
    /// `dns-01`: a TXT record `_acme-challenge.<name>` holding [`dns01_txt_value`] of the key authorization.
    Dns01,
}

impl ChallengeKind {
    /// The challenge type as RFC 8555 spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            ChallengeKind::Http01 => "http-01",
            ChallengeKind::Dns01 => "dns-01",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "http-01" => Some(ChallengeKind::Http01),
            "dns-01" => Some(ChallengeKind::Dns01),
            _ => None,
        }
    }
}

/// The TXT record value for dns-01 (RFC 8555 §8.4): base64url(SHA-256(key authorization)).
pub fn dns01_txt_value(key_authorization: &str) -> String {
    B64.encode(digest::digest(&digest::SHA256, key_authorization.as_bytes()))
}

/// Publishes and withdraws challenge responses. Implementations must be idempotent: `present` may be called again
/// for the same token when an order is resumed.
pub trait ChallengeResponder: Send + Sync {
    /// The challenge types this responder answers, most preferred first.
    fn kinds(&self) -> Vec<ChallengeKind>;

    /// Makes `key_authorization` visible to the CA for `identifier` (for dns-01, publish
    /// [`dns01_txt_value`]`(key_authorization)`). The client tells the CA to validate only after this returns `Ok`.
    fn present<'a>(
        &'a self,
        kind: ChallengeKind,
        identifier: &'a Identifier,
        token: &'a str,
        key_authorization: &'a str,
    ) -> BoxFuture<'a, Result<(), String>>;

    /// Withdraws what `present` published. Failures are logged by the client, not returned.
    fn cleanup<'a>(
        &'a self,
        kind: ChallengeKind,
        identifier: &'a Identifier,
        token: &'a str,
        key_authorization: &'a str,
    ) -> BoxFuture<'a, Result<(), String>>;
}

/// The http-01 responder: a shared in-memory map from token to key authorization. Clone it (clones share the
/// map), hand one to [`super::AcmeClient::issue`] and let the web server answer
/// `GET /.well-known/acme-challenge/{token}` with [`Http01Tokens::key_authorization`] (`text/plain`, 404 when
/// `None`).
#[derive(Debug, Clone, Default)]
pub struct Http01Tokens {
    tokens: Arc<RwLock<HashMap<String, String>>>,
}

impl Http01Tokens {
    /// An empty token map.
    pub fn new() -> Self {
        Self::default()
    }

    /// The key authorization to serve for `token`, if a challenge for it is in progress.
    pub fn key_authorization(&self, token: &str) -> Option<String> {
        let map = self.tokens.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        map.get(token).cloned()
    }

    /// Number of tokens currently served.
    pub fn len(&self) -> usize {
        self.tokens.read().unwrap_or_else(|poisoned| poisoned.into_inner()).len()
    }

    /// Whether no token is served.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn insert(&self, token: &str, key_authorization: &str) {
        let mut map = self.tokens.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        map.insert(token.to_string(), key_authorization.to_string());
    }

    fn remove(&self, token: &str) {
        let mut map = self.tokens.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        map.remove(token);
    }
}

impl ChallengeResponder for Http01Tokens {
    fn kinds(&self) -> Vec<ChallengeKind> {
        vec![ChallengeKind::Http01]
    }

    fn present<'a>(
        &'a self,
        kind: ChallengeKind,
        _identifier: &'a Identifier,
        token: &'a str,
        key_authorization: &'a str,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            if kind != ChallengeKind::Http01 {
                return Err(format!("Http01Tokens cannot answer {}", kind.as_str()));
            }
            self.insert(token, key_authorization);
            Ok(())
        })
    }

    fn cleanup<'a>(
        &'a self,
        _kind: ChallengeKind,
        _identifier: &'a Identifier,
        token: &'a str,
        _key_authorization: &'a str,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            self.remove(token);
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns01_value_matches_rfc8555_example_shape() {
        // SHA-256 is 32 bytes: 43 base64url characters, no padding.
        let v =
            dns01_txt_value("evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI");
        assert_eq!(v.len(), 43);
        assert!(!v.contains('='));
    }

    #[tokio::test]
    async fn tokens_are_shared_between_clones_and_removed_on_cleanup() {
        let tokens = Http01Tokens::new();
        let served = tokens.clone();
        let id = Identifier::dns("a.example");
        tokens.present(ChallengeKind::Http01, &id, "t1", "t1.thumb").await.unwrap();
        assert_eq!(served.key_authorization("t1").as_deref(), Some("t1.thumb"));
        assert!(tokens.present(ChallengeKind::Dns01, &id, "t2", "x").await.is_err());
        tokens.cleanup(ChallengeKind::Http01, &id, "t1", "t1.thumb").await.unwrap();
        assert_eq!(served.key_authorization("t1"), None);
        assert!(served.is_empty());
    }
}
