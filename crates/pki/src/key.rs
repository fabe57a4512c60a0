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
        if let (PublicKeyKind::Dsa { .. }, SignatureAlgorithm::Dsa(digest)) = (self.kind, algorithm) {
            return dsa::verify(&self.der, digest, message, signature);
        }
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

/// DSA signature verification (FIPS 186-4 §4.7). aws-lc does not expose DSA, and verifying needs only modular
/// exponentiation over public values, so it is done here on a small Montgomery bignum; the digest comes from aws-lc.
/// Nothing here is secret, so nothing needs to run in constant time.
mod dsa {
    use crate::alg::Digest;
    use crate::PkiError;
    use der::asn1::UintRef;
    use der::Decode;
    use spki::SubjectPublicKeyInfoRef;
    use std::cmp::Ordering;

    /// Largest prime modulus accepted, to bound the work a hostile key can ask for.
    const MAX_P_BITS: u32 = 4096;
    const MIN_P_BITS: u32 = 1024;
    /// FIPS 186-4 sizes of the subgroup order q.
    const Q_BITS: [u32; 3] = [160, 224, 256];

    #[derive(der::Sequence)]
    struct DssParms<'a> {
        p: UintRef<'a>,
        q: UintRef<'a>,
        g: UintRef<'a>,
    }

    #[derive(der::Sequence)]
    struct DssSigValue<'a> {
        r: UintRef<'a>,
        s: UintRef<'a>,
    }

    fn bad(why: &str) -> PkiError {
        PkiError::BadSignature(format!("DSA: {why}"))
    }

    pub(super) fn verify(spki_der: &[u8], digest: Digest, message: &[u8], signature: &[u8]) -> Result<(), PkiError> {
        let invalid_key = |why: String| PkiError::InvalidKeyData(format!("DSA public key: {why}"));
        let spki = SubjectPublicKeyInfoRef::from_der(spki_der).map_err(|e| invalid_key(e.to_string()))?;
        let params: DssParms<'_> = spki
            .algorithm
            .parameters
            .ok_or_else(|| invalid_key("no domain parameters".to_owned()))?
            .decode_as()
            .map_err(|e| invalid_key(e.to_string()))?;
        let key_bits = spki.subject_public_key.as_bytes().ok_or_else(|| invalid_key("unused bits".to_owned()))?;
        let y = UintRef::from_der(key_bits).map_err(|e| invalid_key(e.to_string()))?;
        let sig = DssSigValue::from_der(signature).map_err(|_| bad("the signature is not a DER Dss-Sig-Value"))?;

        let (p, q, g, y) =
            (limbs(params.p.as_bytes()), limbs(params.q.as_bytes()), limbs(params.g.as_bytes()), limbs(y.as_bytes()));
        let (r, s) = (limbs(sig.r.as_bytes()), limbs(sig.s.as_bytes()));
        let p_bits = bits(&p);
        if !(MIN_P_BITS..=MAX_P_BITS).contains(&p_bits) || !Q_BITS.contains(&bits(&q)) {
            return Err(invalid_key(format!("unsupported sizes ({p_bits}-bit p, {}-bit q)", bits(&q))));
        }
        let one = [1u64];
        let in_open_range = |x: &[u64], m: &[u64]| cmp(x, &one) == Ordering::Greater && cmp(x, m) == Ordering::Less;
        if !in_open_range(&g, &p) || !in_open_range(&y, &p) {
            return Err(invalid_key("g or y out of range".to_owned()));
        }
        let (p_ring, q_ring) = match (Ring::new(&p), Ring::new(&q)) {
            (Some(p), Some(q)) => (p, q),
            _ => return Err(invalid_key("p and q must be odd".to_owned())),
        };
        // 0 < r < q and 0 < s < q.
        if is_zero(&r) || is_zero(&s) || cmp(&r, &q) != Ordering::Less || cmp(&s, &q) != Ordering::Less {
            return Err(bad("r or s out of range"));
        }

        let hashed = aws_lc_rs::digest::digest(digest_algorithm(digest), message);
        let z = leftmost_bits(hashed.as_ref(), bits(&q));
        // q is prime, so s⁻¹ = s^(q-2) mod q.
        let mut q_minus_2 = q.clone();
        sub_assign(&mut q_minus_2, &[2]);
        let w = q_ring.pow(&q_ring.reduce(&s), &q_minus_2);
        let u1 = q_ring.mul(&q_ring.reduce(&z), &w);
        let u2 = q_ring.mul(&q_ring.reduce(&r), &w);
        let v = p_ring.mul(&p_ring.pow(&p_ring.reduce(&g), &u1), &p_ring.pow(&p_ring.reduce(&y), &u2));
        let v = q_ring.reduce(&v);
        if cmp(&v, &r) == Ordering::Equal {
            Ok(())
        } else {
            Err(bad("the signature does not verify"))
        }
    }

    fn digest_algorithm(digest: Digest) -> &'static aws_lc_rs::digest::Algorithm {
        match digest {
            Digest::Sha1 => &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
            Digest::Sha256 => &aws_lc_rs::digest::SHA256,
            Digest::Sha384 => &aws_lc_rs::digest::SHA384,
            Digest::Sha512 => &aws_lc_rs::digest::SHA512,
        }
    }

    /// The leftmost `n` bits of a digest as an integer (FIPS 186-4 §4.6: z = leftmost min(N, outlen) bits).
    fn leftmost_bits(hash: &[u8], n: u32) -> Vec<u64> {
        let hash_bits = hash.len() as u32 * 8;
        if hash_bits <= n {
            return limbs(hash);
        }
        let keep = n.div_ceil(8) as usize;
        let mut z = limbs(hash.get(..keep).unwrap_or(hash));
        shift_right(&mut z, keep as u32 * 8 - n);
        z
    }

    /// Big-endian bytes to little-endian 64-bit limbs.
    pub(super) fn limbs(be: &[u8]) -> Vec<u64> {
        be.rchunks(8).map(|chunk| chunk.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b))).collect()
    }

    fn is_zero(a: &[u64]) -> bool {
        a.iter().all(|l| *l == 0)
    }

    fn bits(a: &[u64]) -> u32 {
        match a.iter().rposition(|l| *l != 0) {
            Some(i) => i as u32 * 64 + (64 - a.get(i).map_or(0, |l| l.leading_zeros())),
            None => 0,
        }
    }

    fn bit(a: &[u64], i: u32) -> bool {
        a.get((i / 64) as usize).is_some_and(|l| (l >> (i % 64)) & 1 == 1)
    }

    /// Compares values whatever the number of limbs.
    fn cmp(a: &[u64], b: &[u64]) -> Ordering {
        let len = a.len().max(b.len());
        (0..len)
            .rev()
            .map(|i| a.get(i).copied().unwrap_or(0).cmp(&b.get(i).copied().unwrap_or(0)))
            .find(|o| *o != Ordering::Equal)
            .unwrap_or(Ordering::Equal)
    }

    /// a -= b; the caller ensures a ≥ b.
    fn sub_assign(a: &mut [u64], b: &[u64]) {
        let mut borrow = false;
        for (i, limb) in a.iter_mut().enumerate() {
            let (d1, b1) = limb.overflowing_sub(b.get(i).copied().unwrap_or(0));
            let (d2, b2) = d1.overflowing_sub(u64::from(borrow));
            *limb = d2;
            borrow = b1 || b2;
        }
    }

    fn shift_right(a: &mut [u64], by: u32) {
        if by == 0 || by >= 64 {
            return;
        }
        let mut carry = 0u64;
        for limb in a.iter_mut().rev() {
            let next = *limb << (64 - by);
            *limb = (*limb >> by) | carry;
            carry = next;
        }
    }

    /// Arithmetic modulo an odd `m` in Montgomery form, R = 2^(64·n).
    pub(super) struct Ring {
        m: Vec<u64>,
        /// −m⁻¹ mod 2⁶⁴.
        m_inv: u64,
        /// R² mod m.
        r2: Vec<u64>,
    }

    impl Ring {
        /// `None` unless `m` is odd and greater than one.
        pub(super) fn new(m: &[u64]) -> Option<Self> {
            let n = m.iter().rposition(|l| *l != 0)? + 1;
            let m = m.get(..n)?.to_vec();
            let m0 = *m.first()?;
            if m0 & 1 == 0 || bits(&m) < 2 {
                return None;
            }
            // Newton's iteration doubles the correct low bits each step: 1 → 64 in six.
            let inv = (0..6).fold(1u64, |x, _| x.wrapping_mul(2u64.wrapping_sub(m0.wrapping_mul(x))));
            let mut ring = Ring { m, m_inv: inv.wrapping_neg(), r2: Vec::new() };
            let mut r_squared = vec![0u64; 2 * n + 1];
            if let Some(top) = r_squared.last_mut() {
                *top = 1;
            }
            ring.r2 = ring.reduce(&r_squared);
            Some(ring)
        }

        fn n(&self) -> usize {
            self.m.len()
        }

        /// x mod m, by shifting x in one bit at a time: slow but simple, and used only a few times per signature.
        pub(super) fn reduce(&self, x: &[u64]) -> Vec<u64> {
            let n = self.n();
            let mut r = vec![0u64; n + 1];
            for i in (0..bits(x)).rev() {
                let mut carry = u64::from(bit(x, i));
                for limb in r.iter_mut() {
                    let next = *limb >> 63;
                    *limb = (*limb << 1) | carry;
                    carry = next;
                }
                if cmp(&r, &self.m) != Ordering::Less {
                    sub_assign(&mut r, &self.m);
                }
            }
            r.truncate(n);
            r
        }

        /// a·b·R⁻¹ mod m for a, b < m of n limbs (CIOS method).
        #[allow(clippy::needless_range_loop)]
        fn mont_mul(&self, a: &[u64], b: &[u64]) -> Vec<u64> {
            let n = self.n();
            let m = &self.m;
            let mut t = vec![0u64; n + 2];
            for i in 0..n {
                let bi = u128::from(b[i]);
                let mut carry = 0u128;
                for j in 0..n {
                    let s = u128::from(t[j]) + u128::from(a[j]) * bi + carry;
                    t[j] = s as u64;
                    carry = s >> 64;
                }
                let s = u128::from(t[n]) + carry;
                t[n] = s as u64;
                t[n + 1] = (s >> 64) as u64;

                let k = u128::from(t[0].wrapping_mul(self.m_inv));
                let mut carry = (u128::from(t[0]) + k * u128::from(m[0])) >> 64;
                for j in 1..n {
                    let s = u128::from(t[j]) + k * u128::from(m[j]) + carry;
                    t[j - 1] = s as u64;
                    carry = s >> 64;
                }
                let s = u128::from(t[n]) + carry;
                t[n - 1] = s as u64;
                t[n] = t[n + 1] + (s >> 64) as u64;
                t[n + 1] = 0;
            }
            t.truncate(n + 1);
            if cmp(&t, m) != Ordering::Less {
                sub_assign(&mut t, m);
            }
            t.truncate(n);
            t
        }

        /// a·b mod m for reduced a and b.
        pub(super) fn mul(&self, a: &[u64], b: &[u64]) -> Vec<u64> {
            self.mont_mul(&self.mont_mul(a, b), &self.r2)
        }

        /// base^exp mod m for a reduced base, left-to-right square and multiply.
        pub(super) fn pow(&self, base: &[u64], exp: &[u64]) -> Vec<u64> {
            let mut one = vec![0u64; self.n()];
            if let Some(first) = one.first_mut() {
                *first = 1;
            }
            let base = self.mont_mul(base, &self.r2);
            let mut acc = self.mont_mul(&one, &self.r2);
            for i in (0..bits(exp)).rev() {
                acc = self.mont_mul(&acc, &acc);
                if bit(exp, i) {
                    acc = self.mont_mul(&acc, &base);
                }
            }
            self.mont_mul(&acc, &one)
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn small(v: u128) -> Vec<u64> {
            limbs(&v.to_be_bytes())
        }

        fn value(a: &[u64]) -> u128 {
            u128::from(a.first().copied().unwrap_or(0)) | (u128::from(a.get(1).copied().unwrap_or(0)) << 64)
        }

        #[test]
        fn montgomery_arithmetic_agrees_with_machine_integers() {
            // Moduli of one and two limbs, odd, against u128 arithmetic.
            for m in [3u128, 1_000_003, 0xffff_ffff_ffff_ffc5, (1 << 89) - 1, (1 << 127) - 1] {
                let ring = Ring::new(&small(m)).unwrap();
                for (a, b) in [(2u128, 5u128), (m - 1, m - 1), (123_456_789, 987_654_321), (m / 3, m / 2)] {
                    let (a, b) = (a % m, b % m);
                    let expected_mul = mulmod(a, b, m);
                    assert_eq!(value(&ring.mul(&ring.reduce(&small(a)), &ring.reduce(&small(b)))), expected_mul);
                    let e = 65_537u128;
                    let mut expected_pow = 1u128;
                    for i in (0..17).rev() {
                        expected_pow = mulmod(expected_pow, expected_pow, m);
                        if (e >> i) & 1 == 1 {
                            expected_pow = mulmod(expected_pow, a, m);
                        }
                    }
                    assert_eq!(value(&ring.pow(&ring.reduce(&small(a)), &small(e))), expected_pow, "{a}^{e} mod {m}");
                }
                assert_eq!(value(&ring.reduce(&small(u128::MAX))), u128::MAX % m);
            }
            assert!(Ring::new(&small(10)).is_none());
            assert!(Ring::new(&small(1)).is_none());
            assert!(Ring::new(&[]).is_none());
        }

        #[test]
        fn fermat_holds_for_a_large_prime() {
            // 2^521 - 1 is prime: a^(p-1) = 1 mod p.
            let mut p = vec![u64::MAX; 9];
            p[8] = (1 << 9) - 1;
            let ring = Ring::new(&p).unwrap();
            let mut p_minus_1 = p.clone();
            sub_assign(&mut p_minus_1, &[1]);
            for a in [2u128, 3, 0xdead_beef_cafe] {
                let r = ring.pow(&ring.reduce(&small(a)), &p_minus_1);
                assert_eq!(cmp(&r, &[1]), Ordering::Equal);
            }
        }

        #[test]
        fn digests_longer_than_q_keep_their_leftmost_bits() {
            let hash = [0xabu8; 32];
            assert_eq!(leftmost_bits(&hash, 160), limbs(&[0xab; 20]));
            assert_eq!(leftmost_bits(&hash, 256), limbs(&hash));
            assert_eq!(leftmost_bits(&[0xff, 0xff], 12), vec![0xfff]);
        }

        fn mulmod(a: u128, b: u128, m: u128) -> u128 {
            // Double-and-add so nothing overflows u128.
            let (mut acc, mut a, mut b) = (0u128, a % m, b);
            while b > 0 {
                if b & 1 == 1 {
                    acc = addmod(acc, a, m);
                }
                a = addmod(a, a, m);
                b >>= 1;
            }
            acc
        }

        fn addmod(a: u128, b: u128, m: u128) -> u128 {
            let (s, overflow) = a.overflowing_add(b);
            if overflow || s >= m {
                s.wrapping_sub(m)
            } else {
                s
            }
        }
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
