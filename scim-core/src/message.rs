//! Protocol messages (RFC 7644): list responses, search requests, PATCH requests, bulk
//! requests and responses, and the discovery documents. Resources are
//! [`Resource`](crate::resource::Resource) values; errors are
//! [`ErrorBody`](crate::error::ErrorBody).

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// `urn:ietf:params:scim:api:messages:2.0:ListResponse`
pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
/// `urn:ietf:params:scim:api:messages:2.0:SearchRequest`
pub const SEARCH_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
/// `urn:ietf:params:scim:api:messages:2.0:PatchOp`
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/// `urn:ietf:params:scim:api:messages:2.0:BulkRequest`
pub const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
/// `urn:ietf:params:scim:api:messages:2.0:BulkResponse`
pub const BULK_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";

/// A list response (RFC 7644 3.4.2), with RFC 9865 cursor fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListResponse<T> {
    /// Always `[LIST_RESPONSE]`.
    pub schemas: Vec<String>,
    /// Total number of matching resources.
    pub total_results: u64,
    /// Number of resources on this page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items_per_page: Option<u64>,
    /// 1-based index of the first resource on this page (index pagination).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_index: Option<u64>,
    /// RFC 9865: cursor of the next page, absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    /// RFC 9865: cursor of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_cursor: Option<String>,
    /// The resources.
    #[serde(rename = "Resources", default = "Vec::new")]
    pub resources: Vec<T>,
}

impl<T> ListResponse<T> {
    /// A response with index pagination fields set.
    pub fn new(resources: Vec<T>, total_results: u64, start_index: u64) -> Self {
        Self {
            schemas: vec![LIST_RESPONSE.to_owned()],
            total_results,
            items_per_page: Some(resources.len() as u64),
            start_index: Some(start_index),
            next_cursor: None,
            previous_cursor: None,
            resources,
        }
    }
}

/// The members of a [`ListResponse`] for resources already written as JSON text: what a
/// server that renders its resources without parsing them (as `Projector::write` does)
/// wraps around them. [`ListEnvelope::write`] writes byte for byte what serialising a
/// `ListResponse` of the same resources with serde_json does, so the two cannot drift
/// apart (a property test in `tests/it/list_response.rs` checks it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ListEnvelope<'a> {
    /// `totalResults`.
    pub total_results: u64,
    /// `itemsPerPage`, when sent.
    pub items_per_page: Option<u64>,
    /// `startIndex` (index pagination), when sent.
    pub start_index: Option<u64>,
    /// RFC 9865 `nextCursor`, when sent.
    pub next_cursor: Option<&'a str>,
    /// RFC 9865 `previousCursor`, when sent.
    pub previous_cursor: Option<&'a str>,
}

impl ListEnvelope<'_> {
    /// The bytes a ListResponse adds around its resources, at most (for reserving).
    pub const OVERHEAD: usize = 192;

    /// Writes the ListResponse (RFC 7644 3.4.2) to `out`, with `resources` as the content
    /// of its `Resources` array: the resources' JSON separated by commas, without the
    /// brackets.
    pub fn write(&self, resources: &[u8], out: &mut Vec<u8>) {
        use std::io::Write;
        // Writing to a Vec cannot fail; the member order is ListResponse's field order.
        let _ = write!(
            out,
            "{{\"schemas\":[\"{LIST_RESPONSE}\"],\"totalResults\":{}",
            self.total_results
        );
        if let Some(n) = self.items_per_page {
            let _ = write!(out, ",\"itemsPerPage\":{n}");
        }
        if let Some(n) = self.start_index {
            let _ = write!(out, ",\"startIndex\":{n}");
        }
        if let Some(c) = self.next_cursor {
            out.extend_from_slice(b",\"nextCursor\":");
            let _ = serde_json::to_writer(&mut *out, c);
        }
        if let Some(c) = self.previous_cursor {
            out.extend_from_slice(b",\"previousCursor\":");
            let _ = serde_json::to_writer(&mut *out, c);
        }
        out.extend_from_slice(b",\"Resources\":[");
        out.extend_from_slice(resources);
        out.extend_from_slice(b"]}");
    }
}

/// Sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SortOrder {
    /// Ascending (the default).
    #[default]
    Ascending,
    /// Descending.
    Descending,
}

impl SortOrder {
    /// Parses `ascending`/`descending`, case-insensitively.
    pub fn parse(s: &str) -> Option<Self> {
        if s.eq_ignore_ascii_case("ascending") {
            Some(Self::Ascending)
        } else if s.eq_ignore_ascii_case("descending") {
            Some(Self::Descending)
        } else {
            None
        }
    }
}

impl<'de> Deserialize<'de> for SortOrder {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!("sortOrder '{s}' is neither ascending nor descending"))
        })
    }
}

/// Accepts `"a,b"` or `["a","b"]` for `attributes`/`excludedAttributes`.
fn comma_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum L {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<L>::deserialize(d)? {
        None => Vec::new(),
        Some(L::One(s)) => split_attribute_list(&s),
        Some(L::Many(v)) => v.iter().flat_map(|s| split_attribute_list(s)).collect(),
    })
}

/// Splits a comma-separated attribute list, trimming blanks and dropping empty entries.
pub fn split_attribute_list(s: &str) -> Vec<String> {
    s.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

/// A search request (RFC 7644 3.4.3), also the parsed form of list query parameters.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchRequest {
    /// `[SEARCH_REQUEST]` (optional on input).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub schemas: Vec<String>,
    /// Attributes to return.
    #[serde(default, deserialize_with = "comma_list", skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<String>,
    /// Attributes not to return.
    #[serde(default, deserialize_with = "comma_list", skip_serializing_if = "Vec::is_empty")]
    pub excluded_attributes: Vec<String>,
    /// The filter expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    /// Attribute to sort by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort_by: Option<String>,
    /// Sort direction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort_order: Option<SortOrder>,
    /// 1-based index of the first result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_index: Option<i64>,
    /// Page size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<i64>,
    /// RFC 9865 cursor (empty string asks for the first page by cursor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// A PATCH operation kind; parsed case-insensitively (Entra sends `Add`, `Replace`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PatchOpKind {
    /// `add`
    Add,
    /// `replace`
    Replace,
    /// `remove`
    Remove,
}

impl<'de> Deserialize<'de> for PatchOpKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        match s.to_ascii_lowercase().as_str() {
            "add" => Ok(Self::Add),
            "replace" => Ok(Self::Replace),
            "remove" => Ok(Self::Remove),
            _ => Err(serde::de::Error::custom(format!(
                "op '{s}' is not one of add, replace, remove"
            ))),
        }
    }
}

/// One PATCH operation (RFC 7644 3.5.2). Unknown members (Entra's `name`) are ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatchOperation {
    /// The operation.
    pub op: PatchOpKind,
    /// The target path; absent means the whole resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The value (absent for most removes). An explicit `"value": null` is
    /// `Some(Value::Null)`, which unassigns the target (RFC 7643 2.5); only a missing
    /// member is `None`.
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}

/// A member that is there, `null` included (serde would read `null` as `None`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// A PATCH request body (RFC 7644 3.5.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatchRequest {
    /// `[PATCH_OP]`.
    #[serde(default)]
    pub schemas: Vec<String>,
    /// The operations, applied in order, atomically.
    #[serde(rename = "Operations", alias = "operations")]
    pub operations: Vec<PatchOperation>,
}

/// One bulk operation (RFC 7644 3.7).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkOperation {
    /// `POST`, `PUT`, `PATCH` or `DELETE`.
    pub method: String,
    /// Client-chosen id that later operations refer to as `bulkId:<id>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bulk_id: Option<String>,
    /// ETag for a conditional operation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Resource path relative to the base, e.g. `/Users/US...`.
    pub path: String,
    /// The body of the operation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

/// A bulk request (RFC 7644 3.7).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkRequest {
    /// `[BULK_REQUEST]`.
    #[serde(default)]
    pub schemas: Vec<String>,
    /// Stop after this many errors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_on_errors: Option<u32>,
    /// The operations, in order.
    #[serde(rename = "Operations", alias = "operations")]
    pub operations: Vec<BulkOperation>,
}

/// The result of one bulk operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkOperationResponse {
    /// The method of the operation.
    pub method: String,
    /// The operation's `bulkId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bulk_id: Option<String>,
    /// The resource's ETag after the operation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The resource's URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// HTTP status as a string.
    pub status: String,
    /// The error body (or resource) of the operation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<Value>,
}

/// A bulk response (RFC 7644 3.7).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BulkResponse {
    /// `[BULK_RESPONSE]`.
    pub schemas: Vec<String>,
    /// One result per processed operation.
    #[serde(rename = "Operations")]
    pub operations: Vec<BulkOperationResponse>,
}

/// `{"supported": bool}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Supported {
    /// Whether the feature is supported.
    pub supported: bool,
}

/// Bulk limits in ServiceProviderConfig.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkConfig {
    /// Whether bulk is supported.
    pub supported: bool,
    /// Maximum operations per request.
    pub max_operations: u64,
    /// Maximum payload in bytes.
    pub max_payload_size: u64,
}

/// Filter limits in ServiceProviderConfig.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FilterConfig {
    /// Whether filtering is supported.
    pub supported: bool,
    /// Maximum results per page.
    pub max_results: u64,
}

/// RFC 9865 pagination block in ServiceProviderConfig.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaginationConfig {
    /// Cursor pagination supported.
    pub cursor: bool,
    /// Index pagination supported.
    pub index: bool,
    /// Which one a request without either gets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_pagination_method: Option<String>,
    /// Default page size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_page_size: Option<u64>,
    /// Maximum page size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_page_size: Option<u64>,
    /// Seconds a cursor stays valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor_timeout: Option<u64>,
}

/// An authentication scheme in ServiceProviderConfig.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticationScheme {
    /// e.g. `oauthbearertoken`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Human-readable name.
    pub name: String,
    /// Human-readable description.
    pub description: String,
    /// Specification URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec_uri: Option<String>,
    /// Documentation URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub documentation_uri: Option<String>,
    /// Whether this is the preferred scheme.
    #[serde(default)]
    pub primary: bool,
}

/// The ServiceProviderConfig document (RFC 7643 5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceProviderConfig {
    /// `[SERVICE_PROVIDER_CONFIG_SCHEMA]`.
    pub schemas: Vec<String>,
    /// Documentation URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub documentation_uri: Option<String>,
    /// PATCH support.
    pub patch: Supported,
    /// Bulk support and limits.
    pub bulk: BulkConfig,
    /// Filter support and limits.
    pub filter: FilterConfig,
    /// Password change support.
    pub change_password: Supported,
    /// Sorting support.
    pub sort: Supported,
    /// ETag support.
    pub etag: Supported,
    /// RFC 9865 pagination.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pagination: Option<PaginationConfig>,
    /// Authentication schemes.
    pub authentication_schemes: Vec<AuthenticationScheme>,
    /// Metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<crate::resource::Meta>,
}
