//! OAuth 1.0a credentials: created (their secrets shown once, kept sealed), listed, revoked, and the check of a
//! signed request — protocol parameters, the credential, the HMAC over the base string, and a nonce that may
//! be used once.

use super::Services;
use crate::audit::EventDraft;
use crate::auth::{validate_name, Caller, Ctx, Permission, Role, Secret};
use crate::oauth1::{base_string, check_protocol, signing_key, Oauth1Credential, SignedRequest, TIMESTAMP_WINDOW};
use crate::store::{Store, StoreTx};
use crate::{CoreError, Result};
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;
use zeroize::Zeroizing;

/// A new credential with its secrets, which are not shown again.
#[allow(missing_debug_implementations)] // Holds secrets.
pub struct NewOauth1Credential {
    pub credential: Oauth1Credential,
    pub consumer_secret: Zeroizing<String>,
    pub token_secret: Zeroizing<String>,
}

#[derive(Serialize, Deserialize)]
struct Secrets {
    consumer_secret: String,
    token_secret: String,
}

impl Drop for Secrets {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.consumer_secret.zeroize();
        self.token_secret.zeroize();
    }
}

fn refused(why: &'static str) -> CoreError {
    CoreError::Unauthenticated(why)
}

/// A random public identifier or secret.
fn random(prefix: &str) -> Result<Zeroizing<String>> {
    let secret = Secret::generate(prefix)?;
    Ok(Zeroizing::new(secret.danger_expose().to_owned()))
}

impl<S: Store> Services<S> {
    /// Creates a credential whose signed requests act as principal `oauth1:<name>` with `role`.
    pub async fn create_oauth1_credential(
        &self,
        ctx: &Ctx,
        name: &str,
        role: Role,
        ra_profiles: Vec<String>,
    ) -> Result<NewOauth1Credential> {
        ctx.caller.require(Permission::ManageAccess)?;
        let name = validate_name("name", name)?;
        let ra_profiles = ra_profiles.iter().map(|p| validate_name("ra_profiles[]", p)).collect::<Result<Vec<_>>>()?;
        let uuid = Uuid::new_v4();
        let consumer_secret = random("cws_")?;
        let token_secret = random("cws_")?;
        let secrets = Zeroizing::new(
            serde_json::to_vec(&Secrets {
                consumer_secret: consumer_secret.to_string(),
                token_secret: token_secret.to_string(),
            })
            .map_err(|e| CoreError::Storage(e.to_string()))?,
        );
        let now = self.clock.now();
        let mut credential = Oauth1Credential {
            id: 0,
            uuid,
            principal: format!("oauth1:{name}"),
            name,
            role,
            ra_profiles,
            consumer_key: random("cwk_")?.to_string(),
            token: random("cwt1_")?.to_string(),
            sealed_secrets: self.vault.seal(&secrets, uuid.as_bytes())?,
            created_at: now,
            revoked_at: None,
        };
        let (mut tx, head) = self.begin().await?;
        tx.ensure_principal(&credential.principal, now).await?;
        credential.id = tx.insert_oauth1_credential(&credential).await?;
        let draft = EventDraft::success("oauth1_credential.create", "oauth1_credential", credential.uuid).with_details(
            json!({ "name": credential.name, "role": role.as_str(), "ra_profiles": credential.ra_profiles,
                    "consumer_key": credential.consumer_key }),
        );
        self.commit_with_event(tx, &head, ctx, draft).await?;
        Ok(NewOauth1Credential { credential, consumer_secret, token_secret })
    }

    /// Every credential (never a secret).
    pub async fn oauth1_credentials(&self, ctx: &Ctx) -> Result<Vec<Oauth1Credential>> {
        ctx.caller.require(Permission::ReadAccess)?;
        self.store.oauth1_credentials().await
    }

    /// Revokes a credential: its signatures are refused from now on.
    pub async fn revoke_oauth1_credential(&self, ctx: &Ctx, uuid: Uuid) -> Result<Oauth1Credential> {
        ctx.caller.require(Permission::ManageAccess)?;
        let now = self.clock.now();
        let (mut tx, head) = self.begin().await?;
        let mut credential = tx
            .oauth1_credential_by_uuid(uuid)
            .await?
            .ok_or_else(|| CoreError::not_found("oauth1_credential.not_found", "OAuth 1.0a credential", uuid))?;
        if !tx.revoke_oauth1_credential(credential.id, now).await? {
            return Err(CoreError::Conflict {
                code: "oauth1_credential.revoked",
                message: "this credential is revoked already".to_owned(),
            });
        }
        credential.revoked_at = Some(now);
        let draft = EventDraft::success("oauth1_credential.revoke", "oauth1_credential", uuid)
            .with_details(json!({ "name": credential.name }));
        self.commit_with_event(tx, &head, ctx, draft).await?;
        Ok(credential)
    }

    /// Checks an OAuth 1.0a signed request and returns its caller. The nonce is spent only by a request whose
    /// signature checks out.
    pub async fn authenticate_oauth1(&self, req: &SignedRequest) -> Result<Caller> {
        let now = self.clock.now();
        let (mac, timestamp, nonce) = check_protocol(req, now)?;
        let key = req.oauth("oauth_consumer_key").ok_or(refused("oauth_consumer_key is missing"))?;
        let credential =
            self.store.oauth1_credential(key).await?.ok_or(refused("the OAuth 1.0a consumer key is not known"))?;
        if credential.revoked_at.is_some() {
            return Err(refused("the OAuth 1.0a credential has been revoked"));
        }
        if req.oauth("oauth_token") != Some(credential.token.as_str()) {
            return Err(refused("oauth_token does not belong to the consumer key"));
        }
        let opened = self.vault.open(&credential.sealed_secrets, credential.uuid.as_bytes())?;
        let secrets: Secrets =
            serde_json::from_slice(&opened).map_err(|e| CoreError::Storage(format!("OAuth 1.0a secrets: {e}")))?;
        let signing_key = Zeroizing::new(signing_key(&secrets.consumer_secret, &secrets.token_secret));
        let signature = base64::engine::general_purpose::STANDARD
            .decode(req.signature.trim())
            .map_err(|_| refused("oauth_signature is not base64"))?;
        let signed = req.uris.iter().any(|uri| {
            let base = base_string(&req.method, uri, &req.params);
            certwright_pki::digest::mac_matches(mac, signing_key.as_bytes(), base.as_bytes(), &signature)
        });
        if !signed {
            return Err(refused("the OAuth 1.0a signature does not match the request"));
        }
        // A nonce is good once per consumer key and timestamp, for as long as the timestamp is acceptable.
        let mut tx = self.store.begin().await?;
        let fresh = tx
            .redeem_acme_nonce(
                &format!("oauth1:{key}:{timestamp}:{nonce}"),
                timestamp.saturating_add(TIMESTAMP_WINDOW + 1),
            )
            .await?;
        tx.commit().await?;
        if !fresh {
            return Err(refused("this oauth_nonce was used already"));
        }
        Ok(Caller {
            principal: credential.principal,
            token: Some(credential.uuid),
            role: credential.role,
            ra_profiles: credential.ra_profiles,
        })
    }
}
