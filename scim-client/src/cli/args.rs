//! The command line (clap derive).

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Import, export and sync users and groups with a SCIM 2.0 server (RFC 7643, RFC 7644).
///
/// Exit codes: 0 ok; 1 some items failed; 2 usage, configuration or input file error;
/// 3 server or transport error.
#[derive(Debug, Parser)]
#[command(name = "scim", version, about, long_about = None)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) conn: Connection,
    /// Print JSON (one object per line for lists and items) instead of tables.
    #[arg(long, global = true)]
    pub(crate) json: bool,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Where the server is and how to authenticate: flags, else `SCIM_*` variables, else the
/// profile.
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct Connection {
    /// The SCIM base URL (`http://127.0.0.1:8080/scim/v2`).
    #[arg(long, env = "SCIM_URL", global = true)]
    pub(crate) url: Option<String>,
    /// A bearer token.
    #[arg(long, env = "SCIM_TOKEN", global = true, hide_env_values = true)]
    pub(crate) token: Option<String>,
    /// OAuth2 client id (client credentials, RFC 6749 section 4.4).
    #[arg(long, env = "SCIM_CLIENT_ID", global = true)]
    pub(crate) client_id: Option<String>,
    /// OAuth2 client secret.
    #[arg(long, env = "SCIM_CLIENT_SECRET", global = true, hide_env_values = true)]
    pub(crate) client_secret: Option<String>,
    /// OAuth2 token URL (default: `/oauth2/token` at the base URL's origin).
    #[arg(long, env = "SCIM_TOKEN_URL", global = true)]
    pub(crate) token_url: Option<String>,
    /// OAuth2 scopes to ask for (repeat, or space-separated in `SCIM_SCOPES`).
    #[arg(long = "scope", env = "SCIM_SCOPES", value_delimiter = ' ', global = true)]
    pub(crate) scopes: Vec<String>,
    /// Organization sid sent as `Scim-Organization` (on `/scim/v2`).
    #[arg(long, env = "SCIM_ORGANIZATION", global = true)]
    pub(crate) organization: Option<String>,
    /// The profile to use from the config file.
    #[arg(long, env = "SCIM_PROFILE", global = true)]
    pub(crate) profile: Option<String>,
    /// The config file (default: `$XDG_CONFIG_HOME/scim/config.toml`, else
    /// `~/.config/scim/config.toml`).
    #[arg(long, env = "SCIM_CONFIG", global = true)]
    pub(crate) config: Option<PathBuf>,
    /// Timeout of one request, in seconds.
    #[arg(long, global = true, default_value_t = 30)]
    pub(crate) timeout: u64,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Users: list, get, create, replace, patch, delete.
    Users(ResourceArgs),
    /// Groups: list, get, create, replace, patch, delete, and sync of memberships.
    Groups(ResourceArgs),
    /// Search users (or groups) with a filter, one page (POST .search).
    Search(SearchArgs),
    /// Create or update users from a CSV or JSON Lines file.
    Import(ImportArgs),
    /// Write every user (or group) as JSON Lines or CSV, streamed.
    Export(ExportArgs),
    /// Make the server's users match a file: create, PATCH what changed, deactivate.
    Sync(SyncArgs),
    /// Fetch an OAuth2 client-credentials access token and print it.
    Token,
}

#[derive(Debug, Args)]
pub(crate) struct ResourceArgs {
    #[command(subcommand)]
    pub(crate) command: ResourceCommand,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ResourceCommand {
    /// List every resource (or those matching --filter), page after page.
    List(ListArgs),
    /// Read one resource by id.
    Get {
        /// The resource id.
        id: String,
    },
    /// Create a resource from a JSON file (`-` for standard input).
    Create {
        /// The JSON file.
        file: PathBuf,
    },
    /// Replace a resource (PUT) with a JSON file.
    Replace {
        /// The resource id.
        id: String,
        /// The JSON file.
        file: PathBuf,
        /// Only if the resource still has this entity tag (`W/"3"`).
        #[arg(long)]
        if_match: Option<String>,
    },
    /// Modify a resource (PATCH).
    Patch(PatchArgs),
    /// Delete a resource.
    Delete {
        /// The resource id.
        id: String,
        /// Only if the resource still has this entity tag.
        #[arg(long)]
        if_match: Option<String>,
    },
    /// Groups only: make memberships match a file (CSV `group,member`).
    Sync(GroupsSyncArgs),
}

#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    /// A filter (RFC 7644 3.4.2.2), such as `userName sw "a"`.
    #[arg(long)]
    pub(crate) filter: Option<String>,
    /// Attributes to return, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub(crate) attributes: Vec<String>,
    /// Sort by this attribute.
    #[arg(long)]
    pub(crate) sort_by: Option<String>,
    /// Sort descending.
    #[arg(long, requires = "sort_by")]
    pub(crate) descending: bool,
    /// Stop after this many resources.
    #[arg(long)]
    pub(crate) limit: Option<u64>,
}

#[derive(Debug, Args)]
pub(crate) struct PatchArgs {
    /// The resource id.
    pub(crate) id: String,
    /// A JSON file with a PatchOp message or an array of operations (`-` for standard
    /// input).
    pub(crate) file: Option<PathBuf>,
    /// `replace` an attribute: `PATH=VALUE` (VALUE is JSON, else a string). Repeatable.
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub(crate) set: Vec<String>,
    /// `add` a value: `PATH=VALUE`. Repeatable.
    #[arg(long = "add", value_name = "PATH=VALUE")]
    pub(crate) add: Vec<String>,
    /// `remove` a path. Repeatable.
    #[arg(long = "remove", value_name = "PATH")]
    pub(crate) remove: Vec<String>,
    /// Only if the resource still has this entity tag.
    #[arg(long)]
    pub(crate) if_match: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct SearchArgs {
    /// The filter (RFC 7644 3.4.2.2).
    pub(crate) filter: String,
    /// Search groups instead of users.
    #[arg(long)]
    pub(crate) groups: bool,
    /// Attributes to return, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub(crate) attributes: Vec<String>,
    /// Page size.
    #[arg(long)]
    pub(crate) count: Option<u64>,
    /// 1-based index of the first result.
    #[arg(long)]
    pub(crate) start_index: Option<u64>,
}

/// The format of an import, export or sync file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// Comma-separated values with a header row of attribute paths.
    Csv,
    /// One JSON resource per line.
    Jsonl,
}

#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    /// The CSV or JSON Lines file.
    pub(crate) file: PathBuf,
    /// The file's format (default: from its extension, `.csv` or else JSON Lines).
    #[arg(long)]
    pub(crate) format: Option<Format>,
    /// Requests in flight at once.
    #[arg(long, short = 'j', default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub(crate) concurrency: u16,
    /// Where failed rows go, in the input's format, to import again (default: the input's
    /// name with `.failed` before the extension).
    #[arg(long)]
    pub(crate) failures: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    /// Write here instead of standard output.
    #[arg(long, short = 'o')]
    pub(crate) output: Option<PathBuf>,
    /// The format (default: from the output's extension, `.csv` or else JSON Lines).
    #[arg(long)]
    pub(crate) format: Option<Format>,
    /// Export groups instead of users.
    #[arg(long)]
    pub(crate) groups: bool,
    /// Only resources matching this filter.
    #[arg(long)]
    pub(crate) filter: Option<String>,
    /// CSV columns (attribute paths), comma-separated (default: a standard set).
    #[arg(long, value_delimiter = ',')]
    pub(crate) columns: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct SyncArgs {
    /// The CSV or JSON Lines file of users that should exist.
    pub(crate) file: PathBuf,
    /// The file's format (default: from its extension).
    #[arg(long)]
    pub(crate) format: Option<Format>,
    /// Deactivate (`active: false`) users on the server that are not in the file.
    #[arg(long)]
    pub(crate) deactivate_missing: bool,
    /// Print the plan and change nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Requests in flight at once.
    #[arg(long, short = 'j', default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub(crate) concurrency: u16,
}

#[derive(Debug, Args)]
pub(crate) struct GroupsSyncArgs {
    /// CSV with a header `group,member`: a group's displayName or id, a member's userName,
    /// a group's displayName, or an id. Groups not in the file are left alone.
    pub(crate) file: PathBuf,
    /// Print the plan and change nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Requests in flight at once.
    #[arg(long, short = 'j', default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub(crate) concurrency: u16,
}

impl Format {
    /// The format asked for, else the one the path's extension says.
    pub(crate) fn of(asked: Option<Format>, path: Option<&std::path::Path>) -> Format {
        asked.unwrap_or_else(|| match path.and_then(|p| p.extension()).and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("csv") => Format::Csv,
            _ => Format::Jsonl,
        })
    }
}
