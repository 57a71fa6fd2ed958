//! Bounded growth: the change log and the idempotency records are pruned by age and count,
//! and soft-deleted resources purged after their retention, a batch at a time, so that a
//! directory under constant churn does not grow without end.
//!
//! Every statement deletes at most one batch of rows found through an index (`seq`, the
//! change log's primary key, which grows in commit order; `idempotency(created)`;
//! `resources(deleted_at)`), so one call is cheap, holds no lock for long, and
//! never scans a table. The server calls it in
//! the background; replicas may all do so (deleting what is gone is a no-op). On PostgreSQL
//! with autovacuum off it also vacuums the tables that churn (`Stats::maintain`).

use super::conn::Exec;
use super::conn::get;
use super::filter::T;
use super::idempotency::IDEMPOTENCY_TTL;
use super::outcome::db_err;
use super::store::SqlStore;
use super::values::fmt_ts;
use crate::{Pruned, Result, Retention};
use sea_orm::sea_query::{Expr, ExprTrait, Order, Query as Q};

impl SqlStore {
    /// [`crate::Store::prune`].
    pub(super) async fn prune_batch(&self, r: &Retention) -> Result<Pruned> {
        let batch = r.batch.clamp(1, 10_000);
        let pruned = Pruned {
            change_log: self.prune_change_log(r, batch).await?,
            idempotency: self.prune_idempotency(r, batch).await?,
            soft_deleted: self.purge_soft_deleted(r, batch).await?,
            count_deltas: self.compact_counts(batch).await?,
        };
        // What was deleted (here and by requests) leaves dead rows behind on PostgreSQL:
        // reclaim them when its autovacuum will not.
        self.stats.maintain(self.backend, &self.db).await;
        Ok(pruned)
    }

    /// Deletes the oldest change-log rows that are older than `max_age` or beyond the
    /// newest `max_rows`, at most `batch` of them.
    async fn prune_change_log(&self, r: &Retention, batch: u64) -> Result<u64> {
        // The oldest rows, in commit order.
        let mut q = Q::select();
        q.columns(["seq", "at"]).from("change_log").order_by("seq", Order::Asc).limit(batch);
        let rows = self.db.query_all(&q).await.map_err(db_err)?;
        let Some(first) = rows.first() else { return Ok(0) };
        let first: i64 = get(first, "seq")?;
        let mut upto: Option<i64> = None;
        if let Some(age) = r.change_log_max_age {
            let cutoff = fmt_ts(time::OffsetDateTime::now_utc() - age);
            for row in &rows {
                if get::<String>(row, "at")? >= cutoff {
                    break;
                }
                upto = Some(get(row, "seq")?);
            }
        }
        if let Some(keep) = r.change_log_max_rows {
            let mut newest = Q::select();
            newest.column("seq").from("change_log").order_by("seq", Order::Desc).limit(1);
            if let Some(row) = self.db.query_one(&newest).await.map_err(db_err)? {
                let last: i64 = get(&row, "seq")?;
                let beyond = last.saturating_sub(i64::try_from(keep).unwrap_or(i64::MAX));
                let cap = first.saturating_add(i64::try_from(batch).unwrap_or(i64::MAX) - 1);
                if beyond >= first {
                    let by_count = std::cmp::min(beyond, cap);
                    upto = Some(upto.map_or(by_count, |u| std::cmp::max(u, by_count)));
                }
            }
        }
        let Some(mut upto) = upto else { return Ok(0) };
        // An active event stream still needs every row after its cursor: keep them,
        // whatever their age or count (a paused stream holds nothing back).
        if let Some(floor) = self.streams_floor().await? {
            upto = std::cmp::min(upto, floor);
            if upto < first {
                return Ok(0);
            }
        }
        let mut del = Q::delete();
        del.from_table("change_log")
            .and_where(Expr::col("seq").gte(first))
            .and_where(Expr::col("seq").lte(upto));
        Ok(self.db.execute(&del).await.map_err(db_err)?.rows_affected())
    }

    /// Deletes idempotency records older than their 24 hours (and claims abandoned long
    /// ago), at most `batch` of them.
    async fn prune_idempotency(&self, _r: &Retention, batch: u64) -> Result<u64> {
        let cutoff = fmt_ts(time::OffsetDateTime::now_utc() - IDEMPOTENCY_TTL);
        // The batch's newest `created`, through the index; then one range delete.
        let mut q = Q::select();
        q.column("created")
            .from("idempotency")
            .and_where(Expr::col("created").lt(cutoff.clone()))
            .order_by("created", Order::Asc)
            .limit(batch);
        let rows = self.db.query_all(&q).await.map_err(db_err)?;
        let Some(last) = rows.last() else { return Ok(0) };
        let last: String = get(last, "created")?;
        let mut del = Q::delete();
        del.from_table("idempotency")
            .and_where(Expr::col("created").lt(cutoff))
            .and_where(Expr::col("created").lte(last));
        Ok(self.db.execute(&del).await.map_err(db_err)?.rows_affected())
    }
}

impl SqlStore {
    /// Purges users and groups soft-deleted more than `soft_deleted_max_age` ago, at most
    /// `batch` of them, with their memberships (both ways) and email keys. The purge is not
    /// a SCIM change (the delete was logged when it happened), so it writes no change log.
    async fn purge_soft_deleted(&self, r: &Retention, batch: u64) -> Result<u64> {
        let Some(age) = r.soft_deleted_max_age else { return Ok(0) };
        let cutoff = fmt_ts(time::OffsetDateTime::now_utc() - age);
        let expired = |ids: &[String]| {
            Expr::col("id")
                .is_in(ids.iter().cloned())
                .and(Expr::col("deleted").eq(true))
                .and(Expr::col("deleted_at").lt(cutoff.clone()))
        };
        let mut q = Q::select();
        q.column("id")
            .from(T)
            .and_where(Expr::col("deleted_at").lt(cutoff.clone()))
            .and_where(Expr::col("deleted").eq(true))
            .order_by("deleted_at", Order::Asc)
            .limit(batch);
        let found = self.db.query_all(&q).await.map_err(db_err)?;
        let found = found.iter().map(|row| get::<String>(row, "id")).collect::<Result<Vec<_>>>()?;
        if found.is_empty() {
            return Ok(0);
        }
        let txn = self.begin().await?;
        // A no-op write first: it locks the rows, so a restore running now either finished
        // before (the row is live again and no longer matches) or waits and finds it gone.
        let mut lock = Q::update();
        lock.table(T).value("deleted", Expr::val(true)).and_where(expired(&found));
        txn.execute(&lock).await.map_err(db_err)?;
        let mut q = Q::select();
        q.column("id").from(T).and_where(expired(&found));
        let ids = txn.query_all(&q).await.map_err(db_err)?;
        let ids = ids.iter().map(|row| get::<String>(row, "id")).collect::<Result<Vec<_>>>()?;
        if ids.is_empty() {
            txn.commit().await.map_err(db_err)?;
            return Ok(0);
        }
        for end in ["member_id", "group_id"] {
            let mut del = Q::delete();
            del.from_table("memberships").and_where(Expr::col(end).is_in(ids.iter().cloned()));
            txn.execute(&del).await.map_err(db_err)?;
        }
        let mut del = Q::delete();
        del.from_table("resource_emails")
            .and_where(Expr::col("resource_id").is_in(ids.iter().cloned()));
        txn.execute(&del).await.map_err(db_err)?;
        let mut del = Q::delete();
        del.from_table(T).and_where(expired(&ids));
        let purged = txn.execute(&del).await.map_err(db_err)?.rows_affected();
        txn.commit().await.map_err(db_err)?;
        Ok(purged)
    }
}
