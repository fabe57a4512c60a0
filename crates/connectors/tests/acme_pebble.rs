//! The ACME client against Let's Encrypt's `pebble` test CA (Debian package `pebble`) on loopback, with real
//! challenge validation: pebble resolves names through `pebble-challtestsrv`'s mock DNS (every A record is
//! 127.0.0.1), fetches http-01 responses from our `Http01Tokens` served on the port its config names, and reads
//! dns-01 TXT records we publish through challtestsrv. Issued certificates are checked with `openssl`.

mod common;

use certwright_connectors::acme::{
    dns01_txt_value, Account, AccountKey, AcmeClient, AcmeError, BoxFuture, ChallengeKind, ChallengeResponder,
    ExternalAccountBinding, Http01Tokens, Identifier, OrderStatus, PollPolicy,
};
use common::{free_port, openssl, require, Proc};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const EAB_KID: &str = "kid-certwright";
const EAB_KEY: &str = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W";

/// A running pebble with its mock DNS and an http-01 responder on pebble's validation port.
struct Pebble {
    dir: tempfile::TempDir,
    directory_url: String,
    management_url: String,
    challtestsrv_url: String,
    http: reqwest::Client,
    tokens: Http01Tokens,
    _procs: Vec<Proc>,
}

impl Pebble {
    async fn start(eab_required: bool) -> Pebble {
        require("pebble", "pebble");
        require("pebble-challtestsrv", "pebble");
        require("openssl", "openssl");
        common::crypto_provider();
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        make_tls_certificate(d);

        // The http-01 responder: bound before pebble starts, on the port pebble's config will name.
        let http_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let http_port = http_listener.local_addr().unwrap().port();
        let tokens = Http01Tokens::new();
        let served = tokens.clone();
        let app = axum::Router::new().route(
            "/.well-known/acme-challenge/{token}",
            axum::routing::get(move |axum::extract::Path(token): axum::extract::Path<String>| {
                let served = served.clone();
                async move {
                    match served.key_authorization(&token) {
                        Some(ka) => (axum::http::StatusCode::OK, ka),
                        None => (axum::http::StatusCode::NOT_FOUND, String::new()),
                    }
                }
            }),
        );
        tokio::spawn(async move { axum::serve(http_listener, app).await });

        let (dns_port, cts_mgmt_port) = (free_port(), free_port());
        let mut cts = Command::new("pebble-challtestsrv");
        cts.args(["-dns01", &format!("127.0.0.1:{dns_port}"), "-http01", "", "-https01", "", "-tlsalpn01", ""]).args([
            "-management",
            &format!("127.0.0.1:{cts_mgmt_port}"),
            "-defaultIPv4",
            "127.0.0.1",
            "-defaultIPv6",
            "",
        ]);
        let mut cts = Proc::spawn("challtestsrv", cts, d);

        let (acme_port, mgmt_port, tls_port) = (free_port(), free_port(), free_port());
        let mut config = json!({ "pebble": {
            "listenAddress": format!("127.0.0.1:{acme_port}"),
            "managementListenAddress": format!("127.0.0.1:{mgmt_port}"),
            "certificate": d.join("cert.pem"),
            "privateKey": d.join("key.pem"),
            "httpPort": http_port,
            "tlsPort": tls_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false,
        }});
        if eab_required {
            config["pebble"]["externalAccountBindingRequired"] = json!(true);
            config["pebble"]["externalAccountMACKeys"] = json!({ EAB_KID: EAB_KEY });
        }
        std::fs::write(d.join("pebble.json"), config.to_string()).unwrap();
        let mut cmd = Command::new("pebble");
        cmd.arg("-config").arg(d.join("pebble.json")).args(["-dnsserver", &format!("127.0.0.1:{dns_port}")]);
        cmd.env("PEBBLE_VA_NOSLEEP", "1").env("PEBBLE_AUTHZREUSE", "0").env_remove("PEBBLE_VA_ALWAYS_VALID");
        let mut pebble = Proc::spawn("pebble", cmd, d);

        let root = reqwest::Certificate::from_pem(&std::fs::read(d.join("tls-root.pem")).unwrap()).unwrap();
        let http =
            reqwest::Client::builder().add_root_certificate(root).timeout(Duration::from_secs(30)).build().unwrap();
        let directory_url = format!("https://localhost:{acme_port}/dir");
        let mut ready = false;
        for _ in 0..100 {
            pebble.assert_running(d);
            cts.assert_running(d);
            if http.get(&directory_url).send().await.is_ok_and(|r| r.status().is_success()) {
                ready = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(ready, "pebble did not serve {directory_url}: {}", read_log(d, "pebble"));
        Pebble {
            directory_url,
            management_url: format!("https://localhost:{mgmt_port}"),
            challtestsrv_url: format!("http://127.0.0.1:{cts_mgmt_port}"),
            http,
            tokens,
            _procs: vec![cts, pebble],
            dir,
        }
    }

    async fn client(&self) -> AcmeClient {
        AcmeClient::new(&self.directory_url, self.http.clone()).await.unwrap()
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    async fn management(&self, path: &str) -> reqwest::Response {
        self.http.get(format!("{}{path}", self.management_url)).send().await.unwrap()
    }
}

fn read_log(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(format!("{name}.log"))).unwrap_or_default()
}

/// A throwaway CA and a `localhost` / 127.0.0.1 server certificate for pebble's HTTPS listeners (Debian ships
/// pebble without its test certificates).
fn make_tls_certificate(d: &Path) {
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
            "tls-root.key",
            "-out",
            "tls-root.pem",
            "-days",
            "2",
            "-subj",
            "/CN=certwright test TLS root",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    openssl(
        d,
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "key.pem",
            "-out",
            "tls.csr",
            "-subj",
            "/CN=localhost",
        ],
    );
    std::fs::write(
        d.join("tls.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        d,
        &[
            "x509",
            "-req",
            "-in",
            "tls.csr",
            "-CA",
            "tls-root.pem",
            "-CAkey",
            "tls-root.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "tls.ext",
            "-out",
            "cert.pem",
        ],
    );
}

/// A CSR made by openssl for `names` (first as CN, all as SANs), DER; its key in `<tag>.key`.
fn csr(dir: &Path, tag: &str, names: &[&str]) -> Vec<u8> {
    let san = names.iter().map(|n| format!("DNS:{n}")).collect::<Vec<_>>().join(",");
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
            &format!("{tag}.key"),
            "-subj",
            &format!("/CN={}", names[0]),
            "-addext",
            &format!("subjectAltName={san}"),
            "-outform",
            "DER",
            "-out",
            &format!("{tag}.csr.der"),
        ],
    );
    std::fs::read(dir.join(format!("{tag}.csr.der"))).unwrap()
}

fn pem(der: &[u8]) -> String {
    certwright_pki::pem::encode("CERTIFICATE", der)
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn quick() -> PollPolicy {
    PollPolicy {
        interval: Duration::from_millis(200),
        max_interval: Duration::from_secs(2),
        timeout: Duration::from_secs(30),
    }
}

async fn account(client: &AcmeClient) -> Account {
    let key = AccountKey::generate().unwrap();
    client.register(&key, &["mailto:pki@certwright.test".into()], None).await.unwrap()
}

#[tokio::test]
async fn http01_order_yields_a_certificate_for_the_csr_and_resumes_from_its_url() {
    let pebble = Pebble::start(false).await;
    let d = pebble.path();
    let names = ["www.certwright.test", "api.certwright.test"];
    let identifiers: Vec<Identifier> = names.iter().map(|n| Identifier::dns(*n)).collect();
    let csr_der = csr(d, "leaf", &names);

    // First process: register and place the order, keeping only what a database would keep.
    let (order_url, account_url, key_pkcs8) = {
        let client = pebble.client().await;
        let account = account(&client).await;
        assert!(account.url.starts_with("https://localhost:"), "{}", account.url);
        let again = client.find_account(&account.key).await.unwrap();
        assert_eq!(again.url, account.url, "onlyReturnExisting finds the same account");
        let order = client.start_order(&account, &identifiers).await.unwrap();
        assert_eq!(order.status, OrderStatus::Pending);
        assert_eq!(order.authorizations.len(), 2);
        (order.url, account.url, account.key.to_pkcs8())
    };

    // "After a restart": a new client and the account rebuilt from storage resume the order.
    let client = pebble.client().await;
    let account = Account::new(account_url, AccountKey::from_pkcs8(&key_pkcs8).unwrap());
    let issued = client.resume(&account, &order_url, &csr_der, &pebble.tokens, quick()).await.unwrap();
    assert_eq!(issued.order_url, order_url);
    assert!(pebble.tokens.is_empty(), "responses are withdrawn after validation");
    assert!(!issued.chain_der.is_empty(), "pebble sends its intermediate");
    assert_eq!(client.order(&account, &order_url).await.unwrap().status, OrderStatus::Valid);

    // openssl: the names are the CSR's, the key is the CSR's, and the chain verifies to pebble's root.
    write(d, "leaf.pem", &pem(&issued.certificate_der));
    let sans = openssl(d, &["x509", "-in", "leaf.pem", "-noout", "-ext", "subjectAltName"]);
    for n in names {
        assert!(sans.contains(&format!("DNS:{n}")), "{sans}");
    }
    let cert_key = openssl(d, &["x509", "-in", "leaf.pem", "-noout", "-pubkey"]);
    let csr_key = openssl(d, &["req", "-in", "leaf.csr.der", "-inform", "DER", "-noout", "-pubkey"]);
    assert_eq!(cert_key, csr_key, "the certificate certifies the CSR's key");
    let chain: String = issued.chain_der.iter().map(|c| pem(c)).collect();
    write(d, "chain.pem", &chain);
    let root = pebble.management("/roots/0").await.text().await.unwrap();
    write(d, "pebble-root.pem", &root);
    let verified = openssl(d, &["verify", "-CAfile", "pebble-root.pem", "-untrusted", "chain.pem", "leaf.pem"]);
    assert!(verified.contains("leaf.pem: OK"), "{verified}");
}

/// dns-01 through pebble-challtestsrv's management API: the TXT record pebble looks up is the one we publish.
struct ChallTestSrvDns {
    url: String,
    http: reqwest::Client,
}

impl ChallTestSrvDns {
    async fn call(&self, path: &str, body: Value) -> Result<(), String> {
        let r = self.http.post(format!("{}{path}", self.url)).json(&body).send().await.map_err(|e| e.to_string())?;
        r.error_for_status().map(|_| ()).map_err(|e| e.to_string())
    }
}

impl ChallengeResponder for ChallTestSrvDns {
    fn kinds(&self) -> Vec<ChallengeKind> {
        vec![ChallengeKind::Dns01]
    }
    fn present<'a>(
        &'a self,
        _: ChallengeKind,
        id: &'a Identifier,
        _: &'a str,
        ka: &'a str,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let host = format!("_acme-challenge.{}.", id.value());
            self.call("/set-txt", json!({ "host": host, "value": dns01_txt_value(ka) })).await
        })
    }
    fn cleanup<'a>(
        &'a self,
        _: ChallengeKind,
        id: &'a Identifier,
        _: &'a str,
        _: &'a str,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(
            async move { self.call("/clear-txt", json!({ "host": format!("_acme-challenge.{}.", id.value()) })).await },
        )
    }
}

#[tokio::test]
async fn dns01_authorizes_a_wildcard() {
    let pebble = Pebble::start(false).await;
    let client = pebble.client().await;
    let account = account(&client).await;
    let names = ["*.wild.certwright.test"];
    let csr_der = csr(pebble.path(), "wild", &names);
    let dns = ChallTestSrvDns { url: pebble.challtestsrv_url.clone(), http: reqwest::Client::new() };
    let issued = client.issue(&account, &csr_der, &[Identifier::dns(names[0])], &dns, quick()).await.unwrap();
    write(pebble.path(), "wild.pem", &pem(&issued.certificate_der));
    let sans = openssl(pebble.path(), &["x509", "-in", "wild.pem", "-noout", "-ext", "subjectAltName"]);
    assert!(sans.contains("DNS:*.wild.certwright.test"), "{sans}");

    // The http-01 responder cannot authorize a wildcard: a typed error names what was offered. The name is new to
    // this account, so pebble has no valid authorization it could reuse for it.
    let other = ["*.other.certwright.test"];
    let other_csr = csr(pebble.path(), "other", &other);
    let err =
        client.issue(&account, &other_csr, &[Identifier::dns(other[0])], &pebble.tokens, quick()).await.unwrap_err();
    let AcmeError::NoSupportedChallenge { identifier, offered } = &err else { panic!("unexpected {err}") };
    assert_eq!(identifier, "*.other.certwright.test");
    assert_eq!(offered, "dns-01", "pebble offers only dns-01 for a wildcard");
}

#[tokio::test]
async fn revoked_certificate_is_reported_revoked_by_pebble_with_its_reason() {
    let pebble = Pebble::start(false).await;
    let client = pebble.client().await;
    let account = account(&client).await;
    let names = ["revoke.certwright.test"];
    let csr_der = csr(pebble.path(), "rev", &names);
    let issued = client.issue(&account, &csr_der, &[Identifier::dns(names[0])], &pebble.tokens, quick()).await.unwrap();
    write(pebble.path(), "rev.pem", &pem(&issued.certificate_der));
    let serial = openssl(pebble.path(), &["x509", "-in", "rev.pem", "-noout", "-serial"]);
    let serial = serial.trim().trim_start_matches("serial=").trim_start_matches('0').to_lowercase();

    let before: Value = pebble.management(&format!("/cert-status-by-serial/{serial}")).await.json().await.unwrap();
    assert_eq!(before["Status"], "Valid", "{before}");
    client.revoke(&account, &issued.certificate_der, Some(4)).await.unwrap();
    let after: Value = pebble.management(&format!("/cert-status-by-serial/{serial}")).await.json().await.unwrap();
    assert_eq!(after["Status"], "Revoked", "{after}");
    assert_eq!(after["Reason"], 4, "superseded");

    let again = client.revoke(&account, &issued.certificate_der, None).await.unwrap_err();
    let problem = again.problem().expect("a problem document");
    assert!(problem.is("alreadyRevoked"), "{again}");
    assert_eq!(again.code(), "acme.problem.alreadyRevoked");
}

/// Serves a key authorization that is not the one the CA expects.
struct WrongHttp01(Http01Tokens);

impl ChallengeResponder for WrongHttp01 {
    fn kinds(&self) -> Vec<ChallengeKind> {
        self.0.kinds()
    }
    fn present<'a>(
        &'a self,
        k: ChallengeKind,
        id: &'a Identifier,
        t: &'a str,
        _: &'a str,
    ) -> BoxFuture<'a, Result<(), String>> {
        self.0.present(k, id, t, "not-the-key-authorization")
    }
    fn cleanup<'a>(
        &'a self,
        k: ChallengeKind,
        id: &'a Identifier,
        t: &'a str,
        ka: &'a str,
    ) -> BoxFuture<'a, Result<(), String>> {
        self.0.cleanup(k, id, t, ka)
    }
}

#[tokio::test]
async fn refusals_are_typed_problem_documents() {
    let pebble = Pebble::start(false).await;
    let client = pebble.client().await;
    let account = account(&client).await;

    // A CSR whose names differ from the order's: finalize is refused with a problem, not a panic or a hang.
    let csr_der = csr(pebble.path(), "other", &["other.certwright.test"]);
    let err = client
        .issue(&account, &csr_der, &[Identifier::dns("ordered.certwright.test")], &pebble.tokens, quick())
        .await
        .unwrap_err();
    let AcmeError::Problem(problem) = &err else { panic!("expected a problem document, got {err}") };
    // Pebble answers `unauthorized` here (Boulder says `badCSR`); either way the detail names the missing domain.
    assert!(problem.is("unauthorized") || problem.is("badCSR"), "{err}");
    assert!(problem.detail.as_deref().is_some_and(|d| d.contains("ordered.certwright.test")), "{problem:?}");
    assert!(problem.status.is_some_and(|s| (400..500).contains(&s)), "{problem:?}");
    assert!(problem.detail.as_deref().is_some_and(|d| !d.is_empty()), "{problem:?}");
    assert!(!err.is_retryable());
    assert!(err.to_string().starts_with("the ACME CA refused the request: "), "{err}");

    // A wrong http-01 response: pebble really fetches it, and the failed validation comes back typed.
    let names = ["wrong.certwright.test"];
    let csr_der = csr(pebble.path(), "wrong", &names);
    let wrong = WrongHttp01(pebble.tokens.clone());
    let err = client.issue(&account, &csr_der, &[Identifier::dns(names[0])], &wrong, quick()).await.unwrap_err();
    let AcmeError::ChallengeFailed { identifier, problem } = &err else {
        panic!("expected a failed challenge, got {err}")
    };
    assert_eq!(identifier, "wrong.certwright.test");
    assert!(problem.as_ref().is_some_and(|p| p.is("unauthorized")), "{err}");
    assert!(pebble.tokens.is_empty(), "the response is withdrawn after a failure too");

    // A key the CA never saw: onlyReturnExisting answers accountDoesNotExist.
    let stranger = AccountKey::generate().unwrap();
    let err = client.find_account(&stranger).await.unwrap_err();
    assert!(err.problem().is_some_and(|p| p.is("accountDoesNotExist")), "{err}");

    // A malformed identifier: refused at newOrder.
    let err = client.start_order(&account, &[Identifier::dns("not a name")]).await.unwrap_err();
    assert!(matches!(err, AcmeError::Problem(_)), "{err}");
}

#[tokio::test]
async fn external_account_binding_is_required_and_checked() {
    let pebble = Pebble::start(true).await;
    let client = pebble.client().await;
    assert!(client.directory().meta.external_account_required);
    let key = AccountKey::generate().unwrap();

    let err = client.register(&key, &[], None).await.unwrap_err();
    assert!(err.problem().is_some_and(|p| p.is("externalAccountRequired")), "{err}");

    let wrong = ExternalAccountBinding::from_base64url(EAB_KID, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8").unwrap();
    let err = client.register(&key, &[], Some(&wrong)).await.unwrap_err();
    assert!(err.problem().is_some(), "a wrong MAC key is refused: {err}");

    let eab = ExternalAccountBinding::from_base64url(EAB_KID, EAB_KEY).unwrap();
    let account = client.register(&key, &["mailto:pki@certwright.test".into()], Some(&eab)).await.unwrap();
    let names = ["eab.certwright.test"];
    let csr_der = csr(pebble.path(), "eab", &names);
    let issued = client.issue(&account, &csr_der, &[Identifier::dns(names[0])], &pebble.tokens, quick()).await.unwrap();
    assert!(!issued.certificate_der.is_empty());
}
