//! The pieces of the service's edge (assembled into one service in `front`): request ids,
//! CORS, the tracking header and request-head limits, `Accept` negotiation, the rewriting
//! of non-SCIM error responses, the fallbacks, and the per-route request metrics
//! ([`TrackLayer`]).

use crate::error::{ApiError, RenderCtx, render};
use crate::mount::Mount;
use axum::extract::{MatchedPath, Request};
use axum::response::Response;
use futures::future::BoxFuture;
use http::{HeaderName, HeaderValue, Method, StatusCode, header};
use scim_core::{ErrorCode, ScimError};
use std::convert::Infallible;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tower_http::cors::{AllowHeaders, AllowOrigin, Any, CorsLayer};

/// `X-Request-Id`.
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// `Zuora-Track-Id`.
pub static ZUORA_TRACK_ID: HeaderName = HeaderName::from_static("zuora-track-id");

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

pub(crate) fn cors(origins: &[String]) -> CorsLayer {
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

/// The request head's limits: total header size (431) and number of query parameters
/// (400). hyper refuses heads over twice the header limit before they get here.
pub(crate) fn check_head(req: &Request, config: &crate::config::Config) -> Option<ScimError> {
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
pub(crate) async fn scim_error_from(res: Response, ctx: &RenderCtx) -> Response {
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

/// Fallback for paths no route matches.
pub async fn unknown_route(req: Request) -> ApiError {
    let path = req.uri().path();
    let shown = path.chars().take(200).collect::<String>();
    let literal = req
        .extensions()
        .get::<crate::mount::Mount>()
        .is_some_and(|m| m.family == crate::mount::Family::Organization);
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

/// Records request count and latency by method, route template, family and status: the
/// layer over every route of both routers, where the route template is known.
#[derive(Clone, Copy, Debug, Default)]
pub struct TrackLayer;

impl<S> tower::Layer<S> for TrackLayer {
    type Service = Track<S>;

    fn layer(&self, inner: S) -> Track<S> {
        Track(inner)
    }
}

/// See [`TrackLayer`].
#[derive(Clone, Debug)]
pub struct Track<S>(S);

impl<S> tower::Service<Request> for Track<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let start = Instant::now();
        let method = method_label(req.method());
        let route = req.extensions().get::<MatchedPath>().cloned();
        let family = req.extensions().get::<Mount>().map(|m| m.family.label()).unwrap_or("none");
        let fut = self.0.call(req);
        Box::pin(async move {
            let res = fut.await?;
            let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
            record(method, route, family, res.status(), start);
            Ok(res)
        })
    }
}

/// Counts a request answered with `status` and records its latency since `start`, under
/// its method (see [`method_label`]), route template and family labels.
pub(crate) fn record(
    method: &'static str,
    route: &str,
    family: &'static str,
    status: StatusCode,
    start: Instant,
) {
    SERIES.with_borrow_mut(|series| {
        if let Some((latency, count)) = series.handles(method, route, family, status.as_u16()) {
            latency.record(start.elapsed().as_secs_f64());
            count.increment(1);
        }
    });
}

/// The method's metric label: the methods of HTTP and of this service by name, any other
/// `OTHER`, so that made-up methods cannot add series without bound.
pub(crate) fn method_label(method: &Method) -> &'static str {
    const KNOWN: [&str; 9] =
        ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE", "CONNECT"];
    KNOWN.into_iter().find(|m| *m == method.as_str()).unwrap_or("OTHER")
}

/// A latency histogram and a request counter of one label set.
type Handles = (metrics::Histogram, metrics::Counter);

/// The metric handles of the label sets a thread has seen, so a request costs two map
/// lookups instead of building and registering its label strings. The sets are bounded:
/// methods by [`method_label`], routes by the route templates, statuses by what the
/// service answers.
#[derive(Default)]
struct Series(std::collections::HashMap<Box<str>, Vec<LabelSet>>);

/// The method, family and status labels of a route's series, and its handles.
type LabelSet = (&'static str, &'static str, u16, Handles);

thread_local! {
    static SERIES: std::cell::RefCell<Series> = std::cell::RefCell::default();
}

impl Series {
    fn handles(
        &mut self,
        method: &'static str,
        route: &str,
        family: &'static str,
        status: u16,
    ) -> Option<&Handles> {
        if !self.0.contains_key(route) {
            self.0.insert(route.into(), Vec::new());
        }
        let sets = self.0.get_mut(route)?;
        let this = |(m, f, s, _): &&(_, _, u16, _)| (*m, *f, *s) == (method, family, status);
        if !sets.iter().any(|set| this(&set)) {
            let mut labels = vec![
                ("method", method.to_owned()),
                ("route", route.to_owned()),
                ("family", family.to_owned()),
            ];
            let latency = metrics::histogram!("scim_http_request_duration_seconds", &labels);
            labels.push(("status", status.to_string()));
            let count = metrics::counter!("scim_http_requests_total", &labels);
            sets.push((method, family, status, (latency, count)));
        }
        sets.iter().find(this).map(|(_, _, _, handles)| handles)
    }
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
    fn made_up_methods_share_one_metric_label() {
        assert_eq!(method_label(&Method::PATCH), "PATCH");
        assert_eq!(method_label(&Method::from_bytes(b"BREW").unwrap()), "OTHER");
        assert_eq!(method_label(&Method::from_bytes(b"BREW2").unwrap()), "OTHER");
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
