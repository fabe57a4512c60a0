//! The filesystem discovery scanner against a tree of files made by tools we did not write: `openssl` (a root,
//! an intermediate and leaves; PEM, DER, PKCS#7, PKCS#12 modern and legacy, encrypted PKCS#8, traditional RSA
//! keys) and Java's `keytool` (JKS, JCEKS and PKCS#12 keystores), next to junk files, an excluded directory, a
//! symbolic link loop and an oversized file. Fingerprints are checked against `openssl x509 -fingerprint`.

mod common;

use certwright_connectors::discovery::files::{scan, FileFinding, FileScan, FileScanReport, KeyPresence};
use certwright_connectors::discovery::glob::Glob;
use certwright_pki::cert::Cert;
use certwright_pki::key::PrivateKey;
use certwright_pki::pkcs8;
use common::{openssl, require, run};
use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use zeroize::Zeroizing;

const CA_EXT: &str = "basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n";
const LEAF_EXT: &str = "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nsubjectAltName=DNS:leaf.test\n";
const MAX_FILE_BYTES: u64 = 200_000;

struct Fixture {
    work: PathBuf,
    scan: PathBuf,
    /// Regular files written to the scan tree that a scan with the usual settings examines.
    examined: Vec<&'static str>,
    /// SHA-256 fingerprints by certificate name, as `openssl x509 -fingerprint` prints them (normalized).
    fingerprints: HashMap<String, String>,
}

impl Fixture {
    fn fp(&self, name: &str) -> &str {
        self.fingerprints.get(name).unwrap_or_else(|| panic!("no certificate {name}"))
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.scan.join(rel)
    }

    fn usual(&self) -> FileScan {
        FileScan {
            roots: vec![self.scan.clone()],
            exclude: vec![Glob::new("skipme").unwrap()],
            passwords: ["keypass", "p12pass", "storepass"].iter().map(|p| Zeroizing::new((*p).to_owned())).collect(),
            max_file_bytes: MAX_FILE_BYTES,
            ..FileScan::default()
        }
    }
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(build)
}

/// Runs keytool on the store described by `store` (type, file, password).
fn keytool(dir: &Path, store: &[&str], args: &[&str]) {
    run(Command::new("keytool").current_dir(dir).args(args).args(store));
}

fn build() -> Fixture {
    require("openssl", "openssl");
    require("keytool", "openjdk-17-jre-headless");
    let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("discovery_files");
    let _ = fs::remove_dir_all(&base);
    let (work, scan) = (base.join("work"), base.join("scan"));
    fs::create_dir_all(&work).unwrap();
    fs::create_dir_all(&scan).unwrap();
    let mut f = Fixture { work: work.clone(), scan: scan.clone(), examined: Vec::new(), fingerprints: HashMap::new() };

    // The CA hierarchy, a second leaf with a traditional RSA key, one with an encrypted key, and two more roots.
    self_signed(&work, "root", "Test Root CA");
    self_signed(&work, "other1", "Other Root One");
    self_signed(&work, "other2", "Other Root Two");
    issue(&work, "int", "Test Intermediate CA", "root", CA_EXT);
    issue(&work, "leaf", "leaf.test", "int", LEAF_EXT);
    // Same name as the intermediate, another key: only the signature tells which one issued the leaf.
    issue(&work, "int2", "Test Intermediate CA", "root", CA_EXT);
    openssl(&work, &["genrsa", "-traditional", "-out", "site.key", "2048"]);
    issue(&work, "site", "site.test", "int", LEAF_EXT);
    issue(&work, "app", "app.test", "int", LEAF_EXT);
    openssl(
        &work,
        &["pkcs8", "-topk8", "-v2", "aes-256-cbc", "-in", "app.key", "-passout", "pass:keypass", "-out", "app.enc.key"],
    );
    openssl(&work, &["pkcs8", "-topk8", "-nocrypt", "-in", "leaf.key", "-outform", "DER", "-out", "leaf.key.der"]);
    openssl(&work, &["x509", "-in", "leaf.crt", "-outform", "DER", "-out", "leaf.der"]);
    let read = |name: &str| fs::read(work.join(name)).unwrap();
    let text = |names: &[&str]| names.iter().map(|n| String::from_utf8(read(n)).unwrap()).collect::<String>();
    fs::write(work.join("introot.pem"), text(&["int.crt", "root.crt"])).unwrap();
    fs::write(work.join("chain3.pem"), text(&["leaf.crt", "int.crt", "root.crt"])).unwrap();

    let mut put = |rel: &'static str, bytes: &[u8], examined: bool| {
        let path = scan.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, bytes).unwrap();
        if examined {
            f.examined.push(rel);
        }
    };
    put("chain/fullchain.pem", text(&["root.crt", "leaf.crt", "int.crt"]).as_bytes(), true);
    put("combined.pem", text(&["leaf.key", "leaf.crt", "int.crt"]).as_bytes(), true);
    put("web/site.crt", &read("site.crt"), true);
    put("web/site.key", &read("site.key"), true);
    put("enc/app.pem", text(&["app.crt", "app.enc.key"]).as_bytes(), true);
    put("der/leaf.der", &read("leaf.der"), true);
    put("der/leaf.key", &read("leaf.key.der"), true);
    let zero_then_pem = format!("0 is where this note starts\n{}", text(&["other1.crt"]));
    put("zero-then.pem", zero_then_pem.as_bytes(), true);
    put("twins.pem", text(&["leaf.crt", "int2.crt", "int.crt"]).as_bytes(), true);
    put("ca-bundle.pem", text(&["root.crt", "other1.crt", "other2.crt"]).as_bytes(), true);

    openssl(&work, &["crl2pkcs7", "-nocrl", "-certfile", "chain3.pem", "-outform", "DER", "-out", "bundle.p7b"]);
    openssl(&work, &["crl2pkcs7", "-nocrl", "-certfile", "chain3.pem", "-out", "bundle.p7c"]);
    put("bundle.p7b", &read("bundle.p7b"), true);
    put("bundle-pem.p7c", &read("bundle.p7c"), true);
    let p12 =
        ["pkcs12", "-export", "-inkey", "leaf.key", "-in", "leaf.crt", "-certfile", "introot.pem", "-name", "web"];
    openssl(&work, &[&p12[..], &["-passout", "pass:p12pass", "-out", "store.p12"]].concat());
    openssl(&work, &[&p12[..], &["-legacy", "-passout", "pass:p12pass", "-out", "legacy.p12"]].concat());
    put("store.p12", &read("store.p12"), true);
    put("legacy.p12", &read("legacy.p12"), true);

    // Java keystores: a JKS whose key entry holds a chain signed by our intermediate, plus two trusted entries.
    let sp = ["-storepass", "storepass"];
    let jks = [&["-storetype", "JKS", "-keystore", "keystore.jks"][..], &sp[..]].concat();
    keytool(&work, &jks, &["-importcert", "-alias", "root", "-file", "root.crt", "-noprompt"]);
    keytool(&work, &jks, &["-importcert", "-alias", "int", "-file", "int.crt", "-noprompt"]);
    keytool(
        &work,
        &jks,
        &[
            "-genkeypair",
            "-alias",
            "server",
            "-keyalg",
            "EC",
            "-groupname",
            "secp256r1",
            "-dname",
            "CN=jks.test",
            "-keypass",
            "storepass",
        ],
    );
    keytool(&work, &jks, &["-certreq", "-alias", "server", "-file", "server.csr"]);
    fs::write(work.join("server.ext"), LEAF_EXT).unwrap();
    openssl(
        &work,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "int.crt",
            "-CAkey",
            "int.key",
            "-CAcreateserial",
            "-days",
            "30",
            "-extfile",
            "server.ext",
            "-out",
            "server.crt",
        ],
    );
    keytool(&work, &jks, &["-importcert", "-alias", "server", "-file", "server.crt"]);
    let p12ks = [&["-storetype", "PKCS12", "-keystore", "keystore.p12"][..], &sp[..]].concat();
    keytool(
        &work,
        &p12ks,
        &["-genkeypair", "-alias", "p12server", "-keyalg", "EC", "-groupname", "secp256r1", "-dname", "CN=p12.test"],
    );
    keytool(&work, &p12ks, &["-importcert", "-alias", "root", "-file", "root.crt", "-noprompt"]);
    keytool(&work, &p12ks, &["-exportcert", "-alias", "p12server", "-rfc", "-file", "p12server.crt"]);
    let jceks = [&["-storetype", "JCEKS", "-keystore", "secret.jceks"][..], &sp[..]].concat();
    keytool(
        &work,
        &jceks,
        &["-genseckey", "-alias", "aes", "-keyalg", "AES", "-keysize", "128", "-keypass", "storepass"],
    );
    keytool(&work, &jceks, &["-importcert", "-alias", "root", "-file", "root.crt", "-noprompt"]);
    // With this alias, Java 17 writes the secret key before the certificate.
    let jceks = [&["-storetype", "JCEKS", "-keystore", "secret-first.jceks"][..], &sp[..]].concat();
    keytool(
        &work,
        &jceks,
        &["-genseckey", "-alias", "x", "-keyalg", "AES", "-keysize", "128", "-keypass", "storepass"],
    );
    keytool(&work, &jceks, &["-importcert", "-alias", "root", "-file", "root.crt", "-noprompt"]);
    put("java/keystore.jks", &read("keystore.jks"), true);
    put("java/keystore.p12", &read("keystore.p12"), true);
    put("java/secret.jceks", &read("secret.jceks"), true);
    put("java/secret-first.jceks", &read("secret-first.jceks"), true);

    // Files that hold nothing, or nothing readable.
    let mut noise = Vec::new();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..4096 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        noise.push(state as u8);
    }
    put("junk/notes.txt", b"certificates live in /etc/ssl\n", true);
    put("junk/random.bin", &noise, true);
    put("junk/zero.txt", b"0123456789\n", true);
    put("junk/empty.pem", b"", true);
    put("junk/only-key.pem", &read("leaf.key"), true);
    put("junk/broken.pem", b"-----BEGIN CERTIFICATE-----\nnot base64 !!\n-----END CERTIFICATE-----\n", true);
    // Never examined: an excluded directory and a file above the size limit.
    put("skipme/deeper/leaf.pem", &read("leaf.crt"), false);
    let mut big = read("site.crt");
    big.extend(std::iter::repeat_n(b'#', MAX_FILE_BYTES as usize));
    put("big.pem", &big, false);
    // Links: a loop back to the top, and a file reached through a link.
    std::os::unix::fs::symlink("..", scan.join("chain/up")).unwrap();
    std::os::unix::fs::symlink("chain/fullchain.pem", scan.join("link.pem")).unwrap();

    for name in ["root", "other1", "other2", "int", "int2", "leaf", "site", "app", "server", "p12server"] {
        let out = openssl(&work, &["x509", "-in", &format!("{name}.crt"), "-noout", "-fingerprint", "-sha256"]);
        let hex = out.trim().rsplit('=').next().unwrap().replace(':', "").to_lowercase();
        f.fingerprints.insert(name.to_owned(), hex);
    }
    f
}

/// A self-signed CA (openssl's default `v3_ca` section makes it CA:TRUE).
fn self_signed(work: &Path, name: &str, cn: &str) {
    let (key, crt, subj) = (format!("{name}.key"), format!("{name}.crt"), format!("/CN={cn}"));
    openssl(
        work,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &crt,
            "-days",
            "30",
            "-subj",
            &subj,
        ],
    );
}

/// A certificate for `name` signed by `issuer`, with a new P-256 key unless `name.key` exists.
fn issue(work: &Path, name: &str, cn: &str, issuer: &str, ext: &str) {
    let (key, csr, crt, extfile) =
        (format!("{name}.key"), format!("{name}.csr"), format!("{name}.crt"), format!("{name}.ext"));
    let subj = format!("/CN={cn}");
    if work.join(&key).exists() {
        openssl(work, &["req", "-new", "-key", &key, "-subj", &subj, "-out", &csr]);
    } else {
        openssl(
            work,
            &[
                "req",
                "-new",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                &key,
                "-subj",
                &subj,
                "-out",
                &csr,
            ],
        );
    }
    fs::write(work.join(&extfile), ext).unwrap();
    let (ca, ca_key) = (format!("{issuer}.crt"), format!("{issuer}.key"));
    openssl(
        work,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-days",
            "30",
            "-extfile",
            &extfile,
            "-out",
            &crt,
        ],
    );
}

struct Outcome {
    findings: Vec<FileFinding>,
    report: FileScanReport,
    progress: Vec<u64>,
}

impl Outcome {
    fn at(&self, path: &Path) -> Vec<&FileFinding> {
        self.findings.iter().filter(|f| f.path == path).collect()
    }

    fn one(&self, path: &Path) -> &FileFinding {
        match self.at(path).as_slice() {
            [one] => one,
            other => panic!("{} findings at {}: {other:?}", other.len(), path.display()),
        }
    }

    fn problem(&self, path: &Path) -> Option<&str> {
        self.report.problems.iter().find(|(p, _)| p == path).map(|(_, m)| m.as_str())
    }
}

fn run_scan(spec: &FileScan) -> Outcome {
    let (mut findings, mut progress) = (Vec::new(), Vec::new());
    let report = scan(spec, &mut |f| findings.push(f), &mut |n| progress.push(n));
    Outcome { findings, report, progress }
}

fn fps(chain: &[Vec<u8>]) -> Vec<String> {
    chain.iter().map(|der| Cert::from_der(der).unwrap().fingerprint_sha256()).collect()
}

#[track_caller]
fn assert_chain(f: &Fixture, finding: &FileFinding, format: &str, names: &[&str], key: KeyPresence) {
    assert_eq!(finding.format, format, "{finding:?}");
    let expected: Vec<String> = names.iter().map(|n| f.fp(n).to_owned()).collect();
    assert_eq!(fps(&finding.chain), expected, "chain of {finding:?}");
    assert_eq!(finding.private_key, key, "key of {finding:?}");
}

#[test]
fn every_format_in_the_tree_is_found_with_its_chain_and_key() {
    let f = fixture();
    let out = run_scan(&f.usual());
    let p = |rel| f.path(rel);

    // PEM: a full chain in scrambled order, a key with its certificate, a .crt beside its .key.
    assert_chain(f, out.one(&p("chain/fullchain.pem")), "pem", &["leaf", "int", "root"], KeyPresence::Absent);
    assert_chain(f, out.one(&p("combined.pem")), "pem", &["leaf", "int"], KeyPresence::Present);
    assert_chain(f, out.one(&p("web/site.crt")), "pem", &["site"], KeyPresence::Present);
    assert_chain(f, out.one(&p("enc/app.pem")), "pem", &["app"], KeyPresence::Present);
    assert_eq!(out.one(&p("chain/fullchain.pem")).entry, None);
    // DER certificate with a DER PKCS#8 key beside it; PKCS#7 in DER and in PEM.
    assert_chain(f, out.one(&p("der/leaf.der")), "der", &["leaf"], KeyPresence::Present);
    assert_chain(f, out.one(&p("bundle.p7b")), "pkcs7", &["leaf", "int", "root"], KeyPresence::Absent);
    assert_chain(f, out.one(&p("bundle-pem.p7c")), "pkcs7", &["leaf", "int", "root"], KeyPresence::Absent);
    // PKCS#12, modern and legacy, opened by the second password of the list.
    for rel in ["store.p12", "legacy.p12"] {
        let finding = out.one(&p(rel));
        assert_chain(f, finding, "pkcs12", &["leaf", "int", "root"], KeyPresence::Present);
        assert_eq!(finding.entry.as_deref(), Some("web"));
    }
    // A CA bundle: one finding per certificate, told apart by block index.
    let bundle = out.at(&p("ca-bundle.pem"));
    assert_eq!(bundle.len(), 3);
    for (i, name) in ["root", "other1", "other2"].iter().enumerate() {
        assert_chain(f, bundle[i], "pem", &[name], KeyPresence::Absent);
        assert_eq!(bundle[i].entry.as_deref(), Some(i.to_string().as_str()));
    }

    // Text that starts like DER (`0`) is still read as PEM.
    assert_chain(f, out.one(&p("zero-then.pem")), "pem", &["other1"], KeyPresence::Absent);
    // Two intermediates of the same name: the leaf is chained to the one whose key signed it.
    let twins = out.at(&p("twins.pem"));
    assert_eq!(twins.len(), 2);
    assert_chain(f, twins[0], "pem", &["leaf", "int"], KeyPresence::Absent);
    assert_chain(f, twins[1], "pem", &["int2"], KeyPresence::Absent);
    assert_eq!((twins[0].entry.as_deref(), twins[1].entry.as_deref()), (Some("0"), Some("1")));

    // JKS: the key entry with the chain keytool built, and the two trusted entries.
    let jks = out.at(&p("java/keystore.jks"));
    let by_alias = |alias: &str| *jks.iter().find(|x| x.entry.as_deref() == Some(alias)).unwrap();
    assert_eq!(jks.len(), 3, "{jks:?}");
    assert_chain(f, by_alias("server"), "jks", &["server", "int", "root"], KeyPresence::Present);
    assert_chain(f, by_alias("root"), "jks", &["root"], KeyPresence::Absent);
    assert_chain(f, by_alias("int"), "jks", &["int"], KeyPresence::Absent);
    // A keytool PKCS#12 store: the key entry, then the trusted root on its own.
    let p12 = out.at(&p("java/keystore.p12"));
    assert_eq!(p12.len(), 2, "{p12:?}");
    assert_chain(f, p12[0], "pkcs12", &["p12server"], KeyPresence::Present);
    assert_eq!(p12[0].entry.as_deref(), Some("p12server"));
    assert_chain(f, p12[1], "pkcs12", &["root"], KeyPresence::Absent);
    // JCEKS: reading stops at a secret key; the root is listed when stored before it, else that is a problem.
    let mut jceks_found = 0;
    for rel in ["java/secret.jceks", "java/secret-first.jceks"] {
        let found = out.at(&p(rel));
        match (found.as_slice(), out.problem(&p(rel))) {
            ([root], None) => assert_chain(f, root, "jks", &["root"], KeyPresence::Absent),
            ([], Some(problem)) => assert!(problem.ends_with("entries not read: 1"), "{problem}"),
            other => panic!("unexpected JCEKS outcome for {rel}: {other:?}"),
        }
        jceks_found += found.len();
    }

    // Nothing else: junk is silent, the excluded directory, the big file and the links are not looked at.
    let expected_findings = 10 + 2 + 3 + 3 + 2 + jceks_found;
    assert_eq!(out.findings.len(), expected_findings, "{:#?}", out.findings);
    assert!(out.at(&p("big.pem")).is_empty() && out.at(&p("link.pem")).is_empty());
    assert!(out.findings.iter().all(|x| !x.path.starts_with(p("skipme"))));
    assert!(out.problem(&p("junk/broken.pem")).is_some_and(|m| m.contains("PEM block 0")));
    let problems: Vec<_> =
        out.report.problems.iter().filter(|(path, _)| path.extension().is_none_or(|e| e != "jceks")).collect();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(out.report.files_examined, f.examined.len() as u64);
    assert_eq!(out.report.files_skipped, 1);
    assert!(!out.report.stopped_at_limit);
    assert_eq!(out.progress.last(), Some(&out.report.files_examined));
}

#[test]
fn without_passwords_pkcs12_is_a_problem_and_encrypted_keys_are_reported_encrypted() {
    let f = fixture();
    let out = run_scan(&FileScan { passwords: Vec::new(), ..f.usual() });
    for rel in ["store.p12", "legacy.p12"] {
        assert!(out.at(&f.path(rel)).is_empty());
        assert_eq!(out.problem(&f.path(rel)), Some("PKCS#12 file: no password opened it"));
    }
    assert_chain(f, out.one(&f.path("enc/app.pem")), "pem", &["app"], KeyPresence::Encrypted);
    // keytool's PKCS#12 store has a password too; JKS certificates need none.
    assert!(out.problem(&f.path("java/keystore.p12")).is_some());
    assert_eq!(out.at(&f.path("java/keystore.jks")).len(), 3);
    let wrong = run_scan(&FileScan { passwords: vec![Zeroizing::new("nope".to_owned())], ..f.usual() });
    assert_eq!(wrong.one(&f.path("enc/app.pem")).private_key, KeyPresence::Encrypted);
}

#[test]
fn read_private_keys_returns_the_key_that_matches_each_certificate() {
    let f = fixture();
    let out = run_scan(&FileScan { read_private_keys: true, ..f.usual() });
    for (rel, name) in [
        ("combined.pem", "leaf"),
        ("web/site.crt", "site"),
        ("enc/app.pem", "app"),
        ("der/leaf.der", "leaf"),
        ("store.p12", "leaf"),
        ("legacy.p12", "leaf"),
    ] {
        let finding = out.one(&f.path(rel));
        let KeyPresence::Read(der) = &finding.private_key else { panic!("{rel}: {finding:?}") };
        let key = PrivateKey::from_pkcs8_der(der).unwrap();
        let cert = Cert::from_pem(&fs::read_to_string(f.work.join(format!("{name}.crt"))).unwrap()).unwrap();
        assert!(pkcs8::matches_certificate(&key, &cert).unwrap(), "{rel}");
        assert!(!format!("{finding:?}").contains(&format!("{:?}", &der[..8])));
    }
    // Keystore keys are never decrypted.
    let jks = out.at(&f.path("java/keystore.jks"));
    assert!(jks.iter().any(|x| x.private_key == KeyPresence::Present));
}

#[test]
fn following_symlinks_reaches_linked_files_and_ends_on_a_loop() {
    let f = fixture();
    let out = run_scan(&FileScan { follow_symlinks: true, ..f.usual() });
    assert_chain(f, out.one(&f.path("link.pem")), "pem", &["leaf", "int", "root"], KeyPresence::Absent);
    // The loop `chain/up -> ..` leads back to the root, which is not entered again: every file once, plus the link.
    assert_eq!(out.report.files_examined, f.examined.len() as u64 + 1);
    assert_eq!(out.at(&f.path("combined.pem")).len(), 1);
    assert!(out.findings.iter().all(|x| !x.path.starts_with(f.path("chain/up"))));

    // A dangling link is a problem when links are followed, and passed over when they are not.
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink("missing.pem", dir.path().join("dangling.pem")).unwrap();
    let spec = FileScan { roots: vec![dir.path().to_path_buf()], follow_symlinks: true, ..FileScan::default() };
    let out = run_scan(&spec);
    assert_eq!(out.report.problems.len(), 1, "{:?}", out.report.problems);
    assert!(run_scan(&FileScan { follow_symlinks: false, ..spec }).report.problems.is_empty());
}

#[test]
fn max_files_stops_the_scan_and_says_so() {
    let f = fixture();
    let out = run_scan(&FileScan { max_files: 3, ..f.usual() });
    assert_eq!(out.report.files_examined, 3);
    assert!(out.report.stopped_at_limit);
    // Name order: bundle-pem.p7c, bundle.p7b, ca-bundle.pem are the first three files of the root.
    let paths: Vec<_> = out.findings.iter().map(|x| x.path.clone()).collect();
    assert!(paths.iter().all(|x| x.parent() == Some(f.scan.as_path())), "{paths:?}");
    assert_eq!(out.findings.len(), 1 + 1 + 3);
    let exact = run_scan(&FileScan { max_files: f.examined.len() as u64, ..f.usual() });
    assert!(!exact.report.stopped_at_limit);
    assert_eq!(exact.findings.len(), run_scan(&f.usual()).findings.len());
}

#[test]
fn include_patterns_select_files_and_exclude_patterns_prune_directories() {
    let f = fixture();
    let only_p12 = run_scan(&FileScan { include: vec![Glob::new("*.p12").unwrap()], ..f.usual() });
    assert_eq!(only_p12.report.files_examined, 3);
    assert!(only_p12.findings.iter().all(|x| x.format == "pkcs12"));
    assert_eq!(only_p12.findings.len(), 4);

    let pruned = run_scan(&FileScan {
        exclude: vec![Glob::new("**/java").unwrap(), Glob::new("junk/").unwrap(), Glob::new("skipme").unwrap()],
        ..f.usual()
    });
    assert!(pruned.findings.iter().all(|x| x.format != "jks" && !x.path.starts_with(f.path("java"))));
    assert_eq!(pruned.report.files_examined, f.examined.len() as u64 - 4 - 6);

    // Without the exclusion the copy under skipme/deeper is found; with max_depth 1 it is out of reach again.
    let all = run_scan(&FileScan { exclude: Vec::new(), ..f.usual() });
    assert_eq!(all.at(&f.path("skipme/deeper/leaf.pem")).len(), 1);
    let shallow = run_scan(&FileScan { exclude: Vec::new(), max_depth: 1, ..f.usual() });
    assert!(shallow.at(&f.path("skipme/deeper/leaf.pem")).is_empty());
    assert_eq!(shallow.at(&f.path("web/site.crt")).len(), 1);
    let top_only = run_scan(&FileScan { max_depth: 0, ..f.usual() });
    assert!(top_only.findings.iter().all(|x| x.path.parent() == Some(f.scan.as_path())));
}

#[test]
fn a_single_file_root_is_examined_and_an_unreadable_file_is_a_problem() {
    let f = fixture();
    let out = run_scan(&FileScan { roots: vec![f.path("web/site.crt")], ..FileScan::default() });
    assert_chain(f, out.one(&f.path("web/site.crt")), "pem", &["site"], KeyPresence::Present);
    assert_eq!(out.report.files_examined, 1);

    let dir = tempfile::tempdir().unwrap();
    let locked = dir.path().join("locked.pem");
    fs::copy(f.work.join("leaf.crt"), &locked).unwrap();
    fs::set_permissions(&locked, std::os::unix::fs::PermissionsExt::from_mode(0o000)).unwrap();
    let out = run_scan(&FileScan { roots: vec![dir.path().to_path_buf()], ..FileScan::default() });
    if fs::File::open(&locked).is_ok() {
        // Running as root: permissions do not stop reading, so the file is simply found.
        assert_eq!(out.findings.len(), 1);
    } else {
        assert!(out.findings.is_empty());
        assert!(out.problem(&locked).is_some_and(|m| m.starts_with("cannot read")));
    }
    assert_eq!(out.report.files_examined, 1);
}

#[test]
fn a_stop_flag_ends_the_walk_before_the_next_file() {
    let f = fixture();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let out = run_scan(&FileScan { stop: Some(stop), ..f.usual() });
    assert_eq!(out.report.files_examined, 0);
    assert!(out.findings.is_empty());
    assert!(out.report.stopped_at_limit, "a stopped walk did not cover everything: {:?}", out.report);
}
