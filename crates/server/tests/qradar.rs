//! The IBM QRadar face against certificates openssl made: each upload validation code from a real defect
//! (expired, not yet valid, revoked at our CA, wrong purpose, broken chain, key mismatch, bad self-signed, a stale
//! CRL fetched over loopback; a CSR disguised as a certificate, an Ed448 issuer, CRLs that are not CRLs, not yet
//! valid, unreachable, from outside the chain or from an issuer without cRLSign), the CSR → our CA → upload with
//! csr_id → deploy → full chain round trip checked with `openssl verify`, hostile input answered in QRadar's error
//! body, and the face's OpenAPI document matched against its routes.

use base64::Engine;
use certwright_core::auth::Ctx;
use certwright_testkit::TestServer;
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl").current_dir(dir).args(args).output().expect("openssl is installed");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn text(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap()
}

const CA_CONF: &str = "[ca]\ndefault_ca = d\n[d]\ndir = .\ndatabase = index.txt\nnew_certs_dir = .\nserial = serial\n\
default_md = sha256\npolicy = any\nunique_subject = no\ncopy_extensions = none\ncrlnumber = crlnumber\n\
[any]\ncommonName = supplied\n\
[server]\nbasicConstraints = CA:FALSE\nkeyUsage = digitalSignature, keyEncipherment\nextendedKeyUsage = serverAuth\n\
[client]\nbasicConstraints = CA:FALSE\nkeyUsage = digitalSignature\nextendedKeyUsage = clientAuth\n\
[not_ca]\nbasicConstraints = CA:FALSE\nkeyUsage = digitalSignature, keyCertSign\n\
[with_crl]\nbasicConstraints = CA:FALSE\nkeyUsage = digitalSignature, keyEncipherment\nextendedKeyUsage = serverAuth\n\
crlDistributionPoints = URI:CRL_URL\n";

/// An openssl CA in `dir`: `root.pem`/`root.key`, and a config whose `with_crl` section points at `crl_url`.
fn openssl_ca(dir: &Path, crl_url: &str) {
    std::fs::write(dir.join("ca.cnf"), CA_CONF.replace("CRL_URL", crl_url)).unwrap();
    std::fs::write(dir.join("index.txt"), "").unwrap();
    std::fs::write(dir.join("serial"), "1000\n").unwrap();
    std::fs::write(dir.join("crlnumber"), "01\n").unwrap();
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "root.key",
            "-out",
            "root.pem",
            "-subj",
            "/CN=Elsewhere Root",
            "-days",
            "30",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
}

/// A leaf `<name>.pem` with key `<name>.key` (PKCS#8), signed by `issuer` (`root` or another leaf name).
fn leaf(dir: &Path, name: &str, issuer: &str, section: &str, dates: Option<(&str, &str)>) {
    let (key, csr, pem) = (format!("{name}.key"), format!("{name}.csr"), format!("{name}.pem"));
    openssl(dir, &["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", &key]);
    openssl(dir, &["req", "-new", "-key", &key, "-subj", &format!("/CN={name}.example"), "-out", &csr]);
    let (cert, ikey) = (format!("{issuer}.pem"), format!("{issuer}.key"));
    let mut args = vec![
        "ca",
        "-batch",
        "-config",
        "ca.cnf",
        "-cert",
        &cert,
        "-keyfile",
        &ikey,
        "-in",
        &csr,
        "-out",
        &pem,
        "-extensions",
        section,
        "-notext",
    ];
    match dates {
        Some((start, end)) => args.extend_from_slice(&["-startdate", start, "-enddate", end]),
        None => args.extend_from_slice(&["-days", "20"]),
    }
    openssl(dir, &args);
}

struct Q<'a> {
    s: &'a TestServer,
}

impl Q<'_> {
    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req =
            self.s.http().request(method, self.s.at(&format!("/api{path}"))).header("SEC", &self.s.admin_token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    async fn upload(&self, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, "/staged_config/certificates/end_certificates", Some(body)).await
    }

    async fn wait_deployed(&self) -> Value {
        for _ in 0..100 {
            let (_, st) = self.send(reqwest::Method::GET, "/staged_config/deploy_status", None).await;
            if st["status"] == "COMPLETE" {
                return st;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("the deploy did not complete");
    }
}

fn assert_error(body: &Value, status: u16, code: u64) {
    assert_eq!(body["http_response"]["code"], status, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert!(body["message"].is_string() && body["details"].is_object(), "{body}");
}

/// A one-file HTTP server on loopback that answers every request with `body`; returns its address.
async fn serve_file(body: Vec<u8>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut buf = [0u8; 2048];
            let _ = stream.read(&mut buf).await;
            let head = format!(
                "HTTP/1.0 200 OK\r\nContent-Type: application/pkix-crl\r\nContent-Length: {}\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(&body).await;
        }
    });
    format!("http://{addr}")
}

mod cases {
    use super::*;

    pub async fn each_validation_code_comes_from_a_real_defect(s: TestServer) {
        let q = Q { s: &s };
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        // The CRL server comes first: its URL goes into certificates.
        let crl_slot = std::sync::Arc::new(tokio::sync::Mutex::new(Vec::new()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let crl_url = format!("http://{}/root.crl", listener.local_addr().unwrap());
        let slot = crl_slot.clone();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut buf = [0u8; 2048];
                let _ = stream.read(&mut buf).await;
                let body = slot.lock().await.clone();
                let head = format!("HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.write_all(&body).await;
            }
        });
        openssl_ca(d, &crl_url);
        // Without the root staged, the issuer is unknown.
        leaf(d, "good", "root", "server", None);
        let good = json!({"name": "good", "purpose": "SERVER", "cert_file": text(d, "good.pem"), "key_file": text(d, "good.key")});
        let (st, body) = q.upload(good.clone()).await;
        assert_eq!(st, 422);
        assert_error(&body, 422, 2011);

        let (st, root) = q.send(reqwest::Method::POST, "/staged_config/certificates/root_certificates", None).await;
        assert_eq!(st, 422, "an empty root upload is refused: {root}");
        let resp = s
            .http()
            .post(s.at("/api/staged_config/certificates/root_certificates"))
            .header("SEC", &s.admin_token)
            .header("Content-Type", "text/plain")
            .body(text(d, "root.pem"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        let root: Value = resp.json().await.unwrap();
        assert_eq!(root["status"], "DEPLOY_PENDING");
        let again = s
            .http()
            .post(s.at("/api/staged_config/certificates/root_certificates"))
            .header("SEC", &s.admin_token)
            .body(text(d, "root.pem"))
            .send()
            .await
            .unwrap();
        assert_eq!(again.status().as_u16(), 409);

        let (st, body) = q.upload(good.clone()).await;
        assert_eq!(st, 201, "{body}");
        assert_eq!(body["validation"], 0);
        assert_eq!(body["status"], "DEPLOY_PENDING");
        assert_eq!(body["key_usage"], json!(["DIGITAL_SIGNATURE", "KEY_ENCIPHERMENT"]));
        assert_eq!(body["extended_key_usage"], json!(["TLS_Web_server_authentication"]));
        assert!(body["key_file"].is_null() && body["cert_file"].is_null() && body["key_password"].is_null());
        assert_eq!(body["subject"], json!([{"field_name": "CN", "value": "good.example"}]));
        let (st, dup) = q.upload(good.clone()).await;
        assert_eq!(st, 409);
        assert_error(&dup, 409, 1102);

        // An encrypted PKCS#8 key with its password, and with a wrong one.
        openssl(
            d,
            &[
                "pkcs8",
                "-topk8",
                "-in",
                "good.key",
                "-out",
                "good.enc",
                "-v2",
                "aes-256-cbc",
                "-passout",
                "pass:s3cret",
            ],
        );
        let enc = json!({"name": "enc", "purpose": "SERVER", "cert_file": text(d, "good.pem"), "key_file": text(d, "good.enc"), "key_password": "s3cret"});
        assert_eq!(q.upload(enc.clone()).await.0, 201);
        let mut wrong = enc.clone();
        wrong["name"] = json!("enc2");
        wrong["key_password"] = json!("nope");
        assert_error(&q.upload(wrong).await.1, 422, 1007);

        type Case<'a> = (&'a str, &'a str, Option<(&'a str, &'a str)>, &'a str, u64);
        let cases: Vec<Case<'_>> = vec![
            ("expired", "server", Some(("20200101000000Z", "20200201000000Z")), "SERVER", 2003),
            ("future", "server", Some(("20990101000000Z", "20991231000000Z")), "SERVER", 2004),
            ("clientonly", "client", None, "SERVER", 2012),
        ];
        for (name, section, dates, purpose, code) in cases {
            leaf(d, name, "root", section, dates);
            let (st, body) = q
                .upload(json!({"name": name, "purpose": purpose, "cert_file": text(d, &format!("{name}.pem")), "key_file": text(d, &format!("{name}.key"))}))
                .await;
            assert_eq!(st, 422, "{name}: {body}");
            assert_error(&body, 422, code);
        }
        // The client certificate is fine for CLIENT.
        let (st, _) = q.upload(json!({"name": "client", "purpose": "CLIENT", "cert_file": text(d, "clientonly.pem"), "key_file": text(d, "clientonly.key")})).await;
        assert_eq!(st, 201);

        // Key mismatch: the good certificate with another key.
        let (_, body) = q.upload(json!({"name": "mismatch", "purpose": "SERVER", "cert_file": text(d, "good.pem"), "key_file": text(d, "expired.key")})).await;
        assert_error(&body, 422, 1007);

        // Broken chain: the intermediate is not a CA.
        leaf(d, "notca", "root", "not_ca", None);
        leaf(d, "below", "notca", "server", None);
        let (_, body) = q.upload(json!({"name": "below", "purpose": "SERVER", "cert_file": text(d, "below.pem"), "key_file": text(d, "below.key"), "ca_chain_file": text(d, "notca.pem")})).await;
        assert_error(&body, 422, 2013);

        // A self-signed certificate whose signature was damaged.
        openssl(
            d,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "self.key",
                "-out",
                "self.der",
                "-outform",
                "DER",
                "-subj",
                "/CN=self.example",
                "-days",
                "5",
            ],
        );
        let mut der = std::fs::read(d.join("self.der")).unwrap();
        let last = der.len() - 1;
        der[last] ^= 0x55;
        let pem = certwright_pki::pem::encode("CERTIFICATE", &der);
        let (_, body) = q.upload(json!({"name": "self", "purpose": "SIGNING_ENCRYPTION", "cert_file": pem, "key_file": text(d, "self.key")})).await;
        assert_error(&body, 422, 2014);

        // Revoked at our CA.
        let issued: Value = s
            .http()
            .post(s.at("/v1/certificates"))
            .bearer_auth(&s.admin_token)
            .json(&json!({"ra_profile": "default", "common_name": "revoked.example", "key_algorithm": "rsa-2048"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = issued["id"].as_str().unwrap();
        let resp = s
            .http()
            .post(s.at(&format!("/v1/certificates/{id}/revoke")))
            .bearer_auth(&s.admin_token)
            .json(&json!({"reason": "keyCompromise"}))
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "{}", resp.text().await.unwrap());
        let (_, body) = q.upload(json!({"name": "revoked", "purpose": "SERVER_CLIENT", "cert_file": issued["certificate_pem"], "key_file": issued["private_key_pem"]})).await;
        assert_error(&body, 422, 2005);

        // A CRL whose nextUpdate passed, fetched from the distribution point over loopback.
        leaf(d, "crl", "root", "with_crl", None);
        openssl(
            d,
            &[
                "ca",
                "-gencrl",
                "-config",
                "ca.cnf",
                "-cert",
                "root.pem",
                "-keyfile",
                "root.key",
                "-out",
                "root.crl",
                "-crl_lastupdate",
                "20200101000000Z",
                "-crl_nextupdate",
                "20200102000000Z",
            ],
        );
        *crl_slot.lock().await = std::fs::read(d.join("root.crl")).unwrap();
        let crl_upload = json!({"name": "crl", "purpose": "SERVER", "cert_file": text(d, "crl.pem"), "key_file": text(d, "crl.key")});
        let (_, body) = q.upload(crl_upload.clone()).await;
        assert_error(&body, 422, 2034);
        // A fresh CRL that lists it: revoked.
        openssl(d, &["ca", "-config", "ca.cnf", "-cert", "root.pem", "-keyfile", "root.key", "-revoke", "crl.pem"]);
        openssl(
            d,
            &[
                "ca", "-gencrl", "-config", "ca.cnf", "-cert", "root.pem", "-keyfile", "root.key", "-out", "root.crl",
                "-crldays", "2",
            ],
        );
        *crl_slot.lock().await = std::fs::read(d.join("root.crl")).unwrap();
        assert_error(&q.upload(crl_upload.clone()).await.1, 422, 2005);
        // A CRL signed by someone else.
        openssl(
            d,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "other.key",
                "-out",
                "other.pem",
                "-subj",
                "/CN=Elsewhere Root",
                "-days",
                "5",
            ],
        );
        openssl(
            d,
            &[
                "ca",
                "-gencrl",
                "-config",
                "ca.cnf",
                "-cert",
                "other.pem",
                "-keyfile",
                "other.key",
                "-out",
                "root.crl",
                "-crldays",
                "2",
            ],
        );
        *crl_slot.lock().await = std::fs::read(d.join("root.crl")).unwrap();
        assert_error(&q.upload(crl_upload).await.1, 422, 2033);
        s.stop().await;
    }

    pub async fn csr_signed_by_our_ca_is_uploaded_deployed_and_chained(s: TestServer) {
        let q = Q { s: &s };
        // Components are created on the native API and listed by the QRadar face.
        let resp = s
            .http()
            .post(s.at("/v1/keystore/components"))
            .bearer_auth(&s.admin_token)
            .json(&json!({"name": "Syslog TLS"}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 201);
        let component: Value = resp.json().await.unwrap();
        let component_id = component["id"].as_i64().unwrap();
        let (st, comps) = q.send(reqwest::Method::GET, "/config/certificates/components", None).await;
        assert_eq!(st, 200);
        assert_eq!(comps, json!([{"id": component_id, "name": "Syslog TLS"}]));
        let native = s.get_json("/v1/keystore/components", &s.admin_token).await;
        assert_eq!(native["total"], 1);
        assert_eq!(native["items"][0]["name"], "Syslog TLS");
        let again = s
            .http()
            .post(s.at("/v1/keystore/components"))
            .bearer_auth(&s.admin_token)
            .json(&json!({"name": "Syslog TLS"}))
            .send()
            .await
            .unwrap();
        assert_eq!(again.status().as_u16(), 409, "a component name is unique");
        assert_eq!(again.headers()["content-type"], "application/problem+json");
        let blank = s
            .http()
            .post(s.at("/v1/keystore/components"))
            .bearer_auth(&s.admin_token)
            .json(&json!({"name": "  "}))
            .send()
            .await
            .unwrap();
        assert!(blank.status().is_client_error(), "{}", blank.status());
        let requester = s.token_with_role("requester").await;
        let denied = s
            .http()
            .post(s.at("/v1/keystore/components"))
            .bearer_auth(&requester)
            .json(&json!({"name": "Other"}))
            .send()
            .await
            .unwrap();
        assert_eq!(denied.status().as_u16(), 403);
        let doc = s.get_json("/v1/openapi.json", &s.admin_token).await;
        assert!(doc["paths"]["/v1/keystore/components"]["post"].is_object(), "the native document lists it");

        let (st, id) = q.send(reqwest::Method::POST, "/staged_config/certificates/certificate_signing_request",
            Some(json!({"purpose": "SERVER", "common_name": "siem.example", "organization_name": "Example", "dns": ["siem.example"]}))).await;
        assert_eq!(st, 201, "{id}");
        let csr_id = id.as_i64().unwrap();
        let (_, list) =
            q.send(reqwest::Method::GET, "/staged_config/certificates/certificate_signing_request", None).await;
        assert_eq!(list[0]["id"], csr_id);
        let resp = s
            .http()
            .get(s.at(&format!("/api/staged_config/certificates/certificate_signing_request/{csr_id}")))
            .header("SEC", &s.admin_token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.headers()["content-type"], "application/octet-stream");
        let csr_pem =
            String::from_utf8(base64::engine::general_purpose::STANDARD.decode(resp.text().await.unwrap()).unwrap())
                .unwrap();
        // openssl agrees the CSR is well signed and carries what was asked.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("r.csr"), &csr_pem).unwrap();
        let out = Command::new("openssl")
            .args(["req", "-in", "r.csr", "-verify", "-noout", "-text"])
            .current_dir(dir.path())
            .output()
            .unwrap();
        let shown = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success() && shown.contains("siem.example") && shown.contains("2048 bit"), "{shown}");

        let issued: Value = s
            .http()
            .post(s.at("/v1/certificates"))
            .bearer_auth(&s.admin_token)
            .json(&json!({"ra_profile": "default", "csr": csr_pem}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let cert_pem = issued["certificate_pem"].as_str().unwrap().to_owned();
        let (st, up) = q.upload(json!({"name": "siem", "purpose": "SERVER", "component_id": component_id, "csr_id": csr_id, "cert_file": cert_pem})).await;
        assert_eq!(st, 201, "{up}");
        assert_eq!(up["component_name"], "Syslog TLS");
        let staged_id = up["id"].as_i64().unwrap();
        // The CSR is consumed; not yet deployed.
        let (_, list) =
            q.send(reqwest::Method::GET, "/staged_config/certificates/certificate_signing_request", None).await;
        assert_eq!(list, json!([]));
        let (st, _) =
            q.send(reqwest::Method::GET, &format!("/config/certificates/end_certificates/{staged_id}"), None).await;
        assert_eq!(st, 404);

        let (st, dep) =
            q.send(reqwest::Method::POST, "/staged_config/deploy_status", Some(json!({"type": "INCREMENTAL"}))).await;
        assert_eq!(st, 200, "{dep}");
        let done = q.wait_deployed().await;
        assert_eq!(done["percent_complete"], 100);
        assert_eq!(done["has_errors"], false);
        let (st, body) =
            q.send(reqwest::Method::POST, "/staged_config/deploy_status", Some(json!({"type": "INCREMENTAL"}))).await;
        assert_eq!(st, 409);
        assert_error(&body, 409, 1002);

        let (st, deployed) =
            q.send(reqwest::Method::GET, &format!("/config/certificates/end_certificates/{staged_id}"), None).await;
        assert_eq!(st, 200);
        assert_eq!(deployed["status"], "DEPLOYED");
        let (st, chain) = q
            .send(reqwest::Method::GET, &format!("/config/certificates/end_certificates/{staged_id}/full_chain"), None)
            .await;
        assert_eq!(st, 200, "{chain}");
        let d = dir.path();
        std::fs::write(d.join("leaf.pem"), chain["end_certificate"]["cert_file"].as_str().unwrap()).unwrap();
        std::fs::write(d.join("root.pem"), chain["root_certificate"]["cert_file"].as_str().unwrap()).unwrap();
        let inter: String = chain["intermediate_chain"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["cert_file"].as_str().unwrap().to_owned())
            .collect();
        assert!(!inter.is_empty());
        std::fs::write(d.join("inter.pem"), inter).unwrap();
        openssl(d, &["verify", "-CAfile", "root.pem", "-untrusted", "inter.pem", "leaf.pem"]);

        // The native inventory knows it, with its keystore name and component.
        let found = s.get_json("/v1/certificates?label=keystore.component:Syslog%20TLS", &s.admin_token).await;
        assert_eq!(found["total"], 1, "{found}");
        assert_eq!(found["items"][0]["labels"]["keystore.name"], "siem");

        // Delete: pending, then gone after the next deploy.
        let resp = s
            .http()
            .delete(s.at(&format!("/api/staged_config/certificates/end_certificates/{staged_id}")))
            .header("SEC", &s.admin_token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 204);
        let (_, one) = q
            .send(reqwest::Method::GET, &format!("/staged_config/certificates/end_certificates/{staged_id}"), None)
            .await;
        assert_eq!(one["status"], "DELETE_PENDING");
        assert_eq!(
            q.send(reqwest::Method::POST, "/staged_config/deploy_status", Some(json!({"type": "FULL"}))).await.0,
            200
        );
        q.wait_deployed().await;
        let (st, body) = q
            .send(reqwest::Method::GET, &format!("/staged_config/certificates/end_certificates/{staged_id}"), None)
            .await;
        assert_eq!(st, 404);
        assert_error(&body, 404, 1002);
        s.stop().await;
    }

    pub async fn lists_filter_sort_range_and_hide_fields_from_non_admins(s: TestServer) {
        let q = Q { s: &s };
        for name in ["alpha", "beta", "gamma"] {
            s.services.create_component(&Ctx::system(), name).await.unwrap();
        }
        let get = |path: &'static str, range: Option<&'static str>| {
            let mut r =
                s.http().get(s.at(&format!("/api{path}"))).header("SEC", &s.admin_token).header("Version", "26.0");
            if let Some(range) = range {
                r = r.header("Range", range);
            }
            r.send()
        };
        let resp = get("/config/certificates/components?filter=name%20in%20(%22alpha%22,%22gamma%22)%20or%20id%20%3E%2099&sort=-name", None).await.unwrap();
        let body: Value = resp.json().await.unwrap();
        assert_eq!(
            body.as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect::<Vec<_>>(),
            ["gamma", "alpha"]
        );
        let resp = get("/config/certificates/components?fields=name", Some("items=1-5")).await.unwrap();
        assert_eq!(resp.headers()["content-range"], "items 1-2/3");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body, json!([{"name": "beta"}, {"name": "gamma"}]));
        let resp = get("/config/certificates/components?filter=name%20%3D", None).await.unwrap();
        assert_eq!(resp.status().as_u16(), 422);
        assert_error(&resp.json().await.unwrap(), 422, 1101);

        // A staged entry seen by an auditor: id and name only. Basic authentication with a token as password.
        let issued: Value = s
            .http()
            .post(s.at("/v1/certificates"))
            .bearer_auth(&s.admin_token)
            .json(&json!({"ra_profile": "default", "common_name": "ks.example", "key_algorithm": "ecdsa-p256"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let (st, up) = q.upload(json!({"name": "ec", "purpose": "SERVER", "cert_file": issued["certificate_pem"], "key_file": issued["private_key_pem"]})).await;
        assert_eq!(st, 201, "EC keys are accepted: {up}");
        let auditor = s.token_with_role("auditor").await;
        let resp = s
            .http()
            .get(s.at("/api/staged_config/certificates/end_certificates"))
            .basic_auth("anyone", Some(&auditor))
            .send()
            .await
            .unwrap();
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body[0]["name"], "ec");
        assert!(body[0]["purpose"].is_null() && body[0]["subject"].is_null(), "{body}");
        let resp = s
            .http()
            .post(s.at("/api/staged_config/certificates/end_certificates"))
            .header("SEC", &auditor)
            .json(&json!({"name": "x"}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 403);
        assert_error(&resp.json().await.unwrap(), 403, 0);
        s.stop().await;
    }

    pub async fn hostile_input_gets_the_qradar_error_body(s: TestServer) {
        let q = Q { s: &s };
        let url = s.at("/api/staged_config/certificates/end_certificates");
        let no_auth = s.http().get(&url).send().await.unwrap();
        assert_eq!(no_auth.status().as_u16(), 401);
        assert_error(&no_auth.json().await.unwrap(), 401, 0);
        let bad_token = s.http().get(&url).header("SEC", "nope").send().await.unwrap();
        assert_eq!(bad_token.status().as_u16(), 401);
        let unknown =
            s.http().get(s.at("/api/staged_config/nothing")).header("SEC", &s.admin_token).send().await.unwrap();
        assert_eq!(unknown.status().as_u16(), 404);
        assert_error(&unknown.json().await.unwrap(), 404, 1002);
        let method = s.http().put(&url).header("SEC", &s.admin_token).send().await.unwrap();
        assert_eq!(method.status().as_u16(), 405);
        assert_eq!(method.json::<Value>().await.unwrap()["http_response"]["code"], 405);
        let bad_json = s
            .http()
            .post(&url)
            .header("SEC", &s.admin_token)
            .header("Content-Type", "application/json")
            .body("{nope")
            .send()
            .await
            .unwrap();
        assert_eq!(bad_json.status().as_u16(), 422);
        assert_error(&bad_json.json().await.unwrap(), 422, 1005);
        let (_, body) = q.upload(json!({"name": 5, "purpose": "SERVER"})).await;
        assert_error(&body, 422, 1005);
        let (_, body) = q.upload(json!({"name": "x", "purpose": "SERVER", "cert_file": "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n"})).await;
        assert_error(&body, 422, 2001);
        let (_, body) = q.upload(json!({"name": "x", "purpose": "ROUTER", "cert_file": "x"})).await;
        assert_error(&body, 422, 1005);
        let huge = "A".repeat(2 * 1024 * 1024);
        // Its own client: the server answers 413 without reading the body and then closes that connection, which
        // a pooled client would try to reuse for the next request.
        let resp = certwright_testkit::http_client()
            .post(&url)
            .header("SEC", &s.admin_token)
            .json(&json!({"name": "x", "cert_file": huge}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 413);
        assert_eq!(resp.json::<Value>().await.unwrap()["http_response"]["code"], 413);
        let (st, body) = q.send(reqwest::Method::GET, "/staged_config/certificates/end_certificates/abc", None).await;
        assert_eq!(st, 422);
        assert_error(&body, 422, 1005);
        let (_, body) = q.send(reqwest::Method::GET, "/staged_config/certificates/end_certificates/77", None).await;
        assert_error(&body, 404, 1002);
        let (_, body) = q
            .send(
                reqwest::Method::POST,
                "/staged_config/certificates/certificate_signing_request",
                Some(json!({"purpose": "SERVER", "common_name": "a", "key_size": 1024})),
            )
            .await;
        assert_error(&body, 422, 1032);
        let (_, body) =
            q.send(reqwest::Method::POST, "/staged_config/deploy_status", Some(json!({"type": "SOMETIMES"}))).await;
        assert_error(&body, 422, 1005);
        let (_, body) =
            q.send(reqwest::Method::POST, "/staged_config/deploy_status", Some(json!({"type": "INCREMENTAL"}))).await;
        assert_error(&body, 409, 1002);
        let (_, body) =
            q.send(reqwest::Method::DELETE, "/staged_config/certificates/root_certificates/00ff", None).await;
        assert_error(&body, 404, 1105);
        let _ = serve_file(Vec::new()).await;
        s.stop().await;
    }

    /// The codes the first case does not reach: 2002, 2010, 2020, 2030, 2031 and 2032, each from openssl output.
    pub async fn crl_and_decode_codes_come_from_real_defects(s: TestServer) {
        let q = Q { s: &s };
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let crl_slot = std::sync::Arc::new(tokio::sync::Mutex::new(Vec::new()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let crl_url = format!("http://{}/root.crl", listener.local_addr().unwrap());
        let slot = crl_slot.clone();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut buf = [0u8; 2048];
                let _ = stream.read(&mut buf).await;
                let body = slot.lock().await.clone();
                let head = format!("HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.write_all(&body).await;
            }
        });
        // A port nothing listens on: its CRL cannot be fetched.
        let dead = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let dead_url = format!("http://{}/gone.crl", dead.local_addr().unwrap());
        drop(dead);
        openssl_ca(d, &crl_url);
        let mut conf = std::fs::read_to_string(d.join("ca.cnf")).unwrap();
        conf.push_str(&format!(
            "[dead_crl]\nbasicConstraints = CA:FALSE\nkeyUsage = digitalSignature, keyEncipherment\n\
             extendedKeyUsage = serverAuth\ncrlDistributionPoints = URI:{dead_url}\n\
             [sub_ca]\nbasicConstraints = critical, CA:TRUE\nkeyUsage = critical, keyCertSign, cRLSign\n"
        ));
        std::fs::write(d.join("ca.cnf"), conf).unwrap();
        // A second root whose keyUsage lacks cRLSign, yet signs a CRL.
        openssl(
            d,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "nocrlroot.key",
                "-out",
                "nocrlroot.pem",
                "-subj",
                "/CN=No CRL Sign Root",
                "-days",
                "30",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign",
            ],
        );
        for root in ["root.pem", "nocrlroot.pem"] {
            let resp = s
                .http()
                .post(s.at("/api/staged_config/certificates/root_certificates"))
                .header("SEC", &s.admin_token)
                .header("Content-Type", "text/plain")
                .body(text(d, root))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status().as_u16(), 200, "{root}: {}", resp.text().await.unwrap());
        }
        let upload = |name: &str, chain: Option<&str>| {
            let mut body = json!({"name": name, "purpose": "SERVER", "cert_file": text(d, &format!("{name}.pem")),
                "key_file": text(d, &format!("{name}.key"))});
            if let Some(c) = chain {
                body["ca_chain_file"] = json!(text(d, c));
            }
            body
        };
        let gencrl = |cert: &str, key: &str, extra: &[&str]| {
            let mut args =
                vec!["ca", "-gencrl", "-config", "ca.cnf", "-cert", cert, "-keyfile", key, "-out", "out.crl"];
            args.extend_from_slice(extra);
            openssl(d, &args);
            std::fs::read(d.join("out.crl")).unwrap()
        };

        // 2002: a well-framed PEM CERTIFICATE block whose DER is a certificate request.
        openssl(
            d,
            &[
                "req",
                "-new",
                "-key",
                "root.key",
                "-subj",
                "/CN=not a certificate",
                "-outform",
                "DER",
                "-out",
                "req.der",
            ],
        );
        let disguised = certwright_pki::pem::encode("CERTIFICATE", &std::fs::read(d.join("req.der")).unwrap());
        let (st, body) = q.upload(json!({"name": "decode", "purpose": "SERVER", "cert_file": disguised})).await;
        assert_eq!(st, 422, "{body}");
        assert_error(&body, 422, 2002);

        // 2020: the distribution point serves a certificate instead of a CRL.
        leaf(d, "crl", "root", "with_crl", None);
        *crl_slot.lock().await = text(d, "root.pem").into_bytes();
        assert_error(&q.upload(upload("crl", None)).await.1, 422, 2020);
        // 2020: a CRL that is not valid yet (thisUpdate in the future).
        *crl_slot.lock().await = gencrl(
            "root.pem",
            "root.key",
            &["-crl_lastupdate", "20990101000000Z", "-crl_nextupdate", "20990201000000Z"],
        );
        assert_error(&q.upload(upload("crl", None)).await.1, 422, 2020);
        // The same certificate with a current CRL is accepted: the defects above were the CRL's.
        *crl_slot.lock().await = gencrl("root.pem", "root.key", &["-crldays", "2"]);
        let (st, body) = q.upload(upload("crl", None)).await;
        assert_eq!(st, 201, "{body}");

        // 2031: a CRL issued by a CA that is not in the chain.
        openssl(
            d,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "else.key",
                "-out",
                "else.pem",
                "-subj",
                "/CN=Somebody Else",
                "-days",
                "5",
            ],
        );
        leaf(d, "crl2", "root", "with_crl", None);
        *crl_slot.lock().await = gencrl("else.pem", "else.key", &["-crldays", "2"]);
        assert_error(&q.upload(upload("crl2", None)).await.1, 422, 2031);

        // 2032: the issuer signed its CRL but its keyUsage lacks cRLSign.
        leaf(d, "nocrl", "nocrlroot", "with_crl", None);
        *crl_slot.lock().await = gencrl("nocrlroot.pem", "nocrlroot.key", &["-crldays", "2"]);
        assert_error(&q.upload(upload("nocrl", None)).await.1, 422, 2032);

        // 2030: the distribution point does not answer.
        leaf(d, "deadcdp", "root", "dead_crl", None);
        assert_error(&q.upload(upload("deadcdp", None)).await.1, 422, 2030);

        // 2010: a leaf signed by an Ed448 intermediate, a signature this validator cannot check.
        openssl(d, &["genpkey", "-algorithm", "ED448", "-out", "ed448.key"]);
        openssl(d, &["req", "-new", "-key", "ed448.key", "-subj", "/CN=Ed448 Intermediate", "-out", "ed448.csr"]);
        openssl(
            d,
            &[
                "ca",
                "-batch",
                "-config",
                "ca.cnf",
                "-cert",
                "root.pem",
                "-keyfile",
                "root.key",
                "-in",
                "ed448.csr",
                "-out",
                "ed448.pem",
                "-extensions",
                "sub_ca",
                "-notext",
                "-days",
                "20",
            ],
        );
        std::fs::write(
            d.join("leaf.ext"),
            "basicConstraints = CA:FALSE\nkeyUsage = digitalSignature, keyEncipherment\nextendedKeyUsage = serverAuth\n",
        )
        .unwrap();
        openssl(d, &["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "edleaf.key"]);
        openssl(d, &["req", "-new", "-key", "edleaf.key", "-subj", "/CN=edleaf.example", "-out", "edleaf.csr"]);
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                "edleaf.csr",
                "-CA",
                "ed448.pem",
                "-CAkey",
                "ed448.key",
                "-days",
                "5",
                "-extfile",
                "leaf.ext",
                "-out",
                "edleaf.pem",
            ],
        );
        let (st, body) = q.upload(upload("edleaf", Some("ed448.pem"))).await;
        assert_eq!(st, 422, "{body}");
        assert_error(&body, 422, 2010);
        s.stop().await;
    }

    pub async fn openapi_documents_every_route(s: TestServer) {
        // The routes of the QRadar router, by method.
        let routes: [(&str, &str); 19] = [
            ("get", "/api/staged_config/certificates/end_certificates"),
            ("post", "/api/staged_config/certificates/end_certificates"),
            ("get", "/api/staged_config/certificates/end_certificates/{id}"),
            ("post", "/api/staged_config/certificates/end_certificates/{id}"),
            ("delete", "/api/staged_config/certificates/end_certificates/{id}"),
            ("get", "/api/config/certificates/end_certificates"),
            ("get", "/api/config/certificates/end_certificates/{id}"),
            ("get", "/api/config/certificates/end_certificates/{id}/full_chain"),
            ("get", "/api/config/certificates/components"),
            ("get", "/api/staged_config/certificates/certificate_signing_request"),
            ("post", "/api/staged_config/certificates/certificate_signing_request"),
            ("get", "/api/staged_config/certificates/certificate_signing_request/{id}"),
            ("delete", "/api/staged_config/certificates/certificate_signing_request/{id}"),
            ("get", "/api/staged_config/certificates/root_certificates"),
            ("post", "/api/staged_config/certificates/root_certificates"),
            ("get", "/api/staged_config/certificates/root_certificates/{id}"),
            ("delete", "/api/staged_config/certificates/root_certificates/{id}"),
            ("get", "/api/staged_config/deploy_status"),
            ("post", "/api/staged_config/deploy_status"),
        ];
        // The document is public, like the native one.
        let resp = s.http().get(s.at("/api/openapi.json")).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        let doc: Value = resp.json().await.unwrap();
        let mut documented = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                documented.push((method.clone(), path.clone()));
            }
        }
        documented.sort();
        let mut routed: Vec<(String, String)> =
            routes.iter().map(|(m, p)| ((*m).to_owned(), (*p).to_owned())).collect();
        routed.sort();
        assert_eq!(documented, routed, "the document lists exactly the routed operations");
        for (method, path) in routes {
            let op = &doc["paths"][path][method];
            let params: Vec<&str> =
                op["parameters"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
            assert!(params.contains(&"Version"), "{method} {path}: {params:?}");
            if path.contains("{id}") {
                assert!(params.contains(&"id"), "{method} {path}: {params:?}");
            }
            let lists = method == "get" && !path.contains("{id}") && !path.ends_with("deploy_status");
            if lists {
                for p in ["Range", "fields", "filter", "sort"] {
                    assert!(params.contains(&p), "{method} {path} lacks {p}");
                }
            }
            let errors = op["responses"].as_object().unwrap().iter().filter(|(code, _)| code.starts_with('4'));
            for (code, r) in errors {
                assert_eq!(
                    r["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/QRadarError",
                    "{method} {path} {code}"
                );
            }
            // Each documented operation is routed: the face's own fallbacks (404 "No such endpoint.", 405) do not
            // answer it.
            let url = s.at(&path.replace("{id}", "1"));
            let req = match method {
                "get" => s.http().get(url),
                "post" => s.http().post(url),
                _ => s.http().delete(url),
            };
            let resp = req.header("SEC", &s.admin_token).send().await.unwrap();
            let status = resp.status().as_u16();
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            assert_ne!(status, 405, "{method} {path}");
            assert_ne!(body["message"], "No such endpoint.", "{method} {path}");
        }
        let schemes = &doc["components"]["securitySchemes"];
        assert_eq!(schemes["SEC"]["name"], "SEC");
        assert_eq!(schemes["SEC"]["in"], "header");
        assert_eq!(schemes["basic"]["scheme"], "basic");
        let schemas = &doc["components"]["schemas"];
        for field in ["http_response", "code", "description", "details", "message"] {
            assert!(schemas["QRadarError"]["properties"][field].is_object(), "QRadarError.{field}");
        }
        for field in ["key_file", "csr_id", "ca_chain_file", "cert_file", "component_id"] {
            assert!(schemas["EndCertificateUpload"]["properties"][field].is_object(), "upload.{field}");
        }
        assert!(schemas["DeployRequest"]["properties"]["type"].is_object());
        let description = doc["info"]["description"].as_str().unwrap();
        for code in ["1002", "1005", "1006", "1007", "1008", "1032", "1033", "1034", "1035", "1036", "1101", "1102"] {
            assert!(description.contains(&format!("| {code} |")), "{code} is not in the code table");
        }
        for code in [2001, 2002, 2003, 2004, 2005, 2010, 2011, 2012, 2013, 2014, 2020, 2030, 2031, 2032, 2033, 2034] {
            assert!(description.contains(&format!("| {code} |")), "{code} is not in the code table");
        }
        assert!(description.contains("EC keys"), "the choices are described");
        s.stop().await;
    }
}

certwright_testkit::backend_tests!(
    each_validation_code_comes_from_a_real_defect,
    csr_signed_by_our_ca_is_uploaded_deployed_and_chained,
    lists_filter_sort_range_and_hide_fields_from_non_admins,
    hostile_input_gets_the_qradar_error_body,
    openapi_documents_every_route,
    crl_and_decode_codes_come_from_real_defects,
);
