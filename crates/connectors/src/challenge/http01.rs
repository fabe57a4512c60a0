//! http-01 (RFC 8555 §8.3; IP identifiers per RFC 8738 §3): GET the key authorization from
//! `http://<identifier>:<port>/.well-known/acme-challenge/<token>`, following a bounded number of redirects by
//! hand so that each hop's scheme, port and `Host` are ours to check and set, and reading a bounded body.

use super::{ChallengeError, Ident, Inner};
use reqwest::header::{HOST, LOCATION};
use reqwest::{StatusCode, Url};
use std::error::Error as _;
use std::time::Duration;

/// Redirects followed, at most (as Let's Encrypt does).
pub const MAX_REDIRECTS: usize = 10;
/// Bytes of response body read, at most: a key authorization is under 200 bytes.
pub const MAX_BODY: usize = 4096;

pub(super) async fn validate(
    inner: &Inner,
    identifier: &Ident,
    token: &str,
    key_authorization: &str,
) -> Result<(), ChallengeError> {
    if token.is_empty() || !token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Err(ChallengeError::Malformed(format!("http-01: the token {token:?} is not base64url")));
    }
    let host = match identifier {
        Ident::Dns(name) if name.starts_with("*.") => {
            return Err(ChallengeError::Malformed(format!("http-01 cannot validate the wildcard {name}")));
        }
        Ident::Dns(name) => super::checked_name(name, "http-01")?,
        Ident::Ip(ip) => super::url_host(*ip),
    };
    let first = format!("http://{host}:{}/.well-known/acme-challenge/{token}", inner.config.http01_port);
    let mut url = Url::parse(&first).map_err(|e| ChallengeError::Malformed(format!("http-01: {first}: {e}")))?;
    let mut host_header = host;
    for _ in 0..=MAX_REDIRECTS {
        let mut response = send(inner, &url, &host_header).await?;
        let status = response.status();
        let at = describe(&url, response.remote_addr());
        if is_redirect(status) {
            let next = redirect_target(inner, &url, &response, &at)?;
            host_header = next.host_str().unwrap_or_default().to_string();
            url = next;
            continue;
        }
        if status != StatusCode::OK {
            return Err(ChallengeError::Unauthorized(format!(
                "http-01: {at} answered {} for {}",
                status.as_u16(),
                url.path()
            )));
        }
        let body = read_body(&mut response, &at, inner.config.timeout).await?;
        let text = std::str::from_utf8(&body).unwrap_or("");
        if !body.is_empty() && text.trim_end() == key_authorization {
            return Ok(());
        }
        return Err(ChallengeError::IncorrectResponse(format!(
            "http-01: {at} served {} for {}, not the key authorization {key_authorization:?}",
            snippet(&body),
            url.path()
        )));
    }
    Err(ChallengeError::Connection(format!("http-01: more than {MAX_REDIRECTS} redirects from {first}")))
}

/// One GET, without following redirects, within the per-attempt timeout.
async fn send(inner: &Inner, url: &Url, host_header: &str) -> Result<reqwest::Response, ChallengeError> {
    let timeout = inner.config.timeout;
    let request = inner.http.get(url.clone()).header(HOST, host_header).timeout(timeout);
    let failure = match tokio::time::timeout(timeout, request.send()).await {
        Ok(Ok(response)) => return Ok(response),
        Ok(Err(e)) => e,
        Err(_) => return Err(timed_out(&target(inner, url).await, timeout)),
    };
    if let Some(ours) = find_source::<ChallengeError>(&failure) {
        return Err(ours.clone()); // name resolution failed in our resolver
    }
    let target = target(inner, url).await;
    if let Some(tls) = find_source::<rustls::Error>(&failure) {
        return Err(ChallengeError::Tls(format!("http-01: TLS with {target} failed: {tls}")));
    }
    if failure.is_timeout() {
        return Err(timed_out(&target, timeout));
    }
    let mut root: &dyn std::error::Error = &failure;
    while let Some(next) = root.source() {
        root = next;
    }
    Err(ChallengeError::Connection(format!("http-01: cannot fetch from {target}: {root}")))
}

fn find_source<T: std::error::Error + 'static>(e: &reqwest::Error) -> Option<&T> {
    let mut source = e.source();
    while let Some(s) = source {
        if let Some(found) = s.downcast_ref::<T>() {
            return Some(found);
        }
        source = s.source();
    }
    None
}

/// `host:port`, with the addresses of a name for messages: `www.example.test:80 (192.0.2.1)`.
async fn target(inner: &Inner, url: &Url) -> String {
    let host_port = host_port(url);
    match url.domain() {
        Some(name) => match inner.resolver.addresses(name).await {
            Ok(ips) => format!("{host_port} ({})", ips.iter().map(|ip| ip.to_string()).collect::<Vec<_>>().join(", ")),
            Err(_) => host_port,
        },
        None => host_port,
    }
}

fn timed_out(target: &str, timeout: Duration) -> ChallengeError {
    ChallengeError::Connection(format!("http-01: {target} did not answer within {timeout:?}"))
}

fn host_port(url: &Url) -> String {
    format!("{}:{}", url.host_str().unwrap_or_default(), url.port_or_known_default().unwrap_or_default())
}

/// `127.0.0.1:5002`, or `www.example.test (127.0.0.1:5002)` for a name.
fn describe(url: &Url, remote: Option<std::net::SocketAddr>) -> String {
    match (url.domain(), remote) {
        (Some(name), Some(addr)) => format!("{name} ({addr})"),
        (_, Some(addr)) => addr.to_string(),
        _ => host_port(url),
    }
}

fn is_redirect(status: StatusCode) -> bool {
    matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308)
}

/// The next URL of a redirect: http on the http-01 port or https on the https port, to a host name or address.
fn redirect_target(inner: &Inner, url: &Url, response: &reqwest::Response, at: &str) -> Result<Url, ChallengeError> {
    let refused = |why: String| ChallengeError::Connection(format!("http-01: {at} redirected {why}"));
    let location = response
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| refused("without a usable Location".into()))?;
    let next = url.join(location).map_err(|e| refused(format!("to {location:?}: {e}")))?;
    let allowed_port = match next.scheme() {
        "http" => inner.config.http01_port,
        "https" => inner.config.https_port,
        other => return Err(refused(format!("to the {other} scheme (only http and https are followed)"))),
    };
    if next.port_or_known_default() != Some(allowed_port) {
        return Err(refused(format!(
            "to {next}: only port {} for http and {} for https are followed",
            inner.config.http01_port, inner.config.https_port
        )));
    }
    let host_ok = match next.domain() {
        Some(name) => super::wire::normalize_name(name).is_some(),
        None => next.host().is_some(), // an IP address
    };
    if !host_ok {
        return Err(refused(format!("to {next}, whose host is not a DNS name or IP address")));
    }
    if !next.username().is_empty() || next.password().is_some() {
        return Err(refused(format!("to {next}, which carries credentials")));
    }
    Ok(next)
}

/// The body, refusing more than [`MAX_BODY`] bytes and bodies that trickle in slower than the timeout allows.
async fn read_body(response: &mut reqwest::Response, at: &str, timeout: Duration) -> Result<Vec<u8>, ChallengeError> {
    let too_long =
        || ChallengeError::IncorrectResponse(format!("http-01: {at} sent a body longer than {MAX_BODY} bytes"));
    if response.content_length().is_some_and(|n| n > MAX_BODY as u64) {
        return Err(too_long());
    }
    let read = async {
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            if body.len() + chunk.len() > MAX_BODY {
                return Ok(None);
            }
            body.extend_from_slice(&chunk);
        }
        Ok::<_, reqwest::Error>(Some(body))
    };
    match tokio::time::timeout(timeout, read).await {
        Ok(Ok(Some(body))) => Ok(body),
        Ok(Ok(None)) => Err(too_long()),
        Ok(Err(e)) if e.is_timeout() => {
            Err(ChallengeError::Connection(format!("http-01: {at} did not finish its body in time")))
        }
        Ok(Err(e)) => Err(ChallengeError::Connection(format!("http-01: reading the body from {at} failed: {e}"))),
        Err(_) => Err(ChallengeError::Connection(format!("http-01: {at} did not finish its body within {timeout:?}"))),
    }
}

/// The start of a body, quoted and escaped, for a message.
fn snippet(body: &[u8]) -> String {
    if body.is_empty() {
        return "an empty body".into();
    }
    let text = String::from_utf8_lossy(&body[..body.len().min(100)]);
    let more = if body.len() > 100 { "…" } else { "" };
    format!("{:?}{more}", text)
}
