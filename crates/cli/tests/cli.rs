//! The `certwright` binary as an operator runs it: first-start bootstrap and restart, crash safety of the
//! bootstrap (fault injection at every step and real `kill -9`), graceful shutdown on SIGTERM, the client
//! commands, `audit verify` against a tampered database, and `config show`.

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_certwright");

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Extra arguments selecting the database: none for SQLite, `--database-url` on a fresh schema for PostgreSQL.
async fn backends() -> Vec<(&'static str, Vec<String>)> {
    let mut v = vec![("sqlite", vec![])];
    if let Some(base) = certwright_store::testing::postgres_url() {
        let url = certwright_store::testing::fresh_postgres_schema(&base).await.unwrap();
        v.push(("postgres", vec!["--database-url".to_owned(), url]));
    }
    v
}

fn certwright(data_dir: &Path, args: &[&str], db: &[String]) -> Command {
    let mut c = Command::new(BIN);
    c.arg("--data-dir").arg(data_dir).args(args).args(db);
    c.env_remove("CERTWRIGHT_TOKEN")
        .env_remove("CERTWRIGHT_SERVER")
        .env("CERTWRIGHT_LOG_LEVEL", "warn")
        // Parallel tests must not share the default HTTPS port.
        .env("CERTWRIGHT_LISTEN", "127.0.0.1:0");
    c
}

fn run(data_dir: &Path, args: &[&str], db: &[String]) -> Output {
    certwright(data_dir, args, db).output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

struct Server {
    child: Child,
    url: String,
}

impl Server {
    async fn start(data_dir: &Path, db: &[String]) -> Server {
        let port = free_port();
        let mut args = vec!["--http-listen".to_owned(), format!("127.0.0.1:{port}")];
        args.extend_from_slice(db);
        Self::spawn(data_dir, &args, port).await
    }

    /// Starts with the listener taken from the configuration file, which must say `port`.
    async fn start_configured(data_dir: &Path, port: u16) -> Server {
        Self::spawn(data_dir, &[], port).await
    }

    async fn spawn(data_dir: &Path, args: &[String], port: u16) -> Server {
        let mut cmd = certwright(data_dir, &["serve", "--insecure-http"], args);
        if args.is_empty() {
            // Listeners come from the configuration file.
            cmd.env_remove("CERTWRIGHT_LISTEN");
        }
        let child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let s = Server { child, url: format!("http://127.0.0.1:{port}") };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = certwright_testkit::http_client().get(format!("{}/healthz", s.url)).send().await {
                if r.status() == 200 {
                    return s;
                }
            }
            assert!(Instant::now() < deadline, "server did not become healthy");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGTERM, then wait: the exit must be clean and quick. Returns stdout.
    fn terminate(self) -> String {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        let out = self.child.wait_with_output().unwrap();
        assert!(out.status.success(), "exit after SIGTERM: {:?}\n{}", out.status, text(&out.stderr));
        text(&out.stdout)
    }
}

async fn me(url: &str, token: &str) -> reqwest::StatusCode {
    certwright_testkit::http_client().get(format!("{url}/v1/me")).bearer_auth(token).send().await.unwrap().status()
}

fn mode(p: PathBuf) -> u32 {
    std::fs::metadata(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())).permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_start_bootstraps_once_and_restart_reuses_the_data() {
    for (name, db) in backends().await {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let server = Server::start(&dir, &db).await;
        let token = std::fs::read_to_string(dir.join("admin.token")).unwrap().trim().to_owned();
        assert_eq!(mode(dir.join("admin.token")), 0o600, "{name}");
        assert_eq!(mode(dir.join("master.key")), 0o600, "{name}");
        if db.is_empty() {
            assert_eq!(mode(dir.join("certwright.db")), 0o600);
        }
        assert!(!dir.join(".bootstrap").exists());
        assert_eq!(me(&server.url, &token).await, 200, "{name}");
        let first_out = server.terminate();

        // HTTPS with the server's own certificate, trusted through ca.pem (curl, not our client).
        let https_port = free_port();
        let mut args = vec!["--listen".to_owned(), format!("127.0.0.1:{https_port}")];
        args.extend_from_slice(&db);
        let server = Server::start(&dir, &args).await;
        let ca = dir.join("ca.pem");
        let url = format!("https://127.0.0.1:{https_port}/healthz");
        let curl = Command::new("curl").args(["-sS", "--fail", "--cacert"]).arg(&ca).arg(&url).output().unwrap();
        assert!(curl.status.success(), "{name}: curl: {}", text(&curl.stderr));
        assert!(text(&curl.stdout).contains("ok"));
        let curl = Command::new("curl")
            .args(["-sS", "--fail", "--cacert"])
            .arg(&ca)
            .args(["-H", &format!("Authorization: Bearer {token}")])
            .arg(format!("https://localhost:{https_port}/v1/me"))
            .output()
            .unwrap();
        assert!(curl.status.success() && text(&curl.stdout).contains("admin"), "{name}: {}", text(&curl.stderr));
        let untrusted = Command::new("curl").args(["-sS", "--fail"]).arg(&url).output().unwrap();
        assert!(!untrusted.status.success(), "without ca.pem the certificate is not trusted");
        server.terminate();
        assert!(first_out.contains(&token), "the token is printed once at bootstrap: {first_out}");

        let key = std::fs::read(dir.join("master.key")).unwrap();
        let server = Server::start(&dir, &db).await;
        assert_eq!(me(&server.url, &token).await, 200, "{name}: the same token works after a restart");
        let second_out = server.terminate();
        assert!(!second_out.contains("admin API token"), "{name}: no second bootstrap: {second_out}");
        assert_eq!(std::fs::read(dir.join("master.key")).unwrap(), key);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_interrupted_at_any_step_recovers_on_the_next_start() {
    for step in ["master-key", "database", "admin-token", "partial-commit"] {
        // A fresh PostgreSQL schema for every step.
        for (name, db) in backends().await {
            let tmp = tempfile::tempdir().unwrap();
            let dir = tmp.path().join("data");
            let crashed =
                certwright(&dir, &["init"], &db).env("CERTWRIGHT_BOOTSTRAP_ABORT_AFTER", step).output().unwrap();
            assert!(!crashed.status.success(), "{name}/{step}: the injected crash happened");
            let retry = run(&dir, &["init"], &db);
            assert!(retry.status.success(), "{name}/{step}: {}", text(&retry.stderr));
            let token = std::fs::read_to_string(dir.join("admin.token")).unwrap().trim().to_owned();
            assert!(text(&retry.stdout).contains(&token));
            let server = Server::start(&dir, &db).await;
            assert_eq!(me(&server.url, &token).await, 200, "{name}/{step}");
            server.terminate();
            let verify = run(&dir, &["audit", "verify"], &db);
            assert!(verify.status.success(), "{name}/{step}: {}", text(&verify.stdout));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_first_start_then_restart_yields_a_working_server() {
    for delay_ms in [0u64, 2, 5, 10, 20, 40] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let mut child = certwright(&dir, &["serve", "--http-listen", "127.0.0.1:0"], &[])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let server = Server::start(&dir, &[]).await;
        let token = std::fs::read_to_string(dir.join("admin.token")).unwrap().trim().to_owned();
        assert_eq!(me(&server.url, &token).await, 200, "killed after {delay_ms} ms");
        server.terminate();
    }
}

/// Every certificate answered with 201 is in the store after a `kill -9` in the middle of a burst of issuance
/// (group commit answers only after the transaction holding the certificate has committed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_issuance_loses_no_acknowledged_certificate() {
    for (name, db) in backends().await {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let mut server = Server::start(&dir, &db).await;
        let token = std::fs::read_to_string(dir.join("admin.token")).unwrap().trim().to_owned();
        let stop = Instant::now() + Duration::from_millis(1500);
        let workers: Vec<_> = (0..8)
            .map(|w| {
                let (url, token) = (server.url.clone(), token.clone());
                tokio::spawn(async move {
                    let client = certwright_testkit::http_client();
                    let mut acknowledged = Vec::new();
                    for i in 0.. {
                        let body = serde_json::json!({ "ra_profile": "default",
                            "common_name": format!("w{w}-{i}.example.com") });
                        let sent = client.post(format!("{url}/v1/certificates")).bearer_auth(&token).json(&body).send();
                        let Ok(r) = sent.await else { break };
                        if r.status() != 201 {
                            break;
                        }
                        let Ok(v) = r.json::<serde_json::Value>().await else { break };
                        acknowledged.push(v["id"].as_str().unwrap().to_owned());
                    }
                    acknowledged
                })
            })
            .collect();
        tokio::time::sleep_until((stop).into()).await;
        server.child.kill().unwrap(); // SIGKILL, while requests are in flight
        server.child.wait().unwrap();
        let mut acknowledged = Vec::new();
        for w in workers {
            acknowledged.extend(w.await.unwrap());
        }
        assert!(acknowledged.len() > 8, "{name}: only {} certificates issued before the kill", acknowledged.len());
        let server = Server::start(&dir, &db).await;
        let client = certwright_testkit::http_client();
        for id in &acknowledged {
            let r =
                client.get(format!("{}/v1/certificates/{id}", server.url)).bearer_auth(&token).send().await.unwrap();
            assert_eq!(r.status(), 200, "{name}: acknowledged certificate {id} is gone after kill -9");
        }
        let audit = run(&dir, &["audit", "verify"], &db);
        assert!(audit.status.success(), "{name}: audit chain after kill -9: {}", text(&audit.stdout));
        server.terminate();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_commands_and_audit_verify_names_the_tampered_row() {
    for (name, db) in backends().await {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let server = Server::start(&dir, &db).await;
        let client = |args: &[&str]| {
            let mut full = args.to_vec();
            full.extend(["--server", server.url.as_str()]);
            let out = run(&dir, &full, &[]);
            assert!(out.status.success(), "{name} {args:?}: {}", text(&out.stderr));
            serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
        };
        let created = client(&["token", "create", "--name", "ops", "--role", "operator", "--ra-profile", "web"]);
        let id = created["token"]["id"].as_str().unwrap().to_owned();
        assert_eq!(me(&server.url, created["secret"].as_str().unwrap()).await, 200);
        client(&["token", "create", "--name", "aud", "--role", "auditor", "--expires-in", "600"]);
        assert_eq!(client(&["token", "list"])["total"], 3);
        client(&["token", "revoke", &id]);
        assert_eq!(client(&["token", "list"])["total"], 2);
        assert_eq!(client(&["token", "list", "--all"])["total"], 3);
        let denied = run(&dir, &["token", "list", "--server", server.url.as_str(), "--token", "cwt_bogus"], &[]);
        assert_eq!(denied.status.code(), Some(2));
        assert!(text(&denied.stderr).contains("401"), "{}", text(&denied.stderr));
        server.terminate();

        let ok = run(&dir, &["audit", "verify"], &db);
        assert!(ok.status.success(), "{name}: {}", text(&ok.stdout));
        assert!(text(&ok.stdout).contains("checked 6 events"), "{}", text(&ok.stdout));

        let store = match db.get(1) {
            Some(url) => certwright_store::SqlStore::connect(url).await.unwrap(),
            None => certwright_store::SqlStore::open_sqlite(&dir.join("certwright.db")).await.unwrap(),
        };
        let tampered_id: i64 =
            sqlx::query_scalar("SELECT id FROM events WHERE seq = 2").fetch_one(store.danger_pool()).await.unwrap();
        sqlx::query("UPDATE events SET details = '{}' WHERE seq = 2").execute(store.danger_pool()).await.unwrap();
        let bad = run(&dir, &["audit", "verify"], &db);
        assert_eq!(bad.status.code(), Some(1), "{name}");
        let report = text(&bad.stdout);
        assert!(report.contains(&format!("seq 2 (event id {tampered_id})")), "{name}: {report}");

        sqlx::query("DELETE FROM events WHERE seq = 3").execute(store.danger_pool()).await.unwrap();
        store.close().await;
        let report = text(&run(&dir, &["audit", "verify"], &db).stdout);
        assert!(report.contains("events 3..3 were deleted"), "{name}: {report}");
    }
}

#[test]
fn config_show_redacts_secrets_and_unknown_keys_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("certwright.toml"),
        "database_url = \"postgres://cw:hunter2@db.internal/cw\"\nnode_id = \"from-file\"\n",
    )
    .unwrap();
    let out = run(&dir, &["config", "show", "--node-id", "from-flag"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("postgres://cw:***@db.internal/cw"), "{shown}");
    assert!(shown.contains("node_id = \"from-flag\""), "flags beat the file: {shown}");
    let env = certwright(&dir, &["config", "show"], &[]).env("CERTWRIGHT_NODE_ID", "from-env").output().unwrap();
    assert!(text(&env.stdout).contains("node_id = \"from-env\""), "env beats the file");

    std::fs::write(dir.join("certwright.toml"), "http_lisen = \"127.0.0.1:1\"\n").unwrap();
    let bad = run(&dir, &["config", "show"], &[]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad.stderr).contains("http_lisen"), "{}", text(&bad.stderr));

    let version = Command::new(BIN).arg("--version").output().unwrap();
    assert!(text(&version.stdout).starts_with("certwright "));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_postgres_node_needs_the_first_nodes_master_key() {
    let Some(base) = certwright_store::testing::postgres_url() else {
        eprintln!("CERTWRIGHT_TEST_POSTGRES_URL is not set: PostgreSQL case not run");
        return;
    };
    let url = certwright_store::testing::fresh_postgres_schema(&base).await.unwrap();
    let db = vec!["--database-url".to_owned(), url];
    let tmp = tempfile::tempdir().unwrap();
    let (node_a, node_b) = (tmp.path().join("a"), tmp.path().join("b"));
    assert!(run(&node_a, &["init"], &db).status.success());
    let token = std::fs::read_to_string(node_a.join("admin.token")).unwrap().trim().to_owned();

    let refused = run(&node_b, &["init"], &db);
    assert_eq!(refused.status.code(), Some(2));
    assert!(text(&refused.stderr).contains("copy master.key"), "{}", text(&refused.stderr));
    assert!(!node_b.join("master.key").exists(), "no key of its own was made");

    // A foreign key is refused, the right one accepted.
    let other = tempfile::tempdir().unwrap();
    assert!(run(&other.path().join("d"), &["init"], &[]).status.success());
    std::fs::copy(other.path().join("d/master.key"), node_b.join("master.key")).unwrap();
    let wrong = run(&node_b, &["init"], &db);
    assert_eq!(wrong.status.code(), Some(2));
    assert!(text(&wrong.stderr).contains("not the master key"), "{}", text(&wrong.stderr));

    std::fs::copy(node_a.join("master.key"), node_b.join("master.key")).unwrap();
    let server = Server::start(&node_b, &db).await;
    assert_eq!(me(&server.url, &token).await, 200, "node A's admin token works on node B");
    assert!(!server.terminate().contains("admin API token"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_admin_token_is_recovered_locally_and_a_swapped_master_key_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    assert!(run(&dir, &["init"], &[]).status.success());
    let old = std::fs::read_to_string(dir.join("admin.token")).unwrap();
    std::fs::remove_file(dir.join("admin.token")).unwrap();

    let recovered = run(&dir, &["token", "recover"], &[]);
    assert!(recovered.status.success(), "{}", text(&recovered.stderr));
    let new = std::fs::read_to_string(dir.join("admin.token")).unwrap();
    assert_ne!(old, new);
    assert_eq!(mode(dir.join("admin.token")), 0o600);
    assert!(text(&recovered.stdout).contains(new.trim()));

    // Client commands find the server from the configuration file (HTTPS on `listen`, trusting ca.pem) when
    // --server is not given.
    let (port, https_port) = (free_port(), free_port());
    std::fs::write(
        dir.join("certwright.toml"),
        format!("http_listen = \"127.0.0.1:{port}\"\nlisten = \"127.0.0.1:{https_port}\"\n"),
    )
    .unwrap();
    let server = Server::start_configured(&dir, port).await;
    assert_eq!(me(&server.url, new.trim()).await, 200);
    assert_eq!(me(&server.url, old.trim()).await, 200, "recovery adds a token, it revokes none");
    let client = |args: &[&str]| {
        let out = certwright(&dir, args, &[]).env_remove("CERTWRIGHT_LISTEN").output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    assert_eq!(client(&["token", "list"])["total"], 2);

    let csr_dir = tempfile::tempdir().unwrap();
    let csr = csr_dir.path().join("a.csr");
    let ok = Command::new("openssl")
        .args([
            "req",
            "-new",
            "-nodes",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-subj",
            "/CN=cli.example.com",
        ])
        .args(["-addext", "subjectAltName=DNS:cli.example.com", "-keyout"])
        .arg(csr_dir.path().join("a.key"))
        .arg("-out")
        .arg(&csr)
        .status()
        .unwrap();
    assert!(ok.success());
    let cert_file = csr_dir.path().join("a.pem");
    let chain_file = csr_dir.path().join("chain.pem");
    let issued = client(&[
        "cert",
        "issue",
        "--csr",
        csr.to_str().unwrap(),
        "--out-cert",
        cert_file.to_str().unwrap(),
        "--out-chain",
        chain_file.to_str().unwrap(),
    ]);
    assert_eq!(issued["sans"], serde_json::json!(["dns:cli.example.com"]));
    let verify = Command::new("openssl")
        .args(["verify", "-CAfile"])
        .arg(dir.join("ca.pem"))
        .arg("-untrusted")
        .arg(&chain_file)
        .arg(&cert_file)
        .output()
        .unwrap();
    assert!(verify.status.success(), "{}", text(&verify.stdout));
    let key_file = csr_dir.path().join("gen.key");
    let generated = client(&[
        "cert",
        "issue",
        "--cn",
        "gen.example.com",
        "--san",
        "dns:gen.example.com",
        "--out-key",
        key_file.to_str().unwrap(),
    ]);
    assert!(generated.get("private_key_pem").is_none(), "the key went to the file, not stdout");
    assert_eq!(mode(key_file.clone()), 0o600);
    assert_eq!(client(&["cert", "list", "--name", "example.com"])["total"], 2);
    let generated_id = generated["id"].as_str().unwrap();
    let p12 = csr_dir.path().join("gen.p12");
    let out =
        certwright(&dir, &["cert", "export", generated_id, "--format", "pkcs12", "--out", p12.to_str().unwrap()], &[])
            .env_remove("CERTWRIGHT_LISTEN")
            .env("CERTWRIGHT_EXPORT_PASSWORD", "p12 password")
            .output()
            .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(mode(p12.clone()), 0o600);
    let opened = Command::new("openssl")
        .args(["pkcs12", "-passin", "pass:p12 password", "-nodes", "-in"])
        .arg(&p12)
        .output()
        .unwrap();
    assert!(opened.status.success() && text(&opened.stdout).contains("PRIVATE KEY"), "{}", text(&opened.stderr));
    let p7 = certwright(&dir, &["cert", "export", generated_id, "--format", "pkcs7"], &[])
        .env_remove("CERTWRIGHT_LISTEN")
        .output()
        .unwrap();
    assert!(p7.status.success() && p7.stdout.first() == Some(&0x30), "DER PKCS#7 on stdout");
    let foreign = csr_dir.path().join("foreign.pem");
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-new",
            "-nodes",
            "-newkey",
            "ed25519",
            "-days",
            "5",
            "-subj",
            "/CN=foreign.example.net",
        ])
        .arg("-keyout")
        .arg(csr_dir.path().join("foreign.key"))
        .arg("-out")
        .arg(&foreign)
        .status()
        .unwrap();
    assert!(made.success());
    let imported = client(&["cert", "import", foreign.to_str().unwrap()]);
    assert_eq!(
        (imported["origin"].as_str(), imported["validation_status"].as_str()),
        (Some("import"), Some("expiring"))
    );
    let shown = client(&["cert", "show", issued["id"].as_str().unwrap()]);
    assert_eq!(shown["serial"], issued["serial"]);
    let cas = client(&["ca", "list"]);
    let root = cas["items"].as_array().unwrap().iter().find(|a| a["kind"] == "root").unwrap().clone();
    let team = client(&["ca", "create", "--name", "team", "--parent", root["id"].as_str().unwrap(), "--path-len", "0"]);
    assert_eq!(team["kind"], "intermediate");
    server.terminate();

    let other = tempfile::tempdir().unwrap();
    assert!(run(&other.path().join("d"), &["init"], &[]).status.success());
    std::fs::copy(other.path().join("d/master.key"), dir.join("master.key")).unwrap();
    let refused = run(&dir, &["init"], &[]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(text(&refused.stderr).contains("not the master key"), "{}", text(&refused.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_started_afresh_keeps_the_master_key_and_gets_a_new_ca_and_server_certificate() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let https_port = free_port();
    let listen = vec!["--listen".to_owned(), format!("127.0.0.1:{https_port}")];
    Server::start(&dir, &listen).await.terminate();
    let key = std::fs::read(dir.join("master.key")).unwrap();
    let old_ca = std::fs::read(dir.join("ca.pem")).unwrap();
    for f in ["certwright.db", "certwright.db-wal", "certwright.db-shm"] {
        let _ = std::fs::remove_file(dir.join(f));
    }
    let server = Server::start(&dir, &listen).await;
    assert_eq!(std::fs::read(dir.join("master.key")).unwrap(), key, "the existing master key is kept");
    assert_ne!(std::fs::read(dir.join("ca.pem")).unwrap(), old_ca, "a new CA, and ca.pem follows it");
    let curl = Command::new("curl")
        .args(["-sS", "--fail", "--cacert"])
        .arg(dir.join("ca.pem"))
        .arg(format!("https://127.0.0.1:{https_port}/healthz"))
        .output()
        .unwrap();
    assert!(curl.status.success(), "the server certificate comes from the new CA: {}", text(&curl.stderr));
    server.terminate();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maintenance_commands_on_an_empty_database_say_it_is_not_initialised() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    std::fs::create_dir_all(&dir).unwrap();
    let mut dbs: Vec<Vec<String>> = vec![vec![]];
    if let Some(base) = certwright_store::testing::postgres_url() {
        let url = certwright_store::testing::fresh_postgres_schema(&base).await.unwrap();
        dbs.push(vec!["--database-url".to_owned(), url]);
    }
    for db in dbs {
        for args in [&["audit", "verify"][..], &["token", "recover"][..]] {
            let out = run(&dir, args, &db);
            assert_eq!(out.status.code(), Some(2), "{args:?} {db:?}");
            assert!(text(&out.stderr).contains("not initialised"), "{args:?} {db:?}: {}", text(&out.stderr));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cert_import_sends_pkcs12_files_and_separate_keys_with_their_passwords() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    assert!(run(&dir, &["init"], &[]).status.success());
    let server = Server::start(&dir, &[]).await;
    let files = tempfile::tempdir().unwrap();
    let f = files.path();
    let openssl =
        |args: &[&str]| assert!(Command::new("openssl").current_dir(f).args(args).status().unwrap().success());
    let self_signed = |cn: &str, key: &str, cert: &str| {
        let subj = format!("/CN={cn}");
        openssl(
            &["req", "-x509", "-new", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-days"]
                .into_iter()
                .chain(["5", "-subj", &subj, "-keyout", key, "-out", cert])
                .collect::<Vec<_>>(),
        );
    };
    self_signed("p12.example.net", "a.key", "a.pem");
    self_signed("key.example.net", "b.key", "b.pem");
    openssl(
        &["pkcs12", "-export", "-legacy", "-inkey", "a.key", "-in", "a.pem", "-passout", "pass:file pass"]
            .into_iter()
            .chain(["-out", "a.p12"])
            .collect::<Vec<_>>(),
    );
    openssl(&["pkcs8", "-topk8", "-v2", "aes-256-cbc", "-in", "b.key", "-passout", "pass:kp", "-out", "b.enc"]);
    std::fs::write(f.join("pass.txt"), "file pass\n").unwrap();
    let path = |name: &str| f.join(name).to_str().unwrap().to_owned();
    let import = |args: &[String]| {
        let mut all = vec!["cert", "import", "--server", &server.url];
        all.extend(args.iter().map(String::as_str));
        certwright(&dir, &all, &[]).output().unwrap()
    };

    let out = import(&[path("a.p12"), "--password-file".into(), path("pass.txt")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let imported: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(imported["common_name"], "p12.example.net");
    let out = import(&[path("b.pem"), "--key".into(), path("a.key")]);
    assert!(!out.status.success() && text(&out.stderr).contains("import.key_mismatch"), "{}", text(&out.stderr));
    let out = import(&[path("b.pem"), "--key".into(), path("b.enc"), "--key-password".into(), "kp".into()]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    // The key that came in the PKCS#12 file goes out again with its certificate.
    let p12 = f.join("again.p12");
    let id = imported["id"].as_str().unwrap();
    let out = certwright(&dir, &["cert", "export", id, "--format", "pkcs12", "--server", &server.url], &[])
        .args(["--out", p12.to_str().unwrap()])
        .env("CERTWRIGHT_EXPORT_PASSWORD", "out pass")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let pubkey = |args: &[&str]| text(&Command::new("openssl").current_dir(f).args(args).output().unwrap().stdout);
    openssl(&["pkcs12", "-in", "again.p12", "-passin", "pass:out pass", "-nocerts", "-nodes", "-out", "again.key"]);
    assert_eq!(pubkey(&["pkey", "-in", "again.key", "-pubout"]), pubkey(&["pkey", "-in", "a.key", "-pubout"]));
    server.terminate();
}

/// `cert revoke` (by id and by authority and serial), `cert release-hold`, `crl generate|list|show`, with
/// openssl reading the CRL the CLI wrote.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoke_and_crl_commands() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let server = Server::start(&dir, &[]).await;
    let run_client = |args: &[&str]| {
        let mut full = args.to_vec();
        full.extend(["--server", server.url.as_str()]);
        run(&dir, &full, &[])
    };
    let client = |args: &[&str]| {
        let out = run_client(args);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap_or(serde_json::Value::Null)
    };
    let a = client(&["cert", "issue", "--cn", "gone.example.com"]);
    let b = client(&["cert", "issue", "--cn", "held.example.com"]);
    let revoked = client(&["cert", "revoke", a["id"].as_str().unwrap(), "--reason", "keyCompromise"]);
    assert_eq!(revoked["revocation"]["reason"], "keyCompromise");
    let again = run_client(&["cert", "revoke", a["id"].as_str().unwrap()]);
    assert_eq!(again.status.code(), Some(2));
    assert!(text(&again.stderr).contains("certificate.already_revoked"), "{}", text(&again.stderr));
    let authority = b["authority"].as_str().unwrap();
    let serial = b["serial"].as_str().unwrap();
    let held = client(&["cert", "revoke", "--authority", authority, "--serial", serial, "--reason", "certificateHold"]);
    assert_eq!(held["certificate"]["state"], "revoked");
    assert_eq!(client(&["cert", "release-hold", b["id"].as_str().unwrap()])["certificate"]["state"], "issued");

    let made = client(&["crl", "generate", authority]);
    assert_eq!(made.as_array().unwrap().len(), 6, "full, delta and 4 partitions: {made}");
    let listed = client(&["crl", "list", authority]);
    assert_eq!(listed[0]["kind"], "full");
    assert_eq!(listed[0]["entries"], 1, "{listed}");
    let out = tmp.path().join("full.pem");
    client(&["crl", "show", authority, "--out", out.to_str().unwrap()]);
    let shown = Command::new("openssl").args(["crl", "-noout", "-text", "-in"]).arg(&out).output().unwrap();
    let shown = text(&shown.stdout);
    assert!(shown.contains(&a["serial"].as_str().unwrap().to_uppercase()), "the revoked serial is listed: {shown}");
    assert!(!shown.contains(&serial.to_uppercase()), "the released hold is not: {shown}");
    assert!(shown.contains("Key Compromise"), "{shown}");
    server.terminate();
}

/// `cert renew|rekey`, and the approval commands against a profile that wants one approver.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renew_rekey_and_approval_commands() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let server = Server::start(&dir, &[]).await;
    let run_client = |args: &[&str]| {
        let mut full = args.to_vec();
        full.extend(["--server", server.url.as_str()]);
        run(&dir, &full, &[])
    };
    let client = |args: &[&str]| {
        let out = run_client(args);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap_or(serde_json::Value::Null)
    };
    let old = client(&["cert", "issue", "--cn", "svc.example.com"]);
    let id = old["id"].as_str().unwrap();
    let renewed = client(&["cert", "renew", id, "--validity-days", "20"]);
    assert_ne!(renewed["id"], old["id"]);
    let rekeyed = client(&["cert", "rekey", id, "--key-algorithm", "ecdsa-p384"]);
    assert_eq!(rekeyed["key_algorithm"], "ecdsa-p384", "{rekeyed}");
    let shown = client(&["cert", "show", id]);
    assert_eq!(shown["related"].as_array().unwrap().len(), 2, "{shown}");
    let refused = run_client(&["cert", "confirm-revoke", id]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(text(&refused.stderr).contains("Certificate is not in PENDING_REVOKE state"), "{}", text(&refused.stderr));

    // A revocation that waits for approval, approved by another principal's token from the CLI.
    let token = std::fs::read_to_string(dir.join("admin.token")).unwrap().trim().to_owned();
    let http = certwright_testkit::http_client();
    let ca = old["authority"].as_str().unwrap();
    let body = serde_json::json!({ "name": "guarded", "authority": ca, "policy": { "approval": { "revoke": true } } });
    let r = http.post(format!("{}/v1/ra-profiles", server.url)).bearer_auth(&token).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let guarded = client(&["cert", "issue", "--ra-profile", "guarded", "--cn", "guarded.example.com"]);
    let gid = guarded["id"].as_str().unwrap();
    let pending = client(&["cert", "revoke", gid, "--reason", "superseded"]);
    assert_eq!(pending["state"], "pending_revoke", "{pending}");
    let listed = client(&["approval", "list", "--status", "pending"]);
    let approval = listed["items"][0]["id"].as_str().unwrap().to_owned();
    let own = run_client(&["approval", "approve", &approval]);
    assert_eq!(own.status.code(), Some(2), "the requester does not approve their own request");
    let body = serde_json::json!({ "name": "second-admin", "role": "admin" });
    let r = http.post(format!("{}/v1/tokens", server.url)).bearer_auth(&token).json(&body).send().await.unwrap();
    let other = r.json::<serde_json::Value>().await.unwrap()["secret"].as_str().unwrap().to_owned();
    let approved = client(&["approval", "approve", &approval, "--comment", "ok", "--token", &other]);
    assert_eq!(approved["status"], "approved", "{approved}");
    assert_eq!(client(&["cert", "show", gid])["state"], "revoked");
    server.terminate();
}

/// Renewal jobs survive a `kill -9` in the middle of a batch: after a restart every job completes and every
/// certificate is renewed exactly once (a renewal commits its certificate with the job's end, fenced by the lease).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_renewals_then_restart_renews_each_certificate_once() {
    const N: usize = 600;
    for (name, db) in backends().await {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        std::fs::create_dir_all(&dir).unwrap();
        // Short leases so the restarted node takes over the dead one's jobs quickly.
        std::fs::write(dir.join("certwright.toml"), "job_lease_seconds = 2\nexpiry_scan_seconds = 3600\n").unwrap();
        let server = Server::start(&dir, &db).await;
        let token = std::fs::read_to_string(dir.join("admin.token")).unwrap().trim().to_owned();
        let client = certwright_testkit::http_client();
        let url = server.url.clone();
        let profiles = client.get(format!("{url}/v1/ra-profiles/default")).bearer_auth(&token).send().await.unwrap();
        let authority = profiles.json::<serde_json::Value>().await.unwrap()["authority"].as_str().unwrap().to_owned();
        let body = serde_json::json!({ "name": "auto", "authority": authority, "policy": {
            "auto_renew": true, "renewal_window_days": 20, "default_validity_days": 30 } });
        let r = client.post(format!("{url}/v1/ra-profiles")).bearer_auth(&token).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 201, "{name}");
        let issued: Vec<_> = (0..8)
            .map(|w| {
                let (url, token, client) = (url.clone(), token.clone(), client.clone());
                tokio::spawn(async move {
                    for i in (w..N).step_by(8) {
                        let body = serde_json::json!({ "ra_profile": "auto", "common_name": format!("r{i}.example.com"),
                            "validity_days": 10 });
                        let r =
                            client.post(format!("{url}/v1/certificates")).bearer_auth(&token).json(&body).send().await;
                        assert_eq!(r.unwrap().status(), 201);
                    }
                })
            })
            .collect();
        for w in issued {
            w.await.unwrap();
        }
        server.terminate();

        // A scan queues every renewal; kill the node while it works through them.
        let jobs = |url: String, state: &'static str| {
            let (client, token) = (client.clone(), token.clone());
            async move {
                let path = format!("{url}/v1/jobs?kind=certificate.renew&state={state}&limit=1");
                let r = client.get(path).bearer_auth(&token).send().await.ok()?;
                r.json::<serde_json::Value>().await.ok()?["total"].as_u64()
            }
        };
        let mut server = Server::start(&dir, &db).await;
        let r = client.post(format!("{}/v1/jobs/expiry-scan", server.url)).bearer_auth(&token).send().await.unwrap();
        assert_eq!(r.status(), 202, "{name}");
        let deadline = Instant::now() + Duration::from_secs(60);
        let done_before_kill = loop {
            let done = jobs(server.url.clone(), "succeeded").await.unwrap_or(0);
            if done > 0 {
                break done;
            }
            assert!(Instant::now() < deadline, "{name}: no renewal ran");
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        server.child.kill().unwrap(); // SIGKILL, while renewals run
        server.child.wait().unwrap();
        assert!((done_before_kill as usize) < N, "{name}: every renewal finished before the kill; nothing was tested");

        let server = Server::start(&dir, &db).await;
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let done = jobs(server.url.clone(), "succeeded").await.unwrap_or(0) as usize;
            if done == N {
                break;
            }
            assert!(Instant::now() < deadline, "{name}: only {done} of {N} renewals completed after the restart");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert_eq!(jobs(server.url.clone(), "failed").await, Some(0), "{name}");
        let r = client.get(format!("{}/v1/ra-profiles/auto", server.url)).bearer_auth(&token).send().await.unwrap();
        let profile = r.json::<serde_json::Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
        let path = format!("{}/v1/certificates?ra_profile={profile}&limit=1", server.url);
        let list =
            client.get(path).bearer_auth(&token).send().await.unwrap().json::<serde_json::Value>().await.unwrap();
        assert_eq!(list["total"].as_u64(), Some(2 * N as u64), "{name}: each certificate renewed exactly once");
        let audit = run(&dir, &["audit", "verify"], &db);
        assert!(audit.status.success(), "{name}: audit chain after kill -9: {}", text(&audit.stdout));
        server.terminate();
    }
}
