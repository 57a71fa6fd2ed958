//! PostgreSQL connections for the statements that run outside a transaction (reads, and
//! writes of one statement), kept by the store itself.
//!
//! Why not sqlx's pool: it pings every connection it takes back (`return_to_pool` sends a
//! `Sync` and waits for the answer before releasing it; no pool option turns that off), so
//! each such statement cost PostgreSQL two round trips: the statement and the ping. Here a
//! connection goes back to the free list only after a statement that completed (its rows
//! read, or an error the database sent, after which the session is ready for the next
//! statement); a statement whose connection failed, or whose future was dropped mid-way (a
//! cancelled request), drops its connection instead, so nothing half-read is ever handed
//! out again. Transactions stay on sqlx's pool.
//!
//! The rest follows that pool's settings: the same connect options (`statement_timeout`,
//! TLS mode), at most as many connections as it holds, the same wait for one (then
//! [`ConnAcquireErr::Timeout`], as sea-orm reports it; the same for a connect that takes
//! that long), and a ping before using one idle for the ping interval. Connections are used
//! last-in first-out, so under light load the ones at the bottom of the list age and are
//! closed after [`IDLE_CLOSE`]. A connect the database refuses leaves the statement to
//! sqlx's pool, whose connect errors the store already reports.

use super::conn::DbRow;
use super::outcome::{Done, ExecErr};
use sea_orm::sqlx::postgres::{PgConnectOptions, PgConnection, PgPool};
use sea_orm::sqlx::{self, ConnectOptions, Connection};
use sea_orm::{ConnAcquireErr, DbBackend, DbErr, RuntimeErr, StatementBuilder};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, SemaphorePermit};

/// How long a connection may sit unused before it is closed (sqlx's pool default).
const IDLE_CLOSE: Duration = Duration::from_secs(600);

/// The store's connections to one PostgreSQL database for statements outside a
/// transaction.
#[derive(Debug)]
pub(crate) struct Autocommit {
    options: std::sync::Arc<PgConnectOptions>,
    /// Idle connections and when each was last used, the most recent last.
    free: Mutex<Vec<(PgConnection, Instant)>>,
    /// One permit per statement running; an idle connection holds none, and one is opened
    /// only when none is idle, so no more than `max` are ever open.
    slots: Semaphore,
    max: usize,
    wait: Duration,
    ping_idle: Duration,
}

/// A connection taken for one statement; put back only by [`Taken::done`].
struct Taken<'a> {
    conn: PgConnection,
    home: &'a Autocommit,
    _slot: SemaphorePermit<'a>,
}

impl Taken<'_> {
    /// The statement completed: the connection is ready for the next one.
    fn done(self) {
        self.home.free().push((self.conn, Instant::now()));
    }

    /// The outcome of the statement run on this connection, as a store error (`as_err`:
    /// `DbErr::Query` or `DbErr::Exec`, as sea-orm reports it); the connection goes back
    /// unless the statement failed on the wire.
    fn finish<T>(
        self,
        r: Result<T, sqlx::Error>,
        as_err: fn(RuntimeErr) -> DbErr,
    ) -> Result<T, ExecErr> {
        match r {
            Ok(v) => {
                self.done();
                Ok(v)
            }
            Err(e) => {
                let statement_failed = matches!(e, sqlx::Error::Database(_));
                let e = ExecErr::Sea(as_err(RuntimeErr::SqlxError(e.into())));
                // After an error the database sent about the statement (a timeout, a
                // conflict) the session has read up to its ready-for-query message and is
                // still usable; not after one saying the session is over (a shutdown).
                if statement_failed && !e.is_unavailable() {
                    self.done();
                }
                Err(e)
            }
        }
    }
}

impl Autocommit {
    /// Connections with the settings of `pool`; `ping_idle` as its checkout ping.
    pub(crate) fn new(pool: &PgPool, ping_idle: Duration) -> Autocommit {
        let o = pool.options();
        let max = usize::try_from(o.get_max_connections()).unwrap_or(10).max(1);
        Autocommit {
            options: pool.connect_options(),
            free: Mutex::new(Vec::with_capacity(max)),
            slots: Semaphore::new(max),
            max,
            wait: o.get_acquire_timeout(),
            ping_idle,
        }
    }

    fn free(&self) -> MutexGuard<'_, Vec<(PgConnection, Instant)>> {
        self.free.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Connections open, of them idle, and the most that may be open.
    pub(crate) fn counts(&self) -> (usize, usize, usize) {
        let idle = self.free().len();
        let busy = self.max.saturating_sub(self.slots.available_permits());
        (busy + idle, idle, self.max)
    }

    /// The rows of `s` (only the first when `one`); `None` when no connection could be
    /// opened (the caller then runs it on sqlx's pool).
    pub(crate) async fn rows(
        &self,
        s: &dyn StatementBuilder,
        one: bool,
    ) -> Result<Option<Vec<DbRow>>, ExecErr> {
        let Some(mut taken) = self.take().await? else {
            return Ok(None);
        };
        let (sql, values) = built(s);
        let q = sqlx::query_with(sqlx::AssertSqlSafe(sql.as_str()), values);
        let r = if one {
            q.fetch_optional(&mut taken.conn).await.map(wrap)
        } else {
            q.fetch_all(&mut taken.conn).await.map(wrap)
        };
        taken.finish(r, DbErr::Query).map(Some)
    }

    /// Runs `s`, which returns no rows: how many it changed; `None` as for
    /// [`Autocommit::rows`].
    pub(crate) async fn execute(&self, s: &dyn StatementBuilder) -> Result<Option<Done>, ExecErr> {
        let Some(mut taken) = self.take().await? else {
            return Ok(None);
        };
        let (sql, values) = built(s);
        let r = sqlx::query_with(sqlx::AssertSqlSafe(sql.as_str()), values)
            .execute(&mut taken.conn)
            .await
            .map(|d| Done::new(d.rows_affected()));
        taken.finish(r, DbErr::Exec).map(Some)
    }

    /// A connection for one statement: an idle one (pinged first if it sat idle for the
    /// ping interval), else a new one.
    async fn take(&self) -> Result<Option<Taken<'_>>, ExecErr> {
        let slot = tokio::time::timeout(self.wait, self.slots.acquire())
            .await
            .map_err(|_| ExecErr::Sea(DbErr::ConnectionAcquire(ConnAcquireErr::Timeout)))?
            .map_err(|_| {
                ExecErr::Sea(DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed))
            })?;
        loop {
            let idle = {
                let mut free = self.free();
                // Used last-in first-out: the bottom of the list is what the load no
                // longer needs, closed once unused for long.
                if free.first().is_some_and(|(_, at)| at.elapsed() >= IDLE_CLOSE) {
                    let (old, _) = free.remove(0);
                    tokio::spawn(async move {
                        let _ = old.close().await;
                    });
                }
                free.pop()
            };
            let Some((mut conn, at)) = idle else { break };
            let alive = at.elapsed() < self.ping_idle
                || matches!(tokio::time::timeout(self.wait, conn.ping()).await, Ok(Ok(())));
            if alive {
                return Ok(Some(Taken { conn, home: self, _slot: slot }));
            }
            // Closed by the database (a restart): dropped; the next one is tried.
        }
        match tokio::time::timeout(self.wait, self.options.connect()).await {
            Ok(Ok(conn)) => Ok(Some(Taken { conn, home: self, _slot: slot })),
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "no new connection; the statement goes to the pool");
                Ok(None)
            }
            // A database that does not even refuse: the pool would wait as long again.
            Err(_) => Err(ExecErr::Sea(DbErr::ConnectionAcquire(ConnAcquireErr::Timeout))),
        }
    }
}

/// `s` as PostgreSQL's SQL text and its values, bound the way sea-orm binds them.
fn built(s: &dyn StatementBuilder) -> (String, sea_query_sqlx::SqlxValues) {
    let stmt = s.build(&DbBackend::Postgres);
    (stmt.sql, sea_query_sqlx::SqlxValues(stmt.values.unwrap_or(sea_orm::Values(Vec::new()))))
}

fn wrap(rows: impl IntoIterator<Item = sqlx::postgres::PgRow>) -> Vec<DbRow> {
    rows.into_iter().map(|r| DbRow::Sea(r.into())).collect()
}
