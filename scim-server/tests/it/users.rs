//! Users: create, read, replace, delete, conditional requests, projection, policies,
//! tenant isolation, on both route families.

use crate::harness::{PUBLIC, TestApp};
use scim_core::schema::{ENTERPRISE_USER_SCHEMA, USER_SCHEMA};
use scim_core::sid::ResourceId;
use scim_store::Policy;
use serde_json::json;

const MISSING: &str = "US0123456789abcdef0123456789abcdef";

#[tokio::test]
async fn create_returns_201_location_etag_and_the_resource() {
    let app = TestApp::new().await;
    let r = app
        .post(
            "/Users",
            json!({"schemas":[USER_SCHEMA],"userName":"alice@x.io","externalId":"ext-1",
                   "name":{"givenName":"Alice"},"emails":[{"value":"alice@x.io","primary":true}]}),
        )
        .await;
    r.expect(201);
    let id = r.id();
    assert!(id.starts_with("US") && id.len() == 34);
    let location = format!("{PUBLIC}/scim/v2/Users/{id}");
    assert_eq!(r.header("location"), Some(location.as_str()));
    assert_eq!(r.body["meta"]["location"], location);
    assert_eq!(r.body["meta"]["resourceType"], "User");
    assert_eq!(r.header("etag"), r.body["meta"]["version"].as_str());
    assert_eq!(r.header("etag"), Some("W/\"1\""));
    assert!(r.header("content-type").unwrap().starts_with("application/scim+json"));
    assert_eq!(r.body["externalId"], "ext-1");

    let g = app.get(&format!("/Users/{id}")).await;
    g.expect(200);
    assert_eq!(g.body["userName"], "alice@x.io");
    assert_eq!(g.body["name"]["givenName"], "Alice");
    assert_eq!(g.header("etag"), Some("W/\"1\""));
}

#[tokio::test]
async fn family_b_locations_and_reads() {
    let app = TestApp::new().await;
    let r = app.call_b("POST", "/Users").json(json!({"userName":"b@x.io"})).send().await;
    r.expect(201);
    let id = r.id();
    let loc = format!("{PUBLIC}/Organizations/{}/scim/Users/{id}", app.org);
    assert_eq!(r.body["meta"]["location"], loc);
    assert_eq!(r.header("location"), Some(loc.as_str()));
    // The same user read through family A has a family-A location.
    let a = app.get(&format!("/Users/{id}")).await;
    assert_eq!(a.body["meta"]["location"], format!("{PUBLIC}/scim/v2/Users/{id}"));
    let list = app.call_b("GET", "/Users").send().await;
    list.expect(200);
    assert_eq!(list.body["Resources"][0]["meta"]["location"], loc);
}

#[tokio::test]
async fn duplicate_user_name_is_409_case_insensitively() {
    let app = TestApp::new().await;
    app.user("Dup@x.io").await;
    let r = app.post("/Users", json!({"userName":"dup@X.io"})).await;
    r.expect(409);
    assert_eq!(r.scim_type(), "uniqueness");
}

#[tokio::test]
async fn missing_user_name_is_400() {
    let app = TestApp::new().await;
    let r = app.post("/Users", json!({"schemas":[USER_SCHEMA],"displayName":"x"})).await;
    r.expect(400);
    assert_eq!(r.scim_type(), "invalidValue");
}

#[tokio::test]
async fn bad_json_and_media_type() {
    let app = TestApp::new().await;
    app.call("POST", "/Users").raw("{not json").send().await.expect(400);
    let r = app.call("POST", "/Users").raw("").send().await;
    r.expect(400);
    assert_eq!(r.scim_type(), "invalidSyntax");
    app.call("POST", "/Users")
        .header("content-type", "text/plain")
        .raw("{}")
        .send()
        .await
        .expect(415);
    // application/json is accepted too.
    app.call("POST", "/Users")
        .header("content-type", "application/json")
        .json(json!({"userName":"json@x.io"}))
        .send()
        .await
        .expect(201);
}

#[tokio::test]
async fn ids_malformed_and_unknown_are_404() {
    let app = TestApp::new().await;
    let r = app.get("/Users/not-an-id").await;
    r.expect(404);
    assert!(r.body["detail"].as_str().unwrap().contains("US[0-9a-f]{32}"), "{}", r.body);
    let r = app.get(&format!("/Users/{MISSING}")).await;
    r.expect(404);
    assert_ne!(r.code(), 0);
    // A group id on /Users is malformed for users.
    app.get("/Users/GR0123456789abcdef0123456789abcdef").await.expect(404);
    app.delete(&format!("/Users/{MISSING}")).await.expect(404);
    app.put(&format!("/Users/{MISSING}"), json!({"userName":"x"})).await.expect(404);
    app.patch(
        &format!("/Users/{MISSING}"),
        json!({"schemas":[scim_core::message::PATCH_OP],"Operations":[{"op":"replace","path":"active","value":false}]}),
    )
    .await
    .expect(404);
}

#[tokio::test]
async fn password_is_hashed_and_never_returned() {
    let app = TestApp::new().await;
    let r = app.post("/Users", json!({"userName":"pw@x.io","password":"S3cret!pass"})).await;
    r.expect(201);
    assert!(r.body.get("password").is_none());
    assert!(!String::from_utf8_lossy(&r.raw).contains("S3cret"));
    let g = app.get(&format!("/Users/{}", r.id())).await;
    assert!(g.body.get("password").is_none());
    let g = app.get(&format!("/Users/{}?attributes=password,userName", r.id())).await;
    assert!(g.body.get("password").is_none());
    assert_eq!(g.body["userName"], "pw@x.io");
}

#[tokio::test]
async fn read_only_input_is_ignored() {
    let app = TestApp::new().await;
    let r = app
        .post(
            "/Users",
            json!({"userName":"ro@x.io","id":"US00000000000000000000000000000000","groups":[],
                   "meta":{"version":"W/\"99\"","created":"2000-01-01T00:00:00Z"}}),
        )
        .await;
    r.expect(201);
    assert_ne!(r.id(), "US00000000000000000000000000000000");
    assert_eq!(r.body["meta"]["version"], "W/\"1\"");
    assert_ne!(r.body["meta"]["created"], "2000-01-01T00:00:00Z");
}

#[tokio::test]
async fn projection_on_get() {
    let app = TestApp::new().await;
    let r = app
        .post(
            "/Users",
            json!({"userName":"p@x.io","displayName":"P","name":{"givenName":"G","familyName":"F"},
                   ENTERPRISE_USER_SCHEMA:{"employeeNumber":"42"}}),
        )
        .await;
    let id = r.id();
    let g = app.get(&format!("/Users/{id}?attributes=userName,name.givenName")).await;
    g.expect(200);
    assert_eq!(g.body["userName"], "p@x.io");
    assert_eq!(g.body["name"], json!({"givenName":"G"}));
    assert!(g.body.get("displayName").is_none());
    assert_eq!(g.body["id"], id.as_str());
    let g = app
        .get(&format!("/Users/{id}?excludedAttributes=displayName,{ENTERPRISE_USER_SCHEMA}"))
        .await;
    assert!(g.body.get("displayName").is_none());
    assert!(g.body.get(ENTERPRISE_USER_SCHEMA).is_none());
    assert_eq!(g.body["name"]["familyName"], "F");
}

#[tokio::test]
async fn if_none_match_gives_304() {
    let app = TestApp::new().await;
    let id = app.user("inm@x.io").await;
    let r =
        app.call("GET", &format!("/Users/{id}")).header("if-none-match", "W/\"1\"").send().await;
    assert_eq!(r.status, 304);
    assert!(r.raw.is_empty());
    assert_eq!(r.header("etag"), Some("W/\"1\""));
    let r =
        app.call("GET", &format!("/Users/{id}")).header("if-none-match", "W/\"7\"").send().await;
    r.expect(200);
}

#[tokio::test]
async fn put_replaces_and_honours_if_match() {
    let app = TestApp::new().await;
    let r =
        app.post("/Users", json!({"userName":"put@x.io","displayName":"Old","title":"T"})).await;
    let id = r.id();
    let r = app
        .call("PUT", &format!("/Users/{id}"))
        .header("if-match", "W/\"1\"")
        .json(json!({"userName":"put@x.io","displayName":"New"}))
        .send()
        .await;
    r.expect(200);
    assert_eq!(r.header("etag"), Some("W/\"2\""));
    let g = app.get(&format!("/Users/{id}")).await;
    assert_eq!(g.body["displayName"], "New");
    assert!(g.body.get("title").is_none(), "PUT clears absent attributes: {}", g.body);
    // Stale If-Match: 412 on family A, 409 on family B; nothing changes.
    let stale = json!({"userName":"put@x.io","displayName":"Stale"});
    let r = app
        .call("PUT", &format!("/Users/{id}"))
        .header("if-match", "W/\"1\"")
        .json(stale.clone())
        .send()
        .await;
    r.expect(412);
    let r = app
        .call_b("PUT", &format!("/Users/{id}"))
        .header("if-match", "W/\"1\"")
        .json(stale)
        .send()
        .await;
    r.expect(409);
    assert_eq!(app.get(&format!("/Users/{id}")).await.body["displayName"], "New");
    // `*` matches any version; a strong tag of the right version matches too.
    app.call("PUT", &format!("/Users/{id}"))
        .header("if-match", "*")
        .json(json!({"userName":"put@x.io","displayName":"Any"}))
        .send()
        .await
        .expect(200);
    app.call("PUT", &format!("/Users/{id}"))
        .header("if-match", "\"3\"")
        .json(json!({"userName":"put@x.io","displayName":"Strong"}))
        .send()
        .await
        .expect(200);
}

#[tokio::test]
async fn put_with_another_id_is_400() {
    let app = TestApp::new().await;
    let id = app.user("pid@x.io").await;
    let r = app.put(&format!("/Users/{id}"), json!({"id":MISSING,"userName":"pid@x.io"})).await;
    r.expect(400);
}

#[tokio::test]
async fn delete_erases_then_404() {
    let app = TestApp::new().await;
    let id = app.user("del@x.io").await;
    let r = app.delete(&format!("/Users/{id}")).await;
    assert_eq!(r.status, 204);
    assert!(r.raw.is_empty());
    app.get(&format!("/Users/{id}")).await.expect(404);
    app.delete(&format!("/Users/{id}")).await.expect(404);
    // The userName is free again.
    app.user("del@x.io").await;
}

#[tokio::test]
async fn delete_if_match() {
    let app = TestApp::new().await;
    let id = app.user("dim@x.io").await;
    app.call("DELETE", &format!("/Users/{id}"))
        .header("if-match", "W/\"5\"")
        .send()
        .await
        .expect(412);
    app.call_b("DELETE", &format!("/Users/{id}"))
        .header("if-match", "W/\"5\"")
        .send()
        .await
        .expect(409);
    let r = app.call("DELETE", &format!("/Users/{id}")).header("if-match", "W/\"1\"").send().await;
    assert_eq!(r.status, 204);
}

#[tokio::test]
async fn soft_delete_policy_hides_and_restores() {
    let app = TestApp::with_policies(&[Policy::SoftDelete]).await;
    let id = app.user("soft@x.io").await;
    assert_eq!(app.delete(&format!("/Users/{id}")).await.status, 204);
    app.get(&format!("/Users/{id}")).await.expect(404);
    let list = app.get("/Users?filter=userName%20eq%20%22soft@x.io%22").await;
    assert_eq!(list.body["totalResults"], 0);
    // RFC 7644 3.6: the deleted user is not in conflict with a new one of the same name;
    // while the new one lives, the old one cannot be restored over it.
    let r = app.post("/Users", json!({"userName":"SOFT@x.io"})).await;
    r.expect(201);
    let again = r.id();
    let sid = ResourceId::of(&id).unwrap();
    let taken = app.store.restore(app.org, sid).await;
    assert!(matches!(taken, Err(scim_store::StoreError::Conflict { .. })), "{taken:?}");
    assert_eq!(app.delete(&format!("/Users/{again}")).await.status, 204);
    let restored = app.store.restore(app.org, sid).await.unwrap();
    assert_eq!(restored.id, id);
    let g = app.get(&format!("/Users/{id}")).await;
    g.expect(200);
}

#[tokio::test]
async fn username_is_primary_email_policy() {
    let app = TestApp::with_policies(&[Policy::UsernameIsPrimaryEmail]).await;
    let r = app.post("/Users", json!({"userName":"a@x.io","emails":[{"value":"b@x.io"}]})).await;
    r.expect(400);
    assert_eq!(r.scim_type(), "invalidValue");
    let r = app
        .post(
            "/Users",
            json!({"userName":"A@x.io","emails":[{"value":"a@x.io","primary":true},{"value":"c@x.io"}]}),
        )
        .await;
    r.expect(201);
    let id = r.id();
    // A PATCH that breaks the rule is rejected and changes nothing.
    let r = app
        .patch(
            &format!("/Users/{id}"),
            json!({"Operations":[{"op":"replace","path":"userName","value":"z@x.io"}]}),
        )
        .await;
    r.expect(400);
    assert_eq!(app.get(&format!("/Users/{id}")).await.body["userName"], "A@x.io");
    // PUT too.
    app.put(&format!("/Users/{id}"), json!({"userName":"A@x.io"})).await.expect(400);
}

#[tokio::test]
async fn tenant_isolation() {
    let app = TestApp::new().await;
    let id = app.user("mine@x.io").await;
    let (other, token) = app.other_org().await;
    let t = Some(token.as_str());
    app.call("GET", &format!("/Users/{id}")).token(t).send().await.expect(404);
    app.call("DELETE", &format!("/Users/{id}")).token(t).send().await.expect(404);
    app.call("PUT", &format!("/Users/{id}"))
        .token(t)
        .json(json!({"userName":"x@x.io"}))
        .send()
        .await
        .expect(404);
    app.call("PATCH", &format!("/Users/{id}"))
        .token(t)
        .json(json!({"Operations":[{"op":"replace","path":"active","value":false}]}))
        .send()
        .await
        .expect(404);
    let list =
        app.call("GET", "/Users?filter=userName%20eq%20%22mine@x.io%22").token(t).send().await;
    assert_eq!(list.body["totalResults"], 0);
    // The other organization may reuse the userName.
    app.call("POST", "/Users")
        .token(t)
        .json(json!({"userName":"mine@x.io"}))
        .send()
        .await
        .expect(201);
    // It cannot add our user as a member.
    let r = app
        .call("POST", "/Groups")
        .token(t)
        .json(json!({"displayName":"g","members":[{"value": id}]}))
        .send()
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(!r.body["detail"].as_str().unwrap_or_default().contains("mine@x.io"));
    // Family B with a token of another organization: 403.
    let r = app.call_b("GET", "/Users").token(t).send().await;
    r.expect(403);
    // And the other org's family-B path works for its own token.
    let r = app.call("GET", "/Users").token(t).send().await;
    r.expect(200);
    let _ = other;
    // Our user is untouched.
    app.get(&format!("/Users/{id}")).await.expect(200);
}

#[tokio::test]
async fn scopes_are_enforced() {
    let app = TestApp::new().await;
    let read_only = app.token_for(app.org, &[scim_store::Scope::Read]).await;
    let t = Some(read_only.as_str());
    app.call("GET", "/Users").token(t).send().await.expect(200);
    app.call("POST", "/Users/.search").token(t).json(json!({})).send().await.expect(200);
    app.call("POST", "/Users").token(t).json(json!({"userName":"s@x.io"})).send().await.expect(403);
    app.call("GET", "/Users").token(None).send().await.expect(401);
}
