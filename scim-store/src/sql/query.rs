//! Searches and counts: a filtered, sorted page by index or by RFC 9865 cursor (keyset), and
//! `totalResults`.

use super::conn::get;
use super::conn::{DbRow, Exec};
use super::cursor;
use super::filter::{KeyKind, SortKey, T, Translator, col};
use super::outcome::db_err;
use super::rows::{raw_row, raw_row_with_groups};
use super::shapes::{SearchShape, Stmt, distinct, take_values};
use super::store::{COUNTS_KEPT, SqlStore};
use crate::{Pagination, Query, RawPage, Result};
use scim_core::message::SortOrder;
use scim_core::schema::ResourceKind;
use scim_core::sid::OrganizationSid;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, JoinType, Order, Query as Q, SelectStatement};
use serde_json::Value;

/// An index page that skips more rows than this walks them: it counts as a long query.
pub(super) const DEEP: u64 = 2_000;

pub(super) fn key_value(kind: KeyKind, v: &Value) -> Expr {
    match (kind, v) {
        (KeyKind::Real, Value::Number(n)) => Expr::val(n.as_f64().unwrap_or_default()),
        (KeyKind::Bool, Value::Bool(b)) => Expr::val(*b),
        (_, Value::String(s)) => Expr::val(s.clone()),
        (_, other) => Expr::val(other.to_string()),
    }
}

pub(super) fn read_key(kind: KeyKind, r: &DbRow) -> Result<Value> {
    Ok(match kind {
        KeyKind::Text => get::<Option<String>>(r, "sk")?.map(Value::String).unwrap_or(Value::Null),
        KeyKind::Real => get::<Option<f64>>(r, "sk")?
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        KeyKind::Bool => get::<Option<bool>>(r, "sk")?.map(Value::Bool).unwrap_or(Value::Null),
    })
}

/// `WHERE` for the rows after `(key, id)` in the sort order (nulls last either way).
pub(super) fn keyset(sk: &SortKey, desc: bool, key: &Value, id: &str) -> Expr {
    let after = |a: Expr, b: Expr| if desc { a.lt(b) } else { a.gt(b) };
    let e = sk.expr.clone();
    if key.is_null() {
        return e.is_null().and(after(col("id"), Expr::val(id)));
    }
    let k = key_value(sk.kind, key);
    if !sk.nullable {
        // A row-value comparison, which every backend answers from the (key, id) index.
        return after(Expr::tuple([e, col("id")]), Expr::tuple([k, Expr::val(id)]));
    }
    let tail = after(e.clone(), k.clone()).or(e.clone().eq(k).and(after(col("id"), Expr::val(id))));
    e.is_null().or(tail)
}

impl SqlStore {
    pub(super) fn base_where(
        &self,
        q: &mut SelectStatement,
        org: OrganizationSid,
        kind: ResourceKind,
    ) {
        q.and_where(col("org").eq(org.to_string()))
            .and_where(col("kind").eq(kind.name()))
            .and_where(col("deleted").eq(false));
    }

    /// The number of live resources of `kind` matching `cond`.
    ///
    /// On SQLite an unfiltered count is remembered with the organization's last change-log
    /// sequence number, read before counting, and answered from memory while that number
    /// stays the same: every write that adds, deletes or restores a resource logs a change
    /// in its own transaction, and SQLite's single writer hands out sequence numbers in
    /// commit order, so an unchanged number means an unchanged count (for any process
    /// sharing the file). On PostgreSQL and MySQL sequence numbers are not in commit order;
    /// there an unfiltered count sums the organization's count deltas (`counts.rs`).
    pub(super) async fn count(
        &self,
        org: OrganizationSid,
        kind: ResourceKind,
        cond: Option<&Expr>,
        long: bool,
    ) -> Result<u64> {
        if cond.is_some() {
            return self.count_rows(org, kind, cond, long).await;
        }
        if self.keeps_counts() {
            return self.counted(org, kind).await;
        }
        let mut q = Q::select();
        q.expr_as(Expr::cust("COALESCE(MAX(seq), 0)"), Alias::new("s"))
            .from("change_log")
            .and_where(Expr::col("org").eq(org.to_string()));
        let seq: i64 = match self.db.query_one(&q).await.map_err(db_err)? {
            Some(r) => get::<i64>(&r, "s")?,
            None => 0,
        };
        let key = (org, kind);
        let known = self.counts.0.lock().ok().and_then(|m| m.get(&key).copied());
        if let Some((at, n)) = known
            && at == seq
        {
            return Ok(n);
        }
        let n = self.count_rows(org, kind, None, long).await?;
        if let Ok(mut m) = self.counts.0.lock() {
            if m.len() >= COUNTS_KEPT {
                m.clear();
            }
            m.insert(key, (seq, n));
        }
        Ok(n)
    }

    /// `COUNT(*)` of the live resources of `kind` matching `cond`.
    pub(super) async fn count_rows(
        &self,
        org: OrganizationSid,
        kind: ResourceKind,
        cond: Option<&Expr>,
        long: bool,
    ) -> Result<u64> {
        let mut q = Q::select();
        q.expr_as(Expr::cust("COUNT(*)"), Alias::new("n")).from(T);
        self.base_where(&mut q, org, kind);
        if let Some(c) = cond {
            q.and_where(c.clone());
        }
        let r = self.db.scan_one(&q, long).await.map_err(db_err)?;
        let n: i64 = match r {
            Some(r) => get(&r, "n")?,
            None => 0,
        };
        Ok(u64::try_from(n).unwrap_or_default())
    }
}

/// The values a search in the default order binds, in the builder's order (checked by
/// `Shapes::search` before its text is kept): the groups column's, `base_where`'s, the
/// condition's (`cond`), the page's.
fn search_values(
    org: OrganizationSid,
    kind: ResourceKind,
    groups: bool,
    cond: Vec<sea_orm::Value>,
    count: u64,
    offset: u64,
) -> Vec<sea_orm::Value> {
    let org = org.to_string();
    let mut values = Vec::with_capacity(cond.len() + 7);
    if groups {
        values.extend([org.clone().into(), false.into()]);
    }
    values.extend([org.into(), kind.name().into(), false.into()]);
    values.extend(cond);
    values.extend([count.into(), offset.into()]);
    values
}

pub(super) async fn query_raw(
    store: &SqlStore,
    org: OrganizationSid,
    kind: ResourceKind,
    query: &Query,
) -> Result<RawPage> {
    let tr = Translator { backend: store.backend, reg: &store.registry, kind };
    let cond = match &query.filter {
        Some(f) => {
            f.validate(&store.registry, kind)?;
            Some(tr.filter(f)?)
        }
        None => None,
    };
    let sk = match &query.sort_by {
        Some(p) => tr.sort_key(p)?,
        None => SortKey { expr: col("created"), kind: KeyKind::Text, nullable: false },
    };
    // A query that may visit many rows (see `Db::scan_all`): a filter no selective
    // index serves, or an explicit sort (only the default order is one index walk).
    // A COUNT visits every match: it is long unless the filter is selective.
    let selective = query.filter.as_ref().is_some_and(|f| tr.selective(f));
    let long = !selective && (query.filter.is_some() || query.sort_by.is_some());
    let long_count = !selective;
    let desc = query.sort_by.is_some() && query.sort_order == SortOrder::Descending;
    let dir = if desc { Order::Desc } else { Order::Asc };

    // Users' groups in the same statement (one read instead of two), unless the query
    // may sort many rows: a sort would compute the column for every match, not only
    // for the page.
    let groups_inline = kind == ResourceKind::User
        && query.read.groups
        && !long
        && store.backend.groups_aggregate().is_some();
    // The matching rows in the sort order, on `q` or on the ids of a deferred page.
    let select = |q: &mut SelectStatement| {
        store.base_where(q, org, kind);
        if let Some(c) = &cond {
            q.and_where(c.clone());
        }
        if sk.nullable {
            q.order_by_expr(sk.expr.clone().is_null(), Order::Asc);
        }
        q.order_by_expr(sk.expr.clone(), dir.clone()).order_by((T, "id"), dir.clone());
    };
    // The whole statement but its page.
    let full = || -> Result<SelectStatement> {
        let mut q = store.select_rows()?;
        q.expr_as(sk.expr.clone(), Alias::new("sk"));
        if groups_inline && let Some(col) = store.groups_column(org)? {
            q.expr_as(col, Alias::new("refs"));
        }
        select(&mut q);
        Ok(q)
    };

    let (rows, total, next) = match &query.pagination {
        Pagination::Index { start_index, count } => {
            if *count == 0 {
                let total = store.count(org, kind, cond.as_ref(), long_count).await?;
                return Ok(RawPage {
                    resources: Vec::new(),
                    total_results: total,
                    next_cursor: None,
                });
            }
            let offset = start_index.saturating_sub(1);
            let q = if offset > 0 && store.backend.defers_page_rows() {
                // The page's ids first (an index walk past `offset` entries), then the
                // rows of those ids only (see `Backend::defers_page_rows`).
                let mut q = full()?;
                let mut ids = Q::select();
                ids.column((T, "id")).from(T);
                select(&mut ids);
                ids.offset(offset).limit(*count);
                let page = Alias::new("page");
                q.join_subquery(
                    JoinType::InnerJoin,
                    ids,
                    page.clone(),
                    Expr::col((page, Alias::new("id"))).equals((T, "id")),
                );
                Stmt::Built(Box::new(q))
            } else if query.sort_by.is_none() {
                // The default order: the statement's text depends on the condition's
                // structure alone (see `Shapes::search`).
                let mut shape = cond.clone();
                let mut taken = Vec::new();
                if let Some(c) = &mut shape {
                    take_values(c, &mut taken);
                }
                let provable = distinct(&taken);
                let values = search_values(org, kind, groups_inline, taken, *count, offset);
                let shape = SearchShape { kind, groups: groups_inline, cond: shape };
                store.shapes.search(store.backend.sea(), shape, values, provable, || {
                    let mut q = full()?;
                    q.offset(offset).limit(*count);
                    Ok(q)
                })?
            } else {
                let mut q = full()?;
                q.offset(offset).limit(*count);
                Stmt::Built(Box::new(q))
            };
            let rows = store.db.scan_all(&q, long || offset > DEEP).await.map_err(db_err)?;
            let got = u64::try_from(rows.len()).unwrap_or(u64::MAX);
            // A short page that starts inside the results ends them: the total is
            // known without a COUNT (the common `userName eq` lookup is one query).
            let total = if got < *count && (got > 0 || offset == 0) {
                offset.saturating_add(got)
            } else {
                store.count(org, kind, cond.as_ref(), long_count).await?
            };
            (rows, total, None)
        }
        Pagination::Cursor { cursor, count } => {
            let secret = store.secret("cursor").await?;
            let binding = cursor::query_hash(&format!(
                "{:?}|{:?}|{:?}",
                query.filter,
                query.sort_by.as_ref().map(|p| p.to_string().to_lowercase()),
                desc
            ));
            let now_s = time::OffsetDateTime::now_utc().unix_timestamp();
            let (total, after) = match cursor {
                // Counted below, after the first page (a short one needs no COUNT).
                None => (None, None),
                Some(c) => {
                    let st =
                        cursor::decode(&secret, c, &org.to_string(), kind.name(), &binding, now_s)?;
                    (Some(st.t), Some((st.s, st.i)))
                }
            };
            if *count == 0 {
                let total = match total {
                    Some(t) => t,
                    None => store.count(org, kind, cond.as_ref(), long_count).await?,
                };
                return Ok(RawPage {
                    resources: Vec::new(),
                    total_results: total,
                    next_cursor: None,
                });
            }
            let mut q = full()?;
            if let Some((key, id)) = &after {
                q.and_where(keyset(&sk, desc, key, id));
            }
            q.limit(count.saturating_add(1));
            let mut rows = store.db.scan_all(&q, long).await.map_err(db_err)?;
            let more = u64::try_from(rows.len()).unwrap_or(u64::MAX) > *count;
            rows.truncate(usize::try_from(*count).unwrap_or(usize::MAX));
            // The first page counts once (later pages carry the total in the cursor);
            // a first page that is also the last is its own total.
            let total = match total {
                Some(t) => t,
                None if !more => u64::try_from(rows.len()).unwrap_or(u64::MAX),
                None => store.count(org, kind, cond.as_ref(), long_count).await?,
            };
            let next = match (more, rows.last()) {
                (true, Some(last)) => {
                    let ttl = i64::try_from(store.opts.cursor_ttl.as_secs()).unwrap_or(600);
                    let st = cursor::CursorState {
                        o: org.to_string(),
                        k: kind.name().into(),
                        q: binding,
                        s: read_key(sk.kind, last)?,
                        i: get(last, "id")?,
                        t: total,
                        e: now_s.saturating_add(ttl),
                    };
                    Some(cursor::encode(&secret, &st)?)
                }
                _ => None,
            };
            (rows, total, next)
        }
    };
    let resources = if groups_inline {
        rows.into_iter().map(raw_row_with_groups).collect::<Result<Vec<_>>>()?
    } else {
        let rows = rows.into_iter().map(raw_row).collect::<Result<Vec<_>>>()?;
        store.raw_stored(&store.db, org, rows, query.read).await?
    };
    Ok(RawPage { resources, total_results: total, next_cursor: next })
}
