//! Records of import, export and sync files: CSV columns named by attribute paths
//! (`userName`, `name.givenName`, `emails[type eq "work"].value`,
//! `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department`), parsed with
//! the core path grammar (RFC 7644 3.5.2) and typed by the core schemas (RFC 7643), and
//! JSON Lines.

use scim_core::filter::{CompValue, CompareOp, Filter};
use scim_core::patch::PatchPath;
use scim_core::resource::get_ci;
use scim_core::schema::{AttrType, Registry, ResourceKind};
use serde_json::{Map, Value};

/// Attributes a file may carry but that are never sent (read-only, or assigned by the
/// server).
const READ_ONLY: [&str; 4] = ["id", "meta", "groups", "schemas"];

/// One CSV column: where its cells go in a resource.
#[derive(Debug, Clone)]
pub(crate) struct Column {
    /// The header as written.
    pub(crate) header: String,
    /// The extension URN the attribute lives under, if any.
    urn: Option<String>,
    /// The attribute's name (the schema's spelling when the schema knows it).
    name: String,
    /// `eq` terms selecting an element of a multi-valued attribute (`type eq "work"`).
    select: Option<Vec<(String, Value)>>,
    /// The sub-attribute.
    sub: Option<String>,
    /// The leaf's type, when the schema knows it.
    kind: Option<AttrType>,
    /// Whether the attribute is multi-valued.
    multi: bool,
    /// Never sent (`id`, `meta.*`, `groups`).
    pub(crate) read_only: bool,
}

/// Parses a header row into columns; an error names the 1-based column.
pub(crate) fn columns(
    headers: &[String],
    registry: &Registry,
    kind: ResourceKind,
) -> Result<Vec<Column>, String> {
    headers
        .iter()
        .enumerate()
        .map(|(i, h)| {
            column(h.trim(), registry, kind).map_err(|e| format!("column {}: {e}", i + 1))
        })
        .collect()
}

fn column(header: &str, registry: &Registry, kind: ResourceKind) -> Result<Column, String> {
    let path = PatchPath::parse_with(header, registry, kind).map_err(|e| e.to_string())?;
    if path.attr.is_schema() {
        return Err(format!("'{header}' names a whole schema, not an attribute"));
    }
    let (name, mut sub) = match (&path.filter, &path.attr.sub_attr) {
        (None, s) => (path.attr.name.clone(), s.clone()),
        (Some(_), _) => (path.attr.name.clone(), path.sub_attr.clone()),
    };
    let select = match &path.filter {
        None => None,
        Some(f) => {
            let mut terms = Vec::new();
            eq_terms(f, &mut terms).map_err(|()| {
                format!("'{header}': only `eq` terms joined by `and` can select a value")
            })?;
            sub.get_or_insert_with(|| "value".to_owned());
            Some(terms)
        }
    };
    let target = path.target();
    let resolved = registry.resolve(kind, &target.to_string()).or_else(|| {
        sub.as_ref().and_then(|s| {
            let mut p = target.without_sub_attr().to_string();
            p.push('.');
            p.push_str(s);
            registry.resolve(kind, &p)
        })
    });
    let top = registry.resolve(kind, &target.without_sub_attr().to_string());
    let name = top.map(|r| r.attribute.name.clone()).unwrap_or(name);
    let sub = match (sub, resolved.and_then(|r| r.sub_attribute)) {
        (Some(_), Some(a)) => Some(a.name.clone()),
        (s, _) => s,
    };
    let read_only = path.attr.urn.is_none()
        && READ_ONLY.iter().any(|r| r.eq_ignore_ascii_case(&name))
        && !name.eq_ignore_ascii_case("schemas");
    Ok(Column {
        header: header.to_owned(),
        urn: path.attr.urn.clone(),
        name,
        select,
        sub,
        kind: resolved.map(|r| r.leaf().kind),
        multi: top.is_some_and(|r| r.attribute.multi_valued),
        read_only: read_only || name_is(&path.attr.name, "meta"),
    })
}

fn name_is(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

fn eq_terms(f: &Filter, out: &mut Vec<(String, Value)>) -> Result<(), ()> {
    match f {
        Filter::And(a, b) => {
            eq_terms(a, out)?;
            eq_terms(b, out)
        }
        Filter::Compare(p, CompareOp::Eq, v) if p.urn.is_none() && p.sub_attr.is_none() => {
            let v = match v {
                CompValue::Null => return Err(()),
                CompValue::Bool(b) => Value::Bool(*b),
                CompValue::Number(n) => Value::Number(n.clone()),
                CompValue::Str(s) => Value::String(s.clone()),
            };
            out.push((p.name.clone(), v));
            Ok(())
        }
        _ => Err(()),
    }
}

/// A cell as the JSON value of the column's type; an error says what was expected.
fn typed(col: &Column, cell: &str) -> Result<Value, String> {
    match col.kind {
        Some(AttrType::Boolean) => match cell.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Ok(Value::Bool(true)),
            "false" | "0" | "no" => Ok(Value::Bool(false)),
            _ => Err(format!("expected true or false, found '{cell}'")),
        },
        Some(AttrType::Integer) => cell
            .trim()
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| format!("expected an integer, found '{cell}'")),
        Some(AttrType::Decimal) => cell
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .ok_or_else(|| format!("expected a number, found '{cell}'")),
        Some(AttrType::Complex) if col.sub.is_none() => serde_json::from_str(cell)
            .map_err(|e| format!("expected a JSON object, found '{cell}' ({e})")),
        _ => Ok(Value::String(cell.to_owned())),
    }
}

/// Puts one cell into `resource`. Empty cells are skipped: they leave the attribute alone.
pub(crate) fn set(
    resource: &mut Map<String, Value>,
    col: &Column,
    cell: &str,
) -> Result<(), String> {
    if cell.is_empty() || col.read_only {
        return Ok(());
    }
    let container = match &col.urn {
        Some(urn) => object_at(resource, urn),
        None => Some(resource),
    };
    let Some(container) = container else { return Ok(()) };
    let value = typed(col, cell)?;
    if col.multi && col.select.is_none() && col.sub.is_none() {
        let v = if cell.trim_start().starts_with('[') {
            serde_json::from_str(cell).map_err(|e| format!("expected a JSON array ({e})"))?
        } else {
            Value::Array(vec![serde_json::json!({ "value": value })])
        };
        container.insert(col.name.clone(), v);
        return Ok(());
    }
    if col.multi {
        let terms = col.select.clone().unwrap_or_default();
        let slot = container.entry(col.name.clone()).or_insert_with(|| Value::Array(Vec::new()));
        if !slot.is_array() {
            *slot = Value::Array(Vec::new());
        }
        let Value::Array(items) = slot else { return Ok(()) };
        let found = if terms.is_empty() {
            (!items.is_empty()).then_some(0)
        } else {
            items.iter().position(|e| terms.iter().all(|(k, v)| element_has(e, k, v)))
        };
        let at = match found {
            Some(i) => i,
            None => {
                items.push(Value::Object(terms.into_iter().collect()));
                items.len() - 1
            }
        };
        if let Some(Value::Object(e)) = items.get_mut(at) {
            e.insert(col.sub.clone().unwrap_or_else(|| "value".to_owned()), value);
        }
        return Ok(());
    }
    match &col.sub {
        Some(sub) => {
            if let Some(o) = object_at(container, &col.name) {
                o.insert(sub.clone(), value);
            }
        }
        None => {
            container.insert(col.name.clone(), value);
        }
    }
    Ok(())
}

fn element_has(e: &Value, k: &str, v: &Value) -> bool {
    match (e.as_object().and_then(|m| get_ci(m, k)), v) {
        (Some(Value::String(a)), Value::String(b)) => a.eq_ignore_ascii_case(b),
        (Some(a), b) => a == b,
        (None, _) => false,
    }
}

fn object_at<'m>(m: &'m mut Map<String, Value>, key: &str) -> Option<&'m mut Map<String, Value>> {
    let existing = m.keys().find(|k| k.eq_ignore_ascii_case(key)).cloned();
    let slot = m
        .entry(existing.unwrap_or_else(|| key.to_owned()))
        .or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    slot.as_object_mut()
}

/// The cell of `col` for `resource`, for CSV export ("" when absent).
pub(crate) fn get(resource: &Map<String, Value>, col: &Column) -> String {
    let container = match &col.urn {
        Some(urn) => get_ci(resource, urn).and_then(Value::as_object),
        None => Some(resource),
    };
    let Some(v) = container.and_then(|c| get_ci(c, &col.name)) else { return String::new() };
    let v = match (&col.select, &col.sub, v) {
        (Some(terms), sub, Value::Array(items)) => items
            .iter()
            .find(|e| terms.iter().all(|(k, t)| element_has(e, k, t)))
            .and_then(|e| e.as_object())
            .and_then(|e| get_ci(e, sub.as_deref().unwrap_or("value"))),
        (None, Some(sub), Value::Array(items)) => {
            items.first().and_then(Value::as_object).and_then(|e| get_ci(e, sub))
        }
        (None, Some(sub), Value::Object(o)) => get_ci(o, sub),
        (None, None, v) => Some(v),
        _ => None,
    };
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// A resource built from a CSV row; an error names the 1-based column and its header.
pub(crate) fn from_row(
    columns: &[Column],
    row: &csv::StringRecord,
    kind: ResourceKind,
) -> Result<Map<String, Value>, String> {
    if row.len() != columns.len() {
        return Err(format!("has {} fields, the header has {}", row.len(), columns.len()));
    }
    let mut m = Map::new();
    for (i, (col, cell)) in columns.iter().zip(row.iter()).enumerate() {
        set(&mut m, col, cell).map_err(|e| format!("column {} ({}): {e}", i + 1, col.header))?;
    }
    finish(m, kind)
}

/// A resource read from a JSON line.
pub(crate) fn from_json(line: &str, kind: ResourceKind) -> Result<Map<String, Value>, String> {
    match serde_json::from_str::<Value>(line) {
        Ok(Value::Object(m)) => finish(m, kind),
        Ok(_) => Err("is not a JSON object".to_owned()),
        Err(e) => Err(format!("column {}: {e}", e.column())),
    }
}

/// Drops read-only attributes, sets `schemas` (the core schema and every extension URN
/// present), and checks the identifying attribute is there.
fn finish(mut m: Map<String, Value>, kind: ResourceKind) -> Result<Map<String, Value>, String> {
    m.retain(|k, _| !READ_ONLY.iter().any(|r| r.eq_ignore_ascii_case(k)));
    let key = match kind {
        ResourceKind::Group => "displayName",
        _ => "userName",
    };
    if get_ci(&m, key).and_then(Value::as_str).is_none_or(str::is_empty) {
        return Err(format!("has no {key}"));
    }
    let mut schemas = vec![Value::String(kind.core_schema().to_owned())];
    schemas.extend(
        m.iter()
            .filter(|(k, v)| k.starts_with("urn:") && v.is_object())
            .map(|(k, _)| Value::String(k.clone())),
    );
    m.insert("schemas".to_owned(), Value::Array(schemas));
    Ok(m)
}

/// The resource's `userName` (or a group's `displayName`) and `externalId`.
pub(crate) fn keys(m: &Map<String, Value>) -> (Option<&str>, Option<&str>) {
    let name = get_ci(m, "userName").or_else(|| get_ci(m, "displayName")).and_then(Value::as_str);
    let external = get_ci(m, "externalId").and_then(Value::as_str).filter(|s| !s.is_empty());
    (name, external)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols(h: &[&str]) -> Vec<Column> {
        let h: Vec<String> = h.iter().map(|s| (*s).to_owned()).collect();
        columns(&h, &Registry::builtin(), ResourceKind::User).unwrap()
    }

    #[test]
    fn row_to_resource_and_back() {
        let c = cols(&[
            "username",
            "name.givenName",
            "emails[type eq \"work\"].value",
            "emails[type eq \"home\"].value",
            "active",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
            "id",
        ]);
        let row = csv::StringRecord::from(vec![
            "ada",
            "Ada",
            "ada@work.test",
            "ada@home.test",
            "TRUE",
            "R&D",
            "US1",
        ]);
        let m = from_row(&c, &row, ResourceKind::User).unwrap();
        assert_eq!(m["userName"], "ada");
        assert_eq!(m["name"]["givenName"], "Ada");
        assert_eq!(m["emails"][0], serde_json::json!({"type": "work", "value": "ada@work.test"}));
        assert_eq!(m["emails"][1]["value"], "ada@home.test");
        assert_eq!(m["active"], true);
        let ent = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
        assert_eq!(m[ent]["department"], "R&D");
        assert!(m.get("id").is_none());
        assert_eq!(m["schemas"].as_array().unwrap().len(), 2);
        let back: Vec<String> = c.iter().map(|c| get(&m, c)).collect();
        assert_eq!(back, ["ada", "Ada", "ada@work.test", "ada@home.test", "true", "R&D", ""]);
    }

    #[test]
    fn bad_cells_name_the_column() {
        let c = cols(&["userName", "active"]);
        let row = csv::StringRecord::from(vec!["ada", "maybe"]);
        let e = from_row(&c, &row, ResourceKind::User).unwrap_err();
        assert!(e.contains("column 2 (active)") && e.contains("true or false"), "{e}");
        let h = vec!["userName".to_owned(), "emails[type co \"x\"].value".to_owned()];
        let e = columns(&h, &Registry::builtin(), ResourceKind::User).unwrap_err();
        assert!(e.starts_with("column 2:"), "{e}");
    }
}
