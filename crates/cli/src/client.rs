//! Client subcommands: talk to a running server's native API with a bearer token.

use crate::{RoleArg, TokenCommand};
use clap::{Args, ValueEnum};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;

/// Where the server is and which token to present.
#[derive(Debug, Args)]
pub struct ClientArgs {
    /// Base URL of the server (default: the configured http_listen address, e.g. http://127.0.0.1:8080).
    #[arg(long, env = "CERTWRIGHT_SERVER")]
    server: Option<String>,
    /// Bearer token (default: <data-dir>/admin.token).
    #[arg(long, env = "CERTWRIGHT_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

struct Client {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Client {
    fn new(args: &ClientArgs, data_dir: &Path, default_server: Option<SocketAddr>) -> Result<Self, String> {
        let token = match &args.token {
            Some(t) => t.clone(),
            None => {
                let path = data_dir.join(certwright_server::bootstrap::ADMIN_TOKEN_FILE);
                std::fs::read_to_string(&path)
                    .map(|t| t.trim().to_owned())
                    .map_err(|e| format!("no --token given and {} cannot be read: {e}", path.display()))?
            }
        };
        Ok(Self {
            base: match &args.server {
                Some(s) => s.trim_end_matches('/').to_owned(),
                None => {
                    let mut addr = default_server.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
                    if addr.ip().is_unspecified() {
                        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
                    }
                    format!("http://{addr}")
                }
            },
            token,
            http: reqwest::Client::new(),
        })
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<Value, String> {
        let resp = req.bearer_auth(&self.token).send().await.map_err(|e| format!("cannot reach {}: {e}", self.base))?;
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            Ok(body)
        } else {
            let detail = body.get("detail").and_then(Value::as_str).unwrap_or("no detail");
            let code = body.get("code").and_then(Value::as_str).unwrap_or("unknown");
            Err(format!("{status}: {detail} ({code})"))
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

fn print(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

pub async fn token(
    data_dir: &Path,
    default_server: Option<SocketAddr>,
    cmd: &TokenCommand,
) -> Result<ExitCode, String> {
    match cmd {
        TokenCommand::Create { client, name, role, principal, ra_profiles, expires_in } => {
            let c = Client::new(client, data_dir, default_server)?;
            let role = role_name(*role);
            let body = json!({
                "name": name, "role": role, "principal": principal,
                "ra_profiles": ra_profiles, "expires_in_seconds": expires_in,
            });
            print(&c.send(c.http.post(c.url("/v1/tokens")).json(&body)).await?);
        }
        TokenCommand::List { client, all } => {
            let c = Client::new(client, data_dir, default_server)?;
            let url = c.url(&format!("/v1/tokens?limit=1000&include_inactive={all}"));
            print(&c.send(c.http.get(url)).await?);
        }
        TokenCommand::Revoke { client, id } => {
            let c = Client::new(client, data_dir, default_server)?;
            print(&c.send(c.http.delete(c.url(&format!("/v1/tokens/{id}")))).await?);
        }
        TokenCommand::Recover(_) => return Err("token recover runs locally, not against a server".to_owned()),
    }
    Ok(ExitCode::SUCCESS)
}

fn role_name(role: RoleArg) -> String {
    role.to_possible_value().map(|v| v.get_name().to_owned()).unwrap_or_default()
}
