//! Devices and credentials on senhasegura's PAM A2A paths (`/iso/pam/device`, `/iso/pam/credential`): created or
//! changed by host name and by identifier, listed, read and made inactive. Credential secrets go in and never
//! come out.

use super::super::envelope::{Ok, SsError};
use super::super::params::{clip, Params};
use super::super::{date_time, params_of, SsAuth};
use super::{respond, vendor, Uri};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use certwright_core::publication::{Credential, CredentialInput, CredentialKey, Device, DeviceInput};
use serde_json::{json, Value};

/// The device and credential routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/iso/pam/device", post(save_device).get(list_devices))
        .route("/iso/pam/device/{id}", get(one_device).delete(delete_device))
        .route("/iso/pam/credential", post(save_credential).get(list_credentials))
        .route("/iso/pam/credential/{id}", get(one_credential).delete(delete_credential))
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

async fn save_device(
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
                ssh_port: port(&p, &["ssh_port"])?,
                ssh_host_key: p.raw(&["ssh_host_key"]),
                ca_pem: p.secret(&["ca_pem"]).map(|v| v.to_string()),
                winrm_port: port(&p, &["winrm_port"])?,
            };
            let (device, created) = state.services.save_device(&auth.ctx, input).await.map_err(vendor)?;
            let ok = if created { Ok::created() } else { Ok::updated() };
            Result::<_, SsError>::Ok(ok.with("device", render_device(&device)).into_response())
        }
        .await,
    )
}

async fn list_devices(
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
            let active = p.flag(&["active"])?;
            let hostname = p.text(&["hostname"]);
            let devices: Vec<Value> = state
                .services
                .devices(&auth.ctx)
                .await?
                .iter()
                .filter(|d| active.is_none_or(|a| d.active == a))
                .filter(|d| hostname.as_ref().is_none_or(|h| d.hostname.eq_ignore_ascii_case(h)))
                .map(render_device)
                .collect();
            let total = devices.len();
            Result::<_, SsError>::Ok(
                Ok::ok().with("devices", Value::Array(devices)).with("total", json!(total)).into_response(),
            )
        }
        .await,
    )
}

async fn one_device(auth: Result<SsAuth, SsError>, State(state): State<AppState>, Path(id): Path<String>) -> Response {
    respond(
        async {
            let auth = auth?;
            let device = state.services.device(&auth.ctx, device_id(&id)?).await.map_err(vendor)?;
            Result::<_, SsError>::Ok(Ok::ok().with("device", render_device(&device)).into_response())
        }
        .await,
    )
}

async fn delete_device(
    auth: Result<SsAuth, SsError>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Response {
    respond(
        async {
            let auth = auth?;
            let device = state.services.deactivate_device(&auth.ctx, device_id(&id)?).await.map_err(vendor)?;
            Result::<_, SsError>::Ok(Ok::ok().with("device", render_device(&device)).into_response())
        }
        .await,
    )
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

async fn save_credential(
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
            let (credential, device, created) =
                state.services.save_credential(&auth.ctx, input).await.map_err(vendor)?;
            let ok = if created { Ok::created() } else { Ok::updated() };
            Result::<_, SsError>::Ok(
                ok.with("credential", render_credential(&credential, Some(&device))).into_response(),
            )
        }
        .await,
    )
}

async fn list_credentials(auth: Result<SsAuth, SsError>, State(state): State<AppState>) -> Response {
    respond(
        async {
            let auth = auth?;
            let devices = state.services.devices(&auth.ctx).await?;
            let items: Vec<Value> = state
                .services
                .credentials(&auth.ctx)
                .await?
                .iter()
                .map(|c| render_credential(c, devices.iter().find(|d| d.id == c.device_id)))
                .collect();
            let total = items.len();
            Result::<_, SsError>::Ok(
                Ok::ok().with("credentials", Value::Array(items)).with("total", json!(total)).into_response(),
            )
        }
        .await,
    )
}

async fn one_credential(
    auth: Result<SsAuth, SsError>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Response {
    respond(
        async {
            let auth = auth?;
            let c = state.services.credential(&auth.ctx, &credential_key(&id)).await.map_err(vendor)?;
            let device = state.services.device(&auth.ctx, c.device_id).await.ok();
            Result::<_, SsError>::Ok(
                Ok::ok().with("credential", render_credential(&c, device.as_ref())).into_response(),
            )
        }
        .await,
    )
}

async fn delete_credential(
    auth: Result<SsAuth, SsError>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Response {
    respond(
        async {
            let auth = auth?;
            let c = state.services.deactivate_credential(&auth.ctx, &credential_key(&id)).await.map_err(vendor)?;
            let device = state.services.device(&auth.ctx, c.device_id).await.ok();
            Result::<_, SsError>::Ok(
                Ok::ok().with("credential", render_credential(&c, device.as_ref())).into_response(),
            )
        }
        .await,
    )
}
