//! Backup and restore of an SQLite database file (`scim-server admin backup` and
//! `admin restore-backup`, `docs/operations.md`).
//!
//! - [`create`] copies a database while servers use it: `VACUUM INTO` reads one snapshot
//!   (a read transaction, which in WAL mode never blocks the writer nor waits for it), so
//!   the copy is consistent as of one commit. It is written beside the destination, synced,
//!   checked with `PRAGMA integrity_check`, and only then moved into place, so a file at
//!   the destination is always a whole backup.
//! - [`restore`] replaces a database file with a backup, only when no process has the
//!   database open: it takes SQLite's exclusive lock on the file first (every connection
//!   of a running server holds a shared lock on a WAL database for as long as it is open),
//!   and refuses when it cannot. The backup is checked before anything is touched: its
//!   integrity, that it is this service's database, and that this version knows every
//!   migration it has. Applying the migrations it lacks is the caller's next step (opening
//!   the store and migrating, as `serve` and `migrate` do).

use crate::sql::migration::Migrator;
use rusqlite::{Connection, ErrorCode, OpenFlags};
use sea_orm_migration::MigratorTrait as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Why a backup or restore did not happen.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackupError {
    /// The file to copy or restore from, or the backup's directory, does not exist.
    #[error("{0}: no such file or directory")]
    Missing(PathBuf),
    /// The destination exists and overwriting was not asked for.
    #[error("{0} already exists (pass --force to overwrite it)")]
    Exists(PathBuf),
    /// A process (a running server, an admin command) has the database open.
    #[error(
        "{0} is in use by another process (a running scim-server?): stop every server and \
         admin command using it, then restore again"
    )]
    InUse(PathBuf),
    /// `PRAGMA integrity_check` found damage.
    #[error("{path} failed PRAGMA integrity_check: {report}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What SQLite reported (its first lines).
        report: String,
    },
    /// The file is an SQLite database but not this service's.
    #[error("{0} is not a scim-server database (it has no migrations table)")]
    NotScim(PathBuf),
    /// The backup was made by a newer version: it has migrations this version lacks.
    #[error(
        "{path} was made by a newer scim-server: it has migrations this version does not know \
         ({unknown}); restore it with that version or a later one"
    )]
    Newer {
        /// The file.
        path: PathBuf,
        /// The unknown migrations.
        unknown: String,
    },
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// SQLite failed.
    #[error("{path}: {source}")]
    Sqlite {
        /// The file.
        path: PathBuf,
        /// The error.
        source: rusqlite::Error,
    },
}

/// What a checked database file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// The migrations it has, in the order they were applied.
    pub migrations: Vec<String>,
    /// The migrations this version knows and it lacks (applied when it is opened).
    pub pending: Vec<String>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io { path: path.to_owned(), source }
}

fn sql(path: &Path) -> impl FnOnce(rusqlite::Error) -> BackupError + '_ {
    move |source| BackupError::Sqlite { path: path.to_owned(), source }
}

/// `path` with `suffix` appended to its file name (`scim.db` -> `scim.db-wal`).
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().map(std::ffi::OsStr::to_os_string).unwrap_or_default();
    name.push(suffix);
    path.with_file_name(name)
}

/// Copies the database at `source` to `dest` while other processes use it (see the module
/// doc); an existing `dest` is replaced only with `overwrite`. Returns what the copy holds.
pub fn create(source: &Path, dest: &Path, overwrite: bool) -> Result<Snapshot, BackupError> {
    if !source.is_file() {
        return Err(BackupError::Missing(source.to_owned()));
    }
    if dest.exists() && !overwrite {
        return Err(BackupError::Exists(dest.to_owned()));
    }
    if let Some(parent) = dest.parent().filter(|p| !p.as_os_str().is_empty())
        && !parent.is_dir()
    {
        return Err(BackupError::Missing(parent.to_owned()));
    }
    let partial = with_suffix(dest, ".partial");
    // A previous attempt that died leaves its partial copy; VACUUM INTO wants no file.
    match std::fs::remove_file(&partial) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(&partial)(e)),
        _ => {}
    }
    {
        // Read-write without create: the source must exist, and SQLite may need to open
        // its WAL index; VACUUM INTO only reads it.
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let c = Connection::open_with_flags(source, flags).map_err(sql(source))?;
        c.busy_timeout(Duration::from_secs(30)).map_err(sql(source))?;
        let target = partial.to_str().ok_or_else(|| BackupError::Io {
            path: partial.clone(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "not UTF-8"),
        })?;
        c.execute("VACUUM INTO ?1", [target]).map_err(sql(source))?;
    }
    // VACUUM INTO does not sync what it wrote.
    std::fs::File::open(&partial).and_then(|f| f.sync_all()).map_err(io(&partial))?;
    let snapshot = match verify(&partial) {
        Ok(s) => s,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    let placed = if overwrite {
        std::fs::rename(&partial, dest).map_err(io(dest))
    } else {
        // A hard link never replaces a file that appeared since the check above.
        match std::fs::hard_link(&partial, dest) {
            Ok(()) => std::fs::remove_file(&partial).map_err(io(&partial)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Err(BackupError::Exists(dest.to_owned()))
            }
            // A file system without hard links.
            Err(_) => std::fs::rename(&partial, dest).map_err(io(dest)),
        }
    };
    if let Err(e) = placed {
        let _ = std::fs::remove_file(&partial);
        return Err(e);
    }
    Ok(Snapshot { path: dest.to_owned(), ..snapshot })
}

/// Checks a database file without changing it: `PRAGMA integrity_check`, that it is this
/// service's database, and that this version knows all its migrations.
pub fn verify(path: &Path) -> Result<Snapshot, BackupError> {
    if !path.is_file() {
        return Err(BackupError::Missing(path.to_owned()));
    }
    let bytes = std::fs::metadata(path).map_err(io(path))?.len();
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let c = Connection::open_with_flags(path, flags).map_err(sql(path))?;
    c.busy_timeout(Duration::from_secs(5)).map_err(sql(path))?;
    let mut report: Vec<String> = Vec::new();
    {
        let mut st = c.prepare("PRAGMA integrity_check").map_err(sql(path))?;
        let rows = st.query_map([], |r| r.get::<_, String>(0)).map_err(sql(path))?;
        for row in rows {
            report.push(row.map_err(sql(path))?);
        }
    }
    if report != ["ok"] {
        let report = report.into_iter().take(5).collect::<Vec<_>>().join("; ");
        return Err(BackupError::Corrupt { path: path.to_owned(), report });
    }
    let has_table = c
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'seaql_migrations'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .map_err(sql(path))?;
    if has_table == 0 {
        return Err(BackupError::NotScim(path.to_owned()));
    }
    let mut migrations = Vec::new();
    {
        let mut st = c
            .prepare("SELECT version FROM seaql_migrations ORDER BY applied_at, version")
            .map_err(sql(path))?;
        let rows = st.query_map([], |r| r.get::<_, String>(0)).map_err(sql(path))?;
        for row in rows {
            migrations.push(row.map_err(sql(path))?);
        }
    }
    let known: Vec<String> = Migrator::migrations().iter().map(|m| m.name().to_owned()).collect();
    let unknown: Vec<&str> =
        migrations.iter().filter(|m| !known.contains(m)).map(String::as_str).collect();
    if !unknown.is_empty() {
        return Err(BackupError::Newer { path: path.to_owned(), unknown: unknown.join(", ") });
    }
    let pending = known.into_iter().filter(|k| !migrations.contains(k)).collect();
    Ok(Snapshot { path: path.to_owned(), bytes, migrations, pending })
}

/// Replaces the database at `target` (which need not exist) with the backup at `backup`,
/// after [`verify`]ing it, and only when no process has `target` open (see the module
/// doc). The backup file itself is left as it is. Returns what was restored.
pub fn restore(backup: &Path, target: &Path) -> Result<Snapshot, BackupError> {
    let snapshot = verify(backup)?;
    let staged = with_suffix(target, ".restoring");
    std::fs::copy(backup, &staged).map_err(io(&staged))?;
    let synced = std::fs::File::open(&staged).and_then(|f| f.sync_all()).map_err(io(&staged));
    if let Err(e) = synced {
        let _ = std::fs::remove_file(&staged);
        return Err(e);
    }
    let lock = if target.exists() {
        match lock_exclusively(target) {
            Ok(c) => Some(c),
            Err(e) => {
                let _ = std::fs::remove_file(&staged);
                return Err(e);
            }
        }
    } else {
        None
    };
    // Under the lock: no process reads the old file or its WAL, and none can open it
    // before the new file has taken its name.
    if let Err(e) = std::fs::rename(&staged, target).map_err(io(target)) {
        let _ = std::fs::remove_file(&staged);
        return Err(e);
    }
    // Closing the lock's connection checkpoints the old WAL into the old (now unnamed)
    // file and removes the WAL by name; whatever is left of the old WAL and its index
    // must not be read as the new file's.
    drop(lock);
    for suffix in ["-wal", "-shm"] {
        let stale = with_suffix(target, suffix);
        match std::fs::remove_file(&stale) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(&stale)(e)),
            _ => {}
        }
    }
    Ok(Snapshot { path: target.to_owned(), ..snapshot })
}

/// A connection holding SQLite's exclusive lock on `path`, or [`BackupError::InUse`].
///
/// In exclusive locking mode, the first access to a WAL database takes the exclusive lock
/// on the file before opening the WAL, and a rollback-journal database is locked by
/// `BEGIN EXCLUSIVE`; either fails at once while any other connection has it open.
fn lock_exclusively(path: &Path) -> Result<Connection, BackupError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let c = Connection::open_with_flags(path, flags).map_err(sql(path))?;
    c.busy_timeout(Duration::from_millis(250)).map_err(sql(path))?;
    let busy = |e: &rusqlite::Error| {
        matches!(e, rusqlite::Error::SqliteFailure(f, _)
            if matches!(f.code, ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked))
    };
    let locked = c
        .pragma_update(None, "locking_mode", "EXCLUSIVE")
        .and_then(|()| c.execute_batch("BEGIN EXCLUSIVE"));
    match locked {
        Ok(()) => {}
        Err(e) if busy(&e) => return Err(BackupError::InUse(path.to_owned())),
        Err(e) => return Err(sql(path)(e)),
    }
    // `BEGIN EXCLUSIVE` has read the header and holds the lock (the exclusive lock of a
    // WAL database is taken as its WAL opens). A database damaged past its header (the
    // reason to restore, often) may fail this read, but is locked all the same.
    match c.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get::<_, i64>(0)) {
        Ok(_) => Ok(c),
        Err(e) if busy(&e) => Err(BackupError::InUse(path.to_owned())),
        Err(rusqlite::Error::SqliteFailure(f, _))
            if matches!(f.code, ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) =>
        {
            Ok(c)
        }
        Err(e) => Err(sql(path)(e)),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{SqlStore, Store as _};
    use std::sync::Arc;

    /// A fresh directory, removed on drop.
    struct Dir(PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn url(p: &Path) -> String {
        format!("sqlite://{}?mode=rwc", p.display())
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn an_older_backup_is_restored_and_then_migrated_and_a_newer_one_refused() {
        let dir =
            Dir(std::env::temp_dir().join(format!("scim-store-backup-{}", std::process::id())));
        let _ = std::fs::remove_dir_all(&dir.0);
        std::fs::create_dir_all(&dir.0).unwrap();
        let live = dir.0.join("live.db");
        let registry = Arc::new(scim_core::schema::Registry::builtin());
        let store = SqlStore::connect(&url(&live), registry.clone()).await.unwrap();
        store.migrate().await.unwrap();
        let org = store.create_organization("acme", &[]).await.unwrap();

        let older = dir.0.join("older.db");
        let made = create(&live, &older, false).unwrap();
        assert!(made.pending.is_empty() && made.bytes > 0, "{made:?}");
        assert!(matches!(create(&live, &older, false), Err(BackupError::Exists(_))));
        // Make the copy one of the version before the last migration.
        Connection::open(&older)
            .unwrap()
            .execute_batch(
                "DROP TABLE event_streams; DROP TABLE event_keys;
                 ALTER TABLE change_log DROP COLUMN actor;
                 ALTER TABLE change_log DROP COLUMN request_id;
                 ALTER TABLE change_log DROP COLUMN method;
                 DELETE FROM seaql_migrations WHERE version = 'm0006_events';",
            )
            .unwrap();
        assert_eq!(verify(&older).unwrap().pending, ["m0006_events"]);

        // The live database is open (this store): refused, and nothing changed.
        assert!(matches!(restore(&older, &live), Err(BackupError::InUse(_))));
        assert_eq!(store.organization(org.sid).await.unwrap().unwrap().name, "acme");

        let target = dir.0.join("restored.db");
        let restored = restore(&older, &target).unwrap();
        assert_eq!(restored.pending, ["m0006_events"]);
        let again = SqlStore::connect(&url(&target), registry).await.unwrap();
        again.migrate().await.unwrap();
        assert!(again.migration_status().await.unwrap().iter().all(|m| m.applied));
        assert_eq!(again.organization(org.sid).await.unwrap().unwrap().name, "acme");

        // A backup with a migration this version does not know.
        let newer = dir.0.join("newer.db");
        create(&live, &newer, false).unwrap();
        Connection::open(&newer)
            .unwrap()
            .execute(
                "INSERT INTO seaql_migrations (version, applied_at) VALUES ('m9999_future', 0)",
                [],
            )
            .unwrap();
        assert!(matches!(verify(&newer), Err(BackupError::Newer { .. })));
        let fresh = dir.0.join("fresh.db");
        assert!(matches!(restore(&newer, &fresh), Err(BackupError::Newer { .. })));
        assert!(!fresh.exists());
    }
}
