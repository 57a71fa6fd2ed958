//! Groups: members as rows, `$ref`s, reads without members, PUT members, user `groups`.

use crate::harness::{PUBLIC, TestApp, member_ids};
use scim_core::message::PATCH_OP;
use scim_core::schema::GROUP_SCHEMA;
use serde_json::json;

#[tokio::test]
async fn create_with_members_and_read_them_back() {
    let app = TestApp::new().await;
    let u1 = app.user("m1@x.io").await;
    let u2 = app.user("m2@x.io").await;
    let r = app
        .post(
            "/Groups",
            json!({"schemas":[GROUP_SCHEMA],"displayName":"Eng","externalId":"g-ext",
                   "members":[{"value":u1,"type":"User"},{"value":u2}]}),
        )
        .await;
    r.expect(201);
    let gid = r.id();
    assert!(gid.starts_with("GR"));
    let mut expected = vec![u1.clone(), u2.clone()];
    expected.sort();
    assert_eq!(member_ids(&r.body), expected);
    let g = app.get(&format!("/Groups/{gid}")).await;
    g.expect(200);
    assert_eq!(member_ids(&g.body), expected);
    let m =
        g.body["members"].as_array().unwrap().iter().find(|m| m["value"] == u1.as_str()).unwrap();
    assert_eq!(m["$ref"], format!("{PUBLIC}/scim/v2/Users/{u1}"));
    assert_eq!(m["type"], "User");
    assert_eq!(m["display"], "m1@x.io");
    // The user's read-only `groups` is computed from the rows.
    let u = app.get(&format!("/Users/{u1}")).await;
    assert_eq!(u.body["groups"][0]["value"], gid.as_str());
    assert_eq!(u.body["groups"][0]["$ref"], format!("{PUBLIC}/scim/v2/Groups/{gid}"));
    // Family B gives family-B $refs.
    let b = app.call_b("GET", &format!("/Groups/{gid}")).send().await;
    let m = &b.body["members"][0];
    assert!(
        m["$ref"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{PUBLIC}/Organizations/{}/scim/Users/", app.org))
    );
}

#[tokio::test]
async fn nested_groups_and_unknown_members() {
    let app = TestApp::new().await;
    let inner = app.group("inner", &[]).await;
    let outer = app.group("outer", &[&inner]).await;
    let g = app.get(&format!("/Groups/{outer}")).await;
    assert_eq!(g.body["members"][0]["type"], "Group");
    assert_eq!(g.body["members"][0]["$ref"], format!("{PUBLIC}/scim/v2/Groups/{inner}"));
    let r = app
        .post(
            "/Groups",
            json!({"displayName":"bad","members":[{"value":"US0123456789abcdef0123456789abcdef"}]}),
        )
        .await;
    r.expect(400);
    let r =
        app.post("/Groups", json!({"displayName":"bad2","members":[{"value":"garbage"}]})).await;
    r.expect(400);
    // Nothing was created.
    let list = app.get("/Groups?filter=displayName%20sw%20%22bad%22").await;
    assert_eq!(list.body["totalResults"], 0);
}

#[tokio::test]
async fn excluded_members_are_not_returned() {
    let app = TestApp::new().await;
    let u = app.user("ex@x.io").await;
    let gid = app.group("Ex", &[&u]).await;
    let g = app.get(&format!("/Groups/{gid}?excludedAttributes=members")).await;
    g.expect(200);
    assert!(g.body.get("members").is_none());
    assert_eq!(g.body["displayName"], "Ex");
    let g = app.get(&format!("/Groups/{gid}?attributes=displayName")).await;
    assert!(g.body.get("members").is_none());
    let list =
        app.get("/Groups?filter=displayName%20eq%20%22Ex%22&excludedAttributes=members").await;
    list.expect(200);
    assert_eq!(list.body["totalResults"], 1);
    assert!(list.body["Resources"][0].get("members").is_none());
}

#[tokio::test]
async fn display_name_is_unique_case_insensitively() {
    let app = TestApp::new().await;
    app.group("Team", &[]).await;
    let r = app.post("/Groups", json!({"displayName":"team"})).await;
    r.expect(409);
}

#[tokio::test]
async fn put_replaces_all_members() {
    let app = TestApp::new().await;
    let a = app.user("pa@x.io").await;
    let b = app.user("pb@x.io").await;
    let gid = app.group("Put", &[&a]).await;
    let r = app
        .put(&format!("/Groups/{gid}"), json!({"displayName":"Put2","members":[{"value":b}]}))
        .await;
    r.expect(200);
    let g = app.get(&format!("/Groups/{gid}")).await;
    assert_eq!(g.body["displayName"], "Put2");
    assert_eq!(member_ids(&g.body), vec![b.clone()]);
    // Without members, PUT clears them (RFC 7644 3.5.1).
    app.put(&format!("/Groups/{gid}"), json!({"displayName":"Put3"})).await.expect(200);
    let g = app.get(&format!("/Groups/{gid}")).await;
    assert!(member_ids(&g.body).is_empty());
}

#[tokio::test]
async fn deleting_a_user_removes_its_memberships() {
    let app = TestApp::new().await;
    let a = app.user("gone@x.io").await;
    let b = app.user("stay@x.io").await;
    let gid = app.group("G", &[&a, &b]).await;
    assert_eq!(app.delete(&format!("/Users/{a}")).await.status, 204);
    let g = app.get(&format!("/Groups/{gid}")).await;
    assert_eq!(member_ids(&g.body), vec![b]);
}

#[tokio::test]
async fn delete_group() {
    let app = TestApp::new().await;
    let gid = app.group("Del", &[]).await;
    assert_eq!(app.delete(&format!("/Groups/{gid}")).await.status, 204);
    app.get(&format!("/Groups/{gid}")).await.expect(404);
    app.get("/Groups/US0123456789abcdef0123456789abcdef").await.expect(404);
}

#[tokio::test]
async fn patch_members_add_and_remove() {
    let app = TestApp::new().await;
    let a = app.user("x1@x.io").await;
    let b = app.user("x2@x.io").await;
    let c = app.user("x3@x.io").await;
    let gid = app.group("P", &[&a, &b]).await;
    let r = app
        .patch(
            &format!("/Groups/{gid}"),
            json!({"schemas":[PATCH_OP],"Operations":[
                {"op":"add","path":"members","value":[{"value":c}]},
                {"op":"remove","path":format!("members[value eq \"{a}\"]")}]}),
        )
        .await;
    r.expect(200);
    let mut expected = vec![b.clone(), c.clone()];
    expected.sort();
    assert_eq!(member_ids(&r.body), expected);
    let g = app.get(&format!("/Groups/{gid}")).await;
    assert_eq!(member_ids(&g.body), expected);
    assert_eq!(g.header("etag"), Some("W/\"2\""));
    // Removing all.
    app.patch(
        &format!("/Groups/{gid}"),
        json!({"schemas":[PATCH_OP],"Operations":[{"op":"remove","path":"members"}]}),
    )
    .await
    .expect(200);
    assert!(member_ids(&app.get(&format!("/Groups/{gid}")).await.body).is_empty());
    // Adding an unknown member fails and changes nothing.
    let r = app
        .patch(
            &format!("/Groups/{gid}"),
            json!({"schemas":[PATCH_OP],"Operations":[
                {"op":"add","path":"members","value":[{"value":a}]},
                {"op":"add","path":"members","value":[{"value":"US0123456789abcdef0123456789abcdef"}]}]}),
        )
        .await;
    r.expect(400);
    assert!(member_ids(&app.get(&format!("/Groups/{gid}")).await.body).is_empty());
}

/// A member change on a group with more than `write_response_max_members` (100) members
/// answers 200 with the group but without `members`, never the whole list; a GET, or a
/// PATCH naming `members` in `attributes`, still gives them.
#[tokio::test]
async fn member_changes_on_large_groups_answer_without_members() {
    let app = TestApp::new().await;
    let mut members = Vec::new();
    for i in 0..101 {
        members.push(json!({"value": app.user(&format!("big{i}@x.io")).await}));
    }
    let extra = app.user("extra@x.io").await;
    let r = app
        .post("/Groups", json!({"schemas":[GROUP_SCHEMA],"displayName":"Big","members":members}))
        .await;
    r.expect(201);
    let gid = r.id();
    let add = json!({"schemas":[PATCH_OP],"Operations":[
        {"op":"add","path":"members","value":[{"value":extra}]}]});
    let r = app.patch(&format!("/Groups/{gid}"), add.clone()).await;
    r.expect(200);
    assert_eq!(r.body["displayName"], "Big");
    assert_eq!(r.body.get("members"), None, "{}", r.body.to_string().len());
    assert_eq!(r.body["meta"]["version"], r.header("etag").unwrap());
    let g = app.get(&format!("/Groups/{gid}")).await;
    assert_eq!(g.body["members"].as_array().unwrap().len(), 102);
    let r = app.patch(&format!("/Groups/{gid}?attributes=members"), add).await;
    r.expect(200);
    assert_eq!(r.body["members"].as_array().unwrap().len(), 102);
    let mut all = g.body["members"].as_array().unwrap().clone();
    all.truncate(101);
    let r = app
        .put(
            &format!("/Groups/{gid}"),
            json!({"schemas":[GROUP_SCHEMA],"displayName":"Big","members":all}),
        )
        .await;
    r.expect(200);
    assert_eq!(r.body.get("members"), None);
    // At or under the limit, the answer is whole.
    let r = app
        .put(
            &format!("/Groups/{gid}"),
            json!({"schemas":[GROUP_SCHEMA],"displayName":"Big","members":[{"value":extra}]}),
        )
        .await;
    assert_eq!(member_ids(&r.body), vec![extra]);
}
