//! Rows and queries of the ACME server: accounts, external account binding keys, orders, authorizations (with
//! their challenges as JSON) and redeemed nonces.

use crate::pki::unique_or_storage;
use crate::rows::{from_json, get, json_err, to_json, uuid};
use crate::sql::storage;
use certwright_core::acme::{
    Account, AccountStatus, Authorization, AuthorizationStatus, EabKey, Identifier, Order, OrderStatus,
};
use certwright_core::clock::EpochSeconds;
use certwright_core::{CoreError, Result};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use uuid::Uuid;

fn lock(locked: bool) -> &'static str {
    if locked {
        " FOR UPDATE"
    } else {
        ""
    }
}

// ---- accounts --------------------------------------------------------------------------------------------------

const ACCOUNT_SELECT: &str = "SELECT id, uuid, ra_profile_id, thumbprint, jwk, contact, status, eab_kid, owner, \
     created_at, updated_at FROM acme_accounts";

fn account(row: &AnyRow) -> Result<Account> {
    Ok(Account {
        id: get(row, "id")?,
        uuid: uuid(row, "uuid")?,
        ra_profile_id: get(row, "ra_profile_id")?,
        thumbprint: get(row, "thumbprint")?,
        jwk: get(row, "jwk")?,
        contact: from_json(row, "contact")?,
        status: AccountStatus::from_stored(&get::<String>(row, "status")?)?,
        eab_kid: get(row, "eab_kid")?,
        owner: get(row, "owner")?,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
    })
}

pub(crate) async fn account_by_uuid(conn: &mut AnyConnection, id: Uuid, locked: bool) -> Result<Option<Account>> {
    let sql = format!("{ACCOUNT_SELECT} WHERE uuid = $1{}", lock(locked));
    let row = sqlx::query(&sql).bind(id.to_string()).fetch_optional(&mut *conn).await.map_err(storage)?;
    row.as_ref().map(account).transpose()
}

pub(crate) async fn account_by_key(
    conn: &mut AnyConnection,
    ra_profile_id: i64,
    thumbprint: &str,
) -> Result<Option<Account>> {
    let sql = format!("{ACCOUNT_SELECT} WHERE ra_profile_id = $1 AND thumbprint = $2");
    let row =
        sqlx::query(&sql).bind(ra_profile_id).bind(thumbprint).fetch_optional(&mut *conn).await.map_err(storage)?;
    row.as_ref().map(account).transpose()
}

pub(crate) async fn insert_account(conn: &mut AnyConnection, a: &Account) -> Result<i64> {
    let row = sqlx::query(
        "INSERT INTO acme_accounts (uuid, ra_profile_id, thumbprint, jwk, contact, status, eab_kid, owner, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
    )
    .bind(a.uuid.to_string())
    .bind(a.ra_profile_id)
    .bind(a.thumbprint.as_str())
    .bind(a.jwk.as_str())
    .bind(to_json(&a.contact)?)
    .bind(a.status.as_str())
    .bind(a.eab_kid.as_deref())
    .bind(a.owner.as_deref())
    .bind(a.created_at)
    .bind(a.updated_at)
    .fetch_one(&mut *conn)
    .await
    .map_err(unique_or_storage("acme.account_exists", "an account with this key exists already".to_owned()))?;
    row.try_get(0).map_err(storage)
}

pub(crate) async fn update_account(conn: &mut AnyConnection, a: &Account) -> Result<()> {
    sqlx::query(
        "UPDATE acme_accounts SET thumbprint = $1, jwk = $2, contact = $3, status = $4, updated_at = $5 WHERE id = $6",
    )
    .bind(a.thumbprint.as_str())
    .bind(a.jwk.as_str())
    .bind(to_json(&a.contact)?)
    .bind(a.status.as_str())
    .bind(a.updated_at)
    .bind(a.id)
    .execute(&mut *conn)
    .await
    .map_err(unique_or_storage("acme.key_in_use", "another account uses this key".to_owned()))?;
    Ok(())
}

// ---- external account binding keys ------------------------------------------------------------------------------

const EAB_SELECT: &str = "SELECT id, kid, ra_profile_id, owner, comment, sealed_key, account_id, created_by, \
     created_at FROM acme_eab_keys";

fn eab_key(row: &AnyRow) -> Result<EabKey> {
    Ok(EabKey {
        id: get(row, "id")?,
        kid: get(row, "kid")?,
        ra_profile_id: get(row, "ra_profile_id")?,
        owner: get(row, "owner")?,
        comment: get(row, "comment")?,
        sealed_key: get(row, "sealed_key")?,
        account_id: get(row, "account_id")?,
        created_by: get(row, "created_by")?,
        created_at: get(row, "created_at")?,
    })
}

/// Whether a `kid` could name a stored key: PostgreSQL refuses NUL bytes in text where SQLite finds nothing, so
/// such a kid is answered as unknown on both, without asking the database.
fn storable(kid: &str) -> bool {
    !kid.contains('\0')
}

pub(crate) async fn eab_key_by_kid(conn: &mut AnyConnection, kid: &str) -> Result<Option<EabKey>> {
    if !storable(kid) {
        return Ok(None);
    }
    let sql = format!("{EAB_SELECT} WHERE kid = $1");
    let row = sqlx::query(&sql).bind(kid).fetch_optional(&mut *conn).await.map_err(storage)?;
    row.as_ref().map(eab_key).transpose()
}

pub(crate) async fn eab_keys(conn: &mut AnyConnection) -> Result<Vec<EabKey>> {
    let sql = format!("{EAB_SELECT} ORDER BY id DESC");
    let rows = sqlx::query(&sql).fetch_all(&mut *conn).await.map_err(storage)?;
    rows.iter().map(eab_key).collect()
}

pub(crate) async fn insert_eab_key(conn: &mut AnyConnection, k: &EabKey) -> Result<i64> {
    let row = sqlx::query(
        "INSERT INTO acme_eab_keys (kid, ra_profile_id, owner, comment, sealed_key, account_id, created_by, \
         created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(k.kid.as_str())
    .bind(k.ra_profile_id)
    .bind(k.owner.as_deref())
    .bind(k.comment.as_deref())
    .bind(k.sealed_key.as_slice())
    .bind(k.account_id)
    .bind(k.created_by.as_str())
    .bind(k.created_at)
    .fetch_one(&mut *conn)
    .await
    .map_err(unique_or_storage("acme.eab_exists", "an external account key with this kid exists".to_owned()))?;
    row.try_get(0).map_err(storage)
}

/// Binds an unused key to an account; `false` when it was bound already.
pub(crate) async fn bind_eab_key(conn: &mut AnyConnection, id: i64, account_id: i64) -> Result<bool> {
    let done = sqlx::query("UPDATE acme_eab_keys SET account_id = $1 WHERE id = $2 AND account_id IS NULL")
        .bind(account_id)
        .bind(id)
        .execute(&mut *conn)
        .await
        .map_err(storage)?;
    Ok(done.rows_affected() == 1)
}

pub(crate) async fn delete_eab_key(conn: &mut AnyConnection, kid: &str) -> Result<bool> {
    if !storable(kid) {
        return Ok(false);
    }
    let done =
        sqlx::query("DELETE FROM acme_eab_keys WHERE kid = $1").bind(kid).execute(&mut *conn).await.map_err(storage)?;
    Ok(done.rows_affected() == 1)
}

// ---- authorizations ---------------------------------------------------------------------------------------------

const AUTHZ_SELECT: &str = "SELECT id, uuid, account_id, identifier_type, identifier_value, wildcard, status, \
     expires, challenges, created_at, updated_at FROM acme_authorizations";

fn identifier_columns(identifier: &Identifier) -> (&'static str, String) {
    match identifier {
        Identifier::Dns(name) => ("dns", name.clone()),
        Identifier::Ip(ip) => ("ip", ip.to_string()),
    }
}

fn authorization(row: &AnyRow) -> Result<Authorization> {
    let kind: String = get(row, "identifier_type")?;
    let value: String = get(row, "identifier_value")?;
    let identifier = match kind.as_str() {
        "dns" => Identifier::Dns(value),
        "ip" => Identifier::Ip(value.parse().map_err(|_| CoreError::Storage(format!("bad stored IP '{value}'")))?),
        other => return Err(CoreError::Storage(format!("unknown identifier type '{other}'"))),
    };
    Ok(Authorization {
        id: get(row, "id")?,
        uuid: uuid(row, "uuid")?,
        account_id: get(row, "account_id")?,
        identifier,
        wildcard: get::<i64>(row, "wildcard")? != 0,
        status: AuthorizationStatus::from_stored(&get::<String>(row, "status")?)?,
        expires: get(row, "expires")?,
        challenges: from_json(row, "challenges")?,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
    })
}

pub(crate) async fn authorization_by_uuid(
    conn: &mut AnyConnection,
    id: Uuid,
    locked: bool,
) -> Result<Option<Authorization>> {
    let sql = format!("{AUTHZ_SELECT} WHERE uuid = $1{}", lock(locked));
    let row = sqlx::query(&sql).bind(id.to_string()).fetch_optional(&mut *conn).await.map_err(storage)?;
    row.as_ref().map(authorization).transpose()
}

pub(crate) async fn authorizations(conn: &mut AnyConnection, ids: &[Uuid]) -> Result<Vec<Authorization>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let marks: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
    let sql = format!("{AUTHZ_SELECT} WHERE uuid IN ({})", marks.join(", "));
    let mut query = sqlx::query(&sql);
    for id in ids {
        query = query.bind(id.to_string());
    }
    let rows = query.fetch_all(&mut *conn).await.map_err(storage)?;
    let found = rows.iter().map(authorization).collect::<Result<Vec<_>>>()?;
    // In the order asked for.
    Ok(ids.iter().filter_map(|id| found.iter().find(|a| a.uuid == *id).cloned()).collect())
}

pub(crate) async fn reusable_authorization(
    conn: &mut AnyConnection,
    account_id: i64,
    identifier: &Identifier,
    wildcard: bool,
    valid_after: EpochSeconds,
) -> Result<Option<Authorization>> {
    let (kind, value) = identifier_columns(identifier);
    let sql = format!(
        "{AUTHZ_SELECT} WHERE account_id = $1 AND identifier_type = $2 AND identifier_value = $3 AND wildcard = $4 \
         AND status = 'valid' AND expires > $5 ORDER BY expires DESC LIMIT 1"
    );
    let row = sqlx::query(&sql)
        .bind(account_id)
        .bind(kind)
        .bind(value)
        .bind(i64::from(wildcard))
        .bind(valid_after)
        .fetch_optional(&mut *conn)
        .await
        .map_err(storage)?;
    row.as_ref().map(authorization).transpose()
}

pub(crate) async fn insert_authorization(conn: &mut AnyConnection, a: &Authorization) -> Result<i64> {
    let (kind, value) = identifier_columns(&a.identifier);
    let row = sqlx::query(
        "INSERT INTO acme_authorizations (uuid, account_id, identifier_type, identifier_value, wildcard, status, \
         expires, challenges, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
    )
    .bind(a.uuid.to_string())
    .bind(a.account_id)
    .bind(kind)
    .bind(value)
    .bind(i64::from(a.wildcard))
    .bind(a.status.as_str())
    .bind(a.expires)
    .bind(to_json(&a.challenges)?)
    .bind(a.created_at)
    .bind(a.updated_at)
    .fetch_one(&mut *conn)
    .await
    .map_err(storage)?;
    row.try_get(0).map_err(storage)
}

pub(crate) async fn update_authorization(conn: &mut AnyConnection, a: &Authorization) -> Result<()> {
    sqlx::query(
        "UPDATE acme_authorizations SET status = $1, expires = $2, challenges = $3, updated_at = $4 WHERE id = $5",
    )
    .bind(a.status.as_str())
    .bind(a.expires)
    .bind(to_json(&a.challenges)?)
    .bind(a.updated_at)
    .bind(a.id)
    .execute(&mut *conn)
    .await
    .map_err(storage)?;
    Ok(())
}

// ---- orders -----------------------------------------------------------------------------------------------------

const ORDER_SELECT: &str = "SELECT o.id, o.uuid, o.account_id, o.ra_profile_id, o.status, o.identifiers, \
     o.authorizations, o.not_before, o.not_after, o.profile, o.replaces, o.replaces_certificate_id, o.certificate_id, \
     c.uuid AS certificate_uuid, o.error, o.expires, o.created_at, o.updated_at \
     FROM acme_orders o LEFT JOIN certificates c ON c.id = o.certificate_id";

fn order(row: &AnyRow) -> Result<Order> {
    let certificate_uuid: Option<String> = get(row, "certificate_uuid")?;
    let error: Option<String> = get(row, "error")?;
    Ok(Order {
        id: get(row, "id")?,
        uuid: uuid(row, "uuid")?,
        account_id: get(row, "account_id")?,
        ra_profile_id: get(row, "ra_profile_id")?,
        status: OrderStatus::from_stored(&get::<String>(row, "status")?)?,
        identifiers: from_json(row, "identifiers")?,
        authorizations: from_json(row, "authorizations")?,
        not_before: get(row, "not_before")?,
        not_after: get(row, "not_after")?,
        profile: get(row, "profile")?,
        replaces: get(row, "replaces")?,
        replaces_certificate_id: get(row, "replaces_certificate_id")?,
        certificate_id: get(row, "certificate_id")?,
        certificate_uuid: certificate_uuid
            .map(|u| Uuid::parse_str(&u).map_err(|e| CoreError::Storage(format!("bad certificate uuid: {e}"))))
            .transpose()?,
        error: error.map(|e| serde_json::from_str(&e).map_err(json_err)).transpose()?,
        expires: get(row, "expires")?,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
    })
}

pub(crate) async fn order_where<T>(
    conn: &mut AnyConnection,
    condition: &str,
    value: T,
    locked: bool,
) -> Result<Option<Order>>
where
    T: for<'q> sqlx::Encode<'q, sqlx::Any> + sqlx::Type<sqlx::Any> + Send + 'static,
{
    // PostgreSQL refuses FOR UPDATE on the nullable side of an outer join: lock the order row only.
    let lock = if locked { " FOR UPDATE OF o" } else { "" };
    let sql = format!("{ORDER_SELECT} WHERE {condition} ORDER BY o.id DESC LIMIT 1{lock}");
    let row = sqlx::query(&sql).bind(value).fetch_optional(&mut *conn).await.map_err(storage)?;
    row.as_ref().map(order).transpose()
}

pub(crate) async fn orders_of_account(
    conn: &mut AnyConnection,
    account_id: i64,
    before_id: Option<i64>,
    limit: u32,
) -> Result<Vec<Order>> {
    let sql = format!("{ORDER_SELECT} WHERE o.account_id = $1 AND o.id < $2 ORDER BY o.id DESC LIMIT $3");
    let rows = sqlx::query(&sql)
        .bind(account_id)
        .bind(before_id.unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(&mut *conn)
        .await
        .map_err(storage)?;
    rows.iter().map(order).collect()
}

pub(crate) async fn insert_order(conn: &mut AnyConnection, o: &Order) -> Result<i64> {
    let row = sqlx::query(
        "INSERT INTO acme_orders (uuid, account_id, ra_profile_id, status, identifiers, authorizations, not_before, \
         not_after, profile, replaces, replaces_certificate_id, certificate_id, error, expires, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) RETURNING id",
    )
    .bind(o.uuid.to_string())
    .bind(o.account_id)
    .bind(o.ra_profile_id)
    .bind(o.status.as_str())
    .bind(to_json(&o.identifiers)?)
    .bind(to_json(&o.authorizations)?)
    .bind(o.not_before)
    .bind(o.not_after)
    .bind(o.profile.as_deref())
    .bind(o.replaces.as_deref())
    .bind(o.replaces_certificate_id)
    .bind(o.certificate_id)
    .bind(o.error.as_ref().map(to_json).transpose()?)
    .bind(o.expires)
    .bind(o.created_at)
    .bind(o.updated_at)
    .fetch_one(&mut *conn)
    .await
    .map_err(storage)?;
    row.try_get(0).map_err(storage)
}

pub(crate) async fn update_order(conn: &mut AnyConnection, o: &Order) -> Result<()> {
    sqlx::query(
        "UPDATE acme_orders SET status = $1, certificate_id = $2, error = $3, updated_at = $4, \
         replaces_certificate_id = $5 WHERE id = $6",
    )
    .bind(o.status.as_str())
    .bind(o.certificate_id)
    .bind(o.error.as_ref().map(to_json).transpose()?)
    .bind(o.updated_at)
    .bind(o.replaces_certificate_id)
    .bind(o.id)
    .execute(&mut *conn)
    .await
    .map_err(storage)?;
    Ok(())
}

// ---- nonces -----------------------------------------------------------------------------------------------------

/// Records a nonce as used; `false` when it was used before.
pub(crate) async fn redeem_nonce(conn: &mut AnyConnection, nonce: &str, expires: EpochSeconds) -> Result<bool> {
    let done = sqlx::query("INSERT INTO acme_used_nonces (nonce, expires) VALUES ($1, $2) ON CONFLICT DO NOTHING")
        .bind(nonce)
        .bind(expires)
        .execute(&mut *conn)
        .await
        .map_err(storage)?;
    Ok(done.rows_affected() == 1)
}

pub(crate) async fn purge_nonces(conn: &mut AnyConnection, now: EpochSeconds) -> Result<u64> {
    let done = sqlx::query("DELETE FROM acme_used_nonces WHERE expires <= $1")
        .bind(now)
        .execute(&mut *conn)
        .await
        .map_err(storage)?;
    Ok(done.rows_affected())
}
