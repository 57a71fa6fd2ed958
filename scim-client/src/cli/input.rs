//! Reading import and sync files (CSV or JSON Lines) record by record, and writing the
//! rows that failed to a file in the same format, to be imported again.

use super::args::Format;
use super::record::{self, Column};
use super::{CliError, CliResult, usage};
use crate::client::Client;
use scim_core::schema::{Registry, ResourceKind};
use serde_json::{Map, Value};
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

/// One record of the file.
pub(crate) struct Item {
    /// The 1-based line it starts on.
    pub(crate) line: u64,
    /// The resource, or what is wrong with the row (naming the column).
    pub(crate) record: Result<Map<String, Value>, String>,
    /// The row as read, for the failures file.
    pub(crate) raw: Raw,
}

/// A row as read.
pub(crate) enum Raw {
    /// A CSV record.
    Csv(csv::StringRecord),
    /// A JSON line.
    Json(String),
}

/// An open input file.
pub(crate) struct Input {
    /// The records, lazily read.
    pub(crate) items: Box<dyn Iterator<Item = Item> + Send>,
    /// The CSV header row.
    pub(crate) headers: Option<csv::StringRecord>,
    /// The format.
    pub(crate) format: Format,
}

fn open_file(path: &Path) -> CliResult<File> {
    File::open(path).map_err(|e| usage(format!("cannot open {}: {e}", path.display())))
}

/// The schemas CSV columns are read with: the server's, so that its extension attributes
/// are typed too (a number column becomes a JSON number), when it serves `/Schemas` and
/// `/ResourceTypes`; else the built-in ones. JSON Lines needs none.
pub(crate) async fn registry(client: &Client, format: Format) -> Registry {
    if format != Format::Csv {
        return Registry::builtin();
    }
    match client.registry().await {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(error = %e, "the server's schemas are not available; built-in ones used");
            Registry::builtin()
        }
    }
}

/// Opens `path`; a CSV header that does not parse is a usage error naming its column.
pub(crate) fn open(
    path: &Path,
    format: Format,
    kind: ResourceKind,
    registry: &Registry,
) -> CliResult<Input> {
    let file = open_file(path)?;
    match format {
        Format::Csv => {
            let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(file);
            let headers = reader
                .headers()
                .map_err(|e| usage(format!("{}: the header row: {e}", path.display())))?
                .clone();
            let names: Vec<String> = headers.iter().map(str::to_owned).collect();
            let columns = record::columns(&names, registry, kind)
                .map_err(|e| usage(format!("{} line 1, {e}", path.display())))?;
            let items = reader.into_records().map(move |r| csv_item(&columns, r, kind));
            Ok(Input { items: Box::new(items), headers: Some(headers), format })
        }
        Format::Jsonl => {
            let lines = BufReader::new(file).lines().enumerate();
            let items = lines.filter_map(move |(i, line)| {
                let line_no = i as u64 + 1;
                match line {
                    Ok(l) if l.trim().is_empty() => None,
                    Ok(l) => Some(Item {
                        line: line_no,
                        record: record::from_json(&l, kind),
                        raw: Raw::Json(l),
                    }),
                    Err(e) => Some(Item {
                        line: line_no,
                        record: Err(e.to_string()),
                        raw: Raw::Json(String::new()),
                    }),
                }
            });
            Ok(Input { items: Box::new(items), headers: None, format })
        }
    }
}

fn csv_item(
    columns: &[Column],
    r: Result<csv::StringRecord, csv::Error>,
    kind: ResourceKind,
) -> Item {
    match r {
        Ok(row) => Item {
            line: row.position().map_or(0, csv::Position::line),
            record: record::from_row(columns, &row, kind),
            raw: Raw::Csv(row),
        },
        Err(e) => Item {
            line: e.position().map_or(0, csv::Position::line),
            record: Err(e.to_string()),
            raw: Raw::Csv(csv::StringRecord::new()),
        },
    }
}

/// The number of records, for the progress bar's ETA (a quick pass over the file).
pub(crate) fn count(path: &Path, format: Format) -> Option<u64> {
    let file = File::open(path).ok()?;
    match format {
        Format::Csv => {
            let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(file);
            let mut record = csv::ByteRecord::new();
            let mut n = 0;
            while reader.read_byte_record(&mut record).ok()? {
                n += 1;
            }
            Some(n)
        }
        Format::Jsonl => Some(
            BufReader::new(file)
                .split(b'\n')
                .filter(|l| l.as_ref().is_ok_and(|l| !l.trim_ascii().is_empty()))
                .count() as u64,
        ),
    }
}

/// The failures file: created on the first failure, in the input's format (a CSV one with
/// the input's header row), so that it can be imported again.
pub(crate) struct Failures {
    path: PathBuf,
    headers: Option<csv::StringRecord>,
    csv: Option<csv::Writer<File>>,
    json: Option<BufWriter<File>>,
    /// Rows written.
    pub(crate) rows: u64,
}

impl Failures {
    /// Failures of `input` (read from `source`) go to `path`, else next to `source`.
    pub(crate) fn new(source: &Path, path: Option<&Path>, input: &Input) -> Self {
        let path =
            path.map(Path::to_path_buf).unwrap_or_else(|| default_path(source, input.format));
        Self { path, headers: input.headers.clone(), csv: None, json: None, rows: 0 }
    }

    /// Where the rows go.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Appends a failed row.
    pub(crate) fn write(&mut self, raw: &Raw) -> CliResult<()> {
        let fail =
            |e: &dyn std::fmt::Display| usage(format!("cannot write {}: {e}", self.path.display()));
        match raw {
            Raw::Csv(row) => {
                if self.csv.is_none() {
                    let mut w = csv::Writer::from_path(&self.path).map_err(|e| fail(&e))?;
                    if let Some(h) = &self.headers {
                        w.write_record(h).map_err(|e| fail(&e))?;
                    }
                    self.csv = Some(w);
                }
                if let Some(w) = &mut self.csv {
                    w.write_record(row).map_err(|e| fail(&e))?;
                }
            }
            Raw::Json(line) => {
                if self.json.is_none() {
                    self.json =
                        Some(BufWriter::new(File::create(&self.path).map_err(|e| fail(&e))?));
                }
                if let Some(w) = &mut self.json {
                    writeln!(w, "{line}").map_err(|e| fail(&e))?;
                }
            }
        }
        self.rows += 1;
        Ok(())
    }

    /// Flushes the file.
    pub(crate) fn finish(&mut self) -> CliResult<()> {
        let r = match (&mut self.csv, &mut self.json) {
            (Some(w), _) => w.flush(),
            (_, Some(w)) => w.flush(),
            _ => Ok(()),
        };
        r.map_err(|e| CliError::Usage(format!("cannot write {}: {e}", self.path.display())))
    }
}

fn default_path(source: &Path, format: Format) -> PathBuf {
    let stem = source.file_stem().and_then(|s| s.to_str()).unwrap_or("import");
    let ext = match format {
        Format::Csv => "csv",
        Format::Jsonl => "jsonl",
    };
    source.with_file_name(format!("{stem}.failed.{ext}"))
}
