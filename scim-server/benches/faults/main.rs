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

mod cold;
#[path = "../common/mod.rs"]
mod common;
mod hostile;
mod kill;
mod outage;
mod replicas;

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
    let backends = Backend::selected(&backend, "faults");
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
            let r = kill::kill_under_load(&opts, b, &dir, &mut rows).await;
            record(&mut rows, &format!("kill -9 under 8 writers ({b:?})"), r);
        }
        if pg {
            let r = replicas::replicas(&opts, &dir, &mut rows).await;
            record(&mut rows, "2 replicas on one PostgreSQL database", r);
        }
        for &b in &opts.backends {
            let r = cold::cold_starts(b, &dir, &mut rows).await;
            record(&mut rows, &format!("replicas cold-started at once ({b:?})"), r);
        }
        if pg {
            let r = outage::db_cut(&opts, &dir, &mut rows).await;
            record(&mut rows, "PostgreSQL cut under load", r);
        }
        let r = hostile::hostile(&opts, &dir, &mut rows).await;
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
