//! PUT (RFC 7644 3.5.1), including the bodies Entra ID and Okta send.

use scim_core::ErrorCode;
use scim_core::patch::{MemberOp, PatchContext};
use scim_core::replace::replace;
use scim_core::resource::Resource;
use scim_core::schema::{GROUP_SCHEMA, Registry, ResourceKind, USER_SCHEMA};
use serde_json::{Value, json};

const ID: &str = "US0123456789abcdef0123456789abcdef";

fn current() -> Resource {
    Resource::from_value(json!({"schemas": [USER_SCHEMA], "id": ID, "externalId": "00u1",
        "userName": "a@x.io", "displayName": "A", "title": "Boss", "active": true,
        "groups": [{"value": "GR0123456789abcdef0123456789abcdef", "display": "G"}],
        "meta": {"resourceType": "User", "created": "2024-01-01T00:00:00Z", "version": "W/\"4\""}}))
    .unwrap()
}

fn put(body: Value) -> Result<Resource, scim_core::ScimError> {
    let reg = Registry::builtin();
    replace(
        &current(),
        Resource::from_value(body).unwrap(),
        &PatchContext::new(&reg, ResourceKind::User),
    )
    .map(|r| r.resource)
}

#[test]
fn okta_put_full_object_with_readonly_parts_and_deactivation() {
    let r = put(json!({"schemas": [USER_SCHEMA], "id": ID, "externalId": "00u1",
        "userName": "a@x.io", "displayName": "A", "active": false,
        "groups": [], "meta": {"version": "W/\"1\"", "created": "1999-01-01T00:00:00Z"}}))
    .unwrap();
    let m = r.as_map();
    assert_eq!(m["active"], json!(false));
    assert_eq!(m["id"], json!(ID));
    assert_eq!(m["meta"], current().as_map()["meta"], "meta is the server's");
    assert_eq!(m["groups"], current().as_map()["groups"], "groups is computed");
    assert!(!m.contains_key("title"), "absent attributes are cleared");
}

#[test]
fn id_in_body_must_match() {
    let e =
        put(json!({"id": "US0000000000000000000000000000ffff", "userName": "a@x.io"})).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidValue);
    put(json!({"userName": "a@x.io"})).unwrap();
}

#[test]
fn put_validates_the_body() {
    assert_eq!(
        put(json!({"displayName": "no userName"})).unwrap_err().code,
        ErrorCode::MissingAttribute
    );
    assert_eq!(
        put(json!({"userName": "a", "active": "nope"})).unwrap_err().code,
        ErrorCode::InvalidValue
    );
}

#[test]
fn immutable_attribute_may_not_change() {
    let mut reg = Registry::builtin();
    reg.add_extension_json(
        r#"{"id":"urn:acme:scim:schemas:1.0:UserExtension",
        "attributes":[{"name":"badge","type":"string","mutability":"immutable"}]}"#,
    )
    .unwrap();
    let ctx = PatchContext::new(&reg, ResourceKind::User);
    const X: &str = "urn:acme:scim:schemas:1.0:UserExtension";
    let mut cur = current();
    cur.as_map_mut().insert(X.into(), json!({"badge": "B1"}));
    let e = replace(
        &cur,
        Resource::from_value(json!({"userName": "a", X: {"badge": "B2"}})).unwrap(),
        &ctx,
    )
    .unwrap_err();
    assert_eq!(e.code, ErrorCode::Mutability);
    let same = replace(
        &cur,
        Resource::from_value(json!({"userName": "a", X: {"badge": "B1"}})).unwrap(),
        &ctx,
    )
    .unwrap();
    assert_eq!(same.resource.as_map()[X], json!({"badge": "B1"}));
    // Left out: kept.
    let kept =
        replace(&cur, Resource::from_value(json!({"userName": "a"})).unwrap(), &ctx).unwrap();
    assert_eq!(kept.resource.as_map()[X], json!({"badge": "B1"}));
    assert!(kept.resource.schemas().contains(&X));
}

#[test]
fn group_put_with_external_members_replaces_all() {
    let reg = Registry::builtin();
    let ctx = PatchContext::new(&reg, ResourceKind::Group).with_external_members(true);
    let cur = Resource::from_value(
        json!({"schemas": [GROUP_SCHEMA], "id": "GR0123456789abcdef0123456789abcdef",
        "displayName": "G"}),
    )
    .unwrap();
    let r = replace(
        &cur,
        Resource::from_value(json!({"displayName": "G2",
        "members": [{"value": "US00000000000000000000000000000001"}]}))
        .unwrap(),
        &ctx,
    )
    .unwrap();
    assert!(r.resource.get("members").is_none());
    assert_eq!(r.resource.get("displayName"), Some(&json!("G2")));
    let MemberOp::ReplaceAll(m) = &r.member_ops[0] else { panic!("{:?}", r.member_ops) };
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].kind, scim_core::resource::MemberKind::User);
    let r =
        replace(&cur, Resource::from_value(json!({"displayName": "G2"})).unwrap(), &ctx).unwrap();
    assert_eq!(r.member_ops, vec![MemberOp::ReplaceAll(vec![])], "absent members are cleared");
}
