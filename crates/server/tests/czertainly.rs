//! The CZERTAINLY face, on SQLite and PostgreSQL, driven with the example bodies of the seed document verbatim
//! (only values that must be real — a CSR, a certificate, a distinguished name — are put in their place): v2 issue
//! from openssl CSRs and from CSR attributes, renew (same key) and rekey (new key) linked to the original, revoke
//! visible to `openssl ocsp` and in the CRL `openssl verify -crl_check` reads, attribute definitions and their
//! validation, finalize / confirm-revoke / cancel against a manual external CA, the legacy end entities, and every
//! error in CZERTAINLY's bodies.

use base64::Engine;
use certwright_core::store::Store;
use certwright_testkit::openssl;
use certwright_testkit::TestServer;
use reqwest::Method;
use serde_json::{json, Value};
use std::path::Path;

const OCTET_ATTRIBUTE_UUID: &str = "b11c9be1-b619-4ef5-be1b-a1cd9ef265b7";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn unb64(text: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(text).unwrap()
}

/// The seed's `RequestAttribute` example, as every example body carries it.
fn seed_attribute() -> Value {
    json!({
        "uuid": "b11c9be1-b619-4ef5-be1b-a1cd9ef265b7",
        "name": "Attribute",
        "contentType": "string",
        "content": [{ "reference": "string", "data": true, "contentType": "string" }],
        "version": "v2"
    })
}

/// The seed's ClientCertificateSignRequestDto example.
fn seed_sign_request() -> Value {
    json!({
        "csrAttributes": [seed_attribute()],
        "signatureAttributes": [seed_attribute()],
        "altSignatureAttributes": [seed_attribute()],
        "request": "string",
        "format": "pkcs10",
        "tokenProfileUuid": "66f2e24c-4f07-496b-b5c4-6fe8a5e8361a",
        "keyUuid": "a0e39a6c-fae3-43d6-99c3-a3620775a368",
        "altTokenProfileUuid": "487a31a3-090d-4b19-9b24-0ff6d52ff0e9",
        "altKeyUuid": "ae57c41d-5798-439d-bc96-b05c70b20ac1",
        "attributes": [seed_attribute()],
        "customAttributes": [seed_attribute()]
    })
}

/// The seed's ClientCertificateRevocationDto example.
fn seed_revoke() -> Value {
    json!({ "reason": "unspecified", "attributes": [seed_attribute()], "destroyKey": false })
}

/// The seed's ClientCertificateRenewRequestDto example.
fn seed_renew() -> Value {
    json!({ "replaceInLocations": false, "request": "string", "format": "pkcs10" })
}

/// The seed's ClientCertificateRekeyRequestDto example.
fn seed_rekey() -> Value {
    json!({
        "replaceInLocations": false,
        "request": "string",
        "format": "pkcs10",
        "keyUuid": "a0e39a6c-fae3-43d6-99c3-a3620775a368",
        "tokenProfileUuid": "66f2e24c-4f07-496b-b5c4-6fe8a5e8361a",
        "altKeyUuid": "ae57c41d-5798-439d-bc96-b05c70b20ac1",
        "altTokenProfileUuid": "487a31a3-090d-4b19-9b24-0ff6d52ff0e9",
        "signatureAttributes": [seed_attribute()],
        "altSignatureAttributes": [seed_attribute()]
    })
}

/// The seed's finalize example.
fn seed_finalize() -> Value {
    json!({ "certificate": "string", "customAttributes": [seed_attribute()] })
}

/// The seed's `RaProfileDto` example inside the end-entity bodies.
fn seed_ra_profile() -> Value {
    let attr = json!({
        "content": [{ "reference": "string", "data": true }],
        "uuid": "b11c9be1-b619-4ef5-be1b-a1cd9ef265b7",
        "name": "Attribute",
        "label": "Attribute Name",
        "type": "data",
        "contentType": "string",
        "version": "v2"
    });
    json!({
        "uuid": "7b55ge1c-844f-11dc-a8a3-0242ac120002",
        "name": "Name",
        "description": "string",
        "authorityInstanceUuid": "string",
        "authorityInstanceName": "string",
        "legacyAuthority": true,
        "enabled": true,
        "attributes": [attr.clone()],
        "customAttributes": [attr],
        "enabledProtocols": ["string"],
        "certificateValidationSettings": { "enabled": true, "frequency": 1, "expiringThreshold": 1 }
    })
}

/// The seed's ClientAddEndEntityRequestDto example.
fn seed_add_end_entity() -> Value {
    json!({
        "raProfile": seed_ra_profile(),
        "email": "string",
        "extensionData": [{ "name": "string", "value": "string" }],
        "password": "string",
        "subjectAltName": "string",
        "subjectDN": "string",
        "username": "string"
    })
}

/// The seed's ClientEditEndEntityRequestDto example.
fn seed_edit_end_entity() -> Value {
    json!({
        "raProfile": seed_ra_profile(),
        "email": "string",
        "extensionData": [{ "name": "string", "value": "string" }],
        "password": "string",
        "subjectAltName": "string",
        "subjectDN": "string",
        "status": "NEW"
    })
}

/// Replaces `field` of a seed body.
fn with(mut body: Value, field: &str, value: Value) -> Value {
    body[field] = value;
    body
}

/// One answer: status, JSON body (or the text, or null when empty).
async fn call(s: &TestServer, token: Option<&str>, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = s.http().request(method, s.at(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let v = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
    (status, v)
}

/// A CZERTAINLY client of one RA profile.
struct Cz<'a> {
    s: &'a TestServer,
    token: String,
    /// `/api/v2/operations/authorities/{a}/raProfiles/{p}`.
    base: String,
}

impl<'a> Cz<'a> {
    async fn of(s: &'a TestServer, profile: &str) -> Cz<'a> {
        let v = s.get_json(&format!("/v1/ra-profiles/{profile}"), &s.admin_token).await;
        let base = format!(
            "/api/v2/operations/authorities/{}/raProfiles/{}",
            v["authority"].as_str().unwrap(),
            v["id"].as_str().unwrap()
        );
        Cz { s, token: s.admin_token.clone(), base }
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        call(self.s, Some(&self.token), Method::POST, &format!("{}{path}", self.base), Some(body)).await
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        call(self.s, Some(&self.token), Method::GET, &format!("{}{path}", self.base), None).await
    }
}

/// The body is CZERTAINLY's ErrorMessageDto and its message contains `part`.
fn assert_message(body: &Value, part: &str) {
    let m = body["message"].as_str().unwrap_or_else(|| panic!("not an ErrorMessageDto: {body}"));
    assert!(m.contains(part), "want '{part}' in: {body}");
    assert_eq!(body.as_object().map(|o| o.len()), Some(1), "only message: {body}");
}

/// The body is a 422 list with one message containing `part`.
fn assert_list(body: &Value, part: &str) {
    let list = body.as_array().unwrap_or_else(|| panic!("not a list of messages: {body}"));
    assert!(list.iter().all(Value::is_string), "{body}");
    assert!(list.iter().any(|m| m.as_str().unwrap().contains(part)), "want '{part}' in: {body}");
}

/// A P-256 key `<name>.key` and a CSR for `subject` from openssl; returns the CSR as Base64 DER.
fn csr(dir: &Path, name: &str, subject: &str) -> String {
    let key = format!("{name}.key");
    if !dir.join(&key).exists() {
        openssl::ok(dir, &["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", &key]);
    }
    let out = format!("{name}.csr.der");
    openssl::ok(dir, &["req", "-new", "-key", &key, "-subj", subject, "-outform", "DER", "-out", &out]);
    b64(&std::fs::read(dir.join(out)).unwrap())
}

fn public_key(der_b64: &str) -> Vec<u8> {
    certwright_pki::cert::Cert::from_der(&unb64(der_b64)).unwrap().public_key().unwrap().der().to_vec()
}

/// Writes a Base64 DER certificate as `<file>` (PEM) and returns openssl's text dump of it.
fn write_pem(dir: &Path, file: &str, der_b64: &str) -> String {
    std::fs::write(dir.join(format!("{file}.der")), unb64(der_b64)).unwrap();
    openssl::ok(dir, &["x509", "-inform", "DER", "-in", &format!("{file}.der"), "-out", file]);
    openssl::ok(dir, &["x509", "-in", file, "-noout", "-text"])
}

async fn profile(s: &TestServer, name: &str, authority: &str, policy: Value) {
    let body = json!({ "name": name, "authority": authority, "policy": policy });
    let (status, v) = call(s, Some(&s.admin_token), Method::POST, "/v1/ra-profiles", Some(body)).await;
    assert_eq!(status, 201, "{v}");
}

async fn default_authority(s: &TestServer) -> String {
    s.get_json("/v1/ra-profiles/default", &s.admin_token).await["authority"].as_str().unwrap().to_owned()
}

mod cases {
    use super::*;

    pub async fn issue_renew_rekey_and_revoke_through_the_v2_operations(s: TestServer) {
        let cz = Cz::of(&s, "default").await;
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();

        // The seed's example verbatim: "string" is no CSR.
        let (st, v) = cz.post("/certificates", seed_sign_request()).await;
        assert_eq!(st, 400, "{v}");
        assert_message(&v, "");
        // The same body with a real CSR: the attributes the profile does not define, the CSR attributes and the
        // key references are not used when a CSR is sent.
        let request = csr(d, "a", "/CN=a.example.com/O=Example");
        let (st, issued) = cz.post("/certificates", with(seed_sign_request(), "request", json!(request))).await;
        assert_eq!(st, 200, "{issued}");
        let uuid = issued["uuid"].as_str().unwrap().to_owned();
        let data = issued["certificateData"].as_str().unwrap().to_owned();
        let dump = write_pem(d, "a.pem", &data);
        assert!(dump.contains("CN = a.example.com") || dump.contains("CN=a.example.com"), "{dump}");
        let inventory = s.get_json(&format!("/v1/certificates/{uuid}"), &s.admin_token).await;
        assert_eq!(inventory["state"], "issued", "{inventory}");
        // PEM is accepted too, and so is the CRMF format name.
        csr(d, "p", "/CN=p.example.com");
        let pem = openssl::ok(d, &["req", "-inform", "DER", "-in", "p.csr.der"]);
        let (st, v) = cz.post("/certificates", json!({ "request": pem, "attributes": [] })).await;
        assert_eq!(st, 200, "{v}");

        // Renew: the seed's body verbatim is refused ("string" is no CSR); with a CSR of the same key it renews.
        let (st, v) = cz.post(&format!("/certificates/{uuid}/renew"), seed_renew()).await;
        assert_eq!(st, 400, "{v}");
        let same_key = csr(d, "a", "/CN=a.example.com/O=Example");
        let (st, renewed) =
            cz.post(&format!("/certificates/{uuid}/renew"), with(seed_renew(), "request", json!(same_key))).await;
        assert_eq!(st, 200, "{renewed}");
        let renewed_data = renewed["certificateData"].as_str().unwrap();
        assert_eq!(public_key(renewed_data), public_key(&data), "renew keeps the key");
        assert_ne!(renewed["uuid"], issued["uuid"]);
        // Without a CSR, too; but a CSR of another key is a rekey, not a renewal.
        let (st, v) = cz.post(&format!("/certificates/{uuid}/renew"), json!({})).await;
        assert_eq!(st, 200, "{v}");
        let other = csr(d, "b", "/CN=a.example.com/O=Example");
        let (st, v) = cz.post(&format!("/certificates/{uuid}/renew"), json!({ "request": other })).await;
        assert_eq!(st, 400, "{v}");
        assert_message(&v, "renew keeps the certificate's key");

        // Rekey: the seed's body with a CSR of a new key and the same subject.
        let (st, rekeyed) =
            cz.post(&format!("/certificates/{uuid}/rekey"), with(seed_rekey(), "request", json!(other))).await;
        assert_eq!(st, 200, "{rekeyed}");
        assert_ne!(
            public_key(rekeyed["certificateData"].as_str().unwrap()),
            public_key(&data),
            "rekey changes the key"
        );
        // The same key, or another subject, is refused.
        let (st, v) =
            cz.post(&format!("/certificates/{uuid}/rekey"), with(seed_rekey(), "request", json!(same_key))).await;
        assert_eq!(st, 400, "{v}");
        assert_message(&v, "old key");
        let moved = csr(d, "c", "/CN=elsewhere.example.com");
        let (st, v) = cz.post(&format!("/certificates/{uuid}/rekey"), json!({ "request": moved })).await;
        assert_eq!(st, 400, "{v}");
        assert_message(&v, "rekey keeps the subject");
        // Without a CSR or key reference the key is generated here.
        let (st, generated) =
            cz.post(&format!("/certificates/{uuid}/rekey"), json!({ "replaceInLocations": true })).await;
        assert_eq!(st, 200, "{generated}");

        // Both are linked to the original.
        let original = s.get_json(&format!("/v1/certificates/{uuid}"), &s.admin_token).await;
        let related = original["related"].as_array().unwrap();
        assert!(
            related.iter().any(|l| l["kind"] == "renewed_from" && l["certificate"] == renewed["uuid"]),
            "{original}"
        );
        assert!(
            related.iter().any(|l| l["kind"] == "rekeyed_from" && l["certificate"] == rekeyed["uuid"]),
            "{original}"
        );

        // Revoke with the seed's body: 204; the certificate is revoked; again is a state problem (422).
        let (st, v) = cz.post(&format!("/certificates/{uuid}/revoke"), seed_revoke()).await;
        assert_eq!((st, &v), (204, &Value::Null));
        assert_eq!(s.get_json(&format!("/v1/certificates/{uuid}"), &s.admin_token).await["state"], "revoked");
        let (st, v) = cz.post(&format!("/certificates/{uuid}/revoke"), seed_revoke()).await;
        assert_eq!(st, 422, "{v}");
        assert_list(&v, "already revoked");
        // A revoked certificate is not renewed.
        let (st, v) = cz.post(&format!("/certificates/{uuid}/renew"), json!({})).await;
        assert_eq!(st, 422, "{v}");
        assert_list(&v, "REVOKED");
        s.stop().await;
    }

    pub async fn revocation_through_this_face_shows_in_ocsp_and_the_crl(s: TestServer) {
        let cz = Cz::of(&s, "default").await;
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        let mut leaves = Vec::new();
        for name in ["leaf", "other"] {
            let request = csr(d, name, &format!("/CN={name}.example.com"));
            let (st, v) = cz.post("/certificates", with(seed_sign_request(), "request", json!(request))).await;
            assert_eq!(st, 200, "{v}");
            write_pem(d, &format!("{name}.pem"), v["certificateData"].as_str().unwrap());
            leaves.push(v["uuid"].as_str().unwrap().to_owned());
        }
        // The issuer chain, from the inventory.
        let shown = s.get_json(&format!("/v1/certificates/{}", leaves[0]), &s.admin_token).await;
        let chain = shown["chain_pem"].as_str().unwrap();
        let certs: Vec<&str> = chain.split_inclusive("-----END CERTIFICATE-----\n").collect();
        std::fs::write(d.join("issuing.pem"), certs[0]).unwrap();
        std::fs::write(d.join("root.pem"), certs[certs.len() - 1]).unwrap();
        std::fs::write(d.join("bundle.pem"), chain).unwrap();
        let url = s.at("/ocsp");
        let good = openssl::ocsp_status(d, &url, "issuing.pem", "leaf.pem", "bundle.pem", &[]);
        assert!(good.contains("Response verify OK") && good.contains("leaf.pem: good"), "{good}");

        // Revoke through the face (the seed's body, reason keyCompromise).
        let body = with(seed_revoke(), "reason", json!("keyCompromise"));
        let (st, v) = cz.post(&format!("/certificates/{}/revoke", leaves[0]), body).await;
        assert_eq!(st, 204, "{v}");
        let revoked = openssl::ocsp_status(d, &url, "issuing.pem", "leaf.pem", "bundle.pem", &["-no_nonce"]);
        assert!(revoked.contains("Response verify OK"), "{revoked}");
        assert!(revoked.contains("leaf.pem: revoked") && revoked.contains("Reason: keyCompromise"), "{revoked}");
        let other = openssl::ocsp_status(d, &url, "issuing.pem", "other.pem", "bundle.pem", &[]);
        assert!(other.contains("other.pem: good"), "{other}");

        // The CRL, signed now: it lists the serial; openssl verify -crl_check rejects the revoked leaf only.
        let authority = default_authority(&s).await;
        let (st, v) =
            call(&s, Some(&s.admin_token), Method::POST, &format!("/v1/authorities/{authority}/crls"), Some(json!({})))
                .await;
        assert_eq!(st, 200, "{v}");
        let der = s.http().get(s.at(&format!("/crl/{authority}.crl"))).send().await.unwrap().bytes().await.unwrap();
        std::fs::write(d.join("crl.pem"), certwright_pki::pem::encode("X509 CRL", &der)).unwrap();
        let text = openssl::ok(d, &["crl", "-in", "crl.pem", "-noout", "-text"]);
        let serial = shown["serial"].as_str().unwrap().trim_start_matches('0').to_uppercase();
        assert!(text.to_uppercase().contains(&serial), "{serial} in {text}");
        assert!(text.contains("Key Compromise"), "{text}");
        // Each certificate's own CRL partition, as its distribution point names it.
        for (file, good) in [("leaf.pem", false), ("other.pem", true)] {
            let cdp = openssl::ok(d, &["x509", "-in", file, "-noout", "-ext", "crlDistributionPoints"]);
            let uri = cdp.lines().find_map(|l| l.trim().strip_prefix("URI:")).expect("a CRL distribution point");
            let path = uri.splitn(4, '/').nth(3).map(|p| format!("/{p}")).unwrap();
            let der = s.http().get(s.at(&path)).send().await.unwrap().bytes().await.unwrap();
            std::fs::write(d.join("part.pem"), certwright_pki::pem::encode("X509 CRL", &der)).unwrap();
            let (accepted, out) = openssl::verify_with_crl(d, "root.pem", "issuing.pem", "part.pem", file);
            assert_eq!(accepted, good, "{file}: {out}");
            if !good {
                assert!(out.contains("certificate revoked"), "{out}");
            }
        }
        s.stop().await;
    }

    pub async fn attributes_are_defined_listed_and_validated(s: TestServer) {
        let authority = default_authority(&s).await;
        let policy = json!({
            "issue_attributes": [
                { "uuid": OCTET_ATTRIBUTE_UUID, "name": "Attribute", "label": "Change ticket",
                  "content_type": "string", "required": true, "description": "The change that asks for it",
                  "constraints": [{ "type": "regexp", "pattern": "^CHG[0-9]{6}$",
                                    "error_message": "Attribute must look like CHG123456" }] },
                { "uuid": "0e3f5c2a-6a7b-4c1d-8e9f-102030405060", "name": "copies", "content_type": "integer",
                  "constraints": [{ "type": "range", "from": 1, "to": 3 }] },
                { "uuid": "0e3f5c2a-6a7b-4c1d-8e9f-102030405061", "name": "environment", "content_type": "string",
                  "list": true, "content": ["prod", "test"] },
                { "uuid": "0e3f5c2a-6a7b-4c1d-8e9f-102030405062", "name": "until", "content_type": "date",
                  "constraints": [{ "type": "datetime", "from": "2020-01-01T00:00:00Z", "to": "2035-01-01T00:00:00Z" }] }
            ],
            "revoke_attributes": [
                { "uuid": "0e3f5c2a-6a7b-4c1d-8e9f-102030405070", "name": "approvedBy", "content_type": "string",
                  "required": true }
            ]
        });
        profile(&s, "attributed", &authority, policy).await;
        let cz = Cz::of(&s, "attributed").await;

        // The definitions, as BaseAttribute.
        let (st, defs) = cz.get("/attributes/issue").await;
        assert_eq!(st, 200, "{defs}");
        let first = &defs[0];
        assert_eq!(first["uuid"], OCTET_ATTRIBUTE_UUID);
        assert_eq!((first["type"].as_str(), first["version"].as_u64()), (Some("data"), Some(2)));
        assert_eq!(first["contentType"], "string");
        assert_eq!(first["properties"]["label"], "Change ticket");
        assert_eq!(first["properties"]["required"], true);
        assert_eq!(first["constraints"][0]["type"], "regExp");
        assert_eq!(first["constraints"][0]["data"], "^CHG[0-9]{6}$");
        assert_eq!(first["constraints"][0]["errorMessage"], "Attribute must look like CHG123456");
        assert_eq!(
            defs[1]["constraints"][0],
            json!({ "type": "range", "description": null, "errorMessage": null,
                                                       "data": { "from": 1, "to": 3 } })
        );
        assert_eq!(defs[2]["properties"]["list"], true);
        assert_eq!(defs[2]["content"], json!([{ "data": "prod" }, { "data": "test" }]));
        assert_eq!(defs[3]["constraints"][0]["type"], "dateTime");
        let (st, rdefs) = cz.get("/attributes/revoke").await;
        assert_eq!((st, rdefs[0]["name"].as_str()), (200, Some("approvedBy")));

        // The seed's body verbatim: a boolean where the profile wants a string.
        let (st, v) = cz.post("/attributes/issue/validate", json!([seed_attribute()])).await;
        assert_eq!(st, 422, "{v}");
        assert_list(&v, "Value true of attribute Attribute must be a string");
        // Every problem at once.
        let bad = json!([
            { "uuid": OCTET_ATTRIBUTE_UUID, "name": "Attribute", "contentType": "string",
              "content": [{ "data": "INC1" }], "version": "v2" },
            { "uuid": "0e3f5c2a-6a7b-4c1d-8e9f-102030405060", "name": "copies", "contentType": "integer",
              "content": [{ "data": 9 }] },
            { "uuid": "0e3f5c2a-6a7b-4c1d-8e9f-102030405061", "name": "environment", "contentType": "string",
              "content": [{ "data": "staging" }], "version": "v3" },
            { "uuid": "0e3f5c2a-6a7b-4c1d-8e9f-102030405062", "name": "until", "contentType": "date",
              "content": [{ "data": "2040-01-01" }] }
        ]);
        let (st, v) = cz.post("/attributes/issue/validate", bad).await;
        assert_eq!(st, 422, "{v}");
        assert_eq!(v.as_array().unwrap().len(), 4, "{v}");
        assert_list(&v, "Attribute must look like CHG123456");
        assert_list(&v, "outside the range 1 to 3");
        assert_list(&v, "not one of the values offered (prod, test)");
        assert_list(&v, "outside the period");
        let (st, v) = cz.post("/attributes/issue/validate", json!([])).await;
        assert_eq!(st, 422);
        assert_list(&v, "Required attribute Attribute not found.");
        let good = json!([{ "uuid": OCTET_ATTRIBUTE_UUID, "name": "Attribute", "contentType": "string",
                            "content": [{ "reference": "ticket", "data": "CHG000042" }], "version": "v2" },
                          { "name": "environment", "uuid": "0e3f5c2a-6a7b-4c1d-8e9f-102030405061",
                            "contentType": "string", "content": [{ "data": "prod" }] }]);
        let (st, v) = cz.post("/attributes/issue/validate", good.clone()).await;
        assert_eq!((st, v), (200, Value::Null));

        // Issue checks them too.
        let tmp = tempfile::tempdir().unwrap();
        let request = csr(tmp.path(), "x", "/CN=x.example.com");
        let (st, v) = cz.post("/certificates", with(seed_sign_request(), "request", json!(request))).await;
        assert_eq!(st, 422, "{v}");
        assert_list(&v, "must be a string");
        let body = with(with(seed_sign_request(), "request", json!(request)), "attributes", good);
        let (st, issued) = cz.post("/certificates", body).await;
        assert_eq!(st, 200, "{issued}");
        let uuid = issued["uuid"].as_str().unwrap();
        // The attributes are in the audit event of the issue.
        let events = s.get_json(&format!("/v1/events?object_id={uuid}"), &s.admin_token).await;
        assert!(events.to_string().contains("CHG000042"), "{events}");

        // Revoke attributes: validated, and required on revoke.
        let (st, v) = cz.post("/attributes/revoke/validate", json!([seed_attribute()])).await;
        assert_eq!(st, 422, "{v}");
        assert_list(&v, "Required attribute approvedBy not found.");
        let (st, v) = cz.post(&format!("/certificates/{uuid}/revoke"), seed_revoke()).await;
        assert_eq!(st, 422, "{v}");
        let approved = json!([{ "uuid": "0e3f5c2a-6a7b-4c1d-8e9f-102030405070", "name": "approvedBy",
                                "contentType": "string", "content": [{ "data": "alice" }] }]);
        let (st, v) = cz.post("/attributes/revoke/validate", approved.clone()).await;
        assert_eq!(st, 200, "{v}");
        let (st, v) =
            cz.post(&format!("/certificates/{uuid}/revoke"), with(seed_revoke(), "attributes", approved)).await;
        assert_eq!(st, 204, "{v}");

        // A profile definition that cannot work is refused when written.
        let broken = json!({ "issue_attributes": [{ "uuid": OCTET_ATTRIBUTE_UUID, "name": "r", "content_type": "string",
                                                    "constraints": [{ "type": "regexp", "pattern": "(" }] }] });
        let body = json!({ "name": "broken", "authority": authority, "policy": broken });
        let (st, v) = call(&s, Some(&s.admin_token), Method::POST, "/v1/ra-profiles", Some(body)).await;
        assert_eq!(st, 400, "{v}");
        s.stop().await;
    }

    pub async fn csr_attributes_name_a_key_generated_or_held_here(s: TestServer) {
        let cz = Cz::of(&s, "default").await;
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        let attr = |uuid: &str, name: &str, value: &str| json!({ "uuid": uuid, "name": name, "contentType": "string", "content": [{ "data": value }], "version": "v2" });
        let subject = json!([
            attr("9abaeba0-973d-11ed-a8fc-0242ac120002", "commonName", "gen.example.com"),
            attr("9abaf0be-973d-11ed-a8fc-0242ac120002", "organization", "Example, s.r.o."),
            attr("9abaef60-973d-11ed-a8fc-0242ac120002", "organizationalUnit", "PKI"),
            attr("9abaf208-973d-11ed-a8fc-0242ac120002", "locality", "Brno"),
            attr("9abaf488-973d-11ed-a8fc-0242ac120002", "country", "CZ"),
        ]);
        let body = json!({ "csrAttributes": subject, "attributes": [] });
        let (st, v) = cz.post("/certificates", body).await;
        assert_eq!(st, 200, "{v}");
        let dump = write_pem(d, "gen.pem", v["certificateData"].as_str().unwrap());
        let subject_line = openssl::ok(d, &["x509", "-in", "gen.pem", "-noout", "-subject", "-nameopt", "RFC2253"]);
        assert_eq!(subject_line.trim(), "subject=CN=gen.example.com,OU=PKI,O=Example\\, s.r.o.,L=Brno,C=CZ", "{dump}");
        // The key is held here: the inventory says so, and it can certify again (keyUuid) — for a rekey too.
        let uuid = v["uuid"].as_str().unwrap();
        let record = s.services.store().certificate(uuid.parse().unwrap()).await.unwrap().unwrap();
        let key = s.services.store().key(record.key_id.unwrap()).await.unwrap().unwrap();
        let again = json!({ "csrAttributes": [attr("9abaeba0-973d-11ed-a8fc-0242ac120002", "commonName", "gen.example.com")],
                            "keyUuid": key.uuid, "tokenProfileUuid": "66f2e24c-4f07-496b-b5c4-6fe8a5e8361a",
                            "attributes": [] });
        let (st, w) = cz.post("/certificates", again).await;
        assert_eq!(st, 200, "{w}");
        assert_eq!(
            public_key(w["certificateData"].as_str().unwrap()),
            public_key(v["certificateData"].as_str().unwrap())
        );
        // Someone else's key is not theirs to certify (that certificate could export it).
        let requester = s.token_with_role("requester").await;
        let theirs = json!({ "csrAttributes": [attr("9abaeba0-973d-11ed-a8fc-0242ac120002", "commonName", "steal.example.com")],
                             "keyUuid": key.uuid, "attributes": [] });
        let (st, e) =
            call(&s, Some(&requester), Method::POST, &format!("{}/certificates", cz.base), Some(theirs)).await;
        assert_eq!(st, 400, "{e}");
        assert_message(&e, "names no key held here");
        let (st, r) = cz
            .post(&format!("/certificates/{}/rekey", w["uuid"].as_str().unwrap()), json!({ "keyUuid": key.uuid }))
            .await;
        assert_eq!(st, 400, "{r}");
        assert_message(&r, "renew keeps the key");

        // What CZERTAINLY's CSR attributes refuse, and keys that are not here.
        let (st, e) = cz.post("/certificates", json!({ "csrAttributes": [attr("9abaf488-973d-11ed-a8fc-0242ac120002", "country", "cz")], "attributes": [] })).await;
        assert_eq!(st, 422, "{e}");
        assert_list(&e, "Required attribute commonName not found.");
        assert_list(&e, "Country Can contain only 2 upper case letters");
        let (st, e) = cz
            .post(
                "/certificates",
                with(
                    with(seed_sign_request(), "request", json!("")),
                    "csrAttributes",
                    json!([attr("9abaeba0-973d-11ed-a8fc-0242ac120002", "commonName", "k.example.com")]),
                ),
            )
            .await;
        assert_eq!(st, 400, "{e}");
        assert_message(&e, "a0e39a6c-fae3-43d6-99c3-a3620775a368");
        let authority = default_authority(&s).await;
        let ca = s
            .services
            .store()
            .authorities()
            .await
            .unwrap()
            .into_iter()
            .find(|a| a.uuid.to_string() == authority)
            .unwrap();
        let ca_key = s.services.store().key(ca.key_id.unwrap()).await.unwrap().unwrap();
        let body = json!({ "csrAttributes": [attr("9abaeba0-973d-11ed-a8fc-0242ac120002", "commonName", "k.example.com")],
                           "keyUuid": ca_key.uuid, "attributes": [] });
        let (st, e) = cz.post("/certificates", body).await;
        assert_eq!(st, 400, "{e}");
        assert_message(&e, "belongs to an authority");
        s.stop().await;
    }

    pub async fn an_external_authority_waits_for_finalize_confirm_and_cancel(s: TestServer) {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        openssl::ok(
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
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "30",
                "-subj",
                "/CN=Outside CA",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
            ],
        );
        let ca_pem = std::fs::read_to_string(d.join("ca.pem")).unwrap();
        let body = json!({ "name": "outside", "external": { "type": "manual" }, "ca_certificate": ca_pem });
        let (st, ca) = call(&s, Some(&s.admin_token), Method::POST, "/v1/authorities", Some(body)).await;
        assert_eq!(st, 201, "{ca}");
        profile(&s, "outside-tls", ca["id"].as_str().unwrap(), json!({})).await;
        let cz = Cz::of(&s, "outside-tls").await;

        // Issue waits: certificateData is "".
        let request = csr(d, "w", "/CN=w.example.com");
        let (st, pending) = cz.post("/certificates", with(seed_sign_request(), "request", json!(request))).await;
        assert_eq!(st, 200, "{pending}");
        assert_eq!(pending["certificateData"], "");
        let uuid = pending["uuid"].as_str().unwrap().to_owned();

        // Finalize: the seed's body verbatim is not a certificate; one for another key is refused; the right one
        // (signed by openssl) makes the certificate.
        let (st, v) = cz.post(&format!("/certificates/{uuid}/finalize"), seed_finalize()).await;
        assert_eq!(st, 400, "{v}");
        let sign = |name: &str| {
            openssl::ok(
                d,
                &[
                    "req",
                    "-new",
                    "-key",
                    &format!("{name}.key"),
                    "-subj",
                    &format!("/CN={name}.example.com"),
                    "-out",
                    &format!("{name}.csr"),
                ],
            );
            openssl::ok(
                d,
                &[
                    "x509",
                    "-req",
                    "-in",
                    &format!("{name}.csr"),
                    "-CA",
                    "ca.pem",
                    "-CAkey",
                    "ca.key",
                    "-CAcreateserial",
                    "-days",
                    "10",
                    "-outform",
                    "DER",
                    "-out",
                    &format!("{name}.crt.der"),
                ],
            );
            b64(&std::fs::read(d.join(format!("{name}.crt.der"))).unwrap())
        };
        csr(d, "stranger", "/CN=w.example.com");
        let (st, v) = cz
            .post(
                &format!("/certificates/{uuid}/finalize"),
                with(seed_finalize(), "certificate", json!(sign("stranger"))),
            )
            .await;
        assert_eq!(st, 400, "{v}");
        assert_message(&v, "public key");
        let issued_der = sign("w");
        let (st, detail) = cz
            .post(&format!("/certificates/{uuid}/finalize"), with(seed_finalize(), "certificate", json!(issued_der)))
            .await;
        assert_eq!(st, 200, "{detail}");
        assert_eq!((detail["uuid"].as_str(), detail["state"].as_str()), (Some(uuid.as_str()), Some("issued")));
        assert_eq!(detail["commonName"], "w.example.com");
        assert_eq!(detail["issuerCommonName"], "Outside CA");
        assert_eq!(detail["subjectDn"], "CN=w.example.com");
        assert_eq!(detail["validationStatus"], "expiring", "10 days left, inside the 30-day renewal window");
        assert_eq!(detail["publicKeyAlgorithm"], "ECDSA");
        assert_eq!(detail["keySize"], 256);
        assert_eq!(detail["signatureAlgorithm"], "SHA256withECDSA");
        assert_eq!(detail["certificateContent"], issued_der);
        assert_eq!(detail["raProfile"]["name"], "outside-tls");
        assert_eq!(detail["raProfile"]["authorityInstanceUuid"], ca["id"]);
        assert_eq!(detail["subjectAlternativeNames"]["dNSName"], json!([]));
        assert_eq!(detail["certificateRequest"]["content"], json!(request));
        for field in [
            "fingerprint",
            "serialNumber",
            "notBefore",
            "notAfter",
            "issuerDn",
            "keyUsage",
            "groups",
            "locations",
            "owner",
            "trustedCa",
            "complianceStatus",
            "hybridCertificate",
            "altKeySize",
        ] {
            assert!(detail.get(field).is_some(), "{field}: {detail}");
        }
        let (st, v) = cz
            .post(&format!("/certificates/{uuid}/finalize"), with(seed_finalize(), "certificate", json!(issued_der)))
            .await;
        assert_eq!(st, 422, "{v}");
        assert_list(&v, "PENDING_ISSUE");

        // Revoke waits (204, pending_revoke); confirm completes it; confirming twice is refused as CZERTAINLY says.
        let (st, _) =
            cz.post(&format!("/certificates/{uuid}/revoke"), with(seed_revoke(), "destroyKey", json!(true))).await;
        assert_eq!(st, 204);
        assert_eq!(s.get_json(&format!("/v1/certificates/{uuid}"), &s.admin_token).await["state"], "pending_revoke");
        let (st, done) = cz.post(&format!("/certificates/{uuid}/revoke/confirm"), json!({})).await;
        assert_eq!(st, 200, "{done}");
        assert_eq!((done["state"].as_str(), done["validationStatus"].as_str()), (Some("revoked"), Some("revoked")));
        let (st, v) = cz.post(&format!("/certificates/{uuid}/revoke/confirm"), json!({})).await;
        assert_eq!((st, v), (422, json!(["Certificate is not in PENDING_REVOKE state"])));

        // Cancel a pending issue (the seed's body): failed. A reason over 1000 characters is refused.
        let (st, second) =
            cz.post("/certificates", json!({ "request": csr(d, "x", "/CN=x.example.com"), "attributes": [] })).await;
        assert_eq!(st, 200, "{second}");
        let second = second["uuid"].as_str().unwrap().to_owned();
        let (st, v) = cz.post(&format!("/certificates/{second}/cancel"), json!({ "reason": "x".repeat(1001) })).await;
        assert_eq!(st, 422, "{v}");
        assert_message(&v, "1000");
        let (st, failed) = cz.post(&format!("/certificates/{second}/cancel"), json!({ "reason": "string" })).await;
        assert_eq!(st, 200, "{failed}");
        assert_eq!((failed["uuid"].as_str(), failed["state"].as_str()), (Some(second.as_str()), Some("failed")));
        assert_eq!(failed["certificateContent"], Value::Null);
        let (st, v) = cz.post(&format!("/certificates/{second}/cancel"), json!({})).await;
        assert_eq!(st, 422, "{v}");
        // Cancel a pending revocation: issued again.
        let third = {
            let (st, p) = cz
                .post("/certificates", json!({ "request": csr(d, "y", "/CN=y.example.com"), "attributes": [] }))
                .await;
            assert_eq!(st, 200, "{p}");
            let id = p["uuid"].as_str().unwrap().to_owned();
            let (st, v) = cz.post(&format!("/certificates/{id}/finalize"), json!({ "certificate": sign("y") })).await;
            assert_eq!(st, 200, "{v}");
            id
        };
        let (st, _) = cz.post(&format!("/certificates/{third}/revoke"), seed_revoke()).await;
        assert_eq!(st, 204);
        let (st, back) =
            cz.post(&format!("/certificates/{third}/cancel"), json!({ "reason": "wrong certificate" })).await;
        assert_eq!((st, back["state"].as_str()), (200, Some("issued")), "{back}");

        // A requested certificate (made by another face) is handed over by /issue.
        let req = certwright_core::services::IssueRequest {
            ra_profile: "default".to_owned(),
            common_name: Some("requested.example.com".to_owned()),
            ..Default::default()
        };
        let created = s.services.create_request(&certwright_core::auth::Ctx::system(), req).await.unwrap();
        let default = Cz::of(&s, "default").await;
        let (st, v) = default.post(&format!("/certificates/{}/issue", created.uuid), json!({})).await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["uuid"], json!(created.uuid));
        assert!(!v["certificateData"].as_str().unwrap().is_empty(), "{v}");
        let (st, v) = default.post(&format!("/certificates/{}/issue", created.uuid), json!({})).await;
        assert_eq!(st, 422, "{v}");
        s.stop().await;
    }

    pub async fn legacy_end_entities_enrol_with_their_password(s: TestServer) {
        let token = s.admin_token.clone();
        let v1 = |p: &str| format!("/api/v1/operations/default{p}");
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();

        // The seed's body verbatim: "string" is no distinguished name.
        let (st, v) = call(&s, Some(&token), Method::POST, &v1("/endentity"), Some(seed_add_end_entity())).await;
        assert_eq!(st, 400, "{v}");
        assert_message(&v, "subjectDN");
        let alice = with(
            with(
                with(
                    with(seed_add_end_entity(), "subjectDN", json!("CN=alice.example.com,O=Example")),
                    "username",
                    json!("alice"),
                ),
                "email",
                json!("alice@example.com"),
            ),
            "subjectAltName",
            json!("dNSName=alice.example.com, iPAddress=192.0.2.7"),
        );
        let (st, v) = call(&s, Some(&token), Method::POST, &v1("/endentity"), Some(alice.clone())).await;
        assert_eq!((st, v), (200, Value::Null));
        let (st, v) = call(&s, Some(&token), Method::POST, &v1("/endentity"), Some(alice)).await;
        assert_eq!(st, 409, "{v}");
        assert_message(&v, "already exists");
        let (st, list) = call(&s, Some(&token), Method::GET, &v1("/endentity"), None).await;
        assert_eq!(st, 200);
        assert_eq!(
            list,
            json!([{ "username": "alice", "subjectDN": "CN=alice.example.com,O=Example", "email": "alice@example.com",
                     "extensionData": [{ "name": "string", "value": "string" }],
                     "subjectAltName": "dNSName=alice.example.com, iPAddress=192.0.2.7", "status": "NEW" }])
        );

        // Issue with the seed's body verbatim: no such end entity. With alice's password: her names, not the CSR's.
        let (st, v) = call(
            &s,
            Some(&token),
            Method::POST,
            &v1("/certificate/issue"),
            Some(json!({ "password": "string", "pkcs10": "string", "username": "string" })),
        )
        .await;
        assert_eq!(st, 404, "{v}");
        assert_message(&v, "end entity string");
        let request = csr(d, "alice", "/CN=whatever");
        let issue = |password: &str| json!({ "password": password, "pkcs10": request, "username": "alice" });
        let (st, v) = call(&s, Some(&token), Method::POST, &v1("/certificate/issue"), Some(issue("wrong"))).await;
        assert_eq!(st, 400, "{v}");
        assert_message(&v, "password");
        let (st, first) = call(&s, Some(&token), Method::POST, &v1("/certificate/issue"), Some(issue("string"))).await;
        assert_eq!(st, 200, "{first}");
        assert_eq!(first.as_object().unwrap().len(), 1, "only certificateData: {first}");
        let dump = write_pem(d, "alice.pem", first["certificateData"].as_str().unwrap());
        assert!(dump.contains("DNS:alice.example.com") && dump.contains("IP Address:192.0.2.7"), "{dump}");
        let subject = openssl::ok(d, &["x509", "-in", "alice.pem", "-noout", "-subject", "-nameopt", "RFC2253"]);
        assert_eq!(subject.trim(), "subject=CN=alice.example.com,O=Example");
        // The password is spent until reset.
        let (st, v) = call(&s, Some(&token), Method::POST, &v1("/certificate/issue"), Some(issue("string"))).await;
        assert_eq!(st, 400, "{v}");
        assert_message(&v, "GENERATED");
        let (_, got) = call(&s, Some(&token), Method::GET, &v1("/endentity/alice"), None).await;
        assert_eq!(got["status"], "GENERATED");
        let (st, v) = call(&s, Some(&token), Method::PUT, &v1("/endentity/alice/resetPassword"), None).await;
        assert_eq!((st, v), (200, Value::Null));
        let (st, second) = call(&s, Some(&token), Method::POST, &v1("/certificate/issue"), Some(issue("string"))).await;
        assert_eq!(st, 200, "{second}");

        // Edit with the seed's body (its DN and alternative name made real): a new password, status NEW.
        let edit = with(
            with(
                with(seed_edit_end_entity(), "subjectDN", json!("CN=alice.example.com,O=Example,C=CZ")),
                "email",
                json!("a@example.com"),
            ),
            "subjectAltName",
            json!("dNSName=alice.example.com"),
        );
        let edit = with(edit, "password", json!("n3w-secret"));
        let (st, v) = call(&s, Some(&token), Method::POST, &v1("/endentity/alice"), Some(edit)).await;
        assert_eq!((st, v), (200, Value::Null));
        let (_, got) = call(&s, Some(&token), Method::GET, &v1("/endentity/alice"), None).await;
        assert_eq!(
            (got["subjectDN"].as_str(), got["status"].as_str()),
            (Some("CN=alice.example.com,O=Example,C=CZ"), Some("NEW"))
        );
        let (st, third) =
            call(&s, Some(&token), Method::POST, &v1("/certificate/issue"), Some(issue("n3w-secret"))).await;
        assert_eq!(st, 200, "{third}");
        let (st, v) =
            call(&s, Some(&token), Method::POST, &v1("/endentity/alice"), Some(json!({ "status": "SLEEPING" }))).await;
        assert_eq!(st, 400, "{v}");

        // Revoke by serial and issuer DN: the seed's body verbatim names nothing real; the real ones revoke.
        let (st, v) = call(
            &s,
            Some(&token),
            Method::POST,
            &v1("/certificate/revoke"),
            Some(json!({ "certificateSN": "string", "issuerDN": "string", "reason": "unspecified" })),
        )
        .await;
        assert_eq!(st, 400, "{v}");
        let cert = certwright_pki::cert::Cert::from_der(&unb64(first["certificateData"].as_str().unwrap())).unwrap();
        let body = json!({ "certificateSN": cert.serial_hex().to_uppercase(), "issuerDN": cert.issuer_string(), "reason": "superseded" });
        let (st, v) = call(&s, Some(&token), Method::POST, &v1("/certificate/revoke"), Some(body.clone())).await;
        assert_eq!((st, v), (200, Value::Null));
        let (st, v) = call(&s, Some(&token), Method::POST, &v1("/certificate/revoke"), Some(body)).await;
        assert_eq!(st, 422, "{v}");
        let unknown = json!({ "certificateSN": "0badc0de", "issuerDN": cert.issuer_string(), "reason": "unspecified" });
        let (st, v) = call(&s, Some(&token), Method::POST, &v1("/certificate/revoke"), Some(unknown)).await;
        assert_eq!(st, 404, "{v}");

        // Delete revokes what is left, then the end entity is gone.
        let (st, v) = call(&s, Some(&token), Method::DELETE, &v1("/endentity/alice"), None).await;
        assert_eq!((st, v), (200, Value::Null));
        for data in [&second, &third] {
            let c = certwright_pki::cert::Cert::from_der(&unb64(data["certificateData"].as_str().unwrap())).unwrap();
            let listed = s.get_json("/v1/certificates?name=alice.example.com&limit=50", &token).await;
            let found =
                listed["items"].as_array().unwrap().iter().find(|i| i["serial"] == c.serial_hex()).cloned().unwrap();
            assert_eq!(found["state"], "revoked", "{found}");
        }
        let (st, v) = call(&s, Some(&token), Method::GET, &v1("/endentity/alice"), None).await;
        assert_eq!(st, 404, "{v}");
        assert_message(&v, "alice");
        let (st, v) = call(&s, Some(&token), Method::GET, "/api/v1/operations/nosuchprofile/endentity", None).await;
        assert_eq!(st, 404, "{v}");
        assert_message(&v, "nosuchprofile");
        s.stop().await;
    }

    pub async fn every_error_comes_in_a_czertainly_body(s: TestServer) {
        let cz = Cz::of(&s, "default").await;
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        let certs = format!("{}/certificates", cz.base);

        // 401 without a body: no token, a bad token, another scheme.
        for auth in [None, Some("Bearer cw_nope"), Some("Basic YTpi")] {
            let mut req = s.http().post(s.at(&certs)).json(&seed_sign_request());
            if let Some(a) = auth {
                req = req.header("authorization", a);
            }
            let resp = req.send().await.unwrap();
            assert_eq!(resp.status().as_u16(), 401);
            assert!(resp.text().await.unwrap().is_empty());
        }
        // 403 for a role that may not: AuthenticationServiceExceptionDto.
        let auditor = s.token_with_role("auditor").await;
        let request = csr(d, "a", "/CN=a.example.com");
        let (st, v) =
            call(&s, Some(&auditor), Method::POST, &certs, Some(with(seed_sign_request(), "request", json!(request))))
                .await;
        assert_eq!(st, 403, "{v}");
        assert_eq!((v["statusCode"].as_u64(), v["code"].as_str()), (Some(403), Some("ACCESS_DENIED")), "{v}");
        assert!(v["message"].as_str().unwrap().contains("auditor"), "{v}");

        // Unknown and malformed references.
        let nil = "00000000-0000-0000-0000-000000000000";
        let profile_uuid = cz.base.rsplit('/').next().unwrap().to_owned();
        let authority = default_authority(&s).await;
        for (path, status, part) in [
            (
                format!("/api/v2/operations/authorities/{nil}/raProfiles/{profile_uuid}/attributes/issue"),
                404,
                "Authority instance",
            ),
            (
                format!("/api/v2/operations/authorities/{authority}/raProfiles/{nil}/attributes/issue"),
                404,
                "RA profile",
            ),
            (
                format!("/api/v2/operations/authorities/not-a-uuid/raProfiles/{profile_uuid}/attributes/issue"),
                400,
                "Invalid UUID",
            ),
            (
                format!("/api/v2/operations/authorities/{authority}/raProfiles/xyz/attributes/revoke"),
                400,
                "Invalid UUID",
            ),
            ("/api/v2/operations/nothing/here".to_owned(), 404, "No such endpoint"),
        ] {
            let (st, v) = call(&s, Some(&s.admin_token), Method::GET, &path, None).await;
            assert_eq!(st, status, "{path}: {v}");
            assert_message(&v, part);
        }
        for (id, status) in [(nil, 404), ("12345", 400)] {
            let (st, v) = cz.post(&format!("/certificates/{id}/revoke"), seed_revoke()).await;
            assert_eq!(st, status, "{v}");
            assert_message(&v, id);
        }
        // A profile of another authority is not found under this one.
        let (_, other) = call(
            &s,
            Some(&s.admin_token),
            Method::POST,
            "/v1/authorities",
            Some(json!({ "name": "second", "key_algorithm": "ecdsa-p256" })),
        )
        .await;
        let other_id = other["id"].as_str().unwrap_or_else(|| panic!("a second authority: {other}"));
        let path = format!("/api/v2/operations/authorities/{other_id}/raProfiles/{profile_uuid}/attributes/issue");
        let (st, v) = call(&s, Some(&s.admin_token), Method::GET, &path, None).await;
        assert_eq!(st, 404, "{v}");
        assert_message(&v, "not found in authority instance");
        // A certificate of another profile is not found through this one.
        let (st, issued) = cz.post("/certificates", json!({ "request": request, "attributes": [] })).await;
        assert_eq!(st, 200, "{issued}");
        profile(&s, "narrow", &authority, json!({ "key_algorithms": ["ecdsa-p384"] })).await;
        let narrow = Cz::of(&s, "narrow").await;
        let (st, v) =
            narrow.post(&format!("/certificates/{}/revoke", issued["uuid"].as_str().unwrap()), seed_revoke()).await;
        assert_eq!(st, 404, "{v}");

        // Unreadable bodies: 400; a missing required field: 422 with a message.
        let resp = s
            .http()
            .post(s.at(&certs))
            .bearer_auth(&s.admin_token)
            .header("content-type", "application/json")
            .body("{not json")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 400);
        assert_message(&resp.json().await.unwrap(), "JSON parse error");
        let resp = s.http().post(s.at(&certs)).bearer_auth(&s.admin_token).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 400);
        let (st, v) = cz.post("/certificates", json!({ "request": request })).await;
        assert_eq!(st, 422, "{v}");
        assert_message(&v, "attributes");
        let (st, v) = cz.post("/certificates", json!({ "request": request, "attributes": "many" })).await;
        assert_eq!(st, 400, "{v}");
        // The CSR: not Base64; Base64 of something else; an unknown format; a key the profile forbids.
        for (request, part) in [("%%%not base64%%%", "Base64"), ("aGVsbG8gd29ybGQ=", "")] {
            let (st, v) = cz.post("/certificates", with(seed_sign_request(), "request", json!(request))).await;
            assert_eq!(st, 400, "{v}");
            assert_message(&v, part);
        }
        let (st, v) =
            cz.post("/certificates", json!({ "request": request, "format": "spkac", "attributes": [] })).await;
        assert_eq!(st, 400, "{v}");
        assert_message(&v, "pkcs10, crmf");
        let (st, v) = narrow.post("/certificates", with(seed_sign_request(), "request", json!(request))).await;
        assert_eq!(st, 422, "{v}");
        assert_list(&v, "not allowed by this RA profile");
        // Attributes that are not attributes.
        let (st, v) = cz
            .post(
                "/attributes/issue/validate",
                json!([{ "uuid": "nope", "name": "x", "contentType": "string", "content": [] }]),
            )
            .await;
        assert_eq!(st, 400, "{v}");
        let (st, v) = cz
            .post("/attributes/issue/validate", json!([{ "name": "x", "contentType": "colour", "content": [] }]))
            .await;
        assert_eq!(st, 400, "{v}");
        let (st, v) = cz.post("/attributes/issue/validate", json!({ "name": "x" })).await;
        assert_eq!(st, 400, "{v}");
        // Revocation reasons are CZERTAINLY's.
        let (st, v) = cz
            .post(
                &format!("/certificates/{}/revoke", issued["uuid"].as_str().unwrap()),
                with(seed_revoke(), "reason", json!("removeFromCRL")),
            )
            .await;
        assert_eq!(st, 400, "{v}");
        assert_message(&v, "aACompromise");
        // A method the path does not have.
        let (st, v) = call(&s, Some(&s.admin_token), Method::DELETE, &certs, None).await;
        assert_eq!(st, 405, "{v}");
        assert_message(&v, "not supported");

        // The OpenAPI document lists every route with its DTOs.
        let (st, doc) = call(&s, None, Method::GET, "/api/v3/api-docs", None).await;
        assert_eq!(st, 200);
        let v2 = "/api/v2/operations/authorities/{authorityUuid}/raProfiles/{raProfileUuid}";
        for (path, method) in [
            (format!("{v2}/attributes/issue"), "get"),
            (format!("{v2}/attributes/issue/validate"), "post"),
            (format!("{v2}/attributes/revoke"), "get"),
            (format!("{v2}/attributes/revoke/validate"), "post"),
            (format!("{v2}/certificates"), "post"),
            (format!("{v2}/certificates/{{certificateUuid}}/issue"), "post"),
            (format!("{v2}/certificates/{{certificateUuid}}/renew"), "post"),
            (format!("{v2}/certificates/{{certificateUuid}}/rekey"), "post"),
            (format!("{v2}/certificates/{{certificateUuid}}/revoke"), "post"),
            (format!("{v2}/certificates/{{certificateUuid}}/finalize"), "post"),
            (format!("{v2}/certificates/{{certificateUuid}}/revoke/confirm"), "post"),
            (format!("{v2}/certificates/{{certificateUuid}}/cancel"), "post"),
            ("/api/v1/operations/{raProfileName}/certificate/issue".to_owned(), "post"),
            ("/api/v1/operations/{raProfileName}/certificate/revoke".to_owned(), "post"),
            ("/api/v1/operations/{raProfileName}/endentity".to_owned(), "get"),
            ("/api/v1/operations/{raProfileName}/endentity".to_owned(), "post"),
            ("/api/v1/operations/{raProfileName}/endentity/{username}".to_owned(), "get"),
            ("/api/v1/operations/{raProfileName}/endentity/{username}".to_owned(), "post"),
            ("/api/v1/operations/{raProfileName}/endentity/{username}".to_owned(), "delete"),
            ("/api/v1/operations/{raProfileName}/endentity/{username}/resetPassword".to_owned(), "put"),
        ] {
            assert!(doc["paths"][&path][method].is_object(), "{method} {path} is not documented");
        }
        for schema in [
            "ClientCertificateSignRequestDto",
            "ClientCertificateDataResponseDto",
            "CertificateDetailDto",
            "BaseAttribute",
            "RequestAttribute",
            "ErrorMessageDto",
            "ClientEndEntityDto",
        ] {
            assert!(doc["components"]["schemas"][schema].is_object(), "{schema} is not documented");
        }
        assert!(
            doc["components"]["schemas"]["ClientCertificateSignRequestDto"]["properties"]["csrAttributes"].is_object()
        );
        // The QRadar face next door still answers under /api.
        let (st, _) = call(&s, None, Method::GET, "/api/openapi.json", None).await;
        assert_eq!(st, 200);
        s.stop().await;
    }
}

certwright_testkit::backend_tests!(
    issue_renew_rekey_and_revoke_through_the_v2_operations,
    revocation_through_this_face_shows_in_ocsp_and_the_crl,
    attributes_are_defined_listed_and_validated,
    csr_attributes_name_a_key_generated_or_held_here,
    an_external_authority_waits_for_finalize_confirm_and_cancel,
    legacy_end_entities_enrol_with_their_password,
    every_error_comes_in_a_czertainly_body,
);
