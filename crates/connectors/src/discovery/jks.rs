//! Java keystores: JKS (magic `0xFEEDFEED`, versions 1 and 2) and JCEKS (`0xCECECECE`). Java keeps certificates
//! in clear in both, so their entries are listed without the store password; private keys stay encrypted and are
//! never opened, and the integrity digest at the end (SHA-1 over a password-derived prefix) is not checked.
//! Every count and length is checked against the bytes that remain, so a hostile file is an error, not a panic
//! or a large allocation.

/// Magic number of a JKS store.
const JKS_MAGIC: u32 = 0xFEED_FEED;
/// Magic number of a JCEKS store.
const JCEKS_MAGIC: u32 = 0xCECE_CECE;
/// Size of the SHA-1 integrity digest closing the store.
const DIGEST_LEN: usize = 20;
/// Smallest entry: tag, empty alias, timestamp.
const MIN_ENTRY: u64 = 4 + 2 + 8;

/// Why a keystore could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JksError {
    /// The bytes do not start with the JKS or JCEKS magic number.
    #[error("not a Java keystore: neither the JKS nor the JCEKS magic number")]
    NotAKeystore,
    /// A keystore version this reader does not know.
    #[error("keystore version {0} is not supported (versions 1 and 2 are)")]
    UnsupportedVersion(u32),
    /// The file ends inside a field: truncated, or not a keystore after all.
    #[error("the keystore ends inside {0}: the file is truncated")]
    Truncated(&'static str),
    /// A field holds something impossible.
    #[error("malformed keystore: {0}")]
    Malformed(String),
}

/// Which of the two Java formats a store is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeystoreKind {
    Jks,
    Jceks,
}

/// What a keystore entry holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum JksEntryKind {
    /// An (encrypted) private key with its certificate chain.
    PrivateKey,
    /// A certificate trusted on its own (`keytool -importcert`).
    TrustedCertificate,
    /// A secret (symmetric) key, JCEKS only; it has no certificate.
    SecretKey,
}

/// One entry of a keystore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JksEntry {
    /// The alias the entry is stored under.
    pub alias: String,
    pub kind: JksEntryKind,
    /// X.509 certificates (DER), leaf first, as Java stores them. Certificates of other types are left out.
    pub chain: Vec<Vec<u8>>,
}

/// A keystore as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JksStore {
    pub kind: KeystoreKind,
    pub version: u32,
    pub entries: Vec<JksEntry>,
    /// Entries stored after a JCEKS secret key, which were not read (see [`read_store`]).
    pub unread_entries: u32,
}

/// Whether `bytes` start with the JKS or JCEKS magic number.
pub fn is_jks(bytes: &[u8]) -> bool {
    matches!(bytes.get(..4), Some([0xfe, 0xed, 0xfe, 0xed] | [0xce, 0xce, 0xce, 0xce]))
}

/// The entries of a JKS or JCEKS store, in file order. See [`read_store`] for what is and is not read.
pub fn read(bytes: &[u8]) -> Result<Vec<JksEntry>, JksError> {
    read_store(bytes).map(|store| store.entries)
}

/// Reads a JKS or JCEKS store. Private keys are skipped over, not decrypted; the closing digest must be present
/// but is not verified. A JCEKS secret key is a serialized Java object whose length is only known by decoding
/// Java serialization, which this reader does not do: reading stops at the first secret key, which is returned
/// (with an empty chain) as the last entry, and the number of entries left behind it is in
/// [`JksStore::unread_entries`].
pub fn read_store(bytes: &[u8]) -> Result<JksStore, JksError> {
    let mut r = Reader { rest: bytes };
    let kind = match r.u32("the magic number").map_err(|_| JksError::NotAKeystore)? {
        JKS_MAGIC => KeystoreKind::Jks,
        JCEKS_MAGIC => KeystoreKind::Jceks,
        _ => return Err(JksError::NotAKeystore),
    };
    let version = r.u32("the version")?;
    if !(1..=2).contains(&version) {
        return Err(JksError::UnsupportedVersion(version));
    }
    let count = r.u32("the entry count")?;
    r.room_for(count, MIN_ENTRY, "entries")?;
    let mut entries = Vec::new();
    for index in 0..count {
        let tag = r.u32("an entry tag")?;
        let alias = r.utf("an alias")?;
        r.take(8, "a timestamp")?;
        let entry = match tag {
            1 => {
                let key_len = r.u32("a private key length")?;
                r.take(key_len, "a private key")?;
                let chain_len = r.u32("a chain length")?;
                r.room_for(chain_len, if version == 2 { 6 } else { 4 }, "chain certificates")?;
                let mut chain = Vec::new();
                for _ in 0..chain_len {
                    chain.extend(r.certificate(version)?);
                }
                JksEntry { alias, kind: JksEntryKind::PrivateKey, chain }
            }
            2 => JksEntry {
                alias,
                kind: JksEntryKind::TrustedCertificate,
                chain: r.certificate(version)?.into_iter().collect(),
            },
            3 if kind == KeystoreKind::Jceks => {
                entries.push(JksEntry { alias, kind: JksEntryKind::SecretKey, chain: Vec::new() });
                return Ok(JksStore { kind, version, entries, unread_entries: count - index - 1 });
            }
            other => return Err(JksError::Malformed(format!("unknown entry tag {other}"))),
        };
        entries.push(entry);
    }
    match r.rest.len() {
        DIGEST_LEN => Ok(JksStore { kind, version, entries, unread_entries: 0 }),
        n if n < DIGEST_LEN => Err(JksError::Truncated("the integrity digest")),
        n => Err(JksError::Malformed(format!("{} bytes after the integrity digest", n - DIGEST_LEN))),
    }
}

/// A cursor over the big-endian fields of a store.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: impl TryInto<usize>, what: &'static str) -> Result<&'a [u8], JksError> {
        let n = n.try_into().map_err(|_| JksError::Truncated(what))?;
        if n > self.rest.len() {
            return Err(JksError::Truncated(what));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn u16(&mut self, what: &'static str) -> Result<u16, JksError> {
        let b = self.take(2usize, what)?;
        Ok(u16::from_be_bytes([b.first().copied().unwrap_or(0), b.get(1).copied().unwrap_or(0)]))
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, JksError> {
        let b: [u8; 4] = self.take(4usize, what)?.try_into().map_err(|_| JksError::Truncated(what))?;
        Ok(u32::from_be_bytes(b))
    }

    /// Refuses a count of items of at least `min_size` bytes each that cannot fit in what remains.
    fn room_for(&self, count: u32, min_size: u64, what: &str) -> Result<(), JksError> {
        if u64::from(count) * min_size > self.rest.len() as u64 {
            return Err(JksError::Malformed(format!("{count} {what} announced, but the file is too short for them")));
        }
        Ok(())
    }

    /// A Java `writeUTF` string: a two-byte length, then modified UTF-8.
    fn utf(&mut self, what: &'static str) -> Result<String, JksError> {
        let len = self.u16(what)?;
        modified_utf8(self.take(len, what)?)
    }

    /// One certificate: its type (version 2 only), length and encoding. `None` for a type other than X.509.
    fn certificate(&mut self, version: u32) -> Result<Option<Vec<u8>>, JksError> {
        let x509 = if version == 2 { self.utf("a certificate type")? == "X.509" } else { true };
        let len = self.u32("a certificate length")?;
        let der = self.take(len, "a certificate")?;
        Ok(x509.then(|| der.to_vec()))
    }
}

/// Decodes Java's modified UTF-8 (NUL as two bytes, characters beyond the BMP as surrogate pairs).
fn modified_utf8(bytes: &[u8]) -> Result<String, JksError> {
    let bad = || JksError::Malformed("an alias is not valid modified UTF-8".to_owned());
    let mut units = Vec::with_capacity(bytes.len());
    let mut it = bytes.iter().copied();
    let cont = |it: &mut dyn Iterator<Item = u8>| match it.next() {
        Some(b) if b & 0xc0 == 0x80 => Ok(u16::from(b & 0x3f)),
        _ => Err(bad()),
    };
    while let Some(b) = it.next() {
        let unit = match b {
            0x01..=0x7f => u16::from(b),
            0xc0..=0xdf => (u16::from(b & 0x1f) << 6) | cont(&mut it)?,
            0xe0..=0xef => (u16::from(b & 0x0f) << 12) | (cont(&mut it)? << 6) | cont(&mut it)?,
            _ => return Err(bad()),
        };
        units.push(unit);
    }
    Ok(String::from_utf16_lossy(&units))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds stores field by field.
    #[derive(Default)]
    struct Buf(Vec<u8>);

    impl Buf {
        fn u16(mut self, v: u16) -> Self {
            self.0.extend(v.to_be_bytes());
            self
        }
        fn u32(mut self, v: u32) -> Self {
            self.0.extend(v.to_be_bytes());
            self
        }
        fn u64(mut self, v: u64) -> Self {
            self.0.extend(v.to_be_bytes());
            self
        }
        fn bytes(mut self, b: &[u8]) -> Self {
            self.0.extend(b);
            self
        }
        fn utf(self, s: &str) -> Self {
            self.u16(s.len() as u16).bytes(s.as_bytes())
        }
        fn cert(self, version: u32, der: &[u8]) -> Self {
            let b = if version == 2 { self.utf("X.509") } else { self };
            b.u32(der.len() as u32).bytes(der)
        }
        fn digest(self) -> Vec<u8> {
            self.bytes(&[0xaa; DIGEST_LEN]).0
        }
    }

    fn header(magic: u32, version: u32, count: u32) -> Buf {
        Buf::default().u32(magic).u32(version).u32(count)
    }

    fn key_entry(b: Buf, version: u32, alias: &str, chain: &[&[u8]]) -> Buf {
        let mut b = b.u32(1).utf(alias).u64(1_700_000_000_000).u32(5).bytes(b"\x30\x03\x02\x01\x00");
        b = b.u32(chain.len() as u32);
        for c in chain {
            b = b.cert(version, c);
        }
        b
    }

    fn trusted_entry(b: Buf, version: u32, alias: &str, der: &[u8]) -> Buf {
        b.u32(2).utf(alias).u64(1_700_000_000_000).cert(version, der)
    }

    #[test]
    fn a_version_2_store_lists_key_and_trusted_entries() {
        let b = key_entry(header(JKS_MAGIC, 2, 2), 2, "server", &[b"leaf", b"ca"]);
        let bytes = trusted_entry(b, 2, "root", b"root").digest();
        assert!(is_jks(&bytes));
        let store = read_store(&bytes).unwrap();
        assert_eq!(store.kind, KeystoreKind::Jks);
        assert_eq!(store.unread_entries, 0);
        assert_eq!(
            store.entries,
            vec![
                JksEntry {
                    alias: "server".into(),
                    kind: JksEntryKind::PrivateKey,
                    chain: vec![b"leaf".to_vec(), b"ca".to_vec()]
                },
                JksEntry {
                    alias: "root".into(),
                    kind: JksEntryKind::TrustedCertificate,
                    chain: vec![b"root".to_vec()]
                },
            ]
        );
    }

    #[test]
    fn a_version_1_store_has_no_certificate_types() {
        let bytes = trusted_entry(header(JKS_MAGIC, 1, 1), 1, "root", b"root").digest();
        assert_eq!(read(&bytes).unwrap()[0].chain, vec![b"root".to_vec()]);
    }

    #[test]
    fn certificates_of_other_types_are_left_out() {
        let b = header(JKS_MAGIC, 2, 1).u32(2).utf("pgp").u64(0).utf("PGP").u32(3).bytes(b"xyz");
        let entries = read(&b.digest()).unwrap();
        assert_eq!(entries[0].chain, Vec::<Vec<u8>>::new());
    }

    #[test]
    fn a_jceks_secret_key_stops_the_reading() {
        let b = trusted_entry(header(JCEKS_MAGIC, 2, 3), 2, "root", b"root");
        let b = b.u32(3).utf("aes").u64(0).bytes(&[0xac, 0xed, 0x00, 0x05, 0x73, 0x72]);
        let store = read_store(&b.0).unwrap();
        assert_eq!(store.kind, KeystoreKind::Jceks);
        assert_eq!(store.entries.len(), 2);
        assert_eq!(store.entries[1].kind, JksEntryKind::SecretKey);
        assert_eq!(store.unread_entries, 1);
    }

    #[test]
    fn a_secret_key_tag_in_a_jks_store_is_malformed() {
        let b = header(JKS_MAGIC, 2, 1).u32(3).utf("aes").u64(0).digest();
        assert!(matches!(read(&b), Err(JksError::Malformed(_))));
    }

    #[test]
    fn modified_utf8_aliases_are_decoded() {
        // "é" as two bytes, NUL as C0 80, U+1F600 as a surrogate pair of three-byte sequences.
        let alias = [0xc3, 0xa9, 0xc0, 0x80, 0xed, 0xa0, 0xbd, 0xed, 0xb8, 0x80];
        let b = header(JKS_MAGIC, 2, 1).u32(2).u16(alias.len() as u16).bytes(&alias).u64(0).cert(2, b"c");
        assert_eq!(read(&b.digest()).unwrap()[0].alias, "é\0\u{1F600}");
        let b = header(JKS_MAGIC, 2, 1).u32(2).u16(2).bytes(&[0xc3, 0x41]).u64(0).cert(2, b"c");
        assert!(matches!(read(&b.digest()), Err(JksError::Malformed(_))));
    }

    #[test]
    fn other_files_and_versions_are_refused() {
        assert!(!is_jks(b"\xfe\xed"));
        assert!(!is_jks(b"-----BEGIN CERTIFICATE-----"));
        assert_eq!(read(b"\x30\x82\x01\x00"), Err(JksError::NotAKeystore));
        assert_eq!(read(b"\xfe\xed"), Err(JksError::NotAKeystore));
        assert_eq!(read(&header(JKS_MAGIC, 3, 0).digest()), Err(JksError::UnsupportedVersion(3)));
        assert!(read(&header(JKS_MAGIC, 2, 0).digest()).unwrap().is_empty());
    }

    #[test]
    fn every_truncation_is_an_error() {
        let b = key_entry(header(JKS_MAGIC, 2, 2), 2, "server", &[b"leaf", b"ca"]);
        let full = trusted_entry(b, 2, "root", b"root").digest();
        for cut in 0..full.len() {
            assert!(read(&full[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = full.clone();
        longer.push(0);
        assert!(matches!(read(&longer), Err(JksError::Malformed(_))));
    }

    #[test]
    fn hostile_counts_and_lengths_are_errors_not_allocations() {
        let huge_count = header(JKS_MAGIC, 2, u32::MAX).digest();
        assert!(matches!(read(&huge_count), Err(JksError::Malformed(_))));
        let huge_chain = header(JKS_MAGIC, 2, 1).u32(1).utf("k").u64(0).u32(0).u32(u32::MAX).digest();
        assert!(matches!(read(&huge_chain), Err(JksError::Malformed(_))));
        let huge_key = header(JKS_MAGIC, 2, 1).u32(1).utf("k").u64(0).u32(u32::MAX).digest();
        assert!(matches!(read(&huge_key), Err(JksError::Truncated(_))));
        let huge_cert = header(JKS_MAGIC, 2, 1).u32(2).utf("c").u64(0).utf("X.509").u32(u32::MAX).digest();
        assert!(matches!(read(&huge_cert), Err(JksError::Truncated(_))));
        let huge_alias = header(JKS_MAGIC, 2, 1).u32(2).u16(u16::MAX).digest();
        assert!(matches!(read(&huge_alias), Err(JksError::Truncated(_))));
        let bad_tag = header(JKS_MAGIC, 2, 1).u32(9).utf("x").u64(0).digest();
        assert!(matches!(read(&bad_tag), Err(JksError::Malformed(_))));
    }

    #[test]
    fn random_bytes_behind_the_magic_never_panic() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for round in 0..2_000 {
            let mut bytes = header(if round % 2 == 0 { JKS_MAGIC } else { JCEKS_MAGIC }, 2, round % 5).0;
            for _ in 0..(round % 97) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                bytes.push((state % 7) as u8);
            }
            let _ = read(&bytes);
        }
    }
}
