//! List and search: filters, sorting, index and cursor pagination, projection, root
//! search.

use crate::harness::{TestApp, ids};
use serde_json::json;

async fn seeded(n: usize) -> (TestApp, Vec<String>) {
    let app = TestApp::new().await;
    let mut out = Vec::new();
    for i in 0..n {
        let r = app
            .post(
                "/Users",
                json!({"userName":format!("user{i:02}@x.io"),"displayName":format!("User {}", n - i),
                       "emails":[{"value":format!("user{i:02}@x.io"),"type":"work"}],"active": i % 2 == 0}),
            )
            .await;
        r.expect(201);
        out.push(r.id());
    }
    (app, out)
}

#[tokio::test]
async fn filter_by_user_name_case_insensitively() {
    let (app, users) = seeded(3).await;
    let r = app.get("/Users?filter=userName%20eq%20%22USER01@X.IO%22&startIndex=1&count=100").await;
    r.expect(200);
    assert_eq!(r.body["totalResults"], 1);
    assert_eq!(r.body["itemsPerPage"], 1);
    assert_eq!(r.body["startIndex"], 1);
    assert_eq!(ids(&r.body), vec![users[1].clone()]);
    assert_eq!(r.body["schemas"][0], scim_core::message::LIST_RESPONSE);
}

#[tokio::test]
async fn probe_for_a_missing_user_is_an_empty_list() {
    let app = TestApp::new().await;
    let r = app.get("/Users?filter=userName%20eq%20%22nobody-7f3a@x.io%22").await;
    r.expect(200);
    assert_eq!(r.body["totalResults"], 0);
    assert_eq!(r.body["Resources"], json!([]));
}

#[tokio::test]
async fn filter_errors() {
    let app = TestApp::new().await;
    let r = app.get("/Users?filter=externalId%20eq%20x").await;
    r.expect(400);
    assert_eq!(r.scim_type(), "invalidFilter");
    assert!(r.body["detail"].as_str().unwrap().contains("quoted string"), "{}", r.body);
    let r = app.get("/Users?filter=nosuch%20eq%20%22x%22").await;
    r.expect(400);
    assert_eq!(r.scim_type(), "invalidFilter");
    let r = app.get("/Users?sortBy=nosuch").await;
    r.expect(400);
    assert_eq!(r.scim_type(), "invalidPath");
    app.get("/Users?count=abc").await.expect(400);
    app.get("/Users?sortOrder=sideways").await.expect(400);
}

#[tokio::test]
async fn complex_filters() {
    let (app, users) = seeded(4).await;
    let r = app
        .get("/Users?filter=emails%5Btype%20eq%20%22work%22%20and%20value%20ew%20%2203@x.io%22%5D")
        .await;
    r.expect(200);
    assert_eq!(ids(&r.body), vec![users[3].clone()]);
    let r = app
        .get("/Users?filter=active%20eq%20true%20and%20not%20(userName%20sw%20%22user00%22)")
        .await;
    assert_eq!(ids(&r.body), vec![users[2].clone()]);
    let r = app.get("/Users?filter=meta.lastModified%20gt%20%222000-01-01T00:00:00Z%22").await;
    assert_eq!(r.body["totalResults"], 4);
}

#[tokio::test]
async fn index_pagination_and_counts() {
    let (app, users) = seeded(5).await;
    let r = app.get("/Users?count=2&startIndex=1").await;
    r.expect(200);
    assert_eq!(r.body["totalResults"], 5);
    assert_eq!(r.body["itemsPerPage"], 2);
    assert_eq!(r.body["startIndex"], 1);
    let p1 = ids(&r.body);
    let p2 = ids(&app.get("/Users?count=2&startIndex=3").await.body);
    let p3 = ids(&app.get("/Users?count=2&startIndex=5").await.body);
    let all: Vec<String> = p1.into_iter().chain(p2).chain(p3).collect();
    let mut sorted_all = all.clone();
    sorted_all.sort();
    let mut sorted_users = users.clone();
    sorted_users.sort();
    assert_eq!(sorted_all, sorted_users);
    // count=0: only the total.
    let r = app.get("/Users?count=0").await;
    assert_eq!(r.body["totalResults"], 5);
    assert_eq!(r.body["Resources"], json!([]));
    // Negative count counts as 0, startIndex < 1 as 1, count over the max is capped.
    let r = app.get("/Users?count=-3").await;
    assert_eq!(r.body["Resources"], json!([]));
    let r = app.get("/Users?startIndex=-4&count=1").await;
    assert_eq!(r.body["startIndex"], 1);
    assert_eq!(r.body["itemsPerPage"], 1);
    let r = app.get("/Users?count=100000").await;
    r.expect(200);
    assert_eq!(r.body["itemsPerPage"], 5);
    // Unknown parameters are ignored.
    app.get("/Users?aadOptscim062020&foo=bar").await.expect(200);
}

#[tokio::test]
async fn count_is_capped_at_the_maximum() {
    let (app, _) = seeded(3).await;
    // The harness configures max_page_size 50: a larger count is not an error.
    let r = app.get("/Users?count=51").await;
    r.expect(200);
    assert_eq!(r.body["totalResults"], 3);
}

#[tokio::test]
async fn sorting() {
    let (app, users) = seeded(3).await;
    let r = app.get("/Users?sortBy=displayName&sortOrder=ascending").await;
    let expected: Vec<String> = users.iter().rev().cloned().collect();
    assert_eq!(ids(&r.body), expected);
    let r = app.get("/Users?sortBy=userName&sortOrder=descending").await;
    assert_eq!(ids(&r.body), expected);
}

#[tokio::test]
async fn cursor_pagination() {
    let (app, users) = seeded(5).await;
    let mut seen = Vec::new();
    let mut cursor = String::new();
    for _ in 0..5 {
        let r = app.get(&format!("/Users?count=2&cursor={cursor}")).await;
        r.expect(200);
        assert_eq!(r.body["totalResults"], 5);
        assert!(r.body.get("startIndex").is_none());
        seen.extend(ids(&r.body));
        match r.body["nextCursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => break,
        }
    }
    let mut a = seen.clone();
    a.sort();
    let mut b = users.clone();
    b.sort();
    assert_eq!(a, b);
    let r = app.get("/Users?count=2&cursor=garbage").await;
    r.expect(400);
    assert_eq!(r.scim_type(), "invalidCursor");
}

#[tokio::test]
async fn post_search_with_projection() {
    let (app, users) = seeded(3).await;
    let r = app
        .post(
            "/Users/.search",
            json!({"schemas":[scim_core::message::SEARCH_REQUEST],"filter":"userName eq \"user02@x.io\"",
                   "attributes":["userName"],"startIndex":1,"count":10}),
        )
        .await;
    r.expect(200);
    assert_eq!(ids(&r.body), vec![users[2].clone()]);
    let res = &r.body["Resources"][0];
    assert_eq!(res["userName"], "user02@x.io");
    assert!(res.get("displayName").is_none());
    assert!(res["meta"]["location"].as_str().unwrap().ends_with(&users[2]));
    let r = app.post("/Users/.search", json!({"filter":"userName eq"})).await;
    r.expect(400);
    let r = app.get("/Users?excludedAttributes=emails").await;
    assert!(r.body["Resources"][0].get("emails").is_none());
}

#[tokio::test]
async fn group_filter_with_excluded_members() {
    let app = TestApp::new().await;
    let u = app.user("gm@x.io").await;
    let gid = app.group("Filtered", &[&u]).await;
    let r = app
        .get("/Groups?filter=displayName%20eq%20%22Filtered%22&excludedAttributes=members")
        .await;
    r.expect(200);
    assert_eq!(ids(&r.body), vec![gid.clone()]);
    assert!(r.body["Resources"][0].get("members").is_none());
    let r = app.get(&format!("/Groups?filter=members%5Bvalue%20eq%20%22{u}%22%5D")).await;
    assert_eq!(ids(&r.body), vec![gid]);
}

#[tokio::test]
async fn root_search_spans_users_and_groups() {
    let (app, users) = seeded(3).await;
    let g1 = app.group("Root 1", &[]).await;
    let g2 = app.group("Root 2", &[]).await;
    let r = app.post("/.search", json!({"schemas":[scim_core::message::SEARCH_REQUEST]})).await;
    r.expect(200);
    assert_eq!(r.body["totalResults"], 5);
    let all = ids(&r.body);
    assert_eq!(all.len(), 5);
    // Index pages span the boundary between the types: users first, then groups.
    let p = app.post("/.search", json!({"startIndex":3,"count":2})).await;
    assert_eq!(p.body["totalResults"], 5);
    let page = ids(&p.body);
    assert_eq!(page.len(), 2);
    assert!(users.contains(&page[0]));
    assert!(page[1] == g1 || page[1] == g2);
    // A filter on an attribute only groups have selects groups.
    let r = app.post("/.search", json!({"filter":"displayName sw \"Root\""})).await;
    let mut got = ids(&r.body);
    got.sort();
    let mut want = vec![g1.clone(), g2.clone()];
    want.sort();
    assert_eq!(got, want);
    let r = app.post("/.search", json!({"filter":"members pr"})).await;
    r.expect(200);
    // Cursor pagination across types.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    for _ in 0..10 {
        let r = app.post("/.search", json!({"count":2,"cursor":cursor})).await;
        r.expect(200);
        assert_eq!(r.body["totalResults"], 5);
        seen.extend(ids(&r.body));
        match r.body["nextCursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => break,
        }
    }
    seen.sort();
    let mut everything = all.clone();
    everything.sort();
    assert_eq!(seen, everything);
    app.post("/.search", json!({"cursor":"x.nope"})).await.expect(400);
}

#[tokio::test]
async fn sort_by_multi_valued_is_rejected_and_resource_type_filter() {
    let (app, users) = seeded(3).await;
    // Sorting is on singular attributes only.
    let r = app.get("/Users?sortBy=emails.value&sortOrder=descending").await;
    r.expect(400);
    assert_eq!(r.scim_type(), "invalidPath");
    let r = app.get("/Users?sortBy=meta.created&sortOrder=descending").await;
    r.expect(200);
    assert_eq!(ids(&r.body).len(), users.len());
    let gid = app.group("Typed", &[]).await;
    let r = app.post("/.search", json!({"filter":"meta.resourceType eq \"Group\""})).await;
    r.expect(200);
    assert_eq!(ids(&r.body), vec![gid]);
    let r = app.get("/Users?filter=meta.resourceType%20eq%20%22User%22").await;
    assert_eq!(r.body["totalResults"], 3);
}
