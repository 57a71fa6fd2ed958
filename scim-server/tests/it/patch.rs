//! PATCH of users: operations, atomicity, schemas, conditional requests, concurrency.

use crate::harness::TestApp;
use scim_core::message::PATCH_OP;
use scim_core::schema::ENTERPRISE_USER_SCHEMA;
use serde_json::{Value, json};

fn ops(ops: Value) -> Value {
    json!({"schemas":[PATCH_OP],"Operations":ops})
}

#[tokio::test]
async fn add_replace_remove_and_stored() {
    let app = TestApp::new().await;
    let id = app.user("pt@x.io").await;
    let path = format!("/Users/{id}");
    let r = app
        .patch(
            &path,
            ops(json!([
                {"op":"add","path":"displayName","value":"PT"},
                {"op":"replace","path":"name.givenName","value":"Pat"},
                {"op":"add","path":"emails","value":[{"value":"pt@x.io","type":"work","primary":true}]},
                {"op":"add","path":format!("{ENTERPRISE_USER_SCHEMA}:department"),"value":"R&D"}
            ])),
        )
        .await;
    r.expect(200);
    assert_eq!(r.header("etag"), Some("W/\"2\""));
    assert_eq!(r.body["displayName"], "PT");
    let g = app.get(&path).await;
    assert_eq!(g.body["displayName"], "PT");
    assert_eq!(g.body["name"]["givenName"], "Pat");
    assert_eq!(g.body["emails"][0]["value"], "pt@x.io");
    assert_eq!(g.body[ENTERPRISE_USER_SCHEMA]["department"], "R&D");
    app.patch(&path, ops(json!([{"op":"remove","path":"displayName"}]))).await.expect(200);
    assert!(app.get(&path).await.body.get("displayName").is_none());
}

#[tokio::test]
async fn one_failing_operation_changes_nothing() {
    let app = TestApp::new().await;
    let id = app.user("atomic@x.io").await;
    let path = format!("/Users/{id}");
    let r = app
        .patch(
            &path,
            ops(json!([{"op":"replace","path":"displayName","value":"X"},{"op":"replace","path":"active","value":"maybe"}])),
        )
        .await;
    r.expect(400);
    let g = app.get(&path).await;
    assert!(g.body.get("displayName").is_none());
    assert_eq!(g.header("etag"), Some("W/\"1\""));
}

#[tokio::test]
async fn bad_paths_and_schemas() {
    let app = TestApp::new().await;
    let id = app.user("bp@x.io").await;
    let path = format!("/Users/{id}");
    let r =
        app.patch(&path, ops(json!([{"op":"replace","path":"emails[type eq]","value":"x"}]))).await;
    r.expect(400);
    assert_eq!(r.scim_type(), "invalidPath");
    let r = app.patch(&path, ops(json!([{"op":"explode","path":"displayName","value":"x"}]))).await;
    r.expect(400);
    let r = app
        .patch(&path, json!({"schemas":["urn:wrong"],"Operations":[{"op":"add","path":"displayName","value":"x"}]}))
        .await;
    r.expect(400);
    assert!(r.body["detail"].as_str().unwrap().contains(PATCH_OP));
    // Without schemas at all: accepted (lenient).
    app.patch(&path, json!({"Operations":[{"op":"add","path":"displayName","value":"x"}]}))
        .await
        .expect(200);
    let r = app.patch(&path, json!({"schemas":[PATCH_OP]})).await;
    r.expect(400);
    assert_eq!(r.scim_type(), "invalidSyntax");
    let r = app.patch(&path, ops(json!([{"op":"replace","path":"id","value":"US1"}]))).await;
    r.expect(400);
    assert_eq!(r.scim_type(), "mutability");
}

#[tokio::test]
async fn empty_operations_change_nothing() {
    let app = TestApp::new().await;
    let id = app.user("empty@x.io").await;
    let r = app.patch(&format!("/Users/{id}"), ops(json!([]))).await;
    r.expect(200);
    assert_eq!(r.header("etag"), Some("W/\"1\""));
    assert_eq!(r.body["userName"], "empty@x.io");
}

#[tokio::test]
async fn prefer_minimal_gives_204_and_projection_applies() {
    let app = TestApp::new().await;
    let id = app.user("min@x.io").await;
    let path = format!("/Users/{id}");
    let r = app
        .call("PATCH", &path)
        .header("prefer", "return=minimal")
        .json(ops(json!([{"op":"replace","path":"displayName","value":"M"}])))
        .send()
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(r.header("etag"), Some("W/\"2\""));
    let r = app
        .call("PATCH", &format!("{path}?attributes=displayName"))
        .json(ops(json!([{"op":"replace","path":"displayName","value":"N"}])))
        .send()
        .await;
    r.expect(200);
    assert_eq!(r.body["displayName"], "N");
    assert!(r.body.get("userName").is_none());
}

#[tokio::test]
async fn password_by_patch_is_hashed() {
    let app = TestApp::new().await;
    let id = app.user("pwp@x.io").await;
    let r = app
        .patch(
            &format!("/Users/{id}"),
            ops(json!([{"op":"replace","path":"password","value":"N3w!pass"}])),
        )
        .await;
    r.expect(200);
    assert!(r.body.get("password").is_none());
    assert_eq!(r.header("etag"), Some("W/\"2\""));
}

#[tokio::test]
async fn if_match_on_patch() {
    let app = TestApp::new().await;
    let id = app.user("ifm@x.io").await;
    let path = format!("/Users/{id}");
    let body = ops(json!([{"op":"replace","path":"displayName","value":"A"}]));
    app.call("PATCH", &path)
        .header("if-match", "W/\"9\"")
        .json(body.clone())
        .send()
        .await
        .expect(412);
    app.call_b("PATCH", &path)
        .header("if-match", "W/\"9\"")
        .json(body.clone())
        .send()
        .await
        .expect(409);
    app.call("PATCH", &path)
        .header("if-match", "W/\"1\"")
        .json(body.clone())
        .send()
        .await
        .expect(200);
    // A list of tags matches any of them.
    app.call("PATCH", &path)
        .header("if-match", "W/\"1\", W/\"2\"")
        .json(body)
        .send()
        .await
        .expect(200);
}

/// Two PATCHes with the same If-Match at once: exactly one wins.
pub async fn concurrent_if_match(app: &TestApp, family_b: bool) {
    let id = app.user(&format!("race{family_b}@x.io")).await;
    let path = format!("/Users/{id}");
    let send = |name: &'static str| {
        let app = app.clone();
        let path = path.clone();
        async move {
            let c = if family_b { app.call_b("PATCH", &path) } else { app.call("PATCH", &path) };
            c.header("if-match", "W/\"1\"")
                .json(ops(json!([{"op":"replace","path":"displayName","value":name}])))
                .send()
                .await
        }
    };
    let (a, b) = tokio::join!(tokio::spawn(send("A")), tokio::spawn(send("B")));
    let (a, b) = (a.unwrap(), b.unwrap());
    let mut statuses = [a.status, b.status];
    statuses.sort();
    let lost = if family_b { 409 } else { 412 };
    assert_eq!(statuses, [200, lost], "{} / {}", a.body, b.body);
    let winner = if a.status == 200 { "A" } else { "B" };
    let g = app.get(&path).await;
    assert_eq!(g.body["displayName"], winner);
    assert_eq!(g.header("etag"), Some("W/\"2\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_patches_with_the_same_if_match() {
    let app = TestApp::new().await;
    concurrent_if_match(&app, false).await;
    concurrent_if_match(&app, true).await;
}

/// RFC 7643 2.5, as Microsoft's SCIM validator sends it: `"value": null` unassigns, `[]`
/// empties a multi-valued attribute, a required attribute cannot be unassigned.
#[tokio::test]
async fn null_value_unassigns_and_required_stays() {
    let app = TestApp::new().await;
    let id = app.user("nul@x.io").await;
    let path = format!("/Users/{id}");
    app.patch(
        &path,
        ops(json!([
            {"op":"add","path":"title","value":"Engineer"},
            {"op":"add","path":"name","value":{"givenName":"Nu","familyName":"Ll"}},
            {"op":"add","path":"phoneNumbers","value":[{"value":"555","type":"work"}]},
            {"op":"add","path":format!("{ENTERPRISE_USER_SCHEMA}:department"),"value":"R&D"}
        ])),
    )
    .await
    .expect(200);
    let r = app
        .patch(
            &path,
            ops(json!([
                {"op":"Replace","path":"title","value":null},
                {"op":"Add","path":"phoneNumbers","value":null},
                {"op":"replace","value":{"name":{"familyName":null},
                    format!("{ENTERPRISE_USER_SCHEMA}:department"):null}}
            ])),
        )
        .await;
    r.expect(200);
    assert_eq!(r.body.get("title"), None, "{}", r.body);
    assert_eq!(r.body.get("phoneNumbers"), None);
    assert_eq!(r.body["name"], json!({"givenName":"Nu"}));
    assert_eq!(r.body.get(ENTERPRISE_USER_SCHEMA), None);
    // Stored so, not only answered so.
    let g = app.get(&path).await;
    assert_eq!(g.body.get("title"), None);
    assert_eq!(g.body["name"], json!({"givenName":"Nu"}));

    let r = app.patch(&path, ops(json!([{"op":"Replace","path":"userName","value":null}]))).await;
    r.expect(400);
    assert_eq!(r.scim_type(), "invalidValue");
    assert!(r.body["detail"].as_str().unwrap().contains("userName"), "{}", r.body);
    assert_eq!(app.get(&path).await.body["userName"], "nul@x.io");
}
