//! What running a statement gives back, from either kind of connection: [`Done`] or an
//! [`ExecErr`], and how an [`ExecErr`] becomes a [`StoreError`](crate::StoreError).

use crate::StoreError;
use scim_core::{ErrorCode, ScimError};
use sea_orm::{DbErr, SqlErr};

/// The result of a statement that returns no rows.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Done {
    rows: u64,
}

impl Done {
    /// A statement that changed `rows` rows.
    pub(crate) fn new(rows: u64) -> Done {
        Done { rows }
    }

    /// Rows the statement changed.
    pub(crate) fn rows_affected(&self) -> u64 {
        self.rows
    }
}

/// A failed statement, from either kind of connection.
#[derive(Debug)]
pub(crate) enum ExecErr {
    /// From sea-orm / sqlx.
    Sea(DbErr),
    /// From an inline SQLite connection.
    #[cfg(feature = "sqlite")]
    Lite(rusqlite::Error),
    /// A value that could not be bound or read.
    Value(String),
    /// Not tried: the database was found unreachable moments ago (see `breaker`).
    Unreachable,
}

impl From<DbErr> for ExecErr {
    fn from(e: DbErr) -> Self {
        ExecErr::Sea(e)
    }
}

#[cfg(feature = "sqlite")]
impl From<rusqlite::Error> for ExecErr {
    fn from(e: rusqlite::Error) -> Self {
        ExecErr::Lite(e)
    }
}

impl std::fmt::Display for ExecErr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExecErr::Sea(e) => e.fmt(f),
            #[cfg(feature = "sqlite")]
            ExecErr::Lite(e) => e.fmt(f),
            ExecErr::Value(m) => f.write_str(m),
            ExecErr::Unreachable => {
                f.write_str("the database was unreachable moments ago; not retried yet")
            }
        }
    }
}

impl ExecErr {
    /// A unique or primary-key constraint was violated.
    pub(crate) fn is_unique(&self) -> bool {
        match self {
            ExecErr::Sea(e) => matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))),
            #[cfg(feature = "sqlite")]
            ExecErr::Lite(rusqlite::Error::SqliteFailure(f, _)) => matches!(
                f.extended_code,
                rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
            ),
            #[cfg(feature = "sqlite")]
            ExecErr::Lite(_) => false,
            ExecErr::Value(_) | ExecErr::Unreachable => false,
        }
    }

    /// A statement stopped by its time limit: on SQLite by `sqlite::Pool::with_scan_limit`,
    /// on PostgreSQL by `statement_timeout` (SQLSTATE 57014), on MariaDB by
    /// `max_statement_time` (error 1969), on MySQL by `max_execution_time` (3024).
    pub(crate) fn is_interrupted(&self) -> bool {
        match self {
            ExecErr::Sea(DbErr::Exec(sea_orm::RuntimeErr::SqlxError(s)))
            | ExecErr::Sea(DbErr::Query(sea_orm::RuntimeErr::SqlxError(s))) => match &**s {
                sea_orm::sqlx::Error::Database(d) => {
                    matches!(d.code().as_deref(), Some("57014" | "70100"))
                        || d.message().contains("max_statement_time")
                        || d.message().contains("maximum statement execution time")
                }
                _ => false,
            },
            #[cfg(feature = "sqlite")]
            ExecErr::Lite(rusqlite::Error::SqliteFailure(f, _)) => {
                f.code == rusqlite::ErrorCode::OperationInterrupted
            }
            _ => false,
        }
    }

    /// The database could not be reached (as opposed to a statement that failed).
    pub(crate) fn is_unavailable(&self) -> bool {
        match self {
            ExecErr::Unreachable => true,
            ExecErr::Sea(e) => match e {
                DbErr::Conn(_) | DbErr::ConnectionAcquire(_) => true,
                DbErr::Exec(sea_orm::RuntimeErr::SqlxError(s))
                | DbErr::Query(sea_orm::RuntimeErr::SqlxError(s)) => match &**s {
                    sea_orm::sqlx::Error::Io(_)
                    | sea_orm::sqlx::Error::PoolTimedOut
                    | sea_orm::sqlx::Error::PoolClosed
                    | sea_orm::sqlx::Error::Tls(_) => true,
                    sea_orm::sqlx::Error::Database(d) => d.code().is_some_and(|c| gone(&c)),
                    _ => false,
                },
                _ => false,
            },
            #[cfg(feature = "sqlite")]
            ExecErr::Lite(rusqlite::Error::SqliteFailure(f, _)) => matches!(
                f.code,
                rusqlite::ErrorCode::CannotOpen
                    | rusqlite::ErrorCode::DatabaseBusy
                    | rusqlite::ErrorCode::DatabaseLocked
                    | rusqlite::ErrorCode::SystemIoFailure
                    | rusqlite::ErrorCode::DiskFull
            ),
            #[cfg(feature = "sqlite")]
            ExecErr::Lite(_) => false,
            ExecErr::Value(_) => false,
        }
    }
}

impl ExecErr {
    /// Whether the statement met a pooled connection that the database had already
    /// closed (a restart or failover since the connection was last used), so that it may
    /// run again on another connection: always when the database said it is shutting
    /// down or the session is gone (the statement did not run), and for a lost
    /// connection (I/O or TLS failure) only when running it twice changes nothing
    /// (`idempotent`: a read, a `BEGIN`), since the statement may have run before the
    /// connection went. A pool that cannot connect at all is not retried.
    pub(crate) fn stale_connection(&self, idempotent: bool) -> bool {
        let ExecErr::Sea(
            DbErr::Exec(sea_orm::RuntimeErr::SqlxError(s))
            | DbErr::Query(sea_orm::RuntimeErr::SqlxError(s))
            | DbErr::Conn(sea_orm::RuntimeErr::SqlxError(s)),
        ) = self
        else {
            return false;
        };
        match &**s {
            sea_orm::sqlx::Error::Database(d) => d.code().is_some_and(|c| gone(&c)),
            sea_orm::sqlx::Error::Io(_) | sea_orm::sqlx::Error::Tls(_) => idempotent,
            _ => false,
        }
    }
}

/// Whether an SQLSTATE says the database went away rather than the statement failing:
/// class 08 (connection exception; MySQL's "server shutdown in progress" is `08S01`) and
/// PostgreSQL's `57P01` (shut down by an administrator: a restart or failover), `57P02`
/// (crash shutdown) and `57P03` (still starting up).
fn gone(sqlstate: &str) -> bool {
    sqlstate.starts_with("08") || matches!(sqlstate, "57P01" | "57P02" | "57P03")
}

pub(crate) fn db_err(e: impl Into<ExecErr>) -> StoreError {
    let e = e.into();
    if e.is_interrupted() {
        return StoreError::Scim(ScimError::new(
            ErrorCode::Timeout,
            "the query ran longer than the request timeout and was stopped; a filter on an \
             indexed attribute (userName, externalId, emails, displayName) answers faster",
        ));
    }
    if e.is_unavailable() {
        StoreError::Unavailable(e.to_string())
    } else {
        StoreError::Internal(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::gone;

    #[test]
    fn a_shutdown_or_lost_connection_is_the_database_gone_not_a_failed_statement() {
        for code in ["57P01", "57P02", "57P03", "08006", "08003", "08S01"] {
            assert!(gone(code), "{code}");
        }
        // A unique violation, a serialization failure, a statement timeout, a syntax error.
        for code in ["23505", "40001", "57014", "42601", "5700", ""] {
            assert!(!gone(code), "{code}");
        }
    }
}
