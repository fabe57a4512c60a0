//! placeholder
#![allow(missing_docs)]
#[derive(Debug, Clone, Copy)]
pub enum LegacyVersion { Tls10, Tls12 }
pub const DEFAULT_LIMIT_BYTES: usize = 256 * 1024;
#[derive(Debug)]
pub struct LegacyHandshake { pub version: &'static str, pub cipher: String, pub chain: Vec<Vec<u8>> }
pub async fn fetch_chain(_s: &mut tokio::net::TcpStream, _sni: Option<&str>, _v: LegacyVersion, _l: usize) -> Result<LegacyHandshake, String> { Err("x".into()) }
