//! OAuth 1.0a signed requests (RFC 5849) on the senhasegura face: a middleware that finds the protocol
//! parameters (the `Authorization: OAuth` header, the query string or a form body), rebuilds what the client
//! signed, has the core check it, and hands the caller to [`super::SsAuth`].

use super::envelope::SsError;
use crate::state::AppState;
use axum::body::Body;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use certwright_core::auth::Caller;
use certwright_core::oauth1::SignedRequest;
use percent_encoding::percent_decode_str;

/// The caller a verified signature names, for [`super::SsAuth`].
#[derive(Debug, Clone)]
pub struct Oauth1Caller(pub Caller);

/// The `name="value"` pairs of an `Authorization: OAuth …` header, decoded; `realm` dropped.
fn header_params(value: &str) -> Option<Vec<(String, String)>> {
    let rest = value.trim_start();
    let (scheme, rest) = rest.split_at(rest.find(char::is_whitespace).unwrap_or(rest.len()));
    if !scheme.eq_ignore_ascii_case("oauth") {
        return None;
    }
    let mut out = Vec::new();
    for part in rest.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=')?;
        let v = v.trim().strip_prefix('"')?.strip_suffix('"')?;
        let k = percent_decode_str(k.trim()).decode_utf8().ok()?.into_owned();
        let v = percent_decode_str(v).decode_utf8().ok()?.into_owned();
        if k != "realm" {
            out.push((k, v));
        }
    }
    Some(out)
}

fn form_pairs(bytes: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(bytes).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

fn content_type(req: &Request) -> String {
    req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

/// The base string URIs the client may have signed: the `Host` it sent, over the forwarded scheme when a proxy
/// said one, then HTTPS and HTTP; default ports dropped.
fn base_uris(req: &Request) -> Vec<String> {
    let host = req.headers().get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or_default().to_ascii_lowercase();
    let path = req.uri().path();
    let forwarded = req.headers().get("x-forwarded-proto").and_then(|v| v.to_str().ok()).map(str::to_ascii_lowercase);
    let mut schemes: Vec<String> = forwarded.into_iter().collect();
    for s in ["https", "http"] {
        if !schemes.iter().any(|x| x == s) {
            schemes.push(s.to_owned());
        }
    }
    schemes
        .into_iter()
        .map(|scheme| {
            let default = if scheme == "https" { ":443" } else { ":80" };
            let host = host.strip_suffix(default).unwrap_or(&host);
            format!("{scheme}://{host}{path}")
        })
        .collect()
}

/// Checks a request that carries OAuth 1.0a protocol parameters; passes every other request through untouched.
pub async fn middleware(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let header = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(header_params);
    let query = form_pairs(req.uri().query().unwrap_or_default().as_bytes());
    let in_query = query.iter().any(|(k, _)| k == "oauth_signature");
    // A body is read as a form exactly when the face reads it so (`params::body_is_form`): its parameters are
    // then covered by the signature.
    let ct = content_type(&req);
    let maybe_form = ct.is_empty() || super::params::body_is_form(&ct, b"");
    if header.is_none() && !in_query && !maybe_form {
        return next.run(req).await;
    }
    // The body is read through the extractor, so the server's body limit applies, then put back.
    let (method, uri, version) = (req.method().clone(), req.uri().clone(), req.version());
    let (headers, extensions) = (req.headers().clone(), req.extensions().clone());
    let bytes = match Bytes::from_request(req, &state).await {
        Ok(b) => b,
        Err(e) => return SsError::new(e.status(), 1024, e.body_text()).into_response(),
    };
    let body_params = if super::params::body_is_form(&ct, &bytes) { form_pairs(&bytes) } else { Vec::new() };
    let in_body = body_params.iter().any(|(k, _)| k == "oauth_signature");
    let mut req = Request::new(Body::from(bytes));
    *req.method_mut() = method;
    *req.uri_mut() = uri;
    *req.version_mut() = version;
    *req.headers_mut() = headers;
    *req.extensions_mut() = extensions;
    if header.is_none() && !in_query && !in_body {
        return next.run(req).await;
    }
    let mut params: Vec<(String, String)> =
        query.into_iter().chain(body_params).chain(header.unwrap_or_default()).collect();
    let signatures: Vec<String> =
        params.iter().filter(|(k, _)| k == "oauth_signature").map(|(_, v)| v.clone()).collect();
    params.retain(|(k, _)| k != "oauth_signature");
    let [signature] = signatures.as_slice() else {
        return SsError::unauthenticated("send exactly one oauth_signature").into_response();
    };
    let signed = SignedRequest {
        method: req.method().as_str().to_owned(),
        uris: base_uris(&req),
        params,
        signature: signature.clone(),
    };
    match state.services.authenticate_oauth1(&signed).await {
        Ok(caller) => {
            let mut req = req;
            req.extensions_mut().insert(Oauth1Caller(caller));
            next.run(req).await
        }
        Err(e) => SsError::from(e).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorization_headers() {
        let p = header_params(r#"OAuth realm="Example", oauth_consumer_key="a%20b", oauth_nonce="n""#).unwrap();
        assert_eq!(
            p,
            vec![("oauth_consumer_key".to_owned(), "a b".to_owned()), ("oauth_nonce".to_owned(), "n".to_owned())]
        );
        assert!(header_params("Bearer xyz").is_none());
        assert!(header_params(r#"OAuth oauth_nonce=unquoted"#).is_none());
    }
}
