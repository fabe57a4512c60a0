//! Requests (create, change, list, sign, status), the certificate inventory, revocation, upload and download.

use super::envelope::{Answer, SsError};
use super::params::{clip, Params};
use super::{date_time, params_of, parse_date, publish, Generation, SsAuth};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine;
use certwright_core::ca::Origin;
use certwright_core::forms::{
    CertificateStanding, DomainKind, FormCertificate, FormCertificateFilter, FormFilter, FormStatus, FormView,
    KeyFamily, ValidationLevel,
};
use certwright_core::page::Page;
use certwright_core::revocation::RevocationReason;
use certwright_core::services::{FormInput, ImportRequest, RevokeOutcome, RevokeRequest, SignInput, Upload};
use certwright_pki::pem;
use serde_json::{json, Value};
use zeroize::Zeroizing;

/// The request, inventory and revocation routes of every generation.
pub fn routes() -> Router<AppState> {
    let save_iso = |g| post(move |a, s, u, h, b| save(a, s, u, h, b, g, None));
    Router::new()
        // Create / modify: the code in the path or in `code_request`.
        .route("/iso/certificate/request", save_iso(Generation::Iso))
        .route(
            "/iso/certificate/request/{code}",
            post(|a, s, u, h, Path(code): Path<String>, b| async move {
                save(a, s, u, h, b, Generation::Iso, Some(code)).await
            })
            .get(|a, s, u, h, Path(code): Path<String>, b| async move { dispatch_get(a, s, u, h, b, &code).await }),
        )
        .route("/iso/certificado/request", save_iso(Generation::Iso))
        .route(
            "/iso/certificado/request/{code}",
            post(|a, s, u, h, Path(code): Path<String>, b| async move {
                save(a, s, u, h, b, Generation::Iso, Some(code)).await
            })
            .get(|a, s, u, h, Path(code): Path<String>, b| async move { dispatch_get(a, s, u, h, b, &code).await }),
        )
        .route("/api/certificate/request", save_iso(Generation::Api))
        .route(
            "/api/v1/certificates/requests",
            save_iso(Generation::V1).get(|a, s, u, h, b| list_requests(a, s, u, h, b, Generation::V1, None)),
        )
        // List.
        .route(
            "/iso/certificate/request/list",
            get(|a, s, u, h, b| list_requests(a, s, u, h, b, Generation::Iso, None)),
        )
        .route(
            "/iso/certificate/request/list/{code}",
            get(|a, s, u, h, Path(code): Path<String>, b| async move {
                list_requests(a, s, u, h, b, Generation::Iso, Some(code)).await
            }),
        )
        .route(
            "/iso/certificado/request/listar",
            get(|a, s, u, h, b| list_requests(a, s, u, h, b, Generation::Iso, None)),
        )
        .route(
            "/api/certificate/request/list",
            get(|a, s, u, h, b| list_requests(a, s, u, h, b, Generation::Api, None)),
        )
        .route(
            "/api/certificate/request/list/{code}",
            get(|a, s, u, h, Path(code): Path<String>, b| async move {
                list_requests(a, s, u, h, b, Generation::Api, Some(code)).await
            }),
        )
        .route(
            "/api/certificate/request/status/{code}",
            get(|a, s, Path(code): Path<String>| async move { status(a, s, code).await }),
        )
        // Sign.
        .route(
            "/iso/certificate/request/sign",
            get(|a, s, u, h, b| sign(a, s, u, h, b, Generation::Iso, None))
                .post(|a, s, u, h, b| sign(a, s, u, h, b, Generation::Iso, None)),
        )
        .route(
            "/iso/certificate/request/sign/{code}",
            get(|a, s, u, h, Path(code): Path<String>, b| async move {
                sign(a, s, u, h, b, Generation::Iso, Some(code)).await
            })
            .post(|a, s, u, h, Path(code): Path<String>, b| async move {
                sign(a, s, u, h, b, Generation::Iso, Some(code)).await
            }),
        )
        .route(
            "/iso/certificado/request/assinar/{code}",
            get(|a, s, u, h, Path(code): Path<String>, b| async move {
                sign(a, s, u, h, b, Generation::Iso, Some(code)).await
            })
            .post(|a, s, u, h, Path(code): Path<String>, b| async move {
                sign(a, s, u, h, b, Generation::Iso, Some(code)).await
            }),
        )
        .route(
            "/api/certificate/request/sign/{code}",
            post(|a, s, u, h, Path(code): Path<String>, b| async move {
                sign(a, s, u, h, b, Generation::Api, Some(code)).await
            }),
        )
        .route(
            "/api/v1/certificates/requests/{code}/sign",
            post(|a, s, u, h, Path(code): Path<String>, b| async move {
                sign(a, s, u, h, b, Generation::V1, Some(code)).await
            }),
        )
        // Certificates.
        .route("/iso/certificate/list", get(|a, s, u, h, b| list_certificates(a, s, u, h, b, Generation::Iso, None)))
        .route(
            "/iso/certificate/list/{code}",
            get(|a, s, u, h, Path(code): Path<String>, b| async move {
                list_certificates(a, s, u, h, b, Generation::Iso, Some(code)).await
            }),
        )
        .route("/iso/certificado/listar", get(|a, s, u, h, b| list_certificates(a, s, u, h, b, Generation::Iso, None)))
        .route(
            "/iso/certificado/listar/{code}",
            get(|a, s, u, h, Path(code): Path<String>, b| async move {
                list_certificates(a, s, u, h, b, Generation::Iso, Some(code)).await
            }),
        )
        .route("/api/certificate/list", get(|a, s, u, h, b| list_certificates(a, s, u, h, b, Generation::Api, None)))
        .route(
            "/api/certificate/list/{code}",
            get(|a, s, u, h, Path(code): Path<String>, b| async move {
                list_certificates(a, s, u, h, b, Generation::Api, Some(code)).await
            }),
        )
        .route("/api/v1/certificates", get(|a, s, u, h, b| list_certificates(a, s, u, h, b, Generation::V1, None)))
        // Revocation.
        .route("/iso/certificate/revoke", post(|a, s, u, h, b| revoke(a, s, u, h, b, Generation::Iso, None)))
        .route(
            "/iso/certificate/revoke/{code}",
            post(|a, s, u, h, Path(code): Path<String>, b| async move {
                revoke(a, s, u, h, b, Generation::Iso, Some(code)).await
            }),
        )
        .route("/api/certificate/revoke", post(|a, s, u, h, b| revoke(a, s, u, h, b, Generation::Api, None)))
}

type Uri = OriginalUri;

/// A code from the path (or the parameters) as an integer.
fn code_of(field: &str, path: Option<&str>, p: &Params, names: &[&str]) -> Result<Option<i64>, SsError> {
    match path.map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => s
            .parse::<i64>()
            .map(Some)
            .map_err(|_| SsError::invalid(format!("{field} must be an integer, got '{}'", clip(s)))),
        None => p.int(names),
    }
}

/// `GET /iso/certificate/request/<segment>`: the documented forms without a slash (`list12`, `sign12`) and a
/// bare code (one request).
async fn dispatch_get(
    auth: Result<SsAuth, SsError>,
    state: State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
    segment: &str,
) -> Response {
    if let Some(rest) = segment.strip_prefix("list").or_else(|| segment.strip_prefix("listar")) {
        let code = (!rest.is_empty()).then(|| rest.to_owned());
        return list_requests(auth, state, uri, headers, body, Generation::Iso, code).await;
    }
    if let Some(rest) = segment.strip_prefix("sign").or_else(|| segment.strip_prefix("assinar")) {
        let code = (!rest.is_empty()).then(|| rest.to_owned());
        return sign(auth, state, uri, headers, body, Generation::Iso, code).await;
    }
    list_requests(auth, state, uri, headers, body, Generation::Iso, Some(segment.to_owned())).await
}

fn respond(r: Result<Response, SsError>) -> Response {
    r.unwrap_or_else(IntoResponse::into_response)
}

// ---------------------------------------------------------------------------------------------------------
// Requests

fn domain_kind(v: &str) -> Result<DomainKind, SsError> {
    match v.to_ascii_uppercase().as_str() {
        "SING" => Ok(DomainKind::Single),
        "MULT" => Ok(DomainKind::Multiple),
        "WILD" => Ok(DomainKind::Wildcard),
        _ => Err(SsError::invalid(format!("domain_type must be SING, MULT or WILD, got '{}'", clip(v)))),
    }
}

fn domain_code(k: DomainKind) -> &'static str {
    match k {
        DomainKind::Single => "SING",
        DomainKind::Multiple => "MULT",
        DomainKind::Wildcard => "WILD",
    }
}

fn key_family(v: &str) -> Result<KeyFamily, SsError> {
    match v.to_ascii_uppercase().as_str() {
        "RSA" => Ok(KeyFamily::Rsa),
        "DSA" => Ok(KeyFamily::Dsa),
        _ => Err(SsError::invalid(format!("encryption must be RSA or DSA, got '{}'", clip(v)))),
    }
}

fn digest(v: &str) -> Result<String, SsError> {
    let d = v.to_ascii_lowercase().replace('-', "");
    if matches!(d.as_str(), "sha256" | "sha384" | "sha512") {
        Ok(d)
    } else {
        Err(SsError::invalid(format!("certificate_algorithm must be SHA256, SHA384 or SHA512, got '{}'", clip(v))))
    }
}

fn key_size(p: &Params, names: &[&str]) -> Result<Option<u32>, SsError> {
    p.int(names)?
        .map(|v| match v {
            1024 | 2048 | 4096 => Ok(v as u32),
            _ => Err(SsError::invalid(format!("encryption_key_size must be 4096, 2048 or 1024, got {v}"))),
        })
        .transpose()
}

/// `"N - Name"`.
fn numbered(code: i64, name: &str) -> String {
    format!("{code} - {name}")
}

fn masked(hash: &Option<String>) -> Value {
    // Secrets are never returned: whether one is set is all that shows.
    if hash.is_some() {
        json!("********")
    } else {
        json!("")
    }
}

/// A request as every generation shows it (both of the vendor's spellings where they differ).
fn render_form(v: &FormView, authorities: &[(i64, String)]) -> Value {
    let f = &v.form;
    let responsible = match (f.responsible_id, &v.responsible) {
        (Some(id), Some(name)) => json!(numbered(id, name)),
        _ => Value::Null,
    };
    let algorithm = f.digest.to_ascii_uppercase();
    let mut out = json!({
        "code_request": f.id,
        "request_code": f.id,
        "status_request": numbered(v.status.code(), v.status.name()),
        "type_certificate": f.validation_level.code(),
        "type_certified": f.validation_level.code(),
        "type_domain": domain_code(f.domain_kind),
        "organization": f.organization_id,
        "organization_name": v.organization,
        "common_name": f.common_name,
        "san": f.sans,
        "tags": f.terms.tags,
        "encryption": f.key_family.as_str().to_ascii_uppercase(),
        "encryption_key_size": f.key_size,
        "certificate_algorithm": algorithm,
        "certified_algorithm": algorithm,
        "algorithm_certified": algorithm,
        "validity": f.validity_days,
        "password_key": masked(&f.key_password_hash),
        "password_revocation": masked(&f.revocation_password_hash),
        "environments": f.terms.environments,
        "systems": f.terms.systems,
        "project": f.project,
        "design": f.project,
        "ip_external": f.external_ip,
        "ip_hostname": f.hostname,
        "justification": f.justification,
        "responsible": f.responsible_id,
        "Responsible": responsible,
        "description": f.description,
        "certificate_code": v.certificate_id,
        "code_certificate": v.certificate_id,
        "created_at": date_time(f.created_at),
    });
    if let (Some(s), Value::Object(o)) = (&f.signing, &mut out) {
        let ca = s.authority_id.map(|id| {
            let name = authorities.iter().find(|(a, _)| *a == id).map_or("", |(_, n)| n.as_str());
            numbered(id, name)
        });
        o.insert("self_signed".into(), json!(i64::from(s.self_signed)));
        o.insert("ca".into(), json!(ca));
        o.insert(
            "reason".into(),
            json!(numbered(s.reason, certwright_core::forms::reason_name(s.reason).unwrap_or("Unknown"))),
        );
        o.insert("sign_justification".into(), json!(s.justification));
        o.insert("itsm_code".into(), json!(s.itsm_code));
        o.insert("signed_at".into(), json!(date_time(s.signed_at)));
    }
    out
}

async fn authority_names(state: &AppState, auth: &SsAuth) -> Vec<(i64, String)> {
    state
        .services
        .list_authorities(&auth.ctx)
        .await
        .map(|list| list.into_iter().map(|a| (a.id, a.name)).collect())
        .unwrap_or_default()
}

fn form_input(p: &Params) -> Result<FormInput, SsError> {
    let text = |names: &[&str]| p.raw(names);
    Ok(FormInput {
        validation_level: p.int(&["certificate_type", "type_certificate", "tipo_certificado"])?,
        domain_kind: p.text(&["domain_type", "type_domain", "tipo_dominio"]).map(|v| domain_kind(&v)).transpose()?,
        organization_id: p.int(&["organization", "organizacao"])?,
        common_name: p.text(&["common_name", "nome_comum"]),
        sans: p.list(&["san"]),
        tags: p.list(&["tags"]),
        environments: p.list(&["environments", "ambientes"]),
        systems: p.list(&["systems", "sistemas"]),
        key_family: p.text(&["encryption", "criptografia"]).map(|v| key_family(&v)).transpose()?,
        key_size: key_size(p, &["encryption_key_size", "tamanho_chave"])?,
        digest: p
            .text(&["certificate_algorithm", "algorithm_certified", "algoritmo"])
            .map(|v| digest(&v))
            .transpose()?,
        validity_days: p.int(&["validity", "validade"])?,
        key_password: p.secret(&["key_password", "password_key", "senha_chave"]),
        revocation_password: p.secret(&["password_revogation", "password_revocation", "senha_revogacao"]),
        project: text(&["project", "design", "projeto"]),
        external_ip: text(&["external_ip", "ip_external", "ip_externo"]),
        hostname: text(&["hostname_ip", "ip_hostname"]),
        justification: text(&["justification", "justificativa"]),
        responsible_id: p.int(&["responsible", "responsavel"])?,
        description: text(&["description", "descricao"]),
    })
}

/// Create (no code) or modify a request.
async fn save(
    auth: Result<SsAuth, SsError>,
    State(state): State<AppState>,
    OriginalUri(uri): Uri,
    headers: HeaderMap,
    body: Bytes,
    generation: Generation,
    path_code: Option<String>,
) -> Response {
    respond(
        async {
            let auth = auth?;
            let p = params_of(&uri, &headers, &body)?;
            let code = code_of(
                "code_request",
                path_code.as_deref(),
                &p,
                &["code_request", "request_code", "codigo_request", "id"],
            )?;
            let input = form_input(&p)?;
            let view = state.services.save_request_form(&auth.ctx, code, input).await?;
            let authorities = authority_names(&state, &auth).await;
            let ok = if code.is_some() { Answer::updated() } else { Answer::created() };
            Result::<_, SsError>::Ok(generation.one(ok, "request", render_form(&view, &authorities)))
        }
        .await,
    )
}

fn form_filter(p: &Params, code: Option<i64>) -> Result<FormFilter, SsError> {
    for secret in ["password_key", "password_revocation", "key_password", "password_revogation"] {
        if p.has(secret) {
            return Err(SsError::invalid(format!("{secret}: requests cannot be searched by a password")));
        }
    }
    let mut terms = Vec::new();
    for (kind, names) in [("tag", &["tags"][..]), ("environment", &["environments"]), ("system", &["systems"])] {
        for n in p.list(names).unwrap_or_default() {
            terms.push((kind, n));
        }
    }
    Ok(FormFilter {
        id: code.or(p.int(&["code_request", "request_code"])?),
        status: p
            .int(&["status_request"])?
            .map(|s| {
                FormStatus::from_code(s)
                    .ok_or_else(|| SsError::invalid(format!("status_request {s} is not a request status")))
            })
            .transpose()?,
        validation_level: p
            .int(&["type_certificate", "type_certified"])?
            .map(|l| {
                ValidationLevel::from_code(l).ok_or_else(|| SsError::invalid("type_certificate must be 1, 2 or 3"))
            })
            .transpose()?,
        domain_kind: p.text(&["type_domain", "domain_type"]).map(|v| domain_kind(&v)).transpose()?,
        organization_id: p.int(&["organization"])?,
        common_name: p.text(&["common_name"]),
        sans: p.list(&["san"]).unwrap_or_default().into_iter().map(|s| s.to_ascii_lowercase()).collect(),
        terms,
        key_family: p.text(&["encryption"]).map(|v| key_family(&v)).transpose()?,
        key_size: key_size(p, &["encryption_key_size"])?,
        digest: p
            .text(&["algorithm_certified", "certificate_algorithm", "certified_algorithm"])
            .map(|v| digest(&v))
            .transpose()?,
        validity_days: p.int(&["validity"])?.map(|v| u32::try_from(v).unwrap_or(u32::MAX)),
        project: p.text(&["project", "design"]),
        external_ip: p.text(&["ip_external", "external_ip"]),
        hostname: p.text(&["ip_hostname", "hostname_ip"]),
        responsible_id: p.int(&["responsible", "Responsible"])?,
    })
}

fn page_of(p: &Params) -> Result<Page, SsError> {
    let limit = p.int(&["limit"])?;
    let offset = p.int(&["offset"])?;
    let limit = limit.map(|l| u32::try_from(l).map_err(|_| SsError::invalid("limit must be 1 to 1000"))).transpose()?;
    let offset =
        offset.map(|o| u64::try_from(o).map_err(|_| SsError::invalid("offset must not be negative"))).transpose()?;
    Ok(Page::new(limit, offset)?)
}

async fn list_requests(
    auth: Result<SsAuth, SsError>,
    State(state): State<AppState>,
    OriginalUri(uri): Uri,
    headers: HeaderMap,
    body: Bytes,
    generation: Generation,
    path_code: Option<String>,
) -> Response {
    respond(
        async {
            let auth = auth?;
            let p = params_of(&uri, &headers, &body)?;
            let code = code_of("code_request", path_code.as_deref(), &p, &[])?;
            let filter = form_filter(&p, code)?;
            let page = page_of(&p)?;
            let listed = state.services.list_request_forms(&auth.ctx, &filter, page).await?;
            let authorities = authority_names(&state, &auth).await;
            if let Some(code) = code.filter(|_| path_code.is_some()) {
                let v = listed.items.first().ok_or_else(|| SsError::not_found(1030, format!("no request {code}")))?;
                return Result::<_, SsError>::Ok(generation.one(Answer::ok(), "request", render_form(v, &authorities)));
            }
            let items = listed.items.iter().map(|v| render_form(v, &authorities)).collect();
            Ok(generation.many("requests", items, listed.total))
        }
        .await,
    )
}

/// `GET /api/certificate/request/status/{id}`.
async fn status(auth: Result<SsAuth, SsError>, State(state): State<AppState>, code: String) -> Response {
    respond(
        async {
            let auth = auth?;
            let id = code.trim().parse::<i64>().map_err(|_| SsError::invalid("the request id must be an integer"))?;
            let v = state.services.request_form(&auth.ctx, id).await?;
            Result::<_, SsError>::Ok(Generation::Api.one(
                Answer::ok(),
                "request",
                json!({
                    "request_code": v.form.id,
                    "status_request": numbered(v.status.code(), v.status.name()),
                    "certificate_code": v.certificate_id,
                }),
            ))
        }
        .await,
    )
}

async fn sign(
    auth: Result<SsAuth, SsError>,
    State(state): State<AppState>,
    OriginalUri(uri): Uri,
    headers: HeaderMap,
    body: Bytes,
    generation: Generation,
    path_code: Option<String>,
) -> Response {
    respond(
        async {
            let auth = auth?;
            let p = params_of(&uri, &headers, &body)?;
            let code =
                code_of("code_request", path_code.as_deref(), &p, &["code_request", "request_code", "codigo_request"])?
                    .ok_or_else(|| SsError::missing("code_request"))?;
            let self_signed =
                p.flag(&["self_signed", "auto_assinado"])?.ok_or_else(|| SsError::missing("self_signed"))?;
            let reason = p.int(&["reason", "motivo"])?.ok_or_else(|| SsError::missing("reason"))?;
            let input = SignInput {
                self_signed,
                authority_id: p.int(&["ca"])?,
                reason,
                justification: p.raw(&["justification", "justificativa"]),
                itsm_code: p.raw(&["itsm_code", "itms_code", "codigo_itsm"]),
            };
            let signed = state.services.sign_request_form(&auth.ctx, code, input).await?;
            let authorities = authority_names(&state, &auth).await;
            let mut out = render_form(&signed.form, &authorities);
            if let (Some(c), Value::Object(o)) = (&signed.certificate, &mut out) {
                o.insert("serial".into(), json!(c.serial));
                o.insert("certificate".into(), json!(pem::encode("CERTIFICATE", &c.der)));
            }
            Result::<_, SsError>::Ok(generation.one(Answer::ok(), "request", out))
        }
        .await,
    )
}

// ---------------------------------------------------------------------------------------------------------
// Certificates

fn origin_code(o: Origin) -> &'static str {
    match o {
        Origin::Discovery => "SCAN",
        Origin::Import => "IMPO",
        _ => "REQU",
    }
}

fn origins_of(v: &str) -> Result<Vec<Origin>, SsError> {
    match v.to_ascii_uppercase().as_str() {
        "SCAN" => Ok(vec![Origin::Discovery]),
        "IMPO" => Ok(vec![Origin::Import]),
        "REQU" => Ok(vec![Origin::Request, Origin::Acme, Origin::System]),
        _ => Err(SsError::invalid(format!("origin_certificate must be SCAN, REQU or IMPO, got '{}'", clip(v)))),
    }
}

/// `rsa-2048` → (`RSA`, 2048).
fn key_parts(algorithm: &str) -> (String, Value) {
    match algorithm.split_once('-') {
        Some((family, size)) => match size.parse::<u32>() {
            Ok(bits) => (family.to_ascii_uppercase(), json!(bits)),
            Err(_) => (family.to_ascii_uppercase(), json!(size.trim_start_matches('p').parse::<u32>().ok())),
        },
        None => (algorithm.to_ascii_uppercase(), Value::Null),
    }
}

/// `ecdsa-sha256`, `rsa-pkcs1-sha384` → `sha256`, `sha384`.
fn signature_digest(sig: &str) -> String {
    sig.rsplit('-').next().filter(|d| d.starts_with("sha")).unwrap_or(sig).to_owned()
}

async fn render_certificate(
    state: &AppState,
    auth: &SsAuth,
    c: &FormCertificate,
    authorities: &[(i64, String)],
) -> Value {
    let r = &c.certificate;
    let (family, bits) = key_parts(&r.key_algorithm);
    let form = c.form.as_ref().map(|v| &v.form);
    let ca = r.authority_id.map(|id| {
        let name = authorities.iter().find(|(a, _)| *a == id).map_or("", |(_, n)| n.as_str());
        numbered(id, name)
    });
    let active = !matches!(c.standing, CertificateStanding::Revoked | CertificateStanding::Expired);
    let (publish_info, device) = publish::publish_info(state, auth, r).await;
    json!({
        "code_certificate": r.id,
        "certificate_code": r.id,
        "uuid": r.uuid,
        "code_request": form.map(|f| f.id),
        "status_certificate": c.standing.code(),
        "status_certified": numbered(c.standing.code(), c.standing.name()),
        "active": i64::from(active),
        "start_validity": date_time(r.not_before),
        "end_validity": date_time(r.not_after),
        "origin_certificate": origin_code(r.origin),
        "type_certificate": form.map(|f| f.validation_level.code()),
        "type_domain": form.map(|f| domain_code(f.domain_kind)),
        "organization": form.map(|f| f.organization_id),
        "common_name": r.common_name,
        "subject": r.subject,
        "issuer": r.issuer,
        "serial": r.serial,
        "san": r.sans.iter().map(|s| s.split_once(':').map_or(s.as_str(), |(_, v)| v)).collect::<Vec<_>>(),
        "tags": form.map(|f| f.terms.tags.clone()),
        "encryption": family,
        "encryption_key_size": bits,
        "algorithm_certified": signature_digest(&r.signature_algorithm),
        "validity": (r.not_after - r.not_before + 43_200) / 86_400,
        "password_key": masked(&c.passwords.key_password_hash),
        "password_revocation": masked(&c.passwords.revocation_password_hash),
        "environments": form.map(|f| f.terms.environments.clone()),
        "systems": form.map(|f| f.terms.systems.clone()),
        "project": form.and_then(|f| f.project.clone()),
        "ip_external": form.and_then(|f| f.external_ip.clone()),
        "ip_hostname": form.and_then(|f| f.hostname.clone()),
        "self_signed": i64::from(c.self_signed),
        "ca": ca,
        "responsible": form.and_then(|f| f.responsible_id),
        "description": form.and_then(|f| f.description.clone()),
        "fingerprint": r.fingerprint,
        "publish_info": publish_info,
        "device": device,
    })
}

fn certificate_filter(p: &Params, code: Option<i64>) -> Result<FormCertificateFilter, SsError> {
    let form = form_filter(p, None)?;
    Ok(FormCertificateFilter {
        id: code.or(p.int(&["code_certificate", "code_ certificate", "certificate_code", "codigo_certificado"])?),
        status: p
            .int(&["status_certificate", "status_certified"])?
            .map(|s| {
                CertificateStanding::from_code(s)
                    .ok_or_else(|| SsError::invalid(format!("status_certificate must be 1, 2, 3 or 4, got {s}")))
            })
            .transpose()?,
        active: p.flag(&["active"])?,
        expires_from: p.text(&["start_validity"]).map(|v| parse_date("start_validity", &v, false)).transpose()?,
        expires_to: p.text(&["end_validity"]).map(|v| parse_date("end_validity", &v, true)).transpose()?,
        origins: p.text(&["origin_certificate"]).map(|v| origins_of(&v)).transpose()?.unwrap_or_default(),
        self_signed: p.flag(&["self_signed"])?,
        authority_id: p.int(&["ca"])?,
        now: 0,
        renewal_window: 0,
        form: FormFilter { id: p.int(&["code_request"])?, ..form },
    })
}

async fn list_certificates(
    auth: Result<SsAuth, SsError>,
    State(state): State<AppState>,
    OriginalUri(uri): Uri,
    headers: HeaderMap,
    body: Bytes,
    generation: Generation,
    path_code: Option<String>,
) -> Response {
    respond(
        async {
            let auth = auth?;
            let p = params_of(&uri, &headers, &body)?;
            let code = code_of("code_certificate", path_code.as_deref(), &p, &[])?;
            let filter = certificate_filter(&p, code)?;
            let page = page_of(&p)?;
            let listed = state.services.list_form_certificates(&auth.ctx, filter, page).await?;
            let authorities = authority_names(&state, &auth).await;
            if let Some(code) = code.filter(|_| path_code.is_some()) {
                let c =
                    listed.items.first().ok_or_else(|| SsError::not_found(1049, format!("no certificate {code}")))?;
                let v = render_certificate(&state, &auth, c, &authorities).await;
                return Result::<_, SsError>::Ok(generation.one(Answer::ok(), "certificate", v));
            }
            let mut items = Vec::with_capacity(listed.items.len());
            for c in &listed.items {
                items.push(render_certificate(&state, &auth, c, &authorities).await);
            }
            Ok(generation.many("certificates", items, listed.total))
        }
        .await,
    )
}

async fn revoke(
    auth: Result<SsAuth, SsError>,
    State(state): State<AppState>,
    OriginalUri(uri): Uri,
    headers: HeaderMap,
    body: Bytes,
    generation: Generation,
    path_code: Option<String>,
) -> Response {
    respond(
        async {
            let auth = auth?;
            let p = params_of(&uri, &headers, &body)?;
            let code =
                code_of("code_certificate", path_code.as_deref(), &p, &["code_certificate", "certificate_code", "id"])?
                    .ok_or_else(|| SsError::missing("code_certificate"))?;
            let reason = match p.text(&["reason", "motivo"]) {
                None => RevocationReason::Unspecified,
                Some(r) => RevocationReason::parse(&r).map_err(|e| SsError::invalid(e.to_string()))?,
            };
            let password =
                p.secret(&["password_revogation", "password_revocation", "revoke_password", "senha_revogacao"]);
            let req = RevokeRequest { reason, invalidity_date: None, destroy_key: false };
            let outcome = state
                .services
                .revoke_with_password(&auth.ctx, code, &req, password.as_deref().map(String::as_str))
                .await?;
            let (state_name, pending) = match &outcome {
                RevokeOutcome::Revoked(r) => (r.certificate.state.clone(), false),
                RevokeOutcome::Pending { certificate, .. } => (certificate.state.clone(), true),
            };
            Result::<_, SsError>::Ok(generation.one(
                Answer::ok(),
                "certificate",
                json!({ "code_certificate": code, "state": state_name, "reason": reason.name(), "pending": pending }),
            ))
        }
        .await,
    )
}

// ---------------------------------------------------------------------------------------------------------
// Upload and download

fn base64_field(field: &str, value: &str) -> Result<Vec<u8>, SsError> {
    let compact: String = value.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD.decode(compact.as_bytes()).map_err(|_| {
        SsError::bad(if field == "certificate" { 1041 } else { 1042 }, format!("{field} is not valid base64"))
    })
}

/// `PUT /api/certificate/upload`: a base64 PEM, DER or PFX certificate with an optional key and passwords.
pub async fn upload(
    auth: Result<SsAuth, SsError>,
    State(state): State<AppState>,
    OriginalUri(uri): Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    respond(
        async {
            let auth = auth?;
            let p = params_of(&uri, &headers, &body)?;
            let extension = p.text(&["extension"]).ok_or_else(|| SsError::missing("extension"))?;
            let extension = extension.trim_start_matches('.').to_ascii_lowercase();
            if !matches!(extension.as_str(), "pem" | "crt" | "cer" | "der" | "pfx" | "p12") {
                return Err(SsError::invalid(format!(
                    "extension must be pem, crt, cer, der, pfx or p12, got '{}'",
                    clip(&extension)
                )));
            }
            let certificate = p.text(&["certificate"]).ok_or_else(|| SsError::bad(1041, "certificate is empty"))?;
            let certificate = base64_field("certificate", &certificate)?;
            if certificate.is_empty() {
                return Err(SsError::bad(1041, "certificate is empty"));
            }
            let private_key = match p.raw(&["private_key"]) {
                None => None,
                Some(k) if k.is_empty() => return Err(SsError::bad(1043, "private_key was sent empty")),
                Some(k) => Some(Zeroizing::new(base64_field("private_key", &k)?)),
            };
            let password = p.secret(&["password"]).filter(|s| !s.is_empty());
            let upload = Upload {
                import: ImportRequest {
                    certificate,
                    password: password.clone(),
                    private_key,
                    private_key_password: None,
                },
                key_password: password,
                revocation_password: p.secret(&["revoke_password", "password_revogation"]),
            };
            let imported = state.services.upload_certificate(&auth.ctx, upload).await?;
            let r = imported.record;
            Result::<_, SsError>::Ok(
                Answer::ok()
                    .with_response_field("status_certificate", json!(1))
                    .with(
                        "certificate",
                        json!({
                            "code_certificate": r.id, "uuid": r.uuid, "serial": r.serial, "common_name": r.common_name,
                            "end_validity": date_time(r.not_after), "private_key": r.key_id.is_some(),
                            "validation": imported.validation.status,
                        }),
                    )
                    .into_response(),
            )
        }
        .await,
    )
}

/// `POST /api/certificate/download`: `{id, format: pfx|pem|crt, download_key, password}`.
pub async fn download(
    auth: Result<SsAuth, SsError>,
    State(state): State<AppState>,
    OriginalUri(uri): Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    respond(
        async {
            let auth = auth?;
            let p = params_of(&uri, &headers, &body)?;
            let id = p.int(&["id", "code_certificate", "certificate_code"])?.ok_or_else(|| SsError::missing("id"))?;
            let format = p.text(&["format"]).unwrap_or_else(|| "pem".to_owned()).to_ascii_lowercase();
            if !matches!(format.as_str(), "pem" | "crt" | "pfx") {
                return Err(SsError::invalid(format!("format must be pfx, pem or crt, got '{}'", clip(&format))));
            }
            let with_key = format == "pfx" || p.flag(&["download_key"])?.unwrap_or(false);
            let password = p.secret(&["password"]).filter(|s| !s.is_empty());
            let d = state
                .services
                .download_certificate(&auth.ctx, id, with_key, password.as_deref().map(String::as_str))
                .await?;
            let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
            let mut chain_pem = pem::encode("CERTIFICATE", &d.certificate.der);
            for c in &d.chain {
                chain_pem.push_str(&pem::encode("CERTIFICATE", c));
            }
            let out = match (format.as_str(), &d.key) {
                ("pfx", Some(key)) => {
                    let password = password.as_ref().ok_or_else(|| SsError::missing("password"))?;
                    let mut certs = vec![d.certificate.der.clone()];
                    certs.extend(d.chain.iter().cloned());
                    let file =
                        certwright_pki::pkcs12::export(key, &certs, password, d.certificate.common_name.as_deref())
                            .map_err(certwright_core::CoreError::from)?;
                    json!({ "format": "pfx", "certificate": b64(&file) })
                }
                ("crt", _) => json!({ "format": "crt", "certificate": b64(&d.certificate.der) }),
                (_, key) => {
                    let mut v = json!({ "format": "pem", "certificate": b64(chain_pem.as_bytes()) });
                    if let (Some(key), Value::Object(o)) = (key, &mut v) {
                        let (label, der) = match &password {
                            Some(pw) => (
                                "ENCRYPTED PRIVATE KEY",
                                certwright_pki::pkcs8::encrypt(key, pw).map_err(certwright_core::CoreError::from)?,
                            ),
                            None => ("PRIVATE KEY", key.to_vec()),
                        };
                        o.insert("key".into(), json!(b64(pem::encode(label, &der).as_bytes())));
                        o.insert("key_format".into(), json!("pem"));
                    }
                    v
                }
            };
            Result::<_, SsError>::Ok(Generation::Api.one(Answer::ok(), "download", out))
        }
        .await,
    )
}
