//! The `admin backup` and `admin restore-backup` commands (`docs/operations.md`): an online
//! copy of an SQLite database and its restore, through `scim_store::backup`; for PostgreSQL
//! and MySQL, the commands of their own tools, since their dumps are theirs to make.

use super::{Missing, open_store, print_json, say};
use anyhow::Context as _;
use scim_server::config::{Config, load_registry, redact_url};
use scim_store::backup::{self, Snapshot};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// `--json` output of both commands.
#[derive(Debug, Serialize)]
struct Out {
    /// The file written (the backup, or the restored database).
    file: PathBuf,
    /// Its size in bytes.
    bytes: u64,
    /// `PRAGMA integrity_check` passed.
    integrity: &'static str,
    /// The migrations the backup had.
    migrations: Vec<String>,
    /// The migrations applied after restoring (restore only).
    #[serde(skip_serializing_if = "Option::is_none")]
    applied: Option<Vec<String>>,
}

impl Out {
    fn new(s: Snapshot, applied: Option<Vec<String>>) -> Self {
        Self { file: s.path, bytes: s.bytes, integrity: "ok", migrations: s.migrations, applied }
    }
}

/// The SQLite file of the configured database, or the guidance for the other backends.
fn sqlite_file(config: &Config, restore: bool) -> anyhow::Result<PathBuf> {
    if let Some(path) = scim_store::sqlite_path(&config.database_url) {
        return Ok(path);
    }
    let url = &config.database_url;
    if url.starts_with("sqlite:") {
        anyhow::bail!("an in-memory SQLite database has nothing to back up or restore");
    }
    anyhow::bail!("{}", guidance(url, restore))
}

/// What to run instead on PostgreSQL and MySQL/MariaDB.
fn guidance(url: &str, restore: bool) -> String {
    let shown = redact_url(url);
    let scheme = url.split("://").next().unwrap_or_default();
    let (user, host, port, db) = parts(url);
    match scheme {
        "postgres" | "postgresql" if restore => format!(
            "admin restore-backup works on SQLite only. On PostgreSQL ({shown}), stop the \
             servers, restore a pg_dump archive with PostgreSQL's own tool, then apply any \
             newer migrations:\n  pg_restore --clean --if-exists --no-owner --dbname '{shown}' scim.dump\n  \
             scim-server migrate"
        ),
        "postgres" | "postgresql" => format!(
            "admin backup works on SQLite only. On PostgreSQL ({shown}), pg_dump makes a \
             consistent online copy (one transaction) while the servers run:\n  \
             pg_dump --format=custom --file scim.dump '{shown}'"
        ),
        "mysql" | "mariadb" if restore => format!(
            "admin restore-backup works on SQLite only. On MySQL/MariaDB ({shown}), stop the \
             servers, load a mysqldump file with the mysql client, then apply any newer \
             migrations:\n  mysql --host {host} --port {port} --user {user} -p {db} < scim.sql\n  \
             scim-server migrate"
        ),
        "mysql" | "mariadb" => format!(
            "admin backup works on SQLite only. On MySQL/MariaDB ({shown}), mysqldump makes a \
             consistent online copy of InnoDB tables (one transaction) while the servers run:\n  \
             mysqldump --single-transaction --host {host} --port {port} --user {user} -p {db} > scim.sql"
        ),
        _ => format!("admin backup and restore-backup work on SQLite only, not on {shown}"),
    }
}

/// User, host, port and database of `scheme://user:pw@host:port/db?...`, with the
/// backend's default port.
fn parts(url: &str) -> (String, String, String, String) {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let (authority, tail) = rest.split_once('/').unwrap_or((rest, ""));
    let (userinfo, hostport) = authority.rsplit_once('@').unwrap_or(("", authority));
    let user = userinfo.split(':').next().filter(|u| !u.is_empty()).unwrap_or("scim");
    let default_port = if scheme.starts_with("postgres") { "5432" } else { "3306" };
    let (host, port) = match hostport.rsplit_once(':') {
        // `[::1]` alone has colons but no port.
        Some((h, p)) if !p.ends_with(']') => (h, p),
        _ => (hostport, default_port),
    };
    let db = tail.split('?').next().filter(|d| !d.is_empty()).unwrap_or("scim");
    let host = if host.is_empty() { "localhost" } else { host };
    (user.to_owned(), host.to_owned(), port.to_owned(), db.to_owned())
}

/// `admin backup FILE [--force]`.
pub(crate) async fn backup(
    config: &Config,
    file: &Path,
    force: bool,
    json: bool,
) -> anyhow::Result<()> {
    let source = sqlite_file(config, false)?;
    let (src, dest) = (source.clone(), file.to_owned());
    let snapshot = tokio::task::spawn_blocking(move || backup::create(&src, &dest, force))
        .await
        .context("the backup task failed")??;
    if json {
        return print_json(&Out::new(snapshot, None));
    }
    say(&format!(
        "backed up {} to {} ({} bytes, integrity ok, {} migrations)",
        source.display(),
        snapshot.path.display(),
        snapshot.bytes,
        snapshot.migrations.len()
    ))
}

/// `admin restore-backup FILE`: replaces the configured SQLite database with the backup,
/// then applies the migrations it lacks.
pub(crate) async fn restore(config: &Config, file: &Path, json: bool) -> anyhow::Result<()> {
    let target = sqlite_file(config, true)?;
    let (from, to) = (file.to_owned(), target.clone());
    let snapshot = tokio::task::spawn_blocking(move || backup::restore(&from, &to))
        .await
        .context("the restore task failed")??;
    let pending = snapshot.pending.clone();
    let registry = Arc::new(load_registry(config.schema_dir.as_deref())?);
    // The restored file now exists: open it as the admin commands do, and migrate.
    let store = open_store(config, registry, Missing::Refuse, true)
        .await
        .context("the backup was restored, but applying its pending migrations failed")?;
    drop(store);
    if json {
        return print_json(&Out::new(snapshot, Some(pending)));
    }
    say(&format!(
        "restored {} from {} ({} bytes, integrity ok); migrations applied: {}",
        target.display(),
        file.display(),
        snapshot.bytes,
        if pending.is_empty() { "none".to_owned() } else { pending.join(", ") }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guidance_names_the_tools_without_the_password() {
        let pg = guidance("postgres://scim:secret@db:5433/scim", false);
        assert!(pg.contains("pg_dump --format=custom --file scim.dump"), "{pg}");
        assert!(!pg.contains("secret"), "{pg}");
        let my = guidance("mysql://app:pw@db/scimdb", true);
        assert!(my.contains("mysql --host db --port 3306 --user app -p scimdb < scim.sql"), "{my}");
        assert!(!my.contains(":pw@"), "{my}");
    }
}
