//! Rows and queries for keystores and scopes: components, staged certificates, key requests, staged trust
//! anchors, deploy runs and scoped certificates (migration 0009).

use crate::pki::unique_or_storage;
use crate::rows::{get, uuid};
use crate::sql::storage;
use certwright_core::ca::CertificateRecord;
use certwright_core::clock::EpochSeconds;
use certwright_core::keystore::{
    Component, DeployKind, DeployRun, KeyRequest, Scope, ScopeFilter, ScopedCertificate, StageStatus,
    StagedCertificate, StagedRoot,
};
use certwright_core::page::{Listed, Page};
use certwright_core::{CoreError, Result};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use uuid::Uuid;

const STAGED_SELECT: &str = "SELECT s.id, s.name, s.purpose, s.component_id, s.status, s.certificate_id, \
     c.uuid AS certificate_uuid, c.der, s.chain, s.key_id, s.key_request_id, s.validation, s.created_at, s.updated_at \
     FROM staged_certificates s JOIN certificates c ON c.id = s.certificate_id";
const KEY_REQUEST_SELECT: &str =
    "SELECT id, description, purpose, key_id, public_key, csr, created_by, created_at FROM key_requests";
const ROOT_SELECT: &str = "SELECT id, key_id_hex, der, status, created_at FROM staged_roots";
const RUN_SELECT: &str = "SELECT id, uuid, kind, status, initiated_by, node, changes, error_message, started_at, \
     finished_at FROM deploy_runs";
const SCOPED_SELECT: &str = "SELECT s.id, s.scope_kind, s.scope_name, s.name, s.certificate_id, \
     c.uuid AS certificate_uuid, c.der, c.key_id, s.signed_by, s.created_at \
     FROM scoped_certificates s JOIN certificates c ON c.id = s.certificate_id";

fn component(row: &AnyRow) -> Result<Component> {
    Ok(Component { id: get(row, "id")?, name: get(row, "name")?, created_at: get(row, "created_at")? })
}

fn chain_from_pem(text: &str) -> Result<Vec<Vec<u8>>> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    certwright_pki::pem::decode_all(text)
        .map(|blocks| blocks.into_iter().map(|(_, der)| der).collect())
        .map_err(|e| CoreError::Storage(format!("stored chain: {e}")))
}

fn chain_to_pem(chain: &[Vec<u8>]) -> String {
    chain.iter().map(|der| certwright_pki::pem::encode("CERTIFICATE", der)).collect()
}

fn staged(row: &AnyRow) -> Result<StagedCertificate> {
    let status: String = get(row, "status")?;
    let chain: String = get(row, "chain")?;
    Ok(StagedCertificate {
        id: get(row, "id")?,
        name: get(row, "name")?,
        purpose: get(row, "purpose")?,
        component_id: get(row, "component_id")?,
        status: StageStatus::parse(&status)?,
        certificate_id: get(row, "certificate_id")?,
        certificate_uuid: uuid(row, "certificate_uuid")?,
        der: get(row, "der")?,
        chain: chain_from_pem(&chain)?,
        key_id: get(row, "key_id")?,
        key_request_id: get(row, "key_request_id")?,
        validation: get(row, "validation")?,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
    })
}

fn key_request(row: &AnyRow) -> Result<KeyRequest> {
    Ok(KeyRequest {
        id: get(row, "id")?,
        description: get(row, "description")?,
        purpose: get(row, "purpose")?,
        key_id: get(row, "key_id")?,
        public_key: get(row, "public_key")?,
        csr: get(row, "csr")?,
        created_by: get(row, "created_by")?,
        created_at: get(row, "created_at")?,
    })
}

fn root(row: &AnyRow) -> Result<StagedRoot> {
    let status: String = get(row, "status")?;
    Ok(StagedRoot {
        id: get(row, "id")?,
        key_id_hex: get(row, "key_id_hex")?,
        der: get(row, "der")?,
        status: StageStatus::parse(&status)?,
        created_at: get(row, "created_at")?,
    })
}

fn run(row: &AnyRow) -> Result<DeployRun> {
    let kind: String = get(row, "kind")?;
    Ok(DeployRun {
        id: get(row, "id")?,
        uuid: uuid(row, "uuid")?,
        kind: DeployKind::parse(&kind).map_err(|e| CoreError::Storage(e.to_string()))?,
        status: get(row, "status")?,
        initiated_by: get(row, "initiated_by")?,
        node: get(row, "node")?,
        changes: get(row, "changes")?,
        error_message: get(row, "error_message")?,
        started_at: get(row, "started_at")?,
        finished_at: get(row, "finished_at")?,
    })
}

fn scoped(row: &AnyRow) -> Result<ScopedCertificate> {
    let kind: String = get(row, "scope_kind")?;
    let name: String = get(row, "scope_name")?;
    Ok(ScopedCertificate {
        id: get(row, "id")?,
        scope: Scope::new(&kind, &name)?,
        name: get(row, "name")?,
        certificate_id: get(row, "certificate_id")?,
        certificate_uuid: uuid(row, "certificate_uuid")?,
        der: get(row, "der")?,
        key_id: get(row, "key_id")?,
        signed_by: get(row, "signed_by")?,
        created_at: get(row, "created_at")?,
    })
}

fn all<T>(rows: Vec<AnyRow>, f: fn(&AnyRow) -> Result<T>) -> Result<Vec<T>> {
    rows.iter().map(f).collect()
}

pub(crate) async fn components(conn: &mut AnyConnection) -> Result<Vec<Component>> {
    let rows = sqlx::query("SELECT id, name, created_at FROM components ORDER BY id")
        .fetch_all(conn)
        .await
        .map_err(storage)?;
    all(rows, component)
}

pub(crate) async fn staged_certificates(conn: &mut AnyConnection, id: Option<i64>) -> Result<Vec<StagedCertificate>> {
    let rows = match id {
        Some(id) => sqlx::query(&format!("{STAGED_SELECT} WHERE s.id = $1")).bind(id).fetch_all(conn).await,
        None => sqlx::query(&format!("{STAGED_SELECT} ORDER BY s.id")).fetch_all(conn).await,
    }
    .map_err(storage)?;
    all(rows, staged)
}

pub(crate) async fn key_requests(conn: &mut AnyConnection) -> Result<Vec<KeyRequest>> {
    let rows = sqlx::query(&format!("{KEY_REQUEST_SELECT} ORDER BY id")).fetch_all(conn).await.map_err(storage)?;
    all(rows, key_request)
}

pub(crate) async fn staged_roots(conn: &mut AnyConnection) -> Result<Vec<StagedRoot>> {
    let rows = sqlx::query(&format!("{ROOT_SELECT} ORDER BY id")).fetch_all(conn).await.map_err(storage)?;
    all(rows, root)
}

pub(crate) async fn latest_deploy_run(conn: &mut AnyConnection) -> Result<Option<DeployRun>> {
    let row =
        sqlx::query(&format!("{RUN_SELECT} ORDER BY id DESC LIMIT 1")).fetch_optional(conn).await.map_err(storage)?;
    row.as_ref().map(run).transpose()
}

pub(crate) async fn certificate_by_issuer_serial(
    conn: &mut AnyConnection,
    issuer: &str,
    serial: &str,
) -> Result<Option<CertificateRecord>> {
    let row = sqlx::query(&format!("{} WHERE issuer = $1 AND serial = $2", crate::pki::CERT_SELECT))
        .bind(issuer)
        .bind(serial)
        .fetch_optional(conn)
        .await
        .map_err(storage)?;
    row.as_ref().map(crate::pki::certificate).transpose()
}

pub(crate) async fn scoped_certificates(
    conn: &mut AnyConnection,
    filter: &ScopeFilter,
    page: Page,
) -> Result<Listed<ScopedCertificate>> {
    let mut clauses = Vec::new();
    let mut binds: Vec<String> = Vec::new();
    if let Some(name) = &filter.name {
        binds.push(name.clone());
        clauses.push(format!("s.name = ${}", binds.len()));
    }
    if let Some(scope) = &filter.scope {
        binds.push(scope.kind().to_owned());
        clauses.push(format!("s.scope_kind = ${}", binds.len()));
        binds.push(scope.name().to_owned());
        clauses.push(format!("s.scope_name = ${}", binds.len()));
    }
    let clause = if clauses.is_empty() { String::new() } else { format!(" WHERE {}", clauses.join(" AND ")) };
    let count_sql = format!("SELECT COUNT(*) FROM scoped_certificates s{clause}");
    let mut count = sqlx::query_scalar::<_, i64>(&count_sql);
    for b in &binds {
        count = count.bind(b.as_str());
    }
    let total = count.fetch_one(&mut *conn).await.map_err(storage)?;
    let n = binds.len();
    let sql = format!("{SCOPED_SELECT}{clause} ORDER BY s.id LIMIT ${} OFFSET ${}", n + 1, n + 2);
    let mut q = sqlx::query(&sql);
    for b in &binds {
        q = q.bind(b.as_str());
    }
    let rows = q
        .bind(i64::from(page.limit()))
        .bind(i64::try_from(page.offset()).unwrap_or(i64::MAX))
        .fetch_all(&mut *conn)
        .await
        .map_err(storage)?;
    Ok(Listed { items: all(rows, scoped)?, total: u64::try_from(total).unwrap_or(0) })
}

pub(crate) async fn scoped_certificate(conn: &mut AnyConnection, uuid: Uuid) -> Result<Option<ScopedCertificate>> {
    let row = sqlx::query(&format!("{SCOPED_SELECT} WHERE c.uuid = $1"))
        .bind(uuid.to_string())
        .fetch_optional(conn)
        .await
        .map_err(storage)?;
    row.as_ref().map(scoped).transpose()
}

pub(crate) async fn scoped_certificate_by_name(
    conn: &mut AnyConnection,
    scope: &Scope,
    name: &str,
) -> Result<Option<ScopedCertificate>> {
    let row = sqlx::query(&format!("{SCOPED_SELECT} WHERE s.scope_kind = $1 AND s.scope_name = $2 AND s.name = $3"))
        .bind(scope.kind())
        .bind(scope.name())
        .bind(name)
        .fetch_optional(conn)
        .await
        .map_err(storage)?;
    row.as_ref().map(scoped).transpose()
}

pub(crate) async fn insert_component(conn: &mut AnyConnection, name: &str, now: EpochSeconds) -> Result<Component> {
    let id: i64 = sqlx::query("INSERT INTO components (name, created_at) VALUES ($1, $2) RETURNING id")
        .bind(name)
        .bind(now)
        .fetch_one(conn)
        .await
        .and_then(|r| r.try_get(0))
        .map_err(unique_or_storage("component.name_taken", format!("a component called '{name}' exists")))?;
    Ok(Component { id, name: name.to_owned(), created_at: now })
}

pub(crate) async fn insert_staged_certificate(conn: &mut AnyConnection, c: &StagedCertificate) -> Result<i64> {
    sqlx::query(
        "INSERT INTO staged_certificates (name, purpose, component_id, status, certificate_id, chain, key_id, \
         key_request_id, validation, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
    )
    .bind(c.name.as_str())
    .bind(c.purpose.as_str())
    .bind(c.component_id)
    .bind(c.status.as_str())
    .bind(c.certificate_id)
    .bind(chain_to_pem(&c.chain))
    .bind(c.key_id)
    .bind(c.key_request_id)
    .bind(c.validation)
    .bind(c.created_at)
    .bind(c.updated_at)
    .fetch_one(conn)
    .await
    .and_then(|r| r.try_get(0))
    .map_err(unique_or_storage("keystore.name_taken", format!("a certificate called '{}' exists", c.name)))
}

pub(crate) async fn update_staged_certificate(conn: &mut AnyConnection, c: &StagedCertificate) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE staged_certificates SET name = $1, purpose = $2, component_id = $3, status = $4, \
         certificate_id = $5, chain = $6, key_id = $7, key_request_id = $8, validation = $9, updated_at = $10 \
         WHERE id = $11",
    )
    .bind(c.name.as_str())
    .bind(c.purpose.as_str())
    .bind(c.component_id)
    .bind(c.status.as_str())
    .bind(c.certificate_id)
    .bind(chain_to_pem(&c.chain))
    .bind(c.key_id)
    .bind(c.key_request_id)
    .bind(c.validation)
    .bind(c.updated_at)
    .bind(c.id)
    .execute(conn)
    .await
    .map_err(unique_or_storage("keystore.name_taken", format!("a certificate called '{}' exists", c.name)))?;
    Ok(done.rows_affected() == 1)
}

pub(crate) async fn insert_key_request(conn: &mut AnyConnection, r: &KeyRequest) -> Result<i64> {
    sqlx::query(
        "INSERT INTO key_requests (description, purpose, key_id, public_key, csr, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(r.description.as_deref())
    .bind(r.purpose.as_str())
    .bind(r.key_id)
    .bind(r.public_key.as_slice())
    .bind(r.csr.as_slice())
    .bind(r.created_by.as_str())
    .bind(r.created_at)
    .fetch_one(conn)
    .await
    .and_then(|r| r.try_get(0))
    .map_err(storage)
}

pub(crate) async fn delete_key_request(conn: &mut AnyConnection, id: i64) -> Result<bool> {
    let done = sqlx::query("DELETE FROM key_requests WHERE id = $1").bind(id).execute(conn).await.map_err(storage)?;
    Ok(done.rows_affected() == 1)
}

pub(crate) async fn insert_staged_root(conn: &mut AnyConnection, r: &StagedRoot) -> Result<i64> {
    sqlx::query("INSERT INTO staged_roots (key_id_hex, der, status, created_at) VALUES ($1, $2, $3, $4) RETURNING id")
        .bind(r.key_id_hex.as_str())
        .bind(r.der.as_slice())
        .bind(r.status.as_str())
        .bind(r.created_at)
        .fetch_one(conn)
        .await
        .and_then(|r| r.try_get(0))
        .map_err(unique_or_storage("keystore.root_exists", "this root certificate was uploaded already".to_owned()))
}

pub(crate) async fn set_staged_root_status(conn: &mut AnyConnection, id: i64, status: StageStatus) -> Result<bool> {
    let done = sqlx::query("UPDATE staged_roots SET status = $1 WHERE id = $2")
        .bind(status.as_str())
        .bind(id)
        .execute(conn)
        .await
        .map_err(storage)?;
    Ok(done.rows_affected() == 1)
}

pub(crate) async fn insert_deploy_run(conn: &mut AnyConnection, r: &DeployRun) -> Result<i64> {
    sqlx::query(
        "INSERT INTO deploy_runs (uuid, kind, status, running, initiated_by, node, changes, error_message, \
         started_at, finished_at) VALUES ($1, $2, $3, 1, $4, $5, $6, $7, $8, $9) RETURNING id",
    )
    .bind(r.uuid.to_string())
    .bind(r.kind.as_str())
    .bind(r.status.as_str())
    .bind(r.initiated_by.as_str())
    .bind(r.node.as_str())
    .bind(r.changes)
    .bind(r.error_message.as_deref())
    .bind(r.started_at)
    .bind(r.finished_at)
    .fetch_one(conn)
    .await
    .and_then(|r| r.try_get(0))
    .map_err(unique_or_storage("deploy.running", "a deploy is already running".to_owned()))
}

pub(crate) async fn running_deploy_run(conn: &mut AnyConnection, lock: bool) -> Result<Option<DeployRun>> {
    let lock = if lock { " FOR UPDATE" } else { "" };
    let row =
        sqlx::query(&format!("{RUN_SELECT} WHERE running = 1{lock}")).fetch_optional(conn).await.map_err(storage)?;
    row.as_ref().map(run).transpose()
}

pub(crate) async fn count_staged_changes(conn: &mut AnyConnection) -> Result<i64> {
    sqlx::query_scalar(
        "SELECT (SELECT COUNT(*) FROM staged_certificates WHERE status <> 'deployed') \
         + (SELECT COUNT(*) FROM staged_roots WHERE status <> 'deployed')",
    )
    .fetch_one(conn)
    .await
    .map_err(storage)
}

pub(crate) async fn apply_staged_changes(conn: &mut AnyConnection) -> Result<i64> {
    let mut changed = 0;
    for sql in [
        "DELETE FROM staged_certificates WHERE status = 'delete_pending'",
        "UPDATE staged_certificates SET status = 'deployed' WHERE status = 'deploy_pending'",
        "DELETE FROM staged_roots WHERE status = 'delete_pending'",
        "UPDATE staged_roots SET status = 'deployed' WHERE status = 'deploy_pending'",
    ] {
        let done = sqlx::query(sql).execute(&mut *conn).await.map_err(storage)?;
        changed += i64::try_from(done.rows_affected()).unwrap_or(0);
    }
    Ok(changed)
}

pub(crate) async fn finish_deploy_run(conn: &mut AnyConnection, r: &DeployRun) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE deploy_runs SET status = $1, running = NULL, changes = $2, error_message = $3, finished_at = $4 \
         WHERE id = $5 AND running = 1",
    )
    .bind(r.status.as_str())
    .bind(r.changes)
    .bind(r.error_message.as_deref())
    .bind(r.finished_at)
    .bind(r.id)
    .execute(conn)
    .await
    .map_err(storage)?;
    Ok(done.rows_affected() == 1)
}

pub(crate) async fn insert_scoped_certificate(conn: &mut AnyConnection, c: &ScopedCertificate) -> Result<i64> {
    sqlx::query(
        "INSERT INTO scoped_certificates (scope_kind, scope_name, name, certificate_id, signed_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(c.scope.kind())
    .bind(c.scope.name())
    .bind(c.name.as_str())
    .bind(c.certificate_id)
    .bind(c.signed_by)
    .bind(c.created_at)
    .fetch_one(conn)
    .await
    .and_then(|r| r.try_get(0))
    .map_err(unique_or_storage(
        "scope.name_taken",
        format!("{} '{}' already has a certificate called '{}'", c.scope.kind(), c.scope.name(), c.name),
    ))
}

pub(crate) async fn delete_scoped_certificate(conn: &mut AnyConnection, id: i64) -> Result<bool> {
    let done =
        sqlx::query("DELETE FROM scoped_certificates WHERE id = $1").bind(id).execute(conn).await.map_err(storage)?;
    Ok(done.rows_affected() == 1)
}

pub(crate) async fn count_scoped_signed_by(conn: &mut AnyConnection, id: i64) -> Result<u64> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM scoped_certificates WHERE signed_by = $1")
        .bind(id)
        .fetch_one(conn)
        .await
        .map_err(storage)?;
    Ok(u64::try_from(n).unwrap_or(0))
}
