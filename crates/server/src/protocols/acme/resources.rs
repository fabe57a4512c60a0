//! The ACME resources: accounts, key change, orders, finalize, authorizations, challenges, certificates,
//! revocation and renewal information — each handler reads a verified request, asks the core, and renders
//! RFC 8555's JSON with its `Location` and `Link` headers.

use super::jws::{self, Flattened, Signer, Verified};
use super::problem::{document, AcmeError};
use super::{Base, Scheme};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use certwright_core::acme::{Account, Authorization, Challenge, ChallengeStatus, ChallengeType, Identifier, Order};
use certwright_core::ca::RaProfile;
use certwright_core::clock::to_rfc3339;
use certwright_core::services::acme::{error, EabBinding, NewAccount, NewOrder, Revoker};
use certwright_core::store::Store;
use certwright_pki::jose::Jwk;
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

/// What every resource handler starts from: the directory and the URLs of this request.
pub(super) struct Call {
    state: AppState,
    base: Base,
    profile: RaProfile,
}

impl Call {
    async fn new(state: AppState, scheme: Scheme, headers: &HeaderMap, name: &str) -> Result<Self, AcmeError> {
        let base = Base::of(scheme, headers)?;
        let profile = state.services.acme_profile(name).await?;
        Ok(Call { state, base, profile })
    }

    fn url(&self, path: &str) -> String {
        self.base.url(&self.profile.name, path)
    }

    async fn verify(
        &self,
        path: &str,
        headers: &HeaderMap,
        body: &[u8],
        signer: Signer,
    ) -> Result<Verified, AcmeError> {
        jws::verify(&self.state, &self.base, &self.profile, &self.url(path), headers, body, signer).await
    }

    fn account_url(&self, account: &Account) -> String {
        self.url(&format!("acct/{}", account.uuid))
    }

    fn account_json(&self, account: &Account) -> Value {
        json!({
            "status": account.status.as_str(),
            "contact": account.contact,
            "orders": self.url(&format!("acct/{}/orders", account.uuid)),
            "createdAt": to_rfc3339(account.created_at),
        })
    }

    fn order_json(&self, order: &Order) -> Value {
        let mut body = json!({
            "status": order.status.as_str(),
            "expires": to_rfc3339(order.expires),
            "identifiers": order.identifiers,
            "authorizations": order.authorizations.iter().map(|a| self.url(&format!("authz/{a}"))).collect::<Vec<_>>(),
            "finalize": self.url(&format!("order/{}/finalize", order.uuid)),
        });
        if let Some(cert) = order.certificate_uuid {
            body["certificate"] = self.url(&format!("cert/{cert}")).into();
        }
        if let Some(e) = &order.error {
            body["error"] = document(e);
        }
        if let Some(p) = &order.profile {
            body["profile"] = p.clone().into();
        }
        if let Some(r) = &order.replaces {
            body["replaces"] = r.clone().into();
        }
        body
    }

    fn challenge_json(&self, authorization: Uuid, challenge: &Challenge) -> Value {
        let mut body = json!({
            "type": challenge.kind.as_str(),
            "url": self.url(&format!("chall/{authorization}/{}", challenge.kind.as_str())),
            "status": challenge.status.as_str(),
            "token": challenge.token,
        });
        if let Some(at) = challenge.validated {
            body["validated"] = to_rfc3339(at).into();
        }
        if let Some(e) = &challenge.error {
            body["error"] = document(e);
        }
        body
    }

    fn authorization_json(&self, a: &Authorization) -> Value {
        let mut body = json!({
            "identifier": a.identifier,
            "status": a.status.as_str(),
            "expires": to_rfc3339(a.expires),
            "challenges": a.challenges.iter().map(|c| self.challenge_json(a.uuid, c)).collect::<Vec<_>>(),
        });
        if a.wildcard {
            body["wildcard"] = true.into();
        }
        body
    }
}

fn json_response(status: StatusCode, body: Value, location: Option<String>) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    if let Some(v) = location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
}

fn link(response: &mut Response, url: &str, rel: &str) {
    if let Ok(v) = HeaderValue::from_str(&format!("<{url}>;rel=\"{rel}\"")) {
        response.headers_mut().append(header::LINK, v);
    }
}

/// A payload member holding base64url DER (padding tolerated), or `malformed` with `refusal`.
fn der_field(payload: &Value, name: &str, refusal: &str) -> Result<Vec<u8>, AcmeError> {
    payload[name]
        .as_str()
        .and_then(|c| B64.decode(c.trim_end_matches('=')).ok())
        .ok_or_else(|| AcmeError::new(error::MALFORMED, refusal))
}

fn uuid_of(id: &str, what: &str) -> Result<Uuid, AcmeError> {
    Uuid::parse_str(id).map_err(|_| AcmeError::new(error::MALFORMED, format!("no such {what}")).status(404))
}

// ---- accounts ---------------------------------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AccountPayload {
    contact: Option<Vec<String>>,
    #[serde(default)]
    terms_of_service_agreed: bool,
    #[serde(default)]
    only_return_existing: bool,
    external_account_binding: Option<Value>,
    status: Option<String>,
}

/// newAccount (RFC 8555 §7.3).
pub(super) async fn new_account(
    State(state): State<AppState>,
    Extension(scheme): Extension<Scheme>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AcmeError> {
    let call = Call::new(state, scheme, &headers, &name).await?;
    let req = call.verify("new-account", &headers, &body, Signer::Jwk).await?;
    let payload: AccountPayload = req.json()?;
    let jwk = req.jwk.clone().ok_or_else(|| AcmeError::new(error::MALFORMED, "newAccount needs a jwk"))?;
    let binding = match &payload.external_account_binding {
        Some(eab) => Some(external_binding(eab, &call.url("new-account"))?),
        None => None,
    };
    let new = NewAccount {
        jwk,
        contact: payload.contact.unwrap_or_default(),
        terms_of_service_agreed: payload.terms_of_service_agreed,
        only_return_existing: payload.only_return_existing,
        external_account_binding: binding,
    };
    let (account, created) = call.state.services.acme_new_account(&call.profile, new).await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok(json_response(status, call.account_json(&account), Some(call.account_url(&account))))
}

/// The inner JWS of an external account binding.
fn external_binding(value: &Value, url: &str) -> Result<EabBinding, AcmeError> {
    let jws = Flattened::parse(value.to_string().as_bytes())?;
    if jws.header.contains_key("nonce") {
        return Err(AcmeError::new(error::MALFORMED, "externalAccountBinding must not carry a nonce"));
    }
    let payload: Value = serde_json::from_slice(&jws.payload()?)
        .map_err(|_| AcmeError::new(error::MALFORMED, "externalAccountBinding: the payload is not a JWK"))?;
    let payload_jwk = Jwk::from_json(&payload).map_err(|e| AcmeError::new(error::MALFORMED, e.to_string()))?;
    Ok(EabBinding {
        kid: jws
            .string("kid")
            .ok_or_else(|| AcmeError::new(error::MALFORMED, "externalAccountBinding has no kid"))?
            .to_owned(),
        alg: jws.string("alg").unwrap_or_default().to_owned(),
        url_matches: jws.string("url") == Some(url),
        payload_jwk,
        signing_input: jws.signing_input(),
        mac: jws.signature.clone(),
    })
}

/// The account resource: read it (POST-as-GET or `{}`), update its contacts, or deactivate it.
pub(super) async fn account(
    State(state): State<AppState>,
    Extension(scheme): Extension<Scheme>,
    Path((name, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AcmeError> {
    let call = Call::new(state, scheme, &headers, &name).await?;
    let req = call.verify(&format!("acct/{id}"), &headers, &body, Signer::Account).await?;
    let account = req.account()?;
    if account.uuid.to_string() != id {
        return Err(AcmeError::new(error::UNAUTHORIZED, "the kid does not match the account URL"));
    }
    let payload: AccountPayload = if req.is_post_as_get() { AccountPayload::default() } else { req.json()? };
    let deactivate = match payload.status.as_deref() {
        None => false,
        Some("deactivated") => true,
        Some(other) => return Err(AcmeError::new(error::MALFORMED, format!("an account cannot be set to '{other}'"))),
    };
    let account = if payload.contact.is_some() || deactivate {
        call.state.services.acme_update_account(&call.profile, account, payload.contact, deactivate).await?
    } else {
        account.clone()
    };
    Ok(json_response(StatusCode::OK, call.account_json(&account), Some(call.account_url(&account))))
}

/// The `cursor` of an orders page: absent, or a number (anything else is a `malformed` problem, not a bare 400).
fn cursor_of(query: Option<&str>) -> Result<Option<i64>, AcmeError> {
    let Some(query) = query.filter(|q| !q.is_empty()) else { return Ok(None) };
    match query.strip_prefix("cursor=").and_then(|c| c.parse::<i64>().ok()) {
        Some(c) if c > 0 => Ok(Some(c)),
        _ => Err(AcmeError::new(error::MALFORMED, "the only query an orders list takes is cursor=<number>")),
    }
}

/// The account's orders (RFC 8555 §7.1.2.1), a page at a time with `Link: rel="next"`.
pub(super) async fn orders(
    State(state): State<AppState>,
    Extension(scheme): Extension<Scheme>,
    Path((name, id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AcmeError> {
    let call = Call::new(state, scheme, &headers, &name).await?;
    let cursor = cursor_of(query.as_deref())?;
    let path = match cursor {
        Some(c) => format!("acct/{id}/orders?cursor={c}"),
        None => format!("acct/{id}/orders"),
    };
    let req = call.verify(&path, &headers, &body, Signer::Account).await?;
    let account = req.account()?;
    if account.uuid.to_string() != id {
        return Err(AcmeError::new(error::UNAUTHORIZED, "these are another account's orders"));
    }
    let (uuids, next) = call.state.services.acme_orders_of(account, cursor).await?;
    let urls: Vec<String> = uuids.iter().map(|u| call.url(&format!("order/{u}"))).collect();
    let mut response = json_response(StatusCode::OK, json!({ "orders": urls }), None);
    if let Some(next) = next {
        link(&mut response, &call.url(&format!("acct/{id}/orders?cursor={next}")), "next");
    }
    Ok(response)
}

/// keyChange (RFC 8555 §7.3.5): the outer JWS by the account, the inner by the new key.
pub(super) async fn key_change(
    State(state): State<AppState>,
    Extension(scheme): Extension<Scheme>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AcmeError> {
    let call = Call::new(state, scheme, &headers, &name).await?;
    let req = call.verify("key-change", &headers, &body, Signer::Account).await?;
    let account = req.account()?;
    let inner = Flattened::parse(&req.payload)?;
    if inner.string("url") != Some(call.url("key-change").as_str()) {
        return Err(AcmeError::new(error::MALFORMED, "the inner JWS must have the outer url"));
    }
    if inner.header.contains_key("nonce") || inner.header.contains_key("kid") {
        return Err(AcmeError::new(error::MALFORMED, "the inner JWS must have a jwk and no nonce or kid"));
    }
    let new_key = inner
        .header
        .get("jwk")
        .ok_or_else(|| AcmeError::new(error::MALFORMED, "the inner JWS has no jwk"))
        .and_then(|v| Jwk::from_json(v).map_err(|e| AcmeError::new(error::BAD_PUBLIC_KEY, e.to_string())))?;
    inner.verify_with(&new_key)?;
    let payload: Value = serde_json::from_slice(&inner.payload()?)
        .map_err(|_| AcmeError::new(error::MALFORMED, "the inner payload is not JSON"))?;
    if payload["account"].as_str() != Some(call.account_url(account).as_str()) {
        return Err(AcmeError::new(error::MALFORMED, "the inner payload names another account"));
    }
    let old_key = Jwk::from_json(&payload["oldKey"]).map_err(|e| AcmeError::new(error::MALFORMED, e.to_string()))?;
    if old_key.thumbprint() != account.thumbprint {
        return Err(AcmeError::new(error::UNAUTHORIZED, "oldKey is not the account's current key"));
    }
    match call.state.services.acme_change_key(&call.profile, account, &new_key).await {
        Ok(updated) => Ok(json_response(StatusCode::OK, call.account_json(&updated), Some(call.account_url(&updated)))),
        Err(certwright_core::CoreError::Conflict { code: "acme.key_in_use", message }) => {
            let mut response = AcmeError::new(error::MALFORMED, message).status(409).into_response();
            let other = call.state.services.store().acme_account_by_key(call.profile.id, &new_key.thumbprint()).await;
            if let Some(v) = other.ok().flatten().and_then(|a| HeaderValue::from_str(&call.account_url(&a)).ok()) {
                response.headers_mut().insert(header::LOCATION, v);
            }
            Ok(response)
        }
        Err(e) => Err(e.into()),
    }
}

// ---- orders -----------------------------------------------------------------------------------------------------

fn identifiers(value: &Value) -> Result<Vec<Identifier>, AcmeError> {
    let list = value.as_array().ok_or_else(|| AcmeError::new(error::MALFORMED, "identifiers must be an array"))?;
    list.iter()
        .map(|i| {
            let text =
                i["value"].as_str().ok_or_else(|| AcmeError::new(error::MALFORMED, "an identifier has no value"))?;
            match i["type"].as_str() {
                Some("dns") => Ok(Identifier::Dns(text.to_owned())),
                Some("ip") => text
                    .parse()
                    .map(Identifier::Ip)
                    .map_err(|_| AcmeError::new(error::MALFORMED, format!("'{text}' is not an IP address"))),
                other => Err(AcmeError::new(
                    error::UNSUPPORTED_IDENTIFIER,
                    format!("identifier type {} is not supported (dns and ip are)", other.unwrap_or("(none)")),
                )),
            }
        })
        .collect()
}

/// newOrder (RFC 8555 §7.4), with `profile` and ARI's `replaces`.
pub(super) async fn new_order(
    State(state): State<AppState>,
    Extension(scheme): Extension<Scheme>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AcmeError> {
    let call = Call::new(state, scheme, &headers, &name).await?;
    let req = call.verify("new-order", &headers, &body, Signer::Account).await?;
    let account = req.account()?;
    let payload: Value = req.json()?;
    let text = |name: &str| payload.get(name).and_then(Value::as_str).map(str::to_owned);
    let new = NewOrder {
        identifiers: identifiers(&payload["identifiers"])?,
        not_before: text("notBefore"),
        not_after: text("notAfter"),
        profile: text("profile"),
        replaces: text("replaces"),
    };
    let order = call.state.services.acme_new_order(&call.profile, account, new).await?;
    Ok(json_response(StatusCode::CREATED, call.order_json(&order), Some(call.url(&format!("order/{}", order.uuid)))))
}

/// An order (POST-as-GET).
pub(super) async fn order(
    State(state): State<AppState>,
    Extension(scheme): Extension<Scheme>,
    Path((name, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AcmeError> {
    let call = Call::new(state, scheme, &headers, &name).await?;
    let req = call.verify(&format!("order/{id}"), &headers, &body, Signer::Account).await?;
    let order = call.state.services.acme_order(req.account()?, uuid_of(&id, "order")?).await?;
    Ok(json_response(StatusCode::OK, call.order_json(&order), Some(call.url(&format!("order/{id}")))))
}

/// finalize (RFC 8555 §7.4): `{"csr": base64url(DER)}`.
pub(super) async fn finalize(
    State(state): State<AppState>,
    Extension(scheme): Extension<Scheme>,
    Path((name, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AcmeError> {
    let call = Call::new(state, scheme, &headers, &name).await?;
    let req = call.verify(&format!("order/{id}/finalize"), &headers, &body, Signer::Account).await?;
    let payload: Value = req.json()?;
    let csr = der_field(&payload, "csr", "csr must be the base64url DER of a PKCS#10 request")?;
    let order = call.state.services.acme_finalize(&call.profile, req.account()?, uuid_of(&id, "order")?, &csr).await?;
    Ok(json_response(StatusCode::OK, call.order_json(&order), Some(call.url(&format!("order/{id}")))))
}

// ---- authorizations and challenges ------------------------------------------------------------------------------

/// An authorization (POST-as-GET), or its deactivation (`{"status": "deactivated"}`).
pub(super) async fn authorization(
    State(state): State<AppState>,
    Extension(scheme): Extension<Scheme>,
    Path((name, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AcmeError> {
    let call = Call::new(state, scheme, &headers, &name).await?;
    let req = call.verify(&format!("authz/{id}"), &headers, &body, Signer::Account).await?;
    let account = req.account()?;
    let uuid = uuid_of(&id, "authorization")?;
    let authorization = if req.is_post_as_get() {
        call.state.services.acme_authorization(account, uuid).await?
    } else {
        let payload: Value = req.json()?;
        match payload["status"].as_str() {
            Some("deactivated") => {
                call.state.services.acme_deactivate_authorization(&call.profile, account, uuid).await?
            }
            None => call.state.services.acme_authorization(account, uuid).await?,
            Some(other) => {
                return Err(AcmeError::new(error::MALFORMED, format!("an authorization cannot be set to '{other}'")))
            }
        }
    };
    let mut response = json_response(StatusCode::OK, call.authorization_json(&authorization), None);
    if authorization.challenges.iter().any(|c| c.status == ChallengeStatus::Processing) {
        retry_soon(&mut response);
    }
    Ok(response)
}

/// A challenge: POST-as-GET reads it; any JSON object (`{}`) asks for validation.
pub(super) async fn challenge(
    State(state): State<AppState>,
    Extension(scheme): Extension<Scheme>,
    Path((name, id, kind)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AcmeError> {
    let call = Call::new(state, scheme, &headers, &name).await?;
    let req = call.verify(&format!("chall/{id}/{kind}"), &headers, &body, Signer::Account).await?;
    let account = req.account()?;
    let uuid = uuid_of(&id, "challenge")?;
    let kind =
        ChallengeType::parse(&kind).ok_or_else(|| AcmeError::new(error::MALFORMED, "no such challenge").status(404))?;
    let (authorization, challenge) = if req.is_post_as_get() {
        let a = call.state.services.acme_authorization(account, uuid).await?;
        let c = a
            .challenges
            .iter()
            .find(|c| c.kind == kind)
            .cloned()
            .ok_or_else(|| AcmeError::new(error::MALFORMED, "no such challenge").status(404))?;
        (a, c)
    } else {
        let _: Value = req.json()?;
        let account_url = call.account_url(account);
        call.state.services.acme_respond_challenge(&call.profile, account, &account_url, uuid, kind).await?
    };
    let mut response = json_response(StatusCode::OK, call.challenge_json(authorization.uuid, &challenge), None);
    link(&mut response, &call.url(&format!("authz/{}", authorization.uuid)), "up");
    if challenge.status == ChallengeStatus::Processing {
        retry_soon(&mut response);
    }
    Ok(response)
}

/// `Retry-After: 1` on a challenge being validated (RFC 8555 §8.2): validation takes about a second here, and
/// clients that find no Retry-After wait longer (lego 5 s) before they look again.
fn retry_soon(response: &mut Response) {
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
}

// ---- certificates -----------------------------------------------------------------------------------------------

async fn certificate_chain(
    call: Call,
    id: &str,
    path: String,
    headers: HeaderMap,
    body: Bytes,
    with_root: bool,
) -> Result<Response, AcmeError> {
    let req = call.verify(&path, &headers, &body, Signer::Account).await?;
    let (record, chain) = call.state.services.acme_certificate(req.account()?, uuid_of(id, "certificate")?).await?;
    let mut pem = certwright_pki::pem::encode("CERTIFICATE", &record.der);
    let mut chain = chain;
    // The root is the last of the chain; clients have it already unless they ask for the alternate chain.
    if !with_root && chain.len() > 1 {
        chain.pop();
    }
    for der in &chain {
        pem.push_str(&certwright_pki::pem::encode("CERTIFICATE", der));
    }
    let mut response = (StatusCode::OK, pem).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/pem-certificate-chain"));
    let alternate = if with_root { call.url(&format!("cert/{id}")) } else { call.url(&format!("cert/{id}/1")) };
    link(&mut response, &alternate, "alternate");
    Ok(response)
}

/// The certificate with its chain up to (not including) the root.
pub(super) async fn certificate(
    State(state): State<AppState>,
    Extension(scheme): Extension<Scheme>,
    Path((name, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AcmeError> {
    let call = Call::new(state, scheme, &headers, &name).await?;
    certificate_chain(call, &id, format!("cert/{id}"), headers, body, false).await
}

/// The alternate chain: the same certificate with the root included.
pub(super) async fn certificate_alternate(
    State(state): State<AppState>,
    Extension(scheme): Extension<Scheme>,
    Path((name, id, alternate)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AcmeError> {
    if alternate != "1" {
        return Err(AcmeError::new(error::MALFORMED, "no such chain").status(404));
    }
    let call = Call::new(state, scheme, &headers, &name).await?;
    certificate_chain(call, &id, format!("cert/{id}/1"), headers, body, true).await
}

/// revokeCert (RFC 8555 §7.6), signed by the account or by the certificate's key.
pub(super) async fn revoke(
    State(state): State<AppState>,
    Extension(scheme): Extension<Scheme>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AcmeError> {
    let call = Call::new(state, scheme, &headers, &name).await?;
    let req = call.verify("revoke-cert", &headers, &body, Signer::Either).await?;
    let payload: Value = req.json()?;
    let der = der_field(&payload, "certificate", "certificate must be the base64url DER of the certificate")?;
    let reason = match &payload["reason"] {
        Value::Null => None,
        v => Some(
            v.as_u64()
                .and_then(|r| u8::try_from(r).ok())
                .ok_or_else(|| AcmeError::new(error::BAD_REVOCATION_REASON, "reason must be a CRL reason code"))?,
        ),
    };
    let revoker = match (&req.account, &req.jwk) {
        (Some(account), _) => Revoker::Account(account),
        (None, Some(jwk)) => Revoker::CertificateKey(jwk),
        (None, None) => return Err(AcmeError::new(error::MALFORMED, "revokeCert must be signed")),
    };
    call.state.services.acme_revoke(&call.profile, revoker, &der, reason).await?;
    Ok(StatusCode::OK.into_response())
}

/// renewalInfo (RFC 9773 §4): the suggested window of a certificate, unauthenticated.
pub(super) async fn renewal_info(
    State(state): State<AppState>,
    Path((name, cert_id)): Path<(String, String)>,
) -> Result<Response, AcmeError> {
    state.services.acme_profile(&name).await?;
    let (window, _) = state.services.acme_renewal_info(&cert_id).await?;
    let body = json!({ "suggestedWindow": { "start": to_rfc3339(window.start), "end": to_rfc3339(window.end) } });
    let mut response = json_response(StatusCode::OK, body, None);
    if let Ok(v) = HeaderValue::from_str(&window.retry_after.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    Ok(response)
}
