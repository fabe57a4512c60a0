//! The native API through a real server: authentication and roles on every route, token and OAuth2 flows,
//! the audit trail, and bad input answered with problem documents. Every case runs on SQLite, and on
//! PostgreSQL when `CERTWRIGHT_TEST_POSTGRES_URL` is set.

use certwright_testkit::TestServer;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// Operations that must answer without a bearer token.
const PUBLIC: &[(&str, &str)] = &[
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("post", "/v1/oauth/token"),
    ("get", "/ca/{file}"),
    ("get", "/crl/{file}"),
    ("get", "/crl/{authority}/{file}"),
    ("post", "/ocsp"),
    ("get", "/ocsp/{request}"),
];

/// Routes a requester may call: itself, reading the PKI inventory (and the keystore components), requests, approvals and reports, requesting,
/// renewing, rekeying, importing and labelling
/// certificates.
fn requester_may(method: &Method, path: &str) -> bool {
    let inventory = [
        "/v1/authorities",
        "/v1/ra-profiles",
        "/v1/certificates",
        "/v1/requests",
        "/v1/approvals",
        "/v1/reports",
        "/v1/keystore",
        "/v1/discovery",
        "/v1/locations",
        "/v1/deployments",
        "/v1/organizations",
    ]
    .iter()
    .any(|p| path.starts_with(p));
    let submits = ["/v1/certificates", "/v1/certificates/import"].contains(&path)
        || (path.starts_with("/v1/certificates/") && ["/pkcs12", "/renew", "/rekey"].iter().any(|s| path.ends_with(s)))
        || (path.starts_with("/v1/requests/") && path.ends_with("/submit"));
    let labels = method == Method::PATCH && path.starts_with("/v1/certificates/");
    path == "/v1/me" || (method == Method::GET && inventory) || (method == Method::POST && submits) || labels
}

async fn problem(resp: reqwest::Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(resp.status(), status, "expected {status} {code}");
    let ct = resp.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(ct.as_deref(), Some("application/problem+json"));
    let request_id = resp.headers().get("x-request-id").unwrap().to_str().unwrap().to_owned();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status.as_u16());
    assert_eq!(body["request_id"], request_id.as_str());
    assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()));
    body
}

/// Every operation of the OpenAPI document: (method, concrete path, needs a bearer token).
async fn operations(s: &TestServer) -> Vec<(Method, String, bool)> {
    let doc: Value = s.http().get(s.at("/v1/openapi.json")).send().await.unwrap().json().await.unwrap();
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let secured = op.get("security").is_some_and(|v| !v.as_array().unwrap().is_empty());
            let public = PUBLIC.contains(&(method.as_str(), path.as_str()));
            assert!(secured != public, "{method} {path}: secured={secured} but listed public={public}");
            let concrete = path.replace("{id}", &uuid::Uuid::new_v4().to_string());
            ops.push((method.to_uppercase().parse().unwrap(), concrete, secured));
        }
    }
    assert!(ops.len() >= 11, "the document lists every route: {ops:?}");
    ops
}

mod cases {
    use super::*;

    pub async fn every_protected_route_answers_401_problem_without_a_token(s: TestServer) {
        for (method, path, secured) in operations(&s).await {
            if !secured {
                // Public routes exist (whatever they answer to an empty request).
                let resp = s.http().request(method.clone(), s.at(&path)).send().await.unwrap();
                let body: Value = resp.json().await.unwrap_or(Value::Null);
                assert_ne!(body["code"], "route.not_found", "{method} {path} is documented but not routed");
                continue;
            }
            let resp = s.http().request(method.clone(), s.at(&path)).send().await.unwrap();
            assert!(resp.headers().get("www-authenticate").is_some(), "{method} {path}");
            problem(resp, StatusCode::UNAUTHORIZED, "auth.unauthenticated").await;
            let resp = s.http().request(method.clone(), s.at(&path)).bearer_auth("cwt_unknown").send().await.unwrap();
            problem(resp, StatusCode::UNAUTHORIZED, "auth.unauthenticated").await;
        }
    }

    pub async fn auditor_is_refused_every_mutating_route_and_requester_every_admin_route(s: TestServer) {
        let auditor = s.token_with_role("auditor").await;
        let requester = s.token_with_role("requester").await;
        let mut mutating = 0;
        let mut refused = 0;
        for (method, path, secured) in operations(&s).await {
            if !secured {
                continue;
            }
            let body = json!({"name": "x", "role": "admin"});
            if method != Method::GET {
                mutating += 1;
                refused += 1;
                let resp = s
                    .http()
                    .request(method.clone(), s.at(&path))
                    .bearer_auth(&auditor)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                problem(resp, StatusCode::FORBIDDEN, "auth.forbidden").await;
            }
            if !requester_may(&method, &path) {
                refused += 1;
                let resp = s
                    .http()
                    .request(method.clone(), s.at(&path))
                    .bearer_auth(&requester)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                problem(resp, StatusCode::FORBIDDEN, "auth.forbidden").await;
            }
        }
        assert!(mutating >= 4);
        // Every refusal is in the audit log, attributed to the refused caller.
        let denied: Value =
            s.get_json("/v1/events?action=access.denied&result=failure&limit=1000", &s.admin_token).await;
        assert_eq!(denied["total"], refused, "{denied}");
        assert!(denied["items"][0]["object_id"].as_str().unwrap().contains("/v1/"));
        // Reads the auditor is allowed.
        for path in ["/v1/tokens", "/v1/oauth-clients", "/v1/events", "/v1/me", "/v1/authorities", "/v1/certificates"] {
            let resp = s.http().get(s.at(path)).bearer_auth(&auditor).send().await.unwrap();
            assert_eq!(resp.status(), StatusCode::OK, "{path}");
        }
    }

    pub async fn token_lifecycle_create_use_list_revoke(s: TestServer) {
        let resp = s
            .http()
            .post(s.at("/v1/tokens"))
            .bearer_auth(&s.admin_token)
            .json(&json!({"name": "ci", "role": "operator", "ra_profiles": ["web"], "expires_in_seconds": 3600}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::CREATED);
        let created: Value = resp.json().await.unwrap();
        let secret = created["secret"].as_str().unwrap();
        let id = created["token"]["id"].as_str().unwrap();
        assert_eq!(created["token"]["role"], "operator");
        assert_eq!(created["token"]["ra_profiles"], json!(["web"]));
        assert!(created["token"]["expires_at"].as_str().unwrap().ends_with('Z'));

        let me: Value = s.get_json("/v1/me", secret).await;
        assert_eq!((me["principal"].as_str(), me["role"].as_str()), (Some("ci"), Some("operator")));

        let list: Value = s.get_json("/v1/tokens", &s.admin_token).await;
        assert_eq!(
            (list["total"].as_u64(), list["limit"].as_u64(), list["offset"].as_u64()),
            (Some(2), Some(50), Some(0))
        );
        assert!(!list.to_string().contains(secret), "lists never show secrets");

        let resp = s.http().delete(s.at(&format!("/v1/tokens/{id}"))).bearer_auth(&s.admin_token).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let revoked: Value = resp.json().await.unwrap();
        assert!(revoked["revoked_at"].is_string());

        let resp = s.http().get(s.at("/v1/me")).bearer_auth(secret).send().await.unwrap();
        let body = problem(resp, StatusCode::UNAUTHORIZED, "auth.unauthenticated").await;
        assert!(body["detail"].as_str().unwrap().contains("revoked"));

        let active: Value = s.get_json("/v1/tokens?limit=1", &s.admin_token).await;
        assert_eq!((active["total"].as_u64(), active["items"].as_array().unwrap().len()), (Some(1), 1));
        let all: Value = s.get_json("/v1/tokens?include_inactive=true", &s.admin_token).await;
        assert_eq!(all["total"].as_u64(), Some(2));

        let missing = s
            .http()
            .delete(s.at(&format!("/v1/tokens/{}", uuid::Uuid::new_v4())))
            .bearer_auth(&s.admin_token)
            .send()
            .await
            .unwrap();
        problem(missing, StatusCode::NOT_FOUND, "token.not_found").await;
    }

    pub async fn oauth_client_credentials_by_form_and_basic(s: TestServer) {
        let resp = s
            .http()
            .post(s.at("/v1/oauth-clients"))
            .bearer_auth(&s.admin_token)
            .json(&json!({"name": "deployer", "role": "auditor", "token_ttl_seconds": 120}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::CREATED);
        let client: Value = resp.json().await.unwrap();
        let id = client["client_id"].as_str().unwrap().to_owned();
        let secret = client["client_secret"].as_str().unwrap().to_owned();

        let form = [("grant_type", "client_credentials"), ("client_id", &id), ("client_secret", &secret)];
        let resp = s.http().post(s.at("/v1/oauth/token")).form(&form).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()["cache-control"], "no-store");
        let tok: Value = resp.json().await.unwrap();
        assert_eq!((tok["token_type"].as_str(), tok["expires_in"].as_i64()), (Some("Bearer"), Some(120)));
        let access = tok["access_token"].as_str().unwrap().to_owned();
        let me: Value = s.get_json("/v1/me", &access).await;
        assert_eq!((me["principal"].as_str(), me["role"].as_str()), (Some("deployer"), Some("auditor")));

        let basic = s
            .http()
            .post(s.at("/v1/oauth/token"))
            .basic_auth(&id, Some(&secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_eq!(basic.status(), StatusCode::OK);

        let wrong = s
            .http()
            .post(s.at("/v1/oauth/token"))
            .basic_auth(&id, Some("nope"))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
        assert!(wrong.headers()["www-authenticate"].to_str().unwrap().starts_with("Basic"));
        assert_eq!(wrong.json::<Value>().await.unwrap()["error"], "invalid_client");

        let grant = s.http().post(s.at("/v1/oauth/token")).form(&[("grant_type", "password")]).send().await.unwrap();
        assert_eq!(grant.status(), StatusCode::BAD_REQUEST);
        assert_eq!(grant.json::<Value>().await.unwrap()["error"], "unsupported_grant_type");
        let json_body = s
            .http()
            .post(s.at("/v1/oauth/token"))
            .json(&json!({"grant_type": "client_credentials"}))
            .send()
            .await
            .unwrap();
        assert_eq!(json_body.status(), StatusCode::BAD_REQUEST);
        assert_eq!(json_body.json::<Value>().await.unwrap()["error"], "invalid_request");

        let del =
            s.http().delete(s.at(&format!("/v1/oauth-clients/{id}"))).bearer_auth(&s.admin_token).send().await.unwrap();
        assert_eq!(del.status(), StatusCode::OK);
        let after = s.http().get(s.at("/v1/me")).bearer_auth(&access).send().await.unwrap();
        problem(after, StatusCode::UNAUTHORIZED, "auth.unauthenticated").await;
        let again = s.http().post(s.at("/v1/oauth/token")).form(&form).send().await.unwrap();
        assert_eq!(again.status(), StatusCode::UNAUTHORIZED);
    }

    pub async fn bad_input_gets_a_4xx_problem_never_a_5xx(s: TestServer) {
        let t = &s.admin_token;
        let post = |body: &'static str, ct: &'static str| {
            s.http().post(s.at("/v1/tokens")).bearer_auth(t).header("content-type", ct).body(body)
        };
        problem(
            post("{\"name\": ", "application/json").send().await.unwrap(),
            StatusCode::BAD_REQUEST,
            "request.invalid_json",
        )
        .await;
        problem(
            post("name=x", "text/plain").send().await.unwrap(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "request.unsupported_media_type",
        )
        .await;
        problem(
            post(r#"{"name":"x","role":"admin","colour":"red"}"#, "application/json").send().await.unwrap(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "request.invalid_json",
        )
        .await;
        problem(
            post(r#"{"name":"x","role":"emperor"}"#, "application/json").send().await.unwrap(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "request.invalid_json",
        )
        .await;
        problem(
            post(r#"{"name":"","role":"admin"}"#, "application/json").send().await.unwrap(),
            StatusCode::BAD_REQUEST,
            "request.invalid_name",
        )
        .await;
        problem(
            post(r#"{"name":"x","role":"admin","expires_in_seconds":-5}"#, "application/json").send().await.unwrap(),
            StatusCode::BAD_REQUEST,
            "token.invalid_expiry",
        )
        .await;
        problem(
            post(r#"[1,2,3]"#, "application/json").send().await.unwrap(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "request.invalid_json",
        )
        .await;

        let huge = format!(r#"{{"name":"{}","role":"admin"}}"#, "x".repeat(2 * 1024 * 1024));
        // Its own client: the server answers 413 without reading the body and then closes that connection.
        let resp = certwright_testkit::http_client()
            .post(s.at("/v1/tokens"))
            .bearer_auth(t)
            .header("content-type", "application/json")
            .body(huge)
            .send()
            .await
            .unwrap();
        problem(resp, StatusCode::PAYLOAD_TOO_LARGE, "request.body_too_large").await;

        let resp = s.http().delete(s.at("/v1/tokens/not-a-uuid")).bearer_auth(t).send().await.unwrap();
        problem(resp, StatusCode::BAD_REQUEST, "request.invalid_path").await;
        for q in ["limit=0", "limit=1001", "limit=abc", "offset=-1"] {
            let resp = s.http().get(s.at(&format!("/v1/tokens?{q}"))).bearer_auth(t).send().await.unwrap();
            assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{q}");
        }
        for path in ["/v1/authorities?colour=red", "/v1/ra-profiles?colour=red", "/v1/certificates?colour=red"] {
            let resp = s.http().get(s.at(path)).bearer_auth(t).send().await.unwrap();
            problem(resp, StatusCode::BAD_REQUEST, "request.invalid_query").await;
        }
        for q in ["since=yesterday", "result=maybe", "colour=red"] {
            let resp = s.http().get(s.at(&format!("/v1/events?{q}"))).bearer_auth(t).send().await.unwrap();
            assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{q}");
        }
        problem(s.http().get(s.at("/v1/nothing-here")).send().await.unwrap(), StatusCode::NOT_FOUND, "route.not_found")
            .await;
        problem(
            s.http().put(s.at("/v1/tokens")).bearer_auth(t).send().await.unwrap(),
            StatusCode::METHOD_NOT_ALLOWED,
            "route.method_not_allowed",
        )
        .await;
        let resp = s.http().get(s.at("/v1/me")).header("authorization", "Basic Zm9vOmJhcg==").send().await.unwrap();
        problem(resp, StatusCode::UNAUTHORIZED, "auth.unauthenticated").await;

        // Nothing was half-created by the failures above: only the bootstrap token exists.
        let list: Value = s.get_json("/v1/tokens", t).await;
        assert_eq!(list["total"], 1);
    }

    pub async fn every_change_is_audited_with_its_request_id(s: TestServer) {
        let resp = s
            .http()
            .post(s.at("/v1/tokens"))
            .bearer_auth(&s.admin_token)
            .header("x-request-id", "trace-42")
            .json(&json!({"name": "audited", "role": "auditor"}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.headers()["x-request-id"], "trace-42");
        let id = resp.json::<Value>().await.unwrap()["token"]["id"].as_str().unwrap().to_owned();

        let events: Value = s.get_json("/v1/events?request_id=trace-42", &s.admin_token).await;
        assert_eq!(events["total"], 1, "{events}");
        let e = &events["items"][0];
        assert_eq!(
            (e["action"].as_str(), e["object_id"].as_str(), e["actor"].as_str()),
            (Some("token.create"), Some(id.as_str()), Some("admin"))
        );
        assert_eq!(e["result"], "success");
        assert_eq!(e["details"]["role"], "auditor");
        assert_eq!(e["hash"].as_str().unwrap().len(), 64);

        let by_action: Value =
            s.get_json("/v1/events?action=token.create&since=2000-01-01T00:00:00Z", &s.admin_token).await;
        assert_eq!(by_action["total"], 1, "{by_action}");
        let boot: Value = s.get_json("/v1/events?action=system.bootstrap&actor=system", &s.admin_token).await;
        assert_eq!(boot["total"], 1, "the bootstrap admin token is audited: {boot}");
        let none: Value = s.get_json("/v1/events?until=2000-01-01T00:00:00Z", &s.admin_token).await;
        assert_eq!(none["total"], 0);

        // A hostile request id is replaced, not stored.
        let resp = s.http().get(s.at("/healthz")).header("x-request-id", "a b\tc").send().await.unwrap();
        assert_ne!(resp.headers()["x-request-id"], "a b\tc");
        assert!(s.services.verify_audit().await.unwrap().is_intact());
    }

    pub async fn health_openapi_and_docs_are_served(s: TestServer) {
        assert_eq!(s.http().get(s.at("/healthz")).send().await.unwrap().status(), StatusCode::OK);
        let ready: Value = s.http().get(s.at("/readyz")).send().await.unwrap().json().await.unwrap();
        assert_eq!(ready["status"], "ready");
        let doc: Value = s.http().get(s.at("/v1/openapi.json")).send().await.unwrap().json().await.unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
        for path in ["/v1/tokens", "/v1/tokens/{id}", "/v1/oauth-clients", "/v1/oauth/token", "/v1/events", "/v1/me"] {
            assert!(doc["paths"].get(path).is_some(), "{path} documented");
        }
        let docs = s.http().get(s.at("/docs/")).send().await.unwrap();
        assert_eq!(docs.status(), StatusCode::OK);
        assert!(docs.text().await.unwrap().contains("swagger"), "Swagger UI page");
    }
}

certwright_testkit::backend_tests!(
    every_protected_route_answers_401_problem_without_a_token,
    auditor_is_refused_every_mutating_route_and_requester_every_admin_route,
    token_lifecycle_create_use_list_revoke,
    oauth_client_credentials_by_form_and_basic,
    bad_input_gets_a_4xx_problem_never_a_5xx,
    every_change_is_audited_with_its_request_id,
    health_openapi_and_docs_are_served,
);
