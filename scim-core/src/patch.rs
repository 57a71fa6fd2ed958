//! The PATCH engine (RFC 7644 3.5.2) and every request shape identity providers
//! (Microsoft Entra ID, Okta) send.
//!
//! [`apply`] runs the operations on a working copy of the resource, validates the result,
//! checks that no immutable attribute changed, and only then commits it: one failing
//! operation changes nothing (RFC 7644 3.5.2: "each operation ... SHALL be applied
//! atomically").
//!
//! Choices where the RFC leaves room, or where this project goes beyond it for the
//! identity providers:
//!
//! - Op names and attribute names are case-insensitive (RFC 7643 2.1, Entra).
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

use crate::error::{ErrorCode, ScimError};
use crate::filter::{CompValue, CompareOp, Filter};
use crate::message::{PatchOpKind, PatchOperation};
use crate::path::PatchPath;
use crate::resource::{Member, Resource, get_ci, json_kind, key_ci};
use crate::schema::{AttrType, Attribute, Mutability, Registry, ResourceKind};
use crate::validate::{self, Mode};
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
/// document. The store applies a request's ops in order, in one transaction.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum MemberOp {
    /// Add these members; members already present stay (no duplicates). Every member has
    /// a non-empty `value` and a `type` of `User` or `Group` (default `User`).
    Add(Vec<Member>),
    /// Remove the members with these ids (`value`s); ids that are not members are ignored.
    Remove(Vec<String>),
    /// Remove the members matching this filter. Its attribute paths are relative to a
    /// member element: `value`, `type`, `display`, `$ref` (e.g. `type eq "Group"`).
    RemoveWhere(Filter),
    /// Remove every member.
    Clear,
    /// Replace all members by exactly these (an empty list clears).
    ReplaceAll(Vec<Member>),
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
    if ops.len() > MAX_OPERATIONS {
        return Err(ScimError::new(
            ErrorCode::TooMany,
            format!("a PATCH request may carry at most {MAX_OPERATIONS} operations"),
        ));
    }
    let mut work = resource.as_map().clone();
    let mut acc = Acc::default();
    for (i, op) in ops.iter().enumerate() {
        if let Some(v) = &op.value {
            validate::check_depth(v)?;
        }
        apply_op(&mut work, op, ctx, &mut acc).map_err(|e| ScimError {
            detail: format!("operation {} ({}): {}", i + 1, op_name(op.op), e.detail),
            ..e
        })?;
    }
    finish(&mut work, &acc.touched, ctx)?;
    check_immutable(resource.as_map(), &work, ctx.registry, ctx.kind)?;
    let original = resource.as_map();
    let changed = acc
        .touched
        .iter()
        .chain(std::iter::once(&"schemas".to_owned()))
        .any(|k| work.get(k) != original.get(k));
    if changed {
        *resource = Resource(work);
    }
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
        return members_op(kind, t, value, &mut acc.member_ops);
    }
    acc.touch(t.ext.unwrap_or(&t.attr.name));
    match (kind, value) {
        (PatchOpKind::Remove, v) => remove(doc, t, v.filter(|v| !v.is_null()), ctx),
        // RFC 7643 2.5: null is unassigned.
        (_, Some(Value::Null)) => remove(doc, t, None, ctx),
        (_, None) => Err(ScimError::invalid_value(format!(
            "{} of '{}' needs a 'value'",
            op_name(kind),
            t.label()
        ))),
        (kind, Some(v)) => set(doc, kind, t, v, ctx),
    }
}

// ---------------------------------------------------------------------------------------
// remove (RFC 7644 3.5.2.2)

fn remove(
    doc: &mut Map<String, Value>,
    t: &Target<'_>,
    value: Option<&Value>,
    ctx: &PatchContext<'_>,
) -> Result<(), ScimError> {
    let Some(container) = existing_container(doc, t.ext) else { return Ok(()) };
    let Some(key) = key_ci(container, &t.attr.name).map(str::to_owned) else { return Ok(()) };
    match (t.attr.multi_valued, &t.filter, t.sub) {
        (true, None, None) if value.is_some() => {
            // Entra: `{"op":"Remove","path":"members","value":[{"value":"<id>"}]}` removes
            // exactly the listed values, never all.
            let listed = match value {
                Some(Value::Array(a)) => a.clone(),
                Some(v) => vec![v.clone()],
                None => Vec::new(),
            };
            if let Some(Value::Array(arr)) = container.get_mut(&key) {
                arr.retain(|el| !listed.iter().any(|l| same_for_removal(el, l)));
            }
        }
        (_, None, None) => {
            container.shift_remove(&key);
        }
        (false, None, Some(sub)) => {
            if let Some(Value::Object(obj)) = container.get_mut(&key)
                && let Some(k) = key_ci(obj, &sub.name).map(str::to_owned)
            {
                obj.shift_remove(&k);
            }
        }
        (true, filter, sub) => {
            if let Some(Value::Array(arr)) = container.get_mut(&key) {
                let attr = t.attr;
                match sub {
                    None => {
                        arr.retain(|el| !filter.as_ref().is_some_and(|f| selects(f, el, attr, ctx)))
                    }
                    Some(sub) => {
                        for el in arr.iter_mut() {
                            let hit = filter.as_ref().is_none_or(|f| selects(f, el, attr, ctx));
                            if let (true, Value::Object(obj)) = (hit, el)
                                && let Some(k) = key_ci(obj, &sub.name).map(str::to_owned)
                            {
                                obj.shift_remove(&k);
                            }
                        }
                        arr.retain(|el| !el.as_object().is_some_and(Map::is_empty));
                    }
                }
            }
        }
        (false, Some(_), _) => {
            return Err(ScimError::invalid_path("a value filter needs a multi-valued attribute"));
        }
    }
    prune(container, &key);
    if let Some(u) = t.ext
        && doc.get(u).and_then(Value::as_object).is_some_and(Map::is_empty)
    {
        doc.shift_remove(u);
    }
    Ok(())
}

/// Drops `key` when its value became empty (RFC 7643 2.5: empty is unassigned).
fn prune(container: &mut Map<String, Value>, key: &str) {
    let empty = match container.get(key) {
        Some(Value::Array(a)) => a.is_empty(),
        Some(Value::Object(m)) => m.is_empty(),
        Some(Value::Null) => true,
        _ => false,
    };
    if empty {
        container.shift_remove(key);
    }
}

fn same_for_removal(element: &Value, listed: &Value) -> bool {
    match (element.as_object(), listed) {
        (Some(el), Value::Object(l)) => match get_ci(l, "value") {
            Some(v) => get_ci(el, "value").is_some_and(|ev| values_equal(ev, v)),
            None => element == listed,
        },
        // A bare id for a complex element: its value.
        (Some(el), Value::String(_)) => get_ci(el, "value").is_some_and(|ev| ev == listed),
        _ => element == listed,
    }
}

fn values_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(x), Value::String(y)) => x == y,
        _ => a == b,
    }
}

fn existing_container<'a>(
    doc: &'a mut Map<String, Value>,
    ext: Option<&str>,
) -> Option<&'a mut Map<String, Value>> {
    match ext {
        None => Some(doc),
        Some(u) => {
            let key = key_ci(doc, u)?.to_owned();
            doc.get_mut(&key).and_then(Value::as_object_mut)
        }
    }
}

// ---------------------------------------------------------------------------------------
// add and replace (RFC 7644 3.5.2.1, 3.5.2.3)

fn set(
    doc: &mut Map<String, Value>,
    kind: PatchOpKind,
    t: &Target<'_>,
    value: &Value,
    ctx: &PatchContext<'_>,
) -> Result<(), ScimError> {
    let attr = t.attr;
    let container = match t.ext {
        None => doc,
        Some(u) => {
            if let Some(k) = key_ci(doc, u).filter(|k| *k != u).map(str::to_owned)
                && let Some(v) = doc.shift_remove(&k)
            {
                doc.insert(u.to_owned(), v);
            }
            validate::container(doc, Some(u))?
        }
    };
    // Keep one spelling of the key: the schema's.
    if let Some(k) = key_ci(container, &attr.name).filter(|k| *k != attr.name).map(str::to_owned)
        && let Some(v) = container.shift_remove(&k)
    {
        container.insert(attr.name.clone(), v);
    }
    match (attr.multi_valued, &t.filter, t.sub) {
        (false, None, None) => {
            // RFC 7643 2.5: a sub-attribute given as null (`"name": {"familyName": null}`)
            // is unassigned, while those not in the value are kept.
            let nulls: Vec<&Attribute> = match (attr.kind, value) {
                (AttrType::Complex, Value::Object(m)) => m
                    .iter()
                    .filter(|(_, v)| v.is_null())
                    .filter_map(|(k, _)| attr.sub_attribute(k))
                    .collect(),
                _ => Vec::new(),
            };
            let new = validate::check_value(attr, value.clone(), Mode::Input)?;
            match (new, attr.kind) {
                (None, AttrType::Complex) if !nulls.is_empty() => {}
                (None, _) => {
                    container.shift_remove(&attr.name);
                }
                // RFC 7644 3.5.2.1 and 3.5.2.3: sub-attributes not in the value are kept.
                (Some(Value::Object(new)), AttrType::Complex) => {
                    let slot = object_slot(container, &attr.name)?;
                    for (k, v) in new {
                        slot.insert(k, v);
                    }
                }
                (Some(v), _) => {
                    container.insert(attr.name.clone(), v);
                }
            }
            if !nulls.is_empty() {
                if let Some(Value::Object(slot)) = container.get_mut(&attr.name) {
                    for sub in nulls {
                        set_sub(slot, sub, None);
                    }
                }
                prune(container, &attr.name);
            }
        }
        (false, None, Some(sub)) => {
            let new = validate::check_simple(sub, value.clone(), Some(&attr.name))?;
            let slot = object_slot(container, &attr.name)?;
            set_sub(slot, sub, new);
            prune(container, &attr.name);
        }
        (true, None, None) => {
            let new = match validate::check_value(attr, value.clone(), Mode::Input)? {
                Some(Value::Array(a)) => a,
                _ => Vec::new(),
            };
            let arr = array_slot(container, &attr.name)?;
            let touched = match kind {
                // RFC 7644 3.5.2.3: replacing a multi-valued attribute without a filter
                // replaces all its values.
                PatchOpKind::Replace => {
                    *arr = new;
                    (0..arr.len()).collect()
                }
                _ => add_values(arr, new, attr),
            };
            fix_primary(arr, &touched);
            prune(container, &attr.name);
        }
        (true, None, Some(sub)) => {
            // No filter: every element's sub-attribute (one element is created if none).
            let new = validate::check_simple(sub, value.clone(), Some(&attr.name))?;
            let arr = array_slot(container, &attr.name)?;
            if arr.is_empty() {
                arr.push(Value::Object(Map::new()));
            }
            for el in arr.iter_mut() {
                if let Value::Object(obj) = el {
                    set_sub(obj, sub, new.clone());
                }
            }
            let touched: Vec<usize> = (0..arr.len()).collect();
            fix_primary(arr, &touched);
            arr.retain(|el| !el.as_object().is_some_and(Map::is_empty));
            prune(container, &attr.name);
        }
        (true, Some(filter), sub) => {
            let new_sub = match sub {
                Some(s) => Some(validate::check_simple(s, value.clone(), Some(&attr.name))?),
                None => None,
            };
            let new_el = match sub {
                Some(_) => None,
                None => validate::check_single(attr, value.clone(), Mode::Input)?,
            };
            let arr = array_slot(container, &attr.name)?;
            let mut touched: Vec<usize> = arr
                .iter()
                .enumerate()
                .filter(|(_, el)| selects(filter, el, attr, ctx))
                .map(|(i, _)| i)
                .collect();
            if touched.is_empty() {
                // Entra: create the element the filter describes (see the module docs).
                let Some(mut created) = element_from_filter(filter, attr) else {
                    return Err(ScimError::no_target(format!(
                        "no '{}' value matches the filter, and the filter does not describe one \
                         to create (RFC 7644 3.5.2.3)",
                        attr.name
                    )));
                };
                if let Some(Value::Object(extra)) = &new_el {
                    for (k, v) in extra {
                        created.insert(k.clone(), v.clone());
                    }
                }
                arr.push(Value::Object(created));
                touched.push(arr.len() - 1);
            }
            for &i in &touched {
                let Some(Value::Object(obj)) = arr.get_mut(i) else { continue };
                match (sub, &new_sub, &new_el) {
                    (Some(s), Some(v), _) => set_sub(obj, s, v.clone()),
                    (_, _, Some(Value::Object(new))) => {
                        if kind == PatchOpKind::Replace {
                            // RFC 7644 3.5.2.3: matching records are replaced.
                            obj.clear();
                        }
                        for (k, v) in new {
                            obj.insert(k.clone(), v.clone());
                        }
                    }
                    _ => {}
                }
            }
            fix_primary(arr, &touched);
            arr.retain(|el| !el.as_object().is_some_and(Map::is_empty));
            prune(container, &attr.name);
        }
        (false, Some(_), _) => {
            return Err(ScimError::invalid_path("a value filter needs a multi-valued attribute"));
        }
    }
    Ok(())
}

fn set_sub(obj: &mut Map<String, Value>, sub: &Attribute, value: Option<Value>) {
    if let Some(k) = key_ci(obj, &sub.name).map(str::to_owned) {
        obj.shift_remove(&k);
    }
    if let Some(v) = value {
        obj.insert(sub.name.clone(), v);
    }
}

fn object_slot<'a>(
    container: &'a mut Map<String, Value>,
    name: &str,
) -> Result<&'a mut Map<String, Value>, ScimError> {
    let slot = container.entry(name.to_owned()).or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    slot.as_object_mut().ok_or_else(|| ScimError::new(ErrorCode::Internal, "not an object"))
}

fn array_slot<'a>(
    container: &'a mut Map<String, Value>,
    name: &str,
) -> Result<&'a mut Vec<Value>, ScimError> {
    let slot = container.entry(name.to_owned()).or_insert_with(|| Value::Array(Vec::new()));
    if !slot.is_array() {
        let old = std::mem::take(slot);
        *slot = Value::Array(if old.is_null() { Vec::new() } else { vec![old] });
    }
    slot.as_array_mut().ok_or_else(|| ScimError::new(ErrorCode::Internal, "not an array"))
}

/// Appends `new` values to `arr` without duplicates: an element with the same identity
/// (`value` and `type`) is merged into. Returns the indices written.
fn add_values(arr: &mut Vec<Value>, new: Vec<Value>, attr: &Attribute) -> Vec<usize> {
    let mut touched = Vec::with_capacity(new.len());
    for v in new {
        match arr.iter().position(|el| same_element(el, &v, attr)) {
            Some(i) => {
                if let (Some(Value::Object(el)), Value::Object(n)) = (arr.get_mut(i), &v) {
                    for (k, x) in n {
                        el.insert(k.clone(), x.clone());
                    }
                }
                touched.push(i);
            }
            None => {
                arr.push(v);
                touched.push(arr.len() - 1);
            }
        }
    }
    touched
}

fn same_element(a: &Value, b: &Value, attr: &Attribute) -> bool {
    let (Some(x), Some(y)) = (a.as_object(), b.as_object()) else { return a == b };
    let (Some(xv), Some(yv)) = (x.get("value"), y.get("value")) else { return a == b };
    let case_exact = attr.sub_attribute("value").is_some_and(|s| s.case_exact);
    let value_eq = match (xv, yv) {
        (Value::String(p), Value::String(q)) if !case_exact => p.eq_ignore_ascii_case(q),
        _ => xv == yv,
    };
    let type_of =
        |m: &Map<String, Value>| m.get("type").and_then(Value::as_str).map(str::to_ascii_lowercase);
    value_eq && (type_of(x) == type_of(y) || type_of(y).is_none())
}

/// RFC 7643 2.4: when an operation sets `primary: true` on an element, the others lose it.
fn fix_primary(arr: &mut [Value], touched: &[usize]) {
    let Some(&winner) = touched.iter().rev().find(|&&i| {
        arr.get(i).and_then(|e| e.get("primary")).and_then(Value::as_bool) == Some(true)
    }) else {
        return;
    };
    for (i, el) in arr.iter_mut().enumerate() {
        if i != winner
            && let Value::Object(obj) = el
            && obj.get("primary").and_then(Value::as_bool) == Some(true)
        {
            obj.shift_remove("primary");
        }
    }
}

/// The element a conjunction of `sub eq value` comparisons describes, or `None` when the
/// filter is anything else.
fn element_from_filter(filter: &Filter, attr: &Attribute) -> Option<Map<String, Value>> {
    fn walk(f: &Filter, attr: &Attribute, out: &mut Map<String, Value>) -> Option<()> {
        match f {
            Filter::And(a, b) => {
                walk(a, attr, out)?;
                walk(b, attr, out)
            }
            Filter::Compare(p, CompareOp::Eq, v) if p.sub_attr.is_none() => {
                let sub = attr.sub_attribute(&p.name)?;
                if sub.mutability == Mutability::ReadOnly {
                    return None;
                }
                let json = match v {
                    CompValue::Str(s) => Value::String(s.clone()),
                    CompValue::Bool(b) => Value::Bool(*b),
                    CompValue::Number(n) => Value::Number(n.clone()),
                    CompValue::Null => return None,
                };
                let json = validate::check_simple(sub, json, Some(&attr.name)).ok()??;
                out.insert(sub.name.clone(), json);
                Some(())
            }
            _ => None,
        }
    }
    let mut out = Map::new();
    walk(filter, attr, &mut out)?;
    Some(out)
}

// ---------------------------------------------------------------------------------------
// Members kept as rows

fn members_op(
    kind: PatchOpKind,
    t: &Target<'_>,
    value: Option<&Value>,
    out: &mut Vec<MemberOp>,
) -> Result<(), ScimError> {
    if t.sub.is_some() {
        // RFC 7643 4.2: members' sub-attributes are immutable.
        return Err(ScimError::mutability(format!(
            "'{}' is immutable: remove the member and add it again",
            t.label()
        )));
    }
    let value = value.filter(|v| !v.is_null());
    match (kind, &t.filter) {
        (PatchOpKind::Remove, None) => match value {
            Some(v) => out.push(MemberOp::Remove(member_ids(v)?)),
            None => out.push(MemberOp::Clear),
        },
        (PatchOpKind::Remove, Some(f)) => out.push(match ids_of_filter(f) {
            Some(ids) => MemberOp::Remove(ids),
            None => MemberOp::RemoveWhere(f.clone()),
        }),
        (PatchOpKind::Add, _) => match value {
            Some(v) => out.push(MemberOp::Add(parse_members(t.attr, v)?)),
            None => return Err(ScimError::invalid_value("add of 'members' needs a 'value'")),
        },
        (PatchOpKind::Replace, None) => {
            let members = match value {
                Some(v) => parse_members(t.attr, v)?,
                None => Vec::new(),
            };
            out.push(MemberOp::ReplaceAll(members));
        }
        (PatchOpKind::Replace, Some(f)) => {
            // RFC 7644 3.5.2.3: the matching members are replaced by the value.
            out.push(MemberOp::RemoveWhere(f.clone()));
            if let Some(v) = value {
                out.push(MemberOp::Add(parse_members(t.attr, v)?));
            }
        }
    }
    Ok(())
}

/// Members from a PATCH value (an array, one object, or bare ids), validated like the
/// document's members (non-empty `value`, `type` `User` or `Group`, default `User`).
pub(crate) fn parse_members(attr: &Attribute, value: &Value) -> Result<Vec<Member>, ScimError> {
    let items = match validate::check_value(attr, value.clone(), Mode::Input)? {
        Some(Value::Array(a)) => a,
        _ => Vec::new(),
    };
    let mut out: Vec<Member> = Vec::with_capacity(items.len());
    for mut item in items {
        validate::normalize_member(&mut item)?;
        let member: Member = serde_json::from_value(item)
            .map_err(|e| ScimError::invalid_value(format!("malformed member: {e}")))?;
        if !out.iter().any(|m| m.value == member.value) {
            out.push(member);
        }
    }
    Ok(out)
}

fn member_ids(value: &Value) -> Result<Vec<String>, ScimError> {
    let items: Vec<&Value> = match value {
        Value::Array(a) => a.iter().collect(),
        v => vec![v],
    };
    let mut ids = Vec::with_capacity(items.len());
    for item in items {
        let id = match item {
            Value::String(s) => Some(s.as_str()),
            Value::Object(m) => get_ci(m, "value").and_then(Value::as_str),
            _ => None,
        };
        match id {
            Some(id) if !id.is_empty() => ids.push(id.to_owned()),
            _ => {
                return Err(ScimError::invalid_value(
                    "each member to remove needs a non-empty 'value'",
                ));
            }
        }
    }
    Ok(ids)
}

/// `value eq "a"` or `value eq "a" or value eq "b"`: the ids, for a cheap removal.
fn ids_of_filter(f: &Filter) -> Option<Vec<String>> {
    match f {
        Filter::Compare(p, CompareOp::Eq, CompValue::Str(s))
            if p.sub_attr.is_none() && p.urn.is_none() && p.name.eq_ignore_ascii_case("value") =>
        {
            Some(vec![s.clone()])
        }
        Filter::Or(a, b) => {
            let mut ids = ids_of_filter(a)?;
            ids.extend(ids_of_filter(b)?);
            Some(ids)
        }
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------
// Mutability (RFC 7643 2.2 `immutable`)

/// Fails with [`ErrorCode::Mutability`] when an immutable attribute that had a value in
/// `before` has a different one in `after`. Sub-attributes of multi-valued attributes
/// (group members) are exempt: their elements come and go as a whole.
pub(crate) fn check_immutable(
    before: &Map<String, Value>,
    after: &Map<String, Value>,
    registry: &Registry,
    kind: ResourceKind,
) -> Result<(), ScimError> {
    let check =
        |attrs: &[Attribute], b: Option<&Map<String, Value>>, a: Option<&Map<String, Value>>| {
            let Some(b) = b else { return Ok(()) };
            for attr in attrs {
                let old = get_ci(b, &attr.name);
                let new = a.and_then(|a| get_ci(a, &attr.name));
                if attr.mutability == Mutability::Immutable && old.is_some() && old != new {
                    return Err(ScimError::mutability(format!(
                        "'{}' is immutable and already set",
                        attr.name
                    )));
                }
                if attr.kind == AttrType::Complex && !attr.multi_valued {
                    let (Some(Value::Object(o)), n) = (old, new) else { continue };
                    let n = n.and_then(Value::as_object);
                    for sub in &attr.sub_attributes {
                        let ov = get_ci(o, &sub.name);
                        if sub.mutability == Mutability::Immutable
                            && ov.is_some()
                            && ov != n.and_then(|n| get_ci(n, &sub.name))
                        {
                            return Err(ScimError::mutability(format!(
                                "'{}.{}' is immutable and already set",
                                attr.name, sub.name
                            )));
                        }
                    }
                }
            }
            Ok(())
        };
    if let Some(core) = registry.core_schema(kind) {
        check(&core.attributes, Some(before), Some(after))?;
    }
    check(registry.common_attributes(), Some(before), Some(after))?;
    for ext in registry.extensions(kind) {
        let b = get_ci(before, &ext.id).and_then(Value::as_object);
        let a = get_ci(after, &ext.id).and_then(Value::as_object);
        check(&ext.attributes, b, a)?;
    }
    Ok(())
}
