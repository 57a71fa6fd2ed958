//! Fresh planner statistics as the store grows, where the backend's planner needs them
//! (see [`Stats::wrote`]), and new rows' pages settled after a burst of inserts (see
//! [`Stats::settle`]).

use super::backend::Backend;
use super::conn::Db;
use std::sync::Arc;

/// Keeps the planner's statistics fresh as the store grows (see [`Stats::wrote`]) and
/// settles new rows' pages after a burst of inserts (see [`Stats::settle`]).
#[derive(Debug, Default)]
pub(super) struct Stats {
    /// Rows inserted since the last `ANALYZE` (resources and memberships).
    pending: std::sync::atomic::AtomicU64,
    /// Rows inserted up to the last `ANALYZE`: growth is measured against it.
    baseline: std::sync::atomic::AtomicU64,
    /// An `ANALYZE` is running.
    running: std::sync::atomic::AtomicBool,
    /// Whether the database's own vacuuming is off (asked once).
    autovacuum_off: tokio::sync::OnceCell<bool>,
    /// When this store last vacuumed.
    vacuumed: std::sync::Mutex<Option<std::time::Instant>>,
    /// Rows inserted since the last vacuum after a burst (see [`Stats::settle`]).
    burst: std::sync::atomic::AtomicU64,
    /// When the last row was inserted.
    last_insert: std::sync::Mutex<Option<std::time::Instant>>,
    /// A task waits for the burst to end, or vacuums.
    settling: std::sync::atomic::AtomicBool,
}

/// Rows inserted in a burst before its end is followed by a vacuum ([`Stats::settle`]).
const SETTLE_AFTER: u64 = 1_000;

/// How long without an insert ends a burst.
const BURST_QUIET: std::time::Duration = std::time::Duration::from_secs(2);

/// The least time between two vacuums of the store's own ([`Stats::maintain`]).
const VACUUM_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// Rows inserted before the first `ANALYZE`.
pub(super) const ANALYZE_FIRST: u64 = 500;

impl Stats {
    /// Counts `rows` new rows; once they reach a tenth of what was there at the last
    /// `ANALYZE` (at least [`ANALYZE_FIRST`]), refreshes the statistics of the tables that
    /// grow, in the background, with the backend's [`Backend::refresh_statistics`]
    /// (PostgreSQL's `ANALYZE`: its autovacuum's own trigger is the same 10% growth, so
    /// with autovacuum on this only runs earlier). The rows count towards the current
    /// burst of inserts too ([`Stats::settle`]).
    pub(super) fn wrote(self: &Arc<Self>, backend: &dyn Backend, db: &Db, rows: u64) {
        use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed};
        let Some(sql) = backend.refresh_statistics() else { return };
        let Db::Sea(conn) = db else { return };
        let conn = &conn.conn;
        if rows == 0 {
            return;
        }
        self.settle(backend, conn, rows);
        let pending = self.pending.fetch_add(rows, AcqRel) + rows;
        let due = std::cmp::Ord::max(self.baseline.load(Relaxed) / 10, ANALYZE_FIRST);
        if pending < due || self.running.swap(true, AcqRel) {
            return;
        }
        let (me, conn) = (Arc::clone(self), conn.clone());
        tokio::spawn(async move {
            let counted = me.pending.swap(0, Acquire);
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

impl Stats {
    /// Counts `rows` inserted rows into the current burst of inserts. Once a burst holds
    /// [`SETTLE_AFTER`] rows, a task waits for it to end ([`BURST_QUIET`] without an
    /// insert) and then runs the backend's [`Backend::settle_new_rows`] (PostgreSQL's
    /// `VACUUM` of the tables that grow, which reads only the pages not yet all-visible).
    /// A vacuum at every tenth of growth instead slowed a bulk load of 100,000 users by
    /// 28% (it competes with the inserts); one after the load leaves the load as it was.
    fn settle(
        self: &Arc<Self>,
        backend: &dyn Backend,
        conn: &sea_orm::DatabaseConnection,
        rows: u64,
    ) {
        use std::sync::atomic::Ordering::{AcqRel, Release};
        let Some(sql) = backend.settle_new_rows() else { return };
        if let Ok(mut last) = self.last_insert.lock() {
            *last = Some(std::time::Instant::now());
        }
        let burst = self.burst.fetch_add(rows, AcqRel) + rows;
        if burst < SETTLE_AFTER || self.settling.swap(true, AcqRel) {
            return;
        }
        let (me, conn) = (Arc::clone(self), conn.clone());
        tokio::spawn(async move {
            loop {
                let since = me.last_insert.lock().ok().and_then(|l| *l).map(|t| t.elapsed());
                match since {
                    Some(since) if since < BURST_QUIET => {
                        tokio::time::sleep(BURST_QUIET.saturating_sub(since)).await;
                    }
                    _ => break,
                }
            }
            // Rows inserted from here on count towards the next burst.
            me.burst.store(0, Release);
            // An optimisation: after a failure the next burst's vacuum covers these rows'
            // pages too (it reads every page not yet all-visible), as does autovacuum.
            if let Err(e) = sea_orm::ConnectionTrait::execute_unprepared(&conn, sql).await {
                tracing::warn!(error = %e, "vacuuming newly inserted rows failed");
            }
            me.settling.store(false, Release);
        });
    }

    /// Reclaims the space of deleted and updated rows when the database does not: on
    /// PostgreSQL with `autovacuum` off, a `VACUUM (ANALYZE)` of the tables that churn, at
    /// most every [`VACUUM_EVERY`] (called with the retention work, off the request path).
    /// Without it a directory under constant churn grows without end there (every update
    /// and delete leaves a dead row version behind). With autovacuum on it does nothing.
    pub(super) async fn maintain(&self, backend: &dyn Backend, db: &Db) {
        let Some(sql) = backend.vacuum() else { return };
        #[allow(irrefutable_let_patterns)] // without the sqlite feature
        let Db::Sea(conn) = db else { return };
        let conn = &conn.conn;
        {
            let Ok(mut last) = self.vacuumed.lock() else { return };
            if last.is_some_and(|t| t.elapsed() < VACUUM_EVERY) {
                return;
            }
            *last = Some(std::time::Instant::now());
        }
        let off = self
            .autovacuum_off
            .get_or_init(|| async {
                let stmt = sea_orm::Statement::from_string(
                    backend.sea(),
                    "SELECT current_setting('autovacuum') AS v",
                );
                let v = match sea_orm::ConnectionTrait::query_one_raw(conn, stmt).await {
                    Ok(Some(r)) => r.try_get::<String>("", "v").unwrap_or_default(),
                    _ => String::new(),
                };
                let off = v == "off";
                if off {
                    tracing::warn!(
                        "PostgreSQL's autovacuum is off: the server vacuums its own tables \
                         with the retention work (turn autovacuum on in production)"
                    );
                }
                off
            })
            .await;
        if !*off {
            return;
        }
        if let Err(e) = sea_orm::ConnectionTrait::execute_unprepared(conn, sql).await {
            tracing::warn!(error = %e, "vacuuming the store's tables failed");
        }
    }
}
