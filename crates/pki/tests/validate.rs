//! Oracle tests for chain validation: chains, CRLs and revocations are made by `openssl req` and `openssl ca`, our
//! validator judges them, and where `openssl verify` has an opinion it is asked too and must agree.

use certwright_pki::alg::{Curve, KeyAlgorithm};
use certwright_pki::cert::{self, Cert, Extensions, Issuer, Template, Usage};
use certwright_pki::key::{PrivateKey, Signer};
use certwright_pki::names::common_name;
use certwright_pki::validate::{
    parse_for_validation, ChainFault, CrlReason, Problem, Purpose, Revocation, Status, Validation, Validator,
};
use std::path::{Path, PathBuf};
use std::process::Command;

const DAY: i64 = 86_400;

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// openssl's `YYYYMMDDHHMMSSZ`.
fn openssl_time(t: i64) -> String {
    let d = der::DateTime::from_unix_duration(std::time::Duration::from_secs(t as u64)).unwrap();
    format!("{:04}{:02}{:02}{:02}{:02}{:02}Z", d.year(), d.month(), d.day(), d.hour(), d.minutes(), d.seconds())
}

const CA_EXT: &str = "basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid";

const LEAF_EXT: &str = "basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = DNS:www.example.com
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid";

/// A temporary directory where openssl keeps its CAs.
struct Lab {
    dir: tempfile::TempDir,
    now: i64,
}

/// A CA that `openssl ca` can sign and revoke with.
struct Authority {
    dir: PathBuf,
    cert: Cert,
}

/// A certificate issued by `openssl ca`, with its PEM file.
struct Issued {
    file: PathBuf,
    cert: Cert,
}

impl Lab {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("req.cnf"), "[req]\ndistinguished_name = dn\n[dn]\n").unwrap();
        Lab { dir, now: now() }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn try_openssl(&self, args: &[&str]) -> (bool, String) {
        let out = Command::new("openssl").current_dir(self.path()).args(args).output().expect("openssl is installed");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.success(), text)
    }

    fn openssl(&self, args: &[&str]) -> String {
        let (ok, text) = self.try_openssl(args);
        assert!(ok, "openssl {args:?}: {text}");
        text
    }

    /// A key and a request for `cn` under `name`.
    fn request(&self, name: &str, cn: &str) -> (String, String) {
        let (key, csr) = (format!("{name}.key"), format!("{name}.csr"));
        self.openssl(&[
            "req",
            "-new",
            "-config",
            "req.cnf",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &csr,
            "-subj",
            &format!("/CN={cn}"),
        ]);
        (key, csr)
    }

    /// Sets up `openssl ca` in `name/` around an existing key and certificate.
    fn authority(&self, name: &str, key: &str, cert_file: &str) -> Authority {
        let dir = self.path().join(name);
        std::fs::create_dir_all(dir.join("newcerts")).unwrap();
        std::fs::copy(self.path().join(key), dir.join("key.pem")).unwrap();
        std::fs::copy(self.path().join(cert_file), dir.join("cert.pem")).unwrap();
        std::fs::write(dir.join("index.txt"), "").unwrap();
        std::fs::write(dir.join("serial"), "1000\n").unwrap();
        std::fs::write(dir.join("crlnumber"), "01\n").unwrap();
        let config = format!(
            "[ca]\ndefault_ca = ca\n[ca]\ndir = {d}\ndatabase = $dir/index.txt\nnew_certs_dir = $dir/newcerts\n\
             certificate = $dir/cert.pem\nprivate_key = $dir/key.pem\nserial = $dir/serial\ncrlnumber = $dir/crlnumber\n\
             default_md = sha256\npolicy = policy\nunique_subject = no\ndefault_crl_days = 7\n\
             [policy]\ncommonName = supplied\n",
            d = dir.display()
        );
        std::fs::write(dir.join("ca.cnf"), config).unwrap();
        let cert = Cert::from_pem(&std::fs::read_to_string(dir.join("cert.pem")).unwrap()).unwrap();
        Authority { dir, cert }
    }

    /// A self-signed root made by `openssl req -x509`.
    fn root(&self, name: &str, cn: &str, ext: &str) -> Authority {
        let cnf = format!("{name}-root.cnf");
        std::fs::write(self.path().join(&cnf), format!("[req]\ndistinguished_name = dn\n[dn]\n[ext]\n{ext}\n"))
            .unwrap();
        let (key, cert) = (format!("{name}.key"), format!("{name}.pem"));
        self.openssl(&[
            "req",
            "-x509",
            "-config",
            &cnf,
            "-extensions",
            "ext",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &cert,
            "-subj",
            &format!("/CN={cn}"),
            "-days",
            "3650",
        ]);
        self.authority(name, &key, &cert)
    }

    /// `cn` issued by `ca` with the extensions `ext`, valid from `start` to `end`.
    fn issue_between(&self, ca: &Authority, name: &str, cn: &str, ext: &str, start: i64, end: i64) -> Issued {
        let (_, csr) = self.request(name, cn);
        let ext_file = format!("{name}.ext");
        std::fs::write(self.path().join(&ext_file), format!("[ext]\n{ext}\n")).unwrap();
        let out = format!("{name}.pem");
        self.openssl(&[
            "ca",
            "-batch",
            "-notext",
            "-config",
            ca.dir.join("ca.cnf").to_str().unwrap(),
            "-in",
            &csr,
            "-out",
            &out,
            "-startdate",
            &openssl_time(start),
            "-enddate",
            &openssl_time(end),
            "-extfile",
            &ext_file,
            "-extensions",
            "ext",
        ]);
        let file = self.path().join(&out);
        Issued { cert: Cert::from_pem(&std::fs::read_to_string(&file).unwrap()).unwrap(), file }
    }

    /// `cn` issued by `ca`, valid from an hour ago for a year.
    fn issue(&self, ca: &Authority, name: &str, cn: &str, ext: &str) -> Issued {
        self.issue_between(ca, name, cn, ext, self.now - 3600, self.now + 365 * DAY)
    }

    /// A subordinate CA issued by `parent`.
    fn sub_ca(&self, parent: &Authority, name: &str, cn: &str, ext: &str) -> Authority {
        self.issue(parent, name, cn, ext);
        self.authority(name, &format!("{name}.key"), &format!("{name}.pem"))
    }

    fn revoke(&self, ca: &Authority, issued: &Issued, reason: &str) {
        let config = ca.dir.join("ca.cnf");
        self.openssl(&[
            "ca",
            "-config",
            config.to_str().unwrap(),
            "-revoke",
            issued.file.to_str().unwrap(),
            "-crl_reason",
            reason,
        ]);
    }

    /// A CRL of `ca` valid for `hours`, as DER, with its PEM kept in `name.crl` for `openssl verify`.
    fn crl(&self, ca: &Authority, name: &str, hours: u32) -> Vec<u8> {
        let config = ca.dir.join("ca.cnf");
        let pem = format!("{name}.crl");
        let der = format!("{name}.crl.der");
        self.openssl(&[
            "ca",
            "-config",
            config.to_str().unwrap(),
            "-gencrl",
            "-crlhours",
            &hours.to_string(),
            "-out",
            &pem,
        ]);
        self.openssl(&["crl", "-in", &pem, "-outform", "DER", "-out", &der]);
        std::fs::read(self.path().join(der)).unwrap()
    }

    fn write(&self, name: &str, certs: &[&Cert]) -> String {
        let pem: String = certs.iter().map(|c| c.to_pem()).collect();
        std::fs::write(self.path().join(name), pem).unwrap();
        name.to_owned()
    }

    /// `openssl verify` of `leaf` against `root` with `untrusted` at `at`, plus extra options.
    fn openssl_verify(&self, root: &Cert, untrusted: &[&Cert], leaf: &Cert, at: i64, extra: &[&str]) -> (bool, String) {
        let root = self.write("v-root.pem", &[root]);
        let leaf = self.write("v-leaf.pem", &[leaf]);
        let at = at.to_string();
        let mut args = vec!["verify", "-attime", &at, "-CAfile", &root];
        let untrusted_file;
        if !untrusted.is_empty() {
            untrusted_file = self.write("v-untrusted.pem", untrusted);
            args.extend(["-untrusted", &untrusted_file]);
        }
        args.extend_from_slice(extra);
        args.push(&leaf);
        self.try_openssl(&args)
    }
}

/// Root → "Issuing CA" → leaf, all made by openssl.
struct Chain {
    lab: Lab,
    root: Authority,
    issuing: Authority,
    leaf: Issued,
    anchors: Vec<Cert>,
    intermediates: Vec<Cert>,
}

fn chain() -> Chain {
    let lab = Lab::new();
    let root = lab.root("root", "Test Root", CA_EXT);
    let issuing = lab.sub_ca(&root, "issuing", "Issuing CA", CA_EXT);
    let leaf = lab.issue(&issuing, "leaf", "www.example.com", LEAF_EXT);
    let (anchors, intermediates) = (vec![root.cert.clone()], vec![issuing.cert.clone()]);
    Chain { lab, root, issuing, leaf, anchors, intermediates }
}

impl Chain {
    fn at(&self) -> i64 {
        self.lab.now + 300
    }

    fn validate<'a>(&'a self, leaf: &Cert, configure: impl FnOnce(&mut Validator<'a>)) -> Validation {
        let mut v = Validator { intermediates: &self.intermediates, ..Validator::new(&self.anchors, self.at()) };
        configure(&mut v);
        v.validate(leaf)
    }
}

fn codes(v: &Validation) -> Vec<u16> {
    v.problems.iter().map(Problem::qradar_code).collect()
}

#[test]
fn an_openssl_chain_is_valid_and_expiring_near_its_end_as_openssl_verify_agrees() {
    let c = chain();
    let v = c.validate(&c.leaf.cert, |v| v.purpose = Some(Purpose::Server));
    assert_eq!(v.status, Status::Valid, "{:?}", v.problems);
    assert_eq!(v.qradar_code(), 0);
    assert_eq!(v.status.czertainly(), "valid");
    let subjects: Vec<String> = v.chain.iter().map(Cert::subject_string).collect();
    assert_eq!(subjects, ["CN=www.example.com", "CN=Issuing CA", "CN=Test Root"]);
    let (ok, text) =
        c.lab.openssl_verify(&c.root.cert, &[&c.issuing.cert], &c.leaf.cert, c.at(), &["-purpose", "sslserver"]);
    assert!(ok && text.contains(": OK"), "{text}");

    let v = c.validate(&c.leaf.cert, |v| v.expiring_within = 400 * DAY);
    assert_eq!((v.status, v.status.czertainly(), v.qradar_code()), (Status::Expiring, "expiring", 0));
    let v = c.validate(&c.leaf.cert, |v| v.expiring_within = 30 * DAY);
    assert_eq!(v.status, Status::Valid);
}

#[test]
fn an_expired_leaf_is_2003_and_a_leaf_from_the_future_is_2004() {
    let c = chain();
    let expired = c.lab.issue_between(&c.issuing, "old", "old.example.com", LEAF_EXT, 1_577_836_800, 1_609_459_200);
    let v = c.validate(&expired.cert, |_| {});
    assert_eq!((v.status, v.qradar_code()), (Status::Expired, 2003), "{:?}", v.problems);
    assert!(matches!(&v.problems[0], Problem::Expired { not_after: 1_609_459_200, .. }));
    assert!(v.problems[0].to_string().contains("2021-01-01"), "{}", v.problems[0]);
    let (ok, text) = c.lab.openssl_verify(&c.root.cert, &[&c.issuing.cert], &expired.cert, c.at(), &[]);
    assert!(!ok && text.contains("certificate has expired"), "{text}");

    let start = c.lab.now + 30 * DAY;
    let future = c.lab.issue_between(&c.issuing, "new", "new.example.com", LEAF_EXT, start, start + DAY);
    let v = c.validate(&future.cert, |_| {});
    assert_eq!((v.status, v.status.czertainly(), v.qradar_code()), (Status::Inactive, "inactive", 2004));
    let (ok, text) = c.lab.openssl_verify(&c.root.cert, &[&c.issuing.cert], &future.cert, c.at(), &[]);
    assert!(!ok && text.contains("not yet valid"), "{text}");
}

#[test]
fn a_missing_intermediate_is_2011() {
    let c = chain();
    let anchors = [c.root.cert.clone()];
    let v = Validator::new(&anchors, c.at()).validate(&c.leaf.cert);
    assert_eq!((v.status, v.qradar_code()), (Status::Invalid, 2011), "{:?}", v.problems);
    assert!(matches!(&v.problems[..], [Problem::IssuerNotFound { issuer, .. }] if issuer == "CN=Issuing CA"));
    let (ok, text) = c.lab.openssl_verify(&c.root.cert, &[], &c.leaf.cert, c.at(), &[]);
    assert!(!ok && text.contains("unable to get local issuer certificate"), "{text}");
}

#[test]
fn a_tampered_leaf_or_one_signed_by_an_impostor_is_2013() {
    let c = chain();
    let mut der = c.leaf.cert.der().to_vec();
    let at = der.windows(15).position(|w| w == b"www.example.com").unwrap();
    der[at] ^= 0x01;
    let tampered = Cert::from_der(&der).unwrap();
    let v = c.validate(&tampered, |_| {});
    assert_eq!((v.status, v.qradar_code()), (Status::Invalid, 2013), "{:?}", v.problems);
    assert!(matches!(&v.problems[0], Problem::Chain { fault: ChainFault::BadSignature { .. }, .. }));
    let (ok, _) = c.lab.openssl_verify(&c.root.cert, &[&c.issuing.cert], &tampered, c.at(), &[]);
    assert!(!ok);

    // Another key under the same name signs a leaf that does not name its issuer's key.
    let (key, _) = c.lab.request("impostor", "unused");
    let impostor_cnf = c.lab.path().join("impostor-root.cnf");
    std::fs::write(&impostor_cnf, format!("[req]\ndistinguished_name = dn\n[dn]\n[ext]\n{CA_EXT}\n")).unwrap();
    c.lab.openssl(&[
        "req",
        "-x509",
        "-config",
        "impostor-root.cnf",
        "-extensions",
        "ext",
        "-key",
        &key,
        "-out",
        "impostor.pem",
        "-subj",
        "/CN=Issuing CA",
        "-days",
        "30",
    ]);
    let impostor = c.lab.authority("impostor", &key, "impostor.pem");
    let no_aki = LEAF_EXT.replace("authorityKeyIdentifier = keyid", "authorityKeyIdentifier = none");
    let forged = c.lab.issue(&impostor, "forged", "www.example.com", &no_aki);
    let v = c.validate(&forged.cert, |_| {});
    assert_eq!(v.qradar_code(), 2013, "{:?}", v.problems);
    assert!(
        matches!(&v.problems[0], Problem::Chain { fault: ChainFault::BadSignature { issuer }, .. } if issuer == "CN=Issuing CA")
    );
    let (ok, text) = c.lab.openssl_verify(&c.root.cert, &[&c.issuing.cert], &forged.cert, c.at(), &[]);
    assert!(!ok && text.contains("signature failure"), "{text}");
}

#[test]
fn a_self_signed_certificate_with_a_broken_signature_is_2014() {
    let lab = Lab::new();
    let root = lab.root("self", "self.example.com", "basicConstraints = CA:FALSE\nsubjectKeyIdentifier = hash");
    let at = lab.now + 300;
    let trusted = [root.cert.clone()];
    let v = Validator::new(&trusted, at).validate(&root.cert);
    assert_eq!(v.status, Status::Valid, "a trusted self-signed certificate: {:?}", v.problems);
    let v = Validator::new(&[], at).validate(&root.cert);
    assert_eq!(v.qradar_code(), 2011, "an untrusted one: {:?}", v.problems);
    assert!(matches!(&v.problems[0], Problem::Untrusted { .. }));

    let mut der = root.cert.der().to_vec();
    *der.last_mut().unwrap() ^= 0x01;
    let broken = Cert::from_der(&der).unwrap();
    for anchors in [vec![], vec![broken.clone()]] {
        let v = Validator::new(&anchors, at).validate(&broken);
        assert_eq!((v.status, v.qradar_code()), (Status::Invalid, 2014), "{:?}", v.problems);
    }
    let (ok, text) = lab.openssl_verify(&broken, &[], &broken, at, &["-check_ss_sig"]);
    assert!(!ok && text.contains("signature failure"), "{text}");
}

#[test]
fn a_ca_without_the_ca_flag_or_beyond_its_path_length_is_2013() {
    let lab = Lab::new();
    let at = lab.now + 300;
    let root = lab.root("root", "Test Root", CA_EXT);
    let not_ca = lab.sub_ca(&root, "notca", "Not A CA", &CA_EXT.replace("critical, CA:TRUE", "CA:FALSE"));
    let leaf = lab.issue(&not_ca, "leaf", "www.example.com", LEAF_EXT);
    let anchors = [root.cert.clone()];
    let intermediates = [not_ca.cert.clone()];
    let v = Validator { intermediates: &intermediates, ..Validator::new(&anchors, at) }.validate(&leaf.cert);
    assert_eq!((v.status, codes(&v)), (Status::Invalid, vec![2013]), "{:?}", v.problems);
    assert!(matches!(&v.problems[0], Problem::Chain { fault: ChainFault::NotCa, subject } if subject == "CN=Not A CA"));
    let (ok, text) = lab.openssl_verify(&root.cert, &[&not_ca.cert], &leaf.cert, at, &[]);
    assert!(!ok && text.contains("invalid CA certificate"), "{text}");

    let strict = lab.root("strict", "Strict Root", &CA_EXT.replace("CA:TRUE", "CA:TRUE, pathlen:0"));
    let middle = lab.sub_ca(&strict, "middle", "Middle CA", CA_EXT);
    let leaf = lab.issue(&middle, "leaf2", "www.example.com", LEAF_EXT);
    let anchors = [strict.cert.clone()];
    let intermediates = [middle.cert.clone()];
    let v = Validator { intermediates: &intermediates, ..Validator::new(&anchors, at) }.validate(&leaf.cert);
    assert_eq!(codes(&v), vec![2013], "{:?}", v.problems);
    assert!(matches!(&v.problems[0], Problem::Chain { fault: ChainFault::PathLenExceeded { limit: 0, below: 1 }, .. }));
    let (ok, text) = lab.openssl_verify(&strict.cert, &[&middle.cert], &leaf.cert, at, &[]);
    assert!(!ok && text.contains("path length constraint exceeded"), "{text}");
}

#[test]
fn a_client_only_leaf_does_not_fit_the_server_purpose() {
    let c = chain();
    let client_only = LEAF_EXT.replace("serverAuth, clientAuth", "clientAuth").replace(", keyEncipherment", "");
    let leaf = c.lab.issue(&c.issuing, "client", "client.example.com", &client_only);
    for (purpose, code) in
        [(None, 0), (Some(Purpose::Client), 0), (Some(Purpose::Server), 2012), (Some(Purpose::ServerClient), 2012)]
    {
        let v = c.validate(&leaf.cert, |v| v.purpose = purpose);
        assert_eq!(v.qradar_code(), code, "{purpose:?}: {:?}", v.problems);
    }
    let v = c.validate(&leaf.cert, |v| v.purpose = Purpose::parse("SERVER"));
    assert_eq!(v.status, Status::Invalid);
    assert!(v.problems[0].to_string().contains("serverAuth"), "{}", v.problems[0]);
    let (ok, text) =
        c.lab.openssl_verify(&c.root.cert, &[&c.issuing.cert], &leaf.cert, c.at(), &["-purpose", "sslserver"]);
    assert!(!ok && text.contains("unsuitable certificate purpose"), "{text}");
    let (ok, _) =
        c.lab.openssl_verify(&c.root.cert, &[&c.issuing.cert], &leaf.cert, c.at(), &["-purpose", "sslclient"]);
    assert!(ok);
}

#[test]
fn a_leaf_revoked_in_an_openssl_crl_is_2005_and_its_sibling_is_not() {
    let c = chain();
    let sibling = c.lab.issue(&c.issuing, "sibling", "sibling.example.com", LEAF_EXT);
    c.lab.revoke(&c.issuing, &c.leaf, "keyCompromise");
    let crls = [c.lab.crl(&c.issuing, "issuing", 24)];

    let v = c.validate(&c.leaf.cert, |v| v.crls = &crls);
    assert_eq!((v.status, v.status.czertainly(), codes(&v)), (Status::Revoked, "revoked", vec![2005]));
    assert!(
        matches!(&v.problems[0], Problem::Revoked { reason: Some(CrlReason::KeyCompromise), at: Some(_), serial, .. }
            if *serial == c.leaf.cert.serial_hex()),
        "{:?}",
        v.problems
    );
    let v = c.validate(&sibling.cert, |v| v.crls = &crls);
    assert_eq!(v.status, Status::Valid, "{:?}", v.problems);

    // PEM CRLs are read too.
    let pem = [std::fs::read(c.lab.path().join("issuing.crl")).unwrap()];
    assert_eq!(c.validate(&c.leaf.cert, |v| v.crls = &pem).qradar_code(), 2005);

    let crl = ["-crl_check", "-CRLfile", "issuing.crl"];
    let (ok, text) = c.lab.openssl_verify(&c.root.cert, &[&c.issuing.cert], &c.leaf.cert, c.at(), &crl);
    assert!(!ok && text.contains("certificate revoked"), "{text}");
    let (ok, text) = c.lab.openssl_verify(&c.root.cert, &[&c.issuing.cert], &sibling.cert, c.at(), &crl);
    assert!(ok, "{text}");
}

#[test]
fn an_expired_crl_is_2034_and_a_crl_signed_by_another_key_is_2033() {
    let c = chain();
    let crls = [c.lab.crl(&c.issuing, "issuing", 1)];
    let later = c.lab.now + 2 * 3600;
    let v = c.validate(&c.leaf.cert, |v| {
        v.crls = &crls;
        v.at = later;
    });
    assert_eq!((v.status, codes(&v)), (Status::Failed, vec![2034]), "{:?}", v.problems);
    let (ok, text) = c.lab.openssl_verify(
        &c.root.cert,
        &[&c.issuing.cert],
        &c.leaf.cert,
        later,
        &["-crl_check", "-CRLfile", "issuing.crl"],
    );
    assert!(!ok && text.contains("CRL has expired"), "{text}");

    // Same issuer name, another key.
    let (key, _) = c.lab.request("impostor", "unused");
    std::fs::write(
        c.lab.path().join("impostor.cnf"),
        format!("[req]\ndistinguished_name = dn\n[dn]\n[ext]\n{CA_EXT}\n"),
    )
    .unwrap();
    c.lab.openssl(&[
        "req",
        "-x509",
        "-config",
        "impostor.cnf",
        "-extensions",
        "ext",
        "-key",
        &key,
        "-out",
        "impostor.pem",
        "-subj",
        "/CN=Issuing CA",
        "-days",
        "30",
    ]);
    let impostor = c.lab.authority("impostor", &key, "impostor.pem");
    let crls = [c.lab.crl(&impostor, "impostor", 24)];
    let v = c.validate(&c.leaf.cert, |v| v.crls = &crls);
    assert_eq!((v.status, codes(&v)), (Status::Failed, vec![2033]), "{:?}", v.problems);
    let (ok, text) = c.lab.openssl_verify(
        &c.root.cert,
        &[&c.issuing.cert],
        &c.leaf.cert,
        c.at(),
        &["-crl_check", "-CRLfile", "impostor.crl"],
    );
    assert!(!ok && text.contains("CRL signature failure"), "{text}");
}

#[test]
fn crls_from_outside_the_chain_without_crl_sign_or_unreadable_are_2031_2032_and_2020() {
    let c = chain();
    let stranger = c.lab.root("stranger", "Stranger Root", CA_EXT);
    let crls = [c.lab.crl(&stranger, "stranger", 24)];
    assert_eq!(codes(&c.validate(&c.leaf.cert, |v| v.crls = &crls)), vec![2031]);

    let crls = [b"\x30\x03\x02\x01\x00".to_vec()];
    let v = c.validate(&c.leaf.cert, |v| v.crls = &crls);
    assert_eq!((v.status, codes(&v)), (Status::Failed, vec![2020]));

    let lab = Lab::new();
    let root = lab.root("root", "Test Root", CA_EXT);
    let no_crl_sign = lab.sub_ca(&root, "signonly", "Sign Only CA", &CA_EXT.replace(", cRLSign", ""));
    let leaf = lab.issue(&no_crl_sign, "leaf", "www.example.com", LEAF_EXT);
    let crls = [lab.crl(&no_crl_sign, "signonly", 24)];
    let anchors = [root.cert.clone()];
    let intermediates = [no_crl_sign.cert.clone()];
    let v = Validator { intermediates: &intermediates, crls: &crls, ..Validator::new(&anchors, lab.now + 300) }
        .validate(&leaf.cert);
    assert_eq!(codes(&v), vec![2032], "{:?}", v.problems);
}

#[test]
fn intermediates_in_the_wrong_order_and_with_junk_still_validate() {
    let lab = Lab::new();
    let root = lab.root("root", "Test Root", CA_EXT);
    let upper = lab.sub_ca(&root, "upper", "Upper CA", CA_EXT);
    let lower = lab.sub_ca(&upper, "lower", "Lower CA", CA_EXT);
    let leaf = lab.issue(&lower, "leaf", "www.example.com", LEAF_EXT);
    let other = lab.root("other", "Other Root", CA_EXT);
    let junk = lab.issue(&other, "junk", "junk.example.com", LEAF_EXT);

    let anchors = [root.cert.clone()];
    let intermediates =
        [junk.cert.clone(), lower.cert.clone(), leaf.cert.clone(), other.cert.clone(), upper.cert.clone()];
    let v = Validator { intermediates: &intermediates, ..Validator::new(&anchors, lab.now + 300) }.validate(&leaf.cert);
    assert_eq!(v.status, Status::Valid, "{:?}", v.problems);
    let subjects: Vec<String> = v.chain.iter().map(Cert::subject_string).collect();
    assert_eq!(subjects, ["CN=www.example.com", "CN=Lower CA", "CN=Upper CA", "CN=Test Root"]);
}

#[test]
fn every_problem_is_reported_with_the_most_important_first() {
    let c = chain();
    let start = c.lab.now - 30 * DAY;
    let client_only = LEAF_EXT.replace("serverAuth, clientAuth", "clientAuth");
    let leaf = c.lab.issue_between(&c.issuing, "old", "old.example.com", &client_only, start, start + DAY);
    c.lab.revoke(&c.issuing, &leaf, "superseded");
    let crls = [c.lab.crl(&c.issuing, "issuing", 24)];
    let v = c.validate(&leaf.cert, |v| {
        v.crls = &crls;
        v.purpose = Some(Purpose::Server);
    });
    assert_eq!(codes(&v), vec![2003, 2005, 2012], "{:?}", v.problems);
    assert_eq!((v.status, v.qradar_code()), (Status::Expired, 2003));
}

#[test]
fn unknown_critical_extensions_and_name_constraint_violations_are_2013() {
    let c = chain();
    let odd = format!("{LEAF_EXT}\n1.3.6.1.4.1.55555.1 = critical, ASN1:NULL");
    let leaf = c.lab.issue(&c.issuing, "odd", "odd.example.com", &odd);
    let v = c.validate(&leaf.cert, |_| {});
    assert!(
        matches!(&v.problems[..], [Problem::Chain { fault: ChainFault::UnknownCriticalExtension(oid), .. }]
            if oid == "1.3.6.1.4.1.55555.1"),
        "{:?}",
        v.problems
    );
    let (ok, text) = c.lab.openssl_verify(&c.root.cert, &[&c.issuing.cert], &leaf.cert, c.at(), &[]);
    assert!(!ok && text.contains("unhandled critical extension"), "{text}");

    let constrained = c.lab.sub_ca(
        &c.root,
        "constrained",
        "Constrained CA",
        &format!("{CA_EXT}\nnameConstraints = critical, permitted;DNS:example.com"),
    );
    let inside = c.lab.issue(&constrained, "inside", "www.example.com", LEAF_EXT);
    let outside = c.lab.issue(
        &constrained,
        "outside",
        "evil.example.org",
        &LEAF_EXT.replace("www.example.com", "evil.example.org"),
    );
    let anchors = [c.root.cert.clone()];
    let intermediates = [constrained.cert.clone()];
    let validator = Validator { intermediates: &intermediates, ..Validator::new(&anchors, c.at()) };
    assert_eq!(validator.validate(&inside.cert).status, Status::Valid);
    let v = validator.validate(&outside.cert);
    assert!(
        matches!(&v.problems[..], [Problem::Chain { fault: ChainFault::NameConstraint(why), .. }] if why.contains("evil.example.org")),
        "{:?}",
        v.problems
    );
    let (ok, text) = c.lab.openssl_verify(&c.root.cert, &[&constrained.cert], &outside.cert, c.at(), &[]);
    assert!(!ok && text.contains("permitted subtree violation"), "{text}");
}

#[test]
fn a_revocation_source_is_asked_about_every_certificate_below_an_issuer() {
    let c = chain();
    let leaf_der = c.leaf.cert.der().to_vec();
    let asked = std::cell::RefCell::new(Vec::new());
    let source = |cert: &Cert, issuer: &Cert| {
        asked.borrow_mut().push((cert.subject_string(), issuer.subject_string()));
        if cert.der() == leaf_der {
            Ok(Revocation::Revoked { at: Some(1_700_000_000), reason: Some(CrlReason::CessationOfOperation) })
        } else {
            Ok(Revocation::Good)
        }
    };
    let v = c.validate(&c.leaf.cert, |v| v.revocation = Some(&source));
    assert_eq!((v.status, codes(&v)), (Status::Revoked, vec![2005]));
    assert_eq!(
        *asked.borrow(),
        [
            ("CN=www.example.com".to_owned(), "CN=Issuing CA".to_owned()),
            ("CN=Issuing CA".to_owned(), "CN=Test Root".to_owned())
        ]
    );

    let failing =
        |_: &Cert, _: &Cert| -> Result<Revocation, String> { Err("the OCSP responder did not answer".to_owned()) };
    let v = c.validate(&c.leaf.cert, |v| v.revocation = Some(&failing));
    assert_eq!((v.status, v.qradar_code()), (Status::Failed, 2010));
    assert!(v.problems[0].to_string().contains("did not answer"));
}

fn issue_ca(subject: &str, key: &PrivateKey, issuer_name: &str, issuer_key: &PrivateKey, now: i64) -> Cert {
    let name = common_name(issuer_name).unwrap();
    let ski = issuer_key.public_key().unwrap().key_identifier().unwrap();
    let t = Template {
        serial: cert::random_serial().unwrap(),
        subject: common_name(subject).unwrap(),
        public_key_der: key.public_key_der(),
        not_before: now - DAY,
        not_after: now + DAY,
        extensions: Extensions { ca: Some(None), key_usage: vec![Usage::KeyCertSign], ..Default::default() },
    };
    cert::issue(&t, &Issuer { name: &name, key_identifier: &ski, signer: issuer_key }).unwrap()
}

#[test]
fn loops_end_and_overlong_paths_are_refused() {
    let now = now();
    let (a, b) =
        (PrivateKey::generate(KeyAlgorithm::Ed25519).unwrap(), PrivateKey::generate(KeyAlgorithm::Ed25519).unwrap());
    // A and B certify each other; neither is trusted.
    let a_by_b = issue_ca("A", &a, "B", &b, now);
    let b_by_a = issue_ca("B", &b, "A", &a, now);
    let leaf_key = PrivateKey::generate(KeyAlgorithm::Ecdsa(Curve::P256)).unwrap();
    let leaf = issue_ca("leaf", &leaf_key, "A", &a, now);
    let root = PrivateKey::generate(KeyAlgorithm::Ed25519).unwrap();
    let anchor = issue_ca("Root", &root, "Root", &root, now);
    let anchors = [anchor];
    let intermediates = [a_by_b, b_by_a];
    let v = Validator { intermediates: &intermediates, ..Validator::new(&anchors, now) }.validate(&leaf);
    assert_eq!(v.qradar_code(), 2011, "{:?}", v.problems);
    assert_eq!(v.chain.len(), 3, "leaf, A, B, and then no way on");

    // Root → CA1 → … → CA11 → leaf is longer than the limit.
    let keys: Vec<PrivateKey> = (0..12).map(|_| PrivateKey::generate(KeyAlgorithm::Ed25519).unwrap()).collect();
    let mut certs = Vec::new();
    for i in 1..12 {
        certs.push(issue_ca(&format!("CA{i}"), &keys[i], &format!("CA{}", i - 1), &keys[i - 1], now));
    }
    let root = issue_ca("CA0", &keys[0], "CA0", &keys[0], now);
    let leaf = issue_ca("deep leaf", &leaf_key, "CA11", &keys[11], now);
    let anchors = [root];
    let v = Validator { intermediates: &certs, ..Validator::new(&anchors, now) }.validate(&leaf);
    assert!(matches!(&v.problems[0], Problem::Chain { fault: ChainFault::TooLong, .. }), "{:?}", v.problems);
}

#[test]
fn unreadable_input_is_2001_and_a_well_framed_non_certificate_is_2002() {
    let c = chain();
    let pem = c.leaf.cert.to_pem();
    assert_eq!(parse_for_validation(pem.as_bytes()).unwrap(), c.leaf.cert);
    assert_eq!(parse_for_validation(c.leaf.cert.der()).unwrap(), c.leaf.cert);

    let not_a_cert = "-----BEGIN CERTIFICATE-----\nMAMCAQA=\n-----END CERTIFICATE-----\n";
    for (input, code) in [
        (&b"hello"[..], 2001),
        (b"", 2001),
        (b"\x30\x05\x02", 2001),
        (b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n", 2001),
        (b"-----BEGIN PRIVATE KEY-----\nMAMCAQA=\n-----END PRIVATE KEY-----\n", 2001),
        (not_a_cert.as_bytes(), 2002),
        (b"\x30\x03\x02\x01\x00", 2002),
        (&c.leaf.cert.der()[..c.leaf.cert.der().len() - 1], 2001),
    ] {
        let problem = parse_for_validation(input).unwrap_err();
        assert_eq!(problem.qradar_code(), code, "{input:?}: {problem}");
        let v = Validation::from(problem);
        assert_eq!((v.status, v.qradar_code()), (Status::Invalid, code));
    }
}

#[test]
fn truncated_or_bit_flipped_crls_and_certificates_give_problems_not_panics() {
    let c = chain();
    c.lab.revoke(&c.issuing, &c.leaf, "keyCompromise");
    let good = c.lab.crl(&c.issuing, "issuing", 24);
    for n in 0..good.len() {
        let crls = [good[..n].to_vec()];
        let v = c.validate(&c.leaf.cert, |v| v.crls = &crls);
        assert_eq!(codes(&v), vec![2020], "truncated to {n}: {:?}", v.problems);

        let mut flipped = good.clone();
        flipped[n] ^= 0x04;
        let crls = [flipped];
        let v = c.validate(&c.leaf.cert, |v| v.crls = &crls);
        assert!(!v.problems.is_empty(), "a changed CRL is never silently accepted (byte {n})");
        assert_ne!(v.status, Status::Valid);
    }

    let der = c.leaf.cert.der();
    for n in 0..der.len() {
        let code = parse_for_validation(&der[..n]).unwrap_err().qradar_code();
        assert!(code == 2001 || code == 2002, "truncated to {n}: {code}");
    }
}
