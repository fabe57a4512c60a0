//! The ACME server against real ACME clients, with real challenge validation on loopback: Debian's `certbot`
//! (http-01 standalone: obtain, forced renewal, revocation; external account binding) and `lego` (http-01,
//! tls-alpn-01, and dns-01 through `pebble-challtestsrv` as the DNS server, a wildcard and CAA included), and a
//! certbot from PyPI that renews when ACME Renewal Information says so. Each client talks to the HTTPS directory
//! trusting the server's `ca.pem`; what it writes is checked with `openssl` and the inventory
//! (`GET /v1/certificates?origin=acme`) through the API. A missing client fails the test (scripts/test.sh
//! installs them).

use certwright_testkit::process::{free_port, openssl, require, run, spawn, Finished, Killed};
use certwright_testkit::{Backend, TestServer};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const CLIENT_TIMEOUT: Duration = Duration::from_secs(180);

/// A server whose validator fetches http-01 from `http01_port`, connects tls-alpn-01 to `tlsalpn01_port` and
/// resolves `names` to 127.0.0.1.
async fn server(names: &[&str], http01_port: u16, tlsalpn01_port: u16, dns: Option<u16>) -> TestServer {
    TestServer::start_with(Backend::Sqlite, |c| {
        c.acme_http01_port = http01_port;
        c.acme_tlsalpn01_port = tlsalpn01_port;
        c.acme_resolve = names.iter().map(|n| format!("{n}=127.0.0.1")).collect();
        c.acme_dns_server = dns.map(|port| ([127, 0, 0, 1], port).into());
    })
    .await
}

fn ca_pem(s: &TestServer) -> PathBuf {
    s.data_dir.path().join("data/ca.pem")
}

fn directory(s: &TestServer, profile: &str) -> String {
    format!("{}/acme/{profile}/directory", s.https_url)
}

/// `openssl verify` of `leaf` up to the server's root with the intermediates in `chain`.
fn assert_verifies(s: &TestServer, dir: &Path, leaf: &Path, chain: &Path) {
    let ca = ca_pem(s);
    let out = openssl(
        dir,
        &[
            "verify",
            "-CAfile",
            ca.to_str().unwrap(),
            "-untrusted",
            chain.to_str().unwrap(),
            "-purpose",
            "sslserver",
            leaf.to_str().unwrap(),
        ],
    );
    assert!(out.trim_end().ends_with(": OK"), "{out}");
}

/// The SAN extension of a PEM certificate as openssl prints it.
fn sans(dir: &Path, leaf: &Path) -> String {
    openssl(dir, &["x509", "-in", leaf.to_str().unwrap(), "-noout", "-ext", "subjectAltName"])
}

/// The serial of a PEM certificate, lower-case hex as the inventory writes it.
fn serial(dir: &Path, leaf: &Path) -> String {
    let out = openssl(dir, &["x509", "-in", leaf.to_str().unwrap(), "-noout", "-serial"]);
    out.trim().trim_start_matches("serial=").trim_start_matches('0').to_ascii_lowercase()
}

/// The ACME-issued certificates of the inventory.
async fn inventory(s: &TestServer) -> Vec<Value> {
    let listed = s.get_json("/v1/certificates?origin=acme", &s.admin_token).await;
    listed["items"].as_array().cloned().unwrap_or_else(|| panic!("{listed}"))
}

fn find<'a>(items: &'a [Value], serial: &str) -> &'a Value {
    items
        .iter()
        .find(|i| i["serial"].as_str().map(|s| s.trim_start_matches('0')) == Some(serial))
        .unwrap_or_else(|| panic!("serial {serial} is not in the inventory: {items:?}"))
}

/// An EAB key for `profile`: (kid, hmac_key).
async fn eab_key(s: &TestServer, profile: &str) -> (String, String) {
    let resp = s
        .http()
        .post(s.at("/v1/acme/eab-keys"))
        .bearer_auth(&s.admin_token)
        .json(&json!({ "ra_profile": profile, "owner": "team-web" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let created: Value = resp.json().await.unwrap();
    (created["kid"].as_str().unwrap().to_owned(), created["hmac_key"].as_str().unwrap().to_owned())
}

// ---- certbot ----------------------------------------------------------------------------------------------------

/// `certbot args…` with its state in `dir`, trusting the server's CA.
async fn certbot(s: &TestServer, dir: &Path, name: &str, args: &[&str]) -> Finished {
    require("certbot", "certbot");
    certbot_program(Path::new("certbot"), s, dir, name, args).await
}

/// `program args…`, a certbot, with its state in `dir`, trusting the server's CA.
async fn certbot_program(program: &Path, s: &TestServer, dir: &Path, name: &str, args: &[&str]) -> Finished {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .arg("--config-dir")
        .arg(dir.join("config"))
        .arg("--work-dir")
        .arg(dir.join("work"))
        .arg("--logs-dir")
        .arg(dir.join("logs"))
        .args(["--non-interactive", "--agree-tos", "-m", "ops@example.org"])
        .env("REQUESTS_CA_BUNDLE", ca_pem(s));
    run(dir, name, &mut cmd, CLIENT_TIMEOUT).await
}

fn succeeded(what: &str, f: &Finished) {
    assert!(f.success(), "{what} failed ({}):\n{}", f.status, f.log);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certbot_obtains_renews_and_revokes_with_http01() {
    let port = free_port();
    let s = server(&["www.example.test"], port, 0, None).await;
    s.acme_profile("web", json!({ "enabled": true })).await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let directory = directory(&s, "web");
    let port = port.to_string();
    let obtain = [
        "certonly",
        "--standalone",
        "--preferred-challenges",
        "http",
        "--http-01-address",
        "127.0.0.1",
        "--http-01-port",
        &port,
        "-d",
        "www.example.test",
        "--server",
        &directory,
    ];
    succeeded("certbot certonly", &certbot(&s, dir, "certonly", &obtain).await);
    let live = dir.join("config/live/www.example.test");
    let (cert, chain) = (live.join("cert.pem"), live.join("chain.pem"));
    assert_verifies(&s, dir, &cert, &chain);
    assert!(sans(dir, &cert).contains("DNS:www.example.test"));
    let first = serial(dir, &cert);
    let items = inventory(&s).await;
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(find(&items, &first)["state"], "issued");

    // A forced renewal goes through the same account and challenge and replaces the live certificate.
    let renew = ["renew", "--force-renewal", "--no-random-sleep-on-renew"];
    succeeded("certbot renew", &certbot(&s, dir, "renew", &renew).await);
    assert_verifies(&s, dir, &cert, &chain);
    let second = serial(dir, &cert);
    assert_ne!(first, second, "renewal issues a new certificate");
    let items = inventory(&s).await;
    assert_eq!(items.len(), 2, "{items:?}");

    // Revoked for key compromise: the inventory and the OCSP responder say so.
    let cert_path = cert.to_str().unwrap();
    let revoke = [
        "revoke",
        "--cert-path",
        cert_path,
        "--reason",
        "keycompromise",
        "--no-delete-after-revoke",
        "--server",
        &directory,
    ];
    succeeded("certbot revoke", &certbot(&s, dir, "revoke", &revoke).await);
    let items = inventory(&s).await;
    let revoked = find(&items, &second);
    assert_eq!(revoked["state"], "revoked", "{revoked}");
    assert_eq!(find(&items, &first)["state"], "issued");
    let id = revoked["id"].as_str().unwrap();
    let detail = s.get_json(&format!("/v1/certificates/{id}"), &s.admin_token).await;
    assert_eq!(detail["revocation"]["reason"], "keyCompromise", "{detail}");

    let mut bundle = std::fs::read_to_string(&chain).unwrap();
    bundle.push_str(&std::fs::read_to_string(ca_pem(&s)).unwrap());
    std::fs::write(dir.join("bundle.pem"), bundle).unwrap();
    let issuer = std::fs::read_to_string(&chain).unwrap();
    let issuer = issuer.split_inclusive("-----END CERTIFICATE-----\n").next().unwrap();
    std::fs::write(dir.join("issuer.pem"), issuer).unwrap();
    let url = s.at("/ocsp");
    let status =
        openssl(dir, &["ocsp", "-issuer", "issuer.pem", "-cert", cert_path, "-url", &url, "-CAfile", "bundle.pem"]);
    assert!(status.contains(&format!("{cert_path}: revoked")), "{status}");
    assert!(status.contains("Reason: keyCompromise"), "{status}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certbot_binds_its_account_with_eab_where_the_directory_requires_it() {
    let port = free_port();
    let s = server(&["eab.example.test"], port, 0, None).await;
    s.acme_profile("eab", json!({ "enabled": true, "external_account_required": true })).await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let directory = directory(&s, "eab");
    let port = port.to_string();
    let obtain = [
        "certonly",
        "--standalone",
        "--http-01-address",
        "127.0.0.1",
        "--http-01-port",
        &port,
        "-d",
        "eab.example.test",
        "--server",
        &directory,
    ];

    // Without a binding no account is made, and certbot says why.
    let refused = certbot(&s, dir, "no-eab", &obtain).await;
    assert!(!refused.success(), "{}", refused.log);
    assert!(refused.log.to_ascii_lowercase().contains("external account"), "{}", refused.log);
    assert!(inventory(&s).await.is_empty());

    let (kid, hmac) = eab_key(&s, "eab").await;
    let mut with_eab = obtain.to_vec();
    // `=`: a base64url key may start with '-', which certbot's argument parser would take for an option.
    let hmac_arg = format!("--eab-hmac-key={hmac}");
    with_eab.extend_from_slice(&["--eab-kid", &kid, &hmac_arg]);
    succeeded("certbot certonly with EAB", &certbot(&s, dir, "eab", &with_eab).await);
    let live = dir.join("config/live/eab.example.test");
    assert_verifies(&s, dir, &live.join("cert.pem"), &live.join("chain.pem"));
    let items = inventory(&s).await;
    assert_eq!(items.len(), 1, "{items:?}");
    assert!(items[0]["created_by"].as_str().unwrap().starts_with("acme-account:"), "{}", items[0]);
    let keys = s.get_json("/v1/acme/eab-keys", &s.admin_token).await;
    assert_eq!(keys["items"][0]["used"], true, "{keys}");
    s.stop().await;
}

/// A certbot with ARI support (4.1 or later; Debian's 2.1 has none), named by `CERTWRIGHT_TEST_CERTBOT_ARI`;
/// scripts/test.sh installs one from PyPI in a virtualenv when it can.
const CERTBOT_ARI: &str = "CERTWRIGHT_TEST_CERTBOT_ARI";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certbot_renews_when_renewal_info_says_so() {
    let Some(program) = std::env::var_os(CERTBOT_ARI).map(PathBuf::from) else {
        eprintln!("{CERTBOT_ARI} is not set (a certbot >= 4.1, e.g. from `pip install certbot`): ARI case not run");
        return;
    };
    let port = free_port();
    let s = server(&["calm.example.test", "hurried.example.test"], port, 0, None).await;
    s.acme_profile("web", json!({ "enabled": true })).await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let directory = directory(&s, "web");
    let port = port.to_string();
    for name in ["calm.example.test", "hurried.example.test"] {
        let args = [
            "certonly",
            "--standalone",
            "--http-01-address",
            "127.0.0.1",
            "--http-01-port",
            &port,
            "-d",
            name,
            "--server",
            &directory,
        ];
        succeeded("certbot certonly", &certbot_program(&program, &s, dir, name, &args).await);
    }
    let serial_of = |name: &str| serial(dir, &dir.join(format!("config/live/{name}/cert.pem")));
    let (calm, hurried) = (serial_of("calm.example.test"), serial_of("hurried.example.test"));

    // Revoked through the API, one certificate's window moves into the past; the other's is weeks away. The
    // certificates' OCSP URLs lead nowhere (the test server has no public URL), so only ARI can tell certbot.
    let items = inventory(&s).await;
    let id = find(&items, &hurried)["id"].as_str().unwrap().to_owned();
    let resp = s
        .http()
        .post(s.at(&format!("/v1/certificates/{id}/revoke")))
        .bearer_auth(&s.admin_token)
        .json(&json!({ "reason": "superseded" }))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.text().await.unwrap());

    let renew = certbot_program(&program, &s, dir, "renew", &["renew", "--no-random-sleep-on-renew"]).await;
    succeeded("certbot renew", &renew);
    let debug = std::fs::read_to_string(dir.join("logs/letsencrypt.log")).unwrap();
    let asked = debug.lines().filter(|l| l.contains("GET request to") && l.contains("/acme/web/renewal-info/")).count();
    assert_eq!(asked, 2, "certbot asks renewalInfo for both certificates:\n{debug}");
    assert!(renew.log.contains("Certificate not yet due for renewal"), "{}", renew.log);
    assert_eq!(serial_of("calm.example.test"), calm, "the calm certificate stays");
    let renewed = serial_of("hurried.example.test");
    assert_ne!(renewed, hurried, "the revoked certificate is renewed:\n{}", renew.log);
    let items = inventory(&s).await;
    assert_eq!(items.len(), 3, "{items:?}");
    assert_eq!(find(&items, &renewed)["state"], "issued");
    s.stop().await;
}

// ---- lego -------------------------------------------------------------------------------------------------------

/// `lego --server … --path <dir>/lego … run`, trusting the server's CA.
async fn lego(
    s: &TestServer,
    dir: &Path,
    name: &str,
    directory: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> Finished {
    require("lego", "lego");
    let mut cmd = Command::new("lego");
    cmd.args(["--server", directory, "--accept-tos", "--email", "ops@example.org", "--path"])
        .arg(dir.join("lego"))
        .args(args)
        .arg("run")
        .env("LEGO_CA_CERTIFICATES", ca_pem(s))
        .envs(env.iter().copied());
    run(dir, name, &mut cmd, CLIENT_TIMEOUT).await
}

/// Checks what lego wrote for `main` (its first domain): the certificate verifies and names `expected`.
fn assert_lego_certificate(s: &TestServer, dir: &Path, main: &str, expected: &[&str]) -> String {
    let file = main.replace('*', "_");
    let certs = dir.join("lego/certificates");
    let (leaf, issuer) = (certs.join(format!("{file}.crt")), certs.join(format!("{file}.issuer.crt")));
    assert_verifies(s, dir, &leaf, &issuer);
    let text = sans(dir, &leaf);
    for name in expected {
        assert!(text.contains(&format!("DNS:{name}")), "{text}");
    }
    serial(dir, &leaf)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lego_obtains_with_http01_and_tls_alpn01() {
    let (http, tls) = (free_port(), free_port());
    let s = server(&["http.example.test", "tls.example.test"], http, tls, None).await;
    s.acme_profile("web", json!({ "enabled": true, "challenges": ["http-01", "tls-alpn-01"] })).await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let directory = directory(&s, "web");

    let http = format!("127.0.0.1:{http}");
    let args = ["--domains", "http.example.test", "--http", "--http.port", &http];
    succeeded("lego http-01", &lego(&s, dir, "lego-http", &directory, &args, &[]).await);
    let first = assert_lego_certificate(&s, dir, "http.example.test", &["http.example.test"]);

    let tls = format!("127.0.0.1:{tls}");
    let args = ["--domains", "tls.example.test", "--tls", "--tls.port", &tls];
    succeeded("lego tls-alpn-01", &lego(&s, dir, "lego-tls", &directory, &args, &[]).await);
    let second = assert_lego_certificate(&s, dir, "tls.example.test", &["tls.example.test"]);

    let items = inventory(&s).await;
    assert_eq!(items.len(), 2, "{items:?}");
    for serial in [first, second] {
        assert_eq!(find(&items, &serial)["state"], "issued");
    }
    s.stop().await;
}

/// pebble-challtestsrv as a DNS server only: (DNS port, management URL, process).
async fn challtestsrv(dir: &Path) -> (u16, String, Killed) {
    require("pebble-challtestsrv", "pebble");
    let (dns, mgmt) = (free_port(), free_port());
    let process = spawn(
        dir,
        "challtestsrv",
        Command::new("pebble-challtestsrv").args([
            "-dns01",
            &format!("127.0.0.1:{dns}"),
            "-management",
            &format!("127.0.0.1:{mgmt}"),
            "-http01",
            "",
            "-https01",
            "",
            "-tlsalpn01",
            "",
        ]),
    );
    let url = format!("http://127.0.0.1:{mgmt}");
    let http = certwright_testkit::http_client();
    for _ in 0..100 {
        // Any answer means the management interface is up.
        if http.post(format!("{url}/clear-txt")).json(&json!({ "host": "up.test." })).send().await.is_ok() {
            return (dns, url, process);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("challtestsrv did not start: {}", std::fs::read_to_string(dir.join("challtestsrv.log")).unwrap_or_default());
}

/// The script lego's `exec` DNS provider calls (`present|cleanup <fqdn> <value>`): it sets the TXT record in
/// challtestsrv.
fn exec_script(dir: &Path, management: &str) -> PathBuf {
    let path = dir.join("dns-hook.sh");
    let script = format!(
        r#"#!/bin/sh
set -eu
case "$1" in
  present) curl -sSf -X POST -d "{{\"host\": \"$2\", \"value\": \"$3\"}}" {management}/set-txt ;;
  cleanup) curl -sSf -X POST -d "{{\"host\": \"$2\"}}" {management}/clear-txt ;;
esac
"#
    );
    std::fs::write(&path, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// lego with the `exec` DNS provider calling `hook`, asking challtestsrv on `dns` and not waiting for
/// authoritative servers to agree.
struct LegoDns<'a> {
    s: &'a TestServer,
    dir: &'a Path,
    directory: String,
    hook: PathBuf,
    dns: u16,
}

impl LegoDns<'_> {
    async fn obtain(&self, name: &str, domains: &[&str]) -> Finished {
        let resolver = format!("127.0.0.1:{}", self.dns);
        let mut args: Vec<&str> = domains.iter().flat_map(|d| ["--domains", d]).collect();
        args.extend(["--dns", "exec", "--dns.resolvers", &resolver, "--dns.disable-cp"]);
        let hook = self.hook.to_str().unwrap();
        // exec solves one name at a time, waiting EXEC_SEQUENCE_INTERVAL (60 s) in between.
        let env = [
            ("EXEC_PATH", hook),
            ("EXEC_PROPAGATION_TIMEOUT", "30"),
            ("EXEC_POLLING_INTERVAL", "1"),
            ("EXEC_SEQUENCE_INTERVAL", "1"),
        ];
        lego(self.s, self.dir, name, &self.directory, &args, &env).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lego_obtains_with_dns01_a_wildcard_and_caa_through_challtestsrv() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (dns, management, _challtestsrv) = challtestsrv(dir).await;
    let s = server(&[], 80, 443, Some(dns)).await;
    s.acme_profile("dns", json!({ "enabled": true, "caa_identities": ["certwright.test"] })).await;
    let lego = LegoDns { s: &s, dir, directory: directory(&s, "dns"), hook: exec_script(dir, &management), dns };

    // A plain name, then a wildcard with its base name: two TXT values under the same _acme-challenge name.
    succeeded("lego dns-01", &lego.obtain("lego-dns", &["dns.example.test"]).await);
    let first = assert_lego_certificate(&s, dir, "dns.example.test", &["dns.example.test"]);
    succeeded("lego dns-01 wildcard", &lego.obtain("lego-wildcard", &["*.example.test", "example.test"]).await);
    let second = assert_lego_certificate(&s, dir, "*.example.test", &["*.example.test", "example.test"]);
    let items = inventory(&s).await;
    assert_eq!(items.len(), 2, "{items:?}");
    let wildcard = find(&items, &second);
    assert_eq!(wildcard["sans"], json!(["dns:*.example.test", "dns:example.test"]), "{wildcard}");
    assert_eq!(find(&items, &first)["state"], "issued");

    // CAA naming us lets a name through; CAA naming only another CA stops it, and lego reports the caa error.
    let http = certwright_testkit::http_client();
    for (host, issuer) in [("ours.example.test.", "certwright.test"), ("theirs.example.test.", "other-ca.example")] {
        let caa = json!({ "host": host, "policies": [{ "tag": "issue", "value": issuer }] });
        let resp = http.post(format!("{management}/add-caa")).json(&caa).send().await.unwrap();
        assert!(resp.status().is_success(), "add-caa: {}", resp.status());
    }
    succeeded("lego dns-01 under our CAA", &lego.obtain("lego-caa-ours", &["ours.example.test"]).await);
    assert_lego_certificate(&s, dir, "ours.example.test", &["ours.example.test"]);
    let refused = lego.obtain("lego-caa-theirs", &["theirs.example.test"]).await;
    assert!(!refused.success(), "{}", refused.log);
    assert!(refused.log.contains("caa"), "{}", refused.log);
    assert_eq!(inventory(&s).await.len(), 3);
    s.stop().await;
}
