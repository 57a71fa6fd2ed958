//! `cargo xtask console`: the operator console in a real headless browser.
//!
//! Builds the debug `scim-server`, starts it on a fresh SQLite file in a temporary
//! directory under the target directory, on a free 127.0.0.1 port, with `admin_api` and
//! `console` on, makes an admin token with `scim-server admin token create --scope admin`,
//! and runs `xtask/console/browser.py`: Selenium (pinned with its dependencies in
//! `xtask/console/requirements.txt`, in a venv under the target directory) driving Debian's
//! `chromium` through `chromedriver`. The script signs in, creates an organization and a
//! token, checks the secret is shown once, sends a SCIM create and a failing request over
//! HTTP, and checks they show in the activity feed and the request log within 2 seconds,
//! the failure's error code linked to its documentation. It writes a screenshot of each
//! page to `docs/console/` (referenced from `docs/console.md`).
//!
//! Needs `chromium` and `chromium-driver` (`.ci/run` installs them), `python3` with `venv`,
//! and pip access to the package registry on the first run. The server is stopped at the
//! end, also when a step fails; its log goes to `target/console/server.log`.

use crate::spawn::{self, DatabaseUrl, ScimServer, TempSqlite};
use crate::venv::{self, Wants};
use anyhow::{Context, Result, bail};
use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

/// Where Debian puts the browser and its driver.
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

pub(crate) fn run(_args: &[String]) -> Result<()> {
    let root = super::root();
    let target = super::target_dir();
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| CHROMIUM.into());
    let driver = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| CHROMEDRIVER.into());
    for (what, path) in [("chromium", &chromium), ("chromedriver", &driver)] {
        if !Path::new(path).is_file() {
            bail!("{what} not found at {path}: apt-get install -y chromium chromium-driver");
        }
    }
    let out = target.join("console");
    fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    // Selenium, made or remade when the requirements change.
    let venv = target.join("console-venv");
    let requirements = root.join("xtask").join("console").join("requirements.txt");
    let announce = format!("console: preparing the Selenium venv in {}", venv.display());
    let python = venv::ensure(&venv, Wants::File(&requirements), "python", &announce)?;
    let bin = spawn::build_server()?;
    let db = TempSqlite::create(out.join(format!("tmp-{}", std::process::id())))?;
    let scim = ScimServer { bin: &bin, dir: &db.dir, database: DatabaseUrl::Env(&db.url) };
    let on = [("SCIM_ADMIN_API", "true"), ("SCIM_CONSOLE", "true")];
    let server = scim.serve("console", &out.join("server.log"), &on)?;
    let org = scim.default_org()?;
    let admin = admin_token(&scim, &org)?;
    let shots = root.join("docs").join("console");
    fs::create_dir_all(&shots)?;
    let started = Instant::now();
    // Not `super::run`, which prints the command with its environment (the admin token).
    eprintln!("console: running xtask/console/browser.py against 127.0.0.1:{}", server.port);
    let result = run_quietly(
        Command::new(&python)
            .arg(root.join("xtask").join("console").join("browser.py"))
            .args(["--url", &server.url()])
            .arg("--screenshots")
            .arg(&shots)
            .env("CONSOLE_ADMIN_TOKEN", &admin)
            .env("CHROMIUM", &chromium)
            .env("CHROMEDRIVER", &driver),
    );
    drop(server);
    drop(db);
    result.with_context(|| format!("the browser test failed; server log in {}", out.display()))?;
    eprintln!("console: browser test passed in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

fn run_quietly(cmd: &mut Command) -> Result<()> {
    let status = cmd.current_dir(super::root()).status().context("spawning python")?;
    if !status.success() {
        bail!("the browser test exited with {status}");
    }
    Ok(())
}

/// A new token with the scope `admin`, its secret.
fn admin_token(scim: &ScimServer<'_>, org: &str) -> Result<String> {
    let args =
        ["token", "create", "--org", org, "--scope", "admin", "--name", "console-test", "--json"];
    let text = scim.admin(&args)?;
    let v: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("the JSON of scim-server admin {}", args.join(" ")))?;
    v["token"].as_str().map(str::to_owned).context("no token in `admin token create --json`")
}
