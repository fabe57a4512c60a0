//! Importing through the native API what openssl wrote: PKCS#12 files (modern and legacy) with their keys, which
//! then export again; certificates with separate traditional or encrypted keys; PKCS#7 bundles. Wrong passwords,
//! keys of other certificates and damaged input are specific problems that store nothing.

use base64::Engine;
use certwright_testkit::TestServer;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl").current_dir(dir).args(args).output().expect("openssl is installed");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn read(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap()
}

fn text(dir: &Path, name: &str) -> String {
    String::from_utf8(read(dir, name)).unwrap()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A CA (`ca.pem`, `ca.key`) and, for each name, a leaf `<name>.pem` signed by it with the key `<name>.key`.
fn pki(dir: &Path, leaves: &[(&str, &[&str])]) {
    let ca = ["-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key"];
    let mut args = vec!["req"];
    args.extend_from_slice(&ca);
    args.extend_from_slice(&["-out", "ca.pem", "-subj", "/CN=Elsewhere CA", "-days", "30"]);
    openssl(dir, &args);
    for (name, key_args) in leaves {
        let (key, csr, pem) = (format!("{name}.key"), format!("{name}.csr"), format!("{name}.pem"));
        let mut genkey = vec!["genpkey", "-out", &key];
        genkey.extend_from_slice(key_args);
        openssl(dir, &genkey);
        let subj = format!("/CN={name}.example.org");
        openssl(dir, &["req", "-new", "-key", &key, "-out", &csr, "-subj", &subj]);
        let x509 = ["x509", "-req", "-in", &csr, "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial"];
        let mut args = x509.to_vec();
        args.extend_from_slice(&["-days", "20", "-out", &pem]);
        openssl(dir, &args);
    }
}

async fn post(s: &TestServer, path: &str, body: Value) -> reqwest::Response {
    s.http().post(s.at(path)).bearer_auth(&s.admin_token).json(&body).send().await.unwrap()
}

async fn problem_code(resp: reqwest::Response, status: StatusCode) -> String {
    assert_eq!(resp.status(), status);
    let body: Value = resp.json().await.unwrap();
    body["code"].as_str().unwrap().to_owned()
}

async fn imported_count(s: &TestServer) -> u64 {
    s.get_json("/v1/certificates?origin=import&limit=1", &s.admin_token).await["total"].as_u64().unwrap()
}

/// Exports the imported certificate with its key as PKCS#12 and returns the key's public half, as openssl
/// reads it from that file.
async fn exported_public_key(s: &TestServer, dir: &Path, id: &str) -> String {
    let resp = post(s, &format!("/v1/certificates/{id}/pkcs12"), json!({"password": "export pass"})).await;
    assert_eq!(resp.status(), StatusCode::OK, "the imported key is held and exportable");
    std::fs::write(dir.join("export.p12"), resp.bytes().await.unwrap()).unwrap();
    openssl(
        dir,
        &["pkcs12", "-in", "export.p12", "-passin", "pass:export pass", "-nocerts", "-nodes", "-out", "x.key"],
    );
    public_key(dir, "x.key")
}

fn public_key(dir: &Path, key: &str) -> String {
    let out = Command::new("openssl").current_dir(dir).args(["pkey", "-in", key, "-pubout"]).output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

mod cases {
    use super::*;

    pub async fn pkcs12_files_from_openssl_import_with_their_keys(s: TestServer) {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        pki(
            d,
            &[
                ("modern", &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]),
                ("legacy", &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"]),
            ],
        );
        for (name, extra) in [("modern", None), ("legacy", Some("-legacy"))] {
            let (key, pem) = (format!("{name}.key"), format!("{name}.pem"));
            let mut args =
                vec!["pkcs12", "-export", "-inkey", &key, "-in", &pem, "-certfile", "ca.pem", "-out", "f.p12"];
            args.extend_from_slice(&["-passout", "pass:import pass"]);
            args.extend(extra);
            openssl(d, &args);
            let before = imported_count(&s).await;

            let wrong = post(&s, "/v1/certificates/import", json!({"certificate": b64(&read(d, "f.p12"))})).await;
            assert_eq!(problem_code(wrong, StatusCode::BAD_REQUEST).await, "import.wrong_password", "{name}");
            let wrong = post(
                &s,
                "/v1/certificates/import",
                json!({"certificate": b64(&read(d, "f.p12")), "password": "import pasS"}),
            )
            .await;
            assert_eq!(problem_code(wrong, StatusCode::BAD_REQUEST).await, "import.wrong_password", "{name}");
            assert_eq!(imported_count(&s).await, before);

            let resp = post(
                &s,
                "/v1/certificates/import",
                json!({"certificate": b64(&read(d, "f.p12")), "password": "import pass"}),
            )
            .await;
            assert_eq!(resp.status(), StatusCode::CREATED, "{name}");
            let imported: Value = resp.json().await.unwrap();
            assert_eq!(imported["origin"], "import");
            assert_eq!(imported["common_name"], format!("{name}.example.org"), "the leaf, not the CA");
            assert_eq!(imported_count(&s).await, before + 1, "{name}: only the leaf is stored");
            // Its chain ends at a root this server does not trust: stored, and reported as such.
            let validation = &imported["chain_validation"];
            assert_eq!(validation["qradar_code"], 2011, "{validation}");
            assert_eq!(validation["status"], "invalid", "{validation}");

            let id = imported["id"].as_str().unwrap();
            assert_eq!(exported_public_key(&s, d, id).await, public_key(d, &key), "{name}");
            let events =
                s.get_json(&format!("/v1/events?action=certificate.import&object_id={id}"), &s.admin_token).await;
            let details = &events["items"][0]["details"];
            assert_eq!(details["format"], "pkcs12", "{events}");
            assert_eq!(details["chain_certificates"], 1, "{events}");
            assert!(details["private_key"].is_string(), "{events}");
        }
        assert!(s.services.verify_audit().await.unwrap().is_intact());
    }

    pub async fn separate_keys_must_match_and_damaged_input_stores_nothing(s: TestServer) {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        pki(
            d,
            &[
                ("plain", &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]),
                ("other", &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]),
                ("sealed", &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]),
            ],
        );
        let before = imported_count(&s).await;
        let import = |body: Value| post(&s, "/v1/certificates/import", body);

        // The key of another certificate.
        let resp = import(json!({"certificate": text(d, "plain.pem"), "private_key": text(d, "other.key")})).await;
        assert_eq!(problem_code(resp, StatusCode::BAD_REQUEST).await, "import.key_mismatch");
        // An encrypted key without, or with the wrong, password.
        openssl(
            d,
            &["pkcs8", "-topk8", "-v2", "aes-256-cbc", "-in", "sealed.key", "-passout", "pass:kp", "-out", "e.key"],
        );
        let resp = import(json!({"certificate": text(d, "sealed.pem"), "private_key": text(d, "e.key")})).await;
        assert_eq!(problem_code(resp, StatusCode::BAD_REQUEST).await, "import.password_required");
        let resp = import(json!({"certificate": text(d, "sealed.pem"), "private_key": text(d, "e.key"),
                                 "private_key_password": "kP"}))
        .await;
        assert_eq!(problem_code(resp, StatusCode::BAD_REQUEST).await, "import.wrong_password");
        // Damaged input.
        openssl(
            d,
            &["pkcs12", "-export", "-inkey", "plain.key", "-in", "plain.pem", "-passout", "pass:pw", "-out", "f.p12"],
        );
        let p12 = read(d, "f.p12");
        for bad in [b64(&p12[..p12.len() / 2]), b64(b"\x30\x03\x02\x01\x07"), "bm90IGEgY2VydGlmaWNhdGU=".to_owned()] {
            let resp = import(json!({"certificate": bad, "password": "pw"})).await;
            assert_eq!(problem_code(resp, StatusCode::BAD_REQUEST).await, "import.invalid", "{bad}");
        }
        let resp = import(json!({"certificate": text(d, "plain.pem"), "private_key": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"})).await;
        assert_eq!(problem_code(resp, StatusCode::BAD_REQUEST).await, "import.invalid_key");
        let resp =
            import(json!({"certificate": b64(&p12), "password": "pw", "private_key": text(d, "plain.key")})).await;
        assert_eq!(problem_code(resp, StatusCode::BAD_REQUEST).await, "import.two_keys");
        assert_eq!(imported_count(&s).await, before, "nothing was stored");

        // The right keys: traditional SEC1 PEM, and encrypted PKCS#8 with its password.
        openssl(d, &["ec", "-in", "plain.key", "-out", "plain.trad"]);
        assert!(text(d, "plain.trad").contains("BEGIN EC PRIVATE KEY"));
        let resp = import(json!({"certificate": text(d, "plain.pem"), "private_key": text(d, "plain.trad")})).await;
        assert_eq!(resp.status(), StatusCode::CREATED);
        let id = resp.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
        assert_eq!(exported_public_key(&s, d, &id).await, public_key(d, "plain.key"));
        let resp = import(json!({"certificate": text(d, "sealed.pem"), "private_key": text(d, "e.key"),
                                 "private_key_password": "kp"}))
        .await;
        assert_eq!(resp.status(), StatusCode::CREATED);
        let id = resp.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
        assert_eq!(exported_public_key(&s, d, &id).await, public_key(d, "sealed.key"));
        assert_eq!(imported_count(&s).await, before + 2);
        assert!(s.services.verify_audit().await.unwrap().is_intact());
    }

    pub async fn a_certificate_chaining_to_a_known_root_validates(s: TestServer) {
        // The issuing CA's certificate, as a relying party would hold it, chains to the built-in root.
        let authorities = s.get_json("/v1/authorities", &s.admin_token).await;
        let issuing = authorities["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["kind"] == "intermediate")
            .unwrap_or_else(|| panic!("an issuing CA exists: {authorities}"));
        let pem = issuing["certificate_pem"].as_str().unwrap_or_else(|| panic!("{issuing}"));
        let resp = post(&s, "/v1/certificates/import", json!({"certificate": pem})).await;
        assert_eq!(resp.status(), StatusCode::CREATED);
        let imported: Value = resp.json().await.unwrap();
        assert_eq!(imported["chain_validation"], json!({"status": "valid", "qradar_code": 0, "problems": []}));
    }

    pub async fn pkcs7_bundles_import_their_leaf(s: TestServer) {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        pki(d, &[("first", &["-algorithm", "ED25519"]), ("second", &["-algorithm", "ED25519"])]);
        for (name, outform) in [("first", "PEM"), ("second", "DER")] {
            // The CA first in the bundle: the leaf is found as the certificate that issues none of the others.
            let certfile = format!("{name}.pem");
            openssl(
                d,
                &["crl2pkcs7", "-nocrl", "-certfile", "ca.pem", "-certfile", &certfile, "-outform", outform]
                    .into_iter()
                    .chain(["-out", "b.p7b"])
                    .collect::<Vec<_>>(),
            );
            let bundle = if outform == "PEM" { text(d, "b.p7b") } else { b64(&read(d, "b.p7b")) };
            let resp = post(&s, "/v1/certificates/import", json!({"certificate": bundle})).await;
            assert_eq!(resp.status(), StatusCode::CREATED, "{outform}");
            let imported: Value = resp.json().await.unwrap();
            assert_eq!(imported["common_name"], format!("{name}.example.org"), "{outform}");
            let id = imported["id"].as_str().unwrap();
            let resp = post(&s, &format!("/v1/certificates/{id}/pkcs12"), json!({"password": "export pass"})).await;
            assert_eq!(problem_code(resp, StatusCode::BAD_REQUEST).await, "certificate.no_key");
        }
    }
}

certwright_testkit::backend_tests!(
    pkcs12_files_from_openssl_import_with_their_keys,
    a_certificate_chaining_to_a_known_root_validates,
    separate_keys_must_match_and_damaged_input_stores_nothing,
    pkcs7_bundles_import_their_leaf,
);
