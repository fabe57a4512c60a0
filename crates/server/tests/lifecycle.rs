//! The lifecycle through the API, on SQLite and PostgreSQL: a manual external CA (requests wait in
//! `pending_issue` until a certificate signed by openssl is uploaded; revocations wait in `pending_revoke`),
//! approvals (N approvers, never the requester), renew and rekey with their links, illegal transitions as typed
//! refusals with one audit event per transition, reports, and the job runner on two nodes of one PostgreSQL
//! database.

use certwright_testkit::{Backend, TestServer};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;

async fn call(s: &TestServer, method: &str, path: &str, token: &str, body: Option<Value>) -> (StatusCode, Value) {
    let req = match method {
        "GET" => s.http().get(s.at(path)),
        "DELETE" => s.http().delete(s.at(path)),
        _ => s.http().post(s.at(path)),
    };
    let req = req.bearer_auth(token);
    let req = match body {
        Some(b) => req.json(&b),
        None => req,
    };
    let resp = req.send().await.unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn openssl(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("openssl").current_dir(dir).args(args).output().expect("openssl is installed");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// An openssl CA (`ca.key`, `ca.pem`) and a CSR (`<name>.csr`) for `cn`.
fn openssl_ca(dir: &Path) {
    openssl(
        dir,
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
}

fn csr(dir: &Path, name: &str, cn: &str) -> String {
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
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
            "-subj",
            &format!("/CN={cn}"),
        ],
    );
    std::fs::read_to_string(dir.join(format!("{name}.csr"))).unwrap()
}

/// Signs `<name>.csr` with the openssl CA into `<name>.pem`.
fn sign(dir: &Path, name: &str) -> String {
    openssl(
        dir,
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
            "-out",
            &format!("{name}.pem"),
        ],
    );
    std::fs::read_to_string(dir.join(format!("{name}.pem"))).unwrap()
}

async fn events_of(s: &TestServer, id: &str) -> Vec<String> {
    let (_, v) = call(s, "GET", &format!("/v1/events?object_id={id}&limit=100"), &s.admin_token, None).await;
    let mut actions: Vec<String> =
        v["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap().to_owned()).collect();
    actions.reverse();
    actions
}

async fn profile(s: &TestServer, name: &str, authority: &str, policy: Value) {
    let body = json!({ "name": name, "authority": authority, "policy": policy });
    let (status, v) = call(s, "POST", "/v1/ra-profiles", &s.admin_token, Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
}

async fn default_authority(s: &TestServer) -> String {
    let (_, v) = call(s, "GET", "/v1/ra-profiles/default", &s.admin_token, None).await;
    v["authority"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn manual_external_ca_finalize_cancel_and_pending_revocations() {
    for backend in Backend::available() {
        let s = TestServer::start(backend).await;
        let dir = tempfile::tempdir().unwrap();
        openssl_ca(dir.path());
        let ca_pem = std::fs::read_to_string(dir.path().join("ca.pem")).unwrap();
        let body = json!({ "name": "outside", "external": { "type": "manual" }, "ca_certificate": ca_pem });
        let (status, ca) = call(&s, "POST", "/v1/authorities", &s.admin_token, Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{ca}");
        assert_eq!(ca["kind"], "external");
        assert_eq!(ca["connector"], "manual");
        profile(&s, "outside-tls", ca["id"].as_str().unwrap(), json!({})).await;

        // Issue: the request waits for the outside CA.
        let csr_pem = csr(dir.path(), "a", "a.example.com");
        let req = json!({ "ra_profile": "outside-tls", "csr": csr_pem });
        let (status, pending) = call(&s, "POST", "/v1/certificates", &s.admin_token, Some(req)).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{pending}");
        assert_eq!(pending["state"], "pending_issue");
        let id = pending["id"].as_str().unwrap().to_owned();
        let (status, _) = call(&s, "GET", &format!("/v1/certificates/{id}"), &s.admin_token, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "not a certificate yet");
        let (_, r) = call(&s, "GET", &format!("/v1/requests/{id}"), &s.admin_token, None).await;
        assert_eq!(r["state"], "pending_issue");

        // A certificate for another key is refused and changes nothing.
        csr(dir.path(), "other", "a.example.com");
        let wrong = sign(dir.path(), "other");
        let (status, v) = call(
            &s,
            "POST",
            &format!("/v1/certificates/{id}/finalize"),
            &s.admin_token,
            Some(json!({ "certificate": wrong })),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
        assert_eq!(v["code"], "finalize.key_mismatch", "{v}");
        let (_, r) = call(&s, "GET", &format!("/v1/requests/{id}"), &s.admin_token, None).await;
        assert_eq!(r["state"], "pending_issue");

        // The right one, signed by openssl, finalizes the request into a certificate with the request's id.
        let right = sign(dir.path(), "a");
        let (status, cert) = call(
            &s,
            "POST",
            &format!("/v1/certificates/{id}/finalize"),
            &s.admin_token,
            Some(json!({ "certificate": right })),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{cert}");
        assert_eq!(cert["id"], id.as_str());
        assert_eq!(cert["state"], "issued");
        assert_eq!(cert["authority"], ca["id"]);
        // Finalizing twice is an illegal transition.
        let (status, v) = call(
            &s,
            "POST",
            &format!("/v1/certificates/{id}/finalize"),
            &s.admin_token,
            Some(json!({ "certificate": right })),
        )
        .await;
        assert_eq!(status, StatusCode::CONFLICT, "{v}");
        assert_eq!(v["detail"], "Certificate is not in PENDING_ISSUE state", "{v}");
        assert_eq!(events_of(&s, &id).await, ["request.create", "request.submit", "certificate.finalize"]);

        // Revoking at an external authority waits for confirmation; cancel takes it back to issued.
        let (status, v) = call(
            &s,
            "POST",
            &format!("/v1/certificates/{id}/revoke"),
            &s.admin_token,
            Some(json!({ "reason": "superseded" })),
        )
        .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{v}");
        assert_eq!(v["state"], "pending_revoke");
        let (status, v) = call(
            &s,
            "POST",
            &format!("/v1/certificates/{id}/cancel"),
            &s.admin_token,
            Some(json!({ "reason": "revoked the wrong one" })),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{v}");
        assert_eq!(v["state"], "issued");
        // Again, and confirm: revoked with the reason asked for.
        call(
            &s,
            "POST",
            &format!("/v1/certificates/{id}/revoke"),
            &s.admin_token,
            Some(json!({ "reason": "keyCompromise" })),
        )
        .await;
        let (status, v) =
            call(&s, "POST", &format!("/v1/certificates/{id}/confirm-revoke"), &s.admin_token, None).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        assert_eq!(v["state"], "revoked");
        assert_eq!(v["revocation"]["reason"], "keyCompromise");
        let (status, v) =
            call(&s, "POST", &format!("/v1/certificates/{id}/confirm-revoke"), &s.admin_token, None).await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(v["detail"], "Certificate is not in PENDING_REVOKE state");
        assert_eq!(
            events_of(&s, &id).await,
            [
                "request.create",
                "request.submit",
                "certificate.finalize",
                "certificate.request_revoke",
                "revocation.cancel",
                "certificate.request_revoke",
                "certificate.confirm_revoke"
            ]
        );

        // A server-generated key: the CSR to send to the outside CA comes from certwright, signed with that key.
        let req = json!({ "ra_profile": "outside-tls", "common_name": "c.example.com", "sans": ["dns:c.example.com"] });
        let (status, pending) = call(&s, "POST", "/v1/certificates", &s.admin_token, Some(req)).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{pending}");
        let c = pending["id"].as_str().unwrap().to_owned();
        let csr_pem =
            s.http().get(s.at(&format!("/v1/requests/{c}/csr"))).bearer_auth(&s.admin_token).send().await.unwrap();
        assert_eq!(csr_pem.headers()["content-type"], "application/pkcs10");
        std::fs::write(dir.path().join("c.csr"), csr_pem.text().await.unwrap()).unwrap();
        let verified = Command::new("openssl")
            .current_dir(dir.path())
            .args(["req", "-in", "c.csr", "-verify", "-noout"])
            .output()
            .unwrap();
        assert!(verified.status.success(), "{}", String::from_utf8_lossy(&verified.stderr));
        let issued = sign(dir.path(), "c");
        let (status, v) = call(
            &s,
            "POST",
            &format!("/v1/certificates/{c}/finalize"),
            &s.admin_token,
            Some(json!({ "certificate": issued })),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{v}");
        assert!(v["private_key_pem"].is_null(), "the generated key stays here");

        // Cancel a pending issue: failed, with the reason; cancelling again is refused.
        csr(dir.path(), "b", "b.example.com");
        let req =
            json!({ "ra_profile": "outside-tls", "csr": std::fs::read_to_string(dir.path().join("b.csr")).unwrap() });
        let (_, pending) = call(&s, "POST", "/v1/certificates", &s.admin_token, Some(req)).await;
        let b = pending["id"].as_str().unwrap().to_owned();
        let long = "x".repeat(1001);
        let (status, _) =
            call(&s, "POST", &format!("/v1/certificates/{b}/cancel"), &s.admin_token, Some(json!({ "reason": long })))
                .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, v) = call(
            &s,
            "POST",
            &format!("/v1/certificates/{b}/cancel"),
            &s.admin_token,
            Some(json!({ "reason": "not needed" })),
        )
        .await;
        assert_eq!((status, v["state"].as_str()), (StatusCode::OK, Some("failed")), "{v}");
        let (_, r) = call(&s, "GET", &format!("/v1/requests/{b}"), &s.admin_token, None).await;
        assert_eq!((r["state"].as_str(), r["reason"].as_str()), (Some("failed"), Some("not needed")));
        let (status, _) =
            call(&s, "POST", &format!("/v1/certificates/{b}/cancel"), &s.admin_token, Some(json!({}))).await;
        assert_eq!(status, StatusCode::CONFLICT);
        // Requesters may not finalize.
        let requester = s.token_with_role("requester").await;
        let (status, _) = call(
            &s,
            "POST",
            &format!("/v1/certificates/{b}/finalize"),
            &requester,
            Some(json!({ "certificate": right })),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        s.stop().await;
    }
}

#[tokio::test]
async fn approvals_need_other_people_and_enough_of_them() {
    for backend in Backend::available() {
        let s = TestServer::start(backend).await;
        let authority = default_authority(&s).await;
        let policy = json!({ "approval": { "issue": true, "revoke": true, "approvers": 2 } });
        profile(&s, "guarded", &authority, policy).await;
        let requester = s.token_with_role("requester").await;
        let op1 = s.token_with_role("operator").await;
        let op2 = s.token_with_role("operator").await;

        let req = json!({ "ra_profile": "guarded", "common_name": "guarded.example.com" });
        let keyed = || {
            s.http()
                .post(s.at("/v1/certificates"))
                .bearer_auth(&requester)
                .header("idempotency-key", "guarded-1")
                .json(&req)
        };
        let first = keyed().send().await.unwrap();
        assert_eq!(first.status(), StatusCode::ACCEPTED);
        let pending: Value = first.json().await.unwrap();
        // A retry finds the waiting request instead of making another.
        let retry: Value = keyed().send().await.unwrap().json().await.unwrap();
        assert_eq!(retry["id"], pending["id"], "{retry}");
        assert_eq!(retry["state"], "pending_approval");
        assert_eq!(pending["state"], "pending_approval");
        let id = pending["id"].as_str().unwrap().to_owned();
        let approval = pending["approval"]["id"].as_str().unwrap().to_owned();
        assert_eq!(pending["approval"]["required"], 2);

        // A requester cannot decide; an operator decides once.
        let (status, _) =
            call(&s, "POST", &format!("/v1/approvals/{approval}/approve"), &requester, Some(json!({}))).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, v) =
            call(&s, "POST", &format!("/v1/approvals/{approval}/approve"), &op1, Some(json!({ "comment": "ok" })))
                .await;
        assert_eq!((status, v["status"].as_str()), (StatusCode::OK, Some("pending")), "{v}");
        let (status, v) = call(&s, "POST", &format!("/v1/approvals/{approval}/approve"), &op1, Some(json!({}))).await;
        assert_eq!((status, v["code"].as_str()), (StatusCode::CONFLICT, Some("approval.already_voted")), "{v}");
        let (status, v) = call(&s, "POST", &format!("/v1/approvals/{approval}/approve"), &op2, Some(json!({}))).await;
        assert_eq!((status, v["status"].as_str()), (StatusCode::OK, Some("approved")), "{v}");
        assert_eq!(v["votes"].as_array().unwrap().len(), 2);
        // The second approval issued it, under the request's id.
        let (status, cert) = call(&s, "GET", &format!("/v1/certificates/{id}"), &s.admin_token, None).await;
        assert_eq!(status, StatusCode::OK, "{cert}");
        assert_eq!(cert["state"], "issued");
        // Once issued, the retry gets the certificate.
        let replay = keyed().send().await.unwrap();
        assert_eq!(replay.status(), StatusCode::CREATED);
        assert_eq!(replay.headers()["idempotent-replayed"], "true");
        let replay: Value = replay.json().await.unwrap();
        assert_eq!(replay["id"], id.as_str());
        let actions = events_of(&s, &id).await;
        assert_eq!(actions, ["request.create", "request.pending_approval", "request.approve", "certificate.issue"]);

        // The operator who asks cannot approve their own request.
        let (_, pending) = call(&s, "POST", "/v1/certificates", &op1, Some(req.clone())).await;
        let own = pending["approval"]["id"].as_str().unwrap().to_owned();
        let (status, v) = call(&s, "POST", &format!("/v1/approvals/{own}/approve"), &op1, Some(json!({}))).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{v}");
        // One rejection is enough.
        let (status, v) =
            call(&s, "POST", &format!("/v1/approvals/{own}/reject"), &op2, Some(json!({ "comment": "no" }))).await;
        assert_eq!((status, v["status"].as_str()), (StatusCode::OK, Some("rejected")), "{v}");
        let rejected = pending["id"].as_str().unwrap();
        let (_, r) = call(&s, "GET", &format!("/v1/requests/{rejected}"), &s.admin_token, None).await;
        assert_eq!((r["state"].as_str(), r["reason"].as_str()), (Some("rejected"), Some("no")));
        let (status, _) = call(&s, "POST", &format!("/v1/approvals/{own}/approve"), &op2, Some(json!({}))).await;
        assert_eq!(status, StatusCode::CONFLICT, "a decided approval stays decided");

        // Revocation under approval: pending_revoke, then revoked once two operators agree.
        let (status, v) =
            call(&s, "POST", &format!("/v1/certificates/{id}/revoke"), &op1, Some(json!({ "reason": "superseded" })))
                .await;
        assert_eq!((status, v["state"].as_str()), (StatusCode::ACCEPTED, Some("pending_revoke")), "{v}");
        let (_, list) = call(&s, "GET", "/v1/approvals?status=pending", &s.admin_token, None).await;
        let revoke_approval = list["items"].as_array().unwrap().iter().find(|a| a["object"] == id.as_str()).unwrap()
            ["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let (status, _) =
            call(&s, "POST", &format!("/v1/certificates/{id}/confirm-revoke"), &s.admin_token, None).await;
        assert_eq!(status, StatusCode::CONFLICT, "confirming skips no approval");
        call(&s, "POST", &format!("/v1/approvals/{revoke_approval}/approve"), &op2, Some(json!({}))).await;
        let (_, v) =
            call(&s, "POST", &format!("/v1/approvals/{revoke_approval}/approve"), &s.admin_token, Some(json!({})))
                .await;
        assert_eq!(v["status"], "approved", "{v}");
        let (_, cert) = call(&s, "GET", &format!("/v1/certificates/{id}"), &s.admin_token, None).await;
        assert_eq!(cert["state"], "revoked");
        assert_eq!(cert["revocation"]["reason"], "superseded");
        s.stop().await;
    }
}

#[tokio::test]
async fn renew_keeps_the_key_rekey_changes_it_and_both_link_back() {
    for backend in Backend::available() {
        let s = TestServer::start(backend).await;
        let dir = tempfile::tempdir().unwrap();
        let req = json!({ "ra_profile": "default", "common_name": "svc.example.com", "sans": ["dns:svc.example.com"] });
        let (_, old) = call(&s, "POST", "/v1/certificates", &s.admin_token, Some(req)).await;
        let old_id = old["id"].as_str().unwrap().to_owned();
        let pubkey = |pem: &str, name: &str| {
            std::fs::write(dir.path().join(name), pem).unwrap();
            openssl(dir.path(), &["x509", "-in", name, "-noout", "-pubkey"])
        };
        let old_key = pubkey(old["certificate_pem"].as_str().unwrap(), "old.pem");

        let (status, renewed) = call(
            &s,
            "POST",
            &format!("/v1/certificates/{old_id}/renew"),
            &s.admin_token,
            Some(json!({ "validity_days": 10 })),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{renewed}");
        assert_ne!(renewed["id"], old["id"]);
        assert_ne!(renewed["serial"], old["serial"]);
        assert_eq!(renewed["sans"], old["sans"]);
        assert_eq!(pubkey(renewed["certificate_pem"].as_str().unwrap(), "renewed.pem"), old_key, "renew keeps the key");
        // openssl accepts it under the same chain.
        std::fs::write(dir.path().join("chain.pem"), renewed["chain_pem"].as_str().unwrap()).unwrap();
        openssl(dir.path(), &["verify", "-CAfile", "chain.pem", "renewed.pem"]);

        let (status, rekeyed) =
            call(&s, "POST", &format!("/v1/certificates/{old_id}/rekey"), &s.admin_token, Some(json!({}))).await;
        assert_eq!(status, StatusCode::CREATED, "{rekeyed}");
        assert_ne!(
            pubkey(rekeyed["certificate_pem"].as_str().unwrap(), "rekeyed.pem"),
            old_key,
            "rekey changes the key"
        );
        assert!(rekeyed["private_key_pem"].as_str().unwrap().contains("PRIVATE KEY"));

        // The old certificate stays issued and knows what replaced it.
        let (_, v) = call(&s, "GET", &format!("/v1/certificates/{old_id}"), &s.admin_token, None).await;
        assert_eq!(v["state"], "issued");
        let related = v["related"].as_array().unwrap();
        assert!(related.iter().any(|l| l["kind"] == "renewed_from" && l["certificate"] == renewed["id"]), "{v}");
        assert!(related.iter().any(|l| l["kind"] == "rekeyed_from" && l["certificate"] == rekeyed["id"]), "{v}");
        assert_eq!(events_of(&s, renewed["id"].as_str().unwrap()).await, ["certificate.renew"]);

        // A revoked certificate is neither renewed nor rekeyed.
        call(&s, "POST", &format!("/v1/certificates/{old_id}/revoke"), &s.admin_token, Some(json!({}))).await;
        let (status, v) =
            call(&s, "POST", &format!("/v1/certificates/{old_id}/renew"), &s.admin_token, Some(json!({}))).await;
        assert_eq!((status, v["code"].as_str()), (StatusCode::CONFLICT, Some("lifecycle.illegal_transition")), "{v}");
        s.stop().await;
    }
}

#[tokio::test]
async fn reports_count_and_list_what_expires() {
    for backend in Backend::available() {
        let s = TestServer::start(backend).await;
        for (cn, days) in [("soon.example.com", 5), ("later.example.com", 200)] {
            let req = json!({ "ra_profile": "default", "common_name": cn, "validity_days": days });
            let (status, _) = call(&s, "POST", "/v1/certificates", &s.admin_token, Some(req)).await;
            assert_eq!(status, StatusCode::CREATED);
        }
        let (status, v) = call(&s, "GET", "/v1/reports/expiring?within=30d", &s.admin_token, None).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        let names: Vec<&str> =
            v["certificates"].as_array().unwrap().iter().filter_map(|c| c["common_name"].as_str()).collect();
        assert!(names.contains(&"soon.example.com") && !names.contains(&"later.example.com"), "{names:?}");
        let csv = s
            .http()
            .get(s.at("/v1/reports/expiring?within=30&format=csv"))
            .bearer_auth(&s.admin_token)
            .send()
            .await
            .unwrap();
        assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
        let text = csv.text().await.unwrap();
        assert!(text.starts_with("id,common_name,serial,not_after"), "{text}");
        assert!(text.contains("soon.example.com") && !text.contains("later.example.com"));
        let (status, v) = call(&s, "GET", "/v1/reports/expiring?within=soon", &s.admin_token, None).await;
        assert_eq!((status, v["code"].as_str()), (StatusCode::BAD_REQUEST, Some("report.invalid_within")));

        let (_, sum) = call(&s, "GET", "/v1/reports/summary", &s.admin_token, None).await;
        assert!(sum["by_validation_status"]["expiring"].as_u64().unwrap() >= 1, "{sum}");
        assert!(sum["by_expiry"]["0-7d"].as_u64().unwrap() >= 1, "{sum}");
        assert_eq!(sum["total"], sum["by_state"]["issued"], "{sum}");
        let csv = s
            .http()
            .get(s.at("/v1/reports/summary"))
            .header("accept", "text/csv")
            .bearer_auth(&s.admin_token)
            .send()
            .await
            .unwrap();
        let text = csv.text().await.unwrap();
        assert!(text.starts_with("dimension,key,count\r\n"), "{text}");
        assert!(text.contains("expiry,0-7d,"), "{text}");
        s.stop().await;
    }
}

#[tokio::test]
async fn illegal_moves_are_typed_refusals_that_leave_no_trace() {
    for backend in Backend::available() {
        let s = TestServer::start(backend).await;
        let req = json!({ "ra_profile": "default", "common_name": "x.example.com" });
        let (_, cert) = call(&s, "POST", "/v1/certificates", &s.admin_token, Some(req)).await;
        let id = cert["id"].as_str().unwrap().to_owned();
        let before = events_of(&s, &id).await;
        for (action, body, detail) in [
            ("confirm-revoke", None, "Certificate is not in PENDING_REVOKE state"),
            (
                "finalize",
                Some(json!({ "certificate": cert["certificate_pem"] })),
                "Certificate is not in PENDING_ISSUE state",
            ),
            (
                "cancel",
                Some(json!({})),
                "Certificate is in ISSUED state; cancel needs one of PENDING_ISSUE, PENDING_REVOKE",
            ),
        ] {
            let (status, v) = call(&s, "POST", &format!("/v1/certificates/{id}/{action}"), &s.admin_token, body).await;
            assert_eq!(status, StatusCode::CONFLICT, "{action}: {v}");
            assert_eq!(v["code"], "lifecycle.illegal_transition", "{action}: {v}");
            assert_eq!(v["detail"], detail, "{action}");
        }
        assert_eq!(events_of(&s, &id).await, before, "refusals write no event");
        let (status, _) = call(
            &s,
            "POST",
            "/v1/approvals/00000000-0000-0000-0000-000000000000/approve",
            &s.admin_token,
            Some(json!({})),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, v) = call(&s, "GET", "/v1/requests?state=revoked", &s.admin_token, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
        s.stop().await;
    }
}

/// Two nodes on one PostgreSQL database drain 1,000 renewal jobs: every job runs once, every certificate is
/// renewed once.
#[tokio::test]
async fn two_nodes_run_each_job_once() {
    let Some(base) = certwright_store::testing::postgres_url() else {
        eprintln!("PostgreSQL tests are off (CERTWRIGHT_TEST_POSTGRES_URL unset)");
        return;
    };
    let url = certwright_store::testing::fresh_postgres_schema(&base).await.expect("PostgreSQL for tests");
    let db = url.clone();
    let s = TestServer::start_with(Backend::Postgres, move |c| {
        c.database_url = Some(db);
        c.expiry_scan_seconds = 86_400;
    })
    .await;
    let authority = default_authority(&s).await;
    profile(
        &s,
        "auto",
        &authority,
        json!({ "auto_renew": true, "renewal_window_days": 20, "max_validity_days": 365,
        "default_validity_days": 30 }),
    )
    .await;
    let ctx = certwright_core::auth::Ctx::system();
    for i in 0..1000 {
        let req = certwright_core::services::IssueRequest {
            ra_profile: "auto".to_owned(),
            common_name: Some(format!("n{i}.example.com")),
            validity_days: Some(10),
            ..Default::default()
        };
        s.services.issue(&ctx, req).await.expect("issue");
    }
    // A second node: the same data directory (master key) and database, another node id.
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
    // (The first node's own runner may already have queued some at its start-up scan.)
    s.services.expiry_scan().await.expect("scan");
    let again = node2.expiry_scan().await.expect("scan");
    assert_eq!(again["renewals_queued"], 0, "a second scan queues nothing new: {again}");
    let drain = |services: std::sync::Arc<certwright_core::services::Services<certwright_store::SqlStore>>| async move {
        let mut ran = 0;
        let mut idle = 0;
        while idle < 3 {
            match services.run_due_jobs().await.expect("run jobs") {
                0 => {
                    idle += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
                n => {
                    ran += n;
                    idle = 0;
                }
            }
        }
        ran
    };
    let started = std::time::Instant::now();
    let (a, b) = tokio::join!(drain(s.services.clone()), drain(node2.clone()));
    eprintln!(
        "1000 renewal jobs drained in {:?}: node 1 ran {a}, node 2 ran {b} (plus node 1's own runner)",
        started.elapsed()
    );
    assert!(a > 0 && b > 0, "both nodes worked: {a} + {b}");
    let page = certwright_core::page::Page::new(Some(1), None).unwrap();
    let filter =
        |state| certwright_core::jobs::JobFilter { state: Some(state), kind: Some("certificate.renew".to_owned()) };
    let done = s.services.list_jobs(&ctx, &filter(certwright_core::jobs::JobState::Succeeded), page).await.unwrap();
    assert_eq!(done.total, 1000);
    let (_, sum) = call(&s, "GET", "/v1/reports/summary", &s.admin_token, None).await;
    let (_, profiles) = call(&s, "GET", "/v1/ra-profiles/auto", &s.admin_token, None).await;
    let filter = format!("/v1/certificates?ra_profile={}&limit=1", profiles["id"].as_str().unwrap());
    let (_, list) = call(&s, "GET", &filter, &s.admin_token, None).await;
    assert_eq!(list["total"], 2000, "every certificate renewed exactly once: {sum}");
    // Nothing is left to renew: every certificate has its successor, which lies outside the window.
    let third = s.services.expiry_scan().await.unwrap();
    assert_eq!(third["renewals_queued"], 0, "{third}");
    s.stop().await;
}
