//! The product serves a SCIM create and read through its own authentication, and its
//! change hook hears of the create.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use axum::body::Body;
use embedded::{API_KEY, ApiKeys, Provisioned, app};
use http::Request;
use scim_core::schema::Registry;
use scim_server::embed::Operation;
use scim_store::{SeaStore, Store};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

async fn call(router: &axum::Router, req: Request<Body>) -> (u16, Value, http::HeaderMap) {
    let res = router.clone().oneshot(req).await.unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null), headers)
}

#[tokio::test]
async fn scim_create_and_get_through_the_products_auth_fire_the_hook() {
    let registry = Arc::new(Registry::builtin());
    let store = SeaStore::connect("sqlite::memory:", registry).await.unwrap();
    store.migrate().await.unwrap();
    let store: Arc<dyn Store> = Arc::new(store);
    let org = scim_server::admin::create_org(store.as_ref(), "customer", &[]).await.unwrap().sid;
    let other = scim_server::admin::create_org(store.as_ref(), "other", &[]).await.unwrap().sid;
    let mut keys = ApiKeys::default();
    keys.0.insert("key-1".into(), (org, "entra-connection".into()));
    keys.0.insert("key-2".into(), (other, "okta-connection".into()));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let router = app(store, keys, Provisioned(tx));

    let create = Request::post("/scim/Users")
        .header("host", "product.test")
        .header(API_KEY, "key-1")
        .header("content-type", "application/scim+json")
        .body(Body::from(json!({"userName": "ada@x.io"}).to_string()))
        .unwrap();
    let (status, user, headers) = call(&router, create).await;
    assert_eq!(status, 201, "{user}");
    let id = user["id"].as_str().unwrap().to_owned();
    let location = format!("http://product.test/scim/Users/{id}");
    assert_eq!(user["meta"]["location"], location.as_str());
    assert_eq!(headers["location"], location.as_str());

    let get = |key: &'static str| {
        Request::get(format!("/scim/Users/{id}"))
            .header("host", "product.test")
            .header(API_KEY, key)
            .body(Body::empty())
            .unwrap()
    };
    let (status, read, _) = call(&router, get("key-1")).await;
    assert_eq!(status, 200);
    assert_eq!(
        (read["userName"].as_str(), read["meta"]["location"].as_str()),
        (Some("ada@x.io"), Some(location.as_str()))
    );
    // Another customer's key does not see it; no key is a SCIM 401.
    let (status, err, _) = call(&router, get("key-2")).await;
    assert_eq!((status, err["status"].as_str()), (404, Some("404")));
    let anonymous = Request::get("/scim/Users").body(Body::empty()).unwrap();
    let (status, err, headers) = call(&router, anonymous).await;
    assert_eq!(status, 401);
    assert_eq!(err["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error");
    assert!(headers.contains_key("www-authenticate"));
    // The product's own routes are untouched.
    let (status, _, _) = call(&router, Request::get("/").body(Body::empty()).unwrap()).await;
    assert_eq!(status, 200);

    let change = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.unwrap().unwrap();
    assert_eq!(
        (change.org, change.id.as_str(), change.operation),
        (org, id.as_str(), Operation::Create)
    );
    assert_eq!((change.version, change.actor.as_str()), (Some(1), "entra-connection"));
    // Reads change nothing: no further call.
    assert!(tokio::time::timeout(Duration::from_millis(200), rx.recv()).await.is_err());
}
