//! Subject names and subject alternative names: parsed from requests and certificates, written into
//! certificates.

use crate::PkiError;
use der::asn1::{Ia5String, OctetString};
use std::net::IpAddr;
use std::str::FromStr;
use x509_cert::ext::pkix::name::GeneralName;
pub use x509_cert::name::Name;

/// One subject alternative name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum San {
    Dns(String),
    Ip(IpAddr),
    Email(String),
    Uri(String),
}

impl San {
    /// Parses the API spelling `dns:host`, `ip:192.0.2.1`, `email:a@b`, `uri:https://…`; a bare value is a DNS
    /// name, or an IP address when it parses as one.
    pub fn parse(s: &str) -> Result<Self, PkiError> {
        let s = s.trim();
        let bad = |why: &str| PkiError::InvalidName(format!("subject alternative name '{s}': {why}"));
        let (kind, value) = match s.split_once(':') {
            Some((k, v)) if ["dns", "ip", "email", "uri"].contains(&k.to_ascii_lowercase().as_str()) => {
                (k.to_ascii_lowercase(), v.trim())
            }
            _ if s.parse::<IpAddr>().is_ok() => ("ip".to_owned(), s),
            _ => ("dns".to_owned(), s),
        };
        if value.is_empty() || !value.is_ascii() || value.chars().any(|c| c.is_control() || c == ' ') {
            return Err(bad("must be non-empty printable ASCII without spaces"));
        }
        Ok(match kind.as_str() {
            "ip" => San::Ip(value.parse().map_err(|_| bad("not an IP address"))?),
            "email" if value.contains('@') => San::Email(value.to_owned()),
            "email" => return Err(bad("an email address needs an @")),
            "uri" if value.contains(':') => San::Uri(value.to_owned()),
            "uri" => return Err(bad("a URI needs a scheme")),
            _ => San::Dns(value.to_ascii_lowercase()),
        })
    }

    /// The API spelling.
    pub fn to_api(&self) -> String {
        match self {
            San::Dns(v) => format!("dns:{v}"),
            San::Ip(v) => format!("ip:{v}"),
            San::Email(v) => format!("email:{v}"),
            San::Uri(v) => format!("uri:{v}"),
        }
    }

    pub(crate) fn to_general_name(&self) -> Result<GeneralName, PkiError> {
        let ia5 = |v: &str| Ia5String::new(v).map_err(|e| PkiError::InvalidName(e.to_string()));
        Ok(match self {
            San::Dns(v) => GeneralName::DnsName(ia5(v)?),
            San::Email(v) => GeneralName::Rfc822Name(ia5(v)?),
            San::Uri(v) => GeneralName::UniformResourceIdentifier(ia5(v)?),
            San::Ip(IpAddr::V4(a)) => GeneralName::IpAddress(octets(&a.octets())?),
            San::Ip(IpAddr::V6(a)) => GeneralName::IpAddress(octets(&a.octets())?),
        })
    }

    /// The SAN a general name stands for; `None` for kinds the engine does not model (other names, X.400…).
    pub(crate) fn from_general_name(g: &GeneralName) -> Option<Self> {
        match g {
            GeneralName::DnsName(v) => Some(San::Dns(v.to_string())),
            GeneralName::Rfc822Name(v) => Some(San::Email(v.to_string())),
            GeneralName::UniformResourceIdentifier(v) => Some(San::Uri(v.to_string())),
            GeneralName::IpAddress(o) => match o.as_bytes().len() {
                4 => <[u8; 4]>::try_from(o.as_bytes()).ok().map(|b| San::Ip(IpAddr::from(b))),
                16 => <[u8; 16]>::try_from(o.as_bytes()).ok().map(|b| San::Ip(IpAddr::from(b))),
                _ => None,
            },
            _ => None,
        }
    }
}

fn octets(b: &[u8]) -> Result<OctetString, PkiError> {
    OctetString::new(b).map_err(|e| PkiError::InvalidName(e.to_string()))
}

/// Parses an RFC 4514 distinguished name (`CN=www.example.com,O=Example`).
pub fn parse_dn(s: &str) -> Result<Name, PkiError> {
    if s.trim().is_empty() {
        return Ok(Name::default());
    }
    Name::from_str(s).map_err(|e| PkiError::InvalidName(format!("distinguished name '{s}': {e}")))
}

/// An attribute value escaped for an RFC 4514 string (`,`, `+`, `"`, `\\`, `<`, `>`, `;`, `=`).
pub fn escape_value(v: &str) -> String {
    v.chars()
        .flat_map(|c| {
            let escape = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=');
            escape.then_some('\\').into_iter().chain(std::iter::once(c))
        })
        .collect()
}

/// A name built from a common name alone.
pub fn common_name(cn: &str) -> Result<Name, PkiError> {
    parse_dn(&format!("CN={}", escape_value(cn)))
}

/// The DER of a name.
pub fn name_der(name: &Name) -> Result<Vec<u8>, PkiError> {
    der::Encode::to_der(name).map_err(|e| PkiError::InvalidName(e.to_string()))
}

/// A name from its DER.
pub fn name_from_der(der: &[u8]) -> Result<Name, PkiError> {
    <Name as der::Decode>::from_der(der).map_err(|e| PkiError::InvalidName(e.to_string()))
}

/// The RFC 4514 string of a name.
pub fn dn_string(name: &Name) -> String {
    name.to_string()
}

/// The first common name in a name, if any.
pub fn first_common_name(name: &Name) -> Option<String> {
    const CN: const_oid::ObjectIdentifier = const_oid::db::rfc4519::CN;
    name.0.iter().flat_map(|rdn| rdn.0.iter()).find(|atv| atv.oid == CN).and_then(|atv| {
        atv.value
            .decode_as::<String>()
            .ok()
            .or_else(|| atv.value.decode_as::<der::asn1::PrintableStringRef<'_>>().ok().map(|s| s.to_string()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sans_parse_from_api_spelling() {
        assert_eq!(San::parse("dns:WWW.Example.com").unwrap(), San::Dns("www.example.com".into()));
        assert_eq!(San::parse("192.0.2.7").unwrap(), San::Ip("192.0.2.7".parse().unwrap()));
        assert_eq!(San::parse("ip:2001:db8::1").unwrap(), San::Ip("2001:db8::1".parse().unwrap()));
        assert_eq!(San::parse("email:a@example.com").unwrap().to_api(), "email:a@example.com");
        assert!(San::parse("ip:not-an-ip").is_err());
        assert!(San::parse("email:nobody").is_err());
        assert!(San::parse("dns:").is_err());
        assert!(San::parse("dns:a b").is_err());
        for s in ["dns:a.example", "ip:10.0.0.1", "email:x@y.z", "uri:https://x.example/p"] {
            let san = San::parse(s).unwrap();
            assert_eq!(San::from_general_name(&san.to_general_name().unwrap()), Some(san));
        }
    }

    #[test]
    fn common_names_are_escaped_and_found_again() {
        let n = common_name("a,b=c").unwrap();
        assert_eq!(first_common_name(&n).as_deref(), Some("a,b=c"));
        assert_eq!(first_common_name(&parse_dn("CN=x.example,O=Org").unwrap()).as_deref(), Some("x.example"));
        assert!(parse_dn("nonsense").is_err());
    }
}
