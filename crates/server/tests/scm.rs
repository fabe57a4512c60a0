//! The Palo Alto Strata Cloud Manager face: a CA generated in a folder signs a leaf of the same folder (never one
//! of another folder), the chain passes `openssl verify`, subject hashes agree with `openssl x509 -subject_hash`,
//! PKCS#12 exports open with `openssl pkcs12`, blocked keys never leave, a PKCS#12 file made by
//! `openssl pkcs12 -export` imports, unsafe parameters are refused with E003, and every error — auth, conflicts,
//! hostile bodies — comes in SCM's `_errors` envelope.

use base64::Engine;
use certwright_testkit::TestServer;
use reqwest::Method;
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;

const BASE: &str = "/config/identity/v1";

fn openssl(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("openssl").current_dir(dir).args(args).output().expect("openssl is installed");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn unb64(text: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(text).unwrap()
}

struct Scm<'a> {
    s: &'a TestServer,
    token: String,
}

impl Scm<'_> {
    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self.s.http().request(method, self.s.at(&format!("{BASE}{path}"))).bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    async fn generate(&self, body: Value) -> (u16, Value) {
        self.send(Method::POST, "/certificates", Some(body)).await
    }

    async fn export(&self, id: &str, body: Value) -> (u16, Value) {
        self.send(Method::POST, &format!("/certificates/{id}:export"), Some(body)).await
    }
}

/// The body is SCM's error envelope with `code`, and the message starts with `message`.
fn assert_error(body: &Value, code: &str, message: &str) {
    let e = &body["_errors"][0];
    assert_eq!(e["code"], code, "{body}");
    assert!(e["message"].as_str().is_some_and(|m| m.starts_with(message)), "want '{message}…': {body}");
    assert!(e["details"].is_object(), "{body}");
    assert!(body["_request_id"].as_str().is_some_and(|r| !r.is_empty()), "{body}");
}

fn rsa(bits: u32) -> Value {
    json!({ "rsa_number_of_bits": bits })
}

mod cases {
    use super::*;

    pub async fn ca_signs_a_leaf_of_its_folder_and_openssl_agrees(s: TestServer) {
        let scm = Scm { s: &s, token: s.admin_token.clone() };
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let (st, ca) = scm
            .generate(json!({
                "certificate_name": "Corp CA", "common_name": "Corp Issuing CA", "algorithm": rsa(3072),
                "digest": "sha384", "day_till_expiration": 730, "is_certificate_authority": true,
                "country_code": "de", "state": "Berlin", "department": ["PKI", "Security"], "folder": "Shared",
            }))
            .await;
        assert_eq!(st, 201, "{ca}");
        assert_eq!(
            (ca["name"].as_str(), ca["folder"].as_str(), ca["ca"].as_bool()),
            (Some("Corp CA"), Some("Shared"), Some(true))
        );
        assert_eq!(ca["algorithm"], "RSA");
        assert_eq!(ca["subject"], ca["issuer"]);
        let (st, leaf) = scm
            .generate(json!({
                "certificate_name": "portal", "common_name": "portal.example.com",
                "algorithm": { "ecdsa_number_of_bits": 256 }, "digest": "sha384", "signed_by": "Corp CA",
                "hostname": ["portal.example.com", "vpn.example.com"], "ip": ["192.0.2.10"],
                "alternate_email": ["ops@example.com"], "email": "pki@example.com",
                "ocsp_responder_url": "http://ocsp.example.com", "day_till_expiration": 90, "folder": "Shared",
            }))
            .await;
        assert_eq!(st, 201, "{leaf}");
        assert_eq!((leaf["algorithm"].as_str(), leaf["ca"].as_bool()), (Some("EC"), Some(false)));
        assert_eq!(leaf["issuer"], ca["subject"]);
        assert_eq!(leaf["issuer_hash"], ca["subject_hash"]);
        let expiry: i64 = leaf["expiry_epoch"].as_str().unwrap().parse().unwrap();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
        assert!((expiry - now - 90 * 86_400).abs() < 120, "{leaf}");
        assert_eq!(leaf["not_valid_after"].as_str().map(str::len), Some(10));

        // openssl: the chain verifies, the hashes match, the extensions are there.
        let id = leaf["id"].as_str().unwrap();
        let (st, exported) = scm.export(id, json!({ "format": "pem" })).await;
        assert_eq!(st, 201, "{exported}");
        let pem = exported["certificate"].as_str().unwrap();
        assert!(!pem.contains("PRIVATE KEY"), "no passphrase, no key: {pem}");
        let blocks: Vec<&str> = pem.split_inclusive("-----END CERTIFICATE-----\n").collect();
        assert_eq!(blocks.len(), 2, "leaf and CA: {pem}");
        std::fs::write(d.join("leaf.pem"), blocks[0]).unwrap();
        std::fs::write(d.join("ca.pem"), blocks[1]).unwrap();
        let verified = openssl(d, &["verify", "-CAfile", "ca.pem", "leaf.pem"]);
        assert!(verified.contains("leaf.pem: OK"), "{verified}");
        let hash = openssl(d, &["x509", "-in", "leaf.pem", "-noout", "-subject_hash", "-issuer_hash"]);
        let hashes: Vec<&str> = hash.lines().collect();
        assert_eq!(hashes, [leaf["subject_hash"].as_str().unwrap(), ca["subject_hash"].as_str().unwrap()]);
        let ca_hash = openssl(d, &["x509", "-in", "ca.pem", "-noout", "-subject_hash"]);
        assert_eq!(ca_hash.trim(), ca["subject_hash"].as_str().unwrap());
        let text = openssl(d, &["x509", "-in", "leaf.pem", "-noout", "-text"]);
        for want in [
            "DNS:portal.example.com",
            "DNS:vpn.example.com",
            "IP Address:192.0.2.10",
            "email:ops@example.com",
            "OCSP - URI:http://ocsp.example.com",
            "sha384WithRSAEncryption",
            "prime256v1",
        ] {
            assert!(text.contains(want), "{want} missing:\n{text}");
        }
        let ca_text = openssl(d, &["x509", "-in", "ca.pem", "-noout", "-text"]);
        assert!(ca_text.contains("CA:TRUE") && ca_text.contains("sha384WithRSAEncryption"), "{ca_text}");
        assert!(
            ca_text.contains("Subject: C = DE, ST = Berlin, OU = PKI, OU = Security, CN = Corp Issuing CA"),
            "{ca_text}"
        );
        assert!(text.contains("CN = portal.example.com, emailAddress = pki@example.com"), "{text}");
        // The public key is the certificate's.
        let spki = openssl(d, &["x509", "-in", "leaf.pem", "-noout", "-pubkey"]);
        assert_eq!(spki.trim(), leaf["public_key"].as_str().unwrap().trim());

        // A folder of its own: the same names are free there, and the CA of "Shared" cannot sign in it.
        let (st, other) = scm
            .generate(json!({ "certificate_name": "portal", "common_name": "portal.branch", "algorithm": rsa(2048),
                "digest": "sha256", "signed_by": "Corp CA", "folder": "Branch" }))
            .await;
        assert_eq!(st, 400, "{other}");
        assert_error(&other, "E003", "Invalid Object: signed_by");
        let (st, other) = scm
            .generate(json!({ "certificate_name": "portal", "common_name": "portal.branch", "algorithm": rsa(2048),
                "digest": "sha256", "folder": "Branch" }))
            .await;
        assert_eq!(st, 201, "{other}");
        // … but not twice in one scope.
        let (st, dup) = scm
            .generate(json!({ "certificate_name": "portal", "common_name": "x", "algorithm": rsa(2048),
                "digest": "sha256", "folder": "Branch" }))
            .await;
        assert_eq!(st, 409);
        assert_error(&dup, "E006", "Name Not Unique");
        // A non-CA cannot sign.
        let (st, e) = scm
            .generate(json!({ "certificate_name": "sub", "common_name": "x", "algorithm": rsa(2048),
                "digest": "sha256", "signed_by": "portal", "folder": "Shared" }))
            .await;
        assert_eq!(st, 400);
        assert_error(&e, "E003", "Invalid Object");

        // Lists: by scope, by name, paged, with the total.
        let (st, all) = scm.send(Method::GET, "/certificates", None).await;
        assert_eq!(st, 200);
        assert_eq!(
            (all["total"].as_u64(), all["limit"].as_u64(), all["offset"].as_u64()),
            (Some(3), Some(200), Some(0))
        );
        let (_, shared) = scm.send(Method::GET, "/certificates?folder=Shared", None).await;
        assert_eq!(shared["total"], 2);
        let (_, named) = scm.send(Method::GET, "/certificates?name=portal", None).await;
        assert_eq!(named["total"], 2);
        let folders: Vec<&str> =
            named["data"].as_array().unwrap().iter().filter_map(|c| c["folder"].as_str()).collect();
        assert_eq!(folders, ["Shared", "Branch"]);
        let (_, page) = scm.send(Method::GET, "/certificates?limit=1&offset=1", None).await;
        assert_eq!((page["data"].as_array().map(Vec::len), page["total"].as_u64()), (Some(1), Some(3)));
        assert_eq!(page["data"][0]["name"], "portal");
        let (_, none) = scm.send(Method::GET, "/certificates?snippet=Shared", None).await;
        assert_eq!(none["total"], 0);
        let (st, one) = scm.send(Method::GET, &format!("/certificates/{id}"), None).await;
        assert_eq!((st, &one), (200, &leaf));

        // The native inventory shows them with their scope.
        let found = s.get_json("/v1/certificates?label=scope.folder:Shared", &s.admin_token).await;
        assert_eq!(found["items"].as_array().map(Vec::len), Some(2), "{found}");
        let native = s.get_json(&format!("/v1/certificates/{id}"), &s.admin_token).await;
        assert_eq!(native["labels"]["scope.folder"], "Shared", "{native}");
        assert_eq!(native["labels"]["scope.name"], "portal", "{native}");

        // The CA is in use while the leaf exists: E009; then both go, in order.
        let ca_id = ca["id"].as_str().unwrap();
        let (st, e) = scm.send(Method::DELETE, &format!("/certificates/{ca_id}"), None).await;
        assert_eq!(st, 409);
        assert_error(&e, "E009", "Reference Not Zero");
        let (st, gone) = scm.send(Method::DELETE, &format!("/certificates/{id}"), None).await;
        assert_eq!((st, gone["id"].as_str()), (200, Some(id)));
        let (st, _) = scm.send(Method::DELETE, &format!("/certificates/{ca_id}"), None).await;
        assert_eq!(st, 200);
        let (st, e) = scm.send(Method::GET, &format!("/certificates/{id}"), None).await;
        assert_eq!(st, 404);
        assert_error(&e, "E005", "Object Not Present");
        let (st, e) = scm.send(Method::DELETE, &format!("/certificates/{id}"), None).await;
        assert_eq!(st, 404);
        assert_error(&e, "E005", "Object Not Present");
        // Out of the scope, still in the inventory, without the scope labels.
        let native = s.get_json(&format!("/v1/certificates/{id}"), &s.admin_token).await;
        assert!(native["labels"].get("scope.folder").is_none(), "{native}");
        s.stop().await;
    }

    pub async fn pkcs12_export_opens_with_openssl_and_blocked_keys_stay(s: TestServer) {
        let scm = Scm { s: &s, token: s.admin_token.clone() };
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let (_, ca) = scm
            .generate(json!({ "certificate_name": "root", "common_name": "Snippet Root", "algorithm": { "ecdsa_number_of_bits": 384 },
                "digest": "sha384", "is_certificate_authority": true, "snippet": "web" }))
            .await;
        let (st, leaf) = scm
            .generate(json!({ "certificate_name": "www", "common_name": "www.example.com", "algorithm": rsa(2048),
                "digest": "sha384", "signed_by": "root", "hostname": ["www.example.com"], "snippet": "web" }))
            .await;
        assert_eq!(st, 201, "{leaf}");
        assert_eq!(leaf["snippet"], "web");
        let id = leaf["id"].as_str().unwrap();

        let (st, p12) = scm.export(id, json!({ "format": "pkcs12", "passphrase": "correct horse" })).await;
        assert_eq!(st, 201, "{p12}");
        std::fs::write(d.join("www.p12"), unb64(p12["certificate"].as_str().unwrap())).unwrap();
        let out = openssl(d, &["pkcs12", "-in", "www.p12", "-passin", "pass:correct horse", "-nodes"]);
        assert!(out.contains("BEGIN PRIVATE KEY"), "{out}");
        assert_eq!(out.matches("BEGIN CERTIFICATE").count(), 2, "leaf and root: {out}");
        assert!(out.contains("friendlyName: www.example.com"), "{out}");
        // The key in the file is the certificate's.
        openssl(
            d,
            &["pkcs12", "-in", "www.p12", "-passin", "pass:correct horse", "-nocerts", "-nodes", "-out", "k.pem"],
        );
        openssl(
            d,
            &["pkcs12", "-in", "www.p12", "-passin", "pass:correct horse", "-clcerts", "-nokeys", "-out", "c.pem"],
        );
        let from_key = openssl(d, &["pkey", "-in", "k.pem", "-pubout"]);
        let from_cert = openssl(d, &["x509", "-in", "c.pem", "-noout", "-pubkey"]);
        assert_eq!(from_key, from_cert);
        // A wrong password does not open it.
        let wrong = Command::new("openssl")
            .current_dir(d)
            .args(["pkcs12", "-in", "www.p12", "-passin", "pass:wrong", "-nodes"])
            .output()
            .unwrap();
        assert!(!wrong.status.success());

        // PEM with a passphrase carries the key, encrypted; openssl opens it.
        let (st, pem) = scm.export(id, json!({ "format": "pem", "passphrase": "correct horse" })).await;
        assert_eq!(st, 201);
        let pem = pem["certificate"].as_str().unwrap();
        assert!(pem.contains("BEGIN ENCRYPTED PRIVATE KEY") && !pem.contains("BEGIN PRIVATE KEY"), "{pem}");
        std::fs::write(d.join("bundle.pem"), pem).unwrap();
        let opened = openssl(d, &["pkey", "-in", "bundle.pem", "-passin", "pass:correct horse", "-pubout"]);
        assert_eq!(opened, from_cert);
        // DER is the certificate alone.
        let (st, der) = scm.export(id, json!({ "format": "der" })).await;
        assert_eq!(st, 201);
        std::fs::write(d.join("www.der"), unb64(der["certificate"].as_str().unwrap())).unwrap();
        let subject = openssl(d, &["x509", "-inform", "DER", "-in", "www.der", "-noout", "-subject"]);
        assert!(subject.contains("www.example.com"), "{subject}");

        // A blocked key: PEM and DER without it, PKCS#12 refused.
        let (st, blocked) = scm
            .generate(json!({ "certificate_name": "vault", "common_name": "vault.example.com", "algorithm": rsa(2048),
                "digest": "sha384", "signed_by": "root", "is_block_privateKey": true, "snippet": "web" }))
            .await;
        assert_eq!(st, 201, "{blocked}");
        let bid = blocked["id"].as_str().unwrap();
        let (st, pem) = scm.export(bid, json!({ "format": "pem", "passphrase": "correct horse" })).await;
        assert_eq!(st, 201);
        let pem = pem["certificate"].as_str().unwrap();
        assert!(!pem.contains("PRIVATE KEY") && pem.contains("BEGIN CERTIFICATE"), "{pem}");
        let (st, der) = scm.export(bid, json!({ "format": "der" })).await;
        assert_eq!(st, 201);
        assert!(!der["certificate"].as_str().unwrap().is_empty());
        let (st, e) = scm.export(bid, json!({ "format": "pkcs12", "passphrase": "correct horse" })).await;
        assert_eq!(st, 400);
        assert_error(&e, "E003", "Invalid Object: the private key of 'vault' is blocked from export");
        // A blocked CA still signs: its key is held, only never exported.
        let (st, sub) = scm
            .generate(json!({ "certificate_name": "sub", "common_name": "sub.example.com", "algorithm": rsa(2048),
                "digest": "sha256", "is_certificate_authority": true, "is_block_privateKey": true, "snippet": "web" }))
            .await;
        assert_eq!(st, 201, "{sub}");
        let (st, signed) = scm
            .generate(json!({ "certificate_name": "under-sub", "common_name": "u.example.com", "algorithm": rsa(2048),
                "digest": "sha512", "signed_by": "sub", "snippet": "web" }))
            .await;
        assert_eq!(st, 201, "{signed}");

        // Export errors: bad format, short passphrase, pkcs12 without one, pkcs10, unknown action, unknown id.
        let (st, e) = scm.export(id, json!({ "format": "jks" })).await;
        assert_eq!(st, 400);
        assert_error(&e, "E003", "Invalid Object: format 'jks'");
        let (_, e) = scm.export(id, json!({ "format": "pkcs10" })).await;
        assert_error(&e, "E003", "Invalid Object: format pkcs10");
        let (st, e) = scm.export(id, json!({ "format": "pkcs12" })).await;
        assert_eq!(st, 400);
        assert_error(&e, "E003", "Invalid Object: a pkcs12 export needs a passphrase");
        let (_, e) = scm.export(id, json!({ "format": "pem", "passphrase": "short" })).await;
        assert_error(&e, "E003", "Invalid Object: passphrase");
        let (st, e) = scm.export(id, json!({ "passphrase": "correct horse" })).await;
        assert_eq!(st, 400);
        assert_error(&e, "E003", "Invalid Object");
        let (st, e) = scm.send(Method::POST, &format!("/certificates/{id}:move"), Some(json!({}))).await;
        assert_eq!(st, 405);
        assert_error(&e, "E012", "Action Not Supported: move");
        let missing = uuid::Uuid::new_v4();
        let (st, e) = scm.export(&missing.to_string(), json!({ "format": "pem" })).await;
        assert_eq!(st, 404);
        assert_error(&e, "E005", "Object Not Present");
        // The key exports were audited.
        let events = s.get_json("/v1/events?action=certificate.key_export", &s.admin_token).await;
        assert!(events["items"].as_array().is_some_and(|e| e.len() >= 2), "{events}");
        let _ = ca;
        s.stop().await;
    }

    pub async fn imports_what_openssl_made(s: TestServer) {
        let scm = Scm { s: &s, token: s.admin_token.clone() };
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        openssl(
            d,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "key.pem",
                "-out",
                "cert.pem",
                "-subj",
                "/CN=imported.example/O=Elsewhere",
                "-days",
                "30",
            ],
        );
        openssl(
            d,
            &[
                "pkcs12",
                "-export",
                "-in",
                "cert.pem",
                "-inkey",
                "key.pem",
                "-out",
                "bundle.p12",
                "-passout",
                "pass:import me",
                "-name",
                "imported",
            ],
        );
        let p12 = std::fs::read(d.join("bundle.p12")).unwrap();
        let (st, imported) = scm
            .send(
                Method::POST,
                "/certificates:import",
                Some(json!({ "name": "from-openssl", "certificate_file": b64(&p12), "format": "pkcs12",
                    "passphrase": "import me", "device": "fw-01" })),
            )
            .await;
        assert_eq!(st, 201, "{imported}");
        assert_eq!((imported["device"].as_str(), imported["format"].as_str()), (Some("fw-01"), Some("pkcs12")));
        assert_eq!(imported["common_name"], "imported.example");
        let hash = openssl(d, &["x509", "-in", "cert.pem", "-noout", "-subject_hash"]);
        assert_eq!(hash.trim(), imported["subject_hash"].as_str().unwrap());
        // Its key came along: it exports again as PKCS#12 that openssl opens, with the same key.
        let id = imported["id"].as_str().unwrap();
        let (st, p12_again) = scm.export(id, json!({ "format": "pkcs12", "passphrase": "another one" })).await;
        assert_eq!(st, 201, "{p12_again}");
        std::fs::write(d.join("again.p12"), unb64(p12_again["certificate"].as_str().unwrap())).unwrap();
        openssl(
            d,
            &["pkcs12", "-in", "again.p12", "-passin", "pass:another one", "-nocerts", "-nodes", "-out", "k2.pem"],
        );
        assert_eq!(
            openssl(d, &["pkey", "-in", "k2.pem", "-pubout"]),
            openssl(d, &["pkey", "-in", "key.pem", "-pubout"])
        );

        // PEM with a separate key, and DER without a key, into a folder.
        openssl(
            d,
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                "ec.key",
                "-out",
                "ec.pem",
                "-subj",
                "/CN=ec.example",
                "-days",
                "10",
            ],
        );
        let (st, pem) = scm
            .send(
                Method::POST,
                "/certificates:import",
                Some(json!({ "name": "ec", "certificate_file": b64(&std::fs::read(d.join("ec.pem")).unwrap()),
                    "key_file": b64(&std::fs::read(d.join("ec.key")).unwrap()), "folder": "Shared" })),
            )
            .await;
        assert_eq!(st, 201, "{pem}");
        assert_eq!((pem["format"].as_str(), pem["algorithm"].as_str()), (Some("pem"), Some("EC")));
        openssl(d, &["x509", "-in", "ec.pem", "-outform", "DER", "-out", "ec.der"]);
        let der = std::fs::read(d.join("ec.der")).unwrap();
        // The same certificate twice: one inventory certificate lives in one scope.
        let (st, e) = scm
            .send(
                Method::POST,
                "/certificates:import",
                Some(json!({ "name": "ec-der", "certificate_file": b64(&der), "format": "der", "folder": "Other" })),
            )
            .await;
        assert_eq!(st, 409, "{e}");
        assert_error(&e, "E016", "Object Not Unique");
        openssl(
            d,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "d.key",
                "-out",
                "d.pem",
                "-subj",
                "/CN=der.example",
                "-days",
                "10",
                "-outform",
                "DER",
            ],
        );
        let der = std::fs::read(d.join("d.pem")).unwrap();
        let (st, plain) = scm
            .send(
                Method::POST,
                "/certificates:import",
                Some(json!({ "name": "ec", "certificate_file": b64(&der), "format": "der", "folder": "Other" })),
            )
            .await;
        assert_eq!(st, 201, "{plain}");
        let (st, e) =
            scm.export(plain["id"].as_str().unwrap(), json!({ "format": "pkcs12", "passphrase": "12345678" })).await;
        assert_eq!(st, 400);
        assert_error(&e, "E003", "Invalid Object: no private key is held for 'ec'");
        // Same name, same scope: E006.
        let (st, e) = scm
            .send(
                Method::POST,
                "/certificates:import",
                Some(json!({ "name": "ec", "certificate_file": b64(&der), "format": "der", "folder": "Other" })),
            )
            .await;
        assert_eq!(st, 409);
        assert_error(&e, "E006", "Name Not Unique");

        openssl(
            d,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "o.key",
                "-out",
                "o.pem",
                "-subj",
                "/CN=other.example",
                "-days",
                "10",
            ],
        );
        // Import refusals: wrong passphrase, format mismatch, bad base64, key of another certificate, no scope.
        let cases = [
            (
                json!({ "name": "x", "certificate_file": b64(&p12), "format": "pkcs12", "passphrase": "nope", "folder": "F" }),
                "Invalid Object",
            ),
            (
                json!({ "name": "x", "certificate_file": b64(&p12), "format": "pem", "folder": "F" }),
                "Invalid Object: certificate_file does not hold pem",
            ),
            (
                json!({ "name": "x", "certificate_file": "%%%not base64%%%", "folder": "F" }),
                "Invalid Object: certificate_file is not valid base64",
            ),
            (
                json!({ "name": "x", "certificate_file": b64(&std::fs::read(d.join("o.pem")).unwrap()),
                "key_file": b64(&std::fs::read(d.join("d.key")).unwrap()), "folder": "F" }),
                "Invalid Object",
            ),
            (
                json!({ "name": "x", "certificate_file": b64(&der), "format": "der" }),
                "Invalid Object: give exactly one",
            ),
            (
                json!({ "name": "x", "certificate_file": b64(&der), "format": "der", "folder": "F", "device": "D" }),
                "Invalid Object: give exactly one",
            ),
            (
                json!({ "name": "x", "certificate_file": b64(&der), "format": "der", "folder": "bad/name" }),
                "Invalid Object",
            ),
            (
                json!({ "name": "x", "certificate_file": b64(&der), "format": "xml", "folder": "F" }),
                "Invalid Object: format 'xml'",
            ),
        ];
        for (body, message) in cases {
            let (st, e) = scm.send(Method::POST, "/certificates:import", Some(body.clone())).await;
            assert_eq!(st, 400, "{body} → {e}");
            assert_error(&e, "E003", message);
        }
        let native = s.get_json(&format!("/v1/certificates/{id}"), &s.admin_token).await;
        assert_eq!(
            (native["labels"]["scope.device"].as_str(), native["labels"]["scope.name"].as_str()),
            (Some("fw-01"), Some("from-openssl")),
            "{native}"
        );
        s.stop().await;
    }

    pub async fn unsafe_parameters_are_refused_with_what_is_allowed(s: TestServer) {
        let scm = Scm { s: &s, token: s.admin_token.clone() };
        let base = |algorithm: Value, digest: &str| json!({ "certificate_name": "c", "common_name": "c.example", "algorithm": algorithm, "digest": digest, "folder": "F" });
        let cases = [
            (base(rsa(512), "sha256"), "use 2048, 3072 or 4096"),
            (base(rsa(1024), "sha256"), "use 2048, 3072 or 4096"),
            (base(json!({ "ecdsa_number_of_bits": 245 }), "sha256"), "use 256 (P-256) or 384 (P-384)"),
            (base(json!({ "ecdsa_number_of_bits": 2048 }), "sha256"), "use 256 (P-256) or 384 (P-384)"),
            (base(json!({ "ecdsa_number_of_bits": 4096 }), "sha256"), "use 256 (P-256) or 384 (P-384)"),
            (base(json!({ "ecdsa_number_of_bits": 521 }), "sha256"), "use 256 (P-256) or 384 (P-384)"),
            (base(rsa(2048), "md5"), "use sha256, sha384 or sha512"),
            (base(rsa(2048), "sha1"), "use sha256, sha384 or sha512"),
            (base(json!({ "ecdsa_number_of_bits": 256 }), "sha512"), "ECDSA P-256 keys sign with sha256"),
            (base(json!({}), "sha256"), "algorithm must hold exactly one"),
            (
                base(json!({ "rsa_number_of_bits": 2048, "ecdsa_number_of_bits": 256 }), "sha256"),
                "algorithm must hold exactly one",
            ),
        ];
        for (body, allowed) in cases {
            let (st, e) = scm.generate(body.clone()).await;
            assert_eq!(st, 400, "{body} → {e}");
            assert_error(&e, "E003", "Invalid Object");
            let message = e["_errors"][0]["message"].as_str().unwrap();
            assert!(message.contains(allowed), "{body}: '{message}' should name '{allowed}'");
        }
        // Other field rules of the spec.
        let mut too_long_state = base(rsa(2048), "sha256");
        too_long_state["state"] = json!("x".repeat(33));
        let mut bad_country = base(rsa(2048), "sha256");
        bad_country["country_code"] = json!("Germany");
        let mut bad_ip = base(rsa(2048), "sha256");
        bad_ip["ip"] = json!(["not-an-ip"]);
        let mut bad_days = base(rsa(2048), "sha256");
        bad_days["day_till_expiration"] = json!(0);
        let mut bad_ocsp = base(rsa(2048), "sha256");
        bad_ocsp["ocsp_responder_url"] = json!("ldap://x");
        let mut no_scope = base(rsa(2048), "sha256");
        no_scope.as_object_mut().unwrap().remove("folder");
        for body in [too_long_state, bad_country, bad_ip, bad_days, bad_ocsp, no_scope] {
            let (st, e) = scm.generate(body.clone()).await;
            assert_eq!(st, 400, "{body} → {e}");
            assert_error(&e, "E003", "Invalid Object");
        }
        let (_, listed) = scm.send(Method::GET, "/certificates", None).await;
        assert_eq!(listed["total"], 0, "nothing was created: {listed}");
        s.stop().await;
    }

    pub async fn auth_and_hostile_input_get_the_envelope(s: TestServer) {
        let url = |p: &str| s.at(&format!("{BASE}{p}"));
        let http = s.http();
        // E016: no header, another scheme, an unknown token.
        for req in [
            http.get(url("/certificates")),
            http.get(url("/certificates")).basic_auth("admin", Some(&s.admin_token)),
            http.get(url("/certificates")).bearer_auth("cw_not_a_token"),
        ] {
            let resp = req.send().await.unwrap();
            assert_eq!(resp.status().as_u16(), 401);
            assert_eq!(resp.headers()["www-authenticate"], "Bearer");
            let body: Value = resp.json().await.unwrap();
            assert_error(&body, "E016", "");
            assert!(
                ["Not Authenticated", "Invalid Credential"].contains(&body["_errors"][0]["message"].as_str().unwrap())
            );
        }
        // The request id is the caller's when given.
        let resp = http.get(url("/certificates")).header("x-request-id", "scm-test-1").send().await.unwrap();
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["_request_id"], "scm-test-1");

        // OAuth2 client credentials: an auditor reads but may not generate (E007).
        let resp = http
            .post(s.at("/v1/oauth-clients"))
            .bearer_auth(&s.admin_token)
            .json(&json!({ "name": "panorama", "role": "auditor" }))
            .send()
            .await
            .unwrap();
        let client: Value = resp.json().await.unwrap();
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", client["client_id"].as_str().unwrap()),
            ("client_secret", client["client_secret"].as_str().unwrap()),
            ("scope", "tsg_id:1234567890"),
        ];
        let tok: Value = http.post(s.at("/v1/oauth/token")).form(&form).send().await.unwrap().json().await.unwrap();
        let auditor = Scm { s: &s, token: tok["access_token"].as_str().expect("an access token").to_owned() };
        let (st, listed) = auditor.send(Method::GET, "/certificates?folder=Shared", None).await;
        assert_eq!(st, 200, "{listed}");
        let (st, e) = auditor
            .generate(json!({ "certificate_name": "c", "common_name": "c", "algorithm": rsa(2048), "digest": "sha256", "folder": "F" }))
            .await;
        assert_eq!(st, 403);
        assert_error(&e, "E007", "Unauthorized");

        let scm = Scm { s: &s, token: s.admin_token.clone() };
        // Bodies: not JSON, wrong types, empty, wrong content type, huge.
        let raw = |body: Vec<u8>, ct: &'static str| {
            http.post(url("/certificates")).bearer_auth(&s.admin_token).header("content-type", ct).body(body)
        };
        let cases: Vec<(reqwest::RequestBuilder, u16, &str)> = vec![
            (raw(b"{not json".to_vec(), "application/json"), 400, "Malformed Command"),
            (raw(br#"{"certificate_name": 5, "common_name": "x", "algorithm": {"rsa_number_of_bits": 2048}, "folder": "F"}"#.to_vec(), "application/json"), 400, "Invalid Object"),
            (raw(br#"{"certificate_name": "x", "common_name": "x", "algorithm": {"rsa_number_of_bits": "2048"}, "folder": "F"}"#.to_vec(), "application/json"), 400, "Invalid Object"),
            (raw(br#"{"certificate_name": "x", "common_name": "x", "algorithm": {"rsa_number_of_bits": -1}, "folder": "F"}"#.to_vec(), "application/json"), 400, "Invalid Object"),
            (raw(br#"[1, 2, 3]"#.to_vec(), "application/json"), 400, "Invalid Object"),
            (raw(Vec::new(), "application/json"), 400, "Missing Body"),
            (raw(b"<xml/>".to_vec(), "application/xml"), 400, "Input Format Mismatch"),
            // Its own client: after a 413 the server closes the connection, which a pooled client would reuse.
            (
                certwright_testkit::http_client()
                    .post(url("/certificates"))
                    .bearer_auth(&s.admin_token)
                    .header("content-type", "application/json")
                    .body(vec![b'a'; 2 * 1024 * 1024]),
                413,
                "Invalid Object",
            ),
        ];
        for (req, status, message) in cases {
            let resp = req.send().await.unwrap();
            assert_eq!(resp.status().as_u16(), status, "{message}");
            let body: Value = resp.json().await.unwrap();
            assert_error(&body, "E003", message);
        }
        // Query parameters and ids.
        for (path, message) in [
            ("/certificates?limit=abc", "Invalid Query Parameter: limit=abc"),
            ("/certificates?limit=5000", "Invalid Query Parameter: limit=5000"),
            ("/certificates?offset=-1", "Invalid Query Parameter: offset=-1"),
            ("/certificates?location=invalid", "Invalid Query Parameter: location=invalid"),
            ("/certificates?folder=A&device=B", "Invalid Object: give exactly one"),
            ("/certificates?folder=%00bad", "Invalid Object"),
            ("/certificates/not-a-uuid", "Invalid Object: 'not-a-uuid' is not a certificate id"),
        ] {
            let (st, e) = scm.send(Method::GET, path, None).await;
            assert_eq!(st, 400, "{path} → {e}");
            assert_error(&e, "E003", message);
        }
        let (st, e) = scm.send(Method::GET, &format!("/certificates/{}", uuid::Uuid::new_v4()), None).await;
        assert_eq!(st, 404);
        assert_error(&e, "E005", "Object Not Present");
        // Methods and paths that do not exist.
        let (st, e) = scm.send(Method::PUT, "/certificates", Some(json!({}))).await;
        assert_eq!(st, 405);
        assert_error(&e, "E012", "Method Not Supported");
        let (st, e) = scm.send(Method::PUT, &format!("/certificates/{}", uuid::Uuid::new_v4()), Some(json!({}))).await;
        assert_eq!(st, 405);
        assert_error(&e, "E012", "Method Not Supported");
        let (st, e) = scm.send(Method::POST, &format!("/certificates/{}", uuid::Uuid::new_v4()), Some(json!({}))).await;
        assert_eq!(st, 405);
        assert_error(&e, "E012", "Method Not Supported");
        let (st, e) = scm.send(Method::GET, "/certificate-profiles", None).await;
        assert_eq!(st, 404);
        assert_error(&e, "E005", "Object Not Present");

        // The face's OpenAPI document lists every route.
        let doc: Value = http.get(url("/openapi.json")).send().await.unwrap().json().await.unwrap();
        for path in [
            "/config/identity/v1/certificates",
            "/config/identity/v1/certificates:import",
            "/config/identity/v1/certificates/{id}",
            "/config/identity/v1/certificates/{id}:export",
        ] {
            assert!(doc["paths"][path].is_object(), "{path} is not documented");
        }
        assert!(doc["paths"]["/config/identity/v1/certificates"]["post"].is_object());
        assert!(doc["paths"]["/config/identity/v1/certificates/{id}"]["delete"].is_object());
        assert!(
            doc["components"]["schemas"]["GenerateCertificate"]["properties"]["is_block_privateKey"].is_object(),
            "{doc}"
        );
        s.stop().await;
    }

    pub async fn concurrent_imports_of_one_name_leave_no_certificate_without_scope(s: TestServer) {
        let scm = Scm { s: &s, token: s.admin_token.clone() };
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        // Two different certificates made by openssl, imported under the same name into one folder at once.
        let mut bodies = Vec::new();
        for n in ["one", "two"] {
            let (key, cert) = (format!("{n}.key"), format!("{n}.pem"));
            openssl(
                d,
                &[
                    "req",
                    "-x509",
                    "-newkey",
                    "ec",
                    "-pkeyopt",
                    "ec_paramgen_curve:P-256",
                    "-nodes",
                    "-keyout",
                    &key,
                    "-out",
                    &cert,
                    "-subj",
                    &format!("/CN={n}.race.example"),
                    "-days",
                    "30",
                ],
            );
            bodies.push(json!({
                "name": "raced", "folder": "Race", "format": "pem",
                "certificate_file": b64(&std::fs::read(d.join(&cert)).unwrap()),
                "key_file": b64(&std::fs::read(d.join(&key)).unwrap()),
            }));
        }
        let before = s.get_json("/v1/certificates?limit=1", &s.admin_token).await["total"].as_u64().unwrap();
        let (a, b) = tokio::join!(
            scm.send(Method::POST, "/certificates:import", Some(bodies[0].clone())),
            scm.send(Method::POST, "/certificates:import", Some(bodies[1].clone())),
        );
        let mut statuses = [a.0, b.0];
        statuses.sort_unstable();
        assert_eq!(statuses, [201, 409], "{a:?} {b:?}");
        let refused = if a.0 == 409 { &a.1 } else { &b.1 };
        assert_error(refused, "E006", "Name Not Unique");
        let after = s.get_json("/v1/certificates?limit=1", &s.admin_token).await["total"].as_u64().unwrap();
        assert_eq!(after, before + 1, "exactly one new inventory certificate");
        let scoped = s.get_json("/v1/certificates?label=scope.folder:Race", &s.admin_token).await;
        assert_eq!(scoped["total"], 1, "{scoped}");
        s.stop().await;
    }
}

certwright_testkit::backend_tests!(
    ca_signs_a_leaf_of_its_folder_and_openssl_agrees,
    pkcs12_export_opens_with_openssl_and_blocked_keys_stay,
    imports_what_openssl_made,
    unsafe_parameters_are_refused_with_what_is_allowed,
    auth_and_hostile_input_get_the_envelope,
    concurrent_imports_of_one_name_leave_no_certificate_without_scope,
);
