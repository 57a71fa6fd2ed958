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

use crate::app::AppState;
use crate::config::Config;
use crate::error::ApiError;
use async_trait::async_trait;
use axum::Router;
use http::request::Parts;
use scim_core::ErrorCode;
use scim_core::schema::{Registry, ResourceKind};
use scim_core::sid::OrganizationSid;
use scim_store::{Scope, Store};
use std::sync::{Arc, OnceLock};
use tokio::sync::mpsc;

/// Who a request acts as, as the product's [`Authenticate`] decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The organization (tenant) the request acts on; it must exist in the store.
    pub org: OrganizationSid,
    /// The scopes granted: `scim:read` for reads and searches, `scim:write` for changes.
    pub scopes: Vec<Scope>,
    /// Who is acting, as the product names it (a user, an API key id, a connection):
    /// the actor of [`Change`]s, and the key of the rate limit when one is configured.
    pub actor: String,
}

/// Why [`Authenticate`] refused a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No credential, or not a valid one: 401 (`WWW-Authenticate: Bearer`).
    Unauthenticated(String),
    /// A valid credential without access to what the request names: 403.
    Forbidden(String),
}

/// The product's authentication: maps a request's head to a [`Principal`].
#[async_trait]
pub trait Authenticate: Send + Sync + 'static {
    /// Authenticates one request (method, URI, headers, and the extensions the product's
    /// own layers put there). The URI's path is relative to the mount point.
    async fn authenticate(&self, parts: &Parts) -> Result<Principal, Refusal>;
}

/// What a committed change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Operation {
    /// `POST` (or a `/Bulk` `POST`).
    Create,
    /// `PUT`.
    Replace,
    /// `PATCH` that changed something.
    Patch,
    /// `DELETE` (a soft delete with the `soft-delete` policy).
    Delete,
    /// `POST /Users/delete`: set `active` to false.
    Deactivate,
}

/// One committed change, as [`ChangeHook::on_change`] receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The organization.
    pub org: OrganizationSid,
    /// User or Group.
    pub kind: ResourceKind,
    /// The resource's id.
    pub id: String,
    /// What happened.
    pub operation: Operation,
    /// The resource's version after the change (`meta.version` is `W/"<n>"`); `None`
    /// after a delete.
    pub version: Option<u64>,
    /// The [`Principal::actor`] of the request (the token or client id without embedding).
    pub actor: String,
}

/// The product's hook, called after each committed change (see the module's
/// documentation for when and in which order).
#[async_trait]
pub trait ChangeHook: Send + Sync + 'static {
    /// Called once per committed change, one call at a time.
    async fn on_change(&self, change: Change);
}

/// The queue between requests and the hook's task.
pub(crate) struct Hook {
    hook: Arc<dyn ChangeHook>,
    queue: OnceLock<mpsc::UnboundedSender<Change>>,
}

impl std::fmt::Debug for Hook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hook")
    }
}

impl Hook {
    fn new(hook: Arc<dyn ChangeHook>) -> Self {
        Self { hook, queue: OnceLock::new() }
    }

    /// Hands a committed change to the hook's task (started on first use, on the
    /// runtime serving the request); never waits.
    pub(crate) fn send(&self, change: Change) {
        let queue = self.queue.get_or_init(|| {
            let (tx, mut rx) = mpsc::unbounded_channel::<Change>();
            let hook = self.hook.clone();
            tokio::spawn(async move {
                while let Some(change) = rx.recv().await {
                    // A panicking hook loses its change, not the task.
                    let call = std::panic::AssertUnwindSafe(hook.on_change(change));
                    if futures::FutureExt::catch_unwind(call).await.is_err() {
                        tracing::error!("the change hook panicked");
                    }
                }
            });
            tx
        });
        if queue.send(change).is_err() {
            tracing::warn!("the change hook's task has stopped; a change was not reported");
        }
    }
}

/// What the builder puts into [`AppState`].
#[derive(Debug, Default, Clone)]
pub(crate) struct Embedding {
    pub(crate) auth: Option<Arc<dyn Authenticate>>,
    pub(crate) hook: Option<Arc<Hook>>,
}

impl std::fmt::Debug for dyn Authenticate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Authenticate")
    }
}

/// Calls the hook, when there is one, with a committed change.
pub(crate) fn changed(
    st: &AppState,
    ctx: &crate::context::RequestCtx,
    kind: ResourceKind,
    id: &str,
    operation: Operation,
    version: Option<u64>,
) {
    if let Some(hook) = &st.embedding.hook {
        hook.send(Change {
            org: ctx.org.sid,
            kind,
            id: id.to_owned(),
            operation,
            version,
            actor: ctx.credential_id.clone(),
        });
    }
}

/// Authenticates with the product's [`Authenticate`]: `None` when there is none.
pub(crate) async fn principal(st: &AppState, parts: &Parts) -> Option<Result<Principal, ApiError>> {
    let auth = st.embedding.auth.as_ref()?;
    Some(auth.authenticate(parts).await.map_err(|r| match r {
        Refusal::Unauthenticated(d) => ApiError::new(ErrorCode::MissingCredential, d),
        Refusal::Forbidden(d) => ApiError::new(ErrorCode::OrganizationForbidden, d),
    }))
}

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
