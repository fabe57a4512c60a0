//! Reading OCSPRequests (RFC 6960 §4.1), posted as DER or sent in a GET path (appendix A.1, RFC 5019 §5).

use super::{
    strip_leading_zeros, CertId, CertIdHash, MalformedRequest, OcspRequest, MAX_CERT_IDS, MAX_NONCE_BYTES,
    MAX_REQUEST_BYTES,
};
use crate::asn1::{Tlv, BOOLEAN, CONTEXT_0, INTEGER, NULL, OCTET_STRING, OID, SEQUENCE};
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::{alphabet, Engine};
use const_oid::db::rfc6960;

/// `[1]` and `[2]` constructed: requestorName and requestExtensions.
const CONTEXT_1: u8 = 0xa1;
const CONTEXT_2: u8 = 0xa2;

/// Standard alphabet, padding optional (URL-safe input is mapped to it first).
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Longest GET path segment read: the base64 of the largest request, every character percent-escaped.
const MAX_SEGMENT: usize = 3 * 4 * MAX_REQUEST_BYTES.div_ceil(3);

fn malformed(why: impl Into<String>) -> MalformedRequest {
    MalformedRequest(why.into())
}

/// Reads a DER OCSPRequest. Bounded: at most 8 KiB of input (callers enforce size too), at most 64 CertIDs,
/// requestorName / optionalSignature tolerated and ignored, unknown non-critical request extensions ignored,
/// any unsupported hash or junk → MalformedRequest. Never panics on any input.
///
/// Lengths must be DER (definite, shortest form): each CertID is echoed byte for byte in the response, which
/// must itself be DER. A nonce must be 1 to 128 octets (RFC 9654).
pub fn parse_request(der: &[u8]) -> Result<OcspRequest, MalformedRequest> {
    if der.len() > MAX_REQUEST_BYTES {
        return Err(malformed(format!("{} octets; at most {MAX_REQUEST_BYTES} are read", der.len())));
    }
    let request = Tlv::parse_der(der, SEQUENCE, "OCSPRequest expected")?;
    let mut r = request.reader();
    let tbs = r.next(SEQUENCE, "TBSRequest expected")?;
    // optionalSignature: signed requests are not required here, so the signature is not checked.
    r.optional(CONTEXT_0)?;
    r.finish()?;

    let mut t = tbs.reader();
    if let Some(version) = t.optional(CONTEXT_0)? {
        let v = explicit(&version, INTEGER, "version expected")?;
        if v.content != [0] {
            return Err(malformed("unsupported request version (v1 expected)"));
        }
    }
    t.optional(CONTEXT_1)?;
    let list = t.next(SEQUENCE, "requestList expected")?;
    let nonce = match t.optional(CONTEXT_2)? {
        Some(exts) => read_extensions(&exts, true)?,
        None => None,
    };
    t.finish()?;

    let mut cert_ids = Vec::new();
    let mut l = list.reader();
    while !l.is_empty() {
        if cert_ids.len() == MAX_CERT_IDS {
            return Err(malformed(format!("more than {MAX_CERT_IDS} certificates asked about")));
        }
        let single = l.next(SEQUENCE, "Request expected")?;
        let mut s = single.reader();
        let id = cert_id(&s.next(SEQUENCE, "CertID expected")?)?;
        if let Some(exts) = s.optional(CONTEXT_0)? {
            read_extensions(&exts, false)?;
        }
        s.finish()?;
        cert_ids.push(id);
    }
    if cert_ids.is_empty() {
        return Err(malformed("requestList is empty"));
    }
    Ok(OcspRequest { cert_ids, nonce: nonce.map(<[u8]>::to_vec) })
}

/// The one element inside an EXPLICIT tag.
fn explicit<'a>(tagged: &Tlv<'a>, tag: u8, what: &'static str) -> Result<Tlv<'a>, MalformedRequest> {
    let mut r = tagged.reader();
    let inner = r.next(tag, what)?;
    r.finish()?;
    Ok(inner)
}

/// Reads a CertID (RFC 6960 §4.1.1); also used on responses.
pub(super) fn cert_id(id: &Tlv<'_>) -> Result<CertId, MalformedRequest> {
    let mut r = id.reader();
    let algorithm = r.next(SEQUENCE, "CertID hashAlgorithm expected")?;
    let mut a = algorithm.reader();
    let oid = a.next(OID, "hash algorithm OID expected")?;
    let hash = CertIdHash::ALL
        .into_iter()
        .find(|h| oid.is_oid(&h.oid()))
        .ok_or_else(|| malformed(format!("unsupported CertID hash algorithm {}", oid.oid_string())))?;
    if let Some(params) = a.optional(NULL)? {
        if !params.content.is_empty() {
            return Err(malformed("malformed NULL hash parameters"));
        }
    }
    a.finish().map_err(|_| malformed("hash algorithm parameters must be absent or NULL"))?;
    let name_hash = r.next(OCTET_STRING, "issuerNameHash expected")?;
    let key_hash = r.next(OCTET_STRING, "issuerKeyHash expected")?;
    let serial = r.next(INTEGER, "serialNumber expected")?;
    r.finish()?;
    for (what, h) in [("issuerNameHash", name_hash.content), ("issuerKeyHash", key_hash.content)] {
        if h.len() != hash.output_len() {
            return Err(malformed(format!("{what} is {} octets, a {hash:?} hash is {}", h.len(), hash.output_len())));
        }
    }
    match serial.content.first() {
        None => return Err(malformed("empty serialNumber")),
        Some(b) if b & 0x80 != 0 => return Err(malformed("negative serialNumber")),
        Some(_) => {}
    }
    Ok(CertId {
        hash,
        issuer_name_hash: name_hash.content.to_vec(),
        issuer_key_hash: key_hash.content.to_vec(),
        serial: strip_leading_zeros(serial.content).to_vec(),
        der: id.raw.to_vec(),
    })
}

/// Reads an `[n] EXPLICIT Extensions`, returning the nonce's extnValue when `nonce_allowed`. Unknown extensions
/// are ignored unless critical; duplicates are refused (RFC 5280 §4.2).
fn read_extensions<'a>(tagged: &Tlv<'a>, nonce_allowed: bool) -> Result<Option<&'a [u8]>, MalformedRequest> {
    let list = explicit(tagged, SEQUENCE, "Extensions expected")?;
    let mut r = list.reader();
    if r.is_empty() {
        return Err(malformed("empty Extensions"));
    }
    let mut seen: Vec<&[u8]> = Vec::new();
    let mut nonce = None;
    while !r.is_empty() {
        let ext = r.next(SEQUENCE, "Extension expected")?;
        let mut e = ext.reader();
        let id = e.next(OID, "extnID expected")?;
        let critical = match e.optional(BOOLEAN)? {
            None => false,
            Some(b) => match b.content {
                [v] => *v != 0,
                _ => return Err(malformed("malformed BOOLEAN")),
            },
        };
        let value = e.next(OCTET_STRING, "extnValue expected")?;
        e.finish()?;
        if seen.contains(&id.content) {
            return Err(malformed(format!("extension {} appears twice", id.oid_string())));
        }
        seen.push(id.content);
        if nonce_allowed && id.is_oid(&rfc6960::ID_PKIX_OCSP_NONCE) {
            check_nonce(value.content)?;
            nonce = Some(value.content);
        } else if critical && !id.is_oid(&rfc6960::ID_PKIX_OCSP_RESPONSE) {
            // Acceptable responses is understood: the basic response every client accepts is the only one sent.
            return Err(malformed(format!("unsupported critical extension {}", id.oid_string())));
        }
    }
    Ok(nonce)
}

/// RFC 9654: the nonce is an OCTET STRING of 1 to 128 octets inside extnValue. Clients that put the octets
/// directly in extnValue (before RFC 8954 said otherwise) are held to the same length.
fn check_nonce(value: &[u8]) -> Result<(), MalformedRequest> {
    let octets = match Tlv::parse_der(value, OCTET_STRING, "nonce") {
        Ok(inner) => inner.content,
        Err(_) => value,
    };
    if octets.is_empty() || octets.len() > MAX_NONCE_BYTES {
        return Err(malformed(format!("nonce of {} octets; 1 to {MAX_NONCE_BYTES} are accepted", octets.len())));
    }
    Ok(())
}

/// Decodes the path segment of `GET /ocsp/{base64}` (RFC 6960 appendix A / RFC 5019 §5): URL-percent-decoded,
/// then standard base64 (also accept URL-safe alphabet and missing padding). Returns the DER.
///
/// A space is read as `+` (some clients form-encode the path); decoding twice is harmless, as base64 holds no
/// `%`, so a segment the web framework already decoded is read the same.
pub fn decode_get(segment: &str) -> Result<Vec<u8>, MalformedRequest> {
    if segment.len() > MAX_SEGMENT {
        return Err(malformed(format!("GET request of {} characters is too long", segment.len())));
    }
    let text: Vec<u8> = percent_decode(segment.as_bytes())?
        .into_iter()
        .map(|c| match c {
            b' ' | b'-' => b'+',
            b'_' => b'/',
            c => c,
        })
        .collect();
    let der = BASE64.decode(&text).map_err(|e| malformed(format!("GET request is not base64: {e}")))?;
    if der.is_empty() {
        return Err(malformed("empty GET request"));
    }
    if der.len() > MAX_REQUEST_BYTES {
        return Err(malformed(format!("{} octets; at most {MAX_REQUEST_BYTES} are read", der.len())));
    }
    Ok(der)
}

fn percent_decode(s: &[u8]) -> Result<Vec<u8>, MalformedRequest> {
    let hex = |c: Option<&u8>| c.and_then(|c| char::from(*c).to_digit(16)).and_then(|d| u8::try_from(d).ok());
    let mut out = Vec::with_capacity(s.len());
    let mut it = s.iter();
    while let Some(&c) = it.next() {
        if c == b'%' {
            match (hex(it.next()), hex(it.next())) {
                (Some(hi), Some(lo)) => out.push((hi << 4) | lo),
                _ => return Err(malformed("bad percent-escape in the GET request")),
            }
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asn1::{explicit0, integer, octets, oid, seq, tlv};

    fn id(serial: &[u8]) -> Vec<u8> {
        seq(&[
            &seq(&[&oid(&CertIdHash::Sha1.oid()), &[NULL, 0]]),
            &octets(&[1; 20]),
            &octets(&[2; 20]),
            &tlv(INTEGER, serial),
        ])
    }

    fn request(ids: &[Vec<u8>], extensions: Option<Vec<u8>>) -> Vec<u8> {
        let list: Vec<Vec<u8>> = ids.iter().map(|i| seq(&[i])).collect();
        let refs: Vec<&[u8]> = list.iter().map(Vec::as_slice).collect();
        let mut tbs = vec![seq(&refs)];
        if let Some(e) = extensions {
            tbs.push(tlv(CONTEXT_2, &e));
        }
        let refs: Vec<&[u8]> = tbs.iter().map(Vec::as_slice).collect();
        seq(&[&seq(&refs)])
    }

    fn extension(id: &const_oid::ObjectIdentifier, critical: bool, value: &[u8]) -> Vec<u8> {
        let flag: &[u8] = if critical { &[BOOLEAN, 1, 0xff] } else { &[] };
        seq(&[&oid(id), flag, &octets(value)])
    }

    #[test]
    fn a_minimal_request_reads_with_its_serial_stripped() {
        let req = parse_request(&request(&[id(&[0x00, 0x80, 0x01])], None)).unwrap();
        assert_eq!(req.cert_ids.len(), 1);
        assert_eq!(req.cert_ids[0].serial, [0x80, 0x01]);
        assert_eq!(req.cert_ids[0].der, id(&[0x00, 0x80, 0x01]));
        assert_eq!(req.nonce, None);
    }

    #[test]
    fn negative_and_empty_serials_and_wrong_hash_lengths_are_refused() {
        assert!(parse_request(&request(&[id(&[0x80])], None)).is_err());
        assert!(parse_request(&request(&[id(&[])], None)).is_err());
        let short = seq(&[&seq(&[&oid(&CertIdHash::Sha256.oid())]), &octets(&[1; 20]), &octets(&[2; 20]), &integer(1)]);
        assert!(parse_request(&request(&[short], None)).unwrap_err().0.contains("32"));
        let params = seq(&[
            &seq(&[&oid(&CertIdHash::Sha1.oid()), &integer(0)]),
            &octets(&[1; 20]),
            &octets(&[2; 20]),
            &integer(1),
        ]);
        assert!(parse_request(&request(&[params], None)).is_err());
    }

    #[test]
    fn nonces_are_kept_as_sent_and_bounded() {
        let wrapped = octets(&[7; 16]);
        let exts = seq(&[&extension(&rfc6960::ID_PKIX_OCSP_NONCE, false, &wrapped)]);
        assert_eq!(parse_request(&request(&[id(&[1])], Some(exts))).unwrap().nonce, Some(wrapped));
        for bad in [octets(&[]), octets(&[7; 129]), vec![]] {
            let exts = seq(&[&extension(&rfc6960::ID_PKIX_OCSP_NONCE, false, &bad)]);
            assert!(parse_request(&request(&[id(&[1])], Some(exts))).is_err(), "{bad:02x?}");
        }
        let twice = seq(&[
            &extension(&rfc6960::ID_PKIX_OCSP_NONCE, false, &octets(&[1; 16])),
            &extension(&rfc6960::ID_PKIX_OCSP_NONCE, false, &octets(&[2; 16])),
        ]);
        assert!(parse_request(&request(&[id(&[1])], Some(twice))).unwrap_err().0.contains("twice"));
    }

    #[test]
    fn unknown_extensions_are_ignored_unless_critical() {
        let other: const_oid::ObjectIdentifier = "1.2.3.4".parse().unwrap();
        let quiet = seq(&[&extension(&other, false, &[5, 0])]);
        assert!(parse_request(&request(&[id(&[1])], Some(quiet))).is_ok());
        let loud = seq(&[&extension(&other, true, &[5, 0])]);
        assert!(parse_request(&request(&[id(&[1])], Some(loud))).unwrap_err().0.contains("critical"));
        let acceptable =
            seq(&[&extension(&rfc6960::ID_PKIX_OCSP_RESPONSE, true, &seq(&[&oid(&rfc6960::ID_PKIX_OCSP_BASIC)]))]);
        assert!(parse_request(&request(&[id(&[1])], Some(acceptable))).is_ok());
        assert!(parse_request(&request(&[id(&[1])], Some(seq(&[])))).is_err(), "Extensions may not be empty");
    }

    #[test]
    fn version_requestor_and_signature_are_tolerated() {
        let list = seq(&[&seq(&[&id(&[9])])]);
        let version = explicit0(&integer(0));
        let requestor = tlv(CONTEXT_1, &tlv(0x82, b"client.example"));
        let tbs = seq(&[&version, &requestor, &list]);
        let signature = explicit0(&seq(&[&seq(&[&oid(&CertIdHash::Sha1.oid())]), &[0x03, 0x01, 0x00]]));
        let req = parse_request(&seq(&[&tbs, &signature])).unwrap();
        assert_eq!(req.cert_ids[0].serial, [9]);
        let v2 = seq(&[&seq(&[&explicit0(&integer(1)), &list])]);
        assert!(parse_request(&v2).is_err());
    }

    #[test]
    fn empty_lists_and_ber_lengths_are_refused() {
        assert!(parse_request(&request(&[], None)).is_err());
        let good = request(&[id(&[1])], None);
        let mut ber = vec![0x30, 0x81, u8::try_from(good.len() - 2).unwrap()];
        ber.extend_from_slice(&good[2..]);
        assert!(parse_request(&ber).is_err());
    }

    #[test]
    fn percent_escapes_decode_and_bad_ones_are_refused() {
        assert_eq!(percent_decode(b"a%2Bb%2f%3D").unwrap(), b"a+b/=");
        for bad in [&b"%"[..], b"%2", b"%zz", b"%+1"] {
            assert!(percent_decode(bad).is_err());
        }
        assert!(decode_get("").is_err());
        assert!(decode_get("!!!!").is_err());
        assert!(decode_get(&"A".repeat(MAX_SEGMENT + 1)).is_err());
    }
}
