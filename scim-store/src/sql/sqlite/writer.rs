//! The one writer connection and group commit: every transaction joins the writer's open
//! batch (as a savepoint, unless it opened the batch), and the batch commits once.

use super::wal::{WAL_PAGES, WalState, restart_wal};
use crate::sql::outcome::ExecErr;
use rusqlite::Connection;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// The writer connection and the batch (one SQLite transaction) open on it.
pub(crate) struct Writer {
    conn: Connection,
    /// The WAL's length and checkpoints.
    wal: WalState,
    batch: Option<Arc<Batch>>,
    /// Transactions released into the open batch and waiting for its `COMMIT`.
    members: usize,
}

impl Writer {
    /// The writer on `conn`, with no batch open.
    pub(super) fn new(conn: Connection, wal: WalState) -> Writer {
        Writer { conn, wal, batch: None, members: 0 }
    }
}

/// Transactions committed together: the outcome of their one `COMMIT`, and the members
/// waiting for it.
#[derive(Default)]
struct Batch {
    outcome: OnceLock<Result<(), String>>,
    done: tokio::sync::Notify,
}

impl Batch {
    /// Records the outcome (the first one stands) and wakes the members waiting for it.
    fn end(&self, outcome: Result<(), String>) {
        let _ = self.outcome.set(outcome);
        self.done.notify_waiters();
    }

    /// The outcome, once the batch has one.
    async fn outcome(&self) -> Result<(), String> {
        loop {
            let done = self.done.notified();
            tokio::pin!(done);
            // Registered before looking, so an outcome set in between still wakes it.
            done.as_mut().enable();
            if let Some(outcome) = self.outcome.get() {
                return outcome.clone();
            }
            done.await;
        }
    }
}

/// At most this many transactions share one `COMMIT`.
const MAX_BATCH: usize = 256;

/// The writer, counted in `queued` while waiting for it.
///
/// A transaction that hands the open batch on counts on a queued one to take the writer
/// and commit it (or hand it on again), so a wait abandoned before it got the writer (a
/// cancelled request) leaves that task to a spawned one, which takes the writer in turn
/// and commits the batch if nobody else is queued by then.
async fn lock_writer(writer: &Arc<tokio::sync::Mutex<Writer>>, queued: &Arc<AtomicUsize>) -> Held {
    struct Queued<'a> {
        writer: &'a Arc<tokio::sync::Mutex<Writer>>,
        queued: &'a Arc<AtomicUsize>,
        got: bool,
    }
    impl Drop for Queued<'_> {
        fn drop(&mut self) {
            self.queued.fetch_sub(1, Ordering::SeqCst);
            if self.got {
                return;
            }
            let (writer, queued) = (Arc::clone(self.writer), Arc::clone(self.queued));
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move {
                    let w = Arc::clone(&writer).lock_owned().await;
                    drop(Held { w, queued });
                });
            }
        }
    }
    queued.fetch_add(1, Ordering::SeqCst);
    let mut waiting = Queued { writer, queued, got: false };
    let w = Arc::clone(writer).lock_owned().await;
    waiting.got = true;
    Held { w, queued: Arc::clone(queued) }
}

/// The writer, held. Whoever lets it go with released members in the open batch and
/// nobody queued for it commits the batch then, whatever path it leaves by (a commit
/// that hands the batch on, a dropped transaction, a cancelled request): the members
/// wait for the outcome without the writer, so nobody else would.
struct Held {
    w: tokio::sync::OwnedMutexGuard<Writer>,
    queued: Arc<AtomicUsize>,
}

impl std::ops::Deref for Held {
    type Target = Writer;
    fn deref(&self) -> &Writer {
        &self.w
    }
}

impl std::ops::DerefMut for Held {
    fn deref_mut(&mut self) -> &mut Writer {
        &mut self.w
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if self.w.batch.is_some() && self.w.members > 0 && self.queued.load(Ordering::SeqCst) == 0 {
            let _ = commit_batch(&mut self.w);
        }
    }
}

/// Runs one of the writer's transaction statements (`BEGIN IMMEDIATE`, `SAVEPOINT`,
/// `RELEASE`, `COMMIT`) from the statement cache: `execute_batch` compiles its text
/// again every time, twice or more per write.
fn run(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// `COMMIT`s the open batch and tells its members the outcome; then keeps the WAL
/// short (see [`restart_wal`](super::wal::restart_wal)).
fn commit_batch(w: &mut Writer) -> Result<(), ExecErr> {
    WAL_PAGES.with(|p| p.set(0));
    let done = run(&w.conn, "COMMIT");
    if done.is_err() && !w.conn.is_autocommit() {
        // A failed COMMIT can leave the transaction open: end it, so the next
        // transaction starts clean.
        let _ = w.conn.execute_batch("ROLLBACK");
    }
    let outcome = done.as_ref().map(|_| ()).map_err(ToString::to_string);
    if let Some(b) = w.batch.take() {
        b.end(outcome);
    }
    w.members = 0;
    if done.is_ok() {
        restart_wal(&mut w.wal, &w.conn);
    }
    done.map_err(ExecErr::from)
}

/// After a failed statement: when SQLite rolled the whole batch back (a full disk, an
/// I/O error), tells its members and forgets it.
fn abandon_if_lost(w: &mut Writer, e: &rusqlite::Error) {
    if w.batch.is_some() && w.conn.is_autocommit() {
        if let Some(b) = w.batch.take() {
            b.end(Err(format!("the transaction was rolled back: {e}")));
        }
        w.members = 0;
    }
}

/// A transaction on the writer: the one that opens the writer's batch, or a savepoint in
/// it.
///
/// Group commit: SQLite pays for a commit per transaction (the WAL frames of every page
/// it changed, their checksums, the page cache's bookkeeping), and under concurrent
/// writes most of a small write's cost is that commit. So a transaction that finishes
/// while others wait for the writer releases its savepoint into the batch and lets the
/// next one run; the batch is committed once, by the last transaction that finds no one
/// waiting (or at [`MAX_BATCH`] members), and the members that handed it on wait for
/// its outcome without the writer. Every member reports success only after that `COMMIT`, so
/// nothing is acknowledged before it is in the database; a member that fails rolls
/// back to its savepoint and leaves the others' work alone. Alone, a transaction
/// commits at once, as before. (The guard sits in a `std` mutex, uncontended, only so
/// that the transaction is `Sync` like sea-orm's; a connection is `Send` only.)
pub(crate) struct Txn {
    conn: Mutex<Option<Held>>,
    /// Whether the transaction runs in a savepoint: not when it opened the batch, which
    /// then holds nothing else and is rolled back whole if it fails. A savepoint keeps a
    /// copy of every page the transaction changes, so a transaction alone (a client
    /// writing one request after another) skips that work.
    savepoint: bool,
}

impl Txn {
    /// A savepoint in the writer's open batch (opened with `BEGIN IMMEDIATE` when there is
    /// none), once the writer is free; `queued` counts the transactions waiting for it.
    pub(super) async fn begin(
        writer: &Arc<tokio::sync::Mutex<Writer>>,
        queued: &Arc<AtomicUsize>,
    ) -> Result<Txn, ExecErr> {
        let mut w = lock_writer(writer, queued).await;
        let savepoint = w.batch.is_some();
        if savepoint {
            if let Err(e) = run(&w.conn, "SAVEPOINT txn") {
                abandon_if_lost(&mut w, &e);
                return Err(e.into());
            }
        } else {
            run(&w.conn, "BEGIN IMMEDIATE")?;
            w.batch = Some(Arc::default());
            w.members = 0;
        }
        Ok(Txn { conn: Mutex::new(Some(w)), savepoint })
    }

    pub(crate) fn with<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, ExecErr>,
    ) -> Result<T, ExecErr> {
        let mut slot = self
            .conn
            .lock()
            .map_err(|_| ExecErr::Value("a transaction's connection was poisoned".into()))?;
        let w = slot.as_mut().ok_or_else(|| ExecErr::Value("the transaction ended".into()))?;
        if w.batch.is_none() {
            return Err(ExecErr::Value("the transaction was rolled back".into()));
        }
        let out = f(&w.conn);
        if let Err(ExecErr::Lite(e)) = &out {
            abandon_if_lost(w, e);
        }
        out
    }

    fn take(&self) -> Option<Held> {
        self.conn.lock().ok().and_then(|mut s| s.take())
    }

    /// Commits: releases the savepoint, then commits the batch now, or leaves it to a
    /// queued transaction and returns the outcome of the batch's `COMMIT` once it has
    /// one. Cancelled while it waits, it leaves its work in the batch, which commits all
    /// the same.
    pub(crate) async fn commit(self) -> Result<(), ExecErr> {
        let mut w = self.take().ok_or_else(|| ExecErr::Value("the transaction ended".into()))?;
        let Some(batch) = w.batch.clone() else {
            return Err(ExecErr::Value("the transaction was rolled back".into()));
        };
        if self.savepoint
            && let Err(e) = run(&w.conn, "RELEASE txn")
        {
            rollback_member(&mut w, true);
            return Err(e.into());
        }
        w.members += 1;
        // A transaction runs without yielding from `BEGIN` to here, so on a busy
        // runtime thread the requests that will write next have not got as far as
        // queueing: let them, once, then commit unless someone queued.
        if w.members < MAX_BATCH {
            tokio::task::yield_now().await;
        }
        if w.queued.load(Ordering::SeqCst) == 0 || w.members >= MAX_BATCH {
            return commit_batch(&mut w);
        }
        // Someone queued: the writer goes to them (see `Held`), the outcome comes here.
        drop(w);
        batch.outcome().await.map_err(ExecErr::Value)
    }
}

/// Undoes an unfinished transaction's work (back to its savepoint when it has one),
/// keeping the rest of the batch; a batch with no other member is rolled back.
fn rollback_member(w: &mut Writer, savepoint: bool) {
    if w.batch.is_none() {
        return;
    }
    let undone =
        if savepoint { w.conn.execute_batch("ROLLBACK TO txn; RELEASE txn") } else { Ok(()) };
    if undone.is_err() || w.members == 0 {
        if let Err(e) = &undone
            && let Some(b) = w.batch.as_ref()
        {
            b.end(Err(format!("the transaction could not be undone: {e}")));
        }
        if !w.conn.is_autocommit() {
            let _ = w.conn.execute_batch("ROLLBACK");
        }
        w.batch = None;
        w.members = 0;
    }
}

impl Drop for Txn {
    fn drop(&mut self) {
        // Nothing to report to: the statement that failed already did.
        if let Some(mut w) = self.take() {
            rollback_member(&mut w, self.savepoint);
        }
    }
}
