//! Fetching the CRLs that uploaded certificates name in their cRLDistributionPoints: plain `http://` only (as
//! RFC 5280 CDPs are), HTTP/1.0 so the body is not chunked, with a time limit and a size cap.

use certwright_core::services::CrlFetcher;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Largest CRL fetched.
const MAX_CRL_BYTES: usize = 16 * 1024 * 1024;
const TIMEOUT: Duration = Duration::from_secs(5);

/// Fetches CRLs over HTTP.
#[derive(Debug, Default, Clone, Copy)]
pub struct HttpCrlFetcher;

impl CrlFetcher for HttpCrlFetcher {
    fn fetch<'a>(&'a self, url: &'a str) -> Pin<Box<dyn Future<Output = Result<Vec<u8>, String>> + Send + 'a>> {
        Box::pin(async move {
            tokio::time::timeout(TIMEOUT, get(url)).await.map_err(|_| format!("no answer within {TIMEOUT:?}"))?
        })
    }
}

async fn get(url: &str) -> Result<Vec<u8>, String> {
    let rest = url.strip_prefix("http://").ok_or("only http:// distribution points are fetched")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, "/"),
    };
    if authority.is_empty() || authority.contains('@') || path.chars().any(|c| c.is_control() || c == ' ') {
        return Err("malformed URL".to_owned());
    }
    let addr = if authority.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok()) {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    let host = authority.rsplit_once(':').map_or(authority, |(h, _)| h);
    let mut stream = tokio::net::TcpStream::connect(&addr).await.map_err(|e| e.to_string())?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: certwright\r\nAccept: */*\r\n\r\n");
    stream.write_all(request.as_bytes()).await.map_err(|e| e.to_string())?;
    let mut response = Vec::new();
    let mut limited = (&mut stream).take((MAX_CRL_BYTES + 16 * 1024) as u64);
    limited.read_to_end(&mut response).await.map_err(|e| e.to_string())?;
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").ok_or("no HTTP header")?;
    let head = String::from_utf8_lossy(response.get(..split).unwrap_or_default()).to_string();
    let status = head.split_whitespace().nth(1).unwrap_or_default();
    if status != "200" {
        return Err(format!("HTTP status {status}"));
    }
    let body = response.get(split + 4..).unwrap_or_default().to_vec();
    if body.len() > MAX_CRL_BYTES {
        return Err(format!("larger than {MAX_CRL_BYTES} bytes"));
    }
    Ok(body)
}
