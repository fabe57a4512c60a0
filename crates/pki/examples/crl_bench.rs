//! CRL build benchmark. Builds a full CRL of N revoked certificates (16-octet serials, keyCompromise) five times
//! with a P-256 CA key and prints the median build time with and without the signature, entries per second, the
//! CRL's size and the process's peak resident memory (VmHWM).
//!
//!   cargo run --release -p certwright-pki --example crl_bench -- [N] [--openssl-dir DIR] [--no-size-hint]
//!
//! `--no-size-hint` hides the number of entries from `build` (as a streamed database cursor would), so the output
//! buffer grows as it is written instead of being reserved up front.
//!
//! With `--openssl-dir`, the same CA and the same entries are also written there as an `openssl ca` database
//! (index.txt, openssl.cnf, ca.pem, ca.key), so that `openssl ca -gencrl` can build the same CRL (bench/crl.sh).

use certwright_pki::alg::{Curve, KeyAlgorithm, SignatureAlgorithm};
use certwright_pki::cert::{self, Extensions, Issuer, Template, Usage};
use certwright_pki::crl::{self, CrlEntry, CrlParams, CrlScope};
use certwright_pki::key::{PrivateKey, Signer};
use certwright_pki::revocation::RevocationReason;
use certwright_pki::{names, pem, PkiError};
use std::error::Error;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const NOW: i64 = 1_790_000_000;
const DAY: i64 = 86_400;
const RUNS: usize = 5;

/// The CA key, with the time spent signing counted apart.
struct TimedSigner<'a> {
    key: &'a PrivateKey,
    nanos: AtomicU64,
}

impl Signer for TimedSigner<'_> {
    fn signature_algorithm(&self) -> SignatureAlgorithm {
        self.key.signature_algorithm()
    }

    fn public_key_der(&self) -> Vec<u8> {
        self.key.public_key_der()
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, PkiError> {
        let started = Instant::now();
        let signature = self.key.sign(message);
        self.nanos.fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        signature
    }
}

/// splitmix64: deterministic, well-spread serials.
fn serials(n: usize) -> Vec<[u8; 16]> {
    let mut state: u64 = 0x5eed;
    let mut next = || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    (0..n)
        .map(|_| {
            let mut s = [0u8; 16];
            s[..8].copy_from_slice(&next().to_be_bytes());
            s[8..].copy_from_slice(&next().to_be_bytes());
            s[0] |= 0x01 << (s[1] % 8); // never a leading zero octet: the same digits in both tools
            s
        })
        .collect()
}

/// When entry `i` was revoked: spread over the past year.
fn revoked_at(i: usize) -> i64 {
    NOW - (i as i64 * 7919) % (365 * DAY)
}

/// `/proc/self/status` field in KiB.
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn mib(bytes: f64) -> String {
    format!("{:.1} MiB", bytes / (1024.0 * 1024.0))
}

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n: usize = args.first().filter(|a| !a.starts_with("--")).map_or(Ok(1_000_000), |a| a.parse())?;
    let openssl_dir = args.iter().position(|a| a == "--openssl-dir").and_then(|i| args.get(i + 1));
    let size_hint = !args.iter().any(|a| a == "--no-size-hint");

    let key = PrivateKey::generate(KeyAlgorithm::Ecdsa(Curve::P256))?;
    let name = names::parse_dn("CN=CRL Bench CA,O=certwright")?;
    let ski = key.public_key()?.key_identifier()?;
    let template = Template {
        serial: cert::random_serial()?,
        subject: name.clone(),
        public_key_der: key.public_key_der(),
        not_before: NOW - 400 * DAY,
        not_after: NOW + 3650 * DAY,
        extensions: Extensions {
            ca: Some(None),
            key_usage: vec![Usage::KeyCertSign, Usage::CrlSign],
            ..Default::default()
        },
    };
    let ca = cert::issue(&template, &Issuer { name: &name, key_identifier: &ski, signer: &key })?;
    let serials = serials(n);
    let baseline_kib = status_kib("VmRSS:");

    let params = CrlParams {
        issuer: &name,
        issuer_key_identifier: &ski,
        number: 1,
        this_update: NOW,
        next_update: NOW + 7 * DAY,
        scope: CrlScope::Full { delta_urls: vec![] },
    };
    let mut totals = Vec::with_capacity(RUNS);
    let mut encodes = Vec::with_capacity(RUNS);
    let mut size = 0;
    for _ in 0..RUNS {
        let entries = serials.iter().enumerate().map(|(i, serial)| CrlEntry {
            serial,
            revoked_at: revoked_at(i),
            reason: Some(RevocationReason::KeyCompromise),
            invalidity_date: None,
        });
        let (total, signing, der) = if size_hint {
            timed_build(&params, entries, &key)?
        } else {
            // A filter's lower size bound is zero.
            timed_build(&params, entries.filter(|_| true), &key)?
        };
        totals.push(total);
        encodes.push(total.saturating_sub(signing));
        size = der.len();
        let info = crl::inspect(&der)?;
        if info.entries != n as u64 {
            return Err(format!("the CRL lists {} entries, not {n}", info.entries).into());
        }
    }
    totals.sort();
    encodes.sort();
    let (total, encode) = (totals[RUNS / 2], encodes[RUNS / 2]);
    let peak_kib = status_kib("VmHWM:");

    let (total_ms, encode_ms) = (total.as_secs_f64() * 1e3, encode.as_secs_f64() * 1e3);
    println!("entries: {n}{}", if size_hint { "" } else { " (no size hint)" });
    println!("crl size: {size} bytes ({})", mib(size as f64));
    println!("build p50 of {RUNS}: {total_ms:.1} ms (signature included)");
    println!("encode p50 of {RUNS}: {encode_ms:.1} ms (signature excluded)");
    let per_second = |d: Duration| n as f64 / d.as_secs_f64().max(1e-9);
    println!("entries/s: {:.0} with the signature, {:.0} encoding only", per_second(total), per_second(encode));
    println!(
        "peak RSS (VmHWM): {} (of which {} before building: the input entries, the CA and the program)",
        mib(peak_kib as f64 * 1024.0),
        mib(baseline_kib as f64 * 1024.0)
    );
    println!("RESULT total_ms={total_ms:.1} encode_ms={encode_ms:.1} bytes={size} peak_kib={peak_kib}");

    if let Some(dir) = openssl_dir {
        write_openssl_ca(std::path::Path::new(dir), &ca, &key, &serials)?;
    }
    Ok(())
}

/// One build: its whole time, the part of it spent signing, and the CRL.
fn timed_build<'e>(
    params: &CrlParams<'_>,
    entries: impl Iterator<Item = CrlEntry<'e>>,
    key: &PrivateKey,
) -> Result<(Duration, Duration, Vec<u8>), PkiError> {
    let signer = TimedSigner { key, nanos: AtomicU64::new(0) };
    let started = Instant::now();
    let der = crl::build(params, entries, &signer)?;
    let total = started.elapsed();
    Ok((total, Duration::from_nanos(signer.nanos.load(Ordering::Relaxed)), der))
}

/// An `openssl ca` directory holding the same CA and the same revocations.
fn write_openssl_ca(
    dir: &std::path::Path,
    ca: &cert::Cert,
    key: &PrivateKey,
    serials: &[[u8; 16]],
) -> Result<(), Box<dyn Error>> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("ca.pem"), ca.to_pem())?;
    std::fs::write(dir.join("ca.key"), pem::encode("PRIVATE KEY", &key.danger_pkcs8_der()?))?;
    std::fs::write(dir.join("crlnumber"), "01\n")?;
    std::fs::write(dir.join("index.txt.attr"), "unique_subject = no\n")?;
    std::fs::write(
        dir.join("openssl.cnf"),
        "[ca]\ndefault_ca = bench\n\n[bench]\ndatabase = index.txt\ncertificate = ca.pem\nprivate_key = ca.key\n\
         crlnumber = crlnumber\ndefault_md = sha256\ndefault_crl_days = 7\nunique_subject = no\n\
         crl_extensions = crl_ext\n\n[crl_ext]\nauthorityKeyIdentifier = keyid:always\n",
    )?;
    let mut index = std::io::BufWriter::new(std::fs::File::create(dir.join("index.txt"))?);
    for (i, serial) in serials.iter().enumerate() {
        let hex: String = serial.iter().map(|b| format!("{b:02X}")).collect();
        writeln!(index, "R\t300101000000Z\t{},keyCompromise\t{hex}\tunknown\t/CN=x", utc_time(revoked_at(i)))?;
    }
    index.flush()?;
    Ok(())
}

/// `YYMMDDHHMMSSZ` (years 2000–2049).
fn utc_time(secs: i64) -> String {
    let days = secs.div_euclid(DAY);
    let of_day = secs.rem_euclid(DAY);
    // civil_from_days (H. Hinnant)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{:02}{month:02}{day:02}{:02}{:02}{:02}Z", year % 100, of_day / 3600, of_day / 60 % 60, of_day % 60)
}
