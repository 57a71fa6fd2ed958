//! The application: shared state and the router that assembles both route families, the
//! operational endpoints and the layers around them.
//!
//! Both families are served by one family-relative router: the edge
//! ([`crate::front`]) strips `/scim/v2` or `/Organizations/{OrganizationSid}/scim` from the
//! path, records the [`crate::context::Mount`] in the request's extensions and hands the
//! request on, so every handler sees `/Users/{id}` whatever the family, and path extractors
//! see only their own parameters.

use crate::auth::AuthCache;
use crate::config::Config;
use crate::error::ApiError;
use crate::middleware;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use governor::{DefaultKeyedRateLimiter, Quota};
use scim_core::ErrorCode;
use scim_core::schema::Registry;
use scim_store::Store;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

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
    /// A product's authentication and change hook ([`crate::embed`]); none in the binary.
    pub(crate) embedding: crate::embed::Embedding,
    /// The operator console's sessions and request log, when `console` is on.
    pub(crate) console: Option<Arc<crate::console::Console>>,
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
        let console = (config.console && config.admin_api)
            .then(|| Arc::new(crate::console::Console::new(config.request_log_size)));
        Self {
            store,
            registry,
            config,
            limiter,
            auth_cache,
            embedding: crate::embed::Embedding::default(),
            console,
        }
    }

    /// The same state with a product's authentication and change hook.
    pub(crate) fn with_embedding(mut self, embedding: crate::embed::Embedding) -> Self {
        self.embedding = embedding;
        self
    }

    /// Takes one request from `credential`'s bucket; 429 when it is empty.
    pub fn check_rate(&self, credential: &str) -> Result<(), ApiError> {
        let Some(limiter) = &self.limiter else { return Ok(()) };
        match limiter.0.check_key(&credential.to_owned()) {
            Ok(()) => Ok(()),
            Err(_) => Err({
                metrics::counter!("scim_rate_limited_total").increment(1);
                ApiError::new(
                    ErrorCode::RateLimited,
                    format!(
                        "rate limit of {} requests per second exceeded; retry later",
                        self.config.rate_limit_per_second
                    ),
                )
            }),
        }
    }

    /// Forgets idle rate-limit buckets (called periodically by the server).
    pub fn prune_rate_limits(&self) {
        if let Some(l) = &self.limiter {
            l.0.retain_recent();
        }
    }
}

/// The whole service: both route families, the operational endpoints, and every layer, as
/// an axum `Router` (for tests, and for a product that mounts the service in its own
/// application). The binary's listener serves [`service`] instead, the same stack without
/// the `Router` around it.
pub fn router(state: AppState) -> Router {
    Router::new().fallback_service(service(&state))
}

/// The whole service as one `tower::Service` (see [`crate::front`]).
pub fn service(state: &AppState) -> crate::front::Stack {
    let max_body = state.config.max_body_bytes;
    // Install the metrics recorder before the first request is counted.
    let _ = crate::ops::prometheus();
    let family = family_routes(state, max_body);
    let mut ops = crate::ops::routes().merge(crate::oauth::routes()).merge(crate::events::routes());
    // The admin API rides on this listener only when it has none of its own.
    if state.config.admin_api && state.config.admin_listen.is_none() {
        ops = ops.merge(crate::admin_api::routes());
        if state.console.is_some() {
            ops = ops.merge(crate::console::routes());
        }
    }
    let ops = ops
        .fallback(middleware::unknown_route)
        .method_not_allowed_fallback(middleware::method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(middleware::TrackLayer)
        .with_state(state.clone());
    crate::front::stack(state, family, ops)
}

/// The family-relative routes alone, for a router nested in a product's application
/// ([`crate::embed`]): every path is below the mount point, on family A's rules.
pub(crate) fn nested_service(state: &AppState) -> crate::front::Stack {
    let max_body = state.config.max_body_bytes;
    let family = family_routes(state, max_body);
    crate::front::nested_stack(state, family)
}

fn family_routes(state: &AppState, max_body: usize) -> Router {
    Router::new()
        .merge(crate::discovery::routes())
        .merge(crate::handlers::routes())
        .fallback(middleware::unknown_route)
        .method_not_allowed_fallback(middleware::method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(middleware::TrackLayer)
        .with_state(state.clone())
}

/// The service of the `admin_listen` address: the admin API (`/admin/v1`) and the
/// operational endpoints, behind the same edge as [`service`] (request ids, limits, SCIM
/// errors); the SCIM families are unknown routes there.
pub fn admin_service(state: &AppState) -> crate::front::Stack {
    let max_body = state.config.max_body_bytes;
    let _ = crate::ops::prometheus();
    let family = Router::new().fallback(middleware::unknown_route).with_state(state.clone());
    let mut ops = crate::ops::routes().merge(crate::admin_api::routes());
    if state.console.is_some() {
        ops = ops.merge(crate::console::routes());
    }
    let ops = ops
        .fallback(middleware::unknown_route)
        .method_not_allowed_fallback(middleware::method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(middleware::TrackLayer)
        .with_state(state.clone());
    crate::front::stack(state, family, ops)
}
