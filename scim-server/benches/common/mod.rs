//! What the plain-binary benches (`loadmix`, `faults`, `soak`) share: the users they send,
//! the `scim-server` children they start (pinned, on a free port, with a log file), fresh
//! databases, and a small keep-alive HTTP/1.1 client on hyper.
//!
//! Each bench includes it with `mod common;` and uses a different part of it, hence the
//! `dead_code` allowance.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub fn env_u64(k: &str, d: u64) -> u64 {
    std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d)
}

// ---------------------------------------------------------------------------------------
// Users: one shape for the seed requests and the ceiling's store.

pub fn user_name(i: usize) -> String {
    format!("user{i:06}@example.com")
}

/// A user with about twenty attributes, as an IdP would provision it (no `id`/`meta`).
pub fn user_doc(i: usize, user_name: &str) -> Value {
    json!({
        "schemas": [USER_SCHEMA],
        "externalId": format!("ext-{i:08}"),
        "userName": user_name,
        "name": {
            "formatted": format!("Ms. Given{i} Q. Family{}", i % 97),
            "familyName": format!("Family{}", i % 97),
            "givenName": format!("Given{i}"),
            "middleName": "Quinn"
        },
        "displayName": format!("Given{i} Family{}", i % 97),
        "nickName": format!("g{i}"),
        "profileUrl": format!("https://login.example.com/u/{i}"),
        "title": format!("Engineer {}", i % 13),
        "userType": "Employee",
        "preferredLanguage": "en-US",
        "locale": "en-US",
        "timezone": "Europe/Berlin",
        "active": true,
        "emails": [{"value": user_name, "type": "work", "primary": true}],
        "phoneNumbers": [{"value": format!("+1 555 {:07}", i), "type": "work"}],
        "addresses": [{
            "streetAddress": format!("{} Main Street", i % 500 + 1),
            "locality": "Springfield",
            "region": "IL",
            "postalCode": "62701",
            "country": "US",
            "type": "work",
            "primary": true
        }]
    })
}

// ---------------------------------------------------------------------------------------
// Processes: pinning, children, CPU accounting.

/// Kills and reaps its child when dropped, so no server outlives the run.
pub struct Proc {
    pub child: Child,
    pub log: Option<PathBuf>,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
    pub fn log_tail(&self) -> String {
        let Some(log) = &self.log else { return String::new() };
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

/// A command run under `taskset -c CPU` when pinning works, plainly otherwise.
pub fn pinned(pin: bool, cpu: u32, program: &Path) -> Command {
    if pin {
        let mut c = Command::new("taskset");
        c.arg("-c").arg(cpu.to_string()).arg(program);
        c
    } else {
        Command::new(program)
    }
}

/// Pins this process (all threads; the runtime is built afterwards) to CPU 1.
pub fn pin_self() -> Result<(), String> {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    if cores < 2 {
        return Err(format!("only {cores} CPU available to this process"));
    }
    let out = Command::new("taskset")
        .args(["-a", "-p", "-c", "1", &std::process::id().to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("taskset: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("taskset failed: {}", String::from_utf8_lossy(&out.stderr).trim()))
    }
}

pub fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// utime + stime of a process (all its threads), in clock ticks.
pub fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name may hold spaces; fields after it start behind the last ')'.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let n = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    n(11) + n(12)
}

pub use scim_test_support::free_port;

// ---------------------------------------------------------------------------------------
// The generator: one keep-alive HTTP/1.1 connection per task, on a single-threaded runtime.

pub struct Target {
    pub addr: SocketAddr,
    pub host: String,
    pub auth: Option<String>,
}

pub async fn connect(addr: SocketAddr) -> Result<SendRequest<Full<Bytes>>, String> {
    let stream = tokio::net::TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

pub fn request(
    t: &Target,
    method: &str,
    uri: &str,
    body: Option<Vec<u8>>,
) -> http::Request<Full<Bytes>> {
    let mut b = http::Request::builder().method(method).uri(uri).header("host", &t.host);
    if let Some(a) = &t.auth {
        b = b.header("authorization", a);
    }
    b = b.header("accept", "application/scim+json");
    let body = match body {
        Some(v) => {
            b = b.header("content-type", "application/scim+json");
            Full::new(Bytes::from(v))
        }
        None => Full::new(Bytes::new()),
    };
    b.body(body).unwrap()
}

/// One answer: status and body, or a transport error.
pub async fn send(
    sender: &mut Option<SendRequest<Full<Bytes>>>,
    addr: SocketAddr,
    req: http::Request<Full<Bytes>>,
) -> Result<(u16, Bytes), String> {
    if sender.as_ref().is_none_or(|s| s.is_closed()) {
        *sender = Some(connect(addr).await?);
    }
    let s = sender.as_mut().unwrap();
    let res = async {
        s.ready().await.map_err(|e| e.to_string())?;
        let res = s.send_request(req).await.map_err(|e| e.to_string())?;
        let status = res.status().as_u16();
        let body = res.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
        Ok::<_, String>((status, body))
    }
    .await;
    if res.is_err() {
        *sender = None;
    }
    res
}

/// xorshift64*: cheap, seedable, good enough to pick ids.
pub struct Rng(pub u64);
impl Rng {
    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n.max(1)
    }
}

pub fn pct_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub async fn wait_healthy(t: &Target, proc: &mut Proc) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut sender = None;
    loop {
        if let Ok(Some(status)) = proc.child.try_wait() {
            return Err(format!("server exited with {status}:\n{}", proc.log_tail()));
        }
        let req = request(t, "GET", "/healthz", None);
        if let Ok((200, _)) = send(&mut sender, t.addr, req).await {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("server not healthy after 120 s:\n{}", proc.log_tail()));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---------------------------------------------------------------------------------------
// Backends.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The backends `--backend NAME` selects (`sqlite`, `postgres` or `all`); any other
    /// name ends the process with a usage error, `bench` naming the benchmark.
    pub fn selected(name: &str, bench: &str) -> Vec<Backend> {
        match name {
            "sqlite" => vec![Backend::Sqlite],
            "postgres" => vec![Backend::Postgres],
            "all" => vec![Backend::Sqlite, Backend::Postgres],
            other => {
                eprintln!("{bench}: unknown backend '{other}' (expected sqlite, postgres or all)");
                std::process::exit(2);
            }
        }
    }
}

/// A fresh database for one run; dropped (PostgreSQL) or deleted (SQLite) afterwards.
pub struct Db {
    pub url: String,
    /// The SQLite file, when it is one.
    pub file: Option<PathBuf>,
    pg: Option<scim_test_support::FreshDb>,
}

impl Db {
    /// A fresh database named after `label` (and this process): `DIR/LABEL.db` for SQLite,
    /// a database `scim_LABEL_PID_...` on PostgreSQL.
    pub fn create(backend: Backend, dir: &Path, label: &str) -> Result<Db, String> {
        match backend {
            Backend::Sqlite => {
                let file = dir.join(format!("{label}.db"));
                Ok(Db {
                    url: format!("sqlite://{}?mode=rwc", file.display()),
                    file: Some(file),
                    pg: None,
                })
            }
            Backend::Postgres => {
                let server = scim_test_support::Server::Postgres;
                let db =
                    scim_test_support::FreshDb::on(server, &pg_base(), &format!("scim_{label}"))?;
                Ok(Db { url: db.url.clone(), file: None, pg: Some(db) })
            }
        }
    }

    /// The PostgreSQL database's name.
    pub fn pg_name(&self) -> Option<&str> {
        self.pg.as_ref().map(|d| d.name.as_str())
    }

    /// Bytes on disk: the SQLite file and its WAL, or `pg_database_size`.
    pub fn size_bytes(&self) -> u64 {
        if let Some(file) = &self.file {
            let len = |p: PathBuf| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
            let wal = PathBuf::from(format!("{}-wal", file.display()));
            return len(file.clone()) + len(wal);
        }
        match &self.pg {
            Some(db) => db
                .run(&format!("SELECT pg_database_size('{}')", db.name))
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
            None => 0,
        }
    }

    /// One value from a query on this database (`psql` or `sqlite3`).
    pub fn query(&self, sql: &str) -> Result<String, String> {
        if let Some(file) = &self.file {
            let out = Command::new("sqlite3")
                .arg(file)
                .arg(sql)
                .output()
                .map_err(|e| format!("sqlite3: {e}"))?;
            if !out.status.success() {
                return Err(format!("sqlite3 '{sql}': {}", String::from_utf8_lossy(&out.stderr)));
            }
            return Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned());
        }
        match &self.pg {
            Some(db) => db.run(sql),
            None => Err("no database".into()),
        }
    }
}

/// The PostgreSQL server, without a database: `SCIM_LOADMIX_PG_URL`, or the local default.
pub fn pg_base() -> String {
    std::env::var("SCIM_LOADMIX_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
        .trim_end_matches('/')
        .to_owned()
}

/// The `scim-server` binary: `SCIM_BENCH_SERVER_BIN` (e.g. an already built debug binary,
/// as CI uses), else the one cargo built with this bench.
pub fn server_bin() -> PathBuf {
    std::env::var_os("SCIM_BENCH_SERVER_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_scim-server")))
}

/// Starts `scim-server serve` on `port` and `db_url`, in `dir`, with the bootstrap token
/// `token`, its output appended to `dir/LOG_NAME`; `extra` are more `serve` flags.
pub fn spawn_server(
    pin: Option<u32>,
    dir: &Path,
    log_name: &str,
    port: u16,
    db_url: &str,
    token: &str,
    extra: &[String],
) -> Result<Proc, String> {
    let cmd = pinned(pin.is_some(), pin.unwrap_or(0), &server_bin());
    spawn_serve(cmd, dir, log_name, port, db_url, token, extra)
}

/// Runs `cmd` (the server, or a program that runs it: `valgrind ... <server>`) with
/// `serve` and its flags; see [`spawn_server`].
pub fn spawn_serve(
    mut cmd: Command,
    dir: &Path,
    log_name: &str,
    port: u16,
    db_url: &str,
    token: &str,
    extra: &[String],
) -> Result<Proc, String> {
    let log = dir.join(log_name);
    let open =
        || std::fs::File::options().create(true).append(true).open(&log).map_err(|e| e.to_string());
    cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--database-url", db_url])
        .args(extra)
        .current_dir(dir)
        .env("SCIM_BOOTSTRAP_TOKEN", token)
        .env_remove("RUST_LOG")
        .env_remove("SCIM_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::from(open()?))
        .stderr(Stdio::from(open()?));
    let child = cmd.spawn().map_err(|e| format!("{:?}: {e}", cmd.get_program()))?;
    Ok(Proc { child, log: Some(log) })
}

/// A target on 127.0.0.1:`port` with a bearer token (or none).
pub fn target(port: u16, token: Option<&str>) -> Target {
    Target {
        addr: ([127, 0, 0, 1], port).into(),
        host: format!("127.0.0.1:{port}"),
        auth: token.map(|t| format!("Bearer {t}")),
    }
}

/// One request on a fresh connection (or `sender`'s): status, headers and body.
pub async fn call(
    sender: &mut Option<SendRequest<Full<Bytes>>>,
    t: &Target,
    method: &str,
    uri: &str,
    body: Option<&Value>,
    headers: &[(&str, &str)],
) -> Result<(u16, http::HeaderMap, Bytes), String> {
    let mut req = request(t, method, uri, body.map(|b| serde_json::to_vec(b).unwrap()));
    for (k, v) in headers {
        req.headers_mut().insert(
            http::HeaderName::from_bytes(k.as_bytes()).map_err(|e| e.to_string())?,
            http::HeaderValue::from_str(v).map_err(|e| e.to_string())?,
        );
    }
    if sender.as_ref().is_none_or(|s| s.is_closed()) {
        *sender = Some(connect(t.addr).await?);
    }
    let s = sender.as_mut().ok_or("no connection")?;
    let res = async {
        s.ready().await.map_err(|e| e.to_string())?;
        let res = s.send_request(req).await.map_err(|e| e.to_string())?;
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let body = res.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
        Ok::<_, String>((status, headers, body))
    }
    .await;
    if res.is_err() {
        *sender = None;
    }
    res
}

/// The resident set of a process, in bytes (`VmRSS` of `/proc/PID/status`).
pub fn rss_bytes(pid: u32) -> u64 {
    status_kb(pid, "VmRSS:")
}

/// The anonymous part of a process's resident set (`RssAnon`): its heap and stacks, what a
/// leak grows; the rest of `VmRSS` is mapped files (the binary, SQLite's memory-mapped
/// database pages), bounded by what is mapped.
pub fn rss_anon_bytes(pid: u32) -> u64 {
    status_kb(pid, "RssAnon:")
}

/// A `kB` field of `/proc/<pid>/status`, in bytes (0 when unreadable).
fn status_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// The `p`-quantile (0..=1) of sorted nanosecond samples, in milliseconds.
pub fn quantile_ms(sorted_ns: &[u64], p: f64) -> f64 {
    if sorted_ns.is_empty() {
        return 0.0;
    }
    let i = ((sorted_ns.len() as f64 * p).ceil() as usize).clamp(1, sorted_ns.len()) - 1;
    sorted_ns[i] as f64 / 1e6
}

/// Least-squares slope of `(x, y)` points (y per x unit); 0 with fewer than two points.
pub fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    if points.len() < 2 {
        return 0.0;
    }
    let (sx, sy) = points.iter().fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
    let (mx, my) = (sx / n, sy / n);
    let (num, den) = points
        .iter()
        .fold((0.0, 0.0), |(a, b), (x, y)| (a + (x - mx) * (y - my), b + (x - mx) * (x - mx)));
    if den == 0.0 { 0.0 } else { num / den }
}
