//! ACME challenge validation and CAA against real servers: `pebble-challtestsrv` (mock DNS, http-01 and https
//! responders, tls-alpn-01 responder), `openssl s_server` with certificates made by `openssl` for the tls-alpn-01
//! cases challtestsrv cannot serve (IP identifiers, broken certificates, no ALPN), `dnsmasq` for CAA records with
//! the critical flag and for compressed answers (challtestsrv never compresses), an axum server for HTTP statuses,
//! and hostile servers written here (endless bodies, stalled responses, garbage DNS).

mod common;

use certwright_connectors::acme::dns01_txt_value;
use certwright_connectors::challenge::{CaaRecord, ChallengeError, Ident, ResolverConfig, Validator};
use common::{free_port, openssl, require, ChallTestSrv, Proc};
use serde_json::json;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const KA: &str = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI";
const ACCOUNT: &str = "https://ca.certwright.test/acme/acct/1";
const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn config(cts: &ChallTestSrv) -> ResolverConfig {
    ResolverConfig {
        dns_server: Some(cts.dns),
        http01_port: cts.http01_port,
        https_port: cts.https01_port,
        tlsalpn01_port: cts.tlsalpn01_port,
        timeout: Duration::from_secs(5),
        ..Default::default()
    }
}

fn validator(config: ResolverConfig) -> Validator {
    Validator::new(config).unwrap()
}

fn dns(name: &str) -> Ident {
    Ident::Dns(name.to_string())
}

#[track_caller]
fn assert_type(result: Result<(), ChallengeError>, acme_type: &str, detail_contains: &str) -> String {
    let err = result.expect_err("validation should fail");
    assert_eq!(err.acme_type(), acme_type, "{err}");
    assert!(err.detail().contains(detail_contains), "{:?} does not contain {detail_contains:?}", err.detail());
    err.to_string()
}

#[tokio::test]
async fn http01_passes_with_the_key_authorization_and_fails_typed_otherwise() {
    let cts = ChallTestSrv::start().await;
    let v = validator(config(&cts));
    cts.post("/add-http01", json!({ "token": "tok-1", "content": KA })).await;

    v.http01(&dns("www.certwright.test"), "tok-1", KA).await.unwrap();
    v.http01(&dns("WWW.CertWright.test."), "tok-1", KA).await.unwrap();
    v.http01(&Ident::Ip(LOCALHOST), "tok-1", KA).await.unwrap();

    let err =
        assert_type(v.http01(&dns("www.certwright.test"), "tok-1", "tok-1.other").await, "incorrectResponse", "tok-1");
    assert!(err.contains(&format!("www.certwright.test (127.0.0.1:{})", cts.http01_port)), "{err}");
    assert!(err.contains(KA), "the detail shows what was served: {err}");
    // challtestsrv answers 200 with an empty body for a token it does not know.
    assert_type(v.http01(&dns("www.certwright.test"), "unknown", KA).await, "incorrectResponse", "an empty body");

    let closed = validator(ResolverConfig { http01_port: free_port(), ..config(&cts) });
    assert_type(closed.http01(&dns("www.certwright.test"), "tok-1", KA).await, "connection", "cannot fetch");

    cts.post("/set-servfail", json!({ "host": "broken.certwright.test" })).await;
    assert_type(v.http01(&dns("broken.certwright.test"), "tok-1", KA).await, "dns", "SERVFAIL");
    cts.post("/set-default-ipv4", json!({ "ip": "" })).await;
    assert_type(v.http01(&dns("nowhere.certwright.test"), "tok-1", KA).await, "dns", "no A or AAAA records");
}

#[tokio::test]
async fn http01_follows_redirects_within_limits() {
    let cts = ChallTestSrv::start().await;
    let v = validator(config(&cts));
    let (http, https) = (cts.http01_port, cts.https01_port);
    cts.post("/add-http01", json!({ "token": "final", "content": KA })).await;
    let redirect =
        |from: &str, to: String| json!({ "path": format!("/.well-known/acme-challenge/{from}"), "targetURL": to });

    cts.post(
        "/add-redirect",
        redirect("hop", format!("http://next.certwright.test:{http}/.well-known/acme-challenge/final")),
    )
    .await;
    v.http01(&dns("www.certwright.test"), "hop", KA).await.unwrap();
    // To https on the https port: challtestsrv's self-signed certificate is not checked.
    cts.post(
        "/add-redirect",
        redirect("secure", format!("https://127.0.0.1:{https}/.well-known/acme-challenge/final")),
    )
    .await;
    v.http01(&dns("www.certwright.test"), "secure", KA).await.unwrap();

    cts.post("/add-redirect", redirect("loop", format!("http://127.0.0.1:{http}/.well-known/acme-challenge/loop")))
        .await;
    assert_type(v.http01(&dns("www.certwright.test"), "loop", KA).await, "connection", "more than 10 redirects");
    let port = free_port();
    cts.post("/add-redirect", redirect("port", format!("http://127.0.0.1:{port}/.well-known/acme-challenge/final")))
        .await;
    assert_type(v.http01(&dns("www.certwright.test"), "port", KA).await, "connection", "only port");
    cts.post("/add-redirect", redirect("ftp", "ftp://127.0.0.1/final".into())).await;
    assert_type(v.http01(&dns("www.certwright.test"), "ftp", KA).await, "connection", "ftp scheme");
}

/// An HTTP responder that records the `Host` it was sent: 404 for `missing`, the key authorization with trailing
/// whitespace for anything else.
async fn axum_responder() -> (u16, Arc<Mutex<Vec<String>>>) {
    let hosts = Arc::new(Mutex::new(Vec::new()));
    let seen = hosts.clone();
    let app = axum::Router::new().route(
        "/.well-known/acme-challenge/{token}",
        axum::routing::get(
            move |axum::extract::Path(token): axum::extract::Path<String>, headers: axum::http::HeaderMap| {
                let seen = seen.clone();
                async move {
                    let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("").to_string();
                    seen.lock().unwrap().push(host);
                    match token.as_str() {
                        "missing" => (axum::http::StatusCode::NOT_FOUND, String::new()),
                        _ => (axum::http::StatusCode::OK, format!("{KA}\r\n \t\n")),
                    }
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (port, hosts)
}

#[tokio::test]
async fn overrides_send_the_identifier_as_host_and_statuses_are_reported() {
    let (port, hosts) = axum_responder().await;
    // No DNS server: the override alone makes the name reachable.
    let overrides = HashMap::from([("App.CertWright.test".to_string(), vec![LOCALHOST])]);
    let v = validator(ResolverConfig {
        overrides,
        http01_port: port,
        timeout: Duration::from_secs(5),
        ..Default::default()
    });
    v.http01(&dns("app.certwright.test"), "padded", KA).await.unwrap();
    v.http01(&Ident::Ip(LOCALHOST), "padded", KA).await.unwrap();
    assert_eq!(*hosts.lock().unwrap(), vec!["app.certwright.test".to_string(), "127.0.0.1".to_string()]);

    let err = v.http01(&Ident::Ip(LOCALHOST), "missing", KA).await.unwrap_err();
    assert_eq!(err.acme_type(), "unauthorized");
    assert_eq!(err.detail(), format!("http-01: 127.0.0.1:{port} answered 404 for /.well-known/acme-challenge/missing"));
}

#[tokio::test]
async fn overrides_take_precedence_over_dns() {
    let cts = ChallTestSrv::start().await;
    cts.post("/add-http01", json!({ "token": "tok", "content": KA })).await;
    cts.post("/add-tlsalpn01", json!({ "host": "moved.certwright.test", "content": KA })).await;
    // DNS says 127.0.0.2, where nothing listens (challtestsrv is bound to 127.0.0.1 only).
    cts.post("/add-a", json!({ "host": "moved.certwright.test", "addresses": ["127.0.0.2"] })).await;
    let plain = validator(config(&cts));
    assert_type(plain.http01(&dns("moved.certwright.test"), "tok", KA).await, "connection", "127.0.0.2");
    assert_type(plain.tls_alpn01(&dns("moved.certwright.test"), KA).await, "connection", "127.0.0.2");

    let overrides = HashMap::from([("moved.certwright.test".to_string(), vec![LOCALHOST])]);
    let overridden = validator(ResolverConfig { overrides, ..config(&cts) });
    overridden.http01(&dns("moved.certwright.test"), "tok", KA).await.unwrap();
    overridden.tls_alpn01(&dns("moved.certwright.test"), KA).await.unwrap();
}

/// A deliberately bad HTTP server: what it does depends on the token asked for.
async fn hostile_http_server() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else { return };
            tokio::spawn(async move {
                let mut head = vec![0u8; 2048];
                let n = socket.read(&mut head).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&head[..n]).to_string();
                let socket = &mut socket;
                if head.contains("/huge ") {
                    // A declared length far over the limit, and a body to match.
                    if send(socket, b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n").await {
                        let _ = send(socket, &vec![b'a'; 1_000_000]).await;
                    }
                } else if head.contains("/endless ") {
                    // Chunked, no length, never ends (bounded here so the task stops).
                    if send(socket, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n").await {
                        for _ in 0..10_000 {
                            let chunk = format!("400\r\n{}\r\n", "b".repeat(1024));
                            if !send(socket, chunk.as_bytes()).await {
                                break;
                            }
                        }
                    }
                } else if head.contains("/stall ") {
                    // Slowloris: a status line, then nothing.
                    let _ = send(socket, b"HTTP/1.1 200 OK\r\n").await;
                    tokio::time::sleep(Duration::from_secs(30)).await;
                } else if head.contains("/trickle ") {
                    // A small body sent one byte every 300 ms.
                    if send(socket, b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n").await {
                        for _ in 0..100 {
                            tokio::time::sleep(Duration::from_millis(300)).await;
                            if !send(socket, b"c").await {
                                break;
                            }
                        }
                    }
                }
            });
        }
    });
    port
}

async fn send(socket: &mut tokio::net::TcpStream, bytes: &[u8]) -> bool {
    socket.write_all(bytes).await.is_ok()
}

#[tokio::test]
async fn hostile_http_servers_are_cut_off() {
    let port = hostile_http_server().await;
    let v = validator(ResolverConfig { http01_port: port, timeout: Duration::from_secs(1), ..Default::default() });
    let ip = Ident::Ip(LOCALHOST);
    assert_type(v.http01(&ip, "huge", KA).await, "incorrectResponse", "longer than 4096 bytes");
    assert_type(v.http01(&ip, "endless", KA).await, "incorrectResponse", "longer than 4096 bytes");
    for token in ["stall", "trickle"] {
        let started = Instant::now();
        assert_type(v.http01(&ip, token, KA).await, "connection", "127.0.0.1");
        assert!(started.elapsed() < Duration::from_secs(4), "{token} took {:?}", started.elapsed());
    }
}

#[tokio::test]
async fn dns01_reads_txt_records_through_cnames() {
    let cts = ChallTestSrv::start().await;
    let v = validator(config(&cts));
    cts.post("/set-txt", json!({ "host": "_acme-challenge.dns.certwright.test.", "value": "unrelated" })).await;
    cts.post("/set-txt", json!({ "host": "_acme-challenge.dns.certwright.test.", "value": dns01_txt_value(KA) })).await;

    v.dns01("dns.certwright.test", KA).await.unwrap();
    v.dns01("*.dns.certwright.test", KA).await.unwrap();
    let err = assert_type(v.dns01("dns.certwright.test", "other-ka").await, "incorrectResponse", "_acme-challenge.dns");
    assert!(err.contains(&dns01_txt_value(KA)) && err.contains("unrelated"), "found values are shown: {err}");
    assert_type(v.dns01("empty.certwright.test", KA).await, "unauthorized", "no TXT record at _acme-challenge.empty");

    cts.post(
        "/set-cname",
        json!({ "host": "_acme-challenge.alias.certwright.test.", "target": "_acme-challenge.dns.certwright.test." }),
    )
    .await;
    v.dns01("alias.certwright.test", KA).await.unwrap();

    cts.post("/set-servfail", json!({ "host": "_acme-challenge.broken.certwright.test." })).await;
    assert_type(v.dns01("broken.certwright.test", KA).await, "dns", "SERVFAIL");
    let dead = free_port();
    let nobody = validator(ResolverConfig { dns_server: Some(([127, 0, 0, 1], dead).into()), ..config(&cts) });
    let started = Instant::now();
    assert_type(nobody.dns01("dns.certwright.test", KA).await, "dns", &format!("127.0.0.1:{dead}"));
    assert!(started.elapsed() < Duration::from_secs(5), "a refused port fails fast: {:?}", started.elapsed());
}

#[tokio::test]
async fn tls_alpn01_against_challtestsrv() {
    let cts = ChallTestSrv::start().await;
    let v = validator(config(&cts));
    cts.post("/add-tlsalpn01", json!({ "host": "tls.certwright.test", "content": KA })).await;

    v.tls_alpn01(&dns("tls.certwright.test"), KA).await.unwrap();
    assert_type(v.tls_alpn01(&dns("tls.certwright.test"), "other-ka").await, "incorrectResponse", "not SHA-256");
    // challtestsrv aborts the handshake for a name it has no response for.
    assert_type(v.tls_alpn01(&dns("unknown.certwright.test"), KA).await, "tls", "handshake");
    let closed = validator(ResolverConfig { tlsalpn01_port: free_port(), ..config(&cts) });
    assert_type(closed.tls_alpn01(&dns("tls.certwright.test"), KA).await, "connection", "cannot connect");
}

/// A self-signed tls-alpn-01 certificate made by openssl: `san` as given, the acmeIdentifier extension over
/// `key_authorization` (critical or not).
fn alpn_certificate(dir: &Path, tag: &str, san: &str, key_authorization: &str, critical: bool) {
    alpn_certificate_with_key(
        dir,
        tag,
        san,
        key_authorization,
        critical,
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
    );
}

/// The same with the key made by openssl's `key` arguments (`-newkey rsa:2048`, …).
fn alpn_certificate_with_key(dir: &Path, tag: &str, san: &str, key_authorization: &str, critical: bool, key: &[&str]) {
    std::fs::write(dir.join("ka.txt"), key_authorization).unwrap();
    let digest = openssl(dir, &["dgst", "-sha256", "-r", "ka.txt"]);
    let hex = digest.split_whitespace().next().unwrap().to_string();
    let ext = format!("1.3.6.1.5.5.7.1.31={}DER:0420{hex}", if critical { "critical," } else { "" });
    let (keyout, out, san) = (format!("{tag}.key"), format!("{tag}.pem"), format!("subjectAltName={san}"));
    let mut args = vec!["req", "-x509", "-nodes", "-days", "1", "-subj", "/CN=acme tls-alpn-01"];
    args.extend_from_slice(key);
    args.extend_from_slice(&["-keyout", &keyout, "-out", &out, "-addext", &san, "-addext", &ext]);
    openssl(dir, &args);
}

/// `openssl s_server` with certificate `tag`, offering ALPN `alpn` (or none), with `extra` arguments, until dropped.
async fn s_server_with(dir: &Path, tag: &str, alpn: Option<&str>, extra: &[&str]) -> (Proc, u16) {
    let port = free_port();
    let mut cmd = Command::new("openssl");
    cmd.current_dir(dir).args(["s_server", "-www", "-accept", &format!("127.0.0.1:{port}")]);
    cmd.args(["-cert", &format!("{tag}.pem"), "-key", &format!("{tag}.key")]);
    if let Some(alpn) = alpn {
        cmd.args(["-alpn", alpn]);
    }
    cmd.args(extra);
    let mut proc = Proc::spawn("s_server", cmd, dir);
    for _ in 0..100 {
        proc.assert_running(dir);
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return (proc, port);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("openssl s_server did not listen on {port}");
}

async fn s_server(dir: &Path, tag: &str, alpn: Option<&str>) -> (Proc, u16) {
    s_server_with(dir, tag, alpn, &[]).await
}

#[tokio::test]
async fn tls_alpn01_checks_certificates_made_by_openssl() {
    require("openssl", "openssl");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    alpn_certificate(d, "ip", "IP:127.0.0.1", KA, true);
    alpn_certificate(d, "loose", "IP:127.0.0.1", KA, false);
    alpn_certificate(d, "two", "IP:127.0.0.1,DNS:extra.certwright.test", KA, true);
    alpn_certificate(d, "elsewhere", "IP:127.0.0.2", KA, true);
    alpn_certificate(d, "named", "DNS:named.certwright.test", KA, true);
    alpn_certificate_with_key(d, "rsa", "IP:127.0.0.1", KA, true, &["-newkey", "rsa:2048"]);
    let ip = Ident::Ip(LOCALHOST);
    let on = |port: u16| {
        let overrides = HashMap::from([("named.certwright.test".to_string(), vec![LOCALHOST])]);
        validator(ResolverConfig {
            tlsalpn01_port: port,
            overrides,
            timeout: Duration::from_secs(5),
            ..Default::default()
        })
    };

    let (_server, port) = s_server(d, "ip", Some("acme-tls/1")).await;
    on(port).tls_alpn01(&ip, KA).await.unwrap();
    assert_type(on(port).tls_alpn01(&ip, "other-ka").await, "incorrectResponse", "not SHA-256");
    assert_type(on(port).tls_alpn01(&dns("named.certwright.test"), KA).await, "incorrectResponse", "IP:127.0.0.1");

    // TLS 1.2: the handshake signature is checked against the certificate's key on that path too.
    let (_server, port) = s_server_with(d, "ip", Some("acme-tls/1"), &["-tls1_2"]).await;
    on(port).tls_alpn01(&ip, KA).await.unwrap();
    let (_server, port) = s_server_with(d, "rsa", Some("acme-tls/1"), &["-tls1_2"]).await;
    on(port).tls_alpn01(&ip, KA).await.unwrap();
    let (_server, port) = s_server(d, "rsa", Some("acme-tls/1")).await;
    on(port).tls_alpn01(&ip, KA).await.unwrap();

    // A server that knows only h2 refuses the handshake; one without ALPN completes it without a protocol.
    let (_server, port) = s_server(d, "ip", Some("h2")).await;
    assert_type(on(port).tls_alpn01(&ip, KA).await, "unauthorized", "did not negotiate the acme-tls/1");
    let (_server, port) = s_server(d, "ip", None).await;
    assert_type(on(port).tls_alpn01(&ip, KA).await, "unauthorized", "did not negotiate the acme-tls/1");
    let (_server, port) = s_server(d, "loose", Some("acme-tls/1")).await;
    assert_type(on(port).tls_alpn01(&ip, KA).await, "incorrectResponse", "not marked critical");
    let (_server, port) = s_server(d, "two", Some("acme-tls/1")).await;
    assert_type(on(port).tls_alpn01(&ip, KA).await, "incorrectResponse", "2 subjectAltName entries");
    let (_server, port) = s_server(d, "elsewhere", Some("acme-tls/1")).await;
    assert_type(on(port).tls_alpn01(&ip, KA).await, "incorrectResponse", "IP:127.0.0.2");
    let (_server, port) = s_server(d, "named", Some("acme-tls/1")).await;
    on(port).tls_alpn01(&dns("named.certwright.test"), KA).await.unwrap();
}

fn rec(tag: &str, value: &str) -> CaaRecord {
    CaaRecord { critical: false, tag: tag.into(), value: value.into() }
}

#[tokio::test]
async fn caa_records_from_challtestsrv_are_found_and_evaluated() {
    let cts = ChallTestSrv::start().await;
    let v = validator(config(&cts));
    let caa = |host: &str, policies: &[(&str, &str)]| {
        let policies: Vec<_> = policies.iter().map(|(t, val)| json!({ "tag": t, "value": val })).collect();
        json!({ "host": host, "policies": policies })
    };
    cts.post("/add-caa", caa("caa.certwright.test", &[("issue", "certwright.test"), ("iodef", "mailto:x@y.test")]))
        .await;
    cts.post("/add-caa", caa("wild.certwright.test", &[("issue", "certwright.test"), ("issuewild", "other.test")]))
        .await;
    cts.post("/add-caa", caa("acct.certwright.test", &[("issue", &format!("certwright.test; accounturi={ACCOUNT}"))]))
        .await;
    cts.post(
        "/add-caa",
        caa("methods.certwright.test", &[("issue", "certwright.test; validationmethods=dns-01,tls-alpn-01")]),
    )
    .await;
    cts.post("/add-caa", caa("target.certwright.test", &[("issue", "other.test")])).await;
    cts.post("/set-cname", json!({ "host": "alias.certwright.test.", "target": "target.certwright.test." })).await;
    cts.post("/set-servfail", json!({ "host": "broken.certwright.test" })).await;
    let ours = vec!["certwright.test".to_string()];
    let check = |name: &'static str, method: &'static str| {
        let (v, ours) = (v.clone(), ours.clone());
        async move { v.check_caa(name, &ours, ACCOUNT, method).await }
    };

    let found = v.caa("caa.certwright.test").await.unwrap();
    assert_eq!(found, vec![rec("issue", "certwright.test"), rec("iodef", "mailto:x@y.test")]);
    assert_eq!(v.caa("deep.sub.caa.certwright.test").await.unwrap(), found, "climbs to the parent");
    check("deep.sub.caa.certwright.test", "http-01").await.unwrap();
    assert_eq!(v.caa("none.certwright.test").await.unwrap(), vec![], "no CAA anywhere up the tree");
    check("none.certwright.test", "http-01").await.unwrap();

    check("wild.certwright.test", "dns-01").await.unwrap();
    assert_type(check("*.wild.certwright.test", "dns-01").await, "caa", "no issuewild record");
    check("*.caa.certwright.test", "dns-01").await.unwrap(); // no issuewild there: issue decides

    check("acct.certwright.test", "http-01").await.unwrap();
    let other = v.check_caa("acct.certwright.test", &ours, "https://ca.certwright.test/acme/acct/2", "http-01").await;
    assert_type(other, "caa", "bound to another account");

    check("methods.certwright.test", "dns-01").await.unwrap();
    check("methods.certwright.test", "tls-alpn-01").await.unwrap();
    assert_type(check("methods.certwright.test", "http-01").await, "caa", "allows only dns-01,tls-alpn-01");

    assert_eq!(v.caa("alias.certwright.test").await.unwrap(), vec![rec("issue", "other.test")], "through the CNAME");
    assert_type(check("alias.certwright.test", "http-01").await, "caa", "names another CA (other.test)");
    assert_type(check("x.alias.certwright.test", "http-01").await, "caa", "x.alias.certwright.test");

    let err = v.caa("broken.certwright.test").await.unwrap_err();
    assert_eq!(err.acme_type(), "caa");
    assert!(err.detail().contains("SERVFAIL"), "{err}");
}

/// dnsmasq serving the given extra arguments for `certwright.test` (everything else under `test` is NXDOMAIN).
async fn dnsmasq(dir: &Path, records: &[String]) -> (Proc, SocketAddr) {
    let binary = ["/usr/sbin/dnsmasq", "/sbin/dnsmasq"].into_iter().find(|p| Path::new(p).is_file());
    let binary = binary.map(str::to_string).unwrap_or_else(|| {
        require("dnsmasq", "dnsmasq-base");
        "dnsmasq".into()
    });
    let port = free_port();
    let mut cmd = Command::new(binary);
    cmd.args(["--keep-in-foreground", "--bind-interfaces", "--listen-address=127.0.0.1", "--no-resolv", "--no-hosts"])
        .args(["--conf-file=/dev/null", "--pid-file=", "--log-facility=-", "--local=/test/"])
        .arg(format!("--port={port}"))
        .args(records);
    let mut proc = Proc::spawn("dnsmasq", cmd, dir);
    for _ in 0..100 {
        proc.assert_running(dir);
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return (proc, ([127, 0, 0, 1], port).into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("dnsmasq did not listen on {port}");
}

/// A CAA RR's data in dnsmasq's hex notation.
fn caa_hex(flags: u8, tag: &str, value: &str) -> String {
    let mut bytes = vec![flags, tag.len() as u8];
    bytes.extend_from_slice(tag.as_bytes());
    bytes.extend_from_slice(value.as_bytes());
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn critical_caa_flags_and_compressed_answers_from_dnsmasq() {
    let dir = tempfile::tempdir().unwrap();
    let records = [
        format!("--dns-rr=crit.certwright.test,257,{}", caa_hex(128, "tbs", "unknown")),
        format!("--dns-rr=crit.certwright.test,257,{}", caa_hex(0, "issue", "certwright.test")),
        format!("--dns-rr=known.certwright.test,257,{}", caa_hex(128, "issue", "certwright.test")),
        "--cname=alias.certwright.test,crit.certwright.test".to_string(),
        format!("--txt-record=_acme-challenge.txt.certwright.test,{}", dns01_txt_value(KA)),
        "--host-record=web.certwright.test,127.0.0.1".to_string(),
    ];
    let (_dnsmasq, server) = dnsmasq(dir.path(), &records).await;
    let (port, _) = axum_responder().await;
    let v = validator(ResolverConfig {
        dns_server: Some(server),
        http01_port: port,
        timeout: Duration::from_secs(5),
        ..Default::default()
    });
    let ours = vec!["certwright.test".to_string()];

    let found = v.caa("crit.certwright.test").await.unwrap();
    assert!(found.contains(&CaaRecord { critical: true, tag: "tbs".into(), value: "unknown".into() }), "{found:?}");
    let err = v.check_caa("crit.certwright.test", &ours, ACCOUNT, "dns-01").await.unwrap_err();
    assert_eq!(err.acme_type(), "caa");
    assert!(err.detail().contains("critical flag"), "{err}");
    // The same records reached through a CNAME, in an answer whose names are compressed.
    assert_eq!(v.caa("alias.certwright.test").await.unwrap(), found);
    // A critical issue property is understood: it permits.
    v.check_caa("sub.known.certwright.test", &ours, ACCOUNT, "dns-01").await.unwrap();
    // NXDOMAIN, then empty answers up to `test`: no CAA at all.
    assert_eq!(v.caa("nothing.certwright.test").await.unwrap(), vec![]);

    v.dns01("txt.certwright.test", KA).await.unwrap();
    v.http01(&dns("web.certwright.test"), "tok", KA).await.unwrap();
}

/// A DNS server that answers every query with `reply(query)` over UDP, and over TCP with a length that promises
/// more than it sends.
async fn hostile_dns(reply: fn(&[u8]) -> Vec<u8>) -> SocketAddr {
    // One port number for both; the UDP port's TCP twin may be taken by someone else, so try a few.
    let mut attempts = 0;
    let (udp, addr, tcp) = loop {
        let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = udp.local_addr().unwrap();
        match tokio::net::TcpListener::bind(addr).await {
            Ok(tcp) => break (udp, addr, tcp),
            Err(_) if attempts < 50 => attempts += 1,
            Err(e) => panic!("no port free for both UDP and TCP: {e}"),
        }
    };
    tokio::spawn(async move {
        let mut buf = vec![0u8; 512];
        while let Ok((n, from)) = udp.recv_from(&mut buf).await {
            let _ = udp.send_to(&reply(&buf[..n]), from).await;
        }
    });
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = tcp.accept().await {
            let _ = socket.write_all(&[0xFF, 0xFF, 1, 2, 3]).await;
        }
    });
    addr
}

#[tokio::test]
async fn hostile_dns_answers_are_errors_not_panics_or_hangs() {
    let timeout = Duration::from_secs(1);
    let with = |server| validator(ResolverConfig { dns_server: Some(server), timeout, ..Default::default() });

    // Our id and question, then an answer count with no answers behind it.
    let broken = hostile_dns(|q| {
        let mut r = q.to_vec();
        r[2] |= 0x80;
        r[7] = 3;
        r
    })
    .await;
    assert_type(with(broken).dns01("x.certwright.test", KA).await, "dns", "malformed answer");
    assert_eq!(with(broken).caa("x.certwright.test").await.unwrap_err().acme_type(), "caa");

    // Only answers to someone else (another id): ignored until the deadline.
    let stranger = hostile_dns(|q| {
        let mut r = q.to_vec();
        r[0] ^= 0xFF;
        r[2] |= 0x80;
        r
    })
    .await;
    let started = Instant::now();
    assert_type(with(stranger).dns01("x.certwright.test", KA).await, "dns", "no answer");
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());

    // "Truncated, ask over TCP", where the TCP answer breaks off.
    let truncating = hostile_dns(|q| {
        let mut r = q.to_vec();
        r[2] |= 0x82;
        r
    })
    .await;
    assert_type(with(truncating).dns01("x.certwright.test", KA).await, "dns", "over TCP");
    let err = with(truncating).http01(&dns("x.certwright.test"), "tok", KA).await.unwrap_err();
    assert_eq!(err.acme_type(), "dns", "{err}");
}
