//! Microsoft Entra ID: each request shape as Entra sends it, checked
//! against the stored result.

use crate::harness::{Backend, TestApp, ids, member_ids};
use scim_core::message::PATCH_OP;
use scim_core::schema::{ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, USER_SCHEMA};
use serde_json::{Value, json};

fn patch(ops: Value) -> Value {
    json!({"schemas":[PATCH_OP],"Operations":ops})
}

async fn entra_user(app: &TestApp, name: &str) -> String {
    let r = app
        .post(
            "/Users?aadOptscim062020",
            json!({"schemas":[USER_SCHEMA, ENTERPRISE_USER_SCHEMA],"externalId":name,"userName":name,"active":true,
                   "displayName":"Entra User","emails":[{"primary":true,"type":"work","value":name}],
                   "name":{"formatted":"E U","familyName":"U","givenName":"E"}}),
        )
        .await;
    r.expect(201);
    r.id()
}

#[tokio::test]
async fn op_and_attribute_names_in_any_case() {
    let app = TestApp::new().await;
    let id = entra_user(&app, "case@x.io").await;
    let mgr = entra_user(&app, "mgr@x.io").await;
    let path = format!("/Users/{id}?aadOptscim062020");
    app.patch(
        &path,
        patch(json!([
            {"op":"Replace","path":"UserName","value":"Case2@x.io"},
            {"op":"Replace","path":"Active","value":false},
            {"op":"Add","path":"Manager.Value","value":mgr},
            {"op":"Add","path":"DisplayName","value":"Renamed"}
        ])),
    )
    .await
    .expect(200);
    let g = app.get(&format!("/Users/{id}")).await;
    assert_eq!(g.body["userName"], "Case2@x.io");
    assert_eq!(g.body["active"], false);
    assert_eq!(g.body[ENTERPRISE_USER_SCHEMA]["manager"]["value"], mgr.as_str());
    assert_eq!(g.body["displayName"], "Renamed");
    app.patch(&path, patch(json!([{"op":"Remove","path":"DisplayName"}]))).await.expect(200);
    assert!(app.get(&format!("/Users/{id}")).await.body.get("displayName").is_none());
}

#[tokio::test]
async fn empty_operations() {
    let app = TestApp::new().await;
    let id = entra_user(&app, "empty@x.io").await;
    let r = app.patch(&format!("/Users/{id}"), json!({"schemas":[PATCH_OP],"Operations":[]})).await;
    r.expect(200);
    let g = app.get(&format!("/Users/{id}")).await;
    assert_eq!(g.header("etag"), Some("W/\"1\""));
}

#[tokio::test]
async fn active_as_true_false_strings() {
    let app = TestApp::new().await;
    let id = entra_user(&app, "bool@x.io").await;
    app.patch(
        &format!("/Users/{id}"),
        patch(json!([{"op":"Replace","path":"active","value":"False"}])),
    )
    .await
    .expect(200);
    let g = app.get(&format!("/Users/{id}")).await;
    assert_eq!(g.body["active"], json!(false));
    app.patch(&format!("/Users/{id}"), patch(json!([{"op":"replace","value":{"active":"True"}}])))
        .await
        .expect(200);
    assert_eq!(app.get(&format!("/Users/{id}")).await.body["active"], json!(true));
    let r = app.post("/Users", json!({"userName":"b2@x.io","active":"False"})).await;
    r.expect(201);
    assert_eq!(app.get(&format!("/Users/{}", r.id())).await.body["active"], json!(false));
}

#[tokio::test]
async fn member_remove_removes_exactly_the_listed() {
    let app = TestApp::new().await;
    let a = entra_user(&app, "ma@x.io").await;
    let b = entra_user(&app, "mb@x.io").await;
    let c = entra_user(&app, "mc@x.io").await;
    let gid = app.group("EntraGroup", &[&a, &b, &c]).await;
    app.patch(
        &format!("/Groups/{gid}?aadOptscim062020"),
        patch(json!([{"op":"Remove","path":"members","value":[{"$ref":null,"value":a}]}])),
    )
    .await
    .expect(200);
    let mut want = vec![b.clone(), c.clone()];
    want.sort();
    assert_eq!(member_ids(&app.get(&format!("/Groups/{gid}")).await.body), want);
}

#[tokio::test]
async fn member_add_with_extra_keys() {
    let app = TestApp::new().await;
    let a = entra_user(&app, "xa@x.io").await;
    let gid = app.group("Extra", &[]).await;
    app.patch(
        &format!("/Groups/{gid}"),
        patch(json!([{"op":"Add","path":"members","name":"addMember",
                      "value":[{"displayName":"Xa","value":a}]}])),
    )
    .await
    .expect(200);
    assert_eq!(member_ids(&app.get(&format!("/Groups/{gid}")).await.body), vec![a]);
}

#[tokio::test]
async fn pathless_replace_with_dotted_and_urn_keys() {
    let app = TestApp::new().await;
    let id = entra_user(&app, "dot@x.io").await;
    app.patch(
        &format!("/Users/{id}"),
        patch(json!([{"op":"Replace","value":{
            "name.givenName":"Given",
            "name.familyName":"Family",
            format!("{ENTERPRISE_USER_SCHEMA}:employeeNumber"):"E-42",
            ENTERPRISE_USER_SCHEMA:{"department":"Sales","costCenter":"CC1"}
        }}])),
    )
    .await
    .expect(200);
    let g = app.get(&format!("/Users/{id}")).await;
    assert_eq!(g.body["name"]["givenName"], "Given");
    assert_eq!(g.body["name"]["familyName"], "Family");
    let ext = &g.body[ENTERPRISE_USER_SCHEMA];
    assert_eq!(ext["employeeNumber"], "E-42");
    assert_eq!(ext["department"], "Sales");
    assert_eq!(ext["costCenter"], "CC1");
}

#[tokio::test]
async fn value_filter_paths_create_elements() {
    let app = TestApp::new().await;
    let r = app.post("/Users", json!({"userName":"vf@x.io"})).await;
    let id = r.id();
    app.patch(
        &format!("/Users/{id}"),
        patch(json!([
            {"op":"Replace","path":"emails[type eq \"work\"].value","value":"vf@work.io"},
            {"op":"Replace","path":"emails[type eq \"work\"].primary","value":true},
            {"op":"Replace","path":"addresses[type eq \"work\"].formatted","value":"1 Main St"},
            {"op":"Replace","path":"addresses[type eq \"work\"].locality","value":"Springfield"}
        ])),
    )
    .await
    .expect(200);
    let g = app.get(&format!("/Users/{id}")).await;
    let emails = g.body["emails"].as_array().unwrap();
    assert_eq!(emails.len(), 1, "{}", g.body);
    assert_eq!(emails[0]["type"], "work");
    assert_eq!(emails[0]["value"], "vf@work.io");
    assert_eq!(emails[0]["primary"], true);
    let addresses = g.body["addresses"].as_array().unwrap();
    assert_eq!(addresses.len(), 1);
    assert_eq!(addresses[0]["formatted"], "1 Main St");
    assert_eq!(addresses[0]["locality"], "Springfield");
}

#[tokio::test]
async fn manager_as_a_bare_string() {
    let app = TestApp::new().await;
    let mgr = entra_user(&app, "boss@x.io").await;
    let id = entra_user(&app, "emp@x.io").await;
    app.patch(
        &format!("/Users/{id}"),
        patch(json!([{"op":"Add","path":format!("{ENTERPRISE_USER_SCHEMA}:manager"),"value":mgr}])),
    )
    .await
    .expect(200);
    let g = app.get(&format!("/Users/{id}")).await;
    assert_eq!(g.body[ENTERPRISE_USER_SCHEMA]["manager"]["value"], mgr.as_str());
}

#[tokio::test]
async fn group_create_with_extra_schemas_and_filter_without_members() {
    let app = TestApp::new().await;
    let u = entra_user(&app, "gm@x.io").await;
    let r = app
        .post(
            "/Groups?aadOptscim062020",
            json!({"schemas":[GROUP_SCHEMA,"http://schemas.microsoft.com/2006/11/ResourceManagement/ADSchema/Group"],
                   "externalId":"e-g","displayName":"Entra Group","members":[{"value":u}]}),
        )
        .await;
    r.expect(201);
    let gid = r.id();
    let list = app.get("/Groups?aadOptscim062020&filter=displayName%20eq%20%22Entra%20Group%22&excludedAttributes=members").await;
    list.expect(200);
    assert_eq!(ids(&list.body), vec![gid.clone()]);
    assert!(list.body["Resources"][0].get("members").is_none());
    assert_eq!(member_ids(&app.get(&format!("/Groups/{gid}")).await.body), vec![u]);
}

#[tokio::test]
async fn unquoted_filter_value_is_invalid_filter() {
    let app = TestApp::new().await;
    let r = app.get("/Users?filter=externalId%20eq%20abc").await;
    r.expect(400);
    assert_eq!(r.scim_type(), "invalidFilter");
    let detail = r.body["detail"].as_str().unwrap();
    assert!(detail.contains("byte") && detail.contains("quoted"), "{detail}");
}

#[tokio::test]
async fn probes_for_missing_users() {
    let app = TestApp::new().await;
    let r = app.get("/Users?aadOptscim062020&filter=userName%20eq%20%224b7c0e2d-probe%22").await;
    r.expect(200);
    assert_eq!(r.body["totalResults"], 0);
    assert_eq!(r.body["Resources"], json!([]));
    app.get("/Users/US7a5b0f7e0000000000000000000000ff?aadOptscim062020").await.expect(404);
    app.get("/Users/4b7c0e2d-e6d3-4fd0-9b5d-1a0d0e1e7f10").await.expect(404);
}

#[tokio::test]
async fn flag_in_the_base_url() {
    let app = TestApp::new().await;
    let id = entra_user(&app, "flag@x.io").await;
    let r = app.get(&format!("/Users/{id}?aadOptscim062020")).await;
    r.expect(200);
    let r = app.call("GET", "?aadOptscim062020").send().await;
    assert_ne!(r.status, 500);
    let r = app.get("/Users?aadOptscim062020").await;
    r.expect(200);
    assert_eq!(r.body["totalResults"], 1);
}

/// Entra ID with a work e-mail as matching attribute: `emails[type eq "work"].value eq "..."`
/// in GET, `/Users/.search` and root `/.search`, run in the database on every backend here.
#[tokio::test]
async fn value_filter_with_sub_attribute_matches_the_work_email() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        if !backend.enabled() {
            continue;
        }
        let app = TestApp::on(backend, &[]).await;
        let id = entra_user(&app, "work@x.io").await;
        // Another user whose *home* e-mail is that address: no single element matches.
        let r = app
            .post(
                "/Users",
                json!({"userName":"other@x.io","emails":[
                    {"type":"work","value":"other@x.io"},{"type":"home","value":"work@x.io"}]}),
            )
            .await;
        r.expect(201);
        let filter = r#"emails[type eq "work"].value eq "WORK@x.io""#;
        let q = format!("/Users?aadOptscim062020&filter={}", urlencode(filter));
        let r = app.get(&q).await;
        r.expect(200);
        assert_eq!(ids(&r.body), vec![id.clone()], "{backend:?}: {}", r.body);
        let r = app.post("/Users/.search", json!({ "filter": filter })).await;
        r.expect(200);
        assert_eq!(ids(&r.body), vec![id.clone()], "{backend:?}");
        let r = app.post("/.search", json!({ "filter": filter })).await;
        r.expect(200);
        assert_eq!(ids(&r.body), vec![id.clone()], "{backend:?}");
        let r = app
            .get(&format!("/Users?filter={}", urlencode(r#"emails[type eq "work"].value pr"#)))
            .await;
        assert_eq!(r.body["totalResults"], 2, "{backend:?}");
        let r = app
            .get(&format!(
                "/Users?filter={}",
                urlencode(r#"emails[type eq "work"].value eq "nobody@x.io""#)
            ))
            .await;
        r.expect(200);
        assert_eq!(r.body["totalResults"], 0);
        // A sub-attribute the element does not have is an invalidFilter, as elsewhere.
        let r = app
            .get(&format!("/Users?filter={}", urlencode(r#"emails[type eq "work"].nope eq "x""#)))
            .await;
        r.expect(400);
        assert_eq!(r.scim_type(), "invalidFilter");
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
