//! `cargo xtask fuzz [--secs N] [TARGET...]`: runs each cargo-fuzz target of `fuzz/`
//! (`filter`, `path`, `patch`, or those named) for `--secs` seconds (default 60) each.
//!
//! Uses `cargo fuzz run <target> --sanitizer none` (CONTRIBUTING.md, "Fuzzing": it works on
//! the stable toolchain, so no nightly is needed), with `fuzz/dict/filter.dict` for the
//! filter and path parsers. Fails when a target finds a crash (its input is left in
//! `fuzz/artifacts/<target>/`). cargo-fuzz is installed (`cargo install cargo-fuzz
//! --locked`) when missing; libFuzzer also needs a C++ compiler (Debian's `g++`, installed
//! the same way when missing and this runs as root).

use crate::flags::Flags;
use anyhow::{Context, Result, bail};
use std::process::Stdio;

/// The targets of `fuzz/Cargo.toml`, with their dictionaries.
const TARGETS: &[(&str, Option<&str>)] = &[
    ("filter", Some("dict/filter.dict")),
    ("path", Some("dict/filter.dict")),
    ("patch", None),
    ("scan", Some("dict/json.dict")),
];

const USAGE: &str = "usage: cargo xtask fuzz [--secs N] [filter|path|patch|scan ...]";

/// Entry point of `cargo xtask fuzz`.
pub(crate) fn run(args: &[String]) -> Result<()> {
    let mut secs: u64 = 60;
    let mut chosen: Vec<&str> = Vec::new();
    let mut args = Flags::new(args);
    while let Some(arg) = args.next()? {
        match arg {
            "--secs" => secs = args.value()?.parse().context("--secs")?,
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            t if TARGETS.iter().any(|(name, _)| *name == t) => chosen.push(t),
            other => bail!("unknown argument '{other}'; {USAGE}"),
        }
    }
    ensure_cargo_fuzz()?;
    let dir = super::root().join("fuzz");
    let mut failed = Vec::new();
    for (target, dict) in TARGETS.iter().filter(|(t, _)| chosen.is_empty() || chosen.contains(t)) {
        let mut cmd = super::cargo();
        cmd.current_dir(&dir)
            .args(["fuzz", "run", target, "--sanitizer", "none", "--"])
            .arg(format!("-max_total_time={secs}"));
        if let Some(d) = dict {
            cmd.arg(format!("-dict={d}"));
        }
        eprintln!("fuzz: {target} for {secs}s: {cmd:?}");
        let status = cmd.status().with_context(|| format!("running {cmd:?}"))?;
        if !status.success() {
            eprintln!("fuzz: {target} FAILED ({status}); the input is in fuzz/artifacts/{target}/");
            failed.push(*target);
        }
    }
    if !failed.is_empty() {
        bail!("fuzz targets failed: {}", failed.join(", "));
    }
    println!("fuzz: no crashes");
    Ok(())
}

fn cargo_fuzz_works() -> bool {
    super::cargo()
        .args(["fuzz", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Installs cargo-fuzz (and a C++ compiler for libFuzzer) when missing, so that a fresh
/// machine runs the fuzzers with nothing set up by hand.
fn ensure_cargo_fuzz() -> Result<()> {
    let has = |tool: &str| {
        std::process::Command::new(tool)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !has("c++") && !has("g++") {
        eprintln!("fuzz: no C++ compiler; installing g++ with apt-get");
        let ok = std::process::Command::new("apt-get")
            .args(["install", "-y", "g++"])
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            bail!("libFuzzer needs a C++ compiler: install g++ (apt-get install -y g++)");
        }
    }
    if cargo_fuzz_works() {
        return Ok(());
    }
    eprintln!(
        "fuzz: cargo-fuzz is not installed; installing it (cargo install cargo-fuzz --locked)"
    );
    super::run(super::cargo().args(["install", "cargo-fuzz", "--locked"]))
        .context("installing cargo-fuzz")?;
    if !cargo_fuzz_works() {
        bail!("cargo-fuzz was installed but `cargo fuzz` does not run: is ~/.cargo/bin on PATH?");
    }
    Ok(())
}
