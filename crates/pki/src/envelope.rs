//! AES-256-GCM envelopes for secrets at rest (private keys). Every envelope names the id of the master key that
//! sealed it, so a keyring can hold old keys while new envelopes use the newest one (master-key rotation).
//!
//! Wire layout: `b"CWE1" | kid_len:u8 | kid | nonce:12 | ciphertext‖tag:16`. The additional authenticated data is
//! the header plus a caller-chosen context (for example the key's uuid), so an envelope cannot be moved to
//! another row unnoticed.

use crate::{random, PkiError};
use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use zeroize::Zeroizing;

const MAGIC: &[u8; 4] = b"CWE1";
const TAG_LEN: usize = 16;

/// One 256-bit master key with its id.
pub struct MasterKey {
    id: String,
    key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MasterKey").field("id", &self.id).field("key", &"<redacted>").finish()
    }
}

impl MasterKey {
    /// A fresh random key with a random 8-hex-digit id.
    pub fn generate() -> Result<Self, PkiError> {
        let key = Zeroizing::new(random::bytes::<32>()?);
        let id = crate::digest::hex(&random::bytes::<4>()?);
        Ok(Self { id, key })
    }

    /// A key from its parts; the id must be 1..=64 printable ASCII characters without `:`.
    pub fn from_parts(id: &str, key: [u8; 32]) -> Result<Self, PkiError> {
        let valid_id = !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_graphic() && b != b':');
        if !valid_id {
            return Err(PkiError::InvalidKey("master key id must be 1-64 printable characters"));
        }
        Ok(Self { id: id.to_owned(), key: Zeroizing::new(key) })
    }

    /// The key id written into every envelope this key seals.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn aead(&self) -> Result<LessSafeKey, PkiError> {
        let unbound = UnboundKey::new(&AES_256_GCM, self.key.as_ref())
            .map_err(|_| PkiError::InvalidKey("AES-256-GCM key rejected"))?;
        Ok(LessSafeKey::new(unbound))
    }
}

/// An ordered set of master keys: the first seals, all of them open.
#[derive(Debug)]
pub struct Keyring {
    keys: Vec<MasterKey>,
}

impl Keyring {
    /// A keyring whose active (sealing) key is `active`, followed by older keys still able to open envelopes.
    pub fn new(active: MasterKey, older: Vec<MasterKey>) -> Self {
        let mut keys = vec![active];
        keys.extend(older);
        Self { keys }
    }

    /// Parses the keyring file format: one `id:hex-key` per line, the active key first; `#` lines are comments.
    pub fn parse(text: &str) -> Result<Self, PkiError> {
        let mut keys = Vec::new();
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (id, hex) = line.split_once(':').ok_or(PkiError::InvalidKey("keyring line must be id:hex"))?;
            keys.push(MasterKey::from_parts(id, decode_hex32(hex)?)?);
        }
        let mut iter = keys.into_iter();
        let active = iter.next().ok_or(PkiError::InvalidKey("keyring holds no key"))?;
        Ok(Self::new(active, iter.collect()))
    }

    /// Renders the keyring file format parsed by [`Keyring::parse`]. The result is secret.
    pub fn danger_render(&self) -> Zeroizing<String> {
        let mut out = Zeroizing::new(String::from("# certwright master keyring: id:key, active key first\n"));
        for k in &self.keys {
            out.push_str(&k.id);
            out.push(':');
            out.push_str(&crate::digest::hex(k.key.as_ref()));
            out.push('\n');
        }
        out
    }

    /// The id of the key that seals new envelopes.
    pub fn active_id(&self) -> &str {
        self.keys.first().map(|k| k.id.as_str()).unwrap_or_default()
    }

    /// Seals `plaintext`, binding it to `context`.
    pub fn seal(&self, plaintext: &[u8], context: &[u8]) -> Result<Vec<u8>, PkiError> {
        let key = self.keys.first().ok_or(PkiError::InvalidKey("keyring holds no key"))?;
        let kid = key.id.as_bytes();
        let kid_len = u8::try_from(kid.len()).map_err(|_| PkiError::InvalidKey("key id too long"))?;
        let nonce_bytes = random::bytes::<NONCE_LEN>()?;

        let mut out = Vec::with_capacity(MAGIC.len() + 1 + kid.len() + NONCE_LEN + plaintext.len() + TAG_LEN);
        out.extend_from_slice(MAGIC);
        out.push(kid_len);
        out.extend_from_slice(kid);
        out.extend_from_slice(&nonce_bytes);
        let header_len = out.len();

        let mut body = plaintext.to_vec();
        let aad = aad(&out[..header_len], context);
        key.aead()?
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce_bytes), Aad::from(aad), &mut body)
            .map_err(|_| PkiError::Envelope("sealing failed"))?;
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Opens an envelope sealed by any key of this keyring with the same `context`.
    pub fn open(&self, envelope: &[u8], context: &[u8]) -> Result<Zeroizing<Vec<u8>>, PkiError> {
        let rest = envelope.strip_prefix(MAGIC.as_slice()).ok_or(PkiError::Envelope("not a certwright envelope"))?;
        let (&kid_len, rest) = rest.split_first().ok_or(PkiError::Envelope("truncated"))?;
        let kid_len = usize::from(kid_len);
        if rest.len() < kid_len + NONCE_LEN + TAG_LEN {
            return Err(PkiError::Envelope("truncated"));
        }
        let (kid, rest) = rest.split_at(kid_len);
        let (nonce, sealed) = rest.split_at(NONCE_LEN);
        let key = self
            .keys
            .iter()
            .find(|k| k.id.as_bytes() == kid)
            .ok_or(PkiError::Envelope("sealed by a master key that is not in the keyring"))?;
        let header_len = MAGIC.len() + 1 + kid_len + NONCE_LEN;
        let aad = aad(&envelope[..header_len], context);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| PkiError::Envelope("bad nonce"))?;
        let mut body = Zeroizing::new(sealed.to_vec());
        let plain_len = key
            .aead()?
            .open_in_place(nonce, Aad::from(aad), body.as_mut_slice())
            .map_err(|_| PkiError::Envelope("authentication failed: wrong key, context or tampered data"))?
            .len();
        body.truncate(plain_len);
        Ok(body)
    }
}

fn aad(header: &[u8], context: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(header.len() + context.len());
    aad.extend_from_slice(header);
    aad.extend_from_slice(context);
    aad
}

fn decode_hex32(hex: &str) -> Result<[u8; 32], PkiError> {
    let bytes = hex.trim().as_bytes();
    if bytes.len() != 64 {
        return Err(PkiError::InvalidKey("master key must be 64 hex digits"));
    }
    let mut out = [0u8; 32];
    for (slot, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        let hi = hex_digit(pair.first().copied())?;
        let lo = hex_digit(pair.get(1).copied())?;
        *slot = (hi << 4) | lo;
    }
    Ok(out)
}

fn hex_digit(c: Option<u8>) -> Result<u8, PkiError> {
    match c {
        Some(c @ b'0'..=b'9') => Ok(c - b'0'),
        Some(c @ b'a'..=b'f') => Ok(c - b'a' + 10),
        Some(c @ b'A'..=b'F') => Ok(c - b'A' + 10),
        _ => Err(PkiError::InvalidKey("master key must be hexadecimal")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secret_opens_with_same_context_only() {
        let ring = Keyring::new(MasterKey::generate().unwrap(), vec![]);
        let env = ring.seal(b"private key bytes", b"key-1").unwrap();
        assert_eq!(ring.open(&env, b"key-1").unwrap().as_slice(), b"private key bytes");
        assert!(ring.open(&env, b"key-2").is_err());
    }

    #[test]
    fn tampered_envelope_is_rejected() {
        let ring = Keyring::new(MasterKey::generate().unwrap(), vec![]);
        let mut env = ring.seal(b"secret", b"").unwrap();
        let last = env.len() - 1;
        env[last] ^= 1;
        assert!(ring.open(&env, b"").is_err());
        assert!(ring.open(&env[..10], b"").is_err());
    }

    #[test]
    fn rotated_keyring_opens_old_envelopes_and_seals_with_new_key() {
        let old = Keyring::new(MasterKey::generate().unwrap(), vec![]);
        let env = old.seal(b"secret", b"ctx").unwrap();
        let old_again = Keyring::parse(&old.danger_render()).unwrap();
        let rotated = Keyring::new(MasterKey::generate().unwrap(), old_again.keys);
        assert_eq!(rotated.open(&env, b"ctx").unwrap().as_slice(), b"secret");
        let new_env = rotated.seal(b"s2", b"").unwrap();
        assert_eq!(&new_env[5..5 + rotated.active_id().len()], rotated.active_id().as_bytes());
        assert!(old.open(&new_env, b"").is_err());
    }

    #[test]
    fn keyring_file_round_trips() {
        let ring = Keyring::new(MasterKey::generate().unwrap(), vec![MasterKey::generate().unwrap()]);
        let parsed = Keyring::parse(&ring.danger_render()).unwrap();
        assert_eq!(parsed.active_id(), ring.active_id());
        assert_eq!(parsed.keys.len(), 2);
        assert!(Keyring::parse("nocolon").is_err());
        assert!(Keyring::parse("").is_err());
        assert!(Keyring::parse("id:zz").is_err());
    }
}
