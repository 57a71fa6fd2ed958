//! `remove` (RFC 7644 3.5.2.2): a whole attribute, a sub-attribute, the values a value
//! filter selects, or the listed values of a multi-valued attribute.

use super::{PatchContext, Target, selects};
use crate::error::ScimError;
use crate::resource::{get_ci, key_ci};
use serde_json::{Map, Value};

pub(super) fn remove(
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
pub(super) fn prune(container: &mut Map<String, Value>, key: &str) {
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
