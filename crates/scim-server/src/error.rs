//! The one error type of the HTTP layer and the one place that renders errors.
//!
//! Handlers return [`ApiError`]; it renders through [`ScimError::to_body`] with the
//! request's docs base (the configured `docs_base`, else the service's own `/docs` on its
//! public base URL, see [`crate::context::docs_base`]), the family's rules (family B
//! answers `PreconditionFailed` as 409 `VersionConflict`, and its `scimType` is one the
//! Twilio contract allows, see
//! [`crate::profile::scim_type`]) and the status-specific headers (`WWW-Authenticate` on 401,
//! `Retry-After` on 429/503). The docs base and family reach `IntoResponse` through a
//! task-local set by the router's edge middleware (`scope`), so handlers need not pass
//! them. Error responses that did not come from here (axum rejections, tower-http layers)
//! are rewritten into SCIM errors by [`crate::middleware`], so every error is SCIM JSON.

use crate::config::DOCS_PATH;
use crate::context::Family;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use scim_core::error::ErrorBody;
use scim_core::{ErrorCode, ScimError};
use scim_store::StoreError;
use std::future::Future;
use std::sync::Arc;

/// The SCIM media type.
pub const SCIM_JSON: &str = "application/scim+json";

/// Seconds a client is asked to wait after a 503.
pub const RETRY_AFTER_UNAVAILABLE: u64 = 5;

/// The error type every handler returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError(pub ScimError);

impl ApiError {
    /// An error with a catalog code and a detail.
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self(ScimError::new(code, detail))
    }

    /// The error's catalog code.
    pub fn code(&self) -> ErrorCode {
        self.0.code
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.0.code.name(), self.0.code.code(), self.0.detail)
    }
}

impl std::error::Error for ApiError {}

impl From<ScimError> for ApiError {
    fn from(e: ScimError) -> Self {
        Self(e)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        // The store's own detail may hold SQL or driver text: log it, never send it.
        match &e {
            StoreError::Internal(detail) => {
                tracing::error!(request_id = %crate::log::request_id(), error = %detail, "store error")
            }
            StoreError::Unavailable(detail) => {
                tracing::warn!(request_id = %crate::log::request_id(), error = %detail, "database unavailable")
            }
            _ => {}
        }
        Self(ScimError::from(e))
    }
}

/// Marker in a response's extensions: the body is already a SCIM error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenderedError(pub ErrorCode);

/// What rendering needs to know about the request, set per request by the edge.
#[derive(Debug, Clone)]
pub(crate) struct RenderCtx {
    pub(crate) docs_base: Arc<str>,
    pub(crate) family: Option<Family>,
}

tokio::task_local! {
    static RENDER: RenderCtx;
}

/// Runs `fut` with `docs_base` and `family` available to [`ApiError`]'s rendering.
pub(crate) fn scope<F: Future>(
    docs_base: Arc<str>,
    family: Option<Family>,
    fut: F,
) -> impl Future<Output = F::Output> {
    RENDER.scope(RenderCtx { docs_base, family }, fut)
}

/// The family of the request being served, when inside `scope`.
pub fn current_family() -> Option<Family> {
    RENDER.try_with(|c| c.family).ok().flatten()
}

/// The docs base of the request being served, when inside `scope`; outside any request,
/// the path the service serves its documentation at ([`DOCS_PATH`], a relative link).
pub fn current_docs_base() -> Arc<str> {
    RENDER.try_with(|c| c.docs_base.clone()).unwrap_or_else(|_| Arc::from(DOCS_PATH))
}

/// Applies the family's error rules: family B reports a failed precondition as a 409
/// version conflict (Twilio's contract for those routes), family A as 412 (RFC 7644 3.14).
pub fn for_family(e: ScimError, family: Option<Family>) -> ScimError {
    match (e.code, family) {
        (ErrorCode::PreconditionFailed, Some(Family::Organization)) => {
            ScimError::new(ErrorCode::VersionConflict, e.detail)
        }
        _ => e,
    }
}

/// The wire body of an error as this request's family and docs base render it (for
/// bodies nested in other documents, such as bulk operation responses).
pub fn error_body(e: &ScimError, family: Family) -> ErrorBody {
    body_for(&for_family(e.clone(), Some(family)), &current_docs_base(), Some(family))
}

/// The wire body of an error already passed through [`for_family`]: on family B, a
/// `scimType` outside the contract's enum becomes the closest allowed one (the `code`
/// keeps the distinction).
fn body_for(e: &ScimError, docs_base: &str, family: Option<Family>) -> ErrorBody {
    let mut body = e.to_body(docs_base);
    body.scim_type = body.scim_type.map(|t| crate::profile::scim_type_for(t, family));
    body
}

/// Renders an error: SCIM body, status, content type and status-specific headers.
pub fn render(e: ScimError, docs_base: &str, family: Option<Family>) -> Response {
    let e = for_family(e, family);
    if e.code == ErrorCode::Internal {
        tracing::error!(request_id = %crate::log::request_id(), detail = %e.detail, "internal error");
    }
    let status = e.status();
    let body = serde_json::to_vec(&body_for(&e, docs_base, family)).unwrap_or_else(|_| {
        // Serialising a struct of strings cannot fail; keep a valid body regardless.
        br#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"500"}"#.to_vec()
    });
    let mut res = (status, body).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
    match status {
        StatusCode::UNAUTHORIZED => {
            h.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"scim\""));
        }
        StatusCode::TOO_MANY_REQUESTS => {
            h.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        StatusCode::SERVICE_UNAVAILABLE => {
            h.insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_UNAVAILABLE));
        }
        _ => {}
    }
    res.extensions_mut().insert(RenderedError(e.code));
    res
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let ctx = RENDER.try_with(Clone::clone).ok();
        match ctx {
            Some(c) => render(self.0, &c.docs_base, c.family),
            None => render(self.0, DOCS_PATH, None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn family_b_turns_412_into_409() {
        let e = ScimError::new(ErrorCode::PreconditionFailed, "changed");
        assert_eq!(for_family(e.clone(), Some(Family::Rfc)).code, ErrorCode::PreconditionFailed);
        assert_eq!(for_family(e, Some(Family::Organization)).code, ErrorCode::VersionConflict);
    }

    #[test]
    fn family_b_maps_scim_types_outside_the_contract() {
        let e = ScimError::new(ErrorCode::NoTarget, "nothing there");
        let b = error_body(&e, Family::Organization);
        assert_eq!(b.scim_type, Some(scim_core::error::ScimType::InvalidValue));
        assert_eq!(b.code, Some(23400));
        assert_eq!(b.more_info.as_deref(), Some("/docs/errors#23400"));
        let a = error_body(&e, Family::Rfc);
        assert_eq!(a.scim_type, Some(scim_core::error::ScimType::NoTarget));
    }

    #[test]
    fn unauthorized_carries_www_authenticate() {
        let r = render(ScimError::new(ErrorCode::MissingCredential, "no"), "https://d", None);
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert!(r.headers().contains_key(header::WWW_AUTHENTICATE));
        assert_eq!(r.headers()[header::CONTENT_TYPE], SCIM_JSON);
    }
}
