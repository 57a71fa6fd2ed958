//! The SQL of the hottest statements, built once per shape (see [`Shapes`]).

use sea_orm::{DbBackend, StatementBuilder};

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
    /// From the cache of shapes.
    Pre(Prebuilt),
}

impl StatementBuilder for Stmt {
    fn build(&self, b: &DbBackend) -> sea_orm::Statement {
        match self {
            Stmt::Built(q) => StatementBuilder::build(&**q, b),
            Stmt::Pre(p) => p.build(b),
        }
    }
}

/// The SQL of the hottest statements (a resource by id, a user's groups), built by
/// sea-query once per shape instead of once per call: writing a statement's text was 5% of
/// a GET's CPU. A shape is cached only after its first build proved that the values the
/// caller lists are exactly the ones the builder bound, in the same order, so a cached
/// text can never be run with misplaced values.
#[derive(Debug, Default)]
pub(crate) struct Shapes(std::sync::RwLock<std::collections::HashMap<Shape, std::sync::Arc<str>>>);

/// The statements [`Shapes`] caches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Shape {
    /// `SqlStore::row`: by id, with or without a `deleted` condition, locked or not.
    Row { deleted: Option<bool>, lock: bool },
    /// `SqlStore::get_raw` of a user with its groups in the same statement.
    UserWithGroups,
    /// `SqlStore::groups_of` for one user.
    GroupsOfOne,
}

impl Shapes {
    /// The statement for `shape` with `values`; `build` makes it (with the same values)
    /// when the shape is not cached yet.
    pub(crate) fn get(
        &self,
        backend: DbBackend,
        shape: Shape,
        values: Vec<sea_orm::Value>,
        build: impl FnOnce() -> Result<sea_orm::sea_query::SelectStatement, crate::StoreError>,
    ) -> Result<Stmt, crate::StoreError> {
        if let Some(sql) = self.0.read().ok().and_then(|m| m.get(&shape).cloned()) {
            return Ok(Stmt::Pre(Prebuilt { sql, values }));
        }
        let q = build()?;
        let st = StatementBuilder::build(&q, &backend);
        let bound = st.values.map(|v| v.0).unwrap_or_default();
        if bound != values {
            tracing::debug!(?shape, "a statement shape binds other values than listed: not cached");
        } else if let Ok(mut m) = self.0.write() {
            m.insert(shape, std::sync::Arc::from(st.sql));
        }
        Ok(Stmt::Built(Box::new(q)))
    }

    /// Whether `shape` is cached.
    #[cfg(test)]
    pub(crate) fn has(&self, shape: Shape) -> bool {
        self.0.read().is_ok_and(|m| m.contains_key(&shape))
    }
}
