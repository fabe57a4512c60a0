//! Request extractors of the native API: JSON, query and path values whose failures become problem documents,
//! and `Authorized<P>`, which authenticates the bearer token and checks the route's permission before any body
//! is read.

use crate::problem::ApiError;
use crate::state::AppState;
use axum::extract::{FromRequest, FromRequestParts, MatchedPath, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use certwright_core::audit::EventDraft;
use certwright_core::auth::{Caller, Ctx, Permission};
use serde::de::DeserializeOwned;
use std::marker::PhantomData;

/// The request id of the current request, placed in extensions by the request-id middleware.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// A JSON body; the content type must be JSON and unknown fields are refused where the schema is closed.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let axum::Json(v) = axum::Json::<T>::from_request(req, state).await?;
        Ok(Self(v))
    }
}

/// Query-string parameters.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Query(v) = axum::extract::Query::<T>::from_request_parts(parts, state).await?;
        Ok(Self(v))
    }
}

/// Path parameters.
#[derive(Debug)]
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Path(v) = axum::extract::Path::<T>::from_request_parts(parts, state).await?;
        Ok(Self(v))
    }
}

/// What a route demands of its caller.
pub trait Policy: Send + Sync + 'static {
    /// The permission needed; `None` admits any authenticated caller.
    const PERMISSION: Option<Permission>;
}

/// Any valid token.
#[derive(Debug)]
pub struct AnyRole;
impl Policy for AnyRole {
    const PERMISSION: Option<Permission> = None;
}

/// Create and revoke tokens and OAuth clients.
#[derive(Debug)]
pub struct ManageAccess;
impl Policy for ManageAccess {
    const PERMISSION: Option<Permission> = Some(Permission::ManageAccess);
}

/// List tokens and OAuth clients.
#[derive(Debug)]
pub struct ReadAccess;
impl Policy for ReadAccess {
    const PERMISSION: Option<Permission> = Some(Permission::ReadAccess);
}

/// Read the audit log.
#[derive(Debug)]
pub struct ReadAudit;
impl Policy for ReadAudit {
    const PERMISSION: Option<Permission> = Some(Permission::ReadAudit);
}

/// Create authorities and RA profiles.
#[derive(Debug)]
pub struct ManageAuthorities;
impl Policy for ManageAuthorities {
    const PERMISSION: Option<Permission> = Some(Permission::ManageAuthorities);
}

/// Request certificates.
#[derive(Debug)]
pub struct IssueCertificates;
impl Policy for IssueCertificates {
    const PERMISSION: Option<Permission> = Some(Permission::IssueCertificates);
}

/// Decide on approvals and complete pending operations.
#[derive(Debug)]
pub struct ManageRequests;
impl Policy for ManageRequests {
    const PERMISSION: Option<Permission> = Some(Permission::ManageRequests);
}

/// Start and cancel discovery runs.
#[derive(Debug)]
pub struct RunDiscovery;
impl Policy for RunDiscovery {
    const PERMISSION: Option<Permission> = Some(Permission::RunDiscovery);
}

/// Revoke certificates.
#[derive(Debug)]
pub struct RevokeCertificates;
impl Policy for RevokeCertificates {
    const PERMISSION: Option<Permission> = Some(Permission::RevokeCertificates);
}

/// Read authorities, profiles and the inventory.
#[derive(Debug)]
pub struct ReadInventory;
impl Policy for ReadInventory {
    const PERMISSION: Option<Permission> = Some(Permission::ReadInventory);
}

/// An authenticated caller whose role grants `P`; the service context to pass on.
#[derive(Debug)]
pub struct Authorized<P: Policy> {
    pub ctx: Ctx,
    _policy: PhantomData<P>,
}

/// The secret of an `Authorization: Bearer` header, or `None` when the header is absent.
pub fn bearer(parts: &Parts) -> Result<Option<&str>, ApiError> {
    let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let malformed = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "auth.unauthenticated",
            "the Authorization header must be 'Bearer <token>'",
        )
    };
    let value = value.to_str().map_err(|_| malformed())?;
    let (scheme, token) = value.split_once(' ').ok_or_else(malformed)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(malformed());
    }
    Ok(Some(token.trim()))
}

impl<P: Policy> FromRequestParts<AppState> for Authorized<P> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(parts)?.ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "auth.unauthenticated",
                "this endpoint needs an 'Authorization: Bearer <token>' header",
            )
        })?;
        let caller: Caller = state.services.authenticate(token).await?;
        let request_id = parts.extensions.get::<RequestId>().map(|r| r.0.clone());
        let ctx = Ctx { caller, request_id };
        if let Some(p) = P::PERMISSION {
            if let Err(denied) = ctx.caller.require(p) {
                let route = parts
                    .extensions
                    .get::<MatchedPath>()
                    .map_or_else(|| parts.uri.path().chars().take(256).collect(), |m| m.as_str().to_owned());
                let draft = EventDraft::success("access.denied", "route", format!("{} {route}", parts.method))
                    .with_details(serde_json::json!({ "role": ctx.caller.role.as_str(), "needed": p.action() }));
                if let Err(e) = state.services.record_failure(&ctx, draft).await {
                    tracing::error!(error = %e, "could not record a denied request in the audit log");
                }
                return Err(denied.into());
            }
        }
        Ok(Self { ctx, _policy: PhantomData })
    }
}
