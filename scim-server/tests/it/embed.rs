//! `scim_server::embed`: the product's authentication decides organization and scopes,
//! and the change hook hears of committed changes only.

use crate::support::{req, send, store};
use async_trait::async_trait;
use axum::Router;
use http::Method;
use http::request::Parts;
use scim_core::schema::{Registry, ResourceKind};
use scim_server::admin;
use scim_server::embed::{Authenticate, Change, ChangeHook, Operation, Principal, Refusal, Scim};
use scim_store::Scope;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// `x-org` names the organization, `x-scopes` the scopes (space-separated).
struct Headers;

#[async_trait]
impl Authenticate for Headers {
    async fn authenticate(&self, parts: &Parts) -> Result<Principal, Refusal> {
        let get = |n: &str| parts.headers.get(n).and_then(|v| v.to_str().ok());
        let org = get("x-org").ok_or_else(|| Refusal::Unauthenticated("no x-org".into()))?;
        let org = scim_core::sid::OrganizationSid::parse(org)
            .map_err(|e| Refusal::Forbidden(e.to_string()))?;
        let scopes =
            get("x-scopes").unwrap_or_default().split(' ').filter_map(Scope::parse).collect();
        Ok(Principal { org, scopes, actor: "tester".into() })
    }
}

struct Tx(mpsc::UnboundedSender<Change>);

#[async_trait]
impl ChangeHook for Tx {
    async fn on_change(&self, change: Change) {
        let _ = self.0.send(change);
    }
}

#[tokio::test]
async fn the_hook_hears_committed_changes_only() {
    let store = store(Arc::new(Registry::builtin())).await;
    let org = admin::create_org(store.as_ref(), "p", &[]).await.unwrap().sid;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let scim = Scim::builder(store).authenticate(Headers).on_change(Tx(tx)).router();
    let app = Router::new().nest_service("/api/scim", scim);
    let rw = "scim:read scim:write";
    let call = |m: Method, uri: &str, scopes: &str| {
        req(m, uri)
            .header("x-org", &org.to_string())
            .header("x-scopes", scopes)
            .header("host", "p.test")
    };
    let r = send(
        &app,
        call(Method::POST, "/api/scim/Users", rw).json(&json!({"userName": "a@x.io"})).build(),
    )
    .await;
    assert_eq!(r.status, 201);
    let id = r.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(r.json()["meta"]["location"], format!("http://p.test/api/scim/Users/{id}"));
    let next = async |rx: &mut mpsc::UnboundedReceiver<Change>| {
        tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.unwrap().unwrap()
    };
    let c = next(&mut rx).await;
    assert_eq!(
        (c.kind, c.operation, c.version, c.actor.as_str()),
        (ResourceKind::User, Operation::Create, Some(1), "tester")
    );
    // Failures commit nothing: a duplicate, a scope the principal lacks, a no-op PATCH.
    let dup = send(
        &app,
        call(Method::POST, "/api/scim/Users", rw).json(&json!({"userName": "A@x.io"})).build(),
    )
    .await;
    assert_eq!(dup.status, 409);
    let ro = send(
        &app,
        call(Method::POST, "/api/scim/Users", "scim:read")
            .json(&json!({"userName": "b@x.io"}))
            .build(),
    )
    .await;
    assert_eq!(ro.status, 403);
    let noop =
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": []});
    let r =
        send(&app, call(Method::PATCH, &format!("/api/scim/Users/{id}"), rw).json(&noop).build())
            .await;
    assert_eq!(r.status, 200);
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "path": "active", "value": false}]});
    let r =
        send(&app, call(Method::PATCH, &format!("/api/scim/Users/{id}"), rw).json(&patch).build())
            .await;
    assert_eq!(r.status, 200);
    let c = next(&mut rx).await;
    assert_eq!((c.operation, c.version), (Operation::Patch, Some(2)));
    let r = send(&app, call(Method::DELETE, &format!("/api/scim/Users/{id}"), rw).build()).await;
    assert_eq!(r.status, 204);
    let c = next(&mut rx).await;
    assert_eq!((c.operation, c.version, c.id), (Operation::Delete, None, id));
    assert!(tokio::time::timeout(Duration::from_millis(200), rx.recv()).await.is_err());
    // No principal: a SCIM 401.
    let r = send(&app, req(Method::GET, "/api/scim/Users").build()).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error");
}
