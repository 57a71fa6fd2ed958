//! PATCH value filters (`emails[type eq "work"]`, RFC 7644 3.5.2) select elements with the
//! filter evaluator: the cases where PATCH once had its own matcher that disagreed with
//! `Filter::matches`, and a property over random filters that fails if they part again.

use crate::filter::{comp_value, op, val_filter};
use proptest::prelude::*;
use scim_core::ErrorCode;
use scim_core::filter::{CompValue, Filter};
use scim_core::message::PatchRequest;
use scim_core::patch::{self, PatchContext};
use scim_core::path::AttrPath;
use scim_core::resource::Resource;
use scim_core::schema::{Registry, ResourceKind, USER_SCHEMA};
use serde_json::{Value, json};

const BADGES: &str = "urn:acme:scim:schemas:1.0:Badges";

/// The built-in schemas plus an extension with a multi-valued complex attribute whose
/// sub-attributes have the types the core schemas lack in multi-valued attributes.
fn registry() -> Registry {
    let mut r = Registry::builtin();
    r.add_extension_json(&format!(
        r#"{{"id":"{BADGES}","attributes":[{{"name":"badges","type":"complex",
            "multiValued":true,"subAttributes":[
              {{"name":"value","type":"string"}},
              {{"name":"level","type":"integer"}},
              {{"name":"weight","type":"decimal"}},
              {{"name":"issued","type":"dateTime"}},
              {{"name":"revoked","type":"boolean"}}]}}]}}"#
    ))
    .unwrap();
    r
}

fn user_with(extra: Value) -> Resource {
    let mut doc = json!({"schemas": [USER_SCHEMA], "userName": "alice"});
    for (k, v) in extra.as_object().unwrap() {
        doc[k] = v.clone();
    }
    Resource::from_value(doc).unwrap()
}

fn remove(res: &mut Resource, registry: &Registry, path: &str) -> Result<(), scim_core::ScimError> {
    let req: PatchRequest =
        serde_json::from_value(json!({"Operations":[{"op":"remove","path":path}]})).unwrap();
    patch::apply(res, &req.operations, &PatchContext::new(registry, ResourceKind::User)).map(|_| ())
}

/// The `value`s of the badges left after removing `badges[<filter>]`.
fn badges_left(badges: Value, filter: &str) -> Vec<String> {
    let r = registry();
    let mut u = user_with(json!({ BADGES: {"badges": badges} }));
    remove(&mut u, &r, &format!("{BADGES}:badges[{filter}]")).unwrap();
    u.get(BADGES)
        .and_then(|e| e["badges"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .map(|b| b["value"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn numbers_compare_exactly_not_as_floats() {
    // 2^53 + 1 and 2^53 are the same f64.
    let badges = json!([
        {"value": "big", "level": 9_007_199_254_740_993_i64},
        {"value": "small", "level": 9},
        {"value": "mid", "level": 10, "weight": 2.5},
    ]);
    assert_eq!(badges_left(badges.clone(), "level eq 9007199254740992"), ["big", "small", "mid"]);
    assert_eq!(badges_left(badges.clone(), "level eq 9007199254740993"), ["small", "mid"]);
    assert_eq!(badges_left(badges.clone(), "level gt 9"), ["small"]);
    assert_eq!(badges_left(badges, "weight ge 2.5"), ["big", "small"]);
}

#[test]
fn date_times_compare_as_instants_across_offsets() {
    let badges = json!([
        {"value": "a", "issued": "2024-01-01T10:00:00+02:00"},
        {"value": "b", "issued": "2024-01-01T09:30:00Z"},
    ]);
    // As strings, "...10:00:00+02:00" is neither equal to nor before "...08:00:00Z".
    assert_eq!(badges_left(badges.clone(), r#"issued eq "2024-01-01T08:00:00Z""#), ["b"]);
    assert_eq!(badges_left(badges.clone(), r#"issued lt "2024-01-01T09:00:00Z""#), ["b"]);
    assert_eq!(badges_left(badges, r#"issued gt "2024-01-01T11:00:00+02:00""#), ["a"]);
}

#[test]
fn ordering_on_booleans_selects_nothing() {
    // RFC 7644 3.4.2.2: `gt` on a boolean is an invalidFilter; the evaluator matches
    // nothing, and `Filter::validate` reports the error.
    let badges = json!([{"value": "a", "revoked": true}, {"value": "b", "revoked": false}]);
    for f in ["revoked gt false", "revoked ge false", "revoked lt true", "revoked le true"] {
        assert_eq!(badges_left(badges.clone(), f), ["a", "b"], "{f}");
        let whole = Filter::parse(&format!("{BADGES}:badges[{f}]")).unwrap();
        let err = whole.validate(&registry(), ResourceKind::User).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidFilter, "{f}");
    }
    assert_eq!(badges_left(badges, "revoked eq true"), ["b"]);
    // With a path that must find a target, selecting nothing is noTarget.
    let r = Registry::builtin();
    let mut u = user_with(json!({"emails": [{"value": "a@x", "primary": true}]}));
    let req: PatchRequest = serde_json::from_value(json!({"Operations":[
        {"op":"replace","path":"emails[primary gt false].value","value":"b@x"}]}))
    .unwrap();
    let ctx = PatchContext::new(&r, ResourceKind::User);
    let err = patch::apply(&mut u, &req.operations, &ctx).unwrap_err();
    assert_eq!(err.code, ErrorCode::NoTarget);
}

#[test]
fn present_looks_inside_objects_and_arrays() {
    // `pr` on a sub-attribute whose value is an object or array counts it only when a
    // member or element is itself present (RFC 7644 3.4.2.2: not null, "", [] or {}).
    let r = Registry::builtin();
    let mut u = user_with(json!({"emails": [
        {"value": "a@x", "extra": {"k": null}},
        {"value": "b@x", "extra": [""]},
        {"value": "c@x", "extra": {"k": "v"}},
        {"value": "d@x", "extra": ["", "v"]},
    ]}));
    remove(&mut u, &r, "emails[extra pr]").unwrap();
    assert_eq!(
        u.get("emails").unwrap(),
        &json!([
            {"value": "a@x", "extra": {"k": null}},
            {"value": "b@x", "extra": [""]},
        ])
    );
    // `eq null` is `not pr`: an empty string is not present.
    let mut u = user_with(json!({"emails": [
        {"value": "a@x", "display": ""},
        {"value": "b@x", "display": "B"},
    ]}));
    remove(&mut u, &r, "emails[display eq null]").unwrap();
    assert_eq!(u.get("emails").unwrap(), &json!([{"value": "b@x", "display": "B"}]));
}

#[test]
fn case_exactness_follows_the_sub_attribute() {
    let r = registry();
    // `value` of emails is caseExact false; the badge value is too, by default.
    let mut u = user_with(json!({"emails": [{"value": "A@X", "type": "Work"}]}));
    remove(&mut u, &r, r#"emails[type eq "work" and value sw "a@"]"#).unwrap();
    assert_eq!(u.get("emails"), None);
}

// ---- the property ----

/// Emails as identity providers send them: a few values and types in mixed case, at most
/// one primary, sometimes a `display`.
fn emails() -> impl Strategy<Value = Vec<Value>> {
    let element = (
        prop::sample::select(vec!["a@x.com", "B@x.com", "b@X.COM", "c@y.org", ""]),
        prop::option::of(prop::sample::select(vec!["work", "Work", "home", "other"])),
        prop::option::of(prop::sample::select(vec!["", "Alice", "bob", "10", "2024-01-01"])),
    )
        .prop_map(|(value, ty, display)| {
            let mut m = serde_json::Map::new();
            m.insert("value".into(), json!(value));
            if let Some(t) = ty {
                m.insert("type".into(), json!(t));
            }
            if let Some(d) = display {
                m.insert("display".into(), json!(d));
            }
            Value::Object(m)
        });
    (prop::collection::vec(element, 1..6), any::<prop::sample::Index>(), any::<bool>()).prop_map(
        |(mut items, i, primary)| {
            let at = i.index(items.len());
            if let Some(Value::Object(m)) = items.get_mut(at) {
                m.insert("primary".into(), json!(primary));
            }
            items
        },
    )
}

/// Value filters over the e-mail sub-attributes and literals that hit the generated
/// elements, mixed with core's generator of arbitrary value filters.
fn email_filter() -> impl Strategy<Value = Filter> {
    let name = prop::sample::select(vec!["value", "type", "primary", "display", "Value", "TYPE"]);
    let literal = prop_oneof![
        3 => prop::sample::select(vec!["a@x.com", "b@x.com", "work", "WORK", "home", "", "a", "@x", "10", "Alice"])
            .prop_map(|s| CompValue::Str(s.to_owned())),
        1 => any::<bool>().prop_map(CompValue::Bool),
        1 => Just(CompValue::Null),
        1 => comp_value(),
    ];
    let leaf = prop_oneof![
        3 => (name.clone(), op(), literal)
            .prop_map(|(n, o, v)| Filter::Compare(AttrPath::new(n, None), o, v)),
        1 => name.prop_map(|n| Filter::Present(AttrPath::new(n, None))),
    ];
    let targeted = leaf.prop_recursive(3, 12, 2, |inner| {
        prop_oneof![
            inner.clone().prop_map(Filter::negate),
            (inner.clone(), inner.clone()).prop_map(|(l, r)| Filter::and(l, r)),
            (inner.clone(), inner).prop_map(|(l, r)| Filter::or(l, r)),
        ]
    });
    prop_oneof![4 => targeted, 1 => val_filter()]
}

proptest! {
    /// `remove` of `emails[<filter>]` removes exactly the e-mails for which the evaluator
    /// (`Filter::matches` on a user holding that one e-mail) says `emails[<filter>]`.
    #[test]
    fn patch_remove_selects_what_the_evaluator_matches(emails in emails(), f in email_filter()) {
        let r = Registry::builtin();
        let kind = ResourceKind::User;
        let whole = Filter::ValuePath(AttrPath::new("emails", None), Box::new(f.clone()));
        let emails_attr = r.resolve(kind, "emails").unwrap().attribute;
        let mut kept = Vec::new();
        for e in &emails {
            let alone = json!({"schemas": [USER_SCHEMA], "userName": "alice", "emails": [e]});
            let hit = whole.matches(&alone, &r, kind);
            prop_assert_eq!(hit, f.matches_element(e, emails_attr, &r, kind), "{}", e);
            if !hit {
                kept.push(e.clone());
            }
        }
        let before = user_with(json!({ "emails": emails }));
        let mut u = before.clone();
        let path = format!("emails[{f}]");
        match remove(&mut u, &r, &path) {
            Ok(()) => {
                let want = if kept.is_empty() { None } else { Some(Value::Array(kept)) };
                prop_assert_eq!(u.get("emails").cloned(), want, "{}", path);
            }
            // Only a path the parser refuses (core's generator may exceed its bounds).
            Err(e) => {
                prop_assert_eq!(e.code, ErrorCode::InvalidPath, "{}: {:?}", path, e);
                prop_assert_eq!(u, before);
            }
        }
    }
}
