//! The admin API's operations (`/admin/v1`, `docs/admin-api.md`): documented always, served
//! only with `admin_api` on. Each entry names its path, method, body and answer; the
//! integration tests check that every admin route is here and nothing else.

use serde_json::{Map, Value, json};

/// One admin operation: method, path, summary, request body properties (none: no body),
/// success status, and the answer's schema.
struct AdminRoute {
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    body: Option<fn() -> Value>,
    success: u16,
    answer: fn() -> Value,
}

fn strings() -> Value {
    json!({"type": "array", "items": {"type": "string"}})
}

fn org() -> Value {
    json!({"type": "object", "required": ["sid", "name", "policies"], "properties": {
        "sid": {"type": "string", "pattern": "^OR[0-9a-f]{32}$"}, "name": {"type": "string"},
        "policies": strings(), "created": {"type": "string", "format": "date-time"}}})
}

fn orgs() -> Value {
    json!({"type": "array", "items": org()})
}

fn deleted() -> Value {
    json!({"type": "object", "required": ["sid", "name", "deleted", "users", "groups", "tokens", "clients"],
        "properties": {"sid": {"type": "string"}, "name": {"type": "string"}, "deleted": {"type": "boolean"},
        "users": {"type": "integer"}, "groups": {"type": "integer"}, "tokens": {"type": "integer"},
        "clients": {"type": "integer"}}})
}

fn token() -> Value {
    json!({"type": "object", "required": ["id", "token", "org", "scopes", "name"], "properties": {
        "id": {"type": "string"}, "token": {"type": "string", "description": "The secret, shown only here"},
        "org": {"type": "string"}, "scopes": strings(), "name": {"type": ["string", "null"]},
        "expires": {"type": "string", "format": "date-time"}}})
}

fn tokens() -> Value {
    json!({"type": "array", "items": {"type": "object", "properties": {
        "id": {"type": "string"}, "org": {"type": "string"}, "name": {"type": ["string", "null"]},
        "scopes": strings(), "created": {"type": "string"}, "expires": {"type": ["string", "null"]},
        "last_used": {"type": ["string", "null"]}}}})
}

fn client() -> Value {
    json!({"type": "object", "required": ["client_id", "client_secret", "orgs", "scopes"], "properties": {
        "client_id": {"type": "string"}, "client_secret": {"type": "string", "description": "Shown only here"},
        "orgs": strings(), "scopes": strings()}})
}

fn clients() -> Value {
    json!({"type": "array", "items": {"type": "object", "properties": {
        "client_id": {"type": "string"}, "orgs": strings(), "scopes": strings(), "created": {"type": "string"}}}})
}

fn revoked_token() -> Value {
    json!({"type": "object", "properties": {"id": {"type": "string"}, "revoked": {"type": "boolean"}}})
}

fn revoked_client() -> Value {
    json!({"type": "object", "properties": {"client_id": {"type": "string"}, "revoked": {"type": "boolean"}}})
}

fn new_org() -> Value {
    json!({"type": "object", "required": ["name"], "additionalProperties": false,
        "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 200}, "policies": strings()}})
}

fn rename() -> Value {
    json!({"type": "object", "required": ["name"], "additionalProperties": false,
        "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 200}}})
}

fn new_token() -> Value {
    json!({"type": "object", "additionalProperties": false, "properties": {
        "scopes": strings(), "name": {"type": "string"},
        "expires_in": {"type": "string", "description": "A number and s, m, h, d or w (90d)"}}})
}

fn new_client() -> Value {
    json!({"type": "object", "required": ["orgs"], "additionalProperties": false,
        "properties": {"orgs": strings(), "scopes": strings()}})
}

fn stream_props() -> Value {
    json!({"id": {"type": "string", "pattern": "^ES[0-9a-f]{32}$"}, "org": {"type": "string"},
        "delivery": {"enum": ["push", "poll"]}, "url": {"type": ["string", "null"]},
        "events": strings(), "form": {"enum": ["notice", "full"]}, "alg": {"enum": ["ES256", "HS256"]},
        "state": {"enum": ["active", "paused"]}, "cursor": {"type": "integer"},
        "lag": {"type": "integer"}, "failures": {"type": "integer"},
        "last_error": {"type": ["string", "null"]}, "created": {"type": "string"}})
}

fn stream() -> Value {
    json!({"type": "object", "required": ["id", "org", "delivery", "state", "cursor", "lag"],
        "properties": stream_props()})
}

fn created_stream() -> Value {
    let mut props = stream_props();
    if let Some(p) = props.as_object_mut() {
        p.insert(
            "secret".into(),
            json!({"type": "string",
            "description": "The HS256 shared secret (hex), shown only here"}),
        );
    }
    json!({"type": "object", "required": ["id", "org", "delivery", "state"], "properties": props})
}

fn streams() -> Value {
    json!({"type": "array", "items": stream()})
}

fn new_stream() -> Value {
    json!({"type": "object", "additionalProperties": false, "properties": {
        "delivery": {"enum": ["push", "poll"], "default": "push"},
        "url": {"type": "string", "description": "The receiver (push): an absolute http or https URL"},
        "events": strings(), "form": {"enum": ["notice", "full"], "default": "notice"},
        "alg": {"enum": ["ES256", "HS256"], "default": "ES256"}}})
}

fn stream_state() -> Value {
    json!({"type": "object", "required": ["state"], "additionalProperties": false,
        "properties": {"state": {"enum": ["active", "paused"]}}})
}

fn stream_deleted() -> Value {
    json!({"type": "object", "properties": {"id": {"type": "string"}, "deleted": {"type": "boolean"}}})
}

fn key() -> Value {
    json!({"type": "object", "required": ["kid"], "properties": {"kid": {"type": "string"}}})
}

fn audit() -> Value {
    json!({"type": "array", "items": {"type": "object",
        "required": ["seq", "at", "kind", "id", "op", "version"], "properties": {
        "seq": {"type": "integer"}, "at": {"type": "string"}, "kind": {"enum": ["User", "Group"]},
        "id": {"type": "string"}, "op": {"enum": ["create", "update", "delete", "restore"]},
        "version": {"type": "integer"}, "actor": {"type": ["string", "null"]},
        "request_id": {"type": ["string", "null"]}, "method": {"type": ["string", "null"]},
        "attributes": strings(), "active": {"type": "boolean"}}}})
}

const ORGS: &str = "/admin/v1/organizations";
const ORG: &str = "/admin/v1/organizations/{org}";
const POLICY: &str = "/admin/v1/organizations/{org}/policies/{policy}";
const TOKENS: &str = "/admin/v1/organizations/{org}/tokens";
const TOKEN: &str = "/admin/v1/organizations/{org}/tokens/{id}";
const CLIENTS: &str = "/admin/v1/clients";
const CLIENT: &str = "/admin/v1/clients/{client_id}";
const STREAMS: &str = "/admin/v1/organizations/{org}/streams";
const STREAM: &str = "/admin/v1/streams/{id}";
const KEYS: &str = "/admin/v1/events/keys";
const AUDIT: &str = "/admin/v1/organizations/{org}/audit";

const fn route(
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    body: Option<fn() -> Value>,
    success: u16,
    answer: fn() -> Value,
) -> AdminRoute {
    AdminRoute { method, path, summary, body, success, answer }
}

const ROUTES: &[AdminRoute] = &[
    route("GET", ORGS, "List organizations", None, 200, orgs),
    route("POST", ORGS, "Create an organization", Some(new_org), 201, org),
    route("GET", ORG, "Read an organization", None, 200, org),
    route("PATCH", ORG, "Rename an organization", Some(rename), 200, org),
    route(
        "DELETE",
        ORG,
        "Delete an organization (?force=true: with its users and groups)",
        None,
        200,
        deleted,
    ),
    route("PUT", POLICY, "Add a policy", None, 200, org),
    route("DELETE", POLICY, "Remove a policy", None, 200, org),
    route("GET", TOKENS, "List an organization's tokens (no secrets)", None, 200, tokens),
    route("POST", TOKENS, "Create a token (its secret is shown once)", Some(new_token), 201, token),
    route("DELETE", TOKEN, "Revoke a token", None, 200, revoked_token),
    route("GET", CLIENTS, "List OAuth clients (?org=: granted on it)", None, 200, clients),
    route(
        "POST",
        CLIENTS,
        "Create an OAuth client (its secret is shown once)",
        Some(new_client),
        201,
        client,
    ),
    route("DELETE", CLIENT, "Revoke an OAuth client", None, 200, revoked_client),
    route("GET", STREAMS, "List an organization's event streams", None, 200, streams),
    route(
        "POST",
        STREAMS,
        "Create an event stream (an HS256 secret is shown once)",
        Some(new_stream),
        201,
        created_stream,
    ),
    route("GET", STREAM, "Read an event stream", None, 200, stream),
    route("PATCH", STREAM, "Pause or resume an event stream", Some(stream_state), 200, stream),
    route("DELETE", STREAM, "Delete an event stream", None, 200, stream_deleted),
    route("POST", KEYS, "Make a new ES256 signing key", None, 201, key),
    route("GET", AUDIT, "List an organization's changes (the audit trail)", None, 200, audit),
];

fn error(description: &str) -> Value {
    json!({"description": description,
        "content": {"application/scim+json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

fn operation(r: &AdminRoute) -> Value {
    let mut params: Vec<Value> = r
        .path
        .split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string", "minLength": 1}}))
        .collect();
    if r.path == ORG && r.method == "DELETE" {
        params.push(json!({"name": "force", "in": "query", "schema": {"type": "boolean"}}));
    }
    if r.path == CLIENTS && r.method == "GET" {
        params.push(json!({"name": "org", "in": "query", "schema": {"type": "string"}}));
    }
    if r.path == AUDIT {
        for (name, schema) in [
            ("resource", json!({"type": "string"})),
            ("since", json!({"type": "string", "format": "date-time"})),
            ("until", json!({"type": "string", "format": "date-time"})),
            ("after", json!({"type": "integer", "minimum": 0})),
            ("limit", json!({"type": "integer", "minimum": 0, "maximum": 10000})),
        ] {
            params.push(json!({"name": name, "in": "query", "schema": schema}));
        }
    }
    let mut responses = Map::new();
    responses.insert(
        r.success.to_string(),
        json!({"description": "OK", "content": {"application/json": {"schema": (r.answer)()}}}),
    );
    for (code, d) in [
        ("400", "Invalid request (code 38400 or 20400)"),
        ("401", "Missing or invalid credential"),
        ("403", "The credential lacks the scope admin"),
        (
            "404",
            "Unknown organization (23404), credential (24404) or event stream (25404); \
             the API is off (22404)",
        ),
        ("default", "Other error"),
    ] {
        responses.insert(code.to_owned(), error(d));
    }
    if r.path == ORG && r.method == "DELETE" {
        responses.insert("409".into(), error("The organization holds users or groups (23409)"));
    }
    let id = format!("admin{}_{}", r.path.replace(['/', '{', '}'], "_"), r.method).to_lowercase();
    let mut op = Map::new();
    op.insert("summary".into(), json!(r.summary));
    op.insert("operationId".into(), json!(id));
    op.insert("tags".into(), json!(["admin"]));
    op.insert("parameters".into(), Value::Array(params));
    if let Some(body) = r.body {
        op.insert(
            "requestBody".into(),
            json!({"required": true, "content": {"application/json": {"schema": body()}}}),
        );
    }
    op.insert("responses".into(), Value::Object(responses));
    op.insert("security".into(), json!([{"bearer": []}]));
    Value::Object(op)
}

/// Adds the admin operations to `paths`.
pub(super) fn add(paths: &mut Map<String, Value>) {
    for r in ROUTES {
        if let Value::Object(item) =
            paths.entry(r.path.to_owned()).or_insert_with(|| Value::Object(Map::new()))
        {
            item.insert(r.method.to_lowercase(), operation(r));
        }
    }
}
