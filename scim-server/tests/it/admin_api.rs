//! The admin HTTP API (`docs/admin-api.md`): organizations, policies, tokens and clients
//! over `/admin/v1`, its credential (a token with the scope `admin` alone), tenant
//! isolation both ways, its errors, and its own listener.

use crate::support::{TestApp, app, app_with, req, send};
use axum::Router;
use http::Method;
use scim_server::admin;
use scim_store::Scope;
use serde_json::{Value, json};

/// An app with the admin API on, the auth cache off (revocations act at once), and an
/// admin token.
async fn admin_app() -> (TestApp, String) {
    let app = app_with(|c| {
        c.admin_api = true;
        c.auth_cache_ttl_ms = 0;
    })
    .await;
    let t = admin_token(&app).await;
    (app, t)
}

async fn admin_token(app: &TestApp) -> String {
    let scopes = admin::parse_scopes(&["admin".to_owned()]).unwrap();
    admin::create_token(app.state.store.as_ref(), app.org, scopes, Some("ops".into()), None, None)
        .await
        .unwrap()
        .token
}

async fn call(
    app: &TestApp,
    method: Method,
    uri: &str,
    token: &str,
    body: Option<Value>,
) -> crate::support::Resp {
    let mut r = req(method, uri).bearer(token);
    if let Some(b) = body {
        r = r.bytes("application/json", serde_json::to_vec(&b).unwrap());
    }
    app.send(r.build()).await
}

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    k.sort_unstable();
    k
}

#[tokio::test]
async fn organizations_lifecycle() {
    let (app, t) = admin_app().await;
    let r = call(
        &app,
        Method::POST,
        "/admin/v1/organizations",
        &t,
        Some(json!({"name": "acme", "policies": ["soft-delete"]})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.bytes));
    let org = r.json();
    assert_eq!(keys(&org), ["name", "policies", "sid"]);
    assert_eq!(org["name"], "acme");
    assert_eq!(org["policies"], json!(["soft-delete"]));
    let sid = org["sid"].as_str().unwrap().to_owned();

    let list = call(&app, Method::GET, "/admin/v1/organizations", &t, None).await;
    assert_eq!(list.status, 200);
    let list = list.json();
    let names: Vec<&str> =
        list.as_array().unwrap().iter().map(|o| o["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["default", "acme"]);
    assert_eq!(keys(&list[1]), ["created", "name", "policies", "sid"]);

    let one = call(&app, Method::GET, &format!("/admin/v1/organizations/{sid}"), &t, None).await;
    assert_eq!(one.status, 200);
    assert_eq!(one.json()["sid"], sid.as_str());
    // By name, when unambiguous, as the CLI resolves it.
    let by_name = call(&app, Method::GET, "/admin/v1/organizations/acme", &t, None).await;
    assert_eq!(by_name.json()["sid"], sid.as_str());

    let renamed = call(
        &app,
        Method::PATCH,
        &format!("/admin/v1/organizations/{sid}"),
        &t,
        Some(json!({"name": "acme-eu"})),
    )
    .await;
    assert_eq!(renamed.status, 200);
    assert_eq!(renamed.json(), json!({"sid": sid, "name": "acme-eu", "policies": ["soft-delete"]}));

    let set = call(
        &app,
        Method::PUT,
        &format!("/admin/v1/organizations/{sid}/policies/username-is-primary-email"),
        &t,
        None,
    )
    .await;
    assert_eq!(set.status, 200);
    assert_eq!(set.json()["policies"], json!(["soft-delete", "username-is-primary-email"]));
    let unset = call(
        &app,
        Method::DELETE,
        &format!("/admin/v1/organizations/{sid}/policies/soft-delete"),
        &t,
        None,
    )
    .await;
    assert_eq!(unset.status, 200);
    assert_eq!(unset.json()["policies"], json!(["username-is-primary-email"]));

    let gone =
        call(&app, Method::DELETE, &format!("/admin/v1/organizations/{sid}"), &t, None).await;
    assert_eq!(gone.status, 200);
    let gone = gone.json();
    assert_eq!(keys(&gone), ["clients", "deleted", "groups", "name", "sid", "tokens", "users"]);
    assert_eq!(gone["deleted"], true);
    call(&app, Method::GET, &format!("/admin/v1/organizations/{sid}"), &t, None)
        .await
        .assert_error(404, 23404);
}

#[tokio::test]
async fn deleting_an_organization_with_users_needs_force() {
    let (app, t) = admin_app().await;
    let sid =
        call(&app, Method::POST, "/admin/v1/organizations", &t, Some(json!({"name": "full"})))
            .await
            .json()["sid"]
            .as_str()
            .unwrap()
            .to_owned();
    let scim = call(
        &app,
        Method::POST,
        &format!("/admin/v1/organizations/{sid}/tokens"),
        &t,
        Some(json!({})),
    )
    .await
    .json()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let user = req(Method::POST, "/scim/v2/Users")
        .bearer(&scim)
        .json(&json!({"userName": "a@x.io"}))
        .build();
    assert_eq!(app.send(user).await.status, 201);
    let v = call(&app, Method::DELETE, &format!("/admin/v1/organizations/{sid}"), &t, None)
        .await
        .assert_error(409, 23409);
    assert!(v["detail"].as_str().unwrap().contains("1 users"), "{v}");
    let r =
        call(&app, Method::DELETE, &format!("/admin/v1/organizations/{sid}?force=true"), &t, None)
            .await;
    assert_eq!(r.status, 200);
    assert_eq!((r.json()["users"].as_u64(), r.json()["tokens"].as_u64()), (Some(1), Some(1)));
}

#[tokio::test]
async fn tokens_are_shown_once_work_on_their_organization_and_revoke() {
    let (app, t) = admin_app().await;
    let org = app.org.to_string();
    let r = call(
        &app,
        Method::POST,
        &format!("/admin/v1/organizations/{org}/tokens"),
        &t,
        Some(json!({"scopes": ["scim:read"], "name": "okta", "expires_in": "90d"})),
    )
    .await;
    assert_eq!(r.status, 201);
    let tok = r.json();
    assert_eq!(keys(&tok), ["expires", "id", "name", "org", "scopes", "token"]);
    assert_eq!((tok["org"].as_str(), tok["name"].as_str()), (Some(org.as_str()), Some("okta")));
    assert_eq!(tok["scopes"], json!(["scim:read"]));
    let (id, secret) =
        (tok["id"].as_str().unwrap().to_owned(), tok["token"].as_str().unwrap().to_owned());
    assert_eq!(
        app.send(req(Method::GET, "/scim/v2/Users").bearer(&secret).build()).await.status,
        200
    );

    let list =
        call(&app, Method::GET, &format!("/admin/v1/organizations/{org}/tokens"), &t, None).await;
    assert_eq!(list.status, 200);
    let text = String::from_utf8_lossy(&list.bytes).into_owned();
    assert!(text.contains(&id) && !text.contains(&secret), "{text}");
    assert!(list.json().as_array().unwrap().iter().all(|t| t.get("token").is_none()));

    let rv =
        call(&app, Method::DELETE, &format!("/admin/v1/organizations/{org}/tokens/{id}"), &t, None)
            .await;
    assert_eq!(rv.status, 200);
    assert_eq!(rv.json(), json!({"id": id, "revoked": true}));
    app.send(req(Method::GET, "/scim/v2/Users").bearer(&secret).build())
        .await
        .assert_error(401, 21401);
    call(&app, Method::DELETE, &format!("/admin/v1/organizations/{org}/tokens/{id}"), &t, None)
        .await
        .assert_error(404, 24404);
}

#[tokio::test]
async fn a_token_is_revoked_only_through_its_own_organization() {
    let (app, t) = admin_app().await;
    let other = app.org("other").await;
    let (id, secret) = app.token(app.org, Scope::ALL).await;
    call(&app, Method::DELETE, &format!("/admin/v1/organizations/{other}/tokens/{id}"), &t, None)
        .await
        .assert_error(404, 24404);
    assert_eq!(
        app.send(req(Method::GET, "/scim/v2/Users").bearer(&secret).build()).await.status,
        200
    );
}

#[tokio::test]
async fn clients_create_list_revoke() {
    let (app, t) = admin_app().await;
    let org = app.org.to_string();
    let r = call(
        &app,
        Method::POST,
        "/admin/v1/clients",
        &t,
        Some(json!({"orgs": [org], "scopes": ["scim:write"]})),
    )
    .await;
    assert_eq!(r.status, 201);
    let c = r.json();
    assert_eq!(keys(&c), ["client_id", "client_secret", "orgs", "scopes"]);
    assert_eq!((c["orgs"].clone(), c["scopes"].clone()), (json!([org]), json!(["scim:write"])));
    let cid = c["client_id"].as_str().unwrap().to_owned();
    let list =
        call(&app, Method::GET, &format!("/admin/v1/clients?org={org}"), &t, None).await.json();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(keys(&list[0]), ["client_id", "created", "orgs", "scopes"]);
    let other = app.org("other").await;
    let none =
        call(&app, Method::GET, &format!("/admin/v1/clients?org={other}"), &t, None).await.json();
    assert_eq!(none, json!([]));
    let rv = call(&app, Method::DELETE, &format!("/admin/v1/clients/{cid}"), &t, None).await;
    assert_eq!(rv.json(), json!({"client_id": cid, "revoked": true}));
    call(&app, Method::DELETE, &format!("/admin/v1/clients/{cid}"), &t, None)
        .await
        .assert_error(404, 24404);
    call(&app, Method::GET, "/admin/v1/clients", &t, None).await;
}

#[tokio::test]
async fn bad_requests_are_400_and_unknown_organizations_404() {
    let (app, t) = admin_app().await;
    let org = app.org.to_string();
    let unknown = "OR0123456789abcdef0123456789abcdef";
    for (m, uri, body) in [
        (Method::GET, format!("/admin/v1/organizations/{unknown}"), None),
        (Method::GET, "/admin/v1/organizations/nobody".to_owned(), None),
        (Method::PATCH, format!("/admin/v1/organizations/{unknown}"), Some(json!({"name": "x"}))),
        (Method::DELETE, format!("/admin/v1/organizations/{unknown}"), None),
        (Method::PUT, format!("/admin/v1/organizations/{unknown}/policies/soft-delete"), None),
        (Method::GET, format!("/admin/v1/organizations/{unknown}/tokens"), None),
        (Method::POST, format!("/admin/v1/organizations/{unknown}/tokens"), Some(json!({}))),
        (Method::POST, "/admin/v1/clients".to_owned(), Some(json!({"orgs": [unknown]}))),
    ] {
        call(&app, m, &uri, &t, body).await.assert_error(404, 23404);
    }
    for (m, uri, body) in [
        (Method::PUT, format!("/admin/v1/organizations/{org}/policies/no-such-policy"), None),
        (
            Method::POST,
            "/admin/v1/organizations".to_owned(),
            Some(json!({"name": "x", "policies": ["nope"]})),
        ),
        (Method::POST, "/admin/v1/organizations".to_owned(), Some(json!({"name": "  "}))),
        (
            Method::POST,
            format!("/admin/v1/organizations/{org}/tokens"),
            Some(json!({"scopes": ["scim:delete"]})),
        ),
        (
            Method::POST,
            format!("/admin/v1/organizations/{org}/tokens"),
            Some(json!({"scopes": ["admin"]})),
        ),
        (
            Method::POST,
            format!("/admin/v1/organizations/{org}/tokens"),
            Some(json!({"expires_in": "soon"})),
        ),
        (Method::POST, "/admin/v1/clients".to_owned(), Some(json!({"orgs": []}))),
        (
            Method::POST,
            "/admin/v1/clients".to_owned(),
            Some(json!({"orgs": [org], "scopes": ["admin"]})),
        ),
    ] {
        call(&app, m, &uri, &t, body).await.assert_error(400, 38400);
    }
    // Malformed JSON and unknown members are the body's syntax.
    let r = app
        .send(
            req(Method::POST, "/admin/v1/organizations")
                .bearer(&t)
                .bytes("application/json", b"{".to_vec())
                .build(),
        )
        .await;
    r.assert_error(400, 20400);
    call(&app, Method::POST, "/admin/v1/organizations", &t, Some(json!({"name": "x", "extra": 1})))
        .await
        .assert_error(400, 20400);
    // Body limits apply here too.
    let app2 = app_with(|c| {
        c.admin_api = true;
        c.max_body_bytes = 64;
    })
    .await;
    let t2 = admin_token(&app2).await;
    let big = json!({"name": "x".repeat(200)});
    call(&app2, Method::POST, "/admin/v1/organizations", &t2, Some(big))
        .await
        .assert_error(413, 20413);
}

#[tokio::test]
async fn credentials_missing_wrong_or_scim_scoped_are_refused() {
    let (app, _t) = admin_app().await;
    let uri = "/admin/v1/organizations";
    let r = app.send(req(Method::GET, uri).build()).await;
    r.assert_error(401, 20401);
    assert!(r.header("www-authenticate").is_some());
    app.send(req(Method::GET, uri).bearer("not-a-token").build()).await.assert_error(401, 21401);
    // The bootstrap token (both SCIM scopes) and a read-only one: 403, whatever the route.
    let v =
        app.send(req(Method::GET, uri).bearer(&app.token).build()).await.assert_error(403, 20403);
    assert!(v["detail"].as_str().unwrap().contains("admin"));
    let (_, read) = app.token(app.org, &[Scope::Read]).await;
    let body = serde_json::to_vec(&json!({"name": "evil"})).unwrap();
    let r = app
        .send(req(Method::POST, uri).bearer(&read).bytes("application/json", body).build())
        .await;
    r.assert_error(403, 20403);
    assert_eq!(admin::list_orgs(app.state.store.as_ref()).await.unwrap().len(), 1);
}

#[tokio::test]
async fn an_admin_token_reaches_no_scim_route() {
    let (app, t) = admin_app().await;
    let other = app.org("other").await;
    app.send(req(Method::GET, "/scim/v2/Users").bearer(&t).build()).await.assert_error(403, 20403);
    let create =
        req(Method::POST, "/scim/v2/Users").bearer(&t).json(&json!({"userName": "a@x.io"})).build();
    app.send(create).await.assert_error(403, 20403);
    // Its own organization (family B) and another one.
    let own = format!("/Organizations/{}/scim/Users", app.org);
    assert_eq!(app.send(req(Method::GET, &own).bearer(&t).build()).await.status, 403);
    let theirs = format!("/Organizations/{other}/scim/Users");
    assert_eq!(app.send(req(Method::GET, &theirs).bearer(&t).build()).await.status, 403);
    // Nor can the CLI make a token that mixes admin with a SCIM scope.
    assert!(admin::parse_scopes(&["admin".into(), "scim:read".into()]).is_err());
}

#[tokio::test]
async fn a_token_made_over_the_admin_api_is_confined_to_its_organization() {
    let (app, t) = admin_app().await;
    let other = app.org("other").await;
    let tok = call(
        &app,
        Method::POST,
        &format!("/admin/v1/organizations/{other}/tokens"),
        &t,
        Some(json!({})),
    )
    .await
    .json();
    let secret = tok["token"].as_str().unwrap();
    let mine = format!("/Organizations/{other}/scim/Users");
    assert_eq!(app.send(req(Method::GET, &mine).bearer(secret).build()).await.status, 200);
    let theirs = format!("/Organizations/{}/scim/Users", app.org);
    app.send(req(Method::GET, &theirs).bearer(secret).build()).await.assert_error(403, 21403);
    // And a SCIM token never reaches the admin API.
    call(&app, Method::GET, "/admin/v1/organizations", secret, None).await.assert_error(403, 20403);
}

#[tokio::test]
async fn the_admin_api_is_off_by_default() {
    let app = app().await;
    let t = admin_token(&app).await;
    for (m, uri) in [
        (Method::GET, "/admin/v1/organizations".to_owned()),
        (Method::POST, "/admin/v1/organizations".to_owned()),
        (Method::GET, format!("/admin/v1/organizations/{}/tokens", app.org)),
        (Method::DELETE, "/admin/v1/clients/CLx".to_owned()),
    ] {
        call(&app, m, &uri, &t, None).await.assert_error(404, 22404);
    }
}

#[tokio::test]
async fn admin_listen_moves_the_api_off_the_main_listener() {
    let app = app_with(|c| {
        c.admin_api = true;
        c.admin_listen = Some("127.0.0.1:0".into());
    })
    .await;
    let t = admin_token(&app).await;
    call(&app, Method::GET, "/admin/v1/organizations", &t, None).await.assert_error(404, 22404);
    let admin_router = Router::new().fallback_service(scim_server::admin_service(&app.state));
    let r =
        send(&admin_router, req(Method::GET, "/admin/v1/organizations").bearer(&t).build()).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json().as_array().unwrap().len(), 1);
    // SCIM routes are not served there, and health probes are.
    let r =
        send(&admin_router, req(Method::GET, "/scim/v2/Users").bearer(&app.token).build()).await;
    r.assert_error(404, 22404);
    assert_eq!(send(&admin_router, req(Method::GET, "/healthz").build()).await.status, 200);
}

#[tokio::test]
async fn event_streams_and_audit_over_http() {
    let (app, t) = admin_app().await;
    let org = app.org.to_string();
    let base = format!("/admin/v1/organizations/{org}");
    // A poll stream with HS256: the secret in the creation's answer, never again.
    let r = call(
        &app,
        Method::POST,
        &format!("{base}/streams"),
        &t,
        Some(json!({"delivery": "poll", "alg": "HS256", "form": "full"})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.bytes));
    let created = r.json();
    assert_eq!(created["delivery"], "poll");
    assert_eq!(created["form"], "full");
    assert_eq!(created["state"], "active");
    assert_eq!(created["secret"].as_str().unwrap().len(), 64);
    let id = created["id"].as_str().unwrap().to_owned();
    let one = call(&app, Method::GET, &format!("/admin/v1/streams/{id}"), &t, None).await;
    assert_eq!(one.status, 200);
    assert!(one.json().get("secret").is_none());
    // A push stream with the defaults (ES256, notice); an invalid URL is a 400.
    let r = call(
        &app,
        Method::POST,
        &format!("{base}/streams"),
        &t,
        Some(json!({"url": "http://127.0.0.1:9/events"})),
    )
    .await;
    assert_eq!(r.status, 201);
    assert_eq!(
        (r.json()["alg"].clone(), r.json()["form"].clone()),
        (json!("ES256"), json!("notice"))
    );
    assert!(r.json().get("secret").is_none());
    let bad = json!({"url": "ftp://x/events"});
    call(&app, Method::POST, &format!("{base}/streams"), &t, Some(bad))
        .await
        .assert_error(400, 38400);
    let bad = json!({"delivery": "carrier-pigeon"});
    let r = call(&app, Method::POST, &format!("{base}/streams"), &t, Some(bad)).await;
    assert_eq!(r.status, 400);

    // A change is counted in the lag and listed by the audit, with its actor and attributes.
    let user = req(Method::POST, "/scim/v2/Users")
        .bearer(&app.token)
        .header("x-request-id", "req-audit-1")
        .json(&json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                      "userName": "audited@x.io"}))
        .build();
    let user = app.send(user).await;
    assert_eq!(user.status, 201);
    let uid = user.json()["id"].as_str().unwrap().to_owned();
    let list = call(&app, Method::GET, &format!("{base}/streams"), &t, None).await.json();
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert!(list.as_array().unwrap().iter().all(|s| s["lag"] == 1), "{list}");
    let audit = call(&app, Method::GET, &format!("{base}/audit?resource={uid}"), &t, None).await;
    assert_eq!(audit.status, 200);
    let audit = audit.json();
    assert_eq!(audit.as_array().unwrap().len(), 1, "{audit}");
    assert_eq!(audit[0]["op"], "create");
    assert_eq!(audit[0]["request_id"], "req-audit-1");
    assert!(audit[0]["actor"].as_str().unwrap().starts_with("TK"));
    assert!(audit[0]["attributes"].as_array().unwrap().contains(&json!("userName")));
    let r = call(&app, Method::GET, &format!("{base}/audit?since=yesterday"), &t, None).await;
    assert_eq!(r.status, 400);

    // Pause, resume, rotate the key, delete; an unknown stream is 25404.
    let path = format!("/admin/v1/streams/{id}");
    let r = call(&app, Method::PATCH, &path, &t, Some(json!({"state": "paused"}))).await;
    assert_eq!((r.status.as_u16(), r.json()["state"].clone()), (200, json!("paused")));
    let r = call(&app, Method::PATCH, &path, &t, Some(json!({"state": "active"}))).await;
    assert_eq!(r.json()["state"], "active");
    let r = call(&app, Method::POST, "/admin/v1/events/keys", &t, None).await;
    assert_eq!(r.status, 201);
    assert!(r.json()["kid"].as_str().unwrap().starts_with('k'));
    let r = call(&app, Method::DELETE, &path, &t, None).await;
    assert_eq!((r.status.as_u16(), r.json()["deleted"].clone()), (200, json!(true)));
    call(&app, Method::GET, &path, &t, None).await.assert_error(404, 25404);
    call(&app, Method::DELETE, &path, &t, None).await.assert_error(404, 25404);
    // Unknown organization: 23404; a SCIM credential: 403.
    call(&app, Method::GET, "/admin/v1/organizations/nope/streams", &t, None)
        .await
        .assert_error(404, 23404);
    call(&app, Method::GET, &format!("{base}/audit"), &app.token, None)
        .await
        .assert_error(403, 20403);
}
