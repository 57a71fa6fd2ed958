//! The PATCH engine (RFC 7644 3.5.2) and every request shape identity providers
//! (Microsoft Entra ID, Okta) send.
//!
//! [`apply`] runs the operations on a working copy of the resource ([`apply_to`]),
//! validates the result, checks that no immutable attribute changed, and only then commits
//! it: one failing operation changes nothing (RFC 7644 3.5.2: "each operation ... SHALL be applied
//! atomically").
//!
//! Choices where the RFC leaves room, or where this project goes beyond it for the
//! identity providers:
//!
//! - Op names and attribute names are case-insensitive (RFC 7643 2.1, Entra). Paths
//!   resolve with [`Registry::resolve_lenient`]: without URN, a name that only one
//!   extension declares resolves there (Entra's `manager.value`).
//! - A value filter (`emails[type eq "work"]`) selects the values for which the filter
//!   evaluator says so, each value being the scope of the filter's paths
//!   ([`Filter::matches_element`]): the semantics of [`crate::filter::matches()`], so a
//!   value filter selects in PATCH exactly what it matches in a search.
//! - `add`/`replace` with a value filter that matches no element **creates** the element
//!   when the filter is a conjunction of `eq` comparisons (for Entra's
//!   `emails[type eq "work"].value`): the new element gets those sub-attributes, and later
//!   operations with the same filter find it. Other filters matching nothing give
//!   `noTarget` (RFC 7644 3.5.2.3).
//! - `remove` with a value filter that matches nothing succeeds without change: removing
//!   what is already gone is what a retrying identity provider needs.
//! - `remove` of a multi-valued attribute with a `value` (Entra's member removal) removes
//!   exactly the listed elements, matched by their `value` sub-attribute.
//! - In a path-less `add`/`replace`, keys may be dotted (`name.givenName`), URN-qualified
//!   (`urn:...:enterprise:2.0:User:employeeNumber`) or a whole extension URN holding an
//!   object (merged); readOnly attributes (`id`, `meta`, `groups`) and unknown keys are
//!   ignored there (Okta renames groups with `id` in the value). A `path` naming a readOnly
//!   attribute is a `mutability` error (RFC 7644 3.5.2).
//! - Adding values to a multi-valued attribute never duplicates an element: an element
//!   with the same `value` (and `type`) is merged instead. Setting `primary: true` on one
//!   element clears `primary` on the others (RFC 7643 2.4).
//! - A `null` value on `add`/`replace` unassigns the target (RFC 7643 2.5), as does a
//!   `null` member of a path-less or complex value (`"name": {"familyName": null}`);
//!   `replace` with `[]` empties a multi-valued attribute, `add` with `[]` adds nothing. A
//!   required attribute cannot be unassigned (`invalidValue`).
//!
//! Group members may be kept outside the document ([`PatchContext::members_external`]);
//! operations on `members` then become [`MemberOp`]s for the store to run as row operations.

mod immutable;
mod members;
mod path;
mod remove;
mod set;

pub(crate) use immutable::check_immutable;
pub(crate) use members::parse_members;
pub use path::PatchPath;

use crate::error::{ErrorCode, ScimError};
use crate::filter::Filter;
use crate::message::{PatchOpKind, PatchOperation};
use crate::resource::{MemberRow, Resource, json_kind};
use crate::schema::{Attribute, Mutability, Registry, ResourceKind};
use crate::validate;
use serde_json::{Map, Value};

/// Most operations one PATCH request may carry.
pub const MAX_OPERATIONS: usize = 1000;

/// What [`apply`] needs besides the resource and the operations.
#[derive(Debug, Clone, Copy)]
pub struct PatchContext<'a> {
    /// The schemas.
    pub registry: &'a Registry,
    /// The kind of the resource being patched.
    pub kind: ResourceKind,
    /// When set (the server sets it for groups), `members` is not in the document:
    /// operations on it are returned as [`MemberOp`]s instead of being applied.
    pub members_external: bool,
}

impl<'a> PatchContext<'a> {
    /// A context with members in the document.
    pub fn new(registry: &'a Registry, kind: ResourceKind) -> Self {
        Self { registry, kind, members_external: false }
    }

    /// The same context with [`PatchContext::members_external`] set to `external`.
    pub fn with_external_members(self, external: bool) -> Self {
        Self { members_external: external, ..self }
    }

    fn external_members(&self) -> bool {
        self.members_external && self.kind == ResourceKind::Group
    }
}

/// A change to a group's membership rows, produced when members are kept outside the
/// document (by PATCH, and by PUT as [`MemberOp::ReplaceAll`]). The store applies a
/// request's ops in order, in one transaction.
#[derive(Debug, Clone, PartialEq)]
pub enum MemberOp {
    /// Add these members (no id twice); members already present stay. Each must exist in
    /// the same organization, else the whole write fails with `invalidValue`.
    Add(Vec<MemberRow>),
    /// Remove the members with these ids (`value`s); ids that are not members are ignored.
    Remove(Vec<String>),
    /// Remove the members matching this filter. Its attribute paths are relative to a
    /// member element: `value`, `type`, `display`, `$ref` (e.g. `type eq "Group"`).
    RemoveWhere(Filter),
    /// Remove every member.
    Clear,
    /// Replace all members by exactly these (an empty list clears).
    ReplaceAll(Vec<MemberRow>),
}

/// The result of a successful [`apply`].
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct PatchOutcome {
    /// Whether the document changed; when `false` and `member_ops` is empty the server
    /// can skip the write and keep the version.
    pub changed: bool,
    /// Membership changes to apply, in order (only with external members).
    pub member_ops: Vec<MemberOp>,
}

/// Every password a PATCH request would set (`"path": "password"`, with or without the
/// User schema's URN, or a `password` member of a path-less operation's value), so that
/// a server can hash them before its write transaction; [`apply`] leaves the plain value
/// in the document, where [`validate::take_password`] takes it out again.
pub fn passwords(ops: &[PatchOperation]) -> Vec<&str> {
    let is_password = |p: &str| p.rsplit(':').next().unwrap_or(p).eq_ignore_ascii_case("password");
    let mut out = Vec::new();
    for op in ops {
        match (&op.path, &op.value) {
            (Some(p), Some(Value::String(s))) if is_password(p) => out.push(s.as_str()),
            (None, Some(Value::Object(m))) => {
                for (k, v) in m {
                    if let (true, Value::String(s)) = (is_password(k), v) {
                        out.push(s.as_str());
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// Applies PATCH operations to `resource` atomically (see the module docs).
///
/// On error `resource` is unchanged. The result is validated as [`validate::validate`]
/// would (types, required attributes, one primary) with readOnly attributes kept.
pub fn apply(
    resource: &mut Resource,
    ops: &[PatchOperation],
    ctx: &PatchContext<'_>,
) -> Result<PatchOutcome, ScimError> {
    if ops.is_empty() {
        // An empty Operations array changes nothing (this project's rule; Entra sends it).
        return Ok(PatchOutcome::default());
    }
    let mut work = resource.clone();
    let outcome = apply_to(&mut work, resource, ops, ctx)?;
    if outcome.changed {
        *resource = work;
    }
    Ok(outcome)
}

/// [`apply`] for a caller that already holds its own copy of the resource: runs the
/// operations on `work`, a copy of `original` (which may lack attributes the operations
/// cannot write, such as `groups`), checked against `original` for immutable attributes
/// and for whether anything changed. Spares [`apply`]'s copy of the whole document where
/// the caller copies it anyway (a store's read-modify-write).
///
/// On error `work` may hold part of the operations' changes: discard it. On success it is
/// the result whether or not [`PatchOutcome::changed`].
pub fn apply_to(
    work: &mut Resource,
    original: &Resource,
    ops: &[PatchOperation],
    ctx: &PatchContext<'_>,
) -> Result<PatchOutcome, ScimError> {
    if ops.is_empty() {
        return Ok(PatchOutcome::default());
    }
    if ops.len() > MAX_OPERATIONS {
        return Err(ScimError::new(
            ErrorCode::TooMany,
            format!("a PATCH request may carry at most {MAX_OPERATIONS} operations"),
        ));
    }
    let work = &mut work.0;
    let mut acc = Acc::default();
    for (i, op) in ops.iter().enumerate() {
        if let Some(v) = &op.value {
            validate::check_depth(v)?;
        }
        apply_op(work, op, ctx, &mut acc).map_err(|e| ScimError {
            detail: format!("operation {} ({}): {}", i + 1, op_name(op.op), e.detail),
            ..e
        })?;
    }
    finish(work, &acc.touched, ctx)?;
    let original = original.as_map();
    check_immutable(original, work, ctx.registry, ctx.kind)?;
    let changed = acc
        .touched
        .iter()
        .chain(std::iter::once(&"schemas".to_owned()))
        .any(|k| work.get(k) != original.get(k));
    Ok(PatchOutcome { changed, member_ops: acc.member_ops })
}

/// What the operations of one request did: member row ops, and the top-level keys
/// (attribute names, extension URNs) they wrote.
#[derive(Debug, Default)]
struct Acc {
    member_ops: Vec<MemberOp>,
    touched: Vec<String>,
}

impl Acc {
    fn touch(&mut self, key: &str) {
        if !self.touched.iter().any(|k| k == key) {
            self.touched.push(key.to_owned());
        }
    }
}

/// Validates what the operations wrote. Every value written went through the same checks
/// as [`validate::validate`] on the way in; what is left are the rules over a whole
/// attribute or resource: one primary per multi-valued attribute (RFC 7643 2.4), member
/// defaults, required attributes, empty extensions dropped and `schemas` rebuilt.
fn finish(
    work: &mut Map<String, Value>,
    touched: &[String],
    ctx: &PatchContext<'_>,
) -> Result<(), ScimError> {
    let registry = ctx.registry;
    let rt = registry.resource_type(ctx.kind);
    for key in touched {
        let ext = rt.schema_extensions.iter().find(|e| e.schema == *key);
        match ext {
            Some(e) => {
                if work.get(key).and_then(Value::as_object).is_none_or(Map::is_empty) {
                    work.shift_remove(key);
                    continue;
                }
                let (Some(schema), Some(Value::Object(m))) =
                    (registry.schema(&e.schema), work.get(key))
                else {
                    continue;
                };
                for attr in schema.attributes.iter().filter(|a| a.multi_valued) {
                    if let Some(Value::Array(items)) = m.get(&attr.name) {
                        validate::check_one_primary(attr, items)?;
                    }
                }
            }
            None => {
                let Some(attr) = validate::lookup(registry, ctx.kind, None, key) else { continue };
                if !attr.multi_valued {
                    continue;
                }
                if let Some(Value::Array(items)) = work.get_mut(key) {
                    if ctx.kind == ResourceKind::Group && attr.name == "members" {
                        for m in items.iter_mut() {
                            validate::normalize_member(m)?;
                        }
                    }
                    validate::check_one_primary(attr, items)?;
                }
            }
        }
    }
    if let Some(core) = registry.core_schema(ctx.kind) {
        validate::check_required(&core.attributes, work, None)?;
    }
    let mut schemas = vec![Value::String(rt.schema.clone())];
    for e in &rt.schema_extensions {
        if let Some(Value::Object(m)) = work.get(&e.schema) {
            if let Some(schema) = registry.schema(&e.schema) {
                validate::check_required(&schema.attributes, m, Some(&e.schema))?;
            }
            schemas.push(Value::String(e.schema.clone()));
        }
    }
    work.insert("schemas".to_owned(), Value::Array(schemas));
    Ok(())
}

fn op_name(op: PatchOpKind) -> &'static str {
    match op {
        PatchOpKind::Add => "add",
        PatchOpKind::Replace => "replace",
        PatchOpKind::Remove => "remove",
    }
}

/// A resolved attribute target: `ext` is the extension URN the attribute lives under
/// (`None` for core and common attributes).
#[derive(Debug)]
struct Target<'r> {
    ext: Option<&'r str>,
    attr: &'r Attribute,
    filter: Option<Filter>,
    sub: Option<&'r Attribute>,
}

impl Target<'_> {
    fn label(&self) -> String {
        match self.sub {
            Some(s) => format!("{}.{}", self.attr.name, s.name),
            None => self.attr.name.clone(),
        }
    }
}

fn apply_op(
    doc: &mut Map<String, Value>,
    op: &PatchOperation,
    ctx: &PatchContext<'_>,
    acc: &mut Acc,
) -> Result<(), ScimError> {
    let Some(raw) = op.path.as_deref().map(str::trim).filter(|p| !p.is_empty()) else {
        return match op.op {
            // RFC 7644 3.5.2.2: "If "path" is unspecified, the operation fails with ...
            // "noTarget"".
            PatchOpKind::Remove => Err(ScimError::no_target("remove needs a 'path'")),
            kind => pathless(doc, kind, op.value.as_ref(), None, ctx, acc),
        };
    };
    let path = PatchPath::parse_with(raw, ctx.registry, ctx.kind)?;
    if path.attr.is_schema() {
        let urn = path.attr.urn.as_deref().unwrap_or_default();
        let ext = ctx
            .registry
            .resource_type(ctx.kind)
            .schema_extensions
            .iter()
            .find(|e| e.schema.eq_ignore_ascii_case(urn))
            .map(|e| e.schema.as_str());
        return match (op.op, ext) {
            (PatchOpKind::Remove, Some(u)) => {
                acc.touch(u);
                doc.shift_remove(u);
                Ok(())
            }
            (PatchOpKind::Remove, None) => {
                Err(ScimError::mutability("the core schema cannot be removed"))
            }
            (kind, ext) => pathless(doc, kind, op.value.as_ref(), ext, ctx, acc),
        };
    }
    let urn = path.attr.urn.as_deref();
    if let Some(u) = urn
        && ctx.registry.schema_of(ctx.kind, u).is_none()
    {
        return Err(ScimError::invalid_path(format!(
            "'{u}' is not a schema of {} resources",
            ctx.kind.name()
        )));
    }
    let resolved =
        ctx.registry.resolve_lenient(ctx.kind, urn, &path.attr.name, None).ok_or_else(|| {
            ScimError::invalid_path(format!(
                "'{}' is not an attribute of {} resources",
                path.attr.name,
                ctx.kind.name()
            ))
        })?;
    let attr = resolved.attribute;
    let sub_name = path.sub_attr.as_deref().or(path.attr.sub_attr.as_deref());
    let sub = match sub_name {
        Some(s) => Some(attr.sub_attribute(s).ok_or_else(|| {
            ScimError::invalid_path(format!("'{}' has no sub-attribute '{s}'", attr.name))
        })?),
        None => None,
    };
    if path.filter.is_some() && !attr.multi_valued {
        return Err(ScimError::invalid_path(format!(
            "'{}' is single-valued; a value filter needs a multi-valued attribute",
            attr.name
        )));
    }
    let target = Target {
        ext: if resolved.extension { resolved.schema } else { None },
        attr,
        filter: path.filter,
        sub,
    };
    // RFC 7644 3.5.2: a path naming a readOnly attribute is a mutability error.
    if attr.mutability == Mutability::ReadOnly
        || sub.is_some_and(|s| s.mutability == Mutability::ReadOnly)
    {
        return Err(ScimError::mutability(format!("'{}' is readOnly", target.label())));
    }
    apply_target(doc, op.op, &target, op.value.as_ref(), ctx, acc)
}

/// `add`/`replace` without path (or with a path that is a whole schema URN, `ext`):
/// each key of the value object is applied as if it were a path.
fn pathless(
    doc: &mut Map<String, Value>,
    kind: PatchOpKind,
    value: Option<&Value>,
    ext: Option<&str>,
    ctx: &PatchContext<'_>,
    acc: &mut Acc,
) -> Result<(), ScimError> {
    let obj = match value {
        Some(Value::Object(m)) => m,
        Some(other) => {
            return Err(ScimError::invalid_value(format!(
                "{} without a path needs an object of attributes as value, not {}",
                op_name(kind),
                json_kind(other)
            )));
        }
        None => {
            return Err(ScimError::invalid_value(format!("{} needs a 'value'", op_name(kind))));
        }
    };
    let core = ctx.registry.resource_type(ctx.kind).schema.as_str();
    for (key, v) in obj {
        if ext.is_none() {
            match ctx.registry.split_urn(ctx.kind, key) {
                Some((urn, "")) => {
                    let inner_ext = if urn == core { None } else { Some(urn) };
                    match v {
                        Value::Object(_) => {
                            pathless(doc, kind, Some(v), inner_ext, ctx, acc)?;
                        }
                        Value::Null if inner_ext.is_some() && kind == PatchOpKind::Replace => {
                            acc.touch(urn);
                            doc.shift_remove(urn);
                        }
                        other => {
                            return Err(ScimError::invalid_value(format!(
                                "'{urn}' must hold an object, not {}",
                                json_kind(other)
                            )));
                        }
                    }
                    continue;
                }
                Some((urn, rest)) => {
                    let inner_ext = if urn == core { None } else { Some(urn) };
                    pathless_key(doc, kind, inner_ext, rest, v, ctx, acc)?;
                    continue;
                }
                None => {}
            }
        }
        pathless_key(doc, kind, ext, key, v, ctx, acc)?;
    }
    Ok(())
}

/// One key of a path-less value: `attr` or `attr.sub`, in extension `ext` or top-level.
/// Unknown and readOnly attributes are ignored here (module docs).
fn pathless_key(
    doc: &mut Map<String, Value>,
    kind: PatchOpKind,
    ext: Option<&str>,
    key: &str,
    value: &Value,
    ctx: &PatchContext<'_>,
    acc: &mut Acc,
) -> Result<(), ScimError> {
    if key.eq_ignore_ascii_case("schemas") {
        return Ok(());
    }
    let (name, sub) = match key.split_once('.') {
        Some((n, s)) => (n, Some(s)),
        None => (key, None),
    };
    let Some(resolved) = ctx.registry.resolve_lenient(ctx.kind, ext, name, None) else {
        return Ok(());
    };
    let attr = resolved.attribute;
    let sub = match sub {
        Some(s) => match attr.sub_attribute(s) {
            Some(d) => Some(d),
            None => return Ok(()),
        },
        None => None,
    };
    if attr.mutability == Mutability::ReadOnly
        || sub.is_some_and(|s| s.mutability == Mutability::ReadOnly)
    {
        return Ok(());
    }
    let target = Target {
        ext: if resolved.extension { resolved.schema } else { None },
        attr,
        filter: None,
        sub,
    };
    apply_target(doc, kind, &target, Some(value), ctx, acc)
}

/// Whether the value filter of `attr[filter]` selects `element`: the filter evaluator's
/// semantics, with the element as the scope (RFC 7644 3.5.2, 3.4.2.2).
fn selects(filter: &Filter, element: &Value, attr: &Attribute, ctx: &PatchContext<'_>) -> bool {
    filter.matches_element(element, attr, ctx.registry, ctx.kind)
}

fn is_members(t: &Target<'_>, ctx: &PatchContext<'_>) -> bool {
    ctx.external_members() && t.ext.is_none() && t.attr.name == "members"
}

fn apply_target(
    doc: &mut Map<String, Value>,
    kind: PatchOpKind,
    t: &Target<'_>,
    value: Option<&Value>,
    ctx: &PatchContext<'_>,
    acc: &mut Acc,
) -> Result<(), ScimError> {
    if is_members(t, ctx) {
        return members::members_op(kind, t, value, &mut acc.member_ops);
    }
    acc.touch(t.ext.unwrap_or(&t.attr.name));
    match (kind, value) {
        (PatchOpKind::Remove, v) => remove::remove(doc, t, v.filter(|v| !v.is_null()), ctx),
        // RFC 7643 2.5: null is unassigned.
        (_, Some(Value::Null)) => remove::remove(doc, t, None, ctx),
        (_, None) => Err(ScimError::invalid_value(format!(
            "{} of '{}' needs a 'value'",
            op_name(kind),
            t.label()
        ))),
        (kind, Some(v)) => set::set(doc, kind, t, v, ctx),
    }
}
