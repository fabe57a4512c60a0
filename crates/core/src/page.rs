//! Pagination parameters and list results shared by every list query.

use crate::{CoreError, Result};

/// Largest page a caller may ask for.
pub const MAX_LIMIT: u32 = 1000;
/// Page size when the caller does not ask for one.
pub const DEFAULT_LIMIT: u32 = 50;

/// A validated window into a list: `limit` in `1..=MAX_LIMIT`, `offset` from 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    limit: u32,
    offset: u64,
}

impl Page {
    /// Validates a requested window; missing values take the defaults.
    pub fn new(limit: Option<u32>, offset: Option<u64>) -> Result<Self> {
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if limit == 0 || limit > MAX_LIMIT {
            return Err(CoreError::invalid(
                "request.invalid_limit",
                format!("limit must be between 1 and {MAX_LIMIT}, got {limit}"),
            ));
        }
        let offset = offset.unwrap_or(0);
        if offset > i64::MAX as u64 {
            return Err(CoreError::invalid("request.invalid_offset", "offset is too large"));
        }
        Ok(Self { limit, offset })
    }

    /// The page size.
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// The number of items skipped.
    pub fn offset(&self) -> u64 {
        self.offset
    }
}

impl Default for Page {
    fn default() -> Self {
        Self { limit: DEFAULT_LIMIT, offset: 0 }
    }
}

/// One page of results and the total number of matches.
#[derive(Debug, Clone, PartialEq)]
pub struct Listed<T> {
    pub items: Vec<T>,
    pub total: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_outside_range_are_rejected() {
        assert!(Page::new(Some(0), None).is_err());
        assert!(Page::new(Some(MAX_LIMIT + 1), None).is_err());
        assert_eq!(Page::new(None, None).unwrap().limit(), DEFAULT_LIMIT);
        assert_eq!(Page::new(Some(7), Some(3)).unwrap().offset(), 3);
    }
}
