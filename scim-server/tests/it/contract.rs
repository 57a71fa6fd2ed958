//! Family B's profile (Twilio's contract for the organization-scoped Users routes, see
//! `scim_server::profile` and docs/compatibility.md): the requests the contract check's
//! fuzzer sends, answered with the exact status, `scimType` and `code`; and family A still
//! following RFC 7643/7644 for the same requests.

use crate::harness::{Resp, TestApp};
use serde_json::{Value, json};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";

/// A valid user for both families, with every attribute the contract bounds.
fn valid_user(user_name: &str) -> Value {
    json!({"schemas":[USER],"userName":user_name,"externalId":format!("ext-{user_name}"),
        "displayName":"Ada Lovelace","name":{"givenName":"Ada","familyName":"Lovelace"},
        "emails":[{"value":user_name,"type":"work","primary":true}],"active":true})
}

fn patch(ops: Value) -> Value {
    json!({"schemas":[PATCH_OP],"Operations":ops})
}

/// Asserts a 400 `invalidValue` (24400) whose detail names `attribute`.
#[track_caller]
fn assert_bound(r: &Resp, attribute: &str) {
    r.expect(400);
    assert_eq!((r.scim_type(), r.code()), ("invalidValue", 24400), "{}", r.body);
    let detail = r.body["detail"].as_str().unwrap_or_default();
    assert!(detail.starts_with(&format!("{attribute} must have")), "{detail}");
    assert!(detail.contains("Twilio contract"), "{detail}");
}

/// Each bound of the contract, broken once: (JSON pointer into `valid_user`, bad value,
/// attribute named in the detail).
fn violations() -> Vec<(&'static str, Value, &'static str)> {
    let long = |n: usize| Value::String("x".repeat(n));
    vec![
        ("/userName", json!("0"), "userName"),
        ("/userName", long(256), "userName"),
        ("/externalId", json!("e"), "externalId"),
        ("/externalId", long(256), "externalId"),
        ("/displayName", long(256), "displayName"),
        ("/name/givenName", long(256), "name.givenName"),
        ("/name/familyName", long(256), "name.familyName"),
        ("/emails/0/value", json!("a"), "emails.value"),
        ("/emails/0/value", long(161), "emails.value"),
        ("/emails/0/type", long(65), "emails.type"),
    ]
}

#[tokio::test]
async fn family_b_create_enforces_the_contract_bounds() {
    let app = TestApp::new().await;
    for (pointer, bad, attribute) in violations() {
        let mut body = valid_user("bounds@x.io");
        *body.pointer_mut(pointer).unwrap() = bad;
        let r = app.call_b("POST", "/Users").json(body).send().await;
        assert_bound(&r, attribute);
    }
    // The bounds are inclusive, and count characters, not bytes.
    let mut body = valid_user("ok@x.io");
    body["displayName"] = json!("é".repeat(255));
    body["externalId"] = json!("ab");
    app.call_b("POST", "/Users").json(body).send().await.expect(201);
    // Nothing was stored by the rejected requests.
    let list = app.call_b("GET", "/Users").send().await;
    assert_eq!(list.expect(200).body["totalResults"], 1);
}

#[tokio::test]
async fn family_a_keeps_what_the_rfc_allows() {
    let app = TestApp::new().await;
    for (i, (pointer, bad, _)) in violations().into_iter().enumerate() {
        let mut body = valid_user(&format!("rfc{i}@x.io"));
        *body.pointer_mut(pointer).unwrap() = bad.clone();
        let r = app.post("/Users", body).await;
        r.expect(201);
        assert_eq!(r.body.pointer(pointer), Some(&bad), "{pointer}");
    }
    // A 1-character userName, read back on family A.
    let r = app.post("/Users", json!({"schemas":[USER],"userName":"1"})).await;
    r.expect(201);
    let got = app.get(&format!("/Users/{}", r.id())).await;
    assert_eq!(got.expect(200).body["userName"], "1");
}

#[tokio::test]
async fn family_b_put_and_patch_results_are_held_to_the_bounds() {
    let app = TestApp::new().await;
    let created = app.call_b("POST", "/Users").json(valid_user("pp@x.io")).send().await;
    let id = created.expect(201).id();
    let path = format!("/Users/{id}");
    for (pointer, bad, attribute) in violations() {
        let mut body = valid_user("pp@x.io");
        *body.pointer_mut(pointer).unwrap() = bad;
        let r = app.call_b("PUT", &path).json(body).send().await;
        assert_bound(&r, attribute);
    }
    let long = "x".repeat(256);
    for (ops, attribute) in [
        (json!([{"op":"replace","path":"userName","value":"0"}]), "userName"),
        (json!([{"op":"replace","value":{"displayName":long}}]), "displayName"),
        (json!([{"op":"add","path":"name.givenName","value":long}]), "name.givenName"),
        (
            json!([{"op":"add","path":"emails","value":[{"value":"b","type":"home"}]}]),
            "emails.value",
        ),
        (
            json!([{"op":"replace","path":"emails[type eq \"work\"].type","value":long}]),
            "emails.type",
        ),
        (json!([{"op":"replace","path":"externalId","value":"e"}]), "externalId"),
    ] {
        let r = app.call_b("PATCH", &path).json(patch(ops)).send().await;
        assert_bound(&r, attribute);
    }
    // Nothing changed, and valid changes still go through.
    let now = app.call_b("GET", &path).send().await;
    assert_eq!(now.expect(200).body["userName"], "pp@x.io");
    assert_eq!(now.header("etag"), created.header("etag"));
    let ops = json!([{"op":"replace","path":"displayName","value":"Ada King"}]);
    app.call_b("PATCH", &path).json(patch(ops)).send().await.expect(200);
    // The same requests on family A follow the RFC.
    let ops = json!([{"op":"replace","path":"userName","value":"0"}]);
    let r = app.patch(&path, patch(ops)).await;
    assert_eq!(r.expect(200).body["userName"], "0");
}

#[tokio::test]
async fn stored_values_do_not_block_unrelated_changes_on_family_b() {
    let app = TestApp::new().await;
    // A 1-character userName is fine on family A ...
    let id = app.post("/Users", json!({"schemas":[USER],"userName":"a"})).await.id();
    let path = format!("/Users/{id}");
    // ... and family B can still deactivate that user, by PATCH or by PUT.
    let ops = json!([{"op":"replace","path":"active","value":false}]);
    let r = app.call_b("PATCH", &path).json(patch(ops)).send().await;
    assert_eq!(r.expect(200).body["active"], false);
    let body = json!({"schemas":[USER],"userName":"a","active":true});
    app.call_b("PUT", &path).json(body).send().await.expect(200);
    // A new value is checked.
    let body = json!({"schemas":[USER],"userName":"b"});
    assert_bound(&app.call_b("PUT", &path).json(body).send().await, "userName");
}

#[tokio::test]
async fn bulk_on_family_b_runs_the_same_profile() {
    let app = TestApp::new().await;
    let ops = json!([{"method":"POST","path":"/Users","bulkId":"u",
        "data":{"schemas":[USER],"userName":"0"}}]);
    let body = json!({"schemas":[BULK_REQUEST],"Operations":ops});
    let b = app.call_b("POST", "/Bulk").json(body.clone()).send().await;
    let op = &b.expect(200).body["Operations"][0];
    assert_eq!(op["status"], "400", "{op}");
    assert_eq!(
        (op["response"]["scimType"].as_str(), op["response"]["code"].as_u64()),
        (Some("invalidValue"), Some(24400)),
        "{op}"
    );
    let a = app.post("/Bulk", body).await;
    assert_eq!(a.expect(200).body["Operations"][0]["status"], "201");
}

#[tokio::test]
async fn scim_types_outside_the_contract_enum_are_mapped_on_family_b_only() {
    let app = TestApp::new().await;
    let id = app.user("types@x.io").await;
    let path = format!("/Users/{id}");
    // (operations, family A scimType, family B scimType, code)
    let cases = [
        (
            json!([{"op":"replace","path":"bad path!!","value":"x"}]),
            "invalidPath",
            "invalidSyntax",
            22400,
        ),
        (json!([{"op":"remove"}]), "noTarget", "invalidValue", 23400),
        (
            Value::Array(vec![json!({"op":"add","path":"title","value":"t"}); 1001]),
            "tooMany",
            "invalidValue",
            26400,
        ),
    ];
    for (ops, on_a, on_b, code) in cases {
        let a = app.patch(&path, patch(ops.clone())).await;
        a.expect(400);
        assert_eq!((a.scim_type(), a.code()), (on_a, code), "{}", a.body);
        let b = app.call_b("PATCH", &path).json(patch(ops)).send().await;
        b.expect(400);
        assert_eq!((b.scim_type(), b.code()), (on_b, code), "{}", b.body);
        // The contract's ScimError: status as a string, code an int32, moreInfo a link.
        assert!(b.body["status"].is_string() && b.body["moreInfo"].is_string());
    }
    // So are the errors of /Bulk itself, and those nested in its answer.
    let ops = json!([{"method":"PATCH","path":path,
        "data":patch(json!([{"op":"replace","path":"bad path!!","value":"x"}]))}]);
    let body = json!({"schemas":[BULK_REQUEST],"Operations":ops});
    let b = app.call_b("POST", "/Bulk").json(body.clone()).send().await;
    let op = &b.expect(200).body["Operations"][0]["response"];
    assert_eq!(
        (op["scimType"].as_str(), op["code"].as_u64()),
        (Some("invalidSyntax"), Some(22400))
    );
    let a = app.post("/Bulk", body).await;
    let op = &a.expect(200).body["Operations"][0]["response"];
    // On family A the nested body holds only the RFC 7644 3.12 members.
    assert_eq!((op["scimType"].as_str(), op["code"].as_u64()), (Some("invalidPath"), None));
    let ops = Value::Array(vec![json!({"method":"DELETE","path":path}); 21]);
    let body = json!({"schemas":[BULK_REQUEST],"Operations":ops});
    let b = app.call_b("POST", "/Bulk").json(body.clone()).send().await;
    b.expect(400);
    assert_eq!((b.scim_type(), b.code()), ("invalidValue", 26400), "{}", b.body);
    let a = app.post("/Bulk", body).await;
    assert_eq!((a.expect(400).scim_type(), a.code()), ("tooMany", 26400), "{}", a.body);
}

#[tokio::test]
async fn a_trailing_slash_on_family_b_is_an_empty_id() {
    let app = TestApp::new().await;
    app.user("slash@x.io").await;
    for method in ["GET", "PUT", "PATCH", "DELETE"] {
        let r = app.call_b(method, "/Users/").json(json!({})).send().await;
        r.expect(404);
        assert_eq!(r.code(), 22404, "{method}: {}", r.body);
        assert!(r.body["detail"].as_str().unwrap_or_default().contains("trailing slash"));
    }
    // Family A forgives it, and family B's base and exact paths are unchanged.
    assert_eq!(app.get("/Users/").await.expect(200).body["totalResults"], 1);
    assert_eq!(app.call_b("GET", "/Users").send().await.expect(200).body["totalResults"], 1);
    app.call_b("GET", "/ServiceProviderConfig").send().await.expect(200);
}
