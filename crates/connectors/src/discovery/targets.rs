//! What a TLS scan is pointed at: hosts, addresses and CIDR ranges, each with ports, read from the spelling
//! operators use (`10.0.0.0/24:443,8443`, `example.com`, `[2001:db8::1]:8000-8100`), expanded lazily so a
//! `/16` over every port is never held in memory, and kept inside the ranges the server allows.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// Port used when a target names none.
pub const DEFAULT_PORT: u16 = 443;

/// Why a target was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("'{0}' is not a target: use host, address or CIDR range, optionally followed by :ports")]
    Syntax(String),
    #[error("'{0}' is not a port list: use 443, 443,8443 or 8000-8100 (1 to 65535)")]
    Ports(String),
    #[error("'{0}' is not a CIDR range (address/prefix, prefix up to 32 for IPv4 and 128 for IPv6)")]
    Cidr(String),
    #[error("{0} is outside the ranges discovery may scan (discovery_allowed_ranges)")]
    NotAllowed(String),
    #[error("the scan covers {count} endpoints, more than the limit of {limit}")]
    TooMany { count: u128, limit: u64 },
    /// A name target that does not resolve (the message says why).
    #[error("{0}")]
    Unresolvable(String),
}

/// An address range `addr/prefix`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// A range; an IPv4-mapped IPv6 range (`::ffff:a.b.c.d/96` and longer) is the IPv4 range it maps.
    pub fn new(addr: IpAddr, prefix: u8) -> Result<Self, TargetError> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return Err(TargetError::Cidr(format!("{addr}/{prefix}")));
        }
        if let IpAddr::V6(v6) = addr {
            if let Some(v4) = v6.to_ipv4_mapped().filter(|_| prefix >= 96) {
                return Ok(Self { network: mask(IpAddr::V4(v4), prefix - 96), prefix: prefix - 96 });
            }
        }
        Ok(Self { network: mask(addr, prefix), prefix })
    }

    /// One address (an IPv4-mapped IPv6 address is its IPv4 address).
    pub fn host(addr: IpAddr) -> Self {
        let addr = canonical(addr);
        Self { network: addr, prefix: if addr.is_ipv4() { 32 } else { 128 } }
    }

    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    pub fn contains(&self, addr: IpAddr) -> bool {
        let addr = canonical(addr);
        addr.is_ipv4() == self.network.is_ipv4() && mask(addr, self.prefix) == self.network
    }

    /// Whether every address of `other` lies inside this range.
    pub fn covers(&self, other: &Cidr) -> bool {
        other.network.is_ipv4() == self.network.is_ipv4() && other.prefix >= self.prefix && self.contains(other.network)
    }

    /// Number of addresses.
    pub fn size(&self) -> u128 {
        let bits = if self.network.is_ipv4() { 32 } else { 128 } - u32::from(self.prefix);
        1u128.checked_shl(bits).unwrap_or(u128::MAX)
    }

    /// The `i`-th address of the range (`i < size()`).
    pub fn nth(&self, i: u128) -> IpAddr {
        match self.network {
            IpAddr::V4(v4) => IpAddr::V4(Ipv4Addr::from(u32::from(v4).wrapping_add(i as u32))),
            IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6).wrapping_add(i))),
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl FromStr for Cidr {
    type Err = TargetError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || TargetError::Cidr(s.to_owned());
        match s.split_once('/') {
            Some((addr, prefix)) => {
                let addr: IpAddr = addr.parse().map_err(|_| bad())?;
                let prefix: u8 = prefix.parse().map_err(|_| bad())?;
                Cidr::new(addr, prefix)
            }
            None => s.parse().map(Cidr::host).map_err(|_| bad()),
        }
    }
}

/// IPv4-mapped IPv6 addresses compare as IPv4.
fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    }
}

fn mask(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(v4) => {
            let m = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(u32::from(v4) & m))
        }
        IpAddr::V6(v6) => {
            let m = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(v6) & m))
        }
    }
}

/// Ports as ascending, merged inclusive ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ports(Vec<(u16, u16)>);

impl Ports {
    pub fn single(port: u16) -> Self {
        Self(vec![(port, port)])
    }

    pub fn count(&self) -> u32 {
        self.0.iter().map(|(a, b)| u32::from(*b) - u32::from(*a) + 1).sum()
    }

    pub fn contains(&self, port: u16) -> bool {
        self.0.iter().any(|(a, b)| (*a..=*b).contains(&port))
    }

    pub fn iter(&self) -> impl Iterator<Item = u16> + '_ {
        self.0.iter().flat_map(|(a, b)| *a..=*b)
    }
}

impl FromStr for Ports {
    type Err = TargetError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || TargetError::Ports(s.to_owned());
        let port = |p: &str| p.trim().parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(bad);
        let mut ranges = Vec::new();
        for part in s.split(',') {
            let range = match part.split_once('-') {
                Some((a, b)) => (port(a)?, port(b)?),
                None => (port(part)?, port(part)?),
            };
            if range.0 > range.1 {
                return Err(bad());
            }
            ranges.push(range);
        }
        ranges.sort_unstable();
        let mut merged: Vec<(u16, u16)> = Vec::with_capacity(ranges.len());
        for (a, b) in ranges {
            match merged.last_mut() {
                Some(last) if u32::from(a) <= u32::from(last.1) + 1 => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        Ok(Self(merged))
    }
}

impl fmt::Display for Ports {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (a, b)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if a == b {
                write!(f, "{a}")?;
            } else {
                write!(f, "{a}-{b}")?;
            }
        }
        Ok(())
    }
}

/// What a target names before names are resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hosts {
    Range(Cidr),
    /// A DNS name: resolved when the scan runs, and sent as SNI.
    Name(String),
}

/// One target: hosts and ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub hosts: Hosts,
    pub ports: Ports,
}

impl FromStr for Target {
    type Err = TargetError;

    /// `host`, `host:ports`, `addr`, `addr/prefix[:ports]`, `[v6addr][/prefix][:ports]` or a bare IPv6
    /// address or range.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let bad = || TargetError::Syntax(s.chars().take(200).collect());
        if s.is_empty() || s.len() > 300 {
            return Err(bad());
        }
        let (host, ports) = if let Some(rest) = s.strip_prefix('[') {
            let (inside, after) = rest.split_once(']').ok_or_else(bad)?;
            // `[2001:db8::]/64:443` keeps its prefix outside the brackets.
            let (prefix, after) = match after.strip_prefix('/') {
                Some(p) => p.find(':').map_or((p, ""), |i| p.split_at(i)),
                None => ("", after),
            };
            let host = if prefix.is_empty() { inside.to_owned() } else { format!("{inside}/{prefix}") };
            match after {
                "" => (host, None),
                p => (host, Some(p.strip_prefix(':').ok_or_else(bad)?)),
            }
        } else if s.matches(':').count() > 1 {
            // A bare IPv6 address or range: no ports.
            (s.to_owned(), None)
        } else {
            match s.split_once(':') {
                Some((h, p)) => (h.to_owned(), Some(p)),
                None => (s.to_owned(), None),
            }
        };
        let ports = match ports {
            Some(p) => p.parse()?,
            None => Ports::single(DEFAULT_PORT),
        };
        if let Ok(cidr) = host.parse::<Cidr>() {
            return Ok(Target { hosts: Hosts::Range(cidr), ports });
        }
        if host.contains('/') {
            return Err(TargetError::Cidr(host));
        }
        if !valid_dns_name(&host) {
            return Err(bad());
        }
        Ok(Target { hosts: Hosts::Name(host.to_ascii_lowercase()), ports })
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.hosts {
            Hosts::Name(n) => write!(f, "{n}:{}", self.ports),
            Hosts::Range(c) if c.network.is_ipv6() => write!(f, "[{}]/{}:{}", c.network, c.prefix, self.ports),
            Hosts::Range(c) => write!(f, "{c}:{}", self.ports),
        }
    }
}

fn valid_dns_name(name: &str) -> bool {
    name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// One endpoint to connect to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    pub ip: IpAddr,
    pub port: u16,
    /// The server name sent in the handshake, if any.
    pub sni: Option<String>,
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.ip {
            IpAddr::V4(ip) => write!(f, "{ip}:{}", self.port)?,
            IpAddr::V6(ip) => write!(f, "[{ip}]:{}", self.port)?,
        }
        if let Some(sni) = &self.sni {
            write!(f, " ({sni})")?;
        }
        Ok(())
    }
}

/// Targets with their names resolved: ranges of addresses, each with its ports and server names.
#[derive(Debug, Clone)]
pub struct Plan {
    parts: Vec<PlanPart>,
}

#[derive(Debug, Clone)]
struct PlanPart {
    addresses: Cidr,
    ports: Ports,
    /// Each endpoint is tried once per name; `[None]` when no name applies.
    snis: Vec<Option<String>>,
}

impl Plan {
    /// Builds the plan from parsed targets, the addresses each name resolved to, and extra server names sent to
    /// every address target (`--sni`). Every address must lie in `allowed`.
    pub fn new(
        targets: &[(Target, Vec<IpAddr>)],
        extra_snis: &[String],
        allowed: &[Cidr],
        max_endpoints: u64,
    ) -> Result<Self, TargetError> {
        let mut parts = Vec::new();
        for (target, resolved) in targets {
            match &target.hosts {
                Hosts::Range(cidr) => {
                    if !allowed.iter().any(|a| a.covers(cidr)) {
                        return Err(TargetError::NotAllowed(cidr.to_string()));
                    }
                    let snis =
                        if extra_snis.is_empty() { vec![None] } else { extra_snis.iter().cloned().map(Some).collect() };
                    parts.push(PlanPart { addresses: *cidr, ports: target.ports.clone(), snis });
                }
                Hosts::Name(name) => {
                    for ip in resolved {
                        if !allowed.iter().any(|a| a.contains(*ip)) {
                            return Err(TargetError::NotAllowed(format!("{name} ({ip})")));
                        }
                        parts.push(PlanPart {
                            addresses: Cidr::host(*ip),
                            ports: target.ports.clone(),
                            snis: vec![Some(name.clone())],
                        });
                    }
                }
            }
        }
        let plan = Self { parts };
        let count = plan.count();
        if count > u128::from(max_endpoints) {
            return Err(TargetError::TooMany { count, limit: max_endpoints });
        }
        Ok(plan)
    }

    /// Endpoints the plan covers.
    pub fn count(&self) -> u128 {
        self.parts
            .iter()
            .map(|p| {
                p.addresses.size().saturating_mul(u128::from(p.ports.count())).saturating_mul(p.snis.len() as u128)
            })
            .fold(0u128, u128::saturating_add)
    }

    /// Whether the plan covers this endpoint (to tell that something seen before is gone).
    pub fn covers(&self, endpoint: &Endpoint) -> bool {
        self.parts.iter().any(|p| {
            p.addresses.contains(endpoint.ip) && p.ports.contains(endpoint.port) && p.snis.contains(&endpoint.sni)
        })
    }

    /// Every endpoint, address by address (ports of one address together).
    pub fn endpoints(&self) -> impl Iterator<Item = Endpoint> + '_ {
        self.parts.iter().flat_map(|p| {
            (0..p.addresses.size()).flat_map(move |i| {
                let ip = p.addresses.nth(i);
                p.ports
                    .iter()
                    .flat_map(move |port| p.snis.iter().map(move |sni| Endpoint { ip, port, sni: sni.clone() }))
            })
        })
    }
}

/// How long resolving one target name may take.
pub const RESOLVE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The addresses of a name, each once, through the system resolver.
pub async fn resolve(name: &str) -> Result<Vec<IpAddr>, TargetError> {
    let lookup = tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((name, 0))).await;
    let addrs: Vec<IpAddr> = match lookup {
        Ok(Ok(addrs)) => addrs.map(|a| a.ip()).collect(),
        Ok(Err(e)) => return Err(TargetError::Unresolvable(format!("'{name}' cannot be resolved: {e}"))),
        Err(_) => return Err(TargetError::Unresolvable(format!("resolving '{name}' took too long"))),
    };
    let mut unique = Vec::new();
    for a in addrs {
        if !unique.contains(&a) {
            unique.push(a);
        }
    }
    if unique.is_empty() {
        return Err(TargetError::Unresolvable(format!("'{name}' has no address")));
    }
    Ok(unique)
}

/// Reads targets, resolves their names and plans them (see [`Plan::new`]).
pub async fn plan(
    targets: &[String],
    server_names: &[String],
    allowed: &[Cidr],
    max_endpoints: u64,
) -> Result<Plan, TargetError> {
    let mut read = Vec::with_capacity(targets.len());
    for text in targets {
        let target: Target = text.parse()?;
        let resolved = match &target.hosts {
            Hosts::Name(name) => resolve(name).await?,
            Hosts::Range(_) => Vec::new(),
        };
        read.push((target, resolved));
    }
    Plan::new(&read, server_names, allowed, max_endpoints)
}

/// The ranges scanned when none are configured: loopback and the private networks (RFC 1918, RFC 4193).
pub fn default_allowed() -> Vec<Cidr> {
    ["127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "::1/128", "fc00::/7"]
        .iter()
        .filter_map(|s| s.parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(s: &str) -> Target {
        s.parse().unwrap()
    }

    #[test]
    fn reads_the_usual_spellings() {
        assert_eq!(target("127.0.0.1").to_string(), "127.0.0.1/32:443");
        assert_eq!(target("127.0.0.1/32:1-65535").ports.count(), 65535);
        assert_eq!(target("10.1.2.3/24:443,8443").to_string(), "10.1.2.0/24:443,8443");
        assert_eq!(target("Example.COM:8443").hosts, Hosts::Name("example.com".into()));
        assert_eq!(target("[::1]:8000-8002").ports.count(), 3);
        assert_eq!(target("[2001:db8::]/126:443").to_string(), "[2001:db8::]/126:443");
        assert_eq!(target("2001:db8::1").ports, Ports::single(443));
        assert_eq!(target("h:443,444,445,100-200,150-160").ports.to_string(), "100-200,443-445");
    }

    #[test]
    fn refuses_nonsense() {
        for bad in ["", "a b", "10.0.0.0/33", "host:0", "host:70000", "host:9-3", "host:", "-bad.example", "[::1"] {
            assert!(bad.parse::<Target>().is_err(), "{bad}");
        }
    }

    #[test]
    fn plans_stay_inside_the_allowed_ranges_and_limits() {
        let allowed = default_allowed();
        let t = |s: &str| (target(s), vec![]);
        assert!(Plan::new(&[t("8.8.8.8")], &[], &allowed, 10).is_err());
        assert!(Plan::new(&[t("10.0.0.0/7")], &[], &allowed, u64::MAX).is_err());
        let err = Plan::new(&[t("10.0.0.0/16:1-1000")], &[], &allowed, 1000).unwrap_err();
        assert_eq!(err, TargetError::TooMany { count: 65_536_000, limit: 1000 });
        let name = (target("intranet.example:443"), vec!["8.8.4.4".parse().unwrap()]);
        assert!(matches!(Plan::new(&[name], &[], &allowed, 10), Err(TargetError::NotAllowed(_))));
    }

    #[test]
    fn expands_lazily_in_order() {
        let plan =
            Plan::new(&[(target("127.0.0.0/31:80,443"), vec![])], &["a.test".into()], &default_allowed(), 100).unwrap();
        let all: Vec<String> = plan.endpoints().map(|e| e.to_string()).collect();
        assert_eq!(
            all,
            ["127.0.0.0:80 (a.test)", "127.0.0.0:443 (a.test)", "127.0.0.1:80 (a.test)", "127.0.0.1:443 (a.test)"]
        );
        assert_eq!(plan.count(), 4);
        assert!(plan.covers(&Endpoint { ip: "127.0.0.1".parse().unwrap(), port: 80, sni: Some("a.test".into()) }));
        assert!(!plan.covers(&Endpoint { ip: "127.0.0.1".parse().unwrap(), port: 80, sni: None }));
        let huge = Plan::new(&[(target("10.0.0.0/8:1-65535"), vec![])], &[], &default_allowed(), u64::MAX).unwrap();
        assert_eq!(huge.endpoints().nth(65_536).unwrap().to_string(), "10.0.0.1:2");
    }

    #[test]
    fn ranges_contain_and_cover() {
        let net: Cidr = "192.168.0.0/16".parse().unwrap();
        assert!(net.contains("192.168.44.1".parse().unwrap()));
        assert!(net.contains("::ffff:192.168.1.1".parse().unwrap()));
        assert!(!net.contains("192.169.0.1".parse().unwrap()));
        assert!(net.covers(&"192.168.3.0/24".parse().unwrap()));
        assert!(!net.covers(&"192.0.0.0/8".parse().unwrap()));
        assert_eq!("0.0.0.0/0".parse::<Cidr>().unwrap().size(), 1 << 32);
        // IPv4-mapped IPv6 ranges are the IPv4 ranges they map: no way around an IPv4 allow-list.
        let mapped: Cidr = "::ffff:192.168.0.0/109".parse().unwrap();
        assert_eq!(mapped.to_string(), "192.168.0.0/13");
        assert!(!net.covers(&mapped));
        assert!(!"::/0".parse::<Cidr>().unwrap().covers(&net));
        let t: Target = "[::ffff:192.168.0.0]/109:443".parse().unwrap();
        assert!(matches!(
            Plan::new(&[(t, vec![])], &[], &default_allowed(), u64::MAX),
            Err(TargetError::NotAllowed(_))
        ));
    }
}
