//! JSON Web Keys and the signature checks of JSON Web Signatures (RFC 7515, 7517, 7518, 8037) as an ACME server
//! needs them: public JWKs of RSA, P-256/P-384/P-521 and Ed25519 keys, their RFC 7638 thumbprints, the JWK of a
//! certificate's or CSR's SubjectPublicKeyInfo, signature verification for RS256, ES256/384/512 and EdDSA, and
//! the HS256 MAC of external account bindings.

use crate::alg::oid;
use crate::PkiError;
use aws_lc_rs::signature::{self as sig, RsaPublicKeyComponents, UnparsedPublicKey};
use aws_lc_rs::{constant_time, digest, hmac};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use der::asn1::{ObjectIdentifier, UintRef};
use der::{Decode, Reader, SliceReader};
use serde_json::{Map, Value};
use spki::SubjectPublicKeyInfoRef;

/// An elliptic curve of a JWK (`crv`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwkCurve {
    P256,
    P384,
    P521,
}

impl JwkCurve {
    fn name(self) -> &'static str {
        match self {
            JwkCurve::P256 => "P-256",
            JwkCurve::P384 => "P-384",
            JwkCurve::P521 => "P-521",
        }
    }

    /// Length of one coordinate, in bytes.
    fn size(self) -> usize {
        match self {
            JwkCurve::P256 => 32,
            JwkCurve::P384 => 48,
            JwkCurve::P521 => 66,
        }
    }
}

/// A public JSON Web Key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Jwk {
    /// `kty: RSA` with modulus and public exponent, big-endian without leading zeros.
    Rsa { n: Vec<u8>, e: Vec<u8> },
    /// `kty: EC` with the affine coordinates.
    Ec { curve: JwkCurve, x: Vec<u8>, y: Vec<u8> },
    /// `kty: OKP`, `crv: Ed25519`.
    Ed25519 { x: Vec<u8> },
}

/// A JWS signature algorithm (`alg`) accepted for account keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwsAlgorithm {
    Rs256,
    Es256,
    Es384,
    Es512,
    EdDsa,
}

impl JwsAlgorithm {
    /// Every algorithm accepted, in their JWS spelling.
    pub const NAMES: [&'static str; 5] = ["RS256", "ES256", "ES384", "ES512", "EdDSA"];

    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "RS256" => JwsAlgorithm::Rs256,
            "ES256" => JwsAlgorithm::Es256,
            "ES384" => JwsAlgorithm::Es384,
            "ES512" => JwsAlgorithm::Es512,
            "EdDSA" => JwsAlgorithm::EdDsa,
            _ => return None,
        })
    }
}

fn bad(message: impl Into<String>) -> PkiError {
    PkiError::InvalidKeyData(message.into())
}

fn member<'a>(object: &'a Map<String, Value>, name: &str) -> Result<&'a str, PkiError> {
    object.get(name).and_then(Value::as_str).ok_or_else(|| bad(format!("the JWK has no string member \"{name}\"")))
}

fn bytes(object: &Map<String, Value>, name: &str) -> Result<Vec<u8>, PkiError> {
    B64.decode(member(object, name)?).map_err(|_| bad(format!("the JWK member \"{name}\" is not base64url")))
}

/// An unsigned big-endian integer without leading zero bytes (the JWK spelling of `n` and `e`).
fn trimmed(v: &[u8]) -> Vec<u8> {
    let start = v.iter().position(|b| *b != 0).unwrap_or(v.len());
    v[start..].to_vec()
}

impl Jwk {
    /// Reads a public JWK. Private members (`d`, …) are refused: a client that sends its private key has leaked it.
    pub fn from_json(value: &Value) -> Result<Self, PkiError> {
        let object = value.as_object().ok_or_else(|| bad("the JWK is not a JSON object"))?;
        if object.contains_key("d") || object.contains_key("p") || object.contains_key("k") {
            return Err(bad("the JWK carries private key material"));
        }
        match member(object, "kty")? {
            "RSA" => {
                let n = trimmed(&bytes(object, "n")?);
                let e = trimmed(&bytes(object, "e")?);
                if n.len() < 256 {
                    return Err(bad("RSA account keys must have at least 2048 bits"));
                }
                if n.len() > 1024 || e.is_empty() || e.len() > 8 {
                    return Err(bad("the RSA key's modulus or exponent has an unsupported size"));
                }
                Ok(Jwk::Rsa { n, e })
            }
            "EC" => {
                let curve = match member(object, "crv")? {
                    "P-256" => JwkCurve::P256,
                    "P-384" => JwkCurve::P384,
                    "P-521" => JwkCurve::P521,
                    other => return Err(bad(format!("unsupported curve \"{other}\""))),
                };
                let (x, y) = (bytes(object, "x")?, bytes(object, "y")?);
                if x.len() != curve.size() || y.len() != curve.size() {
                    return Err(bad(format!("the {} coordinates must be {} bytes", curve.name(), curve.size())));
                }
                let jwk = Jwk::Ec { curve, x, y };
                // The point must be on the curve: parsing it as a verification key checks that.
                let alg = match curve {
                    JwkCurve::P256 => JwsAlgorithm::Es256,
                    JwkCurve::P384 => JwsAlgorithm::Es384,
                    JwkCurve::P521 => JwsAlgorithm::Es512,
                };
                jwk.ec_verifier(alg)?;
                Ok(jwk)
            }
            "OKP" => match member(object, "crv")? {
                "Ed25519" => {
                    let x = bytes(object, "x")?;
                    if x.len() != 32 {
                        return Err(bad("an Ed25519 key is 32 bytes"));
                    }
                    Ok(Jwk::Ed25519 { x })
                }
                other => Err(bad(format!("unsupported OKP curve \"{other}\""))),
            },
            other => Err(bad(format!("unsupported key type \"{other}\""))),
        }
    }

    /// The JWK of a SubjectPublicKeyInfo (DER), for comparing a certificate's or CSR's key with an account key.
    pub fn from_spki(der: &[u8]) -> Result<Self, PkiError> {
        let spki = SubjectPublicKeyInfoRef::from_der(der).map_err(|e| bad(format!("bad SubjectPublicKeyInfo: {e}")))?;
        let bits = spki.subject_public_key.raw_bytes();
        let algorithm = spki.algorithm.oid;
        if algorithm == oid::RSA_ENCRYPTION {
            let mut reader = SliceReader::new(bits).map_err(|e| bad(e.to_string()))?;
            let (n, e) = reader
                .sequence(|r| Ok((UintRef::decode(r)?.as_bytes().to_vec(), UintRef::decode(r)?.as_bytes().to_vec())))
                .map_err(|e| bad(format!("bad RSA public key: {e}")))?;
            Ok(Jwk::Rsa { n: trimmed(&n), e: trimmed(&e) })
        } else if algorithm == oid::EC_PUBLIC_KEY {
            let curve_oid: ObjectIdentifier = spki
                .algorithm
                .parameters
                .and_then(|p| p.decode_as().ok())
                .ok_or_else(|| bad("EC key without a named curve"))?;
            let curve = if curve_oid == oid::P256 {
                JwkCurve::P256
            } else if curve_oid == oid::P384 {
                JwkCurve::P384
            } else if curve_oid == oid::P521 {
                JwkCurve::P521
            } else {
                return Err(PkiError::Unsupported(format!("curve {curve_oid}")));
            };
            let size = curve.size();
            match bits.split_first() {
                Some((4, xy)) if xy.len() == 2 * size => {
                    let (x, y) = xy.split_at(size);
                    Ok(Jwk::Ec { curve, x: x.to_vec(), y: y.to_vec() })
                }
                _ => Err(bad("EC public keys must be uncompressed points")),
            }
        } else if algorithm == oid::ED25519 {
            Ok(Jwk::Ed25519 { x: bits.to_vec() })
        } else {
            Err(PkiError::Unsupported(format!("public key type {algorithm}")))
        }
    }

    /// The JWK with its required members only, in lexicographic order and without whitespace: the input of the
    /// RFC 7638 thumbprint, and a canonical form to store.
    pub fn canonical_json(&self) -> String {
        match self {
            Jwk::Rsa { n, e } => format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, B64.encode(e), B64.encode(n)),
            Jwk::Ec { curve, x, y } => {
                format!(r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#, curve.name(), B64.encode(x), B64.encode(y))
            }
            Jwk::Ed25519 { x } => format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, B64.encode(x)),
        }
    }

    /// The RFC 7638 thumbprint (SHA-256), base64url-encoded: the account key's name in key authorizations.
    pub fn thumbprint(&self) -> String {
        B64.encode(digest::digest(&digest::SHA256, self.canonical_json().as_bytes()))
    }

    fn ec_verifier(&self, alg: JwsAlgorithm) -> Result<UnparsedPublicKey<Vec<u8>>, PkiError> {
        let Jwk::Ec { curve, x, y } = self else {
            return Err(PkiError::BadSignature("an EC algorithm needs an EC key".to_owned()));
        };
        let algorithm: &'static sig::EcdsaVerificationAlgorithm = match (curve, alg) {
            (JwkCurve::P256, JwsAlgorithm::Es256) => &sig::ECDSA_P256_SHA256_FIXED,
            (JwkCurve::P384, JwsAlgorithm::Es384) => &sig::ECDSA_P384_SHA384_FIXED,
            (JwkCurve::P521, JwsAlgorithm::Es512) => &sig::ECDSA_P521_SHA512_FIXED,
            _ => return Err(PkiError::BadSignature(format!("{alg:?} does not go with a {} key", curve.name()))),
        };
        let mut point = Vec::with_capacity(1 + x.len() + y.len());
        point.push(4);
        point.extend_from_slice(x);
        point.extend_from_slice(y);
        let key = UnparsedPublicKey::new(algorithm, point);
        // Reject points off the curve now rather than as a failed signature later.
        sig::ParsedPublicKey::new(algorithm, key.as_ref()).map_err(|_| bad("the EC point is not on its curve"))?;
        Ok(key)
    }

    /// Checks a JWS signature over `signing_input` (`protected || '.' || payload`, both base64url).
    pub fn verify(&self, alg: JwsAlgorithm, signing_input: &[u8], signature: &[u8]) -> Result<(), PkiError> {
        let refused = || PkiError::BadSignature("the JWS signature does not verify".to_owned());
        match (self, alg) {
            (Jwk::Rsa { n, e }, JwsAlgorithm::Rs256) => RsaPublicKeyComponents { n: n.as_slice(), e: e.as_slice() }
                .verify(&sig::RSA_PKCS1_2048_8192_SHA256, signing_input, signature)
                .map_err(|_| refused()),
            (Jwk::Ec { .. }, JwsAlgorithm::Es256 | JwsAlgorithm::Es384 | JwsAlgorithm::Es512) => {
                self.ec_verifier(alg)?.verify(signing_input, signature).map_err(|_| refused())
            }
            (Jwk::Ed25519 { x }, JwsAlgorithm::EdDsa) => {
                UnparsedPublicKey::new(&sig::ED25519, x).verify(signing_input, signature).map_err(|_| refused())
            }
            (_, alg) => Err(PkiError::BadSignature(format!("{alg:?} does not go with this key type"))),
        }
    }
}

/// Checks an HS256 MAC (the JWS of an external account binding) in constant time.
pub fn hs256_verify(key: &[u8], signing_input: &[u8], mac: &[u8]) -> bool {
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), signing_input);
    constant_time::verify_slices_are_equal(tag.as_ref(), mac).is_ok()
}

/// Compares two byte strings in constant time.
pub fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    constant_time::verify_slices_are_equal(a, b).is_ok()
}

/// The HS256 MAC of `signing_input`.
pub fn hs256(key: &[u8], signing_input: &[u8]) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), signing_input).as_ref().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alg::{Curve, KeyAlgorithm};
    use crate::key::PrivateKey;
    use serde_json::json;

    #[test]
    fn thumbprint_matches_rfc7638_example() {
        // RFC 7638 §3.1.
        let jwk = json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB", "alg": "RS256", "kid": "2011-04-29"
        });
        let key = Jwk::from_json(&jwk).unwrap();
        assert_eq!(key.thumbprint(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    }

    #[test]
    fn jwk_of_a_certificate_key_equals_the_jwk_sent() {
        for alg in [
            KeyAlgorithm::Ecdsa(Curve::P256),
            KeyAlgorithm::Ecdsa(Curve::P384),
            KeyAlgorithm::Ed25519,
            KeyAlgorithm::Rsa(2048),
        ] {
            let key = PrivateKey::generate(alg).unwrap();
            let spki = key.public_key().unwrap();
            let jwk = Jwk::from_spki(spki.der()).unwrap();
            let parsed: Value = serde_json::from_str(&jwk.canonical_json()).unwrap();
            assert_eq!(Jwk::from_json(&parsed).unwrap(), jwk, "{alg:?}");
        }
    }

    #[test]
    fn es256_signature_verifies_and_tampering_fails() {
        use aws_lc_rs::rand::SystemRandom;
        use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
        let rng = SystemRandom::new();
        let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref()).unwrap();
        let point = pair.public_key().as_ref();
        let jwk = Jwk::Ec { curve: JwkCurve::P256, x: point[1..33].to_vec(), y: point[33..].to_vec() };
        let signature = pair.sign(&rng, b"protected.payload").unwrap();
        jwk.verify(JwsAlgorithm::Es256, b"protected.payload", signature.as_ref()).unwrap();
        assert!(jwk.verify(JwsAlgorithm::Es256, b"protected.payloaD", signature.as_ref()).is_err());
        assert!(jwk.verify(JwsAlgorithm::Es384, b"protected.payload", signature.as_ref()).is_err());
        assert!(jwk.verify(JwsAlgorithm::Rs256, b"protected.payload", signature.as_ref()).is_err());
    }

    #[test]
    fn hostile_jwks_are_refused() {
        for bad in [
            json!("a string"),
            json!({}),
            json!({"kty": "oct", "k": "AAAA"}),
            json!({"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA"}),
            json!({"kty": "EC", "crv": "P-256", "x": B64.encode([1u8; 32]), "y": B64.encode([2u8; 32])}),
            json!({"kty": "EC", "crv": "secp256k1", "x": "AA", "y": "AA"}),
            json!({"kty": "RSA", "n": B64.encode([0xffu8; 128]), "e": "AQAB"}),
            json!({"kty": "RSA", "n": B64.encode([0xffu8; 256]), "e": "AQAB", "d": "AQAB"}),
            json!({"kty": "OKP", "crv": "Ed448", "x": "AA"}),
            json!({"kty": "OKP", "crv": "Ed25519", "x": "!!"}),
        ] {
            assert!(Jwk::from_json(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hs256_checks_the_mac() {
        let mac = hs256(b"secret", b"input");
        assert!(hs256_verify(b"secret", b"input", &mac));
        assert!(!hs256_verify(b"secret", b"inpuT", &mac));
        assert!(!hs256_verify(b"other", b"input", &mac));
        assert!(!hs256_verify(b"secret", b"input", &mac[..31]));
    }
}
