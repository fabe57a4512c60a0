//! The publication part of the senhasegura face, on SQLite and PostgreSQL: devices and credentials through the
//! PAM paths (form and JSON bodies; secrets never in any answer nor event), publication profiles with the
//! vendor's defaults, every error envelope, and publishing to a real Apache httpd on loopback — the certificate
//! paths read from the site's `<VirtualHost>`, the new certificate served (checked with `openssl s_client`), and
//! a publication whose configuration file is missing reported processed with an error and changing nothing.

use certwright_testkit::openssl;
use certwright_testkit::process::{free_port, require};
use certwright_testkit::{Backend, TestServer};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A body for a senhasegura call.
enum Body<'a> {
    None,
    Form(&'a [(&'a str, &'a str)]),
    Json(Value),
}

async fn call(s: &TestServer, method: &str, path: &str, body: Body<'_>) -> (u16, Value) {
    let mut req = s.http().request(method.parse().unwrap(), s.at(path)).bearer_auth(&s.admin_token);
    req = match body {
        Body::None => req,
        Body::Form(pairs) => {
            let mut form = form_urlencoded::Serializer::new(String::new());
            for (k, v) in pairs {
                form.append_pair(k, v);
            }
            req.header("content-type", "application/x-www-form-urlencoded").body(form.finish())
        }
        Body::Json(v) => req.json(&v),
    };
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or_else(|_| panic!("{method} {path}: not JSON: {text}")))
}

/// Asserts an error envelope: status, `NNNN` code in `response` and `exception`.
fn assert_error(v: &(u16, Value), status: u16, code: u64) {
    assert_eq!(v.0, status, "{}", v.1);
    assert_eq!(v.1["response"]["error"], true, "{}", v.1);
    assert_eq!(v.1["response"]["error_code"], code, "{}", v.1);
    assert_eq!(v.1["exception"]["code"], code, "{}", v.1);
    assert!(v.1["response"]["message"].as_str().unwrap().starts_with(&format!("{code}: ")), "{}", v.1);
}

/// Issues a certificate with a key generated here; its native answer and its senhasegura code.
async fn issue(s: &TestServer, name: &str) -> (Value, i64) {
    let body = json!({"ra_profile": "default", "common_name": name, "sans": [format!("dns:{name}")],
                      "key_algorithm": "ecdsa-p256"});
    let resp = s.http().post(s.at("/v1/certificates")).bearer_auth(&s.admin_token).json(&body).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let cert: Value = resp.json().await.unwrap();
    let (status, list) = call(s, "GET", "/iso/certificate/list?limit=1000", Body::None).await;
    assert_eq!(status, 200, "{list}");
    let found = list["certificate"].as_array().unwrap().iter().find(|c| c["uuid"] == cert["id"]).cloned();
    let code = found.and_then(|c| c["code_certificate"].as_i64()).unwrap_or_else(|| panic!("{list}"));
    (cert, code)
}

async fn device(s: &TestServer, hostname: &str, ip: &str) -> i64 {
    let (status, v) = call(s, "POST", "/iso/pam/device", Body::Form(&[("hostname", hostname), ("ip", ip)])).await;
    assert_eq!(status, 201, "{v}");
    v["device"]["id"].as_i64().unwrap()
}

/// Waits for a publication to be processed; the publication as listed then.
async fn processed(s: &TestServer, code: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, v) = call(s, "GET", &format!("/iso/cert/publish/{code}"), Body::None).await;
        assert_eq!(status, 200, "{v}");
        let p = v["certificate"].clone();
        if p["processed"] == 1 {
            return p;
        }
        assert!(Instant::now() < deadline, "the publication was not processed: {p}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

mod cases {
    use super::*;

    pub async fn devices_and_credentials_are_kept_and_secrets_never_shown(s: TestServer) {
        let secret = "S3cr3t-Pa55-never-shown";
        let key_line = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ";
        // A device from a form body, then changed with a JSON body (same hostname).
        let (status, v) = call(
            &s,
            "POST",
            "/iso/pam/device",
            Body::Form(&[
                ("hostname", "web01"),
                ("ip", "10.1.2.3"),
                ("model", "R640"),
                ("type", "Server"),
                ("vendor", "Dell"),
                ("site", "DC1"),
                ("device_tags[]", "prod"),
                ("device_tags[]", "web"),
            ]),
        )
        .await;
        assert_eq!(status, 201, "{v}");
        assert_eq!(v["response"]["message"], "1002: Created");
        let d = &v["device"];
        assert_eq!(
            (d["hostname"].as_str(), d["ip"].as_str(), d["vendor"].as_str()),
            (Some("web01"), Some("10.1.2.3"), Some("Dell"))
        );
        assert_eq!(d["ssh_port"], 22);
        assert_eq!(d["winrm_port"], 5986);
        assert_eq!(d["device_tags"], json!(["prod", "web"]));
        let id = d["id"].as_i64().unwrap();
        let (status, v) = call(
            &s,
            "POST",
            "/iso/pam/device",
            Body::Json(json!({"hostname": "web01", "ip": "10.1.2.4", "ssh_port": 2222,
                "ssh_host_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOb7Jn2q2d8nUSv0Ai0oJHDyFLwQ8lJw2Z+ROE6UQmvD"})),
        )
        .await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["response"]["message"], "1003: Updated");
        assert_eq!((v["device"]["id"].as_i64(), v["device"]["ip"].as_str()), (Some(id), Some("10.1.2.4")));
        assert_eq!(v["device"]["model"], "R640", "unsent fields are kept");
        assert_eq!(v["device"]["ssh_port"], 2222);
        // Required fields and bad values.
        assert_error(&call(&s, "POST", "/iso/pam/device", Body::Form(&[("ip", "10.0.0.1")])).await, 400, 1021);
        assert_error(&call(&s, "POST", "/iso/pam/device", Body::Form(&[("hostname", "new")])).await, 400, 1021);
        let bad_ip = call(&s, "POST", "/iso/pam/device", Body::Form(&[("hostname", "x"), ("ip", "300.1.1.1")])).await;
        assert_error(&bad_ip, 400, 1020);
        // Unknown device: 400 1011, as the vendor answers.
        assert_error(&call(&s, "GET", "/iso/pam/device/999999", Body::None).await, 400, 1011);
        let (status, v) = call(&s, "GET", &format!("/iso/pam/device/{id}"), Body::None).await;
        assert_eq!((status, v["device"]["hostname"].as_str()), (200, Some("web01")));

        // Credentials: a password from a form, a key from JSON; the content never comes back.
        let (status, v) = call(
            &s,
            "POST",
            "/iso/pam/credential",
            Body::Form(&[("username", "admin"), ("hostname", "web01"), ("content", secret), ("tags[]", "a")]),
        )
        .await;
        assert_eq!(status, 201, "{v}");
        let c = &v["credential"];
        assert_eq!(
            (c["username"].as_str(), c["hostname"].as_str(), c["ip"].as_str()),
            (Some("admin"), Some("web01"), Some("10.1.2.4"))
        );
        assert_eq!(c["content_type"], "password");
        let generated = c["identifier"].as_str().unwrap().to_owned();
        assert!(!generated.is_empty() && generated.chars().all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch)));
        let key = format!("-----BEGIN OPENSSH PRIVATE KEY-----\n{key_line}\n-----END OPENSSH PRIVATE KEY-----\n");
        let (status, v) = call(
            &s,
            "POST",
            "/iso/pam/credential",
            Body::Json(json!({"identifier": "deploy.key-1", "username": "deploy", "ip": "10.1.2.4", "content": key})),
        )
        .await;
        assert_eq!(status, 201, "{v}");
        assert_eq!(v["credential"]["content_type"], "private_key");
        let key_id = v["credential"]["id"].as_i64().unwrap();
        // Changing it without content keeps the key.
        let (status, v) = call(
            &s,
            "POST",
            "/iso/pam/credential",
            Body::Form(&[("identifier", "deploy.key-1"), ("additional", "rotated monthly")]),
        )
        .await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(
            (v["credential"]["id"].as_i64(), v["credential"]["content_type"].as_str()),
            (Some(key_id), Some("private_key"))
        );
        assert_error(
            &call(&s, "POST", "/iso/pam/credential", Body::Form(&[("username", "x"), ("hostname", "nowhere")])).await,
            400,
            1011,
        );
        assert_error(&call(&s, "POST", "/iso/pam/credential", Body::Form(&[("hostname", "web01")])).await, 400, 1021);
        let bad = call(
            &s,
            "POST",
            "/iso/pam/credential",
            Body::Form(&[("identifier", "a b"), ("username", "x"), ("hostname", "web01")]),
        )
        .await;
        assert_error(&bad, 400, 1020);
        let (status, v) = call(&s, "GET", "/iso/pam/credential/deploy.key-1", Body::None).await;
        assert_eq!((status, v["credential"]["id"].as_i64()), (200, Some(key_id)));
        assert_error(&call(&s, "GET", "/iso/pam/credential/424242", Body::None).await, 404, 1036);

        // A WebSphere profile's key database password is sealed too.
        let (status, v) = call(
            &s,
            "POST",
            "/iso/cert/profile/was",
            Body::Form(&[
                ("name_profile", "was"),
                ("key_db_path", "/opt/IBM/key.kdb"),
                ("key_db_password", "kdb-Pa55-never-shown"),
                ("label", "web"),
                ("code_credential", &key_id.to_string()),
                ("devices[]", &id.to_string()),
            ]),
        )
        .await;
        assert_eq!(status, 201, "{v}");
        assert_eq!(v["certificate"]["key_db_password"], "********");

        // Deleting makes inactive and forgets the content.
        let (status, v) = call(&s, "DELETE", &format!("/iso/pam/credential/{generated}"), Body::None).await;
        assert_eq!((status, v["credential"]["active"].as_i64()), (200, Some(0)));
        assert_eq!(v["credential"]["has_content"], false);
        let (status, v) = call(&s, "DELETE", &format!("/iso/pam/device/{id}"), Body::None).await;
        assert_eq!((status, v["device"]["active"].as_i64()), (200, Some(0)));
        let (_, v) = call(&s, "GET", "/iso/pam/device?active=0", Body::None).await;
        assert_eq!(v["devices"].as_array().unwrap().len(), 1, "{v}");

        for path in [
            "/iso/pam/credential",
            "/iso/pam/credential/deploy.key-1",
            "/iso/pam/device",
            "/iso/cert/profile",
            "/v1/events?limit=1000",
            "/v1/locations",
        ] {
            let (status, v) = call(&s, "GET", path, Body::None).await;
            assert_eq!(status, 200, "{path}: {v}");
            let text = v.to_string();
            for leaked in [secret, key_line, "kdb-Pa55-never-shown", "OPENSSH PRIVATE KEY"] {
                assert!(!text.contains(leaked), "{path} shows a secret: {text}");
            }
        }
        s.stop().await;
    }

    pub async fn profiles_take_the_vendor_defaults_and_errors_have_their_codes(s: TestServer) {
        let web = device(&s, "web02", "10.2.0.1").await;
        let (status, v) = call(
            &s,
            "POST",
            "/iso/pam/credential",
            Body::Form(&[("identifier", "svc"), ("username", "svc"), ("hostname", "web02"), ("content", "pw-1")]),
        )
        .await;
        assert_eq!(status, 201, "{v}");
        let cred = v["credential"]["id"].as_i64().unwrap();
        let web_s = web.to_string();
        let cred_s = cred.to_string();

        // Apache: defaults config_path and port; the answer carries code_profile and code_path [sic].
        let (status, v) = call(
            &s,
            "POST",
            "/iso/cert/profile/apache",
            Body::Form(&[("name_profile", "apache"), ("username", "svc"), ("devices[]", &web_s)]),
        )
        .await;
        assert_eq!(status, 201, "{v}");
        let p = &v["certificate"];
        assert_eq!(p["config_path"], "/etc/apache2/sites-available/default.com.conf");
        assert_eq!(p["port"], 443);
        assert_eq!(p["code_path"], p["code_profile"]);
        assert_eq!(p["devices"], json!([web]));
        let apache = p["code_profile"].as_i64().unwrap();
        // Modify: only what is sent changes.
        let (status, v) = call(
            &s,
            "POST",
            "/iso/cert/profile/apache",
            Body::Json(json!({"code_profile": apache, "port": 8443, "site": "www.example.test"})),
        )
        .await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(
            (v["certificate"]["port"].as_i64(), v["certificate"]["name_profile"].as_str()),
            (Some(8443), Some("apache"))
        );
        assert_eq!(v["certificate"]["config_path"], "/etc/apache2/sites-available/default.com.conf");
        // IIS through the Portuguese alias: cert_store MY, port 443.
        let (status, v) = call(
            &s,
            "POST",
            "/iso/cert/perfil/iis",
            Body::Form(&[("nome_perfil", "iis"), ("codigo_credencial", &cred_s), ("dispositivos[]", &web_s)]),
        )
        .await;
        assert_eq!(status, 201, "{v}");
        assert_eq!(
            (v["certificate"]["cert_store"].as_str(), v["certificate"]["port"].as_i64()),
            (Some("MY"), Some(443))
        );
        assert_eq!(v["certificate"]["code_credential"], cred);
        let (status, v) = call(
            &s,
            "POST",
            "/iso/cert/profile/bigip",
            Body::Form(&[
                ("name_profile", "f5"),
                ("code_credential", &cred_s),
                ("devices[]", &web_s),
                ("profile_client_vips[]", "clientssl-www"),
            ]),
        )
        .await;
        assert_eq!(status, 201, "{v}");
        assert_eq!(
            (v["certificate"]["name_partition"].as_str(), v["certificate"]["profile_client"][0].as_str()),
            (Some("Common"), Some("clientssl-www"))
        );
        let (_, listed) = call(&s, "GET", "/iso/cert/profile", Body::None).await;
        assert_eq!(listed["total"], 3, "{listed}");

        // Errors.
        assert_error(
            &call(&s, "POST", "/iso/cert/profile/apache", Body::Form(&[("name_profile", "x"), ("username", "svc")]))
                .await,
            400,
            1021,
        );
        assert_error(
            &call(&s, "POST", "/iso/cert/profile/apache", Body::Form(&[("name_profile", "x"), ("devices[]", &web_s)]))
                .await,
            400,
            1021,
        );
        assert_error(
            &call(
                &s,
                "POST",
                "/iso/cert/profile/iis",
                Body::Form(&[("name_profile", "x"), ("code_credential", "4242"), ("devices[]", &web_s)]),
            )
            .await,
            400,
            1036,
        );
        assert_error(
            &call(
                &s,
                "POST",
                "/iso/cert/profile/iis",
                Body::Form(&[("name_profile", "x"), ("username", "nobody"), ("devices[]", &web_s)]),
            )
            .await,
            400,
            1036,
        );
        assert_error(
            &call(
                &s,
                "POST",
                "/iso/cert/profile/iis",
                Body::Form(&[("name_profile", "x"), ("username", "svc"), ("devices[]", "4242")]),
            )
            .await,
            400,
            1011,
        );
        assert_error(
            &call(&s, "POST", "/iso/cert/profile/apache", Body::Form(&[("code_profile", "4242")])).await,
            404,
            1037,
        );
        // The profile is an Apache one, not an IIS one.
        let other_kind = call(&s, "POST", "/iso/cert/profile/iis", Body::Json(json!({"code_profile": apache}))).await;
        assert_error(&other_kind, 400, 1037);
        assert_error(
            &call(
                &s,
                "POST",
                "/iso/cert/profile/was",
                Body::Form(&[("name_profile", "w"), ("username", "svc"), ("devices[]", &web_s), ("label", "l")]),
            )
            .await,
            400,
            1021,
        );

        // Publishing.
        let (_, code) = issue(&s, "errors.publish.test").await;
        let code_s = code.to_string();
        let apache_s = apache.to_string();
        let send = |fields: Vec<(&'static str, String)>| {
            let s = &s;
            async move {
                let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
                call(s, "POST", "/iso/cert/publish", Body::Form(&pairs)).await
            }
        };
        let base = || -> Vec<(&'static str, String)> {
            vec![
                ("code_certificate", code_s.clone()),
                ("code_profile_publication", apache_s.clone()),
                ("reason", "1".into()),
            ]
        };
        assert_error(&send(base()).await, 400, 1021);
        let mut f = base();
        f.push(("devices[]", web_s.clone()));
        f[1].1 = "4242".into();
        assert_error(&send(f).await, 400, 1037);
        let mut f = base();
        f.push(("devices[]", web_s.clone()));
        f[0].1 = "4242".into();
        assert_error(&send(f).await, 400, 1049);
        let mut f = base();
        f.push(("devices[]", web_s.clone()));
        f[2].1 = "9".into();
        assert_error(&send(f).await, 400, 1034);
        let mut f = base();
        f.push(("devices[]", web_s.clone()));
        f.push(("itms_code", "x".repeat(31)));
        assert_error(&send(f).await, 400, 1022);
        let other = device(&s, "web03", "10.2.0.2").await;
        let mut f = base();
        f.push(("devices[]", other.to_string()));
        assert_error(&send(f).await, 400, 1061);
        // The profile's device has no SSH host key pinned: refused before anything is queued.
        let mut f = base();
        f.push(("devices[]", web_s.clone()));
        assert_error(&send(f).await, 400, 1062);
        let (status, v) = call(&s, "DELETE", &format!("/iso/pam/device/{web}"), Body::None).await;
        assert_eq!(status, 200, "{v}");
        let mut f = base();
        f.push(("devices[]", web_s.clone()));
        assert_error(&send(f).await, 400, 1060);
        assert_error(&call(&s, "GET", "/iso/cert/publish/4242", Body::None).await, 404, 1038);
        assert_error(&call(&s, "GET", "/iso/cert/publicar/listar/4242", Body::None).await, 404, 1038);
        let (status, v) = call(&s, "GET", "/iso/cert/publish", Body::None).await;
        assert_eq!((status, v["total"].as_i64()), (200, Some(0)), "nothing was published: {v}");
        // An auditor reads but does not publish, nor create devices.
        let auditor = s.token_with_role("auditor").await;
        for (path, body) in [
            (
                "/iso/cert/publish",
                format!("code_certificate={code}&code_profile_publication={apache}&reason=1&devices[]={other}"),
            ),
            ("/iso/pam/device", "hostname=aud&ip=10.9.9.9".to_owned()),
        ] {
            let resp = s
                .http()
                .post(s.at(path))
                .bearer_auth(&auditor)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            assert_error(&(status, resp.json().await.unwrap()), 403, 1012);
        }
        let resp = s.http().get(s.at("/iso/cert/publish")).bearer_auth(&auditor).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        s.stop().await;
    }
}

certwright_testkit::backend_tests!(
    devices_and_credentials_are_kept_and_secrets_never_shown,
    profiles_take_the_vendor_defaults_and_errors_have_their_codes,
);

/// A real Apache httpd on loopback with two TLS sites on one port (chosen by SNI), each with its certificate
/// and key under `<dir>/site`, stopped on drop.
struct Apache {
    dir: PathBuf,
    port: u16,
}

impl Apache {
    fn conf(&self) -> PathBuf {
        self.dir.join("server.conf")
    }

    fn command(&self, args: &str) -> String {
        format!("apache2 -f {} {args}", self.conf().display())
    }

    fn start(dir: &Path) -> Apache {
        require("apache2", "apache2");
        let site = dir.join("site");
        std::fs::create_dir_all(&site).unwrap();
        for name in ["www", "other"] {
            openssl::ok(
                &site,
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
                    &format!("/CN={name}.before.test"),
                    "-days",
                    "2",
                ],
            );
        }
        let apache = Apache { dir: dir.to_owned(), port: free_port() };
        let (d, port, m) = (dir.display(), apache.port, "/usr/lib/apache2/modules");
        let conf = format!(
            "ServerRoot {d}\nLoadModule mpm_event_module {m}/mod_mpm_event.so\n\
             LoadModule authz_core_module {m}/mod_authz_core.so\n\
             LoadModule socache_shmcb_module {m}/mod_socache_shmcb.so\nLoadModule ssl_module {m}/mod_ssl.so\n\
             ServerName localhost\nListen 127.0.0.1:{port}\nPidFile {d}/server.pid\nErrorLog {d}/error.log\n\
             DefaultRuntimeDir {d}\nMutex file:{d}\nUser www-data\nGroup www-data\nDocumentRoot {d}\n\
             # The first site on the port.\n\
             <VirtualHost 127.0.0.1:{port}>\n  ServerName other.publish.test\n  SSLEngine on\n\
               SSLCertificateFile {d}/site/other.pem\n  SSLCertificateKeyFile {d}/site/other.key\n</VirtualHost>\n\
             <VirtualHost 127.0.0.1:{port}>\n  ServerName www.publish.test\n  ServerAlias alias.publish.test\n\
               <IfModule ssl_module>\n    SSLEngine on\n    SSLCertificateFile \"{d}/site/www.pem\"\n\
                 SSLCertificateKeyFile {d}/site/www.key\n  </IfModule>\n</VirtualHost>\n"
        );
        std::fs::write(apache.conf(), conf).unwrap();
        let status = Command::new("apache2").args(["-k", "start", "-f"]).arg(apache.conf()).status().unwrap();
        let log = || std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
        assert!(status.success(), "apache2 did not start: {}", log());
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "apache2 does not listen: {}", log());
            std::thread::sleep(Duration::from_millis(50));
        }
        apache
    }

    /// SHA-256 (lower-case hex) of the certificate served for `name`, as `openssl s_client` sees it.
    fn served(&self, name: &str) -> String {
        let out = Command::new("openssl")
            .args(["s_client", "-connect", &format!("127.0.0.1:{}", self.port), "-servername", name])
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let start = text.find("-----BEGIN CERTIFICATE-----").expect("s_client shows the certificate");
        let end = text.find("-----END CERTIFICATE-----").unwrap() + "-----END CERTIFICATE-----".len();
        let der = certwright_pki::pem::decode(&text[start..end]).unwrap().1;
        certwright_pki::digest::hex(&certwright_pki::digest::sha256(&der))
    }
}

impl Drop for Apache {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self.dir.join("server.pid")) {
            let _ = Command::new("kill").args(["-TERM", pid.trim()]).status();
        }
    }
}

async fn publishes_to_apache(backend: Backend) {
    let tmp = tempfile::tempdir().unwrap();
    let apache = Apache::start(tmp.path());
    let site = apache.dir.join("site");
    let allowed = site.clone();
    let s = TestServer::start_with(backend, move |c| {
        c.deploy_allowed_paths = vec![allowed];
        c.deploy_allow_custom_commands = true;
    })
    .await;
    let other_before = apache.served("other.publish.test");
    let other_files = std::fs::read(site.join("other.pem")).unwrap();

    // This host: a loopback device without a host key, and a credential it does not need.
    let local = device(&s, "apache-local", "127.0.0.1").await;
    let (status, v) = call(
        &s,
        "POST",
        "/iso/pam/credential",
        Body::Form(&[("username", "www-admin"), ("hostname", "apache-local"), ("content", "unused")]),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let local_s = local.to_string();
    let port = apache.port.to_string();
    let conf = apache.conf().to_string_lossy().into_owned();
    let (test, reload) = (apache.command("-t"), apache.command("-k graceful"));
    let (status, v) = call(
        &s,
        "POST",
        "/iso/cert/profile/apache",
        Body::Form(&[
            ("name_profile", "loopback apache"),
            ("site", "www.publish.test"),
            ("config_path", &conf),
            ("port", &port),
            ("username", "www-admin"),
            ("devices[]", &local_s),
            ("test_command", &test),
            ("reload_command", &reload),
        ]),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let profile = v["certificate"]["code_profile"].as_i64().unwrap().to_string();

    let (cert, code) = issue(&s, "www.publish.test").await;
    let (status, v) = call(
        &s,
        "POST",
        "/iso/cert/publicar",
        Body::Form(&[
            ("codigo_certificado", &code.to_string()),
            ("codigo_perfil_publicacao", &profile),
            ("motivo", "1"),
            ("justification", "first install"),
            ("itms_code", "CHG-1"),
            ("dispositivos[]", &local_s),
        ]),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let p = &v["certificate"];
    assert_eq!((p["reason"].as_str(), p["itms_code"].as_str()), (Some("1 - New certificate"), Some("CHG-1")));
    assert_eq!(p["quantity_devices"], 1);
    let publication = p["code_publishing"].as_str().unwrap().to_owned();
    let done = processed(&s, &publication).await;
    assert_eq!(done["error"], 0, "{done}");
    assert_eq!(done["pushes"][0]["state"], "succeeded", "{done}");
    assert_eq!(done["pushes"][0]["device"], local);
    assert_eq!(done["devices"], json!([local]), "the vendor's shape: the device codes");
    assert_eq!(done["username"], "www-admin");
    let fingerprint = cert["fingerprint_sha256"].as_str().unwrap();
    assert_eq!(apache.served("www.publish.test"), fingerprint, "Apache serves the published certificate");
    assert_eq!(apache.served("alias.publish.test"), fingerprint);
    assert_eq!(apache.served("other.publish.test"), other_before, "the other site is untouched");
    assert_eq!(std::fs::read(site.join("other.pem")).unwrap(), other_files);
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(site.join("www.key")).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    // Without a chain directive the chain follows the certificate.
    let written = std::fs::read_to_string(site.join("www.pem")).unwrap();
    assert!(written.matches("BEGIN CERTIFICATE").count() >= 2, "{written}");

    // The certificate shows where it was published; filters find the publication.
    let (_, c) = call(&s, "GET", &format!("/iso/certificate/list/{code}"), Body::None).await;
    assert_eq!(c["certificate"]["publish_info"][0]["code_publishing"], publication.as_str(), "{c}");
    assert_eq!(c["certificate"]["publish_info"][0]["processed"], 1);
    assert_eq!(c["certificate"]["device"], json!([local]));
    for (query, total) in [
        (format!("code_certified={code}"), 1),
        (format!("device={local}&processed=1&error=0"), 1),
        ("error=1".to_owned(), 0),
        ("processed=0".to_owned(), 0),
        ("itms_code=CHG-1&reason=1".to_owned(), 1),
        ("reason=2".to_owned(), 0),
    ] {
        let (status, v) = call(&s, "GET", &format!("/iso/cert/publish?{query}"), Body::None).await;
        assert_eq!((status, v["total"].as_i64()), (200, Some(total)), "{query}: {v}");
    }

    // A profile whose configuration file does not exist: processed, with an error, nothing changed.
    let missing = apache.dir.join("missing.conf").to_string_lossy().into_owned();
    let (status, v) = call(
        &s,
        "POST",
        "/iso/cert/profile/apache",
        Body::Json(json!({"name_profile": "broken", "site": "www.publish.test", "config_path": missing,
            "port": apache.port, "username": "www-admin", "devices": [local], "test_command": test,
            "reload_command": reload})),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let broken = v["certificate"]["code_profile"].as_i64().unwrap();
    let (other_cert, other_code) = issue(&s, "www.publish.test").await;
    assert_ne!(other_cert["fingerprint_sha256"], cert["fingerprint_sha256"]);
    let files_before = std::fs::read(site.join("www.pem")).unwrap();
    let (status, v) = call(
        &s,
        "POST",
        "/iso/cert/publish",
        Body::Json(json!({"code_certificate": other_code, "code_profile_publication": broken, "reason": 4,
            "devices": [local]})),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let failed = processed(&s, v["certificate"]["code_publishing"].as_str().unwrap()).await;
    assert_eq!(failed["error"], 1, "{failed}");
    assert_eq!(failed["pushes"][0]["state"], "failed", "{failed}");
    assert!(failed["pushes"][0]["error"].as_str().unwrap().contains("does not exist"), "{failed}");
    assert_eq!(std::fs::read(site.join("www.pem")).unwrap(), files_before);
    assert_eq!(apache.served("www.publish.test"), fingerprint, "the published certificate is still served");
    let (_, v) = call(&s, "GET", "/iso/cert/publish?error=1", Body::None).await;
    assert_eq!(v["total"], 1, "{v}");

    // Two first publications to a new profile at once: they take turns; both are stored, with one location.
    let (status, v) = call(
        &s,
        "POST",
        "/iso/cert/profile/apache",
        Body::Json(json!({"name_profile": "twin", "site": "www.publish.test", "config_path": conf,
            "port": apache.port, "username": "www-admin", "devices": [local], "test_command": test,
            "reload_command": reload})),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let twin = v["certificate"]["code_profile"].as_i64().unwrap();
    let body = || {
        Body::Json(json!({"code_certificate": code, "code_profile_publication": twin, "reason": 4, "devices": [local]}))
    };
    let (a, b) =
        tokio::join!(call(&s, "POST", "/iso/cert/publish", body()), call(&s, "POST", "/iso/cert/publish", body()));
    assert_eq!((a.0, b.0), (201, 201), "{a:?} {b:?}");
    for p in [&a.1, &b.1] {
        let done = processed(&s, p["certificate"]["code_publishing"].as_str().unwrap()).await;
        assert_eq!(done["error"], 0, "{done}");
    }
    let locations = s.get_json("/v1/locations", &s.admin_token).await;
    let twins = locations["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["name"].as_str().is_some_and(|n| n.starts_with(&format!("publication-{twin}-"))))
        .count();
    assert_eq!(twins, 1, "{locations}");

    // The device made inactive: a redeployment to its location (a renewal's, say) is refused and changes nothing.
    let (status, v) = call(&s, "DELETE", &format!("/iso/pam/device/{local}"), Body::None).await;
    assert_eq!(status, 200, "{v}");
    let location = format!("publication-{profile}-{local}");
    let resp = s
        .http()
        .post(s.at(&format!("/v1/locations/{location}/deployments")))
        .bearer_auth(&s.admin_token)
        .json(&json!({ "certificate": other_cert["id"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 202);
    let deployment: Value = resp.json().await.unwrap();
    let id = deployment["id"].as_str().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let done = loop {
        let d = s.get_json(&format!("/v1/deployments/{id}"), &s.admin_token).await;
        if d["state"] == "failed" || d["state"] == "succeeded" {
            break d;
        }
        assert!(Instant::now() < deadline, "the deployment did not end: {d}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(done["state"], "failed", "{done}");
    assert!(done["error"].as_str().unwrap().contains("inactive"), "{done}");
    assert_eq!(apache.served("www.publish.test"), fingerprint, "the published certificate is still served");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_publishes_a_certificate_to_apache() {
    publishes_to_apache(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_publishes_a_certificate_to_apache() {
    if !Backend::available().contains(&Backend::Postgres) {
        eprintln!("CERTWRIGHT_TEST_POSTGRES_URL is not set: PostgreSQL case not run");
        return;
    }
    publishes_to_apache(Backend::Postgres).await;
}
