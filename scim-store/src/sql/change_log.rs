//! The change log: one entry per write, with the actor and request id of the request that
//! made it (see [`crate::audit`]), and the feeds read from it: changes after a sequence
//! number (event streams) and changes by resource and time (audit).

use super::conn::Exec;
use super::conn::get;
use super::outcome::db_err;
use super::shapes::Shape;
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
    /// (`members`, `password`). Only the members of `old` that `kept` accepts count (the
    /// stored state as a modifier saw it holds `id`, `meta` and the references too).
    pub(super) fn updated(
        old: &Map<String, Value>,
        kept: impl Fn(&str) -> bool,
        new: &Map<String, Value>,
        extra: &[&'static str],
        external_id: Option<&String>,
    ) -> Self {
        // The old document's members by position first (a rewrite keeps their order),
        // by name where the order differs.
        let mut olds = old.iter().filter(|(k, _)| kept(k));
        let mut aligned = 0;
        let mut names: Vec<&str> = Vec::new();
        for (k, v) in new {
            let was = match olds.next() {
                Some((ok, ov)) if ok == k => {
                    aligned += 1;
                    Some(ov)
                }
                _ => old.get(k.as_str()).filter(|_| kept(k)),
            };
            if listed(k) && !was.is_some_and(|w| same(w, v)) {
                names.push(k);
            }
        }
        // Removed members: none when both hold the same names in the same order.
        if aligned != new.len() || aligned != old.keys().filter(|k| kept(k)).count() {
            names.extend(
                old.keys()
                    .map(String::as_str)
                    .filter(|k| kept(k) && listed(k) && !new.contains_key(*k)),
            );
        }
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

/// `a == b` (serde_json's equality, in which the order of members does not count),
/// comparing members by position first: a document read and written again keeps its
/// order, and comparing by position spares hashing every key of both.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => same_members(x, y),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        _ => a == b,
    }
}

fn same_members(x: &Map<String, Value>, y: &Map<String, Value>) -> bool {
    if x.len() != y.len() {
        return false;
    }
    let mut at = 0;
    for ((kx, vx), (ky, vy)) in x.iter().zip(y) {
        if kx != ky {
            break;
        }
        if !same(vx, vy) {
            return false;
        }
        at += 1;
    }
    // The rest by name: its keys are not among the first `at`, which both share.
    x.iter().skip(at).all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
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
    pub(super) fn values(self, ctx: &ChangeContext) -> [sea_orm::Value; 12] {
        let op = match self.op {
            ChangeOp::Create => "create",
            ChangeOp::Update => "update",
            ChangeOp::Delete => "delete",
            ChangeOp::Restore => "restore",
        };
        [
            self.org.to_string().into(),
            self.kind.name().into(),
            self.id.into(),
            op.into(),
            i64::try_from(self.version).unwrap_or(i64::MAX).into(),
            self.at.into(),
            ctx.actor.clone().into(),
            ctx.request_id.clone().into(),
            ctx.method.clone().into(),
            self.detail.attrs.into(),
            self.detail.external_id.into(),
            self.detail.active.into(),
        ]
    }

    /// [`Entry::values`] as expressions.
    pub(super) fn row(self, ctx: &ChangeContext) -> [Expr; 12] {
        self.values(ctx).map(Expr::val)
    }
}

impl SqlStore {
    /// Records `entry` inside the caller's transaction `c`.
    pub(super) async fn log<C: Exec>(&self, c: &C, entry: Entry<'_>) -> Result<()> {
        let values = Vec::from(entry.values(&context()));
        let ins =
            self.shapes.get_from_values(self.backend.sea(), Shape::ChangeLog, values, |v| {
                let mut ins = Q::insert();
                ins.into_table("change_log")
                    .columns(COLUMNS)
                    .values(v.iter().cloned().map(Expr::val))
                    .map_err(|e| StoreError::Internal(e.to_string()))?;
                Ok(ins)
            })?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (0..3i64).prop_map(Value::from),
            "[ab]{0,2}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 16, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
                prop::collection::vec(("[abc]", inner), 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn doc() -> impl Strategy<Value = Map<String, Value>> {
        let key = prop::sample::select(vec!["id", "meta", "schemas", "a", "b", "c", "d", "e"]);
        prop::collection::vec((key, value()), 0..6)
            .prop_map(|m| m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }

    /// The same value with the members of every object in reverse order.
    fn reversed(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                Value::Object(m.iter().rev().map(|(k, v)| (k.clone(), reversed(v))).collect())
            }
            Value::Array(items) => Value::Array(items.iter().map(reversed).collect()),
            other => other.clone(),
        }
    }

    /// A document and one made from it: members in the same order or reversed (deeply),
    /// then some members of another document written over or added.
    fn pair() -> impl Strategy<Value = (Map<String, Value>, Map<String, Value>)> {
        (doc(), doc(), any::<bool>(), 0..4usize).prop_map(|(a, other, reverse, take)| {
            let mut b = if reverse {
                match reversed(&Value::Object(a.clone())) {
                    Value::Object(m) => m,
                    _ => Map::new(),
                }
            } else {
                a.clone()
            };
            for (k, v) in other.into_iter().take(take) {
                b.insert(k, v);
            }
            (a, b)
        })
    }

    proptest! {
        /// `same` is serde_json's equality.
        #[test]
        fn same_is_equality((a, b) in pair()) {
            let (a, b) = (Value::Object(a), Value::Object(b));
            prop_assert_eq!(same(&a, &b), a == b);
            prop_assert!(same(&a, &reversed(&a)));
        }

        /// An update names the members added, changed or removed, whatever their order.
        #[test]
        fn an_update_names_what_changed((old, new) in pair()) {
            let mut want: Vec<&str> = new
                .iter()
                .filter(|(k, v)| listed(k) && old.get(k.as_str()) != Some(*v))
                .map(|(k, _)| k.as_str())
                .chain(old.keys().map(String::as_str).filter(|k| listed(k) && !new.contains_key(*k)))
                .collect();
            want.sort_unstable();
            want.dedup();
            prop_assert_eq!(Detail::updated(&old, |_| true, &new, &[], None).attrs, join(want));
        }

        /// Against the stored state as a modifier sees it (the stored document wrapped with
        /// `id`, the references and `meta`), an update names what it names against the
        /// stored document itself.
        #[test]
        fn the_wrapped_state_names_what_the_stored_document_names(
            (old, new) in pair(),
            groups in prop::option::of(prop::collection::vec(value(), 0..3)),
        ) {
            use crate::sql::columns::{sanitize, stored_key};
            let kind = scim_core::schema::ResourceKind::User;
            let (old, new) = (sanitize(kind, old), sanitize(kind, new));
            let envelope = scim_core::envelope::Envelope::stored(
                kind, "US1".into(), "2026-01-01T00:00:00Z".into(), "2026-01-02T00:00:00Z".into(), 3,
            );
            let wrapped = envelope.wrap(old.clone(), groups.map(|g| ("groups", g))).into_map();
            prop_assert_eq!(
                Detail::updated(&wrapped, |k| stored_key(kind, k), &new, &["password"], None).attrs,
                Detail::updated(&old, |_| true, &new, &["password"], None).attrs
            );
        }
    }
}
