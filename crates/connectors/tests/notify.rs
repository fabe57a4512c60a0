//! Notification delivery against receivers we did not write: mail into Python's `aiosmtpd` (Debian package
//! `python3-aiosmtpd`, plain, STARTTLS and SMTPS) read back with Python's `email` parser, and webhooks whose
//! signature is recomputed by `openssl dgst -hmac`, with the retry verdict for 500, 429, 410, timeouts and
//! refused connections.

mod common;

use certwright_connectors::notify::{
    self, Email, MailError, Mailer, SmtpConfig, SmtpSecurity, WebhookSender, DELIVERY_HEADER, EVENT_HEADER,
    SIGNATURE_HEADER,
};
use common::{free_port, openssl, require, run, Proc};
use serde_json::Value;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// An aiosmtpd instance storing what it receives in a maildir.
struct SmtpSink {
    port: u16,
    maildir: std::path::PathBuf,
    _proc: Proc,
}

impl SmtpSink {
    /// `tls`: `None` plain, `Some("--tlscert")` STARTTLS required, `Some("--smtpscert")` implicit TLS.
    async fn start(dir: &Path, tls: Option<(&str, &str)>) -> SmtpSink {
        require("aiosmtpd", "python3-aiosmtpd");
        let port = free_port();
        let maildir = dir.join(format!("maildir-{port}"));
        let mut cmd = Command::new("aiosmtpd");
        cmd.args(["-n", "-l", &format!("127.0.0.1:{port}")]);
        if let Some((cert_flag, key_flag)) = tls {
            cmd.arg(cert_flag).arg(dir.join("smtp.pem")).arg(key_flag).arg(dir.join("smtp.key"));
        }
        cmd.args(["-c", "aiosmtpd.handlers.Mailbox"]).arg(&maildir);
        let mut proc = Proc::spawn("aiosmtpd", cmd, dir);
        for _ in 0..100 {
            proc.assert_running(dir);
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                return SmtpSink { port, maildir, _proc: proc };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("aiosmtpd did not listen on {port}");
    }

    /// The messages received, parsed by Python's `email` package.
    fn received(&self) -> Vec<Value> {
        let script = r#"
import email, email.policy, json, pathlib, sys
out = []
for f in sorted(pathlib.Path(sys.argv[1]).glob("new/*")):
    m = email.message_from_bytes(f.read_bytes(), policy=email.policy.default)
    out.append({"subject": str(m["subject"]), "from": [a.addr_spec for a in m["from"].addresses],
                "to": [a.addr_spec for a in m["to"].addresses], "envelope_to": m.get("X-RcptTo"),
                "content_type": m.get_content_type(), "body": m.get_content()})
print(json.dumps(out))
"#;
        let out = run(Command::new("/usr/bin/python3").arg("-c").arg(script).arg(&self.maildir));
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

fn smtp_config(port: u16, security: SmtpSecurity, roots: Vec<Vec<u8>>) -> SmtpConfig {
    SmtpConfig {
        host: "localhost".into(),
        port,
        security,
        username: None,
        password: None,
        from: "certwright <pki@certwright.test>".into(),
        timeout: Duration::from_secs(10),
        extra_roots_der: roots,
        hello_name: Some("certwright.test".into()),
    }
}

/// A CA and a `localhost` certificate for the SMTP sink, made with openssl; returns the CA in DER.
fn smtp_tls_certificate(d: &Path) -> Vec<u8> {
    openssl(
        d,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=certwright smtp test root",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign",
        ],
    );
    openssl(
        d,
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "smtp.key",
            "-out",
            "smtp.csr",
            "-subj",
            "/CN=localhost",
        ],
    );
    std::fs::write(d.join("smtp.ext"), "subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n").unwrap();
    openssl(
        d,
        &[
            "x509",
            "-req",
            "-in",
            "smtp.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "smtp.ext",
            "-out",
            "smtp.pem",
        ],
    );
    openssl(d, &["x509", "-in", "ca.pem", "-outform", "DER", "-out", "ca.der"]);
    std::fs::read(d.join("ca.der")).unwrap()
}

fn expiry_mail() -> Email {
    Email {
        to: vec!["ops@certwright.test".into(), "Sécurité <secu@certwright.test>".into()],
        subject: "Certificate www.certwright.test expires in 7 days — renew".into(),
        text_body:
            "The certificate for www.certwright.test (serial 0a1b) expires on 2026-12-01.\nRenewal: automatic.\n".into(),
    }
}

fn assert_expiry_mail_arrived(sink: &SmtpSink) {
    let got = sink.received();
    assert_eq!(got.len(), 1, "{got:?}");
    let m = &got[0];
    assert_eq!(m["subject"], "Certificate www.certwright.test expires in 7 days — renew");
    assert_eq!(m["from"], serde_json::json!(["pki@certwright.test"]));
    assert_eq!(m["to"], serde_json::json!(["ops@certwright.test", "secu@certwright.test"]));
    let envelope = m["envelope_to"].as_str().unwrap_or_default();
    assert!(envelope.contains("ops@certwright.test") && envelope.contains("secu@certwright.test"), "{envelope}");
    assert_eq!(m["content_type"], "text/plain");
    assert!(m["body"].as_str().unwrap().contains("expires on 2026-12-01.\nRenewal: automatic."), "{m}");
}

#[tokio::test]
async fn mail_reaches_a_plain_smtp_sink() {
    let dir = tempfile::tempdir().unwrap();
    let sink = SmtpSink::start(dir.path(), None).await;
    let mailer = Mailer::new(&smtp_config(sink.port, SmtpSecurity::None, vec![])).unwrap();
    mailer.send(&expiry_mail()).await.unwrap();
    assert_expiry_mail_arrived(&sink);
}

#[tokio::test]
async fn mail_goes_over_starttls_and_the_relay_refuses_plain_text() {
    let dir = tempfile::tempdir().unwrap();
    let root = smtp_tls_certificate(dir.path());
    let sink = SmtpSink::start(dir.path(), Some(("--tlscert", "--tlskey"))).await;

    // This sink requires STARTTLS: a plain session is refused with a 5xx, which is not worth retrying.
    let plain = Mailer::new(&smtp_config(sink.port, SmtpSecurity::None, vec![])).unwrap();
    let err = plain.send(&expiry_mail()).await.unwrap_err();
    assert!(matches!(err, MailError::Transport { retryable: false, .. }), "{err}");

    // Without the test root, the relay's certificate is not trusted.
    let untrusted = Mailer::new(&smtp_config(sink.port, SmtpSecurity::StartTls, vec![])).unwrap();
    let err = untrusted.send(&expiry_mail()).await.unwrap_err();
    assert!(matches!(err, MailError::Transport { .. }), "{err}");
    assert!(sink.received().is_empty());

    let mailer = Mailer::new(&smtp_config(sink.port, SmtpSecurity::StartTls, vec![root])).unwrap();
    mailer.send(&expiry_mail()).await.unwrap();
    assert_expiry_mail_arrived(&sink);
}

/// aiosmtpd requiring STARTTLS and then AUTH (PLAIN or LOGIN) as certwright / s3cret, through its `Controller`
/// (the command line cannot set an authenticator).
const AUTH_SINK: &str = r#"
import signal, ssl, sys
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import AuthResult

cert, key, port, maildir = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]

def authenticate(server, session, envelope, mechanism, auth_data):
    return AuthResult(success=auth_data.login == b"certwright" and auth_data.password == b"s3cret")

tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
tls.load_cert_chain(cert, key)
Controller(Mailbox(maildir), hostname="127.0.0.1", port=port, tls_context=tls, require_starttls=True,
           authenticator=authenticate, auth_required=True).start()
print("ready", flush=True)
signal.sigwait([signal.SIGTERM, signal.SIGINT])
"#;

#[tokio::test]
async fn mail_authenticates_after_starttls() {
    require("aiosmtpd", "python3-aiosmtpd");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let root = smtp_tls_certificate(d);
    let port = free_port();
    let maildir = d.join("maildir-auth");
    let mut cmd = Command::new("/usr/bin/python3");
    cmd.arg("-c").arg(AUTH_SINK).arg(d.join("smtp.pem")).arg(d.join("smtp.key")).arg(port.to_string()).arg(&maildir);
    let mut proc = Proc::spawn("aiosmtpd", cmd, d);
    let mut listening = false;
    for _ in 0..100 {
        proc.assert_running(d);
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            listening = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(listening, "the AUTH sink did not listen");
    let sink = SmtpSink { port, maildir, _proc: proc };

    let mut config = smtp_config(port, SmtpSecurity::StartTls, vec![root]);
    let anonymous = Mailer::new(&config).unwrap();
    let err = anonymous.send(&expiry_mail()).await.unwrap_err();
    assert!(matches!(err, MailError::Transport { retryable: false, .. }), "AUTH required: {err}");

    config.username = Some("certwright".into());
    config.password = Some(zeroize::Zeroizing::new("s3cret".into()));
    Mailer::new(&config).unwrap().send(&expiry_mail()).await.unwrap();
    assert_expiry_mail_arrived(&sink);
}

#[tokio::test]
async fn mail_goes_over_implicit_tls() {
    let dir = tempfile::tempdir().unwrap();
    let root = smtp_tls_certificate(dir.path());
    let sink = SmtpSink::start(dir.path(), Some(("--smtpscert", "--smtpskey"))).await;
    let mailer = Mailer::new(&smtp_config(sink.port, SmtpSecurity::Tls, vec![root])).unwrap();
    mailer.send(&expiry_mail()).await.unwrap();
    assert_expiry_mail_arrived(&sink);
}

#[tokio::test]
async fn an_unreachable_relay_is_retryable() {
    let mailer = Mailer::new(&smtp_config(free_port(), SmtpSecurity::None, vec![])).unwrap();
    let err = mailer.send(&expiry_mail()).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
}

/// What the webhook receiver saw.
#[derive(Debug, Clone)]
struct Received {
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

/// A loopback HTTP receiver answering `status` after `delay`, reporting each request on a channel.
async fn receiver(status: u16, delay: Duration) -> (String, tokio::sync::mpsc::UnboundedReceiver<Received>) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(Received { headers, body: body.to_vec() });
                tokio::time::sleep(delay).await;
                (axum::http::StatusCode::from_u16(status).unwrap(), "receiver says so")
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, rx)
}

fn sender(timeout: Duration) -> WebhookSender {
    common::crypto_provider();
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    WebhookSender::new(http, timeout)
}

/// HMAC-SHA256 by openssl, hex.
fn openssl_hmac(secret: &str, data: &[u8]) -> String {
    require("openssl", "openssl");
    let mut child = Command::new("openssl")
        .args(["dgst", "-sha256", "-hmac", secret])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(data).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    text.trim().rsplit(' ').next().unwrap().to_string()
}

#[tokio::test]
async fn webhook_is_delivered_with_a_signature_openssl_agrees_with() {
    let (url, mut rx) = receiver(204, Duration::ZERO).await;
    let body = br#"{"type":"certificate.expiring","certificate":"6f1c2a","not_after":"2026-12-01T00:00:00Z"}"#;
    let secret = "whsec_test_5d1f";
    let delivered = sender(Duration::from_secs(5))
        .post(&url, secret.as_bytes(), "dlv-42", "certificate.expiring", body)
        .await
        .unwrap();
    assert_eq!(delivered.status, 204);

    let got = rx.recv().await.unwrap();
    assert_eq!(got.body, body);
    assert_eq!(got.headers["content-type"], "application/json");
    assert_eq!(got.headers[DELIVERY_HEADER], "dlv-42");
    assert_eq!(got.headers[EVENT_HEADER], "certificate.expiring");
    let signature = got.headers[SIGNATURE_HEADER].to_str().unwrap().to_string();
    let (t, v1) = signature.split_once(',').unwrap();
    let t = t.strip_prefix("t=").unwrap();
    let v1 = v1.strip_prefix("v1=").unwrap();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    assert!(now.abs_diff(t.parse::<u64>().unwrap()) < 60, "the timestamp is the send time");

    // An independent implementation over "<t>." + body.
    let mut signed = format!("{t}.").into_bytes();
    signed.extend_from_slice(&got.body);
    assert_eq!(openssl_hmac(secret, &signed), v1);

    // And our receiver-side check, which refuses a changed body or an old delivery.
    let tolerance = Duration::from_secs(300);
    assert_eq!(notify::verify(secret.as_bytes(), &signature, &got.body, now, tolerance), Ok(()));
    assert!(notify::verify(secret.as_bytes(), &signature, b"{}", now, tolerance).is_err());
    assert!(notify::verify(secret.as_bytes(), &signature, &got.body, now + 3600, tolerance).is_err());
}

#[tokio::test]
async fn failed_deliveries_say_whether_to_retry() {
    let s = sender(Duration::from_millis(500));
    for (status, retryable) in
        [(500, true), (503, true), (429, true), (408, true), (410, false), (400, false), (404, false)]
    {
        let (url, mut rx) = receiver(status, Duration::ZERO).await;
        let err = s.post(&url, b"k", "d1", "test", b"{}").await.unwrap_err();
        assert_eq!(err.status, Some(status));
        assert_eq!(err.retryable, retryable, "HTTP {status}: {err}");
        assert!(err.message.contains("receiver says so"), "{err}");
        assert!(rx.recv().await.is_some(), "the request reached the receiver");
    }

    // A receiver that does not answer in time.
    let (url, _rx) = receiver(200, Duration::from_secs(10)).await;
    let started = std::time::Instant::now();
    let err = s.post(&url, b"k", "d2", "test", b"{}").await.unwrap_err();
    assert!(err.retryable && err.status.is_none(), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5), "the timeout applies");

    // Nobody listening.
    let err = s.post(&format!("http://127.0.0.1:{}/hook", free_port()), b"k", "d3", "test", b"{}").await.unwrap_err();
    assert!(err.retryable && err.status.is_none(), "{err}");
}
