//! Deployment: locations (where certificates are installed and how the server there takes them), deployments
//! (one certificate to one location, or its removal, run as a job with its history), and the `Deployer` port
//! that does the installing.

use crate::clock::EpochSeconds;
use crate::{CoreError, Result};
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::pin::Pin;
use uuid::Uuid;
use zeroize::Zeroizing;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// How to reach a host over SSH (the login key is a credential, sealed apart).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SshHost {
    pub host: String,
    #[serde(default = "default_ssh_port")]
    pub port: u16,
    pub user: String,
    /// The server's public host key (`ssh-ed25519 AAAA…`), pinned.
    pub host_key: String,
}

fn default_ssh_port() -> u16 {
    22
}

/// An F5 BIG-IP reached through iControl REST (the password is a credential).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct F5Spec {
    /// `https://bigip.example.com`
    pub url: String,
    pub username: String,
    #[serde(default = "default_partition")]
    pub partition: String,
    /// The client-ssl profile whose certificate is replaced.
    pub profile: String,
    /// PEM of the CA that signed the management interface's certificate (system roots when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_pem: Option<String>,
}

fn default_partition() -> String {
    "Common".to_owned()
}

/// A Windows host running IIS, reached through WinRM (the password is a credential).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IisSpec {
    /// `https://host:5986/wsman`
    pub endpoint: String,
    pub username: String,
    pub site: String,
    #[serde(default = "default_https_port")]
    pub port: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_header: Option<String>,
    #[serde(default = "default_store")]
    pub cert_store: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_pem: Option<String>,
}

fn default_https_port() -> u16 {
    443
}

fn default_store() -> String {
    "MY".to_owned()
}

/// An IBM key database (WebSphere, IBM HTTP Server) changed with `gskcapicmd` over SSH (its password is a
/// credential; none means the stash file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebSphereSpec {
    pub key_db_path: String,
    pub label: String,
    #[serde(default = "default_gskcapicmd")]
    pub gskcapicmd: String,
    #[serde(default)]
    pub set_default: bool,
}

fn default_gskcapicmd() -> String {
    "gskcapicmd".to_owned()
}

/// An Apache httpd site found in its configuration file at deployment time: the `<VirtualHost>` on `port` whose
/// `ServerName` or `ServerAlias` is `site` (the first on the port when `site` is absent) names the files written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApacheSite {
    /// Absolute path of the configuration file holding the `<VirtualHost>`.
    pub config_path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    #[serde(default = "default_https_port")]
    pub port: u16,
}

/// Where and how a location installs certificates.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocationSpec {
    /// `file`, `nginx`, `apache`, `f5`, `iis` or `websphere`.
    pub kind: String,
    /// The host over SSH; this server's host when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh: Option<SshHost>,
    /// Absolute path of the certificate file (with `fullchain`, the certificate followed by its chain); for
    /// `file`, `nginx` and `apache`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_path: Option<String>,
    #[serde(default)]
    pub fullchain: bool,
    /// `user` or `user:group` of the written files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Replaces the kind's configuration test (`nginx -t`, `apachectl configtest`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_command: Option<Vec<String>>,
    /// Replaces the kind's graceful reload (`nginx -s reload`, `apachectl -k graceful`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reload_command: Option<Vec<String>>,
    /// `address:port` where the served certificate is checked after the reload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify_server_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub f5: Option<F5Spec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iis: Option<IisSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub websphere: Option<WebSphereSpec>,
    /// For `apache` without paths: the paths are read from the site's `<VirtualHost>` when deploying.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apache_site: Option<ApacheSite>,
}

impl LocationSpec {
    /// Whether installing needs the certificate's private key: a key file, or an appliance that takes a PKCS#12.
    pub fn takes_key(&self) -> bool {
        self.key_path.is_some()
            || self.apache_site.is_some()
            || matches!(self.kind.as_str(), "f5" | "iis" | "websphere")
    }
}

/// A location.
#[derive(Debug, Clone, PartialEq)]
pub struct Location {
    pub id: i64,
    pub uuid: Uuid,
    pub name: String,
    pub spec: LocationSpec,
    /// The credentials (JSON: `ssh_private_key`), sealed under the location's uuid; never shown.
    pub sealed_credentials: Option<Vec<u8>>,
    pub created_by: String,
    pub created_at: EpochSeconds,
    pub updated_at: EpochSeconds,
}

/// The secrets of a location, opened for one deployment.
#[derive(Clone, Default, Serialize, Deserialize)]
pub struct Credentials {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_private_key: Option<String>,
    /// The F5 or WinRM password, or the key database password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

impl Credentials {
    pub fn is_empty(&self) -> bool {
        self.ssh_private_key.is_none() && self.password.is_none()
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("ssh_private_key", &self.ssh_private_key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Install or remove.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeployAction {
    Deploy,
    Undeploy,
}

impl DeployAction {
    pub fn as_str(self) -> &'static str {
        match self {
            DeployAction::Deploy => "deploy",
            DeployAction::Undeploy => "undeploy",
        }
    }

    pub fn from_stored(s: &str) -> Result<Self> {
        match s {
            "deploy" => Ok(DeployAction::Deploy),
            "undeploy" => Ok(DeployAction::Undeploy),
            other => Err(CoreError::Storage(format!("unknown deployment action '{other}'"))),
        }
    }
}

/// Where a deployment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeployState {
    Queued,
    Running,
    Succeeded,
    /// Failed; `rolled_back` says whether the previous files were restored.
    Failed,
}

impl DeployState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeployState::Queued => "queued",
            DeployState::Running => "running",
            DeployState::Succeeded => "succeeded",
            DeployState::Failed => "failed",
        }
    }

    pub fn from_stored(s: &str) -> Result<Self> {
        [Self::Queued, Self::Running, Self::Succeeded, Self::Failed]
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| CoreError::Storage(format!("unknown deployment state '{s}'")))
    }
}

/// One deployment and its outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct Deployment {
    pub id: i64,
    pub uuid: Uuid,
    pub certificate_id: i64,
    pub certificate_uuid: Uuid,
    pub location_id: i64,
    pub location_uuid: Uuid,
    pub action: DeployAction,
    pub state: DeployState,
    /// What the deployer did, step by step; the failed step and whether it was rolled back.
    pub details: serde_json::Value,
    pub error: Option<String>,
    /// Why it was made: `api`, `renewal` (replacing the certificate it renews).
    pub reason: String,
    pub created_by: String,
    pub created_at: EpochSeconds,
    pub finished_at: Option<EpochSeconds>,
}

/// What a deployer installs.
pub struct Material {
    pub certificate_pem: String,
    pub chain_pem: String,
    pub key_pem: Option<Zeroizing<String>>,
    pub fingerprint: String,
}

impl std::fmt::Debug for Material {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Material").field("fingerprint", &self.fingerprint).finish_non_exhaustive()
    }
}

/// How a deployer's attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployOutcome {
    pub steps: Vec<String>,
    /// The step that failed, with the message; `None` on success.
    pub failure: Option<(String, String)>,
    pub rolled_back: bool,
    /// A failure worth retrying (the host was not reachable).
    pub retryable: bool,
}

/// The port through which core installs certificates.
pub trait Deployer: Send + Sync + std::fmt::Debug {
    /// Checks a location before it is stored: kinds, paths inside the allowed ones, commands allowed.
    fn check(&self, spec: &LocationSpec, credentials: &Credentials) -> Result<()>;

    fn deploy<'a>(
        &'a self,
        spec: &'a LocationSpec,
        credentials: &'a Credentials,
        material: &'a Material,
    ) -> BoxFuture<'a, DeployOutcome>;

    fn undeploy<'a>(&'a self, spec: &'a LocationSpec, credentials: &'a Credentials) -> BoxFuture<'a, DeployOutcome>;
}
