//! `/v1/oauth-clients` (registration) and `/v1/oauth/token`, the OAuth2 client-credentials grant (RFC 6749
//! §4.4). The token endpoint speaks OAuth2's own wire format: form-encoded requests, `{"error": …}` bodies.

use super::tokens::RoleName;
use super::{time, List};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Authorized, ManageAccess, ReadAccess, RequestId};
use crate::problem::{ApiError, Problem};
use crate::state::AppState;
use axum::extract::{Form, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use base64::Engine;
use certwright_core::auth::OAuthClient;
use certwright_core::page::Page;
use certwright_core::services::NewOAuthClientRequest;
use certwright_core::CoreError;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// Body of `POST /v1/oauth-clients`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOAuthClient {
    pub name: String,
    pub role: RoleName,
    /// RA profiles the client's tokens are limited to; empty or absent means all.
    #[serde(default)]
    pub ra_profiles: Vec<String>,
    /// Lifetime of the access tokens issued to this client (60 to 86400; server default when absent).
    pub token_ttl_seconds: Option<i64>,
}

/// A registered OAuth2 client, without its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct OAuthClientView {
    /// The `client_id` to present at `/v1/oauth/token`.
    pub id: Uuid,
    pub name: String,
    pub role: RoleName,
    pub ra_profiles: Vec<String>,
    pub token_ttl_seconds: i64,
    pub created_at: String,
}

impl From<OAuthClient> for OAuthClientView {
    fn from(c: OAuthClient) -> Self {
        Self {
            id: c.uuid,
            name: c.name,
            role: c.role.into(),
            ra_profiles: c.ra_profiles,
            token_ttl_seconds: c.token_ttl_seconds,
            created_at: time(c.created_at),
        }
    }
}

/// A new client and its secret, which is not shown again.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedOAuthClient {
    pub client: OAuthClientView,
    pub client_id: Uuid,
    pub client_secret: String,
}

/// `limit` and `offset`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ClientListParams {
    /// Page size, 1 to 1000 (default 50).
    pub limit: Option<u32>,
    /// Items to skip (default 0).
    pub offset: Option<u64>,
}

/// Registers an OAuth2 client for the client-credentials grant.
#[utoipa::path(post, path = "/v1/oauth-clients", tag = "access", request_body = CreateOAuthClient,
    security(("bearer" = [])),
    responses((status = 201, body = CreatedOAuthClient), (status = 400, body = Problem), (status = 401, body = Problem),
               (status = 403, body = Problem), (status = 415, body = Problem), (status = 422, body = Problem)))]
pub async fn create(
    auth: Authorized<ManageAccess>,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreateOAuthClient>,
) -> Result<(StatusCode, Json<CreatedOAuthClient>), ApiError> {
    let (client, secret) = state
        .services
        .create_oauth_client(
            &auth.ctx,
            NewOAuthClientRequest {
                name: body.name,
                role: body.role.into(),
                ra_profiles: body.ra_profiles,
                token_ttl_seconds: body.token_ttl_seconds,
            },
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedOAuthClient {
            client_id: client.uuid,
            client: client.into(),
            client_secret: secret.danger_expose().to_owned(),
        }),
    ))
}

/// Lists OAuth2 clients.
#[utoipa::path(get, path = "/v1/oauth-clients", tag = "access", params(ClientListParams), security(("bearer" = [])),
    responses((status = 200, body = List<OAuthClientView>), (status = 400, body = Problem),
               (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn list(
    auth: Authorized<ReadAccess>,
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ClientListParams>,
) -> Result<Json<List<OAuthClientView>>, ApiError> {
    let page = Page::new(q.limit, q.offset)?;
    let listed = state.services.list_oauth_clients(&auth.ctx, page).await?;
    Ok(Json(List::new(listed, page, OAuthClientView::from)))
}

/// Deletes an OAuth2 client and revokes every token it holds.
#[utoipa::path(delete, path = "/v1/oauth-clients/{id}", tag = "access",
    params(("id" = Uuid, Path, description = "client id")), security(("bearer" = [])),
    responses((status = 200, body = OAuthClientView), (status = 400, body = Problem), (status = 401, body = Problem),
               (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn delete(
    auth: Authorized<ManageAccess>,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<OAuthClientView>, ApiError> {
    Ok(Json(state.services.delete_oauth_client(&auth.ctx, id).await?.into()))
}

/// Form body of `POST /v1/oauth/token`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct TokenRequest {
    /// Must be `client_credentials`.
    pub grant_type: Option<String>,
    /// The client id, unless sent with HTTP Basic authentication.
    pub client_id: Option<String>,
    /// The client secret, unless sent with HTTP Basic authentication.
    pub client_secret: Option<String>,
    /// Accepted and ignored: a client's role fixes what its tokens may do.
    pub scope: Option<String>,
}

/// A successful token response (RFC 6749 §5.1).
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the token expires.
    pub expires_in: i64,
}

/// An error response (RFC 6749 §5.2).
#[derive(Debug, Serialize, ToSchema)]
pub struct OAuthErrorBody {
    /// `invalid_request`, `invalid_client` or `unsupported_grant_type`.
    pub error: &'static str,
    pub error_description: String,
}

/// An OAuth2 error, rendered in the RFC 6749 format.
#[derive(Debug)]
pub struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
    basic_challenge: bool,
}

impl OAuthError {
    fn invalid_request(description: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            error: "invalid_request",
            description: description.into(),
            basic_challenge: false,
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, Json(OAuthErrorBody { error: self.error, error_description: self.description }))
            .into_response();
        let h = resp.headers_mut();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if self.basic_challenge {
            h.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"certwright\""));
        }
        resp
    }
}

fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, OAuthError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let bad =
        || OAuthError::invalid_request("the Authorization header must be 'Basic base64(client_id:client_secret)'");
    let value = value.to_str().map_err(|_| bad())?;
    let (scheme, encoded) = value.split_once(' ').ok_or_else(bad)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(bad());
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).map_err(|_| bad())?;
    let text = String::from_utf8(decoded).map_err(|_| bad())?;
    let (id, secret) = text.split_once(':').ok_or_else(bad)?;
    // RFC 6749 §2.3.1: both parts are form-urlencoded before base64.
    Ok(Some((form_unescape(id).ok_or_else(bad)?, form_unescape(secret).ok_or_else(bad)?)))
}

/// Decodes one `application/x-www-form-urlencoded` component (`+` and `%XX`).
fn form_unescape(s: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(s.len());
    let mut it = s.bytes();
    while let Some(b) = it.next() {
        match b {
            b'+' => bytes.push(b' '),
            b'%' => {
                let hi = char::from(it.next()?).to_digit(16)?;
                let lo = char::from(it.next()?).to_digit(16)?;
                bytes.push(u8::try_from(hi * 16 + lo).ok()?);
            }
            b => bytes.push(b),
        }
    }
    String::from_utf8(bytes).ok()
}

/// Issues an access token to an OAuth2 client (client-credentials grant, RFC 6749 §4.4). Client authentication
/// by HTTP Basic or by `client_id`/`client_secret` in the form body.
#[utoipa::path(post, path = "/v1/oauth/token", tag = "access",
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = TokenResponse), (status = 400, body = OAuthErrorBody),
               (status = 401, body = OAuthErrorBody)))]
pub async fn token(
    State(state): State<AppState>,
    request_id: Option<Extension<RequestId>>,
    headers: HeaderMap,
    form: Result<Form<TokenRequest>, axum::extract::rejection::FormRejection>,
) -> Result<Response, OAuthError> {
    let Form(form) = form.map_err(|e| OAuthError::invalid_request(e.body_text()))?;
    match form.grant_type.as_deref() {
        Some("client_credentials") => {}
        Some(other) => {
            return Err(OAuthError {
                status: StatusCode::BAD_REQUEST,
                error: "unsupported_grant_type",
                description: format!("grant_type '{other}' is not supported; use client_credentials"),
                basic_challenge: false,
            })
        }
        None => return Err(OAuthError::invalid_request("grant_type is required")),
    }
    let basic = basic_credentials(&headers)?;
    let used_basic = basic.is_some();
    let (id, secret) = match (basic, form.client_id, form.client_secret) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            return Err(OAuthError::invalid_request(
                "send client credentials either with HTTP Basic or in the body, not both",
            ))
        }
        (Some(pair), None, None) => pair,
        (None, Some(id), Some(secret)) => (id, secret),
        _ => return Err(OAuthError::invalid_request("client_id and client_secret are required")),
    };
    let issued = state.services.oauth_client_credentials(&id, &secret, request_id.map(|r| r.0 .0)).await.map_err(
        |e| match e {
            CoreError::Unauthenticated(msg) => OAuthError {
                status: StatusCode::UNAUTHORIZED,
                error: "invalid_client",
                description: msg.to_owned(),
                basic_challenge: used_basic,
            },
            other => OAuthError {
                status: ApiError::from(other).status,
                error: "server_error",
                description: "the token could not be issued; retry shortly".to_owned(),
                basic_challenge: false,
            },
        },
    )?;
    let mut resp = Json(TokenResponse {
        access_token: issued.secret.danger_expose().to_owned(),
        token_type: "Bearer",
        expires_in: issued.expires_in,
    })
    .into_response();
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    Ok(resp)
}
