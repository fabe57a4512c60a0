//! The ACME server end to end on both backends: the connectors' ACME client obtains a certificate (checked with
//! `openssl verify`) that lands in the inventory with origin `acme`; hand-made JWS requests get the right ACME
//! error types for bad signatures, nonces and URLs, CSRs naming extra identifiers, early finalization, expired
//! orders and missing external account bindings; EAB keys from `/v1/acme/eab-keys` bind accounts once; ARI and
//! revocation answer as RFC 9773 and RFC 8555 say.

mod acme_support;

use acme_support::*;
use aws_lc_rs::rand::SystemRandom;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use certwright_connectors::acme::{AcmeClient, Identifier, PollPolicy};
use certwright_core::clock::{to_rfc3339, Clock, ManualClock, SystemClock};
use certwright_testkit::{Backend, TestServer};
use serde_json::{json, Value};
use std::sync::Arc;

mod cases {
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
        // Validated while the response waited: answered with the outcome. Had the validation been slower than the
        // wait, the client would be told to look again in a second.
        match r.body["status"].as_str() {
            Some("valid") => assert_eq!(r.retry_after, None, "{}", r.body),
            _ => assert_eq!(
                (r.body["status"].as_str(), r.retry_after.as_deref()),
                (Some("processing"), Some("1")),
                "{}",
                r.body
            ),
        }
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
    pub async fn key_rollover_and_deactivation(s: TestServer) {
        s.acme_profile("web", json!({ "enabled": true })).await;
        let raw = Raw::new(&s, "web").await;
        let (old, new) = (Key::new(), Key::new());
        let kid = raw.account(&old).await;
        let key_change = raw.url("keyChange");
        // The inner JWS: signed by the new key, with its jwk, the same url and no nonce.
        let inner_header = B64.encode(json!({ "alg": "ES256", "jwk": new.jwk(), "url": key_change }).to_string());
        let inner_payload = B64.encode(json!({ "account": kid, "oldKey": old.jwk() }).to_string());
        let sig = new.pair.sign(&SystemRandom::new(), format!("{inner_header}.{inner_payload}").as_bytes()).unwrap();
        let inner =
            json!({ "protected": inner_header, "payload": inner_payload, "signature": B64.encode(sig.as_ref()) });
        let r = raw.signed(&old, &key_change, Some(&kid), Some(&inner)).await;
        assert_eq!(r.status, 200, "{}", r.body);

        // The old key no longer signs for the account; the new one does.
        let order = json!({ "identifiers": [{"type": "dns", "value": "roll.example.test"}] });
        let r = raw.signed(&old, &raw.url("newOrder"), Some(&kid), Some(&order)).await;
        assert_eq!((r.status, problem(&r)), (400, "malformed"), "{}", r.body);
        let r = raw.signed(&new, &raw.url("newOrder"), Some(&kid), Some(&order)).await;
        assert_eq!(r.status, 201, "{}", r.body);
        // newAccount with onlyReturnExisting finds the account by its new key.
        let r = raw.signed(&new, &raw.url("newAccount"), None, Some(&json!({ "onlyReturnExisting": true }))).await;
        assert_eq!((r.status, r.location.as_deref()), (200, Some(kid.as_str())), "{}", r.body);

        // Deactivated, the account can do nothing more.
        let r = raw.signed(&new, &kid, Some(&kid), Some(&json!({ "status": "deactivated" }))).await;
        assert_eq!((r.status, r.body["status"].as_str()), (200, Some("deactivated")), "{}", r.body);
        let r = raw.signed(&new, &raw.url("newOrder"), Some(&kid), Some(&order)).await;
        assert_eq!((r.status, problem(&r)), (403, "unauthorized"), "{}", r.body);
        s.stop().await;
    }
    pub async fn openapi_lists_every_acme_route(s: TestServer) {
        let doc: Value = s.http().get(s.at("/acme/openapi.json")).send().await.unwrap().json().await.unwrap();
        let paths = doc["paths"].as_object().expect("paths");
        for path in [
            "/acme/{profile}/directory",
            "/acme/{profile}/new-nonce",
            "/acme/{profile}/new-account",
            "/acme/{profile}/acct/{id}",
            "/acme/{profile}/acct/{id}/orders",
            "/acme/{profile}/key-change",
            "/acme/{profile}/new-order",
            "/acme/{profile}/order/{id}",
            "/acme/{profile}/order/{id}/finalize",
            "/acme/{profile}/authz/{id}",
            "/acme/{profile}/chall/{id}/{kind}",
            "/acme/{profile}/cert/{id}",
            "/acme/{profile}/cert/{id}/{alternate}",
            "/acme/{profile}/revoke-cert",
            "/acme/{profile}/renewal-info/{cert_id}",
        ] {
            assert!(paths.contains_key(path), "{path} is not documented");
        }
        assert_eq!(paths.len(), 15, "every documented path is routed: {:?}", paths.keys().collect::<Vec<_>>());
        assert!(doc["components"]["schemas"]["AcmeProblem"].is_object());
        s.stop().await;
    }

    /// Orders placed at the same time share the writer's commits: each gets its own certificate, a finalize racing
    /// another for the same order fails alone (one certificate is stored), and the audit chain stays intact with
    /// every change's event.
    pub async fn concurrent_orders_share_commits_and_fail_alone(s: TestServer) {
        s.acme_profile("web", json!({ "enabled": true })).await;
        let raw = Raw::new(&s, "web").await;
        let audit_before = s.services.verify_audit().await.unwrap().events;
        let dir = tempfile::tempdir().unwrap();
        let names: Vec<String> = (0..12).map(|i| format!("c{i}.example.test")).collect();
        let csrs: Vec<Vec<u8>> = names.iter().map(|n| csr(dir.path(), &[n])).collect();
        let flows = names.iter().zip(&csrs).map(|(name, csr)| {
            let raw = &raw;
            async move {
                let key = Key::new();
                let kid = raw.account(&key).await;
                let order = json!({ "identifiers": [{ "type": "dns", "value": name }] });
                obtain(raw, &key, &kid, &order, csr).await
            }
        });
        let issued = futures_util::future::join_all(flows).await;
        let mut serials = std::collections::HashSet::new();
        for (name, chain) in names.iter().zip(&issued) {
            let cert = certwright_pki::cert::Cert::from_der(&chain[0]).unwrap();
            assert_eq!(cert.sans().unwrap(), vec![certwright_pki::names::San::Dns(name.clone())], "{name}");
            serials.insert(cert.serial_hex());
        }
        assert_eq!(serials.len(), 12, "twelve distinct certificates");

        // Two finalizes of one ready order at the same time: one is valid, the other orderNotReady.
        let key = Key::new();
        let kid = raw.account(&key).await;
        let order = json!({ "identifiers": [{ "type": "dns", "value": "race.example.test" }] });
        let r = raw.signed(&key, &raw.url("newOrder"), Some(&kid), Some(&order)).await;
        let order_url = r.location.unwrap();
        let authz = raw.signed(&key, r.body["authorizations"][0].as_str().unwrap(), Some(&kid), None).await;
        let chall = authz.body["challenges"][0]["url"].as_str().unwrap().to_owned();
        let answered = raw.signed(&key, &chall, Some(&kid), Some(&json!({}))).await;
        assert_eq!(answered.status, 200, "{}", answered.body);
        let mut ready = Value::Null;
        for _ in 0..100 {
            ready = raw.signed(&key, &order_url, Some(&kid), None).await.body;
            if ready["status"] == "ready" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let finalize = ready["finalize"].as_str().unwrap().to_owned();
        let body = json!({ "csr": B64.encode(csr(dir.path(), &["race.example.test"])) });
        let (a, b) = tokio::join!(
            raw.signed(&key, &finalize, Some(&kid), Some(&body)),
            raw.signed(&key, &finalize, Some(&kid), Some(&body))
        );
        let mut outcomes = vec![(a.status, problem(&a).to_owned()), (b.status, problem(&b).to_owned())];
        outcomes.sort();
        assert_eq!(outcomes, vec![(200, String::new()), (403, "orderNotReady".to_owned())], "{} {}", a.body, b.body);

        let listed = s.get_json("/v1/certificates?origin=acme", &s.admin_token).await;
        assert_eq!(listed["total"], 13, "{listed}");
        let report = s.services.verify_audit().await.unwrap();
        assert!(report.is_intact(), "{:?}", report.violations);
        // Per order: the account, the order, the validation, the certificate and the finalization.
        assert_eq!(report.events, audit_before + 13 * 5);
        s.stop().await;
    }
}

trusting_tests!(
    order_flow_issues_into_the_inventory_with_origin_acme,
    hostile_requests_get_the_right_acme_errors,
    external_account_binding_keys_bind_one_account,
    renewal_info_and_replaces,
    key_rollover_and_deactivation,
    openapi_lists_every_acme_route,
    concurrent_orders_share_commits_and_fail_alone,
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

/// A challenge response waits for a quick validation and answers with its outcome; with the wait off it answers
/// `processing` and asks the client to look again in a second. Either way a second response changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_challenge_response_answers_with_the_outcome_unless_the_wait_is_off() {
    for (wait_ms, expected, retry_after) in [(1000, "valid", None), (0, "processing", Some("1"))] {
        let s = TestServer::start_with(Backend::Sqlite, |c| {
            c.acme_insecure_always_valid = true;
            c.acme_validation_wait_ms = wait_ms;
        })
        .await;
        s.acme_profile("web", json!({ "enabled": true })).await;
        let raw = Raw::new(&s, "web").await;
        let key = Key::new();
        let kid = raw.account(&key).await;
        let order = json!({ "identifiers": [{"type": "dns", "value": "wait.example.test"}] });
        let r = raw.signed(&key, &raw.url("newOrder"), Some(&kid), Some(&order)).await;
        let authz_url = r.body["authorizations"][0].as_str().unwrap().to_owned();
        let authz = raw.signed(&key, &authz_url, Some(&kid), None).await;
        let chall = authz.body["challenges"][0]["url"].as_str().unwrap().to_owned();
        let r = raw.signed(&key, &chall, Some(&kid), Some(&json!({}))).await;
        assert_eq!(
            (r.status, r.body["status"].as_str(), r.retry_after.as_deref()),
            (200, Some(expected), retry_after),
            "wait {wait_ms} ms: {}",
            r.body
        );
        if expected == "valid" {
            assert!(r.body["validated"].is_string(), "{}", r.body);
            let authz = raw.signed(&key, &authz_url, Some(&kid), None).await;
            assert_eq!(authz.body["status"], "valid", "the first look finds it settled: {}", authz.body);
        }
        // Answering again queues nothing and changes nothing.
        let jobs_before = s.get_json("/v1/jobs?kind=acme.validate", &s.admin_token).await["total"].clone();
        let again = raw.signed(&key, &chall, Some(&kid), Some(&json!({}))).await;
        assert_eq!(again.status, 200, "{}", again.body);
        let jobs_after = s.get_json("/v1/jobs?kind=acme.validate", &s.admin_token).await["total"].clone();
        assert_eq!(jobs_before.as_u64(), Some(1), "one validation job");
        assert_eq!(jobs_before, jobs_after, "no second validation");
        s.stop().await;
    }
}
