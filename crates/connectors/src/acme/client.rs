//! The ACME transport: the directory, replay nonces (with the `badNonce` retry RFC 8555 §6.5 asks for), signed
//! POSTs, problem documents, and the account and revocation requests.

use super::jws::Signer;
use super::{Account, AccountKey, AcmeError, ExternalAccountBinding, Problem};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use reqwest::header::{HeaderMap, ACCEPT, CONTENT_TYPE, LOCATION, RETRY_AFTER};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// How many times a request refused with `badNonce` is sent again with a fresh nonce.
const BAD_NONCE_RETRIES: usize = 5;
/// The largest response body read from the CA (certificate chains are a few KiB).
const MAX_BODY: usize = 1 << 20;

/// The CA's directory (RFC 8555 §7.1.1): where each resource lives, and its metadata.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Directory {
    /// The newNonce URL.
    pub new_nonce: String,
    /// The newAccount URL.
    pub new_account: String,
    /// The newOrder URL.
    pub new_order: String,
    /// The revokeCert URL.
    pub revoke_cert: String,
    /// The keyChange URL.
    #[serde(default)]
    pub key_change: Option<String>,
    /// The `meta` object.
    #[serde(default)]
    pub meta: DirectoryMeta,
}

/// The directory's `meta` object.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectoryMeta {
    /// The current terms of service, which `register` agrees to.
    #[serde(default)]
    pub terms_of_service: Option<String>,
    /// The CA's website.
    #[serde(default)]
    pub website: Option<String>,
    /// Whether newAccount needs an external account binding.
    #[serde(default)]
    pub external_account_required: bool,
}

/// A response from the CA, read in full.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) location: Option<String>,
    pub(crate) retry_after: Option<Duration>,
    pub(crate) body: Vec<u8>,
    pub(crate) url: String,
}

impl Reply {
    pub(crate) fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, AcmeError> {
        serde_json::from_slice(&self.body)
            .map_err(|e| AcmeError::Protocol { url: self.url.clone(), message: format!("malformed JSON body: {e}") })
    }
}

/// A client for one ACME CA. Create it once per directory and share it: it keeps a nonce for the next request.
#[derive(Debug)]
pub struct AcmeClient {
    http: reqwest::Client,
    directory: Directory,
    nonce: Mutex<Option<String>>,
}

impl AcmeClient {
    /// Fetches the directory at `directory_url`. `http` decides TLS trust and timeouts: give it the roots the CA's
    /// server certificate chains to (for a test CA such as pebble, its own test root) and a request timeout.
    pub async fn new(directory_url: &str, http: reqwest::Client) -> Result<Self, AcmeError> {
        let resp = http.get(directory_url).send().await.map_err(|e| transport(directory_url, &e))?;
        let status = resp.status();
        let (_, body) = read_body(directory_url, resp).await?;
        if !status.is_success() {
            return Err(AcmeError::Protocol {
                url: directory_url.into(),
                message: format!("the directory answered HTTP {status}"),
            });
        }
        let directory: Directory = serde_json::from_slice(&body).map_err(|e| AcmeError::Protocol {
            url: directory_url.into(),
            message: format!("not an ACME directory: {e}"),
        })?;
        Ok(AcmeClient { http, directory, nonce: Mutex::new(None) })
    }

    /// The CA's directory.
    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    /// Creates the account for `key` (newAccount), or returns the existing one when the CA already knows the key.
    /// Registering agrees to the CA's terms of service (`termsOfServiceAgreed: true`); `contact` holds
    /// `mailto:` URLs. `eab` is required by CAs whose directory says `externalAccountRequired`.
    pub async fn register(
        &self,
        key: &AccountKey,
        contact: &[String],
        eab: Option<&ExternalAccountBinding>,
    ) -> Result<Account, AcmeError> {
        let url = self.directory.new_account.clone();
        let mut payload = json!({ "termsOfServiceAgreed": true, "contact": contact });
        if let Some(eab) = eab {
            payload["externalAccountBinding"] = eab.binding(&key.jwk(), &url);
        }
        self.account_request(key, &url, payload).await
    }

    /// Looks up the existing account of `key` without creating one (`onlyReturnExisting`). A key the CA does not
    /// know gives `AcmeError::Problem` of type `accountDoesNotExist`.
    pub async fn find_account(&self, key: &AccountKey) -> Result<Account, AcmeError> {
        let url = self.directory.new_account.clone();
        self.account_request(key, &url, json!({ "onlyReturnExisting": true })).await
    }

    async fn account_request(&self, key: &AccountKey, url: &str, payload: Value) -> Result<Account, AcmeError> {
        let reply = self.post(key, Signer::Jwk, url, Some(&payload)).await?;
        let account_url = reply.location.ok_or_else(|| AcmeError::Protocol {
            url: url.into(),
            message: "newAccount answered without a Location header".into(),
        })?;
        Ok(Account { url: account_url, key: key.clone() })
    }

    /// Revokes a certificate this account obtained (revokeCert, RFC 8555 §7.6). `reason` is an RFC 5280
    /// CRLReason code (0 unspecified, 1 keyCompromise, 4 superseded, 5 cessationOfOperation, …).
    pub async fn revoke(&self, account: &Account, certificate_der: &[u8], reason: Option<u8>) -> Result<(), AcmeError> {
        let mut payload = json!({ "certificate": B64.encode(certificate_der) });
        if let Some(reason) = reason {
            payload["reason"] = json!(reason);
        }
        let url = self.directory.revoke_cert.clone();
        self.post(&account.key, Signer::Kid(&account.url), &url, Some(&payload)).await?;
        Ok(())
    }

    /// A POST-as-GET (empty payload) signed by the account.
    pub(crate) async fn post_as_get(&self, account: &Account, url: &str) -> Result<Reply, AcmeError> {
        self.post(&account.key, Signer::Kid(&account.url), url, None).await
    }

    /// A POST of `payload` signed by the account.
    pub(crate) async fn post_signed(&self, account: &Account, url: &str, payload: &Value) -> Result<Reply, AcmeError> {
        self.post(&account.key, Signer::Kid(&account.url), url, Some(payload)).await
    }

    /// Downloads a certificate chain (POST-as-GET asking for `application/pem-certificate-chain`).
    pub(crate) async fn post_as_get_pem(&self, account: &Account, url: &str) -> Result<Reply, AcmeError> {
        self.post_accept(&account.key, Signer::Kid(&account.url), url, None, Some("application/pem-certificate-chain"))
            .await
    }

    async fn post(
        &self,
        key: &AccountKey,
        signer: Signer<'_>,
        url: &str,
        payload: Option<&Value>,
    ) -> Result<Reply, AcmeError> {
        self.post_accept(key, signer, url, payload, None).await
    }

    /// Signs and sends one request, retrying with a fresh nonce when the CA answers `badNonce`.
    async fn post_accept(
        &self,
        key: &AccountKey,
        signer: Signer<'_>,
        url: &str,
        payload: Option<&Value>,
        accept: Option<&str>,
    ) -> Result<Reply, AcmeError> {
        let mut attempt = 0;
        loop {
            let nonce = self.take_nonce().await?;
            let body = key.sign(signer, &nonce, url, payload)?;
            let mut req = self.http.post(url).header(CONTENT_TYPE, "application/jose+json").body(body.to_string());
            if let Some(accept) = accept {
                req = req.header(ACCEPT, accept);
            }
            let resp = req.send().await.map_err(|e| transport(url, &e))?;
            let status = resp.status();
            let (headers, body) = read_body(url, resp).await?;
            self.keep_nonce(&headers);
            if status.is_success() {
                return Ok(Reply {
                    location: header_str(&headers, LOCATION.as_str()),
                    retry_after: retry_after(&headers),
                    body,
                    url: url.to_string(),
                });
            }
            let problem = parse_problem(url, status.as_u16(), &body)?;
            if problem.is("badNonce") && attempt < BAD_NONCE_RETRIES {
                attempt += 1;
                tracing::debug!(url, attempt, "ACME CA refused the nonce; retrying with a fresh one");
                continue;
            }
            return Err(AcmeError::Problem(problem));
        }
    }

    /// The nonce saved from the last response, or a new one from newNonce.
    async fn take_nonce(&self) -> Result<String, AcmeError> {
        let saved = self.nonce.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(nonce) = saved {
            return Ok(nonce);
        }
        let url = &self.directory.new_nonce;
        let resp = self.http.head(url).send().await.map_err(|e| transport(url, &e))?;
        header_str(resp.headers(), "replay-nonce").ok_or_else(|| AcmeError::Protocol {
            url: url.clone(),
            message: format!("newNonce answered HTTP {} without a Replay-Nonce header", resp.status()),
        })
    }

    fn keep_nonce(&self, headers: &HeaderMap) {
        if let Some(nonce) = header_str(headers, "replay-nonce") {
            *self.nonce.lock().unwrap_or_else(|p| p.into_inner()) = Some(nonce);
        }
    }
}

fn transport(url: &str, e: &reqwest::Error) -> AcmeError {
    // reqwest's Display omits the cause (TLS, DNS, refused); keep the chain.
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    AcmeError::Transport { url: url.into(), message }
}

async fn read_body(url: &str, mut resp: reqwest::Response) -> Result<(HeaderMap, Vec<u8>), AcmeError> {
    let headers = resp.headers().clone();
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| transport(url, &e))? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(AcmeError::Protocol {
                url: url.into(),
                message: format!("response larger than {MAX_BODY} bytes"),
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok((headers, body))
}

fn header_str(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// `Retry-After` as delay-seconds or an HTTP-date (RFC 9110 §10.2.3).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = header_str(headers, RETRY_AFTER.as_str())?;
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(&value).ok()?;
    Some(when.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO))
}

fn parse_problem(url: &str, status: u16, body: &[u8]) -> Result<Problem, AcmeError> {
    match serde_json::from_slice::<Problem>(body) {
        Ok(mut p) if !p.type_uri.is_empty() => {
            p.status.get_or_insert(status);
            Ok(p)
        }
        _ => {
            let text = String::from_utf8_lossy(body.get(..body.len().min(200)).unwrap_or_default()).into_owned();
            Err(AcmeError::Protocol {
                url: url.into(),
                message: format!("HTTP {status} without a problem document: {text}"),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(RETRY_AFTER, HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT"));
        assert_eq!(retry_after(&h), Some(Duration::ZERO), "a date in the past means now");
        let later = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(120));
        h.insert(RETRY_AFTER, HeaderValue::from_str(&later).unwrap());
        let d = retry_after(&h).unwrap();
        assert!(d > Duration::from_secs(100) && d <= Duration::from_secs(120), "{d:?}");
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn a_non_problem_error_body_is_a_protocol_error() {
        assert!(matches!(parse_problem("u", 502, b"<html>bad gateway</html>"), Err(AcmeError::Protocol { .. })));
        let p =
            parse_problem("u", 403, br#"{"type":"urn:ietf:params:acme:error:unauthorized","detail":"no"}"#).unwrap();
        assert_eq!(p.status, Some(403));
        assert!(p.is("unauthorized"));
    }
}
