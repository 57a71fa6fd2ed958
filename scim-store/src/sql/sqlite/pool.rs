//! The inline pool: reader connections taken per statement, the writer, long scans.

use super::connection::{Mode, open};
use super::statement::execute;
use super::wal::{Checkpointer, WalState, note_wal_pages};
use super::writer::{Txn, Writer};
use crate::sql::outcome::{Done, ExecErr};
use rusqlite::Connection;
use sea_orm::StatementBuilder;
use std::path::PathBuf;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Long scans that run at once (see `Pool::scans`).
const SCANS: usize = 4;

/// Reader connections and the one writer.
pub(crate) struct Pool {
    path: PathBuf,
    mode: Mode,
    readers: Mutex<Vec<Connection>>,
    /// Reader connections opened so far (they are kept, idle ones in `readers`).
    opened: AtomicUsize,
    writer: Arc<tokio::sync::Mutex<Writer>>,
    /// Transactions waiting for the writer: while there are any, a finished
    /// transaction leaves its batch open for them (see [`Txn::commit`]).
    queued: Arc<AtomicUsize>,
    /// Long scans at once: each holds a thread and a reader connection (with its page
    /// cache) for its whole run, so their number is bounded; more wait their turn.
    scans: tokio::sync::Semaphore,
    /// Moves committed pages from the WAL into the database file (none when
    /// read-only).
    _checkpointer: Option<Checkpointer>,
    /// How long a long scan may run (see [`Pool::with_scan_limit`]).
    scan_limit: Option<Duration>,
}

/// SQLite virtual-machine steps between two looks at a scan's clock.
const SCAN_CLOCK_STEPS: std::ffi::c_int = 10_000;

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool").field("path", &self.path).field("mode", &self.mode).finish()
    }
}

impl Pool {
    /// Opens the writer (creating the file when the mode says so) and one reader.
    pub(crate) fn open(path: PathBuf, mode: Mode) -> Result<Pool, ExecErr> {
        let writer = open(&path, mode)?;
        // Every transaction that joins a batch is a savepoint of it, and a savepoint keeps the
        // original of each page it changes in a statement journal. SQLite spills that
        // journal to a temporary file beyond 64 KiB, which a batch of a few creates
        // already passes: a write() per page, a fifth of a create's CPU. The writer
        // keeps it in memory instead; it lives until the batch commits, and holds at
        // most the pages the batch's transactions change.
        // (Readers keep the default: there `temp_store` would also hold a large sort
        // in memory.)
        writer.pragma_update(None, "temp_store", "MEMORY")?;
        writer.wal_hook(Some(note_wal_pages));
        let reader = open(&path, mode)?;
        let checkpointer = match mode {
            Mode::ReadOnly => None,
            Mode::ReadWrite | Mode::Create => Some(Checkpointer::start(&path, mode)?),
        };
        Ok(Pool {
            path: path.clone(),
            mode,
            readers: Mutex::new(vec![reader]),
            opened: AtomicUsize::new(1),
            writer: Arc::new(tokio::sync::Mutex::new(Writer::new(
                writer,
                WalState::new(checkpointer.as_ref()),
            ))),
            queued: Arc::new(AtomicUsize::new(0)),
            scans: tokio::sync::Semaphore::new(SCANS),
            _checkpointer: checkpointer,
            scan_limit: None,
        })
    }

    /// Stops a long scan (see [`Pool::scan`]) that runs longer than `limit`: SQLite
    /// fails it with `SQLITE_INTERRUPT`.
    pub(crate) fn with_scan_limit(mut self, limit: Option<Duration>) -> Pool {
        self.scan_limit = limit;
        self
    }

    /// [`Pool::read`]; when `long`, within the scan limit: SQLite checks the clock
    /// every [`SCAN_CLOCK_STEPS`] steps of the statement and interrupts it past the
    /// deadline.
    pub(crate) fn scan<T>(
        &self,
        long: bool,
        f: impl FnOnce(&Connection) -> Result<T, ExecErr>,
    ) -> Result<T, ExecErr> {
        let Some(limit) = self.scan_limit.filter(|_| long) else { return self.read(f) };
        self.read(|c| {
            let deadline = std::time::Instant::now() + limit;
            c.progress_handler(
                SCAN_CLOCK_STEPS,
                Some(move || std::time::Instant::now() >= deadline),
            )?;
            let out = f(c);
            c.progress_handler(0, None::<fn() -> bool>)?;
            out
        })
    }

    /// A turn for a long scan (none needed for a short query).
    pub(crate) async fn scan_slot(
        &self,
        long: bool,
    ) -> Result<Option<tokio::sync::SemaphorePermit<'_>>, ExecErr> {
        if !long {
            return Ok(None);
        }
        self.scans
            .acquire()
            .await
            .map(Some)
            .map_err(|_| ExecErr::Value("the scan queue is closed".into()))
    }

    /// Runs `f` on a reader connection (taken from the free list, or opened).
    pub(crate) fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, ExecErr>,
    ) -> Result<T, ExecErr> {
        let taken = self.readers.lock().ok().and_then(|mut l| l.pop());
        let conn = match taken {
            Some(c) => c,
            None => {
                let c = open(&self.path, self.mode)?;
                self.opened.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                c
            }
        };
        let out = f(&conn);
        if let Ok(mut l) = self.readers.lock() {
            l.push(conn);
        }
        out
    }

    /// Connections open (the readers and the writer) and, of those, idle.
    pub(crate) fn connections(&self) -> (u64, u64) {
        let opened = self.opened.load(std::sync::atomic::Ordering::Relaxed);
        let free = self.readers.lock().map(|l| l.len()).unwrap_or(0);
        let writer_free = usize::from(self.writer.try_lock().is_ok());
        let n = |v: usize| u64::try_from(v).unwrap_or(u64::MAX);
        (n(opened + 1), n(free + writer_free))
    }

    pub(crate) fn ping(&self) -> Result<(), ExecErr> {
        self.read(|c| Ok(c.query_row("SELECT 1", [], |_| Ok(()))?))
    }

    /// One statement on the writer, as a transaction of its own.
    pub(crate) async fn write(&self, s: &dyn StatementBuilder) -> Result<Done, ExecErr> {
        let t = self.begin().await?;
        let done = t.with(|c| execute(c, s))?;
        t.commit().await?;
        Ok(done)
    }

    /// A transaction on the writer, which it holds until it commits or is dropped: a
    /// savepoint in the writer's open batch, or the one that opens a batch with
    /// `BEGIN IMMEDIATE` when there is none.
    pub(crate) async fn begin(&self) -> Result<Txn, ExecErr> {
        Txn::begin(&self.writer, &self.queued).await
    }
}
