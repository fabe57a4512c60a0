//! Issuance through the native API, checked by openssl: chains from CSRs made by `openssl req` pass
//! `openssl verify`, server-generated keys match their certificates, policy violations are specific problems,
//! idempotent retries return the first certificate, and the inventory finds what was issued.

use certwright_testkit::TestServer;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;

fn openssl(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl").current_dir(dir).args(args).output().expect("openssl is installed");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

fn csr(dir: &Path, name: &str, key_args: &[&str], subj: &str, san: &str) -> String {
    let (csr, key) = (format!("{name}.csr"), format!("{name}.key"));
    let mut args = vec!["req", "-new", "-nodes", "-keyout", &key, "-out", &csr, "-subj", subj];
    args.extend_from_slice(key_args);
    let ext = format!("subjectAltName={san}");
    if !san.is_empty() {
        args.extend_from_slice(&["-addext", &ext]);
    }
    let (ok, text) = openssl(dir, &args);
    assert!(ok, "{text}");
    std::fs::read_to_string(dir.join(csr)).unwrap()
}

async fn post(s: &TestServer, path: &str, token: &str, body: Value) -> reqwest::Response {
    s.http().post(s.at(path)).bearer_auth(token).json(&body).send().await.unwrap()
}

async fn problem_code(resp: reqwest::Response, status: StatusCode) -> String {
    assert_eq!(resp.status(), status);
    let body: Value = resp.json().await.unwrap();
    body["code"].as_str().unwrap().to_owned()
}

/// Writes the root (last in the chain) and the issuing CA, returns the openssl verify verdict for `leaf_pem`.
fn verify(dir: &Path, leaf_pem: &str, chain_pem: &str) -> (bool, String) {
    let certs: Vec<&str> = chain_pem.split_inclusive("-----END CERTIFICATE-----\n").collect();
    assert!(certs.len() >= 2, "chain has the issuing CA and the root: {chain_pem}");
    std::fs::write(dir.join("root.pem"), certs.last().unwrap()).unwrap();
    std::fs::write(dir.join("untrusted.pem"), certs[..certs.len() - 1].concat()).unwrap();
    std::fs::write(dir.join("leaf.pem"), leaf_pem).unwrap();
    openssl(dir, &["verify", "-purpose", "sslserver", "-CAfile", "root.pem", "-untrusted", "untrusted.pem", "leaf.pem"])
}

mod cases {
    use super::*;

    pub async fn csrs_from_openssl_issue_chains_openssl_verifies(s: TestServer) {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let keys: &[(&str, &[&str])] = &[
            ("rsa", &["-newkey", "rsa:2048"]),
            ("ec", &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]),
            ("ed", &["-newkey", "ed25519"]),
        ];
        for (name, args) in keys {
            let pem = csr(d, name, args, "/CN=www.example.com", "DNS:www.example.com,IP:192.0.2.1");
            let resp = post(&s, "/v1/certificates", &s.admin_token, json!({"ra_profile": "default", "csr": pem})).await;
            assert_eq!(resp.status(), StatusCode::CREATED, "{name}");
            let issued: Value = resp.json().await.unwrap();
            assert_eq!(issued["state"], "issued");
            assert_eq!(issued["sans"], json!(["dns:www.example.com", "ip:192.0.2.1"]));
            assert!(issued.get("private_key_pem").is_none());
            let id = issued["id"].as_str().unwrap();
            let p12 = post(
                &s,
                &format!("/v1/certificates/{id}/pkcs12"),
                &s.admin_token,
                json!({"password": "correct horse"}),
            )
            .await;
            assert_eq!(problem_code(p12, StatusCode::BAD_REQUEST).await, "certificate.no_key");
            let (ok, text) =
                verify(d, issued["certificate_pem"].as_str().unwrap(), issued["chain_pem"].as_str().unwrap());
            assert!(ok, "{name}: {text}");
            // The certificate carries the CSR's key.
            std::fs::write(d.join("leaf.pem"), issued["certificate_pem"].as_str().unwrap()).unwrap();
            let (_, cert_pub) = openssl(d, &["x509", "-in", "leaf.pem", "-noout", "-pubkey"]);
            let (_, key_pub) = openssl(d, &["pkey", "-in", &format!("{name}.key"), "-pubout"]);
            assert_eq!(cert_pub, key_pub, "{name}");
            let (_, text) = openssl(d, &["x509", "-in", "leaf.pem", "-noout", "-text"]);
            assert!(text.contains("TLS Web Server Authentication"), "{text}");
            assert!(text.contains("CA Issuers - URI:http://"), "{text}");
        }
    }

    pub async fn server_generated_keys_are_returned_once_and_match(s: TestServer) {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let resp = post(
            &s,
            "/v1/certificates",
            &s.admin_token,
            json!({"ra_profile": "default", "common_name": "svc.example.com", "sans": ["dns:svc.example.com"],
                   "key_algorithm": "rsa-2048", "validity_days": 30}),
        )
        .await;
        assert_eq!(resp.status(), StatusCode::CREATED);
        let issued: Value = resp.json().await.unwrap();
        let key = issued["private_key_pem"].as_str().unwrap();
        std::fs::write(d.join("k.pem"), key).unwrap();
        std::fs::write(d.join("c.pem"), issued["certificate_pem"].as_str().unwrap()).unwrap();
        let (_, a) = openssl(d, &["x509", "-in", "c.pem", "-noout", "-pubkey"]);
        let (ok, b) = openssl(d, &["pkey", "-in", "k.pem", "-pubout"]);
        assert!(ok && a == b, "the returned key belongs to the certificate");
        assert_eq!(issued["key_algorithm"], "rsa-2048");
        assert_eq!(issued["signature_algorithm"], "ecdsa-sha256", "signed by the P-256 issuing CA");
        let (ok, text) = verify(d, issued["certificate_pem"].as_str().unwrap(), issued["chain_pem"].as_str().unwrap());
        assert!(ok, "{text}");

        // Exports: PEM with chain, DER alone, PKCS#7 with chain, all read by openssl.
        let id = issued["id"].as_str().unwrap();
        let export = |q: &str| {
            let url = s.at(&format!("/v1/certificates/{id}/export{q}"));
            let req = s.http().get(url).bearer_auth(&s.admin_token);
            async move { req.send().await.unwrap() }
        };
        let pem = export("").await;
        assert_eq!(pem.headers()["content-type"], "application/x-pem-file");
        assert_eq!(pem.text().await.unwrap().matches("BEGIN CERTIFICATE").count(), 3, "leaf, issuing CA, root");
        let der = export("?format=der").await;
        assert_eq!(der.headers()["content-type"], "application/pkix-cert");
        std::fs::write(d.join("c.der"), der.bytes().await.unwrap()).unwrap();
        let (ok, text) = openssl(d, &["x509", "-inform", "DER", "-in", "c.der", "-noout", "-subject"]);
        assert!(ok && text.contains("svc.example.com"), "{text}");
        let p7 = export("?format=pkcs7").await;
        assert_eq!(p7.headers()["content-type"], "application/pkcs7-mime");
        assert!(p7.headers()["content-disposition"].to_str().unwrap().ends_with(".p7b\""));
        std::fs::write(d.join("c.p7b"), p7.bytes().await.unwrap()).unwrap();
        let (ok, text) = openssl(d, &["pkcs7", "-inform", "DER", "-in", "c.p7b", "-print_certs", "-noout"]);
        assert!(ok && text.matches("subject=").count() == 3, "{text}");
        assert_eq!(problem_code(export("?format=pfx").await, StatusCode::BAD_REQUEST).await, "request.invalid_format");
        assert_eq!(
            problem_code(export("?format=der&chain=true").await, StatusCode::BAD_REQUEST).await,
            "request.invalid_format"
        );

        // PKCS#12 with the key: openssl opens it with the password, and the key matches.
        let p12 = s
            .http()
            .post(s.at(&format!("/v1/certificates/{id}/pkcs12")))
            .bearer_auth(&s.admin_token)
            .json(&json!({"password": "correct horse"}))
            .send()
            .await
            .unwrap();
        assert_eq!(p12.status(), StatusCode::OK);
        assert_eq!(p12.headers()["content-type"], "application/x-pkcs12");
        std::fs::write(d.join("c.p12"), p12.bytes().await.unwrap()).unwrap();
        let (ok, text) =
            openssl(d, &["pkcs12", "-in", "c.p12", "-passin", "pass:correct horse", "-nodes", "-out", "p12.pem"]);
        assert!(ok, "{text}");
        let (_, from_p12) = openssl(d, &["pkey", "-in", "p12.pem", "-pubout"]);
        assert_eq!(from_p12, a, "the PKCS#12 key is the certificate's key");
        let short =
            post(&s, &format!("/v1/certificates/{id}/pkcs12"), &s.admin_token, json!({"password": "short"})).await;
        assert_eq!(problem_code(short, StatusCode::BAD_REQUEST).await, "request.invalid_password");
        let auditor = s.token_with_role("auditor").await;
        let denied =
            post(&s, &format!("/v1/certificates/{id}/pkcs12"), &auditor, json!({"password": "correct horse"})).await;
        assert_eq!(denied.status(), StatusCode::FORBIDDEN);
        // A token limited to another RA profile is refused, and the refusal is audited.
        let limited: Value = post(
            &s,
            "/v1/tokens",
            &s.admin_token,
            json!({"name": "web-only", "role": "requester", "ra_profiles": ["web"]}),
        )
        .await
        .json()
        .await
        .unwrap();
        let limited = limited["secret"].as_str().unwrap();
        let refused =
            post(&s, "/v1/certificates", limited, json!({"ra_profile": "default", "common_name": "x.example.com"}))
                .await;
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        let denials = s.get_json("/v1/events?action=access.denied&object_type=ra_profile", &s.admin_token).await;
        assert_eq!(denials["total"], 1, "{denials}");
        assert_eq!(denials["items"][0]["actor"], "web-only");
        let exports = s.get_json("/v1/events?action=certificate.key_export", &s.admin_token).await;
        assert_eq!(exports["total"], 1, "the export is audited");

        // Fetching it later never shows the key again.
        let again: Value = s.get_json(&format!("/v1/certificates/{id}"), &s.admin_token).await;
        assert!(again.get("private_key_pem").is_none());
        assert_eq!(again["serial"], issued["serial"]);
        assert!(again["chain_pem"].as_str().unwrap().contains("BEGIN CERTIFICATE"));
    }

    pub async fn policy_violations_are_specific_problems_and_store_nothing(s: TestServer) {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let authorities: Value = s.get_json("/v1/authorities", &s.admin_token).await;
        let issuing = authorities["items"].as_array().unwrap().iter().find(|a| a["name"] == "issuing").unwrap();
        let resp = post(
            &s,
            "/v1/ra-profiles",
            &s.admin_token,
            json!({"name": "web", "authority": issuing["id"], "policy": {
                "allowed_domains": ["example.com"], "allow_ip_sans": false, "min_rsa_bits": 3072,
                "max_validity_days": 90, "default_validity_days": 30, "server_side_keygen": false}}),
        )
        .await;
        assert_eq!(resp.status(), StatusCode::CREATED);

        let cases: Vec<(Value, &str)> = vec![
            (
                json!({"ra_profile": "web", "csr": csr(d, "a", &["-newkey", "rsa:2048"], "/CN=a.example.com", "")}),
                "policy.key_too_small",
            ),
            (
                json!({"ra_profile": "web", "csr": csr(d, "b", &["-newkey", "ed25519"], "/CN=evil.org", "DNS:evil.org")}),
                "policy.san_not_allowed",
            ),
            (
                json!({"ra_profile": "web", "csr": csr(d, "c", &["-newkey", "ed25519"], "/CN=c.example.com", "IP:10.0.0.1")}),
                "policy.san_not_allowed",
            ),
            (
                json!({"ra_profile": "web", "csr": csr(d, "e", &["-newkey", "ed25519"], "/CN=e.example.com", ""), "validity_days": 365}),
                "policy.validity_too_long",
            ),
            (json!({"ra_profile": "web", "common_name": "x.example.com"}), "policy.keygen_not_allowed"),
            (
                json!({"ra_profile": "web", "csr": "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----"}),
                "csr.invalid",
            ),
            (json!({"ra_profile": "web", "csr": "garbage"}), "csr.invalid"),
            (json!({"ra_profile": "nope", "common_name": "x"}), "ra_profile.not_found"),
            (
                json!({"ra_profile": "default", "common_name": "x", "key_algorithm": "rsa-1024"}),
                "request.invalid_key_algorithm",
            ),
            (json!({"ra_profile": "default", "sans": ["ip:not-an-ip"]}), "request.invalid_san"),
            (json!({"ra_profile": "default", "common_name": " "}), "request.invalid_common_name"),
        ];
        for (body, code) in cases {
            let resp = post(&s, "/v1/certificates", &s.admin_token, body.clone()).await;
            let status = resp.status();
            assert!(status.is_client_error(), "{body}: {status}");
            let got = problem_code(resp, status).await;
            assert_eq!(got, code, "{body}");
        }
        let list: Value = s.get_json("/v1/certificates?origin=request", &s.admin_token).await;
        assert_eq!(list["total"], 0, "nothing was stored");
        // A tampered CSR is refused too.
        let mut pem = csr(d, "t", &["-newkey", "ed25519"], "/CN=t.example.com", "");
        let body_at = pem.find('\n').unwrap() + 40;
        let flipped = if pem.as_bytes()[body_at] == b'A' { "B" } else { "A" };
        pem.replace_range(body_at..body_at + 1, flipped);
        let resp = post(&s, "/v1/certificates", &s.admin_token, json!({"ra_profile": "web", "csr": pem})).await;
        assert_eq!(problem_code(resp, StatusCode::BAD_REQUEST).await, "csr.invalid");
    }

    pub async fn idempotent_retries_return_the_first_certificate(s: TestServer) {
        let body = json!({"ra_profile": "default", "common_name": "idem.example.com"});
        let send = || {
            s.http()
                .post(s.at("/v1/certificates"))
                .bearer_auth(&s.admin_token)
                .header("idempotency-key", "order-7")
                .json(&body)
                .send()
        };
        let first: Value = send().await.unwrap().json().await.unwrap();
        let resp = send().await.unwrap();
        assert_eq!(resp.headers()["idempotent-replayed"], "true");
        let second: Value = resp.json().await.unwrap();
        assert_eq!(first["id"], second["id"]);
        assert_eq!(first["serial"], second["serial"]);
        assert!(second.get("private_key_pem").is_none());
        let list: Value = s.get_json("/v1/certificates?name=idem", &s.admin_token).await;
        assert_eq!(list["total"], 1);
    }

    pub async fn inventory_filters_and_ca_certificates_over_http(s: TestServer) {
        for cn in ["alpha.example.com", "beta.example.com", "gamma.example.org"] {
            let resp = post(
                &s,
                "/v1/certificates",
                &s.admin_token,
                json!({"ra_profile": "default", "common_name": cn, "sans": [format!("dns:{cn}")]}),
            )
            .await;
            assert_eq!(resp.status(), StatusCode::CREATED);
        }
        let get = |q: &str| {
            let path = format!("/v1/certificates?{q}");
            let s = &s;
            async move { s.get_json(&path, &s.admin_token).await }
        };
        assert_eq!(get("limit=1").await["total"], 4, "three issued here and the server's own certificate");
        assert_eq!(get("name=EXAMPLE.COM").await["total"], 2);
        assert_eq!(get("name=gamma").await["total"], 1);
        assert_eq!(get("origin=request&limit=2").await["items"].as_array().unwrap().len(), 2);
        assert_eq!(get("expires_before=2000-01-01T00:00:00Z").await["total"], 0);
        assert_eq!(get("name=%25").await["total"], 0, "LIKE wildcards are escaped");
        assert_eq!(get("status=valid&origin=request").await["total"], 3);
        assert_eq!(get("status=expired").await["total"], 0);
        assert_eq!(get("status=expiring").await["total"], 0, "90-day certificates are outside the 30-day window");
        assert_eq!(get("name=alpha").await["items"][0]["validation_status"], "valid");
        let resp = post(
            &s,
            "/v1/certificates",
            &s.admin_token,
            json!({"ra_profile": "default", "common_name": "short.example.com", "validity_days": 10}),
        )
        .await;
        assert_eq!(resp.status(), StatusCode::CREATED);
        assert_eq!(resp.json::<Value>().await.unwrap()["validation_status"], "expiring");
        assert_eq!(get("status=expiring").await["total"], 1);
        assert_eq!(get("status=soon").await["code"], "request.invalid_status");

        let authorities: Value = s.get_json("/v1/authorities", &s.admin_token).await;
        assert_eq!(authorities["total"], 2);
        let root = authorities["items"].as_array().unwrap().iter().find(|a| a["kind"] == "root").unwrap();
        let der = s.http().get(s.at(root["certificate_url"].as_str().unwrap())).send().await.unwrap();
        assert_eq!(der.status(), StatusCode::OK, "{}", der.text().await.unwrap());
        let der = s.http().get(s.at(root["certificate_url"].as_str().unwrap())).send().await.unwrap();
        assert_eq!(der.headers()["content-type"], "application/pkix-cert");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("root.der"), der.bytes().await.unwrap()).unwrap();
        let (ok, text) = openssl(dir.path(), &["x509", "-inform", "DER", "-in", "root.der", "-noout", "-subject"]);
        assert!(ok && text.contains("certwright Root CA"), "{text}");
        let missing = s.http().get(s.at("/ca/not-a-ca.crt")).send().await.unwrap();
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);

        // An intermediate created through the API chains to the root.
        let resp = post(
            &s,
            "/v1/authorities",
            &s.admin_token,
            json!({"name": "team", "parent": root["id"], "key_algorithm": "ecdsa-p384", "path_len": 0}),
        )
        .await;
        assert_eq!(resp.status(), StatusCode::CREATED);
        let team: Value = resp.json().await.unwrap();
        assert_eq!(team["kind"], "intermediate");
        assert_eq!(team["parent"], root["id"]);
        std::fs::write(dir.path().join("root.pem"), root["certificate_pem"].as_str().unwrap()).unwrap();
        std::fs::write(dir.path().join("team.pem"), team["certificate_pem"].as_str().unwrap()).unwrap();
        let (ok, text) = openssl(dir.path(), &["verify", "-CAfile", "root.pem", "team.pem"]);
        assert!(ok, "{text}");
        let issuing = authorities["items"].as_array().unwrap().iter().find(|a| a["name"] == "issuing").unwrap();
        let too_deep =
            post(&s, "/v1/authorities", &s.admin_token, json!({"name": "deep", "parent": issuing["id"]})).await;
        assert_eq!(problem_code(too_deep, StatusCode::BAD_REQUEST).await, "authority.path_len_exceeded");
        let unbounded =
            post(&s, "/v1/authorities", &s.admin_token, json!({"name": "wide", "parent": root["id"]})).await;
        assert_eq!(problem_code(unbounded, StatusCode::BAD_REQUEST).await, "authority.path_len_exceeded");
        let dup = post(&s, "/v1/authorities", &s.admin_token, json!({"name": "team"})).await;
        assert_eq!(problem_code(dup, StatusCode::CONFLICT).await, "authority.name_taken");
        assert!(s.services.verify_audit().await.unwrap().is_intact());
    }
}

mod import_cases {
    use super::*;

    pub async fn certificates_from_elsewhere_are_imported_once(s: TestServer) {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let (ok, text) = openssl(
            d,
            &[
                "req",
                "-x509",
                "-new",
                "-nodes",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-384",
                "-days",
                "30",
                "-subj",
                "/CN=legacy.example.org",
                "-addext",
                "subjectAltName=DNS:legacy.example.org",
                "-keyout",
                "k.pem",
                "-out",
                "c.pem",
            ],
        );
        assert!(ok, "{text}");
        let pem = std::fs::read_to_string(d.join("c.pem")).unwrap();
        let resp = post(&s, "/v1/certificates/import", &s.admin_token, json!({"certificate": pem})).await;
        assert_eq!(resp.status(), StatusCode::CREATED);
        let imported: Value = resp.json().await.unwrap();
        assert_eq!(imported["origin"], "import");
        assert_eq!(imported["key_algorithm"], "ecdsa-p384");
        assert_eq!(imported["sans"], json!(["dns:legacy.example.org"]));
        assert!(imported["authority"].is_null());
        assert_eq!(imported["validation_status"], "expiring", "30 days left is inside the 30-day window");
        let again = post(&s, "/v1/certificates/import", &s.admin_token, json!({"certificate": pem})).await;
        assert_eq!(problem_code(again, StatusCode::CONFLICT).await, "certificate.duplicate");

        // A certificate this server issued is in the inventory already: importing it is refused as a duplicate.
        let issued: Value = post(
            &s,
            "/v1/certificates",
            &s.admin_token,
            json!({"ra_profile": "default", "common_name": "dup.example.com"}),
        )
        .await
        .json()
        .await
        .unwrap();
        let dup =
            post(&s, "/v1/certificates/import", &s.admin_token, json!({"certificate": issued["certificate_pem"]}))
                .await;
        assert_eq!(problem_code(dup, StatusCode::CONFLICT).await, "certificate.duplicate");

        for bad in [
            "",
            "garbage",
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----",
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----",
        ] {
            let resp = post(&s, "/v1/certificates/import", &s.admin_token, json!({"certificate": bad})).await;
            assert_eq!(problem_code(resp, StatusCode::BAD_REQUEST).await, "import.invalid", "{bad}");
        }
        let auditor = s.token_with_role("auditor").await;
        let resp = post(&s, "/v1/certificates/import", &auditor, json!({"certificate": pem})).await;
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    }
}

mod import_tests {
    use super::import_cases as cases;
    certwright_testkit::backend_tests!(certificates_from_elsewhere_are_imported_once);
}

certwright_testkit::backend_tests!(
    csrs_from_openssl_issue_chains_openssl_verifies,
    server_generated_keys_are_returned_once_and_match,
    policy_violations_are_specific_problems_and_store_nothing,
    idempotent_retries_return_the_first_certificate,
    inventory_filters_and_ca_certificates_over_http,
);
