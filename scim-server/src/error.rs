//! The one error type of the HTTP layer and the one place that renders errors.
//!
//! Handlers return [`ApiError`]; it renders through [`ScimError::to_body`] with the
//! request's [`RenderCtx`]: the docs base (the configured `docs_base`, else the service's
//! own `/docs` on its public base URL, see [`crate::mount::docs_base`]), the route family
//! and the `error_body_codes` setting. The body follows the family: on `/scim/v2` (and
//! outside both families) exactly the RFC 7644 3.12 members, on `/Organizations/{sid}/scim`
//! Twilio's body with `code` and `moreInfo`, a `scimType` that contract allows (see
//! [`crate::profile::scim_type`]) and `PreconditionFailed` answered as 409
//! `VersionConflict`. Every error carries its code's documentation in a `Link: <...>;
//! rel="help"` header (RFC 8288), and the status-specific headers (`WWW-Authenticate` on
//! 401, `Retry-After` on 429/503). axum's `IntoResponse` takes no argument, so an
//! [`ApiError`] becomes a response that carries the error itself ([`Unrendered`], with a
//! plain RFC body for a response that never reaches the edge), and the service's edge
//! renders it with the request's context ([`finish`]); code that needs the rendered body
//! before the edge (idempotency records, bulk results) takes the [`RenderCtx`] from the
//! request, where the edge put it. Error responses that did not come from here (axum
//! rejections, tower-http layers) are rewritten into SCIM errors by the edge too, so every
//! error is SCIM JSON.

use crate::mount::Family;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use scim_core::error::ErrorBody;
use scim_core::{ErrorCode, ScimError};
use scim_store::StoreError;
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

/// What rendering an error needs to know about the request, set per request by the edge.
#[derive(Debug, Clone)]
pub struct RenderCtx {
    /// `scheme://authority` of the service as this request's client sees it
    /// ([`crate::mount::origin_of`]; empty outside a request), which the request's
    /// `meta.location` URLs start with too.
    pub origin: Arc<str>,
    /// The configured base of the documentation links, if any; else they point to the
    /// service's own [`DOCS_PATH`](crate::config::DOCS_PATH) on [`RenderCtx::origin`].
    pub docs_base: Option<Arc<str>>,
    /// The route family the request came through, when it came through one.
    pub family: Option<Family>,
    /// Whether family A bodies carry `code` and `moreInfo` too (`error_body_codes`).
    pub codes_in_body: bool,
}

impl RenderCtx {
    /// Outside any request: relative links to [`DOCS_PATH`](crate::config::DOCS_PATH), no
    /// family, RFC bodies.
    pub fn fallback() -> Self {
        Self { origin: Arc::from(""), docs_base: None, family: None, codes_in_body: false }
    }

    /// Base of the documentation links (`{docs_base}/errors#{code}`), written only when an
    /// error is rendered (most requests never need it).
    pub fn docs_base(&self) -> std::borrow::Cow<'_, str> {
        crate::mount::docs_base_of(self.docs_base.as_deref(), &self.origin)
    }

    /// The same context for a request known to belong to `family`.
    pub fn with_family(&self, family: Option<Family>) -> Self {
        Self { family, ..self.clone() }
    }

    /// The documentation link of `code`.
    pub fn help_link(&self, code: u32) -> String {
        format!("{}/errors#{code}", self.docs_base().trim_end_matches('/'))
    }
}

/// Marker in a response's extensions: an [`ApiError`] the edge has yet to render with the
/// request's context.
#[derive(Debug, Clone)]
pub(crate) struct Unrendered(ScimError);

/// Renders a response that is still an [`Unrendered`] error with `ctx`, keeping the headers
/// its handler set beside the error's own; any other response is returned as it is.
pub(crate) fn finish(mut res: Response, ctx: &RenderCtx) -> Response {
    let Some(Unrendered(e)) = res.extensions_mut().remove::<Unrendered>() else { return res };
    let mut out = render(e, ctx);
    let mut headers = std::mem::take(res.headers_mut());
    // The length was the placeholder body's.
    headers.remove(header::CONTENT_LENGTH);
    let mut name = None;
    for (n, value) in headers {
        name = n.or(name);
        if let Some(n) = &name
            && !out.headers().contains_key(n)
        {
            out.headers_mut().append(n.clone(), value);
        }
    }
    out
}

/// Applies the family's error rules: family B reports a failed precondition as a 409
/// version conflict (Twilio's contract), family A as 412 (RFC 7644 3.14).
pub fn for_family(e: ScimError, family: Option<Family>) -> ScimError {
    match (e.code, family) {
        (ErrorCode::PreconditionFailed, Some(Family::Organization)) => {
            ScimError::new(ErrorCode::VersionConflict, e.detail)
        }
        _ => e,
    }
}

/// The wire body of an error as the request of `ctx` renders it (for bodies nested in
/// other documents, such as bulk operation responses).
pub fn error_body(e: &ScimError, ctx: &RenderCtx) -> ErrorBody {
    body_for(&for_family(e.clone(), ctx.family), ctx)
}

/// The wire body of an error already passed through [`for_family`].
///
/// - Family B (`/Organizations/{sid}/scim`): Twilio's body, with `code` and `moreInfo`, and
///   a `scimType` outside the contract's enum replaced by the closest allowed one (the
///   `code` keeps the distinction).
/// - Everywhere else: exactly the members RFC 7644 3.12 defines (`schemas`, `status`,
///   `scimType`, `detail`), because strict clients refuse unknown members; `code` and
///   `moreInfo` only when `error_body_codes` is on. The `Link` header carries them anyway.
fn body_for(e: &ScimError, ctx: &RenderCtx) -> ErrorBody {
    let mut body = e.to_body(&ctx.docs_base());
    match ctx.family {
        Some(Family::Organization) => {
            body.scim_type = body.scim_type.map(|t| crate::profile::scim_type_for(t, ctx.family));
        }
        _ if ctx.codes_in_body => {}
        _ => {
            body.code = None;
            body.more_info = None;
        }
    }
    body
}

/// Renders an error: SCIM body, status, content type, the `Link` to the code's
/// documentation (RFC 8288, `rel="help"`) and the status-specific headers.
pub fn render(e: ScimError, ctx: &RenderCtx) -> Response {
    let e = for_family(e, ctx.family);
    // One series per error code (a fixed catalogue): which errors clients get, and how often.
    metrics::counter!("scim_errors_total", "code" => e.code.name()).increment(1);
    if e.code == ErrorCode::Internal {
        tracing::error!(request_id = %crate::log::request_id(), detail = %e.detail, "internal error");
    }
    let mut res = response(&e, ctx);
    res.extensions_mut().insert(RenderedError(e.code));
    res
}

/// The response of `e` (already passed through [`for_family`]) under `ctx`.
fn response(e: &ScimError, ctx: &RenderCtx) -> Response {
    let status = e.status();
    let body = serde_json::to_vec(&body_for(e, ctx)).unwrap_or_else(|_| {
        // Serialising a struct of strings cannot fail; keep a valid body regardless.
        br#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"500"}"#.to_vec()
    });
    let mut res = (status, body).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
    if let Ok(link) =
        HeaderValue::try_from(format!("<{}>; rel=\"help\"", ctx.help_link(e.code.code())))
    {
        h.insert(header::LINK, link);
    }
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
    res
}

impl IntoResponse for ApiError {
    /// An RFC 7644 body with relative documentation links, and the error itself for the
    /// edge, which renders it again for the request's family and docs base ([`finish`]).
    fn into_response(self) -> Response {
        let mut res = response(&self.0, &RenderCtx::fallback());
        res.extensions_mut().insert(Unrendered(self.0));
        res
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
        let ctx = RenderCtx::fallback();
        let b = error_body(&e, &ctx.with_family(Some(Family::Organization)));
        assert_eq!(b.scim_type, Some(scim_core::error::ScimType::InvalidValue));
        assert_eq!(b.code, Some(23400));
        assert_eq!(b.more_info.as_deref(), Some("/docs/errors#23400"));
        let a = error_body(&e, &ctx.with_family(Some(Family::Rfc)));
        assert_eq!(a.scim_type, Some(scim_core::error::ScimType::NoTarget));
        assert_eq!((a.code, a.more_info), (None, None));
    }

    #[test]
    fn family_a_bodies_carry_codes_only_when_configured() {
        let e = ScimError::new(ErrorCode::NoTarget, "nothing there");
        let ctx = RenderCtx {
            origin: Arc::from("http://o"),
            docs_base: Some(Arc::from("https://d/")),
            family: Some(Family::Rfc),
            codes_in_body: true,
        };
        let a = body_for(&e, &ctx);
        assert_eq!(a.code, Some(23400));
        assert_eq!(a.more_info.as_deref(), Some("https://d/errors#23400"));
        let none = body_for(&e, &RenderCtx { codes_in_body: false, ..ctx });
        assert_eq!((none.code, none.more_info), (None, None));
    }

    #[tokio::test]
    async fn the_edge_renders_an_api_error_for_the_requests_family() {
        let mut res = ApiError::new(ErrorCode::PreconditionFailed, "changed").into_response();
        // Without the edge: an RFC body with relative links.
        assert_eq!(res.status(), StatusCode::PRECONDITION_FAILED);
        res.headers_mut().insert(header::ETAG, HeaderValue::from_static("W/\"3\""));
        let ctx = RenderCtx {
            origin: Arc::from("http://o"),
            docs_base: Some(Arc::from("https://d")),
            family: Some(Family::Organization),
            codes_in_body: false,
        };
        let out = finish(res, &ctx);
        assert_eq!(out.status(), StatusCode::CONFLICT);
        assert_eq!(
            out.extensions().get::<RenderedError>(),
            Some(&RenderedError(ErrorCode::VersionConflict))
        );
        assert!(out.extensions().get::<Unrendered>().is_none());
        assert_eq!(out.headers()[header::ETAG], "W/\"3\"");
        assert!(out.headers().get(header::CONTENT_LENGTH).is_none());
        let body = axum::body::to_bytes(out.into_body(), 4096).await.unwrap_or_default();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let code = ErrorCode::VersionConflict.code();
        assert_eq!(body["moreInfo"], format!("https://d/errors#{code}"));
        assert_eq!(body["status"], "409");
    }

    #[test]
    fn unauthorized_carries_www_authenticate_and_the_help_link() {
        let ctx = RenderCtx {
            origin: Arc::from("http://o"),
            docs_base: Some(Arc::from("https://d")),
            family: None,
            codes_in_body: false,
        };
        let r = render(ScimError::new(ErrorCode::MissingCredential, "no"), &ctx);
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert!(r.headers().contains_key(header::WWW_AUTHENTICATE));
        assert_eq!(r.headers()[header::CONTENT_TYPE], SCIM_JSON);
        let code = ErrorCode::MissingCredential.code();
        assert_eq!(r.headers()[header::LINK], format!("<https://d/errors#{code}>; rel=\"help\""));
    }
}
