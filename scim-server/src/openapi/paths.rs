//! One OpenAPI operation per route and family: parameters, request body, and every status
//! the handlers and layers answer it with (RFC 7644 3.12 for the errors), with headers.

use super::schemas::reference;
use super::{Base, Kind, Op, RouteDoc};
use serde_json::{Map, Value, json};

/// The media type of every SCIM body (RFC 7644 8.1).
const SCIM: &str = "application/scim+json";

/// The route family an operation is generated for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fam {
    /// `/scim/v2`.
    Rfc,
    /// `/Organizations/{OrganizationSid}/scim`.
    Org,
    /// The root (operational endpoints).
    Root,
}

impl Fam {
    fn tag(self) -> &'static str {
        match self {
            Fam::Rfc => "rfc",
            Fam::Org => "organization",
            Fam::Root => "ops",
        }
    }

    fn error_schema(self) -> &'static str {
        if self == Fam::Org { "ErrorOrg" } else { "Error" }
    }
}

fn header_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/headers/{name}")})
}

/// The response headers the document names.
pub(super) fn headers() -> Value {
    let s = json!({"type": "string"});
    json!({
        "ETag": {"description": "The resource version, a weak entity tag (W/\"n\")",
                 "schema": {"type": "string", "pattern": "^W/\"[0-9]+\"$"}},
        "Location": {"description": "The created resource's URL", "schema": s},
        "Link": {"description": "The error code's documentation, rel=\"help\"", "schema": s},
        "Retry-After": {"description": "Seconds to wait before retrying",
                        "schema": {"type": "string", "pattern": "^[0-9]+$"}},
        "WWW-Authenticate": {"description": "The authentication scheme (RFC 6750)", "schema": s},
        "X-Request-Id": {"description": "The request id, also on the access log line", "schema": s},
    })
}

fn content(media: &str, schema: Value) -> Value {
    let mut m = Map::new();
    m.insert(media.to_owned(), json!({"schema": schema}));
    Value::Object(m)
}

fn response(description: &str, body: Option<(&str, Value)>, hdrs: &[&str]) -> Value {
    let mut r = Map::new();
    r.insert("description".into(), json!(description));
    let mut h = Map::new();
    h.insert("X-Request-Id".into(), header_ref("X-Request-Id"));
    for name in hdrs {
        h.insert((*name).to_owned(), header_ref(name));
    }
    r.insert("headers".into(), Value::Object(h));
    if let Some((media, schema)) = body {
        r.insert("content".into(), content(media, schema));
    }
    Value::Object(r)
}

fn error(fam: Fam, description: &str, extra: &[&str]) -> Value {
    let mut hdrs = vec!["Link"];
    hdrs.extend_from_slice(extra);
    response(description, Some((SCIM, reference(fam.error_schema()))), &hdrs)
}

fn resource_schema(kind: Kind) -> &'static str {
    match kind {
        Kind::User => "User",
        Kind::Group => "Group",
    }
}

fn list_schema(kind: Kind) -> &'static str {
    match kind {
        Kind::User => "UserList",
        Kind::Group => "GroupList",
    }
}

fn request_schema(kind: Kind, fam: Fam) -> &'static str {
    match (kind, fam) {
        (Kind::User, Fam::Org) => "UserRequestOrg",
        (Kind::User, _) => "UserRequest",
        (Kind::Group, _) => "GroupRequest",
    }
}

fn query(name: &str, schema: Value, description: &str) -> Value {
    json!({"name": name, "in": "query", "required": false, "schema": schema,
           "description": description})
}

fn header_param(name: &str, schema: Value, description: &str) -> Value {
    json!({"name": name, "in": "header", "required": false, "schema": schema,
           "description": description})
}

fn projection_params() -> Vec<Value> {
    vec![
        query("attributes", json!({"type": "string"}), "Attributes to return (RFC 7644 3.9)"),
        query(
            "excludedAttributes",
            json!({"type": "string"}),
            "Attributes to leave out (RFC 7644 3.9)",
        ),
    ]
}

fn list_params() -> Vec<Value> {
    let mut p = vec![
        query("filter", json!({"type": "string"}), "RFC 7644 3.4.2.2 filter"),
        query("sortBy", json!({"type": "string"}), "RFC 7644 3.4.2.3"),
        query(
            "sortOrder",
            json!({"type": "string", "enum": ["ascending", "descending"]}),
            "RFC 7644 3.4.2.3",
        ),
        query("startIndex", json!({"type": "integer"}), "1-based index (RFC 7644 3.4.2.4)"),
        query("count", json!({"type": "integer"}), "Page size (RFC 7644 3.4.2.4)"),
        query("cursor", json!({"type": "string"}), "Cursor (RFC 9865)"),
    ];
    p.extend(projection_params());
    p
}

fn path_params(path: &str) -> Vec<Value> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| {
            let schema = if name == "OrganizationSid" {
                json!({"type": "string", "pattern": "^OR[0-9a-f]{32}$"})
            } else {
                json!({"type": "string", "minLength": 1})
            };
            json!({"name": name, "in": "path", "required": true, "schema": schema})
        })
        .collect()
}

/// Whether the route runs through the `Idempotency-Key` wrapper (every POST, and PATCH).
fn idempotent(op: Op) -> bool {
    matches!(op, Op::Search(_) | Op::Create(_) | Op::Patch(_) | Op::Deactivate | Op::Bulk)
}

fn parameters(r: &RouteDoc, full: &str, fam: Fam) -> Vec<Value> {
    let mut p = path_params(full);
    match r.op {
        Op::List(_) => p.extend(list_params()),
        Op::Search(_) | Op::Create(_) | Op::Read(_) | Op::Replace(_) | Op::Patch(_) => {
            p.extend(projection_params());
        }
        _ => {}
    }
    let etags = json!({"type": "string"});
    match r.op {
        Op::Read(_) => p.push(header_param(
            "If-None-Match",
            etags,
            "304 when it matches the current version (RFC 7644 3.14)",
        )),
        Op::Replace(_) | Op::Patch(_) | Op::Delete(_) => p.push(header_param(
            "If-Match",
            etags,
            "Write only at one of these versions (RFC 7644 3.14)",
        )),
        _ => {}
    }
    if matches!(r.op, Op::Patch(_)) {
        p.push(header_param(
            "Prefer",
            json!({"type": "string", "enum": ["return=minimal", "return=representation"]}),
            "return=minimal answers 204 without a body (RFC 7240)",
        ));
    }
    if idempotent(r.op) {
        p.push(header_param(
            "Idempotency-Key",
            json!({"type": "string", "pattern": "^[!-~]{1,255}$"}),
            "Runs the request once; retries get the first answer (docs/http.md)",
        ));
    }
    if fam == Fam::Rfc {
        p.push(header_param(
            "Scim-Organization",
            json!({"type": "string", "pattern": "^OR[0-9a-f]{32}$"}),
            "The organization, for a credential granted on several (docs/http.md)",
        ));
    }
    p
}

fn request_body(r: &RouteDoc, fam: Fam) -> Option<Value> {
    let schema = match r.op {
        Op::Create(k) | Op::Replace(k) => request_schema(k, fam),
        Op::Patch(_) => "PatchOp",
        Op::Search(_) => "SearchRequest",
        Op::Deactivate => "DeactivateRequest",
        Op::Bulk => "BulkRequest",
        Op::Token => {
            return Some(json!({"required": true,
                "content": content("application/x-www-form-urlencoded", reference("TokenRequest"))}));
        }
        _ => return None,
    };
    let mut c = Map::new();
    for media in [SCIM, "application/json"] {
        c.insert(media.to_owned(), json!({"schema": reference(schema)}));
    }
    Some(json!({"required": true, "content": c}))
}

fn success(r: &RouteDoc, responses: &mut Map<String, Value>) {
    let mut put = |code: u16, v: Value| {
        responses.insert(code.to_string(), v);
    };
    let scim = |schema: &str| Some((SCIM, reference(schema)));
    match r.op {
        Op::List(k) | Op::Search(Some(k)) => {
            put(200, response("A page", scim(list_schema(k)), &[]))
        }
        Op::Search(None) => put(200, response("A page", scim("ResourceList"), &[])),
        Op::Create(k) => {
            put(201, response("Created", scim(resource_schema(k)), &["ETag", "Location"]));
        }
        Op::Read(k) => {
            put(200, response("The resource", scim(resource_schema(k)), &["ETag"]));
            put(304, response("Not modified (If-None-Match)", None, &["ETag"]));
        }
        Op::Replace(k) => put(200, response("Replaced", scim(resource_schema(k)), &["ETag"])),
        Op::Patch(k) => {
            put(200, response("Modified", scim(resource_schema(k)), &["ETag"]));
            put(204, response("Modified (Prefer: return=minimal)", None, &["ETag"]));
        }
        Op::Delete(_) => put(204, response("Deleted", None, &[])),
        Op::Deactivate => put(200, response("The deactivated users", scim("UserList"), &[])),
        Op::Bulk => put(200, response("Each operation's result", scim("BulkResponse"), &[])),
        Op::Discovery(s) | Op::DiscoveryOne(s) => put(200, response("OK", scim(s), &[])),
        Op::Me => {}
        Op::Token => put(
            200,
            response(
                "An access token",
                Some(("application/json", reference("TokenResponse"))),
                &[],
            ),
        ),
        Op::OpsJson("") => put(200, response("OK", Some(("application/json", json!({}))), &[])),
        Op::OpsJson(s) => {
            put(200, response("OK", Some(("application/json", reference(s))), &[]));
        }
        Op::OpsText(media) => {
            put(200, response("OK", Some((media, json!({"type": "string"}))), &[]));
        }
    }
}

fn errors(r: &RouteDoc, fam: Fam, responses: &mut Map<String, Value>) {
    let mut put = |code: u16, description: &str, extra: &[&str]| {
        responses.insert(code.to_string(), error(fam, description, extra));
    };
    if r.op == Op::Token {
        let oauth = |d: &str| {
            response(d, Some(("application/json", reference("OAuthError"))), &["WWW-Authenticate"])
        };
        responses.insert("400".into(), oauth("RFC 6749 5.2 error"));
        responses.insert("401".into(), oauth("Client authentication failed"));
        responses.insert("503".into(), oauth("The database is unavailable; retry later"));
        return;
    }
    if fam == Fam::Root {
        if r.path == "/readyz" {
            put(503, "The database is unreachable", &["Retry-After"]);
        }
        return;
    }
    if matches!(r.op, Op::Me) {
        // No end-user authentication: every caller gets the 501, credential or not.
        put(400, "A malformed tracking header", &[]);
        put(501, "Not implemented", &[]);
        return;
    }
    put(400, "Malformed request (scimType and code say what)", &[]);
    put(401, "Missing or invalid credential", &["WWW-Authenticate"]);
    put(403, "Scope or organization not granted", &[]);
    put(429, "Rate limited", &["Retry-After"]);
    put(503, "Unavailable, timed out or overloaded; retry later", &["Retry-After"]);
    if r.body {
        put(413, "Body too large", &[]);
        put(415, "Body is not JSON", &[]);
    }
    if idempotent(r.op) {
        put(409, "Conflict (uniqueness, version, or the same Idempotency-Key in flight)", &[]);
        put(422, "Idempotency-Key reused with another request", &[]);
    }
    match r.op {
        Op::Read(_) | Op::Deactivate | Op::DiscoveryOne(_) => put(404, "Not found", &[]),
        Op::Replace(_) | Op::Patch(_) | Op::Delete(_) => {
            put(404, "Not found", &[]);
            put(409, "Conflict (uniqueness, or a failed If-Match on this family)", &[]);
            if fam == Fam::Rfc {
                put(412, "If-Match does not match the current version", &[]);
            }
        }
        _ => {}
    }
}

/// The operation object of route `r` at `full` on family `fam`.
pub(super) fn operation(r: &RouteDoc, full: &str, fam: Fam) -> Value {
    let mut responses = Map::new();
    success(r, &mut responses);
    errors(r, fam, &mut responses);
    let default = if r.op == Op::Token {
        response(
            "Other error",
            Some((
                "application/json",
                json!({"anyOf": [reference("OAuthError"), reference("Error")]}),
            )),
            &[],
        )
    } else {
        error(fam, "Other error (405, 431, 500, ...)", &[])
    };
    responses.insert("default".into(), default);
    let id = format!("{}{}", fam.tag(), full.replace(['/', '{', '}', '.'], "_")).to_lowercase()
        + "_"
        + &r.method.to_lowercase();
    let mut op = Map::new();
    op.insert("summary".into(), json!(r.summary));
    op.insert("operationId".into(), json!(id));
    op.insert("tags".into(), json!([fam.tag()]));
    op.insert("parameters".into(), Value::Array(parameters(r, full, fam)));
    if let Some(body) = request_body(r, fam) {
        op.insert("requestBody".into(), body);
    }
    op.insert("responses".into(), Value::Object(responses));
    if r.base == Base::Family {
        op.insert("security".into(), json!([{"bearer": []}]));
    }
    Value::Object(op)
}
