//! Shared helpers: a router over a fresh in-memory store, a request builder, and a
//! response reader.

use axum::Router;
use axum::body::Body;
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode, header};
use scim_core::schema::Registry;
use scim_core::sid::OrganizationSid;
use scim_server::admin;
use scim_server::{AppState, Config, router};
use scim_store::{Scope, SeaStore, Store};
use serde_json::Value;
use std::sync::Arc;
use tower::ServiceExt;

/// A router over a fresh database with one organization and a token with both scopes.
pub struct TestApp {
    pub router: Router,
    pub state: AppState,
    pub org: OrganizationSid,
    pub token: String,
}

pub async fn store(registry: Arc<Registry>) -> Arc<dyn Store> {
    let store = SeaStore::connect("sqlite::memory:", registry).await.unwrap();
    store.migrate().await.unwrap();
    Arc::new(store)
}

pub async fn app() -> TestApp {
    app_with(|_| {}).await
}

pub async fn app_with(configure: impl FnOnce(&mut Config)) -> TestApp {
    let mut config = Config { docs_base: Some("https://docs.test".into()), ..Config::default() };
    configure(&mut config);
    app_from(config, Registry::builtin()).await
}

pub async fn app_from(config: Config, registry: Registry) -> TestApp {
    let registry = Arc::new(registry);
    let store = store(registry.clone()).await;
    let boot = admin::bootstrap(store.as_ref(), None).await.unwrap().unwrap();
    let state = AppState::new(store, registry, Arc::new(config));
    TestApp { router: router(state.clone()), state, org: boot.org.sid, token: boot.token.token }
}

impl TestApp {
    /// A token on `org` with `scopes`.
    pub async fn token(&self, org: OrganizationSid, scopes: &[Scope]) -> (String, String) {
        let t =
            admin::create_token(self.state.store.as_ref(), org, scopes.to_vec(), None, None, None)
                .await
                .unwrap();
        (t.id, t.token)
    }

    /// A second organization.
    pub async fn org(&self, name: &str) -> OrganizationSid {
        admin::create_org(self.state.store.as_ref(), name, &[]).await.unwrap().sid
    }

    pub async fn send(&self, req: Request<Body>) -> Resp {
        send(&self.router, req).await
    }

    /// GET with the app's token.
    pub async fn get(&self, uri: &str) -> Resp {
        self.send(req(Method::GET, uri).bearer(&self.token).build()).await
    }
}

pub async fn send(router: &Router, req: Request<Body>) -> Resp {
    let res = router.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX).await.unwrap().to_vec();
    Resp { status, headers, bytes }
}

/// A response, read whole.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub bytes: Vec<u8>,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.bytes)))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts a SCIM error with this status and numeric code; returns the body.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: u32) -> Value {
        assert_eq!(self.status.as_u16(), status, "{}", String::from_utf8_lossy(&self.bytes));
        let ct = self.header("content-type").unwrap_or_default();
        assert!(ct.starts_with("application/scim+json"), "content type {ct}");
        let v = self.json();
        assert_eq!(v["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error");
        assert_eq!(v["status"], status.to_string());
        let link = format!("https://docs.test/errors#{code}");
        assert_eq!(self.header("link"), Some(format!("<{link}>; rel=\"help\"").as_str()), "{v}");
        // Family B's body carries the code too (Twilio's contract); elsewhere the body
        // holds exactly the RFC 7644 3.12 members.
        if v.get("code").is_some() {
            assert_eq!(v["code"], code, "{v}");
            assert_eq!(v["moreInfo"], link);
        } else {
            assert_rfc_error_members(&v);
        }
        v
    }
}

/// A request builder.
pub struct ReqBuilder {
    inner: http::request::Builder,
    body: Body,
}

pub fn req(method: Method, uri: &str) -> ReqBuilder {
    ReqBuilder { inner: Request::builder().method(method).uri(uri), body: Body::empty() }
}

impl ReqBuilder {
    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.inner = self.inner.header(name, HeaderValue::from_bytes(value.as_bytes()).unwrap());
        self
    }

    pub fn raw_header(mut self, name: &str, value: &[u8]) -> Self {
        self.inner = self.inner.header(name, HeaderValue::from_bytes(value).unwrap());
        self
    }

    pub fn json(self, v: &Value) -> Self {
        let bytes = serde_json::to_vec(v).unwrap();
        self.bytes("application/scim+json", bytes)
    }

    pub fn bytes(mut self, content_type: &str, bytes: Vec<u8>) -> Self {
        self.inner = self
            .inner
            .header(header::CONTENT_TYPE, content_type)
            .header(header::CONTENT_LENGTH, bytes.len());
        self.body = Body::from(bytes);
        self
    }

    pub fn build(self) -> Request<Body> {
        self.inner.body(self.body).unwrap()
    }
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

pub fn gunzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes).read_to_end(&mut out).unwrap();
    out
}

/// The body has exactly the members RFC 7644 3.12 defines for an error.
#[track_caller]
pub fn assert_rfc_error_members(v: &Value) {
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    for k in &keys {
        assert!(["schemas", "status", "scimType", "detail"].contains(k), "member {k} in {v}");
    }
    assert!(keys.contains(&"detail"), "{v}");
}
