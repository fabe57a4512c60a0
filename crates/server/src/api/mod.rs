//! The native REST API under `/v1`: request and response types, and handlers that translate them to one core
//! service call each.

pub mod acme;
pub mod authorities;
pub mod certificates;
pub mod deploy;
pub mod discovery;
pub mod events;
pub mod health;
pub mod keystore;
pub mod lifecycle;
pub mod oauth;
pub mod oauth1;
pub mod organizations;
pub mod revocation;
pub mod tokens;

use serde::Serialize;
use utoipa::ToSchema;

/// The envelope of every list endpoint.
#[derive(Debug, Serialize, ToSchema)]
pub struct List<T: ToSchema> {
    pub items: Vec<T>,
    /// Matches in all pages.
    pub total: u64,
    pub limit: u32,
    pub offset: u64,
}

impl<T: ToSchema> List<T> {
    /// A list that is not paged: every item, with `limit` equal to their number.
    pub fn all(items: Vec<T>) -> Self {
        let total = items.len() as u64;
        Self { limit: u32::try_from(total).unwrap_or(u32::MAX), offset: 0, total, items }
    }

    pub fn new<U>(
        listed: certwright_core::page::Listed<U>,
        page: certwright_core::page::Page,
        f: impl Fn(U) -> T,
    ) -> Self {
        Self {
            items: listed.items.into_iter().map(f).collect(),
            total: listed.total,
            limit: page.limit(),
            offset: page.offset(),
        }
    }
}

/// Epoch seconds as RFC 3339.
pub(crate) fn time(t: i64) -> String {
    certwright_core::clock::to_rfc3339(t)
}

/// A time query parameter: RFC 3339 or epoch seconds.
pub(crate) fn time_param(name: &str, value: Option<&str>) -> Result<Option<i64>, certwright_core::CoreError> {
    value
        .map(|v| {
            certwright_core::clock::parse_time(v).ok_or_else(|| {
                certwright_core::CoreError::invalid(
                    "request.invalid_time",
                    format!("{name} must be RFC 3339 (2026-01-31T00:00:00Z) or epoch seconds, got '{v}'"),
                )
            })
        })
        .transpose()
}
