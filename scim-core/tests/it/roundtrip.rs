//! Every public wire type of scim-core round-trips through JSON (issue 2, item 9): what the
//! server writes, the client reads back unchanged, and the reverse.

use proptest::collection::{btree_map, vec};
use proptest::option;
use proptest::prelude::*;
use scim_core::error::{ErrorBody, ScimType};
use scim_core::message::*;
use scim_core::policy::Policy;
use scim_core::resource::{
    EnterpriseUser, Group, Manager, Member, Meta, MultiValue, Name, Resource, User,
};
use scim_core::schema::{
    AttrType, Attribute, Mutability, ResourceKind, ResourceType, Returned, Schema, SchemaExtension,
    Uniqueness,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use std::fmt::Debug;

fn round_trip<T: Serialize + DeserializeOwned + PartialEq + Debug>(
    v: &T,
) -> Result<(), TestCaseError> {
    let text = serde_json::to_string(v).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let back: T =
        serde_json::from_str(&text).map_err(|e| TestCaseError::fail(format!("{e}: {text}")))?;
    prop_assert_eq!(&back, v, "through {}", text);
    Ok(())
}

fn text() -> impl Strategy<Value = String> {
    "[ -~\u{e9}\u{4e2d}\u{1f600}]{0,12}"
}

fn name() -> impl Strategy<Value = String> {
    "[a-zA-Z][a-zA-Z0-9_]{0,8}"
}

/// JSON without floats (their text form is not guaranteed to round-trip bit for bit).
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::Array),
            btree_map(name(), inner, 0..4).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn object() -> impl Strategy<Value = Map<String, Value>> {
    btree_map(name(), json(), 0..5).prop_map(|m| m.into_iter().collect())
}

/// Extra members of typed views, named so they never collide with a typed field.
fn extra() -> impl Strategy<Value = Map<String, Value>> {
    btree_map("x_[a-z]{1,6}", json(), 0..3).prop_map(|m| m.into_iter().collect())
}

fn meta() -> impl Strategy<Value = Meta> {
    (
        option::of(text()),
        option::of(text()),
        option::of(text()),
        option::of(text()),
        option::of(text()),
    )
        .prop_map(|(resource_type, created, last_modified, location, version)| Meta {
            resource_type,
            created,
            last_modified,
            location,
            version,
        })
}

fn multi_value() -> impl Strategy<Value = MultiValue> {
    (
        option::of(text()),
        option::of(text()),
        option::of(text()),
        option::of(any::<bool>()),
        option::of(text()),
    )
        .prop_map(|(value, display, kind, primary, reference)| MultiValue {
            value,
            display,
            kind,
            primary,
            reference,
        })
}

fn user() -> impl Strategy<Value = User> {
    (
        vec(text(), 0..3),
        option::of(text()),
        option::of(text()),
        text(),
        option::of((option::of(text()), option::of(text()), option::of(text()))),
        option::of(any::<bool>()),
        vec(multi_value(), 0..3),
        option::of(meta()),
        extra(),
    )
        .prop_map(
            |(schemas, id, external_id, user_name, name, active, emails, meta, extra)| User {
                schemas,
                id,
                external_id,
                user_name,
                name: name.map(|(formatted, family_name, given_name)| Name {
                    formatted,
                    family_name,
                    given_name,
                    ..Name::default()
                }),
                display_name: None,
                active,
                emails,
                groups: Vec::new(),
                meta,
                extra,
            },
        )
}

fn group() -> impl Strategy<Value = Group> {
    let member = (text(), option::of(text()), option::of(text()), option::of(text()))
        .prop_map(|(value, reference, display, kind)| Member { value, reference, display, kind });
    (vec(text(), 0..2), option::of(text()), text(), vec(member, 0..4), option::of(meta()), extra())
        .prop_map(|(schemas, id, display_name, members, meta, extra)| Group {
            schemas,
            id,
            external_id: None,
            display_name,
            members,
            meta,
            extra,
        })
}

fn attribute() -> impl Strategy<Value = Attribute> {
    let kinds = prop_oneof![
        Just(AttrType::String),
        Just(AttrType::Boolean),
        Just(AttrType::Decimal),
        Just(AttrType::Integer),
        Just(AttrType::DateTime),
        Just(AttrType::Binary),
        Just(AttrType::Reference),
    ];
    let mutability = prop_oneof![
        Just(Mutability::ReadOnly),
        Just(Mutability::ReadWrite),
        Just(Mutability::Immutable),
        Just(Mutability::WriteOnly)
    ];
    let returned = prop_oneof![
        Just(Returned::Always),
        Just(Returned::Never),
        Just(Returned::Default),
        Just(Returned::Request)
    ];
    let uniqueness =
        prop_oneof![Just(Uniqueness::None), Just(Uniqueness::Server), Just(Uniqueness::Global)];
    (
        name(),
        kinds,
        any::<bool>(),
        any::<bool>(),
        mutability,
        returned,
        uniqueness,
        vec(name(), 0..3),
    )
        .prop_map(
            |(n, kind, multi_valued, case_exact, mutability, returned, uniqueness, canon)| {
                Attribute {
                    kind,
                    multi_valued,
                    case_exact,
                    mutability,
                    returned,
                    uniqueness,
                    canonical_values: canon,
                    ..Attribute::simple(&n, kind)
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn resource(m in object()) {
        round_trip(&Resource(m))?;
    }

    #[test]
    fn user_and_enterprise(u in user(), dept in option::of(text()), mgr in option::of(text())) {
        round_trip(&u)?;
        let e = EnterpriseUser {
            department: dept,
            manager: mgr.map(|v| Manager { value: Some(v), ..Manager::default() }),
            ..EnterpriseUser::default()
        };
        round_trip(&e)?;
    }

    #[test]
    fn group_(g in group()) {
        round_trip(&g)?;
    }

    #[test]
    fn list_response(items in vec(object(), 0..4), total in any::<u32>(), start in 1u64..1000,
                     cursor in option::of("[A-Za-z0-9_-]{1,20}")) {
        let mut l = ListResponse::new(items.into_iter().map(Resource).collect(), u64::from(total), start);
        l.next_cursor = cursor;
        round_trip(&l)?;
    }

    #[test]
    fn search_request(attrs in vec(name(), 0..3), excluded in vec(name(), 0..3),
                      filter in option::of(text()), sort_by in option::of(name()),
                      desc in option::of(any::<bool>()), start in option::of(any::<i64>()),
                      count in option::of(any::<i64>()), cursor in option::of(text())) {
        let r = SearchRequest {
            schemas: vec![SEARCH_REQUEST.to_owned()],
            attributes: attrs,
            excluded_attributes: excluded,
            filter,
            sort_by,
            sort_order: desc.map(|d| if d { SortOrder::Descending } else { SortOrder::Ascending }),
            start_index: start,
            count,
            cursor,
        };
        round_trip(&r)?;
    }

    #[test]
    fn patch_request(ops in vec((0u8..3, option::of(text()), option::of(json())), 0..5)) {
        let operations = ops.into_iter().map(|(k, path, value)| PatchOperation {
            op: [PatchOpKind::Add, PatchOpKind::Replace, PatchOpKind::Remove][usize::from(k)],
            path,
            value: value.filter(|v| !v.is_null()),
        }).collect();
        round_trip(&PatchRequest { schemas: vec![PATCH_OP.to_owned()], operations })?;
    }

    #[test]
    fn bulk(ops in vec((text(), option::of(text()), option::of(text()), text(), option::of(object())), 0..4),
            fail in option::of(any::<u32>())) {
        let req = BulkRequest {
            schemas: vec![BULK_REQUEST.to_owned()],
            fail_on_errors: fail,
            operations: ops.iter().cloned().map(|(method, bulk_id, version, path, data)| BulkOperation {
                method, bulk_id, version, path, data: data.map(Value::Object),
            }).collect(),
        };
        round_trip(&req)?;
        let resp = BulkResponse {
            schemas: vec![BULK_RESPONSE.to_owned()],
            operations: ops.into_iter().map(|(method, bulk_id, version, path, data)| BulkOperationResponse {
                method, bulk_id, version, location: Some(path), status: "201".into(),
                response: data.map(Value::Object),
            }).collect(),
        };
        round_trip(&resp)?;
    }

    #[test]
    fn error_body(status in 400u16..600, detail in option::of(text()), code in option::of(any::<u32>()),
                  t in option::of(0usize..12)) {
        let types = [ScimType::InvalidFilter, ScimType::TooMany, ScimType::Uniqueness, ScimType::Mutability,
            ScimType::InvalidSyntax, ScimType::InvalidPath, ScimType::NoTarget, ScimType::InvalidValue,
            ScimType::InvalidVers, ScimType::Sensitive, ScimType::InvalidCursor, ScimType::ExpiredCursor];
        let body = ErrorBody {
            schemas: vec![scim_core::error::ERROR_SCHEMA.to_owned()],
            status: status.to_string(),
            scim_type: t.and_then(|i| types.get(i).copied()),
            detail,
            more_info: code.map(|c| format!("https://docs.example/errors#{c}")),
            code,
        };
        round_trip(&body)?;
    }

    #[test]
    fn service_provider_config(max_ops in any::<u32>(), max_payload in any::<u32>(), max_results in any::<u32>(),
                               page in option::of(any::<u32>()), cursor in any::<bool>()) {
        let c = ServiceProviderConfig {
            schemas: vec![scim_core::schema::SERVICE_PROVIDER_CONFIG_SCHEMA.to_owned()],
            documentation_uri: None,
            patch: Supported { supported: true },
            bulk: BulkConfig { supported: true, max_operations: u64::from(max_ops), max_payload_size: u64::from(max_payload) },
            filter: FilterConfig { supported: true, max_results: u64::from(max_results) },
            change_password: Supported { supported: false },
            sort: Supported { supported: true },
            etag: Supported { supported: true },
            pagination: Some(PaginationConfig {
                cursor,
                index: true,
                default_pagination_method: Some("index".into()),
                default_page_size: page.map(u64::from),
                max_page_size: page.map(u64::from),
                cursor_timeout: Some(600),
            }),
            authentication_schemes: vec![AuthenticationScheme {
                kind: "oauthbearertoken".into(),
                name: "OAuth Bearer Token".into(),
                description: "Bearer token".into(),
                spec_uri: None,
                documentation_uri: None,
                primary: true,
            }],
            meta: None,
        };
        round_trip(&c)?;
    }

    #[test]
    fn schema_and_resource_type(attrs in vec(attribute(), 1..5), id in "urn:[a-z]{1,5}:[a-z0-9:.]{1,20}[a-z]",
                                ext in vec(("urn:[a-z]{1,5}:[a-z]{1,10}", any::<bool>()), 0..3)) {
        round_trip(&Schema { id: id.clone(), name: Some("S".into()), description: None, attributes: attrs })?;
        round_trip(&ResourceType {
            id: "User".into(),
            name: "User".into(),
            endpoint: "/Users".into(),
            description: None,
            schema: id,
            schema_extensions: ext.into_iter().map(|(schema, required)| SchemaExtension { schema, required }).collect(),
        })?;
    }
}

#[test]
fn small_enums() {
    for p in Policy::ALL {
        let v = serde_json::to_value(p).unwrap();
        assert_eq!(serde_json::from_value::<Policy>(v).unwrap(), *p);
    }
    for k in [ResourceKind::User, ResourceKind::Group] {
        let v = serde_json::to_value(k).unwrap();
        assert_eq!(serde_json::from_value::<ResourceKind>(v).unwrap(), k);
    }
    for o in [SortOrder::Ascending, SortOrder::Descending] {
        let v = serde_json::to_value(o).unwrap();
        assert_eq!(serde_json::from_value::<SortOrder>(v).unwrap(), o);
    }
    // Entra sends op names capitalised; they read as the same kind.
    for (s, k) in [
        ("Add", PatchOpKind::Add),
        ("REPLACE", PatchOpKind::Replace),
        ("remove", PatchOpKind::Remove),
    ] {
        assert_eq!(serde_json::from_value::<PatchOpKind>(Value::from(s)).unwrap(), k);
    }
}
