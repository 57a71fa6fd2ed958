//! The change log: one entry per write, and the feed read from it.

use super::conn::Exec;
use super::conn::get;
use super::outcome::db_err;
use super::store::SqlStore;
use super::values::kind_of;
use crate::{ChangeOp, ChangeRecord, Result, StoreError};
use scim_core::schema::ResourceKind;
use scim_core::sid::OrganizationSid;
use sea_orm::sea_query::{Expr, ExprTrait, Order, Query as Q};

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
}

pub(super) async fn changes(
    store: &SqlStore,
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
    store
        .db
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
