//! Oracle tests for OCSP: requests made by `openssl ocsp` are read by our parser, and responses we build are
//! checked by `openssl ocsp -respin` (signature, responder authorisation, statuses, reasons, nonce). Response
//! times come from the wall clock because openssl checks them against its own.

mod common;

use certwright_pki::alg::{Curve, KeyAlgorithm};
use certwright_pki::cert::{self, Cert, Eku, Extensions, Issuer, Template, Usage};
use certwright_pki::digest::hex;
use certwright_pki::key::{PrivateKey, Signer};
use certwright_pki::names::parse_dn;
use certwright_pki::ocsp::{
    build_response, decode_get, error_response, inspect_response, issuer_hashes, parse_request, verify_response,
    CertId, CertIdHash, CertStatus, OcspRequest, Responder, ResponseStatus, SingleResponse,
};
use certwright_pki::revocation::RevocationReason;
use common::{openssl, self_signed_ca, DAY};
use std::path::Path;

const HOUR: i64 = 3_600;

/// The CA key types the oracle tests run for.
const CA_ALGS: [KeyAlgorithm; 3] = [KeyAlgorithm::Ecdsa(Curve::P256), KeyAlgorithm::Rsa(2048), KeyAlgorithm::Ed25519];

fn now() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    i64::try_from(since.as_secs()).unwrap()
}

struct Ca {
    key: PrivateKey,
    cert: Cert,
}

impl Ca {
    fn new(alg: KeyAlgorithm) -> Self {
        let key = PrivateKey::generate(alg).unwrap();
        let subject = format!("CN=OCSP Test CA {},O=certwright tests", alg.name());
        let usages = vec![Usage::KeyCertSign, Usage::CrlSign, Usage::DigitalSignature];
        let cert = self_signed_ca(&key, &subject, now() - DAY, now() + 365 * DAY, usages);
        Ca { key, cert }
    }

    /// A certificate issued by this CA for a fresh P-256 key.
    fn issue(&self, cn: &str, serial: &[u8], extensions: Extensions) -> (PrivateKey, Cert) {
        self.issue_key(cn, serial, extensions, KeyAlgorithm::Ecdsa(Curve::P256))
    }

    fn issue_key(&self, cn: &str, serial: &[u8], extensions: Extensions, alg: KeyAlgorithm) -> (PrivateKey, Cert) {
        let key = PrivateKey::generate(alg).unwrap();
        let t = Template {
            serial: serial.to_vec(),
            subject: parse_dn(&format!("CN={cn}")).unwrap(),
            public_key_der: key.public_key_der(),
            not_before: now() - HOUR,
            not_after: now() + 30 * DAY,
            extensions,
        };
        let ski = self.cert.key_identifier().unwrap();
        let cert =
            cert::issue(&t, &Issuer { name: self.cert.subject(), key_identifier: &ski, signer: &self.key }).unwrap();
        (key, cert)
    }

    fn leaf(&self, cn: &str, serial: &[u8]) -> Cert {
        let extensions = Extensions {
            key_usage: vec![Usage::DigitalSignature],
            extended_key_usage: vec![Eku::ServerAuth],
            ocsp_urls: vec!["http://127.0.0.1:8080/ocsp".into()],
            ..Default::default()
        };
        self.issue(cn, serial, extensions).1
    }

    /// A delegated responder: id-kp-OCSPSigning and id-pkix-ocsp-nocheck, issued by this CA.
    fn delegated_responder(&self, alg: KeyAlgorithm) -> (PrivateKey, Cert) {
        let extensions = Extensions {
            key_usage: vec![Usage::DigitalSignature],
            extended_key_usage: vec![Eku::OcspSigning],
            ocsp_nocheck: true,
            ..Default::default()
        };
        self.issue_key("OCSP Responder", &cert::random_serial().unwrap(), extensions, alg)
    }
}

/// Writes `certs` as PEM files named after them.
fn write_pems(dir: &Path, certs: &[(&str, &Cert)]) {
    for (name, c) in certs {
        std::fs::write(dir.join(name), c.to_pem()).unwrap();
    }
}

/// `openssl ocsp -issuer ca.pem [hash] -cert … -reqout req.der [extra]`, read by our parser.
fn openssl_request(dir: &Path, hash: &str, certs: &[&str], extra: &[&str]) -> (Vec<u8>, OcspRequest) {
    let mut args = vec!["ocsp", "-issuer", "ca.pem", hash];
    for c in certs {
        args.extend(["-cert", c]);
    }
    args.extend(["-reqout", "req.der"]);
    args.extend_from_slice(extra);
    let (ok, text) = openssl(dir, &args);
    assert!(ok, "openssl ocsp request: {text}");
    let der = std::fs::read(dir.join("req.der")).unwrap();
    let parsed = parse_request(&der).unwrap_or_else(|e| panic!("{e}: {der:02x?}"));
    (der, parsed)
}

fn trimmed_hex(bytes: &[u8]) -> String {
    let h = hex(bytes);
    let t = h.trim_start_matches('0');
    if t.is_empty() {
        "0".to_owned()
    } else {
        t.to_owned()
    }
}

#[test]
fn openssl_requests_are_read_with_their_hashes_serials_and_nonce() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for alg in CA_ALGS {
        let ca = Ca::new(alg);
        // A serial with its high bit set is encoded with a leading zero octet, which the parser strips.
        let one = ca.leaf("one.example.com", &[0x80, 0x01, 0x02, 0x03]);
        let two = ca.leaf("two.example.com", &cert::random_serial().unwrap());
        write_pems(d, &[("ca.pem", &ca.cert), ("one.pem", &one), ("two.pem", &two)]);

        for (flag, hash) in [
            ("-sha1", CertIdHash::Sha1),
            ("-sha256", CertIdHash::Sha256),
            ("-sha384", CertIdHash::Sha384),
            ("-sha512", CertIdHash::Sha512),
        ] {
            let (der, req) = openssl_request(d, flag, &["one.pem", "two.pem"], &[]);
            assert_eq!(req.cert_ids.len(), 2, "{}", alg.name());
            let (name_hash, key_hash) = issuer_hashes(&ca.cert, hash).unwrap();
            for (id, leaf) in req.cert_ids.iter().zip([&one, &two]) {
                assert_eq!(id.hash, hash);
                assert_eq!(id.issuer_name_hash, name_hash, "{} {flag}", alg.name());
                assert_eq!(id.issuer_key_hash, key_hash, "{} {flag}", alg.name());
                assert_eq!(trimmed_hex(&id.serial), leaf.serial_hex());
                // Our CertID for the same certificate is byte for byte the one openssl sent.
                assert_eq!(CertId::new(&ca.cert, hash, &id.serial).unwrap(), *id);
            }
            assert_eq!(req.cert_ids[0].serial, [0x80, 0x01, 0x02, 0x03]);

            // openssl's own reading of the request agrees on hashes and nonce.
            let (ok, text) = openssl(d, &["ocsp", "-reqin", "req.der", "-req_text", "-noverify"]);
            assert!(ok, "{text}");
            // Long hashes are wrapped with a backslash: compare without layout.
            let text: String = text.to_uppercase().chars().filter(|c| !c.is_whitespace() && *c != '\\').collect();
            assert!(text.contains(&format!("ISSUERNAMEHASH:{}", hex(&name_hash).to_uppercase())), "{text}");
            assert!(text.contains(&format!("ISSUERKEYHASH:{}", hex(&key_hash).to_uppercase())), "{text}");
            let nonce = req.nonce.as_deref().expect("openssl sends a nonce by default");
            assert_eq!(nonce.len(), 18, "OCTET STRING of 16 octets inside extnValue");
            assert_eq!(&nonce[..2], [0x04, 0x10]);
            assert!(text.contains(&hex(nonce).to_uppercase()), "{text}");
            assert!(der.len() < 1024);
        }

        let (_, req) = openssl_request(d, "-sha1", &["one.pem"], &["-no_nonce"]);
        assert_eq!(req.nonce, None);
        assert_eq!(req.cert_ids.len(), 1);
    }
}

/// The status this test's CA reports for `cert`.
#[derive(Clone, Copy)]
enum Verdict {
    Good,
    Revoked,
    Unknown,
}

fn status(verdict: Verdict, revoked_at: i64) -> CertStatus {
    match verdict {
        Verdict::Good => CertStatus::Good,
        Verdict::Revoked => CertStatus::Revoked { at: revoked_at, reason: Some(RevocationReason::KeyCompromise) },
        Verdict::Unknown => CertStatus::Unknown,
    }
}

/// Answers `req` (whose CertIDs are for `leaves`, in order) as `responder`.
fn answer(responder: &Responder<'_>, req: &OcspRequest, verdicts: &[Verdict], at: i64, nonce: bool) -> Vec<u8> {
    let singles: Vec<SingleResponse<'_>> = req
        .cert_ids
        .iter()
        .zip(verdicts)
        .map(|(id, v)| SingleResponse {
            cert_id: id,
            status: status(*v, at - 2 * DAY),
            this_update: at - 60,
            next_update: Some(at + DAY),
        })
        .collect();
    build_response(responder, at, &singles, if nonce { req.nonce.as_deref() } else { None }).unwrap()
}

/// The openssl checks every signed response goes through: statuses and reasons, then the nonce.
fn openssl_accepts(d: &Path, what: &str, hash: &str, response: &[u8]) {
    std::fs::write(d.join("resp.der"), response).unwrap();
    let check = format!(
        "ocsp -respin resp.der -issuer ca.pem {hash} -cert good.pem -cert revoked.pem -cert unknown.pem \
         -CAfile ca.pem -no_nonce -resp_text"
    );
    let (ok, text) = openssl(d, &check.split_whitespace().collect::<Vec<_>>());
    assert!(ok, "{what}: {text}");
    for expected in [
        "Response verify OK",
        "good.pem: good",
        "revoked.pem: revoked",
        "Reason: keyCompromise",
        "Revocation Time:",
        "unknown.pem: unknown",
        "OCSP Response Status: successful (0x0)",
        "Cert Status: revoked",
        "Revocation Reason: keyCompromise (0x1)",
    ] {
        assert!(text.contains(expected), "{what}: '{expected}' missing from:\n{text}");
    }
    assert!(!text.contains("WARNING") && !text.contains("ERROR"), "{what}: {text}");
    // -reqin without -cert: openssl compares the request's nonce with the response's.
    let (ok, text) = openssl(d, &NONCE_CHECK);
    assert!(ok && text.contains("Response verify OK"), "{what}: {text}");
    assert!(!text.contains("nonce") && !text.contains("Nonce"), "{what}: nonce check: {text}");
}

/// Verifies resp.der and compares its nonce with req.der's. `-issuer` lets openssl find a CA signer that the
/// response does not carry.
const NONCE_CHECK: [&str; 9] =
    ["ocsp", "-respin", "resp.der", "-reqin", "req.der", "-issuer", "ca.pem", "-CAfile", "ca.pem"];

#[test]
fn responses_signed_by_the_ca_pass_openssl_with_statuses_reason_and_nonce() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for alg in CA_ALGS {
        let ca = Ca::new(alg);
        let leaves = ["good", "revoked", "unknown"]
            .map(|n| ca.leaf(&format!("{n}.example.com"), &cert::random_serial().unwrap()));
        write_pems(
            d,
            &[("ca.pem", &ca.cert), ("good.pem", &leaves[0]), ("revoked.pem", &leaves[1]), ("unknown.pem", &leaves[2])],
        );
        let (_, req) = openssl_request(d, "-sha1", &["good.pem", "revoked.pem", "unknown.pem"], &[]);
        let responder = Responder { signer: &ca.key, certificate: &ca.cert, include_certificate: false };
        let verdicts = [Verdict::Good, Verdict::Revoked, Verdict::Unknown];
        let at = now();
        let response = answer(&responder, &req, &verdicts, at, true);
        openssl_accepts(d, &format!("{} CA", alg.name()), "-sha1", &response);

        // Our own reader agrees, and the signature is the CA's.
        let info = inspect_response(&response).unwrap();
        assert!(info.is_successful());
        assert_eq!(info.produced_at, Some(at));
        assert_eq!(info.nonce, req.nonce);
        assert!(info.certificates.is_empty());
        assert_eq!(info.signature_algorithm, Some(ca.key.signature_algorithm()));
        assert_eq!(info.responder_key_hash, Some(ca.cert.key_identifier().unwrap()), "byKey: SHA-1 of the key bits");
        let statuses: Vec<CertStatus> = info.responses.iter().map(|r| r.status).collect();
        assert_eq!(statuses, verdicts.map(|v| status(v, at - 2 * DAY)));
        for (r, id) in info.responses.iter().zip(&req.cert_ids) {
            assert_eq!(r.cert_id, *id);
            assert_eq!((r.this_update, r.next_update), (at - 60, Some(at + DAY)));
        }
        verify_response(&response, &ca.cert.public_key().unwrap()).unwrap();
        let other = Ca::new(alg);
        assert!(verify_response(&response, &other.cert.public_key().unwrap()).is_err());

        // A response with another nonce, or none, fails openssl's nonce check.
        let other_nonce = [0x04, 0x10, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
        let singles = [SingleResponse {
            cert_id: &req.cert_ids[0],
            status: CertStatus::Good,
            this_update: at,
            next_update: None,
        }];
        std::fs::write(d.join("resp.der"), build_response(&responder, at, &singles, Some(&other_nonce)).unwrap())
            .unwrap();
        let (ok, text) = openssl(d, &NONCE_CHECK);
        assert!(!ok && text.contains("Nonce Verify error"), "{text}");
        std::fs::write(d.join("resp.der"), build_response(&responder, at, &singles, None).unwrap()).unwrap();
        let (_, text) = openssl(d, &NONCE_CHECK);
        assert!(text.contains("WARNING: no nonce in response"), "{text}");
    }
}

#[test]
fn responses_signed_by_a_delegated_responder_pass_openssl() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for alg in CA_ALGS {
        let ca = Ca::new(alg);
        let leaves = ["good", "revoked", "unknown"]
            .map(|n| ca.leaf(&format!("{n}.example.com"), &cert::random_serial().unwrap()));
        write_pems(
            d,
            &[("ca.pem", &ca.cert), ("good.pem", &leaves[0]), ("revoked.pem", &leaves[1]), ("unknown.pem", &leaves[2])],
        );
        let (_, req) = openssl_request(d, "-sha256", &["good.pem", "revoked.pem", "unknown.pem"], &[]);
        let verdicts = [Verdict::Good, Verdict::Revoked, Verdict::Unknown];
        let (key, responder_cert) = ca.delegated_responder(alg);
        let responder = Responder { signer: &key, certificate: &responder_cert, include_certificate: true };
        let response = answer(&responder, &req, &verdicts, now(), true);
        openssl_accepts(d, &format!("{} delegated responder", alg.name()), "-sha256", &response);
        std::fs::write(d.join("responder.pem"), responder_cert.to_pem()).unwrap();
        let (ok, text) = openssl(d, &["x509", "-in", "responder.pem", "-noout", "-text"]);
        assert!(ok && text.contains("OCSP Signing") && text.contains("OCSP No Check"), "{text}");

        let info = inspect_response(&response).unwrap();
        assert_eq!(info.certificates, vec![responder_cert.der().to_vec()]);
        assert_eq!(info.responder_key_hash, Some(responder_cert.key_identifier().unwrap()));
        verify_response(&response, &responder_cert.public_key().unwrap()).unwrap();
        assert!(verify_response(&response, &ca.cert.public_key().unwrap()).is_err());

        // openssl refuses a responder the CA did not authorise for OCSP signing.
        let (plain_key, plain) = ca.issue("Not A Responder", &cert::random_serial().unwrap(), Extensions::default());
        let responder = Responder { signer: &plain_key, certificate: &plain, include_certificate: true };
        std::fs::write(d.join("resp.der"), answer(&responder, &req, &verdicts, now(), true)).unwrap();
        let (ok, text) = openssl(d, &NONCE_CHECK);
        assert!(!ok && text.contains("Response Verify Failure"), "{text}");
        assert!(text.contains("missing ocspsigning usage"), "refused for the missing EKU: {text}");
    }
}

#[test]
fn a_signer_that_does_not_hold_the_certificates_key_is_refused() {
    let ca = Ca::new(KeyAlgorithm::Ecdsa(Curve::P256));
    let id = CertId::new(&ca.cert, CertIdHash::Sha1, &[1]).unwrap();
    let stranger = PrivateKey::generate(KeyAlgorithm::Ecdsa(Curve::P256)).unwrap();
    let responder = Responder { signer: &stranger, certificate: &ca.cert, include_certificate: false };
    let singles = [SingleResponse { cert_id: &id, status: CertStatus::Good, this_update: now(), next_update: None }];
    assert!(build_response(&responder, now(), &singles, None).is_err());
}

#[test]
fn revocation_details_and_bad_intervals_are_written_or_refused_as_rfc_6960_asks() {
    let ca = Ca::new(KeyAlgorithm::Ecdsa(Curve::P256));
    let responder = Responder { signer: &ca.key, certificate: &ca.cert, include_certificate: false };
    let id = CertId::new(&ca.cert, CertIdHash::Sha256, &[0x00, 0x42]).unwrap();
    assert_eq!(id.serial, [0x42]);
    let at = now();
    let one = |status, next_update| {
        let singles = [SingleResponse { cert_id: &id, status, this_update: at, next_update }];
        build_response(&responder, at, &singles, None)
    };
    for reason in [None, Some(RevocationReason::Unspecified), Some(RevocationReason::CaCompromise)] {
        let der = one(CertStatus::Revoked { at: at - DAY, reason }, None).unwrap();
        let info = inspect_response(&der).unwrap();
        let written = reason.filter(|r| *r != RevocationReason::Unspecified);
        assert_eq!(info.responses[0].status, CertStatus::Revoked { at: at - DAY, reason: written });
        assert_eq!(info.responses[0].next_update, None);
    }
    assert!(one(CertStatus::Revoked { at, reason: Some(RevocationReason::RemoveFromCrl) }, None).is_err());
    assert!(one(CertStatus::Good, Some(at - 1)).is_err(), "nextUpdate before thisUpdate");
    assert!(build_response(&responder, at, &[], None).is_err(), "no SingleResponse");
    let broken = CertId { der: vec![0x30, 0x05], ..id.clone() };
    let singles = [SingleResponse { cert_id: &broken, status: CertStatus::Good, this_update: at, next_update: None }];
    assert!(build_response(&responder, at, &singles, None).is_err());
}

#[test]
fn responses_made_by_openssl_are_read_and_verified_by_our_reader() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca = Ca::new(KeyAlgorithm::Ecdsa(Curve::P256));
    let good = ca.leaf("good.example.com", &[0x10, 0x01]);
    let revoked = ca.leaf("revoked.example.com", &[0x10, 0x02]);
    let unknown = ca.leaf("unknown.example.com", &[0x10, 0x03]);
    write_pems(d, &[("ca.pem", &ca.cert), ("good.pem", &good), ("revoked.pem", &revoked), ("unknown.pem", &unknown)]);
    let pkcs8 = ca.key.danger_pkcs8_der().unwrap();
    std::fs::write(d.join("ca.key"), certwright_pki::pem::encode("PRIVATE KEY", &pkcs8)).unwrap();
    std::fs::write(
        d.join("index.txt"),
        "V\t301231000000Z\t\t1001\tunknown\t/CN=good.example.com\n\
         R\t301231000000Z\t260101000000Z,keyCompromise\t1002\tunknown\t/CN=revoked.example.com\n",
    )
    .unwrap();
    let (_, req) = openssl_request(d, "-sha1", &["good.pem", "revoked.pem", "unknown.pem"], &[]);
    let (ok, text) = openssl(
        d,
        &[
            "ocsp",
            "-index",
            "index.txt",
            "-rsigner",
            "ca.pem",
            "-rkey",
            "ca.key",
            "-CA",
            "ca.pem",
            "-reqin",
            "req.der",
            "-respout",
            "resp.der",
            "-ndays",
            "1",
        ],
    );
    assert!(ok, "openssl responder: {text}");
    let response = std::fs::read(d.join("resp.der")).unwrap();
    let info = inspect_response(&response).unwrap();
    assert_eq!(info.nonce, req.nonce);
    assert_eq!(info.responder_key_hash, None, "openssl names its responder byName");
    let statuses: Vec<CertStatus> = info.responses.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        [
            CertStatus::Good,
            CertStatus::Revoked { at: 1_767_225_600, reason: Some(RevocationReason::KeyCompromise) },
            CertStatus::Unknown
        ]
    );
    let serials: Vec<&[u8]> = info.responses.iter().map(|r| r.cert_id.serial.as_slice()).collect();
    assert_eq!(serials, [&[0x10, 0x01][..], &[0x10, 0x02], &[0x10, 0x03]]);
    // -ndays 1: openssl reads its clock twice, so allow a second between them.
    assert!(info
        .responses
        .iter()
        .all(|r| r.next_update.is_some_and(|n| (DAY..=DAY + 1).contains(&(n - r.this_update)))));
    verify_response(&response, &ca.cert.public_key().unwrap()).unwrap();
}

#[test]
fn error_responses_are_read_by_openssl_with_their_status() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (status, expected) in [
        (ResponseStatus::MalformedRequest, "malformedrequest (1)"),
        (ResponseStatus::InternalError, "internalerror (2)"),
        (ResponseStatus::TryLater, "trylater (3)"),
        (ResponseStatus::SigRequired, "sigrequired (5)"),
        (ResponseStatus::Unauthorized, "unauthorized (6)"),
    ] {
        let der = error_response(status);
        std::fs::write(d.join("err.der"), &der).unwrap();
        let (_, text) = openssl(d, &["ocsp", "-respin", "err.der", "-resp_text"]);
        assert!(text.contains(&format!("Responder Error: {expected}")), "{status:?}: {text}");
        let info = inspect_response(&der).unwrap();
        assert_eq!(info.error, Some(status));
        assert!(info.responses.is_empty() && !info.is_successful());
        assert!(verify_response(&der, &Ca::new(KeyAlgorithm::Ed25519).cert.public_key().unwrap()).is_err());
    }
    assert_eq!(error_response(ResponseStatus::Unauthorized), [0x30, 0x03, 0x0a, 0x01, 0x06]);
}

#[test]
fn get_paths_decode_percent_escapes_url_safe_alphabet_and_missing_padding() {
    use base64::Engine;
    // 0xfb 0xef 0xff 0xfe encodes to "++///g==": both of base64's URL-unsafe characters, and padding.
    let bytes = [0xfb, 0xef, 0xff, 0xfe];
    let standard = base64::engine::general_purpose::STANDARD.encode(bytes);
    assert_eq!(standard, "++///g==");
    for segment in [
        "++///g==",
        "%2B%2B%2F%2F%2Fg%3D%3D",
        "%2b%2b%2f%2f%2fg%3d%3d",
        "++///g",
        "--___g==",
        "--___g",
        "%2B+%2F//g%3D=",
        "  ///g",
    ] {
        assert_eq!(decode_get(segment).unwrap(), bytes, "{segment}");
    }
    for bad in ["", "%", "%2", "%G0", "++///g===", "++/ /g==\n", "****", "++///"] {
        assert!(decode_get(bad).is_err(), "{bad:?}");
    }

    // A request made by openssl, sent the RFC 6960 appendix A way, reads back the same.
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new(KeyAlgorithm::Ecdsa(Curve::P256));
    let leaf = ca.leaf("get.example.com", &cert::random_serial().unwrap());
    write_pems(dir.path(), &[("ca.pem", &ca.cert), ("leaf.pem", &leaf)]);
    let (der, req) = openssl_request(dir.path(), "-sha1", &["leaf.pem"], &[]);
    let b64 = base64::engine::general_purpose::STANDARD.encode(&der);
    let escaped = b64.replace('+', "%2B").replace('/', "%2F").replace('=', "%3D");
    let url_safe = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&der);
    for segment in [b64, escaped, url_safe] {
        assert_eq!(parse_request(&decode_get(&segment).unwrap()).unwrap(), req);
    }
}

/// xorshift64: reproducible noise without a dependency.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % u64::try_from(n).unwrap()).unwrap()
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next().to_le_bytes()[0]).collect()
    }
}

#[test]
fn malformed_requests_are_refused_and_no_input_panics() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca = Ca::new(KeyAlgorithm::Ecdsa(Curve::P256));
    let leaf = ca.leaf("fuzz.example.com", &cert::random_serial().unwrap());
    write_pems(d, &[("ca.pem", &ca.cert), ("leaf.pem", &leaf)]);
    let (real, req) = openssl_request(d, "-sha256", &["leaf.pem", "leaf.pem"], &[]);

    // Every proper prefix of a real request, and the request with anything after it.
    for end in 0..real.len() {
        assert!(parse_request(&real[..end]).is_err(), "prefix of {end} octets");
    }
    for junk in [&[0x00][..], &[0x30, 0x00], b"junk"] {
        assert!(parse_request(&[&real[..], junk].concat()).is_err());
    }
    // 64 CertIDs are read, 65 are not.
    let (_, sixty_four) = openssl_request(d, "-sha1", &["leaf.pem"; 64], &[]);
    assert_eq!(sixty_four.cert_ids.len(), 64);
    let mut args = vec!["ocsp", "-issuer", "ca.pem"];
    for _ in 0..65 {
        args.extend(["-cert", "leaf.pem"]);
    }
    args.extend(["-reqout", "req65.der"]);
    assert!(openssl(d, &args).0);
    let err = parse_request(&std::fs::read(d.join("req65.der")).unwrap()).unwrap_err();
    assert!(err.0.contains("64"), "{err}");
    assert!(parse_request(&vec![0x30; 9000]).unwrap_err().0.contains("8192"));

    // Noise, and a real request and response with a few octets changed: refused or read, never a panic.
    let ca_responder = Responder { signer: &ca.key, certificate: &ca.cert, include_certificate: true };
    let singles: Vec<SingleResponse<'_>> = req
        .cert_ids
        .iter()
        .map(|id| SingleResponse { cert_id: id, status: CertStatus::Good, this_update: now(), next_update: None })
        .collect();
    let response = build_response(&ca_responder, now(), &singles, req.nonce.as_deref()).unwrap();
    let key = ca.cert.public_key().unwrap();
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    for _ in 0..10_000 {
        let len = rng.below(600);
        let noise = rng.bytes(len);
        assert!(parse_request(&noise).is_err());
        let _ = inspect_response(&noise);
        let _ = decode_get(&String::from_utf8_lossy(&noise));
        for original in [&real, &response] {
            let mut mutated = original.clone();
            for _ in 0..=rng.below(4) {
                let at = rng.below(mutated.len());
                mutated[at] = rng.bytes(1)[0];
            }
            mutated.truncate(mutated.len() - rng.below(3));
            let _ = parse_request(&mutated);
            let _ = inspect_response(&mutated);
            let _ = verify_response(&mutated, &key);
        }
    }
}
