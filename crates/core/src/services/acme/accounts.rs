//! ACME accounts (RFC 8555 §7.3): creation with contact checks and external account binding, lookup by key or
//! URL, contact updates, deactivation and key rollover; and the administrators' EAB keys.

use super::{error, problem};
use crate::acme::{Account, AccountStatus, EabKey};
use crate::audit::EventDraft;
use crate::auth::{Ctx, Permission};
use crate::ca::RaProfile;
use crate::services::Services;
use crate::store::{Store, StoreTx};
use crate::{CoreError, Result};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use certwright_pki::jose::Jwk;
use serde_json::json;
use uuid::Uuid;

/// Contacts an account may list.
const MAX_CONTACTS: usize = 10;

/// The external account binding of a newAccount request (RFC 8555 §7.3.4), as the face read it from the inner
/// JWS: the MAC over `signing_input` is checked here, with the key the `kid` names.
#[derive(Debug, Clone)]
pub struct EabBinding {
    pub kid: String,
    pub alg: String,
    /// Whether the inner header's `url` is the newAccount URL.
    pub url_matches: bool,
    /// The inner payload: must be the account's JWK.
    pub payload_jwk: Jwk,
    pub signing_input: Vec<u8>,
    pub mac: Vec<u8>,
}

/// A newAccount request.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub jwk: Jwk,
    pub contact: Vec<String>,
    pub terms_of_service_agreed: bool,
    pub only_return_existing: bool,
    pub external_account_binding: Option<EabBinding>,
}

/// What an administrator asks for when creating an EAB key.
#[derive(Debug, Clone, Default)]
pub struct NewEabKey {
    pub ra_profile: String,
    /// The person or team accounts bound with this key belong to.
    pub owner: Option<String>,
    pub comment: Option<String>,
}

/// RFC 8555 §7.3: `mailto:` URLs of one address, without header fields.
fn check_contacts(contact: &[String]) -> Result<()> {
    if contact.len() > MAX_CONTACTS {
        return Err(problem(error::INVALID_CONTACT, format!("at most {MAX_CONTACTS} contacts are accepted")));
    }
    for c in contact {
        let Some(address) = c.strip_prefix("mailto:") else {
            return Err(problem(error::UNSUPPORTED_CONTACT, format!("contact '{c}': only mailto: URLs are supported")));
        };
        let valid = address.len() <= 254
            && !address.contains(['?', ',', ' ', '<', '>'])
            && !address.chars().any(char::is_control)
            && address.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.')
            });
        if !valid {
            return Err(problem(error::INVALID_CONTACT, format!("contact '{c}' is not a single e-mail address")));
        }
    }
    Ok(())
}

impl<S: Store> Services<S> {
    /// newAccount: the account of this key (created unless `only_return_existing`) and whether it is new.
    pub async fn acme_new_account(&self, profile: &RaProfile, req: NewAccount) -> Result<(Account, bool)> {
        let thumbprint = req.jwk.thumbprint();
        if let Some(existing) = self.store.acme_account_by_key(profile.id, &thumbprint).await? {
            if existing.status != AccountStatus::Valid {
                return Err(problem(error::UNAUTHORIZED, format!("the account is {}", existing.status.as_str())));
            }
            return Ok((existing, false));
        }
        if req.only_return_existing {
            return Err(problem(error::ACCOUNT_DOES_NOT_EXIST, "no account exists with this key"));
        }
        let policy = &profile.policy.acme;
        if policy.terms_of_service.is_some() && !req.terms_of_service_agreed {
            return Err(problem(
                error::USER_ACTION_REQUIRED,
                "the terms of service must be agreed to (termsOfServiceAgreed)",
            ));
        }
        check_contacts(&req.contact)?;
        let eab = match (&req.external_account_binding, policy.external_account_required) {
            (None, true) => {
                return Err(problem(
                    error::EXTERNAL_ACCOUNT_REQUIRED,
                    "this directory requires an external account binding (ask an administrator for an EAB key)",
                ))
            }
            (None, false) => None,
            (Some(binding), _) => Some(self.check_binding(profile, &req.jwk, binding).await?),
        };
        let now = self.clock.now();
        let mut account = Account {
            id: 0,
            uuid: Uuid::new_v4(),
            ra_profile_id: profile.id,
            thumbprint,
            jwk: req.jwk.canonical_json(),
            contact: req.contact,
            status: AccountStatus::Valid,
            eab_kid: eab.as_ref().map(|k| k.kid.clone()),
            owner: eab.as_ref().and_then(|k| k.owner.clone()),
            created_at: now,
            updated_at: now,
        };
        let (mut tx, head) = self.begin().await?;
        account.id = match tx.insert_acme_account(&account).await {
            // The same key registered concurrently: answer with that account.
            Err(CoreError::Conflict { .. }) => {
                drop(tx);
                let existing = self.store.acme_account_by_key(profile.id, &account.thumbprint).await?;
                return existing.map(|a| (a, false)).ok_or_else(|| problem(error::SERVER_INTERNAL, "account lost"));
            }
            other => other?,
        };
        if let Some(key) = &eab {
            if !tx.bind_acme_eab_key(key.id, account.id).await? {
                return Err(problem(error::UNAUTHORIZED, "this external account key is bound to another account"));
            }
        }
        let draft = EventDraft::success("acme.account.create", "acme_account", account.uuid).with_details(json!({
            "ra_profile": profile.name, "contact": account.contact, "eab_kid": account.eab_kid,
            "owner": account.owner, "thumbprint": account.thumbprint,
        }));
        let ctx = super::account_ctx(&account, profile);
        self.commit_with_event(tx, &head, &ctx, draft).await?;
        Ok((account, true))
    }

    async fn check_binding(&self, profile: &RaProfile, jwk: &Jwk, binding: &EabBinding) -> Result<EabKey> {
        let malformed = |m: &str| problem(error::MALFORMED, format!("externalAccountBinding: {m}"));
        if binding.alg != "HS256" {
            return Err(problem(error::BAD_SIGNATURE_ALGORITHM, "externalAccountBinding must use HS256"));
        }
        if !binding.url_matches {
            return Err(malformed("its url must be the newAccount URL"));
        }
        if &binding.payload_jwk != jwk {
            return Err(malformed("its payload must be the account's key"));
        }
        let key =
            self.store.acme_eab_key(&binding.kid).await?.filter(|k| k.ra_profile_id == profile.id).ok_or_else(
                || problem(error::UNAUTHORIZED, format!("unknown external account key '{}'", binding.kid)),
            )?;
        if key.account_id.is_some() {
            return Err(problem(error::UNAUTHORIZED, "this external account key is bound to another account"));
        }
        let secret = self.vault.open(&key.sealed_key, key.kid.as_bytes())?;
        if !certwright_pki::jose::hs256_verify(&secret, &binding.signing_input, &binding.mac) {
            return Err(problem(error::UNAUTHORIZED, "the external account binding's MAC does not verify"));
        }
        Ok(key)
    }

    /// The account a `kid` URL names, which must be valid and belong to this directory.
    pub async fn acme_account(&self, profile: &RaProfile, uuid: Uuid) -> Result<Account> {
        let account = self
            .stored_account(uuid)
            .await?
            .filter(|a| a.ra_profile_id == profile.id)
            .ok_or_else(|| problem(error::ACCOUNT_DOES_NOT_EXIST, "no such account in this directory"))?;
        if account.status != AccountStatus::Valid {
            return Err(problem(error::UNAUTHORIZED, format!("the account is {}", account.status.as_str())));
        }
        Ok(account)
    }

    /// An account as stored, whatever its status: from the cache when it holds it (a single node fills it).
    pub(crate) async fn stored_account(&self, uuid: Uuid) -> Result<Option<Account>> {
        if let Some(cached) = self.acme.cached_account(uuid) {
            return Ok(Some(cached));
        }
        let generation = self.acme.account_changes.load(std::sync::atomic::Ordering::SeqCst);
        let read = self.store.acme_account(uuid).await?;
        if let (Some(a), false) = (&read, self.settings.shared_store) {
            self.acme.cache_account(a, generation);
        }
        Ok(read)
    }

    /// Updates the contacts, or deactivates the account (RFC 8555 §7.3.2, §7.3.6).
    pub async fn acme_update_account(
        &self,
        profile: &RaProfile,
        account: &Account,
        contact: Option<Vec<String>>,
        deactivate: bool,
    ) -> Result<Account> {
        if let Some(c) = &contact {
            check_contacts(c)?;
        }
        let (mut tx, head) = self.begin().await?;
        let mut current = tx
            .acme_account_for_update(account.uuid)
            .await?
            .ok_or_else(|| problem(error::ACCOUNT_DOES_NOT_EXIST, "the account is gone"))?;
        if current.status != AccountStatus::Valid {
            return Err(problem(error::UNAUTHORIZED, format!("the account is {}", current.status.as_str())));
        }
        let action = if deactivate { "acme.account.deactivate" } else { "acme.account.update" };
        if let Some(c) = contact {
            current.contact = c;
        }
        if deactivate {
            current.status = AccountStatus::Deactivated;
        }
        current.updated_at = self.clock.now();
        tx.update_acme_account(&current).await?;
        let draft = EventDraft::success(action, "acme_account", current.uuid)
            .with_details(json!({ "contact": current.contact, "status": current.status.as_str() }));
        self.commit_with_event(tx, &head, &super::account_ctx(&current, profile), draft).await?;
        self.acme.account_changed(current.uuid);
        Ok(current)
    }

    /// Key rollover (RFC 8555 §7.3.5): the face checked both signatures; here the new key must be free.
    pub async fn acme_change_key(&self, profile: &RaProfile, account: &Account, new_key: &Jwk) -> Result<Account> {
        let thumbprint = new_key.thumbprint();
        if let Some(other) = self.store.acme_account_by_key(profile.id, &thumbprint).await? {
            return Err(CoreError::Conflict {
                code: "acme.key_in_use",
                message: format!("the new key belongs to account {} already", other.uuid),
            });
        }
        let (mut tx, head) = self.begin().await?;
        let mut current = tx
            .acme_account_for_update(account.uuid)
            .await?
            .filter(|a| a.status == AccountStatus::Valid && a.thumbprint == account.thumbprint)
            .ok_or_else(|| problem(error::UNAUTHORIZED, "the account changed meanwhile; retry"))?;
        let old = std::mem::replace(&mut current.thumbprint, thumbprint);
        current.jwk = new_key.canonical_json();
        current.updated_at = self.clock.now();
        tx.update_acme_account(&current).await?;
        let draft = EventDraft::success("acme.account.key_change", "acme_account", current.uuid)
            .with_details(json!({ "old_thumbprint": old, "new_thumbprint": current.thumbprint }));
        self.commit_with_event(tx, &head, &super::account_ctx(&current, profile), draft).await?;
        self.acme.account_changed(current.uuid);
        Ok(current)
    }

    /// Creates an EAB key for an ACME-enabled RA profile: the key, with its MAC secret (base64url) shown once.
    pub async fn create_eab_key(&self, ctx: &Ctx, req: NewEabKey) -> Result<(EabKey, String)> {
        ctx.caller.require(Permission::ManageAuthorities)?;
        for (field, value, max) in [("owner", &req.owner, 256), ("comment", &req.comment, 1024)] {
            if value.as_ref().is_some_and(|v| v.chars().count() > max || v.chars().any(char::is_control)) {
                return Err(CoreError::invalid(
                    "acme.invalid_eab_key",
                    format!("{field} must be at most {max} characters without control characters"),
                ));
            }
        }
        let profile = self.find_ra_profile(&req.ra_profile).await?;
        if !profile.policy.acme.enabled {
            return Err(CoreError::Conflict {
                code: "acme.not_enabled",
                message: format!("RA profile '{}' has no ACME directory: set policy.acme.enabled first", profile.name),
            });
        }
        let secret = certwright_pki::random::bytes::<32>()?;
        let kid = format!("eab-{}", Uuid::new_v4().simple());
        let mut key = EabKey {
            id: 0,
            sealed_key: self.vault.seal(&secret, kid.as_bytes())?,
            kid,
            ra_profile_id: profile.id,
            owner: req.owner.filter(|o| !o.trim().is_empty()),
            comment: req.comment,
            account_id: None,
            created_by: ctx.caller.principal.clone(),
            created_at: self.clock.now(),
        };
        let (mut tx, head) = self.begin().await?;
        key.id = tx.insert_acme_eab_key(&key).await?;
        let draft = EventDraft::success("acme.eab_key.create", "acme_eab_key", &key.kid)
            .with_details(json!({ "ra_profile": profile.name, "owner": key.owner }));
        self.commit_with_event(tx, &head, ctx, draft).await?;
        Ok((key, B64.encode(secret)))
    }

    /// EAB keys (without their secrets).
    pub async fn list_eab_keys(&self, ctx: &Ctx) -> Result<Vec<EabKey>> {
        ctx.caller.require(Permission::ManageAuthorities)?;
        self.store.acme_eab_keys().await
    }

    /// Deletes an EAB key; an account already bound with it stays.
    pub async fn delete_eab_key(&self, ctx: &Ctx, kid: &str) -> Result<()> {
        ctx.caller.require(Permission::ManageAuthorities)?;
        let (mut tx, head) = self.begin().await?;
        if !tx.delete_acme_eab_key(kid).await? {
            return Err(CoreError::not_found("acme.eab_key_not_found", "EAB key", kid));
        }
        let draft = EventDraft::success("acme.eab_key.delete", "acme_eab_key", kid);
        self.commit_with_event(tx, &head, ctx, draft).await
    }
}

#[cfg(test)]
mod tests {
    use super::check_contacts;

    #[test]
    fn contacts_are_single_mailto_addresses() {
        assert!(check_contacts(&["mailto:ops@example.org".to_owned()]).is_ok());
        for bad in [
            "mailto:",
            "mailto:a@b",
            "mailto:a@b.c?subject=x",
            "mailto:a@b.c,c@d.e",
            "tel:+1555",
            "mailto:a\u{0}b@example.org",
            "mailto:a@example.org\r\nBcc: x@example.org",
        ] {
            assert!(check_contacts(&[bad.to_owned()]).is_err(), "{bad}");
        }
    }
}
