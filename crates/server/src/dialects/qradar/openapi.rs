//! The OpenAPI document of the IBM QRadar face, served at `/api/openapi.json`. The operations below describe the
//! routes of [`super::router`]; a test checks every routed path is listed and every listed one is routed.

#![allow(dead_code)] // The structs and functions here exist for their annotations.

use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::Required;
use utoipa::{Modify, OpenApi, ToSchema};

/// `GET /api/openapi.json`.
pub async fn document() -> impl IntoResponse {
    axum::Json(QRadarDoc::openapi())
}

/// The document's description: the codes and the choices made where QRadar's contract is silent.
const DESCRIPTION: &str = "\
IBM QRadar 26.0 certificate endpoints (staged and deployed end certificates, components, CSRs, root \
certificates, deploys) over certwright's inventory.

**Authentication**: `SEC: <API token>` (any certwright API token or OAuth2 access token) or HTTP Basic whose \
password is an API token (the user name is ignored). Admin and operator tokens are QRadar administrators; \
requester and auditor tokens may read and see only `id` and `name` of end certificates. The `Version` header is \
accepted and ignored.

**Lists** take `filter` (`=`, `!=`, `<`, `>`, `<=`, `>=`, `in (…)`, `and`, `or`, parentheses, quoted strings), \
`sort` (`+field`/`-field`), `fields` (query on GET, header on POST) and `Range: items=x-y`, answered with \
`Content-Range: items x-y/total`.

**Errors** come as `{http_response: {code, message}, code, description, details, message}`. Unique codes:

| HTTP | code | meaning |
|---|---|---|
| 401, 403 | 0 | no or unknown credentials; the role may not do this |
| 404 | 1002 | no such resource or endpoint |
| 409 | 1002 | nothing staged to deploy, or a deploy is running |
| 422 | 1005 | invalid parameter or body (bad JSON, wrong types, unknown purpose, missing fields, bad id) |
| 422 | 1006 | `key_file` and `csr_id` together |
| 422 | 1007 | key problem: unreadable, wrong `key_password`, key of another certificate, no key found, unsupported key type |
| 422 | 1008 | unknown `component_id` |
| 422 | 1032 | CSR key size (2048, 3072 or 4096) |
| 422 | 1033 | CSR without common name |
| 422 | 1034 | CSR subject invalid |
| 422 | 1035 | CSR subject alternative name invalid |
| 422 | 1036 | CSR purpose missing or invalid |
| 422 | 1101 | invalid `filter`, `sort` or `fields`; a root certificate that is not a CA |
| 409 | 1102 | the name is taken; the root certificate was uploaded already |
| 404 | 1105 | no such root certificate |
| 422 | 36 | bad `Range` header |
| 422 | 2001 | not a certificate (not PEM, DER or base64) |
| 422 | 2002 | a well-framed PEM block or DER object that does not decode as a certificate |
| 422 | 2003 | expired |
| 422 | 2004 | not yet valid |
| 422 | 2005 | revoked (at certwright's CA from its records, elsewhere from the CRL) |
| 422 | 2010 | a signature or key this validator cannot check |
| 422 | 2011 | issuer not found among the chain, certwright's authorities and the staged roots |
| 422 | 2012 | key usage or extended key usage does not fit the purpose |
| 422 | 2013 | invalid chain (issuer not a CA, no keyCertSign, path length, name constraints, bad signature) |
| 422 | 2014 | self-signed certificate whose signature does not verify |
| 422 | 2020 | the CRL is invalid: not a CRL, not yet valid, unknown critical extension |
| 422 | 2030 | the CRL could not be fetched or used (delta or indirect CRL, unsupported algorithm) |
| 422 | 2031 | the CRL's issuer is not a certificate of the chain |
| 422 | 2032 | the CRL's issuer lacks the cRLSign key usage |
| 422 | 2033 | the CRL's signature does not verify |
| 422 | 2034 | the CRL is expired |
| 413 | 1005 | body larger than the configured limit |

**Choices**: EC keys (P-256, P-384, P-521) are accepted as well as RSA; other key types are refused with 1007. \
Without `key_file` and `csr_id`, the key of the pending CSR that matches the certificate is used. Trust anchors are \
certwright's root authorities, the staged root certificates and a self-signed certificate itself. For \
certificates not issued by certwright, each `http://` CRL distribution point (at most two per certificate) is \
fetched (5 s, 16 MiB); a CDP that cannot be fetched is 2030. `key_file`, `key_password`, `ca_chain_file` and \
`cert_file` are always `null` in answers. Deploys run in the background: `POST` answers `IN_PROGRESS` at once. \
Components are created on the native API (`POST /v1/keystore/components`).";

/// `http_response` of the error body.
#[derive(Serialize, ToSchema)]
struct HttpResponse {
    code: u16,
    /// QRadar's message for the status, e.g. "The request was well-formed but was unable to be followed due to
    /// semantic errors".
    message: String,
}

/// The QRadar error body.
#[derive(Serialize, ToSchema)]
struct QRadarError {
    http_response: HttpResponse,
    /// The unique code (see the table in the description).
    code: u16,
    /// QRadar's description of the code.
    description: String,
    /// Always `{}`.
    details: serde_json::Value,
    /// What exactly went wrong.
    message: String,
}

/// One attribute of a distinguished name.
#[derive(Serialize, ToSchema)]
struct NameField {
    /// `CN`, `O`, `OU`, `C`, …
    field_name: String,
    value: String,
}

/// An end certificate. Callers who are not administrators get `id` and `name`; every other field is `null`.
#[derive(Serialize, ToSchema)]
struct EndCertificate {
    id: i64,
    name: String,
    /// `SERVER`, `CLIENT`, `SERVER_CLIENT` or `SIGNING_ENCRYPTION`.
    purpose: Option<String>,
    /// 0 when none.
    component_id: Option<i64>,
    component_name: Option<String>,
    /// `DEPLOY_PENDING`, `DEPLOYED` or `DELETE_PENDING`.
    status: Option<String>,
    subject: Option<Vec<NameField>>,
    issuer: Option<Vec<NameField>>,
    /// Epoch milliseconds.
    not_before: Option<i64>,
    /// Epoch milliseconds.
    expiry: Option<i64>,
    /// Hexadecimal.
    serial_number: Option<String>,
    /// `DIGITAL_SIGNATURE`, `NON_REPUDIATION`, `KEY_ENCIPHERMENT`, `DATA_ENCIPHERMENT`, `KEY_AGREEMENT`,
    /// `KEY_CERT_SIGN`, `CRL_SIGN`, `ENCIPHER_ONLY`, `DECIPHER_ONLY`.
    key_usage: Option<Vec<String>>,
    /// `TLS_Web_server_authentication`, `TLS_Web_client_authentication`, `Email_protection`, `CODE_SIGNING`,
    /// `OCSP_SIGNING`, `TIME_STAMPING`, or the OID.
    extended_key_usage: Option<Vec<String>>,
    /// The CRL distribution point URLs, comma-separated.
    certificate_revocation_list_distribution_point: Option<String>,
    /// 0: valid (uploads that fail validation are refused, so stored entries are 0).
    validation: Option<i64>,
    csr_id: Option<i64>,
    /// Always `null`.
    key_file: Option<String>,
    /// Always `null`.
    key_password: Option<String>,
    /// Always `null`.
    ca_chain_file: Option<String>,
    /// Always `null` (the full chain view carries the PEM).
    cert_file: Option<String>,
}

/// The upload body (EndCertificateDTO). Unknown fields are ignored, so an answer may be sent back as a body.
#[derive(Serialize, ToSchema)]
struct EndCertificateUpload {
    /// 1 to 255 characters, unique. Required on create.
    name: Option<String>,
    /// `SERVER`, `CLIENT`, `SERVER_CLIENT` or `SIGNING_ENCRYPTION`. Required on create.
    purpose: Option<String>,
    /// A component from `/api/config/certificates/components`; 0 or absent: none.
    component_id: Option<i64>,
    /// The private key: PKCS#8 PEM, plain or encrypted (then `key_password`). RSA or EC.
    key_file: Option<String>,
    key_password: Option<String>,
    /// A pending CSR whose server-held key belongs to the certificate (not with `key_file`).
    csr_id: Option<i64>,
    /// Intermediate certificates, PEM, child first.
    ca_chain_file: Option<String>,
    /// The certificate, PEM. Required on create.
    cert_file: Option<String>,
}

/// A certificate of the full chain.
#[derive(Serialize, ToSchema)]
struct ChainCertificate {
    /// The root's subject key identifier (hex); on the root only.
    id: Option<String>,
    subject: Vec<NameField>,
    issuer: Vec<NameField>,
    serial_number: String,
    not_before: i64,
    expiry: i64,
    key_usage: Vec<String>,
    /// PEM.
    cert_file: String,
}

/// The chain of a deployed end certificate.
#[derive(Serialize, ToSchema)]
struct FullChain {
    /// The end certificate, with `cert_file` (PEM) filled in.
    end_certificate: EndCertificate,
    /// Child first.
    intermediate_chain: Vec<ChainCertificate>,
    root_certificate: Option<ChainCertificate>,
}

/// A component.
#[derive(Serialize, ToSchema)]
struct Component {
    id: i64,
    name: String,
}

/// A pending CSR.
#[derive(Serialize, ToSchema)]
struct CsrEntry {
    id: i64,
    /// Epoch milliseconds.
    create_time: i64,
    description: Option<String>,
}

/// The CSR model. The key is generated and kept by the server.
#[derive(Serialize, ToSchema)]
struct CsrModel {
    /// RSA modulus size: 2048 (default), 3072 or 4096 (otherwise 1032).
    key_size: Option<u32>,
    description: Option<String>,
    /// `SERVER`, `CLIENT`, `SERVER_CLIENT` or `SIGNING_ENCRYPTION` (missing or other: 1036).
    purpose: String,
    country_name: Option<String>,
    state_province: Option<String>,
    locality: Option<String>,
    organization_name: Option<String>,
    organizational_unit: Option<String>,
    /// Required (1033).
    common_name: String,
    street_address: Option<String>,
    domain_component: Option<String>,
    user_id: Option<String>,
    dns: Option<Vec<String>>,
    ip_addresses: Option<Vec<String>>,
    emails: Option<Vec<String>>,
    uri_list: Option<Vec<String>>,
}

/// A staged root certificate (a trust anchor for uploads).
#[derive(Serialize, ToSchema)]
struct RootCertificate {
    /// The subject key identifier, hex.
    id: String,
    subject_key_id: Option<String>,
    authority_key_id: Option<String>,
    subject: Vec<NameField>,
    issuer: Vec<NameField>,
    not_before: i64,
    expiry: i64,
    serial_number: String,
    key_usage: Vec<String>,
    /// `DEPLOY_PENDING`, `DEPLOYED` or `DELETE_PENDING`.
    status: String,
    validation: i64,
}

/// The deploy request.
#[derive(Serialize, ToSchema)]
struct DeployRequest {
    /// `INCREMENTAL` (default) or `FULL`.
    #[schema(rename = "type")]
    kind: Option<String>,
}

/// A host of a deploy.
#[derive(Serialize, ToSchema)]
struct DeployHost {
    /// `IN_PROGRESS`, `SUCCESS` or `ERROR`.
    host_status: String,
    /// The node that ran the deploy.
    ip: Option<String>,
    status: String,
}

/// The latest deploy.
#[derive(Serialize, ToSchema)]
struct DeployStatus {
    /// `UNKNOWN` (never deployed), `IN_PROGRESS` or `COMPLETE`.
    status: String,
    /// `INCREMENTAL` or `FULL`.
    #[schema(rename = "type")]
    kind: Option<String>,
    initiated_by: Option<String>,
    initiated_from: Option<String>,
    hosts: Vec<DeployHost>,
    /// 0 while running, 100 when complete.
    percent_complete: u8,
    error_message: Option<String>,
    has_errors: bool,
}

// The list operations.

#[utoipa::path(get, path = "/api/staged_config/certificates/end_certificates", tag = "staged end certificates",
    params(
        ("Range" = Option<String>, Header, description = "items=x-y"),
        ("fields" = Option<String>, Query, description = "comma-separated fields to return"),
        ("filter" = Option<String>, Query, description = "e.g. `status = \"DEPLOY_PENDING\" and purpose in (\"SERVER\", \"CLIENT\")`"),
        ("sort" = Option<String>, Query, description = "`+field` or `-field`"),
    ),
    responses((status = 200, body = Vec<EndCertificate>, headers(("Content-Range" = String, description = "items x-y/total, with Range"))),
              (status = 401, body = QRadarError), (status = 422, body = QRadarError, description = "1101, 36")))]
fn list_staged() {}

#[utoipa::path(post, path = "/api/staged_config/certificates/end_certificates", tag = "staged end certificates",
    params(("fields" = Option<String>, Header, description = "comma-separated fields to return")),
    request_body = EndCertificateUpload,
    responses((status = 201, body = EndCertificate, headers(("Location" = String, description = "the new entry"))),
              (status = 401, body = QRadarError), (status = 403, body = QRadarError),
              (status = 409, body = QRadarError, description = "1102 name taken"),
              (status = 413, body = QRadarError),
              (status = 422, body = QRadarError, description = "1005–1008, 2001–2005, 2010–2014, 2020, 2030–2034")))]
fn create_staged() {}

#[utoipa::path(get, path = "/api/staged_config/certificates/end_certificates/{id}", tag = "staged end certificates",
    params(("id" = i64, Path), ("fields" = Option<String>, Query, description = "comma-separated fields to return")),
    responses((status = 200, body = EndCertificate), (status = 401, body = QRadarError),
              (status = 404, body = QRadarError, description = "1002"), (status = 422, body = QRadarError, description = "1005 id not an integer")))]
fn get_staged() {}

#[utoipa::path(post, path = "/api/staged_config/certificates/end_certificates/{id}", tag = "staged end certificates",
    params(("id" = i64, Path), ("fields" = Option<String>, Header, description = "comma-separated fields to return")),
    request_body(content = EndCertificateUpload, description = "fields sent replace the stored ones; empty or missing ones are kept"),
    responses((status = 200, body = EndCertificate), (status = 401, body = QRadarError),
              (status = 403, body = QRadarError), (status = 404, body = QRadarError, description = "1002"),
              (status = 409, body = QRadarError, description = "1102"),
              (status = 422, body = QRadarError, description = "1005–1008, 2001–2034")))]
fn update_staged() {}

#[utoipa::path(delete, path = "/api/staged_config/certificates/end_certificates/{id}", tag = "staged end certificates",
    params(("id" = i64, Path)),
    responses((status = 204, description = "the entry is DELETE_PENDING until the next deploy"),
              (status = 401, body = QRadarError), (status = 403, body = QRadarError),
              (status = 404, body = QRadarError, description = "1002")))]
fn delete_staged() {}

#[utoipa::path(get, path = "/api/config/certificates/end_certificates", tag = "deployed end certificates",
    params(
        ("Range" = Option<String>, Header, description = "items=x-y"),
        ("fields" = Option<String>, Query), ("filter" = Option<String>, Query), ("sort" = Option<String>, Query),
    ),
    responses((status = 200, body = Vec<EndCertificate>, description = "entries deployed (DEPLOYED or DELETE_PENDING)",
               headers(("Content-Range" = String))),
              (status = 401, body = QRadarError), (status = 422, body = QRadarError, description = "1101, 36")))]
fn list_deployed() {}

#[utoipa::path(get, path = "/api/config/certificates/end_certificates/{id}", tag = "deployed end certificates",
    params(("id" = i64, Path), ("fields" = Option<String>, Query)),
    responses((status = 200, body = EndCertificate), (status = 401, body = QRadarError),
              (status = 404, body = QRadarError, description = "1002: unknown or not deployed yet")))]
fn get_deployed() {}

#[utoipa::path(get, path = "/api/config/certificates/end_certificates/{id}/full_chain", tag = "deployed end certificates",
    params(("id" = i64, Path)),
    responses((status = 200, body = FullChain), (status = 401, body = QRadarError),
              (status = 403, body = QRadarError, description = "administrators only"),
              (status = 404, body = QRadarError, description = "1002")))]
fn full_chain() {}

#[utoipa::path(get, path = "/api/config/certificates/components", tag = "components",
    params(
        ("Range" = Option<String>, Header, description = "items=x-y"),
        ("fields" = Option<String>, Query), ("filter" = Option<String>, Query), ("sort" = Option<String>, Query),
    ),
    responses((status = 200, body = Vec<Component>, headers(("Content-Range" = String))),
              (status = 401, body = QRadarError), (status = 422, body = QRadarError, description = "1101, 36")))]
fn components() {}

#[utoipa::path(get, path = "/api/staged_config/certificates/certificate_signing_request", tag = "CSRs",
    params(
        ("Range" = Option<String>, Header, description = "items=x-y"),
        ("fields" = Option<String>, Query), ("filter" = Option<String>, Query), ("sort" = Option<String>, Query),
    ),
    responses((status = 200, body = Vec<CsrEntry>, headers(("Content-Range" = String))),
              (status = 401, body = QRadarError), (status = 422, body = QRadarError, description = "1101, 36")))]
fn list_csrs() {}

#[utoipa::path(post, path = "/api/staged_config/certificates/certificate_signing_request", tag = "CSRs",
    request_body = CsrModel,
    responses((status = 201, body = i64, description = "the bare id of the new CSR", headers(("Location" = String))),
              (status = 401, body = QRadarError), (status = 403, body = QRadarError),
              (status = 422, body = QRadarError, description = "1005, 1032–1036")))]
fn create_csr() {}

#[utoipa::path(get, path = "/api/staged_config/certificates/certificate_signing_request/{id}", tag = "CSRs",
    params(("id" = i64, Path)),
    responses((status = 200, body = String, content_type = "application/octet-stream", description = "base64 of the PEM CSR file"),
              (status = 401, body = QRadarError), (status = 404, body = QRadarError, description = "1002")))]
fn get_csr() {}

#[utoipa::path(delete, path = "/api/staged_config/certificates/certificate_signing_request/{id}", tag = "CSRs",
    params(("id" = i64, Path)),
    responses((status = 204, description = "deleted with its key"), (status = 401, body = QRadarError),
              (status = 403, body = QRadarError), (status = 404, body = QRadarError, description = "1002")))]
fn delete_csr() {}

#[utoipa::path(get, path = "/api/staged_config/certificates/root_certificates", tag = "root certificates",
    params(
        ("Range" = Option<String>, Header, description = "items=x-y"),
        ("fields" = Option<String>, Query), ("filter" = Option<String>, Query), ("sort" = Option<String>, Query),
    ),
    responses((status = 200, body = Vec<RootCertificate>, headers(("Content-Range" = String))),
              (status = 401, body = QRadarError), (status = 422, body = QRadarError, description = "1101, 36")))]
fn list_roots() {}

#[utoipa::path(post, path = "/api/staged_config/certificates/root_certificates", tag = "root certificates",
    request_body(content = String, content_type = "text/plain", description = "the PEM certificate (a JSON string is accepted too)"),
    responses((status = 200, body = RootCertificate), (status = 401, body = QRadarError),
              (status = 403, body = QRadarError), (status = 409, body = QRadarError, description = "1102 uploaded already"),
              (status = 422, body = QRadarError, description = "1101 not a CA; 2001–2034")))]
fn create_root() {}

#[utoipa::path(get, path = "/api/staged_config/certificates/root_certificates/{id}", tag = "root certificates",
    params(("id" = String, Path, description = "subject key identifier, hex")),
    responses((status = 200, body = RootCertificate), (status = 401, body = QRadarError),
              (status = 404, body = QRadarError, description = "1105")))]
fn get_root() {}

#[utoipa::path(delete, path = "/api/staged_config/certificates/root_certificates/{id}", tag = "root certificates",
    params(("id" = String, Path, description = "subject key identifier, hex")),
    responses((status = 204, description = "DELETE_PENDING until the next deploy"), (status = 401, body = QRadarError),
              (status = 403, body = QRadarError), (status = 404, body = QRadarError, description = "1105")))]
fn delete_root() {}

#[utoipa::path(get, path = "/api/staged_config/deploy_status", tag = "deploy",
    responses((status = 200, body = DeployStatus), (status = 401, body = QRadarError)))]
fn deploy_status() {}

#[utoipa::path(post, path = "/api/staged_config/deploy_status", tag = "deploy",
    request_body(content = DeployRequest, description = "an empty body means INCREMENTAL"),
    responses((status = 200, body = DeployStatus, description = "the deploy started (IN_PROGRESS)"),
              (status = 401, body = QRadarError), (status = 403, body = QRadarError),
              (status = 409, body = QRadarError, description = "1002: nothing staged, or a deploy is running"),
              (status = 422, body = QRadarError, description = "1005")))]
fn deploy() {}

/// The face's document.
#[derive(OpenApi)]
#[openapi(
    info(title = "certwright — IBM QRadar face"),
    paths(list_staged, create_staged, get_staged, update_staged, delete_staged, list_deployed, get_deployed,
          full_chain, components, list_csrs, create_csr, get_csr, delete_csr, list_roots, create_root, get_root,
          delete_root, deploy_status, deploy),
    components(schemas(QRadarError, HttpResponse, NameField, EndCertificate, EndCertificateUpload, ChainCertificate,
                       FullChain, Component, CsrEntry, CsrModel, RootCertificate, DeployRequest, DeployHost,
                       DeployStatus)),
    modifiers(&QRadarAuth),
    security(("SEC" = []), ("basic" = [])),
    tags((name = "staged end certificates", description = "Uploads validated by the PKI engine (codes 2001–2034)"),
         (name = "deployed end certificates", description = "What the last deploy made effective"),
         (name = "components", description = "Configurable entities certificates are assigned to"),
         (name = "CSRs", description = "Certificate signing requests whose keys the server holds"),
         (name = "root certificates", description = "Staged trust anchors"),
         (name = "deploy", description = "Making staged changes effective")),
)]
#[derive(Debug)]
pub struct QRadarDoc;

/// The `SEC` and Basic schemes, the `Version` header on every operation, and the description.
#[derive(Debug)]
struct QRadarAuth;

impl Modify for QRadarAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        openapi.info.description = Some(DESCRIPTION.to_owned());
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "SEC",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "SEC",
                "a certwright API token or OAuth2 access token",
            ))),
        );
        components.add_security_scheme("basic", SecurityScheme::Http(Http::new(HttpAuthScheme::Basic)));
        let version: Parameter = ParameterBuilder::new()
            .name("Version")
            .parameter_in(ParameterIn::Header)
            .required(Required::False)
            .description(Some("the QRadar API version the client speaks (e.g. 26.0); accepted and ignored"))
            .schema(Some(utoipa::openapi::schema::Object::with_type(utoipa::openapi::schema::Type::String)))
            .build();
        for item in openapi.paths.paths.values_mut() {
            for op in [&mut item.get, &mut item.post, &mut item.delete].into_iter().flatten() {
                op.parameters.get_or_insert_with(Vec::new).push(version.clone());
            }
        }
    }
}
