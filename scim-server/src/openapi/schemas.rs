//! The document's `components.schemas`: JSON Schema (2020-12, the dialect of OpenAPI 3.1)
//! generated from the schema registry for User and Group (RFC 7643 7), and written out for
//! the protocol messages of RFC 7644 (ListResponse, PatchOp, SearchRequest, Bulk, the
//! discovery documents, the error body) after the serde types of `scim_core::message`.
//!
//! Each resource has a response schema (only `schemas` and `id` required, since
//! `attributes`/`excludedAttributes` may leave anything else out) and request schemas (the
//! registry's `required`, and on `/Organizations/{OrganizationSid}/scim` the User bounds of
//! [`crate::profile::USER_CONSTRAINTS`]). Mutability `readOnly` becomes `readOnly: true`,
//! `writeOnly` (and returned `never`) becomes `writeOnly: true`; canonical values become an
//! `enum` only where the schema declares them strict (in a response, as a pattern, since
//! they are compared case-insensitively).

use crate::profile::{Bound, USER_CONSTRAINTS};
use scim_core::schema::{AttrType, Attribute, Mutability, Registry, ResourceKind, Returned};
use serde_json::{Map, Value, json};

/// Which way a generated schema describes a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    /// What the server answers.
    Response,
    /// What a client sends on `/scim/v2`.
    Request,
    /// What a client sends on `/Organizations/{OrganizationSid}/scim` (the profile's bounds).
    RequestOrg,
}

/// A `$ref` to a component schema.
pub(super) fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// Sets member `key` of object `v` (no-op on anything else).
fn set(v: &mut Value, key: &str, value: Value) {
    if let Some(m) = v.as_object_mut() {
        m.insert(key.to_owned(), value);
    }
}

/// A pattern matching `value` in any letter case (ECMA 262 has no inline flags).
fn case_insensitive(value: &str) -> String {
    value
        .chars()
        .map(|c| {
            let (l, u) = (c.to_ascii_lowercase(), c.to_ascii_uppercase());
            if l == u {
                let mut s = String::new();
                if !c.is_ascii_alphanumeric() {
                    s.push('\\');
                }
                s.push(c);
                s
            } else {
                format!("[{l}{u}]")
            }
        })
        .collect()
}

/// The JSON Schema of one value of `a` (ignoring `multiValued`).
fn value_schema(a: &Attribute, dir: Direction, path: &str) -> Value {
    let mut s = Map::new();
    let kind = match a.kind {
        AttrType::String | AttrType::Reference | AttrType::DateTime | AttrType::Binary => "string",
        AttrType::Boolean => "boolean",
        AttrType::Decimal => "number",
        AttrType::Integer => "integer",
        AttrType::Complex => "object",
    };
    s.insert("type".into(), json!(kind));
    match a.kind {
        AttrType::DateTime => {
            s.insert("format".into(), json!("date-time"));
        }
        AttrType::Binary => {
            s.insert("contentEncoding".into(), json!("base64"));
        }
        AttrType::Reference if a.reference_types.iter().any(|t| t == "uri" || t == "external") => {
            s.insert("format".into(), json!("uri-reference"));
        }
        _ => {}
    }
    if a.strict_canonical_values && !a.canonical_values.is_empty() {
        if dir == Direction::Response {
            let alts: Vec<String> =
                a.canonical_values.iter().map(|v| case_insensitive(v)).collect();
            s.insert("pattern".into(), json!(format!("^(?:{})$", alts.join("|"))));
        } else {
            s.insert("enum".into(), json!(a.canonical_values));
        }
    }
    if a.kind == AttrType::Complex {
        let (props, required) = properties(&a.sub_attributes, dir, path);
        s.insert("properties".into(), Value::Object(props));
        if !required.is_empty() {
            s.insert("required".into(), json!(required));
        }
    }
    if dir == Direction::RequestOrg {
        for c in USER_CONSTRAINTS.iter().filter(|c| c.path == path) {
            if let Bound::Length { min, max } = c.bound {
                s.insert("minLength".into(), json!(min));
                s.insert("maxLength".into(), json!(max));
            }
        }
    }
    Value::Object(s)
}

/// The JSON Schema of attribute `a` at dotted `path`.
fn attr_schema(a: &Attribute, dir: Direction, path: &str) -> Value {
    let value = value_schema(a, dir, path);
    let mut s = if a.multi_valued {
        let mut m = Map::new();
        m.insert("type".into(), json!("array"));
        m.insert("items".into(), value);
        if dir == Direction::RequestOrg {
            for c in USER_CONSTRAINTS.iter().filter(|c| c.path == path) {
                if let Bound::Items { min } = c.bound {
                    m.insert("minItems".into(), json!(min));
                }
            }
        }
        m
    } else if let Value::Object(m) = value {
        m
    } else {
        Map::new()
    };
    if let Some(d) = &a.description {
        s.insert("description".into(), json!(d));
    }
    match a.mutability {
        Mutability::ReadOnly => {
            s.insert("readOnly".into(), json!(true));
        }
        Mutability::WriteOnly => {
            s.insert("writeOnly".into(), json!(true));
        }
        _ if a.returned == Returned::Never => {
            s.insert("writeOnly".into(), json!(true));
        }
        _ => {}
    }
    Value::Object(s)
}

/// The `properties` and `required` of a list of attributes. Only a request requires
/// anything: a response may leave any attribute out (projection); `readOnly` attributes
/// are never required of a client.
fn properties(
    attrs: &[Attribute],
    dir: Direction,
    prefix: &str,
) -> (Map<String, Value>, Vec<String>) {
    let mut props = Map::new();
    let mut required = Vec::new();
    for a in attrs {
        let path = if prefix.is_empty() { a.name.clone() } else { format!("{prefix}.{}", a.name) };
        props.insert(a.name.clone(), attr_schema(a, dir, &path));
        if dir != Direction::Response && a.required && a.mutability != Mutability::ReadOnly {
            required.push(a.name.clone());
        }
    }
    (props, required)
}

/// A User or Group schema in direction `dir`, with the registry's extensions of `kind`.
fn resource(registry: &Registry, kind: ResourceKind, dir: Direction) -> Value {
    let core: &[Attribute] = registry.core_schema(kind).map_or(&[], |s| &s.attributes);
    let (mut props, mut required) = properties(core, dir, "");
    let (common, _) = properties(registry.common_attributes(), dir, "");
    for (name, schema) in common {
        props.insert(name, schema);
    }
    for ext in registry.extensions(kind) {
        let (p, r) = properties(&ext.attributes, dir, "");
        let mut e = json!({"type": "object", "properties": p});
        if let Some(d) = &ext.description {
            set(&mut e, "description", json!(d));
        }
        if !r.is_empty() {
            set(&mut e, "required", json!(r));
        }
        props.insert(ext.id.clone(), e);
    }
    let uri = registry.resource_type(kind).schema.clone();
    props.insert(
        "schemas".into(),
        json!({"type": "array", "items": {"type": "string"}, "minItems": 1,
               "description": format!("Names {uri} and any extension present")}),
    );
    if dir == Direction::Response {
        required = vec!["schemas".into(), "id".into()];
    }
    let mut s = json!({"type": "object", "properties": props,
        "description": format!("RFC 7643 {} resource, from the schema registry ({uri})",
            kind.name())});
    if !required.is_empty() {
        set(&mut s, "required", json!(required));
    }
    s
}

/// A ListResponse (RFC 7644 3.4.2) whose `Resources` are `items`.
fn list_response(items: Value) -> Value {
    json!({"type": "object", "required": ["schemas", "totalResults"], "properties": {
        "schemas": {"type": "array", "items": {"const": scim_core::message::LIST_RESPONSE}},
        "totalResults": {"type": "integer", "minimum": 0},
        "itemsPerPage": {"type": "integer", "minimum": 0},
        "startIndex": {"type": "integer", "minimum": 1},
        "nextCursor": {"type": "string"},
        "previousCursor": {"type": "string"},
        "Resources": {"type": "array", "items": items}}})
}

const SCIM_TYPES: &[&str] = &[
    "invalidFilter",
    "tooMany",
    "uniqueness",
    "mutability",
    "invalidSyntax",
    "invalidPath",
    "noTarget",
    "invalidValue",
    "invalidVers",
    "sensitive",
    "invalidCursor",
    "expiredCursor",
];

/// The error body (RFC 7644 3.12) on one family: `org` (family B) always carries `code`
/// and `moreInfo` and only the contract's `scimType` values; family A carries them only
/// when `codes` (the `error_body_codes` setting) is on, and nothing else.
fn error(org: bool, codes: bool) -> Value {
    let types: Vec<&str> = if org {
        crate::profile::CONTRACT_SCIM_TYPES.iter().map(|t| t.as_str()).collect()
    } else {
        SCIM_TYPES.to_vec()
    };
    let mut props = json!({
        "schemas": {"type": "array", "items": {"const": scim_core::error::ERROR_SCHEMA}},
        "status": {"type": "string", "pattern": "^[1-5][0-9][0-9]$",
                   "description": "The HTTP status, as a string"},
        "scimType": {"type": "string", "enum": types},
        "detail": {"type": "string"}});
    let mut required = vec!["schemas", "status"];
    if org || codes {
        set(
            &mut props,
            "code",
            json!({"type": "integer", "description": "The error code (docs/errors.md)"}),
        );
        set(&mut props, "moreInfo", json!({"type": "string", "format": "uri-reference"}));
    }
    if org {
        required.extend(["code", "moreInfo"]);
    }
    json!({"type": "object", "required": required, "properties": props,
           "additionalProperties": false})
}

fn patch_op() -> Value {
    json!({"type": "object", "required": ["Operations"], "properties": {
        "schemas": {"type": "array", "items": {"const": scim_core::message::PATCH_OP},
                    "description": "Optional here; when present it must name the PatchOp URN"},
        "Operations": {"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["op"], "properties": {
                "op": {"type": "string", "enum": ["add", "remove", "replace", "Add", "Remove", "Replace"]},
                "path": {"type": "string"},
                "value": {}}}}}})
}

fn search_request() -> Value {
    let list =
        json!({"oneOf": [{"type": "array", "items": {"type": "string"}}, {"type": "string"}]});
    json!({"type": "object", "properties": {
        "schemas": {"type": "array", "items": {"const": scim_core::message::SEARCH_REQUEST}},
        "attributes": list, "excludedAttributes": list,
        "filter": {"type": "string"}, "sortBy": {"type": "string"},
        "sortOrder": {"type": "string", "enum": ["ascending", "descending"]},
        "startIndex": {"type": "integer"}, "count": {"type": "integer"},
        "cursor": {"type": "string"}}})
}

fn bulk_request() -> Value {
    json!({"type": "object", "required": ["Operations"], "properties": {
        "schemas": {"type": "array", "items": {"const": scim_core::message::BULK_REQUEST}},
        "failOnErrors": {"type": "integer", "minimum": 0},
        "Operations": {"type": "array", "items": {
            "type": "object", "required": ["method", "path"], "properties": {
                "method": {"type": "string", "enum": ["POST", "PUT", "PATCH", "DELETE"]},
                "bulkId": {"type": "string"}, "version": {"type": "string"},
                "path": {"type": "string"}, "data": {}}}}}})
}

fn bulk_response() -> Value {
    json!({"type": "object", "required": ["schemas", "Operations"], "properties": {
        "schemas": {"type": "array", "items": {"const": scim_core::message::BULK_RESPONSE}},
        "Operations": {"type": "array", "items": {
            "type": "object", "required": ["method", "status"], "properties": {
                "method": {"type": "string"}, "bulkId": {"type": "string"},
                "version": {"type": "string"}, "location": {"type": "string"},
                "status": {"type": "string", "pattern": "^[1-5][0-9][0-9]$"},
                "response": {}}}}}})
}

fn service_provider_config() -> Value {
    let supported = json!({"type": "object", "required": ["supported"],
                           "properties": {"supported": {"type": "boolean"}}});
    let n = json!({"type": "integer", "minimum": 0});
    json!({"type": "object",
        "required": ["schemas", "patch", "bulk", "filter", "changePassword", "sort", "etag",
                     "authenticationSchemes"],
        "properties": {
            "schemas": {"type": "array", "items": {"type": "string"}},
            "documentationUri": {"type": "string"},
            "patch": supported, "changePassword": supported, "sort": supported, "etag": supported,
            "bulk": {"type": "object", "required": ["supported", "maxOperations", "maxPayloadSize"],
                     "properties": {"supported": {"type": "boolean"}, "maxOperations": n,
                                    "maxPayloadSize": n}},
            "filter": {"type": "object", "required": ["supported", "maxResults"],
                       "properties": {"supported": {"type": "boolean"}, "maxResults": n}},
            "pagination": {"type": "object", "required": ["cursor", "index"], "properties": {
                "cursor": {"type": "boolean"}, "index": {"type": "boolean"},
                "defaultPaginationMethod": {"type": "string", "enum": ["index", "cursor"]},
                "defaultPageSize": n, "maxPageSize": n, "cursorTimeout": n}},
            "authenticationSchemes": {"type": "array", "items": {
                "type": "object", "required": ["type", "name", "description"], "properties": {
                    "type": {"type": "string"}, "name": {"type": "string"},
                    "description": {"type": "string"}, "specUri": {"type": "string"},
                    "documentationUri": {"type": "string"}, "primary": {"type": "boolean"}}}},
            "meta": reference("DiscoveryMeta")}})
}

fn schema_attribute() -> Value {
    json!({"type": "object", "required": ["name", "type"], "properties": {
        "name": {"type": "string"},
        "type": {"type": "string", "enum": ["string", "boolean", "decimal", "integer",
                 "dateTime", "binary", "reference", "complex"]},
        "multiValued": {"type": "boolean"}, "description": {"type": "string"},
        "required": {"type": "boolean"},
        "canonicalValues": {"type": "array", "items": {"type": "string"}},
        "strictCanonicalValues": {"type": "boolean"},
        "caseExact": {"type": "boolean"},
        "mutability": {"type": "string", "enum": ["readOnly", "readWrite", "immutable", "writeOnly"]},
        "returned": {"type": "string", "enum": ["always", "never", "default", "request"]},
        "uniqueness": {"type": "string", "enum": ["none", "server", "global"]},
        "referenceTypes": {"type": "array", "items": {"type": "string"}},
        "subAttributes": {"type": "array", "items": reference("SchemaAttribute")}}})
}

/// Every component schema of the document.
pub(super) fn components(registry: &Registry, codes_in_body: bool) -> Value {
    let user = ResourceKind::User;
    let group = ResourceKind::Group;
    let any_resource = json!({"anyOf": [reference("User"), reference("Group")]});
    json!({
        "User": resource(registry, user, Direction::Response),
        "UserRequest": resource(registry, user, Direction::Request),
        "UserRequestOrg": resource(registry, user, Direction::RequestOrg),
        "Group": resource(registry, group, Direction::Response),
        "GroupRequest": resource(registry, group, Direction::Request),
        "UserList": list_response(reference("User")),
        "GroupList": list_response(reference("Group")),
        "ResourceList": list_response(any_resource),
        "SchemaList": list_response(reference("Schema")),
        "ResourceTypeList": list_response(reference("ResourceType")),
        "PatchOp": patch_op(),
        "SearchRequest": search_request(),
        "BulkRequest": bulk_request(),
        "BulkResponse": bulk_response(),
        "DeactivateRequest": {
            "description": "The ids of the users to deactivate, bare or under `ids`",
            "oneOf": [
                {"type": "array", "items": {"type": "string"}},
                {"type": "object", "required": ["ids"],
                 "properties": {"ids": {"type": "array", "items": {"type": "string"}}}}]},
        "ServiceProviderConfig": service_provider_config(),
        "DiscoveryMeta": {"type": "object", "properties": {
            "resourceType": {"type": "string"}, "location": {"type": "string"}}},
        "Schema": {"type": "object", "required": ["schemas", "id", "attributes"], "properties": {
            "schemas": {"type": "array", "items": {"type": "string"}},
            "id": {"type": "string"}, "name": {"type": "string"},
            "description": {"type": "string"},
            "attributes": {"type": "array", "items": reference("SchemaAttribute")},
            "meta": reference("DiscoveryMeta")}},
        "SchemaAttribute": schema_attribute(),
        "ResourceType": {"type": "object", "required": ["schemas", "id", "name", "endpoint", "schema"],
            "properties": {
                "schemas": {"type": "array", "items": {"type": "string"}},
                "id": {"type": "string"}, "name": {"type": "string"},
                "endpoint": {"type": "string"}, "description": {"type": "string"},
                "schema": {"type": "string"},
                "schemaExtensions": {"type": "array", "items": {"type": "object",
                    "required": ["schema", "required"], "properties": {
                        "schema": {"type": "string"}, "required": {"type": "boolean"}}}},
                "meta": reference("DiscoveryMeta")}},
        "Error": error(false, codes_in_body),
        "ErrorOrg": error(true, true),
        "TokenRequest": {"type": "object", "required": ["grant_type"], "properties": {
            "grant_type": {"type": "string", "const": "client_credentials"},
            "client_id": {"type": "string"}, "client_secret": {"type": "string"},
            "scope": {"type": "string", "description": "Space-separated: scim:read, scim:write"}}},
        "TokenResponse": {"type": "object",
            "required": ["access_token", "token_type", "expires_in", "scope"], "properties": {
                "access_token": {"type": "string"},
                "token_type": {"type": "string", "enum": ["Bearer", "bearer"]},
                "expires_in": {"type": "integer", "minimum": 0},
                "scope": {"type": "string"}}},
        "OAuthError": {"type": "object", "required": ["error"], "properties": {
            "error": {"type": "string", "enum": ["invalid_request", "invalid_client",
                      "invalid_grant", "unauthorized_client", "unsupported_grant_type",
                      "invalid_scope", "server_error", "temporarily_unavailable"]},
            "error_description": {"type": "string"}}},
        "Health": {"type": "object", "required": ["status"],
                   "properties": {"status": {"type": "string"}}},
    })
}
