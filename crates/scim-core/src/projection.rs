//! `attributes` and `excludedAttributes` (RFC 7644 3.4.2.5, 3.9), under the schema's
//! `returned` characteristic (RFC 7643 2.2).
//!
//! - `returned: never` and `writeOnly` attributes (`password`) are never returned.
//! - `returned: always` attributes (`id`, `schemas`) and `meta` are always returned.
//! - With `attributes`, only the named attributes (and the always-returned ones) are
//!   returned; `excludedAttributes` is then ignored (RFC 7644 3.9 lets a client send one of
//!   them). Without, every `default` attribute is returned except the excluded ones;
//!   `returned: request` attributes only when named in `attributes`.
//! - Names are case-insensitive and may be `attr`, `attr.sub` (`name.givenName`,
//!   `emails.value`: only that sub-attribute of each value), URN-qualified
//!   (`urn:...:enterprise:2.0:User:employeeNumber`) or a whole schema URN. Names that
//!   resolve to nothing are ignored. Without URN, a name only one extension declares
//!   resolves there (`manager`).
//! - Extension objects that end up empty are dropped, and `schemas` lists only the core
//!   schema and the extensions still present.

use crate::resource::Resource;
use crate::schema::{Attribute, Mutability, Registry, ResourceKind, Returned};
use serde_json::{Map, Value};

/// One parsed attribute name: `ext` is the extension URN (`None` for core and common
/// attributes); `name` `None` means the whole schema.
#[derive(Debug)]
struct Sel {
    ext: Option<String>,
    name: Option<String>,
    sub: Option<String>,
}

fn parse_sels(names: &[String], registry: &Registry, kind: ResourceKind) -> Vec<Sel> {
    let core = registry.resource_type(kind).schema.as_str();
    names
        .iter()
        .filter_map(|raw| {
            let raw = raw.trim();
            let (urn, rest) = match registry.split_urn(kind, raw) {
                Some((u, r)) => (Some(u), r),
                None => (None, raw),
            };
            let ext = urn.filter(|u| !u.eq_ignore_ascii_case(core));
            if rest.is_empty() {
                return urn.map(|_| Sel { ext: ext.map(str::to_owned), name: None, sub: None });
            }
            let (name, sub) = match rest.split_once('.') {
                Some((n, s)) => (n, Some(s)),
                None => (rest, None),
            };
            let resolved = crate::patch::resolve(registry, kind, ext, name)?;
            let ext = if resolved.extension { resolved.schema.map(str::to_owned) } else { None };
            Some(Sel {
                ext,
                name: Some(resolved.attribute.name.to_ascii_lowercase()),
                sub: sub.map(str::to_ascii_lowercase),
            })
        })
        .collect()
}

/// How a selection list covers an attribute.
#[derive(Debug, PartialEq)]
enum Cover {
    None,
    Whole,
    Subs(Vec<String>),
}

fn cover(sels: &[Sel], ext: Option<&str>, attr: &Attribute) -> Cover {
    let name = attr.name.to_ascii_lowercase();
    let mut subs = Vec::new();
    for s in sels {
        let same_schema = match (&s.ext, ext) {
            (None, None) => true,
            (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
            _ => false,
        };
        if !same_schema {
            continue;
        }
        match (&s.name, &s.sub) {
            (None, _) => return Cover::Whole,
            (Some(n), None) if *n == name => return Cover::Whole,
            (Some(n), Some(sub)) if *n == name => subs.push(sub.clone()),
            _ => {}
        }
    }
    if subs.is_empty() { Cover::None } else { Cover::Subs(subs) }
}

fn never(attr: &Attribute) -> bool {
    attr.returned == Returned::Never || attr.mutability == Mutability::WriteOnly
}

fn always(attr: &Attribute, ext: Option<&str>) -> bool {
    attr.returned == Returned::Always || (ext.is_none() && attr.name == "meta")
}

/// What to keep of one attribute: `None` drops it, `Some(None)` keeps all its returnable
/// sub-attributes, `Some(Some(subs))` keeps only those sub-attributes and excludes none;
/// `excluded_subs` are dropped.
struct Decision {
    keep: bool,
    only_subs: Option<Vec<String>>,
    excluded_subs: Vec<String>,
}

fn decide(attr: &Attribute, ext: Option<&str>, inc: &[Sel], exc: &[Sel]) -> Decision {
    let drop = Decision { keep: false, only_subs: None, excluded_subs: Vec::new() };
    let all = Decision { keep: true, only_subs: None, excluded_subs: Vec::new() };
    if never(attr) {
        return drop;
    }
    if always(attr, ext) {
        return all;
    }
    if !inc.is_empty() {
        return match cover(inc, ext, attr) {
            Cover::Whole => all,
            Cover::Subs(s) => {
                Decision { keep: true, only_subs: Some(s), excluded_subs: Vec::new() }
            }
            Cover::None => drop,
        };
    }
    if attr.returned == Returned::Request {
        return drop;
    }
    match cover(exc, ext, attr) {
        Cover::Whole => drop,
        Cover::Subs(s) => Decision { keep: true, only_subs: None, excluded_subs: s },
        Cover::None => all,
    }
}

fn project_value(attr: &Attribute, value: Value, d: &Decision) -> Option<Value> {
    if attr.sub_attributes.is_empty() {
        return Some(value);
    }
    let keep_sub = |k: &str| -> bool {
        let Some(sub) = attr.sub_attribute(k) else { return false };
        if never(sub) {
            return false;
        }
        if sub.returned == Returned::Always {
            return true;
        }
        let lk = sub.name.to_ascii_lowercase();
        match &d.only_subs {
            Some(only) => only.contains(&lk),
            None => sub.returned != Returned::Request && !d.excluded_subs.contains(&lk),
        }
    };
    let filter_obj = |mut m: Map<String, Value>| -> Option<Value> {
        m.retain(|k, _| keep_sub(k));
        (!m.is_empty()).then_some(Value::Object(m))
    };
    match value {
        Value::Object(m) => filter_obj(m),
        Value::Array(items) => {
            let out: Vec<Value> = items
                .into_iter()
                .filter_map(|el| match el {
                    Value::Object(m) => filter_obj(m),
                    other => Some(other),
                })
                .collect();
            (!out.is_empty()).then_some(Value::Array(out))
        }
        other => Some(other),
    }
}

/// Projects `resource` for a response (module docs); [`project_owned`] without the copy.
pub fn project(
    resource: &Resource,
    attributes: &[String],
    excluded: &[String],
    registry: &Registry,
    kind: ResourceKind,
) -> Resource {
    project_owned(resource.clone(), attributes, excluded, registry, kind)
}

/// Projects `resource` for a response (module docs), moving the values it keeps instead
/// of copying them: what a response renders from a resource it no longer needs.
pub fn project_owned(
    resource: Resource,
    attributes: &[String],
    excluded: &[String],
    registry: &Registry,
    kind: ResourceKind,
) -> Resource {
    let inc = parse_sels(attributes, registry, kind);
    let exc = parse_sels(excluded, registry, kind);
    let rt = registry.resource_type(kind);
    let mut schemas_in: Option<Value> = None;
    let mut out = Map::new();
    for (key, value) in resource.0 {
        if key.eq_ignore_ascii_case("schemas") {
            schemas_in = Some(value);
            continue;
        }
        if let Some(ext) = rt.schema_extensions.iter().find(|e| e.schema.eq_ignore_ascii_case(&key))
        {
            let (Some(schema), Value::Object(inner)) = (registry.schema(&ext.schema), value) else {
                continue;
            };
            let mut projected = Map::new();
            for (k, v) in inner {
                let Some(attr) = schema.attribute(&k) else { continue };
                let d = decide(attr, Some(&ext.schema), &inc, &exc);
                if d.keep
                    && let Some(v) = project_value(attr, v, &d)
                {
                    projected.insert(k, v);
                }
            }
            if !projected.is_empty() {
                out.insert(key, Value::Object(projected));
            }
            continue;
        }
        let Some(attr) = crate::validate::lookup(registry, kind, None, &key) else { continue };
        let d = decide(attr, None, &inc, &exc);
        if d.keep
            && let Some(v) = project_value(attr, value, &d)
        {
            out.insert(key, v);
        }
    }
    let mut result = Map::with_capacity(out.len() + 1);
    if let Some(declared) = schemas_in {
        let schemas: Vec<Value> = match declared {
            Value::Array(items) => items
                .into_iter()
                .filter(|s| {
                    s.as_str().is_some_and(|s| {
                        s.eq_ignore_ascii_case(&rt.schema)
                            || out.keys().any(|k| k.eq_ignore_ascii_case(s))
                    })
                })
                .collect(),
            _ => Vec::new(),
        };
        result.insert("schemas".to_owned(), Value::Array(schemas));
    }
    result.extend(out);
    Resource(result)
}

/// Whether a response projected with `attributes`/`excluded` would include the top-level
/// attribute `name` (wholly or some of its sub-attributes), so the store knows whether to
/// load it at all: `needs_attribute(&[], &["members".into()], "members", ..)` is `false`.
/// Unknown names are not needed.
pub fn needs_attribute(
    attributes: &[String],
    excluded: &[String],
    name: &str,
    registry: &Registry,
    kind: ResourceKind,
) -> bool {
    let inc = parse_sels(attributes, registry, kind);
    let exc = parse_sels(excluded, registry, kind);
    let (urn, rest) = match registry.split_urn(kind, name) {
        Some((u, r)) => (Some(u), r),
        None => (None, name),
    };
    let core = registry.resource_type(kind).schema.as_str();
    let Some(resolved) =
        crate::patch::resolve(registry, kind, urn.filter(|u| !u.eq_ignore_ascii_case(core)), rest)
    else {
        return false;
    };
    let ext = if resolved.extension { resolved.schema } else { None };
    decide(resolved.attribute, ext, &inc, &exc).keep
}
