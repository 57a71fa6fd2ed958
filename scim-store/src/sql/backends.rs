//! The backends this build knows, and which one serves a URL or a sea-orm connection.

use super::backend::Backend;
use super::mysql::MySql;
use super::postgres::Postgres;
use super::sqlite::Sqlite;
use crate::{Result, StoreError};
use sea_orm::DbBackend;

/// Every backend, compiled in or not.
const ALL: [&'static dyn Backend; 3] = [&Sqlite, &Postgres, &MySql];

/// The backend that writes `b`'s SQL.
pub(crate) fn of(b: DbBackend) -> &'static dyn Backend {
    ALL.into_iter().find(|x| x.sea() == b).unwrap_or(&Sqlite)
}

/// The backend of a (normalised) URL; an unknown scheme, or one of a backend this build
/// leaves out, is a [`StoreError::Connect`] naming the schemes that are served.
pub(crate) fn for_url(url: &str) -> Result<&'static dyn Backend> {
    let scheme = url.split_once(':').map_or("", |(s, _)| s);
    let served = || ALL.into_iter().filter(|b| b.compiled());
    if let Some(b) = served().find(|b| b.schemes().contains(&scheme)) {
        return Ok(b);
    }
    let list: Vec<String> =
        served().flat_map(|b| b.schemes().iter()).map(|k| format!("{k}://")).collect();
    Err(StoreError::Connect(format!(
        "unknown database URL scheme `{scheme}:` (known: {})",
        list.join(", ")
    )))
}
