//! SQLite: the inline engine for SQLite files (the parent module's docs say why it
//! bypasses sqlx): `pool` (reader connections, long scans), `writer` (the one writer and
//! group commit), `wal` (WAL length and checkpoints), `connection` (opening one: pragmas,
//! the prepared-statement cache), `statement` (running one sea-query statement).

mod connection;
mod pool;
mod statement;
mod wal;
mod writer;

pub(crate) use connection::Mode;
pub(crate) use pool::Pool;
pub(crate) use statement::{Row, execute, offload, query};
pub(crate) use writer::Txn;

/// An SQLite file URL (`sqlite://path?mode=rwc`, `sqlite:path`) the inline pool can open:
/// the path and whether to create the file. `None` for in-memory databases and for URLs
/// with parameters or escapes this parser does not know; those go through sqlx.
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

#[cfg(test)]
mod tests;
