//! Issuance under concurrency: certificates requested at the same time are committed together (group commit)
//! and each one is stored, audited on an unbroken hash chain and answered exactly once; concurrent retries with
//! one idempotency key all get the same certificate.

use certwright_testkit::TestServer;
use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::HashSet;

async fn issue(s: &TestServer, body: Value, idempotency_key: Option<&str>) -> (StatusCode, Value) {
    let mut req = s.http().post(s.at("/v1/certificates")).bearer_auth(&s.admin_token).json(&body);
    if let Some(key) = idempotency_key {
        req = req.header("Idempotency-Key", key);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap())
}

async fn total(s: &TestServer) -> u64 {
    s.get_json("/v1/certificates?limit=1", &s.admin_token).await["total"].as_u64().unwrap()
}

mod cases {
    use super::*;

    pub async fn concurrent_requests_are_all_stored_and_audited_once(s: TestServer) {
        let before = total(&s).await;
        let audit_before = s.services.verify_audit().await.unwrap().events;
        let requests = (0..48).map(|i| {
            let s = &s;
            async move {
                let body = json!({ "ra_profile": "default", "common_name": format!("host{i}.example.com"),
                                   "sans": [format!("dns:host{i}.example.com")] });
                issue(s, body, None).await
            }
        });
        let answers = join_all(requests).await;
        let mut uuids = HashSet::new();
        let mut serials = HashSet::new();
        for (i, (status, body)) in answers.iter().enumerate() {
            assert_eq!(*status, StatusCode::CREATED, "{body}");
            assert_eq!(body["common_name"], format!("host{i}.example.com"), "each caller gets its own certificate");
            uuids.insert(body["id"].as_str().unwrap().to_owned());
            serials.insert(body["serial"].as_str().unwrap().to_owned());
            // Acknowledged means stored: it can be read back at once.
            let path = format!("/v1/certificates/{}", body["id"].as_str().unwrap());
            assert_eq!(s.get_json(&path, &s.admin_token).await["serial"], body["serial"]);
        }
        assert_eq!((uuids.len(), serials.len()), (48, 48));
        assert_eq!(total(&s).await, before + 48);
        let report = s.services.verify_audit().await.unwrap();
        assert!(report.is_intact(), "{:?}", report.violations);
        assert_eq!(report.events, audit_before + 48, "one event per certificate");
    }

    pub async fn a_crmf_request_from_openssl_cmp_is_issued_like_a_csr(s: TestServer) {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let run = |args: &[&str]| {
            let out = std::process::Command::new("openssl").current_dir(d).args(args).output().unwrap();
            assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        };
        run(&[
            "req",
            "-x509",
            "-new",
            "-nodes",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-keyout",
            "k.pem",
            "-out",
            "c.pem",
            "-subj",
            "/CN=Test CA",
            "-days",
            "1",
        ]);
        run(&[
            "cmp",
            "-cmd",
            "cr",
            "-newkey",
            "k.pem",
            "-subject",
            "/CN=crmf.example.com",
            "-sans",
            "crmf.example.com",
            "-use_mock_srv",
            "-srv_ref",
            "mock",
            "-srv_secret",
            "pass:test",
            "-ref",
            "client",
            "-secret",
            "pass:test",
            "-rsp_cert",
            "c.pem",
            "-recipient",
            "/CN=Test CA",
            "-disable_confirm",
            "-certout",
            "issued.pem",
            "-reqout",
            "req.der",
        ]);
        use base64::Engine;
        let req = base64::engine::general_purpose::STANDARD.encode(std::fs::read(d.join("req.der")).unwrap());
        let (status, body) = issue(&s, json!({ "ra_profile": "default", "csr": req }), None).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["common_name"], "crmf.example.com");
        assert_eq!(body["sans"], json!(["dns:crmf.example.com"]));

        // The same message with a requested name changed after signing fails its proof of possession: refused, and
        // nothing is stored.
        let before = total(&s).await;
        let mut der = std::fs::read(d.join("req.der")).unwrap();
        let at = der.windows(4).rposition(|w| w == b"crmf").unwrap();
        der[at] = b'x';
        let bad = base64::engine::general_purpose::STANDARD.encode(der);
        let (status, body) = issue(&s, json!({ "ra_profile": "default", "csr": bad }), None).await;
        assert!(status.is_client_error(), "{status} {body}");
        assert_eq!(total(&s).await, before);
    }

    pub async fn concurrent_retries_with_one_idempotency_key_get_one_certificate(s: TestServer) {
        let before = total(&s).await;
        let body = json!({ "ra_profile": "default", "common_name": "once.example.com",
                           "sans": ["dns:once.example.com"] });
        let answers = join_all((0..12).map(|_| issue(&s, body.clone(), Some("retry-42")))).await;
        let uuids: HashSet<&str> = answers
            .iter()
            .map(|(status, body)| {
                assert!(status.is_success(), "{status} {body}");
                body["id"].as_str().unwrap()
            })
            .collect();
        assert_eq!(uuids.len(), 1, "every retry answers with the first certificate");
        assert_eq!(total(&s).await, before + 1);
        assert!(s.services.verify_audit().await.unwrap().is_intact());
    }
}

certwright_testkit::backend_tests!(
    concurrent_requests_are_all_stored_and_audited_once,
    concurrent_retries_with_one_idempotency_key_get_one_certificate,
    a_crmf_request_from_openssl_cmp_is_issued_like_a_csr,
);
