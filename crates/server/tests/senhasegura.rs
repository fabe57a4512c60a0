//! The senhasegura Certificate Manager face: requests created with form and JSON bodies, changed, listed with
//! filters and pages, signed by the server's CA or self-signed; the certificate in the native inventory and the
//! CZERTAINLY face with the same serial; revocation guarded by the request's password and seen by `openssl ocsp`;
//! uploads of what `openssl` made; downloads that `openssl` opens; the seed's limits; and the envelope on every
//! answer, with no secret ever returned.

use base64::Engine;
use certwright_testkit::TestServer;
use reqwest::Method;
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;

fn openssl(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("openssl").current_dir(dir).args(args).output().expect("openssl is installed");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn unb64(text: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(text).unwrap()
}

/// How a call sends its parameters.
enum Body {
    None,
    Form(Vec<(&'static str, String)>),
    Json(Value),
}

struct Ss<'a> {
    s: &'a TestServer,
    token: String,
}

impl Ss<'_> {
    async fn call(&self, method: Method, path: &str, body: Body) -> (u16, Value, String) {
        let mut req = self.s.http().request(method, self.s.at(path)).bearer_auth(&self.token);
        req = match body {
            Body::None => req,
            Body::Form(pairs) => req.form(&pairs),
            Body::Json(v) => req.json(&v),
        };
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null), text)
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let (st, v, _) = self.call(Method::GET, path, Body::None).await;
        (st, v)
    }

    async fn form(&self, path: &str, pairs: Vec<(&'static str, String)>) -> (u16, Value) {
        let (st, v, _) = self.call(Method::POST, path, Body::Form(pairs)).await;
        (st, v)
    }

    async fn json(&self, method: Method, path: &str, body: Value) -> (u16, Value) {
        let (st, v, _) = self.call(method, path, Body::Json(body)).await;
        (st, v)
    }
}

/// A success envelope with `code`.
fn assert_ok(v: &Value, code: u16) {
    let r = &v["response"];
    assert_eq!(r["error"], false, "{v}");
    assert_eq!(r["erro"], false, "{v}");
    assert_eq!(r["error_code"], 0, "{v}");
    assert!(r["message"].as_str().is_some_and(|m| m.starts_with(&format!("{code}: "))), "want {code}: {v}");
    assert_eq!(r["message"], r["mensagem"], "{v}");
    assert!(v.get("exception").is_none(), "{v}");
}

/// An error envelope with `code`, whose detail mentions `part`.
fn assert_err(v: &Value, status: u16, code: u16, part: &str) {
    let r = &v["response"];
    assert_eq!(r["status"], status, "{v}");
    assert_eq!((r["error"].as_bool(), r["erro"].as_bool()), (Some(true), Some(true)), "{v}");
    assert_eq!((r["error_code"].as_u64(), r["cod_erro"].as_u64()), (Some(code.into()), Some(code.into())), "{v}");
    assert!(r["message"].as_str().is_some_and(|m| m.starts_with(&format!("{code}: "))), "{v}");
    assert_eq!(v["exception"]["code"], code, "{v}");
    assert_eq!(v["exception"]["message"], r["message"], "{v}");
    let detail = r["detail"].as_str().unwrap_or_default().to_lowercase();
    assert!(detail.contains(&part.to_lowercase()), "want '{part}' in the detail: {v}");
}

async fn organization(s: &TestServer, name: &str) -> i64 {
    let resp = s
        .http()
        .post(s.at("/v1/organizations"))
        .bearer_auth(&s.admin_token)
        .json(&json!({ "name": name }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    resp.json::<Value>().await.unwrap()["code"].as_i64().unwrap()
}

/// The integer code of the default RA profile's authority.
async fn default_ca(s: &TestServer) -> i64 {
    let profile = s.get_json("/v1/ra-profiles/default", &s.admin_token).await;
    let authority =
        s.get_json(&format!("/v1/authorities/{}", profile["authority"].as_str().unwrap()), &s.admin_token).await;
    authority["code"].as_i64().unwrap()
}

fn request_form(org: i64, cn: &str) -> Vec<(&'static str, String)> {
    vec![
        ("certificate_type", "2".into()),
        ("domain_type", "MULT".into()),
        ("organization", org.to_string()),
        ("common_name", cn.into()),
        ("san[]", cn.into()),
        ("san[]", format!("www.{cn}")),
        ("tags[]", "web".into()),
        ("tags[]", "payments".into()),
        ("encryption", "RSA".into()),
        ("encryption_key_size", "2048".into()),
        ("certificate_algorithm", "SHA256".into()),
        ("validity", "90".into()),
        ("key_password", "k3y-Secret!".into()),
        ("password_revogation", "r3voke-Secret!".into()),
        ("environments", "production".into()),
        ("systems", "checkout,billing".into()),
        ("project", "Project 1".into()),
        ("external_ip", "203.0.113.7".into()),
        ("hostname_ip", "web01".into()),
        ("justification", "New storefront".into()),
        ("description", "The shop".into()),
    ]
}

fn write_chain(dir: &Path, pem_chain: &str) {
    let blocks: Vec<&str> = pem_chain.split_inclusive("-----END CERTIFICATE-----\n").collect();
    std::fs::write(dir.join("leaf.pem"), blocks[0]).unwrap();
    std::fs::write(dir.join("issuing.pem"), blocks[1]).unwrap();
    std::fs::write(dir.join("bundle.pem"), blocks[1..].concat()).unwrap();
}

/// Signs and sends a request with Python's oauthlib (Debian `python3-oauthlib`), the reference OAuth 1.0a client;
/// returns the status and the body.
fn oauthlib(dir: &Path, args: Value) -> (u16, Value) {
    const SCRIPT: &str = r#"
import json, sys, urllib.request, urllib.error
from oauthlib.oauth1 import Client
a = json.loads(sys.argv[1])
c = Client(a["ck"], client_secret=a["cs"], resource_owner_key=a["tk"], resource_owner_secret=a["ts"],
           signature_method=a.get("method", "HMAC-SHA1"), signature_type=a["type"],
           nonce=a.get("nonce"), timestamp=a.get("timestamp"))
headers = {}
body = a.get("body")
if body is not None:
    headers["Content-Type"] = "application/x-www-form-urlencoded"
uri, headers, body = c.sign(a["url"], http_method=a["http_method"], body=body, headers=headers)
req = urllib.request.Request(uri, data=body.encode() if body else None, headers=headers, method=a["http_method"])
try:
    r = urllib.request.urlopen(req)
    print(r.status); print(r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code); print(e.read().decode())
"#;
    std::fs::write(dir.join("sign.py"), SCRIPT).unwrap();
    let out =
        Command::new("/usr/bin/python3").arg(dir.join("sign.py")).arg(args.to_string()).output().expect("python3");
    assert!(out.status.success(), "oauthlib: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (status, body) = text.split_once('\n').unwrap();
    (status.trim().parse().unwrap(), serde_json::from_str(body).unwrap_or(Value::Null))
}

mod cases {
    use super::*;

    pub async fn a_request_is_created_changed_listed_signed_and_revoked(s: TestServer) {
        let ss = Ss { s: &s, token: s.admin_token.clone() };
        let org = organization(&s, "Example Shop Ltd").await;
        let ca = default_ca(&s).await;
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();

        // Create with a form body: 201 1002, every field echoed, secrets masked.
        let (st, v, text) =
            ss.call(Method::POST, "/iso/certificate/request", Body::Form(request_form(org, "shop.example"))).await;
        assert_eq!(st, 201, "{v}");
        assert_ok(&v, 1002);
        assert!(!text.contains("k3y-Secret!") && !text.contains("r3voke-Secret!"), "{text}");
        let r = &v["certificate"];
        let code = r["code_request"].as_i64().unwrap();
        assert_eq!(r["status_request"], "1 - Created");
        assert_eq!((r["type_certificate"].as_i64(), r["type_domain"].as_str()), (Some(2), Some("MULT")));
        assert_eq!(r["san"], json!(["shop.example", "www.shop.example"]));
        assert_eq!(r["tags"], json!(["web", "payments"]));
        assert_eq!(r["systems"], json!(["checkout", "billing"]));
        assert_eq!((r["encryption"].as_str(), r["encryption_key_size"].as_i64()), (Some("RSA"), Some(2048)));
        assert_eq!(r["certificate_algorithm"], "SHA256");
        assert_eq!(
            (r["password_key"].as_str(), r["password_revocation"].as_str()),
            (Some("********"), Some("********"))
        );
        assert_eq!(
            (r["design"].as_str(), r["ip_external"].as_str(), r["ip_hostname"].as_str()),
            (Some("Project 1"), Some("203.0.113.7"), Some("web01"))
        );

        // Modify with JSON through the path code: 200 1003.
        let (st, v) = ss
            .json(
                Method::POST,
                &format!("/iso/certificate/request/{code}"),
                json!({ "validity": 60, "tags": ["web"], "description": "" }),
            )
            .await;
        assert_eq!(st, 200, "{v}");
        assert_ok(&v, 1003);
        assert_eq!((v["certificate"]["validity"].as_i64(), &v["certificate"]["tags"]), (Some(60), &json!(["web"])));
        assert_eq!(v["certificate"]["description"], Value::Null);
        assert_eq!(v["certificate"]["common_name"], "shop.example", "unchanged fields stay: {v}");

        // A second request, a DV single-domain one, to list and page through.
        let second = vec![
            ("certificate_type", "1".to_owned()),
            ("domain_type", "SING".to_owned()),
            ("organization", org.to_string()),
            ("common_name", "api.example".to_owned()),
            ("encryption", "RSA".to_owned()),
            ("encryption_key_size", "4096".to_owned()),
            ("certificate_algorithm", "SHA512".to_owned()),
            ("validity", "365".to_owned()),
        ];
        let (st, v) = ss.form("/iso/certificado/request", second).await;
        assert_eq!(st, 201, "the Portuguese alias creates too: {v}");
        assert_eq!(v["certificate"]["san"], json!(["api.example"]), "san defaults to the common name");
        let (st, v) = ss.get("/iso/certificate/request/list?limit=1&offset=1").await;
        assert_eq!(st, 200, "{v}");
        assert_eq!((v["total"].as_u64(), v["certificate"].as_array().map(Vec::len)), (Some(2), Some(1)), "{v}");
        assert_eq!(v["certificate"][0]["common_name"], "api.example");
        let (_, v) = ss.get("/iso/certificate/request/list?tags=web&type_domain=MULT&status_request=1").await;
        assert_eq!((v["total"].as_u64(), v["certificate"][0]["code_request"].as_i64()), (Some(1), Some(code)), "{v}");
        let (_, v) = ss.get("/iso/certificate/request/list?systems=none&organization=1").await;
        assert_eq!(v["total"], 0, "{v}");
        let (st, v) = ss.get(&format!("/iso/certificate/request/list{code}")).await;
        assert_eq!(
            (st, v["certificate"]["code_request"].as_i64()),
            (200, Some(code)),
            "the seed's path without a slash: {v}"
        );
        let (st, v) = ss.get("/api/v1/certificates/requests?common_name=api").await;
        assert_eq!(
            (st, v["total"].as_u64(), v["requests"][0]["common_name"].as_str()),
            (200, Some(1), Some("api.example")),
            "{v}"
        );

        // Sign with the server's CA (GET with query parameters, as the seed shows): 7 - Signed.
        let (st, v) = ss
            .get(&format!("/iso/certificate/request/sign/{code}?self_signed=0&ca={ca}&reason=3&justification=go"))
            .await;
        assert_eq!(st, 200, "{v}");
        let r = &v["certificate"];
        assert_eq!(r["status_request"], "7 - Signed", "{v}");
        assert_eq!(r["reason"], "3 - Scheduled Renewal");
        assert!(r["ca"].as_str().is_some_and(|c| c.starts_with(&format!("{ca} - "))), "{v}");
        let cert_code = r["code_certificate"].as_i64().unwrap();
        let serial = r["serial"].as_str().unwrap().to_owned();
        // Signing twice is refused.
        let (st, v) = ss.get(&format!("/iso/certificate/request/sign/{code}?self_signed=0&ca={ca}&reason=3")).await;
        assert_eq!(st, 409, "{v}");
        assert_err(&v, 409, 1031, "signed");
        let (st, v) = ss.get(&format!("/api/certificate/request/status/{code}")).await;
        assert_eq!(
            (st, v["data"]["status_request"].as_str(), v["data"]["certificate_code"].as_i64()),
            (200, Some("7 - Signed"), Some(cert_code)),
            "{v}"
        );

        // The certificate in this face, the native inventory and the CZERTAINLY face: one serial.
        let (st, v, text) = ss.call(Method::GET, &format!("/iso/certificate/list/{cert_code}"), Body::None).await;
        assert_eq!(st, 200, "{v}");
        assert!(!text.contains("k3y-Secret!") && !text.contains("r3voke-Secret!"), "{text}");
        let c = &v["certificate"];
        assert_eq!(
            (c["status_certificate"].as_i64(), c["status_certified"].as_str()),
            (Some(1), Some("1 - Valid")),
            "{v}"
        );
        assert_eq!(
            (c["origin_certificate"].as_str(), c["active"].as_i64(), c["self_signed"].as_i64()),
            (Some("REQU"), Some(1), Some(0))
        );
        assert_eq!((c["code_request"].as_i64(), c["organization"].as_i64()), (Some(code), Some(org)));
        assert_eq!((c["encryption"].as_str(), c["encryption_key_size"].as_i64()), (Some("RSA"), Some(2048)));
        assert_eq!(c["serial"], serial);
        assert_eq!(c["password_revocation"], "********");
        assert!(c["publish_info"].is_array() && c["device"].is_array(), "{v}");
        let uuid = c["uuid"].as_str().unwrap().to_owned();
        let native = s.get_json(&format!("/v1/certificates/{uuid}"), &s.admin_token).await;
        assert_eq!(native["serial"], serial);
        assert!(
            native["subject"].as_str().unwrap().contains("O=Example Shop Ltd"),
            "OV names the organization: {native}"
        );
        write_chain(
            d,
            &format!("{}{}", native["certificate_pem"].as_str().unwrap(), native["chain_pem"].as_str().unwrap()),
        );
        let verified = openssl(d, &["verify", "-CAfile", "bundle.pem", "leaf.pem"]);
        assert!(verified.contains("leaf.pem: OK"), "{verified}");
        let dump = openssl(d, &["x509", "-in", "leaf.pem", "-noout", "-text"]);
        assert!(dump.contains("DNS:shop.example") && dump.contains("DNS:www.shop.example"), "{dump}");
        assert!(dump.contains("Public-Key: (2048 bit)"), "{dump}");

        // Filters of the certificate list.
        let (_, v) = ss.get("/iso/certificate/list?origin_certificate=REQU&tags=web&status_certificate=1").await;
        assert_eq!(
            (v["total"].as_u64(), v["certificate"][0]["code_certificate"].as_i64()),
            (Some(1), Some(cert_code)),
            "{v}"
        );
        let (_, v) = ss.get("/iso/certificate/list?san=www.shop.example,shop.example&common_name=SHOP").await;
        assert_eq!(v["total"], 1, "{v}");
        let (_, v) = ss.get("/iso/certificate/list?san=api.shop.example").await;
        assert_eq!(v["total"], 0, "{v}");
        let (_, v) = ss.get("/iso/certificate/list?origin_certificate=IMPO&common_name=shop").await;
        assert_eq!(v["total"], 0, "{v}");
        let (_, v) = ss.get("/iso/certificate/list?end_validity=2000-01-01").await;
        assert_eq!(v["total"], 0, "{v}");

        // Revocation needs the request's revocation password; then OCSP says revoked.
        let (st, v) = ss
            .form(
                &format!("/iso/certificate/revoke/{cert_code}"),
                vec![("reason", "keyCompromise".into()), ("password_revogation", "wrong".into())],
            )
            .await;
        assert_eq!(st, 400, "{v}");
        assert_err(&v, 400, 1045, "password");
        let (st, v) = ss
            .form(
                &format!("/iso/certificate/revoke/{cert_code}"),
                vec![("reason", "keyCompromise".into()), ("password_revogation", "r3voke-Secret!".into())],
            )
            .await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["certificate"]["state"], "revoked", "{v}");
        let url = s.at("/ocsp");
        let status =
            openssl(d, &["ocsp", "-issuer", "issuing.pem", "-cert", "leaf.pem", "-url", &url, "-CAfile", "bundle.pem"]);
        assert!(status.contains("leaf.pem: revoked") && status.contains("keyCompromise"), "{status}");
        let (_, v) = ss.get(&format!("/iso/certificate/list/{cert_code}")).await;
        assert_eq!(
            (v["certificate"]["status_certified"].as_str(), v["certificate"]["active"].as_i64()),
            (Some("2 - Revoked"), Some(0)),
            "{v}"
        );

        // The second request, signed through the newer generation, revoked through the CZERTAINLY face.
        let second = code + 1;
        let (st, v) = ss
            .json(
                Method::POST,
                &format!("/api/v1/certificates/requests/{second}/sign"),
                json!({ "self_signed": 0, "ca": ca, "reason": 1 }),
            )
            .await;
        assert_eq!((st, v["error"].as_bool()), (200, Some(false)), "{v}");
        let cert2 = v["request"]["code_certificate"].as_i64().unwrap();
        let (_, v) = ss.get(&format!("/api/certificate/list/{cert2}")).await;
        let uuid2 = v["data"]["uuid"].as_str().unwrap().to_owned();
        let profile = s.get_json("/v1/ra-profiles/default", &s.admin_token).await;
        let cz = format!(
            "/api/v2/operations/authorities/{}/raProfiles/{}/certificates/{uuid2}/revoke",
            profile["authority"].as_str().unwrap(),
            profile["id"].as_str().unwrap()
        );
        let resp = s
            .http()
            .post(s.at(&cz))
            .bearer_auth(&s.admin_token)
            .json(&json!({ "reason": "superseded", "attributes": [], "destroyKey": false }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 204, "{}", resp.text().await.unwrap_or_default());
        let (_, v) = ss.get("/iso/certificate/list?status_certificate=2").await;
        assert_eq!(v["total"], 2, "both revoked, whichever face did it: {v}");
        s.stop().await;
    }

    pub async fn self_signed_certificates_and_their_keys_open_with_openssl(s: TestServer) {
        let ss = Ss { s: &s, token: s.admin_token.clone() };
        let org = organization(&s, "Lab").await;
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        let (st, v) = ss
            .json(
                Method::POST,
                "/api/certificate/request",
                json!({
                    "certificate_type": 3, "domain_type": "WILD", "organization": org, "common_name": "*.lab.example",
                    "encryption": "RSA", "encryption_key_size": 2048, "certificate_algorithm": "SHA384", "validity": 10,
                    "key_password": "open sesame", "environments": ["lab"],
                }),
            )
            .await;
        assert_eq!(st, 201, "{v}");
        assert_ok(&v, 1002);
        let code = v["data"]["code_request"].as_i64().unwrap();
        let (st, v) = ss
            .form(
                "/iso/certificate/request/sign",
                vec![("code_request", code.to_string()), ("self_signed", "1".into()), ("reason", "1".into())],
            )
            .await;
        assert_eq!(st, 200, "{v}");
        let cert = v["certificate"]["code_certificate"].as_i64().unwrap();
        let (_, v) = ss.get("/iso/certificate/list?self_signed=1&environments=lab").await;
        assert_eq!(
            (v["total"].as_u64(), v["certificate"][0]["code_certificate"].as_i64()),
            (Some(1), Some(cert)),
            "{v}"
        );
        assert_eq!(v["certificate"][0]["algorithm_certified"], "sha384", "{v}");

        // The key needs the key password; the PFX opens with openssl.
        let (st, v) = ss
            .json(Method::POST, "/api/certificate/download", json!({ "id": cert, "format": "pfx", "password": "nope" }))
            .await;
        assert_eq!(st, 400, "{v}");
        assert_err(&v, 400, 1045, "password");
        let (st, v) = ss
            .json(
                Method::POST,
                "/api/certificate/download",
                json!({ "id": cert, "format": "pfx", "password": "open sesame" }),
            )
            .await;
        assert_eq!(st, 200, "{v}");
        std::fs::write(d.join("c.pfx"), unb64(v["data"]["certificate"].as_str().unwrap())).unwrap();
        let out = openssl(d, &["pkcs12", "-in", "c.pfx", "-passin", "pass:open sesame", "-nodes", "-out", "c.pem"]);
        assert!(!out.contains("error"), "{out}");
        let pem = std::fs::read_to_string(d.join("c.pem")).unwrap();
        assert!(pem.contains("PRIVATE KEY") && pem.contains("BEGIN CERTIFICATE"), "{pem}");
        let dump = openssl(d, &["x509", "-in", "c.pem", "-noout", "-text"]);
        assert!(dump.contains("sha384WithRSAEncryption"), "{dump}");
        assert!(dump.contains("O=Lab") || dump.contains("O = Lab"), "EV names the organization: {dump}");
        assert!(dump.contains("DNS:*.lab.example"), "{dump}");
        // PEM with the key encrypted under the password; crt is the DER certificate.
        let (st, v) = ss
            .json(
                Method::POST,
                "/api/certificate/download",
                json!({ "id": cert, "format": "pem", "download_key": true, "password": "open sesame" }),
            )
            .await;
        assert_eq!((st, v["data"]["key_format"].as_str()), (200, Some("pem")), "{v}");
        std::fs::write(d.join("k.pem"), unb64(v["data"]["key"].as_str().unwrap())).unwrap();
        let out = openssl(d, &["pkey", "-in", "k.pem", "-passin", "pass:open sesame", "-noout", "-text"]);
        assert!(out.contains("Private-Key: (2048 bit"), "{out}");
        let (st, v) = ss.json(Method::POST, "/api/certificate/download", json!({ "id": cert, "format": "crt" })).await;
        assert_eq!((st, v["data"].get("key")), (200, None), "{v}");
        std::fs::write(d.join("c.der"), unb64(v["data"]["certificate"].as_str().unwrap())).unwrap();
        openssl(d, &["x509", "-inform", "DER", "-in", "c.der", "-noout"]);
        s.stop().await;
    }

    pub async fn uploads_of_what_openssl_made(s: TestServer) {
        let ss = Ss { s: &s, token: s.admin_token.clone() };
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        for n in ["a", "b"] {
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
                    &format!("{n}.key"),
                    "-out",
                    &format!("{n}.crt"),
                    "-subj",
                    &format!("/CN={n}.upload.example"),
                    "-days",
                    "30",
                ],
            );
        }
        openssl(
            d,
            &["pkcs12", "-export", "-in", "a.crt", "-inkey", "a.key", "-out", "a.pfx", "-passout", "pass:pfx-pass"],
        );
        let read = |f: &str| b64(&std::fs::read(d.join(f)).unwrap());

        let (st, v, text) = ss
            .call(Method::PUT, "/api/certificate/upload", Body::Json(json!({
                "certificate": read("a.pfx"), "password": "pfx-pass", "revoke_password": "rv-pass", "extension": "pfx",
            })))
            .await;
        assert_eq!(st, 200, "{v}");
        assert_ok(&v, 1001);
        assert_eq!(v["response"]["status_certificate"], 1, "{v}");
        assert_eq!(v["certificate"]["private_key"], true, "the PFX held the key: {v}");
        assert!(!text.contains("pfx-pass") && !text.contains("rv-pass"), "{text}");
        let code = v["certificate"]["code_certificate"].as_i64().unwrap();
        let (_, v) = ss.get("/iso/certificate/list?common_name=A.UPLOAD&origin_certificate=IMPO").await;
        assert_eq!(
            (v["total"].as_u64(), v["certificate"][0]["code_certificate"].as_i64()),
            (Some(1), Some(code)),
            "{v}"
        );
        let (_, v) = ss.get(&format!("/iso/certificate/list/{code}")).await;
        assert_eq!(
            (v["certificate"]["origin_certificate"].as_str(), v["certificate"]["password_key"].as_str()),
            (Some("IMPO"), Some("********")),
            "{v}"
        );
        // The same certificate again is refused.
        let (st, v) = ss
            .json(Method::PUT, "/api/certificate/upload", json!({ "certificate": read("a.crt"), "extension": "crt" }))
            .await;
        assert_eq!(st, 409, "{v}");
        assert_err(&v, 409, 1040, "");
        // A PEM pair; then a key that belongs to another certificate; then garbage; then an empty key.
        let (st, v) = ss
            .json(
                Method::PUT,
                "/api/certificate/upload",
                json!({ "certificate": read("b.crt"), "private_key": read("a.key"), "extension": "pem" }),
            )
            .await;
        assert_eq!(st, 400, "{v}");
        assert_err(&v, 400, 1044, "does not belong");
        let (st, v) = ss
            .json(
                Method::PUT,
                "/api/certificate/upload",
                json!({ "certificate": read("b.crt"), "private_key": read("b.key"), "extension": "pem" }),
            )
            .await;
        assert_eq!((st, v["certificate"]["private_key"].as_bool()), (200, Some(true)), "{v}");
        let (st, v) = ss
            .json(
                Method::PUT,
                "/api/certificate/upload",
                json!({ "certificate": b64(b"not a certificate"), "extension": "pem" }),
            )
            .await;
        assert_eq!(st, 400, "{v}");
        assert_err(&v, 400, 1041, "");
        let (st, v) = ss
            .json(
                Method::PUT,
                "/api/certificate/upload",
                json!({ "certificate": read("b.crt"), "private_key": "", "extension": "pem" }),
            )
            .await;
        assert_err(&v, st, 1043, "empty");
        let (st, v) = ss.json(Method::PUT, "/api/certificate/upload", json!({ "certificate": read("b.crt") })).await;
        assert_eq!(st, 400, "{v}");
        assert_err(&v, 400, 1021, "extension");
        // The upload's passwords guard the key and the revocation.
        let (st, v) = ss
            .json(
                Method::POST,
                "/api/certificate/download",
                json!({ "id": code, "format": "pem", "download_key": true }),
            )
            .await;
        assert_err(&v, st, 1045, "password");
        let (st, v) = ss
            .form(
                "/api/certificate/revoke",
                vec![("code_certificate", code.to_string()), ("password_revogation", "no".into())],
            )
            .await;
        assert_err(&v, st, 1045, "password");
        let (st, v) = ss
            .form(
                "/api/certificate/revoke",
                vec![("code_certificate", code.to_string()), ("password_revogation", "rv-pass".into())],
            )
            .await;
        assert_err(&v, st, 1050, "not issued by an authority of this server");
        s.stop().await;
    }

    pub async fn the_seed_limits_and_every_error_envelope(s: TestServer) {
        let ss = Ss { s: &s, token: s.admin_token.clone() };
        let org = organization(&s, "Limits Inc").await;
        let base = |cn: &str| {
            json!({
                "certificate_type": 1, "domain_type": "SING", "organization": org, "common_name": cn, "encryption": "RSA",
                "encryption_key_size": 2048, "certificate_algorithm": "SHA256", "validity": 30,
            })
        };
        let with = |mut v: Value, k: &str, x: Value| {
            v[k] = x;
            v
        };
        let cases = [
            (with(base("a.example"), "justification", json!("j".repeat(1025))), 400, 1022, "1024"),
            (with(base("a.example"), "description", json!("d".repeat(513))), 400, 1022, "512"),
            (
                with(with(base("a.example"), "encryption", json!("DSA")), "certificate_algorithm", json!("SHA384")),
                400,
                1020,
                "DSA",
            ),
            (with(base("a.example"), "domain_type", json!("WILD")), 400, 1020, "*."),
            (
                with(with(base("a.example"), "domain_type", json!("MULT")), "san", json!(["a.example"])),
                400,
                1020,
                "MULT",
            ),
            (with(base("a.example"), "encryption_key_size", json!(3072)), 400, 1020, "4096, 2048 or 1024"),
            (with(base("a.example"), "domain_type", json!("BOTH")), 400, 1020, "SING, MULT or WILD"),
            (with(base("a.example"), "organization", json!(999)), 404, 1032, "organization"),
            (with(base("a.example"), "responsible", json!(999)), 404, 1035, "responsible"),
            (with(base("not a name"), "validity", json!(30)), 400, 1020, "DNS name"),
            (json!({ "certificate_type": 1 }), 400, 1021, "required"),
        ];
        for (body, status, code, part) in cases {
            let (st, v) = ss.json(Method::POST, "/iso/certificate/request", body.clone()).await;
            assert_eq!(st, status, "{body}: {v}");
            assert_err(&v, status, code, part);
        }
        // DSA with SHA256 is a valid request, but this server does not generate DSA keys: signing says so.
        let (st, v) = ss
            .json(Method::POST, "/iso/certificate/request", with(base("dsa.example"), "encryption", json!("DSA")))
            .await;
        assert_eq!(st, 201, "{v}");
        let dsa = v["certificate"]["code_request"].as_i64().unwrap();
        let (st, v) = ss.get(&format!("/iso/certificate/request/sign/{dsa}?self_signed=1&reason=1")).await;
        assert_err(&v, st, 1047, "RSA");
        let ok = ss.json(Method::POST, "/iso/certificate/request", base("ok.example")).await.1["certificate"]
            ["code_request"]
            .as_i64()
            .unwrap();
        for (path, status, code, part) in [
            (format!("/iso/certificate/request/sign/{ok}?self_signed=0&reason=1"), 400, 1021, "ca"),
            (format!("/iso/certificate/request/sign/{ok}?self_signed=0&ca=999&reason=1"), 404, 1033, "999"),
            (format!("/iso/certificate/request/sign/{ok}?self_signed=1&reason=99"), 400, 1034, "reason"),
            (format!("/iso/certificate/request/sign/{ok}?self_signed=2&reason=1"), 400, 1020, "self_signed"),
            (format!("/iso/certificate/request/sign/{ok}?reason=1"), 400, 1021, "self_signed"),
            ("/iso/certificate/request/sign/4242?self_signed=1&reason=1".to_owned(), 404, 1030, "4242"),
            ("/iso/certificate/request/list/4242".to_owned(), 404, 1030, "4242"),
            ("/iso/certificate/list/4242".to_owned(), 404, 1049, "4242"),
            ("/iso/certificate/list?status_certificate=9".to_owned(), 400, 1020, "status_certificate"),
            ("/iso/certificate/list?start_validity=yesterday".to_owned(), 400, 1020, "start_validity"),
            ("/iso/certificate/request/list?password_key=x".to_owned(), 400, 1020, "password"),
            ("/iso/certificate/request/list?limit=0".to_owned(), 400, 1020, "limit"),
            ("/iso/nothing/here".to_owned(), 404, 1023, "/iso/nothing/here"),
            ("/api/certificate/nothing".to_owned(), 404, 1023, "/api/certificate/nothing"),
            ("/api/v1/certificates/1/nothing".to_owned(), 404, 1023, "nothing"),
        ] {
            let (st, v) = ss.get(&path).await;
            assert_eq!(st, status, "{path}: {v}");
            assert_err(&v, status, code, part);
        }
        let (st, v) = ss
            .get(&format!("/iso/certificate/request/sign/{ok}?self_signed=1&reason=1&itsm_code={}", "x".repeat(31)))
            .await;
        assert_err(&v, st, 1022, "30");

        // Hostile bodies: larger than the server's limit (through the OAuth 1.0a check and the handler alike),
        // not JSON, of another type.
        for auth in
            [format!("Bearer {}", s.admin_token), r#"OAuth oauth_consumer_key="x", oauth_signature="y""#.to_owned()]
        {
            let big = format!("common_name={}", "a".repeat(2 * 1024 * 1024));
            // A client of its own: the server closes a connection whose body it refused to read.
            let resp = certwright_testkit::http_client()
                .post(s.at("/iso/certificate/request"))
                .header("authorization", auth)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(big)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status().as_u16(), 413);
            assert_err(&resp.json::<Value>().await.unwrap(), 413, 1024, "");
        }
        let resp = s
            .http()
            .post(s.at("/iso/certificate/request"))
            .bearer_auth(&s.admin_token)
            .header("content-type", "application/json")
            .body("{not json")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 400);
        assert_err(&resp.json::<Value>().await.unwrap(), 400, 1024, "JSON");
        let resp = s
            .http()
            .post(s.at("/iso/certificate/request"))
            .bearer_auth(&s.admin_token)
            .header("content-type", "text/xml")
            .body("<x/>")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 415);

        let (st, v, _) = ss.call(Method::PUT, "/iso/certificate/request", Body::None).await;
        assert_err(&v, st, 1025, "method");
        assert_eq!(st, 405);
        // Authentication: none, a bad token, the legacy query pair, OAuth2; a role that may not revoke.
        let resp = s.http().get(s.at("/iso/certificate/list")).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 401);
        assert_err(&resp.json::<Value>().await.unwrap(), 401, 1010, "bearer");
        let resp = s.http().get(s.at("/iso/certificate/list")).bearer_auth("cwt_nope").send().await.unwrap();
        assert_err(&resp.json::<Value>().await.unwrap(), 401, 1010, "");
        let me = s.get_json("/v1/me", &s.admin_token).await;
        let token_id = me["token"].as_str().unwrap();
        let legacy = format!("/iso/certificate/list?oauth_consumer_key={token_id}&oauth_token={}", s.admin_token);
        let resp = s.http().get(s.at(&legacy)).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 200, "the legacy query pair");
        let wrong = format!("/iso/certificate/list?oauth_consumer_key=someone&oauth_token={}", s.admin_token);
        let resp = s.http().get(s.at(&wrong)).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 401);
        let resp = s
            .http()
            .post(s.at("/v1/oauth-clients"))
            .bearer_auth(&s.admin_token)
            .json(&json!({ "name": "itsm", "role": "operator" }))
            .send()
            .await
            .unwrap();
        let client: Value = resp.json().await.unwrap();
        let resp = s
            .http()
            .post(s.at("/iso/oauth2/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", client["client_id"].as_str().unwrap()),
                ("client_secret", client["client_secret"].as_str().unwrap()),
            ])
            .send()
            .await
            .unwrap();
        let token: Value = resp.json().await.unwrap();
        assert_eq!(token["token_type"], "Bearer", "{token}");
        let oauth = Ss { s: &s, token: token["access_token"].as_str().unwrap().to_owned() };
        let (st, v) = oauth.get("/iso/certificate/request/list").await;
        assert_eq!((st, v["total"].as_u64()), (200, Some(2)), "{v}");
        let auditor = Ss { s: &s, token: s.token_with_role("auditor").await };
        let (st, v) = auditor.json(Method::POST, "/iso/certificate/request", base("x.example")).await;
        assert_eq!(st, 403, "{v}");
        assert_err(&v, 403, 1012, "auditor");
        // The document lists the codes.
        let doc = s.http().get(s.at("/iso/openapi.json")).send().await.unwrap().json::<Value>().await.unwrap();
        let description = doc["info"]["description"].as_str().unwrap();
        assert!(description.contains("| 1049 | There is no certificate with the given code |"), "{description}");
        assert!(doc["paths"]["/api/certificate/upload"]["put"].is_object(), "{doc}");
        s.stop().await;
    }
    pub async fn signing_waits_for_approval_when_the_profile_demands_it(s: TestServer) {
        let ss = Ss { s: &s, token: s.admin_token.clone() };
        let org = organization(&s, "Guarded").await;
        // A CA of its own whose only profile needs one approver.
        let post = |path: &'static str, body: Value| {
            let s = &s;
            async move {
                let resp = s.http().post(s.at(path)).bearer_auth(&s.admin_token).json(&body).send().await.unwrap();
                let status = resp.status().as_u16();
                (status, resp.json::<Value>().await.unwrap_or(Value::Null))
            }
        };
        let (st, ca) = post("/v1/authorities", json!({ "name": "guarded-root" })).await;
        assert_eq!(st, 201, "{ca}");
        // Its renewal window (200 days) is longer than the certificate's validity (100 days).
        let policy = json!({ "approval": { "issue": true, "approvers": 1 }, "renewal_window_days": 200 });
        let (st, v) =
            post("/v1/ra-profiles", json!({ "name": "guarded", "authority": ca["id"], "policy": policy })).await;
        assert_eq!(st, 201, "{v}");
        let (st, v) = ss
            .form(
                "/iso/certificate/request",
                vec![
                    ("certificate_type", "1".into()),
                    ("domain_type", "SING".into()),
                    ("organization", org.to_string()),
                    ("common_name", "guarded.example".into()),
                    ("encryption", "RSA".into()),
                    ("encryption_key_size", "2048".into()),
                    ("certificate_algorithm", "SHA256".into()),
                    ("validity", "100".into()),
                ],
            )
            .await;
        assert_eq!(st, 201, "{v}");
        let code = v["certificate"]["code_request"].as_i64().unwrap();
        let ca_code = ca["code"].as_i64().unwrap();
        let (st, v) =
            ss.get(&format!("/iso/certificate/request/sign/{code}?self_signed=0&ca={ca_code}&reason=1")).await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["certificate"]["status_request"], "2 - Pending approval", "{v}");
        assert_eq!(v["certificate"]["code_certificate"], Value::Null, "{v}");
        let (_, v) = ss.get("/iso/certificate/request/list?status_request=2").await;
        assert_eq!(v["total"], 1, "{v}");
        // An operator rejects it: 4 - Rejected; signed again, it waits again (a new request).
        let operator = s.token_with_role("operator").await;
        let pending = s.get_json("/v1/approvals?status=pending", &s.admin_token).await;
        let approval = pending["items"][0]["id"].as_str().unwrap().to_owned();
        let resp = s
            .http()
            .post(s.at(&format!("/v1/approvals/{approval}/reject")))
            .bearer_auth(&operator)
            .json(&json!({ "comment": "not yet" }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200, "{}", resp.text().await.unwrap_or_default());
        let (_, v) = ss.get(&format!("/iso/certificate/request/list/{code}")).await;
        assert_eq!(v["certificate"]["status_request"], "4 - Rejected", "{v}");
        let (st, v) =
            ss.get(&format!("/iso/certificate/request/sign/{code}?self_signed=0&ca={ca_code}&reason=1")).await;
        assert_eq!((st, v["certificate"]["status_request"].as_str()), (200, Some("2 - Pending approval")), "{v}");
        // An operator approves: the request is signed and its certificate carries the request's facts.
        let pending = s.get_json("/v1/approvals?status=pending", &s.admin_token).await;
        assert_eq!(pending["total"], 1, "{pending}");
        let approval = pending["items"][0]["id"].as_str().unwrap().to_owned();
        let resp = s
            .http()
            .post(s.at(&format!("/v1/approvals/{approval}/approve")))
            .bearer_auth(&operator)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200, "{}", resp.text().await.unwrap_or_default());
        let (_, v) = ss.get(&format!("/iso/certificate/request/list/{code}")).await;
        assert_eq!(v["certificate"]["status_request"], "7 - Signed", "{v}");
        let cert = v["certificate"]["code_certificate"].as_i64().expect("the certificate's code");
        let (_, v) = ss.get(&format!("/iso/certificate/list/{cert}")).await;
        assert_eq!(
            (v["certificate"]["code_request"].as_i64(), v["certificate"]["common_name"].as_str()),
            (Some(code), Some("guarded.example")),
            "{v}"
        );
        assert!(v["certificate"]["ca"].as_str().is_some_and(|c| c.ends_with("guarded-root")), "{v}");
        assert_eq!(v["certificate"]["status_certified"], "3 - Renewal pending", "the profile's window counts: {v}");
        s.stop().await;
    }
    pub async fn oauth1_signatures_made_by_oauthlib_are_checked(s: TestServer) {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        let org = organization(&s, "Signed").await;
        let resp = s
            .http()
            .post(s.at("/v1/oauth1-credentials"))
            .bearer_auth(&s.admin_token)
            .json(&json!({ "name": "itsm", "role": "operator" }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 201);
        let cred: Value = resp.json().await.unwrap();
        let base = |kind: &str, method: &str, url: String| {
            json!({
                "ck": cred["consumer_key"], "cs": cred["consumer_secret"], "tk": cred["token"], "ts": cred["token_secret"],
                "type": kind, "http_method": method, "url": url,
            })
        };
        let list = s.at("/iso/certificate/request/list?limit=5&common_name=signed");
        // A signed GET with a query (header), a signed form POST whose fields are covered (header and body), a
        // signature in the query, HMAC-SHA256.
        let (st, v) = oauthlib(d, base("AUTH_HEADER", "GET", list.clone()));
        assert_eq!(st, 200, "{v}");
        let form = format!(
            "certificate_type=1&domain_type=SING&organization={org}&common_name=signed.example&encryption=RSA\
             &encryption_key_size=2048&certificate_algorithm=SHA256&validity=30&san%5B%5D=signed.example"
        );
        let mut post = base("AUTH_HEADER", "POST", s.at("/iso/certificate/request"));
        post["body"] = json!(form);
        let (st, v) = oauthlib(d, post.clone());
        assert_eq!(st, 201, "{v}");
        let mut in_body = base("BODY", "POST", s.at("/iso/certificate/request"));
        in_body["body"] = json!(form.replace("signed.example", "body.signed.example"));
        let (st, v) = oauthlib(d, in_body);
        assert_eq!(st, 201, "{v}");
        let (st, v) = oauthlib(d, base("QUERY", "GET", list.clone()));
        assert_eq!((st, v["total"].as_u64()), (200, Some(2)), "{v}");
        let mut sha256 = base("AUTH_HEADER", "GET", list.clone());
        sha256["method"] = json!("HMAC-SHA256");
        assert_eq!(oauthlib(d, sha256).0, 200);
        // The requests were made by the credential's principal.
        let events = s.get_json("/v1/events?action=form.create&limit=5", &s.admin_token).await;
        assert_eq!(events["items"][0]["actor"], "oauth1:itsm", "{events}");

        // A replayed nonce, a wrong secret, an old timestamp, a tampered body: 401 1010.
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        let mut fixed = base("AUTH_HEADER", "GET", list.clone());
        fixed["nonce"] = json!("fixed-nonce-1");
        fixed["timestamp"] = json!(now.to_string());
        assert_eq!(oauthlib(d, fixed.clone()).0, 200);
        let (st, v) = oauthlib(d, fixed);
        assert_eq!(st, 401, "{v}");
        assert_err(&v, 401, 1010, "nonce");
        let mut wrong = base("AUTH_HEADER", "GET", list.clone());
        wrong["ts"] = json!("not-the-secret");
        let (st, v) = oauthlib(d, wrong);
        assert_err(&v, st, 1010, "signature");
        let mut old = base("AUTH_HEADER", "GET", list.clone());
        old["timestamp"] = json!((now - 3600).to_string());
        let (st, v) = oauthlib(d, old);
        assert_err(&v, st, 1010, "timestamp");
        // The list of credentials never shows a secret; a revoked credential signs nothing.
        let listed = s.get_json("/v1/oauth1-credentials", &s.admin_token).await;
        let text = listed.to_string();
        assert!(
            !text.contains(cred["consumer_secret"].as_str().unwrap())
                && !text.contains(cred["token_secret"].as_str().unwrap())
        );
        let id = cred["credential"]["id"].as_str().unwrap();
        let resp = s
            .http()
            .delete(s.at(&format!("/v1/oauth1-credentials/{id}")))
            .bearer_auth(&s.admin_token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        let (st, v) = oauthlib(d, base("AUTH_HEADER", "GET", list));
        assert_err(&v, st, 1010, "revoked");
        s.stop().await;
    }
    pub async fn owners_limits_and_key_passwords_hold_across_faces(s: TestServer) {
        let org = organization(&s, "Owners").await;
        let ca = default_ca(&s).await;
        let alice = Ss { s: &s, token: s.token_with_role("requester").await };
        let bob = Ss { s: &s, token: s.token_with_role("requester").await };
        let body = json!({
            "certificate_type": 1, "domain_type": "SING", "organization": org, "common_name": "alice.example",
            "encryption": "RSA", "encryption_key_size": 2048, "certificate_algorithm": "SHA256", "validity": 90,
            "key_password": "alice-key-pass",
        });
        let (st, v) = alice.json(Method::POST, "/iso/certificate/request", body).await;
        assert_eq!(st, 201, "{v}");
        let code = v["certificate"]["code_request"].as_i64().unwrap();
        // Bob can neither change nor sign Alice's request: for him it does not exist.
        let (st, v) =
            bob.json(Method::POST, &format!("/iso/certificate/request/{code}"), json!({ "key_password": "" })).await;
        assert_err(&v, st, 1030, "");
        let (st, v) = bob.get(&format!("/iso/certificate/request/sign/{code}?self_signed=0&ca={ca}&reason=1")).await;
        assert_err(&v, st, 1030, "");
        // A token limited to an RA profile may not go around it with a self-signed certificate.
        let resp = s
            .http()
            .post(s.at("/v1/tokens"))
            .bearer_auth(&s.admin_token)
            .json(&json!({ "name": "limited", "role": "operator", "ra_profiles": ["default"] }))
            .send()
            .await
            .unwrap();
        let limited = Ss { s: &s, token: resp.json::<Value>().await.unwrap()["secret"].as_str().unwrap().to_owned() };
        let (st, v) = limited.get(&format!("/iso/certificate/request/sign/{code}?self_signed=1&reason=1")).await;
        assert_err(&v, st, 1012, "limited");
        // Alice signs; the key password guards the key in this face and in the native API alike.
        let (st, v) = alice.get(&format!("/iso/certificate/request/sign/{code}?self_signed=0&ca={ca}&reason=1")).await;
        assert_eq!(st, 200, "{v}");
        let cert = v["certificate"]["code_certificate"].as_i64().unwrap();
        let (_, v) = alice.get(&format!("/iso/certificate/list/{cert}")).await;
        assert_eq!(v["certificate"]["password_key"], "********", "{v}");
        let uuid = v["certificate"]["uuid"].as_str().unwrap().to_owned();
        let native = |password: Option<&str>| {
            let mut body = json!({ "password": "export-pass-1" });
            if let Some(p) = password {
                body["key_password"] = json!(p);
            }
            s.http()
                .post(s.at(&format!("/v1/certificates/{uuid}/pkcs12")))
                .bearer_auth(&s.admin_token)
                .json(&body)
                .send()
        };
        let resp = native(None).await.unwrap();
        assert_eq!(resp.status().as_u16(), 400);
        assert_eq!(resp.json::<Value>().await.unwrap()["code"], "key.wrong_password");
        assert_eq!(native(Some("alice-key-pass")).await.unwrap().status().as_u16(), 200);
        // An auditor learns nothing about the password: it is refused before the password is looked at.
        let auditor = Ss { s: &s, token: s.token_with_role("auditor").await };
        let (st, v) = auditor
            .json(
                Method::POST,
                "/api/certificate/download",
                json!({ "id": cert, "format": "pem", "download_key": true, "password": "guess" }),
            )
            .await;
        assert_err(&v, st, 1012, "");
        // A PKCS#12 download without a password is refused before any key leaves (no export is audited).
        let before = s.get_json("/v1/events?action=certificate.key_export", &s.admin_token).await["total"].clone();
        let (st, v) =
            alice.json(Method::POST, "/api/certificate/download", json!({ "id": cert, "format": "pfx" })).await;
        assert_err(&v, st, 1021, "password");
        let (st, v) = alice
            .json(
                Method::POST,
                "/api/certificate/download",
                json!({ "id": cert, "format": "crt", "download_key": true }),
            )
            .await;
        assert_eq!((st, v["data"].get("key")), (200, None), "{v}");
        let after = s.get_json("/v1/events?action=certificate.key_export", &s.admin_token).await["total"].clone();
        assert_eq!(before, after);
        let (st, v) = alice
            .json(
                Method::POST,
                "/api/certificate/download",
                json!({ "id": cert, "format": "pfx", "password": "alice-key-pass" }),
            )
            .await;
        assert_eq!(st, 200, "{v}");
        s.stop().await;
    }
}

certwright_testkit::backend_tests!(
    a_request_is_created_changed_listed_signed_and_revoked,
    self_signed_certificates_and_their_keys_open_with_openssl,
    uploads_of_what_openssl_made,
    the_seed_limits_and_every_error_envelope,
    signing_waits_for_approval_when_the_profile_demands_it,
    oauth1_signatures_made_by_oauthlib_are_checked,
    owners_limits_and_key_passwords_hold_across_faces,
);
