//! Persistence for the SCIM service: the [`Store`] trait that the server holds as
//! `Arc<dyn Store>`, and its SQL implementation, [`SqlStore`], for SQLite, PostgreSQL and
//! MySQL.
//!
//! Invariants:
//! - every resource method takes an [`OrganizationSid`]; no method reads or writes across
//!   organizations, and every query carries the organization in its `WHERE` clause;
//! - sea-orm entities never appear in this crate's public API;
//! - every write bumps the resource's `version` in the same transaction; conditional
//!   writes fail with [`StoreError::PreconditionFailed`], never lose an update;
//! - multi-row changes (bulk deactivate, member changes, cascades) are one transaction;
//! - filters run in the database as bound parameters; no query loads a whole organization.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
#![cfg_attr(
    test,
    allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)
)]

pub mod audit;
mod events;
mod model;
mod sql;

pub use events::*;
pub use model::*;
/// Backup and restore of SQLite database files.
#[cfg(feature = "sqlite")]
pub use sql::backup;
pub use sql::{MAX_KEY_CHARS, MigrationStatus, SqlStore, StoreOptions, sqlite_path};

/// The former name of [`SqlStore`], kept so that dependants written against it compile
/// unchanged.
pub type SeaStore = SqlStore;

use async_trait::async_trait;
use scim_core::schema::ResourceKind;
use scim_core::sid::{OrganizationSid, ResourceId, UserSid};

/// Result of a store call.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Closure that turns the current state of a resource into its new state: PATCH and PUT
/// are read-modify-write without lost updates. The change is written only if the resource
/// is still in the state the closure saw; when a concurrent write got there first, the
/// store may call the closure again with the newer state (so it must not consume what it
/// captured), and only the change of the last call is written. The closure sees the state
/// by reference, to copy what it changes (the store keeps it to tell what changed).
pub type Modifier = Box<dyn FnMut(&Stored) -> Result<Change, scim_core::ScimError> + Send>;

/// A store's database connections at one moment ([`Store::pool_stats`]). The time a write
/// transaction waits to start (for a pooled connection and its `BEGIN`, or on SQLite for
/// the writer's turn) is recorded as the `scim_db_wait_seconds` histogram of the
/// [`metrics`] facade.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolStats {
    /// Connections open (on SQLite: the readers opened so far and the writer).
    pub open: u64,
    /// Of those, the ones not running a statement.
    pub idle: u64,
    /// The most connections the pool opens, when it has such a bound.
    pub max: Option<u64>,
}

/// Everything the service persists. Object-safe; the server holds it as `Arc<dyn Store>`.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    /// Whether the database answers (for `/readyz`).
    async fn ping(&self) -> Result<()>;

    /// The state of the store's database connections now (for metrics); `None` when the
    /// store has no pool.
    fn pool_stats(&self) -> Option<PoolStats> {
        None
    }

    // ---- organizations -------------------------------------------------------------
    /// Creates an organization with a fresh sid.
    async fn create_organization(&self, name: &str, policies: &[Policy]) -> Result<Organization>;
    /// The first start: when the database holds no organization, creates organization
    /// `name` and a token with `scopes` whose secret hashes to `secret_hash`, in one
    /// transaction. Of any number of processes calling it at the same moment (replicas
    /// starting together), exactly one gets `Some`; the others, and every later call, get
    /// `None` and create nothing.
    async fn bootstrap(
        &self,
        name: &str,
        scopes: &[Scope],
        token_name: Option<&str>,
        secret_hash: [u8; 32],
    ) -> Result<Option<Bootstrap>>;
    /// One organization.
    async fn organization(&self, org: OrganizationSid) -> Result<Option<Organization>>;
    /// Every organization, oldest first.
    async fn organizations(&self) -> Result<Vec<Organization>>;
    /// Renames an organization; false when there is none.
    async fn rename_organization(&self, org: OrganizationSid, name: &str) -> Result<bool>;
    /// Replaces an organization's policies; false when there is none.
    async fn set_policies(&self, org: OrganizationSid, policies: &[Policy]) -> Result<bool>;
    /// Counts what an organization holds (`None`: no such organization).
    async fn organization_contents(&self, org: OrganizationSid) -> Result<Option<OrgContents>>;
    /// Deletes an organization and everything it holds (resources, memberships, e-mail
    /// rows, tokens, its client grants and the clients granted on it alone, idempotency
    /// records, change log) in one transaction. With `only_if_empty`, an organization
    /// that holds users or groups (soft-deleted ones included) is left alone.
    async fn delete_organization(
        &self,
        org: OrganizationSid,
        only_if_empty: bool,
    ) -> Result<OrgDeletion>;

    // ---- credentials (not organization-scoped lookups: they find the organization) -----
    /// Stores a static bearer token by the SHA-256 of its secret.
    async fn create_token(&self, new: NewToken) -> Result<TokenRecord>;
    /// The live (neither revoked nor expired) token whose secret hashes to `hash`.
    async fn token_by_hash(&self, hash: &[u8; 32]) -> Result<Option<TokenRecord>>;
    /// Records that token `id` was used at `at` (RFC 3339), unless its recorded use is
    /// less than a minute older: at most one write a minute per token.
    async fn touch_token(&self, id: &str, at: &str) -> Result<()>;
    /// The tokens of an organization (never their secrets).
    async fn tokens(&self, org: OrganizationSid) -> Result<Vec<TokenRecord>>;
    /// Revokes a token; false when no such live token exists.
    async fn revoke_token(&self, id: &str) -> Result<bool>;
    /// Stores an OAuth2 client by the SHA-256 of its secret.
    async fn create_client(&self, new: NewClient) -> Result<ClientRecord>;
    /// A live client and its secret hash.
    async fn client(&self, client_id: &str) -> Result<Option<(ClientRecord, [u8; 32])>>;
    /// Revokes a client; false when no such live client exists.
    async fn revoke_client(&self, client_id: &str) -> Result<bool>;
    /// Every live client, oldest first (without secrets).
    async fn clients(&self) -> Result<Vec<ClientRecord>>;
    /// A secret shared by every replica (e.g. to sign cursors or JWTs), created on first
    /// use under `name` and stable afterwards.
    async fn shared_secret(&self, name: &str) -> Result<[u8; 32]>;

    // ---- users and groups ------------------------------------------------------------
    /// Creates a resource with a fresh sid; `version` 1.
    async fn create(
        &self,
        org: OrganizationSid,
        kind: ResourceKind,
        new: NewResource,
    ) -> Result<Stored>;
    /// Creates many resources of one kind in one transaction, all or nothing (for bulk
    /// loads and imports): each gets a fresh sid and `version` 1, and the answer is in input
    /// order, as [`Store::create`] would answer each.
    ///
    /// Uniqueness is checked per resource, against the stored ones and against the earlier
    /// ones of the same call, with the same semantics as `create`: the first resource (in
    /// input order) whose `userName`/`displayName` or `externalId` is taken fails the whole
    /// call with [`StoreError::Conflict`] naming that attribute and value, and nothing is
    /// written. Any other error (an invalid document, an unknown member) also writes
    /// nothing. An empty list is a no-op.
    ///
    /// [`SqlStore`] writes multi-row `INSERT`s in chunks, which makes this much cheaper per
    /// resource than `create`. Every implementation must keep the all-or-nothing promise;
    /// a wrapper delegates to its inner store.
    async fn create_many(
        &self,
        org: OrganizationSid,
        kind: ResourceKind,
        new: Vec<NewResource>,
    ) -> Result<Vec<Stored>>;
    /// One resource (soft-deleted ones are hidden), its document still text. The id
    /// carries the kind: a user's sid never finds a group.
    async fn get_raw(
        &self,
        org: OrganizationSid,
        id: ResourceId,
        read: ReadOptions,
    ) -> Result<Option<RawStored>>;
    /// One resource (soft-deleted ones are hidden): [`Store::get_raw`], parsed.
    async fn get(
        &self,
        org: OrganizationSid,
        id: ResourceId,
        read: ReadOptions,
    ) -> Result<Option<Stored>> {
        match self.get_raw(org, id, read).await? {
            Some(raw) => Ok(Some(raw.parse()?)),
            None => Ok(None),
        }
    }
    /// Read-modify-write in one transaction; `expected_version` makes it conditional.
    async fn modify(
        &self,
        org: OrganizationSid,
        id: ResourceId,
        expected_version: Option<u64>,
        read: ReadOptions,
        modifier: Modifier,
    ) -> Result<Stored>;
    /// Deletes (or, with `soft`, deactivates and hides) a resource and its memberships.
    async fn delete(
        &self,
        org: OrganizationSid,
        id: ResourceId,
        expected_version: Option<u64>,
        soft: bool,
    ) -> Result<()>;
    /// Undoes a soft delete.
    async fn restore(&self, org: OrganizationSid, id: ResourceId) -> Result<Stored>;
    /// Filtered, sorted, paginated query, run in the database; documents still text.
    async fn query_raw(
        &self,
        org: OrganizationSid,
        kind: ResourceKind,
        query: &Query,
    ) -> Result<RawPage>;
    /// Filtered, sorted, paginated query: [`Store::query_raw`], parsed.
    async fn query(&self, org: OrganizationSid, kind: ResourceKind, query: &Query) -> Result<Page> {
        self.query_raw(org, kind, query).await?.parse()
    }
    /// Sets `active: false` on every named user in one transaction; if any id is unknown,
    /// nothing changes and the error names them.
    async fn deactivate_users(&self, org: OrganizationSid, ids: &[UserSid]) -> Result<Vec<Stored>>;

    // ---- idempotency ----------------------------------------------------------------
    /// Claims `key` for a request with this fingerprint, or reports what happened before.
    async fn idempotency_begin(
        &self,
        org: OrganizationSid,
        key: &str,
        fingerprint: &[u8; 32],
    ) -> Result<IdempotencyBegin>;
    /// Records the answer of a claimed key (kept 24 h).
    async fn idempotency_complete(
        &self,
        org: OrganizationSid,
        key: &str,
        answer: IdempotentAnswer,
    ) -> Result<()>;
    /// Releases a claimed key without an answer (the request failed before answering).
    async fn idempotency_abort(&self, org: OrganizationSid, key: &str) -> Result<()>;

    // ---- retention -------------------------------------------------------------------
    /// Deletes one batch of what `retention` no longer keeps: change-log rows past its age
    /// or count, idempotency records past their 24 hours. Call it again while it deletes
    /// full batches; every statement goes through an index.
    async fn prune(&self, retention: &Retention) -> Result<Pruned>;

    // ---- change log ------------------------------------------------------------------
    /// Changes after sequence number `after`, oldest first, at most `limit`.
    async fn changes(
        &self,
        org: OrganizationSid,
        after: u64,
        limit: u64,
    ) -> Result<Vec<ChangeRecord>>;

    /// How many changes of `org` come after sequence number `after`, counted up to `cap`
    /// (an event stream's backlog). The default reads them.
    async fn changes_pending(&self, org: OrganizationSid, after: u64, cap: u64) -> Result<u64> {
        let read = self.changes(org, after, cap).await?;
        Ok(u64::try_from(read.len()).unwrap_or(u64::MAX))
    }

    /// Changes of an organization filtered by resource and time, oldest first.
    async fn audit(&self, org: OrganizationSid, q: &AuditQuery) -> Result<Vec<ChangeRecord>> {
        let _ = (org, q);
        Err(StoreError::Internal("this store keeps no audit".into()))
    }

    // ---- event streams -----------------------------------------------------------------
    /// Stores a new stream (its cursor set to the newest change, so it starts from now).
    async fn stream_create(&self, stream: &EventStream) -> Result<EventStream> {
        let _ = stream;
        Err(StoreError::Internal("this store keeps no event streams".into()))
    }
    /// The streams of `org`, or of every organization.
    async fn streams(&self, org: Option<OrganizationSid>) -> Result<Vec<EventStream>> {
        let _ = org;
        Ok(Vec::new())
    }
    /// One stream.
    async fn stream(&self, id: &str) -> Result<Option<EventStream>> {
        let _ = id;
        Ok(None)
    }
    /// Pauses or resumes a stream (resuming clears its failure count); false if unknown.
    async fn stream_set_state(&self, id: &str, state: StreamState) -> Result<bool> {
        let _ = (id, state);
        Ok(false)
    }
    /// Deletes a stream; false if unknown.
    async fn stream_delete(&self, id: &str) -> Result<bool> {
        let _ = id;
        Ok(false)
    }
    /// Claims the delivery lease of an active stream for `owner` until `until_ms` (Unix
    /// milliseconds), if it is free, expired, or already `owner`'s: one conditional UPDATE,
    /// so of several replicas exactly one delivers a stream at a time.
    async fn stream_claim(
        &self,
        id: &str,
        owner: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<bool> {
        let _ = (id, owner, now_ms, until_ms);
        Ok(false)
    }
    /// Moves the cursor forward to `seq` (never back) and clears the failures; with an
    /// `owner`, only while that owner holds the lease. False when nothing moved.
    async fn stream_advance(&self, id: &str, owner: Option<&str>, seq: u64) -> Result<bool> {
        let _ = (id, owner, seq);
        Ok(false)
    }
    /// Records a failed delivery; pauses the stream once `pause_after` consecutive
    /// failures are reached (0: never). Returns the failure count.
    async fn stream_failed(&self, id: &str, error: &str, pause_after: u32) -> Result<u32> {
        let _ = (id, error, pause_after);
        Ok(0)
    }
    /// The SET signing keys, newest first.
    async fn signing_keys(&self) -> Result<Vec<SigningKey>> {
        Ok(Vec::new())
    }
    /// Stores a new signing key.
    async fn add_signing_key(&self, key: &SigningKey) -> Result<()> {
        let _ = key;
        Err(StoreError::Internal("this store keeps no signing keys".into()))
    }
}
