//! Real programs in tests: `openssl`, ACME clients, pebble and other helpers started as child processes, with
//! their output logged to a file in the test's directory and killed when the test lets go of them.

use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A child process killed (and reaped) when dropped.
#[derive(Debug)]
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

/// Runs `openssl args…` in `dir`, panicking with its error output when it fails; returns its standard output.
pub use crate::openssl::ok as openssl;

fn on_path(command: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(command).is_file()))
        .unwrap_or(false)
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Makes sure `command` (from the Debian package `package`) is installed: as root it is installed with apt-get
/// when missing; otherwise a missing command fails the test with how to install it. Tests never skip silently.
pub fn require(command: &str, package: &str) {
    static APT: std::sync::Mutex<()> = std::sync::Mutex::new(());
    if on_path(command) {
        return;
    }
    let hint = format!(
        "`{command}` is not installed: run `apt-get install {package}` as root (scripts/test.sh installs every \
         package the tests need)"
    );
    assert!(is_root(), "{hint}");
    let _one_at_a_time = APT.lock().unwrap_or_else(|e| e.into_inner());
    if on_path(command) {
        return;
    }
    let install = || {
        Command::new("apt-get")
            .args(["install", "-y", "-qq", package])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .is_ok_and(|s| s.success())
    };
    if !install() {
        let _ = Command::new("apt-get").args(["update", "-qq"]).status();
        install();
    }
    assert!(on_path(command), "{hint}; installing it failed");
}

/// Starts `cmd` with its output going to `<dir>/<name>.log`.
pub fn spawn(dir: &Path, name: &str, cmd: &mut Command) -> Killed {
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).expect("a log file");
    let child = cmd
        .stdout(Stdio::from(log.try_clone().expect("a log file")))
        .stderr(Stdio::from(log))
        .stdin(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {name} (scripts/test.sh installs what the tests need): {e}"));
    Killed(child)
}

/// How a program run by [`run`] ended.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    /// Its standard output and error, interleaved as written.
    pub log: String,
}

impl Finished {
    pub fn success(&self) -> bool {
        self.status.success()
    }
}

/// Runs `cmd` to its end without blocking the async runtime (a server under test may be serving it), logging to
/// `<dir>/<name>.log`; kills it and panics, with its log, after `timeout`.
pub async fn run(dir: &Path, name: &str, cmd: &mut Command, timeout: Duration) -> Finished {
    let mut child = spawn(dir, name, cmd);
    let deadline = Instant::now() + timeout;
    let log = || std::fs::read_to_string(dir.join(format!("{name}.log"))).unwrap_or_default();
    loop {
        if let Some(status) = child.0.try_wait().expect("waiting for a child process") {
            return Finished { status, log: log() };
        }
        assert!(Instant::now() < deadline, "{name} did not finish within {timeout:?}:\n{}", log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
