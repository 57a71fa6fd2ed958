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
//! (a generator near 100% means the figure measures the generator, not the server). The
//! whole mix, ceiling included, runs `SCIM_LOADMIX_RUNS` times (default 3); the summary
//! gives per scenario the median and the range of the rate, of its fraction of the same
//! run's ceiling, and of p99, and judges the targets on the medians.
//!
//! `--instructions` counts instructions and allocations per request under valgrind instead
//! of timing them (`loadmix/instructions.rs`; `SCIM_INSTR_USERS`, `SCIM_INSTR_REQUESTS`,
//! `SCIM_INSTR_KEEP`).
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
use http_body_util::Full;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

mod common;
#[path = "loadmix/instructions.rs"]
mod instructions;

use common::*;

const TOKEN: &str = "loadmix-bench-token-0123456789abcdef";
const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
const PAGE: usize = 100;

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
    /// The short name `SCIM_LOADMIX_ONLY` lists.
    fn key(self) -> &'static str {
        match self {
            Scenario::Get => "get",
            Scenario::Filter => "filter",
            Scenario::Create => "create",
            Scenario::Patch => "patch",
            Scenario::Page => "page",
        }
    }
    /// The target, as a fraction of the ceiling's GET rate (page: of the ceiling's page rate).
    fn target(self, backend: Backend) -> f64 {
        match (backend, self) {
            (Backend::Postgres, Scenario::Get | Scenario::Filter) => 0.20,
            (Backend::Postgres, Scenario::Create | Scenario::Patch) => 0.05,
            (Backend::Postgres, Scenario::Page) => 0.25,
            (_, Scenario::Get | Scenario::Page) => 0.50,
            (_, Scenario::Filter) => 0.40,
            (_, Scenario::Create | Scenario::Patch) => 0.15,
        }
    }
    /// The p99 latency a read scenario must stay under, in milliseconds.
    fn p99_limit_ms(self) -> Option<f64> {
        matches!(self, Scenario::Get | Scenario::Filter).then_some(5.0)
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

/// The median and the range of `xs` (empty: zeros).
fn median_range(xs: &[f64]) -> (f64, f64, f64) {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    match (v.first(), v.last()) {
        (Some(&lo), Some(&hi)) => (v[v.len() / 2], lo, hi),
        _ => (0.0, 0.0, 0.0),
    }
}

/// One run's figures: the ceiling's GET and page rates, and each backend's scenarios.
struct Run {
    ceil_get: f64,
    ceil_page: f64,
    backends: Vec<(Backend, Vec<(Scenario, Outcome)>)>,
}

/// The summary over every run: per scenario the median and range of the rate, of its
/// fraction of the same run's ceiling, and of p99; targets are judged on the medians.
fn print_summary(runs: &[Run], backends: &[Backend]) -> bool {
    let gets: Vec<f64> = runs.iter().map(|r| r.ceil_get).collect();
    let pages: Vec<f64> = runs.iter().map(|r| r.ceil_page).collect();
    let (g, glo, ghi) = median_range(&gets);
    let (p, plo, phi) = median_range(&pages);
    println!(
        "\nSummary of {} run(s): medians [min-max]. Ceiling GET {g:.0} [{glo:.0}-{ghi:.0}] req/s, page {p:.0} [{plo:.0}-{phi:.0}] req/s",
        runs.len()
    );
    let mut all_met = true;
    for &backend in backends {
        println!(
            "\n{backend:?}\n  {:<20} {:>20} {:>20} {:>8} {:>20} {:>7} {:>4}",
            "scenario", "req/s", "fraction", "target", "p99 ms", "errors", "met"
        );
        for sc in Scenario::ALL {
            let outs: Vec<(&Outcome, f64)> = runs
                .iter()
                .filter_map(|r| {
                    let (_, results) = r.backends.iter().find(|(b, _)| *b == backend)?;
                    let (_, o) = results.iter().find(|(s, _)| *s == sc)?;
                    let base = if sc == Scenario::Page { r.ceil_page } else { r.ceil_get };
                    Some((o, if base > 0.0 { o.rps / base } else { 0.0 }))
                })
                .collect();
            if outs.is_empty() {
                continue;
            }
            let rps: Vec<f64> = outs.iter().map(|(o, _)| o.rps).collect();
            let fr: Vec<f64> = outs.iter().map(|(_, f)| *f).collect();
            let p99: Vec<f64> = outs.iter().map(|(o, _)| o.p99_ms).collect();
            let errors: u64 = outs.iter().map(|(o, _)| o.errors()).sum();
            let ((r, rlo, rhi), (f, flo, fhi), (q, qlo, qhi)) =
                (median_range(&rps), median_range(&fr), median_range(&p99));
            let p99_ok = sc.p99_limit_ms().is_none_or(|limit| q < limit);
            let met = f >= sc.target(backend) && errors == 0 && p99_ok;
            all_met &= met;
            println!(
                "  {:<20} {:>20} {:>20} {:>8} {:>20} {:>7} {:>4}",
                sc.name(),
                format!("{r:.0} [{rlo:.0}-{rhi:.0}]"),
                format!("{f:.3} [{flo:.3}-{fhi:.3}]"),
                format!(">={:.2}", sc.target(backend)),
                format!("{q:.2} [{qlo:.2}-{qhi:.2}]"),
                errors,
                if met { "yes" } else { "NO" }
            );
        }
    }
    println!(
        "  targets: median fractions as listed, zero errors, median p99 of GET and filter < 5 ms"
    );
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
    /// `SCIM_LOADMIX_RUNS`: how many times the whole mix (ceiling included) runs.
    runs: usize,
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
    let backends = Backend::selected(&backend, "loadmix");
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
        runs: env_u64("SCIM_LOADMIX_RUNS", 3).max(1) as usize,
        only: std::env::var("SCIM_LOADMIX_ONLY").ok().map(|v| {
            v.split(',')
                .filter_map(|name| Scenario::ALL.into_iter().find(|sc| sc.key() == name.trim()))
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
        let db = Db::create(backend, &dir, "loadmix")?;
        let port = free_port();
        let pin = s.pin.then_some(0);
        let mut proc = spawn_server(pin, &dir, "server.log", port, &db.url, TOKEN, &s.extra_args)?;
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
    if std::env::args().any(|a| a == "--instructions") {
        if let Err(e) =
            rt.block_on(instructions::run(&s.backends, s.only.as_deref(), &s.extra_args))
        {
            eprintln!("loadmix --instructions: {e}");
            std::process::exit(1);
        }
        return;
    }
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
        let mut runs = Vec::new();
        let mut failed = false;
        for n in 1..=s.runs {
            println!("\n=== run {n} of {} ===", s.runs);
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
            failed |= cg.errors() + cp.errors() > 0;
            let mut run = Run { ceil_get: cg.rps, ceil_page: cp.rps, backends: Vec::new() };
            for &backend in &s.backends {
                match measure_server(&s, backend).await {
                    Ok(results) => {
                        let rows: Vec<(String, &Outcome)> =
                            results.iter().map(|(sc, o)| (sc.name().to_owned(), o)).collect();
                        print_outcomes(&format!("{backend:?}: scim-server"), &rows);
                        run.backends.push((backend, results));
                    }
                    Err(e) => {
                        eprintln!("loadmix: {backend:?} failed: {e}");
                        failed = true;
                    }
                }
            }
            runs.push(run);
        }
        let met = print_summary(&runs, &s.backends);
        (met, failed)
    });
    if !met {
        println!("\nloadmix: at least one target missed");
    }
    if failed {
        std::process::exit(1);
    }
}
