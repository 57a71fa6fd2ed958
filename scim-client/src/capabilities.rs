//! [`Capabilities`]: what a server advertises in its ServiceProviderConfig (RFC 7643
//! section 5, RFC 9865 `pagination`) and the client respects: page size, bulk limits,
//! filter, sort and PATCH support, cursors.

use crate::error::{Error, Result};
use crate::query::Query;
use scim_core::message::{PaginationConfig, ServiceProviderConfig};
use serde_json::Value;

/// What the server advertises in its ServiceProviderConfig, read leniently: a member that
/// is missing or malformed counts as "not supported" / "no limit given", so the client
/// works with servers whose document is incomplete.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Capabilities {
    /// `patch.supported`.
    pub patch: bool,
    /// `bulk.supported`.
    pub bulk: bool,
    /// `bulk.maxOperations`, when given.
    pub bulk_max_operations: Option<u64>,
    /// `bulk.maxPayloadSize` in bytes, when given.
    pub bulk_max_payload_size: Option<u64>,
    /// `filter.supported`.
    pub filter: bool,
    /// `filter.maxResults`, when given.
    pub filter_max_results: Option<u64>,
    /// `sort.supported`.
    pub sort: bool,
    /// `etag.supported`.
    pub etag: bool,
    /// The RFC 9865 `pagination` block, when present and well-formed.
    pub pagination: Option<PaginationConfig>,
    /// The document as sent.
    pub raw: Value,
}

impl Capabilities {
    /// Reads a ServiceProviderConfig document.
    pub fn from_json(raw: Value) -> Self {
        let flag = |k: &str| {
            raw.get(k).and_then(|v| v.get("supported")).and_then(Value::as_bool).unwrap_or(false)
        };
        let num = |k: &str, n: &str| raw.get(k).and_then(|v| v.get(n)).and_then(Value::as_u64);
        let pagination = raw
            .get("pagination")
            .and_then(|p| serde_json::from_value::<PaginationConfig>(p.clone()).ok());
        Self {
            patch: flag("patch"),
            bulk: flag("bulk"),
            bulk_max_operations: num("bulk", "maxOperations").filter(|n| *n > 0),
            bulk_max_payload_size: num("bulk", "maxPayloadSize").filter(|n| *n > 0),
            filter: flag("filter"),
            filter_max_results: num("filter", "maxResults").filter(|n| *n > 0),
            sort: flag("sort"),
            etag: flag("etag"),
            pagination,
            raw,
        }
    }

    /// Whether the server pages by RFC 9865 cursor.
    pub fn cursor_paging(&self) -> bool {
        self.pagination.as_ref().is_some_and(|p| p.cursor)
    }

    /// The largest page the server serves: `pagination.maxPageSize`, else
    /// `filter.maxResults`.
    pub fn max_page_size(&self) -> Option<u64> {
        self.pagination
            .as_ref()
            .and_then(|p| p.max_page_size)
            .filter(|n| *n > 0)
            .or(self.filter_max_results)
    }

    /// The document as this project's typed [`ServiceProviderConfig`] (`None` when it
    /// lacks a member that type requires).
    pub fn config(&self) -> Option<ServiceProviderConfig> {
        serde_json::from_value(self.raw.clone()).ok()
    }

    /// Refuses a query the server says it cannot run: a filter without `filter.supported`,
    /// a sort without `sort.supported` (RFC 7643 5), a cursor without RFC 9865's
    /// `pagination.cursor`.
    pub(crate) fn check_query(&self, query: &Query) -> Result<()> {
        if query.filter.is_some() && !self.filter {
            return Err(Error::Unsupported("filtering (filter.supported is false)".into()));
        }
        if query.sort_by.is_some() && !self.sort {
            return Err(Error::Unsupported("sorting (sort.supported is false)".into()));
        }
        if query.cursor.is_some() && !self.cursor_paging() {
            return Err(Error::Unsupported(
                "cursor pagination (RFC 9865; the ServiceProviderConfig has no \
                 pagination.cursor: true), page by startIndex instead"
                    .into(),
            ));
        }
        Ok(())
    }
}
