//! The venv with the independent SCIM server that scim-client's tests also run against
//! (`scim-client/tests/it/reference.rs`): `scim2-server`, pinned with its
//! dependencies in `scim-client/tests/reference/requirements.txt`.
//!
//! `cargo xtask ci` prepares it under the target directory and passes its python to the
//! tests as `SCIM_TEST_REFERENCE_PYTHON`; with the variable set, a server that cannot start
//! fails those tests. The venv is reused while the requirements file is unchanged, with no
//! network access; a `SCIM_TEST_REFERENCE_PYTHON` already set is used as it is.

use crate::venv::{self, Wants};
use anyhow::Result;
use std::path::{Path, PathBuf};

/// The variable the tests read.
pub(crate) const VAR: &str = "SCIM_TEST_REFERENCE_PYTHON";

/// The python of the reference server's venv, created or updated when needed.
pub(crate) fn python(root: &Path) -> Result<PathBuf> {
    if let Some(p) = std::env::var_os(VAR).filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let venv = super::target_dir().join("reference-venv");
    let requirements =
        root.join("scim-client").join("tests").join("reference").join("requirements.txt");
    let announce = format!("reference: preparing the scim2-server venv in {}", venv.display());
    venv::ensure(&venv, Wants::File(&requirements), "python", &announce)
}
