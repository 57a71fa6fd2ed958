//! MySQL and MariaDB: documents as `LONGTEXT` read with `JSON_EXTRACT`, binary collations,
//! a named lock around migrations, and the statement time limit set per session.

use super::backend::{Backend, MigrationLock, dollar_path};
use crate::{Result, StoreError};
use async_trait::async_trait;
use sea_orm::sea_query::{ColumnDef, Expr, TableCreateStatement};
use sea_orm::{ConnectOptions, ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use std::time::Duration;

/// The named lock of migrations.
const MIGRATION_LOCK: &str = "scim-migrations";
/// How long a process waits for another's migrations, in seconds.
const LOCK_WAIT_SECS: u32 = 600;

/// MySQL and MariaDB.
#[derive(Debug)]
pub(crate) struct MySql;

#[async_trait]
impl Backend for MySql {
    fn sea(&self) -> DbBackend {
        DbBackend::MySql
    }
    fn integer_cast(&self) -> &'static str {
        "SIGNED"
    }

    fn schemes(&self) -> &'static [&'static str] {
        &["mysql", "mariadb"]
    }

    /// `mariadb://` is an alias of `mysql://`.
    fn driver_url(&self, url: &str) -> String {
        match url.strip_prefix("mariadb://") {
            Some(rest) => format!("mysql://{rest}"),
            None => url.to_owned(),
        }
    }

    fn compiled(&self) -> bool {
        cfg!(feature = "mysql")
    }

    /// A statement still running past the request's own timeout is stopped by the
    /// database: MariaDB's `max_statement_time`, MySQL's `max_execution_time`, set on
    /// each connection.
    fn configure(
        &self,
        co: &mut ConnectOptions,
        _url: &str,
        max_connections: Option<u32>,
        scan_timeout: Option<Duration>,
    ) {
        #[cfg(feature = "mysql")]
        if let Some(limit) = scan_timeout {
            co.map_sqlx_mysql_pool_opts(move |o| {
                o.after_connect(move |c, _| {
                    Box::pin(async move {
                        use sea_orm::sqlx::{AssertSqlSafe, Executor as _};
                        let mariadb =
                            format!("SET SESSION max_statement_time = {}", limit.as_secs_f64());
                        let mysql =
                            format!("SET SESSION max_execution_time = {}", limit.as_millis());
                        if c.execute(AssertSqlSafe(mariadb)).await.is_err() {
                            let _ = c.execute(AssertSqlSafe(mysql)).await;
                        }
                        Ok(())
                    })
                })
            });
        }
        #[cfg(not(feature = "mysql"))]
        let _ = scan_timeout;
        co.max_connections(max_connections.unwrap_or(10));
    }

    async fn lock_migrations(&self, c: &DatabaseConnection, _url: &str) -> Result<MigrationLock> {
        let got = c
            .query_one_raw(Statement::from_string(
                c.get_database_backend(),
                format!("SELECT GET_LOCK('{MIGRATION_LOCK}', {LOCK_WAIT_SECS}) AS l"),
            ))
            .await
            .map_err(super::outcome::db_err)?
            .and_then(|r| r.try_get::<Option<i64>>("", "l").ok().flatten());
        if got != Some(1) {
            return Err(StoreError::Unavailable(format!(
                "another process held the migration lock for over {LOCK_WAIT_SECS} s"
            )));
        }
        Ok(MigrationLock::default())
    }

    async fn unlock_migrations(&self, c: &DatabaseConnection, _lock: MigrationLock) {
        let _ = super::backend::run(c, &format!("SELECT RELEASE_LOCK('{MIGRATION_LOCK}')")).await;
    }

    /// Binary collation: comparisons are case-sensitive as on the other backends.
    fn table_options(&self, t: &mut TableCreateStatement) {
        t.character_set("utf8mb4").collate("utf8mb4_bin");
    }

    fn long_text(&self, c: &mut ColumnDef) {
        c.custom("LONGTEXT");
    }

    fn document_column(&self, c: &mut ColumnDef) {
        c.custom("LONGTEXT");
    }

    // MySQL always takes a primary-key equality as a constant lookup: the plain
    // `org_beside_ids` term. Its JSON aggregates come back in a type the driver does not
    // read as text: no `groups_aggregate`.

    fn json_text(&self, doc: Expr, keys: &[&str]) -> Result<Expr> {
        let p = dollar_path(keys)?;
        self.cust("JSON_UNQUOTE(JSON_EXTRACT(?, ?))", vec![doc, Expr::val(p)])
    }

    fn json_number(&self, doc: Expr, keys: &[&str]) -> Result<Expr> {
        let p = dollar_path(keys)?;
        self.cust(
            "(CASE WHEN JSON_TYPE(JSON_EXTRACT(?, ?)) IN ('INTEGER', 'DOUBLE', 'DECIMAL', 'UNSIGNED INTEGER') \
             THEN CAST(JSON_UNQUOTE(JSON_EXTRACT(?, ?)) AS DOUBLE) END)",
            vec![doc.clone(), Expr::val(p.clone()), doc, Expr::val(p)],
        )
    }

    fn json_present(&self, doc: Expr, keys: &[&str]) -> Result<Expr> {
        let p = dollar_path(keys)?;
        let v = || Expr::val(p.clone());
        self.cust(
            "(COALESCE(JSON_TYPE(JSON_EXTRACT(?, ?)), 'NULL') <> 'NULL' \
             AND COALESCE(JSON_UNQUOTE(JSON_EXTRACT(?, ?)), 'x') <> '' \
             AND COALESCE(JSON_TYPE(JSON_EXTRACT(?, ?)) <> 'ARRAY' OR JSON_LENGTH(?, ?) > 0, 0))",
            vec![doc.clone(), v(), doc.clone(), v(), doc.clone(), v(), doc, v()],
        )
    }

    fn json_any(
        &self,
        doc: Expr,
        keys: &[&str],
        cond: &dyn Fn(Expr) -> Result<Expr>,
    ) -> Result<Expr> {
        // JSON_TABLE's path must be a literal; json_key() vetted every key.
        let p = dollar_path(keys)?;
        let c = cond(Expr::cust("je.v"))?;
        self.cust(
            &format!(
                "EXISTS (SELECT 1 FROM JSON_TABLE(?, '{p}[*]' COLUMNS (v JSON PATH '$')) AS je WHERE ?)"
            ),
            vec![doc, c],
        )
    }

    fn json_object(&self, doc: Expr, keys: &[&str]) -> Result<Expr> {
        self.cust("JSON_EXTRACT(?, ?)", vec![doc, Expr::val(dollar_path(keys)?)])
    }

    fn element_text(&self, elem: Expr) -> Result<Expr> {
        self.cust("JSON_UNQUOTE(?)", vec![elem])
    }

    /// MySQL collations are case-insensitive by default.
    fn exact(&self, e: Expr) -> Result<Expr> {
        self.cust("(CONVERT(? USING utf8mb4) COLLATE utf8mb4_bin)", vec![e])
    }

    // No offsets in MySQL's datetime literals (MariaDB): split the offset off and convert
    // with it (numeric offsets need no time zone tables).
    fn date_time(&self, e: Expr) -> Result<Expr> {
        self.cust(
            "CONCAT(SUBSTRING(DATE_FORMAT(CONVERT_TZ(CAST(REPLACE(CASE WHEN RIGHT(?, 1) IN ('Z', 'z') \
             THEN LEFT(?, CHAR_LENGTH(?) - 1) ELSE LEFT(?, CHAR_LENGTH(?) - 6) END, 'T', ' ') \
             AS DATETIME(3)), CASE WHEN RIGHT(?, 1) IN ('Z', 'z') THEN '+00:00' ELSE RIGHT(?, 6) END, \
             '+00:00'), '%Y-%m-%dT%H:%i:%s.%f'), 1, 23), 'Z')",
            vec![e; 7],
        )
    }

    fn lower(&self, e: Expr) -> Result<Expr> {
        self.cust("LOWER(CONVERT(? USING utf8mb4) COLLATE utf8mb4_bin)", vec![e])
    }

    fn real_cast(&self, e: Expr) -> Result<Expr> {
        self.cust("CAST(? AS DOUBLE)", vec![e])
    }
}
