//! certwright-server: the HTTP faces over the core services — the native `/v1` API with its OpenAPI document,
//! health probes, authentication, configuration, the data directory and its first-start bootstrap.

pub mod acme_validation;
pub mod api;
pub mod app;
pub mod bootstrap;
pub mod client_cert;
pub mod config;
pub mod deploy;
pub mod dialects;
pub mod discovery;
pub mod extract;
pub mod notifier;
pub mod openapi;
pub mod problem;
pub mod protocols;
pub mod state;
pub mod tls;
pub mod upstream;

pub use app::{router, start, Running};
pub use state::AppState;
