//! The ACME server's rules (RFC 8555 with RFC 8737, 8738, 9773 and the profiles draft): directories per RA
//! profile, nonces, accounts and their external account bindings, orders and authorizations, challenge
//! validation as jobs, finalization into the inventory, revocation and renewal information. The face verifies
//! JWS signatures and speaks JSON; everything it may or may not do is decided here.

mod accounts;
mod certificates;
mod orders;

pub use accounts::{EabBinding, NewAccount, NewEabKey};
pub use certificates::Revoker;
pub use orders::NewOrder;

use super::Services;
use crate::acme::AcmePolicy;
use crate::auth::{Caller, Ctx, Role};
use crate::ca::RaProfile;
use crate::store::{Store, StoreTx};
use crate::{CoreError, Result};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;

/// How long a nonce can be redeemed.
pub const NONCE_LIFETIME: i64 = 3600;
/// Bytes of a nonce's random part and of its MAC.
const NONCE_RANDOM: usize = 12;
const NONCE_MAC: usize = 16;

/// ACME error types (the part after `urn:ietf:params:acme:error:`), as [`CoreError::Invalid`] codes with an
/// `acme:` prefix: the face turns them into problem documents.
pub mod error {
    pub const ACCOUNT_DOES_NOT_EXIST: &str = "acme:accountDoesNotExist";
    pub const ALREADY_REPLACED: &str = "acme:alreadyReplaced";
    pub const ALREADY_REVOKED: &str = "acme:alreadyRevoked";
    pub const BAD_CSR: &str = "acme:badCSR";
    pub const BAD_NONCE: &str = "acme:badNonce";
    pub const BAD_PUBLIC_KEY: &str = "acme:badPublicKey";
    pub const BAD_REVOCATION_REASON: &str = "acme:badRevocationReason";
    pub const BAD_SIGNATURE_ALGORITHM: &str = "acme:badSignatureAlgorithm";
    pub const EXTERNAL_ACCOUNT_REQUIRED: &str = "acme:externalAccountRequired";
    pub const INVALID_CONTACT: &str = "acme:invalidContact";
    pub const INVALID_PROFILE: &str = "acme:invalidProfile";
    pub const MALFORMED: &str = "acme:malformed";
    pub const ORDER_NOT_READY: &str = "acme:orderNotReady";
    pub const REJECTED_IDENTIFIER: &str = "acme:rejectedIdentifier";
    pub const SERVER_INTERNAL: &str = "acme:serverInternal";
    pub const UNAUTHORIZED: &str = "acme:unauthorized";
    pub const UNSUPPORTED_CONTACT: &str = "acme:unsupportedContact";
    pub const UNSUPPORTED_IDENTIFIER: &str = "acme:unsupportedIdentifier";
    pub const USER_ACTION_REQUIRED: &str = "acme:userActionRequired";
}

/// An ACME error of the given type.
pub fn problem(code: &'static str, detail: impl Into<String>) -> CoreError {
    CoreError::Invalid { code, message: detail.into() }
}

/// What the ACME state of the services keeps in memory.
#[derive(Debug, Default)]
pub(crate) struct AcmeState {
    /// The nonce MAC key, shared by every node through the database.
    nonce_key: tokio::sync::OnceCell<Vec<u8>>,
    /// Nonces redeemed since the last purge of expired ones.
    redeemed: std::sync::atomic::AtomicU64,
    /// On a single node, nonces carry a counter instead of random bytes…
    issued: std::sync::atomic::AtomicU64,
    /// …and the counters redeemed are kept, at most [`MAX_USED`]; a counter below the floor is refused.
    used: std::sync::Mutex<(std::collections::BTreeSet<u64>, u64)>,
    /// On a single node, accounts as last read (every change to them goes through this node), and a generation
    /// bumped by each change so that a read racing a change is not cached.
    accounts: std::sync::Mutex<std::collections::HashMap<uuid::Uuid, crate::acme::Account>>,
    account_changes: std::sync::atomic::AtomicU64,
    /// On a single node, orders and authorizations as last stored.
    recent: std::sync::Arc<Recent>,
}

/// Entries [`Recent`] keeps of each kind; past that it starts over.
const RECENT_MAX: usize = 16_384;

/// On a single node, the orders and authorizations as this node last stored them, by uuid. Every change to them
/// goes through this node's writer, which records the new version here right after its commit and before the
/// next change runs, so an entry is never older than the database. A read that misses goes to the database; reads
/// inside a writing transaction always do.
#[derive(Debug, Default)]
pub(crate) struct Recent {
    authorizations: std::sync::Mutex<std::collections::HashMap<uuid::Uuid, crate::acme::Authorization>>,
    orders: std::sync::Mutex<std::collections::HashMap<uuid::Uuid, crate::acme::Order>>,
}

fn recall<T: Clone>(map: &std::sync::Mutex<std::collections::HashMap<uuid::Uuid, T>>, uuid: uuid::Uuid) -> Option<T> {
    map.lock().ok()?.get(&uuid).cloned()
}

fn keep<T: Clone>(map: &std::sync::Mutex<std::collections::HashMap<uuid::Uuid, T>>, uuid: uuid::Uuid, value: &T) {
    if let Ok(mut map) = map.lock() {
        if map.len() >= RECENT_MAX && !map.contains_key(&uuid) {
            map.clear();
        }
        map.insert(uuid, value.clone());
    }
}

impl Recent {
    pub(crate) fn authorization(&self, uuid: uuid::Uuid) -> Option<crate::acme::Authorization> {
        recall(&self.authorizations, uuid)
    }

    pub(crate) fn order(&self, uuid: uuid::Uuid) -> Option<crate::acme::Order> {
        recall(&self.orders, uuid)
    }

    /// Records an authorization as just committed.
    pub(crate) fn keep_authorization(&self, authorization: &crate::acme::Authorization) {
        keep(&self.authorizations, authorization.uuid, authorization);
    }

    /// Records an order as just committed.
    pub(crate) fn keep_order(&self, order: &crate::acme::Order) {
        keep(&self.orders, order.uuid, order);
    }
}

impl AcmeState {
    fn cached_account(&self, uuid: uuid::Uuid) -> Option<crate::acme::Account> {
        self.accounts.lock().ok()?.get(&uuid).cloned()
    }

    fn cache_account(&self, account: &crate::acme::Account, generation: u64) {
        if let Ok(mut cache) = self.accounts.lock() {
            if self.account_changes.load(std::sync::atomic::Ordering::SeqCst) == generation {
                if cache.len() >= 16_384 {
                    cache.clear();
                }
                cache.insert(account.uuid, account.clone());
            }
        }
    }

    /// Called after a change to an account committed.
    fn account_changed(&self, uuid: uuid::Uuid) {
        self.account_changes.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if let Ok(mut cache) = self.accounts.lock() {
            cache.remove(&uuid);
        }
    }
}

/// Redeemed nonces a single node remembers; past that, the oldest outstanding nonces stop being accepted
/// (clients retry a `badNonce` with a fresh one).
const MAX_USED: usize = 1 << 18;

impl<S: Store> Services<S> {
    /// The RA profile behind `/acme/{name}/…`, when its ACME directory is enabled.
    pub async fn acme_profile(&self, name: &str) -> Result<RaProfile> {
        let profile = self
            .snapshot()
            .await?
            .profiles
            .iter()
            .find(|p| p.name == name && p.policy.acme.enabled)
            .cloned()
            .ok_or_else(|| CoreError::not_found("acme.directory_not_found", "ACME directory", name))?;
        if !profile.enabled {
            return Err(problem(error::UNAUTHORIZED, format!("RA profile '{name}' is disabled: it issues nothing")));
        }
        Ok(profile)
    }

    /// The cache of orders and authorizations, on a single node (several nodes each change them).
    pub(crate) fn acme_recent(&self) -> Option<std::sync::Arc<Recent>> {
        (!self.settings.shared_store).then(|| self.acme.recent.clone())
    }

    /// An authorization as stored: from the cache when it holds it.
    pub(crate) async fn stored_authorization(&self, uuid: uuid::Uuid) -> Result<Option<crate::acme::Authorization>> {
        match self.acme_recent().and_then(|r| r.authorization(uuid)) {
            Some(cached) => Ok(Some(cached)),
            None => self.store.acme_authorization(uuid).await,
        }
    }

    /// An order as stored: from the cache when it holds it.
    pub(crate) async fn stored_order(&self, uuid: uuid::Uuid) -> Result<Option<crate::acme::Order>> {
        match self.acme_recent().and_then(|r| r.order(uuid)) {
            Some(cached) => Ok(Some(cached)),
            None => self.store.acme_order(uuid).await,
        }
    }

    /// The ACME settings of the profile.
    pub fn acme_policy(profile: &RaProfile) -> &AcmePolicy {
        &profile.policy.acme
    }

    async fn nonce_key(&self) -> Result<&[u8]> {
        let key = self
            .acme
            .nonce_key
            .get_or_try_init(|| async {
                // A single node keeps its own key: a restart forgets the used nonces, and the key with them.
                if !self.settings.shared_store {
                    return Ok(certwright_pki::random::bytes::<32>()?.to_vec());
                }
                const META: &str = "acme.nonce_key";
                if let Some(stored) = self.store.meta(META).await? {
                    return B64.decode(stored).map_err(|_| CoreError::Storage("bad stored ACME nonce key".into()));
                }
                let fresh = certwright_pki::random::bytes::<32>()?;
                let mut tx = self.store.begin().await?;
                tx.insert_meta(META, &B64.encode(fresh)).await?;
                tx.commit().await?;
                // Another node may have stored its key first: use whichever is stored.
                let stored = self.store.meta(META).await?.ok_or_else(|| CoreError::Storage("nonce key lost".into()))?;
                B64.decode(stored).map_err(|_| CoreError::Storage("bad stored ACME nonce key".into()))
            })
            .await?;
        Ok(key)
    }

    /// A fresh nonce: its expiry, a random part and a MAC over both, so any node can tell it is one of ours
    /// without storing it.
    pub async fn acme_new_nonce(&self) -> Result<String> {
        let key = self.nonce_key().await?;
        let expires = self.clock.now() + NONCE_LIFETIME;
        let mut raw = expires.to_be_bytes().to_vec();
        if self.settings.shared_store {
            raw.extend(certwright_pki::random::bytes::<NONCE_RANDOM>()?);
        } else {
            let n = self.acme.issued.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            raw.extend(n.to_be_bytes());
            raw.extend([0u8; NONCE_RANDOM - 8]);
        }
        let mac = certwright_pki::jose::hs256(key, &raw);
        raw.extend_from_slice(&mac[..NONCE_MAC]);
        Ok(B64.encode(raw))
    }

    /// Accepts a nonce once: it must be ours, unexpired and not redeemed before (by any node sharing the store).
    pub async fn acme_redeem_nonce(&self, nonce: &str) -> Result<()> {
        let bad = || problem(error::BAD_NONCE, "the nonce is unknown, expired or used; retry with a fresh one");
        let raw = B64.decode(nonce).map_err(|_| bad())?;
        if raw.len() != 8 + NONCE_RANDOM + NONCE_MAC {
            return Err(bad());
        }
        let (body, mac) = raw.split_at(8 + NONCE_RANDOM);
        let expected = certwright_pki::jose::hs256(self.nonce_key().await?, body);
        if !certwright_pki::jose::same_bytes(&expected[..NONCE_MAC], mac) {
            return Err(bad());
        }
        let mut expiry = [0u8; 8];
        expiry.copy_from_slice(&body[..8]);
        let expires = i64::from_be_bytes(expiry);
        let now = self.clock.now();
        if expires <= now {
            return Err(bad());
        }
        if !self.settings.shared_store {
            let mut counter = [0u8; 8];
            counter.copy_from_slice(&body[8..16]);
            let counter = u64::from_be_bytes(counter);
            let mut guard = self.acme.used.lock().map_err(|_| CoreError::Storage("nonce set poisoned".into()))?;
            let (used, floor) = &mut *guard;
            if counter < *floor || !used.insert(counter) {
                return Err(bad());
            }
            if used.len() > MAX_USED {
                if let Some(oldest) = used.pop_first() {
                    *floor = oldest + 1;
                }
            }
            return Ok(());
        }
        let mut tx = self.store.begin().await?;
        let fresh = tx.redeem_acme_nonce(nonce, expires).await?;
        // Now and then, forget nonces that can no longer be redeemed anyway.
        if self.acme.redeemed.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 1024 == 1023 {
            tx.purge_acme_nonces(now).await?;
        }
        tx.commit().await?;
        if fresh {
            Ok(())
        } else {
            Err(bad())
        }
    }
}

/// The context ACME accounts act in: their own principal, limited to their RA profile.
pub(crate) fn account_ctx(account: &crate::acme::Account, profile: &RaProfile) -> Ctx {
    acme_ctx(account.principal(), profile)
}

/// The context of an ACME requester named `principal` (an account, or the holder of a certificate's key), limited
/// to the directory's RA profile.
pub(crate) fn acme_ctx(principal: String, profile: &RaProfile) -> Ctx {
    Ctx {
        caller: Caller { principal, token: None, role: Role::Operator, ra_profiles: vec![profile.name.clone()] },
        request_id: None,
    }
}
