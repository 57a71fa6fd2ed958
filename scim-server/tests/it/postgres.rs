//! The representative subset on PostgreSQL: create, filter, PATCH, membership, bulk and
//! concurrent conditional PATCHes. Fails (never skips) when PostgreSQL is unreachable,
//! unless `SCIM_TEST_BACKENDS` leaves `postgres` out.

use crate::harness::{Backend, TestApp, ids, member_ids};
use scim_core::message::{BULK_REQUEST, PATCH_OP};
use serde_json::json;

async fn pg() -> Option<TestApp> {
    if !Backend::Postgres.enabled() {
        return None;
    }
    Some(TestApp::on(Backend::Postgres, &[]).await)
}

#[tokio::test]
async fn create_filter_patch_on_postgres() {
    let Some(app) = pg().await else { return };
    let id = app.user("Pg.User@x.io").await;
    let r = app.get("/Users?filter=userName%20eq%20%22pg.user@X.io%22").await;
    r.expect(200);
    assert_eq!(ids(&r.body), vec![id.clone()]);
    app.patch(
        &format!("/Users/{id}"),
        json!({"schemas":[PATCH_OP],"Operations":[
            {"op":"Replace","path":"emails[type eq \"work\"].value","value":"pg@work.io"},
            {"op":"replace","value":{"active":"False"}}]}),
    )
    .await
    .expect(200);
    let g = app.get(&format!("/Users/{id}")).await;
    assert_eq!(g.body["active"], false);
    assert_eq!(g.body["emails"][0]["value"], "pg@work.io");
    let r = app
        .get("/Users?filter=emails%5Btype%20eq%20%22work%22%5D%20and%20active%20eq%20false")
        .await;
    assert_eq!(ids(&r.body), vec![id]);
}

#[tokio::test]
async fn membership_and_bulk_on_postgres() {
    let Some(app) = pg().await else { return };
    let a = app.user("pa@x.io").await;
    let gid = app.group("PgGroup", &[&a]).await;
    let r = app
        .post(
            "/Bulk",
            json!({"schemas":[BULK_REQUEST],"Operations":[
                {"method":"POST","path":"/Users","bulkId":"u","data":{"userName":"pb@x.io"}},
                {"method":"PATCH","path":format!("/Groups/{gid}"),"data":{"Operations":[
                    {"op":"add","path":"members","value":[{"value":"bulkId:u"}]},
                    {"op":"remove","path":"members","value":[{"value":a}]}]}}]}),
        )
        .await;
    r.expect(200);
    assert_eq!(r.body["Operations"][0]["status"], "201");
    assert_eq!(r.body["Operations"][1]["status"], "200", "{}", r.body);
    let b = r.body["Operations"][0]["location"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(member_ids(&app.get(&format!("/Groups/{gid}")).await.body), vec![b.clone()]);
    let u = app.get(&format!("/Users/{b}")).await;
    assert_eq!(u.body["groups"][0]["value"], gid.as_str());
    let g = app.get(&format!("/Groups/{gid}?excludedAttributes=members")).await;
    assert!(g.body.get("members").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_patches_on_postgres() {
    let Some(app) = pg().await else { return };
    crate::patch::concurrent_if_match(&app, false).await;
    crate::patch::concurrent_if_match(&app, true).await;
}
