#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::*;
use crate::sql::shapes::Shape;
use crate::{NewResource, ReadOptions, Store, Stored};
use scim_core::schema::{Registry, ResourceKind};
use scim_core::sid::OrganizationSid;
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

/// The stores a test runs on: an SQLite file (inline engine), in-memory SQLite (sqlx) and
/// a fresh database on each server [`server_dbs`] gives; the file and the databases go
/// when the value is dropped.
struct Stores {
    path: std::path::PathBuf,
    urls: Vec<String>,
    _servers: Vec<scim_test_support::FreshDb>,
}

impl Stores {
    fn new(tag: &str) -> Self {
        let path = std::env::temp_dir().join(format!("scim-store-{tag}-{}.db", std::process::id()));
        let servers = server_dbs(tag);
        let mut urls =
            vec![format!("sqlite://{}?mode=rwc", path.display()), "sqlite::memory:".to_owned()];
        urls.extend(servers.iter().map(|d| d.url.clone()));
        Self { path, urls, _servers: servers }
    }

    /// A migrated store on `url`.
    async fn open(url: &str) -> SqlStore {
        let store =
            SqlStore::connect_with(url, Arc::new(Registry::builtin()), StoreOptions::default())
                .await
                .unwrap();
        store.migrate().await.unwrap();
        store
    }
}

impl Drop for Stores {
    fn drop(&mut self) {
        for ext in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{ext}", self.path.display()));
        }
    }
}

/// Creates the user `extra` describes (members of the user document besides `schemas`).
async fn create_user(store: &SqlStore, org: OrganizationSid, extra: serde_json::Value) -> Stored {
    let mut doc = serde_json::json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"]});
    if let (Some(d), serde_json::Value::Object(more)) = (doc.as_object_mut(), extra) {
        d.extend(more);
    }
    let resource = scim_core::resource::Resource::from_value(doc).unwrap();
    let nr = NewResource { resource, members: Vec::new(), password_hash: None };
    store.create(org, ResourceKind::User, nr).await.unwrap()
}

/// The hot statements' values are listed in the builder's order, so their SQL is
/// built once: on an SQLite file (inline), in-memory SQLite (sqlx), and PostgreSQL and
/// MariaDB, whose `WHERE` clauses differ.
#[tokio::test]
async fn hot_statements_are_built_once() {
    let stores = Stores::new("hot");
    for url in &stores.urls {
        let store = Stores::open(url).await;
        let org = store.create_organization("shapes", &[]).await.unwrap().sid;
        let made =
            create_user(&store, org, serde_json::json!({"userName": "shape@example.com"})).await;
        let id = ResourceId::parse(ResourceKind::User, &made.id).unwrap();
        // A create of one resource in a transaction writes its row and its change-log
        // entry from cached text (PostgreSQL writes all of it in one statement instead).
        let in_txn = !store.backend.writes_in_one_statement();
        assert_eq!(store.shapes.has(Shape::InsertOne), in_txn, "{url}");
        assert_eq!(store.shapes.has(Shape::ChangeLog), in_txn, "{url}");
        let again =
            create_user(&store, org, serde_json::json!({"userName": "again@example.com"})).await;
        let read = store
            .get(
                org,
                ResourceId::parse(ResourceKind::User, &again.id).unwrap(),
                ReadOptions::default(),
            )
            .await
            .unwrap()
            .unwrap();
        assert_eq!(read.resource.get("userName"), Some(&serde_json::json!("again@example.com")));
        assert_eq!(read.version, 1, "{url}");
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
}

/// A search in the default order is built once per shape, and each later search of that
/// shape binds its own values: on every backend, with and without users' groups, a filter
/// or none, the first page or a later one; a search whose condition repeats a value is
/// not trusted to prove its shape.
#[tokio::test]
async fn searches_in_the_default_order_are_built_once_per_shape() {
    use crate::{Pagination, Query};
    use scim_core::filter::Filter;
    use scim_core::message::SortOrder;
    let stores = Stores::new("search");
    for url in &stores.urls {
        let store = Stores::open(url).await;
        let org = store.create_organization("searches", &[]).await.unwrap().sid;
        for name in ["ada", "bob", "cy"] {
            let extra = serde_json::json!({"userName": name, "externalId": format!("x-{name}")});
            create_user(&store, org, extra).await;
        }
        let paged = |filter: Option<&str>, groups: bool, start_index: u64, count: u64| Query {
            filter: filter.map(|f| Filter::parse(f).unwrap()),
            sort_by: None,
            sort_order: SortOrder::Ascending,
            pagination: Pagination::Index { start_index, count },
            read: ReadOptions { groups, ..ReadOptions::default() },
        };
        let search = |filter: Option<&str>, groups: bool, start_index: u64| {
            paged(filter, groups, start_index, 2)
        };
        let names = |page: crate::Page| {
            page.resources
                .iter()
                .map(|r| {
                    r.resource
                        .get("userName")
                        .and_then(serde_json::Value::as_str)
                        .unwrap()
                        .to_owned()
                })
                .collect::<Vec<_>>()
        };
        let before = store.shapes.searches();
        for (name, want) in [("ada", 1), ("bob", 2), ("cy", 3), ("nobody", 4)] {
            let f = format!("userName eq \"{name}\"");
            let page =
                store.query(org, ResourceKind::User, &search(Some(&f), true, 1)).await.unwrap();
            let got = names(page);
            if name == "nobody" {
                assert!(got.is_empty(), "{url}: {got:?}");
            } else {
                assert_eq!(got, [name], "{url}");
            }
            // One shape: its first search built it, every later one reused it.
            assert_eq!(store.shapes.searches(), before + 1, "{url}: search {want}");
        }
        // A repeated value proves nothing: that search is built, not kept.
        let twice = "userName eq \"bob\" or externalId eq \"bob\"";
        let page =
            store.query(org, ResourceKind::User, &search(Some(twice), false, 1)).await.unwrap();
        assert_eq!(names(page), ["bob"], "{url}");
        assert_eq!(store.shapes.searches(), before + 1, "{url}");
        for (name, ext) in [("bob", "x-cy"), ("ada", "x-bob")] {
            let f = format!("userName eq \"{name}\" or externalId eq \"{ext}\"");
            let page =
                store.query(org, ResourceKind::User, &search(Some(&f), false, 1)).await.unwrap();
            let mut got = names(page);
            got.sort();
            let mut want = vec![name.to_owned(), ext.trim_start_matches("x-").to_owned()];
            want.sort();
            assert_eq!(got, want, "{url}");
        }
        assert_eq!(store.shapes.searches(), before + 2, "{url}");
        // Pages without a filter: the first and a later one (a deferred page on PostgreSQL
        // and MariaDB is built every time). Users created in the same instant come in id
        // order, so the whole list (the same shape, a larger page) says what to expect.
        let all = store.query(org, ResourceKind::User, &paged(None, true, 1, 10)).await.unwrap();
        let all = names(all);
        assert_eq!(all.len(), 3, "{url}");
        assert_eq!(store.shapes.searches(), before + 3, "{url}");
        for start in [1, 2, 1, 3] {
            let page =
                store.query(org, ResourceKind::User, &search(None, true, start)).await.unwrap();
            let want = all.iter().skip(usize::try_from(start - 1).unwrap()).take(2);
            assert_eq!(names(page), want.cloned().collect::<Vec<_>>(), "{url}: startIndex {start}");
            assert_eq!(store.shapes.searches(), before + 3, "{url}");
        }
    }
}

/// The `UPDATE` and change-log `INSERT` of a locked update are built once per shape, and
/// each later write binds its own values: the rows, versions and change-log entries are
/// those of each write. A user updated on SQLite reads its groups in the statement that
/// reads its row, and returns them.
#[tokio::test]
async fn updates_are_built_once_per_shape() {
    use crate::audit::{ChangeContext, scope};
    use crate::{Change, MemberKind, MemberRow};
    let stores = Stores::new("update");
    for url in &stores.urls {
        let store = Stores::open(url).await;
        let org = store.create_organization("updates", &[]).await.unwrap().sid;
        let doc = |v: serde_json::Value| scim_core::resource::Resource::from_value(v).unwrap();
        let user =
            create_user(&store, org, serde_json::json!({"userName": "upd@example.com"})).await;
        let group = doc(serde_json::json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "Updaters"
        }));
        let members = vec![MemberRow { value: user.id.clone(), kind: MemberKind::User }];
        let nr = NewResource { resource: group, members, password_hash: None };
        let group = store.create(org, ResourceKind::Group, nr).await.unwrap();
        let before = store.changes(org, 0, 100).await.unwrap().last().unwrap().seq;

        let ids = [
            ResourceId::parse(ResourceKind::User, &user.id).unwrap(),
            ResourceId::parse(ResourceKind::Group, &group.id).unwrap(),
        ];
        for round in 1..=3u64 {
            for id in ids {
                let ctx = ChangeContext {
                    actor: Some("TKtest".into()),
                    request_id: Some(format!("req-{round}-{}", id.kind().name())),
                    method: Some("PATCH".into()),
                };
                let name = format!("{} {round}", id.kind().name());
                let set = name.clone();
                let modifier: crate::Modifier = Box::new(move |cur| {
                    let mut resource = cur.resource.clone();
                    resource.as_map_mut().insert("displayName".into(), serde_json::json!(set));
                    Ok(Change { resource, members: Vec::new(), password_hash: None, changed: true })
                });
                let read = ReadOptions { groups: true, members: true, ..ReadOptions::default() };
                let done = scope(ctx, store.modify(org, id, None, read, modifier)).await.unwrap();
                assert_eq!(done.version, 1 + round, "{url}");
                assert_eq!(done.resource.get("displayName"), Some(&serde_json::json!(name)));
                let refs = done.resource.get(match id.kind() {
                    ResourceKind::User => "groups",
                    ResourceKind::Group => "members",
                });
                let other = if id.kind() == ResourceKind::User { &group.id } else { &user.id };
                assert_eq!(refs.unwrap()[0]["value"], serde_json::json!(other), "{url}");
                let got = store.get(org, id, read).await.unwrap().unwrap();
                assert_eq!(got.version, 1 + round, "{url}");
                assert_eq!(got.resource.get("displayName"), Some(&serde_json::json!(name)));
            }
        }
        // Groups take the locked way everywhere (a group's name key is its display name
        // in lowercase), users where no statement writes all at once.
        let shape = |name_key| Shape::Update {
            name_key,
            external_id: false,
            display_name_lower: true,
            password: false,
        };
        assert!(store.shapes.has(shape(true)), "{url}");
        let users_locked = !store.backend.writes_in_one_statement();
        assert_eq!(store.shapes.has(shape(false)), users_locked, "{url}");
        assert!(store.shapes.has(Shape::ChangeLog), "{url}");
        let log = store.changes(org, before, 100).await.unwrap();
        let seen: Vec<_> = log
            .iter()
            .map(|c| (c.id.clone(), c.version, c.request_id.clone().unwrap(), c.attributes.clone()))
            .collect();
        let mut want = Vec::new();
        for round in 1..=3u64 {
            for (id, kind) in [(&user.id, "User"), (&group.id, "Group")] {
                let attrs = vec!["displayName".to_owned()];
                want.push((id.clone(), 1 + round, format!("req-{round}-{kind}"), attrs));
            }
        }
        assert_eq!(seen, want, "{url}");
        assert!(log.iter().all(|c| c.actor.as_deref() == Some("TKtest")), "{url}");
    }
}
