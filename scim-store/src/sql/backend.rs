//! What differs between the SQL databases, behind one trait, [`Backend`], with one module
//! per backend (`sqlite`, `postgres`, `mysql`): its SQL for JSON documents, the terms its
//! planner needs, its connection options and its migration lock. Shared code asks the
//! store's backend and names none of them; adding a backend is adding a module with a type
//! that implements [`Backend`], and listing it in `backends::ALL`.
//!
//! SQL text is written as templates with `?` for each argument; [`Backend::cust`] gives
//! each backend the placeholders it wants. Arguments are sea-query expressions: values
//! are always bound parameters. The one exception is the path of MySQL's `JSON_TABLE`,
//! which must be a literal: it is built only from schema-registered attribute names and
//! URNs that [`json_key`] checked to hold no quote or backslash.

use crate::{Result, StoreError};
use async_trait::async_trait;
use sea_orm::sea_query::{ColumnDef, Expr, ExprTrait, TableCreateStatement};
use sea_orm::{ConnectOptions, ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use std::time::Duration;

/// One SQL database: everything the shared code leaves to it.
#[async_trait]
pub(crate) trait Backend: Send + Sync + std::fmt::Debug {
    // ---- which one -------------------------------------------------------------------
    /// The sea-query writer of this backend's SQL.
    fn sea(&self) -> DbBackend;
    /// The URL schemes it serves.
    fn schemes(&self) -> &'static [&'static str];
    /// The URL handed to the driver (an alias scheme rewritten).
    fn driver_url(&self, url: &str) -> String {
        url.to_owned()
    }
    /// Whether this build serves it (its cargo feature is on).
    fn compiled(&self) -> bool;

    // ---- connections and migrations --------------------------------------------------
    /// Options of a sea-orm (sqlx) pool for `url` beyond the shared ones (acquire and
    /// statement timeouts): the pool size (`max_connections` unless the backend knows
    /// better), and what each connection sets up. `scan_timeout`: the statement time limit.
    fn configure(
        &self,
        co: &mut ConnectOptions,
        url: &str,
        max_connections: Option<u32>,
        scan_timeout: Option<Duration>,
    ) {
        let _ = (url, scan_timeout);
        co.max_connections(max_connections.unwrap_or(10));
    }
    /// Whether the database is a library in this process rather than a server: then a
    /// database reached through sea-orm is an in-memory one, this process's alone.
    fn embedded(&self) -> bool {
        false
    }
    /// Takes the database-wide lock under which migrations run, on `c` (the database at
    /// `url`), waiting for whoever holds it.
    async fn lock_migrations(&self, c: &DatabaseConnection, url: &str) -> Result<MigrationLock>;
    /// Releases what [`Backend::lock_migrations`] took.
    async fn unlock_migrations(&self, c: &DatabaseConnection, lock: MigrationLock) {
        let _ = (c, lock);
    }
    /// Table options of every table (character set, collation).
    fn table_options(&self, t: &mut TableCreateStatement) {
        let _ = t;
    }
    /// A column of text of any length.
    fn long_text(&self, c: &mut ColumnDef) {
        c.text();
    }
    /// The column of `resources` that holds documents.
    fn document_column(&self, c: &mut ColumnDef) {
        c.text();
    }

    // ---- statements ------------------------------------------------------------------
    /// `template` with the placeholders this backend wants (`?` as written by default).
    fn placeholders(&self, template: &str) -> String {
        template.to_owned()
    }
    /// A custom expression from a `?` template.
    fn cust(&self, template: &str, args: Vec<Expr>) -> Result<Expr> {
        let marks = template.matches('?').count();
        if marks != args.len() {
            return Err(StoreError::Internal(format!(
                "SQL template has {marks} placeholders for {} arguments",
                args.len()
            )));
        }
        Ok(Expr::cust_with_exprs(self.placeholders(template), args))
    }
    /// A document's JSON text as the value of the document column.
    fn doc_value(&self, text: String) -> Result<Expr> {
        Ok(Expr::val(text))
    }
    /// The document column `doc` read as text.
    fn doc_read(&self, doc: Expr) -> Result<Expr> {
        Ok(doc)
    }
    /// Whether a read in a write transaction locks its rows (`SELECT ... FOR UPDATE`);
    /// not needed where the one writer holds the whole database.
    fn locks_rows(&self) -> bool {
        true
    }
    /// `org = ?` for a statement that also pins `id` (`id = ?`, `id IN (...)`), written
    /// so that the planner probes the primary key rather than an `(org, ...)` index.
    ///
    /// Without table statistics (a fresh database, a bulk load before the next `ANALYZE`,
    /// a server with autovacuum off) the planners otherwise prefer an `(org, ...)` index
    /// and scan the whole organization for every id: SQLite (200 ms per 500 ids at a
    /// million users) and PostgreSQL alike (a GET by id at 10,000 users was a scan of the
    /// organization's `(org, kind, last_modified)` index; 485 GETs/s instead of
    /// thousands). The plain term by default.
    fn org_beside_ids(&self, org_col: Expr, org: String) -> Result<Expr> {
        Ok(org_col.eq(org))
    }
    /// A scalar subquery, as text, of a user's live groups: a JSON array of
    /// `[group_id, display]` pairs, NULL without groups. Its three `?` are the
    /// organization, the user's id and `false` (live groups). `None`: the backend cannot
    /// aggregate them into text (the groups are read apart).
    fn groups_aggregate(&self) -> Option<&'static str> {
        None
    }
    /// Whether an index page that skips rows should pick its ids first and read the
    /// documents of those ids only (a "deferred join"). PostgreSQL and MySQL compute every
    /// output column, the document's text and the user's groups included, for each row an
    /// `OFFSET` skips; selecting ids walks only the `(org, kind, deleted, created, id)`
    /// index. SQLite skips rows before computing their columns.
    fn defers_page_rows(&self) -> bool {
        !self.embedded()
    }
    /// Whether the database runs data-modifying statements inside common table
    /// expressions, so several inserts go as one statement (one round trip, atomic on its
    /// own). PostgreSQL does; SQLite and MySQL do not.
    fn writes_in_one_statement(&self) -> bool {
        false
    }
    /// Whether change-log sequence numbers are handed out in commit order (one writer),
    /// so that an organization's last sequence number tells whether anything changed.
    fn sequence_in_commit_order(&self) -> bool {
        false
    }
    /// The SQL type a `CAST` to a 64-bit integer names (`SUM` of a `BIGINT` is a decimal
    /// on PostgreSQL and MySQL).
    fn integer_cast(&self) -> &'static str {
        "BIGINT"
    }
    /// The statement that reclaims the space of deleted and updated rows of the tables that
    /// churn, for when the database's own maintenance is off (see `Stats::maintain`).
    fn vacuum(&self) -> Option<&'static str> {
        None
    }
    /// The statement that refreshes the planner's statistics of the tables that grow,
    /// where the planner needs it (see `Stats::wrote`).
    fn refresh_statistics(&self) -> Option<&'static str> {
        None
    }
    /// The statement that marks the pages of newly inserted rows all-visible, where
    /// index-only scans need it to skip the table (see `Stats::wrote`, the vacuum after a
    /// burst of inserts).
    fn settle_new_rows(&self) -> Option<&'static str> {
        None
    }

    // ---- JSON documents --------------------------------------------------------------
    /// The JSON value at `keys` as text (strings unquoted, numbers and booleans as their
    /// JSON text); NULL when absent.
    fn json_text(&self, doc: Expr, keys: &[&str]) -> Result<Expr>;
    /// The JSON number at `keys` as a SQL number; NULL when absent or not a number.
    fn json_number(&self, doc: Expr, keys: &[&str]) -> Result<Expr>;
    /// RFC 7644 3.4.2.2 `pr`: the value at `keys` exists, is not null, not an empty
    /// string and not an empty array.
    fn json_present(&self, doc: Expr, keys: &[&str]) -> Result<Expr>;
    /// `EXISTS` over the elements of the JSON array at `keys`, with `cond` built over the
    /// element expression it is given.
    fn json_any(
        &self,
        doc: Expr,
        keys: &[&str],
        cond: &dyn Fn(Expr) -> Result<Expr>,
    ) -> Result<Expr>;
    /// The JSON object at `keys` (for `name[givenName eq "x"]`, where the object stands
    /// in for an element).
    fn json_object(&self, doc: Expr, keys: &[&str]) -> Result<Expr>;
    /// The text of a scalar array element (from [`Backend::json_any`]).
    fn element_text(&self, elem: Expr) -> Result<Expr>;
    /// Forces a case-sensitive comparison of a text expression.
    fn exact(&self, e: Expr) -> Result<Expr> {
        Ok(e)
    }
    /// A dateTime held as text in a document (RFC 3339, any offset, any fraction), as the
    /// stored form compares it: UTC with milliseconds (`2021-06-01T10:00:00.000Z`), so
    /// that text comparison orders instants as RFC 7644 3.4.2.2 asks. Documents are
    /// validated, so the text is a dateTime.
    fn date_time(&self, e: Expr) -> Result<Expr>;
    /// `LOWER(e)`.
    fn lower(&self, e: Expr) -> Result<Expr> {
        self.cust("LOWER(?)", vec![e])
    }
    /// `e LIKE pattern ESCAPE '!'`.
    fn like(&self, e: Expr, pattern: Expr) -> Result<Expr> {
        self.cust("(? LIKE ? ESCAPE '!')", vec![e, pattern])
    }
    /// `e` as a floating-point number.
    fn real_cast(&self, e: Expr) -> Result<Expr>;
}

/// What [`Backend::lock_migrations`] holds: a lock of the connection's session, or an
/// advisory lock of an open file, released when the file closes.
#[derive(Debug, Default)]
pub(crate) struct MigrationLock {
    file: Option<std::fs::File>,
}

impl MigrationLock {
    /// A lock held by the open file `f`.
    pub(crate) fn file(f: std::fs::File) -> MigrationLock {
        MigrationLock { file: Some(f) }
    }

    /// Releases a file lock without closing the file, and returns the file: the caller
    /// keeps it open (see `SqlStore::lock_files`).
    pub(crate) fn release_file(&mut self) -> Option<std::fs::File> {
        let f = self.file.take()?;
        if let Err(e) = f.unlock() {
            tracing::warn!(error = %e, "cannot release the migration lock of the SQLite file");
        }
        Some(f)
    }
}

/// Runs a statement whose rows do not matter.
pub(crate) async fn run(c: &DatabaseConnection, sql: &str) -> Result<()> {
    c.query_one_raw(Statement::from_string(c.get_database_backend(), sql.to_owned()))
        .await
        .map(|_| ())
        .map_err(super::outcome::db_err)
}

/// Checks that a JSON key (an attribute name or a schema URN from the registry) is safe to
/// quote inside a JSON path: no quotes, backslashes, brackets or control characters.
pub(crate) fn json_key(k: &str) -> Result<&str> {
    let ok = !k.is_empty()
        && k.bytes().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(c, b'-' | b'_' | b'.' | b':' | b'$' | b'/' | b'+' | b'~' | b'%')
        });
    if ok {
        Ok(k)
    } else {
        Err(StoreError::Scim(scim_core::ScimError::new(
            scim_core::ErrorCode::InvalidFilter,
            format!(
                "attribute '{}' cannot be used in a filter or sort",
                k.chars().take(80).collect::<String>()
            ),
        )))
    }
}

/// `$."a"."b"`: the JSON path syntax of SQLite and MySQL.
pub(crate) fn dollar_path(keys: &[&str]) -> Result<String> {
    let mut p = String::from("$");
    for k in keys {
        p.push_str(".\"");
        p.push_str(json_key(k)?);
        p.push('"');
    }
    Ok(p)
}

/// Escapes `%`, `_` and `!` for a `LIKE ... ESCAPE '!'` pattern.
pub(crate) fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    for c in s.chars() {
        if matches!(c, '%' | '_' | '!') {
            out.push('!');
        }
        out.push(c);
    }
    out
}
