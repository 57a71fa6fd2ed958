//! `Idempotency-Key` on POST and PATCH.

use crate::harness::TestApp;
use serde_json::json;

#[tokio::test]
async fn replay_same_answer_and_no_second_write() {
    let app = TestApp::new().await;
    let body = json!({"userName":"idem@x.io"});
    let first =
        app.call("POST", "/Users").header("idempotency-key", "k-1").json(body.clone()).send().await;
    first.expect(201);
    assert!(first.header("idempotent-replayed").is_none());
    let again = app.call("POST", "/Users").header("idempotency-key", "k-1").json(body).send().await;
    assert_eq!(again.status, 201);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.raw, first.raw);
    assert_eq!(again.header("location"), first.header("location"));
    assert_eq!(again.header("etag"), first.header("etag"));
    let list = app.get("/Users").await;
    assert_eq!(list.body["totalResults"], 1);
}

#[tokio::test]
async fn reuse_with_another_request_is_422() {
    let app = TestApp::new().await;
    app.call("POST", "/Users")
        .header("idempotency-key", "k-2")
        .json(json!({"userName":"a@x.io"}))
        .send()
        .await
        .expect(201);
    let r = app
        .call("POST", "/Users")
        .header("idempotency-key", "k-2")
        .json(json!({"userName":"b@x.io"}))
        .send()
        .await;
    r.expect(422);
    // Another path with the same key is another request too.
    let r = app
        .call("POST", "/Groups")
        .header("idempotency-key", "k-2")
        .json(json!({"userName":"a@x.io"}))
        .send()
        .await;
    r.expect(422);
    // So is the same request through the other route family (its answer differs).
    let r = app
        .call_b("POST", "/Users")
        .header("idempotency-key", "k-2")
        .json(json!({"userName":"a@x.io"}))
        .send()
        .await;
    r.expect(422);
}

#[tokio::test]
async fn patch_is_idempotent_and_errors_replay() {
    let app = TestApp::new().await;
    let id = app.user("ip@x.io").await;
    let path = format!("/Users/{id}");
    let body = json!({"Operations":[{"op":"add","path":"emails","value":[{"value":"n@x.io","type":"home"}]}]});
    let a =
        app.call("PATCH", &path).header("idempotency-key", "p-1").json(body.clone()).send().await;
    a.expect(200);
    let b = app.call("PATCH", &path).header("idempotency-key", "p-1").json(body).send().await;
    assert_eq!(b.header("idempotent-replayed"), Some("true"));
    assert_eq!(app.get(&path).await.header("etag"), Some("W/\"2\""));
    // A 4xx answer is kept and replayed as well.
    let bad = json!({"userName":"ip@x.io"});
    let e1 =
        app.call("POST", "/Users").header("idempotency-key", "p-2").json(bad.clone()).send().await;
    e1.expect(409);
    let e2 = app.call("POST", "/Users").header("idempotency-key", "p-2").json(bad).send().await;
    assert_eq!(e2.status, 409, "{}", e2.body);
    assert_eq!(e2.header("idempotent-replayed"), Some("true"));
    assert_eq!(e2.raw, e1.raw);
}

#[tokio::test]
async fn keys_are_per_organization_and_need_auth() {
    let app = TestApp::new().await;
    let body = json!({"userName":"org@x.io"});
    app.call("POST", "/Users")
        .header("idempotency-key", "shared")
        .json(body.clone())
        .send()
        .await
        .expect(201);
    let (_, token) = app.other_org().await;
    let r = app
        .call("POST", "/Users")
        .token(Some(&token))
        .header("idempotency-key", "shared")
        .json(body.clone())
        .send()
        .await;
    r.expect(201);
    assert!(r.header("idempotent-replayed").is_none());
    app.call("POST", "/Users")
        .token(None)
        .header("idempotency-key", "shared")
        .json(body)
        .send()
        .await
        .expect(401);
    // Bad keys.
    let long = "k".repeat(300);
    app.call("POST", "/Users")
        .header("idempotency-key", &long)
        .json(json!({"userName":"l@x.io"}))
        .send()
        .await
        .expect(400);
}

#[tokio::test]
async fn in_flight_key_is_409() {
    let app = TestApp::new().await;
    // Claim the key with the request's own fingerprint, as a first request still running
    // would (SHA-256 over family, method, family-relative path and body).
    let body = json!({"userName":"f@x.io"});
    let bytes = serde_json::to_vec(&body).unwrap();
    let fp: [u8; 32] = {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update(b"rfc\0POST\0/Users\0");
        h.update(&bytes);
        h.finalize().into()
    };
    let begun = app.store.idempotency_begin(app.org, "busy", &fp).await.unwrap();
    assert_eq!(begun, scim_store::IdempotencyBegin::Claimed);
    let r = app.call("POST", "/Users").header("idempotency-key", "busy").json(body).send().await;
    r.expect(409);
}

#[tokio::test]
async fn get_ignores_the_key() {
    let app = TestApp::new().await;
    app.call("GET", "/Users").header("idempotency-key", "g").send().await.expect(200);
    app.call("GET", "/Users").header("idempotency-key", "g").send().await.expect(200);
}
