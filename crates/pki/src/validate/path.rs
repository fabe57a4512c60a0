//! Path building: each candidate certificate read once into a [`Node`], and a depth-first search from the leaf
//! through issuers whose name, key identifier and signature match, until a trust anchor is reached.

use super::names::same_name;
use super::{ChainFault, Problem, MAX_PATH_LEN};
use crate::cert::Cert;
use crate::names::dn_string;
use crate::PkiError;
use const_oid::db::rfc5280;
use const_oid::ObjectIdentifier as Oid;
use der::Decode;
use std::collections::HashMap;
use x509_cert::certificate::Version;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, NameConstraints, SubjectAltName,
    SubjectKeyIdentifier,
};

/// Most signature checks one validation performs while building paths, to bound work on hostile input.
const MAX_SIGNATURE_CHECKS: usize = 64;

/// A certificate as path validation sees it: its extensions read once.
pub(super) struct Node<'c> {
    pub(super) cert: &'c Cert,
    pub(super) anchor: bool,
    pub(super) version: Version,
    pub(super) serial: Vec<u8>,
    pub(super) basic: Option<BasicConstraints>,
    pub(super) key_usage: Option<KeyUsage>,
    pub(super) eku: Option<Vec<Oid>>,
    pub(super) aki: Option<Vec<u8>>,
    pub(super) ski: Option<Vec<u8>>,
    pub(super) name_constraints: Option<NameConstraints>,
    pub(super) sans: Vec<GeneralName>,
    pub(super) unknown_critical: Vec<Oid>,
    /// The first extension that did not decode, or a duplicated one.
    pub(super) decode_error: Option<String>,
}

impl<'c> Node<'c> {
    pub(super) fn new(cert: &'c Cert, anchor: bool) -> Self {
        let mut node = Node {
            cert,
            anchor,
            version: Version::V3,
            serial: Vec::new(),
            basic: None,
            key_usage: None,
            eku: None,
            aki: None,
            ski: None,
            name_constraints: None,
            sans: Vec::new(),
            unknown_critical: Vec::new(),
            decode_error: None,
        };
        let parsed = match x509_cert::Certificate::from_der(cert.der()) {
            Ok(parsed) => parsed,
            Err(e) => {
                node.decode_error = Some(e.to_string());
                return node;
            }
        };
        let tbs = parsed.tbs_certificate;
        node.version = tbs.version;
        node.serial = tbs.serial_number.as_bytes().to_vec();
        let mut seen = Vec::new();
        for ext in tbs.extensions.iter().flatten() {
            if seen.contains(&ext.extn_id) {
                node.decode_error.get_or_insert(format!("the extension {} appears twice", ext.extn_id));
                continue;
            }
            seen.push(ext.extn_id);
            if let Err(e) = node.read_extension(ext) {
                node.decode_error.get_or_insert(format!("extension {}: {e}", ext.extn_id));
            }
        }
        node
    }

    fn read_extension(&mut self, ext: &x509_cert::ext::Extension) -> Result<(), der::Error> {
        let value = ext.extn_value.as_bytes();
        match ext.extn_id {
            o if o == rfc5280::ID_CE_BASIC_CONSTRAINTS => self.basic = Some(BasicConstraints::from_der(value)?),
            o if o == rfc5280::ID_CE_KEY_USAGE => self.key_usage = Some(KeyUsage::from_der(value)?),
            o if o == rfc5280::ID_CE_EXT_KEY_USAGE => self.eku = Some(ExtendedKeyUsage::from_der(value)?.0),
            o if o == rfc5280::ID_CE_AUTHORITY_KEY_IDENTIFIER => {
                self.aki = AuthorityKeyIdentifier::from_der(value)?.key_identifier.map(|k| k.as_bytes().to_vec())
            }
            o if o == rfc5280::ID_CE_SUBJECT_KEY_IDENTIFIER => {
                self.ski = Some(SubjectKeyIdentifier::from_der(value)?.0.as_bytes().to_vec())
            }
            o if o == rfc5280::ID_CE_NAME_CONSTRAINTS => {
                self.name_constraints = Some(NameConstraints::from_der(value)?)
            }
            o if o == rfc5280::ID_CE_SUBJECT_ALT_NAME => self.sans = SubjectAltName::from_der(value)?.0,
            // Understood without changing the outcome: informational, or (policies) accepted whatever they say.
            o if [
                rfc5280::ID_CE_CERTIFICATE_POLICIES,
                rfc5280::ID_CE_CRL_DISTRIBUTION_POINTS,
                rfc5280::ID_PE_AUTHORITY_INFO_ACCESS,
                rfc5280::ID_PE_SUBJECT_INFO_ACCESS,
                rfc5280::ID_CE_ISSUER_ALT_NAME,
                rfc5280::ID_CE_FRESHEST_CRL,
            ]
            .contains(&o) => {}
            o if ext.critical => self.unknown_critical.push(o),
            _ => {}
        }
        Ok(())
    }

    pub(super) fn is_ca(&self) -> bool {
        self.basic.as_ref().is_some_and(|b| b.ca)
    }

    pub(super) fn serial(&self) -> &[u8] {
        &self.serial
    }

    pub(super) fn self_issued(&self) -> bool {
        same_name(self.cert.subject(), self.cert.issuer())
    }

    /// Self-issued with no sign of another key (RFC 5280 §3.3 calls it self-signed once its key verifies it).
    pub(super) fn self_signed(&self) -> bool {
        self.self_issued() && key_ids_compatible(self.aki.as_ref(), self.ski.as_ref())
    }
}

fn key_ids_compatible(aki: Option<&Vec<u8>>, ski: Option<&Vec<u8>>) -> bool {
    match (aki, ski) {
        (Some(a), Some(s)) => a == s,
        _ => true,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Verdict {
    Good,
    Bad,
    Unsupported(String),
}

/// A path that could not be completed: as far as it got, and why it stopped.
pub(super) struct Dead {
    pub(super) path: Vec<usize>,
    pub(super) problem: Problem,
}

/// Depth-first path building over the pool, remembering signature checks.
pub(super) struct Search<'p, 'c> {
    pool: &'p [Node<'c>],
    at: i64,
    checks: usize,
    verdicts: HashMap<(usize, usize), Verdict>,
}

impl<'p, 'c> Search<'p, 'c> {
    pub(super) fn new(pool: &'p [Node<'c>], at: i64) -> Self {
        Search { pool, at, checks: 0, verdicts: HashMap::new() }
    }

    fn node(&self, i: usize) -> Option<&Node<'_>> {
        self.pool.get(i)
    }

    fn verdict(&mut self, child: usize, parent: usize) -> Result<Verdict, ()> {
        if let Some(v) = self.verdicts.get(&(child, parent)) {
            return Ok(v.clone());
        }
        if self.checks >= MAX_SIGNATURE_CHECKS {
            return Err(());
        }
        self.checks += 1;
        let (Some(c), Some(p)) = (self.pool.get(child), self.pool.get(parent)) else { return Ok(Verdict::Bad) };
        let verdict = verify(c.cert, p.cert);
        self.verdicts.insert((child, parent), verdict.clone());
        Ok(verdict)
    }

    /// Extends `path` to an anchor, or says how far it got and why it stopped.
    pub(super) fn extend(&mut self, path: &mut Vec<usize>) -> Result<(), Dead> {
        let Some(&current) = path.last() else { return Ok(()) };
        let Some(node) = self.node(current) else { return Ok(()) };
        if node.anchor {
            return Ok(());
        }
        let subject = node.cert.subject_string();
        let dead = |path: &[usize], problem| Dead { path: path.to_vec(), problem };
        if path.len() >= MAX_PATH_LEN {
            return Err(dead(path, Problem::Chain { subject, fault: ChainFault::TooLong }));
        }
        let issuer_name = node.cert.issuer().clone();
        let aki = node.aki.clone();
        let self_signed = node.self_signed();
        let mut candidates: Vec<usize> = (0..self.pool.len())
            .filter(|i| !path.contains(i))
            .filter(|i| {
                self.node(*i).is_some_and(|n| {
                    same_name(n.cert.subject(), &issuer_name) && key_ids_compatible(aki.as_ref(), n.ski.as_ref())
                })
            })
            .collect();
        // Anchors first, then certificates valid now, keeping the caller's order otherwise.
        let at = self.at;
        candidates.sort_by_key(|i| {
            let n = self.node(*i);
            let current = n.is_some_and(|n| n.cert.not_before() <= at && at <= n.cert.not_after());
            (!n.is_some_and(|n| n.anchor), !current)
        });

        let mut deepest: Option<Dead> = None;
        let mut bad = false;
        let mut unsupported = None;
        for candidate in candidates {
            match self.verdict(current, candidate) {
                Err(()) => return Err(dead(path, Problem::Chain { subject, fault: ChainFault::TooComplex })),
                Ok(Verdict::Bad) => bad = true,
                Ok(Verdict::Unsupported(why)) => unsupported = Some(why),
                Ok(Verdict::Good) => {
                    path.push(candidate);
                    match self.extend(path) {
                        Ok(()) => return Ok(()),
                        Err(d) => {
                            if deepest.as_ref().is_none_or(|best| d.path.len() > best.path.len()) {
                                deepest = Some(d);
                            }
                        }
                    }
                    path.pop();
                }
            }
        }
        if let Some(d) = deepest {
            return Err(d);
        }
        let issuer = dn_string(&issuer_name);
        let problem = if self_signed {
            match self.node(current).map(|n| verify(n.cert, n.cert)) {
                Some(Verdict::Good) => Problem::Untrusted { subject },
                Some(Verdict::Unsupported(detail)) => Problem::Unsupported { subject, detail },
                _ => Problem::BadSelfSigned { subject },
            }
        } else if let Some(detail) = unsupported {
            Problem::Unsupported { subject, detail }
        } else if bad {
            Problem::Chain { subject, fault: ChainFault::BadSignature { issuer } }
        } else {
            Problem::IssuerNotFound { subject, issuer }
        };
        Err(dead(path, problem))
    }
}

pub(super) fn verify(child: &Cert, parent: &Cert) -> Verdict {
    let result = parent.public_key().and_then(|key| child.verify_signed_by(&key));
    match result {
        Ok(()) => Verdict::Good,
        Err(PkiError::Unsupported(why)) => Verdict::Unsupported(why),
        Err(_) => Verdict::Bad,
    }
}
