//! The OpenAPI 3.1 document of every route, generated from [`ROUTES`], the table that
//! the router is tested against (every entry must be routed, see the integration tests).

use crate::app::AppState;
use serde_json::{Map, Value, json};

/// Where a route lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base {
    /// Under both family bases (`/scim/v2` and `/Organizations/{OrganizationSid}/scim`).
    Family,
    /// At the root (operational endpoints).
    Root,
}

/// One route of the service.
#[derive(Debug, Clone, Copy)]
pub struct RouteDoc {
    /// HTTP method, upper case.
    pub method: &'static str,
    /// Path relative to its base, with `{param}` placeholders.
    pub path: &'static str,
    /// Its base.
    pub base: Base,
    /// One-line summary.
    pub summary: &'static str,
    /// Whether it takes a JSON body.
    pub body: bool,
    /// Its success status.
    pub success: u16,
}

const fn family(
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    body: bool,
    success: u16,
) -> RouteDoc {
    RouteDoc { method, path, base: Base::Family, summary, body, success }
}

const fn root(method: &'static str, path: &'static str, summary: &'static str) -> RouteDoc {
    RouteDoc { method, path, base: Base::Root, summary, body: false, success: 200 }
}

/// Every route, on both families (the README's "Routes" section lists them).
pub const ROUTES: &[RouteDoc] = &[
    family("GET", "/Users", "List or filter users", false, 200),
    family("POST", "/Users", "Create a user", true, 201),
    family("POST", "/Users/.search", "Search users", true, 200),
    family("POST", "/Users/delete", "Deactivate users in one transaction", true, 200),
    family("GET", "/Users/{id}", "Read a user", false, 200),
    family("PUT", "/Users/{id}", "Replace a user", true, 200),
    family("PATCH", "/Users/{id}", "Modify a user", true, 200),
    family("DELETE", "/Users/{id}", "Delete a user", false, 204),
    family("GET", "/Groups", "List or filter groups", false, 200),
    family("POST", "/Groups", "Create a group", true, 201),
    family("POST", "/Groups/.search", "Search groups", true, 200),
    family("GET", "/Groups/{id}", "Read a group", false, 200),
    family("PUT", "/Groups/{id}", "Replace a group", true, 200),
    family("PATCH", "/Groups/{id}", "Modify a group", true, 200),
    family("DELETE", "/Groups/{id}", "Delete a group", false, 204),
    family("POST", "/Bulk", "Run bulk operations", true, 200),
    family("POST", "/.search", "Search across resource types", true, 200),
    family("GET", "/ServiceProviderConfig", "Service provider configuration", false, 200),
    family("GET", "/Schemas", "List schemas", false, 200),
    family("GET", "/Schemas/{uri}", "Read a schema", false, 200),
    family("GET", "/ResourceTypes", "List resource types", false, 200),
    family("GET", "/ResourceTypes/{name}", "Read a resource type", false, 200),
    family("GET", "/Me", "Not supported (501)", false, 501),
    RouteDoc {
        method: "POST",
        path: "/oauth2/token",
        base: Base::Root,
        summary: "OAuth2 client credentials token endpoint (RFC 6749 4.4)",
        body: true,
        success: 200,
    },
    root("GET", "/healthz", "The process is up"),
    root("GET", "/readyz", "The database is reachable"),
    root("GET", "/metrics", "Prometheus metrics"),
    root("GET", "/openapi.json", "This document"),
    root("GET", "/docs/errors", "The error codes (docs/errors.md) as HTML; moreInfo links here"),
    root("GET", "/docs/errors.md", "The error codes as markdown"),
];

/// The family bases and their path parameters.
const BASES: &[(&str, &str)] =
    &[("/scim/v2", "rfc"), ("/Organizations/{OrganizationSid}/scim", "organization")];

fn params(path: &str) -> Vec<Value> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| {
            let mut schema = json!({"type": "string"});
            if name == "OrganizationSid" {
                schema = json!({"type": "string", "pattern": "^OR[0-9a-f]{32}$"});
            }
            json!({"name": name, "in": "path", "required": true, "schema": schema})
        })
        .collect()
}

fn operation(r: &RouteDoc, full: &str, tag: &str) -> Value {
    let error = json!({"description": "SCIM error",
        "content": {"application/scim+json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
    let mut responses = Map::new();
    let ok = if r.base == Base::Root {
        json!({"description": "OK"})
    } else if r.success == 204 {
        json!({"description": "No content"})
    } else {
        json!({"description": "OK", "content": {"application/scim+json": {"schema": {"type": "object"}}}})
    };
    if r.success < 400 {
        responses.insert(r.success.to_string(), ok);
    }
    responses.insert("default".into(), error);
    let mut op = Map::new();
    let base = json!({
        "summary": r.summary,
        "operationId": format!("{}{}", tag, full.replace(['/', '{', '}', '.'], "_")).to_lowercase() + "_" + &r.method.to_lowercase(),
        "tags": [tag],
        "parameters": params(full),
        "responses": responses,
    });
    if let Value::Object(m) = base {
        op.extend(m);
    }
    if r.base == Base::Family {
        op.insert("security".into(), json!([{"bearer": []}]));
    }
    if r.body {
        op.insert(
            "requestBody".into(),
            json!({"required": true, "content": {
                "application/scim+json": {"schema": {"type": "object"}},
                "application/json": {"schema": {"type": "object"}}}}),
        );
    }
    Value::Object(op)
}

/// The OpenAPI 3.1 document.
pub fn document(state: &AppState) -> Value {
    let mut paths = Map::new();
    for r in ROUTES {
        let fulls: Vec<(String, &str)> = match r.base {
            Base::Root => vec![(r.path.to_owned(), "ops")],
            Base::Family => BASES.iter().map(|(b, tag)| (format!("{b}{}", r.path), *tag)).collect(),
        };
        for (full, tag) in fulls {
            let op = operation(r, &full, tag);
            if let Value::Object(item) =
                paths.entry(full.clone()).or_insert_with(|| Value::Object(Map::new()))
            {
                item.insert(r.method.to_lowercase(), op);
            }
        }
    }
    let mut servers = Vec::new();
    if let Some(url) = &state.config.public_url {
        servers.push(json!({"url": url}));
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "SCIM 2.0 service", "version": env!("CARGO_PKG_VERSION"),
                 "description": "SCIM 2.0 (RFC 7643, RFC 7644) on two route families."},
        "servers": servers,
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Error": {"type": "object", "required": ["schemas", "status"], "properties": {
                "schemas": {"type": "array", "items": {"type": "string"}},
                "status": {"type": "string"},
                "scimType": {"type": "string"},
                "detail": {"type": "string"},
                "code": {"type": "integer"},
                "moreInfo": {"type": "string"}}}}
        }
    })
}
