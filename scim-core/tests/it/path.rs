//! Attribute paths and PATCH paths (RFC 7644 3.10, 3.5.2): parse, print, errors, properties.

use crate::filter::{attr_path, val_filter};
use proptest::prelude::*;
use scim_core::filter::{CompValue, CompareOp, Filter};
use scim_core::patch::PatchPath;
use scim_core::path::{AttrPath, PathError};
use scim_core::schema::{ENTERPRISE_USER_SCHEMA, Registry, ResourceKind, USER_SCHEMA};
use scim_core::{ErrorCode, ScimError};

fn ap(urn: Option<&str>, name: &str, sub: Option<&str>) -> AttrPath {
    AttrPath {
        urn: urn.map(str::to_owned),
        name: name.to_owned(),
        sub_attr: sub.map(str::to_owned),
    }
}

#[test]
fn attr_paths() {
    let cases = [
        ("userName", ap(None, "userName", None)),
        ("name.givenName", ap(None, "name", Some("givenName"))),
        ("members.$ref", ap(None, "members", Some("$ref"))),
        ("x-y_z1", ap(None, "x-y_z1", None)),
        (
            "urn:ietf:params:scim:schemas:core:2.0:User:userName",
            ap(Some(USER_SCHEMA), "userName", None),
        ),
        (
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
            ap(Some(ENTERPRISE_USER_SCHEMA), "manager", Some("value")),
        ),
        (
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
            ap(Some(ENTERPRISE_USER_SCHEMA), "employeeNumber", None),
        ),
    ];
    for (text, expected) in cases {
        let p = AttrPath::parse(text).unwrap();
        assert_eq!(p, expected, "{text}");
        assert_eq!(p.to_string(), text);
        assert_eq!(text.parse::<AttrPath>().unwrap(), p);
    }
}

#[test]
fn registry_aware_paths() {
    let r = Registry::builtin();
    let u = ResourceKind::User;
    // A whole extension URN, in any case, is that schema.
    for text in
        [ENTERPRISE_USER_SCHEMA, "URN:ietf:params:scim:schemas:extension:ENTERPRISE:2.0:user"]
    {
        let p = AttrPath::parse_with(text, &r, u).unwrap();
        assert_eq!(p, ap(Some(ENTERPRISE_USER_SCHEMA), "", None), "{text}");
        assert!(p.is_schema());
        assert_eq!(p.to_string(), ENTERPRISE_USER_SCHEMA);
        assert_eq!(AttrPath::parse_with(&p.to_string(), &r, u).unwrap(), p);
    }
    // Registered URNs get their registered spelling.
    let p = AttrPath::parse_with(
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:USER:Manager.Value",
        &r,
        u,
    )
    .unwrap();
    assert_eq!(p, ap(Some(ENTERPRISE_USER_SCHEMA), "Manager", Some("Value")));
    // Unregistered URNs (and the enterprise URN on groups) are split at the last ':'.
    let p = AttrPath::parse_with("urn:example:ext:1.0:User:x", &r, u).unwrap();
    assert_eq!(p, ap(Some("urn:example:ext:1.0:User"), "x", None));
    let p = AttrPath::parse_with(ENTERPRISE_USER_SCHEMA, &r, ResourceKind::Group).unwrap();
    assert_eq!(p, ap(Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0"), "User", None));
    // A longer URN that merely starts with a registered one.
    let p = AttrPath::parse_with(&format!("{ENTERPRISE_USER_SCHEMA}:Extra:x"), &r, u).unwrap();
    assert_eq!(p, ap(Some(&format!("{ENTERPRISE_USER_SCHEMA}:Extra")), "x", None));
    // normalize() fixes a naive split up.
    let naive =
        AttrPath::parse("urn:ietf:params:scim:schemas:extension:enterprise:2.0:user").unwrap();
    assert_eq!(naive.normalize(&r, u), ap(Some(ENTERPRISE_USER_SCHEMA), "", None));
    assert_eq!(ap(None, "userName", None).normalize(&r, u), ap(None, "userName", None));
    // Errors keep their offsets in the whole text.
    let e =
        AttrPath::parse_with(&format!("{ENTERPRISE_USER_SCHEMA}:manager.1"), &r, u).unwrap_err();
    assert_eq!(e.offset, ENTERPRISE_USER_SCHEMA.len() + 9);
}

#[test]
fn patch_paths() {
    let work =
        || Filter::Compare(ap(None, "type", None), CompareOp::Eq, CompValue::Str("work".into()));
    let cases = [
        ("members", PatchPath { attr: ap(None, "members", None), filter: None, sub_attr: None }),
        (
            "name.familyName",
            PatchPath { attr: ap(None, "name", Some("familyName")), filter: None, sub_attr: None },
        ),
        (
            "emails[type eq \"work\"]",
            PatchPath { attr: ap(None, "emails", None), filter: Some(work()), sub_attr: None },
        ),
        (
            "emails[type eq \"work\"].value",
            PatchPath {
                attr: ap(None, "emails", None),
                filter: Some(work()),
                sub_attr: Some("value".into()),
            },
        ),
        (
            "addresses[type eq \"work\"].formatted",
            PatchPath {
                attr: ap(None, "addresses", None),
                filter: Some(work()),
                sub_attr: Some("formatted".into()),
            },
        ),
        (
            "members[value eq \"2819c223-7f76-453a-919d-413861904646\"]",
            PatchPath {
                attr: ap(None, "members", None),
                filter: Some(Filter::Compare(
                    ap(None, "value", None),
                    CompareOp::Eq,
                    CompValue::Str("2819c223-7f76-453a-919d-413861904646".into()),
                )),
                sub_attr: None,
            },
        ),
        (
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
            PatchPath {
                attr: ap(Some(ENTERPRISE_USER_SCHEMA), "manager", Some("value")),
                filter: None,
                sub_attr: None,
            },
        ),
        (
            "urn:ietf:params:scim:schemas:core:2.0:User:emails[type eq \"work\" and value ew \"]\"].display",
            PatchPath {
                attr: ap(Some(USER_SCHEMA), "emails", None),
                filter: Some(Filter::and(
                    work(),
                    Filter::Compare(
                        ap(None, "value", None),
                        CompareOp::Ew,
                        CompValue::Str("]".into()),
                    ),
                )),
                sub_attr: Some("display".into()),
            },
        ),
    ];
    for (text, expected) in cases {
        let p = PatchPath::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(p, expected, "{text}");
        assert_eq!(p.to_string(), text);
        assert_eq!(text.parse::<PatchPath>().unwrap(), p);
    }
    let p = PatchPath::parse("emails[type eq \"work\"].value").unwrap();
    assert_eq!(p.target(), ap(None, "emails", Some("value")));
    assert_eq!(
        PatchPath::parse("name.givenName").unwrap().target(),
        ap(None, "name", Some("givenName"))
    );
    // With the registry: Entra sends the extension URN itself as a path.
    let r = Registry::builtin();
    let p = PatchPath::parse_with(ENTERPRISE_USER_SCHEMA, &r, ResourceKind::User).unwrap();
    assert!(p.attr.is_schema() && p.filter.is_none());
    let p = PatchPath::parse_with(
        "URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:USER:emails[type eq \"work\"].value",
        &r,
        ResourceKind::User,
    )
    .unwrap();
    assert_eq!(p.attr, ap(Some(USER_SCHEMA), "emails", None));
}

#[test]
fn path_errors() {
    let cases: &[(&str, usize, &str)] = &[
        ("", 0, "an attribute name"),
        ("a b", 1, "a letter, digit, '-' or '_'"),
        ("1abc", 0, "starting with a letter"),
        ("name.", 5, "a sub-attribute name after '.'"),
        ("name.given.x", 10, "at most one sub-attribute"),
        ("foo:bar", 0, "a schema URN"),
        ("urn:x:", 6, "an attribute name after the schema URN"),
        ("urn:x y:z", 5, "a URN character"),
        ("emails[]", 7, "an attribute path, '(' or 'not ('"),
        ("emails[type eq \"work\"", 21, "']' to close the '[' at byte 6"),
        ("emails[type eq work]", 15, "unquoted word 'work'"),
        ("emails[type eq \"work\"]value", 22, "'.' and a sub-attribute"),
        ("emails[type eq \"work\"].", 23, "a sub-attribute name"),
        ("emails[type eq \"work\"].value.x", 28, "a letter, digit"),
        ("name.givenName[value pr]", 14, "'[' may only follow"),
        ("emails[value[type pr]]", 12, "cannot contain another"),
    ];
    for (input, offset, expected) in cases {
        let e = PatchPath::parse(input).unwrap_err();
        assert_eq!(e.offset, *offset, "{input}: {e}");
        assert!(e.expected.contains(expected), "{input}: {e}");
    }
    let e = PatchPath::parse("emails[type eq work]").unwrap_err();
    let se = ScimError::from(e);
    assert_eq!(se.code, ErrorCode::InvalidPath);
    assert!(
        se.detail.starts_with("invalid path 'emails[type eq work]' at byte 15: expected a value"),
        "{}",
        se.detail
    );
    let long = format!("x{}", "y".repeat(5000));
    let e: PathError = PatchPath::parse(&long).unwrap_err();
    assert_eq!(e.offset, 4096);
    assert_eq!(e.input.len(), 83, "the input is shortened in the error");
}

fn patch_path() -> impl Strategy<Value = PatchPath> {
    prop_oneof![
        attr_path().prop_map(|attr| PatchPath { attr, filter: None, sub_attr: None }),
        (attr_path(), val_filter(), prop::option::of("[A-Za-z][A-Za-z0-9_-]{0,6}")).prop_map(
            |(attr, f, sub_attr)| PatchPath {
                attr: attr.without_sub_attr(),
                filter: Some(f),
                sub_attr
            }
        ),
    ]
}

proptest! {
    #[test]
    fn attr_path_round_trip(p in attr_path()) {
        prop_assert_eq!(AttrPath::parse(&p.to_string()), Ok(p));
    }

    #[test]
    fn patch_path_round_trip(p in patch_path()) {
        let text = p.to_string();
        prop_assume!(text.len() <= 4096);
        prop_assert_eq!(PatchPath::parse(&text), Ok(p));
    }

    #[test]
    fn patch_path_never_panics(s in ".*") {
        let _ = PatchPath::parse(&s);
        let _ = PatchPath::parse_with(&s, &Registry::builtin(), ResourceKind::User);
    }

    #[test]
    fn patch_path_never_panics_on_pathish(s in crate::filter::filterish()) {
        if let Ok(p) = PatchPath::parse(&s) {
            prop_assert_eq!(PatchPath::parse(&p.to_string()), Ok(p));
        }
    }
}
