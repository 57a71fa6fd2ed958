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
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Order, Query as Q, SelectStatement};
use serde_json::{Map, Value};

/// The columns every change-log insert writes, in order.
pub(super) const COLUMNS: [&str; 12] = [
    "org",
    "kind",
    "id",
    "op",
    "version",
    "at",
    "actor",
    "request_id",
    "method",
    "attrs",
    "external_id",
    "active",
];

/// The longest `attrs` value kept (a document has a bounded number of top-level
/// attributes; this only keeps a hostile one from writing a huge row).
const MAX_ATTRS: usize = 4096;

/// The current change context, bounded to the columns' widths.
pub(super) fn context() -> ChangeContext {
    let c = crate::audit::current();
    ChangeContext {
        actor: c.actor.map(|a| truncate(&a, 64)),
        request_id: c.request_id.map(|r| truncate(&r, 128)),
        method: c.method.map(|m| truncate(&m, 8)),
    }
}

/// What a change did to the resource, beyond its operation and version.
#[derive(Debug, Default)]
pub(super) struct Detail {
    /// The top-level attributes set or removed, comma-separated.
    pub(super) attrs: Option<String>,
    /// The `externalId` after the change.
    pub(super) external_id: Option<String>,
    /// The new `active`, when the change switched it.
    pub(super) active: Option<bool>,
}

impl Detail {
    /// A new resource: every attribute it holds.
    pub(super) fn created(
        doc: &Map<String, Value>,
        extra: &[&'static str],
        external_id: Option<&String>,
    ) -> Self {
        let mut names: Vec<&str> = doc.keys().map(String::as_str).filter(|k| listed(k)).collect();
        names.extend(extra.iter().copied().filter(|e| !doc.contains_key(*e)));
        names.sort_unstable();
        Self { attrs: join(names), external_id: external_id.cloned(), active: None }
    }

    /// An update from `old` to `new`; `extra` names changes kept outside the document
    /// (`members`, `password`).
    pub(super) fn updated(
        old: &Map<String, Value>,
        new: &Map<String, Value>,
        extra: &[&'static str],
        external_id: Option<&String>,
    ) -> Self {
        let mut names: Vec<&str> = new
            .iter()
            .filter(|(k, v)| listed(k) && old.get(k.as_str()) != Some(*v))
            .map(|(k, _)| k.as_str())
            .chain(old.keys().map(String::as_str).filter(|k| listed(k) && !new.contains_key(*k)))
            .collect();
        names.extend(extra.iter().copied().filter(|e| !new.contains_key(*e)));
        names.sort_unstable();
        names.dedup();
        let flag = |d: &Map<String, Value>| {
            d.iter().find(|(k, _)| k.eq_ignore_ascii_case("active")).and_then(|(_, v)| v.as_bool())
        };
        let (was, is) = (flag(old), flag(new));
        // Absent `active` reads as active (RFC 7643 4.1.1 leaves it to the provider; a user
        // with no `active` is not deactivated).
        let active = (was.unwrap_or(true) != is.unwrap_or(true)).then(|| is.unwrap_or(true));
        Self { attrs: join(names), external_id: external_id.cloned(), active }
    }
}

/// Whether a top-level key is an attribute an event names (`id` and `meta` are the
/// service's, never "changed" by a client).
fn listed(key: &str) -> bool {
    !key.eq_ignore_ascii_case("id") && !key.eq_ignore_ascii_case("meta")
}

fn join(names: Vec<&str>) -> Option<String> {
    if names.is_empty() {
        return None;
    }
    let mut out = String::new();
    for n in names {
        if out.len() + n.len() + 1 > MAX_ATTRS {
            break;
        }
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(n);
    }
    Some(out)
}

/// One change, as the change log records it.
#[derive(Debug)]
pub(super) struct Entry<'a> {
    pub(super) org: OrganizationSid,
    pub(super) kind: ResourceKind,
    pub(super) id: &'a str,
    pub(super) op: ChangeOp,
    /// The resource's version after the change.
    pub(super) version: u64,
    pub(super) at: &'a str,
    pub(super) detail: Detail,
}

impl Entry<'_> {
    /// The values of its change-log row, in [`COLUMNS`] order, made under `ctx`.
    pub(super) fn row(self, ctx: &ChangeContext) -> [Expr; 12] {
        let op = match self.op {
            ChangeOp::Create => "create",
            ChangeOp::Update => "update",
            ChangeOp::Delete => "delete",
            ChangeOp::Restore => "restore",
        };
        [
            Expr::val(self.org.to_string()),
            Expr::val(self.kind.name()),
            Expr::val(self.id),
            Expr::val(op),
            Expr::val(i64::try_from(self.version).unwrap_or(i64::MAX)),
            Expr::val(self.at),
            Expr::val(ctx.actor.clone()),
            Expr::val(ctx.request_id.clone()),
            Expr::val(ctx.method.clone()),
            Expr::val(self.detail.attrs),
            Expr::val(self.detail.external_id),
            Expr::val(self.detail.active),
        ]
    }
}

impl SqlStore {
    /// Records `entry` inside the caller's transaction `c`.
    pub(super) async fn log<C: Exec>(&self, c: &C, entry: Entry<'_>) -> Result<()> {
        let mut ins = Q::insert();
        ins.into_table("change_log")
            .columns(COLUMNS)
            .values(entry.row(&context()))
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        c.execute(&ins).await.map_err(db_err)?;
        Ok(())
    }
}

fn select(org: OrganizationSid, after: u64, limit: u64) -> SelectStatement {
    let mut q = Q::select();
    q.columns(["seq", "kind", "id", "op", "version", "at", "actor", "request_id", "method"])
        .columns(["attrs", "external_id", "active"])
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
                attributes: get::<Option<String>>(r, "attrs")?
                    .map(|a| a.split(',').map(str::to_owned).collect())
                    .unwrap_or_default(),
                external_id: get(r, "external_id")?,
                active: get(r, "active")?,
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

/// How many changes of `org` come after `after`, counted up to `cap` (through
/// `(org, seq)`, reading at most `cap` index entries).
pub(super) async fn pending(
    store: &SqlStore,
    org: OrganizationSid,
    after: u64,
    cap: u64,
) -> Result<u64> {
    let mut ahead = Q::select();
    ahead
        .expr(Expr::val(1))
        .from("change_log")
        .and_where(Expr::col("org").eq(org.to_string()))
        .and_where(Expr::col("seq").gt(i64::try_from(after).unwrap_or(i64::MAX)))
        .limit(cap.clamp(1, 1_000_000));
    let mut q = Q::select();
    q.expr_as(Expr::cust("COUNT(*)"), Alias::new("n")).from_subquery(ahead, Alias::new("ahead"));
    let Some(r) = store.db.query_one(&q).await.map_err(db_err)? else { return Ok(0) };
    Ok(u64::try_from(get::<i64>(&r, "n")?).unwrap_or_default())
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
