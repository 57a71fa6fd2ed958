//! Validation and normalisation (RFC 7643 2, 3; what Entra ID and Okta send) and
//! organization policies.

use scim_core::ErrorCode;
use scim_core::policy::{Policy, check_policies};
use scim_core::resource::Resource;
use scim_core::schema::{
    ENTERPRISE_USER_SCHEMA as ENT, GROUP_SCHEMA, Registry, ResourceKind, USER_SCHEMA,
};
use scim_core::validate::{take_password, validate};
use serde_json::{Value, json};

fn v(kind: ResourceKind, body: Value) -> Result<Resource, scim_core::ScimError> {
    validate(Resource::from_value(body).unwrap(), &Registry::builtin(), kind)
}

#[test]
fn okta_create_with_password_groups_and_external_id() {
    let mut r = v(
        ResourceKind::User,
        json!({
        "schemas": [USER_SCHEMA], "userName": "a@x.io", "externalId": "00u1",
        "password": "S3cret!", "groups": [], "active": true,
        "name": {"givenName": "A", "familyName": "B"}}),
    )
    .unwrap();
    assert!(r.get("groups").is_none(), "groups is readOnly and ignored");
    assert_eq!(r.external_id(), Some("00u1"));
    assert_eq!(take_password(&mut r).as_deref(), Some("S3cret!"));
    assert!(r.get("password").is_none());
    assert_eq!(take_password(&mut r), None);
}

#[test]
fn readonly_input_is_dropped_and_keys_normalised() {
    let r = v(
        ResourceKind::User,
        json!({
        "id": "US0123456789abcdef0123456789abcdef", "meta": {"version": "W/\"9\""},
        "UserName": "a@x.io", "ACTIVE": "True", "Name": {"GivenName": "A", "bogus": 1},
        "unknownAttr": 5}),
    )
    .unwrap();
    assert_eq!(
        r.into_value(),
        json!({"schemas": [USER_SCHEMA], "userName": "a@x.io",
        "active": true, "name": {"givenName": "A"}})
    );
}

#[test]
fn group_create_with_extra_schema_uris_and_empty_members() {
    let r = v(
        ResourceKind::Group,
        json!({
        "schemas": [GROUP_SCHEMA, "urn:vendor:scim:schemas:1.0:GroupExtra", "http://example.com/x"],
        "displayName": "Ops", "members": []}),
    )
    .unwrap();
    assert_eq!(r.into_value(), json!({"schemas": [GROUP_SCHEMA], "displayName": "Ops"}));
}

#[test]
fn schemas_completed_from_the_data() {
    let r = v(
        ResourceKind::User,
        json!({"userName": "a@x.io",
        ENT: {"employeeNumber": 701, "manager": "US0000000000000000000000000000000a"}}),
    )
    .unwrap();
    assert_eq!(r.schemas(), [USER_SCHEMA, ENT]);
    assert_eq!(
        r.as_map()[ENT],
        json!({"employeeNumber": "701",
        "manager": {"value": "US0000000000000000000000000000000a"}})
    );
    // A URN listed without data is dropped from schemas.
    let r = v(ResourceKind::User, json!({"schemas": [ENT], "userName": "b"})).unwrap();
    assert_eq!(r.schemas(), [USER_SCHEMA]);
}

#[test]
fn required_attributes() {
    let e =
        v(ResourceKind::User, json!({"schemas": [USER_SCHEMA], "displayName": "x"})).unwrap_err();
    assert_eq!(e.code, ErrorCode::MissingAttribute);
    assert!(e.detail.contains("userName"));
    let e = v(ResourceKind::Group, json!({"members": []})).unwrap_err();
    assert_eq!(e.code, ErrorCode::MissingAttribute);
    let e = v(ResourceKind::User, json!({"userName": null})).unwrap_err();
    assert_eq!(e.code, ErrorCode::MissingAttribute);
}

#[test]
fn types_are_checked() {
    for (body, why) in [
        (json!({"userName": {"a": 1}}), "object for string"),
        (json!({"userName": "a", "active": "maybe"}), "bad boolean"),
        (json!({"userName": "a", "active": 1}), "number for boolean"),
        (
            json!({"userName": "a", "emails": [{"value": "a", "primary": true}, {"value": "b", "primary": true}]}),
            "two primaries",
        ),
        (json!({"userName": "a", "x509Certificates": [{"value": "not base64!"}]}), "binary"),
        (
            json!({"userName": "a", "name": [{"givenName": "a"}, {"givenName": "b"}]}),
            "array for single",
        ),
        (json!({"userName": "a", "profileUrl": true}), "reference"),
        (json!({"userName": "a", ENT: "x"}), "extension not an object"),
    ] {
        let e = v(ResourceKind::User, body).expect_err(why);
        assert_eq!(e.code, ErrorCode::InvalidValue, "{why}: {e:?}");
    }
}

#[test]
fn single_values_are_wrapped() {
    let r = v(
        ResourceKind::User,
        json!({"userName": "a",
        "emails": {"value": "a@x.io", "type": "work"}, "phoneNumbers": "+1 555"}),
    )
    .unwrap();
    assert_eq!(r.get("emails"), Some(&json!([{"value": "a@x.io", "type": "work"}])));
    assert_eq!(r.get("phoneNumbers"), Some(&json!([{"value": "+1 555"}])));
}

#[test]
fn group_members_need_a_value_and_a_known_type() {
    let r = v(
        ResourceKind::Group,
        json!({"displayName": "g",
        "members": [{"value": "US00000000000000000000000000000001", "display": "x"}]}),
    )
    .unwrap();
    // `display` is readOnly (the service computes it): input is dropped, `type` defaults.
    assert_eq!(
        r.get("members"),
        Some(&json!([{"value": "US00000000000000000000000000000001", "type": "User"}]))
    );
    assert!(
        v(ResourceKind::Group, json!({"displayName": "g", "members": [{"type": "User"}]})).is_err()
    );
    assert!(
        v(
            ResourceKind::Group,
            json!({"displayName": "g",
        "members": [{"value": "a", "type": "Device"}]})
        )
        .is_err()
    );
}

fn vendor_registry() -> Registry {
    let mut r = Registry::builtin();
    r.add_extension_json(r#"{"id":"urn:acme:scim:schemas:1.0:UserExtension","attributes":[
        {"name":"status","type":"string","canonicalValues":["Active","Suspended"],"strictCanonicalValues":true},
        {"name":"region","type":"string","canonicalValues":["eu","us"]},
        {"name":"ssoEnabled","type":"boolean"},
        {"name":"seats","type":"integer"},
        {"name":"quota","type":"decimal"},
        {"name":"hired","type":"dateTime"}]}"#).unwrap();
    r
}

#[test]
fn vendor_extension_types_and_strict_canonical_values() {
    let reg = vendor_registry();
    const X: &str = "urn:acme:scim:schemas:1.0:UserExtension";
    let ok = validate(
        Resource::from_value(json!({"userName": "a", X: {
        "status": "suspended", "region": "apac", "ssoEnabled": "TRUE", "seats": "3",
        "quota": 1.5, "hired": "2024-02-29T10:00:00Z"}}))
        .unwrap(),
        &reg,
        ResourceKind::User,
    )
    .unwrap();
    assert_eq!(
        ok.as_map()[X],
        json!({"status": "Suspended", "region": "apac",
        "ssoEnabled": true, "seats": 3, "quota": 1.5, "hired": "2024-02-29T10:00:00Z"})
    );
    assert_eq!(ok.schemas(), [USER_SCHEMA, X]);
    for bad in [
        json!({"status": "gone"}),
        json!({"seats": 1.5}),
        json!({"hired": "2023-02-29T00:00:00Z"}),
        json!({"quota": "lots"}),
    ] {
        let e = validate(
            Resource::from_value(json!({"userName": "a", X: bad.clone()})).unwrap(),
            &reg,
            ResourceKind::User,
        )
        .expect_err(&bad.to_string());
        assert_eq!(e.code, ErrorCode::InvalidValue);
    }
}

#[test]
fn absurd_nesting_is_refused() {
    let mut deep = json!("x");
    for _ in 0..40 {
        deep = json!([deep]);
    }
    let e = v(ResourceKind::User, json!({"userName": "a", "emails": deep})).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidSyntax);
}

fn user_with(emails: Value) -> Resource {
    Resource::from_value(json!({"userName": "Alice@Example.com", "emails": emails})).unwrap()
}

#[test]
fn policy_username_is_primary_email() {
    let p = [Policy::UsernameIsPrimaryEmail];
    check_policies(&user_with(json!([{"value": "alice@example.com", "primary": true}])), &p)
        .unwrap();
    // One email counts as primary.
    check_policies(&user_with(json!([{"value": "ALICE@example.com"}])), &p).unwrap();
    check_policies(
        &user_with(json!([{"value": "x@y.z"}, {"value": "alice@example.com", "primary": true}])),
        &p,
    )
    .unwrap();
    for bad in [
        json!([]),
        json!([{"value": "bob@example.com", "primary": true}]),
        json!([{"value": "alice@example.com"}, {"value": "b@x.io"}]),
        json!([{"value": "alice@example.com", "primary": true}, {"value": "b@x.io", "primary": true}]),
    ] {
        let e = check_policies(&user_with(bad.clone()), &p).expect_err(&bad.to_string());
        assert_eq!(e.code, ErrorCode::PolicyViolation);
        assert!(e.detail.contains("username-is-primary-email"));
    }
    // Without the policy anything goes; soft-delete checks nothing here.
    check_policies(&user_with(json!([])), &[Policy::SoftDelete]).unwrap();
    assert_eq!("soft-delete".parse::<Policy>().unwrap(), Policy::SoftDelete);
    assert_eq!(Policy::UsernameIsPrimaryEmail.to_string(), "username-is-primary-email");
    assert_eq!(serde_json::to_value(Policy::SoftDelete).unwrap(), json!("soft-delete"));
}
