//! ML-DSA (FIPS 204) checked against published test vectors: signature verification from Wycheproof, key
//! generation from NIST's ACVP server, and a three-level ML-DSA-65 chain verified link by link.

use aws_lc_rs::signature::{self as sig, KeyPair, PqdsaKeyPair};
use certwright_pki::alg::{oid, KeyAlgorithm, MlDsaLevel, SignatureAlgorithm};
use certwright_pki::cert::{self, Cert, Extensions, Issuer, Template, Usage};
use certwright_pki::key::{PrivateKey, PublicKey, PublicKeyKind, Signer};
use certwright_pki::names::{common_name, parse_dn, San};
use der::asn1::BitString;
use der::Encode;
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use std::path::Path;
use std::process::Command;

const NOW: i64 = 1_790_000_000;
const DAY: i64 = 86_400;

/// One `[section]` of a vector file: its header fields, then its records (blank-line separated `key = value` lines).
struct Section {
    name: String,
    header: Vec<(String, String)>,
    records: Vec<Vec<(String, String)>>,
}

fn field<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// Reads a vector file: `[name]` starts a section; a block of lines holding `tcId` is a record, any other block
/// before the first record is the section's header.
fn read_vectors(file: &str) -> Vec<Section> {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors").join(file))
        .expect("vector file is present");
    let mut sections: Vec<Section> = Vec::new();
    let mut block: Vec<(String, String)> = Vec::new();
    let flush = |block: &mut Vec<(String, String)>, sections: &mut Vec<Section>| {
        if block.is_empty() {
            return;
        }
        let section = sections.last_mut().expect("a [section] comes first");
        if field(block, "tcId").is_some() {
            section.records.push(std::mem::take(block));
        } else {
            section.header.append(block);
        }
    };
    for line in text.lines().map(str::trim) {
        if line.starts_with('#') {
            continue;
        }
        if line.is_empty() {
            flush(&mut block, &mut sections);
        } else if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            flush(&mut block, &mut sections);
            sections.push(Section { name: name.to_owned(), header: Vec::new(), records: Vec::new() });
        } else {
            let (k, v) = line.split_once('=').expect("key = value");
            block.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    flush(&mut block, &mut sections);
    sections
}

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex length");
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex")).collect()
}

fn level(parameter_set: &str) -> MlDsaLevel {
    match parameter_set {
        "ML-DSA-44" => MlDsaLevel::MlDsa44,
        "ML-DSA-65" => MlDsaLevel::MlDsa65,
        "ML-DSA-87" => MlDsaLevel::MlDsa87,
        other => panic!("unknown parameter set {other}"),
    }
}

/// The raw ML-DSA public key wrapped as SubjectPublicKeyInfo with the FIPS 204 / RFC 9881 algorithm identifier
/// (OID only, no parameters).
fn spki(level: MlDsaLevel, raw: &[u8]) -> Vec<u8> {
    let algorithm_oid = match level {
        MlDsaLevel::MlDsa44 => oid::ML_DSA_44,
        MlDsaLevel::MlDsa65 => oid::ML_DSA_65,
        MlDsaLevel::MlDsa87 => oid::ML_DSA_87,
    };
    SubjectPublicKeyInfoOwned {
        algorithm: AlgorithmIdentifierOwned { oid: algorithm_oid, parameters: None },
        subject_public_key: BitString::from_bytes(raw).unwrap(),
    }
    .to_der()
    .unwrap()
}

fn signing(level: MlDsaLevel) -> &'static sig::PqdsaSigningAlgorithm {
    match level {
        MlDsaLevel::MlDsa44 => &sig::ML_DSA_44_SIGNING,
        MlDsaLevel::MlDsa65 => &sig::ML_DSA_65_SIGNING,
        MlDsaLevel::MlDsa87 => &sig::ML_DSA_87_SIGNING,
    }
}

#[test]
fn wycheproof_signatures_are_accepted_or_rejected_as_the_vectors_say() {
    let sections = read_vectors("mldsa_verify_wycheproof.txt");
    assert_eq!(sections.len(), 3, "one section per parameter set");
    let (mut valid, mut invalid) = (0, 0);
    for section in &sections {
        let level = level(&section.name);
        let raw = unhex(field(&section.header, "publicKey").expect("publicKey"));
        let der = spki(level, &raw);
        let key = PublicKey::from_der(&der).unwrap();
        assert_eq!(key.kind, PublicKeyKind::MlDsa(level));
        let alg = SignatureAlgorithm::MlDsa(level);
        for t in &section.records {
            let tc = field(t, "tcId").unwrap();
            // aws-lc verifies pure ML-DSA with the empty context; the subset holds no other kind.
            assert!(field(t, "ctx").unwrap_or("").is_empty(), "{} tcId {tc} has a context", section.name);
            let msg = unhex(field(t, "msg").unwrap());
            let signature = unhex(field(t, "sig").unwrap());
            let outcome = key.verify(alg, &msg, &signature);
            match field(t, "result").unwrap() {
                "valid" => {
                    assert!(
                        outcome.is_ok(),
                        "{} tcId {tc} ({}) must verify",
                        section.name,
                        field(t, "comment").unwrap()
                    );
                    valid += 1;
                }
                "invalid" => {
                    assert!(
                        outcome.is_err(),
                        "{} tcId {tc} ({}) must fail",
                        section.name,
                        field(t, "comment").unwrap()
                    );
                    invalid += 1;
                }
                other => panic!("unexpected result {other}"),
            }
        }
        // The message is part of what is signed.
        let baseline = section.records.iter().find(|t| field(t, "tcId") == Some("1")).expect("baseline");
        let mut msg = unhex(field(baseline, "msg").unwrap());
        msg[0] ^= 0x20;
        assert!(key.verify(alg, &msg, &unhex(field(baseline, "sig").unwrap())).is_err(), "{}", section.name);
        // A signature of another parameter set's algorithm is refused before any arithmetic.
        let other = SignatureAlgorithm::MlDsa(if level == MlDsaLevel::MlDsa65 {
            MlDsaLevel::MlDsa44
        } else {
            MlDsaLevel::MlDsa65
        });
        assert!(key.verify(other, &msg, &unhex(field(baseline, "sig").unwrap())).is_err());
    }
    assert_eq!((valid, invalid), (6, 11), "every vector was checked");
}

#[test]
fn acvp_key_generation_from_seed_gives_the_expected_public_key() {
    let sections = read_vectors("mldsa_keygen_acvp.txt");
    assert_eq!(sections.len(), 3);
    for section in &sections {
        let level = level(&section.name);
        let [t] = section.records.as_slice() else { panic!("one keyGen case per parameter set") };
        let seed = unhex(field(t, "seed").unwrap());
        let expected = unhex(field(t, "pk").unwrap());
        let pair = PqdsaKeyPair::from_seed(signing(level), &seed).unwrap();
        assert_eq!(
            pair.public_key().as_ref(),
            expected.as_slice(),
            "{} tcId {}",
            section.name,
            field(t, "tcId").unwrap()
        );

        // The same key through the engine: PKCS#8 from aws-lc, read by `PrivateKey`, gives the SPKI built from
        // the vector's raw key, and what it signs verifies under that SPKI.
        let pkcs8 = pair.to_pkcs8v1().unwrap();
        let key = PrivateKey::from_pkcs8_der(pkcs8.as_ref()).unwrap();
        assert_eq!(key.algorithm(), KeyAlgorithm::MlDsa(level));
        assert_eq!(key.public_key_der(), spki(level, &expected), "{}", section.name);
        let public = PublicKey::from_der(&spki(level, &expected)).unwrap();
        let signature = key.sign(b"certwright").unwrap();
        public.verify(key.signature_algorithm(), b"certwright", &signature).unwrap();
    }
}

struct Ca {
    key: PrivateKey,
    cert: Cert,
}

fn ca(alg: KeyAlgorithm, name: &str, parent: Option<&Ca>, path_len: Option<u8>) -> Ca {
    let key = PrivateKey::generate(alg).unwrap();
    let subject = parse_dn(&format!("CN={name},O=certwright tests")).unwrap();
    let t = Template {
        serial: cert::random_serial().unwrap(),
        subject: subject.clone(),
        public_key_der: key.public_key_der(),
        not_before: NOW - DAY,
        not_after: NOW + 3650 * DAY,
        extensions: Extensions {
            ca: Some(path_len),
            key_usage: vec![Usage::KeyCertSign, Usage::CrlSign],
            ..Default::default()
        },
    };
    let cert = match parent {
        None => {
            let ski = key.public_key().unwrap().key_identifier().unwrap();
            cert::issue(&t, &Issuer { name: &subject, key_identifier: &ski, signer: &key }).unwrap()
        }
        Some(p) => {
            let ski = p.cert.key_identifier().unwrap();
            cert::issue(&t, &Issuer { name: p.cert.subject(), key_identifier: &ski, signer: &p.key }).unwrap()
        }
    };
    Ca { key, cert }
}

#[test]
fn a_three_level_ml_dsa_65_chain_verifies_link_by_link_and_tampering_breaks_it() {
    let alg = KeyAlgorithm::MlDsa(MlDsaLevel::MlDsa65);
    let root = ca(alg, "ML-DSA Root", None, None);
    let issuing = ca(alg, "ML-DSA Issuing", Some(&root), Some(0));
    let leaf_key = PrivateKey::generate(alg).unwrap();
    let t = Template {
        serial: cert::random_serial().unwrap(),
        subject: common_name("pq.example.com").unwrap(),
        public_key_der: leaf_key.public_key_der(),
        not_before: NOW - 60,
        not_after: NOW + 90 * DAY,
        extensions: Extensions {
            key_usage: vec![Usage::DigitalSignature],
            sans: vec![San::Dns("pq.example.com".into())],
            ..Default::default()
        },
    };
    let ski = issuing.cert.key_identifier().unwrap();
    let leaf =
        cert::issue(&t, &Issuer { name: issuing.cert.subject(), key_identifier: &ski, signer: &issuing.key }).unwrap();

    let ml_dsa_65 = SignatureAlgorithm::MlDsa(MlDsaLevel::MlDsa65);
    for (child, parent) in [(&root.cert, &root.cert), (&issuing.cert, &root.cert), (&leaf, &issuing.cert)] {
        assert_eq!(child.signature_algorithm().unwrap(), ml_dsa_65);
        assert_eq!(child.issuer(), parent.subject());
        child.verify_signed_by(&parent.public_key().unwrap()).unwrap();
    }
    // Links do not verify out of order.
    assert!(leaf.verify_signed_by(&root.cert.public_key().unwrap()).is_err());
    assert!(issuing.cert.verify_signed_by(&issuing.cert.public_key().unwrap()).is_err());

    // One flipped bit anywhere in the signed part, or in the signature, is caught.
    let der = leaf.der().to_vec();
    let at = der.windows(14).position(|w| w == b"pq.example.com").unwrap();
    let mut tampered = der.clone();
    tampered[at] ^= 0x01;
    let tampered = Cert::from_der(&tampered).unwrap();
    assert_eq!(tampered.common_name().as_deref(), Some("qq.example.com"));
    assert!(tampered.verify_signed_by(&issuing.cert.public_key().unwrap()).is_err());
    let mut bad_signature = der.clone();
    let last = bad_signature.len() - 1;
    bad_signature[last] ^= 0x80;
    assert!(Cert::from_der(&bad_signature).unwrap().verify_signed_by(&issuing.cert.public_key().unwrap()).is_err());

    // openssl 3.0 cannot verify ML-DSA, but it reads the DER we wrote, names and extensions included.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("leaf.der"), leaf.der()).unwrap();
    let out = Command::new("openssl")
        .current_dir(dir.path())
        .args(["x509", "-inform", "DER", "-in", "leaf.der", "-noout", "-subject", "-issuer", "-ext", "subjectAltName"])
        .output()
        .expect("openssl is installed");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("subject=CN = pq.example.com"), "{text}");
    assert!(text.contains("issuer=O = certwright tests, CN = ML-DSA Issuing"), "{text}");
    assert!(text.contains("DNS:pq.example.com"), "{text}");
}
