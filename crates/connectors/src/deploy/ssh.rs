//! Deployment over SSH: a [`Transport`] that reaches another host's files and commands through the system OpenSSH
//! client, `ssh`. Every call is one `ssh` run without any configuration file (`-F /dev/null`), in batch mode, with
//! the server's host key pinned in a throwaway known_hosts file and the login key in a throwaway key file, both mode
//! 0600 in a private directory that exists only for that call. Remote commands are short POSIX shell scripts in
//! which every path and argument is single-quoted ([`quote`]).
//!
//! Why the OpenSSH client rather than an SSH library: it is the tool operators already trust, audit and patch, it
//! supports every key type and agent setup they use, and it keeps certwright's dependency tree small.
//!
//! Limits that come with OpenSSH: the remote account's login shell must be POSIX-compatible (sh, dash, bash, ksh,
//! zsh) and must print nothing by itself in a non-interactive session; a program that exits with 255 cannot be told
//! from a failed connection (both are reported as an error); and a timed-out program is stopped by ending the local
//! `ssh`, which a remote program that neither reads nor writes may outlive.

use super::{BoxFuture, CommandOutput, FileSpec, Transport};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine as _;
use std::fmt::{self, Write as _};
use std::io::{self, Write as _};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;
use zeroize::Zeroizing;

/// The most output kept of a command run with [`Transport::run`], and of the error text of any call.
const OUTPUT_LIMIT: usize = 64 * 1024;

/// How long a file operation (read, write, remove) may take once connected.
const FILE_TIMEOUT: Duration = Duration::from_secs(120);

/// The read script's exit status when the file does not exist.
const MISSING: i32 = 3;

/// `ssh`'s own exit status when it fails: no connection, a host key mismatch, a refused login.
const SSH_FAILED: i32 = 255;

/// Where to log in, and how to know the server.
#[derive(Clone)]
pub struct SshTarget {
    /// Host name or IP address (no brackets, no port).
    pub host: String,
    /// TCP port, usually 22.
    pub port: u16,
    /// The account to log in as.
    pub user: String,
    /// The server's public host key, as a known_hosts line's key part: `"ssh-ed25519 AAAA…"` (pinned; required).
    /// A trailing comment is ignored.
    pub host_key: String,
    /// Private key (OpenSSH or PEM format, not passphrase-protected) used to log in; secret.
    pub private_key: Zeroizing<String>,
    /// How long to wait for the TCP connection and the SSH handshake; whole seconds, rounded up.
    pub connect_timeout: Duration,
}

impl SshTarget {
    /// A target on port 22 with a 10 s connect timeout.
    pub fn new(
        host: impl Into<String>,
        user: impl Into<String>,
        host_key: impl Into<String>,
        private_key: Zeroizing<String>,
    ) -> SshTarget {
        SshTarget {
            host: host.into(),
            port: 22,
            user: user.into(),
            host_key: host_key.into(),
            private_key,
            connect_timeout: Duration::from_secs(10),
        }
    }
}

impl fmt::Debug for SshTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SshTarget")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("host_key", &self.host_key)
            .field("private_key", &"<redacted>")
            .field("connect_timeout", &self.connect_timeout)
            .finish()
    }
}

/// Why an [`SshTarget`] was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SshError {
    /// The host is empty, starts with `-`, or has a character other than letters, digits, `.`, `-`, `_`, `:`.
    #[error("invalid SSH host {0:?}: give a host name or an IP address, without brackets or port")]
    InvalidHost(String),
    /// The user is empty, starts with `-`, or has a character other than letters, digits, `.`, `-`, `_`, `@`.
    #[error("invalid SSH user {0:?}: give a plain account name")]
    InvalidUser(String),
    /// Port 0.
    #[error("invalid SSH port 0")]
    InvalidPort,
    /// The pinned host key is not `<type> <base64>` with a key of that type.
    #[error("invalid pinned SSH host key: {0}; give the key part of a known_hosts line, \"ssh-ed25519 AAAA…\"")]
    InvalidHostKey(String),
    /// The private key is not an unencrypted OpenSSH or PEM private key.
    #[error("invalid SSH private key: {0}")]
    InvalidPrivateKey(&'static str),
    /// A zero connect timeout.
    #[error("the SSH connect timeout must not be zero")]
    InvalidTimeout,
}

impl SshError {
    /// A stable machine-readable code, `ssh.invalid_host` and so on.
    pub fn code(&self) -> &'static str {
        match self {
            SshError::InvalidHost(_) => "ssh.invalid_host",
            SshError::InvalidUser(_) => "ssh.invalid_user",
            SshError::InvalidPort => "ssh.invalid_port",
            SshError::InvalidHostKey(_) => "ssh.invalid_host_key",
            SshError::InvalidPrivateKey(_) => "ssh.invalid_private_key",
            SshError::InvalidTimeout => "ssh.invalid_timeout",
        }
    }
}

/// The files and commands of one host, reached with the OpenSSH client. `Debug` never shows the private key.
pub struct SshTransport {
    target: SshTarget,
    /// The pinned key as `<type> <base64>`, without a comment.
    host_key: String,
}

impl fmt::Debug for SshTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SshTransport").field("target", &self.target).finish()
    }
}

impl SshTransport {
    /// Checks the target: nothing in it can be taken by `ssh` for an option, and the pinned key is a real key.
    pub fn new(target: SshTarget) -> Result<Self, SshError> {
        if !valid_host(&target.host) {
            return Err(SshError::InvalidHost(target.host));
        }
        if !valid_user(&target.user) {
            return Err(SshError::InvalidUser(target.user));
        }
        if target.port == 0 {
            return Err(SshError::InvalidPort);
        }
        if target.connect_timeout.is_zero() {
            return Err(SshError::InvalidTimeout);
        }
        check_private_key(&target.private_key)?;
        let host_key = parse_host_key(&target.host_key)?;
        Ok(SshTransport { target, host_key })
    }

    /// `host:port`, bracketed for an IPv6 address, for messages.
    fn endpoint(&self) -> String {
        if self.target.host.contains(':') {
            format!("[{}]:{}", self.target.host, self.target.port)
        } else {
            format!("{}:{}", self.target.host, self.target.port)
        }
    }

    /// The `ssh` invocation that runs `remote` (a shell command line) on the target.
    fn command(&self, files: &CallFiles, remote: &str) -> Command {
        let secs = self.target.connect_timeout.as_secs() + u64::from(self.target.connect_timeout.subsec_nanos() > 0);
        let mut known_hosts = std::ffi::OsString::from("UserKnownHostsFile=");
        known_hosts.push(&files.known_hosts);
        let mut cmd = Command::new("ssh");
        cmd.args(["-F", "/dev/null", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o"])
            .arg(known_hosts)
            .args(["-o", "GlobalKnownHostsFile=/dev/null", "-o", "UpdateHostKeys=no", "-o", "CheckHostIP=no"])
            .args(["-o", "IdentitiesOnly=yes", "-i"])
            .arg(&files.key)
            .arg("-o")
            .arg(format!("ConnectTimeout={secs}"))
            .args(["-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=4", "-o", "LogLevel=ERROR", "-T"])
            .arg("-p")
            .arg(self.target.port.to_string())
            .arg("--")
            .arg(format!("{}@{}", self.target.user, self.target.host))
            .arg(remote);
        cmd
    }

    /// Runs `remote` on the target, feeding it `input`, and collects what it printed until it ends or `timeout`
    /// passes (then the local `ssh` is killed).
    async fn exec(&self, remote: &str, input: Option<&[u8]>, mut sink: Sink, timeout: Duration) -> io::Result<Done> {
        let files = CallFiles::create(&self.known_hosts_line(), &self.target.private_key)?;
        let mut cmd = self.command(&files, remote);
        cmd.stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                io::Error::new(e.kind(), "the OpenSSH client `ssh` is not installed (Debian package openssh-client)")
            } else {
                io::Error::new(e.kind(), format!("cannot start ssh: {e}"))
            }
        })?;
        let stdin = child.stdin.take();
        let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            return Err(io::Error::other("the output of ssh was not captured"));
        };
        let feed = async move {
            if let (Some(mut stdin), Some(input)) = (stdin, input) {
                // A failed write means ssh has ended; its exit status tells why.
                let _ = stdin.write_all(input).await;
                let _ = stdin.shutdown().await;
            }
        };
        let work = async {
            let ((), drained) = tokio::join!(feed, drain(stdout, stderr, &mut sink));
            drained?;
            child.wait().await
        };
        let finished = tokio::time::timeout(timeout, work).await;
        let code = match finished {
            Ok(status) => status?.code(),
            Err(_) => {
                let _ = child.start_kill();
                let _ = child.wait().await;
                drop(files);
                return Ok(Done { code: None, timed_out: true, sink });
            }
        };
        drop(files);
        Ok(Done { code, timed_out: false, sink })
    }

    /// The known_hosts line pinning the server's key: `[host]:port <key>`, or `host <key>` on port 22.
    fn known_hosts_line(&self) -> String {
        if self.target.port == 22 {
            format!("{} {}\n", self.target.host, self.host_key)
        } else {
            format!("[{}]:{} {}\n", self.target.host, self.target.port, self.host_key)
        }
    }

    /// The error for a call that `ssh` itself failed (exit status 255), from what it printed.
    fn ssh_failure(&self, stderr: &[u8]) -> io::Error {
        let text = capped_text(stderr);
        let msg = text.trim();
        let endpoint = self.endpoint();
        let key_type = self.host_key.split(' ').next().unwrap_or_default();
        if msg.contains("Host key verification failed")
            || msg.contains("REMOTE HOST IDENTIFICATION HAS CHANGED")
            || msg.contains("no matching host key type")
        {
            // ssh's warning banner is long; the fingerprint it shows, or its last line, is what matters.
            let detail = match msg.split_whitespace().find(|w| w.starts_with("SHA256:")) {
                Some(fingerprint) => format!("the server presents {}", fingerprint.trim_end_matches('.')),
                None => msg.lines().last().unwrap_or_default().to_owned(),
            };
            io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("host key of {endpoint} does not match the pinned key ({key_type}): {detail}"),
            )
        } else if msg.contains("Permission denied") {
            io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "SSH login as {} to {endpoint} was refused (the server does not accept the key): {msg}",
                    self.target.user
                ),
            )
        } else if msg.contains("Connection refused") {
            io::Error::new(io::ErrorKind::ConnectionRefused, format!("cannot connect to {endpoint}: {msg}"))
        } else if msg.contains("timed out") {
            io::Error::new(io::ErrorKind::TimedOut, format!("cannot connect to {endpoint}: {msg}"))
        } else if msg.contains("Load key") || msg.contains("invalid format") || msg.contains("libcrypto") {
            io::Error::new(io::ErrorKind::InvalidInput, format!("ssh cannot use the private key: {msg}"))
        } else if msg.is_empty() {
            io::Error::other(format!(
                "ssh to {endpoint} exited with 255 and said nothing (the remote command may have exited with 255)"
            ))
        } else {
            io::Error::other(format!("ssh to {endpoint} failed: {msg}"))
        }
    }

    /// `Ok` when a file operation's script succeeded, otherwise the error that says why not.
    fn check(&self, done: &Done, action: &str, path: &str) -> io::Result<()> {
        let endpoint = self.endpoint();
        match done.code {
            Some(0) => Ok(()),
            _ if done.timed_out => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("cannot {action} {path} on {endpoint}: no answer within {} s", self.file_timeout().as_secs()),
            )),
            Some(SSH_FAILED) => Err(self.ssh_failure(&done.sink.stderr)),
            Some(code) => {
                let text = capped_text(&done.sink.stderr);
                let msg = text.trim();
                let kind = if msg.contains("Permission denied") {
                    io::ErrorKind::PermissionDenied
                } else if msg.contains("No such file or directory") {
                    io::ErrorKind::NotFound
                } else {
                    io::ErrorKind::Other
                };
                Err(io::Error::new(kind, format!("cannot {action} {path} on {endpoint} (exit {code}): {msg}")))
            }
            None => Err(io::Error::other(format!("cannot {action} {path} on {endpoint}: ssh was killed by a signal"))),
        }
    }

    fn file_timeout(&self) -> Duration {
        FILE_TIMEOUT + self.target.connect_timeout
    }

    async fn read_file(&self, path: &str) -> io::Result<Option<Vec<u8>>> {
        check_path(path)?;
        let p = quote(path);
        // `test -e` is also false when the path cannot be searched; only cat's own "no such file" (in the C
        // locale) means the file is missing, anything else is reported as cat reports it.
        let script = format!(
            "LC_ALL=C; export LC_ALL; if [ -e {p} ]; then exec cat -- {p}; fi; e=$(cat -- {p} 2>&1 >/dev/null); \
             case $e in *'No such file or directory') exit {MISSING};; esac; exec cat -- {p}"
        );
        let done = self.exec(&script, None, Sink::new(usize::MAX, false), self.file_timeout()).await?;
        if done.code == Some(MISSING) {
            return Ok(None);
        }
        self.check(&done, "read", path)?;
        Ok(Some(done.sink.stdout))
    }

    async fn write_file(&self, file: &FileSpec, contents: &[u8]) -> io::Result<()> {
        check_path(&file.path)?;
        let (dir, name) = file.path.rsplit_once('/').unwrap_or_default();
        if name.is_empty() || name == "." || name == ".." {
            return Err(invalid(format!("{:?} does not name a file", file.path)));
        }
        if file.mode > 0o7777 {
            return Err(invalid(format!("{:o} is not a file mode", file.mode)));
        }
        let chown = match &file.owner {
            Some(owner) if !valid_owner(owner) => return Err(invalid(format!("invalid file owner {owner:?}"))),
            Some(owner) => format!("chown -- {} \"$t\" && ", quote(owner)),
            None => String::new(),
        };
        // The contents go to a private temporary file beside the target, whose size is checked (a dropped
        // connection ends the input early, and must not be renamed into place), then moved over the target.
        let script = format!(
            "LC_ALL=C; export LC_ALL; umask 077; t=$(mktemp {template}) || exit 1; \
             trap 'rm -f -- \"$t\"' EXIT; trap 'exit 129' HUP INT TERM; \
             cat > \"$t\" && n=$(wc -c < \"$t\") && [ $n -eq {len} ] || \
             {{ echo \"certwright: the file was not received whole ({len} bytes sent)\" >&2; exit 1; }}; \
             chmod {mode:o} \"$t\" && {chown}mv -f -- \"$t\" {path}",
            template = quote(&format!("{dir}/.certwright.XXXXXX")),
            len = contents.len(),
            mode = file.mode,
            path = quote(&file.path),
        );
        let done = self.exec(&script, Some(contents), Sink::new(0, false), self.file_timeout()).await?;
        self.check(&done, "write", &file.path)
    }

    async fn remove_file(&self, path: &str) -> io::Result<()> {
        check_path(path)?;
        let script = format!("LC_ALL=C; export LC_ALL; rm -f -- {}", quote(path));
        let done = self.exec(&script, None, Sink::new(0, false), self.file_timeout()).await?;
        self.check(&done, "remove", path)
    }

    async fn run_command(&self, argv: &[String], timeout: Duration) -> io::Result<CommandOutput> {
        if argv.is_empty() {
            return Err(invalid("no program to run".to_owned()));
        }
        if argv.iter().any(|a| a.contains('\0')) {
            return Err(invalid("a command argument contains a NUL byte".to_owned()));
        }
        let words: Vec<String> = argv.iter().map(|a| quote(a)).collect();
        // `; exit $?` keeps the shell from replacing itself with the program, so a program killed by a signal
        // ends with 128 + the signal rather than making ssh exit with 255.
        let remote = format!("{}; exit $?", words.join(" "));
        let done = self.exec(&remote, None, Sink::new(0, true), timeout).await?;
        let output = capped_text(done.sink.merged.as_deref().unwrap_or_default());
        if done.timed_out {
            return Ok(CommandOutput { code: None, output });
        }
        match done.code {
            Some(SSH_FAILED) => Err(self.ssh_failure(&done.sink.stderr)),
            code => Ok(CommandOutput { code, output }),
        }
    }
}

impl Transport for SshTransport {
    fn read<'a>(&'a self, path: &'a str) -> BoxFuture<'a, io::Result<Option<Vec<u8>>>> {
        Box::pin(self.read_file(path))
    }

    fn write<'a>(&'a self, file: &'a FileSpec, contents: &'a [u8]) -> BoxFuture<'a, io::Result<()>> {
        Box::pin(self.write_file(file, contents))
    }

    fn remove<'a>(&'a self, path: &'a str) -> BoxFuture<'a, io::Result<()>> {
        Box::pin(self.remove_file(path))
    }

    fn run<'a>(&'a self, argv: &'a [String], timeout: Duration) -> BoxFuture<'a, io::Result<CommandOutput>> {
        Box::pin(self.run_command(argv, timeout))
    }
}

/// Quotes `word` for a POSIX shell: as it is when it has only characters no shell treats specially, otherwise in
/// single quotes, each embedded `'` written as `'\''`.
pub fn quote(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-./=:,@+%".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        return word.to_owned();
    }
    let mut quoted = String::with_capacity(word.len() + 2);
    quoted.push('\'');
    for c in word.chars() {
        if c == '\'' {
            quoted.push_str("'\\''");
        } else {
            quoted.push(c);
        }
    }
    quoted.push('\'');
    quoted
}

/// What one `ssh` run printed, and how it ended.
struct Done {
    /// The exit status of `ssh`; `None` when it was killed.
    code: Option<i32>,
    timed_out: bool,
    sink: Sink,
}

/// Collects `ssh`'s output: standard output up to a limit, standard error up to [`OUTPUT_LIMIT`], and, for
/// commands, both interleaved as they arrive up to [`OUTPUT_LIMIT`].
struct Sink {
    stdout: Vec<u8>,
    stdout_limit: usize,
    stderr: Vec<u8>,
    merged: Option<Vec<u8>>,
}

impl Sink {
    fn new(stdout_limit: usize, merged: bool) -> Sink {
        Sink { stdout: Vec::new(), stdout_limit, stderr: Vec::new(), merged: merged.then(Vec::new) }
    }

    fn out(&mut self, data: &[u8]) {
        append(&mut self.stdout, data, self.stdout_limit);
        if let Some(merged) = &mut self.merged {
            append(merged, data, OUTPUT_LIMIT);
        }
    }

    fn err(&mut self, data: &[u8]) {
        append(&mut self.stderr, data, OUTPUT_LIMIT);
        if let Some(merged) = &mut self.merged {
            append(merged, data, OUTPUT_LIMIT);
        }
    }
}

fn append(buf: &mut Vec<u8>, data: &[u8], limit: usize) {
    let room = limit.saturating_sub(buf.len());
    buf.extend_from_slice(data.get(..room.min(data.len())).unwrap_or_default());
}

/// Reads both pipes to their end (past the limits too, so `ssh` never blocks on a full pipe).
async fn drain(mut out: impl AsyncRead + Unpin, mut err: impl AsyncRead + Unpin, sink: &mut Sink) -> io::Result<()> {
    let (mut out_buf, mut err_buf) = (vec![0u8; 16 * 1024], vec![0u8; 16 * 1024]);
    let (mut out_open, mut err_open) = (true, true);
    while out_open || err_open {
        tokio::select! {
            read = out.read(&mut out_buf), if out_open => match read? {
                0 => out_open = false,
                n => sink.out(out_buf.get(..n).unwrap_or_default()),
            },
            read = err.read(&mut err_buf), if err_open => match read? {
                0 => err_open = false,
                n => sink.err(err_buf.get(..n).unwrap_or_default()),
            },
        }
    }
    Ok(())
}

/// `bytes` as text (invalid UTF-8 replaced), at most [`OUTPUT_LIMIT`] bytes long.
fn capped_text(bytes: &[u8]) -> String {
    let mut text = String::from_utf8_lossy(bytes).into_owned();
    if text.len() > OUTPUT_LIMIT {
        let mut end = OUTPUT_LIMIT;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

/// The private directory (mode 0700) holding one call's known_hosts and key files (mode 0600); removed on drop.
struct CallFiles {
    dir: PathBuf,
    known_hosts: PathBuf,
    key: PathBuf,
}

impl CallFiles {
    fn create(known_hosts_line: &str, private_key: &str) -> io::Result<CallFiles> {
        let base = std::env::temp_dir();
        // ssh splits UserKnownHostsFile at blanks and expands `%` and `~` in both file options.
        let usable = base.to_str().is_some_and(|s| !s.contains(|c: char| c.is_whitespace() || "%~\"'".contains(c)));
        if !usable {
            return Err(invalid(format!(
                "the temporary directory {} cannot be given to ssh (blanks, quotes, % or ~ in it); set TMPDIR",
                base.display()
            )));
        }
        let rng = SystemRandom::new();
        for _ in 0..8 {
            let mut random = [0u8; 12];
            rng.fill(&mut random).map_err(|_| io::Error::other("no random bytes for a temporary directory name"))?;
            let mut name = String::from("certwright-ssh-");
            for b in random {
                let _ = write!(name, "{b:02x}");
            }
            let dir = base.join(name);
            match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
                Ok(()) => {
                    let files =
                        CallFiles { known_hosts: dir.join("known_hosts"), key: dir.join("id"), dir: dir.clone() };
                    private_file(&files.known_hosts, known_hosts_line.as_bytes())?;
                    // ssh wants a key file with Unix line ends and a final newline.
                    let mut key = Zeroizing::new(private_key.replace("\r\n", "\n"));
                    if !key.ends_with('\n') {
                        key.push('\n');
                    }
                    private_file(&files.key, key.as_bytes())?;
                    return Ok(files);
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(io::Error::new(e.kind(), format!("cannot create {}: {e}", dir.display())));
                }
            }
        }
        Err(io::Error::other("cannot find a free temporary directory name"))
    }
}

impl Drop for CallFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Creates a new file readable by its owner only, with `contents`.
fn private_file(path: &std::path::Path, contents: &[u8]) -> io::Result<()> {
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

/// Paths are absolute (so none is taken for an option) and without NUL.
fn check_path(path: &str) -> io::Result<()> {
    if !path.starts_with('/') || path.contains('\0') {
        return Err(invalid(format!("{path:?} is not an absolute path")));
    }
    Ok(())
}

fn valid_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && !host.starts_with('-')
        && host.chars().all(|c| c.is_ascii_alphanumeric() || ".-_:".contains(c))
}

fn valid_user(user: &str) -> bool {
    !user.is_empty()
        && user.len() <= 256
        && !user.starts_with('-')
        && user.chars().all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c))
}

/// `user` or `user:group`, names or numbers.
fn valid_owner(owner: &str) -> bool {
    !owner.is_empty()
        && !owner.starts_with('-')
        && !owner.starts_with(':')
        && owner.chars().all(|c| c.is_ascii_alphanumeric() || "._-@:$".contains(c))
}

fn check_private_key(key: &str) -> Result<(), SshError> {
    let key = key.trim();
    if !key.starts_with("-----BEGIN ") || !key.contains("PRIVATE KEY-----") {
        return Err(SshError::InvalidPrivateKey(
            "expected an OpenSSH or PEM private key (-----BEGIN … PRIVATE KEY-----)",
        ));
    }
    if key.contains("ENCRYPTED") {
        return Err(SshError::InvalidPrivateKey("passphrase-protected keys cannot be used without a prompt"));
    }
    Ok(())
}

/// Checks `<type> <base64> [comment]` and that the key's own encoding names the same type; returns
/// `<type> <base64>`.
fn parse_host_key(line: &str) -> Result<String, SshError> {
    let bad = |why: &str| SshError::InvalidHostKey(why.to_owned());
    let mut parts = line.split_whitespace();
    let (Some(kind), Some(data)) = (parts.next(), parts.next()) else {
        return Err(bad("expected \"<type> <base64>\""));
    };
    if kind.starts_with('@') {
        return Err(bad("known_hosts markers (@cert-authority, @revoked) are not supported"));
    }
    if !kind.chars().all(|c| c.is_ascii_alphanumeric() || "-.@".contains(c)) {
        return Err(bad("the key type has characters a key type does not have"));
    }
    if kind.contains("-cert-") {
        return Err(bad("a host certificate cannot be pinned; pin the server's own key"));
    }
    let blob = base64::engine::general_purpose::STANDARD
        .decode(data)
        .map_err(|_| bad("the key is not valid base64 (give only the key part, without the host name)"))?;
    let encoded_type = blob
        .get(..4)
        .and_then(|len| <[u8; 4]>::try_from(len).ok())
        .map(|len| u32::from_be_bytes(len) as usize)
        .and_then(|len| blob.get(4..4usize.checked_add(len)?));
    if encoded_type != Some(kind.as_bytes()) {
        return Err(SshError::InvalidHostKey(format!("the key data is not a {kind} key")));
    }
    Ok(format!("{kind} {data}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn host_key(kind: &str) -> String {
        let mut blob = Vec::new();
        blob.extend_from_slice(&(kind.len() as u32).to_be_bytes());
        blob.extend_from_slice(kind.as_bytes());
        blob.extend_from_slice(&32u32.to_be_bytes());
        blob.extend_from_slice(&[7u8; 32]);
        format!("{kind} {}", base64::engine::general_purpose::STANDARD.encode(blob))
    }

    const KEY: &str =
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----";

    fn target() -> SshTarget {
        SshTarget::new("deploy.example.org", "deploy", host_key("ssh-ed25519"), Zeroizing::new(KEY.to_owned()))
    }

    /// What `sh` makes of `quote(word)`: the word itself, whatever it holds.
    fn through_sh(word: &str) -> String {
        let out =
            std::process::Command::new("sh").arg("-c").arg(format!("printf %s {}", quote(word))).output().unwrap();
        assert!(out.status.success(), "{word:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    #[test]
    fn quote_leaves_plain_words_and_quotes_the_rest() {
        assert_eq!(quote("/etc/ssl/cert.pem"), "/etc/ssl/cert.pem");
        assert_eq!(quote("user:group"), "user:group");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), "'it'\\''s'");
        assert_eq!(quote("'"), "''\\'''");
    }

    #[test]
    fn quoted_hostile_words_reach_the_shell_unchanged() {
        for word in [
            "",
            "'; rm -rf / #",
            "$(touch /tmp/certwright-pwned)",
            "`id`",
            "a\"b\\c",
            "''''",
            "\\'",
            "line\nbreak",
            "*",
            "-n",
            "~root",
            "${HOME}",
            "!event",
            "tab\there; and & | < > ( ) { }",
            "ünïcödé 🔒",
        ] {
            assert_eq!(through_sh(word), word);
        }
        assert!(!std::path::Path::new("/tmp/certwright-pwned").exists());
    }

    #[test]
    fn a_valid_target_is_accepted_and_debug_hides_the_key() {
        let transport = SshTransport::new(target()).unwrap();
        let debug = format!("{transport:?}");
        assert!(debug.contains("deploy.example.org"), "{debug}");
        assert!(debug.contains("<redacted>"), "{debug}");
        assert!(!debug.contains("b3BlbnNzaC1rZXktdjEAAAAA"), "{debug}");
        assert!(!format!("{:?}", target()).contains("b3BlbnNzaC1rZXktdjEAAAAA"));
    }

    #[test]
    fn option_like_or_odd_hosts_and_users_are_refused() {
        for host in ["", "-oProxyCommand=sh", "a b", "a\nb", "user@host", "[::1]", "host;id", "h\u{7f}"] {
            let err = SshTransport::new(SshTarget { host: host.into(), ..target() }).unwrap_err();
            assert_eq!(err.code(), "ssh.invalid_host", "{host:?}");
        }
        for user in ["", "-l", "a b", "a\tb", "root\n", "$(id)", "a'b"] {
            let err = SshTransport::new(SshTarget { user: user.into(), ..target() }).unwrap_err();
            assert_eq!(err.code(), "ssh.invalid_user", "{user:?}");
        }
        for host in ["127.0.0.1", "::1", "fe80::1", "web-01.example.org", "srv_1"] {
            SshTransport::new(SshTarget { host: host.into(), ..target() }).unwrap();
        }
        let err = SshTransport::new(SshTarget { port: 0, ..target() }).unwrap_err();
        assert_eq!(err, SshError::InvalidPort);
        let err = SshTransport::new(SshTarget { connect_timeout: Duration::ZERO, ..target() }).unwrap_err();
        assert_eq!(err, SshError::InvalidTimeout);
    }

    #[test]
    fn the_pinned_host_key_must_be_a_key_of_its_type() {
        let with = |key: String| SshTransport::new(SshTarget { host_key: key, ..target() });
        let good = host_key("ssh-ed25519");
        assert_eq!(with(format!("{good} root@web-01")).unwrap().host_key, good);
        assert_eq!(with(host_key("ecdsa-sha2-nistp256")).unwrap().host_key, host_key("ecdsa-sha2-nistp256"));
        let data = good.split(' ').nth(1).unwrap().to_owned();
        for bad in [
            String::new(),
            "ssh-ed25519".to_owned(),
            format!("ssh-rsa {data}"),
            format!("web-01 {good}"),
            format!("@cert-authority {good}"),
            "ssh-ed25519 not*base64".to_owned(),
            "ssh-ed25519 AAAA".to_owned(),
            format!("ssh-ed25519-cert-v01@openssh.com {data}"),
        ] {
            let err = with(bad.clone()).unwrap_err();
            assert_eq!(err.code(), "ssh.invalid_host_key", "{bad:?}");
        }
    }

    #[test]
    fn the_private_key_must_look_like_an_unencrypted_private_key() {
        for bad in ["", "ssh-ed25519 AAAA", "-----BEGIN CERTIFICATE-----\nAA\n-----END CERTIFICATE-----"] {
            let err = SshTransport::new(SshTarget { private_key: Zeroizing::new(bad.into()), ..target() }).unwrap_err();
            assert_eq!(err.code(), "ssh.invalid_private_key", "{bad:?}");
        }
        let encrypted = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\nAA\n-----END RSA PRIVATE KEY-----";
        let err =
            SshTransport::new(SshTarget { private_key: Zeroizing::new(encrypted.into()), ..target() }).unwrap_err();
        assert_eq!(err.code(), "ssh.invalid_private_key");
        assert!(!err.to_string().contains("AA"), "{err}");
    }

    #[test]
    fn the_known_hosts_line_names_the_port_unless_it_is_22() {
        let key = host_key("ssh-ed25519");
        let on_22 = SshTransport::new(target()).unwrap();
        assert_eq!(on_22.known_hosts_line(), format!("deploy.example.org {key}\n"));
        let other = SshTransport::new(SshTarget { host: "::1".into(), port: 2222, ..target() }).unwrap();
        assert_eq!(other.known_hosts_line(), format!("[::1]:2222 {key}\n"));
        assert_eq!(other.endpoint(), "[::1]:2222");
    }

    #[test]
    fn call_files_are_private_and_removed_on_drop() {
        let files = CallFiles::create("host ssh-ed25519 AAAA\n", "-----BEGIN X PRIVATE KEY-----\r\nAA").unwrap();
        let mode = |p: &PathBuf| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&files.dir), 0o700);
        assert_eq!(mode(&files.key), 0o600);
        assert_eq!(mode(&files.known_hosts), 0o600);
        assert_eq!(std::fs::read_to_string(&files.key).unwrap(), "-----BEGIN X PRIVATE KEY-----\nAA\n");
        let dir = files.dir.clone();
        drop(files);
        assert!(!dir.exists());
    }

    #[test]
    fn the_ssh_command_pins_the_key_and_ends_options_before_the_destination() {
        let transport = SshTransport::new(SshTarget { port: 2222, ..target() }).unwrap();
        let files = CallFiles::create(&transport.known_hosts_line(), &transport.target.private_key).unwrap();
        let cmd = transport.command(&files, "echo hi");
        let args: Vec<String> = cmd.as_std().get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        let joined = args.join(" ");
        assert!(joined.starts_with("-F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=yes"), "{joined}");
        assert!(joined.contains(&format!("UserKnownHostsFile={}", files.known_hosts.display())), "{joined}");
        assert!(joined.contains("GlobalKnownHostsFile=/dev/null"), "{joined}");
        assert!(joined.contains("ConnectTimeout=10"), "{joined}");
        assert!(joined.ends_with("-p 2222 -- deploy@deploy.example.org echo hi"), "{joined}");
    }

    #[test]
    fn text_is_capped_on_a_character_boundary() {
        let long = "é".repeat(OUTPUT_LIMIT);
        let text = capped_text(long.as_bytes());
        assert!(text.len() <= OUTPUT_LIMIT && text.len() > OUTPUT_LIMIT - 2);
        let mut sink = Sink::new(0, true);
        sink.out(&[b'a'; OUTPUT_LIMIT]);
        sink.err(b"more");
        assert_eq!(sink.merged.as_ref().map(Vec::len), Some(OUTPUT_LIMIT));
        assert!(sink.stdout.is_empty());
        assert_eq!(sink.stderr, b"more");
    }
}
