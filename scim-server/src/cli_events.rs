//! The `admin stream` and `admin audit` commands: argument parsing and printing around
//! `scim_server::events::manage`.

use super::{print_json, say, table};
use clap::Subcommand;
use scim_server::admin;
use scim_server::events::manage::{self, NewStream};
use scim_store::{AuditQuery, Delivery, EventForm, SigningAlg, Store, StreamState};

#[derive(Debug, Subcommand)]
pub(crate) enum StreamCommand {
    /// Create an event stream (RFC 8935 push or RFC 8936 poll).
    #[command(
        after_help = "Example:\n  scim-server admin stream create --org acme --url https://receiver.example/events --json"
    )]
    Create {
        /// The organization (sid, or name when unambiguous).
        #[arg(long)]
        org: String,
        /// push or poll.
        #[arg(long, default_value = "push")]
        delivery: String,
        /// The receiver's URL (push; http or https).
        #[arg(long)]
        url: Option<String>,
        /// An event URI to deliver (repeatable; default all).
        #[arg(long = "event")]
        events: Vec<String>,
        /// notice (changed attribute names) or full (the resource).
        #[arg(long, default_value = "notice")]
        form: String,
        /// ES256 (keys at /events/jwks.json) or HS256 (a shared secret, shown once).
        #[arg(long, default_value = "ES256")]
        alg: String,
        /// Print the stream as JSON (with "secret" for HS256).
        #[arg(long)]
        json: bool,
    },
    /// List streams with their state, lag and last error.
    List {
        /// Only this organization.
        #[arg(long)]
        org: Option<String>,
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Pause a stream.
    Pause {
        /// The stream id (ES...).
        id: String,
        /// Print the stream as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Resume a stream (clears its failure count).
    Resume {
        /// The stream id (ES...).
        id: String,
        /// Print the stream as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete a stream.
    Delete {
        /// The stream id (ES...).
        id: String,
        /// Print {"id","deleted"}.
        #[arg(long)]
        json: bool,
    },
    /// Make a new ES256 signing key; older keys stay in the JWKS.
    RotateKey {
        /// Print {"kid"}.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, clap::Args)]
pub(crate) struct AuditArgs {
    /// The organization (sid, or name when unambiguous).
    #[arg(long)]
    org: String,
    /// Only this resource (US... or GR...).
    #[arg(long)]
    resource: Option<String>,
    /// From this instant (RFC 3339).
    #[arg(long)]
    since: Option<String>,
    /// Before this instant (RFC 3339).
    #[arg(long)]
    until: Option<String>,
    /// At most this many changes (default 1000, at most 10000).
    #[arg(long, default_value_t = 1000)]
    limit: u64,
    /// Print a JSON array.
    #[arg(long)]
    json: bool,
}

fn parse<T>(what: &str, v: &str, options: &[(&str, T)]) -> anyhow::Result<T>
where
    T: Copy,
{
    options
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(v))
        .map(|(_, t)| *t)
        .ok_or_else(|| anyhow::anyhow!("unknown {what} '{v}'"))
}

fn print_streams(streams: &[manage::StreamOut]) -> anyhow::Result<()> {
    let rows = streams
        .iter()
        .map(|s| {
            vec![
                s.id.clone(),
                s.org.to_string(),
                format!("{:?}", s.delivery).to_lowercase(),
                format!("{:?}", s.state).to_lowercase(),
                s.lag.to_string(),
                s.failures.to_string(),
                s.url.clone().unwrap_or_default(),
                s.last_error.clone().unwrap_or_default(),
            ]
        })
        .collect();
    table(&["ID", "ORG", "DELIVERY", "STATE", "LAG", "FAILURES", "URL", "LAST_ERROR"], rows)
}

pub(crate) async fn stream(store: &dyn Store, cmd: StreamCommand) -> anyhow::Result<()> {
    match cmd {
        StreamCommand::Create { org, delivery, url, events, form, alg, json } => {
            let org = admin::resolve_org(store, &org).await?.sid;
            let new = NewStream {
                org,
                delivery: parse(
                    "delivery",
                    &delivery,
                    &[("push", Delivery::Push), ("poll", Delivery::Poll)],
                )?,
                url,
                events,
                form: parse(
                    "form",
                    &form,
                    &[("notice", EventForm::Notice), ("full", EventForm::Full)],
                )?,
                alg: parse(
                    "alg",
                    &alg,
                    &[("ES256", SigningAlg::ES256), ("HS256", SigningAlg::HS256)],
                )?,
            };
            let out = manage::create_stream(store, new).await?;
            if json {
                print_json(&out)?;
            } else {
                print_streams(std::slice::from_ref(&out.stream))?;
                if let Some(secret) = &out.secret {
                    say(&format!("secret\t{secret}"))?;
                    eprintln!("The secret is shown only this once: store it now.");
                }
            }
        }
        StreamCommand::List { org, json } => {
            let org = match org {
                Some(o) => Some(admin::resolve_org(store, &o).await?.sid),
                None => None,
            };
            let streams = manage::list_streams(store, org).await?;
            if json { print_json(&streams)? } else { print_streams(&streams)? }
        }
        StreamCommand::Pause { id, json } => {
            let s = manage::set_stream_state(store, &id, StreamState::Paused).await?;
            if json { print_json(&s)? } else { print_streams(&[s])? }
        }
        StreamCommand::Resume { id, json } => {
            let s = manage::set_stream_state(store, &id, StreamState::Active).await?;
            if json { print_json(&s)? } else { print_streams(&[s])? }
        }
        StreamCommand::Delete { id, json } => {
            manage::delete_stream(store, &id).await?;
            if json {
                print_json(&serde_json::json!({"id": id, "deleted": true}))?;
            } else {
                say(&format!("deleted {id}"))?;
            }
        }
        StreamCommand::RotateKey { json } => {
            let kid = manage::rotate_key(store).await?;
            if json { print_json(&serde_json::json!({"kid": kid}))? } else { say(&kid)? }
        }
    }
    Ok(())
}

pub(crate) async fn audit(store: &dyn Store, a: AuditArgs) -> anyhow::Result<()> {
    let org = admin::resolve_org(store, &a.org).await?.sid;
    let q = AuditQuery {
        resource: a.resource,
        since: a.since,
        until: a.until,
        after: 0,
        limit: a.limit.clamp(1, 10_000),
    };
    let entries = manage::audit(store, org, &q).await?;
    if a.json {
        return print_json(&entries);
    }
    let rows = entries
        .into_iter()
        .map(|e| {
            vec![
                e.seq.to_string(),
                e.at,
                e.op,
                e.kind,
                e.id,
                e.version.to_string(),
                e.actor.unwrap_or_default(),
                e.request_id.unwrap_or_default(),
            ]
        })
        .collect();
    table(&["SEQ", "AT", "OP", "KIND", "ID", "VERSION", "ACTOR", "REQUEST_ID"], rows)
}
