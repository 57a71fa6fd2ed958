//! The evaluator: does a JSON resource match a filter (RFC 7644 3.4.2.2)?
//!
//! The semantics are documented on [`matches()`], which the SQL pushdown in
//! `scim-store` must agree with.

use super::{CompValue, CompareOp, Filter};
use crate::error::ScimError;
use crate::path::AttrPath;
use crate::resource::get_ci;
use crate::schema::{AttrType, Attribute, Registry, ResolvedAttr, ResourceKind};
use serde_json::{Map, Value};
use std::cmp::Ordering;

/// Whether `resource` (a JSON object) matches `filter`. Anything that is not an object
/// matches nothing.
///
/// Semantics (RFC 7644 3.4.2.2, and where the RFC leaves room, the choices the SQL
/// pushdown in `scim-store` must agree with):
///
/// - Attribute names and schema URNs match case-insensitively (RFC 7643 2.1); extension
///   attributes live under their schema URN key (RFC 7643 3.3). A path without URN names a
///   core-schema or common attribute, never an extension one.
/// - A multi-valued attribute matches when **any** of its values matches. A comparison on a
///   complex attribute without sub-attribute (`emails co "x"`) compares its `value`
///   sub-attribute (RFC 7644 3.4.2.2, "emails" example).
/// - Strings compare case-insensitively unless the schema says `caseExact`; attributes the
///   registry does not know compare case-insensitively. `dateTime` attributes compare as
///   instants (RFC 3339, any offset), integers and decimals numerically; `co`/`sw`/`ew` apply
///   to strings only.
/// - `ne` is exactly `not eq`: it matches an absent attribute, and a multi-valued attribute
///   matches `ne v` only when none of its values equals `v`.
/// - `eq null` is `not pr`, `ne null` is `pr`; other operators never match `null`.
/// - `pr` is true when the attribute has a value that is not `null`, `""`, `[]` or `{}`
///   (an array or object counts when any element or member does). A whole extension URN
///   (`urn:...:enterprise:2.0:User pr`) asks whether the resource carries that extension.
/// - Booleans match only `eq`/`ne`. `gt`/`ge`/`lt`/`le` on boolean and binary attributes
///   never match here; RFC 7644 3.4.2.2 makes them an `invalidFilter` error, which
///   [`Filter::validate`] reports. Values of mismatched JSON types never match. A
///   `dateTime` attribute compared (not `co`/`sw`/`ew`) with a string that is no dateTime
///   is compared as text here, and is an `invalidFilter` error for [`Filter::validate`].
pub fn matches(filter: &Filter, resource: &Value, registry: &Registry, kind: ResourceKind) -> bool {
    match resource {
        Value::Object(root) => Eval { registry, kind }.eval(filter, &Scope::Root(root)),
        _ => false,
    }
}

/// Whether `element`, one value of the multi-valued attribute `attr`, matches `filter`,
/// whose paths are relative to the element: what `attr[filter]` asks of each value, with
/// the semantics of [`matches()`]. Sub-attribute paths resolve against `attr`'s
/// sub-attributes (for `caseExact` and types); an element that is not an object (a
/// multi-valued attribute of simple values) is its own `value`. PATCH selects the values
/// a value filter targets with this (RFC 7644 3.5.2).
pub fn matches_element(
    filter: &Filter,
    element: &Value,
    attr: &Attribute,
    registry: &Registry,
    kind: ResourceKind,
) -> bool {
    Eval { registry, kind }.eval(filter, &Scope::Element { elem: element, parent: Some(attr) })
}

/// Resolves an attribute path of a filter to its schema definitions.
///
/// - `parent = None`: `path` is a top-level path (`userName`, `name.givenName`,
///   `meta.lastModified`, `urn:...:enterprise:2.0:User:manager.value`); names and URNs match
///   case-insensitively; a path without URN resolves in the core schema, then the common
///   attributes (`id`, `externalId`, `meta`, `schemas`).
/// - `parent = Some(p)`: `path` sits inside the value filter of `p` (`emails[type eq
///   "work"]` resolves `type` with parent `emails`); it must be a bare name (no URN, no
///   sub-attribute) of a sub-attribute of `p`, and the result is `p`'s attribute with
///   `sub_attribute` set.
///
/// Returns `None` when the path names nothing in the resource type, or names a whole
/// schema ([`AttrPath::is_schema`]). The result's [`ResolvedAttr::schema`] and
/// [`ResolvedAttr::extension`] tell where the value is stored: extension attributes under
/// their URN key, the rest at the top level. For a comparison use [`compared_attr`], which
/// applies the `value` sub-attribute rule.
pub fn resolve_path<'r>(
    path: &AttrPath,
    registry: &'r Registry,
    kind: ResourceKind,
    parent: Option<&AttrPath>,
) -> Option<ResolvedAttr<'r>> {
    match parent {
        None => {
            if path.is_schema() {
                return None;
            }
            registry.resolve_parts(kind, path.urn.as_deref(), &path.name, path.sub_attr.as_deref())
        }
        Some(parent) => {
            if path.urn.is_some() || path.sub_attr.is_some() {
                return None;
            }
            let p = resolve_path(parent, registry, kind, None)?;
            if p.sub_attribute.is_some() || p.attribute.kind != AttrType::Complex {
                return None;
            }
            let sub = p.attribute.sub_attribute(&path.name)?;
            Some(ResolvedAttr { sub_attribute: Some(sub), ..p })
        }
    }
}

/// Like [`resolve_path`], for the path of a comparison (`attrPath compareOp compValue`):
/// a complex attribute without sub-attribute resolves to its `value` sub-attribute, which
/// is what RFC 7644 3.4.2.2 compares (`emails co "example.com"`). `None` when the complex
/// attribute has no `value` sub-attribute (e.g. `name eq "x"`).
pub fn compared_attr<'r>(
    path: &AttrPath,
    registry: &'r Registry,
    kind: ResourceKind,
    parent: Option<&AttrPath>,
) -> Option<ResolvedAttr<'r>> {
    let r = resolve_path(path, registry, kind, parent)?;
    if r.sub_attribute.is_none() && r.attribute.kind == AttrType::Complex {
        let value = r.attribute.sub_attribute("value")?;
        return Some(ResolvedAttr { sub_attribute: Some(value), ..r });
    }
    Some(r)
}

impl Filter {
    /// Whether `resource` matches this filter; see [`matches()`].
    pub fn matches(&self, resource: &Value, registry: &Registry, kind: ResourceKind) -> bool {
        matches(self, resource, registry, kind)
    }

    /// Whether one value of the multi-valued attribute `attr` matches this filter, its
    /// paths relative to the value; see [`matches_element()`].
    pub fn matches_element(
        &self,
        element: &Value,
        attr: &Attribute,
        registry: &Registry,
        kind: ResourceKind,
    ) -> bool {
        matches_element(self, element, attr, registry, kind)
    }

    /// Checks that every attribute the filter names exists in the resource type's schemas,
    /// and that no operator is applied where RFC 7644 3.4.2.2 forbids it: an
    /// `invalidFilter` error otherwise. Callers choose whether to run it: RFC 7644 3.4.2.2
    /// allows rejecting unknown attributes, while [`matches()`] treats them as absent.
    ///
    /// Rejected: unknown attributes; a value filter `x[...]` on a non-complex attribute;
    /// paths inside `[...]` that are not sub-attributes of `x`; a nested value filter; a
    /// comparison on a complex attribute without a `value` sub-attribute; `gt`/`ge`/`lt`/
    /// `le` on boolean or binary attributes; `co`/`sw`/`ew` on boolean attributes. A whole
    /// extension URN is accepted with `pr` only.
    pub fn validate(&self, registry: &Registry, kind: ResourceKind) -> Result<(), ScimError> {
        self.validate_in(registry, kind, None)
    }

    fn validate_in(
        &self,
        registry: &Registry,
        kind: ResourceKind,
        parent: Option<&AttrPath>,
    ) -> Result<(), ScimError> {
        let unknown = |p: &AttrPath| match parent {
            None => ScimError::invalid_filter(format!(
                "invalid filter: attribute '{p}' is not defined for {} resources",
                kind.name()
            )),
            Some(parent) => ScimError::invalid_filter(format!(
                "invalid filter: '{p}' is not a sub-attribute of '{parent}'"
            )),
        };
        match self {
            // `urn:...:enterprise:2.0:User pr`: does the resource carry the extension?
            Filter::Present(p) if parent.is_none() && p.normalize(registry, kind).is_schema() => {
                Ok(())
            }
            Filter::Present(p) => {
                resolve_path(p, registry, kind, parent).map(|_| ()).ok_or_else(|| unknown(p))
            }
            Filter::Compare(p, op, value) => {
                if resolve_path(p, registry, kind, parent).is_none() {
                    return Err(unknown(p));
                }
                let Some(r) = compared_attr(p, registry, kind, parent) else {
                    return Err(ScimError::invalid_filter(format!(
                        "invalid filter: '{p}' is complex; compare one of its sub-attributes"
                    )));
                };
                let leaf = r.leaf().kind;
                let bad = (op.is_ordering()
                    && matches!(leaf, AttrType::Boolean | AttrType::Binary))
                    || (op.is_substring() && leaf == AttrType::Boolean);
                if bad {
                    return Err(ScimError::invalid_filter(format!(
                        "invalid filter: '{op}' cannot be applied to {} attribute '{p}'",
                        type_name(leaf)
                    )));
                }
                // RFC 7644 3.4.2.2: dateTime attributes compare chronologically, which
                // needs an instant on the right (substring operators compare the text).
                if let (AttrType::DateTime, false, super::CompValue::Str(s)) =
                    (leaf, op.is_substring(), value)
                    && parse_date_time(s).is_none()
                {
                    return Err(ScimError::invalid_filter(format!(
                        "invalid filter: '{s}' is not an RFC 3339 dateTime, which '{p}' holds"
                    )));
                }
                Ok(())
            }
            Filter::Not(inner) => inner.validate_in(registry, kind, parent),
            Filter::And(l, r) | Filter::Or(l, r) => {
                l.validate_in(registry, kind, parent)?;
                r.validate_in(registry, kind, parent)
            }
            Filter::ValuePath(p, inner) => {
                if parent.is_some() {
                    return Err(ScimError::invalid_filter(
                        "invalid filter: a value filter '[...]' cannot contain another",
                    ));
                }
                let r = resolve_path(p, registry, kind, None).ok_or_else(|| unknown(p))?;
                if r.sub_attribute.is_some() || r.attribute.kind != AttrType::Complex {
                    return Err(ScimError::invalid_filter(format!(
                        "invalid filter: '{p}[...]' needs a complex attribute"
                    )));
                }
                inner.validate_in(registry, kind, Some(p))
            }
        }
    }
}

fn type_name(t: AttrType) -> &'static str {
    match t {
        AttrType::String => "string",
        AttrType::Boolean => "boolean",
        AttrType::Decimal => "decimal",
        AttrType::Integer => "integer",
        AttrType::DateTime => "dateTime",
        AttrType::Binary => "binary",
        AttrType::Reference => "reference",
        AttrType::Complex => "complex",
    }
}

/// Where paths are looked up: the resource, or one element of a multi-valued attribute
/// inside a value filter.
enum Scope<'v, 'r> {
    Root(&'v Map<String, Value>),
    Element {
        elem: &'v Value,
        /// The definition of the attribute the element belongs to, when known.
        parent: Option<&'r Attribute>,
    },
}

struct Eval<'r> {
    registry: &'r Registry,
    kind: ResourceKind,
}

/// Whether a value counts as present for `pr` (RFC 7644 3.4.2.2).
fn present(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => a.iter().any(present),
        Value::Object(o) => o.values().any(present),
        Value::Bool(_) | Value::Number(_) => true,
    }
}

/// Calls `f` on `v`, or on each element when `v` is an array; true when any call is.
fn any_value<'v>(v: &'v Value, f: &mut impl FnMut(&'v Value) -> bool) -> bool {
    match v {
        Value::Array(items) => items.iter().any(f),
        other => f(other),
    }
}

impl<'r> Eval<'r> {
    fn eval(&self, filter: &Filter, scope: &Scope<'_, 'r>) -> bool {
        match filter {
            Filter::Not(inner) => !self.eval(inner, scope),
            Filter::And(l, r) => self.eval(l, scope) && self.eval(r, scope),
            Filter::Or(l, r) => self.eval(l, scope) || self.eval(r, scope),
            Filter::Present(p) => self.any(p, scope, false, &mut |v, _| present(v)),
            Filter::Compare(p, op, value) => self.compare(p, *op, value, scope),
            Filter::ValuePath(p, inner) => {
                let Scope::Root(_) = scope else {
                    // The grammar forbids `[` inside `[`; such a hand-built AST matches nothing.
                    return false;
                };
                let parent = resolve_path(p, self.registry, self.kind, None).map(|r| r.leaf());
                let Some(v) = self.top_value(p, scope) else { return false };
                let v = match p.sub_attr.as_deref() {
                    None => v,
                    Some(sub) => match v.as_object().and_then(|o| get_ci(o, sub)) {
                        Some(s) => s,
                        None => return false,
                    },
                };
                any_value(v, &mut |elem| self.eval(inner, &Scope::Element { elem, parent }))
            }
        }
    }

    fn compare(
        &self,
        p: &AttrPath,
        op: CompareOp,
        value: &CompValue,
        scope: &Scope<'_, 'r>,
    ) -> bool {
        match (op, value) {
            (CompareOp::Eq, CompValue::Null) => !self.any(p, scope, false, &mut |v, _| present(v)),
            (CompareOp::Ne, CompValue::Null) => self.any(p, scope, false, &mut |v, _| present(v)),
            (_, CompValue::Null) => false,
            (CompareOp::Ne, _) => !self.compare(p, CompareOp::Eq, value, scope),
            _ => self.any(p, scope, true, &mut |v, def| compare_one(v, op, value, def)),
        }
    }

    /// The value of the top-level attribute `p` names (before any sub-attribute).
    fn top_value<'v>(&self, p: &AttrPath, scope: &Scope<'v, 'r>) -> Option<&'v Value> {
        let root = match scope {
            Scope::Root(root) => *root,
            Scope::Element { elem, .. } => {
                return match elem {
                    _ if p.urn.is_some() => None,
                    Value::Object(o) => get_ci(o, &p.name),
                    // A simple value is its own `value`.
                    other if p.name.eq_ignore_ascii_case("value") => Some(other),
                    _ => None,
                };
            }
        };
        let Some(urn) = p.urn.as_deref() else { return get_ci(root, &p.name) };
        match self.registry.schema_of(self.kind, urn) {
            // The core schema's attributes (and the common ones) are top-level.
            Some(s) if s.eq_ignore_ascii_case(self.kind.core_schema()) => get_ci(root, &p.name),
            Some(s) if p.name.is_empty() => get_ci(root, s),
            Some(s) => get_ci(get_ci(root, s)?.as_object()?, &p.name),
            None if p.sub_attr.is_none() => {
                // A whole extension URN split naively at its last ':' (`...:2.0` + `User`).
                let whole = format!("{urn}:{}", p.name);
                self.registry.schema_of(self.kind, &whole).and_then(|s| get_ci(root, s))
            }
            None => None,
        }
    }

    /// Calls `f` on every value `p` reaches in `scope` (arrays flattened), with the leaf's
    /// definition; true when any call is. With `compare`, a complex attribute without
    /// sub-attribute yields its elements' `value` sub-attribute.
    fn any(
        &self,
        p: &AttrPath,
        scope: &Scope<'_, 'r>,
        compare: bool,
        f: &mut impl FnMut(&Value, Option<&Attribute>) -> bool,
    ) -> bool {
        let Some(top) = self.top_value(p, scope) else { return false };
        let def = match scope {
            Scope::Root(_) => resolve_path(p, self.registry, self.kind, None).map(|r| r.leaf()),
            Scope::Element { parent, .. } => parent.and_then(|a| match a.kind {
                AttrType::Complex => a.sub_attribute(&p.name),
                _ if p.name.eq_ignore_ascii_case("value") => Some(a),
                _ => None,
            }),
        };
        let sub = match (p.sub_attr.as_deref(), def) {
            (Some(sub), _) => Some(sub),
            (None, Some(d)) if compare && d.kind == AttrType::Complex => Some("value"),
            (None, None) if compare && is_complex(top) => Some("value"),
            (None, _) => None,
        };
        let def = match (p.sub_attr.is_none() && sub.is_some(), def) {
            (true, Some(d)) => d.sub_attribute("value"),
            (_, d) => d,
        };
        match sub {
            None => any_value(top, &mut |v| f(v, def)),
            Some(sub) => any_value(top, &mut |elem| {
                elem.as_object()
                    .and_then(|o| get_ci(o, sub))
                    .is_some_and(|v| any_value(v, &mut |x| f(x, def)))
            }),
        }
    }
}

/// Whether a value of an unknown attribute looks complex (an object, or objects).
fn is_complex(v: &Value) -> bool {
    match v {
        Value::Object(_) => true,
        Value::Array(items) => items.first().is_some_and(Value::is_object),
        _ => false,
    }
}

/// One attribute value against the operator value (`null` handled by the caller).
fn compare_one(v: &Value, op: CompareOp, value: &CompValue, def: Option<&Attribute>) -> bool {
    let kind = def.map(|d| d.kind);
    match (v, value) {
        (Value::String(s), CompValue::Str(c)) => {
            if kind == Some(AttrType::Binary) && op.is_ordering() {
                return false;
            }
            if kind == Some(AttrType::DateTime)
                && !op.is_substring()
                && let (Some(a), Some(b)) = (parse_date_time(s), parse_date_time(c))
            {
                return ordered(a.cmp(&b), op);
            }
            compare_str(s, c, op, def.is_some_and(|d| d.case_exact))
        }
        (Value::Number(n), CompValue::Number(c)) if !op.is_substring() => {
            compare_numbers(n, c).is_some_and(|o| ordered(o, op))
        }
        (Value::Bool(b), CompValue::Bool(c)) => op == CompareOp::Eq && b == c,
        _ => false,
    }
}

/// Whether `ord` (attribute value against operator value) satisfies an ordering or
/// equality operator.
fn ordered(ord: Ordering, op: CompareOp) -> bool {
    match op {
        CompareOp::Eq => ord == Ordering::Equal,
        CompareOp::Ne => ord != Ordering::Equal,
        CompareOp::Gt => ord == Ordering::Greater,
        CompareOp::Ge => ord != Ordering::Less,
        CompareOp::Lt => ord == Ordering::Less,
        CompareOp::Le => ord != Ordering::Greater,
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
    }
}

fn compare_numbers(a: &serde_json::Number, b: &serde_json::Number) -> Option<Ordering> {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return Some(x.cmp(&y));
    }
    if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
        return Some(x.cmp(&y));
    }
    a.as_f64()?.partial_cmp(&b.as_f64()?)
}

fn compare_str(s: &str, c: &str, op: CompareOp, case_exact: bool) -> bool {
    if case_exact {
        return str_op(s, c, op);
    }
    if op == CompareOp::Eq && s.is_ascii() && c.is_ascii() {
        // Fast path for the common `userName eq "..."`.
        return s.eq_ignore_ascii_case(c);
    }
    str_op(&s.to_lowercase(), &c.to_lowercase(), op)
}

fn str_op(s: &str, c: &str, op: CompareOp) -> bool {
    match op {
        CompareOp::Co => s.contains(c),
        CompareOp::Sw => s.starts_with(c),
        CompareOp::Ew => s.ends_with(c),
        _ => ordered(s.cmp(c), op),
    }
}

/// An instant: seconds since 1970-01-01T00:00:00Z and nanoseconds.
type Instant = (i64, u32);

/// Parses an RFC 3339 / `xsd:dateTime` timestamp (`2011-05-13T04:42:34.5+02:00`) into an
/// instant. A missing offset is read as UTC (xsd allows it). By hand: scim-core takes no
/// date-time dependency.
pub(crate) fn parse_date_time(s: &str) -> Option<Instant> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let digits = s.get(from..from + len)?;
        if !digits.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok()
    };
    let at = |i: usize| b.get(i).copied();
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    if at(4) != Some(b'-') || at(7) != Some(b'-') || !matches!(at(10), Some(b'T' | b't' | b' ')) {
        return None;
    }
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if at(13) != Some(b':') || at(16) != Some(b':') {
        return None;
    }
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => return None,
    };
    // Second 60 is a leap second (RFC 3339 5.6); it sorts as the next second's start.
    if day < 1 || day > days_in_month || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut i = 19;
    let mut nanos: u32 = 0;
    if at(i) == Some(b'.') {
        let start = i + 1;
        i = start;
        while at(i).is_some_and(|c| c.is_ascii_digit()) {
            if i - start < 9 {
                nanos = nanos * 10 + u32::from(at(i)? - b'0');
            }
            i += 1;
        }
        if i == start {
            return None;
        }
        for _ in (i - start)..9 {
            nanos *= 10;
        }
    }
    let offset = match at(i) {
        None => 0,
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(sign @ (b'+' | b'-')) if i + 6 == b.len() && at(i + 3) == Some(b':') => {
            let (oh, om) = (num(i + 1, 2)?, num(i + 4, 2)?);
            if oh > 23 || om > 59 {
                return None;
            }
            let o = oh * 3600 + om * 60;
            if sign == b'-' { -o } else { o }
        }
        _ => return None,
    };
    let secs = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
    Some((secs - offset, nanos))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_times() {
        assert_eq!(parse_date_time("1970-01-01T00:00:00Z"), Some((0, 0)));
        assert_eq!(parse_date_time("1970-01-02T00:00:00.5Z"), Some((86_400, 500_000_000)));
        assert_eq!(parse_date_time("2011-05-13T04:42:34Z"), Some((1_305_261_754, 0)));
        assert_eq!(
            parse_date_time("2011-05-13T06:42:34+02:00"),
            parse_date_time("2011-05-13T04:42:34Z")
        );
        assert_eq!(parse_date_time("2024-02-29T00:00:00"), Some((1_709_164_800, 0)));
        for bad in [
            "2023-02-29T00:00:00Z",
            "2011-05-13",
            "2011-05-13T04:42:34Zx",
            "2011-13-01T00:00:00Z",
            "x",
        ] {
            assert_eq!(parse_date_time(bad), None, "{bad}");
        }
    }
}
