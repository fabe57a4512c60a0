//! Name resolution for validation: a stub DNS client (UDP with retransmission, TCP when the answer is truncated,
//! random ids, answers matched to the question, CNAME chains followed) towards the configured server or the
//! system's `/etc/resolv.conf` servers, and address lookup (static overrides, then DNS, else the system resolver)
//! that also serves reqwest.

use super::wire::{self, RData, RecordType, Response, WireError, RCODE_NOERROR, RCODE_NXDOMAIN};
use super::ChallengeError;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::{timeout_at, Instant};

/// CNAMEs followed for one lookup, at most.
const MAX_CNAME_HOPS: usize = 8;
/// UDP answers are at most this large without EDNS (RFC 1035 §4.2.1); read with room to spare.
const UDP_BUFFER: usize = 4096;
/// UDP queries are sent again after this long without an answer (within the attempt's deadline).
const RETRANSMIT: Duration = Duration::from_secs(2);

/// Why a DNS lookup failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DnsFailure {
    /// The server did not answer in time.
    Timeout(SocketAddr),
    /// Sending or receiving failed.
    Io(SocketAddr, String),
    /// The answer broke the DNS format.
    Malformed(SocketAddr, String),
    /// The server answered with an error code (SERVFAIL, REFUSED, …).
    Rcode(SocketAddr, u8),
    /// The name cannot be asked for.
    BadName(String),
    /// A CNAME chain longer than [`MAX_CNAME_HOPS`].
    CnameChain(String),
}

impl fmt::Display for DnsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DnsFailure::Timeout(s) => write!(f, "no answer from {s}"),
            DnsFailure::Io(s, e) => write!(f, "cannot query {s}: {e}"),
            DnsFailure::Malformed(s, e) => write!(f, "malformed answer from {s}: {e}"),
            DnsFailure::Rcode(s, code) => write!(f, "{s} answered {}", rcode_name(*code)),
            DnsFailure::BadName(n) => write!(f, "{n:?} is not a valid DNS name"),
            DnsFailure::CnameChain(n) => write!(f, "CNAME chain from {n} is longer than {MAX_CNAME_HOPS}"),
        }
    }
}

fn rcode_name(code: u8) -> String {
    match code {
        1 => "FORMERR".into(),
        2 => "SERVFAIL".into(),
        3 => "NXDOMAIN".into(),
        4 => "NOTIMP".into(),
        5 => "REFUSED".into(),
        other => format!("RCODE {other}"),
    }
}

/// The records of one type found for a name, after CNAMEs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Lookup {
    /// The name the records belong to (the end of the CNAME chain).
    pub name: String,
    /// Records of the type asked for (empty for NXDOMAIN or NODATA).
    pub records: Vec<RData>,
}

/// A stub resolver: asks recursive servers, in order, one after the other when one fails.
#[derive(Debug)]
pub(crate) struct DnsClient {
    servers: Vec<SocketAddr>,
    timeout: Duration,
    rng: SystemRandom,
}

impl DnsClient {
    pub(crate) fn new(servers: Vec<SocketAddr>, timeout: Duration) -> Self {
        DnsClient { servers, timeout, rng: SystemRandom::new() }
    }

    /// Records of `rtype` for `name`, following CNAMEs inside answers and asking again for the end of a chain the
    /// server did not resolve. NXDOMAIN and NODATA are an empty result.
    pub(crate) async fn lookup(&self, name: &str, rtype: RecordType) -> Result<Lookup, DnsFailure> {
        let mut target = wire::normalize_name(name).ok_or_else(|| DnsFailure::BadName(name.to_string()))?;
        let mut hops = 0;
        loop {
            let response = self.query(&target, rtype).await?;
            if response.rcode == RCODE_NXDOMAIN {
                return Ok(Lookup { name: target, records: Vec::new() });
            }
            let mut current = target.clone();
            loop {
                let records: Vec<RData> = response
                    .answers
                    .iter()
                    .filter(|r| r.name == current && r.data.is(rtype))
                    .map(|r| r.data.clone())
                    .collect();
                if !records.is_empty() {
                    return Ok(Lookup { name: current, records });
                }
                let next = response.answers.iter().find_map(|r| match &r.data {
                    RData::Cname(t) if r.name == current => Some(t.clone()),
                    _ => None,
                });
                match next {
                    Some(next) => {
                        hops += 1;
                        if hops > MAX_CNAME_HOPS {
                            return Err(DnsFailure::CnameChain(name.to_string()));
                        }
                        current = next;
                    }
                    None => break,
                }
            }
            if current == target {
                return Ok(Lookup { name: current, records: Vec::new() });
            }
            target = current; // the chain's end was not answered: ask for it
        }
    }

    /// One question to the first server that answers NOERROR or NXDOMAIN.
    async fn query(&self, name: &str, rtype: RecordType) -> Result<Response, DnsFailure> {
        let mut last = DnsFailure::Io(SocketAddr::from((Ipv4Addr::LOCALHOST, 53)), "no DNS server configured".into());
        for &server in &self.servers {
            match self.query_server(server, name, rtype).await {
                Ok(r) if r.rcode == RCODE_NOERROR || r.rcode == RCODE_NXDOMAIN => return Ok(r),
                Ok(r) => last = DnsFailure::Rcode(server, r.rcode),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    async fn query_server(&self, server: SocketAddr, name: &str, rtype: RecordType) -> Result<Response, DnsFailure> {
        let deadline = Instant::now() + self.timeout;
        let id = self.random_id();
        let query = wire::encode_query(id, name, rtype);
        let response = self.over_udp(server, &query, id, name, rtype, deadline).await?;
        if !response.truncated {
            return Ok(response);
        }
        // Truncated: the same question over TCP, with a fresh id and deadline.
        let id = self.random_id();
        let query = wire::encode_query(id, name, rtype);
        self.over_tcp(server, &query, id, name, rtype, Instant::now() + self.timeout).await
    }

    fn random_id(&self) -> u16 {
        let mut id = [0u8; 2];
        // The system generator does not fail on supported platforms; a fixed id would still be answered right.
        let _ = self.rng.fill(&mut id);
        u16::from_be_bytes(id)
    }

    async fn over_udp(
        &self,
        server: SocketAddr,
        query: &[u8],
        id: u16,
        name: &str,
        rtype: RecordType,
        deadline: Instant,
    ) -> Result<Response, DnsFailure> {
        let io = |e: std::io::Error| DnsFailure::Io(server, e.to_string());
        let local: SocketAddr = if server.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { ([0u16; 8], 0).into() };
        let socket = UdpSocket::bind(local).await.map_err(io)?;
        // Connected: the kernel drops datagrams from any other address or port.
        socket.connect(server).await.map_err(io)?;
        let mut buf = vec![0u8; UDP_BUFFER];
        loop {
            socket.send(query).await.map_err(io)?;
            let resend_at = (Instant::now() + RETRANSMIT).min(deadline);
            loop {
                let n = match timeout_at(resend_at, socket.recv(&mut buf)).await {
                    Ok(result) => result.map_err(io)?,
                    Err(_) if resend_at >= deadline => return Err(DnsFailure::Timeout(server)),
                    Err(_) => break, // send again
                };
                match wire::decode_response(buf.get(..n).unwrap_or_default(), id, name, rtype) {
                    Ok(r) => return Ok(r),
                    Err(WireError::NotOurs) => continue, // a stray or forged datagram: keep waiting
                    Err(WireError::Malformed(m)) => return Err(DnsFailure::Malformed(server, m)),
                }
            }
        }
    }

    async fn over_tcp(
        &self,
        server: SocketAddr,
        query: &[u8],
        id: u16,
        name: &str,
        rtype: RecordType,
        deadline: Instant,
    ) -> Result<Response, DnsFailure> {
        let exchange = async {
            let mut stream = TcpStream::connect(server).await?;
            let mut framed = Vec::with_capacity(query.len() + 2);
            framed.extend_from_slice(&(query.len() as u16).to_be_bytes());
            framed.extend_from_slice(query);
            stream.write_all(&framed).await?;
            let len = usize::from(stream.read_u16().await?);
            let mut packet = vec![0u8; len];
            stream.read_exact(&mut packet).await?;
            Ok::<_, std::io::Error>(packet)
        };
        let packet = match timeout_at(deadline, exchange).await {
            Ok(Ok(packet)) => packet,
            Ok(Err(e)) => return Err(DnsFailure::Io(server, format!("over TCP: {e}"))),
            Err(_) => return Err(DnsFailure::Timeout(server)),
        };
        match wire::decode_response(&packet, id, name, rtype) {
            Ok(r) if r.truncated => Err(DnsFailure::Malformed(server, "truncated over TCP".into())),
            Ok(r) => Ok(r),
            Err(WireError::NotOurs) => {
                Err(DnsFailure::Malformed(server, "the TCP answer is for another question".into()))
            }
            Err(WireError::Malformed(m)) => Err(DnsFailure::Malformed(server, m)),
        }
    }
}

/// The `nameserver` lines of a resolv.conf, on port 53; `127.0.0.1:53` when there are none (resolv.conf(5)).
pub(crate) fn parse_resolv_conf(text: &str) -> Vec<SocketAddr> {
    let mut servers: Vec<SocketAddr> = text
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some("nameserver")).then(|| words.next()).flatten()
        })
        .filter_map(|addr| addr.parse::<IpAddr>().ok()) // a scoped "fe80::1%eth0" is skipped
        .map(|ip| SocketAddr::new(ip, 53))
        .collect();
    if servers.is_empty() {
        servers.push(SocketAddr::from((Ipv4Addr::LOCALHOST, 53)));
    }
    servers
}

/// Where names of hosts to connect to are looked up.
#[derive(Debug)]
pub(crate) struct AddressResolver {
    pub overrides: HashMap<String, Vec<IpAddr>>,
    /// `Some` when a DNS server is configured; otherwise the system resolver (getaddrinfo) is used.
    pub dns: Option<Arc<DnsClient>>,
    pub timeout: Duration,
}

impl AddressResolver {
    /// The addresses of `host`: the override when there is one, else the configured DNS server's A then AAAA
    /// records, else the system resolver's answer. An empty result is an error of type `dns`.
    pub(crate) async fn addresses(&self, host: &str) -> Result<Vec<IpAddr>, ChallengeError> {
        let key = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
        if let Some(ips) = self.overrides.get(&key) {
            if !ips.is_empty() {
                return Ok(ips.clone());
            }
        }
        let dns_error = |what: String| ChallengeError::Dns(format!("cannot resolve {key}: {what}"));
        let addresses = match &self.dns {
            Some(dns) => {
                let (v4, v6) = tokio::join!(dns.lookup(&key, RecordType::A), dns.lookup(&key, RecordType::Aaaa));
                let mut out = Vec::new();
                for found in [&v4, &v6].into_iter().flatten() {
                    out.extend(found.records.iter().filter_map(|r| match r {
                        RData::A(ip) => Some(IpAddr::V4(*ip)),
                        RData::Aaaa(ip) => Some(IpAddr::V6(*ip)),
                        _ => None,
                    }));
                }
                if out.is_empty() {
                    if let Err(e) = v4.and(v6) {
                        return Err(dns_error(e.to_string()));
                    }
                }
                out
            }
            None => match tokio::time::timeout(self.timeout, tokio::net::lookup_host((key.as_str(), 0))).await {
                Ok(Ok(found)) => found.map(|sa| sa.ip()).collect(),
                Ok(Err(e)) => return Err(dns_error(e.to_string())),
                Err(_) => return Err(dns_error(format!("the system resolver did not answer in {:?}", self.timeout))),
            },
        };
        if addresses.is_empty() {
            return Err(dns_error("no A or AAAA records".into()));
        }
        Ok(addresses)
    }
}

/// reqwest asks this for every host it connects to (the first URL's and each redirect's).
#[derive(Debug, Clone)]
pub(crate) struct ReqwestResolver(pub Arc<AddressResolver>);

impl reqwest::dns::Resolve for ReqwestResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let resolver = self.0.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            match resolver.addresses(&host).await {
                Ok(ips) => {
                    let addrs: reqwest::dns::Addrs = Box::new(ips.into_iter().map(|ip| SocketAddr::new(ip, 0)));
                    Ok(addrs)
                }
                Err(e) => Err(Box::new(e) as Box<dyn std::error::Error + Send + Sync>),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_nameservers_are_read() {
        let text = "# generated\nsearch example.test\nnameserver 192.0.2.53\nnameserver  2001:db8::53\n\
                    nameserver fe80::1%eth0\noptions ndots:2\n;nameserver 192.0.2.1\n";
        assert_eq!(
            parse_resolv_conf(text),
            vec!["192.0.2.53:53".parse().unwrap(), "[2001:db8::53]:53".parse().unwrap()]
        );
        assert_eq!(parse_resolv_conf("search x\n"), vec!["127.0.0.1:53".parse().unwrap()]);
    }

    #[tokio::test]
    async fn overrides_win_and_are_case_insensitive() {
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let resolver = AddressResolver {
            overrides: HashMap::from([("app.example.test".to_string(), vec![ip])]),
            dns: Some(Arc::new(DnsClient::new(vec![], Duration::from_millis(50)))),
            timeout: Duration::from_millis(50),
        };
        assert_eq!(resolver.addresses("App.Example.TEST.").await.unwrap(), vec![ip]);
        let err = resolver.addresses("other.example.test").await.unwrap_err();
        assert_eq!(err.acme_type(), "dns");
    }
}
