//! Rows and queries for discovery runs, the locations where certificates were seen, and what each run saw
//! (migration 0012).

use crate::rows::{from_json, get, to_json, uuid};
use crate::sql::{storage, window};
use certwright_core::clock::EpochSeconds;
use certwright_core::discovery::{DiscoveryRun, Location, NewSighting, RunResult, RunState, Sighting};
use certwright_core::page::{Listed, Page};
use certwright_core::Result;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use uuid::Uuid;

const RUN_COLUMNS: &str = "id, uuid, spec, state, counts, problems, error, stopped_at_limit, repeat_every_seconds, \
     series, sealed_passwords, created_by, created_at, run_at, started_at, finished_at";

const SIGHTING_COLUMNS: &str = "s.id, s.certificate_id, c.uuid AS certificate_uuid, s.details, s.first_seen, \
     s.last_seen, s.last_run_id, s.gone_at";

fn run(row: &AnyRow) -> Result<DiscoveryRun> {
    Ok(DiscoveryRun {
        id: get(row, "id")?,
        uuid: uuid(row, "uuid")?,
        spec: from_json(row, "spec")?,
        state: RunState::from_stored(&get::<String>(row, "state")?)?,
        counts: from_json(row, "counts")?,
        problems: from_json(row, "problems")?,
        error: get(row, "error")?,
        stopped_at_limit: get::<i64>(row, "stopped_at_limit")? != 0,
        repeat_every_seconds: get(row, "repeat_every_seconds")?,
        series: uuid(row, "series")?,
        sealed_passwords: get(row, "sealed_passwords")?,
        created_by: get(row, "created_by")?,
        created_at: get(row, "created_at")?,
        run_at: get(row, "run_at")?,
        started_at: get(row, "started_at")?,
        finished_at: get(row, "finished_at")?,
    })
}

fn sighting(row: &AnyRow) -> Result<Sighting> {
    let mut details: serde_json::Value = from_json(row, "details")?;
    let location: Location = details
        .as_object_mut()
        .and_then(|d| d.remove("where"))
        .map(serde_json::from_value)
        .transpose()
        .map_err(crate::rows::json_err)?
        .ok_or_else(|| certwright_core::CoreError::Storage("a sighting has no location".to_owned()))?;
    Ok(Sighting {
        id: get(row, "id")?,
        certificate_id: get(row, "certificate_id")?,
        certificate_uuid: uuid(row, "certificate_uuid")?,
        location,
        details,
        first_seen: get(row, "first_seen")?,
        last_seen: get(row, "last_seen")?,
        last_run: get(row, "last_run_id")?,
        gone_at: get(row, "gone_at")?,
    })
}

pub(crate) async fn by_uuid(conn: &mut AnyConnection, uuid: Uuid, lock: bool) -> Result<Option<DiscoveryRun>> {
    let lock = if lock { " FOR UPDATE" } else { "" };
    let sql = format!("SELECT {RUN_COLUMNS} FROM discovery_runs WHERE uuid = $1{lock}");
    let row = sqlx::query(&sql).bind(uuid.to_string()).fetch_optional(&mut *conn).await.map_err(storage)?;
    row.as_ref().map(run).transpose()
}

pub(crate) async fn list(conn: &mut AnyConnection, page: Page) -> Result<Listed<DiscoveryRun>> {
    let total: i64 = sqlx::query("SELECT COUNT(*) FROM discovery_runs")
        .fetch_one(&mut *conn)
        .await
        .and_then(|r| r.try_get(0))
        .map_err(storage)?;
    let (limit, offset) = window(page);
    let sql = format!("SELECT {RUN_COLUMNS} FROM discovery_runs ORDER BY id DESC LIMIT $1 OFFSET $2");
    let rows = sqlx::query(&sql).bind(limit).bind(offset).fetch_all(&mut *conn).await.map_err(storage)?;
    Ok(Listed { items: rows.iter().map(run).collect::<Result<_>>()?, total: u64::try_from(total).unwrap_or(0) })
}

pub(crate) async fn insert(conn: &mut AnyConnection, r: &DiscoveryRun) -> Result<i64> {
    sqlx::query(
        "INSERT INTO discovery_runs (uuid, kind, spec, state, counts, problems, error, stopped_at_limit, \
         repeat_every_seconds, series, sealed_passwords, created_by, created_at, run_at, started_at, finished_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) RETURNING id",
    )
    .bind(r.uuid.to_string())
    .bind(r.spec.kind())
    .bind(to_json(&r.spec)?)
    .bind(r.state.as_str())
    .bind(to_json(&r.counts)?)
    .bind(to_json(&r.problems)?)
    .bind(r.error.as_deref())
    .bind(i64::from(r.stopped_at_limit))
    .bind(r.repeat_every_seconds)
    .bind(r.series.to_string())
    .bind(r.sealed_passwords.as_deref())
    .bind(r.created_by.as_str())
    .bind(r.created_at)
    .bind(r.run_at)
    .bind(r.started_at)
    .bind(r.finished_at)
    .fetch_one(conn)
    .await
    .and_then(|row| row.try_get(0))
    .map_err(storage)
}

pub(crate) async fn update(conn: &mut AnyConnection, r: &DiscoveryRun) -> Result<()> {
    sqlx::query(
        "UPDATE discovery_runs SET state = $1, counts = $2, problems = $3, error = $4, stopped_at_limit = $5, \
         started_at = $6, finished_at = $7, sealed_passwords = $8 WHERE id = $9",
    )
    .bind(r.state.as_str())
    .bind(to_json(&r.counts)?)
    .bind(to_json(&r.problems)?)
    .bind(r.error.as_deref())
    .bind(i64::from(r.stopped_at_limit))
    .bind(r.started_at)
    .bind(r.finished_at)
    .bind(r.sealed_passwords.as_deref())
    .bind(r.id)
    .execute(conn)
    .await
    .map_err(storage)?;
    Ok(())
}

pub(crate) async fn certificate_by_fingerprint(
    conn: &mut AnyConnection,
    fingerprint: &str,
) -> Result<Option<(i64, Uuid)>> {
    let row = sqlx::query("SELECT id, uuid FROM certificates WHERE fingerprint = $1 ORDER BY id LIMIT 1")
        .bind(fingerprint)
        .fetch_optional(&mut *conn)
        .await
        .map_err(storage)?;
    row.map(|r| Ok((get(&r, "id")?, uuid(&r, "uuid")?))).transpose()
}

pub(crate) async fn record_sighting(
    conn: &mut AnyConnection,
    run_id: i64,
    s: &NewSighting,
    new_certificate: bool,
    now: EpochSeconds,
) -> Result<u64> {
    let key = s.location.key();
    let mut details = s.details.clone();
    if let Some(d) = details.as_object_mut() {
        d.insert("where".to_owned(), serde_json::to_value(&s.location).map_err(crate::rows::json_err)?);
    }
    let details = to_json(&details)?;
    let id: i64 = sqlx::query(
        "INSERT INTO discovery_sightings (certificate_id, kind, location, details, first_seen, last_seen, \
         last_run_id, gone_at) VALUES ($1, $2, $3, $4, $5, $5, $6, NULL) \
         ON CONFLICT (location, certificate_id) DO UPDATE SET details = excluded.details, \
         last_seen = excluded.last_seen, last_run_id = excluded.last_run_id, gone_at = NULL RETURNING id",
    )
    .bind(s.certificate_id)
    .bind(s.location.kind())
    .bind(key.as_str())
    .bind(details)
    .bind(now)
    .bind(run_id)
    .fetch_one(&mut *conn)
    .await
    .and_then(|r| r.try_get(0))
    .map_err(storage)?;
    let outcome = if new_certificate { "new" } else { "seen" };
    sqlx::query(
        "INSERT INTO discovery_results (run_id, sighting_id, outcome) VALUES ($1, $2, $3) \
         ON CONFLICT (run_id, sighting_id) DO NOTHING",
    )
    .bind(run_id)
    .bind(id)
    .bind(outcome)
    .execute(&mut *conn)
    .await
    .map_err(storage)?;
    // Another certificate served at the same place has been replaced.
    let replaced: Vec<i64> = sqlx::query(
        "SELECT id FROM discovery_sightings WHERE location = $1 AND certificate_id <> $2 AND gone_at IS NULL",
    )
    .bind(key.as_str())
    .bind(s.certificate_id)
    .fetch_all(&mut *conn)
    .await
    .map_err(storage)?
    .iter()
    .map(|r| get(r, "id"))
    .collect::<Result<_>>()?;
    mark_gone(conn, run_id, &replaced, now).await
}

pub(crate) async fn mark_gone(conn: &mut AnyConnection, run_id: i64, ids: &[i64], now: EpochSeconds) -> Result<u64> {
    let mut marked = 0;
    for id in ids {
        let done = sqlx::query(
            "UPDATE discovery_sightings SET gone_at = $1 WHERE id = $2 AND gone_at IS NULL AND last_run_id <= $3",
        )
        .bind(now)
        .bind(*id)
        .bind(run_id)
        .execute(&mut *conn)
        .await
        .map_err(storage)?
        .rows_affected();
        if done > 0 {
            sqlx::query(
                "INSERT INTO discovery_results (run_id, sighting_id, outcome) VALUES ($1, $2, 'gone') \
                 ON CONFLICT (run_id, sighting_id) DO UPDATE SET outcome = 'gone'",
            )
            .bind(run_id)
            .bind(*id)
            .execute(&mut *conn)
            .await
            .map_err(storage)?;
            marked += done;
        }
    }
    Ok(marked)
}

pub(crate) async fn results(
    conn: &mut AnyConnection,
    run_id: i64,
    gone: bool,
    page: Page,
) -> Result<Listed<RunResult>> {
    let clause = if gone { "r.outcome = 'gone'" } else { "r.outcome <> 'gone'" };
    let total: i64 = sqlx::query(&format!("SELECT COUNT(*) FROM discovery_results r WHERE r.run_id = $1 AND {clause}"))
        .bind(run_id)
        .fetch_one(&mut *conn)
        .await
        .and_then(|r| r.try_get(0))
        .map_err(storage)?;
    let (limit, offset) = window(page);
    let sql = format!(
        "SELECT {SIGHTING_COLUMNS}, r.outcome FROM discovery_results r \
         JOIN discovery_sightings s ON s.id = r.sighting_id JOIN certificates c ON c.id = s.certificate_id \
         WHERE r.run_id = $1 AND {clause} ORDER BY r.id LIMIT $2 OFFSET $3"
    );
    let rows = sqlx::query(&sql).bind(run_id).bind(limit).bind(offset).fetch_all(&mut *conn).await.map_err(storage)?;
    let items = rows
        .iter()
        .map(|row| Ok(RunResult { sighting: sighting(row)?, new_certificate: get::<String>(row, "outcome")? == "new" }))
        .collect::<Result<_>>()?;
    Ok(Listed { items, total: u64::try_from(total).unwrap_or(0) })
}

pub(crate) async fn of_certificate(conn: &mut AnyConnection, certificate_id: i64) -> Result<Vec<Sighting>> {
    let sql = format!(
        "SELECT {SIGHTING_COLUMNS} FROM discovery_sightings s JOIN certificates c ON c.id = s.certificate_id \
         WHERE s.certificate_id = $1 ORDER BY s.last_seen DESC, s.id DESC LIMIT 1000"
    );
    let rows = sqlx::query(&sql).bind(certificate_id).fetch_all(&mut *conn).await.map_err(storage)?;
    rows.iter().map(sighting).collect()
}

pub(crate) async fn active(conn: &mut AnyConnection, kind: &str, after: i64, limit: u32) -> Result<Vec<Sighting>> {
    let sql = format!(
        "SELECT {SIGHTING_COLUMNS} FROM discovery_sightings s JOIN certificates c ON c.id = s.certificate_id \
         WHERE s.kind = $1 AND s.gone_at IS NULL AND s.id > $2 ORDER BY s.id LIMIT $3"
    );
    let rows =
        sqlx::query(&sql).bind(kind).bind(after).bind(i64::from(limit)).fetch_all(&mut *conn).await.map_err(storage)?;
    rows.iter().map(sighting).collect()
}
