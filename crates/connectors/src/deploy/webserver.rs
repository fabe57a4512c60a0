//! Installing a certificate for a TLS server through a transport, and taking it back out. The steps, for
//! nginx, Apache httpd or plain files:
//!
//! 1. read what the destination files hold now (the backup);
//! 2. write the key, the chain and the certificate, each atomically;
//! 3. run the configuration test (`nginx -t`, `apachectl configtest`);
//! 4. reload gracefully (`nginx -s reload`, `apachectl -k graceful`);
//! 5. connect over TLS and check that the certificate served has the new fingerprint.
//!
//! When step 3, 4 or 5 fails, every file is put back as it was (or removed when it did not exist), the server is
//! reloaded again, and the failure says which step failed and that it was rolled back.

use super::{CommandOutput, FileSpec, Transport};
use crate::discovery::targets::Endpoint;
use crate::discovery::tls::{Outcome, TlsScan, TlsScanner};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// The server whose certificate is installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerKind {
    /// Files only: no test, no reload unless commands are given.
    Files,
    Nginx,
    Apache,
}

impl ServerKind {
    pub fn default_test(self) -> Option<Vec<String>> {
        let argv = |a: &[&str]| Some(a.iter().map(|s| (*s).to_owned()).collect());
        match self {
            ServerKind::Files => None,
            ServerKind::Nginx => argv(&["nginx", "-t"]),
            ServerKind::Apache => argv(&["apachectl", "configtest"]),
        }
    }

    pub fn default_reload(self) -> Option<Vec<String>> {
        let argv = |a: &[&str]| Some(a.iter().map(|s| (*s).to_owned()).collect());
        match self {
            ServerKind::Files => None,
            ServerKind::Nginx => argv(&["nginx", "-s", "reload"]),
            ServerKind::Apache => argv(&["apachectl", "-k", "graceful"]),
        }
    }
}

/// Where the served certificate is checked after a reload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verify {
    pub address: SocketAddr,
    pub server_name: Option<String>,
    /// How long to keep looking for the new certificate (workers of the old generation may answer for a while).
    pub within: Duration,
}

/// Where the certificate goes and how the server takes it.
#[derive(Debug, Clone)]
pub struct WebServerTarget {
    pub kind: ServerKind,
    /// The certificate; with `fullchain`, followed by the chain in the same file.
    pub certificate: FileSpec,
    /// The chain alone (Apache before 2.4.8: `SSLCertificateChainFile`).
    pub chain: Option<FileSpec>,
    pub key: Option<FileSpec>,
    pub fullchain: bool,
    pub test_command: Option<Vec<String>>,
    pub reload_command: Option<Vec<String>>,
    pub verify: Option<Verify>,
    pub command_timeout: Duration,
}

/// What is installed.
pub struct Material {
    pub certificate_pem: String,
    /// The issuers, PEM, nearest first; may be empty.
    pub chain_pem: String,
    pub key_pem: Option<Zeroizing<String>>,
    /// SHA-256 of the certificate's DER, lower-case hex.
    pub fingerprint: String,
}

impl std::fmt::Debug for Material {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Material").field("fingerprint", &self.fingerprint).finish_non_exhaustive()
    }
}

/// Why an installation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{step} failed: {message}{}", if *rolled_back { " (the previous files were restored)" } else { "" })]
pub struct DeployError {
    /// `backup`, `write`, `test`, `reload`, `verify`, `remove`; for key databases (`websphere`) also `prepare`,
    /// `inspect`, `rename`, `import`, `setdefault`, `restart`, `delete`.
    pub step: &'static str,
    pub message: String,
    pub rolled_back: bool,
    /// Worth trying again later (the host could not be reached), as opposed to a refusal (a broken
    /// configuration) that needs a person.
    pub retryable: bool,
}

/// What an installation did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deployed {
    /// One line per step.
    pub steps: Vec<String>,
    /// The fingerprint the server was seen serving, when checked.
    pub served: Option<String>,
}

fn fail(step: &'static str, message: impl Into<String>, rolled_back: bool, retryable: bool) -> DeployError {
    DeployError { step, message: message.into(), rolled_back, retryable }
}

/// Whether an I/O failure may pass by itself (see [`transient`]), for callers outside this crate.
pub fn is_transient(e: &std::io::Error) -> bool {
    transient(e)
}

/// Whether an I/O failure may pass by itself (the host was unreachable), as opposed to a refusal (a host key
/// that does not match, a login refused, a permission missing) that needs a person.
pub(crate) fn transient(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionRefused
            | ConnectionReset
            | ConnectionAborted
            | NotConnected
            | TimedOut
            | Interrupted
            | HostUnreachable
            | NetworkUnreachable
            | UnexpectedEof
    )
}

pub(crate) fn last_lines(out: &CommandOutput) -> String {
    let lines: Vec<&str> = out.output.lines().rev().take(6).collect();
    let text = lines.into_iter().rev().collect::<Vec<_>>().join(" | ");
    match out.code {
        Some(c) => format!("exit {c}: {text}"),
        None => text,
    }
}

impl WebServerTarget {
    fn files<'a>(&'a self, m: &Material) -> Vec<(&'a FileSpec, Vec<u8>)> {
        let mut files = Vec::new();
        if let (Some(spec), Some(key)) = (&self.key, &m.key_pem) {
            files.push((spec, key.as_bytes().to_vec()));
        }
        if let Some(spec) = &self.chain {
            files.push((spec, m.chain_pem.as_bytes().to_vec()));
        }
        let cert =
            if self.fullchain { format!("{}{}", m.certificate_pem, m.chain_pem) } else { m.certificate_pem.clone() };
        files.push((&self.certificate, cert.into_bytes()));
        files
    }

    fn test(&self) -> Option<Vec<String>> {
        self.test_command.clone().or_else(|| self.kind.default_test())
    }

    fn reload(&self) -> Option<Vec<String>> {
        self.reload_command.clone().or_else(|| self.kind.default_reload())
    }
}

async fn run_step(t: &dyn Transport, argv: &[String], timeout: Duration) -> Result<CommandOutput, String> {
    match t.run(argv, timeout).await {
        Ok(out) if out.success() => Ok(out),
        Ok(out) => Err(format!("{}: {}", argv.join(" "), last_lines(&out))),
        Err(e) => Err(format!("{}: {e}", argv.join(" "))),
    }
}

/// The fingerprint the endpoint serves, looked for until it is `want` or `within` has passed.
pub(crate) async fn served_fingerprint(v: &Verify, want: &str) -> Result<String, String> {
    let settings = TlsScan { concurrency: 1, ..TlsScan::default() };
    let scanner = TlsScanner::new(settings).map_err(|e| e.to_string())?;
    let endpoint = Endpoint { ip: v.address.ip(), port: v.address.port(), sni: v.server_name.clone() };
    let deadline = Instant::now() + v.within;
    let mut last = String::new();
    loop {
        match scanner.probe(&endpoint).await {
            Outcome::Found(f) => {
                let seen = f.chain.first().map(|der| certwright_pki::digest::hex(&certwright_pki::digest::sha256(der)));
                if let Some(seen) = seen {
                    if seen == want {
                        return Ok(seen);
                    }
                    last = format!("{endpoint} serves {seen}, not {want}");
                }
            }
            other => last = format!("{endpoint}: {other:?}"),
        }
        if Instant::now() >= deadline {
            return Err(last);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Puts the backed-up files back (removing those that did not exist) and, when the server had reloaded, reloads
/// it again; `why` says it was rolled back unless restoring failed too.
async fn restore(
    t: &dyn Transport,
    target: &WebServerTarget,
    backup: &[(FileSpec, Option<Vec<u8>>)],
    reloaded: bool,
    why: DeployError,
) -> DeployError {
    let mut problems = Vec::new();
    for (spec, old) in backup {
        let r = match old {
            Some(bytes) => t.write(spec, bytes).await,
            None => t.remove(&spec.path).await,
        };
        if let Err(e) = r {
            problems.push(format!("{}: {e}", spec.path));
        }
    }
    // A server that was not reloaded never read the new files.
    if let Some(reload) = target.reload().filter(|_| reloaded) {
        if let Err(e) = run_step(t, &reload, target.command_timeout).await {
            problems.push(format!("reload after restoring: {e}"));
        }
    }
    if problems.is_empty() {
        DeployError { rolled_back: true, ..why }
    } else {
        DeployError { message: format!("{}; restoring failed: {}", why.message, problems.join("; ")), ..why }
    }
}

/// Installs `m`, rolling back on failure (see the module documentation).
pub async fn install(t: &dyn Transport, target: &WebServerTarget, m: &Material) -> Result<Deployed, DeployError> {
    let files = target.files(m);
    let mut done = Deployed::default();
    let mut backup = Vec::with_capacity(files.len());
    for (spec, _) in &files {
        let old = t
            .read(&spec.path)
            .await
            .map_err(|e| fail("backup", format!("{}: {e}", spec.path), false, transient(&e)))?;
        backup.push(((*spec).clone(), old));
    }
    done.steps.push(format!("backed up {} files", backup.len()));
    for (spec, bytes) in &files {
        if let Err(e) = t.write(spec, bytes).await {
            return Err(restore(
                t,
                target,
                &backup,
                false,
                fail("write", format!("{}: {e}", spec.path), false, transient(&e)),
            )
            .await);
        }
    }
    done.steps.push(format!("wrote {}", files.iter().map(|(s, _)| s.path.as_str()).collect::<Vec<_>>().join(", ")));
    if let Some(test) = target.test() {
        if let Err(e) = run_step(t, &test, target.command_timeout).await {
            return Err(restore(t, target, &backup, false, fail("test", e, false, false)).await);
        }
        done.steps.push(format!("configuration test passed: {}", test.join(" ")));
    }
    if let Some(reload) = target.reload() {
        if let Err(e) = run_step(t, &reload, target.command_timeout).await {
            return Err(restore(t, target, &backup, true, fail("reload", e, false, false)).await);
        }
        done.steps.push(format!("reloaded: {}", reload.join(" ")));
    }
    if let Some(verify) = &target.verify {
        match served_fingerprint(verify, &m.fingerprint).await {
            Ok(seen) => {
                done.steps.push(format!("{} serves the new certificate", verify.address));
                done.served = Some(seen);
            }
            Err(e) => return Err(restore(t, target, &backup, true, fail("verify", e, false, false)).await),
        }
    }
    Ok(done)
}

/// Removes the installed files and reloads (a server that still refers to them will fail its test: then the
/// files are put back and the failure says so).
pub async fn uninstall(t: &dyn Transport, target: &WebServerTarget) -> Result<Deployed, DeployError> {
    let specs: Vec<&FileSpec> =
        [Some(&target.certificate), target.chain.as_ref(), target.key.as_ref()].into_iter().flatten().collect();
    let mut backup = Vec::new();
    for spec in &specs {
        let old = t
            .read(&spec.path)
            .await
            .map_err(|e| fail("backup", format!("{}: {e}", spec.path), false, transient(&e)))?;
        backup.push(((*spec).clone(), old));
    }
    for spec in &specs {
        t.remove(&spec.path).await.map_err(|e| fail("remove", format!("{}: {e}", spec.path), false, transient(&e)))?;
    }
    let mut done = Deployed { steps: vec![format!("removed {} files", specs.len())], served: None };
    let steps = [("test", target.test()), ("reload", target.reload())];
    for (step, argv) in steps {
        let Some(argv) = argv else { continue };
        if let Err(e) = run_step(t, &argv, target.command_timeout).await {
            for (spec, old) in &backup {
                if let Some(bytes) = old {
                    let _ = t.write(spec, bytes).await;
                }
            }
            return Err(fail(step, format!("{e} (the server still uses these files)"), true, false));
        }
        done.steps.push(format!("{step}: {}", argv.join(" ")));
    }
    Ok(done)
}
