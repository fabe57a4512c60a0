//! certwright-testkit: starts a real certwright server in-process on `127.0.0.1:0` with a temporary data
//! directory and a chosen database backend, and hands back its URL and admin token. Every HTTP integration test
//! goes through it, so tests exercise the same bootstrap, router and store as `certwright serve`.

pub mod openssl;
pub mod process;

use certwright_core::services::Services;
use certwright_server::bootstrap;
use certwright_server::config::{Config, Settings};
use certwright_store::{testing, SqlStore};
use std::sync::Arc;

/// Makes aws-lc the process-wide TLS crypto provider (reqwest's rustls needs one). Idempotent.
pub fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    });
}

/// A new HTTP client (installing the crypto provider first).
pub fn http_client() -> reqwest::Client {
    install_crypto_provider();
    reqwest::Client::new()
}

/// The database a test server runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// SQLite always; PostgreSQL too when `CERTWRIGHT_TEST_POSTGRES_URL` is set.
    pub fn available() -> Vec<Backend> {
        let mut v = vec![Backend::Sqlite];
        if testing::postgres_url().is_some() {
            v.push(Backend::Postgres);
        }
        v
    }
}

/// A running server. Dropping it stops the listener; call [`TestServer::stop`] to wait for a clean stop.
#[derive(Debug)]
pub struct TestServer {
    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub url: String,
    /// Base URL of the HTTPS listener, e.g. `https://127.0.0.1:41235` (its CA is `<data_dir>/data/ca.pem`).
    pub https_url: String,
    /// The admin token printed at bootstrap.
    pub admin_token: String,
    /// The data directory (deleted when the server is dropped).
    pub data_dir: tempfile::TempDir,
    pub backend: Backend,
    /// The services behind the server, for assertions that reach under the API.
    pub services: Arc<Services<SqlStore>>,
    running: Option<certwright_server::Running>,
    http: reqwest::Client,
}

impl TestServer {
    /// Starts a server serving every API over HTTP on an ephemeral port.
    pub async fn start(backend: Backend) -> Self {
        Self::start_with(backend, |_| {}).await
    }

    /// Starts a server after `tweak` adjusts its configuration.
    ///
    /// Panics when the backend cannot be set up: a configured PostgreSQL that cannot be reached fails the test.
    pub async fn start_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> Self {
        Self::start_with_clock(backend, Arc::new(certwright_core::clock::SystemClock), tweak).await
    }

    /// Starts a server on `clock` after `tweak` adjusts its configuration.
    pub async fn start_with_clock(
        backend: Backend,
        clock: Arc<dyn certwright_core::clock::Clock>,
        tweak: impl FnOnce(&mut Config),
    ) -> Self {
        install_crypto_provider();
        let data_dir = tempfile::tempdir().expect("temporary data directory");
        let mut config = Config {
            http_listen: "127.0.0.1:0".parse().expect("address"),
            listen: "127.0.0.1:0".parse().expect("address"),
            insecure_http: true,
            node_id: "test-node".to_owned(),
            shutdown_grace_seconds: 5,
            ..Config::default()
        };
        if backend == Backend::Postgres {
            let base = testing::postgres_url().expect("CERTWRIGHT_TEST_POSTGRES_URL must be set for PostgreSQL tests");
            let url =
                testing::fresh_postgres_schema(&base).await.unwrap_or_else(|e| panic!("PostgreSQL for tests: {e}"));
            config.database_url = Some(url);
        }
        tweak(&mut config);
        let settings = Settings { data_dir: data_dir.path().join("data"), config_file: None, config };
        let opened = bootstrap::open_with_clock(&settings, clock).await.expect("bootstrap");
        let admin_token = opened.new_admin_token.clone().expect("a new data directory yields an admin token");
        let services = opened.services.clone();
        let state = certwright_server::AppState { services: opened.services, keyring: opened.keyring };
        let tls = certwright_server::tls::server_config(&settings, &services).await.expect("server certificate");
        let running = certwright_server::start(state, &settings.config, Some(tls)).await.expect("listen");
        Self {
            url: format!("http://{}", running.http_addr),
            https_url: running.https_addr.map(|a| format!("https://{a}")).expect("an HTTPS listener"),
            admin_token,
            data_dir,
            backend,
            services,
            running: Some(running),
            http: http_client(),
        }
    }

    /// `url` + `path`.
    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// A plain HTTP client.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// GETs `path` with `token` and parses the JSON answer, whatever its status.
    pub async fn get_json(&self, path: &str, token: &str) -> serde_json::Value {
        let resp = self.http.get(self.at(path)).bearer_auth(token).send().await.expect("GET");
        resp.json().await.expect("a JSON answer")
    }

    /// Creates a token with `role` through the API and returns its secret.
    pub async fn token_with_role(&self, role: &str) -> String {
        let resp = self
            .http
            .post(self.at("/v1/tokens"))
            .bearer_auth(&self.admin_token)
            .json(&serde_json::json!({ "name": format!("{role}-{}", rand_suffix()), "role": role }))
            .send()
            .await
            .expect("create token");
        assert_eq!(resp.status().as_u16(), 201, "creating a {role} token");
        let body: serde_json::Value = resp.json().await.expect("json");
        body["secret"].as_str().expect("secret").to_owned()
    }

    /// Creates an RA profile `name` under the default profile's authority with the ACME directory `acme` (the
    /// `policy.acme` object, e.g. `{"enabled": true}`), served at `/acme/{name}/directory`.
    pub async fn acme_profile(&self, name: &str, acme: serde_json::Value) {
        let default = self.get_json("/v1/ra-profiles/default", &self.admin_token).await;
        let body = serde_json::json!({ "name": name, "authority": default["authority"], "policy": { "acme": acme } });
        let resp = self
            .http
            .post(self.at("/v1/ra-profiles"))
            .bearer_auth(&self.admin_token)
            .json(&body)
            .send()
            .await
            .expect("POST");
        let status = resp.status().as_u16();
        assert_eq!(status, 201, "creating the ACME profile {name}: {}", resp.text().await.unwrap_or_default());
    }

    /// Stops accepting connections, waits for in-flight requests, and closes the database.
    pub async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown().await.expect("clean shutdown");
        }
        self.services.store().close().await;
    }
}

fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed).to_string()
}

/// Generates one `#[tokio::test]` per case and backend: `sqlite::<case>` always, `postgres::<case>` running when
/// `CERTWRIGHT_TEST_POSTGRES_URL` is set. Each case is `async fn(TestServer)` in a module named `cases`.
#[macro_export]
macro_rules! backend_tests {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let s = $crate::TestServer::start($crate::Backend::Sqlite).await;
                    super::cases::$case(s).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    if !$crate::Backend::available().contains(&$crate::Backend::Postgres) {
                        eprintln!("CERTWRIGHT_TEST_POSTGRES_URL is not set: PostgreSQL case not run");
                        return;
                    }
                    let s = $crate::TestServer::start($crate::Backend::Postgres).await;
                    super::cases::$case(s).await
                }
            )*
        }
    };
}
