//! Helpers for tests that need a real, empty database: a SQLite file in a temporary directory, or a fresh
//! schema on the PostgreSQL server named by `CERTWRIGHT_TEST_POSTGRES_URL` so tests can run in parallel.

use crate::sql::storage;
use certwright_core::{CoreError, Result};
use sqlx::Connection;

/// The environment variable naming the PostgreSQL server for tests.
pub const POSTGRES_ENV: &str = "CERTWRIGHT_TEST_POSTGRES_URL";

/// The PostgreSQL URL for tests, when configured. Set but empty counts as unset.
pub fn postgres_url() -> Option<String> {
    std::env::var(POSTGRES_ENV).ok().filter(|u| !u.trim().is_empty())
}

/// Creates a new, uniquely named schema on `base_url` and returns a URL whose connections use it.
/// Fails (never skips) when the server cannot be reached.
pub async fn fresh_postgres_schema(base_url: &str) -> Result<String> {
    sqlx::any::install_default_drivers();
    let schema = format!("cw_test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::AnyConnection::connect(base_url).await.map_err(|e| {
        CoreError::Storage(format!("{POSTGRES_ENV} is set to {base_url} but it cannot be reached: {e}"))
    })?;
    sqlx::query(&format!("CREATE SCHEMA {schema}")).execute(&mut conn).await.map_err(storage)?;
    let _ = conn.close().await;
    let sep = if base_url.contains('?') { '&' } else { '?' };
    Ok(format!("{base_url}{sep}options=-c%20search_path%3D{schema}"))
}
