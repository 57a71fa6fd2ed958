//! The `scim-server` that `console`, `schemathesis`, `conformance` and `bench client` start:
//! building the debug binary, a fresh SQLite file for it, `serve` on a free loopback port
//! until `/healthz` answers, and its `admin` commands. No network crates: HTTP is a raw
//! `GET`.

use anyhow::{Context, Result, bail};
use std::fmt::Write as _;
use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long the server may take from spawn to a 200 on `/healthz`.
const STARTUP_WAIT: Duration = Duration::from_secs(90);

/// Builds the debug `scim-server`; returns its path under the target directory.
pub(crate) fn build_server() -> Result<PathBuf> {
    super::run(super::cargo().args(["build", "-p", "scim-server", "--bin", "scim-server"]))?;
    let bin = super::target_dir()
        .join("debug")
        .join(format!("scim-server{}", std::env::consts::EXE_SUFFIX));
    if !bin.is_file() {
        bail!("{} was not built", bin.display());
    }
    Ok(bin)
}

/// A fresh SQLite file, `scim.db` in a directory of its own that is removed on drop.
#[derive(Debug)]
pub(crate) struct TempSqlite {
    pub(crate) dir: PathBuf,
    pub(crate) url: String,
}

impl TempSqlite {
    /// Creates `dir` for the file (the server creates the file).
    pub(crate) fn create(dir: PathBuf) -> Result<Self> {
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let url = sqlite_url(&dir.join("scim.db"));
        Ok(TempSqlite { dir, url })
    }
}

impl Drop for TempSqlite {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// The URL of the SQLite file `file`, created when missing (`mode=rwc`).
pub(crate) fn sqlite_url(file: &Path) -> String {
    format!("sqlite://{}?mode=rwc", file.display())
}

/// How a `scim-server` command gets its database URL.
#[derive(Debug, Clone, Copy)]
pub(crate) enum DatabaseUrl<'a> {
    /// `SCIM_DATABASE_URL`, which keeps a password off the command line.
    Env(&'a str),
    /// `--database-url`.
    Arg(&'a str),
}

/// A `scim-server` binary on one database. Its commands run in `dir`, with no stdin and no
/// inherited `SCIM_*` variables.
#[derive(Debug)]
pub(crate) struct ScimServer<'a> {
    pub(crate) bin: &'a Path,
    pub(crate) dir: &'a Path,
    pub(crate) database: DatabaseUrl<'a>,
}

impl ScimServer<'_> {
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(self.bin);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("SCIM_") {
                cmd.env_remove(key);
            }
        }
        cmd.args(args).current_dir(self.dir).stdin(Stdio::null());
        match self.database {
            DatabaseUrl::Env(url) => cmd.env("SCIM_DATABASE_URL", url),
            DatabaseUrl::Arg(url) => cmd.args(["--database-url", url]),
        };
        cmd
    }

    /// Starts `serve` on a free 127.0.0.1 port with `env` set and its output to `log`, and
    /// waits until `/healthz` answers 200. `label` (the command) prefixes the line it prints.
    pub(crate) fn serve(&self, label: &str, log: &Path, env: &[(&str, &str)]) -> Result<Server> {
        let port = free_port()?;
        let listen = format!("127.0.0.1:{port}");
        let log_file =
            fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let mut cmd = self.command(&["serve", "--listen", &listen]);
        cmd.envs(env.iter().copied()).stdout(log_file.try_clone()?).stderr(log_file);
        eprintln!("{label}: starting scim-server on {listen} (log {})", log.display());
        let child = cmd.spawn().with_context(|| format!("spawning {}", self.bin.display()))?;
        let mut server = Server { child, port };
        let deadline = Instant::now() + STARTUP_WAIT;
        loop {
            if let Some(status) = server.child.try_wait()? {
                bail!(
                    "scim-server exited with {status} before it was healthy; see {}",
                    log.display()
                );
            }
            if matches!(http_status(port, "/healthz"), Ok(200)) {
                return Ok(server);
            }
            if Instant::now() > deadline {
                bail!(
                    "scim-server did not answer 200 on /healthz within {}s; see {}",
                    STARTUP_WAIT.as_secs(),
                    log.display()
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Runs `scim-server admin ARGS`; its standard output, or an error with its standard
    /// error.
    pub(crate) fn admin(&self, args: &[&str]) -> Result<String> {
        let out = self
            .command(&[&["admin"], args].concat())
            .output()
            .with_context(|| format!("running scim-server admin {}", args.join(" ")))?;
        if !out.status.success() {
            bail!(
                "scim-server admin {} failed ({}): {}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The sid of the bootstrap organization `default` (`admin org list --json`).
    pub(crate) fn default_org(&self) -> Result<String> {
        let list = self.admin(&["org", "list", "--json"])?;
        default_sid_from_json(&list).with_context(|| {
            format!("no organization 'default' in `admin org list --json`: {}", list.trim())
        })
    }
}

/// A running `scim-server serve`; killed (and reaped) on drop, whatever happened.
#[derive(Debug)]
pub(crate) struct Server {
    child: Child,
    pub(crate) port: u16,
}

impl Server {
    /// `http://127.0.0.1:<port>`, the server's root.
    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Finds `"sid":"OR..."` of the object whose `"name"` is `"default"` (or the only sid).
fn default_sid_from_json(text: &str) -> Option<String> {
    let mut sids = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("\"sid\"") {
        let after = &rest[i + 5..];
        let value = after.trim_start().strip_prefix(':')?.trim_start().strip_prefix('"')?;
        let end = value.find('"')?;
        let sid = &value[..end];
        let object_start = text.len() - rest.len() + i;
        let open = text[..object_start].rfind('{').unwrap_or(0);
        let close = text[object_start..].find('}').map_or(text.len(), |c| object_start + c);
        let object: String = text[open..close].chars().filter(|c| !c.is_whitespace()).collect();
        sids.push((sid.to_string(), object.contains("\"name\":\"default\"")));
        rest = &value[end..];
    }
    let valid = |s: &str| {
        s.len() == 34
            && s.starts_with("OR")
            && s[2..].bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    sids.retain(|(s, _)| valid(s));
    if let Some((sid, _)) = sids.iter().find(|(_, is_default)| *is_default) {
        return Some(sid.clone());
    }
    match sids.as_slice() {
        [(sid, _)] => Some(sid.clone()),
        _ => None,
    }
}

/// A port on 127.0.0.1 that was free a moment ago.
pub(crate) fn free_port() -> Result<u16> {
    match scim_test_support::free_port() {
        0 => bail!("no free port on 127.0.0.1"),
        port => Ok(port),
    }
}

/// The status code of a plain `GET path` on 127.0.0.1:port.
pub(crate) fn http_status(port: u16, path: &str) -> Result<u16> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
    stream.set_read_timeout(Some(Duration::from_secs(3)))?;
    stream.set_write_timeout(Some(Duration::from_secs(3)))?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n")?;
    let mut head = [0u8; 64];
    let mut got = 0;
    while got < 12 {
        let n = stream.read(&mut head[got..])?;
        if n == 0 {
            break;
        }
        got += n;
    }
    let line = String::from_utf8_lossy(&head[..got]);
    let code =
        line.strip_prefix("HTTP/1.").and_then(|r| r.get(2..5)).context("not an HTTP answer")?;
    Ok(code.parse()?)
}

/// `n` random bytes as hex (bootstrap tokens, unique names): from the OS (`/dev/urandom`),
/// else from std's randomly keyed hasher.
pub(crate) fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    let from_os = fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes)).is_ok();
    if !from_os {
        use std::hash::{BuildHasher, Hasher};
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        for (i, chunk) in bytes.chunks_mut(8).enumerate() {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u128(nanos);
            h.write_usize(i);
            chunk.copy_from_slice(&h.finish().to_le_bytes()[..chunk.len()]);
        }
    }
    bytes.iter().fold(String::with_capacity(n * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_sid_is_found() {
        let a = "OR0123456789abcdef0123456789abcdef";
        let b = "ORffffffffffffffffffffffffffffffff";
        let json = format!(
            r#"[{{"sid": "{b}", "name": "other", "policies": []}}, {{"sid":"{a}","name":"default","policies":[]}}]"#
        );
        assert_eq!(default_sid_from_json(&json).as_deref(), Some(a));
        let one = format!(r#"{{"sid":"{b}","name":"x"}}"#);
        assert_eq!(default_sid_from_json(&one).as_deref(), Some(b));
        assert_eq!(default_sid_from_json("[]"), None);
    }

    #[test]
    fn random_hex_is_hex_of_the_length() {
        let h = random_hex(24);
        assert_eq!(h.len(), 48);
        assert!(h.bytes().all(|b| b.is_ascii_hexdigit()));
    }
}
