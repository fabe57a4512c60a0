//! The `KeyVault` port: sealing private keys at rest and opening them for signing.

use crate::Result;
use zeroize::Zeroizing;

/// Protects private keys at rest.
pub trait KeyVault: Send + Sync + std::fmt::Debug {
    /// Seals `secret`, binding it to `context` (the key's uuid).
    fn seal(&self, secret: &[u8], context: &[u8]) -> Result<Vec<u8>>;
    /// Opens what [`KeyVault::seal`] produced with the same context.
    fn open(&self, sealed: &[u8], context: &[u8]) -> Result<Zeroizing<Vec<u8>>>;
}

impl KeyVault for certwright_pki::envelope::Keyring {
    fn seal(&self, secret: &[u8], context: &[u8]) -> Result<Vec<u8>> {
        Ok(certwright_pki::envelope::Keyring::seal(self, secret, context)?)
    }

    fn open(&self, sealed: &[u8], context: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        Ok(certwright_pki::envelope::Keyring::open(self, sealed, context)?)
    }
}
