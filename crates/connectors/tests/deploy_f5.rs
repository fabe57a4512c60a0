//! The F5 BIG-IP deployer against a stand-in BIG-IP: its iControl REST management API (token login, file
//! uploads, crypto installs, the client-ssl profile) on plain HTTP, and a TLS listener of the virtual server that
//! serves whatever certificate and key the profile points at, so that the fingerprint check is real.

mod common;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use certwright_connectors::deploy::f5::{self, F5Target};
use certwright_connectors::deploy::webserver::{Material, Verify};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::Path as FsPath;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use zeroize::Zeroizing;

const USER: &str = "certwright-deployer";
const PASSWORD: &str = "s3cret-Adm1n-pass";
const PROFILE: &str = "clientssl-shop";

/// How the stand-in departs from a healthy device.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Quirk {
    None,
    /// The profile changes but the virtual server keeps serving the certificate it had (a profile that is not
    /// the one attached to the virtual server).
    VirtualServerFrozen,
}

#[derive(Default)]
struct Device {
    tokens: HashSet<String>,
    next_token: u32,
    /// Uploaded files by name (`/var/config/rest/downloads/<name>`).
    uploads: HashMap<String, Vec<u8>>,
    /// Installed certificates (or bundles) and keys by full path, `/Common/name`.
    certs: HashMap<String, Vec<CertificateDer<'static>>>,
    keys: HashMap<String, Vec<u8>>,
    /// The profile's certKeyChain.
    chain: Vec<Value>,
    /// The certKeyChain entry whose certificate the virtual server serves.
    served: Option<Value>,
    patches: usize,
}

struct Stand {
    quirk: Quirk,
    device: Mutex<Device>,
}

fn f5_error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({"code": status.as_u16(), "message": message, "errorStack": [], "apiError": 3})))
        .into_response()
}

impl Stand {
    /// The 401 answer to a call without a live token.
    fn refused(&self, headers: &HeaderMap) -> Option<Response> {
        let token = headers.get("X-F5-Auth-Token").and_then(|v| v.to_str().ok()).unwrap_or_default();
        if self.device.lock().unwrap().tokens.contains(token) {
            None
        } else {
            Some(f5_error(StatusCode::UNAUTHORIZED, "X-F5-Auth-Token does not exist."))
        }
    }

    /// The certificate chain and key that `entry` points at, when both are installed.
    fn certified_key(device: &Device, entry: &Value) -> Option<CertifiedKey> {
        let mut certs = device.certs.get(entry.get("cert")?.as_str()?)?.clone();
        if let Some(chain) = entry.get("chain").and_then(Value::as_str) {
            certs.extend(device.certs.get(chain)?.iter().cloned());
        }
        let key = PrivateKeyDer::from_pem_slice(device.keys.get(entry.get("key")?.as_str()?)?).ok()?;
        let signer = rustls::crypto::aws_lc_rs::sign::any_supported_type(&key).ok()?;
        Some(CertifiedKey::new(certs, signer))
    }
}

impl std::fmt::Debug for Stand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Stand")
    }
}

impl ResolvesServerCert for Stand {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let device = self.device.lock().unwrap();
        let entry = device.served.clone()?;
        Stand::certified_key(&device, &entry).map(Arc::new)
    }
}

async fn login(State(s): State<Arc<Stand>>, Json(body): Json<Value>) -> Response {
    if body["username"] != USER || body["password"] != PASSWORD || body["loginProviderName"] != "tmos" {
        return f5_error(StatusCode::UNAUTHORIZED, "Authentication failed.");
    }
    let mut device = s.device.lock().unwrap();
    device.next_token += 1;
    let token = format!("TOKEN{:08}", device.next_token);
    device.tokens.insert(token.clone());
    Json(json!({"username": USER, "loginProviderName": "tmos", "token": {"token": token, "timeout": 1200}}))
        .into_response()
}

async fn delete_token(State(s): State<Arc<Stand>>, headers: HeaderMap, Path(token): Path<String>) -> Response {
    if let Some(r) = s.refused(&headers) {
        return r;
    }
    s.device.lock().unwrap().tokens.remove(&token);
    Json(json!({"token": token})).into_response()
}

async fn upload(State(s): State<Arc<Stand>>, headers: HeaderMap, Path(name): Path<String>, body: Bytes) -> Response {
    if let Some(r) = s.refused(&headers) {
        return r;
    }
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    if header("content-type") != "application/octet-stream" {
        return f5_error(StatusCode::BAD_REQUEST, "Content-Type must be application/octet-stream");
    }
    let len = body.len();
    if len == 0 || header("content-range") != format!("0-{}/{len}", len - 1) {
        return f5_error(
            StatusCode::BAD_REQUEST,
            &format!("Content-Range {:?} does not match", header("content-range")),
        );
    }
    s.device.lock().unwrap().uploads.insert(name.clone(), body.to_vec());
    Json(json!({"remainingByteCount": 0, "usedChunks": {"0": len}, "totalByteCount": len, "localFilePath":
        format!("/var/config/rest/downloads/{name}")}))
    .into_response()
}

/// `POST /mgmt/tm/sys/crypto/{cert,key}` with `command: install`.
async fn crypto_install(
    State(s): State<Arc<Stand>>,
    headers: HeaderMap,
    Path(kind): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    if let Some(r) = s.refused(&headers) {
        return r;
    }
    if body["command"] != "install" {
        return f5_error(StatusCode::BAD_REQUEST, "command must be install");
    }
    let name = body["name"].as_str().unwrap_or_default();
    let path = if name.starts_with('/') { name.to_owned() } else { format!("/Common/{name}") };
    let from = body["from-local-file"].as_str().unwrap_or_default();
    let mut device = s.device.lock().unwrap();
    let Some(bytes) = from.strip_prefix("/var/config/rest/downloads/").and_then(|f| device.uploads.get(f)).cloned()
    else {
        return f5_error(StatusCode::BAD_REQUEST, &format!("01070712:3: File not found: {from}"));
    };
    match kind.as_str() {
        "key" => {
            if device.keys.contains_key(&path) {
                return f5_error(
                    StatusCode::CONFLICT,
                    &format!("01020066:3: The requested key ({path}) already exists"),
                );
            }
            if PrivateKeyDer::from_pem_slice(&bytes).is_err() {
                return f5_error(StatusCode::BAD_REQUEST, "Key file is not a valid PEM private key");
            }
            device.keys.insert(path.clone(), bytes);
        }
        "cert" => {
            if device.certs.contains_key(&path) {
                return f5_error(
                    StatusCode::CONFLICT,
                    &format!("01020066:3: The requested cert ({path}) already exists"),
                );
            }
            let certs: Vec<_> = CertificateDer::pem_slice_iter(&bytes).filter_map(Result::ok).collect();
            if certs.is_empty() {
                return f5_error(StatusCode::BAD_REQUEST, "Certificate file is not a valid PEM certificate");
            }
            device.certs.insert(path.clone(), certs);
        }
        _ => return f5_error(StatusCode::NOT_FOUND, "unknown crypto kind"),
    }
    Json(json!({"kind": format!("tm:sys:crypto:{kind}:{kind}state"), "command": "install", "name": name}))
        .into_response()
}

fn profile_body(device: &Device) -> Value {
    let chain: Vec<Value> = device
        .chain
        .iter()
        .map(|e| {
            let mut e = e.clone();
            e["certReference"] = json!({"link": "https://localhost/mgmt/tm/sys/file/ssl-cert/~Common~x?ver=17.1.0"});
            e
        })
        .collect();
    json!({"kind": "tm:ltm:profile:client-ssl:client-sslstate", "name": PROFILE, "partition": "Common",
        "fullPath": format!("/Common/{PROFILE}"), "certKeyChain": chain})
}

async fn get_profile(State(s): State<Arc<Stand>>, headers: HeaderMap, Path(name): Path<String>) -> Response {
    if let Some(r) = s.refused(&headers) {
        return r;
    }
    if name != format!("~Common~{PROFILE}") {
        return f5_error(StatusCode::NOT_FOUND, &format!("01020036:3: The requested profile ({name}) was not found."));
    }
    Json(profile_body(&s.device.lock().unwrap())).into_response()
}

async fn patch_profile(
    State(s): State<Arc<Stand>>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    if let Some(r) = s.refused(&headers) {
        return r;
    }
    if name != format!("~Common~{PROFILE}") {
        return f5_error(StatusCode::NOT_FOUND, &format!("01020036:3: The requested profile ({name}) was not found."));
    }
    let mut device = s.device.lock().unwrap();
    device.patches += 1;
    let Some(entries) = body["certKeyChain"].as_array().cloned() else {
        return f5_error(StatusCode::BAD_REQUEST, "certKeyChain must be an array");
    };
    for entry in &entries {
        for (field, installed) in [("cert", true), ("key", false), ("chain", true)] {
            let Some(path) = entry.get(field).and_then(Value::as_str) else { continue };
            let present = if installed { device.certs.contains_key(path) } else { device.keys.contains_key(path) };
            if !present {
                return f5_error(StatusCode::BAD_REQUEST, &format!("010717e3:3: {field} {path} was not found"));
            }
        }
        let matches = Stand::certified_key(&device, entry).map(|k| k.keys_match().is_ok()).unwrap_or(false);
        if !matches {
            return f5_error(
                StatusCode::BAD_REQUEST,
                &format!("01070313:3: Error reading key PEM file {} for profile /Common/{PROFILE}: error:0B080074:x509 certificate routines:X509_check_private_key:key values mismatch (key and certificate do not match)", entry["key"]),
            );
        }
    }
    device.chain = entries.clone();
    if s.quirk != Quirk::VirtualServerFrozen {
        device.served = entries.first().cloned();
    }
    Json(profile_body(&device)).into_response()
}

/// A stand-in BIG-IP: management API on `api`, virtual server on `vs`.
struct BigIp {
    stand: Arc<Stand>,
    api: SocketAddr,
    vs: SocketAddr,
}

impl BigIp {
    async fn start(quirk: Quirk, initial: &Pki) -> BigIp {
        common::crypto_provider();
        let mut device = Device::default();
        let cert = CertificateDer::pem_slice_iter(initial.old_cert.as_bytes()).map(Result::unwrap).collect();
        device.certs.insert("/Common/shop-2024.crt".into(), cert);
        device.keys.insert("/Common/shop-2024.key".into(), initial.old_key.as_bytes().to_vec());
        let entry = json!({"name": "default", "cert": "/Common/shop-2024.crt", "key": "/Common/shop-2024.key"});
        device.chain = vec![entry.clone()];
        device.served = Some(entry);
        let stand = Arc::new(Stand { quirk, device: Mutex::new(device) });

        let app = Router::new()
            .route("/mgmt/shared/authn/login", post(login))
            .route("/mgmt/shared/authz/tokens/{token}", delete(delete_token))
            .route("/mgmt/shared/file-transfer/uploads/{name}", post(upload))
            .route("/mgmt/tm/sys/crypto/{kind}", post(crypto_install))
            .route("/mgmt/tm/ltm/profile/client-ssl/{name}", get(get_profile).patch(patch_profile))
            .with_state(stand.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let api = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

        let config = rustls::ServerConfig::builder().with_no_client_auth().with_cert_resolver(stand.clone());
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let vs = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else { return };
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    if let Ok(mut tls) = acceptor.accept(tcp).await {
                        use tokio::io::AsyncWriteExt;
                        let _ = tls.shutdown().await;
                    }
                });
            }
        });
        BigIp { stand, api, vs }
    }

    fn target(&self, verify: bool) -> F5Target {
        F5Target {
            base_url: format!("http://{}", self.api),
            username: USER.into(),
            password: Zeroizing::new(PASSWORD.into()),
            partition: "Common".into(),
            profile: PROFILE.into(),
            verify: verify.then(|| Verify {
                address: self.vs,
                server_name: Some("shop.example".into()),
                within: Duration::from_secs(2),
            }),
            ca_pem: None,
            danger_accept_invalid_certs: false,
            timeout: Duration::from_secs(10),
        }
    }

    fn chain(&self) -> Vec<Value> {
        self.stand.device.lock().unwrap().chain.clone()
    }

    fn tokens_left(&self) -> usize {
        self.stand.device.lock().unwrap().tokens.len()
    }
}

/// Test certificates made by openssl: the one the device starts with, and a new one issued by a CA.
struct Pki {
    _dir: tempfile::TempDir,
    old_cert: String,
    old_key: String,
    new_cert: String,
    new_key: String,
    ca_cert: String,
}

fn read(dir: &FsPath, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap()
}

fn pki() -> Pki {
    common::require("openssl", "openssl");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "30"];
    let san = ["-addext", "subjectAltName=DNS:shop.example"];
    common::openssl(
        d,
        &[
            &["req", "-x509"],
            &ec[..],
            &san[..],
            &["-subj", "/CN=shop.example", "-keyout", "old.key", "-out", "old.crt"],
        ]
        .concat(),
    );
    common::openssl(
        d,
        &[&["req", "-x509"], &ec[..], &["-subj", "/CN=Test CA", "-keyout", "ca.key", "-out", "ca.crt"]].concat(),
    );
    common::openssl(
        d,
        &[
            &["req", "-x509"],
            &ec[..],
            &san[..],
            &[
                "-subj",
                "/CN=shop.example",
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-keyout",
                "new.key",
                "-out",
                "new.crt",
            ],
        ]
        .concat(),
    );
    Pki {
        old_cert: read(d, "old.crt"),
        old_key: read(d, "old.key"),
        new_cert: read(d, "new.crt"),
        new_key: read(d, "new.key"),
        ca_cert: read(d, "ca.crt"),
        _dir: dir,
    }
}

fn fingerprint(pem: &str) -> String {
    let (_, der) = certwright_pki::pem::decode(pem).unwrap();
    certwright_pki::digest::hex(&certwright_pki::digest::sha256(&der))
}

fn material(cert: &str, chain: &str, key: &str) -> Material {
    Material {
        certificate_pem: cert.to_owned(),
        chain_pem: chain.to_owned(),
        key_pem: Some(Zeroizing::new(key.to_owned())),
        fingerprint: fingerprint(cert),
    }
}

/// The fingerprint the virtual server serves now.
async fn served(vs: SocketAddr) -> String {
    use certwright_connectors::discovery::targets::Endpoint;
    use certwright_connectors::discovery::tls::{Outcome, TlsScan, TlsScanner};
    let scanner = TlsScanner::new(TlsScan { concurrency: 1, ..TlsScan::default() }).unwrap();
    let endpoint = Endpoint { ip: vs.ip(), port: vs.port(), sni: Some("shop.example".into()) };
    match scanner.probe(&endpoint).await {
        Outcome::Found(f) => certwright_pki::digest::hex(&certwright_pki::digest::sha256(f.chain.first().unwrap())),
        other => panic!("{vs}: {other:?}"),
    }
}

#[tokio::test]
async fn install_attaches_the_new_certificate_and_the_virtual_server_serves_it() {
    let pki = pki();
    let bigip = BigIp::start(Quirk::None, &pki).await;
    assert_eq!(served(bigip.vs).await, fingerprint(&pki.old_cert));
    let m = material(&pki.new_cert, &pki.ca_cert, &pki.new_key);
    let short = &m.fingerprint[..16];

    let done = f5::install(&bigip.target(true), &m).await.unwrap();

    assert_eq!(done.served.as_deref(), Some(m.fingerprint.as_str()));
    assert_eq!(served(bigip.vs).await, m.fingerprint);
    assert_eq!(
        bigip.chain(),
        vec![json!({"name": "default", "cert": format!("/Common/certwright-{short}.crt"),
            "key": format!("/Common/certwright-{short}.key"), "chain": format!("/Common/certwright-{short}-chain.crt")})]
    );
    // The previous objects are still there; the token was given back.
    {
        let device = bigip.stand.device.lock().unwrap();
        assert!(device.certs.contains_key("/Common/shop-2024.crt"));
        assert_eq!(device.tokens.len(), 0);
    }

    // Again: the versioned objects already exist, which is not an error.
    let again = f5::install(&bigip.target(true), &m).await.unwrap();
    assert!(again.steps.iter().any(|s| s.contains("already on the device")), "{:?}", again.steps);
}

#[tokio::test]
async fn a_refused_attach_carries_the_device_message_and_changes_nothing() {
    let pki = pki();
    let bigip = BigIp::start(Quirk::None, &pki).await;
    let before = bigip.chain();
    // The old key with the new certificate: the device installs both but refuses to pair them.
    let m = material(&pki.new_cert, &pki.ca_cert, &pki.old_key);

    let err = f5::install(&bigip.target(true), &m).await.unwrap_err();

    assert_eq!(err.step, "attach", "{err}");
    assert!(err.message.contains("01070313:3"), "{err}");
    assert!(err.message.contains("key and certificate do not match"), "{err}");
    assert!(err.rolled_back, "the previous certKeyChain was patched back: {err}");
    assert!(!err.retryable, "{err}");
    assert_eq!(bigip.chain(), before);
    assert_eq!(served(bigip.vs).await, fingerprint(&pki.old_cert));
    assert_eq!(bigip.tokens_left(), 0);
}

#[tokio::test]
async fn a_certificate_not_served_after_attaching_is_rolled_back() {
    let pki = pki();
    let bigip = BigIp::start(Quirk::VirtualServerFrozen, &pki).await;
    let before = bigip.chain();
    let m = material(&pki.new_cert, &pki.ca_cert, &pki.new_key);

    let err = f5::install(&bigip.target(true), &m).await.unwrap_err();

    assert_eq!(err.step, "verify", "{err}");
    assert!(err.rolled_back, "{err}");
    assert!(!err.retryable, "{err}");
    assert!(err.message.contains(&fingerprint(&pki.old_cert)), "{err}");
    // The profile did change, then was patched back to the previous certKeyChain.
    assert_eq!(bigip.stand.device.lock().unwrap().patches, 2);
    assert_eq!(bigip.chain(), before);
}

#[tokio::test]
async fn a_wrong_password_is_refused_at_login_and_not_retried() {
    let pki = pki();
    let bigip = BigIp::start(Quirk::None, &pki).await;
    let mut target = bigip.target(false);
    target.password = Zeroizing::new("not-the-password".into());
    let m = material(&pki.new_cert, &pki.ca_cert, &pki.new_key);

    let err = f5::install(&target, &m).await.unwrap_err();

    assert_eq!(err.step, "login", "{err}");
    assert!(err.message.contains("HTTP 401") && err.message.contains("Authentication failed."), "{err}");
    assert!(!err.retryable && !err.rolled_back, "{err}");
    assert!(bigip.stand.device.lock().unwrap().uploads.is_empty());
}

#[tokio::test]
async fn calls_without_the_token_are_refused_by_the_stand_in() {
    let pki = pki();
    let bigip = BigIp::start(Quirk::None, &pki).await;
    let r = reqwest::Client::new()
        .get(format!("http://{}/mgmt/tm/ltm/profile/client-ssl/~Common~{PROFILE}", bigip.api))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn an_unreachable_device_is_worth_retrying() {
    let port = common::free_port();
    let target = F5Target {
        base_url: format!("http://127.0.0.1:{port}"),
        username: USER.into(),
        password: Zeroizing::new(PASSWORD.into()),
        partition: "Common".into(),
        profile: PROFILE.into(),
        verify: None,
        ca_pem: None,
        danger_accept_invalid_certs: false,
        timeout: Duration::from_secs(5),
    };
    let m = Material {
        certificate_pem: String::new(),
        chain_pem: String::new(),
        key_pem: None,
        fingerprint: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef".into(),
    };
    let err = f5::install(&target, &m).await.unwrap_err();
    assert_eq!(err.step, "login", "{err}");
    assert!(err.retryable, "{err}");
}

#[tokio::test]
async fn an_https_device_without_trust_settings_is_refused() {
    let pki = pki();
    let mut target = BigIp::start(Quirk::None, &pki).await.target(false);
    target.base_url = target.base_url.replace("http://", "https://");
    let m = material(&pki.new_cert, "", &pki.new_key);
    let err = f5::install(&target, &m).await.unwrap_err();
    assert_eq!(err.step, "config", "{err}");
    assert!(err.message.contains("ca_pem"), "{err}");
}

#[tokio::test]
async fn the_password_never_shows_in_debug_output() {
    let pki = pki();
    let bigip = BigIp::start(Quirk::None, &pki).await;
    let target = bigip.target(true);
    let shown = format!("{target:?} {target:#?}");
    assert!(!shown.contains(PASSWORD), "{shown}");
    assert!(shown.contains("<redacted>"));
    let m = material(&pki.new_cert, &pki.ca_cert, &pki.old_key);
    let err = f5::install(&target, &m).await.unwrap_err();
    assert!(!format!("{err:?} {err}").contains(PASSWORD));
}

#[tokio::test]
async fn uninstall_is_refused_with_advice() {
    let pki = pki();
    let bigip = BigIp::start(Quirk::None, &pki).await;
    let err = f5::uninstall(&bigip.target(false)).await.unwrap_err();
    assert_eq!(err.step, "undeploy");
    assert!(err.message.contains("attach another certificate to the profile instead"), "{err}");
    assert!(!err.retryable && !err.rolled_back);
    assert_eq!(bigip.chain().len(), 1);
}
