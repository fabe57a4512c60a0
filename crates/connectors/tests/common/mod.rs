//! Shared plumbing for connector tests: running third-party tools (openssl, pebble, pebble-challtestsrv,
//! python3) as child processes that die with the test, and free loopback ports.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

/// A child process killed when dropped.
pub struct Proc {
    pub name: &'static str,
    pub child: Child,
}

impl Proc {
    /// Starts `cmd`, with stdout/stderr written to `<log_dir>/<name>.log`.
    pub fn spawn(name: &'static str, mut cmd: Command, log_dir: &Path) -> Proc {
        let log = std::fs::File::create(log_dir.join(format!("{name}.log"))).unwrap();
        let err = log.try_clone().unwrap();
        let child = cmd
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(err))
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Proc { name, child }
    }

    /// Panics with the log when the process has already exited.
    pub fn assert_running(&mut self, log_dir: &Path) {
        if let Ok(Some(status)) = self.child.try_wait() {
            let log = std::fs::read_to_string(log_dir.join(format!("{}.log", self.name))).unwrap_or_default();
            panic!("{} exited early ({status}):\n{log}", self.name);
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Fails (not skips) when a Debian tool the test needs is missing: CI installs it (scripts/test.sh).
pub fn require(command: &str, package: &str) {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(command).is_file()))
        .unwrap_or(false);
    assert!(found, "`{command}` is not installed: `apt-get install {package}` (scripts/test.sh installs it)");
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Runs a command to completion and panics with its stderr when it fails.
pub fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    out
}

/// `openssl <args>` in `dir`, returning stdout as text.
pub fn openssl(dir: &Path, args: &[&str]) -> String {
    let out = run(Command::new("openssl").current_dir(dir).args(args));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Installs aws-lc as rustls' process-wide provider (reqwest's rustls needs one).
pub fn crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// A running `pebble-challtestsrv` on loopback: mock DNS (every A query answers 127.0.0.1 unless told otherwise,
/// no AAAA), http-01 and https responders, a tls-alpn-01 responder, and its management API.
pub struct ChallTestSrv {
    /// The mock DNS server (UDP and TCP).
    pub dns: std::net::SocketAddr,
    pub http01_port: u16,
    pub https01_port: u16,
    pub tlsalpn01_port: u16,
    pub management: String,
    http: reqwest::Client,
    _proc: Proc,
    _dir: tempfile::TempDir,
}

impl ChallTestSrv {
    /// Starts one and waits until its management API and listeners accept connections.
    pub async fn start() -> ChallTestSrv {
        require("pebble-challtestsrv", "pebble");
        crypto_provider();
        let dir = tempfile::tempdir().unwrap();
        let (dns, http01, https01, tlsalpn01, management) =
            (free_port(), free_port(), free_port(), free_port(), free_port());
        let addr = |port: u16| format!("127.0.0.1:{port}");
        let mut cmd = Command::new("pebble-challtestsrv");
        cmd.args(["-dns01", &addr(dns), "-http01", &addr(http01), "-https01", &addr(https01)])
            .args(["-tlsalpn01", &addr(tlsalpn01), "-management", &addr(management)])
            .args(["-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""]);
        let mut proc = Proc::spawn("challtestsrv", cmd, dir.path());
        let http = reqwest::Client::new();
        let management = format!("http://{}", addr(management));
        for _ in 0..100 {
            proc.assert_running(dir.path());
            let listening = [dns, http01, https01, tlsalpn01]
                .iter()
                .all(|p| std::net::TcpStream::connect(("127.0.0.1", *p)).is_ok());
            if listening
                && try_post(&http, &management, "/set-default-ipv4", serde_json::json!({ "ip": "127.0.0.1" }))
                    .await
                    .is_ok()
            {
                return ChallTestSrv {
                    dns: addr(dns).parse().unwrap(),
                    http01_port: http01,
                    https01_port: https01,
                    tlsalpn01_port: tlsalpn01,
                    management,
                    http,
                    _proc: proc,
                    _dir: dir,
                };
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("pebble-challtestsrv did not start");
    }

    /// POSTs `body` to a management endpoint (`/set-txt`, `/add-caa`, …), panicking when it is refused.
    pub async fn post(&self, path: &str, body: serde_json::Value) {
        if let Err(e) = try_post(&self.http, &self.management, path, body.clone()).await {
            panic!("challtestsrv {path} {body}: {e}");
        }
    }
}

async fn try_post(http: &reqwest::Client, base: &str, path: &str, body: serde_json::Value) -> Result<(), String> {
    let r = http.post(format!("{base}{path}")).json(&body).send().await.map_err(|e| e.to_string())?;
    r.error_for_status().map(|_| ()).map_err(|e| e.to_string())
}
