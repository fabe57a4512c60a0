//! RA profiles changed and deleted through the API, legacy keys and CSR digests under their policy (with CSRs
//! made by `openssl req`), certificate owner and labels set with merge patches, and the inventory sorted and walked
//! page by page with keyset cursors.

use certwright_testkit::TestServer;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::path::Path;
use std::process::Command;

fn openssl(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("openssl").current_dir(dir).args(args).output().expect("openssl is installed");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "openssl {args:?}: {text}");
    text
}

/// A CSR for CN=`cn` made by `openssl req` with `args` choosing the key and digest.
fn csr(dir: &Path, name: &str, args: &[&str], cn: &str) -> String {
    let (csr, key) = (format!("{name}.csr"), format!("{name}.key"));
    let subj = format!("/CN={cn}");
    let mut all = vec!["req", "-new", "-nodes", "-keyout", &key, "-out", &csr, "-subj", &subj];
    all.extend_from_slice(args);
    openssl(dir, &all);
    std::fs::read_to_string(dir.join(csr)).unwrap()
}

async fn send(
    s: &TestServer,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut req = s.http().request(method, s.at(path)).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    req.send().await.unwrap()
}

async fn post(s: &TestServer, path: &str, body: Value) -> reqwest::Response {
    send(s, reqwest::Method::POST, path, &s.admin_token, Some(body)).await
}

async fn put(s: &TestServer, path: &str, body: Value) -> reqwest::Response {
    send(s, reqwest::Method::PUT, path, &s.admin_token, Some(body)).await
}

async fn patch(s: &TestServer, path: &str, token: &str, body: Value) -> reqwest::Response {
    send(s, reqwest::Method::PATCH, path, token, Some(body)).await
}

async fn delete(s: &TestServer, path: &str) -> reqwest::Response {
    send(s, reqwest::Method::DELETE, path, &s.admin_token, None).await
}

/// Asserts a problem+json answer with `status` and returns its body.
async fn problem(resp: reqwest::Response, status: StatusCode) -> Value {
    assert_eq!(resp.status(), status);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    resp.json().await.unwrap()
}

async fn code(resp: reqwest::Response, status: StatusCode) -> String {
    problem(resp, status).await["code"].as_str().unwrap().to_owned()
}

async fn created(resp: reqwest::Response) -> Value {
    let status = resp.status();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

async fn authority(s: &TestServer, name: &str) -> Value {
    let all = s.get_json("/v1/authorities", &s.admin_token).await;
    all["items"].as_array().unwrap().iter().find(|a| a["name"] == name).unwrap().clone()
}

async fn profile(s: &TestServer, name: &str, policy: Value) -> Value {
    let issuing = authority(s, "issuing").await;
    created(post(s, "/v1/ra-profiles", json!({"name": name, "authority": issuing["id"], "policy": policy})).await).await
}

async fn issue(s: &TestServer, body: Value) -> reqwest::Response {
    post(s, "/v1/certificates", body).await
}

mod cases {
    use super::*;

    pub async fn put_replaces_the_policy_and_the_next_issuance_obeys_it(s: TestServer) {
        let web = profile(&s, "web", json!({"max_validity_days": 397})).await;
        assert_eq!(web["enabled"], true);
        let body = json!({"ra_profile": "web", "common_name": "a.example.com", "validity_days": 100});
        created(issue(&s, body.clone()).await).await;

        let changed =
            put(&s, "/v1/ra-profiles/web", json!({"policy": {"max_validity_days": 30, "default_validity_days": 10}}))
                .await;
        assert_eq!(changed.status(), StatusCode::OK);
        let changed: Value = changed.json().await.unwrap();
        assert_eq!(changed["id"], web["id"]);
        assert_eq!(changed["policy"]["max_validity_days"], 30);
        assert_eq!(changed["policy"]["allowed_domains"], json!([]), "omitted fields take their defaults");
        assert_eq!(changed["authority"], web["authority"], "the authority stays when not given");
        // The very next request sees the new policy (no stale snapshot).
        assert_eq!(code(issue(&s, body.clone()).await, StatusCode::BAD_REQUEST).await, "policy.validity_too_long");
        let by_id = s.get_json(&format!("/v1/ra-profiles/{}", web["id"].as_str().unwrap()), &s.admin_token).await;
        assert_eq!(by_id["policy"]["max_validity_days"], 30);
        let ten = created(issue(&s, json!({"ra_profile": "web", "common_name": "b.example.com"})).await).await;
        assert_eq!(ten["validation_status"], "expiring", "10 days is inside the 30-day window");

        // Another authority that holds a key: issuance now chains to it.
        let root = authority(&s, "root").await;
        let moved = put(&s, "/v1/ra-profiles/web", json!({"policy": {}, "authority": root["id"]})).await;
        assert_eq!(moved.status(), StatusCode::OK);
        let by_root = created(issue(&s, json!({"ra_profile": "web", "common_name": "c.example.com"})).await).await;
        assert_eq!(by_root["authority"], root["id"]);
        assert_eq!(by_root["issuer"], root["subject"]);

        // Disabled: nothing is issued, the certificates stay linked.
        let off = put(&s, "/v1/ra-profiles/web", json!({"policy": {}, "enabled": false})).await;
        assert_eq!(off.json::<Value>().await.unwrap()["enabled"], false);
        let refused = issue(&s, json!({"ra_profile": "web", "common_name": "d.example.com"})).await;
        assert_eq!(code(refused, StatusCode::CONFLICT).await, "ra_profile.disabled");
        let still = put(&s, "/v1/ra-profiles/web", json!({"policy": {"renewal_window_days": 5}})).await;
        assert_eq!(still.json::<Value>().await.unwrap()["enabled"], false, "absent enabled keeps the flag");

        // Refusals.
        let cases = [
            (json!({"policy": {"max_validity_days": 0}}), StatusCode::BAD_REQUEST, "ra_profile.invalid_policy"),
            (json!({"policy": {"teleport": true}}), StatusCode::BAD_REQUEST, "ra_profile.invalid_policy"),
            (json!({"policy": {"allowed_digests": ["sha1"]}}), StatusCode::BAD_REQUEST, "ra_profile.invalid_policy"),
            (json!({"policy": {}, "authority": uuid_zero()}), StatusCode::NOT_FOUND, "authority.not_found"),
            (json!({"policy": {}, "name": "renamed"}), StatusCode::UNPROCESSABLE_ENTITY, "request.invalid_json"),
            (json!({"authority": root["id"]}), StatusCode::UNPROCESSABLE_ENTITY, "request.invalid_json"),
        ];
        for (body, status, expected) in cases {
            assert_eq!(code(put(&s, "/v1/ra-profiles/web", body.clone()).await, status).await, expected, "{body}");
        }
        assert_eq!(
            code(put(&s, "/v1/ra-profiles/nope", json!({"policy": {}})).await, StatusCode::NOT_FOUND).await,
            "ra_profile.not_found"
        );
        let operator = s.token_with_role("operator").await;
        let denied =
            send(&s, reqwest::Method::PUT, "/v1/ra-profiles/web", &operator, Some(json!({"policy": {}}))).await;
        assert_eq!(code(denied, StatusCode::FORBIDDEN).await, "auth.forbidden");
        let seen = s.get_json("/v1/ra-profiles/web", &operator).await;
        assert_eq!(seen["policy"]["renewal_window_days"], 5, "every role reads profiles");

        let events = s.get_json("/v1/events?action=ra_profile.update", &s.admin_token).await;
        assert_eq!(events["total"], 4, "{events}");
        let first = &events["items"][3]["details"];
        assert_eq!(first["previous_policy"]["max_validity_days"], 397);
        assert_eq!(first["policy"]["max_validity_days"], 30);
        assert_eq!(events["items"][2]["details"]["authority_changed"], true);
    }

    pub async fn delete_refuses_used_and_default_profiles(s: TestServer) {
        profile(&s, "used", json!({})).await;
        created(issue(&s, json!({"ra_profile": "used", "common_name": "u.example.com"})).await).await;
        let refused = problem(delete(&s, "/v1/ra-profiles/used").await, StatusCode::CONFLICT).await;
        assert_eq!(refused["code"], "ra_profile.in_use");
        assert!(refused["detail"].as_str().unwrap().contains("1 certificate"), "{refused}");
        assert_eq!(s.get_json("/v1/ra-profiles/used", &s.admin_token).await["name"], "used", "still there");

        let spare = profile(&s, "spare", json!({})).await;
        let path = format!("/v1/ra-profiles/{}", spare["id"].as_str().unwrap());
        assert_eq!(delete(&s, &path).await.status(), StatusCode::NO_CONTENT);
        assert_eq!(
            code(s.http().get(s.at(&path)).bearer_auth(&s.admin_token).send().await.unwrap(), StatusCode::NOT_FOUND)
                .await,
            "ra_profile.not_found"
        );
        assert_eq!(code(delete(&s, &path).await, StatusCode::NOT_FOUND).await, "ra_profile.not_found");
        let gone = issue(&s, json!({"ra_profile": "spare", "common_name": "s.example.com"})).await;
        assert_eq!(code(gone, StatusCode::NOT_FOUND).await, "ra_profile.not_found");
        // The name is free again.
        profile(&s, "spare", json!({})).await;

        assert_eq!(
            code(delete(&s, "/v1/ra-profiles/default").await, StatusCode::CONFLICT).await,
            "ra_profile.protected"
        );
        let requester = s.token_with_role("requester").await;
        let denied = send(&s, reqwest::Method::DELETE, "/v1/ra-profiles/used", &requester, None).await;
        assert_eq!(code(denied, StatusCode::FORBIDDEN).await, "auth.forbidden");

        let events = s.get_json("/v1/events?action=ra_profile.delete", &s.admin_token).await;
        assert_eq!(events["total"], 1);
        assert_eq!(events["items"][0]["object_id"], spare["id"]);
        assert_eq!(events["items"][0]["details"]["name"], "spare");
        let names: Vec<Value> = s.get_json("/v1/ra-profiles", &s.admin_token).await["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].clone())
            .collect();
        assert_eq!(names, [json!("default"), json!("spare"), json!("used")]);
    }

    pub async fn legacy_keys_and_digests_follow_the_profile(s: TestServer) {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let rsa1024 = csr(d, "rsa1024", &["-newkey", "rsa:1024"], "old.example.com");
        let sha1 = csr(d, "sha1", &["-newkey", "rsa:2048", "-sha1"], "sha1.example.com");
        let sha256 = csr(d, "sha256", &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"], "new.example.com");
        let sha384 =
            csr(d, "sha384", &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384", "-sha384"], "b.example.com");
        assert!(openssl(d, &["req", "-in", "sha1.csr", "-noout", "-text"]).contains("sha1WithRSAEncryption"));

        // The default profile refuses both, naming the flag that would admit them.
        let key =
            problem(issue(&s, json!({"ra_profile": "default", "csr": rsa1024})).await, StatusCode::BAD_REQUEST).await;
        assert_eq!(key["code"], "policy.key_too_small");
        assert!(key["detail"].as_str().unwrap().contains("allow_legacy_algorithms"), "{key}");
        let digest =
            problem(issue(&s, json!({"ra_profile": "default", "csr": sha1})).await, StatusCode::BAD_REQUEST).await;
        assert_eq!(digest["code"], "policy.digest_not_allowed");
        assert!(digest["detail"].as_str().unwrap().contains("allow_legacy_algorithms"), "{digest}");
        // min_rsa_bits alone does not admit a legacy key size.
        profile(&s, "low", json!({"min_rsa_bits": 1024})).await;
        let low = issue(&s, json!({"ra_profile": "low", "csr": rsa1024})).await;
        assert_eq!(code(low, StatusCode::BAD_REQUEST).await, "policy.key_too_small");

        profile(&s, "legacy", json!({"allow_legacy_algorithms": true, "min_rsa_bits": 1024})).await;
        let old = created(issue(&s, json!({"ra_profile": "legacy", "csr": rsa1024})).await).await;
        assert_eq!(old["key_algorithm"], "rsa-1024");
        std::fs::write(d.join("old.pem"), old["certificate_pem"].as_str().unwrap()).unwrap();
        assert!(openssl(d, &["x509", "-in", "old.pem", "-noout", "-text"]).contains("(1024 bit)"));
        let signed_sha1 = created(issue(&s, json!({"ra_profile": "legacy", "csr": sha1})).await).await;
        assert_eq!(signed_sha1["signature_algorithm"], "ecdsa-sha256", "the CA still signs with its own digest");

        // allowed_digests restricts the CSR's digest.
        profile(&s, "strict", json!({"allowed_digests": ["sha384", "sha512"]})).await;
        let refused = issue(&s, json!({"ra_profile": "strict", "csr": sha256})).await;
        assert_eq!(code(refused, StatusCode::BAD_REQUEST).await, "policy.digest_not_allowed");
        created(issue(&s, json!({"ra_profile": "strict", "csr": sha384})).await).await;

        // A legacy-enabled profile still honours allowed_digests.
        let both = json!({"allow_legacy_algorithms": true, "allowed_digests": ["sha256"]});
        let legacy_strict = put(&s, "/v1/ra-profiles/legacy", json!({"policy": both})).await;
        assert_eq!(legacy_strict.status(), StatusCode::OK);
        let refused = issue(&s, json!({"ra_profile": "legacy", "csr": sha1})).await;
        assert_eq!(code(refused, StatusCode::BAD_REQUEST).await, "policy.digest_not_allowed");
    }

    pub async fn dsa_requests_need_the_legacy_flag(s: TestServer) {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        openssl(
            d,
            &["genpkey", "-genparam", "-algorithm", "DSA", "-pkeyopt", "dsa_paramgen_bits:2048", "-out", "dsa.param"],
        );
        openssl(d, &["genpkey", "-paramfile", "dsa.param", "-out", "dsa.key"]);
        openssl(d, &["req", "-new", "-key", "dsa.key", "-sha256", "-subj", "/CN=dsa.example.com", "-out", "dsa.csr"]);
        let pem = std::fs::read_to_string(d.join("dsa.csr")).unwrap();
        let refused =
            problem(issue(&s, json!({"ra_profile": "default", "csr": pem})).await, StatusCode::BAD_REQUEST).await;
        assert_eq!(refused["code"], "policy.key_algorithm_not_allowed");
        assert!(refused["detail"].as_str().unwrap().contains("allow_legacy_algorithms"), "{refused}");
        profile(&s, "legacy", json!({"allow_legacy_algorithms": true})).await;
        let issued = created(issue(&s, json!({"ra_profile": "legacy", "csr": pem})).await).await;
        assert_eq!(issued["key_algorithm"], "dsa-2048");
        std::fs::write(d.join("dsa.pem"), issued["certificate_pem"].as_str().unwrap()).unwrap();
        assert!(openssl(d, &["x509", "-in", "dsa.pem", "-noout", "-text"]).contains("dsaEncryption"));
    }

    pub async fn owner_and_labels_are_patched_then_filtered_on(s: TestServer) {
        let requester = s.token_with_role("requester").await;
        let mine = created(
            send(
                &s,
                reqwest::Method::POST,
                "/v1/certificates",
                &requester,
                Some(json!({"ra_profile": "default", "common_name": "mine.example.com", "key_algorithm": "rsa-2048"})),
            )
            .await,
        )
        .await;
        let other =
            created(issue(&s, json!({"ra_profile": "default", "common_name": "other.example.com"})).await).await;
        let id = other["id"].as_str().unwrap();
        let path = format!("/v1/certificates/{id}");
        assert_eq!(other["owner"], Value::Null);
        assert_eq!(other["labels"], json!({}));

        let body = json!({"owner": "team-payments", "labels": {"env": "prod", "app.tier": "web-1"},
                          "custom_attributes": {"cmdb": {"ci": "CI0042", "zone": "eu"}}});
        let resp = patch(&s, &path, &s.admin_token, body).await;
        assert_eq!(resp.status(), StatusCode::OK);
        let patched: Value = resp.json().await.unwrap();
        assert_eq!(patched["owner"], "team-payments");
        assert_eq!(patched["labels"], json!({"env": "prod", "app.tier": "web-1"}));
        assert_eq!(patched["serial"], other["serial"], "the certificate itself does not change");
        assert!(patched["chain_pem"].as_str().unwrap().contains("BEGIN CERTIFICATE"));

        let list = |q: &str| {
            let path = format!("/v1/certificates?{q}");
            let s = &s;
            async move { s.get_json(&path, &s.admin_token).await }
        };
        let by_owner = list("owner=team-payments").await;
        assert_eq!(by_owner["total"], 1);
        assert_eq!(by_owner["items"][0]["id"], other["id"]);
        assert_eq!(by_owner["items"][0]["custom_attributes"]["cmdb"]["ci"], "CI0042");
        assert_eq!(list("label=env:prod").await["items"][0]["id"], other["id"]);
        assert_eq!(list("label=env:prod&owner=team-payments&origin=request").await["total"], 1);
        assert_eq!(list("label=env:dev").await["total"], 0);
        assert_eq!(list("label=app.tier:web-1").await["total"], 1);
        assert_eq!(list("owner=team").await["total"], 0, "owner matches exactly");

        // Merge patch: null removes one label, others stay; attributes merge recursively.
        let body = json!({"labels": {"env": null, "team": "payments"}, "custom_attributes": {"cmdb": {"zone": null}}});
        let patched: Value = patch(&s, &path, &s.admin_token, body).await.json().await.unwrap();
        assert_eq!(patched["owner"], "team-payments", "absent fields stay");
        assert_eq!(patched["labels"], json!({"app.tier": "web-1", "team": "payments"}));
        assert_eq!(patched["custom_attributes"], json!({"cmdb": {"ci": "CI0042"}}));
        assert_eq!(list("label=env:prod").await["total"], 0);
        assert_eq!(list("label=team:payments").await["total"], 1);

        let events = s.get_json(&format!("/v1/events?action=certificate.update&object_id={id}"), &s.admin_token).await;
        assert_eq!(events["total"], 2);
        let last = &events["items"][0]["details"];
        assert_eq!(last["labels"], json!({"set": {"team": "payments"}, "removed": ["env"]}), "{last}");
        assert_eq!(last["custom_attributes"]["changed_keys"], json!(["cmdb"]));
        assert!(last.get("owner").is_none(), "unchanged fields are not listed");
        assert_eq!(events["items"][1]["details"]["owner"]["to"], "team-payments");
        // A patch that changes nothing is not an event.
        assert_eq!(patch(&s, &path, &s.admin_token, json!({"owner": "team-payments"})).await.status(), StatusCode::OK);
        let events = s.get_json("/v1/events?action=certificate.update", &s.admin_token).await;
        assert_eq!(events["total"], 2);

        // Requesters change only what they requested; auditors nothing.
        let denied = patch(&s, &path, &requester, json!({"owner": "me"})).await;
        assert_eq!(code(denied, StatusCode::FORBIDDEN).await, "auth.forbidden");
        let own = patch(
            &s,
            &format!("/v1/certificates/{}", mine["id"].as_str().unwrap()),
            &requester,
            json!({"owner": "me"}),
        )
        .await;
        assert_eq!(own.status(), StatusCode::OK);
        let auditor = s.token_with_role("auditor").await;
        assert_eq!(code(patch(&s, &path, &auditor, json!({})).await, StatusCode::FORBIDDEN).await, "auth.forbidden");

        // Other filters: key algorithm (a family matches every size) and state.
        assert_eq!(list("key_algorithm=rsa").await["items"][0]["id"], mine["id"]);
        assert_eq!(list("key_algorithm=rsa-2048").await["total"], 1);
        assert_eq!(list("key_algorithm=ecdsa-p256&origin=request").await["total"], 1);
        assert_eq!(list("state=issued").await["total"], 3, "both and the server's own certificate");
        assert_eq!(list("state=revoked").await["total"], 0);

        // Removing everything.
        let cleared =
            patch(&s, &path, &s.admin_token, json!({"owner": null, "labels": null, "custom_attributes": null})).await;
        let cleared: Value = cleared.json().await.unwrap();
        assert_eq!((cleared["owner"].clone(), cleared["labels"].clone()), (Value::Null, json!({})));
        assert_eq!(cleared["custom_attributes"], json!({}));
        assert_eq!(list("label=team:payments").await["total"], 0);

        // Hostile or malformed input: 4xx problems, nothing stored.
        let many: serde_json::Map<String, Value> = (0..51).map(|i| (format!("k{i}"), json!("v"))).collect();
        let bad = [
            (json!({"labels": {"Env": "x"}}), StatusCode::BAD_REQUEST, "certificate.invalid_labels"),
            (json!({"labels": {"k": "v".repeat(257)}}), StatusCode::BAD_REQUEST, "certificate.invalid_labels"),
            (json!({"labels": many}), StatusCode::BAD_REQUEST, "certificate.invalid_labels"),
            (json!({"owner": ""}), StatusCode::BAD_REQUEST, "certificate.invalid_owner"),
            (
                json!({"custom_attributes": {"x": "y".repeat(17_000)}}),
                StatusCode::BAD_REQUEST,
                "certificate.invalid_custom_attributes",
            ),
            (json!({"labels": {"k": 1}}), StatusCode::UNPROCESSABLE_ENTITY, "request.invalid_json"),
            (json!({"labels": ["k"]}), StatusCode::UNPROCESSABLE_ENTITY, "request.invalid_json"),
            (json!({"custom_attributes": [1]}), StatusCode::UNPROCESSABLE_ENTITY, "request.invalid_json"),
            (json!({"serial": "00"}), StatusCode::UNPROCESSABLE_ENTITY, "request.invalid_json"),
            (json!(["owner"]), StatusCode::UNPROCESSABLE_ENTITY, "request.invalid_json"),
        ];
        for (body, status, expected) in bad {
            assert_eq!(code(patch(&s, &path, &s.admin_token, body.clone()).await, status).await, expected, "{body}");
        }
        let unknown = format!("/v1/certificates/{}", uuid_zero());
        assert_eq!(
            code(patch(&s, &unknown, &s.admin_token, json!({})).await, StatusCode::NOT_FOUND).await,
            "certificate.not_found"
        );
        let merge = s
            .http()
            .patch(s.at(&path))
            .bearer_auth(&s.admin_token)
            .header("content-type", "application/merge-patch+json")
            .body(r#"{"owner": "ops"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(merge.status(), StatusCode::OK, "the merge-patch media type is accepted");
        for q in ["label=env", "label=ENV:x", "state=Bad%20State", "key_algorithm=%27%3B--"] {
            let resp =
                s.http().get(s.at(&format!("/v1/certificates?{q}"))).bearer_auth(&s.admin_token).send().await.unwrap();
            assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{q}");
        }
    }

    pub async fn keyset_pages_walk_every_certificate_once_under_each_sort(s: TestServer) {
        // 25 certificates: validities repeat (equal notAfter, ordered by id) and some have no common name.
        let mut issued = Vec::new();
        for i in 0..25u32 {
            let body = if i % 6 == 5 {
                json!({"ra_profile": "default", "sans": [format!("dns:n{i}.example.com")], "validity_days": 20 + i % 4})
            } else {
                let cn = format!("{}.example.com", ["b", "A", "c", "a"][i as usize % 4]);
                json!({"ra_profile": "default", "common_name": cn, "validity_days": 20 + i % 4})
            };
            issued.push(created(issue(&s, body).await).await);
        }
        let rank = |v: &Value| issued.iter().position(|c| c["id"] == v["id"]).unwrap();
        let key = |v: &Value, field: &str| match field {
            "not_after" => v["not_after"].as_str().unwrap().to_owned(),
            "common_name" => v["common_name"].as_str().unwrap_or("").to_owned(),
            _ => String::new(),
        };
        for sort in ["created_at", "-created_at", "not_after", "-not_after", "common_name", "-common_name"] {
            let field = sort.trim_start_matches('-');
            let mut expected: Vec<&Value> = issued.iter().collect();
            expected.sort_by_key(|v| (key(v, field).into_bytes(), rank(v)));
            if sort.starts_with('-') {
                expected.reverse();
            }
            let expected: Vec<&Value> = expected.iter().map(|v| &v["id"]).collect();

            let mut seen = Vec::new();
            let mut pages = 0;
            let mut cursor: Option<String> = None;
            loop {
                let mut q = format!("/v1/certificates?origin=request&limit=10&sort={sort}");
                if let Some(c) = &cursor {
                    q = format!("/v1/certificates?origin=request&limit=10&cursor={c}");
                }
                let page = s.get_json(&q, &s.admin_token).await;
                assert_eq!(page["total"], 25, "{sort}: total counts every match on every page");
                assert_eq!(page["offset"], 0);
                seen.extend(page["items"].as_array().unwrap().iter().map(|c| c["id"].clone()));
                pages += 1;
                match page["next_cursor"].as_str() {
                    Some(c) => cursor = Some(c.to_owned()),
                    None => break,
                }
                assert!(pages < 10, "{sort}: the walk ends");
            }
            assert_eq!(pages, 3, "{sort}");
            let unique: HashSet<String> = seen.iter().map(|v| v.to_string()).collect();
            assert_eq!(unique.len(), 25, "{sort}: no duplicates, no gaps");
            assert_eq!(seen.iter().collect::<Vec<_>>(), expected, "{sort}: in order");

            // Offset paging walks the same order.
            let second = s
                .get_json(&format!("/v1/certificates?origin=request&limit=10&offset=10&sort={sort}"), &s.admin_token)
                .await;
            let ids: Vec<&Value> = second["items"].as_array().unwrap().iter().map(|c| &c["id"]).collect();
            assert_eq!(ids, expected[10..20], "{sort}");
        }
        // A certificate issued between pages shows up (newest-first walks stay consistent: it is before the cursor).
        let first = s.get_json("/v1/certificates?limit=10&sort=created_at", &s.admin_token).await;
        assert_eq!(first["total"], 26, "with the server's own certificate");
        let cursor = first["next_cursor"].as_str().unwrap().to_owned();
        let late = created(issue(&s, json!({"ra_profile": "default", "common_name": "late.example.com"})).await).await;
        let mut rest = Vec::new();
        let mut next = Some(cursor);
        while let Some(c) = next {
            let page = s.get_json(&format!("/v1/certificates?limit=10&cursor={c}"), &s.admin_token).await;
            rest.extend(page["items"].as_array().unwrap().iter().map(|c| c["id"].clone()));
            next = page["next_cursor"].as_str().map(str::to_owned);
        }
        assert_eq!(rest.len(), 17, "16 more and the late one");
        assert_eq!(rest.last(), Some(&late["id"]));
    }

    pub async fn bad_cursors_and_sorts_are_problems(s: TestServer) {
        for i in 0..3 {
            created(issue(&s, json!({"ra_profile": "default", "common_name": format!("c{i}.example.com")})).await)
                .await;
        }
        let page = s.get_json("/v1/certificates?limit=1&sort=-not_after", &s.admin_token).await;
        let cursor = page["next_cursor"].as_str().unwrap().to_owned();
        let get = |q: String| {
            let s = &s;
            async move {
                s.http().get(s.at(&format!("/v1/certificates?{q}"))).bearer_auth(&s.admin_token).send().await.unwrap()
            }
        };
        let cases = [
            ("cursor=not-a-cursor".to_owned(), "request.invalid_cursor"),
            ("cursor=".to_owned(), "request.invalid_cursor"),
            (format!("cursor={}", "A".repeat(4000)), "request.invalid_cursor"),
            // base64url of {"s":"-not_after","k":"x","i":1}
            ("cursor=eyJzIjoiLW5vdF9hZnRlciIsImsiOiJ4IiwiaSI6MX0".to_owned(), "request.invalid_cursor"),
            (format!("cursor={cursor}&sort=common_name"), "request.invalid_cursor"),
            (format!("cursor={cursor}&offset=5"), "request.conflicting_paging"),
            ("sort=size".to_owned(), "request.invalid_sort"),
            ("sort=--created_at".to_owned(), "request.invalid_sort"),
            ("label=nokey".to_owned(), "request.invalid_label"),
        ];
        for (q, expected) in cases {
            let body = problem(get(q.clone()).await, StatusCode::BAD_REQUEST).await;
            assert_eq!(body["code"], expected, "{q}");
        }
        // The same cursor, with its own sort given again or left out, continues.
        let with_sort: Value = get(format!("cursor={cursor}&sort=-not_after&limit=1")).await.json().await.unwrap();
        let without: Value = get(format!("cursor={cursor}&limit=1")).await.json().await.unwrap();
        assert_eq!(with_sort["items"][0]["id"], without["items"][0]["id"]);
        assert_ne!(with_sort["items"][0]["id"], page["items"][0]["id"]);
    }

    pub async fn the_new_endpoints_are_documented(s: TestServer) {
        let doc: Value = s.http().get(s.at("/v1/openapi.json")).send().await.unwrap().json().await.unwrap();
        let profile = &doc["paths"]["/v1/ra-profiles/{id}"];
        for method in ["get", "put", "delete"] {
            assert!(profile.get(method).is_some(), "{method} /v1/ra-profiles/{{id}}");
        }
        assert!(doc["paths"]["/v1/certificates/{id}"].get("patch").is_some());
        let params: Vec<&str> = doc["paths"]["/v1/certificates"]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        for p in ["owner", "label", "key_algorithm", "state", "sort", "cursor"] {
            assert!(params.contains(&p), "{p} in {params:?}");
        }
        assert!(doc["components"]["schemas"]["CertificateList"]["properties"].get("next_cursor").is_some());
    }
}

fn uuid_zero() -> &'static str {
    "00000000-0000-0000-0000-000000000000"
}

certwright_testkit::backend_tests!(
    put_replaces_the_policy_and_the_next_issuance_obeys_it,
    delete_refuses_used_and_default_profiles,
    legacy_keys_and_digests_follow_the_profile,
    dsa_requests_need_the_legacy_flag,
    owner_and_labels_are_patched_then_filtered_on,
    keyset_pages_walk_every_certificate_once_under_each_sort,
    bad_cursors_and_sorts_are_problems,
    the_new_endpoints_are_documented,
);
