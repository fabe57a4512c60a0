//! Publication: devices (the hosts and appliances certificates are published to), the credentials that log in to
//! them (secrets sealed, never shown), publication profiles (how one kind of server takes a certificate, on which
//! devices, with which credential) and publications (one certificate pushed to some of a profile's devices, each
//! push a deployment to a location derived from the profile, the device and the credential).

use crate::clock::EpochSeconds;
use crate::deploy::{ApacheSite, Credentials, DeployState, F5Spec, IisSpec, LocationSpec, SshHost, WebSphereSpec};
use crate::{CoreError, Result};
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, SocketAddr};
use uuid::Uuid;

/// Longest free text (names, models, tags, paths), in characters.
pub const MAX_TEXT: usize = 255;
/// Most devices of a profile or a publication, and most tags.
pub const MAX_ITEMS: usize = 100;
/// Largest secret (a password or a private key), in bytes.
pub const MAX_SECRET: usize = 16 * 1024;
/// Default Apache configuration file of a profile.
pub const DEFAULT_APACHE_CONFIG: &str = "/etc/apache2/sites-available/default.com.conf";

/// A device: a host or an appliance, known by its host name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub id: i64,
    pub uuid: Uuid,
    pub hostname: String,
    pub ip: IpAddr,
    pub model: Option<String>,
    /// What kind of device it is (`type`), free text.
    pub kind: Option<String>,
    pub vendor: Option<String>,
    pub site: Option<String>,
    pub domain: Option<String>,
    pub tags: Vec<String>,
    pub ssh_port: u16,
    /// The pinned OpenSSH host key (`ssh-ed25519 AAAA…`); required to publish over SSH.
    pub ssh_host_key: Option<String>,
    /// The CA (PEM) of the management interface of an appliance (BIG-IP, WinRM).
    pub ca_pem: Option<String>,
    pub winrm_port: u16,
    /// Inactive devices are kept for history but not published to.
    pub active: bool,
    pub created_by: String,
    pub created_at: EpochSeconds,
    pub updated_at: EpochSeconds,
}

impl Device {
    /// A loopback device without a host key is this server's own host: published to without SSH.
    pub fn is_local(&self) -> bool {
        self.ip.is_loopback() && self.ssh_host_key.is_none()
    }
}

/// What creates or changes a device (found by host name); `None` keeps what is stored.
#[derive(Debug, Clone, Default)]
pub struct DeviceInput {
    pub hostname: String,
    pub ip: Option<String>,
    pub model: Option<String>,
    pub kind: Option<String>,
    pub vendor: Option<String>,
    pub site: Option<String>,
    pub domain: Option<String>,
    pub tags: Option<Vec<String>>,
    pub ssh_port: Option<u16>,
    pub ssh_host_key: Option<String>,
    pub ca_pem: Option<String>,
    pub winrm_port: Option<u16>,
}

/// How a device is looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceKey {
    Id(i64),
    Hostname(String),
    Ip(IpAddr),
}

/// What a credential's secret is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretKind {
    None,
    Password,
    /// A PEM or OpenSSH private key (the content began with `-----BEGIN`).
    PrivateKey,
}

impl SecretKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SecretKind::None => "none",
            SecretKind::Password => "password",
            SecretKind::PrivateKey => "private_key",
        }
    }

    pub fn from_stored(s: &str) -> Result<Self> {
        [Self::None, Self::Password, Self::PrivateKey]
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| CoreError::Storage(format!("unknown secret kind '{s}'")))
    }

    /// What a content is: a key when it starts with `-----BEGIN`.
    pub fn of(content: &str) -> Self {
        if content.is_empty() {
            SecretKind::None
        } else if content.trim_start().starts_with("-----BEGIN") {
            SecretKind::PrivateKey
        } else {
            SecretKind::Password
        }
    }
}

/// A login on a device. The secret is sealed under the credential's uuid and never leaves except into a
/// deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub id: i64,
    pub uuid: Uuid,
    /// Unique name (`[A-Za-z0-9-_.]`).
    pub identifier: String,
    pub username: String,
    pub device_id: i64,
    pub secret_kind: SecretKind,
    pub sealed_secret: Option<Vec<u8>>,
    pub additional: Option<String>,
    pub tags: Vec<String>,
    pub credential_type: Option<String>,
    pub active: bool,
    pub created_by: String,
    pub created_at: EpochSeconds,
    pub updated_at: EpochSeconds,
}

/// What creates or changes a credential (found by identifier); `None` keeps what is stored.
#[derive(Default)]
pub struct CredentialInput {
    pub identifier: Option<String>,
    pub username: Option<String>,
    pub hostname: Option<String>,
    pub ip: Option<String>,
    pub content: Option<zeroize::Zeroizing<String>>,
    pub additional: Option<String>,
    pub tags: Option<Vec<String>>,
    pub credential_type: Option<String>,
}

impl std::fmt::Debug for CredentialInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialInput")
            .field("identifier", &self.identifier)
            .field("username", &self.username)
            .field("content", &self.content.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

/// How a credential is looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialKey {
    Id(i64),
    Identifier(String),
}

/// The server a profile publishes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProfileKind {
    Apache,
    Iis,
    Bigip,
    Was,
}

impl ProfileKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProfileKind::Apache => "apache",
            ProfileKind::Iis => "iis",
            ProfileKind::Bigip => "bigip",
            ProfileKind::Was => "was",
        }
    }

    pub fn parse(s: &str) -> Result<Self> {
        [Self::Apache, Self::Iis, Self::Bigip, Self::Was]
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| CoreError::invalid("publication_profile.kind", format!("unknown profile kind '{s}'")))
    }
}

/// What a profile of each kind says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", deny_unknown_fields)]
pub enum ProfileSettings {
    Apache {
        #[serde(default)]
        site: Option<String>,
        config_path: String,
        port: u16,
        #[serde(default)]
        test_command: Option<Vec<String>>,
        #[serde(default)]
        reload_command: Option<Vec<String>>,
    },
    Iis {
        #[serde(default)]
        site: Option<String>,
        cert_store: String,
        port: u16,
    },
    Bigip {
        partition: String,
        #[serde(default)]
        cert_name: Option<String>,
        client_profiles: Vec<String>,
        server_profiles: Vec<String>,
    },
    Was {
        key_db_path: String,
        label: String,
    },
}

impl ProfileSettings {
    pub fn kind(&self) -> ProfileKind {
        match self {
            ProfileSettings::Apache { .. } => ProfileKind::Apache,
            ProfileSettings::Iis { .. } => ProfileKind::Iis,
            ProfileSettings::Bigip { .. } => ProfileKind::Bigip,
            ProfileSettings::Was { .. } => ProfileKind::Was,
        }
    }
}

/// Changes to a profile's settings; `None` keeps what is stored (or takes the default on creation).
#[derive(Default)]
pub struct ProfilePatch {
    pub site: Option<String>,
    pub config_path: Option<String>,
    pub port: Option<u16>,
    pub cert_store: Option<String>,
    pub partition: Option<String>,
    pub cert_name: Option<String>,
    pub client_profiles: Option<Vec<String>>,
    pub server_profiles: Option<Vec<String>>,
    pub key_db_path: Option<String>,
    pub label: Option<String>,
    pub key_db_password: Option<zeroize::Zeroizing<String>>,
    pub test_command: Option<Vec<String>>,
    pub reload_command: Option<Vec<String>>,
}

impl std::fmt::Debug for ProfilePatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProfilePatch")
            .field("key_db_password", &self.key_db_password.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

fn missing(field: &str) -> CoreError {
    CoreError::invalid("publication_profile.missing", format!("{field} is required"))
}

/// An empty text clears an optional field.
fn optional(new: Option<String>, old: Option<String>) -> Option<String> {
    match new {
        Some(v) if v.is_empty() => None,
        Some(v) => Some(v),
        None => old,
    }
}

impl ProfilePatch {
    /// The settings of a profile of `kind` after this patch, with the defaults filled in on creation.
    pub fn apply(self, kind: ProfileKind, old: Option<ProfileSettings>) -> Result<ProfileSettings> {
        let p = self;
        let text = |v: Option<String>| v.filter(|s| !s.is_empty());
        Ok(match (kind, old) {
            (ProfileKind::Apache, old) => {
                let (site, config_path, port, test, reload) = match old {
                    Some(ProfileSettings::Apache { site, config_path, port, test_command, reload_command }) => {
                        (site, config_path, port, test_command, reload_command)
                    }
                    _ => (None, DEFAULT_APACHE_CONFIG.to_owned(), 443, None, None),
                };
                ProfileSettings::Apache {
                    site: optional(p.site, site),
                    config_path: text(p.config_path).unwrap_or(config_path),
                    port: p.port.unwrap_or(port),
                    test_command: p.test_command.map(|c| Some(c).filter(|c| !c.is_empty())).unwrap_or(test),
                    reload_command: p.reload_command.map(|c| Some(c).filter(|c| !c.is_empty())).unwrap_or(reload),
                }
            }
            (ProfileKind::Iis, old) => {
                let (site, store, port) = match old {
                    Some(ProfileSettings::Iis { site, cert_store, port }) => (site, cert_store, port),
                    _ => (None, "MY".to_owned(), 443),
                };
                ProfileSettings::Iis {
                    site: optional(p.site, site),
                    cert_store: text(p.cert_store).unwrap_or(store),
                    port: p.port.unwrap_or(port),
                }
            }
            (ProfileKind::Bigip, old) => {
                let (partition, cert_name, client, server) = match old {
                    Some(ProfileSettings::Bigip { partition, cert_name, client_profiles, server_profiles }) => {
                        (partition, cert_name, client_profiles, server_profiles)
                    }
                    _ => ("Common".to_owned(), None, Vec::new(), Vec::new()),
                };
                ProfileSettings::Bigip {
                    partition: text(p.partition).unwrap_or(partition),
                    cert_name: optional(p.cert_name, cert_name),
                    client_profiles: p.client_profiles.unwrap_or(client),
                    server_profiles: p.server_profiles.unwrap_or(server),
                }
            }
            (ProfileKind::Was, old) => {
                let (path, label) = match old {
                    Some(ProfileSettings::Was { key_db_path, label }) => (Some(key_db_path), Some(label)),
                    _ => (None, None),
                };
                ProfileSettings::Was {
                    key_db_path: text(p.key_db_path).or(path).ok_or_else(|| missing("key_db_path"))?,
                    label: text(p.label).or(label).ok_or_else(|| missing("label"))?,
                }
            }
        })
    }
}

/// A publication profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicationProfile {
    pub id: i64,
    pub uuid: Uuid,
    pub name: String,
    pub settings: ProfileSettings,
    /// The credential used on every device.
    pub credential_id: Option<i64>,
    /// Or: on each device, its credential with this user name.
    pub username: Option<String>,
    pub devices: Vec<i64>,
    /// The key database password (`was`), sealed under the profile's uuid.
    pub sealed_secret: Option<Vec<u8>>,
    pub created_by: String,
    pub created_at: EpochSeconds,
    pub updated_at: EpochSeconds,
}

impl PublicationProfile {
    pub fn kind(&self) -> ProfileKind {
        self.settings.kind()
    }
}

/// What creates (no id) or changes a profile.
#[derive(Debug, Default)]
pub struct ProfileInput {
    pub name: Option<String>,
    pub credential_id: Option<i64>,
    pub username: Option<String>,
    pub devices: Option<Vec<i64>>,
    pub patch: ProfilePatch,
}

/// A certificate to publish.
#[derive(Debug, Clone, Default)]
pub struct PublishInput {
    pub certificate_id: i64,
    pub profile_id: i64,
    pub reason: i64,
    pub justification: Option<String>,
    pub itms_code: Option<String>,
    pub devices: Vec<i64>,
}

/// One certificate published through a profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publication {
    pub id: i64,
    pub uuid: Uuid,
    pub certificate_id: i64,
    pub profile_id: i64,
    pub reason: i64,
    pub justification: Option<String>,
    pub itms_code: Option<String>,
    /// The credential and user name used, as they were at publication.
    pub credential_id: Option<i64>,
    pub username: Option<String>,
    pub created_by: String,
    pub created_at: EpochSeconds,
}

/// One push of a publication: a device (for BIG-IP, one client-ssl profile of a device) and its deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicationTarget {
    pub device_id: i64,
    /// What the push installs (`apache`, `bigip:/Common/clientssl`, …).
    pub label: String,
    pub location_id: Option<i64>,
    pub deployment_id: Option<i64>,
    /// The deployment's state; `None` once its history was deleted with its location.
    pub state: Option<DeployState>,
    pub error: Option<String>,
}

impl PublicationTarget {
    pub fn finished(&self) -> bool {
        !matches!(self.state, Some(DeployState::Queued | DeployState::Running))
    }

    pub fn failed(&self) -> bool {
        !matches!(self.state, Some(DeployState::Queued | DeployState::Running | DeployState::Succeeded))
    }
}

/// A publication with its pushes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicationView {
    pub publication: Publication,
    pub certificate_uuid: Uuid,
    pub targets: Vec<PublicationTarget>,
}

impl PublicationView {
    /// Every push has ended.
    pub fn processed(&self) -> bool {
        self.targets.iter().all(PublicationTarget::finished)
    }

    /// Some push failed.
    pub fn error(&self) -> bool {
        self.targets.iter().any(PublicationTarget::failed)
    }

    /// The devices, each once, in order.
    pub fn devices(&self) -> Vec<i64> {
        crate::seq::unique_in_order(self.targets.iter().map(|t| t.device_id))
    }
}

/// Which publications to list.
#[derive(Debug, Clone, Default)]
pub struct PublicationFilter {
    pub id: Option<i64>,
    pub certificate_id: Option<i64>,
    /// Publications of any of these certificates (none: no such condition).
    pub certificate_ids: Vec<i64>,
    pub profile_id: Option<i64>,
    /// Created in `[from, to]`.
    pub created: Option<(EpochSeconds, EpochSeconds)>,
    pub processed: Option<bool>,
    pub error: Option<bool>,
    pub reason: Option<i64>,
    pub itms_code: Option<String>,
    pub device_id: Option<i64>,
}

/// Where one push goes: a location spec with its credentials and a label.
#[derive(Debug)]
pub struct Target {
    pub label: String,
    pub spec: LocationSpec,
    pub credentials: Credentials,
}

fn refuse(message: String) -> CoreError {
    CoreError::invalid("publication.unsupported", message)
}

fn ssh_host(device: &Device, username: &str) -> Result<SshHost> {
    let host_key = device.ssh_host_key.clone().ok_or_else(|| {
        refuse(format!("device {} ({}) has no ssh_host_key: publishing over SSH pins it", device.id, device.hostname))
    })?;
    Ok(SshHost { host: device.ip.to_string(), port: device.ssh_port, user: username.to_owned(), host_key })
}

fn ssh_key(device: &Device, secret: &Opened) -> Result<String> {
    match secret {
        Opened { kind: SecretKind::PrivateKey, value: Some(v) } => Ok(v.to_string()),
        _ => Err(refuse(format!(
            "publishing to device {} over SSH needs a credential holding a private key, not a password",
            device.id
        ))),
    }
}

fn password(device: &Device, secret: &Opened) -> Result<String> {
    match secret {
        Opened { kind: SecretKind::Password, value: Some(v) } => Ok(v.to_string()),
        _ => Err(refuse(format!("publishing to device {} needs a credential holding a password", device.id))),
    }
}

/// `https://host[:port]` with an IPv6 address in brackets.
/// The authority of a device's management URL (which carries the credential's password): its host name when that
/// is a DNS name or an IP address, otherwise its IP address — never text that could change the URL's meaning.
fn host_for_url(device: &Device) -> Result<String> {
    let h = device.hostname.as_str();
    if let Ok(ip) = h.parse::<IpAddr>() {
        return Ok(if ip.is_ipv6() { format!("[{h}]") } else { h.to_owned() });
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if h.len() <= 253 && h.trim_end_matches('.').split('.').all(label_ok) {
        return Ok(h.to_owned());
    }
    // A display name (the vendor allows "API device test"): the device's address instead.
    Ok(if device.ip.is_ipv6() { format!("[{}]", device.ip) } else { device.ip.to_string() })
}

/// A credential's secret, opened for one publication.
pub struct Opened {
    pub kind: SecretKind,
    pub value: Option<zeroize::Zeroizing<String>>,
}

impl std::fmt::Debug for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opened").field("kind", &self.kind).finish_non_exhaustive()
    }
}

/// Where a profile publishes on one device: one target (a BIG-IP: one per client-ssl profile).
pub fn targets(
    settings: &ProfileSettings,
    device: &Device,
    username: &str,
    secret: &Opened,
    key_db_password: Option<&str>,
) -> Result<Vec<Target>> {
    let verify = |port: u16, name: Option<&String>| {
        (Some(SocketAddr::new(device.ip, port).to_string()), Some(name.cloned().unwrap_or(device.hostname.clone())))
    };
    Ok(match settings {
        ProfileSettings::Apache { site, config_path, port, test_command, reload_command } => {
            let (verify_address, verify_server_name) = verify(*port, site.as_ref());
            let (ssh, credentials) = if device.is_local() {
                (None, Credentials::default())
            } else {
                let ssh = ssh_host(device, username)?;
                (Some(ssh), Credentials { ssh_private_key: Some(ssh_key(device, secret)?), password: None })
            };
            let spec = LocationSpec {
                kind: "apache".to_owned(),
                ssh,
                test_command: test_command.clone(),
                reload_command: reload_command.clone(),
                verify_address,
                verify_server_name,
                apache_site: Some(ApacheSite { config_path: config_path.clone(), site: site.clone(), port: *port }),
                ..LocationSpec::default()
            };
            vec![Target { label: "apache".to_owned(), spec, credentials }]
        }
        ProfileSettings::Iis { site, cert_store, port } => {
            let (verify_address, verify_server_name) = verify(*port, None);
            let iis = IisSpec {
                endpoint: format!("https://{}:{}/wsman", host_for_url(device)?, device.winrm_port),
                username: username.to_owned(),
                site: site.clone().unwrap_or_else(|| "Default Web Site".to_owned()),
                port: *port,
                host_header: None,
                cert_store: cert_store.clone(),
                ca_pem: device.ca_pem.clone(),
            };
            let spec = LocationSpec {
                kind: "iis".to_owned(),
                iis: Some(iis),
                verify_address,
                verify_server_name,
                ..LocationSpec::default()
            };
            let credentials = Credentials { ssh_private_key: None, password: Some(password(device, secret)?) };
            vec![Target { label: "iis".to_owned(), spec, credentials }]
        }
        ProfileSettings::Bigip { partition, client_profiles, .. } => {
            if client_profiles.is_empty() {
                return Err(refuse("the BIG-IP profile names no client-ssl profile (profile_client_vips)".to_owned()));
            }
            let pw = password(device, secret)?;
            let url = format!("https://{}", host_for_url(device)?);
            client_profiles
                .iter()
                .map(|profile| {
                    let f5 = F5Spec {
                        url: url.clone(),
                        username: username.to_owned(),
                        partition: partition.clone(),
                        profile: profile.clone(),
                        ca_pem: device.ca_pem.clone(),
                    };
                    let spec = LocationSpec { kind: "f5".to_owned(), f5: Some(f5), ..LocationSpec::default() };
                    let credentials = Credentials { ssh_private_key: None, password: Some(pw.clone()) };
                    Target { label: format!("bigip:/{partition}/{profile}"), spec, credentials }
                })
                .collect()
        }
        ProfileSettings::Was { key_db_path, label } => {
            let ssh = ssh_host(device, username)?;
            let was = WebSphereSpec {
                key_db_path: key_db_path.clone(),
                label: label.clone(),
                gskcapicmd: "gskcapicmd".to_owned(),
                set_default: false,
            };
            let credentials = Credentials {
                ssh_private_key: Some(ssh_key(device, secret)?),
                password: key_db_password.map(str::to_owned),
            };
            let spec = LocationSpec {
                kind: "websphere".to_owned(),
                ssh: Some(ssh),
                websphere: Some(was),
                ..LocationSpec::default()
            };
            vec![Target { label: "was".to_owned(), spec, credentials }]
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(ip: &str, host_key: Option<&str>) -> Device {
        Device {
            id: 7,
            uuid: Uuid::nil(),
            hostname: "web1.example".into(),
            ip: ip.parse().unwrap(),
            model: None,
            kind: None,
            vendor: None,
            site: None,
            domain: None,
            tags: vec![],
            ssh_port: 2222,
            ssh_host_key: host_key.map(str::to_owned),
            ca_pem: Some("PEM".into()),
            winrm_port: 5986,
            active: true,
            created_by: "t".into(),
            created_at: 0,
            updated_at: 0,
        }
    }

    fn opened(v: &str) -> Opened {
        Opened { kind: SecretKind::of(v), value: Some(zeroize::Zeroizing::new(v.to_owned())) }
    }

    #[test]
    fn defaults_apply_on_creation_and_are_kept_on_change() {
        let a = ProfilePatch::default().apply(ProfileKind::Apache, None).unwrap();
        assert_eq!(
            a,
            ProfileSettings::Apache {
                site: None,
                config_path: DEFAULT_APACHE_CONFIG.into(),
                port: 443,
                test_command: None,
                reload_command: None
            }
        );
        let changed =
            ProfilePatch { port: Some(8443), ..Default::default() }.apply(ProfileKind::Apache, Some(a)).unwrap();
        assert!(
            matches!(changed, ProfileSettings::Apache { port: 8443, ref config_path, .. } if config_path == DEFAULT_APACHE_CONFIG)
        );
        let iis = ProfilePatch::default().apply(ProfileKind::Iis, None).unwrap();
        assert!(matches!(iis, ProfileSettings::Iis { ref cert_store, port: 443, .. } if cert_store == "MY"));
        let f5 = ProfilePatch::default().apply(ProfileKind::Bigip, None).unwrap();
        assert!(matches!(f5, ProfileSettings::Bigip { ref partition, .. } if partition == "Common"));
        assert_eq!(
            ProfilePatch::default().apply(ProfileKind::Was, None).unwrap_err().code(),
            "publication_profile.missing"
        );
    }

    #[test]
    fn each_kind_maps_onto_a_location() {
        let key = opened("-----BEGIN OPENSSH PRIVATE KEY-----\nx\n-----END OPENSSH PRIVATE KEY-----\n");
        let pw = opened("hunter2");
        let apache = ProfilePatch { site: Some("www.example".into()), ..Default::default() }
            .apply(ProfileKind::Apache, None)
            .unwrap();
        // A loopback device without a host key is this host.
        let local = targets(&apache, &device("127.0.0.1", None), "root", &pw, None).unwrap();
        assert_eq!(local.len(), 1);
        assert!(local[0].spec.ssh.is_none() && local[0].credentials.is_empty());
        assert_eq!(local[0].spec.verify_address.as_deref(), Some("127.0.0.1:443"));
        assert_eq!(local[0].spec.verify_server_name.as_deref(), Some("www.example"));
        assert!(local[0].spec.takes_key());
        // Elsewhere: SSH with the pinned key, and only with a private key.
        let remote = targets(&apache, &device("10.0.0.5", Some("ssh-ed25519 AAAA")), "deploy", &key, None).unwrap();
        let ssh = remote[0].spec.ssh.as_ref().unwrap();
        assert_eq!((ssh.host.as_str(), ssh.port, ssh.user.as_str()), ("10.0.0.5", 2222, "deploy"));
        assert!(targets(&apache, &device("10.0.0.5", Some("k")), "deploy", &pw, None).is_err());
        assert!(targets(&apache, &device("10.0.0.5", None), "deploy", &key, None).is_err());

        let iis = ProfilePatch::default().apply(ProfileKind::Iis, None).unwrap();
        let t = targets(&iis, &device("10.0.0.6", None), "Administrator", &pw, None).unwrap();
        let spec = t[0].spec.iis.as_ref().unwrap();
        assert_eq!(spec.endpoint, "https://web1.example:5986/wsman");
        assert_eq!((spec.cert_store.as_str(), spec.site.as_str()), ("MY", "Default Web Site"));
        assert_eq!(t[0].credentials.password.as_deref(), Some("hunter2"));

        let f5 = ProfilePatch { client_profiles: Some(vec!["a".into(), "b".into()]), ..Default::default() }
            .apply(ProfileKind::Bigip, None)
            .unwrap();
        let t = targets(&f5, &device("10.0.0.7", None), "admin", &pw, None).unwrap();
        assert_eq!(t.iter().map(|t| t.label.as_str()).collect::<Vec<_>>(), ["bigip:/Common/a", "bigip:/Common/b"]);
        assert_eq!(t[1].spec.f5.as_ref().unwrap().url, "https://web1.example");
        let empty = ProfilePatch::default().apply(ProfileKind::Bigip, None).unwrap();
        assert!(targets(&empty, &device("10.0.0.7", None), "admin", &pw, None).is_err());

        let was =
            ProfilePatch { key_db_path: Some("/opt/key.kdb".into()), label: Some("web".into()), ..Default::default() }
                .apply(ProfileKind::Was, None)
                .unwrap();
        let t = targets(&was, &device("10.0.0.8", Some("ssh-ed25519 AAAA")), "was", &key, Some("kdbpw")).unwrap();
        assert_eq!(t[0].credentials.password.as_deref(), Some("kdbpw"));
        assert_eq!(t[0].spec.websphere.as_ref().unwrap().label, "web");
    }

    #[test]
    fn management_urls_take_dns_names_and_addresses_only() {
        let mut d = device("10.0.0.5", None);
        for (name, ok) in [
            ("web1.example", Some("web1.example")),
            ("2001:db8::1", Some("[2001:db8::1]")),
            ("f5@other.example", Some("10.0.0.5")),
            ("host/path?", Some("10.0.0.5")),
            ("API device test", Some("10.0.0.5")),
            ("-bad.example", Some("10.0.0.5")),
        ] {
            d.hostname = name.to_owned();
            assert_eq!(host_for_url(&d).ok().as_deref(), ok, "{name}");
        }
    }

    #[test]
    fn processed_and_error_follow_the_deployments() {
        let t = |state| PublicationTarget {
            device_id: 1,
            label: "apache".into(),
            location_id: Some(1),
            deployment_id: Some(1),
            state,
            error: None,
        };
        let view = |targets| PublicationView {
            publication: Publication {
                id: 1,
                uuid: Uuid::nil(),
                certificate_id: 1,
                profile_id: 1,
                reason: 1,
                justification: None,
                itms_code: None,
                credential_id: None,
                username: None,
                created_by: "t".into(),
                created_at: 0,
            },
            certificate_uuid: Uuid::nil(),
            targets,
        };
        let v = view(vec![t(Some(DeployState::Succeeded)), t(Some(DeployState::Running))]);
        assert!(!v.processed() && !v.error());
        let v = view(vec![t(Some(DeployState::Succeeded)), t(Some(DeployState::Failed))]);
        assert!(v.processed() && v.error());
        assert_eq!(v.devices(), vec![1]);
        let v = view(vec![t(None)]);
        assert!(v.processed() && v.error());
    }
}
