//! The service in front of every route, written by hand so that a request crosses it in
//! one pass, without cloning or boxing the layers below it (what `axum::middleware::from_fn`
//! and a `Router`'s `layer` do on every request).
//!
//! Outermost first (`docs/http.md`):
//! 1. [`Logged`]: the request id (echoed, or generated) and the access line (see
//!    [`crate::log`]);
//! 2. CORS and gzip response compression (tower-http);
//! 3. [`Guard`], the SCIM edge: the route family and the docs base for every error rendered
//!    below it, the tracking header and request-head limits, the declared body size; then
//!    request decompression (only for a request that declares a `Content-Encoding`), the
//!    panic catcher (SCIM 500) and the request timeout (SCIM 503) around the dispatch to the
//!    family or the operational router; on the way out every error becomes SCIM JSON, the
//!    media type follows `Accept`, and `Zuora-Track-Id` is echoed.
//!
//! [`Stack`] is the whole, as a `tower::Service`: the binary's listener serves it one
//! instance per connection ([`PerConnection`]); [`crate::router`] mounts it in an axum
//! `Router` for tests and for products that embed the service.

use crate::error::{self, ApiError, RenderCtx, RenderedError, SCIM_JSON, render};
use crate::middleware::{
    X_REQUEST_ID, ZUORA_TRACK_ID, accepts_only_plain_json, check_head, check_track_id, request_id,
    scim_error_from,
};
use crate::mount::Mount;
use crate::state::AppState;
use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use futures::FutureExt;
use futures::future::BoxFuture;
use http::{HeaderValue, header};
use scim_core::{ErrorCode, ScimError};
use std::convert::Infallible;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::{Layer as _, Service, ServiceExt};
use tower_http::compression::Compression;
use tower_http::compression::predicate::{And, NotForContentType, Predicate as _, SizeAbove};
use tower_http::cors::Cors;
use tower_http::decompression::RequestDecompression;

/// When a response is worth compressing.
type CompressWhen =
    And<And<And<SizeAbove, NotForContentType>, NotForContentType>, NotForContentType>;

/// Every layer of the service, outermost first.
pub type Stack = Logged<Cors<Compression<Guard, CompressWhen>>>;

/// The whole service over `state`: the family-relative routes in `family`, the operational
/// ones in `ops`; `hot` when `family` holds the resource routes (`crate::handlers::routes`),
/// whose hot ones are then served without the router ([`crate::handlers::hot`]).
pub(crate) fn stack(state: &AppState, family: Router, ops: Router, hot: bool) -> Stack {
    wrap(state, Inner { state: state.clone(), family, ops, nested: false, hot })
}

/// The whole service over the family-relative routes `family` (the resource routes among
/// them), for a router nested in a product's application: every request is family A's,
/// below the mount point.
pub(crate) fn nested_stack(state: &AppState, family: Router) -> Stack {
    let ops = Router::new();
    wrap(state, Inner { state: state.clone(), family, ops, nested: true, hot: true })
}

fn wrap(state: &AppState, inner: Inner) -> Stack {
    let compress_when = SizeAbove::new(1000)
        .and(NotForContentType::GRPC)
        .and(NotForContentType::IMAGES)
        .and(NotForContentType::SSE);
    let guard = Guard(Arc::new(inner));
    let compression = Compression::new(guard)
        .gzip(true)
        .no_br()
        .no_deflate()
        .no_zstd()
        .compress_when(compress_when);
    Logged {
        inner: crate::middleware::cors(&state.config.cors_origins).layer(compression),
        requests: state.console.as_ref().map(|c| c.requests.clone()),
    }
}

/// Every layer of the service around `routes`, which serve both the families' paths (with
/// the family's prefix stripped) and the others: for a product's own routes, and for tests.
pub fn layers(routes: Router, state: &AppState) -> Router {
    Router::new().fallback_service(stack(state, routes.clone(), routes, false))
}

// ---------------------------------------------------------------------------------------

/// The access log's layer: gives every request its `X-Request-Id` (and the response the
/// same), runs the request in its log scope and writes its line.
#[derive(Clone, Debug)]
pub struct Logged<S> {
    inner: S,
    /// The console's request log, when the console is on.
    requests: Option<Arc<crate::operator::reqlog::RequestLog>>,
}

impl<S, B> Service<Request> for Logged<S>
where
    S: Service<Request, Response = http::Response<B>, Error = Infallible>,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = http::Response<B>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<http::Response<B>, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let id = request_id(req.headers());
        req.headers_mut().insert(X_REQUEST_ID.clone(), id.clone());
        let rid = id.to_str().ok().map(str::to_owned);
        let requests = self.requests.clone();
        let line = crate::log::Started::new(&req, id).keeping_credential(requests.is_some());
        // The change log records the request behind each write (the actor is added once
        // the credential is known, in `RequestCtx`).
        let ctx = scim_store::audit::ChangeContext {
            actor: None,
            request_id: rid,
            method: Some(req.method().as_str().to_owned()),
        };
        let fut = scim_store::audit::scope(ctx, self.inner.call(req));
        Box::pin(async move {
            let (res, mut line) = line.scope(fut).await;
            let mut res = res.unwrap_or_else(|never| match never {});
            line.finish(res.status());
            if let Some(log) = requests {
                crate::operator::reqlog::record(&log, &mut line, &res);
            }
            res.headers_mut().insert(X_REQUEST_ID.clone(), line.into_request_id());
            Ok(res)
        })
    }
}

// ---------------------------------------------------------------------------------------

/// The SCIM edge and the dispatch to the routers (see the module's documentation).
#[derive(Clone, Debug)]
pub struct Guard(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    state: AppState,
    family: Router,
    ops: Router,
    /// Nested in a product's router: every path is family A's, relative to the mount.
    nested: bool,
    /// `family` holds the resource routes: the hot ones are served without it.
    hot: bool,
}

impl Service<Request> for Guard {
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let inner = self.0.clone();
        Box::pin(async move { Ok(inner.serve(req).await) })
    }
}

impl Inner {
    async fn serve(&self, mut req: Request) -> Response {
        let config = &self.state.config;
        let mount =
            if self.nested { Some(nested_mount(&req)) } else { Mount::split(req.uri().path()) };
        // The family is known from the path alone, so that errors rendered before the route
        // (a bad tracking header, a body over the limit, an unknown route) have its shape.
        let ctx = RenderCtx {
            origin: crate::mount::origin_of(req.headers(), config).into(),
            docs_base: config.docs_base.as_deref().map(Arc::from),
            family: mount.as_ref().map(|(m, _)| m.family),
            codes_in_body: config.error_body_codes,
        };
        let track = req.headers().get(&ZUORA_TRACK_ID).cloned();
        if let Some(t) = &track
            && let Err(why) = check_track_id(t.as_bytes())
        {
            return render(ScimError::new(ErrorCode::InvalidTrackingHeader, why), &ctx);
        }
        if let Some(e) = check_head(&req, config) {
            return render(e, &ctx);
        }
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > config.max_body_bytes as u64) {
            return render(crate::body::too_large(config.max_body_bytes).0, &ctx);
        }
        let plain_json = accepts_only_plain_json(req.headers().get(header::ACCEPT));
        // A debug capture (console): while one runs, a SCIM request's body is copied.
        let capture = self.state.console.as_ref().filter(|_| mount.is_some()).and_then(|c| {
            let now = crate::operator::reqlog::now_ms();
            c.captures.any(now).then(|| (c, c.captures.begin(&mut req), now))
        });
        let limit = config.request_timeout();
        // Handlers that render an error inside their own answer take the context from here.
        req.extensions_mut().insert(ctx.clone());
        let work = AssertUnwindSafe(self.dispatch(req, mount)).catch_unwind();
        let mut res = match tokio::time::timeout(limit, work).await {
            Ok(Ok(res)) => error::finish(res, &ctx),
            Ok(Err(_panic)) => render(
                ScimError::new(
                    ErrorCode::Internal,
                    "internal error; the request id identifies it in the log",
                ),
                &ctx,
            ),
            Err(_elapsed) => render(
                ScimError::new(
                    ErrorCode::Timeout,
                    format!("the request took longer than {} s", limit.as_secs()),
                ),
                &ctx,
            ),
        };
        if res.status().as_u16() >= 400
            && res.extensions().get::<RenderedError>().is_none()
            && res.extensions().get::<crate::oauth::OAuthResponse>().is_none()
            && res.extensions().get::<crate::console::Page>().is_none()
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
        if let Some((console, pending, now)) = capture
            && let Some(id) = console.captures.keep(pending, &mut res, now)
        {
            res.extensions_mut().insert(crate::operator::capture::Captured(id));
        }
        res
    }

    /// Hands the request to the family-relative router (its path stripped of the family's
    /// prefix, the [`Mount`] in its extensions) or to the operational router; a request
    /// that declares a `Content-Encoding` is decompressed on the way.
    async fn dispatch(&self, mut req: Request, mount: Option<(Mount, String)>) -> Response {
        let router = match mount {
            None => self.ops.clone(),
            Some((mount, rest)) => {
                let pq = match req.uri().query() {
                    Some(q) => format!("{rest}?{q}"),
                    None => rest,
                };
                match http::Uri::builder().path_and_query(pq).build() {
                    Ok(uri) => *req.uri_mut() = uri,
                    Err(_) => {
                        return ApiError::new(
                            ErrorCode::UnknownRoute,
                            "the request path is malformed",
                        )
                        .into_response();
                    }
                }
                let family = mount.family.label();
                req.extensions_mut().insert(mount);
                if self.hot
                    && !req.headers().contains_key(header::CONTENT_ENCODING)
                    && let Some(hot) = crate::handlers::hot::find(req.method(), req.uri().path())
                {
                    return self.hot(hot, family, req).await;
                }
                self.family.clone()
            }
        };
        let result = if req.headers().contains_key(header::CONTENT_ENCODING) {
            let router = router.map_request(|req: http::Request<_>| req.map(Body::new));
            RequestDecompression::new(router)
                .gzip(true)
                .no_br()
                .no_deflate()
                .no_zstd()
                .oneshot(req)
                .await
                .map(IntoResponse::into_response)
                .map_err(|e| e.to_string())
        } else {
            router.oneshot(req).await.map_err(|never| match never {})
        };
        result.unwrap_or_else(|e| {
            ApiError::new(ErrorCode::InvalidSyntax, format!("the request body: {e}"))
                .into_response()
        })
    }

    /// Serves a request on one of the hot resource routes without the router (see
    /// [`crate::handlers::hot`]), counted in the metrics as the router's layer counts it.
    async fn hot(
        &self,
        hot: crate::handlers::hot::Hot,
        family: &'static str,
        req: Request,
    ) -> Response {
        let start = std::time::Instant::now();
        let method = crate::middleware::method_label(req.method());
        let res = hot.call(req, self.state.clone()).await;
        crate::middleware::record(method, hot.template(), family, res.status(), start);
        res
    }
}

/// The mount of a request to a nested router: family A, its prefix the part of the
/// original path (axum's `OriginalUri`) that the product's router stripped.
fn nested_mount(req: &Request) -> (Mount, String) {
    let path = req.uri().path();
    let original =
        req.extensions().get::<axum::extract::OriginalUri>().map(|o| o.0.path().to_owned());
    let prefix = match original {
        Some(o) if path == "/" => o.trim_end_matches('/').to_owned(),
        Some(o) => o.strip_suffix(path).unwrap_or_default().to_owned(),
        None => String::new(),
    };
    let rest = crate::mount::strip_base(path, "").unwrap_or_else(|| "/".to_owned());
    (Mount { family: crate::mount::Family::Rfc, prefix, org: None }, rest)
}

// ---------------------------------------------------------------------------------------

/// One connection's instance of the [`Stack`], for hyper: hyper serves one request at a
/// time on an HTTP/1.1 connection and calls through a shared reference, so the stack sits
/// in a `RefCell` and is not cloned per request. Every layer of the stack is always ready.
pub struct PerConnection {
    stack: std::cell::RefCell<Stack>,
    /// A copy to serve from should the connection's own be in use (it never is: `call`
    /// only holds it while it builds the request's future).
    spare: Stack,
}

impl std::fmt::Debug for PerConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PerConnection")
    }
}

impl PerConnection {
    /// A connection's service over `stack`.
    pub fn new(stack: Stack) -> Self {
        Self { stack: std::cell::RefCell::new(stack.clone()), spare: stack }
    }
}

impl hyper::service::Service<http::Request<hyper::body::Incoming>> for PerConnection {
    type Response = <Stack as Service<Request>>::Response;
    type Error = Infallible;
    type Future = <Stack as Service<Request>>::Future;

    fn call(&self, req: http::Request<hyper::body::Incoming>) -> Self::Future {
        let req = req.map(Body::new);
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        match self.stack.try_borrow_mut() {
            Ok(mut stack) => {
                // Polled to keep tower's contract; every layer answers Ready at once.
                let _ = stack.poll_ready(&mut cx);
                stack.call(req)
            }
            Err(_) => {
                let mut stack = self.spare.clone();
                let _ = stack.poll_ready(&mut cx);
                stack.call(req)
            }
        }
    }
}
