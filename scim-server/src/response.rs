//! Successful responses: JSON in `application/scim+json`. The edge middleware rewrites
//! the content type to `application/json` when the client's `Accept` allows only that
//! (RFC 7644 3.8: both media types are SCIM's), so handlers never look at `Accept`.

use crate::error::{ApiError, SCIM_JSON};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use scim_core::ErrorCode;
use serde::Serialize;

/// Serialises `body` as a SCIM JSON response with `status`.
pub fn scim_response(status: StatusCode, body: &impl Serialize) -> Response {
    scim_response_with(status, body, HeaderMap::new())
}

/// Like [`scim_response`], adding `headers` (e.g. `ETag`, `Location`).
pub fn scim_response_with(
    status: StatusCode,
    body: &impl Serialize,
    headers: HeaderMap,
) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => scim_bytes_with(status, bytes, headers),
        Err(e) => ApiError::new(ErrorCode::Internal, format!("serialising a response: {e}"))
            .into_response(),
    }
}

/// A SCIM JSON response of JSON already written to `bytes`, with `headers`.
pub fn scim_bytes_with(status: StatusCode, bytes: Vec<u8>, headers: HeaderMap) -> Response {
    let mut res = (status, bytes).into_response();
    res.headers_mut().extend(headers);
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
    res
}

/// `ETag` and, when given, `Location` headers for a single-resource response.
pub fn resource_headers(version: &str, location: Option<&str>) -> HeaderMap {
    let mut h = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(version) {
        h.insert(header::ETAG, v);
    }
    if let Some(loc) = location.and_then(|l| HeaderValue::from_str(l).ok()) {
        h.insert(header::LOCATION, loc);
    }
    h
}
