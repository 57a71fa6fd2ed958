//! Opening a store: database URLs, the connection for each backend, connect errors.

use super::conn::Db;
use super::dialect::Dialect;
use super::shapes::Shapes;
use super::store::{Counts, SqlStore, StoreOptions};
use crate::{Result, StoreError};
use scim_core::schema::Registry;
use sea_orm::{ConnectOptions, Database};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The URL handed to the driver: `mariadb://` becomes `mysql://`; a scheme no compiled-in
/// backend serves is a [`StoreError::Connect`] naming the ones that are.
pub(super) fn normalize_url(url: &str) -> Result<String> {
    if let Some(rest) = url.strip_prefix("mariadb://") {
        return Ok(format!("mysql://{rest}"));
    }
    let mut known: Vec<&str> = Vec::new();
    #[cfg(feature = "sqlite")]
    known.push("sqlite");
    #[cfg(feature = "postgres")]
    known.extend(["postgres", "postgresql"]);
    #[cfg(feature = "mysql")]
    known.extend(["mysql", "mariadb"]);
    let scheme = url.split_once(':').map_or("", |(s, _)| s);
    if known.contains(&scheme) {
        return Ok(url.to_owned());
    }
    let list: Vec<String> = known.iter().map(|k| format!("{k}://")).collect();
    Err(StoreError::Connect(format!(
        "unknown database URL scheme `{scheme}:` (known: {})",
        list.join(", ")
    )))
}

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

/// Classifies a failed connect: only a refused or timed-out connection (or a pool that
/// gave up waiting for one) is [`StoreError::Unavailable`]; anything the database said
/// (no such database, bad credentials) and any malformed URL is [`StoreError::Connect`].
pub(super) fn connect_err(e: sea_orm::DbErr) -> StoreError {
    use sea_orm::sqlx::Error as X;
    use std::io::ErrorKind as K;
    match &e {
        sea_orm::DbErr::Conn(sea_orm::RuntimeErr::SqlxError(x)) => match &**x {
            X::Io(io)
                if matches!(
                    io.kind(),
                    K::ConnectionRefused
                        | K::TimedOut
                        | K::ConnectionReset
                        | K::ConnectionAborted
                        | K::NotConnected
                        | K::HostUnreachable
                        | K::NetworkUnreachable
                        | K::AddrNotAvailable
                ) =>
            {
                StoreError::Unavailable(x.to_string())
            }
            X::PoolTimedOut | X::PoolClosed => StoreError::Unavailable(
                "no connection within the acquire timeout (connection refused or timed out)".into(),
            ),
            X::Database(d) => StoreError::Connect(format!("the database refused: {d}")),
            other => StoreError::Connect(other.to_string()),
        },
        sea_orm::DbErr::ConnectionAcquire(_) => StoreError::Unavailable(e.to_string()),
        sea_orm::DbErr::Conn(sea_orm::RuntimeErr::Internal(m)) => StoreError::Connect(m.clone()),
        _ => StoreError::Unavailable(e.to_string()),
    }
}

impl SqlStore {
    /// Connects to `url` (`sqlite://file.db?mode=rwc`, `sqlite::memory:`,
    /// `postgres://...`, `mysql://...`) with default [`StoreOptions`]. Call
    /// [`SqlStore::migrate`] before use.
    pub async fn connect(url: &str, registry: Arc<Registry>) -> Result<SqlStore> {
        Self::connect_with(url, registry, StoreOptions::default()).await
    }

    /// Connects with explicit options. SQLite databases run in WAL mode with a 5 s busy
    /// timeout and foreign keys on, so an admin command and the server can share a file.
    ///
    /// SQLite runs with `synchronous=NORMAL`, the usual setting with WAL: a commit is
    /// appended to the WAL without an fsync and the WAL is synced at checkpoints. The
    /// database stays consistent across application crashes and power loss; a power loss
    /// or OS crash can lose the last transactions before the checkpoint (an application
    /// crash loses nothing). `FULL` would fsync every commit, which costs a write
    /// round-trip to the disk per single-resource write; `NORMAL` is what makes one
    /// `create` cost well under a millisecond (docs/benchmarks.md).
    ///
    /// `mariadb://` is accepted as an alias of `mysql://`. An unknown scheme, a database
    /// that does not exist and rejected credentials fail with [`StoreError::Connect`]; a
    /// refused or timed-out connection with [`StoreError::Unavailable`] (worth retrying).
    pub async fn connect_with(
        url: &str,
        registry: Arc<Registry>,
        opts: StoreOptions,
    ) -> Result<SqlStore> {
        let url = &normalize_url(url)?;
        #[cfg(feature = "sqlite")]
        if let Some((path, mode)) = super::sqlite::sqlite_file(url) {
            let pool = super::sqlite::Pool::open(path, mode)
                .map_err(|e| StoreError::Unavailable(e.to_string()))?
                .with_scan_limit(opts.scan_timeout);
            return Ok(SqlStore {
                db: Db::Lite(pool),
                url: url.to_owned(),
                registry,
                d: Dialect::Sqlite,
                opts,
                secrets: Mutex::new(HashMap::new()),
                stats: Arc::default(),
                shapes: Shapes::default(),
                counts: Counts::default(),
            });
        }
        let db = Self::sea_connect(url, &opts).await?;
        let d = Dialect::of(sea_orm::ConnectionTrait::get_database_backend(&db));
        Ok(SqlStore {
            db: Db::Sea(super::conn::SeaPool::new(db)),
            url: url.to_owned(),
            registry,
            d,
            opts,
            secrets: Mutex::new(HashMap::new()),
            stats: Arc::default(),
            shapes: Shapes::default(),
            counts: Counts::default(),
        })
    }

    /// A sea-orm (sqlx) connection pool for `url`.
    pub(super) async fn sea_connect(
        url: &str,
        opts: &StoreOptions,
    ) -> Result<sea_orm::DatabaseConnection> {
        let mut co = ConnectOptions::new(url.to_owned());
        co.sqlx_logging(false).acquire_timeout(opts.acquire_timeout);
        if let Some(limit) = opts.scan_timeout {
            // A statement still running past the request's own timeout is stopped by the
            // database (as SQLite's progress handler does): PostgreSQL's statement_timeout,
            // MariaDB's max_statement_time, MySQL's max_execution_time.
            co.statement_timeout(limit);
            #[cfg(feature = "mysql")]
            co.map_sqlx_mysql_pool_opts(move |o| {
                o.after_connect(move |c, _| {
                    Box::pin(async move {
                        use sea_orm::sqlx::{AssertSqlSafe, Executor as _};
                        let mariadb =
                            format!("SET SESSION max_statement_time = {}", limit.as_secs_f64());
                        let mysql =
                            format!("SET SESSION max_execution_time = {}", limit.as_millis());
                        if c.execute(AssertSqlSafe(mariadb)).await.is_err() {
                            let _ = c.execute(AssertSqlSafe(mysql)).await;
                        }
                        Ok(())
                    })
                })
            });
        }
        let sqlite = url.starts_with("sqlite:");
        let memory = sqlite && (url.contains(":memory:") || url.contains("mode=memory"));
        if memory {
            // The database lives in its one connection: never let the pool drop it.
            co.max_connections(1).min_connections(1).idle_timeout(None).max_lifetime(None);
        } else {
            co.max_connections(opts.max_connections.unwrap_or(if sqlite { 4 } else { 10 }));
        }
        #[cfg(feature = "sqlite")]
        co.map_sqlx_sqlite_opts(|o| {
            use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(5))
                .foreign_keys(true)
                // LIKE must honour case for caseExact attributes (and can then use indexes).
                .pragma("case_sensitive_like", "ON")
        });
        Database::connect(co).await.map_err(connect_err)
    }
}
