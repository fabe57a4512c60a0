//! OAuth 1.0a request signatures (RFC 5849): credentials made of a consumer key and secret and a token and
//! secret, the signature base string, and the checks a signed request must pass (method, version, timestamp
//! window, one-time nonce). The secrets are sealed at rest: HMAC needs them in clear when a request is checked.

use crate::auth::Role;
use crate::clock::EpochSeconds;
use crate::{CoreError, Result};
use uuid::Uuid;

/// How far a request's timestamp may be from the server's clock, in seconds.
pub const TIMESTAMP_WINDOW: i64 = 300;
/// Longest nonce accepted, in characters.
pub const MAX_NONCE: usize = 128;

/// A credential for OAuth 1.0a signed requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Oauth1Credential {
    pub id: i64,
    pub uuid: Uuid,
    pub name: String,
    /// The principal requests signed with it act as (`oauth1:<name>`).
    pub principal: String,
    pub role: Role,
    pub ra_profiles: Vec<String>,
    /// Public identifiers, sent with every request.
    pub consumer_key: String,
    pub token: String,
    /// `{"consumer_secret", "token_secret"}`, sealed under the credential's uuid.
    pub sealed_secrets: Vec<u8>,
    pub created_at: EpochSeconds,
    pub revoked_at: Option<EpochSeconds>,
}

/// A request as its signer saw it: what the signature covers.
#[derive(Debug, Clone, Default)]
pub struct SignedRequest {
    /// `GET`, `POST`, … as sent.
    pub method: String,
    /// Base string URIs (`scheme://host[:port]/path`) the signer may have used, tried in order (the scheme and
    /// host seen through a proxy may differ from the listener's).
    pub uris: Vec<String>,
    /// Every parameter, decoded: the query string, a form-encoded body, and the protocol parameters of the
    /// `Authorization: OAuth` header (without `realm` and `oauth_signature`).
    pub params: Vec<(String, String)>,
    /// `oauth_signature`, decoded.
    pub signature: String,
}

impl SignedRequest {
    /// The value of a protocol parameter (`oauth_nonce`, …); `None` when absent or sent twice.
    pub fn oauth(&self, name: &str) -> Option<&str> {
        let mut values = self.params.iter().filter(|(k, _)| k == name);
        let first = values.next()?;
        values.next().is_none().then_some(first.1.as_str())
    }
}

/// RFC 5849 §3.6: every byte but the unreserved characters as `%XX` (upper-case hex).
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The signature base string (RFC 5849 §3.4.1): method, base string URI and the normalized parameters.
pub fn base_string(method: &str, uri: &str, params: &[(String, String)]) -> String {
    let mut encoded: Vec<(String, String)> = params.iter().map(|(k, v)| (encode(k), encode(v))).collect();
    encoded.sort();
    let normalized = encoded.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&");
    format!("{}&{}&{}", encode(&method.to_ascii_uppercase()), encode(uri), encode(&normalized))
}

/// The HMAC key: both secrets, encoded, joined by `&`.
pub fn signing_key(consumer_secret: &str, token_secret: &str) -> String {
    format!("{}&{}", encode(consumer_secret), encode(token_secret))
}

/// The protocol checks that need no secret: signature method, version, timestamp window, nonce. Returns the MAC,
/// the timestamp and the nonce.
pub fn check_protocol(req: &SignedRequest, now: EpochSeconds) -> Result<(certwright_pki::digest::Mac, i64, String)> {
    let refuse = CoreError::Unauthenticated;
    let mac = match req.oauth("oauth_signature_method") {
        Some("HMAC-SHA1") => certwright_pki::digest::Mac::HmacSha1,
        Some("HMAC-SHA256") => certwright_pki::digest::Mac::HmacSha256,
        _ => return Err(refuse("oauth_signature_method must be HMAC-SHA1 or HMAC-SHA256")),
    };
    if req.params.iter().any(|(k, v)| k == "oauth_version" && v != "1.0") {
        return Err(refuse("oauth_version must be 1.0"));
    }
    let timestamp: i64 = req
        .oauth("oauth_timestamp")
        .and_then(|t| t.parse().ok())
        .filter(|t| *t >= 0)
        .ok_or(refuse("oauth_timestamp must be one integer, seconds since 1970"))?;
    if now.abs_diff(timestamp) > TIMESTAMP_WINDOW.unsigned_abs() {
        return Err(refuse("oauth_timestamp is more than five minutes from the server's clock"));
    }
    let nonce = req
        .oauth("oauth_nonce")
        .filter(|n| !n.is_empty() && n.chars().count() <= MAX_NONCE)
        .ok_or(refuse("oauth_nonce must be one value of 1 to 128 characters"))?;
    Ok((mac, timestamp, nonce.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn the_base_string_of_rfc5849_section_3_4_1_1() {
        let p = params(&[
            ("b5", "=%3D"),
            ("a3", "a"),
            ("c@", ""),
            ("a2", "r b"),
            ("oauth_consumer_key", "9djdj82h48djs9d2"),
            ("oauth_token", "kkk9d7dh3k39sjv7"),
            ("oauth_signature_method", "HMAC-SHA1"),
            ("oauth_timestamp", "137131201"),
            ("oauth_nonce", "7d8f3e4a"),
            ("c2", ""),
            ("a3", "2 q"),
        ]);
        assert_eq!(
            base_string("POST", "http://example.com/request", &p),
            "POST&http%3A%2F%2Fexample.com%2Frequest&a2%3Dr%2520b%26a3%3D2%2520q%26a3%3Da%26b5%3D%253D%25253D%26c%2540%3D\
             %26c2%3D%26oauth_consumer_key%3D9djdj82h48djs9d2%26oauth_nonce%3D7d8f3e4a%26oauth_signature_method%3DHMAC-SHA1\
             %26oauth_timestamp%3D137131201%26oauth_token%3Dkkk9d7dh3k39sjv7"
        );
    }

    #[test]
    fn the_signature_of_rfc5849_section_1_2() {
        let p = params(&[
            ("file", "vacation.jpg"),
            ("size", "original"),
            ("oauth_consumer_key", "dpf43f3p2l4k3l03"),
            ("oauth_token", "nnch734d00sl2jdk"),
            ("oauth_signature_method", "HMAC-SHA1"),
            ("oauth_timestamp", "137131202"),
            ("oauth_nonce", "chapoH"),
        ]);
        let base = base_string("GET", "http://photos.example.net/photos", &p);
        let key = signing_key("kd94hf93k423kf44", "pfkkdhi9sl3r4s00");
        let expected = base64::engine::general_purpose::STANDARD.decode("MdpQcU8iPSUjWoN/UDMsK2sui9I=").unwrap();
        assert!(certwright_pki::digest::mac_matches(
            certwright_pki::digest::Mac::HmacSha1,
            key.as_bytes(),
            base.as_bytes(),
            &expected
        ));
        assert!(!certwright_pki::digest::mac_matches(
            certwright_pki::digest::Mac::HmacSha1,
            b"kd94hf93k423kf44&",
            base.as_bytes(),
            &expected
        ));
    }

    #[test]
    fn protocol_checks() {
        let mut req = SignedRequest {
            params: params(&[
                ("oauth_signature_method", "HMAC-SHA1"),
                ("oauth_timestamp", "1000"),
                ("oauth_nonce", "n"),
                ("oauth_version", "1.0"),
            ]),
            ..Default::default()
        };
        assert_eq!(check_protocol(&req, 1200).unwrap().1, 1000);
        assert!(check_protocol(&req, 1301).is_err(), "outside the window");
        assert!(check_protocol(&req, 699).is_err(), "from the future");
        req.params[1].1 = i64::MIN.to_string();
        assert!(check_protocol(&req, 1000).is_err(), "negative");
        req.params[1].1 = i64::MAX.to_string();
        assert!(check_protocol(&req, 1000).is_err(), "far future");
        req.params[1].1 = "1000".into();
        req.params.push(("oauth_nonce".into(), "m".into()));
        assert!(check_protocol(&req, 1000).is_err(), "a nonce sent twice");
        req.params.retain(|(k, _)| k != "oauth_nonce");
        assert!(check_protocol(&req, 1000).is_err(), "no nonce");
        req.params.push(("oauth_nonce".into(), "n".into()));
        req.params[0].1 = "PLAINTEXT".into();
        assert!(check_protocol(&req, 1000).is_err(), "plaintext signatures are refused");
        assert_eq!(encode("a b+c~é"), "a%20b%2Bc~%C3%A9");
    }
}
