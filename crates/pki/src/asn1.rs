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
pub(crate) const UTC_TIME: u8 = 0x17;
pub(crate) const GENERALIZED_TIME: u8 = 0x18;
pub(crate) const BMP_STRING: u8 = 0x1e;
pub(crate) const SEQUENCE: u8 = 0x30;
pub(crate) const SET: u8 = 0x31;
/// `[0]` constructed (EXPLICIT, or IMPLICIT over a constructed type).
pub(crate) const CONTEXT_0: u8 = 0xa0;
/// The longest header [`header`] writes: tag, length-of-length, and a `usize` length.
pub(crate) const MAX_HEADER: usize = 2 + std::mem::size_of::<usize>();

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

    /// A UTCTime or GeneralizedTime in the form RFC 5280 §4.1.2.5 allows (UTC, whole seconds, `Z`) as epoch
    /// seconds. UTCTime years 50–99 are 1950–1999.
    pub fn time(&self) -> Result<i64, Malformed> {
        let bad = Malformed("UTCTime or GeneralizedTime of the form YYMMDDHHMMSSZ or YYYYMMDDHHMMSSZ expected");
        let (year, rest) = match self.tag {
            UTC_TIME if self.content.len() == 13 => {
                let (&[a, b], rest) = self.content.split_first_chunk::<2>().ok_or(bad)?;
                let yy = i64::from(two_digits(a, b).ok_or(bad)?);
                (if yy < 50 { 2000 + yy } else { 1900 + yy }, rest)
            }
            GENERALIZED_TIME if self.content.len() == 15 => {
                let (&[a, b, c, d], rest) = self.content.split_first_chunk::<4>().ok_or(bad)?;
                let century = i64::from(two_digits(a, b).ok_or(bad)?);
                (century * 100 + i64::from(two_digits(c, d).ok_or(bad)?), rest)
            }
            _ => return Err(bad),
        };
        let [m0, m1, d0, d1, h0, h1, i0, i1, s0, s1, b'Z'] = *<&[u8; 11]>::try_from(rest).map_err(|_| bad)? else {
            return Err(bad);
        };
        let field = |a, b| two_digits(a, b).ok_or(bad);
        let civil = Civil {
            year,
            month: field(m0, m1)?,
            day: field(d0, d1)?,
            hour: field(h0, h1)?,
            minute: field(i0, i1)?,
            second: field(s0, s1)?,
        };
        let valid = (1..=12).contains(&civil.month)
            && (1..=days_in_month(year, civil.month)).contains(&civil.day)
            && civil.hour < 24
            && civil.minute < 60
            && civil.second < 60;
        if valid {
            Ok(civil.to_unix())
        } else {
            Err(Malformed("a time field is out of range"))
        }
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
    unsigned(v.into())
}

/// A non-negative INTEGER.
pub(crate) fn unsigned(v: u64) -> Vec<u8> {
    let bytes = v.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count().min(7);
    let mut body = bytes[skip..].to_vec();
    if body.first().is_some_and(|b| b & 0x80 != 0) {
        body.insert(0, 0);
    }
    tlv(INTEGER, &body)
}

pub(crate) fn null() -> Vec<u8> {
    vec![NULL, 0x00]
}

/// A moment in UTC split into calendar fields, for writing and reading ASN.1 times without a date library.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Civil {
    pub year: i64,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
}

impl Civil {
    /// Epoch seconds as calendar fields (proleptic Gregorian), or `None` outside the years 0000–9999 that ASN.1
    /// times can carry.
    pub fn from_unix(secs: i64) -> Option<Self> {
        // H. Hinnant, "chrono-Compatible Low-Level Date Algorithms": civil_from_days.
        let days = secs.div_euclid(86_400);
        let of_day = secs.rem_euclid(86_400);
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        if !(0..=9999).contains(&year) {
            return None;
        }
        Some(Self {
            year,
            month: month as u8,
            day: day as u8,
            hour: (of_day / 3600) as u8,
            minute: (of_day / 60 % 60) as u8,
            second: (of_day % 60) as u8,
        })
    }

    /// Back to epoch seconds (days_from_civil).
    pub fn to_unix(self) -> i64 {
        let month = i64::from(self.month);
        let y = self.year - i64::from(month <= 2);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let doy = (153 * ((month + 9) % 12) + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        days * 86_400 + i64::from(self.hour) * 3600 + i64::from(self.minute) * 60 + i64::from(self.second)
    }

    /// Whether RFC 5280 writes this moment as a UTCTime (years 1950–2049) rather than a GeneralizedTime.
    pub fn is_utc_time(&self) -> bool {
        (1950..2050).contains(&self.year)
    }
}

/// The two ASCII digits of `n` (below 100).
fn digits(n: u8) -> [u8; 2] {
    [b'0' + n / 10, b'0' + n % 10]
}

fn two_digits(a: u8, b: u8) -> Option<u8> {
    (a.is_ascii_digit() && b.is_ascii_digit()).then(|| (a - b'0') * 10 + (b - b'0'))
}

fn days_in_month(year: i64, month: u8) -> u8 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Appends `t` as RFC 5280 writes validity and CRL times: UTCTime for 1950–2049, GeneralizedTime otherwise.
pub(crate) fn put_time(out: &mut Vec<u8>, t: &Civil) {
    if t.is_utc_time() {
        let [y2, y3] = digits((t.year % 100) as u8);
        let ([mo0, mo1], [d0, d1]) = (digits(t.month), digits(t.day));
        let ([h0, h1], [i0, i1], [s0, s1]) = (digits(t.hour), digits(t.minute), digits(t.second));
        out.extend_from_slice(&[UTC_TIME, 13, y2, y3, mo0, mo1, d0, d1, h0, h1, i0, i1, s0, s1, b'Z']);
    } else {
        put_generalized_time(out, t);
    }
}

/// Appends `t` as a GeneralizedTime (`YYYYMMDDHHMMSSZ`).
pub(crate) fn put_generalized_time(out: &mut Vec<u8>, t: &Civil) {
    let ([y0, y1], [y2, y3]) = (digits((t.year / 100) as u8), digits((t.year % 100) as u8));
    let ([mo0, mo1], [d0, d1]) = (digits(t.month), digits(t.day));
    let ([h0, h1], [i0, i1], [s0, s1]) = (digits(t.hour), digits(t.minute), digits(t.second));
    out.extend_from_slice(&[GENERALIZED_TIME, 15, y0, y1, y2, y3, mo0, mo1, d0, d1, h0, h1, i0, i1, s0, s1, b'Z']);
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

    fn written(secs: i64, generalized: bool) -> Vec<u8> {
        let t = Civil::from_unix(secs).unwrap();
        let mut out = Vec::new();
        if generalized {
            put_generalized_time(&mut out, &t);
        } else {
            put_time(&mut out, &t);
        }
        out
    }

    #[test]
    fn times_are_written_as_der_writes_them_and_read_back() {
        use der::asn1::{GeneralizedTime, UtcTime};
        use der::{DateTime, Encode};
        let mut secs: i64 = 0;
        // Every few days from 1970 to 9999, with varying times of day, leap days and the 2049/2050 boundary.
        let mut samples: Vec<i64> = vec![951_782_400, 2_524_607_999, 2_524_608_000, 253_402_300_799];
        while secs < 253_402_300_799 {
            samples.push(secs);
            secs += 86_400 * 97 + 3_671;
        }
        for secs in samples {
            let dt = DateTime::from_unix_duration(std::time::Duration::from_secs(secs as u64)).unwrap();
            let expected = if dt.year() < 2050 {
                UtcTime::from_date_time(dt).unwrap().to_der().unwrap()
            } else {
                GeneralizedTime::from_date_time(dt).to_der().unwrap()
            };
            let ours = written(secs, false);
            assert_eq!(ours, expected, "{secs}");
            assert_eq!(written(secs, true), GeneralizedTime::from_date_time(dt).to_der().unwrap(), "{secs}");
            let tag = ours[0];
            assert_eq!(Tlv::parse(&ours, tag, "time").unwrap().time().unwrap(), secs);
        }
    }

    #[test]
    fn times_before_1970_and_outside_four_digit_years() {
        // 1950-01-01 is the first UTCTime; 1949-12-31T23:59:59 is a GeneralizedTime.
        assert_eq!(written(-631_152_000, false), b"\x17\x0d500101000000Z");
        assert_eq!(written(-631_152_001, false), b"\x18\x0f19491231235959Z");
        for secs in [-631_152_000, -631_152_001, -1, -62_167_219_200] {
            let der = written(secs, false);
            assert_eq!(Tlv::parse(&der, der[0], "time").unwrap().time().unwrap(), secs);
        }
        assert!(Civil::from_unix(-62_167_219_201).is_none(), "before year 0");
        assert!(Civil::from_unix(253_402_300_800).is_none(), "year 10000");
        for bad in
            [&b"\x17\x0d491301000000Z"[..], b"\x17\x0d490230000000Z", b"\x17\x0d4901010000001", b"\x17\x0b4901010000Z"]
        {
            assert!(Tlv::parse(bad, UTC_TIME, "time").unwrap().time().is_err(), "{bad:?}");
        }
        assert!(Tlv::parse(b"\x18\x0f20240229120000Z", GENERALIZED_TIME, "t").unwrap().time().is_ok());
        assert!(Tlv::parse(b"\x18\x0f21000229120000Z", GENERALIZED_TIME, "t").unwrap().time().is_err());
        assert_eq!(unsigned(u64::MAX), [&[INTEGER, 9, 0][..], &[0xff; 8]].concat());
        assert_eq!(unsigned(0), [INTEGER, 1, 0]);
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
