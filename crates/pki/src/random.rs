//! The one source of randomness for secrets: the operating system's CSPRNG through aws-lc.

use crate::PkiError;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};

/// Returns `N` random bytes from the system CSPRNG.
pub fn bytes<const N: usize>() -> Result<[u8; N], PkiError> {
    let mut out = [0u8; N];
    SystemRandom::new().fill(&mut out).map_err(|_| PkiError::Random)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn two_draws_differ() {
        let a = super::bytes::<32>().unwrap();
        let b = super::bytes::<32>().unwrap();
        assert_ne!(a, b);
    }
}
