//! proptest strategies for filters (feature `proptest`), shared by this crate's property
//! tests and by `scim-store`'s differential test, which feeds the same generator
//! schema-aware leaves instead of random attribute names.

use crate::filter::{CompValue, CompareOp, Filter};
use crate::path::AttrPath;
use crate::schema::{ENTERPRISE_USER_SCHEMA, USER_SCHEMA};
use proptest::prelude::*;

/// A schema URN: the core and enterprise User schemas, or random `urn:...` text.
pub fn urn() -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        Just(USER_SCHEMA.to_owned()),
        Just(ENTERPRISE_USER_SCHEMA.to_owned()),
        "[uU][rR][nN](:[A-Za-z0-9.-]{1,6}){1,4}",
    ]
}

/// An attribute name, keywords of the filter language included.
pub fn attr_name() -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        8 => "[A-Za-z][A-Za-z0-9_-]{0,8}",
        1 => Just("$ref".to_owned()),
        1 => prop::sample::select(vec!["not", "and", "or", "pr", "eq", "true", "null", "Not"]).prop_map(str::to_owned),
    ]
}

/// A random attribute path (URN and sub-attribute optional).
pub fn attr_path() -> impl Strategy<Value = AttrPath> + Clone {
    (prop::option::weighted(0.2, urn()), attr_name(), prop::option::weighted(0.3, attr_name()))
        .prop_map(|(urn, name, sub_attr)| AttrPath { urn, name, sub_attr })
}

/// Any comparison value: `null`, booleans, integers, finite floats, any string.
pub fn comp_value() -> impl Strategy<Value = CompValue> + Clone {
    prop_oneof![
        Just(CompValue::Null),
        any::<bool>().prop_map(CompValue::Bool),
        any::<i64>().prop_map(|n| CompValue::Number(n.into())),
        any::<u64>().prop_map(|n| CompValue::Number(n.into())),
        prop::num::f64::NORMAL
            .prop_filter_map("finite", serde_json::Number::from_f64)
            .prop_map(CompValue::Number),
        ".*".prop_map(CompValue::Str),
    ]
}

/// Any comparison operator.
pub fn op() -> impl Strategy<Value = CompareOp> + Clone {
    prop::sample::select(CompareOp::ALL.to_vec())
}

/// A leaf over `paths` and `values`: `path op value`, or `path pr`.
pub fn leaf_of(
    paths: impl Strategy<Value = AttrPath> + Clone,
    values: impl Strategy<Value = CompValue>,
) -> impl Strategy<Value = Filter> {
    prop_oneof![
        (paths.clone(), op(), values).prop_map(|(p, o, v)| Filter::Compare(p, o, v)),
        paths.prop_map(Filter::Present),
    ]
}

/// `not`, `and` and `or` over `leaf`, at most `depth` levels deep.
pub fn logic_over(
    leaf: impl Strategy<Value = Filter> + 'static,
    depth: u32,
) -> impl Strategy<Value = Filter> {
    leaf.prop_recursive(depth, 24, 2, |inner| {
        prop_oneof![
            inner.clone().prop_map(Filter::negate),
            (inner.clone(), inner.clone()).prop_map(|(l, r)| Filter::and(l, r)),
            (inner.clone(), inner).prop_map(|(l, r)| Filter::or(l, r)),
        ]
    })
}

/// A whole filter: leaves (3 in 4) and value filters `attr[inner]` (1 in 4) combined with
/// `not`, `and` and `or`.
pub fn filter_over(
    leaf: impl Strategy<Value = Filter> + 'static,
    value_path: impl Strategy<Value = Filter> + 'static,
) -> impl Strategy<Value = Filter> {
    prop_oneof![3 => leaf, 1 => value_path].prop_recursive(5, 32, 2, |inner| {
        prop_oneof![
            inner.clone().prop_map(Filter::negate),
            (inner.clone(), inner.clone()).prop_map(|(l, r)| Filter::and(l, r)),
            (inner.clone(), inner).prop_map(|(l, r)| Filter::or(l, r)),
        ]
    })
}

/// A random leaf: random path, operator and value.
pub fn leaf() -> impl Strategy<Value = Filter> {
    leaf_of(attr_path(), comp_value())
}

/// Filters valid inside `[...]`: no value paths.
pub fn val_filter() -> impl Strategy<Value = Filter> {
    logic_over(leaf(), 4)
}

/// Random filters of the whole grammar (syntax only: most attributes are unknown).
pub fn filter() -> impl Strategy<Value = Filter> {
    let value_path = (attr_path(), val_filter())
        .prop_map(|(p, f)| Filter::ValuePath(p.without_sub_attr(), Box::new(f)));
    filter_over(leaf(), value_path)
}

/// One edit of a text (see [`damaged`]): where (any position, the end included), how
/// (`0` deletes the character there, `1` replaces it, anything else inserts before it)
/// and the character that goes in.
pub type Edit = (prop::sample::Index, u8, char);

/// Edits that damage a text, `count` of them, each putting in one of `noise`.
pub fn edits(
    noise: &'static [char],
    count: std::ops::Range<usize>,
) -> impl Strategy<Value = Vec<Edit>> + Clone {
    prop::collection::vec(
        (any::<prop::sample::Index>(), 0..3u8, prop::sample::select(noise)),
        count,
    )
}

/// `text` with `edits` made one after the other: what a reader of damaged JSON gets.
pub fn damaged(text: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for (at, how, c) in edits {
        let i = at.index(chars.len() + 1);
        match how {
            0 if i < chars.len() => {
                chars.remove(i);
            }
            1 if i < chars.len() => {
                if let Some(slot) = chars.get_mut(i) {
                    *slot = *c;
                }
            }
            _ => chars.insert(i, *c),
        }
    }
    chars.into_iter().collect()
}
