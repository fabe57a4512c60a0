//! Rows and queries for deployment locations and deployments (migration 0013).

use crate::pki::unique_or_storage;
use crate::rows::{from_json, get, to_json, uuid};
use crate::sql::{storage, window};
use certwright_core::deploy::{DeployAction, DeployState, Deployment, Location};
use certwright_core::page::{Listed, Page};
use certwright_core::Result;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use uuid::Uuid;

const LOCATION_COLUMNS: &str = "id, uuid, name, spec, sealed_credentials, created_by, created_at, updated_at";

const DEPLOYMENT_SELECT: &str = "SELECT d.id, d.uuid, d.certificate_id, c.uuid AS certificate_uuid, d.location_id, \
     l.uuid AS location_uuid, d.action, d.state, d.details, d.error, d.reason, d.created_by, d.created_at, \
     d.finished_at FROM deployments d JOIN certificates c ON c.id = d.certificate_id \
     JOIN locations l ON l.id = d.location_id";

fn location(row: &AnyRow) -> Result<Location> {
    Ok(Location {
        id: get(row, "id")?,
        uuid: uuid(row, "uuid")?,
        name: get(row, "name")?,
        spec: from_json(row, "spec")?,
        sealed_credentials: get(row, "sealed_credentials")?,
        created_by: get(row, "created_by")?,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
    })
}

fn deployment(row: &AnyRow) -> Result<Deployment> {
    Ok(Deployment {
        id: get(row, "id")?,
        uuid: uuid(row, "uuid")?,
        certificate_id: get(row, "certificate_id")?,
        certificate_uuid: uuid(row, "certificate_uuid")?,
        location_id: get(row, "location_id")?,
        location_uuid: uuid(row, "location_uuid")?,
        action: DeployAction::from_stored(&get::<String>(row, "action")?)?,
        state: DeployState::from_stored(&get::<String>(row, "state")?)?,
        details: from_json(row, "details")?,
        error: get(row, "error")?,
        reason: get(row, "reason")?,
        created_by: get(row, "created_by")?,
        created_at: get(row, "created_at")?,
        finished_at: get(row, "finished_at")?,
    })
}

pub(crate) async fn location_by(conn: &mut AnyConnection, key: &str) -> Result<Option<Location>> {
    let sql = format!("SELECT {LOCATION_COLUMNS} FROM locations WHERE uuid = $1 OR name = $1");
    let row = sqlx::query(&sql).bind(key).fetch_optional(&mut *conn).await.map_err(storage)?;
    row.as_ref().map(location).transpose()
}

pub(crate) async fn location_by_id(conn: &mut AnyConnection, id: i64) -> Result<Option<Location>> {
    let sql = format!("SELECT {LOCATION_COLUMNS} FROM locations WHERE id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(&mut *conn).await.map_err(storage)?;
    row.as_ref().map(location).transpose()
}

pub(crate) async fn locations(conn: &mut AnyConnection) -> Result<Vec<Location>> {
    let sql = format!("SELECT {LOCATION_COLUMNS} FROM locations ORDER BY name");
    let rows = sqlx::query(&sql).fetch_all(&mut *conn).await.map_err(storage)?;
    rows.iter().map(location).collect()
}

pub(crate) async fn insert_location(conn: &mut AnyConnection, l: &Location) -> Result<i64> {
    sqlx::query(
        "INSERT INTO locations (uuid, name, spec, sealed_credentials, created_by, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(l.uuid.to_string())
    .bind(l.name.as_str())
    .bind(to_json(&l.spec)?)
    .bind(l.sealed_credentials.as_deref())
    .bind(l.created_by.as_str())
    .bind(l.created_at)
    .bind(l.updated_at)
    .fetch_one(conn)
    .await
    .and_then(|r| r.try_get(0))
    .map_err(unique_or_storage("location.exists", format!("a location named '{}' exists already", l.name)))
}

pub(crate) async fn delete_location(conn: &mut AnyConnection, id: i64) -> Result<bool> {
    sqlx::query("DELETE FROM deployments WHERE location_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await
        .map_err(storage)?;
    let done =
        sqlx::query("DELETE FROM locations WHERE id = $1").bind(id).execute(&mut *conn).await.map_err(storage)?;
    Ok(done.rows_affected() > 0)
}

pub(crate) async fn insert_deployment(conn: &mut AnyConnection, d: &Deployment) -> Result<i64> {
    sqlx::query(
        "INSERT INTO deployments (uuid, certificate_id, location_id, action, state, details, error, reason, \
         created_by, created_at, finished_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
    )
    .bind(d.uuid.to_string())
    .bind(d.certificate_id)
    .bind(d.location_id)
    .bind(d.action.as_str())
    .bind(d.state.as_str())
    .bind(to_json(&d.details)?)
    .bind(d.error.as_deref())
    .bind(d.reason.as_str())
    .bind(d.created_by.as_str())
    .bind(d.created_at)
    .bind(d.finished_at)
    .fetch_one(conn)
    .await
    .and_then(|r| r.try_get(0))
    .map_err(storage)
}

pub(crate) async fn deployment_by_uuid(conn: &mut AnyConnection, uuid: Uuid, lock: bool) -> Result<Option<Deployment>> {
    // PostgreSQL locks the deployment row only (not the joined certificate and location).
    let lock = if lock { " FOR UPDATE OF d" } else { "" };
    let sql = format!("{DEPLOYMENT_SELECT} WHERE d.uuid = $1{lock}");
    let row = sqlx::query(&sql).bind(uuid.to_string()).fetch_optional(&mut *conn).await.map_err(storage)?;
    row.as_ref().map(deployment).transpose()
}

pub(crate) async fn update_deployment(conn: &mut AnyConnection, d: &Deployment) -> Result<()> {
    sqlx::query("UPDATE deployments SET state = $1, details = $2, error = $3, finished_at = $4 WHERE id = $5")
        .bind(d.state.as_str())
        .bind(to_json(&d.details)?)
        .bind(d.error.as_deref())
        .bind(d.finished_at)
        .bind(d.id)
        .execute(conn)
        .await
        .map_err(storage)?;
    Ok(())
}

pub(crate) async fn list(
    conn: &mut AnyConnection,
    location_id: Option<i64>,
    certificate_id: Option<i64>,
    page: Page,
) -> Result<Listed<Deployment>> {
    let clause = "WHERE ($1 IS NULL OR d.location_id = $1) AND ($2 IS NULL OR d.certificate_id = $2)";
    let total: i64 = sqlx::query(&format!("SELECT COUNT(*) FROM deployments d {clause}"))
        .bind(location_id)
        .bind(certificate_id)
        .fetch_one(&mut *conn)
        .await
        .and_then(|r| r.try_get(0))
        .map_err(storage)?;
    let (limit, offset) = window(page);
    let sql = format!("{DEPLOYMENT_SELECT} {clause} ORDER BY d.id DESC LIMIT $3 OFFSET $4");
    let rows = sqlx::query(&sql)
        .bind(location_id)
        .bind(certificate_id)
        .bind(limit)
        .bind(offset)
        .fetch_all(&mut *conn)
        .await
        .map_err(storage)?;
    Ok(Listed { items: rows.iter().map(deployment).collect::<Result<_>>()?, total: u64::try_from(total).unwrap_or(0) })
}

/// Locations whose latest deployment of this certificate installs it and has not failed, and where no other
/// certificate has been installed since (a location shared by several certificates serves the latest).
pub(crate) async fn deployed_locations(conn: &mut AnyConnection, certificate_id: i64) -> Result<Vec<i64>> {
    let rows = sqlx::query(
        "SELECT d.location_id FROM deployments d WHERE d.certificate_id = $1 AND d.action = 'deploy' \
         AND d.state <> 'failed' AND d.id = (SELECT MAX(e.id) FROM deployments e \
         WHERE e.certificate_id = d.certificate_id AND e.location_id = d.location_id) \
         AND NOT EXISTS (SELECT 1 FROM deployments o WHERE o.location_id = d.location_id \
         AND o.certificate_id <> d.certificate_id AND o.action = 'deploy' AND o.state <> 'failed' AND o.id > d.id) \
         ORDER BY d.location_id",
    )
    .bind(certificate_id)
    .fetch_all(&mut *conn)
    .await
    .map_err(storage)?;
    rows.iter().map(|r| get(r, "location_id")).collect()
}
