//! Drives full ACME order flows against a directory with the connectors' client, for `bench/acme.sh`: newOrder,
//! authorization, challenge, polling, finalize and download, `--orders` times with `--concurrency` workers (one
//! account each). Meant for servers that pass every challenge (certwright's `acme_insecure_always_valid`, pebble's
//! `PEBBLE_VA_ALWAYS_VALID=1`); each worker is one client with its own nonce chain. Prints one line: orders/s, p50/p99/max latency per order, failures.
//!
//!   acme_load --directory URL [--ca PEM] [--orders N] [--concurrency C] [--poll-ms MS]

use certwright_connectors::acme::{
    AccountKey, AcmeClient, BoxFuture, ChallengeKind, ChallengeResponder, Identifier, PollPolicy,
};
use certwright_pki::alg::{Curve, KeyAlgorithm};
use certwright_pki::key::PrivateKey;
use certwright_pki::names::{common_name, San};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Presents nothing: the server under test passes every challenge.
struct Trusting;

impl ChallengeResponder for Trusting {
    fn kinds(&self) -> Vec<ChallengeKind> {
        vec![ChallengeKind::Http01]
    }

    fn present<'a>(
        &'a self,
        _: ChallengeKind,
        _: &'a Identifier,
        _: &'a str,
        _: &'a str,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }

    fn cleanup<'a>(
        &'a self,
        _: ChallengeKind,
        _: &'a Identifier,
        _: &'a str,
        _: &'a str,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let directory = arg(&args, "--directory").expect("--directory URL");
    let orders: usize = arg(&args, "--orders").map_or(1000, |v| v.parse().expect("--orders N"));
    let concurrency: usize = arg(&args, "--concurrency").map_or(8, |v| v.parse().expect("--concurrency C"));
    let poll = Duration::from_millis(arg(&args, "--poll-ms").map_or(10, |v| v.parse().expect("--poll-ms MS")));
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let mut builder = reqwest::Client::builder().timeout(Duration::from_secs(60)).pool_max_idle_per_host(concurrency);
    if let Some(ca) = arg(&args, "--ca") {
        let pem = std::fs::read(ca).expect("--ca file");
        for cert in reqwest::Certificate::from_pem_bundle(&pem).expect("PEM certificates") {
            builder = builder.add_root_certificate(cert);
        }
    }
    let http = builder.build().expect("HTTP client");
    let policy = PollPolicy { interval: poll, max_interval: poll, timeout: Duration::from_secs(60) };

    // One client (with its own nonce chain), account and certificate key per worker, made before the clock starts.
    let mut workers = Vec::new();
    for w in 0..concurrency {
        let client = Arc::new(AcmeClient::new(&directory, http.clone()).await.expect("directory"));
        let key = AccountKey::generate().expect("account key");
        let account = client.register(&key, &[], None).await.expect("account");
        let cert_key = PrivateKey::generate(KeyAlgorithm::Ecdsa(Curve::P256)).expect("certificate key");
        workers.push((w, client, account, cert_key));
    }
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (w, client, account, cert_key) in workers {
        let next = next.clone();
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            let mut failures = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= orders {
                    break;
                }
                let name = format!("o{n}-w{w}.bench.example.test");
                let csr = certwright_pki::details::build_csr(
                    &cert_key,
                    &common_name(&name).expect("name"),
                    &[San::Dns(name.clone())],
                )
                .expect("CSR");
                let t = Instant::now();
                match client.issue(&account, &csr, &[Identifier::dns(name)], &Trusting, policy).await {
                    Ok(_) => latencies.push(t.elapsed()),
                    Err(e) => failures.push(e.to_string()),
                }
            }
            (latencies, failures)
        });
    }
    let mut latencies = Vec::new();
    let mut failures = Vec::new();
    while let Some(done) = tasks.join_next().await {
        let (l, f) = done.expect("worker");
        latencies.extend(l);
        failures.extend(f);
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    let max = latencies.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0);
    println!(
        "{:.1} orders/s  ok {}  failed {}  p50 {:.1} ms  p99 {:.1} ms  max {:.1} ms  ({:.1} s)",
        latencies.len() as f64 / elapsed,
        latencies.len(),
        failures.len(),
        pct(0.50),
        pct(0.99),
        max,
        elapsed
    );
    if let Some(first) = failures.first() {
        eprintln!("first failure: {first}");
    }
}
