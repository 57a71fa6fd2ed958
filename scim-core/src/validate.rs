//! Schema validation and normalisation of resources (RFC 7643 2 and 3).
//!
//! [`validate`] takes a resource as a client sent it and returns it in the one shape the
//! rest of the service relies on:
//!
//! - attribute keys spelled as the schema declares them (`UserName` -> `userName`,
//!   RFC 7643 2.1: names are case-insensitive);
//! - attributes and sub-attributes the schema does not know are **dropped silently**
//!   (Entra ID and Okta send extras; rejecting them would break provisioning);
//! - `readOnly` attributes (`id`, `meta`, `groups`, `manager.displayName`) are dropped:
//!   the server sets them (RFC 7643 2.2);
//! - values are type-checked (RFC 7643 2.3) and coerced where identity providers are known
//!   to be loose: `"True"`/`"False"` for booleans (Entra), a bare value where an array is
//!   expected (wrapped), a bare string where a complex attribute with a `value`
//!   sub-attribute is expected (Entra's `manager`, stored as `{"value": ...}`), numbers for
//!   strings, numeric strings for numbers;
//! - `null` and `[]` mean unassigned (RFC 7643 2.5) and are removed;
//! - `schemas` is rebuilt: the core schema first (added when missing), then each
//!   registered extension that carries data; unknown schema URIs are ignored (identity
//!   providers send extra schema URIs on group create);
//! - required attributes must be present, at most one `primary: true` per multi-valued
//!   attribute (RFC 7643 2.4), `canonicalValues` enforced only when the schema sets
//!   `strictCanonicalValues`;
//! - group members default to `type: "User"` (Okta sends no type).
//!
//! `password` (writeOnly) is kept in the validated resource; the server removes it with
//! [`take_password`] and stores only a hash. Projection never returns it.

use crate::error::{ErrorCode, ScimError};
use crate::resource::{Resource, json_kind};
use crate::schema::{AttrType, Attribute, Mutability, Registry, ResourceKind};
use serde_json::{Map, Number, Value};

/// Deepest JSON nesting accepted in a resource. A SCIM resource is at most four levels
/// deep (extension, multi-valued complex attribute, element, value); anything far deeper is
/// hostile input.
pub const MAX_DEPTH: usize = 16;

/// Whether `readOnly` attributes are input to drop or stored state to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// A client's body: readOnly attributes are ignored (RFC 7643 2.2).
    Input,
    /// The service's own document (after PATCH): readOnly attributes are kept as they are.
    Stored,
}

/// Validates and normalises a client-supplied resource of `kind` (see the module docs for
/// every rule). Errors: [`ErrorCode::InvalidValue`] for values of the wrong type or not
/// allowed, [`ErrorCode::MissingAttribute`] for a missing required attribute,
/// [`ErrorCode::InvalidSyntax`] for input nested deeper than [`MAX_DEPTH`].
pub fn validate(
    resource: Resource,
    registry: &Registry,
    kind: ResourceKind,
) -> Result<Resource, ScimError> {
    normalize(resource.into_map(), registry, kind, Mode::Input).map(Resource)
}

/// Removes the writeOnly `password` from a validated resource and returns it, so the
/// server can hash it and keep it out of the stored document (RFC 7643 4.1.1: the
/// password is never returned).
pub fn take_password(resource: &mut Resource) -> Option<String> {
    let key = crate::resource::key_ci(resource.as_map(), "password")?.to_owned();
    match resource.as_map_mut().shift_remove(&key) {
        Some(Value::String(s)) => Some(s),
        _ => None,
    }
}

fn depth_ok(v: &Value, depth: usize) -> bool {
    if depth > MAX_DEPTH {
        return false;
    }
    match v {
        Value::Array(a) => a.iter().all(|x| depth_ok(x, depth + 1)),
        Value::Object(m) => m.values().all(|x| depth_ok(x, depth + 1)),
        _ => true,
    }
}

/// Checks the nesting depth of a JSON value against [`MAX_DEPTH`].
pub(crate) fn check_depth(v: &Value) -> Result<(), ScimError> {
    if depth_ok(v, 0) {
        Ok(())
    } else {
        Err(ScimError::invalid_syntax(format!("input is nested deeper than {MAX_DEPTH} levels")))
    }
}

/// The top-level attribute `name` of `kind` (core schema, then common attributes), or the
/// attribute of extension `urn`.
pub(crate) fn lookup<'r>(
    registry: &'r Registry,
    kind: ResourceKind,
    urn: Option<&str>,
    name: &str,
) -> Option<&'r Attribute> {
    match urn {
        None => registry.resolve_parts(kind, None, name, None).map(|r| r.attribute),
        Some(u) => registry.schema(u).and_then(|s| s.attribute(name)),
    }
}

/// Normalises a resource document; the heart of [`validate`], also run on the result of
/// PATCH and PUT (in [`Mode::Stored`], where readOnly attributes are kept).
pub(crate) fn normalize(
    map: Map<String, Value>,
    registry: &Registry,
    kind: ResourceKind,
    mode: Mode,
) -> Result<Map<String, Value>, ScimError> {
    for v in map.values() {
        check_depth(v)?;
    }
    let core_urn = registry.resource_type(kind).schema.as_str();
    let mut out = Map::with_capacity(map.len());
    for (key, value) in map {
        if key.eq_ignore_ascii_case("schemas") {
            // Rebuilt below from the data; its type is still checked.
            if !matches!(value, Value::Array(_) | Value::String(_) | Value::Null) {
                return Err(ScimError::new(
                    ErrorCode::InvalidSchemas,
                    format!("'schemas' must be an array of URIs, not {}", json_kind(&value)),
                ));
            }
            continue;
        }
        match registry.split_urn(kind, &key) {
            // A whole schema under its URN key (RFC 7643 3.3).
            Some((urn, "")) => {
                let inner = match value {
                    Value::Object(m) => m,
                    Value::Null => continue,
                    other => {
                        return Err(ScimError::invalid_value(format!(
                            "'{urn}' must be an object of the extension's attributes, not {}",
                            json_kind(&other)
                        )));
                    }
                };
                let ext = if urn.eq_ignore_ascii_case(core_urn) { None } else { Some(urn) };
                for (k, v) in inner {
                    put_attr(&mut out, registry, kind, ext, &k, v, mode)?;
                }
            }
            // A URN-qualified attribute name (`urn:...:User:employeeNumber`).
            Some((urn, rest)) => {
                let ext = if urn.eq_ignore_ascii_case(core_urn) { None } else { Some(urn) };
                put_attr(&mut out, registry, kind, ext, rest, value, mode)?;
            }
            None => put_attr(&mut out, registry, kind, None, &key, value, mode)?,
        }
    }
    finish(out, registry, kind, mode)
}

/// Puts attribute `key` (of extension `ext`, or top-level) into `out`, normalised.
fn put_attr(
    out: &mut Map<String, Value>,
    registry: &Registry,
    kind: ResourceKind,
    ext: Option<&str>,
    key: &str,
    value: Value,
    mode: Mode,
) -> Result<(), ScimError> {
    let Some(def) = lookup(registry, kind, ext, key) else {
        // Unknown attributes are ignored (module docs).
        return Ok(());
    };
    if def.mutability == Mutability::ReadOnly {
        if mode == Mode::Stored && !value.is_null() {
            container(out, ext)?.insert(def.name.clone(), value);
        }
        return Ok(());
    }
    let checked = check_value(def, value, mode)?;
    let target = container(out, ext)?;
    match checked {
        Some(v) => {
            target.insert(def.name.clone(), v);
        }
        None => {
            target.shift_remove(&def.name);
        }
    }
    Ok(())
}

/// The map the attributes of extension `ext` live in (created on demand), or `out` itself.
pub(crate) fn container<'a>(
    out: &'a mut Map<String, Value>,
    ext: Option<&str>,
) -> Result<&'a mut Map<String, Value>, ScimError> {
    let Some(urn) = ext else { return Ok(out) };
    let slot = out.entry(urn.to_owned()).or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    match slot {
        Value::Object(m) => Ok(m),
        _ => Err(ScimError::new(ErrorCode::Internal, "extension container is not an object")),
    }
}

/// Final pass: drop empty extensions, group-member defaults, required attributes, and the
/// rebuilt `schemas`.
fn finish(
    out: Map<String, Value>,
    registry: &Registry,
    kind: ResourceKind,
    mode: Mode,
) -> Result<Map<String, Value>, ScimError> {
    let rt = registry.resource_type(kind);
    let mut schemas = vec![Value::String(rt.schema.clone())];
    // `schemas` first, then the attributes in order: built in one map (its value set
    // last), where building one without it and copying it over hashed every key twice more.
    let mut body = Map::with_capacity(out.len() + 1);
    body.insert("schemas".to_owned(), Value::Null);
    for (k, v) in out {
        let is_ext = rt.schema_extensions.iter().any(|e| e.schema == k);
        if is_ext {
            if v.as_object().is_some_and(|m| !m.is_empty()) {
                schemas.push(Value::String(k.clone()));
                body.insert(k, v);
            }
        } else {
            body.insert(k, v);
        }
    }
    if kind == ResourceKind::Group
        && let Some(Value::Array(members)) = body.get_mut("members")
    {
        for m in members.iter_mut() {
            normalize_member(m)?;
        }
    }
    // Required attributes (RFC 7643 2.2 `required`); readOnly ones are the server's job.
    if let Some(core) = registry.core_schema(kind) {
        check_required(&core.attributes, &body, None)?;
    }
    for e in &rt.schema_extensions {
        let Some(schema) = registry.schema(&e.schema) else { continue };
        match body.get(&e.schema).and_then(Value::as_object) {
            Some(m) => check_required(&schema.attributes, m, Some(&e.schema))?,
            None if e.required && mode == Mode::Input => {
                return Err(ScimError::new(
                    ErrorCode::MissingAttribute,
                    format!("the required extension '{}' is missing", e.schema),
                ));
            }
            None => {}
        }
    }
    body.insert("schemas".to_owned(), Value::Array(schemas));
    Ok(body)
}

pub(crate) fn check_required(
    attrs: &[Attribute],
    body: &Map<String, Value>,
    ext: Option<&str>,
) -> Result<(), ScimError> {
    for a in attrs {
        if a.required && a.mutability != Mutability::ReadOnly && !body.contains_key(&a.name) {
            let name = match ext {
                Some(u) => format!("{u}:{}", a.name),
                None => a.name.clone(),
            };
            return Err(ScimError::new(
                ErrorCode::MissingAttribute,
                format!("the required attribute '{name}' is missing"),
            ));
        }
    }
    Ok(())
}

/// Group members: `value` is required, `type` is `User` (the default: Okta sends none) or `Group`.
pub(crate) fn normalize_member(m: &mut Value) -> Result<(), ScimError> {
    let Value::Object(obj) = m else { return Ok(()) };
    if obj.get("value").and_then(Value::as_str).is_none_or(|s| s.is_empty()) {
        return Err(ScimError::invalid_value("a group member needs a non-empty 'value'"));
    }
    let kind = match obj.get("type").and_then(Value::as_str) {
        None => "User",
        Some(t) if t.eq_ignore_ascii_case("user") => "User",
        Some(t) if t.eq_ignore_ascii_case("group") => "Group",
        Some(t) => {
            return Err(ScimError::invalid_value(format!(
                "member type '{t}' is neither 'User' nor 'Group'"
            )));
        }
    };
    obj.insert("type".to_owned(), Value::String(kind.to_owned()));
    Ok(())
}

/// Checks and coerces a value for attribute `def`; `Ok(None)` means unassigned.
pub(crate) fn check_value(
    def: &Attribute,
    value: Value,
    mode: Mode,
) -> Result<Option<Value>, ScimError> {
    if def.multi_valued {
        let items = match value {
            Value::Null => return Ok(None),
            Value::Array(a) => a,
            // A single value where an array is expected: wrap it.
            other => vec![other],
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            if let Some(v) = check_single(def, item, mode)? {
                out.push(v);
            }
        }
        if out.is_empty() {
            return Ok(None);
        }
        check_one_primary(def, &out)?;
        Ok(Some(Value::Array(out)))
    } else {
        match value {
            Value::Array(mut a) if a.len() <= 1 => match a.pop() {
                Some(v) => check_single(def, v, mode),
                None => Ok(None),
            },
            Value::Array(_) => Err(ScimError::invalid_value(format!(
                "'{}' is single-valued but got an array",
                def.name
            ))),
            other => check_single(def, other, mode),
        }
    }
}

/// RFC 7643 2.4: the `primary` attribute may be true for at most one value.
pub(crate) fn check_one_primary(def: &Attribute, items: &[Value]) -> Result<(), ScimError> {
    let primaries =
        items.iter().filter(|v| v.get("primary").and_then(Value::as_bool) == Some(true)).count();
    if primaries > 1 {
        return Err(ScimError::invalid_value(format!(
            "at most one '{}' value may be primary (RFC 7643 2.4), got {primaries}",
            def.name
        )));
    }
    Ok(())
}

/// One value (an element, for a multi-valued attribute).
pub(crate) fn check_single(
    def: &Attribute,
    value: Value,
    mode: Mode,
) -> Result<Option<Value>, ScimError> {
    if def.kind != AttrType::Complex {
        return check_simple(def, value, None);
    }
    let obj = match value {
        Value::Null => return Ok(None),
        Value::Object(m) => m,
        // Entra sends `manager` as a bare id: it is the `value` sub-attribute.
        v @ (Value::String(_) | Value::Number(_) | Value::Bool(_))
            if def.sub_attribute("value").is_some() =>
        {
            let mut m = Map::new();
            m.insert("value".to_owned(), v);
            m
        }
        other => {
            return Err(ScimError::invalid_value(format!(
                "'{}' must be an object, not {}",
                def.name,
                json_kind(&other)
            )));
        }
    };
    let mut out = Map::with_capacity(obj.len());
    for (k, v) in obj {
        let Some(sub) = def.sub_attribute(&k) else { continue };
        if sub.mutability == Mutability::ReadOnly
            && def.mutability != Mutability::ReadOnly
            && mode == Mode::Input
        {
            continue;
        }
        match check_simple(sub, v, Some(&def.name))? {
            Some(x) => {
                out.insert(sub.name.clone(), x);
            }
            None => {
                out.shift_remove(&sub.name);
            }
        }
    }
    if out.is_empty() {
        return Ok(None);
    }
    for sub in &def.sub_attributes {
        if sub.required && sub.mutability != Mutability::ReadOnly && !out.contains_key(&sub.name) {
            return Err(ScimError::new(
                ErrorCode::MissingAttribute,
                format!("'{}.{}' is required", def.name, sub.name),
            ));
        }
    }
    Ok(Some(Value::Object(out)))
}

fn wrong_type(label: &str, expected: &str, got: &Value) -> ScimError {
    ScimError::invalid_value(format!("'{label}' must be {expected}, not {}", json_kind(got)))
}

/// A simple (non-complex) value of attribute `def`, a sub-attribute of `parent` if given
/// (which names it in errors).
pub(crate) fn check_simple(
    def: &Attribute,
    value: Value,
    parent: Option<&str>,
) -> Result<Option<Value>, ScimError> {
    // Built only on error: this runs for every value of every resource.
    let label = || match parent {
        Some(p) => format!("{p}.{}", def.name),
        None => def.name.clone(),
    };
    let v = match (def.kind, value) {
        (_, Value::Null) => return Ok(None),
        (AttrType::Complex, other) => {
            // RFC 7643 2.3.8: a complex attribute has no complex sub-attributes.
            return Err(wrong_type(&label(), "a simple value", &other));
        }
        (AttrType::String | AttrType::Reference, Value::String(s)) => Value::String(s),
        // Some identity providers send numbers for string attributes (employeeNumber).
        (AttrType::String, Value::Number(n)) => Value::String(n.to_string()),
        (AttrType::String | AttrType::Reference, other) => {
            return Err(wrong_type(&label(), "a string", &other));
        }
        (AttrType::Boolean, Value::Bool(b)) => Value::Bool(b),
        // Entra sends "True"/"False".
        (AttrType::Boolean, Value::String(s)) if s.trim().eq_ignore_ascii_case("true") => {
            Value::Bool(true)
        }
        (AttrType::Boolean, Value::String(s)) if s.trim().eq_ignore_ascii_case("false") => {
            Value::Bool(false)
        }
        (AttrType::Boolean, other) => return Err(wrong_type(&label(), "a boolean", &other)),
        (AttrType::Integer, Value::Number(n)) => match integer_of(&n) {
            Some(i) => Value::Number(i.into()),
            None => return Err(wrong_type(&label(), "an integer", &Value::Number(n))),
        },
        (AttrType::Integer, Value::String(s)) => match s.trim().parse::<i64>() {
            Ok(i) => Value::Number(i.into()),
            Err(_) => return Err(wrong_type(&label(), "an integer", &Value::String(s))),
        },
        (AttrType::Integer, other) => return Err(wrong_type(&label(), "an integer", &other)),
        (AttrType::Decimal, Value::Number(n)) => Value::Number(n),
        (AttrType::Decimal, Value::String(s)) => {
            match s.trim().parse::<f64>().ok().and_then(Number::from_f64) {
                Some(n) => Value::Number(n),
                None => return Err(wrong_type(&label(), "a decimal number", &Value::String(s))),
            }
        }
        (AttrType::Decimal, other) => return Err(wrong_type(&label(), "a decimal number", &other)),
        (AttrType::DateTime, Value::String(s)) => {
            if !is_date_time(&s) {
                return Err(ScimError::invalid_value(format!(
                    "'{}' must be an RFC 3339 date-time (e.g. 2008-01-23T04:56:22Z), got '{}'",
                    label(),
                    s.chars().take(64).collect::<String>()
                )));
            }
            Value::String(s)
        }
        (AttrType::DateTime, other) => {
            return Err(wrong_type(&label(), "a date-time string", &other));
        }
        (AttrType::Binary, Value::String(s)) => {
            if !is_base64(&s) {
                return Err(ScimError::invalid_value(format!("'{}' must be base64", label())));
            }
            Value::String(s)
        }
        (AttrType::Binary, other) => return Err(wrong_type(&label(), "a base64 string", &other)),
    };
    if def.strict_canonical_values
        && !def.canonical_values.is_empty()
        && let Value::String(s) = &v
    {
        return match def.canonical_values.iter().find(|c| c.eq_ignore_ascii_case(s)) {
            Some(c) => Ok(Some(Value::String(c.clone()))),
            None => Err(ScimError::invalid_value(format!(
                "'{}' must be one of {}, got '{}'",
                label(),
                def.canonical_values.join(", "),
                s.chars().take(64).collect::<String>()
            ))),
        };
    }
    Ok(Some(v))
}

fn integer_of(n: &Number) -> Option<i64> {
    if let Some(i) = n.as_i64() {
        return Some(i);
    }
    let f = n.as_f64()?;
    // 2^63 as f64; a whole float inside the i64 range is an integer written as 1.0.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if f.fract() == 0.0 && f > -LIMIT && f < LIMIT {
        #[allow(clippy::cast_possible_truncation)]
        Some(f as i64)
    } else {
        None
    }
}

fn digits(b: &[u8]) -> Option<u32> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0')))
}

/// RFC 3339 `date-time` (RFC 7643 2.3.5 refers to xsd:dateTime; a missing offset, which
/// xsd allows, is accepted), checked by hand: `YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM)`.
pub fn is_date_time(s: &str) -> bool {
    let b = s.as_bytes();
    let field = |from: usize, to: usize| b.get(from..to).and_then(digits);
    let (Some(year), Some(month), Some(day)) = (field(0, 4), field(5, 7), field(8, 10)) else {
        return false;
    };
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return false;
    }
    if !matches!(b.get(10), Some(b'T' | b't' | b' ')) {
        return false;
    }
    let (Some(hour), Some(min), Some(sec)) = (field(11, 13), field(14, 16), field(17, 19)) else {
        return false;
    };
    if b.get(13) != Some(&b':') || b.get(16) != Some(&b':') {
        return false;
    }
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    if day == 0 || day > days || hour > 23 || min > 59 || sec > 60 {
        return false;
    }
    let mut i = 19;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    match b.get(i) {
        None => true,
        Some(b'Z' | b'z') => i + 1 == b.len(),
        Some(b'+' | b'-') => {
            let (Some(oh), Some(om)) = (field(i + 1, i + 3), field(i + 4, i + 6)) else {
                return false;
            };
            b.get(i + 3) == Some(&b':') && i + 6 == b.len() && oh <= 23 && om <= 59
        }
        Some(_) => false,
    }
}

/// Base64 (RFC 4648 section 4, or the URL-safe alphabet of section 5), padded or not.
pub fn is_base64(s: &str) -> bool {
    let body = s.trim_end_matches('=');
    let pad = s.len() - body.len();
    if pad > 2 || (pad > 0 && !s.len().is_multiple_of(4)) || body.len() % 4 == 1 {
        return false;
    }
    body.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'-' | b'_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_times() {
        for ok in [
            "2008-01-23T04:56:22Z",
            "2008-01-23T04:56:22.123Z",
            "2024-02-29T23:59:60+01:00",
            "2008-01-23t04:56:22z",
            "2008-01-23T04:56:22",
        ] {
            assert!(is_date_time(ok), "{ok}");
        }
        for bad in [
            "",
            "2008-01-23",
            "2023-02-29T00:00:00Z",
            "2008-13-01T00:00:00Z",
            "2008-01-23T24:00:00Z",
            "2008-01-23T04:56:22.Z",
            "2008-01-23T04:56:22+1:00",
            "2008-01-23T04:56:22Zx",
            "２008-01-23T04:56:22Z",
        ] {
            assert!(!is_date_time(bad), "{bad}");
        }
    }

    #[test]
    fn base64() {
        assert!(is_base64("TWFu"));
        assert!(is_base64("TWE="));
        assert!(is_base64("TQ=="));
        assert!(is_base64("TQ"));
        assert!(!is_base64("T"));
        assert!(!is_base64("TQ==="));
        assert!(!is_base64("T Q=="));
    }
}
