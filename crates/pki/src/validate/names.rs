//! Names during path validation: distinguished names compared with case and white space folded in their string
//! values (RFC 5280 §7.1, as openssl does), and the name constraints of RFC 5280 §4.2.1.10 for DNS names, IP
//! addresses, email addresses, URIs and directory names.

use const_oid::ObjectIdentifier as Oid;
use der::asn1::{Any, Ia5StringRef, PrintableStringRef};
use std::net::IpAddr;
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::ext::pkix::constraints::name::GeneralSubtree;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::NameConstraints;
use x509_cert::name::{Name, RelativeDistinguishedName};

/// PKCS#9 emailAddress, which name constraints on email also govern when it appears in a subject.
const EMAIL_ADDRESS: Oid = const_oid::db::rfc3280::EMAIL_ADDRESS;

/// Whether two names are the same: equal encodings, or equal once string values are case- and space-folded.
pub(super) fn same_name(a: &Name, b: &Name) -> bool {
    a == b || (a.0.len() == b.0.len() && a.0.iter().zip(&b.0).all(|(x, y)| same_rdn(x, y)))
}

fn same_rdn(a: &RelativeDistinguishedName, b: &RelativeDistinguishedName) -> bool {
    a.0.len() == b.0.len() && a.0.iter().all(|x| b.0.iter().any(|y| same_attribute(x, y)))
}

fn same_attribute(a: &AttributeTypeAndValue, b: &AttributeTypeAndValue) -> bool {
    a.oid == b.oid
        && (a.value == b.value || matches!((folded(&a.value), folded(&b.value)), (Some(x), Some(y)) if x == y))
}

fn text(value: &Any) -> Option<String> {
    value
        .decode_as::<String>()
        .ok()
        .or_else(|| value.decode_as::<PrintableStringRef<'_>>().ok().map(|s| s.to_string()))
        .or_else(|| value.decode_as::<Ia5StringRef<'_>>().ok().map(|s| s.to_string()))
}

fn folded(value: &Any) -> Option<String> {
    Some(text(value)?.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase())
}

/// Checks the names of one certificate (its subject and subjectAltName entries) against a CA's name constraints.
/// Returns a description of the first violation.
pub(super) fn check_constraints(nc: &NameConstraints, subject: &Name, sans: &[GeneralName]) -> Result<(), String> {
    let mut names: Vec<GeneralName> = sans.to_vec();
    if !subject.0.is_empty() {
        names.push(GeneralName::DirectoryName(subject.clone()));
    }
    // Legacy email addresses in the subject are held to the rfc822Name constraints too.
    for atv in subject.0.iter().flat_map(|rdn| rdn.0.iter()).filter(|atv| atv.oid == EMAIL_ADDRESS) {
        if let Some(email) = text(&atv.value).and_then(|e| der::asn1::Ia5String::new(&e).ok()) {
            names.push(GeneralName::Rfc822Name(email));
        }
    }

    for tree in nc.excluded_subtrees.iter().flatten() {
        for name in names.iter().filter(|n| same_form(n, &tree.base)) {
            if within(name, tree)? {
                return Err(format!("{} is in the excluded subtree {}", describe(name), describe(&tree.base)));
            }
        }
    }
    let permitted = nc.permitted_subtrees.as_deref().unwrap_or_default();
    for name in &names {
        let trees: Vec<&GeneralSubtree> = permitted.iter().filter(|t| same_form(name, &t.base)).collect();
        if trees.is_empty() {
            continue;
        }
        let mut inside = false;
        for tree in trees {
            inside |= within(name, tree)?;
        }
        if !inside {
            return Err(format!("{} is outside the permitted subtrees", describe(name)));
        }
    }
    Ok(())
}

fn same_form(a: &GeneralName, b: &GeneralName) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

fn describe(name: &GeneralName) -> String {
    match name {
        GeneralName::DnsName(v) => format!("DNS:{v}"),
        GeneralName::Rfc822Name(v) => format!("email:{v}"),
        GeneralName::UniformResourceIdentifier(v) => format!("URI:{v}"),
        GeneralName::DirectoryName(n) => format!("DN:{n}"),
        GeneralName::IpAddress(o) => match ip_bytes(o.as_bytes()) {
            Some(ip) => format!("IP:{ip}"),
            None => format!("IP:{}", crate::digest::hex(o.as_bytes())),
        },
        _ => "a name of an unsupported form".to_owned(),
    }
}

fn ip_bytes(b: &[u8]) -> Option<IpAddr> {
    match b.len() {
        4 => <[u8; 4]>::try_from(b).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(b).ok().map(IpAddr::from),
        _ => None,
    }
}

/// Whether `name` lies in `tree` (both of the same form). `Err` for a form this validator does not evaluate, so a
/// constraint it cannot honour is never silently passed.
fn within(name: &GeneralName, tree: &GeneralSubtree) -> Result<bool, String> {
    if tree.minimum != 0 || tree.maximum.is_some() {
        return Err("name constraints with minimum or maximum are not supported".to_owned());
    }
    Ok(match (name, &tree.base) {
        (GeneralName::DnsName(n), GeneralName::DnsName(base)) => dns_within(n.as_str(), base.as_str()),
        (GeneralName::Rfc822Name(n), GeneralName::Rfc822Name(base)) => email_within(n.as_str(), base.as_str()),
        (GeneralName::UniformResourceIdentifier(n), GeneralName::UniformResourceIdentifier(base)) => {
            uri_host(n.as_str()).is_some_and(|host| host_within(host, base.as_str()))
        }
        (GeneralName::IpAddress(n), GeneralName::IpAddress(base)) => ip_within(n.as_bytes(), base.as_bytes()),
        (GeneralName::DirectoryName(n), GeneralName::DirectoryName(base)) => {
            base.0.len() <= n.0.len() && base.0.iter().zip(&n.0).all(|(b, x)| same_rdn(b, x))
        }
        _ => return Err(format!("name constraints on {} are not supported", describe(&tree.base))),
    })
}

/// `example.com` covers itself and every name under it; `.example.com` only the names under it.
fn dns_within(name: &str, base: &str) -> bool {
    let (name, base) = (name.to_ascii_lowercase(), base.to_ascii_lowercase());
    let name = name.trim_end_matches('.');
    let base = base.trim_end_matches('.');
    if base.is_empty() {
        return true;
    }
    match base.strip_prefix('.') {
        Some(_) => name.ends_with(base),
        None => name == base || name.ends_with(&format!(".{base}")),
    }
}

/// A URI's host against a constraint: `.example.com` for any host under it, otherwise that exact host.
fn host_within(host: &str, base: &str) -> bool {
    let host = host.to_ascii_lowercase();
    let base = base.to_ascii_lowercase();
    if base.starts_with('.') {
        host.ends_with(&base)
    } else {
        host == base
    }
}

/// `user@host` for one mailbox, `host` for every mailbox at that host, `.domain` for every host under it.
fn email_within(email: &str, base: &str) -> bool {
    let Some((local, host)) = email.rsplit_once('@') else { return false };
    match base.rsplit_once('@') {
        Some((base_local, base_host)) => local == base_local && host.eq_ignore_ascii_case(base_host),
        None => host_within(host, base),
    }
}

fn uri_host(uri: &str) -> Option<&str> {
    let rest = uri.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host_port.starts_with('[') {
        return None;
    }
    let host = host_port.split(':').next()?;
    (!host.is_empty()).then_some(host)
}

/// An address against `address || mask` of the same family.
fn ip_within(addr: &[u8], base: &[u8]) -> bool {
    if base.len() != addr.len() * 2 {
        return false;
    }
    let (net, mask) = base.split_at(addr.len());
    addr.iter().zip(net).zip(mask).all(|((a, n), m)| a & m == n & m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use der::asn1::{Ia5String, OctetString};

    fn dns(s: &str) -> GeneralName {
        GeneralName::DnsName(Ia5String::new(s).unwrap())
    }

    fn subtree(base: GeneralName) -> GeneralSubtree {
        GeneralSubtree { base, minimum: 0, maximum: None }
    }

    #[test]
    fn dns_email_uri_and_ip_subtrees_match_as_rfc_5280_says() {
        assert!(dns_within("www.example.com", "example.com"));
        assert!(dns_within("example.com", "example.com"));
        assert!(!dns_within("badexample.com", "example.com"));
        assert!(!dns_within("example.com", ".example.com"));
        assert!(dns_within("a.example.com", ".example.com"));
        assert!(email_within("ops@mail.example.com", ".example.com"));
        assert!(!email_within("ops@example.com", ".example.com"));
        assert!(email_within("ops@example.com", "example.com"));
        assert!(email_within("ops@EXAMPLE.com", "ops@example.com"));
        assert!(!email_within("dev@example.com", "ops@example.com"));
        assert_eq!(uri_host("https://user@www.example.com:8443/path?q"), Some("www.example.com"));
        assert!(ip_within(&[10, 1, 2, 3], &[10, 0, 0, 0, 255, 0, 0, 0]));
        assert!(!ip_within(&[11, 1, 2, 3], &[10, 0, 0, 0, 255, 0, 0, 0]));
        assert!(!ip_within(&[10, 1, 2, 3], &[0; 32]), "an IPv6 constraint does not cover an IPv4 address");
    }

    #[test]
    fn permitted_and_excluded_subtrees_decide_per_form() {
        let nc = NameConstraints {
            permitted_subtrees: Some(vec![subtree(dns("example.com"))]),
            excluded_subtrees: Some(vec![subtree(dns("secret.example.com"))]),
        };
        let subject = crate::names::parse_dn("CN=www.example.com").unwrap();
        assert!(check_constraints(&nc, &subject, &[dns("www.example.com")]).is_ok());
        assert!(check_constraints(&nc, &subject, &[dns("evil.example.org")]).is_err());
        assert!(check_constraints(&nc, &subject, &[dns("x.secret.example.com")]).is_err());
        let ip = GeneralName::IpAddress(OctetString::new(vec![192, 0, 2, 1]).unwrap());
        assert!(check_constraints(&nc, &subject, &[ip]).is_ok(), "no IP constraint, so any address passes");

        let dn = NameConstraints {
            permitted_subtrees: Some(vec![subtree(GeneralName::DirectoryName(
                crate::names::parse_dn("O=Example,C=GB").unwrap(),
            ))]),
            excluded_subtrees: None,
        };
        assert!(check_constraints(&dn, &crate::names::parse_dn("CN=a,O=Example,C=GB").unwrap(), &[]).is_ok());
        assert!(check_constraints(&dn, &crate::names::parse_dn("CN=a,O=Other,C=GB").unwrap(), &[]).is_err());
    }

    #[test]
    fn names_compare_with_case_and_spaces_folded() {
        let a = crate::names::parse_dn("CN=Issuing  CA,O=Example").unwrap();
        let b = crate::names::parse_dn("CN=issuing ca,O=EXAMPLE").unwrap();
        let c = crate::names::parse_dn("CN=Issuing CA 2,O=Example").unwrap();
        assert!(same_name(&a, &b));
        assert!(!same_name(&a, &c));
    }
}
