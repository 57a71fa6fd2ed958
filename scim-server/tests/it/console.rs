//! The operator console (`docs/console.md`) at the router: off by default, sign-in with an
//! admin token only, the session cookie's attributes, the CSP and other headers on every
//! response, CSRF and origin checks on every POST, a secret shown once, and the request
//! log, activity feed and directory fed by real SCIM requests.

use crate::support::{TestApp, app, app_with, req};
use http::Method;
use http_body_util::BodyExt;
use scim_server::admin;
use scim_server::console::CSP;
use serde_json::json;
use std::time::Duration;

/// A console session: the app, its admin token, the cookie and the CSRF token.
struct Session {
    app: TestApp,
    admin: String,
    cookie: String,
    csrf: String,
}

async fn admin_token(app: &TestApp) -> String {
    let scopes = admin::parse_scopes(&["admin".to_owned()]).unwrap();
    admin::create_token(app.state.store.as_ref(), app.org, scopes, Some("ops".into()), None, None)
        .await
        .unwrap()
        .token
}

async fn console_app() -> TestApp {
    app_with(|c| {
        c.admin_api = true;
        c.console = true;
        c.auth_cache_ttl_ms = 0;
    })
    .await
}

fn form(fields: &[(&str, &str)]) -> Vec<u8> {
    serde_urlencoded::to_string(fields).unwrap().into_bytes()
}

async fn login(app: &TestApp, token: &str) -> crate::support::Resp {
    app.send(
        req(Method::POST, "/console/login")
            .bytes("application/x-www-form-urlencoded", form(&[("token", token)]))
            .build(),
    )
    .await
}

/// The value of the first `name="csrf"` field of a page.
fn csrf_of(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("a CSRF field") + 19;
    page[at..].split('"').next().unwrap().to_owned()
}

async fn signed_in() -> Session {
    let app = console_app().await;
    let admin = admin_token(&app).await;
    let r = login(&app, &admin).await;
    assert_eq!(r.status, 303, "{}", String::from_utf8_lossy(&r.bytes));
    let set = r.header("set-cookie").unwrap().to_owned();
    let cookie = set.split(';').next().unwrap().to_owned();
    let mut s = Session { app, admin, cookie, csrf: String::new() };
    let page = s.get("/console/orgs").await;
    s.csrf = csrf_of(&page.text());
    s
}

trait Text {
    fn text(&self) -> String;
}

impl Text for crate::support::Resp {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
}

impl Session {
    async fn get(&self, uri: &str) -> crate::support::Resp {
        self.app.send(req(Method::GET, uri).header("cookie", &self.cookie).build()).await
    }

    async fn post(&self, uri: &str, fields: &[(&str, &str)]) -> crate::support::Resp {
        let mut all = vec![("csrf", self.csrf.as_str())];
        all.extend_from_slice(fields);
        self.post_raw(uri, &all, &[]).await
    }

    async fn post_raw(
        &self,
        uri: &str,
        fields: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> crate::support::Resp {
        let mut r = req(Method::POST, uri)
            .header("cookie", &self.cookie)
            .bytes("application/x-www-form-urlencoded", form(fields));
        for (k, v) in headers {
            r = r.header(k, v);
        }
        self.app.send(r.build()).await
    }
}

#[tokio::test]
async fn the_console_is_off_by_default() {
    let plain = app().await;
    plain.send(req(Method::GET, "/console/login").build()).await.assert_error(404, 22404);
    // The admin API alone does not bring it.
    let api = app_with(|c| c.admin_api = true).await;
    api.send(req(Method::GET, "/console/orgs").build()).await.assert_error(404, 22404);
    // And it needs the admin API.
    let bad = scim_server::Config { console: true, ..scim_server::Config::default() };
    assert!(bad.validate().unwrap_err().to_string().contains("console needs admin_api"));
}

#[tokio::test]
async fn pages_need_a_session() {
    let app = console_app().await;
    for uri in ["/console/orgs", "/console/requests", "/console/activity", "/console/health"] {
        let r = app.send(req(Method::GET, uri).build()).await;
        assert_eq!(r.status, 303, "{uri}");
        assert_eq!(r.header("location"), Some("/console/login"));
    }
    let r = app
        .send(req(Method::GET, "/console/orgs").header("cookie", "scim_console=x").build())
        .await;
    assert_eq!(r.status, 303);
    let r = app
        .send(
            req(Method::POST, "/console/orgs")
                .bytes("application/x-www-form-urlencoded", form(&[("name", "x")]))
                .build(),
        )
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    let r = app.send(req(Method::GET, "/console/activity/stream").build()).await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn only_an_admin_token_signs_in() {
    let app = console_app().await;
    for token in [app.token.as_str(), "not-a-token", ""] {
        let r = login(&app, token).await;
        assert_eq!(r.status, 401, "{token}");
        assert!(r.header("set-cookie").is_none());
        assert!(r.text().contains("role=\"alert\""), "{}", r.text());
    }
    // A cross-site sign-in form is refused before the token is looked at.
    let admin = admin_token(&app).await;
    let r = app
        .send(
            req(Method::POST, "/console/login")
                .header("origin", "https://evil.example")
                .bytes("application/x-www-form-urlencoded", form(&[("token", &admin)]))
                .build(),
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(login(&app, &admin).await.status, 303);
}

#[tokio::test]
async fn the_session_cookie_is_http_only_strict_and_secure_over_https() {
    let app = console_app().await;
    let admin = admin_token(&app).await;
    let r = login(&app, &admin).await;
    let cookie = r.header("set-cookie").unwrap();
    let (pair, attrs) = cookie.split_once("; ").unwrap();
    let id = pair.strip_prefix("scim_console=").unwrap();
    assert_eq!(id.len(), 64, "256 bits in hex");
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(attrs, "HttpOnly; SameSite=Strict; Path=/console");
    let r = app
        .send(
            req(Method::POST, "/console/login")
                .header("x-forwarded-proto", "https")
                .bytes("application/x-www-form-urlencoded", form(&[("token", &admin)]))
                .build(),
        )
        .await;
    assert!(r.header("set-cookie").unwrap().ends_with("; Secure"), "{:?}", r.header("set-cookie"));
    // Two sign-ins, two sessions.
    assert_ne!(r.header("set-cookie").unwrap(), cookie);
}

#[tokio::test]
async fn every_console_response_carries_the_csp() {
    let s = signed_in().await;
    let org = s.app.org.to_string();
    let mut checked = 0;
    for uri in [
        "/console/orgs".to_owned(),
        format!("/console/orgs/{org}"),
        format!("/console/orgs/{org}/directory"),
        "/console/requests".into(),
        "/console/requests/rows".into(),
        "/console/activity".into(),
        "/console/health".into(),
        format!("/console/health?org={org}"),
        "/console/assets/console.css".into(),
        "/console/assets/console.js".into(),
        "/console".into(),
        "/console/orgs/ORnope".into(),
    ] {
        let r = s.get(&uri).await;
        assert!(r.status.as_u16() < 500, "{uri}: {}", r.status);
        assert_eq!(r.header("content-security-policy"), Some(CSP), "{uri}");
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"), "{uri}");
        assert_eq!(r.header("referrer-policy"), Some("no-referrer"), "{uri}");
        assert!(r.header("cache-control").is_some(), "{uri}");
        let body = r.text();
        // No inline script or style anywhere.
        assert!(
            !body.contains("<script>") && !body.contains("<style") && !body.contains(" style="),
            "{uri}"
        );
        checked += 1;
    }
    let r = s.app.send(req(Method::GET, "/console/login").build()).await;
    assert_eq!(r.header("content-security-policy"), Some(CSP));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert!(CSP.contains("default-src 'none'") && CSP.contains("frame-ancestors 'none'"));
    assert_eq!(checked, 12);
}

#[tokio::test]
async fn every_post_needs_the_csrf_token_and_our_origin() {
    let s = signed_in().await;
    let before = admin::list_orgs(s.app.state.store.as_ref()).await.unwrap().len();
    let r = s.post_raw("/console/orgs", &[("name", "acme")], &[]).await;
    assert_eq!(r.status, 403, "no token");
    let r = s
        .post_raw("/console/orgs", &[("csrf", "0".repeat(64).as_str()), ("name", "acme")], &[])
        .await;
    assert_eq!(r.status, 403, "a wrong token");
    let csrf = s.csrf.clone();
    let r = s
        .post_raw(
            "/console/orgs",
            &[("csrf", &csrf), ("name", "acme")],
            &[("origin", "https://evil.example")],
        )
        .await;
    assert_eq!(r.status, 403, "another origin");
    let r = s
        .post_raw(
            "/console/orgs",
            &[("csrf", &csrf), ("name", "acme")],
            &[("sec-fetch-site", "cross-site")],
        )
        .await;
    assert_eq!(r.status, 403, "a cross-site fetch");
    // `Origin: null` (what a browser sends under `Referrer-Policy: no-referrer`) passes only
    // with a browser's `Sec-Fetch-Site: same-origin`.
    let r = s
        .post_raw("/console/orgs", &[("csrf", &csrf), ("name", "acme")], &[("origin", "null")])
        .await;
    assert_eq!(r.status, 403, "Origin: null alone");
    assert_eq!(admin::list_orgs(s.app.state.store.as_ref()).await.unwrap().len(), before);
    let r = s
        .post_raw(
            "/console/orgs",
            &[("csrf", &csrf), ("name", "acme"), ("policies", "soft-delete")],
            &[("origin", "null"), ("sec-fetch-site", "same-origin")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.text());
    let orgs = admin::list_orgs(s.app.state.store.as_ref()).await.unwrap();
    let acme = orgs.iter().find(|o| o.name == "acme").unwrap();
    assert_eq!(r.header("location"), Some(format!("/console/orgs/{}", acme.sid).as_str()));
    assert_eq!(acme.policies.len(), 1);
    // Rename and policies go through the same functions as the admin API.
    let base = format!("/console/orgs/{}", acme.sid);
    assert_eq!(s.post(&format!("{base}/rename"), &[("name", "acme2")]).await.status, 303);
    assert_eq!(s.post(&format!("{base}/policies"), &[]).await.status, 303);
    let o = admin::resolve_org(s.app.state.store.as_ref(), &acme.sid.to_string()).await.unwrap();
    assert_eq!((o.name.as_str(), o.policies.len()), ("acme2", 0));
    // Sign-out needs the token too, then the cookie is dead.
    assert_eq!(s.post_raw("/console/logout", &[], &[]).await.status, 403);
    assert_eq!(s.post("/console/logout", &[]).await.status, 303);
    assert_eq!(s.get("/console/orgs").await.status, 303);
}

#[tokio::test]
async fn a_new_secret_is_shown_once_and_works() {
    let s = signed_in().await;
    let base = format!("/console/orgs/{}", s.app.org);
    let r = s
        .post(
            &format!("{base}/tokens"),
            &[("name", "entra"), ("scopes", "scim:read"), ("scopes", "scim:write")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.text());
    assert_eq!(r.header("location"), Some(base.as_str()));
    // The redirect carries no secret.
    assert!(r.bytes.is_empty() && r.header("location").is_some());
    let page = s.get(&base).await.text();
    let at = page.find("id=\"secret-value\"").expect("the secret box");
    let secret = page[at..].split("value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    assert!(secret.len() >= 32, "{secret}");
    assert!(page.contains("Tenant URL"), "{page}");
    assert!(page.contains("/scim/v2</code>"), "{page}");
    assert!(page.contains("data-copy=\"secret-value\""));
    // Shown once: the next view of the page does not have it.
    let again = s.get(&base).await.text();
    assert!(!again.contains(&secret));
    assert!(!again.contains("secret-value"));
    // And it is a working SCIM token.
    assert_eq!(
        s.app.send(req(Method::GET, "/scim/v2/Users").bearer(&secret).build()).await.status,
        200
    );
    // An admin scope is refused here, as in the admin API.
    assert_eq!(s.post(&format!("{base}/tokens"), &[("scopes", "admin")]).await.status, 303);
    assert!(s.get(&base).await.text().contains("created only with the CLI"));
    // Revoking it from the page stops it.
    let tokens = admin::list_tokens(s.app.state.store.as_ref(), s.app.org).await.unwrap();
    let entra = tokens.iter().find(|t| t.name.as_deref() == Some("entra")).unwrap();
    let r = s.post(&format!("{base}/tokens/{}/revoke", entra.id), &[]).await;
    assert_eq!(r.status, 303);
    let r = s.app.send(req(Method::GET, "/scim/v2/Users").bearer(&secret).build()).await;
    r.assert_error(401, 21401);
    // An OAuth client: its secret once, with the token endpoint.
    let r = s.post(&format!("{base}/clients"), &[("scopes", "scim:read")]).await;
    assert_eq!(r.status, 303);
    let page = s.get(&base).await.text();
    assert!(page.contains("/oauth2/token</code>"), "{page}");
    assert!(!s.get(&base).await.text().contains("secret-value"));
}

#[tokio::test]
async fn scim_requests_appear_in_the_request_log_with_their_error_codes() {
    let s = signed_in().await;
    let user =
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "ada"});
    let r = s
        .app
        .send(req(Method::POST, "/scim/v2/Users").bearer(&s.app.token).json(&user).build())
        .await;
    assert_eq!(r.status, 201);
    let rid = r.header("x-request-id").unwrap().to_owned();
    let bad = s.app.get("/scim/v2/Users?filter=userName%20zz%20%22secret-ish%22").await;
    assert_eq!(bad.status, 400);
    let page = s.get("/console/requests").await.text();
    assert!(page.contains(&rid), "{page}");
    assert!(page.contains("/scim/v2/Users"));
    assert!(page.contains(&s.app.org.to_string()));
    // The failure's code links to its documentation; no query string is kept.
    assert!(page.contains("href=\"https://docs.test/errors#21400\""), "{page}");
    assert!(!page.contains("secret-ish"));
    // The console's own requests are not logged.
    assert!(!page.contains("<td class=\"path\">/console"));
    // Filters: status class, error code, organization.
    let only_errors = s.get("/console/requests?status=4xx").await.text();
    assert!(only_errors.contains("errors#21400") && !only_errors.contains(&rid));
    let by_code = s.get("/console/requests/rows?code=21400").await.text();
    assert!(by_code.contains("21400") && !by_code.contains(&rid));
    let by_name = s.get("/console/requests/rows?org=default").await.text();
    assert!(by_name.contains(&rid), "{by_name}");
    let other = s.get("/console/requests?org=ORnone").await.text();
    assert!(other.contains("No request matches."));
    // The health page counts them.
    let health = s.get(&format!("/console/health?org={}", s.app.org)).await.text();
    assert!(health.contains("<svg"), "{health}");
    assert!(health.contains("errors#21400"));
}

#[tokio::test]
async fn changes_show_in_the_activity_feed_and_its_stream() {
    let s = signed_in().await;
    let user =
        |n: &str| json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": n});
    let r = s
        .app
        .send(req(Method::POST, "/scim/v2/Users").bearer(&s.app.token).json(&user("ada")).build())
        .await;
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let page = s.get("/console/activity").await.text();
    assert!(page.contains(&id), "{page}");
    assert!(page.contains("data-stream=\"/console/activity/stream?"));
    // The stream sends what commits after it opened.
    let stream = s.app.router.clone();
    let cookie = s.cookie.clone();
    let res = tower::ServiceExt::oneshot(
        stream,
        req(Method::GET, &format!("/console/activity/stream?after=0&actor=&org={}", s.app.org))
            .header("cookie", &cookie)
            .build(),
    )
    .await
    .unwrap();
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let mut body = res.into_body();
    let frame =
        tokio::time::timeout(Duration::from_secs(5), body.frame()).await.unwrap().unwrap().unwrap();
    let text = String::from_utf8(frame.into_data().unwrap().to_vec()).unwrap();
    assert!(text.contains("event: change") && text.contains(&id), "{text}");
    let r = s
        .app
        .send(req(Method::POST, "/scim/v2/Users").bearer(&s.app.token).json(&user("bob")).build())
        .await;
    let bob = r.json()["id"].as_str().unwrap().to_owned();
    let frame =
        tokio::time::timeout(Duration::from_secs(5), body.frame()).await.unwrap().unwrap().unwrap();
    let text = String::from_utf8(frame.into_data().unwrap().to_vec()).unwrap();
    assert!(text.contains(&bob) && text.contains("\"op\":\"create\""), "{text}");
    // Filtered by operation: a delete only.
    let none = s.get("/console/activity?op=delete").await.text();
    assert!(!none.contains(&id));
}

#[tokio::test]
async fn the_directory_takes_a_scim_filter_and_shows_history() {
    let s = signed_in().await;
    let user =
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "ada"});
    let r = s
        .app
        .send(req(Method::POST, "/scim/v2/Users").bearer(&s.app.token).json(&user).build())
        .await;
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let base = format!("/console/orgs/{}/directory", s.app.org);
    let list = s.get(&format!("{base}?filter=userName%20eq%20%22ada%22")).await.text();
    assert!(list.contains(&id), "{list}");
    let bad = s.get(&format!("{base}?filter=userName%20zz%20%22ada%22")).await.text();
    assert!(bad.contains("errors#21400") && bad.contains("invalidFilter"), "{bad}");
    let one = s.get(&format!("{base}/{id}")).await.text();
    assert!(one.contains("&quot;userName&quot;: &quot;ada&quot;"), "{one}");
    assert!(one.contains("create"));
}

#[tokio::test]
async fn revoking_the_admin_token_ends_its_sessions() {
    let s = signed_in().await;
    let id = admin::list_tokens(s.app.state.store.as_ref(), s.app.org)
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.name.as_deref() == Some("ops"))
        .unwrap()
        .id;
    assert_eq!(s.get("/console/orgs").await.status, 200);
    admin::revoke_token(s.app.state.store.as_ref(), &id).await.unwrap();
    assert_eq!(s.get("/console/orgs").await.status, 303);
    let _ = &s.admin;
}

#[tokio::test]
async fn a_groups_members_are_paged() {
    let s = signed_in().await;
    let mut members = Vec::new();
    for i in 0..101 {
        let user = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": format!("u{i}")});
        let r = s
            .app
            .send(req(Method::POST, "/scim/v2/Users").bearer(&s.app.token).json(&user).build())
            .await;
        members.push(json!({"value": r.json()["id"]}));
    }
    let group = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "all", "members": members});
    let r = s
        .app
        .send(req(Method::POST, "/scim/v2/Groups").bearer(&s.app.token).json(&group).build())
        .await;
    assert_eq!(r.status, 201);
    let gid = r.json()["id"].as_str().unwrap().to_owned();
    let base = format!("/console/orgs/{}/directory/{gid}", s.app.org);
    let first = s.get(&base).await.text();
    assert!(first.contains("Members (101)") && first.contains("Page 1 of 2"), "{first}");
    assert_eq!(first.matches("<li>").count(), 100);
    let second = s.get(&format!("{base}?page=2")).await.text();
    assert_eq!(second.matches("<li>").count(), 1);
    let groups = s.get(&format!("/console/orgs/{}/directory?kind=groups", s.app.org)).await.text();
    assert!(groups.contains(&gid));
}

#[tokio::test]
async fn with_admin_listen_the_console_moves_with_the_admin_api() {
    let app = app_with(|c| {
        c.admin_api = true;
        c.console = true;
        c.admin_listen = Some("127.0.0.1:0".into());
    })
    .await;
    app.send(req(Method::GET, "/console/login").build()).await.assert_error(404, 22404);
    let admin_router = axum::Router::new().fallback_service(scim_server::admin_service(&app.state));
    let r = crate::support::send(&admin_router, req(Method::GET, "/console/login").build()).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-security-policy"), Some(CSP));
    // SCIM requests on the main listener still reach the request log the console shows.
    let admin = admin_token(&app).await;
    let r = crate::support::send(
        &admin_router,
        req(Method::POST, "/console/login")
            .bytes("application/x-www-form-urlencoded", form(&[("token", &admin)]))
            .build(),
    )
    .await;
    let cookie = r.header("set-cookie").unwrap().split(';').next().unwrap().to_owned();
    let rid = app.get("/scim/v2/Users").await.header("x-request-id").unwrap().to_owned();
    let page = crate::support::send(
        &admin_router,
        req(Method::GET, "/console/requests").header("cookie", &cookie).build(),
    )
    .await;
    assert!(page.text().contains(&rid), "{}", page.text());
}

#[tokio::test]
async fn an_event_stream_is_paused_and_resumed_from_the_organization_page() {
    use scim_server::events::manage::{self, NewStream};
    use scim_store::{Delivery, EventForm, SigningAlg, StreamState};
    let s = signed_in().await;
    let store = s.app.state.store.as_ref();
    let stream = manage::create_stream(
        store,
        NewStream {
            org: s.app.org,
            delivery: Delivery::Poll,
            url: None,
            events: vec![],
            form: EventForm::Notice,
            alg: SigningAlg::ES256,
        },
    )
    .await
    .unwrap()
    .stream;
    let base = format!("/console/orgs/{}", s.app.org);
    let page = s.get(&base).await.text();
    assert!(page.contains(&format!("{base}/streams/{}/state", stream.id)), "{page}");
    assert!(page.contains(">Pause</button>"), "{page}");
    let state = format!("{base}/streams/{}/state", stream.id);
    let r = s.post(&state, &[("state", "paused")]).await;
    assert_eq!(r.status, 303);
    let read = store.stream(&stream.id).await.unwrap().unwrap();
    assert_eq!(read.state, StreamState::Paused);
    let page = s.get(&base).await.text();
    assert!(page.contains(&format!("Stream {} paused.", stream.id)), "{page}");
    assert!(page.contains(">Resume</button>"), "{page}");
    assert_eq!(s.post(&state, &[("state", "active")]).await.status, 303);
    assert_eq!(store.stream(&stream.id).await.unwrap().unwrap().state, StreamState::Active);
    // Without the CSRF token nothing changes.
    let r = s.post_raw(&state, &[("state", "paused")], &[]).await;
    assert_eq!(r.status, 403);
    assert_eq!(store.stream(&stream.id).await.unwrap().unwrap().state, StreamState::Active);
    // A stream of another organization is not found through this one.
    let other = s.app.org("other").await;
    let r = s
        .post(&format!("/console/orgs/{other}/streams/{}/state", stream.id), &[("state", "paused")])
        .await;
    assert_eq!(r.status, 303);
    assert!(s.get(&format!("/console/orgs/{other}")).await.text().contains("no event stream"));
    assert_eq!(store.stream(&stream.id).await.unwrap().unwrap().state, StreamState::Active);
    // An unknown state is refused.
    s.post(&state, &[("state", "stopped")]).await;
    assert!(s.get(&base).await.text().contains("unknown stream state"));
}

/// The capture ids the request log links to, newest first.
fn capture_links(page: &str) -> Vec<String> {
    page.split("href=\"/console/requests/captures/")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_debug_capture_keeps_one_organizations_bodies_redacted_for_a_while() {
    let s = signed_in().await;
    let base = format!("/console/orgs/{}", s.app.org);
    let capture = format!("{base}/capture");
    let user = |name: &str| {
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name,
               "password": "Sup3r-secret-1"})
    };
    let create = |token: &str, name: &str| {
        req(Method::POST, "/scim/v2/Users").bearer(token).json(&user(name)).build()
    };
    // Off: no body is kept.
    assert_eq!(s.app.send(create(&s.app.token, "before")).await.status, 201);
    assert!(s.get(&base).await.text().contains(">Start capture</button>"));
    assert!(capture_links(&s.get("/console/requests").await.text()).is_empty());
    // Switching needs the CSRF token; a duration over an hour is refused.
    assert_eq!(s.post_raw(&capture, &[("minutes", "15")], &[]).await.status, 403);
    assert_eq!(s.post(&capture, &[("minutes", "61")]).await.status, 303);
    assert!(s.get(&base).await.text().contains("1 to 60 minutes"));
    assert_eq!(s.post(&capture, &[("minutes", "15")]).await.status, 303);
    let page = s.get(&base).await.text();
    assert!(page.contains("Debug capture on until") && page.contains("Stop capture"), "{page}");
    // Another organization's requests are not captured.
    let other = s.app.org("other").await;
    let (_, other_token) = s.app.token(other, scim_store::Scope::ALL).await;
    assert_eq!(s.app.send(create(&other_token, "elsewhere")).await.status, 201);
    assert!(capture_links(&s.get("/console/requests").await.text()).is_empty());
    // This one's are, passwords redacted, query strings kept.
    let r = s.app.send(create(&s.app.token, "captured")).await;
    assert_eq!(r.status, 201);
    let id = serde_json::from_slice::<serde_json::Value>(&r.bytes).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "password", "value": "Sup3r-secret-2"}]});
    let r = s
        .app
        .send(
            req(Method::PATCH, &format!("/scim/v2/Users/{id}"))
                .bearer(&s.app.token)
                .json(&patch)
                .build(),
        )
        .await;
    assert!(r.status == 200 || r.status == 204, "{}", r.status);
    assert_eq!(s.app.get("/scim/v2/Users?filter=userName%20eq%20%22captured%22").await.status, 200);
    let links = capture_links(&s.get("/console/requests").await.text());
    assert_eq!(links.len(), 3, "{links:?}");
    let (get, patched, created) = (&links[0], &links[1], &links[2]);
    let page = s.get(&format!("/console/requests/captures/{created}")).await.text();
    assert!(page.contains("&quot;userName&quot;: &quot;captured&quot;"), "{page}");
    assert!(page.contains("[redacted]") && !page.contains("Sup3r-secret"), "{page}");
    assert!(page.contains(&format!("&quot;id&quot;: &quot;{id}&quot;")), "{page}");
    let page = s.get(&format!("/console/requests/captures/{patched}")).await.text();
    assert!(page.contains("[redacted]") && !page.contains("Sup3r-secret"), "{page}");
    let page = s.get(&format!("/console/requests/captures/{get}")).await.text();
    assert!(page.contains("filter=userName%20eq%20%22captured%22"), "{page}");
    assert!(page.contains("&quot;totalResults&quot;: 1"), "{page}");
    assert_eq!(s.get("/console/requests/captures/999999").await.status, 404);
    // Stopped: nothing more is kept.
    assert_eq!(s.post(&capture, &[("minutes", "0")]).await.status, 303);
    assert!(s.get(&base).await.text().contains("Debug capture stopped."));
    assert_eq!(s.app.send(create(&s.app.token, "after")).await.status, 201);
    assert_eq!(capture_links(&s.get("/console/requests").await.text()).len(), 3);
}
