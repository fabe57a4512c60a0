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
    ("get", "/api/certificate/request/list", "List requests; results in `data`", LIST_FIELDS),
    ("get", "/api/certificate/request/list/{code}", "One request; result in `data`", ""),
    ("get", "/api/v1/certificates/requests", "List requests; flat answer with `requests`", LIST_FIELDS),
    ("get", "/api/certificate/request/status/{code}", "Status of a request: request_code, status_request, certificate_code", ""),
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
    ("post", "/api/certificate/revoke", "Revoke a certificate (certwright extension): code_certificate, reason, password_revogation", "code_certificate, reason, password_revogation"),
    ("put", "/api/certificate/upload", "Import a certificate: base64 PEM, DER or PFX, optional base64 key, passwords; answers status_certificate 1", "certificate, private_key, password, revoke_password, extension"),
    ("post", "/api/certificate/download", "Download a certificate (pem with chain, crt DER, or pfx with its key); the key needs the key password where one was set", "id, format (pfx|pem|crt), download_key, password"),
];

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
                    "security": [{"bearer": []}, {"legacy": []}],
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
            "legacy": {"type": "apiKey", "in": "query", "name": "oauth_token",
                       "description": "with oauth_consumer_key = the API token's id"},
        }},
    })
}

/// `GET /iso/openapi.json`.
pub async fn document() -> impl IntoResponse {
    axum::Json(document_value())
}
