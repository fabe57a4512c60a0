//! CAA (RFC 8659) with the account and method bindings of RFC 8657: finding the relevant record set by climbing
//! from the name towards the root, and deciding whether it lets this CA issue for this account and validation
//! method.

use super::resolver::DnsClient;
use super::wire::{normalize_name, RData, RecordType};
use super::ChallengeError;
use std::fmt;

/// One CAA resource record (RFC 8659 §4.1): the issuer-critical flag, the property tag (as received) and the
/// property value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaaRecord {
    /// Flag bit 0 (128): a CA that does not understand `tag` must not issue.
    pub critical: bool,
    /// The property tag (`issue`, `issuewild`, `iodef`, …); compared case-insensitively.
    pub tag: String,
    /// The property value, e.g. `ca.example; accounturi=https://ca.example/acct/1; validationmethods=dns-01`.
    pub value: String,
}

impl fmt::Display for CaaRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {:?}", if self.critical { 128 } else { 0 }, self.tag, self.value)
    }
}

/// The property tags this CA understands; a critical record with any other tag forbids issuance.
const UNDERSTOOD_TAGS: [&str; 3] = ["issue", "issuewild", "iodef"];

/// Walks from `domain` (a leading `*.` is dropped) towards the root and returns the first non-empty CAA record set
/// (RFC 8659 §3). CNAMEs are followed by the lookup itself; the climb goes over the original name's parents.
/// NXDOMAIN or an empty answer at a level means "look at the parent"; any failure (SERVFAIL, timeout) is an error,
/// since issuing on a failed lookup could bypass a policy.
pub(super) async fn relevant_rrset(dns: &DnsClient, domain: &str) -> Result<Vec<CaaRecord>, ChallengeError> {
    let base = domain.strip_prefix("*.").unwrap_or(domain);
    if base.parse::<std::net::IpAddr>().is_ok() {
        return Ok(Vec::new()); // CAA does not apply to IP addresses (RFC 8738 §7)
    }
    let name = normalize_name(base)
        .ok_or_else(|| ChallengeError::Malformed(format!("CAA: {domain:?} is not a valid DNS name")))?;
    let labels: Vec<&str> = name.split('.').collect();
    for start in 0..labels.len() {
        let candidate = labels[start..].join(".");
        let answer = dns
            .lookup(&candidate, RecordType::Caa)
            .await
            .map_err(|e| ChallengeError::Caa(format!("CAA lookup for {candidate} failed: {e}")))?;
        let records: Vec<CaaRecord> = answer
            .records
            .into_iter()
            .filter_map(|r| match r {
                RData::Caa(caa) => Some(caa),
                _ => None,
            })
            .collect();
        if !records.is_empty() {
            return Ok(records);
        }
    }
    Ok(Vec::new())
}

/// Whether the relevant CAA record set `records` lets this CA issue (RFC 8659 §4, RFC 8657 §3–4):
/// - an empty set permits;
/// - a critical record with a tag other than `issue`, `issuewild` or `iodef` forbids;
/// - for a `wildcard` name the `issuewild` records decide when there are any, otherwise (and for other names) the
///   `issue` records; when there are none of those, the set does not restrict issuance;
/// - one of them must name an issuer domain in `our_domains` (case-insensitive) and carry no `accounturi` other
///   than `account_uri` and no `validationmethods` list without `method` (`http-01`, `dns-01`, `tls-alpn-01`).
///   A record with an unparsable value, or with `accounturi` or `validationmethods` twice, authorizes no one.
pub fn caa_permits(
    records: &[CaaRecord],
    wildcard: bool,
    our_domains: &[String],
    account_uri: &str,
    method: &str,
) -> Result<(), ChallengeError> {
    if records.is_empty() {
        return Ok(());
    }
    if let Some(r) =
        records.iter().find(|r| r.critical && !UNDERSTOOD_TAGS.iter().any(|t| r.tag.eq_ignore_ascii_case(t)))
    {
        return Err(ChallengeError::Caa(format!(
            "CAA record {r} has the critical flag on a property this CA does not understand, so it may not issue"
        )));
    }
    let with_tag = |tag: &str| records.iter().filter(|r| r.tag.eq_ignore_ascii_case(tag)).collect::<Vec<_>>();
    let issuewild = with_tag("issuewild");
    let (tag, relevant) =
        if wildcard && !issuewild.is_empty() { ("issuewild", issuewild) } else { ("issue", with_tag("issue")) };
    if relevant.is_empty() {
        return Ok(());
    }
    let mut reasons = Vec::new();
    for record in &relevant {
        match authorizes(&record.value, our_domains, account_uri, method) {
            Ok(()) => return Ok(()),
            Err(reason) => reasons.push(format!("{tag} {:?}: {reason}", record.value)),
        }
    }
    let ours = if our_domains.is_empty() { "(none configured)".to_string() } else { our_domains.join(", ") };
    Err(ChallengeError::Caa(format!(
        "CAA forbids issuance: no {tag} record authorizes this CA ({ours}) for account {account_uri} with {method} \
         ({})",
        reasons.join("; ")
    )))
}

/// Why one `issue`/`issuewild` value does not authorize us, or `Ok`.
fn authorizes(value: &str, our_domains: &[String], account_uri: &str, method: &str) -> Result<(), String> {
    let parsed = IssueValue::parse(value).ok_or("unparsable value")?;
    let issuer = parsed.issuer.ok_or("names no CA")?;
    if !our_domains.iter().any(|d| d.strip_suffix('.').unwrap_or(d).eq_ignore_ascii_case(issuer)) {
        return Err(format!("names another CA ({issuer})"));
    }
    let param = |name: &str| {
        parsed.params.iter().filter(|(t, _)| t.eq_ignore_ascii_case(name)).map(|(_, v)| *v).collect::<Vec<_>>()
    };
    match param("accounturi").as_slice() {
        [] => {}
        [uri] if *uri == account_uri => {}
        [uri] => return Err(format!("bound to another account ({uri})")),
        _ => return Err("accounturi given more than once".into()),
    }
    match param("validationmethods").as_slice() {
        [] => {}
        [list] if list.split(',').any(|m| m.eq_ignore_ascii_case(method)) => {}
        [list] => return Err(format!("allows only {list}")),
        _ => return Err("validationmethods given more than once".into()),
    }
    Ok(())
}

/// An `issue`/`issuewild` value (RFC 8659 §4.2):
/// `*WSP [issuer-domain-name *WSP] [";" *WSP [parameters *WSP]]`.
#[derive(Debug, PartialEq, Eq)]
struct IssueValue<'a> {
    /// `None` for a value that names no issuer (`";"`): nobody may issue.
    issuer: Option<&'a str>,
    params: Vec<(&'a str, &'a str)>,
}

impl<'a> IssueValue<'a> {
    fn parse(value: &'a str) -> Option<Self> {
        let wsp: &[char] = &[' ', '\t'];
        let (issuer, params) = match value.split_once(';') {
            Some((issuer, params)) => (issuer, Some(params)),
            None => (value, None),
        };
        let issuer = issuer.trim_matches(wsp);
        let issuer = if issuer.is_empty() {
            None
        } else if issuer.split('.').all(is_ldh_label) {
            Some(issuer)
        } else {
            return None;
        };
        let mut parsed = IssueValue { issuer, params: Vec::new() };
        for param in params.unwrap_or("").split(';') {
            let param = param.trim_matches(wsp);
            if param.is_empty() {
                continue; // "ca.example;" and a trailing ";" carry no parameter
            }
            let (tag, value) = param.split_once('=')?;
            let (tag, value) = (tag.trim_matches(wsp), value.trim_matches(wsp));
            let value_ok = value.bytes().all(|b| (0x21..=0x7E).contains(&b) && b != b';');
            if !is_ldh_label(tag) || !value_ok {
                return None;
            }
            parsed.params.push((tag, value));
        }
        Some(parsed)
    }
}

/// `(ALPHA / DIGIT) *( *("-") (ALPHA / DIGIT))`: letters and digits, inner hyphens.
fn is_ldh_label(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('-')
        && !s.ends_with('-')
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCOUNT: &str = "https://ca.test/acme/acct/1";

    fn rec(tag: &str, value: &str) -> CaaRecord {
        CaaRecord { critical: false, tag: tag.into(), value: value.into() }
    }

    fn permits(records: &[CaaRecord], wildcard: bool, method: &str) -> Result<(), String> {
        caa_permits(records, wildcard, &["certwright.test".to_string()], ACCOUNT, method).map_err(|e| {
            assert_eq!(e.acme_type(), "caa");
            e.to_string()
        })
    }

    #[test]
    fn empty_set_and_sets_without_issue_properties_permit() {
        assert!(permits(&[], false, "http-01").is_ok());
        assert!(permits(&[rec("iodef", "mailto:sec@example.test")], false, "http-01").is_ok());
        assert!(permits(&[rec("contactemail", "x@example.test")], true, "dns-01").is_ok());
    }

    #[test]
    fn issue_names_the_ca_case_insensitively() {
        assert!(permits(&[rec("issue", "CertWright.Test")], false, "http-01").is_ok());
        assert!(permits(&[rec("ISSUE", " certwright.test ")], false, "http-01").is_ok());
        assert!(permits(&[rec("issue", "other.test"), rec("issue", "certwright.test")], false, "http-01").is_ok());
        let err = permits(&[rec("issue", "letsencrypt.org")], false, "http-01").unwrap_err();
        assert!(err.contains("names another CA (letsencrypt.org)"), "{err}");
        let err = permits(&[rec("issue", ";")], false, "http-01").unwrap_err();
        assert!(err.contains("names no CA"), "{err}");
    }

    #[test]
    fn issuewild_decides_for_wildcards_when_present() {
        let set = [rec("issue", "certwright.test"), rec("issuewild", "other.test")];
        assert!(permits(&set, false, "dns-01").is_ok(), "issue decides for a non-wildcard");
        let err = permits(&set, true, "dns-01").unwrap_err();
        assert!(err.contains("no issuewild record"), "{err}");
        let set = [rec("issue", "other.test"), rec("issuewild", "certwright.test")];
        assert!(permits(&set, true, "dns-01").is_ok());
        assert!(permits(&set, false, "dns-01").is_err());
        // Without issuewild, issue decides for wildcards too.
        assert!(permits(&[rec("issue", "certwright.test")], true, "dns-01").is_ok());
        assert!(permits(&[rec("issue", "other.test")], true, "dns-01").is_err());
        // issuewild alone does not restrict non-wildcard names.
        assert!(permits(&[rec("issuewild", ";")], false, "http-01").is_ok());
    }

    #[test]
    fn accounturi_must_be_ours() {
        let ok = format!("certwright.test; accounturi={ACCOUNT}");
        assert!(permits(&[rec("issue", &ok)], false, "http-01").is_ok());
        let spaced = format!("certwright.test ;  AccountURI = {ACCOUNT} ");
        assert!(permits(&[rec("issue", &spaced)], false, "http-01").is_ok());
        let other = "certwright.test; accounturi=https://ca.test/acme/acct/2";
        let err = permits(&[rec("issue", other)], false, "http-01").unwrap_err();
        assert!(err.contains("bound to another account"), "{err}");
        let twice = format!("certwright.test; accounturi={ACCOUNT}; accounturi={ACCOUNT}");
        assert!(permits(&[rec("issue", &twice)], false, "http-01").unwrap_err().contains("more than once"));
        // A second record for our account still authorizes.
        assert!(permits(&[rec("issue", other), rec("issue", &ok)], false, "http-01").is_ok());
    }

    #[test]
    fn validationmethods_must_list_the_method_used() {
        let v = "certwright.test; validationmethods=dns-01,tls-alpn-01";
        assert!(permits(&[rec("issue", v)], false, "dns-01").is_ok());
        assert!(permits(&[rec("issue", v)], false, "tls-alpn-01").is_ok());
        let err = permits(&[rec("issue", v)], false, "http-01").unwrap_err();
        assert!(err.contains("allows only dns-01,tls-alpn-01"), "{err}");
        let both = format!("certwright.test; validationmethods=http-01; accounturi={ACCOUNT}");
        assert!(permits(&[rec("issue", &both)], false, "http-01").is_ok());
        assert!(permits(&[rec("issue", &both)], false, "dns-01").is_err());
        let twice = "certwright.test; validationmethods=http-01; validationmethods=http-01";
        assert!(permits(&[rec("issue", twice)], false, "http-01").is_err());
        // Unknown parameters are ignored.
        assert!(permits(&[rec("issue", "certwright.test; policy=ev")], false, "http-01").is_ok());
    }

    #[test]
    fn critical_unknown_tags_forbid_and_known_ones_do_not() {
        let mut unknown = rec("tbs", "whatever");
        unknown.critical = true;
        let err = permits(&[rec("issue", "certwright.test"), unknown.clone()], false, "http-01").unwrap_err();
        assert!(err.contains("critical flag") && err.contains("tbs"), "{err}");
        unknown.critical = false;
        assert!(permits(&[rec("issue", "certwright.test"), unknown], false, "http-01").is_ok());
        let mut iodef = rec("iodef", "mailto:x@example.test");
        iodef.critical = true;
        assert!(permits(&[rec("issue", "certwright.test"), iodef], false, "http-01").is_ok());
        let mut issue = rec("issue", "certwright.test");
        issue.critical = true;
        assert!(permits(&[issue], false, "http-01").is_ok());
    }

    #[test]
    fn malformed_values_authorize_no_one() {
        for bad in [
            "certwright.test; accounturi",
            "certwright.test; =x",
            "certwright.test; -bad=x",
            "certwright .test",
            "certwright.test; v=a b",
            "-certwright.test",
            "certwright..test",
        ] {
            let err = permits(&[rec("issue", bad)], false, "http-01").unwrap_err();
            assert!(err.contains("unparsable"), "{bad}: {err}");
        }
    }

    #[test]
    fn issue_values_parse_per_the_grammar() {
        assert_eq!(IssueValue::parse(""), Some(IssueValue { issuer: None, params: vec![] }));
        assert_eq!(IssueValue::parse("ca.test;"), Some(IssueValue { issuer: Some("ca.test"), params: vec![] }));
        assert_eq!(
            IssueValue::parse("\tca.test ; a=1;b=x=y "),
            Some(IssueValue { issuer: Some("ca.test"), params: vec![("a", "1"), ("b", "x=y")] })
        );
    }
}
