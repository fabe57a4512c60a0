//! Oracle tests: certificates and chains we build are checked by `openssl verify` and `openssl x509`, and CSRs
//! made by `openssl req` are read by our parser.

mod common;

use certwright_pki::alg::KeyAlgorithm;
use certwright_pki::cert::{self, Cert, Eku, Extensions, Issuer, Template, Usage};
use certwright_pki::csr::Csr;
use certwright_pki::key::{PrivateKey, Signer};
use certwright_pki::names::{common_name, parse_dn, San};
use common::{openssl, self_signed_ca, DAY};
use std::path::Path;

const NOW: i64 = 1_790_000_000;

struct Ca {
    key: PrivateKey,
    cert: Cert,
}

fn root(alg: KeyAlgorithm) -> Ca {
    let key = PrivateKey::generate(alg).unwrap();
    let subject = format!("CN=Test Root {},O=certwright tests", alg.name());
    let cert = self_signed_ca(&key, &subject, NOW - DAY, NOW + 3650 * DAY, vec![Usage::KeyCertSign, Usage::CrlSign]);
    Ca { key, cert }
}

fn sub_ca(parent: &Ca, alg: KeyAlgorithm) -> Ca {
    let key = PrivateKey::generate(alg).unwrap();
    let t = Template {
        serial: cert::random_serial().unwrap(),
        subject: parse_dn(&format!("CN=Test Issuing {},O=certwright tests", alg.name())).unwrap(),
        public_key_der: key.public_key_der(),
        not_before: NOW - DAY,
        not_after: NOW + 1825 * DAY,
        extensions: Extensions {
            ca: Some(Some(0)),
            key_usage: vec![Usage::KeyCertSign, Usage::CrlSign, Usage::DigitalSignature],
            ocsp_urls: vec!["http://127.0.0.1:8080/ocsp".into()],
            ca_issuers_urls: vec!["http://127.0.0.1:8080/ca/root.crt".into()],
            crl_urls: vec!["http://127.0.0.1:8080/crl/root.crl".into()],
            permitted_dns: vec!["example.com".into(), "example.net".into()],
            ..Default::default()
        },
    };
    let ski = parent.cert.key_identifier().unwrap();
    let issuer = Issuer { name: parent.cert.subject(), key_identifier: &ski, signer: &parent.key };
    Ca { key, cert: cert::issue(&t, &issuer).unwrap() }
}

fn leaf_from_csr(ca: &Ca, csr: &Csr) -> Cert {
    let t = Template {
        serial: cert::random_serial().unwrap(),
        subject: csr.subject.clone(),
        public_key_der: csr.public_key.der().to_vec(),
        not_before: NOW - 60,
        not_after: NOW + 90 * DAY,
        extensions: Extensions {
            key_usage: vec![Usage::DigitalSignature, Usage::KeyEncipherment],
            extended_key_usage: vec![Eku::ServerAuth, Eku::ClientAuth],
            sans: csr.sans.clone(),
            ocsp_urls: vec!["http://127.0.0.1:8080/ocsp".into()],
            crl_urls: vec!["http://127.0.0.1:8080/crl/issuing.crl".into()],
            policies: vec!["2.23.140.1.2.1".parse().unwrap()],
            ..Default::default()
        },
    };
    let ski = ca.cert.key_identifier().unwrap();
    cert::issue(&t, &Issuer { name: ca.cert.subject(), key_identifier: &ski, signer: &ca.key }).unwrap()
}

/// `openssl req` key options for each CSR key type.
const CSR_KEYS: &[(&str, &[&str])] = &[
    ("rsa2048", &["-newkey", "rsa:2048"]),
    ("ecp256", &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]),
    ("ecp384", &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"]),
    ("ed25519", &["-newkey", "ed25519"]),
];

fn openssl_csr(dir: &Path, name: &str, key_args: &[&str]) -> Vec<u8> {
    let csr = format!("{name}.csr");
    let key = format!("{name}.key");
    let mut args = vec!["req", "-new", "-nodes", "-keyout", &key, "-out", &csr];
    args.extend_from_slice(key_args);
    args.extend_from_slice(&[
        "-subj",
        "/CN=www.example.com/O=Example",
        "-addext",
        "subjectAltName=DNS:www.example.com,DNS:api.example.net,IP:192.0.2.10,email:ops@example.com",
    ]);
    let (ok, text) = openssl(dir, &args);
    assert!(ok, "openssl req: {text}");
    std::fs::read(dir.join(csr)).unwrap()
}

#[test]
fn chains_for_every_ca_key_type_pass_openssl_verify_with_openssl_made_csrs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let csrs: Vec<(&str, Csr)> = CSR_KEYS
        .iter()
        .map(|(name, args)| {
            let csr = Csr::parse(&openssl_csr(d, name, args)).unwrap();
            assert_eq!(csr.common_name().as_deref(), Some("www.example.com"));
            assert_eq!(
                csr.sans,
                vec![
                    San::Dns("www.example.com".into()),
                    San::Dns("api.example.net".into()),
                    San::Ip("192.0.2.10".parse().unwrap()),
                    San::Email("ops@example.com".into()),
                ]
            );
            (*name, csr)
        })
        .collect();

    let ca_algs = [
        KeyAlgorithm::Ecdsa(certwright_pki::alg::Curve::P256),
        KeyAlgorithm::Ecdsa(certwright_pki::alg::Curve::P384),
        KeyAlgorithm::Ecdsa(certwright_pki::alg::Curve::P521),
        KeyAlgorithm::Rsa(2048),
        KeyAlgorithm::Rsa(3072),
        KeyAlgorithm::Ed25519,
    ];
    for alg in ca_algs {
        let root = root(alg);
        let issuing = sub_ca(&root, alg);
        issuing.cert.verify_signed_by(&root.cert.public_key().unwrap()).unwrap();
        std::fs::write(d.join("root.pem"), root.cert.to_pem()).unwrap();
        std::fs::write(d.join("issuing.pem"), issuing.cert.to_pem()).unwrap();
        for (name, csr) in &csrs {
            let leaf = leaf_from_csr(&issuing, csr);
            leaf.verify_signed_by(&issuing.cert.public_key().unwrap()).unwrap();
            let file = format!("leaf-{name}.pem");
            std::fs::write(d.join(&file), leaf.to_pem()).unwrap();
            let when = (NOW + DAY).to_string();
            let (ok, text) = openssl(
                d,
                &[
                    "verify",
                    "-attime",
                    &when,
                    "-purpose",
                    "sslserver",
                    "-CAfile",
                    "root.pem",
                    "-untrusted",
                    "issuing.pem",
                    &file,
                ],
            );
            assert!(ok && text.contains(": OK"), "{} CA, {name} leaf: {text}", alg.name());
        }
        let (ok, text) = openssl(d, &["x509", "-in", "issuing.pem", "-noout", "-text"]);
        assert!(ok, "{text}");
        for expected in [
            "CA:TRUE, pathlen:0",
            "Certificate Sign, CRL Sign",
            "OCSP - URI:http://127.0.0.1:8080/ocsp",
            "CA Issuers - URI:http://127.0.0.1:8080/ca/root.crt",
            "URI:http://127.0.0.1:8080/crl/root.crl",
            "X509v3 Name Constraints: critical",
            "DNS:example.com",
            "X509v3 Subject Key Identifier",
            "X509v3 Authority Key Identifier",
        ] {
            assert!(text.contains(expected), "{} issuing CA lacks '{expected}':\n{text}", alg.name());
        }
    }
    let (ok, text) = openssl(d, &["x509", "-in", "leaf-ecp256.pem", "-noout", "-text"]);
    assert!(ok);
    for expected in [
        "Digital Signature, Key Encipherment",
        "TLS Web Server Authentication, TLS Web Client Authentication",
        "DNS:www.example.com, DNS:api.example.net, IP Address:192.0.2.10, email:ops@example.com",
        "Policy: 2.23.140.1.2.1",
    ] {
        assert!(text.contains(expected), "leaf lacks '{expected}':\n{text}");
    }
    assert!(!text.contains("CA:TRUE"));
}

#[test]
fn a_leaf_outside_the_name_constraints_is_refused_by_openssl() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let root = root(KeyAlgorithm::Ecdsa(certwright_pki::alg::Curve::P256));
    let issuing = sub_ca(&root, KeyAlgorithm::Ecdsa(certwright_pki::alg::Curve::P256));
    let key = PrivateKey::generate(KeyAlgorithm::Ed25519).unwrap();
    let t = Template {
        serial: cert::random_serial().unwrap(),
        subject: common_name("evil.example.org").unwrap(),
        public_key_der: key.public_key_der(),
        not_before: NOW - 60,
        not_after: NOW + DAY,
        extensions: Extensions { sans: vec![San::Dns("evil.example.org".into())], ..Default::default() },
    };
    let ski = issuing.cert.key_identifier().unwrap();
    let leaf =
        cert::issue(&t, &Issuer { name: issuing.cert.subject(), key_identifier: &ski, signer: &issuing.key }).unwrap();
    std::fs::write(d.join("root.pem"), root.cert.to_pem()).unwrap();
    std::fs::write(d.join("issuing.pem"), issuing.cert.to_pem()).unwrap();
    std::fs::write(d.join("leaf.pem"), leaf.to_pem()).unwrap();
    let when = (NOW + 60).to_string();
    let (ok, text) =
        openssl(d, &["verify", "-attime", &when, "-CAfile", "root.pem", "-untrusted", "issuing.pem", "leaf.pem"]);
    assert!(!ok && text.contains("permitted subtree violation"), "{text}");
}

#[test]
fn tampered_and_malformed_csrs_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let good = openssl_csr(dir.path(), "t", &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]);
    let (_, der) = certwright_pki::pem::decode(std::str::from_utf8(&good).unwrap()).unwrap();
    assert!(Csr::parse(&der).is_ok(), "raw DER is accepted");
    let b64 = base64_engine_encode(&der);
    assert!(Csr::parse(b64.as_bytes()).is_ok(), "base64 DER is accepted");

    // Flip one bit of the subject: the self-signature no longer matches.
    let mut tampered = der.clone();
    let at = tampered.windows(15).position(|w| w == b"www.example.com").unwrap();
    tampered[at] ^= 0x01;
    let err = Csr::parse(&tampered).unwrap_err();
    assert!(err.to_string().contains("does not verify"), "{err}");

    for garbage in
        [&b""[..], b"hello", &der[..der.len() / 2], b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"]
    {
        assert!(Csr::parse(garbage).is_err());
    }
    assert!(Csr::parse(&vec![0x30; 200_000]).is_err(), "oversize input is refused");
}

fn base64_engine_encode(der: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(der)
}

#[test]
fn ml_dsa_65_chain_is_built_and_verified_by_our_verifier() {
    let alg = KeyAlgorithm::MlDsa(certwright_pki::alg::MlDsaLevel::MlDsa65);
    let root = root(alg);
    let issuing = sub_ca(&root, alg);
    root.cert.verify_signed_by(&root.cert.public_key().unwrap()).unwrap();
    issuing.cert.verify_signed_by(&root.cert.public_key().unwrap()).unwrap();
    let other = self::root(alg);
    assert!(issuing.cert.verify_signed_by(&other.cert.public_key().unwrap()).is_err());
    assert_eq!(issuing.key.signature_algorithm().oid().to_string(), "2.16.840.1.101.3.4.3.18");
}

#[test]
fn pkcs7_bundles_are_read_by_openssl() {
    let dir = tempfile::tempdir().unwrap();
    let root = root(KeyAlgorithm::Ecdsa(certwright_pki::alg::Curve::P256));
    let issuing = sub_ca(&root, KeyAlgorithm::Rsa(2048));
    let bundle = certwright_pki::pkcs7::certs_only(&[issuing.cert.der().to_vec(), root.cert.der().to_vec()]).unwrap();
    std::fs::write(dir.path().join("b.p7b"), &bundle).unwrap();
    let (ok, text) = openssl(dir.path(), &["pkcs7", "-inform", "DER", "-in", "b.p7b", "-print_certs", "-noout"]);
    assert!(ok, "{text}");
    let issuing_at = text.find("CN = Test Issuing rsa-2048").expect(&text);
    let root_at = text.find("subject=O = certwright tests, CN = Test Root ecdsa-p256").expect(&text);
    assert!(issuing_at < root_at, "order is kept: {text}");
}

#[test]
fn pkcs12_files_are_opened_by_openssl_with_the_password_only() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let root = root(KeyAlgorithm::Ecdsa(certwright_pki::alg::Curve::P256));
    let issuing = sub_ca(&root, KeyAlgorithm::Ecdsa(certwright_pki::alg::Curve::P256));
    for alg in [KeyAlgorithm::Ecdsa(certwright_pki::alg::Curve::P256), KeyAlgorithm::Rsa(2048), KeyAlgorithm::Ed25519] {
        let key = PrivateKey::generate(alg).unwrap();
        let t = Template {
            serial: cert::random_serial().unwrap(),
            subject: common_name("p12.example.com").unwrap(),
            public_key_der: key.public_key_der(),
            not_before: NOW - 60,
            not_after: NOW + DAY,
            extensions: Extensions { sans: vec![San::Dns("p12.example.com".into())], ..Default::default() },
        };
        let ski = issuing.cert.key_identifier().unwrap();
        let leaf =
            cert::issue(&t, &Issuer { name: issuing.cert.subject(), key_identifier: &ski, signer: &issuing.key })
                .unwrap();
        let p12 = certwright_pki::pkcs12::export(
            &key.danger_pkcs8_der().unwrap(),
            &[leaf.der().to_vec(), issuing.cert.der().to_vec(), root.cert.der().to_vec()],
            "s3cret pässword",
            Some("p12.example.com"),
        )
        .unwrap();
        std::fs::write(d.join("f.p12"), &p12).unwrap();
        let (ok, text) = openssl(
            d,
            &["pkcs12", "-in", "f.p12", "-passin", "pass:s3cret pässword", "-nodes", "-info", "-out", "all.pem"],
        );
        assert!(ok && text.contains("MAC: sha256"), "{}: {text}", alg.name());
        assert!(text.contains("PBES2, PBKDF2, AES-256-CBC"), "{text}");
        let all = std::fs::read_to_string(d.join("all.pem")).unwrap();
        assert_eq!(all.matches("BEGIN CERTIFICATE").count(), 3);
        assert!(all.contains("friendlyName: p12.example.com"), "{all}");
        // The key inside is the key of the leaf.
        let (_, from_key) = openssl(d, &["pkey", "-in", "all.pem", "-pubout"]);
        std::fs::write(d.join("leaf.pem"), leaf.to_pem()).unwrap();
        let (_, from_cert) = openssl(d, &["x509", "-in", "leaf.pem", "-noout", "-pubkey"]);
        assert_eq!(from_key, from_cert, "{}", alg.name());
        let (ok, text) = openssl(d, &["pkcs12", "-in", "f.p12", "-passin", "pass:wrong", "-nodes", "-out", "x.pem"]);
        assert!(!ok, "a wrong password is refused: {text}");
    }
}
