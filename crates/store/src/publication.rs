//! Rows and queries for devices, credentials, publication profiles and publications (migration 0016), and the
//! updates of the locations publications deploy to.

use crate::pki::unique_or_storage;
use crate::rows::{bind_all, from_json, get, to_json, uuid, Bind};
use crate::sql::{storage, window};
use certwright_core::deploy::{DeployState, Location};
use certwright_core::page::{Listed, Page};
use certwright_core::publication::{
    Credential, CredentialKey, Device, DeviceKey, ProfileSettings, Publication, PublicationFilter, PublicationProfile,
    PublicationTarget, PublicationView, SecretKind,
};
use certwright_core::{CoreError, Result};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use std::collections::BTreeMap;

const DEVICE_COLUMNS: &str = "id, uuid, hostname, ip, model, kind, vendor, site, domain, tags, ssh_port, \
     ssh_host_key, ca_pem, winrm_port, active, created_by, created_at, updated_at";

const CREDENTIAL_COLUMNS: &str = "id, uuid, identifier, username, device_id, secret_kind, sealed_secret, \
     additional, tags, credential_type, active, created_by, created_at, updated_at";

const PROFILE_COLUMNS: &str = "id, uuid, name, kind, settings, credential_id, username, devices, sealed_secret, \
     created_by, created_at, updated_at";

const PUBLICATION_COLUMNS: &str = "p.id, p.uuid, p.certificate_id, c.uuid AS certificate_uuid, p.profile_id, \
     p.reason, p.justification, p.itms_code, p.credential_id, p.username, p.created_by, p.created_at";

fn port(row: &AnyRow, column: &str) -> Result<u16> {
    u16::try_from(get::<i64>(row, column)?).map_err(|_| CoreError::Storage(format!("{column} out of range")))
}

fn device(row: &AnyRow) -> Result<Device> {
    let ip: String = get(row, "ip")?;
    Ok(Device {
        id: get(row, "id")?,
        uuid: uuid(row, "uuid")?,
        hostname: get(row, "hostname")?,
        ip: ip.parse().map_err(|_| CoreError::Storage(format!("device ip '{ip}'")))?,
        model: get(row, "model")?,
        kind: get(row, "kind")?,
        vendor: get(row, "vendor")?,
        site: get(row, "site")?,
        domain: get(row, "domain")?,
        tags: from_json(row, "tags")?,
        ssh_port: port(row, "ssh_port")?,
        ssh_host_key: get(row, "ssh_host_key")?,
        ca_pem: get(row, "ca_pem")?,
        winrm_port: port(row, "winrm_port")?,
        active: get::<i64>(row, "active")? != 0,
        created_by: get(row, "created_by")?,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
    })
}

fn credential(row: &AnyRow) -> Result<Credential> {
    Ok(Credential {
        id: get(row, "id")?,
        uuid: uuid(row, "uuid")?,
        identifier: get(row, "identifier")?,
        username: get(row, "username")?,
        device_id: get(row, "device_id")?,
        secret_kind: SecretKind::from_stored(&get::<String>(row, "secret_kind")?)?,
        sealed_secret: get(row, "sealed_secret")?,
        additional: get(row, "additional")?,
        tags: from_json(row, "tags")?,
        credential_type: get(row, "credential_type")?,
        active: get::<i64>(row, "active")? != 0,
        created_by: get(row, "created_by")?,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
    })
}

fn profile(row: &AnyRow) -> Result<PublicationProfile> {
    let settings: ProfileSettings = from_json(row, "settings")?;
    let kind: String = get(row, "kind")?;
    if settings.kind().as_str() != kind {
        return Err(CoreError::Storage(format!("publication profile of kind {kind} holds other settings")));
    }
    Ok(PublicationProfile {
        id: get(row, "id")?,
        uuid: uuid(row, "uuid")?,
        name: get(row, "name")?,
        settings,
        credential_id: get(row, "credential_id")?,
        username: get(row, "username")?,
        devices: from_json(row, "devices")?,
        sealed_secret: get(row, "sealed_secret")?,
        created_by: get(row, "created_by")?,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
    })
}

fn publication(row: &AnyRow) -> Result<(Publication, uuid::Uuid)> {
    Ok((
        Publication {
            id: get(row, "id")?,
            uuid: uuid(row, "uuid")?,
            certificate_id: get(row, "certificate_id")?,
            profile_id: get(row, "profile_id")?,
            reason: get(row, "reason")?,
            justification: get(row, "justification")?,
            itms_code: get(row, "itms_code")?,
            credential_id: get(row, "credential_id")?,
            username: get(row, "username")?,
            created_by: get(row, "created_by")?,
            created_at: get(row, "created_at")?,
        },
        uuid(row, "certificate_uuid")?,
    ))
}

fn lock_clause(lock: bool) -> &'static str {
    if lock {
        " FOR UPDATE"
    } else {
        ""
    }
}

pub(crate) async fn devices(conn: &mut AnyConnection) -> Result<Vec<Device>> {
    let rows = sqlx::query(&format!("SELECT {DEVICE_COLUMNS} FROM devices ORDER BY id"))
        .fetch_all(&mut *conn)
        .await
        .map_err(storage)?;
    rows.iter().map(device).collect()
}

pub(crate) async fn device_by(conn: &mut AnyConnection, key: &DeviceKey, lock: bool) -> Result<Option<Device>> {
    let (column, bind) = match key {
        DeviceKey::Id(id) => ("id", Bind::Int(*id)),
        DeviceKey::Hostname(h) => ("hostname", Bind::Text(h.clone())),
        DeviceKey::Ip(ip) => ("ip", Bind::Text(ip.to_string())),
    };
    let sql =
        format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE {column} = $1 ORDER BY id LIMIT 1{}", lock_clause(lock));
    let binds = [bind];
    let row = bind_all(sqlx::query(&sql), &binds).fetch_optional(&mut *conn).await.map_err(storage)?;
    row.as_ref().map(device).transpose()
}

pub(crate) async fn insert_device(conn: &mut AnyConnection, d: &Device) -> Result<i64> {
    sqlx::query(
        "INSERT INTO devices (uuid, hostname, ip, model, kind, vendor, site, domain, tags, ssh_port, ssh_host_key, \
         ca_pem, winrm_port, active, created_by, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) RETURNING id",
    )
    .bind(d.uuid.to_string())
    .bind(d.hostname.as_str())
    .bind(d.ip.to_string())
    .bind(d.model.as_deref())
    .bind(d.kind.as_deref())
    .bind(d.vendor.as_deref())
    .bind(d.site.as_deref())
    .bind(d.domain.as_deref())
    .bind(to_json(&d.tags)?)
    .bind(i64::from(d.ssh_port))
    .bind(d.ssh_host_key.as_deref())
    .bind(d.ca_pem.as_deref())
    .bind(i64::from(d.winrm_port))
    .bind(i64::from(d.active))
    .bind(d.created_by.as_str())
    .bind(d.created_at)
    .bind(d.updated_at)
    .fetch_one(conn)
    .await
    .and_then(|r| r.try_get(0))
    .map_err(unique_or_storage("device.exists", format!("a device named '{}' exists already", d.hostname)))
}

pub(crate) async fn update_device(conn: &mut AnyConnection, d: &Device) -> Result<()> {
    sqlx::query(
        "UPDATE devices SET hostname = $1, ip = $2, model = $3, kind = $4, vendor = $5, site = $6, domain = $7, \
         tags = $8, ssh_port = $9, ssh_host_key = $10, ca_pem = $11, winrm_port = $12, active = $13, \
         updated_at = $14 WHERE id = $15",
    )
    .bind(d.hostname.as_str())
    .bind(d.ip.to_string())
    .bind(d.model.as_deref())
    .bind(d.kind.as_deref())
    .bind(d.vendor.as_deref())
    .bind(d.site.as_deref())
    .bind(d.domain.as_deref())
    .bind(to_json(&d.tags)?)
    .bind(i64::from(d.ssh_port))
    .bind(d.ssh_host_key.as_deref())
    .bind(d.ca_pem.as_deref())
    .bind(i64::from(d.winrm_port))
    .bind(i64::from(d.active))
    .bind(d.updated_at)
    .bind(d.id)
    .execute(conn)
    .await
    .map_err(storage)?;
    Ok(())
}

pub(crate) async fn credentials(conn: &mut AnyConnection) -> Result<Vec<Credential>> {
    let rows = sqlx::query(&format!("SELECT {CREDENTIAL_COLUMNS} FROM credentials ORDER BY id"))
        .fetch_all(&mut *conn)
        .await
        .map_err(storage)?;
    rows.iter().map(credential).collect()
}

pub(crate) async fn credential_by(
    conn: &mut AnyConnection,
    key: &CredentialKey,
    lock: bool,
) -> Result<Option<Credential>> {
    let (column, bind) = match key {
        CredentialKey::Id(id) => ("id", Bind::Int(*id)),
        CredentialKey::Identifier(i) => ("identifier", Bind::Text(i.clone())),
    };
    let sql = format!("SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE {column} = $1{}", lock_clause(lock));
    let binds = [bind];
    let row = bind_all(sqlx::query(&sql), &binds).fetch_optional(&mut *conn).await.map_err(storage)?;
    row.as_ref().map(credential).transpose()
}

pub(crate) async fn credential_by_username(
    conn: &mut AnyConnection,
    username: &str,
    device_id: Option<i64>,
) -> Result<Option<Credential>> {
    let sql = format!(
        "SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE username = $1 AND active = 1 \
         AND ($2 IS NULL OR device_id = $2) ORDER BY id LIMIT 1"
    );
    let row = sqlx::query(&sql).bind(username).bind(device_id).fetch_optional(&mut *conn).await.map_err(storage)?;
    row.as_ref().map(credential).transpose()
}

pub(crate) async fn insert_credential(conn: &mut AnyConnection, c: &Credential) -> Result<i64> {
    sqlx::query(
        "INSERT INTO credentials (uuid, identifier, username, device_id, secret_kind, sealed_secret, additional, \
         tags, credential_type, active, created_by, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id",
    )
    .bind(c.uuid.to_string())
    .bind(c.identifier.as_str())
    .bind(c.username.as_str())
    .bind(c.device_id)
    .bind(c.secret_kind.as_str())
    .bind(c.sealed_secret.as_deref())
    .bind(c.additional.as_deref())
    .bind(to_json(&c.tags)?)
    .bind(c.credential_type.as_deref())
    .bind(i64::from(c.active))
    .bind(c.created_by.as_str())
    .bind(c.created_at)
    .bind(c.updated_at)
    .fetch_one(conn)
    .await
    .and_then(|r| r.try_get(0))
    .map_err(unique_or_storage("credential.exists", format!("a credential '{}' exists already", c.identifier)))
}

pub(crate) async fn update_credential(conn: &mut AnyConnection, c: &Credential) -> Result<()> {
    sqlx::query(
        "UPDATE credentials SET username = $1, device_id = $2, secret_kind = $3, sealed_secret = $4, \
         additional = $5, tags = $6, credential_type = $7, active = $8, updated_at = $9 WHERE id = $10",
    )
    .bind(c.username.as_str())
    .bind(c.device_id)
    .bind(c.secret_kind.as_str())
    .bind(c.sealed_secret.as_deref())
    .bind(c.additional.as_deref())
    .bind(to_json(&c.tags)?)
    .bind(c.credential_type.as_deref())
    .bind(i64::from(c.active))
    .bind(c.updated_at)
    .bind(c.id)
    .execute(conn)
    .await
    .map_err(storage)?;
    Ok(())
}

pub(crate) async fn profiles(conn: &mut AnyConnection) -> Result<Vec<PublicationProfile>> {
    let rows = sqlx::query(&format!("SELECT {PROFILE_COLUMNS} FROM publication_profiles ORDER BY id"))
        .fetch_all(&mut *conn)
        .await
        .map_err(storage)?;
    rows.iter().map(profile).collect()
}

pub(crate) async fn profile_by_id(conn: &mut AnyConnection, id: i64, lock: bool) -> Result<Option<PublicationProfile>> {
    let sql = format!("SELECT {PROFILE_COLUMNS} FROM publication_profiles WHERE id = $1{}", lock_clause(lock));
    let row = sqlx::query(&sql).bind(id).fetch_optional(&mut *conn).await.map_err(storage)?;
    row.as_ref().map(profile).transpose()
}

pub(crate) async fn insert_profile(conn: &mut AnyConnection, p: &PublicationProfile) -> Result<i64> {
    sqlx::query(
        "INSERT INTO publication_profiles (uuid, name, kind, settings, credential_id, username, devices, \
         sealed_secret, created_by, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
    )
    .bind(p.uuid.to_string())
    .bind(p.name.as_str())
    .bind(p.kind().as_str())
    .bind(to_json(&p.settings)?)
    .bind(p.credential_id)
    .bind(p.username.as_deref())
    .bind(to_json(&p.devices)?)
    .bind(p.sealed_secret.as_deref())
    .bind(p.created_by.as_str())
    .bind(p.created_at)
    .bind(p.updated_at)
    .fetch_one(conn)
    .await
    .and_then(|r| r.try_get(0))
    .map_err(storage)
}

pub(crate) async fn update_profile(conn: &mut AnyConnection, p: &PublicationProfile) -> Result<()> {
    sqlx::query(
        "UPDATE publication_profiles SET name = $1, settings = $2, credential_id = $3, username = $4, devices = $5, \
         sealed_secret = $6, updated_at = $7 WHERE id = $8",
    )
    .bind(p.name.as_str())
    .bind(to_json(&p.settings)?)
    .bind(p.credential_id)
    .bind(p.username.as_deref())
    .bind(to_json(&p.devices)?)
    .bind(p.sealed_secret.as_deref())
    .bind(p.updated_at)
    .bind(p.id)
    .execute(conn)
    .await
    .map_err(storage)?;
    Ok(())
}

pub(crate) async fn location_by_name(conn: &mut AnyConnection, name: &str, lock: bool) -> Result<Option<Location>> {
    let Some(id) = sqlx::query(&format!("SELECT id FROM locations WHERE name = $1{}", lock_clause(lock)))
        .bind(name)
        .fetch_optional(&mut *conn)
        .await
        .map_err(storage)?
    else {
        return Ok(None);
    };
    let id: i64 = id.try_get(0).map_err(storage)?;
    crate::deploy::location_by_id(conn, id).await
}

pub(crate) async fn update_location(conn: &mut AnyConnection, l: &Location) -> Result<()> {
    sqlx::query("UPDATE locations SET spec = $1, sealed_credentials = $2, updated_at = $3 WHERE id = $4")
        .bind(to_json(&l.spec)?)
        .bind(l.sealed_credentials.as_deref())
        .bind(l.updated_at)
        .bind(l.id)
        .execute(conn)
        .await
        .map_err(storage)?;
    Ok(())
}

pub(crate) async fn insert_publication(conn: &mut AnyConnection, p: &Publication) -> Result<i64> {
    sqlx::query(
        "INSERT INTO publications (uuid, certificate_id, profile_id, reason, justification, itms_code, \
         credential_id, username, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
    )
    .bind(p.uuid.to_string())
    .bind(p.certificate_id)
    .bind(p.profile_id)
    .bind(p.reason)
    .bind(p.justification.as_deref())
    .bind(p.itms_code.as_deref())
    .bind(p.credential_id)
    .bind(p.username.as_deref())
    .bind(p.created_by.as_str())
    .bind(p.created_at)
    .fetch_one(conn)
    .await
    .and_then(|r| r.try_get(0))
    .map_err(storage)
}

pub(crate) async fn insert_target(conn: &mut AnyConnection, publication_id: i64, t: &PublicationTarget) -> Result<()> {
    sqlx::query(
        "INSERT INTO publication_targets (publication_id, device_id, label, location_id, deployment_id) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(publication_id)
    .bind(t.device_id)
    .bind(t.label.as_str())
    .bind(t.location_id)
    .bind(t.deployment_id)
    .execute(conn)
    .await
    .map_err(storage)?;
    Ok(())
}

/// A push still waiting or running; a push that failed or lost its deployment.
const UNFINISHED: &str = "SELECT 1 FROM publication_targets t JOIN deployments d ON d.id = t.deployment_id \
     WHERE t.publication_id = p.id AND d.state IN ('queued', 'running')";
const FAILED: &str = "SELECT 1 FROM publication_targets t LEFT JOIN deployments d ON d.id = t.deployment_id \
     WHERE t.publication_id = p.id AND (d.id IS NULL OR d.state = 'failed')";

fn conditions(f: &PublicationFilter) -> (String, Vec<Bind>) {
    let mut clauses: Vec<String> = Vec::new();
    let mut binds = Vec::new();
    let mut push = |clause: &str, bind: Bind| {
        binds.push(bind);
        clauses.push(clause.replace('?', &format!("${}", binds.len())));
    };
    let ints = [
        ("p.id = ?", f.id),
        ("p.certificate_id = ?", f.certificate_id),
        ("p.profile_id = ?", f.profile_id),
        ("p.reason = ?", f.reason),
        ("EXISTS (SELECT 1 FROM publication_targets t WHERE t.publication_id = p.id AND t.device_id = ?)", f.device_id),
        ("p.created_at >= ?", f.created.map(|(from, _)| from)),
        ("p.created_at <= ?", f.created.map(|(_, to)| to)),
    ];
    for (clause, value) in ints {
        if let Some(v) = value {
            push(clause, Bind::Int(v));
        }
    }
    if let Some(code) = &f.itms_code {
        push("p.itms_code = ?", Bind::Text(code.clone()));
    }
    if !f.certificate_ids.is_empty() {
        let mut placeholders = Vec::with_capacity(f.certificate_ids.len());
        for id in &f.certificate_ids {
            binds.push(Bind::Int(*id));
            placeholders.push(format!("${}", binds.len()));
        }
        clauses.push(format!("p.certificate_id IN ({})", placeholders.join(", ")));
    }
    let mut flag = |value: Option<bool>, sub: &str| {
        if let Some(v) = value {
            clauses.push(format!("{}EXISTS ({sub})", if v { "" } else { "NOT " }));
        }
    };
    // Processed: no push left to run.
    flag(f.processed.map(|v| !v), UNFINISHED);
    flag(f.error, FAILED);
    let clause = if clauses.is_empty() { String::new() } else { format!("WHERE {}", clauses.join(" AND ")) };
    (clause, binds)
}

pub(crate) async fn list(
    conn: &mut AnyConnection,
    f: &PublicationFilter,
    page: Page,
) -> Result<Listed<PublicationView>> {
    let (clause, mut binds) = conditions(f);
    let from = "FROM publications p JOIN certificates c ON c.id = p.certificate_id";
    let total: i64 = bind_all(sqlx::query(&format!("SELECT COUNT(*) {from} {clause}")), &binds)
        .fetch_one(&mut *conn)
        .await
        .and_then(|r| r.try_get(0))
        .map_err(storage)?;
    let (limit, offset) = window(page);
    let n = binds.len();
    binds.push(Bind::Int(limit));
    binds.push(Bind::Int(offset));
    let sql =
        format!("SELECT {PUBLICATION_COLUMNS} {from} {clause} ORDER BY p.id DESC LIMIT ${} OFFSET ${}", n + 1, n + 2);
    let rows = bind_all(sqlx::query(&sql), &binds).fetch_all(&mut *conn).await.map_err(storage)?;
    let publications = rows.iter().map(publication).collect::<Result<Vec<_>>>()?;
    let mut targets: BTreeMap<i64, Vec<PublicationTarget>> = BTreeMap::new();
    if !publications.is_empty() {
        let ids: Vec<Bind> = publications.iter().map(|(p, _)| Bind::Int(p.id)).collect();
        let placeholders: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT t.publication_id, t.device_id, t.label, t.location_id, t.deployment_id, d.state, d.error \
             FROM publication_targets t LEFT JOIN deployments d ON d.id = t.deployment_id \
             WHERE t.publication_id IN ({}) ORDER BY t.id",
            placeholders.join(", ")
        );
        let rows = bind_all(sqlx::query(&sql), &ids).fetch_all(&mut *conn).await.map_err(storage)?;
        for row in &rows {
            let state: Option<String> = get(row, "state")?;
            let target = PublicationTarget {
                device_id: get(row, "device_id")?,
                label: get(row, "label")?,
                location_id: get(row, "location_id")?,
                deployment_id: get(row, "deployment_id")?,
                state: state.as_deref().map(DeployState::from_stored).transpose()?,
                error: get(row, "error")?,
            };
            targets.entry(get(row, "publication_id")?).or_default().push(target);
        }
    }
    let items = publications
        .into_iter()
        .map(|(p, certificate_uuid)| {
            let targets = targets.remove(&p.id).unwrap_or_default();
            PublicationView { publication: p, certificate_uuid, targets }
        })
        .collect();
    Ok(Listed { items, total: u64::try_from(total).unwrap_or(0) })
}

/// Why a location that publications deploy to may no longer be deployed to: the device or credential of its
/// latest publication was made inactive. `None` for every other location.
pub(crate) async fn location_refusal(conn: &mut AnyConnection, location_id: i64) -> Result<Option<String>> {
    let row = sqlx::query(
        "SELECT dv.id AS device_id, dv.active AS device_active, cr.id AS credential_id, cr.active AS credential_active \
         FROM publication_targets t JOIN devices dv ON dv.id = t.device_id \
         JOIN publications p ON p.id = t.publication_id LEFT JOIN credentials cr ON cr.id = p.credential_id \
         WHERE t.location_id = $1 ORDER BY t.id DESC LIMIT 1",
    )
    .bind(location_id)
    .fetch_optional(conn)
    .await
    .map_err(storage)?;
    let Some(row) = row else { return Ok(None) };
    if get::<i64>(&row, "device_active")? == 0 {
        let id: i64 = get(&row, "device_id")?;
        return Ok(Some(format!("device {id} was made inactive: publish again to a device that is active")));
    }
    if get::<Option<i64>>(&row, "credential_active")? == Some(0) {
        let id: Option<i64> = get(&row, "credential_id")?;
        return Ok(Some(format!(
            "credential {} was made inactive: publish again with a credential that is active",
            id.unwrap_or_default()
        )));
    }
    Ok(None)
}
