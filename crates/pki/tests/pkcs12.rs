//! Oracle tests for the read side of PKCS#12 and PKCS#8: files written by `openssl pkcs12 -export` (modern,
//! `-legacy` and the other PBE and MAC choices), `openssl pkcs8 -topk8`, `openssl genrsa -traditional` and
//! `openssl ecparam -genkey` are read back to the very key and certificates openssl was given; what we encrypt is
//! opened by `openssl pkey`; wrong passwords and damaged files are told apart and never panic.

use certwright_pki::key::{PrivateKey, Signer};
use certwright_pki::{pkcs12, pkcs8, PkiError};
use std::path::Path;
use std::process::Command;

const PASSWORD: &str = "s3cret pässword";

fn openssl(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl").current_dir(dir).args(args).output().expect("openssl is installed");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

fn read(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap()
}

/// A P-256 CA and a leaf signed by it whose key is made by `key_args`; returns the leaf key's
/// SubjectPublicKeyInfo, the leaf DER and the CA DER, as openssl sees them.
fn leaf_and_ca(dir: &Path, key_args: &[&str]) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    openssl(
        dir,
        &["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
            .into_iter()
            .chain(["-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=Test CA", "-days", "10"])
            .collect::<Vec<_>>(),
    );
    let mut genkey = vec!["genpkey", "-out", "leaf.key"];
    genkey.extend_from_slice(key_args);
    openssl(dir, &genkey);
    openssl(dir, &["req", "-new", "-key", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=leaf.example.com"]);
    openssl(
        dir,
        &["x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "5"]
            .into_iter()
            .chain(["-out", "leaf.pem"])
            .collect::<Vec<_>>(),
    );
    let spki = openssl(dir, &["pkey", "-in", "leaf.key", "-pubout", "-outform", "DER"]);
    let leaf = openssl(dir, &["x509", "-in", "leaf.pem", "-outform", "DER"]);
    let ca = openssl(dir, &["x509", "-in", "ca.pem", "-outform", "DER"]);
    (spki, leaf, ca)
}

fn public_key_of(pkcs8_der: &[u8]) -> Vec<u8> {
    PrivateKey::from_pkcs8_der(pkcs8_der).unwrap().public_key_der()
}

#[test]
fn pkcs12_files_from_openssl_give_back_the_key_and_certificates_put_in() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let variants: &[(&str, &[&str], &[&str])] = &[
        ("modern", &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"], &[]),
        ("legacy", &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"], &["-legacy"]),
        (
            "3des",
            &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
            &["-keypbe", "PBE-SHA1-3DES", "-certpbe", "PBE-SHA1-3DES"],
        ),
        (
            "aes128+aes192+sha512",
            &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
            &["-keypbe", "AES-128-CBC", "-certpbe", "AES-192-CBC", "-macalg", "sha512"],
        ),
        (
            "rc2-128+2des+sha384",
            &["-algorithm", "ED25519"],
            &["-legacy", "-keypbe", "PBE-SHA1-RC2-128", "-certpbe", "PBE-SHA1-2DES", "-macalg", "sha384"],
        ),
        (
            "unencrypted bags",
            &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-521"],
            &["-keypbe", "NONE", "-certpbe", "NONE"],
        ),
        ("no mac", &["-algorithm", "ED25519"], &["-nomac"]),
        ("mac without iterations", &["-algorithm", "ED25519"], &["-nomaciter", "-legacy"]),
    ];
    for (name, key_args, pkcs12_args) in variants {
        let (spki, leaf, ca) = leaf_and_ca(d, key_args);
        let pass = format!("pass:{PASSWORD}");
        let mut args =
            vec!["pkcs12", "-export", "-inkey", "leaf.key", "-in", "leaf.pem", "-certfile", "ca.pem", "-name"];
        args.extend_from_slice(&["my alias", "-passout", &pass, "-out", "f.p12"]);
        args.extend_from_slice(pkcs12_args);
        openssl(d, &args);
        let file = read(d, "f.p12");
        assert!(pkcs12::is_pkcs12(&file), "{name}");

        let contents = pkcs12::parse(&file, PASSWORD).unwrap_or_else(|e| panic!("{name}: {e}"));
        let key = contents.private_key.as_ref().unwrap_or_else(|| panic!("{name}: no key"));
        assert_eq!(public_key_of(key), spki, "{name}: the key openssl was given");
        assert_eq!(contents.certificates, vec![leaf.clone(), ca.clone()], "{name}: leaf first, then the chain");
        assert_eq!(contents.friendly_name.as_deref(), Some("my alias"), "{name}");
        if *name != "no mac" {
            assert_eq!(pkcs12::parse(&file, "wrong").unwrap_err(), PkiError::WrongPassword, "{name}");
        } else {
            assert!(pkcs12::parse(&file, "wrong").is_err(), "{name}");
        }
    }
}

#[test]
fn certificate_only_and_empty_password_files_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (spki, leaf, ca) = leaf_and_ca(d, &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]);
    // The chain first in the file: the leaf is found by its key, not by its place.
    std::fs::write(d.join("both.pem"), [read(d, "ca.pem"), read(d, "leaf.pem")].concat()).unwrap();
    openssl(d, &["pkcs12", "-export", "-inkey", "leaf.key", "-in", "both.pem", "-passout", "pass:", "-out", "e.p12"]);
    let contents = pkcs12::parse(&read(d, "e.p12"), "").unwrap();
    assert_eq!(public_key_of(contents.private_key.as_ref().unwrap()), spki);
    assert_eq!(contents.certificates[0], leaf);
    assert_eq!(contents.certificates.len(), 2);
    assert_eq!(pkcs12::parse(&read(d, "e.p12"), "x").unwrap_err(), PkiError::WrongPassword);

    openssl(d, &["pkcs12", "-export", "-nokeys", "-in", "ca.pem", "-passout", "pass:pw", "-out", "c.p12"]);
    let contents = pkcs12::parse(&read(d, "c.p12"), "pw").unwrap();
    assert!(contents.private_key.is_none());
    assert_eq!(contents.certificates, vec![ca]);
}

#[test]
fn our_export_round_trips_through_our_reader() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (_, leaf, ca) = leaf_and_ca(d, &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]);
    let key = pkcs8::private_key_from_pem_or_der(&read(d, "leaf.key"), None).unwrap();
    let file = pkcs12::export(&key, &[leaf.clone(), ca.clone()], PASSWORD, Some("round trip")).unwrap();
    let contents = pkcs12::parse(&file, PASSWORD).unwrap();
    assert_eq!(contents.private_key.as_deref(), Some(&*key));
    assert_eq!(contents.certificates, vec![leaf, ca]);
    assert_eq!(contents.friendly_name.as_deref(), Some("round trip"));
    assert_eq!(pkcs12::parse(&file, "s3cret password").unwrap_err(), PkiError::WrongPassword);
}

/// The contents of the DER element at the start of `input`, and the octets after it.
fn contents(input: &[u8]) -> (&[u8], &[u8]) {
    let first = input[1] as usize;
    let (start, len) = if first < 0x80 {
        (2, first)
    } else {
        let n = first & 0x7f;
        (2 + n, input[2..2 + n].iter().fold(0, |acc, b| (acc << 8) | *b as usize))
    };
    (&input[start..start + len], &input[start + len..])
}

/// The whole encodings of the DER elements that make up `input`.
fn children(mut input: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while !input.is_empty() {
        let (_, rest) = contents(input);
        out.push(&input[..input.len() - rest.len()]);
        input = rest;
    }
    out
}

fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let len = (content.len() as u32).to_be_bytes();
    [&[tag, 0x84][..], &len, content].concat()
}

/// Re-encodes a DER PKCS#12 file the way BER writers do: indefinite lengths on the PFX and authSafe, and the
/// authSafe's OCTET STRING split in two constructed parts. The MAC still holds: it covers the octets only.
fn as_ber(file: &[u8]) -> Vec<u8> {
    let pfx = children(contents(file).0);
    let (version, auth_safe, mac_data) = (pfx[0], pfx[1], pfx[2]);
    let info = children(contents(auth_safe).0);
    let octets = contents(contents(info[1]).0).0;
    let (a, b) = octets.split_at(octets.len() / 2);
    let inner = [&[0x24, 0x80][..], &der(0x04, a), &der(0x04, b), &[0, 0]].concat();
    let auth_safe = [&[0x30, 0x80][..], info[0], &[0xa0, 0x80], &inner, &[0, 0, 0, 0]].concat();
    [&[0x30, 0x80][..], version, &auth_safe, mac_data, &[0, 0]].concat()
}

/// The file with its MAC iteration count replaced by `count` (DER INTEGER contents).
fn with_mac_iterations(file: &[u8], count: &[u8]) -> Vec<u8> {
    let pfx = children(contents(file).0);
    let mac = children(contents(pfx[2]).0);
    let mac_data = der(0x30, &[mac[0], mac[1], &der(0x02, count)].concat());
    der(0x30, &[pfx[0], pfx[1], &mac_data].concat())
}

#[test]
fn ber_encoded_files_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (spki, leaf, _) = leaf_and_ca(d, &["-algorithm", "ED25519"]);
    openssl(
        d,
        &["pkcs12", "-export", "-legacy", "-inkey", "leaf.key", "-in", "leaf.pem", "-passout", "pass:pw"]
            .into_iter()
            .chain(["-out", "f.p12"])
            .collect::<Vec<_>>(),
    );
    let ber = as_ber(&read(d, "f.p12"));
    assert!(pkcs12::is_pkcs12(&ber));
    let contents = pkcs12::parse(&ber, "pw").unwrap();
    assert_eq!(public_key_of(contents.private_key.as_ref().unwrap()), spki);
    assert_eq!(contents.certificates, vec![leaf]);
    // openssl agrees that this is still the same, valid file.
    std::fs::write(d.join("ber.p12"), &ber).unwrap();
    openssl(d, &["pkcs12", "-in", "ber.p12", "-passin", "pass:pw", "-legacy", "-noout"]);
}

#[test]
fn damaged_and_hostile_files_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    leaf_and_ca(d, &["-algorithm", "ED25519"]);
    openssl(d, &["pkcs12", "-export", "-inkey", "leaf.key", "-in", "leaf.pem", "-passout", "pass:pw", "-out", "f.p12"]);
    let file = read(d, "f.p12");
    for len in 0..file.len() {
        assert!(pkcs12::parse(&file[..len], "pw").is_err(), "truncated to {len}");
    }
    for i in 0..file.len() {
        let mut damaged = file.clone();
        damaged[i] ^= 0x01;
        assert!(pkcs12::parse(&damaged, "pw").is_err(), "bit flipped at {i}");
    }
    for garbage in [&b""[..], b"garbage", &[0x30, 0x80], &[0x30, 0x03, 0x02, 0x01, 0x03], &[0xff; 64]] {
        assert!(pkcs12::parse(garbage, "pw").is_err());
    }
    assert!(matches!(pkcs12::parse(&vec![0x30; 2 * 1024 * 1024], "pw"), Err(PkiError::InvalidPkcs12(_))));

    // Iteration counts beyond the cap are refused before any work is done; the re-encoding itself is sound.
    assert!(pkcs12::parse(&with_mac_iterations(&file, &[0x08, 0x00]), "pw").is_ok());
    for count in [&[0x7f, 0xff, 0xff, 0xff][..], &[0x00, 0x98, 0x96, 0x81], &[0x00]] {
        let hostile = with_mac_iterations(&file, count);
        assert!(matches!(pkcs12::parse(&hostile, "pw"), Err(PkiError::Unsupported(_))), "{count:02x?}");
    }
}

#[test]
fn encrypted_pkcs8_from_openssl_is_decrypted() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    openssl(d, &["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "k.pem"]);
    let plain = openssl(d, &["pkcs8", "-topk8", "-nocrypt", "-in", "k.pem", "-outform", "DER"]);
    let legacy: &[&str] = &["-provider", "legacy", "-provider", "default"];
    let variants: &[&[&str]] = &[
        &["-v2", "aes-256-cbc"],
        &["-v2", "aes-256-cbc", "-v2prf", "hmacWithSHA1"],
        &["-v2", "aes-128-cbc", "-v2prf", "hmacWithSHA512"],
        &["-v2", "aes-192-cbc", "-v2prf", "hmacWithSHA384", "-iter", "100000"],
        &["-v2", "des3"],
        &["-v1", "PBE-SHA1-3DES"],
        &["-v1", "PBE-SHA1-2DES"],
        &["-v1", "PBE-SHA1-RC2-40"],
        &["-v1", "PBE-SHA1-RC2-128"],
        &["-v1", "PBE-SHA1-DES"],
        &["-v1", "PBE-SHA1-RC2-64"],
        &["-v2", "aes-256-cbc", "-outform", "DER"],
    ];
    let pass = format!("pass:{PASSWORD}");
    for variant in variants {
        let mut args = vec!["pkcs8", "-topk8", "-in", "k.pem", "-out", "enc", "-passout", &pass];
        args.extend_from_slice(variant);
        args.extend_from_slice(legacy);
        openssl(d, &args);
        let encrypted = read(d, "enc");
        let key = pkcs8::private_key_from_pem_or_der(&encrypted, Some(PASSWORD))
            .unwrap_or_else(|e| panic!("{variant:?}: {e}"));
        assert_eq!(*key, plain, "{variant:?}");
        assert_eq!(
            pkcs8::private_key_from_pem_or_der(&encrypted, Some("wrong")).unwrap_err(),
            PkiError::WrongPassword,
            "{variant:?}"
        );
        assert_eq!(pkcs8::private_key_from_pem_or_der(&encrypted, None).unwrap_err(), PkiError::PasswordRequired);
    }
}

#[test]
fn our_encrypted_pkcs8_is_opened_by_openssl() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    openssl(d, &["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "k.pem"]);
    let key = pkcs8::private_key_from_pem_or_der(&read(d, "k.pem"), None).unwrap();
    let encrypted = pkcs8::encrypt(&key, PASSWORD).unwrap();
    std::fs::write(d.join("enc.pem"), certwright_pki::pem::encode("ENCRYPTED PRIVATE KEY", &encrypted)).unwrap();
    let pass = format!("pass:{PASSWORD}");
    let theirs = openssl(d, &["pkey", "-in", "enc.pem", "-passin", &pass, "-pubout", "-outform", "DER"]);
    assert_eq!(theirs, public_key_of(&key));
    let text = String::from_utf8(openssl(d, &["asn1parse", "-in", "enc.pem"])).unwrap();
    assert!(text.contains("PBES2") && text.contains("hmacWithSHA256") && text.contains("aes-256-cbc"), "{text}");
    let wrong = Command::new("openssl")
        .current_dir(d)
        .args(["pkey", "-in", "enc.pem", "-passin", "pass:wrong", "-noout"])
        .output()
        .unwrap();
    assert!(!wrong.status.success());
}

#[test]
fn traditional_keys_are_converted_to_pkcs8() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    openssl(d, &["genrsa", "-traditional", "-out", "rsa.pem", "2048"]);
    openssl(d, &["ecparam", "-genkey", "-name", "prime256v1", "-out", "p256.pem"]);
    openssl(d, &["ecparam", "-genkey", "-name", "secp384r1", "-noout", "-out", "p384.pem"]);
    openssl(d, &["ec", "-in", "p256.pem", "-outform", "DER", "-out", "p256.der"]);
    openssl(d, &["rsa", "-in", "rsa.pem", "-traditional", "-outform", "DER", "-out", "rsa.der"]);
    for (file, label) in [
        ("rsa.pem", "RSA PRIVATE KEY"),
        ("p256.pem", "EC PRIVATE KEY"),
        ("p384.pem", "EC PRIVATE KEY"),
        ("p256.der", ""),
        ("rsa.der", ""),
    ] {
        let input = read(d, file);
        if !label.is_empty() {
            assert!(String::from_utf8_lossy(&input).contains(&format!("BEGIN {label}")), "{file}");
        }
        let key = pkcs8::private_key_from_pem_or_der(&input, None).unwrap_or_else(|e| panic!("{file}: {e}"));
        let spki = openssl(d, &["pkey", "-in", file, "-pubout", "-outform", "DER"]);
        assert_eq!(public_key_of(&key), spki, "{file}");
    }

    openssl(d, &["genrsa", "-traditional", "-aes256", "-passout", "pass:pw", "-out", "old.pem", "2048"]);
    let err = pkcs8::private_key_from_pem_or_der(&read(d, "old.pem"), Some("pw")).unwrap_err();
    assert!(matches!(&err, PkiError::Unsupported(m) if m.contains("openssl pkcs8 -topk8")), "{err}");
}
