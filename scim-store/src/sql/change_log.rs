//! The change log: one entry per write, with the actor and request id of the request that
//! made it (see [`crate::audit`]), and the feeds read from it: changes after a sequence
//! number (event streams) and changes by resource and time (audit).

use super::conn::Exec;
use super::conn::get;
use super::outcome::db_err;
use super::store::SqlStore;
use super::values::{kind_of, now_from};
use crate::audit::{ChangeContext, truncate};
use crate::{AuditQuery, ChangeOp, ChangeRecord, Result, StoreError};
use scim_core::schema::ResourceKind;
use scim_core::sid::OrganizationSid;
use sea_orm::sea_query::{Expr, ExprTrait, Order, Query as Q, SelectStatement};

/// The columns every change-log insert writes, in order.
pub(super) const COLUMNS: [&str; 9] =
    ["org", "kind", "id", "op", "version", "at", "actor", "request_id", "method"];

/// The current change context, bounded to the columns' widths.
pub(super) fn context() -> ChangeContext {
    let c = crate::audit::current();
    ChangeContext {
        actor: c.actor.map(|a| truncate(&a, 64)),
        request_id: c.request_id.map(|r| truncate(&r, 128)),
        method: c.method.map(|m| truncate(&m, 8)),
    }
}

impl SqlStore {
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn log<C: Exec>(
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
        let ctx = context();
        let mut ins = Q::insert();
        ins.into_table("change_log")
            .columns(COLUMNS)
            .values([
                Expr::val(org.to_string()),
                Expr::val(kind.name()),
                Expr::val(id),
                Expr::val(op),
                Expr::val(i64::try_from(version).unwrap_or(i64::MAX)),
                Expr::val(at),
                Expr::val(ctx.actor),
                Expr::val(ctx.request_id),
                Expr::val(ctx.method),
            ])
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        c.execute(&ins).await.map_err(db_err)?;
        Ok(())
    }
}

fn select(org: OrganizationSid, after: u64, limit: u64) -> SelectStatement {
    let mut q = Q::select();
    q.columns(["seq", "kind", "id", "op", "version", "at", "actor", "request_id", "method"])
        .from("change_log")
        .and_where(Expr::col("org").eq(org.to_string()))
        .and_where(Expr::col("seq").gt(i64::try_from(after).unwrap_or(i64::MAX)))
        .order_by("seq", Order::Asc)
        .limit(limit.clamp(1, 10_000));
    q
}

async fn run(store: &SqlStore, q: &SelectStatement) -> Result<Vec<ChangeRecord>> {
    store
        .db
        .query_all(q)
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
                actor: get(r, "actor")?,
                request_id: get(r, "request_id")?,
                method: get(r, "method")?,
            })
        })
        .collect()
}

pub(super) async fn changes(
    store: &SqlStore,
    org: OrganizationSid,
    after: u64,
    limit: u64,
) -> Result<Vec<ChangeRecord>> {
    run(store, &select(org, after, limit)).await
}

/// Changes of `org` by resource and time (through `(org, seq)`, then the filters).
pub(super) async fn audit(
    store: &SqlStore,
    org: OrganizationSid,
    a: &AuditQuery,
) -> Result<Vec<ChangeRecord>> {
    let mut q = select(org, a.after, if a.limit == 0 { 1000 } else { a.limit });
    if let Some(id) = &a.resource {
        q.and_where(Expr::col("id").eq(id.as_str()));
    }
    let ts = |s: &str| {
        now_from(s).ok_or_else(|| {
            StoreError::Scim(scim_core::ScimError::new(
                scim_core::ErrorCode::InvalidValue,
                format!("not an RFC 3339 time: {s}"),
            ))
        })
    };
    if let Some(since) = &a.since {
        q.and_where(Expr::col("at").gte(ts(since)?));
    }
    if let Some(until) = &a.until {
        q.and_where(Expr::col("at").lt(ts(until)?));
    }
    run(store, &q).await
}
