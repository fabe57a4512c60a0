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
