//! Embedded, append-only migrations and the runner that applies them. A migration that was edited after it was
//! applied is refused by checksum, so a database never silently diverges from the code.

use crate::sql::{storage, Backend};
use certwright_core::{CoreError, Result};
use sqlx::{AnyPool, Row};

/// One migration: its number, a short description and the SQL for each backend.
struct Migration {
    version: i64,
    description: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "foundation",
        sqlite: include_str!("../migrations/sqlite/0001_foundation.sql"),
        postgres: include_str!("../migrations/postgres/0001_foundation.sql"),
    },
    Migration {
        version: 2,
        description: "pki",
        sqlite: include_str!("../migrations/sqlite/0002_pki.sql"),
        postgres: include_str!("../migrations/postgres/0002_pki.sql"),
    },
    Migration {
        version: 3,
        description: "inventory_search",
        sqlite: include_str!("../migrations/sqlite/0003_inventory_search.sql"),
        postgres: include_str!("../migrations/postgres/0003_inventory_search.sql"),
    },
    Migration {
        version: 4,
        description: "inventory_counts",
        sqlite: include_str!("../migrations/sqlite/0004_inventory_counts.sql"),
        postgres: include_str!("../migrations/postgres/0004_inventory_counts.sql"),
    },
    Migration {
        version: 5,
        description: "inventory_metadata",
        sqlite: include_str!("../migrations/sqlite/0005_inventory_metadata.sql"),
        postgres: include_str!("../migrations/postgres/0005_inventory_metadata.sql"),
    },
    Migration {
        version: 6,
        description: "revocation",
        sqlite: include_str!("../migrations/sqlite/0006_revocation.sql"),
        postgres: include_str!("../migrations/postgres/0006_revocation.sql"),
    },
    Migration {
        version: 7,
        description: "insert_triggers",
        sqlite: include_str!("../migrations/sqlite/0007_insert_triggers.sql"),
        postgres: include_str!("../migrations/postgres/0007_insert_triggers.sql"),
    },
    Migration {
        version: 8,
        description: "lifecycle",
        sqlite: include_str!("../migrations/sqlite/0008_lifecycle.sql"),
        postgres: include_str!("../migrations/postgres/0008_lifecycle.sql"),
    },
    Migration {
        version: 9,
        description: "qradar_scm",
        sqlite: include_str!("../migrations/sqlite/0009_qradar_scm.sql"),
        postgres: include_str!("../migrations/postgres/0009_qradar_scm.sql"),
    },
    Migration {
        version: 10,
        description: "acme",
        sqlite: include_str!("../migrations/sqlite/0010_acme.sql"),
        postgres: include_str!("../migrations/postgres/0010_acme.sql"),
    },
    Migration {
        version: 11,
        description: "end_entities",
        sqlite: include_str!("../migrations/sqlite/0011_end_entities.sql"),
        postgres: include_str!("../migrations/postgres/0011_end_entities.sql"),
    },
    Migration {
        version: 12,
        description: "discovery",
        sqlite: include_str!("../migrations/sqlite/0012_discovery.sql"),
        postgres: include_str!("../migrations/postgres/0012_discovery.sql"),
    },
    Migration {
        version: 13,
        description: "deployment",
        sqlite: include_str!("../migrations/sqlite/0013_deployment.sql"),
        postgres: include_str!("../migrations/postgres/0013_deployment.sql"),
    },
    Migration {
        version: 14,
        description: "request forms",
        sqlite: include_str!("../migrations/sqlite/0014_request_forms.sql"),
        postgres: include_str!("../migrations/postgres/0014_request_forms.sql"),
    },
    Migration {
        version: 15,
        description: "oauth1",
        sqlite: include_str!("../migrations/sqlite/0015_oauth1.sql"),
        postgres: include_str!("../migrations/postgres/0015_oauth1.sql"),
    },
    Migration {
        version: 16,
        description: "publication",
        sqlite: include_str!("../migrations/sqlite/0016_publication.sql"),
        postgres: include_str!("../migrations/postgres/0016_publication.sql"),
    },
    Migration {
        version: 17,
        description: "label_counts",
        sqlite: include_str!("../migrations/sqlite/0017_label_counts.sql"),
        postgres: include_str!("../migrations/postgres/0017_label_counts.sql"),
    },
];

/// Number of migrations this build carries.
pub(crate) fn expected() -> i64 {
    MIGRATIONS.len() as i64
}

fn checksum(sql: &str) -> String {
    certwright_pki::digest::hex(&certwright_pki::digest::sha256(sql.as_bytes()))
}

/// Applies every pending migration. On PostgreSQL an advisory lock keeps concurrently starting nodes from
/// migrating twice.
pub(crate) async fn run(pool: &AnyPool, backend: Backend) -> Result<()> {
    let mut conn = pool.acquire().await.map_err(storage)?;
    if backend == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_lock(7340451)").execute(&mut *conn).await.map_err(storage)?;
    }
    let outcome = apply(&mut conn, backend).await;
    if backend == Backend::Postgres {
        let _ = sqlx::query("SELECT pg_advisory_unlock(7340451)").execute(&mut *conn).await;
    }
    outcome
}

async fn apply(conn: &mut sqlx::AnyConnection, backend: Backend) -> Result<()> {
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version BIGINT PRIMARY KEY, description TEXT NOT NULL, checksum TEXT NOT NULL, applied_at BIGINT NOT NULL)",
    )
    .execute(&mut *conn)
    .await
    .map_err(storage)?;
    let applied = sqlx::query("SELECT version, checksum FROM schema_migrations ORDER BY version")
        .fetch_all(&mut *conn)
        .await
        .map_err(storage)?;
    for row in &applied {
        let version: i64 = row.try_get(0).map_err(storage)?;
        let sum: String = row.try_get(1).map_err(storage)?;
        match MIGRATIONS.iter().find(|m| m.version == version) {
            None => {
                return Err(CoreError::Storage(format!(
                    "the database has migration {version}, which this build does not know: it was written by a newer certwright"
                )))
            }
            Some(m) if checksum(m.sql(backend)) != sum => {
                return Err(CoreError::Storage(format!(
                    "migration {version} ({}) differs from the one applied to the database",
                    m.description
                )))
            }
            Some(_) => {}
        }
    }
    for m in MIGRATIONS.iter().skip(applied.len()) {
        let sql = m.sql(backend);
        let mut tx = sqlx::Connection::begin(&mut *conn).await.map_err(storage)?;
        sqlx::raw_sql(sql).execute(&mut *tx).await.map_err(storage)?;
        sqlx::query(
            "INSERT INTO schema_migrations (version, description, checksum, applied_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(m.version)
        .bind(m.description)
        .bind(checksum(sql))
        .bind(certwright_core::clock::Clock::now(&certwright_core::clock::SystemClock))
        .execute(&mut *tx)
        .await
        .map_err(storage)?;
        tx.commit().await.map_err(storage)?;
        tracing::info!(version = m.version, description = m.description, "applied migration");
    }
    Ok(())
}

impl Migration {
    fn sql(&self, backend: Backend) -> &'static str {
        match backend {
            Backend::Sqlite => self.sqlite,
            Backend::Postgres => self.postgres,
        }
    }
}

/// Applied migrations, for readiness; 0 for a database certwright never migrated.
pub(crate) async fn applied(pool: &AnyPool, backend: Backend) -> Result<i64> {
    let exists = match backend {
        Backend::Sqlite => "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'",
        Backend::Postgres => {
            "SELECT COUNT(*) FROM information_schema.tables \
             WHERE table_name = 'schema_migrations' AND table_schema = current_schema()"
        }
    };
    let count = |sql: &'static str| async move {
        sqlx::query(sql).fetch_one(pool).await.and_then(|r| r.try_get::<i64, _>(0)).map_err(storage)
    };
    if count(exists).await? == 0 {
        return Ok(0);
    }
    count("SELECT COUNT(*) FROM schema_migrations").await
}
