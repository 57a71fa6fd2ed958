//! The OpenAPI 3.1 document of every route, generated from [`ROUTES`], the table that
//! the router is tested against (every entry must be routed, and every route of the router
//! must be an entry: see the integration tests). `schemas` generates the component schemas
//! (User and Group from the schema registry), `paths` the operations.

use crate::state::AppState;

mod admin;
mod paths;
mod schemas;

use serde_json::{Map, Value, json};

/// Where a route lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base {
    /// Under both family bases (`/scim/v2` and `/Organizations/{OrganizationSid}/scim`).
    Family,
    /// At the root (operational endpoints).
    Root,
}

/// What a route does, which decides its parameters, bodies, statuses and headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `GET` a page of a resource type (query parameters of RFC 7644 3.4.2).
    List(Kind),
    /// `POST .search` (RFC 7644 3.4.3), of one resource type or of both.
    Search(Option<Kind>),
    /// `POST` a new resource.
    Create(Kind),
    /// `GET` one resource (`If-None-Match` gives 304).
    Read(Kind),
    /// `PUT` a resource.
    Replace(Kind),
    /// `PATCH` a resource.
    Patch(Kind),
    /// `DELETE` a resource.
    Delete(Kind),
    /// `POST /Users/delete`.
    Deactivate,
    /// `POST /Bulk`.
    Bulk,
    /// A discovery document (component schema name).
    Discovery(&'static str),
    /// A discovery document by name or URN (component schema name; 404 when unknown).
    DiscoveryOne(&'static str),
    /// `/Me`: 501.
    Me,
    /// `POST /oauth2/token`.
    Token,
    /// An operational endpoint answering JSON (`/healthz`, `/readyz`, `/openapi.json`).
    OpsJson(&'static str),
    /// An operational endpoint answering another media type.
    OpsText(&'static str),
}

/// User or Group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `/Users`.
    User,
    /// `/Groups`.
    Group,
}

/// One route of the service.
#[derive(Debug, Clone, Copy)]
pub struct RouteDoc {
    /// HTTP method, upper case.
    pub method: &'static str,
    /// Path relative to its base, with `{param}` placeholders (empty: the family base).
    pub path: &'static str,
    /// Its base.
    pub base: Base,
    /// One-line summary.
    pub summary: &'static str,
    /// Whether it takes a body.
    pub body: bool,
    /// Its success status.
    pub success: u16,
    /// What it does.
    pub op: Op,
}

const fn family(
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    op: Op,
) -> RouteDoc {
    let body = matches!(
        op,
        Op::Search(_) | Op::Create(_) | Op::Replace(_) | Op::Patch(_) | Op::Deactivate | Op::Bulk
    );
    let success = match op {
        Op::Create(_) => 201,
        Op::Delete(_) => 204,
        Op::Me => 501,
        _ => 200,
    };
    RouteDoc { method, path, base: Base::Family, summary, body, success, op }
}

const fn root(method: &'static str, path: &'static str, summary: &'static str, op: Op) -> RouteDoc {
    let body = matches!(op, Op::Token);
    RouteDoc { method, path, base: Base::Root, summary, body, success: 200, op }
}

/// Every route, on both families (the README's "Routes" section lists them).
pub const ROUTES: &[RouteDoc] = &[
    family("GET", "", "The family base: the resource types", Op::Discovery("ResourceTypeList")),
    family("GET", "/Users", "List or filter users", Op::List(Kind::User)),
    family("POST", "/Users", "Create a user", Op::Create(Kind::User)),
    family("POST", "/Users/.search", "Search users", Op::Search(Some(Kind::User))),
    family("POST", "/Users/delete", "Deactivate users in one transaction", Op::Deactivate),
    family("GET", "/Users/{id}", "Read a user", Op::Read(Kind::User)),
    family("PUT", "/Users/{id}", "Replace a user", Op::Replace(Kind::User)),
    family("PATCH", "/Users/{id}", "Modify a user", Op::Patch(Kind::User)),
    family("DELETE", "/Users/{id}", "Delete a user", Op::Delete(Kind::User)),
    family("GET", "/Groups", "List or filter groups", Op::List(Kind::Group)),
    family("POST", "/Groups", "Create a group", Op::Create(Kind::Group)),
    family("POST", "/Groups/.search", "Search groups", Op::Search(Some(Kind::Group))),
    family("GET", "/Groups/{id}", "Read a group", Op::Read(Kind::Group)),
    family("PUT", "/Groups/{id}", "Replace a group", Op::Replace(Kind::Group)),
    family("PATCH", "/Groups/{id}", "Modify a group", Op::Patch(Kind::Group)),
    family("DELETE", "/Groups/{id}", "Delete a group", Op::Delete(Kind::Group)),
    family("POST", "/Bulk", "Run bulk operations", Op::Bulk),
    family("POST", "/.search", "Search across resource types", Op::Search(None)),
    family(
        "GET",
        "/ServiceProviderConfig",
        "Service provider configuration",
        Op::Discovery("ServiceProviderConfig"),
    ),
    family("GET", "/Schemas", "List schemas", Op::Discovery("SchemaList")),
    family("GET", "/Schemas/{uri}", "Read a schema", Op::DiscoveryOne("Schema")),
    family("GET", "/ResourceTypes", "List resource types", Op::Discovery("ResourceTypeList")),
    family(
        "GET",
        "/ResourceTypes/{name}",
        "Read a resource type",
        Op::DiscoveryOne("ResourceType"),
    ),
    family("GET", "/Me", "Not supported (501)", Op::Me),
    root(
        "POST",
        "/oauth2/token",
        "OAuth2 client credentials token endpoint (RFC 6749 4.4)",
        Op::Token,
    ),
    root("GET", "/healthz", "The process is up", Op::OpsJson("Health")),
    root("GET", "/readyz", "The database is reachable", Op::OpsJson("Health")),
    root("GET", "/metrics", "Prometheus metrics", Op::OpsText("text/plain")),
    root("GET", "/openapi.json", "This document", Op::OpsJson("")),
    root(
        "GET",
        "/docs/errors",
        "The error codes (docs/errors.md) as HTML; moreInfo links here",
        Op::OpsText("text/html"),
    ),
    root("GET", "/docs/errors.md", "The error codes as markdown", Op::OpsText("text/markdown")),
];

/// The family bases, the tag of each, and their path parameters.
const BASES: &[(&str, paths::Fam)] =
    &[("/scim/v2", paths::Fam::Rfc), ("/Organizations/{OrganizationSid}/scim", paths::Fam::Org)];

/// The OpenAPI 3.1 document.
pub fn document(state: &AppState) -> Value {
    let mut paths = Map::new();
    for r in ROUTES {
        let fulls: Vec<(String, paths::Fam)> = match r.base {
            Base::Root => vec![(r.path.to_owned(), paths::Fam::Root)],
            Base::Family => BASES.iter().map(|(b, fam)| (format!("{b}{}", r.path), *fam)).collect(),
        };
        for (full, fam) in fulls {
            let op = paths::operation(r, &full, fam);
            if let Value::Object(item) =
                paths.entry(full.clone()).or_insert_with(|| Value::Object(Map::new()))
            {
                item.insert(r.method.to_lowercase(), op);
            }
        }
    }
    // The admin API (`docs/admin-api.md`), served only when `admin_api` is on.
    admin::add(&mut paths);
    let mut servers = Vec::new();
    if let Some(url) = &state.config.public_url {
        servers.push(json!({"url": url}));
    }
    json!({
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {"title": "SCIM 2.0 service", "version": env!("CARGO_PKG_VERSION"),
                 "description": "SCIM 2.0 (RFC 7643, RFC 7644) on two route families. \
                     User and Group schemas are generated from the schema registry."},
        "servers": servers,
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "headers": paths::headers(),
            "schemas": schemas::components(&state.registry, state.config.error_body_codes),
        }
    })
}
