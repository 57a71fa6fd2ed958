//! The `scim` command-line tool (feature `cli`, on by default): users and groups, search,
//! import, export and sync of a directory against any RFC 7644 server.
//!
//! [`main`] is the binary; [`run`] runs one command line in-process with its output going
//! to the writers of an [`Io`], so that tests can drive it. docs/client.md describes the
//! commands; the exit codes are [`Status`].

mod args;
mod config;
mod crud;
mod diff;
mod export;
mod groups_sync;
mod import;
mod input;
mod output;
mod progress;
mod record;
mod sync;

use crate::error::Error;
use args::{Cli, Command, ResourceCommand};
use clap::Parser;
use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

/// How a command ended: the process's exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Status {
    /// 0: everything worked.
    Ok,
    /// 1: the command ran, but some items (rows of an import or a sync) failed.
    ItemsFailed,
    /// 2: the command line, the configuration or an input file is wrong; nothing was sent
    /// (or, for a file, nothing after the point where it went wrong).
    Usage,
    /// 3: the server answered with an error, or could not be reached.
    Server,
}

impl Status {
    /// The numeric exit code.
    pub fn code(self) -> u8 {
        match self {
            Self::Ok => 0,
            Self::ItemsFailed => 1,
            Self::Usage => 2,
            Self::Server => 3,
        }
    }
}

impl From<Status> for ExitCode {
    fn from(s: Status) -> Self {
        ExitCode::from(s.code())
    }
}

/// Where a command writes: `out` for results (tables, JSON), `err` for diagnostics,
/// progress and summaries.
#[allow(missing_debug_implementations)]
pub struct Io<'a> {
    /// Results.
    pub out: &'a mut (dyn Write + Send),
    /// Diagnostics, progress, summaries.
    pub err: &'a mut (dyn Write + Send),
    /// Whether `err` is a terminal: a progress bar is drawn there, else plain lines.
    pub terminal: bool,
}

/// A failure that ends a command.
#[derive(Debug)]
pub(crate) enum CliError {
    /// A usage, configuration or input file problem (exit 2).
    Usage(String),
    /// The client failed (exit 3, or 2 for arguments it refused).
    Client(Error),
}

impl From<Error> for CliError {
    fn from(e: Error) -> Self {
        Self::Client(e)
    }
}

pub(crate) type CliResult<T = Status> = Result<T, CliError>;

pub(crate) fn usage(msg: impl Into<String>) -> CliError {
    CliError::Usage(msg.into())
}

/// The binary: parses `std::env::args`, runs the command on a multi-threaded runtime, and
/// returns its exit code ([`Status`]).
pub fn main() -> ExitCode {
    let mut out = std::io::stdout();
    let mut err = std::io::stderr();
    let terminal = err.is_terminal();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            let _ = writeln!(err, "error: cannot start the async runtime: {e}");
            return Status::Usage.into();
        }
    };
    let mut io = Io { out: &mut out, err: &mut err, terminal };
    let status = runtime.block_on(run(std::env::args_os(), &mut io));
    let _ = io.out.flush();
    status.into()
}

/// Runs one command line (`args` starts with the program name, as `std::env::args_os`
/// does), writing to `io`. Flags fall back to the `SCIM_*` environment variables, then to
/// the profile file.
pub async fn run<I, T>(args: I, io: &mut Io<'_>) -> Status
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let text = e.render().to_string();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    let _ = io.out.write_all(text.as_bytes());
                    Status::Ok
                }
                _ => {
                    let _ = io.err.write_all(text.as_bytes());
                    Status::Usage
                }
            };
        }
    };
    let result = dispatch(&cli, io).await;
    let _ = io.out.flush();
    match result {
        Ok(status) => status,
        Err(e) => report(&e, io.err, cli.json),
    }
}

async fn dispatch(cli: &Cli, io: &mut Io<'_>) -> CliResult {
    let conf = config::Settings::resolve(&cli.conn)?;
    match &cli.command {
        Command::Token => config::print_token(&conf, cli.json, io).await,
        command => {
            let client = conf.client()?;
            match command {
                Command::Users(c) => crud::users(&client, &c.command, cli.json, io).await,
                Command::Groups(c) => match &c.command {
                    ResourceCommand::Sync(a) => groups_sync::run(&client, a, cli.json, io).await,
                    other => crud::groups(&client, other, cli.json, io).await,
                },
                Command::Search(a) => crud::search(&client, a, cli.json, io).await,
                Command::Import(a) => import::run(&client, a, cli.json, io).await,
                Command::Export(a) => export::run(&client, a, io).await,
                Command::Sync(a) => sync::run(&client, a, cli.json, io).await,
                Command::Token => Ok(Status::Ok),
            }
        }
    }
}

/// Prints the error that ended a command and returns its status.
fn report(e: &CliError, err: &mut dyn Write, json: bool) -> Status {
    let status = match e {
        CliError::Usage(_) => Status::Usage,
        CliError::Client(Error::InvalidArgument(_) | Error::Filter(_)) => Status::Usage,
        CliError::Client(_) => Status::Server,
    };
    if json {
        let v = match e {
            CliError::Usage(m) => serde_json::json!({ "error": m, "exit": status.code() }),
            CliError::Client(c) => {
                let mut v = output::error_json(c);
                if let serde_json::Value::Object(m) = &mut v {
                    m.insert("exit".into(), status.code().into());
                }
                v
            }
        };
        let _ = writeln!(err, "{v}");
    } else {
        match e {
            CliError::Usage(m) => {
                let _ = writeln!(err, "error: {m}");
            }
            CliError::Client(c) => output::print_error(err, c),
        }
    }
    status
}
