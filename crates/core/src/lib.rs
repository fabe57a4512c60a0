//! certwright-core: the domain. Entities, roles and permissions, the hash-chained audit log, the services every
//! face calls, and the ports (`Store`, `Clock`) that adapters implement. No HTTP, no SQL, no concrete crypto.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod acme;
pub mod attributes;
pub mod audit;
pub mod auth;
pub mod ca;
pub mod clock;
pub mod deploy;
pub mod discovery;
pub mod end_entity;
pub mod error;
pub mod forms;
pub mod inventory;
pub mod jobs;
pub mod keystore;
pub mod lifecycle;
pub mod notify;
pub mod oauth1;
pub mod page;
pub mod publication;
pub mod revocation;
pub mod seq;
pub mod services;
pub mod store;
pub mod upstream;
pub mod vault;

pub use error::{CoreError, Result};
