//! The ACME server end to end on both backends: the connectors' ACME client obtains a certificate (checked with
//! `openssl verify`) that lands in the inventory with origin `acme`; hand-made JWS requests get the right ACME
//! error types for bad signatures, nonces and URLs, CSRs naming extra identifiers, early finalization, expired
//! orders and missing external account bindings; EAB keys from `/v1/acme/eab-keys` bind accounts once; ARI and
//! revocation answer as RFC 9773 and RFC 8555 say.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use certwright_connectors::acme::{AcmeClient, ChallengeKind, ChallengeResponder, Identifier, PollPolicy};
use certwright_core::clock::{to_rfc3339, Clock, ManualClock, SystemClock};
use certwright_testkit::process::openssl;
use certwright_testkit::{Backend, TestServer};
use serde_json::{json, Value};
use std::path::Path;
use std::sync::Arc;

/// An ES256 account key that signs raw JWS requests.
struct Key {
    pair: EcdsaKeyPair,
}

impl Key {
    fn new() -> Self {
        let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new()).unwrap();
        Key { pair: EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref()).unwrap() }
    }

    fn jwk(&self) -> Value {
        let point = self.pair.public_key().as_ref();
        json!({ "crv": "P-256", "kty": "EC", "x": B64.encode(&point[1..33]), "y": B64.encode(&point[33..]) })
    }

    /// A flattened JWS; `kid` None puts the jwk in the header; `payload` None is POST-as-GET.
    fn sign(&self, url: &str, nonce: &str, kid: Option<&str>, payload: Option<&Value>) -> Value {
        let mut header = json!({ "alg": "ES256", "nonce": nonce, "url": url });
        match kid {
            Some(kid) => header["kid"] = kid.into(),
            None => header["jwk"] = self.jwk(),
        }
        self.sign_header(&header, payload)
    }

    /// A flattened JWS with the protected header `header`.
    fn sign_header(&self, header: &Value, payload: Option<&Value>) -> Value {
        let protected = B64.encode(header.to_string());
        let payload = payload.map(|p| B64.encode(p.to_string())).unwrap_or_default();
        let sig = self.pair.sign(&SystemRandom::new(), format!("{protected}.{payload}").as_bytes()).unwrap();
        json!({ "protected": protected, "payload": payload, "signature": B64.encode(sig.as_ref()) })
    }
}

/// A raw ACME conversation with one directory.
struct Raw {
    http: reqwest::Client,
    dir: Value,
}

struct Reply {
    status: u16,
    location: Option<String>,
    retry_after: Option<String>,
    body: Value,
}

impl Raw {
    async fn new(s: &TestServer, profile: &str) -> Self {
        let http = s.http().clone();
        let dir = http.get(s.at(&format!("/acme/{profile}/directory"))).send().await.unwrap().json().await.unwrap();
        Raw { http, dir }
    }

    fn url(&self, name: &str) -> String {
        self.dir[name].as_str().unwrap().to_owned()
    }

    async fn nonce(&self) -> String {
        let resp = self.http.head(self.url("newNonce")).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        resp.headers()["replay-nonce"].to_str().unwrap().to_owned()
    }

    async fn post(&self, url: &str, jws: Value) -> Reply {
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

    async fn signed(&self, key: &Key, url: &str, kid: Option<&str>, payload: Option<&Value>) -> Reply {
        let nonce = self.nonce().await;
        self.post(url, key.sign(url, &nonce, kid, payload)).await
    }

    async fn account(&self, key: &Key) -> String {
        let r = self.signed(key, &self.url("newAccount"), None, Some(&json!({"termsOfServiceAgreed": true}))).await;
        assert_eq!(r.status, 201, "{}", r.body);
        r.location.unwrap()
    }
}

fn problem(r: &Reply) -> &str {
    r.body["type"].as_str().unwrap_or_default().trim_start_matches("urn:ietf:params:acme:error:")
}

/// A P-256 CSR for `names` (the first is the CN), DER.
fn csr(dir: &Path, names: &[&str]) -> Vec<u8> {
    csr_with_subject(dir, &format!("/CN={}", names[0]), names)
}

/// A P-256 CSR with the subject `subject` (openssl's `/K=V/…` spelling) and the SANs `names`, DER.
fn csr_with_subject(dir: &Path, subject: &str, names: &[&str]) -> Vec<u8> {
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
struct Trusting;

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

async fn trusting_server(backend: Backend) -> TestServer {
    TestServer::start_with(backend, |c| c.acme_insecure_always_valid = true).await
}

mod cases {
    pub use super::review::*;
    use super::*;

    pub async fn order_flow_issues_into_the_inventory_with_origin_acme(s: TestServer) {
        s.acme_profile("web", json!({ "enabled": true })).await;
        let client = AcmeClient::new(&s.at("/acme/web/directory"), s.http().clone()).await.unwrap();
        let key = certwright_connectors::acme::AccountKey::generate().unwrap();
        let account = client.register(&key, &["mailto:ops@example.org".to_owned()], None).await.unwrap();
        assert!(account.url.contains("/acme/web/acct/"), "{}", account.url);

        let dir = tempfile::tempdir().unwrap();
        let names = ["www.example.test", "api.example.test", "192.0.2.7"];
        let ids: Vec<Identifier> =
            vec![Identifier::dns(names[0]), Identifier::dns(names[1]), Identifier::Ip(names[2].parse().unwrap())];
        let issued =
            client.issue(&account, &csr(dir.path(), &names), &ids, &Trusting, PollPolicy::default()).await.unwrap();
        assert!(!issued.chain_der.is_empty(), "the chain comes with the certificate");

        // openssl agrees: the leaf verifies up to the root in ca.pem, with the names asked for.
        let pem = |der: &[u8]| certwright_pki::pem::encode("CERTIFICATE", der);
        std::fs::write(dir.path().join("leaf.pem"), pem(&issued.certificate_der)).unwrap();
        let chain: String = issued.chain_der.iter().map(|d| pem(d)).collect();
        std::fs::write(dir.path().join("chain.pem"), chain).unwrap();
        let ca = s.data_dir.path().join("data/ca.pem");
        let verified = openssl(
            dir.path(),
            &[
                "verify",
                "-CAfile",
                ca.to_str().unwrap(),
                "-untrusted",
                "chain.pem",
                "-purpose",
                "sslserver",
                "leaf.pem",
            ],
        );
        assert!(verified.contains("leaf.pem: OK"), "{verified}");
        let text = openssl(dir.path(), &["x509", "-in", "leaf.pem", "-noout", "-ext", "subjectAltName"]);
        for n in ["DNS:www.example.test", "DNS:api.example.test", "IP Address:192.0.2.7"] {
            assert!(text.contains(n), "{text}");
        }

        // In the inventory: origin acme, created by the account.
        let listed = s.get_json("/v1/certificates?origin=acme", &s.admin_token).await;
        assert_eq!(listed["total"], 1, "{listed}");
        let item = &listed["items"][0];
        let account_uuid = account.url.rsplit('/').next().unwrap();
        assert_eq!(item["created_by"], format!("acme-account:{account_uuid}"), "{item}");

        // Revoked through ACME, it is revoked in the inventory.
        client.revoke(&account, &issued.certificate_der, Some(1)).await.unwrap();
        let id = item["id"].as_str().unwrap();
        let after = s.get_json(&format!("/v1/certificates/{id}"), &s.admin_token).await;
        assert_eq!(after["state"], "revoked", "{after}");
        s.stop().await;
    }

    pub async fn hostile_requests_get_the_right_acme_errors(s: TestServer) {
        s.acme_profile("web", json!({ "enabled": true })).await;
        let raw = Raw::new(&s, "web").await;
        let key = Key::new();
        let new_account = raw.url("newAccount");

        // A bad signature: malformed.
        let nonce = raw.nonce().await;
        let mut jws = key.sign(&new_account, &nonce, None, Some(&json!({"termsOfServiceAgreed": true})));
        jws["signature"] = B64.encode([7u8; 64]).into();
        let r = raw.post(&new_account, jws).await;
        assert_eq!((r.status, problem(&r)), (400, "malformed"), "{}", r.body);

        // A nonce we never gave, and one used twice: badNonce.
        let r = raw.post(&new_account, key.sign(&new_account, "AAAA", None, Some(&json!({})))).await;
        assert_eq!((r.status, problem(&r)), (400, "badNonce"), "{}", r.body);
        let nonce = raw.nonce().await;
        let payload = json!({"termsOfServiceAgreed": true});
        let first = raw.post(&new_account, key.sign(&new_account, &nonce, None, Some(&payload))).await;
        assert_eq!(first.status, 201, "{}", first.body);
        let again = raw.post(&new_account, key.sign(&new_account, &nonce, None, Some(&payload))).await;
        assert_eq!(problem(&again), "badNonce", "{}", again.body);
        let kid = first.location.unwrap();

        // The url header must be the request URL: unauthorized.
        let nonce = raw.nonce().await;
        let r = raw.post(&raw.url("newOrder"), key.sign(&new_account, &nonce, Some(&kid), Some(&json!({})))).await;
        assert_eq!((r.status, problem(&r)), (403, "unauthorized"), "{}", r.body);

        // Wrong content type, unknown alg, unsupported identifier.
        let resp = s.http().post(raw.url("newOrder")).json(&json!({})).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 415);
        let order = |ids: Value| json!({ "identifiers": ids });
        let r = raw
            .signed(&key, &raw.url("newOrder"), Some(&kid), Some(&order(json!([{"type": "email", "value": "a@b.c"}]))))
            .await;
        assert_eq!(problem(&r), "unsupportedIdentifier", "{}", r.body);
        let r = raw
            .signed(
                &key,
                &raw.url("newOrder"),
                Some(&kid),
                Some(&order(
                    json!([{"type": "dns", "value": "bad..name"}, {"type": "dns", "value": "ok.example.test"}]),
                )),
            )
            .await;
        assert_eq!(problem(&r), "rejectedIdentifier", "{}", r.body);
        assert_eq!(r.body["subproblems"][0]["identifier"]["value"], "bad..name", "{}", r.body);

        // Finalize before the authorization is valid: orderNotReady.
        let r = raw
            .signed(
                &key,
                &raw.url("newOrder"),
                Some(&kid),
                Some(&order(json!([{"type": "dns", "value": "one.example.test"}]))),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(r.body["status"], "pending");
        let order_url = r.location.unwrap();
        let finalize = r.body["finalize"].as_str().unwrap().to_owned();
        let dir = tempfile::tempdir().unwrap();
        let good_csr = json!({ "csr": B64.encode(csr(dir.path(), &["one.example.test"])) });
        let r = raw.signed(&key, &finalize, Some(&kid), Some(&good_csr)).await;
        assert_eq!((r.status, problem(&r)), (403, "orderNotReady"), "{}", r.body);

        // Validate, then finalize with a CSR naming an extra identifier: badCSR; the right CSR: valid.
        let authz = raw.signed(&key, r_authz(&raw, &key, &kid, &order_url).await.as_str(), Some(&kid), None).await;
        let challenge = authz.body["challenges"][0]["url"].as_str().unwrap().to_owned();
        let r = raw.signed(&key, &challenge, Some(&kid), Some(&json!({}))).await;
        assert_eq!(r.status, 200, "{}", r.body);
        // Being validated: clients are told to look again in a second.
        assert_eq!(
            (r.body["status"].as_str(), r.retry_after.as_deref()),
            (Some("processing"), Some("1")),
            "{}",
            r.body
        );
        let mut ready = Value::Null;
        for _ in 0..100 {
            ready = raw.signed(&key, &order_url, Some(&kid), None).await.body;
            if ready["status"] == "ready" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(ready["status"], "ready", "{ready}");
        let extra = json!({ "csr": B64.encode(csr(dir.path(), &["one.example.test", "two.example.test"])) });
        let r = raw.signed(&key, &finalize, Some(&kid), Some(&extra)).await;
        assert_eq!((r.status, problem(&r)), (400, "badCSR"), "{}", r.body);
        assert!(r.body["detail"].as_str().unwrap().contains("two.example.test"), "{}", r.body);
        let r = raw.signed(&key, &finalize, Some(&kid), Some(&good_csr)).await;
        assert_eq!(r.body["status"], "valid", "{}", r.body);
        let cert = raw.signed(&key, r.body["certificate"].as_str().unwrap(), Some(&kid), None).await;
        assert!(cert.body.as_str().unwrap().starts_with("-----BEGIN CERTIFICATE-----"));

        // Another account may not read this order.
        let other = Key::new();
        let other_kid = raw.account(&other).await;
        let r = raw.signed(&other, &order_url, Some(&other_kid), None).await;
        assert_eq!(r.status, 404, "{}", r.body);
        s.stop().await;
    }

    pub async fn external_account_binding_keys_bind_one_account(s: TestServer) {
        s.acme_profile("eab", json!({ "enabled": true, "external_account_required": true })).await;
        let raw = Raw::new(&s, "eab").await;
        assert_eq!(raw.dir["meta"]["externalAccountRequired"], true);
        let key = Key::new();
        let r = raw.signed(&key, &raw.url("newAccount"), None, Some(&json!({"termsOfServiceAgreed": true}))).await;
        assert_eq!((r.status, problem(&r)), (403, "externalAccountRequired"), "{}", r.body);

        let resp = s
            .http()
            .post(s.at("/v1/acme/eab-keys"))
            .bearer_auth(&s.admin_token)
            .json(&json!({ "ra_profile": "eab", "owner": "team-web" }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 201);
        let created: Value = resp.json().await.unwrap();
        let (kid, hmac) = (created["kid"].as_str().unwrap(), created["hmac_key"].as_str().unwrap());
        let listed = s.get_json("/v1/acme/eab-keys", &s.admin_token).await;
        assert!(!listed.to_string().contains(hmac), "the MAC key is shown once");

        let binding = |mac_key: &[u8], url: &str| {
            let protected = B64.encode(json!({ "alg": "HS256", "kid": kid, "url": url }).to_string());
            let payload = B64.encode(key.jwk().to_string());
            let tag = aws_lc_rs::hmac::sign(
                &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, mac_key),
                format!("{protected}.{payload}").as_bytes(),
            );
            json!({ "protected": protected, "payload": payload, "signature": B64.encode(tag.as_ref()) })
        };
        let new_account = raw.url("newAccount");
        let wrong =
            json!({ "termsOfServiceAgreed": true, "externalAccountBinding": binding(b"not the key", &new_account) });
        let r = raw.signed(&key, &new_account, None, Some(&wrong)).await;
        assert_eq!((r.status, problem(&r)), (403, "unauthorized"), "{}", r.body);
        let right = json!({ "termsOfServiceAgreed": true, "externalAccountBinding": binding(&B64.decode(hmac).unwrap(), &new_account) });
        let r = raw.signed(&key, &new_account, None, Some(&right)).await;
        assert_eq!(r.status, 201, "{}", r.body);

        // The key is spent: a second account cannot use it.
        let second = Key::new();
        let payload = B64.encode(second.jwk().to_string());
        let protected = B64.encode(json!({ "alg": "HS256", "kid": kid, "url": new_account }).to_string());
        let tag = aws_lc_rs::hmac::sign(
            &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &B64.decode(hmac).unwrap()),
            format!("{protected}.{payload}").as_bytes(),
        );
        let eab = json!({ "protected": protected, "payload": payload, "signature": B64.encode(tag.as_ref()) });
        let r = raw
            .signed(
                &second,
                &new_account,
                None,
                Some(&json!({ "termsOfServiceAgreed": true, "externalAccountBinding": eab })),
            )
            .await;
        assert_eq!((r.status, problem(&r)), (403, "unauthorized"), "{}", r.body);
        let listed = s.get_json("/v1/acme/eab-keys", &s.admin_token).await;
        assert_eq!(listed["items"][0]["used"], true, "{listed}");
        s.stop().await;
    }

    pub async fn renewal_info_and_replaces(s: TestServer) {
        s.acme_profile(
            "web",
            json!({ "enabled": true, "profiles": { "shortlived": { "description": "7 days", "validity_days": 7 } } }),
        )
        .await;
        let raw = Raw::new(&s, "web").await;
        assert_eq!(raw.dir["meta"]["profiles"]["shortlived"], "7 days");
        let key = Key::new();
        let kid = raw.account(&key).await;
        let dir = tempfile::tempdir().unwrap();
        let order = json!({ "identifiers": [{"type": "dns", "value": "ari.example.test"}], "profile": "shortlived" });
        let r = raw
            .signed(
                &key,
                &raw.url("newOrder"),
                Some(&kid),
                Some(&json!({ "identifiers": [{"type": "dns", "value": "x.example.test"}], "profile": "nope" })),
            )
            .await;
        assert_eq!(problem(&r), "invalidProfile", "{}", r.body);
        let chain = obtain(&raw, &key, &kid, &order, &csr(dir.path(), &["ari.example.test"])).await;
        let der = chain[0].clone();

        // The certificate lives 7 days; ARI suggests renewing around two thirds of that.
        std::fs::write(dir.path().join("leaf.der"), &der).unwrap();
        let dates =
            openssl(dir.path(), &["x509", "-inform", "DER", "-in", "leaf.der", "-noout", "-startdate", "-enddate"]);
        assert!(dates.contains("notAfter"), "{dates}");
        let cert = certwright_pki::cert::Cert::from_der(&der).unwrap();
        assert!((cert.not_after() - cert.not_before() - 7 * 86_400).abs() < 300, "{dates}");
        let aki = certwright_pki::cert::Cert::from_der(&chain[1]).unwrap().key_identifier().unwrap();
        let serial = hex_to_bytes(&cert.serial_hex());
        let cert_id = format!("{}.{}", B64.encode(aki), B64.encode(serial));
        let resp = s.http().get(format!("{}/{cert_id}", raw.url("renewalInfo"))).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        assert!(resp.headers().contains_key("retry-after"));
        let info: Value = resp.json().await.unwrap();
        let start = info["suggestedWindow"]["start"].as_str().unwrap().to_owned();
        let (born, dies) = (to_rfc3339(cert.not_before() + 4 * 86_400), to_rfc3339(cert.not_after()));
        assert!(born < start && start < dies, "{info}: the window opens between day 4 and the end");

        // A replacement order names it; once valid, a second replacement is refused.
        let renew = json!({ "identifiers": [{"type": "dns", "value": "ari.example.test"}], "replaces": cert_id });
        obtain(&raw, &key, &kid, &renew, &csr(dir.path(), &["ari.example.test"])).await;
        let r = raw.signed(&key, &raw.url("newOrder"), Some(&kid), Some(&renew)).await;
        assert_eq!((r.status, problem(&r)), (409, "alreadyReplaced"), "{}", r.body);

        // Revoked, the window moves into the past.
        let r = raw
            .signed(
                &key,
                &raw.url("revokeCert"),
                Some(&kid),
                Some(&json!({ "certificate": B64.encode(&der), "reason": 4 })),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let r = raw
            .signed(&key, &raw.url("revokeCert"), Some(&kid), Some(&json!({ "certificate": B64.encode(&der) })))
            .await;
        assert_eq!(problem(&r), "alreadyRevoked", "{}", r.body);
        let info: Value =
            s.http().get(format!("{}/{cert_id}", raw.url("renewalInfo"))).send().await.unwrap().json().await.unwrap();
        assert!(info["suggestedWindow"]["end"].as_str().unwrap() < start.as_str(), "{info}");
        s.stop().await;
    }
}

mod review {
    use super::*;

    /// RFC 8555 §7.4 and §10: a client proves control of names, nothing else — subject attributes it puts in its
    /// CSR (an organization, a second common name) must not reach the certificate.
    pub async fn finalize_certifies_only_the_validated_names(s: TestServer) {
        s.acme_profile("web", json!({ "enabled": true })).await;
        let raw = Raw::new(&s, "web").await;
        let key = Key::new();
        let kid = raw.account(&key).await;
        let dir = tempfile::tempdir().unwrap();
        let order = json!({ "identifiers": [{"type": "dns", "value": "subject.example.test"}] });
        let csr = csr_with_subject(
            dir.path(),
            "/CN=subject.example.test/O=Evil Bank Inc/OU=Payments/CN=unvalidated.example.org",
            &["subject.example.test"],
        );
        let chain = obtain(&raw, &key, &kid, &order, &csr).await;
        std::fs::write(dir.path().join("leaf.der"), &chain[0]).unwrap();
        let subject = openssl(
            dir.path(),
            &["x509", "-inform", "DER", "-in", "leaf.der", "-noout", "-subject", "-nameopt", "RFC2253"],
        );
        assert!(subject.contains("CN=subject.example.test"), "{subject}");
        for unvalidated in ["Evil Bank", "Payments", "unvalidated.example.org"] {
            assert!(!subject.contains(unvalidated), "{unvalidated} was certified: {subject}");
        }
        // Without a common name, the subject stays empty (the SANs, critical, name the subject).
        let csr = csr_with_subject(dir.path(), "/O=Evil Bank Inc", &["subject.example.test"]);
        let chain = obtain(&raw, &key, &kid, &order, &csr).await;
        std::fs::write(dir.path().join("leaf.der"), &chain[0]).unwrap();
        let text = openssl(dir.path(), &["x509", "-inform", "DER", "-in", "leaf.der", "-noout", "-text"]);
        assert!(!text.contains("Evil Bank"), "{text}");
        assert!(text.contains("X509v3 Subject Alternative Name: critical"), "{text}");
        s.stop().await;
    }

    /// RFC 8555 §7.4: finalize issues under the RA profile's policy as it is now; names it no longer admits are
    /// refused even for an order placed (and validated) before the change.
    pub async fn finalize_applies_the_policy_in_force(s: TestServer) {
        s.acme_profile("web", json!({ "enabled": true })).await;
        let raw = Raw::new(&s, "web").await;
        let key = Key::new();
        let kid = raw.account(&key).await;
        let order = json!({ "identifiers": [{"type": "dns", "value": "soon-banned.example.test"}] });
        let r = raw.signed(&key, &raw.url("newOrder"), Some(&kid), Some(&order)).await;
        assert_eq!(r.status, 201, "{}", r.body);
        let order_url = r.location.unwrap();
        let authz = raw.signed(&key, r.body["authorizations"][0].as_str().unwrap(), Some(&kid), None).await;
        let chall = authz.body["challenges"][0]["url"].as_str().unwrap().to_owned();
        raw.signed(&key, &chall, Some(&kid), Some(&json!({}))).await;
        let mut body = Value::Null;
        for _ in 0..100 {
            body = raw.signed(&key, &order_url, Some(&kid), None).await.body;
            if body["status"] != "pending" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(body["status"], "ready", "{body}");
        let resp = s
            .http()
            .put(s.at("/v1/ra-profiles/web"))
            .bearer_auth(&s.admin_token)
            .json(&json!({ "policy": { "allowed_domains": ["elsewhere.test"], "acme": { "enabled": true } } }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200, "{}", resp.text().await.unwrap());
        let dir = tempfile::tempdir().unwrap();
        let csr = json!({ "csr": B64.encode(csr(dir.path(), &["soon-banned.example.test"])) });
        let r = raw.signed(&key, body["finalize"].as_str().unwrap(), Some(&kid), Some(&csr)).await;
        assert_eq!((r.status, problem(&r)), (400, "rejectedIdentifier"), "{}", r.body);
        let listed = s.get_json("/v1/certificates?origin=acme", &s.admin_token).await;
        assert_eq!(listed["total"], 0, "{listed}");
        s.stop().await;
    }

    /// RFC 7515 §4.1.11: a JWS whose `crit` names extensions (here RFC 7797's unencoded payload, which would
    /// change what the signature covers) must be refused by a server that understands none of them.
    pub async fn jws_with_critical_extensions_is_refused(s: TestServer) {
        s.acme_profile("web", json!({ "enabled": true })).await;
        let raw = Raw::new(&s, "web").await;
        let key = Key::new();
        let url = raw.url("newAccount");
        let nonce = raw.nonce().await;
        let header =
            json!({ "alg": "ES256", "nonce": nonce, "url": url, "jwk": key.jwk(), "crit": ["b64"], "b64": true });
        let r = raw.post(&url, key.sign_header(&header, Some(&json!({"termsOfServiceAgreed": true})))).await;
        assert_eq!((r.status, problem(&r)), (400, "malformed"), "{}", r.body);
        s.stop().await;
    }

    /// RFC 9773 §5: a replacement order must share an identifier with the certificate it replaces; an order for
    /// unrelated names cannot mark another certificate as replaced.
    pub async fn replaces_needs_a_shared_identifier(s: TestServer) {
        s.acme_profile("web", json!({ "enabled": true })).await;
        let raw = Raw::new(&s, "web").await;
        let key = Key::new();
        let kid = raw.account(&key).await;
        let dir = tempfile::tempdir().unwrap();
        let order = json!({ "identifiers": [{"type": "dns", "value": "old.example.test"}] });
        let chain = obtain(&raw, &key, &kid, &order, &csr(dir.path(), &["old.example.test"])).await;
        let cert = certwright_pki::cert::Cert::from_der(&chain[0]).unwrap();
        let aki = certwright_pki::cert::Cert::from_der(&chain[1]).unwrap().key_identifier().unwrap();
        let cert_id = format!("{}.{}", B64.encode(aki), B64.encode(hex_to_bytes(&cert.serial_hex())));
        let unrelated = json!({ "identifiers": [{"type": "dns", "value": "new.example.test"}], "replaces": cert_id });
        let r = raw.signed(&key, &raw.url("newOrder"), Some(&kid), Some(&unrelated)).await;
        assert_eq!((r.status, problem(&r)), (400, "malformed"), "{}", r.body);
        // Sharing one name (case aside) is enough.
        let related = json!({ "identifiers": [{"type": "dns", "value": "OLD.example.test"}, {"type": "dns", "value": "new.example.test"}], "replaces": cert_id });
        let r = raw.signed(&key, &raw.url("newOrder"), Some(&kid), Some(&related)).await;
        assert_eq!(r.status, 201, "{}", r.body);
        s.stop().await;
    }

    /// Hostile strings in the external account binding's `kid` (a NUL byte, which PostgreSQL refuses in text)
    /// are an unknown key, not a server error.
    pub async fn hostile_eab_kids_are_unknown_keys(s: TestServer) {
        s.acme_profile("eab", json!({ "enabled": true, "external_account_required": true })).await;
        let raw = Raw::new(&s, "eab").await;
        let key = Key::new();
        let new_account = raw.url("newAccount");
        for kid in ["eab-\u{0}", "eab-\u{0}x", &"k".repeat(10_000), "eab-\u{1F512}"] {
            let protected = B64.encode(json!({ "alg": "HS256", "kid": kid, "url": new_account }).to_string());
            let payload = B64.encode(key.jwk().to_string());
            let eab = json!({ "protected": protected, "payload": payload, "signature": B64.encode([1u8; 32]) });
            let body = json!({ "termsOfServiceAgreed": true, "externalAccountBinding": eab });
            let r = raw.signed(&key, &new_account, None, Some(&body)).await;
            assert_eq!((r.status, problem(&r)), (403, "unauthorized"), "{}", r.body);
        }
        // Deleting such a key finds nothing; creating one with a NUL in its owner is refused.
        let resp = s.http().delete(s.at("/v1/acme/eab-keys/eab-%00")).bearer_auth(&s.admin_token).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 404);
        for bad in [
            json!({ "ra_profile": "eab", "owner": "team\u{0}web" }),
            json!({ "ra_profile": "eab", "comment": "x\u{0}" }),
        ] {
            let resp =
                s.http().post(s.at("/v1/acme/eab-keys")).bearer_auth(&s.admin_token).json(&bad).send().await.unwrap();
            let status = resp.status().as_u16();
            assert!((400..500).contains(&status), "{status}: {}", resp.text().await.unwrap());
        }
        s.stop().await;
    }
}

fn hex_to_bytes(hex: &str) -> Vec<u8> {
    let hex = if hex.len() % 2 == 1 { format!("0{hex}") } else { hex.to_owned() };
    let mut bytes: Vec<u8> =
        (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect();
    if bytes.first().is_some_and(|b| b & 0x80 != 0) {
        bytes.insert(0, 0);
    }
    bytes
}

/// The first authorization URL of an order.
async fn r_authz(raw: &Raw, key: &Key, kid: &str, order_url: &str) -> String {
    let order = raw.signed(key, order_url, Some(kid), None).await;
    order.body["authorizations"][0].as_str().unwrap().to_owned()
}

/// Places `order`, answers its challenges, finalizes with `csr` and downloads the certificate and its chain (DER,
/// leaf first).
async fn obtain(raw: &Raw, key: &Key, kid: &str, order: &Value, csr: &[u8]) -> Vec<Vec<u8>> {
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

trusting_tests!(
    order_flow_issues_into_the_inventory_with_origin_acme,
    hostile_requests_get_the_right_acme_errors,
    external_account_binding_keys_bind_one_account,
    renewal_info_and_replaces,
    finalize_certifies_only_the_validated_names,
    hostile_eab_kids_are_unknown_keys,
    finalize_applies_the_policy_in_force,
    jws_with_critical_extensions_is_refused,
    replaces_needs_a_shared_identifier,
);

/// Orders and pending authorizations expire with the server's clock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_order_is_invalid_and_cannot_be_finalized() {
    let clock = Arc::new(ManualClock::at(SystemClock.now()));
    let s = TestServer::start_with_clock(Backend::Sqlite, clock.clone(), |c| c.acme_insecure_always_valid = true).await;
    s.acme_profile("web", json!({ "enabled": true, "order_lifetime_hours": 1 })).await;
    let raw = Raw::new(&s, "web").await;
    let key = Key::new();
    let kid = raw.account(&key).await;
    let r = raw
        .signed(
            &key,
            &raw.url("newOrder"),
            Some(&kid),
            Some(&json!({ "identifiers": [{"type": "dns", "value": "late.example.test"}] })),
        )
        .await;
    let (order_url, finalize) = (r.location.unwrap(), r.body["finalize"].as_str().unwrap().to_owned());
    clock.advance(2 * 3600);
    let r = raw.signed(&key, &order_url, Some(&kid), None).await;
    assert_eq!(r.body["status"], "invalid", "{}", r.body);
    let dir = tempfile::tempdir().unwrap();
    let body = json!({ "csr": B64.encode(csr(dir.path(), &["late.example.test"])) });
    let r = raw.signed(&key, &finalize, Some(&kid), Some(&body)).await;
    assert_eq!((r.status, problem(&r)), (403, "orderNotReady"), "{}", r.body);
    s.stop().await;
}

/// Two nodes on one PostgreSQL database: a nonce one node gave is accepted by the other, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nonces_work_across_nodes_and_only_once() {
    let Some(base) = certwright_store::testing::postgres_url() else {
        eprintln!("PostgreSQL tests are off (CERTWRIGHT_TEST_POSTGRES_URL unset)");
        return;
    };
    let url = certwright_store::testing::fresh_postgres_schema(&base).await.expect("PostgreSQL for tests");
    let db = url.clone();
    let s = TestServer::start_with(Backend::Postgres, move |c| c.database_url = Some(db)).await;
    let settings = certwright_server::config::Settings {
        data_dir: s.data_dir.path().join("data"),
        config_file: None,
        config: certwright_server::config::Config {
            database_url: Some(url),
            node_id: "test-node-2".to_owned(),
            ..Default::default()
        },
    };
    let node2 = certwright_server::bootstrap::open(&settings).await.expect("second node").services;
    for _ in 0..20 {
        let (giver, taker) = (s.services.acme_new_nonce().await.unwrap(), node2.acme_new_nonce().await.unwrap());
        node2.acme_redeem_nonce(&giver).await.expect("node 2 accepts node 1's nonce");
        s.services.acme_redeem_nonce(&taker).await.expect("node 1 accepts node 2's nonce");
        for (node, nonce) in [(&s.services, &giver), (&node2, &giver), (&s.services, &taker)] {
            let err = node.acme_redeem_nonce(nonce).await.expect_err("a nonce is used once");
            assert_eq!(err.code(), "acme:badNonce");
        }
    }
    let mut tampered = s.services.acme_new_nonce().await.unwrap().into_bytes();
    tampered[3] ^= 1;
    let err = node2.acme_redeem_nonce(std::str::from_utf8(&tampered).unwrap()).await.expect_err("tampered");
    assert_eq!(err.code(), "acme:badNonce");
    s.stop().await;
}

/// RFC 8555 §7.1.6: `expired` is final. A validation retried (after a connection error) once the authorization
/// has expired does not bring it back as `valid` with a fresh lifetime.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_validation_retried_after_expiry_leaves_the_authorization_expired() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let clock = Arc::new(ManualClock::at(SystemClock.now()));
    let port = certwright_testkit::process::free_port();
    let s = TestServer::start_with_clock(Backend::Sqlite, clock.clone(), move |c| {
        c.acme_http01_port = port;
        c.acme_resolve = vec!["late.example.test=127.0.0.1".to_owned()];
    })
    .await;
    s.acme_profile("web", json!({ "enabled": true, "order_lifetime_hours": 1, "challenges": ["http-01"] })).await;
    let raw = Raw::new(&s, "web").await;
    let key = Key::new();
    let kid = raw.account(&key).await;
    let order = json!({ "identifiers": [{"type": "dns", "value": "late.example.test"}] });
    let r = raw.signed(&key, &raw.url("newOrder"), Some(&kid), Some(&order)).await;
    let authz_url = r.body["authorizations"][0].as_str().unwrap().to_owned();
    let authz = raw.signed(&key, &authz_url, Some(&kid), None).await;
    let challenge = &authz.body["challenges"][0];
    let (chall_url, token) = (challenge["url"].as_str().unwrap().to_owned(), challenge["token"].as_str().unwrap());
    let jwk = key.jwk();
    let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":{},"y":{}}}"#, jwk["x"], jwk["y"]);
    let thumbprint = B64.encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.as_bytes()));
    let key_authorization = format!("{token}.{thumbprint}");

    // Nothing listens yet: the first attempt fails with a connection error and is retried later.
    let r = raw.signed(&key, &chall_url, Some(&kid), Some(&json!({}))).await;
    assert_eq!(r.body["status"], "processing", "{}", r.body);
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;

    // Now the right answer is served, but the authorization has expired by the time the retry runs.
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf).await;
            let reply = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
                key_authorization.len(),
                key_authorization
            );
            let _ = conn.write_all(reply.as_bytes()).await;
        }
    });
    clock.advance(2 * 3600);
    let mut body = Value::Null;
    for _ in 0..100 {
        body = raw.signed(&key, &authz_url, Some(&kid), None).await.body;
        if body["challenges"][0]["status"] != "processing" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_ne!(body["challenges"][0]["status"], "processing", "the retry ran: {body}");
    assert_eq!(body["status"], "expired", "{body}");
    s.stop().await;
}
