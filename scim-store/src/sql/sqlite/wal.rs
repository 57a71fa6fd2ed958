//! The WAL and its checkpoints: a checkpointer thread, and the writer's part in keeping
//! the WAL short.

use super::connection::{Mode, open};
use super::statement::offload;
use crate::sql::outcome::ExecErr;
use rusqlite::Connection;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// WAL pages after which the WAL should start over (see [`restart_wal`]): 32 MiB of
/// 4 KiB pages. SQLite's automatic checkpoint uses 1,000; a longer WAL means fewer
/// copies of the pages every write changes (index roots, the tails of the change log
/// and of the table), which a checkpoint copies once however often they were
/// written: creates ran 25% faster with 8,000 pages than with 1,000 (load mix).
const WAL_RESTART_PAGES: i64 = 8000;

/// At most this many pages left to copy, the writer finishes a checkpoint itself
/// (see [`restart_wal`]).
const WAL_CATCH_UP_PAGES: i64 = 128;

/// From this length on (64 MiB, the size the WAL file is cut back to), the writer
/// copies whatever is left itself, however long that takes: a checkpointer that cannot
/// keep up with the writes must not let the WAL grow without bound.
const WAL_MAX_PAGES: i64 = 16_384;

std::thread_local! {
    /// The WAL's length in pages after the last commit on this thread, as SQLite's
    /// WAL hook reports it (the hook runs inside `COMMIT`, on the committing thread).
    pub(super) static WAL_PAGES: std::cell::Cell<i64> = const { std::cell::Cell::new(0) };
}

/// The writer's WAL hook: remembers the WAL's length for [`commit_batch`].
#[allow(clippy::unnecessary_wraps)] // the signature rusqlite's hook takes
pub(super) fn note_wal_pages(
    _: &rusqlite::hooks::Wal,
    pages: std::ffi::c_int,
) -> rusqlite::Result<()> {
    WAL_PAGES.with(|p| p.set(i64::from(pages)));
    Ok(())
}

/// A passive checkpoint on `conn`: (frames in the WAL, frames checkpointed), or `None`
/// when another checkpoint was running (a busy or partial checkpoint is finished by a
/// later one).
fn checkpoint(conn: &Connection) -> Option<(i64, i64)> {
    let done = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
    });
    match done {
        Ok((0, log, copied)) => Some((log, copied)),
        Ok(_) => None,
        Err(e) => {
            tracing::warn!(error = %e, "SQLite checkpoint failed");
            None
        }
    }
}

/// How often the checkpointer runs unasked.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

/// A thread with a connection of its own that runs a passive checkpoint every
/// [`CHECKPOINT_EVERY`], or at once when the writer asks: it copies the pages that
/// committed transactions wrote to the WAL into the database file and fsyncs both,
/// without blocking readers or the writer. It stops when the pool is dropped.
pub(super) struct Checkpointer {
    shared: Arc<CheckpointShared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// What the checkpointer and the writer share.
#[derive(Default)]
struct CheckpointShared {
    /// The thread's orders.
    orders: Mutex<Orders>,
    wake: std::sync::Condvar,
    /// The last complete checkpoint.
    done: Mutex<Option<Report>>,
}

#[derive(Default)]
struct Orders {
    stop: bool,
    asked: bool,
    /// The WAL's generation when the writer last asked (see [`WalState::generation`]).
    generation: u64,
}

/// A complete checkpoint: of which generation of the WAL, how many frames it held, how
/// many were copied.
#[derive(Clone, Copy)]
struct Report {
    generation: u64,
    log: i64,
    copied: i64,
}

impl CheckpointShared {
    /// Asks for a checkpoint of the WAL's `generation` now.
    fn ask(&self, generation: u64) {
        if let Ok(mut o) = self.orders.lock() {
            o.asked = true;
            o.generation = generation;
            self.wake.notify_one();
        }
    }

    fn record(&self, generation: u64, (log, copied): (i64, i64)) {
        if let Ok(mut d) = self.done.lock() {
            *d = Some(Report { generation, log, copied });
        }
    }

    /// Pages the last checkpoint left to copy of the WAL's `generation`, now `pages`
    /// long; `None` when no checkpoint of this generation was reported.
    fn left(&self, generation: u64, pages: i64) -> Option<i64> {
        let d = (*self.done.lock().ok()?)?;
        (d.generation == generation && d.log <= pages).then(|| pages - d.copied)
    }
}

impl Checkpointer {
    pub(super) fn start(path: &PathBuf, mode: Mode) -> Result<Checkpointer, ExecErr> {
        let conn = open(path, mode)?;
        let shared = Arc::new(CheckpointShared::default());
        let theirs = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || {
                loop {
                    let Ok(mut o) = theirs.orders.lock() else { return };
                    if !o.stop && !o.asked {
                        o = match theirs.wake.wait_timeout(o, CHECKPOINT_EVERY) {
                            Ok((o, _)) => o,
                            Err(_) => return,
                        };
                    }
                    if o.stop {
                        return;
                    }
                    o.asked = false;
                    // The generation of the last request: a checkpoint that runs
                    // after the WAL started over again is reported under an older
                    // generation than the writer's, which the writer ignores.
                    let generation = o.generation;
                    drop(o);
                    if let Some(done) = checkpoint(&conn) {
                        theirs.record(generation, done);
                    }
                }
            })
            .map_err(|e| ExecErr::Value(format!("cannot start the checkpointer: {e}")))?;
        Ok(Checkpointer { shared, thread: Some(thread) })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        if let Ok(mut o) = self.shared.orders.lock() {
            o.stop = true;
            self.shared.wake.notify_one();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Once the WAL holds [`WAL_RESTART_PAGES`] after a commit, makes it start over.
///
/// SQLite starts the WAL over only when a write transaction begins on a WAL that is
/// checkpointed to its end, and under a steady stream of writes the checkpointer thread
/// never finds it so: each batch appends while it copies. The WAL then grows without
/// bound (a gigabyte a minute of creates), and each append to a new part of the file
/// costs the kernel more than the write itself (it zeroes the new blocks).
///
/// So the writer asks the checkpointer thread to copy the WAL now, and when a
/// checkpoint of this WAL has left at most [`WAL_CATCH_UP_PAGES`] to copy, or the WAL
/// holds [`WAL_MAX_PAGES`], it copies the rest itself between two batches (under
/// `block_in_place`, so other requests go on meanwhile): with no batch open the
/// checkpoint reaches the end, and the next `BEGIN` writes from the start of the file
/// again (unless a reader still reads the old pages; a later commit tries again). The
/// writer's pause is the copy of what the checkpointer has not copied yet and two
/// fsyncs; the bulk of the copy and its fsyncs happen on the checkpointer's thread,
/// while writes go on. A checkpoint's report names the WAL's generation it was asked
/// for, so one from before the WAL last started over is never taken for this WAL's.
pub(super) fn restart_wal(wal: &mut WalState, conn: &Connection) {
    let pages = WAL_PAGES.with(std::cell::Cell::get);
    if pages == 0 {
        return; // the commit wrote nothing
    }
    if pages < wal.pages {
        wal.generation += 1;
    }
    wal.pages = pages;
    let Some(shared) = wal.checkpoints.as_ref() else { return };
    if pages < WAL_RESTART_PAGES {
        return;
    }
    let close = shared.left(wal.generation, pages).is_some_and(|left| left <= WAL_CATCH_UP_PAGES);
    if close || pages >= WAL_MAX_PAGES {
        let must = pages >= WAL_MAX_PAGES;
        let done = offload(true, || {
            // Past the ceiling the writer copies the WAL itself even when the checkpointer
            // is in the middle of a pass: it waits for that pass to end, then copies what
            // the pass left (a pass started before the last commits never reaches the end
            // of the WAL, and the WAL only starts over after one that does).
            for _ in 0..if must { 200 } else { 1 } {
                match checkpoint(conn) {
                    Some(done) => return Some(done),
                    None if must => std::thread::sleep(Duration::from_millis(5)),
                    None => {}
                }
            }
            None
        });
        if let Some(done) = done {
            shared.record(wal.generation, done);
        }
    } else {
        shared.ask(wal.generation);
    }
}

/// What the writer knows of its WAL.
pub(super) struct WalState {
    /// The checkpointer's reports and doorbell (none when read-only).
    checkpoints: Option<Arc<CheckpointShared>>,
    /// How many times this writer saw the WAL start over (its length after a commit
    /// went down): tells the checkpoints of the current WAL from older ones.
    generation: u64,
    /// The WAL's length after the last commit that wrote to it.
    pages: i64,
}

impl WalState {
    /// A writer's state, with the checkpointer of its pool (none when read-only).
    pub(super) fn new(checkpointer: Option<&Checkpointer>) -> WalState {
        WalState {
            checkpoints: checkpointer.map(|c| Arc::clone(&c.shared)),
            generation: 0,
            pages: 0,
        }
    }
}
