//! certwright-pki: the pure cryptography of certwright. Bytes in, bytes out: digests, random secrets and the
//! AES-256-GCM envelope that protects private keys at rest. No I/O, no async, no clock.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod digest;
pub mod envelope;
pub mod random;

/// Errors of the pure cryptographic layer.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum PkiError {
    /// The operating system's random source failed.
    #[error("the system random number generator failed")]
    Random,
    /// A key had the wrong length or could not be loaded.
    #[error("invalid key material: {0}")]
    InvalidKey(&'static str),
    /// A sealed envelope could not be opened: wrong key, truncated or tampered data.
    #[error("the envelope could not be opened: {0}")]
    Envelope(&'static str),
}
