//! Key and signature algorithms: names as the API spells them, object identifiers as X.509 spells them.

use crate::PkiError;
use const_oid::ObjectIdentifier as Oid;
use der::asn1::AnyRef;
use spki::AlgorithmIdentifierOwned;

/// Object identifiers used by the engine.
pub mod oid {
    use const_oid::ObjectIdentifier as Oid;

    pub const RSA_ENCRYPTION: Oid = Oid::new_unwrap("1.2.840.113549.1.1.1");
    pub const SHA1_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.5");
    pub const SHA256_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.11");
    pub const SHA384_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.12");
    pub const SHA512_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.13");
    pub const EC_PUBLIC_KEY: Oid = Oid::new_unwrap("1.2.840.10045.2.1");
    pub const P256: Oid = Oid::new_unwrap("1.2.840.10045.3.1.7");
    pub const P384: Oid = Oid::new_unwrap("1.3.132.0.34");
    pub const P521: Oid = Oid::new_unwrap("1.3.132.0.35");
    pub const ECDSA_SHA1: Oid = Oid::new_unwrap("1.2.840.10045.4.1");
    pub const ECDSA_SHA256: Oid = Oid::new_unwrap("1.2.840.10045.4.3.2");
    pub const ECDSA_SHA384: Oid = Oid::new_unwrap("1.2.840.10045.4.3.3");
    pub const ECDSA_SHA512: Oid = Oid::new_unwrap("1.2.840.10045.4.3.4");
    pub const ED25519: Oid = Oid::new_unwrap("1.3.101.112");
    pub const ML_DSA_44: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.3.17");
    pub const ML_DSA_65: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.3.18");
    pub const ML_DSA_87: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.3.19");
    pub const DSA: Oid = Oid::new_unwrap("1.2.840.10040.4.1");
    pub const DSA_SHA1: Oid = Oid::new_unwrap("1.2.840.10040.4.3");
    pub const DSA_SHA256: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.3.2");
    pub const DSA_SHA384: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.3.3");
    pub const DSA_SHA512: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.3.4");
}

/// An elliptic curve for ECDSA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Curve {
    P256,
    P384,
    P521,
}

/// An ML-DSA (FIPS 204) parameter set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MlDsaLevel {
    MlDsa44,
    MlDsa65,
    MlDsa87,
}

/// The algorithm (and size) of a key pair the engine can generate and sign with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyAlgorithm {
    /// RSA with a modulus of this many bits (2048, 3072 or 4096 generated; 1024 only read).
    Rsa(u32),
    Ecdsa(Curve),
    Ed25519,
    MlDsa(MlDsaLevel),
}

impl KeyAlgorithm {
    /// Every algorithm the engine generates keys for.
    pub const GENERATED: [KeyAlgorithm; 10] = [
        KeyAlgorithm::Rsa(2048),
        KeyAlgorithm::Rsa(3072),
        KeyAlgorithm::Rsa(4096),
        KeyAlgorithm::Ecdsa(Curve::P256),
        KeyAlgorithm::Ecdsa(Curve::P384),
        KeyAlgorithm::Ecdsa(Curve::P521),
        KeyAlgorithm::Ed25519,
        KeyAlgorithm::MlDsa(MlDsaLevel::MlDsa44),
        KeyAlgorithm::MlDsa(MlDsaLevel::MlDsa65),
        KeyAlgorithm::MlDsa(MlDsaLevel::MlDsa87),
    ];

    /// The API spelling: `rsa-2048`, `ecdsa-p256`, `ed25519`, `ml-dsa-65`.
    pub fn name(self) -> String {
        match self {
            KeyAlgorithm::Rsa(bits) => format!("rsa-{bits}"),
            KeyAlgorithm::Ecdsa(Curve::P256) => "ecdsa-p256".to_owned(),
            KeyAlgorithm::Ecdsa(Curve::P384) => "ecdsa-p384".to_owned(),
            KeyAlgorithm::Ecdsa(Curve::P521) => "ecdsa-p521".to_owned(),
            KeyAlgorithm::Ed25519 => "ed25519".to_owned(),
            KeyAlgorithm::MlDsa(MlDsaLevel::MlDsa44) => "ml-dsa-44".to_owned(),
            KeyAlgorithm::MlDsa(MlDsaLevel::MlDsa65) => "ml-dsa-65".to_owned(),
            KeyAlgorithm::MlDsa(MlDsaLevel::MlDsa87) => "ml-dsa-87".to_owned(),
        }
    }

    /// Parses the API spelling.
    pub fn parse(s: &str) -> Result<Self, PkiError> {
        let lower = s.trim().to_ascii_lowercase();
        if let Some(bits) = lower.strip_prefix("rsa-").or_else(|| lower.strip_prefix("rsa")) {
            let bits: u32 = bits.parse().map_err(|_| PkiError::Unsupported(format!("key algorithm '{s}'")))?;
            return Ok(KeyAlgorithm::Rsa(bits));
        }
        Self::GENERATED
            .into_iter()
            .find(|a| a.name() == lower)
            .ok_or_else(|| PkiError::Unsupported(format!("key algorithm '{s}'")))
    }

    /// The signature algorithm a key of this kind signs with by default.
    pub fn default_signature(self) -> SignatureAlgorithm {
        match self {
            KeyAlgorithm::Rsa(_) => SignatureAlgorithm::RsaPkcs1(Digest::Sha256),
            KeyAlgorithm::Ecdsa(Curve::P256) => SignatureAlgorithm::Ecdsa(Digest::Sha256),
            KeyAlgorithm::Ecdsa(Curve::P384) => SignatureAlgorithm::Ecdsa(Digest::Sha384),
            KeyAlgorithm::Ecdsa(Curve::P521) => SignatureAlgorithm::Ecdsa(Digest::Sha512),
            KeyAlgorithm::Ed25519 => SignatureAlgorithm::Ed25519,
            KeyAlgorithm::MlDsa(level) => SignatureAlgorithm::MlDsa(level),
        }
    }
}

/// A message digest used inside a signature algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Digest {
    /// Read in old certificates only; never used to sign.
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

/// A signature algorithm as named in certificates, CSRs and CRLs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignatureAlgorithm {
    RsaPkcs1(Digest),
    Ecdsa(Digest),
    Ed25519,
    MlDsa(MlDsaLevel),
    /// FIPS 186 DSA, read in CSRs and old certificates only; never used to sign.
    Dsa(Digest),
}

impl SignatureAlgorithm {
    /// The algorithm's object identifier.
    pub fn oid(self) -> Oid {
        match self {
            SignatureAlgorithm::RsaPkcs1(Digest::Sha1) => oid::SHA1_WITH_RSA,
            SignatureAlgorithm::RsaPkcs1(Digest::Sha256) => oid::SHA256_WITH_RSA,
            SignatureAlgorithm::RsaPkcs1(Digest::Sha384) => oid::SHA384_WITH_RSA,
            SignatureAlgorithm::RsaPkcs1(Digest::Sha512) => oid::SHA512_WITH_RSA,
            SignatureAlgorithm::Ecdsa(Digest::Sha1) => oid::ECDSA_SHA1,
            SignatureAlgorithm::Ecdsa(Digest::Sha256) => oid::ECDSA_SHA256,
            SignatureAlgorithm::Ecdsa(Digest::Sha384) => oid::ECDSA_SHA384,
            SignatureAlgorithm::Ecdsa(Digest::Sha512) => oid::ECDSA_SHA512,
            SignatureAlgorithm::Ed25519 => oid::ED25519,
            SignatureAlgorithm::MlDsa(MlDsaLevel::MlDsa44) => oid::ML_DSA_44,
            SignatureAlgorithm::MlDsa(MlDsaLevel::MlDsa65) => oid::ML_DSA_65,
            SignatureAlgorithm::MlDsa(MlDsaLevel::MlDsa87) => oid::ML_DSA_87,
            SignatureAlgorithm::Dsa(Digest::Sha1) => oid::DSA_SHA1,
            SignatureAlgorithm::Dsa(Digest::Sha256) => oid::DSA_SHA256,
            SignatureAlgorithm::Dsa(Digest::Sha384) => oid::DSA_SHA384,
            SignatureAlgorithm::Dsa(Digest::Sha512) => oid::DSA_SHA512,
        }
    }

    /// The AlgorithmIdentifier to place in a certificate: RSA carries NULL parameters, the others none
    /// (RFC 4055, RFC 5758, RFC 8410, FIPS 204 profiles).
    pub fn identifier(self) -> AlgorithmIdentifierOwned {
        let parameters = matches!(self, SignatureAlgorithm::RsaPkcs1(_)).then(|| AnyRef::NULL.into());
        AlgorithmIdentifierOwned { oid: self.oid(), parameters }
    }

    /// Recognises a signature AlgorithmIdentifier.
    pub fn from_identifier(id: &AlgorithmIdentifierOwned) -> Result<Self, PkiError> {
        let all = [
            SignatureAlgorithm::RsaPkcs1(Digest::Sha1),
            SignatureAlgorithm::RsaPkcs1(Digest::Sha256),
            SignatureAlgorithm::RsaPkcs1(Digest::Sha384),
            SignatureAlgorithm::RsaPkcs1(Digest::Sha512),
            SignatureAlgorithm::Ecdsa(Digest::Sha1),
            SignatureAlgorithm::Ecdsa(Digest::Sha256),
            SignatureAlgorithm::Ecdsa(Digest::Sha384),
            SignatureAlgorithm::Ecdsa(Digest::Sha512),
            SignatureAlgorithm::Ed25519,
            SignatureAlgorithm::MlDsa(MlDsaLevel::MlDsa44),
            SignatureAlgorithm::MlDsa(MlDsaLevel::MlDsa65),
            SignatureAlgorithm::MlDsa(MlDsaLevel::MlDsa87),
            SignatureAlgorithm::Dsa(Digest::Sha1),
            SignatureAlgorithm::Dsa(Digest::Sha256),
            SignatureAlgorithm::Dsa(Digest::Sha384),
            SignatureAlgorithm::Dsa(Digest::Sha512),
        ];
        all.into_iter()
            .find(|a| a.oid() == id.oid)
            .ok_or_else(|| PkiError::Unsupported(format!("signature algorithm {}", id.oid)))
    }

    /// The API spelling: `rsa-pkcs1-sha256`, `ecdsa-sha384`, `ed25519`, `ml-dsa-65`, `dsa-sha256`.
    pub fn name(self) -> String {
        let digest = |d: Digest| match d {
            Digest::Sha1 => "sha1",
            Digest::Sha256 => "sha256",
            Digest::Sha384 => "sha384",
            Digest::Sha512 => "sha512",
        };
        match self {
            SignatureAlgorithm::RsaPkcs1(d) => format!("rsa-pkcs1-{}", digest(d)),
            SignatureAlgorithm::Ecdsa(d) => format!("ecdsa-{}", digest(d)),
            SignatureAlgorithm::Ed25519 => "ed25519".to_owned(),
            SignatureAlgorithm::MlDsa(l) => KeyAlgorithm::MlDsa(l).name(),
            SignatureAlgorithm::Dsa(d) => format!("dsa-{}", digest(d)),
        }
    }

    /// Whether the engine will sign with this algorithm (SHA-1 and DSA are accepted for reading only).
    pub fn may_sign(self) -> bool {
        !matches!(
            self,
            SignatureAlgorithm::RsaPkcs1(Digest::Sha1)
                | SignatureAlgorithm::Ecdsa(Digest::Sha1)
                | SignatureAlgorithm::Dsa(_)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for a in KeyAlgorithm::GENERATED {
            assert_eq!(KeyAlgorithm::parse(&a.name()).unwrap(), a);
        }
        assert_eq!(KeyAlgorithm::parse("RSA2048").unwrap(), KeyAlgorithm::Rsa(2048));
        assert!(KeyAlgorithm::parse("rot13").is_err());
    }

    #[test]
    fn identifiers_round_trip_and_rsa_carries_null() {
        for a in KeyAlgorithm::GENERATED {
            let s = a.default_signature();
            assert_eq!(SignatureAlgorithm::from_identifier(&s.identifier()).unwrap(), s);
        }
        assert!(SignatureAlgorithm::RsaPkcs1(Digest::Sha256).identifier().parameters.is_some());
        assert!(SignatureAlgorithm::Ecdsa(Digest::Sha256).identifier().parameters.is_none());
        assert!(!SignatureAlgorithm::RsaPkcs1(Digest::Sha1).may_sign());
        assert_eq!(SignatureAlgorithm::RsaPkcs1(Digest::Sha256).name(), "rsa-pkcs1-sha256");
        assert_eq!(SignatureAlgorithm::MlDsa(MlDsaLevel::MlDsa65).name(), "ml-dsa-65");
    }

    #[test]
    fn dsa_is_recognised_for_reading_but_never_signs() {
        for (oid, digest) in [
            ("1.2.840.10040.4.3", Digest::Sha1),
            ("2.16.840.1.101.3.4.3.2", Digest::Sha256),
            ("2.16.840.1.101.3.4.3.3", Digest::Sha384),
            ("2.16.840.1.101.3.4.3.4", Digest::Sha512),
        ] {
            let id = AlgorithmIdentifierOwned { oid: oid.parse().unwrap(), parameters: None };
            let alg = SignatureAlgorithm::from_identifier(&id).unwrap();
            assert_eq!(alg, SignatureAlgorithm::Dsa(digest));
            assert!(!alg.may_sign());
            assert!(alg.identifier().parameters.is_none(), "RFC 3279: DSA signature parameters are absent");
        }
        assert_eq!(SignatureAlgorithm::Dsa(Digest::Sha256).name(), "dsa-sha256");
        assert_eq!(SignatureAlgorithm::Dsa(Digest::Sha1).name(), "dsa-sha1");
    }
}
