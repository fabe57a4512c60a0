//! Deployment: putting a certificate where it is used. A `Transport` reaches the files and commands of one host
//! (this one, `local`, or another over SSH, `ssh`); `webserver` installs a certificate for nginx or Apache httpd
//! through a transport — backup, atomic writes, configuration test, graceful reload, a TLS check that the new
//! certificate is served — and puts everything back when a step fails. The appliances: `f5` (F5 BIG-IP through
//! iControl REST), `iis` (Microsoft IIS through WinRM) and `websphere` (an IBM key database, WebSphere or IBM HTTP
//! Server, with `gskcapicmd`), each keeping the previous certificate until the new one is served.

pub mod apache_conf;
pub mod f5;
pub mod iis;
pub mod local;
pub mod ssh;
pub mod webserver;
pub mod websphere;
mod winrm;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a command printed and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandOutput {
    /// The exit code; `None` when it was killed (a signal, the timeout).
    pub code: Option<i32>,
    /// Standard output and error, interleaved, at most 64 KiB.
    pub output: String,
}

impl CommandOutput {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

/// Where a file goes, with its permissions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSpec {
    /// Absolute path on the target host.
    pub path: String,
    /// Unix permission bits (`0o644`, `0o600` for keys).
    pub mode: u32,
    /// `user` or `user:group`; unchanged when `None`.
    pub owner: Option<String>,
}

/// Files and commands of one host.
pub trait Transport: Send + Sync + std::fmt::Debug {
    /// The file's contents, `None` when it does not exist.
    fn read<'a>(&'a self, path: &'a str) -> BoxFuture<'a, std::io::Result<Option<Vec<u8>>>>;

    /// Writes a file atomically: a temporary file in the same directory, permissions and owner set, then
    /// renamed over the target (readers see the old or the new file, never a part).
    fn write<'a>(&'a self, file: &'a FileSpec, contents: &'a [u8]) -> BoxFuture<'a, std::io::Result<()>>;

    /// Removes a file; a missing file is not an error.
    fn remove<'a>(&'a self, path: &'a str) -> BoxFuture<'a, std::io::Result<()>>;

    /// Runs a program (no shell) and waits at most `timeout` for it.
    fn run<'a>(&'a self, argv: &'a [String], timeout: Duration) -> BoxFuture<'a, std::io::Result<CommandOutput>>;
}
