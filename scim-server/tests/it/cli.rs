//! The `scim-server` binary: admin commands' JSON output (`docs/configuration.md`), the
//! first-start bootstrap, `SCIM_BOOTSTRAP_TOKEN`, serving, and graceful shutdown on SIGTERM.

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_scim-server");

/// A temporary directory holding one SQLite database, removed on drop.
pub struct Db {
    pub dir: PathBuf,
}

impl Db {
    pub fn new() -> Self {
        let db = Self::empty();
        // `admin` never creates a database: start from a migrated, empty one.
        let out = db.cmd(&["migrate"]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        db
    }

    /// A fresh directory where no database exists yet.
    pub fn empty() -> Self {
        let mut b = [0u8; 8];
        getrandom::fill(&mut b).unwrap();
        let dir = std::env::temp_dir().join(format!("scim-cli-{}", hex::encode(b)));
        std::fs::create_dir_all(&dir).unwrap();
        Db { dir }
    }

    pub fn url(&self) -> String {
        format!("sqlite://{}?mode=rwc", self.dir.join("scim.db").display())
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args)
            .env_remove("SCIM_BOOTSTRAP_TOKEN")
            .env_remove("SCIM_LISTEN")
            .env("SCIM_DATABASE_URL", self.url())
            .env("RUST_LOG", "info")
            .current_dir(&self.dir);
        c
    }

    /// Runs a command that must succeed and print JSON.
    pub fn json(&self, args: &[&str]) -> Value {
        let out = self.cmd(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", String::from_utf8_lossy(&out.stdout)))
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn admin_commands_print_the_documented_json() {
    let db = Db::new();
    let org = db.json(&["admin", "org", "create", "acme", "--policy", "soft-delete", "--json"]);
    let sid = org["sid"].as_str().unwrap().to_owned();
    assert!(sid.starts_with("OR") && sid.len() == 34, "{org}");
    assert_eq!(org["name"], "acme");
    assert_eq!(org["policies"], serde_json::json!(["soft-delete"]));
    assert_eq!(org.as_object().unwrap().len(), 3, "{org}");

    let list = db.json(&["admin", "org", "list", "--json"]);
    assert!(list.as_array().unwrap().iter().any(|o| o["sid"] == sid.as_str()));

    let token = db.json(&[
        "admin",
        "token",
        "create",
        "--org",
        &sid,
        "--scope",
        "scim:read",
        "--name",
        "okta",
        "--json",
    ]);
    let keys: Vec<&str> = token.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["id", "token", "org", "scopes", "name"]);
    assert!(token["id"].as_str().unwrap().starts_with("TK"));
    assert!(token["token"].as_str().unwrap().starts_with("scim_"));
    assert_eq!(token["org"], sid.as_str());
    assert_eq!(token["scopes"], serde_json::json!(["scim:read"]));
    assert_eq!(token["name"], "okta");

    let both = db.json(&["admin", "token", "create", "--org", &sid, "--json"]);
    assert_eq!(both["scopes"], serde_json::json!(["scim:read", "scim:write"]));
    assert_eq!(both["name"], Value::Null);

    let tokens = db.json(&["admin", "token", "list", "--org", &sid, "--json"]);
    let tokens = tokens.as_array().unwrap();
    assert_eq!(tokens.len(), 2);
    let text = serde_json::to_string(tokens).unwrap();
    assert!(!text.contains(token["token"].as_str().unwrap()), "list shows no secrets");

    let id = token["id"].as_str().unwrap();
    let revoked = db.json(&["admin", "token", "revoke", id, "--json"]);
    assert_eq!(revoked["revoked"], true);
    let again = db.cmd(&["admin", "token", "revoke", id]).output().unwrap();
    assert!(!again.status.success());
    assert_eq!(
        db.json(&["admin", "token", "list", "--org", &sid, "--json"]).as_array().unwrap().len(),
        1
    );

    let client = db.json(&["admin", "client", "create", "--org", &sid, "--json"]);
    let keys: Vec<&str> = client.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["client_id", "client_secret", "orgs", "scopes"]);
    let cid = client["client_id"].as_str().unwrap();
    assert_eq!(db.json(&["admin", "client", "revoke", cid, "--json"])["revoked"], true);
}

#[test]
fn admin_commands_reject_bad_arguments() {
    let db = Db::new();
    for args in [
        &["admin", "org", "create", "x", "--policy", "nope"][..],
        &["admin", "token", "create", "--org", "ORbad"],
        &["admin", "token", "create", "--org", "OR0123456789abcdef0123456789abcdef"],
        &["admin", "restore", "--org", "OR0123456789abcdef0123456789abcdef", "XX1"],
    ] {
        let out = db.cmd(args).output().unwrap();
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("error"), "{args:?}: {err}");
    }
    let org = db.json(&["admin", "org", "create", "x", "--json"]);
    let sid = org["sid"].as_str().unwrap();
    // An unknown scope, and `admin` (the admin API's scope) mixed with a SCIM scope.
    for scopes in [&["--scope", "scim:admin"][..], &["--scope", "admin", "--scope", "scim:read"]] {
        let mut args = vec!["admin", "token", "create", "--org", sid];
        args.extend_from_slice(scopes);
        let out = db.cmd(&args).output().unwrap();
        assert!(!out.status.success(), "{scopes:?}");
    }
    // `admin` alone makes an admin API token; OAuth clients never carry it.
    let t = db.json(&["admin", "token", "create", "--org", sid, "--scope", "admin", "--json"]);
    assert_eq!(t["scopes"], serde_json::json!(["admin"]));
    let out =
        db.cmd(&["admin", "client", "create", "--org", sid, "--scope", "admin"]).output().unwrap();
    assert!(!out.status.success());
}

#[test]
fn migrate_applies_and_is_idempotent() {
    let db = Db::new();
    for _ in 0..2 {
        let out = db.cmd(&["migrate"]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    assert_eq!(db.json(&["admin", "org", "list", "--json"]), serde_json::json!([]));
    // `migrate --status` lists every migration with its state.
    let out = db.cmd(&["migrate", "--status"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("status   migration"));
    let rows: Vec<&str> = lines.collect();
    assert!(rows.len() >= 3, "{text}");
    assert!(rows.iter().all(|r| r.starts_with("applied  m")), "{text}");
}

/// Several processes migrating one database at once (replicas starting together, or
/// `migrate` beside `serve`) all succeed and leave every migration applied once.
#[test]
fn concurrent_migrations_all_succeed() {
    let db = Db::new();
    let children: Vec<_> = (0..4)
        .map(|_| {
            db.cmd(&["migrate"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let out = db.cmd(&["migrate", "--status"]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!text.contains("pending"), "{text}");
}

/// Kills a child that a failed assertion would otherwise leave running.
struct KillOnDrop(Option<Child>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(c) = self.0.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A running `serve`, killed on drop.
pub struct Server {
    pub child: Child,
    pub addr: String,
    /// Stderr up to the `listening` line.
    pub stderr: String,
    /// Everything after it, as it arrives.
    pub later: std::sync::Arc<std::sync::Mutex<String>>,
    /// Stdout, as it arrives.
    pub stdout: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Server {
    pub fn start(db: &Db, env: &[(&str, &str)]) -> Server {
        let mut cmd = db.cmd(&["serve", "--listen", "127.0.0.1:0"]);
        cmd.env("RUST_LOG", "info");
        cmd.env("SCIM_LOG_FORMAT", "text").stdout(Stdio::piped()).stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = KillOnDrop(Some(cmd.spawn().unwrap()));
        let stdout = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let mut out = BufReader::new(child.0.as_mut().unwrap().stdout.take().unwrap());
        let sink = stdout.clone();
        std::thread::spawn(move || {
            let mut line = String::new();
            while out.read_line(&mut line).is_ok_and(|n| n > 0) {
                sink.lock().unwrap().push_str(&line);
                line.clear();
            }
        });
        let mut reader = BufReader::new(child.0.as_mut().unwrap().stderr.take().unwrap());
        let mut stderr = String::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        let addr = loop {
            let mut line = String::new();
            assert!(Instant::now() < deadline, "no listening line: {stderr}");
            if reader.read_line(&mut line).unwrap() == 0 {
                panic!("server exited: {stderr}");
            }
            stderr.push_str(&line);
            if line.contains("listening") {
                if let Some(at) = line.find("addr=") {
                    break line[at + 5..].split_whitespace().next().unwrap().to_owned();
                }
                let v: Value = serde_json::from_str(&line).expect("a JSON listening line");
                break v["fields"]["addr"].as_str().unwrap().to_owned();
            }
        };
        // Keep draining stderr so the server never blocks on a full pipe.
        let later = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let sink = later.clone();
        std::thread::spawn(move || {
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                sink.lock().unwrap().push_str(&line);
                line.clear();
            }
        });
        Server { child: child.0.take().unwrap(), addr, stderr, later, stdout }
    }

    /// Waits until stdout contains `needle`; returns stdout.
    pub fn wait_stdout(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let out = self.stdout.lock().unwrap().clone();
            if out.contains(needle) {
                return out;
            }
            assert!(Instant::now() < deadline, "stdout never showed {needle}: {out}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until the log after start-up contains `needle`.
    pub fn wait_log(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let log = self.later.lock().unwrap().clone();
            if log.contains(needle) {
                return log;
            }
            assert!(Instant::now() < deadline, "log never showed {needle}: {log}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A raw HTTP/1.1 GET; returns the status line and the whole response.
    pub fn get(&self, path: &str, token: &str) -> (String, String) {
        self.get_with(path, token, "")
    }

    pub fn get_with(&self, path: &str, token: &str, extra_headers: &str) -> (String, String) {
        let mut s = std::net::TcpStream::connect(&self.addr).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\n{extra_headers}Connection: close\r\n\r\n",
            self.addr
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        (out.lines().next().unwrap_or_default().to_owned(), out)
    }

    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "no exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn first_start_bootstraps_once_and_stops_gracefully() {
    let db = Db::new();
    let server = Server::start(&db, &[]);
    let stdout = server.wait_stdout("Try: curl");
    assert!(stdout.contains("First start: created organization \"default\""), "{stdout}");
    assert!(
        server.stderr.contains("first start: created organization \"default\""),
        "{}",
        server.stderr
    );
    let token = stdout
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("scim_"))
        .expect("token line")
        .to_owned();
    assert!(!server.stderr.contains(&token), "the token never reaches the log: {}", server.stderr);
    let (status, body) = server.get("/scim/v2/ServiceProviderConfig", &token);
    assert!(status.contains("200"), "{body}");
    let (status, _) = server.get("/healthz", "");
    assert!(status.contains("200"));
    // Every log line of a request carries its request id.
    let (status, _) = server.get_with("/scim/v2/Nope", &token, "X-Request-Id: it-req-77\r\n");
    assert!(status.contains("404"));
    let log = server.wait_log("it-req-77");
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("/scim/v2/Nope")).collect();
    assert!(!lines.is_empty(), "{log}");
    assert!(lines.iter().all(|l| l.contains("request_id=it-req-77")), "{log}");
    assert!(server.terminate().success(), "graceful exit on SIGTERM");

    let orgs = db.json(&["admin", "org", "list", "--json"]);
    assert_eq!(orgs.as_array().unwrap().len(), 1);
    assert_eq!(orgs[0]["name"], "default");

    let again = Server::start(&db, &[]);
    assert!(!again.stderr.contains("first start"), "{}", again.stderr);
    assert!(again.stdout.lock().unwrap().is_empty(), "no banner on a second start");
    let (status, _) = again.get("/scim/v2/ServiceProviderConfig", &token);
    assert!(status.contains("200"));
    assert!(again.terminate().success());
}

#[test]
fn bootstrap_token_can_be_chosen() {
    let db = Db::new();
    let chosen = "dev-token-change-me-0123";
    let server = Server::start(&db, &[("SCIM_BOOTSTRAP_TOKEN", chosen)]);
    server.wait_stdout(chosen);
    assert!(!server.stderr.contains(chosen), "{}", server.stderr);
    let (status, body) = server.get("/scim/v2/ResourceTypes", chosen);
    assert!(status.contains("200"), "{body}");
    let (status, _) = server.get("/scim/v2/ResourceTypes", "scim_wrong");
    assert!(status.contains("401"));
    drop(server);

    let out = db.cmd(&["serve"]).env("SCIM_BOOTSTRAP_TOKEN", "short").output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("bootstrap_token"));
}

#[tokio::test]
async fn admin_restore_undoes_a_soft_delete_while_the_server_runs() {
    use crate::support::{req, send};
    use http::Method;
    let db = Db::new();
    let org = db.json(&["admin", "org", "create", "soft", "--policy", "soft-delete", "--json"]);
    let sid = org["sid"].as_str().unwrap().to_owned();
    let token = db.json(&["admin", "token", "create", "--org", &sid, "--json"]);
    let token = token["token"].as_str().unwrap().to_owned();
    // The server side, in process, on the same SQLite file.
    let registry = std::sync::Arc::new(scim_core::schema::Registry::builtin());
    let store = scim_store::SeaStore::connect(&db.url(), registry.clone()).await.unwrap();
    store.migrate().await.unwrap();
    let config = scim_server::Config { auth_cache_ttl_ms: 0, ..scim_server::Config::default() };
    let state = scim_server::AppState::new(std::sync::Arc::new(store), registry, config.into());
    let router = scim_server::router(state);
    let user = serde_json::json!({"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"r@x.io"});
    let r =
        send(&router, req(Method::POST, "/scim/v2/Users").bearer(&token).json(&user).build()).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.bytes));
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let path = format!("/scim/v2/Users/{id}");
    let r = send(&router, req(Method::DELETE, &path).bearer(&token).build()).await;
    assert_eq!(r.status, 204);
    assert_eq!(send(&router, req(Method::GET, &path).bearer(&token).build()).await.status, 404);

    let restored = db.json(&["admin", "restore", "--org", &sid, &id, "--json"]);
    assert_eq!(restored["id"], id.as_str());
    assert_eq!(send(&router, req(Method::GET, &path).bearer(&token).build()).await.status, 200);
}

#[test]
fn configuration_comes_from_file_environment_and_flags() {
    let db = Db::new();
    std::fs::write(
        db.dir.join("scim.toml"),
        "default_page_size = 5\nmax_page_size = 900\nbulk_max_operations = 3\n",
    )
    .unwrap();
    let chosen = "config-layers-token-0123";
    let server = Server::start(
        &db,
        &[
            ("SCIM_BOOTSTRAP_TOKEN", chosen),
            ("SCIM_MAX_PAGE_SIZE", "250"),
            ("SCIM_BULK_MAX_OPERATIONS", "9"),
        ],
    );
    let (status, body) = server.get("/scim/v2/ServiceProviderConfig", chosen);
    assert!(status.contains("200"), "{body}");
    let json = &body[body.find("\r\n\r\n").unwrap() + 4..];
    let v: Value = serde_json::from_str(json).unwrap();
    assert_eq!(v["pagination"]["defaultPageSize"], 5, "from scim.toml");
    assert_eq!(v["pagination"]["maxPageSize"], 250, "the environment beats the file");
    assert_eq!(v["bulk"]["maxOperations"], 9);
    drop(server);

    let mut cmd = db.cmd(&["serve", "--listen", "127.0.0.1:0", "--max-page-size", "4"]);
    let out = cmd.env("SCIM_MAX_PAGE_SIZE", "250").output().unwrap();
    assert!(!out.status.success(), "a flag beats the environment: 4 < default_page_size 5");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("default_page_size must not exceed max_page_size"), "{err}");

    let out = db.cmd(&["serve", "--config", "missing.toml"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.toml"));
}

#[test]
fn a_closed_stdout_is_not_a_crash() {
    let db = Db::new();
    db.json(&["admin", "org", "create", "piped", "--json"]);
    let mut child = db
        .cmd(&["admin", "org", "list", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // like `| head -0`: the reader is gone before the write
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert!(out.status.success(), "{err}");
}

/// Runs a command that must fail; returns its stderr.
fn fails(mut cmd: Command) -> String {
    let out = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{cmd:?} succeeded: {err}");
    err
}

#[test]
fn unknown_options_and_bad_log_filters_are_errors_naming_them() {
    let db = Db::new();
    std::fs::write(db.dir.join("scim.toml"), "max_page_sise = 5\n").unwrap();
    let err = fails(db.cmd(&["migrate"]));
    assert!(
        err.contains("unknown option `max_page_sise` in scim.toml; did you mean `max_page_size`?"),
        "{err}"
    );
    std::fs::write(db.dir.join("other.toml"), "[server]\nlisten = \"x\"\n").unwrap();
    let err = fails(db.cmd(&["migrate", "--config", "other.toml"]));
    assert!(
        err.contains(
            "unknown option `server` in other.toml; `scim-server serve --help` lists every option"
        ),
        "{err}"
    );
    std::fs::remove_file(db.dir.join("scim.toml")).unwrap();

    let mut cmd = db.cmd(&["serve", "--listen", "127.0.0.1:0"]);
    cmd.env("SCIM_MAX_PAGE_SISE", "5");
    let err = fails(cmd);
    assert!(
        err.contains(
            "unknown environment variable `SCIM_MAX_PAGE_SISE`: no option is called that; did you mean `SCIM_MAX_PAGE_SIZE`?"
        ),
        "{err}"
    );

    // The client's variables and the project's tooling variables are known, not errors.
    let mut cmd = db.cmd(&["migrate"]);
    for (k, v) in [
        ("SCIM_URL", "http://x"),
        ("SCIM_TOKEN", "t"),
        ("SCIM_CLIENT_ID", "c"),
        ("SCIM_CLIENT_SECRET", "s"),
        ("SCIM_ORGANIZATION", "acme"),
        ("SCIM_LOADMIX_SECS", "1"),
        ("SCIM_TEST_BACKENDS", "sqlite"),
        ("SCIM_BENCH_USERS", "1"),
        ("SCIM_CLI_URL", "http://x"),
    ] {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let err = fails(db.cmd(&["serve", "--log-level", "inof"]));
    assert!(
        err.contains(
            "configuration: invalid log_level: `inof` is not a level (trace, debug, info, warn, error, off); did you mean `info`?"
        ),
        "{err}"
    );
    let err = fails(db.cmd(&["serve", "--log-level", "scim_server=loud"]));
    assert!(err.contains("invalid log_level: `scim_server=loud` is not a valid filter"), "{err}");
    let mut cmd = db.cmd(&["migrate"]);
    cmd.env("RUST_LOG", "scim_server=loud");
    let err = fails(cmd);
    assert!(err.contains("RUST_LOG `scim_server=loud` is not a valid filter"), "{err}");
}

/// Whether `SCIM_TEST_BACKENDS` (as in the harness) lets `name` run.
fn backend_wanted(name: &str) -> bool {
    std::env::var("SCIM_TEST_BACKENDS")
        .map_or(true, |s| s.trim().is_empty() || s.contains("all") || s.contains(name))
}

#[test]
fn database_errors_fail_at_once_and_only_unreachable_ones_are_retried() {
    let db = Db::new();
    let run = |url: &str, env: &[(&str, &str)]| {
        let mut cmd = db.cmd(&["migrate", "--database-url", url]);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let started = Instant::now();
        let err = fails(cmd);
        (err, started.elapsed())
    };
    let (err, took) = run("foo://u:secret@h/x", &[]);
    assert!(
        err.contains("cannot open the database foo://u:***@h/x: unknown database URL scheme `foo:` (known: sqlite://, postgres://, postgresql://, mysql://, mariadb://)"),
        "{err}"
    );
    assert!(!err.contains("secret") && took < Duration::from_secs(5), "{err}");

    if backend_wanted("postgres") {
        let (err, took) = run("postgres://postgres@127.0.0.1:5432/scim_no_such_database_x", &[]);
        assert!(
            err.contains("the database refused: ")
                && err.contains("database \"scim_no_such_database_x\" does not exist"),
            "{err}"
        );
        assert!(!err.contains("retrying") && took < Duration::from_secs(5), "{took:?} {err}");
    }
    if backend_wanted("mysql") {
        // mariadb:// is an alias of mysql://: the driver is reached and answers.
        let (err, took) = run("mariadb://root@127.0.0.1:3306/scim_no_such_database_x", &[]);
        assert!(err.contains("Unknown database 'scim_no_such_database_x'"), "{err}");
        assert!(!err.contains("retrying") && took < Duration::from_secs(5), "{took:?} {err}");
        let (err, _) = run("mysql://nobody_x:bad@127.0.0.1:3306/scim", &[]);
        assert!(err.contains("Access denied for user 'nobody_x'"), "{err}");
        assert!(!err.contains("retrying"), "{err}");
    }

    // Nothing listens on port 1: refused, retried for the configured total, then given up.
    let (err, took) =
        run("postgres://postgres@127.0.0.1:1/scim", &[("SCIM_DATABASE_CONNECT_TIMEOUT_SECS", "3")]);
    assert!(
        err.contains("database unreachable; retrying every 2 s for up to 3 s in total"),
        "{err}"
    );
    assert!(
        err.contains("scim-server: error: cannot reach the database postgres://postgres:***@127.0.0.1:1/scim: 127.0.0.1:1: Connection refused"),
        "{err}"
    );
    assert!(err.contains("(gave up after retrying for 3 s)"), "{err}");
    assert!(took >= Duration::from_secs(2) && took < Duration::from_secs(15), "{took:?}");
}

#[test]
fn sqlite_files_are_created_by_serve_and_migrate_but_never_by_admin() {
    let db = Db::new();
    let out = db.cmd(&["migrate", "--database-url", "sqlite://fresh.db"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(db.dir.join("fresh.db").exists());
    let out = db.cmd(&["admin", "org", "list", "--database-url", "sqlite://fresh.db"]).output();
    assert!(out.unwrap().status.success());

    let err =
        fails(db.cmd(&["admin", "org", "list", "--database-url", "sqlite://typo.db?mode=rwc"]));
    let path = std::fs::canonicalize(&db.dir).unwrap().join("typo.db");
    let dir_path = db.dir.join("typo.db");
    assert!(
        err.contains(&format!(
            "scim-server: error: no SQLite database at {}: only serve and migrate create one.",
            dir_path.display()
        )) || err.contains(&format!("no SQLite database at {}:", path.display())),
        "{err}"
    );
    assert!(!db.dir.join("typo.db").exists(), "admin created no file");
}

#[test]
fn json_logs_put_the_first_start_banner_on_one_json_line_and_the_token_on_stdout() {
    let db = Db::new();
    let server = Server::start(&db, &[("SCIM_LOG_FORMAT", "json")]);
    let out = server.wait_stdout("\n");
    let banner: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    let token = banner["token"]["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("scim_"), "{banner}");
    assert_eq!(banner["organization"]["name"], "default");
    let keys: Vec<&str> = banner["token"].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["id", "token", "org", "scopes", "name"]);
    for line in server.stderr.lines() {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(!line.contains(&token), "the token never reaches the log: {line}");
        if line.contains("first start") {
            assert_eq!(v["fields"]["org"], banner["organization"]["sid"]);
        }
    }
    assert!(server.stderr.contains("first start: created organization"), "{}", server.stderr);
    let (status, _) = server.get("/scim/v2/ResourceTypes", &token);
    assert!(status.contains("200"));
    // The access line is JSON too, with the formatter's fields.
    let log = server.wait_log("scim_server::access");
    let line = log.lines().find(|l| l.contains("scim_server::access")).unwrap();
    let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    assert_eq!(
        (v["level"].as_str(), v["target"].as_str()),
        (Some("INFO"), Some("scim_server::access"))
    );
    let f = &v["fields"];
    assert_eq!((f["message"].as_str(), f["method"].as_str()), (Some("request"), Some("GET")));
    assert_eq!(
        (f["path"].as_str(), f["status"].as_u64()),
        (Some("/scim/v2/ResourceTypes"), Some(200))
    );
    assert_eq!(f["org"], banner["organization"]["sid"]);
    assert!(f["latency_ms"].is_f64() && f["request_id"].as_str().unwrap().len() == 32, "{v}");
}

/// Every request writes one access line (text format).
#[test]
fn access_lines_are_written() {
    let db = Db::new();
    let server = Server::start(&db, &[("SCIM_BOOTSTRAP_TOKEN", "access-line-token-0123456789")]);
    let (status, _) = server.get("/scim/v2/Users?count=1", "access-line-token-0123456789");
    assert!(status.contains("200"));
    let log = server.wait_log("scim_server::access");
    let line = log.lines().find(|l| l.contains("scim_server::access")).unwrap();
    assert!(line.contains("  INFO scim_server::access: request request_id="), "{line}");
    assert!(line.contains(" method=GET path=/scim/v2/Users status=200 latency_ms="), "{line}");
    assert!(line.contains(" org=OR"), "{line}");
}

#[test]
fn help_shows_every_variable_once_every_default_and_examples() {
    let help = |args: &[&str]| {
        let out = Command::new(BIN).args(args).arg("--help").output().unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    let serve = help(&["serve"]);
    for name in scim_server::config::option_names() {
        let var = format!("SCIM_{}", name.to_ascii_uppercase());
        assert_eq!(serve.matches(&var).count(), 1, "{var} once in serve --help:\n{serve}");
        if name == "bootstrap_token" {
            continue;
        }
        let line = serve.lines().find(|l| l.contains(&var)).unwrap();
        assert!(line.contains("[default: "), "{var} has a default: {line}");
        let default = serde_json::to_value(scim_server::Config::default()).unwrap()[&name].clone();
        match default {
            Value::Number(n) => assert!(line.contains(&format!("[default: {n}]")), "{line}"),
            Value::String(s) if !s.is_empty() => {
                assert!(line.contains(&format!("[default: {s}]")), "{line}")
            }
            _ => {}
        }
    }
    assert_eq!(serve.matches("SCIM_CONFIG").count(), 1, "{serve}");
    assert!(serve.contains("Example:\n  scim-server serve --listen"), "{serve}");
    for args in [
        &[][..],
        &["migrate"],
        &["admin"],
        &["admin", "org"],
        &["admin", "org", "create"],
        &["admin", "org", "list"],
        &["admin", "token", "create"],
        &["admin", "token", "list"],
        &["admin", "token", "revoke"],
        &["admin", "client", "create"],
        &["admin", "client", "revoke"],
        &["admin", "restore"],
    ] {
        let text = help(args);
        assert!(text.contains("Example"), "{args:?} has an example:\n{text}");
        assert!(text.matches("SCIM_CONFIG").count() <= 1, "{args:?}:\n{text}");
        assert!(text.matches("SCIM_DATABASE_URL").count() <= 1, "{args:?}:\n{text}");
    }
}

#[test]
fn admin_manages_organizations_by_name_clients_and_token_lifetimes() {
    let db = Db::new();
    let acme = db.json(&["admin", "org", "create", "acme", "--json"]);
    let sid = acme["sid"].as_str().unwrap().to_owned();
    // Text output has a header row.
    let out = db.cmd(&["admin", "org", "list"]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().next(), Some("SID\tNAME\tPOLICIES\tCREATED"), "{text}");

    let renamed = db.json(&["admin", "org", "rename", "acme", "acme-eu", "--json"]);
    assert_eq!(renamed, serde_json::json!({"sid": sid, "name": "acme-eu", "policies": []}));
    let set = db.json(&["admin", "org", "policy", "set", "acme-eu", "soft-delete", "--json"]);
    assert_eq!(set["policies"], serde_json::json!(["soft-delete"]));
    let unset = db.json(&["admin", "org", "policy", "unset", &sid, "soft-delete", "--json"]);
    assert_eq!(unset["policies"], serde_json::json!([]));

    // An ambiguous name is an error listing the candidates.
    let twin = db.json(&["admin", "org", "create", "acme-eu", "--json"]);
    let err = fails(db.cmd(&["admin", "token", "list", "--org", "acme-eu"]));
    assert!(err.contains("the name 'acme-eu' is ambiguous: "), "{err}");
    assert!(err.contains(&sid) && err.contains(twin["sid"].as_str().unwrap()), "{err}");
    assert!(err.contains("name the organization by its sid"), "{err}");
    let err = fails(db.cmd(&["admin", "token", "list", "--org", "nobody"]));
    assert!(err.contains("no organization named 'nobody'"), "{err}");

    // Tokens: optional expiry, shown with last use in the list.
    let t = db.json(&["admin", "token", "create", "--org", &sid, "--expires-in", "90d", "--json"]);
    let keys: Vec<&str> = t.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["id", "token", "org", "scopes", "name", "expires"]);
    let err = fails(db.cmd(&["admin", "token", "create", "--org", &sid, "--expires-in", "soon"]));
    assert!(err.contains("'soon' is not a lifetime"), "{err}");
    let list = db.json(&["admin", "token", "list", "--org", &sid, "--json"]);
    assert_eq!(list[0]["expires"], t["expires"]);
    assert_eq!(list[0]["last_used"], Value::Null);
    let out = db.cmd(&["admin", "token", "list", "--org", &sid]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        text.lines().next(),
        Some("ID\tNAME\tSCOPES\tCREATED\tEXPIRES\tLAST_USED"),
        "{text}"
    );

    // Clients: listed (filtered by organization), never with secrets.
    let c = db.json(&["admin", "client", "create", "--org", &sid, "--json"]);
    let clients = db.json(&["admin", "client", "list", "--org", &sid, "--json"]);
    assert_eq!(clients.as_array().unwrap().len(), 1);
    assert_eq!(clients[0]["client_id"], c["client_id"]);
    assert_eq!(clients[0]["orgs"], serde_json::json!([sid]));
    assert!(!clients.to_string().contains(c["client_secret"].as_str().unwrap()));
    let other =
        db.json(&["admin", "client", "list", "--org", twin["sid"].as_str().unwrap(), "--json"]);
    assert_eq!(other, serde_json::json!([]));

    // Delete: nothing without --yes; refused while it holds resources unless --force.
    let err = fails(db.cmd(&["admin", "org", "delete", &sid]));
    assert!(
        err.contains(&format!(
            "deleting organization 'acme-eu' {sid} erases its 0 users, 0 groups, 1 tokens and the grants of 1 clients, for good; repeat with --yes"
        )),
        "{err}"
    );
    let gone = db.json(&["admin", "org", "delete", &sid, "--yes", "--json"]);
    assert_eq!(
        gone,
        serde_json::json!({"sid": sid, "name": "acme-eu", "deleted": true, "users": 0, "groups": 0, "tokens": 1, "clients": 1})
    );
    assert_eq!(db.json(&["admin", "client", "list", "--json"]), serde_json::json!([]));
    let orgs = db.json(&["admin", "org", "list", "--json"]);
    assert_eq!(orgs.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn expired_tokens_are_rejected_past_the_cache_and_use_is_recorded() {
    use crate::support::{req, send};
    use http::Method;
    let db = Db::new();
    let org = db.json(&["admin", "org", "create", "exp", "--json"]);
    let sid = scim_core::sid::OrganizationSid::parse(org["sid"].as_str().unwrap()).unwrap();
    let registry = std::sync::Arc::new(scim_core::schema::Registry::builtin());
    let store = scim_store::SeaStore::connect(&db.url(), registry.clone()).await.unwrap();
    store.migrate().await.unwrap();
    let store: std::sync::Arc<dyn scim_store::Store> = std::sync::Arc::new(store);
    let secret = "expiring-token-0123456789";
    let expires = time::OffsetDateTime::now_utc() + time::Duration::seconds(2);
    let rec = store
        .create_token(scim_store::NewToken {
            org: sid,
            name: None,
            scopes: scim_store::Scope::ALL.to_vec(),
            secret_hash: scim_server::token::hash(secret),
            expires: Some(expires.format(&time::format_description::well_known::Rfc3339).unwrap()),
        })
        .await
        .unwrap();
    // A long cache: expiry must still win.
    let config =
        scim_server::Config { auth_cache_ttl_ms: 60_000, ..scim_server::Config::default() };
    let state = scim_server::AppState::new(store.clone(), registry, config.into());
    let router = scim_server::router(state);
    let get = || req(Method::GET, "/scim/v2/Users").bearer(secret).build();
    assert_eq!(send(&router, get()).await.status, 200);
    // The use is recorded in the background.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let tokens = store.tokens(sid).await.unwrap();
        if tokens.iter().any(|t| t.id == rec.id && t.last_used.is_some()) {
            break;
        }
        assert!(Instant::now() < deadline, "last_used never written");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let wait = expires - time::OffsetDateTime::now_utc() + time::Duration::milliseconds(50);
    tokio::time::sleep(Duration::from_millis(wait.whole_milliseconds().max(0) as u64)).await;
    let r = send(&router, get()).await;
    assert_eq!(r.status, 401, "{}", String::from_utf8_lossy(&r.bytes));
}

#[test]
fn admin_listen_serves_the_admin_api_on_its_own_address() {
    let db = Db::new();
    let port = scim_test_support::free_port();
    let admin_addr = format!("127.0.0.1:{port}");
    let mut server =
        Server::start(&db, &[("SCIM_ADMIN_API", "true"), ("SCIM_ADMIN_LISTEN", &admin_addr)]);
    server.wait_log("admin API listening");
    let admin =
        db.json(&["admin", "token", "create", "--org", "default", "--scope", "admin", "--json"]);
    let admin_token = admin["token"].as_str().unwrap();
    // The main listener does not serve it; the admin address does, to admin tokens only.
    let (status, _) = server.get("/admin/v1/organizations", admin_token);
    assert!(status.contains(" 404 "), "{status}");
    server.addr = admin_addr;
    let (status, body) = server.get("/admin/v1/organizations", admin_token);
    assert!(status.contains(" 200 "), "{body}");
    assert!(body.contains("\"name\":\"default\""), "{body}");
    let (status, _) = server.get("/scim/v2/Users", admin_token);
    assert!(status.contains(" 404 "), "{status}");
}

/// A minimal RFC 8935 receiver on a std thread: records every SET body, answers 202.
fn std_receiver() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/events", listener.local_addr().unwrap());
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = got.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let sink = sink.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut conn = conn;
                loop {
                    let mut len = 0usize;
                    let mut line = String::new();
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" {
                            break;
                        }
                        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap();
                        }
                    }
                    let mut body = vec![0u8; len];
                    reader.read_exact(&mut body).unwrap();
                    sink.lock().unwrap().push(String::from_utf8(body).unwrap());
                    let _ = conn.write_all(b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n");
                }
            });
        }
    });
    (url, got)
}

pub fn post_user(addr: &str, token: &str, user_name: &str) {
    let body = format!(
        r#"{{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"{user_name}"}}"#
    );
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "POST /scim/v2/Users HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/scim+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 201"), "{out}");
}

fn jtis(got: &[String]) -> std::collections::BTreeSet<String> {
    use base64::Engine as _;
    got.iter()
        .map(|s| {
            let claims = s.split('.').nth(1).unwrap();
            let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(claims).unwrap();
            let v: Value = serde_json::from_slice(&claims).unwrap();
            v["jti"].as_str().unwrap().to_owned()
        })
        .collect()
}

#[test]
fn a_killed_server_resumes_event_delivery_after_restart() {
    let db = Db::new();
    let org = db.json(&["admin", "org", "create", "ev", "--json"]);
    let sid = org["sid"].as_str().unwrap().to_owned();
    let token = db.json(&["admin", "token", "create", "--org", &sid, "--json"]);
    let token_id = token["id"].as_str().unwrap().to_owned();
    let token = token["token"].as_str().unwrap().to_owned();
    let (url, got) = std_receiver();
    let stream = db.json(&["admin", "stream", "create", "--org", &sid, "--url", &url, "--json"]);
    let stream_id = stream["id"].as_str().unwrap().to_owned();
    assert_eq!(stream["state"], "active");
    assert_eq!(stream["alg"], "ES256");
    assert!(stream.get("secret").is_none());
    let bad = db.cmd(&["admin", "stream", "create", "--org", &sid, "--url", "ftp://x/e"]);
    assert!(fails(bad).contains("only http and https"));

    let server = Server::start(&db, &[]);
    for i in 0..30 {
        post_user(&server.addr, &token, &format!("k{i}@x.io"));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while got.lock().unwrap().len() < 5 {
        assert!(Instant::now() < deadline, "no delivery before the kill");
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(server); // SIGKILL: no graceful anything.

    let server = Server::start(&db, &[]);
    for i in 30..40 {
        post_user(&server.addr, &token, &format!("k{i}@x.io"));
    }
    let want: std::collections::BTreeSet<String> = {
        let audit = db.json(&["admin", "audit", "--org", &sid, "--json"]);
        let audit = audit.as_array().unwrap();
        assert_eq!(audit.len(), 40);
        for a in audit {
            assert_eq!(a["actor"], token_id.as_str(), "{a}");
            assert!(a["request_id"].is_string(), "{a}");
            assert_eq!(a["op"], "create");
        }
        audit.iter().map(|a| format!("{stream_id}-{}", a["seq"])).collect()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let have = jtis(&got.lock().unwrap());
        if have == want {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "missing: {:?}",
            want.difference(&have).collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let list = db.json(&["admin", "stream", "list", "--org", &sid, "--json"]);
    assert_eq!(list[0]["lag"], 0, "{list}");
    let paused = db.json(&["admin", "stream", "pause", &stream_id, "--json"]);
    assert_eq!(paused["state"], "paused");
    let resumed = db.json(&["admin", "stream", "resume", &stream_id, "--json"]);
    assert_eq!(resumed["state"], "active");
    let deleted = db.json(&["admin", "stream", "delete", &stream_id, "--json"]);
    assert_eq!(deleted["deleted"], true);
    drop(server);
}
