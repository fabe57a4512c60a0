//! Private keys as PKCS#8 (RFC 5958): read from PEM or DER, plain or password-protected, or from the traditional
//! OpenSSL forms (PKCS#1 `RSA PRIVATE KEY`, SEC1 `EC PRIVATE KEY`), and written encrypted. The password-based
//! encryption here (PBES2, PBES1 and the PKCS#12 PBE schemes) also opens the contents of PKCS#12 files.

use crate::alg::oid::{EC_PUBLIC_KEY, RSA_ENCRYPTION};
use crate::asn1::{self, Malformed, Tlv, INTEGER, OCTET_STRING, SEQUENCE};
use crate::cert::Cert;
use crate::key::{PrivateKey, Signer};
use crate::PkiError;
use aws_lc_rs::cipher::{
    Algorithm as AesAlgorithm, DecryptionContext, EncryptionContext, PaddedBlockDecryptingKey,
    PaddedBlockEncryptingKey, UnboundCipherKey, AES_128, AES_192, AES_256,
};
use aws_lc_rs::{digest, iv::FixedLength, pbkdf2};
use der::Decode;
use des::cipher::{Block, BlockCipherDecrypt, KeyInit};
use std::num::NonZeroU32;
use zeroize::Zeroizing;

/// PBKDF2 iteration count used when encrypting (OpenSSL 3's default).
pub const ITERATIONS: u32 = 2048;
/// Largest iteration count accepted from a file: beyond it, opening the file would be a denial of service.
pub const MAX_ITERATIONS: u32 = 10_000_000;
/// Largest private-key file accepted.
pub const MAX_KEY_BYTES: usize = 64 * 1024;
/// Longest salt accepted from a file.
const MAX_SALT: usize = 1024;

pub(crate) mod oid {
    use const_oid::ObjectIdentifier as Oid;
    pub const PBES2: Oid = Oid::new_unwrap("1.2.840.113549.1.5.13");
    pub const PBKDF2: Oid = Oid::new_unwrap("1.2.840.113549.1.5.12");
    pub const PBE_MD5_DES: Oid = Oid::new_unwrap("1.2.840.113549.1.5.3");
    pub const PBE_MD5_RC2: Oid = Oid::new_unwrap("1.2.840.113549.1.5.6");
    pub const PBE_SHA1_DES: Oid = Oid::new_unwrap("1.2.840.113549.1.5.10");
    pub const PBE_SHA1_RC2_64: Oid = Oid::new_unwrap("1.2.840.113549.1.5.11");
    pub const PKCS12_PBE_RC4_128: Oid = Oid::new_unwrap("1.2.840.113549.1.12.1.1");
    pub const PKCS12_PBE_RC4_40: Oid = Oid::new_unwrap("1.2.840.113549.1.12.1.2");
    pub const PKCS12_PBE_3DES: Oid = Oid::new_unwrap("1.2.840.113549.1.12.1.3");
    pub const PKCS12_PBE_2DES: Oid = Oid::new_unwrap("1.2.840.113549.1.12.1.4");
    pub const PKCS12_PBE_RC2_128: Oid = Oid::new_unwrap("1.2.840.113549.1.12.1.5");
    pub const PKCS12_PBE_RC2_40: Oid = Oid::new_unwrap("1.2.840.113549.1.12.1.6");
    pub const HMAC_SHA1: Oid = Oid::new_unwrap("1.2.840.113549.2.7");
    pub const HMAC_SHA256: Oid = Oid::new_unwrap("1.2.840.113549.2.9");
    pub const HMAC_SHA384: Oid = Oid::new_unwrap("1.2.840.113549.2.10");
    pub const HMAC_SHA512: Oid = Oid::new_unwrap("1.2.840.113549.2.11");
    pub const AES_128_CBC: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.1.2");
    pub const AES_192_CBC: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.1.22");
    pub const AES_256_CBC: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.1.42");
    pub const DES_EDE3_CBC: Oid = Oid::new_unwrap("1.2.840.113549.3.7");
    pub const DES_CBC: Oid = Oid::new_unwrap("1.3.14.3.2.7");
}

fn malformed(m: Malformed) -> PkiError {
    PkiError::InvalidKeyData(format!("encrypted data: {}", m.0))
}

/// A password in both encodings password-based encryption uses: its UTF-8 octets (PBES1, PBES2) and the
/// NUL-terminated big-endian BMPString the PKCS#12 key derivation takes.
pub(crate) struct Password {
    utf8: Zeroizing<Vec<u8>>,
    bmp: Zeroizing<Vec<u8>>,
}

impl Password {
    pub(crate) fn new(text: &str) -> Self {
        let mut bmp: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
        bmp.extend_from_slice(&[0, 0]);
        Self { utf8: Zeroizing::new(text.as_bytes().to_vec()), bmp: Zeroizing::new(bmp) }
    }

    /// No password at all, which some writers use instead of an empty one: no octets even in BMP form.
    pub(crate) fn absent() -> Self {
        Self { utf8: Zeroizing::new(Vec::new()), bmp: Zeroizing::new(Vec::new()) }
    }

    pub(crate) fn bmp(&self) -> &[u8] {
        &self.bmp
    }
}

/// The key-derivation work one read may do across all its derivations (a PKCS#12 file derives several keys).
pub(crate) struct Budget(u64);

impl Budget {
    pub(crate) fn new() -> Self {
        Self(2 * u64::from(MAX_ITERATIONS))
    }

    /// Charges one derivation of `iterations`, refusing counts beyond [`MAX_ITERATIONS`] or the budget.
    pub(crate) fn spend(&mut self, iterations: u64) -> Result<NonZeroU32, PkiError> {
        let count =
            u32::try_from(iterations).ok().filter(|n| *n <= MAX_ITERATIONS).and_then(NonZeroU32::new).ok_or_else(
                || PkiError::Unsupported(format!("iteration count {iterations} (1 to {MAX_ITERATIONS})")),
            )?;
        self.0 = self.0.checked_sub(iterations).ok_or_else(|| {
            PkiError::Unsupported("the file asks for more key-derivation work than is allowed".to_owned())
        })?;
        Ok(count)
    }
}

/// A block cipher in CBC mode with PKCS#7 padding.
#[derive(Debug, Clone, Copy)]
enum Cipher {
    Aes(&'static AesAlgorithm, usize),
    DesEde3,
    DesEde2,
    Des,
    Rc2 { key_len: usize, effective_bits: usize },
}

impl Cipher {
    fn key_len(self) -> usize {
        match self {
            Cipher::Aes(_, n) => n,
            Cipher::DesEde3 => 24,
            Cipher::DesEde2 => 16,
            Cipher::Des => 8,
            Cipher::Rc2 { key_len, .. } => key_len,
        }
    }

    fn iv_len(self) -> usize {
        match self {
            Cipher::Aes(..) => 16,
            _ => 8,
        }
    }

    /// Decrypts and unpads; a bad padding means a wrong password (or corrupted data).
    fn decrypt(self, key: &[u8], iv: &[u8], data: &[u8]) -> Result<Zeroizing<Vec<u8>>, PkiError> {
        let bad_key = |_| PkiError::InvalidKey("cipher key length");
        match self {
            Cipher::Aes(alg, _) => aes_cbc_decrypt(alg, key, iv, data),
            Cipher::DesEde3 => cbc_decrypt(&des::TdesEde3::new_from_slice(key).map_err(bad_key)?, iv, data),
            Cipher::DesEde2 => cbc_decrypt(&des::TdesEde2::new_from_slice(key).map_err(bad_key)?, iv, data),
            Cipher::Des => cbc_decrypt(&des::Des::new_from_slice(key).map_err(bad_key)?, iv, data),
            Cipher::Rc2 { key_len, effective_bits } => {
                if key.len() != key_len {
                    return Err(PkiError::InvalidKey("RC2 key length"));
                }
                cbc_decrypt(&rc2::Rc2::new_with_eff_key_len(key, effective_bits), iv, data)
            }
        }
    }
}

fn whole_blocks(data: &[u8], size: usize) -> Result<(), PkiError> {
    if data.is_empty() || !data.len().is_multiple_of(size) {
        return Err(PkiError::InvalidKeyData("encrypted data is not a whole number of cipher blocks".to_owned()));
    }
    Ok(())
}

fn aes_cbc_decrypt(
    alg: &'static AesAlgorithm,
    key: &[u8],
    iv: &[u8],
    data: &[u8],
) -> Result<Zeroizing<Vec<u8>>, PkiError> {
    whole_blocks(data, 16)?;
    let iv: [u8; 16] = iv.try_into().map_err(|_| PkiError::InvalidKeyData("AES-CBC IV length".to_owned()))?;
    let key = UnboundCipherKey::new(alg, key).map_err(|_| PkiError::InvalidKey("AES key length"))?;
    let decrypting = PaddedBlockDecryptingKey::cbc_pkcs7(key).map_err(|_| PkiError::InvalidKey("AES-CBC"))?;
    let mut buf = Zeroizing::new(data.to_vec());
    let len = decrypting
        .decrypt(&mut buf, DecryptionContext::Iv128(FixedLength::from(iv)))
        .map_err(|_| PkiError::WrongPassword)?
        .len();
    buf.truncate(len);
    Ok(buf)
}

/// CBC decryption over one of the legacy block ciphers aws-lc does not offer (DES, 3DES, RC2).
fn cbc_decrypt<C: BlockCipherDecrypt>(cipher: &C, iv: &[u8], data: &[u8]) -> Result<Zeroizing<Vec<u8>>, PkiError> {
    let size = C::block_size();
    whole_blocks(data, size)?;
    if iv.len() != size {
        return Err(PkiError::InvalidKeyData("CBC IV length".to_owned()));
    }
    let mut out = Zeroizing::new(Vec::with_capacity(data.len()));
    let mut previous = iv;
    for chunk in data.chunks_exact(size) {
        let mut block = Block::<C>::try_from(chunk).map_err(|_| PkiError::InvalidKeyData("cipher block".to_owned()))?;
        cipher.decrypt_block(&mut block);
        out.extend(block.iter().zip(previous).map(|(b, p)| b ^ p));
        previous = chunk;
    }
    let pad = usize::from(out.last().copied().unwrap_or(0));
    let start = out.len().checked_sub(pad).filter(|_| (1..=size).contains(&pad)).ok_or(PkiError::WrongPassword)?;
    if !out.get(start..).unwrap_or_default().iter().all(|b| usize::from(*b) == pad) {
        return Err(PkiError::WrongPassword);
    }
    out.truncate(start);
    Ok(out)
}

fn salt_and_iterations<'a>(params: Option<&Tlv<'a>>) -> Result<(std::borrow::Cow<'a, [u8]>, u64), PkiError> {
    let params = params.filter(|p| p.tag == SEQUENCE).ok_or(malformed(Malformed("PBE parameters expected")))?;
    let mut r = params.reader();
    let salt = r.next(OCTET_STRING, "PBE salt expected").and_then(|t| t.octets()).map_err(malformed)?;
    let iterations = r.next(INTEGER, "PBE iteration count expected").and_then(|t| t.uint()).map_err(malformed)?;
    if salt.len() > MAX_SALT {
        return Err(malformed(Malformed("salt too long")));
    }
    Ok((salt, iterations))
}

/// The cipher of a PKCS#12 PBE scheme (RFC 7292 appendix C), keyed through the PKCS#12 KDF with SHA-1.
fn pkcs12_cipher(id: &Tlv<'_>) -> Result<Option<Cipher>, PkiError> {
    Ok(Some(match id {
        i if i.is_oid(&oid::PKCS12_PBE_3DES) => Cipher::DesEde3,
        i if i.is_oid(&oid::PKCS12_PBE_2DES) => Cipher::DesEde2,
        i if i.is_oid(&oid::PKCS12_PBE_RC2_128) => Cipher::Rc2 { key_len: 16, effective_bits: 128 },
        i if i.is_oid(&oid::PKCS12_PBE_RC2_40) => Cipher::Rc2 { key_len: 5, effective_bits: 40 },
        i if i.is_oid(&oid::PKCS12_PBE_RC4_128) || i.is_oid(&oid::PKCS12_PBE_RC4_40) => {
            return Err(PkiError::Unsupported("RC4-encrypted PKCS#12 contents".to_owned()))
        }
        _ => return Ok(None),
    }))
}

/// The cipher of a PBES1 scheme (PKCS#5 v1.5), keyed through PBKDF1.
fn pbes1_cipher(id: &Tlv<'_>) -> Result<Option<Cipher>, PkiError> {
    Ok(Some(match id {
        i if i.is_oid(&oid::PBE_SHA1_DES) => Cipher::Des,
        i if i.is_oid(&oid::PBE_SHA1_RC2_64) => Cipher::Rc2 { key_len: 8, effective_bits: 64 },
        i if i.is_oid(&oid::PBE_MD5_DES) || i.is_oid(&oid::PBE_MD5_RC2) => {
            return Err(PkiError::Unsupported(
                "PBES1 with MD5: re-encrypt the key with `openssl pkcs8 -topk8 -v2 aes-256-cbc`".to_owned(),
            ))
        }
        _ => return Ok(None),
    }))
}

/// Decrypts `ciphertext` protected by the password-based scheme `algorithm` (an AlgorithmIdentifier: PBES2,
/// PBES1 or a PKCS#12 PBE scheme).
pub(crate) fn decrypt_with(
    algorithm: &Tlv<'_>,
    ciphertext: &[u8],
    password: &Password,
    budget: &mut Budget,
) -> Result<Zeroizing<Vec<u8>>, PkiError> {
    let (id, params) = asn1::algorithm(algorithm).map_err(malformed)?;
    if id.is_oid(&oid::PBES2) {
        return pbes2_decrypt(params.as_ref(), ciphertext, password, budget);
    }
    if let Some(cipher) = pkcs12_cipher(&id)? {
        let (salt, iterations) = salt_and_iterations(params.as_ref())?;
        let sha1 = &digest::SHA1_FOR_LEGACY_USE_ONLY;
        let key = crate::pkcs12::kdf(sha1, 1, password.bmp(), &salt, budget.spend(iterations)?.get(), cipher.key_len());
        let iv = crate::pkcs12::kdf(sha1, 2, password.bmp(), &salt, budget.spend(iterations)?.get(), cipher.iv_len());
        return cipher.decrypt(&key, &iv, ciphertext);
    }
    if let Some(cipher) = pbes1_cipher(&id)? {
        let (salt, iterations) = salt_and_iterations(params.as_ref())?;
        if salt.len() != 8 {
            return Err(malformed(Malformed("PBES1 salt must be 8 octets")));
        }
        // PBKDF1 with SHA-1: T = SHA-1^c(P || S); the key is T[0..8], the IV T[8..16].
        let rounds = budget.spend(iterations)?.get();
        let mut t = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, &[&password.utf8[..], &salt].concat());
        for _ in 1..rounds {
            t = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, t.as_ref());
        }
        let derived = Zeroizing::new(t.as_ref().to_vec());
        let (key, iv) = (derived.get(..8).unwrap_or_default(), derived.get(8..16).unwrap_or_default());
        return cipher.decrypt(key, iv, ciphertext);
    }
    Err(PkiError::Unsupported(format!("password-based encryption {}", id.oid_string())))
}

fn pbes2_decrypt(
    params: Option<&Tlv<'_>>,
    ciphertext: &[u8],
    password: &Password,
    budget: &mut Budget,
) -> Result<Zeroizing<Vec<u8>>, PkiError> {
    let params = params.filter(|p| p.tag == SEQUENCE).ok_or(malformed(Malformed("PBES2 parameters expected")))?;
    let mut r = params.reader();
    let kdf = r.next(SEQUENCE, "PBES2 key derivation expected").map_err(malformed)?;
    let scheme = r.next(SEQUENCE, "PBES2 encryption scheme expected").map_err(malformed)?;
    let (kdf_id, kdf_params) = asn1::algorithm(&kdf).map_err(malformed)?;
    if !kdf_id.is_oid(&oid::PBKDF2) {
        return Err(PkiError::Unsupported(format!("key derivation {} (only PBKDF2)", kdf_id.oid_string())));
    }
    let kdf_params =
        kdf_params.filter(|p| p.tag == SEQUENCE).ok_or(malformed(Malformed("PBKDF2 parameters expected")))?;
    let mut k = kdf_params.reader();
    let salt = k.next(OCTET_STRING, "PBKDF2 salt expected (other sources are not supported)").and_then(|t| t.octets());
    let salt = salt.map_err(malformed)?;
    let iterations = k.next(INTEGER, "PBKDF2 iteration count expected").and_then(|t| t.uint()).map_err(malformed)?;
    let key_length = k.optional(INTEGER).and_then(|t| t.map(|t| t.uint()).transpose()).map_err(malformed)?;
    let prf = match k.optional(SEQUENCE).map_err(malformed)? {
        None => pbkdf2::PBKDF2_HMAC_SHA1,
        Some(prf) => match asn1::algorithm(&prf).map_err(malformed)?.0 {
            p if p.is_oid(&oid::HMAC_SHA1) => pbkdf2::PBKDF2_HMAC_SHA1,
            p if p.is_oid(&oid::HMAC_SHA256) => pbkdf2::PBKDF2_HMAC_SHA256,
            p if p.is_oid(&oid::HMAC_SHA384) => pbkdf2::PBKDF2_HMAC_SHA384,
            p if p.is_oid(&oid::HMAC_SHA512) => pbkdf2::PBKDF2_HMAC_SHA512,
            p => return Err(PkiError::Unsupported(format!("PBKDF2 pseudo-random function {}", p.oid_string()))),
        },
    };
    let (cipher_id, iv) = asn1::algorithm(&scheme).map_err(malformed)?;
    let cipher = match cipher_id {
        c if c.is_oid(&oid::AES_128_CBC) => Cipher::Aes(&AES_128, 16),
        c if c.is_oid(&oid::AES_192_CBC) => Cipher::Aes(&AES_192, 24),
        c if c.is_oid(&oid::AES_256_CBC) => Cipher::Aes(&AES_256, 32),
        c if c.is_oid(&oid::DES_EDE3_CBC) => Cipher::DesEde3,
        c if c.is_oid(&oid::DES_CBC) => Cipher::Des,
        c => return Err(PkiError::Unsupported(format!("PBES2 cipher {}", c.oid_string()))),
    };
    let iv = iv.filter(|t| t.tag == OCTET_STRING).ok_or(malformed(Malformed("cipher IV expected")))?;
    if key_length.is_some_and(|n| n != cipher.key_len() as u64) || salt.len() > MAX_SALT {
        return Err(malformed(Malformed("PBKDF2 key length or salt does not fit the cipher")));
    }
    let mut key = Zeroizing::new(vec![0u8; cipher.key_len()]);
    pbkdf2::derive(prf, budget.spend(iterations)?, &salt, &password.utf8, &mut key);
    cipher.decrypt(&key, iv.content, ciphertext)
}

/// Whether `der` has the shape of a PrivateKeyInfo / OneAsymmetricKey: how a decryption shows it used the
/// right password when no MAC says so.
fn is_private_key_info(der: &[u8]) -> bool {
    let Ok(info) = Tlv::parse(der, SEQUENCE, "PrivateKeyInfo") else { return false };
    let mut r = info.reader();
    r.next(INTEGER, "version").and_then(|v| v.uint()).is_ok_and(|v| v <= 1)
        && r.next(SEQUENCE, "algorithm").and_then(|a| asn1::algorithm(&a)).is_ok()
        && r.next(OCTET_STRING, "private key").is_ok()
}

/// Opens an EncryptedPrivateKeyInfo with a password already encoded, within a derivation budget.
pub(crate) fn decrypt_info(
    der: &[u8],
    password: &Password,
    budget: &mut Budget,
) -> Result<Zeroizing<Vec<u8>>, PkiError> {
    let info = Tlv::parse(der, SEQUENCE, "EncryptedPrivateKeyInfo expected").map_err(malformed)?;
    let mut r = info.reader();
    let algorithm = r.next(SEQUENCE, "encryption algorithm expected").map_err(malformed)?;
    let data = r.any().map_err(malformed)?;
    if data.tag & 0xdf != OCTET_STRING {
        return Err(malformed(Malformed("encrypted key expected")));
    }
    let plain = decrypt_with(&algorithm, &data.octets().map_err(malformed)?, password, budget)?;
    if !is_private_key_info(&plain) {
        return Err(PkiError::WrongPassword);
    }
    Ok(plain)
}

/// Opens an EncryptedPrivateKeyInfo (`ENCRYPTED PRIVATE KEY`, DER or BER) with `password`, returning the
/// PKCS#8 DER inside. PBES2 (PBKDF2 with HMAC-SHA1/256/384/512; AES-128/192/256-CBC, 3DES, DES), PBES1 with
/// SHA-1 and the PKCS#12 PBE schemes (3DES, RC2) are read.
pub fn decrypt(der: &[u8], password: &str) -> Result<Zeroizing<Vec<u8>>, PkiError> {
    decrypt_info(der, &Password::new(password), &mut Budget::new())
}

/// Encrypts the PKCS#8 key `der` under `password` with PBES2 (PBKDF2-HMAC-SHA256, [`ITERATIONS`], AES-256-CBC,
/// random salt and IV), returning EncryptedPrivateKeyInfo DER (PEM label `ENCRYPTED PRIVATE KEY`).
pub fn encrypt(der: &[u8], password: &str) -> Result<Vec<u8>, PkiError> {
    let failed = |what: &'static str| move |_| PkiError::Unsupported(format!("PKCS#8 encryption: {what}"));
    let iterations = NonZeroU32::new(ITERATIONS).ok_or(PkiError::Unsupported("iterations".to_owned()))?;
    let salt = crate::random::bytes::<16>()?;
    let iv = crate::random::bytes::<16>()?;
    let mut aes_key = Zeroizing::new([0u8; 32]);
    pbkdf2::derive(pbkdf2::PBKDF2_HMAC_SHA256, iterations, &salt, password.as_bytes(), &mut aes_key[..]);
    let cipher = UnboundCipherKey::new(&AES_256, &aes_key[..]).map_err(failed("AES key"))?;
    let encrypting = PaddedBlockEncryptingKey::cbc_pkcs7(cipher).map_err(failed("AES-CBC"))?;
    let mut encrypted = der.to_vec();
    encrypting
        .less_safe_encrypt(&mut encrypted, EncryptionContext::Iv128(FixedLength::from(iv)))
        .map_err(failed("encryption"))?;
    let pbkdf2_params =
        asn1::seq(&[&asn1::octets(&salt), &asn1::integer(ITERATIONS), &asn1::seq(&[&asn1::oid(&oid::HMAC_SHA256)])]);
    let pbes2 = asn1::seq(&[
        &asn1::oid(&oid::PBES2),
        &asn1::seq(&[
            &asn1::seq(&[&asn1::oid(&oid::PBKDF2), &pbkdf2_params]),
            &asn1::seq(&[&asn1::oid(&oid::AES_256_CBC), &asn1::octets(&iv)]),
        ]),
    ]);
    Ok(asn1::seq(&[&pbes2, &asn1::octets(&encrypted)]))
}

/// PKCS#8 around a traditional private key of `algorithm`, built in one zeroized buffer.
fn wrap(algorithm: &[u8], private_key: &[u8]) -> Zeroizing<Vec<u8>> {
    let version = asn1::integer(0);
    let key_header = asn1::header(OCTET_STRING, private_key.len());
    let len = version.len() + algorithm.len() + key_header.len() + private_key.len();
    let mut out = Zeroizing::new(asn1::header(SEQUENCE, len));
    out.reserve(len);
    for part in [&version[..], algorithm, &key_header, private_key] {
        out.extend_from_slice(part);
    }
    out
}

/// PKCS#1 RSAPrivateKey (`RSA PRIVATE KEY`) as PKCS#8.
fn from_pkcs1(der: &[u8]) -> Result<Zeroizing<Vec<u8>>, PkiError> {
    let key = Tlv::parse(der, SEQUENCE, "RSAPrivateKey expected").map_err(malformed)?;
    let mut r = key.reader();
    for _ in 0..3 {
        r.next(INTEGER, "RSAPrivateKey: version, modulus and exponent expected").map_err(malformed)?;
    }
    Ok(wrap(&asn1::seq(&[&asn1::oid(&RSA_ENCRYPTION), &asn1::null()]), der))
}

/// SEC1 ECPrivateKey (`EC PRIVATE KEY`) with a named curve, as PKCS#8.
fn from_sec1(der: &[u8]) -> Result<Zeroizing<Vec<u8>>, PkiError> {
    let key = Tlv::parse(der, SEQUENCE, "ECPrivateKey expected").map_err(malformed)?;
    let mut r = key.reader();
    r.next(INTEGER, "ECPrivateKey version expected").map_err(malformed)?;
    r.next(OCTET_STRING, "EC private key expected").map_err(malformed)?;
    let curve = r
        .optional(asn1::CONTEXT_0)
        .map_err(malformed)?
        .and_then(|params| params.reader().next(asn1::OID, "named curve").ok())
        .ok_or_else(|| PkiError::InvalidKeyData("EC private key without a named curve".to_owned()))?;
    Ok(wrap(&asn1::seq(&[&asn1::oid(&EC_PUBLIC_KEY), &asn1::tlv(asn1::OID, curve.content)]), der))
}

/// The forms a private key comes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    Pkcs8,
    Encrypted,
    Pkcs1,
    Sec1,
}

/// Tells the form of a DER private key from its first fields.
fn sniff(der: &[u8]) -> Result<Form, PkiError> {
    let not_a_key = || PkiError::InvalidKeyData("not a private key (PKCS#8, PKCS#1 or SEC1)".to_owned());
    let outer = Tlv::parse(der, SEQUENCE, "a private key expected").map_err(|_| not_a_key())?;
    let mut r = outer.reader();
    let first = r.any().map_err(|_| not_a_key())?;
    if first.tag == SEQUENCE {
        return Ok(Form::Encrypted);
    }
    match (first.uint().map_err(|_| not_a_key())?, r.peek_tag()) {
        (0 | 1, Some(SEQUENCE)) => Ok(Form::Pkcs8),
        (0 | 1, Some(INTEGER)) => Ok(Form::Pkcs1),
        (1, Some(OCTET_STRING)) => Ok(Form::Sec1),
        _ => Err(not_a_key()),
    }
}

fn to_pkcs8(form: Form, der: &[u8], password: Option<&str>) -> Result<Zeroizing<Vec<u8>>, PkiError> {
    match form {
        Form::Pkcs8 if is_private_key_info(der) => Ok(Zeroizing::new(der.to_vec())),
        Form::Pkcs8 => Err(PkiError::InvalidKeyData("malformed PKCS#8 private key".to_owned())),
        Form::Encrypted => decrypt(der, password.ok_or(PkiError::PasswordRequired)?),
        Form::Pkcs1 => from_pkcs1(der),
        Form::Sec1 => from_sec1(der),
    }
}

/// Reads a private key in any of the usual forms and returns it as PKCS#8 DER: PEM (`PRIVATE KEY`,
/// `ENCRYPTED PRIVATE KEY`, `RSA PRIVATE KEY`, `EC PRIVATE KEY`; the first key block counts) or DER of the same.
/// `password` opens encrypted keys and is ignored for plain ones. OpenSSL's legacy encrypted PEM
/// (`Proc-Type: 4,ENCRYPTED`) is refused with advice on converting it.
pub fn private_key_from_pem_or_der(input: &[u8], password: Option<&str>) -> Result<Zeroizing<Vec<u8>>, PkiError> {
    if input.len() > MAX_KEY_BYTES {
        return Err(PkiError::InvalidKeyData(format!("a private key file is at most {MAX_KEY_BYTES} bytes")));
    }
    let Some(text) = std::str::from_utf8(input).ok().filter(|t| t.contains("-----BEGIN ")) else {
        return to_pkcs8(sniff(input)?, input, password);
    };
    if text.contains("Proc-Type: 4,ENCRYPTED") || text.contains("DEK-Info:") {
        return Err(PkiError::Unsupported(
            "OpenSSL's legacy encrypted PEM (Proc-Type/DEK-Info); convert it with \
             `openssl pkcs8 -topk8 -v2 aes-256-cbc -in old.pem -out new.pem`"
                .to_owned(),
        ));
    }
    for (label, der) in crate::pem::decode_all(text)? {
        let der = Zeroizing::new(der);
        let form = match label.as_str() {
            "PRIVATE KEY" => Form::Pkcs8,
            "ENCRYPTED PRIVATE KEY" => Form::Encrypted,
            "RSA PRIVATE KEY" => Form::Pkcs1,
            "EC PRIVATE KEY" => Form::Sec1,
            other if other.ends_with("PRIVATE KEY") => {
                return Err(PkiError::Unsupported(format!("{other} files; convert with `openssl pkcs8 -topk8`")))
            }
            _ => continue,
        };
        return to_pkcs8(form, &der, password);
    }
    Err(PkiError::InvalidPem("no private key block".to_owned()))
}

/// Whether `key` is the private half of the public key `cert` certifies (same algorithm and key bits).
pub fn matches_certificate(key: &PrivateKey, cert: &Cert) -> Result<bool, PkiError> {
    let ours = key.public_key_der();
    let theirs = cert.public_key()?;
    let parse = |der| {
        spki::SubjectPublicKeyInfoRef::from_der(der).map_err(|e| PkiError::InvalidKeyData(format!("public key: {e}")))
    };
    let (ours, theirs) = (parse(&ours)?, parse(theirs.der())?);
    Ok(ours.algorithm.oid == theirs.algorithm.oid && ours.subject_public_key == theirs.subject_public_key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alg::{Curve, KeyAlgorithm};

    #[test]
    fn encrypted_keys_round_trip_and_a_wrong_password_is_told_apart() {
        let key = PrivateKey::generate(KeyAlgorithm::Ecdsa(Curve::P256)).unwrap();
        let der = key.danger_pkcs8_der().unwrap();
        let encrypted = encrypt(&der, "pässword").unwrap();
        assert_eq!(*decrypt(&encrypted, "pässword").unwrap(), *der);
        assert_eq!(decrypt(&encrypted, "password"), Err(PkiError::WrongPassword));
        let pem = crate::pem::encode("ENCRYPTED PRIVATE KEY", &encrypted);
        assert_eq!(private_key_from_pem_or_der(pem.as_bytes(), None), Err(PkiError::PasswordRequired));
        assert_eq!(*private_key_from_pem_or_der(pem.as_bytes(), Some("pässword")).unwrap(), *der);
        assert_eq!(*private_key_from_pem_or_der(&encrypted, Some("pässword")).unwrap(), *der);
    }

    #[test]
    fn legacy_ciphers_unpad_and_reject_bad_padding() {
        let cipher = des::TdesEde3::new_from_slice(&[7u8; 24]).unwrap();
        // Any ciphertext decrypts to something; a wrong key almost never leaves valid padding behind.
        let results: Vec<_> = (0u8..32).map(|i| cbc_decrypt(&cipher, &[i; 8], &[i; 16])).collect();
        assert!(results.iter().filter(|r| r.is_err()).count() > 24);
        assert!(results.iter().all(|r| matches!(r, Ok(_) | Err(PkiError::WrongPassword))));
        assert!(cbc_decrypt(&cipher, &[0; 8], &[0; 12]).is_err());
        assert!(cbc_decrypt(&cipher, &[0; 7], &[0; 16]).is_err());
    }

    #[test]
    fn iteration_counts_are_capped_per_derivation_and_per_read() {
        let mut budget = Budget::new();
        assert!(budget.spend(0).is_err());
        assert!(budget.spend(u64::from(MAX_ITERATIONS) + 1).is_err());
        assert!(budget.spend(u64::from(MAX_ITERATIONS)).is_ok());
        assert!(budget.spend(u64::from(MAX_ITERATIONS)).is_ok());
        assert!(budget.spend(1).is_err());
    }

    #[test]
    fn keys_match_only_their_own_certificates() {
        use crate::cert::{issue, random_serial, Extensions, Issuer, Template};
        let key = PrivateKey::generate(KeyAlgorithm::Ed25519).unwrap();
        let other = PrivateKey::generate(KeyAlgorithm::Ed25519).unwrap();
        let name = crate::names::common_name("k").unwrap();
        let template = Template {
            serial: random_serial().unwrap(),
            subject: name.clone(),
            public_key_der: key.public_key_der(),
            not_before: 0,
            not_after: 1_000_000,
            extensions: Extensions::default(),
        };
        let cert = issue(&template, &Issuer { name: &name, key_identifier: &[1], signer: &key }).unwrap();
        assert!(matches_certificate(&key, &cert).unwrap());
        assert!(!matches_certificate(&other, &cert).unwrap());
    }

    #[test]
    fn garbage_is_refused() {
        for input in [&b""[..], b"garbage", b"\x30\x03\x02\x01\x07", b"\x30\x80\x30\x80"] {
            assert!(private_key_from_pem_or_der(input, Some("x")).is_err(), "{input:?}");
            assert!(decrypt(input, "x").is_err());
        }
        let legacy = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,00\n\nAAAA\n\
                      -----END RSA PRIVATE KEY-----\n";
        assert!(matches!(private_key_from_pem_or_der(legacy.as_bytes(), Some("x")), Err(PkiError::Unsupported(_))));
    }
}
