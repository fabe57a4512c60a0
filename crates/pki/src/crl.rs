//! Certificate revocation lists (RFC 5280 §5): full, delta and partitioned CRLs, written in one pass.
//! [`build`] streams the revoked certificates straight into the output buffer, so a CRL of a million entries costs
//! about its own size in memory; [`inspect`] reads back what a CRL is served and described by.

use crate::asn1::{self, Civil, Malformed, Tlv};
use crate::asn1::{BIT_STRING, BOOLEAN, CONTEXT_0, ENUMERATED, GENERALIZED_TIME, INTEGER, OCTET_STRING, OID};
use crate::asn1::{MAX_HEADER, SEQUENCE, UTC_TIME};
use crate::key::Signer;
use crate::revocation::RevocationReason;
use crate::PkiError;
use const_oid::db::rfc5280;
use der::Encode;

/// Anything that can be written as a CRL entry: a [`CrlEntry`], or an owned record that lends one while it is
/// written (so entries can be produced one at a time instead of being held all at once).
pub trait AsCrlEntry {
    fn crl_entry(&self) -> CrlEntry<'_>;
}

impl AsCrlEntry for CrlEntry<'_> {
    fn crl_entry(&self) -> CrlEntry<'_> {
        *self
    }
}

/// One revoked certificate as it goes into a CRL.
#[derive(Debug, Clone, Copy)]
pub struct CrlEntry<'a> {
    /// The serial number's big-endian magnitude (no sign byte needed; leading zero bytes allowed and stripped).
    pub serial: &'a [u8],
    /// Epoch seconds.
    pub revoked_at: i64,
    /// `None` or `Some(Unspecified)` writes no reasonCode extension (RFC 5280 recommends omitting unspecified).
    /// `RemoveFromCrl` belongs in delta CRLs only.
    pub reason: Option<RevocationReason>,
    /// Epoch seconds; writes the invalidityDate entry extension (GeneralizedTime).
    pub invalidity_date: Option<i64>,
}

/// Which CRL this is.
#[derive(Debug, Clone)]
pub enum CrlScope {
    /// A complete CRL for everything the issuer revoked. `delta_urls` (may be empty) go in a non-critical
    /// FreshestCRL extension (id-ce-freshestCRL, 2.5.29.46) as DistributionPoint fullName URIs.
    Full { delta_urls: Vec<String> },
    /// A delta CRL against the complete CRL numbered `base_number`: critical deltaCRLIndicator (2.5.29.27).
    Delta { base_number: u64 },
    /// One partition: a critical issuingDistributionPoint (2.5.29.28) whose distributionPoint fullName is the URI
    /// `url` (the same URL the partition's certificates carry in their CRL distribution points), with
    /// onlyContainsUserCerts TRUE.
    Partition { url: String },
}

/// Everything about a CRL except its entries.
#[derive(Debug)]
pub struct CrlParams<'a> {
    pub issuer: &'a x509_cert::name::Name,
    /// The issuer's subject key identifier, written as the CRL's authorityKeyIdentifier (keyIdentifier only).
    pub issuer_key_identifier: &'a [u8],
    /// cRLNumber (2.5.29.20), non-critical, always written.
    pub number: u64,
    /// Epoch seconds.
    pub this_update: i64,
    /// Epoch seconds; later than `this_update`.
    pub next_update: i64,
    pub scope: CrlScope,
}

/// What [`build`] wrote, read back (for `certwright crl show`, tests and the cache): enough to serve and describe
/// it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrlInfo {
    /// cRLNumber.
    pub number: Option<u64>,
    /// The deltaCRLIndicator's base CRL number: present on delta CRLs only.
    pub base_number: Option<u64>,
    pub this_update: i64,
    pub next_update: Option<i64>,
    /// How many revoked certificates are listed.
    pub entries: u64,
    /// The issuingDistributionPoint's URI: present on partition CRLs only.
    pub partition_url: Option<String>,
}

/// RFC 5280 §4.1.2.2 caps serial numbers at 20 octets; a 20-octet magnitude with its top bit set takes a 21st for
/// the sign, which readers accept.
const MAX_SERIAL: usize = 20;

/// Expected size of one entry, to reserve the output buffer from the iterator's size hint: a 16-octet serial, a
/// UTCTime and a reasonCode.
const TYPICAL_ENTRY: usize = 2 + 19 + 15 + 14;

/// Room for a signature and its AlgorithmIdentifier, to reserve the output buffer (ML-DSA-87 signs in 4627 octets).
const SIGNATURE_ROOM: usize = 4700;

/// The reasonCode entry extension up to its ENUMERATED value: SEQUENCE { id-ce-cRLReasons, OCTET STRING {
/// ENUMERATED } }.
const REASON_CODE: [u8; 11] = [SEQUENCE, 10, OID, 3, 0x55, 0x1d, 0x15, OCTET_STRING, 3, ENUMERATED, 1];
const REASON_CODE_LEN: usize = REASON_CODE.len() + 1;

/// The invalidityDate entry extension up to its GeneralizedTime: SEQUENCE { id-ce-invalidityDate, OCTET STRING {
/// GeneralizedTime } }.
const INVALIDITY_DATE: [u8; 9] = [SEQUENCE, 24, OID, 3, 0x55, 0x1d, 0x18, OCTET_STRING, 17];
const INVALIDITY_DATE_LEN: usize = INVALIDITY_DATE.len() + 17;

fn invalid(why: impl Into<String>) -> PkiError {
    PkiError::InvalidCrl(why.into())
}

fn civil(secs: i64, what: &str) -> Result<Civil, PkiError> {
    Civil::from_unix(secs).ok_or_else(|| invalid(format!("{what} ({secs}) lies outside the years 0000-9999")))
}

/// Builds and signs a v2 CRL (DER). Entries are written in the order given, in one pass, straight into the
/// output buffer: memory is about the size of the CRL itself, never a parsed structure per entry.
pub fn build<E: AsCrlEntry>(
    params: &CrlParams<'_>,
    entries: impl IntoIterator<Item = E>,
    signer: &dyn Signer,
) -> Result<Vec<u8>, PkiError> {
    let algorithm = signer.signature_algorithm();
    if !algorithm.may_sign() {
        return Err(PkiError::Unsupported(format!("signing with {}", algorithm.name())));
    }
    if params.next_update <= params.this_update {
        return Err(invalid("nextUpdate must be later than thisUpdate"));
    }
    let algorithm = algorithm.identifier().to_der().map_err(|e| invalid(format!("signature algorithm: {e}")))?;
    let head = fields_before_entries(params, &algorithm)?;
    let extensions = crl_extensions(params)?;
    let in_delta = matches!(params.scope, CrlScope::Delta { .. });

    // Layout while writing: [slack][entries][crlExtensions]. The slack takes, once the entries' length is known,
    // the CertificateList and TBSCertList headers, the fields before the entries and the revokedCertificates
    // header, placed right before the entries; one move then brings the CRL to the start of the buffer.
    let slack = 3 * MAX_HEADER + head.len();
    let entries = entries.into_iter();
    let mut out = Vec::new();
    let wanted = entries.size_hint().0.saturating_mul(TYPICAL_ENTRY).saturating_add(slack + SIGNATURE_ROOM);
    // Only a hint: when it cannot be reserved, the buffer grows as the entries are written.
    out.try_reserve(wanted.saturating_add(extensions.len())).unwrap_or_default();
    out.resize(slack, 0);
    let mut count: u64 = 0;
    for entry in entries {
        put_entry(&mut out, &entry.crl_entry(), in_delta)
            .map_err(|why| invalid(format!("entry at index {count}: {why}")))?;
        count += 1;
    }
    let listed = out.len() - slack;
    out.extend_from_slice(&extensions);

    // RFC 5280 §5.1.2.6: with no revoked certificates the list is absent, not empty.
    let list_header = if count > 0 { asn1::header(SEQUENCE, listed) } else { Vec::new() };
    let tbs_header = asn1::header(SEQUENCE, head.len() + list_header.len() + listed + extensions.len());
    // Each header is at most MAX_HEADER long, so these fit in the slack.
    let tbs_start = slack - list_header.len() - head.len() - tbs_header.len();
    put_at(&mut out, tbs_start, &[&tbs_header, &head, &list_header])?;

    let signature = signer.sign(out.get(tbs_start..).unwrap_or_default())?;
    let bits_header = asn1::header(BIT_STRING, 1 + signature.len());
    let outer_len = out.len() - tbs_start + algorithm.len() + bits_header.len() + 1 + signature.len();
    let outer_header = asn1::header(SEQUENCE, outer_len);
    let start = tbs_start - outer_header.len();
    put_at(&mut out, start, &[&outer_header])?;
    out.extend_from_slice(&algorithm);
    out.extend_from_slice(&bits_header);
    out.push(0);
    out.extend_from_slice(&signature);

    out.copy_within(start.., 0);
    out.truncate(out.len() - start);
    out.shrink_to_fit();
    Ok(out)
}

/// Copies `parts`, one after another, over `out` from `at`.
fn put_at(out: &mut [u8], mut at: usize, parts: &[&[u8]]) -> Result<(), PkiError> {
    for part in parts {
        let end = at + part.len();
        out.get_mut(at..end).ok_or_else(|| invalid("internal: CRL header outside its slack"))?.copy_from_slice(part);
        at = end;
    }
    Ok(())
}

/// version, signature, issuer, thisUpdate, nextUpdate.
fn fields_before_entries(params: &CrlParams<'_>, algorithm: &[u8]) -> Result<Vec<u8>, PkiError> {
    let issuer = params.issuer.to_der().map_err(|e| invalid(format!("issuer name: {e}")))?;
    let this_update = civil(params.this_update, "thisUpdate")?;
    let next_update = civil(params.next_update, "nextUpdate")?;
    let mut head = Vec::with_capacity(3 + algorithm.len() + issuer.len() + 2 * 17);
    head.extend_from_slice(&[INTEGER, 1, 1]);
    head.extend_from_slice(algorithm);
    head.extend_from_slice(&issuer);
    asn1::put_time(&mut head, &this_update);
    asn1::put_time(&mut head, &next_update);
    Ok(head)
}

/// `[0] EXPLICIT Extensions`: authorityKeyIdentifier, cRLNumber and the scope's extension.
fn crl_extensions(params: &CrlParams<'_>) -> Result<Vec<u8>, PkiError> {
    if params.issuer_key_identifier.is_empty() {
        return Err(invalid("the issuer key identifier is empty"));
    }
    let key_identifier = asn1::seq(&[&asn1::tlv(0x80, params.issuer_key_identifier)]);
    let mut extensions = vec![
        extension(&rfc5280::ID_CE_AUTHORITY_KEY_IDENTIFIER, false, &key_identifier),
        extension(&rfc5280::ID_CE_CRL_NUMBER, false, &asn1::unsigned(params.number)),
    ];
    match &params.scope {
        CrlScope::Full { delta_urls } if delta_urls.is_empty() => {}
        CrlScope::Full { delta_urls } => {
            let points = delta_urls
                .iter()
                .map(|url| Ok(asn1::seq(&[&asn1::tlv(CONTEXT_0, &full_name(url)?)])))
                .collect::<Result<Vec<_>, PkiError>>()?;
            let points: Vec<&[u8]> = points.iter().map(Vec::as_slice).collect();
            extensions.push(extension(&rfc5280::ID_CE_FRESHEST_CRL, false, &asn1::seq(&points)));
        }
        CrlScope::Delta { base_number } => {
            if *base_number >= params.number {
                return Err(invalid(format!(
                    "a delta CRL's number ({}) must be greater than its base CRL's ({base_number})",
                    params.number
                )));
            }
            extensions.push(extension(&rfc5280::ID_CE_DELTA_CRL_INDICATOR, true, &asn1::unsigned(*base_number)));
        }
        CrlScope::Partition { url } => {
            // IssuingDistributionPoint { distributionPoint [0] { fullName }, onlyContainsUserCerts [1] TRUE }
            let point = asn1::seq(&[&asn1::tlv(CONTEXT_0, &full_name(url)?), &[0x81, 1, 0xff]]);
            extensions.push(extension(&rfc5280::ID_CE_ISSUING_DISTRIBUTION_POINT, true, &point));
        }
    }
    let extensions: Vec<&[u8]> = extensions.iter().map(Vec::as_slice).collect();
    Ok(asn1::explicit0(&asn1::seq(&extensions)))
}

fn extension(oid: &const_oid::ObjectIdentifier, critical: bool, value: &[u8]) -> Vec<u8> {
    let critical: &[u8] = if critical { &[BOOLEAN, 1, 0xff] } else { &[] };
    asn1::seq(&[&asn1::oid(oid), critical, &asn1::octets(value)])
}

/// DistributionPointName `fullName [0]` holding the one URI `url` (GeneralName `[6]` IA5String).
fn full_name(url: &str) -> Result<Vec<u8>, PkiError> {
    if url.is_empty() || !url.is_ascii() {
        return Err(invalid(format!("distribution point URL '{url}' must be non-empty ASCII (IA5String)")));
    }
    Ok(asn1::tlv(CONTEXT_0, &asn1::tlv(0x86, url.as_bytes())))
}

/// Appends one revokedCertificates entry. Every part has a bounded size (at most 80 octets in all), so the
/// lengths are computed, not measured, and every header is a single octet.
fn put_entry(out: &mut Vec<u8>, entry: &CrlEntry<'_>, in_delta: bool) -> Result<(), String> {
    let first = entry.serial.iter().position(|b| *b != 0).ok_or("the serial number is empty or zero")?;
    let serial = entry.serial.get(first..).unwrap_or_default();
    if serial.len() > MAX_SERIAL {
        return Err(format!("the serial number is {} octets long; at most {MAX_SERIAL} are allowed", serial.len()));
    }
    let sign_octet = serial.first().is_some_and(|b| b & 0x80 != 0);
    let integer_len = serial.len() + usize::from(sign_octet);
    let revoked_at = Civil::from_unix(entry.revoked_at)
        .ok_or_else(|| format!("the revocation time ({}) lies outside the years 0000-9999", entry.revoked_at))?;
    let reason = match entry.reason {
        None | Some(RevocationReason::Unspecified) => None,
        Some(RevocationReason::RemoveFromCrl) if !in_delta => return Err("removeFromCRL is for delta CRLs only".into()),
        Some(reason) => Some(reason.code()),
    };
    let invalidity = match entry.invalidity_date {
        Some(t) => Some(Civil::from_unix(t).ok_or_else(|| format!("the invalidity date ({t}) is out of range"))?),
        None => None,
    };
    let extensions_len = reason.map_or(0, |_| REASON_CODE_LEN) + invalidity.map_or(0, |_| INVALIDITY_DATE_LEN);
    let time_len = if revoked_at.is_utc_time() { 15 } else { 17 };
    let entry_len = 2 + integer_len + time_len + if extensions_len > 0 { 2 + extensions_len } else { 0 };

    out.extend_from_slice(&[SEQUENCE, entry_len as u8, INTEGER, integer_len as u8]);
    if sign_octet {
        out.push(0);
    }
    out.extend_from_slice(serial);
    asn1::put_time(out, &revoked_at);
    if extensions_len > 0 {
        out.extend_from_slice(&[SEQUENCE, extensions_len as u8]);
        if let Some(code) = reason {
            out.extend_from_slice(&REASON_CODE);
            out.push(code);
        }
        if let Some(t) = invalidity {
            out.extend_from_slice(&INVALIDITY_DATE);
            asn1::put_generalized_time(out, &t);
        }
    }
    Ok(())
}

/// The CRL as PEM (`X509 CRL`, RFC 7468 §5).
pub fn to_pem(der: &[u8]) -> String {
    crate::pem::encode("X509 CRL", der)
}

/// Reads back the numbers, times, entry count and partition of a DER CRL. The signature is not checked: this
/// describes a CRL, it does not trust one.
pub fn inspect(der: &[u8]) -> Result<CrlInfo, PkiError> {
    read(der).map_err(|Malformed(why)| invalid(format!("not a readable CertificateList: {why}")))
}

fn read(der: &[u8]) -> Result<CrlInfo, Malformed> {
    let list = Tlv::parse(der, SEQUENCE, "CertificateList expected")?;
    let mut r = list.reader();
    let tbs = r.next(SEQUENCE, "TBSCertList expected")?;
    asn1::algorithm(&r.any()?)?;
    r.next(BIT_STRING, "signature expected")?;
    r.finish()?;

    let mut t = tbs.reader();
    // RFC 5280 §5.1.2.1: v2 CRLs carry INTEGER 1; v1 CRLs carry no version.
    if let Some(version) = t.optional(INTEGER)? {
        if version.uint()? != 1 {
            return Err(Malformed("unknown CRL version"));
        }
    }
    asn1::algorithm(&t.next(SEQUENCE, "signature algorithm expected")?)?;
    t.next(SEQUENCE, "issuer name expected")?;
    let this_update = t.any()?.time()?;
    let next_update = match t.peek_tag() {
        Some(UTC_TIME | GENERALIZED_TIME) => Some(t.any()?.time()?),
        _ => None,
    };
    let mut entries = 0;
    if let Some(revoked) = t.optional(SEQUENCE)? {
        let mut e = revoked.reader();
        while !e.is_empty() {
            e.next(SEQUENCE, "revoked certificate expected")?;
            entries += 1;
        }
    }
    let mut info = CrlInfo { number: None, base_number: None, this_update, next_update, entries, partition_url: None };
    if let Some(extensions) = t.optional(CONTEXT_0)? {
        let extensions = Tlv::parse(extensions.content, SEQUENCE, "Extensions expected")?;
        let mut x = extensions.reader();
        while !x.is_empty() {
            let mut fields = x.next(SEQUENCE, "Extension expected")?.reader();
            let id = fields.next(OID, "extension OID expected")?;
            fields.optional(BOOLEAN)?;
            let value = fields.next(OCTET_STRING, "extension value expected")?.content;
            fields.finish()?;
            if id.is_oid(&rfc5280::ID_CE_CRL_NUMBER) {
                info.number = Some(Tlv::parse(value, INTEGER, "cRLNumber expected")?.uint()?);
            } else if id.is_oid(&rfc5280::ID_CE_DELTA_CRL_INDICATOR) {
                info.base_number = Some(Tlv::parse(value, INTEGER, "BaseCRLNumber expected")?.uint()?);
            } else if id.is_oid(&rfc5280::ID_CE_ISSUING_DISTRIBUTION_POINT) {
                info.partition_url = distribution_point_uri(value)?;
            }
        }
    }
    t.finish()?;
    Ok(info)
}

/// The first URI of an IssuingDistributionPoint's fullName.
fn distribution_point_uri(idp: &[u8]) -> Result<Option<String>, Malformed> {
    let Some(point) = Tlv::parse(idp, SEQUENCE, "IssuingDistributionPoint expected")?.reader().optional(CONTEXT_0)?
    else {
        return Ok(None);
    };
    let Some(names) = point.reader().optional(CONTEXT_0)? else { return Ok(None) };
    let mut names = names.reader();
    while !names.is_empty() {
        let name = names.any()?;
        if name.tag == 0x86 {
            let uri = std::str::from_utf8(name.content).map_err(|_| Malformed("a URI that is not text"))?;
            return Ok(Some(uri.to_owned()));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alg::{Curve, KeyAlgorithm};
    use crate::key::PrivateKey;
    use crate::names::parse_dn;
    use der::asn1::{GeneralizedTime, OctetString, UtcTime};
    use der::{DateTime, Decode};
    use x509_cert::crl::{CertificateList, RevokedCert};
    use x509_cert::ext::pkix::crl::{BaseCrlNumber, CrlNumber, FreshestCrl};
    use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
    use x509_cert::ext::pkix::{AuthorityKeyIdentifier, IssuingDistributionPoint};
    use x509_cert::ext::Extension;
    use x509_cert::serial_number::SerialNumber;
    use x509_cert::time::Time;

    const NOW: i64 = 1_790_000_000;

    fn entry(serial: &[u8], reason: Option<RevocationReason>, invalidity: Option<i64>) -> CrlEntry<'_> {
        CrlEntry { serial, revoked_at: NOW - 3600, reason, invalidity_date: invalidity }
    }

    fn x509_time(secs: i64) -> Time {
        let dt = DateTime::from_unix_duration(std::time::Duration::from_secs(secs as u64)).unwrap();
        if dt.year() < 2050 {
            Time::UtcTime(UtcTime::from_date_time(dt).unwrap())
        } else {
            Time::GeneralTime(GeneralizedTime::from_date_time(dt))
        }
    }

    /// The same entry built with the RustCrypto x509-cert types.
    fn reference(e: &CrlEntry<'_>) -> Vec<u8> {
        let mut extensions = Vec::new();
        if let Some(r) = e.reason.filter(|r| *r != RevocationReason::Unspecified) {
            let value = OctetString::new(vec![ENUMERATED, 1, r.code()]).unwrap();
            extensions.push(Extension { extn_id: rfc5280::ID_CE_CRL_REASONS, critical: false, extn_value: value });
        }
        if let Some(t) = e.invalidity_date {
            let dt = DateTime::from_unix_duration(std::time::Duration::from_secs(t as u64)).unwrap();
            let value = OctetString::new(GeneralizedTime::from_date_time(dt).to_der().unwrap()).unwrap();
            extensions.push(Extension { extn_id: rfc5280::ID_CE_INVALIDITY_DATE, critical: false, extn_value: value });
        }
        RevokedCert {
            serial_number: SerialNumber::new(e.serial).unwrap(),
            revocation_date: x509_time(e.revoked_at),
            crl_entry_extensions: (!extensions.is_empty()).then_some(extensions),
        }
        .to_der()
        .unwrap()
    }

    #[test]
    fn entries_are_encoded_as_x509_cert_encodes_them() {
        let cases = [
            entry(&[0x01], None, None),
            entry(&[0x00, 0x00, 0x7f], Some(RevocationReason::Unspecified), None),
            entry(&[0x80], Some(RevocationReason::KeyCompromise), None),
            entry(&[0xff; 19], Some(RevocationReason::AaCompromise), Some(NOW - 86_400)),
            entry(&[0x7f; 20], Some(RevocationReason::CertificateHold), Some(4_102_444_800)),
            CrlEntry { serial: &[0x12, 0x34], revoked_at: 2_556_143_999, reason: None, invalidity_date: None },
            CrlEntry { serial: &[0x12, 0x34], revoked_at: 2_556_144_000, reason: None, invalidity_date: Some(0) },
        ];
        for e in cases {
            let mut out = Vec::new();
            put_entry(&mut out, &e, false).unwrap();
            assert_eq!(out, reference(&e), "{e:?}");
        }
        let largest = CrlEntry {
            serial: &[0xff; 20],
            revoked_at: 4_102_444_800,
            reason: Some(RevocationReason::RemoveFromCrl),
            invalidity_date: Some(NOW),
        };
        let mut out = Vec::new();
        put_entry(&mut out, &largest, true).unwrap();
        assert_eq!(out[..2], [SEQUENCE, 80], "the largest entry still has a one-octet length");
        let parsed = RevokedCert::from_der(&out).unwrap();
        assert_eq!(parsed.serial_number.as_bytes(), [&[0][..], &[0xff; 20]].concat(), "21 octets with the sign");
    }

    #[test]
    fn entry_extension_prefixes_name_their_oids() {
        assert_eq!(&REASON_CODE[4..7], rfc5280::ID_CE_CRL_REASONS.as_bytes());
        assert_eq!(&INVALIDITY_DATE[4..7], rfc5280::ID_CE_INVALIDITY_DATE.as_bytes());
    }

    fn extensions(der: &[u8]) -> Vec<Extension> {
        CertificateList::from_der(der).unwrap().tbs_cert_list.crl_extensions.unwrap()
    }

    fn find(exts: &[Extension], oid: const_oid::ObjectIdentifier) -> &Extension {
        exts.iter().find(|e| e.extn_id == oid).unwrap()
    }

    #[test]
    fn crls_decode_with_x509_cert_and_their_signature_verifies() {
        let key = PrivateKey::generate(KeyAlgorithm::Ecdsa(Curve::P256)).unwrap();
        let issuer = parse_dn("CN=Unit CA,O=certwright").unwrap();
        let serials: Vec<[u8; 16]> = (0u8..=200).map(|i| [i | 1; 16]).collect();
        let scopes = [
            CrlScope::Full { delta_urls: vec![] },
            CrlScope::Full { delta_urls: vec!["http://a.example/delta.crl".into(), "http://b.example/d.crl".into()] },
            CrlScope::Delta { base_number: 6 },
            CrlScope::Partition { url: "http://a.example/part/3.crl".into() },
        ];
        for scope in scopes {
            let params = CrlParams {
                issuer: &issuer,
                issuer_key_identifier: &[9; 20],
                number: 7,
                this_update: NOW,
                next_update: NOW + 86_400,
                scope: scope.clone(),
            };
            let entries = serials.iter().map(|s| entry(s, Some(RevocationReason::Superseded), None));
            let der = build(&params, entries, &key).unwrap();
            let crl = CertificateList::from_der(&der).unwrap();
            assert_eq!(crl.tbs_cert_list.version, x509_cert::Version::V2);
            assert_eq!(crl.tbs_cert_list.issuer, issuer);
            assert_eq!(crl.tbs_cert_list.revoked_certificates.as_ref().unwrap().len(), serials.len());
            assert_eq!(crl.signature_algorithm, key.signature_algorithm().identifier());
            let tbs = crl.tbs_cert_list.to_der().unwrap();
            let pk = key.public_key().unwrap();
            pk.verify(key.signature_algorithm(), &tbs, crl.signature.as_bytes().unwrap()).unwrap();

            let exts = extensions(&der);
            let aki = find(&exts, rfc5280::ID_CE_AUTHORITY_KEY_IDENTIFIER);
            let aki = AuthorityKeyIdentifier::from_der(aki.extn_value.as_bytes()).unwrap();
            assert_eq!(aki.key_identifier.unwrap().as_bytes(), &[9; 20]);
            let number = CrlNumber::from_der(find(&exts, rfc5280::ID_CE_CRL_NUMBER).extn_value.as_bytes()).unwrap();
            assert_eq!(number.0.as_bytes(), &[7]);
            match scope {
                CrlScope::Full { delta_urls } if delta_urls.is_empty() => assert_eq!(exts.len(), 2),
                CrlScope::Full { delta_urls } => {
                    let ext = find(&exts, rfc5280::ID_CE_FRESHEST_CRL);
                    assert!(!ext.critical);
                    let points = FreshestCrl::from_der(ext.extn_value.as_bytes()).unwrap();
                    let urls: Vec<String> = points
                        .0
                        .iter()
                        .map(|p| match &p.distribution_point {
                            Some(DistributionPointName::FullName(names)) => match names.as_slice() {
                                [GeneralName::UniformResourceIdentifier(u)] => u.to_string(),
                                other => panic!("{other:?}"),
                            },
                            other => panic!("{other:?}"),
                        })
                        .collect();
                    assert_eq!(urls, delta_urls);
                }
                CrlScope::Delta { base_number } => {
                    let ext = find(&exts, rfc5280::ID_CE_DELTA_CRL_INDICATOR);
                    assert!(ext.critical);
                    let base = BaseCrlNumber::from_der(ext.extn_value.as_bytes()).unwrap();
                    assert_eq!(base.0.as_bytes(), &[base_number as u8]);
                }
                CrlScope::Partition { url } => {
                    let ext = find(&exts, rfc5280::ID_CE_ISSUING_DISTRIBUTION_POINT);
                    assert!(ext.critical);
                    let idp = IssuingDistributionPoint::from_der(ext.extn_value.as_bytes()).unwrap();
                    assert!(idp.only_contains_user_certs && !idp.only_contains_ca_certs && !idp.indirect_crl);
                    let Some(DistributionPointName::FullName(names)) = idp.distribution_point else { panic!() };
                    assert_eq!(
                        names,
                        vec![GeneralName::UniformResourceIdentifier(der::asn1::Ia5String::new(&url).unwrap())]
                    );
                }
            }
        }
    }

    #[test]
    fn an_empty_crl_has_no_revoked_certificates_field() {
        let key = PrivateKey::generate(KeyAlgorithm::Ecdsa(Curve::P256)).unwrap();
        let issuer = parse_dn("CN=Unit CA").unwrap();
        let params = CrlParams {
            issuer: &issuer,
            issuer_key_identifier: &[1; 20],
            number: 1,
            this_update: NOW,
            next_update: NOW + 60,
            scope: CrlScope::Full { delta_urls: vec![] },
        };
        let der = build(&params, Vec::<CrlEntry<'_>>::new(), &key).unwrap();
        let crl = CertificateList::from_der(&der).unwrap();
        assert!(crl.tbs_cert_list.revoked_certificates.is_none());
        let info = inspect(&der).unwrap();
        assert_eq!(info.entries, 0);
        assert_eq!(info.number, Some(1));
        assert_eq!(info.next_update, Some(NOW + 60));
    }
}
