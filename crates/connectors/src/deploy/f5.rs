//! F5 BIG-IP: installing a certificate on a client-ssl profile through iControl REST, and putting the previous
//! certificate back when the new one is refused or not served. The steps:
//!
//! 1. log in for a token (`POST /mgmt/shared/authn/login`, provider `tmos`); later calls carry `X-F5-Auth-Token`;
//! 2. upload the key, the certificate and the chain as files (`POST /mgmt/shared/file-transfer/uploads/<file>`,
//!    one `Content-Range: 0-<len-1>/<len>` chunk: the files are far below the 1 MiB chunk limit);
//! 3. install each as a crypto object from `/var/config/rest/downloads/<file>` (`POST /mgmt/tm/sys/crypto/key`,
//!    `.../cert`), named after the certificate's fingerprint so that no live object is ever overwritten;
//! 4. read the profile's `certKeyChain` (the backup), then `PATCH` it to point at the new objects;
//! 5. when asked, connect to the virtual server and check the fingerprint served.
//!
//! When step 4 or 5 fails, the backed-up `certKeyChain` is patched back. The objects installed stay on the device
//! (they are harmless and versioned). The token is deleted at the end. Errors carry the device's own `message`.
//!
//! Wire contract followed (F5 documentation and F5 DevCentral articles):
//! - <https://community.f5.com/kb/technicalarticles/demystifying-icontrol-rest-part-5-transferring-files/286689>
//!   (file-transfer worker, `Content-Range`, `/var/config/rest/downloads`);
//! - <https://clouddocs.f5.com/products/big-iq/mgmt-api/v7.0.0/ApiReferences/bigiq_public_api_ref/r_file_uploads.html>
//!   (`application/octet-stream` uploads);
//! - <https://community.f5.com/t5/technical-articles/icontrol-rest-authentication-token-management/ta-p/287462> and
//!   <https://www.devcentral.f5.com/kb/technicalarticles/demystifying-icontrol-rest-part-6-token-based-authentication/286793>
//!   (token login with `loginProviderName: tmos`, `X-F5-Auth-Token`, tokens limited per user, hence deleted);
//! - <https://clouddocs.f5.com/products/big-iq/mgmt-api/v0.0/ApiReferences/bigiq_public_api_ref/r_profile_client_ssl.html>
//!   (client-ssl profile object).

use super::webserver::{served_fingerprint, DeployError, Deployed, Material, Verify};
use crate::challenge::tls_alpn::DangerAcceptAnyServerCertificate;
use reqwest::{Method, StatusCode};
use rustls::pki_types::CertificateDer;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use zeroize::Zeroizing;

/// Where uploaded files land on the device.
const DOWNLOADS: &str = "/var/config/rest/downloads";

/// A BIG-IP and the client-ssl profile whose certificate is replaced.
#[derive(Clone)]
pub struct F5Target {
    /// The management API, `https://bigip.example:443` (`http://` only when spelled so).
    pub base_url: String,
    pub username: String,
    pub password: Zeroizing<String>,
    /// The administrative partition of the profile and of the objects installed (`Common`).
    pub partition: String,
    /// The client-ssl profile's name.
    pub profile: String,
    /// Where the virtual server is checked after the profile changed.
    pub verify: Option<Verify>,
    /// The certificates trusted for the management API (its own certificate or its CA), PEM. Required for
    /// `https` unless `danger_accept_invalid_certs`.
    pub ca_pem: Option<String>,
    /// Accepts any certificate from the management API: for a device still on its factory self-signed
    /// certificate, and only on a network where nobody can intercept the password.
    pub danger_accept_invalid_certs: bool,
    /// Limit for each API call.
    pub timeout: Duration,
}

impl std::fmt::Debug for F5Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("F5Target")
            .field("base_url", &self.base_url)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("partition", &self.partition)
            .field("profile", &self.profile)
            .field("verify", &self.verify)
            .field("ca_pem", &self.ca_pem.as_ref().map(|_| "<pem>"))
            .field("danger_accept_invalid_certs", &self.danger_accept_invalid_certs)
            .field("timeout", &self.timeout)
            .finish()
    }
}

fn fail(step: &'static str, message: impl Into<String>, retryable: bool) -> DeployError {
    DeployError { step, message: message.into(), rolled_back: false, retryable }
}

/// The device objects of one certificate, versioned by its fingerprint.
struct Names {
    certificate: String,
    key: String,
    chain: String,
}

impl Names {
    fn new(fingerprint: &str) -> Result<Self, DeployError> {
        let short = fingerprint.get(..16).filter(|s| s.bytes().all(|b| b.is_ascii_hexdigit()));
        let Some(short) = short else {
            return Err(fail("config", format!("{fingerprint:?} is not a SHA-256 fingerprint in hex"), false));
        };
        let short = short.to_ascii_lowercase();
        Ok(Self {
            certificate: format!("certwright-{short}.crt"),
            key: format!("certwright-{short}.key"),
            chain: format!("certwright-{short}-chain.crt"),
        })
    }
}

/// A name that goes into a URL path or a `/partition/name` reference as it is.
fn plain_name(what: &str, name: &str) -> Result<(), DeployError> {
    let bad = |c: char| c.is_whitespace() || c.is_control() || "/~?#%\\".contains(c);
    if name.is_empty() || name.chars().any(bad) {
        return Err(fail("config", format!("{what} {name:?} is not a plain BIG-IP object name"), false));
    }
    Ok(())
}

/// The HTTP client for the management API: rustls with `ca_pem` as the only roots, no proxy, no redirects.
fn client(target: &F5Target, https: bool) -> Result<reqwest::Client, DeployError> {
    let config = |e: String| fail("config", e, false);
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| config(format!("TLS: {e}")))?;
    let mut tls = if target.danger_accept_invalid_certs {
        builder
            .dangerous()
            // Whatever certificate the management API presents (`danger_accept_invalid_certs`); handshake signatures
            // are still checked, so the handshake itself is sound.
            .with_custom_certificate_verifier(Arc::new(DangerAcceptAnyServerCertificate(provider)))
            .with_no_client_auth()
    } else {
        let mut roots = rustls::RootCertStore::empty();
        let pem = target.ca_pem.as_deref().unwrap_or_default();
        let blocks = certwright_pki::pem::decode_all(pem).map_err(|e| config(format!("ca_pem: {e}")))?;
        for (_, der) in blocks.into_iter().filter(|(label, _)| label == "CERTIFICATE") {
            roots.add(CertificateDer::from(der)).map_err(|e| config(format!("ca_pem: {e}")))?;
        }
        if https && roots.is_empty() {
            return Err(config(
                "an https management API needs ca_pem (its certificate or CA) or danger_accept_invalid_certs".into(),
            ));
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(target.timeout)
        .timeout(target.timeout)
        .user_agent(concat!("certwright/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| config(format!("HTTP client: {e}")))
}

/// The causes of an error, joined (reqwest's own message hides them).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Whether a request that got no answer may pass by itself: the device was unreachable or slow, as opposed to a
/// TLS refusal (a certificate not trusted) that needs a person.
fn transient(e: &reqwest::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if s.downcast_ref::<rustls::Error>().is_some() {
            return false;
        }
        source = s.source();
    }
    e.is_connect() || e.is_timeout() || e.is_request()
}

/// A logged-in conversation with the management API.
struct Session {
    http: reqwest::Client,
    base: String,
    token: Zeroizing<String>,
}

/// What to send.
enum Body<'a> {
    None,
    Json(Value),
    /// A file chunk: the whole file.
    File(&'a [u8]),
}

/// A failed call, with the HTTP status when the device answered.
struct Failure {
    status: Option<StatusCode>,
    error: DeployError,
}

impl From<Failure> for DeployError {
    fn from(f: Failure) -> Self {
        f.error
    }
}

fn no_answer(step: &'static str, message: String, retryable: bool) -> Failure {
    Failure { status: None, error: fail(step, message, retryable) }
}

async fn send(
    http: &reqwest::Client,
    step: &'static str,
    method: Method,
    url: &str,
    token: Option<&str>,
    body: Body<'_>,
) -> Result<Value, Failure> {
    let path = url.find("/mgmt/").map_or(url, |i| &url[i..]);
    let mut request = http.request(method.clone(), url);
    if let Some(token) = token {
        request = request.header("X-F5-Auth-Token", token);
    }
    request = match body {
        Body::None => request,
        Body::Json(value) => request.json(&value),
        Body::File(bytes) => request
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .header(reqwest::header::CONTENT_RANGE, format!("0-{}/{}", bytes.len().saturating_sub(1), bytes.len()))
            .body(bytes.to_vec()),
    };
    let response = request
        .send()
        .await
        .map_err(|e| no_answer(step, format!("{method} {path}: {}", error_chain(&e)), transient(&e)))?;
    let status = response.status();
    let text = response.text().await.map_err(|e| {
        no_answer(step, format!("{method} {path}: reading the answer: {}", error_chain(&e)), transient(&e))
    })?;
    let value: Value =
        if text.trim().is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::Null) };
    if status.is_success() {
        return Ok(value);
    }
    let message = match value.get("message").and_then(Value::as_str) {
        Some(m) => m.to_owned(),
        None => text.chars().take(300).collect(),
    };
    let message = format!("{method} {path}: HTTP {}: {message}", status.as_u16());
    Err(Failure { status: Some(status), error: fail(step, message, status.is_server_error()) })
}

impl Session {
    async fn login(target: &F5Target) -> Result<Session, DeployError> {
        let url = reqwest::Url::parse(&target.base_url)
            .map_err(|e| fail("config", format!("base_url {:?}: {e}", target.base_url), false))?;
        let https = match url.scheme() {
            "https" => true,
            "http" => false,
            other => return Err(fail("config", format!("base_url: unsupported scheme {other:?}"), false)),
        };
        let http = client(target, https)?;
        let base = target.base_url.trim_end_matches('/').to_owned();
        let body = json!({
            "username": target.username,
            "password": target.password.as_str(),
            "loginProviderName": "tmos",
        });
        let answer =
            send(&http, "login", Method::POST, &format!("{base}/mgmt/shared/authn/login"), None, Body::Json(body))
                .await
                .map_err(DeployError::from)?;
        let token = answer.pointer("/token/token").and_then(Value::as_str).filter(|t| !t.is_empty());
        let Some(token) = token else {
            return Err(fail("login", "the login answer carries no token (token.token)", false));
        };
        Ok(Session { http, base, token: Zeroizing::new(token.to_owned()) })
    }

    async fn call(&self, step: &'static str, method: Method, path: &str, body: Body<'_>) -> Result<Value, DeployError> {
        Ok(self.call_status(step, method, path, body).await?)
    }

    async fn call_status(
        &self,
        step: &'static str,
        method: Method,
        path: &str,
        body: Body<'_>,
    ) -> Result<Value, Failure> {
        send(&self.http, step, method, &format!("{}{path}", self.base), Some(&self.token), body).await
    }

    /// Deletes the token (a user may hold only so many); a failure here changes nothing that was done.
    async fn logout(self) {
        let path = format!("/mgmt/shared/authz/tokens/{}", self.token.as_str());
        if let Err(e) = self.call("logout", Method::DELETE, &path, Body::None).await {
            tracing::debug!(error = %e.message.replace(self.token.as_str(), "<token>"), "F5 token not deleted");
        }
    }

    async fn upload(&self, file: &str, bytes: &[u8]) -> Result<(), DeployError> {
        self.call("upload", Method::POST, &format!("/mgmt/shared/file-transfer/uploads/{file}"), Body::File(bytes))
            .await
            .map(|_| ())
    }

    /// Installs an uploaded file as a crypto object (`kind` is `key` or `cert`); one that already exists under this
    /// versioned name is the same object from an earlier attempt.
    async fn install(&self, kind: &str, partition: &str, name: &str) -> Result<String, DeployError> {
        let body = json!({
            "command": "install",
            "name": format!("/{partition}/{name}"),
            "from-local-file": format!("{DOWNLOADS}/{name}"),
        });
        match self.call_status("install", Method::POST, &format!("/mgmt/tm/sys/crypto/{kind}"), Body::Json(body)).await
        {
            Ok(_) => Ok(format!("installed {kind} /{partition}/{name}")),
            Err(Failure { status: Some(StatusCode::CONFLICT), .. }) => {
                Ok(format!("{kind} /{partition}/{name} already on the device"))
            }
            Err(f) => Err(f.error),
        }
    }
}

/// The entries of a `certKeyChain` as they can be sent back: the read-only `…Reference` links dropped.
fn writable_chain(profile: &Value) -> Value {
    let entries = profile.get("certKeyChain").and_then(Value::as_array).cloned().unwrap_or_default();
    let entries = entries
        .into_iter()
        .map(|entry| match entry {
            Value::Object(map) => Value::Object(map.into_iter().filter(|(k, _)| !k.ends_with("Reference")).collect()),
            other => other,
        })
        .collect();
    Value::Array(entries)
}

/// Patches the backed-up `certKeyChain` back; `why` says it was rolled back unless that failed too.
async fn restore(s: &Session, profile_path: &str, previous: &Value, why: DeployError) -> DeployError {
    let body = json!({ "certKeyChain": previous });
    match s.call("attach", Method::PATCH, profile_path, Body::Json(body)).await {
        Ok(_) => DeployError { rolled_back: true, ..why },
        Err(e) => DeployError {
            message: format!("{}; restoring the previous certKeyChain failed: {}", why.message, e.message),
            ..why
        },
    }
}

async fn run(s: &Session, target: &F5Target, m: &Material, names: &Names) -> Result<Deployed, DeployError> {
    let partition = target.partition.as_str();
    let Some(key_pem) = &m.key_pem else {
        return Err(fail("config", "a BIG-IP needs the private key with the certificate", false));
    };
    let with_chain = !m.chain_pem.trim().is_empty();
    let mut done = Deployed::default();

    s.upload(&names.key, key_pem.as_bytes()).await?;
    s.upload(&names.certificate, m.certificate_pem.as_bytes()).await?;
    let mut uploaded = vec![names.key.as_str(), names.certificate.as_str()];
    if with_chain {
        s.upload(&names.chain, m.chain_pem.as_bytes()).await?;
        uploaded.push(names.chain.as_str());
    }
    done.steps.push(format!("uploaded {}", uploaded.join(", ")));

    done.steps.push(s.install("key", partition, &names.key).await?);
    done.steps.push(s.install("cert", partition, &names.certificate).await?);
    if with_chain {
        done.steps.push(s.install("cert", partition, &names.chain).await?);
    }

    let profile_path = format!("/mgmt/tm/ltm/profile/client-ssl/~{partition}~{}", target.profile);
    let previous = writable_chain(&s.call("backup", Method::GET, &profile_path, Body::None).await?);
    done.steps.push(format!("read the certKeyChain of /{partition}/{}", target.profile));

    let mut entry = json!({
        "name": "default",
        "cert": format!("/{partition}/{}", names.certificate),
        "key": format!("/{partition}/{}", names.key),
    });
    if with_chain {
        entry["chain"] = json!(format!("/{partition}/{}", names.chain));
    }
    let body = json!({ "certKeyChain": [entry] });
    if let Err(e) = s.call("attach", Method::PATCH, &profile_path, Body::Json(body)).await {
        // The device may have applied a change whose answer was lost: put the backup back either way.
        return Err(restore(s, &profile_path, &previous, e).await);
    }
    done.steps.push(format!("attached /{partition}/{} to /{partition}/{}", names.certificate, target.profile));

    if let Some(verify) = &target.verify {
        match served_fingerprint(verify, &m.fingerprint).await {
            Ok(seen) => {
                done.steps.push(format!("{} serves the new certificate", verify.address));
                done.served = Some(seen);
            }
            Err(e) => return Err(restore(s, &profile_path, &previous, fail("verify", e, false)).await),
        }
    }
    Ok(done)
}

/// Installs `m` on the target's client-ssl profile, rolling back on failure (see the module documentation).
pub async fn install(target: &F5Target, m: &Material) -> Result<Deployed, DeployError> {
    plain_name("partition", &target.partition)?;
    plain_name("profile", &target.profile)?;
    let names = Names::new(&m.fingerprint)?;
    let session = Session::login(target).await?;
    let result = run(&session, target, m, &names).await;
    session.logout().await;
    result
}

/// Always fails: a BIG-IP profile cannot be left without a certificate, and removing the objects behind a live
/// profile would break it. To take a certificate out of use, install another one on the profile.
pub async fn uninstall(target: &F5Target) -> Result<Deployed, DeployError> {
    let _ = target;
    Err(fail(
        "undeploy",
        "F5 BIG-IP locations keep their certificate objects; attach another certificate to the profile instead",
        false,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_versioned_by_the_fingerprint() {
        let n = Names::new("ABCDEF0123456789ffff").unwrap();
        assert_eq!(n.certificate, "certwright-abcdef0123456789.crt");
        assert_eq!(n.key, "certwright-abcdef0123456789.key");
        assert_eq!(n.chain, "certwright-abcdef0123456789-chain.crt");
        assert!(Names::new("abc").is_err());
        assert!(Names::new("zzzzzzzzzzzzzzzzzz").is_err());
    }

    #[test]
    fn read_only_references_are_not_sent_back() {
        let profile = json!({"certKeyChain": [{"name": "default", "cert": "/Common/a.crt",
            "certReference": {"link": "https://localhost/mgmt/tm/sys/file/ssl-cert/~Common~a.crt"}}]});
        assert_eq!(writable_chain(&profile), json!([{"name": "default", "cert": "/Common/a.crt"}]));
    }

    #[test]
    fn names_with_separators_are_refused() {
        assert!(plain_name("profile", "clientssl").is_ok());
        assert!(plain_name("profile", "a/b").is_err());
        assert!(plain_name("profile", "~Common~x").is_err());
        assert!(plain_name("partition", "").is_err());
    }
}
