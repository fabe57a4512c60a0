//! Access management: authenticating bearer secrets, API tokens, OAuth2 clients and the client-credentials grant.

use super::Services;
use crate::audit::EventDraft;
use crate::auth::{
    hash_secret, validate_name, ApiToken, Caller, Ctx, NewOAuthClient, NewToken, OAuthClient, Permission, Role, Secret,
    TokenSource,
};
use crate::clock::{to_rfc3339, EpochSeconds};
use crate::lifecycle::State;
use crate::page::{Listed, Page};
use crate::store::{Store, StoreTx};
use crate::{CoreError, Result};
use certwright_pki::cert::Cert;
use serde_json::json;
use uuid::Uuid;

/// Longest lifetime an OAuth2 access token may be given (one day).
pub const MAX_OAUTH_TOKEN_TTL: i64 = 86_400;

/// What an administrator asks for when creating an API token.
#[derive(Debug, Clone)]
pub struct NewTokenRequest {
    pub name: String,
    pub role: Role,
    /// Owner of the token; defaults to the token's name.
    pub principal: Option<String>,
    pub ra_profiles: Vec<String>,
    /// Lifetime in seconds; `None` never expires.
    pub expires_in: Option<i64>,
}

/// What an administrator asks for when registering an OAuth2 client.
#[derive(Debug, Clone)]
pub struct NewOAuthClientRequest {
    pub name: String,
    pub role: Role,
    pub ra_profiles: Vec<String>,
    /// Lifetime of access tokens issued to this client; the server default when `None`.
    pub token_ttl_seconds: Option<i64>,
}

/// An access token issued by the client-credentials grant.
#[derive(Debug)]
pub struct IssuedOAuthToken {
    pub token: ApiToken,
    pub secret: Secret,
    pub expires_in: i64,
}

/// How a verified client certificate maps to a caller: one role and RA-profile limit for every certificate, set
/// by the server's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCertificatePolicy {
    pub role: Role,
    /// RA profiles such callers are limited to; empty means all.
    pub ra_profiles: Vec<String>,
}

fn validate_profiles(profiles: &[String]) -> Result<Vec<String>> {
    profiles.iter().map(|p| validate_name("ra_profiles[]", p)).collect()
}

impl<S: Store> Services<S> {
    /// Resolves a presented bearer secret to its caller, or fails with `auth.unauthenticated`.
    pub async fn authenticate(&self, bearer: &str) -> Result<Caller> {
        let hash = hash_secret(bearer);
        let cache = (!self.settings.shared_store).then_some(&self.tokens);
        let token = match cache.and_then(|c| c.get(&hash)) {
            Some(token) => token,
            None => {
                let generation = cache.map(KnownTokens::generation);
                let token = self
                    .store
                    .token_by_hash(&hash)
                    .await?
                    .ok_or(CoreError::Unauthenticated("the bearer token is not known"))?;
                if let (Some(cache), Some(generation)) = (cache, generation) {
                    cache.insert(hash, &token, generation);
                }
                token
            }
        };
        let now = self.clock.now();
        if token.revoked_at.is_some() {
            return Err(CoreError::Unauthenticated("the bearer token has been revoked"));
        }
        if !token.is_active(now) {
            return Err(CoreError::Unauthenticated("the bearer token has expired"));
        }
        Ok(Caller {
            principal: token.principal,
            token: Some(token.uuid),
            role: token.role,
            ra_profiles: token.ra_profiles,
        })
    }

    /// Maps a client certificate to its caller, `mtls:<subject CN>` with the role and RA profiles of `policy`.
    /// The certificate's chain must already have been verified against the configured trust anchors (by the TLS
    /// handshake, or by the face for one forwarded by a trusted proxy); this refuses what only the inventory
    /// knows: a certificate revoked here (a lifted hold counts as valid again), and one outside its validity (a
    /// resumed session outlives its handshake). One without a common name is refused too, since it would have no
    /// name in the audit log.
    pub async fn authenticate_client_certificate(
        &self,
        der: &[u8],
        policy: &ClientCertificatePolicy,
    ) -> Result<Caller> {
        let cert =
            Cert::from_der(der).map_err(|_| CoreError::Unauthenticated("the client certificate is unreadable"))?;
        let cn = cert
            .common_name()
            .filter(|cn| !cn.trim().is_empty() && !cn.chars().any(char::is_control))
            .ok_or(CoreError::Unauthenticated("the client certificate has no subject common name"))?;
        // Checked again here: a resumed TLS session keeps the certificate its first handshake verified.
        let now = self.clock.now();
        if cert.not_after() < now || cert.not_before() > now {
            return Err(CoreError::Unauthenticated("the client certificate is not valid at this time"));
        }
        if let Some(record) = self.store.certificate_by_issuer_serial(&cert.issuer_string(), &cert.serial_hex()).await?
        {
            let listed = match record.authority_id {
                Some(authority) => {
                    self.store.revocation(authority, &record.serial).await?.is_some_and(|r| r.in_force())
                }
                None => false,
            };
            let revoked = listed || record.state == State::Revoked.as_str();
            if revoked {
                return Err(CoreError::Unauthenticated("the client certificate has been revoked"));
            }
        }
        Ok(Caller {
            principal: format!("mtls:{}", cn.trim()),
            token: None,
            role: policy.role,
            ra_profiles: policy.ra_profiles.clone(),
        })
    }

    /// Creates an API token; the secret is returned once and only its hash is kept.
    pub async fn create_token(&self, ctx: &Ctx, req: NewTokenRequest) -> Result<(ApiToken, Secret)> {
        ctx.caller.require(Permission::ManageAccess)?;
        let name = validate_name("name", &req.name)?;
        let principal = validate_name("principal", req.principal.as_deref().unwrap_or(&name))?;
        let ra_profiles = validate_profiles(&req.ra_profiles)?;
        let now = self.clock.now();
        let expires_at = match req.expires_in {
            None => None,
            Some(s) if s > 0 => Some(now.saturating_add(s)),
            Some(s) => {
                return Err(CoreError::invalid(
                    "token.invalid_expiry",
                    format!("expires_in_seconds must be positive, got {s}"),
                ))
            }
        };
        let secret = Secret::generate("cwt_")?;
        let new = NewToken {
            uuid: Uuid::new_v4(),
            name,
            principal,
            role: req.role,
            ra_profiles,
            source: TokenSource::Static,
            secret_hash: secret.hash(),
            created_at: now,
            expires_at,
            oauth_client: None,
        };

        let (mut tx, head) = self.begin().await?;
        tx.ensure_principal(&new.principal, now).await?;
        let token = tx.insert_token(&new).await?;
        let draft = EventDraft::success("token.create", "token", token.uuid).with_details(json!({
            "name": token.name, "principal": token.principal, "role": token.role.as_str(),
            "ra_profiles": token.ra_profiles, "expires_at": token.expires_at.map(to_rfc3339),
        }));
        self.commit_with_event(tx, &head, ctx, draft).await?;
        Ok((token, secret))
    }

    /// Lists API tokens (never secrets).
    pub async fn list_tokens(&self, ctx: &Ctx, page: Page, include_inactive: bool) -> Result<Listed<ApiToken>> {
        ctx.caller.require(Permission::ReadAccess)?;
        self.store.list_tokens(page, include_inactive, self.clock.now()).await
    }

    /// Revokes an API token; it stops authenticating at once.
    pub async fn revoke_token(&self, ctx: &Ctx, uuid: Uuid) -> Result<ApiToken> {
        ctx.caller.require(Permission::ManageAccess)?;
        let _forget = self.tokens.forget_when_done();
        let (mut tx, head) = self.begin().await?;
        let now = self.clock.now();
        let (token, newly) =
            tx.revoke_token(uuid, now).await?.ok_or_else(|| CoreError::not_found("token.not_found", "token", uuid))?;
        let draft = EventDraft::success("token.revoke", "token", uuid).with_details(json!({
            "name": token.name, "principal": token.principal,
            "revoked_at": token.revoked_at.map(to_rfc3339),
            "already_revoked": !newly,
        }));
        self.commit_with_event(tx, &head, ctx, draft).await?;
        Ok(token)
    }

    /// Registers an OAuth2 client; its secret is returned once.
    pub async fn create_oauth_client(&self, ctx: &Ctx, req: NewOAuthClientRequest) -> Result<(OAuthClient, Secret)> {
        ctx.caller.require(Permission::ManageAccess)?;
        let name = validate_name("name", &req.name)?;
        let ra_profiles = validate_profiles(&req.ra_profiles)?;
        let ttl = req.token_ttl_seconds.unwrap_or(self.settings.default_oauth_token_ttl);
        if !(60..=MAX_OAUTH_TOKEN_TTL).contains(&ttl) {
            return Err(CoreError::invalid(
                "oauth_client.invalid_ttl",
                format!("token_ttl_seconds must be between 60 and {MAX_OAUTH_TOKEN_TTL}, got {ttl}"),
            ));
        }
        let now = self.clock.now();
        let secret = Secret::generate("cwc_")?;
        let new = NewOAuthClient {
            uuid: Uuid::new_v4(),
            principal: name.clone(),
            name,
            role: req.role,
            ra_profiles,
            token_ttl_seconds: ttl,
            secret_hash: secret.hash(),
            created_at: now,
        };
        let (mut tx, head) = self.begin().await?;
        tx.ensure_principal(&new.principal, now).await?;
        let client = tx.insert_oauth_client(&new).await?;
        let draft = EventDraft::success("oauth_client.create", "oauth_client", client.uuid).with_details(json!({
            "name": client.name, "role": client.role.as_str(), "ra_profiles": client.ra_profiles,
            "token_ttl_seconds": client.token_ttl_seconds,
        }));
        self.commit_with_event(tx, &head, ctx, draft).await?;
        Ok((client, secret))
    }

    /// Lists OAuth2 clients (never secrets).
    pub async fn list_oauth_clients(&self, ctx: &Ctx, page: Page) -> Result<Listed<OAuthClient>> {
        ctx.caller.require(Permission::ReadAccess)?;
        self.store.list_oauth_clients(page).await
    }

    /// Deletes an OAuth2 client and revokes the tokens it holds.
    pub async fn delete_oauth_client(&self, ctx: &Ctx, uuid: Uuid) -> Result<OAuthClient> {
        ctx.caller.require(Permission::ManageAccess)?;
        // Its access tokens are revoked with it.
        let _forget = self.tokens.forget_when_done();
        let (mut tx, head) = self.begin().await?;
        let client = tx
            .delete_oauth_client(uuid, self.clock.now())
            .await?
            .ok_or_else(|| CoreError::not_found("oauth_client.not_found", "OAuth client", uuid))?;
        let draft = EventDraft::success("oauth_client.delete", "oauth_client", uuid)
            .with_details(json!({ "name": client.name }));
        self.commit_with_event(tx, &head, ctx, draft).await?;
        Ok(client)
    }

    /// The OAuth2 client-credentials grant (RFC 6749 §4.4): a short-lived access token for a registered client.
    /// Wrong id or secret both fail with the same `oauth.invalid_client`, so ids cannot be probed.
    pub async fn oauth_client_credentials(
        &self,
        client_id: &str,
        client_secret: &str,
        request_id: Option<String>,
    ) -> Result<IssuedOAuthToken> {
        let invalid = || CoreError::Unauthenticated("client authentication failed");
        let uuid = Uuid::parse_str(client_id.trim()).map_err(|_| invalid())?;
        let record = self.store.oauth_client(uuid).await?.ok_or_else(invalid)?;
        if !constant_time_eq(record.secret_hash.as_bytes(), hash_secret(client_secret).as_bytes()) {
            return Err(invalid());
        }
        let client = record.client;
        let now: EpochSeconds = self.clock.now();
        let secret = Secret::generate("cwo_")?;
        let new = NewToken {
            uuid: Uuid::new_v4(),
            name: format!("oauth:{}", client.name),
            principal: client.principal.clone(),
            role: client.role,
            ra_profiles: client.ra_profiles.clone(),
            source: TokenSource::Oauth,
            secret_hash: secret.hash(),
            created_at: now,
            expires_at: Some(now.saturating_add(client.token_ttl_seconds)),
            oauth_client: Some(client.uuid),
        };
        let ctx = Ctx {
            caller: Caller {
                principal: client.principal.clone(),
                token: None,
                role: client.role,
                ra_profiles: client.ra_profiles.clone(),
            },
            request_id,
        };
        let (mut tx, head) = self.begin().await?;
        let token = tx.insert_token(&new).await?;
        let draft = EventDraft::success("oauth.token_issued", "token", token.uuid)
            .with_details(json!({ "client_id": client.uuid, "expires_at": token.expires_at.map(to_rfc3339) }));
        self.commit_with_event(tx, &head, &ctx, draft).await?;
        Ok(IssuedOAuthToken { token, secret, expires_in: client.token_ttl_seconds })
    }

    /// First-start bootstrap of the database, in one transaction: records `key_check` (the value that ties the
    /// database to its master key) and creates the `admin` principal with a never-expiring admin token whose
    /// secret the caller generated (and saved) beforehand. Fails with `bootstrap.already_done` when another
    /// node bootstrapped the database first; then nothing is written.
    pub async fn bootstrap_admin(&self, secret: &Secret, key_check: &str) -> Result<ApiToken> {
        let now = self.clock.now();
        let new = NewToken {
            uuid: Uuid::new_v4(),
            name: "bootstrap admin".to_owned(),
            principal: "admin".to_owned(),
            role: Role::Admin,
            ra_profiles: Vec::new(),
            source: TokenSource::Static,
            secret_hash: secret.hash(),
            created_at: now,
            expires_at: None,
            oauth_client: None,
        };
        let (mut tx, head) = self.begin().await?;
        if !tx.insert_meta(MASTER_KEY_CHECK, key_check).await? {
            return Err(CoreError::Conflict {
                code: "bootstrap.already_done",
                message: "the database was bootstrapped by another node at the same time".to_owned(),
            });
        }
        tx.ensure_principal(&new.principal, now).await?;
        let token = tx.insert_token(&new).await?;
        let draft = EventDraft::success("system.bootstrap", "token", token.uuid)
            .with_details(json!({ "principal": "admin", "role": "admin" }));
        self.commit_with_event(tx, &head, &Ctx::system(), draft).await?;
        Ok(token)
    }

    /// The value recorded at bootstrap that ties the database to its master key, if bootstrapped.
    pub async fn master_key_check(&self) -> Result<Option<String>> {
        self.store.meta(MASTER_KEY_CHECK).await
    }

    /// Issues a fresh admin token for an operator who lost theirs (run locally against the database).
    pub async fn recover_admin_token(&self) -> Result<(ApiToken, Secret)> {
        self.create_token(
            &Ctx::system(),
            NewTokenRequest {
                name: "recovered admin".to_owned(),
                role: Role::Admin,
                principal: Some("admin".to_owned()),
                ra_profiles: Vec::new(),
                expires_in: None,
            },
        )
        .await
    }

    /// Records a refused or failed attempt in the audit log (its own transaction: nothing else changed).
    pub async fn record_failure(&self, ctx: &Ctx, mut draft: EventDraft) -> Result<()> {
        draft.result = crate::audit::EventResult::Failure;
        let (tx, head) = self.begin().await?;
        self.commit_with_event(tx, &head, ctx, draft).await
    }
}

/// The `meta` key under which the master-key check value is stored.
pub const MASTER_KEY_CHECK: &str = "master_key_check";

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Most tokens [`KnownTokens`] holds; when full it starts over.
const KNOWN_TOKENS: usize = 4096;
/// How long a token is trusted from memory before it is read again.
const KNOWN_TOKEN_TTL: std::time::Duration = std::time::Duration::from_secs(10);

/// Tokens that authenticated recently, by secret hash, so that a request costs no database read to authenticate
/// (single node only: with a shared store another node may revoke a token). Whether a token is still active is
/// judged on every use. A revocation forgets them all when it ends, however it ends (even abandoned by its client
/// mid-commit); a read that began before that does not put back what was forgotten, since each entry is admitted
/// only under the generation its read started in. Should a revocation's commit still land after it was abandoned,
/// an entry read in between is trusted for [`KNOWN_TOKEN_TTL`] at most.
#[derive(Debug, Default)]
pub(crate) struct KnownTokens {
    inner: std::sync::Mutex<(u64, TokensByHash)>,
}

/// Tokens by secret hash, with the time each was read.
type TokensByHash = std::collections::HashMap<String, (std::time::Instant, ApiToken)>;

impl KnownTokens {
    fn generation(&self) -> u64 {
        self.inner.lock().map_or(u64::MAX, |g| g.0)
    }

    fn get(&self, hash: &str) -> Option<ApiToken> {
        let g = self.inner.lock().ok()?;
        let (read_at, token) = g.1.get(hash)?;
        (read_at.elapsed() < KNOWN_TOKEN_TTL).then(|| token.clone())
    }

    fn insert(&self, hash: String, token: &ApiToken, read_in: u64) {
        if let Ok(mut g) = self.inner.lock() {
            if g.0 != read_in || token.revoked_at.is_some() {
                return;
            }
            if g.1.len() >= KNOWN_TOKENS {
                g.1.clear();
            }
            g.1.insert(hash, (std::time::Instant::now(), token.clone()));
        }
    }

    /// Forgets every token, and refuses what reads begun before now would put back.
    fn forget_all(&self) {
        if let Ok(mut g) = self.inner.lock() {
            g.0 = g.0.wrapping_add(1);
            g.1.clear();
        }
    }

    /// Forgets every token when the guard is dropped: at the end of a revocation, whether it succeeded, failed or
    /// was abandoned.
    fn forget_when_done(&self) -> ForgetTokens<'_> {
        ForgetTokens(self)
    }
}

/// See [`KnownTokens::forget_when_done`].
pub(crate) struct ForgetTokens<'a>(&'a KnownTokens);

impl Drop for ForgetTokens<'_> {
    fn drop(&mut self) {
        self.0.forget_all();
    }
}
