//! A product's hooks into the service when it embeds it (the `embed` module): its own
//! authentication ([`Authenticate`]) and the hook called after each committed change
//! ([`ChangeHook`]); see the `embed` module for when and in which order changes arrive.

use async_trait::async_trait;
use http::request::Parts;
use scim_core::schema::ResourceKind;
use scim_core::sid::OrganizationSid;
use scim_store::Scope;
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
    pub(crate) fn new(hook: Arc<dyn ChangeHook>) -> Self {
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

/// What the embedding builder (the `embed` module) puts into the state.
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
