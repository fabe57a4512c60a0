//! PKCS#12 (RFC 7292): a private key with its certificate and chain in one password-protected file.
//! Export writes the profile OpenSSL 3 writes by default: a PBES2 shrouded key bag (PBKDF2-HMAC-SHA256,
//! AES-256-CBC) and an HMAC-SHA256 MAC keyed by the PKCS#12 KDF. Import also reads the legacy files of OpenSSL
//! `-legacy`, Windows and Java (3DES and RC2 bags, SHA-1 MAC, BER), and checks the MAC before anything else so
//! that a wrong password is told apart from a broken file.

use crate::asn1::{self, Malformed, Tlv, CONTEXT_0, INTEGER, OCTET_STRING, OID, SEQUENCE, SET};
use crate::cert::Cert;
use crate::key::PrivateKey;
use crate::pkcs8::{self, Budget, Password};
use crate::PkiError;
use aws_lc_rs::{digest, hmac};
use std::borrow::Cow;
use zeroize::Zeroizing;

/// PBKDF2 and MAC iteration count of exported files (OpenSSL 3's default).
pub const ITERATIONS: u32 = pkcs8::ITERATIONS;
/// Largest PKCS#12 file read.
pub const MAX_PKCS12_BYTES: usize = 1024 * 1024;
/// Most bags read from one file.
const MAX_BAGS: usize = 512;
/// Deepest nesting of safeContents bags read.
const MAX_NESTING: usize = 4;
/// Longest MAC salt read.
const MAX_SALT: usize = 1024;

mod oid {
    use const_oid::ObjectIdentifier as Oid;
    pub const DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.1");
    pub const SIGNED_DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.2");
    pub const ENCRYPTED_DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.6");
    pub const KEY_BAG: Oid = Oid::new_unwrap("1.2.840.113549.1.12.10.1.1");
    pub const SHROUDED_KEY_BAG: Oid = Oid::new_unwrap("1.2.840.113549.1.12.10.1.2");
    pub const CERT_BAG: Oid = Oid::new_unwrap("1.2.840.113549.1.12.10.1.3");
    pub const SAFE_CONTENTS_BAG: Oid = Oid::new_unwrap("1.2.840.113549.1.12.10.1.6");
    pub const X509_CERTIFICATE: Oid = Oid::new_unwrap("1.2.840.113549.1.9.22.1");
    pub const FRIENDLY_NAME: Oid = Oid::new_unwrap("1.2.840.113549.1.9.20");
    pub const LOCAL_KEY_ID: Oid = Oid::new_unwrap("1.2.840.113549.1.9.21");
    pub const SHA1: Oid = Oid::new_unwrap("1.3.14.3.2.26");
    pub const SHA256: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.1");
    pub const SHA384: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.2");
    pub const SHA512: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.3");
    pub const PBMAC1: Oid = Oid::new_unwrap("1.2.840.113549.1.5.14");
}

pub(crate) use asn1::tlv;
use asn1::{explicit0, integer, null, octets, seq, set};

/// RFC 7292 appendix B.2 key derivation over `hash`: `id` 1 derives cipher keys, 2 IVs and 3 MAC keys from the
/// BMPString `password`.
pub(crate) fn kdf(
    hash: &'static digest::Algorithm,
    id: u8,
    password: &[u8],
    salt: &[u8],
    iterations: u32,
    n: usize,
) -> Zeroizing<Vec<u8>> {
    let (u, v) = (hash.output_len(), hash.block_len());
    let mut i = Zeroizing::new(Vec::new());
    for s in [salt, password] {
        if !s.is_empty() {
            i.extend(s.iter().cycle().take(v * s.len().div_ceil(v)));
        }
    }
    let d = vec![id; v];
    let mut out = Zeroizing::new(Vec::with_capacity(n + u));
    while out.len() < n {
        let mut context = digest::Context::new(hash);
        context.update(&d);
        context.update(&i);
        let mut a = context.finish();
        for _ in 1..iterations {
            a = digest::digest(hash, a.as_ref());
        }
        let b: Zeroizing<Vec<u8>> = Zeroizing::new(a.as_ref().iter().cycle().take(v).copied().collect());
        for block in i.chunks_mut(v) {
            // block = (block + b + 1) mod 2^(8v)
            let mut carry = 1u16;
            for (x, y) in block.iter_mut().rev().zip(b.iter().rev()) {
                let sum = u16::from(*x) + u16::from(*y) + carry;
                *x = sum as u8;
                carry = sum >> 8;
            }
        }
        out.extend_from_slice(a.as_ref());
    }
    out.truncate(n);
    out
}

fn attributes(local_key_id: &[u8], friendly_name: Option<&str>) -> Vec<u8> {
    let mut attrs = seq(&[&asn1::oid(&oid::LOCAL_KEY_ID), &set(&[&octets(local_key_id)])]);
    if let Some(name) = friendly_name {
        let bmp: Vec<u8> = name.encode_utf16().flat_map(u16::to_be_bytes).collect();
        attrs.extend(seq(&[&asn1::oid(&oid::FRIENDLY_NAME), &set(&[&tlv(asn1::BMP_STRING, &bmp)])]));
    }
    set(&[&attrs])
}

/// A PKCS#12 file holding the PKCS#8 `key`, its certificate `certs[0]` and the chain `certs[1..]`, protected by
/// `password`.
pub fn export(
    key_pkcs8: &[u8],
    certs: &[Vec<u8>],
    password: &str,
    friendly_name: Option<&str>,
) -> Result<Vec<u8>, PkiError> {
    let leaf = certs.first().ok_or_else(|| PkiError::InvalidCertificate("PKCS#12 needs a certificate".to_owned()))?;
    let local_key_id = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, leaf).as_ref().to_vec();

    let encrypted_key_info = pkcs8::encrypt(key_pkcs8, password)?;
    let key_bag = seq(&[
        &asn1::oid(&oid::SHROUDED_KEY_BAG),
        &explicit0(&encrypted_key_info),
        &attributes(&local_key_id, friendly_name),
    ]);

    // Certificate bags: the leaf carries the key id; chain certificates follow.
    let mut cert_bags = Vec::new();
    for (i, cert) in certs.iter().enumerate() {
        let bag_value = seq(&[&asn1::oid(&oid::X509_CERTIFICATE), &explicit0(&octets(cert))]);
        let attrs = if i == 0 { attributes(&local_key_id, friendly_name) } else { Vec::new() };
        cert_bags.extend(seq(&[&asn1::oid(&oid::CERT_BAG), &explicit0(&bag_value), &attrs]));
    }
    let data = |safe_contents: &[u8]| seq(&[&asn1::oid(&oid::DATA), &explicit0(&octets(safe_contents))]);
    let auth_safe = seq(&[&data(&tlv(SEQUENCE, &cert_bags)), &data(&tlv(SEQUENCE, &key_bag))]);

    // MAC over the AuthenticatedSafe, keyed by the PKCS#12 KDF (ID 3) with SHA-256.
    let mac_salt = crate::random::bytes::<16>()?;
    let mac_key = kdf(&digest::SHA256, 3, Password::new(password).bmp(), &mac_salt, ITERATIONS, 32);
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &mac_key), &auth_safe);
    let mac_data = seq(&[
        &seq(&[&seq(&[&asn1::oid(&oid::SHA256), &null()]), &octets(tag.as_ref())]),
        &octets(&mac_salt),
        &integer(ITERATIONS),
    ]);
    Ok(seq(&[&integer(3), &seq(&[&asn1::oid(&oid::DATA), &explicit0(&octets(&auth_safe))]), &mac_data]))
}

/// What a PKCS#12 file holds.
pub struct Pkcs12Contents {
    /// Certificates (DER). The one certifying the private key comes first; without a key, file order.
    pub certificates: Vec<Vec<u8>>,
    /// The private key as PKCS#8 DER, when the file holds one.
    pub private_key: Option<Zeroizing<Vec<u8>>>,
    /// The friendly name (alias) of the key, else of the first certificate.
    pub friendly_name: Option<String>,
}

impl std::fmt::Debug for Pkcs12Contents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs12Contents")
            .field("certificates", &self.certificates.len())
            .field("private_key", &self.private_key.as_ref().map(|_| "<redacted>"))
            .field("friendly_name", &self.friendly_name)
            .finish()
    }
}

fn bad(m: Malformed) -> PkiError {
    PkiError::InvalidPkcs12(m.0.to_owned())
}

/// Whether `der` starts like a PKCS#12 file (a SEQUENCE whose first field is version 3) rather than a
/// certificate or a PKCS#7 bundle. Only the first octets are looked at, so a truncated file still counts.
pub fn is_pkcs12(der: &[u8]) -> bool {
    let rest = match der {
        [0x30, 0x80, rest @ ..] => rest,
        [0x30, n, rest @ ..] if *n < 0x80 => rest,
        [0x30, n, rest @ ..] => rest.get(usize::from(n & 0x7f)..).unwrap_or_default(),
        _ => return false,
    };
    rest.starts_with(&[INTEGER, 0x01, 0x03])
}

/// The friendlyName and localKeyId attributes of a bag.
#[derive(Default)]
struct Attributes {
    friendly_name: Option<String>,
    local_key_id: Option<Vec<u8>>,
}

/// The bags read so far.
#[derive(Default)]
struct Found {
    keys: Vec<(Zeroizing<Vec<u8>>, Attributes)>,
    certs: Vec<(Cert, Attributes)>,
    bags: usize,
}

/// Reads a PKCS#12 file with `password`: the MAC is checked first (HMAC-SHA1/256/384/512 keyed by the PKCS#12
/// KDF), then the plain and encrypted contents are opened (PBES2 with AES or 3DES; the PKCS#12 3DES and RC2
/// schemes) and their key and certificate bags collected. A wrong password is [`PkiError::WrongPassword`].
pub fn parse(der: &[u8], password: &str) -> Result<Pkcs12Contents, PkiError> {
    if der.len() > MAX_PKCS12_BYTES {
        return Err(PkiError::InvalidPkcs12(format!("larger than {MAX_PKCS12_BYTES} bytes")));
    }
    let pfx = Tlv::parse(der, SEQUENCE, "not a PKCS#12 file").map_err(bad)?;
    let mut r = pfx.reader();
    let version = r.next(INTEGER, "version expected").and_then(|v| v.uint()).map_err(bad)?;
    if version != 3 {
        return Err(PkiError::Unsupported(format!("PKCS#12 version {version}")));
    }
    let auth_safe = r.next(SEQUENCE, "authSafe expected").map_err(bad)?;
    let (kind, content) = content_info(&auth_safe)?;
    if kind.is_oid(&oid::SIGNED_DATA) {
        return Err(PkiError::Unsupported("PKCS#12 in public-key integrity mode".to_owned()));
    }
    if !kind.is_oid(&oid::DATA) {
        return Err(PkiError::Unsupported(format!("PKCS#12 authSafe of type {}", kind.oid_string())));
    }
    let auth_safe = data_octets(content)?;
    let mut budget = Budget::new();
    let mac = r.optional(SEQUENCE).map_err(bad)?;
    r.finish().map_err(bad)?;
    let password = match mac {
        Some(mac) => verify_mac(&mac, &auth_safe, password, &mut budget)?,
        None => Password::new(password),
    };

    let mut found = Found::default();
    let safes = Tlv::parse(&auth_safe, SEQUENCE, "AuthenticatedSafe expected").map_err(bad)?;
    let mut r = safes.reader();
    while !r.is_empty() {
        let info = r.next(SEQUENCE, "ContentInfo expected").map_err(bad)?;
        let (kind, content) = content_info(&info)?;
        let safe_contents = if kind.is_oid(&oid::DATA) {
            Zeroizing::new(data_octets(content)?.into_owned())
        } else if kind.is_oid(&oid::ENCRYPTED_DATA) {
            decrypt_encrypted_data(content, &password, &mut budget)?
        } else {
            return Err(PkiError::Unsupported(format!("PKCS#12 contents of type {}", kind.oid_string())));
        };
        read_safe_contents(&safe_contents, &password, &mut budget, &mut found, 0)?;
    }
    assemble(found)
}

/// A ContentInfo's type and its `[0]` content.
fn content_info<'a>(info: &Tlv<'a>) -> Result<(Tlv<'a>, Option<Tlv<'a>>), PkiError> {
    let mut r = info.reader();
    let kind = r.next(OID, "ContentInfo type expected").map_err(bad)?;
    let content = r.optional(CONTEXT_0).map_err(bad)?;
    r.finish().map_err(bad)?;
    Ok((kind, content))
}

/// The octets of `data` content: `[0] EXPLICIT OCTET STRING`.
fn data_octets<'a>(content: Option<Tlv<'a>>) -> Result<Cow<'a, [u8]>, PkiError> {
    let explicit = content.ok_or(bad(Malformed("data content expected")))?;
    let inner = explicit.reader().any().map_err(bad)?;
    if inner.tag & 0xdf != OCTET_STRING {
        return Err(bad(Malformed("data content is not an OCTET STRING")));
    }
    inner.octets().map_err(bad)
}

/// Opens `encryptedData` content (RFC 5652 EncryptedData under a password-based scheme).
fn decrypt_encrypted_data(
    content: Option<Tlv<'_>>,
    password: &Password,
    budget: &mut Budget,
) -> Result<Zeroizing<Vec<u8>>, PkiError> {
    let explicit = content.ok_or(bad(Malformed("encryptedData content expected")))?;
    let encrypted_data = explicit.reader().next(SEQUENCE, "EncryptedData expected").map_err(bad)?;
    let mut r = encrypted_data.reader();
    r.next(INTEGER, "EncryptedData version expected").map_err(bad)?;
    let info = r.next(SEQUENCE, "EncryptedContentInfo expected").map_err(bad)?;
    let mut e = info.reader();
    e.next(OID, "encrypted content type expected").map_err(bad)?;
    let algorithm = e.next(SEQUENCE, "content encryption algorithm expected").map_err(bad)?;
    let data = e.any().map_err(bad)?;
    if data.tag & 0xdf != 0x80 {
        return Err(bad(Malformed("encrypted content expected")));
    }
    pkcs8::decrypt_with(&algorithm, &data.octets().map_err(bad)?, password, budget)
}

fn read_attributes(set: &Tlv<'_>) -> Result<Attributes, PkiError> {
    let mut out = Attributes::default();
    let mut r = set.reader();
    while !r.is_empty() {
        let attribute = r.next(SEQUENCE, "bag attribute expected").map_err(bad)?;
        let mut a = attribute.reader();
        let kind = a.next(OID, "bag attribute type expected").map_err(bad)?;
        let values = a.next(SET, "bag attribute values expected").map_err(bad)?;
        let Ok(value) = values.reader().any() else { continue };
        if kind.is_oid(&oid::FRIENDLY_NAME) {
            out.friendly_name = value.bmp_string().ok();
        } else if kind.is_oid(&oid::LOCAL_KEY_ID) {
            out.local_key_id = value.octets().ok().map(Cow::into_owned);
        }
    }
    Ok(out)
}

fn read_safe_contents(
    der: &[u8],
    password: &Password,
    budget: &mut Budget,
    found: &mut Found,
    nesting: usize,
) -> Result<(), PkiError> {
    if nesting > MAX_NESTING {
        return Err(bad(Malformed("safe contents nested too deeply")));
    }
    let contents = Tlv::parse(der, SEQUENCE, "SafeContents expected").map_err(bad)?;
    let mut r = contents.reader();
    while !r.is_empty() {
        found.bags += 1;
        if found.bags > MAX_BAGS {
            return Err(PkiError::InvalidPkcs12(format!("more than {MAX_BAGS} bags")));
        }
        let bag = r.next(SEQUENCE, "SafeBag expected").map_err(bad)?;
        let mut b = bag.reader();
        let kind = b.next(OID, "bag type expected").map_err(bad)?;
        let value = b.next(CONTEXT_0, "bag value expected").and_then(|v| v.reader().any()).map_err(bad)?;
        let attributes = match b.optional(SET).map_err(bad)? {
            Some(set) => read_attributes(&set)?,
            None => Attributes::default(),
        };
        if kind.is_oid(&oid::KEY_BAG) {
            found.keys.push((Zeroizing::new(value.raw.to_vec()), attributes));
        } else if kind.is_oid(&oid::SHROUDED_KEY_BAG) {
            found.keys.push((pkcs8::decrypt_info(value.raw, password, budget)?, attributes));
        } else if kind.is_oid(&oid::CERT_BAG) {
            let mut c = value.reader();
            let cert_type = c.next(OID, "certificate type expected").map_err(bad)?;
            let cert = c.next(CONTEXT_0, "certificate expected").and_then(|v| v.reader().any()).map_err(bad)?;
            // Only X.509 certificates; SDSI certificates are not read.
            if cert_type.is_oid(&oid::X509_CERTIFICATE) {
                found.certs.push((Cert::from_der(&cert.octets().map_err(bad)?)?, attributes));
            }
        } else if kind.is_oid(&oid::SAFE_CONTENTS_BAG) {
            read_safe_contents(value.raw, password, budget, found, nesting + 1)?;
        }
        // CRL and secret bags are not imported.
    }
    Ok(())
}

/// Checks the MAC over the AuthenticatedSafe and returns the password form that verified it (an empty password
/// may have been written as no password at all).
fn verify_mac(mac_data: &Tlv<'_>, auth_safe: &[u8], password: &str, budget: &mut Budget) -> Result<Password, PkiError> {
    let mut r = mac_data.reader();
    let digest_info = r.next(SEQUENCE, "MAC expected").map_err(bad)?;
    let salt = r.next(OCTET_STRING, "MAC salt expected").and_then(|s| s.octets()).map_err(bad)?;
    let iterations = match r.optional(INTEGER).map_err(bad)? {
        Some(count) => count.uint().map_err(bad)?,
        None => 1,
    };
    r.finish().map_err(bad)?;
    let mut d = digest_info.reader();
    let algorithm = d.next(SEQUENCE, "MAC algorithm expected").map_err(bad)?;
    let (alg, params) = asn1::algorithm(&algorithm).map_err(bad)?;
    if params.is_some_and(|p| p.tag != asn1::NULL || !p.content.is_empty()) {
        return Err(bad(Malformed("MAC digest parameters must be NULL or absent")));
    }
    let expected = d.next(OCTET_STRING, "MAC value expected").and_then(|m| m.octets()).map_err(bad)?;
    let (hash, mac) = match alg {
        a if a.is_oid(&oid::SHA1) => (&digest::SHA1_FOR_LEGACY_USE_ONLY, hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY),
        a if a.is_oid(&oid::SHA256) => (&digest::SHA256, hmac::HMAC_SHA256),
        a if a.is_oid(&oid::SHA384) => (&digest::SHA384, hmac::HMAC_SHA384),
        a if a.is_oid(&oid::SHA512) => (&digest::SHA512, hmac::HMAC_SHA512),
        a if a.is_oid(&oid::PBMAC1) => {
            return Err(PkiError::Unsupported("PKCS#12 PBMAC1 integrity (RFC 9579)".to_owned()))
        }
        a => return Err(PkiError::Unsupported(format!("PKCS#12 MAC digest {}", a.oid_string()))),
    };
    if salt.len() > MAX_SALT {
        return Err(bad(Malformed("MAC salt too long")));
    }
    let mut candidates = vec![Password::new(password)];
    if password.is_empty() {
        candidates.push(Password::absent());
    }
    for candidate in candidates {
        let key = kdf(hash, 3, candidate.bmp(), &salt, budget.spend(iterations)?.get(), hash.output_len());
        if hmac::verify(&hmac::Key::new(mac, &key), auth_safe, &expected).is_ok() {
            return Ok(candidate);
        }
    }
    Err(PkiError::WrongPassword)
}

/// Puts the certificate of the key first: the one with its public key, else the one sharing its localKeyId.
fn assemble(found: Found) -> Result<Pkcs12Contents, PkiError> {
    if found.keys.len() > 1 {
        return Err(PkiError::Unsupported(format!(
            "a PKCS#12 file with {} private keys; export and import them one at a time",
            found.keys.len()
        )));
    }
    let key = found.keys.into_iter().next();
    let mut certs = found.certs;
    if let Some((key_der, key_attributes)) = &key {
        let by_public_key = PrivateKey::from_pkcs8_der(key_der)
            .ok()
            .and_then(|k| certs.iter().position(|(c, _)| pkcs8::matches_certificate(&k, c).unwrap_or(false)));
        let by_key_id = || {
            let id = key_attributes.local_key_id.as_ref()?;
            certs.iter().position(|(_, a)| a.local_key_id.as_ref() == Some(id))
        };
        if let Some(i) = by_public_key.or_else(by_key_id) {
            let leaf = certs.remove(i);
            certs.insert(0, leaf);
        }
    }
    let friendly_name = key
        .as_ref()
        .and_then(|(_, a)| a.friendly_name.clone())
        .or_else(|| certs.first().and_then(|(_, a)| a.friendly_name.clone()));
    Ok(Pkcs12Contents {
        certificates: certs.into_iter().map(|(c, _)| c.der().to_vec()).collect(),
        private_key: key.map(|(k, _)| k),
        friendly_name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kdf_output_depends_on_every_input() {
        let pw = Password::new("pw");
        let base = kdf(&digest::SHA256, 3, pw.bmp(), b"salt", 10, 32);
        assert_eq!(base.len(), 32);
        assert_ne!(base, kdf(&digest::SHA256, 1, pw.bmp(), b"salt", 10, 32));
        assert_ne!(base, kdf(&digest::SHA256, 3, Password::new("pX").bmp(), b"salt", 10, 32));
        assert_ne!(base, kdf(&digest::SHA256, 3, pw.bmp(), b"salx", 10, 32));
        assert_ne!(base, kdf(&digest::SHA256, 3, pw.bmp(), b"salt", 11, 32));
        assert_ne!(base, kdf(&digest::SHA512, 3, pw.bmp(), b"salt", 10, 32));
        assert_eq!(kdf(&digest::SHA512, 1, pw.bmp(), b"salt", 10, 100).len(), 100);
    }

    #[test]
    fn kdf_matches_a_published_vector() {
        // PKCS#12 KDF test vector (SHA-1, ID 1, password "smeg", salt 0A58CF64530D823F, 1 iteration), as used by
        // OpenSSL's and Bouncy Castle's test suites.
        let salt = [0x0a, 0x58, 0xcf, 0x64, 0x53, 0x0d, 0x82, 0x3f];
        let key = kdf(&digest::SHA1_FOR_LEGACY_USE_ONLY, 1, Password::new("smeg").bmp(), &salt, 1, 24);
        assert_eq!(crate::digest::hex(&key), "8aaae6297b6cb04642ab5b077851284eb7128f1a2a7fbca3");
        // SHA-512 (128-octet blocks) over several output blocks, as `openssl kdf ... PKCS12KDF` derives it.
        let key = kdf(&digest::SHA512, 1, Password::new("pw").bmp(), b"salt", 10, 100);
        assert_eq!(
            crate::digest::hex(&key),
            "2111913c4d36cd14c75259d85584ab93c2cd8e00a161b9813682adaec85a45fb3cf773929fc6d5989ee7f8f34e9dc207\
             1bf5db71bf5fe4f2d970c4d324684678550356bd939a91b77bcf864ef020826117a75ddf283a51dc8e39b368c2f495a81f578f4a"
        );
    }

    #[test]
    fn only_pkcs12_shaped_input_is_sniffed_as_pkcs12() {
        assert!(is_pkcs12(&[0x30, 0x82, 0x01, 0x00, 0x02, 0x01, 0x03]));
        assert!(is_pkcs12(&[0x30, 0x80, 0x02, 0x01, 0x03]));
        assert!(!is_pkcs12(&[0x30, 0x82, 0x01, 0x00, 0x30, 0x82]));
        assert!(!is_pkcs12(&[0x30, 0x03, 0x02, 0x01, 0x01]));
        assert!(!is_pkcs12(b""));
    }
}
