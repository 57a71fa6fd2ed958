//! Load-mix benchmark (plain binary, `harness = false`): the release `scim-server` under a
//! fixed-time HTTP load, next to a trivial axum "ceiling" server on the same core.
//!
//! `cargo xtask bench server [--backend sqlite|postgres|all]`, which runs
//! `cargo bench -p scim-server --bench loadmix -- --backend ...`.
//!
//! What it does, in one process (the generator) plus two children (the servers):
//! 1. pins itself to CPU 1 (`taskset -a -p -c 1`) and starts every server under
//!    `taskset -c 0`, so that server and generator never share a core (without `taskset`
//!    it says so and runs unpinned);
//! 2. the ceiling: this same binary re-run with `--ceiling-server`, an axum router answering
//!    `GET /scim/v2/Users/{id}` and `GET /scim/v2/Users?startIndex=N&count=100` from a
//!    `HashMap` of ~20-attribute users behind a lock, measured exactly like the real server;
//! 3. per backend: `scim-server serve` on a fresh SQLite file in a temp dir (or a fresh
//!    PostgreSQL database, created and dropped with `psql`), seeded with users through
//!    `POST /scim/v2/Users` (timed separately), then each scenario for a fixed time on keep-alive
//!    connections: GET by id, `userName eq` filter, create, PATCH `displayName`, page of 100.
//!
//! Reported per scenario: requests/s, p50 and p99 (exact, from every sorted sample), every
//! non-2xx status and transport error, and the CPU used by the server and by the generator
//! (a generator near 100% means the figure measures the generator, not the server).
//!
//! Environment: `SCIM_LOADMIX_SECS` (seconds per scenario, default 10),
//! `SCIM_LOADMIX_WARMUP_SECS` (unmeasured lead-in per scenario, default 1),
//! `SCIM_LOADMIX_USERS` (default 10000), `SCIM_LOADMIX_CONNECTIONS` (default 32),
//! `SCIM_LOADMIX_BACKEND` (`sqlite`, `postgres` or `all`; `--backend` wins),
//! `SCIM_LOADMIX_ONLY` (a comma-separated subset of `get,filter,create,patch,page`),
//! `SCIM_LOADMIX_PG_URL` (server URL without a database, default
//! `postgres://postgres@127.0.0.1:5432`), `SCIM_LOADMIX_SERVER_ARGS` (extra `serve` flags,
//! whitespace-separated, e.g. `--log-level warn` to see what request logging costs).
#![allow(
    missing_docs,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout
)]

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const TOKEN: &str = "loadmix-bench-token-0123456789abcdef";
const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
const PAGE: usize = 100;

fn env_u64(k: &str, d: u64) -> u64 {
    std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d)
}

// ---------------------------------------------------------------------------------------
// Users: one shape for the seed requests and the ceiling's store.

fn user_name(i: usize) -> String {
    format!("user{i:06}@example.com")
}

/// A user with about twenty attributes, as an IdP would provision it (no `id`/`meta`).
fn user_doc(i: usize, user_name: &str) -> Value {
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

/// The ceiling's ids: as long as the server's (`US` + 32 hex digits), derived from the index.
fn ceiling_id(i: usize) -> String {
    let mut h = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    h ^= h >> 29;
    format!("US{:016x}{:016x}", h, h.rotate_left(17) ^ 0xA5A5_A5A5_A5A5_A5A5)
}

// ---------------------------------------------------------------------------------------
// The ceiling: a trivial axum service, the best this machine does for the same requests.

struct Ceiling {
    users: HashMap<String, Value>,
    order: Vec<String>,
}

fn ceiling_main(users: usize) {
    use axum::extract::{Path as AxPath, Query, State};
    use axum::http::{StatusCode, header};
    use axum::response::IntoResponse;
    use std::sync::RwLock;

    type Shared = Arc<RwLock<Ceiling>>;
    let mut c = Ceiling { users: HashMap::with_capacity(users), order: Vec::with_capacity(users) };
    for i in 0..users {
        let id = ceiling_id(i);
        let mut doc = user_doc(i, &user_name(i));
        doc["id"] = json!(id);
        doc["meta"] = json!({
            "resourceType": "User",
            "created": "2026-01-01T00:00:00.000Z",
            "lastModified": "2026-01-01T00:00:00.000Z",
            "version": "W/\"1\"",
            "location": format!("http://127.0.0.1/scim/v2/Users/{id}")
        });
        c.order.push(id.clone());
        c.users.insert(id, doc);
    }
    let shared: Shared = Arc::new(RwLock::new(c));
    const CT: (header::HeaderName, &str) = (header::CONTENT_TYPE, "application/scim+json");

    async fn get(State(s): State<Shared>, AxPath(id): AxPath<String>) -> axum::response::Response {
        let body = {
            let g = s.read().unwrap();
            g.users.get(&id).map(|u| serde_json::to_vec(u).unwrap())
        };
        match body {
            Some(b) => ([CT], b).into_response(),
            None => StatusCode::NOT_FOUND.into_response(),
        }
    }
    async fn page(
        State(s): State<Shared>,
        Query(q): Query<HashMap<String, String>>,
    ) -> axum::response::Response {
        let start: usize = q.get("startIndex").and_then(|v| v.parse().ok()).unwrap_or(1).max(1);
        let count: usize = q.get("count").and_then(|v| v.parse().ok()).unwrap_or(PAGE);
        let body = {
            let g = s.read().unwrap();
            let ids = g.order.iter().skip(start - 1).take(count);
            let resources: Vec<&Value> = ids.filter_map(|id| g.users.get(id)).collect();
            serde_json::to_vec(&json!({
                "schemas": [LIST_SCHEMA],
                "totalResults": g.order.len(),
                "startIndex": start,
                "itemsPerPage": resources.len(),
                "Resources": resources,
            }))
            .unwrap()
        };
        ([CT], body).into_response()
    }

    // The same runtime as `scim-server` (multi-threaded, one worker per allowed core).
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async move {
        let app = axum::Router::new()
            .route("/healthz", axum::routing::get(|| async { "ok" }))
            .route("/scim/v2/Users", axum::routing::get(page))
            .route("/scim/v2/Users/{id}", axum::routing::get(get))
            .with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("{}", listener.local_addr().unwrap().port());
        std::io::stdout().flush().unwrap();
        axum::serve(listener, app).await.unwrap();
    });
}

// ---------------------------------------------------------------------------------------
// Processes: pinning, children, CPU accounting.

/// Kills and reaps its child when dropped, so no server outlives the run.
struct Proc {
    child: Child,
    log: Option<PathBuf>,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    fn pid(&self) -> u32 {
        self.child.id()
    }
    fn log_tail(&self) -> String {
        let Some(log) = &self.log else { return String::new() };
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

/// A command run under `taskset -c CPU` when pinning works, plainly otherwise.
fn pinned(pin: bool, cpu: u32, program: &Path) -> Command {
    if pin {
        let mut c = Command::new("taskset");
        c.arg("-c").arg(cpu.to_string()).arg(program);
        c
    } else {
        Command::new(program)
    }
}

/// Pins this process (all threads; the runtime is built afterwards) to CPU 1.
fn pin_self() -> Result<(), String> {
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

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// utime + stime of a process (all its threads), in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name may hold spaces; fields after it start behind the last ')'.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let n = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    n(11) + n(12)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

// ---------------------------------------------------------------------------------------
// The generator: one keep-alive HTTP/1.1 connection per task, on a single-threaded runtime.

struct Target {
    addr: SocketAddr,
    host: String,
    auth: Option<String>,
}

async fn connect(addr: SocketAddr) -> Result<SendRequest<Full<Bytes>>, String> {
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

fn request(
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
async fn send(
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
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n.max(1)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scenario {
    Get,
    Filter,
    Create,
    Patch,
    Page,
}

impl Scenario {
    const ALL: [Scenario; 5] =
        [Scenario::Get, Scenario::Filter, Scenario::Create, Scenario::Patch, Scenario::Page];
    fn name(self) -> &'static str {
        match self {
            Scenario::Get => "GET by id",
            Scenario::Filter => "userName eq filter",
            Scenario::Create => "create",
            Scenario::Patch => "PATCH displayName",
            Scenario::Page => "page of 100",
        }
    }
    fn is_read(self) -> bool {
        matches!(self, Scenario::Get | Scenario::Filter | Scenario::Page)
    }
    /// The target, as a fraction of the ceiling's GET rate (page: of the ceiling's page rate).
    fn target(self) -> f64 {
        match self {
            Scenario::Get | Scenario::Page => 0.30,
            Scenario::Filter => 0.25,
            Scenario::Create | Scenario::Patch => 0.08,
        }
    }
}

/// What the scenarios draw from: the seeded users' ids and names.
struct Seeded {
    ids: Vec<String>,
    names: Vec<String>,
    /// Distinguishes this run's created users from every other run's.
    tag: String,
    created: AtomicU64,
}

fn pct_encode(s: &str) -> String {
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

fn build(t: &Target, sc: Scenario, seeded: &Seeded, rng: &mut Rng) -> http::Request<Full<Bytes>> {
    let n = seeded.ids.len();
    match sc {
        Scenario::Get => {
            request(t, "GET", &format!("/scim/v2/Users/{}", seeded.ids[rng.below(n)]), None)
        }
        Scenario::Filter => {
            let f = format!("userName eq \"{}\"", seeded.names[rng.below(n)]);
            request(t, "GET", &format!("/scim/v2/Users?filter={}", pct_encode(&f)), None)
        }
        Scenario::Create => {
            let k = seeded.created.fetch_add(1, Ordering::Relaxed) as usize;
            let name = format!("load-{}-{k}@example.com", seeded.tag);
            let body = serde_json::to_vec(&user_doc(n + k, &name)).unwrap();
            request(t, "POST", "/scim/v2/Users", Some(body))
        }
        Scenario::Patch => {
            let v = rng.below(1_000_000);
            let body = serde_json::to_vec(&json!({
                "schemas": [PATCH_SCHEMA],
                "Operations": [{"op": "replace", "path": "displayName", "value": format!("Renamed {v}")}]
            }))
            .unwrap();
            let uri = format!("/scim/v2/Users/{}", seeded.ids[rng.below(n)]);
            request(t, "PATCH", &uri, Some(body))
        }
        Scenario::Page => {
            let start = 1 + rng.below(n.saturating_sub(PAGE - 1));
            request(t, "GET", &format!("/scim/v2/Users?startIndex={start}&count={PAGE}"), None)
        }
    }
}

#[derive(Default)]
struct Tally {
    lat_ns: Vec<u64>,
    statuses: BTreeMap<u16, u64>,
    samples: BTreeMap<u16, String>,
    transport: u64,
    transport_sample: Option<String>,
}

struct Outcome {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    non_2xx: BTreeMap<u16, u64>,
    samples: BTreeMap<u16, String>,
    transport: u64,
    transport_sample: Option<String>,
    server_cpu: f64,
    gen_cpu: f64,
}

impl Outcome {
    fn errors(&self) -> u64 {
        self.non_2xx.values().sum::<u64>() + self.transport
    }
}

struct Load {
    conns: usize,
    warmup: Duration,
    measure: Duration,
    ticks: f64,
}

async fn run_scenario(
    load: &Load,
    t: &Arc<Target>,
    server_pid: u32,
    sc: Scenario,
    seeded: &Arc<Seeded>,
) -> Outcome {
    let begin = Instant::now();
    let from = begin + load.warmup;
    let until = from + load.measure;
    let mut tasks = Vec::new();
    for c in 0..load.conns {
        let (t, seeded) = (t.clone(), seeded.clone());
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ ((c as u64 + 1) << 20) ^ sc as u64);
            let mut sender = None;
            let mut tally = Tally::default();
            loop {
                let req = build(&t, sc, &seeded, &mut rng);
                let t0 = Instant::now();
                if t0 >= until {
                    break;
                }
                let res = send(&mut sender, t.addr, req).await;
                let t1 = Instant::now();
                if t1 < from || t1 > until {
                    continue;
                }
                tally.lat_ns.push((t1 - t0).as_nanos() as u64);
                match res {
                    Ok((status, body)) => {
                        *tally.statuses.entry(status).or_default() += 1;
                        if !(200..300).contains(&status) {
                            tally.samples.entry(status).or_insert_with(|| {
                                String::from_utf8_lossy(&body).chars().take(300).collect()
                            });
                        }
                    }
                    Err(e) => {
                        tally.transport += 1;
                        tally.transport_sample.get_or_insert(e);
                        // A refused connection would otherwise spin.
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
            tally
        }));
    }
    tokio::time::sleep_until(from.into()).await;
    let (s0, g0, w0) = (cpu_ticks(server_pid), cpu_ticks(std::process::id()), Instant::now());
    tokio::time::sleep_until(until.into()).await;
    let (s1, g1, w1) = (cpu_ticks(server_pid), cpu_ticks(std::process::id()), Instant::now());
    let wall = (w1 - w0).as_secs_f64() * load.ticks;
    let mut all = Tally::default();
    for task in tasks {
        let t = task.await.unwrap();
        all.lat_ns.extend(t.lat_ns);
        for (k, v) in t.statuses {
            *all.statuses.entry(k).or_default() += v;
        }
        for (k, v) in t.samples {
            all.samples.entry(k).or_insert(v);
        }
        all.transport += t.transport;
        if all.transport_sample.is_none() {
            all.transport_sample = t.transport_sample;
        }
    }
    all.lat_ns.sort_unstable();
    let q = |p: f64| -> f64 {
        let v = &all.lat_ns;
        if v.is_empty() {
            return 0.0;
        }
        let i = ((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1;
        v[i] as f64 / 1e6
    };
    let ok: u64 =
        all.statuses.iter().filter(|(s, _)| (200..300).contains(*s)).map(|(_, n)| n).sum();
    Outcome {
        rps: ok as f64 / load.measure.as_secs_f64(),
        p50_ms: q(0.50),
        p99_ms: q(0.99),
        non_2xx: all.statuses.into_iter().filter(|(s, _)| !(200..300).contains(s)).collect(),
        samples: all.samples,
        transport: all.transport,
        transport_sample: all.transport_sample,
        server_cpu: (s1 - s0) as f64 / wall,
        gen_cpu: (g1 - g0) as f64 / wall,
    }
}

/// Seeds `n` users through `POST /scim/v2/Users`, `conns` at a time; returns ids and names.
async fn seed(
    t: &Arc<Target>,
    n: usize,
    conns: usize,
) -> Result<(Vec<String>, Vec<String>), String> {
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let (t, next) = (t.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut sender = None;
            let mut got = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                if i >= n {
                    return Ok(got);
                }
                let name = user_name(i);
                let body = serde_json::to_vec(&user_doc(i, &name)).unwrap();
                let req = request(&t, "POST", "/scim/v2/Users", Some(body));
                let (status, body) = send(&mut sender, t.addr, req).await?;
                if status != 201 {
                    return Err(format!(
                        "seeding {name}: status {status}: {}",
                        String::from_utf8_lossy(&body)
                    ));
                }
                let v: Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
                let id = v["id"].as_str().ok_or("seed answer without an id")?.to_owned();
                got.push((i, id));
            }
        }));
    }
    let mut ids = vec![String::new(); n];
    for task in tasks {
        for (i, id) in task.await.map_err(|e| e.to_string())?? {
            ids[i] = id;
        }
    }
    Ok((ids, (0..n).map(user_name).collect()))
}

async fn wait_healthy(t: &Target, proc: &mut Proc) -> Result<(), String> {
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
enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh database for one run; dropped (PostgreSQL) or deleted (SQLite) afterwards.
struct Db {
    url: String,
    pg_drop: Option<(String, String)>,
}

impl Db {
    fn create(backend: Backend, dir: &Path) -> Result<Db, String> {
        match backend {
            Backend::Sqlite => {
                let file = dir.join("scim.db");
                Ok(Db { url: format!("sqlite://{}?mode=rwc", file.display()), pg_drop: None })
            }
            Backend::Postgres => {
                let base = std::env::var("SCIM_LOADMIX_PG_URL")
                    .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
                let base = base.trim_end_matches('/').to_owned();
                let name = format!("scim_loadmix_{}", std::process::id());
                let admin = format!("{base}/postgres");
                psql(&admin, &format!("DROP DATABASE IF EXISTS {name}"))?;
                psql(&admin, &format!("CREATE DATABASE {name}"))?;
                Ok(Db { url: format!("{base}/{name}"), pg_drop: Some((admin, name)) })
            }
        }
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        if let Some((admin, name)) = &self.pg_drop
            && let Err(e) = psql(admin, &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        {
            eprintln!("loadmix: could not drop database {name}: {e}");
        }
    }
}

fn psql(url: &str, sql: &str) -> Result<(), String> {
    let out = Command::new("psql")
        .args([url, "-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
        .output()
        .map_err(|e| format!("psql: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("psql -c '{sql}': {}", String::from_utf8_lossy(&out.stderr).trim()))
    }
}

// ---------------------------------------------------------------------------------------
// Reporting.

fn print_outcomes(title: &str, rows: &[(String, &Outcome)]) {
    println!("\n{title}");
    println!(
        "  {:<22} {:>10} {:>9} {:>9} {:>8} {:>11} {:>9}",
        "scenario", "req/s", "p50 ms", "p99 ms", "errors", "server CPU", "gen CPU"
    );
    for (name, o) in rows {
        println!(
            "  {:<22} {:>10.0} {:>9.3} {:>9.3} {:>8} {:>10.0}% {:>8.0}%",
            name,
            o.rps,
            o.p50_ms,
            o.p99_ms,
            o.errors(),
            o.server_cpu * 100.0,
            o.gen_cpu * 100.0
        );
    }
    for (name, o) in rows {
        for (status, count) in &o.non_2xx {
            let sample = o.samples.get(status).map(String::as_str).unwrap_or("");
            println!("  ! {name}: {count} x HTTP {status}: {sample}");
        }
        if o.transport > 0 {
            let sample = o.transport_sample.as_deref().unwrap_or("");
            println!("  ! {name}: {} transport errors: {sample}", o.transport);
        }
    }
}

fn print_targets(
    backend: Backend,
    results: &[(Scenario, Outcome)],
    ceil_get: f64,
    ceil_page: f64,
) -> bool {
    println!(
        "\n{backend:?}: against the ceiling (GET {ceil_get:.0} req/s, page {ceil_page:.0} req/s)"
    );
    println!(
        "  {:<22} {:>10} {:>9} {:>8} {:>9} {:>8} {:>6}",
        "scenario", "req/s", "fraction", "target", "p99 ms", "errors", "met"
    );
    let mut all_met = true;
    for (sc, o) in results {
        let base = if *sc == Scenario::Page { ceil_page } else { ceil_get };
        let frac = if base > 0.0 { o.rps / base } else { 0.0 };
        let p99_ok = !sc.is_read() || o.p99_ms < 10.0;
        let met = frac >= sc.target() && o.errors() == 0 && p99_ok;
        all_met &= met;
        let p99_note = if sc.is_read() { if p99_ok { "" } else { " (>10)" } } else { "" };
        println!(
            "  {:<22} {:>10.0} {:>9.3} {:>8} {:>9.3}{} {:>8} {:>6}",
            sc.name(),
            o.rps,
            frac,
            format!(">={:.2}", sc.target()),
            o.p99_ms,
            p99_note,
            o.errors(),
            if met { "yes" } else { "NO" }
        );
    }
    println!("  targets: fractions as listed, zero errors, read (GET, filter, page) p99 < 10 ms");
    all_met
}

// ---------------------------------------------------------------------------------------

struct Settings {
    backends: Vec<Backend>,
    users: usize,
    load: Load,
    pin: bool,
    extra_args: Vec<String>,
    /// `SCIM_LOADMIX_ONLY`: the scenarios to run (all when unset).
    only: Option<Vec<Scenario>>,
}

fn settings() -> Settings {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut backend = std::env::var("SCIM_LOADMIX_BACKEND").unwrap_or_else(|_| "sqlite".into());
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--backend" => {
                backend = args.get(i + 1).cloned().unwrap_or_default();
                i += 1;
            }
            "--postgres" => backend = "postgres".into(),
            "--all" => backend = "all".into(),
            // `cargo bench` passes `--bench`; anything else is a filter we do not use.
            _ => {}
        }
        i += 1;
    }
    let backends = match backend.as_str() {
        "sqlite" => vec![Backend::Sqlite],
        "postgres" => vec![Backend::Postgres],
        "all" => vec![Backend::Sqlite, Backend::Postgres],
        other => {
            eprintln!("loadmix: unknown backend '{other}' (expected sqlite, postgres or all)");
            std::process::exit(2);
        }
    };
    let pin = match pin_self() {
        Ok(()) => true,
        Err(e) => {
            println!(
                "NOTE: not pinned ({e}); server and generator share the cores, figures are rougher"
            );
            false
        }
    };
    let extra_args = std::env::var("SCIM_LOADMIX_SERVER_ARGS")
        .map(|s| s.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default();
    Settings {
        backends,
        users: env_u64("SCIM_LOADMIX_USERS", 10_000).max(PAGE as u64) as usize,
        load: Load {
            conns: env_u64("SCIM_LOADMIX_CONNECTIONS", 32).max(1) as usize,
            warmup: Duration::from_secs(env_u64("SCIM_LOADMIX_WARMUP_SECS", 1)),
            measure: Duration::from_secs(env_u64("SCIM_LOADMIX_SECS", 10).max(1)),
            ticks: clock_ticks(),
        },
        pin,
        extra_args,
        only: std::env::var("SCIM_LOADMIX_ONLY").ok().map(|v| {
            v.split(',')
                .filter_map(|name| match name.trim() {
                    "get" => Some(Scenario::Get),
                    "filter" => Some(Scenario::Filter),
                    "create" => Some(Scenario::Create),
                    "patch" => Some(Scenario::Patch),
                    "page" => Some(Scenario::Page),
                    _ => None,
                })
                .collect()
        }),
    }
}

async fn measure_ceiling(s: &Settings) -> Result<(Outcome, Outcome), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut cmd = pinned(s.pin, 0, &exe);
    cmd.arg("--ceiling-server")
        .env("SCIM_LOADMIX_USERS", s.users.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut proc = Proc { child: cmd.spawn().map_err(|e| format!("ceiling: {e}"))?, log: None };
    let stdout = proc.child.stdout.take().ok_or("ceiling: no stdout")?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).map_err(|e| e.to_string())?;
    let port: u16 = line.trim().parse().map_err(|_| format!("ceiling said '{}'", line.trim()))?;
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let t = Arc::new(Target { addr, host: format!("127.0.0.1:{port}"), auth: None });
    wait_healthy(&t, &mut proc).await?;
    let seeded = Arc::new(Seeded {
        ids: (0..s.users).map(ceiling_id).collect(),
        names: (0..s.users).map(user_name).collect(),
        tag: "ceiling".into(),
        created: AtomicU64::new(0),
    });
    let get = run_scenario(&s.load, &t, proc.pid(), Scenario::Get, &seeded).await;
    let page = run_scenario(&s.load, &t, proc.pid(), Scenario::Page, &seeded).await;
    Ok((get, page))
}

async fn measure_server(
    s: &Settings,
    backend: Backend,
) -> Result<Vec<(Scenario, Outcome)>, String> {
    let dir = std::env::temp_dir().join(format!("scim-loadmix-{}-{backend:?}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let result = async {
        let db = Db::create(backend, &dir)?;
        let port = free_port();
        let log = dir.join("server.log");
        let mut cmd = pinned(s.pin, 0, Path::new(env!("CARGO_BIN_EXE_scim-server")));
        cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--database-url", &db.url])
            .args(&s.extra_args)
            .current_dir(&dir)
            .env("SCIM_BOOTSTRAP_TOKEN", TOKEN)
            .env_remove("RUST_LOG")
            .env_remove("SCIM_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::from(std::fs::File::create(&log).map_err(|e| e.to_string())?))
            .stderr(Stdio::from(std::fs::File::options().append(true).open(&log).map_err(|e| e.to_string())?));
        let mut proc = Proc { child: cmd.spawn().map_err(|e| format!("scim-server: {e}"))?, log: Some(log) };
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let t = Arc::new(Target {
            addr,
            host: format!("127.0.0.1:{port}"),
            auth: Some(format!("Bearer {TOKEN}")),
        });
        wait_healthy(&t, &mut proc).await?;
        let started = Instant::now();
        let (ids, names) = seed(&t, s.users, s.load.conns).await.map_err(|e| format!("{e}\n{}", proc.log_tail()))?;
        let secs = started.elapsed().as_secs_f64();
        println!(
            "\n{backend:?}: seeded {} users via POST /scim/v2/Users in {secs:.1} s ({:.0} users/s, {} connections)",
            s.users,
            s.users as f64 / secs,
            s.load.conns
        );
        let seeded = Arc::new(Seeded {
            ids,
            names,
            tag: format!("{}-{backend:?}", std::process::id()),
            created: AtomicU64::new(0),
        });
        let mut out = Vec::new();
        for sc in Scenario::ALL.into_iter().filter(|sc| s.only.as_ref().is_none_or(|o| o.contains(sc))) {
            let o = run_scenario(&s.load, &t, proc.pid(), sc, &seeded).await;
            eprintln!("loadmix: {backend:?} {}: {:.0} req/s", sc.name(), o.rps);
            out.push((sc, o));
        }
        drop(proc);
        drop(db);
        Ok(out)
    }
    .await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn main() {
    if std::env::args().any(|a| a == "--ceiling-server") {
        ceiling_main(env_u64("SCIM_LOADMIX_USERS", 10_000) as usize);
        return;
    }
    let s = settings();
    // One core for the generator: a single-threaded runtime is the cheapest client.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    // Missed targets are reported, not fatal; a run that could not be measured is.
    let (met, failed) = rt.block_on(async {
        println!(
            "loadmix: {} users, {} keep-alive connections, {} s per scenario after {} s warm-up; server on CPU 0, generator on CPU 1{}",
            s.users,
            s.load.conns,
            s.load.measure.as_secs(),
            s.load.warmup.as_secs(),
            if s.pin { "" } else { " (NOT pinned: taskset unavailable)" }
        );
        let (cg, cp) = match measure_ceiling(&s).await {
            Ok(v) => v,
            Err(e) => {
                eprintln!("loadmix: ceiling failed: {e}");
                return (false, true);
            }
        };
        print_outcomes(
            "Ceiling: trivial axum handler, HashMap behind a RwLock",
            &[("GET by id".into(), &cg), ("page of 100".into(), &cp)],
        );
        let (mut met, mut failed) = (true, cg.errors() + cp.errors() > 0);
        for &backend in &s.backends {
            match measure_server(&s, backend).await {
                Ok(results) => {
                    let rows: Vec<(String, &Outcome)> =
                        results.iter().map(|(sc, o)| (sc.name().to_owned(), o)).collect();
                    print_outcomes(&format!("{backend:?}: scim-server"), &rows);
                    met &= print_targets(backend, &results, cg.rps, cp.rps);
                }
                Err(e) => {
                    eprintln!("loadmix: {backend:?} failed: {e}");
                    failed = true;
                }
            }
        }
        (met, failed)
    });
    if !met {
        println!("\nloadmix: at least one target missed");
    }
    if failed {
        std::process::exit(1);
    }
}
