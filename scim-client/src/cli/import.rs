//! `scim import FILE`: creates each user of a CSV or JSON Lines file; one that exists
//! already (409, matched by `externalId`, else `userName`) gets a PATCH of only what
//! differs, or nothing. A bounded number of requests are in flight.

use super::args::{Format, ImportArgs};
use super::input::{self, Failures, Item};
use super::progress::Progress;
use super::{CliResult, Io, Status, diff, output, usage};
use crate::client::Client;
use crate::error::Error;
use crate::filter::attr;
use crate::query::Query;
use crate::resources::Resources;
use futures::StreamExt;
use scim_core::resource::get_ci;
use scim_core::schema::ResourceKind;
use serde_json::{Map, Value, json};

/// A resource as the generic JSON map.
pub(crate) type Doc = Map<String, Value>;

/// What became of one record.
pub(crate) enum Outcome {
    Created,
    Updated,
    Unchanged,
    Deactivated,
    /// The message, and whether the server never answered (transport).
    Failed(String, bool),
}

/// Counts of an import or sync.
#[derive(Default)]
pub(crate) struct Summary {
    pub(crate) created: u64,
    pub(crate) updated: u64,
    pub(crate) unchanged: u64,
    pub(crate) deactivated: u64,
    pub(crate) failed: u64,
    pub(crate) unreachable: u64,
}

impl Summary {
    pub(crate) fn add(&mut self, o: &Outcome) {
        match o {
            Outcome::Created => self.created += 1,
            Outcome::Updated => self.updated += 1,
            Outcome::Unchanged => self.unchanged += 1,
            Outcome::Deactivated => self.deactivated += 1,
            Outcome::Failed(_, transport) => {
                self.failed += 1;
                self.unreachable += u64::from(*transport);
            }
        }
    }

    /// 0, or 1 when items failed, or 3 when nothing got through to the server.
    pub(crate) fn status(&self) -> Status {
        let done = self.created + self.updated + self.unchanged + self.deactivated;
        match self.failed {
            0 => Status::Ok,
            _ if done == 0 && self.unreachable == self.failed => Status::Server,
            _ => Status::ItemsFailed,
        }
    }

    pub(crate) fn json(&self, elapsed: Option<std::time::Duration>) -> Value {
        let seconds = elapsed.map(|e| (e.as_secs_f64() * 100.0).round() / 100.0);
        json!({
            "seconds": seconds,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "deactivated": self.deactivated,
            "failed": self.failed,
        })
    }
}

/// Reads the first page, so that a wrong URL or credential fails once, before any row.
pub(crate) async fn preflight(users: &Resources<Doc>) -> CliResult<()> {
    users.search(&Query::new().count(1)).await?;
    Ok(())
}

pub(crate) async fn run(client: &Client, a: &ImportArgs, json: bool, io: &mut Io<'_>) -> CliResult {
    let format = Format::of(a.format, Some(&a.file));
    let registry = input::registry(client, format).await;
    let input = input::open(&a.file, format, ResourceKind::User, &registry)?;
    let users: Resources<Doc> = client.resources("Users");
    preflight(&users).await?;
    let total = input::count(&a.file, format);
    let mut failures = Failures::new(&a.file, a.failures.as_deref(), &input);
    let mut progress = Progress::new(io.terminal && !json, "import", total);
    let mut summary = Summary::default();
    let mut results = futures::stream::iter(input.items)
        .map(|item: Item| {
            let users = users.clone();
            async move {
                let outcome = match &item.record {
                    Ok(doc) => upsert(&users, doc).await,
                    Err(e) => Outcome::Failed(e.clone(), false),
                };
                (item, outcome)
            }
        })
        .buffer_unordered(usize::from(a.concurrency));
    while let Some((item, outcome)) = results.next().await {
        if let Outcome::Failed(msg, _) = &outcome {
            progress.println(io.err, &format!("{} line {}: {msg}", a.file.display(), item.line));
            failures.write(&item.raw)?;
        }
        summary.add(&outcome);
        progress.inc(io.err);
    }
    let elapsed = progress.finish();
    failures.finish()?;
    let mut report = summary.json(Some(elapsed));
    if let (Value::Object(m), true) = (&mut report, failures.rows > 0) {
        m.insert("failures_file".into(), json!(failures.path().display().to_string()));
    }
    let write = |io: &mut Io<'_>, s: String| {
        writeln!(io.out, "{s}").map_err(|e| usage(format!("cannot write: {e}")))
    };
    if json {
        write(io, report.to_string())?;
    } else {
        write(
            io,
            format!(
                "created {}, updated {}, unchanged {}, failed {} ({:.1} s)",
                summary.created,
                summary.updated,
                summary.unchanged,
                summary.failed,
                elapsed.as_secs_f64()
            ),
        )?;
        if failures.rows > 0 {
            write(
                io,
                format!(
                    "failed rows written to {} (fix and import it again)",
                    failures.path().display()
                ),
            )?;
        }
    }
    Ok(summary.status())
}

/// Creates the user, or on a uniqueness conflict PATCHes the existing one.
async fn upsert(users: &Resources<Doc>, doc: &Doc) -> Outcome {
    match users.create(doc).await {
        Ok(_) => Outcome::Created,
        Err(e) if e.status() == Some(409) => match find(users, doc).await {
            Ok(Some(existing)) => update(users, doc, &existing).await,
            Ok(None) => failed(&e),
            Err(e2) => failed(&e2),
        },
        Err(e) => failed(&e),
    }
}

pub(crate) fn failed(e: &Error) -> Outcome {
    Outcome::Failed(output::short_error(e), matches!(e, Error::Transport { .. }))
}

/// `meta.version` of a resource read from the server, when it has one.
pub(crate) fn version_of(d: &Doc) -> Option<Box<str>> {
    let meta = get_ci(d, "meta").and_then(Value::as_object)?;
    get_ci(meta, "version").and_then(Value::as_str).map(Box::from)
}

/// PATCHes `existing` to what `doc` says, or nothing when they agree.
pub(crate) async fn update(users: &Resources<Doc>, doc: &Doc, existing: &Doc) -> Outcome {
    let mut ops = diff::diff(doc, existing);
    ops.extend(diff::reactivate(doc, existing));
    if ops.is_empty() {
        return Outcome::Unchanged;
    }
    let Some(id) = existing.get("id").and_then(Value::as_str) else {
        return Outcome::Failed("the server's user has no id".to_owned(), false);
    };
    // Conditional on the version read, so a change made meanwhile is not overwritten.
    match users.patch_ops(id, ops, version_of(existing).as_deref()).await {
        Ok(_) => Outcome::Updated,
        Err(e) => failed(&e),
    }
}

/// The server's user with the record's `externalId`, else its `userName`.
async fn find(users: &Resources<Doc>, doc: &Doc) -> Result<Option<Doc>, Error> {
    let (name, external) = super::record::keys(doc);
    let mut filters = Vec::new();
    if let Some(x) = external {
        filters.push(attr("externalId").eq(x));
    }
    if let Some(n) = name {
        filters.push(attr("userName").eq(n));
    }
    for f in filters {
        let page = users.search(&Query::new().filter(f).count(2)).await?;
        if let Some(found) = page.resources.into_iter().next() {
            return Ok(Some(found));
        }
    }
    Ok(None)
}
