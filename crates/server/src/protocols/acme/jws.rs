//! Reading an ACME request (RFC 8555 §6.2–6.5): the flattened JWS, its protected header (`alg`, `nonce`, `url`,
//! and `jwk` or `kid`), the signature, the nonce, and the payload — JSON, or empty for POST-as-GET.

use super::problem::AcmeError;
use super::Base;
use crate::state::AppState;
use axum::http::{header, HeaderMap};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use certwright_core::acme::Account;
use certwright_core::ca::RaProfile;
use certwright_core::services::acme::error;
use certwright_pki::jose::{Jwk, JwsAlgorithm};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use uuid::Uuid;

/// Which key a request must be signed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signer {
    /// A `jwk` in the header: newAccount.
    Jwk,
    /// A `kid` naming an existing account: everything else.
    Account,
    /// Either: revokeCert.
    Either,
}

/// A request whose signature, URL and nonce checked out.
#[derive(Debug)]
pub(crate) struct Verified {
    /// The account of a `kid` request.
    pub account: Option<Account>,
    /// The key of a `jwk` request.
    pub jwk: Option<Jwk>,
    /// The decoded payload; empty for POST-as-GET.
    pub payload: Vec<u8>,
}

impl Verified {
    /// The signing account (present for every [`Signer::Account`] request).
    pub fn account(&self) -> Result<&Account, AcmeError> {
        self.account.as_ref().ok_or_else(|| AcmeError::new(error::MALFORMED, "this request must be signed with kid"))
    }

    /// Whether this is a POST-as-GET.
    pub fn is_post_as_get(&self) -> bool {
        self.payload.is_empty()
    }

    /// The payload as a JSON document of type `T`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, AcmeError> {
        serde_json::from_slice(&self.payload)
            .map_err(|e| AcmeError::new(error::MALFORMED, format!("the payload is not the expected JSON: {e}")))
    }
}

fn malformed(detail: impl Into<String>) -> AcmeError {
    AcmeError::new(error::MALFORMED, detail)
}

/// The three members of a flattened JWS, still encoded.
pub(crate) struct Flattened {
    pub protected_b64: String,
    pub payload_b64: String,
    pub signature: Vec<u8>,
    pub header: Map<String, Value>,
}

impl Flattened {
    pub fn parse(body: &[u8]) -> Result<Self, AcmeError> {
        let value: Value = serde_json::from_slice(body).map_err(|_| malformed("the body is not a JSON object"))?;
        let object = value.as_object().ok_or_else(|| malformed("the body is not a JSON object"))?;
        if object.contains_key("signatures") || object.contains_key("header") {
            return Err(malformed("only the flattened JWS serialization with a protected header is accepted"));
        }
        let member = |name: &str| {
            object
                .get(name)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| malformed(format!("the JWS has no \"{name}\"")))
        };
        let protected_b64 = member("protected")?;
        let payload_b64 = member("payload")?;
        let signature =
            B64.decode(member("signature")?).map_err(|_| malformed("the JWS signature is not base64url"))?;
        let header_bytes =
            B64.decode(&protected_b64).map_err(|_| malformed("the protected header is not base64url"))?;
        let header: Map<String, Value> = serde_json::from_slice(&header_bytes)
            .map_err(|_| malformed("the protected header is not a JSON object"))?;
        // RFC 7515 §4.1.11: no extension is understood here, so none may be critical.
        if header.contains_key("crit") {
            return Err(malformed("the protected header names critical extensions (crit), which are not supported"));
        }
        Ok(Flattened { protected_b64, payload_b64, signature, header })
    }

    pub fn string(&self, name: &str) -> Option<&str> {
        self.header.get(name).and_then(Value::as_str)
    }

    pub fn signing_input(&self) -> Vec<u8> {
        format!("{}.{}", self.protected_b64, self.payload_b64).into_bytes()
    }

    pub fn payload(&self) -> Result<Vec<u8>, AcmeError> {
        B64.decode(&self.payload_b64).map_err(|_| malformed("the payload is not base64url"))
    }

    /// The `alg`, which must be one we verify.
    pub fn algorithm(&self) -> Result<JwsAlgorithm, AcmeError> {
        let alg = self.string("alg").ok_or_else(|| malformed("the protected header has no alg"))?;
        JwsAlgorithm::parse(alg).ok_or_else(|| {
            AcmeError::new(error::BAD_SIGNATURE_ALGORITHM, format!("alg '{alg}' is not accepted"))
                .with("algorithms", JwsAlgorithm::NAMES.to_vec().into())
        })
    }

    /// Checks the signature with `key`.
    pub fn verify_with(&self, key: &Jwk) -> Result<(), AcmeError> {
        let alg = self.algorithm()?;
        key.verify(alg, &self.signing_input(), &self.signature)
            .map_err(|e| malformed(format!("JWS verification error: {e}")))
    }
}

/// Verifies a POST to `url` of the directory `profile`.
pub(crate) async fn verify(
    state: &AppState,
    base: &Base,
    profile: &RaProfile,
    url: &str,
    headers: &HeaderMap,
    body: &[u8],
    signer: Signer,
) -> Result<Verified, AcmeError> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if !content_type.trim().eq_ignore_ascii_case("application/jose+json") {
        return Err(malformed("requests must have Content-Type application/jose+json").status(415));
    }
    let jws = Flattened::parse(body)?;
    jws.algorithm()?;
    if jws.string("url") != Some(url) {
        return Err(AcmeError::new(error::UNAUTHORIZED, format!("the JWS url header must be the request URL ({url})")));
    }
    let nonce = jws.string("nonce").ok_or_else(|| AcmeError::new(error::BAD_NONCE, "the JWS has no nonce"))?.to_owned();
    let (jwk, kid) = (jws.header.get("jwk"), jws.string("kid"));
    let (account, jwk) = match (jwk, kid, signer) {
        (Some(_), Some(_), _) => return Err(malformed("the protected header must have jwk or kid, not both")),
        (Some(jwk), None, Signer::Jwk | Signer::Either) => {
            let key = Jwk::from_json(jwk).map_err(|e| AcmeError::new(error::BAD_PUBLIC_KEY, e.to_string()))?;
            jws.verify_with(&key)?;
            (None, Some(key))
        }
        (None, Some(kid), Signer::Account | Signer::Either) => {
            let account = account_of_kid(state, base, profile, kid).await?;
            let key = stored_key(&account)?;
            jws.verify_with(&key)?;
            (Some(account), None)
        }
        (Some(_), None, Signer::Account) => return Err(malformed("this request must be signed with kid, not jwk")),
        (None, Some(_), Signer::Jwk) => return Err(malformed("this request must be signed with jwk, not kid")),
        (None, None, _) => return Err(malformed("the protected header has neither jwk nor kid")),
    };
    state.services.acme_redeem_nonce(&nonce).await?;
    Ok(Verified { account, jwk, payload: jws.payload()? })
}

/// The account a `kid` names: an account URL of this directory.
async fn account_of_kid(state: &AppState, base: &Base, profile: &RaProfile, kid: &str) -> Result<Account, AcmeError> {
    let prefix = base.url(&profile.name, "acct/");
    let uuid = kid.strip_prefix(&prefix).and_then(|id| Uuid::parse_str(id).ok()).ok_or_else(|| {
        AcmeError::new(error::ACCOUNT_DOES_NOT_EXIST, format!("kid '{kid}' is not an account URL of this directory"))
    })?;
    Ok(state.services.acme_account(profile, uuid).await?)
}

/// The current key of an account.
pub(crate) fn stored_key(account: &Account) -> Result<Jwk, AcmeError> {
    let value: Value = serde_json::from_str(&account.jwk)
        .map_err(|_| AcmeError::new(error::SERVER_INTERNAL, "the stored account key is unreadable"))?;
    Jwk::from_json(&value).map_err(|_| AcmeError::new(error::SERVER_INTERNAL, "the stored account key is unreadable"))
}
