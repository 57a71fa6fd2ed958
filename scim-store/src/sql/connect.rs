//! Opening a store: database URLs, the connection for each backend, connect errors.

use super::backend::Backend;
use super::backends;
use super::conn::Db;
use super::shapes::Shapes;
use super::store::{Counts, SqlStore, StoreOptions};
use crate::{Result, StoreError};
use scim_core::schema::Registry;
use sea_orm::{ConnectOptions, Database};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a pooled connection may sit idle before the pool pings it on checkout: a
/// database that restarted is found by the ping (and the connection replaced) once its
/// connections sat idle this long, which every outage longer than this gives them.
const PING_IDLE: Duration = Duration::from_secs(1);

/// The URL handed to the driver (`mariadb://` becomes `mysql://`), and its backend; a
/// scheme no compiled-in backend serves is a [`StoreError::Connect`] naming the ones that
/// are.
pub(super) fn normalize_url(url: &str) -> Result<(String, &'static dyn Backend)> {
    let backend = backends::for_url(url)?;
    Ok((backend.driver_url(url), backend))
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
        let (url, backend) = normalize_url(url)?;
        let url = &url;
        #[cfg(feature = "sqlite")]
        if let Some((path, mode)) = super::sqlite::sqlite_file(url) {
            let pool = super::sqlite::Pool::open(path, mode)
                .map_err(|e| StoreError::Unavailable(e.to_string()))?
                .with_scan_limit(opts.scan_timeout);
            return Ok(Self::on(Db::Lite(pool), url, registry, backend, opts));
        }
        let db = Self::sea_connect(url, backend, &opts).await?;
        Ok(Self::on(
            Db::Sea(super::conn::SeaPool::new(db, PING_IDLE)),
            url,
            registry,
            backend,
            opts,
        ))
    }

    /// A store on the connected `db`, its caches empty.
    fn on(
        db: Db,
        url: &str,
        registry: Arc<Registry>,
        backend: &'static dyn Backend,
        opts: StoreOptions,
    ) -> SqlStore {
        SqlStore {
            db,
            url: url.to_owned(),
            registry,
            backend,
            opts,
            secrets: Mutex::new(HashMap::new()),
            stats: Arc::default(),
            shapes: Shapes::default(),
            counts: Counts::default(),
            lock_files: Mutex::default(),
        }
    }

    /// A sea-orm (sqlx) connection pool for `url`, of `backend`. A connection idle for
    /// [`PING_IDLE`] is pinged before it is handed out; a busier one is not: it was
    /// answering moments ago (the pool pings every connection it takes back; on PostgreSQL
    /// the statements outside a transaction skip even that, see `autocommit`), and a ping
    /// on every checkout was one round trip more per statement (a third of the server's
    /// sends to PostgreSQL per GET, and 14-28% of GET throughput).
    pub(super) async fn sea_connect(
        url: &str,
        backend: &dyn Backend,
        opts: &StoreOptions,
    ) -> Result<sea_orm::DatabaseConnection> {
        let mut co = ConnectOptions::new(url.to_owned());
        co.sqlx_logging(false)
            .acquire_timeout(opts.acquire_timeout)
            .test_before_acquire_if_idle_for(PING_IDLE);
        if let Some(limit) = opts.scan_timeout {
            // A statement still running past the request's own timeout is stopped by the
            // database (as SQLite's progress handler does): PostgreSQL's
            // statement_timeout, and what the backend sets per connection.
            co.statement_timeout(limit);
        }
        backend.configure(&mut co, url, opts.max_connections, opts.scan_timeout);
        Database::connect(co).await.map_err(connect_err)
    }
}
