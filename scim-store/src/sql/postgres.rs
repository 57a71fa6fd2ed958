//! PostgreSQL: `json` documents read with `json_extract_path`, `$n` placeholders, an
//! advisory lock around migrations, and planner statistics refreshed as the tables grow.

use super::backend::{Backend, MigrationLock, json_key, run};
use crate::Result;
use async_trait::async_trait;
use sea_orm::sea_query::{ColumnDef, Expr};
use sea_orm::{DatabaseConnection, DbBackend};

/// The advisory lock key of migrations (any constant the service owns).
const MIGRATION_LOCK: i64 = 0x5c1d_2c0a_0001;

/// PostgreSQL.
#[derive(Debug)]
pub(crate) struct Postgres;

/// `fun(doc, ?, ?)` with the keys bound (`json_extract_path`, `json_extract_path_text`):
/// the call's text and its arguments.
fn path(fun: &str, doc: Expr, keys: &[&str]) -> Result<(String, Vec<Expr>)> {
    let mut args = vec![doc];
    for k in keys {
        args.push(Expr::val(json_key(k)?.to_owned()));
    }
    let marks = vec!["?"; args.len()].join(", ");
    Ok((format!("{fun}({marks})"), args))
}

/// Whether a connection to `url` should not try TLS: the host is a loopback address
/// (`localhost`, `127.0.0.0/8`, `::1`) and neither the URL (`sslmode`, or a `host`
/// parameter naming another place) nor the environment (`env_mode`: `PGSSLMODE` is set)
/// chose a mode. The driver's default, `prefer`, takes TLS whenever the server offers it
/// (Debian's PostgreSQL does, with a self-signed certificate), and on a loopback
/// connection encryption protects nothing that leaves the host while costing both
/// processes CPU on every statement (a third of GET throughput in the load mix).
/// `prefer` never guaranteed TLS (it falls back to plain text); a deployment that needs
/// it says `sslmode=require` or stricter, which this leaves alone.
pub(crate) fn plain_on_loopback(url: &str, env_mode: bool) -> bool {
    if env_mode {
        return false;
    }
    let Some((_, rest)) = url.split_once("://") else { return false };
    let (authority_path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let chosen = query.split('&').any(|kv| {
        let key = kv.split_once('=').map_or(kv, |(k, _)| k).to_ascii_lowercase();
        matches!(key.as_str(), "sslmode" | "ssl-mode" | "host" | "hostaddr")
    });
    if chosen {
        return false;
    }
    let authority = authority_path.split_once('/').map_or(authority_path, |(a, _)| a);
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split_once(']').map_or("", |(h, _)| h),
        None => host_port.split_once(':').map_or(host_port, |(h, _)| h),
    };
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[async_trait]
impl Backend for Postgres {
    fn sea(&self) -> DbBackend {
        DbBackend::Postgres
    }

    fn schemes(&self) -> &'static [&'static str] {
        &["postgres", "postgresql"]
    }

    fn compiled(&self) -> bool {
        cfg!(feature = "postgres")
    }

    async fn lock_migrations(&self, c: &DatabaseConnection, _url: &str) -> Result<MigrationLock> {
        run(c, &format!("SELECT pg_advisory_lock({MIGRATION_LOCK})")).await?;
        Ok(MigrationLock::default())
    }

    async fn unlock_migrations(&self, c: &DatabaseConnection, _lock: MigrationLock) {
        let _ = run(c, &format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})")).await;
    }

    /// The pool size, and no TLS to a database on this host unless the URL or
    /// `PGSSLMODE` asks (see [`plain_on_loopback`]).
    fn configure(
        &self,
        co: &mut sea_orm::ConnectOptions,
        url: &str,
        max_connections: Option<u32>,
        _scan_timeout: Option<std::time::Duration>,
    ) {
        co.max_connections(max_connections.unwrap_or(10));
        let plain = plain_on_loopback(url, std::env::var_os("PGSSLMODE").is_some());
        #[cfg(feature = "postgres")]
        if plain {
            use sea_orm::sqlx::postgres::PgSslMode;
            co.map_sqlx_postgres_opts(|o| o.ssl_mode(PgSslMode::Disable));
        }
        #[cfg(not(feature = "postgres"))]
        let _ = plain;
    }

    fn document_column(&self, c: &mut ColumnDef) {
        c.json();
    }

    fn writes_in_one_statement(&self) -> bool {
        true
    }

    /// `?` renumbered to `$1`, `$2`, ...
    fn placeholders(&self, template: &str) -> String {
        let mut out = String::with_capacity(template.len() + 8);
        let mut n = 0;
        for c in template.chars() {
            if c == '?' {
                n += 1;
                out.push('$');
                out.push_str(&n.to_string());
            } else {
                out.push(c);
            }
        }
        out
    }

    fn doc_value(&self, text: String) -> Result<Expr> {
        self.cust("CAST(? AS json)", vec![Expr::val(text)])
    }

    fn doc_read(&self, doc: Expr) -> Result<Expr> {
        self.cust("CAST(? AS text)", vec![doc])
    }

    /// `org || '' = ?`: an expression, which no index serves.
    fn org_beside_ids(&self, org_col: Expr, org: String) -> Result<Expr> {
        self.cust("(? || '' = ?)", vec![org_col, Expr::val(org)])
    }

    fn groups_aggregate(&self) -> Option<&'static str> {
        Some(
            "(SELECT CAST(json_agg(json_build_array(m.group_id, g.display)) AS text) \
             FROM memberships m JOIN resources g ON g.id = m.group_id \
             WHERE m.org = ? AND m.member_id = ? AND g.deleted = ?)",
        )
    }

    /// PostgreSQL plans from statistics, and without them (a fresh database, a bulk load,
    /// a server with autovacuum off) it takes any `(org, ...)` index for a lookup and
    /// scans the organization.
    fn refresh_statistics(&self) -> Option<&'static str> {
        Some("ANALYZE resources, memberships, resource_emails")
    }

    /// A new row's page is not all-visible until a vacuum marks it, and until then an
    /// index-only walk (a page by `startIndex` skipping its offset in the `(org, kind,
    /// deleted, created, id)` index) visits the table for every entry: 5,100 heap fetches
    /// for `OFFSET 5000` right after 10,000 creates, none after a `VACUUM`. Autovacuum
    /// comes up to a minute after a bulk load; this comes when it ends.
    fn settle_new_rows(&self) -> Option<&'static str> {
        Some("VACUUM resources, memberships, resource_emails")
    }

    fn vacuum(&self) -> Option<&'static str> {
        Some(
            "VACUUM (ANALYZE) resources, resource_emails, memberships, change_log, \
             resource_counts, idempotency, event_streams, tokens",
        )
    }

    fn json_text(&self, doc: Expr, keys: &[&str]) -> Result<Expr> {
        let (t, a) = path("json_extract_path_text", doc, keys)?;
        self.cust(&t, a)
    }

    fn json_number(&self, doc: Expr, keys: &[&str]) -> Result<Expr> {
        let (j, mut a) = path("json_extract_path", doc.clone(), keys)?;
        let (t, a2) = path("json_extract_path_text", doc, keys)?;
        a.extend(a2);
        self.cust(
            &format!(
                "(CASE WHEN json_typeof({j}) = 'number' THEN CAST({t} AS DOUBLE PRECISION) END)"
            ),
            a,
        )
    }

    fn json_present(&self, doc: Expr, keys: &[&str]) -> Result<Expr> {
        let (j, mut a) = path("json_extract_path", doc.clone(), keys)?;
        let (t, a2) = path("json_extract_path_text", doc.clone(), keys)?;
        let (j3, a3) = path("json_extract_path", doc.clone(), keys)?;
        let (j4, a4) = path("json_extract_path", doc, keys)?;
        a.extend(a2);
        a.extend(a3);
        a.extend(a4);
        self.cust(
            &format!(
                "(COALESCE(json_typeof({j}), 'null') <> 'null' AND COALESCE({t}, 'x') <> '' \
                 AND (json_typeof({j3}) <> 'array' OR json_array_length({j4}) > 0))"
            ),
            a,
        )
    }

    fn json_any(
        &self,
        doc: Expr,
        keys: &[&str],
        cond: &dyn Fn(Expr) -> Result<Expr>,
    ) -> Result<Expr> {
        let (j, mut a) = path("json_extract_path", doc.clone(), keys)?;
        let (j2, a2) = path("json_extract_path", doc, keys)?;
        a.extend(a2);
        a.push(cond(Expr::cust("je.v"))?);
        self.cust(
            &format!(
                "EXISTS (SELECT 1 FROM json_array_elements(CASE WHEN json_typeof({j}) = 'array' \
                 THEN {j2} ELSE CAST('[]' AS json) END) AS je(v) WHERE ?)"
            ),
            a,
        )
    }

    fn json_object(&self, doc: Expr, keys: &[&str]) -> Result<Expr> {
        let mut args = vec![doc];
        args.extend(keys.iter().map(|k| Expr::val((*k).to_owned())));
        let marks = vec!["?"; args.len()].join(", ");
        self.cust(&format!("json_extract_path({marks})"), args)
    }

    fn element_text(&self, elem: Expr) -> Result<Expr> {
        self.cust("(? #>> '{}')", vec![elem])
    }

    fn date_time(&self, e: Expr) -> Result<Expr> {
        self.cust(
            "to_char(CAST(? AS timestamptz) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')",
            vec![e],
        )
    }

    fn real_cast(&self, e: Expr) -> Result<Expr> {
        self.cust("CAST(? AS DOUBLE PRECISION)", vec![e])
    }
}

#[cfg(test)]
mod tests {
    use super::plain_on_loopback;

    #[test]
    fn loopback_urls_without_a_chosen_mode_go_without_tls() {
        for url in [
            "postgres://postgres@127.0.0.1:5432/db",
            "postgres://u:p@localhost/db",
            "postgresql://LOCALHOST:5433",
            "postgres://u@127.8.9.10/db?application_name=scim",
            "postgres://u:p%40ss@[::1]:5432/db",
            "postgres://[::1]/db",
        ] {
            assert!(plain_on_loopback(url, false), "{url}");
        }
        for url in [
            "postgres://u@db.example.com/db",
            "postgres://u@10.0.0.5:5432/db",
            "postgres://u@127.0.0.1/db?sslmode=require",
            "postgres://u@localhost/db?application_name=a&SSLMODE=verify-full",
            "postgres://u@localhost/db?ssl-mode=prefer",
            "postgres://u@localhost/db?host=/var/run/postgresql",
            "postgres://u@[2001:db8::1]/db",
            "postgres:///db",
            "not a url",
        ] {
            assert!(!plain_on_loopback(url, false), "{url}");
        }
        assert!(!plain_on_loopback("postgres://u@127.0.0.1/db", true), "PGSSLMODE is set");
    }
}
