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
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use std::fmt::{self, Write as _};
use std::sync::Arc;
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// Base64 characters of the PKCS#12 file per upload command: with the template around it and the UTF-16LE
/// base64 expansion (8/3), one command line stays near 7,000 characters, under cmd.exe's 8191.
pub const CHUNK: usize = 2400;

const SHELL_URI: &str = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd";
const ACTION_CREATE: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create";
const ACTION_DELETE: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete";
const ACTION_COMMAND: &str = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Command";
const ACTION_RECEIVE: &str = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Receive";
const ACTION_SIGNAL: &str = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Signal";
const SIGNAL_TERMINATE: &str = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/signal/terminate";
const ANONYMOUS: &str = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous";

/// How long one Receive may wait on the server for output.
const OPERATION_TIMEOUT_SECS: u64 = 20;
/// The largest answer read from the service.
const RESPONSE_LIMIT: usize = 4 * 1024 * 1024;
/// The most output of one script kept (its end: the result line is last).
const OUTPUT_LIMIT: usize = 64 * 1024;
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
    let winrm = WinRm::new(target).map_err(|e| fail("upload", e, false))?;
    let mut done = Deployed::default();
    let file = format!("certwright-{}.b64", random_hex(8).map_err(|e| fail("upload", e, false))?);
    let scrub_all = |s: &str| scrub(s, &[target.password.as_str(), pfx_password.as_str()]);

    let shell = winrm.open().await.map_err(|e| e.into_deploy("upload", &secrets))?;
    let encoded = Zeroizing::new(B64.encode(&*pfx));
    let mut commands = 0;
    for chunk in encoded.as_bytes().chunks(CHUNK) {
        let data = String::from_utf8_lossy(chunk);
        let params = serde_json::json!({ "action": "append", "file": file, "data": data });
        if let Err(e) = shell.script(&params, APPEND_SCRIPT).await {
            shell.close().await;
            return Err(e.into_deploy("upload", &secrets));
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
    let bound = result.map_err(|e| e.into_deploy("bind", &scrub_all))?;
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
    secrets: &dyn Fn(&str) -> String,
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

/// The PowerShell command line running `script` with its parameter block.
fn encoded_command(params: &serde_json::Value, script: &str) -> String {
    // Inside single quotes PowerShell takes everything literally but a doubled quote.
    let json = params.to_string().replace('\'', "''");
    let full = format!("$p = ConvertFrom-Json '{json}'\n{script}");
    let utf16: Vec<u8> = full.encode_utf16().flat_map(u16::to_le_bytes).collect();
    B64.encode(utf16)
}

// ---------------------------------------------------------------------------------------------------------------
// WinRM client

#[derive(Debug)]
enum WinRmError {
    /// No answer: connection refused or reset, a timeout.
    Unreachable(String),
    /// An HTTP status that is not 200 and carries no SOAP fault.
    Status(u16, String),
    /// The service refused the request with a SOAP fault.
    Fault(String),
    /// An answer that does not follow the protocol.
    Protocol(String),
    /// The script ran and failed.
    Script(ScriptOutput),
    /// The script did not finish within the target's timeout.
    TimedOut,
}

impl fmt::Display for WinRmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WinRmError::Unreachable(e) => write!(f, "WinRM endpoint unreachable: {e}"),
            WinRmError::Status(401, _) => write!(
                f,
                "WinRM refused the login (HTTP 401): check the user name and password, and that Basic \
                 authentication is enabled on the service"
            ),
            WinRmError::Status(code, text) => write!(f, "WinRM answered HTTP {code}: {text}"),
            WinRmError::Fault(text) => write!(f, "WinRM fault: {text}"),
            WinRmError::Protocol(text) => write!(f, "unexpected WinRM answer: {text}"),
            WinRmError::Script(out) => write!(f, "the PowerShell script failed ({})", out.tail()),
            WinRmError::TimedOut => write!(f, "the PowerShell script did not finish in time"),
        }
    }
}

impl WinRmError {
    fn retryable(&self) -> bool {
        match self {
            WinRmError::Unreachable(_) | WinRmError::TimedOut => true,
            WinRmError::Status(code, _) => *code >= 500,
            _ => false,
        }
    }

    fn into_deploy(self, step: &'static str, scrub: &dyn Fn(&str) -> String) -> DeployError {
        fail(step, scrub(&self.to_string()), self.retryable())
    }
}

/// What a script printed and how it ended.
#[derive(Debug, Clone, Default)]
struct ScriptOutput {
    code: Option<i64>,
    stdout: String,
    stderr: String,
}

impl ScriptOutput {
    /// The exit code and the last lines of output, errors first.
    fn tail(&self) -> String {
        let errors = clixml_errors(&self.stderr);
        let text = if errors.trim().is_empty() { self.stdout.as_str() } else { errors.as_str() };
        let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).rev().take(6).collect();
        let text = lines.into_iter().rev().collect::<Vec<_>>().join(" | ");
        match self.code {
            Some(c) => format!("exit {c}: {text}"),
            None => text,
        }
    }
}

/// PowerShell writes errors to a remote stderr as CLIXML (`#< CLIXML` then `<S S="Error">…</S>` elements with
/// `_x000D__x000A_` for line ends); this is their text, or `stderr` itself when it is plain.
fn clixml_errors(stderr: &str) -> String {
    if !stderr.trim_start().starts_with("#< CLIXML") {
        return stderr.to_owned();
    }
    elements(stderr, "S")
        .into_iter()
        .filter(|e| attribute(e.attributes, "S") == Some("Error"))
        .map(|e| unescape(e.body).replace("_x000D__x000A_", "\n").replace("_x000A_", "\n"))
        .collect()
}

struct WinRm {
    http: reqwest::Client,
    endpoint: String,
    username: String,
    password: Zeroizing<String>,
    timeout: Duration,
}

impl WinRm {
    fn new(target: &IisTarget) -> Result<WinRm, String> {
        let url = reqwest::Url::parse(&target.endpoint).map_err(|e| format!("WinRM endpoint: {e}"))?;
        if url.password().is_some() || !url.username().is_empty() {
            return Err("the WinRM endpoint must not carry credentials: set the user name and password".into());
        }
        match url.scheme() {
            "https" => {}
            "http" if is_loopback(&url) => {}
            "http" => return Err("a plain http:// WinRM endpoint is accepted on loopback only: use https://".into()),
            other => return Err(format!("WinRM endpoint: unsupported scheme {other}")),
        }
        if target.timeout.is_zero() {
            return Err("the timeout must be above zero".into());
        }
        let mut roots = rustls::RootCertStore::empty();
        let (anchors, origin) = match &target.ca_pem {
            Some(pem) => (pem.clone(), "ca_pem"),
            None => (
                std::fs::read_to_string("/etc/ssl/certs/ca-certificates.crt").unwrap_or_default(),
                "the system trust store",
            ),
        };
        let blocks = certwright_pki::pem::decode_all(&anchors).map_err(|e| format!("{origin}: {e}"))?;
        for (_, der) in blocks.into_iter().filter(|(label, _)| label == "CERTIFICATE") {
            roots.add(der.into()).map_err(|e| format!("{origin}: {e}"))?;
        }
        if url.scheme() == "https" && roots.is_empty() {
            return Err(format!("{origin} holds no certificate to trust the WinRM endpoint with"));
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(target.timeout)
            .timeout(Duration::from_secs(OPERATION_TIMEOUT_SECS + 30))
            .user_agent(concat!("certwright/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(WinRm {
            http,
            endpoint: target.endpoint.clone(),
            username: target.username.clone(),
            password: target.password.clone(),
            timeout: target.timeout,
        })
    }

    fn envelope(&self, action: &str, shell: Option<&str>, options: &[(&str, &str)], body: &str) -> String {
        let message_id = random_uuid().unwrap_or_else(|| "00000000-0000-4000-8000-000000000000".to_owned());
        let mut header = String::new();
        let _ = write!(
            header,
            "<wsa:To>{to}</wsa:To>\
             <wsa:ReplyTo><wsa:Address s:mustUnderstand=\"true\">{ANONYMOUS}</wsa:Address></wsa:ReplyTo>\
             <wsa:Action s:mustUnderstand=\"true\">{action}</wsa:Action>\
             <wsa:MessageID>uuid:{message_id}</wsa:MessageID>\
             <wsman:ResourceURI s:mustUnderstand=\"true\">{SHELL_URI}</wsman:ResourceURI>\
             <wsman:MaxEnvelopeSize s:mustUnderstand=\"true\">512000</wsman:MaxEnvelopeSize>\
             <wsman:Locale xml:lang=\"en-US\" s:mustUnderstand=\"false\"/>\
             <wsman:OperationTimeout>PT{OPERATION_TIMEOUT_SECS}S</wsman:OperationTimeout>",
            to = escape(&self.endpoint)
        );
        if let Some(id) = shell {
            let _ = write!(
                header,
                "<wsman:SelectorSet><wsman:Selector Name=\"ShellId\">{}</wsman:Selector></wsman:SelectorSet>",
                escape(id)
            );
        }
        if !options.is_empty() {
            header.push_str("<wsman:OptionSet>");
            for (name, value) in options {
                let _ = write!(header, "<wsman:Option Name=\"{name}\">{value}</wsman:Option>");
            }
            header.push_str("</wsman:OptionSet>");
        }
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
             <s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" \
             xmlns:wsa=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" \
             xmlns:wsman=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\" \
             xmlns:rsp=\"http://schemas.microsoft.com/wbem/wsman/1/windows/shell\">\
             <s:Header>{header}</s:Header><s:Body>{body}</s:Body></s:Envelope>"
        )
    }

    /// Posts one envelope; a SOAP fault is an error.
    async fn post(&self, envelope: String) -> Result<String, WinRmError> {
        let unreachable = |e: reqwest::Error| WinRmError::Unreachable(without_url(e));
        let mut response = self
            .http
            .post(&self.endpoint)
            .basic_auth(&self.username, Some(self.password.as_str()))
            .header(reqwest::header::CONTENT_TYPE, "application/soap+xml;charset=UTF-8")
            .body(envelope)
            .send()
            .await
            .map_err(unreachable)?;
        let status = response.status().as_u16();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(unreachable)? {
            if body.len() + chunk.len() > RESPONSE_LIMIT {
                return Err(WinRmError::Protocol(format!("an answer larger than {RESPONSE_LIMIT} bytes")));
            }
            body.extend_from_slice(&chunk);
        }
        let body = String::from_utf8_lossy(&body).into_owned();
        if let Some(fault) = fault_text(&body) {
            return Err(WinRmError::Fault(fault));
        }
        if status != 200 {
            let text: String = body.chars().take(200).collect();
            return Err(WinRmError::Status(status, text));
        }
        Ok(body)
    }

    /// Creates a remote shell.
    async fn open(&self) -> Result<Shell<'_>, WinRmError> {
        let body = "<rsp:Shell><rsp:InputStreams>stdin</rsp:InputStreams>\
                    <rsp:OutputStreams>stdout stderr</rsp:OutputStreams></rsp:Shell>";
        let options = [("WINRS_NOPROFILE", "TRUE"), ("WINRS_CODEPAGE", "65001")];
        let answer = self.post(self.envelope(ACTION_CREATE, None, &options, body)).await?;
        let id = elements(&answer, "Selector")
            .into_iter()
            .find(|e| attribute(e.attributes, "Name") == Some("ShellId"))
            .map(|e| e.body)
            .or_else(|| elements(&answer, "ShellId").first().map(|e| e.body))
            .map(|id| unescape(id.trim()))
            .filter(|id| !id.is_empty())
            .ok_or_else(|| WinRmError::Protocol("the Create answer has no ShellId".into()))?;
        Ok(Shell { winrm: self, id })
    }
}

/// One remote shell; [`Shell::close`] deletes it.
struct Shell<'a> {
    winrm: &'a WinRm,
    id: String,
}

impl Shell<'_> {
    /// Runs one script template with its parameters; a non-zero exit is an error.
    async fn script(&self, params: &serde_json::Value, template: &str) -> Result<ScriptOutput, WinRmError> {
        let args = ["-NoProfile".to_owned(), "-NonInteractive".into(), "-EncodedCommand".into()];
        let encoded = encoded_command(params, template);
        let mut body = String::from("<rsp:CommandLine><rsp:Command>powershell</rsp:Command>");
        for arg in args.iter().chain([&encoded]) {
            let _ = write!(body, "<rsp:Arguments>{}</rsp:Arguments>", escape(arg));
        }
        body.push_str("</rsp:CommandLine>");
        let options = [("WINRS_CONSOLEMODE_STDIN", "TRUE"), ("WINRS_SKIP_CMD_SHELL", "FALSE")];
        let w = self.winrm;
        let answer = w.post(w.envelope(ACTION_COMMAND, Some(&self.id), &options, &body)).await?;
        let command = elements(&answer, "CommandId")
            .first()
            .map(|e| unescape(e.body.trim()))
            .filter(|id| !id.is_empty())
            .ok_or_else(|| WinRmError::Protocol("the Command answer has no CommandId".into()))?;
        let received = self.receive(&command).await;
        let signal = format!(
            "<rsp:Signal CommandId=\"{}\"><rsp:Code>{SIGNAL_TERMINATE}</rsp:Code></rsp:Signal>",
            escape(&command)
        );
        // The command has ended or is abandoned: either way its resources on the server are released.
        let _ = w.post(w.envelope(ACTION_SIGNAL, Some(&self.id), &[], &signal)).await;
        let out = received?;
        if out.code == Some(0) {
            Ok(out)
        } else {
            Err(WinRmError::Script(out))
        }
    }

    /// Receives output until the command is done or the target's timeout has passed.
    async fn receive(&self, command: &str) -> Result<ScriptOutput, WinRmError> {
        let w = self.winrm;
        let body = format!(
            "<rsp:Receive><rsp:DesiredStream CommandId=\"{}\">stdout stderr</rsp:DesiredStream></rsp:Receive>",
            escape(command)
        );
        let deadline = Instant::now() + w.timeout;
        let mut out = ScriptOutput::default();
        loop {
            if Instant::now() >= deadline {
                return Err(WinRmError::TimedOut);
            }
            let answer = match w.post(w.envelope(ACTION_RECEIVE, Some(&self.id), &[], &body)).await {
                Ok(answer) => answer,
                // No output within OperationTimeout: ask again.
                Err(WinRmError::Fault(text)) if text.contains("TimedOut") || text.contains("2150858793") => continue,
                Err(e) => return Err(e),
            };
            for stream in elements(&answer, "Stream") {
                let text = stream.body.trim();
                if text.is_empty() {
                    continue;
                }
                let bytes =
                    B64.decode(text).map_err(|e| WinRmError::Protocol(format!("a stream that is not base64: {e}")))?;
                let target = match attribute(stream.attributes, "Name") {
                    Some("stderr") => &mut out.stderr,
                    _ => &mut out.stdout,
                };
                target.push_str(&String::from_utf8_lossy(&bytes));
                keep_tail(target);
            }
            if let Some(state) = elements(&answer, "CommandState")
                .into_iter()
                .find(|e| attribute(e.attributes, "State").is_some_and(|s| s.ends_with("CommandState/Done")))
            {
                out.code = elements(state.body, "ExitCode").first().and_then(|e| e.body.trim().parse().ok());
                return Ok(out);
            }
        }
    }

    /// Deletes the shell; a failure is ignored (the server ends idle shells by itself).
    async fn close(self) {
        let w = self.winrm;
        let _ = w.post(w.envelope(ACTION_DELETE, Some(&self.id), &[], "")).await;
    }
}

fn keep_tail(text: &mut String) {
    if text.len() > OUTPUT_LIMIT {
        let mut cut = text.len() - OUTPUT_LIMIT;
        while !text.is_char_boundary(cut) {
            cut += 1;
        }
        text.drain(..cut);
    }
}

fn is_loopback(url: &reqwest::Url) -> bool {
    let host = url.host_str().unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// A reqwest error's text without the URL (which names only the endpoint, but says nothing new).
fn without_url(e: reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let mut text = kind.to_owned();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        let _ = write!(text, ": {s}");
        source = s.source();
    }
    text
}

fn random_uuid() -> Option<String> {
    let mut b = [0u8; 16];
    SystemRandom::new().fill(&mut b).ok()?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = certwright_pki::digest::hex(&b).to_ascii_uppercase();
    Some(format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32]))
}

// ---------------------------------------------------------------------------------------------------------------
// Bounded XML scanning: enough for the few elements of WinRM answers, not a general parser.

/// One element: its attribute text and its content (empty when self-closing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Element<'a> {
    attributes: &'a str,
    body: &'a str,
}

/// The elements called `local` (any namespace prefix) in `xml`, in order; nested ones of the same name are not
/// looked for.
fn elements<'a>(xml: &'a str, local: &str) -> Vec<Element<'a>> {
    let mut found = Vec::new();
    let mut rest = xml;
    while let Some(open) = rest.find('<') {
        let after = &rest[open + 1..];
        let name_end = after.find(|c: char| c.is_whitespace() || c == '>' || c == '/').unwrap_or(after.len());
        let name = &after[..name_end];
        let Some(tag_end) = after.find('>') else { break };
        let tag_local = name.rsplit(':').next().unwrap_or(name);
        if tag_local != local || name.starts_with('/') {
            rest = &after[name_end.min(tag_end)..];
            continue;
        }
        let attributes = after[name_end..tag_end].trim_end_matches('/').trim();
        if after[..tag_end].ends_with('/') {
            found.push(Element { attributes, body: "" });
            rest = &after[tag_end + 1..];
            continue;
        }
        let content = &after[tag_end + 1..];
        let close = format!("</{name}>");
        match content.find(&close) {
            Some(end) => {
                found.push(Element { attributes, body: &content[..end] });
                rest = &content[end + close.len()..];
            }
            None => break,
        }
    }
    found
}

/// The value of attribute `name` (double or single quotes) in an element's attribute text.
fn attribute<'a>(attributes: &'a str, name: &str) -> Option<&'a str> {
    let mut rest = attributes;
    while let Some(eq) = rest.find('=') {
        let key = rest[..eq].trim();
        let key = key.rsplit(|c: char| c.is_whitespace()).next().unwrap_or(key);
        let value = rest[eq + 1..].trim_start();
        let quote = value.chars().next()?;
        if quote != '"' && quote != '\'' {
            return None;
        }
        let end = value[1..].find(quote)?;
        if key == name {
            return Some(&value[1..1 + end]);
        }
        rest = &value[end + 2..];
    }
    None
}

/// The text of a SOAP fault (its WSManFault message, else its reason), `None` when `xml` holds no fault.
fn fault_text(xml: &str) -> Option<String> {
    let fault = elements(xml, "Fault").into_iter().next()?;
    let message = elements(fault.body, "Message")
        .into_iter()
        .chain(elements(fault.body, "Text"))
        .map(|e| unescape(e.body.trim()))
        .find(|t| !t.is_empty())
        .unwrap_or_else(|| "no reason given".to_owned());
    let subcode = elements(fault.body, "Subcode")
        .first()
        .and_then(|s| elements(s.body, "Value").first().map(|v| v.body.trim().to_owned()));
    let code = elements(fault.body, "WSManFault").first().and_then(|f| attribute(f.attributes, "Code"));
    let mut text = message;
    if let Some(subcode) = subcode {
        let _ = write!(text, " ({subcode})");
    }
    if let Some(code) = code {
        let _ = write!(text, " [code {code}]");
    }
    Some(text)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&apos;", "'").replace("&amp;", "&")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn elements_are_found_with_any_prefix_and_self_closing() {
        let xml = r#"<s:Body><rsp:ReceiveResponse><rsp:Stream Name="stdout" CommandId="C">aGk=</rsp:Stream>
            <rsp:Stream Name="stdout" CommandId="C" End="true"/>
            <rsp:CommandState CommandId="C" State="http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Done"><rsp:ExitCode>3</rsp:ExitCode></rsp:CommandState>
            </rsp:ReceiveResponse></s:Body>"#;
        let streams = elements(xml, "Stream");
        assert_eq!(streams.len(), 2);
        assert_eq!(streams[0].body, "aGk=");
        assert_eq!(attribute(streams[0].attributes, "Name"), Some("stdout"));
        assert_eq!(attribute(streams[1].attributes, "End"), Some("true"));
        let state = elements(xml, "CommandState")[0];
        assert!(attribute(state.attributes, "State").unwrap().ends_with("/Done"));
        assert_eq!(elements(state.body, "ExitCode")[0].body, "3");
    }

    #[test]
    fn a_fault_gives_its_message_and_code() {
        let xml = r#"<s:Envelope><s:Body><s:Fault><s:Code><s:Value>s:Receiver</s:Value><s:Subcode>
            <s:Value>w:TimedOut</s:Value></s:Subcode></s:Code><s:Reason><s:Text xml:lang="en-US">The operation timed out.</s:Text></s:Reason>
            <s:Detail><f:WSManFault Code="2150858793" Machine="h"><f:Message>Timed &amp; out</f:Message></f:WSManFault></s:Detail>
            </s:Fault></s:Body></s:Envelope>"#;
        let text = fault_text(xml).unwrap();
        assert_eq!(text, "Timed & out (w:TimedOut) [code 2150858793]");
        assert_eq!(fault_text("<s:Body><rsp:Shell/></s:Body>"), None);
    }

    #[test]
    fn the_encoded_command_is_utf16le_base64_with_the_parameter_block_first() {
        let params = serde_json::json!({ "site": "O'Brien's site" });
        let encoded = encoded_command(&params, "Write-Output $p.site\n");
        let bytes = B64.decode(encoded).unwrap();
        let units: Vec<u16> = bytes.chunks(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
        let script = String::from_utf16(&units).unwrap();
        assert_eq!(script, "$p = ConvertFrom-Json '{\"site\":\"O''Brien''s site\"}'\nWrite-Output $p.site\n");
    }

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
    fn clixml_errors_are_read() {
        let stderr =
            "#< CLIXML\r\n<Objs Version=\"1.1.0.1\"><S S=\"Error\">boom_x000D__x000A_</S><S S=\"Verbose\">x</S></Objs>";
        assert_eq!(clixml_errors(stderr), "boom\n");
    }

    #[test]
    fn secrets_are_scrubbed_and_debug_redacts() {
        assert_eq!(scrub("a hunter2 b", &["hunter2", ""]), "a <redacted> b");
        let t = IisTarget::new("https://h:5986/wsman", "admin", Zeroizing::new("hunter2".into()), "site");
        assert!(!format!("{t:?}").contains("hunter2"));
    }
}
