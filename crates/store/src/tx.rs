//! The write side of the `Store` port: one database transaction, audit chain included.

use crate::rows;
use crate::sql::{storage, Backend};
use certwright_core::audit::{ChainHead, Event, GENESIS_HASH};
use certwright_core::auth::{ApiToken, NewOAuthClient, NewToken, OAuthClient, Principal};
use certwright_core::ca::{Authority, CertificateRecord, NewKey, RaProfile};
use certwright_core::clock::EpochSeconds;
use certwright_core::inventory::CertificateMetadata;
use certwright_core::jobs::{Job, JobEnd, NewJob};
use certwright_core::lifecycle::{Approval, ApprovalStatus, LinkKind, RequestRecord, RevocationRequest, Vote};
use certwright_core::notify::NotificationRule;
use certwright_core::revocation::{OcspResponderRecord, Revocation, StoredCrl};
use certwright_core::store::StoreTx;
use certwright_core::{CoreError, Result};
use sqlx::{Any, Row, Transaction};
use tokio::sync::OwnedMutexGuard;
use uuid::Uuid;

/// An open write transaction; rolled back when dropped uncommitted.
#[derive(Debug)]
pub struct SqlTx {
    tx: Transaction<'static, Any>,
    backend: Backend,
    /// The audit chain (node) locked by this transaction; inventory counts are kept per node.
    chain: Option<String>,
    /// The SQLite writer's turn, held until commit or rollback.
    _turn: Option<OwnedMutexGuard<()>>,
}

impl SqlTx {
    pub(crate) fn new(tx: Transaction<'static, Any>, backend: Backend, turn: Option<OwnedMutexGuard<()>>) -> Self {
        Self { tx, backend, chain: None, _turn: turn }
    }

    async fn token_by_uuid(&mut self, uuid: Uuid) -> Result<Option<ApiToken>> {
        let sql = format!("{} WHERE t.uuid = $1", rows::TOKEN_SELECT);
        let row = sqlx::query(&sql).bind(uuid.to_string()).fetch_optional(&mut *self.tx).await.map_err(storage)?;
        row.as_ref().map(rows::token).transpose()
    }

    async fn client_by_uuid(&mut self, uuid: Uuid) -> Result<Option<OAuthClient>> {
        let sql = format!("{} WHERE c.uuid = $1", rows::CLIENT_SELECT);
        let row = sqlx::query(&sql).bind(uuid.to_string()).fetch_optional(&mut *self.tx).await.map_err(storage)?;
        row.as_ref().map(rows::client).transpose()
    }
}

/// Rows per multi-row event insert (14 parameters each, well inside both backends' limits).
const EVENTS_PER_INSERT: usize = 128;

/// `INSERT INTO events … VALUES (…), (…)` for `rows` events.
fn insert_events_sql(rows: usize) -> String {
    format!(
        "INSERT INTO events (uuid, chain, seq, time, actor, actor_token, action, object_type, object_id, \
         result, request_id, details, prev_hash, hash) VALUES {}",
        crate::sql::values_placeholders(rows, 14)
    )
}

type AnyQuery<'q> = sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>;

fn bind_event<'q>(q: AnyQuery<'q>, e: &'q Event) -> AnyQuery<'q> {
    q.bind(e.uuid.to_string())
        .bind(e.chain.as_str())
        .bind(e.seq)
        .bind(e.time)
        .bind(e.actor.as_str())
        .bind(e.actor_token.map(|u| u.to_string()))
        .bind(e.action.as_str())
        .bind(e.object_type.as_str())
        .bind(e.object_id.as_deref())
        .bind(e.result.as_str())
        .bind(e.request_id.as_deref())
        .bind(e.details.as_str())
        .bind(e.prev_hash.as_str())
        .bind(e.hash.as_str())
}

/// `UPDATE audit_chains …` moving a chain's head from one seq to an event, its four parameters numbered from
/// `first`.
fn move_head_sql(first: usize) -> String {
    let [seq, hash, chain, from] = [first, first + 1, first + 2, first + 3];
    format!("UPDATE audit_chains SET seq = ${seq}, hash = ${hash} WHERE chain = ${chain} AND seq = ${from}")
}

/// Binds [`move_head_sql`]'s parameters: from `from_seq` to the event `to`.
fn bind_move<'q>(q: AnyQuery<'q>, from_seq: i64, to: &'q Event) -> AnyQuery<'q> {
    q.bind(to.seq).bind(to.hash.as_str()).bind(to.chain.as_str()).bind(from_seq)
}

fn chain_moved(chain: &str) -> CoreError {
    CoreError::Storage(format!("audit chain '{chain}' moved while locked; the events were not appended"))
}

impl SqlTx {
    /// Moves the locked chain's head from `from_seq` to `to`; fails when the head is not where it was.
    async fn move_head(&mut self, from_seq: i64, to: &Event) -> Result<()> {
        let moved = bind_move(sqlx::query(&move_head_sql(1)), from_seq, to)
            .execute(&mut *self.tx)
            .await
            .map_err(storage)?
            .rows_affected();
        if moved != 1 {
            return Err(chain_moved(&to.chain));
        }
        Ok(())
    }
}

impl StoreTx for SqlTx {
    async fn insert_acme_account(&mut self, account: &certwright_core::acme::Account) -> Result<i64> {
        crate::acme::insert_account(&mut self.tx, account).await
    }

    async fn update_acme_account(&mut self, account: &certwright_core::acme::Account) -> Result<()> {
        crate::acme::update_account(&mut self.tx, account).await
    }

    async fn acme_account_for_update(&mut self, uuid: Uuid) -> Result<Option<certwright_core::acme::Account>> {
        let lock = self.backend == Backend::Postgres;
        crate::acme::account_by_uuid(&mut self.tx, uuid, lock).await
    }

    async fn insert_acme_eab_key(&mut self, key: &certwright_core::acme::EabKey) -> Result<i64> {
        crate::acme::insert_eab_key(&mut self.tx, key).await
    }

    async fn bind_acme_eab_key(&mut self, id: i64, account_id: i64) -> Result<bool> {
        crate::acme::bind_eab_key(&mut self.tx, id, account_id).await
    }

    async fn delete_acme_eab_key(&mut self, kid: &str) -> Result<bool> {
        crate::acme::delete_eab_key(&mut self.tx, kid).await
    }

    async fn insert_acme_order(&mut self, order: &certwright_core::acme::Order) -> Result<i64> {
        crate::acme::insert_order(&mut self.tx, order).await
    }

    async fn update_acme_order(&mut self, order: &certwright_core::acme::Order) -> Result<()> {
        crate::acme::update_order(&mut self.tx, order).await
    }

    async fn acme_order_for_update(&mut self, uuid: Uuid) -> Result<Option<certwright_core::acme::Order>> {
        let lock = self.backend == Backend::Postgres;
        crate::acme::order_where(&mut self.tx, "o.uuid = $1", uuid.to_string(), lock).await
    }

    async fn insert_acme_authorization(&mut self, authorization: &certwright_core::acme::Authorization) -> Result<i64> {
        crate::acme::insert_authorization(&mut self.tx, authorization).await
    }

    async fn update_acme_authorization(&mut self, authorization: &certwright_core::acme::Authorization) -> Result<()> {
        crate::acme::update_authorization(&mut self.tx, authorization).await
    }

    async fn acme_authorization_for_update(
        &mut self,
        uuid: Uuid,
    ) -> Result<Option<certwright_core::acme::Authorization>> {
        let lock = self.backend == Backend::Postgres;
        crate::acme::authorization_by_uuid(&mut self.tx, uuid, lock).await
    }

    async fn redeem_acme_nonce(&mut self, nonce: &str, expires: EpochSeconds) -> Result<bool> {
        crate::acme::redeem_nonce(&mut self.tx, nonce, expires).await
    }

    async fn purge_acme_nonces(&mut self, now: EpochSeconds) -> Result<u64> {
        crate::acme::purge_nonces(&mut self.tx, now).await
    }

    async fn lock_chain(&mut self, chain: &str) -> Result<ChainHead> {
        // One statement that creates the head when new and otherwise touches it: on SQLite it is the
        // transaction's first write, taking the database write lock before anything is read; on PostgreSQL the
        // update holds the head's row lock until commit. Either way, writers of one chain queue here.
        let row = sqlx::query(
            "INSERT INTO audit_chains (chain, seq, hash) VALUES ($1, 0, $2) \
             ON CONFLICT (chain) DO UPDATE SET seq = audit_chains.seq RETURNING chain, seq, hash",
        )
        .bind(chain)
        .bind(GENESIS_HASH)
        .fetch_one(&mut *self.tx)
        .await
        .map_err(storage)?;
        self.chain = Some(chain.to_owned());
        rows::chain_head(&row)
    }

    async fn append_event(&mut self, e: &Event) -> Result<i64> {
        let sql = format!("{} RETURNING id", insert_events_sql(1));
        let id: i64 = bind_event(sqlx::query(&sql), e)
            .fetch_one(&mut *self.tx)
            .await
            .and_then(|r| r.try_get(0))
            .map_err(storage)?;
        self.move_head(e.seq - 1, e).await?;
        Ok(id)
    }

    async fn append_events(&mut self, events: &[Event]) -> Result<()> {
        let (Some(first), Some(last)) = (events.first(), events.last()) else { return Ok(()) };
        let chunks: Vec<&[Event]> = events.chunks(EVENTS_PER_INSERT).collect();
        // On SQLite the last insert carries the head's move (below); elsewhere every chunk is inserted alone.
        let combined = chunks.last().copied().filter(|_| self.backend == Backend::Sqlite);
        for chunk in &chunks[..chunks.len() - usize::from(combined.is_some())] {
            let sql = insert_events_sql(chunk.len());
            let query = chunk.iter().fold(sqlx::query(&sql), bind_event);
            query.execute(&mut *self.tx).await.map_err(storage)?;
        }
        let Some(last_chunk) = combined else { return self.move_head(first.seq - 1, last).await };
        // SQLite runs both statements of one query in a single call to its connection's thread: the last insert
        // and the head's move. The inserts either add every row or fail, so one row more than inserted means the
        // head moved.
        let sql = format!("{}; {}", insert_events_sql(last_chunk.len()), move_head_sql(last_chunk.len() * 14 + 1));
        let affected = bind_move(last_chunk.iter().fold(sqlx::query(&sql), bind_event), first.seq - 1, last)
            .execute(&mut *self.tx)
            .await
            .map_err(storage)?
            .rows_affected();
        if affected != last_chunk.len() as u64 + 1 {
            return Err(chain_moved(&last.chain));
        }
        Ok(())
    }

    async fn ensure_principal(&mut self, name: &str, now: EpochSeconds) -> Result<Principal> {
        sqlx::query(
            "INSERT INTO principals (uuid, name, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
        )
        .bind(Uuid::new_v4().to_string())
        .bind(name)
        .bind(now)
        .execute(&mut *self.tx)
        .await
        .map_err(storage)?;
        let row = sqlx::query("SELECT id, uuid, name, created_at FROM principals WHERE name = $1")
            .bind(name)
            .fetch_one(&mut *self.tx)
            .await
            .map_err(storage)?;
        let uuid: String = row.try_get("uuid").map_err(storage)?;
        Ok(Principal {
            id: row.try_get("id").map_err(storage)?,
            uuid: Uuid::parse_str(&uuid).map_err(|e| CoreError::Storage(e.to_string()))?,
            name: row.try_get("name").map_err(storage)?,
            created_at: row.try_get("created_at").map_err(storage)?,
        })
    }

    async fn insert_token(&mut self, t: &NewToken) -> Result<ApiToken> {
        let id: i64 = sqlx::query(
            "INSERT INTO api_tokens (uuid, name, principal_id, role, ra_profiles, source, oauth_client_id, \
             secret_hash, created_at, expires_at) \
             VALUES ($1, $2, (SELECT id FROM principals WHERE name = $3), $4, $5, $6, \
             (SELECT id FROM oauth_clients WHERE uuid = $7), $8, $9, $10) RETURNING id",
        )
        .bind(t.uuid.to_string())
        .bind(t.name.as_str())
        .bind(t.principal.as_str())
        .bind(t.role.as_str())
        .bind(rows::profiles_to_json(&t.ra_profiles))
        .bind(t.source.as_str())
        .bind(t.oauth_client.map(|u| u.to_string()))
        .bind(t.secret_hash.as_str())
        .bind(t.created_at)
        .bind(t.expires_at)
        .fetch_one(&mut *self.tx)
        .await
        .and_then(|r| r.try_get(0))
        .map_err(storage)?;
        Ok(ApiToken {
            id,
            uuid: t.uuid,
            name: t.name.clone(),
            principal: t.principal.clone(),
            role: t.role,
            ra_profiles: t.ra_profiles.clone(),
            source: t.source,
            created_at: t.created_at,
            expires_at: t.expires_at,
            revoked_at: None,
        })
    }

    async fn revoke_token(&mut self, uuid: Uuid, now: EpochSeconds) -> Result<Option<(ApiToken, bool)>> {
        let changed = sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE uuid = $2 AND revoked_at IS NULL")
            .bind(now)
            .bind(uuid.to_string())
            .execute(&mut *self.tx)
            .await
            .map_err(storage)?
            .rows_affected();
        Ok(self.token_by_uuid(uuid).await?.map(|t| (t, changed == 1)))
    }

    async fn insert_oauth_client(&mut self, c: &NewOAuthClient) -> Result<OAuthClient> {
        let id: i64 = sqlx::query(
            "INSERT INTO oauth_clients (uuid, name, principal_id, role, ra_profiles, token_ttl_seconds, \
             secret_hash, created_at) \
             VALUES ($1, $2, (SELECT id FROM principals WHERE name = $3), $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(c.uuid.to_string())
        .bind(c.name.as_str())
        .bind(c.principal.as_str())
        .bind(c.role.as_str())
        .bind(rows::profiles_to_json(&c.ra_profiles))
        .bind(c.token_ttl_seconds)
        .bind(c.secret_hash.as_str())
        .bind(c.created_at)
        .fetch_one(&mut *self.tx)
        .await
        .and_then(|r| r.try_get(0))
        .map_err(storage)?;
        Ok(OAuthClient {
            id,
            uuid: c.uuid,
            name: c.name.clone(),
            principal: c.principal.clone(),
            role: c.role,
            ra_profiles: c.ra_profiles.clone(),
            token_ttl_seconds: c.token_ttl_seconds,
            created_at: c.created_at,
        })
    }

    async fn delete_oauth_client(&mut self, uuid: Uuid, now: EpochSeconds) -> Result<Option<OAuthClient>> {
        let deleted = sqlx::query("UPDATE oauth_clients SET deleted_at = $1 WHERE uuid = $2 AND deleted_at IS NULL")
            .bind(now)
            .bind(uuid.to_string())
            .execute(&mut *self.tx)
            .await
            .map_err(storage)?
            .rows_affected();
        if deleted == 0 {
            return Ok(None);
        }
        sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1 WHERE revoked_at IS NULL \
             AND oauth_client_id = (SELECT id FROM oauth_clients WHERE uuid = $2)",
        )
        .bind(now)
        .bind(uuid.to_string())
        .execute(&mut *self.tx)
        .await
        .map_err(storage)?;
        self.client_by_uuid(uuid).await
    }

    async fn insert_key(&mut self, key: &NewKey) -> Result<i64> {
        crate::pki::insert_key(&mut self.tx, key).await
    }

    async fn insert_authority(&mut self, authority: &Authority) -> Result<i64> {
        crate::pki::insert_authority(&mut self.tx, authority).await
    }

    async fn insert_ra_profile(&mut self, profile: &RaProfile) -> Result<i64> {
        crate::pki::insert_ra_profile(&mut self.tx, profile).await
    }

    async fn insert_certificates(&mut self, certs: &[&CertificateRecord]) -> Result<Vec<i64>> {
        let node = self.chain.as_deref().unwrap_or("unlocked");
        crate::pki::insert_certificates(&mut self.tx, self.backend, node, certs).await
    }

    async fn insert_meta(&mut self, key: &str, value: &str) -> Result<bool> {
        let inserted = sqlx::query("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
            .bind(key)
            .bind(value)
            .execute(&mut *self.tx)
            .await
            .map_err(storage)?
            .rows_affected();
        Ok(inserted == 1)
    }

    async fn commit(self) -> Result<()> {
        self.tx.commit().await.map_err(storage)
    }

    async fn update_ra_profile(&mut self, profile: &RaProfile) -> Result<bool> {
        crate::pki::update_ra_profile(&mut self.tx, profile).await
    }

    async fn count_ra_profile_certificates(&mut self, id: i64) -> Result<u64> {
        crate::pki::count_ra_profile_certificates(&mut self.tx, id).await
    }

    async fn delete_ra_profile(&mut self, id: i64) -> Result<bool> {
        crate::pki::delete_ra_profile(&mut self.tx, id).await
    }

    async fn certificate_for_update(&mut self, uuid: Uuid) -> Result<Option<CertificateRecord>> {
        crate::pki::certificate_for_update(&mut self.tx, self.backend, uuid).await
    }

    async fn update_certificate_metadata(&mut self, id: i64, metadata: &CertificateMetadata) -> Result<()> {
        crate::pki::update_certificate_metadata(&mut self.tx, id, metadata).await
    }

    async fn insert_revocation(&mut self, revocation: &Revocation) -> Result<i64> {
        crate::revocation::insert_revocation(&mut self.tx, revocation).await
    }

    async fn update_revocation(&mut self, revocation: &Revocation) -> Result<()> {
        crate::revocation::update_revocation(&mut self.tx, revocation).await
    }

    async fn revocation_for_update(&mut self, authority_id: i64, serial: &str) -> Result<Option<Revocation>> {
        let lock = self.backend == Backend::Postgres;
        crate::revocation::revocation_by_serial(&mut self.tx, authority_id, serial, lock).await
    }

    async fn set_certificate_state(&mut self, id: i64, state: &str) -> Result<()> {
        crate::revocation::set_certificate_state(&mut self.tx, id, state).await
    }

    async fn destroy_key(&mut self, id: i64, at: EpochSeconds) -> Result<bool> {
        crate::revocation::destroy_key(&mut self.tx, id, at).await
    }

    async fn next_crl_number(&mut self, authority_id: i64) -> Result<u64> {
        crate::revocation::next_crl_number(&mut self.tx, authority_id).await
    }

    async fn put_crl(&mut self, crl: &StoredCrl) -> Result<()> {
        crate::revocation::put_crl(&mut self.tx, crl).await
    }

    async fn put_ocsp_responder(&mut self, responder: &OcspResponderRecord) -> Result<()> {
        crate::revocation::put_ocsp_responder(&mut self.tx, responder).await
    }

    async fn insert_request(&mut self, request: &RequestRecord) -> Result<i64> {
        crate::lifecycle::insert_request(&mut self.tx, request).await
    }

    async fn request_for_update(&mut self, uuid: Uuid) -> Result<Option<RequestRecord>> {
        let lock = self.backend == Backend::Postgres;
        crate::lifecycle::request_by(&mut self.tx, "uuid", uuid.to_string(), lock).await
    }

    async fn update_request(&mut self, request: &RequestRecord) -> Result<()> {
        crate::lifecycle::update_request(&mut self.tx, request).await
    }

    async fn insert_certificate_link(&mut self, certificate_id: i64, previous_id: i64, kind: LinkKind) -> Result<()> {
        crate::lifecycle::insert_link(&mut self.tx, certificate_id, previous_id, kind).await
    }

    async fn insert_revocation_request(&mut self, request: &RevocationRequest) -> Result<()> {
        crate::lifecycle::insert_revocation_request(&mut self.tx, request).await
    }

    async fn take_revocation_request(&mut self, certificate_id: i64) -> Result<Option<RevocationRequest>> {
        crate::lifecycle::revocation_request_of(&mut self.tx, certificate_id, true).await
    }

    async fn insert_approval(&mut self, approval: &Approval) -> Result<i64> {
        crate::lifecycle::insert_approval(&mut self.tx, approval).await
    }

    async fn approval_for_update(&mut self, uuid: Uuid) -> Result<Option<Approval>> {
        let lock = self.backend == Backend::Postgres;
        crate::lifecycle::approval_where(&mut self.tx, "uuid = $1", uuid.to_string(), lock).await
    }

    async fn pending_approval_of(&mut self, object_uuid: Uuid) -> Result<Option<Approval>> {
        let lock = self.backend == Backend::Postgres;
        let clause = "object_uuid = $1 AND status = 'pending'";
        crate::lifecycle::approval_where(&mut self.tx, clause, object_uuid.to_string(), lock).await
    }

    async fn insert_vote(&mut self, approval_id: i64, vote: &Vote) -> Result<()> {
        crate::lifecycle::insert_vote(&mut self.tx, approval_id, vote).await
    }

    async fn set_approval_status(&mut self, id: i64, status: ApprovalStatus, decided_at: EpochSeconds) -> Result<()> {
        crate::lifecycle::set_approval_status(&mut self.tx, id, status, decided_at).await
    }

    async fn stale_approvals(&mut self, now: EpochSeconds, limit: u32) -> Result<Vec<Approval>> {
        crate::lifecycle::stale_approvals(&mut self.tx, now, limit).await
    }

    async fn enqueue_job(&mut self, job: &NewJob, now: EpochSeconds) -> Result<Option<i64>> {
        crate::lifecycle::enqueue_job(&mut self.tx, job, now).await
    }

    async fn lease_jobs(
        &mut self,
        owner: &str,
        now: EpochSeconds,
        lease_until: EpochSeconds,
        limit: u32,
    ) -> Result<Vec<Job>> {
        crate::lifecycle::lease_jobs(&mut self.tx, self.backend, owner, now, lease_until, limit).await
    }

    async fn extend_lease(&mut self, id: i64, owner: &str, until: EpochSeconds) -> Result<bool> {
        let n = sqlx::query("UPDATE jobs SET lease_until = $1 WHERE id = $2 AND leased_by = $3 AND state = 'running'")
            .bind(until)
            .bind(id)
            .bind(owner)
            .execute(&mut *self.tx)
            .await
            .map_err(storage)?
            .rows_affected();
        Ok(n == 1)
    }

    async fn is_replaced(&mut self, certificate_id: i64) -> Result<bool> {
        let n: i64 = sqlx::query("SELECT COUNT(*) FROM certificate_links WHERE previous_id = $1")
            .bind(certificate_id)
            .fetch_one(&mut *self.tx)
            .await
            .and_then(|r| r.try_get(0))
            .map_err(storage)?;
        Ok(n > 0)
    }

    async fn finish_job(&mut self, id: i64, owner: &str, end: &JobEnd, now: EpochSeconds) -> Result<bool> {
        crate::lifecycle::finish_job(&mut self.tx, id, owner, end, now).await
    }

    async fn insert_notification_rule(&mut self, rule: &NotificationRule) -> Result<i64> {
        crate::lifecycle::insert_rule(&mut self.tx, rule).await
    }

    async fn delete_notification_rule(&mut self, uuid: Uuid) -> Result<bool> {
        crate::lifecycle::delete_rule(&mut self.tx, uuid).await
    }

    async fn mark_notified(
        &mut self,
        rule_id: i64,
        certificate_id: i64,
        threshold: u32,
        at: EpochSeconds,
    ) -> Result<bool> {
        crate::lifecycle::mark_notified(&mut self.tx, rule_id, certificate_id, threshold, at).await
    }

    async fn insert_component(
        &mut self,
        name: &str,
        now: EpochSeconds,
    ) -> Result<certwright_core::keystore::Component> {
        crate::keystore::insert_component(&mut self.tx, name, now).await
    }

    async fn insert_staged_certificate(&mut self, cert: &certwright_core::keystore::StagedCertificate) -> Result<i64> {
        crate::keystore::insert_staged_certificate(&mut self.tx, cert).await
    }

    async fn update_staged_certificate(&mut self, cert: &certwright_core::keystore::StagedCertificate) -> Result<bool> {
        crate::keystore::update_staged_certificate(&mut self.tx, cert).await
    }

    async fn insert_key_request(&mut self, request: &certwright_core::keystore::KeyRequest) -> Result<i64> {
        crate::keystore::insert_key_request(&mut self.tx, request).await
    }

    async fn delete_key_request(&mut self, id: i64) -> Result<bool> {
        crate::keystore::delete_key_request(&mut self.tx, id).await
    }

    async fn insert_staged_root(&mut self, root: &certwright_core::keystore::StagedRoot) -> Result<i64> {
        crate::keystore::insert_staged_root(&mut self.tx, root).await
    }

    async fn set_staged_root_status(
        &mut self,
        id: i64,
        status: certwright_core::keystore::StageStatus,
    ) -> Result<bool> {
        crate::keystore::set_staged_root_status(&mut self.tx, id, status).await
    }

    async fn insert_deploy_run(&mut self, run: &certwright_core::keystore::DeployRun) -> Result<i64> {
        crate::keystore::insert_deploy_run(&mut self.tx, run).await
    }

    async fn running_deploy_run(&mut self) -> Result<Option<certwright_core::keystore::DeployRun>> {
        crate::keystore::running_deploy_run(&mut self.tx, self.backend == Backend::Postgres).await
    }

    async fn count_staged_changes(&mut self) -> Result<i64> {
        crate::keystore::count_staged_changes(&mut self.tx).await
    }

    async fn apply_staged_changes(&mut self) -> Result<i64> {
        crate::keystore::apply_staged_changes(&mut self.tx).await
    }

    async fn finish_deploy_run(&mut self, run: &certwright_core::keystore::DeployRun) -> Result<bool> {
        crate::keystore::finish_deploy_run(&mut self.tx, run).await
    }

    async fn insert_scoped_certificate(&mut self, cert: &certwright_core::keystore::ScopedCertificate) -> Result<i64> {
        crate::keystore::insert_scoped_certificate(&mut self.tx, cert).await
    }

    async fn delete_scoped_certificate(&mut self, id: i64) -> Result<bool> {
        crate::keystore::delete_scoped_certificate(&mut self.tx, id).await
    }

    async fn count_scoped_signed_by(&mut self, id: i64) -> Result<u64> {
        crate::keystore::count_scoped_signed_by(&mut self.tx, id).await
    }

    // ---- discovery -------------------------------------------------------------------------------------------

    async fn insert_discovery_run(&mut self, run: &certwright_core::discovery::DiscoveryRun) -> Result<i64> {
        crate::discovery::insert(&mut self.tx, run).await
    }

    async fn discovery_run_for_update(
        &mut self,
        uuid: Uuid,
    ) -> Result<Option<certwright_core::discovery::DiscoveryRun>> {
        let lock = self.backend == Backend::Postgres;
        crate::discovery::by_uuid(&mut self.tx, uuid, lock).await
    }

    async fn update_discovery_run(&mut self, run: &certwright_core::discovery::DiscoveryRun) -> Result<()> {
        crate::discovery::update(&mut self.tx, run).await
    }

    async fn certificate_by_fingerprint(&mut self, fingerprint: &str) -> Result<Option<(i64, Uuid)>> {
        crate::discovery::certificate_by_fingerprint(&mut self.tx, fingerprint).await
    }

    async fn record_sighting(
        &mut self,
        run_id: i64,
        sighting: &certwright_core::discovery::NewSighting,
        new_certificate: bool,
        now: EpochSeconds,
    ) -> Result<u64> {
        crate::discovery::record_sighting(&mut self.tx, run_id, sighting, new_certificate, now).await
    }

    async fn mark_sightings_gone(&mut self, run_id: i64, ids: &[i64], now: EpochSeconds) -> Result<u64> {
        crate::discovery::mark_gone(&mut self.tx, run_id, ids, now).await
    }

    // ---- deployment ------------------------------------------------------------------------------------------

    async fn insert_location(&mut self, location: &certwright_core::deploy::Location) -> Result<i64> {
        crate::deploy::insert_location(&mut self.tx, location).await
    }

    async fn location_by_id(&mut self, id: i64) -> Result<Option<certwright_core::deploy::Location>> {
        crate::deploy::location_by_id(&mut self.tx, id).await
    }

    async fn delete_location(&mut self, id: i64) -> Result<bool> {
        crate::deploy::delete_location(&mut self.tx, id).await
    }

    async fn insert_deployment(&mut self, deployment: &certwright_core::deploy::Deployment) -> Result<i64> {
        crate::deploy::insert_deployment(&mut self.tx, deployment).await
    }

    async fn deployment_for_update(&mut self, uuid: Uuid) -> Result<Option<certwright_core::deploy::Deployment>> {
        let lock = self.backend == Backend::Postgres;
        crate::deploy::deployment_by_uuid(&mut self.tx, uuid, lock).await
    }

    async fn update_deployment(&mut self, deployment: &certwright_core::deploy::Deployment) -> Result<()> {
        crate::deploy::update_deployment(&mut self.tx, deployment).await
    }

    async fn deployed_locations(&mut self, certificate_id: i64) -> Result<Vec<i64>> {
        crate::deploy::deployed_locations(&mut self.tx, certificate_id).await
    }

    // ---- end entities ----------------------------------------------------------------------------------------

    async fn insert_oauth1_credential(
        &mut self,
        credential: &certwright_core::oauth1::Oauth1Credential,
    ) -> Result<i64> {
        crate::oauth1::insert(&mut self.tx, credential).await
    }

    async fn oauth1_credential_by_uuid(
        &mut self,
        uuid: Uuid,
    ) -> Result<Option<certwright_core::oauth1::Oauth1Credential>> {
        crate::oauth1::by_uuid(&mut self.tx, uuid).await
    }

    async fn revoke_oauth1_credential(&mut self, id: i64, now: EpochSeconds) -> Result<bool> {
        crate::oauth1::revoke(&mut self.tx, id, now).await
    }

    async fn insert_organization(&mut self, organization: &certwright_core::forms::Organization) -> Result<i64> {
        crate::forms::insert_organization(&mut self.tx, organization).await
    }

    async fn ensure_catalog_term(&mut self, kind: &str, name: &str, now: EpochSeconds) -> Result<i64> {
        crate::forms::ensure_term(&mut self.tx, kind, name, now).await
    }

    async fn insert_request_form(
        &mut self,
        form: &certwright_core::forms::RequestForm,
        term_ids: &[i64],
    ) -> Result<i64> {
        crate::forms::insert_form(&mut self.tx, form, term_ids).await
    }

    async fn request_form_for_update(&mut self, id: i64) -> Result<Option<certwright_core::forms::RequestForm>> {
        let lock = self.backend == Backend::Postgres;
        crate::forms::form_for_update(&mut self.tx, id, lock).await
    }

    async fn update_request_form(
        &mut self,
        form: &certwright_core::forms::RequestForm,
        term_ids: Option<&[i64]>,
    ) -> Result<()> {
        crate::forms::update_form(&mut self.tx, form, term_ids).await
    }

    async fn set_key_password(&mut self, key_id: i64, hash: &str) -> Result<()> {
        crate::forms::set_key_password(&mut self.tx, key_id, hash).await
    }

    async fn set_revocation_password(&mut self, certificate_id: i64, hash: &str) -> Result<()> {
        crate::forms::set_revocation_password(&mut self.tx, certificate_id, hash).await
    }

    // ---- publication -----------------------------------------------------------------------------------------

    async fn device_for_update(
        &mut self,
        key: &certwright_core::publication::DeviceKey,
    ) -> Result<Option<certwright_core::publication::Device>> {
        let lock = self.backend == Backend::Postgres;
        crate::publication::device_by(&mut self.tx, key, lock).await
    }

    async fn insert_device(&mut self, device: &certwright_core::publication::Device) -> Result<i64> {
        crate::publication::insert_device(&mut self.tx, device).await
    }

    async fn update_device(&mut self, device: &certwright_core::publication::Device) -> Result<()> {
        crate::publication::update_device(&mut self.tx, device).await
    }

    async fn credential_for_update(
        &mut self,
        key: &certwright_core::publication::CredentialKey,
    ) -> Result<Option<certwright_core::publication::Credential>> {
        let lock = self.backend == Backend::Postgres;
        crate::publication::credential_by(&mut self.tx, key, lock).await
    }

    async fn insert_credential(&mut self, credential: &certwright_core::publication::Credential) -> Result<i64> {
        crate::publication::insert_credential(&mut self.tx, credential).await
    }

    async fn update_credential(&mut self, credential: &certwright_core::publication::Credential) -> Result<()> {
        crate::publication::update_credential(&mut self.tx, credential).await
    }

    async fn publication_profile_for_update(
        &mut self,
        id: i64,
    ) -> Result<Option<certwright_core::publication::PublicationProfile>> {
        let lock = self.backend == Backend::Postgres;
        crate::publication::profile_by_id(&mut self.tx, id, lock).await
    }

    async fn insert_publication_profile(
        &mut self,
        profile: &certwright_core::publication::PublicationProfile,
    ) -> Result<i64> {
        crate::publication::insert_profile(&mut self.tx, profile).await
    }

    async fn update_publication_profile(
        &mut self,
        profile: &certwright_core::publication::PublicationProfile,
    ) -> Result<()> {
        crate::publication::update_profile(&mut self.tx, profile).await
    }

    async fn location_for_update(&mut self, name: &str) -> Result<Option<certwright_core::deploy::Location>> {
        let lock = self.backend == Backend::Postgres;
        crate::publication::location_by_name(&mut self.tx, name, lock).await
    }

    async fn update_location(&mut self, location: &certwright_core::deploy::Location) -> Result<()> {
        crate::publication::update_location(&mut self.tx, location).await
    }

    async fn insert_publication(&mut self, publication: &certwright_core::publication::Publication) -> Result<i64> {
        crate::publication::insert_publication(&mut self.tx, publication).await
    }

    async fn insert_publication_target(
        &mut self,
        publication_id: i64,
        target: &certwright_core::publication::PublicationTarget,
    ) -> Result<()> {
        crate::publication::insert_target(&mut self.tx, publication_id, target).await
    }

    async fn insert_end_entity(&mut self, entity: &certwright_core::end_entity::EndEntity) -> Result<i64> {
        crate::end_entity::insert(&mut self.tx, entity).await
    }

    async fn end_entity_for_update(
        &mut self,
        ra_profile_id: i64,
        username: &str,
    ) -> Result<Option<certwright_core::end_entity::EndEntity>> {
        let lock = self.backend == Backend::Postgres;
        crate::end_entity::by_username(&mut self.tx, ra_profile_id, username, lock).await
    }

    async fn update_end_entity(&mut self, entity: &certwright_core::end_entity::EndEntity) -> Result<()> {
        crate::end_entity::update(&mut self.tx, entity).await
    }

    async fn delete_end_entity(&mut self, id: i64) -> Result<bool> {
        crate::end_entity::delete(&mut self.tx, id).await
    }

    async fn link_end_entity_certificate(&mut self, end_entity_id: i64, certificate_id: i64) -> Result<()> {
        crate::end_entity::link(&mut self.tx, end_entity_id, certificate_id).await
    }

    async fn end_entity_certificates(&mut self, end_entity_id: i64) -> Result<Vec<Uuid>> {
        crate::end_entity::certificates(&mut self.tx, end_entity_id).await
    }
}
