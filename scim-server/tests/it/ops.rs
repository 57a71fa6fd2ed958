//! Operational endpoints: `/healthz`, `/readyz`, `/metrics`, `/openapi.json`, the error
//! documentation (`/docs/errors`), and the route table the OpenAPI document is generated
//! from.

use crate::support::{app, gzip, req};
use http::Method;
use scim_server::openapi::{Base, ROUTES};

#[tokio::test]
async fn healthz_and_readyz() {
    let app = app().await;
    let r = app.send(req(Method::GET, "/healthz").build()).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "ok");
    let r = app.send(req(Method::GET, "/readyz").build()).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "ready");
}

#[tokio::test]
async fn metrics_count_requests_by_route_template() {
    let app = app().await;
    app.get("/scim/v2/Schemas/urn:ietf:params:scim:schemas:core:2.0:User").await;
    let r = app.send(req(Method::GET, "/metrics").build()).await;
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    let text = String::from_utf8(r.bytes).unwrap();
    assert!(text.contains("scim_http_requests_total"), "{text}");
    assert!(text.contains(r#"route="/Schemas/{uri}""#), "{text}");
    assert!(text.contains("scim_http_request_duration_seconds"), "{text}");
}

/// The resource routes served without the router are counted under the router's
/// templates, and the same routes through the router (a gzip-encoded body, `HEAD`) answer
/// as before.
#[tokio::test]
async fn metrics_count_the_resource_routes_by_template_whichever_way_they_are_served() {
    let app = app().await;
    let user = serde_json::json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "hot@x.io"});
    let r =
        app.send(req(Method::POST, "/scim/v2/Users").bearer(&app.token).json(&user).build()).await;
    assert_eq!(r.status, 201);
    let path = format!("/scim/v2/Users/{}", r.json()["id"].as_str().unwrap());
    let r = app.send(req(Method::GET, &path).bearer(&app.token).build()).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["userName"], "hot@x.io");
    let patch = serde_json::json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "displayName", "value": "Zipped"}]});
    let r = app
        .send(
            req(Method::PATCH, &path)
                .bearer(&app.token)
                .header("content-encoding", "gzip")
                .bytes("application/scim+json", gzip(&serde_json::to_vec(&patch).unwrap()))
                .build(),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["displayName"], "Zipped");
    let r = app.send(req(Method::HEAD, &path).bearer(&app.token).build()).await;
    assert_eq!(r.status, 200);
    assert!(r.bytes.is_empty());
    let r = app.send(req(Method::GET, "/scim/v2/Users/.search").bearer(&app.token).build()).await;
    assert_eq!(r.status, 405);
    let r = app.send(req(Method::GET, "/metrics").build()).await;
    let text = String::from_utf8(r.bytes).unwrap();
    for series in [
        r#"method="POST",route="/Users",family="rfc",status="201""#,
        r#"method="GET",route="/Users/{id}",family="rfc",status="200""#,
        r#"method="PATCH",route="/Users/{id}",family="rfc",status="200""#,
        r#"method="HEAD",route="/Users/{id}",family="rfc",status="200""#,
        r#"method="GET",route="/Users/.search",family="rfc",status="405""#,
    ] {
        assert!(
            text.contains(&format!("scim_http_requests_total{{{series}}} 1")),
            "{series}: {text}"
        );
    }
}

#[tokio::test]
async fn metrics_have_help_text_error_codes_and_the_build() {
    let app = app().await;
    // An unknown route (22404) and a request without a credential (20401).
    app.get("/scim/v2/Nothing").await;
    app.send(req(Method::GET, "/scim/v2/Users").build()).await;
    let r = app.send(req(Method::GET, "/metrics").build()).await;
    let text = String::from_utf8(r.bytes).unwrap();
    for help in [
        "# HELP scim_http_requests_total ",
        "# HELP scim_http_request_duration_seconds ",
        "# HELP scim_errors_total ",
        "# HELP scim_build_info ",
    ] {
        assert!(text.contains(help), "{help} missing: {text}");
    }
    assert!(text.contains(r#"scim_errors_total{code="UnknownRoute"}"#), "{text}");
    assert!(text.contains(r#"scim_errors_total{code="MissingCredential"}"#), "{text}");
    let build = format!(r#"scim_build_info{{version="{}"}} 1"#, env!("CARGO_PKG_VERSION"));
    assert!(text.contains(&build), "{text}");
}

#[tokio::test]
async fn metrics_show_the_database_pool_and_the_wait_for_a_transaction() {
    let app = app().await;
    let user = serde_json::json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "pool@x.io"});
    let r =
        app.send(req(Method::POST, "/scim/v2/Users").bearer(&app.token).json(&user).build()).await;
    assert_eq!(r.status, 201);
    let r = app.send(req(Method::GET, "/metrics").build()).await;
    let text = String::from_utf8(r.bytes).unwrap();
    for line in [
        "# HELP scim_db_connections ",
        "# HELP scim_db_wait_seconds ",
        "# TYPE scim_db_wait_seconds histogram",
        r#"scim_db_connections{state="idle"}"#,
        r#"scim_db_connections{state="in_use"}"#,
        "scim_db_wait_seconds_count ",
    ] {
        assert!(text.contains(line), "{line} missing: {text}");
    }
}

#[tokio::test]
async fn openapi_lists_every_route_on_both_families() {
    let app = app().await;
    let r = app.send(req(Method::GET, "/openapi.json").build()).await;
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["openapi"], "3.1.0");
    let paths = v["paths"].as_object().unwrap();
    for route in ROUTES {
        let fulls = match route.base {
            Base::Root => vec![route.path.to_owned()],
            Base::Family => vec![
                format!("/scim/v2{}", route.path),
                format!("/Organizations/{{OrganizationSid}}/scim{}", route.path),
            ],
        };
        for full in fulls {
            let method = route.method.to_lowercase();
            assert!(paths.get(&full).and_then(|p| p.get(&method)).is_some(), "{method} {full}");
        }
    }
}

/// The table the OpenAPI document comes from names only routes the router serves.
#[tokio::test]
async fn every_documented_route_is_routed() {
    let app = app().await;
    for route in ROUTES {
        let path = route
            .path
            .replace("{id}", "US0123456789abcdef0123456789abcdef")
            .replace("{uri}", "urn:ietf:params:scim:schemas:core:2.0:User")
            .replace("{name}", "User");
        let uri = match route.base {
            Base::Root => path,
            Base::Family => format!("/scim/v2{path}"),
        };
        let method = Method::from_bytes(route.method.as_bytes()).unwrap();
        let r = app.send(req(method, &uri).build()).await;
        let code = serde_json::from_slice::<serde_json::Value>(&r.bytes)
            .ok()
            .and_then(|v| v["code"].as_u64());
        assert!(
            !matches!(code, Some(22404 | 20405)),
            "{} {uri} is documented but not routed ({})",
            route.method,
            r.status
        );
    }
}

/// `moreInfo` links resolve on the service itself: the error codes as HTML with every
/// entry's anchor, and the markdown they come from; no credential needed.
#[tokio::test]
async fn error_docs_are_served_as_html_and_markdown() {
    let app = app().await;
    let r = app.send(req(Method::GET, "/docs/errors").build()).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    let html = String::from_utf8(r.bytes).unwrap();
    assert!(html.starts_with("<!doctype html>"), "{html}");
    assert!(html.contains(r#"id="20409""#), "{html}");
    for code in scim_core::ErrorCode::ALL {
        assert!(html.contains(&format!(r#"<a id="{}"></a>"#, code.code())), "{code:?}");
    }
    assert!(!html.contains("### "), "headings are rendered");
    let r = app.send(req(Method::GET, "/docs/errors.md").build()).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/markdown; charset=utf-8"));
    let md = String::from_utf8(r.bytes).unwrap();
    assert_eq!(md, include_str!("../../../docs/errors.md"));
    let r = app.send(req(Method::HEAD, "/docs/errors").build()).await;
    assert_eq!(r.status, 200);
    app.send(req(Method::POST, "/docs/errors").build()).await.assert_error(405, 20405);
    app.send(req(Method::GET, "/docs/nope").build()).await.assert_error(404, 22404);
}
