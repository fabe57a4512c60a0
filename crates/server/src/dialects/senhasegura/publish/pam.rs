//! Devices and credentials on senhasegura's PAM A2A paths (`/iso/pam/device`, `/iso/pam/credential`): created or
//! changed by host name and by identifier, listed, read and made inactive. Credential secrets go in and never
//! come out.

use super::super::envelope::{Answer, SsError};
use super::super::params::{clip, Params};
use super::super::{date_time, SsCall};
use super::vendor;
use crate::state::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use certwright_core::publication::{Credential, CredentialInput, CredentialKey, Device, DeviceInput};
use serde_json::{json, Value};

/// The device and credential routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/iso/pam/device", post(save_device).get(list_devices))
        .route("/iso/pam/device/{code}", get(one_device).delete(delete_device))
        .route("/iso/pam/credential", post(save_credential).get(list_credentials))
        .route("/iso/pam/credential/{code}", get(one_credential).delete(delete_credential))
}

fn port(p: &Params, names: &[&str]) -> Result<Option<u16>, SsError> {
    p.int(names)?
        .map(|v| u16::try_from(v).map_err(|_| SsError::invalid(format!("{} must be 1 to 65535, got {v}", names[0]))))
        .transpose()
}

fn device_id(id: &str) -> Result<i64, SsError> {
    id.trim().parse().map_err(|_| SsError::invalid(format!("the device code must be an integer, got '{}'", clip(id))))
}

/// A device as the PAM API shows it, with certwright's extensions.
pub(super) fn render_device(d: &Device) -> Value {
    json!({
        "id": d.id, "hostname": d.hostname, "ip": d.ip.to_string(), "model": d.model, "type": d.kind,
        "vendor": d.vendor, "site": d.site, "device_domain": d.domain, "device_tags": d.tags,
        "active": i64::from(d.active), "ssh_port": d.ssh_port, "ssh_host_key": d.ssh_host_key, "ca_pem": d.ca_pem,
        "winrm_port": d.winrm_port, "local": d.is_local(), "created_at": date_time(d.created_at),
        "updated_at": date_time(d.updated_at),
    })
}

/// The `{code}` of the path.
fn path_code(call: &SsCall) -> &str {
    call.code.as_deref().unwrap_or_default()
}

async fn save_device(State(state): State<AppState>, call: SsCall) -> Result<Response, SsError> {
    let p = &call.params;
    let hostname = p.text(&["hostname"]).ok_or_else(|| SsError::missing("hostname"))?;
    let input = DeviceInput {
        hostname,
        ip: p.text(&["ip"]),
        model: p.raw(&["model"]),
        kind: p.raw(&["type"]),
        vendor: p.raw(&["vendor"]),
        site: p.raw(&["site"]),
        domain: p.raw(&["device_domain", "domain"]),
        tags: p.list(&["device_tags", "tags"]),
        ssh_port: port(p, &["ssh_port"])?,
        ssh_host_key: p.raw(&["ssh_host_key"]),
        ca_pem: p.secret(&["ca_pem"]).map(|v| v.to_string()),
        winrm_port: port(p, &["winrm_port"])?,
    };
    let (device, created) = state.services.save_device(&call.auth.ctx, input).await.map_err(vendor)?;
    let ok = if created { Answer::created() } else { Answer::updated() };
    Ok(ok.with("device", render_device(&device)).into_response())
}

async fn list_devices(State(state): State<AppState>, call: SsCall) -> Result<Response, SsError> {
    let p = &call.params;
    let active = p.flag(&["active"])?;
    let hostname = p.text(&["hostname"]);
    let devices: Vec<Value> = state
        .services
        .devices(&call.auth.ctx)
        .await?
        .iter()
        .filter(|d| active.is_none_or(|a| d.active == a))
        .filter(|d| hostname.as_ref().is_none_or(|h| d.hostname.eq_ignore_ascii_case(h)))
        .map(render_device)
        .collect();
    let total = devices.len();
    Ok(Answer::ok().with("devices", Value::Array(devices)).with("total", json!(total)).into_response())
}

async fn one_device(State(state): State<AppState>, call: SsCall) -> Result<Response, SsError> {
    let device = state.services.device(&call.auth.ctx, device_id(path_code(&call))?).await.map_err(vendor)?;
    Ok(Answer::ok().with("device", render_device(&device)).into_response())
}

async fn delete_device(State(state): State<AppState>, call: SsCall) -> Result<Response, SsError> {
    let device =
        state.services.deactivate_device(&call.auth.ctx, device_id(path_code(&call))?).await.map_err(vendor)?;
    Ok(Answer::ok().with("device", render_device(&device)).into_response())
}

/// A credential as the PAM API shows it: never its content, only what kind of secret it holds.
fn render_credential(c: &Credential, device: Option<&Device>) -> Value {
    json!({
        "id": c.id, "identifier": c.identifier, "username": c.username, "device": c.device_id,
        "hostname": device.map(|d| d.hostname.clone()), "ip": device.map(|d| d.ip.to_string()),
        "additional": c.additional, "tags": c.tags, "credential_type": c.credential_type,
        "content_type": c.secret_kind.as_str(), "has_content": c.sealed_secret.is_some(),
        "active": i64::from(c.active), "created_at": date_time(c.created_at), "updated_at": date_time(c.updated_at),
    })
}

fn credential_key(id: &str) -> CredentialKey {
    match id.trim().parse::<i64>() {
        Result::Ok(n) => CredentialKey::Id(n),
        Err(_) => CredentialKey::Identifier(id.trim().to_owned()),
    }
}

async fn save_credential(State(state): State<AppState>, call: SsCall) -> Result<Response, SsError> {
    let p = &call.params;
    let input = CredentialInput {
        identifier: p.text(&["identifier"]),
        username: p.text(&["username"]),
        hostname: p.text(&["hostname"]),
        ip: p.text(&["ip"]),
        content: p.secret(&["content", "password"]),
        additional: p.raw(&["additional"]),
        tags: p.list(&["tags"]),
        credential_type: p.raw(&["credential_type"]),
    };
    if input.identifier.is_none() {
        if input.username.is_none() {
            return Err(SsError::missing("username"));
        }
        if input.hostname.is_none() && input.ip.is_none() {
            return Err(SsError::missing("hostname or ip"));
        }
    }
    let (credential, device, created) = state.services.save_credential(&call.auth.ctx, input).await.map_err(vendor)?;
    let ok = if created { Answer::created() } else { Answer::updated() };
    Ok(ok.with("credential", render_credential(&credential, Some(&device))).into_response())
}

async fn list_credentials(State(state): State<AppState>, call: SsCall) -> Result<Response, SsError> {
    let ctx = &call.auth.ctx;
    let devices = state.services.devices(ctx).await?;
    let items: Vec<Value> = state
        .services
        .credentials(ctx)
        .await?
        .iter()
        .map(|c| render_credential(c, devices.iter().find(|d| d.id == c.device_id)))
        .collect();
    let total = items.len();
    Ok(Answer::ok().with("credentials", Value::Array(items)).with("total", json!(total)).into_response())
}

async fn one_credential(State(state): State<AppState>, call: SsCall) -> Result<Response, SsError> {
    let ctx = &call.auth.ctx;
    let c = state.services.credential(ctx, &credential_key(path_code(&call))).await.map_err(vendor)?;
    let device = state.services.device(ctx, c.device_id).await.ok();
    Ok(Answer::ok().with("credential", render_credential(&c, device.as_ref())).into_response())
}

async fn delete_credential(State(state): State<AppState>, call: SsCall) -> Result<Response, SsError> {
    let ctx = &call.auth.ctx;
    let c = state.services.deactivate_credential(ctx, &credential_key(path_code(&call))).await.map_err(vendor)?;
    let device = state.services.device(ctx, c.device_id).await.ok();
    Ok(Answer::ok().with("credential", render_credential(&c, device.as_ref())).into_response())
}
