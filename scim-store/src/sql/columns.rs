//! The lookup columns derived from a document (`name_key`, `external_id`, e-mails ...), their
//! limits, and the document as stored.

use super::values::invalid_value;
use crate::Result;
use scim_core::resource::get_ci;
use scim_core::schema::ResourceKind;
use serde_json::{Map, Value};
use std::collections::HashSet;

/// Longest `userName`, group `displayName`, `externalId` or e-mail value the indexed
/// columns hold, in characters.
pub const MAX_KEY_CHARS: usize = 512;

/// Columns derived from a document.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Cols {
    pub(super) name: String,
    pub(super) name_key: String,
    pub(super) display_name_lower: Option<String>,
    pub(super) display: Option<String>,
    pub(super) external_id: Option<String>,
    pub(super) active: Option<bool>,
    pub(super) emails: Vec<String>,
}

pub(super) fn check_len(attr: &str, v: &str) -> Result<()> {
    if v.chars().count() > MAX_KEY_CHARS {
        return Err(invalid_value(format!("{attr} is longer than {MAX_KEY_CHARS} characters")));
    }
    Ok(())
}

pub(super) fn unique_attr(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::User => "userName",
        ResourceKind::Group => "displayName",
    }
}

pub(super) fn cols(kind: ResourceKind, doc: &Map<String, Value>) -> Result<Cols> {
    let s = |k: &str| get_ci(doc, k).and_then(Value::as_str).map(str::to_owned);
    let display_name = s("displayName");
    let attr = unique_attr(kind);
    let name = s(attr).ok_or_else(|| invalid_value(format!("{attr} is required")))?;
    check_len(attr, &name)?;
    let external_id = s("externalId");
    if let Some(x) = &external_id {
        check_len("externalId", x)?;
    }
    let mut emails = Vec::new();
    let mut active = None;
    if kind == ResourceKind::User {
        active = get_ci(doc, "active").and_then(Value::as_bool);
        if let Some(Value::Array(items)) = get_ci(doc, "emails") {
            let mut seen = HashSet::new();
            for item in items {
                let v = match item {
                    Value::Object(o) => get_ci(o, "value").and_then(Value::as_str),
                    _ => None,
                };
                if let Some(v) = v {
                    check_len("emails.value", v)?;
                    let l = v.to_lowercase();
                    if seen.insert(l.clone()) {
                        emails.push(l);
                    }
                }
            }
        }
    }
    if let Some(d) = &display_name {
        check_len("displayName", d)?;
    }
    Ok(Cols {
        name_key: name.to_lowercase(),
        display_name_lower: display_name.as_ref().map(|d| d.to_lowercase()),
        display: display_name.or_else(|| Some(name.clone())),
        name,
        external_id,
        active,
        emails,
    })
}

/// Columns of a stored document, tolerating documents that no longer validate.
pub(super) fn cols_lenient(kind: ResourceKind, doc: &Map<String, Value>) -> Option<Cols> {
    cols(kind, doc).ok()
}

/// The document as stored: without `id`, `meta`, `members`, `groups` and `password`.
pub(super) fn sanitize(kind: ResourceKind, mut doc: Map<String, Value>) -> Map<String, Value> {
    doc.retain(|k, _| stored_key(kind, k));
    doc
}

/// Whether a top-level member `key` is kept in a stored document of `kind` (see
/// [`sanitize`]): `id`, `meta` and the membership references live in columns and rows,
/// and a password only as its hash.
pub(super) fn stored_key(kind: ResourceKind, key: &str) -> bool {
    // By length first: this runs for every member of every document written.
    let dropped = match (key.len(), kind) {
        (2, _) => "id",
        (4, _) => "meta",
        (6, ResourceKind::User) => "groups",
        (8, ResourceKind::User) => "password",
        (7, ResourceKind::Group) => "members",
        _ => return true,
    };
    !key.eq_ignore_ascii_case(dropped)
}

/// The `name_key` of a soft-deleted resource: unique (it holds the id) and never equal to
/// a live key, which is always lowercase while ids start with `US`/`GR`.
pub(super) fn tombstone(id: &str) -> String {
    format!("~deleted~{id}")
}
