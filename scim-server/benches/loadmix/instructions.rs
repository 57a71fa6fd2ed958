//! `--instructions`: what each scenario costs the server in instructions and allocations,
//! counted by valgrind's callgrind, not timed. The counts do not depend on the host, its
//! load or its clock, so two builds compare to the percent where the load mix's rates
//! move by 20% between runs (`SCIM_BENCH_SERVER_BIN` picks the build).
//!
//! The server runs under `valgrind --tool=callgrind --instr-atstart=no` on a fresh
//! database, is seeded by `POST` with instrumentation off, then for each scenario: 20
//! requests to warm up, instrumentation on (`callgrind_control -i on`), `SCIM_INSTR_REQUESTS`
//! requests (default 200) one after the other on one keep-alive connection,
//! instrumentation off, and a dump. Every thread of the server is counted (the access log
//! writer and the checkpointer too). Allocations are the calls to the server's
//! allocator, mimalloc (`mi_malloc_aligned`, `mi_zalloc_aligned`, `mi_realloc_aligned`),
//! and to the C one (`malloc`, `calloc`, `realloc`: SQLite's).
//!
//! `SCIM_INSTR_KEEP=<dir>` keeps the dumps there (one per scenario, named after it) for
//! `callgrind_annotate`.

use super::{Scenario, Seeded, TOKEN, build, seed};
use crate::common::{
    Backend, Db, Proc, Rng, free_port, send, server_bin, spawn_serve, wait_healthy,
};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

/// The allocator entry points whose calls count as allocations: mimalloc's, which the
/// server's global allocator calls (the Rust allocator's own entry points are inlined
/// away in a release build with LTO), and the C library's, which SQLite calls.
const ALLOCATORS: [&str; 6] =
    ["mi_malloc_aligned", "mi_zalloc_aligned", "mi_realloc_aligned", "malloc", "calloc", "realloc"];

/// Runs every selected scenario against each backend under callgrind and prints the
/// counts per request.
pub(super) async fn run(
    backends: &[Backend],
    only: Option<&[Scenario]>,
    extra_args: &[String],
) -> Result<(), String> {
    let ok = Command::new("valgrind").arg("--version").output().is_ok_and(|o| o.status.success());
    if !ok {
        return Err("valgrind is not installed (Debian: apt-get install -y valgrind)".into());
    }
    let users = crate::common::env_u64("SCIM_INSTR_USERS", 300).max(super::PAGE as u64) as usize;
    let requests = crate::common::env_u64("SCIM_INSTR_REQUESTS", 200).max(1) as usize;
    println!(
        "instructions: {} under callgrind, {users} users, {requests} requests per scenario",
        server_bin().display()
    );
    for &backend in backends {
        let dir = std::env::temp_dir()
            .join(format!("scim-instructions-{}-{backend:?}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let counted = measure(backend, &dir, users, requests, only, extra_args).await;
        let _ = std::fs::remove_dir_all(&dir);
        let rows = counted?;
        println!("\n{backend:?}: per request (every thread of the server)");
        println!(
            "  {:<22} {:>14} {:>12} {:>18}",
            "scenario", "instructions", "allocations", "of which WAL copy"
        );
        for (sc, c) in rows {
            println!(
                "  {:<22} {:>14} {:>12} {:>18}",
                sc.name(),
                thousands(c.instructions / requests as u64),
                thousands(c.allocations / requests as u64),
                thousands(c.checkpointer / requests as u64)
            );
        }
    }
    Ok(())
}

/// One dump's totals.
#[derive(Debug, Default, PartialEq)]
struct Counts {
    instructions: u64,
    allocations: u64,
    /// Instructions of the background WAL checkpointer (included in `instructions`).
    checkpointer: u64,
}

async fn measure(
    backend: Backend,
    dir: &Path,
    users: usize,
    requests: usize,
    only: Option<&[Scenario]>,
    extra_args: &[String],
) -> Result<Vec<(Scenario, Counts)>, String> {
    let db = Db::create(backend, dir, "instructions")?;
    let port = free_port();
    let out = dir.join("callgrind.out");
    let mut valgrind = Command::new("valgrind");
    valgrind
        .args(["--tool=callgrind", "--instr-atstart=no"])
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(server_bin());
    // The server refuses `SCIM_` variables it does not know; these are the bench's own.
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("SCIM_INSTR_") {
            valgrind.env_remove(k);
        }
    }
    let mut proc = spawn_serve(valgrind, dir, "server.log", port, &db.url, TOKEN, extra_args)?;
    let t = Arc::new(crate::common::target(port, Some(TOKEN)));
    wait_healthy(&t, &mut proc).await?;
    let (ids, names) = seed(&t, users, 1).await.map_err(|e| format!("{e}\n{}", proc.log_tail()))?;
    let seeded = Seeded {
        ids,
        names,
        tag: format!("{}-instr-{backend:?}", std::process::id()),
        created: AtomicU64::new(0),
    };
    let pid = proc.pid().to_string();
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let mut sender = None;
    let mut dumps = Vec::new();
    for sc in Scenario::ALL.into_iter().filter(|sc| only.is_none_or(|o| o.contains(sc))) {
        let mut go =
            |n: usize| (0..n).map(|_| build(&t, sc, &seeded, &mut rng)).collect::<Vec<_>>();
        for req in go(20) {
            answer(&mut sender, t.addr, req, &proc).await?;
        }
        let batch = go(requests);
        control(&["-i", "on", &pid])?;
        for req in batch {
            answer(&mut sender, t.addr, req, &proc).await?;
        }
        control(&["-i", "off", &pid])?;
        let name = format!("scenario-{}", dumps.len());
        control(&["-d", &name, &pid])?;
        dumps.push((sc, name));
    }
    drop(sender);
    // Every dump is written; dropping the server kills and reaps it.
    drop(proc);
    drop(db);
    let files = dump_files(dir)?;
    dumps
        .into_iter()
        .map(|(sc, name)| {
            let text = files
                .iter()
                .find(|(_, text)| trigger(text).is_some_and(|t| t.ends_with(&name)))
                .map(|(_, text)| text)
                .ok_or_else(|| format!("no callgrind dump for {}", sc.name()))?;
            if let Some(keep) = std::env::var_os("SCIM_INSTR_KEEP") {
                let keep = Path::new(&keep);
                std::fs::create_dir_all(keep).map_err(|e| e.to_string())?;
                let name = format!("callgrind.{backend:?}.{}", sc.key()).to_lowercase();
                let to = keep.join(name);
                std::fs::write(&to, text).map_err(|e| format!("{}: {e}", to.display()))?;
            }
            Ok((sc, counts(text)))
        })
        .collect()
}

/// Sends `req` and fails unless the answer is a success.
async fn answer(
    sender: &mut Option<
        hyper::client::conn::http1::SendRequest<http_body_util::Full<bytes::Bytes>>,
    >,
    addr: SocketAddr,
    req: http::Request<http_body_util::Full<bytes::Bytes>>,
    proc: &Proc,
) -> Result<(), String> {
    let what = format!("{} {}", req.method(), req.uri());
    let (status, body) = send(sender, addr, req).await?;
    if !(200..300).contains(&status) {
        return Err(format!(
            "{what}: status {status}: {}\n{}",
            String::from_utf8_lossy(&body),
            proc.log_tail()
        ));
    }
    Ok(())
}

fn control(args: &[&str]) -> Result<(), String> {
    let out = Command::new("callgrind_control")
        .args(args)
        .output()
        .map_err(|e| format!("callgrind_control: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "callgrind_control {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

/// The callgrind output files in `dir`, with their text.
fn dump_files(dir: &Path) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| e.to_string())? {
        let path = entry.map_err(|e| e.to_string())?.path();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if name.starts_with("callgrind.out") {
            out.push((name, std::fs::read_to_string(&path).map_err(|e| e.to_string())?));
        }
    }
    Ok(out)
}

/// What triggered a dump (`desc: Trigger: ...`).
fn trigger(text: &str) -> Option<&str> {
    text.lines().find_map(|l| l.strip_prefix("desc: Trigger:")).map(str::trim)
}

/// The SQLite store's background checkpoint, and the function its thread starts in.
const CHECKPOINT: &str = "scim_store::sql::sqlite::wal::checkpoint";
const THREAD_START: &str = "std::sys::backtrace::__rust_begin_short_backtrace";

/// A dump's instructions (`totals:`), its calls to the allocators and what the
/// background checkpointer spent: each `calls=N` line counts N calls of the function
/// the `cfn=` line before it names, and the line after it holds their inclusive cost
/// (names are compressed: `(id) name` the first time, `(id)` after). The checkpointer
/// copies the WAL written by earlier requests whenever its thread gets to it, so its
/// work lands in whichever scenario is running then (seeding's WAL in the first).
fn counts(text: &str) -> Counts {
    let mut names: HashMap<&str, &str> = HashMap::new();
    let mut caller: &str = "";
    let mut callee: Option<&str> = None;
    let mut checkpoint_cost = false;
    let mut c = Counts::default();
    for line in text.lines() {
        if checkpoint_cost {
            checkpoint_cost = false;
            let cost = line.split_whitespace().last().and_then(|v| v.parse::<u64>().ok());
            c.checkpointer += cost.unwrap_or(0);
        }
        if let Some(v) = line.strip_prefix("totals:").or_else(|| line.strip_prefix("summary:")) {
            c.instructions = v.trim().parse().unwrap_or(c.instructions);
        } else if let Some(rest) = line.strip_prefix("cfn=") {
            callee = Some(name_of(rest, &mut names));
        } else if let Some(rest) = line.strip_prefix("fn=") {
            caller = name_of(rest, &mut names);
            callee = None;
        } else if let Some(rest) = line.strip_prefix("calls=") {
            let n: u64 = rest.split_whitespace().next().and_then(|v| v.parse().ok()).unwrap_or(0);
            if callee.is_some_and(|f| ALLOCATORS.contains(&f)) {
                c.allocations += n;
            }
            checkpoint_cost = callee == Some(CHECKPOINT) && caller.starts_with(THREAD_START);
            callee = None;
        }
    }
    c
}

/// The function a `fn=`/`cfn=` value names, remembering `(id) name` for later `(id)`s.
fn name_of<'t>(value: &'t str, names: &mut HashMap<&'t str, &'t str>) -> &'t str {
    let value = value.trim();
    match value.strip_prefix('(').and_then(|v| v.split_once(')')) {
        Some((id, name)) if !name.trim().is_empty() => {
            names.insert(id, name.trim());
            name.trim()
        }
        Some((id, _)) => names.get(id).copied().unwrap_or(""),
        None => value,
    }
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}
