//! Client certificates on the CZERTAINLY face, on SQLite and PostgreSQL: a certificate issued by certwright's own
//! issuing CA (configured as trusted) calls v2 operations over HTTPS without a token, as `mtls:<CN>` with the
//! configured role; one of a CA that is not trusted fails the handshake; a revoked one is 401; the
//! `ssl-client-cert` header works from the trusted proxy (127.0.0.1) and is ignored from any other peer
//! (127.0.0.2), also with nginx's `$ssl_client_escaped_cert` from a real nginx in front; `client_ca_files`,
//! `client_cert_role` and `client_cert_ra_profiles` apply; and `openssl s_client` sees the server ask for a client
//! certificate only when CAs are configured.

use base64::Engine;
use certwright_testkit::openssl;
use certwright_testkit::{Backend, TestServer};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde_json::{json, Value};
use std::path::Path;

const CLIENT_CN: &str = "robot.example.test";

/// A server trusting its own issuing CA for client certificates, and the proxy at 127.0.0.1.
async fn start(backend: Backend) -> TestServer {
    TestServer::start_with(backend, |c| {
        c.client_ca_authorities = vec!["issuing".to_owned()];
        c.trusted_proxies = vec!["127.0.0.1".to_owned()];
    })
    .await
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// `/api/v2/operations/authorities/{a}/raProfiles/{p}` of the default profile.
async fn v2_base(s: &TestServer) -> String {
    let v = s.get_json("/v1/ra-profiles/default", &s.admin_token).await;
    format!(
        "/api/v2/operations/authorities/{}/raProfiles/{}",
        v["authority"].as_str().unwrap(),
        v["id"].as_str().unwrap()
    )
}

/// A P-256 key `<name>.key` (PKCS#8 PEM) and its CSR for `subject` as Base64 DER.
fn csr(dir: &Path, name: &str, subject: &str) -> String {
    let key = format!("{name}.key");
    openssl::ok(dir, &["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", &key]);
    let out = format!("{name}.csr.der");
    openssl::ok(dir, &["req", "-new", "-key", &key, "-subj", subject, "-outform", "DER", "-out", &out]);
    b64(&std::fs::read(dir.join(out)).unwrap())
}

/// Issues a client certificate through the CZERTAINLY face (admin token); returns its uuid and PEM.
async fn issue_client_certificate(s: &TestServer, dir: &Path, name: &str) -> (String, String) {
    let request = csr(dir, name, &format!("/CN={CLIENT_CN}"));
    let url = s.at(&format!("{}/certificates", v2_base(s).await));
    let resp = s
        .http()
        .post(url)
        .bearer_auth(&s.admin_token)
        .json(&json!({ "request": request, "format": "pkcs10", "attributes": [] }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let v: Value = resp.json().await.unwrap();
    let der = base64::engine::general_purpose::STANDARD.decode(v["certificateData"].as_str().unwrap()).unwrap();
    let pem = certwright_pki::cert::Cert::from_der(&der).unwrap().to_pem();
    (v["uuid"].as_str().unwrap().to_owned(), pem)
}

/// An HTTPS client trusting the server's CA, presenting `identity` (certificate and key PEM) when given.
fn https_client(s: &TestServer, identity: Option<(&str, &Path)>) -> reqwest::Client {
    certwright_testkit::install_crypto_provider();
    let root = std::fs::read(s.data_dir.path().join("data").join("ca.pem")).unwrap();
    let mut b = reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(reqwest::Certificate::from_pem(&root).unwrap());
    if let Some((cert_pem, key)) = identity {
        let mut pem = cert_pem.as_bytes().to_vec();
        pem.extend_from_slice(&std::fs::read(key).unwrap());
        b = b.identity(reqwest::Identity::from_pem(&pem).unwrap());
    }
    b.build().unwrap()
}

/// Status and body text of a GET of the issue attribute definitions.
async fn attributes(client: &reqwest::Client, url: &str, header: Option<&str>) -> reqwest::Result<(u16, String)> {
    let mut req = client.get(url);
    if let Some(h) = header {
        req = req.header("ssl-client-cert", h);
    }
    let resp = req.send().await?;
    let status = resp.status().as_u16();
    Ok((status, resp.text().await?))
}

/// nginx's `$ssl_client_escaped_cert`: the PEM, URL-encoded.
fn escaped(pem: &str) -> String {
    utf8_percent_encode(pem, NON_ALPHANUMERIC).to_string()
}

/// A CA certwright does not know, and a client certificate (clientAuth) it issued: returns the leaf PEM; the key is
/// `stranger.key`.
fn untrusted_client_certificate(dir: &Path) -> String {
    openssl::ok(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "other-ca.key",
            "-out",
            "other-ca.pem",
            "-subj",
            "/CN=Other CA",
            "-days",
            "30",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    openssl::ok(
        dir,
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "stranger.key",
            "-out",
            "stranger.csr",
            "-subj",
            &format!("/CN={CLIENT_CN}"),
        ],
    );
    std::fs::write(dir.join("ext.cnf"), "extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n").unwrap();
    openssl::ok(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "stranger.csr",
            "-CA",
            "other-ca.pem",
            "-CAkey",
            "other-ca.key",
            "-CAcreateserial",
            "-days",
            "10",
            "-extfile",
            "ext.cnf",
            "-out",
            "stranger.pem",
        ],
    );
    std::fs::read_to_string(dir.join("stranger.pem")).unwrap()
}

async fn trusted_client_certificate_calls_v2_operations_without_a_token(s: TestServer) {
    let dir = tempfile::tempdir().unwrap();
    let (_, pem) = issue_client_certificate(&s, dir.path(), "client").await;
    let base = v2_base(&s).await;
    let client = https_client(&s, Some((&pem, &dir.path().join("client.key"))));

    let url = format!("{}{base}/attributes/issue", s.https_url);
    let (status, body) = attributes(&client, &url, None).await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with('['), "{body}");
    // 127.0.0.1 is a trusted proxy: an empty header is none, so the connection's certificate counts; a header with
    // something in it speaks for the client instead of the connection.
    assert_eq!(attributes(&client, &url, Some("")).await.unwrap().0, 200);
    assert_eq!(attributes(&client, &url, Some("garbage")).await.unwrap(), (401, String::new()));

    // An issue as the certificate's principal, with the configured role (requester may issue).
    let request = csr(dir.path(), "issued-by-robot", "/CN=www.example.test");
    let resp = client
        .post(format!("{}{base}/certificates", s.https_url))
        .json(&json!({ "request": request, "attributes": [] }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let issued: Value = resp.json().await.unwrap();
    let uuid = issued["uuid"].as_str().unwrap();
    let record = s.get_json(&format!("/v1/certificates/{uuid}"), &s.admin_token).await;
    assert_eq!(record["created_by"], format!("mtls:{CLIENT_CN}"), "{record}");

    // Requester may not revoke: 403 in CZERTAINLY's body.
    let resp = client
        .post(format!("{}{base}/certificates/{uuid}/revoke", s.https_url))
        .json(&json!({ "reason": "unspecified", "attributes": [] }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["code"], "ACCESS_DENIED", "{v}");

    // The token is the primary identity: an unknown one is refused whatever the certificate.
    let resp = client.get(&url).bearer_auth("cwt_not-a-token").send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    assert_eq!(resp.text().await.unwrap(), "");

    // Other faces keep Bearer only.
    let resp = client.get(format!("{}/v1/certificates", s.https_url)).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 401);

    // The face's OpenAPI document names both ways in.
    let doc: Value = s.http().get(s.at("/api/v3/api-docs")).send().await.unwrap().json().await.unwrap();
    assert_eq!(doc["components"]["securitySchemes"]["mutualTLS"]["type"], "mutualTLS", "{doc}");
    assert_eq!(doc["security"], json!([{ "bearer": [] }, { "mutualTLS": [] }]));

    // Without a certificate nor a token: 401 without a body.
    let (status, body) = attributes(&https_client(&s, None), &url, None).await.unwrap();
    assert_eq!((status, body.as_str()), (401, ""));
    s.stop().await;
}

async fn certificate_of_an_untrusted_ca_is_refused(s: TestServer) {
    let dir = tempfile::tempdir().unwrap();
    let pem = untrusted_client_certificate(dir.path());
    let base = v2_base(&s).await;
    let client = https_client(&s, Some((&pem, &dir.path().join("stranger.key"))));
    // The handshake refuses it: no HTTP answer at all.
    let url = format!("{}{base}/attributes/issue", s.https_url);
    let refused = attributes(&client, &url, None).await;
    assert!(refused.is_err(), "a certificate of an unknown CA was accepted: {refused:?}");
    // Forwarded by the trusted proxy, it is checked as the handshake would: 401 without a body.
    let (status, body) =
        attributes(s.http(), &s.at(&format!("{base}/attributes/issue")), Some(&escaped(&pem))).await.unwrap();
    assert_eq!((status, body.as_str()), (401, ""));
    s.stop().await;
}

async fn revoked_client_certificate_is_refused(s: TestServer) {
    let dir = tempfile::tempdir().unwrap();
    let (uuid, pem) = issue_client_certificate(&s, dir.path(), "client").await;
    let base = v2_base(&s).await;
    let client = https_client(&s, Some((&pem, &dir.path().join("client.key"))));
    let url = format!("{}{base}/attributes/issue", s.https_url);
    assert_eq!(attributes(&client, &url, None).await.unwrap().0, 200);

    // On hold it is refused; once the hold is lifted it works again.
    let native =
        |path: &str| s.http().post(s.at(&format!("/v1/certificates/{uuid}/{path}"))).bearer_auth(&s.admin_token);
    let held = native("revoke").json(&json!({ "reason": "certificateHold" })).send().await.unwrap();
    assert_eq!(held.status().as_u16(), 200);
    assert_eq!(attributes(&client, &url, None).await.unwrap(), (401, String::new()));
    let released = native("release-hold").json(&json!({})).send().await.unwrap();
    assert_eq!(released.status().as_u16(), 200);
    assert_eq!(attributes(&client, &url, None).await.unwrap().0, 200);

    let resp = s
        .http()
        .post(s.at(&format!("{base}/certificates/{uuid}/revoke")))
        .bearer_auth(&s.admin_token)
        .json(&json!({ "reason": "keyCompromise", "attributes": [] }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 204);

    let (status, body) = attributes(&client, &url, None).await.unwrap();
    assert_eq!((status, body.as_str()), (401, ""), "a revoked client certificate still authenticates");
    let forwarded = attributes(s.http(), &s.at(&format!("{base}/attributes/issue")), Some(&escaped(&pem))).await;
    assert_eq!(forwarded.unwrap(), (401, String::new()));
    s.stop().await;
}

async fn header_is_honoured_only_from_a_trusted_proxy(s: TestServer) {
    let dir = tempfile::tempdir().unwrap();
    let (_, pem) = issue_client_certificate(&s, dir.path(), "client").await;
    let url = s.at(&format!("{}/attributes/issue", v2_base(&s).await));

    // From 127.0.0.1, the trusted proxy, over the plain-HTTP listener a proxy would forward to.
    let (status, body) = attributes(s.http(), &url, Some(&escaped(&pem))).await.unwrap();
    assert_eq!(status, 200, "{body}");
    // A PEM that is not a certificate: 401.
    let (status, _) = attributes(s.http(), &url, Some("-----BEGIN%20CERTIFICATE-----%0AAAAA%0A")).await.unwrap();
    assert_eq!(status, 401);

    // From 127.0.0.2 the header is ignored: 401 without a token, and a token still works.
    let stranger =
        reqwest::Client::builder().local_address("127.0.0.2".parse::<std::net::IpAddr>().unwrap()).build().unwrap();
    let (status, body) = attributes(&stranger, &url, Some(&escaped(&pem))).await.unwrap();
    assert_eq!((status, body.as_str()), (401, ""));
    let resp =
        stranger.get(&url).header("ssl-client-cert", escaped(&pem)).bearer_auth(&s.admin_token).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    s.stop().await;
}

/// `openssl s_client` against the HTTPS listener; returns what it printed.
fn s_client(s: &TestServer, dir: &Path) -> String {
    let host = s.https_url.trim_start_matches("https://");
    let ca = s.data_dir.path().join("data").join("ca.pem");
    let out = openssl::run(dir, &["s_client", "-connect", host, "-CAfile", ca.to_str().unwrap()]);
    openssl::text(&out)
}

async fn server_asks_for_a_client_certificate_only_when_configured(s: TestServer) {
    let dir = tempfile::tempdir().unwrap();
    let asked = s_client(&s, dir.path());
    // The names sent are those of the trusted CAs: the issuing CA, not the root.
    let names = asked.split("Acceptable client certificate CA names").nth(1).unwrap_or_else(|| panic!("{asked}"));
    let first = names.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or_default();
    assert!(first.contains("certwright Issuing CA"), "{asked}");
    assert!(!asked.contains("No client certificate CA names sent"), "{asked}");
    let backend = s.backend;
    s.stop().await;

    let plain = TestServer::start(backend).await;
    let not_asked = s_client(&plain, dir.path());
    assert!(not_asked.contains("No client certificate CA names sent"), "{not_asked}");
    assert!(!not_asked.contains("Acceptable client certificate CA names"), "{not_asked}");
    plain.stop().await;
}

/// `client_ca_files` trusts a CA certwright does not run; `client_cert_role` and `client_cert_ra_profiles` set
/// what its certificates may do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ca_file_trusts_an_outside_ca_with_the_configured_role_and_profiles() {
    for backend in Backend::available() {
        let dir = tempfile::tempdir().unwrap();
        let pem = untrusted_client_certificate(dir.path());
        let ca_file = dir.path().join("other-ca.pem");
        let s = TestServer::start_with(backend, |c| {
            c.client_ca_files = vec![ca_file.clone()];
            c.client_cert_role = "operator".to_owned();
            c.client_cert_ra_profiles = vec!["limited".to_owned()];
        })
        .await;
        let client = https_client(&s, Some((&pem, &dir.path().join("stranger.key"))));
        let base = v2_base(&s).await;
        // Trusted now; an operator limited to the profile `limited` may not issue through `default`.
        let request = csr(dir.path(), "wanted", "/CN=www.example.test");
        let resp = client
            .post(format!("{}{base}/certificates", s.https_url))
            .json(&json!({ "request": request, "attributes": [] }))
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap();
        assert_eq!(status, 403, "{body}");
        assert!(body.contains("ACCESS_DENIED") && body.contains("may not use this RA profile"), "{body}");
        // Its own certificates issued here are not trusted: the issuing CA is not configured.
        let (_, ours) = issue_client_certificate(&s, dir.path(), "ours").await;
        let ours_client = https_client(&s, Some((&ours, &dir.path().join("ours.key"))));
        assert!(attributes(&ours_client, &format!("{}{base}/attributes/issue", s.https_url), None).await.is_err());
        s.stop().await;
    }
}

/// The server's clock decides too: a certificate the handshake (on the system time) accepts is refused once the
/// server's time is past its notAfter, as a resumed TLS session would present it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_past_its_validity_on_the_server_clock_is_refused() {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let clock = std::sync::Arc::new(certwright_core::clock::ManualClock::at(now));
    let s = TestServer::start_with_clock(Backend::Sqlite, clock.clone(), |c| {
        c.client_ca_authorities = vec!["issuing".to_owned()];
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let (_, pem) = issue_client_certificate(&s, dir.path(), "client").await;
    let client = https_client(&s, Some((&pem, &dir.path().join("client.key"))));
    let url = format!("{}{}/attributes/issue", s.https_url, v2_base(&s).await);
    assert_eq!(attributes(&client, &url, None).await.unwrap().0, 200);
    let not_after = certwright_pki::cert::Cert::from_pem(&pem).unwrap().not_after();
    clock.advance(not_after - now + 1);
    assert_eq!(attributes(&client, &url, None).await.unwrap(), (401, String::new()));
    s.stop().await;
}

/// nginx as the TLS-terminating proxy: it verifies the client certificate itself (`ssl_verify_client optional`)
/// and forwards it as `$ssl_client_escaped_cert` to certwright's plain-HTTP listener from 127.0.0.1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_forwards_the_client_certificate_in_ssl_client_cert() {
    use certwright_testkit::process;
    process::require("nginx", "nginx-light");
    let s = start(Backend::Sqlite).await;
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    // nginx's own certificate, and the CAs it checks client certificates against.
    let body = json!({ "ra_profile": "default", "common_name": "localhost", "sans": ["dns:localhost"] });
    let resp = s.http().post(s.at("/v1/certificates")).bearer_auth(&s.admin_token).json(&body).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let v: Value = resp.json().await.unwrap();
    let chain = v["chain_pem"].as_str().unwrap();
    std::fs::write(d.join("fullchain.pem"), format!("{}{chain}", v["certificate_pem"].as_str().unwrap())).unwrap();
    std::fs::write(d.join("key.pem"), v["private_key_pem"].as_str().unwrap()).unwrap();
    std::fs::write(d.join("client-cas.pem"), chain).unwrap();
    let (_, pem) = issue_client_certificate(&s, d, "client").await;

    let port = process::free_port();
    let upstream = s.url.trim_start_matches("http://");
    let conf = format!(
        "daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/error.log info;\nevents {{}}\n\
         http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
         fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
         server {{\n    listen 127.0.0.1:{port} ssl;\n    server_name localhost;\n\
         ssl_certificate {d}/fullchain.pem;\n    ssl_certificate_key {d}/key.pem;\n\
         ssl_client_certificate {d}/client-cas.pem;\n    ssl_verify_client optional;\n    ssl_verify_depth 2;\n\
         location / {{\n      proxy_pass http://{upstream};\n\
         proxy_set_header ssl-client-cert $ssl_client_escaped_cert;\n    }}\n  }}\n}}\n",
        d = d.display()
    );
    std::fs::write(d.join("nginx.conf"), conf).unwrap();
    let conf_path = d.join("nginx.conf");
    let _nginx = process::spawn(
        d,
        "nginx",
        std::process::Command::new("nginx").args(["-e", &format!("{}/error.log", d.display()), "-c"]).arg(&conf_path),
    );

    let url = format!("https://localhost:{port}{}/attributes/issue", v2_base(&s).await);
    let with_cert = https_client(&s, Some((&pem, &d.join("client.key"))));
    let mut last = None;
    for _ in 0..40 {
        match attributes(&with_cert, &url, None).await {
            Ok(answer) => {
                last = Some(answer);
                break;
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(250)).await,
        }
    }
    let log = std::fs::read_to_string(d.join("error.log")).unwrap_or_default();
    let (status, body) = last.unwrap_or_else(|| panic!("nginx did not answer:\n{log}"));
    assert_eq!(status, 200, "{body}\n{log}");
    // Without a certificate nginx forwards an empty header: 401 without a body.
    let (status, body) = attributes(&https_client(&s, None), &url, None).await.unwrap();
    assert_eq!((status, body.as_str()), (401, ""));
    s.stop().await;
}

macro_rules! on_every_backend {
    ($($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                for backend in Backend::available() {
                    super::$case(start(backend).await).await;
                }
            }
        )*
    };
}

mod cases {
    use super::start;
    use certwright_testkit::Backend;
    on_every_backend!(
        trusted_client_certificate_calls_v2_operations_without_a_token,
        certificate_of_an_untrusted_ca_is_refused,
        revoked_client_certificate_is_refused,
        header_is_honoured_only_from_a_trusted_proxy,
        server_asks_for_a_client_certificate_only_when_configured,
    );
}
