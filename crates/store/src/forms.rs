//! Rows and queries for request forms, organizations, catalog terms and certificate passwords (migration 0014).

use crate::pki::unique_or_storage;
use crate::rows::{bind_all, from_json, get, to_json, uuid, Bind};
use crate::sql::{storage, window};
use certwright_core::forms::{
    CertificatePasswords, CertificateStanding, DomainKind, FormCertificate, FormCertificateFilter, FormFilter,
    FormStatus, FormView, KeyFamily, Organization, RequestForm, Signing, ValidationLevel,
};
use certwright_core::page::{Listed, Page};
use certwright_core::{CoreError, Result};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

/// `f.id AS f_id, …`: the form's columns, prefixed so they do not collide with a joined certificate's.
fn form_columns() -> String {
    ["id", "uuid", "created_by", "created_at"]
        .iter()
        .chain(CHANGED)
        .map(|c| format!("f.{c} AS f_{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The status a form's joins say it has (`r`: its lifecycle request, `fc`: its certificate).
const STATUS: &str = "CASE WHEN fc.id IS NOT NULL THEN 7 WHEN f.certificate_uuid IS NULL THEN 1 \
     WHEN r.state = 'pending_approval' THEN 2 WHEN r.state = 'rejected' THEN 4 WHEN r.state = 'failed' THEN 5 \
     WHEN r.state = 'issued' THEN 7 ELSE 3 END";

const FORM_JOINS: &str = "JOIN organizations o ON o.id = f.organization_id \
     LEFT JOIN principals p ON p.id = f.responsible_id \
     LEFT JOIN certificates fc ON fc.uuid = f.certificate_uuid \
     LEFT JOIN certificate_requests r ON r.uuid = f.certificate_uuid";

fn conversion(what: &str) -> impl Fn(std::num::TryFromIntError) -> CoreError + '_ {
    move |_| CoreError::Storage(format!("request form {what} out of range"))
}

fn form(row: &AnyRow) -> Result<RequestForm> {
    let level: i64 = get(row, "f_validation_level")?;
    let signed_at: Option<i64> = get(row, "f_signed_at")?;
    let signing = match signed_at {
        None => None,
        Some(signed_at) => Some(Signing {
            self_signed: get::<Option<i64>>(row, "f_self_signed")?.unwrap_or(0) != 0,
            authority_id: get(row, "f_authority_id")?,
            reason: get::<Option<i64>>(row, "f_sign_reason")?.unwrap_or(0),
            justification: get(row, "f_sign_justification")?,
            itsm_code: get(row, "f_itsm_code")?,
            signed_by: get::<Option<String>>(row, "f_signed_by")?.unwrap_or_default(),
            signed_at,
        }),
    };
    let certificate_uuid: Option<String> = get(row, "f_certificate_uuid")?;
    Ok(RequestForm {
        id: get(row, "f_id")?,
        uuid: uuid(row, "f_uuid")?,
        validation_level: ValidationLevel::from_code(level)
            .ok_or_else(|| CoreError::Storage(format!("unknown validation level {level}")))?,
        domain_kind: DomainKind::from_stored(&get::<String>(row, "f_domain_kind")?)?,
        organization_id: get(row, "f_organization_id")?,
        common_name: get(row, "f_common_name")?,
        sans: from_json(row, "f_sans")?,
        key_family: KeyFamily::from_stored(&get::<String>(row, "f_key_family")?)?,
        key_size: u32::try_from(get::<i64>(row, "f_key_size")?).map_err(conversion("key size"))?,
        digest: get(row, "f_digest")?,
        validity_days: u32::try_from(get::<i64>(row, "f_validity_days")?).map_err(conversion("validity"))?,
        key_password_hash: get(row, "f_key_password_hash")?,
        revocation_password_hash: get(row, "f_revocation_password_hash")?,
        project: get(row, "f_project")?,
        external_ip: get(row, "f_external_ip")?,
        hostname: get(row, "f_hostname")?,
        justification: get(row, "f_justification")?,
        responsible_id: get(row, "f_responsible_id")?,
        description: get(row, "f_description")?,
        terms: from_json(row, "f_terms")?,
        certificate_uuid: certificate_uuid
            .map(|u| u.parse().map_err(|_| CoreError::Storage(format!("request form certificate uuid '{u}'"))))
            .transpose()?,
        sign_attempt: get(row, "f_sign_attempt")?,
        sign_claimed_at: get(row, "f_sign_claimed_at")?,
        signing,
        created_by: get(row, "f_created_by")?,
        created_at: get(row, "f_created_at")?,
        updated_at: get(row, "f_updated_at")?,
    })
}

fn view(row: &AnyRow) -> Result<FormView> {
    let status: i64 = get(row, "form_status")?;
    Ok(FormView {
        form: form(row)?,
        status: FormStatus::from_code(status).ok_or_else(|| CoreError::Storage(format!("form status {status}")))?,
        organization: get(row, "organization_name")?,
        responsible: get(row, "responsible_name")?,
        certificate_id: get(row, "form_certificate_id")?,
    })
}

fn view_columns() -> String {
    format!(
        "{}, {STATUS} AS form_status, o.name AS organization_name, p.name AS responsible_name, \
         fc.id AS form_certificate_id",
        form_columns()
    )
}

/// Conditions on the form `f` (with its joins), appended to `clauses` with their values.
fn form_conditions(f: &FormFilter, clauses: &mut Vec<String>, binds: &mut Vec<Bind>) {
    if let Some(id) = f.id {
        push(clauses, binds, "f.id = ?", Bind::Int(id));
    }
    if let Some(status) = f.status {
        push(clauses, binds, format!("({STATUS}) = ?"), Bind::Int(status.code()));
    }
    if let Some(level) = f.validation_level {
        push(clauses, binds, "f.validation_level = ?", Bind::Int(level.code()));
    }
    if let Some(kind) = f.domain_kind {
        push(clauses, binds, "f.domain_kind = ?", Bind::Text(kind.as_str().to_owned()));
    }
    if let Some(org) = f.organization_id {
        push(clauses, binds, "f.organization_id = ?", Bind::Int(org));
    }
    if let Some(cn) = &f.common_name {
        push(
            clauses,
            binds,
            "LOWER(f.common_name) LIKE ?",
            Bind::Text(format!("%{}%", like_escape(&cn.to_lowercase()))),
        );
        if let Some(last) = clauses.last_mut() {
            last.push_str(" ESCAPE '\\'");
        }
    }
    for san in &f.sans {
        // SANs are stored as a JSON array of strings: match one element exactly.
        push(clauses, binds, "f.sans LIKE ?", Bind::Text(format!("%{}%", like_escape(&to_json_string(san)))));
        if let Some(last) = clauses.last_mut() {
            last.push_str(" ESCAPE '\\'");
        }
    }
    let kinds: Vec<&str> = {
        let mut k: Vec<&str> = f.terms.iter().map(|(kind, _)| *kind).collect();
        k.dedup();
        k
    };
    for kind in kinds {
        let names: Vec<&String> = f.terms.iter().filter(|(k, _)| *k == kind).map(|(_, n)| n).collect();
        let mut placeholders = Vec::new();
        binds.push(Bind::Text(kind.to_owned()));
        let kind_at = binds.len();
        for n in names {
            binds.push(Bind::Text(n.clone()));
            placeholders.push(format!("${}", binds.len()));
        }
        clauses.push(format!(
            "EXISTS (SELECT 1 FROM request_form_terms ft JOIN catalog_terms t ON t.id = ft.term_id \
             WHERE ft.form_id = f.id AND t.kind = ${kind_at} AND t.name IN ({}))",
            placeholders.join(", ")
        ));
    }
    if let Some(family) = f.key_family {
        push(clauses, binds, "f.key_family = ?", Bind::Text(family.as_str().to_owned()));
    }
    if let Some(size) = f.key_size {
        push(clauses, binds, "f.key_size = ?", Bind::Int(i64::from(size)));
    }
    if let Some(digest) = &f.digest {
        push(clauses, binds, "f.digest = ?", Bind::Text(digest.clone()));
    }
    if let Some(days) = f.validity_days {
        push(clauses, binds, "f.validity_days = ?", Bind::Int(i64::from(days)));
    }
    let texts = [("f.project", &f.project), ("f.external_ip", &f.external_ip), ("f.hostname", &f.hostname)];
    for (column, value) in texts {
        if let Some(v) = value {
            push(clauses, binds, format!("{column} = ?"), Bind::Text(v.clone()));
        }
    }
    if let Some(r) = f.responsible_id {
        push(clauses, binds, "f.responsible_id = ?", Bind::Int(r));
    }
}

/// Appends a condition whose `?` is the next placeholder, and its value.
fn push(clauses: &mut Vec<String>, binds: &mut Vec<Bind>, clause: impl Into<String>, bind: Bind) {
    binds.push(bind);
    clauses.push(clause.into().replace('?', &format!("${}", binds.len())));
}

fn to_json_string(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

fn like_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

fn where_of(clauses: &[String]) -> String {
    if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    }
}

async fn count(conn: &mut AnyConnection, sql: &str, binds: &[Bind]) -> Result<u64> {
    let total: i64 =
        bind_all(sqlx::query(sql), binds).fetch_one(&mut *conn).await.and_then(|r| r.try_get(0)).map_err(storage)?;
    Ok(u64::try_from(total).unwrap_or(0))
}

pub(crate) async fn list_forms(conn: &mut AnyConnection, f: &FormFilter, page: Page) -> Result<Listed<FormView>> {
    let (mut clauses, mut binds) = (Vec::new(), Vec::new());
    form_conditions(f, &mut clauses, &mut binds);
    let clause = where_of(&clauses);
    let total = count(conn, &format!("SELECT COUNT(*) FROM request_forms f {FORM_JOINS} {clause}"), &binds).await?;
    let (limit, offset) = window(page);
    let n = binds.len();
    binds.push(Bind::Int(limit));
    binds.push(Bind::Int(offset));
    let sql = format!(
        "SELECT {} FROM request_forms f {FORM_JOINS} {clause} ORDER BY f.id LIMIT ${} OFFSET ${}",
        view_columns(),
        n + 1,
        n + 2
    );
    let rows = bind_all(sqlx::query(&sql), &binds).fetch_all(&mut *conn).await.map_err(storage)?;
    Ok(Listed { items: rows.iter().map(view).collect::<Result<_>>()?, total })
}

/// The standing of certificate `c` at `now`: revoked, expired, inside its RA profile's renewal window (or the
/// default one), or valid. Every value is an integer the server computed, written inline.
fn standing_sql(now: i64, default_window: i64, profile_windows: &[(i64, i64)]) -> String {
    let soon = if profile_windows.is_empty() {
        format!("{}", now.saturating_add(default_window))
    } else {
        let cases: String = profile_windows
            .iter()
            .map(|(id, window)| format!(" WHEN {id} THEN {}", now.saturating_add(*window)))
            .collect();
        format!("CASE c.ra_profile_id{cases} ELSE {} END", now.saturating_add(default_window))
    };
    format!(
        "CASE WHEN c.state = 'revoked' THEN 2 WHEN c.not_after < {now} THEN 4 \
         WHEN c.not_after < {soon} THEN 3 ELSE 1 END"
    )
}

pub(crate) async fn list_certificates(
    conn: &mut AnyConnection,
    f: &FormCertificateFilter,
    page: Page,
) -> Result<Listed<FormCertificate>> {
    let mut binds = Vec::new();
    let standing = standing_sql(f.now, f.renewal_window, &f.profile_windows);
    let mut clauses = Vec::new();
    if let Some(id) = f.id {
        push(&mut clauses, &mut binds, "c.id = ?", Bind::Int(id));
    }
    if let Some(s) = f.status {
        push(&mut clauses, &mut binds, format!("({standing}) = ?"), Bind::Int(s.code()));
    }
    if let Some(active) = f.active {
        clauses.push(if active {
            format!("(c.state <> 'revoked' AND c.not_after >= {})", f.now)
        } else {
            format!("(c.state = 'revoked' OR c.not_after < {})", f.now)
        });
    }
    if let Some(t) = f.expires_from {
        push(&mut clauses, &mut binds, "c.not_after >= ?", Bind::Int(t));
    }
    if let Some(t) = f.expires_to {
        push(&mut clauses, &mut binds, "c.not_after <= ?", Bind::Int(t));
    }
    if !f.origins.is_empty() {
        let mut placeholders = Vec::new();
        for o in &f.origins {
            binds.push(Bind::Text(o.as_str().to_owned()));
            placeholders.push(format!("${}", binds.len()));
        }
        clauses.push(format!("c.origin IN ({})", placeholders.join(", ")));
    }
    if let Some(s) = f.self_signed {
        clauses.push(if s { "c.issuer = c.subject".to_owned() } else { "c.issuer <> c.subject".to_owned() });
    }
    if let Some(a) = f.authority_id {
        push(&mut clauses, &mut binds, "c.authority_id = ?", Bind::Int(a));
    }
    if let Some(cn) = &f.common_name {
        let pattern = format!("%{}%", like_escape(&cn.to_lowercase()));
        push(&mut clauses, &mut binds, "LOWER(c.common_name) LIKE ? ESCAPE '\\'", Bind::Text(pattern));
    }
    match (&f.key_family, f.key_size) {
        (Some(family), Some(size)) => {
            push(&mut clauses, &mut binds, "c.key_algorithm = ?", Bind::Text(format!("{family}-{size}")))
        }
        (Some(family), None) => {
            push(&mut clauses, &mut binds, "c.key_algorithm LIKE ?", Bind::Text(format!("{}-%", like_escape(family))))
        }
        (None, Some(size)) => push(&mut clauses, &mut binds, "c.key_algorithm LIKE ?", Bind::Text(format!("%-{size}"))),
        (None, None) => {}
    }
    if let Some(d) = &f.digest {
        push(&mut clauses, &mut binds, "c.signature_algorithm LIKE ?", Bind::Text(format!("%-{}", like_escape(d))));
    }
    if let Some(days) = f.validity_days {
        push(&mut clauses, &mut binds, "(c.not_after - c.not_before + 43200) / 86400 = ?", Bind::Int(i64::from(days)));
    }
    for san in &f.sans {
        // Stored in API spelling: `dns:…` or `ip:…`, inside a JSON array.
        for kind in ["dns", "ip"] {
            let pattern = format!("%{}%", like_escape(&to_json_string(&format!("{kind}:{san}"))));
            binds.push(Bind::Text(pattern));
        }
        let (a, b) = (binds.len() - 1, binds.len());
        clauses.push(format!("(c.sans LIKE ${a} ESCAPE '\\' OR c.sans LIKE ${b} ESCAPE '\\')"));
    }
    let form_filtered = {
        let before = clauses.len();
        form_conditions(&f.form, &mut clauses, &mut binds);
        clauses.len() > before
    };
    if form_filtered {
        clauses.push("f.id IS NOT NULL".to_owned());
    }
    let clause = where_of(&clauses);
    let joins = "LEFT JOIN request_forms f ON f.certificate_uuid = c.uuid \
         LEFT JOIN organizations o ON o.id = f.organization_id \
         LEFT JOIN principals p ON p.id = f.responsible_id \
         LEFT JOIN certificates fc ON fc.uuid = f.certificate_uuid \
         LEFT JOIN certificate_requests r ON r.uuid = f.certificate_uuid \
         LEFT JOIN key_passwords kp ON kp.key_id = c.key_id \
         LEFT JOIN revocation_passwords rp ON rp.certificate_id = c.id";
    let total = count(conn, &format!("SELECT COUNT(*) FROM certificates c {joins} {clause}"), &binds).await?;
    let (limit, offset) = window(page);
    let n = binds.len();
    binds.push(Bind::Int(limit));
    binds.push(Bind::Int(offset));
    let sql = format!(
        "SELECT c.id, c.uuid, c.serial, c.issuer, c.subject, c.common_name, c.sans, c.not_before, c.not_after, \
         c.key_algorithm, c.signature_algorithm, c.fingerprint, c.state, c.origin, c.authority_id, c.ra_profile_id, \
         c.key_id, c.der, c.idempotency_key, c.created_by, c.created_at, c.owner, c.labels, c.custom_attributes, \
         {standing} AS standing, kp.password_hash AS cp_key, rp.password_hash AS cp_revocation, \
         {} FROM certificates c {joins} {clause} ORDER BY c.id LIMIT ${} OFFSET ${}",
        view_columns(),
        n + 1,
        n + 2
    );
    let rows = bind_all(sqlx::query(&sql), &binds).fetch_all(&mut *conn).await.map_err(storage)?;
    let items = rows
        .iter()
        .map(|row| {
            let certificate = crate::pki::certificate(row)?;
            let code: i64 = get(row, "standing")?;
            let standing = CertificateStanding::from_code(code)
                .ok_or_else(|| CoreError::Storage(format!("certificate standing {code}")))?;
            let form = match get::<Option<i64>>(row, "f_id")? {
                Some(_) => Some(view(row)?),
                None => None,
            };
            Ok(FormCertificate {
                self_signed: certificate.issuer == certificate.subject,
                certificate,
                standing,
                form,
                passwords: CertificatePasswords {
                    key_password_hash: get(row, "cp_key")?,
                    revocation_password_hash: get(row, "cp_revocation")?,
                },
            })
        })
        .collect::<Result<_>>()?;
    Ok(Listed { items, total })
}

fn organization(row: &AnyRow) -> Result<Organization> {
    Ok(Organization {
        id: get(row, "id")?,
        uuid: uuid(row, "uuid")?,
        name: get(row, "name")?,
        created_by: get(row, "created_by")?,
        created_at: get(row, "created_at")?,
    })
}

const ORGANIZATION_SELECT: &str = "SELECT id, uuid, name, created_by, created_at FROM organizations";

pub(crate) async fn organizations(conn: &mut AnyConnection) -> Result<Vec<Organization>> {
    let rows =
        sqlx::query(&format!("{ORGANIZATION_SELECT} ORDER BY name")).fetch_all(&mut *conn).await.map_err(storage)?;
    rows.iter().map(organization).collect()
}

pub(crate) async fn organization_by_id(conn: &mut AnyConnection, id: i64) -> Result<Option<Organization>> {
    let row = sqlx::query(&format!("{ORGANIZATION_SELECT} WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(storage)?;
    row.as_ref().map(organization).transpose()
}

pub(crate) async fn insert_organization(conn: &mut AnyConnection, o: &Organization) -> Result<i64> {
    sqlx::query("INSERT INTO organizations (uuid, name, created_by, created_at) VALUES ($1, $2, $3, $4) RETURNING id")
        .bind(o.uuid.to_string())
        .bind(o.name.as_str())
        .bind(o.created_by.as_str())
        .bind(o.created_at)
        .fetch_one(conn)
        .await
        .and_then(|r| r.try_get(0))
        .map_err(unique_or_storage("organization.exists", format!("organization '{}' already exists", o.name)))
}

pub(crate) async fn principal_name(conn: &mut AnyConnection, id: i64) -> Result<Option<String>> {
    let row = sqlx::query("SELECT name FROM principals WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await
        .map_err(storage)?;
    row.as_ref().map(|r| get(r, "name")).transpose()
}

pub(crate) async fn principal_id(conn: &mut AnyConnection, name: &str) -> Result<Option<i64>> {
    let row = sqlx::query("SELECT id FROM principals WHERE name = $1")
        .bind(name)
        .fetch_optional(conn)
        .await
        .map_err(storage)?;
    row.as_ref().map(|r| get(r, "id")).transpose()
}

pub(crate) async fn ensure_term(conn: &mut AnyConnection, kind: &str, name: &str, now: i64) -> Result<i64> {
    sqlx::query(
        "INSERT INTO catalog_terms (kind, name, created_at) VALUES ($1, $2, $3) ON CONFLICT (kind, name) DO NOTHING",
    )
    .bind(kind)
    .bind(name)
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(storage)?;
    sqlx::query("SELECT id FROM catalog_terms WHERE kind = $1 AND name = $2")
        .bind(kind)
        .bind(name)
        .fetch_one(conn)
        .await
        .and_then(|r| r.try_get(0))
        .map_err(storage)
}

async fn link_terms(conn: &mut AnyConnection, form_id: i64, term_ids: &[i64]) -> Result<()> {
    sqlx::query("DELETE FROM request_form_terms WHERE form_id = $1")
        .bind(form_id)
        .execute(&mut *conn)
        .await
        .map_err(storage)?;
    let mut ids = term_ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    for id in ids {
        sqlx::query("INSERT INTO request_form_terms (form_id, term_id) VALUES ($1, $2)")
            .bind(form_id)
            .bind(id)
            .execute(&mut *conn)
            .await
            .map_err(storage)?;
    }
    Ok(())
}

/// The signing columns of a form, ready to bind (all `NULL` before it is signed).
struct SigningColumns<'a> {
    self_signed: Option<i64>,
    authority: Option<i64>,
    reason: Option<i64>,
    justification: Option<&'a str>,
    itsm: Option<&'a str>,
    signed_by: Option<&'a str>,
    signed_at: Option<i64>,
}

fn signing_columns(f: &RequestForm) -> SigningColumns<'_> {
    match &f.signing {
        None => SigningColumns {
            self_signed: None,
            authority: None,
            reason: None,
            justification: None,
            itsm: None,
            signed_by: None,
            signed_at: None,
        },
        Some(s) => SigningColumns {
            self_signed: Some(i64::from(s.self_signed)),
            authority: s.authority_id,
            reason: Some(s.reason),
            justification: s.justification.as_deref(),
            itsm: s.itsm_code.as_deref(),
            signed_by: Some(s.signed_by.as_str()),
            signed_at: Some(s.signed_at),
        },
    }
}

/// The columns a change writes (everything but `id`, `uuid`, `created_by` and `created_at`), in bind order.
const CHANGED: &[&str] = &[
    "validation_level",
    "domain_kind",
    "organization_id",
    "common_name",
    "sans",
    "key_family",
    "key_size",
    "digest",
    "validity_days",
    "key_password_hash",
    "revocation_password_hash",
    "project",
    "external_ip",
    "hostname",
    "justification",
    "responsible_id",
    "description",
    "terms",
    "certificate_uuid",
    "sign_attempt",
    "sign_claimed_at",
    "self_signed",
    "authority_id",
    "sign_reason",
    "sign_justification",
    "itsm_code",
    "signed_by",
    "signed_at",
    "updated_at",
];

/// Binds the values of [`CHANGED`], in order.
fn bind_changed<'q>(
    q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    f: &'q RequestForm,
) -> Result<sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>> {
    let sc = signing_columns(f);
    Ok(q.bind(f.validation_level.code())
        .bind(f.domain_kind.as_str())
        .bind(f.organization_id)
        .bind(f.common_name.as_str())
        .bind(to_json(&f.sans)?)
        .bind(f.key_family.as_str())
        .bind(i64::from(f.key_size))
        .bind(f.digest.as_str())
        .bind(i64::from(f.validity_days))
        .bind(f.key_password_hash.as_deref())
        .bind(f.revocation_password_hash.as_deref())
        .bind(f.project.as_deref())
        .bind(f.external_ip.as_deref())
        .bind(f.hostname.as_deref())
        .bind(f.justification.as_deref())
        .bind(f.responsible_id)
        .bind(f.description.as_deref())
        .bind(to_json(&f.terms)?)
        .bind(f.certificate_uuid.map(|u| u.to_string()))
        .bind(f.sign_attempt.as_deref())
        .bind(f.sign_claimed_at)
        .bind(sc.self_signed)
        .bind(sc.authority)
        .bind(sc.reason)
        .bind(sc.justification)
        .bind(sc.itsm)
        .bind(sc.signed_by)
        .bind(sc.signed_at)
        .bind(f.updated_at))
}

pub(crate) async fn insert_form(conn: &mut AnyConnection, f: &RequestForm, term_ids: &[i64]) -> Result<i64> {
    let n = CHANGED.len();
    let placeholders = (1..=n + 3).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ");
    let sql = format!(
        "INSERT INTO request_forms ({}, uuid, created_by, created_at) VALUES ({placeholders}) RETURNING id",
        CHANGED.join(", ")
    );
    let id: i64 = bind_changed(sqlx::query(&sql), f)?
        .bind(f.uuid.to_string())
        .bind(f.created_by.as_str())
        .bind(f.created_at)
        .fetch_one(&mut *conn)
        .await
        .and_then(|r| r.try_get(0))
        .map_err(storage)?;
    link_terms(conn, id, term_ids).await?;
    Ok(id)
}

pub(crate) async fn form_for_update(conn: &mut AnyConnection, id: i64, lock: bool) -> Result<Option<RequestForm>> {
    let lock = if lock { " FOR UPDATE" } else { "" };
    let sql = format!("SELECT {} FROM request_forms f WHERE f.id = $1{lock}", form_columns());
    let row = sqlx::query(&sql).bind(id).fetch_optional(&mut *conn).await.map_err(storage)?;
    row.as_ref().map(form).transpose()
}

pub(crate) async fn update_form(conn: &mut AnyConnection, f: &RequestForm, term_ids: Option<&[i64]>) -> Result<()> {
    let set = CHANGED.iter().enumerate().map(|(i, c)| format!("{c} = ${}", i + 1)).collect::<Vec<_>>().join(", ");
    let sql = format!("UPDATE request_forms SET {set} WHERE id = ${}", CHANGED.len() + 1);
    bind_changed(sqlx::query(&sql), f)?.bind(f.id).execute(&mut *conn).await.map_err(storage)?;
    if let Some(ids) = term_ids {
        link_terms(conn, f.id, ids).await?;
    }
    Ok(())
}

pub(crate) async fn key_password(conn: &mut AnyConnection, key_id: i64) -> Result<Option<String>> {
    let row = sqlx::query("SELECT password_hash FROM key_passwords WHERE key_id = $1")
        .bind(key_id)
        .fetch_optional(conn)
        .await
        .map_err(storage)?;
    row.as_ref().map(|r| get(r, "password_hash")).transpose()
}

pub(crate) async fn set_key_password(conn: &mut AnyConnection, key_id: i64, hash: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO key_passwords (key_id, password_hash) VALUES ($1, $2) \
         ON CONFLICT (key_id) DO UPDATE SET password_hash = excluded.password_hash",
    )
    .bind(key_id)
    .bind(hash)
    .execute(conn)
    .await
    .map_err(storage)?;
    Ok(())
}

pub(crate) async fn set_revocation_password(conn: &mut AnyConnection, certificate_id: i64, hash: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO revocation_passwords (certificate_id, password_hash) VALUES ($1, $2) \
         ON CONFLICT (certificate_id) DO UPDATE SET password_hash = excluded.password_hash",
    )
    .bind(certificate_id)
    .bind(hash)
    .execute(conn)
    .await
    .map_err(storage)?;
    Ok(())
}
