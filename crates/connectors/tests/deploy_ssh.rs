//! The SSH deploy transport against a real OpenSSH server on loopback: a throwaway `sshd` with its own host key,
//! logging in as the current user with a throwaway client key, driven by the system `ssh` client.

mod common;

use certwright_connectors::deploy::ssh::{SshTarget, SshTransport};
use certwright_connectors::deploy::{FileSpec, Transport};
use common::{free_port, require, run, Proc};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

const SSHD: &str = "/usr/sbin/sshd";

/// Installs openssh-server when `sshd` is missing and we are root; fails with a clear message otherwise.
fn ensure_sshd() {
    static CHECKED: OnceLock<()> = OnceLock::new();
    CHECKED.get_or_init(|| {
        let root = run(Command::new("id").arg("-u")).stdout == b"0\n";
        if !Path::new(SSHD).exists() && root {
            let install = || {
                Command::new("apt-get")
                    .args(["install", "-y", "-qq", "openssh-server"])
                    .env("DEBIAN_FRONTEND", "noninteractive")
                    .status()
                    .is_ok_and(|s| s.success())
            };
            if !install() {
                let _ = Command::new("apt-get").args(["update", "-qq"]).status();
                install();
            }
        }
        assert!(Path::new(SSHD).exists(), "`{SSHD}` is not installed: `apt-get install openssh-server`");
        require("ssh", "openssh-client");
        require("ssh-keygen", "openssh-client");
    });
}

/// A new ed25519 key pair at `path` (and `path.pub`); returns the public key line.
fn keygen(path: &Path) -> String {
    run(Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", "", "-C", "test", "-f"]).arg(path));
    std::fs::read_to_string(path.with_extension("pub")).unwrap().trim().to_owned()
}

/// A running `sshd` on 127.0.0.1 that accepts `client` for the current user; killed when dropped.
struct Sshd {
    dir: tempfile::TempDir,
    port: u16,
    user: String,
    host_key: String,
    client_key: Zeroizing<String>,
    _proc: Proc,
}

impl Sshd {
    fn start() -> Sshd {
        ensure_sshd();
        std::fs::create_dir_all("/run/sshd").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let host_key = keygen(&d.join("host"));
        let client_pub = keygen(&d.join("client"));
        let client_key = Zeroizing::new(std::fs::read_to_string(d.join("client")).unwrap());
        std::fs::write(d.join("authorized_keys"), format!("{client_pub}\n")).unwrap();
        let port = free_port();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host\nAuthorizedKeysFile {d}/authorized_keys\n\
             PidFile {d}/sshd.pid\nStrictModes no\nUsePAM no\nPasswordAuthentication no\n\
             KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\nUseDNS no\nPrintMotd no\n",
            d = d.display()
        );
        std::fs::write(d.join("sshd_config"), config).unwrap();
        let mut cmd = Command::new(SSHD);
        cmd.args(["-D", "-e", "-f"]).arg(d.join("sshd_config"));
        let mut proc = Proc::spawn("sshd", cmd, d);
        let user = String::from_utf8(run(Command::new("id").arg("-un")).stdout).unwrap().trim().to_owned();
        for _ in 0..100 {
            proc.assert_running(d);
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Sshd { dir, port, user, host_key, client_key, _proc: proc };
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("sshd did not start listening on port {port}");
    }

    fn target(&self) -> SshTarget {
        SshTarget {
            port: self.port,
            connect_timeout: Duration::from_secs(5),
            ..SshTarget::new("127.0.0.1", self.user.clone(), self.host_key.clone(), self.client_key.clone())
        }
    }

    fn transport(&self) -> SshTransport {
        SshTransport::new(self.target()).unwrap()
    }

    /// A fresh directory to deploy into (the server is this machine, so tests look at it directly too).
    fn deploy_dir(&self, name: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::create_dir(&path).unwrap();
        path
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }
}

fn spec(path: &Path, mode: u32) -> FileSpec {
    FileSpec { path: path.to_str().unwrap().to_owned(), mode, owner: None }
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

fn argv(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| (*w).to_owned()).collect()
}

#[tokio::test]
async fn written_file_reads_back_with_its_mode_and_a_missing_file_reads_as_none() {
    let sshd = Sshd::start();
    let ssh = sshd.transport();
    let dir = sshd.deploy_dir("tls");
    let key = dir.join("site.key");
    let contents = b"-----BEGIN PRIVATE KEY-----\nnot really\n-----END PRIVATE KEY-----\n";
    ssh.write(&spec(&key, 0o600), contents).await.unwrap_or_else(|e| panic!("{e}\n{}", sshd.log()));
    assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o7777, 0o600);
    assert_eq!(ssh.read(key.to_str().unwrap()).await.unwrap().as_deref(), Some(&contents[..]));

    let cert = dir.join("site.pem");
    ssh.write(&spec(&cert, 0o644), b"").await.unwrap();
    assert_eq!(std::fs::metadata(&cert).unwrap().permissions().mode() & 0o7777, 0o644);
    assert_eq!(ssh.read(cert.to_str().unwrap()).await.unwrap(), Some(Vec::new()));

    let binary: Vec<u8> = (0..=255u8).cycle().take(300_000).collect();
    let big = dir.join("big.der");
    ssh.write(&spec(&big, 0o640), &binary).await.unwrap();
    assert_eq!(ssh.read(big.to_str().unwrap()).await.unwrap(), Some(binary));

    let missing = dir.join("missing.pem");
    assert_eq!(ssh.read(missing.to_str().unwrap()).await.unwrap(), None);
    let under_missing_dir = dir.join("no-such-dir/site.pem");
    assert_eq!(ssh.read(under_missing_dir.to_str().unwrap()).await.unwrap(), None);
    let err = ssh.read(dir.to_str().unwrap()).await.unwrap_err();
    assert!(err.to_string().contains("Is a directory"), "{err}");
}

#[tokio::test]
async fn overwrite_replaces_the_file_and_leaves_no_temporary_files() {
    let sshd = Sshd::start();
    let ssh = sshd.transport();
    let dir = sshd.deploy_dir("tls");
    let cert = dir.join("site.pem");
    ssh.write(&spec(&cert, 0o644), b"old certificate\n").await.unwrap();
    let before = std::fs::metadata(&cert).unwrap();
    ssh.write(&spec(&cert, 0o644), b"new certificate\n").await.unwrap();
    assert_eq!(std::fs::read(&cert).unwrap(), b"new certificate\n");
    // Renamed over the old file, not rewritten in place.
    use std::os::unix::fs::MetadataExt;
    assert_ne!(std::fs::metadata(&cert).unwrap().ino(), before.ino());
    assert_eq!(entries(&dir), ["site.pem"]);
}

#[tokio::test]
async fn a_failed_write_keeps_the_old_file_and_cleans_up() {
    let sshd = Sshd::start();
    let ssh = sshd.transport();
    let dir = sshd.deploy_dir("tls");
    let cert = dir.join("site.pem");
    ssh.write(&spec(&cert, 0o644), b"old\n").await.unwrap();
    let bad_owner = FileSpec { owner: Some("certwright-no-such-user".into()), ..spec(&cert, 0o644) };
    let err = ssh.write(&bad_owner, b"new\n").await.unwrap_err();
    assert!(err.to_string().contains("certwright-no-such-user"), "{err}");
    assert_eq!(std::fs::read(&cert).unwrap(), b"old\n");
    assert_eq!(entries(&dir), ["site.pem"]);

    let err = ssh.write(&spec(&dir.join("no-such-dir/site.pem"), 0o644), b"x").await.unwrap_err();
    assert!(err.to_string().contains("no-such-dir"), "{err}");
    let err = ssh.write(&spec(Path::new("relative.pem"), 0o644), b"x").await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}

#[tokio::test]
async fn owner_is_set_when_given() {
    let sshd = Sshd::start();
    let ssh = sshd.transport();
    let dir = sshd.deploy_dir("tls");
    let uid = String::from_utf8(run(Command::new("id").arg("-u")).stdout).unwrap().trim().to_owned();
    let gid = String::from_utf8(run(Command::new("id").arg("-g")).stdout).unwrap().trim().to_owned();
    let cert = dir.join("site.pem");
    let file = FileSpec { owner: Some(format!("{uid}:{gid}")), ..spec(&cert, 0o640) };
    ssh.write(&file, b"owned\n").await.unwrap();
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(&cert).unwrap();
    assert_eq!((meta.uid().to_string(), meta.gid().to_string()), (uid, gid));
    assert_eq!(meta.mode() & 0o7777, 0o640);
}

#[tokio::test]
async fn remove_deletes_and_tolerates_a_missing_file() {
    let sshd = Sshd::start();
    let ssh = sshd.transport();
    let dir = sshd.deploy_dir("tls");
    let cert = dir.join("site.pem");
    ssh.write(&spec(&cert, 0o644), b"x").await.unwrap();
    ssh.remove(cert.to_str().unwrap()).await.unwrap();
    assert!(!cert.exists());
    ssh.remove(cert.to_str().unwrap()).await.unwrap();
    let err = ssh.remove(dir.to_str().unwrap()).await.unwrap_err();
    assert!(err.to_string().contains("cannot remove"), "{err}");
    assert!(dir.exists());
}

#[tokio::test]
async fn paths_with_blanks_quotes_and_shell_syntax_are_taken_literally() {
    let sshd = Sshd::start();
    let ssh = sshd.transport();
    let dir = sshd.deploy_dir("it's a \"dir\" $(touch pwned)");
    let cert = dir.join("we'll `id` see; *.pem");
    ssh.write(&spec(&cert, 0o644), b"quoted\n").await.unwrap();
    assert_eq!(std::fs::read(&cert).unwrap(), b"quoted\n");
    assert_eq!(ssh.read(cert.to_str().unwrap()).await.unwrap().as_deref(), Some(&b"quoted\n"[..]));
    ssh.remove(cert.to_str().unwrap()).await.unwrap();
    assert!(entries(&dir).is_empty());
    assert!(!sshd.dir.path().join("pwned").exists());

    let out = ssh.run(&argv(&["printf", "%s|", "a b", "it's", "$HOME", "`id`", ""]), Duration::from_secs(20)).await;
    assert_eq!(out.unwrap().output, "a b|it's|$HOME|`id`||");
}

#[tokio::test]
async fn run_passes_output_and_exit_codes_through() {
    let sshd = Sshd::start();
    let ssh = sshd.transport();
    let t = Duration::from_secs(20);
    let out = ssh.run(&argv(&["echo", "hello", "world"]), t).await.unwrap();
    assert_eq!((out.code, out.output.as_str()), (Some(0), "hello world\n"));
    assert!(out.success());

    let out = ssh.run(&argv(&["sh", "-c", "echo out; sleep 0.2; echo err >&2; exit 7"]), t).await.unwrap();
    assert_eq!((out.code, out.output.as_str()), (Some(7), "out\nerr\n"));

    let out = ssh.run(&argv(&["sh", "-c", "kill -9 $$"]), t).await.unwrap();
    assert_eq!(out.code, Some(137));

    let out = ssh.run(&argv(&["certwright-no-such-program"]), t).await.unwrap();
    assert_eq!(out.code, Some(127));
    assert!(out.output.contains("certwright-no-such-program"), "{}", out.output);

    let out = ssh.run(&argv(&["sh", "-c", "head -c 200000 /dev/zero | tr '\\0' a"]), t).await.unwrap();
    assert_eq!(out.code, Some(0));
    assert_eq!(out.output.len(), 64 * 1024);

    assert!(ssh.run(&[], t).await.is_err());
}

#[tokio::test]
async fn run_stops_at_the_timeout() {
    let sshd = Sshd::start();
    let ssh = sshd.transport();
    let started = Instant::now();
    let out = ssh.run(&argv(&["sh", "-c", "echo started; exec sleep 30"]), Duration::from_secs(1)).await.unwrap();
    assert_eq!((out.code, out.output.as_str()), (None, "started\n"));
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
}

#[tokio::test]
async fn a_wrong_pinned_host_key_is_refused() {
    let sshd = Sshd::start();
    let other = tempfile::tempdir().unwrap();
    let wrong = keygen(&other.path().join("other"));
    let ssh = SshTransport::new(SshTarget { host_key: wrong, ..sshd.target() }).unwrap();
    let err = ssh.run(&argv(&["true"]), Duration::from_secs(20)).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::PermissionDenied);
    assert!(err.to_string().contains("host key of 127.0.0.1"), "{err}");
    assert!(err.to_string().contains("does not match the pinned key"), "{err}");
    assert!(err.to_string().contains("the server presents SHA256:"), "{err}");
    let err = ssh.read("/etc/hostname").await.unwrap_err();
    assert!(err.to_string().contains("does not match the pinned key"), "{err}");
    let dir = sshd.deploy_dir("tls");
    assert!(ssh.write(&spec(&dir.join("site.pem"), 0o644), b"x").await.is_err());
    assert!(entries(&dir).is_empty());
}

#[tokio::test]
async fn a_wrong_client_key_is_refused() {
    let sshd = Sshd::start();
    let other = tempfile::tempdir().unwrap();
    keygen(&other.path().join("other"));
    let key = Zeroizing::new(std::fs::read_to_string(other.path().join("other")).unwrap());
    let ssh = SshTransport::new(SshTarget { private_key: key, ..sshd.target() }).unwrap();
    let err = ssh.run(&argv(&["true"]), Duration::from_secs(20)).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::PermissionDenied, "{err}");
    assert!(err.to_string().contains("was refused"), "{err}");
    let err = ssh.read("/etc/hostname").await.unwrap_err();
    assert!(err.to_string().contains("was refused"), "{err}");
}

#[tokio::test]
async fn no_server_is_a_connection_error() {
    let sshd = Sshd::start();
    let ssh = SshTransport::new(SshTarget { port: free_port(), ..sshd.target() }).unwrap();
    let err = ssh.run(&argv(&["true"]), Duration::from_secs(20)).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "{err}");
    assert!(err.to_string().contains("cannot connect to 127.0.0.1:"), "{err}");
}
