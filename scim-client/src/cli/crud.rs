//! `scim users|groups list|get|create|replace|patch|delete` and `scim search`.

use super::args::{ListArgs, PatchArgs, ResourceCommand, SearchArgs};
use super::{CliResult, Io, Status, output, usage};
use crate::client::Client;
use crate::error::Error;
use crate::query::Query;
use crate::resources::{Resources, Tagged};
use futures::TryStreamExt;
use scim_core::filter::Filter;
use scim_core::message::{PATCH_OP, PatchOpKind, PatchOperation, PatchRequest, SortOrder};
use scim_core::schema::ResourceKind;
use serde_json::Value;
use std::io::Read;
use std::path::Path;

/// A query from the command line's filter text (parsed by the core parser, so a typo is
/// reported with its offset before anything is sent).
pub(crate) fn query(
    filter: Option<&str>,
    attributes: &[String],
    sort_by: Option<&str>,
    descending: bool,
) -> CliResult<Query> {
    let mut q = Query::new();
    if let Some(text) = filter {
        let f = Filter::parse(text).map_err(|e| usage(format!("--filter: {e}")))?;
        q = q.filter(f);
    }
    if !attributes.is_empty() {
        q = q.attributes(attributes.iter().cloned());
    }
    if let Some(s) = sort_by {
        q = q.sort_by(s, if descending { SortOrder::Descending } else { SortOrder::Ascending });
    }
    Ok(q)
}

fn write_err(e: std::io::Error) -> super::CliError {
    usage(format!("cannot write: {e}"))
}

/// `scim users ...`.
pub(crate) async fn users(
    client: &Client,
    c: &ResourceCommand,
    json: bool,
    io: &mut Io<'_>,
) -> CliResult {
    if matches!(c, ResourceCommand::Sync(_)) {
        return Err(usage("`scim users sync` is `scim sync FILE`"));
    }
    resource(client, ResourceKind::User, c, json, io).await
}

/// `scim groups ...` (but `sync`).
pub(crate) async fn groups(
    client: &Client,
    c: &ResourceCommand,
    json: bool,
    io: &mut Io<'_>,
) -> CliResult {
    resource(client, ResourceKind::Group, c, json, io).await
}

fn endpoint(kind: ResourceKind) -> &'static str {
    kind.endpoint().trim_start_matches('/')
}

async fn resource(
    client: &Client,
    kind: ResourceKind,
    c: &ResourceCommand,
    json: bool,
    io: &mut Io<'_>,
) -> CliResult {
    let res: Resources<Value> = client.resources(endpoint(kind));
    let show = |io: &mut Io<'_>, t: Tagged<Value>| output::resource(io.out, &t.resource, json);
    match c {
        ResourceCommand::List(a) => list(&res, kind, a, json, io).await,
        ResourceCommand::Get { id } => {
            show(io, res.get(id).await?).map_err(write_err)?;
            Ok(Status::Ok)
        }
        ResourceCommand::Create { file } => {
            let doc = read_json(file)?;
            show(io, res.create(&doc).await?).map_err(write_err)?;
            Ok(Status::Ok)
        }
        ResourceCommand::Replace { id, file, if_match } => {
            let doc = read_json(file)?;
            show(io, res.replace(id, &doc, if_match.as_deref()).await?).map_err(write_err)?;
            Ok(Status::Ok)
        }
        ResourceCommand::Patch(a) => {
            let request = patch_request(a)?;
            match res.patch(&a.id, &request, a.if_match.as_deref()).await? {
                Some(t) => show(io, t).map_err(write_err)?,
                None if json => writeln!(io.out, "{{\"patched\":true}}").map_err(write_err)?,
                None => writeln!(io.out, "patched {}", a.id).map_err(write_err)?,
            }
            Ok(Status::Ok)
        }
        ResourceCommand::Delete { id, if_match } => {
            res.delete(id, if_match.as_deref()).await?;
            if json {
                writeln!(io.out, "{}", serde_json::json!({ "deleted": id })).map_err(write_err)?;
            } else {
                writeln!(io.out, "deleted {id}").map_err(write_err)?;
            }
            Ok(Status::Ok)
        }
        ResourceCommand::Sync(_) => Err(usage("only `scim groups sync` exists")),
    }
}

/// The table columns of a list.
fn row(kind: ResourceKind, v: &Value) -> Vec<String> {
    let empty = serde_json::Map::new();
    let m = v.as_object().unwrap_or(&empty);
    match kind {
        ResourceKind::Group => {
            let members = m.get("members").and_then(Value::as_array).map_or(0, Vec::len);
            vec![output::cell(m, "id"), output::cell(m, "displayName"), members.to_string()]
        }
        _ => {
            let email = m
                .get("emails")
                .and_then(Value::as_array)
                .and_then(|e| e.iter().find(|e| e["primary"] == true).or_else(|| e.first()))
                .and_then(|e| e.get("value"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            vec![
                output::cell(m, "id"),
                output::cell(m, "userName"),
                output::cell(m, "displayName"),
                output::cell(m, "active"),
                email,
            ]
        }
    }
}

fn headers(kind: ResourceKind) -> &'static [&'static str] {
    match kind {
        ResourceKind::Group => &["ID", "DISPLAY NAME", "MEMBERS"],
        _ => &["ID", "USER NAME", "DISPLAY NAME", "ACTIVE", "EMAIL"],
    }
}

async fn list(
    res: &Resources<Value>,
    kind: ResourceKind,
    a: &ListArgs,
    json: bool,
    io: &mut Io<'_>,
) -> CliResult {
    let q = query(a.filter.as_deref(), &a.attributes, a.sort_by.as_deref(), a.descending)?;
    let mut stream = res.list(q);
    let mut rows = Vec::new();
    let mut n = 0u64;
    while a.limit.is_none_or(|l| n < l) {
        let Some(v) = stream.try_next().await? else { break };
        n += 1;
        if json {
            writeln!(io.out, "{v}").map_err(write_err)?;
        } else {
            rows.push(row(kind, &v));
        }
    }
    if !json {
        output::table(io.out, headers(kind), &rows).map_err(write_err)?;
    }
    Ok(Status::Ok)
}

/// `scim search FILTER`: one page by `POST /.search` of the endpoint.
pub(crate) async fn search(
    client: &Client,
    a: &SearchArgs,
    json: bool,
    io: &mut Io<'_>,
) -> CliResult {
    let kind = if a.groups { ResourceKind::Group } else { ResourceKind::User };
    let res: Resources<Value> = client.resources(endpoint(kind));
    let mut q = query(Some(&a.filter), &a.attributes, None, false)?;
    if let Some(c) = a.count {
        q = q.count(c);
    }
    if let Some(s) = a.start_index {
        q = q.start_index(s);
    }
    let page = match res.search_post(&q).await {
        // A server without `POST /.search` (RFC 7644 3.4.3 makes it optional): the same
        // query as a GET, which puts the filter in the URL (and the server's logs).
        Err(Error::Api(e)) if matches!(e.status, 404 | 405 | 501) => {
            let _ = writeln!(
                io.err,
                "note: the server answered {} to POST {}/.search; searching with GET instead",
                e.status,
                res.endpoint()
            );
            res.search(&q).await?
        }
        other => other?,
    };
    if json {
        let v = serde_json::to_value(&page).map_err(|e| usage(e.to_string()))?;
        writeln!(io.out, "{v}").map_err(write_err)?;
    } else {
        let rows: Vec<Vec<String>> = page.resources.iter().map(|v| row(kind, v)).collect();
        output::table(io.out, headers(kind), &rows).map_err(write_err)?;
        let _ = writeln!(io.err, "{} of {} results", page.resources.len(), page.total_results);
    }
    Ok(Status::Ok)
}

/// A JSON file (`-` is standard input).
pub(crate) fn read_json(path: &Path) -> CliResult<Value> {
    let text = if path.as_os_str() == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| usage(format!("cannot read standard input: {e}")))?;
        s
    } else {
        std::fs::read_to_string(path)
            .map_err(|e| usage(format!("cannot read {}: {e}", path.display())))?
    };
    serde_json::from_str(&text).map_err(|e| {
        usage(format!("{}: line {}, column {}: {e}", path.display(), e.line(), e.column()))
    })
}

fn value_of(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.to_owned()))
}

fn patch_request(a: &PatchArgs) -> CliResult<PatchRequest> {
    let mut operations: Vec<PatchOperation> = match &a.file {
        Some(f) => match read_json(f)? {
            v @ Value::Array(_) => serde_json::from_value(v),
            v => serde_json::from_value::<PatchRequest>(v).map(|r| r.operations),
        }
        .map_err(|e| usage(format!("{}: not a PatchOp message: {e}", f.display())))?,
        None => Vec::new(),
    };
    for (kind, items) in [(PatchOpKind::Replace, &a.set), (PatchOpKind::Add, &a.add)] {
        for item in items {
            let (path, value) =
                item.split_once('=').ok_or_else(|| usage(format!("'{item}' is not PATH=VALUE")))?;
            operations.push(PatchOperation {
                op: kind,
                path: Some(path.to_owned()),
                value: Some(value_of(value)),
            });
        }
    }
    for path in &a.remove {
        operations.push(PatchOperation {
            op: PatchOpKind::Remove,
            path: Some(path.clone()),
            value: None,
        });
    }
    if operations.is_empty() {
        return Err(usage("nothing to patch: give a file, --set, --add or --remove"));
    }
    Ok(PatchRequest { schemas: vec![PATCH_OP.to_owned()], operations })
}
