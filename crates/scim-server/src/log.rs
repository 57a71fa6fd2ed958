//! The access log: one line per request, written when its response is ready, and the
//! request id for every other line a request writes.
//!
//! The line carries `request_id`, `method`, `path`, `status`, `latency_ms` and, once the
//! credential has named one, `org`. Other events a request logs (store errors, internal
//! errors) name the request with [`request_id`]. A `request` span with the same fields
//! exists at `debug` level, for operators who want every line of a request grouped
//! (`--log-level debug`); at the default level it costs nothing.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use http::HeaderValue;
use scim_core::sid::OrganizationSid;
use std::cell::Cell;
use std::time::Instant;
use tracing::Instrument;

/// What a request's log line needs to know beyond its request and response.
struct LogCtx {
    request_id: Option<HeaderValue>,
    org: Cell<Option<OrganizationSid>>,
}

tokio::task_local! {
    static LOG: LogCtx;
}

/// The id of the request being served (`-` outside of one).
pub fn request_id() -> String {
    LOG.try_with(|l| l.request_id.as_ref().and_then(|v| v.to_str().ok()).unwrap_or("-").to_owned())
        .unwrap_or_else(|_| "-".to_owned())
}

/// Records the organization the request acts on, for its log line.
pub fn set_org(org: OrganizationSid) {
    let _ = LOG.try_with(|l| l.org.set(Some(org)));
}

/// The middleware: runs the request in its log scope and writes its line. It also gives every request its `X-Request-Id` (see [`crate::middleware::request_id`])
/// and every response the same one.
pub async fn access_log(mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let id_value = crate::middleware::request_id(req.headers());
    req.headers_mut().insert(crate::middleware::X_REQUEST_ID.clone(), id_value.clone());
    let request_id = Some(id_value);
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let id = || request_id.as_ref().and_then(|v| v.to_str().ok()).unwrap_or("-");
    let span = tracing::debug_span!("request", request_id = %id(), method = %method, path = %path);
    let ctx = LogCtx { request_id: request_id.clone(), org: Cell::new(None) };
    let mut fut = std::pin::pin!(LOG.scope(ctx, next.run(req).instrument(span)));
    let mut res = (&mut fut).await;
    let org = fut.as_mut().take_value().and_then(|c| c.org.get());
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let status = res.status().as_u16();
    match org {
        Some(org) => tracing::info!(
            target: "scim_server::access",
            request_id = %id(), method = %method, path = %path, status, latency_ms, %org,
            "request"
        ),
        None => tracing::info!(
            target: "scim_server::access",
            request_id = %id(), method = %method, path = %path, status, latency_ms,
            "request"
        ),
    }
    if let Some(v) = &request_id {
        res.headers_mut().insert(crate::middleware::X_REQUEST_ID.clone(), v.clone());
    }
    res
}
