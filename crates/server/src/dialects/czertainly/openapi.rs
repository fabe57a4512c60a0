//! The OpenAPI document of the CZERTAINLY face, served at `/api/v3/api-docs`. The operations below describe the
//! routes of [`super::router`]; a test checks every routed path is listed. Schema names follow CZERTAINLY's
//! (`ClientCertificateSignRequestDto`, `CertificateDetailDto`, …); the legacy DTOs that share a name with a v2 one
//! are prefixed `Legacy`.

#![allow(dead_code)] // The structs and functions here exist for their annotations.

use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

/// `GET /api/v3/api-docs`.
pub async fn document() -> impl IntoResponse {
    axum::Json(CzertainlyDoc::openapi())
}

/// 400, 404, 409, 500, 502, 503.
#[derive(Serialize, ToSchema)]
struct ErrorMessageDto {
    message: String,
}

/// 403.
#[derive(Serialize, ToSchema)]
struct AuthenticationServiceExceptionDto {
    #[schema(rename = "statusCode")]
    status_code: u16,
    /// `ACCESS_DENIED`.
    code: String,
    message: String,
}

/// One value of a request attribute.
#[derive(Serialize, ToSchema)]
struct RequestAttributeContent {
    reference: Option<String>,
    /// A value of the attribute's content type: string, number, boolean, or an object (file, secret, …).
    data: serde_json::Value,
}

/// An attribute a client sends (v2 and v3 forms).
#[derive(Serialize, ToSchema)]
struct RequestAttribute {
    uuid: uuid::Uuid,
    name: String,
    /// `string`, `text`, `integer`, `boolean`, `float`, `date`, `time`, `datetime`, `secret`, `file`,
    /// `credential`, `codeblock`, `object`, `resource`.
    #[schema(rename = "contentType")]
    content_type: String,
    content: Vec<RequestAttributeContent>,
    /// `v2` (default) or `v3`.
    version: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct DataAttributeProperties {
    label: String,
    visible: bool,
    group: Option<String>,
    required: bool,
    #[schema(rename = "readOnly")]
    read_only: bool,
    list: bool,
    #[schema(rename = "multiSelect")]
    multi_select: bool,
    #[schema(rename = "protectionLevel")]
    protection_level: String,
    resource: Option<String>,
    #[schema(rename = "extensibleList")]
    extensible_list: bool,
}

#[derive(Serialize, ToSchema)]
struct BaseAttributeConstraint {
    /// `regExp` (data: the pattern), `range` (data: `{from, to}`), `dateTime` (data: `{from, to}`).
    #[schema(rename = "type")]
    kind: String,
    description: Option<String>,
    #[schema(rename = "errorMessage")]
    error_message: Option<String>,
    data: serde_json::Value,
}

/// An attribute definition of the RA profile (a v2 DataAttribute).
#[derive(Serialize, ToSchema)]
struct BaseAttribute {
    uuid: uuid::Uuid,
    name: String,
    description: Option<String>,
    /// `data`.
    #[schema(rename = "type")]
    kind: String,
    /// `2`.
    version: u32,
    #[schema(rename = "contentType")]
    content_type: String,
    /// Default value(s), or the values of a list.
    content: Option<Vec<RequestAttributeContent>>,
    properties: DataAttributeProperties,
    constraints: Vec<BaseAttributeConstraint>,
    #[schema(rename = "attributeCallback")]
    attribute_callback: Option<serde_json::Value>,
}

/// Issue a certificate: `request` (a CSR), or — without it — `csrAttributes` naming a key held here (`keyUuid`) or
/// generated here. `signatureAttributes`, `alt*` and `customAttributes` are read and not used.
#[derive(Serialize, ToSchema)]
struct ClientCertificateSignRequestDto {
    /// Base64 DER (PEM accepted).
    request: Option<String>,
    /// `pkcs10` (default) or `crmf`.
    format: Option<String>,
    /// `commonName` (required), `organization`, `organizationalUnit`, `locality`, `state`, `country`.
    #[schema(rename = "csrAttributes")]
    csr_attributes: Option<Vec<RequestAttribute>>,
    #[schema(rename = "signatureAttributes")]
    signature_attributes: Option<Vec<RequestAttribute>>,
    #[schema(rename = "altSignatureAttributes")]
    alt_signature_attributes: Option<Vec<RequestAttribute>>,
    #[schema(rename = "tokenProfileUuid")]
    token_profile_uuid: Option<uuid::Uuid>,
    /// A key held here (see the key of a certificate); absent: a key is generated.
    #[schema(rename = "keyUuid")]
    key_uuid: Option<uuid::Uuid>,
    #[schema(rename = "altTokenProfileUuid")]
    alt_token_profile_uuid: Option<uuid::Uuid>,
    #[schema(rename = "altKeyUuid")]
    alt_key_uuid: Option<uuid::Uuid>,
    /// Checked against `GET …/attributes/issue`.
    attributes: Vec<RequestAttribute>,
    #[schema(rename = "customAttributes")]
    custom_attributes: Option<Vec<RequestAttribute>>,
}

#[derive(Serialize, ToSchema)]
struct ClientCertificateDataResponseDto {
    /// Base64 DER; `""` while the issue waits (approval or an external authority).
    #[schema(rename = "certificateData")]
    certificate_data: String,
    uuid: String,
}

/// Renew: the same key. A CSR sent along must carry it.
#[derive(Serialize, ToSchema)]
struct ClientCertificateRenewRequestDto {
    #[schema(rename = "replaceInLocations")]
    replace_in_locations: Option<bool>,
    request: Option<String>,
    format: Option<String>,
}

/// Rekey: a new key from `request`, `keyUuid`, or generated here; the subject stays.
#[derive(Serialize, ToSchema)]
struct ClientCertificateRekeyRequestDto {
    #[schema(rename = "replaceInLocations")]
    replace_in_locations: Option<bool>,
    request: Option<String>,
    format: Option<String>,
    #[schema(rename = "keyUuid")]
    key_uuid: Option<uuid::Uuid>,
    #[schema(rename = "tokenProfileUuid")]
    token_profile_uuid: Option<uuid::Uuid>,
    #[schema(rename = "altKeyUuid")]
    alt_key_uuid: Option<uuid::Uuid>,
    #[schema(rename = "altTokenProfileUuid")]
    alt_token_profile_uuid: Option<uuid::Uuid>,
    #[schema(rename = "signatureAttributes")]
    signature_attributes: Option<Vec<RequestAttribute>>,
    #[schema(rename = "altSignatureAttributes")]
    alt_signature_attributes: Option<Vec<RequestAttribute>>,
}

#[derive(Serialize, ToSchema)]
struct ClientCertificateRevocationDto {
    /// `unspecified` (default), `keyCompromise`, `cACompromise`, `affiliationChanged`, `superseded`,
    /// `cessationOfOperation`, `certificateHold`, `privilegeWithdrawn`, `aACompromise`.
    reason: Option<String>,
    /// Checked against `GET …/attributes/revoke`; kept with a pending revocation until it is confirmed.
    attributes: Vec<RequestAttribute>,
    #[schema(rename = "destroyKey")]
    destroy_key: Option<bool>,
}

/// The certificate an asynchronous authority issued.
#[derive(Serialize, ToSchema)]
struct ClientCertificateFinalizeRequestDto {
    /// Base64 DER (PEM accepted; a chain may follow the leaf).
    certificate: String,
    #[schema(rename = "customAttributes")]
    custom_attributes: Vec<RequestAttribute>,
}

#[derive(Serialize, ToSchema)]
struct ClientCertificateCancelRequestDto {
    /// At most 1000 characters; recorded in the certificate's event history.
    reason: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct RaProfileSimplifiedDto {
    uuid: uuid::Uuid,
    name: String,
    enabled: bool,
    #[schema(rename = "authorityInstanceUuid")]
    authority_instance_uuid: Option<String>,
}

/// A certificate (or, before it is issued, its request). Fields certwright has no counterpart for are empty
/// (`groups`, `locations`, `metadata`, `nonCompliantRules`) or null (`key`, `altKey`, `protocolInfo`,
/// `qcStatements`).
#[derive(Serialize, ToSchema)]
struct CertificateDetailDto {
    uuid: String,
    #[schema(rename = "commonName")]
    common_name: Option<String>,
    /// Lower-case hex.
    #[schema(rename = "serialNumber")]
    serial_number: Option<String>,
    #[schema(rename = "issuerCommonName")]
    issuer_common_name: Option<String>,
    #[schema(rename = "issuerDn")]
    issuer_dn: Option<String>,
    #[schema(rename = "subjectDn")]
    subject_dn: Option<String>,
    #[schema(rename = "notBefore")]
    not_before: Option<String>,
    #[schema(rename = "notAfter")]
    not_after: Option<String>,
    /// `RSA`, `ECDSA`, `Ed25519`, `ML-DSA`.
    #[schema(rename = "publicKeyAlgorithm")]
    public_key_algorithm: Option<String>,
    #[schema(rename = "altPublicKeyAlgorithm")]
    alt_public_key_algorithm: Option<String>,
    /// JCA names: `SHA256withECDSA`, `SHA256withRSA`, `Ed25519`, `ML-DSA-65`.
    #[schema(rename = "signatureAlgorithm")]
    signature_algorithm: Option<String>,
    #[schema(rename = "altSignatureAlgorithm")]
    alt_signature_algorithm: Option<String>,
    #[schema(rename = "hybridCertificate")]
    hybrid_certificate: bool,
    #[schema(rename = "keySize")]
    key_size: Option<u32>,
    #[schema(rename = "altKeySize")]
    alt_key_size: Option<u32>,
    /// `requested`, `pending_approval`, `pending_issue`, `issued`, `pending_revoke`, `revoked`, `failed`,
    /// `rejected`.
    state: String,
    /// `not_checked`, `inactive`, `valid`, `expiring`, `expired`, `revoked`.
    #[schema(rename = "validationStatus")]
    validation_status: String,
    #[schema(rename = "raProfile")]
    ra_profile: Option<RaProfileSimplifiedDto>,
    /// SHA-256 of the DER, hex.
    fingerprint: Option<String>,
    groups: Vec<serde_json::Value>,
    owner: Option<String>,
    #[schema(rename = "ownerUuid")]
    owner_uuid: Option<String>,
    #[schema(rename = "certificateType")]
    certificate_type: String,
    #[schema(rename = "issuerSerialNumber")]
    issuer_serial_number: Option<String>,
    #[schema(rename = "complianceStatus")]
    compliance_status: String,
    #[schema(rename = "issuerCertificateUuid")]
    issuer_certificate_uuid: Option<String>,
    /// Whether the private key is held here.
    #[schema(rename = "privateKeyAvailability")]
    private_key_availability: bool,
    #[schema(rename = "trustedCa")]
    trusted_ca: Option<bool>,
    archived: bool,
    /// OIDs.
    #[schema(rename = "extendedKeyUsage")]
    extended_key_usage: Vec<String>,
    #[schema(rename = "keyUsage")]
    key_usage: Vec<String>,
    /// `endEntity`, `selfSignedEndEntity`, `intermediateCa`, `rootCa`.
    #[schema(rename = "subjectType")]
    subject_type: String,
    metadata: Vec<serde_json::Value>,
    /// Base64 DER.
    #[schema(rename = "certificateContent")]
    certificate_content: Option<String>,
    /// `dNSName`, `iPAddress`, `rfc822Name`, `uniformResourceIdentifier`, … → values.
    #[schema(rename = "subjectAlternativeNames")]
    subject_alternative_names: std::collections::BTreeMap<String, Vec<String>>,
    locations: Vec<serde_json::Value>,
    #[schema(rename = "nonCompliantRules")]
    non_compliant_rules: Vec<serde_json::Value>,
    #[schema(rename = "customAttributes")]
    custom_attributes: Vec<serde_json::Value>,
    key: Option<serde_json::Value>,
    #[schema(rename = "altKey")]
    alt_key: Option<serde_json::Value>,
    /// The request the certificate was issued for, when it waited (`content`: the CSR, Base64 DER).
    #[schema(rename = "certificateRequest")]
    certificate_request: Option<serde_json::Value>,
    /// The certificate this one renews or rekeys.
    #[schema(rename = "sourceCertificateUuid")]
    source_certificate_uuid: Option<String>,
    #[schema(rename = "issueAttributes")]
    issue_attributes: Vec<serde_json::Value>,
    #[schema(rename = "revokeAttributes")]
    revoke_attributes: Vec<serde_json::Value>,
    /// Certificates this one renews or rekeys, or that renew or rekey it (brief form).
    #[schema(rename = "relatedCertificates")]
    related_certificates: Vec<serde_json::Value>,
    #[schema(rename = "protocolInfo")]
    protocol_info: Option<serde_json::Value>,
    #[schema(rename = "qcStatements")]
    qc_statements: Option<serde_json::Value>,
}

/// v1: `{pkcs10, username, password}`.
#[derive(Serialize, ToSchema)]
struct LegacyClientCertificateSignRequestDto {
    /// Base64 DER (PEM accepted).
    pkcs10: String,
    username: String,
    password: String,
}

#[derive(Serialize, ToSchema)]
struct LegacyClientCertificateSignResponseDto {
    #[schema(rename = "certificateData")]
    certificate_data: String,
}

#[derive(Serialize, ToSchema)]
struct LegacyClientCertificateRevocationDto {
    /// Hex.
    #[schema(rename = "certificateSN")]
    certificate_sn: String,
    /// The issuing CA's subject (RFC 4514).
    #[schema(rename = "issuerDN")]
    issuer_dn: String,
    reason: String,
}

#[derive(Serialize, ToSchema)]
struct EndEntityExtendedInfoDto {
    name: String,
    value: String,
}

#[derive(Serialize, ToSchema)]
struct ClientEndEntityDto {
    username: String,
    #[schema(rename = "subjectDN")]
    subject_dn: String,
    email: Option<String>,
    #[schema(rename = "extensionData")]
    extension_data: Vec<EndEntityExtendedInfoDto>,
    /// `dNSName=…, iPAddress=…, rfc822Name=…`.
    #[schema(rename = "subjectAltName")]
    subject_alt_name: Option<String>,
    /// `NEW`, `FAILED`, `INITIALIZED`, `IN_PROCESS`, `GENERATED`, `REVOKED`, `HISTORICAL`, `KEY_RECOVERY`,
    /// `WAITING_FOR_ADD_APPROVAL`.
    status: String,
}

/// `raProfile` is required by the contract and not used (the path names the profile).
#[derive(Serialize, ToSchema)]
struct ClientAddEndEntityRequestDto {
    #[schema(rename = "raProfile")]
    ra_profile: serde_json::Value,
    email: Option<String>,
    #[schema(rename = "extensionData")]
    extension_data: Option<Vec<EndEntityExtendedInfoDto>>,
    password: String,
    #[schema(rename = "subjectAltName")]
    subject_alt_name: Option<String>,
    #[schema(rename = "subjectDN")]
    subject_dn: String,
    username: String,
}

/// What is present is replaced.
#[derive(Serialize, ToSchema)]
struct ClientEditEndEntityRequestDto {
    #[schema(rename = "raProfile")]
    ra_profile: Option<serde_json::Value>,
    email: Option<String>,
    #[schema(rename = "extensionData")]
    extension_data: Option<Vec<EndEntityExtendedInfoDto>>,
    password: Option<String>,
    #[schema(rename = "subjectAltName")]
    subject_alt_name: Option<String>,
    #[schema(rename = "subjectDN")]
    subject_dn: Option<String>,
    status: Option<String>,
}

#[utoipa::path(get, path = "/api/v2/operations/authorities/{authorityUuid}/raProfiles/{raProfileUuid}/attributes/issue",
    tag = "Client Operations", params(("authorityUuid" = String, Path), ("raProfileUuid" = String, Path)),
    responses((status = 200, body = Vec<BaseAttribute>), (status = 400, body = ErrorMessageDto),
              (status = 401), (status = 403, body = AuthenticationServiceExceptionDto),
              (status = 404, body = ErrorMessageDto)))]
fn issue_attributes() {}

#[utoipa::path(post, path = "/api/v2/operations/authorities/{authorityUuid}/raProfiles/{raProfileUuid}/attributes/issue/validate",
    tag = "Client Operations", params(("authorityUuid" = String, Path), ("raProfileUuid" = String, Path)),
    request_body = Vec<RequestAttribute>,
    responses((status = 200, description = "acceptable"), (status = 400, body = ErrorMessageDto), (status = 401),
              (status = 404, body = ErrorMessageDto), (status = 422, body = Vec<String>)))]
fn validate_issue_attributes() {}

#[utoipa::path(get, path = "/api/v2/operations/authorities/{authorityUuid}/raProfiles/{raProfileUuid}/attributes/revoke",
    tag = "Client Operations", params(("authorityUuid" = String, Path), ("raProfileUuid" = String, Path)),
    responses((status = 200, body = Vec<BaseAttribute>), (status = 400, body = ErrorMessageDto), (status = 401),
              (status = 403, body = AuthenticationServiceExceptionDto), (status = 404, body = ErrorMessageDto)))]
fn revoke_attributes() {}

#[utoipa::path(post, path = "/api/v2/operations/authorities/{authorityUuid}/raProfiles/{raProfileUuid}/attributes/revoke/validate",
    tag = "Client Operations", params(("authorityUuid" = String, Path), ("raProfileUuid" = String, Path)),
    request_body = Vec<RequestAttribute>,
    responses((status = 200, description = "acceptable"), (status = 400, body = ErrorMessageDto), (status = 401),
              (status = 404, body = ErrorMessageDto), (status = 422, body = Vec<String>)))]
fn validate_revoke_attributes() {}

#[utoipa::path(post, path = "/api/v2/operations/authorities/{authorityUuid}/raProfiles/{raProfileUuid}/certificates",
    tag = "Client Operations", params(("authorityUuid" = String, Path), ("raProfileUuid" = String, Path)),
    request_body = ClientCertificateSignRequestDto,
    responses((status = 200, body = ClientCertificateDataResponseDto),
              (status = 400, body = ErrorMessageDto, description = "unreadable body, CSR not Base64 or not a CSR"),
              (status = 401), (status = 403, body = AuthenticationServiceExceptionDto),
              (status = 404, body = ErrorMessageDto),
              (status = 422, body = Vec<String>, description = "attributes or the RA profile's policy refuse it")))]
fn issue() {}

#[utoipa::path(post, path = "/api/v2/operations/authorities/{authorityUuid}/raProfiles/{raProfileUuid}/certificates/{certificateUuid}/issue",
    tag = "Client Operations",
    params(("authorityUuid" = String, Path), ("raProfileUuid" = String, Path), ("certificateUuid" = String, Path)),
    responses((status = 200, body = ClientCertificateDataResponseDto), (status = 400, body = ErrorMessageDto),
              (status = 401), (status = 404, body = ErrorMessageDto),
              (status = 422, body = Vec<String>, description = "the certificate is not REQUESTED")))]
fn issue_requested() {}

#[utoipa::path(post, path = "/api/v2/operations/authorities/{authorityUuid}/raProfiles/{raProfileUuid}/certificates/{certificateUuid}/renew",
    tag = "Client Operations",
    params(("authorityUuid" = String, Path), ("raProfileUuid" = String, Path), ("certificateUuid" = String, Path)),
    request_body = ClientCertificateRenewRequestDto,
    responses((status = 200, body = ClientCertificateDataResponseDto), (status = 400, body = ErrorMessageDto),
              (status = 401), (status = 404, body = ErrorMessageDto), (status = 422, body = Vec<String>)))]
fn renew() {}

#[utoipa::path(post, path = "/api/v2/operations/authorities/{authorityUuid}/raProfiles/{raProfileUuid}/certificates/{certificateUuid}/rekey",
    tag = "Client Operations",
    params(("authorityUuid" = String, Path), ("raProfileUuid" = String, Path), ("certificateUuid" = String, Path)),
    request_body = ClientCertificateRekeyRequestDto,
    responses((status = 200, body = ClientCertificateDataResponseDto),
              (status = 400, body = ErrorMessageDto, description = "the same key, or another subject"),
              (status = 401), (status = 404, body = ErrorMessageDto), (status = 422, body = Vec<String>)))]
fn rekey() {}

#[utoipa::path(post, path = "/api/v2/operations/authorities/{authorityUuid}/raProfiles/{raProfileUuid}/certificates/{certificateUuid}/revoke",
    tag = "Client Operations",
    params(("authorityUuid" = String, Path), ("raProfileUuid" = String, Path), ("certificateUuid" = String, Path)),
    request_body = ClientCertificateRevocationDto,
    responses((status = 204, description = "revoked, or pending_revoke until confirmed"),
              (status = 400, body = ErrorMessageDto), (status = 401), (status = 404, body = ErrorMessageDto),
              (status = 422, body = Vec<String>)))]
fn revoke() {}

#[utoipa::path(post, path = "/api/v2/operations/authorities/{authorityUuid}/raProfiles/{raProfileUuid}/certificates/{certificateUuid}/finalize",
    tag = "Client Operations",
    params(("authorityUuid" = String, Path), ("raProfileUuid" = String, Path), ("certificateUuid" = String, Path)),
    request_body = ClientCertificateFinalizeRequestDto,
    responses((status = 200, body = CertificateDetailDto, description = "PENDING_ISSUE → ISSUED"),
              (status = 400, body = ErrorMessageDto, description = "not Base64 DER/PEM, another key or subject, another issuer"),
              (status = 401), (status = 404, body = ErrorMessageDto),
              (status = 422, body = Vec<String>, description = "Certificate is not in PENDING_ISSUE state")))]
fn finalize() {}

#[utoipa::path(post, path = "/api/v2/operations/authorities/{authorityUuid}/raProfiles/{raProfileUuid}/certificates/{certificateUuid}/revoke/confirm",
    tag = "Client Operations",
    params(("authorityUuid" = String, Path), ("raProfileUuid" = String, Path), ("certificateUuid" = String, Path)),
    responses((status = 200, body = CertificateDetailDto, description = "PENDING_REVOKE → REVOKED"),
              (status = 401), (status = 404, body = ErrorMessageDto),
              (status = 422, body = Vec<String>, description = "Certificate is not in PENDING_REVOKE state")))]
fn confirm_revoke() {}

#[utoipa::path(post, path = "/api/v2/operations/authorities/{authorityUuid}/raProfiles/{raProfileUuid}/certificates/{certificateUuid}/cancel",
    tag = "Client Operations",
    params(("authorityUuid" = String, Path), ("raProfileUuid" = String, Path), ("certificateUuid" = String, Path)),
    request_body = ClientCertificateCancelRequestDto,
    responses((status = 200, body = CertificateDetailDto, description = "PENDING_ISSUE → FAILED, PENDING_REVOKE → ISSUED"),
              (status = 401), (status = 404, body = ErrorMessageDto),
              (status = 422, body = Vec<String>, description = "not pending, or it can no longer be aborted")))]
fn cancel() {}

#[utoipa::path(post, path = "/api/v1/operations/{raProfileName}/certificate/issue", tag = "Legacy Client Operations",
    params(("raProfileName" = String, Path)), request_body = LegacyClientCertificateSignRequestDto,
    responses((status = 200, body = LegacyClientCertificateSignResponseDto),
              (status = 400, body = ErrorMessageDto, description = "wrong password, end entity not NEW, bad CSR"),
              (status = 401), (status = 404, body = ErrorMessageDto), (status = 422, body = Vec<String>)))]
fn legacy_issue() {}

#[utoipa::path(post, path = "/api/v1/operations/{raProfileName}/certificate/revoke", tag = "Legacy Client Operations",
    params(("raProfileName" = String, Path)), request_body = LegacyClientCertificateRevocationDto,
    responses((status = 200), (status = 400, body = ErrorMessageDto), (status = 401),
              (status = 404, body = ErrorMessageDto), (status = 422, body = Vec<String>)))]
fn legacy_revoke() {}

#[utoipa::path(get, path = "/api/v1/operations/{raProfileName}/endentity", tag = "Legacy Client Operations",
    params(("raProfileName" = String, Path)),
    responses((status = 200, body = Vec<ClientEndEntityDto>), (status = 401), (status = 404, body = ErrorMessageDto)))]
fn list_end_entities() {}

#[utoipa::path(post, path = "/api/v1/operations/{raProfileName}/endentity", tag = "Legacy Client Operations",
    params(("raProfileName" = String, Path)), request_body = ClientAddEndEntityRequestDto,
    responses((status = 200), (status = 400, body = ErrorMessageDto), (status = 401),
              (status = 404, body = ErrorMessageDto), (status = 409, body = ErrorMessageDto)))]
fn add_end_entity() {}

#[utoipa::path(get, path = "/api/v1/operations/{raProfileName}/endentity/{username}", tag = "Legacy Client Operations",
    params(("raProfileName" = String, Path), ("username" = String, Path)),
    responses((status = 200, body = ClientEndEntityDto), (status = 401), (status = 404, body = ErrorMessageDto)))]
fn get_end_entity() {}

#[utoipa::path(post, path = "/api/v1/operations/{raProfileName}/endentity/{username}", tag = "Legacy Client Operations",
    params(("raProfileName" = String, Path), ("username" = String, Path)), request_body = ClientEditEndEntityRequestDto,
    responses((status = 200), (status = 400, body = ErrorMessageDto), (status = 401),
              (status = 404, body = ErrorMessageDto)))]
fn edit_end_entity() {}

#[utoipa::path(delete, path = "/api/v1/operations/{raProfileName}/endentity/{username}", tag = "Legacy Client Operations",
    params(("raProfileName" = String, Path), ("username" = String, Path)),
    responses((status = 200, description = "its certificates revoked (cessationOfOperation), then deleted"),
              (status = 401), (status = 404, body = ErrorMessageDto)))]
fn delete_end_entity() {}

#[utoipa::path(put, path = "/api/v1/operations/{raProfileName}/endentity/{username}/resetPassword",
    tag = "Legacy Client Operations", params(("raProfileName" = String, Path), ("username" = String, Path)),
    responses((status = 200, description = "status back to NEW: the password enrols again"), (status = 401),
              (status = 404, body = ErrorMessageDto)))]
fn reset_password() {}

/// The face's document.
#[derive(OpenApi)]
#[openapi(
    info(title = "certwright — CZERTAINLY face",
         description = "CZERTAINLY Core client operations (v2 RA-profile certificate operations and the legacy v1 \
                        operations with end entities), over certwright's lifecycle engine. Finalize, confirm-revoke \
                        and cancel live under /certificates/{certificateUuid}/finalize, /revoke/confirm and /cancel."),
    paths(issue_attributes, validate_issue_attributes, revoke_attributes, validate_revoke_attributes, issue,
          issue_requested, renew, rekey, revoke, finalize, confirm_revoke, cancel, legacy_issue, legacy_revoke,
          list_end_entities, add_end_entity, get_end_entity, edit_end_entity, delete_end_entity, reset_password),
    components(schemas(ErrorMessageDto, AuthenticationServiceExceptionDto, RequestAttribute, RequestAttributeContent,
                       BaseAttribute, DataAttributeProperties, BaseAttributeConstraint,
                       ClientCertificateSignRequestDto, ClientCertificateDataResponseDto,
                       ClientCertificateRenewRequestDto, ClientCertificateRekeyRequestDto,
                       ClientCertificateRevocationDto, ClientCertificateFinalizeRequestDto,
                       ClientCertificateCancelRequestDto, CertificateDetailDto, RaProfileSimplifiedDto,
                       LegacyClientCertificateSignRequestDto, LegacyClientCertificateSignResponseDto,
                       LegacyClientCertificateRevocationDto, ClientEndEntityDto, ClientAddEndEntityRequestDto,
                       ClientEditEndEntityRequestDto, EndEntityExtendedInfoDto)),
    modifiers(&CzToken),
    security(("bearer" = []), ("mutualTLS" = [])),
    tags((name = "Client Operations", description = "v2 certificate operations of an RA profile"),
         (name = "Legacy Client Operations", description = "v1 operations with end entities")),
)]
#[derive(Debug)]
pub struct CzertainlyDoc;

#[derive(Debug)]
struct CzToken;

impl Modify for CzToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
        components.add_security_scheme(
            "mutualTLS",
            SecurityScheme::MutualTls {
                description: Some(
                    "A client certificate issued by a trusted client CA (client_ca_authorities, client_ca_files), \
                     on the TLS connection or in the ssl-client-cert header of a trusted proxy; a Bearer token, \
                     when sent, decides instead."
                        .to_owned(),
                ),
                extensions: None,
            },
        );
    }
}
