//! `/v1/certificates`: issuing certificates through RA profiles, and the inventory.

use super::{time, time_param};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Authorized, IssueCertificates, ReadInventory};
use crate::problem::{ApiError, Problem};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use certwright_core::auth::Ctx;
use certwright_core::ca::{
    CertificateFilter, CertificateRecord, Origin, ValidationStatus, DEFAULT_RENEWAL_WINDOW_DAYS,
};
use certwright_core::inventory::{parse_label_filter, CertificateSort, InventoryCursor, InventoryOrder, MetadataPatch};
use certwright_core::page::Page;
use certwright_core::services::IssueRequest;
use certwright_core::CoreError;
use certwright_pki::pem;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// A certificate of the inventory.
#[derive(Debug, Serialize, ToSchema)]
pub struct CertificateView {
    pub id: Uuid,
    /// Lower-case hex.
    pub serial: String,
    /// `issued` or `revoked`.
    pub state: String,
    /// `valid`, `expiring` (inside the RA profile's renewal window), `expired`, `inactive` (not yet valid) or
    /// `revoked`, computed when the answer is made.
    pub validation_status: String,
    /// `request`, `system`, `import`, `acme` or `discovery`.
    pub origin: String,
    pub subject: String,
    pub issuer: String,
    pub common_name: Option<String>,
    /// SANs as `dns:…`, `ip:…`, `email:…`, `uri:…`.
    pub sans: Vec<String>,
    pub not_before: String,
    pub not_after: String,
    pub key_algorithm: String,
    pub signature_algorithm: String,
    /// SHA-256 of the DER, hex.
    pub fingerprint_sha256: String,
    pub authority: Option<Uuid>,
    pub ra_profile: Option<Uuid>,
    pub created_by: String,
    pub created_at: String,
    /// Who is responsible for the certificate (set with `PATCH`).
    pub owner: Option<String>,
    /// Labels (set with `PATCH`).
    pub labels: BTreeMap<String, String>,
    /// Free-form attributes (set with `PATCH`).
    #[schema(value_type = Object)]
    pub custom_attributes: Map<String, Value>,
    pub certificate_pem: String,
    /// Issuer chain (issuing CA first, root last); only on single-certificate answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chain_pem: Option<String>,
    /// The revocation (also a lifted hold); only on single-certificate answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revocation: Option<super::revocation::RevocationView>,
    /// Renewal links, both ways (`renewed_from`, `rekeyed_from`: `certificate` replaces `previous`); only on
    /// single-certificate answers.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub related: Vec<RelatedView>,
}

/// A renewal link between two certificates.
#[derive(Debug, Serialize, ToSchema)]
pub struct RelatedView {
    /// `renewed_from` or `rekeyed_from`.
    pub kind: String,
    /// The newer certificate.
    pub certificate: Uuid,
    /// The certificate it replaces.
    pub previous: Uuid,
}

/// An issued certificate; `private_key_pem` only for a server-generated key the profile lets you export.
#[derive(Debug, Serialize, ToSchema)]
pub struct IssuedView {
    #[serde(flatten)]
    pub certificate: CertificateView,
    /// PKCS#8 PEM, shown once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_key_pem: Option<String>,
}

/// Database ids of authorities and RA profiles with the uuids the API shows, the profiles' renewal windows,
/// and the time statuses are computed at.
pub(crate) struct Links {
    authorities: Vec<(i64, Uuid)>,
    profiles: Vec<(i64, Uuid)>,
    windows: Vec<(i64, u32)>,
    now: i64,
}

pub(crate) async fn links(state: &AppState, ctx: &Ctx) -> Result<Links, ApiError> {
    let authorities = state.services.list_authorities(ctx).await?.into_iter().map(|a| (a.id, a.uuid)).collect();
    let all = state.services.list_ra_profiles(ctx).await?;
    let profiles = all.iter().map(|p| (p.id, p.uuid)).collect();
    let windows = all.iter().map(|p| (p.id, p.policy.renewal_window_days)).collect();
    Ok(Links { authorities, profiles, windows, now: state.services.clock().now() })
}

impl Links {
    /// The uuid of an RA profile by database id.
    pub(crate) fn profile(&self, id: Option<i64>) -> Option<Uuid> {
        lookup(&self.profiles, id)
    }

    /// The uuid of an authority by database id.
    pub(crate) fn authority(&self, id: Option<i64>) -> Option<Uuid> {
        lookup(&self.authorities, id)
    }

    fn window(&self, profile: Option<i64>) -> u32 {
        profile
            .and_then(|id| self.windows.iter().find(|(i, _)| *i == id).map(|(_, w)| *w))
            .unwrap_or(DEFAULT_RENEWAL_WINDOW_DAYS)
    }
}

fn lookup(ids: &[(i64, Uuid)], id: Option<i64>) -> Option<Uuid> {
    id.and_then(|id| ids.iter().find(|(i, _)| *i == id).map(|(_, u)| *u))
}

pub(crate) fn view(r: CertificateRecord, links: &Links, chain: Option<&[Vec<u8>]>) -> CertificateView {
    CertificateView {
        validation_status: r.validation_status(links.now, links.window(r.ra_profile_id)).as_str().to_owned(),
        id: r.uuid,
        serial: r.serial,
        state: r.state,
        origin: r.origin.as_str().to_owned(),
        subject: r.subject,
        issuer: r.issuer,
        common_name: r.common_name,
        sans: r.sans,
        not_before: time(r.not_before),
        not_after: time(r.not_after),
        key_algorithm: r.key_algorithm,
        signature_algorithm: r.signature_algorithm,
        fingerprint_sha256: r.fingerprint,
        authority: lookup(&links.authorities, r.authority_id),
        ra_profile: lookup(&links.profiles, r.ra_profile_id),
        created_by: r.created_by,
        created_at: time(r.created_at),
        owner: r.metadata.owner,
        labels: r.metadata.labels,
        custom_attributes: r.metadata.custom_attributes,
        certificate_pem: pem::encode("CERTIFICATE", &r.der),
        chain_pem: chain.map(|c| c.iter().map(|d| pem::encode("CERTIFICATE", d)).collect()),
        revocation: None,
        related: Vec::new(),
    }
}

/// Body of `POST /v1/certificates`: either `csr`, or the fields of a key the server generates.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueCertificate {
    /// RA profile id or name (`default` exists from the first start).
    pub ra_profile: String,
    /// PKCS#10 request: PEM, or base64 DER. A CRMF request (RFC 4211 `CertReqMessages`/`CertReqMsg`, or a CMP
    /// `ir`/`cr`/`kur` message carrying one) in base64 DER is accepted too; its signature proof of possession is
    /// checked.
    pub csr: Option<String>,
    /// For a server-generated key: the subject common name.
    pub common_name: Option<String>,
    /// For a server-generated key: SANs such as `dns:www.example.com`, `ip:192.0.2.1`.
    #[serde(default)]
    pub sans: Vec<String>,
    /// For a server-generated key: `ecdsa-p256` (default), `rsa-2048`, `ed25519`, `ml-dsa-65`…
    pub key_algorithm: Option<String>,
    /// Validity in days (the profile's default and maximum apply).
    pub validity_days: Option<u32>,
}

/// Issues a certificate (201). When the RA profile needs approval or its authority is external, the request is
/// recorded and answered with `202` and its state (`pending_approval`, `pending_issue`). With an
/// `Idempotency-Key` header a retry returns the certificate already issued (with `Idempotent-Replayed: true`, and
/// without the private key).
#[utoipa::path(post, path = "/v1/certificates", tag = "pki", request_body = IssueCertificate, security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "makes retries safe")),
    responses((status = 201, body = IssuedView), (status = 202, body = super::lifecycle::RequestView),
               (status = 400, body = Problem), (status = 401, body = Problem),
               (status = 403, body = Problem), (status = 404, body = Problem), (status = 413, body = Problem),
               (status = 415, body = Problem), (status = 422, body = Problem)))]
pub async fn issue(
    auth: Authorized<IssueCertificates>,
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<IssueCertificate>,
) -> Result<Response, ApiError> {
    let idempotency_key = match headers.get("idempotency-key") {
        Some(v) => Some(
            v.to_str()
                .map_err(|_| CoreError::invalid("request.invalid_idempotency_key", "Idempotency-Key must be ASCII"))?
                .to_owned(),
        ),
        None => None,
    };
    let req = IssueRequest {
        ra_profile: body.ra_profile,
        csr: body.csr.map(String::into_bytes),
        common_name: body.common_name,
        sans: body.sans,
        key_algorithm: body.key_algorithm,
        validity_days: body.validity_days,
        idempotency_key,
        ..Default::default()
    };
    let issued = match state.services.submit(&auth.ctx, req).await? {
        certwright_core::services::Submitted::Issued(issued) => *issued,
        pending => return super::lifecycle::submitted_response(&state, &auth.ctx, pending).await,
    };
    let links = links(&state, &auth.ctx).await?;
    let body = IssuedView {
        certificate: view(issued.record, &links, Some(&issued.chain)),
        private_key_pem: issued.private_key_pkcs8.map(|k| pem::encode("PRIVATE KEY", &k)),
    };
    let mut resp = (StatusCode::CREATED, Json(body)).into_response();
    if issued.replayed {
        resp.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(resp)
}

/// Filters of `GET /v1/certificates`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CertificateParams {
    /// Substring of the common name or of any SAN (case-insensitive).
    pub name: Option<String>,
    /// Authority id.
    pub authority: Option<Uuid>,
    /// RA profile id.
    pub ra_profile: Option<Uuid>,
    /// `request`, `system` or `import`.
    pub origin: Option<String>,
    /// `valid`, `expiring`, `expired` or `inactive` (with the default 30-day renewal window), or `revoked`.
    pub status: Option<String>,
    /// Expiring before this time (RFC 3339 or epoch seconds).
    pub expires_before: Option<String>,
    /// Expiring at or after this time (RFC 3339 or epoch seconds).
    pub expires_after: Option<String>,
    /// Exactly this owner.
    pub owner: Option<String>,
    /// `key:value`: carries this label with exactly this value.
    pub label: Option<String>,
    /// Key algorithm, e.g. `ecdsa-p256`, `rsa-2048`; `rsa` or `dsa` alone match every size.
    pub key_algorithm: Option<String>,
    /// Lifecycle state: `issued`.
    pub state: Option<String>,
    /// `created_at`, `not_after` or `common_name`; a leading `-` sorts descending (default `-created_at`, newest
    /// first). Ties are broken by creation order.
    pub sort: Option<String>,
    /// `next_cursor` of the previous page: continues after its last item (keyset pagination; not with `offset`).
    pub cursor: Option<String>,
    /// Page size, 1 to 1000 (default 50).
    pub limit: Option<u32>,
    /// Items to skip (default 0).
    pub offset: Option<u64>,
}

/// A page of the inventory: the list envelope with a cursor for the next page.
#[derive(Debug, Serialize, ToSchema)]
pub struct CertificateList {
    pub items: Vec<CertificateView>,
    /// Matches of the filters across all pages.
    pub total: u64,
    pub limit: u32,
    /// Items skipped (0 when a cursor was given).
    pub offset: u64,
    /// Send as `cursor` (with the same filters) for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// A query value that must be a short lower-case word (`[a-z0-9_-]`).
fn word_param(name: &str, value: Option<String>) -> Result<Option<String>, CoreError> {
    match value {
        Some(v)
            if v.is_empty()
                || v.len() > 64
                || !v.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-') =>
        {
            Err(CoreError::invalid(
                "request.invalid_filter",
                format!("{name} must be 1 to 64 characters of a-z, 0-9, '_', '-'"),
            ))
        }
        v => Ok(v),
    }
}

/// Lists the inventory, newest first unless `sort` says otherwise, paged by `offset` or by `cursor`.
#[utoipa::path(get, path = "/v1/certificates", tag = "pki", params(CertificateParams), security(("bearer" = [])),
    responses((status = 200, body = CertificateList), (status = 400, body = Problem), (status = 401, body = Problem)))]
pub async fn list(
    auth: Authorized<ReadInventory>,
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<CertificateParams>,
) -> Result<Json<CertificateList>, ApiError> {
    let page = Page::new(q.limit, q.offset)?;
    let after = q.cursor.as_deref().map(InventoryCursor::decode).transpose()?;
    if after.is_some() && q.offset.is_some() {
        return Err(CoreError::invalid("request.conflicting_paging", "send either cursor or offset, not both").into());
    }
    let sort = q.sort.as_deref().map(CertificateSort::parse).transpose()?;
    let order = InventoryOrder::new(sort, after)?;
    let links = links(&state, &auth.ctx).await?;
    let id_of = |ids: &[(i64, Uuid)], u: Option<Uuid>, what: &'static str| -> Result<Option<i64>, CoreError> {
        match u {
            None => Ok(None),
            Some(u) => ids
                .iter()
                .find(|(_, x)| *x == u)
                .map(|(i, _)| Some(*i))
                .ok_or_else(|| CoreError::invalid("request.unknown_reference", format!("no {what} {u}"))),
        }
    };
    let origin = match q.origin.as_deref() {
        None => None,
        Some("request") => Some(Origin::Request),
        Some("system") => Some(Origin::System),
        Some("import") => Some(Origin::Import),
        Some("acme") => Some(Origin::Acme),
        Some("discovery") => Some(Origin::Discovery),
        Some(o) => return Err(CoreError::invalid("request.invalid_origin", format!("unknown origin '{o}'")).into()),
    };
    let mut filter = CertificateFilter {
        name: q.name,
        authority_id: id_of(&links.authorities, q.authority, "authority")?,
        ra_profile_id: id_of(&links.profiles, q.ra_profile, "RA profile")?,
        origin,
        expires_before: time_param("expires_before", q.expires_before.as_deref())?,
        expires_after: time_param("expires_after", q.expires_after.as_deref())?,
        owner: q.owner,
        label: q.label.as_deref().map(parse_label_filter).transpose()?,
        key_algorithm: word_param("key_algorithm", q.key_algorithm)?,
        state: word_param("state", q.state)?,
        ..Default::default()
    };
    if let Some(status) = q.status.as_deref() {
        if filter.expires_before.is_some() || filter.expires_after.is_some() {
            return Err(CoreError::invalid(
                "request.conflicting_filters",
                "status cannot be combined with expires_before or expires_after",
            )
            .into());
        }
        let status = ValidationStatus::parse(status).ok_or_else(|| {
            CoreError::invalid(
                "request.invalid_status",
                format!("status must be valid, expiring, expired, inactive or revoked, got '{status}'"),
            )
        })?;
        status.restrict(&mut filter, links.now, DEFAULT_RENEWAL_WINDOW_DAYS);
    }
    let listed = state.services.list_certificates(&auth.ctx, &filter, &order, page).await?;
    Ok(Json(CertificateList {
        items: listed.items.into_iter().map(|r| view(r, &links, None)).collect(),
        total: listed.total,
        limit: page.limit(),
        offset: if order.after.is_some() { 0 } else { page.offset() },
        next_cursor: listed.next.map(|c| c.encode()),
    }))
}

/// One certificate with its chain.
#[utoipa::path(get, path = "/v1/certificates/{id}", tag = "pki", params(("id" = Uuid, Path, description = "certificate id")),
    security(("bearer" = [])),
    responses((status = 200, body = CertificateView), (status = 400, body = Problem), (status = 401, body = Problem),
               (status = 404, body = Problem)))]
pub async fn get(
    auth: Authorized<ReadInventory>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<CertificateView>, ApiError> {
    let (record, chain) = state.services.certificate(&auth.ctx, id).await?;
    let revocation = state.services.revocation_of(&record).await?;
    let related = state.services.certificate_links(&auth.ctx, &record).await?;
    let links = links(&state, &auth.ctx).await?;
    let mut v = view(record, &links, Some(&chain));
    v.revocation = revocation.as_ref().map(super::revocation::RevocationView::from);
    v.related = related
        .into_iter()
        .map(|l| RelatedView { kind: l.kind.as_str().to_owned(), certificate: l.certificate, previous: l.previous })
        .collect();
    Ok(Json(v))
}

/// A field that is present, even as `null` (`Some(None)`), as opposed to absent (`None`).
fn present<'de, T: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// Body of `PATCH /v1/certificates/{id}`: a JSON merge patch (RFC 7396) of the certificate's metadata. Absent
/// fields stay as they are; `null` removes.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCertificate {
    /// The owner, 1 to 256 characters; `null` removes it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub owner: Option<Option<String>>,
    /// Labels to set (`"key": "value"`) or remove (`"key": null`); `null` removes every label. Keys are 1 to 64
    /// characters of `a-z 0-9 _ . -`, values at most 256 characters; at most 50 labels.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Object>)]
    pub labels: Option<Option<BTreeMap<String, Option<String>>>>,
    /// Merged into the custom attributes (objects merge, `null` members are removed); `null` removes them all.
    /// At most 16 KiB of JSON.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Object>)]
    pub custom_attributes: Option<Option<Map<String, Value>>>,
}

/// Changes a certificate's owner, labels and custom attributes (merge-patch semantics); the certificate itself
/// never changes. Requesters may change only certificates they requested. Audited as `certificate.update`.
#[utoipa::path(patch, path = "/v1/certificates/{id}", tag = "pki", request_body = UpdateCertificate,
    params(("id" = Uuid, Path, description = "certificate id")), security(("bearer" = [])),
    responses((status = 200, body = CertificateView), (status = 400, body = Problem), (status = 401, body = Problem),
               (status = 403, body = Problem), (status = 404, body = Problem), (status = 413, body = Problem),
               (status = 415, body = Problem), (status = 422, body = Problem)))]
pub async fn update(
    auth: Authorized<IssueCertificates>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<Map<String, Value>>,
) -> Result<Json<CertificateView>, ApiError> {
    // Read as an object first: serde would also take a JSON array for the struct's fields, in order.
    let body: UpdateCertificate = serde_json::from_value(Value::Object(body))
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "request.invalid_json", e.to_string()))?;
    let patch = MetadataPatch { owner: body.owner, labels: body.labels, custom_attributes: body.custom_attributes };
    state.services.update_certificate(&auth.ctx, id, &patch).await?;
    let (record, chain) = state.services.certificate(&auth.ctx, id).await?;
    let revocation = state.services.revocation_of(&record).await?;
    let related = state.services.certificate_links(&auth.ctx, &record).await?;
    let links = links(&state, &auth.ctx).await?;
    let mut v = view(record, &links, Some(&chain));
    v.revocation = revocation.as_ref().map(super::revocation::RevocationView::from);
    v.related = related
        .into_iter()
        .map(|l| RelatedView { kind: l.kind.as_str().to_owned(), certificate: l.certificate, previous: l.previous })
        .collect();
    Ok(Json(v))
}

/// Body of `POST /v1/certificates/import`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportCertificate {
    /// The certificate: PEM (`CERTIFICATE` blocks, the certificate first and then its chain, or a `PKCS7`
    /// block), or base64 of a DER certificate, a DER PKCS#7 certs-only bundle (`.p7b`) or a PKCS#12 file
    /// (`.p12`, `.pfx`; modern AES or legacy 3DES/RC2). Only the certificate itself is stored: the certificate
    /// of the key in a PKCS#12 file, the end of the chain in a PKCS#7 bundle. Chain certificates are checked
    /// and counted in the audit event.
    pub certificate: String,
    /// The PKCS#12 password (absent means empty). A wrong one is refused with `import.wrong_password`. Also
    /// opens an encrypted `private_key` when `private_key_password` is absent.
    pub password: Option<String>,
    /// The certificate's private key, when it is not inside a PKCS#12 file: PEM (`PRIVATE KEY`,
    /// `ENCRYPTED PRIVATE KEY`, `RSA PRIVATE KEY` or `EC PRIVATE KEY`) or base64 DER of the same. It must belong
    /// to the certificate (`import.key_mismatch` otherwise). The key is sealed under the master key, like keys
    /// generated here, and can be exported later with `POST /v1/certificates/{id}/pkcs12`.
    pub private_key: Option<String>,
    /// The password of an encrypted `private_key` (default: `password`).
    pub private_key_password: Option<String>,
}

impl std::fmt::Debug for ImportCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportCertificate")
            .field("certificate", &self.certificate.len())
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("private_key", &self.private_key.as_ref().map(|_| "<redacted>"))
            .field("private_key_password", &self.private_key_password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Imports a certificate issued elsewhere into the inventory (origin `import`), from PEM, DER, PKCS#7 or
/// PKCS#12, with its private key when one comes with it; it is linked to a known authority when one of them
/// signed it.
#[utoipa::path(post, path = "/v1/certificates/import", tag = "pki", request_body = ImportCertificate,
    security(("bearer" = [])),
    responses((status = 201, body = ImportedView), (status = 400, body = Problem), (status = 401, body = Problem),
               (status = 403, body = Problem), (status = 409, body = Problem), (status = 413, body = Problem),
               (status = 415, body = Problem), (status = 422, body = Problem)))]
pub async fn import(
    auth: Authorized<IssueCertificates>,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<ImportCertificate>,
) -> Result<(StatusCode, Json<ImportedView>), ApiError> {
    // PEM as it is; anything else is base64 of binary (DER, PKCS#7, PKCS#12).
    let bytes = |text: &str, code: &'static str, field: &str| -> Result<zeroize::Zeroizing<Vec<u8>>, CoreError> {
        let text = text.trim();
        if text.contains("-----BEGIN") {
            return Ok(zeroize::Zeroizing::new(text.as_bytes().to_vec()));
        }
        use base64::Engine;
        let compact = zeroize::Zeroizing::new(text.chars().filter(|c| !c.is_whitespace()).collect::<String>());
        base64::engine::general_purpose::STANDARD
            .decode(compact.as_bytes())
            .map(zeroize::Zeroizing::new)
            .map_err(|_| CoreError::invalid(code, format!("{field} must be PEM or base64")))
    };
    let private_key = body.private_key.map(zeroize::Zeroizing::new);
    let req = certwright_core::services::ImportRequest {
        certificate: bytes(&body.certificate, "import.invalid", "certificate")?.to_vec(),
        password: body.password.map(zeroize::Zeroizing::new),
        private_key: private_key.as_deref().map(|k| bytes(k, "import.invalid_key", "private_key")).transpose()?,
        private_key_password: body.private_key_password.map(zeroize::Zeroizing::new),
    };
    let imported = state.services.import_certificate(&auth.ctx, req).await?;
    let (record, chain) = state.services.certificate(&auth.ctx, imported.record.uuid).await?;
    let links = links(&state, &auth.ctx).await?;
    let v = imported.validation;
    let chain_validation =
        ChainValidationView { status: v.status.to_owned(), qradar_code: v.qradar_code, problems: v.problems };
    Ok((StatusCode::CREATED, Json(ImportedView { certificate: view(record, &links, Some(&chain)), chain_validation })))
}

/// An imported certificate with the result of validating its chain.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportedView {
    #[serde(flatten)]
    pub certificate: CertificateView,
    pub chain_validation: ChainValidationView,
}

/// The chain of an imported certificate, validated at import against this server's root authorities as trust
/// anchors, through the other certificates sent with it and the known authorities. A certificate from another
/// PKI is stored all the same; its status then says why it does not validate here.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChainValidationView {
    /// `valid`, `expiring`, `expired`, `inactive` (not yet valid), `revoked`, `invalid` or `failed`.
    pub status: String,
    /// The IBM QRadar code of the most important problem (2003 expired, 2004 not yet valid, 2011 issuer not
    /// found, 2013 chain invalid, 2014 bad self-signed, …); 0 when there is none.
    pub qradar_code: u16,
    /// Every problem found, most important first.
    pub problems: Vec<String>,
}

/// Parameters of the export endpoint.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ExportParams {
    /// `pem` (default), `der` (the certificate alone) or `pkcs7` (DER certs-only bundle).
    pub format: Option<String>,
    /// Include the issuer chain (default true; not possible with `der`).
    pub chain: Option<bool>,
}

/// Downloads a certificate as PEM, DER or PKCS#7, with or without its chain. Private keys are not exported
/// here.
#[utoipa::path(get, path = "/v1/certificates/{id}/export", tag = "pki",
    params(("id" = Uuid, Path, description = "certificate id"), ExportParams), security(("bearer" = [])),
    responses((status = 200, description = "the certificate in the chosen format",
               content((String = "application/x-pem-file"), (Vec<u8> = "application/pkix-cert"), (Vec<u8> = "application/pkcs7-mime"))),
               (status = 400, body = Problem), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn export(
    auth: Authorized<ReadInventory>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(q): ApiQuery<ExportParams>,
) -> Result<Response, ApiError> {
    let (record, chain) = state.services.certificate(&auth.ctx, id).await?;
    let with_chain = q.chain.unwrap_or(true);
    let format = q.format.as_deref().unwrap_or("pem");
    let mut certs = vec![record.der];
    if with_chain && format != "der" {
        certs.extend(chain);
    }
    let (content_type, extension, body): (&str, &str, Vec<u8>) = match format {
        "pem" => {
            let text: String = certs.iter().map(|c| pem::encode("CERTIFICATE", c)).collect();
            ("application/x-pem-file", "pem", text.into_bytes())
        }
        "der" if q.chain == Some(true) => {
            return Err(CoreError::invalid(
                "request.invalid_format",
                "der holds one certificate: use pkcs7 or pem for a chain",
            )
            .into())
        }
        "der" => ("application/pkix-cert", "cer", certs.swap_remove(0)),
        "pkcs7" => {
            ("application/pkcs7-mime", "p7b", certwright_pki::pkcs7::certs_only(&certs).map_err(CoreError::from)?)
        }
        other => {
            return Err(CoreError::invalid(
                "request.invalid_format",
                format!("format must be pem, der or pkcs7, got '{other}'"),
            )
            .into())
        }
    };
    let disposition = format!("attachment; filename=\"{}.{extension}\"", record.serial);
    let mut resp = (StatusCode::OK, body).into_response();
    let h = resp.headers_mut();
    h.insert(axum::http::header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(axum::http::header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}

/// Body of `POST /v1/certificates/{id}/pkcs12`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Pkcs12Request {
    /// Protects the file; 8 to 1024 characters.
    pub password: String,
    /// Include the issuer chain (default true).
    pub chain: Option<bool>,
    /// The friendly name (alias) stored with the key; defaults to the common name.
    pub friendly_name: Option<String>,
    /// The key's own password, when one guards it (set by a senhasegura request's `key_password` or an upload's
    /// `password`).
    pub key_password: Option<String>,
}

/// Exports a certificate with its private key as PKCS#12 (PBES2 AES-256-CBC, HMAC-SHA256 MAC). Only for keys
/// certwright generated under a profile that allows export; requesters only for their own certificates;
/// every export is audited.
#[utoipa::path(post, path = "/v1/certificates/{id}/pkcs12", tag = "pki", request_body = Pkcs12Request,
    params(("id" = Uuid, Path, description = "certificate id")), security(("bearer" = [])),
    responses((status = 200, content_type = "application/x-pkcs12", body = Vec<u8>), (status = 400, body = Problem),
               (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
               (status = 415, body = Problem), (status = 422, body = Problem)))]
pub async fn pkcs12(
    auth: Authorized<IssueCertificates>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<Pkcs12Request>,
) -> Result<Response, ApiError> {
    let chars = body.password.chars().count();
    if !(8..=1024).contains(&chars) {
        return Err(CoreError::invalid("request.invalid_password", "password must be 8 to 1024 characters").into());
    }
    let (record, chain, key) = state.services.export_private_key(&auth.ctx, id, body.key_password.as_deref()).await?;
    let mut certs = vec![record.der.clone()];
    if body.chain.unwrap_or(true) {
        certs.extend(chain);
    }
    let name = body.friendly_name.or(record.common_name.clone());
    let file =
        certwright_pki::pkcs12::export(&key, &certs, &body.password, name.as_deref()).map_err(CoreError::from)?;
    let mut resp = (StatusCode::OK, file).into_response();
    let h = resp.headers_mut();
    h.insert(axum::http::header::CONTENT_TYPE, HeaderValue::from_static("application/x-pkcs12"));
    h.insert(axum::http::header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{}.p12\"", record.serial)) {
        h.insert(axum::http::header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}
