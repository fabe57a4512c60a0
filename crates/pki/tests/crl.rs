//! Oracle tests for CRLs: what `crl::build` writes is read by `openssl crl` and applied by `openssl verify
//! -crl_check` (full, delta and partitioned CRLs), and `crl::inspect` reads back what was built.

mod common;

use certwright_pki::alg::{Curve, KeyAlgorithm};
use certwright_pki::cert::{self, Cert, Extensions, Issuer, Template, Usage};
use certwright_pki::crl::{self, CrlEntry, CrlInfo, CrlParams, CrlScope};
use certwright_pki::key::{PrivateKey, Signer};
use certwright_pki::names::parse_dn;
use certwright_pki::revocation::RevocationReason;
use certwright_pki::PkiError;
use common::{openssl, self_signed_ca, DAY};
use std::path::Path;

const NOW: i64 = 1_790_000_000;
const CA_KEYS: [KeyAlgorithm; 2] = [KeyAlgorithm::Ecdsa(Curve::P256), KeyAlgorithm::Rsa(2048)];

struct Ca {
    key: PrivateKey,
    cert: Cert,
    ski: Vec<u8>,
}

fn ca(alg: KeyAlgorithm) -> Ca {
    let key = PrivateKey::generate(alg).unwrap();
    let subject = format!("CN=CRL Test CA {},O=certwright tests", alg.name());
    let cert = self_signed_ca(&key, &subject, NOW - DAY, NOW + 3650 * DAY, vec![Usage::KeyCertSign, Usage::CrlSign]);
    let ski = cert.key_identifier().unwrap();
    Ca { key, cert, ski }
}

impl Ca {
    /// A leaf with `serial`, naming `crl_urls` as its CRL distribution points.
    fn leaf(&self, serial: &[u8], crl_urls: &[&str]) -> Cert {
        let key = PrivateKey::generate(KeyAlgorithm::Ecdsa(Curve::P256)).unwrap();
        let t = Template {
            serial: serial.to_vec(),
            subject: parse_dn(&format!("CN=leaf-{}.example.com", hex(serial))).unwrap(),
            public_key_der: key.public_key_der(),
            not_before: NOW - DAY,
            not_after: NOW + 90 * DAY,
            extensions: Extensions {
                key_usage: vec![Usage::DigitalSignature],
                crl_urls: crl_urls.iter().map(|u| u.to_string()).collect(),
                ..Default::default()
            },
        };
        let issuer = Issuer { name: self.cert.subject(), key_identifier: &self.ski, signer: &self.key };
        cert::issue(&t, &issuer).unwrap()
    }

    fn params(&self, number: u64, scope: CrlScope) -> CrlParams<'_> {
        CrlParams {
            issuer: self.cert.subject(),
            issuer_key_identifier: &self.ski,
            number,
            this_update: NOW - 3600,
            next_update: NOW + 7 * DAY,
            scope,
        }
    }

    fn crl<'e>(&self, number: u64, scope: CrlScope, entries: impl IntoIterator<Item = CrlEntry<'e>>) -> Vec<u8> {
        crl::build(&self.params(number, scope), entries, &self.key).unwrap()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

fn revoked(serial: &[u8], reason: Option<RevocationReason>) -> CrlEntry<'_> {
    CrlEntry { serial, revoked_at: NOW - 2 * DAY, reason, invalidity_date: None }
}

fn full() -> CrlScope {
    CrlScope::Full { delta_urls: vec![] }
}

/// Writes `files` into `dir`.
fn write(dir: &Path, files: &[(&str, String)]) {
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
}

/// `openssl verify -crl_check` of `leaf` against `crls` (PEM, one file) at NOW.
fn verify(dir: &Path, ca: &Ca, leaf: &Cert, crls: &[&[u8]], extra: &[&str]) -> (bool, String) {
    let crls: String = crls.iter().map(|der| crl::to_pem(der)).collect();
    write(dir, &[("ca.pem", ca.cert.to_pem()), ("leaf.pem", leaf.to_pem()), ("crls.pem", crls)]);
    let when = NOW.to_string();
    let mut args = vec!["verify", "-attime", &when, "-crl_check", "-CAfile", "ca.pem", "-CRLfile", "crls.pem"];
    args.extend_from_slice(extra);
    args.push("leaf.pem");
    openssl(dir, &args)
}

fn crl_text(dir: &Path, der: &[u8]) -> String {
    std::fs::write(dir.join("crl.der"), der).unwrap();
    let (ok, text) = openssl(dir, &["crl", "-inform", "DER", "-in", "crl.der", "-text", "-noout"]);
    assert!(ok, "openssl crl: {text}");
    text
}

/// openssl prints key identifiers as colon-separated upper-case hex.
fn colon_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

#[test]
fn full_crl_shows_every_entry_reason_and_extension_in_openssl_and_its_signature_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let reasons = [
        RevocationReason::KeyCompromise,
        RevocationReason::CaCompromise,
        RevocationReason::AffiliationChanged,
        RevocationReason::Superseded,
        RevocationReason::CessationOfOperation,
        RevocationReason::CertificateHold,
        RevocationReason::PrivilegeWithdrawn,
        RevocationReason::AaCompromise,
    ];
    let serials: Vec<[u8; 16]> = (1..=10u8).map(|i| [i; 16]).collect();
    for alg in CA_KEYS {
        let ca = ca(alg);
        let mut entries: Vec<CrlEntry<'_>> = serials.iter().zip(reasons).map(|(s, r)| revoked(s, Some(r))).collect();
        entries.push(revoked(&serials[8], Some(RevocationReason::Unspecified)));
        entries.push(CrlEntry { invalidity_date: Some(NOW - 5 * DAY), ..revoked(&serials[9], None) });
        let delta_url = "http://crl.example.test/delta.crl";
        let der = ca.crl(42, CrlScope::Full { delta_urls: vec![delta_url.into()] }, entries);

        let text = crl_text(d, &der);
        assert!(text.contains("Version 2 (0x1)"), "{text}");
        for s in &serials {
            assert!(text.contains(&format!("Serial Number: {}", hex(s))), "{}: {text}", hex(s));
        }
        for name in [
            "Key Compromise",
            "CA Compromise",
            "Affiliation Changed",
            "Superseded",
            "Cessation Of Operation",
            "Certificate Hold",
            "Privilege Withdrawn",
            "AA Compromise",
        ] {
            assert!(text.contains(name), "{name}: {text}");
        }
        assert!(!text.contains("Unspecified"), "unspecified is omitted: {text}");
        assert_eq!(text.matches("X509v3 CRL Reason Code").count(), reasons.len(), "{text}");
        assert!(text.contains("Invalidity Date"), "{text}");
        assert!(text.contains("X509v3 CRL Number") && text.contains("42"), "{text}");
        assert!(text.contains("X509v3 Authority Key Identifier") && text.contains(&colon_hex(&ca.ski)), "{text}");
        assert!(text.contains("X509v3 Freshest CRL") && text.contains(&format!("URI:{delta_url}")), "{text}");

        write(d, &[("ca.pem", ca.cert.to_pem()), ("crl.pem", crl::to_pem(&der))]);
        let (ok, text) = openssl(d, &["crl", "-in", "crl.pem", "-CAfile", "ca.pem", "-noout"]);
        assert!(ok && text.contains("verify OK"), "{alg:?}: {text}");
        // The same CRL signed by another key does not verify.
        let other = self::ca(alg);
        write(d, &[("other.pem", other.cert.to_pem())]);
        let (_, text) = openssl(d, &["crl", "-in", "crl.pem", "-CAfile", "other.pem", "-noout"]);
        assert!(!text.contains("verify OK"), "{text}");
    }
}

#[test]
fn openssl_verify_with_crl_check_rejects_a_revoked_leaf_and_accepts_a_good_one() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for alg in CA_KEYS {
        let ca = ca(alg);
        let bad = ca.leaf(&[0x81, 2, 3, 4, 5, 6, 7, 8], &[]);
        let good = ca.leaf(&[0x11, 2, 3, 4, 5, 6, 7, 8], &[]);
        let other: [u8; 8] = [0x21; 8];
        let der = ca.crl(
            1,
            full(),
            [revoked(&other, None), revoked(&[0x81, 2, 3, 4, 5, 6, 7, 8], Some(RevocationReason::KeyCompromise))],
        );
        let (ok, text) = verify(d, &ca, &bad, &[&der], &[]);
        assert!(!ok && text.contains("certificate revoked"), "{alg:?}: {text}");
        let (ok, text) = verify(d, &ca, &good, &[&der], &[]);
        assert!(ok && text.contains("leaf.pem: OK"), "{alg:?}: {text}");
        // An empty CRL revokes nothing.
        let (ok, text) = verify(d, &ca, &bad, &[&ca.crl(2, full(), [])], &[]);
        assert!(ok, "{alg:?}: {text}");
    }
}

#[test]
fn partition_crl_covers_the_certificates_naming_its_url_and_no_others() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let url = "http://crl.example.test/partitions/7.crl";
    for alg in CA_KEYS {
        let ca = ca(alg);
        let bad = ca.leaf(&[7, 1], &[url]);
        let good = ca.leaf(&[7, 2], &[url]);
        let elsewhere = ca.leaf(&[8, 1], &["http://crl.example.test/partitions/8.crl"]);
        let no_cdp = ca.leaf(&[9, 1], &[]);
        let der = ca.crl(
            3,
            CrlScope::Partition { url: url.into() },
            [revoked(&[7, 1], Some(RevocationReason::Superseded)), revoked(&[8, 1], None)],
        );
        let text = crl_text(d, &der);
        assert!(text.contains("X509v3 Issuing Distribution Point: critical"), "{text}");
        assert!(text.contains(&format!("URI:{url}")) && text.contains("Only User Certificates"), "{text}");

        let (ok, text) = verify(d, &ca, &bad, &[&der], &[]);
        assert!(!ok && text.contains("certificate revoked"), "{alg:?}: {text}");
        let (ok, text) = verify(d, &ca, &good, &[&der], &[]);
        assert!(ok, "{alg:?}: {text}");
        // In another partition (listed there or not) or in none: this CRL does not speak for the certificate,
        // and openssl finds no CRL of the right scope.
        for leaf in [&elsewhere, &no_cdp] {
            let (ok, text) = verify(d, &ca, leaf, &[&der], &[]);
            assert!(!ok && text.contains("different CRL scope"), "{alg:?}: {text}");
            assert!(!text.contains("certificate revoked"), "{alg:?}: {text}");
        }
    }
}

#[test]
fn delta_crl_revokes_what_its_base_does_not_list_and_remove_from_crl_releases_a_hold() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for alg in CA_KEYS {
        let ca = ca(alg);
        let old = ca.leaf(&[1, 1], &[]);
        let held = ca.leaf(&[1, 2], &[]);
        let fresh = ca.leaf(&[1, 3], &[]);
        let good = ca.leaf(&[1, 4], &[]);
        // openssl looks for deltas only when the base names them (freshestCRL).
        let base = ca.crl(
            10,
            CrlScope::Full { delta_urls: vec!["http://crl.example.test/delta.crl".into()] },
            [
                revoked(&[1, 1], Some(RevocationReason::KeyCompromise)),
                revoked(&[1, 2], Some(RevocationReason::CertificateHold)),
            ],
        );
        let delta = ca.crl(
            11,
            CrlScope::Delta { base_number: 10 },
            [
                revoked(&[1, 3], Some(RevocationReason::KeyCompromise)),
                revoked(&[1, 2], Some(RevocationReason::RemoveFromCrl)),
            ],
        );
        let text = crl_text(d, &delta);
        assert!(text.contains("X509v3 Delta CRL Indicator: critical"), "{text}");
        let indicator = text.split("Delta CRL Indicator: critical").nth(1).unwrap();
        assert!(indicator.lines().nth(1).unwrap().trim() == "10", "{text}");
        assert!(text.contains("Remove From CRL"), "{text}");

        let use_deltas: &[&str] = &["-use_deltas"];
        let (ok, text) = verify(d, &ca, &fresh, &[&base, &delta], use_deltas);
        assert!(!ok && text.contains("certificate revoked"), "{alg:?}: {text}");
        let (ok, text) = verify(d, &ca, &fresh, &[&base], use_deltas);
        assert!(ok, "revoked in the delta only: {text}");
        let (ok, text) = verify(d, &ca, &old, &[&base, &delta], use_deltas);
        assert!(!ok && text.contains("certificate revoked"), "{alg:?}: {text}");
        let (ok, text) = verify(d, &ca, &held, &[&base], use_deltas);
        assert!(!ok && text.contains("certificate revoked"), "on hold in the base: {text}");
        let (ok, text) = verify(d, &ca, &held, &[&base, &delta], use_deltas);
        assert!(ok, "released by the delta's removeFromCRL: {text}");
        let (ok, text) = verify(d, &ca, &good, &[&base, &delta], use_deltas);
        assert!(ok, "{alg:?}: {text}");
    }
}

#[test]
fn edge_serials_empty_lists_and_far_future_times_parse_in_openssl() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca = ca(KeyAlgorithm::Ecdsa(Curve::P256));

    let empty = ca.crl(1, full(), []);
    let text = crl_text(d, &empty);
    assert!(text.contains("No Revoked Certificates"), "{text}");

    let top_bit = [0x80, 0, 0, 1];
    let twenty_low = [0x7f; 20];
    let twenty_high = [0xff; 20];
    let padded = [0, 0, 0, 5];
    let entries = [
        revoked(&top_bit, Some(RevocationReason::KeyCompromise)),
        revoked(&twenty_low, None),
        revoked(&twenty_high, None),
        revoked(&padded, None),
        CrlEntry { revoked_at: 2_556_144_000, ..revoked(&[0x42], None) },
    ];
    let params = CrlParams { next_update: 2_556_144_000 + DAY, ..ca.params(2, full()) };
    let der = crl::build(&params, entries, &ca.key).unwrap();
    let text = crl_text(d, &der);
    for serial in ["80000001", &hex(&twenty_low), &hex(&twenty_high), "05", "42"] {
        assert!(text.contains(&format!("Serial Number: {serial}\n")), "{serial}: {text}");
    }
    assert!(text.contains("Next Update: Jan  2 00:00:00 2051 GMT"), "{text}");
    assert!(text.contains("Revocation Date: Jan  1 00:00:00 2051 GMT"), "{text}");
    write(d, &[("ca.pem", ca.cert.to_pem()), ("crl.pem", crl::to_pem(&der))]);
    let (ok, text) = openssl(d, &["crl", "-in", "crl.pem", "-CAfile", "ca.pem", "-noout"]);
    assert!(ok && text.contains("verify OK"), "{text}");
    // The year-2051 times are GeneralizedTime (RFC 5280 §5.1.2.4), as openssl's own DER dump shows.
    let (ok, text) = openssl(d, &["asn1parse", "-in", "crl.pem"]);
    assert!(ok && text.contains("GENERALIZEDTIME   :20510102000000Z"), "nextUpdate: {text}");
    assert!(text.contains("GENERALIZEDTIME   :20510101000000Z"), "revocationDate: {text}");
    assert!(text.contains("UTCTIME           :260921"), "{text}");
}

#[test]
fn bad_parameters_and_entries_are_refused() {
    let ca = ca(KeyAlgorithm::Ecdsa(Curve::P256));
    let refused =
        |params: &CrlParams<'_>, entries: &[CrlEntry<'_>]| match crl::build(params, entries.iter().copied(), &ca.key) {
            Err(PkiError::InvalidCrl(why)) => why,
            other => panic!("expected InvalidCrl, got {other:?}"),
        };
    let ok = ca.params(5, full());
    assert!(refused(&CrlParams { next_update: ok.this_update, ..ca.params(5, full()) }, &[]).contains("nextUpdate"));
    assert!(refused(&CrlParams { next_update: ok.this_update - 1, ..ca.params(5, full()) }, &[]).contains("nextUpdate"));
    assert!(refused(&ca.params(5, CrlScope::Delta { base_number: 5 }), &[]).contains("greater"));
    assert!(refused(&ca.params(5, CrlScope::Partition { url: "http://é.example/x.crl".into() }), &[]).contains("ASCII"));
    assert!(refused(&ca.params(5, CrlScope::Partition { url: String::new() }), &[]).contains("ASCII"));
    assert!(refused(&CrlParams { issuer_key_identifier: &[], ..ca.params(5, full()) }, &[]).contains("key identifier"));
    assert!(refused(&CrlParams { next_update: 253_402_300_800, ..ca.params(5, full()) }, &[]).contains("0000-9999"));

    let good = [1u8, 2, 3];
    for (entry, why) in [
        (revoked(&[], None), "entry at index 1: the serial number is empty or zero"),
        (revoked(&[0, 0, 0], None), "entry at index 1: the serial number is empty or zero"),
        (revoked(&[1; 21], None), "entry at index 1: the serial number is 21 octets long; at most 20 are allowed"),
        (
            revoked(&[1], Some(RevocationReason::RemoveFromCrl)),
            "entry at index 1: removeFromCRL is for delta CRLs only",
        ),
        (CrlEntry { revoked_at: i64::MAX, ..revoked(&[1], None) }, "entry at index 1: the revocation time"),
        (CrlEntry { invalidity_date: Some(i64::MIN), ..revoked(&[1], None) }, "entry at index 1: the invalidity date"),
    ] {
        let message = refused(&ok, &[revoked(&good, None), entry]);
        assert!(message.starts_with(why), "{message}");
    }
    // Leading zeros beyond 20 octets are stripped, not counted.
    let padded = [&[0u8; 5][..], &[0xff; 20]].concat();
    assert!(crl::build(&ok, [revoked(&padded, None)], &ca.key).is_ok());
    assert!(matches!(crl::inspect(b"\x30\x03\x02\x01\x01"), Err(PkiError::InvalidCrl(_))));
    assert!(matches!(crl::inspect(&[]), Err(PkiError::InvalidCrl(_))));
}

#[test]
fn inspect_reads_back_what_build_wrote() {
    let ca = ca(KeyAlgorithm::Rsa(2048));
    let serials: Vec<[u8; 4]> = (0..1000u32).map(|i| (i + 1).to_be_bytes()).collect();
    let entries = || serials.iter().map(|s| revoked(s, Some(RevocationReason::Superseded)));
    let expect = |number, base_number, entries, partition_url: Option<&str>| CrlInfo {
        number: Some(number),
        base_number,
        this_update: NOW - 3600,
        next_update: Some(NOW + 7 * DAY),
        entries,
        partition_url: partition_url.map(str::to_owned),
    };
    let full = ca.crl(u64::MAX, CrlScope::Full { delta_urls: vec!["http://x.test/d.crl".into()] }, entries());
    assert_eq!(crl::inspect(&full).unwrap(), expect(u64::MAX, None, 1000, None));
    let delta = ca.crl(12, CrlScope::Delta { base_number: 11 }, entries().take(3));
    assert_eq!(crl::inspect(&delta).unwrap(), expect(12, Some(11), 3, None));
    let url = "http://x.test/p/1.crl";
    let partition = ca.crl(0, CrlScope::Partition { url: url.into() }, []);
    assert_eq!(crl::inspect(&partition).unwrap(), expect(0, None, 0, Some(url)));

    // And what openssl wrote: `openssl ca -gencrl` over an index of two revocations.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let key_pem = certwright_pki::pem::encode("PRIVATE KEY", &ca.key.danger_pkcs8_der().unwrap());
    let index = "R\t300101000000Z\t260101000000Z,keyCompromise\t0A\tunknown\t/CN=a\n\
                 R\t300101000000Z\t260102000000Z\t0B\tunknown\t/CN=b\n";
    let config = "[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\ncertificate = ca.pem\nprivate_key = ca.key\n\
                  default_md = sha256\ndefault_crl_hours = 5\ncrlnumber = crlnumber\n";
    write(
        d,
        &[
            ("ca.pem", ca.cert.to_pem()),
            ("ca.key", key_pem),
            ("index.txt", index.into()),
            ("crlnumber", "2A\n".into()),
            ("openssl.cnf", config.into()),
        ],
    );
    let (ok, text) = openssl(d, &["ca", "-gencrl", "-config", "openssl.cnf", "-out", "peer.pem"]);
    assert!(ok, "{text}");
    let (_, der) = certwright_pki::pem::decode(&std::fs::read_to_string(d.join("peer.pem")).unwrap()).unwrap();
    let info = crl::inspect(&der).unwrap();
    assert_eq!((info.number, info.base_number, info.entries, info.partition_url), (Some(42), None, 2, None));
    assert_eq!(info.next_update.unwrap() - info.this_update, 5 * 3600);
}
