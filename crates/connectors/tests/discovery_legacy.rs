//! The legacy chain reader against real `openssl s_server` instances speaking TLS 1.0, 1.1 and 1.2 with suites
//! rustls refuses, against servers that refuse or do not speak TLS, and against hostile stand-ins that announce
//! huge messages, trickle or flood.

mod common;

use certwright_connectors::discovery::legacy::{
    fetch_chain, AlertDescription, AlertLevel, LegacyError, LegacyHandshake, LegacyVersion, DEFAULT_LIMIT_BYTES,
};
use common::{free_port, openssl, require, Proc};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The deadline every fetch runs under, as the scanner would apply it.
const DEADLINE: Duration = Duration::from_secs(10);

/// Test certificates in a temporary directory: `ca` and the `leaf` it signed, and two self-signed RSA-2048
/// certificates, `self` and `named` (the one served for SNI `legacy.test`). Each has `<name>.pem`, `<name>.key`
/// and `<name>.der`.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Pki {
        require("openssl", "openssl");
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let rsa = ["-newkey", "rsa:2048", "-nodes", "-days", "2"];
        let self_signed = |name: &str, subject: &str, extra: &[&str]| {
            let (key, pem) = (format!("{name}.key"), format!("{name}.pem"));
            let args = [&["req", "-x509"][..], &rsa, &["-keyout", &key, "-out", &pem, "-subj", subject], extra];
            openssl(d, &args.concat());
        };
        self_signed("ca", "/CN=Legacy Test CA", &["-addext", "basicConstraints=critical,CA:TRUE"]);
        self_signed("self", "/CN=localhost", &[]);
        self_signed("named", "/CN=legacy.test", &[]);
        openssl(
            d,
            &["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "leaf.key", "-out", "leaf.csr"]
                .iter()
                .copied()
                .chain(["-subj", "/CN=legacy-leaf.test"])
                .collect::<Vec<_>>(),
        );
        openssl(
            d,
            &["x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial"]
                .iter()
                .copied()
                .chain(["-out", "leaf.pem", "-days", "2"])
                .collect::<Vec<_>>(),
        );
        for name in ["ca", "leaf", "self", "named"] {
            let (pem, der) = (format!("{name}.pem"), format!("{name}.der"));
            openssl(d, &["x509", "-in", &pem, "-outform", "DER", "-out", &der]);
        }
        Pki { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn der(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path().join(format!("{name}.der"))).unwrap()
    }
}

/// A running `openssl s_server -www` (which keeps serving without stdin) on a loopback port.
struct SServer {
    port: u16,
    _proc: Proc,
}

impl SServer {
    /// Starts `openssl s_server` in the PKI directory with `args` and waits until it accepts connections.
    async fn start(pki: &Pki, args: &[&str]) -> SServer {
        let port = free_port();
        let mut cmd = Command::new("openssl");
        cmd.current_dir(pki.path()).args(["s_server", "-accept", &format!("127.0.0.1:{port}"), "-www"]).args(args);
        let mut proc = Proc::spawn("s_server", cmd, pki.path());
        for _ in 0..100 {
            proc.assert_running(pki.path());
            if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                return SServer { port, _proc: proc };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("openssl s_server did not listen on {port}");
    }

    async fn fetch(&self, sni: Option<&str>, max: LegacyVersion) -> Result<LegacyHandshake, LegacyError> {
        fetch_from(self.port, sni, max, DEFAULT_LIMIT_BYTES).await
    }
}

/// Connects to a loopback port and reads its chain under [`DEADLINE`].
async fn fetch_from(
    port: u16,
    sni: Option<&str>,
    max: LegacyVersion,
    limit: usize,
) -> Result<LegacyHandshake, LegacyError> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    tokio::time::timeout(DEADLINE, fetch_chain(&mut stream, sni, max, limit)).await?
}

#[tokio::test]
async fn tls10_server_with_rsa_key_exchange_gives_leaf_and_ca() {
    let pki = Pki::new();
    let server = SServer::start(
        &pki,
        &[
            "-tls1",
            "-cipher",
            "AES128-SHA:@SECLEVEL=0",
            "-cert",
            "leaf.pem",
            "-key",
            "leaf.key",
            "-cert_chain",
            "ca.pem",
        ],
    )
    .await;
    let h = server.fetch(Some("localhost"), LegacyVersion::Tls12).await.unwrap();
    assert_eq!(h.version, "TLSv1");
    assert_eq!(h.cipher, "TLS_RSA_WITH_AES_128_CBC_SHA");
    assert_eq!(h.chain, vec![pki.der("leaf"), pki.der("ca")]);
}

#[tokio::test]
async fn tls10_server_offering_every_suite_picks_one_we_can_name() {
    let pki = Pki::new();
    let server = SServer::start(
        &pki,
        &["-tls1", "-cipher", "ALL:@SECLEVEL=0", "-cert", "leaf.pem", "-key", "leaf.key", "-cert_chain", "ca.pem"],
    )
    .await;
    let h = server.fetch(None, LegacyVersion::Tls10).await.unwrap();
    assert_eq!(h.version, "TLSv1");
    // The server follows our order: the first suite usable with TLS 1.0 and an RSA certificate.
    assert_eq!(h.cipher, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA");
    assert_eq!(h.chain, vec![pki.der("leaf"), pki.der("ca")]);
}

#[tokio::test]
async fn tls11_server_with_dhe_camellia_is_read() {
    let pki = Pki::new();
    let server = SServer::start(
        &pki,
        &["-tls1_1", "-cipher", "DHE-RSA-CAMELLIA128-SHA:@SECLEVEL=0", "-cert", "self.pem", "-key", "self.key"],
    )
    .await;
    let h = server.fetch(None, LegacyVersion::Tls11).await.unwrap();
    assert_eq!((h.version, h.cipher.as_str()), ("TLSv1.1", "TLS_DHE_RSA_WITH_CAMELLIA_128_CBC_SHA"));
    assert_eq!(h.chain, vec![pki.der("self")]);
}

#[tokio::test]
async fn tls12_ecdhe_server_is_read_too() {
    let pki = Pki::new();
    let server = SServer::start(
        &pki,
        &["-tls1_2", "-cipher", "ECDHE-RSA-AES256-GCM-SHA384", "-cert", "self.pem", "-key", "self.key"],
    )
    .await;
    let h = server.fetch(Some("localhost"), LegacyVersion::Tls12).await.unwrap();
    assert_eq!(h.version, "TLSv1.2");
    assert_eq!(h.cipher, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384");
    assert_eq!(h.chain, vec![pki.der("self")]);
}

#[tokio::test]
async fn sni_selects_the_certificate_the_server_sends() {
    let pki = Pki::new();
    let server = SServer::start(
        &pki,
        &["-tls1_2", "-cert", "self.pem", "-key", "self.key"]
            .into_iter()
            .chain(["-servername", "legacy.test", "-cert2", "named.pem", "-key2", "named.key"])
            .collect::<Vec<_>>(),
    )
    .await;
    let named = server.fetch(Some("legacy.test"), LegacyVersion::Tls12).await.unwrap();
    assert_eq!(named.chain, vec![pki.der("named")]);
    let default = server.fetch(None, LegacyVersion::Tls12).await.unwrap();
    assert_eq!(default.chain, vec![pki.der("self")]);
    let by_ip = server.fetch(Some("127.0.0.1"), LegacyVersion::Tls12).await.unwrap();
    assert_eq!(by_ip.chain, vec![pki.der("self")]);
}

#[tokio::test]
async fn tls13_only_server_answers_with_a_protocol_version_alert() {
    let pki = Pki::new();
    let server = SServer::start(&pki, &["-tls1_3", "-cert", "self.pem", "-key", "self.key"]).await;
    match server.fetch(Some("localhost"), LegacyVersion::Tls12).await {
        Err(LegacyError::Alert { level, description }) => {
            assert_eq!(level, AlertLevel::Fatal);
            assert_eq!(description, AlertDescription::PROTOCOL_VERSION);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn tls12_only_server_refuses_a_tls10_hello() {
    let pki = Pki::new();
    let server = SServer::start(&pki, &["-tls1_2", "-cert", "self.pem", "-key", "self.key"]).await;
    let e = server.fetch(None, LegacyVersion::Tls10).await.unwrap_err();
    assert!(matches!(e, LegacyError::Alert { description: AlertDescription::PROTOCOL_VERSION, .. }), "{e:?}");
    assert_eq!(e.code(), "discovery.legacy.alert");
}

#[tokio::test]
async fn http_server_is_not_tls() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut hello = [0u8; 64];
        let _ = socket.read(&mut hello).await;
        let _ = socket.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").await;
    });
    match fetch_from(port, Some("localhost"), LegacyVersion::Tls12, DEFAULT_LIMIT_BYTES).await {
        Err(LegacyError::NotTls(m)) => assert!(m.contains("HTTP/1.1 400 Bad Request"), "{m}"),
        other => panic!("{other:?}"),
    }
}

/// A ServerHello record choosing TLS 1.0 and TLS_RSA_WITH_AES_128_CBC_SHA.
fn server_hello_record() -> Vec<u8> {
    let mut body = vec![3, 1];
    body.extend_from_slice(&[1; 32]);
    body.extend_from_slice(&[0, 0x00, 0x2f, 0]);
    let mut message = vec![2, 0, 0, body.len() as u8];
    message.extend_from_slice(&body);
    let mut record = vec![22, 3, 1, 0, message.len() as u8];
    record.extend_from_slice(&message);
    record
}

/// A stand-in server on a loopback port: reads the ClientHello, writes `opening`, then calls `then` with the
/// socket until it returns false or the peer goes away.
async fn hostile<F>(opening: Vec<u8>, mut then: F) -> u16
where
    F: FnMut() -> (Vec<u8>, Duration) + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut hello = [0u8; 1024];
        let _ = socket.read(&mut hello).await;
        if socket.write_all(&opening).await.is_err() {
            return;
        }
        loop {
            let (bytes, pause) = then();
            if socket.write_all(&bytes).await.is_err() {
                return;
            }
            tokio::time::sleep(pause).await;
        }
    });
    port
}

#[tokio::test]
async fn server_announcing_a_16_mb_certificate_is_refused_at_once() {
    let mut opening = server_hello_record();
    // A Certificate message claiming 16 MiB - 1, then one byte every 100 ms.
    opening.extend_from_slice(&[22, 3, 1, 0x40, 0x00, 11, 0xff, 0xff, 0xff]);
    let port = hostile(opening, || (vec![0x30], Duration::from_millis(100))).await;
    let started = Instant::now();
    let e = fetch_from(port, None, LegacyVersion::Tls12, DEFAULT_LIMIT_BYTES).await.unwrap_err();
    assert!(matches!(e, LegacyError::TooLarge { limit: DEFAULT_LIMIT_BYTES }), "{e:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn trickling_server_is_cut_by_the_callers_deadline() {
    let mut opening = server_hello_record();
    // A plausible 100 kB certificate that never completes.
    opening.extend_from_slice(&[22, 3, 1, 0x40, 0x00, 11, 0x01, 0x86, 0xa0]);
    let port = hostile(opening, || (vec![0x30], Duration::from_millis(50))).await;
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let started = Instant::now();
    let deadline = Duration::from_millis(800);
    let result =
        tokio::time::timeout(deadline, fetch_chain(&mut stream, None, LegacyVersion::Tls12, DEFAULT_LIMIT_BYTES)).await;
    let e: LegacyError = match result {
        Err(elapsed) => elapsed.into(),
        Ok(other) => panic!("{other:?}"),
    };
    assert!(matches!(e, LegacyError::Timeout));
    assert!(started.elapsed() < deadline + Duration::from_secs(1));
}

#[tokio::test]
async fn flooding_server_is_stopped_at_the_byte_limit() {
    // Endless empty HelloRequest messages: each valid, none ever a certificate.
    let flood: Vec<u8> = [22, 3, 1, 0, 4, 0, 0, 0, 0].repeat(1000);
    let port = hostile(server_hello_record(), move || (flood.clone(), Duration::ZERO)).await;
    let limit = 64 * 1024;
    let e = fetch_from(port, None, LegacyVersion::Tls12, limit).await.unwrap_err();
    assert!(matches!(e, LegacyError::TooLarge { limit: l } if l == limit), "{e:?}");
}

#[tokio::test]
async fn server_closing_without_a_word_is_reported_closed() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut hello = [0u8; 1024];
        let _ = socket.read(&mut hello).await;
    });
    let e = fetch_from(port, None, LegacyVersion::Tls12, DEFAULT_LIMIT_BYTES).await.unwrap_err();
    assert!(matches!(e, LegacyError::Closed), "{e:?}");
    assert!(e.may_succeed_with_lower_version());
}
