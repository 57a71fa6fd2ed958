//! Fault probe (plain binary, `harness = false`): starts the real `scim-server serve`, breaks
//! things around it, and checks what clients were promised still holds.
//!
//! `cargo xtask faults [--quick] [--backend sqlite|postgres|all]`, which runs
//! `cargo bench -p scim-server --bench faults -- ...`. Prints one row per check
//! (scenario, result, pass/fail) and exits 1 when any fails.
//!
//! Scenarios (each on a fresh database; PostgreSQL ones skipped with `--backend sqlite`):
//! - **kill -9 under write load** (SQLite, PostgreSQL): 8 writers create users; the server is
//!   killed with SIGKILL mid-load and restarted; every create that was answered 201 must be
//!   readable with its `userName`; on SQLite `PRAGMA integrity_check` must say `ok`.
//! - **two replicas** (PostgreSQL): 8 clients, half on each replica, increment a counter kept
//!   in `displayName` with `If-Match` (a 412 means re-read and retry): the final value must
//!   equal the number of 200s (no lost update); 16 concurrent POSTs with one
//!   `Idempotency-Key`, split over both replicas, must make one user; member adds and removes
//!   through both must leave exactly the expected members.
//! - **simultaneous cold starts** (SQLite file, PostgreSQL): 4 replicas started at once on an
//!   empty database all become healthy, with each migration applied once, one `default`
//!   organization, and the bootstrap token accepted by each.
//! - **database cut under load** (PostgreSQL): the server reaches PostgreSQL through a TCP
//!   proxy in this process; the proxy is cut (connections reset and new ones refused, then
//!   new ones held unanswered) for a few seconds: answers must be 503 with `Retry-After`
//!   within about the acquire timeout, `/readyz` 503 as fast, and service must come back
//!   by itself once the proxy forwards again. The real PostgreSQL is never stopped.
//! - **hostile HTTP** (SQLite): slowloris connections (a header byte a second) are closed
//!   within the header timeout while normal requests go on; 100 KB of headers get 431;
//!   10,000 query parameters 400; one connection past `max_connections` 503.
//!
//! Environment: `SCIM_LOADMIX_PG_URL` (PostgreSQL without a database, default
//! `postgres://postgres@127.0.0.1:5432`), `SCIM_BENCH_SERVER_BIN` (the server binary to
//! run instead of the one built with this bench).
#![allow(
    missing_docs,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout
)]

mod common;

use common::*;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const TOKEN: &str = "faults-probe-token-0123456789abcdef";
const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// The header timeout the hostile-HTTP server runs with (seconds).
const HEADER_TIMEOUT: u64 = 2;
/// Its connection cap.
const MAX_CONNECTIONS: usize = 32;

struct Opts {
    quick: bool,
    backends: Vec<Backend>,
}

/// One line of the report.
struct Row {
    scenario: String,
    result: String,
    pass: bool,
}

type Rows = Vec<Row>;

fn row(rows: &mut Rows, scenario: impl Into<String>, pass: bool, result: impl Into<String>) {
    let (scenario, result) = (scenario.into(), result.into());
    eprintln!("faults: {scenario}: {} ({result})", if pass { "pass" } else { "FAIL" });
    rows.push(Row { scenario, result, pass });
}

/// Runs a scenario; an error that stopped it is a failed row.
fn record(rows: &mut Rows, scenario: &str, r: Result<(), String>) {
    if let Err(e) = r {
        row(rows, scenario, false, e);
    }
}

/// A server with its port and work directory.
struct Server {
    proc: Proc,
    t: Arc<Target>,
}

async fn start(dir: &Path, log: &str, db_url: &str, extra: &[&str]) -> Result<Server, String> {
    let port = free_port();
    let mut args: Vec<String> = vec!["--log-level".into(), "warn".into()];
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let mut proc = spawn_server(None, dir, log, port, db_url, TOKEN, &args)?;
    let t = Arc::new(target(port, Some(TOKEN)));
    wait_healthy(&t, &mut proc).await?;
    Ok(Server { proc, t })
}

fn json_of(body: &[u8]) -> Value {
    serde_json::from_slice(body).unwrap_or(Value::Null)
}

fn new_user(name: &str) -> Value {
    json!({"schemas": [USER_SCHEMA], "userName": name, "displayName": "0"})
}

async fn create_user(t: &Target, name: &str) -> Result<String, String> {
    let (status, _, body) =
        call(&mut None, t, "POST", "/scim/v2/Users", Some(&new_user(name)), &[]).await?;
    if status != 201 {
        return Err(format!("create {name}: {status} {}", String::from_utf8_lossy(&body)));
    }
    json_of(&body)["id"].as_str().map(str::to_owned).ok_or_else(|| "no id".to_owned())
}

// ---------------------------------------------------------------------------------------
// (a) kill -9 under write load.

async fn kill_under_load(
    opts: &Opts,
    backend: Backend,
    dir: &Path,
    rows: &mut Rows,
) -> Result<(), String> {
    let name = format!("kill -9 under 8 writers ({backend:?})");
    let db = Db::create(backend, dir, "kill")?;
    let mut server = start(dir, "kill.log", &db.url, &[]).await?;
    let acked = Arc::new(Mutex::new(Vec::<(String, String)>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..8 {
        let (t, acked, stop) = (server.t.clone(), acked.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            let mut sender = None;
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let user = format!("kill-{w}-{i}@example.com");
                i += 1;
                let doc = user_doc(i as usize, &user);
                match call(&mut sender, &t, "POST", "/scim/v2/Users", Some(&doc), &[]).await {
                    Ok((201, _, body)) => {
                        if let Some(id) = json_of(&body)["id"].as_str() {
                            acked.lock().unwrap().push((id.to_owned(), user));
                        }
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(if opts.quick { 3 } else { 10 })).await;
    server.proc.child.kill().map_err(|e| format!("kill -9: {e}"))?;
    let _ = server.proc.child.wait();
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        let _ = w.await;
    }
    let acked = std::mem::take(&mut *acked.lock().unwrap());
    let integrity = match backend {
        Backend::Sqlite => Some(db.query("PRAGMA integrity_check")?),
        Backend::Postgres => None,
    };
    let restarted = start(dir, "kill-restart.log", &db.url, &[]).await?;
    // Every acknowledged create, read back through 8 connections.
    let acked = Arc::new(acked);
    let next = Arc::new(AtomicU64::new(0));
    let lost = Arc::new(Mutex::new(Vec::new()));
    let mut readers = Vec::new();
    for _ in 0..8 {
        let (t, acked, next, lost) =
            (restarted.t.clone(), acked.clone(), next.clone(), lost.clone());
        readers.push(tokio::spawn(async move {
            let mut sender = None;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                let Some((id, user)) = acked.get(i) else { return };
                let uri = format!("/scim/v2/Users/{id}");
                let ok = match call(&mut sender, &t, "GET", &uri, None, &[]).await {
                    Ok((200, _, body)) => json_of(&body)["userName"] == user.as_str(),
                    _ => false,
                };
                if !ok {
                    lost.lock().unwrap().push(id.clone());
                }
            }
        }));
    }
    for r in readers {
        let _ = r.await;
    }
    let lost = lost.lock().unwrap().len();
    let mut result = format!("{} acknowledged creates, {lost} lost after restart", acked.len());
    let mut pass = lost == 0 && !acked.is_empty();
    if let Some(check) = integrity {
        pass &= check == "ok";
        result.push_str(&format!("; integrity_check: {check}"));
    }
    row(rows, name, pass, result);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// (b) two replicas on one PostgreSQL database.

async fn replicas(opts: &Opts, dir: &Path, rows: &mut Rows) -> Result<(), String> {
    let db = Db::create(Backend::Postgres, dir, "replicas")?;
    let a = start(dir, "replica-a.log", &db.url, &[]).await?;
    let b = start(dir, "replica-b.log", &db.url, &[]).await?;
    let both = [a.t.clone(), b.t.clone()];

    // Conditional increments.
    let id = create_user(&a.t, "counter@example.com").await?;
    let per_client = if opts.quick { 10 } else { 50 };
    let (applied, conflicts, other) =
        (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)), Arc::new(Mutex::new(None)));
    let mut tasks = Vec::new();
    for c in 0..8 {
        let t = both[c % 2].clone();
        let (id, applied, conflicts, other) =
            (id.clone(), applied.clone(), conflicts.clone(), other.clone());
        tasks.push(tokio::spawn(async move {
            let mut sender = None;
            let uri = format!("/scim/v2/Users/{id}");
            let mut mine = 0;
            let mut attempts = 0;
            while mine < per_client && attempts < per_client * 100 {
                attempts += 1;
                let Ok((200, headers, body)) = call(&mut sender, &t, "GET", &uri, None, &[]).await
                else {
                    continue;
                };
                let etag =
                    headers.get("etag").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                let n: u64 = json_of(&body)["displayName"]
                    .as_str()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                let patch = json!({"schemas": [PATCH_SCHEMA], "Operations": [
                    {"op": "replace", "path": "displayName", "value": (n + 1).to_string()}]});
                match call(&mut sender, &t, "PATCH", &uri, Some(&patch), &[("if-match", &etag)])
                    .await
                {
                    Ok((200, _, _)) => {
                        mine += 1;
                        applied.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok((412, _, _)) => {
                        conflicts.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok((s, _, body)) => {
                        other
                            .lock()
                            .unwrap()
                            .get_or_insert(format!("{s} {}", String::from_utf8_lossy(&body)));
                    }
                    Err(e) => {
                        other.lock().unwrap().get_or_insert(e);
                    }
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let (_, _, body) =
        call(&mut None, &a.t, "GET", &format!("/scim/v2/Users/{id}"), None, &[]).await?;
    let last: u64 =
        json_of(&body)["displayName"].as_str().and_then(|s| s.parse().ok()).unwrap_or(0);
    let applied = applied.load(Ordering::Relaxed);
    let other = other.lock().unwrap().take();
    row(
        rows,
        "2 replicas: 8 clients racing If-Match increments (PostgreSQL)",
        applied == 8 * per_client && last == applied && other.is_none(),
        format!(
            "{applied} of {} applied, {} x 412, final value {last}, lost updates {}{}",
            8 * per_client,
            conflicts.load(Ordering::Relaxed),
            applied.saturating_sub(last),
            other.map(|o| format!("; unexpected: {o}")).unwrap_or_default()
        ),
    );

    // One Idempotency-Key, 16 concurrent POSTs over both replicas.
    let keys = if opts.quick { 5 } else { 20 };
    let mut bad = Vec::new();
    for k in 0..keys {
        let key = format!("faults-{}-{k}", std::process::id());
        let user = format!("idem-{k}@example.com");
        let mut tasks = Vec::new();
        for c in 0..16 {
            let (t, key, doc) = (both[c % 2].clone(), key.clone(), new_user(&user));
            tasks.push(tokio::spawn(async move {
                // 409 means "the first is still running": retry as the docs say.
                for _ in 0..200 {
                    match call(
                        &mut None,
                        &t,
                        "POST",
                        "/scim/v2/Users",
                        Some(&doc),
                        &[("idempotency-key", &key)],
                    )
                    .await
                    {
                        Ok((409, _, _)) => tokio::time::sleep(Duration::from_millis(20)).await,
                        Ok((s, _, body)) => {
                            return (s, json_of(&body)["id"].as_str().unwrap_or("").to_owned());
                        }
                        Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                    }
                }
                (0, String::new())
            }));
        }
        let mut ids = BTreeSet::new();
        for t in tasks {
            let (s, id) = t.await.map_err(|e| e.to_string())?;
            if s != 201 {
                bad.push(format!("key {k}: status {s}"));
            }
            ids.insert(id);
        }
        let filter = pct_encode(&format!("userName eq \"{user}\""));
        let (_, _, body) =
            call(&mut None, &b.t, "GET", &format!("/scim/v2/Users?filter={filter}"), None, &[])
                .await?;
        let total = json_of(&body)["totalResults"].as_u64().unwrap_or(0);
        if ids.len() != 1 || total != 1 {
            bad.push(format!("key {k}: {} distinct ids, {total} users", ids.len()));
        }
    }
    row(
        rows,
        "2 replicas: 16 concurrent POSTs per Idempotency-Key (PostgreSQL)",
        bad.is_empty(),
        if bad.is_empty() {
            format!("{keys} keys: one user and one id per key, every answer 201")
        } else {
            bad.join("; ")
        },
    );

    // Membership changes through both replicas.
    let n = if opts.quick { 20 } else { 60 };
    let mut members = Vec::new();
    for i in 0..n {
        members.push(create_user(&both[i % 2], &format!("member-{i}@example.com")).await?);
    }
    let (s, _, body) = call(
        &mut None,
        &a.t,
        "POST",
        "/scim/v2/Groups",
        Some(&json!({"schemas": [GROUP_SCHEMA], "displayName": "faults"})),
        &[],
    )
    .await?;
    let gid = json_of(&body)["id"].as_str().ok_or(format!("group create: {s}"))?.to_owned();
    let guri = format!("/scim/v2/Groups/{gid}");
    let failures = Arc::new(Mutex::new(Vec::new()));
    for remove in [false, true] {
        let mut tasks = Vec::new();
        for (i, uid) in members.iter().enumerate() {
            if remove && i % 4 != 0 {
                continue;
            }
            let op = if remove {
                json!({"op": "remove", "path": format!("members[value eq \"{uid}\"]")})
            } else {
                json!({"op": "add", "path": "members", "value": [{"value": uid}]})
            };
            let patch = json!({"schemas": [PATCH_SCHEMA], "Operations": [op]});
            let (t, guri, failures) =
                (both[(i + usize::from(remove)) % 2].clone(), guri.clone(), failures.clone());
            tasks.push(tokio::spawn(async move {
                match call(&mut None, &t, "PATCH", &guri, Some(&patch), &[]).await {
                    Ok((200 | 204, _, _)) => {}
                    Ok((s, _, body)) => failures
                        .lock()
                        .unwrap()
                        .push(format!("{s} {}", String::from_utf8_lossy(&body))),
                    Err(e) => failures.lock().unwrap().push(e),
                }
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
    }
    let (_, _, body) =
        call(&mut None, &b.t, "GET", &format!("{guri}?attributes=members"), None, &[]).await?;
    let got: BTreeSet<String> = json_of(&body)["members"]
        .as_array()
        .map(|a| a.iter().filter_map(|m| m["value"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    let expected: BTreeSet<String> =
        members.iter().enumerate().filter(|(i, _)| i % 4 != 0).map(|(_, id)| id.clone()).collect();
    let failures = failures.lock().unwrap();
    row(
        rows,
        "2 replicas: concurrent member adds then removes (PostgreSQL)",
        got == expected && failures.is_empty(),
        format!(
            "{n} adds, {} removes: {} members, expected {}, {} missing, {} extra{}",
            n.div_ceil(4),
            got.len(),
            expected.len(),
            expected.difference(&got).count(),
            got.difference(&expected).count(),
            failures
                .first()
                .map(|f| format!("; {} failed PATCHes, first: {f}", failures.len()))
                .unwrap_or_default()
        ),
    );
    drop((a, b));
    Ok(())
}

// ---------------------------------------------------------------------------------------
// (c) simultaneous cold starts.

async fn cold_starts(backend: Backend, dir: &Path, rows: &mut Rows) -> Result<(), String> {
    const N: usize = 4;
    let db = Db::create(backend, dir, "cold")?;
    let mut servers = Vec::new();
    for i in 0..N {
        let port = free_port();
        let args = ["--log-level".to_owned(), "warn".to_owned()];
        let proc = spawn_server(None, dir, &format!("cold-{i}.log"), port, &db.url, TOKEN, &args)?;
        servers.push((proc, Arc::new(target(port, Some(TOKEN)))));
    }
    let mut problems = Vec::new();
    for (i, (proc, t)) in servers.iter_mut().enumerate() {
        if let Err(e) = wait_healthy(t, proc).await {
            problems.push(format!("replica {i}: {}", e.lines().last().unwrap_or("")));
            continue;
        }
        match call(&mut None, t, "GET", "/scim/v2/Users?count=1", None, &[]).await {
            Ok((200, _, _)) => {}
            Ok((s, _, _)) => problems.push(format!("replica {i}: bootstrap token got {s}")),
            Err(e) => problems.push(format!("replica {i}: {e}")),
        }
    }
    let migrations =
        db.query("SELECT count(*) || '/' || count(DISTINCT version) FROM seaql_migrations")?;
    let defaults = db.query("SELECT count(*) FROM organizations WHERE name = 'default'")?;
    let orgs = db.query("SELECT count(*) FROM organizations")?;
    let (total, distinct) = migrations.split_once('/').unwrap_or(("", "?"));
    if total != distinct {
        problems.push(format!("{total} migration rows for {distinct} migrations"));
    }
    if defaults != "1" || orgs != "1" {
        problems.push(format!("{defaults} `default` organizations, {orgs} in all"));
    }
    row(
        rows,
        format!("{N} replicas cold-started at once ({backend:?})"),
        problems.is_empty(),
        if problems.is_empty() {
            format!(
                "{N} of {N} healthy, {distinct} migrations applied once each, 1 `default` organization, token works on each"
            )
        } else {
            problems.join("; ")
        },
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// (d) the database cut under load, through a proxy.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Cut {
    /// Forwarding.
    Open,
    /// Existing connections reset, new ones closed at once (a stopped database).
    Refuse,
    /// Existing connections reset, new ones accepted and never answered (a partition).
    BlackHole,
}

struct Proxy {
    state: Arc<Mutex<Cut>>,
    /// Bumped on every cut: forwarding tasks of an older generation stop.
    generation: Arc<AtomicU64>,
    port: u16,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Result<Proxy, String> {
        let listener = TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        let state = Arc::new(Mutex::new(Cut::Open));
        let generation = Arc::new(AtomicU64::new(0));
        let (st, generation2) = (state.clone(), generation.clone());
        tokio::spawn(async move {
            let held = Arc::new(Mutex::new(Vec::new()));
            while let Ok((client, _)) = listener.accept().await {
                let mode = *st.lock().unwrap();
                match mode {
                    Cut::Refuse => drop(client),
                    Cut::BlackHole => held.lock().unwrap().push(client),
                    Cut::Open => {
                        held.lock().unwrap().clear();
                        let g = generation2.load(Ordering::SeqCst);
                        let generation = generation2.clone();
                        tokio::spawn(async move {
                            let Ok(mut server) = TcpStream::connect(upstream).await else { return };
                            let mut client = client;
                            let copy = tokio::io::copy_bidirectional(&mut client, &mut server);
                            let cut = async {
                                while generation.load(Ordering::SeqCst) == g {
                                    tokio::time::sleep(Duration::from_millis(20)).await;
                                }
                            };
                            tokio::select! {
                                _ = copy => {}
                                // Both ends closed, as when the database goes away.
                                () = cut => {}
                            }
                        });
                    }
                }
            }
        });
        Ok(Proxy { state, generation, port })
    }

    fn set(&self, mode: Cut) {
        *self.state.lock().unwrap() = mode;
        if mode != Cut::Open {
            self.generation.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// What the load saw in one window.
#[derive(Default, Debug)]
struct Seen {
    ok: u64,
    unavailable: u64,
    without_retry_after: u64,
    other: Vec<String>,
    max_503_ms: f64,
    max_ready_ms: f64,
    ready_503: u64,
}

async fn db_cut(opts: &Opts, dir: &Path, rows: &mut Rows) -> Result<(), String> {
    let db = Db::create(Backend::Postgres, dir, "cut")?;
    let base = pg_base();
    // postgres://USER@HOST:PORT: the proxy listens in place of HOST:PORT.
    let (prefix, hostport) = base
        .rsplit_once('@')
        .map_or(("postgres:/", base.trim_start_matches("postgres://")), |(p, h)| (p, h));
    let upstream = tokio::net::lookup_host(hostport.to_owned())
        .await
        .ok()
        .and_then(|mut a| a.next())
        .unwrap_or_else(|| ([127, 0, 0, 1], 5432).into());
    let proxy = Proxy::start(upstream).await?;
    let name = db.pg_name().unwrap_or_default().to_owned();
    let url = format!("{prefix}@127.0.0.1:{}/{name}", proxy.port);
    let server = start(dir, "cut.log", &url, &[]).await?;
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(create_user(&server.t, &format!("cut-{i}@example.com")).await?);
    }
    let ids = Arc::new(ids);
    let cut_secs = if opts.quick { 3 } else { 5 };
    for mode in [Cut::Refuse, Cut::BlackHole] {
        let window = Arc::new(AtomicU64::new(0)); // 0 before, 1 during the cut, 2 after
        let seen: Arc<Mutex<[Seen; 3]>> = Arc::new(Mutex::new(Default::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let recovered_at = Arc::new(Mutex::new(None::<Instant>));
        let mut tasks = Vec::new();
        for c in 0..9 {
            let (t, ids, window, seen, stop, recovered_at) = (
                server.t.clone(),
                ids.clone(),
                window.clone(),
                seen.clone(),
                stop.clone(),
                recovered_at.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let mut sender = None;
                let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (c as u64 + 1));
                while !stop.load(Ordering::Relaxed) {
                    let ready = c == 8;
                    let uri = if ready {
                        "/readyz".to_owned()
                    } else {
                        format!("/scim/v2/Users/{}", ids[rng.below(ids.len())])
                    };
                    let w = window.load(Ordering::SeqCst) as usize;
                    let t0 = Instant::now();
                    let res = call(&mut sender, &t, "GET", &uri, None, &[]).await;
                    let ms = t0.elapsed().as_secs_f64() * 1e3;
                    {
                        let mut guard = seen.lock().unwrap();
                        let s = &mut guard[w];
                        match res {
                            Ok((200, _, _)) => {
                                s.ok += 1;
                                if w == 2 {
                                    recovered_at.lock().unwrap().get_or_insert_with(Instant::now);
                                }
                            }
                            Ok((503, _, _)) if ready => s.ready_503 += 1,
                            Ok((503, h, _)) => {
                                s.unavailable += 1;
                                s.max_503_ms = s.max_503_ms.max(ms);
                                if !h.contains_key("retry-after") {
                                    s.without_retry_after += 1;
                                }
                            }
                            Ok((st, _, body)) => s.other.push(format!(
                                "{st} {}",
                                String::from_utf8_lossy(&body)
                                    .chars()
                                    .take(120)
                                    .collect::<String>()
                            )),
                            Err(e) => s.other.push(e),
                        }
                        if ready {
                            s.max_ready_ms = s.max_ready_ms.max(ms);
                        }
                    }
                    if ready {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        window.store(1, Ordering::SeqCst);
        proxy.set(mode);
        tokio::time::sleep(Duration::from_secs(cut_secs)).await;
        proxy.set(Cut::Open);
        let resumed = Instant::now();
        window.store(2, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_secs(if opts.quick { 4 } else { 6 })).await;
        stop.store(true, Ordering::Relaxed);
        for t in tasks {
            let _ = t.await;
        }
        let seen = std::mem::take(&mut *seen.lock().unwrap());
        let recovery =
            recovered_at.lock().unwrap().map(|at| at.duration_since(resumed).as_secs_f64());
        let during = &seen[1];
        let after = &seen[2];
        // The acquire timeout is 1 s; allow for the probe's own scheduling.
        let fast = during.max_503_ms < 2500.0 && during.max_ready_ms < 2500.0;
        let pass = seen[0].other.is_empty()
            && during.unavailable > 0
            && during.without_retry_after == 0
            && during.ready_503 > 0
            && fast
            && during.other.is_empty()
            && recovery.is_some_and(|r| r < 10.0)
            && after.ok > 0;
        row(
            rows,
            format!(
                "PostgreSQL cut for {cut_secs} s under load ({})",
                match mode {
                    Cut::Refuse => "connections reset and refused",
                    _ => "connections reset, new ones unanswered",
                }
            ),
            pass,
            format!(
                "during: {} x 503 (max {:.0} ms, {} without Retry-After), {} x 200, /readyz 503 x {} (max {:.0} ms){}; recovered {} after resume, {} x 200 after{}",
                during.unavailable,
                during.max_503_ms,
                during.without_retry_after,
                during.ok,
                during.ready_503,
                during.max_ready_ms,
                during
                    .other
                    .first()
                    .map(|o| format!(", {} other: {o}", during.other.len()))
                    .unwrap_or_default(),
                recovery.map_or("never".to_owned(), |r| format!("{r:.1} s")),
                after.ok,
                after
                    .other
                    .first()
                    .map(|o| format!(" ({} other while recovering: {o})", after.other.len()))
                    .unwrap_or_default(),
            ),
        );
    }
    drop(server);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// (e) hostile HTTP.

/// Sends `head`, then reads until the server closes or `limit` passes; the whole answer.
async fn raw(addr: SocketAddr, head: &[u8], limit: Duration) -> String {
    let Ok(mut tcp) = TcpStream::connect(addr).await else { return "connect failed".into() };
    let _ = tcp.write_all(head).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(limit, tcp.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

async fn hostile(opts: &Opts, dir: &Path, rows: &mut Rows) -> Result<(), String> {
    let db = Db::create(Backend::Sqlite, dir, "hostile")?;
    let timeout = HEADER_TIMEOUT.to_string();
    let max = MAX_CONNECTIONS.to_string();
    let server = start(
        dir,
        "hostile.log",
        &db.url,
        &["--header-read-timeout-secs", &timeout, "--max-connections", &max],
    )
    .await?;
    let addr = server.t.addr;

    // Slowloris: 20 connections sending a header byte a second.
    let slow = if opts.quick { 10 } else { 20 };
    let mut tasks = Vec::new();
    for _ in 0..slow {
        tasks.push(tokio::spawn(async move {
            let t0 = Instant::now();
            let Ok(mut tcp) = TcpStream::connect(addr).await else { return None };
            let _ = tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ").await;
            let mut buf = [0u8; 512];
            while t0.elapsed() < Duration::from_secs(HEADER_TIMEOUT * 5) {
                if tcp.write_all(b"a").await.is_err() {
                    return Some(t0.elapsed());
                }
                let read = tokio::time::timeout(Duration::from_secs(1), tcp.read(&mut buf));
                if let Ok(Ok(0) | Err(_)) = read.await {
                    return Some(t0.elapsed());
                }
            }
            None
        }));
    }
    // Normal requests meanwhile.
    let mut normal = (0u64, 0u64, 0.0f64);
    let until = Instant::now() + Duration::from_secs(HEADER_TIMEOUT + 2);
    let mut sender = None;
    while Instant::now() < until {
        let t0 = Instant::now();
        match call(&mut sender, &server.t, "GET", "/scim/v2/Users?count=1", None, &[]).await {
            Ok((200, _, _)) => normal.0 += 1,
            _ => normal.1 += 1,
        }
        normal.2 = normal.2.max(t0.elapsed().as_secs_f64() * 1e3);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut closed = Vec::new();
    for t in tasks {
        if let Ok(Some(d)) = t.await {
            closed.push(d.as_secs_f64());
        }
    }
    let max_closed = closed.iter().copied().fold(0.0, f64::max);
    row(
        rows,
        format!(
            "slowloris: {slow} connections, 1 header byte/s (header timeout {HEADER_TIMEOUT} s)"
        ),
        closed.len() == slow
            && max_closed <= HEADER_TIMEOUT as f64 + 1.5
            && normal.1 == 0
            && normal.0 > 0,
        format!(
            "{} of {slow} closed, the last after {max_closed:.1} s; normal GETs meanwhile: {} x 200, {} failed, max {:.0} ms",
            closed.len(),
            normal.0,
            normal.1,
            normal.2
        ),
    );

    // 100 KB of headers.
    let mut head = String::from("GET /healthz HTTP/1.1\r\nHost: x\r\n");
    for i in 0..100 {
        head.push_str(&format!("X-Filler-{i}: {}\r\n", "a".repeat(1000)));
    }
    head.push_str("Connection: close\r\n\r\n");
    let r = raw(addr, head.as_bytes(), Duration::from_secs(5)).await;
    let status = r.lines().next().unwrap_or("(nothing)").to_owned();
    row(rows, "100 KB of request headers", status.starts_with("HTTP/1.1 431"), status);

    // 10,000 query parameters (short ones: the head stays under the header limit).
    let query = vec!["p"; 10_000].join("&");
    let head = format!(
        "GET /scim/v2/Users?{query} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n"
    );
    let r = raw(addr, head.as_bytes(), Duration::from_secs(5)).await;
    let status = r.lines().next().unwrap_or("(nothing)").to_owned();
    row(rows, "10,000 query parameters", status.starts_with("HTTP/1.1 400"), status);

    // max_connections held open, then one more.
    let mut held = Vec::new();
    for _ in 0..MAX_CONNECTIONS {
        held.push(TcpStream::connect(addr).await.map_err(|e| e.to_string())?);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let r = raw(addr, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", Duration::from_secs(3)).await;
    let over = r.lines().next().unwrap_or("(nothing)").to_owned();
    let retry = r.to_ascii_lowercase().contains("retry-after:");
    drop(held);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after = call(&mut None, &server.t, "GET", "/healthz", None, &[]).await.map(|r| r.0);
    row(
        rows,
        format!("connection {} past max_connections {MAX_CONNECTIONS}", MAX_CONNECTIONS + 1),
        over.starts_with("HTTP/1.1 503") && retry && after == Ok(200),
        format!(
            "{over}{}; after closing them: {after:?}",
            if retry { ", Retry-After" } else { ", no Retry-After" }
        ),
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------

fn options() -> Opts {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut backend = "all".to_owned();
    let mut quick = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => quick = true,
            "--backend" => backend = it.next().cloned().unwrap_or_default(),
            _ => {} // `cargo bench` passes `--bench`
        }
    }
    let backends = match backend.as_str() {
        "sqlite" => vec![Backend::Sqlite],
        "postgres" => vec![Backend::Postgres],
        "all" => vec![Backend::Sqlite, Backend::Postgres],
        other => {
            eprintln!("faults: unknown backend '{other}' (expected sqlite, postgres or all)");
            std::process::exit(2);
        }
    };
    Opts { quick, backends }
}

fn main() {
    let opts = options();
    let dir: PathBuf = std::env::temp_dir().join(format!("scim-faults-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("faults: {}: {e}", dir.display());
        std::process::exit(1);
    }
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let started = Instant::now();
    let rows = rt.block_on(async {
        let mut rows = Rows::new();
        let pg = opts.backends.contains(&Backend::Postgres);
        for &b in &opts.backends {
            let r = kill_under_load(&opts, b, &dir, &mut rows).await;
            record(&mut rows, &format!("kill -9 under 8 writers ({b:?})"), r);
        }
        if pg {
            let r = replicas(&opts, &dir, &mut rows).await;
            record(&mut rows, "2 replicas on one PostgreSQL database", r);
        }
        for &b in &opts.backends {
            let r = cold_starts(b, &dir, &mut rows).await;
            record(&mut rows, &format!("replicas cold-started at once ({b:?})"), r);
        }
        if pg {
            let r = db_cut(&opts, &dir, &mut rows).await;
            record(&mut rows, "PostgreSQL cut under load", r);
        }
        let r = hostile(&opts, &dir, &mut rows).await;
        record(&mut rows, "hostile HTTP", r);
        rows
    });
    let failed = rows.iter().filter(|r| !r.pass).count();
    println!(
        "\nfaults ({}, {:.0} s):",
        if opts.quick { "quick" } else { "full" },
        started.elapsed().as_secs_f64()
    );
    let w = rows.iter().map(|r| r.scenario.len()).max().unwrap_or(8);
    println!("  {:<w$}  {:<4}  result", "scenario", "pass");
    for r in &rows {
        println!("  {:<w$}  {:<4}  {}", r.scenario, if r.pass { "yes" } else { "NO" }, r.result);
    }
    if failed == 0 {
        let _ = std::fs::remove_dir_all(&dir);
        println!("faults: every check passed");
    } else {
        println!("faults: {failed} check(s) failed; server logs are in {}", dir.display());
        std::process::exit(1);
    }
}
