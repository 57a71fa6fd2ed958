//! Fresh planner statistics as the store grows, where the backend's planner needs them
//! (see [`Stats::wrote`]).

use super::backend::Backend;
use super::conn::Db;
use std::sync::Arc;

/// Keeps the planner's statistics fresh as the store grows (see [`Stats::wrote`]).
#[derive(Debug, Default)]
pub(super) struct Stats {
    /// Rows inserted since the last `ANALYZE` (resources and memberships).
    pending: std::sync::atomic::AtomicU64,
    /// Rows inserted up to the last `ANALYZE`: growth is measured against it.
    baseline: std::sync::atomic::AtomicU64,
    /// An `ANALYZE` is running.
    running: std::sync::atomic::AtomicBool,
}

/// Rows inserted before the first `ANALYZE`.
pub(super) const ANALYZE_FIRST: u64 = 500;

impl Stats {
    /// Counts `rows` new rows; once they reach a tenth of what was there at the last
    /// `ANALYZE` (at least [`ANALYZE_FIRST`]), refreshes the statistics of the tables that
    /// grow, in the background, with the backend's [`Backend::refresh_statistics`]
    /// (PostgreSQL's `ANALYZE`: its autovacuum's own trigger is the same 10% growth, so
    /// with autovacuum on this only runs earlier).
    pub(super) fn wrote(self: &Arc<Self>, backend: &dyn Backend, db: &Db, rows: u64) {
        use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed};
        let Some(sql) = backend.refresh_statistics() else { return };
        let Db::Sea(conn) = db else { return };
        let conn = &conn.conn;
        if rows == 0 {
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
