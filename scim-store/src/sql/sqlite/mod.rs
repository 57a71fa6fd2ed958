//! SQLite: its [`Backend`](crate::sql::backend::Backend) (`backend`: JSON1 SQL, the
//! migration lock, sqlx options), and the inline engine for SQLite files, which bypasses
//! sqlx (`conn` says why): `pool` (reader connections, long scans), `writer` (the one
//! writer and group commit), `wal` (WAL length and checkpoints), `connection` (opening
//! one: pragmas, the prepared-statement cache), `statement` (running one sea-query
//! statement); and `backup` (online backup and restore of a database file).

mod backend;
#[cfg(feature = "sqlite")]
pub mod backup;
#[cfg(feature = "sqlite")]
mod connection;
#[cfg(feature = "sqlite")]
mod pool;
#[cfg(feature = "sqlite")]
mod statement;
#[cfg(feature = "sqlite")]
mod wal;
#[cfg(feature = "sqlite")]
mod writer;

pub(crate) use backend::Sqlite;
#[cfg(feature = "sqlite")]
pub(crate) use connection::Mode;
#[cfg(feature = "sqlite")]
pub(crate) use pool::Pool;
#[cfg(feature = "sqlite")]
pub(crate) use statement::{Row, execute, offload, query};
#[cfg(feature = "sqlite")]
pub(crate) use writer::Txn;

/// The file of an SQLite database URL (`sqlite://FILE`, `sqlite:FILE`, with or without
/// `?` parameters); `None` for in-memory databases and other backends.
pub fn sqlite_path(url: &str) -> Option<std::path::PathBuf> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split_once('?').map_or(rest, |(p, _)| p);
    if path.is_empty() || path.contains(":memory:") || url.contains("mode=memory") {
        return None;
    }
    Some(std::path::PathBuf::from(path.strip_prefix("file:").unwrap_or(path)))
}

/// An SQLite file URL (`sqlite://path?mode=rwc`, `sqlite:path`) the inline pool can open:
/// the path and whether to create the file. `None` for in-memory databases and for URLs
/// with parameters or escapes this parser does not know; those go through sqlx.
#[cfg(feature = "sqlite")]
pub(crate) fn sqlite_file(url: &str) -> Option<(std::path::PathBuf, Mode)> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let (path, params) = match rest.split_once('?') {
        Some((p, q)) => (p, q),
        None => (rest, ""),
    };
    if path.is_empty()
        || path.contains(":memory:")
        || path.contains('%')
        || path.starts_with("file:")
    {
        return None;
    }
    let mut mode = Mode::ReadWrite;
    for kv in params.split('&').filter(|kv| !kv.is_empty()) {
        match kv.split_once('=')? {
            ("mode", "rwc") => mode = Mode::Create,
            ("mode", "rw") => mode = Mode::ReadWrite,
            ("mode", "ro") => mode = Mode::ReadOnly,
            _ => return None,
        }
    }
    Some((std::path::PathBuf::from(path), mode))
}

#[cfg(all(test, feature = "sqlite"))]
mod tests;
