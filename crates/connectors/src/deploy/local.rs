//! The transport of this host: files through std, programs through tokio, no shell.

use super::{BoxFuture, CommandOutput, FileSpec, Transport};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::time::Duration;

/// Most output kept from a command.
pub const MAX_OUTPUT: usize = 64 * 1024;

/// Files and programs of the host certwright runs on.
#[derive(Debug, Clone, Default)]
pub struct LocalTransport;

fn write_atomic(file: &FileSpec, contents: &[u8]) -> std::io::Result<()> {
    let path = Path::new(&file.path);
    let dir = path.parent().ok_or_else(|| std::io::Error::other(format!("{} has no directory", file.path)))?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let suffix = certwright_pki::digest::hex(&certwright_pki::random::bytes::<8>().map_err(std::io::Error::other)?);
    let tmp = dir.join(format!(".{name}.certwright-{suffix}"));
    let result = (|| {
        // A new file (never an existing one, nor one a symbolic link points at), its mode set on the open file.
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
        f.write_all(contents)?;
        f.set_permissions(std::fs::Permissions::from_mode(file.mode))?;
        f.sync_all()?;
        if let Some(owner) = &file.owner {
            let status = std::process::Command::new("chown").arg("-h").arg("--").arg(owner).arg(&tmp).status()?;
            if !status.success() {
                return Err(std::io::Error::other(format!("chown {owner} {} failed", file.path)));
            }
        }
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

impl Transport for LocalTransport {
    fn read<'a>(&'a self, path: &'a str) -> BoxFuture<'a, std::io::Result<Option<Vec<u8>>>> {
        Box::pin(async move {
            match tokio::fs::read(path).await {
                Ok(bytes) => Ok(Some(bytes)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e),
            }
        })
    }

    fn write<'a>(&'a self, file: &'a FileSpec, contents: &'a [u8]) -> BoxFuture<'a, std::io::Result<()>> {
        Box::pin(async move {
            let (file, contents) = (file.clone(), contents.to_vec());
            tokio::task::spawn_blocking(move || write_atomic(&file, &contents)).await.map_err(std::io::Error::other)?
        })
    }

    fn remove<'a>(&'a self, path: &'a str) -> BoxFuture<'a, std::io::Result<()>> {
        Box::pin(async move {
            match tokio::fs::remove_file(path).await {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            }
        })
    }

    fn run<'a>(&'a self, argv: &'a [String], timeout: Duration) -> BoxFuture<'a, std::io::Result<CommandOutput>> {
        Box::pin(async move {
            let (program, args) = argv.split_first().ok_or_else(|| std::io::Error::other("an empty command"))?;
            let child = tokio::process::Command::new(program)
                .args(args)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| std::io::Error::new(e.kind(), format!("cannot run {program}: {e}")))?;
            match tokio::time::timeout(timeout, child.wait_with_output()).await {
                Ok(out) => {
                    let out = out?;
                    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
                    text.push_str(&String::from_utf8_lossy(&out.stderr));
                    text.truncate(text.floor_char_boundary(MAX_OUTPUT));
                    Ok(CommandOutput { code: out.status.code(), output: text })
                }
                Err(_) => {
                    Ok(CommandOutput { code: None, output: format!("{program} did not finish within {timeout:?}") })
                }
            }
        })
    }
}
