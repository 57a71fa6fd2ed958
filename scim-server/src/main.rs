//! `scim-server`: serve the SCIM API, apply migrations, and administer organizations,
//! tokens and clients (`docs/configuration.md`).

mod cli_admin;
mod cli_backup;
mod cli_events;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use cli_admin::{ADMIN_HELP, AdminCommand, admin_command};
use scim_server::admin;
use scim_server::config::{Config, LogFormat, Overrides, load_registry};
use scim_store::Store;
use std::path::PathBuf;
use std::sync::Arc;

/// mimalloc: the service allocates many small, short-lived values per request (JSON trees,
/// headers, SQL values), where it is markedly faster than the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "scim-server",
    version,
    about = "SCIM 2.0 service provider",
    after_help = "Examples:\n  scim-server serve\n  scim-server migrate --database-url postgres://scim:secret@db/scim\n  scim-server admin org list\n\nEvery option is described in docs/configuration.md."
)]
struct Cli {
    /// Configuration file (TOML) [default: scim.toml when it exists]
    #[arg(long, global = true, env = "SCIM_CONFIG")]
    config: Option<PathBuf>,
    /// Database URL: sqlite://FILE, postgres://..., mysql://... (alias mariadb://)
    /// [env: SCIM_DATABASE_URL] [default: sqlite://scim.db?mode=rwc]
    #[arg(long, global = true)]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Apply migrations, create the bootstrap organization and token on an empty
    /// database, and serve the API.
    #[command(after_help = SERVE_HELP)]
    Serve(Box<ServeArgs>),
    /// Apply database migrations and exit (creates an SQLite file that does not exist).
    /// Safe to run while other processes migrate or serve: migrations run under a
    /// database lock.
    #[command(
        after_help = "Examples:\n  scim-server migrate --database-url mysql://scim:secret@db/scim\n  scim-server migrate --status"
    )]
    Migrate {
        /// List the applied and pending migrations instead of applying them.
        #[arg(long)]
        status: bool,
    },
    /// Administer organizations, tokens and clients. Never creates a database: an SQLite
    /// file that does not exist is an error.
    #[command(subcommand, after_help = ADMIN_HELP)]
    Admin(AdminCommand),
}

/// The end of `serve --help`.
const SERVE_HELP: &str = "\
Environment:
  SCIM_BOOTSTRAP_TOKEN  The secret of the token created on the first start (16 to 512
                        printable ASCII characters, no spaces) [default: random]. Also the
                        file key `bootstrap_token`; there is no flag, so the secret never
                        shows in the process list. Ignored once the database holds an
                        organization.
  Every option above also reads the variable shown as [env: ...]; a flag beats the
  environment, which beats the configuration file, which beats the default. Any other
  SCIM_* variable is an error, except the scim client's (SCIM_URL, SCIM_TOKEN,
  SCIM_CLIENT_ID, SCIM_CLIENT_SECRET, SCIM_ORGANIZATION) and those of the project's own
  tooling (SCIM_TEST_*, SCIM_BENCH_*, SCIM_LOADMIX_*, SCIM_CLI_*, SCIM_SANITY_*).

On an empty database the first start prints the bootstrap token on stdout, never in the log.

Example:
  scim-server serve --listen 0.0.0.0:8080 \\
    --database-url postgres://scim:secret@db/scim --log-format json";

#[derive(Debug, Args)]
struct ServeArgs {
    #[command(flatten)]
    overrides: Overrides,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // One TLS provider for every rustls user in the process (database drivers), chosen
    // explicitly so that a second provider compiled in elsewhere cannot make it ambiguous.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("scim-server: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("scim-server: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut overrides = match &cli.command {
        Command::Serve(args) => args.overrides.clone(),
        _ => Overrides::default(),
    };
    overrides.database_url = cli.database_url.clone();
    let config = Config::load(cli.config.as_deref(), &overrides)?;
    if let Ok(filter) = std::env::var("RUST_LOG") {
        tracing_subscriber::EnvFilter::builder()
            .parse(&filter)
            .map_err(|e| anyhow::anyhow!("RUST_LOG `{filter}` is not a valid filter: {e}"))?;
    }
    match cli.command {
        Command::Serve(_) => serve(config).await,
        Command::Migrate { status: true } => {
            init_logging(&Config { log_level: "warn".into(), ..config.clone() });
            let registry = Arc::new(load_registry(config.schema_dir.as_deref())?);
            let store = open_store(&config, registry, Missing::Refuse, false).await?;
            say("status   migration")?;
            for m in store.migration_status().await? {
                say(&format!("{:<8} {}", if m.applied { "applied" } else { "pending" }, m.name))?;
            }
            Ok(())
        }
        Command::Migrate { status: false } => {
            init_logging(&config);
            let registry = Arc::new(load_registry(config.schema_dir.as_deref())?);
            open_store(&config, registry, Missing::Create, true).await?;
            eprintln!(
                "migrations applied to {}",
                scim_server::config::redact_url(&config.database_url)
            );
            Ok(())
        }
        Command::Admin(AdminCommand::Backup { file, force, json }) => {
            init_logging(&Config { log_level: "warn".into(), ..config.clone() });
            cli_backup::backup(&config, &file, force, json).await
        }
        Command::Admin(AdminCommand::RestoreBackup { file, json }) => {
            init_logging(&Config { log_level: "warn".into(), ..config.clone() });
            cli_backup::restore(&config, &file, json).await
        }
        Command::Admin(cmd) => {
            // Admin output is for scripts: only warnings and errors reach stderr.
            init_logging(&Config { log_level: "warn".into(), ..config.clone() });
            let registry = Arc::new(load_registry(config.schema_dir.as_deref())?);
            let store = open_store(&config, registry, Missing::Refuse, true).await?;
            admin_command(&store, cmd).await
        }
    }
}

/// Log lines the server queues for its writer thread before a request waits.
const LOG_QUEUE_LINES: usize = 16_384;

fn init_logging(config: &Config) {
    let _ = init_logging_to(config, None);
}

/// The subscriber on stderr; with `lines`, log lines go through a bounded in-memory queue
/// to a writer thread that writes them in batches (one `write` per batch, not per line),
/// so a request never waits on the log's pipe or file. Never lossy: when the queue is
/// full, the request waits. The guard flushes the queue when dropped.
fn init_logging_to(
    config: &Config,
    lines: Option<usize>,
) -> Option<tracing_appender::non_blocking::WorkerGuard> {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&config.log_level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi);
    let Some(lines) = lines else {
        let builder = builder.with_writer(std::io::stderr);
        let _ = match config.log_format {
            LogFormat::Json => builder.json().try_init(),
            LogFormat::Text => builder.try_init(),
        };
        return None;
    };
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .buffered_lines_limit(lines)
        .thread_name("scim-log")
        .finish(std::io::BufWriter::with_capacity(64 * 1024, std::io::stderr()));
    if !ansi {
        // Access lines go to the same queue, formatted directly (see `log::AccessSink`).
        let sink = writer.clone();
        scim_server::log::set_access_sink(
            move |line| {
                let _ = std::io::Write::write_all(&mut sink.clone(), &line);
            },
            config.log_format == LogFormat::Json,
        );
    }
    let builder = builder.with_writer(writer);
    let _ = match config.log_format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
    Some(guard)
}

/// What opening the database does with an SQLite file that does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Missing {
    /// Create it (`serve`, `migrate`), even when the URL has no `?mode=rwc`.
    Create,
    /// Fail naming the path (`admin`: a new empty file is always a mistyped path).
    Refuse,
}

/// Pause between two attempts to reach a database that refused or timed out.
const RETRY_PAUSE: std::time::Duration = std::time::Duration::from_secs(2);

/// `url` with the query parameter `param` added.
fn with_param(url: &str, param: &str) -> String {
    if url.contains('?') { format!("{url}&{param}") } else { format!("{url}?{param}") }
}

/// Host and port of a server database URL (`postgres://user:pw@host:port/db`), for a
/// quick TCP probe; `None` when the URL names no host (a Unix socket) or is SQLite.
fn server_addr(url: &str) -> Option<(String, u16)> {
    let (scheme, rest) = url.split_once("://")?;
    let port = match scheme {
        "postgres" | "postgresql" => 5432,
        "mysql" | "mariadb" => 3306,
        _ => return None,
    };
    let authority = rest.split(['/', '?']).next()?;
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if hostport.is_empty() {
        return None;
    }
    if let Some(v6) = hostport.strip_prefix('[') {
        let (host, tail) = v6.split_once(']')?;
        let port = tail.strip_prefix(':').and_then(|p| p.parse().ok()).unwrap_or(port);
        return Some((host.to_owned(), port));
    }
    match hostport.rsplit_once(':') {
        Some((h, p)) => Some((h.to_owned(), p.parse().ok()?)),
        None => Some((hostport.to_owned(), port)),
    }
}

/// Whether the database server accepts a TCP connection: `Err` with the reason when it
/// refuses or does not answer within `limit`; `Ok` otherwise (including when the
/// address cannot be resolved: the driver then reports that itself).
async fn probe(url: &str, limit: std::time::Duration) -> Result<(), String> {
    let Some((host, port)) = server_addr(url) else { return Ok(()) };
    match tokio::time::timeout(limit, tokio::net::TcpStream::connect((host.as_str(), port))).await {
        Err(_) => Err(format!("no answer from {host}:{port} within {} s", limit.as_secs())),
        Ok(Err(e))
            if matches!(
                e.kind(),
                std::io::ErrorKind::ConnectionRefused
                    | std::io::ErrorKind::TimedOut
                    | std::io::ErrorKind::HostUnreachable
                    | std::io::ErrorKind::NetworkUnreachable
            ) =>
        {
            Err(format!("{host}:{port}: {e}"))
        }
        Ok(_) => Ok(()),
    }
}

/// Connects to the database and applies pending migrations. Only a database that
/// refuses or does not answer is retried (every 2 s, for `database_connect_timeout_secs`
/// in total); any other failure (an unknown URL scheme, a database that does not exist,
/// rejected credentials) is reported at once.
/// Opens the database (retrying while it is unreachable, up to the configured time) and,
/// with `migrate`, applies the pending migrations under the database's migration lock.
async fn open_store(
    config: &Config,
    registry: Arc<scim_core::schema::Registry>,
    missing: Missing,
    migrate: bool,
) -> anyhow::Result<scim_store::SeaStore> {
    let url = scim_server::config::redact_url(&config.database_url);
    let mut database_url = config.database_url.clone();
    if let Some(path) = scim_store::sqlite_path(&database_url) {
        match missing {
            Missing::Refuse if !path.exists() => {
                let shown = std::path::absolute(&path).unwrap_or(path);
                anyhow::bail!(
                    "no SQLite database at {}: only serve and migrate create one. Check \
                     --database-url (or SCIM_DATABASE_URL, database_url in the configuration \
                     file); `scim-server migrate` creates a new database.",
                    shown.display()
                );
            }
            Missing::Create if !database_url.contains("mode=") => {
                database_url = with_param(&database_url, "mode=rwc");
            }
            _ => {}
        }
    }
    let opts = scim_store::StoreOptions {
        cursor_ttl: std::time::Duration::from_secs(config.cursor_timeout_secs),
        scan_timeout: Some(config.request_timeout()),
        acquire_timeout: std::time::Duration::from_millis(config.database_acquire_timeout_ms),
        ..scim_store::StoreOptions::default()
    };
    let total = std::time::Duration::from_secs(config.database_connect_timeout_secs);
    let started = std::time::Instant::now();
    let mut warned = false;
    loop {
        let remaining = total.saturating_sub(started.elapsed());
        let limit = remaining.clamp(std::time::Duration::from_secs(1), opts.acquire_timeout);
        let result = match probe(&database_url, limit).await {
            Err(why) => Err(scim_store::StoreError::Unavailable(why)),
            Ok(()) => {
                async {
                    let store = scim_store::SeaStore::connect_with(
                        &database_url,
                        registry.clone(),
                        opts.clone(),
                    )
                    .await?;
                    if migrate {
                        store.migrate().await?;
                    }
                    Ok::<_, scim_store::StoreError>(store)
                }
                .await
            }
        };
        match result {
            Ok(store) => return Ok(store),
            Err(scim_store::StoreError::Unavailable(e))
                if scim_store::sqlite_path(&database_url).is_none()
                    && started.elapsed() + RETRY_PAUSE < total =>
            {
                if warned {
                    tracing::info!(database = %url, error = %e, "database still unreachable; retrying");
                } else {
                    tracing::warn!(
                        database = %url,
                        error = %e,
                        "database unreachable; retrying every {} s for up to {} s in total",
                        RETRY_PAUSE.as_secs(),
                        total.as_secs()
                    );
                    warned = true;
                }
                tokio::time::sleep(RETRY_PAUSE).await;
            }
            Err(scim_store::StoreError::Unavailable(e)) if warned => {
                anyhow::bail!(
                    "cannot reach the database {url}: {e} (gave up after retrying for {} s)",
                    total.as_secs()
                );
            }
            Err(e) => return Err(e).with_context(|| format!("cannot open the database {url}")),
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    // Held to the end of `serve`: dropping it writes out what is still queued.
    let _log = init_logging_to(&config, Some(LOG_QUEUE_LINES));
    let registry = Arc::new(load_registry(config.schema_dir.as_deref())?);
    let tls = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => {
            let files = scim_server::tls::TlsFiles { cert: cert.clone(), key: key.clone() };
            let certs = Arc::new(scim_server::tls::CertStore::open(files)?);
            let acceptor = certs.acceptor()?;
            let every = std::time::Duration::from_secs(config.tls_reload_secs);
            scim_server::tls::watch(certs, (config.tls_reload_secs > 0).then_some(every));
            Some(acceptor)
        }
        _ => None,
    };
    let store: Arc<dyn Store> =
        Arc::new(open_store(&config, registry.clone(), Missing::Create, true).await?);
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    let base = format!("{}://{addr}", if tls.is_some() { "https" } else { "http" });
    match admin::bootstrap(store.as_ref(), config.bootstrap_token.as_deref()).await? {
        Some(boot) => {
            // The log line (either format) carries no secret; the token goes to stdout only,
            // so shipping the log never captures it.
            tracing::info!(
                org = %boot.org.sid,
                token_id = %boot.token.id,
                "first start: created organization \"default\" and a token with scopes \
                 scim:read scim:write; the token is printed once on stdout"
            );
            match config.log_format {
                LogFormat::Json => say(&boot.json_line(&base))?,
                LogFormat::Text => say(&boot.message(&base))?,
            }
        }
        None if config.bootstrap_token.is_some() => {
            tracing::info!(
                "the database already has organizations; SCIM_BOOTSTRAP_TOKEN is ignored"
            );
        }
        None => {}
    }
    let state = scim_server::AppState::new(store, registry, Arc::new(config));
    scim_server::events::push::spawn(&state);
    let pruner = state.clone();
    tokio::spawn(async move {
        let every = std::time::Duration::from_secs(pruner.config.prune_interval_secs);
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            pruner.prune_rate_limits();
            prune_store(&pruner).await;
        }
    });
    let admin_listener = match &state.config.admin_listen {
        Some(a) => Some(
            tokio::net::TcpListener::bind(a)
                .await
                .with_context(|| format!("cannot listen on {a} (admin_listen)"))?,
        ),
        None => None,
    };
    tracing::info!(%addr, tls = tls.is_some(), admin_api = state.config.admin_api, "listening");
    let limits = scim_server::listener::ConnLimits::from_config(&state.config);
    let main = scim_server::listener::serve(
        listener,
        scim_server::service(&state),
        limits,
        tls.clone(),
        shutdown_signal(),
    );
    match admin_listener {
        Some(admin) => {
            tracing::info!(addr = %admin.local_addr()?, "admin API listening");
            let admin = scim_server::listener::serve(
                admin,
                scim_server::admin_service(&state),
                limits,
                tls,
                shutdown_signal(),
            );
            tokio::join!(main, admin);
        }
        None => main.await,
    }
    tracing::info!("stopped");
    Ok(())
}

/// Deletes what the retention settings no longer keep, a batch at a time with a pause
/// between batches, so that requests never wait behind it.
async fn prune_store(state: &scim_server::AppState) {
    let retention = state.config.retention();
    for _ in 0..1000 {
        match state.store.prune(&retention).await {
            Ok(p)
                if p.change_log < retention.batch
                    && p.idempotency < retention.batch
                    && p.soft_deleted < retention.batch =>
            {
                return;
            }
            Ok(_) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
            Err(e) => {
                tracing::warn!(error = %e, "pruning (change log, idempotency records, soft-deleted resources) failed");
                return;
            }
        }
    }
}

/// Resolves on ctrl-c or SIGTERM; the listener then stops accepting and lets in-flight
/// requests finish.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

/// Writes one line to stdout; a closed pipe (`scim-server admin ... | head`) is not an error.
fn say(line: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match writeln!(stdout, "{line}").and_then(|()| stdout.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

fn print_json(v: &impl serde::Serialize) -> anyhow::Result<()> {
    say(&serde_json::to_string_pretty(v)?)
}

/// Text output: a header row, then one tab-separated row per item.
fn table(header: &[&str], rows: Vec<Vec<String>>) -> anyhow::Result<()> {
    say(&header.join("\t"))?;
    for row in rows {
        say(&row.join("\t"))?;
    }
    Ok(())
}
