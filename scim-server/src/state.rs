//! The state every handler can reach: the store, the schemas, the configuration, and the
//! per-replica parts (rate limiter, authentication cache, a product's hooks, the console's
//! memory).

use crate::auth::AuthCache;
use crate::config::Config;
use crate::error::ApiError;
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
    /// A product's authentication and change hook ([`crate::hooks`]); none in the binary.
    pub(crate) embedding: crate::hooks::Embedding,
    /// The operator console's sessions and request log, when `console` is on.
    pub(crate) console: Option<Arc<crate::operator::Console>>,
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
            .then(|| Arc::new(crate::operator::Console::new(config.request_log_size)));
        Self {
            store,
            registry,
            config,
            limiter,
            auth_cache,
            embedding: crate::hooks::Embedding::default(),
            console,
        }
    }

    /// The same state with a product's authentication and change hook.
    pub(crate) fn with_embedding(mut self, embedding: crate::hooks::Embedding) -> Self {
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
