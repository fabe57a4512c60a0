//! The OpenAPI document of the Strata Cloud Manager face, served at `/config/identity/v1/openapi.json`. The
//! operations below describe the routes of [`super::router`]; a test checks every routed path is listed.

#![allow(dead_code)] // The structs and functions here exist for their annotations.

use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

/// `GET /openapi.json`.
pub async fn document() -> impl IntoResponse {
    axum::Json(ScmDoc::openapi())
}

/// One entry of `_errors`.
#[derive(Serialize, ToSchema)]
struct ErrorCause {
    /// `E003` input, `E005` not found, `E006` name not unique, `E007` forbidden, `E009` reference not zero,
    /// `E012` method or action not supported, `E016` not authenticated or object not unique.
    code: String,
    /// The documented message (`Invalid Object`, `Name Not Unique`, …), then `: ` and what exactly.
    message: String,
    /// `{"errorType": "<certwright problem code>"}` or `{"message": "…"}`.
    details: serde_json::Value,
}

/// The SCM error body.
#[derive(Serialize, ToSchema)]
struct GenericError {
    #[schema(rename = "_errors")]
    errors: Vec<ErrorCause>,
    /// The request id, also in the `x-request-id` header.
    #[schema(rename = "_request_id")]
    request_id: String,
}

/// A certificate (certificates-get). Exactly one of `folder`, `snippet`, `device` is present.
#[derive(Serialize, ToSchema)]
struct Certificate {
    /// The inventory certificate's id (also its id in `/v1/certificates`).
    id: uuid::Uuid,
    name: String,
    /// `RSA` or `EC` (`Ed25519` for imported Ed25519 certificates).
    algorithm: String,
    ca: bool,
    common_name: String,
    common_name_int: String,
    /// Not-after as epoch seconds, in a string.
    expiry_epoch: String,
    /// One-line `/CN=…/O=…`.
    issuer: String,
    /// `openssl x509 -issuer_hash`.
    issuer_hash: String,
    /// `YYYY-MM-DD` (UTC).
    not_valid_after: String,
    not_valid_before: String,
    /// SubjectPublicKeyInfo, PEM.
    public_key: String,
    subject: String,
    /// `openssl x509 -subject_hash`.
    subject_hash: String,
    /// The subject as an RFC 4514 string.
    subject_int: String,
    folder: Option<String>,
    snippet: Option<String>,
    device: Option<String>,
}

/// `{data, limit, offset, total}`.
#[derive(Serialize, ToSchema)]
struct CertificateList {
    data: Vec<Certificate>,
    limit: u64,
    offset: u64,
    total: u64,
}

/// Exactly one of the two.
#[derive(Serialize, ToSchema)]
struct Algorithm {
    /// 2048, 3072 or 4096 (512 and 1024 are refused with E003).
    rsa_number_of_bits: Option<u32>,
    /// 256 (P-256) or 384 (P-384); 245, 2048, 3072 and 4096 are refused with E003.
    ecdsa_number_of_bits: Option<u32>,
}

/// certificates-post (generate). Exactly one of `folder`, `snippet`, `device`.
#[derive(Serialize, ToSchema)]
struct GenerateCertificate {
    certificate_name: String,
    common_name: String,
    algorithm: Algorithm,
    /// `sha256` (default), `sha384` or `sha512`; `sha1` and `md5` are refused with E003. ECDSA keys sign with
    /// the digest of their curve (P-256: sha256, P-384: sha384).
    digest: Option<String>,
    /// Default 365, at most 36500; capped at the signer's expiry.
    day_till_expiration: Option<u32>,
    /// The name of a CA certificate of the same scope whose key is held here; absent: self-signed.
    signed_by: Option<String>,
    is_certificate_authority: Option<bool>,
    /// The private key is never exported (PEM/DER carry the certificate only, PKCS#12 is refused).
    #[schema(rename = "is_block_privateKey")]
    is_block_private_key: Option<bool>,
    ocsp_responder_url: Option<String>,
    alternate_email: Option<Vec<String>>,
    hostname: Option<Vec<String>>,
    ip: Option<Vec<String>>,
    /// Goes into the subject as emailAddress.
    email: Option<String>,
    country_code: Option<String>,
    state: Option<String>,
    locality: Option<String>,
    /// Each becomes an OU.
    department: Option<Vec<String>>,
    folder: Option<String>,
    snippet: Option<String>,
    device: Option<String>,
}

/// certificates-import. Exactly one of `folder`, `snippet`, `device`.
#[derive(Serialize, ToSchema)]
struct ImportCertificate {
    name: String,
    /// Base64 of the PEM text, the DER certificate or the PKCS#12 file.
    certificate_file: String,
    /// `pem` (default), `der` or `pkcs12`; must match the content.
    format: Option<String>,
    /// Base64 of the private key (PEM or DER; PKCS#8 plain or encrypted, PKCS#1, SEC1); not with pkcs12.
    key_file: Option<String>,
    /// Opens the PKCS#12 file or the encrypted key.
    passphrase: Option<String>,
    folder: Option<String>,
    snippet: Option<String>,
    device: Option<String>,
}

/// export-certificate-payload.
#[derive(Serialize, ToSchema)]
struct ExportCertificate {
    /// `pem`: the chain, plus the key encrypted with `passphrase` when one is given and the key may leave;
    /// `der`: the certificate alone; `pkcs12`: certificate, chain and key, `passphrase` required.
    format: String,
    /// 8 to 1024 characters.
    passphrase: Option<String>,
}

/// export-certificate-response.
#[derive(Serialize, ToSchema)]
struct ExportedCertificate {
    /// PEM text, or base64 of the DER certificate or of the PKCS#12 file.
    certificate: String,
}

#[utoipa::path(get, path = "/config/identity/v1/certificates", tag = "scm",
    params(("name" = Option<String>, Query), ("folder" = Option<String>, Query), ("snippet" = Option<String>, Query),
           ("device" = Option<String>, Query), ("limit" = Option<u32>, Query, description = "default 200, at most 1000"),
           ("offset" = Option<u64>, Query)),
    responses((status = 200, body = CertificateList), (status = 400, body = GenericError),
              (status = 401, body = GenericError), (status = 403, body = GenericError)))]
fn list() {}

#[utoipa::path(post, path = "/config/identity/v1/certificates", tag = "scm", request_body = GenerateCertificate,
    responses((status = 201, body = Certificate), (status = 400, body = GenericError),
              (status = 401, body = GenericError), (status = 403, body = GenericError),
              (status = 409, body = GenericError, description = "E006 Name Not Unique")))]
fn generate() {}

#[utoipa::path(post, path = "/config/identity/v1/certificates:import", tag = "scm", request_body = ImportCertificate,
    responses((status = 201, body = Certificate), (status = 400, body = GenericError),
              (status = 401, body = GenericError), (status = 403, body = GenericError),
              (status = 409, body = GenericError, description = "E006 Name Not Unique; E016 Object Not Unique (the certificate is already in the inventory)")))]
fn import() {}

#[utoipa::path(get, path = "/config/identity/v1/certificates/{id}", tag = "scm", params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = Certificate), (status = 400, body = GenericError),
              (status = 401, body = GenericError), (status = 403, body = GenericError),
              (status = 404, body = GenericError)))]
fn get_one() {}

#[utoipa::path(delete, path = "/config/identity/v1/certificates/{id}", tag = "scm", params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = Certificate, description = "the deleted certificate"),
              (status = 400, body = GenericError), (status = 401, body = GenericError),
              (status = 403, body = GenericError), (status = 404, body = GenericError),
              (status = 409, body = GenericError, description = "E009 Reference Not Zero: it signed certificates of its scope")))]
fn delete() {}

#[utoipa::path(post, path = "/config/identity/v1/certificates/{id}:export", tag = "scm",
    params(("id" = uuid::Uuid, Path)), request_body = ExportCertificate,
    responses((status = 201, body = ExportedCertificate), (status = 400, body = GenericError),
              (status = 401, body = GenericError), (status = 403, body = GenericError),
              (status = 404, body = GenericError)))]
fn export() {}

/// The face's document.
#[derive(OpenApi)]
#[openapi(
    info(title = "certwright — Strata Cloud Manager face",
         description = "Palo Alto Networks Strata Cloud Manager identity-services certificates, over certwright's inventory."),
    paths(list, generate, import, get_one, delete, export),
    components(schemas(GenericError, ErrorCause, Certificate, CertificateList, GenerateCertificate, Algorithm,
                       ImportCertificate, ExportCertificate, ExportedCertificate)),
    modifiers(&ScmToken),
    security(("scmToken" = [])),
    tags((name = "scm", description = "Scoped certificates: generate, import, export, delete")),
)]
#[derive(Debug)]
pub struct ScmDoc;

#[derive(Debug)]
struct ScmToken;

impl Modify for ScmToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("scmToken", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    }
}
