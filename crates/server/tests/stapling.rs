//! nginx staples an OCSP answer from our responder for a certificate we issued: a real TLS server fetches,
//! verifies (`ssl_stapling_verify`) and serves it, and `openssl s_client -status` sees it.

use certwright_testkit::{Backend, TestServer};
use serde_json::json;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Nginx(Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn s_client(port: u16, dir: &std::path::Path) -> String {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(["s_client", "-connect", &format!("127.0.0.1:{port}"), "-servername", "localhost", "-status"])
        .args(["-CAfile", "root.pem", "-verify_return_error"])
        .stdin(Stdio::null())
        .output()
        .expect("openssl is installed");
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_staples_our_ocsp_answer() {
    let s = TestServer::start(Backend::Sqlite).await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let body = json!({ "ra_profile": "default", "common_name": "localhost", "sans": ["dns:localhost"] });
    let resp = s.http().post(s.at("/v1/certificates")).bearer_auth(&s.admin_token).json(&body).send().await.unwrap();
    assert_eq!(resp.status(), 201);
    let v: serde_json::Value = resp.json().await.unwrap();
    let cert = v["certificate_pem"].as_str().unwrap();
    let chain = v["chain_pem"].as_str().unwrap();
    let root = chain.split_inclusive("-----END CERTIFICATE-----\n").last().unwrap();
    std::fs::write(dir.join("fullchain.pem"), format!("{cert}{chain}")).unwrap();
    std::fs::write(dir.join("key.pem"), v["private_key_pem"].as_str().expect("an exportable generated key")).unwrap();
    std::fs::write(dir.join("bundle.pem"), chain).unwrap();
    std::fs::write(dir.join("root.pem"), root).unwrap();

    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let responder = s.at("/ocsp");
    let conf = format!(
        "daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/error.log info;\nevents {{}}\n\
         http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
         fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
         server {{\n    listen 127.0.0.1:{port} ssl;\n    server_name localhost;\n\
         ssl_certificate {d}/fullchain.pem;\n    ssl_certificate_key {d}/key.pem;\n    ssl_stapling on;\n\
         ssl_stapling_verify on;\n    ssl_trusted_certificate {d}/bundle.pem;\n\
         ssl_stapling_responder {responder};\n    location / {{ return 200 \"ok\\n\"; }}\n  }}\n}}\n",
        d = dir.display()
    );
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    let child = Command::new("nginx")
        .args(["-e", &format!("{}/error.log", dir.display()), "-c", &format!("{}/nginx.conf", dir.display())])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("nginx is installed (scripts/test.sh installs nginx-light)");
    let _nginx = Nginx(child);

    // nginx fetches the answer on the first handshakes, in the background; later ones carry it.
    let mut last = String::new();
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        last = s_client(port, dir);
        if last.contains("OCSP Response Status: successful") {
            break;
        }
    }
    let log = std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
    assert!(last.contains("OCSP Response Status: successful"), "no stapled answer:\n{last}\nnginx log:\n{log}");
    assert!(last.contains("Cert Status: good"), "{last}");
    assert!(last.contains("Verify return code: 0 (ok)"), "{last}");
    assert!(!log.contains("OCSP response not successful") && !log.contains("OCSP_basic_verify() failed"), "{log}");
}
