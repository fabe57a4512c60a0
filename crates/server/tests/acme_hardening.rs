//! The ACME server against what a hostile or careless client may try (RFC 8555 §7.4 and §10, RFC 7515 §4.1.11,
//! RFC 9773 §5): subjects and names nobody validated, policies narrowed after an order, critical JWS extensions,
//! replacements of unrelated certificates, hostile EAB key ids, and validations that outlive their authorization.

mod acme_support;

use acme_support::*;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use certwright_core::clock::{Clock, ManualClock, SystemClock};
use certwright_testkit::{Backend, TestServer};
use serde_json::{json, Value};
use std::sync::Arc;

mod cases {
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

    /// RFC 8555 §7.1.2.1: the account's orders list; a cursor that is not ours is a problem document, not a bare
    /// 400.
    pub async fn orders_list_and_bad_cursors(s: TestServer) {
        s.acme_profile("web", json!({ "enabled": true })).await;
        let raw = Raw::new(&s, "web").await;
        let key = Key::new();
        let kid = raw.account(&key).await;
        let order = json!({ "identifiers": [{"type": "dns", "value": "list.example.test"}] });
        let placed = raw.signed(&key, &raw.url("newOrder"), Some(&kid), Some(&order)).await;
        let orders_url = format!("{kid}/orders");
        let r = raw.signed(&key, &orders_url, Some(&kid), None).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["orders"], json!([placed.location.unwrap()]), "{}", r.body);
        for bad in ["cursor=abc", "cursor=-1", "other=1"] {
            let url = format!("{orders_url}?{bad}");
            let r = raw.signed(&key, &url, Some(&kid), None).await;
            assert_eq!((r.status, problem(&r)), (400, "malformed"), "{bad}: {}", r.body);
        }
        // Another account may not list them.
        let other = Key::new();
        let other_kid = raw.account(&other).await;
        let r = raw.signed(&other, &orders_url, Some(&other_kid), None).await;
        assert_eq!((r.status, problem(&r)), (403, "unauthorized"), "{}", r.body);
        s.stop().await;
    }
}

trusting_tests!(
    finalize_certifies_only_the_validated_names,
    hostile_eab_kids_are_unknown_keys,
    finalize_applies_the_policy_in_force,
    jws_with_critical_extensions_is_refused,
    replaces_needs_a_shared_identifier,
    orders_list_and_bad_cursors,
);

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
