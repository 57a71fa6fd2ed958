//! Bulk (RFC 7644 3.7) and bulk deactivate (`POST /Users/delete`, `docs/http.md`).

use crate::client::Client;
use crate::error::{Error, Result};
use crate::transport::Req;
use http::Method;
use scim_core::message::{
    BULK_REQUEST, BulkOperation, BulkRequest, BulkResponse, ListResponse, PATCH_OP, PatchOpKind,
    PatchOperation,
};
use scim_core::resource::Resource;
use serde::Serialize;
use serde_json::{Value, json};

/// `bulkId:<id>`: how a later operation, or a value in its data, refers to the resource an
/// earlier operation of the same request creates (RFC 7644 3.7.2).
pub fn bulk_ref(bulk_id: &str) -> String {
    format!("bulkId:{bulk_id}")
}

/// Builds a [`BulkRequest`] operation by operation.
///
/// ```
/// use scim_client::bulk::{BulkBuilder, bulk_ref};
/// use scim_core::resource::{Group, Member, User};
/// let user = User { user_name: "ada".into(), ..Default::default() };
/// let group = Group {
///     display_name: "admins".into(),
///     members: vec![Member { value: bulk_ref("u1"), ..Default::default() }],
///     ..Default::default()
/// };
/// let req = BulkBuilder::new()
///     .create("Users", "u1", &user).unwrap()
///     .create("Groups", "g1", &group).unwrap()
///     .build();
/// assert_eq!(req.operations.len(), 2);
/// ```
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct BulkBuilder {
    fail_on_errors: Option<u32>,
    operations: Vec<BulkOperation>,
}

impl BulkBuilder {
    /// An empty request.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stop after this many failed operations (`failOnErrors`).
    pub fn fail_on_errors(mut self, n: u32) -> Self {
        self.fail_on_errors = Some(n);
        self
    }

    /// `POST /{endpoint}` creating `resource`, which later operations can refer to as
    /// [`bulk_ref(bulk_id)`](bulk_ref).
    pub fn create(self, endpoint: &str, bulk_id: &str, resource: &impl Serialize) -> Result<Self> {
        let data = to_value(resource)?;
        Ok(self.push(
            "POST",
            Some(bulk_id),
            None,
            format!("/{}", endpoint.trim_matches('/')),
            Some(data),
        ))
    }

    /// `PUT /{endpoint}/{id}` (`id` may be a [`bulk_ref`]), conditional on `version`.
    pub fn replace(
        self,
        endpoint: &str,
        id: &str,
        resource: &impl Serialize,
        version: Option<&str>,
    ) -> Result<Self> {
        let data = to_value(resource)?;
        Ok(self.push("PUT", None, version, item_path(endpoint, id), Some(data)))
    }

    /// `PATCH /{endpoint}/{id}` with `operations`, conditional on `version`.
    pub fn patch(
        self,
        endpoint: &str,
        id: &str,
        operations: Vec<PatchOperation>,
        version: Option<&str>,
    ) -> Result<Self> {
        let data = json!({"schemas": [PATCH_OP], "Operations": to_value(&operations)?});
        Ok(self.push("PATCH", None, version, item_path(endpoint, id), Some(data)))
    }

    /// `DELETE /{endpoint}/{id}`, conditional on `version`.
    pub fn delete(self, endpoint: &str, id: &str, version: Option<&str>) -> Self {
        self.push("DELETE", None, version, item_path(endpoint, id), None)
    }

    /// Adds an operation as given.
    pub fn operation(mut self, op: BulkOperation) -> Self {
        self.operations.push(op);
        self
    }

    /// The request.
    pub fn build(self) -> BulkRequest {
        BulkRequest {
            schemas: vec![BULK_REQUEST.to_owned()],
            fail_on_errors: self.fail_on_errors,
            operations: self.operations,
        }
    }

    fn push(
        self,
        method: &str,
        bulk_id: Option<&str>,
        version: Option<&str>,
        path: String,
        data: Option<Value>,
    ) -> Self {
        self.operation(BulkOperation {
            method: method.to_owned(),
            bulk_id: bulk_id.map(str::to_owned),
            version: version.map(str::to_owned),
            path,
            data,
        })
    }
}

fn item_path(endpoint: &str, id: &str) -> String {
    format!("/{}/{id}", endpoint.trim_matches('/'))
}

fn to_value(v: &impl Serialize) -> Result<Value> {
    serde_json::to_value(v).map_err(|e| Error::InvalidArgument(format!("does not serialize: {e}")))
}

impl Client {
    /// `POST /Bulk` (RFC 7644 3.7). Checked first against the server's advertised limits:
    /// a request with more than `bulk.maxOperations` operations or a body over
    /// `bulk.maxPayloadSize` bytes is refused with [`Error::LimitExceeded`] without being
    /// sent (it is not split, because later operations may refer to earlier ones by
    /// `bulkId`), and a server without bulk support gives [`Error::Unsupported`].
    pub async fn bulk(&self, request: &BulkRequest) -> Result<BulkResponse> {
        let caps = self.capabilities().await?;
        if !caps.bulk {
            return Err(Error::Unsupported("bulk (bulk.supported is false)".into()));
        }
        let body = serde_json::to_vec(request)
            .map_err(|e| Error::InvalidArgument(format!("bulk request does not serialize: {e}")))?;
        if let Some(max) = caps.bulk_max_operations
            && request.operations.len() as u64 > max
        {
            return Err(Error::LimitExceeded(format!(
                "{} operations, the server accepts at most {max} per bulk request (bulk.maxOperations)",
                request.operations.len()
            )));
        }
        if let Some(max) = caps.bulk_max_payload_size
            && body.len() as u64 > max
        {
            return Err(Error::LimitExceeded(format!(
                "the bulk request is {} bytes, the server accepts at most {max} (bulk.maxPayloadSize)",
                body.len()
            )));
        }
        let url = self.inner.url(&["Bulk"])?;
        let mut req = Req::new(Method::POST, url);
        req.body = Some(body);
        self.inner.execute(req).await?.json()
    }

    /// Deactivates users (`active: false`) with `POST /Users/delete` and a JSON array of
    /// ids, an extension of this project's server (`docs/http.md`), not RFC 7644. Returns,
    /// per user in the order named, its `id`, `externalId` and `meta`.
    ///
    /// More ids than the server's `bulk.maxOperations` are sent in several requests of at
    /// most that many; each request is one transaction on the server, so when a later
    /// request fails the earlier ones stay applied.
    ///
    /// Another server, which answers the first request with 404, 405 or 501, gets a PATCH
    /// of `active` per user instead (RFC 7644 3.5.2), one after the other: the first that
    /// fails ends the call, the earlier ones stay applied.
    pub async fn deactivate_users<S: AsRef<str>>(&self, ids: &[S]) -> Result<Vec<Resource>> {
        let caps = self.capabilities().await?;
        let chunk = caps
            .bulk_max_operations
            .and_then(|n| usize::try_from(n).ok())
            .filter(|n| *n > 0)
            .unwrap_or(ids.len().max(1));
        let url = self.inner.url(&["Users", "delete"])?;
        let mut out = Vec::with_capacity(ids.len());
        for (i, part) in ids.chunks(chunk).enumerate() {
            let body: Vec<&str> = part.iter().map(AsRef::as_ref).collect();
            let req = Req::new(Method::POST, url.clone()).json(&body)?;
            let resp = match self.inner.execute(req).await {
                Err(Error::Api(e)) if i == 0 && matches!(e.status, 404 | 405 | 501) => {
                    return self.deactivate_by_patch(ids).await;
                }
                other => other?,
            };
            let list: ListResponse<Resource> = resp.json()?;
            out.extend(list.resources);
        }
        Ok(out)
    }

    /// [`Client::deactivate_users`] on a server without `POST /Users/delete`: a PATCH
    /// `replace active false` per user.
    async fn deactivate_by_patch<S: AsRef<str>>(&self, ids: &[S]) -> Result<Vec<Resource>> {
        let users = self.resources::<Resource>("Users");
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let op = PatchOperation {
                op: PatchOpKind::Replace,
                path: Some("active".to_owned()),
                value: Some(Value::Bool(false)),
            };
            let resource = match users.patch_ops(id.as_ref(), vec![op], None).await? {
                Some(tagged) => tagged.resource,
                // 204 without the resource: its id is what is known.
                None => Resource(
                    [("id".to_owned(), Value::String(id.as_ref().to_owned()))]
                        .into_iter()
                        .collect(),
                ),
            };
            out.push(resource);
        }
        Ok(out)
    }
}
