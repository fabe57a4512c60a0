//! The OpenAPI document of the senhasegura face, served at `/iso/openapi.json`: every route with its generation
//! and aliases, the parameters each accepts, the envelope, and the table of `NNNN` message codes.

use super::envelope::CODES;
use axum::response::IntoResponse;
use serde_json::{json, Map, Value};

/// `(method, path, summary, parameters)` of every documented operation.
pub const OPERATIONS: &[(&str, &str, &str, &str)] = &[
    ("post", "/iso/oauth2/token", "OAuth 2.0 client-credentials token (form body or HTTP Basic client authentication)", "grant_type, client_id, client_secret"),
    ("post", "/api/oauth2/token", "The same token endpoint under /api", "grant_type, client_id, client_secret"),
    ("post", "/iso/certificate/request", "Create a request", REQUEST_FIELDS),
    ("post", "/iso/certificate/request/{code}", "Modify request {code} (only before it is signed, or after it was rejected or failed)", REQUEST_FIELDS),
    ("post", "/iso/certificado/request", "Portuguese alias of /iso/certificate/request", REQUEST_FIELDS),
    ("post", "/iso/certificado/request/{code}", "Portuguese alias of /iso/certificate/request/{code}", REQUEST_FIELDS),
    ("post", "/api/certificate/request", "Create (or, with code_request, modify) a request; result in `data`", REQUEST_FIELDS),
    ("post", "/api/v1/certificates/requests", "Create (or, with code_request, modify) a request; flat answer", REQUEST_FIELDS),
    ("get", "/iso/certificate/request/list", "List requests", LIST_FIELDS),
    ("get", "/iso/certificate/request/list/{code}", "One request (also /iso/certificate/request/list{code} and /iso/certificate/request/{code})", ""),
    ("get", "/iso/certificado/request/listar", "Portuguese alias of /iso/certificate/request/list", LIST_FIELDS),
    ("get", "/iso/certificado/request/listar/{code}", "Portuguese alias of /iso/certificate/request/list/{code}", ""),
    ("get", "/api/certificate/request/list", "List requests; results in `data`", LIST_FIELDS),
    ("get", "/api/certificate/request/list/{code}", "One request; result in `data`", ""),
    ("get", "/api/v1/certificates/requests", "List requests; flat answer with `requests`", LIST_FIELDS),
    ("get", "/api/certificate/request/status/{code}", "Status of a request: request_code, status_request, certificate_code", ""),
    ("get", "/iso/certificate/request/sign", "Sign the request named by code_request (also POST)", SIGN_FIELDS),
    ("get", "/iso/certificate/request/sign/{code}", "Sign request {code} (also POST, and /iso/certificate/request/sign{code})", SIGN_FIELDS),
    ("get", "/iso/certificado/request/assinar/{code}", "Portuguese alias of the sign method", SIGN_FIELDS),
    ("post", "/api/certificate/request/sign/{code}", "Sign a request; result in `data`", SIGN_FIELDS),
    ("post", "/api/v1/certificates/requests/{code}/sign", "Sign a request; flat answer", SIGN_FIELDS),
    ("get", "/iso/certificate/list", "List certificates of the whole inventory", CERT_FIELDS),
    ("get", "/iso/certificate/list/{code}", "One certificate", ""),
    ("get", "/iso/certificado/listar", "Portuguese alias of /iso/certificate/list", CERT_FIELDS),
    ("get", "/iso/certificado/listar/{code}", "Portuguese alias of /iso/certificate/list/{code}", ""),
    ("get", "/api/certificate/list", "List certificates; results in `data`", CERT_FIELDS),
    ("get", "/api/certificate/list/{code}", "One certificate; result in `data`", ""),
    ("get", "/api/v1/certificates", "List certificates; flat answer with `certificates`", CERT_FIELDS),
    ("post", "/iso/certificate/revoke/{code}", "Revoke certificate {code} (certwright extension): reason (RFC 5280 name or code), password_revogation where one was set", "reason, password_revogation"),
    ("post", "/iso/certificate/revoke", "Revoke the certificate named by code_certificate (certwright extension)", "code_certificate, reason, password_revogation"),
    ("post", "/api/certificate/revoke", "Revoke a certificate (certwright extension): code_certificate, reason, password_revogation", "code_certificate, reason, password_revogation"),
    ("put", "/api/certificate/upload", "Import a certificate: base64 PEM, DER or PFX, optional base64 key, passwords; answers status_certificate 1", "certificate, private_key, password, revoke_password, extension"),
    ("post", "/api/certificate/download", "Download a certificate (pem with chain, crt DER, or pfx with its key); the key needs the key password where one was set", "id, format (pfx|pem|crt), download_key, password"),
    ("post", "/iso/pam/device", "Create a device, or change the one with this hostname (201 `device`)", DEVICE_FIELDS),
    ("get", "/iso/pam/device", "List devices (`devices`)", "active (1|0), hostname"),
    ("get", "/iso/pam/device/{id}", "One device (`device`); unknown: 400 1011", ""),
    ("delete", "/iso/pam/device/{id}", "Make a device inactive: it is no longer published to", ""),
    ("post", "/iso/pam/credential", "Create a credential, or change the one with this identifier (201 `credential`); the content is sealed and never returned", CREDENTIAL_FIELDS),
    ("get", "/iso/pam/credential", "List credentials (`credentials`), without their content", ""),
    ("get", "/iso/pam/credential/{id}", "One credential by id or identifier, without its content", ""),
    ("delete", "/iso/pam/credential/{id}", "Make a credential inactive and forget its content", ""),
    ("post", "/iso/cert/profile/apache", "Create (no code_profile) or modify an Apache publication profile; the answer carries code_profile and code_path [sic]", APACHE_FIELDS),
    ("post", "/iso/cert/perfil/apache", "Portuguese alias (nome_perfil, codigo_credencial, dispositivos)", APACHE_FIELDS),
    ("post", "/iso/cert/profile/iis", "Create or modify an IIS publication profile", IIS_FIELDS),
    ("post", "/iso/cert/perfil/iis", "Portuguese alias of /iso/cert/profile/iis", IIS_FIELDS),
    ("post", "/iso/cert/profile/bigip", "Create or modify an F5 BIG-IP publication profile (client-ssl profiles only; name_cert is kept but objects are named after the certificate's fingerprint)", BIGIP_FIELDS),
    ("post", "/iso/cert/perfil/bigip", "Portuguese alias of /iso/cert/profile/bigip", BIGIP_FIELDS),
    ("post", "/iso/cert/profile/was", "Create or modify a WebSphere (IBM key database) publication profile; key_db_password is sealed, never returned", WAS_FIELDS),
    ("post", "/iso/cert/perfil/was", "Portuguese alias of /iso/cert/profile/was", WAS_FIELDS),
    ("get", "/iso/cert/profile", "List publication profiles (certwright extension)", ""),
    ("get", "/iso/cert/profile/{code}", "One publication profile (certwright extension)", ""),
    ("post", "/iso/cert/publish", "Publish a certificate on some of a profile's devices: one deployment per device (per client-ssl profile on a BIG-IP)", PUBLISH_FIELDS),
    ("post", "/iso/cert/publicar", "Portuguese alias (codigo_certificado, codigo_perfil_publicacao, motivo, dispositivos)", PUBLISH_FIELDS),
    ("get", "/iso/cert/publish", "List publications; processed = every device's deployment ended, error = one failed", PUBLICATION_FILTERS),
    ("get", "/iso/cert/publish/{code}", "One publication with the state and error of each device", ""),
    ("get", "/iso/cert/publicar/listar", "Portuguese alias of /iso/cert/publish", PUBLICATION_FILTERS),
    ("get", "/iso/cert/publicar/listar/{code}", "Portuguese alias of /iso/cert/publish/{code}", ""),
];

const DEVICE_FIELDS: &str = "hostname, ip, model, type, vendor, site, device_domain, device_tags[]; certwright: \
     ssh_port (22), ssh_host_key (pinned OpenSSH host key; required to publish over SSH), ca_pem (CA of the \
     management TLS), winrm_port (5986). A loopback ip without ssh_host_key is this server's own host";
const CREDENTIAL_FIELDS: &str = "identifier ([A-Za-z0-9-_.]; generated when absent), username, hostname or ip of \
     the device, content (a password, or a private key when it starts with -----BEGIN), additional, tags[], \
     credential_type";
const APACHE_FIELDS: &str = "code_profile, name_profile, site (ServerName or ServerAlias), config_path \
     (/etc/apache2/sites-available/default.com.conf), port (443), code_credential or username, devices[]; \
     certwright: test_command, reload_command (argv split at spaces; need deploy_allow_custom_commands)";
const IIS_FIELDS: &str = "code_profile, name_profile, site (Default Web Site), cert_store (MY), port (443), \
     code_credential or username, devices[]";
const BIGIP_FIELDS: &str = "code_profile, name_profile, name_partition (Common), name_cert, \
     profile_client_vips[] (client-ssl profile names), profile_server_vips[] (kept, not changed), \
     code_credential or username, devices[]";
const WAS_FIELDS: &str = "code_profile, name_profile, key_db_path, key_db_password, label, code_credential or \
     username, devices[]";
const PUBLISH_FIELDS: &str = "code_certificate, code_profile_publication, justification (<= 1024), reason (1 New \
     certificate, 2 Renewal, 3 Scheduled Renewal, 4 Replacement, 5 Key compromise, 6 Other), itms_code (<= 30), \
     devices[]";
const PUBLICATION_FILTERS: &str = "code_publication, code_certified, code_profile_publication, creation_date, \
     processed (1|0), error (1|0), reason, itms_code, device, offset, limit";

const REQUEST_FIELDS: &str = "code_request, certificate_type (1 DV, 2 OV, 3 EV), domain_type (SING|MULT|WILD), \
     organization, common_name, san[], tags[], encryption (RSA|DSA), encryption_key_size (4096|2048|1024), \
     certificate_algorithm (SHA256|SHA384|SHA512; DSA: SHA256 only), validity (days), key_password, \
     password_revogation, environments[], systems[], project, external_ip, hostname_ip, justification (<= 1024), \
     responsible (principal id), description (<= 512)";
const LIST_FIELDS: &str = "code_request, status_request, type_certificate, type_domain, organization, common_name, \
     san, tags, encryption, encryption_key_size, algorithm_certified, validity, environments, systems, design, \
     ip_external, ip_hostname, responsible, offset, limit (1-1000, default 50)";
const SIGN_FIELDS: &str = "code_request, self_signed (1|0), ca (authority id; required when self_signed is 0), \
     justification (<= 1024), reason (1 New certificate, 2 Renewal, 3 Scheduled Renewal, 4 Replacement, \
     5 Key compromise, 6 Other), itsm_code (<= 30)";
const CERT_FIELDS: &str = "code_certificate, status_certificate (1 Valid, 2 Revoked, 3 Renewal pending, 4 Expired), \
     active (1|0), start_validity, end_validity (expiry between; YYYY-MM-DD or DD/MM/YYYY), origin_certificate \
     (SCAN|REQU|IMPO), self_signed, ca, and the request filters, offset, limit";

/// The document.
pub fn document_value() -> Value {
    let codes: Vec<String> = CODES.iter().map(|(c, t)| format!("| {c} | {t} |")).collect();
    let description = format!(
        "senhasegura Certificate Manager A2A API. Parameters are accepted in the query string, as \
         application/x-www-form-urlencoded (arrays as `san[]=a&san[]=b` or comma-separated) or as JSON. Every \
         answer carries `{{\"code\", \"response\": {{status, message, error, error_code, detail, mensagem, erro, \
         cod_erro}}, <result>}}`; errors add `\"exception\": {{code, message, detail}}`. Request statuses: 1 - Created, \
         2 - Pending approval, 3 - Pending issue, 4 - Rejected, 5 - Failed, 7 - Signed. Secrets are never returned: \
         password fields show `********` when set.\n\n| code | message |\n| --- | --- |\n{}",
        codes.join("\n")
    );
    let mut paths = Map::new();
    for (method, path, summary, params) in OPERATIONS {
        let entry = paths.entry((*path).to_owned()).or_insert_with(|| json!({}));
        if let Value::Object(m) = entry {
            m.insert(
                (*method).to_owned(),
                json!({
                    "summary": summary,
                    "description": if params.is_empty() { String::new() } else { format!("Parameters: {params}.") },
                    "security": [{"bearer": []}, {"oauth1": []}, {"legacy": []}],
                    "responses": {
                        "200": {"description": "the envelope with the result"},
                        "400": {"description": "the envelope with `exception`: a parameter is missing or invalid"},
                        "401": {"description": "1010: not authenticated"},
                        "404": {"description": "the envelope with `exception`: nothing with that code"},
                    },
                }),
            );
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "certwright senhasegura face", "version": env!("CARGO_PKG_VERSION"), "description": description},
        "paths": paths,
        "components": {"securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"},
            "oauth1": {"type": "apiKey", "in": "header", "name": "Authorization",
                       "description": "OAuth 1.0a (RFC 5849): `OAuth oauth_consumer_key=…, oauth_token=…, oauth_signature_method=HMAC-SHA1 (or HMAC-SHA256), oauth_timestamp=…, oauth_nonce=…, oauth_signature=…` (also in the query or a form body); credentials from /v1/oauth1-credentials"},
            "legacy": {"type": "apiKey", "in": "query", "name": "oauth_token",
                       "description": "with oauth_consumer_key = the API token's id"},
        }},
    })
}

/// `GET /iso/openapi.json`.
pub async fn document() -> impl IntoResponse {
    axum::Json(document_value())
}
