//! Oracle tests for CRMF: requests built and sent by `openssl cmp` (against its built-in mock server, saved with
//! `-reqout`) are read by our parser with the subject, names, key and validity that were asked for, and a
//! tampered, truncated or foreign request is refused without a panic.

use base64::Engine;
use certwright_pki::crmf;
use certwright_pki::csr::Csr;
use certwright_pki::names::San;
use certwright_pki::PkiError;
use std::path::Path;
use std::process::Command;

fn openssl(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl").current_dir(dir).args(args).output().expect("openssl is installed");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// `openssl genpkey` arguments for each key type, by file stem.
const KEYS: &[(&str, &[&str])] = &[
    ("rsa", &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]),
    ("ecp256", &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]),
    ("ed25519", &["-algorithm", "ED25519"]),
];

/// Makes `<name>.key` and a self-signed `<name>.crt` for it: the mock server answers with that certificate, so
/// the client accepts the response and `openssl cmp` succeeds end to end.
fn key_and_cert(dir: &Path, name: &str, genpkey: &[&str]) {
    let key = format!("{name}.key");
    let mut args = vec!["genpkey", "-out", &key];
    args.extend_from_slice(genpkey);
    let (ok, text) = openssl(dir, &args);
    assert!(ok, "genpkey {name}: {text}");
    let crt = format!("{name}.crt");
    let (ok, text) =
        openssl(dir, &["req", "-x509", "-new", "-key", &key, "-subj", "/CN=mock", "-days", "1", "-out", &crt]);
    assert!(ok, "req -x509 {name}: {text}");
}

/// Runs `openssl cmp -cmd <cmd>` for `name`'s key against the mock server, with MAC protection, and returns the
/// PKIMessage it sent.
fn cmp_request(dir: &Path, name: &str, cmd: &str, extra: &[&str]) -> Vec<u8> {
    let (key, crt, out) = (format!("{name}.key"), format!("{name}.crt"), format!("{name}-{cmd}.der"));
    let mut args = vec![
        "cmp",
        "-cmd",
        cmd,
        "-newkey",
        &key,
        "-use_mock_srv",
        "-srv_ref",
        "mock",
        "-srv_secret",
        "pass:test",
        "-ref",
        "client",
        "-secret",
        "pass:test",
        "-rsp_cert",
        &crt,
        "-recipient",
        "/CN=Test CA",
        "-disable_confirm",
        "-certout",
        "issued.pem",
        "-reqout",
        &out,
    ];
    args.extend_from_slice(extra);
    let (ok, text) = openssl(dir, &args);
    assert!(ok, "openssl cmp {cmd} for {name}: {text}");
    std::fs::read(dir.join(out)).unwrap()
}

fn public_key_der(dir: &Path, name: &str) -> Vec<u8> {
    let out = format!("{name}.pub.der");
    let (ok, text) = openssl(dir, &["pkey", "-in", &format!("{name}.key"), "-pubout", "-outform", "DER", "-out", &out]);
    assert!(ok, "{text}");
    std::fs::read(dir.join(out)).unwrap()
}

/// `SEQUENCE { item }` in DER.
fn sequence_of(item: &[u8]) -> Vec<u8> {
    let len = item.len();
    let header = match len {
        0..=127 => vec![0x30, len as u8],
        128..=255 => vec![0x30, 0x81, len as u8],
        _ => vec![0x30, 0x82, (len >> 8) as u8, len as u8],
    };
    [&header[..], item].concat()
}

fn sans() -> Vec<San> {
    vec![
        San::Dns("www.example.com".into()),
        San::Ip("192.0.2.10".parse().unwrap()),
        San::Uri("https://www.example.com/enrol".into()),
        San::Dns("api.example.net".into()),
    ]
}

const SANS_ARG: &str = "www.example.com 192.0.2.10 https://www.example.com/enrol api.example.net";

#[test]
fn openssl_cmp_requests_for_rsa_ec_and_ed25519_keys_are_read_as_requested() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (name, genpkey) in KEYS {
        key_and_cert(d, name, genpkey);
        let spki = public_key_der(d, name);
        let subject = format!("/CN={name}.example.com/O=Example");
        let sent = cmp_request(d, name, "cr", &["-subject", &subject, "-sans", SANS_ARG]);

        let r = crmf::parse(&sent).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(r.common_name(), Some(format!("{name}.example.com")), "{name}");
        // RFC 4514 lists the last RDN first.
        assert_eq!(r.subject_string(), format!("O=Example,CN={name}.example.com"), "{name}");
        assert_eq!(r.sans, sans(), "{name}");
        assert_eq!(r.public_key.der(), spki.as_slice(), "{name}: the key is the one in {name}.key");
        assert_eq!(r.cert_req_id, 0);
        assert_eq!((r.not_before, r.not_after), (None, None));

        // The CertReqMsg alone, a CertReqMessages around it, base64 and PEM read the same.
        let msg = r.der().to_vec();
        let messages = sequence_of(&msg);
        let b64 = base64::engine::general_purpose::STANDARD.encode(&sent);
        let pem = certwright_pki::pem::encode("CERTIFICATE REQUEST MESSAGES", &messages);
        for (form, input) in [("CertReqMsg", &msg), ("CertReqMessages", &messages)] {
            let again = crmf::parse(input).unwrap_or_else(|e| panic!("{name} {form}: {e}"));
            assert_eq!((again.public_key.der(), &again.sans), (spki.as_slice(), &sans()), "{name} {form}");
        }
        assert_eq!(crmf::parse(b64.as_bytes()).unwrap().public_key.der(), spki.as_slice());
        assert_eq!(crmf::parse(pem.as_bytes()).unwrap().public_key.der(), spki.as_slice());

        // Issuance takes it as it takes a PKCS#10 request.
        let csr: Csr = r.into();
        assert_eq!((csr.common_name(), csr.public_key.der()), (Some(format!("{name}.example.com")), &spki[..]));
        assert_eq!(csr.sans, sans());
    }
}

#[test]
fn initial_and_key_update_requests_carry_their_validity_and_template() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    key_and_cert(d, "ec", &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]);
    let ir = cmp_request(d, "ec", "ir", &["-subject", "/CN=ir.example.com", "-days", "30"]);
    let r = crmf::parse(&ir).unwrap();
    assert_eq!(r.common_name().as_deref(), Some("ir.example.com"));
    let (from, to) = (r.not_before.unwrap(), r.not_after.unwrap());
    assert_eq!(to - from, 30 * 86_400, "-days 30");

    // kur: the template takes the old certificate's subject and issuer. (The mock server answers only for the
    // certificate it holds, so the old certificate is that one.)
    key_and_cert(d, "ed", &["-algorithm", "ED25519"]);
    let kur = cmp_request(d, "ed", "kur", &["-oldcert", "ed.crt"]);
    let r = crmf::parse(&kur).unwrap();
    assert_eq!(r.common_name().as_deref(), Some("mock"));
    assert_eq!(r.public_key.der(), public_key_der(d, "ed").as_slice());
}

#[test]
fn a_tampered_request_fails_its_proof_of_possession() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (name, genpkey) in KEYS {
        key_and_cert(d, name, genpkey);
        let sent = cmp_request(d, name, "cr", &["-subject", "/CN=www.example.com", "-sans", SANS_ARG]);
        let msg = crmf::parse(&sent).unwrap().der().to_vec();
        let at = sent.windows(msg.len()).position(|w| w == msg.as_slice()).unwrap();

        // openssl writes no regInfo: the CertReqMsg ends with the POP signature's last byte.
        let mut bad_signature = sent.clone();
        bad_signature[at + msg.len() - 1] ^= 0x01;
        let err = crmf::parse(&bad_signature).unwrap_err().to_string();
        assert!(err.contains("proof-of-possession signature does not verify"), "{name}: {err}");

        // The signature covers the template: a changed name is caught too.
        let mut bad_name = sent.clone();
        let name_at = at + msg.windows(15).position(|w| w == b"www.example.com").unwrap();
        bad_name[name_at] ^= 0x01;
        assert!(crmf::parse(&bad_name).unwrap_err().to_string().contains("does not verify"), "{name}");
    }
}

#[test]
fn requests_without_a_signature_proof_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    key_and_cert(d, "rsa", KEYS[0].1);
    let mut args = vec![
        "cmp",
        "-cmd",
        "cr",
        "-newkey",
        "rsa.key",
        "-subject",
        "/CN=x",
        "-use_mock_srv",
        "-srv_ref",
        "mock",
        "-srv_secret",
        "pass:test",
        "-ref",
        "client",
        "-secret",
        "pass:test",
        "-rsp_cert",
        "rsa.crt",
        "-recipient",
        "/CN=Test CA",
        "-disable_confirm",
        "-certout",
        "issued.pem",
        "-reqout",
        "req.der",
        "-popo",
    ];
    // The mock server refuses these too, so openssl exits with an error after writing the request.
    for (popo, expected) in [("0", "raVerified"), ("-1", "no proof of possession"), ("2", "key encipherment")] {
        args.push(popo);
        let _ = openssl(d, &args);
        args.pop();
        let err = crmf::parse(&std::fs::read(d.join("req.der")).unwrap()).unwrap_err();
        assert!(err.to_string().contains(expected), "-popo {popo}: {err}");
        if popo == "2" {
            assert!(matches!(err, PkiError::Unsupported(_)), "{err}");
        }
    }

    // A p10cr message carries PKCS#10, not CRMF.
    let (ok, text) = openssl(d, &["req", "-new", "-key", "rsa.key", "-subj", "/CN=p10", "-out", "p10.csr"]);
    assert!(ok, "{text}");
    let (ok, text) = openssl(
        d,
        &[
            "cmp",
            "-cmd",
            "p10cr",
            "-csr",
            "p10.csr",
            "-use_mock_srv",
            "-srv_ref",
            "mock",
            "-srv_secret",
            "pass:test",
            "-ref",
            "client",
            "-secret",
            "pass:test",
            "-rsp_cert",
            "rsa.crt",
            "-recipient",
            "/CN=Test CA",
            "-disable_confirm",
            "-certout",
            "issued.pem",
            "-reqout",
            "p10.der",
        ],
    );
    assert!(ok, "{text}");
    let err = crmf::parse(&std::fs::read(d.join("p10.der")).unwrap()).unwrap_err();
    assert!(err.to_string().contains("p10cr"), "{err}");
    // And a PKCS#10 request is not taken for CRMF.
    assert!(crmf::parse(&std::fs::read(d.join("p10.csr")).unwrap()).is_err());
}

#[test]
fn garbage_truncated_and_bit_flipped_input_errors_without_panicking() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    key_and_cert(d, "ec", KEYS[1].1);
    let sent = cmp_request(d, "ec", "cr", &["-subject", "/CN=www.example.com", "-sans", SANS_ARG]);
    assert!(crmf::parse(&sent).is_ok());

    for garbage in [&b""[..], b"hello", b"\x30", b"\x30\x00", b"\x30\x02\x30\x00", b"\x30\x80\x00\x00", &[0xff; 64]] {
        assert!(crmf::parse(garbage).is_err(), "{garbage:?}");
    }
    assert!(crmf::parse(b"-----BEGIN X-----\nAAAA\n-----END X-----\n").is_err());
    for n in 0..sent.len() {
        assert!(crmf::parse(&sent[..n]).is_err(), "truncated to {n} bytes");
    }
    // Any single-bit change gives a result, never a panic; in the signed request it gives an error.
    let msg = crmf::parse(&sent).unwrap().der().to_vec();
    let at = sent.windows(msg.len()).position(|w| w == msg.as_slice()).unwrap();
    for i in 0..sent.len() {
        let mut flipped = sent.clone();
        flipped[i] ^= 0x04;
        let outcome = crmf::parse(&flipped);
        if (at..at + msg.len()).contains(&i) {
            assert!(outcome.is_err(), "byte {i} of the CertReqMsg changed");
        }
    }
    let oversized = [&[0x30, 0x83, 0x02, 0x00, 0x00][..], &vec![0u8; 0x20000]].concat();
    assert!(crmf::parse(&oversized).unwrap_err().to_string().contains("larger than"));
}
