//! Discovery (RFC 7644 section 4): ServiceProviderConfig (read into [`Capabilities`]),
//! Schemas, ResourceTypes.

use crate::capabilities::Capabilities;
use crate::client::Client;
use crate::error::{Error, Result};
use crate::query::Query;
use crate::transport::Req;
use http::Method;
use scim_core::message::ListResponse;
use scim_core::schema::{Registry, ResourceType, Schema};
use serde_json::Value;
use std::sync::Arc;

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
            caps.check_query(query)?;
        }
        Ok(())
    }
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
