//! Installing a certificate on Microsoft IIS through WinRM (WS-Management remote shell, PowerShell). The steps:
//!
//! 1. build a PKCS#12 file from the key and chain, protected by a fresh random password;
//! 2. upload it as base64 text into a temporary file on the server, a few commands appending one chunk each;
//! 3. run the install script: `Import-PfxCertificate` into `Cert:\LocalMachine\<store>`, read the certificate
//!    of the site's https binding (`Get-WebBinding`, `certificateHash`), create the binding when it is missing
//!    (`New-WebBinding`), bind the new certificate (`AddSslCertificate`) and report both thumbprints;
//! 4. connect over TLS and check that the new certificate is served.
//!
//! When step 4 fails, the rollback script binds the previous certificate again (or removes the binding that step 3
//! created) and the failure says it was rolled back. The imported certificate stays in the store: it is harmless
//! there and a later install may use it.
//!
//! # The wire contract
//!
//! WinRM as described by MS-WSMV (Web Services Management Protocol Extensions for Windows Vista), sections
//! 3.1.4.5 Create, 3.1.4.11 Command, 3.1.4.14 Receive, 3.1.4.12 Signal and 3.1.4.4 Delete of the remote shell
//! `http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd`: SOAP 1.2 envelopes posted to `…/wsman` with
//! content type `application/soap+xml;charset=UTF-8`, each carrying `wsa:To`, `wsa:ReplyTo`, `wsa:Action`,
//! `wsa:MessageID`, `wsman:ResourceURI`, `wsman:MaxEnvelopeSize`, `wsman:OperationTimeout` and, after Create, the
//! `ShellId` selector. Receive answers carry base64 `rsp:Stream` elements (`stdout`, `stderr`) and, at the end,
//! `rsp:CommandState` with state `…/CommandState/Done` and `rsp:ExitCode`; a Receive that waited
//! `OperationTimeout` without output answers with a `w:TimedOut` fault and is simply repeated. Every script runs
//! as `powershell -NoProfile -NonInteractive -EncodedCommand <base64 of the UTF-16LE script>` through the shell,
//! whose command line is limited to 8191 characters: hence the upload in chunks of [`CHUNK`] base64 characters.
//!
//! Each script is one of three fixed templates whose first line is its only variable part, a JSON parameter block
//! `$p = ConvertFrom-Json '<json>'`; the install and rollback scripts end with one line
//! `CERTWRIGHT-RESULT {"previous":"…","previous_store":"…","created":…,"thumbprint":"…"}`.
//!
//! # Authentication
//!
//! HTTP Basic only, over HTTPS (the service needs `winrm/config/service/auth Basic=true`; `AllowUnencrypted`
//! stays `false` because TLS protects the message). Kerberos, NTLM (Negotiate) and CredSSP are not supported,
//! so the account is a local account of the server. A plain `http://` endpoint is accepted only on a loopback
//! address (a local relay or a test), never across a network, because Basic would send the password in clear.
//! The server's certificate is checked against `ca_pem` when given, else against the system's trust store.

use super::webserver::{served_fingerprint, DeployError, Deployed, Material, Verify};
use super::winrm::{ScriptOutput, WinRm, WinRmError};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use std::fmt;
use std::time::Duration;
use zeroize::Zeroizing;

/// Base64 characters of the PKCS#12 file per upload command: with the template around it and the UTF-16LE
/// base64 expansion (8/3), one command line stays near 7,000 characters, under cmd.exe's 8191.
pub const CHUNK: usize = 2400;

/// The line the install and rollback scripts end with.
const RESULT_MARK: &str = "CERTWRIGHT-RESULT ";

const APPEND_SCRIPT: &str = r#"$ErrorActionPreference = 'Stop'
Add-Content -NoNewline -Encoding ASCII -Path (Join-Path $env:TEMP $p.file) -Value $p.data
"#;

const INSTALL_SCRIPT: &str = r#"$ErrorActionPreference = 'Stop'
trap { [Console]::Error.WriteLine("certwright: $_"); exit 1 }
Import-Module WebAdministration
$b64 = Join-Path $env:TEMP $p.file
$pfx = "$b64.pfx"
try {
  [IO.File]::WriteAllBytes($pfx, [Convert]::FromBase64String([IO.File]::ReadAllText($b64)))
  $pw = ConvertTo-SecureString -String $p.pfx_password -AsPlainText -Force
  $null = Import-PfxCertificate -FilePath $pfx -CertStoreLocation ('Cert:\LocalMachine\' + $p.store) -Password $pw
} finally {
  Remove-Item -Force -ErrorAction SilentlyContinue -LiteralPath $b64, $pfx
}
$null = Get-Item -LiteralPath ('Cert:\LocalMachine\' + $p.store + '\' + $p.thumbprint)
$sel = @{ Name = $p.site; Protocol = 'https'; Port = $p.port }
if ($p.host_header) { $sel.HostHeader = $p.host_header }
$binding = Get-WebBinding @sel
$created = $false
if (-not $binding) {
  $flags = 0
  if ($p.host_header) { $flags = 1 }
  New-WebBinding @sel -SslFlags $flags
  $binding = Get-WebBinding @sel
  $created = $true
}
$binding = @($binding)[0]
$previous = [string]$binding.certificateHash
$previousStore = [string]$binding.certificateStoreName
if ($previous) { $binding.RemoveSslCertificate() }
try {
  $binding.AddSslCertificate($p.thumbprint, $p.store)
} catch {
  if ($previous) { $binding.AddSslCertificate($previous, $previousStore) }
  throw
}
$r = [ordered]@{ previous = $previous; previous_store = $previousStore; created = $created; thumbprint = $p.thumbprint }
Write-Output ('CERTWRIGHT-RESULT ' + (ConvertTo-Json -Compress $r))
"#;

const ROLLBACK_SCRIPT: &str = r#"$ErrorActionPreference = 'Stop'
trap { [Console]::Error.WriteLine("certwright: $_"); exit 1 }
Import-Module WebAdministration
$sel = @{ Name = $p.site; Protocol = 'https'; Port = $p.port }
if ($p.host_header) { $sel.HostHeader = $p.host_header }
$binding = @(Get-WebBinding @sel)[0]
if ($binding -and [string]$binding.certificateHash) { $binding.RemoveSslCertificate() }
if ($p.remove_binding) {
  Remove-WebBinding @sel
} elseif ($p.thumbprint) {
  $binding.AddSslCertificate($p.thumbprint, $p.store)
}
$r = [ordered]@{ previous = ''; previous_store = ''; created = $false; thumbprint = $p.thumbprint }
Write-Output ('CERTWRIGHT-RESULT ' + (ConvertTo-Json -Compress $r))
"#;

/// An IIS site reached through WinRM, and where its certificate goes.
#[derive(Clone)]
pub struct IisTarget {
    /// The WinRM endpoint, `https://host:5986/wsman` (`http://` only on a loopback address).
    pub endpoint: String,
    /// A local administrator of the server (Basic authentication).
    pub username: String,
    /// Secret.
    pub password: Zeroizing<String>,
    /// The IIS site name, `Default Web Site`.
    pub site: String,
    /// The https binding's port, usually 443.
    pub port: u16,
    /// The binding's host name; when set, a binding created for it uses SNI.
    pub host_header: Option<String>,
    /// The machine certificate store, `MY` (Personal) or `WebHosting`.
    pub cert_store: String,
    /// Trust anchors (PEM) for the WinRM endpoint's certificate; the system's trust store when `None`.
    pub ca_pem: Option<String>,
    /// Where the served certificate is checked after binding.
    pub verify: Option<Verify>,
    /// How long one script may run, and the connection timeout.
    pub timeout: Duration,
}

impl IisTarget {
    /// A target on port 443, store `MY`, no host header, no check, a 120 s timeout.
    pub fn new(
        endpoint: impl Into<String>,
        username: impl Into<String>,
        password: Zeroizing<String>,
        site: impl Into<String>,
    ) -> IisTarget {
        IisTarget {
            endpoint: endpoint.into(),
            username: username.into(),
            password,
            site: site.into(),
            port: 443,
            host_header: None,
            cert_store: "MY".to_owned(),
            ca_pem: None,
            verify: None,
            timeout: Duration::from_secs(120),
        }
    }
}

impl fmt::Debug for IisTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IisTarget")
            .field("endpoint", &self.endpoint)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("site", &self.site)
            .field("port", &self.port)
            .field("host_header", &self.host_header)
            .field("cert_store", &self.cert_store)
            .field("ca_pem", &self.ca_pem.as_ref().map(|_| "<set>"))
            .field("verify", &self.verify)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Installs `m` on the site's https binding, rolling back when the check fails (see the module documentation).
pub async fn install(target: &IisTarget, m: &Material) -> Result<Deployed, DeployError> {
    let secrets = |s: &str| scrub(s, &[target.password.as_str()]);
    let pfx_password = Zeroizing::new(random_hex(24).map_err(|e| fail("pkcs12", e, false))?);
    let (pfx, thumbprint) = pkcs12(m, &pfx_password).map_err(|e| fail("pkcs12", e, false))?;
    let winrm =
        WinRm::new(&target.endpoint, &target.username, &target.password, target.ca_pem.as_deref(), target.timeout)
            .map_err(|e| fail("upload", e, false))?;
    let mut done = Deployed::default();
    let file = format!("certwright-{}.b64", random_hex(8).map_err(|e| fail("upload", e, false))?);
    let scrub_all = |s: &str| scrub(s, &[target.password.as_str(), pfx_password.as_str()]);

    let shell = winrm.open().await.map_err(|e| into_deploy(e, "upload", &secrets))?;
    let encoded = Zeroizing::new(B64.encode(&*pfx));
    let mut commands = 0;
    for chunk in encoded.as_bytes().chunks(CHUNK) {
        let data = String::from_utf8_lossy(chunk);
        let params = serde_json::json!({ "action": "append", "file": file, "data": data });
        if let Err(e) = shell.script(&params, APPEND_SCRIPT).await {
            shell.close().await;
            return Err(into_deploy(e, "upload", &secrets));
        }
        commands += 1;
    }
    done.steps.push(format!("uploaded the PKCS#12 file ({} bytes) in {commands} commands", pfx.len()));

    let params = serde_json::json!({
        "action": "install",
        "file": file,
        "pfx_password": pfx_password.as_str(),
        "store": target.cert_store,
        "thumbprint": thumbprint,
        "site": target.site,
        "port": target.port,
        "host_header": target.host_header.clone().unwrap_or_default(),
    });
    let result = shell.script(&params, INSTALL_SCRIPT).await;
    shell.close().await;
    let bound = result.map_err(|e| into_deploy(e, "bind", &scrub_all))?;
    let bound = parse_result(&bound).map_err(|e| fail("bind", scrub_all(&e), false))?;
    done.steps.push(format!("imported {thumbprint} into Cert:\\LocalMachine\\{}", target.cert_store));
    let previous = if bound.previous.is_empty() { "none".to_owned() } else { bound.previous.clone() };
    done.steps.push(format!(
        "bound https {}:{}{} to {thumbprint} (previous: {previous}{})",
        target.site,
        target.port,
        target.host_header.as_deref().map(|h| format!(" ({h})")).unwrap_or_default(),
        if bound.created { ", binding created" } else { "" }
    ));

    if let Some(verify) = &target.verify {
        match served_fingerprint(verify, &m.fingerprint).await {
            Ok(seen) => {
                done.steps.push(format!("{} serves the new certificate", verify.address));
                done.served = Some(seen);
            }
            Err(e) => {
                let why = fail("verify", e, false);
                return Err(rollback(&winrm, target, &bound, why, &secrets).await);
            }
        }
    }
    Ok(done)
}

/// Not supported: an https binding without a certificate does not serve, and removing the binding is a change of
/// the site's configuration that belongs to its owner. Replace the certificate with [`install`] instead.
pub async fn uninstall(target: &IisTarget) -> Result<Deployed, DeployError> {
    Err(fail(
        "remove",
        format!(
            "removing the certificate of IIS site {} (port {}) is not supported: install a replacement, or \
             remove the https binding in IIS",
            target.site, target.port
        ),
        false,
    ))
}

/// What the install script reported.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
struct BindResult {
    #[serde(default)]
    previous: String,
    #[serde(default)]
    previous_store: String,
    #[serde(default)]
    created: bool,
    #[serde(default)]
    thumbprint: String,
}

async fn rollback(
    winrm: &WinRm,
    target: &IisTarget,
    bound: &BindResult,
    why: DeployError,
    secrets: &(dyn Fn(&str) -> String + Sync),
) -> DeployError {
    let store = if bound.previous_store.is_empty() { target.cert_store.as_str() } else { &bound.previous_store };
    let params = serde_json::json!({
        "action": "rollback",
        "site": target.site,
        "port": target.port,
        "host_header": target.host_header.clone().unwrap_or_default(),
        "thumbprint": bound.previous,
        "store": store,
        "remove_binding": bound.created,
    });
    let outcome = match winrm.open().await {
        Ok(shell) => {
            let r = shell.script(&params, ROLLBACK_SCRIPT).await;
            shell.close().await;
            r.map(|_| ())
        }
        Err(e) => Err(e),
    };
    match outcome {
        Ok(()) => DeployError { rolled_back: true, ..why },
        Err(e) => {
            DeployError { message: format!("{}; rolling back failed: {}", why.message, secrets(&e.to_string())), ..why }
        }
    }
}

fn into_deploy(e: WinRmError, step: &'static str, scrub: &(dyn Fn(&str) -> String + Sync)) -> DeployError {
    fail(step, scrub(&e.to_string()), e.retryable())
}

fn fail(step: &'static str, message: impl Into<String>, retryable: bool) -> DeployError {
    DeployError { step, message: message.into(), rolled_back: false, retryable }
}

/// `text` with every non-empty secret replaced.
fn scrub(text: &str, secrets: &[&str]) -> String {
    secrets.iter().filter(|s| !s.is_empty()).fold(text.to_owned(), |t, s| t.replace(s, "<redacted>"))
}

fn random_hex(bytes: usize) -> Result<String, String> {
    let mut buf = vec![0u8; bytes];
    SystemRandom::new().fill(&mut buf).map_err(|_| "no randomness available".to_owned())?;
    Ok(certwright_pki::digest::hex(&buf))
}

/// The PKCS#12 file of `m` and the certificate's Windows thumbprint (SHA-1 of the DER, upper-case hex).
fn pkcs12(m: &Material, password: &str) -> Result<(Zeroizing<Vec<u8>>, String), String> {
    let key_pem = m.key_pem.as_ref().ok_or("IIS needs the private key with the certificate")?;
    let key = certwright_pki::pem::decode_all(key_pem.as_str()).map_err(|e| format!("private key: {e}"))?;
    let key = Zeroizing::new(match key.into_iter().next() {
        Some((label, der)) if label == "PRIVATE KEY" => der,
        Some((label, _)) => return Err(format!("the private key must be PKCS#8 (\"PRIVATE KEY\"), not \"{label}\"")),
        None => return Err("no private key in the PEM text".to_owned()),
    });
    let mut certs = Vec::new();
    for text in [&m.certificate_pem, &m.chain_pem] {
        let blocks = certwright_pki::pem::decode_all(text).map_err(|e| format!("certificate: {e}"))?;
        certs.extend(blocks.into_iter().filter(|(label, _)| label == "CERTIFICATE").map(|(_, der)| der));
    }
    let leaf = certs.first().ok_or("no certificate in the PEM text")?;
    let thumbprint = certwright_pki::digest::hex(
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, leaf).as_ref(),
    )
    .to_ascii_uppercase();
    let pfx = certwright_pki::pkcs12::export(&key, &certs, password, Some("certwright"))
        .map_err(|e| format!("PKCS#12: {e}"))?;
    Ok((Zeroizing::new(pfx), thumbprint))
}

fn parse_result(out: &ScriptOutput) -> Result<BindResult, String> {
    let line = out
        .stdout
        .lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix(RESULT_MARK))
        .ok_or_else(|| format!("the script printed no result line: {}", out.tail()))?;
    serde_json::from_str(line).map_err(|e| format!("unreadable result line ({e}): {line}"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::deploy::winrm::encoded_command;

    #[test]
    fn one_upload_command_stays_under_the_command_line_limit() {
        let params = serde_json::json!({ "action": "append", "file": "certwright-0123456789abcdef.b64",
            "data": "A".repeat(CHUNK) });
        let line = format!(
            "powershell -NoProfile -NonInteractive -EncodedCommand {}",
            encoded_command(&params, APPEND_SCRIPT)
        );
        assert!(line.len() < 8191, "{}", line.len());
    }

    #[test]
    fn secrets_are_scrubbed_and_debug_redacts() {
        assert_eq!(scrub("a hunter2 b", &["hunter2", ""]), "a <redacted> b");
        let t = IisTarget::new("https://h:5986/wsman", "admin", Zeroizing::new("hunter2".into()), "site");
        assert!(!format!("{t:?}").contains("hunter2"));
    }
}
