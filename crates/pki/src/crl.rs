//! Certificate revocation lists (RFC 5280 §5): full, delta and partitioned CRLs, written in one pass.
