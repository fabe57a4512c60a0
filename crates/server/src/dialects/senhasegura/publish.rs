//! Publication: devices and credentials (see [`pam`]), publication profiles for Apache, IIS, BIG-IP and
//! WebSphere (`/iso/cert/profile/<kind>`, `/iso/cert/perfil/<kind>`), publishing a certificate on a profile's
//! devices (`/iso/cert/publish`, `/iso/cert/publicar`) and listing publications with what each device did.
//! Results of the `/iso/cert/…` methods are in the `certificate` block, as the rest of the certificate module.

mod pam;

use super::envelope::{Answer, SsError};
use super::params::{clip, Params};
use super::{date_time, parse_date, Generation, SsAuth, SsCall};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use certwright_core::ca::CertificateRecord;
use certwright_core::deploy::DeployState;
use certwright_core::forms::reason_name;
use certwright_core::page::Page;
use certwright_core::publication::{
    ProfileInput, ProfileKind, ProfilePatch, ProfileSettings, PublicationFilter, PublicationProfile, PublicationView,
    PublishInput,
};
use certwright_core::CoreError;
use serde_json::{json, Value};
use std::collections::HashMap;

/// The publication routes, devices and credentials included.
pub fn routes() -> Router<AppState> {
    let mut r = Router::new().merge(pam::routes());
    for kind in [ProfileKind::Apache, ProfileKind::Iis, ProfileKind::Bigip, ProfileKind::Was] {
        let save = move |s, c| save_profile(s, c, kind);
        r = r
            .route(&format!("/iso/cert/profile/{}", kind.as_str()), post(save))
            .route(&format!("/iso/cert/perfil/{}", kind.as_str()), post(save));
    }
    r.route("/iso/cert/profile", get(list_profiles))
        .route("/iso/cert/profile/{code}", get(list_profiles))
        .route("/iso/cert/perfil", get(list_profiles))
        .route("/iso/cert/publish", post(publish).get(list))
        .route("/iso/cert/publicar", post(publish))
        .route("/iso/cert/publish/{code}", get(list))
        .route("/iso/cert/publicar/listar", get(list))
        .route("/iso/cert/publicar/listar/{code}", get(list))
}

/// A core error in the vendor's envelope; like the vendor, an unknown device is a 400.
fn vendor(e: CoreError) -> SsError {
    let mut s = SsError::from(e);
    if s.code == 1011 {
        s.status = StatusCode::BAD_REQUEST;
    }
    s
}

fn integer(field: &str, v: &str) -> Result<i64, SsError> {
    v.trim().parse().map_err(|_| SsError::invalid(format!("{field} must be an integer, got '{}'", clip(v))))
}

/// `"N - Name"` of a reason.
fn reason(code: i64) -> String {
    format!("{code} - {}", reason_name(code).unwrap_or("Unknown"))
}

/// An argv given as one string, split at spaces (no shell).
fn command(p: &Params, name: &str) -> Option<Vec<String>> {
    p.raw(&[name]).map(|v| v.split_whitespace().map(str::to_owned).collect())
}

fn profile_input(p: &Params) -> Result<ProfileInput, SsError> {
    let port = p
        .int(&["port", "porta"])?
        .map(|v| u16::try_from(v).map_err(|_| SsError::invalid(format!("port must be 1 to 65535, got {v}"))))
        .transpose()?;
    Ok(ProfileInput {
        name: p.text(&["name_profile", "nome_perfil"]),
        credential_id: p.int(&["code_credential", "codigo_credencial"])?,
        username: p.text(&["username", "usuario"]),
        devices: p.int_list(&["devices", "dispositivos"])?,
        patch: ProfilePatch {
            site: p.raw(&["site"]),
            config_path: p.text(&["config_path"]),
            port,
            cert_store: p.text(&["cert_store"]),
            partition: p.text(&["name_partition"]),
            cert_name: p.raw(&["name_cert", "name_certificate"]),
            client_profiles: p.list(&["profile_client_vips", "profile_client"]),
            server_profiles: p.list(&["profile_server_vips", "profile_server"]),
            key_db_path: p.text(&["key_db_path"]),
            label: p.text(&["label"]),
            key_db_password: p.secret(&["key_db_password"]),
            test_command: command(p, "test_command"),
            reload_command: command(p, "reload_command"),
        },
    })
}

/// A profile with the vendor's response fields of its kind (and `code_path` [sic] for Apache).
fn render_profile(p: &PublicationProfile) -> Value {
    let mut out = json!({
        "code_profile": p.id, "name_profile": p.name, "type": p.kind().as_str(), "code_credential": p.credential_id,
        "username": p.username, "devices": p.devices, "created_at": date_time(p.created_at),
        "updated_at": date_time(p.updated_at),
    });
    let extra = match &p.settings {
        ProfileSettings::Apache { site, config_path, port, test_command, reload_command } => json!({
            "code_path": p.id, "site": site, "config_path": config_path, "port": port,
            "test_command": test_command.as_ref().map(|c| c.join(" ")),
            "reload_command": reload_command.as_ref().map(|c| c.join(" ")),
        }),
        ProfileSettings::Iis { site, cert_store, port } => json!({
            "site": site, "cert_store": cert_store, "port": port,
        }),
        ProfileSettings::Bigip { partition, cert_name, client_profiles, server_profiles } => json!({
            "name_partition": partition, "name_certificate": cert_name, "name_cert": cert_name,
            "profile_client": client_profiles, "profile_server": server_profiles,
            "profile_client_vips": client_profiles, "profile_server_vips": server_profiles,
        }),
        ProfileSettings::Was { key_db_path, label } => json!({
            "key_db_path": key_db_path, "label": label,
            "key_db_password": if p.sealed_secret.is_some() { "********" } else { "" },
        }),
    };
    if let (Value::Object(o), Value::Object(e)) = (&mut out, extra) {
        o.extend(e);
    }
    out
}

async fn save_profile(State(state): State<AppState>, call: SsCall, kind: ProfileKind) -> Result<Response, SsError> {
    let (auth, p) = (&call.auth, &call.params);
    let code = p.int(&["code_profile", "codigo_perfil", "code_path"])?;
    let mut input = profile_input(p)?;
    if code.is_none() {
        if input.name.is_none() {
            return Err(SsError::missing("name_profile"));
        }
        if input.devices.as_ref().is_none_or(Vec::is_empty) {
            return Err(SsError::missing("devices"));
        }
        if input.credential_id.is_none() && input.username.is_none() {
            return Err(SsError::missing("code_credential or username"));
        }
        if kind == ProfileKind::Was {
            for field in ["key_db_path", "key_db_password", "label"] {
                if p.text(&[field]).is_none() {
                    return Err(SsError::missing(field));
                }
            }
        }
    }
    if input.credential_id.is_some() {
        // A credential code replaces a user name given before.
        input.username = None;
    }
    let (profile, created) =
        state.services.save_publication_profile(&auth.ctx, kind, code, input).await.map_err(vendor)?;
    let ok = if created { Answer::created() } else { Answer::updated() };
    Ok(Generation::Iso.one(ok, "profile", render_profile(&profile)))
}

async fn list_profiles(State(state): State<AppState>, call: SsCall) -> Result<Response, SsError> {
    let auth = &call.auth;
    if let Some(code) = &call.code {
        let profile = state.services.publication_profile(&auth.ctx, integer("code_profile", code)?).await?;
        return Ok(Generation::Iso.one(Answer::ok(), "profile", render_profile(&profile)));
    }
    let items: Vec<Value> = state.services.publication_profiles(&auth.ctx).await?.iter().map(render_profile).collect();
    let total = items.len() as u64;
    Ok(Generation::Iso.many("profiles", items, total))
}

async fn publish(State(state): State<AppState>, call: SsCall) -> Result<Response, SsError> {
    let (auth, p) = (&call.auth, &call.params);
    let certificate_id =
        p.int(&["code_certificate", "codigo_certificado"])?.ok_or_else(|| SsError::missing("code_certificate"))?;
    let profile_id = p
        .int(&["code_profile_publication", "codigo_perfil_publicacao"])?
        .ok_or_else(|| SsError::missing("code_profile_publication"))?;
    let reason_code = p.int(&["reason", "motivo"])?.ok_or_else(|| SsError::missing("reason"))?;
    let devices = p
        .int_list(&["devices", "dispositivos"])?
        .filter(|d| !d.is_empty())
        .ok_or_else(|| SsError::missing("devices"))?;
    let input = PublishInput {
        certificate_id,
        profile_id,
        reason: reason_code,
        justification: p.raw(&["justification", "justificativa"]),
        itms_code: p.raw(&["itms_code", "itsm_code", "codigo_itsm"]),
        devices,
    };
    let view = state.services.publish(&auth.ctx, input).await.map_err(vendor)?;
    Ok(Generation::Iso.one(Answer::created(), "publication", render_publication(&view)))
}

fn state_name(s: Option<DeployState>) -> &'static str {
    s.map_or("removed", DeployState::as_str)
}

/// A publication as listed: the vendor's fields, and what happened on each device.
fn render_publication(v: &PublicationView) -> Value {
    let p = &v.publication;
    let pushes: Vec<Value> = v
        .targets
        .iter()
        .map(|t| json!({ "device": t.device_id, "target": t.label, "state": state_name(t.state), "error": t.error }))
        .collect();
    json!({
        "code_publishing": p.id.to_string(), "code_certificate": p.certificate_id, "certificate_uuid": v.certificate_uuid,
        "code_profile_publication": p.profile_id, "reason": reason(p.reason), "justification": p.justification,
        "itms_code": p.itms_code, "code_credential": p.credential_id, "username": p.username,
        "quantity_devices": v.devices().len(), "processed": i64::from(v.processed()), "error": i64::from(v.error()),
        "devices": v.devices(), "pushes": pushes, "creation_date": date_time(p.created_at),
    })
}

fn publication_filter(p: &Params, code: Option<i64>) -> Result<PublicationFilter, SsError> {
    let created = p
        .text(&["creation_date"])
        .map(|d| {
            Result::<_, SsError>::Ok((parse_date("creation_date", &d, false)?, parse_date("creation_date", &d, true)?))
        })
        .transpose()?;
    Ok(PublicationFilter {
        id: code.or(p.int(&["code_publication", "code_publishing"])?),
        certificate_id: p.int(&["code_certified", "code_certificate"])?,
        profile_id: p.int(&["code_profile_publication"])?,
        created,
        processed: p.flag(&["processed"])?,
        error: p.flag(&["error"])?,
        reason: p.int(&["reason"])?,
        itms_code: p.text(&["itms_code", "itsm_code"]),
        device_id: p.int(&["device"])?,
        certificate_ids: Vec::new(),
    })
}

async fn list(State(state): State<AppState>, call: SsCall) -> Result<Response, SsError> {
    let (auth, p) = (&call.auth, &call.params);
    let code = call.code.as_deref().map(|c| integer("code_publication", c)).transpose()?;
    let filter = publication_filter(p, code)?;
    let limit = p.int(&["limit"])?.map(|l| u32::try_from(l).unwrap_or(0));
    let offset = p.int(&["offset"])?.map(|o| u64::try_from(o).unwrap_or(0));
    let page = Page::new(limit, offset)?;
    let listed = state.services.list_publications(&auth.ctx, &filter, page).await?;
    if let Some(code) = code {
        let v =
            listed.items.first().ok_or_else(|| SsError::not_found(1038, format!("there is no publication {code}")))?;
        return Ok(Generation::Iso.one(Answer::ok(), "publication", render_publication(v)));
    }
    let items = listed.items.iter().map(render_publication).collect();
    Ok(Generation::Iso.many("publications", items, listed.total))
}

/// `publish_info` and `device` of each of these certificates (by id): its publications (code, profile, whether
/// processed and whether any push failed), and the devices it was published to. One query per thousand
/// publications, whatever the number of certificates.
pub async fn publish_infos(
    state: &AppState,
    auth: &SsAuth,
    certificates: &[&CertificateRecord],
) -> Result<HashMap<i64, (Value, Value)>, SsError> {
    let mut info: HashMap<i64, (Vec<Value>, Vec<i64>)> = HashMap::new();
    if certificates.is_empty() {
        return Ok(HashMap::new());
    }
    let filter = PublicationFilter {
        certificate_ids: certificates.iter().map(|c| c.id).collect(),
        ..PublicationFilter::default()
    };
    let mut offset = 0u64;
    loop {
        let page = Page::new(Some(1000), Some(offset))?;
        let listed = state.services.list_publications(&auth.ctx, &filter, page).await?;
        let n = listed.items.len() as u64;
        for v in &listed.items {
            let (pubs, devices) = info.entry(v.publication.certificate_id).or_default();
            pubs.push(json!({
                "code_publishing": v.publication.id.to_string(), "code_profile_publication": v.publication.profile_id,
                "processed": i64::from(v.processed()), "error": i64::from(v.error()),
                "creation_date": date_time(v.publication.created_at),
            }));
            devices.extend(v.devices());
        }
        offset += n;
        if n == 0 || offset >= listed.total {
            break;
        }
    }
    Ok(certificates
        .iter()
        .map(|c| {
            let (pubs, devices) = info.remove(&c.id).unwrap_or_default();
            (c.id, (Value::Array(pubs), json!(certwright_core::seq::unique_in_order(devices))))
        })
        .collect())
}
