//! Revocation as relying parties see it, checked with openssl: OCSP answers (`openssl ocsp`, CA-signed and
//! delegated, with and without a nonce), full, delta and partitioned CRLs (`openssl crl`, `openssl verify
//! -crl_check`), the rules of revoking (already revoked, holds, roles, key destruction) and hostile OCSP input.

use certwright_testkit::TestServer;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command, Output};

fn openssl(dir: &Path, args: &[&str]) -> Output {
    Command::new("openssl").current_dir(dir).args(args).output().expect("openssl is installed")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

async fn post(s: &TestServer, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
    let resp = s.http().post(s.at(path)).bearer_auth(token).json(&body).send().await.unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Issues a certificate with a server-made key; writes leaf.pem/issuing.pem/root.pem (prefixed) into `dir`.
async fn issue(s: &TestServer, dir: &Path, name: &str) -> Value {
    let body = json!({ "ra_profile": "default", "common_name": format!("{name}.example.com") });
    let (status, v) = post(s, "/v1/certificates", &s.admin_token, body).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    std::fs::write(dir.join(format!("{name}.pem")), v["certificate_pem"].as_str().unwrap()).unwrap();
    let chain = v["chain_pem"].as_str().unwrap();
    let certs: Vec<&str> = chain.split_inclusive("-----END CERTIFICATE-----\n").collect();
    std::fs::write(dir.join("issuing.pem"), certs[0]).unwrap();
    std::fs::write(dir.join("root.pem"), certs[certs.len() - 1]).unwrap();
    std::fs::write(dir.join("bundle.pem"), chain).unwrap();
    v
}

fn ocsp_status(s: &TestServer, dir: &Path, leaf: &str, extra: &[&str]) -> String {
    let url = s.at("/ocsp");
    // Options such as -sha256 must come before -cert.
    let mut args = vec!["ocsp"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["-issuer", "issuing.pem", "-cert", leaf, "-url", &url, "-CAfile", "bundle.pem"]);
    text(&openssl(dir, &args))
}

async fn fetch(s: &TestServer, path: &str) -> (StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
    let resp = s.http().get(s.at(path)).send().await.unwrap();
    (resp.status(), resp.headers().clone(), resp.bytes().await.unwrap().to_vec())
}

fn crl_pem(der: &[u8]) -> String {
    certwright_pki::pem::encode("X509 CRL", der)
}

/// The CRL distribution point URL path of a certificate (`/crl/<ca>/<n>.crl`).
fn cdp_path(dir: &Path, leaf: &str) -> String {
    let out = text(&openssl(dir, &["x509", "-in", leaf, "-noout", "-ext", "crlDistributionPoints"]));
    let uri = out.lines().find_map(|l| l.trim().strip_prefix("URI:")).expect("a CRL distribution point").to_owned();
    uri.splitn(4, '/').nth(3).map(|p| format!("/{p}")).unwrap()
}

mod cases {
    use super::*;

    pub async fn ocsp_and_crls_follow_revocation_as_openssl_sees_it(s: TestServer) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let leaf = issue(&s, dir, "leaf").await;
        issue(&s, dir, "other").await;
        let authority = leaf["authority"].as_str().unwrap().to_owned();

        // The certificate tells relying parties where to look.
        let dump = text(&openssl(dir, &["x509", "-in", "leaf.pem", "-noout", "-text"]));
        assert!(dump.contains("OCSP - URI:") && dump.contains("/ocsp"), "{dump}");
        assert!(dump.contains(&format!("/crl/{authority}/")), "{dump}");

        // Good, with a nonce (the default) and without; the delegated responder's signature verifies.
        let good = ocsp_status(&s, dir, "leaf.pem", &[]);
        assert!(good.contains("Response verify OK") && good.contains("leaf.pem: good"), "{good}");
        let good = ocsp_status(&s, dir, "leaf.pem", &["-no_nonce", "-resp_text"]);
        assert!(good.contains("leaf.pem: good") && good.contains("OCSP Responder"), "{good}");

        // Revoke: keyCompromise with an invalidity date.
        let id = leaf["id"].as_str().unwrap();
        let body = json!({ "reason": "keyCompromise", "invalidity_date": "2026-01-02T03:04:05Z" });
        let (status, v) = post(&s, &format!("/v1/certificates/{id}/revoke"), &s.admin_token, body.clone()).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        assert_eq!(
            (v["certificate"]["state"].as_str(), v["revocation"]["reason"].as_str()),
            (Some("revoked"), Some("keyCompromise"))
        );
        let (status, v) = post(&s, &format!("/v1/certificates/{id}/revoke"), &s.admin_token, body).await;
        assert_eq!((status, v["code"].as_str()), (StatusCode::CONFLICT, Some("certificate.already_revoked")), "{v}");
        let shown = s.get_json(&format!("/v1/certificates/{id}"), &s.admin_token).await;
        assert_eq!(
            (shown["validation_status"].as_str(), shown["revocation"]["reason_code"].as_u64()),
            (Some("revoked"), Some(1))
        );

        // The SHA-1 answer without a nonce is cached; a SHA-256 query right after must get its own CertID back.
        for extra in [&[][..], &["-no_nonce"][..], &["-sha256"][..], &["-no_nonce", "-sha256"][..]] {
            let revoked = ocsp_status(&s, dir, "leaf.pem", extra);
            assert!(revoked.contains("Response verify OK"), "{extra:?}: {revoked}");
            assert!(
                revoked.contains("leaf.pem: revoked") && revoked.contains("Reason: keyCompromise"),
                "{extra:?}: {revoked}"
            );
        }
        let other = ocsp_status(&s, dir, "other.pem", &[]);
        assert!(other.contains("other.pem: good"), "{other}");
        // Two CertIDs in one request: one answer, signed once, with a status for each.
        let url = s.at("/ocsp");
        let args = [
            "ocsp",
            "-issuer",
            "issuing.pem",
            "-cert",
            "leaf.pem",
            "-cert",
            "other.pem",
            "-url",
            &url,
            "-CAfile",
            "bundle.pem",
        ];
        let both = text(&openssl(dir, &args));
        assert!(both.contains("Response verify OK"), "{both}");
        assert!(both.contains("leaf.pem: revoked") && both.contains("other.pem: good"), "{both}");

        // CRLs, signed now: the full CRL and the delta list the serial with its reason.
        let (status, crls) = post(&s, &format!("/v1/authorities/{authority}/crls"), &s.admin_token, json!({})).await;
        assert_eq!(status, StatusCode::OK, "{crls}");
        let serial = leaf["serial"].as_str().unwrap().to_uppercase();
        for path in [format!("/crl/{authority}.crl"), format!("/crl/{authority}-delta.crl")] {
            let (status, headers, der) = fetch(&s, &path).await;
            assert_eq!(status, StatusCode::OK, "{path}");
            assert_eq!(headers["content-type"], "application/pkix-crl");
            std::fs::write(dir.join("crl.pem"), crl_pem(&der)).unwrap();
            let shown = text(&openssl(dir, &["crl", "-in", "crl.pem", "-noout", "-text", "-CAfile", "issuing.pem"]));
            assert!(shown.contains("verify OK"), "{path}: {shown}");
            assert!(shown.to_uppercase().contains(&serial.trim_start_matches('0').to_uppercase()), "{path}: {shown}");
            assert!(shown.contains("Key Compromise") && shown.contains("Invalidity Date"), "{path}: {shown}");
            if path.ends_with("-delta.crl") {
                assert!(shown.contains("Delta CRL Indicator"), "{shown}");
            } else {
                assert!(shown.contains("Freshest CRL"), "{shown}");
            }
        }

        // The partition named in each certificate's distribution point: openssl rejects the revoked one and
        // accepts the good one.
        for (file, ok) in [("leaf.pem", false), ("other.pem", true)] {
            let (status, _, der) = fetch(&s, &cdp_path(dir, file)).await;
            assert_eq!(status, StatusCode::OK);
            std::fs::write(dir.join("part.pem"), crl_pem(&der)).unwrap();
            std::fs::write(dir.join("chain.pem"), std::fs::read_to_string(dir.join("issuing.pem")).unwrap()).unwrap();
            let out = openssl(
                dir,
                &[
                    "verify",
                    "-crl_check",
                    "-CAfile",
                    "root.pem",
                    "-untrusted",
                    "chain.pem",
                    "-CRLfile",
                    "part.pem",
                    file,
                ],
            );
            assert_eq!(out.status.success(), ok, "{file}: {}", text(&out));
            if !ok {
                assert!(text(&out).contains("certificate revoked"), "{}", text(&out));
            }
        }
    }

    pub async fn a_hold_is_lifted_and_the_delta_says_remove_from_crl(s: TestServer) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let leaf = issue(&s, dir, "held").await;
        let id = leaf["id"].as_str().unwrap();
        let authority = leaf["authority"].as_str().unwrap().to_owned();
        // The full CRL exists before the hold, so the hold and its release are delta material.
        post(&s, &format!("/v1/authorities/{authority}/crls"), &s.admin_token, json!({})).await;
        let (status, _) = post(&s, &format!("/v1/certificates/{id}/release-hold"), &s.admin_token, json!({})).await;
        assert_eq!(status, StatusCode::CONFLICT, "nothing to release yet");
        let (status, v) =
            post(&s, &format!("/v1/certificates/{id}/revoke"), &s.admin_token, json!({ "reason": "certificateHold" }))
                .await;
        assert_eq!(status, StatusCode::OK, "{v}");
        assert!(ocsp_status(&s, dir, "held.pem", &[]).contains("Reason: certificateHold"));
        let (status, v) = post(&s, &format!("/v1/certificates/{id}/release-hold"), &s.admin_token, json!({})).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        assert_eq!(v["certificate"]["state"], "issued");
        assert!(ocsp_status(&s, dir, "held.pem", &[]).contains("held.pem: good"));
        let (_, _, der) = fetch(&s, &format!("/crl/{authority}-delta.crl")).await;
        std::fs::write(dir.join("delta.pem"), crl_pem(&der)).unwrap();
        // The delta may be the one signed after the release (debounced) or one signed on demand: either way
        // it must carry the removal once the scheduler has run.
        let mut shown = text(&openssl(dir, &["crl", "-in", "delta.pem", "-noout", "-text"]));
        for _ in 0..30 {
            if shown.contains("Remove From CRL") {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            let (_, _, der) = fetch(&s, &format!("/crl/{authority}-delta.crl")).await;
            std::fs::write(dir.join("delta.pem"), crl_pem(&der)).unwrap();
            shown = text(&openssl(dir, &["crl", "-in", "delta.pem", "-noout", "-text"]));
        }
        assert!(shown.contains("Remove From CRL"), "{shown}");
        // A permanent reason cannot be lifted; a hold can become permanent.
        post(&s, &format!("/v1/certificates/{id}/revoke"), &s.admin_token, json!({ "reason": "certificateHold" }))
            .await;
        let (status, _) =
            post(&s, &format!("/v1/certificates/{id}/revoke"), &s.admin_token, json!({ "reason": "superseded" })).await;
        assert_eq!(status, StatusCode::OK);
        let (status, v) = post(&s, &format!("/v1/certificates/{id}/release-hold"), &s.admin_token, json!({})).await;
        assert_eq!((status, v["code"].as_str()), (StatusCode::CONFLICT, Some("revocation.not_on_hold")));
    }

    pub async fn revoke_by_serial_roles_and_key_destruction(s: TestServer) {
        let tmp = tempfile::tempdir().unwrap();
        let leaf = issue(&s, tmp.path(), "serial").await;
        let authority = leaf["authority"].as_str().unwrap().to_owned();
        let serial = leaf["serial"].as_str().unwrap().to_uppercase();
        let requester = s.token_with_role("requester").await;
        let (status, _) =
            post(&s, "/v1/revocations", &requester, json!({ "authority": authority, "serial": serial })).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let operator = s.token_with_role("operator").await;
        let body = json!({ "authority": authority, "serial": serial, "reason": "superseded", "destroy_key": true });
        let (status, v) = post(&s, "/v1/revocations", &operator, body).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        assert_eq!(
            (v["key_destroyed"].as_bool(), v["revocation"]["reason"].as_str()),
            (Some(true), Some("superseded"))
        );
        let id = leaf["id"].as_str().unwrap();
        let (status, v) =
            post(&s, &format!("/v1/certificates/{id}/pkcs12"), &s.admin_token, json!({ "password": "x" })).await;
        assert!(status.is_client_error(), "the destroyed key cannot be exported: {status} {v}");
        let (status, v) =
            post(&s, "/v1/revocations", &operator, json!({ "authority": authority, "serial": "zz" })).await;
        assert_eq!((status, v["code"].as_str()), (StatusCode::BAD_REQUEST, Some("revocation.invalid_serial")), "{v}");
        let (status, v) =
            post(&s, "/v1/revocations", &operator, json!({ "authority": authority, "serial": "0badc0de" })).await;
        assert_eq!((status, v["code"].as_str()), (StatusCode::NOT_FOUND, Some("certificate.not_found")), "{v}");
        let (status, v) =
            post(&s, &format!("/v1/certificates/{id}/revoke"), &operator, json!({ "reason": "stolen" })).await;
        assert_eq!((status, v["code"].as_str()), (StatusCode::BAD_REQUEST, Some("revocation.invalid_reason")), "{v}");
        // Revoking an authority is for admins.
        let (status, _) = post(&s, &format!("/v1/authorities/{authority}/revoke"), &operator, json!({})).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let audit = s.get_json("/v1/events?action=certificate.revoke", &s.admin_token).await;
        assert_eq!(audit["items"][0]["details"]["key_destroyed"], true, "{audit}");
    }

    pub async fn a_revoked_subordinate_authority_is_listed_by_its_parent_and_issues_no_more(s: TestServer) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let (status, root) = post(&s, "/v1/authorities", &s.admin_token, json!({ "name": "team root" })).await;
        assert_eq!(status, StatusCode::CREATED, "{root}");
        let body = json!({ "name": "team sub", "parent": root["id"] });
        let (status, sub) = post(&s, "/v1/authorities", &s.admin_token, body).await;
        assert_eq!(status, StatusCode::CREATED, "{sub}");
        let body = json!({ "name": "team", "authority": sub["id"], "policy": {} });
        let (status, profile) = post(&s, "/v1/ra-profiles", &s.admin_token, body).await;
        assert_eq!(status, StatusCode::CREATED, "{profile}");
        let root_id = root["id"].as_str().unwrap();
        let sub_id = sub["id"].as_str().unwrap();
        let (status, v) = post(&s, &format!("/v1/authorities/{root_id}/revoke"), &s.admin_token, json!({})).await;
        assert_eq!((status, v["code"].as_str()), (StatusCode::BAD_REQUEST, Some("revocation.root")), "{v}");
        let body = json!({ "reason": "cACompromise" });
        let (status, v) = post(&s, &format!("/v1/authorities/{sub_id}/revoke"), &s.admin_token, body.clone()).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        let (status, _) = post(&s, &format!("/v1/authorities/{sub_id}/revoke"), &s.admin_token, body).await;
        assert_eq!(status, StatusCode::CONFLICT);
        let (status, v) = post(
            &s,
            "/v1/certificates",
            &s.admin_token,
            json!({ "ra_profile": "team", "common_name": "x.example.com" }),
        )
        .await;
        assert_eq!((status, v["code"].as_str()), (StatusCode::CONFLICT, Some("ra_profile.disabled")), "{v}");
        // The parent's full CRL lists the subordinate CA; its partitions (user certificates only) do not.
        post(&s, &format!("/v1/authorities/{root_id}/crls"), &s.admin_token, json!({})).await;
        let (_, _, full) = fetch(&s, &format!("/crl/{root_id}.crl")).await;
        std::fs::write(dir.join("full.pem"), crl_pem(&full)).unwrap();
        let shown = text(&openssl(dir, &["crl", "-in", "full.pem", "-noout", "-text"]));
        assert!(shown.contains("CA Compromise"), "{shown}");
        for n in 0..4 {
            let (_, _, part) = fetch(&s, &format!("/crl/{root_id}/{n}.crl")).await;
            std::fs::write(dir.join("part.pem"), crl_pem(&part)).unwrap();
            let shown = text(&openssl(dir, &["crl", "-in", "part.pem", "-noout", "-text"]));
            assert!(shown.contains("No Revoked Certificates"), "partition {n}: {shown}");
        }
    }

    pub async fn hostile_ocsp_requests_get_ocsp_errors_not_server_errors(s: TestServer) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        issue(&s, dir, "h").await;
        let malformed = [0x30, 0x03, 0x0a, 0x01, 0x01];
        let unauthorized = [0x30, 0x03, 0x0a, 0x01, 0x06];
        let send = |body: Vec<u8>| {
            s.http().post(s.at("/ocsp")).header("content-type", "application/ocsp-request").body(body).send()
        };
        for junk in [vec![], vec![0x30], vec![0xff; 64], b"GET / HTTP/1.1".to_vec()] {
            let resp = send(junk).await.unwrap();
            assert_eq!(resp.status(), StatusCode::OK);
            assert_eq!(resp.bytes().await.unwrap().as_ref(), malformed);
        }
        let resp = send(vec![0x30; 9000]).await.unwrap();
        assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let (status, _, body) = fetch(&s, "/ocsp/%%%not-base64").await;
        assert_eq!((status, body.as_slice()), (StatusCode::OK, &malformed[..]));
        // A request about a CA this server does not run.
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
                "x.key",
                "-out",
                "x.pem",
                "-subj",
                "/CN=elsewhere",
                "-days",
                "2",
            ],
        );
        let out = openssl(dir, &["ocsp", "-issuer", "x.pem", "-cert", "x.pem", "-reqout", "req.der", "-no_nonce"]);
        assert!(out.status.success(), "{}", text(&out));
        let resp = send(std::fs::read(dir.join("req.der")).unwrap()).await.unwrap();
        assert_eq!(resp.bytes().await.unwrap().as_ref(), unauthorized);
        // Truncations of a real request.
        openssl(dir, &["ocsp", "-issuer", "issuing.pem", "-cert", "h.pem", "-reqout", "good.der"]);
        let good = std::fs::read(dir.join("good.der")).unwrap();
        for cut in 1..good.len() {
            let resp = send(good[..cut].to_vec()).await.unwrap();
            assert_eq!(resp.status(), StatusCode::OK);
            assert_eq!(resp.bytes().await.unwrap().as_ref(), malformed, "cut at {cut}");
        }
        // GET form, cached: the same bytes twice, with HTTP cache headers.
        use base64::Engine;
        openssl(dir, &["ocsp", "-issuer", "issuing.pem", "-cert", "h.pem", "-reqout", "plain.der", "-no_nonce"]);
        let plain = base64::engine::general_purpose::STANDARD.encode(std::fs::read(dir.join("plain.der")).unwrap());
        let path = format!("/ocsp/{}", plain.replace('+', "%2B").replace('/', "%2F").replace('=', "%3D"));
        let (status, headers, first) = fetch(&s, &path).await;
        let (_, _, second) = fetch(&s, &path).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(first, second, "a cached answer is served as signed");
        assert!(headers["cache-control"].to_str().unwrap().contains("max-age="), "{headers:?}");
        assert_eq!(headers["content-type"], "application/ocsp-response");
    }
}

certwright_testkit::backend_tests!(
    ocsp_and_crls_follow_revocation_as_openssl_sees_it,
    a_hold_is_lifted_and_the_delta_says_remove_from_crl,
    revoke_by_serial_roles_and_key_destruction,
    a_revoked_subordinate_authority_is_listed_by_its_parent_and_issues_no_more,
    hostile_ocsp_requests_get_ocsp_errors_not_server_errors,
);

/// With `ocsp_responder = "ca"` the CA key signs: no responder certificate is included and openssl verifies the
/// answer against the issuing CA itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ca_itself_can_sign_ocsp_answers() {
    let s = TestServer::start_with(certwright_testkit::Backend::Sqlite, |c| c.ocsp_responder = "ca".to_owned()).await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    issue(&s, dir, "ca-signed").await;
    let out = ocsp_status(&s, dir, "ca-signed.pem", &["-resp_text"]);
    assert!(out.contains("Response verify OK") && out.contains("ca-signed.pem: good"), "{out}");
    assert!(!out.contains("OCSP Signing"), "no delegated responder certificate: {out}");
}

/// Requests that arrive together for a CRL that must be signed first share one signing: they all get the same
/// CRL number.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_fetches_of_an_unsigned_crl_share_one_signing() {
    let s = TestServer::start(certwright_testkit::Backend::Sqlite).await;
    // A new authority has no CRL until the scheduler or a request signs one.
    let (status, sub) = post(&s, "/v1/authorities", &s.admin_token, json!({ "name": "fresh" })).await;
    assert_eq!(status, StatusCode::CREATED, "{sub}");
    let sub_id = sub["id"].as_str().unwrap().to_owned();
    let path = format!("/crl/{sub_id}/2.crl");
    let fetches = (0..8).map(|_| fetch(&s, &path));
    let crls = futures_util::future::join_all(fetches).await;
    let numbers: std::collections::HashSet<Option<u64>> = crls
        .iter()
        .map(|(status, _, der)| {
            assert_eq!(*status, StatusCode::OK);
            certwright_pki::crl::inspect(der).unwrap().number
        })
        .collect();
    assert!(numbers.len() <= 2, "at most the scheduler's CRL and one signed on demand: {numbers:?}");
}
