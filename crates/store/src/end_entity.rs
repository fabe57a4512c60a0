//! Rows and queries for end entities and the certificates issued for them (migration 0011).

use crate::pki::unique_or_storage;
use crate::rows::{get, uuid};
use crate::sql::storage;
use certwright_core::end_entity::{EndEntity, EndEntityStatus, ExtensionData};
use certwright_core::{CoreError, Result};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use uuid::Uuid;

const SELECT: &str = "SELECT id, uuid, ra_profile_id, username, password_hash, subject_dn, subject_alt_name, email, \
     extension_data, status, created_by, created_at, updated_at FROM end_entities";

fn end_entity(row: &AnyRow) -> Result<EndEntity> {
    let extension_data: String = get(row, "extension_data")?;
    Ok(EndEntity {
        id: get(row, "id")?,
        uuid: uuid(row, "uuid")?,
        ra_profile_id: get(row, "ra_profile_id")?,
        username: get(row, "username")?,
        password_hash: get(row, "password_hash")?,
        subject_dn: get(row, "subject_dn")?,
        subject_alt_name: get(row, "subject_alt_name")?,
        email: get(row, "email")?,
        extension_data: serde_json::from_str::<Vec<ExtensionData>>(&extension_data)
            .map_err(|e| CoreError::Storage(format!("end entity extension data: {e}")))?,
        status: EndEntityStatus::from_stored(&get::<String>(row, "status")?)?,
        created_by: get(row, "created_by")?,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
    })
}

fn extension_json(e: &EndEntity) -> Result<String> {
    serde_json::to_string(&e.extension_data).map_err(|err| CoreError::Storage(err.to_string()))
}

pub(crate) async fn list(conn: &mut AnyConnection, ra_profile_id: i64) -> Result<Vec<EndEntity>> {
    let sql = format!("{SELECT} WHERE ra_profile_id = $1 ORDER BY username");
    let rows = sqlx::query(&sql).bind(ra_profile_id).fetch_all(&mut *conn).await.map_err(storage)?;
    rows.iter().map(end_entity).collect()
}

pub(crate) async fn by_username(
    conn: &mut AnyConnection,
    ra_profile_id: i64,
    username: &str,
    lock: bool,
) -> Result<Option<EndEntity>> {
    let lock = if lock { " FOR UPDATE" } else { "" };
    let sql = format!("{SELECT} WHERE ra_profile_id = $1 AND username = $2{lock}");
    let row = sqlx::query(&sql).bind(ra_profile_id).bind(username).fetch_optional(&mut *conn).await.map_err(storage)?;
    row.as_ref().map(end_entity).transpose()
}

pub(crate) async fn insert(conn: &mut AnyConnection, e: &EndEntity) -> Result<i64> {
    sqlx::query(
        "INSERT INTO end_entities (uuid, ra_profile_id, username, password_hash, subject_dn, subject_alt_name, email, \
         extension_data, status, created_by, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
    )
    .bind(e.uuid.to_string())
    .bind(e.ra_profile_id)
    .bind(e.username.as_str())
    .bind(e.password_hash.as_str())
    .bind(e.subject_dn.as_str())
    .bind(e.subject_alt_name.as_deref())
    .bind(e.email.as_deref())
    .bind(extension_json(e)?)
    .bind(e.status.as_str())
    .bind(e.created_by.as_str())
    .bind(e.created_at)
    .bind(e.updated_at)
    .fetch_one(conn)
    .await
    .and_then(|r| r.try_get(0))
    .map_err(unique_or_storage("end_entity.exists", format!("end entity '{}' already exists", e.username)))
}

pub(crate) async fn update(conn: &mut AnyConnection, e: &EndEntity) -> Result<()> {
    sqlx::query(
        "UPDATE end_entities SET password_hash = $1, subject_dn = $2, subject_alt_name = $3, email = $4, \
         extension_data = $5, status = $6, updated_at = $7 WHERE id = $8",
    )
    .bind(e.password_hash.as_str())
    .bind(e.subject_dn.as_str())
    .bind(e.subject_alt_name.as_deref())
    .bind(e.email.as_deref())
    .bind(extension_json(e)?)
    .bind(e.status.as_str())
    .bind(e.updated_at)
    .bind(e.id)
    .execute(conn)
    .await
    .map_err(storage)?;
    Ok(())
}

pub(crate) async fn delete(conn: &mut AnyConnection, id: i64) -> Result<bool> {
    sqlx::query("DELETE FROM end_entity_certificates WHERE end_entity_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await
        .map_err(storage)?;
    let done = sqlx::query("DELETE FROM end_entities WHERE id = $1").bind(id).execute(conn).await.map_err(storage)?;
    Ok(done.rows_affected() == 1)
}

pub(crate) async fn link(conn: &mut AnyConnection, end_entity_id: i64, certificate_id: i64) -> Result<()> {
    sqlx::query("INSERT INTO end_entity_certificates (end_entity_id, certificate_id) VALUES ($1, $2)")
        .bind(end_entity_id)
        .bind(certificate_id)
        .execute(conn)
        .await
        .map_err(storage)?;
    Ok(())
}

pub(crate) async fn certificates(conn: &mut AnyConnection, end_entity_id: i64) -> Result<Vec<Uuid>> {
    let rows = sqlx::query(
        "SELECT c.uuid FROM end_entity_certificates l JOIN certificates c ON c.id = l.certificate_id \
         WHERE l.end_entity_id = $1 ORDER BY c.id",
    )
    .bind(end_entity_id)
    .fetch_all(conn)
    .await
    .map_err(storage)?;
    rows.iter().map(|r| uuid(r, "uuid")).collect()
}
