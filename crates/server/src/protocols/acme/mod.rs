//! The ACME face (RFC 8555, with RFC 8737 tls-alpn-01, RFC 8738 IP identifiers, RFC 9773 renewal information
//! and the profiles draft): one directory per ACME-enabled RA profile under `/acme/{profile}/`. This module owns
//! the URLs, the headers every answer carries (`Replay-Nonce`, `Link: rel="index"`) and the directory; `jws`
//! reads requests, `problem` writes errors, `resources` renders accounts, orders, authorizations and challenges.

mod jws;
mod openapi;
mod problem;
mod resources;

use crate::state::AppState;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use certwright_core::acme::AcmePolicy;
use problem::AcmeError;
use serde_json::{json, Map, Value};

/// The scheme of the listener a request came in on, set by the router.
#[derive(Debug, Clone, Copy)]
pub struct Scheme(pub &'static str);

/// The absolute URL prefix clients reach this server at (scheme and `Host`).
#[derive(Debug, Clone)]
pub(crate) struct Base(String);

impl Base {
    fn of(scheme: Scheme, headers: &HeaderMap) -> Result<Self, AcmeError> {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic()))
            .ok_or_else(|| AcmeError::new("malformed", "the request has no usable Host header"))?;
        Ok(Base(format!("{}://{host}", scheme.0)))
    }

    /// `{base}/acme/{profile}/{path}`.
    pub fn url(&self, profile: &str, path: &str) -> String {
        format!("{}/acme/{profile}/{path}", self.0)
    }
}

/// Every ACME route.
pub fn router(state: AppState) -> Router<AppState> {
    let documented = Router::new().route("/acme/openapi.json", get(openapi::document));
    Router::new()
        .route("/acme/{profile}/directory", get(directory))
        .route("/acme/{profile}/new-nonce", get(new_nonce).head(new_nonce))
        .route("/acme/{profile}/new-account", post(resources::new_account))
        .route("/acme/{profile}/acct/{id}", post(resources::account))
        .route("/acme/{profile}/acct/{id}/orders", post(resources::orders))
        .route("/acme/{profile}/key-change", post(resources::key_change))
        .route("/acme/{profile}/new-order", post(resources::new_order))
        .route("/acme/{profile}/order/{id}", post(resources::order))
        .route("/acme/{profile}/order/{id}/finalize", post(resources::finalize))
        .route("/acme/{profile}/authz/{id}", post(resources::authorization))
        .route("/acme/{profile}/chall/{id}/{kind}", post(resources::challenge))
        .route("/acme/{profile}/cert/{id}", post(resources::certificate))
        .route("/acme/{profile}/cert/{id}/{alternate}", post(resources::certificate_alternate))
        .route("/acme/{profile}/revoke-cert", post(resources::revoke))
        .route("/acme/{profile}/renewal-info/{cert_id}", get(resources::renewal_info))
        .route_layer(middleware::from_fn_with_state(state, headers))
        .merge(documented)
}

/// Adds a fresh `Replay-Nonce` and the directory's `Link: rel="index"` to every answer, errors included.
async fn headers(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let scheme = req.extensions().get::<Scheme>().copied().unwrap_or(Scheme("https"));
    let index = Base::of(scheme, req.headers()).ok().and_then(|base| {
        let profile = req.uri().path().strip_prefix("/acme/")?.split('/').next()?.to_owned();
        Some(base.url(&profile, "directory"))
    });
    let is_directory = req.uri().path().ends_with("/directory");
    let mut response = next.run(req).await;
    let headers = response.headers_mut();
    if !is_directory {
        match state.services.acme_new_nonce().await {
            Ok(nonce) => {
                if let Ok(v) = HeaderValue::from_str(&nonce) {
                    headers.insert("replay-nonce", v);
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot make an ACME nonce"),
        }
        if let Some(v) = index.and_then(|i| HeaderValue::from_str(&format!("<{i}>;rel=\"index\"")).ok()) {
            headers.append(header::LINK, v);
        }
    }
    response
}

/// The directory (RFC 8555 §7.1.1) with its `meta`.
async fn directory(
    State(state): State<AppState>,
    axum::Extension(scheme): axum::Extension<Scheme>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response, AcmeError> {
    let base = Base::of(scheme, &headers)?;
    let profile = state.services.acme_profile(&name).await?;
    let policy: &AcmePolicy = &profile.policy.acme;
    let mut meta = Map::new();
    if let Some(tos) = &policy.terms_of_service {
        meta.insert("termsOfService".into(), tos.clone().into());
    }
    if let Some(website) = &policy.website {
        meta.insert("website".into(), website.clone().into());
    }
    if !policy.caa_identities.is_empty() {
        meta.insert("caaIdentities".into(), policy.caa_identities.clone().into());
    }
    meta.insert("externalAccountRequired".into(), policy.external_account_required.into());
    if !policy.profiles.is_empty() {
        let profiles: Map<String, Value> =
            policy.profiles.iter().map(|(name, p)| (name.clone(), Value::from(p.description.clone()))).collect();
        meta.insert("profiles".into(), Value::Object(profiles));
    }
    let url = |path: &str| base.url(&name, path);
    let body = json!({
        "newNonce": url("new-nonce"),
        "newAccount": url("new-account"),
        "newOrder": url("new-order"),
        "revokeCert": url("revoke-cert"),
        "keyChange": url("key-change"),
        "renewalInfo": url("renewal-info"),
        "meta": meta,
    });
    Ok(axum::Json(body).into_response())
}

/// newNonce (RFC 8555 §7.2): 200 to HEAD, 204 to GET, never cached.
async fn new_nonce(
    State(state): State<AppState>,
    Path(name): Path<String>,
    method: Method,
) -> Result<Response, AcmeError> {
    state.services.acme_profile(&name).await?;
    let status = if method == Method::HEAD { StatusCode::OK } else { StatusCode::NO_CONTENT };
    let mut response = status.into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
