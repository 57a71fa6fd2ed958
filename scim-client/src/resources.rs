//! Resource operations (RFC 7644 3.3 to 3.6): get, create, replace, patch, delete, search,
//! with entity tags (RFC 7644 3.14).

use crate::client::Client;
use crate::error::{Error, Result};
use crate::paging;
use crate::query::Query;
use crate::transport::{Req, Resp};
use futures::stream::BoxStream;
use http::{Method, header};
use scim_core::envelope::Envelope;
use scim_core::message::{ListResponse, PATCH_OP, PatchOperation, PatchRequest};
use scim_core::resource::{Group, User};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::marker::PhantomData;

/// A resource as the server returned it, with its entity tag and location.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Tagged<T> {
    /// The resource.
    pub resource: T,
    /// The `ETag` header, else `meta.version` (RFC 7644 3.14); send it back as `if_match`.
    pub etag: Option<String>,
    /// The `Location` header, else `meta.location`.
    pub location: Option<String>,
}

/// The answer to a conditional GET (`If-None-Match`).
#[derive(Debug, Clone, PartialEq)]
pub enum Conditional<T> {
    /// The resource changed (or the tag did not match): here it is.
    Modified(Tagged<T>),
    /// 304: the resource still has the tag that was sent.
    NotModified {
        /// The `ETag` of the 304, when sent.
        etag: Option<String>,
    },
}

/// The resources of one endpoint (`/Users`, `/Groups`, ...), read and written as `T`:
/// [`User`](scim_core::resource::User), [`Group`](scim_core::resource::Group),
/// [`Resource`](scim_core::resource::Resource) or any serde type. From
/// [`Client::users`], [`Client::groups`] or [`Client::resources`].
#[derive(Debug)]
pub struct Resources<T> {
    client: Client,
    endpoint: String,
    _type: PhantomData<fn() -> T>,
}

impl<T> Clone for Resources<T> {
    fn clone(&self) -> Self {
        Self { client: self.client.clone(), endpoint: self.endpoint.clone(), _type: PhantomData }
    }
}

impl Client {
    /// Users at `/Users`, as [`User`] views.
    pub fn users(&self) -> Resources<User> {
        Resources::new(self.clone(), "Users")
    }

    /// Groups at `/Groups`, as [`Group`] views.
    pub fn groups(&self) -> Resources<Group> {
        Resources::new(self.clone(), "Groups")
    }

    /// The resources at any endpoint (`"Users"`, `"Devices"`, ...), as any type that
    /// serializes to and from the resource's JSON: a typed view, or the generic
    /// [`Resource`](scim_core::resource::Resource), which keeps every attribute and extension.
    pub fn resources<T>(&self, endpoint: &str) -> Resources<T> {
        Resources::new(self.clone(), endpoint.trim_matches('/'))
    }
}

impl<T> Resources<T> {
    pub(crate) fn new(client: Client, endpoint: &str) -> Self {
        Self { client, endpoint: endpoint.to_owned(), _type: PhantomData }
    }

    /// The endpoint, without slashes (`Users`).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    fn item_url(&self, id: &str) -> Result<reqwest::Url> {
        if id.is_empty() {
            return Err(Error::InvalidArgument("the resource id is empty".into()));
        }
        self.client.inner.url(&[&self.endpoint, id])
    }
}

impl<T: Serialize + DeserializeOwned + Send + 'static> Resources<T> {
    /// `GET /{endpoint}/{id}`.
    pub async fn get(&self, id: &str) -> Result<Tagged<T>> {
        let resp = self.client.inner.execute(Req::new(Method::GET, self.item_url(id)?)).await?;
        tagged(&resp)
    }

    /// `GET /{endpoint}/{id}` with `If-None-Match: etag`: [`Conditional::NotModified`] when
    /// the resource still has that tag (304).
    pub async fn get_if_none_match(&self, id: &str, etag: &str) -> Result<Conditional<T>> {
        let req = Req::new(Method::GET, self.item_url(id)?).header(header::IF_NONE_MATCH, etag)?;
        let resp = self.client.inner.execute(req).await?;
        if resp.status == 304 {
            return Ok(Conditional::NotModified { etag: resp.header("etag").map(str::to_owned) });
        }
        Ok(Conditional::Modified(tagged(&resp)?))
    }

    /// `POST /{endpoint}`: creates the resource (201); the server's version comes back.
    pub async fn create(&self, resource: &T) -> Result<Tagged<T>> {
        let url = self.client.inner.url(&[&self.endpoint])?;
        let resp = self.client.inner.execute(Req::new(Method::POST, url).json(resource)?).await?;
        tagged(&resp)
    }

    /// `PUT /{endpoint}/{id}` (RFC 7644 3.5.1), conditional on `if_match` when given (a
    /// failed condition is a 412 or, on the organization-scoped family, 409 [`Error::Api`]).
    pub async fn replace(
        &self,
        id: &str,
        resource: &T,
        if_match: Option<&str>,
    ) -> Result<Tagged<T>> {
        let req =
            if_match_header(Req::new(Method::PUT, self.item_url(id)?).json(resource)?, if_match)?;
        tagged(&self.client.inner.execute(req).await?)
    }

    /// `PATCH /{endpoint}/{id}` (RFC 7644 3.5.2) with `request`, conditional on `if_match`.
    /// `None` when the server answers 204 without the resource (RFC 7644 allows either).
    pub async fn patch(
        &self,
        id: &str,
        request: &PatchRequest,
        if_match: Option<&str>,
    ) -> Result<Option<Tagged<T>>> {
        if let Some(caps) = self.client.known_capabilities().await
            && !caps.patch
        {
            return Err(Error::Unsupported("PATCH (patch.supported is false)".into()));
        }
        let req =
            if_match_header(Req::new(Method::PATCH, self.item_url(id)?).json(request)?, if_match)?;
        let resp = self.client.inner.execute(req).await?;
        if resp.status == 204 || resp.body.is_empty() {
            return Ok(None);
        }
        tagged(&resp).map(Some)
    }

    /// [`Resources::patch`] with operations, wrapped in a PatchOp message.
    pub async fn patch_ops(
        &self,
        id: &str,
        operations: Vec<PatchOperation>,
        if_match: Option<&str>,
    ) -> Result<Option<Tagged<T>>> {
        let request = PatchRequest { schemas: vec![PATCH_OP.to_owned()], operations };
        self.patch(id, &request, if_match).await
    }

    /// `DELETE /{endpoint}/{id}`, conditional on `if_match`.
    pub async fn delete(&self, id: &str, if_match: Option<&str>) -> Result<()> {
        let req = if_match_header(Req::new(Method::DELETE, self.item_url(id)?), if_match)?;
        self.client.inner.execute(req).await.map(|_| ())
    }

    /// One page: `GET /{endpoint}?filter=...` (RFC 7644 3.4.2).
    pub async fn search(&self, query: &Query) -> Result<ListResponse<T>> {
        self.client.check_query(query).await?;
        let mut url = self.client.inner.url(&[&self.endpoint])?;
        let params = query.to_params()?;
        if !params.is_empty() {
            url.query_pairs_mut().extend_pairs(params);
        }
        let resp = self.client.inner.execute(Req::new(Method::GET, url)).await?;
        resp.json()
    }

    /// One page: `POST /{endpoint}/.search` (RFC 7644 3.4.3), which keeps the filter out
    /// of URLs and logs.
    pub async fn search_post(&self, query: &Query) -> Result<ListResponse<T>> {
        self.client.check_query(query).await?;
        let url = self.client.inner.url(&[&self.endpoint, ".search"])?;
        let body = query.to_search_request()?;
        let resp = self.client.inner.execute(Req::new(Method::POST, url).json(&body)?).await?;
        resp.json()
    }

    /// Every matching resource, as a stream that fetches page after page: by RFC 9865
    /// cursor when the server's ServiceProviderConfig advertises cursor pagination, else by
    /// `startIndex`. The page size is the query's `count`, clamped to the server's
    /// maximum (its maximum when the query has none). Pages are fetched with GET.
    pub fn list(&self, query: Query) -> BoxStream<'static, Result<T>> {
        paging::stream(self.client.clone(), self.endpoint.clone(), query)
    }
}

fn if_match_header(req: Req, if_match: Option<&str>) -> Result<Req> {
    match if_match {
        Some(tag) => req.header(header::IF_MATCH, tag),
        None => Ok(req),
    }
}

fn tagged<T: DeserializeOwned>(resp: &Resp) -> Result<Tagged<T>> {
    let value: Value = resp.json()?;
    // The server-assigned members, read with the same core type the server writes them with.
    let envelope = value.as_object().and_then(Envelope::read);
    let meta = envelope.map(|e| e.meta).unwrap_or_default();
    let etag = resp.header(header::ETAG.as_str()).map(str::to_owned).or(meta.version);
    let location = resp.header(header::LOCATION.as_str()).map(str::to_owned).or(meta.location);
    let resource = serde_json::from_value(value).map_err(|e| {
        Error::invalid_response(&resp.url, format!("the resource does not parse as expected: {e}"))
    })?;
    Ok(Tagged { resource, etag, location })
}
