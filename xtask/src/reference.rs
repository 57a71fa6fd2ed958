//! The venv with the independent SCIM server that scim-client's tests also run against
//! (`scim-client/tests/it/reference.rs`): `scim2-server`, pinned with its
//! dependencies in `scim-client/tests/reference/requirements.txt`.
//!
//! `cargo xtask ci` prepares it under the target directory and passes its python to the
//! tests as `SCIM_TEST_REFERENCE_PYTHON`; with the variable set, a server that cannot start
//! fails those tests. The venv is reused while the requirements file is unchanged, with no
//! network access; a `SCIM_TEST_REFERENCE_PYTHON` already set is used as it is.

use anyhow::{Context, Result};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The variable the tests read.
pub(crate) const VAR: &str = "SCIM_TEST_REFERENCE_PYTHON";

/// The python of the reference server's venv, created or updated when needed.
pub(crate) fn python(root: &Path) -> Result<PathBuf> {
    if let Some(p) = std::env::var_os(VAR).filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root.join(dir),
        None => root.join("target"),
    };
    let venv = target.join("reference-venv");
    let requirements =
        root.join("scim-client").join("tests").join("reference").join("requirements.txt");
    let stamp = venv.join(".requirements.txt");
    let python = venv.join("bin").join("python");
    let wanted =
        fs::read(&requirements).with_context(|| format!("reading {}", requirements.display()))?;
    if python.is_file() && fs::read(&stamp).ok().as_deref() == Some(&wanted[..]) {
        return Ok(python);
    }
    eprintln!("reference: preparing the scim2-server venv in {}", venv.display());
    if venv.exists() {
        fs::remove_dir_all(&venv).with_context(|| format!("removing {}", venv.display()))?;
    }
    let interpreter = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    super::run(Command::new(&interpreter).args(["-m", "venv"]).arg(&venv))
        .with_context(|| format!("creating a venv with {interpreter} (needs python3-venv)"))?;
    super::run(
        Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r"])
            .arg(&requirements),
    )
    .with_context(|| format!("installing {}", requirements.display()))?;
    fs::write(&stamp, &wanted)?;
    Ok(python)
}
