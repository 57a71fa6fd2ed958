//! The application: shared state and the router that assembles both route families, the
//! operational endpoints and the layers around them.
//!
//! Both families are served by one family-relative router: `Dispatch` strips
//! `/scim/v2` or `/Organizations/{OrganizationSid}/scim` from the path, records the
//! [`Mount`] in the request's extensions and hands the request on, so every handler sees
//! `/Users/{id}` whatever the family, and path extractors see only their own parameters.

use crate::auth::AuthCache;
use crate::config::Config;
use crate::context::Mount;
use crate::error::{self, ApiError};
use crate::middleware;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::response::Response;
use futures::future::BoxFuture;
use governor::{DefaultKeyedRateLimiter, Quota};
use http::Uri;
use scim_core::ErrorCode;
use scim_core::schema::Registry;
use scim_store::Store;
use std::convert::Infallible;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tower::{Service, ServiceExt};

/// What every handler can reach. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The persistence layer.
    pub store: Arc<dyn Store>,
    /// The schemas and resource types.
    pub registry: Arc<Registry>,
    /// The configuration.
    pub config: Arc<Config>,
    /// The per-credential rate limiter, when configured.
    limiter: Option<Arc<RateLimiter>>,
    /// Recent successful credential and organization lookups.
    pub(crate) auth_cache: Arc<AuthCache>,
}

/// A keyed token bucket per credential id.
struct RateLimiter(DefaultKeyedRateLimiter<String>);

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RateLimiter")
    }
}

impl AppState {
    /// State over a store, a registry and a configuration.
    pub fn new(store: Arc<dyn Store>, registry: Arc<Registry>, config: Arc<Config>) -> Self {
        // Each of `replicas` replicas enforces its share of the limit (rounded up), so a
        // credential's requests spread over them get about the configured rate in all.
        let share = |n: u32| n.div_ceil(config.replicas.max(1));
        let limiter = NonZeroU32::new(share(config.rate_limit_per_second)).map(|rate| {
            let burst = NonZeroU32::new(share(config.rate_limit_burst)).unwrap_or(rate);
            Arc::new(RateLimiter(governor::RateLimiter::keyed(
                Quota::per_second(rate).allow_burst(burst),
            )))
        });
        let auth_cache = Arc::new(AuthCache::new(Duration::from_millis(config.auth_cache_ttl_ms)));
        Self { store, registry, config, limiter, auth_cache }
    }

    /// Takes one request from `credential`'s bucket; 429 when it is empty.
    pub fn check_rate(&self, credential: &str) -> Result<(), ApiError> {
        let Some(limiter) = &self.limiter else { return Ok(()) };
        match limiter.0.check_key(&credential.to_owned()) {
            Ok(()) => Ok(()),
            Err(_) => Err(ApiError::new(
                ErrorCode::RateLimited,
                format!(
                    "rate limit of {} requests per second exceeded; retry later",
                    self.config.rate_limit_per_second
                ),
            )),
        }
    }

    /// Forgets idle rate-limit buckets (called periodically by the server).
    pub fn prune_rate_limits(&self) {
        if let Some(l) = &self.limiter {
            l.0.retain_recent();
        }
    }
}

/// The whole service: both route families, the operational endpoints, and every layer.
pub fn router(state: AppState) -> Router {
    let max_body = state.config.max_body_bytes;
    // Install the metrics recorder before the first request is counted.
    let _ = crate::ops::prometheus();
    let family = Router::new()
        .merge(crate::discovery::routes())
        .merge(crate::handlers::routes())
        .fallback(middleware::unknown_route)
        .method_not_allowed_fallback(middleware::method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn(middleware::track))
        .with_state(state.clone());
    let ops = crate::ops::routes()
        .merge(crate::oauth::routes())
        .fallback(middleware::unknown_route)
        .method_not_allowed_fallback(middleware::method_not_allowed)
        .layer(axum::middleware::from_fn(middleware::track))
        .with_state(state.clone());
    let dispatch = Dispatch { family, ops };
    middleware::layers(Router::new().fallback_service(dispatch), &state)
}

/// Routes a request to the family-relative router (stripping the family's prefix) or to
/// the operational router. It runs inside the edge middleware, which scoped the request's
/// docs base; it adds the family.
#[derive(Clone, Debug)]
struct Dispatch {
    family: Router,
    ops: Router,
}

impl Service<Request> for Dispatch {
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let ctx = error::current();
        let Some((mount, rest)) = Mount::split(req.uri().path()) else {
            return Box::pin(error::scope(ctx, self.ops.clone().oneshot(req)));
        };
        let pq = match req.uri().query() {
            Some(q) => format!("{rest}?{q}"),
            None => rest,
        };
        match Uri::builder().path_and_query(pq).build() {
            Ok(uri) => *req.uri_mut() = uri,
            Err(_) => {
                let e = ApiError::new(ErrorCode::UnknownRoute, "the request path is malformed");
                return Box::pin(async move { Ok(error::render(e.0, &ctx)) });
            }
        }
        let family = mount.family;
        req.extensions_mut().insert(mount);
        Box::pin(error::scope(ctx.with_family(Some(family)), self.family.clone().oneshot(req)))
    }
}
