//! Soak (plain binary, `harness = false`): churn against one `scim-server serve` for
//! minutes, sampling the server's memory and the database's size, to show both level off.
//!
//! `cargo xtask soak [--minutes N | --secs N] [--backend sqlite|postgres|all]`, which runs
//! `cargo bench -p scim-server --bench soak -- ...` (default 10 minutes on SQLite).
//!
//! Load: 8 keep-alive connections, each owning its own users: 30% creates, 20% PATCHes of
//! `displayName`, 20% deletes (a connection holding more than 200 users deletes instead of
//! creating, so the live set stays near 1,600), 30% reads (GET by id and `userName eq`
//! filters). The server runs with the retention turned down (`change_log_max_rows` 2000,
//! pruning every 5 s) so that pruning is part of what is measured.
//!
//! Every 5 s (3 s for runs under two minutes) it records the server's RSS
//! (`VmRSS`), the database size (SQLite file + WAL; `pg_database_size`), requests/s, the
//! error rate and p99, and prints the series and the least-squares slope over the second
//! half. It fails when requests failed (more than 0.1%), or when either series still grows
//! over the second half by more than its tolerance: the growth the slope projects over the
//! second half must stay under 10% of that half's mean level, or 4 MB (RSS) / 2 MB
//! (database), whichever is larger.
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
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TOKEN: &str = "soak-probe-token-0123456789abcdef";
const CONNECTIONS: usize = 8;
/// Users one connection keeps at most before it deletes instead of creating.
const OWN_MAX: usize = 200;
const CHANGE_LOG_MAX_ROWS: u64 = 2000;
/// What the change log may hold beyond its limit at the end: the writes of one pruning
/// interval (5 s).
const CHANGE_LOG_SLACK: u64 = 10_000;
const MB: f64 = 1024.0 * 1024.0;

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    errors: AtomicU64,
    lat_ns: Mutex<Vec<u64>>,
    first_error: Mutex<Option<String>>,
}

struct Sample {
    at_s: f64,
    rss: u64,
    anon: u64,
    db: u64,
    rps: f64,
    errors: u64,
    p99_ms: f64,
}

async fn churn(t: Arc<Target>, c: usize, counters: Arc<Counters>, stop: Arc<AtomicBool>) {
    let mut sender = None;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ ((c as u64 + 1) << 16));
    let mut own: Vec<(String, String)> = Vec::new();
    let mut n = 0usize;
    while !stop.load(Ordering::Relaxed) {
        let roll = rng.below(100);
        let (method, uri, body): (&str, String, Option<Value>) = if own.is_empty()
            || (roll < 30 && own.len() < OWN_MAX)
        {
            n += 1;
            let name = format!("soak-{c}-{n}@example.com");
            ("POST", "/scim/v2/Users".into(), Some(user_doc(c * 100_000_000 + n, &name)))
        } else if roll < 50 {
            let (id, _) = &own[rng.below(own.len())];
            let patch = json!({"schemas": [PATCH_SCHEMA], "Operations": [
                {"op": "replace", "path": "displayName", "value": format!("Soak {}", rng.below(1_000_000))}]});
            ("PATCH", format!("/scim/v2/Users/{id}"), Some(patch))
        } else if roll < 70 || own.len() >= OWN_MAX {
            let (id, _) = own.swap_remove(rng.below(own.len()));
            ("DELETE", format!("/scim/v2/Users/{id}"), None)
        } else if roll < 85 {
            let (id, _) = &own[rng.below(own.len())];
            ("GET", format!("/scim/v2/Users/{id}"), None)
        } else {
            let (_, name) = &own[rng.below(own.len())];
            let f = pct_encode(&format!("userName eq \"{name}\""));
            ("GET", format!("/scim/v2/Users?filter={f}"), None)
        };
        let t0 = Instant::now();
        let res = call(&mut sender, &t, method, &uri, body.as_ref(), &[]).await;
        let ns = t0.elapsed().as_nanos() as u64;
        counters.requests.fetch_add(1, Ordering::Relaxed);
        counters.lat_ns.lock().unwrap().push(ns);
        match res {
            Ok((status, _, body)) if (200..300).contains(&status) => {
                if method == "POST" {
                    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    if let (Some(id), Some(name)) = (v["id"].as_str(), v["userName"].as_str()) {
                        own.push((id.to_owned(), name.to_owned()));
                    }
                }
            }
            other => {
                counters.errors.fetch_add(1, Ordering::Relaxed);
                let what = match other {
                    Ok((s, _, b)) => format!("{method} {uri}: {s} {}", String::from_utf8_lossy(&b)),
                    Err(e) => format!("{method} {uri}: {e}"),
                };
                counters.first_error.lock().unwrap().get_or_insert(what);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// Slope over the second half (per minute) and whether it stays within the tolerance.
fn judge(points: &[(f64, f64)], floor_mb: f64) -> (f64, f64, bool) {
    let half: Vec<(f64, f64)> = points[points.len() / 2..].to_vec();
    let per_min = slope(&half);
    let span = half.last().map_or(0.0, |l| l.0) - half.first().map_or(0.0, |f| f.0);
    let mean = half.iter().map(|p| p.1).sum::<f64>() / half.len().max(1) as f64;
    let growth = per_min * span;
    let allowed = (mean * 0.10).max(floor_mb);
    (per_min, growth, growth <= allowed)
}

async fn soak(backend: Backend, duration: Duration, every: Duration) -> Result<bool, String> {
    let dir = std::env::temp_dir().join(format!("scim-soak-{}-{backend:?}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let db = Db::create(backend, &dir, "soak")?;
    let port = free_port();
    let args: Vec<String> = [
        "--log-level",
        "warn",
        "--change-log-max-rows",
        &CHANGE_LOG_MAX_ROWS.to_string(),
        "--prune-interval-secs",
        "5",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let mut proc = spawn_server(None, &dir, "server.log", port, &db.url, TOKEN, &args)?;
    let t = Arc::new(target(port, Some(TOKEN)));
    wait_healthy(&t, &mut proc).await?;
    let counters = Arc::new(Counters::default());
    let stop = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = (0..CONNECTIONS)
        .map(|c| tokio::spawn(churn(t.clone(), c, counters.clone(), stop.clone())))
        .collect();
    let start = Instant::now();
    let mut samples = Vec::new();
    let (mut last_req, mut last_err, mut last_at) = (0u64, 0u64, start);
    while start.elapsed() < duration {
        tokio::time::sleep(every).await;
        if let Ok(Some(status)) = proc.child.try_wait() {
            return Err(format!("server exited with {status}:\n{}", proc.log_tail()));
        }
        let now = Instant::now();
        let req = counters.requests.load(Ordering::Relaxed);
        let err = counters.errors.load(Ordering::Relaxed);
        let mut lat = std::mem::take(&mut *counters.lat_ns.lock().unwrap());
        lat.sort_unstable();
        let s = Sample {
            at_s: start.elapsed().as_secs_f64(),
            rss: rss_bytes(proc.pid()),
            anon: rss_anon_bytes(proc.pid()),
            db: db.size_bytes(),
            rps: (req - last_req) as f64 / (now - last_at).as_secs_f64(),
            errors: err - last_err,
            p99_ms: quantile_ms(&lat, 0.99),
        };
        eprintln!(
            "soak {backend:?}: {:>6.0} s  RSS {:>7.1} MB (anon {:>7.1})  db {:>7.1} MB  {:>6.0} req/s  p99 {:>7.2} ms  errors {}",
            s.at_s,
            s.rss as f64 / MB,
            s.anon as f64 / MB,
            s.db as f64 / MB,
            s.rps,
            s.p99_ms,
            s.errors
        );
        (last_req, last_err, last_at) = (req, err, now);
        samples.push(s);
    }
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        let _ = task.await;
    }
    let change_log = db.query("SELECT count(*) FROM change_log").unwrap_or_else(|e| e);
    let live = db.query("SELECT count(*) FROM resources").unwrap_or_else(|e| e);
    drop(proc);
    drop(db);
    let _ = std::fs::remove_dir_all(&dir);

    println!("\nsoak {backend:?}: {:.0} s, {CONNECTIONS} connections", duration.as_secs_f64());
    println!(
        "  {:>7} {:>9} {:>9} {:>9} {:>8} {:>8} {:>9}",
        "t (s)", "RSS MB", "anon MB", "DB MB", "req/s", "errors", "p99 ms"
    );
    for s in &samples {
        println!(
            "  {:>7.0} {:>9.1} {:>9.1} {:>9.2} {:>8.0} {:>8} {:>9.2}",
            s.at_s,
            s.rss as f64 / MB,
            s.anon as f64 / MB,
            s.db as f64 / MB,
            s.rps,
            s.errors,
            s.p99_ms
        );
    }
    let total = counters.requests.load(Ordering::Relaxed);
    let errors = counters.errors.load(Ordering::Relaxed);
    let rate = errors as f64 / total.max(1) as f64;
    let mins = |f: fn(&Sample) -> u64| -> Vec<(f64, f64)> {
        samples.iter().map(|s| (s.at_s / 60.0, f(s) as f64 / MB)).collect()
    };
    // A run under five minutes sees the warm-up (caches, allocator arenas filling), not a
    // trend: it only catches gross growth; the RSS verdict that counts is a long run's.
    let rss_floor = if duration.as_secs() < 300 { 16.0 } else { 4.0 };
    let (rss_slope, rss_growth, rss_ok) = judge(&mins(|s| s.rss), rss_floor);
    let (db_slope, db_growth, db_ok) = judge(&mins(|s| s.db), 2.0);
    let enough = samples.len() >= 4;
    println!(
        "  second half: RSS {rss_slope:+.2} MB/min ({rss_growth:+.1} MB over it) {}; database {db_slope:+.2} MB/min ({db_growth:+.1} MB) {}",
        if rss_ok { "ok" } else { "GROWING" },
        if db_ok { "ok" } else { "GROWING" }
    );
    println!(
        "  {total} requests, {errors} errors ({:.3}%); at the end: {change_log} change-log rows (kept at most {CHANGE_LOG_MAX_ROWS}), {live} resource rows (soft-deleted included)",
        rate * 100.0
    );
    if let Some(e) = counters.first_error.lock().unwrap().as_ref() {
        println!("  first error: {}", e.chars().take(300).collect::<String>());
    }
    if !enough {
        println!("  too few samples to judge a trend: run longer");
    }
    let change_log_ok =
        change_log.parse::<u64>().is_ok_and(|n| n <= CHANGE_LOG_MAX_ROWS + CHANGE_LOG_SLACK);
    Ok(enough && rss_ok && db_ok && rate <= 0.001 && change_log_ok)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut secs = 600u64;
    let mut backend = "sqlite".to_owned();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut num = |flag: &str| -> u64 {
            it.next().and_then(|v| v.parse().ok()).unwrap_or_else(|| {
                eprintln!("soak: {flag} needs a number");
                std::process::exit(2)
            })
        };
        match a.as_str() {
            "--minutes" => secs = num("--minutes") * 60,
            "--secs" => secs = num("--secs"),
            "--quick" => secs = 45,
            "--backend" => backend = it.next().cloned().unwrap_or_default(),
            _ => {} // `cargo bench` passes `--bench`
        }
    }
    let backends = Backend::selected(&backend, "soak");
    let every = Duration::from_secs(if secs < 120 { 3 } else { 5 });
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut ok = true;
    for b in backends {
        match rt.block_on(soak(b, Duration::from_secs(secs.max(1)), every)) {
            Ok(pass) => ok &= pass,
            Err(e) => {
                eprintln!("soak {b:?}: {e}");
                ok = false;
            }
        }
    }
    if ok {
        println!("soak: levels off within tolerance, no errors");
    } else {
        println!("soak: FAILED (errors, a growing series, or too short a run)");
        std::process::exit(1);
    }
}
