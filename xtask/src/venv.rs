//! The Python venvs under the target directory that some commands run their tools from
//! (Selenium, the conformance testers, schemathesis, the reference server).

use anyhow::{Context, Result};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What pip installs into a venv.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Wants<'a> {
    /// A requirements file (`pip install -r FILE`); its bytes are the stamp.
    File(&'a Path),
    /// One requirement (`pip install PIN`), such as `name==1.2.3`; it is the stamp.
    Pin(&'a str),
}

/// `<dir>/bin/<tool>` of a venv holding `wants`, made or remade when `wants` changes.
///
/// The venv keeps what it was made from in a stamp file (`.requirements.txt` or `.pin`);
/// while the stamp matches and the tool exists, it is reused with no network access.
/// Otherwise `announce` is printed, the directory removed, the venv made with `PYTHON`
/// (default `python3`) and `wants` installed with its pip.
pub(crate) fn ensure(dir: &Path, wants: Wants<'_>, tool: &str, announce: &str) -> Result<PathBuf> {
    let (stamp, wanted) = match wants {
        Wants::File(file) => (
            dir.join(".requirements.txt"),
            fs::read(file).with_context(|| format!("reading {}", file.display()))?,
        ),
        Wants::Pin(pin) => (dir.join(".pin"), pin.as_bytes().to_vec()),
    };
    let tool = dir.join("bin").join(tool);
    if tool.is_file() && fs::read(&stamp).ok().as_deref() == Some(&wanted[..]) {
        return Ok(tool);
    }
    eprintln!("{announce}");
    if dir.exists() {
        fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    let interpreter = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    super::run(Command::new(&interpreter).args(["-m", "venv"]).arg(dir))
        .with_context(|| format!("creating a venv with {interpreter} (needs python3-venv)"))?;
    let mut pip = Command::new(dir.join("bin").join("python"));
    pip.args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check"]);
    let what = match wants {
        Wants::File(file) => {
            pip.arg("-r").arg(file);
            let root = super::root();
            file.strip_prefix(&root).unwrap_or(file).display().to_string()
        }
        Wants::Pin(pin) => {
            pip.arg(pin);
            pin.to_owned()
        }
    };
    super::run(&mut pip).with_context(|| format!("installing {what}"))?;
    fs::write(&stamp, &wanted)?;
    Ok(tool)
}
