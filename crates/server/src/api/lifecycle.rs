//! The lifecycle: requests (`/v1/requests`), finalize, cancel, confirm-revoke, renew and rekey on
//! `/v1/certificates/{id}/…`, approvals (`/v1/approvals`), jobs (`/v1/jobs`), reports (`/v1/reports/…`, JSON or
//! CSV) and notification rules (`/v1/notification-rules`).

use super::certificates::{links, view, CertificateView, IssuedView, Links};
use super::{time, List};
use crate::extract::{
    ApiJson, ApiPath, ApiQuery, Authorized, IssueCertificates, ManageAuthorities, ManageRequests, ReadInventory,
};
use crate::problem::{ApiError, Problem};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use certwright_core::jobs::{Job, JobFilter, JobState};
use certwright_core::lifecycle::{Approval, ApprovalStatus, RequestRecord, State as LifecycleState};
use certwright_core::notify::NotificationRule;
use certwright_core::page::Page;
use certwright_core::services::{Issued, RekeyRequest, RenewRequest, Submitted};
use certwright_core::CoreError;
use certwright_pki::pem;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// A request that is not a certificate (yet).
#[derive(Debug, Serialize, ToSchema)]
pub struct RequestView {
    /// The certificate issued for it will have this id.
    pub id: Uuid,
    /// `issue`, `renew` or `rekey`.
    pub kind: String,
    /// `requested`, `pending_approval`, `pending_issue`, `rejected`, `failed` or `issued`.
    pub state: String,
    pub ra_profile: Option<Uuid>,
    pub authority: Option<Uuid>,
    pub subject: String,
    pub common_name: Option<String>,
    pub sans: Vec<String>,
    pub key_algorithm: String,
    pub validity_days: u32,
    /// The certificate this one renews or rekeys.
    pub replaces: Option<Uuid>,
    /// Why it was rejected, failed or cancelled.
    pub reason: Option<String>,
    /// The approval it waits for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval: Option<ApprovalView>,
    pub created_by: String,
    pub created_at: String,
    pub updated_at: String,
}

/// One approver's decision.
#[derive(Debug, Serialize, ToSchema)]
pub struct VoteView {
    pub principal: String,
    /// `approve` or `reject`.
    pub decision: String,
    pub comment: Option<String>,
    pub at: String,
}

/// An approval of an issue or a revocation.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApprovalView {
    pub id: Uuid,
    /// `issue` or `revoke`.
    pub action: String,
    /// The request (issue) or certificate (revoke) it decides on.
    pub object: Uuid,
    pub ra_profile: Option<Uuid>,
    /// `pending`, `approved`, `rejected` or `expired`.
    pub status: String,
    pub required: u32,
    /// Lowest role that may decide: `operator` or `admin`.
    pub approver_role: String,
    pub requested_by: String,
    pub created_at: String,
    pub expires_at: String,
    pub decided_at: Option<String>,
    pub votes: Vec<VoteView>,
}

fn approval_view(a: Approval, links: &Links) -> ApprovalView {
    ApprovalView {
        id: a.uuid,
        action: a.action.as_str().to_owned(),
        object: a.object_uuid,
        ra_profile: links.profile(Some(a.ra_profile_id)),
        status: a.status.as_str().to_owned(),
        required: a.required,
        approver_role: a.approver_role,
        requested_by: a.requested_by,
        created_at: time(a.created_at),
        expires_at: time(a.expires_at),
        decided_at: a.decided_at.map(time),
        votes: a
            .votes
            .into_iter()
            .map(|v| VoteView { principal: v.principal, decision: v.decision, comment: v.comment, at: time(v.at) })
            .collect(),
    }
}

async fn request_view(
    state: &AppState,
    ctx: &certwright_core::auth::Ctx,
    r: RequestRecord,
    approval: Option<Approval>,
) -> Result<RequestView, ApiError> {
    let links = links(state, ctx).await?;
    let replaces = match r.replaces_id {
        Some(id) => state.services.store_certificate_uuid(id).await?,
        None => None,
    };
    Ok(RequestView {
        id: r.uuid,
        kind: r.kind.as_str().to_owned(),
        state: r.state.as_str().to_owned(),
        ra_profile: links.profile(Some(r.ra_profile_id)),
        authority: links.authority(Some(r.authority_id)),
        subject: r.subject,
        common_name: r.common_name,
        sans: r.sans,
        key_algorithm: r.key_algorithm,
        validity_days: r.validity_days,
        replaces,
        reason: r.reason,
        approval: approval.map(|a| approval_view(a, &links)),
        created_by: r.created_by,
        created_at: time(r.created_at),
        updated_at: time(r.updated_at),
    })
}

async fn issued_response(
    state: &AppState,
    ctx: &certwright_core::auth::Ctx,
    issued: Issued,
) -> Result<Response, ApiError> {
    let links = links(state, ctx).await?;
    let body = IssuedView {
        certificate: view(issued.record, &links, Some(&issued.chain)),
        private_key_pem: issued.private_key_pkcs8.map(|k| pem::encode("PRIVATE KEY", &k)),
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// A submitted request: `201` with the certificate when issued, `202` with the request when it waits.
pub(crate) async fn submitted_response(
    state: &AppState,
    ctx: &certwright_core::auth::Ctx,
    submitted: Submitted,
) -> Result<Response, ApiError> {
    match submitted {
        Submitted::Issued(issued) => issued_response(state, ctx, *issued).await,
        Submitted::Pending(p) => {
            let view = request_view(state, ctx, p.request, p.approval).await?;
            Ok((StatusCode::ACCEPTED, Json(view)).into_response())
        }
    }
}

/// Filters of `GET /v1/requests`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RequestParams {
    /// Only requests in this state.
    pub state: Option<String>,
    pub limit: Option<u32>,
    pub offset: Option<u64>,
}

/// Requests, newest first.
#[utoipa::path(get, path = "/v1/requests", tag = "lifecycle", params(RequestParams), security(("bearer" = [])),
    responses((status = 200, body = List<RequestView>), (status = 400, body = Problem), (status = 401, body = Problem)))]
pub async fn list_requests(
    auth: Authorized<ReadInventory>,
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<RequestParams>,
) -> Result<Json<List<RequestView>>, ApiError> {
    let filter = match params.state.as_deref() {
        Some(s) => Some(LifecycleState::parse(s).filter(|s| !s.is_certificate() || *s == LifecycleState::Issued).ok_or_else(|| {
            CoreError::invalid(
                "request.invalid_state",
                format!("state must be requested, pending_approval, pending_issue, rejected, failed or issued, got '{s}'"),
            )
        })?),
        None => None,
    };
    let page = Page::new(params.limit, params.offset)?;
    let listed = state.services.list_requests(&auth.ctx, filter, page).await?;
    let mut items = Vec::with_capacity(listed.items.len());
    let total = listed.total;
    for r in listed.items {
        items.push(request_view(&state, &auth.ctx, r, None).await?);
    }
    Ok(Json(List { items, total, limit: page.limit(), offset: page.offset() }))
}

/// One request, with the approval it waits for.
#[utoipa::path(get, path = "/v1/requests/{id}", tag = "lifecycle", params(("id" = Uuid, Path, description = "request id")),
    security(("bearer" = [])),
    responses((status = 200, body = RequestView), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn get_request(
    auth: Authorized<ReadInventory>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<RequestView>, ApiError> {
    let r = state.services.request(&auth.ctx, id).await?;
    let approval = state.services.approval_of(&auth.ctx, id).await?;
    Ok(Json(request_view(&state, &auth.ctx, r, approval).await?))
}

/// The request's PKCS#10 CSR (PEM), to hand to an external CA: as the requester sent it, or signed here with the
/// key generated for the request.
#[utoipa::path(get, path = "/v1/requests/{id}/csr", tag = "lifecycle", params(("id" = Uuid, Path, description = "request id")),
    security(("bearer" = [])),
    responses((status = 200, content_type = "application/pkcs10", body = String), (status = 404, body = Problem),
              (status = 409, body = Problem)))]
pub async fn request_csr(
    auth: Authorized<ReadInventory>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Response, ApiError> {
    let der = state.services.request_csr(&auth.ctx, id).await?;
    Ok(([(header::CONTENT_TYPE, "application/pkcs10")], pem::encode("CERTIFICATE REQUEST", &der)).into_response())
}

/// Moves a `requested` request on: to approval, to its external authority, or issued (201).
#[utoipa::path(post, path = "/v1/requests/{id}/submit", tag = "lifecycle", params(("id" = Uuid, Path, description = "request id")),
    security(("bearer" = [])),
    responses((status = 201, body = IssuedView), (status = 202, body = RequestView), (status = 404, body = Problem),
              (status = 409, body = Problem)))]
pub async fn submit_request(
    auth: Authorized<IssueCertificates>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Response, ApiError> {
    let submitted = state.services.submit_request(&auth.ctx, id).await?;
    submitted_response(&state, &auth.ctx, submitted).await
}

/// Body of finalize.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Finalize {
    /// The certificate the external authority issued: PEM (chain allowed), or base64 DER.
    pub certificate: String,
}

/// Uploads the certificate an external authority issued for a `pending_issue` request: it must carry the
/// request's public key and subject (and be signed by the authority's CA certificate when one is known).
#[utoipa::path(post, path = "/v1/certificates/{id}/finalize", tag = "lifecycle", request_body = Finalize,
    params(("id" = Uuid, Path, description = "request id")), security(("bearer" = [])),
    responses((status = 201, body = IssuedView), (status = 400, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem)))]
pub async fn finalize(
    auth: Authorized<ManageRequests>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<Finalize>,
) -> Result<Response, ApiError> {
    let text = body.certificate.trim();
    let bytes = if text.starts_with("-----BEGIN") {
        text.as_bytes().to_vec()
    } else {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|_| CoreError::invalid("finalize.invalid_certificate", "certificate must be PEM or base64 DER"))?
    };
    let issued = state.services.finalize(&auth.ctx, id, &bytes).await?;
    issued_response(&state, &auth.ctx, issued).await
}

/// Body of cancel.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Cancel {
    /// Why (at most 1000 characters); recorded on the request and in the audit log.
    pub reason: Option<String>,
}

/// What cancel did.
#[derive(Debug, Serialize, ToSchema)]
pub struct Cancelled {
    pub id: Uuid,
    /// `failed` (a pending issue) or `issued` (a pending revocation).
    pub state: String,
}

/// Aborts a pending operation: `pending_issue` → `failed`, `pending_revoke` → `issued`.
#[utoipa::path(post, path = "/v1/certificates/{id}/cancel", tag = "lifecycle", request_body = Cancel,
    params(("id" = Uuid, Path, description = "certificate or request id")), security(("bearer" = [])),
    responses((status = 200, body = Cancelled), (status = 400, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem)))]
pub async fn cancel(
    auth: Authorized<ManageRequests>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<Cancel>,
) -> Result<Json<Cancelled>, ApiError> {
    let to = state.services.cancel(&auth.ctx, id, body.reason).await?;
    Ok(Json(Cancelled { id, state: to.as_str().to_owned() }))
}

/// Completes a pending revocation with the reason, invalidity date and key destruction asked for it.
#[utoipa::path(post, path = "/v1/certificates/{id}/confirm-revoke", tag = "lifecycle",
    params(("id" = Uuid, Path, description = "certificate id")), security(("bearer" = [])),
    responses((status = 200, body = CertificateView), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn confirm_revoke(
    auth: Authorized<ManageRequests>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<CertificateView>, ApiError> {
    let revoked = state.services.confirm_revoke(&auth.ctx, id).await?;
    let links = links(&state, &auth.ctx).await?;
    let mut v = view(revoked.certificate, &links, None);
    v.revocation = Some(super::revocation::RevocationView::from(&revoked.revocation));
    Ok(Json(v))
}

/// Body of renew.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Renew {
    pub validity_days: Option<u32>,
    /// Redeploy the new certificate where the old one is deployed.
    #[serde(default)]
    pub replace_in_locations: bool,
}

/// Renews an issued certificate: same key and names, a new certificate linked as `renewed_from` (201), or a
/// request when approval or an external authority is involved (202).
#[utoipa::path(post, path = "/v1/certificates/{id}/renew", tag = "lifecycle", request_body = Renew,
    params(("id" = Uuid, Path, description = "certificate id")), security(("bearer" = [])),
    responses((status = 201, body = IssuedView), (status = 202, body = RequestView), (status = 400, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn renew(
    auth: Authorized<IssueCertificates>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<Renew>,
) -> Result<Response, ApiError> {
    let req = RenewRequest {
        validity_days: body.validity_days,
        replace_in_locations: body.replace_in_locations,
        ..Default::default()
    };
    let submitted = state.services.renew(&auth.ctx, id, &req).await?;
    submitted_response(&state, &auth.ctx, submitted).await
}

/// Body of rekey.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rekey {
    /// A PKCS#10 request for the new key (its names replace the old ones when it has any).
    pub csr: Option<String>,
    /// For a key generated here: its algorithm (the old certificate's by default).
    pub key_algorithm: Option<String>,
    pub validity_days: Option<u32>,
    #[serde(default)]
    pub replace_in_locations: bool,
}

/// Rekeys an issued certificate: a new key, a new certificate linked as `rekeyed_from`.
#[utoipa::path(post, path = "/v1/certificates/{id}/rekey", tag = "lifecycle", request_body = Rekey,
    params(("id" = Uuid, Path, description = "certificate id")), security(("bearer" = [])),
    responses((status = 201, body = IssuedView), (status = 202, body = RequestView), (status = 400, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn rekey(
    auth: Authorized<IssueCertificates>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<Rekey>,
) -> Result<Response, ApiError> {
    let req = RekeyRequest {
        csr: body.csr.map(String::into_bytes),
        key_algorithm: body.key_algorithm,
        validity_days: body.validity_days,
        replace_in_locations: body.replace_in_locations,
        ..Default::default()
    };
    let submitted = state.services.rekey(&auth.ctx, id, &req).await?;
    submitted_response(&state, &auth.ctx, submitted).await
}

/// Filters of `GET /v1/approvals`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ApprovalParams {
    /// `pending`, `approved`, `rejected` or `expired`.
    pub status: Option<String>,
    pub limit: Option<u32>,
    pub offset: Option<u64>,
}

/// Approvals, newest first.
#[utoipa::path(get, path = "/v1/approvals", tag = "lifecycle", params(ApprovalParams), security(("bearer" = [])),
    responses((status = 200, body = List<ApprovalView>), (status = 400, body = Problem), (status = 401, body = Problem)))]
pub async fn list_approvals(
    auth: Authorized<ReadInventory>,
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<ApprovalParams>,
) -> Result<Json<List<ApprovalView>>, ApiError> {
    let status = match params.status.as_deref() {
        Some(s) => Some(ApprovalStatus::parse(s).ok_or_else(|| {
            CoreError::invalid(
                "approval.invalid_status",
                format!("status must be pending, approved, rejected or expired, got '{s}'"),
            )
        })?),
        None => None,
    };
    let page = Page::new(params.limit, params.offset)?;
    let listed = state.services.list_approvals(&auth.ctx, status, page).await?;
    let links = links(&state, &auth.ctx).await?;
    Ok(Json(List::new(listed, page, |a| approval_view(a, &links))))
}

/// One approval.
#[utoipa::path(get, path = "/v1/approvals/{id}", tag = "lifecycle", params(("id" = Uuid, Path, description = "approval id")),
    security(("bearer" = [])),
    responses((status = 200, body = ApprovalView), (status = 404, body = Problem)))]
pub async fn get_approval(
    auth: Authorized<ReadInventory>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<ApprovalView>, ApiError> {
    let a = state.services.approval(&auth.ctx, id).await?;
    let links = links(&state, &auth.ctx).await?;
    Ok(Json(approval_view(a, &links)))
}

/// Body of approve and reject.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    /// At most 1000 characters.
    pub comment: Option<String>,
}

async fn decide(
    state: AppState,
    auth: Authorized<ManageRequests>,
    id: Uuid,
    approve: bool,
    body: Decision,
) -> Result<Json<ApprovalView>, ApiError> {
    let a = state.services.decide(&auth.ctx, id, approve, body.comment).await?;
    let links = links(&state, &auth.ctx).await?;
    Ok(Json(approval_view(a, &links)))
}

/// Approves. The requester may not approve their own request; each approver decides once; when enough have
/// approved, the request is issued (or handed to its authority) and a revocation carried out.
#[utoipa::path(post, path = "/v1/approvals/{id}/approve", tag = "lifecycle", request_body = Decision,
    params(("id" = Uuid, Path, description = "approval id")), security(("bearer" = [])),
    responses((status = 200, body = ApprovalView), (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem)))]
pub async fn approve(
    auth: Authorized<ManageRequests>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<Decision>,
) -> Result<Json<ApprovalView>, ApiError> {
    decide(state, auth, id, true, body).await
}

/// Rejects: the request becomes `rejected`, a pending revocation is dropped (the certificate stays `issued`).
#[utoipa::path(post, path = "/v1/approvals/{id}/reject", tag = "lifecycle", request_body = Decision,
    params(("id" = Uuid, Path, description = "approval id")), security(("bearer" = [])),
    responses((status = 200, body = ApprovalView), (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem)))]
pub async fn reject(
    auth: Authorized<ManageRequests>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<Decision>,
) -> Result<Json<ApprovalView>, ApiError> {
    decide(state, auth, id, false, body).await
}

/// A background job.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobView {
    pub id: Uuid,
    /// `certificate.renew`, `expiry.scan`, `notification.deliver`…
    pub kind: String,
    /// `queued`, `running`, `succeeded` or `failed`.
    pub state: String,
    pub attempts: u32,
    pub max_attempts: u32,
    pub run_at: String,
    /// The node holding it while running.
    pub leased_by: Option<String>,
    pub last_error: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub result: Option<serde_json::Value>,
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    pub created_at: String,
    pub finished_at: Option<String>,
}

fn job_view(j: Job) -> JobView {
    JobView {
        id: j.uuid,
        kind: j.kind,
        state: j.state.as_str().to_owned(),
        attempts: j.attempts,
        max_attempts: j.max_attempts,
        run_at: time(j.run_at),
        leased_by: j.leased_by,
        last_error: j.last_error,
        result: j.result,
        payload: j.payload,
        created_at: time(j.created_at),
        finished_at: j.finished_at.map(time),
    }
}

/// Filters of `GET /v1/jobs`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct JobParams {
    pub state: Option<String>,
    pub kind: Option<String>,
    pub limit: Option<u32>,
    pub offset: Option<u64>,
}

/// Jobs, newest first.
#[utoipa::path(get, path = "/v1/jobs", tag = "lifecycle", params(JobParams), security(("bearer" = [])),
    responses((status = 200, body = List<JobView>), (status = 400, body = Problem), (status = 403, body = Problem)))]
pub async fn list_jobs(
    auth: Authorized<ManageRequests>,
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<JobParams>,
) -> Result<Json<List<JobView>>, ApiError> {
    let job_state = match params.state.as_deref() {
        Some(s) => Some(JobState::parse(s).ok_or_else(|| {
            CoreError::invalid(
                "job.invalid_state",
                format!("state must be queued, running, succeeded or failed, got '{s}'"),
            )
        })?),
        None => None,
    };
    let page = Page::new(params.limit, params.offset)?;
    let listed = state.services.list_jobs(&auth.ctx, &JobFilter { state: job_state, kind: params.kind }, page).await?;
    Ok(Json(List::new(listed, page, job_view)))
}

/// One job.
#[utoipa::path(get, path = "/v1/jobs/{id}", tag = "lifecycle", params(("id" = Uuid, Path, description = "job id")),
    security(("bearer" = [])), responses((status = 200, body = JobView), (status = 404, body = Problem)))]
pub async fn get_job(
    auth: Authorized<ManageRequests>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<JobView>, ApiError> {
    Ok(Json(job_view(state.services.job(&auth.ctx, id).await?)))
}

/// Queues an expiry scan now (approvals expire, auto-renewals and notifications are queued), besides the one
/// that runs every `expiry_scan_seconds`.
#[utoipa::path(post, path = "/v1/jobs/expiry-scan", tag = "lifecycle", security(("bearer" = [])),
    responses((status = 202, body = JobView), (status = 403, body = Problem)))]
pub async fn expiry_scan(
    auth: Authorized<ManageRequests>,
    State(state): State<AppState>,
) -> Result<(StatusCode, Json<JobView>), ApiError> {
    let job = state.services.queue_expiry_scan(&auth.ctx).await?;
    Ok((StatusCode::ACCEPTED, Json(job_view(job))))
}

/// Parameters of the expiring report.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ExpiringParams {
    /// Horizon: `30d`, `12h` is not accepted — days only (`30d` or `30`). Default 30 days.
    pub within: Option<String>,
    /// `json` (default) or `csv` (also chosen by `Accept: text/csv`).
    pub format: Option<String>,
    /// At most this many certificates (default 1000, at most 10000).
    pub limit: Option<u32>,
}

fn wants_csv(format: Option<&str>, headers: &HeaderMap) -> Result<bool, ApiError> {
    match format {
        Some("csv") => Ok(true),
        Some("json") => Ok(false),
        Some(other) => {
            Err(CoreError::invalid("report.invalid_format", format!("format must be json or csv, got '{other}'"))
                .into())
        }
        None => Ok(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/csv"))),
    }
}

fn csv_field(s: &str) -> String {
    // Formula-looking cells are prefixed so spreadsheets do not evaluate them.
    let s = if s.starts_with(['=', '+', '-', '@']) { format!("'{s}") } else { s.to_owned() };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

fn csv_response(name: &str, rows: Vec<Vec<String>>) -> Response {
    let mut out = String::new();
    for row in rows {
        out.push_str(&row.iter().map(|c| csv_field(c)).collect::<Vec<_>>().join(","));
        out.push_str("\r\n");
    }
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}.csv\"")),
        ],
        out,
    )
        .into_response()
}

/// The expiring report.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExpiringView {
    pub within_days: u32,
    pub count: usize,
    pub certificates: Vec<CertificateView>,
}

/// Issued certificates expiring within a horizon, soonest first, as JSON or CSV.
#[utoipa::path(get, path = "/v1/reports/expiring", tag = "lifecycle", params(ExpiringParams), security(("bearer" = [])),
    responses((status = 200, body = ExpiringView), (status = 400, body = Problem)))]
pub async fn expiring(
    auth: Authorized<ReadInventory>,
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiQuery(params): ApiQuery<ExpiringParams>,
) -> Result<Response, ApiError> {
    let within = params.within.as_deref().unwrap_or("30d");
    let days: u32 = within.strip_suffix('d').unwrap_or(within).parse().map_err(|_| {
        CoreError::invalid(
            "report.invalid_within",
            format!("within must be a number of days such as 30d, got '{within}'"),
        )
    })?;
    let csv = wants_csv(params.format.as_deref(), &headers)?;
    let report = state.services.expiring_report(&auth.ctx, days, params.limit.unwrap_or(1000)).await?;
    let links = links(&state, &auth.ctx).await?;
    let views: Vec<CertificateView> = report.certificates.into_iter().map(|c| view(c, &links, None)).collect();
    if csv {
        let mut rows =
            vec![["id", "common_name", "serial", "not_after", "validation_status", "owner", "ra_profile", "sans"]
                .iter()
                .map(|s| (*s).to_owned())
                .collect::<Vec<_>>()];
        for v in &views {
            rows.push(vec![
                v.id.to_string(),
                v.common_name.clone().unwrap_or_default(),
                v.serial.clone(),
                v.not_after.clone(),
                v.validation_status.clone(),
                v.owner.clone().unwrap_or_default(),
                v.ra_profile.map(|u| u.to_string()).unwrap_or_default(),
                v.sans.join(" "),
            ]);
        }
        return Ok(csv_response("expiring", rows));
    }
    Ok(Json(ExpiringView { within_days: report.within_days, count: views.len(), certificates: views }).into_response())
}

/// Counts of the inventory.
#[derive(Debug, Serialize, ToSchema)]
pub struct SummaryView {
    pub total: u64,
    #[schema(value_type = Object)]
    pub by_state: serde_json::Map<String, serde_json::Value>,
    #[schema(value_type = Object)]
    pub by_validation_status: serde_json::Map<String, serde_json::Value>,
    #[schema(value_type = Object)]
    pub by_authority: serde_json::Map<String, serde_json::Value>,
    #[schema(value_type = Object)]
    pub by_key_algorithm: serde_json::Map<String, serde_json::Value>,
    /// `expired`, `0-7d`, `8-30d`, `31-90d`, `91-365d`, `>365d` (issued certificates).
    #[schema(value_type = Object)]
    pub by_expiry: serde_json::Map<String, serde_json::Value>,
    /// Requests that are not certificates yet, by state.
    #[schema(value_type = Object)]
    pub requests_by_state: serde_json::Map<String, serde_json::Value>,
}

/// Parameters of the summary report.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SummaryParams {
    /// `json` (default) or `csv` (`dimension,key,count` rows).
    pub format: Option<String>,
}

/// Counts by state, validation status, authority, key algorithm and expiry bucket, as JSON or CSV.
#[utoipa::path(get, path = "/v1/reports/summary", tag = "lifecycle", params(SummaryParams), security(("bearer" = [])),
    responses((status = 200, body = SummaryView), (status = 400, body = Problem)))]
pub async fn summary(
    auth: Authorized<ReadInventory>,
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiQuery(params): ApiQuery<SummaryParams>,
) -> Result<Response, ApiError> {
    let csv = wants_csv(params.format.as_deref(), &headers)?;
    let s = state.services.summary(&auth.ctx).await?;
    let map = |pairs: &[(String, u64)]| pairs.iter().map(|(k, n)| (k.clone(), serde_json::Value::from(*n))).collect();
    let dims: Vec<(&str, &[(String, u64)])> = vec![
        ("state", &s.counts.by_state),
        ("validation_status", &s.counts.by_validation_status),
        ("authority", &s.by_authority),
        ("key_algorithm", &s.counts.by_key_algorithm),
        ("expiry", &s.counts.by_expiry),
        ("request_state", &s.counts.requests_by_state),
    ];
    if csv {
        let mut rows = vec![vec!["dimension".to_owned(), "key".to_owned(), "count".to_owned()]];
        rows.push(vec!["total".to_owned(), String::new(), s.counts.total.to_string()]);
        for (dim, pairs) in dims {
            for (k, n) in pairs {
                rows.push(vec![dim.to_owned(), k.clone(), n.to_string()]);
            }
        }
        return Ok(csv_response("summary", rows));
    }
    Ok(Json(SummaryView {
        total: s.counts.total,
        by_state: map(&s.counts.by_state),
        by_validation_status: map(&s.counts.by_validation_status),
        by_authority: map(&s.by_authority),
        by_key_algorithm: map(&s.counts.by_key_algorithm),
        by_expiry: map(&s.counts.by_expiry),
        requests_by_state: map(&s.counts.requests_by_state),
    })
    .into_response())
}

/// A notification rule (its webhook secret is never shown again).
#[derive(Debug, Serialize, ToSchema)]
pub struct RuleView {
    pub id: Uuid,
    pub name: String,
    /// `email` or `webhook`.
    pub channel: String,
    pub targets: Vec<String>,
    pub days_before: Vec<u32>,
    pub events: Vec<String>,
    pub ra_profile: Option<Uuid>,
    pub enabled: bool,
    pub created_by: String,
    pub created_at: String,
    /// The generated webhook signing secret: shown once, on creation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

fn rule_view(r: NotificationRule, links: &Links, secret: Option<String>) -> RuleView {
    RuleView {
        id: r.uuid,
        name: r.name,
        channel: r.channel.as_str().to_owned(),
        targets: r.targets,
        days_before: r.days_before,
        events: r.events,
        ra_profile: links.profile(r.ra_profile_id),
        enabled: r.enabled,
        created_by: r.created_by,
        created_at: time(r.created_at),
        secret,
    }
}

/// Body of `POST /v1/notification-rules`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRule {
    pub name: String,
    /// `email` or `webhook`.
    pub channel: String,
    /// E-mail addresses, or the one webhook URL.
    pub targets: Vec<String>,
    /// Webhook signing secret (16–256 characters); generated and shown once when absent.
    pub secret: Option<String>,
    /// Days before expiry to notify at, e.g. `[30, 7, 1]`: each threshold once per certificate.
    #[serde(default)]
    pub days_before: Vec<u32>,
    /// Events to notify on: `certificate.renew_failed`…
    #[serde(default)]
    pub events: Vec<String>,
    /// Only certificates of this RA profile (id or name).
    pub ra_profile: Option<String>,
}

/// Creates a notification rule. Admins only.
#[utoipa::path(post, path = "/v1/notification-rules", tag = "lifecycle", request_body = CreateRule, security(("bearer" = [])),
    responses((status = 201, body = RuleView), (status = 400, body = Problem), (status = 403, body = Problem),
              (status = 409, body = Problem)))]
pub async fn create_rule(
    auth: Authorized<ManageAuthorities>,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreateRule>,
) -> Result<Response, ApiError> {
    let req = certwright_core::services::NewRuleRequest {
        name: body.name,
        channel: body.channel,
        targets: body.targets,
        secret: body.secret,
        days_before: body.days_before,
        events: body.events,
        ra_profile: body.ra_profile,
    };
    let (rule, secret) = state.services.create_notification_rule(&auth.ctx, req).await?;
    let links = links(&state, &auth.ctx).await?;
    Ok((StatusCode::CREATED, Json(rule_view(rule, &links, secret))).into_response())
}

/// Notification rules.
#[utoipa::path(get, path = "/v1/notification-rules", tag = "lifecycle", security(("bearer" = [])),
    responses((status = 200, body = List<RuleView>), (status = 403, body = Problem)))]
pub async fn list_rules(
    auth: Authorized<ManageRequests>,
    State(state): State<AppState>,
) -> Result<Json<List<RuleView>>, ApiError> {
    let rules = state.services.list_notification_rules(&auth.ctx).await?;
    let links = links(&state, &auth.ctx).await?;
    Ok(Json(List::all(rules.into_iter().map(|r| rule_view(r, &links, None)).collect())))
}

/// Deletes a notification rule. Admins only.
#[utoipa::path(delete, path = "/v1/notification-rules/{id}", tag = "lifecycle",
    params(("id" = Uuid, Path, description = "rule id")), security(("bearer" = [])),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn delete_rule(
    auth: Authorized<ManageAuthorities>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    state.services.delete_notification_rule(&auth.ctx, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
