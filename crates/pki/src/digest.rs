//! Message digests used outside certificate signing: token hashes, the audit hash chain, and the slow salted
//! hashes of passwords people choose.

use aws_lc_rs::{digest, pbkdf2};
use base64::Engine;
use std::num::NonZeroU32;

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let d = digest::digest(&digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// Incremental SHA-256 for inputs assembled from several parts.
#[derive(Clone)]
pub struct Sha256(digest::Context);

impl std::fmt::Debug for Sha256 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sha256")
    }
}

impl Default for Sha256 {
    fn default() -> Self {
        Self(digest::Context::new(&digest::SHA256))
    }
}

impl Sha256 {
    /// Feeds `data` into the digest.
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    /// Feeds a length-prefixed field, so that ("ab","c") and ("a","bc") hash differently.
    pub fn field(&mut self, data: &[u8]) {
        self.0.update(&(data.len() as u64).to_be_bytes());
        self.0.update(data);
    }

    /// Finishes the digest.
    pub fn finish(self) -> [u8; 32] {
        let d = self.0.finish();
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_ref());
        out
    }
}

/// The MACs of OAuth 1.0a request signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mac {
    /// HMAC-SHA1: RFC 5849's `HMAC-SHA1`, kept for the clients that speak it (its collision weakness does not
    /// touch HMAC).
    HmacSha1,
    HmacSha256,
}

/// Whether `mac` is the MAC of `data` under `key` (compared in constant time).
pub fn mac_matches(mac: Mac, key: &[u8], data: &[u8], expected: &[u8]) -> bool {
    let algorithm = match mac {
        Mac::HmacSha1 => aws_lc_rs::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        Mac::HmacSha256 => aws_lc_rs::hmac::HMAC_SHA256,
    };
    aws_lc_rs::hmac::verify(&aws_lc_rs::hmac::Key::new(algorithm, key), data, expected).is_ok()
}

/// Lower-case hexadecimal of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

/// PBKDF2 rounds of a new password hash.
const PASSWORD_ROUNDS: u32 = 100_000;
/// Most rounds a stored hash may ask for (a tampered row must not stall the server).
const MAX_PASSWORD_ROUNDS: u32 = 10_000_000;

/// A salted PBKDF2-HMAC-SHA256 hash of a password chosen by a person, as stored:
/// `pbkdf2-sha256$<rounds>$<salt base64>$<hash base64>`.
pub fn password_hash(password: &str) -> Result<String, crate::PkiError> {
    let salt = crate::random::bytes::<16>()?;
    let rounds = NonZeroU32::new(PASSWORD_ROUNDS).ok_or(crate::PkiError::Random)?;
    let mut out = [0u8; 32];
    pbkdf2::derive(pbkdf2::PBKDF2_HMAC_SHA256, rounds, &salt, password.as_bytes(), &mut out);
    let b64 = base64::engine::general_purpose::STANDARD_NO_PAD;
    Ok(format!("pbkdf2-sha256${PASSWORD_ROUNDS}${}${}", b64.encode(salt), b64.encode(out)))
}

/// Whether `password` matches a hash made by [`password_hash`] (compared in constant time); `false` for a
/// malformed hash.
pub fn password_matches(password: &str, stored: &str) -> bool {
    let b64 = base64::engine::general_purpose::STANDARD_NO_PAD;
    let mut parts = stored.split('$');
    let (Some("pbkdf2-sha256"), Some(rounds), Some(salt), Some(hash), None) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let rounds = rounds.parse::<u32>().ok().filter(|r| *r <= MAX_PASSWORD_ROUNDS).and_then(NonZeroU32::new);
    let (Some(rounds), Ok(salt), Ok(hash)) = (rounds, b64.decode(salt), b64.decode(hash)) else {
        return false;
    };
    pbkdf2::verify(pbkdf2::PBKDF2_HMAC_SHA256, rounds, &salt, password.as_bytes(), &hash).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_hashes_are_salted_and_verify() {
        let a = password_hash("correct horse").unwrap();
        let b = password_hash("correct horse").unwrap();
        assert_ne!(a, b, "salted");
        assert!(a.starts_with("pbkdf2-sha256$100000$"), "{a}");
        assert!(password_matches("correct horse", &a) && password_matches("correct horse", &b));
        assert!(!password_matches("correct horse!", &a));
        assert!(!password_matches("correct horse", "pbkdf2-sha256$x$y$z"));
        assert!(!password_matches("correct horse", &a.replace("$100000$", "$4294967295$")));
        assert!(!password_matches("", ""));
    }

    #[test]
    fn sha256_of_abc_matches_fips_180_vector() {
        assert_eq!(hex(&sha256(b"abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn length_prefixed_fields_do_not_collide() {
        let mut a = Sha256::default();
        a.field(b"ab");
        a.field(b"c");
        let mut b = Sha256::default();
        b.field(b"a");
        b.field(b"bc");
        assert_ne!(a.finish(), b.finish());
    }
}
