//! The OpenAPI document of the ACME face, served at `/acme/openapi.json`. RFC 8555 defines the protocol; this
//! document lists the routes of [`super::router`] with their bodies and problem types, so that a reader (or a
//! gateway) finds every resource in one place. A test checks every routed path is listed.

#![allow(dead_code)] // The structs and functions here exist for their annotations.

use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

/// `GET /acme/openapi.json`.
pub async fn document() -> impl IntoResponse {
    axum::Json(AcmeDoc::openapi())
}

/// A flattened JWS (RFC 7515 §7.2.2), `Content-Type: application/jose+json`. The protected header carries `alg`
/// (RS256, ES256, ES384, ES512, EdDSA), `nonce`, `url` (the request URL) and `jwk` (newAccount, revokeCert with
/// the certificate key) or `kid` (the account URL). An empty `payload` is a POST-as-GET.
#[derive(Serialize, ToSchema)]
struct Jws {
    protected: String,
    payload: String,
    signature: String,
}

/// An ACME problem document (`application/problem+json`), RFC 8555 §6.7. `type` is
/// `urn:ietf:params:acme:error:<malformed|badNonce|badSignatureAlgorithm|badPublicKey|badCSR|badRevocationReason|
/// invalidContact|unsupportedContact|rejectedIdentifier|unsupportedIdentifier|invalidProfile|accountDoesNotExist|
/// unauthorized|userActionRequired|externalAccountRequired|orderNotReady|alreadyRevoked|alreadyReplaced|
/// serverInternal|connection|dns|tls|incorrectResponse|caa>`.
#[derive(Serialize, ToSchema)]
struct AcmeProblem {
    #[serde(rename = "type")]
    kind: String,
    detail: String,
    status: u16,
    /// One per refused identifier (`rejectedIdentifier`).
    subproblems: Option<Vec<serde_json::Value>>,
    /// The accepted algorithms (`badSignatureAlgorithm`).
    algorithms: Option<Vec<String>>,
}

/// The directory (RFC 8555 §7.1.1).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct Directory {
    new_nonce: String,
    new_account: String,
    new_order: String,
    revoke_cert: String,
    key_change: String,
    /// RFC 9773.
    renewal_info: String,
    /// termsOfService, website, caaIdentities, externalAccountRequired, profiles (name → description).
    meta: serde_json::Value,
}

/// An account (RFC 8555 §7.1.2).
#[derive(Serialize, ToSchema)]
struct Account {
    /// `valid`, `deactivated`, `revoked`.
    status: String,
    contact: Vec<String>,
    orders: String,
}

/// An order (RFC 8555 §7.1.3), with the profiles draft's `profile` and RFC 9773's `replaces`.
#[derive(Serialize, ToSchema)]
struct Order {
    /// `pending`, `ready`, `processing`, `valid`, `invalid`.
    status: String,
    expires: String,
    /// `{"type": "dns"|"ip", "value"}`.
    identifiers: Vec<serde_json::Value>,
    authorizations: Vec<String>,
    finalize: String,
    certificate: Option<String>,
    error: Option<AcmeProblem>,
    profile: Option<String>,
    replaces: Option<String>,
}

/// An authorization (RFC 8555 §7.1.4).
#[derive(Serialize, ToSchema)]
struct Authorization {
    identifier: serde_json::Value,
    /// `pending`, `valid`, `invalid`, `deactivated`, `expired`, `revoked`.
    status: String,
    expires: String,
    challenges: Vec<Challenge>,
    wildcard: Option<bool>,
}

/// A challenge (RFC 8555 §8): `http-01`, `dns-01`, `tls-alpn-01`.
#[derive(Serialize, ToSchema)]
struct Challenge {
    #[serde(rename = "type")]
    kind: String,
    url: String,
    /// `pending`, `processing`, `valid`, `invalid`.
    status: String,
    token: String,
    validated: Option<String>,
    error: Option<AcmeProblem>,
}

/// The account's orders (RFC 8555 §7.1.2.1); more pages are named by `Link: rel="next"`.
#[derive(Serialize, ToSchema)]
struct Orders {
    orders: Vec<String>,
}

/// Renewal information (RFC 9773 §4.2), with `Retry-After`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct RenewalInfo {
    /// `{"start", "end"}`, RFC 3339.
    suggested_window: serde_json::Value,
}

#[utoipa::path(get, path = "/acme/{profile}/directory", tag = "acme", params(("profile" = String, Path)),
    responses((status = 200, body = Directory), (status = 404, body = AcmeProblem, description = "no such directory")))]
fn directory() {}

#[utoipa::path(head, path = "/acme/{profile}/new-nonce", tag = "acme", params(("profile" = String, Path)),
    responses((status = 200, description = "`Replay-Nonce` header"), (status = 204, description = "to GET")))]
fn new_nonce() {}

#[utoipa::path(post, path = "/acme/{profile}/new-account", tag = "acme", params(("profile" = String, Path)),
    request_body(content = Jws, content_type = "application/jose+json",
        description = "signed with `jwk`; payload `{contact, termsOfServiceAgreed, onlyReturnExisting, externalAccountBinding}`"),
    responses((status = 201, body = Account, description = "created; `Location` is the account URL"),
              (status = 200, body = Account, description = "the key's existing account"),
              (status = 400, body = AcmeProblem), (status = 403, body = AcmeProblem)))]
fn new_account() {}

#[utoipa::path(post, path = "/acme/{profile}/acct/{id}", tag = "acme",
    params(("profile" = String, Path), ("id" = uuid::Uuid, Path)),
    request_body(content = Jws, content_type = "application/jose+json",
        description = "POST-as-GET, `{contact}` or `{\"status\": \"deactivated\"}`"),
    responses((status = 200, body = Account), (status = 400, body = AcmeProblem), (status = 403, body = AcmeProblem)))]
fn account() {}

#[utoipa::path(post, path = "/acme/{profile}/acct/{id}/orders", tag = "acme",
    params(("profile" = String, Path), ("id" = uuid::Uuid, Path), ("cursor" = Option<i64>, Query)),
    request_body(content = Jws, content_type = "application/jose+json", description = "POST-as-GET"),
    responses((status = 200, body = Orders), (status = 400, body = AcmeProblem), (status = 403, body = AcmeProblem)))]
fn orders() {}

#[utoipa::path(post, path = "/acme/{profile}/key-change", tag = "acme", params(("profile" = String, Path)),
    request_body(content = Jws, content_type = "application/jose+json",
        description = "payload: an inner JWS signed with the new key (`jwk`, same `url`, no nonce) over `{account, oldKey}`"),
    responses((status = 200, body = Account), (status = 409, body = AcmeProblem, description = "the new key has an account"),
              (status = 400, body = AcmeProblem), (status = 403, body = AcmeProblem)))]
fn key_change() {}

#[utoipa::path(post, path = "/acme/{profile}/new-order", tag = "acme", params(("profile" = String, Path)),
    request_body(content = Jws, content_type = "application/jose+json",
        description = "payload `{identifiers, profile?, replaces?}`"),
    responses((status = 201, body = Order, description = "`Location` is the order URL"),
              (status = 400, body = AcmeProblem), (status = 403, body = AcmeProblem),
              (status = 409, body = AcmeProblem, description = "alreadyReplaced")))]
fn new_order() {}

#[utoipa::path(post, path = "/acme/{profile}/order/{id}", tag = "acme",
    params(("profile" = String, Path), ("id" = uuid::Uuid, Path)),
    request_body(content = Jws, content_type = "application/jose+json", description = "POST-as-GET"),
    responses((status = 200, body = Order), (status = 404, body = AcmeProblem)))]
fn order() {}

#[utoipa::path(post, path = "/acme/{profile}/order/{id}/finalize", tag = "acme",
    params(("profile" = String, Path), ("id" = uuid::Uuid, Path)),
    request_body(content = Jws, content_type = "application/jose+json", description = "payload `{csr}` (base64url DER)"),
    responses((status = 200, body = Order), (status = 400, body = AcmeProblem, description = "badCSR, rejectedIdentifier"),
              (status = 403, body = AcmeProblem, description = "orderNotReady")))]
fn finalize() {}

#[utoipa::path(post, path = "/acme/{profile}/authz/{id}", tag = "acme",
    params(("profile" = String, Path), ("id" = uuid::Uuid, Path)),
    request_body(content = Jws, content_type = "application/jose+json",
        description = "POST-as-GET, or `{\"status\": \"deactivated\"}`"),
    responses((status = 200, body = Authorization), (status = 404, body = AcmeProblem)))]
fn authorization() {}

#[utoipa::path(post, path = "/acme/{profile}/chall/{id}/{kind}", tag = "acme",
    params(("profile" = String, Path), ("id" = uuid::Uuid, Path, description = "the authorization"),
           ("kind" = String, Path, description = "`http-01`, `dns-01` or `tls-alpn-01`")),
    request_body(content = Jws, content_type = "application/jose+json",
        description = "`{}` asks for validation; POST-as-GET reads"),
    responses((status = 200, body = Challenge, description = "`Link: rel=\"up\"` names the authorization"),
              (status = 404, body = AcmeProblem)))]
fn challenge() {}

#[utoipa::path(post, path = "/acme/{profile}/cert/{id}", tag = "acme",
    params(("profile" = String, Path), ("id" = uuid::Uuid, Path)),
    request_body(content = Jws, content_type = "application/jose+json", description = "POST-as-GET"),
    responses((status = 200, content_type = "application/pem-certificate-chain", body = String,
               description = "the certificate and its chain up to the root; `Link: rel=\"alternate\"` adds the root"),
              (status = 404, body = AcmeProblem)))]
fn certificate() {}

#[utoipa::path(post, path = "/acme/{profile}/cert/{id}/{alternate}", tag = "acme",
    params(("profile" = String, Path), ("id" = uuid::Uuid, Path), ("alternate" = String, Path, description = "`1`")),
    request_body(content = Jws, content_type = "application/jose+json", description = "POST-as-GET"),
    responses((status = 200, content_type = "application/pem-certificate-chain", body = String,
               description = "the chain with the root"), (status = 404, body = AcmeProblem)))]
fn certificate_alternate() {}

#[utoipa::path(post, path = "/acme/{profile}/revoke-cert", tag = "acme", params(("profile" = String, Path)),
    request_body(content = Jws, content_type = "application/jose+json",
        description = "signed by the account (`kid`) or the certificate key (`jwk`); payload `{certificate, reason?}`"),
    responses((status = 200, description = "revoked (or waiting for the RA profile's revocation approval)"),
              (status = 400, body = AcmeProblem, description = "alreadyRevoked, badRevocationReason, malformed"),
              (status = 403, body = AcmeProblem, description = "unauthorized")))]
fn revoke_cert() {}

#[utoipa::path(get, path = "/acme/{profile}/renewal-info/{cert_id}", tag = "acme",
    params(("profile" = String, Path), ("cert_id" = String, Path, description = "base64url(AKI) '.' base64url(serial)")),
    responses((status = 200, body = RenewalInfo), (status = 400, body = AcmeProblem), (status = 404, body = AcmeProblem)))]
fn renewal_info() {}

#[derive(OpenApi)]
#[openapi(
    info(title = "certwright ACME", description = "RFC 8555 ACME server with RFC 8737, RFC 8738, RFC 9773 and certificate profiles: one directory per ACME-enabled RA profile. Every answer carries `Replay-Nonce` and `Link: <directory>;rel=\"index\"`."),
    paths(directory, new_nonce, new_account, account, orders, key_change, new_order, order, finalize, authorization,
          challenge, certificate, certificate_alternate, revoke_cert, renewal_info),
    tags((name = "acme", description = "ACME resources"))
)]
struct AcmeDoc;
