//! Discovery through the native API, on SQLite and PostgreSQL, against real TLS servers (`openssl s_server`) on
//! loopback: a certificate issued here and served with its chain (found, trusted, already in the inventory), a
//! self-signed one, an expired one, a TLS 1.2-only one, a TLS 1.0-only one (read by the legacy handshake), and an
//! SNI server with two certificates. What is found joins the inventory once, with origin `discovery` and its
//! locations; a server that stops is marked gone on the next run covering it (and only then); targets outside the
//! allowed ranges and paths are refused; a filesystem run finds a PEM pair and a password-protected PKCS#12 file
//! without ever returning the password, and imports the key only when asked.

use certwright_testkit::openssl;
use certwright_testkit::process::{free_port, spawn, Killed};
use certwright_testkit::{Backend, TestServer};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// One `openssl s_server` on a loopback port.
struct Served {
    port: u16,
    /// SHA-256 fingerprint (lower-case hex) of the certificate it serves.
    fingerprint: String,
    _process: Killed,
}

fn fingerprint(dir: &Path, pem: &str) -> String {
    let out = openssl::ok(dir, &["x509", "-in", pem, "-noout", "-fingerprint", "-sha256"]);
    out.trim().rsplit('=').next().unwrap().replace(':', "").to_lowercase()
}

async fn wait_listening(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(Instant::now() < deadline, "s_server on {port} did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn serve(dir: &Path, name: &str, cert: &str, key: &str, extra: &[&str]) -> Served {
    let port = free_port();
    let accept = format!("127.0.0.1:{port}");
    let mut cmd = Command::new("openssl");
    cmd.current_dir(dir).args(["s_server", "-accept", &accept, "-cert", cert, "-key", key, "-www", "-quiet"]);
    cmd.args(extra);
    let process = spawn(dir, name, &mut cmd);
    wait_listening(port).await;
    Served { port, fingerprint: fingerprint(dir, &dir.join(cert).to_string_lossy()), _process: process }
}

fn self_signed(dir: &Path, name: &str, cn: &str) {
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
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
            "-subj",
            &format!("/CN={cn}"),
            "-days",
            "30",
            "-addext",
            &format!("subjectAltName=DNS:{cn}"),
        ],
    );
}

/// A self-signed certificate valid only in 2020.
fn expired(dir: &Path) {
    std::fs::write(
        dir.join("ca.cnf"),
        "[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\nnew_certs_dir = .\nserial = serial\ndefault_md = sha256\n\
         policy = p\nunique_subject = no\ncopy_extensions = copy\n[p]\ncommonName = supplied\n",
    )
    .unwrap();
    std::fs::write(dir.join("index.txt"), "").unwrap();
    std::fs::write(dir.join("serial"), "01\n").unwrap();
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
            "expired.key",
            "-out",
            "expired.csr",
            "-subj",
            "/CN=expired.test",
            "-addext",
            "subjectAltName=DNS:expired.test",
        ],
    );
    openssl::ok(
        dir,
        &[
            "ca",
            "-batch",
            "-config",
            "ca.cnf",
            "-selfsign",
            "-keyfile",
            "expired.key",
            "-in",
            "expired.csr",
            "-out",
            "expired.pem",
            "-startdate",
            "20200101000000Z",
            "-enddate",
            "20210101000000Z",
            "-notext",
        ],
    );
}

/// A certificate for `localhost` and 127.0.0.1 issued by the server's issuing CA, with its chain file.
async fn issued_here(s: &TestServer, dir: &Path) -> String {
    let resp = s
        .http()
        .post(s.at("/v1/certificates"))
        .bearer_auth(&s.admin_token)
        .json(&json!({"ra_profile": "default", "common_name": "localhost", "sans": ["dns:localhost", "ip:127.0.0.1"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let body: Value = resp.json().await.unwrap();
    let id = body["id"].as_str().unwrap().to_owned();
    std::fs::write(dir.join("here.key"), body["private_key_pem"].as_str().unwrap()).unwrap();
    let detail = s.get_json(&format!("/v1/certificates/{id}"), &s.admin_token).await;
    std::fs::write(dir.join("here.pem"), detail["certificate_pem"].as_str().unwrap()).unwrap();
    let chain = detail["chain_pem"].as_str().unwrap();
    assert!(chain.contains("BEGIN CERTIFICATE"), "{detail}");
    std::fs::write(dir.join("here-chain.pem"), chain).unwrap();
    id
}

async fn post_run(s: &TestServer, body: Value) -> reqwest::Response {
    s.http().post(s.at("/v1/discovery/runs")).bearer_auth(&s.admin_token).json(&body).send().await.unwrap()
}

/// Starts a run and waits for it to end; the run as the API shows it at the end.
async fn run(s: &TestServer, body: Value) -> Value {
    let resp = post_run(s, body).await;
    assert_eq!(resp.status(), 202, "{}", resp.text().await.unwrap());
    let started: Value = resp.json().await.unwrap();
    let id = started["id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let v = s.get_json(&format!("/v1/discovery/runs/{id}"), &s.admin_token).await;
        if !matches!(v["state"].as_str(), Some("queued" | "running")) {
            assert_eq!(v["state"], "succeeded", "{v}");
            return v;
        }
        assert!(Instant::now() < deadline, "the run did not end: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn results(s: &TestServer, run: &Value, gone: bool) -> Vec<Value> {
    let id = run["id"].as_str().unwrap();
    let v = s.get_json(&format!("/v1/discovery/runs/{id}/results?gone={gone}&limit=1000"), &s.admin_token).await;
    v["items"].as_array().unwrap().clone()
}

fn at_port(results: &[Value], port: u16) -> Vec<&Value> {
    results.iter().filter(|r| r["where"]["port"] == port).collect()
}

fn ports(list: &[&Served]) -> String {
    list.iter().map(|s| s.port.to_string()).collect::<Vec<_>>().join(",")
}

mod cases {
    use super::*;

    pub async fn tls_servers_are_found_judged_and_tracked(s: TestServer) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let here_id = issued_here(&s, dir).await;
        self_signed(dir, "self", "self.test");
        self_signed(dir, "tls12", "tls12.test");
        self_signed(dir, "legacy", "legacy.test");
        self_signed(dir, "sni-a", "a.sni.test");
        self_signed(dir, "sni-b", "b.sni.test");
        expired(dir);

        let here = serve(dir, "here", "here.pem", "here.key", &["-cert_chain", "here-chain.pem"]).await;
        let selfs = serve(dir, "self", "self.pem", "self.key", &[]).await;
        let exp = serve(dir, "expired", "expired.pem", "expired.key", &[]).await;
        let tls12 = serve(dir, "tls12", "tls12.pem", "tls12.key", &["-tls1_2"]).await;
        let legacy = serve(dir, "legacy", "legacy.pem", "legacy.key", &["-tls1", "-cipher", "ALL:@SECLEVEL=0"]).await;
        let sni = serve(
            dir,
            "sni",
            "sni-a.pem",
            "sni-a.key",
            &["-servername", "b.sni.test", "-cert2", "sni-b.pem", "-key2", "sni-b.key"],
        )
        .await;
        let closed = free_port();
        let all = [&here, &selfs, &exp, &tls12, &legacy, &sni];
        let targets = vec![format!("127.0.0.1:{},{closed}", ports(&all))];

        let first = run(&s, json!({"kind": "tls", "targets": targets})).await;
        assert_eq!(first["progress"]["planned"], 7, "{first}");
        assert_eq!(first["progress"]["examined"], 7, "{first}");
        assert_eq!(first["progress"]["found"], 6, "{first}");
        // Everything but the certificate issued here is new to the inventory.
        assert_eq!(first["progress"]["new_certificates"], 5, "{first}");
        let seen = results(&s, &first, false).await;
        assert_eq!(seen.len(), 6);
        for served in all {
            let at = at_port(&seen, served.port);
            assert_eq!(at.len(), 1, "port {}: {seen:?}", served.port);
            assert_eq!(at[0]["details"]["chain"][0], served.fingerprint.as_str(), "{}", at[0]);
        }
        let one = |p: u16| at_port(&seen, p)[0].clone();

        let h = one(here.port);
        assert_eq!(h["certificate_id"], here_id.as_str());
        assert_eq!(h["new_certificate"], false);
        assert_eq!(h["details"]["protocol"], "TLSv1.3");
        assert!(h["details"]["cipher"].as_str().unwrap().starts_with("TLS_"), "{h}");
        assert!(h["details"]["chain"].as_array().unwrap().len() >= 2, "the leaf and its CAs: {h}");
        assert_eq!(h["details"]["trust"]["trusted"], true, "{h}");
        assert_eq!(h["details"]["hostname_match"], true, "127.0.0.1 is in the SANs: {h}");
        assert_eq!(h["location"], format!("tls://127.0.0.1:{}", here.port));

        let ss = one(selfs.port);
        assert_eq!(ss["new_certificate"], true);
        assert_eq!(ss["details"]["trust"]["trusted"], false, "{ss}");
        assert_eq!(ss["details"]["hostname_match"], false, "{ss}");
        assert_eq!(one(exp.port)["details"]["trust"]["status"], "expired", "{}", one(exp.port));
        assert_eq!(one(tls12.port)["details"]["protocol"], "TLSv1.2");
        let l = one(legacy.port);
        assert_eq!(l["details"]["protocol"], "TLSv1", "{l}");
        assert_eq!(l["details"]["legacy_handshake"], true, "{l}");
        assert_eq!(one(sni.port)["details"]["chain"][0], sni.fingerprint.as_str());

        // Discovered certificates are in the inventory with their origin, once.
        let inv = s.get_json("/v1/certificates?origin=discovery&limit=100", &s.admin_token).await;
        assert_eq!(inv["total"], 5, "{inv}");
        let self_id = ss["certificate_id"].as_str().unwrap();
        let cert = s.get_json(&format!("/v1/certificates/{self_id}"), &s.admin_token).await;
        assert_eq!(cert["origin"], "discovery");
        assert_eq!(cert["common_name"], "self.test");

        // Server names: the SNI server answers b.sni.test with its second certificate.
        let named = run(
            &s,
            json!({"kind": "tls", "targets": [format!("127.0.0.1:{}", sni.port)], "server_names": ["b.sni.test"]}),
        )
        .await;
        let r = results(&s, &named, false).await;
        assert_eq!(r.len(), 1);
        assert_eq!(r[0]["details"]["chain"][0], fingerprint(dir, &dir.join("sni-b.pem").to_string_lossy()));
        assert_eq!(r[0]["details"]["hostname_match"], true, "{}", r[0]);
        assert_eq!(r[0]["location"], format!("tls://b.sni.test@127.0.0.1:{}", sni.port));

        // A second run sees the same certificates: nothing new, and each certificate keeps one location.
        drop(selfs);
        let again = run(&s, json!({"kind": "tls", "targets": [format!("127.0.0.1:{}", ports(&[&here, &exp]))]})).await;
        assert_eq!(again["progress"]["new_certificates"], 0, "{again}");
        // The stopped server was not covered by that run: still not gone.
        let locations = s.get_json(&format!("/v1/certificates/{self_id}/locations"), &s.admin_token).await;
        assert_eq!(locations["items"][0]["gone_at"], Value::Null, "{locations}");
        let third = run(&s, json!({"kind": "tls", "targets": targets})).await;
        assert_eq!(third["progress"]["gone"], 1, "{third}");
        let gone = results(&s, &third, true).await;
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0]["certificate_id"], self_id);
        let locations = s.get_json(&format!("/v1/certificates/{self_id}/locations"), &s.admin_token).await;
        assert!(locations["items"][0]["gone_at"].is_string(), "{locations}");
        let here_locations = s.get_json(&format!("/v1/certificates/{here_id}/locations"), &s.admin_token).await;
        assert_eq!(here_locations["total"], 1, "{here_locations}");
        assert_eq!(here_locations["items"][0]["gone_at"], Value::Null);
    }

    pub async fn scans_stay_inside_their_limits(s: TestServer) {
        for (body, code) in [
            (json!({"kind": "tls", "targets": ["8.8.8.8:443"]}), "discovery.not_allowed"),
            (json!({"kind": "tls", "targets": ["10.0.0.0/7"]}), "discovery.not_allowed"),
            (json!({"kind": "tls", "targets": ["10.0.0.0/8:1-65535"]}), "discovery.too_many_endpoints"),
            (json!({"kind": "tls", "targets": ["127.0.0.1:0"]}), "discovery.invalid_target"),
            (json!({"kind": "tls", "targets": ["no such host!"]}), "discovery.invalid_target"),
            (json!({"kind": "tls", "targets": []}), "discovery.invalid_spec"),
            (json!({"kind": "tls", "targets": ["127.0.0.1"], "paths": ["/etc"]}), "discovery.invalid_spec"),
            (json!({"kind": "tls", "targets": ["127.0.0.1"], "concurrency": 0}), "discovery.invalid_spec"),
            (json!({"kind": "tls", "targets": ["127.0.0.1"], "repeat_every_seconds": 5}), "discovery.invalid_spec"),
            (json!({"kind": "files", "paths": ["/etc/ssl"]}), "discovery.not_allowed"),
            (json!({"kind": "ldap", "targets": ["x"]}), "discovery.invalid_spec"),
        ] {
            let resp = post_run(&s, body.clone()).await;
            assert_eq!(resp.status(), 400, "{body}");
            let problem: Value = resp.json().await.unwrap();
            assert_eq!(problem["code"], code, "{body}: {problem}");
        }
        // Unknown fields are refused too.
        let resp = post_run(&s, json!({"kind": "tls", "targets": ["127.0.0.1"], "bogus": 1})).await;
        assert!(resp.status().is_client_error(), "{}", resp.status());
        // Requesters and auditors may read but not scan.
        let requester = s.token_with_role("requester").await;
        let resp = s
            .http()
            .post(s.at("/v1/discovery/runs"))
            .bearer_auth(&requester)
            .json(&json!({"kind": "tls", "targets": ["127.0.0.1"]}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 403);
        let unknown = s
            .http()
            .get(s.at(&format!("/v1/discovery/runs/{}", uuid::Uuid::new_v4())))
            .bearer_auth(&requester)
            .send()
            .await
            .unwrap();
        assert_eq!(unknown.status(), 404);
    }

    pub async fn a_queued_repeating_run_can_be_cancelled(s: TestServer) {
        let port = free_port();
        let resp = post_run(
            &s,
            json!({"kind": "tls", "targets": [format!("127.0.0.1:{port}")], "repeat_every_seconds": 3600}),
        )
        .await;
        assert_eq!(resp.status(), 202);
        let first: Value = resp.json().await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        // The first run starts at once and queues the next one an hour later.
        let next = loop {
            let list = s.get_json("/v1/discovery/runs", &s.admin_token).await;
            let items = list["items"].as_array().unwrap();
            if let Some(n) = items.iter().find(|r| r["id"] != first["id"] && r["series"] == first["id"]) {
                break n.clone();
            }
            assert!(Instant::now() < deadline, "no follow-up run: {list}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(next["state"], "queued");
        let id = next["id"].as_str().unwrap();
        let resp = s
            .http()
            .delete(s.at(&format!("/v1/discovery/runs/{id}")))
            .bearer_auth(&s.admin_token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let cancelled: Value = resp.json().await.unwrap();
        assert_eq!(cancelled["state"], "cancelled");
        let again = s
            .http()
            .delete(s.at(&format!("/v1/discovery/runs/{id}")))
            .bearer_auth(&s.admin_token)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 409);
    }
}

certwright_testkit::backend_tests!(
    tls_servers_are_found_judged_and_tracked,
    scans_stay_inside_their_limits,
    a_queued_repeating_run_can_be_cancelled
);

/// A filesystem run over an allowed directory: a PEM certificate with its key beside it and a PKCS#12 file
/// opened with one of the run's passwords; the key is imported only when asked; the passwords never come back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_are_found_with_their_keys() {
    let tree = tempfile::tempdir().unwrap();
    let root: PathBuf = tree.path().canonicalize().unwrap();
    let s = TestServer::start_with(Backend::Sqlite, |c| c.discovery_allowed_paths = vec![root.clone()]).await;
    let sub = root.join("etc/ssl");
    std::fs::create_dir_all(&sub).unwrap();
    self_signed(&sub, "site", "site.test");
    std::fs::rename(sub.join("site.pem"), sub.join("site.crt")).unwrap();
    self_signed(&sub, "bundle", "bundle.test");
    openssl::ok(
        &sub,
        &[
            "pkcs12",
            "-export",
            "-in",
            "bundle.pem",
            "-inkey",
            "bundle.key",
            "-out",
            "bundle.p12",
            "-passout",
            "pass:s3cret-pass",
        ],
    );
    std::fs::remove_file(sub.join("bundle.pem")).unwrap();
    std::fs::remove_file(sub.join("bundle.key")).unwrap();

    let body = json!({"kind": "files", "paths": [root.to_string_lossy()], "passwords": ["wrong", "s3cret-pass"]});
    let done = run(&s, body).await;
    assert_eq!(done["progress"]["found"], 2, "{done}");
    assert!(!done.to_string().contains("s3cret-pass"), "{done}");
    let found = results(&s, &done, false).await;
    let by_format = |f: &str| {
        found.iter().find(|r| r["details"]["format"] == f).cloned().unwrap_or_else(|| panic!("{f}: {found:?}"))
    };
    let pem = by_format("pem");
    assert_eq!(pem["where"]["path"], sub.join("site.crt").to_string_lossy().as_ref());
    assert_eq!(pem["details"]["private_key"], "present");
    let p12 = by_format("pkcs12");
    assert_eq!(p12["details"]["private_key"], "present");
    let cert =
        s.get_json(&format!("/v1/certificates/{}", p12["certificate_id"].as_str().unwrap()), &s.admin_token).await;
    assert_eq!(cert["common_name"], "bundle.test");
    assert_eq!(cert["origin"], "discovery");

    // Outside the allowed directory: refused.
    let resp = post_run(&s, json!({"kind": "files", "paths": ["/etc"]})).await;
    assert_eq!(resp.status(), 400);
    // Removing the file makes the next run covering it notice.
    std::fs::remove_file(sub.join("site.crt")).unwrap();
    let again = run(&s, json!({"kind": "files", "paths": [root.to_string_lossy()], "passwords": ["s3cret-pass"], "import_private_keys": true})).await;
    assert_eq!(again["progress"]["gone"], 1, "{again}");
    assert_eq!(again["progress"]["new_certificates"], 0, "{again}");
    s.stop().await;
}
