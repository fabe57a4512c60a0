//! The sqlx-backed store: connection set-up per backend and the read side of the `Store` port.

use crate::rows;
use crate::tx::SqlTx;
use certwright_core::audit::{ChainHead, Event, EventFilter};
use certwright_core::auth::{ApiToken, OAuthClient};
use certwright_core::ca::{Authority, CertificateFilter, CertificateRecord, RaProfile, StoredKey};
use certwright_core::clock::EpochSeconds;
use certwright_core::inventory::{InventoryOrder, InventoryPage};
use certwright_core::jobs::{Job, JobFilter};
use certwright_core::lifecycle::{Approval, ApprovalStatus, CertificateLink, RequestRecord, RevocationRequest, State};
use certwright_core::notify::NotificationRule;
use certwright_core::page::{Listed, Page};
use certwright_core::revocation::{
    CrlKind, EntrySelection, OcspResponderRecord, Revocation, RevokedEntries, StoredCrl,
};
use certwright_core::store::{ExpiringQuery, InventorySummary, OAuthClientRecord, Readiness, Store};
use certwright_core::{CoreError, Result};
use sqlx::any::{AnyArguments, AnyPoolOptions};
use sqlx::query::Query;
use sqlx::{Any, AnyPool, Executor, Row};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use uuid::Uuid;

/// Which database engine a store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// Picks the backend from a database URL.
    pub fn from_url(url: &str) -> Result<Self> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(CoreError::invalid(
                "config.invalid_database_url",
                "database_url must start with sqlite: or postgres://",
            ))
        }
    }
}

fn sqlite_url(path: &Path, mode: &str) -> Result<String> {
    let path = path
        .to_str()
        .ok_or_else(|| CoreError::invalid("config.invalid_data_dir", "the data directory path must be valid UTF-8"))?;
    Ok(format!("sqlite://{path}?mode={mode}"))
}

pub(crate) fn storage(e: sqlx::Error) -> CoreError {
    CoreError::Storage(e.to_string())
}

/// A `Store` on SQLite or PostgreSQL.
#[derive(Debug, Clone)]
pub struct SqlStore {
    pool: AnyPool,
    backend: Backend,
    /// SQLite's one writer (`None` on PostgreSQL, where transactions come from `pool`).
    writer: Option<SqliteWriter>,
}

/// SQLite admits one writer at a time; queueing writers for their turn, in order, is fairer and faster than
/// letting them poll SQLite's busy handler. Transactions run on a connection of their own.
#[derive(Debug, Clone)]
struct SqliteWriter {
    turn: Arc<Mutex<()>>,
    pool: AnyPool,
}

/// A pool of SQLite connections set up for this store: WAL, foreign keys, no automatic checkpoints (see
/// [`checkpoint_in_background`]), and the database file mapped into memory (up to SQLite's 2 GiB cap), so that
/// every connection reads pages from the one operating-system page cache instead of copying each into its own
/// (a search across a large inventory touches more pages than a connection's cache holds).
fn sqlite_pool(connections: u32) -> AnyPoolOptions {
    AnyPoolOptions::new().acquire_timeout(Duration::from_secs(10)).max_connections(connections).after_connect(
        |conn, _| {
            Box::pin(async move {
                conn.execute(
                    "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; \
                     PRAGMA synchronous = NORMAL; PRAGMA cache_size = -16384; PRAGMA temp_store = MEMORY; \
                     PRAGMA wal_autocheckpoint = 0; PRAGMA mmap_size = 2147418112;",
                )
                .await
                .map(|_| ())
            })
        },
    )
}

impl SqlStore {
    /// Opens (creating when missing) the SQLite database file at `path` and applies migrations.
    pub async fn open_sqlite(path: &Path) -> Result<Self> {
        let path = path.to_str().ok_or_else(|| {
            CoreError::invalid("config.invalid_data_dir", "the data directory path must be valid UTF-8")
        })?;
        Self::connect(&format!("sqlite://{path}?mode=rwc")).await
    }

    /// Connects to `url` (`sqlite:` or `postgres://`) and applies pending migrations.
    pub async fn connect(url: &str) -> Result<Self> {
        let store = Self::connect_unmigrated(url).await?;
        crate::migrate::run(&store.pool, store.backend).await?;
        if store.backend == Backend::Postgres {
            tokio::spawn(fold_label_counts_in_background(store.pool.clone()));
        }
        Ok(store)
    }

    /// Folds the label-count changes that statements appended on PostgreSQL into the settled count of each label
    /// (migration 0017); returns how many labels' settled counts changed (0 also when another node of this
    /// schema is folding at that moment). Nothing to do on SQLite, whose triggers update
    /// the counts in place. Runs every few seconds by itself; one node folds at a time.
    pub async fn fold_label_counts(&self) -> Result<u64> {
        match self.backend {
            Backend::Postgres => fold_label_counts(&self.pool).await.map_err(storage),
            Backend::Sqlite => Ok(0),
        }
    }

    /// Opens an existing SQLite database without migrating it (for maintenance commands).
    pub async fn open_sqlite_unmigrated(path: &Path) -> Result<Self> {
        Self::connect_unmigrated(&sqlite_url(path, "rw")?).await
    }

    /// Connects without applying migrations (for maintenance commands that must not change the schema).
    pub async fn connect_unmigrated(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url)?;
        let opened = |e: sqlx::Error| CoreError::Storage(format!("cannot open the database: {e}"));
        let (pool, writer) = match backend {
            Backend::Sqlite => {
                let pool = sqlite_pool(8).connect(url).await.map_err(opened)?;
                // Every write goes through one connection, whose page cache therefore stays warm.
                let write_pool = sqlite_pool(1).connect(url).await.map_err(opened)?;
                let writer = SqliteWriter { turn: Arc::new(Mutex::new(())), pool: write_pool };
                tokio::spawn(checkpoint_in_background(pool.clone(), writer.clone()));
                (pool, Some(writer))
            }
            Backend::Postgres => {
                let pool = AnyPoolOptions::new()
                    .acquire_timeout(Duration::from_secs(10))
                    .max_connections(16)
                    .connect(url)
                    .await
                    .map_err(opened)?;
                (pool, None)
            }
        };
        Ok(Self { pool, backend, writer })
    }

    /// The engine behind this store.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Closes every pooled connection (checkpointing SQLite's WAL).
    pub async fn close(&self) {
        if let Some(writer) = &self.writer {
            writer.pool.close().await;
        }
        self.pool.close().await;
    }

    /// Folds SQLite's write-ahead log into the database file and empties it (a no-op on PostgreSQL): afterwards
    /// the database file alone holds everything committed, so it can be moved without its `-wal`. Holds the
    /// writers' turn, and waits out a background checkpoint that is running at the same moment.
    pub async fn checkpoint_wal(&self) -> Result<()> {
        let Some(writer) = &self.writer else { return Ok(()) };
        let _turn = writer.turn.lock().await;
        for _ in 0..250 {
            let row = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").fetch_one(&writer.pool).await.map_err(storage)?;
            let busy: i64 = row.try_get(0).map_err(storage)?;
            if busy == 0 {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Err(CoreError::Storage("the write-ahead log stayed busy: it could not be folded into the database".to_owned()))
    }

    /// The connection pool, for tests that need to reach under the port (tampering with audit rows).
    pub fn danger_pool(&self) -> &AnyPool {
        &self.pool
    }
}

async fn count<'q>(pool: &AnyPool, q: Query<'q, Any, AnyArguments<'q>>) -> Result<u64> {
    let n: i64 = q.fetch_one(pool).await.and_then(|r| r.try_get(0)).map_err(storage)?;
    Ok(u64::try_from(n).unwrap_or(0))
}

pub(crate) fn window(page: Page) -> (i64, i64) {
    (i64::from(page.limit()), i64::try_from(page.offset()).unwrap_or(i64::MAX))
}

impl Store for SqlStore {
    type Tx = SqlTx;

    async fn acme_account(&self, uuid: Uuid) -> Result<Option<certwright_core::acme::Account>> {
        let mut conn = self.pool.acquire().await.map_err(storage)?;
        crate::acme::account_by_uuid(&mut conn, uuid, false).await
    }

    async fn acme_account_by_key(
        &self,
        ra_profile_id: i64,
        thumbprint: &str,
    ) -> Result<Option<certwright_core::acme::Account>> {
        let mut conn = self.pool.acquire().await.map_err(storage)?;
        crate::acme::account_by_key(&mut conn, ra_profile_id, thumbprint).await
    }

    async fn acme_eab_key(&self, kid: &str) -> Result<Option<certwright_core::acme::EabKey>> {
        let mut conn = self.pool.acquire().await.map_err(storage)?;
        crate::acme::eab_key_by_kid(&mut conn, kid).await
    }

    async fn acme_eab_keys(&self) -> Result<Vec<certwright_core::acme::EabKey>> {
        let mut conn = self.pool.acquire().await.map_err(storage)?;
        crate::acme::eab_keys(&mut conn).await
    }

    async fn acme_order(&self, uuid: Uuid) -> Result<Option<certwright_core::acme::Order>> {
        let mut conn = self.pool.acquire().await.map_err(storage)?;
        crate::acme::order_where(&mut conn, "o.uuid = $1", uuid.to_string(), false).await
    }

    async fn acme_order_of_certificate(&self, certificate_id: i64) -> Result<Option<certwright_core::acme::Order>> {
        let mut conn = self.pool.acquire().await.map_err(storage)?;
        crate::acme::order_where(&mut conn, "o.certificate_id = $1", certificate_id, false).await
    }

    async fn acme_order_replacing(&self, certificate_id: i64) -> Result<Option<certwright_core::acme::Order>> {
        let mut conn = self.pool.acquire().await.map_err(storage)?;
        crate::acme::order_where(
            &mut conn,
            "o.replaces_certificate_id = $1 AND o.status <> 'invalid'",
            certificate_id,
            false,
        )
        .await
    }

    async fn acme_orders_of_account(
        &self,
        account_id: i64,
        before_id: Option<i64>,
        limit: u32,
    ) -> Result<Vec<certwright_core::acme::Order>> {
        let mut conn = self.pool.acquire().await.map_err(storage)?;
        crate::acme::orders_of_account(&mut conn, account_id, before_id, limit).await
    }

    async fn acme_authorization(&self, uuid: Uuid) -> Result<Option<certwright_core::acme::Authorization>> {
        let mut conn = self.pool.acquire().await.map_err(storage)?;
        crate::acme::authorization_by_uuid(&mut conn, uuid, false).await
    }

    async fn acme_authorizations(&self, uuids: &[Uuid]) -> Result<Vec<certwright_core::acme::Authorization>> {
        let mut conn = self.pool.acquire().await.map_err(storage)?;
        crate::acme::authorizations(&mut conn, uuids).await
    }

    async fn acme_reusable_authorization(
        &self,
        account_id: i64,
        identifier: &certwright_core::acme::Identifier,
        wildcard: bool,
        valid_after: EpochSeconds,
    ) -> Result<Option<certwright_core::acme::Authorization>> {
        let mut conn = self.pool.acquire().await.map_err(storage)?;
        crate::acme::reusable_authorization(&mut conn, account_id, identifier, wildcard, valid_after).await
    }

    async fn begin(&self) -> Result<SqlTx> {
        let (turn, pool) = match &self.writer {
            Some(w) => (Some(w.turn.clone().lock_owned().await), &w.pool),
            None => (None, &self.pool),
        };
        let tx = pool.begin().await.map_err(storage)?;
        Ok(SqlTx::new(tx, self.backend, turn))
    }

    async fn readiness(&self) -> Result<Readiness> {
        Ok(Readiness {
            migrations_expected: crate::migrate::expected(),
            migrations_applied: crate::migrate::applied(&self.pool, self.backend).await?,
        })
    }

    async fn token_by_hash(&self, secret_hash: &str) -> Result<Option<ApiToken>> {
        let sql = format!("{} WHERE t.secret_hash = $1", rows::TOKEN_SELECT);
        let row = sqlx::query(&sql).bind(secret_hash).fetch_optional(&self.pool).await.map_err(storage)?;
        row.as_ref().map(rows::token).transpose()
    }

    async fn list_tokens(&self, page: Page, include_inactive: bool, now: EpochSeconds) -> Result<Listed<ApiToken>> {
        let filter = "WHERE ($2 = 1 OR (t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > $1)))";
        let all = i64::from(include_inactive);
        let total =
            count(&self.pool, sqlx::query(&format!("SELECT COUNT(*) FROM api_tokens t {filter}")).bind(now).bind(all))
                .await?;
        let (limit, offset) = window(page);
        let sql = format!("{} {filter} ORDER BY t.id DESC LIMIT $3 OFFSET $4", rows::TOKEN_SELECT);
        let items = sqlx::query(&sql)
            .bind(now)
            .bind(all)
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.pool)
            .await
            .map_err(storage)?
            .iter()
            .map(rows::token)
            .collect::<Result<_>>()?;
        Ok(Listed { items, total })
    }

    async fn oauth_client(&self, uuid: Uuid) -> Result<Option<OAuthClientRecord>> {
        let sql = format!("{} WHERE c.uuid = $1 AND c.deleted_at IS NULL", rows::CLIENT_SELECT);
        let row = sqlx::query(&sql).bind(uuid.to_string()).fetch_optional(&self.pool).await.map_err(storage)?;
        row.as_ref()
            .map(|r| {
                Ok(OAuthClientRecord {
                    client: rows::client(r)?,
                    secret_hash: r.try_get("secret_hash").map_err(storage)?,
                })
            })
            .transpose()
    }

    async fn list_oauth_clients(&self, page: Page) -> Result<Listed<OAuthClient>> {
        let total =
            count(&self.pool, sqlx::query("SELECT COUNT(*) FROM oauth_clients WHERE deleted_at IS NULL")).await?;
        let (limit, offset) = window(page);
        let sql = format!("{} WHERE c.deleted_at IS NULL ORDER BY c.id DESC LIMIT $1 OFFSET $2", rows::CLIENT_SELECT);
        let items = sqlx::query(&sql)
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.pool)
            .await
            .map_err(storage)?
            .iter()
            .map(rows::client)
            .collect::<Result<_>>()?;
        Ok(Listed { items, total })
    }

    async fn list_events(&self, filter: &EventFilter, page: Page) -> Result<Listed<Event>> {
        let (clause, binds) = rows::event_filter(filter);
        let total =
            count(&self.pool, rows::bind_all(sqlx::query(&format!("SELECT COUNT(*) FROM events {clause}")), &binds))
                .await?;
        let (limit, offset) = window(page);
        let n = binds.len();
        let sql = format!("{} {clause} ORDER BY id DESC LIMIT ${} OFFSET ${}", rows::EVENT_SELECT, n + 1, n + 2);
        let items = rows::bind_all(sqlx::query(&sql), &binds)
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.pool)
            .await
            .map_err(storage)?
            .iter()
            .map(rows::event)
            .collect::<Result<_>>()?;
        Ok(Listed { items, total })
    }

    async fn meta(&self, key: &str) -> Result<Option<String>> {
        sqlx::query("SELECT value FROM meta WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .and_then(|r| r.map(|r| r.try_get(0)).transpose())
            .map_err(storage)
    }

    async fn authorities(&self) -> Result<Vec<Authority>> {
        sqlx::query(&format!("{} ORDER BY id", crate::pki::AUTHORITY_SELECT))
            .fetch_all(&self.pool)
            .await
            .map_err(storage)?
            .iter()
            .map(crate::pki::authority)
            .collect()
    }

    async fn key(&self, id: i64) -> Result<Option<StoredKey>> {
        let row = sqlx::query(&format!("{} WHERE id = $1", crate::pki::KEY_SELECT))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(storage)?;
        row.as_ref().map(crate::pki::key).transpose()
    }

    async fn ra_profiles(&self) -> Result<Vec<RaProfile>> {
        sqlx::query(&format!("{} ORDER BY name", crate::pki::PROFILE_SELECT))
            .fetch_all(&self.pool)
            .await
            .map_err(storage)?
            .iter()
            .map(crate::pki::profile)
            .collect()
    }

    async fn certificate(&self, uuid: Uuid) -> Result<Option<CertificateRecord>> {
        let row = sqlx::query(&format!("{} WHERE uuid = $1", crate::pki::CERT_SELECT))
            .bind(uuid.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(storage)?;
        row.as_ref().map(crate::pki::certificate).transpose()
    }

    async fn certificate_by_serial(&self, authority: &Authority, serial: &str) -> Result<Option<CertificateRecord>> {
        let row = sqlx::query(&format!("{} WHERE issuer = $1 AND serial = $2", crate::pki::CERT_SELECT))
            .bind(authority.subject.as_str())
            .bind(serial)
            .fetch_optional(&self.pool)
            .await
            .map_err(storage)?;
        row.as_ref().map(crate::pki::certificate).transpose()
    }

    async fn revocation(&self, authority_id: i64, serial: &str) -> Result<Option<Revocation>> {
        let mut conn = self.pool.acquire().await.map_err(storage)?;
        crate::revocation::revocation_by_serial(&mut conn, authority_id, serial, false).await
    }

    async fn revoked_entries(&self, authority_id: i64, selection: EntrySelection) -> Result<RevokedEntries> {
        let mut conn = self.pool.acquire().await.map_err(storage)?;
        crate::revocation::revoked_entries(&mut conn, self.backend, authority_id, selection).await
    }

    async fn revocations_changed_since(&self, since: EpochSeconds) -> Result<Vec<(i64, String)>> {
        let mut conn = self.pool.acquire().await.map_err(storage)?;
        crate::revocation::changed_since(&mut conn, since).await
    }

    async fn crl(&self, authority_id: i64, kind: CrlKind) -> Result<Option<StoredCrl>> {
        let mut conn = self.pool.acquire().await.map_err(storage)?;
        crate::revocation::crl(&mut conn, authority_id, kind, true).await
    }

    async fn crl_summary(&self, authority_id: i64, kind: CrlKind) -> Result<Option<StoredCrl>> {
        let mut conn = self.pool.acquire().await.map_err(storage)?;
        crate::revocation::crl(&mut conn, authority_id, kind, false).await
    }

    async fn ocsp_responder(&self, authority_id: i64) -> Result<Option<OcspResponderRecord>> {
        let mut conn = self.pool.acquire().await.map_err(storage)?;
        crate::revocation::ocsp_responder(&mut conn, authority_id).await
    }

    async fn certificate_by_idempotency_key(&self, created_by: &str, key: &str) -> Result<Option<CertificateRecord>> {
        let row = sqlx::query(&format!("{} WHERE created_by = $1 AND idempotency_key = $2", crate::pki::CERT_SELECT))
            .bind(created_by)
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(storage)?;
        row.as_ref().map(crate::pki::certificate).transpose()
    }

    async fn list_certificates(
        &self,
        filter: &CertificateFilter,
        order: &InventoryOrder,
        page: Page,
    ) -> Result<InventoryPage> {
        crate::pki::list_certificates(&self.pool, self.backend, filter, order, page).await
    }

    async fn chain_heads(&self) -> Result<Vec<ChainHead>> {
        sqlx::query("SELECT chain, seq, hash FROM audit_chains ORDER BY chain")
            .fetch_all(&self.pool)
            .await
            .map_err(storage)?
            .iter()
            .map(rows::chain_head)
            .collect()
    }

    async fn chain_events(&self, chain: &str, after_seq: i64, limit: u32) -> Result<Vec<Event>> {
        let sql = format!("{} WHERE chain = $1 AND seq > $2 ORDER BY seq LIMIT $3", rows::EVENT_SELECT);
        sqlx::query(&sql)
            .bind(chain)
            .bind(after_seq)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(storage)?
            .iter()
            .map(rows::event)
            .collect()
    }

    async fn certificate_by_id(&self, id: i64) -> Result<Option<CertificateRecord>> {
        let sql = format!("{} WHERE id = $1", crate::pki::CERT_SELECT);
        let row = sqlx::query(&sql).bind(id).fetch_optional(&self.pool).await.map_err(storage)?;
        row.as_ref().map(crate::pki::certificate).transpose()
    }

    async fn approval_of(&self, object_uuid: Uuid) -> Result<Option<Approval>> {
        let mut conn = self.pool.acquire().await.map_err(storage)?;
        let clause = "id = (SELECT MAX(id) FROM approvals WHERE object_uuid = $1)";
        crate::lifecycle::approval_where(&mut conn, clause, object_uuid.to_string(), false).await
    }

    async fn request(&self, uuid: Uuid) -> Result<Option<RequestRecord>> {
        let mut conn = self.pool.acquire().await.map_err(storage)?;
        crate::lifecycle::request_by(&mut conn, "uuid", uuid.to_string(), false).await
    }

    async fn request_by_idempotency_key(&self, created_by: &str, key: &str) -> Result<Option<RequestRecord>> {
        let mut conn = self.pool.acquire().await.map_err(storage)?;
        crate::lifecycle::request_by_idempotency_key(&mut conn, created_by, key).await
    }

    async fn request_of_certificate(&self, certificate_id: i64) -> Result<Option<RequestRecord>> {
        let mut conn = self.pool.acquire().await.map_err(storage)?;
        crate::lifecycle::request_of_certificate(&mut conn, certificate_id).await
    }

    async fn list_requests(&self, state: Option<State>, page: Page) -> Result<Listed<RequestRecord>> {
        let mut conn = self.pool.acquire().await.map_err(storage)?;
        crate::lifecycle::list_requests(&mut conn, state, page).await
    }

    async fn certificate_links(&self, certificate_id: i64) -> Result<Vec<CertificateLink>> {
        let mut conn = self.pool.acquire().await.map_err(storage)?;
        crate::lifecycle::certificate_links(&mut conn, certificate_id).await
    }

    async fn revocation_request(&self, certificate_id: i64) -> Result<Option<RevocationRequest>> {
        let mut conn = self.pool.acquire().await.map_err(storage)?;
        crate::lifecycle::revocation_request_of(&mut conn, certificate_id, false).await
    }

    async fn approval(&self, uuid: Uuid) -> Result<Option<Approval>> {
        let mut conn = self.pool.acquire().await.map_err(storage)?;
        crate::lifecycle::approval_where(&mut conn, "uuid = $1", uuid.to_string(), false).await
    }

    async fn list_approvals(&self, status: Option<ApprovalStatus>, page: Page) -> Result<Listed<Approval>> {
        let mut conn = self.pool.acquire().await.map_err(storage)?;
        crate::lifecycle::list_approvals(&mut conn, status, page).await
    }

    async fn job_by_dedupe_key(&self, key: &str) -> Result<Option<Job>> {
        let mut conn = self.pool.acquire().await.map_err(storage)?;
        crate::lifecycle::job_by_dedupe_key(&mut conn, key).await
    }

    async fn job(&self, uuid: Uuid) -> Result<Option<Job>> {
        let mut conn = self.pool.acquire().await.map_err(storage)?;
        crate::lifecycle::job_by_uuid(&mut conn, uuid).await
    }

    async fn list_jobs(&self, filter: &JobFilter, page: Page) -> Result<Listed<Job>> {
        let mut conn = self.pool.acquire().await.map_err(storage)?;
        crate::lifecycle::list_jobs(&mut conn, filter, page).await
    }

    async fn notification_rules(&self) -> Result<Vec<NotificationRule>> {
        let mut conn = self.pool.acquire().await.map_err(storage)?;
        crate::lifecycle::notification_rules(&mut conn).await
    }

    async fn expiring_certificates(&self, query: &ExpiringQuery) -> Result<Vec<CertificateRecord>> {
        let mut conn = self.pool.acquire().await.map_err(storage)?;
        crate::lifecycle::expiring(&mut conn, query).await
    }

    async fn inventory_summary(&self, now: EpochSeconds, window_days: u32) -> Result<InventorySummary> {
        let mut conn = self.pool.acquire().await.map_err(storage)?;
        crate::lifecycle::inventory_summary(&mut conn, now, window_days).await
    }

    async fn components(&self) -> Result<Vec<certwright_core::keystore::Component>> {
        let mut conn = self.pool.acquire().await.map_err(storage)?;
        crate::keystore::components(&mut conn).await
    }

    async fn staged_certificates(&self) -> Result<Vec<certwright_core::keystore::StagedCertificate>> {
        let mut conn = self.pool.acquire().await.map_err(storage)?;
        crate::keystore::staged_certificates(&mut conn, None).await
    }

    async fn staged_certificate(&self, id: i64) -> Result<Option<certwright_core::keystore::StagedCertificate>> {
        let mut conn = self.pool.acquire().await.map_err(storage)?;
        Ok(crate::keystore::staged_certificates(&mut conn, Some(id)).await?.into_iter().next())
    }

    async fn key_requests(&self) -> Result<Vec<certwright_core::keystore::KeyRequest>> {
        let mut conn = self.pool.acquire().await.map_err(storage)?;
        crate::keystore::key_requests(&mut conn).await
    }

    async fn staged_roots(&self) -> Result<Vec<certwright_core::keystore::StagedRoot>> {
        let mut conn = self.pool.acquire().await.map_err(storage)?;
        crate::keystore::staged_roots(&mut conn).await
    }

    async fn latest_deploy_run(&self) -> Result<Option<certwright_core::keystore::DeployRun>> {
        let mut conn = self.pool.acquire().await.map_err(storage)?;
        crate::keystore::latest_deploy_run(&mut conn).await
    }

    async fn certificate_by_issuer_serial(&self, issuer: &str, serial: &str) -> Result<Option<CertificateRecord>> {
        let mut conn = self.pool.acquire().await.map_err(storage)?;
        crate::keystore::certificate_by_issuer_serial(&mut conn, issuer, serial).await
    }

    async fn scoped_certificates(
        &self,
        filter: &certwright_core::keystore::ScopeFilter,
        page: Page,
    ) -> Result<Listed<certwright_core::keystore::ScopedCertificate>> {
        let mut conn = self.pool.acquire().await.map_err(storage)?;
        crate::keystore::scoped_certificates(&mut conn, filter, page).await
    }

    async fn scoped_certificate(&self, uuid: Uuid) -> Result<Option<certwright_core::keystore::ScopedCertificate>> {
        let mut conn = self.pool.acquire().await.map_err(storage)?;
        crate::keystore::scoped_certificate(&mut conn, uuid).await
    }

    async fn scoped_certificate_by_name(
        &self,
        scope: &certwright_core::keystore::Scope,
        name: &str,
    ) -> Result<Option<certwright_core::keystore::ScopedCertificate>> {
        let mut conn = self.pool.acquire().await.map_err(storage)?;
        crate::keystore::scoped_certificate_by_name(&mut conn, scope, name).await
    }

    // ---- discovery -------------------------------------------------------------------------------------------

    async fn discovery_run(&self, uuid: Uuid) -> Result<Option<certwright_core::discovery::DiscoveryRun>> {
        let mut conn = self.pool.acquire().await.map_err(storage)?;
        crate::discovery::by_uuid(&mut conn, uuid, false).await
    }

    async fn list_discovery_runs(&self, page: Page) -> Result<Listed<certwright_core::discovery::DiscoveryRun>> {
        let mut conn = self.pool.acquire().await.map_err(storage)?;
        crate::discovery::list(&mut conn, page).await
    }

    async fn discovery_results(
        &self,
        run_id: i64,
        gone: bool,
        page: Page,
    ) -> Result<Listed<certwright_core::discovery::RunResult>> {
        let mut conn = self.pool.acquire().await.map_err(storage)?;
        crate::discovery::results(&mut conn, run_id, gone, page).await
    }

    async fn certificate_sightings(&self, certificate_id: i64) -> Result<Vec<certwright_core::discovery::Sighting>> {
        let mut conn = self.pool.acquire().await.map_err(storage)?;
        crate::discovery::of_certificate(&mut conn, certificate_id).await
    }

    async fn active_sightings(
        &self,
        kind: &str,
        after: i64,
        limit: u32,
    ) -> Result<Vec<certwright_core::discovery::Sighting>> {
        let mut conn = self.pool.acquire().await.map_err(storage)?;
        crate::discovery::active(&mut conn, kind, after, limit).await
    }

    // ---- deployment ------------------------------------------------------------------------------------------

    async fn location(&self, key: &str) -> Result<Option<certwright_core::deploy::Location>> {
        let mut conn = self.pool.acquire().await.map_err(storage)?;
        crate::deploy::location_by(&mut conn, key).await
    }

    async fn locations(&self) -> Result<Vec<certwright_core::deploy::Location>> {
        let mut conn = self.pool.acquire().await.map_err(storage)?;
        crate::deploy::locations(&mut conn).await
    }

    async fn deployment(&self, uuid: Uuid) -> Result<Option<certwright_core::deploy::Deployment>> {
        let mut conn = self.pool.acquire().await.map_err(storage)?;
        crate::deploy::deployment_by_uuid(&mut conn, uuid, false).await
    }

    async fn list_deployments(
        &self,
        location_id: Option<i64>,
        certificate_id: Option<i64>,
        page: Page,
    ) -> Result<Listed<certwright_core::deploy::Deployment>> {
        let mut conn = self.pool.acquire().await.map_err(storage)?;
        crate::deploy::list(&mut conn, location_id, certificate_id, page).await
    }

    // ---- OAuth 1.0a credentials ------------------------------------------------------------------------------

    async fn oauth1_credential(&self, consumer_key: &str) -> Result<Option<certwright_core::oauth1::Oauth1Credential>> {
        let mut conn = self.pool.acquire().await.map_err(storage)?;
        crate::oauth1::by_consumer_key(&mut conn, consumer_key).await
    }

    async fn oauth1_credentials(&self) -> Result<Vec<certwright_core::oauth1::Oauth1Credential>> {
        let mut conn = self.pool.acquire().await.map_err(storage)?;
        crate::oauth1::list(&mut conn).await
    }

    // ---- request forms ---------------------------------------------------------------------------------------

    async fn organizations(&self) -> Result<Vec<certwright_core::forms::Organization>> {
        let mut conn = self.pool.acquire().await.map_err(storage)?;
        crate::forms::organizations(&mut conn).await
    }

    async fn organization(&self, id: i64) -> Result<Option<certwright_core::forms::Organization>> {
        let mut conn = self.pool.acquire().await.map_err(storage)?;
        crate::forms::organization_by_id(&mut conn, id).await
    }

    async fn principal_name(&self, id: i64) -> Result<Option<String>> {
        let mut conn = self.pool.acquire().await.map_err(storage)?;
        crate::forms::principal_name(&mut conn, id).await
    }

    async fn principal_id(&self, name: &str) -> Result<Option<i64>> {
        let mut conn = self.pool.acquire().await.map_err(storage)?;
        crate::forms::principal_id(&mut conn, name).await
    }

    async fn list_request_forms(
        &self,
        filter: &certwright_core::forms::FormFilter,
        page: Page,
    ) -> Result<Listed<certwright_core::forms::FormView>> {
        let mut conn = self.pool.acquire().await.map_err(storage)?;
        crate::forms::list_forms(&mut conn, filter, page).await
    }

    async fn list_form_certificates(
        &self,
        filter: &certwright_core::forms::FormCertificateFilter,
        page: Page,
    ) -> Result<Listed<certwright_core::forms::FormCertificate>> {
        let mut conn = self.pool.acquire().await.map_err(storage)?;
        crate::forms::list_certificates(&mut conn, filter, page).await
    }

    async fn key_password(&self, key_id: i64) -> Result<Option<String>> {
        let mut conn = self.pool.acquire().await.map_err(storage)?;
        crate::forms::key_password(&mut conn, key_id).await
    }

    // ---- publication -----------------------------------------------------------------------------------------

    async fn devices(&self) -> Result<Vec<certwright_core::publication::Device>> {
        let mut conn = self.pool.acquire().await.map_err(storage)?;
        crate::publication::devices(&mut conn).await
    }

    async fn device(
        &self,
        key: &certwright_core::publication::DeviceKey,
    ) -> Result<Option<certwright_core::publication::Device>> {
        let mut conn = self.pool.acquire().await.map_err(storage)?;
        crate::publication::device_by(&mut conn, key, false).await
    }

    async fn credentials(&self) -> Result<Vec<certwright_core::publication::Credential>> {
        let mut conn = self.pool.acquire().await.map_err(storage)?;
        crate::publication::credentials(&mut conn).await
    }

    async fn credential(
        &self,
        key: &certwright_core::publication::CredentialKey,
    ) -> Result<Option<certwright_core::publication::Credential>> {
        let mut conn = self.pool.acquire().await.map_err(storage)?;
        crate::publication::credential_by(&mut conn, key, false).await
    }

    async fn credential_by_username(
        &self,
        username: &str,
        device_id: Option<i64>,
    ) -> Result<Option<certwright_core::publication::Credential>> {
        let mut conn = self.pool.acquire().await.map_err(storage)?;
        crate::publication::credential_by_username(&mut conn, username, device_id).await
    }

    async fn publication_profiles(&self) -> Result<Vec<certwright_core::publication::PublicationProfile>> {
        let mut conn = self.pool.acquire().await.map_err(storage)?;
        crate::publication::profiles(&mut conn).await
    }

    async fn publication_profile(&self, id: i64) -> Result<Option<certwright_core::publication::PublicationProfile>> {
        let mut conn = self.pool.acquire().await.map_err(storage)?;
        crate::publication::profile_by_id(&mut conn, id, false).await
    }

    async fn publication_location_refusal(&self, location_id: i64) -> Result<Option<String>> {
        let mut conn = self.pool.acquire().await.map_err(storage)?;
        crate::publication::location_refusal(&mut conn, location_id).await
    }

    async fn list_publications(
        &self,
        filter: &certwright_core::publication::PublicationFilter,
        page: Page,
    ) -> Result<Listed<certwright_core::publication::PublicationView>> {
        let mut conn = self.pool.acquire().await.map_err(storage)?;
        crate::publication::list(&mut conn, filter, page).await
    }

    // ---- end entities and managed keys by uuid ----------------------------------------------------------------

    async fn end_entities(&self, ra_profile_id: i64) -> Result<Vec<certwright_core::end_entity::EndEntity>> {
        let mut conn = self.pool.acquire().await.map_err(storage)?;
        crate::end_entity::list(&mut conn, ra_profile_id).await
    }

    async fn end_entity(
        &self,
        ra_profile_id: i64,
        username: &str,
    ) -> Result<Option<certwright_core::end_entity::EndEntity>> {
        let mut conn = self.pool.acquire().await.map_err(storage)?;
        crate::end_entity::by_username(&mut conn, ra_profile_id, username, false).await
    }

    async fn key_by_uuid(&self, uuid: Uuid) -> Result<Option<StoredKey>> {
        let row = sqlx::query(&format!("{} WHERE uuid = $1 AND destroyed_at IS NULL", crate::pki::KEY_SELECT))
            .bind(uuid.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(storage)?;
        row.as_ref().map(crate::pki::key).transpose()
    }

    async fn key_requesters(&self, key_id: i64) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT created_by FROM certificates WHERE key_id = $1 \
             UNION SELECT created_by FROM certificate_requests WHERE key_id = $1",
        )
        .bind(key_id)
        .fetch_all(&self.pool)
        .await
        .map_err(storage)?;
        rows.iter().map(|r| r.try_get::<String, _>(0).map_err(storage)).collect()
    }
}

/// Folds SQLite's write-ahead log into the database file in the background, so that no committing writer pays
/// for a whole checkpoint (connections run with `wal_autocheckpoint = 0`).
///
/// A passive checkpoint runs beside readers and writers, but under steady writes it never reaches the end of
/// the log, and the log starts over only after a checkpoint that does. So once the log holds more than
/// [`WAL_FINISH_PAGES`], the checkpoint is finished while holding the writers' turn: it has only the pages
/// written since the last passive pass left to copy, so writers wait a few milliseconds, and the next one
/// starts the log over. Ends when the pool is closed.
async fn checkpoint_in_background(pool: AnyPool, writer: SqliteWriter) {
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !pool.is_closed() {
        tick.tick().await;
        let result = match checkpoint(&pool).await {
            Ok(pages) if pages > WAL_FINISH_PAGES => {
                let _turn = writer.turn.lock().await;
                checkpoint(&pool).await
            }
            other => other,
        };
        if let Err(e) = result {
            if !pool.is_closed() {
                tracing::warn!(error = %e, "background WAL checkpoint failed");
            }
        }
    }
}

/// Folds pending label-count changes every few seconds until the pool is closed (PostgreSQL).
async fn fold_label_counts_in_background(pool: AnyPool) {
    let mut tick = tokio::time::interval(Duration::from_secs(3));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !pool.is_closed() {
        tick.tick().await;
        if let Err(e) = fold_label_counts(&pool).await {
            if !pool.is_closed() {
                tracing::warn!(error = %e, "folding label counts failed; they stay exact, reads only get slower");
            }
        }
    }
}

/// One fold, in one transaction: the changes are deleted and added to their labels' settled rows, or neither.
/// The advisory lock (one per schema) lets one node fold at a time (another skips its turn), and the settled rows
/// are upserted in label order.
async fn fold_label_counts(pool: &AnyPool) -> std::result::Result<u64, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let locked: bool = sqlx::query("SELECT pg_try_advisory_xact_lock(7340452, hashtext(current_schema()))")
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
    if !locked {
        return Ok(0);
    }
    let folded = sqlx::query(
        "WITH moved AS (DELETE FROM label_count_changes RETURNING key, value, delta) \
         INSERT INTO label_counts (key, value, certificates) \
         SELECT key, value, SUM(delta) FROM moved GROUP BY key, value ORDER BY key, value \
         ON CONFLICT (key, value) DO UPDATE SET certificates = label_counts.certificates + EXCLUDED.certificates",
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(folded)
}

/// One passive checkpoint; returns how many pages the log holds.
async fn checkpoint(pool: &AnyPool) -> std::result::Result<i64, sqlx::Error> {
    sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").fetch_one(pool).await.and_then(|row| row.try_get::<i64, _>(1))
}

/// Pages of write-ahead log (4 KiB each) beyond which the background checkpoint finishes and the log restarts.
const WAL_FINISH_PAGES: i64 = 4_096;

/// The `($1, $2), ($3, $4)` list of a multi-row `INSERT` of `rows` rows of `columns` values each.
pub(crate) fn values_placeholders(rows: usize, columns: usize) -> String {
    let mut sql = String::with_capacity(rows * columns * 5);
    for r in 0..rows {
        sql.push_str(if r == 0 { "(" } else { ", (" });
        for c in 1..=columns {
            if c > 1 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("${}", r * columns + c));
        }
        sql.push(')');
    }
    sql
}
