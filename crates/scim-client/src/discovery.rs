//! Discovery (RFC 7644 section 4): ServiceProviderConfig, Schemas, ResourceTypes, and
//! the [`Capabilities`] the client reads from them and respects (page size, bulk limits,
//! filter, sort and PATCH support, RFC 9865 cursors).

use crate::client::Client;
use crate::error::{Error, Result};
use crate::query::Query;
use crate::transport::Req;
use http::Method;
use scim_core::message::{ListResponse, PaginationConfig, ServiceProviderConfig};
use scim_core::schema::{Registry, ResourceType, Schema};
use serde_json::Value;
use std::sync::Arc;

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
}

impl Client {
    /// `GET /ServiceProviderConfig`, always from the server (and remembered for
    /// [`Client::capabilities`]).
    pub async fn service_provider_config(&self) -> Result<Arc<Capabilities>> {
        let url = self.inner.url(&["ServiceProviderConfig"])?;
        let raw: Value = self.inner.execute(Req::new(Method::GET, url)).await?.json()?;
        let caps = Arc::new(Capabilities::from_json(raw));
        *self.inner.capabilities.write().await = Some(caps.clone());
        Ok(caps)
    }

    /// The server's capabilities: fetched once, then remembered for the life of the client
    /// (and its clones). Paging, bulk and filters consult them.
    pub async fn capabilities(&self) -> Result<Arc<Capabilities>> {
        if let Some(c) = self.inner.capabilities.read().await.clone() {
            return Ok(c);
        }
        self.service_provider_config().await
    }

    /// `GET /Schemas`: every schema the server serves.
    pub async fn schemas(&self) -> Result<Vec<Schema>> {
        let url = self.inner.url(&["Schemas"])?;
        let resp = self.inner.execute(Req::new(Method::GET, url)).await?;
        list_or_array(&resp.body).map_err(|e| Error::invalid_response(&resp.url, e))
    }

    /// `GET /Schemas/{uri}`.
    pub async fn schema(&self, uri: &str) -> Result<Schema> {
        let url = self.inner.url(&["Schemas", uri])?;
        self.inner.execute(Req::new(Method::GET, url)).await?.json()
    }

    /// `GET /ResourceTypes`.
    pub async fn resource_types(&self) -> Result<Vec<ResourceType>> {
        let url = self.inner.url(&["ResourceTypes"])?;
        let resp = self.inner.execute(Req::new(Method::GET, url)).await?;
        list_or_array(&resp.body).map_err(|e| Error::invalid_response(&resp.url, e))
    }

    /// A schema [`Registry`] for the server: the built-in schemas plus every extension of
    /// User or Group the server's ResourceTypes name, so that extension attributes can be
    /// resolved, validated and filtered locally with `scim-core`. Extensions that do not
    /// load (malformed, or clashing with a built-in one) are skipped.
    pub async fn registry(&self) -> Result<Registry> {
        let mut registry = Registry::builtin();
        let schemas = self.schemas().await?;
        for rt in self.resource_types().await? {
            let kind = match registry.resource_type_by_name(&rt.name) {
                Some(k) => k,
                None => continue,
            };
            for ext in &rt.schema_extensions {
                if registry.schema(&ext.schema).is_some() {
                    continue;
                }
                if let Some(s) = schemas.iter().find(|s| s.id == ext.schema)
                    && let Err(e) = registry.add_extension(kind, s.clone(), ext.required)
                {
                    tracing::debug!(schema = %s.id, error = %e, "extension schema skipped");
                }
            }
        }
        Ok(registry)
    }
}

impl Client {
    /// The capabilities when already fetched (no request).
    pub(crate) async fn known_capabilities(&self) -> Option<Arc<Capabilities>> {
        self.inner.capabilities.read().await.clone()
    }

    /// Refuses a query the server says it cannot run, when its capabilities are known.
    pub(crate) async fn check_query(&self, query: &Query) -> Result<()> {
        if let Some(caps) = self.known_capabilities().await {
            check_query(&caps, query)?;
        }
        Ok(())
    }
}

/// Refuses a filter or sort the server does not support (RFC 7643 5).
pub(crate) fn check_query(caps: &Capabilities, query: &Query) -> Result<()> {
    if query.filter.is_some() && !caps.filter {
        return Err(Error::Unsupported("filtering (filter.supported is false)".into()));
    }
    if query.sort_by.is_some() && !caps.sort {
        return Err(Error::Unsupported("sorting (sort.supported is false)".into()));
    }
    Ok(())
}

/// A discovery listing: a ListResponse (RFC 7644 4), or a bare JSON array (some servers).
fn list_or_array<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<Vec<T>, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    if v.is_array() {
        return serde_json::from_value(v).map_err(|e| e.to_string());
    }
    let list: ListResponse<T> = serde_json::from_value(v).map_err(|e| e.to_string())?;
    Ok(list.resources)
}
