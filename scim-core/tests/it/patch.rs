//! PATCH (RFC 7644 3.5.2): the RFC's examples as golden fixtures, every PATCH shape
//! Microsoft Entra ID and Okta send, atomicity, and properties.

use proptest::prelude::*;
use scim_core::message::{PatchOperation, PatchRequest};
use scim_core::patch::{self, MemberOp, PatchContext, PatchOutcome};
use scim_core::resource::{MemberKind, MemberRow, Resource};
use scim_core::schema::{ENTERPRISE_USER_SCHEMA, Registry, ResourceKind};
use scim_core::{ErrorCode, ScimError};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const ENT: &str = ENTERPRISE_USER_SCHEMA;

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/rfc7644")
}

/// A member op as JSON, for fixtures and assertions.
pub(crate) fn member_op_json(op: &MemberOp) -> Value {
    let members = |m: &Vec<MemberRow>| {
        let kind = |k: MemberKind| if k == MemberKind::Group { "Group" } else { "User" };
        m.iter().map(|r| json!({"value": r.value, "type": kind(r.kind)})).collect::<Vec<_>>()
    };
    match op {
        MemberOp::Add(m) => json!({ "add": members(m) }),
        MemberOp::Remove(ids) => json!({ "remove": ids }),
        MemberOp::RemoveWhere(f) => json!({ "removeWhere": f.to_string() }),
        MemberOp::Clear => json!("clear"),
        MemberOp::ReplaceAll(m) => json!({ "replaceAll": members(m) }),
    }
}

/// The one data-driven check: a fixture holds `kind`, `before`, `request` (a PatchRequest)
/// and either `after` (plus optional `changed` and `member_ops`) or `error` (a scimType).
fn check(name: &str) {
    let path = fixtures_dir().join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
    let fx: Value = serde_json::from_str(&text).unwrap();
    let kind = match fx["kind"].as_str() {
        Some("User") => ResourceKind::User,
        Some("Group") => ResourceKind::Group,
        other => panic!("{name}: kind {other:?}"),
    };
    let registry = Registry::builtin();
    let ctx = PatchContext::new(&registry, kind)
        .with_external_members(fx["members_external"].as_bool().unwrap_or(false));
    let before = Resource::from_value(fx["before"].clone()).unwrap();
    let req: PatchRequest = serde_json::from_value(fx["request"].clone()).unwrap();
    let mut res = before.clone();
    let result = patch::apply(&mut res, &req.operations, &ctx);
    if let Some(want) = fx.get("error") {
        let err = result.expect_err(name);
        assert_eq!(
            err.scim_type().map(|t| t.as_str()),
            want.as_str(),
            "{name}: wrong error {err:?}"
        );
        assert_eq!(res, before, "{name}: a failed PATCH changed the resource");
        return;
    }
    let outcome = result.unwrap_or_else(|e| panic!("{name}: {e:?}"));
    assert_eq!(res.clone().into_value(), fx["after"], "{name}: got {:#}", res.into_value());
    if let Some(changed) = fx.get("changed") {
        assert_eq!(Some(outcome.changed), changed.as_bool(), "{name}: changed");
    }
    let ops: Vec<Value> = outcome.member_ops.iter().map(member_op_json).collect();
    let want = fx.get("member_ops").cloned().unwrap_or(json!([]));
    assert_eq!(Value::Array(ops), want, "{name}: member ops");
}

macro_rules! golden {
    ($($test:ident => $file:literal,)*) => {
        $( #[test] fn $test() { check($file); } )*

        #[test]
        fn every_fixture_has_a_test() {
            let named: Vec<&str> = vec![$($file),*];
            for entry in std::fs::read_dir(fixtures_dir()).unwrap() {
                let file = entry.unwrap().file_name().into_string().unwrap();
                let Some(stem) = file.strip_suffix(".json") else { continue };
                if stem.starts_with("3.5.2") {
                    assert!(named.contains(&stem), "fixture {file} is not run by any test");
                }
            }
        }
    };
}

golden! {
    rfc_3_5_2_1_add_member => "3.5.2.1-add-member",
    rfc_3_5_2_1_add_member_external => "3.5.2.1-add-member-external",
    rfc_3_5_2_1_add_pathless => "3.5.2.1-add-pathless",
    rfc_3_5_2_1_add_email_primary => "3.5.2.1-add-email-primary",
    rfc_3_5_2_1_add_existing_email => "3.5.2.1-add-existing-email",
    rfc_3_5_2_1_add_single_attribute => "3.5.2.1-add-single-attribute",
    rfc_3_5_2_1_add_complex_merge => "3.5.2.1-add-complex-merge",
    rfc_3_5_2_2_remove_member => "3.5.2.2-remove-member",
    rfc_3_5_2_2_remove_member_external => "3.5.2.2-remove-member-external",
    rfc_3_5_2_2_remove_all_members => "3.5.2.2-remove-all-members",
    rfc_3_5_2_2_remove_filter_multi_valued => "3.5.2.2-remove-filter-multi-valued",
    rfc_3_5_2_2_remove_sub_attribute_filter => "3.5.2.2-remove-sub-attribute-filter",
    rfc_3_5_2_2_remove_sub_attribute => "3.5.2.2-remove-sub-attribute",
    rfc_3_5_2_2_remove_all_then_add => "3.5.2.2-remove-all-then-add",
    rfc_3_5_2_2_remove_without_path => "3.5.2.2-remove-without-path",
    rfc_3_5_2_2_remove_required => "3.5.2.2-remove-required",
    rfc_3_5_2_3_replace_members => "3.5.2.3-replace-members",
    rfc_3_5_2_3_replace_members_external => "3.5.2.3-replace-members-external",
    rfc_3_5_2_3_replace_work_address => "3.5.2.3-replace-work-address",
    rfc_3_5_2_3_replace_work_address_street => "3.5.2.3-replace-work-address-street",
    rfc_3_5_2_3_replace_email_filter => "3.5.2.3-replace-email-filter",
    rfc_3_5_2_3_replace_pathless => "3.5.2.3-replace-pathless",
    rfc_3_5_2_3_replace_no_match_or_filter => "3.5.2.3-replace-no-match-or-filter",
    rfc_3_5_2_3_replace_readonly => "3.5.2.3-replace-readonly",
}

// ---------------------------------------------------------------------------------------
// Helpers

pub(crate) fn user() -> Resource {
    Resource::from_value(json!({
        "schemas": [USER],
        "id": "US0123456789abcdef0123456789abcdef",
        "externalId": "e-1",
        "userName": "alice@example.com",
        "name": {"givenName": "Alice", "familyName": "Liddell"},
        "displayName": "Alice Liddell",
        "active": true,
        "emails": [{"value": "alice@example.com", "type": "work", "primary": true}],
        "meta": {"resourceType": "User", "created": "2024-01-01T00:00:00Z",
                 "lastModified": "2024-01-01T00:00:00Z", "version": "W/\"1\""}
    }))
    .unwrap()
}

fn group() -> Resource {
    Resource::from_value(json!({
        "schemas": [GROUP],
        "id": "GR0123456789abcdef0123456789abcdef",
        "displayName": "Engineering",
        "members": [
            {"value": "US00000000000000000000000000000001", "type": "User"},
            {"value": "US00000000000000000000000000000002", "type": "User"},
            {"value": "US00000000000000000000000000000003", "type": "User"}
        ],
        "meta": {"resourceType": "Group", "version": "W/\"1\""}
    }))
    .unwrap()
}

fn ops(v: Value) -> Vec<PatchOperation> {
    let req: PatchRequest = serde_json::from_value(v).unwrap();
    req.operations
}

fn run(res: &mut Resource, kind: ResourceKind, body: Value) -> Result<PatchOutcome, ScimError> {
    let registry = Registry::builtin();
    patch::apply(res, &ops(body), &PatchContext::new(&registry, kind))
}

fn run_external(res: &mut Resource, body: Value) -> Result<PatchOutcome, ScimError> {
    let registry = Registry::builtin();
    let ctx = PatchContext::new(&registry, ResourceKind::Group).with_external_members(true);
    patch::apply(res, &ops(body), &ctx)
}

fn member_ids(res: &Resource) -> Vec<String> {
    res.get("members")
        .and_then(Value::as_array)
        .map(|a| a.iter().map(|m| m["value"].as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------
// Microsoft Entra ID

#[test]
fn entra_op_names_in_any_case() {
    let mut u = user();
    run(
        &mut u,
        ResourceKind::User,
        json!({"schemas":[], "Operations":[
            {"op":"Add","path":"title","value":"Engineer"},
            {"op":"Replace","path":"displayName","value":"Al"},
            {"op":"Remove","path":"name.familyName"},
            {"op":"REPLACE","path":"nickName","value":"A"}
        ]}),
    )
    .unwrap();
    assert_eq!(u.get("title"), Some(&json!("Engineer")));
    assert_eq!(u.get("displayName"), Some(&json!("Al")));
    assert_eq!(u.get("nickName"), Some(&json!("A")));
    assert_eq!(u.get("name"), Some(&json!({"givenName": "Alice"})));
}

#[test]
fn entra_attribute_names_in_any_case() {
    let mut u = user();
    run(
        &mut u,
        ResourceKind::User,
        json!({"Operations":[
            {"op":"Replace","path":"UserName","value":"ALICE2@example.com"},
            {"op":"Replace","path":"Active","value":false},
            {"op":"Add","path":"Manager.Value","value":"US0000000000000000000000000000000a"},
            {"op":"Replace","path":"NAME.GIVENNAME","value":"Ally"}
        ]}),
    )
    .unwrap();
    let m = u.as_map();
    assert_eq!(m["userName"], json!("ALICE2@example.com"));
    assert_eq!(m["active"], json!(false));
    assert_eq!(m["name"]["givenName"], json!("Ally"));
    assert_eq!(m[ENT], json!({"manager": {"value": "US0000000000000000000000000000000a"}}));
    assert!(u.schemas().contains(&ENT));
    assert!(!m.contains_key("UserName") && !m.contains_key("Active"));
}

#[test]
fn entra_empty_operations_change_nothing() {
    let mut u = user();
    let out = run(&mut u, ResourceKind::User, json!({"schemas":[], "Operations":[]})).unwrap();
    assert!(!out.changed);
    assert!(out.member_ops.is_empty());
    assert_eq!(u, user());
}

#[test]
fn entra_active_as_true_false_strings() {
    let mut u = user();
    run(
        &mut u,
        ResourceKind::User,
        json!({"Operations":[
        {"op":"Replace","path":"active","value":"False"}]}),
    )
    .unwrap();
    assert_eq!(u.get("active"), Some(&json!(false)));
    run(
        &mut u,
        ResourceKind::User,
        json!({"Operations":[
        {"op":"Replace","value":{"active":"True"}}]}),
    )
    .unwrap();
    assert_eq!(u.get("active"), Some(&json!(true)));
    let err = run(
        &mut u,
        ResourceKind::User,
        json!({"Operations":[
        {"op":"Replace","path":"active","value":"yes"}]}),
    )
    .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidValue);
}

#[test]
fn entra_member_removal_removes_exactly_the_listed_members() {
    let body = json!({"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations":[{"op":"Remove","path":"members",
            "value":[{"$ref":null,"value":"US00000000000000000000000000000002"}]}]});
    let mut g = group();
    run(&mut g, ResourceKind::Group, body.clone()).unwrap();
    assert_eq!(
        member_ids(&g),
        ["US00000000000000000000000000000001", "US00000000000000000000000000000003"]
    );
    // Members as rows: exactly one Remove, never a Clear.
    let mut g = group();
    g.as_map_mut().shift_remove("members");
    let out = run_external(&mut g, body).unwrap();
    assert_eq!(
        out.member_ops,
        vec![MemberOp::Remove(vec!["US00000000000000000000000000000002".into()])]
    );
    assert!(!out.changed);
}

#[test]
fn entra_member_add_with_extra_keys() {
    let body = json!({"Operations":[{"op":"Add","path":"members","name":"addMember",
        "value":[{"displayName":"Bob","value":"US00000000000000000000000000000009"}]}]});
    let mut g = group();
    run(&mut g, ResourceKind::Group, body.clone()).unwrap();
    let last = g.get("members").unwrap().as_array().unwrap().last().unwrap().clone();
    assert_eq!(last, json!({"value":"US00000000000000000000000000000009","type":"User"}));
    let mut g = group();
    g.as_map_mut().shift_remove("members");
    let out = run_external(&mut g, body).unwrap();
    assert_eq!(
        member_op_json(&out.member_ops[0]),
        json!({"add":[{"value":"US00000000000000000000000000000009","type":"User"}]})
    );
}

#[test]
fn entra_pathless_replace_with_dotted_keys() {
    let mut u = user();
    run(
        &mut u,
        ResourceKind::User,
        json!({"Operations":[{"op":"Replace","value":{
        "name.givenName":"Alicia","name.familyName":"L","displayName":"Alicia L"}}]}),
    )
    .unwrap();
    assert_eq!(u.get("name"), Some(&json!({"givenName":"Alicia","familyName":"L"})));
    assert_eq!(u.get("displayName"), Some(&json!("Alicia L")));
}

#[test]
fn entra_pathless_replace_with_full_urn_keys() {
    let mut u = user();
    run(&mut u, ResourceKind::User, json!({"Operations":[{"op":"Replace","value":{
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber":"42",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value":"US0000000000000000000000000000000b",
        "urn:ietf:params:scim:schemas:core:2.0:User:title":"CTO"}}]}))
    .unwrap();
    assert_eq!(
        u.as_map()[ENT],
        json!({"employeeNumber":"42",
        "manager":{"value":"US0000000000000000000000000000000b"}})
    );
    assert_eq!(u.get("title"), Some(&json!("CTO")));
    assert_eq!(u.schemas(), [USER, ENT]);
}

#[test]
fn entra_pathless_replace_with_extension_object() {
    let mut u = user();
    u.as_map_mut().insert(ENT.into(), json!({"costCenter":"CC1","department":"Old"}));
    run(
        &mut u,
        ResourceKind::User,
        json!({"Operations":[{"op":"Replace","value":{
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":
            {"department":"R&D","division":"Core"}}}]}),
    )
    .unwrap();
    // Merged into the extension: costCenter is kept.
    assert_eq!(u.as_map()[ENT], json!({"costCenter":"CC1","department":"R&D","division":"Core"}));
}

#[test]
fn entra_filter_on_missing_email_creates_it() {
    let mut u = user();
    u.as_map_mut().shift_remove("emails");
    run(
        &mut u,
        ResourceKind::User,
        json!({"Operations":[
        {"op":"Replace","path":"emails[type eq \"work\"].value","value":"alice@work.example"},
        {"op":"Replace","path":"emails[type eq \"work\"].primary","value":true}]}),
    )
    .unwrap();
    assert_eq!(
        u.get("emails"),
        Some(&json!([{"type":"work","value":"alice@work.example","primary":true}]))
    );
}

#[test]
fn entra_filter_on_missing_address_creates_one_element() {
    let mut u = user();
    run(
        &mut u,
        ResourceKind::User,
        json!({"Operations":[
        {"op":"Replace","path":"addresses[type eq \"work\"].formatted","value":"1 Main St"},
        {"op":"Replace","path":"addresses[type eq \"work\"].locality","value":"Springfield"},
        {"op":"Replace","path":"addresses[type eq \"work\"].postalCode","value":"12345"}]}),
    )
    .unwrap();
    assert_eq!(
        u.get("addresses"),
        Some(&json!([{"type":"work","formatted":"1 Main St",
        "locality":"Springfield","postalCode":"12345"}]))
    );
}

#[test]
fn entra_manager_as_bare_string() {
    let mut u = user();
    run(
        &mut u,
        ResourceKind::User,
        json!({"Operations":[{"op":"Add",
        "path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
        "value":"US0000000000000000000000000000000c"}]}),
    )
    .unwrap();
    assert_eq!(u.as_map()[ENT], json!({"manager":{"value":"US0000000000000000000000000000000c"}}));
    run(&mut u, ResourceKind::User, json!({"Operations":[{"op":"Replace","value":{
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager":"US0000000000000000000000000000000d"}}]}))
    .unwrap();
    assert_eq!(u.as_map()[ENT]["manager"], json!({"value":"US0000000000000000000000000000000d"}));
}

#[test]
fn entra_extension_urn_path_with_sub_attribute() {
    let mut u = user();
    run(
        &mut u,
        ResourceKind::User,
        json!({"Operations":[{"op":"replace",
        "path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
        "value":"US0000000000000000000000000000000e"}]}),
    )
    .unwrap();
    assert_eq!(u.as_map()[ENT], json!({"manager":{"value":"US0000000000000000000000000000000e"}}));
    run(
        &mut u,
        ResourceKind::User,
        json!({"Operations":[{"op":"remove",
        "path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"}]}),
    )
    .unwrap();
    assert!(u.get(ENT).is_none(), "an empty extension is dropped");
    assert_eq!(u.schemas(), [USER]);
}

// ---------------------------------------------------------------------------------------
// Okta

#[test]
fn okta_deactivate_by_pathless_replace() {
    let mut u = user();
    let out = run(
        &mut u,
        ResourceKind::User,
        json!({"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations":[{"op":"replace","value":{"active":false}}]}),
    )
    .unwrap();
    assert!(out.changed);
    assert_eq!(u.get("active"), Some(&json!(false)));
    let again = run(
        &mut u,
        ResourceKind::User,
        json!({"Operations":[{"op":"replace","value":{"active":false}}]}),
    )
    .unwrap();
    assert!(!again.changed, "a no-op PATCH reports no change");
}

#[test]
fn okta_group_rename_with_id_in_value() {
    let mut g = group();
    run(
        &mut g,
        ResourceKind::Group,
        json!({"Operations":[{"op":"replace","value":{
        "id":"GR0123456789abcdef0123456789abcdef","displayName":"Platform"}}]}),
    )
    .unwrap();
    assert_eq!(g.get("displayName"), Some(&json!("Platform")));
    assert_eq!(g.id(), Some("GR0123456789abcdef0123456789abcdef"));
    // readOnly attributes in a path-less value are ignored, even a different id and meta.
    run(
        &mut g,
        ResourceKind::Group,
        json!({"Operations":[{"op":"replace","value":{
        "id":"GRffffffffffffffffffffffffffffffff","meta":{"version":"x"},"displayName":"P2"}}]}),
    )
    .unwrap();
    assert_eq!(g.id(), Some("GR0123456789abcdef0123456789abcdef"));
    assert_eq!(g.as_map()["meta"]["version"], json!("W/\"1\""));
}

#[test]
fn okta_remove_and_add_members_in_one_request() {
    let body = json!({"Operations":[
        {"op":"remove","path":"members[value eq \"US00000000000000000000000000000001\"]"},
        {"op":"add","path":"members","value":[{"value":"US00000000000000000000000000000004","display":"D"}]}]});
    let mut g = group();
    run(&mut g, ResourceKind::Group, body.clone()).unwrap();
    assert_eq!(
        member_ids(&g),
        [
            "US00000000000000000000000000000002",
            "US00000000000000000000000000000003",
            "US00000000000000000000000000000004"
        ]
    );
    let mut g = group();
    g.as_map_mut().shift_remove("members");
    let out = run_external(&mut g, body).unwrap();
    let got: Vec<Value> = out.member_ops.iter().map(member_op_json).collect();
    assert_eq!(
        got,
        vec![
            json!({"remove":["US00000000000000000000000000000001"]}),
            json!({"add":[{"value":"US00000000000000000000000000000004","type":"User"}]})
        ]
    );
}

#[test]
fn okta_replace_members_with_empty_list() {
    let body = json!({"Operations":[{"op":"replace","path":"members","value":[]}]});
    let mut g = group();
    run(&mut g, ResourceKind::Group, body.clone()).unwrap();
    assert!(g.get("members").is_none());
    let mut g = group();
    g.as_map_mut().shift_remove("members");
    let out = run_external(&mut g, body).unwrap();
    assert_eq!(out.member_ops, vec![MemberOp::ReplaceAll(vec![])]);
}

#[test]
fn okta_member_without_type_defaults_to_user() {
    let mut g = group();
    run(
        &mut g,
        ResourceKind::Group,
        json!({"Operations":[{"op":"add","path":"members",
        "value":[{"value":"GR0000000000000000000000000000000f","type":"group"},
                 {"value":"US0000000000000000000000000000000f"}]}]}),
    )
    .unwrap();
    let members = g.get("members").unwrap().as_array().unwrap();
    assert_eq!(members[3]["type"], json!("Group"));
    assert_eq!(members[4]["type"], json!("User"));
}

// ---------------------------------------------------------------------------------------
// Rules

#[test]
fn failing_operation_changes_nothing() {
    let mut u = user();
    let err = run(
        &mut u,
        ResourceKind::User,
        json!({"Operations":[
        {"op":"replace","path":"displayName","value":"Changed"},
        {"op":"replace","path":"active","value":{"not":"a boolean"}}]}),
    )
    .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidValue);
    assert!(err.detail.starts_with("operation 2 (replace)"), "{}", err.detail);
    assert_eq!(u, user());
}

#[test]
fn readonly_path_is_a_mutability_error() {
    for path in [
        "id",
        "meta.created",
        "groups",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.displayName",
    ] {
        let mut u = user();
        let err = run(
            &mut u,
            ResourceKind::User,
            json!({"Operations":[{"op":"replace","path":path,"value":"x"}]}),
        )
        .unwrap_err();
        assert_eq!(err.code, ErrorCode::Mutability, "{path}");
    }
}

#[test]
fn changing_an_immutable_attribute_is_refused() {
    let mut registry = Registry::builtin();
    registry
        .add_extension_json(
            r#"{"id":"urn:acme:scim:schemas:1.0:UserExtension",
        "attributes":[{"name":"badge","type":"string","mutability":"immutable"}]}"#,
        )
        .unwrap();
    let ctx = PatchContext::new(&registry, ResourceKind::User);
    let mut u = user();
    let set = ops(
        json!({"Operations":[{"op":"add","path":"urn:acme:scim:schemas:1.0:UserExtension:badge","value":"B1"}]}),
    );
    patch::apply(&mut u, &set, &ctx).unwrap();
    let again = ops(
        json!({"Operations":[{"op":"replace","path":"urn:acme:scim:schemas:1.0:UserExtension:badge","value":"B2"}]}),
    );
    let err = patch::apply(&mut u, &again, &ctx).unwrap_err();
    assert_eq!(err.code, ErrorCode::Mutability);
    // Setting the same value again is fine.
    patch::apply(&mut u, &set, &ctx).unwrap();
}

#[test]
fn changing_an_immutable_sub_attribute_is_refused() {
    let mut registry = Registry::builtin();
    registry
        .add_extension_json(
            r#"{"id":"urn:acme:scim:schemas:1.0:UserExtension",
        "attributes":[{"name":"badge","type":"complex","subAttributes":[
            {"name":"serial","type":"string","mutability":"immutable"},
            {"name":"colour","type":"string"}]}]}"#,
        )
        .unwrap();
    let ctx = PatchContext::new(&registry, ResourceKind::User);
    let ext = "urn:acme:scim:schemas:1.0:UserExtension";
    let mut u = user();
    let set = ops(json!({"Operations":[{"op":"add","path":format!("{ext}:badge"),
        "value":{"serial":"S1","colour":"red"}}]}));
    patch::apply(&mut u, &set, &ctx).unwrap();
    let colour = ops(
        json!({"Operations":[{"op":"replace","path":format!("{ext}:badge.colour"),"value":"blue"}]}),
    );
    patch::apply(&mut u, &colour, &ctx).unwrap();
    let serial = ops(
        json!({"Operations":[{"op":"replace","path":format!("{ext}:badge.serial"),"value":"S2"}]}),
    );
    let err = patch::apply(&mut u, &serial, &ctx).unwrap_err();
    assert_eq!(err.code, ErrorCode::Mutability);
    assert!(err.detail.contains("badge.serial"), "{}", err.detail);
}

#[test]
fn group_member_sub_attributes_are_immutable() {
    let mut g = group();
    g.as_map_mut().shift_remove("members");
    let err = run_external(
        &mut g,
        json!({"Operations":[{"op":"replace",
        "path":"members[value eq \"US00000000000000000000000000000001\"].display","value":"x"}]}),
    )
    .unwrap_err();
    assert_eq!(err.code, ErrorCode::Mutability);
}

#[test]
fn remove_with_non_matching_filter_succeeds_unchanged() {
    let mut g = group();
    let out = run(
        &mut g,
        ResourceKind::Group,
        json!({"Operations":[
        {"op":"remove","path":"members[value eq \"US0000000000000000000000000000ffff\"]"}]}),
    )
    .unwrap();
    assert!(!out.changed);
    assert_eq!(g, group());
}

#[test]
fn remove_members_by_type_becomes_remove_where() {
    let mut g = group();
    g.as_map_mut().shift_remove("members");
    let out = run_external(
        &mut g,
        json!({"Operations":[
        {"op":"remove","path":"members[type eq \"Group\"]"},
        {"op":"remove","path":"members"},
        {"op":"add","value":{"members":[{"value":"US00000000000000000000000000000005"}]}}]}),
    )
    .unwrap();
    let got: Vec<Value> = out.member_ops.iter().map(member_op_json).collect();
    assert_eq!(got[0]["removeWhere"].as_str().unwrap().to_ascii_lowercase(), "type eq \"group\"");
    assert_eq!(got[1], json!("clear"));
    assert_eq!(
        got[2],
        json!({"add":[{"value":"US00000000000000000000000000000005","type":"User"}]})
    );
}

#[test]
fn unknown_path_is_invalid_path() {
    let mut u = user();
    for path in ["nope", "name.nope", "emails[type eq", "urn:x:y:z:attr"] {
        let err = run(
            &mut u,
            ResourceKind::User,
            json!({"Operations":[{"op":"add","path":path,"value":"x"}]}),
        )
        .unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidPath, "{path}: {err:?}");
    }
}

#[test]
fn two_primaries_in_one_value_are_refused() {
    let mut u = user();
    let err = run(
        &mut u,
        ResourceKind::User,
        json!({"Operations":[{"op":"add","path":"emails",
        "value":[{"value":"a@x.io","primary":true},{"value":"b@x.io","primary":true}]}]}),
    )
    .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidValue);
}

#[test]
fn replace_on_missing_attribute_adds_it() {
    // RFC 7644 3.5.2.3: "If the target location path specifies an attribute that does not
    // exist, the service provider SHALL treat the operation as an "add"".
    let mut u = user();
    run(
        &mut u,
        ResourceKind::User,
        json!({"Operations":[
        {"op":"replace","path":"phoneNumbers","value":[{"value":"+1 555","type":"work"}]}]}),
    )
    .unwrap();
    assert_eq!(u.get("phoneNumbers"), Some(&json!([{"value":"+1 555","type":"work"}])));
}

/// RFC 7643 2.5: null (and `[]` for a multi-valued attribute) is unassigned. Microsoft's
/// validator sends `{"op":"Replace","path":"title","value":null}`.
#[test]
fn null_value_unassigns() {
    let mut u = user();
    u.as_map_mut().insert("title".to_owned(), json!("Engineer"));
    u.as_map_mut().insert("nickName".to_owned(), json!("Al"));
    u.as_map_mut()
        .insert("phoneNumbers".to_owned(), json!([{"value": "555-1234", "type": "work"}]));
    u.as_map_mut().insert(ENT.to_owned(), json!({"employeeNumber": "7", "costCenter": "X"}));
    run(
        &mut u,
        ResourceKind::User,
        json!({"Operations":[
            {"op":"Replace","path":"title","value":null},
            {"op":"add","path":"nickName","value":null},
            {"op":"replace","path":"name.familyName","value":null},
            {"op":"replace","path":"emails","value":[]},
            {"op":"replace","path":"phoneNumbers[type eq \"work\"].value","value":null},
            {"op":"replace","path":format!("{ENT}:costCenter"),"value":null}
        ]}),
    )
    .unwrap();
    for gone in ["title", "nickName", "emails"] {
        assert_eq!(u.get(gone), None, "{gone}");
    }
    // As `remove` of the same path: the element stays, without the sub-attribute.
    assert_eq!(u.get("phoneNumbers"), Some(&json!([{"type": "work"}])));
    assert_eq!(u.get("name"), Some(&json!({"givenName": "Alice"})));
    assert_eq!(u.get(ENT), Some(&json!({"employeeNumber": "7"})));

    // Path-less values whose members are null, at the top, nested and in an extension.
    let mut u = user();
    u.as_map_mut().insert("title".to_owned(), json!("Engineer"));
    u.as_map_mut()
        .insert(ENT.to_owned(), json!({"employeeNumber": "7", "manager": {"value": "US1"}}));
    run(
        &mut u,
        ResourceKind::User,
        json!({"Operations":[{"op":"replace","value":{
            "title": null,
            "name": {"familyName": null},
            "emails": [],
            "displayName": "Al",
            format!("{ENT}:manager"): null,
            ENT: {"employeeNumber": null}
        }}]}),
    )
    .unwrap();
    assert_eq!(u.get("title"), None);
    assert_eq!(u.get("emails"), None);
    assert_eq!(u.get("name"), Some(&json!({"givenName": "Alice"})));
    assert_eq!(u.get("displayName"), Some(&json!("Al")));
    assert_eq!(u.get(ENT), None);

    // `add` of a value object with a null member unassigns that member too.
    let mut u = user();
    run(&mut u, ResourceKind::User, json!({"Operations":[{"op":"add","path":"name","value":{"familyName":null,"middleName":"Q"}}]}))
        .unwrap();
    assert_eq!(u.get("name"), Some(&json!({"givenName": "Alice", "middleName": "Q"})));

    // `add` of an empty array adds no values: it never clears what is there.
    let mut u = user();
    let before = u.clone();
    run(
        &mut u,
        ResourceKind::User,
        json!({"Operations":[{"op":"add","path":"emails","value":[]}]}),
    )
    .unwrap();
    assert_eq!(u, before);
}

/// A required attribute cannot be unassigned: 400 `invalidValue`, and nothing changes.
#[test]
fn null_on_a_required_attribute_is_refused() {
    for body in [
        json!({"Operations":[{"op":"replace","path":"userName","value":null}]}),
        json!({"Operations":[{"op":"Add","path":"UserName","value":null}]}),
        json!({"Operations":[{"op":"replace","value":{"userName":null}}]}),
        json!({"Operations":[{"op":"replace","path":"title","value":null},{"op":"replace","path":"userName","value":null}]}),
    ] {
        let mut u = user();
        let before = u.clone();
        let e = run(&mut u, ResourceKind::User, body.clone()).unwrap_err();
        assert_eq!(e.status().as_u16(), 400, "{body}");
        assert_eq!(e.scim_type().map(|t| t.as_str()), Some("invalidValue"), "{body}: {e:?}");
        assert!(e.detail.contains("userName"), "{body}: {}", e.detail);
        assert_eq!(u, before);
    }
    let mut g = group();
    let e = run(
        &mut g,
        ResourceKind::Group,
        json!({"Operations":[{"op":"replace","path":"displayName","value":null}]}),
    )
    .unwrap_err();
    assert_eq!(e.scim_type().map(|t| t.as_str()), Some("invalidValue"));
}

/// A `"value": null` in the request body is kept as null, not read as "no value".
#[test]
fn explicit_null_value_survives_parsing() {
    let op: PatchOperation =
        serde_json::from_value(json!({"op":"replace","path":"title","value":null})).unwrap();
    assert_eq!(op.value, Some(Value::Null));
    assert_eq!(serde_json::to_value(&op).unwrap()["value"], Value::Null);
    let op: PatchOperation = serde_json::from_value(json!({"op":"remove","path":"title"})).unwrap();
    assert_eq!(op.value, None);
}

// ---------------------------------------------------------------------------------------
// Properties

fn gen_target() -> impl Strategy<Value = (String, bool)> {
    // (path, multi-valued)
    prop_oneof![
        Just(("nickName".to_owned(), false)),
        Just(("title".to_owned(), false)),
        Just(("name.middleName".to_owned(), false)),
        Just((
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department".to_owned(),
            false
        )),
        Just((
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value".to_owned(),
            false
        )),
        Just(("phoneNumbers".to_owned(), true)),
        Just(("emails".to_owned(), true)),
        Just(("entitlements".to_owned(), true)),
    ]
}

proptest! {
    #[test]
    fn add_then_remove_restores(
        (path, multi) in gen_target(),
        value in "[a-z0-9@.]{1,20}",
    ) {
        let original = user();
        let mut u = original.clone();
        let registry = Registry::builtin();
        let ctx = PatchContext::new(&registry, ResourceKind::User);
        let v = format!("zz-{value}");
        let (add, remove) = if multi {
            (json!({"op":"add","path":path,"value":[{"value":v,"type":"other"}]}),
             json!({"op":"remove","path":format!("{path}[value eq \"{v}\"]")}))
        } else {
            (json!({"op":"add","path":path,"value":v}), json!({"op":"remove","path":path}))
        };
        let out = patch::apply(&mut u, &ops(json!({"Operations":[add]})), &ctx).unwrap();
        prop_assert!(out.changed);
        prop_assert_ne!(&u, &original);
        patch::apply(&mut u, &ops(json!({"Operations":[remove]})), &ctx).unwrap();
        prop_assert_eq!(u, original);
    }

    #[test]
    fn apply_never_panics(ops_json in proptest::collection::vec(arb_op(), 0..6)) {
        let registry = Registry::builtin();
        for kind in [ResourceKind::User, ResourceKind::Group] {
            for external in [false, true] {
                let Ok(req) = serde_json::from_value::<PatchRequest>(json!({"Operations": ops_json.clone()})) else { continue };
                let mut r = if kind == ResourceKind::User { user() } else { group() };
                let before = r.clone();
                let ctx = PatchContext::new(&registry, kind).with_external_members(external);
                if patch::apply(&mut r, &req.operations, &ctx).is_err() {
                    prop_assert_eq!(r, before);
                }
            }
        }
    }
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(|i| json!(i)),
        prop_oneof![Just("True".to_owned()), Just("x".to_owned()), "[a-zA-Z0-9@. ]{0,8}"]
            .prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::vec((arb_key(), inner), 0..4)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

fn arb_key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("value".to_owned()),
        Just("type".to_owned()),
        Just("primary".to_owned()),
        Just("userName".to_owned()),
        Just("name.givenName".to_owned()),
        Just("members".to_owned()),
        Just("emails".to_owned()),
        Just("active".to_owned()),
        Just("displayName".to_owned()),
        Just(format!("{ENT}:manager")),
        Just(ENT.to_owned()),
        Just("id".to_owned()),
        "[a-zA-Z.$]{1,6}",
    ]
}

fn arb_path() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(prop_oneof![
        arb_key(),
        Just("emails[type eq \"work\"].value".to_owned()),
        Just("members[value eq \"US00000000000000000000000000000001\"]".to_owned()),
        Just("members[type eq \"User\" or display pr]".to_owned()),
        Just("addresses[type eq \"work\" and primary eq true].formatted".to_owned()),
        Just("emails[not (type eq \"x\")]".to_owned()),
        Just(format!("{ENT}:manager.value")),
        "[a-zA-Z.\\[\\]\" ]{0,12}",
    ])
}

fn arb_op() -> impl Strategy<Value = Value> {
    (
        prop_oneof![Just("add"), Just("Replace"), Just("remove")],
        arb_path(),
        proptest::option::of(arb_json()),
    )
        .prop_map(|(op, path, value)| {
            let mut m = serde_json::Map::new();
            m.insert("op".into(), json!(op));
            if let Some(p) = path {
                m.insert("path".into(), json!(p));
            }
            if let Some(v) = value {
                m.insert("value".into(), v);
            }
            Value::Object(m)
        })
}

#[test]
fn the_passwords_a_patch_sets_are_found_before_it_runs() {
    let req: PatchRequest = serde_json::from_value(json!({"Operations": [
        {"op": "replace", "path": "password", "value": "p1"},
        {"op": "replace", "path": "urn:ietf:params:scim:schemas:core:2.0:User:PASSWORD",
         "value": "p2"},
        {"op": "replace", "value": {"password": "p3", "displayName": "d"}},
        {"op": "replace", "path": "displayName", "value": "not-a-password"},
        {"op": "replace", "path": "password", "value": 7}
    ]}))
    .unwrap();
    assert_eq!(patch::passwords(&req.operations), vec!["p1", "p2", "p3"]);
}
