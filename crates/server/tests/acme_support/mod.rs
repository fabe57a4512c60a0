//! What the ACME server tests share: an ES256 key signing raw JWS requests, a raw conversation with one
//! directory, CSRs made by openssl, a responder for servers that pass every challenge, and the macro that runs a
//! case on both backends.
#![allow(dead_code)]

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use certwright_connectors::acme::{ChallengeKind, ChallengeResponder, Identifier};
pub use certwright_testkit::process::openssl;
use certwright_testkit::{Backend, TestServer};
use serde_json::{json, Value};
use std::path::Path;

#[macro_export]
macro_rules! trusting_tests {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::cases::$case(super::trusting_server(super::Backend::Sqlite).await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    if !super::Backend::available().contains(&super::Backend::Postgres) {
                        return;
                    }
                    super::cases::$case(super::trusting_server(super::Backend::Postgres).await).await;
                }
            )*
        }
    };
}

/// An ES256 account key that signs raw JWS requests.
pub struct Key {
    pub pair: EcdsaKeyPair,
}

impl Key {
    pub fn new() -> Self {
        let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new()).unwrap();
        Key { pair: EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref()).unwrap() }
    }

    pub fn jwk(&self) -> Value {
        let point = self.pair.public_key().as_ref();
        json!({ "crv": "P-256", "kty": "EC", "x": B64.encode(&point[1..33]), "y": B64.encode(&point[33..]) })
    }

    /// A flattened JWS; `kid` None puts the jwk in the header; `payload` None is POST-as-GET.
    pub fn sign(&self, url: &str, nonce: &str, kid: Option<&str>, payload: Option<&Value>) -> Value {
        let mut header = json!({ "alg": "ES256", "nonce": nonce, "url": url });
        match kid {
            Some(kid) => header["kid"] = kid.into(),
            None => header["jwk"] = self.jwk(),
        }
        self.sign_header(&header, payload)
    }

    /// A flattened JWS with the protected header `header`.
    pub fn sign_header(&self, header: &Value, payload: Option<&Value>) -> Value {
        let protected = B64.encode(header.to_string());
        let payload = payload.map(|p| B64.encode(p.to_string())).unwrap_or_default();
        let sig = self.pair.sign(&SystemRandom::new(), format!("{protected}.{payload}").as_bytes()).unwrap();
        json!({ "protected": protected, "payload": payload, "signature": B64.encode(sig.as_ref()) })
    }
}

/// A raw ACME conversation with one directory.
pub struct Raw {
    pub http: reqwest::Client,
    pub dir: Value,
}

pub struct Reply {
    pub status: u16,
    pub location: Option<String>,
    pub retry_after: Option<String>,
    pub body: Value,
}

impl Raw {
    pub async fn new(s: &TestServer, profile: &str) -> Self {
        let http = s.http().clone();
        let dir = http.get(s.at(&format!("/acme/{profile}/directory"))).send().await.unwrap().json().await.unwrap();
        Raw { http, dir }
    }

    pub fn url(&self, name: &str) -> String {
        self.dir[name].as_str().unwrap().to_owned()
    }

    pub async fn nonce(&self) -> String {
        let resp = self.http.head(self.url("newNonce")).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        resp.headers()["replay-nonce"].to_str().unwrap().to_owned()
    }

    pub async fn post(&self, url: &str, jws: Value) -> Reply {
        let resp = self
            .http
            .post(url)
            .header("content-type", "application/jose+json")
            .body(jws.to_string())
            .send()
            .await
            .unwrap();
        assert!(resp.headers().contains_key("replay-nonce"), "every answer carries a nonce");
        let status = resp.status().as_u16();
        let location = resp.headers().get("location").map(|l| l.to_str().unwrap().to_owned());
        let retry_after = resp.headers().get("retry-after").map(|l| l.to_str().unwrap().to_owned());
        let text = resp.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Reply { status, location, retry_after, body }
    }

    pub async fn signed(&self, key: &Key, url: &str, kid: Option<&str>, payload: Option<&Value>) -> Reply {
        let nonce = self.nonce().await;
        self.post(url, key.sign(url, &nonce, kid, payload)).await
    }

    pub async fn account(&self, key: &Key) -> String {
        let r = self.signed(key, &self.url("newAccount"), None, Some(&json!({"termsOfServiceAgreed": true}))).await;
        assert_eq!(r.status, 201, "{}", r.body);
        r.location.unwrap()
    }
}

pub fn problem(r: &Reply) -> &str {
    r.body["type"].as_str().unwrap_or_default().trim_start_matches("urn:ietf:params:acme:error:")
}

/// A P-256 CSR for `names` (the first is the CN), DER.
pub fn csr(dir: &Path, names: &[&str]) -> Vec<u8> {
    csr_with_subject(dir, &format!("/CN={}", names[0]), names)
}

/// A P-256 CSR with the subject `subject` (openssl's `/K=V/…` spelling) and the SANs `names`, DER.
pub fn csr_with_subject(dir: &Path, subject: &str, names: &[&str]) -> Vec<u8> {
    let san: Vec<String> = names
        .iter()
        .map(|n| if n.parse::<std::net::IpAddr>().is_ok() { format!("IP:{n}") } else { format!("DNS:{n}") })
        .collect();
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
            "leaf.key",
            "-subj",
            subject,
            "-addext",
            &format!("subjectAltName={}", san.join(",")),
            "-outform",
            "DER",
            "-out",
            "leaf.csr",
        ],
    );
    std::fs::read(dir.join("leaf.csr")).unwrap()
}

/// Answers nothing itself: the server under test validates every challenge (`acme_insecure_always_valid`).
pub struct Trusting;

impl ChallengeResponder for Trusting {
    fn kinds(&self) -> Vec<ChallengeKind> {
        vec![ChallengeKind::Http01]
    }

    fn present<'a>(
        &'a self,
        _: ChallengeKind,
        _: &'a Identifier,
        _: &'a str,
        _: &'a str,
    ) -> certwright_connectors::acme::BoxFuture<'a, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }

    fn cleanup<'a>(
        &'a self,
        _: ChallengeKind,
        _: &'a Identifier,
        _: &'a str,
        _: &'a str,
    ) -> certwright_connectors::acme::BoxFuture<'a, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }
}

pub async fn trusting_server(backend: Backend) -> TestServer {
    TestServer::start_with(backend, |c| c.acme_insecure_always_valid = true).await
}

pub fn hex_to_bytes(hex: &str) -> Vec<u8> {
    let hex = if hex.len() % 2 == 1 { format!("0{hex}") } else { hex.to_owned() };
    let mut bytes: Vec<u8> =
        (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect();
    if bytes.first().is_some_and(|b| b & 0x80 != 0) {
        bytes.insert(0, 0);
    }
    bytes
}

/// The first authorization URL of an order.
pub async fn r_authz(raw: &Raw, key: &Key, kid: &str, order_url: &str) -> String {
    let order = raw.signed(key, order_url, Some(kid), None).await;
    order.body["authorizations"][0].as_str().unwrap().to_owned()
}

/// Places `order`, answers its challenges, finalizes with `csr` and downloads the certificate and its chain (DER,
/// leaf first).
pub async fn obtain(raw: &Raw, key: &Key, kid: &str, order: &Value, csr: &[u8]) -> Vec<Vec<u8>> {
    let r = raw.signed(key, &raw.url("newOrder"), Some(kid), Some(order)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let order_url = r.location.unwrap();
    for authz in r.body["authorizations"].as_array().unwrap() {
        let a = raw.signed(key, authz.as_str().unwrap(), Some(kid), None).await;
        if a.body["status"] == "pending" {
            let chall = a.body["challenges"][0]["url"].as_str().unwrap().to_owned();
            raw.signed(key, &chall, Some(kid), Some(&json!({}))).await;
        }
    }
    let mut body = Value::Null;
    for _ in 0..100 {
        body = raw.signed(key, &order_url, Some(kid), None).await.body;
        if body["status"] != "pending" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(body["status"], "ready", "{body}");
    let r =
        raw.signed(key, body["finalize"].as_str().unwrap(), Some(kid), Some(&json!({ "csr": B64.encode(csr) }))).await;
    assert_eq!(r.body["status"], "valid", "{}", r.body);
    let pem = raw.signed(key, r.body["certificate"].as_str().unwrap(), Some(kid), None).await;
    certwright_pki::pem::decode_all(pem.body.as_str().unwrap()).unwrap().into_iter().map(|(_, der)| der).collect()
}
