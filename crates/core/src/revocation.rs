//! Revocation records, the compact entries CRLs are built from, and the CRLs and OCSP responders kept for each
//! authority.

use crate::clock::EpochSeconds;
use crate::CoreError;
pub use certwright_pki::revocation::RevocationReason;

/// One revoked serial of an authority (a certificate of the inventory or a subordinate authority).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    pub id: i64,
    /// The issuer whose CRLs and OCSP answers list it.
    pub authority_id: i64,
    /// Lower-case hex, as in the inventory.
    pub serial: String,
    pub certificate_id: Option<i64>,
    pub subject_authority_id: Option<i64>,
    /// The CRL partition named in the certificate's distribution point.
    pub partition: u32,
    pub not_after: EpochSeconds,
    pub revoked_at: EpochSeconds,
    pub reason: RevocationReason,
    pub invalidity_date: Option<EpochSeconds>,
    /// When a `certificateHold` was lifted; the serial is then valid again.
    pub released_at: Option<EpochSeconds>,
    pub changed_at: EpochSeconds,
}

impl Revocation {
    /// Whether the serial currently counts as revoked.
    pub fn in_force(&self) -> bool {
        self.released_at.is_none()
    }
}

/// A serial as a CRL lists it, kept small: a million of these fit in about 50 MB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevokedEntry {
    serial: [u8; 20],
    serial_len: u8,
    pub revoked_at: EpochSeconds,
    /// `RemoveFromCrl` for a hold lifted (in delta CRLs only).
    pub reason: RevocationReason,
    pub invalidity_date: Option<EpochSeconds>,
}

impl RevokedEntry {
    /// From the stored hex serial; fails for serials longer than the 20 octets RFC 5280 allows.
    pub fn new(
        serial_hex: &str,
        revoked_at: EpochSeconds,
        reason: RevocationReason,
        invalidity_date: Option<EpochSeconds>,
    ) -> crate::Result<Self> {
        let bytes = decode_hex(serial_hex)
            .ok_or_else(|| CoreError::Storage(format!("stored serial '{serial_hex}' is not hex")))?;
        let trimmed = match bytes.iter().position(|b| *b != 0) {
            Some(first) => &bytes[first..],
            None => &bytes[bytes.len().saturating_sub(1)..],
        };
        if trimmed.is_empty() || trimmed.len() > 20 {
            return Err(CoreError::Storage(format!("stored serial '{serial_hex}' is not 1 to 20 octets")));
        }
        let mut serial = [0u8; 20];
        serial[..trimmed.len()].copy_from_slice(trimmed);
        Ok(Self { serial, serial_len: trimmed.len() as u8, revoked_at, reason, invalidity_date })
    }

    /// The serial's big-endian magnitude.
    pub fn serial(&self) -> &[u8] {
        &self.serial[..usize::from(self.serial_len)]
    }
}

impl certwright_pki::crl::AsCrlEntry for RevokedEntry {
    fn crl_entry(&self) -> certwright_pki::crl::CrlEntry<'_> {
        certwright_pki::crl::CrlEntry {
            serial: self.serial(),
            revoked_at: self.revoked_at,
            reason: Some(self.reason),
            invalidity_date: self.invalidity_date,
        }
    }
}

/// The entries of a CRL as the store hands them over: texts of `serial revoked_at reason [invalidity_date]`
/// entries joined by `,`, read one entry at a time while the CRL is written, so a million entries cost their
/// text (about 30 bytes each), never a decoded list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RevokedEntries {
    joined: Vec<String>,
}

impl RevokedEntries {
    /// Adds a text of one or more entries joined by `,` (empty texts are ignored).
    pub fn push(&mut self, joined: String) {
        if !joined.is_empty() {
            self.joined.push(joined);
        }
    }

    /// How many entries there are.
    pub fn len(&self) -> u64 {
        self.joined.iter().map(|j| j.bytes().filter(|b| *b == b',').count() as u64 + 1).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.joined.is_empty()
    }

    /// Every entry, decoded as it is reached.
    pub fn iter(&self) -> impl Iterator<Item = crate::Result<RevokedEntry>> + '_ {
        self.joined.iter().flat_map(|j| j.split(',')).map(unpack)
    }
}

fn unpack(packed: &str) -> crate::Result<RevokedEntry> {
    let bad = || CoreError::Storage(format!("revocation entry '{packed}' is malformed"));
    let mut parts = packed.split(' ');
    let serial = parts.next().ok_or_else(bad)?;
    let revoked_at: i64 = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
    let code: u8 = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
    let reason = RevocationReason::from_code(code).ok_or_else(bad)?;
    let invalidity = parts.next().map(|p| p.parse::<i64>().map_err(|_| bad())).transpose()?;
    RevokedEntry::new(serial, revoked_at, reason, invalidity)
}

/// Hex (either case; an odd length reads as if a `0` led) to bytes.
pub fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    let padded;
    let hex = if hex.len() % 2 == 1 {
        padded = format!("0{hex}");
        padded.as_bytes()
    } else {
        hex.as_bytes()
    };
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    hex.chunks(2).map(|p| Some(nibble(p[0])? << 4 | nibble(p[1])?)).collect()
}

/// Which of an authority's CRLs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CrlKind {
    /// Everything in force (and not expired).
    Full,
    /// What changed since the current full CRL.
    Delta,
    /// The serials whose certificates name partition `n` in their distribution point.
    Partition(u32),
}

impl CrlKind {
    /// The stored spelling: `full`, `delta`, `partition-N`.
    pub fn as_str(self) -> String {
        match self {
            Self::Full => "full".to_owned(),
            Self::Delta => "delta".to_owned(),
            Self::Partition(n) => format!("partition-{n}"),
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "full" => Some(Self::Full),
            "delta" => Some(Self::Delta),
            _ => s.strip_prefix("partition-")?.parse().ok().map(Self::Partition),
        }
    }
}

/// Which revoked serials to read for a CRL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntrySelection {
    /// In force and not expired at `now`, optionally of one partition.
    InForce { now: EpochSeconds, partition: Option<u32> },
    /// Changed at or after `since` and not expired at `now`, lifted holds included (as `RemoveFromCrl`).
    ChangedSince { since: EpochSeconds, now: EpochSeconds },
}

/// A signed CRL, kept until the next one replaces it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCrl {
    pub authority_id: i64,
    pub kind: CrlKind,
    pub number: u64,
    pub this_update: EpochSeconds,
    pub next_update: EpochSeconds,
    pub entries: u64,
    pub der: Vec<u8>,
}

/// An authority's delegated OCSP responder: a certificate with id-kp-OCSPSigning and its managed key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OcspResponderRecord {
    pub authority_id: i64,
    pub key_id: i64,
    pub certificate_der: Vec<u8>,
    pub not_before: EpochSeconds,
    pub not_after: EpochSeconds,
}

/// The CRL partition of a serial: its first significant octet modulo the authority's partition count.
pub fn partition_of(serial: &[u8], partitions: u32) -> u32 {
    let first = serial.iter().copied().find(|b| *b != 0).unwrap_or(0);
    u32::from(first) % partitions.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_keep_the_serial_magnitude() {
        let e = RevokedEntry::new("00ff01", 1, RevocationReason::KeyCompromise, None).unwrap();
        assert_eq!(e.serial(), &[0xff, 0x01]);
        assert_eq!(RevokedEntry::new("00", 1, RevocationReason::Unspecified, None).unwrap().serial(), &[0]);
        assert!(RevokedEntry::new(&"11".repeat(21), 1, RevocationReason::Unspecified, None).is_err());
        assert!(RevokedEntry::new("xyz", 1, RevocationReason::Unspecified, None).is_err());
        assert_eq!(RevokedEntry::new("a1b", 1, RevocationReason::Unspecified, None).unwrap().serial(), &[0x0a, 0x1b]);
    }

    #[test]
    fn joined_entries_are_decoded_one_by_one() {
        let mut e = RevokedEntries::default();
        e.push("0a 100 1,ff01 200 6 150".to_owned());
        e.push(String::new());
        e.push("7 300 8".to_owned());
        assert_eq!(e.len(), 3);
        let all: Vec<RevokedEntry> = e.iter().collect::<crate::Result<_>>().unwrap();
        assert_eq!(all[1].serial(), &[0xff, 0x01]);
        assert_eq!((all[1].reason, all[1].invalidity_date), (RevocationReason::CertificateHold, Some(150)));
        assert_eq!(all[2].reason, RevocationReason::RemoveFromCrl);
        let mut bad = RevokedEntries::default();
        bad.push("0a 100 7".to_owned());
        assert!(bad.iter().next().unwrap().is_err(), "7 is no CRLReason");
    }

    #[test]
    fn kinds_round_trip() {
        for k in [CrlKind::Full, CrlKind::Delta, CrlKind::Partition(3)] {
            assert_eq!(CrlKind::parse(&k.as_str()), Some(k));
        }
        assert_eq!(CrlKind::parse("partition-x"), None);
        assert_eq!(partition_of(&[0, 9], 4), 1);
    }
}
