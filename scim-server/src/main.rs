//! `scim-server`: serve the SCIM API, apply migrations, and administer organizations,
//! tokens and clients (`docs/configuration.md`).

mod cli_backup;
mod cli_events;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
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

/// The end of `admin --help`.
const ADMIN_HELP: &str = "\
Examples:
  scim-server admin org create acme --policy soft-delete --json
  scim-server admin token create --org acme --scope scim:read --name okta
  scim-server admin client create --org acme --json";

#[derive(Debug, Args)]
struct ServeArgs {
    #[command(flatten)]
    overrides: Overrides,
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Organizations (tenants).
    #[command(subcommand, after_help = "Example:\n  scim-server admin org list")]
    Org(OrgCommand),
    /// Static bearer tokens.
    #[command(subcommand, after_help = "Example:\n  scim-server admin token list --org acme")]
    Token(TokenCommand),
    /// OAuth2 clients (client credentials).
    #[command(
        subcommand,
        after_help = "Example:\n  scim-server admin client create --org acme --json"
    )]
    Client(ClientCommand),
    /// SCIM event streams (RFC 8935 push, RFC 8936 poll; docs/events.md).
    #[command(subcommand, after_help = "Example:\n  scim-server admin stream list --json")]
    Stream(cli_events::StreamCommand),
    /// The changes of an organization, with the credential and request behind each.
    #[command(
        after_help = "Example:\n  scim-server admin audit --org acme --since 2026-01-01T00:00:00Z --json"
    )]
    Audit(cli_events::AuditArgs),
    /// Copy the SQLite database to FILE while servers use it (a consistent snapshot,
    /// checked with PRAGMA integrity_check). PostgreSQL and MySQL: prints the pg_dump or
    /// mysqldump command to use instead, and fails.
    #[command(
        after_help = "Example:\n  scim-server admin backup backups/scim-2026-01-31.db\n\nRestore with `scim-server admin restore-backup FILE` (servers stopped)."
    )]
    Backup {
        /// The backup file to write.
        file: PathBuf,
        /// Replace FILE if it exists.
        #[arg(long)]
        force: bool,
        /// Print {"file","bytes","integrity","migrations"}.
        #[arg(long)]
        json: bool,
    },
    /// Replace the SQLite database with a backup made by `admin backup`, then apply the
    /// migrations it lacks. Refused while any process (a server) has the database open.
    #[command(
        name = "restore-backup",
        after_help = "The backup is checked first (PRAGMA integrity_check, a scim-server \
database, no migrations newer than this version) and left unchanged; the database file \
need not exist. PostgreSQL and MySQL: prints the pg_restore or mysql command to use \
instead, and fails.\n\nExample:\n  scim-server admin restore-backup backups/scim-2026-01-31.db"
    )]
    RestoreBackup {
        /// The backup file to restore from.
        file: PathBuf,
        /// Print {"file","bytes","integrity","migrations","applied"}.
        #[arg(long)]
        json: bool,
    },
    /// Undo a soft delete (organizations with the soft-delete policy).
    #[command(
        after_help = "Example:\n  scim-server admin restore --org acme US0123456789abcdef0123456789abcdef"
    )]
    Restore {
        /// The organization (sid, or name when unambiguous).
        #[arg(long)]
        org: String,
        /// The user (US...) or group (GR...) id.
        id: String,
        /// Print the restored resource as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum OrgCommand {
    /// Create an organization.
    #[command(
        after_help = "Example:\n  scim-server admin org create acme --policy soft-delete --json"
    )]
    Create {
        /// Its name.
        name: String,
        /// A policy: username-is-primary-email, soft-delete (repeatable).
        #[arg(long = "policy")]
        policies: Vec<String>,
        /// Print {"sid","name","policies"}.
        #[arg(long)]
        json: bool,
    },
    /// List organizations.
    #[command(after_help = "Example:\n  scim-server admin org list --json")]
    List {
        /// Print a JSON array of {"sid","name","policies","created"}.
        #[arg(long)]
        json: bool,
    },
    /// Rename an organization.
    #[command(after_help = "Example:\n  scim-server admin org rename acme acme-eu --json")]
    Rename {
        /// The organization (sid, or name when unambiguous).
        org: String,
        /// Its new name.
        name: String,
        /// Print {"sid","name","policies"}.
        #[arg(long)]
        json: bool,
    },
    /// Delete an organization with everything it holds, in one transaction.
    #[command(after_help = "Without --yes nothing is deleted: the command says what would go. \
With --yes an organization that still holds users or groups (soft-deleted ones included) \
is refused unless --force is given too.\n\nExample:\n  scim-server admin org delete acme --yes")]
    Delete {
        /// The organization (sid, or name when unambiguous).
        org: String,
        /// Confirm the deletion.
        #[arg(long)]
        yes: bool,
        /// Also delete its users and groups.
        #[arg(long)]
        force: bool,
        /// Print {"sid","name","deleted","users","groups","tokens","clients"}.
        #[arg(long)]
        json: bool,
    },
    /// Add or remove policies.
    #[command(
        subcommand,
        after_help = "Example:\n  scim-server admin org policy set acme soft-delete"
    )]
    Policy(PolicyCommand),
}

#[derive(Debug, Subcommand)]
enum PolicyCommand {
    /// Add policies to an organization.
    #[command(after_help = "Example:\n  scim-server admin org policy set acme soft-delete --json")]
    Set {
        /// The organization (sid, or name when unambiguous).
        org: String,
        /// username-is-primary-email or soft-delete (one or more).
        #[arg(required = true)]
        policies: Vec<String>,
        /// Print {"sid","name","policies"}.
        #[arg(long)]
        json: bool,
    },
    /// Remove policies from an organization.
    #[command(after_help = "Example:\n  scim-server admin org policy unset acme soft-delete")]
    Unset {
        /// The organization (sid, or name when unambiguous).
        org: String,
        /// username-is-primary-email or soft-delete (one or more).
        #[arg(required = true)]
        policies: Vec<String>,
        /// Print {"sid","name","policies"}.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create a token (its secret is shown once).
    #[command(
        after_help = "Example:\n  scim-server admin token create --org acme --scope scim:read --name okta --json"
    )]
    Create {
        /// The organization it grants (sid, or name when unambiguous).
        #[arg(long)]
        org: String,
        /// scim:read or scim:write (repeatable; default both), or admin alone: a token
        /// for the admin HTTP API (docs/admin-api.md).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// A label.
        #[arg(long)]
        name: Option<String>,
        /// Make it expire after this long: a number and s, m, h, d or w (e.g. 90d)
        /// [default: never]
        #[arg(long)]
        expires_in: Option<String>,
        /// Print {"id","token","org","scopes","name"} (and "expires" when it expires).
        #[arg(long)]
        json: bool,
    },
    /// List an organization's tokens (never their secrets).
    #[command(after_help = "Example:\n  scim-server admin token list --org acme")]
    List {
        /// The organization (sid, or name when unambiguous).
        #[arg(long)]
        org: String,
        /// Print a JSON array of {"id","org","name","scopes","created","expires","last_used"}.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token.
    #[command(
        after_help = "Example:\n  scim-server admin token revoke TK0123456789abcdef0123456789abcdef"
    )]
    Revoke {
        /// The token id (TK...).
        id: String,
        /// Print {"id","revoked"}.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum ClientCommand {
    /// Create an OAuth2 client (its secret is shown once).
    #[command(
        after_help = "Example:\n  scim-server admin client create --org acme --org OR0123456789abcdef0123456789abcdef --scope scim:read"
    )]
    Create {
        /// An organization it is granted on (repeatable; sid, or name when unambiguous).
        #[arg(long = "org", required = true)]
        orgs: Vec<String>,
        /// scim:read or scim:write (repeatable; default both).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// Print {"client_id","client_secret","orgs","scopes"}.
        #[arg(long)]
        json: bool,
    },
    /// List the live clients (never their secrets).
    #[command(after_help = "Example:\n  scim-server admin client list --org acme")]
    List {
        /// Only the clients granted on this organization (sid, or name when unambiguous).
        #[arg(long)]
        org: Option<String>,
        /// Print a JSON array of {"client_id","orgs","scopes","created"}.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a client.
    #[command(
        after_help = "Example:\n  scim-server admin client revoke CL0123456789abcdef0123456789abcdef"
    )]
    Revoke {
        /// The client id.
        client_id: String,
        /// Print {"client_id","revoked"}.
        #[arg(long)]
        json: bool,
    },
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

fn policy_names(p: &[scim_store::Policy]) -> String {
    p.iter().map(|p| p.name()).collect::<Vec<_>>().join(",")
}

fn scope_names(s: &[scim_store::Scope]) -> String {
    s.iter().map(|s| s.name()).collect::<Vec<_>>().join(" ")
}

fn print_org(out: &admin::OrgOut, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(out);
    }
    table(
        &["SID", "NAME", "POLICIES"],
        vec![vec![out.sid.to_string(), out.name.clone(), policy_names(&out.policies)]],
    )
}

async fn admin_command(store: &dyn Store, cmd: AdminCommand) -> anyhow::Result<()> {
    match cmd {
        AdminCommand::Org(OrgCommand::Create { name, policies, json }) => {
            let policies = admin::parse_policies(&policies)?;
            print_org(&admin::create_org(store, &name, &policies).await?, json)?;
        }
        AdminCommand::Org(OrgCommand::List { json }) => {
            let orgs = admin::list_orgs(store).await?;
            if json {
                print_json(&orgs)?;
            } else {
                let rows = orgs
                    .into_iter()
                    .map(|o| vec![o.sid.to_string(), o.name, policy_names(&o.policies), o.created])
                    .collect();
                table(&["SID", "NAME", "POLICIES", "CREATED"], rows)?;
            }
        }
        AdminCommand::Org(OrgCommand::Rename { org, name, json }) => {
            print_org(&admin::rename_org(store, &org, &name).await?, json)?;
        }
        AdminCommand::Org(OrgCommand::Policy(PolicyCommand::Set { org, policies, json })) => {
            let policies = admin::parse_policies(&policies)?;
            print_org(&admin::change_policies(store, &org, &policies, true).await?, json)?;
        }
        AdminCommand::Org(OrgCommand::Policy(PolicyCommand::Unset { org, policies, json })) => {
            let policies = admin::parse_policies(&policies)?;
            print_org(&admin::change_policies(store, &org, &policies, false).await?, json)?;
        }
        AdminCommand::Org(OrgCommand::Delete { org, yes, force, json }) => {
            let out = admin::delete_org(store, &org, yes, force).await?;
            if json {
                print_json(&out)?;
            } else {
                say(&format!(
                    "deleted organization '{}' {}: {} users, {} groups, {} tokens, grants of {} clients",
                    out.name, out.sid, out.users, out.groups, out.tokens, out.clients
                ))?;
            }
        }
        AdminCommand::Token(TokenCommand::Create { org, scopes, name, expires_in, json }) => {
            let org = admin::resolve_org(store, &org).await?.sid;
            let scopes = admin::parse_scopes(&scopes)?;
            let lifetime = expires_in.as_deref().map(admin::parse_lifetime).transpose()?;
            let out = admin::create_token(store, org, scopes, name, None, lifetime).await?;
            if json {
                print_json(&out)?;
            } else {
                table(
                    &["ID", "TOKEN", "EXPIRES"],
                    vec![vec![out.id, out.token, out.expires.unwrap_or_else(|| "never".into())]],
                )?;
                eprintln!("The token is shown only this once: store it now.");
            }
        }
        AdminCommand::Token(TokenCommand::List { org, json }) => {
            let org = admin::resolve_org(store, &org).await?.sid;
            let tokens = admin::list_tokens(store, org).await?;
            if json {
                print_json(&tokens)?;
            } else {
                let rows = tokens
                    .into_iter()
                    .map(|t| {
                        vec![
                            t.id,
                            t.name.unwrap_or_default(),
                            scope_names(&t.scopes),
                            t.created,
                            t.expires.unwrap_or_else(|| "never".into()),
                            t.last_used.unwrap_or_else(|| "never".into()),
                        ]
                    })
                    .collect();
                table(&["ID", "NAME", "SCOPES", "CREATED", "EXPIRES", "LAST_USED"], rows)?;
            }
        }
        AdminCommand::Token(TokenCommand::Revoke { id, json }) => {
            match admin::revoke_token(store, &id).await {
                Ok(out) if json => print_json(&out)?,
                Ok(_) => say(&format!("revoked {id}"))?,
                Err(e) => {
                    if json && matches!(e, admin::AdminError::NotFound(_)) {
                        print_json(&serde_json::json!({"id": id, "revoked": false}))?;
                    }
                    return Err(e.into());
                }
            }
        }
        AdminCommand::Client(ClientCommand::Create { orgs, scopes, json }) => {
            let mut sids = Vec::new();
            for o in &orgs {
                sids.push(admin::resolve_org(store, o).await?.sid);
            }
            let scopes = admin::parse_scopes(&scopes)?;
            let out = admin::create_client(store, sids, scopes).await?;
            if json {
                print_json(&out)?;
            } else {
                table(
                    &["CLIENT_ID", "CLIENT_SECRET"],
                    vec![vec![out.client_id.clone(), out.client_secret.clone()]],
                )?;
                eprintln!("The client secret is shown only this once: store it now.");
            }
        }
        AdminCommand::Client(ClientCommand::List { org, json }) => {
            let only = match org {
                Some(o) => Some(admin::resolve_org(store, &o).await?.sid),
                None => None,
            };
            let clients = admin::list_clients(store, only).await?;
            if json {
                print_json(&clients)?;
            } else {
                let rows = clients
                    .into_iter()
                    .map(|c| {
                        let orgs: Vec<String> = c.orgs.iter().map(ToString::to_string).collect();
                        vec![c.client_id, orgs.join(","), scope_names(&c.scopes), c.created]
                    })
                    .collect();
                table(&["CLIENT_ID", "ORGS", "SCOPES", "CREATED"], rows)?;
            }
        }
        AdminCommand::Client(ClientCommand::Revoke { client_id, json }) => {
            match admin::revoke_client(store, &client_id).await {
                Ok(out) if json => print_json(&out)?,
                Ok(_) => say(&format!("revoked {client_id}"))?,
                Err(e) => {
                    if json && matches!(e, admin::AdminError::NotFound(_)) {
                        print_json(&serde_json::json!({"client_id": client_id, "revoked": false}))?;
                    }
                    return Err(e.into());
                }
            }
        }
        AdminCommand::Stream(cmd) => cli_events::stream(store, cmd).await?,
        AdminCommand::Audit(args) => cli_events::audit(store, args).await?,
        AdminCommand::Backup { .. } | AdminCommand::RestoreBackup { .. } => {
            anyhow::bail!("backup and restore-backup do not open the store")
        }
        AdminCommand::Restore { org, id, json } => {
            let org = admin::resolve_org(store, &org).await?.sid;
            let resource = admin::restore(store, org, &id).await?;
            if json {
                print_json(&resource)?;
            } else {
                say(&format!("restored {id}"))?;
            }
        }
    }
    Ok(())
}
