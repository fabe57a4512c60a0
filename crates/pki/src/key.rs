//! Key pairs and public keys: generation, PKCS#8 encoding, signing and signature verification, all through
//! aws-lc. A [`PrivateKey`] is the engine's one [`Signer`].

use crate::alg::{oid, Curve, Digest, KeyAlgorithm, MlDsaLevel, SignatureAlgorithm};
use crate::PkiError;
use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self as sig, EcdsaKeyPair, Ed25519KeyPair, KeyPair, PqdsaKeyPair, RsaKeyPair};
use der::{Decode, Encode, Reader};
use spki::SubjectPublicKeyInfoOwned;
use zeroize::Zeroizing;

/// Something that signs: the issuing CA's key, whether held in memory or (later) behind PKCS#11.
pub trait Signer: Send + Sync {
    /// The signature algorithm this signer produces.
    fn signature_algorithm(&self) -> SignatureAlgorithm;
    /// The signer's public key as SubjectPublicKeyInfo DER.
    fn public_key_der(&self) -> Vec<u8>;
    /// Signs `message`.
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, PkiError>;
}

enum Inner {
    Rsa(RsaKeyPair),
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
    MlDsa(PqdsaKeyPair),
}

/// A private key held in memory.
pub struct PrivateKey {
    inner: Inner,
    algorithm: KeyAlgorithm,
    signature: SignatureAlgorithm,
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrivateKey").field("algorithm", &self.algorithm).finish_non_exhaustive()
    }
}

fn rejected(what: &'static str) -> impl Fn(aws_lc_rs::error::KeyRejected) -> PkiError {
    move |e| PkiError::InvalidKeyData(format!("{what}: {e}"))
}

fn ecdsa_signing(curve: Curve) -> &'static sig::EcdsaSigningAlgorithm {
    match curve {
        Curve::P256 => &sig::ECDSA_P256_SHA256_ASN1_SIGNING,
        Curve::P384 => &sig::ECDSA_P384_SHA384_ASN1_SIGNING,
        Curve::P521 => &sig::ECDSA_P521_SHA512_ASN1_SIGNING,
    }
}

fn mldsa_signing(level: MlDsaLevel) -> &'static sig::PqdsaSigningAlgorithm {
    match level {
        MlDsaLevel::MlDsa44 => &sig::ML_DSA_44_SIGNING,
        MlDsaLevel::MlDsa65 => &sig::ML_DSA_65_SIGNING,
        MlDsaLevel::MlDsa87 => &sig::ML_DSA_87_SIGNING,
    }
}

impl PrivateKey {
    /// Generates a new key pair. RSA sizes other than 2048, 3072 and 4096 are refused.
    pub fn generate(algorithm: KeyAlgorithm) -> Result<Self, PkiError> {
        let failed = |_| PkiError::Unsupported(format!("generating {} keys", algorithm.name()));
        let inner = match algorithm {
            KeyAlgorithm::Rsa(bits) => {
                let size = match bits {
                    2048 => KeySize::Rsa2048,
                    3072 => KeySize::Rsa3072,
                    4096 => KeySize::Rsa4096,
                    _ => return Err(PkiError::Unsupported(format!("generating RSA keys of {bits} bits"))),
                };
                Inner::Rsa(RsaKeyPair::generate(size).map_err(failed)?)
            }
            KeyAlgorithm::Ecdsa(curve) => Inner::Ecdsa(EcdsaKeyPair::generate(ecdsa_signing(curve)).map_err(failed)?),
            KeyAlgorithm::Ed25519 => Inner::Ed25519(Ed25519KeyPair::generate().map_err(failed)?),
            KeyAlgorithm::MlDsa(level) => Inner::MlDsa(PqdsaKeyPair::generate(mldsa_signing(level)).map_err(failed)?),
        };
        Ok(Self { inner, algorithm, signature: algorithm.default_signature() })
    }

    /// Reads a PKCS#8 (RFC 5208/5958) private key.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, PkiError> {
        let info = pkcs8_algorithm(der)?;
        let (inner, algorithm) = match info {
            (o, _) if o == oid::RSA_ENCRYPTION => {
                let k = RsaKeyPair::from_pkcs8(der).map_err(rejected("RSA key"))?;
                let bits = u32::try_from(k.public_modulus_len() * 8).unwrap_or(0);
                (Inner::Rsa(k), KeyAlgorithm::Rsa(bits))
            }
            (o, Some(curve)) if o == oid::EC_PUBLIC_KEY => {
                let curve = match curve {
                    c if c == oid::P256 => Curve::P256,
                    c if c == oid::P384 => Curve::P384,
                    c if c == oid::P521 => Curve::P521,
                    c => return Err(PkiError::Unsupported(format!("elliptic curve {c}"))),
                };
                let k = EcdsaKeyPair::from_pkcs8(ecdsa_signing(curve), der).map_err(rejected("EC key"))?;
                (Inner::Ecdsa(k), KeyAlgorithm::Ecdsa(curve))
            }
            (o, _) if o == oid::ED25519 => {
                let k = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).map_err(rejected("Ed25519 key"))?;
                (Inner::Ed25519(k), KeyAlgorithm::Ed25519)
            }
            (o, _) => {
                let level = mldsa_level(&o).ok_or_else(|| PkiError::Unsupported(format!("private key type {o}")))?;
                let k = PqdsaKeyPair::from_pkcs8(mldsa_signing(level), der).map_err(rejected("ML-DSA key"))?;
                (Inner::MlDsa(k), KeyAlgorithm::MlDsa(level))
            }
        };
        Ok(Self { inner, algorithm, signature: algorithm.default_signature() })
    }

    /// The key encoded as unencrypted PKCS#8 DER. Secret: seal it before storing it.
    pub fn danger_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>, PkiError> {
        let failed = |_| PkiError::Unsupported("encoding the key as PKCS#8".to_owned());
        let der = match &self.inner {
            Inner::Rsa(k) => AsDer::<Pkcs8V1Der<'static>>::as_der(k).map_err(failed)?.as_ref().to_vec(),
            Inner::Ecdsa(k) => k.to_pkcs8v1().map_err(failed)?.as_ref().to_vec(),
            Inner::Ed25519(k) => k.to_pkcs8v1().map_err(failed)?.as_ref().to_vec(),
            Inner::MlDsa(k) => k.private_key().as_der().map_err(failed)?.as_ref().to_vec(),
        };
        Ok(Zeroizing::new(der))
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    /// Uses `digest` instead of the default one (RSA and ECDSA only; SHA-1 is refused).
    pub fn with_digest(mut self, digest: Digest) -> Result<Self, PkiError> {
        self.signature = match (self.algorithm, digest) {
            (_, Digest::Sha1) => return Err(PkiError::Unsupported("signing with SHA-1".to_owned())),
            (KeyAlgorithm::Rsa(_), d) => SignatureAlgorithm::RsaPkcs1(d),
            (KeyAlgorithm::Ecdsa(c), d)
                if KeyAlgorithm::Ecdsa(c).default_signature() == SignatureAlgorithm::Ecdsa(d) =>
            {
                SignatureAlgorithm::Ecdsa(d)
            }
            (a, d) => return Err(PkiError::Unsupported(format!("{} keys with {d:?}", a.name()))),
        };
        Ok(self)
    }

    /// The public half.
    pub fn public_key(&self) -> Result<PublicKey, PkiError> {
        PublicKey::from_der(&self.public_key_der())
    }
}

impl Signer for PrivateKey {
    fn signature_algorithm(&self) -> SignatureAlgorithm {
        self.signature
    }

    fn public_key_der(&self) -> Vec<u8> {
        let der: Result<PublicKeyX509Der<'static>, _> = match &self.inner {
            Inner::Rsa(k) => k.public_key().as_der(),
            Inner::Ecdsa(k) => k.public_key().as_der(),
            Inner::Ed25519(k) => k.public_key().as_der(),
            Inner::MlDsa(k) => k.public_key().as_der(),
        };
        der.map(|d| d.as_ref().to_vec()).unwrap_or_default()
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, PkiError> {
        let failed = |_| PkiError::Unsupported("signing".to_owned());
        match &self.inner {
            Inner::Rsa(k) => {
                let padding: &'static dyn sig::RsaEncoding = match self.signature {
                    SignatureAlgorithm::RsaPkcs1(Digest::Sha384) => &sig::RSA_PKCS1_SHA384,
                    SignatureAlgorithm::RsaPkcs1(Digest::Sha512) => &sig::RSA_PKCS1_SHA512,
                    _ => &sig::RSA_PKCS1_SHA256,
                };
                let mut out = vec![0u8; k.public_modulus_len()];
                k.sign(padding, &SystemRandom::new(), message, &mut out).map_err(failed)?;
                Ok(out)
            }
            Inner::Ecdsa(k) => Ok(k.sign(&SystemRandom::new(), message).map_err(failed)?.as_ref().to_vec()),
            Inner::Ed25519(k) => Ok(k.sign(message).as_ref().to_vec()),
            Inner::MlDsa(k) => {
                let mut out = vec![0u8; k.algorithm().signature_len()];
                let n = k.sign(message, &mut out).map_err(failed)?;
                out.truncate(n);
                Ok(out)
            }
        }
    }
}

fn mldsa_level(o: &const_oid::ObjectIdentifier) -> Option<MlDsaLevel> {
    match *o {
        x if x == oid::ML_DSA_44 => Some(MlDsaLevel::MlDsa44),
        x if x == oid::ML_DSA_65 => Some(MlDsaLevel::MlDsa65),
        x if x == oid::ML_DSA_87 => Some(MlDsaLevel::MlDsa87),
        _ => None,
    }
}

/// The algorithm OID (and EC curve) named inside a PKCS#8 document.
fn pkcs8_algorithm(der: &[u8]) -> Result<(const_oid::ObjectIdentifier, Option<const_oid::ObjectIdentifier>), PkiError> {
    #[derive(der::Sequence)]
    struct PrivateKeyInfo {
        version: u8,
        algorithm: spki::AlgorithmIdentifierOwned,
        private_key: der::asn1::OctetString,
    }
    // Only the first three fields are needed; newer PKCS#8 (RFC 5958) may append attributes and a public key.
    let mut reader = der::SliceReader::new(der).map_err(|e| PkiError::InvalidKeyData(e.to_string()))?;
    let info: PrivateKeyInfo = der::Reader::sequence(&mut reader, |r| {
        let version = u8::decode(r)?;
        let algorithm = spki::AlgorithmIdentifierOwned::decode(r)?;
        let private_key = der::asn1::OctetString::decode(r)?;
        r.read_slice(r.remaining_len())?;
        Ok(PrivateKeyInfo { version, algorithm, private_key })
    })
    .map_err(|e| PkiError::InvalidKeyData(format!("not a PKCS#8 private key: {e}")))?;
    let _ = (info.version, info.private_key.as_bytes().len());
    let curve = info.algorithm.parameters.as_ref().and_then(|p| p.decode_as::<const_oid::ObjectIdentifier>().ok());
    Ok((info.algorithm.oid, curve))
}

/// A public key as found in a certificate or CSR (SubjectPublicKeyInfo).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    der: Vec<u8>,
    /// What kind of key, with its size where that matters for policy.
    pub kind: PublicKeyKind,
}

/// The type of a public key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PublicKeyKind {
    Rsa { bits: u32 },
    Ecdsa(Curve),
    Ed25519,
    MlDsa(MlDsaLevel),
    Dsa { bits: u32 },
}

impl PublicKey {
    /// Parses SubjectPublicKeyInfo DER.
    pub fn from_der(der: &[u8]) -> Result<Self, PkiError> {
        let spki = SubjectPublicKeyInfoOwned::from_der(der)
            .map_err(|e| PkiError::InvalidKeyData(format!("bad SubjectPublicKeyInfo: {e}")))?;
        Self::from_spki(&spki)
    }

    /// Reads a parsed SubjectPublicKeyInfo.
    pub fn from_spki(spki: &SubjectPublicKeyInfoOwned) -> Result<Self, PkiError> {
        let der = spki.to_der().map_err(|e| PkiError::InvalidKeyData(e.to_string()))?;
        let key_bytes = spki.subject_public_key.raw_bytes();
        let o = spki.algorithm.oid;
        let kind = if o == oid::RSA_ENCRYPTION {
            PublicKeyKind::Rsa { bits: rsa_modulus_bits(key_bytes)? }
        } else if o == oid::EC_PUBLIC_KEY {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.decode_as::<const_oid::ObjectIdentifier>().ok())
                .ok_or_else(|| PkiError::InvalidKeyData("EC key without a named curve".to_owned()))?;
            PublicKeyKind::Ecdsa(match curve {
                c if c == oid::P256 => Curve::P256,
                c if c == oid::P384 => Curve::P384,
                c if c == oid::P521 => Curve::P521,
                c => return Err(PkiError::Unsupported(format!("elliptic curve {c}"))),
            })
        } else if o == oid::ED25519 {
            PublicKeyKind::Ed25519
        } else if o == oid::DSA {
            let bits = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| dsa_p_bits(p).ok())
                .ok_or_else(|| PkiError::InvalidKeyData("DSA key without parameters".to_owned()))?;
            PublicKeyKind::Dsa { bits }
        } else if let Some(level) = mldsa_level(&o) {
            PublicKeyKind::MlDsa(level)
        } else {
            return Err(PkiError::Unsupported(format!("public key type {o}")));
        };
        Ok(Self { der, kind })
    }

    /// SubjectPublicKeyInfo DER.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The SHA-1 of the subjectPublicKey bits, as RFC 5280 §4.2.1.2 (1) computes key identifiers.
    pub fn key_identifier(&self) -> Result<Vec<u8>, PkiError> {
        let spki =
            SubjectPublicKeyInfoOwned::from_der(&self.der).map_err(|e| PkiError::InvalidKeyData(e.to_string()))?;
        let d = aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
            spki.subject_public_key.raw_bytes(),
        );
        Ok(d.as_ref().to_vec())
    }

    /// Verifies `signature` over `message` made with `algorithm` by this key.
    pub fn verify(&self, algorithm: SignatureAlgorithm, message: &[u8], signature: &[u8]) -> Result<(), PkiError> {
        let alg: &'static dyn sig::VerificationAlgorithm = match (self.kind, algorithm) {
            (PublicKeyKind::Rsa { .. }, SignatureAlgorithm::RsaPkcs1(d)) => match d {
                Digest::Sha1 => &sig::RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY,
                Digest::Sha256 => &sig::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY,
                Digest::Sha384 => &sig::RSA_PKCS1_2048_8192_SHA384,
                Digest::Sha512 => &sig::RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY,
            },
            (PublicKeyKind::Ecdsa(c), SignatureAlgorithm::Ecdsa(d)) => match (c, d) {
                (Curve::P384, Digest::Sha1) => return Err(PkiError::Unsupported("ECDSA P-384 with SHA-1".to_owned())),
                (Curve::P256, Digest::Sha1) => &sig::ECDSA_P256_SHA1_ASN1,
                (Curve::P256, Digest::Sha256) => &sig::ECDSA_P256_SHA256_ASN1,
                (Curve::P256, Digest::Sha384) => &sig::ECDSA_P256_SHA384_ASN1,
                (Curve::P256, Digest::Sha512) => &sig::ECDSA_P256_SHA512_ASN1,
                (Curve::P384, Digest::Sha256) => &sig::ECDSA_P384_SHA256_ASN1,
                (Curve::P384, Digest::Sha384) => &sig::ECDSA_P384_SHA384_ASN1,
                (Curve::P384, Digest::Sha512) => &sig::ECDSA_P384_SHA512_ASN1,
                (Curve::P521, Digest::Sha1) => &sig::ECDSA_P521_SHA1_ASN1,
                (Curve::P521, Digest::Sha256) => &sig::ECDSA_P521_SHA256_ASN1,
                (Curve::P521, Digest::Sha384) => &sig::ECDSA_P521_SHA384_ASN1,
                (Curve::P521, Digest::Sha512) => &sig::ECDSA_P521_SHA512_ASN1,
            },
            (PublicKeyKind::Ed25519, SignatureAlgorithm::Ed25519) => &sig::ED25519,
            (PublicKeyKind::MlDsa(k), SignatureAlgorithm::MlDsa(s)) if k == s => match k {
                MlDsaLevel::MlDsa44 => &sig::ML_DSA_44,
                MlDsaLevel::MlDsa65 => &sig::ML_DSA_65,
                MlDsaLevel::MlDsa87 => &sig::ML_DSA_87,
            },
            (kind, alg) => {
                return Err(PkiError::BadSignature(format!("a {kind:?} key cannot verify a {alg:?} signature")))
            }
        };
        let key = sig::ParsedPublicKey::new(alg, &self.der)
            .map_err(|e| PkiError::InvalidKeyData(format!("public key rejected: {e}")))?;
        key.verify_sig(message, signature)
            .map_err(|_| PkiError::BadSignature("the signature does not verify".to_owned()))
    }
}

fn rsa_modulus_bits(pkcs1: &[u8]) -> Result<u32, PkiError> {
    #[derive(der::Sequence)]
    struct RsaPublicKey<'a> {
        modulus: der::asn1::UintRef<'a>,
        public_exponent: der::asn1::UintRef<'a>,
    }
    let k = RsaPublicKey::from_der(pkcs1).map_err(|e| PkiError::InvalidKeyData(format!("bad RSA public key: {e}")))?;
    let _ = k.public_exponent;
    Ok(significant_bits(k.modulus.as_bytes()))
}

fn dsa_p_bits(params: &der::asn1::Any) -> Result<u32, der::Error> {
    #[derive(der::Sequence)]
    struct DssParms<'a> {
        p: der::asn1::UintRef<'a>,
        q: der::asn1::UintRef<'a>,
        g: der::asn1::UintRef<'a>,
    }
    let parms: DssParms<'_> = params.decode_as()?;
    let _ = (parms.q, parms.g);
    Ok(significant_bits(parms.p.as_bytes()))
}

fn significant_bits(be: &[u8]) -> u32 {
    let trimmed: &[u8] = match be.iter().position(|b| *b != 0) {
        Some(i) => &be[i..],
        None => &[],
    };
    match trimmed.first() {
        Some(first) => (trimmed.len() as u32 - 1) * 8 + (8 - first.leading_zeros()),
        None => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_generated_key_signs_verifiably_and_round_trips_through_pkcs8() {
        for alg in KeyAlgorithm::GENERATED {
            let key = PrivateKey::generate(alg).unwrap();
            let public = key.public_key().unwrap();
            let sig = key.sign(b"message").unwrap();
            public.verify(key.signature_algorithm(), b"message", &sig).unwrap();
            assert!(public.verify(key.signature_algorithm(), b"massage", &sig).is_err(), "{alg:?}");

            let again = PrivateKey::from_pkcs8_der(&key.danger_pkcs8_der().unwrap()).unwrap();
            assert_eq!(again.algorithm(), alg);
            assert_eq!(again.public_key_der(), key.public_key_der());
            match (alg, public.kind) {
                (KeyAlgorithm::Rsa(bits), PublicKeyKind::Rsa { bits: b }) => assert_eq!(bits, b),
                (KeyAlgorithm::Ecdsa(c), PublicKeyKind::Ecdsa(d)) => assert_eq!(c, d),
                (KeyAlgorithm::Ed25519, PublicKeyKind::Ed25519) => {}
                (KeyAlgorithm::MlDsa(l), PublicKeyKind::MlDsa(m)) => assert_eq!(l, m),
                other => panic!("mismatch {other:?}"),
            }
        }
    }

    #[test]
    fn odd_rsa_sizes_and_sha1_signing_are_refused() {
        assert!(PrivateKey::generate(KeyAlgorithm::Rsa(1024)).is_err());
        let k = PrivateKey::generate(KeyAlgorithm::Rsa(2048)).unwrap();
        assert!(k.with_digest(Digest::Sha1).is_err());
        let k = PrivateKey::generate(KeyAlgorithm::Rsa(2048)).unwrap().with_digest(Digest::Sha512).unwrap();
        assert_eq!(k.signature_algorithm(), SignatureAlgorithm::RsaPkcs1(Digest::Sha512));
        k.public_key().unwrap().verify(k.signature_algorithm(), b"m", &k.sign(b"m").unwrap()).unwrap();
    }

    #[test]
    fn garbage_is_rejected_not_panicked_on() {
        for bytes in [&b""[..], b"\x30\x03\x02\x01\x00", &[0x30, 0x82, 0xff, 0xff]] {
            assert!(PrivateKey::from_pkcs8_der(bytes).is_err());
            assert!(PublicKey::from_der(bytes).is_err());
        }
    }
}
