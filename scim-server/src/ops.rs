//! Operational endpoints outside the route families: `/healthz` (the process is up),
//! `/readyz` (the database answers), `/metrics` (Prometheus text), `/openapi.json`, and the
//! error documentation that `moreInfo` links point to (`/docs/errors`, see [`crate::docs`]).
//! They need no credential: operators expose them to their own network only (the
//! documentation is public text and may be exposed to anyone).

use crate::error::ApiError;
use crate::state::AppState;
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderValue, StatusCode, header};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use scim_core::ErrorCode;
use std::sync::OnceLock;

/// The operational routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .merge(crate::docs::routes())
}

async fn healthz() -> Response {
    json_response(StatusCode::OK, br#"{"status":"ok"}"#.to_vec())
}

/// Ready when the database answers within `database_acquire_timeout_ms` (a load balancer's
/// health check must not hang on a dead database).
async fn readyz(State(state): State<AppState>) -> Result<Response, ApiError> {
    let deadline = std::time::Duration::from_millis(state.config.database_acquire_timeout_ms);
    let why = match tokio::time::timeout(deadline, state.store.ping()).await {
        Ok(Ok(())) => return Ok(json_response(StatusCode::OK, br#"{"status":"ready"}"#.to_vec())),
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!("no answer within {} ms", deadline.as_millis()),
    };
    tracing::warn!(error = %why, "readiness check failed");
    Err(ApiError::new(ErrorCode::Unavailable, "the database is unreachable; retry later"))
}

/// How often the recorded latencies are folded into the histograms.
const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// The process-wide Prometheus recorder, installed on first use (from inside the runtime
/// that serves, so that its upkeep task runs there).
pub fn prometheus() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(&[
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
                ])
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            describe();
            // The exporter keeps each latency sample until it folds them into the
            // histograms' buckets: on a scrape, or in this upkeep. Without it, a server that
            // is never scraped would keep 8 bytes per request forever.
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                let upkept = handle.clone();
                runtime.spawn(async move {
                    let mut tick = tokio::time::interval(UPKEEP_EVERY);
                    loop {
                        tick.tick().await;
                        upkept.run_upkeep();
                    }
                });
            }
            Some(handle)
        })
        .as_ref()
}

/// The HELP text of every metric the service records (`docs/operations.md` lists them),
/// and the build's version as `scim_build_info`.
fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "scim_http_requests_total",
        "HTTP requests answered, by method, route template, family and status"
    );
    describe_histogram!(
        "scim_http_request_duration_seconds",
        Unit::Seconds,
        "Time from a request's head to its answer's head, by method, route template and family"
    );
    describe_counter!(
        "scim_errors_total",
        "SCIM error answers by error code (docs/errors.md), client and server errors alike"
    );
    describe_counter!(
        "scim_rate_limited_total",
        "Requests refused by the per-credential rate limit (429, code 20429)"
    );
    describe_counter!(
        "scim_connections_refused_total",
        "Connections answered 503 and closed because max_connections were open"
    );
    describe_counter!(
        "scim_tls_handshake_failures_total",
        "TLS handshakes that failed or timed out"
    );
    describe_counter!(
        "scim_events_delivered_total",
        "SCIM event SETs delivered: pushed and accepted by the receiver, or handed to a poll"
    );
    describe_counter!(
        "scim_events_delivery_failures_total",
        "Push deliveries that failed (the stream is retried with backoff)"
    );
    describe_gauge!(
        "scim_events_pending",
        "Changes an event stream has not delivered yet (acknowledged, for a poll stream), \
         by stream, counted up to 10000; refreshed at least every 10 s"
    );
    describe_gauge!(
        "scim_db_connections",
        "Database connections open, by state (idle, in_use), as of the scrape"
    );
    describe_gauge!(
        "scim_db_connections_max",
        "The most database connections the pool opens (PostgreSQL, MySQL)"
    );
    describe_histogram!(
        "scim_db_wait_seconds",
        Unit::Seconds,
        "Time a write transaction waited to start: for a pooled connection and its BEGIN, or on \
         SQLite for the writer's turn"
    );
    describe_gauge!("scim_build_info", "Always 1; the version label names the build");
    metrics::gauge!("scim_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
}

async fn metrics(State(state): State<AppState>) -> Response {
    // The pool's state as of this scrape.
    if let Some(pool) = state.store.pool_stats() {
        let f = |v: u64| f64::from(u32::try_from(v).unwrap_or(u32::MAX));
        metrics::gauge!("scim_db_connections", "state" => "idle").set(f(pool.idle));
        metrics::gauge!("scim_db_connections", "state" => "in_use")
            .set(f(pool.open.saturating_sub(pool.idle)));
        if let Some(max) = pool.max {
            metrics::gauge!("scim_db_connections_max").set(f(max));
        }
    }
    let text = prometheus().map(PrometheusHandle::render).unwrap_or_default();
    let mut res = text.into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    res
}

async fn openapi(State(state): State<AppState>) -> Response {
    let doc = crate::openapi::document(&state);
    match serde_json::to_vec(&doc) {
        Ok(bytes) => json_response(StatusCode::OK, bytes),
        Err(e) => ApiError::new(ErrorCode::Internal, e.to_string()).into_response(),
    }
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut res = (status, body).into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res
}
