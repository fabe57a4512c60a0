//! certwright-pki: the pure cryptography of certwright. Bytes in, bytes out: key pairs and signing, digests,
//! random secrets and the AES-256-GCM envelope that protects private keys at rest. No I/O, no async, no clock.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod alg;
mod asn1;
pub mod cert;
pub mod crl;
pub mod crmf;
pub mod csr;
pub mod details;
pub mod digest;
pub mod envelope;
pub mod jose;
pub mod key;
pub mod names;
pub mod ocsp;
pub mod pem;
pub mod pkcs12;
pub mod pkcs7;
pub mod pkcs8;
pub mod random;
pub mod revocation;
pub mod validate;

/// Errors of the pure cryptographic layer.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
#[non_exhaustive]
pub enum PkiError {
    /// The operating system's random source failed.
    #[error("the system random number generator failed")]
    Random,
    /// A key had the wrong length or could not be loaded.
    #[error("invalid key material: {0}")]
    InvalidKey(&'static str),
    /// Key bytes (PKCS#8, SubjectPublicKeyInfo) could not be read.
    #[error("invalid key: {0}")]
    InvalidKeyData(String),
    /// The algorithm, size or encoding is not supported.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// A certificate signing request is malformed or its signature does not verify.
    #[error("invalid certificate request: {0}")]
    InvalidCsr(String),
    /// A name (DN or SAN) is malformed.
    #[error("invalid name: {0}")]
    InvalidName(String),
    /// PEM text is malformed.
    #[error("invalid PEM: {0}")]
    InvalidPem(String),
    /// A certificate is malformed.
    #[error("invalid certificate: {0}")]
    InvalidCertificate(String),
    /// A certificate revocation list cannot be built from these parameters, or cannot be read.
    #[error("invalid CRL: {0}")]
    InvalidCrl(String),
    /// A signature did not verify.
    #[error("bad signature: {0}")]
    BadSignature(String),
    /// A sealed envelope could not be opened: wrong key, truncated or tampered data.
    #[error("the envelope could not be opened: {0}")]
    Envelope(&'static str),
    /// The password does not open the file (or the file was altered): its MAC or padding does not check.
    #[error("the password is wrong, or the file was altered")]
    WrongPassword,
    /// The key is encrypted and no password was given.
    #[error("the private key is encrypted: a password is needed")]
    PasswordRequired,
    /// A PKCS#12 file is malformed.
    #[error("invalid PKCS#12 file: {0}")]
    InvalidPkcs12(String),
    /// An OCSP response is malformed, or the response asked for cannot be built.
    #[error("OCSP: {0}")]
    InvalidOcsp(String),
}
