//! Rows and queries for OAuth 1.0a credentials (migration 0015).

use crate::rows::{get, profiles, profiles_to_json, role, uuid};
use crate::sql::storage;
use certwright_core::oauth1::Oauth1Credential;
use certwright_core::Result;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use uuid::Uuid;

const SELECT: &str = "SELECT c.id, c.uuid, c.name, p.name AS principal, c.role, c.ra_profiles, c.consumer_key, \
     c.token, c.sealed_secrets, c.created_at, c.revoked_at FROM oauth1_credentials c \
     JOIN principals p ON p.id = c.principal_id";

fn credential(row: &AnyRow) -> Result<Oauth1Credential> {
    Ok(Oauth1Credential {
        id: get(row, "id")?,
        uuid: uuid(row, "uuid")?,
        name: get(row, "name")?,
        principal: get(row, "principal")?,
        role: role(row)?,
        ra_profiles: profiles(row)?,
        consumer_key: get(row, "consumer_key")?,
        token: get(row, "token")?,
        sealed_secrets: get(row, "sealed_secrets")?,
        created_at: get(row, "created_at")?,
        revoked_at: get(row, "revoked_at")?,
    })
}

pub(crate) async fn by_consumer_key(conn: &mut AnyConnection, key: &str) -> Result<Option<Oauth1Credential>> {
    let row = sqlx::query(&format!("{SELECT} WHERE c.consumer_key = $1"))
        .bind(key)
        .fetch_optional(&mut *conn)
        .await
        .map_err(storage)?;
    row.as_ref().map(credential).transpose()
}

pub(crate) async fn by_uuid(conn: &mut AnyConnection, id: Uuid) -> Result<Option<Oauth1Credential>> {
    let row = sqlx::query(&format!("{SELECT} WHERE c.uuid = $1"))
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await
        .map_err(storage)?;
    row.as_ref().map(credential).transpose()
}

pub(crate) async fn list(conn: &mut AnyConnection) -> Result<Vec<Oauth1Credential>> {
    let rows = sqlx::query(&format!("{SELECT} ORDER BY c.id")).fetch_all(&mut *conn).await.map_err(storage)?;
    rows.iter().map(credential).collect()
}

pub(crate) async fn insert(conn: &mut AnyConnection, c: &Oauth1Credential) -> Result<i64> {
    sqlx::query(
        "INSERT INTO oauth1_credentials (uuid, name, principal_id, role, ra_profiles, consumer_key, token, \
         sealed_secrets, created_at) VALUES ($1, $2, (SELECT id FROM principals WHERE name = $3), $4, $5, $6, $7, \
         $8, $9) RETURNING id",
    )
    .bind(c.uuid.to_string())
    .bind(c.name.as_str())
    .bind(c.principal.as_str())
    .bind(c.role.as_str())
    .bind(profiles_to_json(&c.ra_profiles))
    .bind(c.consumer_key.as_str())
    .bind(c.token.as_str())
    .bind(c.sealed_secrets.as_slice())
    .bind(c.created_at)
    .fetch_one(conn)
    .await
    .and_then(|r| r.try_get(0))
    .map_err(storage)
}

pub(crate) async fn revoke(conn: &mut AnyConnection, id: i64, now: i64) -> Result<bool> {
    let done = sqlx::query("UPDATE oauth1_credentials SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
        .bind(now)
        .bind(id)
        .execute(conn)
        .await
        .map_err(storage)?;
    Ok(done.rows_affected() == 1)
}
