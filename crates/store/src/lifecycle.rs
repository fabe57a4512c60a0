//! Rows and queries of the lifecycle: certificate requests, renewal links, pending revocations, approvals,
//! jobs, notification rules, and the reports over the inventory.

use crate::pki::unique_or_storage;
use crate::rows::{from_json, get, json_err, to_json, uuid};
use crate::sql::{storage, window, Backend};
use certwright_core::ca::CertificateRecord;
use certwright_core::clock::EpochSeconds;
use certwright_core::jobs::{Job, JobEnd, JobFilter, JobState, NewJob};
use certwright_core::lifecycle::{
    Approval, ApprovalAction, ApprovalStatus, CertificateLink, LinkKind, RequestKind, RequestRecord, RevocationRequest,
    State, Vote,
};
use certwright_core::notify::{Channel, NotificationRule};
use certwright_core::page::{Listed, Page};
use certwright_core::store::{ExpiringQuery, InventorySummary};
use certwright_core::{CoreError, Result};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use uuid::Uuid;

fn u32_of(v: i64) -> u32 {
    u32::try_from(v).unwrap_or(0)
}

// ---- requests --------------------------------------------------------------------------------------------------

const REQUEST_SELECT: &str = "SELECT id, uuid, action, state, ra_profile_id, authority_id, csr, public_key, \
     subject_der, subject, common_name, sans, key_algorithm, key_id, validity_days, replaces_id, replace_in_locations, \
     certificate_id, external_ref, reason, idempotency_key, created_by, created_at, updated_at FROM certificate_requests";

fn request(row: &AnyRow) -> Result<RequestRecord> {
    Ok(RequestRecord {
        id: get(row, "id")?,
        uuid: uuid(row, "uuid")?,
        kind: RequestKind::from_stored(&get::<String>(row, "action")?)?,
        state: State::from_stored(&get::<String>(row, "state")?)?,
        ra_profile_id: get(row, "ra_profile_id")?,
        authority_id: get(row, "authority_id")?,
        csr: get(row, "csr")?,
        public_key: get(row, "public_key")?,
        subject_der: get(row, "subject_der")?,
        subject: get(row, "subject")?,
        common_name: get(row, "common_name")?,
        sans: from_json(row, "sans")?,
        key_algorithm: get(row, "key_algorithm")?,
        key_id: get(row, "key_id")?,
        validity_days: u32_of(get(row, "validity_days")?),
        replaces_id: get(row, "replaces_id")?,
        replace_in_locations: get::<i64>(row, "replace_in_locations")? != 0,
        certificate_id: get(row, "certificate_id")?,
        external_ref: get(row, "external_ref")?,
        reason: get(row, "reason")?,
        idempotency_key: get(row, "idempotency_key")?,
        created_by: get(row, "created_by")?,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
    })
}

pub(crate) async fn request_by(
    conn: &mut AnyConnection,
    column: &str,
    value: String,
    lock: bool,
) -> Result<Option<RequestRecord>> {
    let lock = if lock { " FOR UPDATE" } else { "" };
    let sql = format!("{REQUEST_SELECT} WHERE {column} = $1{lock}");
    let row = sqlx::query(&sql).bind(value).fetch_optional(&mut *conn).await.map_err(storage)?;
    row.as_ref().map(request).transpose()
}

pub(crate) async fn request_by_idempotency_key(
    conn: &mut AnyConnection,
    created_by: &str,
    key: &str,
) -> Result<Option<RequestRecord>> {
    let sql = format!("{REQUEST_SELECT} WHERE created_by = $1 AND idempotency_key = $2");
    let row = sqlx::query(&sql).bind(created_by).bind(key).fetch_optional(&mut *conn).await.map_err(storage)?;
    row.as_ref().map(request).transpose()
}

pub(crate) async fn request_of_certificate(conn: &mut AnyConnection, id: i64) -> Result<Option<RequestRecord>> {
    let sql = format!("{REQUEST_SELECT} WHERE certificate_id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(&mut *conn).await.map_err(storage)?;
    row.as_ref().map(request).transpose()
}

pub(crate) async fn list_requests(
    conn: &mut AnyConnection,
    state: Option<State>,
    page: Page,
) -> Result<Listed<RequestRecord>> {
    let state = state.map(|s| s.as_str().to_owned());
    let filter = "WHERE ($1 IS NULL OR state = $1)";
    let total: i64 = sqlx::query(&format!("SELECT COUNT(*) FROM certificate_requests {filter}"))
        .bind(state.clone())
        .fetch_one(&mut *conn)
        .await
        .and_then(|r| r.try_get(0))
        .map_err(storage)?;
    let (limit, offset) = window(page);
    let sql = format!("{REQUEST_SELECT} {filter} ORDER BY id DESC LIMIT $2 OFFSET $3");
    let items = sqlx::query(&sql)
        .bind(state)
        .bind(limit)
        .bind(offset)
        .fetch_all(&mut *conn)
        .await
        .map_err(storage)?
        .iter()
        .map(request)
        .collect::<Result<_>>()?;
    Ok(Listed { items, total: u64::try_from(total).unwrap_or(0) })
}

pub(crate) async fn insert_request(conn: &mut AnyConnection, r: &RequestRecord) -> Result<i64> {
    let row = sqlx::query(
        "INSERT INTO certificate_requests (uuid, action, state, ra_profile_id, authority_id, csr, public_key, \
         subject_der, subject, common_name, sans, key_algorithm, key_id, validity_days, replaces_id, \
                  replace_in_locations, certificate_id, external_ref, reason, created_by, created_at, updated_at, \
         idempotency_key) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, \
         $23) RETURNING id",
    )
    .bind(r.uuid.to_string())
    .bind(r.kind.as_str())
    .bind(r.state.as_str())
    .bind(r.ra_profile_id)
    .bind(r.authority_id)
    .bind(r.csr.as_deref())
    .bind(r.public_key.as_slice())
    .bind(r.subject_der.as_slice())
    .bind(r.subject.as_str())
    .bind(r.common_name.as_deref())
    .bind(to_json(&r.sans)?)
    .bind(r.key_algorithm.as_str())
    .bind(r.key_id)
    .bind(i64::from(r.validity_days))
    .bind(r.replaces_id)
    .bind(i64::from(r.replace_in_locations))
    .bind(r.certificate_id)
    .bind(r.external_ref.as_deref())
    .bind(r.reason.as_deref())
    .bind(r.created_by.as_str())
    .bind(r.created_at)
    .bind(r.updated_at)
    .bind(r.idempotency_key.as_deref())
    .fetch_one(&mut *conn)
    .await
    .map_err(unique_or_storage(
        "request.duplicate",
        "a request with this Idempotency-Key is being made; retry to get it".to_owned(),
    ))?;
    row.try_get(0).map_err(storage)
}

pub(crate) async fn update_request(conn: &mut AnyConnection, r: &RequestRecord) -> Result<()> {
    sqlx::query(
        "UPDATE certificate_requests SET state = $1, certificate_id = $2, external_ref = $3, reason = $4, \
         updated_at = $5 WHERE id = $6",
    )
    .bind(r.state.as_str())
    .bind(r.certificate_id)
    .bind(r.external_ref.as_deref())
    .bind(r.reason.as_deref())
    .bind(r.updated_at)
    .bind(r.id)
    .execute(&mut *conn)
    .await
    .map_err(storage)?;
    Ok(())
}

// ---- links and pending revocations -----------------------------------------------------------------------------

pub(crate) async fn certificate_links(conn: &mut AnyConnection, id: i64) -> Result<Vec<CertificateLink>> {
    let rows = sqlx::query(
        "SELECT l.kind, c.uuid AS certificate, p.uuid AS previous FROM certificate_links l \
         JOIN certificates c ON c.id = l.certificate_id JOIN certificates p ON p.id = l.previous_id \
         WHERE l.certificate_id = $1 OR l.previous_id = $1 ORDER BY c.id",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await
    .map_err(storage)?;
    rows.iter()
        .map(|r| {
            Ok(CertificateLink {
                kind: LinkKind::from_stored(&get::<String>(r, "kind")?)?,
                certificate: uuid(r, "certificate")?,
                previous: uuid(r, "previous")?,
            })
        })
        .collect()
}

pub(crate) async fn insert_link(conn: &mut AnyConnection, id: i64, previous: i64, kind: LinkKind) -> Result<()> {
    sqlx::query("INSERT INTO certificate_links (certificate_id, previous_id, kind) VALUES ($1, $2, $3)")
        .bind(id)
        .bind(previous)
        .bind(kind.as_str())
        .execute(&mut *conn)
        .await
        .map_err(storage)?;
    Ok(())
}

fn revocation_request(row: &AnyRow) -> Result<RevocationRequest> {
    Ok(RevocationRequest {
        certificate_id: get(row, "certificate_id")?,
        reason: get(row, "reason")?,
        invalidity_date: get(row, "invalidity_date")?,
        destroy_key: get::<i64>(row, "destroy_key")? != 0,
        requested_by: get(row, "requested_by")?,
        requested_at: get(row, "requested_at")?,
        attributes: match get::<Option<String>>(row, "attributes")? {
            Some(text) => serde_json::from_str(&text)
                .map_err(|e| CoreError::Storage(format!("revocation request attributes: {e}")))?,
            None => Vec::new(),
        },
    })
}

pub(crate) async fn revocation_request_of(
    conn: &mut AnyConnection,
    certificate_id: i64,
    take: bool,
) -> Result<Option<RevocationRequest>> {
    let verb = if take {
        "DELETE FROM revocation_requests WHERE certificate_id = $1 RETURNING *"
    } else {
        "SELECT * FROM revocation_requests WHERE certificate_id = $1"
    };
    let row = sqlx::query(verb).bind(certificate_id).fetch_optional(&mut *conn).await.map_err(storage)?;
    row.as_ref().map(revocation_request).transpose()
}

pub(crate) async fn insert_revocation_request(conn: &mut AnyConnection, r: &RevocationRequest) -> Result<()> {
    let attributes = if r.attributes.is_empty() {
        None
    } else {
        Some(serde_json::to_string(&r.attributes).map_err(|e| CoreError::Storage(e.to_string()))?)
    };
    sqlx::query(
        "INSERT INTO revocation_requests (certificate_id, reason, invalidity_date, destroy_key, requested_by, \
         requested_at, attributes) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(r.certificate_id)
    .bind(r.reason.as_str())
    .bind(r.invalidity_date)
    .bind(i64::from(r.destroy_key))
    .bind(r.requested_by.as_str())
    .bind(r.requested_at)
    .bind(attributes)
    .execute(&mut *conn)
    .await
    .map_err(unique_or_storage(
        "revocation.already_pending",
        "a revocation of this certificate is already pending".to_owned(),
    ))?;
    Ok(())
}

// ---- approvals -------------------------------------------------------------------------------------------------

const APPROVAL_SELECT: &str = "SELECT id, uuid, action, object_uuid, ra_profile_id, required, approver_role, status, \
     requested_by, created_at, expires_at, decided_at FROM approvals";

fn approval(row: &AnyRow) -> Result<Approval> {
    Ok(Approval {
        id: get(row, "id")?,
        uuid: uuid(row, "uuid")?,
        action: ApprovalAction::from_stored(&get::<String>(row, "action")?)?,
        object_uuid: uuid(row, "object_uuid")?,
        ra_profile_id: get(row, "ra_profile_id")?,
        required: u32_of(get(row, "required")?),
        approver_role: get(row, "approver_role")?,
        status: ApprovalStatus::from_stored(&get::<String>(row, "status")?)?,
        requested_by: get(row, "requested_by")?,
        created_at: get(row, "created_at")?,
        expires_at: get(row, "expires_at")?,
        decided_at: get(row, "decided_at")?,
        votes: Vec::new(),
    })
}

async fn with_votes(conn: &mut AnyConnection, mut approvals: Vec<Approval>) -> Result<Vec<Approval>> {
    for a in &mut approvals {
        let rows = sqlx::query(
            "SELECT principal, decision, comment, at FROM approval_votes WHERE approval_id = $1 ORDER BY at, principal",
        )
        .bind(a.id)
        .fetch_all(&mut *conn)
        .await
        .map_err(storage)?;
        a.votes = rows
            .iter()
            .map(|r| {
                Ok(Vote {
                    principal: get(r, "principal")?,
                    decision: get(r, "decision")?,
                    comment: get(r, "comment")?,
                    at: get(r, "at")?,
                })
            })
            .collect::<Result<_>>()?;
    }
    Ok(approvals)
}

pub(crate) async fn approval_where(
    conn: &mut AnyConnection,
    clause: &str,
    value: String,
    lock: bool,
) -> Result<Option<Approval>> {
    let lock = if lock { " FOR UPDATE" } else { "" };
    let sql = format!("{APPROVAL_SELECT} WHERE {clause}{lock}");
    let row = sqlx::query(&sql).bind(value).fetch_optional(&mut *conn).await.map_err(storage)?;
    let found = row.as_ref().map(approval).transpose()?;
    Ok(with_votes(conn, found.into_iter().collect()).await?.pop())
}

pub(crate) async fn list_approvals(
    conn: &mut AnyConnection,
    status: Option<ApprovalStatus>,
    page: Page,
) -> Result<Listed<Approval>> {
    let status = status.map(|s| s.as_str().to_owned());
    let filter = "WHERE ($1 IS NULL OR status = $1)";
    let total: i64 = sqlx::query(&format!("SELECT COUNT(*) FROM approvals {filter}"))
        .bind(status.clone())
        .fetch_one(&mut *conn)
        .await
        .and_then(|r| r.try_get(0))
        .map_err(storage)?;
    let (limit, offset) = window(page);
    let sql = format!("{APPROVAL_SELECT} {filter} ORDER BY id DESC LIMIT $2 OFFSET $3");
    let found = sqlx::query(&sql)
        .bind(status)
        .bind(limit)
        .bind(offset)
        .fetch_all(&mut *conn)
        .await
        .map_err(storage)?
        .iter()
        .map(approval)
        .collect::<Result<Vec<_>>>()?;
    Ok(Listed { items: with_votes(conn, found).await?, total: u64::try_from(total).unwrap_or(0) })
}

pub(crate) async fn insert_approval(conn: &mut AnyConnection, a: &Approval) -> Result<i64> {
    let row = sqlx::query(
        "INSERT INTO approvals (uuid, action, object_uuid, ra_profile_id, required, approver_role, status, \
         requested_by, created_at, expires_at, decided_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         RETURNING id",
    )
    .bind(a.uuid.to_string())
    .bind(a.action.as_str())
    .bind(a.object_uuid.to_string())
    .bind(a.ra_profile_id)
    .bind(i64::from(a.required))
    .bind(a.approver_role.as_str())
    .bind(a.status.as_str())
    .bind(a.requested_by.as_str())
    .bind(a.created_at)
    .bind(a.expires_at)
    .bind(a.decided_at)
    .fetch_one(&mut *conn)
    .await
    .map_err(storage)?;
    row.try_get(0).map_err(storage)
}

pub(crate) async fn insert_vote(conn: &mut AnyConnection, approval_id: i64, v: &Vote) -> Result<()> {
    sqlx::query(
        "INSERT INTO approval_votes (approval_id, principal, decision, comment, at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(approval_id)
    .bind(v.principal.as_str())
    .bind(v.decision.as_str())
    .bind(v.comment.as_deref())
    .bind(v.at)
    .execute(&mut *conn)
    .await
    .map_err(unique_or_storage("approval.already_voted", format!("{} has already decided on this", v.principal)))?;
    Ok(())
}

pub(crate) async fn set_approval_status(
    conn: &mut AnyConnection,
    id: i64,
    status: ApprovalStatus,
    at: EpochSeconds,
) -> Result<()> {
    sqlx::query("UPDATE approvals SET status = $1, decided_at = $2 WHERE id = $3")
        .bind(status.as_str())
        .bind(at)
        .bind(id)
        .execute(&mut *conn)
        .await
        .map_err(storage)?;
    Ok(())
}

pub(crate) async fn stale_approvals(conn: &mut AnyConnection, now: EpochSeconds, limit: u32) -> Result<Vec<Approval>> {
    let sql = format!("{APPROVAL_SELECT} WHERE status = 'pending' AND expires_at <= $1 ORDER BY id LIMIT $2");
    let found = sqlx::query(&sql)
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&mut *conn)
        .await
        .map_err(storage)?
        .iter()
        .map(approval)
        .collect::<Result<Vec<_>>>()?;
    with_votes(conn, found).await
}

// ---- jobs ------------------------------------------------------------------------------------------------------

const JOB_COLUMNS: &str = "id, uuid, kind, payload, dedupe_key, state, attempts, max_attempts, run_at, leased_by, \
     lease_until, last_error, result, created_at, updated_at, finished_at";

fn job(row: &AnyRow) -> Result<Job> {
    Ok(Job {
        id: get(row, "id")?,
        uuid: uuid(row, "uuid")?,
        kind: get(row, "kind")?,
        payload: from_json(row, "payload")?,
        dedupe_key: get(row, "dedupe_key")?,
        state: JobState::from_stored(&get::<String>(row, "state")?)?,
        attempts: u32_of(get(row, "attempts")?),
        max_attempts: u32_of(get(row, "max_attempts")?),
        run_at: get(row, "run_at")?,
        leased_by: get(row, "leased_by")?,
        lease_until: get(row, "lease_until")?,
        last_error: get(row, "last_error")?,
        result: get::<Option<String>>(row, "result")?
            .map(|r| serde_json::from_str(&r).map_err(json_err))
            .transpose()?,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
        finished_at: get(row, "finished_at")?,
    })
}

pub(crate) async fn job_by_uuid(conn: &mut AnyConnection, uuid: Uuid) -> Result<Option<Job>> {
    let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE uuid = $1");
    let row = sqlx::query(&sql).bind(uuid.to_string()).fetch_optional(&mut *conn).await.map_err(storage)?;
    row.as_ref().map(job).transpose()
}

pub(crate) async fn job_by_dedupe_key(conn: &mut AnyConnection, key: &str) -> Result<Option<Job>> {
    let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE dedupe_key = $1");
    let row = sqlx::query(&sql).bind(key).fetch_optional(&mut *conn).await.map_err(storage)?;
    row.as_ref().map(job).transpose()
}

pub(crate) async fn list_jobs(conn: &mut AnyConnection, filter: &JobFilter, page: Page) -> Result<Listed<Job>> {
    let state = filter.state.map(|s| s.as_str().to_owned());
    let clause = "WHERE ($1 IS NULL OR state = $1) AND ($2 IS NULL OR kind = $2)";
    let total: i64 = sqlx::query(&format!("SELECT COUNT(*) FROM jobs {clause}"))
        .bind(state.clone())
        .bind(filter.kind.clone())
        .fetch_one(&mut *conn)
        .await
        .and_then(|r| r.try_get(0))
        .map_err(storage)?;
    let (limit, offset) = window(page);
    let sql = format!("SELECT {JOB_COLUMNS} FROM jobs {clause} ORDER BY id DESC LIMIT $3 OFFSET $4");
    let items = sqlx::query(&sql)
        .bind(state)
        .bind(filter.kind.clone())
        .bind(limit)
        .bind(offset)
        .fetch_all(&mut *conn)
        .await
        .map_err(storage)?
        .iter()
        .map(job)
        .collect::<Result<_>>()?;
    Ok(Listed { items, total: u64::try_from(total).unwrap_or(0) })
}

pub(crate) async fn enqueue_job(conn: &mut AnyConnection, j: &NewJob, now: EpochSeconds) -> Result<Option<i64>> {
    let row = sqlx::query(
        "INSERT INTO jobs (uuid, kind, payload, dedupe_key, state, attempts, max_attempts, run_at, created_at, \
         updated_at, leased_by, lease_until) VALUES ($1, $2, $3, $4, $8, $9, $5, $6, $7, $7, $10, $11) \
         ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
    )
    .bind(j.uuid.to_string())
    .bind(j.kind)
    .bind(to_json(&j.payload)?)
    .bind(j.dedupe_key.as_deref())
    .bind(i64::from(j.max_attempts.max(1)))
    .bind(j.run_at)
    .bind(now)
    .bind(if j.leased_to.is_some() { "running" } else { "queued" })
    .bind(i64::from(j.leased_to.is_some()))
    .bind(j.leased_to.as_ref().map(|(owner, _)| owner.as_str()))
    .bind(j.leased_to.as_ref().map(|(_, until)| *until))
    .fetch_optional(&mut *conn)
    .await
    .map_err(storage)?;
    row.map(|r| r.try_get(0)).transpose().map_err(storage)
}

pub(crate) async fn lease_jobs(
    conn: &mut AnyConnection,
    backend: Backend,
    owner: &str,
    now: EpochSeconds,
    lease_until: EpochSeconds,
    limit: u32,
) -> Result<Vec<Job>> {
    // On PostgreSQL concurrent leasers skip each other's rows; SQLite has one writer, so the sub-select and the
    // update cannot interleave with another node's.
    let skip = match backend {
        Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    let sql = format!(
        "UPDATE jobs SET state = 'running', leased_by = $1, lease_until = $2, attempts = attempts + 1, updated_at = $3 \
         WHERE id IN (SELECT id FROM jobs WHERE (state = 'queued' AND run_at <= $3) \
         OR (state = 'running' AND lease_until <= $3) ORDER BY run_at, id LIMIT $4{skip}) RETURNING {JOB_COLUMNS}"
    );
    let mut jobs = sqlx::query(&sql)
        .bind(owner)
        .bind(lease_until)
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&mut *conn)
        .await
        .map_err(storage)?
        .iter()
        .map(job)
        .collect::<Result<Vec<_>>>()?;
    jobs.sort_by_key(|j| (j.run_at, j.id));
    Ok(jobs)
}

pub(crate) async fn finish_job(
    conn: &mut AnyConnection,
    id: i64,
    owner: &str,
    end: &JobEnd,
    now: EpochSeconds,
) -> Result<bool> {
    let q = match end {
        JobEnd::Succeeded(result) => sqlx::query(
            "UPDATE jobs SET state = 'succeeded', result = $1, last_error = NULL, leased_by = NULL, lease_until = NULL, \
             updated_at = $2, finished_at = $2 WHERE id = $3 AND leased_by = $4 AND state = 'running'",
        )
        .bind(to_json(result)?)
        .bind(now),
        JobEnd::Failed(error) => sqlx::query(
            "UPDATE jobs SET state = 'failed', last_error = $1, leased_by = NULL, lease_until = NULL, \
             updated_at = $2, finished_at = $2 WHERE id = $3 AND leased_by = $4 AND state = 'running'",
        )
        .bind(error.as_str())
        .bind(now),
        JobEnd::Retry { error, run_at } => sqlx::query(
            "UPDATE jobs SET state = CASE WHEN attempts >= max_attempts THEN 'failed' ELSE 'queued' END, \
             finished_at = CASE WHEN attempts >= max_attempts THEN $5 ELSE NULL END, \
             last_error = $1, leased_by = NULL, lease_until = NULL, run_at = $2, updated_at = $5 \
             WHERE id = $3 AND leased_by = $4 AND state = 'running'",
        )
        .bind(error.as_str())
        .bind(*run_at),
    };
    let q = q.bind(id).bind(owner);
    let q = if matches!(end, JobEnd::Retry { .. }) { q.bind(now) } else { q };
    Ok(q.execute(&mut *conn).await.map_err(storage)?.rows_affected() == 1)
}

// ---- notification rules ----------------------------------------------------------------------------------------

fn rule(row: &AnyRow) -> Result<NotificationRule> {
    let target: String = get(row, "target")?;
    Ok(NotificationRule {
        id: get(row, "id")?,
        uuid: uuid(row, "uuid")?,
        name: get(row, "name")?,
        channel: Channel::from_stored(&get::<String>(row, "channel")?)?,
        targets: target.split(',').filter(|t| !t.is_empty()).map(str::to_owned).collect(),
        secret_sealed: get(row, "secret_sealed")?,
        days_before: from_json(row, "days_before")?,
        events: from_json(row, "events")?,
        ra_profile_id: get(row, "ra_profile_id")?,
        enabled: get::<i64>(row, "enabled")? != 0,
        created_by: get(row, "created_by")?,
        created_at: get(row, "created_at")?,
    })
}

pub(crate) async fn notification_rules(conn: &mut AnyConnection) -> Result<Vec<NotificationRule>> {
    sqlx::query("SELECT * FROM notification_rules ORDER BY id")
        .fetch_all(&mut *conn)
        .await
        .map_err(storage)?
        .iter()
        .map(rule)
        .collect()
}

pub(crate) async fn insert_rule(conn: &mut AnyConnection, r: &NotificationRule) -> Result<i64> {
    let row = sqlx::query(
        "INSERT INTO notification_rules (uuid, name, channel, target, secret_sealed, days_before, events, \
         ra_profile_id, enabled, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         RETURNING id",
    )
    .bind(r.uuid.to_string())
    .bind(r.name.as_str())
    .bind(r.channel.as_str())
    .bind(r.targets.join(","))
    .bind(r.secret_sealed.as_deref())
    .bind(to_json(&r.days_before)?)
    .bind(to_json(&r.events)?)
    .bind(r.ra_profile_id)
    .bind(i64::from(r.enabled))
    .bind(r.created_by.as_str())
    .bind(r.created_at)
    .fetch_one(&mut *conn)
    .await
    .map_err(unique_or_storage(
        "notification_rule.name_taken",
        format!("a notification rule named '{}' exists", r.name),
    ))?;
    row.try_get(0).map_err(storage)
}

pub(crate) async fn delete_rule(conn: &mut AnyConnection, uuid: Uuid) -> Result<bool> {
    sqlx::query("DELETE FROM notification_marks WHERE rule_id IN (SELECT id FROM notification_rules WHERE uuid = $1)")
        .bind(uuid.to_string())
        .execute(&mut *conn)
        .await
        .map_err(storage)?;
    let n = sqlx::query("DELETE FROM notification_rules WHERE uuid = $1")
        .bind(uuid.to_string())
        .execute(&mut *conn)
        .await
        .map_err(storage)?
        .rows_affected();
    Ok(n == 1)
}

pub(crate) async fn mark_notified(
    conn: &mut AnyConnection,
    rule_id: i64,
    certificate_id: i64,
    threshold: u32,
    at: EpochSeconds,
) -> Result<bool> {
    let n = sqlx::query(
        "INSERT INTO notification_marks (rule_id, certificate_id, threshold, at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT DO NOTHING",
    )
    .bind(rule_id)
    .bind(certificate_id)
    .bind(i64::from(threshold))
    .bind(at)
    .execute(&mut *conn)
    .await
    .map_err(storage)?
    .rows_affected();
    Ok(n == 1)
}

// ---- expiry and reports ----------------------------------------------------------------------------------------

pub(crate) async fn expiring(conn: &mut AnyConnection, q: &ExpiringQuery) -> Result<Vec<CertificateRecord>> {
    let mut sql = format!(
        "{} WHERE state = 'issued' AND not_after > $1 AND not_after <= $2 AND ($3 IS NULL OR ra_profile_id = $3)",
        crate::pki::CERT_SELECT
    );
    if q.unrenewed {
        sql.push_str(" AND NOT EXISTS (SELECT 1 FROM certificate_links l WHERE l.previous_id = certificates.id)");
    }
    if q.unmarked.is_some() {
        sql.push_str(
            " AND NOT EXISTS (SELECT 1 FROM notification_marks m WHERE m.certificate_id = certificates.id \
             AND m.rule_id = $5 AND m.threshold <= $6)",
        );
    }
    sql.push_str(" ORDER BY not_after, id LIMIT $4");
    let (rule, threshold) = q.unmarked.unwrap_or((0, 0));
    let mut query = sqlx::query(&sql).bind(q.from).bind(q.to).bind(q.ra_profile_id).bind(i64::from(q.limit));
    if q.unmarked.is_some() {
        query = query.bind(rule).bind(i64::from(threshold));
    }
    query.fetch_all(&mut *conn).await.map_err(storage)?.iter().map(crate::pki::certificate).collect()
}

async fn counts(conn: &mut AnyConnection, sql: &str, now: EpochSeconds, window: i64) -> Result<Vec<(String, u64)>> {
    let rows = sqlx::query(sql).bind(now).bind(window).fetch_all(&mut *conn).await.map_err(storage)?;
    rows.iter()
        .map(|r| {
            let key: Option<String> = r.try_get(0).map_err(storage)?;
            let n: i64 = r.try_get(1).map_err(storage)?;
            Ok((key.unwrap_or_default(), u64::try_from(n).unwrap_or(0)))
        })
        .collect()
}

pub(crate) async fn inventory_summary(
    conn: &mut AnyConnection,
    now: EpochSeconds,
    window_days: u32,
) -> Result<InventorySummary> {
    let window = i64::from(window_days) * 86_400;
    // Every statement binds $1 (now) and $2 (window) — some ignore them.
    let by_state = counts(
        conn,
        "SELECT state, COUNT(*) FROM certificates WHERE $1 = $1 AND $2 = $2 GROUP BY state ORDER BY 1",
        now,
        window,
    )
    .await?;
    let by_validation_status = counts(
        conn,
        "SELECT CASE WHEN state = 'revoked' THEN 'revoked' WHEN not_before > $1 THEN 'inactive' \
         WHEN not_after <= $1 THEN 'expired' WHEN not_after - $1 <= $2 THEN 'expiring' ELSE 'valid' END AS v, \
         COUNT(*) FROM certificates GROUP BY 1 ORDER BY 1",
        now,
        window,
    )
    .await?;
    let by_key_algorithm = counts(
        conn,
        "SELECT key_algorithm, COUNT(*) FROM certificates WHERE $1 = $1 AND $2 = $2 GROUP BY key_algorithm ORDER BY 1",
        now,
        window,
    )
    .await?;
    let by_expiry = counts(
        conn,
        "SELECT CASE WHEN not_after <= $1 THEN 'expired' WHEN not_after - $1 <= 7 * 86400 THEN '0-7d' \
         WHEN not_after - $1 <= 30 * 86400 THEN '8-30d' WHEN not_after - $1 <= 90 * 86400 THEN '31-90d' \
         WHEN not_after - $1 <= 365 * 86400 THEN '91-365d' ELSE '>365d' END AS b, COUNT(*) FROM certificates \
         WHERE state = 'issued' AND $2 = $2 GROUP BY 1 ORDER BY 1",
        now,
        window,
    )
    .await?;
    let requests_by_state = counts(
        conn,
        "SELECT state, COUNT(*) FROM certificate_requests WHERE state <> 'issued' AND $1 = $1 AND $2 = $2 \
         GROUP BY state ORDER BY 1",
        now,
        window,
    )
    .await?;
    let rows = sqlx::query("SELECT authority_id, COUNT(*) FROM certificates GROUP BY authority_id ORDER BY 1")
        .fetch_all(&mut *conn)
        .await
        .map_err(storage)?;
    let by_authority = rows
        .iter()
        .map(|r| {
            let id: Option<i64> = r.try_get(0).map_err(storage)?;
            let n: i64 = r.try_get(1).map_err(storage)?;
            Ok((id, u64::try_from(n).unwrap_or(0)))
        })
        .collect::<Result<Vec<_>>>()?;
    let total = by_state.iter().map(|(_, n)| n).sum();
    Ok(InventorySummary {
        total,
        by_state,
        by_validation_status,
        by_authority,
        by_key_algorithm,
        by_expiry,
        requests_by_state,
    })
}
