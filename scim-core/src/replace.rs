//! PUT: replacing a resource (RFC 7644 3.5.1).
//!
//! - The body is validated like a create ([`validate`]): unknown
//!   attributes are ignored, values coerced, required attributes checked.
//! - Attributes absent from the body are cleared, except readOnly ones (`id`, `meta`,
//!   `groups`, `manager.displayName`), which keep their current values whatever the body
//!   says (RFC 7644 3.5.1: readOnly values in the body "SHALL be ignored").
//! - An `id` in the body must equal the current id, else [`ErrorCode::InvalidValue`]
//!   (this project's rule: an `id` in the body must equal the path's; a wrong id is a
//!   wrong value rather than an attempt to change it, and Okta sends the right one).
//! - Immutable attributes (RFC 7643 2.2): a different value is a
//!   [`ErrorCode::Mutability`] error; an immutable attribute absent from the body keeps its
//!   value (clearing it would be a change too, and partial bodies are common).
//! - With external group members ([`PatchContext::members_external`]), `members` is
//!   taken out of the body and returned as [`MemberOp::ReplaceAll`]: the body's members,
//!   or none when the body has no `members` (RFC 7644 3.5.1: absent means cleared).
//! - `password` in the body stays in the result; the server takes it out with
//!   [`take_password`](crate::validate::take_password) and hashes it.

use crate::error::{ErrorCode, ScimError};
use crate::patch::{self, MemberOp, PatchContext};
use crate::resource::{Resource, get_ci, key_ci};
use crate::schema::{AttrType, Attribute, Mutability, ResourceKind};
use crate::validate::{self, Mode};
use serde_json::{Map, Value};

/// The result of [`replace`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Replaced {
    /// The new document (validated, readOnly attributes carried over from the current one).
    pub resource: Resource,
    /// With external members: exactly one [`MemberOp::ReplaceAll`]. Otherwise empty.
    pub member_ops: Vec<MemberOp>,
}

/// Computes the resource that a PUT of `incoming` over `current` produces (module docs).
pub fn replace(
    current: &Resource,
    incoming: Resource,
    ctx: &PatchContext<'_>,
) -> Result<Replaced, ScimError> {
    let mut body = incoming.into_map();
    if let Some(key) = key_ci(&body, "id").map(str::to_owned) {
        match (body.get(&key), current.id()) {
            (Some(Value::Null) | None, _) => {}
            (Some(Value::String(given)), Some(id)) if given == id => {}
            (Some(given), id) => {
                return Err(ScimError::invalid_value(format!(
                    "the id in the body ({given}) does not match the resource's id ({})",
                    id.unwrap_or("none")
                )));
            }
        }
    }
    let mut member_ops = Vec::new();
    if ctx.members_external && ctx.kind == ResourceKind::Group {
        let members = match key_ci(&body, "members").map(str::to_owned) {
            Some(k) => body.shift_remove(&k).unwrap_or(Value::Null),
            None => Value::Null,
        };
        let def = validate::lookup(ctx.registry, ctx.kind, None, "members")
            .ok_or_else(|| ScimError::new(ErrorCode::Internal, "no members attribute"))?;
        let list =
            if members.is_null() { Vec::new() } else { patch::parse_members(def, &members)? };
        member_ops.push(MemberOp::ReplaceAll(list));
    }
    let mut result = validate::normalize(body, ctx.registry, ctx.kind, Mode::Input)?;
    carry_over(current.as_map(), &mut result, ctx);
    let result = validate::normalize(result, ctx.registry, ctx.kind, Mode::Stored)?;
    patch::check_immutable(current.as_map(), &result, ctx.registry, ctx.kind)?;
    Ok(Replaced { resource: Resource(result), member_ops })
}

/// Copies readOnly attributes, and immutable ones the body left out, from `current`.
fn carry_over(
    current: &Map<String, Value>,
    result: &mut Map<String, Value>,
    ctx: &PatchContext<'_>,
) {
    let registry = ctx.registry;
    let mut top: Vec<&Attribute> = registry.common_attributes().iter().collect();
    if let Some(core) = registry.core_schema(ctx.kind) {
        top.extend(core.attributes.iter());
    }
    carry_attrs(&top, Some(current), result);
    for ext in registry.extensions(ctx.kind) {
        let Some(cur) = get_ci(current, &ext.id).and_then(Value::as_object) else { continue };
        let attrs: Vec<&Attribute> = ext.attributes.iter().collect();
        let mut target = match result.shift_remove(&ext.id) {
            Some(Value::Object(m)) => m,
            _ => Map::new(),
        };
        carry_attrs(&attrs, Some(cur), &mut target);
        if !target.is_empty() {
            result.insert(ext.id.clone(), Value::Object(target));
        }
    }
}

fn carry_attrs(
    attrs: &[&Attribute],
    current: Option<&Map<String, Value>>,
    result: &mut Map<String, Value>,
) {
    let Some(current) = current else { return };
    for attr in attrs {
        if attr.name == "schemas" {
            continue;
        }
        let Some(old) = get_ci(current, &attr.name) else { continue };
        let keep = match attr.mutability {
            Mutability::ReadOnly => true,
            Mutability::Immutable => !result.contains_key(&attr.name),
            _ => false,
        };
        if keep {
            result.insert(attr.name.clone(), old.clone());
            continue;
        }
        // readOnly (or immutable, left out) sub-attributes of a single complex attribute.
        if attr.kind == AttrType::Complex && !attr.multi_valued {
            let (Some(Value::Object(old)), Some(Value::Object(new))) =
                (Some(old), result.get_mut(&attr.name))
            else {
                continue;
            };
            for sub in &attr.sub_attributes {
                let carry = match sub.mutability {
                    Mutability::ReadOnly => true,
                    Mutability::Immutable => !new.contains_key(&sub.name),
                    _ => false,
                };
                if let (true, Some(v)) = (carry, get_ci(old, &sub.name)) {
                    new.insert(sub.name.clone(), v.clone());
                }
            }
        }
    }
}
