//! An external authority reached by ACME: a request through its RA profile waits in `pending_issue` while a job
//! obtains the certificate from Let's Encrypt's test CA `pebble` (Debian package `pebble`) on loopback, with real
//! http-01 validation — pebble resolves every name to 127.0.0.1 through `pebble-challtestsrv` and fetches the
//! challenge from certwright's own plain-HTTP listener. The certificate is checked with `openssl`.

use certwright_testkit::process::{free_port, openssl, spawn, Killed};
use certwright_testkit::{Backend, TestServer};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// pebble with its mock DNS, validating http-01 on `http_port`; returns (directory URL, TLS root PEM, processes).
async fn pebble(dir: &Path, http_port: u16) -> (String, String, String, Vec<Killed>) {
    openssl(
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
            "tls-root.key",
            "-out",
            "tls-root.pem",
            "-days",
            "2",
            "-subj",
            "/CN=pebble TLS root",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    openssl(
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
            "key.pem",
            "-out",
            "tls.csr",
            "-subj",
            "/CN=localhost",
        ],
    );
    std::fs::write(dir.join("tls.ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
        .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "tls.csr",
            "-CA",
            "tls-root.pem",
            "-CAkey",
            "tls-root.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "tls.ext",
            "-out",
            "cert.pem",
        ],
    );
    let (dns, cts_mgmt, acme, mgmt, tls) = (free_port(), free_port(), free_port(), free_port(), free_port());
    let cts = spawn(
        dir,
        "challtestsrv",
        Command::new("pebble-challtestsrv").args([
            "-dns01",
            &format!("127.0.0.1:{dns}"),
            "-http01",
            "",
            "-https01",
            "",
            "-tlsalpn01",
            "",
            "-management",
            &format!("127.0.0.1:{cts_mgmt}"),
            "-defaultIPv4",
            "127.0.0.1",
            "-defaultIPv6",
            "",
        ]),
    );
    let config = json!({ "pebble": {
        "listenAddress": format!("127.0.0.1:{acme}"), "managementListenAddress": format!("127.0.0.1:{mgmt}"),
        "certificate": dir.join("cert.pem"), "privateKey": dir.join("key.pem"),
        "httpPort": http_port, "tlsPort": tls, "ocspResponderURL": "", "externalAccountBindingRequired": false,
    }});
    std::fs::write(dir.join("pebble.json"), config.to_string()).unwrap();
    let pebble = spawn(
        dir,
        "pebble",
        Command::new("pebble")
            .arg("-config")
            .arg(dir.join("pebble.json"))
            .args(["-dnsserver", &format!("127.0.0.1:{dns}")])
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_AUTHZREUSE", "0")
            .env_remove("PEBBLE_VA_ALWAYS_VALID"),
    );
    let root = std::fs::read_to_string(dir.join("tls-root.pem")).unwrap();
    let http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(root.as_bytes()).unwrap())
        .build()
        .unwrap();
    let directory = format!("https://localhost:{acme}/dir");
    for _ in 0..100 {
        if http.get(&directory).send().await.is_ok_and(|r| r.status().is_success()) {
            // pebble's issuing root, for checking what it issues.
            let issuer =
                http.get(format!("https://localhost:{mgmt}/roots/0")).send().await.unwrap().text().await.unwrap();
            std::fs::write(dir.join("pebble-root.pem"), issuer).unwrap();
            return (directory, root, format!("https://localhost:{mgmt}"), vec![cts, pebble]);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("pebble did not start: {}", std::fs::read_to_string(dir.join("pebble.log")).unwrap_or_default());
}

async fn call(s: &TestServer, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    let req = if method == "GET" { s.http().get(s.at(path)) } else { s.http().post(s.at(path)) };
    let req = req.bearer_auth(&s.admin_token);
    let resp = match body {
        Some(b) => req.json(&b),
        None => req,
    }
    .send()
    .await
    .unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_request_to_an_acme_authority_is_issued_by_pebble() {
    for backend in Backend::available() {
        let s = TestServer::start(backend).await;
        let dir = tempfile::tempdir().unwrap();
        let http_port: u16 = s.url.rsplit(':').next().unwrap().parse().unwrap();
        let (directory, tls_root, management, _procs) = pebble(dir.path(), http_port).await;

        let body = json!({ "name": "pebble", "external": { "type": "acme", "directory_url": directory,
            "contact": ["mailto:ops@example.com"], "tls_roots_pem": tls_root } });
        let (status, ca) = call(&s, "POST", "/v1/authorities", Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{ca}");
        assert_eq!(ca["connector"], "acme");
        let body = json!({ "name": "public-tls", "authority": ca["id"], "policy": { "max_validity_days": 90,
            "default_validity_days": 90 } });
        let (status, v) = call(&s, "POST", "/v1/ra-profiles", Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{v}");

        // A server-generated key: the job builds the CSR with it.
        let body = json!({ "ra_profile": "public-tls", "common_name": "www.acme-test.example",
            "sans": ["dns:www.acme-test.example", "dns:api.acme-test.example"] });
        let (status, pending) = call(&s, "POST", "/v1/certificates", Some(body)).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{pending}");
        assert_eq!(pending["state"], "pending_issue");
        let id = pending["id"].as_str().unwrap().to_owned();
        let deadline = Instant::now() + Duration::from_secs(90);
        let cert = loop {
            let (status, v) = call(&s, "GET", &format!("/v1/certificates/{id}"), None).await;
            if status == StatusCode::OK {
                break v;
            }
            let (_, r) = call(&s, "GET", &format!("/v1/requests/{id}"), None).await;
            assert_ne!(r["state"], "failed", "{r}");
            assert!(Instant::now() < deadline, "not issued in time: {r}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert_eq!(cert["state"], "issued");
        assert_eq!(cert["authority"], ca["id"]);
        let pem = cert["certificate_pem"].as_str().unwrap();
        std::fs::write(dir.path().join("leaf.pem"), pem).unwrap();
        let text = openssl(dir.path(), &["x509", "-in", "leaf.pem", "-noout", "-text"]);
        assert!(text.contains("DNS:www.acme-test.example") && text.contains("DNS:api.acme-test.example"), "{text}");
        assert!(text.contains("Issuer: CN = Pebble Intermediate CA"), "{text}");
        let (_, jobs) = call(&s, "GET", "/v1/jobs?kind=upstream.issue", None).await;
        assert_eq!(jobs["items"][0]["state"], "succeeded", "{jobs}");

        // Revoking waits for the upstream CA, then completes: pebble itself reports the certificate revoked.
        let (status, v) =
            call(&s, "POST", &format!("/v1/certificates/{id}/revoke"), Some(json!({ "reason": "superseded" }))).await;
        assert_eq!((status, v["state"].as_str()), (StatusCode::ACCEPTED, Some("pending_revoke")), "{v}");
        // Handed to the CA: it can no longer be taken back.
        let (status, v) = call(&s, "POST", &format!("/v1/certificates/{id}/cancel"), Some(json!({}))).await;
        assert_eq!((status, v["code"].as_str()), (StatusCode::CONFLICT, Some("cancel.too_late")), "{v}");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (_, v) = call(&s, "GET", &format!("/v1/certificates/{id}"), None).await;
            if v["state"] == "revoked" {
                assert_eq!(v["revocation"]["reason"], "superseded");
                break;
            }
            assert!(Instant::now() < deadline, "not revoked in time: {v}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let root = reqwest::Certificate::from_pem(tls_root.as_bytes()).unwrap();
        let http = reqwest::Client::builder().add_root_certificate(root).build().unwrap();
        let serial = cert["serial"].as_str().unwrap();
        let status: Value = http
            .get(format!("{management}/cert-status-by-serial/{serial}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(status["Status"], "Revoked", "{status}");
        assert_eq!(status["Reason"], 4, "{status}");

        // A CSR sent by the requester goes to the CA as it is.
        openssl(
            dir.path(),
            &[
                "req",
                "-new",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                "own.key",
                "-out",
                "own.csr",
                "-subj",
                "/CN=own.acme-test.example",
                "-addext",
                "subjectAltName=DNS:own.acme-test.example",
            ],
        );
        let csr = std::fs::read_to_string(dir.path().join("own.csr")).unwrap();
        let (status, pending) =
            call(&s, "POST", "/v1/certificates", Some(json!({ "ra_profile": "public-tls", "csr": csr }))).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{pending}");
        let id = pending["id"].as_str().unwrap().to_owned();
        let deadline = Instant::now() + Duration::from_secs(90);
        let cert = loop {
            let (status, v) = call(&s, "GET", &format!("/v1/certificates/{id}"), None).await;
            if status == StatusCode::OK {
                break v;
            }
            assert!(Instant::now() < deadline, "the CSR request was not issued in time");
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        std::fs::write(dir.path().join("own.pem"), cert["certificate_pem"].as_str().unwrap()).unwrap();
        let cert_key = openssl(dir.path(), &["x509", "-in", "own.pem", "-noout", "-pubkey"]);
        let csr_key = openssl(dir.path(), &["req", "-in", "own.csr", "-noout", "-pubkey"]);
        assert_eq!(cert_key, csr_key, "the certificate carries the requester's key");
        s.stop().await;
    }
}
