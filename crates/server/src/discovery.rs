//! The `Scanner` port of core, implemented with the connectors' TLS and filesystem scanners, inside the limits
//! of the configuration: the address ranges and paths discovery may look at, and the most endpoints and files
//! per run.

use crate::config::Config;
use certwright_connectors::discovery::files::{self, FileScan};
use certwright_connectors::discovery::glob::Glob;
use certwright_connectors::discovery::targets::{self, Cidr, Endpoint, Plan, TargetError};
use certwright_connectors::discovery::tls::{Outcome, TlsScan, TlsScanner};
use certwright_core::discovery::{
    BoxFuture, FileSpec, KeyPresence, Location, Observation, RunSpec, ScanEnd, ScanEvent, Scanner, TlsSpec,
};
use certwright_core::{CoreError, Result};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc::Sender;
use zeroize::Zeroizing;

/// Most endpoints worked on at once by one run.
pub const MAX_CONCURRENCY: u32 = 4096;
/// Progress is reported every so many endpoints or files.
const PROGRESS_EVERY: u64 = 256;

fn invalid(code: &'static str, message: impl Into<String>) -> CoreError {
    CoreError::invalid(code, message)
}

/// Scans within the configured limits.
#[derive(Debug)]
pub struct ConnectorScanner {
    allowed_ranges: Vec<Cidr>,
    allowed_paths: Vec<PathBuf>,
    max_endpoints: u64,
    max_files: u64,
    concurrency: u32,
    /// The plan of the last TLS spec asked about, for the many `covers` questions at the end of a run.
    last_plan: Mutex<Option<(TlsSpec, Arc<Plan>)>>,
}

impl ConnectorScanner {
    pub fn new(config: &Config) -> Self {
        let allowed_ranges = config.discovery_allowed_ranges.iter().filter_map(|r| r.parse().ok()).collect();
        // Allowed paths are compared after symbolic links are resolved.
        let allowed_paths = config
            .discovery_allowed_paths
            .iter()
            .map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()))
            .collect();
        Self {
            allowed_ranges,
            allowed_paths,
            max_endpoints: config.discovery_max_endpoints,
            max_files: config.discovery_max_files,
            concurrency: config.discovery_concurrency,
            last_plan: Mutex::new(None),
        }
    }

    /// Resolves the names of a TLS spec and plans it inside the allowed ranges.
    async fn plan(&self, spec: &TlsSpec) -> Result<Arc<Plan>> {
        if let Ok(guard) = self.last_plan.lock() {
            if let Some((_, plan)) = guard.as_ref().filter(|(s, _)| s == spec) {
                return Ok(plan.clone());
            }
        }
        for name in &spec.server_names {
            if rustls::pki_types::ServerName::try_from(name.as_str()).is_err() || name.parse::<IpAddr>().is_ok() {
                return Err(invalid("discovery.invalid_target", format!("'{name}' is not a server name")));
            }
        }
        let plan = targets::plan(&spec.targets, &spec.server_names, &self.allowed_ranges, self.max_endpoints)
            .await
            .map_err(|e| match e {
                TargetError::NotAllowed(_) => invalid("discovery.not_allowed", e.to_string()),
                TargetError::TooMany { .. } => invalid("discovery.too_many_endpoints", e.to_string()),
                TargetError::Unresolvable(_) => invalid("discovery.unresolvable", e.to_string()),
                other => invalid("discovery.invalid_target", other.to_string()),
            })?;
        let plan = Arc::new(plan);
        if let Ok(mut guard) = self.last_plan.lock() {
            *guard = Some((spec.clone(), plan.clone()));
        }
        Ok(plan)
    }

    fn settings(&self, spec: &TlsSpec) -> Result<TlsScan> {
        let concurrency = spec.concurrency.unwrap_or(self.concurrency);
        if !(1..=MAX_CONCURRENCY).contains(&concurrency) {
            return Err(invalid(
                "discovery.invalid_spec",
                format!("concurrency must be between 1 and {MAX_CONCURRENCY}"),
            ));
        }
        let ms = |v: Option<u32>, default: u64, name: &str| match v {
            None => Ok(Duration::from_millis(default)),
            Some(v) if (10..=60_000).contains(&v) => Ok(Duration::from_millis(u64::from(v))),
            Some(_) => Err(invalid("discovery.invalid_spec", format!("{name} must be between 10 and 60000"))),
        };
        Ok(TlsScan {
            concurrency: concurrency as usize,
            rate_per_second: spec.rate_per_second,
            connect_timeout: ms(spec.connect_timeout_ms, 3_000, "connect_timeout_ms")?,
            handshake_timeout: ms(spec.handshake_timeout_ms, 5_000, "handshake_timeout_ms")?,
            legacy_fallback: true,
        })
    }

    /// The files spec as the connectors take it, with its paths checked against the allowed ones.
    fn file_scan(&self, spec: &FileSpec) -> Result<FileScan> {
        if self.allowed_paths.is_empty() {
            return Err(invalid(
                "discovery.not_allowed",
                "filesystem discovery is off: list the directories it may read in discovery_allowed_paths",
            ));
        }
        let mut roots = Vec::with_capacity(spec.paths.len());
        for p in &spec.paths {
            let path = Path::new(p);
            if !path.is_absolute() {
                return Err(invalid("discovery.invalid_spec", format!("'{p}' is not an absolute path")));
            }
            let real = std::fs::canonicalize(path)
                .map_err(|e| invalid("discovery.invalid_spec", format!("'{p}' cannot be read: {e}")))?;
            if !self.allowed_paths.iter().any(|a| real.starts_with(a)) {
                return Err(invalid(
                    "discovery.not_allowed",
                    format!("'{p}' is outside the paths discovery may read (discovery_allowed_paths)"),
                ));
            }
            roots.push(real);
        }
        let globs = |list: &[String]| -> Result<Vec<Glob>> {
            list.iter()
                .map(|g| Glob::new(g).map_err(|e| invalid("discovery.invalid_spec", format!("glob '{g}': {e}"))))
                .collect()
        };
        Ok(FileScan {
            roots,
            include: globs(&spec.include)?,
            exclude: globs(&spec.exclude)?,
            max_files: self.max_files,
            max_depth: spec.max_depth.unwrap_or(64).min(256),
            follow_symlinks: spec.follow_symlinks,
            read_private_keys: spec.import_private_keys,
            ..FileScan::default()
        })
    }

    async fn scan_tls(&self, spec: &TlsSpec, events: Sender<ScanEvent>, stop: &AtomicBool) -> Result<ScanEnd> {
        let plan = self.plan(spec).await?;
        let scanner = TlsScanner::new(self.settings(spec)?)
            .map_err(|e| CoreError::Storage(format!("cannot set up the TLS client: {e}")))?;
        let (results, mut received) = tokio::sync::mpsc::channel(1024);
        let scan = scanner.scan(plan.endpoints(), results, || stop.load(Ordering::Relaxed));
        let forward = async {
            let mut examined = 0u64;
            while let Some((endpoint, outcome)) = received.recv().await {
                examined += 1;
                let event = match outcome {
                    Outcome::Found(found) => Some(ScanEvent::Found(Box::new(Observation {
                        location: location_of(&endpoint),
                        chain: found.chain,
                        protocol: Some(found.protocol),
                        cipher: Some(found.cipher),
                        legacy: found.legacy,
                        format: None,
                        key: KeyPresence::Absent,
                        private_key: None,
                    }))),
                    Outcome::Failed(why) => Some(ScanEvent::Problem(format!("{endpoint}: {why}"))),
                    Outcome::Closed | Outcome::ConnectTimeout => None,
                };
                let progress = examined.is_multiple_of(PROGRESS_EVERY).then_some(ScanEvent::Progress(examined));
                for e in event.into_iter().chain(progress) {
                    if events.send(e).await.is_err() {
                        return examined;
                    }
                }
            }
            examined
        };
        let (report, examined) = tokio::join!(scan, forward);
        let _ = events.send(ScanEvent::Progress(examined)).await;
        // The plan was held to the endpoint limit before the run was queued.
        Ok(ScanEnd { examined: report.examined, stopped_at_limit: false })
    }

    async fn scan_files(
        &self,
        spec: &FileSpec,
        passwords: &[Zeroizing<String>],
        events: Sender<ScanEvent>,
        stop: &AtomicBool,
    ) -> Result<ScanEnd> {
        let mut scan = self.file_scan(spec)?;
        scan.passwords = passwords.to_vec();
        let halt = Arc::new(AtomicBool::new(stop.load(Ordering::Relaxed)));
        scan.stop = Some(halt.clone());
        let halt_in = halt.clone();
        let walk = tokio::task::spawn_blocking(move || {
            let found = events.clone();
            let progress = events.clone();
            let report = files::scan(
                &scan,
                &mut |f| {
                    let observation = Observation {
                        location: Location::File { path: f.path.to_string_lossy().into_owned(), entry: f.entry },
                        chain: f.chain,
                        protocol: None,
                        cipher: None,
                        legacy: false,
                        format: Some(f.format.to_owned()),
                        key: match &f.private_key {
                            files::KeyPresence::Absent => KeyPresence::Absent,
                            files::KeyPresence::Encrypted => KeyPresence::Encrypted,
                            _ => KeyPresence::Present,
                        },
                        private_key: match f.private_key {
                            files::KeyPresence::Read(der) => Some(der),
                            _ => None,
                        },
                    };
                    // Nobody listens any more (the run ended on an error): stop walking.
                    if halt_in.load(Ordering::Relaxed)
                        || found.blocking_send(ScanEvent::Found(Box::new(observation))).is_err()
                    {
                        halt_in.store(true, Ordering::Relaxed);
                    }
                },
                &mut |n| {
                    let _ = progress.try_send(ScanEvent::Progress(n));
                },
            );
            for (path, why) in report.problems.iter().take(certwright_core::discovery::MAX_RUN_PROBLEMS) {
                let _ = events.blocking_send(ScanEvent::Problem(format!("{}: {why}", path.display())));
            }
            let _ = events.blocking_send(ScanEvent::Progress(report.files_examined));
            report
        });
        tokio::pin!(walk);
        // Pass a cancellation on to the walk (it stops before its next file).
        let report = loop {
            tokio::select! {
                done = &mut walk => break done,
                _ = tokio::time::sleep(Duration::from_millis(200)) => {
                    if stop.load(Ordering::Relaxed) {
                        halt.store(true, Ordering::Relaxed);
                    }
                }
            }
        }
        .map_err(|e| CoreError::Storage(format!("the filesystem scan ended abnormally: {e}")))?;
        Ok(ScanEnd { examined: report.files_examined, stopped_at_limit: report.stopped_at_limit })
    }

    fn covers_file(&self, spec: &FileSpec, path: &str) -> bool {
        let Ok(scan) = self.file_scan(spec) else { return false };
        let path = Path::new(path);
        let text = path.to_string_lossy();
        // Below a root and no deeper than the walk went (a file directly in the root is at depth 0).
        let within = |root: &PathBuf| {
            path.strip_prefix(root)
                .is_ok_and(|rest| rest.components().count().saturating_sub(1) <= scan.max_depth as usize)
        };
        scan.roots.iter().any(within)
            && (scan.include.is_empty() || scan.include.iter().any(|g| g.matches(&text)))
            && !scan.exclude.iter().any(|g| g.matches(&text))
    }
}

fn location_of(endpoint: &Endpoint) -> Location {
    Location::Tls { ip: endpoint.ip, port: endpoint.port, server_name: endpoint.sni.clone() }
}

impl Scanner for ConnectorScanner {
    fn check<'a>(&'a self, spec: &'a RunSpec) -> BoxFuture<'a, Result<u64>> {
        Box::pin(async move {
            match spec {
                RunSpec::Tls(tls) => {
                    self.settings(tls)?;
                    let plan = self.plan(tls).await?;
                    Ok(u64::try_from(plan.count()).unwrap_or(u64::MAX))
                }
                RunSpec::Files(f) => self.file_scan(f).map(|_| 0),
            }
        })
    }

    fn scan<'a>(
        &'a self,
        spec: &'a RunSpec,
        passwords: &'a [Zeroizing<String>],
        events: Sender<ScanEvent>,
        stop: &'a AtomicBool,
    ) -> BoxFuture<'a, Result<ScanEnd>> {
        Box::pin(async move {
            match spec {
                RunSpec::Tls(tls) => self.scan_tls(tls, events, stop).await,
                RunSpec::Files(f) => self.scan_files(f, passwords, events, stop).await,
            }
        })
    }

    fn covers<'a>(&'a self, spec: &'a RunSpec, location: &'a Location) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            match (spec, location) {
                (RunSpec::Tls(tls), Location::Tls { ip, port, server_name }) => match self.plan(tls).await {
                    Ok(plan) => plan.covers(&Endpoint { ip: *ip, port: *port, sni: server_name.clone() }),
                    Err(_) => false,
                },
                (RunSpec::Files(f), Location::File { path, .. }) => self.covers_file(f, path),
                _ => false,
            }
        })
    }
}
