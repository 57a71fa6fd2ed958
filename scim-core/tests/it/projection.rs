//! `attributes` / `excludedAttributes` (RFC 7644 3.4.2.5, 3.9).

use proptest::prelude::*;
use scim_core::projection::{Part, Projector, needs_attribute, project, raw_object};
use scim_core::resource::Resource;
use scim_core::schema::{ENTERPRISE_USER_SCHEMA as ENT, Registry, ResourceKind, USER_SCHEMA};
use serde_json::{Value, json};

fn user() -> Resource {
    Resource::from_value(json!({"schemas": [USER_SCHEMA, ENT], "id": "US0123456789abcdef0123456789abcdef",
        "externalId": "e1", "userName": "a@x.io", "password": "hash-or-secret",
        "name": {"givenName": "A", "familyName": "B"}, "active": true,
        "emails": [{"value": "a@x.io", "type": "work", "primary": true}, {"value": "b@y.io", "type": "home"}],
        ENT: {"employeeNumber": "7", "department": "R&D"},
        "meta": {"resourceType": "User", "version": "W/\"1\""}}))
    .unwrap()
}

fn p(attrs: &[&str], excl: &[&str]) -> Value {
    let s = |l: &[&str]| l.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    project(&user(), &s(attrs), &s(excl), &Registry::builtin(), ResourceKind::User).into_value()
}

#[test]
fn default_returns_all_but_never() {
    let mut want = user().into_value();
    want.as_object_mut().unwrap().shift_remove("password");
    assert_eq!(p(&[], &[]), want);
}

#[test]
fn attributes_limit_to_named_plus_always() {
    assert_eq!(
        p(&["USERNAME"], &[]),
        json!({"schemas": [USER_SCHEMA],
        "id": "US0123456789abcdef0123456789abcdef", "userName": "a@x.io",
        "meta": {"resourceType": "User", "version": "W/\"1\""}})
    );
    let v = p(&["name.givenName", "emails.value", "password"], &[]);
    assert_eq!(v["name"], json!({"givenName": "A"}));
    assert_eq!(v["emails"], json!([{"value": "a@x.io"}, {"value": "b@y.io"}]));
    assert!(v.get("password").is_none());
}

#[test]
fn urn_qualified_names() {
    let v = p(&[&format!("{ENT}:employeeNumber")], &[]);
    assert_eq!(v[ENT], json!({"employeeNumber": "7"}));
    assert_eq!(v["schemas"], json!([USER_SCHEMA, ENT]));
    let v = p(&[ENT], &[]);
    assert_eq!(v[ENT], json!({"employeeNumber": "7", "department": "R&D"}));
    let v = p(&["urn:ietf:params:scim:schemas:core:2.0:User:userName"], &[]);
    assert_eq!(v["userName"], json!("a@x.io"));
    assert!(v.get(ENT).is_none());
    assert_eq!(v["schemas"], json!([USER_SCHEMA]), "schemas follows the extensions present");
}

#[test]
fn excluded_attributes() {
    let v = p(&[], &["emails", "name.familyName", "id", "meta", ENT]);
    assert!(v.get("emails").is_none());
    assert_eq!(v["name"], json!({"givenName": "A"}));
    assert!(v.get("id").is_some() && v.get("meta").is_some(), "always returned");
    assert!(v.get(ENT).is_none());
    assert_eq!(v["schemas"], json!([USER_SCHEMA]));
}

#[test]
fn store_knows_when_members_are_needed() {
    let r = Registry::builtin();
    let g = ResourceKind::Group;
    let s = |l: &[&str]| l.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert!(needs_attribute(&[], &[], "members", &r, g));
    assert!(!needs_attribute(&[], &s(&["members"]), "members", &r, g));
    assert!(!needs_attribute(&[], &s(&["Members"]), "members", &r, g));
    assert!(!needs_attribute(&s(&["displayName"]), &[], "members", &r, g));
    assert!(needs_attribute(&s(&["members.value"]), &[], "members", &r, g));
    assert!(!needs_attribute(&[], &[], "password", &r, ResourceKind::User));
}

proptest! {
    #[test]
    fn never_returns_returned_never(
        attrs in proptest::collection::vec(name(), 0..5),
        excl in proptest::collection::vec(name(), 0..5),
    ) {
        let v = project(&user(), &attrs, &excl, &Registry::builtin(), ResourceKind::User).into_value();
        prop_assert!(v.get("password").is_none());
        prop_assert!(v.get("id").is_some());
        prop_assert!(v.get("schemas").is_some());
    }
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("password".to_owned()),
        Just("PASSWORD".to_owned()),
        Just("userName".to_owned()),
        Just("name.givenName".to_owned()),
        Just("emails.value".to_owned()),
        Just(ENT.to_owned()),
        Just(format!("{ENT}:department")),
        Just("id".to_owned()),
        Just(USER_SCHEMA.to_owned()),
        Just(format!("{USER_SCHEMA}:password")),
        "[a-zA-Z.:]{0,12}",
    ]
}

/// A user document made of a random choice of members, in random order: known and unknown
/// attributes, sub-attributes the schema does not declare, empty and odd-shaped values.
fn doc() -> impl Strategy<Value = Value> {
    let member = prop_oneof![
        Just(("schemas", json!([USER_SCHEMA, ENT]))),
        Just(("schemas", json!([USER_SCHEMA, ENT, "urn:x:unknown"]))),
        Just(("id", json!("US0123456789abcdef0123456789abcdef"))),
        Just(("userName", json!("a\"b\\c@x.io"))),
        Just(("password", json!("secret"))),
        Just(("displayName", json!("Ünïcode \u{1F600}"))),
        Just(("active", json!(false))),
        Just(("title", Value::Null)),
        Just(("nickName", json!(1.5e300))),
        Just(("bogus", json!({"a": 1}))),
        Just(("name", json!({"givenName": "A", "familyName": "B"}))),
        Just(("name", json!({"givenName": "A", "bogus": "B"}))),
        Just(("name", json!({}))),
        Just(("emails", json!([{"value": "a@x.io", "type": "work", "primary": true}]))),
        Just(("emails", json!([{"value": "a@x.io", "bogus": 1}, "loose", {}]))),
        Just(("emails", json!([]))),
        Just(("Emails", json!([{"VALUE": "a@x.io", "Type": "work"}, [1, {"x": 2}], 3, null]))),
        Just(("NAME", json!({"givenName": "A", "family\"Name": "B"}))),
        Just(("addresses", json!([{"streetAddress": "1 Main", "primary": true, "country": "US"}]))),
        Just(("phoneNumbers", json!([[], {"value": "+1 555"}]))),
        Just(("ID", json!("US1"))),
        Just(("emails", json!("not-an-array"))),
        Just(("groups", json!([{"value": "GR1", "display": "g", "type": "direct", "$ref": "x"}]))),
        Just((ENT, json!({"employeeNumber": "7", "department": "R&D"}))),
        Just((ENT, json!({"manager": {"value": "US1", "displayName": "m", "bogus": 2}, "zzz": 1}))),
        Just((ENT, json!({"bogus": 1}))),
        Just((ENT, json!("not-an-object"))),
        Just(("meta", json!({"resourceType": "User", "version": "W/\"1\""}))),
    ];
    proptest::collection::vec(member, 0..12).prop_shuffle().prop_map(|members| {
        let mut m = serde_json::Map::new();
        for (k, v) in members {
            m.insert(k.to_owned(), v);
        }
        Value::Object(m)
    })
}

proptest! {
    /// Writing a resource from its stored text is byte for byte what projecting its tree
    /// and serialising the result gives.
    #[test]
    fn writing_stored_text_equals_projecting_the_tree(
        doc in doc(),
        attrs in proptest::collection::vec(name(), 0..3),
        excl in proptest::collection::vec(name(), 0..3),
        how in 0..3u8,
    ) {
        let registry = Registry::builtin();
        let text = serde_json::to_string(&doc).unwrap();
        let projector = Projector::new(&attrs, &excl, &registry, ResourceKind::User);
        let want = serde_json::to_vec(&projector.project(Resource::from_value(doc.clone()).unwrap())).unwrap();
        let mut got = Vec::new();
        match how {
            0 => {
                let parts = doc.as_object().unwrap().clone().into_iter()
                    .map(|(k, v)| (std::borrow::Cow::Owned(k), Part::Value(v)));
                projector.write(parts, &mut got).unwrap();
            }
            1 => {
                let parts = raw_object(&text).unwrap().into_iter().map(|(k, v)| (k, Part::Raw(v)));
                projector.write(parts, &mut got).unwrap();
            }
            _ => projector.write_stored([], &text, [], &mut got).unwrap(),
        }
        prop_assert_eq!(String::from_utf8(got).unwrap(), String::from_utf8(want).unwrap());
    }
}

proptest! {
    /// Any text (a stored document with a few characters deleted, replaced or inserted):
    /// read member by member as it is written, it gives what writing its members gives,
    /// or is refused as that refuses it.
    #[test]
    fn stored_text_read_as_written_is_read_as_split(
        doc in doc(),
        edits in scim_core::testing::edits(
            &['{', '}', '[', ']', ':', ',', '"', '\\', ' ', '0', '-', 'e', 't', 'n', 'x', '\u{1}'],
            0..3,
        ),
    ) {
        let registry = Registry::builtin();
        let text = scim_core::testing::damaged(&serde_json::to_string(&doc).unwrap(), &edits);
        let projector = Projector::new(&[], &[], &registry, ResourceKind::User);
        let mut split = Vec::new();
        let split = raw_object(&text)
            .and_then(|m| projector.write(m.into_iter().map(|(k, v)| (k, Part::Raw(v))), &mut split))
            .map(|()| split);
        let mut read = Vec::new();
        let read = projector.write_stored([], &text, [], &mut read).map(|()| read);
        prop_assert_eq!(split.ok(), read.ok(), "{:?}", text);
    }
}

#[test]
fn raw_objects_keep_order_and_unescape_keys() {
    let entries = raw_object(r#"{"b":1,"a\"q":{"x":[1]},"c":"s"}"#).unwrap();
    let keys: Vec<&str> = entries.iter().map(|(k, _)| k.as_ref()).collect();
    assert_eq!(keys, ["b", "a\"q", "c"]);
    assert_eq!(entries[1].1.get(), r#"{"x":[1]}"#);
    assert!(raw_object("[1]").is_err());
    assert!(raw_object("{\"a\":").is_err());
}
