//! PKCS#12 (RFC 7292) export: a private key with its certificate and chain in one password-protected file.
//! The key is a PBES2 shrouded bag (PBKDF2-HMAC-SHA256, AES-256-CBC); the file is authenticated with an
//! HMAC-SHA256 MAC keyed by the PKCS#12 KDF — the modern profile OpenSSL 3 writes by default.

use crate::PkiError;
use aws_lc_rs::cipher::{EncryptionContext, PaddedBlockEncryptingKey, UnboundCipherKey, AES_256};
use aws_lc_rs::{digest, hmac, iv::FixedLength, pbkdf2};
use std::num::NonZeroU32;

/// PBKDF2 and MAC iteration count (OpenSSL 3's default).
pub const ITERATIONS: u32 = 2048;

mod oid {
    pub const DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01];
    pub const CERT_BAG: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c, 0x0a, 0x01, 0x03];
    pub const SHROUDED_KEY_BAG: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c, 0x0a, 0x01, 0x02];
    pub const X509_CERTIFICATE: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x16, 0x01];
    pub const LOCAL_KEY_ID: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x15];
    pub const FRIENDLY_NAME: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x14];
    pub const PBES2: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x0d];
    pub const PBKDF2: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x0c];
    pub const HMAC_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x09];
    pub const AES_256_CBC: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2a];
    pub const SHA256: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];
}

/// One DER TLV with a definite length in its shortest form.
pub(crate) fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let len = content.len();
    let mut out = Vec::with_capacity(len + 10);
    out.push(tag);
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

fn seq(parts: &[&[u8]]) -> Vec<u8> {
    tlv(0x30, &parts.concat())
}

fn set(parts: &[&[u8]]) -> Vec<u8> {
    tlv(0x31, &parts.concat())
}

fn oid(bytes: &[u8]) -> Vec<u8> {
    tlv(0x06, bytes)
}

fn octets(bytes: &[u8]) -> Vec<u8> {
    tlv(0x04, bytes)
}

fn explicit0(content: &[u8]) -> Vec<u8> {
    tlv(0xa0, content)
}

fn integer(v: u32) -> Vec<u8> {
    let bytes = v.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count().min(3);
    let mut body = bytes[skip..].to_vec();
    if body.first().is_some_and(|b| b & 0x80 != 0) {
        body.insert(0, 0);
    }
    tlv(0x02, &body)
}

fn null() -> Vec<u8> {
    vec![0x05, 0x00]
}

/// The password as a BMPString with a terminating NUL, as the PKCS#12 KDF takes it.
fn bmp_password(password: &str) -> Vec<u8> {
    let mut out: Vec<u8> = password.encode_utf16().flat_map(u16::to_be_bytes).collect();
    out.extend_from_slice(&[0, 0]);
    out
}

/// RFC 7292 appendix B.2 key derivation with SHA-256 (u = 32, v = 64).
fn pkcs12_kdf(id: u8, password: &[u8], salt: &[u8], iterations: u32, n: usize) -> Vec<u8> {
    const U: usize = 32;
    const V: usize = 64;
    let fill = |s: &[u8]| -> Vec<u8> {
        if s.is_empty() {
            return Vec::new();
        }
        let len = V * s.len().div_ceil(V);
        s.iter().cycle().take(len).copied().collect()
    };
    let d = [id; V];
    let mut i: Vec<u8> = [fill(salt), fill(password)].concat();
    let mut out = Vec::with_capacity(n + U);
    while out.len() < n {
        let mut a = digest::digest(&digest::SHA256, &[&d[..], &i].concat()).as_ref().to_vec();
        for _ in 1..iterations {
            a = digest::digest(&digest::SHA256, &a).as_ref().to_vec();
        }
        let b: Vec<u8> = a.iter().cycle().take(V).copied().collect();
        for block in i.chunks_mut(V) {
            // block = (block + b + 1) mod 2^(8v)
            let mut carry = 1u16;
            for (x, y) in block.iter_mut().rev().zip(b.iter().rev()) {
                let sum = u16::from(*x) + u16::from(*y) + carry;
                *x = sum as u8;
                carry = sum >> 8;
            }
        }
        out.extend_from_slice(&a);
    }
    out.truncate(n);
    out
}

fn attributes(local_key_id: &[u8], friendly_name: Option<&str>) -> Vec<u8> {
    let mut attrs = seq(&[&oid(oid::LOCAL_KEY_ID), &set(&[&octets(local_key_id)])]);
    if let Some(name) = friendly_name {
        let bmp: Vec<u8> = name.encode_utf16().flat_map(u16::to_be_bytes).collect();
        attrs.extend(seq(&[&oid(oid::FRIENDLY_NAME), &set(&[&tlv(0x1e, &bmp)])]));
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
    let failed = |what: &'static str| move |_| PkiError::Unsupported(format!("PKCS#12: {what}"));
    let iterations = NonZeroU32::new(ITERATIONS).ok_or(PkiError::Unsupported("iterations".to_owned()))?;
    let leaf = certs.first().ok_or_else(|| PkiError::InvalidCertificate("PKCS#12 needs a certificate".to_owned()))?;
    let local_key_id = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, leaf).as_ref().to_vec();

    // The shrouded key bag: PBES2 (PBKDF2-HMAC-SHA256 → AES-256-CBC).
    let salt = crate::random::bytes::<16>()?;
    let iv = crate::random::bytes::<16>()?;
    let mut aes_key = [0u8; 32];
    pbkdf2::derive(pbkdf2::PBKDF2_HMAC_SHA256, iterations, &salt, password.as_bytes(), &mut aes_key);
    let cipher = UnboundCipherKey::new(&AES_256, &aes_key).map_err(failed("AES key"))?;
    let encrypting = PaddedBlockEncryptingKey::cbc_pkcs7(cipher).map_err(failed("AES-CBC"))?;
    let mut encrypted = key_pkcs8.to_vec();
    encrypting
        .less_safe_encrypt(&mut encrypted, EncryptionContext::Iv128(FixedLength::from(iv)))
        .map_err(failed("encryption"))?;
    let pbes2 = seq(&[
        &oid(oid::PBES2),
        &seq(&[
            &seq(&[
                &oid(oid::PBKDF2),
                &seq(&[&octets(&salt), &integer(ITERATIONS), &seq(&[&oid(oid::HMAC_SHA256), &null()])]),
            ]),
            &seq(&[&oid(oid::AES_256_CBC), &octets(&iv)]),
        ]),
    ]);
    let encrypted_key_info = seq(&[&pbes2, &octets(&encrypted)]);
    let key_bag =
        seq(&[&oid(oid::SHROUDED_KEY_BAG), &explicit0(&encrypted_key_info), &attributes(&local_key_id, friendly_name)]);

    // Certificate bags: the leaf carries the key id; chain certificates follow.
    let mut cert_bags = Vec::new();
    for (i, cert) in certs.iter().enumerate() {
        let bag_value = seq(&[&oid(oid::X509_CERTIFICATE), &explicit0(&octets(cert))]);
        let attrs = if i == 0 { attributes(&local_key_id, friendly_name) } else { Vec::new() };
        cert_bags.extend(seq(&[&oid(oid::CERT_BAG), &explicit0(&bag_value), &attrs]));
    }
    let data = |safe_contents: &[u8]| seq(&[&oid(oid::DATA), &explicit0(&octets(safe_contents))]);
    let auth_safe = seq(&[&data(&tlv(0x30, &cert_bags)), &data(&tlv(0x30, &key_bag))]);

    // MAC over the AuthenticatedSafe, keyed by the PKCS#12 KDF (ID 3) with SHA-256.
    let mac_salt = crate::random::bytes::<16>()?;
    let mac_key = pkcs12_kdf(3, &bmp_password(password), &mac_salt, ITERATIONS, 32);
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &mac_key), &auth_safe);
    let mac_data = seq(&[
        &seq(&[&seq(&[&oid(oid::SHA256), &null()]), &octets(tag.as_ref())]),
        &octets(&mac_salt),
        &integer(ITERATIONS),
    ]);
    Ok(seq(&[&integer(3), &seq(&[&oid(oid::DATA), &explicit0(&octets(&auth_safe))]), &mac_data]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_and_lengths_encode_minimally() {
        assert_eq!(integer(3), vec![0x02, 0x01, 0x03]);
        assert_eq!(integer(2048), vec![0x02, 0x02, 0x08, 0x00]);
        assert_eq!(integer(128), vec![0x02, 0x02, 0x00, 0x80]);
        assert_eq!(tlv(0x04, &[0; 300])[..4], [0x04, 0x82, 0x01, 0x2c]);
    }

    #[test]
    fn kdf_output_depends_on_every_input() {
        let base = pkcs12_kdf(3, &bmp_password("pw"), b"salt", 10, 32);
        assert_eq!(base.len(), 32);
        assert_ne!(base, pkcs12_kdf(1, &bmp_password("pw"), b"salt", 10, 32));
        assert_ne!(base, pkcs12_kdf(3, &bmp_password("pX"), b"salt", 10, 32));
        assert_ne!(base, pkcs12_kdf(3, &bmp_password("pw"), b"salx", 10, 32));
        assert_ne!(base, pkcs12_kdf(3, &bmp_password("pw"), b"salt", 11, 32));
    }
}
