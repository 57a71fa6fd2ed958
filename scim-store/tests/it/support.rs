//! The backend factory and fixtures.

use futures::FutureExt;
use scim_core::resource::Resource;
use scim_core::schema::{Registry, ResourceKind};
use scim_core::sid::{OrganizationSid, ResourceId, UserSid};
use scim_store::{NewResource, SqlStore, Store, StoreOptions, Stored};
use serde_json::{Value, json};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

/// The id of a stored resource of `kind`, as the store takes it.
pub fn rid(kind: ResourceKind, id: &str) -> ResourceId {
    ResourceId::parse(kind, id).unwrap()
}

/// A stored user's sid.
pub fn usid(id: &str) -> UserSid {
    UserSid::parse(id).unwrap()
}

/// A vendor extension used by the filter tests.
pub const ACME: &str = "urn:acme:scim:schemas:1.0:UserExtension";

pub fn registry() -> Arc<Registry> {
    let mut r = Registry::builtin();
    r.add_extension_json(&format!(
        r#"{{"id":"{ACME}","name":"Acme","resourceType":"User","attributes":[
            {{"name":"organizationId","type":"string","caseExact":true}},
            {{"name":"level","type":"integer"}},
            {{"name":"score","type":"decimal"}},
            {{"name":"ssoEnabled","type":"boolean"}},
            {{"name":"region","type":"string"}},
            {{"name":"since","type":"dateTime"}}]}}"#
    ))
    .unwrap();
    Arc::new(r)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    SqliteFile,
    SqliteMemory,
    Postgres,
    MySql,
}

pub fn backends() -> Vec<Backend> {
    let all = vec![Backend::SqliteFile, Backend::SqliteMemory, Backend::Postgres, Backend::MySql];
    let Ok(spec) = std::env::var("SCIM_TEST_BACKENDS") else { return all };
    if spec.trim().is_empty() || spec.trim() == "all" {
        return all;
    }
    let mut out = Vec::new();
    for part in spec.split(',').map(str::trim) {
        match part {
            "sqlite" => out.extend([Backend::SqliteFile, Backend::SqliteMemory]),
            "sqlite-file" => out.push(Backend::SqliteFile),
            "sqlite-memory" => out.push(Backend::SqliteMemory),
            "postgres" | "pg" => out.push(Backend::Postgres),
            "mysql" | "mariadb" => out.push(Backend::MySql),
            other => panic!("SCIM_TEST_BACKENDS: unknown backend '{other}'"),
        }
    }
    out
}

fn rand_name() -> String {
    scim_test_support::unique_name("scim_t")
}

/// One test's database on one backend.
pub struct Env {
    pub backend: Backend,
    pub store: Arc<dyn Store>,
    pub a: OrganizationSid,
    pub b: OrganizationSid,
    url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    File(std::path::PathBuf),
    Memory,
    Server(scim_test_support::Server, String),
}

/// A fresh, empty database (no schema) on `backend`, and how to drop it.
pub struct EmptyDb {
    pub url: String,
    cleanup: Cleanup,
}

impl EmptyDb {
    pub async fn new(backend: Backend) -> EmptyDb {
        let (url, cleanup) = fresh(backend).await;
        EmptyDb { url, cleanup }
    }

    pub async fn drop_db(&self) {
        drop_db(&self.cleanup).await;
    }
}

async fn fresh(backend: Backend) -> (String, Cleanup) {
    match backend {
        Backend::SqliteFile => {
            let path = std::env::temp_dir().join(format!("{}.db", rand_name()));
            (format!("sqlite://{}?mode=rwc", path.display()), Cleanup::File(path))
        }
        Backend::SqliteMemory => ("sqlite::memory:".to_owned(), Cleanup::Memory),
        Backend::Postgres | Backend::MySql => {
            let server = if backend == Backend::Postgres {
                scim_test_support::Server::Postgres
            } else {
                scim_test_support::Server::MySql
            };
            let db = rand_name();
            let url = server.create_database(&server.url(), &db).unwrap_or_else(|e| panic!("{e}"));
            (url, Cleanup::Server(server, db))
        }
    }
}

impl Env {
    async fn new(backend: Backend, opts: StoreOptions) -> Env {
        let (url, cleanup) = fresh(backend).await;
        let store = SqlStore::connect_with(&url, registry(), opts).await.unwrap();
        store.migrate().await.unwrap();
        // Migrations are idempotent.
        store.migrate().await.unwrap();
        let a = store.create_organization("a", &[]).await.unwrap().sid;
        let b = store.create_organization("b", &[]).await.unwrap().sid;
        Env { backend, store: Arc::new(store), a, b, url, cleanup }
    }

    /// The database URL of this test.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Another store on the same database (a second replica), when the backend allows.
    pub async fn replica(&self, opts: StoreOptions) -> Option<Arc<dyn Store>> {
        if self.backend == Backend::SqliteMemory {
            return None;
        }
        Some(Arc::new(SqlStore::connect_with(&self.url, registry(), opts).await.unwrap()))
    }

    async fn drop_db(&self) {
        drop_db(&self.cleanup).await;
    }
}

async fn drop_db(cleanup: &Cleanup) {
    match cleanup {
        Cleanup::File(p) => {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", p.display()));
            }
        }
        Cleanup::Memory => {}
        Cleanup::Server(server, db) => {
            server.drop_database(&server.url(), db).unwrap_or_else(|e| panic!("{e}"));
        }
    }
}

/// Runs `f` once per selected backend, each with a fresh database.
pub async fn each<F, Fut>(f: F)
where
    F: Fn(Arc<Env>) -> Fut,
    Fut: Future<Output = ()>,
{
    each_with(StoreOptions::default(), f).await
}

/// [`each`] with explicit store options.
pub async fn each_with<F, Fut>(opts: StoreOptions, f: F)
where
    F: Fn(Arc<Env>) -> Fut,
    Fut: Future<Output = ()>,
{
    for backend in backends() {
        let env = Arc::new(Env::new(backend, opts.clone()).await);
        let result = AssertUnwindSafe(f(env.clone())).catch_unwind().await;
        env.drop_db().await;
        if let Err(panic) = result {
            eprintln!("failed on backend {backend:?}");
            std::panic::resume_unwind(panic);
        }
    }
}

pub fn res(v: Value) -> Resource {
    Resource::from_value(v).unwrap()
}

pub fn new_user(v: Value) -> NewResource {
    let mut v = v;
    v.as_object_mut()
        .unwrap()
        .entry("schemas")
        .or_insert(json!(["urn:ietf:params:scim:schemas:core:2.0:User"]));
    NewResource { resource: res(v), members: Vec::new(), password_hash: None }
}

pub fn new_group(name: &str) -> NewResource {
    NewResource {
        resource: res(
            json!({"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName": name}),
        ),
        members: Vec::new(),
        password_hash: None,
    }
}

pub async fn user(store: &Arc<dyn Store>, org: OrganizationSid, v: Value) -> Stored {
    store.create(org, ResourceKind::User, new_user(v)).await.unwrap()
}

pub async fn group(store: &Arc<dyn Store>, org: OrganizationSid, name: &str) -> Stored {
    store.create(org, ResourceKind::Group, new_group(name)).await.unwrap()
}
