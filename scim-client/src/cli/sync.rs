//! `scim sync FILE [--deactivate-missing] [--dry-run]`: makes the server's users match a
//! file as an identity provider would. Each record is matched to a server user by
//! `externalId`, else `userName`; unmatched records are created, matched ones get a PATCH
//! of only the attributes that differ, and with `--deactivate-missing` active users the
//! file does not list get `active: false`. The plan is printed first; `--dry-run` stops
//! there.

use super::args::{Format, SyncArgs};
use super::import::{self, Doc, Outcome, Summary, failed};
use super::input::{self, Item};
use super::progress::Progress;
use super::{CliResult, Io, Status, diff, record, usage};
use crate::client::Client;
use crate::query::Query;
use crate::resources::Resources;
use futures::{StreamExt, TryStreamExt};
use scim_core::message::{PatchOpKind, PatchOperation};
use scim_core::resource::get_ci;
use scim_core::schema::ResourceKind;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};

/// One change of the plan.
enum Action {
    /// The file's record, as compact JSON text (parsed again when sent).
    Create(Box<str>),
    Update {
        id: String,
        ops: Vec<PatchOperation>,
        /// The version the plan was made from: sent as `If-Match`, so a user changed on the
        /// server since the listing is not overwritten (412, reported as failed).
        version: Option<Box<str>>,
    },
    Deactivate {
        id: String,
        version: Option<Box<str>>,
    },
}

struct Step {
    /// The user's `userName` (for the plan).
    name: String,
    action: Action,
}

impl Step {
    fn verb(&self) -> &'static str {
        match self.action {
            Action::Create(_) => "create",
            Action::Update { .. } => "update",
            Action::Deactivate { .. } => "deactivate",
        }
    }

    fn detail(&self) -> String {
        match &self.action {
            Action::Update { ops, .. } => diff::paths(ops),
            _ => String::new(),
        }
    }
}

fn write_err(e: std::io::Error) -> super::CliError {
    usage(format!("cannot write: {e}"))
}

fn str_of<'d>(d: &'d Doc, key: &str) -> Option<&'d str> {
    get_ci(d, key).and_then(Value::as_str)
}

/// A server user as the comparison needs it: the match keys, and the attributes the file
/// has (with `active`) as compact JSON text, parsed again one user at a time. At 100,000
/// users this is a few hundred bytes each, where the parsed documents took kilobytes.
struct Known {
    id: Box<str>,
    user_name: Box<str>,
    active: bool,
    /// `{"attr": ...}` for the attributes the file has.
    doc: Box<str>,
    /// `meta.version`, when the server gives entity tags.
    version: Option<Box<str>>,
    matched: bool,
}

/// The top-level attributes (lowercase) some record of the file has, with `active`.
fn file_attributes(records: &[(u64, Box<str>)]) -> CliResult<HashSet<String>> {
    let mut keys = HashSet::from(["active".to_owned()]);
    for (_, text) in records {
        let doc: Doc = parse(text)?;
        keys.extend(doc.keys().map(|k| k.to_ascii_lowercase()));
    }
    Ok(keys)
}

fn parse(text: &str) -> CliResult<Doc> {
    serde_json::from_str(text).map_err(|e| usage(format!("internal: a record does not parse: {e}")))
}

fn compact(doc: &Doc) -> CliResult<Box<str>> {
    serde_json::to_string(doc)
        .map(String::into_boxed_str)
        .map_err(|e| usage(format!("internal: a record does not serialize: {e}")))
}

pub(crate) async fn run(client: &Client, a: &SyncArgs, json: bool, io: &mut Io<'_>) -> CliResult {
    let format = Format::of(a.format, Some(&a.file));
    let registry = input::registry(client, format).await;
    let input = input::open(&a.file, format, ResourceKind::User, &registry)?;
    // Each row as compact JSON text: far smaller than the parsed map.
    let mut records: Vec<(u64, Box<str>)> = Vec::new();
    let mut bad = 0u64;
    for Item { line, record, .. } in input.items {
        match record {
            Ok(doc) => records.push((line, compact(&doc)?)),
            Err(e) => {
                bad += 1;
                let _ = writeln!(io.err, "{} line {line}: {e}", a.file.display());
            }
        }
    }
    if bad > 0 && a.deactivate_missing {
        return Err(usage(format!(
            "{bad} rows of {} cannot be read; nothing was changed (with --deactivate-missing \
             every row must be readable, or its user would be deactivated)",
            a.file.display()
        )));
    }
    let wanted = file_attributes(&records)?;

    // The server's users, page by page, each kept as what the comparison needs.
    let users: Resources<Doc> = client.resources("Users");
    let mut server: Vec<Known> = Vec::new();
    let mut by_external: HashMap<Box<str>, usize> = HashMap::new();
    let mut by_name: HashMap<Box<str>, usize> = HashMap::new();
    // Conditional writes when the server supports entity tags (RFC 7644 3.14).
    let etags = client.capabilities().await.map(|c| c.etag).unwrap_or(false);
    let mut listing = users.list(Query::new());
    while let Some(u) = listing.try_next().await? {
        let i = server.len();
        if let Some(x) = str_of(&u, "externalId") {
            by_external.insert(x.into(), i);
        }
        let user_name = str_of(&u, "userName").unwrap_or_default();
        by_name.insert(user_name.to_lowercase().into(), i);
        let kept: Doc = u
            .iter()
            .filter(|(k, _)| wanted.contains(&k.to_ascii_lowercase()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        server.push(Known {
            id: str_of(&u, "id").unwrap_or_default().into(),
            user_name: user_name.into(),
            active: get_ci(&u, "active") != Some(&Value::Bool(false)),
            doc: compact(&kept)?,
            version: if etags { import::version_of(&u) } else { None },
            matched: false,
        });
    }
    drop(listing);

    let mut steps = Vec::new();
    let mut unchanged = 0u64;
    let mut duplicates = 0u64;
    for (line, text) in records {
        let doc = parse(&text)?;
        let (name, external) = record::keys(&doc);
        let name = name.unwrap_or_default().to_owned();
        let found = external
            .and_then(|x| by_external.get(x))
            .or_else(|| by_name.get(name.to_lowercase().as_str()))
            .copied();
        let Some(known) = found.and_then(|i| server.get_mut(i)) else {
            steps.push(Step { name, action: Action::Create(text) });
            continue;
        };
        if known.matched {
            duplicates += 1;
            let _ = writeln!(
                io.err,
                "{} line {line}: {name} matches a server user an earlier row matched already",
                a.file.display()
            );
            continue;
        }
        known.matched = true;
        let current = parse(&known.doc)?;
        let mut ops = diff::diff(&doc, &current);
        ops.extend(diff::reactivate(&doc, &current));
        if ops.is_empty() {
            unchanged += 1;
        } else {
            let (id, version) = (known.id.to_string(), known.version.clone());
            steps.push(Step { name, action: Action::Update { id, ops, version } });
        }
    }
    drop((by_external, by_name));
    let mut left_alone = 0u64;
    for u in server.iter().filter(|u| !u.matched) {
        if a.deactivate_missing && u.active {
            let (id, name) = (u.id.to_string(), u.user_name.to_string());
            let version = u.version.clone();
            steps.push(Step { name, action: Action::Deactivate { id, version } });
        } else {
            left_alone += 1;
        }
    }
    drop(server);

    print_plan(io, &steps, unchanged, left_alone, a, json)?;
    let item_failures = bad + duplicates;
    if a.dry_run {
        return Ok(if item_failures > 0 { Status::ItemsFailed } else { Status::Ok });
    }

    let mut progress = Progress::new(io.terminal && !json, "sync", Some(steps.len() as u64));
    let mut summary = Summary { unchanged, failed: item_failures, ..Summary::default() };
    let mut results = futures::stream::iter(steps)
        .map(|step| {
            let users = users.clone();
            async move {
                let outcome = apply(&users, &step.action).await;
                (step, outcome)
            }
        })
        .buffer_unordered(usize::from(a.concurrency));
    while let Some((step, outcome)) = results.next().await {
        if let Outcome::Failed(msg, _) = &outcome {
            progress.println(io.err, &format!("{} {}: {msg}", step.verb(), step.name));
        }
        summary.add(&outcome);
        progress.inc(io.err);
    }
    let elapsed = progress.finish();
    if json {
        let r = summary.json(Some(elapsed));
        writeln!(io.out, "{}", json!({ "result": r })).map_err(write_err)?;
    } else {
        writeln!(
            io.out,
            "created {}, updated {}, deactivated {}, unchanged {}, failed {} ({:.1} s)",
            summary.created,
            summary.updated,
            summary.deactivated,
            summary.unchanged,
            summary.failed,
            elapsed.as_secs_f64()
        )
        .map_err(write_err)?;
    }
    Ok(summary.status())
}

async fn apply(users: &Resources<Doc>, action: &Action) -> Outcome {
    match action {
        Action::Create(text) => {
            let doc: Doc = match serde_json::from_str(text) {
                Ok(d) => d,
                Err(e) => return Outcome::Failed(format!("the record does not parse: {e}"), false),
            };
            match users.create(&doc).await {
                Ok(_) => Outcome::Created,
                Err(e) => failed(&e),
            }
        }
        Action::Update { id, ops, version } => {
            match users.patch_ops(id, ops.clone(), version.as_deref()).await {
                Ok(_) => Outcome::Updated,
                Err(e) => failed(&e),
            }
        }
        Action::Deactivate { id, version } => {
            let op = PatchOperation {
                op: PatchOpKind::Replace,
                path: Some("active".to_owned()),
                value: Some(Value::Bool(false)),
            };
            match users.patch_ops(id, vec![op], version.as_deref()).await {
                Ok(_) => Outcome::Deactivated,
                Err(e) => failed(&e),
            }
        }
    }
}

fn print_plan(
    io: &mut Io<'_>,
    steps: &[Step],
    unchanged: u64,
    left_alone: u64,
    a: &SyncArgs,
    json: bool,
) -> CliResult<()> {
    let count = |verb: &str| steps.iter().filter(|s| s.verb() == verb).count();
    let (create, update, deactivate) = (count("create"), count("update"), count("deactivate"));
    if json {
        let plan: Vec<Value> = steps
            .iter()
            .map(|s| match &s.action {
                Action::Update { id, ops, .. } => {
                    json!({ "action": "update", "userName": s.name, "id": id, "operations": ops })
                }
                Action::Deactivate { id, .. } => {
                    json!({ "action": "deactivate", "userName": s.name, "id": id })
                }
                Action::Create(_) => json!({ "action": "create", "userName": s.name }),
            })
            .collect();
        let v = json!({
            "plan": plan,
            "dry_run": a.dry_run,
            "create": create,
            "update": update,
            "deactivate": deactivate,
            "unchanged": unchanged,
            "not_in_file": left_alone,
        });
        return writeln!(io.out, "{v}").map_err(write_err);
    }
    let mut text = format!(
        "plan: create {create}, update {update}, deactivate {deactivate}, unchanged {unchanged}"
    );
    if left_alone > 0 {
        let why = if a.deactivate_missing { "inactive already" } else { "left alone" };
        text.push_str(&format!(" ({left_alone} server users not in the file, {why})"));
    }
    writeln!(io.out, "{text}").map_err(write_err)?;
    for s in steps {
        let line = format!("  {:<10}  {}  {}", s.verb(), s.name, s.detail());
        writeln!(io.out, "{}", line.trim_end()).map_err(write_err)?;
    }
    if a.dry_run {
        writeln!(io.out, "dry run: nothing was changed").map_err(write_err)?;
    }
    Ok(())
}
