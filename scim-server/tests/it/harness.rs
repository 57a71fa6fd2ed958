//! A small harness for the resource tests: an app over a fresh store (SQLite in memory, or
//! a fresh PostgreSQL database), an organization with a token, and a request builder
//! that drives the router with `tower::ServiceExt::oneshot`.
//!
//! PostgreSQL tests use `127.0.0.1:5432` (user `postgres`, trust) or `SCIM_TEST_PG_URL`
//! (a server URL; see `scim-test-support`), and fail when it is unreachable, unless `SCIM_TEST_BACKENDS` (a comma-separated list
//! such as `sqlite`) leaves `postgres` out.

use axum::Router;
use axum::body::Body;
use http::{HeaderMap, Request};
use scim_core::schema::Registry;
use scim_core::sid::OrganizationSid;
use scim_server::{AppState, Config};
use scim_store::{NewToken, Policy, Scope, Store};
use serde_json::Value;
use std::sync::Arc;
use tower::ServiceExt;

/// The public URL the test app believes it has.
pub const PUBLIC: &str = "http://scim.test";

/// A database backend to run against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// Whether `SCIM_TEST_BACKENDS` lets this backend run (unset: all).
    pub fn enabled(self) -> bool {
        let name = match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        };
        match std::env::var("SCIM_TEST_BACKENDS") {
            Ok(list) if !list.trim().is_empty() => {
                list.split(',').any(|b| b.trim().eq_ignore_ascii_case(name))
            }
            _ => true,
        }
    }
}

/// A running app over a fresh store.
#[derive(Clone)]
pub struct TestApp {
    pub router: Router,
    pub store: Arc<dyn Store>,
    pub org: OrganizationSid,
    pub token: String,
}

static SWEPT: std::sync::Once = std::sync::Once::new();

/// A fresh, empty PostgreSQL database; its URL. Databases are not dropped at the end of a
/// test (its app may still hold connections); the next run drops those of processes that
/// are gone.
async fn fresh_pg_database() -> String {
    use scim_test_support::Server;
    let server = Server::Postgres.url();
    SWEPT.call_once(|| Server::Postgres.sweep_stale(&server, "scim_server_it"));
    let name = scim_test_support::unique_name("scim_server_it");
    Server::Postgres.create_database(&server, &name).unwrap_or_else(|e| panic!("{e}"))
}

impl TestApp {
    /// An app on SQLite in memory, one organization without policies.
    pub async fn new() -> Self {
        Self::on(Backend::Sqlite, &[]).await
    }

    /// An app on SQLite in memory whose organization has `policies`.
    pub async fn with_policies(policies: &[Policy]) -> Self {
        Self::on(Backend::Sqlite, policies).await
    }

    /// An app on `backend`.
    pub async fn on(backend: Backend, policies: &[Policy]) -> Self {
        let registry = Arc::new(Registry::builtin());
        let url = match backend {
            Backend::Sqlite => "sqlite::memory:".to_owned(),
            Backend::Postgres => fresh_pg_database().await,
        };
        let store = scim_store::SeaStore::connect(&url, registry.clone()).await.expect("store");
        store.migrate().await.expect("migrations");
        let store: Arc<dyn Store> = Arc::new(store);
        let config = Config {
            public_url: Some(PUBLIC.into()),
            database_url: url,
            bulk_max_operations: 20,
            bulk_max_payload_bytes: 64 * 1024,
            max_page_size: 50,
            default_page_size: 20,
            ..Config::default()
        };
        let state = AppState::new(store.clone(), registry, Arc::new(config));
        let router = scim_server::router(state);
        let org = store.create_organization("test", policies).await.unwrap();
        let mut app = TestApp { router, store, org: org.sid, token: String::new() };
        app.token = app.token_for(org.sid, Scope::ALL).await;
        app
    }

    /// A new token on `org` with `scopes`.
    pub async fn token_for(&self, org: OrganizationSid, scopes: &[Scope]) -> String {
        let secret = scim_server::token::generate().unwrap();
        self.store
            .create_token(NewToken {
                org,
                name: Some("test".into()),
                scopes: scopes.to_vec(),
                secret_hash: scim_server::token::hash(&secret),
                expires: None,
            })
            .await
            .unwrap();
        secret
    }

    /// Another organization of the same store, with a token.
    pub async fn other_org(&self) -> (OrganizationSid, String) {
        let org = self.store.create_organization("other", &[]).await.unwrap();
        let token = self.token_for(org.sid, Scope::ALL).await;
        (org.sid, token)
    }

    /// A request to a family-A (`/scim/v2`) path.
    pub fn call(&self, method: &str, path: &str) -> Call<'_> {
        Call {
            app: self,
            method: method.to_owned(),
            path: format!("/scim/v2{path}"),
            headers: vec![("content-type".into(), "application/scim+json".into())],
            token: Some(self.token.clone()),
            body: None,
        }
    }

    /// A request to a path outside the families (`/events/...`).
    pub fn call_root(&self, method: &str, path: &str) -> Call<'_> {
        let mut c = self.call(method, path);
        c.path = path.to_owned();
        c
    }

    /// A request to a family-B (`/Organizations/{org}/scim`) path.
    pub fn call_b(&self, method: &str, path: &str) -> Call<'_> {
        let mut c = self.call(method, path);
        c.path = format!("/Organizations/{}/scim{path}", self.org);
        c
    }

    /// `GET path` on family A.
    pub async fn get(&self, path: &str) -> Resp {
        self.call("GET", path).send().await
    }

    /// `POST path` with a JSON body on family A.
    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.call("POST", path).json(body).send().await
    }

    /// `PATCH path` with a JSON body on family A.
    pub async fn patch(&self, path: &str, body: Value) -> Resp {
        self.call("PATCH", path).json(body).send().await
    }

    /// `PUT path` with a JSON body on family A.
    pub async fn put(&self, path: &str, body: Value) -> Resp {
        self.call("PUT", path).json(body).send().await
    }

    /// `DELETE path` on family A.
    pub async fn delete(&self, path: &str) -> Resp {
        self.call("DELETE", path).send().await
    }

    /// Creates a user, asserting 201; its id.
    pub async fn user(&self, user_name: &str) -> String {
        let r = self
            .post("/Users", serde_json::json!({"schemas":[scim_core::schema::USER_SCHEMA],"userName": user_name}))
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        r.id()
    }

    /// Creates a group with members, asserting 201; its id.
    pub async fn group(&self, name: &str, members: &[&str]) -> String {
        let members: Vec<Value> = members.iter().map(|m| serde_json::json!({"value": m})).collect();
        let r = self
            .post(
                "/Groups",
                serde_json::json!({"schemas":[scim_core::schema::GROUP_SCHEMA],"displayName": name,"members": members}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        r.id()
    }
}

/// A request being built.
pub struct Call<'a> {
    app: &'a TestApp,
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    token: Option<String>,
    body: Option<Vec<u8>>,
}

impl Call<'_> {
    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Uses another bearer token (`None`: no Authorization header).
    pub fn token(mut self, token: Option<&str>) -> Self {
        self.token = token.map(str::to_owned);
        self
    }

    /// A JSON body.
    pub fn json(mut self, v: Value) -> Self {
        self.body = Some(serde_json::to_vec(&v).unwrap());
        self
    }

    /// A raw body.
    pub fn raw(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.body = Some(bytes.into());
        self
    }

    /// Sends it through the router.
    pub async fn send(self) -> Resp {
        let mut b = Request::builder().method(self.method.as_str()).uri(&self.path);
        for (n, v) in &self.headers {
            b = b.header(n, v);
        }
        if let Some(t) = &self.token {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        let req = b.body(self.body.map(Body::from).unwrap_or_else(Body::empty)).unwrap();
        let res = self.app.router.clone().oneshot(req).await.unwrap();
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let raw = axum::body::to_bytes(res.into_body(), usize::MAX).await.unwrap().to_vec();
        let body = if raw.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&raw).unwrap_or(Value::Null)
        };
        Resp { status, headers, body, raw }
    }
}

/// A response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
    pub raw: Vec<u8>,
}

impl Resp {
    /// The body's `id`.
    pub fn id(&self) -> String {
        self.body["id"].as_str().unwrap_or_else(|| panic!("no id in {}", self.body)).to_owned()
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the status and, for errors, that the body is a SCIM error.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Self {
        assert_eq!(self.status, status, "body: {}", self.body);
        if status >= 400 {
            assert_eq!(self.body["schemas"][0], scim_core::error::ERROR_SCHEMA, "{}", self.body);
            assert_eq!(self.body["status"], status.to_string());
        }
        self
    }

    /// The `scimType` of an error body.
    pub fn scim_type(&self) -> &str {
        self.body["scimType"].as_str().unwrap_or_default()
    }

    /// The numeric code of an error: the body's `code` where the body has one (family B),
    /// else the anchor of the `Link: <...#code>; rel="help"` header.
    pub fn code(&self) -> u64 {
        if let Some(c) = self.body["code"].as_u64() {
            return c;
        }
        let link = self.header("link").unwrap_or_default();
        assert!(link.ends_with("; rel=\"help\""), "no help link: {link:?} {}", self.body);
        let anchor = link.split('#').nth(1).unwrap_or_default();
        anchor.trim_end_matches("; rel=\"help\"").trim_end_matches('>').parse().unwrap_or_default()
    }
}

/// The ids of a ListResponse's resources.
pub fn ids(list: &Value) -> Vec<String> {
    list["Resources"]
        .as_array()
        .map(|a| a.iter().filter_map(|r| r["id"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// The member ids of a group document, sorted.
pub fn member_ids(group: &Value) -> Vec<String> {
    let mut v: Vec<String> = group["members"]
        .as_array()
        .map(|a| a.iter().filter_map(|m| m["value"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    v.sort();
    v
}
