//! `/openapi.json`: a well-formed OpenAPI 3.1 document (every `$ref` resolves, every path
//! parameter is declared, operation ids are unique), that documents every route the router
//! registers, and whose schemas, statuses and headers the real answers of the in-process
//! router match.

use crate::schema_check::{check, resolve};
use crate::support::{Resp, app, app_with, req};
use http::Method;
use serde_json::{Value, json};
use std::collections::BTreeSet;

async fn document() -> Value {
    app().await.send(req(Method::GET, "/openapi.json").build()).await.json()
}

fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x) {
                    ("$ref", Value::String(r)) => out.push(r),
                    _ => refs(x, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

#[tokio::test]
async fn openapi_is_structurally_valid() {
    let doc = document().await;
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(all.len() > 100, "{}", all.len());
    for r in all {
        assert!(r.starts_with("#/components/"), "{r}");
        assert!(resolve(&doc, r).is_some(), "unresolved {r}");
    }
    let mut ids = BTreeSet::new();
    let methods = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];
    for (path, item) in doc["paths"].as_object().unwrap() {
        assert!(path.starts_with('/'), "{path}");
        let templated: BTreeSet<&str> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .collect();
        for (method, op) in item.as_object().unwrap() {
            assert!(methods.contains(&method.as_str()), "{method} {path}");
            assert!(ids.insert(op["operationId"].as_str().unwrap().to_owned()), "{path}");
            let responses = op["responses"].as_object().unwrap();
            assert!(!responses.is_empty());
            for (code, r) in responses {
                assert!(code == "default" || code.parse::<u16>().is_ok(), "{code}");
                assert!(r["description"].is_string(), "{method} {path} {code}");
            }
            let declared: BTreeSet<&str> = op["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| p["in"] == "path")
                .map(|p| {
                    assert_eq!(p["required"], true);
                    p["name"].as_str().unwrap()
                })
                .collect();
            assert_eq!(declared, templated, "{method} {path}");
        }
    }
}

/// The `(path, methods)` of every `.route(...)` in a router source file.
fn routes_in(src: &str) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for (start, _) in src.match_indices(".route(") {
        let rest = &src[start + ".route(".len()..];
        let mut depth = 1;
        let end = rest
            .char_indices()
            .find(|&(_, c)| {
                depth += match c {
                    '(' => 1,
                    ')' => -1,
                    _ => 0,
                };
                depth == 0
            })
            .unwrap()
            .0;
        let call = &rest[..end];
        let path = call.split('"').nth(1).unwrap().to_owned();
        let methods = ["get", "post", "put", "patch", "delete", "any"]
            .into_iter()
            .filter(|m| {
                call.match_indices(&format!("{m}(")).any(|(i, _)| {
                    i == 0 || !call[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_')
                })
            })
            .map(str::to_owned)
            .collect();
        out.push((path, methods));
    }
    out
}

#[tokio::test]
async fn openapi_documents_every_route_the_router_registers() {
    let doc = document().await;
    let paths = doc["paths"].as_object().unwrap();
    let family = [
        include_str!("../../src/handlers/mod.rs"),
        include_str!("../../src/handlers/hot.rs"),
        include_str!("../../src/discovery.rs"),
    ];
    let root = [
        include_str!("../../src/ops.rs"),
        include_str!("../../src/oauth.rs"),
        include_str!("../../src/docs.rs"),
    ];
    let mut seen = 0;
    let mut expect = |full: String, methods: &[String]| {
        let item = paths.get(&full).unwrap_or_else(|| panic!("{full} is not documented"));
        assert!(!methods.is_empty(), "{full}");
        for m in methods {
            if m == "any" {
                assert!(item.as_object().unwrap().len() == 1, "{full}");
            } else {
                assert!(item.get(m).is_some(), "{m} {full} is not documented");
            }
            seen += 1;
        }
    };
    for src in family {
        for (path, methods) in routes_in(src) {
            for base in ["/scim/v2", "/Organizations/{OrganizationSid}/scim"] {
                let full = if path == "/" { base.to_owned() } else { format!("{base}{path}") };
                expect(full, &methods);
            }
        }
    }
    for src in root {
        for (path, methods) in routes_in(src) {
            expect(path, &methods);
        }
    }
    for src in [
        include_str!("../../src/admin_api/orgs.rs"),
        include_str!("../../src/admin_api/credentials.rs"),
        include_str!("../../src/admin_api/events.rs"),
    ] {
        for (path, methods) in routes_in(src) {
            expect(path, &methods);
        }
    }
    let documented: usize = paths.values().map(|i| i.as_object().unwrap().len()).sum();
    assert_eq!(seen, documented, "the document names routes the router does not register");
}

/// Asserts that `r`, the answer to `method` on `template`, has a documented status, the
/// documented headers, and a body valid against the documented schema.
#[track_caller]
fn conforms(doc: &Value, template: &str, method: &str, r: &Resp) {
    let op = &doc["paths"][template][method];
    assert!(op.is_object(), "{method} {template} is not documented");
    let status = r.status.as_u16().to_string();
    let documented = &op["responses"][&status];
    assert!(documented.is_object(), "{method} {template}: status {status} is not documented");
    let documented = match documented.get("$ref").and_then(Value::as_str) {
        Some(reference) => resolve(doc, reference).unwrap(),
        None => documented,
    };
    for (name, _) in documented["headers"].as_object().into_iter().flatten() {
        if ["ETag", "Location", "Link", "Retry-After"].contains(&name.as_str()) {
            assert!(r.header(name).is_some(), "{method} {template} {status}: no {name} header");
        }
    }
    let Some(content) = documented["content"].as_object() else {
        assert!(r.bytes.is_empty(), "{method} {template} {status}: undocumented body");
        return;
    };
    let ct = r.header("content-type").unwrap_or_default();
    let media = ct.split(';').next().unwrap_or_default().trim();
    let schema = &content
        .get(media)
        .unwrap_or_else(|| panic!("{method} {template} {status}: content type {ct}"))["schema"];
    if !media.ends_with("json") {
        return;
    }
    let errors = check(doc, schema, &r.json());
    assert!(errors.is_empty(), "{method} {template} {status}: {errors:#?}\n{}", r.json());
}

#[tokio::test]
async fn real_answers_validate_against_the_document() {
    let app = app().await;
    let doc = app.send(req(Method::GET, "/openapi.json").build()).await.json();
    let t = app.token.clone();
    let send = |m: Method, uri: &str, body: Option<Value>| {
        let mut b = req(m, uri).bearer(&t);
        if let Some(body) = body {
            b = b.json(&body);
        }
        app.send(b.build())
    };
    let a = "/scim/v2";
    let user = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "userName": "ada@example.com", "externalId": "e-1", "password": "Secret-123456",
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "emails": [{"value": "ada@example.com", "type": "work", "primary": true}],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":
            {"employeeNumber": "7", "manager": {"value": "US0123456789abcdef0123456789abcdef"}}});
    let r = send(Method::POST, "/scim/v2/Users", Some(user)).await;
    conforms(&doc, "/scim/v2/Users", "post", &r);
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let etag = r.header("etag").unwrap().to_owned();
    let one = format!("{a}/Users/{id}");
    let u = "/scim/v2/Users/{id}";
    conforms(&doc, u, "get", &send(Method::GET, &one, None).await);
    let r =
        app.send(req(Method::GET, &one).bearer(&t).header("if-none-match", &etag).build()).await;
    conforms(&doc, u, "get", &r);
    let r = send(Method::GET, &format!("{one}?attributes=userName"), None).await;
    conforms(&doc, u, "get", &r);
    let r = send(Method::POST, "/scim/v2/Users", Some(json!({"userName": "ada@example.com"})));
    conforms(&doc, "/scim/v2/Users", "post", &r.await);
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "displayName", "value": "Ada L."}]});
    conforms(&doc, u, "patch", &send(Method::PATCH, &one, Some(patch.clone())).await);
    let r = app
        .send(
            req(Method::PATCH, &one).bearer(&t).header("if-match", "W/\"99\"").json(&patch).build(),
        )
        .await;
    conforms(&doc, u, "patch", &r);
    let put = json!({"userName": "ada@example.com", "active": true});
    conforms(&doc, u, "put", &send(Method::PUT, &one, Some(put)).await);
    let r = send(Method::GET, "/scim/v2/Users?filter=userName%20eq%20%22ada@example.com%22", None);
    conforms(&doc, "/scim/v2/Users", "get", &r.await);
    let r = send(Method::GET, "/scim/v2/Users?filter=bogus", None).await;
    conforms(&doc, "/scim/v2/Users", "get", &r);
    let search = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
        "filter": "userName sw \"ada\"", "count": 5});
    let r = send(Method::POST, "/scim/v2/Users/.search", Some(search.clone())).await;
    conforms(&doc, "/scim/v2/Users/.search", "post", &r);
    conforms(
        &doc,
        "/scim/v2/.search",
        "post",
        &send(Method::POST, "/scim/v2/.search", Some(search)).await,
    );
    let group = json!({"displayName": "Engineers", "members": [{"value": id}]});
    let r = send(Method::POST, "/scim/v2/Groups", Some(group)).await;
    conforms(&doc, "/scim/v2/Groups", "post", &r);
    let gid = r.json()["id"].as_str().unwrap().to_owned();
    conforms(
        &doc,
        "/scim/v2/Groups/{id}",
        "get",
        &send(Method::GET, &format!("{a}/Groups/{gid}"), None).await,
    );
    conforms(&doc, "/scim/v2/Groups", "get", &send(Method::GET, "/scim/v2/Groups", None).await);
    conforms(&doc, u, "get", &send(Method::GET, &one, None).await);
    let bulk = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
        "Operations": [{"method": "POST", "path": "/Users", "bulkId": "b1",
                        "data": {"userName": "grace@example.com"}},
                       {"method": "DELETE", "path": "/Users/US0123456789abcdef0123456789abcdef"}]});
    conforms(&doc, "/scim/v2/Bulk", "post", &send(Method::POST, "/scim/v2/Bulk", Some(bulk)).await);
    let r = send(Method::POST, "/scim/v2/Users/delete", Some(json!({"ids": [id]}))).await;
    conforms(&doc, "/scim/v2/Users/delete", "post", &r);
    let r = send(
        Method::POST,
        "/scim/v2/Users/delete",
        Some(json!(["US0123456789abcdef0123456789abcdef"])),
    );
    conforms(&doc, "/scim/v2/Users/delete", "post", &r.await);
    for path in [
        "/ServiceProviderConfig",
        "/Schemas",
        "/ResourceTypes",
        "/Me",
        "/ResourceTypes/User",
        "/Schemas/urn:ietf:params:scim:schemas:core:2.0:User",
        "/Schemas/urn:nope",
    ] {
        let template = if path.starts_with("/Schemas/") {
            "/scim/v2/Schemas/{uri}".to_owned()
        } else if path.starts_with("/ResourceTypes/") {
            "/scim/v2/ResourceTypes/{name}".to_owned()
        } else {
            format!("{a}{path}")
        };
        conforms(&doc, &template, "get", &send(Method::GET, &format!("{a}{path}"), None).await);
    }
    conforms(&doc, "/scim/v2", "get", &send(Method::GET, a, None).await);
    let r = app.send(req(Method::GET, "/scim/v2/Users").build()).await;
    conforms(&doc, "/scim/v2/Users", "get", &r);
    let missing = format!("{a}/Groups/GR0123456789abcdef0123456789abcdef");
    conforms(&doc, "/scim/v2/Groups/{id}", "delete", &send(Method::DELETE, &missing, None).await);
    conforms(&doc, u, "delete", &send(Method::DELETE, &one, None).await);

    // Family B: its own error body, and the profile's bounds.
    let b = format!("/Organizations/{}/scim", app.org);
    let bt = "/Organizations/{OrganizationSid}/scim";
    let r = send(Method::POST, &format!("{b}/Users"), Some(json!({"userName": "x"}))).await;
    assert_eq!(r.status, 400);
    conforms(&doc, &format!("{bt}/Users"), "post", &r);
    let r = send(Method::GET, &format!("{b}/Users/US0123456789abcdef0123456789abcdef"), None).await;
    conforms(&doc, &format!("{bt}/Users/{{id}}"), "get", &r);
    let r = send(Method::GET, &format!("{b}/Users"), None).await;
    conforms(&doc, &format!("{bt}/Users"), "get", &r);

    // The root.
    for path in
        ["/healthz", "/readyz", "/openapi.json", "/metrics", "/docs/errors", "/docs/errors.md"]
    {
        conforms(&doc, path, "get", &app.send(req(Method::GET, path).build()).await);
    }
    let r = app
        .send(
            req(Method::POST, "/oauth2/token")
                .bytes(
                    "application/x-www-form-urlencoded",
                    b"grant_type=client_credentials".to_vec(),
                )
                .build(),
        )
        .await;
    conforms(&doc, "/oauth2/token", "post", &r);
}

/// With `error_body_codes` on, family A's documented error body admits `code` and
/// `moreInfo`; by default it does not.
#[tokio::test]
async fn the_error_schema_follows_error_body_codes() {
    let plain = document().await;
    assert!(plain["components"]["schemas"]["Error"]["properties"].get("code").is_none());
    assert_eq!(plain["components"]["schemas"]["Error"]["additionalProperties"], false);
    let app = app_with(|c| c.error_body_codes = true).await;
    let doc = app.send(req(Method::GET, "/openapi.json").build()).await.json();
    assert!(doc["components"]["schemas"]["Error"]["properties"]["code"].is_object());
    let r = app.send(req(Method::GET, "/scim/v2/Users").build()).await;
    conforms(&doc, "/scim/v2/Users", "get", &r);
}

/// The User schema comes from the registry: required, mutability and sub-attributes.
#[tokio::test]
async fn user_schema_is_generated_from_the_registry() {
    let doc = document().await;
    let s = &doc["components"]["schemas"];
    assert_eq!(s["UserRequest"]["required"], json!(["userName"]));
    assert_eq!(s["User"]["required"], json!(["schemas", "id"]));
    let p = &s["User"]["properties"];
    assert_eq!(p["id"]["readOnly"], true);
    assert_eq!(p["password"]["writeOnly"], true);
    assert_eq!(p["emails"]["type"], "array");
    assert_eq!(p["emails"]["items"]["properties"]["primary"]["type"], "boolean");
    assert_eq!(p["meta"]["properties"]["created"]["format"], "date-time");
    assert_eq!(p["groups"]["readOnly"], true);
    let ext = &p["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"];
    assert_eq!(ext["properties"]["manager"]["type"], "object");
    let org = &s["UserRequestOrg"]["properties"];
    assert_eq!(org["userName"]["maxLength"], 255);
    assert_eq!(org["emails"]["minItems"], 1);
    assert_eq!(org["emails"]["items"]["properties"]["value"]["maxLength"], 160);
    assert_eq!(s["Group"]["properties"]["members"]["type"], "array");
}
