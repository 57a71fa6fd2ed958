//! The SCIM service as a library: a product mounts the SCIM routes in its own axum
//! application, authenticates requests its own way, and learns of every committed change.
//!
//! ```no_run
//! # async fn example(store: std::sync::Arc<dyn scim_store::Store>,
//! #     auth: impl scim_server::embed::Authenticate,
//! #     hook: impl scim_server::embed::ChangeHook) {
//! let scim = scim_server::embed::Scim::builder(store).authenticate(auth).on_change(hook).router();
//! let app: axum::Router = axum::Router::new().nest_service("/scim", scim);
//! # }
//! ```
//!
//! The router serves the family-relative routes of `/scim/v2` (`/Users`, `/Groups`,
//! `/Bulk`, discovery, ...) below whatever prefix it is nested at, with the same handlers,
//! limits and SCIM error bodies as the binary; `meta.location` and `Location` carry the
//! prefix (taken from axum's `OriginalUri`), on the configured `public_url` or the request's
//! `Host`. The product's [`Authenticate`] replaces bearer tokens: it maps each request's
//! head to an organization, scopes and an actor. The scope rules stay the service's: reads
//! and searches need `scim:read`, changes `scim:write`.
//!
//! [`ChangeHook::on_change`] is called after each change has committed (create, replace,
//! patch that changed something, delete, bulk deactivate; `/Bulk` operations one by one),
//! never for one that failed or rolled back, and never on the response's path: the
//! request hands the change to a queue and answers; one task per router calls the hook,
//! one change at a time, in the order the requests handed them over. A slow hook delays
//! later hook calls, not responses. Changes of one resource arrive in version order;
//! across resources the order is that of the requests' completion, not strictly of the
//! commits. The queue lives in memory: changes not yet handed to the hook when the process
//! stops are lost, so a product that must see every change reads the change log.

use crate::config::Config;
pub use crate::hooks::{Authenticate, Change, ChangeHook, Operation, Principal, Refusal};
use crate::hooks::{Embedding, Hook};
use crate::state::AppState;
use axum::Router;
use scim_core::schema::Registry;
use scim_store::Store;
use std::sync::Arc;

/// The embedded SCIM service; see [`Scim::builder`].
#[derive(Debug)]
pub struct Scim;

impl Scim {
    /// A builder over `store` (migrated: [`scim_store::SqlStore::migrate`]), with the
    /// built-in schemas and the default configuration until told otherwise.
    pub fn builder(store: Arc<dyn Store>) -> ScimBuilder {
        ScimBuilder {
            store,
            registry: None,
            config: Config::default(),
            embedding: Embedding::default(),
        }
    }
}

/// Builds the embedded router ([`Scim::builder`]).
#[derive(Debug)]
pub struct ScimBuilder {
    store: Arc<dyn Store>,
    registry: Option<Arc<Registry>>,
    config: Config,
    embedding: Embedding,
}

impl ScimBuilder {
    /// The schema registry (with extensions); it must be the store's. Default: built-in.
    pub fn registry(mut self, registry: Arc<Registry>) -> Self {
        self.registry = Some(registry);
        self
    }

    /// The service's settings (limits, page sizes, `public_url`, ...); the listener's and
    /// the admin API's are ignored.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// The product's authentication. Without it, requests authenticate with the store's
    /// bearer tokens, as in the binary.
    pub fn authenticate(mut self, auth: impl Authenticate) -> Self {
        self.embedding.auth = Some(Arc::new(auth));
        self
    }

    /// The hook called after each committed change.
    pub fn on_change(mut self, hook: impl ChangeHook) -> Self {
        self.embedding.hook = Some(Arc::new(Hook::new(Arc::new(hook))));
        self
    }

    /// The router to nest with `Router::nest_service(prefix, ...)`: the SCIM routes below
    /// `prefix` (`{prefix}/Users`, `{prefix}/ServiceProviderConfig`, ...), behind the
    /// service's edge (request ids, limits, timeouts, gzip, SCIM errors).
    pub fn router(self) -> Router {
        let registry = self.registry.unwrap_or_else(|| Arc::new(Registry::builtin()));
        let state = AppState::new(self.store, registry, Arc::new(self.config))
            .with_embedding(self.embedding);
        Router::new().fallback_service(crate::app::nested_service(&state))
    }
}
