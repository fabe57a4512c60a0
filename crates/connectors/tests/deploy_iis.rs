//! IIS deployment through WinRM against a stand-in IIS server on loopback.
//!
//! The stand-in follows the WinRM wire contract (MS-WSMV remote shell `…/windows/shell/cmd`): HTTP Basic
//! authentication (401 otherwise), SOAP 1.2 envelopes with the WS-Addressing and WS-Management headers, the five
//! actions Create, Command, Receive, Signal and Delete with their answer shapes (`ShellId` selector, `CommandId`,
//! base64 `rsp:Stream`, `CommandState` Done with `ExitCode`, one `w:TimedOut` fault before the first output), and
//! `powershell -EncodedCommand` with a UTF-16LE base64 script. It does not interpret PowerShell: it emulates
//! exactly certwright's script templates, reading each one's JSON parameter block, appending the uploaded PKCS#12
//! chunks, opening the PKCS#12 file with `openssl pkcs12` and the password from the parameters, and keeping a
//! certificate store and the site's https binding in memory. A rustls listener serves the certificate bound to
//! the site, so the TLS check is real.

mod common;

use axum::http::{header, HeaderMap, StatusCode};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use certwright_connectors::deploy::iis::{self, IisTarget};
use certwright_connectors::deploy::webserver::{Material, Verify};
use common::{openssl, require};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use zeroize::Zeroizing;

const USER: &str = "Administrator";
const PASSWORD: &str = "Winrm-S3cret-pa55";
const SITE: &str = "Default Web Site";
const SHELL_URI: &str = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd";
const DONE: &str = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Done";

type BindingKey = (String, u64, String);

/// What the stand-in server holds.
#[derive(Default)]
struct Iis {
    dir: PathBuf,
    /// Files under `$env:TEMP`.
    files: HashMap<String, String>,
    /// `Cert:\LocalMachine\…`: thumbprint → (certificate PEM, key PEM).
    store: HashMap<String, (String, String)>,
    /// https bindings: (site, port, host header) → (thumbprint, store).
    bindings: HashMap<BindingKey, (String, String)>,
    /// The thumbprint HTTP.SYS serves on the TLS listener.
    serving: Option<String>,
    /// Bind in the configuration but keep serving the old certificate.
    ignore_binds: bool,
    shells: Vec<String>,
    /// Command id → (stdout, stderr, exit code, Receive calls so far).
    commands: HashMap<String, (String, String, i64, u32)>,
    /// Every SOAP action received (the last path segment).
    actions: Vec<String>,
    /// Every script run: `append`, `install <thumbprint> previous <thumbprint>`, `rollback <thumbprint>`.
    history: Vec<String>,
    pfx_passwords: Vec<String>,
    next_id: u32,
}

struct StandIn {
    iis: Arc<Mutex<Iis>>,
    endpoint: String,
    tls: SocketAddr,
    _dir: tempfile::TempDir,
}

impl StandIn {
    async fn start() -> StandIn {
        common::crypto_provider();
        let dir = tempfile::tempdir().unwrap();
        let iis = Arc::new(Mutex::new(Iis { dir: dir.path().to_owned(), ..Iis::default() }));
        let state = iis.clone();
        let app = axum::Router::new().route(
            "/wsman",
            axum::routing::post(move |headers: HeaderMap, body: String| {
                let state = state.clone();
                async move { wsman(&state, &headers, &body) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}/wsman", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });

        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(Served(iis.clone())));
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let tls_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let tls = tls_listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = tls_listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    if let Ok(mut stream) = acceptor.accept(tcp).await {
                        use tokio::io::AsyncReadExt;
                        let mut buf = [0u8; 64];
                        let _ = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buf)).await;
                    }
                });
            }
        });
        StandIn { iis, endpoint, tls, _dir: dir }
    }

    fn target(&self, password: &str) -> IisTarget {
        let mut t = IisTarget::new(self.endpoint.clone(), USER, Zeroizing::new(password.to_owned()), SITE);
        t.verify = Some(Verify {
            address: self.tls,
            server_name: Some("iis.test".into()),
            within: Duration::from_millis(1500),
        });
        t.timeout = Duration::from_secs(30);
        t
    }

    fn binding(&self) -> Option<String> {
        let iis = self.iis.lock().unwrap();
        iis.bindings.get(&(SITE.to_owned(), 443, String::new())).map(|(thumb, _)| thumb.clone())
    }
}

/// The certificate HTTP.SYS serves: the one bound last (unless binds are ignored).
struct Served(Arc<Mutex<Iis>>);

impl std::fmt::Debug for Served {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Served")
    }
}

impl ResolvesServerCert for Served {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let iis = self.0.lock().unwrap();
        let (cert, key) = iis.store.get(iis.serving.as_ref()?)?;
        let (_, cert) = certwright_pki::pem::decode(cert).ok()?;
        let (_, key) = certwright_pki::pem::decode(key).ok()?;
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(key.into());
        let key = rustls::crypto::aws_lc_rs::sign::any_supported_type(&key).ok()?;
        Some(Arc::new(CertifiedKey::new(vec![cert.into()], key)))
    }
}

// --- the WinRM service ------------------------------------------------------------------------------------------

/// The content of the first element called `local` (any prefix) and its attribute text.
fn element<'a>(xml: &'a str, local: &str) -> Option<(&'a str, &'a str)> {
    elements(xml, local).into_iter().next()
}

fn elements<'a>(xml: &'a str, local: &str) -> Vec<(&'a str, &'a str)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = xml[from..].find('<') {
        let start = from + i + 1;
        let rest = &xml[start..];
        let name_end = rest.find(|c: char| c.is_whitespace() || c == '>' || c == '/').unwrap_or(rest.len());
        let name = &rest[..name_end];
        from = start;
        if name.is_empty() || name.rsplit(':').next() != Some(local) {
            continue;
        }
        let gt = rest.find('>').unwrap();
        let attrs = &rest[name_end..gt];
        if attrs.ends_with('/') {
            out.push((attrs, ""));
            continue;
        }
        let close = format!("</{name}>");
        let body_start = start + gt + 1;
        let end = xml[body_start..].find(&close).unwrap();
        out.push((attrs, &xml[body_start..body_start + end]));
        from = body_start + end;
    }
    out
}

fn attr<'a>(attrs: &'a str, name: &str) -> Option<&'a str> {
    let at = attrs.find(&format!("{name}=\""))? + name.len() + 2;
    Some(&attrs[at..at + attrs[at..].find('"')?])
}

fn envelope(action: &str, body: &str) -> String {
    format!(
        "<s:Envelope xml:lang=\"en-US\" xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" \
         xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" \
         xmlns:x=\"http://schemas.xmlsoap.org/ws/2004/09/transfer\" \
         xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\" \
         xmlns:rsp=\"http://schemas.microsoft.com/wbem/wsman/1/windows/shell\"><s:Header>\
         <a:Action>{action}</a:Action><a:MessageID>uuid:5A1F0C4E-0000-4000-8000-000000000001</a:MessageID>\
         <a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To></s:Header>\
         <s:Body>{body}</s:Body></s:Envelope>"
    )
}

fn fault(subcode: &str, code: u32, message: &str) -> (StatusCode, String) {
    let body = format!(
        "<s:Fault><s:Code><s:Value>s:Receiver</s:Value><s:Subcode><s:Value>{subcode}</s:Value></s:Subcode></s:Code>\
         <s:Reason><s:Text xml:lang=\"en-US\">{message}</s:Text></s:Reason><s:Detail>\
         <f:WSManFault xmlns:f=\"http://schemas.microsoft.com/wbem/wsman/1/wsmanfault\" Code=\"{code}\" \
         Machine=\"iis.test\"><f:Message>{message}</f:Message></f:WSManFault></s:Detail></s:Fault>"
    );
    (StatusCode::INTERNAL_SERVER_ERROR, envelope("http://schemas.dmtf.org/wbem/wsman/1/wsman/fault", &body))
}

fn wsman(
    state: &Mutex<Iis>,
    headers: &HeaderMap,
    body: &str,
) -> (StatusCode, [(header::HeaderName, String); 2], String) {
    let expected = format!("Basic {}", B64.encode(format!("{USER}:{PASSWORD}")));
    let authorized = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) == Some(expected.as_str());
    if !authorized {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Basic realm=\"WSMAN\"".into()), (header::CONTENT_LENGTH, "0".into())],
            String::new(),
        );
    }
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let (status, body) = if content_type.to_ascii_lowercase().replace(' ', "") != "application/soap+xml;charset=utf-8" {
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, String::new())
    } else {
        let mut iis = state.lock().unwrap();
        handle(&mut iis, body)
    };
    let len = body.len().to_string();
    (status, [(header::CONTENT_TYPE, "application/soap+xml;charset=UTF-8".into()), (header::CONTENT_LENGTH, len)], body)
}

fn handle(iis: &mut Iis, body: &str) -> (StatusCode, String) {
    let (_, head) = element(body, "Header").expect("a SOAP header");
    for required in ["To", "ReplyTo", "MessageID", "MaxEnvelopeSize", "OperationTimeout"] {
        assert!(element(head, required).is_some(), "the header has no {required}: {head}");
    }
    assert_eq!(element(head, "ResourceURI").map(|(_, v)| v), Some(SHELL_URI));
    let action = element(head, "Action").expect("an action").1;
    let short = action.rsplit('/').next().unwrap().to_owned();
    iis.actions.push(short.clone());
    let shell =
        elements(head, "Selector").into_iter().find(|(a, _)| attr(a, "Name") == Some("ShellId")).map(|(_, v)| v);
    if short != "Create" && !shell.is_some_and(|id| iis.shells.iter().any(|s| s == id)) {
        return fault("w:InvalidSelectors", 2150858843, "The request for the Windows Remote Shell with ShellId failed");
    }
    let (_, soap_body) = element(body, "Body").expect("a SOAP body");
    iis.next_id += 1;
    let id = format!("1A6DEE6B-EC68-4DD6-87E9-{:012X}", iis.next_id);
    match action {
        "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create" => {
            assert!(element(soap_body, "Shell").is_some());
            iis.shells.push(id.clone());
            let created = format!(
                "<x:ResourceCreated><a:Address>http://iis.test:5986/wsman</a:Address><a:ReferenceParameters>\
                 <w:ResourceURI>{SHELL_URI}</w:ResourceURI><w:SelectorSet><w:Selector Name=\"ShellId\">{id}</w:Selector>\
                 </w:SelectorSet></a:ReferenceParameters></x:ResourceCreated>\
                 <rsp:Shell><rsp:ShellId>{id}</rsp:ShellId><rsp:ResourceUri>{SHELL_URI}</rsp:ResourceUri></rsp:Shell>"
            );
            (StatusCode::OK, envelope("http://schemas.xmlsoap.org/ws/2004/09/transfer/CreateResponse", &created))
        }
        "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Command" => {
            let (_, line) = element(soap_body, "CommandLine").expect("a command line");
            let program = element(line, "Command").unwrap().1;
            let args: Vec<&str> = elements(line, "Arguments").into_iter().map(|(_, v)| v).collect();
            let result = run_command(iis, program, &args);
            iis.commands.insert(id.clone(), (result.0, result.1, result.2, 0));
            let answer = format!("<rsp:CommandResponse><rsp:CommandId>{id}</rsp:CommandId></rsp:CommandResponse>");
            (
                StatusCode::OK,
                envelope("http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandResponse", &answer),
            )
        }
        "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Receive" => {
            let (attrs, streams) = element(soap_body, "DesiredStream").expect("a desired stream");
            assert_eq!(streams, "stdout stderr");
            let command = attr(attrs, "CommandId").unwrap();
            let Some((stdout, stderr, code, calls)) = iis.commands.get_mut(command) else {
                return fault("w:InvalidParameter", 2150858843, "no such command");
            };
            *calls += 1;
            if *calls == 1 {
                // As the service does when the command printed nothing within OperationTimeout.
                return fault("w:TimedOut", 2150858793, "The WS-Management service cannot complete the operation within the time specified in OperationTimeout.");
            }
            let answer = format!(
                "<rsp:ReceiveResponse><rsp:Stream Name=\"stdout\" CommandId=\"{command}\">{}</rsp:Stream>\
                 <rsp:Stream Name=\"stderr\" CommandId=\"{command}\">{}</rsp:Stream>\
                 <rsp:Stream Name=\"stdout\" CommandId=\"{command}\" End=\"true\"></rsp:Stream>\
                 <rsp:Stream Name=\"stderr\" CommandId=\"{command}\" End=\"true\"></rsp:Stream>\
                 <rsp:CommandState CommandId=\"{command}\" State=\"{DONE}\"><rsp:ExitCode>{code}</rsp:ExitCode></rsp:CommandState>\
                 </rsp:ReceiveResponse>",
                B64.encode(stdout.as_bytes()),
                B64.encode(stderr.as_bytes())
            );
            (
                StatusCode::OK,
                envelope("http://schemas.microsoft.com/wbem/wsman/1/windows/shell/ReceiveResponse", &answer),
            )
        }
        "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Signal" => {
            let (attrs, code) = element(soap_body, "Signal").unwrap();
            assert_eq!(
                element(code, "Code").unwrap().1,
                "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/signal/terminate"
            );
            iis.commands.remove(attr(attrs, "CommandId").unwrap());
            (
                StatusCode::OK,
                envelope(
                    "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/SignalResponse",
                    "<rsp:SignalResponse/>",
                ),
            )
        }
        "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete" => {
            let shell = shell.unwrap().to_owned();
            iis.shells.retain(|s| *s != shell);
            (StatusCode::OK, envelope("http://schemas.xmlsoap.org/ws/2004/09/transfer/DeleteResponse", ""))
        }
        other => fault("w:ActionNotSupported", 2150858754, &format!("unknown action {other}")),
    }
}

/// Runs `powershell -NoProfile -NonInteractive -EncodedCommand …` for one of certwright's script templates.
fn run_command(iis: &mut Iis, program: &str, args: &[&str]) -> (String, String, i64) {
    let line = std::iter::once(program).chain(args.iter().copied()).collect::<Vec<_>>().join(" ");
    if line.len() > 8191 {
        return (String::new(), "The command line is too long.".into(), 1);
    }
    assert_eq!(program, "powershell");
    assert_eq!(&args[..3], ["-NoProfile", "-NonInteractive", "-EncodedCommand"]);
    let utf16 = B64.decode(args[3]).unwrap();
    let units: Vec<u16> = utf16.chunks(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
    let script = String::from_utf16(&units).unwrap();
    let (first, rest) = script.split_once('\n').unwrap();
    let json = first.strip_prefix("$p = ConvertFrom-Json '").unwrap().strip_suffix('\'').unwrap().replace("''", "'");
    let p: serde_json::Value = serde_json::from_str(&json).unwrap();
    let s = |k: &str| p[k].as_str().unwrap_or_default().to_owned();
    match s("action").as_str() {
        "append" => {
            assert!(rest.contains("Add-Content -NoNewline"));
            iis.files.entry(s("file")).or_default().push_str(&s("data"));
            iis.history.push("append".into());
            (String::new(), String::new(), 0)
        }
        "install" => {
            assert!(rest.contains("Import-PfxCertificate") && rest.contains("Get-WebBinding"));
            assert!(rest.contains("AddSslCertificate") && rest.contains("New-WebBinding"));
            match install(iis, &p) {
                Ok(out) => (out, String::new(), 0),
                Err(e) => (String::new(), format!("#< CLIXML\r\n<Objs Version=\"1.1.0.1\"><S S=\"Error\">certwright: {e}_x000D__x000A_</S></Objs>"), 1),
            }
        }
        "rollback" => {
            assert!(rest.contains("AddSslCertificate") && rest.contains("Remove-WebBinding"));
            let key = (s("site"), p["port"].as_u64().unwrap(), s("host_header"));
            let thumb = s("thumbprint");
            if p["remove_binding"].as_bool().unwrap() {
                iis.bindings.remove(&key);
                iis.serving = None;
            } else {
                iis.bindings.insert(key, (thumb.clone(), s("store")));
                iis.serving = Some(thumb.clone()).filter(|t| !t.is_empty());
            }
            iis.history.push(format!("rollback {thumb}"));
            let r = serde_json::json!({"previous": "", "previous_store": "", "created": false, "thumbprint": thumb});
            (format!("CERTWRIGHT-RESULT {r}\r\n"), String::new(), 0)
        }
        other => panic!("not one of the script templates: {other}"),
    }
}

fn install(iis: &mut Iis, p: &serde_json::Value) -> Result<String, String> {
    let s = |k: &str| p[k].as_str().unwrap_or_default().to_owned();
    let b64 = iis.files.remove(&s("file")).ok_or("the uploaded file is missing")?;
    let pfx = B64.decode(b64).map_err(|e| e.to_string())?;
    let path = iis.dir.join(format!("{}.pfx", iis.next_id));
    std::fs::write(&path, pfx).unwrap();
    let password = s("pfx_password");
    iis.pfx_passwords.push(password.clone());
    let open = |what: &[&str]| -> Result<String, String> {
        let out = Command::new("openssl")
            .args(["pkcs12", "-in"])
            .arg(&path)
            .args(["-passin", &format!("pass:{password}")])
            .args(what)
            .output()
            .unwrap();
        if !out.status.success() {
            return Err("The specified network password is not correct.".into());
        }
        Ok(String::from_utf8(out.stdout).unwrap())
    };
    let cert = pem_block(&open(&["-clcerts", "-nokeys"])?, "CERTIFICATE");
    let key = pem_block(&open(&["-nocerts", "-nodes"])?, "PRIVATE KEY");
    let (_, der) = certwright_pki::pem::decode(&cert).unwrap();
    let thumb = thumbprint(&der);
    if thumb != s("thumbprint") {
        return Err(format!("Cannot find path 'Cert:\\LocalMachine\\{}\\{}'", s("store"), s("thumbprint")));
    }
    iis.store.insert(thumb.clone(), (cert, key));
    let key = (s("site"), p["port"].as_u64().unwrap(), s("host_header"));
    if key.0 != SITE {
        return Err(format!("Cannot find site {}", key.0));
    }
    let (previous, previous_store) = iis.bindings.get(&key).cloned().unwrap_or_default();
    let created = !iis.bindings.contains_key(&key);
    iis.bindings.insert(key, (thumb.clone(), s("store")));
    if !iis.ignore_binds {
        iis.serving = Some(thumb.clone());
    }
    iis.history.push(format!("install {thumb} previous {previous}"));
    let r = serde_json::json!({"previous": previous, "previous_store": previous_store, "created": created, "thumbprint": thumb});
    Ok(format!("CERTWRIGHT-RESULT {r}\r\n"))
}

fn pem_block(text: &str, label: &str) -> String {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin).unwrap_or_else(|| panic!("no {label} in {text}"));
    let stop = text[start..].find(&end).unwrap() + start + end.len();
    format!("{}\n", &text[start..stop])
}

fn thumbprint(der: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, der);
    certwright_pki::digest::hex(digest.as_ref()).to_ascii_uppercase()
}

// --- the tests --------------------------------------------------------------------------------------------------

/// A self-signed certificate for iis.test with a PKCS#8 key (`rsa:3072` makes a PKCS#12 file of several chunks).
fn material(dir: &Path, name: &str, key: &[&str]) -> (Material, String) {
    let (k, c) = (format!("{name}.key"), format!("{name}.pem"));
    let mut args = vec!["req", "-x509", "-nodes", "-days", "2", "-subj", "/CN=iis.test", "-keyout", &k, "-out", &c];
    args.extend_from_slice(key);
    openssl(dir, &args);
    let certificate_pem = std::fs::read_to_string(dir.join(&c)).unwrap();
    let key_pem = std::fs::read_to_string(dir.join(&k)).unwrap();
    let (_, der) = certwright_pki::pem::decode(&certificate_pem).unwrap();
    let fingerprint = certwright_pki::digest::hex(&certwright_pki::digest::sha256(&der));
    let m = Material { certificate_pem, chain_pem: String::new(), key_pem: Some(Zeroizing::new(key_pem)), fingerprint };
    (m, thumbprint(&der))
}

const EC: &[&str] = &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"];
const RSA: &[&str] = &["-newkey", "rsa:3072"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_binds_and_serves_then_rolls_back_to_the_previous_binding_when_not_served() {
    require("openssl", "openssl");
    let stand = StandIn::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (a, thumb_a) = material(dir.path(), "a", EC);
    let (b, thumb_b) = material(dir.path(), "b", RSA);
    let (c, thumb_c) = material(dir.path(), "c", EC);
    let target = stand.target(PASSWORD);

    // First install: the binding is created and the new certificate is served.
    let done = iis::install(&target, &a).await.unwrap();
    assert_eq!(done.served.as_deref(), Some(a.fingerprint.as_str()));
    assert_eq!(stand.binding(), Some(thumb_a.clone()));
    assert!(done.steps.iter().any(|s| s.contains("previous: none, binding created")), "{:?}", done.steps);
    {
        let iis = stand.iis.lock().unwrap();
        for action in ["Create", "Command", "Receive", "Signal", "Delete"] {
            assert!(iis.actions.iter().any(|a| a == action), "{action} never sent: {:?}", iis.actions);
        }
        assert!(iis.shells.is_empty(), "shells left open: {:?}", iis.shells);
        assert!(iis.commands.is_empty(), "commands not signalled: {:?}", iis.commands.keys());
    }

    // Second install: the previous thumbprint is reported; the larger file travels in several chunks.
    let done = iis::install(&target, &b).await.unwrap();
    assert_eq!(done.served.as_deref(), Some(b.fingerprint.as_str()));
    assert_eq!(stand.binding(), Some(thumb_b.clone()));
    assert!(done.steps.iter().any(|s| s.contains(&format!("previous: {thumb_a}"))), "{:?}", done.steps);
    {
        let iis = stand.iis.lock().unwrap();
        let appends = iis.history.iter().rev().skip(1).take_while(|h| *h == "append").count();
        assert!(appends >= 2, "{:?}", iis.history);
    }

    // Third install: IIS takes the binding but keeps serving the old certificate: the check fails and the
    // previous binding is restored.
    stand.iis.lock().unwrap().ignore_binds = true;
    let e = iis::install(&target, &c).await.unwrap_err();
    assert_eq!(e.step, "verify", "{e}");
    assert!(e.rolled_back && !e.retryable, "{e:?}");
    assert_eq!(stand.binding(), Some(thumb_b.clone()));
    let iis = stand.iis.lock().unwrap();
    let tail: Vec<&str> = iis.history.iter().rev().take(2).map(String::as_str).collect();
    assert_eq!(tail, [format!("rollback {thumb_b}"), format!("install {thumb_c} previous {thumb_b}")]);
    assert!(iis.store.contains_key(&thumb_c));

    // No secret anywhere in what the caller sees.
    let shown = format!("{e} {e:?} {target:?} {:?}", done.steps);
    assert!(!shown.contains(PASSWORD), "{shown}");
    for pfx_password in &iis.pfx_passwords {
        assert!(!shown.contains(pfx_password.as_str()), "{shown}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_refused_and_not_retried() {
    require("openssl", "openssl");
    let stand = StandIn::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (a, _) = material(dir.path(), "a", EC);
    let wrong = "not-the-Winrm-pa55word";
    let target = stand.target(wrong);
    let e = iis::install(&target, &a).await.unwrap_err();
    assert!(e.message.contains("401"), "{e}");
    assert!(!e.retryable && !e.rolled_back, "{e:?}");
    let shown = format!("{e} {e:?} {target:?}");
    assert!(!shown.contains(wrong), "{shown}");
    assert_eq!(stand.binding(), None);
}

#[tokio::test]
async fn plain_http_is_refused_off_loopback_and_uninstall_is_not_supported() {
    let target = IisTarget::new("http://iis.example.com:5985/wsman", USER, Zeroizing::new(PASSWORD.into()), SITE);
    let (m, _) = {
        let dir = tempfile::tempdir().unwrap();
        material(dir.path(), "a", EC)
    };
    let e = iis::install(&target, &m).await.unwrap_err();
    assert!(e.message.contains("https://") && !e.retryable, "{e}");
    let e = iis::uninstall(&target).await.unwrap_err();
    assert!(e.message.contains("not supported") && !e.retryable, "{e}");
}
