//! Organizations (tenants): read, rename, policies, what one holds, delete with everything in it.

use super::conn::get;
use super::conn::{DbRow, Exec, Txn};
use super::outcome::db_err;
use super::store::SqlStore;
use super::values::parse_org;
use crate::{OrgContents, OrgDeletion, Organization, Policy, Result, StoreError};
use scim_core::schema::ResourceKind;
use scim_core::sid::OrganizationSid;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Order, Query as Q, SelectStatement};

pub(super) fn org_from(r: &DbRow) -> Result<Organization> {
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
pub(super) async fn org_contents(txn: &Txn, org: OrganizationSid) -> Result<OrgContents> {
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

pub(super) async fn organization(
    store: &SqlStore,
    org: OrganizationSid,
) -> Result<Option<Organization>> {
    let mut q = Q::select();
    q.columns(["sid", "name", "policies", "created"])
        .from("organizations")
        .and_where(Expr::col("sid").eq(org.to_string()));
    match store.db.query_one(&q).await.map_err(db_err)? {
        Some(r) => Ok(Some(org_from(&r)?)),
        None => Ok(None),
    }
}

pub(super) async fn organizations(store: &SqlStore) -> Result<Vec<Organization>> {
    let mut q = Q::select();
    q.columns(["sid", "name", "policies", "created"])
        .from("organizations")
        .order_by("created", Order::Asc)
        .order_by("sid", Order::Asc);
    store.db.query_all(&q).await.map_err(db_err)?.iter().map(org_from).collect()
}

pub(super) async fn rename_organization(
    store: &SqlStore,
    org: OrganizationSid,
    name: &str,
) -> Result<bool> {
    let mut q = Q::update();
    q.table("organizations").value("name", name).and_where(Expr::col("sid").eq(org.to_string()));
    Ok(store.db.execute(&q).await.map_err(db_err)?.rows_affected() > 0)
}

pub(super) async fn set_policies(
    store: &SqlStore,
    org: OrganizationSid,
    policies: &[Policy],
) -> Result<bool> {
    let names: Vec<&str> = policies.iter().map(|p| p.name()).collect();
    let text = serde_json::to_string(&names).map_err(|e| StoreError::Internal(e.to_string()))?;
    let mut q = Q::update();
    q.table("organizations")
        .value("policies", text)
        .and_where(Expr::col("sid").eq(org.to_string()));
    Ok(store.db.execute(&q).await.map_err(db_err)?.rows_affected() > 0)
}

pub(super) async fn organization_contents(
    store: &SqlStore,
    org: OrganizationSid,
) -> Result<Option<OrgContents>> {
    if organization(store, org).await?.is_none() {
        return Ok(None);
    }
    let txn = store.begin().await?;
    let contents = org_contents(&txn, org).await?;
    txn.commit().await.map_err(db_err)?;
    Ok(Some(contents))
}

pub(super) async fn delete_organization(
    store: &SqlStore,
    org: OrganizationSid,
    only_if_empty: bool,
) -> Result<OrgDeletion> {
    let sid = org.to_string();
    let txn = store.begin().await?;
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
    elsewhere.column("client_id").from("client_orgs").and_where(Expr::col("org").ne(sid.clone()));
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
        ("resource_counts", "org"),
        ("event_streams", "org"),
        ("organizations", "sid"),
    ] {
        let mut del = Q::delete();
        del.from_table(table).and_where(Expr::col(column).eq(sid.clone()));
        txn.execute(&del).await.map_err(db_err)?;
    }
    txn.commit().await.map_err(db_err)?;
    Ok(OrgDeletion::Deleted(contents))
}
