//! Every error is SCIM JSON (RFC 7644 3.12, `docs/errors.md`): unknown routes, wrong
//! methods, body and media-type rejections, timeouts and panics.

use crate::support::{Resp, app, app_with, assert_rfc_error_members, gzip, req, send};
use axum::Router;
use axum::routing::{get, post};
use http::Method;
use scim_server::ScimJson;
use serde_json::{Value, json};

#[tokio::test]
async fn unknown_routes_are_scim_404() {
    let app = app().await;
    for path in ["/nope", "/scim/v3/Users", "/scim/v2/Nope", "/Organizations", "/scim/v2x"] {
        let r = app.send(req(Method::GET, path).bearer(&app.token).build()).await;
        r.assert_error(404, 22404);
    }
    let org = format!("/Organizations/{}/scim/Widgets", app.org);
    app.get(&org).await.assert_error(404, 22404);
}

#[tokio::test]
async fn wrong_methods_are_scim_405() {
    let app = app().await;
    let r = app.send(req(Method::POST, "/healthz").build()).await;
    r.assert_error(405, 20405);
    assert!(r.header("allow").unwrap().contains("GET"));
    app.send(req(Method::DELETE, "/metrics").build()).await.assert_error(405, 20405);
}

#[tokio::test]
async fn declared_body_over_the_limit_is_413_before_reading() {
    let app = app_with(|c| c.max_body_bytes = 2048).await;
    let r = app
        .send(
            req(Method::POST, "/scim/v2/Users")
                .bearer(&app.token)
                .bytes("application/scim+json", vec![b' '; 4096])
                .build(),
        )
        .await;
    r.assert_error(413, 20413);
}

#[tokio::test]
async fn resource_routes_check_media_types_on_both_families() {
    let app = app().await;
    let user = br#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"m@x.io"}"#;
    for base in ["/scim/v2".to_owned(), format!("/Organizations/{}/scim", app.org)] {
        let uri = format!("{base}/Users");
        let r = app
            .send(
                req(Method::POST, &uri)
                    .bearer(&app.token)
                    .bytes("text/plain", user.to_vec())
                    .build(),
            )
            .await;
        r.assert_error(415, 20415);
        let r = app.send(req(Method::POST, &uri).bearer(&app.token).build()).await;
        r.assert_error(400, 20400);
        let r = app
            .send(
                req(Method::POST, &uri)
                    .bearer(&app.token)
                    .bytes("application/scim+json", b"{\"userName\":".to_vec())
                    .build(),
            )
            .await;
        r.assert_error(400, 20400);
    }
    let r = app
        .send(
            req(Method::POST, "/scim/v2/Users")
                .bearer(&app.token)
                .bytes("application/json; charset=utf-8", user.to_vec())
                .build(),
        )
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.bytes));
    // A trailing slash names the same route.
    assert_eq!(app.get("/scim/v2/Users/").await.status, 200);
}

/// A router of one route taking `ScimJson`, wrapped in the service's layers.
async fn echo_app(max_body: usize) -> (crate::support::TestApp, Router) {
    let app = app_with(|c| c.max_body_bytes = max_body).await;
    let inner = Router::new()
        .route("/echo", post(|ScimJson(v): ScimJson<Value>| async move { axum::Json(v) }))
        .route(
            "/panic",
            get(|| async {
                if true {
                    panic!("boom: secret detail");
                }
                "unreachable"
            }),
        )
        .with_state(app.state.clone());
    let router = scim_server::front::layers(inner, &app.state);
    (app, router)
}

#[tokio::test]
async fn body_extractor_media_types() {
    let (_app, router) = echo_app(1 << 20).await;
    let body = br#"{"a":1}"#.to_vec();
    for ct in ["application/scim+json", "application/json", "application/json; charset=utf-8"] {
        let r = send(&router, req(Method::POST, "/echo").bytes(ct, body.clone()).build()).await;
        assert_eq!(r.status, 200, "{ct}");
        assert_eq!(r.json(), json!({"a":1}));
    }
    let r =
        send(&router, req(Method::POST, "/echo").bytes("text/plain", body.clone()).build()).await;
    r.assert_error(415, 20415);
    let r = send(&router, req(Method::POST, "/echo").bytes("application/xml", body).build()).await;
    r.assert_error(415, 20415);
}

#[tokio::test]
async fn body_extractor_empty_and_bad_json_are_400() {
    let (_app, router) = echo_app(1 << 20).await;
    let r = send(&router, req(Method::POST, "/echo").build()).await;
    let v = r.assert_error(400, 20400);
    assert_eq!(v["scimType"], "invalidSyntax");
    let r =
        send(&router, req(Method::POST, "/echo").bytes("application/scim+json", vec![]).build())
            .await;
    r.assert_error(400, 20400);
    let r = send(
        &router,
        req(Method::POST, "/echo").bytes("application/scim+json", b"{\"a\": tru}".to_vec()).build(),
    )
    .await;
    let v = r.assert_error(400, 20400);
    assert!(v["detail"].as_str().unwrap().contains("line 1 column"), "{v}");
}

#[tokio::test]
async fn body_over_the_limit_is_413_also_when_streamed() {
    let (_app, router) = echo_app(2048).await;
    // No Content-Length: the limit applies while reading.
    let big = format!("{{\"a\":\"{}\"}}", "x".repeat(4096));
    let request = http::Request::builder()
        .method(Method::POST)
        .uri("/echo")
        .header("content-type", "application/scim+json")
        .body(axum::body::Body::from_stream(futures::stream::once(async move {
            Ok::<_, std::io::Error>(big.into_bytes())
        })))
        .unwrap();
    send(&router, request).await.assert_error(413, 20413);
}

#[tokio::test]
async fn gzip_request_bodies_are_accepted_and_bombs_get_413() {
    let (_app, router) = echo_app(64 * 1024).await;
    let r = send(
        &router,
        req(Method::POST, "/echo")
            .header("content-encoding", "gzip")
            .bytes("application/scim+json", gzip(br#"{"zipped":true}"#))
            .build(),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!({"zipped": true}));
    // 8 MiB of spaces compress to a few KiB, under the declared limit, over the real one.
    let bomb = gzip(&vec![b' '; 8 << 20]);
    assert!(bomb.len() < 64 * 1024);
    let r = send(
        &router,
        req(Method::POST, "/echo")
            .header("content-encoding", "gzip")
            .bytes("application/scim+json", bomb)
            .build(),
    )
    .await;
    r.assert_error(413, 20413);
    let r = send(
        &router,
        req(Method::POST, "/echo")
            .header("content-encoding", "gzip")
            .bytes("application/scim+json", b"not gzip at all".to_vec())
            .build(),
    )
    .await;
    r.assert_error(400, 20400);
}

#[tokio::test]
async fn panics_are_scim_500_without_details() {
    let (_app, router) = echo_app(1024 * 1024).await;
    let r = send(&router, req(Method::GET, "/panic").build()).await;
    let v = r.assert_error(500, 20500);
    assert!(!v.to_string().contains("secret"), "{v}");
}

#[tokio::test]
async fn slow_requests_are_scim_503() {
    let app = app_with(|c| c.request_timeout_secs = 1).await;
    let inner = Router::new()
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                "late"
            }),
        )
        .with_state(app.state.clone());
    let router = scim_server::front::layers(inner, &app.state);
    let r = send(&router, req(Method::GET, "/slow").build()).await;
    r.assert_error(503, 21503);
    assert!(r.header("retry-after").is_some());
}

/// By default `moreInfo` points at the service's own `/docs/errors`, on the base URL the
/// client addressed (like `meta.location`), and that link resolves to the entry.
#[tokio::test]
async fn more_info_defaults_to_the_services_own_docs_page() {
    let app = app_with(|c| c.docs_base = None).await;
    // No Host header: the listen address, as for meta.location.
    let r = app.get("/scim/v2/Users/x").await;
    assert_eq!(r.status, 404);
    assert_eq!(help(&r), "http://127.0.0.1:8080/docs/errors#21404");
    // Host and X-Forwarded-Proto, on both families and on the operational router.
    let org = format!("/Organizations/{}/scim/Users/x", app.org);
    for (path, code) in [("/scim/v2/Users/x", 21404), (org.as_str(), 21404), ("/nope", 22404)] {
        let r = app
            .send(
                req(Method::GET, path)
                    .bearer(&app.token)
                    .header("host", "scim.example:8443")
                    .header("x-forwarded-proto", "https")
                    .build(),
            )
            .await;
        let link = format!("https://scim.example:8443/docs/errors#{code}");
        assert_eq!(help(&r), link);
        // Family B's body carries the link too (Twilio's contract).
        if path.starts_with("/Organizations") {
            assert_eq!(r.json()["moreInfo"], link);
        }
    }
    // Errors rendered by the edge itself (before any route) follow the same base.
    let r = app
        .send(
            req(Method::GET, "/scim/v2/Users")
                .bearer(&app.token)
                .header("host", "scim.example")
                .header("zuora-track-id", "a:b")
                .build(),
        )
        .await;
    assert_eq!(help(&r), "http://scim.example/docs/errors#28400");
    // Errors nested in a bulk response too.
    let bulk = json!({"schemas":[scim_core::message::BULK_REQUEST],"Operations":[
        {"method":"DELETE","path":"/Users/US0123456789abcdef0123456789abcdef"}]});
    let b = format!("/Organizations/{}/scim/Bulk", app.org);
    let r = app.send(req(Method::POST, &b).bearer(&app.token).json(&bulk).build()).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json()["Operations"][0]["response"]["moreInfo"],
        "http://127.0.0.1:8080/docs/errors#20404"
    );
    // The ServiceProviderConfig's documentationUri is that page.
    let spc = app.get("/scim/v2/ServiceProviderConfig").await.json();
    assert_eq!(spc["documentationUri"], "http://127.0.0.1:8080/docs/errors");
    // The link resolves on the same service, without a credential, to the entry.
    let r = app.send(req(Method::GET, "/docs/errors").build()).await;
    assert_eq!(r.status, 200);
    assert!(String::from_utf8(r.bytes).unwrap().contains(r#"<a id="21404"></a>"#));
    // A configured public_url is the base, as for meta.location.
    let app = app_with(|c| {
        c.docs_base = None;
        c.public_url = Some("https://public.example/".into());
    })
    .await;
    let r = app.get("/scim/v2/Users/x").await;
    assert_eq!(help(&r), "https://public.example/docs/errors#21404");
}

#[tokio::test]
async fn a_configured_docs_base_wins() {
    let app = app_with(|c| {
        c.docs_base = Some("https://help.example/scim/".into());
        c.public_url = Some("https://public.example".into());
    })
    .await;
    let r = app
        .send(req(Method::GET, "/scim/v2/Users/x").bearer(&app.token).header("host", "h").build())
        .await;
    assert_eq!(help(&r), "https://help.example/scim/errors#21404");
    let r = app.send(req(Method::GET, "/nope").build()).await;
    assert_eq!(help(&r), "https://help.example/scim/errors#22404");
    let spc = app.get("/scim/v2/ServiceProviderConfig").await.json();
    assert_eq!(spc["documentationUri"], "https://help.example/scim/errors");
}

/// The target of the response's `Link: <...>; rel="help"` header (RFC 8288).
#[track_caller]
fn help(r: &Resp) -> String {
    let link = r.header("link").unwrap_or_else(|| panic!("no Link header: {r:?}"));
    let target = link.strip_suffix("; rel=\"help\"").unwrap_or_else(|| panic!("{link}"));
    target.trim_start_matches('<').trim_end_matches('>').to_owned()
}

/// RFC 7644 3.12 on `/scim/v2`: exactly `schemas`, `status`, `scimType` and `detail`, the
/// code and its documentation in the `Link` header; Twilio's body with `code` and
/// `moreInfo` on `/Organizations/{sid}/scim`; `error_body_codes` adds them on `/scim/v2`.
#[tokio::test]
async fn error_bodies_follow_the_route_family() {
    let app = app_with(|c| c.docs_base = Some("https://docs.test".into())).await;
    let cases = [
        req(Method::GET, "/scim/v2/Users/US0123456789abcdef0123456789abcdef")
            .bearer(&app.token)
            .build(),
        req(Method::GET, "/scim/v2/Users?filter=userName%20eq").bearer(&app.token).build(),
        req(Method::GET, "/scim/v2/Nope").bearer(&app.token).build(),
        req(Method::DELETE, "/scim/v2/ServiceProviderConfig").bearer(&app.token).build(),
        req(Method::GET, "/scim/v2/Users").build(),
        req(Method::GET, "/nope").build(),
    ];
    for rq in cases {
        let what = format!("{} {}", rq.method(), rq.uri());
        let r = app.send(rq).await;
        let v = r.json();
        assert!(r.status.is_client_error(), "{what}: {v}");
        assert_rfc_error_members(&v);
        assert!(help(&r).starts_with("https://docs.test/errors#"), "{what}");
    }
    let r = app.get("/scim/v2/Users/US0123456789abcdef0123456789abcdef").await;
    assert_eq!(
        r.json(),
        json!({"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"404",
               "detail":"no User with id 'US0123456789abcdef0123456789abcdef'"})
    );
    assert_eq!(help(&r), "https://docs.test/errors#20404");
    // Family B: Twilio's body, the same Link.
    let org = app.org;
    for path in [
        format!("/Organizations/{org}/scim/Users/US0123456789abcdef0123456789abcdef"),
        format!("/Organizations/{org}/scim/Nope"),
    ] {
        let r = app.get(&path).await;
        let v = r.json();
        let code = v["code"].as_u64().unwrap_or_else(|| panic!("{path}: {v}"));
        assert_eq!(v["moreInfo"], format!("https://docs.test/errors#{code}"));
        assert_eq!(help(&r), format!("https://docs.test/errors#{code}"));
    }
    // The setting adds them on family A.
    let app = app_with(|c| {
        c.docs_base = Some("https://docs.test".into());
        c.error_body_codes = true;
    })
    .await;
    let v = app.get("/scim/v2/Users/US0123456789abcdef0123456789abcdef").await.json();
    assert_eq!(
        (v["code"].as_u64(), v["moreInfo"].as_str()),
        (Some(20404), Some("https://docs.test/errors#20404"))
    );
}
