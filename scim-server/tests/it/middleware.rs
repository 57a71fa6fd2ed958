//! HTTP behaviour (`docs/http.md`): request ids, tracking header, CORS, compression,
//! media types and rate limits.

use crate::support::{app, app_with, gunzip, req};
use http::Method;

const SPC: &str = "/scim/v2/ServiceProviderConfig";

#[tokio::test]
async fn request_id_is_echoed_or_generated() {
    let app = app().await;
    let r = app.send(req(Method::GET, "/healthz").header("x-request-id", "abc-123").build()).await;
    assert_eq!(r.header("x-request-id"), Some("abc-123"));
    let r = app.send(req(Method::GET, "/healthz").build()).await;
    let id = r.header("x-request-id").unwrap();
    assert_eq!(id.len(), 32);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    let other = app.send(req(Method::GET, "/healthz").build()).await;
    assert_ne!(other.header("x-request-id").unwrap(), id);
    // An unusable one is replaced.
    let long = "x".repeat(200);
    let r = app.send(req(Method::GET, "/healthz").header("x-request-id", &long).build()).await;
    assert_eq!(r.header("x-request-id").unwrap().len(), 32);
    let r = app.send(req(Method::GET, "/healthz").header("x-request-id", "a b").build()).await;
    assert_eq!(r.header("x-request-id").unwrap().len(), 32);
    // Errors carry it too.
    let r = app.send(req(Method::GET, "/nope").header("x-request-id", "e-1").build()).await;
    assert_eq!(r.header("x-request-id"), Some("e-1"));
}

#[tokio::test]
async fn zuora_track_id_is_echoed_and_checked() {
    let app = app().await;
    let r = app
        .send(req(Method::GET, SPC).bearer(&app.token).header("zuora-track-id", "track-42").build())
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("zuora-track-id"), Some("track-42"));
    let long = "a".repeat(65);
    for bad in [long.as_bytes(), b"a:b", b"a;b", b"a\"b", b"a'b", "caf\u{e9}".as_bytes()] {
        let r = app
            .send(
                req(Method::GET, SPC).bearer(&app.token).raw_header("zuora-track-id", bad).build(),
            )
            .await;
        r.assert_error(400, 28400);
    }
    let ok64 = "a".repeat(64);
    let r = app
        .send(req(Method::GET, SPC).bearer(&app.token).header("zuora-track-id", &ok64).build())
        .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn cors_default_allows_any_origin_without_credentials() {
    let app = app().await;
    let r = app
        .send(
            req(Method::OPTIONS, "/scim/v2/Users")
                .header("origin", "https://admin.example")
                .header("access-control-request-method", "POST")
                .header("access-control-request-headers", "authorization,content-type")
                .build(),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.status);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert!(r.header("access-control-allow-methods").unwrap().contains("PATCH"));
    let allowed = r.header("access-control-allow-headers").unwrap().to_ascii_lowercase();
    assert!(allowed.contains("authorization"), "a * would not cover Authorization: {allowed}");
    assert!(r.header("access-control-allow-credentials").is_none());
    let r = app
        .send(
            req(Method::GET, SPC)
                .bearer(&app.token)
                .header("origin", "https://admin.example")
                .build(),
        )
        .await;
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    let expose = r.header("access-control-expose-headers").unwrap().to_ascii_lowercase();
    for h in [
        "etag",
        "location",
        "x-request-id",
        "retry-after",
        "link",
        "zuora-track-id",
        "idempotent-replayed",
    ] {
        assert!(expose.contains(h), "{expose}");
    }
}

#[tokio::test]
async fn cors_configured_origins_get_credentials() {
    let app = app_with(|c| c.cors_origins = vec!["https://admin.example".into()]).await;
    let preflight = |origin: &str| {
        req(Method::OPTIONS, "/scim/v2/Users")
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .build()
    };
    let r = app.send(preflight("https://admin.example")).await;
    assert_eq!(r.header("access-control-allow-origin"), Some("https://admin.example"));
    let allowed = r.header("access-control-allow-headers").unwrap().to_ascii_lowercase();
    assert!(allowed.contains("authorization") && allowed.contains("if-match"), "{allowed}");
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    let r = app.send(preflight("https://evil.example")).await;
    assert_eq!(r.header("access-control-allow-origin"), None);
}

#[tokio::test]
async fn large_responses_are_gzipped_when_accepted() {
    let app = app().await;
    let r = app
        .send(
            req(Method::GET, "/scim/v2/Schemas")
                .bearer(&app.token)
                .header("accept-encoding", "gzip")
                .build(),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    let v: serde_json::Value = serde_json::from_slice(&gunzip(&r.bytes)).unwrap();
    assert_eq!(v["totalResults"], 3);
    let r = app.send(req(Method::GET, "/healthz").header("accept-encoding", "gzip").build()).await;
    assert_eq!(r.header("content-encoding"), None, "small bodies stay plain");
    let r = app.send(req(Method::GET, "/scim/v2/Schemas").bearer(&app.token).build()).await;
    assert_eq!(r.header("content-encoding"), None);
}

#[tokio::test]
async fn plain_json_when_the_client_accepts_only_that() {
    let app = app().await;
    let r = app
        .send(req(Method::GET, SPC).bearer(&app.token).header("accept", "application/json").build())
        .await;
    assert_eq!(r.header("content-type"), Some("application/json"));
    let r = app
        .send(
            req(Method::GET, SPC)
                .bearer(&app.token)
                .header("accept", "application/scim+json")
                .build(),
        )
        .await;
    assert_eq!(r.header("content-type"), Some("application/scim+json"));
    let r =
        app.send(req(Method::GET, SPC).bearer(&app.token).header("accept", "*/*").build()).await;
    assert_eq!(r.header("content-type"), Some("application/scim+json"));
}

#[tokio::test]
async fn rate_limit_per_credential_is_429_with_retry_after() {
    let app = app_with(|c| {
        c.rate_limit_per_second = 1;
        c.rate_limit_burst = 2;
    })
    .await;
    assert_eq!(app.get(SPC).await.status, 200);
    assert_eq!(app.get(SPC).await.status, 200);
    let r = app.get(SPC).await;
    r.assert_error(429, 20429);
    assert!(r.header("retry-after").unwrap().parse::<u64>().unwrap() >= 1);
    // Another credential has its own bucket.
    let (_, other) = app.token(app.org, scim_store::Scope::ALL).await;
    let r = app.send(req(Method::GET, SPC).bearer(&other).build()).await;
    assert_eq!(r.status, 200);
}

/// With `replicas = 3`, each replica allows a third of the burst (rounded up).
#[tokio::test]
async fn rate_limit_is_shared_between_replicas() {
    let app = app_with(|c| {
        c.rate_limit_per_second = 1;
        c.rate_limit_burst = 7;
        c.replicas = 3;
    })
    .await;
    for _ in 0..3 {
        assert_eq!(app.get(SPC).await.status, 200);
    }
    app.get(SPC).await.assert_error(429, 20429);
}
