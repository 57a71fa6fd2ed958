//! `scim groups sync FILE`: memberships from a CSV file with a header `group,member` (a
//! group's displayName or id; a member's userName, a group's displayName, or an id). Each
//! group the file names gets one PATCH that adds the members it lacks and removes those the
//! file does not list (RFC 7644 3.5.2); a group the server lacks is created with its
//! members. Groups the file does not name are left alone.

use super::args::GroupsSyncArgs;
use super::import::{Doc, Outcome, Summary, failed};
use super::progress::Progress;
use super::{CliResult, Io, Status, usage};
use crate::client::Client;
use crate::query::Query;
use crate::resources::Resources;
use futures::{StreamExt, TryStreamExt};
use scim_core::message::{PatchOpKind, PatchOperation};
use scim_core::resource::get_ci;
use scim_core::schema::GROUP_SCHEMA;
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap, HashSet};

enum Change {
    Create { name: String, members: Vec<String> },
    Patch { id: String, name: String, add: Vec<String>, remove: Vec<String> },
}

fn write_err(e: std::io::Error) -> super::CliError {
    usage(format!("cannot write: {e}"))
}

fn str_of<'d>(d: &'d Doc, key: &str) -> Option<&'d str> {
    get_ci(d, key).and_then(Value::as_str)
}

/// The file: group -> members, in the order groups first appear.
/// A group of the file and its members, each with its line.
type Wanted = (String, Vec<(u64, String)>);

fn read(a: &GroupsSyncArgs) -> CliResult<Vec<Wanted>> {
    let file = a.file.display();
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(&a.file)
        .map_err(|e| usage(format!("cannot open {file}: {e}")))?;
    let headers = reader.headers().map_err(|e| usage(format!("{file}: {e}")))?.clone();
    let col = |name: &str| headers.iter().position(|h| h.trim().eq_ignore_ascii_case(name));
    let (Some(g), Some(m)) = (col("group"), col("member")) else {
        return Err(usage(format!(
            "{file} line 1: the header must name the columns group and member"
        )));
    };
    let mut groups: Vec<Wanted> = Vec::new();
    let mut index = HashMap::new();
    for row in reader.records() {
        let row = row.map_err(|e| usage(format!("{file}: {e}")))?;
        let line = row.position().map_or(0, csv::Position::line);
        let group = row.get(g).unwrap_or_default().trim().to_owned();
        if group.is_empty() {
            return Err(usage(format!("{file} line {line}, column {}: the group is empty", g + 1)));
        }
        let member = row.get(m).unwrap_or_default().trim().to_owned();
        let at = *index.entry(group.to_lowercase()).or_insert_with(|| {
            groups.push((group.clone(), Vec::new()));
            groups.len() - 1
        });
        if let (Some((_, members)), false) = (groups.get_mut(at), member.is_empty()) {
            members.push((line, member));
        }
    }
    Ok(groups)
}

pub(crate) async fn run(
    client: &Client,
    a: &GroupsSyncArgs,
    json: bool,
    io: &mut Io<'_>,
) -> CliResult {
    let wanted = read(a)?;
    let users: Resources<Doc> = client.resources("Users");
    let groups: Resources<Doc> = client.resources("Groups");
    let all_users: Vec<Doc> =
        users.list(Query::new().attributes(["userName"])).try_collect().await?;
    let all_groups: Vec<Doc> =
        groups.list(Query::new().attributes(["displayName", "members"])).try_collect().await?;
    let mut ids = HashSet::new();
    let mut by_name = HashMap::new();
    for u in &all_users {
        if let Some(id) = str_of(u, "id") {
            ids.insert(id.to_owned());
            if let Some(n) = str_of(u, "userName") {
                by_name.insert(n.to_lowercase(), id.to_owned());
            }
        }
    }
    let mut group_by_key: HashMap<String, usize> = HashMap::new();
    for (i, g) in all_groups.iter().enumerate() {
        if let Some(id) = str_of(g, "id") {
            ids.insert(id.to_owned());
            group_by_key.insert(id.to_owned(), i);
        }
        if let Some(n) = str_of(g, "displayName") {
            group_by_key.entry(n.to_lowercase()).or_insert(i);
            if let Some(id) = str_of(g, "id") {
                by_name.entry(n.to_lowercase()).or_insert_with(|| id.to_owned());
            }
        }
    }
    let mut unresolved = 0u64;
    let mut changes = Vec::new();
    let mut unchanged = 0u64;
    for (group, members) in wanted {
        let mut want = BTreeSet::new();
        for (line, m) in members {
            let id = if ids.contains(&m) {
                Some(m.clone())
            } else {
                by_name.get(&m.to_lowercase()).cloned()
            };
            match id {
                Some(id) => {
                    want.insert(id);
                }
                None => {
                    unresolved += 1;
                    let _ = writeln!(
                        io.err,
                        "{} line {line}: no user or group '{m}'",
                        a.file.display()
                    );
                }
            }
        }
        let found = group_by_key.get(&group).or_else(|| group_by_key.get(&group.to_lowercase()));
        let Some(current) = found.and_then(|i| all_groups.get(*i)) else {
            changes.push(Change::Create { name: group, members: want.into_iter().collect() });
            continue;
        };
        let have: BTreeSet<String> = get_ci(current, "members")
            .and_then(Value::as_array)
            .map(|ms| {
                ms.iter().filter_map(|m| m.get("value")?.as_str().map(str::to_owned)).collect()
            })
            .unwrap_or_default();
        let add: Vec<String> = want.difference(&have).cloned().collect();
        let remove: Vec<String> = have.difference(&want).cloned().collect();
        if add.is_empty() && remove.is_empty() {
            unchanged += 1;
            continue;
        }
        let id = str_of(current, "id").unwrap_or_default().to_owned();
        let name = str_of(current, "displayName").unwrap_or(&group).to_owned();
        changes.push(Change::Patch { id, name, add, remove });
    }

    let plan: Vec<Value> = changes
        .iter()
        .map(|c| match c {
            Change::Create { name, members } => {
                json!({ "action": "create", "displayName": name, "add": members })
            }
            Change::Patch { id, name, add, remove } => {
                json!({ "action": "update", "displayName": name, "id": id, "add": add, "remove": remove })
            }
        })
        .collect();
    if json {
        let v = json!({ "plan": plan, "dry_run": a.dry_run, "unchanged": unchanged, "unresolved": unresolved });
        writeln!(io.out, "{v}").map_err(write_err)?;
    } else {
        writeln!(io.out, "plan: {} groups to change, {unchanged} unchanged", changes.len())
            .map_err(write_err)?;
        for c in &changes {
            let line = match c {
                Change::Create { name, members } => format!("  create  {name}  +{}", members.len()),
                Change::Patch { name, add, remove, .. } => {
                    format!("  update  {name}  +{} -{}", add.len(), remove.len())
                }
            };
            writeln!(io.out, "{line}").map_err(write_err)?;
        }
        if a.dry_run {
            writeln!(io.out, "dry run: nothing was changed").map_err(write_err)?;
        }
    }
    if a.dry_run {
        return Ok(if unresolved > 0 { Status::ItemsFailed } else { Status::Ok });
    }

    let mut progress =
        Progress::new(io.terminal && !json, "groups sync", Some(changes.len() as u64));
    let mut summary = Summary { unchanged, failed: unresolved, ..Summary::default() };
    let mut results = futures::stream::iter(changes)
        .map(|c| {
            let groups = groups.clone();
            async move {
                let outcome = apply(&groups, &c).await;
                (c, outcome)
            }
        })
        .buffer_unordered(usize::from(a.concurrency));
    while let Some((c, outcome)) = results.next().await {
        if let Outcome::Failed(msg, _) = &outcome {
            let name = match &c {
                Change::Create { name, .. } | Change::Patch { name, .. } => name,
            };
            progress.println(io.err, &format!("group {name}: {msg}"));
        }
        summary.add(&outcome);
        progress.inc(io.err);
    }
    progress.finish();
    if json {
        writeln!(io.out, "{}", json!({ "result": summary.json(None) })).map_err(write_err)?;
    } else {
        writeln!(
            io.out,
            "groups created {}, updated {}, unchanged {}, failed {}",
            summary.created, summary.updated, summary.unchanged, summary.failed
        )
        .map_err(write_err)?;
    }
    Ok(summary.status())
}

fn member_values(ids: &[String]) -> Value {
    Value::Array(ids.iter().map(|id| json!({ "value": id })).collect())
}

async fn apply(groups: &Resources<Doc>, c: &Change) -> Outcome {
    match c {
        Change::Create { name, members } => {
            let mut doc = Doc::new();
            doc.insert("schemas".into(), json!([GROUP_SCHEMA]));
            doc.insert("displayName".into(), json!(name));
            if !members.is_empty() {
                doc.insert("members".into(), member_values(members));
            }
            match groups.create(&doc).await {
                Ok(_) => Outcome::Created,
                Err(e) => failed(&e),
            }
        }
        Change::Patch { id, add, remove, .. } => {
            let mut ops = Vec::new();
            if !add.is_empty() {
                ops.push(PatchOperation {
                    op: PatchOpKind::Add,
                    path: Some("members".into()),
                    value: Some(member_values(add)),
                });
            }
            for r in remove {
                // The id as a JSON string, quotes and escapes included (RFC 7644 3.4.2.2).
                let path = format!("members[value eq {}]", Value::String(r.clone()));
                ops.push(PatchOperation { op: PatchOpKind::Remove, path: Some(path), value: None });
            }
            match groups.patch_ops(id, ops, None).await {
                Ok(_) => Outcome::Updated,
                Err(e) => failed(&e),
            }
        }
    }
}
