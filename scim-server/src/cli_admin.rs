//! `scim-server admin ...`: the commands that manage organizations, policies, tokens,
//! OAuth clients, event streams and backups from the database host, and their text and
//! JSON output (the logic itself is `scim_server::admin`'s, shared with the admin API).

use super::{cli_events, print_json, say, table};
use clap::Subcommand;
use scim_server::admin;
use scim_store::Store;
use std::path::PathBuf;

/// The end of `admin --help`.
pub(crate) const ADMIN_HELP: &str = "\
Examples:
  scim-server admin org create acme --policy soft-delete --json
  scim-server admin token create --org acme --scope scim:read --name okta
  scim-server admin client create --org acme --json";

#[derive(Debug, Subcommand)]
pub(crate) enum AdminCommand {
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
pub(crate) enum OrgCommand {
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
pub(crate) enum PolicyCommand {
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
pub(crate) enum TokenCommand {
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
pub(crate) enum ClientCommand {
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

pub(crate) async fn admin_command(store: &dyn Store, cmd: AdminCommand) -> anyhow::Result<()> {
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
