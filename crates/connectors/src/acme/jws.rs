//! The ACME account key and the JSON Web Signatures made with it: ES256 (P-256) keys kept as PKCS#8, their JWK
//! and RFC 7638 thumbprint, flattened JWS objects (RFC 7515 §7.2.2) with a `jwk` or a `kid`, and the HS256
//! external account binding of RFC 8555 §7.3.4.

use super::AcmeError;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use aws_lc_rs::{digest, hmac};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use serde_json::{json, Value};
use std::fmt;
use std::sync::Arc;
use zeroize::Zeroizing;

/// An ACME account key: ECDSA P-256, signing with ES256.
///
/// Cheap to clone (the key pair is shared). Persist it with [`AccountKey::to_pkcs8`] and load it back with
/// [`AccountKey::from_pkcs8`]; the account URL alone is useless without it.
#[derive(Clone)]
pub struct AccountKey {
    pair: Arc<EcdsaKeyPair>,
    pkcs8: Arc<Zeroizing<Vec<u8>>>,
}

impl fmt::Debug for AccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccountKey").field("thumbprint", &self.thumbprint()).finish_non_exhaustive()
    }
}

impl AccountKey {
    /// Generates a new P-256 account key from the system's random source.
    pub fn generate() -> Result<Self, AcmeError> {
        let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
            .map_err(|_| AcmeError::Key("could not generate a P-256 key".into()))?;
        Self::from_pkcs8(doc.as_ref())
    }

    /// Loads a P-256 key from its PKCS#8 DER encoding (as written by [`AccountKey::to_pkcs8`] or
    /// `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -outform DER`).
    pub fn from_pkcs8(der: &[u8]) -> Result<Self, AcmeError> {
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
            .map_err(|_| AcmeError::Key("the account key is not a PKCS#8 ECDSA P-256 key".into()))?;
        let pkcs8 =
            pair.to_pkcs8v1().map_err(|_| AcmeError::Key("could not encode the account key as PKCS#8".into()))?;
        Ok(AccountKey { pair: Arc::new(pair), pkcs8: Arc::new(Zeroizing::new(pkcs8.as_ref().to_vec())) })
    }

    /// The key as PKCS#8 DER (secret: store it sealed).
    pub fn to_pkcs8(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(self.pkcs8.as_slice().to_vec())
    }

    /// The affine coordinates `(x, y)`, base64url-encoded, from the uncompressed public point.
    fn coordinates(&self) -> (String, String) {
        let point = self.pair.public_key().as_ref();
        // An uncompressed P-256 point is 0x04 || x (32) || y (32).
        let (x, y) = match point.get(1..) {
            Some(xy) if xy.len() == 64 => xy.split_at(32),
            _ => (&[][..], &[][..]),
        };
        (B64.encode(x), B64.encode(y))
    }

    /// The public key as a JWK (RFC 7517): `{"crv":"P-256","kty":"EC","x":…,"y":…}`.
    pub fn jwk(&self) -> Value {
        let (x, y) = self.coordinates();
        json!({ "crv": "P-256", "kty": "EC", "x": x, "y": y })
    }

    /// The RFC 7638 JWK thumbprint: base64url(SHA-256 of the JWK's required members in lexicographic order).
    pub fn thumbprint(&self) -> String {
        let (x, y) = self.coordinates();
        let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
        B64.encode(digest::digest(&digest::SHA256, canonical.as_bytes()))
    }

    /// The key authorization for a challenge token (RFC 8555 §8.1): `token || '.' || thumbprint`.
    pub fn key_authorization(&self, token: &str) -> String {
        format!("{token}.{}", self.thumbprint())
    }

    /// Signs `payload` (`None` for POST-as-GET's empty payload) into a flattened JWS with ES256.
    pub(crate) fn sign(
        &self,
        signer: Signer<'_>,
        nonce: &str,
        url: &str,
        payload: Option<&Value>,
    ) -> Result<Value, AcmeError> {
        let mut protected = json!({ "alg": "ES256", "nonce": nonce, "url": url });
        match signer {
            Signer::Jwk => protected["jwk"] = self.jwk(),
            Signer::Kid(kid) => protected["kid"] = Value::String(kid.to_string()),
        }
        let protected = B64.encode(protected.to_string());
        let payload = match payload {
            Some(p) => B64.encode(p.to_string()),
            None => String::new(),
        };
        let signing_input = format!("{protected}.{payload}");
        let sig = self
            .pair
            .sign(&SystemRandom::new(), signing_input.as_bytes())
            .map_err(|_| AcmeError::Key("ES256 signing failed".into()))?;
        Ok(json!({ "protected": protected, "payload": payload, "signature": B64.encode(sig.as_ref()) }))
    }
}

/// Which key identification goes into a JWS's protected header.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Signer<'a> {
    /// The full public key, for newAccount (and revocation by certificate key).
    Jwk,
    /// The account URL, for every request of an existing account.
    Kid(&'a str),
}

/// An external account binding (RFC 8555 §7.3.4): the key identifier and MAC key a CA hands out of band.
#[derive(Clone)]
pub struct ExternalAccountBinding {
    /// The key identifier the CA gave (`kid`).
    pub kid: String,
    /// The raw HMAC key (the CA usually shows it base64url-encoded: see
    /// [`ExternalAccountBinding::from_base64url`]).
    pub hmac_key: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for ExternalAccountBinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExternalAccountBinding").field("kid", &self.kid).field("hmac_key", &"<redacted>").finish()
    }
}

impl ExternalAccountBinding {
    /// A binding from the key identifier and the MAC key as CAs print it: base64url, with or without padding.
    pub fn from_base64url(kid: impl Into<String>, hmac_key_b64: &str) -> Result<Self, AcmeError> {
        let trimmed = hmac_key_b64.trim().trim_end_matches('=');
        let key =
            B64.decode(trimmed).map_err(|_| AcmeError::Key("the external account MAC key is not base64url".into()))?;
        if key.is_empty() {
            return Err(AcmeError::Key("the external account MAC key is empty".into()));
        }
        Ok(ExternalAccountBinding { kid: kid.into(), hmac_key: Zeroizing::new(key) })
    }

    /// The `externalAccountBinding` member: a flattened JWS over the account JWK, HS256 with the MAC key, whose
    /// protected header carries the EAB `kid` and the newAccount URL (no nonce).
    pub(crate) fn binding(&self, account_jwk: &Value, new_account_url: &str) -> Value {
        let protected = B64.encode(json!({ "alg": "HS256", "kid": self.kid, "url": new_account_url }).to_string());
        let payload = B64.encode(account_jwk.to_string());
        let key = hmac::Key::new(hmac::HMAC_SHA256, &self.hmac_key);
        let tag = hmac::sign(&key, format!("{protected}.{payload}").as_bytes());
        json!({ "protected": protected, "payload": payload, "signature": B64.encode(tag.as_ref()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED};

    #[test]
    fn pkcs8_round_trip_keeps_the_thumbprint() {
        let key = AccountKey::generate().unwrap();
        let again = AccountKey::from_pkcs8(&key.to_pkcs8()).unwrap();
        assert_eq!(key.thumbprint(), again.thumbprint());
        assert_eq!(key.thumbprint().len(), 43, "base64url of 32 bytes");
    }

    #[test]
    fn rfc7638_thumbprint_is_over_the_sorted_members() {
        let key = AccountKey::generate().unwrap();
        let jwk = key.jwk();
        let canonical = format!(
            "{{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"{}\",\"y\":\"{}\"}}",
            jwk["x"].as_str().unwrap(),
            jwk["y"].as_str().unwrap()
        );
        let expected = B64.encode(digest::digest(&digest::SHA256, canonical.as_bytes()));
        assert_eq!(key.thumbprint(), expected);
        assert_eq!(key.key_authorization("tok"), format!("tok.{expected}"));
    }

    #[test]
    fn flattened_jws_verifies_with_the_jwk() {
        let key = AccountKey::generate().unwrap();
        let jws = key.sign(Signer::Jwk, "n0nce", "https://ca/new-acct", Some(&json!({"a": 1}))).unwrap();
        let protected: Value =
            serde_json::from_slice(&B64.decode(jws["protected"].as_str().unwrap()).unwrap()).unwrap();
        assert_eq!(protected["alg"], "ES256");
        assert_eq!(protected["nonce"], "n0nce");
        assert_eq!(protected["jwk"], key.jwk());
        assert!(protected.get("kid").is_none());
        let input = format!("{}.{}", jws["protected"].as_str().unwrap(), jws["payload"].as_str().unwrap());
        let sig = B64.decode(jws["signature"].as_str().unwrap()).unwrap();
        assert_eq!(sig.len(), 64, "ES256 signatures are r || s");
        let public = key.pair.public_key().as_ref().to_vec();
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, public).verify(input.as_bytes(), &sig).unwrap();
    }

    #[test]
    fn post_as_get_has_an_empty_payload_and_a_kid() {
        let key = AccountKey::generate().unwrap();
        let jws = key.sign(Signer::Kid("https://ca/acct/1"), "n", "https://ca/order/1", None).unwrap();
        assert_eq!(jws["payload"], "");
        let protected: Value =
            serde_json::from_slice(&B64.decode(jws["protected"].as_str().unwrap()).unwrap()).unwrap();
        assert_eq!(protected["kid"], "https://ca/acct/1");
        assert!(protected.get("jwk").is_none());
    }

    #[test]
    fn eab_key_accepts_padded_and_unpadded_base64url() {
        assert_eq!(*ExternalAccountBinding::from_base64url("k", "AAEC").unwrap().hmac_key, vec![0, 1, 2]);
        assert_eq!(*ExternalAccountBinding::from_base64url("k", "AAE=").unwrap().hmac_key, vec![0, 1]);
        assert!(ExternalAccountBinding::from_base64url("k", "not base64!").is_err());
        assert!(format!("{:?}", ExternalAccountBinding::from_base64url("k", "AAEC").unwrap()).contains("redacted"));
    }
}
