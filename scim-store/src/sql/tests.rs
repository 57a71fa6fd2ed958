#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::*;
use crate::sql::shapes::Shape;
use crate::{NewResource, ReadOptions, Store};
use scim_core::schema::{Registry, ResourceKind};
use scim_core::sid::ResourceId;
use std::sync::Arc;

/// Server databases to check too: a fresh database on each server whose feature is on
/// and that `SCIM_TEST_BACKENDS` (as in the trait suite) does not leave out, each
/// dropped when the value is.
fn server_dbs(tag: &str) -> Vec<scim_test_support::FreshDb> {
    use scim_test_support::{FreshDb, Server};
    let wanted = |name: &str| {
        std::env::var("SCIM_TEST_BACKENDS")
            .map_or(true, |s| s.trim().is_empty() || s.contains("all") || s.contains(name))
    };
    let mut servers = Vec::new();
    if cfg!(feature = "postgres") && wanted("postgres") {
        servers.push(Server::Postgres);
    }
    if cfg!(feature = "mysql") && wanted("mysql") {
        servers.push(Server::MySql);
    }
    let prefix = format!("scim_shapes_{tag}");
    servers
        .into_iter()
        .map(|s| FreshDb::new(s, &prefix).unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

/// The hot statements' values are listed in the builder's order, so their SQL is
/// built once: on an SQLite file (inline), in-memory SQLite (sqlx), and PostgreSQL and
/// MariaDB, whose `WHERE` clauses differ.
#[tokio::test]
async fn hot_statements_are_built_once() {
    let path = std::env::temp_dir().join(format!("scim-store-shapes-{}.db", std::process::id()));
    let servers = server_dbs("hot");
    let mut urls =
        vec![format!("sqlite://{}?mode=rwc", path.display()), "sqlite::memory:".to_owned()];
    urls.extend(servers.iter().map(|d| d.url.clone()));
    for url in urls {
        let store =
            SqlStore::connect_with(&url, Arc::new(Registry::builtin()), StoreOptions::default())
                .await
                .unwrap();
        store.migrate().await.unwrap();
        let org = store.create_organization("shapes", &[]).await.unwrap().sid;
        let user = scim_core::resource::Resource::from_value(serde_json::json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "shape@example.com"
        }))
        .unwrap();
        let nr = NewResource { resource: user, members: Vec::new(), password_hash: None };
        let made = store.create(org, ResourceKind::User, nr).await.unwrap();
        let id = ResourceId::parse(ResourceKind::User, &made.id).unwrap();
        for _ in 0..2 {
            let got = store
                .get(org, id, ReadOptions { groups: true, ..ReadOptions::default() })
                .await
                .unwrap()
                .unwrap();
            assert_eq!(got.id, made.id);
        }
        if url.starts_with("mysql") {
            assert!(store.shapes.has(Shape::Row { deleted: Some(false), lock: false }));
            assert!(store.shapes.has(Shape::GroupsOfOne), "{url}");
        } else {
            assert!(store.shapes.has(Shape::UserWithGroups), "{url}");
        }
        // The row shape of a read without groups, and the groups of one user as a
        // write reads them back.
        store.get(org, id, ReadOptions::default()).await.unwrap();
        store.get(org, id, ReadOptions::default()).await.unwrap();
        assert!(store.shapes.has(Shape::Row { deleted: Some(false), lock: false }), "{url}");
    }
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", path.display()));
    }
    drop(servers);
}
