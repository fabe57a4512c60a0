//! `/v1/discovery/runs`: scans of TLS endpoints and of the server's files that bring the certificates they find
//! into the inventory, and `/v1/certificates/{id}/locations`: where a certificate was seen.

use super::{time, List};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Authorized, ReadInventory, RunDiscovery};
use crate::problem::{ApiError, Problem};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use certwright_core::discovery::{DiscoveryRun, FileSpec, RunCounts, RunResult, RunSpec, Sighting, TlsSpec};
use certwright_core::page::Page;
use certwright_core::services::StartDiscovery;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use zeroize::Zeroizing;

/// Body of `POST /v1/discovery/runs`: `kind` `tls` with `targets`, or `files` with `paths`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartRun {
    /// `tls` or `files`.
    pub kind: String,
    /// TLS: `host[:ports]`, `address[:ports]`, `cidr[:ports]`, `[v6][/prefix][:ports]`; ports `443`,
    /// `443,8443`, `8000-8100` (443 when none). Every address must lie in `discovery_allowed_ranges`.
    #[serde(default)]
    pub targets: Vec<String>,
    /// TLS: server names (SNI) sent to every address target, each endpoint once per name.
    #[serde(default)]
    pub server_names: Vec<String>,
    /// TLS: endpoints worked on at once (1–4096; the server's `discovery_concurrency` when absent).
    pub concurrency: Option<u32>,
    /// TLS: connections started per second at most.
    pub rate_per_second: Option<u32>,
    /// TLS: connect timeout in milliseconds (10–60000, default 3000).
    pub connect_timeout_ms: Option<u32>,
    /// TLS: handshake timeout in milliseconds (10–60000, default 5000).
    pub handshake_timeout_ms: Option<u32>,
    /// Files: absolute directories or files inside `discovery_allowed_paths`.
    #[serde(default)]
    pub paths: Vec<String>,
    /// Files: globs a file must match (`*.pem`, `**/ssl/**`); every file when empty.
    #[serde(default)]
    pub include: Vec<String>,
    /// Files: globs of files and directories to leave out.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Files: deepest directory level walked (default 64).
    pub max_depth: Option<u32>,
    /// Files: follow symbolic links (loops are detected).
    #[serde(default)]
    pub follow_symlinks: bool,
    /// Files: passwords tried on PKCS#12 files and encrypted keys; kept sealed with the run, never returned.
    #[serde(default)]
    pub passwords: Vec<String>,
    /// Files: also import the private keys found with certificates (sealed, exportable).
    #[serde(default)]
    pub import_private_keys: bool,
    /// Run again this many seconds after each start (at least 60).
    pub repeat_every_seconds: Option<i64>,
}

impl std::fmt::Debug for StartRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StartRun")
            .field("kind", &self.kind)
            .field("passwords", &self.passwords.len())
            .finish_non_exhaustive()
    }
}

fn refuse_foreign(kind: &str, fields: &[(&str, bool)]) -> Result<(), ApiError> {
    match fields.iter().find(|(_, set)| *set) {
        Some((name, _)) => Err(certwright_core::CoreError::invalid(
            "discovery.invalid_spec",
            format!("{name} does not apply to {kind} runs"),
        )
        .into()),
        None => Ok(()),
    }
}

impl StartRun {
    fn into_request(self) -> Result<StartDiscovery, ApiError> {
        let spec = match self.kind.as_str() {
            "tls" => {
                refuse_foreign(
                    "tls",
                    &[
                        ("paths", !self.paths.is_empty()),
                        ("include", !self.include.is_empty()),
                        ("exclude", !self.exclude.is_empty()),
                        ("max_depth", self.max_depth.is_some()),
                        ("follow_symlinks", self.follow_symlinks),
                        ("passwords", !self.passwords.is_empty()),
                        ("import_private_keys", self.import_private_keys),
                    ],
                )?;
                RunSpec::Tls(TlsSpec {
                    targets: self.targets,
                    server_names: self.server_names,
                    concurrency: self.concurrency,
                    rate_per_second: self.rate_per_second,
                    connect_timeout_ms: self.connect_timeout_ms,
                    handshake_timeout_ms: self.handshake_timeout_ms,
                })
            }
            "files" => {
                refuse_foreign(
                    "files",
                    &[
                        ("targets", !self.targets.is_empty()),
                        ("server_names", !self.server_names.is_empty()),
                        ("concurrency", self.concurrency.is_some()),
                        ("rate_per_second", self.rate_per_second.is_some()),
                        ("connect_timeout_ms", self.connect_timeout_ms.is_some()),
                        ("handshake_timeout_ms", self.handshake_timeout_ms.is_some()),
                    ],
                )?;
                RunSpec::Files(FileSpec {
                    paths: self.paths,
                    include: self.include,
                    exclude: self.exclude,
                    max_depth: self.max_depth,
                    follow_symlinks: self.follow_symlinks,
                    import_private_keys: self.import_private_keys,
                })
            }
            other => {
                return Err(certwright_core::CoreError::invalid(
                    "discovery.invalid_spec",
                    format!("kind must be tls or files, got '{other}'"),
                )
                .into())
            }
        };
        let passwords = self.passwords.into_iter().map(Zeroizing::new).collect();
        Ok(StartDiscovery { spec, passwords, repeat_every_seconds: self.repeat_every_seconds })
    }
}

/// A discovery run.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunView {
    pub id: Uuid,
    /// `tls` or `files`.
    pub kind: &'static str,
    /// What the run scans (passwords are never shown).
    #[schema(value_type = Object)]
    pub spec: serde_json::Value,
    /// `queued`, `running`, `succeeded`, `failed` or `cancelled`.
    pub state: &'static str,
    pub progress: Progress,
    /// Why some endpoints or files gave nothing (the first 50).
    pub problems: Vec<String>,
    pub error: Option<String>,
    /// The run stopped at `discovery_max_files` before covering everything; nothing was marked gone.
    pub stopped_at_limit: bool,
    pub repeat_every_seconds: Option<i64>,
    /// The first run of a repeated series.
    pub series: Uuid,
    pub created_by: String,
    pub created_at: String,
    /// When it runs (or ran).
    pub run_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
}

/// How far a run got.
#[derive(Debug, Serialize, ToSchema)]
pub struct Progress {
    /// Endpoints the run covers (TLS); 0 for files, whose number is known only at the end.
    pub planned: u64,
    /// Endpoints or files looked at so far.
    pub examined: u64,
    /// Certificates seen.
    pub found: u64,
    /// Of those, certificates the inventory did not hold before.
    pub new_certificates: u64,
    /// Locations seen by earlier runs, covered by this one and not seen now.
    pub gone: u64,
    /// `examined` out of `planned`, in percent (TLS).
    pub percent: Option<f64>,
}

impl From<RunCounts> for Progress {
    fn from(c: RunCounts) -> Self {
        let percent = (c.planned > 0).then(|| ((c.examined as f64 / c.planned as f64) * 1000.0).round() / 10.0);
        Self {
            planned: c.planned,
            examined: c.examined,
            found: c.found,
            new_certificates: c.new_certificates,
            gone: c.gone,
            percent,
        }
    }
}

pub(crate) fn run_view(r: DiscoveryRun) -> RunView {
    let mut spec = serde_json::to_value(&r.spec).unwrap_or_default();
    if let Some(obj) = spec.as_object_mut() {
        obj.remove("kind");
    }
    RunView {
        id: r.uuid,
        kind: r.spec.kind(),
        spec,
        state: r.state.as_str(),
        progress: r.counts.into(),
        problems: r.problems,
        error: r.error,
        stopped_at_limit: r.stopped_at_limit,
        repeat_every_seconds: r.repeat_every_seconds,
        series: r.series,
        created_by: r.created_by,
        created_at: time(r.created_at),
        run_at: time(r.run_at),
        started_at: r.started_at.map(time),
        finished_at: r.finished_at.map(time),
    }
}

/// Where a certificate was seen.
#[derive(Debug, Serialize, ToSchema)]
pub struct SightingView {
    pub certificate_id: Uuid,
    /// `tls://[server name@]address:port` or `file://path[#entry]`.
    pub location: String,
    /// `tls` or `file`.
    pub kind: &'static str,
    /// The location's parts: `ip`, `port`, `server_name` or `path`, `entry`.
    #[schema(value_type = Object)]
    pub r#where: serde_json::Value,
    /// As last seen: `protocol`, `cipher`, `legacy_handshake` (TLS); `format`, `private_key` (files); `chain`
    /// (SHA-256 fingerprints, the certificate first); `trust` (`status`, `trusted`, `problems`) against this
    /// server's roots and `discovery_trust_roots_file`; `hostname_match` (TLS).
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    pub first_seen: String,
    pub last_seen: String,
    /// When a run covering the location no longer saw the certificate there.
    pub gone_at: Option<String>,
}

fn sighting_view(s: Sighting) -> SightingView {
    SightingView {
        certificate_id: s.certificate_uuid,
        location: s.location.key(),
        kind: s.location.kind(),
        r#where: serde_json::to_value(&s.location).unwrap_or_default(),
        details: s.details,
        first_seen: time(s.first_seen),
        last_seen: time(s.last_seen),
        gone_at: s.gone_at.map(time),
    }
}

/// One result of a run.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResultView {
    #[serde(flatten)]
    pub sighting: SightingView,
    /// The run added the certificate to the inventory.
    pub new_certificate: bool,
}

fn result_view(r: RunResult) -> ResultView {
    ResultView { sighting: sighting_view(r.sighting), new_certificate: r.new_certificate }
}

/// Starts a discovery run (queued as a job; poll it for progress).
#[utoipa::path(post, path = "/v1/discovery/runs", tag = "discovery", request_body = StartRun,
    security(("bearer" = [])),
    responses((status = 202, body = RunView),
               (status = 400, body = Problem, description = "a bad target, spec or glob (`discovery.invalid_target`, \
                `discovery.invalid_spec`), a target outside the allowed ranges or paths (`discovery.not_allowed`), \
                too many endpoints (`discovery.too_many_endpoints`), a name that does not resolve \
                (`discovery.unresolvable`)"),
               (status = 401, body = Problem), (status = 403, body = Problem), (status = 415, body = Problem),
               (status = 422, body = Problem)))]
pub async fn start_run(
    auth: Authorized<RunDiscovery>,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<StartRun>,
) -> Result<(StatusCode, Json<RunView>), ApiError> {
    let run = state.services.start_discovery(&auth.ctx, body.into_request()?).await?;
    Ok((StatusCode::ACCEPTED, Json(run_view(run))))
}

/// Paging of the run lists.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RunPage {
    pub limit: Option<u32>,
    pub offset: Option<u64>,
}

/// Discovery runs, newest first.
#[utoipa::path(get, path = "/v1/discovery/runs", tag = "discovery", params(RunPage), security(("bearer" = [])),
    responses((status = 200, body = List<RunView>), (status = 400, body = Problem), (status = 401, body = Problem)))]
pub async fn list_runs(
    auth: Authorized<ReadInventory>,
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<RunPage>,
) -> Result<Json<List<RunView>>, ApiError> {
    let page = Page::new(params.limit, params.offset)?;
    let listed = state.services.list_discovery_runs(&auth.ctx, page).await?;
    Ok(Json(List::new(listed, page, run_view)))
}

/// One run with its progress.
#[utoipa::path(get, path = "/v1/discovery/runs/{id}", tag = "discovery",
    params(("id" = Uuid, Path, description = "run id")), security(("bearer" = [])),
    responses((status = 200, body = RunView), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn get_run(
    auth: Authorized<ReadInventory>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<RunView>, ApiError> {
    Ok(Json(run_view(state.services.discovery_run(&auth.ctx, id).await?)))
}

/// Cancels a queued run (ending its repetition) or stops a running one.
#[utoipa::path(delete, path = "/v1/discovery/runs/{id}", tag = "discovery",
    params(("id" = Uuid, Path, description = "run id")), security(("bearer" = [])),
    responses((status = 200, body = RunView), (status = 401, body = Problem), (status = 403, body = Problem),
               (status = 404, body = Problem), (status = 409, body = Problem, description = "the run has ended")))]
pub async fn cancel_run(
    auth: Authorized<RunDiscovery>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<RunView>, ApiError> {
    Ok(Json(run_view(state.services.cancel_discovery(&auth.ctx, id).await?)))
}

/// Which results of a run to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ResultParams {
    /// `true`: the locations this run found gone instead of those it saw.
    #[serde(default)]
    pub gone: bool,
    pub limit: Option<u32>,
    pub offset: Option<u64>,
}

/// What a run saw (or found gone), in the order it saw it.
#[utoipa::path(get, path = "/v1/discovery/runs/{id}/results", tag = "discovery",
    params(("id" = Uuid, Path, description = "run id"), ResultParams), security(("bearer" = [])),
    responses((status = 200, body = List<ResultView>), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub async fn run_results(
    auth: Authorized<ReadInventory>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(params): ApiQuery<ResultParams>,
) -> Result<Json<List<ResultView>>, ApiError> {
    let page = Page::new(params.limit, params.offset)?;
    let listed = state.services.discovery_results(&auth.ctx, id, params.gone, page).await?;
    Ok(Json(List::new(listed, page, result_view)))
}

/// Where a certificate was seen by discovery runs, most recently seen first.
#[utoipa::path(get, path = "/v1/certificates/{id}/locations", tag = "discovery",
    params(("id" = Uuid, Path, description = "certificate id")), security(("bearer" = [])),
    responses((status = 200, body = List<SightingView>), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn certificate_locations(
    auth: Authorized<ReadInventory>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<List<SightingView>>, ApiError> {
    let sightings = state.services.certificate_locations(&auth.ctx, id).await?;
    Ok(Json(List::all(sightings.into_iter().map(sighting_view).collect())))
}
