//! CRLs during path validation: reading a CertificateList (v1 or v2, DER or PEM), checking it against the
//! certificate of the path that issued it, and reporting the certificate below that issuer when it is listed.

use super::names::same_name;
use super::path::Node;
use super::{unix, Problem};
use crate::alg::SignatureAlgorithm;
use crate::names::dn_string;
use crate::PkiError;
use const_oid::db::rfc5280;
use der::asn1::BitString;
use der::{Decode, Reader, SliceReader};
use spki::AlgorithmIdentifierOwned;
use x509_cert::crl::RevokedCert;
use x509_cert::ext::pkix::crl::CrlReason;
use x509_cert::ext::pkix::{AuthorityKeyIdentifier, IssuingDistributionPoint};
use x509_cert::ext::Extensions;
use x509_cert::name::Name;
use x509_cert::time::Time;

/// TBSCertList with its version optional, as RFC 5280 §5.1 has it (v1 CRLs carry none).
#[derive(der::Sequence)]
struct TbsCrl {
    version: Option<x509_cert::Version>,
    signature: AlgorithmIdentifierOwned,
    issuer: Name,
    this_update: Time,
    next_update: Option<Time>,
    revoked_certificates: Option<Vec<RevokedCert>>,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    crl_extensions: Option<Extensions>,
}

struct Crl {
    /// The TBSCertList exactly as signed.
    tbs_der: Vec<u8>,
    tbs: TbsCrl,
    algorithm: AlgorithmIdentifierOwned,
    signature: BitString,
}

/// Which certificates a CRL speaks for, from its issuingDistributionPoint.
#[derive(Default)]
struct Scope {
    only_user: bool,
    only_ca: bool,
    only_attribute: bool,
}

fn parse(input: &[u8]) -> Result<Crl, String> {
    let pem;
    let der = if input.starts_with(b"-----BEGIN") {
        let text = std::str::from_utf8(input).map_err(|_| "PEM that is not text".to_owned())?;
        let (label, der) = crate::pem::decode(text).map_err(|e| e.to_string())?;
        if label != "X509 CRL" {
            return Err(format!("a PEM {label}, not an X509 CRL"));
        }
        pem = der;
        pem.as_slice()
    } else {
        input
    };
    let mut reader = SliceReader::new(der).map_err(|e| e.to_string())?;
    let (tbs_der, algorithm, signature) = reader
        .sequence(|r| {
            let tbs = r.tlv_bytes()?;
            let algorithm = AlgorithmIdentifierOwned::decode(r)?;
            let signature = BitString::decode(r)?;
            Ok((tbs, algorithm, signature))
        })
        .and_then(|v| reader.finish(v))
        .map_err(|e| format!("not a DER CertificateList: {e}"))?;
    let tbs = TbsCrl::from_der(tbs_der).map_err(|e| format!("bad TBSCertList: {e}"))?;
    Ok(Crl { tbs_der: tbs_der.to_vec(), tbs, algorithm, signature })
}

impl Crl {
    fn verify(&self, issuer: &Node<'_>) -> Result<(), PkiError> {
        if self.algorithm != self.tbs.signature {
            return Err(PkiError::BadSignature("outer and inner signature algorithms differ".to_owned()));
        }
        let algorithm = SignatureAlgorithm::from_identifier(&self.algorithm)?;
        let signature =
            self.signature.as_bytes().ok_or_else(|| PkiError::BadSignature("signature has unused bits".to_owned()))?;
        issuer.cert.public_key()?.verify(algorithm, &self.tbs_der, signature)
    }

    fn authority_key_id(&self) -> Option<Vec<u8>> {
        let ext = self.extensions().find(|e| e.extn_id == rfc5280::ID_CE_AUTHORITY_KEY_IDENTIFIER)?;
        let aki = AuthorityKeyIdentifier::from_der(ext.extn_value.as_bytes()).ok()?;
        aki.key_identifier.map(|k| k.as_bytes().to_vec())
    }

    fn extensions(&self) -> impl Iterator<Item = &x509_cert::ext::Extension> {
        self.tbs.crl_extensions.iter().flatten()
    }

    /// The CRL's scope, or the problem that keeps it from being used.
    fn scope(&self, issuer: &str) -> Result<Scope, Problem> {
        let mut scope = Scope::default();
        for ext in self.extensions() {
            match ext.extn_id {
                o if o == rfc5280::ID_CE_DELTA_CRL_INDICATOR => {
                    return Err(Problem::CrlUnsupported {
                        issuer: issuer.to_owned(),
                        detail: "delta CRLs are not supported; supply the complete CRL".to_owned(),
                    })
                }
                o if o == rfc5280::ID_CE_ISSUING_DISTRIBUTION_POINT => {
                    let idp = IssuingDistributionPoint::from_der(ext.extn_value.as_bytes()).map_err(|e| {
                        Problem::CrlInvalid { detail: format!("CRL of {issuer}: bad issuingDistributionPoint: {e}") }
                    })?;
                    if idp.indirect_crl {
                        return Err(Problem::CrlUnsupported {
                            issuer: issuer.to_owned(),
                            detail: "indirect CRLs are not supported".to_owned(),
                        });
                    }
                    scope = Scope {
                        only_user: idp.only_contains_user_certs,
                        only_ca: idp.only_contains_ca_certs,
                        only_attribute: idp.only_contains_attribute_certs,
                    };
                }
                o if ext.critical
                    && o != rfc5280::ID_CE_CRL_NUMBER
                    && o != rfc5280::ID_CE_AUTHORITY_KEY_IDENTIFIER
                    && o != rfc5280::ID_CE_ISSUER_ALT_NAME =>
                {
                    return Err(Problem::CrlInvalid {
                        detail: format!("CRL of {issuer} has an unknown critical extension {o}"),
                    });
                }
                _ => {}
            }
        }
        Ok(scope)
    }

    /// The entry listing `serial`, with its reason; `Err` when an entry carries a critical extension this
    /// validator does not understand (the CRL then says nothing reliable).
    fn entry(&self, serial: &[u8], issuer: &str) -> Result<Option<(i64, Option<CrlReason>)>, Problem> {
        for entry in self.tbs.revoked_certificates.iter().flatten() {
            let mut reason = None;
            for ext in entry.crl_entry_extensions.iter().flatten() {
                if ext.extn_id == rfc5280::ID_CE_CRL_REASONS {
                    reason = CrlReason::from_der(ext.extn_value.as_bytes()).ok();
                } else if ext.critical {
                    return Err(Problem::CrlUnsupported {
                        issuer: issuer.to_owned(),
                        detail: format!("a CRL entry has the critical extension {} (indirect CRL?)", ext.extn_id),
                    });
                }
            }
            if trim_zeros(entry.serial_number.as_bytes()) == trim_zeros(serial)
                && reason != Some(CrlReason::RemoveFromCRL)
            {
                return Ok(Some((unix(&entry.revocation_date), reason)));
            }
        }
        Ok(None)
    }
}

fn trim_zeros(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|x| *x != 0).unwrap_or(b.len());
    b.get(start..).unwrap_or_default()
}

/// Applies every supplied CRL to `path` (leaf first): problems with the CRLs themselves go to `problems`, and a
/// certificate listed by the CRL of its issuer is reported revoked and marked in `revoked`.
pub(super) fn check(crls: &[Vec<u8>], path: &[&Node<'_>], at: i64, problems: &mut Vec<Problem>, revoked: &mut [bool]) {
    for (n, bytes) in crls.iter().enumerate() {
        let crl = match parse(bytes) {
            Ok(crl) => crl,
            Err(e) => {
                problems.push(Problem::CrlInvalid { detail: format!("CRL #{}: {e}", n + 1) });
                continue;
            }
        };
        let issuer = dn_string(&crl.tbs.issuer);
        let aki = crl.authority_key_id();
        let mut named: Vec<usize> = (0..path.len())
            .filter(|j| path.get(*j).is_some_and(|p| same_name(p.cert.subject(), &crl.tbs.issuer)))
            .collect();
        if named.is_empty() {
            problems.push(Problem::CrlIssuerNotFound { issuer });
            continue;
        }
        // A CRL that names its key is tried against that key first.
        named.sort_by_key(|j| aki.is_none() || path.get(*j).and_then(|p| p.ski.as_ref()) != aki.as_ref());

        let mut signer = None;
        let mut unsupported = None;
        for j in named {
            let Some(node) = path.get(j) else { continue };
            match crl.verify(node) {
                Ok(()) => {
                    signer = Some(j);
                    break;
                }
                Err(PkiError::Unsupported(why)) => unsupported = Some(why),
                Err(_) => {}
            }
        }
        let Some((j, node)) = signer.and_then(|j| path.get(j).map(|node| (j, node))) else {
            problems.push(match unsupported {
                Some(detail) => Problem::CrlUnsupported { issuer, detail },
                None => Problem::CrlSignature { issuer },
            });
            continue;
        };
        if node.key_usage.as_ref().is_some_and(|ku| !ku.crl_sign()) {
            problems.push(Problem::CrlIssuerNotAllowed { issuer });
            continue;
        }
        if let Some(next) = &crl.tbs.next_update {
            let next_update = unix(next);
            if next_update < at {
                problems.push(Problem::CrlExpired { issuer: issuer.clone(), next_update });
            }
        }
        let this_update = unix(&crl.tbs.this_update);
        if this_update > at {
            problems.push(Problem::CrlInvalid {
                detail: format!("the CRL of {issuer} is not valid until {}", super::when(this_update)),
            });
        }
        let scope = match crl.scope(&issuer) {
            Ok(scope) => scope,
            Err(problem) => {
                problems.push(problem);
                continue;
            }
        };
        // The certificate this issuer issued in the path is the one just below it.
        let Some(below) = j.checked_sub(1) else { continue };
        let Some(subject) = path.get(below) else { continue };
        let covered = !scope.only_attribute && if subject.is_ca() { !scope.only_user } else { !scope.only_ca };
        if !covered || revoked.get(below).copied().unwrap_or(true) {
            continue;
        }
        match crl.entry(subject.serial(), &issuer) {
            Ok(Some((at, reason))) => {
                if let Some(flag) = revoked.get_mut(below) {
                    *flag = true;
                }
                problems.push(Problem::Revoked {
                    subject: subject.cert.subject_string(),
                    serial: subject.cert.serial_hex(),
                    at: Some(at),
                    reason,
                });
            }
            Ok(None) => {}
            Err(problem) => problems.push(problem),
        }
    }
}
