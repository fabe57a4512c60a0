//! Rows and queries for keys, authorities, RA profiles and the certificate inventory.

use crate::rows::{bind_all, get, uuid, Bind};
use crate::sql::{storage, Backend};
use certwright_core::ca::{
    Authority, AuthorityKind, CertificateFilter, CertificateRecord, NewKey, Origin, Policy, RaProfile, StoredKey,
};
use certwright_core::inventory::{
    CertificateMetadata, CursorKey, InventoryCursor, InventoryOrder, InventoryPage, SortField,
};
use certwright_core::page::Page;
use certwright_core::{CoreError, Result};
use sqlx::any::AnyRow;
use sqlx::{Any, AnyConnection, Row};

pub(crate) const AUTHORITY_SELECT: &str = "SELECT id, uuid, name, kind, parent_id, key_id, certificate, subject, \
     key_identifier, not_before, not_after, created_at, crl_partitions, connector FROM authorities";
pub(crate) const KEY_SELECT: &str = "SELECT id, uuid, algorithm, public_key, sealed, exportable, created_at FROM keys";
pub(crate) const PROFILE_SELECT: &str =
    "SELECT id, uuid, name, authority_id, policy, enabled, created_at, updated_at FROM ra_profiles";
pub(crate) const CERT_SELECT: &str = "SELECT id, uuid, serial, issuer, subject, common_name, sans, not_before, \
     not_after, key_algorithm, signature_algorithm, fingerprint, state, origin, authority_id, ra_profile_id, key_id, \
     der, idempotency_key, created_by, created_at, owner, labels, custom_attributes FROM certificates";

pub(crate) fn authority(row: &AnyRow) -> Result<Authority> {
    Ok(Authority {
        id: get(row, "id")?,
        uuid: uuid(row, "uuid")?,
        name: get(row, "name")?,
        kind: AuthorityKind::parse(&get::<String>(row, "kind")?)?,
        parent_id: get(row, "parent_id")?,
        key_id: get(row, "key_id")?,
        certificate_der: get(row, "certificate")?,
        subject: get(row, "subject")?,
        key_identifier: get(row, "key_identifier")?,
        not_before: get(row, "not_before")?,
        not_after: get(row, "not_after")?,
        created_at: get(row, "created_at")?,
        crl_partitions: u32::try_from(get::<i64>(row, "crl_partitions")?).unwrap_or(1).max(1),
        connector: get::<Option<String>>(row, "connector")?
            .map(|c| {
                serde_json::from_str(&c).map_err(|e| CoreError::Storage(format!("stored authority connector: {e}")))
            })
            .transpose()?,
    })
}

pub(crate) fn key(row: &AnyRow) -> Result<StoredKey> {
    Ok(StoredKey {
        id: get(row, "id")?,
        uuid: uuid(row, "uuid")?,
        algorithm: get(row, "algorithm")?,
        public_key: get(row, "public_key")?,
        sealed: get(row, "sealed")?,
        exportable: get::<i64>(row, "exportable")? != 0,
        created_at: get(row, "created_at")?,
    })
}

pub(crate) fn profile(row: &AnyRow) -> Result<RaProfile> {
    let policy: String = get(row, "policy")?;
    Ok(RaProfile {
        id: get(row, "id")?,
        uuid: uuid(row, "uuid")?,
        name: get(row, "name")?,
        authority_id: get(row, "authority_id")?,
        policy: serde_json::from_str::<Policy>(&policy)
            .map_err(|e| CoreError::Storage(format!("RA profile policy is not valid JSON: {e}")))?,
        enabled: get::<i64>(row, "enabled")? != 0,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
    })
}

pub(crate) fn certificate(row: &AnyRow) -> Result<CertificateRecord> {
    let sans: String = get(row, "sans")?;
    Ok(CertificateRecord {
        id: get(row, "id")?,
        uuid: uuid(row, "uuid")?,
        serial: get(row, "serial")?,
        issuer: get(row, "issuer")?,
        subject: get(row, "subject")?,
        common_name: get(row, "common_name")?,
        sans: serde_json::from_str(&sans).map_err(|e| CoreError::Storage(format!("sans: {e}")))?,
        not_before: get(row, "not_before")?,
        not_after: get(row, "not_after")?,
        key_algorithm: get(row, "key_algorithm")?,
        signature_algorithm: get(row, "signature_algorithm")?,
        fingerprint: get(row, "fingerprint")?,
        state: get(row, "state")?,
        origin: Origin::parse(&get::<String>(row, "origin")?)?,
        authority_id: get(row, "authority_id")?,
        ra_profile_id: get(row, "ra_profile_id")?,
        key_id: get(row, "key_id")?,
        der: get(row, "der")?,
        idempotency_key: get(row, "idempotency_key")?,
        created_by: get(row, "created_by")?,
        created_at: get(row, "created_at")?,
        metadata: metadata(row)?,
    })
}

/// The columns of [`CERT_SELECT`] as one JSON array per row (SQLite), the DER in hex.
const PAGE_ROW: &str = "json_array(id, uuid, serial, issuer, subject, common_name, sans, not_before, not_after, \
     key_algorithm, signature_algorithm, fingerprint, state, origin, authority_id, ra_profile_id, key_id, hex(der), \
     idempotency_key, created_by, created_at, owner, labels, custom_attributes)";

/// A certificate from a [`PAGE_ROW`] array.
fn certificate_of_json(row: &[serde_json::Value]) -> Result<CertificateRecord> {
    let bad = |what: &str| CoreError::Storage(format!("inventory page: bad {what}"));
    if row.len() != 24 {
        return Err(bad("row"));
    }
    let text = |i: usize, what: &str| row[i].as_str().map(str::to_owned).ok_or_else(|| bad(what));
    let maybe_text = |i: usize, what: &str| if row[i].is_null() { Ok(None) } else { text(i, what).map(Some) };
    let int = |i: usize, what: &str| row[i].as_i64().ok_or_else(|| bad(what));
    let maybe_int = |i: usize, what: &str| if row[i].is_null() { Ok(None) } else { int(i, what).map(Some) };
    let uuid = |i: usize, what: &str| text(i, what)?.parse::<uuid::Uuid>().map_err(|_| bad(what));
    Ok(CertificateRecord {
        id: int(0, "id")?,
        uuid: uuid(1, "uuid")?,
        serial: text(2, "serial")?,
        issuer: text(3, "issuer")?,
        subject: text(4, "subject")?,
        common_name: maybe_text(5, "common_name")?,
        sans: json_text(row, 6, "sans")?,
        not_before: int(7, "not_before")?,
        not_after: int(8, "not_after")?,
        key_algorithm: text(9, "key_algorithm")?,
        signature_algorithm: text(10, "signature_algorithm")?,
        fingerprint: text(11, "fingerprint")?,
        state: text(12, "state")?,
        origin: Origin::parse(&text(13, "origin")?)?,
        authority_id: maybe_int(14, "authority_id")?,
        ra_profile_id: maybe_int(15, "ra_profile_id")?,
        key_id: maybe_int(16, "key_id")?,
        der: from_hex(&text(17, "der")?).ok_or_else(|| bad("der"))?,
        idempotency_key: maybe_text(18, "idempotency_key")?,
        created_by: text(19, "created_by")?,
        created_at: int(20, "created_at")?,
        metadata: CertificateMetadata {
            owner: maybe_text(21, "owner")?,
            labels: json_text(row, 22, "labels")?,
            custom_attributes: json_text(row, 23, "custom_attributes")?,
        },
    })
}

/// A JSON document kept as text in column `i` of a [`PAGE_ROW`] array.
fn json_text<T: serde::de::DeserializeOwned>(row: &[serde_json::Value], i: usize, what: &str) -> Result<T> {
    let raw = row[i].as_str().ok_or_else(|| CoreError::Storage(format!("inventory page: bad {what}")))?;
    serde_json::from_str(raw).map_err(|e| CoreError::Storage(format!("{what}: {e}")))
}

/// Bytes from upper- or lower-case hex.
fn from_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    let digit = |b: u8| (b as char).to_digit(16);
    hex.as_bytes().chunks(2).map(|p| Some((digit(p[0])? * 16 + digit(p[1])?) as u8)).collect()
}

fn metadata(row: &AnyRow) -> Result<CertificateMetadata> {
    let labels: String = get(row, "labels")?;
    let attributes: String = get(row, "custom_attributes")?;
    Ok(CertificateMetadata {
        owner: get(row, "owner")?,
        labels: serde_json::from_str(&labels).map_err(|e| CoreError::Storage(format!("labels: {e}")))?,
        custom_attributes: serde_json::from_str(&attributes)
            .map_err(|e| CoreError::Storage(format!("custom_attributes: {e}")))?,
    })
}

/// Builds the conditions of an inventory query, with the values to bind in order. `label_probe` checks the label
/// certificate by certificate (for a label many carry) instead of starting from the certificates that carry it.
pub(crate) fn certificate_filter(
    f: &CertificateFilter,
    backend: Backend,
    label_probe: bool,
) -> (Vec<String>, Vec<Bind>) {
    let mut clauses: Vec<String> = Vec::new();
    let mut binds = Vec::new();
    if let Some(name) = &f.name {
        let lower = name.to_lowercase();
        if backend == Backend::Sqlite && lower.chars().count() >= 3 {
            // The trigram index matches a quoted phrase as a substring.
            binds.push(Bind::Text(format!("\"{}\"", lower.replace('"', "\"\""))));
            clauses.push(format!(
                "id IN (SELECT rowid FROM certificate_names WHERE certificate_names MATCH ${})",
                binds.len()
            ));
        } else {
            let escaped = lower.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
            binds.push(Bind::Text(format!("%{escaped}%")));
            let column = match backend {
                Backend::Postgres => "search_names",
                Backend::Sqlite => "LOWER(COALESCE(common_name, '') || ' ' || sans)",
            };
            clauses.push(format!("{column} LIKE ${} ESCAPE '\\'", binds.len()));
        }
    }
    let mut int = |clause: &str, v: Option<i64>| {
        if let Some(v) = v {
            binds.push(Bind::Int(v));
            clauses.push(format!("{clause} ${}", binds.len()));
        }
    };
    int("authority_id =", f.authority_id);
    int("ra_profile_id =", f.ra_profile_id);
    int("not_after <", f.expires_before);
    int("not_after >=", f.expires_after);
    int("not_before >", f.starts_after);
    int("not_before <=", f.starts_at_or_before);
    let mut text = |clause: &str, v: Option<String>| {
        if let Some(v) = v {
            binds.push(Bind::Text(v));
            clauses.push(format!("{clause} ${}", binds.len()));
        }
    };
    text("origin =", f.origin.map(|o| o.as_str().to_owned()));
    text("owner =", f.owner.clone());
    text("state =", f.state.clone());
    match f.key_algorithm.as_deref() {
        // A family without a size admits every size: `rsa` matches `rsa-2048` and `rsa-4096`.
        Some(family @ ("rsa" | "dsa")) => text("key_algorithm LIKE", Some(format!("{family}-%"))),
        other => text("key_algorithm =", other.map(str::to_owned)),
    }
    if let Some((key, value)) = &f.label {
        binds.push(Bind::Text(key.clone()));
        binds.push(Bind::Text(value.clone()));
        let (k, v) = (binds.len() - 1, binds.len());
        clauses.push(if label_probe {
            format!(
                "EXISTS (SELECT 1 FROM certificate_labels l WHERE l.certificate_id = certificates.id \
                 AND l.key = ${k} AND l.value = ${v})"
            )
        } else {
            format!("id IN (SELECT certificate_id FROM certificate_labels WHERE key = ${k} AND value = ${v})")
        });
    }
    (clauses, binds)
}

fn where_clause(clauses: &[String]) -> String {
    if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    }
}

const INVENTORY_TOTAL: &str = "SELECT CAST(COALESCE(SUM(certificates), 0) AS BIGINT) FROM inventory_counts";
/// A label carried by at least one certificate in this many is checked row by row rather than looked up first.
const LABEL_PROBE_RATIO: i64 = 50;

/// The expression a sort orders by besides the id, as its index spells it; `None` for creation order.
fn sort_expression(field: SortField, backend: Backend) -> Option<&'static str> {
    match (field, backend) {
        (SortField::NotAfter, _) => Some("not_after"),
        // Byte order on both backends, whatever the database's collation.
        (SortField::CommonName, Backend::Postgres) => Some("(COALESCE(common_name, '') COLLATE \"C\")"),
        (SortField::CommonName, _) => Some("COALESCE(common_name, '')"),
        _ => None,
    }
}

/// A filtered inventory query. On PostgreSQL it is planned for its values each time rather than prepared once: a
/// prepared statement soon runs a generic plan, which cannot tell a label on half the inventory from one on a
/// hundred certificates, nor a busy owner from a quiet one (a label and an owner together took 90 ms instead of 7).
fn planned_each_time(sql: &str, backend: Backend) -> sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments<'_>> {
    sqlx::query(sql).persistent(backend == Backend::Sqlite)
}

pub(crate) async fn list_certificates(
    pool: &sqlx::AnyPool,
    backend: Backend,
    filter: &CertificateFilter,
    order: &InventoryOrder,
    page: Page,
) -> Result<InventoryPage> {
    let scalar = |sql: String, binds: Vec<Bind>| async move {
        bind_all(sqlx::query(&sql), &binds).fetch_one(pool).await.and_then(|r| r.try_get::<i64, _>(0)).map_err(storage)
    };
    // Unfiltered, the total is the sum of the per-node counts kept as certificates are stored.
    let everything = || scalar(INVENTORY_TOTAL.to_owned(), Vec::new());
    let label_only = filter.label.is_some() && certificate_filter(filter, backend, false).0.len() == 1;
    // How many certificates carry the label, kept per label as labels change (migration 0017). With no other filter
    // it is the total. On SQLite it also chooses the plan (PostgreSQL's planner chooses by itself): a
    // label that many carry is checked along the sort order, so that a page is found after a few rows; a rare one
    // is looked up first.
    let mut label_probe = false;
    let settled = "COALESCE((SELECT certificates FROM label_counts WHERE key = $1 AND value = $2), 0)";
    let label_matches = match &filter.label {
        Some((key, value)) if backend == Backend::Sqlite => {
            let sql = format!("SELECT {settled}, ({INVENTORY_TOTAL})");
            let row =
                sqlx::query(&sql).bind(key.as_str()).bind(value.as_str()).fetch_one(pool).await.map_err(storage)?;
            let (matches, inventory): (i64, i64) = (row.try_get(0).map_err(storage)?, row.try_get(1).map_err(storage)?);
            label_probe = matches.saturating_mul(LABEL_PROBE_RATIO) >= inventory;
            Some(matches)
        }
        // PostgreSQL: the settled count and the changes not yet folded into it.
        Some((key, value)) if label_only => {
            let pending = "COALESCE((SELECT SUM(delta) FROM label_count_changes WHERE key = $1 AND value = $2), 0)";
            let pair = vec![Bind::Text(key.clone()), Bind::Text(value.clone())];
            Some(scalar(format!("SELECT CAST({settled} + {pending} AS BIGINT)"), pair).await?)
        }
        _ => None,
    };
    let (mut clauses, mut binds) = certificate_filter(filter, backend, label_probe);
    let total = match label_matches {
        _ if clauses.is_empty() => everything().await?,
        Some(m) if label_only => m,
        _ => {
            let sql = format!("SELECT COUNT(*) FROM certificates {}", where_clause(&clauses));
            bind_all(planned_each_time(&sql, backend), &binds)
                .fetch_one(pool)
                .await
                .and_then(|r| r.try_get(0))
                .map_err(storage)?
        }
    };

    // Whether anything but a cursor narrows the page (the plan of an unfiltered page is the same for every value).
    let filtered = !clauses.is_empty();
    // A cursor walks the order it was made in.
    let sort = order.after.as_ref().map_or(order.sort, InventoryCursor::sort);
    let expression = sort_expression(sort.field, backend);
    let (direction, beyond) = if sort.descending { ("DESC", "<") } else { ("ASC", ">") };
    // A rare label alone, in creation order (SQLite): the page's ids are read from the label's index in order
    // rather than gathered whole and then sorted.
    let label_driven = backend == Backend::Sqlite && label_only && !label_probe && expression.is_none();
    let (ids_from, id) = if label_driven {
        clauses = vec!["key = $1 AND value = $2".to_owned()];
        ("SELECT certificate_id FROM certificate_labels", "certificate_id")
    } else {
        ("SELECT id FROM certificates", "id")
    };
    if let Some(after) = &order.after {
        // Keyset: the rows past the cursor's (sort value, id), found by the index instead of skipped by OFFSET.
        let key = match &after.key {
            CursorKey::NotAfter(t) => Some(Bind::Int(*t)),
            CursorKey::CommonName(name) => Some(Bind::Text(name.clone())),
            _ => None,
        };
        match (expression, key) {
            (Some(expr), Some(key)) => {
                binds.push(key);
                let k = binds.len();
                binds.push(Bind::Int(after.id));
                let i = binds.len();
                clauses.push(match backend {
                    Backend::Postgres => format!("({expr}, id) {beyond} (${k}, ${i})"),
                    // SQLite seeks an index with a row value only on plain columns; this form also seeks the
                    // expression index of the common-name order.
                    Backend::Sqlite => format!("{expr} {beyond}= ${k} AND ({expr} {beyond} ${k} OR id {beyond} ${i})"),
                });
            }
            _ => {
                binds.push(Bind::Int(after.id));
                clauses.push(format!("{id} {beyond} ${}", binds.len()));
            }
        }
    }
    let order_of = |id: &str| match expression {
        Some(expr) => format!("{expr} {direction}, {id} {direction}"),
        None => format!("{id} {direction}"),
    };
    let order_by = order_of("id");
    let offset = if order.after.is_some() { 0 } else { i64::try_from(page.offset()).unwrap_or(i64::MAX) };
    let limit = page.limit() as usize;
    let n = binds.len();
    // One row more than the page tells whether another page follows.
    let page_of = |select: &str, id: &str| {
        format!("{select} {} ORDER BY {} LIMIT ${} OFFSET ${}", where_clause(&clauses), order_of(id), n + 1, n + 2)
    };
    // The page's ids are found first, from the indexes alone where the filter and order allow it; only the rows of
    // the page are then read whole (PostgreSQL otherwise walks the primary key reading whole rows until a filter
    // such as an expiry window has matched a page, 20,000 rows for a one-day window of a million; unfiltered, or
    // only past a cursor, it reads the rows of an index in order directly).
    let sql = match backend {
        Backend::Postgres if !filtered => page_of(CERT_SELECT, "id"),
        Backend::Postgres => format!("{CERT_SELECT} WHERE id IN ({}) ORDER BY {order_by}", page_of(ids_from, id)),
        // SQLite hands each row over from its connection's thread on its own; the page comes as one row instead,
        // a JSON array of rows, which is several times cheaper under load.
        Backend::Sqlite => format!(
            "SELECT json_group_array({PAGE_ROW} ORDER BY {order_by}) FROM certificates WHERE id IN ({})",
            page_of(ids_from, id)
        ),
    };
    let query = if filtered { planned_each_time(&sql, backend) } else { sqlx::query(&sql) };
    let query = bind_all(query, &binds).bind(i64::from(page.limit()) + 1).bind(offset);
    let mut items = match backend {
        Backend::Postgres => {
            query.fetch_all(pool).await.map_err(storage)?.iter().map(certificate).collect::<Result<Vec<_>>>()?
        }
        Backend::Sqlite => {
            let json: String = query.fetch_one(pool).await.and_then(|r| r.try_get(0)).map_err(storage)?;
            let rows: Vec<Vec<serde_json::Value>> =
                serde_json::from_str(&json).map_err(|e| CoreError::Storage(format!("inventory page: {e}")))?;
            rows.iter().map(|r| certificate_of_json(r)).collect::<Result<Vec<_>>>()?
        }
    };
    let next = if items.len() > limit {
        items.truncate(limit);
        items.last().map(|last| InventoryCursor::after(last, sort))
    } else {
        None
    };
    Ok(InventoryPage { items, total: u64::try_from(total).unwrap_or(0), next })
}

pub(crate) fn unique_or_storage(code: &'static str, what: String) -> impl FnOnce(sqlx::Error) -> CoreError {
    move |e| match e.as_database_error().map(|d| d.is_unique_violation()) {
        Some(true) => CoreError::Conflict { code, message: what },
        _ => storage(e),
    }
}

async fn returning_id<'q>(
    q: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>,
    conn: &mut AnyConnection,
) -> std::result::Result<i64, sqlx::Error> {
    q.fetch_one(conn).await.and_then(|r| r.try_get(0))
}

pub(crate) async fn insert_key(conn: &mut AnyConnection, k: &NewKey) -> Result<i64> {
    let q = sqlx::query(
        "INSERT INTO keys (uuid, algorithm, public_key, sealed, exportable, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(k.uuid.to_string())
    .bind(k.algorithm.as_str())
    .bind(k.public_key.as_slice())
    .bind(k.sealed.as_slice())
    .bind(i64::from(k.exportable))
    .bind(k.created_at);
    returning_id(q, conn).await.map_err(storage)
}

pub(crate) async fn insert_authority(conn: &mut AnyConnection, a: &Authority) -> Result<i64> {
    let connector = a
        .connector
        .as_ref()
        .map(|c| serde_json::to_string(c).map_err(|e| CoreError::Storage(e.to_string())))
        .transpose()?;
    let q = sqlx::query(
        "INSERT INTO authorities (uuid, name, kind, parent_id, key_id, certificate, subject, key_identifier, \
         not_before, not_after, created_at, crl_partitions, connector) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id",
    )
    .bind(a.uuid.to_string())
    .bind(a.name.as_str())
    .bind(a.kind.as_str())
    .bind(a.parent_id)
    .bind(a.key_id)
    .bind(a.certificate_der.as_slice())
    .bind(a.subject.as_str())
    .bind(a.key_identifier.as_str())
    .bind(a.not_before)
    .bind(a.not_after)
    .bind(a.created_at)
    .bind(i64::from(a.crl_partitions))
    .bind(connector);
    returning_id(q, conn)
        .await
        .map_err(unique_or_storage("authority.name_taken", format!("an authority named '{}' exists", a.name)))
}

pub(crate) async fn insert_ra_profile(conn: &mut AnyConnection, p: &RaProfile) -> Result<i64> {
    let policy = serde_json::to_string(&p.policy).map_err(|e| CoreError::Storage(e.to_string()))?;
    let q = sqlx::query(
        "INSERT INTO ra_profiles (uuid, name, authority_id, policy, enabled, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(p.uuid.to_string())
    .bind(p.name.as_str())
    .bind(p.authority_id)
    .bind(policy)
    .bind(i64::from(p.enabled))
    .bind(p.created_at)
    .bind(p.updated_at);
    returning_id(q, conn)
        .await
        .map_err(unique_or_storage("ra_profile.name_taken", format!("an RA profile named '{}' exists", p.name)))
}

/// The text the name search looks in: the common name and the SANs, lower-cased.
fn search_names(c: &CertificateRecord, sans_json: &str) -> String {
    format!("{} {sans_json}", c.common_name.as_deref().unwrap_or_default()).to_lowercase()
}

/// Certificates per multi-row `INSERT`: well inside both engines' bound-parameter limits.
const CERTIFICATES_PER_INSERT: usize = 64;

/// Stores `certs` with a few multi-row statements (not a few per certificate) and returns their ids in order:
/// a batch of certificates costs about what one does.
pub(crate) async fn insert_certificates(
    conn: &mut AnyConnection,
    backend: Backend,
    node: &str,
    certs: &[&CertificateRecord],
) -> Result<Vec<i64>> {
    let mut ids = Vec::with_capacity(certs.len());
    for chunk in certs.chunks(CERTIFICATES_PER_INSERT) {
        ids.extend(insert_certificate_rows(conn, backend, chunk).await?);
    }
    if ids.is_empty() {
        return Ok(ids);
    }
    // On SQLite a trigger counts (and indexes the names) as the rows are inserted.
    if backend == Backend::Postgres {
        sqlx::query(
            "INSERT INTO inventory_counts (node, certificates) VALUES ($1, $2) \
         ON CONFLICT (node) DO UPDATE SET certificates = inventory_counts.certificates + $2",
        )
        .bind(node)
        .bind(i64::try_from(ids.len()).unwrap_or(i64::MAX))
        .execute(&mut *conn)
        .await
        .map_err(storage)?;
    }
    let labels: Vec<(i64, &str, &str)> = certs
        .iter()
        .zip(&ids)
        .flat_map(|(c, id)| c.metadata.labels.iter().map(move |(k, v)| (*id, k.as_str(), v.as_str())))
        .collect();
    for chunk in labels.chunks(CERTIFICATES_PER_INSERT * 4) {
        let sql = format!(
            "INSERT INTO certificate_labels (certificate_id, key, value) VALUES {}",
            crate::sql::values_placeholders(chunk.len(), 3)
        );
        let q = chunk.iter().fold(sqlx::query(&sql), |q, (id, k, v)| q.bind(*id).bind(*k).bind(*v));
        q.execute(&mut *conn).await.map_err(storage)?;
    }
    Ok(ids)
}

/// One multi-row `INSERT` of certificates (and, on SQLite, of their rows in the name index).
async fn insert_certificate_rows(
    conn: &mut AnyConnection,
    backend: Backend,
    certs: &[&CertificateRecord],
) -> Result<Vec<i64>> {
    let columns = match backend {
        Backend::Postgres => 24,
        Backend::Sqlite => 23,
    };
    let extra_column = if backend == Backend::Postgres { ", search_names" } else { "" };
    let sql = format!(
        "INSERT INTO certificates (uuid, serial, issuer, subject, common_name, sans, not_before, not_after, \
         key_algorithm, signature_algorithm, fingerprint, state, origin, authority_id, ra_profile_id, key_id, der, \
         idempotency_key, created_by, created_at, owner, labels, custom_attributes{extra_column}) \
         VALUES {} RETURNING id, uuid",
        crate::sql::values_placeholders(certs.len(), columns)
    );
    let mut q = sqlx::query(&sql);
    for c in certs {
        let sans = serde_json::Value::from(c.sans.clone()).to_string();
        // PostgreSQL indexes the names as a column; SQLite's trigger fills its FTS5 index.
        let name = (backend == Backend::Postgres).then(|| search_names(c, &sans));
        q = q
            .bind(c.uuid.to_string())
            .bind(c.serial.as_str())
            .bind(c.issuer.as_str())
            .bind(c.subject.as_str())
            .bind(c.common_name.as_deref())
            .bind(sans)
            .bind(c.not_before)
            .bind(c.not_after)
            .bind(c.key_algorithm.as_str())
            .bind(c.signature_algorithm.as_str())
            .bind(c.fingerprint.as_str())
            .bind(c.state.as_str())
            .bind(c.origin.as_str())
            .bind(c.authority_id)
            .bind(c.ra_profile_id)
            .bind(c.key_id)
            .bind(c.der.as_slice())
            .bind(c.idempotency_key.as_deref())
            .bind(c.created_by.as_str())
            .bind(c.created_at)
            .bind(c.metadata.owner.as_deref())
            .bind(c.metadata.labels_json())
            .bind(c.metadata.custom_attributes_json());
        if let Some(name) = name {
            q = q.bind(name);
        }
    }
    let rows = q.fetch_all(&mut *conn).await.map_err(unique_or_storage(
        "certificate.duplicate",
        "a certificate with this issuer and serial, or this idempotency key, already exists".to_owned(),
    ))?;
    // RETURNING gives no order guarantee: match the ids back by uuid.
    let mut by_uuid = std::collections::HashMap::with_capacity(rows.len());
    for row in &rows {
        by_uuid.insert(uuid(row, "uuid")?, get::<i64>(row, "id")?);
    }
    let ids = certs
        .iter()
        .map(|c| by_uuid.get(&c.uuid).copied())
        .collect::<Option<Vec<i64>>>()
        .ok_or_else(|| CoreError::Storage("a stored certificate's id did not come back".to_owned()))?;
    Ok(ids)
}

async fn insert_labels(conn: &mut AnyConnection, id: i64, m: &CertificateMetadata) -> Result<()> {
    for (key, value) in &m.labels {
        sqlx::query("INSERT INTO certificate_labels (certificate_id, key, value) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(key.as_str())
            .bind(value.as_str())
            .execute(&mut *conn)
            .await
            .map_err(storage)?;
    }
    Ok(())
}

pub(crate) async fn update_ra_profile(conn: &mut AnyConnection, p: &RaProfile) -> Result<bool> {
    let policy = serde_json::to_string(&p.policy).map_err(|e| CoreError::Storage(e.to_string()))?;
    let changed = sqlx::query(
        "UPDATE ra_profiles SET authority_id = $1, policy = $2, enabled = $3, updated_at = $4 WHERE id = $5",
    )
    .bind(p.authority_id)
    .bind(policy)
    .bind(i64::from(p.enabled))
    .bind(p.updated_at)
    .bind(p.id)
    .execute(conn)
    .await
    .map_err(storage)?
    .rows_affected();
    Ok(changed == 1)
}

pub(crate) async fn count_ra_profile_certificates(conn: &mut AnyConnection, id: i64) -> Result<u64> {
    let n: i64 = sqlx::query("SELECT COUNT(*) FROM certificates WHERE ra_profile_id = $1")
        .bind(id)
        .fetch_one(conn)
        .await
        .and_then(|r| r.try_get(0))
        .map_err(storage)?;
    Ok(u64::try_from(n).unwrap_or(0))
}

pub(crate) async fn delete_ra_profile(conn: &mut AnyConnection, id: i64) -> Result<bool> {
    let deleted = sqlx::query("DELETE FROM ra_profiles WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await
        .map_err(|e| match e.as_database_error().map(|d| d.is_foreign_key_violation()) {
            Some(true) => CoreError::Conflict {
                code: "ra_profile.in_use",
                message: "certificates were issued through this RA profile: disable it instead".to_owned(),
            },
            _ => storage(e),
        })?
        .rows_affected();
    Ok(deleted == 1)
}

pub(crate) async fn certificate_for_update(
    conn: &mut AnyConnection,
    backend: Backend,
    uuid: uuid::Uuid,
) -> Result<Option<CertificateRecord>> {
    // SQLite's transaction already holds the database write lock; PostgreSQL locks the row.
    let lock = if backend == Backend::Postgres { " FOR UPDATE" } else { "" };
    let row = sqlx::query(&format!("{CERT_SELECT} WHERE uuid = $1{lock}"))
        .bind(uuid.to_string())
        .fetch_optional(&mut *conn)
        .await
        .map_err(storage)?;
    row.as_ref().map(certificate).transpose()
}

pub(crate) async fn update_certificate_metadata(
    conn: &mut AnyConnection,
    id: i64,
    m: &CertificateMetadata,
) -> Result<()> {
    sqlx::query("UPDATE certificates SET owner = $1, labels = $2, custom_attributes = $3 WHERE id = $4")
        .bind(m.owner.as_deref())
        .bind(m.labels_json())
        .bind(m.custom_attributes_json())
        .bind(id)
        .execute(&mut *conn)
        .await
        .map_err(storage)?;
    sqlx::query("DELETE FROM certificate_labels WHERE certificate_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await
        .map_err(storage)?;
    insert_labels(conn, id, m).await
}
