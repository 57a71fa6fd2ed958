//! Exact counts of live resources without counting rows, on PostgreSQL and MySQL.
//!
//! An unfiltered list answers `totalResults` (RFC 7644 3.4.2), and a `COUNT(*)` over an
//! organization's live users costs time in proportion to them: at 10,000 users it was most
//! of a page's database time on PostgreSQL. A single counter row per organization would
//! serialise every create of the organization on its row lock. Instead each create, delete
//! and restore inserts a delta row into `resource_counts` in its own transaction, so a
//! count is the sum of a few rows, always exact for the snapshot it reads (the deltas commit
//! or roll back with their change); [`SqlStore::compact_counts`], run with the retention
//! work off the request path, folds each organization's deltas into one row.
//!
//! SQLite does not keep deltas: one writer orders its change log, so an unfiltered count
//! is remembered until the organization's next change (see [`SqlStore::count`]).

use super::conn::{Exec, get};
use super::outcome::db_err;
use super::shapes::{Shape, Stmt};
use super::store::SqlStore;
use crate::{Result, StoreError};
use scim_core::schema::ResourceKind;
use scim_core::sid::OrganizationSid;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, InsertStatement, LockType, Order, Query as Q};

/// The values of a delta row: `org`, `kind`, `delta`.
fn count_values(org: OrganizationSid, kind: ResourceKind, delta: i64) -> [sea_orm::Value; 3] {
    [org.to_string().into(), kind.name().into(), delta.into()]
}

/// The insert of a delta row with [`count_values`].
fn count_insert(values: &[sea_orm::Value]) -> Result<InsertStatement> {
    let mut ins = Q::insert();
    ins.into_table("resource_counts")
        .columns(["org", "kind", "delta"])
        .values(values.iter().cloned().map(Expr::val))
        .map_err(|e| StoreError::Internal(e.to_string()))?;
    Ok(ins)
}

/// The compaction folds an organization's deltas of a kind once they are more than this.
const FOLD_AFTER: i64 = 16;
/// A count folds the deltas it sums once they are more than this.
const FOLD_INLINE: i64 = 256;

impl SqlStore {
    /// Whether this backend keeps `resource_counts`.
    pub(super) fn keeps_counts(&self) -> bool {
        !self.backend.sequence_in_commit_order()
    }

    /// Records that `delta` live resources of `kind` appeared (or, negative, went) in `org`,
    /// inside the caller's transaction `c`.
    pub(super) async fn count_delta<C: Exec>(
        &self,
        c: &C,
        org: OrganizationSid,
        kind: ResourceKind,
        delta: i64,
    ) -> Result<()> {
        if let Some(ins) = self.count_delta_stmt(org, kind, delta)? {
            c.execute(&ins).await.map_err(db_err)?;
        }
        Ok(())
    }

    /// The insert that records `delta` (see [`SqlStore::count_delta`]); `None` when there
    /// is nothing to record.
    pub(super) fn count_delta_row(
        &self,
        org: OrganizationSid,
        kind: ResourceKind,
        delta: i64,
    ) -> Result<Option<InsertStatement>> {
        if !self.keeps_counts() || delta == 0 {
            return Ok(None);
        }
        count_insert(&count_values(org, kind, delta)).map(Some)
    }

    /// [`SqlStore::count_delta_row`] as a statement to run, its text written once.
    pub(super) fn count_delta_stmt(
        &self,
        org: OrganizationSid,
        kind: ResourceKind,
        delta: i64,
    ) -> Result<Option<Stmt>> {
        if !self.keeps_counts() || delta == 0 {
            return Ok(None);
        }
        let values = Vec::from(count_values(org, kind, delta));
        let shapes = &self.shapes;
        shapes
            .get_from_values(self.backend.sea(), Shape::CountDelta, values, count_insert)
            .map(Some)
    }

    /// The live resources of `kind` in `org`: the sum of the deltas. When they have piled up
    /// (a burst of writes between two compactions), they are folded first, so a count
    /// never sums more than [`FOLD_INLINE`] rows for long.
    pub(super) async fn counted(&self, org: OrganizationSid, kind: ResourceKind) -> Result<u64> {
        let cast = self.backend.integer_cast();
        let mut q = Q::select();
        q.expr_as(Expr::cust(format!("CAST(COALESCE(SUM(delta), 0) AS {cast})")), Alias::new("n"))
            .expr_as(Expr::cust("COUNT(*)"), Alias::new("rows"))
            .expr_as(
                Expr::cust(format!("CAST(COALESCE(MAX(id), 0) AS {cast})")),
                Alias::new("last"),
            )
            .from("resource_counts")
            .and_where(Expr::col("org").eq(org.to_string()))
            .and_where(Expr::col("kind").eq(kind.name()));
        let Some(r) = self.db.query_one(&q).await.map_err(db_err)? else { return Ok(0) };
        let (n, rows, last): (i64, i64, i64) = (get(&r, "n")?, get(&r, "rows")?, get(&r, "last")?);
        if rows > FOLD_INLINE {
            // Best effort: the count is already known; a failed fold is retried later.
            if let Err(e) = self.fold(&org.to_string(), kind.name(), last).await {
                tracing::debug!(error = %e, "folding count deltas failed");
            }
        }
        Ok(u64::try_from(n).unwrap_or_default())
    }

    /// Folds the deltas of up to `batch` (organization, kind) pairs that hold more than a
    /// few rows into one row each; the number of rows removed.
    ///
    /// Each fold is one transaction that locks the rows it sums (`FOR UPDATE`), deletes
    /// them and inserts their sum, so readers see either the rows or the sum, and two
    /// replicas folding at once never count a row twice (the second waits, then finds the
    /// rows gone).
    pub(super) async fn compact_counts(&self, batch: u64) -> Result<u64> {
        if !self.keeps_counts() {
            return Ok(0);
        }
        let mut q = Q::select();
        q.columns(["org", "kind"])
            .expr_as(Expr::cust("MAX(id)"), Alias::new("last"))
            .from("resource_counts")
            .group_by_columns(["org", "kind"])
            .and_having(Expr::cust("COUNT(*)").gt(FOLD_AFTER))
            .limit(Ord::min(batch, 1000));
        let groups = self.db.query_all(&q).await.map_err(db_err)?;
        let mut removed = 0u64;
        for g in &groups {
            let org: String = get(g, "org")?;
            let kind: String = get(g, "kind")?;
            let last: i64 = get(g, "last")?;
            removed += self.fold(&org, &kind, last).await?;
        }
        Ok(removed)
    }

    async fn fold(&self, org: &str, kind: &str, last: i64) -> Result<u64> {
        let txn = self.begin().await?;
        let scope = || {
            Expr::col("org").eq(org).and(Expr::col("kind").eq(kind)).and(Expr::col("id").lte(last))
        };
        let mut rows = Q::select();
        rows.columns(["id", "delta"])
            .from("resource_counts")
            .and_where(scope())
            .order_by("id", Order::Asc)
            .lock(LockType::Update);
        let rows = txn.query_all(&rows).await.map_err(db_err)?;
        if rows.len() < 2 {
            txn.commit().await.map_err(db_err)?;
            return Ok(0);
        }
        let mut total = 0i64;
        for r in &rows {
            total = total.saturating_add(get::<i64>(r, "delta")?);
        }
        let mut del = Q::delete();
        del.from_table("resource_counts").cond_where(scope());
        let gone = txn.execute(&del).await.map_err(db_err)?.rows_affected();
        let mut ins = Q::insert();
        ins.into_table("resource_counts")
            .columns(["org", "kind", "delta"])
            .values([Expr::val(org), Expr::val(kind), Expr::val(total)])
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        txn.execute(&ins).await.map_err(db_err)?;
        txn.commit().await.map_err(db_err)?;
        Ok(gone.saturating_sub(1))
    }
}
