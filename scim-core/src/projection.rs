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
//!   resolve to nothing are ignored. Names resolve with [`Registry::resolve_lenient`], as
//!   PATCH paths do: without URN, a name only one extension declares resolves there
//!   (`manager`).
//! - Extension objects that end up empty are dropped, and `schemas` lists only the core
//!   schema and the extensions still present.

use crate::resource::Resource;
pub use crate::scan::RawText;
use crate::schema::{Attribute, Mutability, Registry, ResourceKind, Returned, Schema};
use serde_json::{Map, Value};
use std::borrow::Cow;

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
            let resolved = registry.resolve_lenient(kind, ext, name, None)?;
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
    if sels.is_empty() {
        return Cover::None;
    }
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

/// Whether sub-attribute `k` of `attr` survives decision `d`.
fn keep_sub(attr: &Attribute, d: &Decision, k: &str) -> bool {
    let Some(sub) = attr.sub_attribute(k) else { return false };
    if never(sub) {
        return false;
    }
    if sub.returned == Returned::Always {
        return true;
    }
    let named = |list: &[String]| list.iter().any(|n| n.eq_ignore_ascii_case(&sub.name));
    match &d.only_subs {
        Some(only) => named(only),
        None => sub.returned != Returned::Request && !named(&d.excluded_subs),
    }
}

fn project_value(attr: &Attribute, value: Value, d: &Decision) -> Option<Value> {
    if attr.sub_attributes.is_empty() {
        return Some(value);
    }
    let filter_obj = |mut m: Map<String, Value>| -> Option<Value> {
        m.retain(|k, _| keep_sub(attr, d, k));
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
    Projector::new(attributes, excluded, registry, kind).project(resource)
}

/// One top-level member of a resource handed to [`Projector::write`]: JSON text as stored
/// (not parsed into a tree unless the projection has to look inside it) or a value.
#[derive(Debug)]
pub enum Part<'a> {
    /// JSON text, written out as it is when the projection keeps all of it.
    Raw(RawText<'a>),
    /// JSON text this crate wrote, handled as [`Part::Raw`].
    Text(JsonText),
    /// A value.
    Value(Value),
}

/// One top-level member for [`Projector::write`]: its name and its value.
pub type Member<'a> = (Cow<'a, str>, Part<'a>);

/// JSON text written by this crate (valid by construction, so not checked again): what
/// [`Part::Text`] holds, an object with the outline its writer noted (the ranges of its
/// keys), so a projection does not read the text again to see its keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonText(pub(crate) String, pub(crate) crate::scan::Outline);

impl JsonText {
    /// The text.
    pub fn get(&self) -> &str {
        &self.0
    }
}

/// A projection (`attributes`, `excludedAttributes`) parsed once, for every resource of a
/// response (module docs).
#[derive(Debug)]
pub struct Projector<'r> {
    inc: Vec<Sel>,
    exc: Vec<Sel>,
    registry: &'r Registry,
    kind: ResourceKind,
    /// The core schema of `kind`, found once rather than for every member written.
    core: Option<&'r Schema>,
}

impl<'r> Projector<'r> {
    /// Parses `attributes` and `excluded` for resources of `kind`.
    pub fn new(
        attributes: &[String],
        excluded: &[String],
        registry: &'r Registry,
        kind: ResourceKind,
    ) -> Self {
        Self {
            inc: parse_sels(attributes, registry, kind),
            exc: parse_sels(excluded, registry, kind),
            registry,
            kind,
            core: registry.schema(&registry.resource_type(kind).schema),
        }
    }

    /// The core or common attribute a top-level member `key` names (what
    /// `validate::lookup` without a URN finds: the core schema first).
    fn attribute(&self, key: &str) -> Option<&'r Attribute> {
        // Stored documents spell every name as the schemas do, so an exact match in either
        // list comes first: `id` and `meta` are common attributes, and looking them up in
        // the core schema first meant a case-insensitive pass over all of its attributes
        // for each resource. The order cannot change the answer: no core attribute shares
        // a name with a common one, even case-insensitively (a test checks it).
        let exact =
            |attrs: &'r [Attribute]| attrs.iter().find(|a| crate::schema::same_name(&a.name, key));
        self.core
            .and_then(|s| exact(&s.attributes))
            .or_else(|| exact(self.registry.common_attributes()))
            .or_else(|| self.core.and_then(|s| s.attribute(key)))
            .or_else(|| self.registry.common_attr(key))
    }

    /// The extension of this resource type that `key` names, with its schema.
    fn extension(&self, key: &str) -> Option<(&'r str, Option<&'r crate::schema::Schema>)> {
        let rt = self.registry.resource_type(self.kind);
        rt.schema_extensions
            .iter()
            .find(|e| e.schema.eq_ignore_ascii_case(key))
            .map(|e| (e.schema.as_str(), self.registry.schema(&e.schema)))
    }

    /// Projects `resource` (module docs).
    pub fn project(&self, resource: Resource) -> Resource {
        let mut schemas_in: Option<Value> = None;
        let mut out = Map::new();
        for (key, value) in resource.0 {
            if key.eq_ignore_ascii_case("schemas") {
                schemas_in = Some(value);
                continue;
            }
            if let Some((urn, schema)) = self.extension(&key) {
                let (Some(schema), Value::Object(inner)) = (schema, value) else {
                    continue;
                };
                let mut projected = Map::new();
                for (k, v) in inner {
                    let Some(attr) = schema.attribute(&k) else { continue };
                    let d = decide(attr, Some(urn), &self.inc, &self.exc);
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
            let Some(attr) = self.attribute(&key) else {
                continue;
            };
            let d = decide(attr, None, &self.inc, &self.exc);
            if d.keep
                && let Some(v) = project_value(attr, value, &d)
            {
                out.insert(key, v);
            }
        }
        let mut result = Map::with_capacity(out.len() + 1);
        if let Some(declared) = schemas_in {
            let schemas = self.schemas(declared, |s| out.keys().any(|k| k.eq_ignore_ascii_case(s)));
            result.insert("schemas".to_owned(), Value::Array(schemas));
        }
        result.extend(out);
        Resource(result)
    }

    /// The declared `schemas` kept in a response: the core schema and the schemas still
    /// present (`present` says whether a top-level key of the response matches).
    fn schemas(&self, declared: Value, present: impl Fn(&str) -> bool) -> Vec<Value> {
        let core = &self.registry.resource_type(self.kind).schema;
        match declared {
            Value::Array(items) => items
                .into_iter()
                .filter(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(core) || present(s)))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Writes what serialising [`Projector::schemas`] of the strings `urns` gives, for
    /// strings that need no escape.
    fn write_schemas(&self, urns: Vec<&str>, present: impl Fn(&str) -> bool, out: &mut Vec<u8>) {
        let core = &self.registry.resource_type(self.kind).schema;
        out.push(b'[');
        let mut first = true;
        for urn in urns.into_iter().filter(|s| s.eq_ignore_ascii_case(core) || present(s)) {
            if !first {
                out.push(b',');
            }
            first = false;
            out.push(b'"');
            out.extend_from_slice(urn.as_bytes());
            out.push(b'"');
        }
        out.push(b']');
    }

    /// Writes the projection of the resource made of `members` (its top-level attributes
    /// in order) to `out` as a JSON object: exactly what serialising
    /// [`Projector::project`] of the same resource writes, without parsing into a tree the
    /// stored text of attributes the projection keeps whole.
    ///
    /// Errors only when a [`Part::Raw`] is not valid JSON.
    pub fn write<'a>(
        &self,
        members: impl IntoIterator<Item = Member<'a>>,
        out: &mut Vec<u8>,
    ) -> Result<(), serde_json::Error> {
        let mut w = Writer::new(self);
        for (key, part) in members {
            w.member(key, part)?;
        }
        w.finish(out)
    }

    /// [`Projector::write`] of `head`, then the members of the stored JSON object `doc`
    /// (as [`Part::Raw`]), then `tail`: the same bytes, with `doc` read once as it is
    /// written rather than split into members first.
    ///
    /// Errors only when `doc` is not a JSON object or a [`Part::Raw`] is not valid JSON.
    pub fn write_stored<'a>(
        &self,
        head: impl IntoIterator<Item = Member<'a>>,
        doc: &'a str,
        tail: impl IntoIterator<Item = Member<'a>>,
        out: &mut Vec<u8>,
    ) -> Result<(), serde_json::Error> {
        let mut w = Writer::new(self);
        for (key, part) in head {
            w.member(key, part)?;
        }
        crate::scan::each_member(doc, |key, value| w.stored_member(key, value))?;
        for (key, part) in tail {
            w.member(key, part)?;
        }
        w.finish(out)
    }
}

/// One run of [`Projector::write`]: the members kept so far, written to `body`, and the
/// declared `schemas`, written first once the rest is known.
struct Writer<'p, 'r, 'a> {
    projector: &'p Projector<'r>,
    schemas_in: Option<Part<'a>>,
    body: Vec<u8>,
    kept: Vec<Cow<'a, str>>,
}

impl<'p, 'r, 'a> Writer<'p, 'r, 'a> {
    fn new(projector: &'p Projector<'r>) -> Self {
        Self {
            projector,
            schemas_in: None,
            // A stored user's text is about a kilobyte, with about twenty members: room
            // for them without growing.
            body: Vec::with_capacity(1536),
            kept: Vec::with_capacity(24),
        }
    }

    /// Writes member `key` when the projection keeps any of it.
    fn member(&mut self, key: Cow<'a, str>, part: Part<'a>) -> Result<(), serde_json::Error> {
        let p = self.projector;
        if key.eq_ignore_ascii_case("schemas") {
            self.schemas_in = Some(part);
            return Ok(());
        }
        if let Some((urn, schema)) = p.extension(&key) {
            let Some(schema) = schema else { return Ok(()) };
            let inner: Vec<(Cow<'a, str>, Part<'a>)> = match part {
                Part::Raw(raw) => match raw_entries(raw.get())? {
                    Some(entries) => entries.into_iter().map(|(k, v)| (k, Part::Raw(v))).collect(),
                    None => return Ok(()),
                },
                Part::Value(Value::Object(m)) => {
                    m.into_iter().map(|(k, v)| (Cow::Owned(k), Part::Value(v))).collect()
                }
                Part::Text(t) => match serde_json::from_str(t.get())? {
                    Value::Object(m) => {
                        m.into_iter().map(|(k, v)| (Cow::Owned(k), Part::Value(v))).collect()
                    }
                    _ => return Ok(()),
                },
                Part::Value(_) => return Ok(()),
            };
            let mut obj: Vec<u8> = Vec::new();
            let mut any = false;
            for (k, v) in inner {
                let Some(attr) = schema.attribute(&k) else { continue };
                let d = decide(attr, Some(urn), &p.inc, &p.exc);
                if d.keep && write_member(&mut obj, !any, &k, attr, v, &d)? {
                    any = true;
                }
            }
            if any {
                if !self.kept.is_empty() {
                    self.body.push(b',');
                }
                crate::scan::write_str(&mut self.body, key.as_ref())?;
                self.body.extend_from_slice(b":{");
                self.body.extend_from_slice(&obj);
                self.body.push(b'}');
                self.kept.push(key);
            }
            return Ok(());
        }
        let Some(attr) = p.attribute(&key) else {
            return Ok(());
        };
        let d = decide(attr, None, &p.inc, &p.exc);
        if d.keep && write_member(&mut self.body, self.kept.is_empty(), &key, attr, part, &d)? {
            self.kept.push(key);
        }
        Ok(())
    }

    /// [`Writer::member`] of a member of stored text: a core or common attribute's value
    /// is read once, and copied when the projection keeps all of it.
    fn stored_member(
        &mut self,
        key: Cow<'a, str>,
        value: &mut crate::scan::MemberValue<'_, 'a>,
    ) -> Result<(), serde_json::Error> {
        let p = self.projector;
        if key.eq_ignore_ascii_case("schemas") || p.extension(&key).is_some() {
            let text = value.skip()?;
            return self.member(key, Part::Raw(RawText::read(text)));
        }
        let Some(attr) = p.attribute(&key) else {
            value.skip()?;
            return Ok(());
        };
        let d = decide(attr, None, &p.inc, &p.exc);
        if !d.keep {
            value.skip()?;
            return Ok(());
        }
        let (text, whole) = if attr.sub_attributes.is_empty() {
            (value.skip()?, true)
        } else {
            value.kept(&|k: &str| keep_sub(attr, &d, k))?
        };
        let first = self.kept.is_empty();
        if write_text(&mut self.body, first, &key, attr, text, whole, &d)? {
            self.kept.push(key);
        }
        Ok(())
    }

    /// Writes the object to `out`: `schemas` (the declared ones still present), then the
    /// members kept.
    fn finish(self, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
        let Self { projector, schemas_in, body, kept } = self;
        out.push(b'{');
        if let Some(declared) = schemas_in {
            let present = |s: &str| kept.iter().any(|k| k.eq_ignore_ascii_case(s));
            out.extend_from_slice(b"\"schemas\":");
            let text = match &declared {
                Part::Raw(raw) => Some(raw.get()),
                Part::Text(t) => Some(t.get()),
                Part::Value(_) => None,
            };
            // The stored list is URNs without escapes: written from its text, as the
            // value below would be, without building it.
            match text.map(crate::scan::plain_strings).transpose()?.flatten() {
                Some(urns) => projector.write_schemas(urns, present, out),
                None => {
                    let declared = match declared {
                        Part::Raw(raw) => serde_json::from_str(raw.get())?,
                        Part::Text(t) => serde_json::from_str(t.get())?,
                        Part::Value(v) => v,
                    };
                    serde_json::to_writer(&mut *out, &projector.schemas(declared, present))?;
                }
            }
            if !kept.is_empty() {
                out.push(b',');
            }
        }
        out.extend_from_slice(&body);
        out.push(b'}');
        Ok(())
    }
}

/// Writes `"key":<projected value>` (after a comma unless `first`) when the projection of
/// `part` is not empty; says whether it wrote.
fn write_member(
    out: &mut Vec<u8>,
    first: bool,
    key: &str,
    attr: &Attribute,
    part: Part<'_>,
    d: &Decision,
) -> Result<bool, serde_json::Error> {
    match part {
        Part::Raw(raw) => {
            let whole = attr.sub_attributes.is_empty()
                || crate::scan::kept(&raw, &|k: &str| keep_sub(attr, d, k))?;
            write_text(out, first, key, attr, raw.get(), whole, d)
        }
        Part::Text(t) => {
            let whole = attr.sub_attributes.is_empty()
                || crate::scan::kept_outlined(t.get(), &t.1, &|k: &str| keep_sub(attr, d, k))?;
            write_text(out, first, key, attr, t.get(), whole, d)
        }
        Part::Value(v) => match project_value(attr, v, d) {
            Some(v) => {
                write_key(out, first, key)?;
                serde_json::to_writer(&mut *out, &v)?;
                Ok(true)
            }
            None => Ok(false),
        },
    }
}

/// [`write_member`] of JSON text: copied when the projection keeps all of it (`whole`).
fn write_text(
    out: &mut Vec<u8>,
    first: bool,
    key: &str,
    attr: &Attribute,
    text: &str,
    whole: bool,
    d: &Decision,
) -> Result<bool, serde_json::Error> {
    if whole {
        write_key(out, first, key)?;
        out.extend_from_slice(text.as_bytes());
        return Ok(true);
    }
    write_member(out, first, key, attr, Part::Value(serde_json::from_str(text)?), d)
}

/// `"key":`, after a comma unless `first`.
fn write_key(out: &mut Vec<u8>, first: bool, key: &str) -> Result<(), serde_json::Error> {
    if !first {
        out.push(b',');
    }
    crate::scan::write_str(out, key)?;
    out.push(b':');
    Ok(())
}

/// The members of a JSON object in order: each key (borrowed where it holds no escapes)
/// with its value's text.
pub type RawMembers<'a> = Vec<(Cow<'a, str>, RawText<'a>)>;

/// The members of a JSON object as text (`None` when `text` is not an object), keys
/// borrowed where they hold no escapes.
pub fn raw_entries(text: &str) -> Result<Option<RawMembers<'_>>, serde_json::Error> {
    if text.trim_start().as_bytes().first() != Some(&b'{') {
        return Ok(None);
    }
    Ok(Some(raw_object(text)?))
}

/// The members of the JSON object `text`, in order, values as text (see [`crate::scan`]).
pub fn raw_object(text: &str) -> Result<RawMembers<'_>, serde_json::Error> {
    crate::scan::members(text)
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
    let Some(resolved) = registry.resolve_lenient(kind, urn, rest, None) else {
        return false;
    };
    let ext = if resolved.extension { resolved.schema } else { None };
    decide(resolved.attribute, ext, &inc, &exc).keep
}
