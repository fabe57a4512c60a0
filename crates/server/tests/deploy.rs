//! Deployment to a real nginx (SQLite and PostgreSQL) and a real Apache httpd (SQLite) on loopback: a certificate issued here (key generated
//! here) is installed at an nginx location — files written, `nginx -t`, graceful reload — and `openssl s_client`
//! sees nginx serve it; with nginx's configuration broken, a deployment fails at the test step, the previous files
//! are restored and the previous certificate is still served; an automatic renewal (clock moved into the renewal
//! window) queues the renewed certificate for the location and nginx ends up serving it. Locations outside
//! `deploy_allowed_paths` and custom commands without `deploy_allow_custom_commands` are refused, and no
//! credential ever comes back.

use certwright_core::clock::{Clock, ManualClock};
use certwright_testkit::openssl;
use certwright_testkit::process::{free_port, require};
use certwright_testkit::{Backend, TestServer};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A real web server (nginx or Apache httpd) serving TLS on a loopback port from `<dir>/site/{fullchain,key}.pem`,
/// stopped on drop.
struct Server {
    apache: bool,
    dir: PathBuf,
    port: u16,
}

impl Server {
    fn conf(&self) -> String {
        self.dir.join("server.conf").to_string_lossy().into_owned()
    }

    /// The server's program with `args` and its configuration.
    fn argv(&self, args: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = vec![if self.apache { "apache2" } else { "nginx" }.into()];
        v.extend(args.iter().map(|s| (*s).to_owned()));
        if self.apache {
            v.extend(["-f".into(), self.conf()]);
        } else {
            v.extend(["-c".into(), self.conf(), "-p".into(), self.dir.to_string_lossy().into_owned()]);
        }
        v
    }

    fn test_argv(&self) -> Vec<String> {
        self.argv(&["-t"])
    }

    fn reload_argv(&self) -> Vec<String> {
        if self.apache {
            self.argv(&["-k", "graceful"])
        } else {
            self.argv(&["-s", "reload"])
        }
    }

    fn write_conf(&self, extra: &str) {
        let (d, port) = (self.dir.display(), self.port);
        let conf = if self.apache {
            let m = "/usr/lib/apache2/modules";
            format!(
                "ServerRoot {d}\nLoadModule mpm_event_module {m}/mod_mpm_event.so\n\
                 LoadModule authz_core_module {m}/mod_authz_core.so\n\
                 LoadModule socache_shmcb_module {m}/mod_socache_shmcb.so\nLoadModule ssl_module {m}/mod_ssl.so\n\
                 ServerName localhost\nListen 127.0.0.1:{port}\nPidFile {d}/server.pid\nErrorLog {d}/error.log\n\
                 DefaultRuntimeDir {d}\nMutex file:{d}\nUser www-data\nGroup www-data\nDocumentRoot {d}\n\
                 <VirtualHost 127.0.0.1:{port}>\nSSLEngine on\nSSLCertificateFile {d}/site/fullchain.pem\n\
                 SSLCertificateKeyFile {d}/site/key.pem\n</VirtualHost>\n{extra}\n"
            )
        } else {
            format!(
                "pid {d}/server.pid; error_log {d}/error.log; daemon on; worker_processes 1;\n\
                 events {{ worker_connections 64; }}\n\
                 http {{ access_log off; client_body_temp_path {d}/tmp; proxy_temp_path {d}/tmp; fastcgi_temp_path {d}/tmp;\n\
                 uwsgi_temp_path {d}/tmp; scgi_temp_path {d}/tmp;\n\
                 server {{ listen 127.0.0.1:{port} ssl; ssl_certificate {d}/site/fullchain.pem;\n\
                 ssl_certificate_key {d}/site/key.pem; return 204; }} }}\n{extra}"
            )
        };
        std::fs::write(self.dir.join("server.conf"), conf).unwrap();
    }

    fn start(dir: &Path, apache: bool) -> Server {
        if apache {
            require("apache2", "apache2");
        } else {
            require("nginx", "nginx-light");
        }
        std::fs::create_dir_all(dir.join("site")).unwrap();
        std::fs::create_dir_all(dir.join("tmp")).unwrap();
        // A first certificate so the server can start.
        openssl::ok(
            &dir.join("site"),
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                "key.pem",
                "-out",
                "fullchain.pem",
                "-subj",
                "/CN=before.test",
                "-days",
                "2",
            ],
        );
        let server = Server { apache, dir: dir.to_owned(), port: free_port() };
        server.write_conf("");
        let argv = if apache { server.argv(&["-k", "start"]) } else { server.argv(&[]) };
        let status = Command::new(&argv[0]).args(&argv[1..]).status().unwrap();
        let log = || std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
        assert!(status.success(), "{argv:?} did not start: {}", log());
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", server.port)).is_err() {
            assert!(Instant::now() < deadline, "{argv:?} does not listen: {}", log());
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    /// SHA-256 (lower-case hex) of the certificate the server serves.
    fn served(&self) -> String {
        let out = Command::new("openssl")
            .args(["s_client", "-connect", &format!("127.0.0.1:{}", self.port), "-servername", "localhost"])
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let start = text.find("-----BEGIN CERTIFICATE-----").expect("s_client shows the certificate");
        let end = text.find("-----END CERTIFICATE-----").unwrap() + "-----END CERTIFICATE-----".len();
        let der = certwright_pki::pem::decode(&text[start..end]).unwrap().1;
        certwright_pki::digest::hex(&certwright_pki::digest::sha256(&der))
    }

    /// What the server serves once `want` has been served, or after 5 s. Right after a graceful reload an old
    /// worker may still take a connection (the deployment saw the new certificate served, maybe by a new worker).
    fn served_settled(&self, want: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let seen = self.served();
            if seen == want || Instant::now() >= deadline {
                return seen;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Server {
    /// Stops the server by its pid file, which works whatever state the test left the configuration in.
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self.dir.join("server.pid")) {
            let signal = if self.apache { "-TERM" } else { "-QUIT" };
            let _ = Command::new("kill").args([signal, pid.trim()]).status();
        }
    }
}

async fn call(s: &TestServer, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = s.http().request(method.parse().unwrap(), s.at(path)).bearer_auth(&s.admin_token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn issue(s: &TestServer, profile: &str, days: u32) -> Value {
    let body =
        json!({"ra_profile": profile, "common_name": "localhost", "sans": ["dns:localhost"], "validity_days": days});
    let (status, v) = call(s, "POST", "/v1/certificates", Some(body)).await;
    assert_eq!(status, 201, "{v}");
    v
}

async fn location(s: &TestServer, server: &Server) -> Value {
    let d = server.dir.display();
    let body = json!({"name": "web", "spec": {
        "kind": if server.apache { "apache" } else { "nginx" }, "certificate_path": format!("{d}/site/fullchain.pem"),
        "key_path": format!("{d}/site/key.pem"), "fullchain": true, "test_command": server.test_argv(),
        "reload_command": server.reload_argv(), "verify_address": format!("127.0.0.1:{}", server.port),
        "verify_server_name": "localhost"}});
    let (status, v) = call(s, "POST", "/v1/locations", Some(body)).await;
    assert_eq!(status, 201, "{v}");
    v
}

/// Waits for a deployment to end; the deployment as shown at the end.
async fn finished(s: &TestServer, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, d) = call(s, "GET", &format!("/v1/deployments/{id}"), None).await;
        if matches!(d["state"].as_str(), Some("succeeded" | "failed")) {
            return d;
        }
        assert!(Instant::now() < deadline, "the deployment did not end: {d}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn deploy(s: &TestServer, cert: &str) -> Value {
    let (status, d) = call(s, "POST", "/v1/locations/web/deployments", Some(json!({"certificate": cert}))).await;
    assert_eq!(status, 202, "{d}");
    finished(s, d["id"].as_str().unwrap()).await
}

fn start(backend: Backend, clock: Arc<dyn Clock>, site: PathBuf) -> impl std::future::Future<Output = TestServer> {
    TestServer::start_with_clock(backend, clock, move |c| {
        c.deploy_allowed_paths = vec![site];
        c.deploy_allow_custom_commands = true;
        c.expiry_scan_seconds = 86_400;
    })
}

/// Installs a certificate, then fails on a broken configuration and rolls back; the certificate served.
async fn install_and_roll_back(s: &TestServer, server: &Server) {
    let before = server.served();
    let loc = location(s, server).await;
    assert_eq!(loc["has_credentials"], false);
    let cert = issue(s, "default", 60).await;
    let done = deploy(s, cert["id"].as_str().unwrap()).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    let want = cert["fingerprint_sha256"].as_str().unwrap();
    assert_eq!(server.served_settled(want), want, "the server serves the deployed certificate");
    assert_ne!(before, server.served());
    let key_mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(server.dir.join("site/key.pem")).unwrap().permissions(),
    );
    assert_eq!(key_mode & 0o777, 0o600);

    // A broken configuration: the test fails, the files are put back, the running server still serves the old one.
    let files_before = std::fs::read(server.dir.join("site/fullchain.pem")).unwrap();
    server.write_conf("this is not a configuration directive;");
    let other = issue(s, "default", 60).await;
    let failed = deploy(s, other["id"].as_str().unwrap()).await;
    assert_eq!(failed["state"], "failed", "{failed}");
    assert_eq!(failed["details"]["failed_step"], "test", "{failed}");
    assert_eq!(failed["details"]["rolled_back"], true, "{failed}");
    assert_eq!(std::fs::read(server.dir.join("site/fullchain.pem")).unwrap(), files_before);
    assert_eq!(server.served(), cert["fingerprint_sha256"].as_str().unwrap(), "the old certificate is still served");
    server.write_conf("");
}

async fn installs_rolls_back_and_redeploys_renewals(backend: Backend) {
    let tmp = tempfile::tempdir().unwrap();
    let nginx = Server::start(tmp.path(), false);
    let clock = Arc::new(ManualClock::at(certwright_core::clock::SystemClock.now()));
    let s = start(backend, clock.clone(), nginx.dir.join("site")).await;
    install_and_roll_back(&s, &nginx).await;

    // Automatic renewal: a profile that renews 20 days before expiry; 15 days later the 30-day certificate is due.
    let (_, default) = call(&s, "GET", "/v1/ra-profiles/default", None).await;
    let body = json!({"name": "auto", "authority": default["authority"], "policy": {
        "auto_renew": true, "renewal_window_days": 20, "default_validity_days": 30, "max_validity_days": 365}});
    let (status, v) = call(&s, "POST", "/v1/ra-profiles", Some(body)).await;
    assert_eq!(status, 201, "{v}");
    let auto = issue(&s, "auto", 30).await;
    let auto_id = auto["id"].as_str().unwrap().to_owned();
    assert_eq!(deploy(&s, &auto_id).await["state"], "succeeded");
    let want = auto["fingerprint_sha256"].as_str().unwrap();
    assert_eq!(nginx.served_settled(want), want);
    clock.advance(15 * 86_400);
    let (status, _) = call(&s, "POST", "/v1/jobs/expiry-scan", None).await;
    assert_eq!(status, 202);
    let deadline = Instant::now() + Duration::from_secs(60);
    let renewed = loop {
        let (_, list) = call(&s, "GET", "/v1/locations/web/deployments", None).await;
        let newest = list["items"][0].clone();
        if newest["reason"] == "renewal" && newest["state"] == "succeeded" {
            break newest;
        }
        assert!(newest["state"] != "failed", "{newest}");
        assert!(Instant::now() < deadline, "no redeployment after the renewal: {list}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let (_, new_cert) =
        call(&s, "GET", &format!("/v1/certificates/{}", renewed["certificate"].as_str().unwrap()), None).await;
    assert_ne!(new_cert["id"].as_str().unwrap(), auto_id);
    let want = new_cert["fingerprint_sha256"].as_str().unwrap();
    assert_eq!(nginx.served_settled(want), want, "nginx serves the renewed certificate");
    let (_, history) = call(&s, "GET", &format!("/v1/certificates/{auto_id}/deployments"), None).await;
    assert_eq!(history["total"], 1, "{history}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_installs_rolls_back_and_redeploys_renewals() {
    installs_rolls_back_and_redeploys_renewals(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_installs_rolls_back_and_redeploys_renewals() {
    if !Backend::available().contains(&Backend::Postgres) {
        eprintln!("CERTWRIGHT_TEST_POSTGRES_URL is not set: PostgreSQL case not run");
        return;
    }
    installs_rolls_back_and_redeploys_renewals(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apache_installs_and_rolls_back() {
    let tmp = tempfile::tempdir().unwrap();
    let apache = Server::start(tmp.path(), true);
    let s = start(Backend::Sqlite, Arc::new(certwright_core::clock::SystemClock), apache.dir.join("site")).await;
    install_and_roll_back(&s, &apache).await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locations_stay_inside_their_limits() {
    let tmp = tempfile::tempdir().unwrap();
    let site = tmp.path().join("site");
    let s = TestServer::start_with(Backend::Sqlite, |c| c.deploy_allowed_paths = vec![site.clone()]).await;
    let inside = site.join("cert.pem").to_string_lossy().into_owned();
    for (spec, code) in [
        (json!({"kind": "file", "certificate_path": "/etc/ssl/certs/x.pem"}), "location.not_allowed"),
        (json!({"kind": "file", "certificate_path": "relative.pem"}), "location.invalid"),
        (json!({"kind": "file", "certificate_path": format!("{}/../../etc/x", site.display())}), "location.invalid"),
        (
            json!({"kind": "nginx", "certificate_path": inside, "reload_command": ["sh", "-c", "id"]}),
            "location.not_allowed",
        ),
        (json!({"kind": "iis", "certificate_path": inside}), "location.invalid"),
        (json!({"kind": "file", "certificate_path": inside, "verify_address": "nowhere"}), "location.invalid"),
        (json!({"kind": "file"}), "location.invalid"),
        (
            json!({"kind": "f5", "f5": {"url": "https://bigip.test", "username": "admin", "profile": "clientssl"}}),
            "location.invalid",
        ),
        (json!({"kind": "f5"}), "location.invalid"),
        (
            json!({"kind": "iis", "iis": {"endpoint": "ftp://win.test", "username": "a", "site": "Default Web Site"}}),
            "location.invalid",
        ),
        (
            json!({"kind": "websphere", "websphere": {"key_db_path": "/opt/IBM/HTTPServer/conf/key.kdb", "label": "web"}}),
            "location.invalid",
        ),
    ] {
        let (status, v) = call(&s, "POST", "/v1/locations", Some(json!({"name": "x", "spec": spec.clone()}))).await;
        assert_eq!(status, 400, "{spec}: {v}");
        assert_eq!(v["code"], code, "{spec}: {v}");
    }
    // A password is kept sealed for the appliances that use one, and refused elsewhere.
    let f5 = json!({"kind": "f5", "f5": {"url": "https://bigip.test", "username": "admin", "profile": "clientssl"}});
    let (status, v) = call(
        &s,
        "POST",
        "/v1/locations",
        Some(json!({"name": "bigip", "spec": f5, "credentials": {"password": "s3cret-f5"}})),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["has_credentials"], true);
    assert!(!v.to_string().contains("s3cret-f5"));
    let (status, v) = call(&s, "POST", "/v1/locations", Some(json!({"name": "pw", "spec": {"kind": "file", "certificate_path": inside}, "credentials": {"password": "x"}}))).await;
    assert_eq!(status, 400, "{v}");
    let (_, events) = call(&s, "GET", "/v1/events?limit=1000", None).await;
    assert!(!events.to_string().contains("s3cret-f5"));
    // A file location works without any command: the certificate lands where it was told.
    let (status, v) = call(
        &s,
        "POST",
        "/v1/locations",
        Some(json!({"name": "files", "spec": {"kind": "file",
        "certificate_path": inside, "chain_path": site.join("chain.pem").to_string_lossy()}})),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    std::fs::create_dir_all(&site).unwrap();
    let cert = issue(&s, "default", 30).await;
    let (status, d) =
        call(&s, "POST", "/v1/locations/files/deployments", Some(json!({"certificate": cert["id"]}))).await;
    assert_eq!(status, 202);
    let done = finished(&s, d["id"].as_str().unwrap()).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    let written = std::fs::read_to_string(site.join("cert.pem")).unwrap();
    assert_eq!(written, cert["certificate_pem"].as_str().unwrap());
    assert!(std::fs::read_to_string(site.join("chain.pem")).unwrap().contains("BEGIN CERTIFICATE"));
    // Undeploy removes the files.
    let (status, d) = call(
        &s,
        "POST",
        "/v1/locations/files/deployments",
        Some(json!({"certificate": cert["id"], "action": "undeploy"})),
    )
    .await;
    assert_eq!(status, 202);
    assert_eq!(finished(&s, d["id"].as_str().unwrap()).await["state"], "succeeded");
    assert!(!site.join("cert.pem").exists());
    let (status, _) =
        call(&s, "POST", "/v1/locations/nowhere/deployments", Some(json!({"certificate": cert["id"]}))).await;
    assert_eq!(status, 404);
    // A symbolic link planted where the certificate goes is not followed out of the allowed directory.
    let outside = tmp.path().join("outside.pem");
    std::os::unix::fs::symlink(&outside, site.join("cert.pem")).unwrap();
    let (_, d) = call(&s, "POST", "/v1/locations/files/deployments", Some(json!({"certificate": cert["id"]}))).await;
    let refused = finished(&s, d["id"].as_str().unwrap()).await;
    assert_eq!(refused["state"], "failed", "{refused}");
    assert!(refused["error"].as_str().unwrap().contains("symbolic link"), "{refused}");
    assert!(!outside.exists());
    // A name that looks like an id would shadow another location.
    let name = uuid::Uuid::new_v4().to_string();
    let (status, v) = call(
        &s,
        "POST",
        "/v1/locations",
        Some(json!({"name": name, "spec": {"kind": "file", "certificate_path": inside}})),
    )
    .await;
    assert_eq!(status, 400, "{v}");
    s.stop().await;
}

/// A file location on another host over SSH (a throwaway OpenSSH server on loopback, its host key pinned): the
/// certificate, chain and key land there with their modes; the login key is sealed, never shown (not in the
/// location, nor in any audit event), and a wrong pinned host key fails the deployment without writing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_locations_write_over_a_pinned_connection() {
    require("sshd", "openssh-server");
    require("ssh", "openssh-client");
    std::fs::create_dir_all("/run/sshd").unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let keygen = |name: &str| {
        let path = d.join(name);
        let ok = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "t", "-f"])
            .arg(&path)
            .status()
            .unwrap();
        assert!(ok.success());
        std::fs::read_to_string(path.with_extension("pub")).unwrap().trim().to_owned()
    };
    let host_pub = keygen("host");
    let client_pub = keygen("client");
    std::fs::write(d.join("authorized_keys"), format!("{client_pub}\n")).unwrap();
    let port = free_port();
    std::fs::write(
        d.join("sshd_config"),
        format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {p}/host\nAuthorizedKeysFile {p}/authorized_keys\n\
             PidFile {p}/sshd.pid\nStrictModes no\nUsePAM no\nPasswordAuthentication no\n\
             KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\nUseDNS no\n",
            p = d.display()
        ),
    )
    .unwrap();
    let _sshd = certwright_testkit::process::spawn(
        d,
        "sshd",
        Command::new("/usr/sbin/sshd").args(["-D", "-e", "-f"]).arg(d.join("sshd_config")),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "sshd did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let user = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout).unwrap().trim().to_owned();
    let client_key = std::fs::read_to_string(d.join("client")).unwrap();
    let host_key: String = host_pub.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
    let remote = d.join("remote");
    std::fs::create_dir_all(&remote).unwrap();

    let s = TestServer::start(Backend::Sqlite).await;
    let spec = |key: &str| {
        json!({"kind": "file", "ssh": {"host": "127.0.0.1", "port": port, "user": user, "host_key": key},
        "certificate_path": remote.join("cert.pem").to_string_lossy(), "chain_path": remote.join("chain.pem").to_string_lossy(),
        "key_path": remote.join("key.pem").to_string_lossy()})
    };
    let (status, loc) = call(
        &s,
        "POST",
        "/v1/locations",
        Some(json!({"name": "remote", "spec": spec(&host_key), "credentials": {"ssh_private_key": client_key}})),
    )
    .await;
    assert_eq!(status, 201, "{loc}");
    assert_eq!(loc["has_credentials"], true);
    let cert = issue(&s, "default", 30).await;
    let (status, q) =
        call(&s, "POST", "/v1/locations/remote/deployments", Some(json!({"certificate": cert["id"]}))).await;
    assert_eq!(status, 202, "{q}");
    let done = finished(&s, q["id"].as_str().unwrap()).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_eq!(std::fs::read_to_string(remote.join("cert.pem")).unwrap(), cert["certificate_pem"].as_str().unwrap());
    let key = std::fs::read_to_string(remote.join("key.pem")).unwrap();
    assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"));
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(remote.join("key.pem")).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);

    // Another host key pinned: nothing is written, and the failure says why.
    let (_, wrong_pub) = (0, keygen("other"));
    let wrong: String = wrong_pub.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
    let (status, _) = call(
        &s,
        "POST",
        "/v1/locations",
        Some(json!({"name": "spoofed", "spec": spec(&wrong), "credentials": {"ssh_private_key": client_key}})),
    )
    .await;
    assert_eq!(status, 201);
    std::fs::remove_file(remote.join("cert.pem")).unwrap();
    let (_, q) = call(&s, "POST", "/v1/locations/spoofed/deployments", Some(json!({"certificate": cert["id"]}))).await;
    let failed = finished(&s, q["id"].as_str().unwrap()).await;
    assert_eq!(failed["state"], "failed", "{failed}");
    assert!(failed["error"].as_str().unwrap().contains("host key"), "{failed}");
    assert!(!remote.join("cert.pem").exists());

    // The login key is never shown.
    let secret_line = client_key.lines().nth(1).unwrap();
    for path in ["/v1/locations", "/v1/locations/remote", "/v1/events?limit=1000", "/v1/locations/remote/deployments"] {
        let (_, v) = call(&s, "GET", path, None).await;
        let text = v.to_string();
        assert!(!text.contains(secret_line) && !text.contains("OPENSSH PRIVATE KEY"), "{path} shows the key");
    }
    s.stop().await;
}
