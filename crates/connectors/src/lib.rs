//! certwright-connectors: outbound adapters that talk to the outside world on core's behalf. Today: an RFC 8555
//! client towards upstream ACME CAs (`acme`), ACME challenge validation and CAA checking for certwright's own ACME
//! server (`challenge`), and notification delivery by e-mail and signed webhooks (`notify`).
//! Discovery scanners (`discovery`): TLS endpoints and filesystems. Deployment targets come later.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod acme;
pub mod challenge;
pub mod deploy;
pub mod discovery;
pub mod notify;
