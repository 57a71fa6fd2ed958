//! `cargo xtask fuzz [--secs N] [TARGET...]`: runs each cargo-fuzz target of `fuzz/`
//! (`filter`, `path`, `patch`, or those named) for `--secs` seconds (default 60) each.
//!
//! Uses `cargo fuzz run <target> --sanitizer none` (CONTRIBUTING.md, "Fuzzing": it works on
//! the stable toolchain, so no nightly is needed), with `fuzz/dict/filter.dict` for the
//! filter and path parsers. Fails when a target finds a crash (its input is left in
//! `fuzz/artifacts/<target>/`), or, saying what is missing, when cargo-fuzz is not
//! installed (`cargo install cargo-fuzz`; libFuzzer also needs a C++ compiler).

use anyhow::{Context, Result, bail};
use std::process::Stdio;

/// The targets of `fuzz/Cargo.toml`, with their dictionaries.
const TARGETS: &[(&str, Option<&str>)] =
    &[("filter", Some("dict/filter.dict")), ("path", Some("dict/filter.dict")), ("patch", None)];

const USAGE: &str = "usage: cargo xtask fuzz [--secs N] [filter|path|patch ...]";

/// Entry point of `cargo xtask fuzz`.
pub(crate) fn run(args: &[String]) -> Result<()> {
    let mut secs: u64 = 60;
    let mut chosen: Vec<&str> = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--secs" => {
                secs = it.next().context("--secs needs a value")?.parse().context("--secs")?;
            }
            s if s.starts_with("--secs=") => {
                secs = s.trim_start_matches("--secs=").parse().context("--secs")?;
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            t if TARGETS.iter().any(|(name, _)| *name == t) => chosen.push(t),
            other => bail!("unknown argument '{other}'; {USAGE}"),
        }
    }
    let installed = super::cargo()
        .args(["fuzz", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !installed {
        bail!(
            "cargo-fuzz is not installed: run `cargo install cargo-fuzz` (libFuzzer also needs a \
             C++ compiler), then `cargo xtask fuzz` again"
        );
    }
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
