//! SQLite's [`Backend`]: JSON1 functions, a file lock around migrations, and the options of
//! an SQLite database opened through sqlx (an in-memory one).

use crate::Result;
use crate::StoreError;
use crate::sql::backend::{Backend, MigrationLock, dollar_path};
use async_trait::async_trait;
use sea_orm::sea_query::Expr;
use sea_orm::{ConnectOptions, DatabaseConnection, DbBackend};
use std::time::Duration;

/// SQLite.
#[derive(Debug)]
pub(crate) struct Sqlite;

/// Waits for an exclusive advisory lock on the SQLite file `path` (on a blocking thread).
async fn lock_file(path: std::path::PathBuf) -> Result<std::fs::File> {
    tokio::task::spawn_blocking(move || {
        let f = std::fs::OpenOptions::new().read(true).write(true).open(&path)?;
        f.lock()?;
        Ok::<_, std::io::Error>(f)
    })
    .await
    .map_err(|e| StoreError::Internal(e.to_string()))?
    .map_err(|e| StoreError::Internal(format!("cannot lock the database file: {e}")))
}

#[async_trait]
impl Backend for Sqlite {
    fn sea(&self) -> DbBackend {
        DbBackend::Sqlite
    }

    fn schemes(&self) -> &'static [&'static str] {
        &["sqlite"]
    }

    fn compiled(&self) -> bool {
        cfg!(feature = "sqlite")
    }

    /// WAL, `synchronous=NORMAL`, a 5 s busy timeout, foreign keys and case-sensitive
    /// `LIKE` on every connection; an in-memory database lives in its one connection.
    fn configure(
        &self,
        co: &mut ConnectOptions,
        url: &str,
        max_connections: Option<u32>,
        _scan_timeout: Option<Duration>,
    ) {
        if url.contains(":memory:") || url.contains("mode=memory") {
            // The database lives in its one connection: never let the pool drop it.
            co.max_connections(1).min_connections(1).idle_timeout(None).max_lifetime(None);
        } else {
            co.max_connections(max_connections.unwrap_or(4));
        }
        #[cfg(feature = "sqlite")]
        co.map_sqlx_sqlite_opts(|o| {
            use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(5))
                .foreign_keys(true)
                // LIKE must honour case for caseExact attributes (and can then use indexes).
                .pragma("case_sensitive_like", "ON")
        });
    }

    fn embedded(&self) -> bool {
        true
    }

    /// An advisory lock on the database file itself (`flock`, which SQLite's own `fcntl`
    /// locks do not see); none for an in-memory database, this process's alone.
    async fn lock_migrations(&self, _c: &DatabaseConnection, url: &str) -> Result<MigrationLock> {
        Ok(match super::sqlite_path(url) {
            Some(path) => MigrationLock::file(lock_file(path).await?),
            None => MigrationLock::default(),
        })
    }

    /// The one writer holds the whole database.
    fn locks_rows(&self) -> bool {
        false
    }

    /// `+org = ?`: the unary `+` keeps the column out of index selection.
    fn org_beside_ids(&self, org_col: Expr, org: String) -> Result<Expr> {
        self.cust("(+? = ?)", vec![org_col, Expr::val(org)])
    }

    fn groups_aggregate(&self) -> Option<&'static str> {
        Some(
            "(SELECT json_group_array(json_array(m.group_id, g.display)) \
             FROM memberships m JOIN resources g ON g.id = m.group_id \
             WHERE m.org = ? AND m.member_id = ? AND g.deleted = ?)",
        )
    }

    /// One writer hands sequence numbers out in commit order.
    fn sequence_in_commit_order(&self) -> bool {
        true
    }

    fn json_text(&self, doc: Expr, keys: &[&str]) -> Result<Expr> {
        // json_extract turns booleans into 1/0: read their type name instead.
        let p = dollar_path(keys)?;
        self.cust(
            "(CASE json_type(?, ?) WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' \
             ELSE CAST(json_extract(?, ?) AS TEXT) END)",
            vec![doc.clone(), Expr::val(p.clone()), doc, Expr::val(p)],
        )
    }

    fn json_number(&self, doc: Expr, keys: &[&str]) -> Result<Expr> {
        let p = dollar_path(keys)?;
        self.cust(
            "(CASE WHEN json_type(?, ?) IN ('integer', 'real') THEN CAST(json_extract(?, ?) AS REAL) END)",
            vec![doc.clone(), Expr::val(p.clone()), doc, Expr::val(p)],
        )
    }

    fn json_present(&self, doc: Expr, keys: &[&str]) -> Result<Expr> {
        let p = dollar_path(keys)?;
        let v = || Expr::val(p.clone());
        self.cust(
            "(COALESCE(json_type(?, ?), 'null') <> 'null' \
             AND COALESCE(CAST(json_extract(?, ?) AS TEXT), 'x') <> '' \
             AND COALESCE(json_type(?, ?) <> 'array' OR json_array_length(?, ?) > 0, 0))",
            vec![doc.clone(), v(), doc.clone(), v(), doc.clone(), v(), doc, v()],
        )
    }

    fn json_any(
        &self,
        doc: Expr,
        keys: &[&str],
        cond: &dyn Fn(Expr) -> Result<Expr>,
    ) -> Result<Expr> {
        let p = dollar_path(keys)?;
        let c = cond(Expr::cust("je.value"))?;
        self.cust(
            "EXISTS (SELECT 1 FROM json_each(?, ?) AS je WHERE json_type(?, ?) = 'array' AND ?)",
            vec![doc.clone(), Expr::val(p.clone()), doc, Expr::val(p), c],
        )
    }

    fn json_object(&self, doc: Expr, keys: &[&str]) -> Result<Expr> {
        self.cust("json_extract(?, ?)", vec![doc, Expr::val(dollar_path(keys)?)])
    }

    fn element_text(&self, elem: Expr) -> Result<Expr> {
        self.cust(
            "(CASE je.type WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' ELSE CAST(? AS TEXT) END)",
            vec![elem],
        )
    }

    fn date_time(&self, e: Expr) -> Result<Expr> {
        self.cust("strftime('%Y-%m-%dT%H:%M:%fZ', ?)", vec![e])
    }

    fn real_cast(&self, e: Expr) -> Result<Expr> {
        self.cust("CAST(? AS REAL)", vec![e])
    }
}
