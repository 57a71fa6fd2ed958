//! Tables for people, JSON for scripts, and errors.

use crate::error::{ApiError, Error};
use serde_json::{Map, Value, json};
use std::io::Write;

/// Writes rows as a table with aligned columns.
pub(crate) fn table(
    out: &mut dyn Write,
    headers: &[&str],
    rows: &[Vec<String>],
) -> std::io::Result<()> {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |out: &mut dyn Write, cells: &mut dyn Iterator<Item = &str>| {
        let mut s = String::new();
        for (i, (cell, w)) in cells.zip(&widths).enumerate() {
            if i > 0 {
                s.push_str("  ");
            }
            s.push_str(cell);
            if i + 1 < widths.len() {
                s.extend(std::iter::repeat_n(' ', w.saturating_sub(cell.chars().count())));
            }
        }
        writeln!(out, "{}", s.trim_end())
    };
    line(out, &mut headers.iter().copied())?;
    for row in rows {
        line(out, &mut row.iter().map(String::as_str))?;
    }
    Ok(())
}

/// A resource flattened to `path value` pairs (`name.givenName`, `emails[0].value`).
pub(crate) fn flatten(prefix: &str, v: &Value, out: &mut Vec<Vec<String>>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                let sep = if prefix.is_empty() {
                    ""
                } else if prefix.starts_with("urn:") && !prefix.contains('.') {
                    ":"
                } else {
                    "."
                };
                flatten(&format!("{prefix}{sep}{k}"), v, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                flatten(&format!("{prefix}[{i}]"), v, out);
            }
        }
        Value::String(s) => out.push(vec![prefix.to_owned(), s.clone()]),
        other => out.push(vec![prefix.to_owned(), other.to_string()]),
    }
}

/// Prints one resource: JSON with `--json`, else an attribute/value table.
pub(crate) fn resource(out: &mut dyn Write, v: &Value, json: bool) -> std::io::Result<()> {
    if json {
        return writeln!(out, "{v}");
    }
    let mut rows = Vec::new();
    flatten("", v, &mut rows);
    table(out, &["ATTRIBUTE", "VALUE"], &rows)
}

/// A short cell for a string attribute.
pub(crate) fn cell(m: &Map<String, Value>, key: &str) -> String {
    match scim_core::resource::get_ci(m, key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(v) => v.to_string(),
    }
}

/// One line for an item's failure (`409 uniqueness code 20409: ...`).
pub(crate) fn short_error(e: &Error) -> String {
    match e.api() {
        Some(a) => api_line(a),
        None => e.to_string(),
    }
}

fn api_line(a: &ApiError) -> String {
    let mut s = a.status.to_string();
    if let Some(t) = &a.scim_type {
        s.push(' ');
        s.push_str(t);
    }
    if let Some(c) = a.code {
        s.push_str(&format!(" code {c}"));
    }
    if let Some(d) = &a.detail {
        s.push_str(": ");
        s.push_str(d);
    }
    s
}

/// Prints an error that ended a command, every field of a server error on its own line.
pub(crate) fn print_error(err: &mut dyn Write, e: &Error) {
    let _ = match e.api() {
        Some(a) => {
            let mut s = format!("error: the server answered {}", a.status);
            let fields = [
                ("scimType", a.scim_type.clone()),
                ("detail", a.detail.clone()),
                ("code", a.code.map(|c| c.to_string())),
                ("moreInfo", a.more_info.clone()),
                ("request id", a.request_id.clone()),
            ];
            for (k, v) in fields {
                if let Some(v) = v {
                    s.push_str(&format!("\n  {k}: {v}"));
                }
            }
            writeln!(err, "{s}")
        }
        None => writeln!(err, "error: {e}"),
    };
}

/// An error as JSON (`status`, `scimType`, `detail`, `code`, ...).
pub(crate) fn error_json(e: &Error) -> Value {
    match e.api() {
        Some(a) => json!({
            "error": api_line(a),
            "status": a.status,
            "scimType": a.scim_type,
            "detail": a.detail,
            "code": a.code,
            "requestId": a.request_id,
        }),
        None => json!({ "error": e.to_string() }),
    }
}
