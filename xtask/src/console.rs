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

use anyhow::{Context, Result, bail};
use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long the server may take from spawn to a 200 on `/healthz`.
const STARTUP_WAIT: Duration = Duration::from_secs(90);

/// Where Debian puts the browser and its driver.
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

pub(crate) fn run(_args: &[String]) -> Result<()> {
    let root = super::root();
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root.join(dir),
        None => root.join("target"),
    };
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| CHROMIUM.into());
    let driver = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| CHROMEDRIVER.into());
    for (what, path) in [("chromium", &chromium), ("chromedriver", &driver)] {
        if !Path::new(path).is_file() {
            bail!("{what} not found at {path}: apt-get install -y chromium chromium-driver");
        }
    }
    let out = target.join("console");
    fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let python = venv(&root, &target)?;
    super::run(super::cargo().args(["build", "-p", "scim-server", "--bin", "scim-server"]))?;
    let bin = target.join("debug").join(format!("scim-server{}", std::env::consts::EXE_SUFFIX));
    let server = Server::start(&bin, &out)?;
    let org = default_org(&bin, &server.database_url)?;
    let admin = admin_token(&bin, &server.database_url, &org)?;
    let shots = root.join("docs").join("console");
    fs::create_dir_all(&shots)?;
    let started = Instant::now();
    // Not `super::run`, which prints the command with its environment (the admin token).
    eprintln!("console: running xtask/console/browser.py against 127.0.0.1:{}", server.port);
    let result = run_quietly(
        Command::new(&python)
            .arg(root.join("xtask").join("console").join("browser.py"))
            .args(["--url", &format!("http://127.0.0.1:{}", server.port)])
            .arg("--screenshots")
            .arg(&shots)
            .env("CONSOLE_ADMIN_TOKEN", &admin)
            .env("CHROMIUM", &chromium)
            .env("CHROMEDRIVER", &driver),
    );
    drop(server);
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

/// The python of the venv with Selenium, made or remade when the requirements change.
fn venv(root: &Path, target: &Path) -> Result<PathBuf> {
    let venv = target.join("console-venv");
    let requirements = root.join("xtask").join("console").join("requirements.txt");
    let stamp = venv.join(".requirements.txt");
    let python = venv.join("bin").join("python");
    let wanted =
        fs::read(&requirements).with_context(|| format!("reading {}", requirements.display()))?;
    if python.is_file() && fs::read(&stamp).ok().as_deref() == Some(&wanted[..]) {
        return Ok(python);
    }
    eprintln!("console: preparing the Selenium venv in {}", venv.display());
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
    )?;
    fs::write(&stamp, &wanted)?;
    Ok(python)
}

struct Server {
    child: Child,
    port: u16,
    dir: PathBuf,
    database_url: String,
}

impl Server {
    fn start(bin: &Path, out: &Path) -> Result<Self> {
        let dir = out.join(format!("tmp-{}", std::process::id()));
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let listen = format!("127.0.0.1:{port}");
        let log_path = out.join("server.log");
        let log = fs::File::create(&log_path)?;
        let mut cmd = Command::new(bin);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("SCIM_") {
                cmd.env_remove(key);
            }
        }
        let database_url = format!("sqlite://{}?mode=rwc", dir.join("scim.db").display());
        cmd.args(["serve", "--listen", &listen])
            .env("SCIM_DATABASE_URL", &database_url)
            .env("SCIM_ADMIN_API", "true")
            .env("SCIM_CONSOLE", "true")
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        eprintln!("console: starting scim-server on {listen} (log {})", log_path.display());
        let child = cmd.spawn().with_context(|| format!("spawning {}", bin.display()))?;
        let mut server = Server { child, port, dir, database_url };
        let deadline = Instant::now() + STARTUP_WAIT;
        loop {
            if let Some(status) = server.child.try_wait()? {
                bail!("scim-server exited with {status}; see {}", log_path.display());
            }
            if healthy(port) {
                return Ok(server);
            }
            if Instant::now() > deadline {
                bail!("scim-server did not answer /healthz in time; see {}", log_path.display());
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn admin_cli(bin: &Path, database_url: &str, args: &[&str]) -> Result<serde_json::Value> {
    let out = Command::new(bin)
        .arg("admin")
        .args(args)
        .env("SCIM_DATABASE_URL", database_url)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running scim-server admin {}", args.join(" ")))?;
    if !out.status.success() {
        bail!(
            "scim-server admin {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    serde_json::from_slice(&out.stdout)
        .with_context(|| format!("the JSON of scim-server admin {}", args.join(" ")))
}

/// The sid of the bootstrap organization `default`.
fn default_org(bin: &Path, database_url: &str) -> Result<String> {
    let v = admin_cli(bin, database_url, &["org", "list", "--json"])?;
    v.as_array()
        .and_then(|a| a.first())
        .and_then(|o| o["sid"].as_str())
        .map(str::to_owned)
        .context("no organization in `admin org list --json`")
}

/// A new token with the scope `admin`, its secret.
fn admin_token(bin: &Path, database_url: &str, org: &str) -> Result<String> {
    let args =
        ["token", "create", "--org", org, "--scope", "admin", "--name", "console-test", "--json"];
    let v = admin_cli(bin, database_url, &args)?;
    v["token"].as_str().map(str::to_owned).context("no token in `admin token create --json`")
}

/// Whether `GET /healthz` answers 200 (a raw HTTP/1.1 request: xtask has no HTTP client).
fn healthy(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else { return false };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let req =
        format!("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    s.read_exact(&mut head).is_ok() && head.get(9..12) == Some(b"200")
}
