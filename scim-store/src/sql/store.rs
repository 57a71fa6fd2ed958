//! The store itself: [`SqlStore`], its options and the state it keeps between calls.

use super::backend::Backend;
use super::conn::{Db, Txn};
use super::outcome::db_err;
use super::shapes::Shapes;
use super::stats::Stats;
use crate::Result;
use scim_core::schema::{Registry, ResourceKind};
use scim_core::sid::OrganizationSid;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Rows per `IN (...)` list and per multi-row `INSERT`.
pub(super) const CHUNK: usize = 500;

/// Tuning of a [`SqlStore`].
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Connection pool size (default: 10 for PostgreSQL/MySQL, 4 for an SQLite file, and
    /// always 1 for an in-memory SQLite database, which lives in its one connection).
    pub max_connections: Option<u32>,
    /// How long an RFC 9865 cursor stays valid (default 10 minutes).
    pub cursor_ttl: Duration,
    /// How long to wait for a pooled connection before reporting the database unavailable
    /// (default 1 s: with the database gone, a request fails fast instead of holding its
    /// client; after one such failure the store fails every call at once for a moment,
    /// then probes, see `breaker`).
    pub acquire_timeout: Duration,
    /// On an SQLite file, a long read (a search no selective index serves, a `COUNT`) is
    /// stopped after this long and answers a SCIM timeout error (default: no limit; the
    /// server sets its request timeout). Such a read runs on its thread to the end
    /// otherwise: the request's own timeout cannot interrupt it.
    pub scan_timeout: Option<Duration>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: None,
            cursor_ttl: Duration::from_secs(600),
            acquire_timeout: Duration::from_secs(1),
            scan_timeout: None,
        }
    }
}

/// The [`Store`](crate::Store) on a SQL database: statements built with sea-query, run
/// through sea-orm (sqlx) or, for an SQLite file, the inline engine.
#[derive(Debug)]
pub struct SqlStore {
    pub(super) db: Db,
    /// The URL, kept to open a sea-orm connection for migrations when `db` is inline.
    pub(super) url: String,
    pub(super) registry: Arc<Registry>,
    pub(super) backend: &'static dyn Backend,
    pub(super) opts: StoreOptions,
    pub(super) secrets: Mutex<HashMap<String, [u8; 32]>>,
    pub(super) stats: Arc<Stats>,
    pub(super) shapes: Shapes,
    pub(super) counts: Counts,
    /// The files the SQLite migration lock was taken through, unlocked but kept open for
    /// the store's life: closing any descriptor of a file drops every POSIX lock the
    /// process holds on it, SQLite's own included (the shared lock each connection holds
    /// on a WAL database, which tells other processes, such as `admin restore-backup`,
    /// that the file is in use).
    pub(super) lock_files: Mutex<Vec<std::fs::File>>,
}

/// Unfiltered `COUNT`s of live resources on SQLite, each with the organization's last
/// change-log sequence number when it was taken (see [`SqlStore::count`]).
#[derive(Debug, Default)]
pub(super) struct Counts(pub(super) Mutex<HashMap<(OrganizationSid, ResourceKind), (i64, u64)>>);

/// Organizations whose counts [`Counts`] keeps at most (it starts over when full).
pub(super) const COUNTS_KEPT: usize = 4096;

impl SqlStore {
    /// The schema registry the store translates filters with.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    pub(super) async fn begin(&self) -> Result<Txn> {
        self.db.begin().await.map_err(db_err)
    }
}
