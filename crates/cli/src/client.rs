//! Client subcommands: talk to a running server's native API with a bearer token.

use crate::{RoleArg, TokenCommand};
use base64::Engine;
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Where the server is, how to trust it, and which token to present.
#[derive(Debug, Args)]
pub struct ClientArgs {
    /// Base URL of the server (default: https://<listen> from the configuration, e.g. https://127.0.0.1:8443).
    #[arg(long, env = "CERTWRIGHT_SERVER")]
    server: Option<String>,
    /// Bearer token (default: <data-dir>/admin.token).
    #[arg(long, env = "CERTWRIGHT_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// CA certificate(s) to trust for HTTPS (default: <data-dir>/ca.pem).
    #[arg(long, env = "CERTWRIGHT_CACERT")]
    cacert: Option<PathBuf>,
}

/// What the client falls back on when flags are absent.
#[derive(Debug, Clone)]
pub struct Defaults {
    pub data_dir: PathBuf,
    /// The configured HTTPS listener.
    pub listen: SocketAddr,
}

struct Client {
    base: String,
    token: String,
    http: reqwest::Client,
}

fn tls_config(cacert: &Path) -> Result<rustls::ClientConfig, String> {
    let pem = std::fs::read_to_string(cacert).map_err(|e| format!("cannot read {}: {e}", cacert.display()))?;
    let mut roots = rustls::RootCertStore::empty();
    for (label, der) in certwright_pki::pem::decode_all(&pem).map_err(|e| format!("{}: {e}", cacert.display()))? {
        if label == "CERTIFICATE" {
            roots.add(der.into()).map_err(|e| format!("{}: {e}", cacert.display()))?;
        }
    }
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

impl Client {
    fn new(args: &ClientArgs, defaults: &Defaults) -> Result<Self, String> {
        let token = match &args.token {
            Some(t) => t.clone(),
            None => {
                let path = defaults.data_dir.join(certwright_server::bootstrap::ADMIN_TOKEN_FILE);
                std::fs::read_to_string(&path)
                    .map(|t| t.trim().to_owned())
                    .map_err(|e| format!("no --token given and {} cannot be read: {e}", path.display()))?
            }
        };
        let base = match &args.server {
            Some(s) => s.trim_end_matches('/').to_owned(),
            None => {
                let mut addr = defaults.listen;
                if addr.ip().is_unspecified() {
                    addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
                }
                format!("https://{addr}")
            }
        };
        let mut builder = reqwest::Client::builder();
        if base.starts_with("https://") {
            let cacert = args.cacert.clone().unwrap_or_else(|| defaults.data_dir.join("ca.pem"));
            builder = builder.use_preconfigured_tls(tls_config(&cacert)?);
        }
        let http = builder.build().map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Self { base, token, http })
    }

    /// Sends `req` and parses the JSON of a successful answer.
    async fn send(&self, req: reqwest::RequestBuilder) -> Result<Value, String> {
        let bytes = self.fetch(req).await?;
        Ok(serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    /// Sends `req` and returns the raw body of a successful answer.
    async fn fetch(&self, req: reqwest::RequestBuilder) -> Result<Vec<u8>, String> {
        let resp = req.bearer_auth(&self.token).send().await.map_err(|e| format!("cannot reach {}: {e}", self.base))?;
        let status = resp.status();
        if status.is_success() {
            return resp.bytes().await.map(|b| b.to_vec()).map_err(|e| e.to_string());
        }
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        let detail = body.get("detail").and_then(Value::as_str).unwrap_or("no detail");
        let code = body.get("code").and_then(Value::as_str).unwrap_or("unknown");
        Err(format!("{status}: {detail} ({code})"))
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

fn print(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

pub async fn token(defaults: &Defaults, cmd: &TokenCommand) -> Result<ExitCode, String> {
    match cmd {
        TokenCommand::Create { client, name, role, principal, ra_profiles, expires_in } => {
            let c = Client::new(client, defaults)?;
            let role = role_name(*role);
            let body = json!({
                "name": name, "role": role, "principal": principal,
                "ra_profiles": ra_profiles, "expires_in_seconds": expires_in,
            });
            print(&c.send(c.http.post(c.url("/v1/tokens")).json(&body)).await?);
        }
        TokenCommand::List { client, all } => {
            let c = Client::new(client, defaults)?;
            let url = c.url(&format!("/v1/tokens?limit=1000&include_inactive={all}"));
            print(&c.send(c.http.get(url)).await?);
        }
        TokenCommand::Revoke { client, id } => {
            let c = Client::new(client, defaults)?;
            print(&c.send(c.http.delete(c.url(&format!("/v1/tokens/{id}")))).await?);
        }
        TokenCommand::Recover(_) => return Err("token recover runs locally, not against a server".to_owned()),
    }
    Ok(ExitCode::SUCCESS)
}

fn role_name(role: RoleArg) -> String {
    role.to_possible_value().map(|v| v.get_name().to_owned()).unwrap_or_default()
}

/// Certificates of a running server.
#[derive(Debug, Subcommand)]
pub enum CertCommand {
    /// Issue a certificate from a CSR file, or with a key generated by the server.
    Issue {
        #[command(flatten)]
        client: ClientArgs,
        /// RA profile name or id.
        #[arg(long, default_value = "default")]
        ra_profile: String,
        /// PKCS#10 request (PEM or DER file).
        #[arg(long, conflicts_with_all = ["common_name", "key_algorithm"])]
        csr: Option<PathBuf>,
        /// Common name, for a server-generated key.
        #[arg(long = "cn")]
        common_name: Option<String>,
        /// Subject alternative name, e.g. dns:www.example.com or ip:192.0.2.1 (repeatable).
        #[arg(long = "san")]
        sans: Vec<String>,
        /// Key algorithm for a server-generated key (ecdsa-p256, rsa-2048, ed25519, ml-dsa-65…).
        #[arg(long)]
        key_algorithm: Option<String>,
        #[arg(long)]
        validity_days: Option<u32>,
        /// Write the certificate (PEM) here.
        #[arg(long)]
        out_cert: Option<PathBuf>,
        /// Write the issuer chain (PEM) here.
        #[arg(long)]
        out_chain: Option<PathBuf>,
        /// Write a server-generated private key (PEM, mode 0600) here.
        #[arg(long, conflicts_with = "csr")]
        out_key: Option<PathBuf>,
    },
    /// List the inventory.
    List {
        #[command(flatten)]
        client: ClientArgs,
        /// Substring of the common name or a SAN.
        #[arg(long)]
        name: Option<String>,
        /// Exactly this owner.
        #[arg(long)]
        owner: Option<String>,
        /// Carries this label with exactly this value: KEY=VALUE.
        #[arg(long, value_parser = label_pair)]
        label: Option<(String, String)>,
        /// created_at, not_after or common_name; a leading '-' sorts descending (default -created_at).
        #[arg(long, allow_hyphen_values = true)]
        sort: Option<String>,
        /// Continue after the previous page: its next_cursor.
        #[arg(long)]
        cursor: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Change a certificate's owner, labels or custom attributes (the certificate itself never changes).
    Update {
        #[command(flatten)]
        client: ClientArgs,
        id: String,
        /// Set the owner.
        #[arg(long, conflicts_with = "clear_owner")]
        owner: Option<String>,
        /// Remove the owner.
        #[arg(long)]
        clear_owner: bool,
        /// Set a label: KEY=VALUE (repeatable).
        #[arg(long = "label", value_parser = label_pair)]
        labels: Vec<(String, String)>,
        /// Remove a label by key (repeatable).
        #[arg(long = "remove-label")]
        remove_labels: Vec<String>,
        /// A JSON object merged into the custom attributes (a null member removes that attribute).
        #[arg(long)]
        attributes: Option<String>,
    },
    /// Revoke a certificate: by id, or by --authority and --serial.
    Revoke {
        #[command(flatten)]
        client: ClientArgs,
        /// Certificate id.
        #[arg(required_unless_present = "serial")]
        id: Option<String>,
        /// Issuing authority (id or name), with --serial.
        #[arg(long, requires = "serial")]
        authority: Option<String>,
        /// Serial number in hex, with --authority.
        #[arg(long, requires = "authority", conflicts_with = "id")]
        serial: Option<String>,
        /// unspecified, keyCompromise, cACompromise, affiliationChanged, superseded, cessationOfOperation,
        /// certificateHold, privilegeWithdrawn or aACompromise.
        #[arg(long, default_value = "unspecified")]
        reason: String,
        /// When the key was compromised: RFC 3339 or epoch seconds.
        #[arg(long)]
        invalidity_date: Option<String>,
        /// Destroy the server-held private key too.
        #[arg(long)]
        destroy_key: bool,
    },
    /// Lift a certificateHold.
    ReleaseHold {
        #[command(flatten)]
        client: ClientArgs,
        id: String,
    },
    /// Renew: the same key and names, a new certificate.
    Renew {
        #[command(flatten)]
        client: ClientArgs,
        id: String,
        #[arg(long)]
        validity_days: Option<u32>,
    },
    /// Rekey: a new key, from a CSR file or generated by the server.
    Rekey {
        #[command(flatten)]
        client: ClientArgs,
        id: String,
        /// PKCS#10 request for the new key (PEM file).
        #[arg(long, conflicts_with = "key_algorithm")]
        csr: Option<PathBuf>,
        /// Algorithm of a server-generated key (the old one's by default).
        #[arg(long)]
        key_algorithm: Option<String>,
        #[arg(long)]
        validity_days: Option<u32>,
    },
    /// Upload the certificate an external CA issued for a pending request.
    Finalize {
        #[command(flatten)]
        client: ClientArgs,
        /// Request id.
        id: String,
        /// The issued certificate (PEM file, chain allowed).
        #[arg(long)]
        certificate: PathBuf,
    },
    /// Abort a pending issue (it fails) or a pending revocation (the certificate stays issued).
    Cancel {
        #[command(flatten)]
        client: ClientArgs,
        id: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Complete a pending revocation.
    ConfirmRevoke {
        #[command(flatten)]
        client: ClientArgs,
        id: String,
    },
    /// Show one certificate with its chain.
    Show {
        #[command(flatten)]
        client: ClientArgs,
        id: String,
    },
    /// Download a certificate: pem, der or pkcs7 (with its chain), or pkcs12 with its private key.
    Export {
        #[command(flatten)]
        client: ClientArgs,
        id: String,
        #[arg(long, value_parser = ["pem", "der", "pkcs7", "pkcs12"], default_value = "pem")]
        format: String,
        /// Leave the issuer chain out.
        #[arg(long)]
        no_chain: bool,
        /// Password of the PKCS#12 file (pkcs12 only).
        #[arg(long, env = "CERTWRIGHT_EXPORT_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        /// Write here (mode 0600 for pkcs12); the default is standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Import a certificate issued elsewhere: PEM (first certificate), DER, PKCS#7 (.p7b) or PKCS#12 (.p12/.pfx,
    /// with its key), optionally with its private key.
    Import {
        #[command(flatten)]
        client: ClientArgs,
        file: PathBuf,
        /// Password of a PKCS#12 file (also opens an encrypted --key when --key-password is absent).
        #[arg(long, env = "CERTWRIGHT_IMPORT_PASSWORD", hide_env_values = true, conflicts_with = "password_file")]
        password: Option<String>,
        /// Read the PKCS#12 password from this file (its first line).
        #[arg(long)]
        password_file: Option<PathBuf>,
        /// The certificate's private key (PEM or DER: PKCS#8, encrypted PKCS#8, RSA or EC), kept by the server.
        #[arg(long)]
        key: Option<PathBuf>,
        /// Password of an encrypted --key.
        #[arg(long, env = "CERTWRIGHT_IMPORT_KEY_PASSWORD", hide_env_values = true, requires = "key")]
        key_password: Option<String>,
    },
}

/// CRLs of a running server's authorities.
#[derive(Debug, Subcommand)]
pub enum CrlCommand {
    /// Download an authority's current CRL (PEM by default): the full one, the delta, or one partition.
    Show {
        #[command(flatten)]
        client: ClientArgs,
        /// Authority id or name.
        authority: String,
        #[arg(long, conflicts_with = "partition")]
        delta: bool,
        #[arg(long)]
        partition: Option<u32>,
        /// Write DER instead of PEM.
        #[arg(long)]
        der: bool,
        /// Write here; the default is standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// List an authority's current CRLs (number, dates, entries, URL).
    List {
        #[command(flatten)]
        client: ClientArgs,
        authority: String,
    },
    /// Sign every CRL of an authority now.
    Generate {
        #[command(flatten)]
        client: ClientArgs,
        authority: String,
    },
}

/// Certificate authorities of a running server.
#[derive(Debug, Subcommand)]
pub enum CaCommand {
    /// List authorities.
    List {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Create a root (no --parent) or an intermediate authority.
    Create {
        #[command(flatten)]
        client: ClientArgs,
        #[arg(long)]
        name: String,
        /// Parent authority id; absent creates a self-signed root.
        #[arg(long)]
        parent: Option<String>,
        #[arg(long)]
        key_algorithm: Option<String>,
        /// RFC 4514 subject, e.g. "CN=Team CA,O=Example".
        #[arg(long)]
        subject: Option<String>,
        #[arg(long)]
        validity_days: Option<u32>,
        #[arg(long)]
        path_len: Option<u8>,
    },
}

/// Reads `KEY=VALUE`.
fn label_pair(s: &str) -> Result<(String, String), String> {
    s.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())).ok_or_else(|| format!("'{s}' is not KEY=VALUE"))
}

/// The merge patch `cert update` sends: only what was asked for changes.
fn update_patch(
    owner: Option<&str>,
    clear_owner: bool,
    labels: &[(String, String)],
    remove_labels: &[String],
    attributes: Option<&str>,
) -> Result<Value, String> {
    let mut patch = serde_json::Map::new();
    if let Some(o) = owner {
        patch.insert("owner".to_owned(), json!(o));
    } else if clear_owner {
        patch.insert("owner".to_owned(), Value::Null);
    }
    if !labels.is_empty() || !remove_labels.is_empty() {
        let mut changes = serde_json::Map::new();
        for k in remove_labels {
            changes.insert(k.clone(), Value::Null);
        }
        for (k, v) in labels {
            changes.insert(k.clone(), json!(v));
        }
        patch.insert("labels".to_owned(), Value::Object(changes));
    }
    if let Some(text) = attributes {
        let value: Value = serde_json::from_str(text).map_err(|e| format!("--attributes is not JSON: {e}"))?;
        if !value.is_object() {
            return Err("--attributes must be a JSON object".to_owned());
        }
        patch.insert("custom_attributes".to_owned(), value);
    }
    if patch.is_empty() {
        return Err(
            "nothing to change: give --owner, --clear-owner, --label, --remove-label or --attributes".to_owned()
        );
    }
    Ok(Value::Object(patch))
}

fn write_file(path: &Path, contents: &str, secret: bool) -> Result<(), String> {
    if secret {
        return certwright_server::bootstrap::write_secret_file(path, contents.as_bytes()).map_err(|e| e.to_string());
    }
    std::fs::write(path, contents).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

pub async fn cert(defaults: &Defaults, cmd: &CertCommand) -> Result<ExitCode, String> {
    match cmd {
        CertCommand::Issue {
            client,
            ra_profile,
            csr,
            common_name,
            sans,
            key_algorithm,
            validity_days,
            out_cert,
            out_chain,
            out_key,
        } => {
            let c = Client::new(client, defaults)?;
            let csr = match csr {
                Some(p) => {
                    let bytes = std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?;
                    Some(match String::from_utf8(bytes.clone()) {
                        Ok(text) if text.contains("-----BEGIN") => text,
                        _ => base64::engine::general_purpose::STANDARD.encode(bytes),
                    })
                }
                None => None,
            };
            let body = json!({
                "ra_profile": ra_profile, "csr": csr, "common_name": common_name, "sans": sans,
                "key_algorithm": key_algorithm, "validity_days": validity_days,
            });
            let mut issued = c.send(c.http.post(c.url("/v1/certificates")).json(&body)).await?;
            let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
            if let (Some(path), Some(pem)) = (out_cert, text(&issued, "certificate_pem")) {
                write_file(path, &pem, false)?;
            }
            if let (Some(path), Some(pem)) = (out_chain, text(&issued, "chain_pem")) {
                write_file(path, &pem, false)?;
            }
            if let Some(path) = out_key {
                let key = text(&issued, "private_key_pem")
                    .ok_or("the server returned no private key (a CSR was sent, or the profile forbids export)")?;
                write_file(path, &key, true)?;
                if let Some(map) = issued.as_object_mut() {
                    map.remove("private_key_pem");
                }
            }
            print(&issued);
        }
        CertCommand::List { client, name, owner, label, sort, cursor, limit } => {
            let c = Client::new(client, defaults)?;
            let mut query = vec![("limit", limit.to_string())];
            let label = label.as_ref().map(|(k, v)| format!("{k}:{v}"));
            let optional = [("name", name), ("owner", owner), ("label", &label), ("sort", sort), ("cursor", cursor)];
            query.extend(optional.into_iter().filter_map(|(k, v)| v.clone().map(|v| (k, v))));
            print(&c.send(c.http.get(c.url("/v1/certificates")).query(&query)).await?);
        }
        CertCommand::Update { client, id, owner, clear_owner, labels, remove_labels, attributes } => {
            let c = Client::new(client, defaults)?;
            let body = update_patch(owner.as_deref(), *clear_owner, labels, remove_labels, attributes.as_deref())?;
            print(&c.send(c.http.patch(c.url(&format!("/v1/certificates/{id}"))).json(&body)).await?);
        }
        CertCommand::Revoke { client, id, authority, serial, reason, invalidity_date, destroy_key } => {
            let c = Client::new(client, defaults)?;
            let mut body = json!({ "reason": reason, "invalidity_date": invalidity_date, "destroy_key": destroy_key });
            let url = match (id, authority, serial) {
                (Some(id), _, _) => c.url(&format!("/v1/certificates/{id}/revoke")),
                (None, Some(a), Some(s)) => {
                    body["authority"] = json!(a);
                    body["serial"] = json!(s);
                    c.url("/v1/revocations")
                }
                _ => return Err("give a certificate id, or --authority and --serial".to_owned()),
            };
            print(&c.send(c.http.post(url).json(&body)).await?);
        }
        CertCommand::Renew { client, id, validity_days } => {
            let c = Client::new(client, defaults)?;
            let body = json!({ "validity_days": validity_days });
            print(&c.send(c.http.post(c.url(&format!("/v1/certificates/{id}/renew"))).json(&body)).await?);
        }
        CertCommand::Rekey { client, id, csr, key_algorithm, validity_days } => {
            let c = Client::new(client, defaults)?;
            let csr = csr
                .as_ref()
                .map(|p| std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display())))
                .transpose()?;
            let body = json!({ "csr": csr, "key_algorithm": key_algorithm, "validity_days": validity_days });
            print(&c.send(c.http.post(c.url(&format!("/v1/certificates/{id}/rekey"))).json(&body)).await?);
        }
        CertCommand::Finalize { client, id, certificate } => {
            let c = Client::new(client, defaults)?;
            let pem = std::fs::read_to_string(certificate).map_err(|e| format!("{}: {e}", certificate.display()))?;
            let body = json!({ "certificate": pem });
            print(&c.send(c.http.post(c.url(&format!("/v1/certificates/{id}/finalize"))).json(&body)).await?);
        }
        CertCommand::Cancel { client, id, reason } => {
            let c = Client::new(client, defaults)?;
            let body = json!({ "reason": reason });
            print(&c.send(c.http.post(c.url(&format!("/v1/certificates/{id}/cancel"))).json(&body)).await?);
        }
        CertCommand::ConfirmRevoke { client, id } => {
            let c = Client::new(client, defaults)?;
            print(&c.send(c.http.post(c.url(&format!("/v1/certificates/{id}/confirm-revoke")))).await?);
        }
        CertCommand::ReleaseHold { client, id } => {
            let c = Client::new(client, defaults)?;
            print(&c.send(c.http.post(c.url(&format!("/v1/certificates/{id}/release-hold")))).await?);
        }
        CertCommand::Show { client, id } => {
            let c = Client::new(client, defaults)?;
            print(&c.send(c.http.get(c.url(&format!("/v1/certificates/{id}")))).await?);
        }
        CertCommand::Export { client, id, format, no_chain, password, out } => {
            let c = Client::new(client, defaults)?;
            let chain = (!no_chain).to_string();
            let req = if format == "pkcs12" {
                let password =
                    password.as_deref().ok_or("--password (or CERTWRIGHT_EXPORT_PASSWORD) is needed for pkcs12")?;
                c.http
                    .post(c.url(&format!("/v1/certificates/{id}/pkcs12")))
                    .json(&json!({ "password": password, "chain": !no_chain }))
            } else {
                c.http
                    .get(c.url(&format!("/v1/certificates/{id}/export")))
                    .query(&[("format", format), ("chain", &chain)])
            };
            let bytes = c.fetch(req).await?;
            match out {
                Some(path) if format == "pkcs12" => {
                    certwright_server::bootstrap::write_secret_file(path, &bytes).map_err(|e| e.to_string())?
                }
                Some(path) => {
                    std::fs::write(path, &bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))?
                }
                None => std::io::Write::write_all(&mut std::io::stdout(), &bytes).map_err(|e| e.to_string())?,
            }
        }
        CertCommand::Import { client, file, password, password_file, key, key_password } => {
            let c = Client::new(client, defaults)?;
            // PEM is sent as text; binary files (DER, .p7b, .p12) as base64.
            let encoded = |path: &Path| -> Result<String, String> {
                let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                Ok(match String::from_utf8(bytes) {
                    Ok(text) if text.contains("-----BEGIN") => text,
                    Ok(text) => base64::engine::general_purpose::STANDARD.encode(text),
                    Err(e) => base64::engine::general_purpose::STANDARD.encode(e.into_bytes()),
                })
            };
            let password = match (password, password_file) {
                (_, Some(path)) => {
                    let text =
                        std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                    Some(text.lines().next().unwrap_or_default().to_owned())
                }
                (p, None) => p.clone(),
            };
            let body = json!({
                "certificate": encoded(file)?, "password": password,
                "private_key": key.as_deref().map(encoded).transpose()?, "private_key_password": key_password,
            });
            print(&c.send(c.http.post(c.url("/v1/certificates/import")).json(&body)).await?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The id of an authority given by id or name.
async fn authority_id(c: &Client, reference: &str) -> Result<String, String> {
    let all = c.send(c.http.get(c.url("/v1/authorities"))).await?;
    all.get("items")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|a| {
            a.get("id").and_then(Value::as_str) == Some(reference)
                || a.get("name").and_then(Value::as_str) == Some(reference)
        })
        .and_then(|a| a.get("id").and_then(Value::as_str).map(str::to_owned))
        .ok_or_else(|| format!("no authority has the id or name '{reference}'"))
}

/// Approvals of a running server.
#[derive(Debug, Subcommand)]
pub enum ApprovalCommand {
    /// List approvals, newest first.
    List {
        #[command(flatten)]
        client: ClientArgs,
        /// pending, approved, rejected or expired.
        #[arg(long)]
        status: Option<String>,
    },
    /// Approve.
    Approve {
        #[command(flatten)]
        client: ClientArgs,
        id: String,
        #[arg(long)]
        comment: Option<String>,
    },
    /// Reject.
    Reject {
        #[command(flatten)]
        client: ClientArgs,
        id: String,
        #[arg(long)]
        comment: Option<String>,
    },
}

pub async fn approval(defaults: &Defaults, cmd: &ApprovalCommand) -> Result<ExitCode, String> {
    match cmd {
        ApprovalCommand::List { client, status } => {
            let c = Client::new(client, defaults)?;
            let query = status.as_ref().map(|s| format!("&status={s}")).unwrap_or_default();
            print(&c.send(c.http.get(c.url(&format!("/v1/approvals?limit=1000{query}")))).await?);
        }
        ApprovalCommand::Approve { client, id, comment } | ApprovalCommand::Reject { client, id, comment } => {
            let c = Client::new(client, defaults)?;
            let verb = if matches!(cmd, ApprovalCommand::Approve { .. }) { "approve" } else { "reject" };
            let body = json!({ "comment": comment });
            print(&c.send(c.http.post(c.url(&format!("/v1/approvals/{id}/{verb}"))).json(&body)).await?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn crl(defaults: &Defaults, cmd: &CrlCommand) -> Result<ExitCode, String> {
    match cmd {
        CrlCommand::Show { client, authority, delta, partition, der, out } => {
            let c = Client::new(client, defaults)?;
            let id = authority_id(&c, authority).await?;
            let path = match (delta, partition) {
                (true, _) => format!("/crl/{id}-delta.crl"),
                (false, Some(n)) => format!("/crl/{id}/{n}.crl"),
                (false, None) => format!("/crl/{id}.crl"),
            };
            let bytes = c.fetch(c.http.get(c.url(&path))).await?;
            let bytes = if *der { bytes } else { certwright_pki::pem::encode("X509 CRL", &bytes).into_bytes() };
            match out {
                Some(path) => {
                    std::fs::write(path, &bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))?
                }
                None => std::io::Write::write_all(&mut std::io::stdout(), &bytes).map_err(|e| e.to_string())?,
            }
        }
        CrlCommand::List { client, authority } => {
            let c = Client::new(client, defaults)?;
            let id = authority_id(&c, authority).await?;
            print(&c.send(c.http.get(c.url(&format!("/v1/authorities/{id}/crls")))).await?);
        }
        CrlCommand::Generate { client, authority } => {
            let c = Client::new(client, defaults)?;
            let id = authority_id(&c, authority).await?;
            print(&c.send(c.http.post(c.url(&format!("/v1/authorities/{id}/crls")))).await?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn ca(defaults: &Defaults, cmd: &CaCommand) -> Result<ExitCode, String> {
    match cmd {
        CaCommand::List { client } => {
            let c = Client::new(client, defaults)?;
            print(&c.send(c.http.get(c.url("/v1/authorities"))).await?);
        }
        CaCommand::Create { client, name, parent, key_algorithm, subject, validity_days, path_len } => {
            let c = Client::new(client, defaults)?;
            let body = json!({
                "name": name, "parent": parent, "key_algorithm": key_algorithm, "subject": subject,
                "validity_days": validity_days, "path_len": path_len,
            });
            print(&c.send(c.http.post(c.url("/v1/authorities")).json(&body)).await?);
        }
    }
    Ok(ExitCode::SUCCESS)
}
