//! Revocation reasons (RFC 5280 §5.3.1), shared by CRLs and OCSP.

use crate::PkiError;

/// Why a certificate was revoked: the CRLReason codes of RFC 5280 (7 is unused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RevocationReason {
    Unspecified,
    KeyCompromise,
    CaCompromise,
    AffiliationChanged,
    Superseded,
    CessationOfOperation,
    CertificateHold,
    /// Only in delta CRLs: a certificate on hold is no longer revoked.
    RemoveFromCrl,
    PrivilegeWithdrawn,
    AaCompromise,
}

impl RevocationReason {
    /// Every reason, in code order.
    pub const ALL: [Self; 10] = [
        Self::Unspecified,
        Self::KeyCompromise,
        Self::CaCompromise,
        Self::AffiliationChanged,
        Self::Superseded,
        Self::CessationOfOperation,
        Self::CertificateHold,
        Self::RemoveFromCrl,
        Self::PrivilegeWithdrawn,
        Self::AaCompromise,
    ];

    /// The CRLReason code.
    pub fn code(self) -> u8 {
        match self {
            Self::Unspecified => 0,
            Self::KeyCompromise => 1,
            Self::CaCompromise => 2,
            Self::AffiliationChanged => 3,
            Self::Superseded => 4,
            Self::CessationOfOperation => 5,
            Self::CertificateHold => 6,
            Self::RemoveFromCrl => 8,
            Self::PrivilegeWithdrawn => 9,
            Self::AaCompromise => 10,
        }
    }

    /// The reason with this code.
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.code() == code)
    }

    /// The RFC 5280 name, as in `keyCompromise`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Unspecified => "unspecified",
            Self::KeyCompromise => "keyCompromise",
            Self::CaCompromise => "cACompromise",
            Self::AffiliationChanged => "affiliationChanged",
            Self::Superseded => "superseded",
            Self::CessationOfOperation => "cessationOfOperation",
            Self::CertificateHold => "certificateHold",
            Self::RemoveFromCrl => "removeFromCRL",
            Self::PrivilegeWithdrawn => "privilegeWithdrawn",
            Self::AaCompromise => "aACompromise",
        }
    }

    /// Reads a reason as clients write it: the RFC name in any case, with or without underscores
    /// (`keyCompromise`, `KEY_COMPROMISE`, `key_compromise`), or the numeric code.
    pub fn parse(s: &str) -> Result<Self, PkiError> {
        let wanted: String = s.trim().chars().filter(|c| *c != '_' && *c != '-').collect::<String>().to_lowercase();
        if let Ok(code) = wanted.parse::<u8>() {
            return Self::from_code(code).ok_or_else(|| unknown(s));
        }
        Self::ALL.into_iter().find(|r| r.name().to_lowercase() == wanted).ok_or_else(|| unknown(s))
    }
}

fn unknown(s: &str) -> PkiError {
    PkiError::Unsupported(format!(
        "revocation reason '{s}': expected one of unspecified, keyCompromise, cACompromise, affiliationChanged, \
         superseded, cessationOfOperation, certificateHold, privilegeWithdrawn, aACompromise (or the RFC 5280 code)"
    ))
}

#[cfg(test)]
mod tests {
    use super::RevocationReason;

    #[test]
    fn names_codes_and_spellings_round_trip() {
        for r in RevocationReason::ALL {
            assert_eq!(RevocationReason::from_code(r.code()), Some(r));
            assert_eq!(RevocationReason::parse(r.name()).unwrap(), r);
            assert_eq!(RevocationReason::parse(&r.code().to_string()).unwrap(), r);
        }
        assert_eq!(RevocationReason::parse("KEY_COMPROMISE").unwrap(), RevocationReason::KeyCompromise);
        assert_eq!(RevocationReason::parse("ca_compromise").unwrap(), RevocationReason::CaCompromise);
        assert!(RevocationReason::from_code(7).is_none());
        assert!(RevocationReason::parse("7").is_err());
        assert!(RevocationReason::parse("stolen").is_err());
    }
}
