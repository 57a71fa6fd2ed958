//! Mutability (RFC 7643 2.2 `immutable`): what PATCH and PUT may not change.

use crate::error::ScimError;
use crate::resource::get_ci;
use crate::schema::{AttrType, Attribute, Mutability, Registry, ResourceKind};
use serde_json::{Map, Value};

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
                // Only immutable attributes and single complex attributes with an immutable
                // sub-attribute are looked up (most schemas have few or none).
                let whole = attr.mutability == Mutability::Immutable;
                let subs = attr.kind == AttrType::Complex
                    && !attr.multi_valued
                    && attr.sub_attributes.iter().any(|s| s.mutability == Mutability::Immutable);
                if !whole && !subs {
                    continue;
                }
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
