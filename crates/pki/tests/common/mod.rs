//! What the openssl oracle tests share: running openssl, and self-signed test CAs.
#![allow(dead_code)] // each test crate uses its own part

use certwright_pki::cert::{self, Cert, Extensions, Issuer, Template, Usage};
use certwright_pki::key::{PrivateKey, Signer};
use certwright_pki::names::parse_dn;
use std::path::Path;
use std::process::Command;

pub const DAY: i64 = 86_400;

/// Runs openssl in `dir`: whether it succeeded, and its standard output and error together.
pub fn openssl(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl").current_dir(dir).args(args).output().expect("openssl is installed");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// A self-signed CA certificate for `key` (basicConstraints cA without a path length, the given key usages).
pub fn self_signed_ca(key: &PrivateKey, subject: &str, not_before: i64, not_after: i64, key_usage: Vec<Usage>) -> Cert {
    let name = parse_dn(subject).unwrap();
    let ski = key.public_key().unwrap().key_identifier().unwrap();
    let t = Template {
        serial: cert::random_serial().unwrap(),
        subject: name.clone(),
        public_key_der: key.public_key_der(),
        not_before,
        not_after,
        extensions: Extensions { ca: Some(None), key_usage, ..Default::default() },
    };
    cert::issue(&t, &Issuer { name: &name, key_identifier: &ski, signer: key }).unwrap()
}
