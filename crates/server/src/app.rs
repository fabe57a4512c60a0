//! Router assembly, cross-cutting middleware (request ids, body limit, access log) and the listeners with
//! graceful shutdown.

use crate::api::{authorities, certificates, events, health, lifecycle, oauth, revocation, tokens};
use crate::client_cert::PeerInfo;
use crate::config::Config;
use crate::extract::RequestId;
use crate::openapi::ApiDoc;
use crate::problem::{self, REQUEST_ID};
use crate::state::AppState;
use axum::extract::connect_info::Connected;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::serve::IncomingStream;
use axum::Router;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;
use utoipa::OpenApi;
use utoipa_axum::{router::OpenApiRouter, routes};
use utoipa_swagger_ui::SwaggerUi;

/// Header carrying the request id, in both directions.
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Routes every listener serves without authentication: health probes, CA certificates, CRLs and the OCSP
/// responder.
fn public_routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/ca/{file}", get(authorities::ca_certificate))
        .route("/crl/{file}", get(revocation::crl_file))
        .route("/crl/{authority}/{file}", get(revocation::crl_partition))
        .route("/ocsp", post(revocation::ocsp_post))
        .route("/ocsp/{*request}", get(revocation::ocsp_get))
        .route("/.well-known/acme-challenge/{token}", get(crate::upstream::http01))
}

/// The native API and its documentation. Routes are registered from the handlers' OpenAPI annotations, so
/// a route cannot exist undocumented, nor a documented path be missing.
fn api_routes() -> Router<AppState> {
    let (router, api) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(tokens::me))
        .routes(routes!(tokens::create, tokens::list))
        .routes(routes!(tokens::revoke))
        .routes(routes!(oauth::create, oauth::list))
        .routes(routes!(oauth::delete))
        .routes(routes!(oauth::token))
        .routes(routes!(crate::api::oauth1::create, crate::api::oauth1::list))
        .routes(routes!(crate::api::oauth1::revoke))
        .routes(routes!(events::list))
        .routes(routes!(authorities::list, authorities::create))
        .routes(routes!(authorities::get))
        .routes(routes!(authorities::list_profiles, authorities::create_profile))
        .routes(routes!(authorities::get_profile, authorities::update_profile, authorities::delete_profile))
        .routes(routes!(certificates::issue, certificates::list))
        .routes(routes!(certificates::get, certificates::update))
        .routes(routes!(certificates::import))
        .routes(routes!(certificates::export))
        .routes(routes!(certificates::pkcs12))
        .routes(routes!(revocation::revoke))
        .routes(routes!(revocation::release_hold))
        .routes(routes!(revocation::revoke_by_serial))
        .routes(routes!(revocation::revoke_authority))
        .routes(routes!(revocation::list_crls, revocation::generate_crls))
        .routes(routes!(lifecycle::list_requests))
        .routes(routes!(lifecycle::get_request))
        .routes(routes!(lifecycle::request_csr))
        .routes(routes!(lifecycle::submit_request))
        .routes(routes!(lifecycle::finalize))
        .routes(routes!(lifecycle::cancel))
        .routes(routes!(lifecycle::confirm_revoke))
        .routes(routes!(lifecycle::renew))
        .routes(routes!(lifecycle::rekey))
        .routes(routes!(lifecycle::list_approvals))
        .routes(routes!(lifecycle::get_approval))
        .routes(routes!(lifecycle::approve))
        .routes(routes!(lifecycle::reject))
        .routes(routes!(lifecycle::list_jobs))
        .routes(routes!(lifecycle::get_job))
        .routes(routes!(lifecycle::expiry_scan))
        .routes(routes!(lifecycle::expiring))
        .routes(routes!(lifecycle::summary))
        .routes(routes!(lifecycle::create_rule, lifecycle::list_rules))
        .routes(routes!(lifecycle::delete_rule))
        .routes(routes!(crate::api::keystore::create_component, crate::api::keystore::list_components))
        .routes(routes!(crate::api::acme::create_eab_key, crate::api::acme::list_eab_keys))
        .routes(routes!(crate::api::acme::delete_eab_key))
        .routes(routes!(crate::api::discovery::start_run, crate::api::discovery::list_runs))
        .routes(routes!(crate::api::discovery::get_run, crate::api::discovery::cancel_run))
        .routes(routes!(crate::api::discovery::run_results))
        .routes(routes!(crate::api::discovery::certificate_locations))
        .routes(routes!(crate::api::deploy::create_location, crate::api::deploy::list_locations))
        .routes(routes!(crate::api::deploy::get_location, crate::api::deploy::delete_location))
        .routes(routes!(crate::api::deploy::queue_deployment, crate::api::deploy::location_deployments))
        .routes(routes!(crate::api::deploy::certificate_deployments))
        .routes(routes!(crate::api::deploy::get_deployment))
        .routes(routes!(crate::api::organizations::create, crate::api::organizations::list))
        .split_for_parts();
    router.merge(SwaggerUi::new("/docs").url("/v1/openapi.json", api))
}

/// The application. `with_api` adds the native API, the dialects and ACME to the public routes; `secure` says
/// whether the listener speaks TLS (ACME writes absolute URLs with the matching scheme).
pub fn router(state: AppState, config: &Config, with_api: bool, secure: bool) -> Router {
    let mut routes = public_routes();
    if with_api {
        routes = routes
            .merge(api_routes())
            .merge(crate::dialects::router(&state))
            .merge(crate::protocols::acme::router(state.clone()));
    }
    let scheme = crate::protocols::acme::Scheme(if secure { "https" } else { "http" });
    routes
        .fallback(problem::not_found)
        .method_not_allowed_fallback(problem::method_not_allowed)
        .layer(DefaultBodyLimit::max(config.body_limit_bytes))
        .layer(middleware::from_fn(request_context))
        .layer(axum::Extension(scheme))
        .with_state(state)
}

fn acceptable_request_id(v: &HeaderValue) -> Option<String> {
    let s = v.to_str().ok()?;
    (!s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_graphic())).then(|| s.to_owned())
}

/// Gives every request an id (the caller's `x-request-id` when sane, else a new uuid), echoes it in the
/// response, makes it available to error bodies and logs one access line.
async fn request_context(mut req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(acceptable_request_id)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    req.extensions_mut().insert(RequestId(id.clone()));
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let started = std::time::Instant::now();
    let mut resp = REQUEST_ID.scope(id.clone(), next.run(req)).await;
    tracing::info!(
        request_id = %id,
        %method,
        path = %path,
        status = resp.status().as_u16(),
        micros = started.elapsed().as_micros() as u64,
        "request"
    );
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert(X_REQUEST_ID.clone(), v);
    }
    resp
}

/// A server whose listeners are bound and serving.
#[derive(Debug)]
pub struct Running {
    /// The plain-HTTP listener's address (useful with port 0).
    pub http_addr: SocketAddr,
    /// The HTTPS listener's address, when TLS is configured.
    pub https_addr: Option<SocketAddr>,
    shutdown: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Running {
    /// Stops accepting connections, lets in-flight requests finish, and waits.
    pub async fn shutdown(self) -> std::io::Result<()> {
        let _ = self.shutdown.send(true);
        self.wait().await
    }

    /// Waits until every listener has stopped (they do not, unless shut down).
    pub async fn wait(self) -> std::io::Result<()> {
        for task in self.tasks {
            task.await.map_err(std::io::Error::other)??;
        }
        Ok(())
    }

    /// A handle that stops the server when sent `true`.
    pub fn shutdown_handle(&self) -> tokio::sync::watch::Sender<bool> {
        self.shutdown.clone()
    }
}

/// Serves `app` on `listener` until `stop` turns true, then drains in-flight requests for up to `grace`.
async fn serve_until<L>(
    listener: L,
    app: Router,
    mut stop: tokio::sync::watch::Receiver<bool>,
    grace: Duration,
) -> std::io::Result<()>
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
    PeerInfo: for<'a> Connected<IncomingStream<'a, L>>,
{
    let mut stop_serving = stop.clone();
    let app = app.into_make_service_with_connect_info::<PeerInfo>();
    let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
        let _ = stop_serving.wait_for(|s| *s).await;
    });
    let drain_deadline = async move {
        let _ = stop.wait_for(|s| *s).await;
        tokio::time::sleep(grace).await;
    };
    tokio::select! {
        r = serve => r,
        _ = drain_deadline => {
            tracing::warn!("in-flight requests did not finish within the grace period; closing");
            Ok(())
        }
    }
}

/// Binds the listeners and starts serving in the background: HTTPS (every API) when `tls` is given, and plain
/// HTTP (public routes, plus every API with `insecure_http`).
pub async fn start(state: AppState, config: &Config, tls: Option<crate::tls::TlsSetup>) -> std::io::Result<Running> {
    let http = TcpListener::bind(config.http_listen).await?;
    let http_addr = http.local_addr()?;
    let client_auth = tls.as_ref().and_then(|t| t.client_auth.clone());
    let https = match tls {
        Some(tls) => Some(crate::tls::TlsListener::new(TcpListener::bind(config.listen).await?, tls.server)?),
        None => None,
    };
    // Faces that accept client certificates find the trusted CAs here (and the peer in `ConnectInfo`).
    let with_client_auth = |router: Router| match &client_auth {
        Some(auth) => router.layer(axum::Extension(auth.clone())),
        None => router,
    };
    let https_addr = https.as_ref().map(axum::serve::Listener::local_addr).transpose()?;
    if config.insecure_http {
        tracing::warn!(%http_addr, "serving every API over plain HTTP (--insecure-http): use only on trusted networks");
    }
    let (tx, rx) = tokio::sync::watch::channel(false);
    let grace = Duration::from_secs(config.shutdown_grace_seconds);
    let mut tasks = vec![tokio::spawn(serve_until(
        http,
        with_client_auth(router(state.clone(), config, config.insecure_http, false)),
        rx.clone(),
        grace,
    ))];
    // CRLs signed ahead of time, on a schedule and after revocations.
    let services = state.services.clone();
    let mut stop = rx.clone();
    tasks.push(tokio::spawn(async move {
        services.keep_crls_fresh(async move { while stop.changed().await.is_ok() && !*stop.borrow() {} }).await;
        Ok(())
    }));
    let services = state.services.clone();
    let mut stop = rx.clone();
    tasks.push(tokio::spawn(async move {
        services.run_jobs(async move { while stop.changed().await.is_ok() && !*stop.borrow() {} }).await;
        Ok(())
    }));
    if let Some(https) = https {
        tasks.push(tokio::spawn(serve_until(https, with_client_auth(router(state, config, true, true)), rx, grace)));
    }
    tracing::info!(%http_addr, https_addr = ?https_addr, "listening");
    Ok(Running { http_addr, https_addr, shutdown: tx, tasks })
}

/// Registers for SIGTERM and SIGINT now (so a signal arriving at any later moment is caught) and returns a
/// future that resolves when one arrives.
pub fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()> + Send> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
        tracing::info!("shutdown requested; finishing in-flight requests");
    })
}
