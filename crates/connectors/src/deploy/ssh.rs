//! placeholder
#![allow(missing_docs, missing_debug_implementations)]
use zeroize::Zeroizing;
pub struct SshTarget {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub host_key: String,
    pub private_key: Zeroizing<String>,
    pub connect_timeout: std::time::Duration,
}
#[derive(Debug)]
pub struct SshTransport;
impl SshTransport {
    pub fn new(_t: SshTarget) -> Result<Self, std::io::Error> {
        Err(std::io::Error::other("ssh is not built yet"))
    }
}
impl super::Transport for SshTransport {
    fn read<'a>(&'a self, _p: &'a str) -> super::BoxFuture<'a, std::io::Result<Option<Vec<u8>>>> {
        Box::pin(async { Err(std::io::Error::other("x")) })
    }
    fn write<'a>(&'a self, _f: &'a super::FileSpec, _c: &'a [u8]) -> super::BoxFuture<'a, std::io::Result<()>> {
        Box::pin(async { Err(std::io::Error::other("x")) })
    }
    fn remove<'a>(&'a self, _p: &'a str) -> super::BoxFuture<'a, std::io::Result<()>> {
        Box::pin(async { Err(std::io::Error::other("x")) })
    }
    fn run<'a>(
        &'a self,
        _a: &'a [String],
        _t: std::time::Duration,
    ) -> super::BoxFuture<'a, std::io::Result<super::CommandOutput>> {
        Box::pin(async { Err(std::io::Error::other("x")) })
    }
}
