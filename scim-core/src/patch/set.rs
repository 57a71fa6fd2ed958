//! `add` and `replace` (RFC 7644 3.5.2.1, 3.5.2.3) of a resolved target.

use super::remove::prune;
use super::{PatchContext, Target, selects};
use crate::error::{ErrorCode, ScimError};
use crate::filter::{CompValue, CompareOp, Filter};
use crate::message::PatchOpKind;
use crate::resource::key_ci;
use crate::schema::{AttrType, Attribute, Mutability};
use crate::validate::{self, Mode};
use serde_json::{Map, Value};

pub(super) fn set(
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
