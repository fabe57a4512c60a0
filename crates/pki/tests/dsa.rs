//! Oracle tests for DSA: requests and certificates signed by `openssl` with DSA keys are verified by our verifier,
//! and the same objects with one signature byte changed are refused.

use certwright_pki::alg::{Digest, SignatureAlgorithm};
use certwright_pki::cert::Cert;
use certwright_pki::csr::Csr;
use certwright_pki::key::PublicKeyKind;
use std::path::Path;
use std::process::Command;

fn openssl(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("openssl").current_dir(dir).args(args).output().expect("openssl is installed");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "openssl {args:?}: {text}");
    text
}

/// A DSA CSR as DER, made by `openssl req` with fresh `bits`-bit parameters and the given digest.
fn dsa_csr(dir: &Path, bits: u32, digest: &str) -> Vec<u8> {
    let params = format!("dsa{bits}.params");
    if !dir.join(&params).exists() {
        openssl(dir, &["dsaparam", "-out", &params, &bits.to_string()]);
    }
    let name = format!("dsa{bits}-{digest}");
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-newkey",
            &format!("dsa:{params}"),
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            &format!("-{digest}"),
            "-subj",
            "/CN=dsa.example.com/O=Example",
            "-addext",
            "subjectAltName=DNS:dsa.example.com",
            "-outform",
            "DER",
            "-out",
            &format!("{name}.der"),
        ],
    );
    std::fs::read(dir.join(format!("{name}.der"))).unwrap()
}

fn flip_last_byte(der: &[u8]) -> Vec<u8> {
    // The request ends with the signature BIT STRING, whose last octet is the low byte of s.
    let mut tampered = der.to_vec();
    *tampered.last_mut().unwrap() ^= 0x01;
    tampered
}

#[test]
fn an_openssl_dsa_2048_sha256_request_verifies_and_a_flipped_signature_byte_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let der = dsa_csr(dir.path(), 2048, "sha256");
    let csr = Csr::parse(&der).unwrap();
    assert_eq!(csr.signature_algorithm, SignatureAlgorithm::Dsa(Digest::Sha256));
    assert_eq!(csr.signature_algorithm.name(), "dsa-sha256");
    assert_eq!(csr.public_key.kind, PublicKeyKind::Dsa { bits: 2048 });
    assert_eq!(csr.common_name().as_deref(), Some("dsa.example.com"));

    let err = Csr::parse(&flip_last_byte(&der)).unwrap_err();
    assert!(err.to_string().contains("does not verify"), "{err}");

    // The same signature read as if made with another digest does not verify either.
    let req = <x509_cert::request::CertReq as der::Decode>::from_der(&der).unwrap();
    let info = der::Encode::to_der(&req.info).unwrap();
    let signature = req.signature.as_bytes().unwrap();
    csr.public_key.verify(SignatureAlgorithm::Dsa(Digest::Sha256), &info, signature).unwrap();
    assert!(csr.public_key.verify(SignatureAlgorithm::Dsa(Digest::Sha512), &info, signature).is_err());
    assert!(csr.public_key.verify(SignatureAlgorithm::Ecdsa(Digest::Sha256), &info, signature).is_err());
}

#[test]
fn an_openssl_dsa_1024_sha1_request_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let der = dsa_csr(dir.path(), 1024, "sha1");
    let csr = Csr::parse(&der).unwrap();
    assert_eq!(csr.signature_algorithm, SignatureAlgorithm::Dsa(Digest::Sha1));
    assert_eq!(csr.public_key.kind, PublicKeyKind::Dsa { bits: 1024 });
    assert!(Csr::parse(&flip_last_byte(&der)).is_err());

    // A 160-bit q with SHA-256: the digest is cut to its leftmost 160 bits (FIPS 186-4 §4.6).
    let der = dsa_csr(dir.path(), 1024, "sha256");
    assert_eq!(Csr::parse(&der).unwrap().signature_algorithm, SignatureAlgorithm::Dsa(Digest::Sha256));
}

#[test]
fn an_openssl_dsa_3072_request_and_a_self_signed_dsa_certificate_verify() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let der = dsa_csr(d, 3072, "sha256");
    assert_eq!(Csr::parse(&der).unwrap().public_key.kind, PublicKeyKind::Dsa { bits: 3072 });

    openssl(
        d,
        &[
            "req",
            "-x509",
            "-key",
            "dsa3072-sha256.key",
            "-sha256",
            "-subj",
            "/CN=DSA Root",
            "-days",
            "30",
            "-outform",
            "DER",
            "-out",
            "root.der",
        ],
    );
    let root = Cert::from_der(&std::fs::read(d.join("root.der")).unwrap()).unwrap();
    assert_eq!(root.signature_algorithm().unwrap(), SignatureAlgorithm::Dsa(Digest::Sha256));
    root.verify_signed_by(&root.public_key().unwrap()).unwrap();
    let tampered = Cert::from_der(&flip_last_byte(root.der())).unwrap();
    assert!(tampered.verify_signed_by(&root.public_key().unwrap()).is_err());
}

#[test]
fn malformed_dsa_signatures_are_refused_without_panicking() {
    let dir = tempfile::tempdir().unwrap();
    let der = dsa_csr(dir.path(), 1024, "sha256");
    let key = Csr::parse(&der).unwrap().public_key;
    let alg = SignatureAlgorithm::Dsa(Digest::Sha256);
    // r = 0, s = 1; r = s = q-sized garbage; not DER at all; trailing bytes.
    for signature in [
        &[0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x01][..],
        &[0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01],
        &[0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0xff],
        b"",
        b"\x30\x80",
        &[0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01, 0x00],
    ] {
        assert!(key.verify(alg, b"message", signature).is_err(), "{signature:?}");
    }
}
