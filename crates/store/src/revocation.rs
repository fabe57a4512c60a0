//! Rows and queries for revocations, CRLs and delegated OCSP responders.

use crate::pki::unique_or_storage;
use crate::rows::get;
use crate::sql::{storage, Backend};
use certwright_core::clock::EpochSeconds;
use certwright_core::revocation::{
    CrlKind, EntrySelection, OcspResponderRecord, Revocation, RevocationReason, RevokedEntries, StoredCrl,
};
use certwright_core::{CoreError, Result};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

pub(crate) const REVOCATION_SELECT: &str = "SELECT id, authority_id, serial, certificate_id, subject_authority_id, \
     partition_no, not_after, revoked_at, reason, invalidity_date, released_at, changed_at FROM revocations";

fn reason(code: i64) -> Result<RevocationReason> {
    u8::try_from(code)
        .ok()
        .and_then(RevocationReason::from_code)
        .ok_or_else(|| CoreError::Storage(format!("stored revocation reason {code} is not a CRLReason")))
}

pub(crate) fn revocation(row: &AnyRow) -> Result<Revocation> {
    Ok(Revocation {
        id: get(row, "id")?,
        authority_id: get(row, "authority_id")?,
        serial: get(row, "serial")?,
        certificate_id: get(row, "certificate_id")?,
        subject_authority_id: get(row, "subject_authority_id")?,
        partition: u32::try_from(get::<i64>(row, "partition_no")?).unwrap_or(0),
        not_after: get(row, "not_after")?,
        revoked_at: get(row, "revoked_at")?,
        reason: reason(get(row, "reason")?)?,
        invalidity_date: get(row, "invalidity_date")?,
        released_at: get(row, "released_at")?,
        changed_at: get(row, "changed_at")?,
    })
}

pub(crate) async fn revocation_by_serial(
    conn: &mut AnyConnection,
    authority_id: i64,
    serial: &str,
    lock: bool,
) -> Result<Option<Revocation>> {
    let lock = if lock { " FOR UPDATE" } else { "" };
    let sql = format!("{REVOCATION_SELECT} WHERE authority_id = $1 AND serial = $2{lock}");
    let row = sqlx::query(&sql).bind(authority_id).bind(serial).fetch_optional(conn).await.map_err(storage)?;
    row.as_ref().map(revocation).transpose()
}

/// How many CRL entries one aggregated row carries (on SQLite, the generated column `crl_chunk` says the same).
const ENTRIES_PER_ROW: i64 = 4096;

/// The entries of a CRL in their compact form. Serials in force come `crl_entry` texts joined by the database,
/// thousands to a row, so the driver's per-row cost (a hop between threads on SQLite) is paid a few hundred times
/// for a million entries, not a million times; the changes of a delta, few and needing `removeFromCRL` for lifted
/// holds, come row by row. Order does not matter to a CRL, so none is asked for.
pub(crate) async fn revoked_entries(
    conn: &mut AnyConnection,
    backend: Backend,
    authority_id: i64,
    selection: EntrySelection,
) -> Result<RevokedEntries> {
    use futures_util::TryStreamExt;
    let (join, group) = match backend {
        Backend::Sqlite => ("group_concat(crl_entry, ',')", "crl_chunk".to_owned()),
        Backend::Postgres => ("string_agg(crl_entry, ',')", format!("id / {ENTRIES_PER_ROW}")),
    };
    let (sql, a, b) = match selection {
        EntrySelection::InForce { now, partition } => {
            // Partition CRLs say onlyContainsUserCerts: revoked subordinate CAs appear in the full CRL only.
            let partition_filter =
                if partition.is_some() { " AND partition_no = $3 AND subject_authority_id IS NULL" } else { "" };
            (
                format!(
                    "SELECT {join} FROM revocations WHERE authority_id = $1 AND released_at IS NULL \
                     AND not_after >= $2{partition_filter} GROUP BY {group}"
                ),
                now,
                partition.map(i64::from),
            )
        }
        EntrySelection::ChangedSince { since, now } => (
            "SELECT CASE WHEN released_at IS NULL THEN crl_entry \
             ELSE serial || ' ' || revoked_at || ' 8' END FROM revocations \
             WHERE authority_id = $1 AND not_after >= $2 AND changed_at >= $3"
                .to_owned(),
            now,
            Some(since),
        ),
    };
    let mut q = sqlx::query(&sql).bind(authority_id).bind(a);
    if let Some(b) = b {
        q = q.bind(b);
    }
    let mut rows = q.fetch(conn);
    let mut entries = RevokedEntries::default();
    while let Some(row) = rows.try_next().await.map_err(storage)? {
        entries.push(row.try_get(0).map_err(storage)?);
    }
    Ok(entries)
}

/// `serial revoked_at reason [invalidity_date]`, as CRL generation reads it back.
pub(crate) fn crl_entry(r: &Revocation) -> String {
    match r.invalidity_date {
        Some(d) => format!("{} {} {} {d}", r.serial, r.revoked_at, r.reason.code()),
        None => format!("{} {} {}", r.serial, r.revoked_at, r.reason.code()),
    }
}

pub(crate) async fn changed_since(conn: &mut AnyConnection, since: EpochSeconds) -> Result<Vec<(i64, String)>> {
    let rows = sqlx::query("SELECT authority_id, serial FROM revocations WHERE changed_at >= $1")
        .bind(since)
        .fetch_all(conn)
        .await
        .map_err(storage)?;
    rows.iter().map(|r| Ok((get(r, "authority_id")?, get(r, "serial")?))).collect()
}

/// Largest piece of a CRL's DER stored in one row.
const CRL_PART_BYTES: usize = 1 << 20;

pub(crate) async fn crl(
    conn: &mut AnyConnection,
    authority_id: i64,
    kind: CrlKind,
    with_der: bool,
) -> Result<Option<StoredCrl>> {
    use futures_util::TryStreamExt;
    let scope = kind.as_str();
    let row = sqlx::query(
        "SELECT number, this_update, next_update, entries, size FROM crls WHERE authority_id = $1 AND scope = $2",
    )
    .bind(authority_id)
    .bind(scope.as_str())
    .fetch_optional(&mut *conn)
    .await
    .map_err(storage)?;
    let Some(r) = row else { return Ok(None) };
    let size = usize::try_from(get::<i64>(&r, "size")?).unwrap_or(0);
    let mut crl = StoredCrl {
        authority_id,
        kind,
        number: u64::try_from(get::<i64>(&r, "number")?).unwrap_or(0),
        this_update: get(&r, "this_update")?,
        next_update: get(&r, "next_update")?,
        entries: u64::try_from(get::<i64>(&r, "entries")?).unwrap_or(0),
        der: Vec::new(),
    };
    if with_der {
        crl.der.reserve_exact(size);
        let mut parts = sqlx::query("SELECT bytes FROM crl_parts WHERE authority_id = $1 AND scope = $2 ORDER BY part")
            .bind(authority_id)
            .bind(scope.as_str())
            .fetch(&mut *conn);
        while let Some(part) = parts.try_next().await.map_err(storage)? {
            let bytes: Vec<u8> = part.try_get(0).map_err(storage)?;
            crl.der.extend_from_slice(&bytes);
        }
        if crl.der.len() != size {
            return Err(CoreError::Storage(format!(
                "the stored {scope} CRL of authority {authority_id} has {} of its {size} bytes",
                crl.der.len()
            )));
        }
    }
    Ok(Some(crl))
}

pub(crate) async fn ocsp_responder(conn: &mut AnyConnection, authority_id: i64) -> Result<Option<OcspResponderRecord>> {
    let row =
        sqlx::query("SELECT key_id, certificate, not_before, not_after FROM ocsp_responders WHERE authority_id = $1")
            .bind(authority_id)
            .fetch_optional(conn)
            .await
            .map_err(storage)?;
    row.map(|r| {
        Ok(OcspResponderRecord {
            authority_id,
            key_id: get(&r, "key_id")?,
            certificate_der: get(&r, "certificate")?,
            not_before: get(&r, "not_before")?,
            not_after: get(&r, "not_after")?,
        })
    })
    .transpose()
}

pub(crate) async fn insert_revocation(conn: &mut AnyConnection, r: &Revocation) -> Result<i64> {
    sqlx::query(
        "INSERT INTO revocations (authority_id, serial, certificate_id, subject_authority_id, partition_no, \
         not_after, revoked_at, reason, invalidity_date, released_at, changed_at, crl_entry) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
    )
    .bind(r.authority_id)
    .bind(r.serial.as_str())
    .bind(r.certificate_id)
    .bind(r.subject_authority_id)
    .bind(i64::from(r.partition))
    .bind(r.not_after)
    .bind(r.revoked_at)
    .bind(i64::from(r.reason.code()))
    .bind(r.invalidity_date)
    .bind(r.released_at)
    .bind(r.changed_at)
    .bind(crl_entry(r))
    .fetch_one(conn)
    .await
    .and_then(|row| row.try_get(0))
    .map_err(unique_or_storage("certificate.already_revoked", format!("serial {} is already revoked", r.serial)))
}

pub(crate) async fn update_revocation(conn: &mut AnyConnection, r: &Revocation) -> Result<()> {
    sqlx::query(
        "UPDATE revocations SET revoked_at = $1, reason = $2, invalidity_date = $3, released_at = $4, \
         changed_at = $5, crl_entry = $6 WHERE id = $7",
    )
    .bind(r.revoked_at)
    .bind(i64::from(r.reason.code()))
    .bind(r.invalidity_date)
    .bind(r.released_at)
    .bind(r.changed_at)
    .bind(crl_entry(r))
    .bind(r.id)
    .execute(conn)
    .await
    .map_err(storage)?;
    Ok(())
}

pub(crate) async fn set_certificate_state(conn: &mut AnyConnection, id: i64, state: &str) -> Result<()> {
    sqlx::query("UPDATE certificates SET state = $1 WHERE id = $2")
        .bind(state)
        .bind(id)
        .execute(conn)
        .await
        .map_err(storage)?;
    Ok(())
}

pub(crate) async fn destroy_key(conn: &mut AnyConnection, id: i64, at: EpochSeconds) -> Result<bool> {
    let changed = sqlx::query("UPDATE keys SET sealed = $1, destroyed_at = $2 WHERE id = $3 AND destroyed_at IS NULL")
        .bind(Vec::<u8>::new())
        .bind(at)
        .bind(id)
        .execute(conn)
        .await
        .map_err(storage)?
        .rows_affected();
    Ok(changed == 1)
}

pub(crate) async fn next_crl_number(conn: &mut AnyConnection, authority_id: i64) -> Result<u64> {
    let n: i64 = sqlx::query("UPDATE authorities SET crl_number = crl_number + 1 WHERE id = $1 RETURNING crl_number")
        .bind(authority_id)
        .fetch_one(conn)
        .await
        .and_then(|r| r.try_get(0))
        .map_err(storage)?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Stores a CRL in place of the current one of its kind, unless the current one has a higher number (another
/// node signed a later one meanwhile).
pub(crate) async fn put_crl(conn: &mut AnyConnection, c: &StoredCrl) -> Result<()> {
    let scope = c.kind.as_str();
    let replaced = sqlx::query(
        "INSERT INTO crls (authority_id, scope, number, this_update, next_update, entries, size) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (authority_id, scope) DO UPDATE SET \
         number = excluded.number, this_update = excluded.this_update, next_update = excluded.next_update, \
         entries = excluded.entries, size = excluded.size WHERE crls.number < excluded.number",
    )
    .bind(c.authority_id)
    .bind(scope.as_str())
    .bind(i64::try_from(c.number).unwrap_or(i64::MAX))
    .bind(c.this_update)
    .bind(c.next_update)
    .bind(i64::try_from(c.entries).unwrap_or(i64::MAX))
    .bind(i64::try_from(c.der.len()).unwrap_or(i64::MAX))
    .execute(&mut *conn)
    .await
    .map_err(storage)?
    .rows_affected();
    if replaced == 0 {
        return Ok(());
    }
    sqlx::query("DELETE FROM crl_parts WHERE authority_id = $1 AND scope = $2")
        .bind(c.authority_id)
        .bind(scope.as_str())
        .execute(&mut *conn)
        .await
        .map_err(storage)?;
    for (n, piece) in c.der.chunks(CRL_PART_BYTES).enumerate() {
        sqlx::query("INSERT INTO crl_parts (authority_id, scope, part, bytes) VALUES ($1, $2, $3, $4)")
            .bind(c.authority_id)
            .bind(scope.as_str())
            .bind(i64::try_from(n).unwrap_or(i64::MAX))
            .bind(piece)
            .execute(&mut *conn)
            .await
            .map_err(storage)?;
    }
    Ok(())
}

pub(crate) async fn put_ocsp_responder(conn: &mut AnyConnection, r: &OcspResponderRecord) -> Result<()> {
    sqlx::query(
        "INSERT INTO ocsp_responders (authority_id, key_id, certificate, not_before, not_after) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (authority_id) DO UPDATE SET key_id = excluded.key_id, \
         certificate = excluded.certificate, not_before = excluded.not_before, not_after = excluded.not_after",
    )
    .bind(r.authority_id)
    .bind(r.key_id)
    .bind(r.certificate_der.as_slice())
    .bind(r.not_before)
    .bind(r.not_after)
    .execute(conn)
    .await
    .map_err(storage)?;
    Ok(())
}
