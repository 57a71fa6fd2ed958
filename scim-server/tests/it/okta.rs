//! Okta: each request shape as Okta sends it, checked against the stored
//! result.

use crate::harness::{TestApp, ids, member_ids};
use scim_core::message::PATCH_OP;
use scim_core::schema::{GROUP_SCHEMA, USER_SCHEMA};
use serde_json::{Value, json};

fn okta_user(name: &str) -> Value {
    json!({"schemas":[USER_SCHEMA],"userName":name,"name":{"givenName":"O","familyName":"K"},
           "emails":[{"primary":true,"value":name,"type":"work"}],"displayName":"O K",
           "locale":"en-US","externalId":format!("00u-{name}"),"groups":[],
           "password":"1mP@ssw0rd!","active":true})
}

#[tokio::test]
async fn filter_by_user_name_with_paging_params() {
    let app = TestApp::new().await;
    let r = app.post("/Users", okta_user("Okta.User@x.io")).await;
    r.expect(201);
    let id = r.id();
    let r =
        app.get("/Users?filter=userName%20eq%20%22okta.user@X.IO%22&startIndex=1&count=100").await;
    r.expect(200);
    assert_eq!(ids(&r.body), vec![id]);
    assert!(r.body["totalResults"].is_u64());
}

#[tokio::test]
async fn list_with_integer_paging_fields() {
    let app = TestApp::new().await;
    for i in 0..3 {
        app.post("/Users", okta_user(&format!("p{i}@x.io"))).await.expect(201);
    }
    let r = app.get("/Users?count=2&startIndex=1").await;
    r.expect(200);
    assert_eq!(r.body["itemsPerPage"], json!(2));
    assert_eq!(r.body["startIndex"], json!(1));
    assert_eq!(r.body["totalResults"], json!(3));
}

#[tokio::test]
async fn create_with_password_groups_and_external_id() {
    let app = TestApp::new().await;
    let r = app.post("/Users", okta_user("create@x.io")).await;
    r.expect(201);
    assert!(r.body.get("password").is_none());
    let g = app.get(&format!("/Users/{}", r.id())).await;
    assert!(g.body.get("password").is_none());
    assert_eq!(g.body["externalId"], "00u-create@x.io");
    assert_eq!(g.body["active"], true);
}

#[tokio::test]
async fn put_full_object_and_deactivate_by_put() {
    let app = TestApp::new().await;
    let r = app.post("/Users", okta_user("put@x.io")).await;
    let id = r.id();
    let mut full = r.body.clone();
    full["name"]["givenName"] = json!("Changed");
    full["groups"] = json!([]);
    full["meta"]["version"] = json!("W/\"77\"");
    let r = app.put(&format!("/Users/{id}"), full.clone()).await;
    r.expect(200);
    let g = app.get(&format!("/Users/{id}")).await;
    assert_eq!(g.body["name"]["givenName"], "Changed");
    assert_eq!(g.body["meta"]["version"], "W/\"2\"");
    full["active"] = json!(false);
    app.put(&format!("/Users/{id}"), full).await.expect(200);
    assert_eq!(app.get(&format!("/Users/{id}")).await.body["active"], false);
}

#[tokio::test]
async fn deactivate_by_pathless_replace() {
    let app = TestApp::new().await;
    let id = app.post("/Users", okta_user("deact@x.io")).await.id();
    app.patch(
        &format!("/Users/{id}"),
        json!({"schemas":[PATCH_OP],"Operations":[{"op":"replace","value":{"active":false}}]}),
    )
    .await
    .expect(200);
    assert_eq!(app.get(&format!("/Users/{id}")).await.body["active"], false);
}

#[tokio::test]
async fn group_push() {
    let app = TestApp::new().await;
    let a = app.post("/Users", okta_user("ga@x.io")).await.id();
    let b = app.post("/Users", okta_user("gb@x.io")).await.id();
    // Create with members: [].
    let r = app
        .post("/Groups", json!({"schemas":[GROUP_SCHEMA],"displayName":"Okta Group","members":[]}))
        .await;
    r.expect(201);
    let gid = r.id();
    // Rename by path-less replace carrying id and displayName.
    app.patch(
        &format!("/Groups/{gid}"),
        json!({"schemas":[PATCH_OP],"Operations":[{"op":"replace","value":{"id":gid,"displayName":"Renamed"}}]}),
    )
    .await
    .expect(200);
    assert_eq!(app.get(&format!("/Groups/{gid}")).await.body["displayName"], "Renamed");
    // Add members without type.
    app.patch(
        &format!("/Groups/{gid}"),
        json!({"schemas":[PATCH_OP],"Operations":[{"op":"add","path":"members","value":[{"value":a,"display":"ga@x.io"}]}]}),
    )
    .await
    .expect(200);
    let g = app.get(&format!("/Groups/{gid}")).await;
    assert_eq!(member_ids(&g.body), vec![a.clone()]);
    assert_eq!(g.body["members"][0]["type"], "User");
    // Remove one and add another in one request.
    app.patch(
        &format!("/Groups/{gid}"),
        json!({"schemas":[PATCH_OP],"Operations":[
            {"op":"remove","path":format!("members[value eq \"{a}\"]")},
            {"op":"add","path":"members","value":[{"value":b,"display":"gb@x.io"}]}]}),
    )
    .await
    .expect(200);
    assert_eq!(member_ids(&app.get(&format!("/Groups/{gid}")).await.body), vec![b.clone()]);
    // Replace members with [].
    app.patch(
        &format!("/Groups/{gid}"),
        json!({"schemas":[PATCH_OP],"Operations":[{"op":"replace","path":"members","value":[]}]}),
    )
    .await
    .expect(200);
    assert!(member_ids(&app.get(&format!("/Groups/{gid}")).await.body).is_empty());
    // Delete.
    assert_eq!(app.delete(&format!("/Groups/{gid}")).await.status, 204);
    app.get(&format!("/Groups/{gid}")).await.expect(404);
}

#[tokio::test]
async fn errors_are_scim_json() {
    let app = TestApp::new().await;
    for r in [
        app.get("/Users/nope").await,
        app.get("/Nope").await,
        app.post("/Users", json!({"userName": {"a": 1}})).await,
        app.call("DELETE", "/Users").send().await,
    ] {
        assert!(r.status >= 400);
        assert_eq!(r.body["schemas"][0], scim_core::error::ERROR_SCHEMA, "{} {}", r.status, r.body);
        assert!(r.header("content-type").unwrap().contains("json"));
    }
}
