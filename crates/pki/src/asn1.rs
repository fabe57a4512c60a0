//! The hand-built container formats' ASN.1: a bounded BER reader (PKCS#12 and PKCS#8 files from Windows, Java
//! and NSS use indefinite lengths and constructed OCTET STRINGs) with a strict DER mode for protocols that echo
//! what they read (OCSP), and a DER TLV writer.

use const_oid::ObjectIdentifier as Oid;
use std::borrow::Cow;

pub(crate) const BOOLEAN: u8 = 0x01;
pub(crate) const INTEGER: u8 = 0x02;
pub(crate) const BIT_STRING: u8 = 0x03;
pub(crate) const OCTET_STRING: u8 = 0x04;
pub(crate) const NULL: u8 = 0x05;
pub(crate) const OID: u8 = 0x06;
pub(crate) const ENUMERATED: u8 = 0x0a;
pub(crate) const GENERALIZED_TIME: u8 = 0x18;
pub(crate) const BMP_STRING: u8 = 0x1e;
pub(crate) const SEQUENCE: u8 = 0x30;
pub(crate) const SET: u8 = 0x31;
/// `[0]` constructed (EXPLICIT, or IMPLICIT over a constructed type).
pub(crate) const CONTEXT_0: u8 = 0xa0;

/// Nesting beyond this is refused: no format read here comes close, and it bounds the reader's recursion.
const MAX_DEPTH: usize = 24;

/// Why input could not be read as BER.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Malformed(pub &'static str);

/// One element: its tag, its contents (for an indefinite length, without the end-of-contents octets) and its
/// whole encoding.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tlv<'a> {
    pub tag: u8,
    pub content: &'a [u8],
    pub raw: &'a [u8],
    depth: usize,
    der: bool,
}

/// Reads the elements of a constructed value (or of a whole input) one after another.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
    depth: usize,
    /// DER only: definite lengths in their shortest form.
    der: bool,
}

/// Reads one element at the start of `input`, returning it and the number of octets it takes.
fn read_tlv(input: &[u8], depth: usize, der: bool) -> Result<(Tlv<'_>, usize), Malformed> {
    if depth > MAX_DEPTH {
        return Err(Malformed("nested too deeply"));
    }
    let tag = *input.first().ok_or(Malformed("truncated: element expected"))?;
    if tag & 0x1f == 0x1f {
        return Err(Malformed("high tag numbers are not used by this format"));
    }
    let first = *input.get(1).ok_or(Malformed("truncated: length expected"))?;
    if first == 0x80 {
        if der {
            return Err(Malformed("indefinite length (DER expected)"));
        }
        if tag & 0x20 == 0 {
            return Err(Malformed("indefinite length on a primitive element"));
        }
        let mut pos = 2;
        loop {
            let rest = input.get(pos..).ok_or(Malformed("truncated: end of contents expected"))?;
            if rest.starts_with(&[0, 0]) {
                let content = input.get(2..pos).ok_or(Malformed("truncated"))?;
                let raw = input.get(..pos + 2).ok_or(Malformed("truncated"))?;
                return Ok((Tlv { tag, content, raw, depth, der }, pos + 2));
            }
            let (_, used) = read_tlv(rest, depth + 1, der)?;
            pos += used;
        }
    }
    let (header, len) = if first < 0x80 {
        (2, usize::from(first))
    } else {
        let n = usize::from(first & 0x7f);
        if n > 4 {
            return Err(Malformed("length too large"));
        }
        let bytes = input.get(2..2 + n).ok_or(Malformed("truncated: length expected"))?;
        let len = bytes.iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        if der && (len < 0x80 || bytes.first() == Some(&0)) {
            return Err(Malformed("length not in its shortest form (DER expected)"));
        }
        (2 + n, len)
    };
    let end = header.checked_add(len).ok_or(Malformed("length too large"))?;
    let content = input.get(header..end).ok_or(Malformed("truncated: contents shorter than their length"))?;
    Ok((Tlv { tag, content, raw: input.get(..end).unwrap_or_default(), depth, der }, end))
}

impl<'a> Reader<'a> {
    /// A reader over a whole input (a sequence of elements).
    pub fn new(input: &'a [u8]) -> Self {
        Self { rest: input, depth: 0, der: false }
    }

    /// A reader over a whole input that accepts DER lengths only (definite, shortest form), here and in every
    /// element read through it.
    pub fn der(input: &'a [u8]) -> Self {
        Self { rest: input, depth: 0, der: true }
    }

    /// Whether every element has been read.
    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The tag of the next element, if any.
    pub fn peek_tag(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    /// The next element, whatever its tag.
    pub fn any(&mut self) -> Result<Tlv<'a>, Malformed> {
        let (tlv, used) = read_tlv(self.rest, self.depth, self.der)?;
        self.rest = self.rest.get(used..).unwrap_or_default();
        Ok(tlv)
    }

    /// The next element, which must carry `tag`.
    pub fn next(&mut self, tag: u8, what: &'static str) -> Result<Tlv<'a>, Malformed> {
        if self.peek_tag() != Some(tag) {
            return Err(Malformed(what));
        }
        self.any()
    }

    /// Checks that every element has been read.
    pub fn finish(&self) -> Result<(), Malformed> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(Malformed("unexpected data after the last field"))
        }
    }

    /// The next element when it carries `tag`; nothing is consumed otherwise.
    pub fn optional(&mut self, tag: u8) -> Result<Option<Tlv<'a>>, Malformed> {
        if self.peek_tag() == Some(tag) {
            self.any().map(Some)
        } else {
            Ok(None)
        }
    }
}

impl<'a> Tlv<'a> {
    /// The one element of a whole input (trailing octets are refused).
    pub fn parse(input: &'a [u8], tag: u8, what: &'static str) -> Result<Self, Malformed> {
        let mut r = Reader::new(input);
        let tlv = r.next(tag, what)?;
        r.finish()?;
        Ok(tlv)
    }

    /// The one element of a whole input in DER lengths (see [`Reader::der`]); trailing octets are refused.
    pub fn parse_der(input: &'a [u8], tag: u8, what: &'static str) -> Result<Self, Malformed> {
        let mut r = Reader::der(input);
        let tlv = r.next(tag, what)?;
        r.finish()?;
        Ok(tlv)
    }

    /// The elements inside a constructed value.
    pub fn reader(&self) -> Reader<'a> {
        Reader { rest: self.content, depth: self.depth + 1, der: self.der }
    }

    /// The octets of an OCTET STRING, however tagged: primitive contents as they are, constructed ones joined.
    pub fn octets(&self) -> Result<Cow<'a, [u8]>, Malformed> {
        if self.tag & 0x20 == 0 {
            return Ok(Cow::Borrowed(self.content));
        }
        let mut out = Vec::with_capacity(self.content.len());
        let mut r = self.reader();
        while !r.is_empty() {
            let part = r.any()?;
            if part.tag & 0xdf != OCTET_STRING {
                return Err(Malformed("a constructed OCTET STRING holds something else"));
            }
            out.extend_from_slice(&part.octets()?);
        }
        Ok(Cow::Owned(out))
    }

    /// The value of a non-negative INTEGER that fits in 64 bits.
    pub fn uint(&self) -> Result<u64, Malformed> {
        let first = match self.content.first() {
            Some(b) if self.tag == INTEGER => *b,
            _ => return Err(Malformed("INTEGER expected")),
        };
        if first & 0x80 != 0 {
            return Err(Malformed("negative INTEGER"));
        }
        let digits = match self.content {
            [0, rest @ ..] => rest,
            all => all,
        };
        if digits.len() > 8 {
            return Err(Malformed("INTEGER too large"));
        }
        Ok(digits.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
    }

    /// Whether this is the OBJECT IDENTIFIER `oid`.
    pub fn is_oid(&self, oid: &Oid) -> bool {
        self.tag == OID && self.content == oid.as_bytes()
    }

    /// This OBJECT IDENTIFIER in dotted form, for messages.
    pub fn oid_string(&self) -> String {
        Oid::from_bytes(self.content).map_or_else(|_| "(malformed OID)".to_owned(), |o| o.to_string())
    }

    /// A BMPString as text.
    pub fn bmp_string(&self) -> Result<String, Malformed> {
        if self.tag != BMP_STRING || !self.content.len().is_multiple_of(2) {
            return Err(Malformed("BMPString expected"));
        }
        let units = self.content.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]]));
        Ok(char::decode_utf16(units).map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER)).collect())
    }
}

/// An AlgorithmIdentifier: its OID element and its parameters, if any.
pub(crate) fn algorithm<'a>(tlv: &Tlv<'a>) -> Result<(Tlv<'a>, Option<Tlv<'a>>), Malformed> {
    if tlv.tag != SEQUENCE {
        return Err(Malformed("AlgorithmIdentifier expected"));
    }
    let mut r = tlv.reader();
    let oid = r.next(OID, "algorithm OID expected")?;
    let params = if r.is_empty() { None } else { Some(r.any()?) };
    Ok((oid, params))
}

/// The tag and definite length (shortest form) of a DER element whose contents are `len` octets.
pub(crate) fn header(tag: u8, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(10);
    out.push(tag);
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out
}

/// One DER TLV with a definite length in its shortest form.
pub(crate) fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = header(tag, content.len());
    out.extend_from_slice(content);
    out
}

pub(crate) fn seq(parts: &[&[u8]]) -> Vec<u8> {
    tlv(SEQUENCE, &parts.concat())
}

pub(crate) fn set(parts: &[&[u8]]) -> Vec<u8> {
    tlv(SET, &parts.concat())
}

pub(crate) fn oid(oid: &Oid) -> Vec<u8> {
    tlv(OID, oid.as_bytes())
}

pub(crate) fn octets(bytes: &[u8]) -> Vec<u8> {
    tlv(OCTET_STRING, bytes)
}

pub(crate) fn explicit0(content: &[u8]) -> Vec<u8> {
    tlv(CONTEXT_0, content)
}

pub(crate) fn integer(v: u32) -> Vec<u8> {
    let bytes = v.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count().min(3);
    let mut body = bytes[skip..].to_vec();
    if body.first().is_some_and(|b| b & 0x80 != 0) {
        body.insert(0, 0);
    }
    tlv(INTEGER, &body)
}

pub(crate) fn null() -> Vec<u8> {
    vec![NULL, 0x00]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_and_lengths_encode_minimally() {
        assert_eq!(integer(3), vec![0x02, 0x01, 0x03]);
        assert_eq!(integer(2048), vec![0x02, 0x02, 0x08, 0x00]);
        assert_eq!(integer(128), vec![0x02, 0x02, 0x00, 0x80]);
        assert_eq!(tlv(0x04, &[0; 300])[..4], [0x04, 0x82, 0x01, 0x2c]);
    }

    #[test]
    fn what_is_written_reads_back() {
        let der = seq(&[&integer(70_000), &octets(&[7; 200]), &set(&[&null()])]);
        let outer = Tlv::parse(&der, SEQUENCE, "seq").unwrap();
        let mut r = outer.reader();
        assert_eq!(r.next(INTEGER, "int").unwrap().uint().unwrap(), 70_000);
        assert_eq!(&*r.next(OCTET_STRING, "octets").unwrap().octets().unwrap(), &[7; 200][..]);
        assert_eq!(r.next(SET, "set").unwrap().reader().any().unwrap().tag, NULL);
        assert!(r.is_empty());
    }

    #[test]
    fn indefinite_lengths_and_constructed_octet_strings_are_read() {
        // SEQUENCE (indefinite) { OCTET STRING (constructed, indefinite) { "ab", "c" }, INTEGER 5 }
        let ber = [
            0x30, 0x80, 0x24, 0x80, 0x04, 0x02, b'a', b'b', 0x04, 0x01, b'c', 0x00, 0x00, 0x02, 0x01, 0x05, 0x00, 0x00,
        ];
        let outer = Tlv::parse(&ber, SEQUENCE, "seq").unwrap();
        let mut r = outer.reader();
        assert_eq!(&*r.any().unwrap().octets().unwrap(), b"abc");
        assert_eq!(r.any().unwrap().uint().unwrap(), 5);
        assert!(r.is_empty());
    }

    #[test]
    fn hostile_input_is_refused_without_panicking() {
        let mut deep = Vec::new();
        for _ in 0..100 {
            deep.extend_from_slice(&[0x30, 0x80]);
        }
        deep.extend(std::iter::repeat_n(0u8, 200));
        let cases: Vec<Vec<u8>> = vec![
            vec![],
            vec![0x30],
            vec![0x30, 0x85, 1, 2, 3, 4, 5],
            vec![0x30, 0x84, 0xff, 0xff, 0xff, 0xff],
            vec![0x30, 0x80, 0x02, 0x01],
            vec![0x04, 0x80, 0x00, 0x00],
            vec![0x1f, 0x81, 0x01, 0x00],
            vec![0x30, 0x03, 0x02, 0x01, 0x05, 0xff],
            deep,
        ];
        for case in cases {
            assert!(Tlv::parse(&case, SEQUENCE, "seq").is_err(), "{case:02x?}");
        }
        for int in [&[0x02, 0x01, 0x80][..], &[0x02, 0x00], &[0x02, 0x0a, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]] {
            assert!(Tlv::parse(int, INTEGER, "int").unwrap().uint().is_err());
        }
    }

    #[test]
    fn der_mode_refuses_indefinite_and_long_form_lengths_inside_too() {
        let short = seq(&[&octets(&[1; 3])]);
        assert!(Tlv::parse_der(&short, SEQUENCE, "seq").is_ok());
        let long = seq(&[&octets(&[1; 200])]);
        assert!(Tlv::parse_der(&long, SEQUENCE, "seq").is_ok());
        // 0x81 0x03: a length that fits in one octet written in two.
        let padded = [0x30, 0x81, 0x03, 0x02, 0x01, 0x05];
        assert!(Tlv::parse(&padded, SEQUENCE, "seq").is_ok());
        assert!(Tlv::parse_der(&padded, SEQUENCE, "seq").is_err());
        let zero_led = [0x30, 0x82, 0x00, 0x03, 0x02, 0x01, 0x05];
        assert!(Tlv::parse_der(&zero_led, SEQUENCE, "seq").is_err());
        let indefinite = [0x30, 0x80, 0x02, 0x01, 0x05, 0x00, 0x00];
        assert!(Tlv::parse(&indefinite, SEQUENCE, "seq").is_ok());
        assert!(Tlv::parse_der(&indefinite, SEQUENCE, "seq").is_err());
        // The mode is inherited by readers of the contents.
        let nested = [0x30, 0x06, 0x30, 0x81, 0x03, 0x02, 0x01, 0x05];
        assert!(Tlv::parse(&nested, SEQUENCE, "seq").unwrap().reader().any().is_ok());
        assert!(Tlv::parse_der(&nested, SEQUENCE, "seq").unwrap().reader().any().is_err());
    }
}
