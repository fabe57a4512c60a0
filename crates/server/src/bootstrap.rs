//! The data directory and the first-start bootstrap.
//!
//! Files are built in `<data-dir>/.bootstrap/` and moved into place by `rename`. With SQLite the last move,
//! of `certwright.db`, is the commit point: a crash before it leaves nothing usable and the next start redoes
//! the bootstrap. With PostgreSQL the commit point is the database transaction that records the master-key
//! check value and the admin token; a crash after it is rolled forward on the next start (the staged key is
//! recognised by that check value). The check value also stops a node from starting with a master key that is
//! not the database's, and tells a second node of a cluster to copy the first node's key.
//! After the commit point, every start makes sure the CA hierarchy exists (root, issuing CA and the `default`
//! RA profile, created in one transaction when missing); the server's TLS certificate is handled by `tls`.

use crate::config::Settings;
use base64::Engine;
use certwright_core::auth::Secret;
use certwright_core::clock::{Clock, SystemClock};
use certwright_core::services::{Services, Settings as ServiceSettings};
use certwright_core::store::Store;
use certwright_core::CoreError;
use certwright_pki::alg::KeyAlgorithm;
use certwright_pki::envelope::{Keyring, MasterKey};
use certwright_store::SqlStore;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub const MASTER_KEY_FILE: &str = "master.key";
pub const DATABASE_FILE: &str = "certwright.db";
pub const ADMIN_TOKEN_FILE: &str = "admin.token";
const STAGING_DIR: &str = ".bootstrap";
const KEY_CHECK_PLAINTEXT: &[u8] = b"certwright master key check";
const KEY_CHECK_CONTEXT: &[u8] = b"meta:master_key_check";

/// Fault injection for crash tests: the process aborts right after the named step, as `kill -9` would.
pub const ABORT_AFTER_ENV: &str = "CERTWRIGHT_BOOTSTRAP_ABORT_AFTER";

/// Why the data directory could not be opened or created.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error("{action} {path}: {source}")]
    Io { action: &'static str, path: PathBuf, source: std::io::Error },
    #[error("{0}")]
    State(String),
    #[error(transparent)]
    Core(#[from] CoreError),
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> BootstrapError + 'a {
    move |source| BootstrapError::Io { action, path: path.to_owned(), source }
}

/// Everything a server needs, opened from a complete data directory.
#[derive(Debug)]
pub struct Opened {
    pub services: Arc<Services<SqlStore>>,
    pub keyring: Arc<Keyring>,
    /// The admin token, only on the start that created it.
    pub new_admin_token: Option<String>,
}

/// Opens the data directory, bootstrapping it first when it is new (or finishing an interrupted bootstrap).
pub async fn open(settings: &Settings) -> Result<Opened, BootstrapError> {
    open_with(settings, true, Arc::new(SystemClock)).await
}

/// [`open`] with another clock, for tests that move time forward.
pub async fn open_with_clock(settings: &Settings, clock: Arc<dyn Clock>) -> Result<Opened, BootstrapError> {
    open_with(settings, true, clock).await
}

/// Opens a data directory that must already be bootstrapped, without migrating the database (for maintenance
/// commands such as `audit verify`).
pub async fn open_existing(settings: &Settings) -> Result<Opened, BootstrapError> {
    open_with(settings, false, Arc::new(SystemClock)).await
}

fn not_initialised(dir: &Path) -> BootstrapError {
    BootstrapError::State(format!(
        "{} is not initialised: run `certwright init` or `certwright serve` first",
        dir.display()
    ))
}

async fn open_with(settings: &Settings, may_bootstrap: bool, clock: Arc<dyn Clock>) -> Result<Opened, BootstrapError> {
    let dir = &settings.data_dir;
    if !may_bootstrap && !dir.exists() {
        return Err(not_initialised(dir));
    }
    fs::create_dir_all(dir).map_err(io("cannot create the data directory", dir))?;
    let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o700));
    let (store, keyring, new_admin_token) = match settings.config.database_url.clone() {
        None => open_sqlite(settings, may_bootstrap).await?,
        Some(url) => open_postgres(settings, &url, may_bootstrap).await?,
    };
    if !may_bootstrap {
        let r = store.readiness().await?;
        if !r.is_current() {
            return Err(BootstrapError::State(format!(
                "the database has {} of {} migrations: start `certwright serve` once to migrate it",
                r.migrations_applied, r.migrations_expected
            )));
        }
    }
    let services = Arc::new(services(store, settings, keyring.clone(), clock)?);
    if may_bootstrap {
        let alg = KeyAlgorithm::parse(&settings.config.ca_key_algorithm).map_err(CoreError::from)?;
        if services.ensure_default_hierarchy(alg).await?.is_some() {
            tracing::info!(key_algorithm = %alg.name(), "created the root CA, the issuing CA and the default RA profile");
        }
    }
    Ok(Opened { services, keyring, new_admin_token })
}

fn services(
    store: SqlStore,
    settings: &Settings,
    keyring: Arc<Keyring>,
    clock: Arc<dyn Clock>,
) -> Result<Services<SqlStore>, CoreError> {
    let notifier: Arc<dyn certwright_core::notify::Notifier> =
        Arc::new(crate::notifier::ConnectorNotifier::new(&settings.config)?);
    Ok(Services::new(
        store,
        clock,
        keyring,
        ServiceSettings {
            node_id: settings.config.node_id.clone(),
            default_oauth_token_ttl: settings.config.oauth_token_ttl_seconds,
            public_http_url: Some(settings.config.public_http_url()),
            crl: certwright_core::services::CrlSettings {
                validity: settings.config.crl_validity_seconds,
                refresh_interval: settings.config.crl_refresh_seconds,
                ..Default::default()
            },
            ocsp: certwright_core::services::OcspSettings {
                validity: settings.config.ocsp_validity_seconds,
                delegated: settings.config.ocsp_responder == "delegated",
            },
            jobs: certwright_core::services::JobSettings {
                lease_seconds: settings.config.job_lease_seconds,
                scan_interval_seconds: settings.config.expiry_scan_seconds,
                ..Default::default()
            },
            notifier: Some(notifier),
            upstream: Some(Arc::new(crate::upstream::AcmeUpstream::default())),
            acme_validator: Some(crate::acme_validation::validator(&settings.config)),
            acme_validation_wait: std::time::Duration::from_millis(settings.config.acme_validation_wait_ms),
            shared_store: settings.config.database_url.is_some(),
            scanner: Some(Arc::new(crate::discovery::ConnectorScanner::new(&settings.config))),
            discovery_trust_roots: discovery_trust_roots(&settings.config)?,
            deployer: Some(Arc::new(crate::deploy::ConnectorDeployer::new(&settings.config))),
        },
    ))
}

/// The roots of `discovery_trust_roots_file`, as DER.
fn discovery_trust_roots(config: &crate::config::Config) -> Result<Vec<Vec<u8>>, CoreError> {
    let Some(path) = &config.discovery_trust_roots_file else { return Ok(Vec::new()) };
    let bad =
        |e: String| CoreError::invalid("config.invalid", format!("discovery_trust_roots_file {}: {e}", path.display()));
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    let blocks = certwright_pki::pem::decode_all(&text).map_err(|e| bad(e.to_string()))?;
    Ok(blocks.into_iter().filter(|(label, _)| label == "CERTIFICATE").map(|(_, der)| der).collect())
}

type Parts = (SqlStore, Arc<Keyring>, Option<String>);

async fn open_sqlite(settings: &Settings, may_bootstrap: bool) -> Result<Parts, BootstrapError> {
    let dir = &settings.data_dir;
    let db = dir.join(DATABASE_FILE);
    let new_admin_token = if db.exists() {
        None
    } else if may_bootstrap {
        Some(bootstrap_sqlite(settings).await?)
    } else {
        return Err(not_initialised(dir));
    };
    let key_path = dir.join(MASTER_KEY_FILE);
    if !key_path.exists() {
        return Err(BootstrapError::State(format!(
            "{} exists but {} is missing: restore the master key from your backup, or move the database away to start afresh",
            db.display(),
            key_path.display()
        )));
    }
    let keyring = Arc::new(read_keyring(&key_path)?);
    let store =
        if may_bootstrap { SqlStore::open_sqlite(&db).await? } else { SqlStore::open_sqlite_unmigrated(&db).await? };
    check_key(&store, &keyring, &key_path).await?;
    Ok((store, keyring, new_admin_token))
}

/// SQLite: stage key, database and token, then move them into place with the database last.
async fn bootstrap_sqlite(settings: &Settings) -> Result<String, BootstrapError> {
    let dir = &settings.data_dir;
    let staging = fresh_staging(dir)?;
    // A key already in place (a bootstrap cut short after moving it, or a database moved away on purpose) is
    // kept: it may be the only key that opens a database backup.
    let existing_key = dir.join(MASTER_KEY_FILE);
    let keyring = if existing_key.exists() {
        tracing::warn!(path = %existing_key.display(), "reusing the master key already in the data directory");
        read_keyring(&existing_key)?
    } else {
        let keyring = Keyring::new(MasterKey::generate().map_err(CoreError::from)?, vec![]);
        write_secret_file(&staging.join(MASTER_KEY_FILE), keyring.danger_render().as_bytes())?;
        keyring
    };
    let move_key = !existing_key.exists();
    checkpoint("master-key");

    // Created owner-only up front: SQLite gives its -wal and -shm files the same mode.
    let db = staging.join(DATABASE_FILE);
    OpenOptions::new().write(true).create_new(true).mode(0o600).open(&db).map_err(io("cannot create", &db))?;
    let store = SqlStore::open_sqlite(&db).await?;
    checkpoint("database");

    let secret = Secret::generate("cwt_")?;
    write_secret_file(&staging.join(ADMIN_TOKEN_FILE), format!("{}\n", secret.danger_expose()).as_bytes())?;
    let check = key_check(&keyring)?;
    let svc = services(store, settings, Arc::new(keyring), Arc::new(SystemClock))?;
    svc.bootstrap_admin(&secret, &check).await?;
    svc.store().checkpoint_wal().await?;
    svc.store().close().await;
    checkpoint("admin-token");

    let order: &[&str] =
        if move_key { &[MASTER_KEY_FILE, ADMIN_TOKEN_FILE, DATABASE_FILE] } else { &[ADMIN_TOKEN_FILE, DATABASE_FILE] };
    commit_staged(dir, &staging, order)?;
    tracing::info!(data_dir = %dir.display(), "bootstrapped a new data directory");
    Ok(secret.danger_expose().to_owned())
}

async fn open_postgres(settings: &Settings, url: &str, may_bootstrap: bool) -> Result<Parts, BootstrapError> {
    let dir = &settings.data_dir;
    let store = if may_bootstrap {
        SqlStore::connect(url).await?
    } else {
        let store = SqlStore::connect_unmigrated(url).await?;
        if store.readiness().await?.migrations_applied == 0 {
            return Err(not_initialised(dir));
        }
        store
    };
    let check = store.meta(certwright_core::services::MASTER_KEY_CHECK).await?;
    let staging = dir.join(STAGING_DIR);
    let key_path = dir.join(MASTER_KEY_FILE);
    let mut new_admin_token = None;

    if let Some(check) = &check {
        if may_bootstrap && staging.join(MASTER_KEY_FILE).exists() {
            let staged = read_keyring(&staging.join(MASTER_KEY_FILE))?;
            if key_matches(&staged, check) {
                tracing::warn!("finishing a bootstrap that was interrupted after the database was written");
                let present: Vec<&str> =
                    [ADMIN_TOKEN_FILE, MASTER_KEY_FILE].into_iter().filter(|f| staging.join(f).exists()).collect();
                commit_staged(dir, &staging, &present)?;
                new_admin_token = fs::read_to_string(dir.join(ADMIN_TOKEN_FILE)).ok().map(|t| t.trim().to_owned());
            }
        }
    }

    if !key_path.exists() {
        match check {
            Some(_) => {
                return Err(BootstrapError::State(format!(
                    "the database was initialised by another node: copy master.key from that node's data directory \
                     to {} (mode 0600) and start again",
                    key_path.display()
                )))
            }
            None if !may_bootstrap => return Err(not_initialised(dir)),
            None => {
                let staging = fresh_staging(dir)?;
                let keyring = Arc::new(Keyring::new(MasterKey::generate().map_err(CoreError::from)?, vec![]));
                write_secret_file(&staging.join(MASTER_KEY_FILE), keyring.danger_render().as_bytes())?;
                checkpoint("master-key");
                let secret = bootstrap_database(settings, &store, &keyring, &staging).await?;
                commit_staged(dir, &staging, &[ADMIN_TOKEN_FILE, MASTER_KEY_FILE])?;
                tracing::info!(data_dir = %dir.display(), "bootstrapped a new data directory and database");
                return Ok((store, keyring, Some(secret)));
            }
        }
    }

    let keyring = Arc::new(read_keyring(&key_path)?);
    if check.is_none() {
        if !may_bootstrap {
            return Err(not_initialised(dir));
        }
        // A data directory with a key meets an empty database: bootstrap the database with that key.
        let staging = fresh_staging(dir)?;
        let secret = bootstrap_database(settings, &store, &keyring, &staging).await?;
        commit_staged(dir, &staging, &[ADMIN_TOKEN_FILE])?;
        tracing::info!("bootstrapped an empty database with the existing master key");
        return Ok((store, keyring, Some(secret)));
    }
    check_key(&store, &keyring, &key_path).await?;
    Ok((store, keyring, new_admin_token))
}

/// Stages the admin token, then commits the database part of the bootstrap (the PostgreSQL commit point).
async fn bootstrap_database(
    settings: &Settings,
    store: &SqlStore,
    keyring: &Arc<Keyring>,
    staging: &Path,
) -> Result<String, BootstrapError> {
    let secret = Secret::generate("cwt_")?;
    write_secret_file(&staging.join(ADMIN_TOKEN_FILE), format!("{}\n", secret.danger_expose()).as_bytes())?;
    checkpoint("admin-token");
    let svc = services(store.clone(), settings, keyring.clone(), Arc::new(SystemClock))?;
    svc.bootstrap_admin(&secret, &key_check(keyring)?).await.map_err(|e| match e {
        CoreError::Conflict { .. } => BootstrapError::State(
            "another node initialised the database at the same moment: copy its master.key into this data \
                 directory and start again"
                .to_owned(),
        ),
        other => other.into(),
    })?;
    checkpoint("database");
    Ok(secret.danger_expose().to_owned())
}

fn key_check(keyring: &Keyring) -> Result<String, BootstrapError> {
    let sealed = keyring.seal(KEY_CHECK_PLAINTEXT, KEY_CHECK_CONTEXT).map_err(CoreError::from)?;
    Ok(base64::engine::general_purpose::STANDARD.encode(sealed))
}

fn key_matches(keyring: &Keyring, check: &str) -> bool {
    base64::engine::general_purpose::STANDARD
        .decode(check)
        .ok()
        .and_then(|sealed| keyring.open(&sealed, KEY_CHECK_CONTEXT).ok())
        .is_some_and(|plain| plain.as_slice() == KEY_CHECK_PLAINTEXT)
}

async fn check_key(store: &SqlStore, keyring: &Keyring, key_path: &Path) -> Result<(), BootstrapError> {
    match store.meta(certwright_core::services::MASTER_KEY_CHECK).await? {
        Some(check) if !key_matches(keyring, &check) => Err(BootstrapError::State(format!(
            "{} is not the master key this database was initialised with: restore the right key file",
            key_path.display()
        ))),
        _ => Ok(()),
    }
}

/// An empty staging directory, after removing the remains of an interrupted bootstrap.
fn fresh_staging(dir: &Path) -> Result<PathBuf, BootstrapError> {
    let staging = dir.join(STAGING_DIR);
    if staging.exists() {
        tracing::warn!(path = %staging.display(), "removing the remains of an interrupted bootstrap");
        fs::remove_dir_all(&staging).map_err(io("cannot remove", &staging))?;
    }
    fs::create_dir(&staging).map_err(io("cannot create", &staging))?;
    let _ = fs::set_permissions(&staging, fs::Permissions::from_mode(0o700));
    Ok(staging)
}

/// Moves staged files into the data directory in the given order (the last is the commit point for SQLite),
/// syncing the directory after each, then removes the staging directory.
fn commit_staged(dir: &Path, staging: &Path, order: &[&str]) -> Result<(), BootstrapError> {
    for (i, name) in order.iter().enumerate() {
        let to = dir.join(name);
        fs::rename(staging.join(name), &to).map_err(io("cannot move into place", &to))?;
        sync_dir(dir)?;
        if i + 1 < order.len() {
            checkpoint("partial-commit");
        }
    }
    fs::remove_dir_all(staging).map_err(io("cannot remove", staging))
}

fn checkpoint(step: &str) {
    if std::env::var(ABORT_AFTER_ENV).is_ok_and(|s| s == step) {
        eprintln!("{ABORT_AFTER_ENV}={step}: aborting");
        std::process::abort();
    }
}

/// Writes a file readable by its owner only, durably (temp file, fsync, rename).
pub fn write_secret_file(path: &Path, contents: &[u8]) -> Result<(), BootstrapError> {
    let tmp = path.with_extension("tmp");
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io("cannot create", &tmp))?;
    f.write_all(contents).map_err(io("cannot write", &tmp))?;
    f.sync_all().map_err(io("cannot sync", &tmp))?;
    fs::rename(&tmp, path).map_err(io("cannot move into place", path))?;
    Ok(())
}

fn sync_dir(dir: &Path) -> Result<(), BootstrapError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io("cannot sync", dir))
}

fn read_keyring(path: &Path) -> Result<Keyring, BootstrapError> {
    let meta = fs::metadata(path).map_err(io("cannot read", path))?;
    if meta.permissions().mode() & 0o077 != 0 {
        tracing::warn!(path = %path.display(), "the master key file is readable by others; chmod 600 it");
    }
    let text = zeroize::Zeroizing::new(fs::read_to_string(path).map_err(io("cannot read", path))?);
    Keyring::parse(&text).map_err(|e| BootstrapError::State(format!("{}: {e}", path.display())))
}
