//! `cargo xtask schemathesis [--url URL --token TOKEN] [--secs N] [--examples N]`:
//! property-based tests of the HTTP API generated from its own `/openapi.json`.
//!
//! Without `--url` it builds the debug `scim-server`, starts it on a fresh SQLite file in a
//! temporary directory under the target directory, on a free 127.0.0.1 port, with a random
//! `SCIM_BOOTSTRAP_TOKEN`, and stops it at the end (also when a step fails). It installs
//! schemathesis (pinned: [`PIN`]) into a venv under the target directory and runs it against
//! `/openapi.json` with the bearer token, for at most `--secs` seconds (default 120) and
//! `--examples` examples per operation (default 20). The run fails on a 5xx, a status code
//! the document does not list for the operation, a response body that violates the
//! documented schema, or an undocumented content type. The report (JUnit XML) and the
//! server's log go to `target/schemathesis/`.
//!
//! With `--url URL` (the server's root, e.g. `http://127.0.0.1:8080`) it tests that server
//! instead; `--token` or `SCIM_TOKEN` gives the bearer token, `--org` the organization the
//! `/Organizations/{OrganizationSid}/scim` routes are tested on (else generated sids, 403). Needs `python3` with `venv` and
//! pip access to the package registry on the first run.

use anyhow::{Context, Result, bail};
use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The schemathesis release this command runs; bump deliberately (new releases add checks).
const PIN: &str = "schemathesis==4.32.5";

/// The checks a run applies (schemathesis names).
const CHECKS: &str = "not_a_server_error,status_code_conformance,\
                      response_schema_conformance,content_type_conformance";

/// How long the server may take from spawn to a 200 on `/healthz`.
const STARTUP_WAIT: Duration = Duration::from_secs(90);

const USAGE: &str = "usage: cargo xtask schemathesis [--url URL --token TOKEN [--org SID]] [--secs N] [--examples N]";

#[derive(Debug)]
struct Options {
    url: Option<String>,
    token: Option<String>,
    secs: u64,
    examples: u64,
    /// The organization the `/Organizations/{OrganizationSid}/scim` routes are tested on.
    org: Option<String>,
}

fn parse_options(args: &[String]) -> Result<Options> {
    let mut o = Options {
        url: None,
        token: std::env::var("SCIM_TOKEN").ok().filter(|t| !t.is_empty()),
        secs: 120,
        examples: 20,
        org: None,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) => (f, Some(v.to_owned())),
            None => (arg.as_str(), None),
        };
        let mut value = || -> Result<String> {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .with_context(|| format!("{flag} needs a value"))
        };
        match flag {
            "--url" => o.url = Some(value()?.trim_end_matches('/').to_owned()),
            "--token" => o.token = Some(value()?),
            "--secs" => o.secs = value()?.parse().context("--secs takes seconds")?,
            "--org" => o.org = Some(value()?),
            "--examples" => o.examples = value()?.parse().context("--examples takes a number")?,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument '{other}'; {USAGE}"),
        }
    }
    if o.url.is_some() && o.token.is_none() {
        bail!("--url needs --token (or SCIM_TOKEN)");
    }
    Ok(o)
}

/// Entry point of `cargo xtask schemathesis`.
pub(crate) fn run(args: &[String]) -> Result<()> {
    let opts = parse_options(args)?;
    let root = super::root();
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root.join(dir),
        None => root.join("target"),
    };
    let out = target.join("schemathesis");
    fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let tool = ensure_venv(&target)?;
    match (&opts.url, &opts.token) {
        (Some(url), Some(token)) => run_schemathesis(&tool, &out, url, token, &opts),
        _ => {
            super::run(super::cargo().args([
                "build",
                "-p",
                "scim-server",
                "--bin",
                "scim-server",
            ]))?;
            let bin =
                target.join("debug").join(format!("scim-server{}", std::env::consts::EXE_SUFFIX));
            let token = random_hex(24);
            let server = Server::start(&bin, &out, &token)?;
            let url = format!("http://127.0.0.1:{}", server.port);
            let org = default_org(&bin, &server.database_url)?;
            let opts = Options { org: Some(org), ..opts };
            let result = run_schemathesis(&tool, &out, &url, &token, &opts);
            drop(server);
            result
        }
    }
}

fn run_schemathesis(tool: &Path, out: &Path, url: &str, token: &str, o: &Options) -> Result<()> {
    let report = out.join("report");
    let mut cmd = Command::new(tool);
    // Family B on a real organization (a generated sid is only ever 403).
    if let Some(org) = &o.org {
        let config = out.join("schemathesis.toml");
        fs::write(&config, format!("[parameters]\n\"path.OrganizationSid\" = \"{org}\"\n"))?;
        cmd.arg("--config-file").arg(config);
    }
    cmd.arg("run")
        .arg(format!("{url}/openapi.json"))
        .args(["--url", url])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args(["--checks", CHECKS])
        // `/Me` answers 501 by design (RFC 7644 3.11 lets a provider leave it out), which
        // the server-error check would count.
        .args(["--exclude-path-regex", "/Me$"])
        .args(["--max-time", &o.secs.to_string()])
        .args(["--max-examples", &o.examples.to_string()])
        .args(["--request-timeout", "30"])
        .args(["--report", "junit"])
        .arg("--report-dir")
        .arg(&report)
        .env("SCHEMATHESIS_TELEMETRY", "false")
        .stdin(Stdio::null());
    eprintln!("schemathesis: {url} for at most {}s, {} examples per operation", o.secs, o.examples);
    let status = cmd.status().with_context(|| format!("running {}", tool.display()))?;
    if !status.success() {
        bail!(
            "schemathesis found failures ({status}); the report is in {}, the server log in {}",
            report.display(),
            out.join("server.log").display()
        );
    }
    println!("schemathesis: no failures");
    Ok(())
}

/// Creates (or reuses, while [`PIN`] is unchanged) the venv; returns the `schemathesis` CLI.
fn ensure_venv(target: &Path) -> Result<PathBuf> {
    let venv = target.join("schemathesis-venv");
    let stamp = venv.join(".pin");
    let tool = venv.join("bin").join("schemathesis");
    if tool.is_file() && fs::read_to_string(&stamp).ok().as_deref() == Some(PIN) {
        return Ok(tool);
    }
    eprintln!("schemathesis: installing {PIN} into {}", venv.display());
    let interpreter = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    super::run(Command::new(&interpreter).args(["-m", "venv", "--clear"]).arg(&venv))
        .with_context(|| format!("creating a venv with {interpreter} (needs python3-venv)"))?;
    let pip = venv.join("bin").join("pip");
    super::run(Command::new(pip).args(["install", "--quiet", "--disable-pip-version-check", PIN]))
        .with_context(|| format!("installing {PIN}"))?;
    fs::write(&stamp, PIN)?;
    Ok(tool)
}

/// A `scim-server` on a fresh SQLite file; stopped and its directory removed on drop.
struct Server {
    child: Child,
    port: u16,
    dir: PathBuf,
    database_url: String,
}

impl Server {
    fn start(bin: &Path, out: &Path, token: &str) -> Result<Self> {
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
            .env("SCIM_BOOTSTRAP_TOKEN", token)
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        eprintln!("schemathesis: starting scim-server on {listen} (log {})", log_path.display());
        let child = cmd.spawn().with_context(|| format!("spawning {}", bin.display()))?;
        let mut server = Server { child, port, dir, database_url };
        let deadline = Instant::now() + STARTUP_WAIT;
        loop {
            if let Some(status) = server.child.try_wait()? {
                bail!(
                    "scim-server exited with {status} before it was healthy; see {}",
                    log_path.display()
                );
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

/// The sid of the bootstrap organization `default` (`scim-server admin org list --json`).
fn default_org(bin: &Path, database_url: &str) -> Result<String> {
    let out = Command::new(bin)
        .args(["admin", "org", "list", "--json"])
        .env("SCIM_DATABASE_URL", database_url)
        .stdin(Stdio::null())
        .output()
        .context("running scim-server admin org list")?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.split('"')
        .find(|s| {
            s.len() == 34
                && s.starts_with("OR")
                && s[2..].bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
        .map(str::to_owned)
        .with_context(|| format!("no organization in `admin org list --json`: {}", text.trim()))
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

/// `n` random bytes from the OS, as lowercase hex.
fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    if let Ok(mut f) = fs::File::open("/dev/urandom") {
        let _ = f.read_exact(&mut bytes);
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
