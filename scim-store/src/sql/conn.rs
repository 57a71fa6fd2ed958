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
//! The inline pool (`lite`):
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
//!   behind one another share one `COMMIT` (group commit, see `lite::Txn`): each runs in a
//!   savepoint of the batch and is acknowledged only once the batch is committed;
//! - only another process holding SQLite's write lock (an admin command) makes the writer
//!   wait in SQLite's busy handler, for at most the 5 s busy timeout.

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, QueryResult,
    SqlErr, StatementBuilder, TransactionTrait,
};

/// The result of a statement that returns no rows.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Done {
    rows: u64,
}

impl Done {
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

    /// A statement stopped by its time limit: on SQLite by `lite::Pool::with_scan_limit`,
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
                | DbErr::Query(sea_orm::RuntimeErr::SqlxError(s)) => matches!(
                    &**s,
                    sea_orm::sqlx::Error::Io(_)
                        | sea_orm::sqlx::Error::PoolTimedOut
                        | sea_orm::sqlx::Error::PoolClosed
                        | sea_orm::sqlx::Error::Tls(_)
                ),
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

/// One result row.
#[derive(Debug)]
pub(crate) enum DbRow {
    /// From sea-orm.
    Sea(QueryResult),
    /// From an inline SQLite connection.
    #[cfg(feature = "sqlite")]
    Lite(lite::Row),
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
}

/// A column type the store reads.
pub(crate) trait Col: sea_orm::TryGetable + Sized {
    /// From an SQLite value (`None`: the value does not fit the type).
    #[cfg(feature = "sqlite")]
    fn lite(v: &rusqlite::types::Value) -> Option<Self>;
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
}

impl Col for Option<String> {
    #[cfg(feature = "sqlite")]
    fn lite(v: &LV) -> Option<Self> {
        match v {
            LV::Null => Some(None),
            other => lite_text(other).map(Some),
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

/// A statement of a fixed shape whose SQL was built once (see `Shapes`): the text, and
/// this call's values in the order the builder binds them.
pub(crate) struct Prebuilt {
    pub(crate) sql: std::sync::Arc<str>,
    pub(crate) values: Vec<sea_orm::Value>,
}

impl StatementBuilder for Prebuilt {
    fn build(&self, b: &DbBackend) -> sea_orm::Statement {
        sea_orm::Statement::from_sql_and_values(*b, &*self.sql, self.values.clone())
    }
}

/// A statement to run: built now, or prebuilt.
pub(crate) enum Stmt {
    /// Built by sea-query for this call.
    Built(Box<sea_orm::sea_query::SelectStatement>),
    /// From the cache of shapes.
    Pre(Prebuilt),
}

impl StatementBuilder for Stmt {
    fn build(&self, b: &DbBackend) -> sea_orm::Statement {
        match self {
            Stmt::Built(q) => StatementBuilder::build(&**q, b),
            Stmt::Pre(p) => p.build(b),
        }
    }
}

/// The SQL of the hottest statements (a resource by id, a user's groups), built by
/// sea-query once per shape instead of once per call: writing a statement's text was 5% of
/// a GET's CPU. A shape is cached only after its first build proved that the values the
/// caller lists are exactly the ones the builder bound, in the same order, so a cached
/// text can never be run with misplaced values.
#[derive(Debug, Default)]
pub(crate) struct Shapes(std::sync::RwLock<std::collections::HashMap<Shape, std::sync::Arc<str>>>);

/// The statements [`Shapes`] caches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Shape {
    /// `SqlStore::row`: by id, with or without a `deleted` condition, locked or not.
    Row { deleted: Option<bool>, lock: bool },
    /// `SqlStore::get_raw` of a user with its groups in the same statement.
    UserWithGroups,
    /// `SqlStore::groups_of` for one user.
    GroupsOfOne,
}

impl Shapes {
    /// The statement for `shape` with `values`; `build` makes it (with the same values)
    /// when the shape is not cached yet.
    pub(crate) fn get(
        &self,
        backend: DbBackend,
        shape: Shape,
        values: Vec<sea_orm::Value>,
        build: impl FnOnce() -> Result<sea_orm::sea_query::SelectStatement, crate::StoreError>,
    ) -> Result<Stmt, crate::StoreError> {
        if let Some(sql) = self.0.read().ok().and_then(|m| m.get(&shape).cloned()) {
            return Ok(Stmt::Pre(Prebuilt { sql, values }));
        }
        let q = build()?;
        let st = StatementBuilder::build(&q, &backend);
        let bound = st.values.map(|v| v.0).unwrap_or_default();
        if bound != values {
            tracing::debug!(?shape, "a statement shape binds other values than listed: not cached");
        } else if let Ok(mut m) = self.0.write() {
            m.insert(shape, std::sync::Arc::from(st.sql));
        }
        Ok(Stmt::Built(Box::new(q)))
    }

    /// Whether `shape` is cached.
    #[cfg(test)]
    pub(crate) fn has(&self, shape: Shape) -> bool {
        self.0.read().is_ok_and(|m| m.contains_key(&shape))
    }
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
    Ok(Done { rows: c.execute(&Built(s)).await?.rows_affected() })
}

/// A sea-orm pool behind a circuit breaker (see `breaker`).
#[derive(Debug)]
pub(crate) struct SeaPool {
    pub(crate) conn: DatabaseConnection,
    breaker: super::breaker::Breaker,
}

impl SeaPool {
    pub(crate) fn new(conn: DatabaseConnection) -> Self {
        Self { conn, breaker: super::breaker::Breaker::default() }
    }

    /// Runs `call` unless the breaker is open, and tells the breaker whether it reached
    /// the database.
    async fn guard<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, ExecErr>>,
    ) -> Result<T, ExecErr> {
        let ticket = self.breaker.admit().ok_or(ExecErr::Unreachable)?;
        let r = call.await;
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
    Lite(lite::Pool),
}

/// An open transaction; dropped unfinished, it rolls back.
pub(crate) enum Txn {
    /// Through sea-orm.
    Sea(DatabaseTransaction),
    /// On the inline SQLite writer.
    #[cfg(feature = "sqlite")]
    Lite(lite::Txn),
}

impl Db {
    /// Starts a transaction that writes (on SQLite: `BEGIN IMMEDIATE`).
    pub(crate) async fn begin(&self) -> Result<Txn, ExecErr> {
        match self {
            Db::Sea(p) => {
                let c = &p.conn;
                let sqlite = c.get_database_backend() == DbBackend::Sqlite;
                let t = p
                    .guard(async {
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
            Db::Sea(p) => p.guard(sea_all(&p.conn, s)).await,
            #[cfg(feature = "sqlite")]
            Db::Lite(p) => {
                let _slot = p.scan_slot(long).await?;
                lite::offload(long, || p.scan(long, |c| lite::query(c, s, false)))
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
            Db::Sea(p) => p.guard(sea_one(&p.conn, s)).await,
            #[cfg(feature = "sqlite")]
            Db::Lite(p) => {
                let _slot = p.scan_slot(long).await?;
                lite::offload(long, || p.scan(long, |c| lite::query(c, s, true)))
                    .map(|mut v| v.pop())
            }
        }
    }

    /// Checks that the database answers.
    pub(crate) async fn ping(&self) -> Result<(), ExecErr> {
        match self {
            Db::Sea(p) => p.guard(async { Ok(p.conn.ping().await?) }).await,
            #[cfg(feature = "sqlite")]
            Db::Lite(p) => p.ping(),
        }
    }
}

#[async_trait::async_trait]
impl Exec for Db {
    async fn query_one(&self, s: &dyn StatementBuilder) -> Result<Option<DbRow>, ExecErr> {
        match self {
            Db::Sea(p) => p.guard(sea_one(&p.conn, s)).await,
            #[cfg(feature = "sqlite")]
            Db::Lite(p) => p.read(|c| lite::query(c, s, true)).map(|mut v| v.pop()),
        }
    }

    async fn query_all(&self, s: &dyn StatementBuilder) -> Result<Vec<DbRow>, ExecErr> {
        match self {
            Db::Sea(p) => p.guard(sea_all(&p.conn, s)).await,
            #[cfg(feature = "sqlite")]
            Db::Lite(p) => p.read(|c| lite::query(c, s, false)),
        }
    }

    async fn execute(&self, s: &dyn StatementBuilder) -> Result<Done, ExecErr> {
        match self {
            Db::Sea(p) => p.guard(sea_exec(&p.conn, s)).await,
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
            Txn::Lite(t) => t.with(|c| lite::query(c, s, true)).map(|mut v| v.pop()),
        }
    }

    async fn query_all(&self, s: &dyn StatementBuilder) -> Result<Vec<DbRow>, ExecErr> {
        match self {
            Txn::Sea(c) => sea_all(c, s).await,
            #[cfg(feature = "sqlite")]
            Txn::Lite(t) => t.with(|c| lite::query(c, s, false)),
        }
    }

    async fn execute(&self, s: &dyn StatementBuilder) -> Result<Done, ExecErr> {
        match self {
            Txn::Sea(c) => sea_exec(c, s).await,
            #[cfg(feature = "sqlite")]
            Txn::Lite(t) => t.with(|c| lite::execute(c, s)),
        }
    }
}

/// An SQLite file URL (`sqlite://path?mode=rwc`, `sqlite:path`) the inline pool can open:
/// the path and whether to create the file. `None` for in-memory databases and for URLs
/// with parameters or escapes this parser does not know; those go through sqlx.
#[cfg(feature = "sqlite")]
pub(crate) fn sqlite_file(url: &str) -> Option<(std::path::PathBuf, lite::Mode)> {
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
    let mut mode = lite::Mode::ReadWrite;
    for kv in params.split('&').filter(|kv| !kv.is_empty()) {
        match kv.split_once('=')? {
            ("mode", "rwc") => mode = lite::Mode::Create,
            ("mode", "rw") => mode = lite::Mode::ReadWrite,
            ("mode", "ro") => mode = lite::Mode::ReadOnly,
            _ => return None,
        }
    }
    Some((std::path::PathBuf::from(path), mode))
}

#[cfg(feature = "sqlite")]
pub(crate) mod lite {
    //! The inline SQLite pool (see the parent module).

    use super::{Done, ExecErr};
    use rusqlite::types::Value as LV;
    use rusqlite::{Connection, OpenFlags};
    use sea_orm::{DbBackend, StatementBuilder};
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex, OnceLock};
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

    /// Long scans that run at once (see `Pool::scans`).
    const SCANS: usize = 4;

    /// Prepared statements kept per connection.
    const STATEMENT_CACHE: usize = 256;

    /// One materialised row: column names are shared by the rows of one query.
    #[derive(Debug)]
    pub(crate) struct Row {
        names: Arc<[String]>,
        values: Vec<LV>,
    }

    impl Row {
        pub(crate) fn value(&self, c: &str) -> Option<&LV> {
            let i = self.names.iter().position(|n| n == c)?;
            self.values.get(i)
        }
    }

    /// Reader connections and the one writer.
    pub(crate) struct Pool {
        path: PathBuf,
        mode: Mode,
        readers: Mutex<Vec<Connection>>,
        writer: Arc<tokio::sync::Mutex<Writer>>,
        /// Transactions waiting for the writer: while there are any, a finished
        /// transaction leaves its batch open for them (see [`Txn::commit`]).
        queued: Arc<AtomicUsize>,
        /// Long scans at once: each holds a thread and a reader connection (with its page
        /// cache) for its whole run, so their number is bounded; more wait their turn.
        scans: tokio::sync::Semaphore,
        /// Moves committed pages from the WAL into the database file (none when
        /// read-only).
        _checkpointer: Option<Checkpointer>,
        /// How long a long scan may run (see [`Pool::with_scan_limit`]).
        scan_limit: Option<Duration>,
    }

    /// SQLite virtual-machine steps between two looks at a scan's clock.
    const SCAN_CLOCK_STEPS: std::ffi::c_int = 10_000;

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
        static WAL_PAGES: std::cell::Cell<i64> = const { std::cell::Cell::new(0) };
    }

    /// The writer's WAL hook: remembers the WAL's length for [`commit_batch`].
    #[allow(clippy::unnecessary_wraps)] // the signature rusqlite's hook takes
    fn note_wal_pages(_: &rusqlite::hooks::Wal, pages: std::ffi::c_int) -> rusqlite::Result<()> {
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
    struct Checkpointer {
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
        /// The WAL's generation when the writer last asked (see [`Writer::wal_gen`]).
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
        fn start(path: &PathBuf, mode: Mode) -> Result<Checkpointer, ExecErr> {
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

    /// The writer connection and the batch (one SQLite transaction) open on it.
    pub(crate) struct Writer {
        conn: Connection,
        /// The checkpointer's reports and doorbell (none when read-only).
        checkpoints: Option<Arc<CheckpointShared>>,
        /// How many times this writer saw the WAL start over (its length after a commit
        /// went down): tells the checkpoints of the current WAL from older ones.
        wal_gen: u64,
        /// The WAL's length after the last commit that wrote to it.
        wal_pages: i64,
        batch: Option<Arc<Batch>>,
        /// Transactions released into the open batch and waiting for its `COMMIT`.
        members: usize,
    }

    /// Transactions committed together: the outcome of their one `COMMIT`.
    #[derive(Default)]
    struct Batch {
        outcome: OnceLock<Result<(), String>>,
    }

    /// At most this many transactions share one `COMMIT`.
    const MAX_BATCH: usize = 256;

    impl std::fmt::Debug for Pool {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Pool").field("path", &self.path).field("mode", &self.mode).finish()
        }
    }

    fn open(path: &PathBuf, mode: Mode) -> Result<Connection, ExecErr> {
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
            c.pragma_update(None, "journal_mode", "WAL")?;
            // No automatic checkpoint in a commit: it would copy the WAL's pages into the
            // database and fsync twice on the request's thread, stalling every request
            // behind it. The pool's checkpointer thread copies them instead (see
            // `Checkpointer`), and the writer finishes the copy once the WAL is long,
            // off the runtime's thread (see `restart_wal`).
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

    impl Pool {
        /// Opens the writer (creating the file when the mode says so) and one reader.
        pub(crate) fn open(path: PathBuf, mode: Mode) -> Result<Pool, ExecErr> {
            let writer = open(&path, mode)?;
            // Every transaction is a savepoint of its batch, and a savepoint keeps the
            // original of each page it changes in a statement journal. SQLite spills that
            // journal to a temporary file beyond 64 KiB, which a batch of a few creates
            // already passes: a write() per page, a fifth of a create's CPU. The writer
            // keeps it in memory instead; it lives until the batch commits, and holds at
            // most the pages the batch's transactions change.
            // (Readers keep the default: there `temp_store` would also hold a large sort
            // in memory.)
            writer.pragma_update(None, "temp_store", "MEMORY")?;
            writer.wal_hook(Some(note_wal_pages));
            let reader = open(&path, mode)?;
            let checkpointer = match mode {
                Mode::ReadOnly => None,
                Mode::ReadWrite | Mode::Create => Some(Checkpointer::start(&path, mode)?),
            };
            Ok(Pool {
                path: path.clone(),
                mode,
                readers: Mutex::new(vec![reader]),
                writer: Arc::new(tokio::sync::Mutex::new(Writer {
                    conn: writer,
                    checkpoints: checkpointer.as_ref().map(|c| Arc::clone(&c.shared)),
                    wal_gen: 0,
                    wal_pages: 0,
                    batch: None,
                    members: 0,
                })),
                queued: Arc::new(AtomicUsize::new(0)),
                scans: tokio::sync::Semaphore::new(SCANS),
                _checkpointer: checkpointer,
                scan_limit: None,
            })
        }

        /// Stops a long scan (see [`Pool::scan`]) that runs longer than `limit`: SQLite
        /// fails it with `SQLITE_INTERRUPT`.
        pub(crate) fn with_scan_limit(mut self, limit: Option<Duration>) -> Pool {
            self.scan_limit = limit;
            self
        }

        /// [`Pool::read`]; when `long`, within the scan limit: SQLite checks the clock
        /// every [`SCAN_CLOCK_STEPS`] steps of the statement and interrupts it past the
        /// deadline.
        pub(crate) fn scan<T>(
            &self,
            long: bool,
            f: impl FnOnce(&Connection) -> Result<T, ExecErr>,
        ) -> Result<T, ExecErr> {
            let Some(limit) = self.scan_limit.filter(|_| long) else { return self.read(f) };
            self.read(|c| {
                let deadline = std::time::Instant::now() + limit;
                c.progress_handler(
                    SCAN_CLOCK_STEPS,
                    Some(move || std::time::Instant::now() >= deadline),
                )?;
                let out = f(c);
                c.progress_handler(0, None::<fn() -> bool>)?;
                out
            })
        }

        /// A turn for a long scan (none needed for a short query).
        pub(crate) async fn scan_slot(
            &self,
            long: bool,
        ) -> Result<Option<tokio::sync::SemaphorePermit<'_>>, ExecErr> {
            if !long {
                return Ok(None);
            }
            self.scans
                .acquire()
                .await
                .map(Some)
                .map_err(|_| ExecErr::Value("the scan queue is closed".into()))
        }

        /// Runs `f` on a reader connection (taken from the free list, or opened).
        pub(crate) fn read<T>(
            &self,
            f: impl FnOnce(&Connection) -> Result<T, ExecErr>,
        ) -> Result<T, ExecErr> {
            let taken = self.readers.lock().ok().and_then(|mut l| l.pop());
            let conn = match taken {
                Some(c) => c,
                None => open(&self.path, self.mode)?,
            };
            let out = f(&conn);
            if let Ok(mut l) = self.readers.lock() {
                l.push(conn);
            }
            out
        }

        pub(crate) fn ping(&self) -> Result<(), ExecErr> {
            self.read(|c| Ok(c.query_row("SELECT 1", [], |_| Ok(()))?))
        }

        /// One statement on the writer, as a transaction of its own.
        pub(crate) async fn write(&self, s: &dyn StatementBuilder) -> Result<Done, ExecErr> {
            let t = self.begin().await?;
            let done = t.with(|c| execute(c, s))?;
            t.commit().await?;
            Ok(done)
        }

        /// A transaction on the writer, which it holds until it commits or is dropped: a
        /// savepoint in the writer's open batch (opened with `BEGIN IMMEDIATE` when there
        /// is none).
        pub(crate) async fn begin(&self) -> Result<Txn, ExecErr> {
            let mut w = lock_writer(&self.writer, &self.queued).await;
            if w.batch.is_none() {
                w.conn.execute_batch("BEGIN IMMEDIATE")?;
                w.batch = Some(Arc::default());
                w.members = 0;
            }
            if let Err(e) = w.conn.execute_batch("SAVEPOINT txn") {
                abandon_if_lost(&mut w, &e);
                return Err(e.into());
            }
            Ok(Txn {
                conn: Mutex::new(Some(w)),
                writer: Arc::clone(&self.writer),
                queued: Arc::clone(&self.queued),
            })
        }
    }

    /// The writer, counted in `queued` while waiting for it (also when the wait is
    /// abandoned).
    async fn lock_writer(
        writer: &Arc<tokio::sync::Mutex<Writer>>,
        queued: &AtomicUsize,
    ) -> tokio::sync::OwnedMutexGuard<Writer> {
        struct Queued<'a>(&'a AtomicUsize);
        impl Drop for Queued<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::SeqCst);
            }
        }
        queued.fetch_add(1, Ordering::SeqCst);
        let _queued = Queued(queued);
        Arc::clone(writer).lock_owned().await
    }

    /// `COMMIT`s the open batch and tells its members the outcome; then keeps the WAL
    /// short (see [`restart_wal`]).
    fn commit_batch(w: &mut Writer) -> Result<(), ExecErr> {
        WAL_PAGES.with(|p| p.set(0));
        let done = w.conn.execute_batch("COMMIT");
        if done.is_err() && !w.conn.is_autocommit() {
            // A failed COMMIT can leave the transaction open: end it, so the next
            // transaction starts clean.
            let _ = w.conn.execute_batch("ROLLBACK");
        }
        let outcome = done.as_ref().map(|_| ()).map_err(ToString::to_string);
        if let Some(b) = w.batch.take() {
            let _ = b.outcome.set(outcome);
        }
        w.members = 0;
        if done.is_ok() {
            restart_wal(w);
        }
        done.map_err(ExecErr::from)
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
    fn restart_wal(w: &mut Writer) {
        let pages = WAL_PAGES.with(std::cell::Cell::get);
        if pages == 0 {
            return; // the commit wrote nothing
        }
        if pages < w.wal_pages {
            w.wal_gen += 1;
        }
        w.wal_pages = pages;
        let Some(shared) = w.checkpoints.as_ref() else { return };
        if pages < WAL_RESTART_PAGES {
            return;
        }
        let close = shared.left(w.wal_gen, pages).is_some_and(|left| left <= WAL_CATCH_UP_PAGES);
        if close || pages >= WAL_MAX_PAGES {
            let conn = &w.conn;
            if let Some(done) = offload(true, || checkpoint(conn)) {
                shared.record(w.wal_gen, done);
            }
        } else {
            shared.ask(w.wal_gen);
        }
    }

    /// After a failed statement: when SQLite rolled the whole batch back (a full disk, an
    /// I/O error), tells its members and forgets it.
    fn abandon_if_lost(w: &mut Writer, e: &rusqlite::Error) {
        if w.batch.is_some() && w.conn.is_autocommit() {
            if let Some(b) = w.batch.take() {
                let _ = b.outcome.set(Err(format!("the transaction was rolled back: {e}")));
            }
            w.members = 0;
        }
    }

    /// A transaction on the writer: a savepoint in the writer's batch.
    ///
    /// Group commit: SQLite pays for a commit per transaction (the WAL frames of every page
    /// it changed, their checksums, the page cache's bookkeeping), and under concurrent
    /// writes most of a small write's cost is that commit. So a transaction that finishes
    /// while others wait for the writer releases its savepoint into the batch and lets the
    /// next one run; the batch is committed once, by the last transaction that finds no one
    /// waiting (or by the first member to come back for the outcome, or at
    /// [`MAX_BATCH`] members). Every member reports success only after that `COMMIT`, so
    /// nothing is acknowledged before it is in the database; a member that fails rolls
    /// back to its savepoint and leaves the others' work alone. Alone, a transaction
    /// commits at once, as before. (The guard sits in a `std` mutex, uncontended, only so
    /// that the transaction is `Sync` like sea-orm's; a connection is `Send` only.)
    pub(crate) struct Txn {
        conn: Mutex<Option<tokio::sync::OwnedMutexGuard<Writer>>>,
        writer: Arc<tokio::sync::Mutex<Writer>>,
        queued: Arc<AtomicUsize>,
    }

    impl Txn {
        pub(crate) fn with<T>(
            &self,
            f: impl FnOnce(&Connection) -> Result<T, ExecErr>,
        ) -> Result<T, ExecErr> {
            let mut slot = self
                .conn
                .lock()
                .map_err(|_| ExecErr::Value("a transaction's connection was poisoned".into()))?;
            let w = slot.as_mut().ok_or_else(|| ExecErr::Value("the transaction ended".into()))?;
            if w.batch.is_none() {
                return Err(ExecErr::Value("the transaction was rolled back".into()));
            }
            let out = f(&w.conn);
            if let Err(ExecErr::Lite(e)) = &out {
                abandon_if_lost(w, e);
            }
            out
        }

        fn take(&self) -> Option<tokio::sync::OwnedMutexGuard<Writer>> {
            self.conn.lock().ok().and_then(|mut s| s.take())
        }

        /// Commits: releases the savepoint, then commits the batch now, or leaves it to a
        /// waiting transaction and returns the outcome of the batch's `COMMIT`.
        pub(crate) async fn commit(self) -> Result<(), ExecErr> {
            let mut w =
                self.take().ok_or_else(|| ExecErr::Value("the transaction ended".into()))?;
            let Some(batch) = w.batch.clone() else {
                return Err(ExecErr::Value("the transaction was rolled back".into()));
            };
            if let Err(e) = w.conn.execute_batch("RELEASE txn") {
                rollback_member(&mut w);
                return Err(e.into());
            }
            w.members += 1;
            // A transaction runs without yielding from `BEGIN` to here, so on a busy
            // runtime thread the requests that will write next have not got as far as
            // queueing: let them, once, then commit unless someone queued.
            if w.members < MAX_BATCH {
                tokio::task::yield_now().await;
            }
            if self.queued.load(Ordering::SeqCst) == 0 || w.members >= MAX_BATCH {
                return commit_batch(&mut w);
            }
            drop(w);
            // Come back for the outcome, in a task of its own so that the batch is
            // committed even if this request is abandoned: someone must.
            let writer = Arc::clone(&self.writer);
            let queued = Arc::clone(&self.queued);
            let outcome = tokio::spawn(async move {
                let mut w = lock_writer(&writer, &queued).await;
                match batch.outcome.get() {
                    Some(done) => done.clone(),
                    None if w.batch.as_ref().is_some_and(|b| Arc::ptr_eq(b, &batch)) => {
                        commit_batch(&mut w).map_err(|e| e.to_string())
                    }
                    None => Err("the transaction's batch was lost".to_owned()),
                }
            })
            .await
            .map_err(|e| ExecErr::Value(format!("the commit task failed: {e}")))?;
            outcome.map_err(ExecErr::Value)
        }
    }

    /// Undoes an unfinished transaction's work, keeping the rest of the batch; a batch
    /// with no other member is rolled back.
    fn rollback_member(w: &mut Writer) {
        if w.batch.is_none() {
            return;
        }
        let undone = w.conn.execute_batch("ROLLBACK TO txn; RELEASE txn");
        if undone.is_err() || w.members == 0 {
            if let Err(e) = &undone
                && let Some(b) = w.batch.as_ref()
            {
                let _ = b.outcome.set(Err(format!("the transaction could not be undone: {e}")));
            }
            if !w.conn.is_autocommit() {
                let _ = w.conn.execute_batch("ROLLBACK");
            }
            w.batch = None;
            w.members = 0;
        }
    }

    impl Drop for Txn {
        fn drop(&mut self) {
            // Nothing to report to: the statement that failed already did.
            if let Some(mut w) = self.take() {
                rollback_member(&mut w);
            }
        }
    }

    /// Runs `f`; when `long`, without stalling the runtime's other tasks: under
    /// `block_in_place` on a multi-threaded runtime (a current-thread runtime has no other
    /// worker to hand its tasks to, so there it runs inline).
    pub(crate) fn offload<T>(long: bool, f: impl FnOnce() -> T) -> T {
        use tokio::runtime::{Handle, RuntimeFlavor};
        let multi = long
            && Handle::try_current()
                .is_ok_and(|h| h.runtime_flavor() == RuntimeFlavor::MultiThread);
        if multi { tokio::task::block_in_place(f) } else { f() }
    }

    /// sea-query's values as SQLite values.
    fn bind(v: sea_orm::Value) -> Result<LV, ExecErr> {
        use sea_orm::Value as V;
        let int = |i: Option<i64>| i.map_or(LV::Null, LV::Integer);
        Ok(match v {
            V::Bool(b) => int(b.map(i64::from)),
            V::TinyInt(i) => int(i.map(i64::from)),
            V::SmallInt(i) => int(i.map(i64::from)),
            V::Int(i) => int(i.map(i64::from)),
            V::BigInt(i) => int(i),
            V::TinyUnsigned(i) => int(i.map(i64::from)),
            V::SmallUnsigned(i) => int(i.map(i64::from)),
            V::Unsigned(i) => int(i.map(i64::from)),
            V::BigUnsigned(i) => match i {
                None => LV::Null,
                Some(u) => LV::Integer(
                    i64::try_from(u)
                        .map_err(|_| ExecErr::Value(format!("{u} is out of SQLite's range")))?,
                ),
            },
            V::Float(f) => f.map_or(LV::Null, |f| LV::Real(f64::from(f))),
            V::Double(f) => f.map_or(LV::Null, LV::Real),
            V::String(s) => s.map_or(LV::Null, LV::Text),
            V::Char(c) => c.map_or(LV::Null, |c| LV::Text(c.to_string())),
            V::Bytes(b) => b.map_or(LV::Null, LV::Blob),
            V::Json(j) => j.map_or(LV::Null, |j| LV::Text(j.to_string())),
            other => return Err(ExecErr::Value(format!("unsupported SQL value {other:?}"))),
        })
    }

    fn prepare<'c>(
        c: &'c Connection,
        s: &dyn StatementBuilder,
    ) -> Result<(rusqlite::CachedStatement<'c>, Vec<LV>), ExecErr> {
        let st = s.build(&DbBackend::Sqlite);
        let mut values = match st.values {
            Some(v) => v.0.into_iter().map(bind).collect::<Result<Vec<_>, _>>()?,
            None => Vec::new(),
        };
        let sql = inline_limit(st.sql, &mut values);
        Ok((c.prepare_cached(&sql)?, values))
    }

    /// Writes a bound `LIMIT` into the statement as a number.
    ///
    /// SQLite plans an `ORDER BY .. LIMIT` with the limit's value, so a statement whose
    /// `LIMIT` is a parameter is prepared again (`sqlite3Reprepare`) every time it runs
    /// with new bindings: that was a quarter of a `userName eq` search's CPU. sea-query
    /// always binds it and puts it last (`LIMIT ?` or `LIMIT ? OFFSET ?`); a page size is
    /// one of a few numbers, so the statement cache still holds every form. (The offset
    /// may stay a parameter: it does not take part in the plan.)
    pub(crate) fn inline_limit(sql: String, values: &mut Vec<LV>) -> String {
        let (tail, back) = if sql.ends_with(" LIMIT ? OFFSET ?") {
            (" LIMIT ? OFFSET ?", 2)
        } else if sql.ends_with(" LIMIT ?") {
            (" LIMIT ?", 1)
        } else {
            return sql;
        };
        let Some(at) = values.len().checked_sub(back) else { return sql };
        let Some(LV::Integer(n)) = values.get(at) else { return sql };
        let n = *n;
        values.remove(at);
        let mut out = sql;
        out.truncate(out.len() - tail.len());
        out.push_str(&format!(" LIMIT {n}"));
        if back == 2 {
            out.push_str(" OFFSET ?");
        }
        out
    }

    /// Runs a query; `first`: stop after one row.
    pub(crate) fn query(
        c: &Connection,
        s: &dyn StatementBuilder,
        first: bool,
    ) -> Result<Vec<super::DbRow>, ExecErr> {
        let (mut stmt, values) = prepare(c, s)?;
        let names: Arc<[String]> = stmt.column_names().into_iter().map(str::to_owned).collect();
        let n = names.len();
        let mut rows = stmt.query(rusqlite::params_from_iter(values))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let mut values = Vec::with_capacity(n);
            for i in 0..n {
                values.push(r.get::<_, LV>(i)?);
            }
            out.push(super::DbRow::Lite(Row { names: Arc::clone(&names), values }));
            if first {
                break;
            }
        }
        Ok(out)
    }

    /// Runs a statement that returns no rows.
    pub(crate) fn execute(c: &Connection, s: &dyn StatementBuilder) -> Result<Done, ExecErr> {
        let (mut stmt, values) = prepare(c, s)?;
        let n = stmt.execute(rusqlite::params_from_iter(values))?;
        Ok(Done { rows: u64::try_from(n).unwrap_or(u64::MAX) })
    }
}

#[cfg(all(test, feature = "sqlite"))]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::lite::{Mode, Pool};
    use std::path::PathBuf;
    use std::sync::Arc;

    struct TempDb(PathBuf);
    impl Drop for TempDb {
        fn drop(&mut self) {
            for ext in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{ext}", self.0.display()));
            }
        }
    }

    fn pool(name: &str) -> (TempDb, Arc<Pool>) {
        let path = std::env::temp_dir()
            .join(format!("scim-store-groupcommit-{name}-{}.db", std::process::id()));
        let tmp = TempDb(path.clone());
        drop(TempDb(path.clone()));
        let p = Pool::open(path, Mode::Create).unwrap();
        p.read(|c| {
            c.execute_batch("CREATE TABLE t (k TEXT PRIMARY KEY)")?;
            Ok(())
        })
        .unwrap();
        (tmp, Arc::new(p))
    }

    fn insert(t: &super::lite::Txn, k: &str) -> Result<(), super::ExecErr> {
        t.with(|c| Ok(c.execute("INSERT INTO t (k) VALUES (?1)", [k]).map(|_| ())?))
    }

    /// What another connection (another process) sees: committed rows only.
    fn committed(p: &Pool) -> Vec<String> {
        p.read(|c| {
            let mut st = c.prepare("SELECT k FROM t ORDER BY k")?;
            let rows = st.query_map([], |r| r.get::<_, String>(0))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .unwrap()
    }

    /// Lets the spawned tasks run until they are all parked (current-thread runtime).
    async fn settle() {
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
    }

    /// A second transaction that queues for the writer, inserts "b", then commits or is
    /// dropped.
    fn queue_second(p: &Arc<Pool>, commit: bool) -> tokio::task::JoinHandle<()> {
        let p = Arc::clone(p);
        tokio::spawn(async move {
            let t = p.begin().await.unwrap();
            insert(&t, "b").unwrap();
            if commit {
                t.commit().await.unwrap();
            }
        })
    }

    #[tokio::test]
    async fn a_batch_commits_its_members_and_only_them() {
        let (_tmp, p) = pool("members");
        let first = p.begin().await.unwrap();
        insert(&first, "a").unwrap();
        // Three more transactions queue behind the first.
        let mut waiting = Vec::new();
        for (k, fail) in [("b", false), ("a", true), ("c", false)] {
            let p = Arc::clone(&p);
            waiting.push(tokio::spawn(async move {
                let t = p.begin().await.unwrap();
                match insert(&t, k) {
                    // A failed transaction is dropped: its savepoint is undone.
                    Err(e) => {
                        assert!(e.is_unique(), "{e}");
                        drop(t);
                        Err(())
                    }
                    Ok(()) if fail => unreachable!("'a' was inserted twice"),
                    Ok(()) => t.commit().await.map_err(|_| ()),
                }
            }));
        }
        settle().await;
        // Others wait: the first leaves the batch open for them and returns only once it
        // is committed, with everything that queued behind it.
        first.commit().await.unwrap();
        let outcomes: Vec<_> = futures::future::join_all(waiting).await;
        let outcomes: Vec<bool> = outcomes.into_iter().map(|o| o.unwrap().is_ok()).collect();
        assert_eq!(outcomes, [true, false, true]);
        assert_eq!(committed(&p), ["a", "b", "c"]);
    }

    #[tokio::test]
    async fn an_abandoned_member_leaves_the_batch_to_the_others() {
        let (_tmp, p) = pool("abandoned");
        let first = p.begin().await.unwrap();
        insert(&first, "a").unwrap();
        // The second is abandoned before it commits (a cancelled request).
        let second = queue_second(&p, false);
        settle().await;
        let committing = tokio::spawn(async move { first.commit().await });
        second.await.unwrap();
        committing.await.unwrap().unwrap();
        assert_eq!(committed(&p), ["a"]);
        // The writer is free and starts clean.
        let t = p.begin().await.unwrap();
        insert(&t, "c").unwrap();
        t.commit().await.unwrap();
        assert_eq!(committed(&p), ["a", "c"]);
    }

    #[tokio::test]
    async fn a_member_whose_request_is_cancelled_is_still_committed() {
        let (_tmp, p) = pool("cancelled");
        let first = p.begin().await.unwrap();
        insert(&first, "a").unwrap();
        let second = queue_second(&p, true);
        settle().await;
        // The first hands the batch on and is cancelled while it waits for the outcome.
        use futures::FutureExt as _;
        assert!(first.commit().now_or_never().is_none(), "it committed alone");
        second.await.unwrap();
        settle().await;
        assert_eq!(committed(&p), ["a", "b"]);
    }

    #[test]
    fn limits_are_written_into_the_statement() {
        use super::lite::inline_limit;
        use rusqlite::types::Value as V;
        let mut v = vec![V::Text("o".into()), V::Integer(100), V::Integer(40)];
        let sql = inline_limit("SELECT a FROM t WHERE o = ? LIMIT ? OFFSET ?".into(), &mut v);
        assert_eq!(sql, "SELECT a FROM t WHERE o = ? LIMIT 100 OFFSET ?");
        assert_eq!(v, [V::Text("o".into()), V::Integer(40)]);
        let mut v = vec![V::Integer(1)];
        assert_eq!(
            inline_limit("SELECT a FROM t LIMIT ?".into(), &mut v),
            "SELECT a FROM t LIMIT 1"
        );
        assert!(v.is_empty());
        // Anything else is left alone.
        let mut v = vec![V::Text("x".into())];
        assert_eq!(
            inline_limit("SELECT a FROM t LIMIT ?".into(), &mut v),
            "SELECT a FROM t LIMIT ?"
        );
        let mut v = vec![V::Integer(3)];
        assert_eq!(
            inline_limit("SELECT a FROM t WHERE b = ?".into(), &mut v),
            "SELECT a FROM t WHERE b = ?"
        );
        assert_eq!(v.len(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_steady_stream_of_writes_keeps_the_wal_short() {
        let (tmp, p) = pool("wal");
        p.read(|c| Ok(c.execute_batch("CREATE TABLE b (v BLOB)")?)).unwrap();
        // Back to back, with no pause for the checkpointer to find the WAL copied to its
        // end: 12,000 transactions of a 4,000-byte row, about 100 MB of WAL frames if the
        // WAL never started over.
        let row = vec![7u8; 4000];
        for _ in 0..12_000 {
            let t = p.begin().await.unwrap();
            t.with(|c| Ok(c.execute("INSERT INTO b (v) VALUES (?1)", [&row]).map(|_| ())?))
                .unwrap();
            t.commit().await.unwrap();
        }
        let wal = std::fs::metadata(format!("{}-wal", tmp.0.display())).unwrap().len();
        assert!(wal < 70 << 20, "the WAL grew to {wal} bytes");
        let rows =
            p.read(|c| Ok(c.query_row("SELECT count(*) FROM b", [], |r| r.get::<_, i64>(0))?));
        assert_eq!(rows.unwrap(), 12_000_i64);
    }

    #[tokio::test]
    async fn alone_a_transaction_commits_at_once() {
        let (_tmp, p) = pool("alone");
        let t = p.begin().await.unwrap();
        insert(&t, "a").unwrap();
        assert!(committed(&p).is_empty());
        t.commit().await.unwrap();
        assert_eq!(committed(&p), ["a"]);
        let t = p.begin().await.unwrap();
        insert(&t, "b").unwrap();
        drop(t);
        assert_eq!(committed(&p), ["a"]);
    }
}
