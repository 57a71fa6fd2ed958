//! `cargo xtask conformance [--backend sqlite|postgres|all] [--family rfc|org|all]`: the
//! external SCIM 2.0 testers against a freshly started `scim-server`.
//!
//! For each backend it starts the debug `scim-server` on a fresh database (a SQLite file in a
//! temporary directory under the target directory, or a new PostgreSQL database that is
//! dropped afterwards), on a free loopback port, with a random `SCIM_BOOTSTRAP_TOKEN`. It
//! then runs `conformance/run.py` (scim2-tester, `scim2 test`, a scim2-cli CRUD walk and
//! scim-sanity in strict and compat mode, pinned in `conformance/requirements.txt` and
//! installed into a venv under the target directory) against each route family:
//! `/scim/v2` (RFC base, organization from the credential) and
//! `/Organizations/{sid}/scim` for the bootstrap organization `default`.
//!
//! Failing checks listed in `conformance/known-deviations.txt` (each with the RFC 7643/7644
//! section that shows the tester wrong) do not count as failures. The command fails when any
//! tester reports a failure or a run could not be set up. Reports go to
//! `target/conformance/report/<backend>-<family>/`, the server's log beside them.
//!
//! Needs `python3` with `venv` and pip access to the package registry on the first run, and
//! for PostgreSQL `psql` reaching a server (`PGHOST`, default `127.0.0.1`; `PGPORT`, default
//! `5432`; `PGUSER`, default `postgres`; `PGPASSWORD` if it asks for one). The server is
//! always stopped, also when a step fails. No network crates: HTTP is a raw `GET /healthz`.

use crate::flags::Flags;
use crate::spawn::{self, DatabaseUrl, ScimServer, TempSqlite};
use crate::venv::{self, Wants};
use anyhow::{Context, Result, bail};
use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const USAGE: &str =
    "usage: cargo xtask conformance [--backend sqlite|postgres|all] [--family rfc|org|all]";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    /// RFC base `/scim/v2`.
    Rfc,
    /// Organization-scoped `/Organizations/{sid}/scim`.
    Org,
}

impl Family {
    fn name(self) -> &'static str {
        match self {
            Family::Rfc => "rfc",
            Family::Org => "org",
        }
    }
}

#[derive(Debug)]
struct Options {
    backends: Vec<Backend>,
    families: Vec<Family>,
}

fn parse_options(args: &[String]) -> Result<Options> {
    let mut opts = Options {
        backends: vec![Backend::Sqlite, Backend::Postgres],
        families: vec![Family::Rfc, Family::Org],
    };
    let mut args = Flags::new(args);
    while let Some(flag) = args.next()? {
        match flag {
            "--backend" => {
                opts.backends = match args.value()? {
                    "sqlite" => vec![Backend::Sqlite],
                    "postgres" => vec![Backend::Postgres],
                    "all" => vec![Backend::Sqlite, Backend::Postgres],
                    other => bail!("unknown backend '{other}' (expected sqlite, postgres or all)"),
                }
            }
            "--family" => {
                opts.families = match args.value()? {
                    "rfc" => vec![Family::Rfc],
                    "org" => vec![Family::Org],
                    "all" => vec![Family::Rfc, Family::Org],
                    other => bail!("unknown family '{other}' (expected rfc, org or all)"),
                }
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument '{other}'; {USAGE}"),
        }
    }
    Ok(opts)
}

/// One tester's line from `run.py`: `name: P passed, F failed, S skipped[ (K known deviations)]`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TesterLine {
    name: String,
    passed: u32,
    failed: u32,
    skipped: u32,
    known: u32,
}

fn parse_tester_line(line: &str) -> Option<TesterLine> {
    let (name, rest) = line.trim().split_once(": ")?;
    if name.is_empty() || name.contains(char::is_whitespace) {
        return None;
    }
    let (counts, known) = match rest.split_once(" (") {
        Some((c, k)) => {
            let k = k.strip_suffix(" known deviations)")?.parse().ok()?;
            (c, k)
        }
        None => (rest, 0),
    };
    let mut nums = [0u32; 3];
    let labels = ["passed", "failed", "skipped"];
    let parts: Vec<&str> = counts.split(", ").collect();
    if parts.len() != 3 {
        return None;
    }
    for (i, part) in parts.iter().enumerate() {
        let (n, label) = part.split_once(' ')?;
        if label != labels[i] {
            return None;
        }
        nums[i] = n.parse().ok()?;
    }
    Some(TesterLine {
        name: name.to_string(),
        passed: nums[0],
        failed: nums[1],
        skipped: nums[2],
        known,
    })
}

/// What one backend/family run produced.
#[derive(Debug)]
struct RunResult {
    backend: Backend,
    family: Option<Family>,
    testers: Vec<TesterLine>,
    error: Option<String>,
}

impl RunResult {
    fn failed(&self) -> bool {
        self.error.is_some() || self.testers.iter().any(|t| t.failed > 0)
    }
}

/// Entry point of `cargo xtask conformance`.
pub(crate) fn run(args: &[String]) -> Result<()> {
    let opts = parse_options(args)?;
    let root = super::root();
    let target = super::target_dir();
    let server_bin = spawn::build_server()?;
    // The testers, made or remade when `conformance/requirements.txt` changes.
    let venv = target.join("conformance-venv");
    let requirements = root.join("conformance").join("requirements.txt");
    let announce = format!("conformance: preparing the testers' venv in {}", venv.display());
    let python = venv::ensure(&venv, Wants::File(&requirements), "python", &announce)?;

    let out_dir = target.join("conformance");
    let report_root = out_dir.join("report");
    if report_root.exists() {
        fs::remove_dir_all(&report_root)
            .with_context(|| format!("removing {}", report_root.display()))?;
    }
    fs::create_dir_all(&report_root)?;

    let ctx =
        Ctx { root: root.clone(), out_dir, report_root: report_root.clone(), server_bin, python };
    let mut results = Vec::new();
    for &backend in &opts.backends {
        results.extend(ctx.run_backend(backend, &opts.families));
    }

    println!("\n{}", summary_table(&results));
    for r in results.iter().filter(|r| r.failed()) {
        if let Some(family) = r.family {
            let dir = report_root.join(format!("{}-{}", r.backend.name(), family.name()));
            let checks = failed_checks(&dir.join("summary.txt"));
            if !checks.is_empty() {
                println!("failed in {}/{}: {}", r.backend.name(), family.name(), checks.join("; "));
            }
        }
    }
    println!("reports: {}", report_root.display());
    let failed: Vec<String> = results
        .iter()
        .filter(|r| r.failed())
        .map(|r| format!("{}/{}", r.backend.name(), r.family.map_or("setup", Family::name)))
        .collect();
    if !failed.is_empty() {
        bail!("conformance failures in {}", failed.join(", "));
    }
    println!("conformance: no failures");
    Ok(())
}

/// The distinct `tester: check` names that `run.py`'s summary.txt lists as failed.
fn failed_checks(summary: &Path) -> Vec<String> {
    failed_checks_in(&fs::read_to_string(summary).unwrap_or_default())
}

fn failed_checks_in(summary: &str) -> Vec<String> {
    let mut tester = "";
    let mut out: Vec<String> = Vec::new();
    for line in summary.lines() {
        let head = line.split("  [").next().unwrap_or(line);
        if let Some(t) = parse_tester_line(head) {
            tester = line.get(..t.name.len()).unwrap_or_default();
        } else if let Some(check) = line.strip_prefix("  FAIL ") {
            let entry = format!("{tester}: {check}");
            if !out.contains(&entry) {
                out.push(entry);
            }
        }
    }
    out
}

struct Ctx {
    root: PathBuf,
    out_dir: PathBuf,
    report_root: PathBuf,
    server_bin: PathBuf,
    python: PathBuf,
}

/// A fresh database for one backend, removed on drop.
enum Database {
    Sqlite(TempSqlite),
    /// A fresh database, dropped with the value; whether its URL holds a password.
    Postgres {
        db: scim_test_support::FreshDb,
        password: bool,
    },
}

impl Database {
    /// How `scim-server` gets the URL: `--database-url`, or `SCIM_DATABASE_URL` when the URL
    /// carries a password (which must not show on a command line).
    fn url(&self) -> DatabaseUrl<'_> {
        match self {
            Database::Sqlite(db) => DatabaseUrl::Arg(&db.url),
            Database::Postgres { db, password: false } => DatabaseUrl::Arg(&db.url),
            Database::Postgres { db, password: true } => DatabaseUrl::Env(&db.url),
        }
    }
}

/// How to reach PostgreSQL, from the usual `PG*` variables.
#[derive(Debug)]
struct PgConn {
    host: String,
    port: String,
    user: String,
    password: Option<String>,
}

impl PgConn {
    fn from_env() -> Self {
        let var = |k: &str, d: &str| {
            std::env::var(k).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| d.into())
        };
        PgConn {
            host: var("PGHOST", "127.0.0.1"),
            port: var("PGPORT", "5432"),
            user: var("PGUSER", "postgres"),
            password: std::env::var("PGPASSWORD").ok().filter(|p| !p.is_empty()),
        }
    }

    /// The server's URL, without a database.
    fn url(&self) -> String {
        let auth = match &self.password {
            Some(p) => format!("{}:{}", self.user, percent_encode(p)),
            None => self.user.clone(),
        };
        format!("postgres://{auth}@{}:{}", self.host, self.port)
    }
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

impl Ctx {
    fn run_backend(&self, backend: Backend, families: &[Family]) -> Vec<RunResult> {
        eprintln!("\nconformance: === {} ===", backend.name());
        let setup_error = |e: anyhow::Error| {
            vec![RunResult {
                backend,
                family: None,
                testers: Vec::new(),
                error: Some(format!("{e:#}")),
            }]
        };
        let token = format!("conformance_{}", spawn::random_hex(24));
        let db = match self.fresh_database(backend) {
            Ok(db) => db,
            Err(e) => return setup_error(e),
        };
        let log = self.report_root.join(format!("{}-server.log", backend.name()));
        let mut results = Vec::new();
        {
            let scim = ScimServer { bin: &self.server_bin, dir: &self.out_dir, database: db.url() };
            let bootstrap = [("SCIM_BOOTSTRAP_TOKEN", token.as_str())];
            let server = match scim.serve("conformance", &log, &bootstrap) {
                Ok(s) => s,
                Err(e) => {
                    let e = anyhow::anyhow!("{e:#}; log:\n{}", log_tail(&log));
                    scrub(&log, &token);
                    return setup_error(e);
                }
            };
            let base = server.url();
            let mut org_sid: Option<Result<String>> = None;
            for &family in families {
                let url = match family {
                    Family::Rfc => Ok(format!("{base}/scim/v2")),
                    Family::Org => match org_sid.get_or_insert_with(|| scim.default_org()) {
                        Ok(sid) => Ok(format!("{base}/Organizations/{sid}/scim")),
                        Err(e) => Err(anyhow::anyhow!("finding the default organization: {e:#}")),
                    },
                };
                let result = url.and_then(|url| self.run_testers(backend, family, &url, &token));
                results.push(match result {
                    Ok(testers) => {
                        let error = testers.1;
                        RunResult { backend, family: Some(family), testers: testers.0, error }
                    }
                    Err(e) => RunResult {
                        backend,
                        family: Some(family),
                        testers: Vec::new(),
                        error: Some(format!("{e:#}")),
                    },
                });
            }
            drop(server);
        }
        scrub(&log, &token);
        drop(db);
        results
    }

    fn fresh_database(&self, backend: Backend) -> Result<Database> {
        let tag = format!("{}_{}", std::process::id(), &spawn::random_hex(4));
        match backend {
            Backend::Sqlite => {
                Ok(Database::Sqlite(TempSqlite::create(self.out_dir.join(format!("tmp-{tag}")))?))
            }
            Backend::Postgres => {
                let pg = PgConn::from_env();
                let server = scim_test_support::Server::Postgres;
                let db = scim_test_support::FreshDb::on(server, &pg.url(), "scim_conformance")
                    .map_err(|e| anyhow::anyhow!(e))
                    .with_context(|| {
                        format!("creating a PostgreSQL database on {}:{}", pg.host, pg.port)
                    })?;
                Ok(Database::Postgres { db, password: pg.password.is_some() })
            }
        }
    }

    /// Runs `conformance/run.py`; returns the tester lines and, when the run itself went
    /// wrong, why.
    fn run_testers(
        &self,
        backend: Backend,
        family: Family,
        url: &str,
        token: &str,
    ) -> Result<(Vec<TesterLine>, Option<String>)> {
        let report = self.report_root.join(format!("{}-{}", backend.name(), family.name()));
        eprintln!("conformance: {}/{}: testers against {url}", backend.name(), family.name());
        let mut child = Command::new(&self.python)
            .arg(self.root.join("conformance").join("run.py"))
            .arg(url)
            .arg(&report)
            .env("SCIM_TOKEN", token)
            .current_dir(&self.root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .context("starting conformance/run.py")?;
        let mut lines = Vec::new();
        let mut unparsed = Vec::new();
        if let Some(stdout) = child.stdout.take() {
            for line in BufReader::new(stdout).lines() {
                let line = line?;
                println!("  {}/{} {line}", backend.name(), family.name());
                match parse_tester_line(&line) {
                    Some(t) => lines.push(t),
                    None => unparsed.push(line),
                }
            }
        }
        let status = child.wait()?;
        let any_failed = lines.iter().any(|t| t.failed > 0);
        let error = match status.code() {
            Some(0) if !any_failed && !lines.is_empty() => None,
            Some(1) if any_failed => None,
            _ => Some(format!(
                "conformance/run.py exited with {status} ({} tester lines{})",
                lines.len(),
                if unparsed.is_empty() {
                    String::new()
                } else {
                    format!("; other output: {}", unparsed.join(" / "))
                }
            )),
        };
        Ok((lines, error))
    }
}

fn log_tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// Removes the token from a file (the server prints the bootstrap token once).
fn scrub(path: &Path, token: &str) {
    if let Ok(text) = fs::read_to_string(path)
        && text.contains(token)
    {
        let _ = fs::write(path, text.replace(token, "<bootstrap token>"));
    }
}

fn summary_table(results: &[RunResult]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<9} {:<6} {:<20} {:>7} {:>7} {:>8} {:>6}",
        "backend", "family", "tester", "passed", "failed", "skipped", "known"
    );
    for r in results {
        let family = r.family.map_or("-", Family::name);
        for t in &r.testers {
            let _ = writeln!(
                out,
                "{:<9} {:<6} {:<20} {:>7} {:>7} {:>8} {:>6}",
                r.backend.name(),
                family,
                t.name,
                t.passed,
                t.failed,
                t.skipped,
                t.known
            );
        }
        if let Some(e) = &r.error {
            let _ = writeln!(out, "{:<9} {:<6} ERROR: {e}", r.backend.name(), family);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tester_lines_parse() {
        assert_eq!(
            parse_tester_line("scim-sanity: 30 passed, 2 failed, 3 skipped"),
            Some(TesterLine {
                name: "scim-sanity".into(),
                passed: 30,
                failed: 2,
                skipped: 3,
                known: 0
            })
        );
        assert_eq!(
            parse_tester_line("scim2-cli: 1 passed, 0 failed, 0 skipped (4 known deviations)")
                .map(|t| t.known),
            Some(4)
        );
        assert_eq!(parse_tester_line("target: http://x"), None);
        assert_eq!(parse_tester_line("a b: 1 passed, 0 failed, 0 skipped"), None);
    }

    #[test]
    fn failed_checks_are_listed_once() {
        let summary = "target: x\n\nscim2-cli: 1 passed, 2 failed, 0 skipped  [0 warnings, 1.0s]\n  \
                       FAIL random_url\n       ERROR | detail\n  FAIL random_url\n  KNOWN other\n";
        assert_eq!(failed_checks_in(summary), vec!["scim2-cli: random_url".to_string()]);
    }

    #[test]
    fn options_parse() {
        let o =
            parse_options(&["--backend".into(), "sqlite".into(), "--family=org".into()]).unwrap();
        assert_eq!(o.backends, vec![Backend::Sqlite]);
        assert_eq!(o.families, vec![Family::Org]);
        assert!(parse_options(&["--backend".into(), "mysql".into()]).is_err());
    }
}
