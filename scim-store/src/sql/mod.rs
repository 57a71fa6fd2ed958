//! The sea-orm implementation of [`Store`] for SQLite, PostgreSQL and MySQL/MariaDB.
//!
//! SQL is built with sea-query; everything backend-specific (JSON functions) lives in
//! [`dialect`], the filter and sort translation in [`sql`], the data layout and its
//! migrations in [`migration`], RFC 9865 cursors in [`cursor`].

mod breaker;
mod conn;
mod cursor;
mod dialect;
mod filter;
mod migration;
mod outcome;
mod retention;
mod setup;
mod shapes;
#[cfg(feature = "sqlite")]
mod sqlite;

pub use setup::MigrationStatus;

use crate::{
    Bootstrap, Change, ChangeOp, ChangeRecord, ClientRecord, IdempotencyBegin, IdempotentAnswer,
    MemberChange, MemberKind, MemberRow, Modifier, NewClient, NewResource, NewToken, OrgContents,
    OrgDeletion, Organization, Pagination, Policy, Pruned, Query, RawPage, RawStored, ReadOptions,
    Result, Retention, Scope, Store, StoreError, Stored, TokenRecord,
};
use async_trait::async_trait;
use conn::{Db, DbRow, Exec, ExecErr, Txn};
use dialect::Dialect;
use filter::{KeyKind, SortKey, T, Translator, col};
use scim_core::message::SortOrder;
use scim_core::resource::get_ci;
use scim_core::schema::{Registry, ResourceKind};
use scim_core::sid::{GroupSid, OrganizationSid, UserSid};
use scim_core::{ErrorCode, ScimError};
use sea_orm::sea_query::{
    Alias, Cond, Expr, ExprTrait, JoinType, LockType, OnConflict, Order, Query as Q,
    SelectStatement,
};
use sea_orm::{ConnectOptions, Database};
use serde_json::{Map, Value};
use shapes::{Shape, Shapes};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Longest `userName`, group `displayName`, `externalId` or e-mail value the indexed
/// columns hold, in characters.
pub const MAX_KEY_CHARS: usize = 512;

/// How long an idempotency record is kept.
const IDEMPOTENCY_TTL: time::Duration = time::Duration::hours(24);
/// After this long, an in-flight idempotency claim is taken to be abandoned (its process
/// died) and the key can be claimed again.
const IN_FLIGHT_TTL: time::Duration = time::Duration::minutes(5);
/// Rows per `IN (...)` list and per multi-row `INSERT`.
const CHUNK: usize = 500;
/// Rows per multi-row `INSERT` into `resources` (14 columns: 7,000 bound parameters, well
/// under SQLite's 32,766 and PostgreSQL's and MySQL's 65,535).
const INSERT_ROWS: usize = 500;

/// Tuning of a [`SqlStore`].
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Connection pool size (default: 10 for PostgreSQL/MySQL, 4 for an SQLite file, and
    /// always 1 for an in-memory SQLite database, which lives in its one connection).
    pub max_connections: Option<u32>,
    /// How long an RFC 9865 cursor stays valid (default 10 minutes).
    pub cursor_ttl: Duration,
    /// How long to wait for a pooled connection before reporting the database unavailable
    /// (default 1 s: with the database gone, a request fails fast instead of holding its
    /// client; after one such failure the store fails every call at once for a moment,
    /// then probes, see `breaker`).
    pub acquire_timeout: Duration,
    /// On an SQLite file, a long read (a search no selective index serves, a `COUNT`) is
    /// stopped after this long and answers a SCIM timeout error (default: no limit; the
    /// server sets its request timeout). Such a read runs on its thread to the end
    /// otherwise: the request's own timeout cannot interrupt it.
    pub scan_timeout: Option<Duration>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: None,
            cursor_ttl: Duration::from_secs(600),
            acquire_timeout: Duration::from_secs(1),
            scan_timeout: None,
        }
    }
}

/// The [`Store`] on a SQL database through sea-orm.
#[derive(Debug)]
pub struct SqlStore {
    db: Db,
    /// The URL, kept to open a sea-orm connection for migrations when `db` is inline.
    url: String,
    registry: Arc<Registry>,
    d: Dialect,
    opts: StoreOptions,
    secrets: Mutex<HashMap<String, [u8; 32]>>,
    stats: Arc<Stats>,
    shapes: Shapes,
    counts: Counts,
}

/// Unfiltered `COUNT`s of live resources on SQLite, each with the organization's last
/// change-log sequence number when it was taken (see [`SqlStore::count`]).
#[derive(Debug, Default)]
struct Counts(Mutex<HashMap<(OrganizationSid, ResourceKind), (i64, u64)>>);

/// Organizations whose counts [`Counts`] keeps at most (it starts over when full).
const COUNTS_KEPT: usize = 4096;

/// Keeps PostgreSQL's planner statistics fresh as the store grows (see [`Stats::wrote`]).
#[derive(Debug, Default)]
struct Stats {
    /// Rows inserted since the last `ANALYZE` (resources and memberships).
    pending: std::sync::atomic::AtomicU64,
    /// Rows inserted up to the last `ANALYZE`: growth is measured against it.
    baseline: std::sync::atomic::AtomicU64,
    /// An `ANALYZE` is running.
    running: std::sync::atomic::AtomicBool,
}

/// Rows inserted before the first `ANALYZE`.
const ANALYZE_FIRST: u64 = 500;

impl Stats {
    /// Counts `rows` new rows; once they reach a tenth of what was there at the last
    /// `ANALYZE` (at least [`ANALYZE_FIRST`]), refreshes the statistics of the tables that
    /// grow, in the background. PostgreSQL plans from statistics and without them (a
    /// fresh database, a bulk load, a server with autovacuum off) it takes any
    /// `(org, ...)` index for a lookup and scans the organization; autovacuum's own
    /// trigger is the same 10% growth, so with autovacuum on this only runs earlier.
    fn wrote(self: &Arc<Self>, db: &Db, rows: u64) {
        use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed};
        let Db::Sea(conn) = db else { return };
        let conn = &conn.conn;
        if conn.get_database_backend() != sea_orm::DbBackend::Postgres || rows == 0 {
            return;
        }
        let pending = self.pending.fetch_add(rows, AcqRel) + rows;
        let due = std::cmp::Ord::max(self.baseline.load(Relaxed) / 10, ANALYZE_FIRST);
        if pending < due || self.running.swap(true, AcqRel) {
            return;
        }
        let (me, conn) = (Arc::clone(self), conn.clone());
        tokio::spawn(async move {
            let counted = me.pending.swap(0, Acquire);
            let sql = "ANALYZE resources, memberships, resource_emails";
            match sea_orm::ConnectionTrait::execute_unprepared(&conn, sql).await {
                Ok(_) => {
                    me.baseline.fetch_add(counted, AcqRel);
                }
                // Statistics are an optimisation: count the rows again for the next try.
                Err(e) => {
                    me.pending.fetch_add(counted, AcqRel);
                    tracing::warn!(error = %e, "refreshing planner statistics failed");
                }
            }
            me.running.store(false, Relaxed);
        });
    }
}

// ---- small helpers ---------------------------------------------------------------------

const TS_FORMAT: &[time::format_description::BorrowedFormatItem<'static>] = time::macros::format_description!(
    "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
);

fn fmt_ts(t: time::OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC).format(TS_FORMAT).unwrap_or_default()
}

/// Now, as stored: RFC 3339 UTC with milliseconds.
fn now() -> String {
    fmt_ts(time::OffsetDateTime::now_utc())
}

/// An RFC 3339 timestamp normalised to the stored form (UTC, milliseconds), so that text
/// comparison orders instants.
pub(crate) fn now_from(s: &str) -> Option<String> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok().map(fmt_ts)
}

fn random_hex() -> Result<String> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(|e| StoreError::Internal(format!("no randomness: {e}")))?;
    Ok(hex::encode(b))
}

fn kind_of(s: &str) -> Result<ResourceKind> {
    match s {
        "User" => Ok(ResourceKind::User),
        "Group" => Ok(ResourceKind::Group),
        other => {
            Err(StoreError::Internal(format!("unknown resource kind '{other}' in the database")))
        }
    }
}

fn db_err(e: impl Into<ExecErr>) -> StoreError {
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

/// The URL handed to the driver: `mariadb://` becomes `mysql://`; a scheme no compiled-in
/// backend serves is a [`StoreError::Connect`] naming the ones that are.
fn normalize_url(url: &str) -> Result<String> {
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
fn connect_err(e: sea_orm::DbErr) -> StoreError {
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

fn is_unique(e: &ExecErr) -> bool {
    e.is_unique()
}

fn get<T: conn::Col>(r: &DbRow, c: &str) -> Result<T> {
    r.get::<T>(c).map_err(db_err)
}

fn scopes_json(scopes: &[Scope]) -> String {
    serde_json::to_string(scopes).unwrap_or_else(|_| "[]".into())
}

fn parse_scopes(s: &str) -> Vec<Scope> {
    serde_json::from_str(s).unwrap_or_default()
}

fn parse_org(s: &str) -> Result<OrganizationSid> {
    OrganizationSid::parse(s).map_err(|e| StoreError::Internal(e.to_string()))
}

fn invalid_value(msg: String) -> StoreError {
    StoreError::Scim(ScimError::new(ErrorCode::InvalidValue, msg))
}

/// Columns derived from a document.
#[derive(Debug, Clone, PartialEq)]
struct Cols {
    name: String,
    name_key: String,
    display_name_lower: Option<String>,
    display: Option<String>,
    external_id: Option<String>,
    active: Option<bool>,
    emails: Vec<String>,
}

fn check_len(attr: &str, v: &str) -> Result<()> {
    if v.chars().count() > MAX_KEY_CHARS {
        return Err(invalid_value(format!("{attr} is longer than {MAX_KEY_CHARS} characters")));
    }
    Ok(())
}

fn unique_attr(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::User => "userName",
        ResourceKind::Group => "displayName",
    }
}

fn cols(kind: ResourceKind, doc: &Map<String, Value>) -> Result<Cols> {
    let s = |k: &str| get_ci(doc, k).and_then(Value::as_str).map(str::to_owned);
    let display_name = s("displayName");
    let attr = unique_attr(kind);
    let name = s(attr).ok_or_else(|| invalid_value(format!("{attr} is required")))?;
    check_len(attr, &name)?;
    let external_id = s("externalId");
    if let Some(x) = &external_id {
        check_len("externalId", x)?;
    }
    let mut emails = Vec::new();
    let mut active = None;
    if kind == ResourceKind::User {
        active = get_ci(doc, "active").and_then(Value::as_bool);
        if let Some(Value::Array(items)) = get_ci(doc, "emails") {
            let mut seen = HashSet::new();
            for item in items {
                let v = match item {
                    Value::Object(o) => get_ci(o, "value").and_then(Value::as_str),
                    _ => None,
                };
                if let Some(v) = v {
                    check_len("emails.value", v)?;
                    let l = v.to_lowercase();
                    if seen.insert(l.clone()) {
                        emails.push(l);
                    }
                }
            }
        }
    }
    if let Some(d) = &display_name {
        check_len("displayName", d)?;
    }
    Ok(Cols {
        name_key: name.to_lowercase(),
        display_name_lower: display_name.as_ref().map(|d| d.to_lowercase()),
        display: display_name.or_else(|| Some(name.clone())),
        name,
        external_id,
        active,
        emails,
    })
}

/// The document as stored: without `id`, `meta`, `members`, `groups` and `password`.
fn sanitize(kind: ResourceKind, mut doc: Map<String, Value>) -> Map<String, Value> {
    let drop: &[&str] = match kind {
        ResourceKind::User => &["id", "meta", "groups", "password"],
        ResourceKind::Group => &["id", "meta", "members"],
    };
    doc.retain(|k, _| !drop.iter().any(|d| d.eq_ignore_ascii_case(k)));
    doc
}

/// A resource of a [`Store::create_many`] call, ready to insert.
#[derive(Debug)]
struct Prep {
    id: String,
    doc: Map<String, Value>,
    cols: Cols,
    members: Vec<MemberRow>,
    password_hash: Option<String>,
}

/// One `resources` row as read.
#[derive(Debug, Clone)]
struct Row {
    id: String,
    kind: ResourceKind,
    doc: Map<String, Value>,
    version: u64,
    created: String,
    last_modified: String,
    deleted: bool,
}

/// A user's `groups` from the `[[group_id, display], ...]` aggregate of
/// `SqlStore::user_with_groups` (`NULL` when there are none), in group id order as
/// `SqlStore::groups_of` gives them.
fn group_refs(json: Option<&str>) -> Result<Vec<Value>> {
    let mut pairs: Vec<(String, Option<String>)> = match json {
        Some(text) => serde_json::from_str(text)
            .map_err(|e| StoreError::Internal(format!("a group list is not JSON: {e}")))?,
        None => Vec::new(),
    };
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(pairs
        .into_iter()
        .map(|(value, display)| ref_item(value, display, "direct".into()))
        .collect())
}

/// One item of a group's `members` or a user's `groups`: `value`, `display` when known,
/// `type`.
fn ref_item(value: String, display: Option<String>, kind: String) -> Value {
    let mut m = Map::new();
    m.insert("value".into(), Value::String(value));
    if let Some(d) = display {
        m.insert("display".into(), Value::String(d));
    }
    m.insert("type".into(), Value::String(kind));
    Value::Object(m)
}

/// One `resources` row as read, its document still text.
fn raw_row(r: &DbRow) -> Result<RawStored> {
    let version: i64 = get(r, "version")?;
    Ok(RawStored {
        id: get(r, "id")?,
        kind: kind_of(&get::<String>(r, "kind")?)?,
        version: u64::try_from(version).unwrap_or_default(),
        deleted: get(r, "deleted")?,
        created: get(r, "created")?,
        last_modified: get(r, "last_modified")?,
        doc: get(r, "doc")?,
        refs: None,
    })
}

/// [`raw_row`] of a select with a [`SqlStore::groups_column`] named `refs`.
fn raw_row_with_groups(r: &DbRow) -> Result<RawStored> {
    let mut raw = raw_row(r)?;
    raw.refs = Some(group_refs(get::<Option<String>>(r, "refs")?.as_deref())?);
    Ok(raw)
}

impl Row {
    fn from(r: &DbRow) -> Result<Row> {
        let raw = raw_row(r)?;
        let doc = match serde_json::from_str(&raw.doc) {
            Ok(Value::Object(m)) => m,
            _ => return Err(StoreError::Internal("a stored document is not a JSON object".into())),
        };
        Ok(Row {
            id: raw.id,
            kind: raw.kind,
            doc,
            version: raw.version,
            created: raw.created,
            last_modified: raw.last_modified,
            deleted: raw.deleted,
        })
    }

    /// The document as the API shows it: `schemas`, `id`, the rest, members/groups, `meta`.
    fn into_stored(self, refs: Option<Vec<Value>>) -> Stored {
        let raw = RawStored {
            id: self.id,
            kind: self.kind,
            version: self.version,
            deleted: self.deleted,
            created: self.created,
            last_modified: self.last_modified,
            doc: String::new(),
            refs,
        };
        raw.assemble(self.doc)
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
        if let Some((path, mode)) = sqlite::sqlite_file(url) {
            let pool = sqlite::Pool::open(path, mode)
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
            db: Db::Sea(conn::SeaPool::new(db)),
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
    async fn sea_connect(url: &str, opts: &StoreOptions) -> Result<sea_orm::DatabaseConnection> {
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

    /// The schema registry the store translates filters with.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    async fn begin(&self) -> Result<Txn> {
        self.db.begin().await.map_err(db_err)
    }

    fn doc_value(&self, doc: &Map<String, Value>) -> Result<Expr> {
        let text = serde_json::to_string(doc).map_err(|e| StoreError::Internal(e.to_string()))?;
        match self.d {
            Dialect::Postgres => dialect::cust(self.d, "CAST(? AS json)", vec![Expr::val(text)]),
            _ => Ok(Expr::val(text)),
        }
    }

    fn doc_read(&self) -> Result<Expr> {
        match self.d {
            Dialect::Postgres => dialect::cust(self.d, "CAST(? AS text)", vec![col("doc")]),
            _ => Ok(col("doc")),
        }
    }

    /// `SELECT <row columns> FROM resources`.
    fn select_rows(&self) -> Result<SelectStatement> {
        let mut q = Q::select();
        q.columns([
            (T, "id"),
            (T, "kind"),
            (T, "version"),
            (T, "created"),
            (T, "last_modified"),
            (T, "deleted"),
        ])
        .expr_as(self.doc_read()?, Alias::new("doc"))
        .from(T);
        Ok(q)
    }

    fn lock(&self, q: &mut SelectStatement) {
        if self.d != Dialect::Sqlite {
            q.lock(LockType::Update);
        }
    }

    /// The `resources` row of `id`.
    async fn row_of<C: Exec>(
        &self,
        c: &C,
        org: OrganizationSid,
        kind: ResourceKind,
        id: &str,
        deleted: Option<bool>,
        lock: bool,
    ) -> Result<Option<DbRow>> {
        let mut values: Vec<sea_orm::Value> =
            vec![id.into(), org.to_string().into(), kind.name().into()];
        values.extend(deleted.map(sea_orm::Value::from));
        let q = self.shapes.get(self.d.backend(), Shape::Row { deleted, lock }, values, || {
            let mut q = self.select_rows()?;
            q.and_where(col("id").eq(id))
                .and_where(self.org_beside_ids(org)?)
                .and_where(col("kind").eq(kind.name()));
            if let Some(d) = deleted {
                q.and_where(col("deleted").eq(d));
            }
            if lock {
                self.lock(&mut q);
            }
            Ok(q)
        })?;
        c.query_one(&q).await.map_err(db_err)
    }

    async fn row<C: Exec>(
        &self,
        c: &C,
        org: OrganizationSid,
        kind: ResourceKind,
        id: &str,
        deleted: Option<bool>,
        lock: bool,
    ) -> Result<Option<Row>> {
        match self.row_of(c, org, kind, id, deleted, lock).await? {
            Some(r) => Ok(Some(Row::from(&r)?)),
            None => Ok(None),
        }
    }

    /// A live user and its groups in one statement, where the dialect can aggregate them
    /// (`None`: it cannot, read them apart; `Some(None)`: no such user). One statement is
    /// one read transaction and one round trip instead of two.
    async fn user_with_groups(
        &self,
        org: OrganizationSid,
        id: &str,
    ) -> Result<Option<Option<RawStored>>> {
        if !self.aggregates_groups() {
            return Ok(None);
        }
        let kind = ResourceKind::User;
        let values: Vec<sea_orm::Value> = vec![
            org.to_string().into(),
            false.into(),
            id.into(),
            org.to_string().into(),
            kind.name().into(),
            false.into(),
        ];
        let q = self.shapes.get(self.d.backend(), Shape::UserWithGroups, values, || {
            let groups = self
                .groups_column(org)?
                .ok_or_else(|| StoreError::Internal("no groups column".into()))?;
            let mut q = self.select_rows()?;
            q.expr_as(groups, Alias::new("refs"))
                .and_where(col("id").eq(id))
                .and_where(self.org_beside_ids(org)?)
                .and_where(col("kind").eq(kind.name()))
                .and_where(col("deleted").eq(false));
            Ok(q)
        })?;
        let Some(row) = self.db.query_one(&q).await.map_err(db_err)? else {
            return Ok(Some(None));
        };
        Ok(Some(Some(raw_row_with_groups(&row)?)))
    }

    /// Whether [`SqlStore::groups_column`] exists on this backend (a check that builds
    /// nothing, for the hot paths).
    fn aggregates_groups(&self) -> bool {
        self.d != Dialect::MySql
    }

    /// A column of a select from `resources` with the groups of the user in its row: the
    /// live groups' ids and displays as a JSON array of pairs (read by
    /// [`raw_row_with_groups`]), or NULL without groups. `None` on MySQL, whose JSON
    /// aggregates come back in a type the driver does not read as text.
    fn groups_column(&self, org: OrganizationSid) -> Result<Option<Expr>> {
        if !self.aggregates_groups() {
            return Ok(None);
        }
        let template = match self.d {
            Dialect::Sqlite => {
                "(SELECT json_group_array(json_array(m.group_id, g.display)) \
                 FROM memberships m JOIN resources g ON g.id = m.group_id \
                 WHERE m.org = ? AND m.member_id = ? AND g.deleted = ?)"
            }
            Dialect::Postgres => {
                "(SELECT CAST(json_agg(json_build_array(m.group_id, g.display)) AS text) \
                 FROM memberships m JOIN resources g ON g.id = m.group_id \
                 WHERE m.org = ? AND m.member_id = ? AND g.deleted = ?)"
            }
            Dialect::MySql => return Ok(None),
        };
        let args = vec![Expr::val(org.to_string()), Expr::col((T, "id")), Expr::val(false)];
        Ok(Some(dialect::cust(self.d, template, args)?))
    }

    /// `members` of groups, keyed by group id (live members only, one join).
    async fn members_of<C: Exec>(
        &self,
        c: &C,
        org: OrganizationSid,
        groups: &[String],
    ) -> Result<HashMap<String, Vec<Value>>> {
        let mut out: HashMap<String, Vec<Value>> = HashMap::new();
        for chunk in groups.chunks(CHUNK) {
            let mut q = Self::live_memberships(org);
            q.columns([("m", "group_id"), ("m", "member_id"), ("m", "member_type")])
                .column(("r", "display"))
                .and_where(Expr::col(("m", "group_id")).is_in(chunk.iter().cloned()))
                .order_by(("m", "group_id"), Order::Asc)
                .order_by(("m", "member_id"), Order::Asc);
            for r in c.query_all(&q).await.map_err(db_err)? {
                let g: String = get(&r, "group_id")?;
                let item =
                    ref_item(get(&r, "member_id")?, get(&r, "display")?, get(&r, "member_type")?);
                out.entry(g).or_default().push(item);
            }
        }
        Ok(out)
    }

    /// `groups` of users, keyed by user id (direct memberships in live groups).
    async fn groups_of<C: Exec>(
        &self,
        c: &C,
        org: OrganizationSid,
        users: &[String],
    ) -> Result<HashMap<String, Vec<Value>>> {
        let mut out: HashMap<String, Vec<Value>> = HashMap::new();
        for chunk in users.chunks(CHUNK) {
            let build = || {
                let mut q = Q::select();
                q.columns([("m", "member_id"), ("m", "group_id")])
                    .column(("r", "display"))
                    .from_as("memberships", "m")
                    .join_as(
                        JoinType::InnerJoin,
                        T,
                        Alias::new("r"),
                        Expr::col(("r", "id")).equals(("m", "group_id")),
                    )
                    .and_where(Expr::col(("m", "org")).eq(org.to_string()))
                    .and_where(Expr::col(("m", "member_id")).is_in(chunk.iter().cloned()))
                    .and_where(Expr::col(("r", "deleted")).eq(false))
                    .order_by(("m", "member_id"), Order::Asc)
                    .order_by(("m", "group_id"), Order::Asc);
                Ok(q)
            };
            let q = match chunk {
                [user] => {
                    let values = vec![org.to_string().into(), user.clone().into(), false.into()];
                    self.shapes.get(self.d.backend(), Shape::GroupsOfOne, values, build)?
                }
                _ => shapes::Stmt::Built(Box::new(build()?)),
            };
            for r in c.query_all(&q).await.map_err(db_err)? {
                let u: String = get(&r, "member_id")?;
                let item = ref_item(get(&r, "group_id")?, get(&r, "display")?, "direct".into());
                out.entry(u).or_default().push(item);
            }
        }
        Ok(out)
    }

    /// `members` of the groups and `groups` of the users among `items` (kind and id), per
    /// `read`, keyed by id.
    /// Groups over `read.members_limit` go into `omitted`, their members unread.
    async fn refs<C: Exec>(
        &self,
        c: &C,
        org: OrganizationSid,
        items: impl Iterator<Item = (ResourceKind, &str)>,
        read: ReadOptions,
        omitted: &mut HashSet<String>,
    ) -> Result<HashMap<String, Vec<Value>>> {
        let (mut groups, mut users) = (Vec::new(), Vec::new());
        for (kind, id) in items {
            match kind {
                ResourceKind::Group if read.members => groups.push(id.to_owned()),
                ResourceKind::User if read.groups => users.push(id.to_owned()),
                _ => {}
            }
        }
        if let Some(limit) = read.members_limit {
            let mut within = Vec::with_capacity(groups.len());
            for g in groups {
                if self.has_more_members(c, org, &g, limit).await? {
                    omitted.insert(g);
                } else {
                    within.push(g);
                }
            }
            groups = within;
        }
        let mut out = HashMap::new();
        if !groups.is_empty() {
            out.extend(self.members_of(c, org, &groups).await?);
        }
        if !users.is_empty() {
            out.extend(self.groups_of(c, org, &users).await?);
        }
        Ok(out)
    }

    /// Whether group `g` has more than `limit` live members (reads at most `limit + 1`).
    async fn has_more_members<C: Exec>(
        &self,
        c: &C,
        org: OrganizationSid,
        g: &str,
        limit: u32,
    ) -> Result<bool> {
        let mut q = Self::live_memberships(org);
        q.column(("m", "member_id"))
            .and_where(Expr::col(("m", "group_id")).eq(g))
            .limit(u64::from(limit) + 1);
        Ok(c.query_all(&q).await.map_err(db_err)?.len() > limit as usize)
    }

    /// Whether `read` fills the references of a resource of `kind`.
    fn reads_refs(kind: ResourceKind, read: ReadOptions) -> bool {
        match kind {
            ResourceKind::Group => read.members,
            ResourceKind::User => read.groups,
        }
    }

    /// `FROM memberships m JOIN resources r ON r.id = m.member_id` for `org`'s live members
    /// (a soft-deleted member is not one), columns to be added.
    fn live_memberships(org: OrganizationSid) -> SelectStatement {
        let mut q = Q::select();
        q.from_as("memberships", "m")
            .join_as(
                JoinType::InnerJoin,
                T,
                Alias::new("r"),
                Expr::col(("r", "id")).equals(("m", "member_id")),
            )
            .and_where(Expr::col(("m", "org")).eq(org.to_string()))
            .and_where(Expr::col(("r", "deleted")).eq(false));
        q
    }

    /// Rows to [`Stored`], with members/groups per `read`.
    async fn stored<C: Exec>(
        &self,
        c: &C,
        org: OrganizationSid,
        rows: Vec<Row>,
        read: ReadOptions,
    ) -> Result<Vec<Stored>> {
        let mut omitted = HashSet::new();
        let items = rows.iter().map(|r| (r.kind, r.id.as_str()));
        let mut refs = self.refs(c, org, items, read, &mut omitted).await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let mine = (Self::reads_refs(r.kind, read) && !omitted.contains(&r.id))
                    .then(|| refs.remove(&r.id).unwrap_or_default());
                r.into_stored(mine)
            })
            .collect())
    }

    /// Rows still as text, with members/groups per `read`.
    async fn raw_stored<C: Exec>(
        &self,
        c: &C,
        org: OrganizationSid,
        mut rows: Vec<RawStored>,
        read: ReadOptions,
    ) -> Result<Vec<RawStored>> {
        let mut omitted = HashSet::new();
        let items = rows.iter().map(|r| (r.kind, r.id.as_str()));
        let mut refs = self.refs(c, org, items, read, &mut omitted).await?;
        for r in &mut rows {
            if Self::reads_refs(r.kind, read) && !omitted.contains(&r.id) {
                r.refs = Some(refs.remove(&r.id).unwrap_or_default());
            }
        }
        Ok(rows)
    }

    async fn one_stored<C: Exec>(
        &self,
        c: &C,
        org: OrganizationSid,
        row: Row,
        read: ReadOptions,
    ) -> Result<Stored> {
        self.stored(c, org, vec![row], read)
            .await?
            .pop()
            .ok_or_else(|| StoreError::Internal("a row vanished".into()))
    }

    /// Uniqueness of `userName`/`displayName` and `externalId` within the organization
    /// and kind, among live resources (a soft-deleted one gives its keys up: see
    /// [`tombstone`]).
    async fn check_unique<C: Exec>(
        &self,
        c: &C,
        org: OrganizationSid,
        kind: ResourceKind,
        cols: &Cols,
        except: Option<&str>,
    ) -> Result<()> {
        let mut checks =
            vec![("name_key", cols.name_key.clone(), unique_attr(kind), cols.name.clone())];
        if let Some(x) = &cols.external_id {
            checks.push(("external_id", x.clone(), "externalId", x.clone()));
        }
        for (column, key, attribute, value) in checks {
            let mut q = Q::select();
            q.column((T, "id"))
                .from(T)
                .and_where(col("org").eq(org.to_string()))
                .and_where(col("kind").eq(kind.name()))
                .and_where(Expr::col((T, column)).eq(key))
                .limit(1);
            if let Some(id) = except {
                q.and_where(col("id").ne(id));
            }
            if c.query_one(&q).await.map_err(db_err)?.is_some() {
                return Err(StoreError::Conflict { attribute: attribute.into(), value });
            }
        }
        Ok(())
    }

    /// A write error: unique violations (a concurrent insert won the race) become a
    /// conflict naming the attribute (and the value, when one resource was written).
    fn write_err(&self, e: ExecErr, kind: ResourceKind, cols: Option<&Cols>) -> StoreError {
        if is_unique(&e) {
            let msg = e.to_string();
            let unknown = || "(taken by a concurrent write)".to_owned();
            if msg.contains("external_id") {
                return StoreError::Conflict {
                    attribute: "externalId".into(),
                    value: cols.and_then(|c| c.external_id.clone()).unwrap_or_else(unknown),
                };
            }
            return StoreError::Conflict {
                attribute: unique_attr(kind).into(),
                value: cols.map(|c| c.name.clone()).unwrap_or_else(unknown),
            };
        }
        db_err(e)
    }

    /// [`SqlStore::check_unique`] for a batch of new resources, with `create`'s semantics
    /// per resource in input order: against the stored resources (one indexed `IN` query
    /// per chunk and key) and against the earlier resources of the batch.
    async fn check_unique_many<C: Exec>(
        &self,
        c: &C,
        org: OrganizationSid,
        kind: ResourceKind,
        preps: &[Prep],
    ) -> Result<()> {
        let mut taken: [HashSet<String>; 2] = [HashSet::new(), HashSet::new()];
        for (slot, column) in ["name_key", "external_id"].into_iter().enumerate() {
            let keys: Vec<String> = preps
                .iter()
                .filter_map(|p| {
                    if slot == 0 {
                        Some(p.cols.name_key.clone())
                    } else {
                        p.cols.external_id.clone()
                    }
                })
                .collect();
            for chunk in keys.chunks(CHUNK) {
                let mut q = Q::select();
                q.expr_as(Expr::col((T, column)), Alias::new("k"))
                    .from(T)
                    .and_where(col("org").eq(org.to_string()))
                    .and_where(col("kind").eq(kind.name()))
                    .and_where(Expr::col((T, column)).is_in(chunk.iter().cloned()));
                for r in c.query_all(&q).await.map_err(db_err)? {
                    if let Some(set) = taken.get_mut(slot) {
                        set.insert(get::<String>(&r, "k")?);
                    }
                }
            }
        }
        let [mut names, mut externals] = taken;
        for p in preps {
            if !names.insert(p.cols.name_key.clone()) {
                return Err(StoreError::Conflict {
                    attribute: unique_attr(kind).into(),
                    value: p.cols.name.clone(),
                });
            }
            if let Some(x) = &p.cols.external_id
                && !externals.insert(x.clone())
            {
                return Err(StoreError::Conflict {
                    attribute: "externalId".into(),
                    value: x.clone(),
                });
            }
        }
        Ok(())
    }

    /// One multi-row `INSERT` into `resources`.
    fn insert_rows(
        &self,
        org: OrganizationSid,
        kind: ResourceKind,
        preps: &[Prep],
        at: &str,
    ) -> Result<sea_orm::sea_query::InsertStatement> {
        let mut ins = Q::insert();
        ins.into_table(T).columns([
            "id",
            "org",
            "kind",
            "doc",
            "name_key",
            "display_name_lower",
            "display",
            "external_id",
            "active",
            "created",
            "last_modified",
            "version",
            "deleted",
            "password_hash",
        ]);
        for p in preps {
            ins.values([
                Expr::val(p.id.clone()),
                Expr::val(org.to_string()),
                Expr::val(kind.name()),
                self.doc_value(&p.doc)?,
                Expr::val(p.cols.name_key.clone()),
                Expr::val(p.cols.display_name_lower.clone()),
                Expr::val(p.cols.display.clone()),
                Expr::val(p.cols.external_id.clone()),
                Expr::val(p.cols.active),
                Expr::val(at.to_owned()),
                Expr::val(at.to_owned()),
                Expr::val(1i64),
                Expr::val(false),
                Expr::val(p.password_hash.clone()),
            ])
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        }
        Ok(ins)
    }

    async fn write_emails<C: Exec>(
        &self,
        c: &C,
        org: OrganizationSid,
        id: &str,
        emails: &[String],
        replace: bool,
    ) -> Result<()> {
        if replace {
            let mut del = Q::delete();
            del.from_table("resource_emails").and_where(Expr::col("resource_id").eq(id));
            c.execute(&del).await.map_err(db_err)?;
        }
        for chunk in emails.chunks(CHUNK) {
            let mut ins = Q::insert();
            ins.into_table("resource_emails").columns(["org", "resource_id", "value_lower"]);
            for e in chunk {
                ins.values([Expr::val(org.to_string()), Expr::val(id), Expr::val(e.clone())])
                    .map_err(|e| StoreError::Internal(e.to_string()))?;
            }
            c.execute(&ins).await.map_err(db_err)?;
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn log<C: Exec>(
        &self,
        c: &C,
        org: OrganizationSid,
        kind: ResourceKind,
        id: &str,
        op: ChangeOp,
        version: u64,
        at: &str,
    ) -> Result<()> {
        let op = match op {
            ChangeOp::Create => "create",
            ChangeOp::Update => "update",
            ChangeOp::Delete => "delete",
            ChangeOp::Restore => "restore",
        };
        let mut ins = Q::insert();
        ins.into_table("change_log")
            .columns(["org", "kind", "id", "op", "version", "at"])
            .values([
                Expr::val(org.to_string()),
                Expr::val(kind.name()),
                Expr::val(id),
                Expr::val(op),
                Expr::val(i64::try_from(version).unwrap_or(i64::MAX)),
                Expr::val(at),
            ])
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        c.execute(&ins).await.map_err(db_err)?;
        Ok(())
    }

    /// The groups that list `member` (a user or a group) in their `members` change when it
    /// leaves or rejoins them (delete, soft delete, restore): their `version` and
    /// `lastModified` move on in the same transaction, each with a change-log entry, so
    /// ETags and conditional requests on those groups see the change. Runs before the
    /// membership rows go.
    async fn touch_groups_of<C: Exec>(
        &self,
        c: &C,
        org: OrganizationSid,
        member: &str,
        at: &str,
    ) -> Result<()> {
        let mut groups = Q::select();
        groups
            .column(("memberships", "group_id"))
            .from("memberships")
            .and_where(Expr::col(("memberships", "org")).eq(org.to_string()))
            .and_where(Expr::col(("memberships", "member_id")).eq(member));
        // The live groups that list `member`: the rows to touch, then to log.
        let live_groups = Cond::all()
            .add(self.org_beside_ids(org)?)
            .add(col("kind").eq(ResourceKind::Group.name()))
            .add(col("deleted").eq(false))
            .add(col("id").in_subquery(groups));
        let mut up = Q::update();
        up.table(T)
            .value("version", Expr::col((T, "version")).add(1))
            .value("last_modified", Expr::val(at))
            .cond_where(live_groups.clone());
        if c.execute(&up).await.map_err(db_err)?.rows_affected() == 0 {
            return Ok(());
        }
        let mut rows = Q::select();
        rows.columns([(T, "org"), (T, "kind"), (T, "id")])
            .expr(Expr::val("update"))
            .column((T, "version"))
            .expr(Expr::val(at))
            .from(T)
            .cond_where(live_groups);
        let mut ins = Q::insert();
        ins.into_table("change_log")
            .columns(["org", "kind", "id", "op", "version", "at"])
            .select_from(rows)
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        c.execute(&ins).await.map_err(db_err)?;
        Ok(())
    }

    /// Applies membership changes to group `group` in order.
    async fn apply_members<C: Exec>(
        &self,
        c: &C,
        org: OrganizationSid,
        group: &str,
        changes: Vec<MemberChange>,
    ) -> Result<()> {
        let base = |q: &mut sea_orm::sea_query::DeleteStatement| {
            q.from_table("memberships")
                .and_where(Expr::col(("memberships", "org")).eq(org.to_string()))
                .and_where(Expr::col(("memberships", "group_id")).eq(group));
        };
        for change in changes {
            match change {
                MemberChange::Add(rows) => self.add_members(c, org, group, rows).await?,
                MemberChange::Remove(ids) => {
                    for chunk in ids.chunks(CHUNK) {
                        let mut q = Q::delete();
                        base(&mut q);
                        q.and_where(
                            Expr::col(("memberships", "member_id")).is_in(chunk.iter().cloned()),
                        );
                        c.execute(&q).await.map_err(db_err)?;
                    }
                }
                MemberChange::RemoveWhere(f) => {
                    let tr =
                        Translator { d: self.d, reg: &self.registry, kind: ResourceKind::Group };
                    let cond = tr.member_filter(&f)?;
                    let mut q = Q::delete();
                    base(&mut q);
                    q.and_where(cond);
                    c.execute(&q).await.map_err(db_err)?;
                }
                MemberChange::Clear => {
                    let mut q = Q::delete();
                    base(&mut q);
                    c.execute(&q).await.map_err(db_err)?;
                }
            }
        }
        Ok(())
    }

    async fn add_members<C: Exec>(
        &self,
        c: &C,
        org: OrganizationSid,
        group: &str,
        rows: Vec<MemberRow>,
    ) -> Result<()> {
        let mut seen = HashSet::new();
        let rows: Vec<MemberRow> =
            rows.into_iter().filter(|r| seen.insert(r.value.clone())).collect();
        let missing = |v: &str| {
            invalid_value(format!(
                "member '{}' does not exist in this organization",
                v.chars().take(80).collect::<String>()
            ))
        };
        for chunk in rows.chunks(CHUNK) {
            if let Some(r) = chunk.iter().find(|r| r.value == group) {
                return Err(invalid_value(format!(
                    "group '{}' cannot be a member of itself",
                    r.value
                )));
            }
            // Existence in THIS organization, with the right kind; the error is the same
            // whether the id exists elsewhere or nowhere.
            let mut q = Q::select();
            q.columns([(T, "id"), (T, "kind")])
                .from(T)
                .and_where(self.org_beside_ids(org)?)
                .and_where(col("deleted").eq(false))
                .and_where(col("id").is_in(chunk.iter().map(|r| r.value.clone())));
            let found: HashMap<String, String> = c
                .query_all(&q)
                .await
                .map_err(db_err)?
                .iter()
                .map(|r| Ok((get::<String>(r, "id")?, get::<String>(r, "kind")?)))
                .collect::<Result<_>>()?;
            for r in chunk {
                let want = match r.kind {
                    MemberKind::User => "User",
                    MemberKind::Group => "Group",
                };
                if found.get(&r.value).map(String::as_str) != Some(want) {
                    return Err(missing(&r.value));
                }
            }
            // A member already present stays as it is: one statement, no lookup first, and
            // a concurrent add of the same member is not an error.
            let mut ins = Q::insert();
            ins.into_table("memberships")
                .columns(["org", "group_id", "member_id", "member_type"])
                .on_conflict(
                    OnConflict::columns(["group_id", "member_id"])
                        .do_nothing_on(["member_id"])
                        .to_owned(),
                );
            for r in chunk {
                let t = match r.kind {
                    MemberKind::User => "User",
                    MemberKind::Group => "Group",
                };
                ins.values([
                    Expr::val(org.to_string()),
                    Expr::val(group),
                    Expr::val(r.value.clone()),
                    Expr::val(t),
                ])
                .map_err(|e| StoreError::Internal(e.to_string()))?;
            }
            c.execute(&ins).await.map_err(db_err)?;
        }
        Ok(())
    }

    async fn secret(&self, name: &str) -> Result<[u8; 32]> {
        if let Ok(cache) = self.secrets.lock()
            && let Some(s) = cache.get(name)
        {
            return Ok(*s);
        }
        let read = |r: Option<DbRow>| -> Result<Option<[u8; 32]>> {
            let Some(r) = r else { return Ok(None) };
            let v: String = get(&r, "value")?;
            let mut out = [0u8; 32];
            hex::decode_to_slice(v, &mut out).map_err(|e| StoreError::Internal(e.to_string()))?;
            Ok(Some(out))
        };
        let mut q = Q::select();
        q.column("value").from("settings").and_where(Expr::col("name").eq(name));
        let mut secret = read(self.db.query_one(&q).await.map_err(db_err)?)?;
        if secret.is_none() {
            let mut fresh = [0u8; 32];
            getrandom::fill(&mut fresh)
                .map_err(|e| StoreError::Internal(format!("no randomness: {e}")))?;
            let mut ins = Q::insert();
            ins.into_table("settings")
                .columns(["name", "value"])
                .values([Expr::val(name), Expr::val(hex::encode(fresh))])
                .map_err(|e| StoreError::Internal(e.to_string()))?;
            // Another replica may have won the race: then its secret is the one.
            if let Err(e) = self.db.execute(&ins).await
                && !is_unique(&e)
            {
                return Err(db_err(e));
            }
            secret = read(self.db.query_one(&q).await.map_err(db_err)?)?;
        }
        let secret = secret.ok_or_else(|| StoreError::Internal("shared secret missing".into()))?;
        if let Ok(mut cache) = self.secrets.lock() {
            cache.insert(name.to_owned(), secret);
        }
        Ok(secret)
    }

    /// `resources.org = ?` for a statement that also pins `id` (`id = ?`, `id IN (...)`),
    /// written so that it stays out of index selection and the primary key is probed:
    /// without table statistics (a fresh database, a bulk load before the next `ANALYZE`,
    /// a server with autovacuum off) the planners otherwise prefer an `(org, ...)` index
    /// and scan the whole organization for every id: SQLite (200 ms per 500 ids at a
    /// million users) and PostgreSQL alike (a GET by id at 10,000 users was a scan of the
    /// organization's `(org, kind, last_modified)` index; 485 GETs/s instead of thousands).
    /// SQLite: `+org = ?`; PostgreSQL: `org || '' = ?`. MySQL always takes a primary-key
    /// equality as a constant lookup and gets the plain term.
    fn org_beside_ids(&self, org: OrganizationSid) -> Result<Expr> {
        match self.d {
            Dialect::Sqlite => {
                dialect::cust(self.d, "(+? = ?)", vec![col("org"), Expr::val(org.to_string())])
            }
            Dialect::Postgres => {
                dialect::cust(self.d, "(? || '' = ?)", vec![col("org"), Expr::val(org.to_string())])
            }
            Dialect::MySql => Ok(col("org").eq(org.to_string())),
        }
    }

    fn base_where(&self, q: &mut SelectStatement, org: OrganizationSid, kind: ResourceKind) {
        q.and_where(col("org").eq(org.to_string()))
            .and_where(col("kind").eq(kind.name()))
            .and_where(col("deleted").eq(false));
    }

    /// The number of live resources of `kind` matching `cond`.
    ///
    /// On SQLite an unfiltered count is remembered with the organization's last change-log
    /// sequence number, read before counting, and answered from memory while that number
    /// stays the same: every write that adds, deletes or restores a resource logs a change
    /// in its own transaction, and SQLite's single writer hands out sequence numbers in
    /// commit order, so an unchanged number means an unchanged count (for any process
    /// sharing the file). On PostgreSQL and MySQL sequence numbers are not in commit order:
    /// they always count.
    async fn count(
        &self,
        org: OrganizationSid,
        kind: ResourceKind,
        cond: Option<&Expr>,
        long: bool,
    ) -> Result<u64> {
        if cond.is_some() || self.d != Dialect::Sqlite {
            return self.count_rows(org, kind, cond, long).await;
        }
        let mut q = Q::select();
        q.expr_as(Expr::cust("COALESCE(MAX(seq), 0)"), Alias::new("s"))
            .from("change_log")
            .and_where(Expr::col("org").eq(org.to_string()));
        let seq: i64 = match self.db.query_one(&q).await.map_err(db_err)? {
            Some(r) => get::<i64>(&r, "s")?,
            None => 0,
        };
        let key = (org, kind);
        let known = self.counts.0.lock().ok().and_then(|m| m.get(&key).copied());
        if let Some((at, n)) = known
            && at == seq
        {
            return Ok(n);
        }
        let n = self.count_rows(org, kind, None, long).await?;
        if let Ok(mut m) = self.counts.0.lock() {
            if m.len() >= COUNTS_KEPT {
                m.clear();
            }
            m.insert(key, (seq, n));
        }
        Ok(n)
    }

    /// `COUNT(*)` of the live resources of `kind` matching `cond`.
    async fn count_rows(
        &self,
        org: OrganizationSid,
        kind: ResourceKind,
        cond: Option<&Expr>,
        long: bool,
    ) -> Result<u64> {
        let mut q = Q::select();
        q.expr_as(Expr::cust("COUNT(*)"), Alias::new("n")).from(T);
        self.base_where(&mut q, org, kind);
        if let Some(c) = cond {
            q.and_where(c.clone());
        }
        let r = self.db.scan_one(&q, long).await.map_err(db_err)?;
        let n: i64 = match r {
            Some(r) => get(&r, "n")?,
            None => 0,
        };
        Ok(u64::try_from(n).unwrap_or_default())
    }
}

/// The `name_key` of a soft-deleted resource: unique (it holds the id) and never equal to
/// a live key, which is always lowercase while ids start with `US`/`GR`.
fn tombstone(id: &str) -> String {
    format!("~deleted~{id}")
}

/// An index page that skips more rows than this walks them: it counts as a long query.
const DEEP: u64 = 2_000;

fn key_value(kind: KeyKind, v: &Value) -> Expr {
    match (kind, v) {
        (KeyKind::Real, Value::Number(n)) => Expr::val(n.as_f64().unwrap_or_default()),
        (KeyKind::Bool, Value::Bool(b)) => Expr::val(*b),
        (_, Value::String(s)) => Expr::val(s.clone()),
        (_, other) => Expr::val(other.to_string()),
    }
}

fn read_key(kind: KeyKind, r: &DbRow) -> Result<Value> {
    Ok(match kind {
        KeyKind::Text => get::<Option<String>>(r, "sk")?.map(Value::String).unwrap_or(Value::Null),
        KeyKind::Real => get::<Option<f64>>(r, "sk")?
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        KeyKind::Bool => get::<Option<bool>>(r, "sk")?.map(Value::Bool).unwrap_or(Value::Null),
    })
}

/// `WHERE` for the rows after `(key, id)` in the sort order (nulls last either way).
fn keyset(sk: &SortKey, desc: bool, key: &Value, id: &str) -> Expr {
    let after = |a: Expr, b: Expr| if desc { a.lt(b) } else { a.gt(b) };
    let e = sk.expr.clone();
    if key.is_null() {
        return e.is_null().and(after(col("id"), Expr::val(id)));
    }
    let k = key_value(sk.kind, key);
    if !sk.nullable {
        // A row-value comparison, which every backend answers from the (key, id) index.
        return after(Expr::tuple([e, col("id")]), Expr::tuple([k, Expr::val(id)]));
    }
    let tail = after(e.clone(), k.clone()).or(e.clone().eq(k).and(after(col("id"), Expr::val(id))));
    e.is_null().or(tail)
}

#[async_trait]
impl Store for SqlStore {
    async fn ping(&self) -> Result<()> {
        self.db.ping().await.map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    async fn create_organization(&self, name: &str, policies: &[Policy]) -> Result<Organization> {
        setup::insert_organization(&self.db, name, policies).await
    }

    async fn bootstrap(
        &self,
        name: &str,
        scopes: &[Scope],
        token_name: Option<&str>,
        secret_hash: [u8; 32],
    ) -> Result<Option<Bootstrap>> {
        self.bootstrap_once(name, scopes, token_name, secret_hash).await
    }

    async fn organization(&self, org: OrganizationSid) -> Result<Option<Organization>> {
        let mut q = Q::select();
        q.columns(["sid", "name", "policies", "created"])
            .from("organizations")
            .and_where(Expr::col("sid").eq(org.to_string()));
        match self.db.query_one(&q).await.map_err(db_err)? {
            Some(r) => Ok(Some(org_from(&r)?)),
            None => Ok(None),
        }
    }

    async fn organizations(&self) -> Result<Vec<Organization>> {
        let mut q = Q::select();
        q.columns(["sid", "name", "policies", "created"])
            .from("organizations")
            .order_by("created", Order::Asc)
            .order_by("sid", Order::Asc);
        self.db.query_all(&q).await.map_err(db_err)?.iter().map(org_from).collect()
    }

    async fn rename_organization(&self, org: OrganizationSid, name: &str) -> Result<bool> {
        let mut q = Q::update();
        q.table("organizations")
            .value("name", name)
            .and_where(Expr::col("sid").eq(org.to_string()));
        Ok(self.db.execute(&q).await.map_err(db_err)?.rows_affected() > 0)
    }

    async fn set_policies(&self, org: OrganizationSid, policies: &[Policy]) -> Result<bool> {
        let names: Vec<&str> = policies.iter().map(|p| p.name()).collect();
        let text =
            serde_json::to_string(&names).map_err(|e| StoreError::Internal(e.to_string()))?;
        let mut q = Q::update();
        q.table("organizations")
            .value("policies", text)
            .and_where(Expr::col("sid").eq(org.to_string()));
        Ok(self.db.execute(&q).await.map_err(db_err)?.rows_affected() > 0)
    }

    async fn organization_contents(&self, org: OrganizationSid) -> Result<Option<OrgContents>> {
        if self.organization(org).await?.is_none() {
            return Ok(None);
        }
        let txn = self.begin().await?;
        let contents = org_contents(&txn, org).await?;
        txn.commit().await.map_err(db_err)?;
        Ok(Some(contents))
    }

    async fn delete_organization(
        &self,
        org: OrganizationSid,
        only_if_empty: bool,
    ) -> Result<OrgDeletion> {
        let sid = org.to_string();
        let txn = self.begin().await?;
        let mut q = Q::select();
        q.column("sid").from("organizations").and_where(Expr::col("sid").eq(sid.clone()));
        if txn.query_one(&q).await.map_err(db_err)?.is_none() {
            return Ok(OrgDeletion::NotFound);
        }
        let contents = org_contents(&txn, org).await?;
        if only_if_empty && contents.users + contents.groups > 0 {
            return Ok(OrgDeletion::NotEmpty(contents));
        }
        // Clients granted on this organization alone go with it; the others lose the grant.
        let mut here = Q::select();
        here.column("client_id").from("client_orgs").and_where(Expr::col("org").eq(sid.clone()));
        let mut elsewhere = Q::select();
        elsewhere
            .column("client_id")
            .from("client_orgs")
            .and_where(Expr::col("org").ne(sid.clone()));
        let mut del = Q::delete();
        del.from_table("clients")
            .and_where(Expr::col("client_id").in_subquery(here))
            .and_where(Expr::col("client_id").not_in_subquery(elsewhere));
        txn.execute(&del).await.map_err(db_err)?;
        for (table, column) in [
            ("client_orgs", "org"),
            ("tokens", "org"),
            ("memberships", "org"),
            ("resource_emails", "org"),
            ("resources", "org"),
            ("idempotency", "org"),
            ("change_log", "org"),
            ("organizations", "sid"),
        ] {
            let mut del = Q::delete();
            del.from_table(table).and_where(Expr::col(column).eq(sid.clone()));
            txn.execute(&del).await.map_err(db_err)?;
        }
        txn.commit().await.map_err(db_err)?;
        Ok(OrgDeletion::Deleted(contents))
    }

    async fn create_token(&self, new: NewToken) -> Result<TokenRecord> {
        setup::insert_token(&self.db, new).await
    }

    async fn token_by_hash(&self, hash: &[u8; 32]) -> Result<Option<TokenRecord>> {
        let mut q = Q::select();
        q.columns(TOKEN_COLUMNS)
            .from("tokens")
            .and_where(Expr::col("secret_hash").eq(hex::encode(hash)))
            .and_where(Expr::col("revoked").eq(false))
            .cond_where(
                Cond::any().add(Expr::col("expires").is_null()).add(Expr::col("expires").gt(now())),
            );
        match self.db.query_one(&q).await.map_err(db_err)? {
            Some(r) => Ok(Some(token_from(&r)?)),
            None => Ok(None),
        }
    }

    async fn touch_token(&self, id: &str, at: &str) -> Result<()> {
        let at = now_from(at)
            .ok_or_else(|| invalid_value(format!("'{at}' is not an RFC 3339 timestamp")))?;
        let minute_before =
            time::OffsetDateTime::parse(&at, &time::format_description::well_known::Rfc3339)
                .map(|t| fmt_ts(t - time::Duration::minutes(1)))
                .map_err(|e| StoreError::Internal(e.to_string()))?;
        let mut q = Q::update();
        q.table("tokens").value("last_used", at).and_where(Expr::col("id").eq(id)).cond_where(
            Cond::any()
                .add(Expr::col("last_used").is_null())
                .add(Expr::col("last_used").lte(minute_before)),
        );
        self.db.execute(&q).await.map_err(db_err)?;
        Ok(())
    }

    async fn tokens(&self, org: OrganizationSid) -> Result<Vec<TokenRecord>> {
        let mut q = Q::select();
        q.columns(TOKEN_COLUMNS)
            .from("tokens")
            .and_where(Expr::col("org").eq(org.to_string()))
            .and_where(Expr::col("revoked").eq(false))
            .order_by("created", Order::Asc)
            .order_by("id", Order::Asc);
        self.db.query_all(&q).await.map_err(db_err)?.iter().map(token_from).collect()
    }

    async fn revoke_token(&self, id: &str) -> Result<bool> {
        let mut q = Q::update();
        q.table("tokens")
            .value("revoked", true)
            .and_where(Expr::col("id").eq(id))
            .and_where(Expr::col("revoked").eq(false));
        Ok(self.db.execute(&q).await.map_err(db_err)?.rows_affected() > 0)
    }

    async fn create_client(&self, new: NewClient) -> Result<ClientRecord> {
        if new.orgs.is_empty() {
            return Err(invalid_value("a client needs at least one organization".into()));
        }
        let created = now();
        let txn = self.begin().await?;
        let mut ins = Q::insert();
        ins.into_table("clients")
            .columns(["client_id", "secret_hash", "scopes", "created", "revoked"])
            .values([
                Expr::val(new.client_id.clone()),
                Expr::val(hex::encode(new.secret_hash)),
                Expr::val(scopes_json(&new.scopes)),
                Expr::val(created.clone()),
                Expr::val(false),
            ])
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        txn.execute(&ins).await.map_err(|e| {
            if is_unique(&e) {
                StoreError::Conflict { attribute: "client_id".into(), value: new.client_id.clone() }
            } else {
                db_err(e)
            }
        })?;
        let mut orgs = new.orgs.clone();
        orgs.sort();
        orgs.dedup();
        for o in &orgs {
            let mut ins = Q::insert();
            ins.into_table("client_orgs")
                .columns(["client_id", "org"])
                .values([Expr::val(new.client_id.clone()), Expr::val(o.to_string())])
                .map_err(|e| StoreError::Internal(e.to_string()))?;
            txn.execute(&ins).await.map_err(db_err)?;
        }
        txn.commit().await.map_err(db_err)?;
        Ok(ClientRecord { client_id: new.client_id, orgs, scopes: new.scopes, created })
    }

    async fn client(&self, client_id: &str) -> Result<Option<(ClientRecord, [u8; 32])>> {
        let mut q = Q::select();
        q.columns(["client_id", "secret_hash", "scopes", "created"])
            .from("clients")
            .and_where(Expr::col("client_id").eq(client_id))
            .and_where(Expr::col("revoked").eq(false));
        let Some(r) = self.db.query_one(&q).await.map_err(db_err)? else { return Ok(None) };
        let mut hash = [0u8; 32];
        hex::decode_to_slice(get::<String>(&r, "secret_hash")?, &mut hash)
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        let mut q = Q::select();
        q.column("org")
            .from("client_orgs")
            .and_where(Expr::col("client_id").eq(client_id))
            .order_by("org", Order::Asc);
        let orgs = self
            .db
            .query_all(&q)
            .await
            .map_err(db_err)?
            .iter()
            .map(|r| parse_org(&get::<String>(r, "org")?))
            .collect::<Result<Vec<_>>>()?;
        Ok(Some((
            ClientRecord {
                client_id: get(&r, "client_id")?,
                orgs,
                scopes: parse_scopes(&get::<String>(&r, "scopes")?),
                created: get(&r, "created")?,
            },
            hash,
        )))
    }

    async fn revoke_client(&self, client_id: &str) -> Result<bool> {
        let mut q = Q::update();
        q.table("clients")
            .value("revoked", true)
            .and_where(Expr::col("client_id").eq(client_id))
            .and_where(Expr::col("revoked").eq(false));
        Ok(self.db.execute(&q).await.map_err(db_err)?.rows_affected() > 0)
    }

    async fn clients(&self) -> Result<Vec<ClientRecord>> {
        let mut q = Q::select();
        q.columns(["client_id", "scopes", "created"])
            .from("clients")
            .and_where(Expr::col("revoked").eq(false))
            .order_by("created", Order::Asc)
            .order_by("client_id", Order::Asc);
        let rows = self.db.query_all(&q).await.map_err(db_err)?;
        let mut q = Q::select();
        q.columns(["client_id", "org"]).from("client_orgs").order_by("org", Order::Asc);
        let mut grants: HashMap<String, Vec<OrganizationSid>> = HashMap::new();
        for r in self.db.query_all(&q).await.map_err(db_err)? {
            grants
                .entry(get(&r, "client_id")?)
                .or_default()
                .push(parse_org(&get::<String>(&r, "org")?)?);
        }
        rows.iter()
            .map(|r| {
                let client_id: String = get(r, "client_id")?;
                Ok(ClientRecord {
                    orgs: grants.remove(&client_id).unwrap_or_default(),
                    client_id,
                    scopes: parse_scopes(&get::<String>(r, "scopes")?),
                    created: get(r, "created")?,
                })
            })
            .collect()
    }

    async fn shared_secret(&self, name: &str) -> Result<[u8; 32]> {
        self.secret(name).await
    }

    async fn create(
        &self,
        org: OrganizationSid,
        kind: ResourceKind,
        new: NewResource,
    ) -> Result<Stored> {
        // One code path for single and batch creates.
        self.create_many(org, kind, vec![new])
            .await?
            .pop()
            .ok_or_else(|| StoreError::Internal("created row not found".into()))
    }

    async fn create_many(
        &self,
        org: OrganizationSid,
        kind: ResourceKind,
        new: Vec<NewResource>,
    ) -> Result<Vec<Stored>> {
        if new.is_empty() {
            return Ok(Vec::new());
        }
        // Everything that can fail without the database fails before the transaction.
        let mut preps = Vec::with_capacity(new.len());
        for n in new {
            let id = match kind {
                ResourceKind::User => UserSid::generate().map(|s| s.to_string()),
                ResourceKind::Group => GroupSid::generate().map(|s| s.to_string()),
            }
            .map_err(|e| StoreError::Internal(e.to_string()))?;
            let doc = sanitize(kind, n.resource.into_map());
            let cols = cols(kind, &doc)?;
            preps.push(Prep { id, doc, cols, members: n.members, password_hash: n.password_hash });
        }
        let at = now();
        let txn = self.begin().await?;
        self.check_unique_many(&txn, org, kind, &preps).await?;
        for chunk in preps.chunks(INSERT_ROWS) {
            let ins = self.insert_rows(org, kind, chunk, &at)?;
            if let Err(e) = txn.execute(&ins).await {
                if !is_unique(&e) {
                    return Err(db_err(e));
                }
                // A concurrent writer committed a taken key after our check: look again
                // outside the (now unusable on PostgreSQL) transaction to name it.
                drop(txn);
                self.check_unique_many(&self.db, org, kind, &preps).await?;
                let one = if preps.len() == 1 { preps.first().map(|p| &p.cols) } else { None };
                return Err(self.write_err(e, kind, one));
            }
        }
        let emails: Vec<(&str, &String)> = preps
            .iter()
            .flat_map(|p| p.cols.emails.iter().map(move |e| (p.id.as_str(), e)))
            .collect();
        for chunk in emails.chunks(CHUNK) {
            let mut ins = Q::insert();
            ins.into_table("resource_emails").columns(["org", "resource_id", "value_lower"]);
            for (id, e) in chunk {
                ins.values([Expr::val(org.to_string()), Expr::val(*id), Expr::val((*e).clone())])
                    .map_err(|e| StoreError::Internal(e.to_string()))?;
            }
            txn.execute(&ins).await.map_err(db_err)?;
        }
        if kind == ResourceKind::Group {
            for p in &mut preps {
                let members = std::mem::take(&mut p.members);
                if !members.is_empty() {
                    self.add_members(&txn, org, &p.id, members).await?;
                }
            }
        }
        for chunk in preps.chunks(CHUNK) {
            let mut ins = Q::insert();
            ins.into_table("change_log").columns(["org", "kind", "id", "op", "version", "at"]);
            for p in chunk {
                ins.values([
                    Expr::val(org.to_string()),
                    Expr::val(kind.name()),
                    Expr::val(p.id.clone()),
                    Expr::val("create"),
                    Expr::val(1i64),
                    Expr::val(at.clone()),
                ])
                .map_err(|e| StoreError::Internal(e.to_string()))?;
            }
            txn.execute(&ins).await.map_err(db_err)?;
        }
        // The rows are exactly what was written: answer from memory, reading only members.
        let rows: Vec<Row> = preps
            .into_iter()
            .map(|p| Row {
                id: p.id,
                kind,
                doc: p.doc,
                version: 1,
                created: at.clone(),
                last_modified: at.clone(),
                deleted: false,
            })
            .collect();
        let read = ReadOptions { members: kind == ResourceKind::Group, ..ReadOptions::default() };
        let stored = self.stored(&txn, org, rows, read).await?;
        txn.commit().await.map_err(db_err)?;
        self.stats.wrote(&self.db, u64::try_from(stored.len()).unwrap_or(u64::MAX));
        Ok(stored)
    }

    async fn get_raw(
        &self,
        org: OrganizationSid,
        kind: ResourceKind,
        id: &str,
        read: ReadOptions,
    ) -> Result<Option<RawStored>> {
        if kind == ResourceKind::User
            && read.groups
            && let Some(raw) = self.user_with_groups(org, id).await?
        {
            return Ok(raw);
        }
        let Some(row) = self.row_of(&self.db, org, kind, id, Some(false), false).await? else {
            return Ok(None);
        };
        let mut raw = raw_row(&row)?;
        if Self::reads_refs(kind, read) {
            let mut omitted = HashSet::new();
            let items = std::iter::once((kind, id));
            let mut refs = self.refs(&self.db, org, items, read, &mut omitted).await?;
            if !omitted.contains(id) {
                raw.refs = Some(refs.remove(id).unwrap_or_default());
            }
        }
        Ok(Some(raw))
    }

    async fn modify(
        &self,
        org: OrganizationSid,
        kind: ResourceKind,
        id: &str,
        expected_version: Option<u64>,
        read: ReadOptions,
        modifier: Modifier,
    ) -> Result<Stored> {
        let txn = self.begin().await?;
        let row = self
            .row(&txn, org, kind, id, Some(false), true)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("{} '{id}'", kind.name())))?;
        if let Some(v) = expected_version
            && v != row.version
        {
            return Err(StoreError::PreconditionFailed { current: row.version });
        }
        let current = self.one_stored(&txn, org, row.clone(), read).await?;
        let Change { resource, members, password_hash, changed } = modifier(current.clone())?;
        if !changed {
            txn.commit().await.map_err(db_err)?;
            return Ok(current);
        }
        let doc = sanitize(kind, resource.into_map());
        let cols = cols(kind, &doc)?;
        let old_cols = cols_lenient(kind, &row.doc);
        // Only a key this write changes can newly collide (the unique indexes stay the
        // last word either way).
        let (name_same, ext_same) = match &old_cols {
            Some(o) => (o.name_key == cols.name_key, o.external_id == cols.external_id),
            None => (false, false),
        };
        if !(name_same && ext_same) {
            self.check_unique(&txn, org, kind, &cols, Some(id)).await?;
        }
        let at = now();
        let version = row.version + 1;
        let mut up = Q::update();
        up.table(T).values([
            ("doc", self.doc_value(&doc)?),
            ("display", Expr::val(cols.display.clone())),
            ("active", Expr::val(cols.active)),
            ("last_modified", Expr::val(at.clone())),
            ("version", Expr::val(i64::try_from(version).unwrap_or(i64::MAX))),
        ]);
        // An indexed column is set only when its value changes: SQLite rewrites the
        // entries of every index on a column an UPDATE sets, changed or not.
        if !name_same {
            up.value("name_key", Expr::val(cols.name_key.clone()));
        }
        if !ext_same {
            up.value("external_id", Expr::val(cols.external_id.clone()));
        }
        if old_cols.as_ref().map(|c| &c.display_name_lower) != Some(&cols.display_name_lower) {
            up.value("display_name_lower", Expr::val(cols.display_name_lower.clone()));
        }
        up.and_where(col("id").eq(id))
            .and_where(self.org_beside_ids(org)?)
            .and_where(col("version").eq(i64::try_from(row.version).unwrap_or(i64::MAX)));
        if let Some(p) = password_hash {
            up.value("password_hash", Expr::val(p));
        }
        let done = txn.execute(&up).await.map_err(|e| self.write_err(e, kind, Some(&cols)))?;
        if done.rows_affected() != 1 {
            return Err(StoreError::PreconditionFailed { current: row.version });
        }
        if old_cols.as_ref().map(|c| &c.emails) != Some(&cols.emails) {
            self.write_emails(&txn, org, id, &cols.emails, true).await?;
        }
        let mut added = 0u64;
        if kind == ResourceKind::Group && !members.is_empty() {
            for m in &members {
                if let MemberChange::Add(rows) = m {
                    added += u64::try_from(rows.len()).unwrap_or(u64::MAX);
                }
            }
            self.apply_members(&txn, org, id, members).await?;
        }
        self.log(&txn, org, kind, id, ChangeOp::Update, version, &at).await?;
        // The row as written (the update matched it by id and version): no read back.
        let row = Row { doc, version, last_modified: at, deleted: false, ..row };
        let stored = self.one_stored(&txn, org, row, read).await?;
        txn.commit().await.map_err(db_err)?;
        self.stats.wrote(&self.db, added);
        Ok(stored)
    }

    async fn delete(
        &self,
        org: OrganizationSid,
        kind: ResourceKind,
        id: &str,
        expected_version: Option<u64>,
        soft: bool,
    ) -> Result<()> {
        let txn = self.begin().await?;
        let row = self
            .row(&txn, org, kind, id, Some(false), true)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("{} '{id}'", kind.name())))?;
        if let Some(v) = expected_version
            && v != row.version
        {
            return Err(StoreError::PreconditionFailed { current: row.version });
        }
        let at = now();
        let version = row.version + 1;
        self.touch_groups_of(&txn, org, id, &at).await?;
        if soft {
            let mut doc = row.doc;
            let mut up = Q::update();
            if kind == ResourceKind::User {
                doc.insert("active".into(), Value::Bool(false));
                up.value("active", Expr::val(false));
            }
            // RFC 7644 3.6: a deleted resource is not in conflict with a new one, so its
            // unique keys give way (the document keeps them for a restore).
            up.table(T)
                .values([
                    ("doc", self.doc_value(&doc)?),
                    ("name_key", Expr::val(tombstone(id))),
                    ("external_id", Expr::val(Option::<String>::None)),
                    ("deleted", Expr::val(true)),
                    ("last_modified", Expr::val(at.clone())),
                    ("version", Expr::val(i64::try_from(version).unwrap_or(i64::MAX))),
                ])
                .and_where(col("id").eq(id))
                .and_where(self.org_beside_ids(org)?);
            txn.execute(&up).await.map_err(db_err)?;
        } else {
            // Memberships both ways: the resource out of its groups, and its own members
            // (two statements, so each uses its index rather than an OR over both).
            for end in ["member_id", "group_id"] {
                let mut q = Q::delete();
                q.from_table("memberships")
                    .and_where(Expr::col("org").eq(org.to_string()))
                    .and_where(Expr::col(end).eq(id));
                txn.execute(&q).await.map_err(db_err)?;
            }
            let mut q = Q::delete();
            q.from_table("resource_emails").and_where(Expr::col("resource_id").eq(id));
            txn.execute(&q).await.map_err(db_err)?;
            let mut q = Q::delete();
            q.from_table(T).and_where(Expr::col("id").eq(id)).and_where(self.org_beside_ids(org)?);
            txn.execute(&q).await.map_err(db_err)?;
        }
        self.log(&txn, org, kind, id, ChangeOp::Delete, version, &at).await?;
        txn.commit().await.map_err(db_err)?;
        Ok(())
    }

    async fn restore(&self, org: OrganizationSid, kind: ResourceKind, id: &str) -> Result<Stored> {
        let txn = self.begin().await?;
        let row = self
            .row(&txn, org, kind, id, Some(true), true)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("deleted {} '{id}'", kind.name())))?;
        let at = now();
        let version = row.version + 1;
        // The keys come back from the document, unless a live resource took them meanwhile.
        let keys = cols(kind, &row.doc)?;
        self.check_unique(&txn, org, kind, &keys, Some(id)).await?;
        let mut up = Q::update();
        up.table(T)
            .values([
                ("name_key", Expr::val(keys.name_key.clone())),
                ("external_id", Expr::val(keys.external_id.clone())),
                ("deleted", Expr::val(false)),
                ("last_modified", Expr::val(at.clone())),
                ("version", Expr::val(i64::try_from(version).unwrap_or(i64::MAX))),
            ])
            .and_where(col("id").eq(id))
            .and_where(self.org_beside_ids(org)?);
        txn.execute(&up).await.map_err(|e| self.write_err(e, kind, Some(&keys)))?;
        self.touch_groups_of(&txn, org, id, &at).await?;
        self.log(&txn, org, kind, id, ChangeOp::Restore, version, &at).await?;
        let row = self
            .row(&txn, org, kind, id, Some(false), false)
            .await?
            .ok_or_else(|| StoreError::Internal("restored row not found".into()))?;
        let stored = self.one_stored(&txn, org, row, ReadOptions::ALL).await?;
        txn.commit().await.map_err(db_err)?;
        Ok(stored)
    }

    async fn query_raw(
        &self,
        org: OrganizationSid,
        kind: ResourceKind,
        query: &Query,
    ) -> Result<RawPage> {
        let tr = Translator { d: self.d, reg: &self.registry, kind };
        let cond = match &query.filter {
            Some(f) => {
                f.validate(&self.registry, kind)?;
                Some(tr.filter(f)?)
            }
            None => None,
        };
        let sk = match &query.sort_by {
            Some(p) => tr.sort_key(p)?,
            None => SortKey { expr: col("created"), kind: KeyKind::Text, nullable: false },
        };
        // A query that may visit many rows (see `Db::scan_all`): a filter no selective
        // index serves, or an explicit sort (only the default order is one index walk).
        // A COUNT visits every match: it is long unless the filter is selective.
        let selective = query.filter.as_ref().is_some_and(|f| tr.selective(f));
        let long = !selective && (query.filter.is_some() || query.sort_by.is_some());
        let long_count = !selective;
        let desc = query.sort_by.is_some() && query.sort_order == SortOrder::Descending;
        let dir = if desc { Order::Desc } else { Order::Asc };

        let mut q = self.select_rows()?;
        q.expr_as(sk.expr.clone(), Alias::new("sk"));
        // Users' groups in the same statement (one read instead of two), unless the query
        // may sort many rows: a sort would compute the column for every match, not only
        // for the page.
        let groups_inline = kind == ResourceKind::User && query.read.groups && !long;
        let groups_inline = groups_inline
            && match self.groups_column(org)? {
                Some(col) => {
                    q.expr_as(col, Alias::new("refs"));
                    true
                }
                None => false,
            };
        self.base_where(&mut q, org, kind);
        if let Some(c) = &cond {
            q.and_where(c.clone());
        }
        if sk.nullable {
            q.order_by_expr(sk.expr.clone().is_null(), Order::Asc);
        }
        q.order_by_expr(sk.expr.clone(), dir.clone()).order_by((T, "id"), dir);

        let (rows, total, next) = match &query.pagination {
            Pagination::Index { start_index, count } => {
                if *count == 0 {
                    let total = self.count(org, kind, cond.as_ref(), long_count).await?;
                    return Ok(RawPage {
                        resources: Vec::new(),
                        total_results: total,
                        next_cursor: None,
                    });
                }
                let offset = start_index.saturating_sub(1);
                q.offset(offset).limit(*count);
                let rows = self.db.scan_all(&q, long || offset > DEEP).await.map_err(db_err)?;
                let got = u64::try_from(rows.len()).unwrap_or(u64::MAX);
                // A short page that starts inside the results ends them: the total is
                // known without a COUNT (the common `userName eq` lookup is one query).
                let total = if got < *count && (got > 0 || offset == 0) {
                    offset.saturating_add(got)
                } else {
                    self.count(org, kind, cond.as_ref(), long_count).await?
                };
                (rows, total, None)
            }
            Pagination::Cursor { cursor, count } => {
                let secret = self.secret("cursor").await?;
                let binding = cursor::query_hash(&format!(
                    "{:?}|{:?}|{:?}",
                    query.filter,
                    query.sort_by.as_ref().map(|p| p.to_string().to_lowercase()),
                    desc
                ));
                let now_s = time::OffsetDateTime::now_utc().unix_timestamp();
                let (total, after) = match cursor {
                    // Counted below, after the first page (a short one needs no COUNT).
                    None => (None, None),
                    Some(c) => {
                        let st = cursor::decode(
                            &secret,
                            c,
                            &org.to_string(),
                            kind.name(),
                            &binding,
                            now_s,
                        )?;
                        (Some(st.t), Some((st.s, st.i)))
                    }
                };
                if *count == 0 {
                    let total = match total {
                        Some(t) => t,
                        None => self.count(org, kind, cond.as_ref(), long_count).await?,
                    };
                    return Ok(RawPage {
                        resources: Vec::new(),
                        total_results: total,
                        next_cursor: None,
                    });
                }
                if let Some((key, id)) = &after {
                    q.and_where(keyset(&sk, desc, key, id));
                }
                q.limit(count.saturating_add(1));
                let mut rows = self.db.scan_all(&q, long).await.map_err(db_err)?;
                let more = u64::try_from(rows.len()).unwrap_or(u64::MAX) > *count;
                rows.truncate(usize::try_from(*count).unwrap_or(usize::MAX));
                // The first page counts once (later pages carry the total in the cursor);
                // a first page that is also the last is its own total.
                let total = match total {
                    Some(t) => t,
                    None if !more => u64::try_from(rows.len()).unwrap_or(u64::MAX),
                    None => self.count(org, kind, cond.as_ref(), long_count).await?,
                };
                let next = match (more, rows.last()) {
                    (true, Some(last)) => {
                        let ttl = i64::try_from(self.opts.cursor_ttl.as_secs()).unwrap_or(600);
                        let st = cursor::CursorState {
                            o: org.to_string(),
                            k: kind.name().into(),
                            q: binding,
                            s: read_key(sk.kind, last)?,
                            i: get(last, "id")?,
                            t: total,
                            e: now_s.saturating_add(ttl),
                        };
                        Some(cursor::encode(&secret, &st)?)
                    }
                    _ => None,
                };
                (rows, total, next)
            }
        };
        let resources = if groups_inline {
            rows.iter().map(raw_row_with_groups).collect::<Result<Vec<_>>>()?
        } else {
            let rows = rows.iter().map(raw_row).collect::<Result<Vec<_>>>()?;
            self.raw_stored(&self.db, org, rows, query.read).await?
        };
        Ok(RawPage { resources, total_results: total, next_cursor: next })
    }

    async fn deactivate_users(&self, org: OrganizationSid, ids: &[String]) -> Result<Vec<Stored>> {
        let mut seen = HashSet::new();
        let ids: Vec<&String> = ids.iter().filter(|i| seen.insert(i.as_str())).collect();
        let txn = self.begin().await?;
        let mut rows: HashMap<String, Row> = HashMap::new();
        for chunk in ids.chunks(CHUNK) {
            let mut q = self.select_rows()?;
            q.and_where(self.org_beside_ids(org)?)
                .and_where(col("kind").eq(ResourceKind::User.name()))
                .and_where(col("deleted").eq(false))
                .and_where(col("id").is_in(chunk.iter().map(|s| s.to_string())));
            self.lock(&mut q);
            for r in txn.query_all(&q).await.map_err(db_err)? {
                let row = Row::from(&r)?;
                rows.insert(row.id.clone(), row);
            }
        }
        let unknown: Vec<String> =
            ids.iter().filter(|i| !rows.contains_key(i.as_str())).map(|s| s.to_string()).collect();
        if !unknown.is_empty() {
            return Err(StoreError::UnknownIds(unknown));
        }
        let at = now();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let Some(mut row) = rows.remove(id.as_str()) else { continue };
            if get_ci(&row.doc, "active").and_then(Value::as_bool) != Some(false) {
                row.doc.retain(|k, _| !k.eq_ignore_ascii_case("active"));
                row.doc.insert("active".into(), Value::Bool(false));
                row.version += 1;
                row.last_modified = at.clone();
                let mut up = Q::update();
                up.table(T)
                    .values([
                        ("doc", self.doc_value(&row.doc)?),
                        ("active", Expr::val(false)),
                        ("last_modified", Expr::val(at.clone())),
                        ("version", Expr::val(i64::try_from(row.version).unwrap_or(i64::MAX))),
                    ])
                    .and_where(col("id").eq(id.as_str()))
                    .and_where(col("org").eq(org.to_string()));
                txn.execute(&up).await.map_err(db_err)?;
                self.log(&txn, org, ResourceKind::User, id, ChangeOp::Update, row.version, &at)
                    .await?;
            }
            out.push(row.into_stored(None));
        }
        txn.commit().await.map_err(db_err)?;
        Ok(out)
    }

    async fn idempotency_begin(
        &self,
        org: OrganizationSid,
        key: &str,
        fingerprint: &[u8; 32],
    ) -> Result<IdempotencyBegin> {
        let fp = hex::encode(fingerprint);
        for _ in 0..3 {
            let t = time::OffsetDateTime::now_utc();
            let mut q = Q::select();
            q.columns(["fingerprint", "state", "status", "headers", "body", "created"])
                .from("idempotency")
                .and_where(Expr::col("org").eq(org.to_string()))
                .and_where(Expr::col("idem_key").eq(key));
            if let Some(r) = self.db.query_one(&q).await.map_err(db_err)? {
                let created: String = get(&r, "created")?;
                let state: String = get(&r, "state")?;
                let expired = created < fmt_ts(t - IDEMPOTENCY_TTL)
                    || (state == "running" && created < fmt_ts(t - IN_FLIGHT_TTL));
                if !expired {
                    if get::<String>(&r, "fingerprint")? != fp {
                        return Ok(IdempotencyBegin::Mismatch);
                    }
                    if state == "running" {
                        return Ok(IdempotencyBegin::InFlight);
                    }
                    use base64::Engine;
                    let status: Option<i32> = get(&r, "status")?;
                    let headers: Vec<(String, String)> = serde_json::from_str(
                        &get::<Option<String>>(&r, "headers")?.unwrap_or_default(),
                    )
                    .unwrap_or_default();
                    let body = base64::engine::general_purpose::STANDARD
                        .decode(get::<Option<String>>(&r, "body")?.unwrap_or_default())
                        .map_err(|e| StoreError::Internal(e.to_string()))?;
                    return Ok(IdempotencyBegin::Replay(IdempotentAnswer {
                        status: status.and_then(|s| u16::try_from(s).ok()).unwrap_or(200),
                        headers,
                        body,
                    }));
                }
                let mut del = Q::delete();
                del.from_table("idempotency")
                    .and_where(Expr::col("org").eq(org.to_string()))
                    .and_where(Expr::col("idem_key").eq(key))
                    .and_where(Expr::col("created").eq(created));
                self.db.execute(&del).await.map_err(db_err)?;
            }
            let mut ins = Q::insert();
            ins.into_table("idempotency")
                .columns(["org", "idem_key", "fingerprint", "state", "created"])
                .values([
                    Expr::val(org.to_string()),
                    Expr::val(key),
                    Expr::val(fp.clone()),
                    Expr::val("running"),
                    Expr::val(fmt_ts(t)),
                ])
                .map_err(|e| StoreError::Internal(e.to_string()))?;
            match self.db.execute(&ins).await {
                Ok(_) => return Ok(IdempotencyBegin::Claimed),
                // A concurrent duplicate claimed it first: look again.
                Err(e) if is_unique(&e) => continue,
                Err(e) => return Err(db_err(e)),
            }
        }
        Ok(IdempotencyBegin::InFlight)
    }

    async fn idempotency_complete(
        &self,
        org: OrganizationSid,
        key: &str,
        answer: IdempotentAnswer,
    ) -> Result<()> {
        use base64::Engine;
        let mut up = Q::update();
        up.table("idempotency")
            .values([
                ("state", Expr::val("done")),
                ("status", Expr::val(i32::from(answer.status))),
                (
                    "headers",
                    Expr::val(
                        serde_json::to_string(&answer.headers).unwrap_or_else(|_| "[]".into()),
                    ),
                ),
                ("body", Expr::val(base64::engine::general_purpose::STANDARD.encode(&answer.body))),
            ])
            .and_where(Expr::col("org").eq(org.to_string()))
            .and_where(Expr::col("idem_key").eq(key));
        self.db.execute(&up).await.map_err(db_err)?;
        Ok(())
    }

    async fn idempotency_abort(&self, org: OrganizationSid, key: &str) -> Result<()> {
        let mut del = Q::delete();
        del.from_table("idempotency")
            .and_where(Expr::col("org").eq(org.to_string()))
            .and_where(Expr::col("idem_key").eq(key))
            .and_where(Expr::col("state").eq("running"));
        self.db.execute(&del).await.map_err(db_err)?;
        Ok(())
    }

    async fn prune(&self, retention: &Retention) -> Result<Pruned> {
        self.prune_batch(retention).await
    }

    async fn changes(
        &self,
        org: OrganizationSid,
        after: u64,
        limit: u64,
    ) -> Result<Vec<ChangeRecord>> {
        let mut q = Q::select();
        q.columns(["seq", "kind", "id", "op", "version", "at"])
            .from("change_log")
            .and_where(Expr::col("org").eq(org.to_string()))
            .and_where(Expr::col("seq").gt(i64::try_from(after).unwrap_or(i64::MAX)))
            .order_by("seq", Order::Asc)
            .limit(limit);
        self.db
            .query_all(&q)
            .await
            .map_err(db_err)?
            .iter()
            .map(|r| {
                let op = match get::<String>(r, "op")?.as_str() {
                    "create" => ChangeOp::Create,
                    "update" => ChangeOp::Update,
                    "delete" => ChangeOp::Delete,
                    _ => ChangeOp::Restore,
                };
                Ok(ChangeRecord {
                    seq: u64::try_from(get::<i64>(r, "seq")?).unwrap_or_default(),
                    kind: kind_of(&get::<String>(r, "kind")?)?,
                    id: get(r, "id")?,
                    op,
                    version: u64::try_from(get::<i64>(r, "version")?).unwrap_or_default(),
                    at: get(r, "at")?,
                })
            })
            .collect()
    }
}

/// Columns of a stored document, tolerating documents that no longer validate.
fn cols_lenient(kind: ResourceKind, doc: &Map<String, Value>) -> Option<Cols> {
    cols(kind, doc).ok()
}

fn org_from(r: &DbRow) -> Result<Organization> {
    let names: Vec<String> =
        serde_json::from_str(&get::<String>(r, "policies")?).unwrap_or_default();
    Ok(Organization {
        sid: parse_org(&get::<String>(r, "sid")?)?,
        name: get(r, "name")?,
        policies: names.iter().filter_map(|n| n.parse::<Policy>().ok()).collect(),
        created: get(r, "created")?,
    })
}

/// What `org` holds, counted inside `txn`.
async fn org_contents(txn: &Txn, org: OrganizationSid) -> Result<OrgContents> {
    let sid = org.to_string();
    let count = |q: SelectStatement| async move {
        let r = txn.query_one(&q).await.map_err(db_err)?;
        let n: i64 = match r {
            Some(r) => get(&r, "n")?,
            None => 0,
        };
        Ok::<u64, StoreError>(u64::try_from(n).unwrap_or(0))
    };
    let mut c = OrgContents::default();
    for (kind, slot) in [(ResourceKind::User, &mut c.users), (ResourceKind::Group, &mut c.groups)] {
        let mut q = Q::select();
        q.expr_as(Expr::cust("COUNT(*)"), Alias::new("n"))
            .from("resources")
            .and_where(Expr::col("org").eq(sid.clone()))
            .and_where(Expr::col("kind").eq(kind.name()));
        *slot = count(q).await?;
    }
    let mut q = Q::select();
    q.expr_as(Expr::cust("COUNT(*)"), Alias::new("n"))
        .from("tokens")
        .and_where(Expr::col("org").eq(sid.clone()))
        .and_where(Expr::col("revoked").eq(false));
    c.tokens = count(q).await?;
    let mut q = Q::select();
    q.expr_as(Expr::cust("COUNT(*)"), Alias::new("n"))
        .from("client_orgs")
        .inner_join(
            "clients",
            Expr::col(("clients", "client_id")).equals(("client_orgs", "client_id")),
        )
        .and_where(Expr::col(("client_orgs", "org")).eq(sid))
        .and_where(Expr::col(("clients", "revoked")).eq(false));
    c.clients = count(q).await?;
    Ok(c)
}

/// The columns [`token_from`] reads.
const TOKEN_COLUMNS: [&str; 7] = ["id", "org", "name", "scopes", "created", "expires", "last_used"];

fn token_from(r: &DbRow) -> Result<TokenRecord> {
    Ok(TokenRecord {
        id: get(r, "id")?,
        org: parse_org(&get::<String>(r, "org")?)?,
        name: get(r, "name")?,
        scopes: parse_scopes(&get::<String>(r, "scopes")?),
        created: get(r, "created")?,
        expires: get(r, "expires")?,
        last_used: get(r, "last_used")?,
    })
}

#[cfg(all(test, feature = "sqlite"))]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    /// Server databases to check too: a fresh database on each server whose feature is on
    /// and that `SCIM_TEST_BACKENDS` (as in the trait suite) does not leave out.
    async fn server_urls(tag: &str) -> Vec<(String, String, String)> {
        use sea_orm::ConnectionTrait as _;
        let wanted = |name: &str| {
            std::env::var("SCIM_TEST_BACKENDS")
                .map_or(true, |s| s.trim().is_empty() || s.contains("all") || s.contains(name))
        };
        let mut servers = Vec::new();
        if cfg!(feature = "postgres") && wanted("postgres") {
            servers.push("postgres://postgres@127.0.0.1:5432");
        }
        if cfg!(feature = "mysql") && wanted("mysql") {
            servers.push("mysql://root@127.0.0.1:3306");
        }
        let mut out = Vec::new();
        for base in servers {
            let admin = if base.starts_with("postgres") {
                format!("{base}/postgres")
            } else {
                base.to_owned()
            };
            let db = format!("scim_shapes_{tag}_{}", std::process::id());
            let conn = Database::connect(&admin).await.unwrap();
            conn.execute_unprepared(&format!("CREATE DATABASE {db}")).await.unwrap();
            conn.close().await.unwrap();
            out.push((format!("{base}/{db}"), admin, db));
        }
        out
    }

    /// The hot statements' values are listed in the builder's order, so their SQL is
    /// built once: on an SQLite file (inline), in-memory SQLite (sqlx), and PostgreSQL and
    /// MariaDB, whose `WHERE` clauses differ.
    #[tokio::test]
    async fn hot_statements_are_built_once() {
        use sea_orm::ConnectionTrait as _;
        let path =
            std::env::temp_dir().join(format!("scim-store-shapes-{}.db", std::process::id()));
        let servers = server_urls("hot").await;
        let mut urls =
            vec![format!("sqlite://{}?mode=rwc", path.display()), "sqlite::memory:".to_owned()];
        urls.extend(servers.iter().map(|(u, _, _)| u.clone()));
        for url in urls {
            let store = SqlStore::connect_with(
                &url,
                Arc::new(Registry::builtin()),
                StoreOptions::default(),
            )
            .await
            .unwrap();
            store.migrate().await.unwrap();
            let org = store.create_organization("shapes", &[]).await.unwrap().sid;
            let user = scim_core::resource::Resource::from_value(serde_json::json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": "shape@example.com"
            }))
            .unwrap();
            let nr = NewResource { resource: user, members: Vec::new(), password_hash: None };
            let made = store.create(org, ResourceKind::User, nr).await.unwrap();
            for _ in 0..2 {
                let got = store
                    .get(
                        org,
                        ResourceKind::User,
                        &made.id,
                        ReadOptions { groups: true, ..ReadOptions::default() },
                    )
                    .await
                    .unwrap()
                    .unwrap();
                assert_eq!(got.id, made.id);
            }
            if url.starts_with("mysql") {
                assert!(store.shapes.has(Shape::Row { deleted: Some(false), lock: false }));
                assert!(store.shapes.has(Shape::GroupsOfOne), "{url}");
            } else {
                assert!(store.shapes.has(Shape::UserWithGroups), "{url}");
            }
            // The row shape of a read without groups, and the groups of one user as a
            // write reads them back.
            store.get(org, ResourceKind::User, &made.id, ReadOptions::default()).await.unwrap();
            store.get(org, ResourceKind::User, &made.id, ReadOptions::default()).await.unwrap();
            assert!(store.shapes.has(Shape::Row { deleted: Some(false), lock: false }), "{url}");
        }
        for ext in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{ext}", path.display()));
        }
        for (_, admin, db) in servers {
            let conn = Database::connect(&admin).await.unwrap();
            let force = if admin.starts_with("postgres") { " WITH (FORCE)" } else { "" };
            conn.execute_unprepared(&format!("DROP DATABASE IF EXISTS {db}{force}")).await.unwrap();
            conn.close().await.unwrap();
        }
    }
}
