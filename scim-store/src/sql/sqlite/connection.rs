//! Opening an SQLite connection: flags, WAL, pragmas and the prepared-statement cache.

use crate::sql::outcome::ExecErr;
use rusqlite::{Connection, OpenFlags};
use std::path::PathBuf;
use std::time::Duration;

/// How an SQLite file is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Read and write; the file must exist.
    ReadWrite,
    /// Read and write; created when missing.
    Create,
    /// Read only.
    ReadOnly,
}

/// Prepared statements kept per connection.
const STATEMENT_CACHE: usize = 256;

pub(super) fn open(path: &PathBuf, mode: Mode) -> Result<Connection, ExecErr> {
    let mut flags = OpenFlags::SQLITE_OPEN_NO_MUTEX;
    flags |= match mode {
        Mode::ReadOnly => OpenFlags::SQLITE_OPEN_READ_ONLY,
        Mode::ReadWrite => OpenFlags::SQLITE_OPEN_READ_WRITE,
        Mode::Create => OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
    };
    let c = Connection::open_with_flags(path, flags)?;
    c.busy_timeout(Duration::from_secs(5))?;
    if mode != Mode::ReadOnly {
        // WAL is a property of the file; setting it again is a no-op.
        set_wal(&c)?;
        // No automatic checkpoint in a commit: it would copy the WAL's pages into the
        // database and fsync twice on the request's thread, stalling every request
        // behind it. The pool's checkpointer thread copies them instead (see
        // `Checkpointer`), and the writer finishes the copy once the WAL is long,
        // off the runtime's thread (see `wal::restart_wal`).
        c.pragma_update(None, "wal_autocheckpoint", 0)?;
        // After a checkpoint, the WAL file is cut back to 64 MiB when it restarts.
        c.pragma_update(None, "journal_size_limit", 64_i64 << 20)?;
    }
    c.pragma_update(None, "synchronous", "NORMAL")?;
    c.pragma_update(None, "foreign_keys", "ON")?;
    // LIKE must honour case for caseExact attributes (and can then use indexes).
    c.pragma_update(None, "case_sensitive_like", "ON")?;
    // 16 MiB of page cache per connection and reads of the first 256 MiB of the file
    // through a memory map: a hot working set is served without a read() per page.
    // (Mapped pages are the OS's page cache; they count in the process's RSS as
    // shared file pages.)
    c.pragma_update(None, "cache_size", -16_384)?;
    c.pragma_update(None, "mmap_size", 256_i64 << 20)?;
    c.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(c)
}

/// Puts the file in WAL mode. Switching a new file takes its exclusive lock, and replicas
/// that open the same new file at once can be refused with "database is locked" at once,
/// without SQLite's busy handler waiting (seen under load with six at once): the switch
/// is tried again for up to the busy timeout.
fn set_wal(c: &Connection) -> Result<(), ExecErr> {
    let started = std::time::Instant::now();
    loop {
        match c.pragma_update(None, "journal_mode", "WAL") {
            Err(rusqlite::Error::SqliteFailure(f, _))
                if matches!(
                    f.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) && started.elapsed() < Duration::from_secs(5) =>
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            other => return Ok(other?),
        }
    }
}
