//! The `Deployer` port of core, implemented with the connectors' transports (this host, or another over SSH)
//! and web server installer, inside the limits of the configuration: the local directories certificates may be
//! written to, and whether locations may name their own test and reload commands.

use crate::config::Config;
use certwright_connectors::deploy::apache_conf;
use certwright_connectors::deploy::f5::{self, F5Target};
use certwright_connectors::deploy::iis::{self, IisTarget};
use certwright_connectors::deploy::local::LocalTransport;
use certwright_connectors::deploy::ssh::{SshTarget, SshTransport};
use certwright_connectors::deploy::webserver::{self, Deployed, ServerKind, Verify, WebServerTarget};
use certwright_connectors::deploy::websphere::{self, WebSphereTarget};
use certwright_connectors::deploy::{FileSpec, Transport};
use certwright_core::deploy::{BoxFuture, Credentials, DeployOutcome, Deployer, LocationSpec, Material};
use certwright_core::{CoreError, Result};
use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::time::Duration;
use zeroize::Zeroizing;

/// How long a configuration test or reload may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the served certificate is looked for after a reload.
const VERIFY_WITHIN: Duration = Duration::from_secs(15);

fn invalid(message: impl Into<String>) -> CoreError {
    CoreError::invalid("location.invalid", message)
}

/// A location resolved into what installs there.
enum Resolved {
    Web(WebServerTarget, Box<dyn Transport>),
    F5(F5Target),
    Iis(IisTarget),
    WebSphere(WebSphereTarget, Box<dyn Transport>),
}

/// Deploys within the configured limits.
#[derive(Debug)]
pub struct ConnectorDeployer {
    allowed_paths: Vec<PathBuf>,
    custom_commands: bool,
}

impl ConnectorDeployer {
    pub fn new(config: &Config) -> Self {
        // Compared after symbolic links are resolved (at deployment time too).
        let allowed_paths = config
            .deploy_allowed_paths
            .iter()
            .map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()))
            .collect();
        Self { allowed_paths, custom_commands: config.deploy_allow_custom_commands }
    }

    /// Files on this host go only where the configuration allows, with symbolic links resolved now: a link placed
    /// in an allowed directory after the location was created does not send a key elsewhere.
    fn check_local_paths(&self, spec: &LocationSpec) -> Result<()> {
        if spec.ssh.is_some() {
            return Ok(());
        }
        let paths = [spec.certificate_path.as_ref(), spec.chain_path.as_ref(), spec.key_path.as_ref()];
        for path in paths.into_iter().flatten() {
            let p = Path::new(path);
            let parent = p.parent().ok_or_else(|| invalid(format!("'{path}' has no directory")))?;
            let real = std::fs::canonicalize(parent)
                .map_err(|e| invalid(format!("the directory of '{path}' cannot be used: {e}")))?;
            if std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_symlink()) {
                return Err(CoreError::invalid(
                    "location.not_allowed",
                    format!("'{path}' is a symbolic link: deployment replaces files, not links"),
                ));
            }
            if !self.allowed_paths.iter().any(|a| real.starts_with(a)) {
                return Err(CoreError::invalid(
                    "location.not_allowed",
                    format!("'{path}' resolves outside the directories deployment may write (deploy_allowed_paths)"),
                ));
            }
        }
        Ok(())
    }

    fn kind(spec: &LocationSpec) -> Result<ServerKind> {
        match spec.kind.as_str() {
            "file" => Ok(ServerKind::Files),
            "nginx" => Ok(ServerKind::Nginx),
            "apache" => Ok(ServerKind::Apache),
            other => Err(invalid(format!("kind must be file, nginx, apache, f5, iis or websphere, got '{other}'"))),
        }
    }

    fn verify(spec: &LocationSpec) -> Result<Option<Verify>> {
        spec.verify_address
            .as_ref()
            .map(|a| {
                Ok(Verify {
                    address: a.parse().map_err(|_| invalid(format!("verify_address '{a}' must be address:port")))?,
                    server_name: spec.verify_server_name.clone(),
                    within: VERIFY_WITHIN,
                })
            })
            .transpose()
    }

    fn f5(spec: &LocationSpec, credentials: &Credentials) -> Result<F5Target> {
        let f5 = spec.f5.as_ref().ok_or_else(|| invalid("an f5 location needs f5 {url, username, profile}"))?;
        let password =
            credentials.password.clone().ok_or_else(|| invalid("an f5 location needs credentials.password"))?;
        if !f5.url.starts_with("https://") {
            return Err(invalid("f5.url must be an https:// URL"));
        }
        Ok(F5Target {
            base_url: f5.url.clone(),
            username: f5.username.clone(),
            password: Zeroizing::new(password),
            partition: f5.partition.clone(),
            profile: f5.profile.clone(),
            verify: Self::verify(spec)?,
            ca_pem: f5.ca_pem.clone(),
            danger_accept_invalid_certs: false,
            timeout: COMMAND_TIMEOUT,
        })
    }

    fn iis(spec: &LocationSpec, credentials: &Credentials) -> Result<IisTarget> {
        let iis = spec.iis.as_ref().ok_or_else(|| invalid("an iis location needs iis {endpoint, username, site}"))?;
        let password =
            credentials.password.clone().ok_or_else(|| invalid("an iis location needs credentials.password"))?;
        if !iis.endpoint.starts_with("https://") {
            return Err(invalid("iis.endpoint must be an https:// URL, e.g. https://host:5986/wsman"));
        }
        Ok(IisTarget {
            endpoint: iis.endpoint.clone(),
            username: iis.username.clone(),
            password: Zeroizing::new(password),
            site: iis.site.clone(),
            port: iis.port,
            host_header: iis.host_header.clone(),
            cert_store: iis.cert_store.clone(),
            ca_pem: iis.ca_pem.clone(),
            verify: Self::verify(spec)?,
            timeout: COMMAND_TIMEOUT,
        })
    }

    fn websphere(spec: &LocationSpec, credentials: &Credentials) -> Result<WebSphereTarget> {
        let was = spec
            .websphere
            .as_ref()
            .ok_or_else(|| invalid("a websphere location needs websphere {key_db_path, label}"))?;
        if spec.ssh.is_none() {
            return Err(invalid("a websphere location is reached over ssh"));
        }
        if !was.key_db_path.starts_with('/') {
            return Err(invalid("websphere.key_db_path must be an absolute path"));
        }
        Ok(WebSphereTarget {
            key_db_path: was.key_db_path.clone(),
            key_db_password: Zeroizing::new(credentials.password.clone().unwrap_or_default()),
            label: was.label.clone(),
            gskcapicmd: was.gskcapicmd.clone(),
            set_default: was.set_default,
            restart_command: spec.reload_command.clone(),
            verify: Self::verify(spec)?,
            command_timeout: COMMAND_TIMEOUT,
        })
    }

    /// What installs at a location. A web server location on this host has its paths checked now, with links
    /// resolved, when `check_paths`.
    fn resolve(&self, spec: &LocationSpec, credentials: &Credentials, check_paths: bool) -> Result<Resolved> {
        Ok(match spec.kind.as_str() {
            "f5" => Resolved::F5(Self::f5(spec, credentials)?),
            "iis" => Resolved::Iis(Self::iis(spec, credentials)?),
            "websphere" => {
                Resolved::WebSphere(Self::websphere(spec, credentials)?, Self::transport(spec, credentials)?)
            }
            _ => {
                if check_paths {
                    self.check_local_paths(spec)?;
                }
                Resolved::Web(self.target(spec)?, Self::transport(spec, credentials)?)
            }
        })
    }

    /// Checks the fields of an appliance location (`f5`, `iis`, `websphere`); `None` for the web server kinds.
    fn check_appliance(&self, spec: &LocationSpec, credentials: &Credentials) -> Option<Result<()>> {
        match spec.kind.as_str() {
            "f5" => Some(Self::f5(spec, credentials).map(|_| ())),
            "iis" => Some(Self::iis(spec, credentials).map(|_| ())),
            "websphere" => Some(Self::websphere(spec, credentials).and_then(|_| {
                if spec.reload_command.is_some() && !self.custom_commands {
                    return Err(CoreError::invalid(
                        "location.not_allowed",
                        "reload_command needs deploy_allow_custom_commands = true in the configuration",
                    ));
                }
                Self::transport(spec, credentials).map(|_| ())
            })),
            _ => None,
        }
    }

    fn target(&self, spec: &LocationSpec) -> Result<WebServerTarget> {
        let kind = Self::kind(spec)?;
        let file = |path: &str, mode: u32| FileSpec { path: path.to_owned(), mode, owner: spec.owner.clone() };
        let verify = Self::verify(spec)?;
        let certificate = spec
            .certificate_path
            .as_deref()
            .ok_or_else(|| invalid(format!("a {} location needs certificate_path", spec.kind)))?;
        Ok(WebServerTarget {
            kind,
            certificate: file(certificate, 0o644),
            chain: spec.chain_path.as_deref().map(|p| file(p, 0o644)),
            key: spec.key_path.as_deref().map(|p| file(p, 0o600)),
            fullchain: spec.fullchain,
            test_command: spec.test_command.clone(),
            reload_command: spec.reload_command.clone(),
            verify,
            command_timeout: COMMAND_TIMEOUT,
        })
    }

    /// For an Apache site named by its configuration: the spec with the paths its `<VirtualHost>` names (the
    /// chain after the certificate when it names no chain file), and the step that says where they came from.
    async fn site_paths<'a>(
        &self,
        spec: &'a LocationSpec,
        credentials: &Credentials,
    ) -> std::result::Result<(Cow<'a, LocationSpec>, Option<String>), DeployOutcome> {
        let Some(site) = &spec.apache_site else { return Ok((Cow::Borrowed(spec), None)) };
        let fail = |message: String, retryable: bool| DeployOutcome {
            steps: Vec::new(),
            failure: Some(("config".to_owned(), message)),
            rolled_back: false,
            retryable,
        };
        let transport = Self::transport(spec, credentials).map_err(|e| refused(e.to_string()))?;
        let bytes = match transport.read(&site.config_path).await {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return Err(fail(format!("{} does not exist", site.config_path), false)),
            Err(e) => return Err(fail(format!("{}: {e}", site.config_path), webserver::is_transient(&e))),
        };
        if bytes.len() > apache_conf::MAX_CONFIG_BYTES {
            return Err(fail(
                format!("{} is larger than {} bytes", site.config_path, apache_conf::MAX_CONFIG_BYTES),
                false,
            ));
        }
        let text = String::from_utf8_lossy(&bytes);
        let files = apache_conf::site_files(&text, site.site.as_deref(), site.port)
            .map_err(|e| fail(format!("{}: {e}", site.config_path), false))?;
        let step = format!(
            "{}: the <VirtualHost> of line {} names {}, {}{}",
            site.config_path,
            files.line,
            files.certificate,
            files.key,
            files.chain.as_ref().map(|c| format!(", {c}")).unwrap_or_default()
        );
        let mut resolved = spec.clone();
        resolved.fullchain = files.chain.is_none();
        resolved.certificate_path = Some(files.certificate);
        resolved.key_path = Some(files.key);
        resolved.chain_path = files.chain;
        resolved.apache_site = None;
        Ok((Cow::Owned(resolved), Some(step)))
    }

    fn transport(spec: &LocationSpec, credentials: &Credentials) -> Result<Box<dyn Transport>> {
        match &spec.ssh {
            None => Ok(Box::new(LocalTransport)),
            Some(ssh) => {
                let key = credentials
                    .ssh_private_key
                    .clone()
                    .ok_or_else(|| invalid("an SSH location needs credentials.ssh_private_key"))?;
                let target = SshTarget {
                    host: ssh.host.clone(),
                    port: ssh.port,
                    user: ssh.user.clone(),
                    host_key: ssh.host_key.clone(),
                    private_key: Zeroizing::new(key),
                    connect_timeout: Duration::from_secs(10),
                };
                Ok(Box::new(SshTransport::new(target).map_err(|e| invalid(e.to_string()))?))
            }
        }
    }
}

fn outcome(result: std::result::Result<Deployed, webserver::DeployError>) -> DeployOutcome {
    match result {
        Ok(done) => DeployOutcome { steps: done.steps, failure: None, rolled_back: false, retryable: false },
        Err(e) => DeployOutcome {
            steps: Vec::new(),
            failure: Some((e.step.to_owned(), e.message)),
            rolled_back: e.rolled_back,
            retryable: e.retryable,
        },
    }
}

fn refused(message: String) -> DeployOutcome {
    DeployOutcome {
        steps: Vec::new(),
        failure: Some(("prepare".to_owned(), message)),
        rolled_back: false,
        retryable: false,
    }
}

impl Deployer for ConnectorDeployer {
    fn check(&self, spec: &LocationSpec, credentials: &Credentials) -> Result<()> {
        if let Some(checked) = self.check_appliance(spec, credentials) {
            return checked;
        }
        match &spec.apache_site {
            Some(site) => {
                if spec.kind != "apache" {
                    return Err(invalid("apache_site applies to apache locations"));
                }
                if spec.certificate_path.is_some() || spec.chain_path.is_some() || spec.key_path.is_some() {
                    return Err(invalid("with apache_site, the paths come from the Apache configuration"));
                }
                let p = Path::new(&site.config_path);
                if !p.is_absolute() || site.config_path.split('/').any(|s| s == "..") {
                    return Err(invalid(format!("'{}' must be an absolute path without '..'", site.config_path)));
                }
                Self::verify(spec)?;
            }
            None => {
                self.target(spec)?;
            }
        }
        let paths = [spec.certificate_path.as_ref(), spec.chain_path.as_ref(), spec.key_path.as_ref()];
        for path in paths.into_iter().flatten() {
            let p = Path::new(path);
            if !p.is_absolute() || path.contains("/../") || path.ends_with("/..") {
                return Err(invalid(format!("'{path}' must be an absolute path without '..'")));
            }
            // Files on this host stay inside the directories the configuration allows.
            if spec.ssh.is_none() && !self.allowed_paths.iter().any(|a| p.starts_with(a)) {
                return Err(CoreError::invalid(
                    "location.not_allowed",
                    format!("'{path}' is outside the directories deployment may write (deploy_allowed_paths)"),
                ));
            }
        }
        if (spec.test_command.is_some() || spec.reload_command.is_some()) && !self.custom_commands {
            return Err(CoreError::invalid(
                "location.not_allowed",
                "test_command and reload_command need deploy_allow_custom_commands = true in the configuration",
            ));
        }
        if [&spec.test_command, &spec.reload_command].into_iter().flatten().any(|argv| argv.is_empty()) {
            return Err(invalid("a command must name a program"));
        }
        if credentials.password.is_some() {
            return Err(invalid("credentials.password applies to f5, iis and websphere locations"));
        }
        if spec.ssh.is_none() && credentials.ssh_private_key.is_some() {
            return Err(invalid("credentials.ssh_private_key needs ssh"));
        }
        Self::transport(spec, credentials).map(|_| ())
    }

    fn deploy<'a>(
        &'a self,
        spec: &'a LocationSpec,
        credentials: &'a Credentials,
        material: &'a Material,
    ) -> BoxFuture<'a, DeployOutcome> {
        Box::pin(async move {
            let m = webserver::Material {
                certificate_pem: material.certificate_pem.clone(),
                chain_pem: material.chain_pem.clone(),
                key_pem: material.key_pem.clone(),
                fingerprint: material.fingerprint.clone(),
            };
            let (spec, found) = match self.site_paths(spec, credentials).await {
                Ok(done) => done,
                Err(refusal) => return refusal,
            };
            let mut done = match self.resolve(&spec, credentials, true) {
                Ok(Resolved::Web(target, t)) => outcome(webserver::install(t.as_ref(), &target, &m).await),
                Ok(Resolved::F5(target)) => outcome(f5::install(&target, &m).await),
                Ok(Resolved::Iis(target)) => outcome(iis::install(&target, &m).await),
                Ok(Resolved::WebSphere(target, t)) => outcome(websphere::install(t.as_ref(), &target, &m).await),
                Err(e) => refused(e.to_string()),
            };
            if let Some(found) = found {
                done.steps.insert(0, found);
            }
            done
        })
    }

    fn undeploy<'a>(&'a self, spec: &'a LocationSpec, credentials: &'a Credentials) -> BoxFuture<'a, DeployOutcome> {
        Box::pin(async move {
            let spec = match self.site_paths(spec, credentials).await {
                Ok((spec, _)) => spec,
                Err(refusal) => return refusal,
            };
            // Checked here too: an Apache site's paths come from its configuration file, read just now, and a
            // removal (with its restore on failure) must stay inside the allowed paths like an install.
            match self.resolve(&spec, credentials, true) {
                Ok(Resolved::Web(target, t)) => outcome(webserver::uninstall(t.as_ref(), &target).await),
                Ok(Resolved::F5(target)) => outcome(f5::uninstall(&target).await),
                Ok(Resolved::Iis(target)) => outcome(iis::uninstall(&target).await),
                Ok(Resolved::WebSphere(target, t)) => outcome(websphere::uninstall(t.as_ref(), &target).await),
                Err(e) => refused(e.to_string()),
            }
        })
    }
}
