//! DNS messages on the wire (RFC 1035 §4; AAAA from RFC 3596, CAA from RFC 8659 §4.1): the one-question queries
//! the validator sends, and a defensive parser of the answers. The parser reads only what it needs (header,
//! question echo, answer section), bounds every offset, refuses compression pointers that do not point strictly
//! backwards, and never trusts a count or a length it has not checked against the packet.

use super::caa::CaaRecord;
use std::net::{Ipv4Addr, Ipv6Addr};

/// The longest name on the wire (RFC 1035 §2.3.4), length octets included.
const MAX_NAME_WIRE: usize = 255;
/// The longest label.
const MAX_LABEL: usize = 63;
/// Compression pointers followed in one name, at most (a bound on top of the "strictly backwards" rule).
const MAX_POINTERS: usize = 64;
const CLASS_IN: u16 = 1;
const TYPE_CNAME: u16 = 5;

/// The record types the validator asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RecordType {
    A,
    Aaaa,
    Txt,
    Caa,
}

impl RecordType {
    fn code(self) -> u16 {
        match self {
            RecordType::A => 1,
            RecordType::Txt => 16,
            RecordType::Aaaa => 28,
            RecordType::Caa => 257,
        }
    }
}

/// The data of one answer record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RData {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    Cname(String),
    /// The record's character-strings, concatenated (non-UTF-8 bytes replaced).
    Txt(String),
    Caa(CaaRecord),
    /// A type the validator does not read.
    Other(u16),
}

impl RData {
    /// Whether this is data of type `rtype`.
    pub(crate) fn is(&self, rtype: RecordType) -> bool {
        matches!(
            (self, rtype),
            (RData::A(_), RecordType::A)
                | (RData::Aaaa(_), RecordType::Aaaa)
                | (RData::Txt(_), RecordType::Txt)
                | (RData::Caa(_), RecordType::Caa)
        )
    }
}

/// One answer record: its owner name (lowercase, no trailing dot) and data. Records of another class than IN are
/// dropped while parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record {
    pub name: String,
    pub data: RData,
}

/// The response code values the validator tells apart.
pub(crate) const RCODE_NOERROR: u8 = 0;
pub(crate) const RCODE_NXDOMAIN: u8 = 3;

/// A parsed response to one of our queries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Response {
    /// TC: the answer did not fit (the answer section is then not read; ask again over TCP).
    pub truncated: bool,
    /// RCODE (0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN, 5 REFUSED, …).
    pub rcode: u8,
    /// The answer section.
    pub answers: Vec<Record>,
}

/// Why bytes are not a usable response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WireError {
    /// Not an answer to our query (another id, not a response, another question): a UDP caller keeps waiting.
    NotOurs,
    /// An answer to our query that breaks the format.
    Malformed(String),
}

/// `name` in the form the validator compares names in: ASCII lowercase, without the trailing dot, every label
/// 1–63 letters, digits, hyphens or underscores, at most 253 characters. `None` when it is not such a name.
pub(crate) fn normalize_name(name: &str) -> Option<String> {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() || name.len() > MAX_NAME_WIRE - 2 {
        return None;
    }
    let ok = name.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= MAX_LABEL
            && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    });
    ok.then(|| name.to_ascii_lowercase())
}

/// A recursive query (RD set) for `name` (already normalized) and `rtype`, class IN, with no EDNS.
pub(crate) fn encode_query(id: u16, name: &str, rtype: RecordType) -> Vec<u8> {
    let mut out = Vec::with_capacity(18 + name.len());
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&[0x01, 0x00]); // QR=0, OPCODE=0, RD=1
    out.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]); // QDCOUNT=1, AN/NS/ARCOUNT=0
    for label in name.split('.').filter(|l| !l.is_empty()) {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out.extend_from_slice(&rtype.code().to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    out
}

/// Parses `packet` as the response to query `id` for `name` (normalized) and `rtype`.
pub(crate) fn decode_response(packet: &[u8], id: u16, name: &str, rtype: RecordType) -> Result<Response, WireError> {
    let mut r = Reader { packet, pos: 0 };
    let got_id = r.u16().map_err(|_| WireError::NotOurs)?;
    let flags = r.u16().map_err(|_| WireError::NotOurs)?;
    if got_id != id || flags & 0x8000 == 0 {
        return Err(WireError::NotOurs);
    }
    if (flags >> 11) & 0xF != 0 {
        return Err(WireError::NotOurs); // not a standard query response
    }
    let qdcount = r.u16()?;
    let ancount = r.u16()?;
    let _nscount = r.u16()?;
    let _arcount = r.u16()?;
    let truncated = flags & 0x0200 != 0;
    let rcode = (flags & 0x000F) as u8;

    // The question must be echoed (RFC 1035 §7.3: match the question section, not only the id). Servers may omit
    // it in a FORMERR/SERVFAIL reply; an error code without a question is still ours.
    if qdcount == 0 && rcode != RCODE_NOERROR && rcode != RCODE_NXDOMAIN {
        return Ok(Response { truncated, rcode, answers: Vec::new() });
    }
    if qdcount != 1 {
        return Err(WireError::NotOurs);
    }
    let qname = read_name(packet, &mut r.pos)?;
    let (qtype, qclass) = (r.u16()?, r.u16()?);
    if qname != name || qtype != rtype.code() || qclass != CLASS_IN {
        return Err(WireError::NotOurs);
    }
    if truncated {
        return Ok(Response { truncated, rcode, answers: Vec::new() });
    }

    let mut answers = Vec::new();
    for _ in 0..ancount {
        let owner = read_name(packet, &mut r.pos)?;
        let (rr_type, class) = (r.u16()?, r.u16()?);
        let _ttl = r.u32()?;
        let rdlength = usize::from(r.u16()?);
        let start = r.pos;
        let end = start
            .checked_add(rdlength)
            .filter(|&e| e <= packet.len())
            .ok_or_else(|| malformed("record data runs past the end"))?;
        r.pos = end;
        if class != CLASS_IN {
            continue;
        }
        let data = read_rdata(packet, start, end, rr_type)?;
        answers.push(Record { name: owner, data });
    }
    Ok(Response { truncated, rcode, answers })
}

fn malformed(what: &str) -> WireError {
    WireError::Malformed(what.to_string())
}

fn read_rdata(packet: &[u8], start: usize, end: usize, rr_type: u16) -> Result<RData, WireError> {
    let data = packet.get(start..end).ok_or_else(|| malformed("record data runs past the end"))?;
    Ok(match rr_type {
        1 => {
            let octets: [u8; 4] = data.try_into().map_err(|_| malformed("an A record is not 4 bytes long"))?;
            RData::A(Ipv4Addr::from(octets))
        }
        28 => {
            let octets: [u8; 16] = data.try_into().map_err(|_| malformed("an AAAA record is not 16 bytes long"))?;
            RData::Aaaa(Ipv6Addr::from(octets))
        }
        TYPE_CNAME => {
            let mut pos = start;
            let target = read_name(packet, &mut pos)?;
            if pos != end {
                return Err(malformed("a CNAME target does not fill its record"));
            }
            RData::Cname(target)
        }
        16 => {
            let mut text = Vec::with_capacity(data.len());
            let mut rest = data;
            while let Some((&len, tail)) = rest.split_first() {
                let chunk =
                    tail.get(..usize::from(len)).ok_or_else(|| malformed("a TXT string runs past its record"))?;
                text.extend_from_slice(chunk);
                rest = &tail[chunk.len()..];
            }
            RData::Txt(String::from_utf8_lossy(&text).into_owned())
        }
        257 => {
            let (&flags, rest) = data.split_first().ok_or_else(|| malformed("an empty CAA record"))?;
            let (&tag_len, rest) = rest.split_first().ok_or_else(|| malformed("a CAA record without a tag"))?;
            let tag_len = usize::from(tag_len);
            if tag_len == 0 || tag_len > rest.len() {
                return Err(malformed("a CAA tag length out of range"));
            }
            let (tag, value) = rest.split_at(tag_len);
            RData::Caa(CaaRecord {
                critical: flags & 0x80 != 0,
                tag: String::from_utf8_lossy(tag).into_owned(),
                value: String::from_utf8_lossy(value).into_owned(),
            })
        }
        other => RData::Other(other),
    })
}

/// Reads a possibly compressed name at `*pos`, leaving `*pos` after its in-place part. The name comes back
/// lowercase, without the trailing dot; bytes outside letters, digits, `-` and `_` are written `\DDD`, so they
/// never compare equal to a name we asked for.
fn read_name(packet: &[u8], pos: &mut usize) -> Result<String, WireError> {
    let mut name = String::new();
    let mut wire_len = 1; // the root label
    let mut cursor = *pos;
    let mut jumped = false;
    let mut pointers = 0;
    let mut limit = *pos; // every pointer must point before the previous jump target (or the start)
    loop {
        let len = *packet.get(cursor).ok_or_else(|| malformed("a name runs past the end"))?;
        match len & 0xC0 {
            0x00 if len == 0 => {
                if !jumped {
                    *pos = cursor + 1;
                }
                return Ok(name);
            }
            0x00 => {
                let len = usize::from(len);
                let label =
                    packet.get(cursor + 1..cursor + 1 + len).ok_or_else(|| malformed("a label runs past the end"))?;
                wire_len += len + 1;
                if wire_len > MAX_NAME_WIRE {
                    return Err(malformed("a name longer than 255 bytes"));
                }
                if !name.is_empty() {
                    name.push('.');
                }
                for &b in label {
                    if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
                        name.push(char::from(b.to_ascii_lowercase()));
                    } else {
                        name.push_str(&format!("\\{b:03}"));
                    }
                }
                cursor += 1 + len;
            }
            0xC0 => {
                let low =
                    *packet.get(cursor + 1).ok_or_else(|| malformed("a compression pointer runs past the end"))?;
                let target = (usize::from(len & 0x3F) << 8) | usize::from(low);
                pointers += 1;
                if target >= limit || pointers > MAX_POINTERS {
                    return Err(malformed("a compression pointer that does not point backwards"));
                }
                if !jumped {
                    *pos = cursor + 2;
                    jumped = true;
                }
                limit = target;
                cursor = target;
            }
            _ => return Err(malformed("an unknown label type")),
        }
    }
}

struct Reader<'a> {
    packet: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let bytes = self
            .packet
            .get(self.pos..self.pos + N)
            .and_then(|s| <[u8; N]>::try_from(s).ok())
            .ok_or_else(|| malformed("the message ends early"))?;
        self.pos += N;
        Ok(bytes)
    }

    fn u16(&mut self) -> Result<u16, WireError> {
        self.take::<2>().map(u16::from_be_bytes)
    }

    fn u32(&mut self) -> Result<u32, WireError> {
        self.take::<4>().map(u32::from_be_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A response builder for tests: header, echoed question, then raw answer records.
    fn response(id: u16, flags: u16, name: &str, rtype: RecordType, answers: &[Vec<u8>]) -> Vec<u8> {
        let query = encode_query(id, name, rtype);
        let mut out = query.clone();
        out[2..4].copy_from_slice(&flags.to_be_bytes());
        out[6..8].copy_from_slice(&(answers.len() as u16).to_be_bytes());
        for a in answers {
            out.extend_from_slice(a);
        }
        out
    }

    /// An answer record owned by a pointer to the question name (offset 12).
    fn rr(rr_type: u16, rdata: &[u8]) -> Vec<u8> {
        let mut out = vec![0xC0, 12];
        out.extend_from_slice(&rr_type.to_be_bytes());
        out.extend_from_slice(&CLASS_IN.to_be_bytes());
        out.extend_from_slice(&300u32.to_be_bytes());
        out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        out.extend_from_slice(rdata);
        out
    }

    fn wire_name(name: &str) -> Vec<u8> {
        let mut out = Vec::new();
        for l in name.split('.') {
            out.push(l.len() as u8);
            out.extend_from_slice(l.as_bytes());
        }
        out.push(0);
        out
    }

    const OK: u16 = 0x8180; // QR, RD, RA, NOERROR

    #[test]
    fn query_is_a_recursive_one_question_message() {
        let q = encode_query(0xBEEF, "_acme-challenge.example.test", RecordType::Txt);
        assert_eq!(&q[..12], &[0xBE, 0xEF, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&q[12..q.len() - 4], wire_name("_acme-challenge.example.test").as_slice());
        assert_eq!(&q[q.len() - 4..], &[0, 16, 0, 1]);
    }

    #[test]
    fn names_are_normalized_and_checked() {
        assert_eq!(normalize_name("WWW.Example.TEST.").as_deref(), Some("www.example.test"));
        assert_eq!(normalize_name("_acme-challenge.a.b").as_deref(), Some("_acme-challenge.a.b"));
        for bad in ["", ".", "a..b", "a b.test", "ex\\ample.test", "é.test", &"a".repeat(64), &"a.".repeat(128)] {
            assert_eq!(normalize_name(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn answers_of_each_type_are_read() {
        let caa = [&[0x80u8, 5][..], b"issue", b"ca.example; accounturi=https://x/1"].concat();
        let txt = [&[3u8][..], b"abc", &[2], b"de"].concat();
        let packet = response(
            7,
            OK,
            "example.test",
            RecordType::Caa,
            &[
                rr(1, &[192, 0, 2, 1]),
                rr(28, &Ipv6Addr::LOCALHOST.octets()),
                rr(16, &txt),
                rr(257, &caa),
                rr(5, &[0xC0, 12]),
                rr(99, b"whatever"),
            ],
        );
        let r = decode_response(&packet, 7, "example.test", RecordType::Caa).unwrap();
        assert!(!r.truncated);
        assert_eq!(r.rcode, RCODE_NOERROR);
        let data: Vec<_> = r.answers.iter().map(|a| a.data.clone()).collect();
        assert_eq!(
            data,
            vec![
                RData::A(Ipv4Addr::new(192, 0, 2, 1)),
                RData::Aaaa(Ipv6Addr::LOCALHOST),
                RData::Txt("abcde".into()),
                RData::Caa(CaaRecord {
                    critical: true,
                    tag: "issue".into(),
                    value: "ca.example; accounturi=https://x/1".into()
                }),
                RData::Cname("example.test".into()),
                RData::Other(99),
            ]
        );
        assert!(r.answers.iter().all(|a| a.name == "example.test"));
    }

    #[test]
    fn owner_names_are_compared_case_insensitively_and_odd_bytes_escaped() {
        let mut owner = wire_name("WWW.Example.test");
        owner.extend_from_slice(&[0, 1, 0, 1, 0, 0, 0, 0, 0, 4, 127, 0, 0, 1]);
        let mut odd = vec![3, b'a', b'.', b' ', 0];
        odd.extend_from_slice(&[0, 1, 0, 1, 0, 0, 0, 0, 0, 4, 127, 0, 0, 2]);
        let packet = response(1, OK, "example.test", RecordType::A, &[owner, odd]);
        let r = decode_response(&packet, 1, "example.test", RecordType::A).unwrap();
        assert_eq!(r.answers[0].name, "www.example.test");
        assert_eq!(r.answers[1].name, "a\\046\\032");
    }

    #[test]
    fn answers_to_someone_else_are_not_ours() {
        let packet = response(9, OK, "example.test", RecordType::A, &[rr(1, &[1, 2, 3, 4])]);
        let not_ours = |p: &[u8], id, name, t| decode_response(p, id, name, t) == Err(WireError::NotOurs);
        assert!(not_ours(&packet, 10, "example.test", RecordType::A), "another id");
        assert!(not_ours(&packet, 9, "other.test", RecordType::A), "another name");
        assert!(not_ours(&packet, 9, "example.test", RecordType::Aaaa), "another type");
        let mut query = packet.clone();
        query[2] &= 0x7F;
        assert!(not_ours(&query, 9, "example.test", RecordType::A), "a query, not a response");
        assert!(not_ours(&packet[..1], 9, "example.test", RecordType::A), "not even an id");
        let short = decode_response(&packet[..5], 9, "example.test", RecordType::A);
        assert!(matches!(short, Err(WireError::Malformed(_))), "ours, but shorter than a header: {short:?}");
    }

    #[test]
    fn rcodes_and_truncation_are_reported() {
        let nx = response(3, 0x8183, "gone.test", RecordType::Caa, &[]);
        assert_eq!(decode_response(&nx, 3, "gone.test", RecordType::Caa).unwrap().rcode, RCODE_NXDOMAIN);
        let mut servfail = encode_query(4, "x.test", RecordType::Caa)[..12].to_vec();
        servfail[2..4].copy_from_slice(&0x8182u16.to_be_bytes());
        servfail[4..6].copy_from_slice(&[0, 0]);
        assert_eq!(decode_response(&servfail, 4, "x.test", RecordType::Caa).unwrap().rcode, 2);
        let mut tc = response(5, OK | 0x0200, "big.test", RecordType::Txt, &[]);
        tc[6..8].copy_from_slice(&[0, 9]); // claims 9 answers it does not carry: not read when truncated
        let r = decode_response(&tc, 5, "big.test", RecordType::Txt).unwrap();
        assert!(r.truncated);
        assert!(r.answers.is_empty());
    }

    #[test]
    fn hostile_packets_are_refused_without_panicking() {
        let name = "example.test";
        let malformed = |p: &[u8]| match decode_response(p, 1, name, RecordType::Txt) {
            Err(WireError::Malformed(m)) => m,
            other => panic!("expected malformed, got {other:?}"),
        };
        // A pointer to itself, and two pointers to each other.
        let mut self_loop = response(1, OK, name, RecordType::Txt, &[]);
        let at = self_loop.len() as u8;
        self_loop[7] = 1;
        self_loop.extend_from_slice(&[0xC0, at]);
        assert!(malformed(&self_loop).contains("backwards"));
        let mut forward = response(1, OK, name, RecordType::Txt, &[]);
        let at = forward.len() as u8;
        forward[7] = 1;
        forward.extend_from_slice(&[0xC0, at + 2, 0xC0, at]);
        assert!(malformed(&forward).contains("backwards"));
        // A label, then a pointer back into the same name: reading would loop.
        let mut inner = response(1, OK, name, RecordType::Txt, &[]);
        let at = inner.len() as u8;
        inner[7] = 1;
        inner.extend_from_slice(&[1, b'a', 0xC0, at]);
        assert!(malformed(&inner).contains("backwards"));
        // Record data longer than the packet, a TXT string longer than its record, an A of 5 bytes.
        let mut long = response(1, OK, name, RecordType::Txt, &[rr(16, &[3, b'a', b'b', b'c'])]);
        let n = long.len();
        long[n - 5] = 200;
        assert!(malformed(&long).contains("past the end"));
        let txt = response(1, OK, name, RecordType::Txt, &[rr(16, &[9, b'a'])]);
        assert!(malformed(&txt).contains("TXT"));
        let a = response(1, OK, name, RecordType::Txt, &[rr(1, &[1, 2, 3, 4, 5])]);
        assert!(malformed(&a).contains("4 bytes"));
        let caa = response(1, OK, name, RecordType::Txt, &[rr(257, &[0, 9, b'x'])]);
        assert!(malformed(&caa).contains("CAA"));
        let caa = response(1, OK, name, RecordType::Txt, &[rr(257, &[0, 0])]);
        assert!(malformed(&caa).contains("CAA"));
        // More answers announced than present; an extended label type; a name of 300 bytes.
        let mut short = response(1, OK, name, RecordType::Txt, &[rr(16, &[1, b'a'])]);
        short[7] = 2;
        assert!(malformed(&short).contains("end"));
        let mut ext = response(1, OK, name, RecordType::Txt, &[]);
        ext[7] = 1;
        ext.push(0x41);
        assert!(malformed(&ext).contains("label type"));
        let mut huge = response(1, OK, name, RecordType::Txt, &[]);
        huge[7] = 1;
        for _ in 0..5 {
            huge.push(60);
            huge.extend_from_slice(&[b'a'; 60]);
        }
        huge.push(0);
        assert!(malformed(&huge).contains("255"));
    }

    #[test]
    fn every_truncation_and_corruption_of_a_valid_packet_is_handled() {
        let caa = [&[0u8, 5][..], b"issue", b"ca.example"].concat();
        let packet = response(
            2,
            OK,
            "a.example.test",
            RecordType::Caa,
            &[rr(5, &[1, b'b', 0xC0, 14]), rr(257, &caa), rr(16, &[2, b'h', b'i'])],
        );
        assert!(decode_response(&packet, 2, "a.example.test", RecordType::Caa).is_ok());
        for cut in 0..packet.len() {
            assert!(decode_response(&packet[..cut], 2, "a.example.test", RecordType::Caa).is_err(), "cut at {cut}");
        }
        // Every single-byte corruption with a few values: parse or refuse, never panic.
        for i in 0..packet.len() {
            for v in [0u8, 1, 0x3F, 0x40, 0x7F, 0xC0, 0xFF] {
                let mut p = packet.clone();
                p[i] = v;
                let _ = decode_response(&p, 2, "a.example.test", RecordType::Caa);
            }
        }
    }
}
