//! Project automation: `cargo xtask ci | docs-check | bench [core|store|server|client] |
//! conformance | schemathesis | console | fuzz | faults | soak | release`.
//!
//! Stays light (no tokio, no network crates) so it builds in seconds.
#![allow(clippy::print_stdout)]

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

mod client_bench;
mod conformance;
mod console;
mod docs_check;
mod flags;
mod fuzz;
mod probes;
mod reference;
mod release;
mod schemathesis;
mod spawn;
mod venv;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

/// Cargo's target directory: `CARGO_TARGET_DIR` (relative to the root, where [`run`] runs
/// cargo), else `<root>/target`.
fn target_dir() -> PathBuf {
    let root = root();
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root.join(dir),
        None => root.join("target"),
    }
}

fn run(cmd: &mut Command) -> Result<()> {
    eprintln!("$ {cmd:?}");
    let status = cmd.current_dir(root()).status().with_context(|| format!("spawning {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

fn ci() -> Result<()> {
    run(cargo().args(["fmt", "--all", "--", "--check"]))?;
    run(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--all-features",
        "--",
        "-D",
        "warnings",
    ]))?;
    // scim-client's tests against an independent server need its venv (reference.rs).
    let reference = reference::python(&root())?;
    run(cargo()
        .args(["nextest", "run", "--workspace", "--all-features", "--no-fail-fast"])
        .env(reference::VAR, reference))?;
    run(cargo().args(["test", "--workspace", "--all-features", "--doc"]))?;
    // The scim-server and scim command lines of README.md and docs/ parse (docs_check.rs).
    docs_check::run(&root())?;
    // A short schemathesis run: the API against its own OpenAPI document (about 1.5 min).
    let short = ["--secs", "60", "--examples", "10"].map(String::from);
    schemathesis::run(&short)?;
    // The operator console in headless chromium (about 30 s once chromium is installed).
    console::run(&[])?;
    // The fault probe's short form and a 45 s soak, on the debug build (about 2 min).
    probes::faults(&["--quick".into(), "--backend".into(), "all".into()])?;
    probes::soak(&["--quick".into()])?;
    // Each fuzz target for 15 s (cargo-fuzz installed on first use; `cargo xtask fuzz` runs
    // them longer).
    fuzz::run(&["--secs".into(), "15".into()])?;
    Ok(())
}

fn bench(what: Option<&str>) -> Result<()> {
    let core = || run(cargo().args(["bench", "-p", "scim-core", "--bench", "core"]));
    // The store bench is a plain binary; SCIM_BENCH_USERS / SCIM_BENCH_URL tune it.
    let store =
        || run(cargo().args(["bench", "-p", "scim-store", "--all-features", "--bench", "store"]));
    match what {
        Some("core") => core(),
        Some("store") => store(),
        // A plain binary too: the flags after `server` (`--backend sqlite|postgres|all`) go to
        // it; SCIM_LOADMIX_SECS, SCIM_LOADMIX_USERS, ... tune it (see benches/loadmix.rs).
        Some("server") => run(cargo()
            .args(["bench", "-p", "scim-server", "--bench", "loadmix", "--"])
            .args(std::env::args().skip(3))),
        // `scim import / export / sync` against a local release server (client_bench.rs).
        Some("client") => client_bench::run_bench(&std::env::args().skip(3).collect::<Vec<_>>()),
        None | Some("all") => core().and_then(|()| store()),
        Some(other) => {
            bail!("unknown bench target '{other}' (expected: core, store, server, client, all)")
        }
    }
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("bench") => bench(args.get(1).map(String::as_str)),
        Some("conformance") => conformance::run(&args[1..]),
        Some("fuzz") => fuzz::run(&args[1..]),
        Some("schemathesis") => schemathesis::run(&args[1..]),
        Some("console") => console::run(&args[1..]),
        Some("faults") => probes::faults(&args[1..]),
        Some("soak") => probes::soak(&args[1..]),
        Some("release") => release::run(&args[1..]),
        Some("docs-check") => docs_check::run(&root()),
        _ => {
            eprintln!(
                "usage: cargo xtask <ci | docs-check | bench [core|store|all] | bench server [--backend sqlite|postgres|all] [--instructions] | bench client [--users N] | conformance [--backend sqlite|postgres|all] [--family rfc|org|all] | schemathesis [--url URL --token T] [--secs N] [--examples N] | console | fuzz [--secs N] [TARGET...] | faults [--quick] [--backend sqlite|postgres|all] | soak [--minutes N | --secs N | --quick] [--backend sqlite|postgres|all] | release VERSION [--dry-run] [--skip-ci] [--no-verify] [--offline] [--profile P]>"
            );
            std::process::exit(2);
        }
    }
}
