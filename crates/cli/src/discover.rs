//! `certwright discover`: scans from this machine, without a server — TLS endpoints (`discover tls`) or
//! directories (`discover files`) — and prints what was found as a table or JSON. TLS targets are held to the
//! configured `discovery_allowed_ranges` (plus `--allow`), as the server's runs are.

use certwright_connectors::discovery::files::{self, FileScan, KeyPresence};
use certwright_connectors::discovery::glob::Glob;
use certwright_connectors::discovery::targets::{self, Cidr};
use certwright_connectors::discovery::tls::{Outcome, TlsScan, TlsScanner};
use certwright_pki::cert::Cert;
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(Debug, Subcommand)]
pub enum DiscoverCommand {
    /// Scan TLS endpoints: `certwright discover tls 127.0.0.1/32:1-65535 10.0.0.0/24:443,8443 www.example.com`.
    Tls(TlsArgs),
    /// Scan directories for certificate files and key stores (PEM, DER, PKCS#7, PKCS#12, JKS).
    Files(FilesArgs),
}

#[derive(Debug, Args)]
pub struct TlsArgs {
    /// `host[:ports]`, `address[:ports]`, `cidr[:ports]`, `[v6][/prefix][:ports]`; ports `443`, `443,8443`,
    /// `8000-8100` (443 when none).
    #[arg(required = true)]
    targets: Vec<String>,
    /// Server name (SNI) sent to every address target; repeat to try several names per endpoint.
    #[arg(long = "sni")]
    server_names: Vec<String>,
    /// Endpoints worked on at once.
    #[arg(long, default_value_t = 512)]
    concurrency: usize,
    /// Connections started per second at most.
    #[arg(long)]
    rate: Option<u32>,
    #[arg(long, default_value_t = 3000)]
    connect_timeout_ms: u64,
    #[arg(long, default_value_t = 5000)]
    handshake_timeout_ms: u64,
    /// A further range that may be scanned, besides `discovery_allowed_ranges` (repeatable).
    #[arg(long = "allow")]
    allow: Vec<String>,
    /// Most endpoints (addresses × ports × names) one scan may cover.
    #[arg(long, default_value_t = 1 << 24)]
    max_endpoints: u64,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Also list endpoints that listen but gave no certificate, with why.
    #[arg(long)]
    failures: bool,
}

#[derive(Debug, Args)]
pub struct FilesArgs {
    /// Directories (walked recursively) or files.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Glob a file must match (repeatable), e.g. `*.pem`, `**/ssl/**`.
    #[arg(long)]
    include: Vec<String>,
    /// Glob of files and directories to leave out (repeatable).
    #[arg(long)]
    exclude: Vec<String>,
    /// Password tried on PKCS#12 files and encrypted keys (repeatable).
    #[arg(long = "password")]
    passwords: Vec<String>,
    #[arg(long, default_value_t = 100_000)]
    max_files: u64,
    #[arg(long)]
    follow_symlinks: bool,
    #[arg(long)]
    json: bool,
}

/// Subject, issuer, expiry and fingerprint of each certificate of a chain.
fn describe(chain: &[Vec<u8>]) -> Vec<Value> {
    chain
        .iter()
        .map(|der| match Cert::from_der(der) {
            Ok(c) => json!({
                "subject": c.subject_string(), "issuer": c.issuer_string(),
                "not_after": certwright_core::clock::to_rfc3339(c.not_after()), "fingerprint_sha256": c.fingerprint_sha256(),
            }),
            Err(e) => json!({ "error": e.to_string() }),
        })
        .collect()
}

fn bar(len: Option<u64>) -> ProgressBar {
    let bar = match len {
        Some(n) => ProgressBar::new(n),
        None => ProgressBar::new_spinner(),
    };
    let style = ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} {per_sec} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_draw_target(indicatif::ProgressDrawTarget::stderr_with_hz(4));
    bar
}

fn table(rows: &[[String; 5]], header: [&str; 5]) {
    let mut widths = header.map(str::len);
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: [&str; 5]| {
        let text: Vec<String> = cells.iter().zip(widths).map(|(c, w)| format!("{c:<w$}")).collect();
        println!("{}", text.join("  ").trim_end());
    };
    line(header);
    for row in rows {
        line([&row[0], &row[1], &row[2], &row[3], &row[4]]);
    }
}

pub async fn tls(allowed: Vec<String>, args: &TlsArgs) -> Result<ExitCode, String> {
    let mut ranges: Vec<Cidr> = Vec::new();
    for r in allowed.iter().chain(&args.allow) {
        ranges.push(r.parse().map_err(|e| format!("--allow {r}: {e}"))?);
    }
    let plan = targets::plan(&args.targets, &args.server_names, &ranges, args.max_endpoints)
        .await
        .map_err(|e| e.to_string())?;
    let total = u64::try_from(plan.count()).unwrap_or(u64::MAX);
    let scanner = TlsScanner::new(TlsScan {
        concurrency: args.concurrency.max(1),
        rate_per_second: args.rate,
        connect_timeout: Duration::from_millis(args.connect_timeout_ms),
        handshake_timeout: Duration::from_millis(args.handshake_timeout_ms),
        legacy_fallback: true,
    })
    .map_err(|e| e.to_string())?;
    let progress = bar(Some(total));
    let started = Instant::now();
    let (sender, mut received) = tokio::sync::mpsc::channel(4096);
    let scan = scanner.scan(plan.endpoints(), sender, || false);
    let collect = async {
        let mut found = Vec::new();
        let mut failed = Vec::new();
        while let Some((endpoint, outcome)) = received.recv().await {
            progress.inc(1);
            match outcome {
                Outcome::Found(f) => {
                    progress.set_message(format!("{} found", found.len() + 1));
                    found.push(json!({
                        "endpoint": endpoint.to_string(), "ip": endpoint.ip, "port": endpoint.port,
                        "server_name": endpoint.sni, "protocol": f.protocol, "cipher": f.cipher,
                        "legacy_handshake": f.legacy, "chain": describe(&f.chain),
                    }));
                }
                Outcome::Failed(why) => failed.push(json!({ "endpoint": endpoint.to_string(), "error": why })),
                Outcome::Closed | Outcome::ConnectTimeout => {}
            }
        }
        (found, failed)
    };
    let (report, (found, failed)) = tokio::join!(scan, collect);
    progress.finish_and_clear();
    let elapsed = started.elapsed().as_secs_f64();
    let rate = report.examined as f64 / elapsed.max(1e-9);
    if args.json {
        let mut out = json!({
            "examined": report.examined, "found": report.found, "closed": report.closed,
            "timeouts": report.timeouts, "failed": report.failed, "seconds": elapsed,
            "endpoints_per_second": rate, "results": found,
        });
        if args.failures {
            out["failures"] = Value::from(failed);
        }
        println!("{out}");
    } else {
        let rows: Vec<[String; 5]> = found
            .iter()
            .map(|r| {
                let leaf = &r["chain"][0];
                [
                    r["endpoint"].as_str().unwrap_or_default().to_owned(),
                    r["protocol"].as_str().unwrap_or_default().to_owned(),
                    leaf["subject"].as_str().unwrap_or_default().to_owned(),
                    leaf["not_after"].as_str().unwrap_or_default().to_owned(),
                    leaf["fingerprint_sha256"].as_str().unwrap_or_default().chars().take(16).collect(),
                ]
            })
            .collect();
        table(&rows, ["ENDPOINT", "PROTOCOL", "SUBJECT", "NOT AFTER", "SHA-256"]);
        if args.failures {
            for f in &failed {
                println!(
                    "no certificate: {} ({})",
                    f["endpoint"].as_str().unwrap_or_default(),
                    f["error"].as_str().unwrap_or_default()
                );
            }
        }
        eprintln!(
            "{} endpoints in {elapsed:.2} s ({rate:.0}/s): {} with certificates, {} closed, {} timed out, {} without a certificate",
            report.examined, report.found, report.closed, report.timeouts, report.failed
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn files(args: &FilesArgs) -> Result<ExitCode, String> {
    let globs = |list: &[String]| -> Result<Vec<Glob>, String> {
        list.iter().map(|g| Glob::new(g).map_err(|e| format!("glob '{g}': {e}"))).collect()
    };
    let spec = FileScan {
        roots: args.paths.clone(),
        include: globs(&args.include)?,
        exclude: globs(&args.exclude)?,
        passwords: args.passwords.iter().cloned().map(zeroize::Zeroizing::new).collect(),
        max_files: args.max_files,
        follow_symlinks: args.follow_symlinks,
        ..FileScan::default()
    };
    let progress = bar(None);
    let walker = progress.clone();
    let (found, report) = tokio::task::spawn_blocking(move || {
        let mut found = Vec::new();
        let report = files::scan(
            &spec,
            &mut |f| {
                found.push(json!({
                    "path": f.path, "entry": f.entry, "format": f.format,
                    "private_key": match f.private_key {
                        KeyPresence::Absent => "absent",
                        KeyPresence::Encrypted => "encrypted",
                        _ => "present",
                    },
                    "chain": describe(&f.chain),
                }))
            },
            &mut |n| walker.set_position(n),
        );
        (found, report)
    })
    .await
    .map_err(|e| e.to_string())?;
    progress.finish_and_clear();
    if args.json {
        let problems: Vec<Value> =
            report.problems.iter().map(|(p, why)| json!({ "path": p, "problem": why })).collect();
        println!(
            "{}",
            json!({ "files_examined": report.files_examined, "files_skipped": report.files_skipped,
                    "stopped_at_limit": report.stopped_at_limit, "results": found, "problems": problems })
        );
    } else {
        let rows: Vec<[String; 5]> = found
            .iter()
            .map(|r| {
                let leaf = &r["chain"][0];
                let mut place = r["path"].as_str().unwrap_or_default().to_owned();
                if let Some(e) = r["entry"].as_str() {
                    place = format!("{place}#{e}");
                }
                [
                    place,
                    r["format"].as_str().unwrap_or_default().to_owned(),
                    leaf["subject"].as_str().unwrap_or_default().to_owned(),
                    leaf["not_after"].as_str().unwrap_or_default().to_owned(),
                    r["private_key"].as_str().unwrap_or_default().to_owned(),
                ]
            })
            .collect();
        table(&rows, ["LOCATION", "FORMAT", "SUBJECT", "NOT AFTER", "KEY"]);
        for (p, why) in &report.problems {
            eprintln!("problem: {}: {why}", p.display());
        }
        eprintln!(
            "{} files examined, {} skipped{}",
            report.files_examined,
            report.files_skipped,
            if report.stopped_at_limit { ", stopped at --max-files" } else { "" }
        );
    }
    Ok(ExitCode::SUCCESS)
}
