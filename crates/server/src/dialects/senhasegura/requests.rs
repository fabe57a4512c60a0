//! Requests: create, change, list, sign, status.

use super::envelope::{Answer, SsError};
use super::params::{clip, Params};
use super::{date_time, Generation, SsAuth, SsCall};
use crate::state::AppState;
use axum::extract::State;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use certwright_core::forms::{DomainKind, FormFilter, FormStatus, FormView, KeyFamily, ValidationLevel};
use certwright_core::page::Page;
use certwright_core::services::{FormInput, SignInput};
use certwright_pki::pem;
use serde_json::{json, Value};

/// The request, inventory and revocation routes of every generation.
pub fn routes() -> Router<AppState> {
    Router::new()
        // Create / modify: the code in the path or in `code_request`; GET of a bare segment lists or signs.
        .route("/iso/certificate/request", post(save))
        .route("/iso/certificate/request/{code}", post(save).get(dispatch_get))
        .route("/iso/certificado/request", post(save))
        .route("/iso/certificado/request/{code}", post(save).get(dispatch_get))
        .route("/api/certificate/request", post(save))
        .route("/api/v1/certificates/requests", post(save).get(list_requests))
        // List.
        .route("/iso/certificate/request/list", get(list_requests))
        .route("/iso/certificate/request/list/{code}", get(list_requests))
        .route("/iso/certificado/request/listar", get(list_requests))
        .route("/iso/certificado/request/listar/{code}", get(list_requests))
        .route("/api/certificate/request/list", get(list_requests))
        .route("/api/certificate/request/list/{code}", get(list_requests))
        .route("/api/certificate/request/status/{code}", get(status))
        // Sign.
        .route("/iso/certificate/request/sign", get(sign).post(sign))
        .route("/iso/certificate/request/sign/{code}", get(sign).post(sign))
        .route("/iso/certificado/request/assinar/{code}", get(sign).post(sign))
        .route("/api/certificate/request/sign/{code}", post(sign))
        .route("/api/v1/certificates/requests/{code}/sign", post(sign))
}

/// A code from the path (or the parameters) as an integer.
pub(super) fn code_of(field: &str, path: Option<&str>, p: &Params, names: &[&str]) -> Result<Option<i64>, SsError> {
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
async fn dispatch_get(state: State<AppState>, mut call: SsCall) -> Result<Response, SsError> {
    let segment = call.code.take().unwrap_or_default();
    if let Some(rest) = segment.strip_prefix("listar").or_else(|| segment.strip_prefix("list")) {
        call.code = (!rest.is_empty()).then(|| rest.to_owned());
        return list_requests(state, call).await;
    }
    if let Some(rest) = segment.strip_prefix("assinar").or_else(|| segment.strip_prefix("sign")) {
        call.code = (!rest.is_empty()).then(|| rest.to_owned());
        return sign(state, call).await;
    }
    call.code = Some(segment);
    list_requests(state, call).await
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

pub(super) fn domain_code(k: DomainKind) -> &'static str {
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
pub(super) fn numbered(code: i64, name: &str) -> String {
    format!("{code} - {name}")
}

pub(super) fn masked(hash: &Option<String>) -> Value {
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

pub(super) async fn authority_names(state: &AppState, auth: &SsAuth) -> Vec<(i64, String)> {
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
async fn save(State(state): State<AppState>, call: SsCall) -> Result<Response, SsError> {
    let (auth, p, generation) = (&call.auth, &call.params, call.generation);
    let code =
        code_of("code_request", call.code.as_deref(), p, &["code_request", "request_code", "codigo_request", "id"])?;
    let input = form_input(p)?;
    let view = state.services.save_request_form(&auth.ctx, code, input).await?;
    let authorities = authority_names(&state, auth).await;
    let ok = if code.is_some() { Answer::updated() } else { Answer::created() };
    Ok(generation.one(ok, "request", render_form(&view, &authorities)))
}

pub(super) fn form_filter(p: &Params, code: Option<i64>) -> Result<FormFilter, SsError> {
    // Clients that send every documented parameter send these empty; a value would be a search by secret.
    for secret in ["password_key", "password_revocation", "key_password", "password_revogation"] {
        if p.text(&[secret]).is_some() {
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

pub(super) fn page_of(p: &Params) -> Result<Page, SsError> {
    let limit = p.int(&["limit"])?;
    let offset = p.int(&["offset"])?;
    let limit = limit.map(|l| u32::try_from(l).map_err(|_| SsError::invalid("limit must be 1 to 1000"))).transpose()?;
    let offset =
        offset.map(|o| u64::try_from(o).map_err(|_| SsError::invalid("offset must not be negative"))).transpose()?;
    Ok(Page::new(limit, offset)?)
}

async fn list_requests(State(state): State<AppState>, call: SsCall) -> Result<Response, SsError> {
    let (auth, p, generation) = (&call.auth, &call.params, call.generation);
    let code = code_of("code_request", call.code.as_deref(), p, &[])?;
    let filter = form_filter(p, code)?;
    let page = page_of(p)?;
    let listed = state.services.list_request_forms(&auth.ctx, &filter, page).await?;
    let authorities = authority_names(&state, auth).await;
    if let Some(code) = code.filter(|_| call.code.is_some()) {
        let v = listed.items.first().ok_or_else(|| SsError::not_found(1030, format!("no request {code}")))?;
        return Ok(generation.one(Answer::ok(), "request", render_form(v, &authorities)));
    }
    let items = listed.items.iter().map(|v| render_form(v, &authorities)).collect();
    Ok(generation.many("requests", items, listed.total))
}

/// `GET /api/certificate/request/status/{id}`.
async fn status(State(state): State<AppState>, call: SsCall) -> Result<Response, SsError> {
    let auth = &call.auth;
    let code = call.code.clone().unwrap_or_default();
    let id = code.trim().parse::<i64>().map_err(|_| SsError::invalid("the request id must be an integer"))?;
    let v = state.services.request_form(&auth.ctx, id).await?;
    Ok(Generation::Api.one(
        Answer::ok(),
        "request",
        json!({
            "request_code": v.form.id,
            "status_request": numbered(v.status.code(), v.status.name()),
            "certificate_code": v.certificate_id,
        }),
    ))
}

async fn sign(State(state): State<AppState>, call: SsCall) -> Result<Response, SsError> {
    let (auth, p, generation) = (&call.auth, &call.params, call.generation);
    let code = code_of("code_request", call.code.as_deref(), p, &["code_request", "request_code", "codigo_request"])?
        .ok_or_else(|| SsError::missing("code_request"))?;
    let self_signed = p.flag(&["self_signed", "auto_assinado"])?.ok_or_else(|| SsError::missing("self_signed"))?;
    let reason = p.int(&["reason", "motivo"])?.ok_or_else(|| SsError::missing("reason"))?;
    let input = SignInput {
        self_signed,
        authority_id: p.int(&["ca"])?,
        reason,
        justification: p.raw(&["justification", "justificativa"]),
        itsm_code: p.raw(&["itsm_code", "itms_code", "codigo_itsm"]),
    };
    let signed = state.services.sign_request_form(&auth.ctx, code, input).await?;
    let authorities = authority_names(&state, auth).await;
    let mut out = render_form(&signed.form, &authorities);
    if let (Some(c), Value::Object(o)) = (&signed.certificate, &mut out) {
        o.insert("serial".into(), json!(c.serial));
        o.insert("certificate".into(), json!(pem::encode("CERTIFICATE", &c.der)));
    }
    Ok(generation.one(Answer::ok(), "request", out))
}
