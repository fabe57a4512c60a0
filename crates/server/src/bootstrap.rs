//! The data directory and the first-start bootstrap. Every file is built in `<data-dir>/.bootstrap/` and moved
//! into place by `rename`; the last move is the commit point (`certwright.db` for SQLite, `master.key` for
//! PostgreSQL). A crash before it leaves no usable state and the next start redoes the bootstrap; a crash after
//! it leaves a complete data directory. New steps (CA hierarchy, server certificate) slot in before the commit.

use crate::config::Settings;
use certwright_core::clock::SystemClock;
use certwright_core::services::{Services, Settings as ServiceSettings};
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

/// Fault injection for crash tests: the process aborts right after the named step, as `kill -9` would.
pub const ABORT_AFTER_ENV: &str = "CERTWRIGHT_BOOTSTRAP_ABORT_AFTER";

/// Why the data directory could not be opened or created.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    State(String),
    #[error(transparent)]
    Core(#[from] certwright_core::CoreError),
}

fn io<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> BootstrapError + 'a {
    move |source| BootstrapError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

/// Everything a server needs, opened from a complete data directory.
#[derive(Debug)]
pub struct Opened {
    pub services: Arc<Services<SqlStore>>,
    pub keyring: Arc<Keyring>,
    /// The admin token, only on the start that created it.
    pub new_admin_token: Option<String>,
}

/// Opens the data directory, bootstrapping it first when it is new (or when an earlier bootstrap was cut short).
pub async fn open(settings: &Settings) -> Result<Opened, BootstrapError> {
    open_with(settings, true).await
}

/// Opens a data directory that must already be bootstrapped (for maintenance commands).
pub async fn open_existing(settings: &Settings) -> Result<Opened, BootstrapError> {
    open_with(settings, false).await
}

async fn open_with(settings: &Settings, may_bootstrap: bool) -> Result<Opened, BootstrapError> {
    let dir = &settings.data_dir;
    if !may_bootstrap && !dir.exists() {
        return Err(BootstrapError::State(format!(
            "{} does not exist: run `certwright init` or `certwright serve` first",
            dir.display()
        )));
    }
    fs::create_dir_all(dir).map_err(io("cannot create the data directory", dir))?;
    let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o700));
    let postgres = settings.config.database_url.clone();
    let commit_file = if postgres.is_some() {
        MASTER_KEY_FILE
    } else {
        DATABASE_FILE
    };

    let new_admin_token = if dir.join(commit_file).exists() {
        None
    } else if !may_bootstrap {
        return Err(BootstrapError::State(format!(
            "{} is not initialised: run `certwright init` or `certwright serve` first",
            dir.display()
        )));
    } else {
        Some(bootstrap(settings, postgres.as_deref()).await?)
    };

    let key_path = dir.join(MASTER_KEY_FILE);
    if !key_path.exists() {
        return Err(BootstrapError::State(format!(
            "{} exists but {} is missing: restore the master key from your backup, or move the database away to start afresh",
            dir.join(DATABASE_FILE).display(),
            key_path.display()
        )));
    }
    let keyring = read_keyring(&key_path)?;
    let store = match &postgres {
        Some(url) => SqlStore::connect(url).await?,
        None => SqlStore::open_sqlite(&dir.join(DATABASE_FILE)).await?,
    };
    Ok(Opened {
        services: Arc::new(services(store, settings)),
        keyring: Arc::new(keyring),
        new_admin_token,
    })
}

fn services(store: SqlStore, settings: &Settings) -> Services<SqlStore> {
    Services::new(
        store,
        Arc::new(SystemClock),
        ServiceSettings {
            node_id: settings.config.node_id.clone(),
            default_oauth_token_ttl: settings.config.oauth_token_ttl_seconds,
        },
    )
}

/// The bootstrap steps, in order. Returns the new admin token.
async fn bootstrap(settings: &Settings, postgres: Option<&str>) -> Result<String, BootstrapError> {
    let dir = &settings.data_dir;
    let staging = dir.join(STAGING_DIR);
    if staging.exists() {
        tracing::warn!(path = %staging.display(), "removing the remains of an interrupted bootstrap");
        fs::remove_dir_all(&staging).map_err(io("cannot remove", &staging))?;
    }
    fs::create_dir(&staging).map_err(io("cannot create", &staging))?;
    let _ = fs::set_permissions(&staging, fs::Permissions::from_mode(0o700));

    // 1. master key
    let keyring = Keyring::new(
        MasterKey::generate().map_err(certwright_core::CoreError::from)?,
        vec![],
    );
    write_secret_file(
        &staging.join(MASTER_KEY_FILE),
        keyring.danger_render().as_bytes(),
    )?;
    checkpoint("master-key");

    // 2. database and migrations
    let store = match postgres {
        Some(url) => SqlStore::connect(url).await?,
        None => {
            // Created owner-only up front: SQLite gives its -wal and -shm files the same mode.
            let db = staging.join(DATABASE_FILE);
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&db)
                .map_err(io("cannot create", &db))?;
            SqlStore::open_sqlite(&db).await?
        }
    };
    checkpoint("database");

    // 3. admin principal and token
    let svc = services(store, settings);
    let secret = svc.bootstrap_admin().await?;
    let token = secret.danger_expose().to_owned();
    write_secret_file(
        &staging.join(ADMIN_TOKEN_FILE),
        format!("{token}\n").as_bytes(),
    )?;
    if postgres.is_none() {
        svc.store().checkpoint_wal().await?;
    }
    svc.store().close().await;
    checkpoint("admin-token");

    // Commit: move the files into place, the commit file last.
    let order: &[&str] = if postgres.is_some() {
        &[ADMIN_TOKEN_FILE, MASTER_KEY_FILE]
    } else {
        &[MASTER_KEY_FILE, ADMIN_TOKEN_FILE, DATABASE_FILE]
    };
    for (i, name) in order.iter().enumerate() {
        let to = dir.join(name);
        fs::rename(staging.join(name), &to).map_err(io("cannot move into place", &to))?;
        sync_dir(dir)?;
        if i + 1 < order.len() {
            checkpoint("partial-commit");
        }
    }
    fs::remove_dir_all(&staging).map_err(io("cannot remove", &staging))?;
    tracing::info!(data_dir = %dir.display(), "bootstrapped a new data directory");
    Ok(token)
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
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("cannot sync", dir))
}

fn read_keyring(path: &Path) -> Result<Keyring, BootstrapError> {
    let meta = fs::metadata(path).map_err(io("cannot read", path))?;
    if meta.permissions().mode() & 0o077 != 0 {
        tracing::warn!(path = %path.display(), "the master key file is readable by others; chmod 600 it");
    }
    let text = zeroize::Zeroizing::new(fs::read_to_string(path).map_err(io("cannot read", path))?);
    Keyring::parse(&text).map_err(|e| BootstrapError::State(format!("{}: {e}", path.display())))
}
