//! Where statements run: a sea-orm connection (PostgreSQL, MySQL, in-memory SQLite), or,
//! for an SQLite file, a small pool of `rusqlite` connections that run each statement
//! inline on the calling task.
//!
//! Every statement is built with sea-query either way; this module only decides which
//! connection executes it. Why the SQLite file path bypasses sqlx: sqlx runs every SQLite
//! connection on its own worker thread and hands each statement and each row across a
//! channel, so a primary-key read that SQLite answers in a few microseconds costs two or
//! more thread switches (a quarter of the server's CPU under load, measured with `perf`).
//! SQLite is a library, not a server: a read in WAL mode never waits for a writer, so it
//! is cheapest to run it right where it is needed.
//!
//! The inline pool (`sqlite`):
//! - readers: connections taken from a free list for the duration of one statement and
//!   put back; a statement never awaits while it holds one, so the list grows to the
//!   number of runtime threads plus the long scans at most;
//! - long scans (a search no selective index serves, a `COUNT`) run under
//!   `block_in_place`, at most four at once; the others wait their turn without holding a
//!   thread;
//! - one writer connection behind an async mutex: every write and every transaction runs
//!   on it, so writers of this process queue on the mutex (without blocking a thread)
//!   instead of on SQLite's lock, and a transaction holds it from `BEGIN IMMEDIATE` to
//!   `COMMIT` (or `ROLLBACK` when it is dropped unfinished); transactions that queue
//!   behind one another share one `COMMIT` (group commit, see `sqlite::Txn`): each after the
//!   first runs in a savepoint of the batch, and each is acknowledged only once the batch
//!   is committed;
//! - only another process holding SQLite's write lock (an admin command) makes the writer
//!   wait in SQLite's busy handler, for at most the 5 s busy timeout.

pub(crate) use super::outcome::{Done, ExecErr, db_err};
#[cfg(feature = "sqlite")]
use super::sqlite;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, QueryResult,
    StatementBuilder, TransactionTrait,
};

/// One result row.
#[derive(Debug)]
pub(crate) enum DbRow {
    /// From sea-orm.
    Sea(QueryResult),
    /// From an inline SQLite connection.
    #[cfg(feature = "sqlite")]
    Lite(sqlite::Row),
}

impl DbRow {
    /// Column `c`, converted to `T`.
    pub(crate) fn get<T: Col>(&self, c: &str) -> Result<T, ExecErr> {
        match self {
            DbRow::Sea(r) => r.try_get::<T>("", c).map_err(ExecErr::Sea),
            #[cfg(feature = "sqlite")]
            DbRow::Lite(r) => {
                let v = r.value(c).ok_or_else(|| ExecErr::Value(format!("no column '{c}'")))?;
                T::lite(v).ok_or_else(|| {
                    ExecErr::Value(format!("column '{c}' holds {:?}", v.data_type()))
                })
            }
        }
    }

    /// [`DbRow::get`] that may move the value out of the row: for a row read once, field
    /// by field (a column taken is NULL afterwards).
    pub(crate) fn take<T: Col>(&mut self, c: &str) -> Result<T, ExecErr> {
        match self {
            DbRow::Sea(_) => self.get(c),
            #[cfg(feature = "sqlite")]
            DbRow::Lite(r) => {
                let v = r.take(c).ok_or_else(|| ExecErr::Value(format!("no column '{c}'")))?;
                let kind = v.data_type();
                T::lite_owned(v)
                    .ok_or_else(|| ExecErr::Value(format!("column '{c}' holds {kind:?}")))
            }
        }
    }
}

/// A column type the store reads.
pub(crate) trait Col: sea_orm::TryGetable + Sized {
    /// From an SQLite value (`None`: the value does not fit the type).
    #[cfg(feature = "sqlite")]
    fn lite(v: &rusqlite::types::Value) -> Option<Self>;

    /// [`Col::lite`] of a value the caller gives up (text is moved, not copied).
    #[cfg(feature = "sqlite")]
    fn lite_owned(v: rusqlite::types::Value) -> Option<Self> {
        Self::lite(&v)
    }
}

#[cfg(feature = "sqlite")]
use rusqlite::types::Value as LV;

#[cfg(feature = "sqlite")]
fn lite_text(v: &LV) -> Option<String> {
    match v {
        LV::Text(s) => Some(s.clone()),
        LV::Integer(i) => Some(i.to_string()),
        LV::Real(f) => Some(f.to_string()),
        LV::Blob(b) => String::from_utf8(b.clone()).ok(),
        LV::Null => None,
    }
}

impl Col for String {
    #[cfg(feature = "sqlite")]
    fn lite(v: &LV) -> Option<Self> {
        lite_text(v)
    }

    #[cfg(feature = "sqlite")]
    fn lite_owned(v: LV) -> Option<Self> {
        match v {
            LV::Text(s) => Some(s),
            other => lite_text(&other),
        }
    }
}

impl Col for Option<String> {
    #[cfg(feature = "sqlite")]
    fn lite(v: &LV) -> Option<Self> {
        match v {
            LV::Null => Some(None),
            other => lite_text(other).map(Some),
        }
    }

    #[cfg(feature = "sqlite")]
    fn lite_owned(v: LV) -> Option<Self> {
        match v {
            LV::Null => Some(None),
            other => String::lite_owned(other).map(Some),
        }
    }
}

impl Col for i64 {
    #[cfg(feature = "sqlite")]
    fn lite(v: &LV) -> Option<Self> {
        match v {
            LV::Integer(i) => Some(*i),
            _ => None,
        }
    }
}

impl Col for Option<i32> {
    #[cfg(feature = "sqlite")]
    fn lite(v: &LV) -> Option<Self> {
        match v {
            LV::Null => Some(None),
            LV::Integer(i) => i32::try_from(*i).ok().map(Some),
            _ => None,
        }
    }
}

impl Col for bool {
    #[cfg(feature = "sqlite")]
    fn lite(v: &LV) -> Option<Self> {
        match v {
            LV::Integer(i) => Some(*i != 0),
            _ => None,
        }
    }
}

impl Col for Option<bool> {
    #[cfg(feature = "sqlite")]
    fn lite(v: &LV) -> Option<Self> {
        match v {
            LV::Null => Some(None),
            LV::Integer(i) => Some(Some(*i != 0)),
            _ => None,
        }
    }
}

impl Col for Option<f64> {
    #[cfg(feature = "sqlite")]
    fn lite(v: &LV) -> Option<Self> {
        match v {
            LV::Null => Some(None),
            LV::Real(f) => Some(Some(*f)),
            #[allow(clippy::cast_precision_loss)]
            LV::Integer(i) => Some(Some(*i as f64)),
            _ => None,
        }
    }
}

/// Runs statements: a connection or a transaction.
#[async_trait::async_trait]
pub(crate) trait Exec: Sync {
    /// The first row of a query, if any.
    async fn query_one(&self, s: &dyn StatementBuilder) -> Result<Option<DbRow>, ExecErr>;
    /// Every row of a query.
    async fn query_all(&self, s: &dyn StatementBuilder) -> Result<Vec<DbRow>, ExecErr>;
    /// A statement that returns no rows.
    async fn execute(&self, s: &dyn StatementBuilder) -> Result<Done, ExecErr>;
}

/// Builds `s` for `b` (sea-orm's `StatementBuilder` is implemented for references too).
struct Built<'a>(&'a dyn StatementBuilder);

impl StatementBuilder for Built<'_> {
    fn build(&self, b: &DbBackend) -> sea_orm::Statement {
        self.0.build(b)
    }
}

async fn sea_one<C: ConnectionTrait>(
    c: &C,
    s: &dyn StatementBuilder,
) -> Result<Option<DbRow>, ExecErr> {
    Ok(c.query_one(&Built(s)).await?.map(DbRow::Sea))
}

async fn sea_all<C: ConnectionTrait>(
    c: &C,
    s: &dyn StatementBuilder,
) -> Result<Vec<DbRow>, ExecErr> {
    Ok(c.query_all(&Built(s)).await?.into_iter().map(DbRow::Sea).collect())
}

async fn sea_exec<C: ConnectionTrait>(c: &C, s: &dyn StatementBuilder) -> Result<Done, ExecErr> {
    Ok(Done::new(c.execute(&Built(s)).await?.rows_affected()))
}

/// The pool of `conn` now: connections open, of those idle, and the most it opens
/// (`None` for a backend this build does not serve).
fn pool_counts(conn: &DatabaseConnection) -> Option<(u32, usize, u32)> {
    match conn.get_database_backend() {
        #[cfg(feature = "postgres")]
        DbBackend::Postgres => {
            let pool = conn.get_postgres_connection_pool();
            Some((pool.size(), pool.num_idle(), pool.options().get_max_connections()))
        }
        #[cfg(feature = "mysql")]
        DbBackend::MySql => {
            let pool = conn.get_mysql_connection_pool();
            Some((pool.size(), pool.num_idle(), pool.options().get_max_connections()))
        }
        #[cfg(feature = "sqlite")]
        DbBackend::Sqlite => {
            let pool = conn.get_sqlite_connection_pool();
            Some((pool.size(), pool.num_idle(), pool.options().get_max_connections()))
        }
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

/// A sea-orm pool behind a circuit breaker (see `breaker`).
#[derive(Debug)]
pub(crate) struct SeaPool {
    pub(crate) conn: DatabaseConnection,
    breaker: super::breaker::Breaker,
    /// How many times a statement runs again after meeting a connection the database had
    /// closed (see [`SeaPool::guard`]): as many as the pool holds, each of which may be
    /// one.
    stale_retries: usize,
    /// PostgreSQL: the connections that statements outside a transaction run on (see
    /// `autocommit`).
    #[cfg(feature = "postgres")]
    autocommit: Option<super::autocommit::Autocommit>,
}

impl SeaPool {
    /// `conn`'s pool behind a breaker; on PostgreSQL, statements outside a transaction get
    /// connections of their own, pinged before use once idle for `ping_idle`.
    pub(crate) fn new(conn: DatabaseConnection, ping_idle: std::time::Duration) -> Self {
        let max = pool_counts(&conn).map_or(10, |(_, _, max)| max);
        let stale_retries = usize::try_from(max).unwrap_or(10);
        #[cfg(feature = "postgres")]
        let autocommit = (conn.get_database_backend() == DbBackend::Postgres).then(|| {
            super::autocommit::Autocommit::new(conn.get_postgres_connection_pool(), ping_idle)
        });
        #[cfg(not(feature = "postgres"))]
        let _ = ping_idle;
        Self {
            conn,
            breaker: super::breaker::Breaker::default(),
            stale_retries,
            #[cfg(feature = "postgres")]
            autocommit,
        }
    }

    /// The rows of a read outside a transaction (only the first when `one`), run again on
    /// another connection if it met one the database had closed.
    async fn read(&self, s: &dyn StatementBuilder, one: bool) -> Result<Vec<DbRow>, ExecErr> {
        self.guard(true, || async {
            #[cfg(feature = "postgres")]
            if let Some(a) = &self.autocommit
                && let Some(rows) = a.rows(s, one).await?
            {
                return Ok(rows);
            }
            if one {
                Ok(sea_one(&self.conn, s).await?.into_iter().collect())
            } else {
                sea_all(&self.conn, s).await
            }
        })
        .await
    }

    /// A statement outside a transaction that returns no rows.
    async fn exec(&self, s: &dyn StatementBuilder) -> Result<Done, ExecErr> {
        self.guard(false, || async {
            #[cfg(feature = "postgres")]
            if let Some(a) = &self.autocommit
                && let Some(done) = a.execute(s).await?
            {
                return Ok(done);
            }
            sea_exec(&self.conn, s).await
        })
        .await
    }

    /// Runs `call` unless the breaker is open, and tells the breaker whether it reached
    /// the database. A call that met a connection the database had closed runs again on
    /// another one, once per connection the pool holds (see [`ExecErr::stale_connection`]):
    /// the pool pings only connections idle for a while before handing them out, so
    /// right after a quick restart a busy pool still holds a few dead ones.
    async fn guard<T, F: std::future::Future<Output = Result<T, ExecErr>>>(
        &self,
        idempotent: bool,
        call: impl Fn() -> F,
    ) -> Result<T, ExecErr> {
        let ticket = self.breaker.admit().ok_or(ExecErr::Unreachable)?;
        let mut r = call().await;
        for _ in 0..self.stale_retries {
            match &r {
                Err(e) if e.stale_connection(idempotent) => r = call().await,
                _ => break,
            }
        }
        ticket.finish(!matches!(&r, Err(e) if e.is_unavailable()));
        r
    }
}

/// The store's database.
#[derive(Debug)]
pub(crate) enum Db {
    /// Through sea-orm.
    Sea(SeaPool),
    /// An SQLite file, run inline (module docs).
    #[cfg(feature = "sqlite")]
    Lite(sqlite::Pool),
}

/// An open transaction; dropped unfinished, it rolls back.
pub(crate) enum Txn {
    /// Through sea-orm.
    Sea(DatabaseTransaction),
    /// On the inline SQLite writer.
    #[cfg(feature = "sqlite")]
    Lite(sqlite::Txn),
}

impl Db {
    /// Starts a transaction that writes (on SQLite: `BEGIN IMMEDIATE`), and records how
    /// long that took as `scim_db_wait_seconds`: the wait for a pooled connection and
    /// the `BEGIN`, or on SQLite the wait for the writer's turn.
    pub(crate) async fn begin(&self) -> Result<Txn, ExecErr> {
        let started = std::time::Instant::now();
        let t = self.begin_now().await;
        metrics::histogram!("scim_db_wait_seconds").record(started.elapsed().as_secs_f64());
        t
    }

    /// The connections' state now ([`crate::Store::pool_stats`]).
    pub(crate) fn pool_stats(&self) -> Option<crate::PoolStats> {
        let mut stats = crate::PoolStats::default();
        match self {
            Db::Sea(p) => {
                let (open, idle, max) = pool_counts(&p.conn)?;
                stats.open = u64::from(open);
                stats.idle = u64::try_from(idle).unwrap_or(u64::MAX);
                stats.max = Some(u64::from(max));
                #[cfg(feature = "postgres")]
                if let Some(r) = &p.autocommit {
                    let n = |v: usize| u64::try_from(v).unwrap_or(u64::MAX);
                    let (open, idle, max) = r.counts();
                    stats.open += n(open);
                    stats.idle += n(idle);
                    stats.max = stats.max.map(|m| m + n(max));
                }
            }
            #[cfg(feature = "sqlite")]
            Db::Lite(p) => {
                let (open, idle) = p.connections();
                stats.open = open;
                stats.idle = idle;
            }
        }
        Some(stats)
    }

    async fn begin_now(&self) -> Result<Txn, ExecErr> {
        match self {
            Db::Sea(p) => {
                let c = &p.conn;
                let sqlite = c.get_database_backend() == DbBackend::Sqlite;
                let t = p
                    .guard(true, || async {
                        Ok(c.begin_with_options(sea_orm::TransactionOptions {
                            isolation_level: None,
                            access_mode: None,
                            // A write transaction from the start: no deadlock upgrading a
                            // lock.
                            sqlite_transaction_mode: sqlite
                                .then_some(sea_orm::SqliteTransactionMode::Immediate),
                        })
                        .await?)
                    })
                    .await?;
                Ok(Txn::Sea(t))
            }
            #[cfg(feature = "sqlite")]
            Db::Lite(p) => Ok(Txn::Lite(p.begin().await?)),
        }
    }

    /// [`Exec::query_all`] for a query that may visit many rows when `long` (a search
    /// page or a `COUNT` that no selective index serves): on the inline SQLite pool it
    /// then runs under [`tokio::task::block_in_place`] on a multi-threaded runtime, so a
    /// long scan hands the worker's other tasks to another thread instead of stalling
    /// them. Short queries stay inline: the hand-off costs a thread wake-up.
    pub(crate) async fn scan_all(
        &self,
        s: &dyn StatementBuilder,
        long: bool,
    ) -> Result<Vec<DbRow>, ExecErr> {
        match self {
            Db::Sea(p) => p.read(s, false).await,
            #[cfg(feature = "sqlite")]
            Db::Lite(p) => {
                let _slot = p.scan_slot(long).await?;
                sqlite::offload(long, || p.scan(long, |c| sqlite::query(c, s, false, DbRow::Lite)))
            }
        }
    }

    /// [`Db::scan_all`] for one row.
    pub(crate) async fn scan_one(
        &self,
        s: &dyn StatementBuilder,
        long: bool,
    ) -> Result<Option<DbRow>, ExecErr> {
        match self {
            Db::Sea(p) => Ok(p.read(s, true).await?.pop()),
            #[cfg(feature = "sqlite")]
            Db::Lite(p) => {
                let _slot = p.scan_slot(long).await?;
                sqlite::offload(long, || p.scan(long, |c| sqlite::query(c, s, true, DbRow::Lite)))
                    .map(|mut v| v.pop())
            }
        }
    }

    /// Checks that the database answers.
    pub(crate) async fn ping(&self) -> Result<(), ExecErr> {
        match self {
            Db::Sea(p) => p.guard(true, || async { Ok(p.conn.ping().await?) }).await,
            #[cfg(feature = "sqlite")]
            Db::Lite(p) => p.ping(),
        }
    }
}

#[async_trait::async_trait]
impl Exec for Db {
    async fn query_one(&self, s: &dyn StatementBuilder) -> Result<Option<DbRow>, ExecErr> {
        match self {
            Db::Sea(p) => Ok(p.read(s, true).await?.pop()),
            #[cfg(feature = "sqlite")]
            Db::Lite(p) => p.read(|c| sqlite::query(c, s, true, DbRow::Lite)).map(|mut v| v.pop()),
        }
    }

    async fn query_all(&self, s: &dyn StatementBuilder) -> Result<Vec<DbRow>, ExecErr> {
        match self {
            Db::Sea(p) => p.read(s, false).await,
            #[cfg(feature = "sqlite")]
            Db::Lite(p) => p.read(|c| sqlite::query(c, s, false, DbRow::Lite)),
        }
    }

    async fn execute(&self, s: &dyn StatementBuilder) -> Result<Done, ExecErr> {
        match self {
            Db::Sea(p) => p.exec(s).await,
            #[cfg(feature = "sqlite")]
            Db::Lite(p) => p.write(s).await,
        }
    }
}

impl Txn {
    /// Commits.
    pub(crate) async fn commit(self) -> Result<(), ExecErr> {
        match self {
            Txn::Sea(t) => Ok(t.commit().await?),
            #[cfg(feature = "sqlite")]
            Txn::Lite(t) => t.commit().await,
        }
    }
}

#[async_trait::async_trait]
impl Exec for Txn {
    async fn query_one(&self, s: &dyn StatementBuilder) -> Result<Option<DbRow>, ExecErr> {
        match self {
            Txn::Sea(c) => sea_one(c, s).await,
            #[cfg(feature = "sqlite")]
            Txn::Lite(t) => t.with(|c| sqlite::query(c, s, true, DbRow::Lite)).map(|mut v| v.pop()),
        }
    }

    async fn query_all(&self, s: &dyn StatementBuilder) -> Result<Vec<DbRow>, ExecErr> {
        match self {
            Txn::Sea(c) => sea_all(c, s).await,
            #[cfg(feature = "sqlite")]
            Txn::Lite(t) => t.with(|c| sqlite::query(c, s, false, DbRow::Lite)),
        }
    }

    async fn execute(&self, s: &dyn StatementBuilder) -> Result<Done, ExecErr> {
        match self {
            Txn::Sea(c) => sea_exec(c, s).await,
            #[cfg(feature = "sqlite")]
            Txn::Lite(t) => t.with(|c| sqlite::execute(c, s)),
        }
    }
}

/// Column `c` of `r`, converted to `T`.
pub(crate) fn get<T: Col>(r: &DbRow, c: &str) -> crate::Result<T> {
    r.get::<T>(c).map_err(db_err)
}

/// [`DbRow::take`], as a store error.
pub(crate) fn take<T: Col>(r: &mut DbRow, c: &str) -> crate::Result<T> {
    r.take::<T>(c).map_err(db_err)
}
