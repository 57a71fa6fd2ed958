//! Small pure helpers shared by the handlers: ETags and preconditions, member rows,
//! projection-driven read options, `bulkId` substitution.

use scim_core::etag::ETag;
use scim_core::resource::key_ci;
use scim_core::schema::{Registry, ResourceKind};
use scim_core::{ErrorCode, ScimError};
use scim_store::{MemberRow, ReadOptions};
use serde_json::{Map, Value};

/// The weak ETag of a version: `W/"<n>"`.
pub(crate) fn etag(version: u64) -> String {
    ETag(version).to_string()
}

/// One entity tag of an `If-Match`/`If-None-Match` list, weak or strong: `W/"3"`, `"3"`.
/// Our versions are plain integers; anything else can never match.
fn parse_tag(tag: &str) -> Option<u64> {
    ETag::parse(tag).map(ETag::version)
}

/// A parsed `If-Match` header (RFC 7232 3.1, RFC 7644 3.14).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Precondition {
    /// No header: unconditional.
    None,
    /// `*`: any current version.
    Any,
    /// A list of versions (weak comparison); an empty list matches nothing.
    Versions(Vec<u64>),
}

impl Precondition {
    /// Parses an `If-Match` value (or a bulk operation's `version`).
    pub(crate) fn parse(header: Option<&str>) -> Self {
        match header.map(str::trim) {
            None | Some("") => Self::None,
            Some("*") => Self::Any,
            Some(list) => Self::Versions(list.split(',').filter_map(parse_tag).take(64).collect()),
        }
    }

    /// The version to hand to the store as `expected_version`, when exactly one.
    pub(crate) fn expected(&self) -> Option<u64> {
        match self {
            Self::Versions(v) if v.len() == 1 => v.first().copied(),
            _ => None,
        }
    }

    /// Whether the store's `expected_version` cannot express this precondition, so the
    /// current version must be checked in the transaction instead (lists of several
    /// versions, or tags that can never match).
    pub(crate) fn needs_check(&self) -> bool {
        matches!(self, Self::Versions(v) if v.len() != 1)
    }

    /// Checks the current version against the precondition.
    pub(crate) fn check(&self, current: u64) -> Result<(), ScimError> {
        match self {
            Self::Versions(v) if !v.contains(&current) => Err(precondition_failed(current)),
            _ => Ok(()),
        }
    }
}

/// The error of a failed `If-Match` (family B answers it with 409, done at the edge).
pub(crate) fn precondition_failed(current: u64) -> ScimError {
    ScimError::new(
        ErrorCode::PreconditionFailed,
        format!("the resource has changed: current version is {}", etag(current)),
    )
}

/// Whether an `If-None-Match` header matches the current version (a GET then answers 304).
pub(crate) fn none_match_hits(header: Option<&str>, current: u64) -> bool {
    match header.map(str::trim) {
        None | Some("") => false,
        Some("*") => true,
        Some(list) => list.split(',').filter_map(parse_tag).any(|v| v == current),
    }
}

/// Takes `members` out of a validated group document and turns it into membership rows
/// (deduplicated, in order). Items are already normalised by validation (`value`
/// required, `type` defaulting to `User`); each member's kind is its id's
/// ([`MemberRow::from_item`]).
pub(crate) fn take_members(
    doc: &mut Map<String, Value>,
) -> Result<Option<Vec<MemberRow>>, ScimError> {
    let Some(key) = key_ci(doc, "members").map(str::to_owned) else {
        return Ok(None);
    };
    let value = doc.shift_remove(&key).unwrap_or(Value::Null);
    let items = match value {
        Value::Array(a) => a,
        Value::Null => Vec::new(),
        other => vec![other],
    };
    let mut rows: Vec<MemberRow> = Vec::with_capacity(items.len());
    for item in &items {
        let row = MemberRow::from_item(item)?;
        if !rows.iter().any(|r| r.value == row.value) {
            rows.push(row);
        }
    }
    Ok(Some(rows))
}

/// `attributes` and `excludedAttributes` of a request (RFC 7644 3.9).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Projection {
    /// Attributes to return (empty: the default set).
    pub(crate) attributes: Vec<String>,
    /// Attributes not to return.
    pub(crate) excluded: Vec<String>,
}

impl Projection {
    /// Whether the response may contain top-level attribute `name` of `kind`, so that
    /// it must be loaded.
    pub(crate) fn wants(&self, registry: &Registry, kind: ResourceKind, name: &str) -> bool {
        scim_core::projection::needs_attribute(
            &self.attributes,
            &self.excluded,
            name,
            registry,
            kind,
        )
    }

    /// This projection parsed for resources of `kind`.
    pub(crate) fn projector<'r>(
        &self,
        registry: &'r Registry,
        kind: ResourceKind,
    ) -> scim_core::projection::Projector<'r> {
        scim_core::projection::Projector::new(&self.attributes, &self.excluded, registry, kind)
    }

    /// What the store must load for a response of `kind` under this projection: a group
    /// read that does not return `members` never touches membership rows.
    pub(crate) fn read_options(&self, registry: &Registry, kind: ResourceKind) -> ReadOptions {
        match kind {
            ResourceKind::Group => ReadOptions {
                members: self.wants(registry, kind, "members"),
                ..ReadOptions::default()
            },
            ResourceKind::User => ReadOptions {
                groups: self.wants(registry, kind, "groups"),
                ..ReadOptions::default()
            },
        }
    }

    /// [`Projection::read_options`] for the answer to a PUT or PATCH: a group with more
    /// than `max_members` members is answered without `members` (identity providers send
    /// member changes one at a time and never read the list back), unless `attributes`
    /// asks for `members` by name.
    pub(crate) fn write_read_options(
        &self,
        registry: &Registry,
        kind: ResourceKind,
        max_members: u32,
    ) -> ReadOptions {
        let named = self.attributes.iter().any(|a| {
            let a = a.rsplit(':').next().unwrap_or(a);
            a.eq_ignore_ascii_case("members") || a.to_ascii_lowercase().starts_with("members.")
        });
        ReadOptions {
            members_limit: (kind == ResourceKind::Group && !named).then_some(max_members),
            ..self.read_options(registry, kind)
        }
    }
}

/// Prefix of a `bulkId` reference in bulk data and paths (RFC 7644 3.7.2).
pub(crate) const BULK_ID_PREFIX: &str = "bulkId:";

/// Every `bulkId:<id>` reference in a JSON value (string values only, anywhere).
pub(crate) fn bulk_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => {
            if let Some(id) = s.strip_prefix(BULK_ID_PREFIX) {
                out.push(id.to_owned());
            }
        }
        Value::Array(a) => a.iter().for_each(|x| bulk_refs(x, out)),
        Value::Object(m) => m.values().for_each(|x| bulk_refs(x, out)),
        _ => {}
    }
}

/// Replaces every `bulkId:<id>` string by the id `resolve` gives (all are resolvable:
/// checked before).
pub(crate) fn substitute_bulk_refs(v: &mut Value, resolve: &impl Fn(&str) -> Option<String>) {
    match v {
        Value::String(s) => {
            if let Some(id) = s.strip_prefix(BULK_ID_PREFIX).and_then(resolve) {
                *s = id;
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| substitute_bulk_refs(x, resolve)),
        Value::Object(m) => m.values_mut().for_each(|x| substitute_bulk_refs(x, resolve)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn preconditions() {
        assert_eq!(Precondition::parse(None), Precondition::None);
        assert_eq!(Precondition::parse(Some("*")), Precondition::Any);
        assert_eq!(Precondition::parse(Some("W/\"3\"")).expected(), Some(3));
        assert_eq!(Precondition::parse(Some("\"3\"")).expected(), Some(3));
        let many = Precondition::parse(Some("W/\"3\", W/\"5\""));
        assert!(many.needs_check());
        assert!(many.check(5).is_ok());
        assert!(many.check(4).is_err());
        let junk = Precondition::parse(Some("\"abc\""));
        assert!(junk.needs_check());
        assert!(junk.check(1).is_err());
        assert!(none_match_hits(Some("W/\"2\""), 2));
        assert!(!none_match_hits(Some("W/\"2\""), 3));
        assert!(none_match_hits(Some("*"), 3));
    }

    #[test]
    fn members() {
        let mut doc = json!({"displayName":"g","members":[
            {"value":"US0123456789abcdef0123456789abcdef","display":"x"},
            {"value":"GR0123456789abcdef0123456789abcdef"},
            {"value":"US0123456789abcdef0123456789abcdef","type":"User"}]});
        let rows = take_members(doc.as_object_mut().unwrap()).unwrap().unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].kind, scim_store::MemberKind::Group);
        assert!(doc.get("members").is_none());
        assert!(MemberRow::from_item(&json!({"display":"no value"})).is_err());
    }

    #[test]
    fn projection_read_options() {
        let r = Registry::builtin();
        let p = Projection { attributes: vec![], excluded: vec!["members".into()] };
        assert!(!p.read_options(&r, ResourceKind::Group).members);
        let p = Projection { attributes: vec!["displayName".into()], excluded: vec![] };
        assert!(!p.read_options(&r, ResourceKind::Group).members);
        let p = Projection { attributes: vec!["members.value".into()], excluded: vec![] };
        assert!(p.read_options(&r, ResourceKind::Group).members);
        let p = Projection {
            attributes: vec![],
            excluded: vec!["urn:ietf:params:scim:schemas:core:2.0:Group:members".into()],
        };
        assert!(!p.read_options(&r, ResourceKind::Group).members);
        assert!(Projection::default().read_options(&r, ResourceKind::User).groups);
    }

    #[test]
    fn bulk_ids() {
        let mut v = json!({"members":[{"value":"bulkId:a"},{"value":"US1"}],"x":"bulkId:b"});
        let mut refs = Vec::new();
        bulk_refs(&v, &mut refs);
        assert_eq!(refs, vec!["a", "b"]);
        substitute_bulk_refs(&mut v, &|id| (id == "a").then(|| "GRx".to_owned()));
        assert_eq!(v["members"][0]["value"], "GRx");
        assert_eq!(v["x"], "bulkId:b");
    }
}
