//! The `openssl` command line as a test oracle: running it in a directory, and the OCSP and CRL checks relying
//! parties make against a test server.

use std::path::Path;
use std::process::{Command, Output};

/// Runs `openssl <args>` in `dir`.
pub fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new("openssl").current_dir(dir).args(args).output().expect("openssl is installed")
}

/// Standard output and standard error together.
pub fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// Runs `openssl <args>` in `dir`, which must succeed; returns its standard output.
pub fn ok(dir: &Path, args: &[&str]) -> String {
    let out = run(dir, args);
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Asks the responder at `url` about `leaf` (issued by `issuer`, both PEM files in `dir`), verifying the answer
/// against `ca_file`; `extra` options (such as `-no_nonce`) go before the certificate. Returns openssl's output,
/// e.g. `leaf.pem: revoked` and `Response verify OK`.
pub fn ocsp_status(dir: &Path, url: &str, issuer: &str, leaf: &str, ca_file: &str, extra: &[&str]) -> String {
    let mut args = vec!["ocsp"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["-issuer", issuer, "-cert", leaf, "-url", url, "-CAfile", ca_file]);
    text(&run(dir, &args))
}

/// Whether `openssl verify -crl_check` accepts `leaf` with the CRL in `crl` (PEM files in `dir`), returning
/// whether it did and what it said.
pub fn verify_with_crl(dir: &Path, root: &str, untrusted: &str, crl: &str, leaf: &str) -> (bool, String) {
    let out = run(dir, &["verify", "-crl_check", "-CAfile", root, "-untrusted", untrusted, "-CRLfile", crl, leaf]);
    (out.status.success(), text(&out))
}
