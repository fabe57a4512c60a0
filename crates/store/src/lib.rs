//! certwright-store: the `Store` port implemented with sqlx for SQLite (the embedded default: WAL, busy timeout,
//! foreign keys) and PostgreSQL (several nodes sharing one database). One SQL dialect is written per query where
//! the two differ; migrations are embedded, one append-only folder per backend.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod acme;
mod deploy;
mod discovery;
mod end_entity;
mod forms;
mod keystore;
mod lifecycle;
mod migrate;
mod oauth1;
mod pki;
mod publication;
mod revocation;
mod rows;
mod sql;
pub mod testing;
mod tx;

pub use sql::{Backend, SqlStore};
pub use tx::SqlTx;
