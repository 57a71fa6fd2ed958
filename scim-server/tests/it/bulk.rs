//! `/Bulk` and `POST /Users/delete`.

use crate::harness::{TestApp, member_ids};
use scim_core::message::BULK_REQUEST;
use serde_json::{Value, json};

fn bulk(ops: Value) -> Value {
    json!({"schemas":[BULK_REQUEST],"Operations":ops})
}

#[tokio::test]
async fn bulk_with_bulk_id_references() {
    let app = TestApp::new().await;
    let existing = app.user("existing@x.io").await;
    let r = app
        .post(
            "/Bulk",
            bulk(json!([
                {"method":"POST","path":"/Users","bulkId":"u1","data":{"userName":"bulk1@x.io"}},
                {"method":"POST","path":"/Groups","bulkId":"g1",
                 "data":{"displayName":"BulkGroup","members":[{"value":"bulkId:u1","type":"User"}]}},
                {"method":"PATCH","path":"/Groups/bulkId:g1",
                 "data":{"Operations":[{"op":"add","path":"members","value":[{"value":existing}]}]}},
                {"method":"PUT","path":format!("/Users/{existing}"),"data":{"userName":"existing@x.io","displayName":"E"}},
                {"method":"POST","path":"/Users","bulkId":"dup","data":{"userName":"bulk1@x.io"}},
                {"method":"DELETE","path":"/Users/US0123456789abcdef0123456789abcdef"}
            ])),
        )
        .await;
    r.expect(200);
    assert_eq!(r.body["schemas"][0], scim_core::message::BULK_RESPONSE);
    let ops = r.body["Operations"].as_array().unwrap();
    assert_eq!(ops.len(), 6);
    assert_eq!(ops[0]["status"], "201");
    assert_eq!(ops[0]["bulkId"], "u1");
    assert_eq!(ops[0]["version"], "W/\"1\"");
    let u1_loc = ops[0]["location"].as_str().unwrap();
    let u1 = u1_loc.rsplit('/').next().unwrap().to_owned();
    assert_eq!(ops[1]["status"], "201");
    let gid = ops[1]["location"].as_str().unwrap().rsplit('/').next().unwrap().to_owned();
    assert_eq!(ops[2]["status"], "200");
    assert_eq!(ops[3]["status"], "200");
    assert_eq!(ops[4]["status"], "409");
    assert_eq!(ops[4]["response"]["scimType"], "uniqueness");
    assert_eq!(ops[5]["status"], "404");
    // Stored results.
    let g = app.get(&format!("/Groups/{gid}")).await;
    let mut want = vec![u1, existing.clone()];
    want.sort();
    assert_eq!(member_ids(&g.body), want);
    assert_eq!(app.get(&format!("/Users/{existing}")).await.body["displayName"], "E");
}

#[tokio::test]
async fn unresolved_and_forward_and_circular_references() {
    let app = TestApp::new().await;
    let r = app
        .post(
            "/Bulk",
            bulk(json!([
                // Forward reference: waits for u2.
                {"method":"POST","path":"/Groups","bulkId":"g","data":{"displayName":"Fwd","members":[{"value":"bulkId:u2"}]}},
                {"method":"POST","path":"/Users","bulkId":"u2","data":{"userName":"fwd@x.io"}},
                // Undefined reference.
                {"method":"PATCH","path":"/Users/bulkId:nope","data":{"Operations":[{"op":"add","path":"displayName","value":"x"}]}},
                // Circular: A has member B, B has member A.
                {"method":"POST","path":"/Groups","bulkId":"a","data":{"displayName":"A","members":[{"value":"bulkId:b","type":"Group"}]}},
                {"method":"POST","path":"/Groups","bulkId":"b","data":{"displayName":"B","members":[{"value":"bulkId:a","type":"Group"}]}}
            ])),
        )
        .await;
    r.expect(200);
    let ops = r.body["Operations"].as_array().unwrap();
    assert_eq!(ops.len(), 5);
    assert_eq!(ops[0]["status"], "201", "{}", r.body);
    assert_eq!(ops[1]["status"], "201");
    assert_eq!(ops[2]["status"], "400");
    assert_eq!(ops[2]["response"]["scimType"], "invalidValue");
    assert_eq!(ops[3]["status"], "201", "{}", r.body);
    assert_eq!(ops[4]["status"], "201", "{}", r.body);
    let id_of =
        |i: usize| ops[i]["location"].as_str().unwrap().rsplit('/').next().unwrap().to_owned();
    let (g, u2, a, b) = (id_of(0), id_of(1), id_of(3), id_of(4));
    assert_eq!(member_ids(&app.get(&format!("/Groups/{g}")).await.body), vec![u2]);
    assert_eq!(member_ids(&app.get(&format!("/Groups/{a}")).await.body), vec![b.clone()]);
    assert_eq!(member_ids(&app.get(&format!("/Groups/{b}")).await.body), vec![a]);
}

#[tokio::test]
async fn fail_on_errors_stops() {
    let app = TestApp::new().await;
    let r = app
        .post(
            "/Bulk",
            json!({"schemas":[BULK_REQUEST],"failOnErrors":1,"Operations":[
                {"method":"POST","path":"/Users","bulkId":"x","data":{"displayName":"no userName"}},
                {"method":"POST","path":"/Users","bulkId":"y","data":{"userName":"never@x.io"}}]}),
        )
        .await;
    r.expect(200);
    let ops = r.body["Operations"].as_array().unwrap();
    assert_eq!(ops.len(), 1);
    assert_eq!(ops[0]["status"], "400");
    let list = app.get("/Users?filter=userName%20eq%20%22never@x.io%22").await;
    assert_eq!(list.body["totalResults"], 0);
}

#[tokio::test]
async fn bulk_limits() {
    let app = TestApp::new().await;
    // The harness sets maxOperations 20 and maxPayloadSize 64 KiB.
    let many: Vec<Value> = (0..21)
        .map(|i| json!({"method":"POST","path":"/Users","bulkId":format!("b{i}"),"data":{"userName":format!("m{i}@x.io")}}))
        .collect();
    let r = app.post("/Bulk", bulk(Value::Array(many))).await;
    r.expect(400);
    assert_eq!(r.scim_type(), "tooMany");
    let big = "x".repeat(70 * 1024);
    let r = app
        .post("/Bulk", bulk(json!([{"method":"POST","path":"/Users","bulkId":"b","data":{"userName":"big@x.io","title":big}}])))
        .await;
    r.expect(413);
    let r = app.post("/Bulk", json!({"Operations":[{"method":"GET","path":"/Users"}]})).await;
    r.expect(200);
    assert_eq!(r.body["Operations"][0]["status"], "405");
    app.post("/Bulk", json!({"nope":1})).await.expect(400);
}

#[tokio::test]
async fn bulk_version_mismatch_on_both_families() {
    let app = TestApp::new().await;
    let id = app.user("bv@x.io").await;
    let body = bulk(json!([{"method":"PATCH","path":format!("/Users/{id}"),"version":"W/\"5\"",
        "data":{"Operations":[{"op":"add","path":"displayName","value":"x"}]}}]));
    let r = app.post("/Bulk", body.clone()).await;
    assert_eq!(r.body["Operations"][0]["status"], "412");
    let r = app.call_b("POST", "/Bulk").json(body).send().await;
    assert_eq!(r.body["Operations"][0]["status"], "409");
}

#[tokio::test]
async fn bulk_deactivate() {
    let app = TestApp::new().await;
    let a = app.user("da@x.io").await;
    let b = app.user("db@x.io").await;
    let r = app.post("/Users/delete", json!([a, b])).await;
    r.expect(200);
    assert_eq!(r.body["totalResults"], 2);
    let res = &r.body["Resources"][0];
    assert!(res["id"].is_string());
    assert!(res["meta"]["location"].is_string());
    assert!(res.get("userName").is_none());
    for id in [&a, &b] {
        assert_eq!(app.get(&format!("/Users/{id}")).await.body["active"], false);
    }
    // Already inactive: not an error. The object form works too.
    app.post("/Users/delete", json!({"ids":[a]})).await.expect(200);
}

#[tokio::test]
async fn bulk_deactivate_unknown_changes_nothing() {
    let app = TestApp::new().await;
    let a = app
        .call("POST", "/Users")
        .json(json!({"userName":"keep@x.io","active":true}))
        .send()
        .await
        .id();
    let missing = "US0123456789abcdef0123456789abcdef";
    let r = app.post("/Users/delete", json!([a, missing])).await;
    r.expect(404);
    assert!(r.body["detail"].as_str().unwrap().contains(missing));
    assert_eq!(app.get(&format!("/Users/{a}")).await.body["active"], true);
    let r = app.post("/Users/delete", json!([a, "junk"])).await;
    r.expect(404);
    assert!(r.body["detail"].as_str().unwrap().contains("junk"));
    let too_many: Vec<String> = (0..21).map(|_| a.clone()).collect();
    app.post("/Users/delete", json!(too_many)).await.expect(400);
    app.post("/Users/delete", json!({"x":1})).await.expect(400);
    // Another organization's users are unknown here.
    let (_, token) = app.other_org().await;
    app.call("POST", "/Users/delete").token(Some(&token)).json(json!([a])).send().await.expect(404);
    assert_eq!(app.get(&format!("/Users/{a}")).await.body["active"], true);
}
