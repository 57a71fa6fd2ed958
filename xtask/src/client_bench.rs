//! `cargo xtask bench client [--users N]`: the `scim` CLI against a local release server on
//! SQLite, as an operator runs it.
//!
//! 1. builds `scim-server` and `scim` with `--release`, starts `scim-server serve` on a fresh
//!    SQLite file in a temporary directory (127.0.0.1, a free port);
//! 2. writes a CSV of N users (default 100,000; `userName`, `externalId`, name, work email,
//!    `active`, the enterprise `department`), imports the first 10% of it, exports them
//!    (JSON Lines), imports the rest, exports all: the export's memory at 10% and at 100%
//!    shows whether it stays flat;
//! 3. changes 1% of the rows (a new `name.givenName`) and runs `scim sync` on the whole file,
//!    counting the requests the server logs while it runs: only the changed users should be
//!    written.
//!
//! Each step is timed; its peak RSS comes from GNU time (`/usr/bin/time -v`) when the
//! machine has it (Debian's `time` package), else it is reported as unknown.

use super::flags::Flags;
use super::spawn::{DatabaseUrl, ScimServer, sqlite_url};
use super::{cargo, run, target_dir};
use anyhow::{Context, Result, bail};
use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TOKEN: &str = "client-bench-token-0123456789abcdef0123";
const GNU_TIME: &str = "/usr/bin/time";

/// Requests the server has logged so far in `log` (one access line each).
fn requests(log: &Path) -> usize {
    fs::read_to_string(log)
        .map(|t| t.lines().filter(|l| l.contains("scim_server::access")).count())
        .unwrap_or(0)
}

/// One measured step.
struct Step {
    name: String,
    secs: f64,
    peak_rss_mb: Option<f64>,
    note: String,
}

/// Entry point of `cargo xtask bench client`.
pub(crate) fn run_bench(args: &[String]) -> Result<()> {
    let mut users: usize = 100_000;
    let mut args = Flags::new(args);
    while let Some(flag) = args.next()? {
        match flag {
            "--users" => users = args.value()?.parse()?,
            other => {
                bail!("unknown argument '{other}'; usage: cargo xtask bench client [--users N]")
            }
        }
    }
    if users < 100 {
        bail!("--users must be at least 100");
    }
    run(cargo().args(["build", "--release", "-p", "scim-server", "-p", "scim-client", "--bins"]))?;
    let bin = target_dir().join("release");
    let dir = std::env::temp_dir().join(format!("scim-client-bench-{}", std::process::id()));
    fs::create_dir_all(&dir)?;
    let result = measure(&bin, &dir, users);
    let _ = fs::remove_dir_all(&dir);
    let steps = result?;
    let mut table = String::from("| step | time | peak RSS of `scim` | |\n|---|---|---|---|\n");
    for s in &steps {
        let rss = s.peak_rss_mb.map_or_else(|| "unknown".to_owned(), |m| format!("{m:.0} MB"));
        let _ = writeln!(table, "| {} | {:.1} s | {rss} | {} |", s.name, s.secs, s.note);
    }
    println!("\n{table}");
    Ok(())
}

fn measure(bin: &Path, dir: &Path, users: usize) -> Result<Vec<Step>> {
    // In the bench's directory, with no inherited `SCIM_*` settings.
    let url = sqlite_url(&dir.join("scim.db"));
    let server_bin = bin.join("scim-server");
    let scim = ScimServer { bin: &server_bin, dir, database: DatabaseUrl::Env(&url) };
    let log = dir.join("server.log");
    let server = scim.serve("client bench", &log, &[("SCIM_BOOTSTRAP_TOKEN", TOKEN)])?;
    let base = format!("{}/scim/v2", server.url());
    let tenth = users / 10;
    let all = dir.join("users.csv");
    let first = dir.join("first.csv");
    let rest = dir.join("rest.csv");
    let changed = dir.join("changed.csv");
    write_csv(&all, 0..users, |_| false)?;
    write_csv(&first, 0..tenth, |_| false)?;
    write_csv(&rest, tenth..users, |_| false)?;
    // Every 100th row gets a new given name: 1% changed.
    write_csv(&changed, 0..users, |i| i % 100 == 7)?;
    let scim = bin.join("scim");
    let mut steps = Vec::new();
    steps.push(timed(&scim, &base, &["import", path(&first)?], &format!("import {tenth}"))?);
    let out10 = dir.join("export10.jsonl");
    steps.push(timed(&scim, &base, &["export", "-o", path(&out10)?], &format!("export {tenth}"))?);
    steps.push(timed(
        &scim,
        &base,
        &["import", path(&rest)?],
        &format!("import {}", users - tenth),
    )?);
    let out = dir.join("export.jsonl");
    steps.push(timed(&scim, &base, &["export", "-o", path(&out)?], &format!("export {users}"))?);
    let before = requests(&log);
    let mut sync =
        timed(&scim, &base, &["sync", path(&changed)?], &format!("sync {users}, 1% changed"))?;
    // Let the last access lines reach the file.
    std::thread::sleep(Duration::from_millis(300));
    let sent = requests(&log) - before;
    let _ = write!(sync.note, "; {sent} requests ({} changed rows)", users.div_ceil(100));
    steps.push(sync);
    drop(server);
    Ok(steps)
}

fn path(p: &Path) -> Result<&str> {
    p.to_str().context("a temporary path is not UTF-8")
}

fn write_csv(
    file: &Path,
    rows: std::ops::Range<usize>,
    changed: impl Fn(usize) -> bool,
) -> Result<()> {
    let mut text = String::with_capacity(rows.len() * 140);
    text.push_str(
        "externalId,userName,name.givenName,name.familyName,emails[type eq \"work\"].value,active,\
         urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department\n",
    );
    for i in rows {
        let given = if changed(i) { format!("Renamed{i}") } else { format!("Given{i}") };
        let _ = writeln!(
            text,
            "e-{i},user{i}@example.com,{given},Family{i},user{i}@example.com,true,Dept{}",
            i % 50
        );
    }
    fs::write(file, text).with_context(|| format!("writing {}", file.display()))
}

/// Runs `scim --url BASE --token T ARGS` under GNU time when present.
fn timed(scim: &Path, base: &str, args: &[&str], name: &str) -> Result<Step> {
    let gnu = Path::new(GNU_TIME).is_file();
    let mut cmd = if gnu {
        let mut c = Command::new(GNU_TIME);
        c.arg("-v").arg(scim);
        c
    } else {
        Command::new(scim)
    };
    cmd.args(["--url", base, "--token", TOKEN]).args(args);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    eprintln!("client bench: scim {}", args.join(" "));
    let started = Instant::now();
    let out = cmd.output().context("running scim")?;
    let secs = started.elapsed().as_secs_f64();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        bail!("scim {} failed ({}):\n{stdout}\n{stderr}", args.join(" "), out.status);
    }
    let peak_rss_mb = stderr
        .lines()
        .find_map(|l| l.trim().strip_prefix("Maximum resident set size (kbytes):"))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0);
    let note = stdout.lines().last().unwrap_or_default().trim().to_owned();
    Ok(Step { name: name.to_owned(), secs, peak_rss_mb, note })
}
