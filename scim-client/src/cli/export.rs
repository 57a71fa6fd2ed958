//! `scim export`: every user (or group) as JSON Lines or CSV, written as the pages come
//! (the `list` stream), so memory stays flat whatever the directory's size.

use super::args::{ExportArgs, Format};
use super::import::{Doc, preflight};
use super::progress::Progress;
use super::record::{self, Column};
use super::{CliResult, Io, Status, crud, usage};
use crate::client::Client;
use crate::resources::Resources;
use futures::TryStreamExt;
use scim_core::schema::{ENTERPRISE_USER_SCHEMA, ResourceKind};
use serde_json::Value;
use std::fs::File;
use std::io::{BufWriter, Write};

/// The CSV columns of a user export unless `--columns` says otherwise.
fn default_columns(kind: ResourceKind) -> Vec<String> {
    match kind {
        ResourceKind::Group => ["id", "externalId", "displayName"].map(str::to_owned).to_vec(),
        _ => {
            let mut c: Vec<String> = [
                "id",
                "externalId",
                "userName",
                "name.givenName",
                "name.familyName",
                "displayName",
                "active",
                "emails[type eq \"work\"].value",
            ]
            .map(str::to_owned)
            .to_vec();
            c.push(format!("{ENTERPRISE_USER_SCHEMA}:department"));
            c
        }
    }
}

/// Where the records go.
enum Sink<'a> {
    Csv(Box<csv::Writer<&'a mut dyn Write>>),
    Json(&'a mut dyn Write),
}

pub(crate) async fn run(client: &Client, a: &ExportArgs, io: &mut Io<'_>) -> CliResult {
    let kind = if a.groups { ResourceKind::Group } else { ResourceKind::User };
    let format = Format::of(a.format, a.output.as_deref());
    let columns: Vec<Column> = match format {
        Format::Csv => {
            let names =
                if a.columns.is_empty() { default_columns(kind) } else { a.columns.clone() };
            let registry = super::input::registry(client, format).await;
            record::columns(&names, &registry, kind).map_err(|e| usage(format!("--columns {e}")))?
        }
        Format::Jsonl => Vec::new(),
    };
    let resources: Resources<Doc> = client.resources(kind.endpoint().trim_start_matches('/'));
    preflight(&resources).await?;
    let query = crud::query(a.filter.as_deref(), &[], None, false)?;
    let mut file_out;
    let out: &mut dyn Write = match &a.output {
        Some(path) => {
            let f = File::create(path)
                .map_err(|e| usage(format!("cannot create {}: {e}", path.display())))?;
            file_out = BufWriter::new(f);
            &mut file_out
        }
        None => &mut *io.out,
    };
    let fail = |e: &dyn std::fmt::Display| usage(format!("cannot write the export: {e}"));
    let mut sink = match format {
        Format::Csv => {
            let mut w = csv::Writer::from_writer(&mut *out);
            w.write_record(columns.iter().map(|c| c.header.as_str())).map_err(|e| fail(&e))?;
            Sink::Csv(Box::new(w))
        }
        Format::Jsonl => Sink::Json(&mut *out),
    };
    let mut progress = Progress::new(io.terminal && a.output.is_some(), "export", None);
    let mut stream = resources.list(query);
    let mut n = 0u64;
    while let Some(doc) = stream.try_next().await? {
        match &mut sink {
            Sink::Csv(w) => {
                w.write_record(columns.iter().map(|c| record::get(&doc, c)))
                    .map_err(|e| fail(&e))?;
            }
            Sink::Json(out) => {
                serde_json::to_writer(&mut **out, &Value::Object(doc)).map_err(|e| fail(&e))?;
                out.write_all(b"\n").map_err(|e| fail(&e))?;
            }
        }
        n += 1;
        progress.inc(io.err);
    }
    match &mut sink {
        Sink::Csv(w) => w.flush(),
        Sink::Json(out) => out.flush(),
    }
    .map_err(|e| fail(&e))?;
    let elapsed = progress.finish();
    if let Some(path) = &a.output {
        let _ = writeln!(
            io.err,
            "exported {n} {} to {} ({:.1} s)",
            kind.endpoint().trim_start_matches('/').to_ascii_lowercase(),
            path.display(),
            elapsed.as_secs_f64()
        );
    }
    Ok(Status::Ok)
}
