//! The layers around every route (`docs/http.md`), outermost first:
//! request id (echo or generate, also set on the response) and access log (see
//! [`crate::log`]) -> CORS -> gzip response compression -> the SCIM edge (tracking header, early
//! 413, media type of responses, every error as SCIM JSON) -> gzip request decompression
//! -> panic catcher (SCIM 500) -> request timeout (SCIM 503).

use crate::app::AppState;
use crate::context::Mount;
use crate::error::{ApiError, RenderCtx, RenderedError, SCIM_JSON, render};
use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderName, HeaderValue, Method, StatusCode, header};
use scim_core::{ErrorCode, ScimError};
use std::time::{Duration, Instant};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{NotForContentType, Predicate, SizeAbove};
use tower_http::cors::{AllowHeaders, AllowOrigin, Any, CorsLayer};
use tower_http::decompression::RequestDecompressionLayer;

/// `X-Request-Id`.
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// `Zuora-Track-Id`.
pub static ZUORA_TRACK_ID: HeaderName = HeaderName::from_static("zuora-track-id");

/// Wraps `router` in every layer of the service.
pub fn layers(router: Router, state: &AppState) -> Router {
    // The panic catcher runs inside the edge, so the request's docs base is in scope.
    let on_panic = move |_: Box<dyn std::any::Any + Send + 'static>| {
        render(
            ScimError::new(
                ErrorCode::Internal,
                "internal error; the request id identifies it in the log",
            ),
            &crate::error::current(),
        )
    };
    let compress_when = SizeAbove::new(1000)
        .and(NotForContentType::GRPC)
        .and(NotForContentType::IMAGES)
        .and(NotForContentType::SSE);
    router.layer(
        ServiceBuilder::new()
            .layer(axum::middleware::from_fn(crate::log::access_log))
            .layer(cors(&state.config.cors_origins))
            .layer(
                CompressionLayer::new()
                    .gzip(true)
                    .no_br()
                    .no_deflate()
                    .no_zstd()
                    .compress_when(compress_when),
            )
            .layer(axum::middleware::from_fn_with_state(state.clone(), edge))
            .layer(RequestDecompressionLayer::new().gzip(true).no_br().no_deflate().no_zstd())
            .map_request(|req: http::Request<_>| req.map(axum::body::Body::new))
            .layer(CatchPanicLayer::custom(on_panic))
            .layer(axum::middleware::from_fn_with_state(state.clone(), timeout)),
    )
}

/// The request's `X-Request-Id`: the client's when it is 1 to 128 visible ASCII
/// characters (it is echoed and written into every log line), else a new one.
pub(crate) fn request_id(headers: &http::HeaderMap) -> HeaderValue {
    match headers.get(&X_REQUEST_ID) {
        Some(v)
            if !v.as_bytes().is_empty()
                && v.as_bytes().len() <= 128
                && v.as_bytes().iter().all(u8::is_ascii_graphic) =>
        {
            v.clone()
        }
        _ => new_request_id(),
    }
}

/// A new request id: 32 lowercase hex digits from the OS CSPRNG, drawn 64 ids at a time
/// per thread (one `getrandom` call per 64 requests instead of one each).
fn new_request_id() -> HeaderValue {
    use std::cell::RefCell;
    const BATCH: usize = 64;
    thread_local! {
        static POOL: RefCell<(Vec<u8>, usize)> = const { RefCell::new((Vec::new(), 0)) };
    }
    let mut id = [0u8; 16];
    POOL.with(|pool| {
        let mut pool = pool.borrow_mut();
        let (bytes, used) = &mut *pool;
        if *used == 0 || *used >= bytes.len() {
            bytes.resize(16 * BATCH, 0);
            if getrandom::fill(bytes).is_err() {
                bytes.clear();
            }
            *used = 0;
        }
        if let Some(chunk) = bytes.get(*used..*used + 16) {
            id.copy_from_slice(chunk);
            *used += 16;
        }
    });
    // `hex` only ever writes [0-9a-f], always a valid header value.
    HeaderValue::from_str(&hex::encode(id)).unwrap_or_else(|_| HeaderValue::from_static("-"))
}

fn cors(origins: &[String]) -> CorsLayer {
    let methods =
        [Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE, Method::HEAD];
    let expose = [
        header::ETAG,
        header::LOCATION,
        X_REQUEST_ID.clone(),
        header::RETRY_AFTER,
        header::LINK,
        ZUORA_TRACK_ID.clone(),
        HeaderName::from_static("idempotent-replayed"),
    ];
    let base = CorsLayer::new()
        .allow_methods(methods)
        .expose_headers(expose)
        .max_age(Duration::from_secs(600));
    let explicit: Vec<HeaderValue> = origins
        .iter()
        .filter(|o| *o != "*")
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    if explicit.is_empty() {
        // Any origin, never with credentials: SCIM credentials are bearer headers. The
        // requested headers are mirrored because a `*` never covers `Authorization`.
        base.allow_origin(Any).allow_headers(AllowHeaders::mirror_request())
    } else {
        let headers = [
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            header::CONTENT_ENCODING,
            header::IF_MATCH,
            header::IF_NONE_MATCH,
            HeaderName::from_static("idempotency-key"),
            X_REQUEST_ID.clone(),
            ZUORA_TRACK_ID.clone(),
            HeaderName::from_static("scim-organization"),
            HeaderName::from_static("zuora-entity-ids"),
        ];
        base.allow_origin(AllowOrigin::list(explicit))
            .allow_headers(headers)
            .allow_credentials(true)
    }
}

/// Why a `Zuora-Track-Id` is rejected, if it is: it must be US-ASCII, at most 64
/// characters, without `:` `;` `"` `'` (else 400, code 28400).
pub fn check_track_id(value: &[u8]) -> Result<(), &'static str> {
    if !value.is_ascii() {
        return Err("Zuora-Track-Id must be US-ASCII");
    }
    if value.len() > 64 {
        return Err("Zuora-Track-Id must be at most 64 characters");
    }
    if value.iter().any(|b| matches!(b, b':' | b';' | b'"' | b'\'')) {
        return Err("Zuora-Track-Id must not contain : ; \" or '");
    }
    Ok(())
}

/// The SCIM edge: works out the request's docs base (the configured one, else this
/// service's own `/docs` as the client addresses it) and scopes it for every error rendered
/// below, checks the tracking header and the declared body size, then makes sure the
/// response is right: any error becomes SCIM JSON, the media type follows `Accept`, and
/// `Zuora-Track-Id` is echoed.
async fn edge(State(state): State<AppState>, req: Request, next: Next) -> Response {
    // The family is known from the path alone, so that errors rendered before the route
    // (a bad tracking header, a body over the limit, an unknown route) have its shape too.
    let ctx = RenderCtx {
        docs_base: std::sync::Arc::from(crate::context::docs_base(req.headers(), &state.config)),
        family: Mount::split(req.uri().path()).map(|(m, _)| m.family),
        codes_in_body: state.config.error_body_codes,
    };
    let track = req.headers().get(&ZUORA_TRACK_ID).cloned();
    if let Some(t) = &track
        && let Err(why) = check_track_id(t.as_bytes())
    {
        return render(ScimError::new(ErrorCode::InvalidTrackingHeader, why), &ctx);
    }
    if let Some(e) = check_head(&req, &state.config) {
        return render(e, &ctx);
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > state.config.max_body_bytes as u64) {
        return render(crate::body::too_large(state.config.max_body_bytes).0, &ctx);
    }
    let plain_json = accepts_only_plain_json(req.headers().get(header::ACCEPT));
    let mut res = crate::error::scope(ctx.clone(), next.run(req)).await;
    if res.status().as_u16() >= 400
        && res.extensions().get::<RenderedError>().is_none()
        && res.extensions().get::<crate::oauth::OAuthResponse>().is_none()
    {
        res = scim_error_from(res, &ctx).await;
    }
    if plain_json && res.headers().get(header::CONTENT_TYPE).is_some_and(|v| v == SCIM_JSON) {
        res.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    if let Some(t) = track {
        res.headers_mut().insert(ZUORA_TRACK_ID.clone(), t);
    }
    res
}

/// The request head's limits: total header size (431) and number of query parameters
/// (400). hyper refuses heads over twice the header limit before they get here.
fn check_head(req: &Request, config: &crate::config::Config) -> Option<ScimError> {
    let uri_len = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    // Each header as it travels: "name: value\r\n".
    let header_bytes: usize =
        req.headers().iter().map(|(n, v)| n.as_str().len() + v.as_bytes().len() + 4).sum();
    if uri_len + header_bytes > config.max_header_bytes {
        return Some(ScimError::new(
            ErrorCode::HeadersTooLarge,
            format!(
                "the request line and headers are {} bytes, over the limit of {}",
                uri_len + header_bytes,
                config.max_header_bytes
            ),
        ));
    }
    let params = req.uri().query().map_or(0, |q| q.split('&').filter(|p| !p.is_empty()).count());
    if params > config.max_query_params {
        return Some(ScimError::new(
            ErrorCode::TooManyParameters,
            format!(
                "the query string has {params} parameters, over the limit of {}",
                config.max_query_params
            ),
        ));
    }
    None
}

/// Whether `Accept` admits `application/json` but not `application/scim+json` (nor a
/// wildcard that covers it).
pub fn accepts_only_plain_json(accept: Option<&HeaderValue>) -> bool {
    let Some(accept) = accept.and_then(|v| v.to_str().ok()) else { return false };
    let mut json = false;
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let essence = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let refused = parts.any(|p| {
            let p = p.trim().replace(' ', "");
            p == "q=0" || p == "q=0.0" || p == "q=0.00" || p == "q=0.000"
        });
        if refused {
            continue;
        }
        match essence.as_str() {
            "application/scim+json" | "*/*" | "application/*" => return false,
            "application/json" => json = true,
            _ => {}
        }
    }
    json
}

/// Rewrites an error response that did not come from [`ApiError`] (axum rejections,
/// tower-http layers) into a SCIM error with the same status.
async fn scim_error_from(res: Response, ctx: &RenderCtx) -> Response {
    let status = res.status();
    let code = match status {
        StatusCode::NOT_FOUND => ErrorCode::UnknownRoute,
        StatusCode::METHOD_NOT_ALLOWED => ErrorCode::MethodNotAllowed,
        StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorCode::UnsupportedMediaType,
        StatusCode::UNAUTHORIZED => ErrorCode::InvalidCredential,
        StatusCode::FORBIDDEN => ErrorCode::InsufficientScope,
        StatusCode::CONFLICT => ErrorCode::Uniqueness,
        StatusCode::PRECONDITION_FAILED => ErrorCode::PreconditionFailed,
        StatusCode::UNPROCESSABLE_ENTITY | StatusCode::BAD_REQUEST => ErrorCode::InvalidSyntax,
        StatusCode::TOO_MANY_REQUESTS => ErrorCode::RateLimited,
        StatusCode::REQUEST_TIMEOUT | StatusCode::GATEWAY_TIMEOUT => ErrorCode::Timeout,
        StatusCode::NOT_IMPLEMENTED => ErrorCode::NotImplemented,
        StatusCode::SERVICE_UNAVAILABLE => ErrorCode::Unavailable,
        s if s.is_client_error() => ErrorCode::InvalidSyntax,
        _ => ErrorCode::Internal,
    };
    // A 4xx from an axum extractor carries a short plain-text reason worth keeping; a 5xx
    // body is never passed on.
    let is_text = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("text/plain"));
    let allow = res.headers().get(header::ALLOW).cloned();
    let mut detail = default_detail(code).to_owned();
    if status.is_client_error()
        && is_text
        && let Ok(bytes) = axum::body::to_bytes(res.into_body(), 2048).await
    {
        let text = String::from_utf8_lossy(&bytes).trim().to_owned();
        if !text.is_empty() {
            detail = text;
        }
    }
    let mut out = render(ScimError::new(code, detail), ctx);
    if let Some(allow) = allow {
        out.headers_mut().insert(header::ALLOW, allow);
    }
    out
}

fn default_detail(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::UnknownRoute => "no route matches this path",
        ErrorCode::MethodNotAllowed => "this route does not support the method",
        ErrorCode::PayloadTooLarge => "the request body is over the limit",
        ErrorCode::UnsupportedMediaType => {
            "unsupported media type: use application/scim+json or application/json"
        }
        ErrorCode::Timeout => "the request took too long",
        ErrorCode::Unavailable => "the service is unavailable; retry later",
        ErrorCode::Internal => "internal error; the request id identifies it in the log",
        _ => "the request was rejected",
    }
}

/// Answers requests that take longer than the configured timeout with 503.
async fn timeout(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let limit = state.config.request_timeout();
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(res) => res,
        Err(_) => ApiError::new(
            ErrorCode::Timeout,
            format!("the request took longer than {} s", limit.as_secs()),
        )
        .into_response(),
    }
}

/// Fallback for paths no route matches.
pub async fn unknown_route(req: Request) -> ApiError {
    let path = req.uri().path();
    let shown = path.chars().take(200).collect::<String>();
    let literal = req
        .extensions()
        .get::<crate::context::Mount>()
        .is_some_and(|m| m.family == crate::context::Family::Organization);
    if literal && path.len() > 1 && path.ends_with('/') {
        return ApiError::new(
            ErrorCode::UnknownRoute,
            format!(
                "no route matches {shown}: the organization-scoped routes take no trailing \
                 slash, and an empty id names no resource"
            ),
        );
    }
    ApiError::new(ErrorCode::UnknownRoute, format!("no route matches {shown}"))
}

/// Fallback for a known path with a method it does not support.
pub async fn method_not_allowed(req: Request) -> ApiError {
    ApiError::new(ErrorCode::MethodNotAllowed, format!("{} is not supported here", req.method()))
}

/// Records request count and latency by method, route template, family and status.
pub async fn track(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().as_str().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let family = req.extensions().get::<Mount>().map(|m| m.family.label()).unwrap_or("none");
    let res = next.run(req).await;
    let status = res.status().as_u16().to_string();
    let labels = [("method", method), ("route", route), ("family", family.to_owned())];
    metrics::histogram!("scim_http_request_duration_seconds", &labels)
        .record(start.elapsed().as_secs_f64());
    let [m, r, f] = labels;
    metrics::counter!("scim_http_requests_total", &[m, r, f, ("status", status)]).increment(1);
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_request_ids_are_distinct_across_batches() {
        let ids: std::collections::HashSet<String> =
            (0..300).map(|_| new_request_id().to_str().unwrap().to_owned()).collect();
        assert_eq!(ids.len(), 300);
        assert!(ids.iter().all(|i| i.len() == 32 && i.bytes().all(|b| b.is_ascii_hexdigit())));
    }

    #[test]
    fn track_ids() {
        assert!(check_track_id(b"abc-123").is_ok());
        assert!(check_track_id(&[b'a'; 64]).is_ok());
        assert!(check_track_id(&[b'a'; 65]).is_err());
        assert!(check_track_id(b"a:b").is_err());
        assert!(check_track_id(b"a;b").is_err());
        assert!(check_track_id(b"a\"b").is_err());
        assert!(check_track_id(b"a'b").is_err());
        assert!(check_track_id("é".as_bytes()).is_err());
    }

    #[test]
    fn accept_negotiation() {
        let h = |s: &'static str| Some(HeaderValue::from_static(s));
        assert!(accepts_only_plain_json(h("application/json").as_ref()));
        assert!(!accepts_only_plain_json(h("application/scim+json").as_ref()));
        assert!(!accepts_only_plain_json(h("application/json, */*").as_ref()));
        assert!(!accepts_only_plain_json(None));
        assert!(accepts_only_plain_json(h("application/json, application/scim+json;q=0").as_ref()));
    }
}
