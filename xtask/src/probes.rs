//! `cargo xtask faults [--quick] [--backend sqlite|postgres|all]` and
//! `cargo xtask soak [--minutes N | --secs N | --quick] [--backend sqlite|postgres|all]`:
//! the fault probe and the soak, two plain-binary benches of `scim-server`
//! (`scim-server/benches/faults/`, `scim-server/benches/soak.rs`, which say what they
//! check) that start the real `scim-server serve`.
//!
//! The full forms measure the release build (`cargo bench`); `--quick` runs the short form
//! on the debug build (`cargo bench --profile dev`), which CI has already compiled for the
//! tests, so it adds seconds of building rather than minutes.

use anyhow::Result;

/// Runs the bench `name` with `args` (all passed on; `--quick` also picks the profile).
fn bench(name: &str, args: &[String]) -> Result<()> {
    let mut cmd = super::cargo();
    cmd.arg("bench");
    if args.iter().any(|a| a == "--quick") {
        cmd.args(["--profile", "dev"]);
    }
    cmd.args(["-p", "scim-server", "--bench", name, "--"]).args(args);
    super::run(&mut cmd)
}

/// Entry point of `cargo xtask faults`.
pub(crate) fn faults(args: &[String]) -> Result<()> {
    bench("faults", args)
}

/// Entry point of `cargo xtask soak` (default: 10 minutes on SQLite).
pub(crate) fn soak(args: &[String]) -> Result<()> {
    bench("soak", args)
}
