//! The senhasegura Certificate Manager face (A2A API): certificate requests (create, change, list, sign), the
//! certificate inventory with its filters, revocation, upload and download, under `/iso/…` with the Portuguese
//! aliases and the newer `/api/certificate/…` and `/api/v1/certificates…` generations sharing one implementation.
//! Authentication: `Authorization: Bearer` (an API token, or an access token from `POST /iso/oauth2/token`), an
//! OAuth 1.0a signature (RFC 5849, HMAC-SHA1 or HMAC-SHA256), or the legacy
//! `?oauth_consumer_key=<token id>&oauth_token=<token>` query pair. Every answer carries the
//! senhasegura envelope (see [`envelope`]).

mod certificates;
pub mod envelope;
mod oauth1;
pub mod openapi;
mod params;
mod publish;
mod requests;

use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, OriginalUri};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use certwright_core::auth::Ctx;
pub use envelope::{Answer, SsError};
pub use params::Params;
use serde_json::{json, Map, Value};

/// Which generation of the API a route belongs to: it decides the shape of result blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Generation {
    /// `/iso/…`: results in a `certificate` block (an object, or an array for lists) beside `response`.
    Iso,
    /// `/api/certificate/…`: results in a `data` block.
    Api,
    /// `/api/v1/certificates…`: flat `{status, message, error, total, requests|certificates}`.
    V1,
}

impl Generation {
    /// A success answer holding one object, in this generation's shape.
    pub fn one(self, ok: Answer, name: &str, value: Value) -> axum::response::Response {
        use axum::response::IntoResponse;
        match self {
            Generation::Iso => ok.with("certificate", value).into_response(),
            Generation::Api => ok.with("data", value).into_response(),
            Generation::V1 => flat(ok, name, value, None),
        }
    }

    /// A success answer holding a page of objects and the total.
    pub fn many(self, name: &str, items: Vec<Value>, total: u64) -> axum::response::Response {
        use axum::response::IntoResponse;
        match self {
            Generation::Iso => {
                Answer::ok().with("certificate", Value::Array(items)).with("total", json!(total)).into_response()
            }
            Generation::Api => {
                Answer::ok().with("data", Value::Array(items)).with("total", json!(total)).into_response()
            }
            Generation::V1 => flat(Answer::ok(), name, Value::Array(items), Some(total)),
        }
    }
}

/// The flat answer of the `/api/v1` generation.
fn flat(ok: Answer, name: &str, value: Value, total: Option<u64>) -> axum::response::Response {
    use axum::response::IntoResponse;
    let status = ok.status();
    let code = if status == StatusCode::CREATED { 1002 } else { 1001 };
    let message = format!("{code}: {}", envelope::text(code));
    let mut body = Map::new();
    body.insert("status".to_owned(), json!(status.as_u16()));
    body.insert("message".to_owned(), json!(message));
    body.insert("error".to_owned(), json!(false));
    if let Some(t) = total {
        body.insert("total".to_owned(), json!(t));
    }
    body.insert(name.to_owned(), value);
    (status, axum::Json(Value::Object(body))).into_response()
}

/// Every senhasegura route, behind the OAuth 1.0a signature check.
pub fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/iso/openapi.json", get(openapi::document))
        .route("/iso/oauth2/token", post(crate::api::oauth::token))
        .route("/api/oauth2/token", post(crate::api::oauth::token))
        .merge(requests::routes())
        .merge(certificates::routes())
        .merge(publish::routes())
        .route("/iso/certificate", get(not_found).post(not_found))
        .route("/iso/{*rest}", get(not_found).post(not_found).put(not_found).delete(not_found))
        // The newer generations share `/api` with QRadar: their unknown paths still answer in this envelope.
        .route("/api/certificate/{*rest}", get(not_found).post(not_found).put(not_found).delete(not_found))
        .route("/api/v1/certificates/{*rest}", get(not_found).post(not_found).put(not_found).delete(not_found))
        .method_not_allowed_fallback(|| async {
            SsError::new(StatusCode::METHOD_NOT_ALLOWED, 1025, "this method is not allowed on this path")
        })
        .layer(axum::middleware::from_fn_with_state(state.clone(), oauth1::middleware))
}

async fn not_found(OriginalUri(uri): OriginalUri) -> SsError {
    SsError::not_found(1023, format!("no senhasegura method at {}", params::clip(uri.path())))
}

/// An authenticated caller.
#[derive(Debug)]
pub struct SsAuth {
    pub ctx: Ctx,
}

impl FromRequestParts<AppState> for SsAuth {
    type Rejection = SsError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, SsError> {
        if let Some(oauth1::Oauth1Caller(caller)) = parts.extensions.get::<oauth1::Oauth1Caller>() {
            return Ok(SsAuth { ctx: super::caller_context(parts, caller.clone()) });
        }
        if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
            let token = value
                .to_str()
                .ok()
                .and_then(|v| v.split_once(' '))
                .filter(|(scheme, token)| scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty())
                .map(|(_, token)| token.trim().to_owned())
                .ok_or_else(|| SsError::unauthenticated("the Authorization header must be 'Bearer <token>'"))?;
            let ctx = super::context(state, parts, &token).await?;
            return Ok(SsAuth { ctx });
        }
        let query = Params::from_query(parts.uri.query())?;
        match (query.text(&["oauth_consumer_key"]), query.secret(&["oauth_token"])) {
            (Some(key), Some(token)) => {
                let ctx = super::context(state, parts, &token).await?;
                if ctx.caller.token.map(|t| t.to_string()).as_deref() != Some(key.as_str()) {
                    return Err(SsError::unauthenticated("oauth_consumer_key is not the id of the token sent"));
                }
                Ok(SsAuth { ctx })
            }
            _ => Err(SsError::unauthenticated(
                "send 'Authorization: Bearer <token>' or the query parameters oauth_consumer_key and oauth_token",
            )),
        }
    }
}

/// One call to the face: its caller, its parameters (query and body), the generation its path belongs to, and
/// the route's `{code}` path segment when it has one.
#[derive(Debug)]
pub struct SsCall {
    pub auth: SsAuth,
    pub params: Params,
    pub generation: Generation,
    pub code: Option<String>,
}

impl Generation {
    /// The generation of a request path.
    pub fn of(path: &str) -> Self {
        if path.starts_with("/api/v1/") {
            Generation::V1
        } else if path.starts_with("/api/") {
            Generation::Api
        } else {
            Generation::Iso
        }
    }
}

impl FromRequest<AppState> for SsCall {
    type Rejection = SsError;

    async fn from_request(req: axum::extract::Request, state: &AppState) -> Result<Self, SsError> {
        let (mut parts, body) = req.into_parts();
        let auth = SsAuth::from_request_parts(&mut parts, state).await?;
        let code = axum::extract::RawPathParams::from_request_parts(&mut parts, state)
            .await
            .ok()
            .and_then(|p| p.iter().find(|(k, _)| *k == "code").map(|(_, v)| v.to_owned()));
        let path =
            parts.extensions.get::<OriginalUri>().map_or_else(|| parts.uri.path().to_owned(), |u| u.path().to_owned());
        let query = parts.uri.query().map(str::to_owned);
        let headers = parts.headers.clone();
        // Read through the extractor so that the server's body limit applies.
        let body = Bytes::from_request(axum::extract::Request::from_parts(parts, body), state)
            .await
            .map_err(|e| SsError::new(e.status(), 1024, e.body_text()))?;
        let params = Params::from_request(query.as_deref(), &headers, &body)?;
        Ok(SsCall { auth, params, generation: Generation::of(&path), code })
    }
}

/// An epoch time as senhasegura writes dates, `YYYY-MM-DD HH:MM:SS` (UTC).
pub(crate) fn date_time(t: i64) -> String {
    crate::api::time(t).replace('T', " ").trim_end_matches('Z').to_owned()
}

/// A date or date-time parameter (`YYYY-MM-DD`, `YYYY-MM-DD HH:MM:SS`, `DD/MM/YYYY`, or `YYYY-MM-DDTHH:MM:SSZ`),
/// in UTC, as epoch seconds; a date alone means its start, or its end when `end_of_day`.
pub(crate) fn parse_date(field: &str, v: &str, end_of_day: bool) -> Result<i64, SsError> {
    let bad =
        || SsError::invalid(format!("{field} must be a date like 2026-12-31 or 31/12/2026, got '{}'", params::clip(v)));
    let v = v.trim();
    let (date, time) = match v.split_once([' ', 'T']) {
        Some((d, t)) => (d, Some(t.trim_end_matches('Z'))),
        None => (v, None),
    };
    let (y, m, d) = if let Some((d, rest)) = date.split_once('/') {
        let (m, y) = rest.split_once('/').ok_or_else(bad)?;
        (y, m, d)
    } else {
        let mut it = date.splitn(3, '-');
        (it.next().ok_or_else(bad)?, it.next().ok_or_else(bad)?, it.next().ok_or_else(bad)?)
    };
    let num = |s: &str| s.parse::<i64>().map_err(|_| bad());
    let (y, m, d) = (num(y)?, num(m)?, num(d)?);
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let month_days = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if !(1970..=9999).contains(&y) || !(1..=12).contains(&m) || d < 1 || d > month_days[(m - 1) as usize] {
        return Err(bad());
    }
    let (hh, mm, ss) = match time {
        None if end_of_day => (23, 59, 59),
        None => (0, 0, 0),
        Some(t) => {
            let mut it = t.splitn(3, ':');
            let h = num(it.next().ok_or_else(bad)?)?;
            let mi = num(it.next().unwrap_or("0"))?;
            let s = num(it.next().unwrap_or("0").split('.').next().unwrap_or("0"))?;
            if h > 23 || mi > 59 || s > 60 {
                return Err(bad());
            }
            (h, mi, s)
        }
    };
    // Days from civil (Howard Hinnant's algorithm).
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Ok(days * 86_400 + hh * 3600 + mm * 60 + ss)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_in_every_accepted_spelling() {
        assert_eq!(parse_date("d", "1970-01-01", false).unwrap(), 0);
        assert_eq!(parse_date("d", "2026-11-24", false).unwrap(), 1_795_478_400);
        assert_eq!(parse_date("d", "24/11/2026", true).unwrap(), 1_795_478_400 + 86_399);
        assert_eq!(parse_date("d", "2026-11-24 01:02:03", false).unwrap(), 1_795_478_400 + 3723);
        assert_eq!(parse_date("d", "2026-11-24T01:02:03Z", false).unwrap(), 1_795_478_400 + 3723);
        assert!(parse_date("d", "2026-13-01", false).is_err());
        assert!(parse_date("d", "2026-02-29", false).is_err());
        assert!(parse_date("d", "2028-02-29", false).is_ok());
        assert!(parse_date("d", "31/04/2026", false).is_err());
        assert!(parse_date("d", "soon", false).is_err());
        assert_eq!(date_time(1_795_478_400 + 3723), "2026-11-24 01:02:03");
    }
}
