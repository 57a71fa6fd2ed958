//! What the workspace's tests, benches and `cargo xtask` share to reach real databases and
//! servers: a free port on 127.0.0.1, unique names, and fresh PostgreSQL and MariaDB
//! databases, created and dropped with the `psql` and `mariadb` clients (which `.ci/run`
//! installs with the servers).
//!
//! The servers are named by environment variables, each a URL without a database:
//! `SCIM_TEST_PG_URL` (default `postgres://postgres@127.0.0.1:5432`) and
//! `SCIM_TEST_MYSQL_URL` (default `mysql://root@127.0.0.1:3306`); a database at the end of
//! either is ignored.

#![allow(clippy::print_stdout)]

use std::net::TcpListener;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};

/// A port on 127.0.0.1 that was free a moment ago (0 when none could be bound).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(0)
}

/// `{prefix}_{pid}_{n}_{random}`: a database or file name no other test of any process
/// uses (lowercase letters, digits and `_`, so it needs no quoting in SQL).
pub fn unique_name(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let mut rnd = [0u8; 4];
    let _ = getrandom::fill(&mut rnd);
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}_{}_{n}_{}", std::process::id(), hex::encode(rnd))
}

/// A database server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    /// PostgreSQL, through `psql`.
    Postgres,
    /// MariaDB (or MySQL), through `mariadb` (or `mysql`).
    MySql,
}

impl Server {
    /// The server's URL without a database: its variable, or the local default.
    pub fn url(self) -> String {
        let (var, default) = match self {
            Server::Postgres => ("SCIM_TEST_PG_URL", "postgres://postgres@127.0.0.1:5432"),
            Server::MySql => ("SCIM_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306"),
        };
        server_part(&std::env::var(var).unwrap_or_else(|_| default.to_owned()))
    }

    /// A URL to run statements on the server itself: PostgreSQL's maintenance database
    /// `postgres`; MariaDB needs none.
    pub fn admin_url(self, server: &str) -> String {
        match self {
            Server::Postgres => format!("{}/postgres", server_part(server)),
            Server::MySql => server_part(server),
        }
    }

    /// Runs `sql` on `server` (a URL without a database); the first column of the first
    /// row of its result, if any.
    pub fn run(self, server: &str, sql: &str) -> Result<String, String> {
        Ok(self.query(server, sql)?.into_iter().next().unwrap_or_default())
    }

    /// Runs `sql` on `server`; the first column of each row of its result.
    pub fn query(self, server: &str, sql: &str) -> Result<Vec<String>, String> {
        self.query_in(server, None, sql)
    }

    /// Runs `sql` in `database` of `server` (on the server itself when `None`); the first
    /// column of each row of its result.
    pub fn query_in(
        self,
        server: &str,
        database: Option<&str>,
        sql: &str,
    ) -> Result<Vec<String>, String> {
        let out = match self {
            Server::Postgres => {
                // A password goes in the environment, never on the command line.
                let (bare, password) = without_password(server);
                let url = match database {
                    Some(db) => format!("{bare}/{db}"),
                    None => self.admin_url(&bare),
                };
                let mut cmd = Command::new("psql");
                cmd.args([&url, "-X", "-v", "ON_ERROR_STOP=1", "-qtA", "-c", sql]);
                if let Some(p) = password {
                    cmd.env("PGPASSWORD", p);
                }
                cmd.output()
            }
            Server::MySql => {
                let c = MySqlUrl::parse(server)?;
                let mut cmd = Command::new(mysql_client());
                cmd.args(["--protocol=TCP", "-h", &c.host, "-P", &c.port, "-u", &c.user]);
                cmd.args(["-N", "-B", "-e", sql]);
                if let Some(db) = database {
                    cmd.args(["-D", db]);
                }
                if let Some(p) = &c.password {
                    cmd.env("MYSQL_PWD", p);
                }
                cmd.output()
            }
        };
        let out = out.map_err(|e| {
            format!(
                "{self:?} client: {e}: install it, or narrow the run with SCIM_TEST_BACKENDS=sqlite"
            )
        })?;
        if out.status.success() {
            let text = String::from_utf8_lossy(&out.stdout);
            Ok(text
                .lines()
                .map(|l| l.split('\t').next().unwrap_or_default().trim().to_owned())
                .collect())
        } else {
            Err(format!(
                "{self:?} at {}: {sql}: {}; start it, or narrow the run with \
                 SCIM_TEST_BACKENDS=sqlite",
                without_password(server).0,
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    /// Creates the empty database `name` on `server` (dropping one of that name first);
    /// its URL.
    pub fn create_database(self, server: &str, name: &str) -> Result<String, String> {
        self.drop_database(server, name)?;
        self.run(server, &format!("CREATE DATABASE {name}"))?;
        Ok(format!("{}/{name}", server_part(server)))
    }

    /// Drops the database `name` on `server`, if it exists (PostgreSQL: whoever is still
    /// connected to it is disconnected).
    pub fn drop_database(self, server: &str, name: &str) -> Result<(), String> {
        let sql = match self {
            Server::Postgres => format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            Server::MySql => format!("DROP DATABASE IF EXISTS {name}"),
        };
        self.run(server, &sql).map(|_| ())
    }
}

impl Server {
    /// Drops the databases named `{prefix}_{pid}_...` ([`unique_name`]) whose process is
    /// gone: what killed or crashed test runs left behind.
    pub fn sweep_stale(self, server: &str, prefix: &str) {
        let list = match self {
            Server::Postgres => "SELECT datname FROM pg_database",
            Server::MySql => "SELECT schema_name FROM information_schema.schemata",
        };
        let Ok(names) = self.query(server, list) else { return };
        for name in names {
            let pid = name.strip_prefix(prefix).and_then(|r| r.strip_prefix('_'));
            let pid = pid.and_then(|r| r.split('_').next()).and_then(|p| p.parse::<u32>().ok());
            let plain = name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_');
            if let Some(pid) = pid
                && plain
                && !std::path::Path::new("/proc").join(pid.to_string()).exists()
            {
                let _ = self.drop_database(server, &name);
            }
        }
    }
}

/// A fresh database on a server, dropped when the value is.
#[derive(Debug)]
pub struct FreshDb {
    /// Its URL.
    pub url: String,
    /// Its name.
    pub name: String,
    server: Server,
    server_url: String,
}

impl FreshDb {
    /// A new empty database on `server` (at [`Server::url`]), named after `prefix`.
    pub fn new(server: Server, prefix: &str) -> Result<FreshDb, String> {
        Self::on(server, &server.url(), prefix)
    }

    /// A new empty database on `server` at `server_url`, named after `prefix`.
    pub fn on(server: Server, server_url: &str, prefix: &str) -> Result<FreshDb, String> {
        let name = unique_name(prefix);
        let url = server.create_database(server_url, &name)?;
        Ok(FreshDb { url, name, server, server_url: server_part(server_url) })
    }

    /// The server it is on.
    pub fn server(&self) -> Server {
        self.server
    }

    /// The server's URL, without a database.
    pub fn server_url(&self) -> &str {
        &self.server_url
    }

    /// Runs `sql` in this database; the first column of the first row of its result.
    pub fn run(&self, sql: &str) -> Result<String, String> {
        let rows = self.server.query_in(&self.server_url, Some(&self.name), sql)?;
        Ok(rows.into_iter().next().unwrap_or_default())
    }
}

impl Drop for FreshDb {
    fn drop(&mut self) {
        let _ = self.server.drop_database(&self.server_url, &self.name);
    }
}

/// `scheme://authority` of a database URL (its database and parameters left out).
fn server_part(url: &str) -> String {
    let url = url.trim_end_matches('/');
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let authority = rest.split(['/', '?']).next().unwrap_or(rest);
            format!("{scheme}://{authority}")
        }
        None => url.to_owned(),
    }
}

/// `server` without the password of its user info, and that password, percent-decoded.
fn without_password(server: &str) -> (String, Option<String>) {
    let server = server_part(server);
    let Some((scheme, rest)) = server.split_once("://") else { return (server, None) };
    let Some((userinfo, host)) = rest.rsplit_once('@') else { return (server, None) };
    match userinfo.split_once(':') {
        Some((user, password)) => {
            (format!("{scheme}://{user}@{host}"), Some(percent_decode(password)))
        }
        None => (server, None),
    }
}

/// `%XX` escapes decoded (anything else kept as it is).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (b[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The MariaDB client's name: `mariadb`, or `mysql` where only that exists.
/// (Looked up once per process.)
fn mysql_client() -> &'static str {
    static CLIENT: std::sync::OnceLock<&'static str> = std::sync::OnceLock::new();
    CLIENT.get_or_init(|| {
        let has = |c: &str| Command::new(c).arg("--version").output().is_ok();
        if has("mariadb") { "mariadb" } else { "mysql" }
    })
}

/// The parts of `mysql://user[:password]@host[:port]` the client takes as flags.
struct MySqlUrl {
    user: String,
    password: Option<String>,
    host: String,
    port: String,
}

impl MySqlUrl {
    fn parse(url: &str) -> Result<MySqlUrl, String> {
        let bad = || format!("not a mysql://user@host:port URL: {url}");
        let rest = server_part(url);
        let rest = rest.split_once("://").map(|(_, r)| r.to_owned()).ok_or_else(bad)?;
        let (userinfo, hostport) = rest.rsplit_once('@').ok_or_else(bad)?;
        let (user, password) = match userinfo.split_once(':') {
            Some((u, p)) => (u.to_owned(), Some(percent_decode(p))),
            None => (userinfo.to_owned(), None),
        };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), p.to_owned()),
            None => (hostport.to_owned(), "3306".to_owned()),
        };
        Ok(MySqlUrl { user, password, host, port })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_database() {
        assert_eq!(server_part("postgres://p@h:5432/postgres"), "postgres://p@h:5432");
        assert_eq!(server_part("mysql://root@h:3306/"), "mysql://root@h:3306");
        assert_eq!(server_part("mysql://root@h:3306?x=1"), "mysql://root@h:3306");
        let c = MySqlUrl::parse("mysql://u:s3cret@db.local:3307/x").unwrap();
        assert_eq!((c.user.as_str(), c.password.as_deref()), ("u", Some("s3cret")));
        assert_eq!((c.host.as_str(), c.port.as_str()), ("db.local", "3307"));
        assert_eq!(Server::Postgres.admin_url("postgres://p@h:1"), "postgres://p@h:1/postgres");
        let (bare, password) = without_password("postgres://u:a%2Fb%25@h:5432/db");
        assert_eq!((bare.as_str(), password.as_deref()), ("postgres://u@h:5432", Some("a/b%")));
        assert_eq!(without_password("postgres://u@h:1").1, None);
    }

    #[test]
    fn names_are_unique_and_plain() {
        let (a, b) = (unique_name("t"), unique_name("t"));
        assert_ne!(a, b);
        assert!(a.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_'));
        assert_ne!(free_port(), 0);
    }
}
