//! Signed webhooks: an HTTP POST of a JSON event with `Certwright-Signature: t=<unix>,v1=<hex HMAC-SHA256>` over
//! `"<t>." + body`, plus the delivery id and event type, and a verdict on whether a failed delivery is worth
//! retrying. `verify` is the receiver's side, for tests and for documentation.

use aws_lc_rs::hmac;
use reqwest::header::CONTENT_TYPE;
use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The signature header.
pub const SIGNATURE_HEADER: &str = "Certwright-Signature";
/// The header carrying the delivery id (the same on every retry of one delivery, for de-duplication).
pub const DELIVERY_HEADER: &str = "Certwright-Delivery";
/// The header carrying the event type.
pub const EVENT_HEADER: &str = "Certwright-Event";

/// The `Certwright-Signature` value for `body` sent at `timestamp` (Unix seconds):
/// `t=<timestamp>,v1=<lowercase hex of HMAC-SHA256(secret, "<timestamp>." || body)>`.
pub fn sign(secret: &[u8], timestamp: u64, body: &[u8]) -> String {
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret), &signed_payload(timestamp, body));
    let mut hex = String::with_capacity(64);
    for b in tag.as_ref() {
        let _ = write!(hex, "{b:02x}");
    }
    format!("t={timestamp},v1={hex}")
}

fn signed_payload(timestamp: u64, body: &[u8]) -> Vec<u8> {
    let mut payload = format!("{timestamp}.").into_bytes();
    payload.extend_from_slice(body);
    payload
}

/// Why a signature was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// The header is not `t=<unix>,v1=<hex>[,v1=<hex>…]`.
    #[error("malformed Certwright-Signature header")]
    Malformed,
    /// The timestamp is further from `now` than the tolerance (a replay, or a clock off).
    #[error("signature timestamp outside the tolerance")]
    Expired,
    /// No `v1` value matches the body under this secret.
    #[error("signature does not match")]
    Mismatch,
}

/// Checks a `Certwright-Signature` header against the raw `body`, the shared `secret` and the receiver's clock
/// (`now`, Unix seconds). Any of several `v1` values may match (they appear while a secret is rotated). The MAC
/// comparison is constant-time.
pub fn verify(secret: &[u8], header: &str, body: &[u8], now: u64, tolerance: Duration) -> Result<(), SignatureError> {
    let mut timestamp = None;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        let (key, value) = part.trim().split_once('=').ok_or(SignatureError::Malformed)?;
        match key {
            "t" if timestamp.is_none() => {
                timestamp = Some(value.parse::<u64>().map_err(|_| SignatureError::Malformed)?);
            }
            "t" => return Err(SignatureError::Malformed),
            "v1" => candidates.push(decode_hex(value).ok_or(SignatureError::Malformed)?),
            _ => {} // Other schemes are ignored, so new ones can be added beside v1.
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if candidates.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if now.abs_diff(timestamp) > tolerance.as_secs() {
        return Err(SignatureError::Expired);
    }
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let payload = signed_payload(timestamp, body);
    let mut matched = false;
    for candidate in &candidates {
        // Every candidate is checked, so timing does not tell which one matched.
        matched |= hmac::verify(&key, &payload, candidate).is_ok();
    }
    if matched {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok())).collect()
}

/// A delivery the receiver accepted (2xx).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    /// The HTTP status.
    pub status: u16,
}

/// A delivery that failed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("webhook delivery failed{}: {message}", status.map(|s| format!(" (HTTP {s})")).unwrap_or_default())]
pub struct DeliveryError {
    /// Whether a later attempt may succeed: network errors, timeouts, 408, 429 and 5xx. Other answers (4xx such
    /// as 400, 404, 410) will repeat and are permanent.
    pub retryable: bool,
    /// The HTTP status, when the receiver answered.
    pub status: Option<u16>,
    /// What happened.
    pub message: String,
}

/// Posts signed webhook events.
#[derive(Debug, Clone)]
pub struct WebhookSender {
    http: reqwest::Client,
    timeout: Duration,
}

impl WebhookSender {
    /// A sender using `http` (its TLS roots and proxy settings; give it `redirect::Policy::none()` so a delivery
    /// is never re-sent elsewhere), with `timeout` for each whole delivery.
    pub fn new(http: reqwest::Client, timeout: Duration) -> Self {
        WebhookSender { http, timeout }
    }

    /// POSTs `body` (JSON) to `url`, signed with `secret` at the current time, with the `Certwright-Delivery:
    /// <delivery_id>` and `Certwright-Event: <event_type>` headers.
    pub async fn post(
        &self,
        url: &str,
        secret: &[u8],
        delivery_id: &str,
        event_type: &str,
        body: &[u8],
    ) -> Result<Delivered, DeliveryError> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let resp = self
            .http
            .post(url)
            .timeout(self.timeout)
            .header(CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, sign(secret, now, body))
            .header(DELIVERY_HEADER, delivery_id)
            .header(EVENT_HEADER, event_type)
            .body(body.to_vec())
            .send()
            .await
            .map_err(|e| DeliveryError {
                retryable: true,
                status: None,
                message: if e.is_timeout() { format!("no answer within {:?}", self.timeout) } else { error_chain(&e) },
            })?;
        let status = resp.status().as_u16();
        if resp.status().is_success() {
            return Ok(Delivered { status });
        }
        let retryable = status == 408 || status == 429 || status >= 500;
        let reason = resp.status().canonical_reason().unwrap_or("").to_string();
        let snippet = body_snippet(resp).await;
        Err(DeliveryError {
            retryable,
            status: Some(status),
            message: if snippet.is_empty() { reason } else { format!("{reason}: {snippet}") },
        })
    }
}

/// The first 200 bytes of an error answer, for the delivery log.
async fn body_snippet(mut resp: reqwest::Response) -> String {
    let mut bytes = Vec::new();
    while bytes.len() < 200 {
        match resp.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            _ => break,
        }
    }
    bytes.truncate(200);
    String::from_utf8_lossy(&bytes).trim().to_string()
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_matches_a_known_hmac_sha256_vector() {
        // Computed independently: `printf '1700000000.{}' | openssl dgst -sha256 -hmac whsec`.
        let header = sign(b"whsec", 1_700_000_000, b"{}");
        assert_eq!(header, "t=1700000000,v1=7d44587dddbaf4c7f70fef20f48cd594834ffea1641e3ac227b84408298738af");
    }

    #[test]
    fn verify_accepts_its_own_signature_and_refuses_tampering() {
        let h = sign(b"s3cret", 1000, b"{\"a\":1}");
        let tol = Duration::from_secs(300);
        assert_eq!(verify(b"s3cret", &h, b"{\"a\":1}", 1100, tol), Ok(()));
        assert_eq!(verify(b"s3cret", &h, b"{\"a\":2}", 1100, tol), Err(SignatureError::Mismatch));
        assert_eq!(verify(b"other", &h, b"{\"a\":1}", 1100, tol), Err(SignatureError::Mismatch));
        assert_eq!(verify(b"s3cret", &h, b"{\"a\":1}", 1400, tol), Err(SignatureError::Expired));
        assert_eq!(verify(b"s3cret", "v1=00", b"", 0, tol), Err(SignatureError::Malformed));
        assert_eq!(verify(b"s3cret", "t=1,v1=zz", b"", 1, tol), Err(SignatureError::Malformed));
        assert_eq!(verify(b"s3cret", "t=1,t=2,v1=00", b"", 1, tol), Err(SignatureError::Malformed));
        // During a secret rotation two v1 values are sent; either may match.
        let old = sign(b"old", 1000, b"x");
        let both = format!("{h},{}", old.split_once(',').unwrap().1);
        assert_eq!(verify(b"old", &both, b"x", 1000, tol), Ok(()));
    }
}
