//! `scim-client` against this server over real HTTP (127.0.0.1, ephemeral port): each
//! client feature end to end. The property tests are in `client_props.rs`.

use crate::harness::TestApp;
use axum::Router;
use futures::TryStreamExt;
use scim_client::filter::attr;
use scim_client::{BulkBuilder, Client, Conditional, Error, Query, bulk::bulk_ref};
use scim_core::ErrorCode;
use scim_core::message::{PatchOpKind, PatchOperation};
use scim_core::resource::{Group, Member, MultiValue, User};
use scim_store::Scope;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Serves `router` on 127.0.0.1 on an ephemeral port; returns `http://127.0.0.1:PORT`.
pub async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    format!("http://{addr}")
}

/// A fresh app on SQLite in memory, served over HTTP, and a client on `/scim/v2`.
pub async fn live() -> (TestApp, String, Client) {
    let app = TestApp::new().await;
    let origin = serve(app.router.clone()).await;
    let client = Client::builder(format!("{origin}/scim/v2")).bearer(&app.token).build().unwrap();
    (app, origin, client)
}

pub fn user(name: &str) -> User {
    User {
        user_name: name.to_owned(),
        active: Some(true),
        emails: vec![MultiValue {
            value: Some(format!("{name}@example.com")),
            kind: Some("work".into()),
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn api(e: &Error) -> &scim_client::ApiError {
    e.api().unwrap_or_else(|| panic!("not an API error: {e:?}"))
}

#[tokio::test]
async fn client_crud_with_etags() {
    let (app, origin, client) = live().await;
    let users = client.users();
    let created = users.create(&user("ada")).await.unwrap();
    let id = created.resource.id.clone().unwrap();
    let etag = created.etag.clone().unwrap();
    assert!(etag.starts_with("W/\""), "{etag}");

    let got = users.get(&id).await.unwrap();
    assert_eq!(got.resource.user_name, "ada");
    assert_eq!(got.etag.as_deref(), Some(etag.as_str()));
    assert!(matches!(
        users.get_if_none_match(&id, &etag).await.unwrap(),
        Conditional::NotModified { etag: Some(ref t) } if *t == etag
    ));

    let mut changed = got.resource.clone();
    changed.display_name = Some("Ada L.".into());
    let replaced = users.replace(&id, &changed, Some(&etag)).await.unwrap();
    let etag2 = replaced.etag.clone().unwrap();
    assert_ne!(etag, etag2);
    assert!(matches!(
        users.get_if_none_match(&id, &etag).await.unwrap(),
        Conditional::Modified(ref t) if t.etag.as_deref() == Some(etag2.as_str())
    ));

    // A stale tag: 412 on /scim/v2, 409 on the organization-scoped family.
    let e = users.replace(&id, &changed, Some(&etag)).await.unwrap_err();
    assert_eq!((api(&e).status, api(&e).error_code()), (412, Some(ErrorCode::PreconditionFailed)));
    let family_b = Client::builder(format!("{origin}/Organizations/{}/scim", app.org))
        .bearer(&app.token)
        .build()
        .unwrap();
    let op = PatchOperation {
        op: PatchOpKind::Replace,
        path: Some("title".into()),
        value: Some("Countess".into()),
    };
    let e = family_b.users().patch_ops(&id, vec![op.clone()], Some(&etag)).await.unwrap_err();
    assert_eq!((api(&e).status, api(&e).code), (409, Some(21409)));

    let patched = users.patch_ops(&id, vec![op], Some(&etag2)).await.unwrap().unwrap();
    assert_eq!(patched.resource.extra["title"], "Countess");
    let etag3 = patched.etag.unwrap();
    let e = users.delete(&id, Some(&etag2)).await.unwrap_err();
    assert_eq!(api(&e).status, 412);
    users.delete(&id, Some(&etag3)).await.unwrap();
    let e = users.get(&id).await.unwrap_err();
    assert_eq!((api(&e).status, api(&e).error_code()), (404, Some(ErrorCode::ResourceNotFound)));
}

#[tokio::test]
async fn client_typed_errors() {
    let (app, origin, client) = live().await;
    client.users().create(&user("ada")).await.unwrap();
    let e = client.users().create(&user("ada")).await.unwrap_err();
    let a = api(&e);
    assert_eq!(a.status, 409);
    assert_eq!(a.scim_type.as_deref(), Some("uniqueness"));
    assert_eq!(a.code, Some(20409), "from the Link header on /scim/v2");
    assert!(a.detail.as_deref().unwrap().contains("ada"), "{a:?}");
    assert!(a.request_id.is_some());

    // Family B carries the code in the body too.
    let b = Client::builder(format!("{origin}/Organizations/{}/scim", app.org))
        .bearer(&app.token)
        .build()
        .unwrap();
    let e = b.users().search(&Query::new().filter(attr("nope").gt(true))).await.unwrap_err();
    assert_eq!((api(&e).status, api(&e).error_code()), (400, Some(ErrorCode::InvalidFilter)));

    let bad = Client::builder(format!("{origin}/scim/v2")).bearer("wrong").build().unwrap();
    let e = bad.users().get("US0123456789abcdef0123456789abcdef").await.unwrap_err();
    assert_eq!((api(&e).status, api(&e).error_code()), (401, Some(ErrorCode::InvalidCredential)));
}

#[tokio::test]
async fn client_search_and_list_by_cursor_and_index() {
    let (_app, _, client) = live().await;
    let mut want = BTreeSet::new();
    for i in 0..23 {
        let u = client.users().create(&user(&format!("user{i:02}"))).await.unwrap();
        want.insert(u.resource.id.unwrap());
    }
    let caps = client.capabilities().await.unwrap();
    assert!(caps.cursor_paging());
    assert_eq!(caps.max_page_size(), Some(50));

    // Cursor pages (the server advertises them), 5 at a time.
    let got: Vec<User> = client.users().list(Query::new().count(5)).try_collect().await.unwrap();
    let ids: BTreeSet<_> = got.iter().map(|u| u.id.clone().unwrap()).collect();
    assert_eq!((got.len(), &ids), (23, &want));

    // Index pages when a start index is given.
    let got: Vec<User> =
        client.users().list(Query::new().start_index(1).count(4)).try_collect().await.unwrap();
    let ids: BTreeSet<_> = got.iter().map(|u| u.id.clone().unwrap()).collect();
    assert_eq!((got.len(), &ids), (23, &want));

    // A count over the server's maximum is clamped, not refused.
    let got: Vec<User> = client.users().list(Query::new().count(500)).try_collect().await.unwrap();
    assert_eq!(got.len(), 23);

    // Filtered, by GET and by POST .search.
    let q = Query::new().filter(attr("userName").sw("user1")).count(50);
    let page = client.users().search(&q).await.unwrap();
    assert_eq!(page.total_results, 10);
    let page = client.users().search_post(&q).await.unwrap();
    assert_eq!(page.total_results, 10);
    let hostile = Query::new().filter(attr("userName").eq("x\" or userName pr or \"y"));
    assert_eq!(client.users().search(&hostile).await.unwrap().total_results, 0);
    assert_eq!(client.users().search_post(&hostile).await.unwrap().total_results, 0);
}

#[tokio::test]
async fn client_bulk_with_bulk_ids() {
    let (_app, _, client) = live().await;
    let group = Group {
        display_name: "admins".into(),
        members: vec![Member { value: bulk_ref("ada"), ..Default::default() }],
        ..Default::default()
    };
    let req = BulkBuilder::new()
        .create("Users", "ada", &user("ada"))
        .unwrap()
        .create("Groups", "admins", &group)
        .unwrap()
        .build();
    let res = client.bulk(&req).await.unwrap();
    let statuses: Vec<&str> = res.operations.iter().map(|o| o.status.as_str()).collect();
    assert_eq!(statuses, ["201", "201"]);
    let user_id = res.operations[0].location.as_deref().unwrap().rsplit('/').next().unwrap();
    let group_id = res.operations[1].location.as_deref().unwrap().rsplit('/').next().unwrap();
    let g = client.groups().get(group_id).await.unwrap().resource;
    assert_eq!(g.members.iter().map(|m| m.value.as_str()).collect::<Vec<_>>(), [user_id]);

    // Over bulk.maxOperations (20 here): refused before sending.
    let mut big = BulkBuilder::new();
    for i in 0..21 {
        big = big.create("Users", &format!("u{i}"), &user(&format!("many{i}"))).unwrap();
    }
    let e = client.bulk(&big.build()).await.unwrap_err();
    assert!(matches!(e, Error::LimitExceeded(ref m) if m.contains("maxOperations")), "{e}");
    // Over bulk.maxPayloadSize (64 KiB here).
    let mut heavy = user("heavy");
    heavy.display_name = Some("x".repeat(70_000));
    let e = client.bulk(&BulkBuilder::new().create("Users", "h", &heavy).unwrap().build()).await;
    assert!(matches!(e, Err(Error::LimitExceeded(ref m)) if m.contains("maxPayloadSize")));
}

#[tokio::test]
async fn client_bulk_deactivate_in_chunks() {
    let (_app, _, client) = live().await;
    let mut ids = Vec::new();
    for i in 0..25 {
        ids.push(
            client.users().create(&user(&format!("off{i}"))).await.unwrap().resource.id.unwrap(),
        );
    }
    // 25 ids, bulk.maxOperations 20: two requests.
    let out = client.deactivate_users(&ids).await.unwrap();
    let got: Vec<&str> = out.iter().map(|r| r.id().unwrap()).collect();
    assert_eq!(got, ids.iter().map(String::as_str).collect::<Vec<_>>());
    for id in [&ids[0], &ids[24]] {
        assert_eq!(client.users().get(id).await.unwrap().resource.active, Some(false));
    }
    let e = client.deactivate_users(&["US0123456789abcdef0123456789abcdef"]).await.unwrap_err();
    assert_eq!((api(&e).status, api(&e).code), (404, Some(20404)));
}

#[tokio::test]
async fn client_discovery() {
    let (_app, _, client) = live().await;
    let caps = client.service_provider_config().await.unwrap();
    assert!(caps.patch && caps.bulk && caps.filter && caps.sort && caps.etag);
    assert_eq!(caps.bulk_max_operations, Some(20));
    assert_eq!(caps.bulk_max_payload_size, Some(64 * 1024));
    assert!(caps.config().is_some(), "our document is the typed one");
    let types = client.resource_types().await.unwrap();
    assert!(types.iter().any(|t| t.name == "User" && t.endpoint == "/Users"));
    let schemas = client.schemas().await.unwrap();
    assert!(schemas.iter().any(|s| s.id == scim_core::schema::ENTERPRISE_USER_SCHEMA));
    let registry = client.registry().await.unwrap();
    assert!(registry.schema(scim_core::schema::ENTERPRISE_USER_SCHEMA).is_some());
}

#[tokio::test]
async fn client_gzip_both_ways() {
    let (_app, origin, _) = live().await;
    let app_token = _app.token.clone();
    let client = Client::builder(format!("{origin}/scim/v2"))
        .bearer(&app_token)
        .gzip_requests(0)
        .build()
        .unwrap();
    let mut u = user("zipped");
    u.display_name = Some("z".repeat(500));
    let created = client.users().create(&u).await.unwrap();
    assert_eq!(created.resource.display_name, u.display_name);
}

/// Rejects the first access token it sees (as if revoked or expired early) by replacing it
/// before the real server reads it.
#[derive(Clone, Default)]
struct RejectFirstToken {
    first: Arc<Mutex<Option<String>>>,
    rejected: Arc<AtomicUsize>,
}

#[tokio::test]
async fn client_oauth_client_credentials_refreshes_on_401() {
    let app = TestApp::new().await;
    let (org2, _) = app.other_org().await;
    let c = scim_server::admin::create_client(
        app.store.as_ref(),
        vec![app.org, org2],
        Scope::ALL.to_vec(),
    )
    .await
    .unwrap();
    let guard = RejectFirstToken::default();
    let token_calls = Arc::new(AtomicUsize::new(0));
    let (g, calls) = (guard.clone(), token_calls.clone());
    let router = app.router.clone().layer(axum::middleware::from_fn(
        move |mut req: axum::extract::Request, next: axum::middleware::Next| {
            let (g, calls) = (g.clone(), calls.clone());
            async move {
                if req.uri().path() == "/oauth2/token" {
                    calls.fetch_add(1, Ordering::SeqCst);
                } else if let Some(auth) = req.headers().get("authorization").cloned() {
                    let auth = auth.to_str().unwrap().to_owned();
                    let reject = {
                        let mut first = g.first.lock().unwrap();
                        first.get_or_insert_with(|| auth.clone()) == &auth
                    };
                    if reject {
                        g.rejected.fetch_add(1, Ordering::SeqCst);
                        req.headers_mut()
                            .insert("authorization", "Bearer revoked".parse().unwrap());
                    }
                }
                next.run(req).await
            }
        },
    ));
    let origin = serve(router).await;
    let token_url = format!("{origin}/oauth2/token");
    let client = Client::builder(format!("{origin}/scim/v2"))
        .client_credentials(&token_url, &c.client_id, &c.client_secret, ["scim:read", "scim:write"])
        .organization(app.org)
        .build()
        .unwrap();
    let created = client.users().create(&user("oauth")).await.unwrap();
    assert!(created.resource.id.is_some());
    assert_eq!(guard.rejected.load(Ordering::SeqCst), 1, "the first token was refused once");
    assert_eq!(token_calls.load(Ordering::SeqCst), 2, "fetched, then fetched again after 401");
    // The new token is cached.
    client.users().get(created.resource.id.as_deref().unwrap()).await.unwrap();
    assert_eq!(token_calls.load(Ordering::SeqCst), 2);

    // A credential on two organizations must name one on /scim/v2 ...
    let unnamed = Client::builder(format!("{origin}/scim/v2"))
        .client_credentials(&token_url, &c.client_id, &c.client_secret, Vec::<String>::new())
        .build()
        .unwrap();
    let e = unnamed.users().search(&Query::new()).await.unwrap_err();
    assert_eq!(
        (api(&e).status, api(&e).error_code()),
        (400, Some(ErrorCode::OrganizationRequired))
    );
    // ... and the other family takes it from the path.
    let b = Client::builder(format!("{origin}/Organizations/{org2}/scim"))
        .client_credentials(&token_url, &c.client_id, &c.client_secret, Vec::<String>::new())
        .build()
        .unwrap();
    assert_eq!(b.users().search(&Query::new()).await.unwrap().total_results, 0);

    // Wrong secret: the token endpoint's RFC 6749 error, typed.
    let wrong = Client::builder(format!("{origin}/scim/v2"))
        .client_credentials(&token_url, &c.client_id, "nope", Vec::<String>::new())
        .build()
        .unwrap();
    let e = wrong.users().search(&Query::new()).await.unwrap_err();
    assert!(
        matches!(e, Error::OAuth { status: 401, ref error, .. } if error == "invalid_client"),
        "{e:?}"
    );
}
