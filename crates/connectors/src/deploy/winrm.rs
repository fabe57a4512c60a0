//! A small WinRM client: one remote shell (`…/windows/shell/cmd`) on a WS-Management endpoint, running
//! PowerShell scripts with `-EncodedCommand` and collecting their output and exit code (MS-WSMV 3.1.4.5 Create,
//! 3.1.4.11 Command, 3.1.4.14 Receive, 3.1.4.12 Signal, 3.1.4.4 Delete). HTTP Basic authentication over HTTPS
//! only; SOAP envelopes are written from templates and answers read by bounded string scanning, enough for the
//! few elements these actions return.

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use std::fmt::{self, Write as _};
use std::sync::Arc;
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

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
/// The most output of one script kept (its end).
const OUTPUT_LIMIT: usize = 64 * 1024;

/// The PowerShell command line running `script` with its parameter block.
pub(crate) fn encoded_command(params: &serde_json::Value, script: &str) -> String {
    // Inside single quotes PowerShell takes everything literally but a doubled quote.
    let json = params.to_string().replace('\'', "''");
    let full = format!("$p = ConvertFrom-Json '{json}'\n{script}");
    let utf16: Vec<u8> = full.encode_utf16().flat_map(u16::to_le_bytes).collect();
    B64.encode(utf16)
}

#[derive(Debug)]
pub(crate) enum WinRmError {
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
    pub(crate) fn retryable(&self) -> bool {
        match self {
            WinRmError::Unreachable(_) | WinRmError::TimedOut => true,
            WinRmError::Status(code, _) => *code >= 500,
            _ => false,
        }
    }
}

/// What a script printed and how it ended.
#[derive(Debug, Clone, Default)]
pub(crate) struct ScriptOutput {
    pub(crate) code: Option<i64>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl ScriptOutput {
    /// The exit code and the last lines of output, errors first.
    pub(crate) fn tail(&self) -> String {
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

pub(crate) struct WinRm {
    http: reqwest::Client,
    endpoint: String,
    username: String,
    password: Zeroizing<String>,
    timeout: Duration,
}

impl WinRm {
    /// A client for `endpoint`; `ca_pem` holds the trust anchors (the system's trust store when `None`), and
    /// `timeout` bounds the connection and each command.
    pub(crate) fn new(
        endpoint: &str,
        username: &str,
        password: &Zeroizing<String>,
        ca_pem: Option<&str>,
        timeout: Duration,
    ) -> Result<WinRm, String> {
        let url = reqwest::Url::parse(endpoint).map_err(|e| format!("WinRM endpoint: {e}"))?;
        if url.password().is_some() || !url.username().is_empty() {
            return Err("the WinRM endpoint must not carry credentials: set the user name and password".into());
        }
        match url.scheme() {
            "https" => {}
            "http" if is_loopback(&url) => {}
            "http" => return Err("a plain http:// WinRM endpoint is accepted on loopback only: use https://".into()),
            other => return Err(format!("WinRM endpoint: unsupported scheme {other}")),
        }
        if timeout.is_zero() {
            return Err("the timeout must be above zero".into());
        }
        let mut roots = rustls::RootCertStore::empty();
        let (anchors, origin) = match ca_pem {
            Some(pem) => (pem.to_owned(), "ca_pem"),
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
            .connect_timeout(timeout)
            .timeout(Duration::from_secs(OPERATION_TIMEOUT_SECS + 30))
            .user_agent(concat!("certwright/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(WinRm {
            http,
            endpoint: endpoint.to_owned(),
            username: username.to_owned(),
            password: password.clone(),
            timeout,
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
    pub(crate) async fn open(&self) -> Result<Shell<'_>, WinRmError> {
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
pub(crate) struct Shell<'a> {
    winrm: &'a WinRm,
    id: String,
}

impl Shell<'_> {
    /// Runs one script template with its parameters; a non-zero exit is an error.
    pub(crate) async fn script(&self, params: &serde_json::Value, template: &str) -> Result<ScriptOutput, WinRmError> {
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
    pub(crate) async fn close(self) {
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
    fn clixml_errors_are_read() {
        let stderr =
            "#< CLIXML\r\n<Objs Version=\"1.1.0.1\"><S S=\"Error\">boom_x000D__x000A_</S><S S=\"Verbose\">x</S></Objs>";
        assert_eq!(clixml_errors(stderr), "boom\n");
    }
}
