//! Request bodies: media type checks, size limits and JSON parsing with SCIM errors.
//!
//! Accepted: `application/scim+json` and `application/json`, with parameters such as
//! `charset`. A body with another type gets 415; a missing or empty body on a method that
//! needs one gets 400 `invalidSyntax` (identity providers and the contract fuzzer expect
//! 400 for body-less requests); bad JSON gets 400 `invalidSyntax` with serde's message,
//! which names the line and column. Bodies over `max_body_bytes` (after gzip
//! decompression) get 413 without being held whole.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{FromRequest, Request};
use bytes::Bytes;
use http::{HeaderMap, header};
use scim_core::ErrorCode;
use serde::de::DeserializeOwned;

/// A JSON request body in a SCIM media type, parsed into `T`.
#[derive(Debug, Clone)]
pub struct ScimJson<T>(pub T);

/// A raw request body in a SCIM media type (for handlers that check its size or keep its
/// bytes, such as `/Bulk` and idempotency fingerprints).
#[derive(Debug, Clone)]
pub struct ScimBytes(pub Bytes);

impl FromRequest<AppState> for ScimBytes {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        check_media_type(req.headers())?;
        let limit = state.config.max_body_bytes;
        let bytes = read_limited(req.into_body(), limit).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::new(ErrorCode::InvalidSyntax, "the request body is empty"));
        }
        Ok(ScimBytes(bytes))
    }
}

impl<T: DeserializeOwned> FromRequest<AppState> for ScimJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let ScimBytes(bytes) = ScimBytes::from_request(req, state).await?;
        parse_json(&bytes).map(ScimJson)
    }
}

/// Parses a JSON body, mapping serde's error to 400 `invalidSyntax`.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| {
        ApiError::new(ErrorCode::InvalidSyntax, format!("the request body is not valid: {e}"))
    })
}

/// Whether the body's `Content-Type` is a SCIM media type; 400 when absent, 415 otherwise.
pub fn check_media_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(ct) = headers.get(header::CONTENT_TYPE) else {
        let has_body = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|n| n > 0);
        let detail = if has_body {
            "the request has no Content-Type: send application/scim+json"
        } else {
            "the request body is empty"
        };
        return Err(ApiError::new(ErrorCode::InvalidSyntax, detail));
    };
    let ct = ct.to_str().unwrap_or_default();
    if is_json_media_type(ct) {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            format!(
                "Content-Type '{}' is not supported: use application/scim+json or application/json",
                ct.chars().take(100).collect::<String>()
            ),
        ))
    }
}

/// `application/scim+json` or `application/json`, ignoring parameters and case.
pub fn is_json_media_type(ct: &str) -> bool {
    let essence = ct.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("application/scim+json")
        || essence.eq_ignore_ascii_case("application/json")
}

/// Reads a body up to `limit` bytes; 413 past it, 400 when the stream is broken (for
/// example bad gzip).
pub async fn read_limited(body: axum::body::Body, limit: usize) -> Result<Bytes, ApiError> {
    use http_body_util::BodyExt;
    let limited = http_body_util::Limited::new(body, limit);
    match limited.collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if is_length_limit(&*e) => Err(too_large(limit)),
        Err(e) => Err(ApiError::new(
            ErrorCode::InvalidSyntax,
            format!("the request body could not be read: {e}"),
        )),
    }
}

/// The 413 error for a body over `limit`.
pub fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        ErrorCode::PayloadTooLarge,
        format!("the request body is over the limit of {limit} bytes"),
    )
}

fn is_length_limit(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if err.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        if let Some(ax) = err.downcast_ref::<axum::Error>()
            && let Some(inner) = std::error::Error::source(ax)
        {
            cur = Some(inner);
            continue;
        }
        cur = err.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types() {
        assert!(is_json_media_type("application/scim+json"));
        assert!(is_json_media_type("application/json; charset=utf-8"));
        assert!(is_json_media_type("Application/SCIM+JSON;charset=UTF-8"));
        assert!(!is_json_media_type("text/plain"));
        assert!(!is_json_media_type("application/jsonx"));
    }
}
