//! The SQL of the hottest statements, built once per shape (see [`Shapes`]).

use scim_core::schema::ResourceKind;
use sea_orm::sea_query::{Expr, SelectStatement, Value};
use sea_orm::{DbBackend, StatementBuilder};
use std::sync::{Arc, RwLock};

/// A statement of a fixed shape whose SQL was built once (see `Shapes`): the text, and
/// this call's values in the order the builder binds them.
pub(crate) struct Prebuilt {
    pub(crate) sql: std::sync::Arc<str>,
    pub(crate) values: Vec<sea_orm::Value>,
}

impl StatementBuilder for Prebuilt {
    fn build(&self, b: &DbBackend) -> sea_orm::Statement {
        sea_orm::Statement::from_sql_and_values(*b, &*self.sql, self.values.clone())
    }
}

/// A statement to run: built now, or prebuilt.
pub(crate) enum Stmt {
    /// Built by sea-query for this call.
    Built(Box<sea_orm::sea_query::SelectStatement>),
    /// Built by sea-query for this call, already written out for the backend.
    Written(sea_orm::Statement),
    /// From the cache of shapes.
    Pre(Prebuilt),
}

impl StatementBuilder for Stmt {
    fn build(&self, b: &DbBackend) -> sea_orm::Statement {
        match self {
            Stmt::Built(q) => StatementBuilder::build(&**q, b),
            Stmt::Written(st) => st.clone(),
            Stmt::Pre(p) => p.build(b),
        }
    }
}

/// The SQL of the hottest statements (a resource by id, a user's groups, a search in the
/// default order, the `UPDATE` and change-log `INSERT` of a write), built by sea-query once
/// per shape instead of once per call: writing a statement's text was 5% of a GET's CPU,
/// 14% of a `userName eq` search's and 6% of a PATCH's. A shape is
/// cached only after its first build proved that the values the caller lists are exactly
/// the ones the builder bound, in the same order, so a cached text can never be run with
/// misplaced values.
#[derive(Debug, Default)]
pub(crate) struct Shapes {
    fixed: RwLock<std::collections::HashMap<Shape, Arc<str>>>,
    searches: RwLock<Vec<(SearchShape, Arc<str>)>>,
}

/// How many search shapes [`Shapes`] keeps: an application asks a handful (`userName eq`,
/// `externalId eq`, `displayName eq`, a plain page); past this many, the oldest go.
const SEARCHES_KEPT: usize = 64;

/// What the text of a search in the default order (`query_raw`) depends on: the resource
/// kind, whether users' groups are a column, and the filter's condition with its values
/// taken out (see [`take_values`]); conditions of different structure (operators,
/// columns, functions, the length of an `IN` list) differ here.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SearchShape {
    pub(crate) kind: ResourceKind,
    pub(crate) groups: bool,
    pub(crate) cond: Option<Expr>,
}

/// What a value taken out of an expression leaves behind: the builder writes a placeholder
/// for any value, so the text depends on where values are, not on what they are.
const HOLE: Value = Value::Bool(None);

/// Moves the values `e` binds into `out`, depth first, left to right, leaving [`HOLE`]s.
/// Values inside other parts (a subquery, a function call, a `CASE`) stay where they are:
/// they are then part of the shape, and missing from `out`, so the first build's check
/// (the listed values against the bound ones) refuses to cache that shape.
pub(crate) fn take_values(e: &mut Expr, out: &mut Vec<Value>) {
    match e {
        Expr::Value(v) => out.push(std::mem::replace(v, HOLE)),
        Expr::Values(list) => out.extend(list.iter_mut().map(|v| std::mem::replace(v, HOLE))),
        Expr::Tuple(list) | Expr::CustomWithExpr(_, list) => {
            list.iter_mut().for_each(|e| take_values(e, out));
        }
        Expr::Unary(_, e) | Expr::AsEnum(_, e) => take_values(e, out),
        Expr::Binary(l, _, r) => {
            take_values(l, out);
            take_values(r, out);
        }
        _ => {}
    }
}

/// The text of `q`, when building it binds exactly `values` in that order: only then may
/// the text be run again with other values listed the same way.
fn proven(backend: DbBackend, q: &SelectStatement, values: &[Value]) -> Option<Arc<str>> {
    let st = StatementBuilder::build(q, &backend);
    let bound = st.values.map(|v| v.0).unwrap_or_default();
    (bound == values).then(|| Arc::from(st.sql))
}

/// Whether no two of `values` are equal: only then does the first build's check prove the
/// order in which [`take_values`] listed them (two equal values could trade places).
pub(crate) fn distinct(values: &[Value]) -> bool {
    let mut seen = values.iter();
    while let Some(v) = seen.next() {
        if seen.as_slice().contains(v) {
            return false;
        }
    }
    true
}

/// The statements [`Shapes`] caches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Shape {
    /// `SqlStore::row`: by id, with or without a `deleted` condition, locked or not.
    Row { deleted: Option<bool>, lock: bool },
    /// `SqlStore::get_raw` of a user with its groups in the same statement.
    UserWithGroups,
    /// `SqlStore::groups_of` for one user.
    GroupsOfOne,
    /// The `UPDATE` of a locked update, by the optional columns it sets.
    Update { name_key: bool, external_id: bool, display_name_lower: bool, password: bool },
    /// A change-log `INSERT` of one entry.
    ChangeLog,
    /// The `INSERT` of one new resource row (a create of one resource in a transaction).
    InsertOne,
    /// A `resource_counts` delta row.
    CountDelta,
}

impl Shapes {
    /// The statement for `shape` with `values`; `build` makes it (with the same values)
    /// when the shape is not cached yet, and the shape is cached when that build bound
    /// exactly `values`, in order.
    pub(crate) fn get<Q: StatementBuilder>(
        &self,
        backend: DbBackend,
        shape: Shape,
        values: Vec<sea_orm::Value>,
        build: impl FnOnce() -> Result<Q, crate::StoreError>,
    ) -> Result<Stmt, crate::StoreError> {
        if let Some(sql) = self.cached(shape) {
            return Ok(Stmt::Pre(Prebuilt { sql, values }));
        }
        let st = build()?.build(&backend);
        let bound = st.values.as_ref().map(|v| v.0.as_slice()).unwrap_or_default();
        if bound == values.as_slice() {
            self.keep(shape, &st.sql);
        } else {
            tracing::debug!(?shape, "a statement shape binds other values than listed: not cached");
        }
        Ok(Stmt::Written(st))
    }

    /// [`Shapes::get`] for a statement that `build` makes from the values it is given.
    /// The shape is proven by a second build from stand-ins (distinct strings), so two of
    /// this call's values that happen to be equal (a group's display name and its
    /// lowercase key) cannot hide a misplaced value.
    pub(crate) fn get_from_values<Q: StatementBuilder>(
        &self,
        backend: DbBackend,
        shape: Shape,
        values: Vec<sea_orm::Value>,
        build: impl Fn(&[sea_orm::Value]) -> Result<Q, crate::StoreError>,
    ) -> Result<Stmt, crate::StoreError> {
        if let Some(sql) = self.cached(shape) {
            return Ok(Stmt::Pre(Prebuilt { sql, values }));
        }
        let st = build(&values)?.build(&backend);
        let stand_ins: Vec<Value> =
            (0..values.len()).map(|i| Value::from(format!("\u{1}stand-in {i}"))).collect();
        let probe = build(&stand_ins)?.build(&backend);
        let bound = probe.values.as_ref().map(|v| v.0.as_slice()).unwrap_or_default();
        if bound == stand_ins.as_slice() && probe.sql == st.sql {
            self.keep(shape, &st.sql);
        } else {
            tracing::debug!(?shape, "a statement shape binds other values than given: not cached");
        }
        Ok(Stmt::Written(st))
    }

    fn cached(&self, shape: Shape) -> Option<Arc<str>> {
        self.fixed.read().ok().and_then(|m| m.get(&shape).cloned())
    }

    fn keep(&self, shape: Shape, sql: &str) {
        if let Ok(mut m) = self.fixed.write() {
            m.insert(shape, Arc::from(sql));
        }
    }

    /// The statement of a search of `shape` with `values` (those of the condition in the
    /// order [`take_values`] listed them, among the others); `build` makes it when the
    /// shape is not cached yet. `provable`: whether this call's condition values are
    /// [`distinct`], so that its build may be trusted to cache the shape.
    pub(crate) fn search(
        &self,
        backend: DbBackend,
        shape: SearchShape,
        values: Vec<Value>,
        provable: bool,
        build: impl FnOnce() -> Result<SelectStatement, crate::StoreError>,
    ) -> Result<Stmt, crate::StoreError> {
        let hit = self.searches.read().ok().and_then(|kept| {
            kept.iter().find(|(s, _)| *s == shape).map(|(_, sql)| Arc::clone(sql))
        });
        if let Some(sql) = hit {
            return Ok(Stmt::Pre(Prebuilt { sql, values }));
        }
        let q = build()?;
        if !provable {
            return Ok(Stmt::Built(Box::new(q)));
        }
        let Some(sql) = proven(backend, &q, &values) else {
            tracing::debug!(?shape, "a search shape binds other values than listed: not cached");
            return Ok(Stmt::Built(Box::new(q)));
        };
        if let Ok(mut kept) = self.searches.write()
            && !kept.iter().any(|(s, _)| *s == shape)
        {
            if kept.len() >= SEARCHES_KEPT {
                kept.remove(0);
            }
            kept.push((shape, sql));
        }
        Ok(Stmt::Built(Box::new(q)))
    }

    /// Whether `shape` is cached.
    #[cfg(test)]
    pub(crate) fn has(&self, shape: Shape) -> bool {
        self.fixed.read().is_ok_and(|m| m.contains_key(&shape))
    }

    /// How many search shapes are cached.
    #[cfg(test)]
    pub(crate) fn searches(&self) -> usize {
        self.searches.read().map_or(0, |kept| kept.len())
    }
}
