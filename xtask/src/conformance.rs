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

use anyhow::{Context, Result, bail};
use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long the server may take from spawn to a 200 on `/healthz`.
const STARTUP_WAIT: Duration = Duration::from_secs(90);

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
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) => (f, Some(v.to_string())),
            None => (arg.as_str(), None),
        };
        let mut value = || -> Result<String> {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .with_context(|| format!("{flag} needs a value"))
        };
        match flag {
            "--backend" => {
                opts.backends = match value()?.as_str() {
                    "sqlite" => vec![Backend::Sqlite],
                    "postgres" => vec![Backend::Postgres],
                    "all" => vec![Backend::Sqlite, Backend::Postgres],
                    other => bail!("unknown backend '{other}' (expected sqlite, postgres or all)"),
                }
            }
            "--family" => {
                opts.families = match value()?.as_str() {
                    "rfc" => vec![Family::Rfc],
                    "org" => vec![Family::Org],
                    "all" => vec![Family::Rfc, Family::Org],
                    other => bail!("unknown family '{other}' (expected rfc, org or all)"),
                }
            }
            "-h" | "--help" => {
                println!(
                    "usage: cargo xtask conformance [--backend sqlite|postgres|all] [--family rfc|org|all]"
                );
                std::process::exit(0);
            }
            other => bail!(
                "unknown argument '{other}'; usage: cargo xtask conformance [--backend sqlite|postgres|all] [--family rfc|org|all]"
            ),
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
    let target = target_dir(&root);
    super::run(super::cargo().args(["build", "-p", "scim-server"]))?;
    let server_bin =
        target.join("debug").join(format!("scim-server{}", std::env::consts::EXE_SUFFIX));
    if !server_bin.is_file() {
        bail!("{} was not built", server_bin.display());
    }
    let python = ensure_venv(&root, &target)?;

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

fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root.join(dir),
        None => root.join("target"),
    }
}

/// Creates (or reuses, while `conformance/requirements.txt` is unchanged) the testers' venv.
fn ensure_venv(root: &Path, target: &Path) -> Result<PathBuf> {
    let venv = target.join("conformance-venv");
    let requirements = root.join("conformance").join("requirements.txt");
    let stamp = venv.join(".requirements.txt");
    let python = venv.join("bin").join("python");
    let wanted =
        fs::read(&requirements).with_context(|| format!("reading {}", requirements.display()))?;
    if python.is_file() && fs::read(&stamp).ok().as_deref() == Some(&wanted[..]) {
        return Ok(python);
    }
    eprintln!("conformance: preparing the testers' venv in {}", venv.display());
    if venv.exists() {
        fs::remove_dir_all(&venv).with_context(|| format!("removing {}", venv.display()))?;
    }
    let interpreter = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    super::run(Command::new(&interpreter).args(["-m", "venv"]).arg(&venv))
        .with_context(|| format!("creating a venv with {interpreter} (needs python3-venv)"))?;
    super::run(
        Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r"])
            .arg(&requirements),
    )
    .context("installing conformance/requirements.txt")?;
    fs::write(&stamp, &wanted)?;
    Ok(python)
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
    Sqlite {
        dir: PathBuf,
        url: String,
    },
    /// A fresh database, dropped with the value; whether its URL holds a password.
    Postgres {
        db: scim_test_support::FreshDb,
        password: bool,
    },
}

impl Database {
    fn url(&self) -> &str {
        match self {
            Database::Sqlite { url, .. } => url,
            Database::Postgres { db, .. } => &db.url,
        }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        match self {
            Database::Sqlite { dir, .. } => {
                let _ = fs::remove_dir_all(dir);
            }
            // Dropped by its own `Drop`.
            Database::Postgres { .. } => {}
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

/// The running server; killed (and reaped) on drop, whatever happened.
struct Server {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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
        let token = random_token();
        let db = match self.fresh_database(backend) {
            Ok(db) => db,
            Err(e) => return setup_error(e),
        };
        let log = self.report_root.join(format!("{}-server.log", backend.name()));
        let mut results = Vec::new();
        {
            let server = match self.start_server(&db, &token, &log) {
                Ok(s) => s,
                Err(e) => {
                    scrub(&log, &token);
                    return setup_error(e);
                }
            };
            let base = format!("http://127.0.0.1:{}", server.port);
            let mut org_sid: Option<Result<String>> = None;
            for &family in families {
                let url = match family {
                    Family::Rfc => Ok(format!("{base}/scim/v2")),
                    Family::Org => match org_sid.get_or_insert_with(|| self.default_org_sid(&db)) {
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
        let tag = format!("{}_{}", std::process::id(), &random_hex(4));
        match backend {
            Backend::Sqlite => {
                let dir = self.out_dir.join(format!("tmp-{tag}"));
                fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
                let file = dir.join("scim.db");
                let url = format!("sqlite://{}?mode=rwc", file.display());
                Ok(Database::Sqlite { dir, url })
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

    /// A `scim-server` command with no inherited `SCIM_*` settings.
    fn server_command(&self) -> Command {
        let mut cmd = Command::new(&self.server_bin);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("SCIM_") {
                cmd.env_remove(key);
            }
        }
        cmd.current_dir(&self.out_dir).stdin(Stdio::null());
        cmd
    }

    fn start_server(&self, db: &Database, token: &str, log: &Path) -> Result<Server> {
        let port = free_port()?;
        let listen = format!("127.0.0.1:{port}");
        let log_file =
            fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let mut cmd = self.server_command();
        cmd.args(["serve", "--listen", &listen]);
        with_database(&mut cmd, db);
        cmd.env("SCIM_BOOTSTRAP_TOKEN", token).stdout(log_file.try_clone()?).stderr(log_file);
        eprintln!("conformance: starting scim-server on {listen} (log {})", log.display());
        let child =
            cmd.spawn().with_context(|| format!("spawning {}", self.server_bin.display()))?;
        let mut server = Server { child, port, log: log.to_path_buf() };
        let deadline = Instant::now() + STARTUP_WAIT;
        loop {
            if let Some(status) = server.child.try_wait()? {
                bail!(
                    "scim-server exited with {status} before it was healthy; log:\n{}",
                    log_tail(&server.log)
                );
            }
            if matches!(http_status(port, "/healthz"), Ok(200)) {
                return Ok(server);
            }
            if Instant::now() > deadline {
                bail!(
                    "scim-server did not answer 200 on /healthz within {}s; log:\n{}",
                    STARTUP_WAIT.as_secs(),
                    log_tail(&server.log)
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// The sid of organization `default`, from `scim-server admin org list --json`.
    fn default_org_sid(&self, db: &Database) -> Result<String> {
        let mut cmd = self.server_command();
        cmd.args(["admin", "org", "list", "--json"]);
        with_database(&mut cmd, db);
        let out = cmd.output().context("running scim-server admin org list")?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            bail!(
                "scim-server admin org list --json failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        default_sid_from_json(&stdout).with_context(|| {
            format!("no organization 'default' in `admin org list --json`: {}", stdout.trim())
        })
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

/// Points a `scim-server` command at the database: `--database-url`, or `SCIM_DATABASE_URL`
/// when the URL carries a password (which must not show on a command line).
fn with_database(cmd: &mut Command, db: &Database) {
    if matches!(db, Database::Postgres { password: true, .. }) {
        cmd.env("SCIM_DATABASE_URL", db.url());
    } else {
        cmd.args(["--database-url", db.url()]);
    }
}

/// Finds `"sid":"OR..."` of the object whose `"name"` is `"default"` (or the only sid).
fn default_sid_from_json(text: &str) -> Option<String> {
    let mut sids = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("\"sid\"") {
        let after = &rest[i + 5..];
        let value = after.trim_start().strip_prefix(':')?.trim_start().strip_prefix('"')?;
        let end = value.find('"')?;
        let sid = &value[..end];
        let object_start = text.len() - rest.len() + i;
        let open = text[..object_start].rfind('{').unwrap_or(0);
        let close = text[object_start..].find('}').map_or(text.len(), |c| object_start + c);
        let object: String = text[open..close].chars().filter(|c| !c.is_whitespace()).collect();
        sids.push((sid.to_string(), object.contains("\"name\":\"default\"")));
        rest = &value[end..];
    }
    let valid = |s: &str| {
        s.len() == 34
            && s.starts_with("OR")
            && s[2..].bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    sids.retain(|(s, _)| valid(s));
    if let Some((sid, _)) = sids.iter().find(|(_, is_default)| *is_default) {
        return Some(sid.clone());
    }
    match sids.as_slice() {
        [(sid, _)] => Some(sid.clone()),
        _ => None,
    }
}

pub(crate) fn free_port() -> Result<u16> {
    match scim_test_support::free_port() {
        0 => bail!("no free port on 127.0.0.1"),
        port => Ok(port),
    }
}

/// The status code of a plain `GET path` on 127.0.0.1:port.
pub(crate) fn http_status(port: u16, path: &str) -> Result<u16> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
    stream.set_read_timeout(Some(Duration::from_secs(3)))?;
    stream.set_write_timeout(Some(Duration::from_secs(3)))?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n")?;
    let mut head = [0u8; 64];
    let mut got = 0;
    while got < 12 {
        let n = stream.read(&mut head[got..])?;
        if n == 0 {
            break;
        }
        got += n;
    }
    let line = String::from_utf8_lossy(&head[..got]);
    let code =
        line.strip_prefix("HTTP/1.").and_then(|r| r.get(2..5)).context("not an HTTP answer")?;
    Ok(code.parse()?)
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

/// `n` random bytes as hex: from the OS (`/dev/urandom`), else from std's randomly keyed
/// hasher.
fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    let from_os = fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes)).is_ok();
    if !from_os {
        use std::hash::{BuildHasher, Hasher};
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        for (i, chunk) in bytes.chunks_mut(8).enumerate() {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u128(nanos);
            h.write_usize(i);
            chunk.copy_from_slice(&h.finish().to_le_bytes()[..chunk.len()]);
        }
    }
    bytes.iter().fold(String::with_capacity(n * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn random_token() -> String {
    format!("conformance_{}", random_hex(24))
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
    fn default_sid_is_found() {
        let a = "OR0123456789abcdef0123456789abcdef";
        let b = "ORffffffffffffffffffffffffffffffff";
        let json = format!(
            r#"[{{"sid": "{b}", "name": "other", "policies": []}}, {{"sid":"{a}","name":"default","policies":[]}}]"#
        );
        assert_eq!(default_sid_from_json(&json).as_deref(), Some(a));
        let one = format!(r#"{{"sid":"{b}","name":"x"}}"#);
        assert_eq!(default_sid_from_json(&one).as_deref(), Some(b));
        assert_eq!(default_sid_from_json("[]"), None);
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
